//! cnicheck: conformance and connectivity checks for Kubernetes networking.
//!
//! Follow one scenario from YAML to JUnit:
//! [`scenario`] (load and validate the file) → [`runner`] (plan it, deploy it through
//! [`cluster`], send its probes to [`agent`]s in the pods over the [`probe`] wire protocol,
//! [`judge`] each observation) → [`report`] (console, JUnit, JSON).

pub mod agent;
pub mod cluster;
pub mod judge;
pub mod multus;
pub mod probe;
pub mod report;
pub mod runner;
pub mod scenario;
