//! The results of a run: what the runner produces and every reporter consumes.
//!
//! These types are serialized as-is by `--json` and by `cnicheck diff`'s inputs: they are a
//! stable, versioned machine format. Add fields with defaults; never rename or remove one.

use serde::{Deserialize, Serialize};

pub const REPORT_FORMAT_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunReport {
    pub format_version: u32,
    pub cnicheck_version: String,
    /// The command line, for reproduction.
    pub arguments: Vec<String>,
    pub cluster: ClusterInfo,
    /// RFC 3339.
    pub started_at: String,
    pub duration_secs: f64,
    pub scenarios: Vec<ScenarioReport>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ClusterInfo {
    pub server_version: String,
    pub nodes: u32,
    /// Detected CNI, e.g. `cilium`, `kube-router`, or `unknown`.
    pub cni: String,
    pub cni_version: Option<String>,
    /// Images of the detected CNI's workloads.
    #[serde(default)]
    pub cni_images: Vec<String>,
    pub namespace: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScenarioReport {
    pub name: String,
    pub file: String,
    /// Why the scenario did not run (an unmet requirement), or why setup failed.
    pub skipped: Option<String>,
    pub setup_error: Option<String>,
    pub duration_secs: f64,
    pub probes: Vec<ProbeReport>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbeReport {
    /// Full test name: `scenario::phase::from->to:protocol/port`.
    pub name: String,
    pub phase: String,
    /// Source pod (`namespace/pod on node`).
    pub from: String,
    /// Target as written (`pod:server`) and as resolved (`10.0.0.5:8080 (server-0)`).
    pub to: String,
    pub target_address: String,
    pub protocol: String,
    pub port: Option<u16>,
    pub expected: String,
    pub observed: String,
    pub verdict: Verdict,
    /// How many times the probe ran; more than one means it needed retries (policy
    /// propagation) and a pass is reported as flaky.
    pub attempts: u32,
    pub duration_secs: f64,
    /// Human explanation for failures and errors.
    pub message: Option<String>,
    /// A shell command that reproduces this probe by hand.
    pub reproduce: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    Pass,
    /// Passed, but only after retries.
    Flaky,
    /// Ran and observed something other than expected.
    Fail,
    /// Could not be judged: the probe did not run (exec failed, agent gone, setup failed).
    Error,
    Skip,
}
