//! cnicheck: conformance and connectivity checks for Kubernetes networking.
//!
//! Follow one scenario from YAML to JUnit:
//! [`scenario`] (load and validate the file) → [`runner`] (plan it, deploy it through
//! [`cluster`], send its probes to [`agent`]s in the pods over the [`probe`] wire protocol,
//! [`judge`] each observation) → [`report`] (console, JUnit, JSON). Built-in [`checks`] (Cilium's
//! own health and images) take the place of deploying and probing for their scenarios.

pub mod agent;
pub mod checks;
pub mod cluster;
pub mod events;
pub mod exit_code;
pub mod image;
pub mod judge;
pub mod multus;
pub mod probe;
pub mod report;
pub mod runner;
pub mod scenario;
