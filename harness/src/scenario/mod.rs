//! Scenario files: the model, loading with `file:line:col` errors, and validation.
pub mod model;
