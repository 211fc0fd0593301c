//! Reporters: console, JUnit and JSON, all fed from one [`model::RunReport`].
pub mod model;
