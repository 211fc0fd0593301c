//! Built-in checks: tests written in Rust rather than as probe matrices, because they inspect
//! the cluster's own components instead of deploying agent pods.
//!
//! A scenario file declares a check (`check: cilium` in `scenarios/cilium.yaml`), which gives
//! it a name, groups, a description and its place in `--list` and `--group`. The runner calls
//! [`run`] instead of deploying anything, and a check's results are [`ProbeReport`]s, so the
//! console, JUnit and JSON reporters show them like any probe. To add a check: a variant of
//! [`BuiltinCheck`], a module here, and a scenario file under `scenarios/`.

pub mod cilium;

use crate::cluster::{CiliumInstall, Kubectl};
use crate::report::model::{ProbeReport, Reach, Verdict};
use crate::scenario::model::BuiltinCheck;
use kube::Client;

/// The tests of `check`, named relative to its scenario (`agent::ready` is the test
/// `cilium::agent::ready` of the scenario `cilium`): known without a cluster, for `--list` and
/// filters.
pub fn tests(check: BuiltinCheck) -> &'static [&'static str] {
    match check {
        BuiltinCheck::Cilium => cilium::TESTS,
    }
}

/// What checks need from the run.
pub struct CheckContext<'a> {
    pub client: &'a Client,
    /// The CNI the run detected (`kube-router`, `unknown`): for reasons.
    pub cni: &'a str,
    /// Cilium as the run found it at its start.
    pub cilium: Option<&'a CiliumInstall>,
    pub options: &'a CheckOptions,
    /// How reproduce commands reach the cluster.
    pub kubectl: &'a Kubectl,
}

/// The command line's settings for checks.
#[derive(Debug, Clone, Default)]
pub struct CheckOptions {
    pub cilium: cilium::Expectations,
}

#[derive(Debug, Clone, PartialEq)]
pub enum CheckOutcome {
    Ran(Vec<ProbeReport>),
    /// The check does not apply to this cluster, and nothing was expected of it.
    Skipped(String),
}

/// Runs the tests of `check` that `selected` (given a test name as in [`tests`]) accepts.
/// `scenario` is the name of the scenario that declared the check: the first part of every
/// result's name.
pub async fn run(
    check: BuiltinCheck,
    scenario: &str,
    context: &CheckContext<'_>,
    selected: &dyn Fn(&str) -> bool,
) -> CheckOutcome {
    match check {
        BuiltinCheck::Cilium => cilium::run(scenario, context, selected).await,
    }
}

/// A result of the check's test `cell`, passing until told otherwise: the fields a check fills
/// in, with the rest as a probe report has them for something that is not traffic. A finding
/// about one of several pods or paths names it in `instance`, and is called `CELL [INSTANCE]`,
/// like a probe.
fn finding(
    cell: String,
    instance: Option<String>,
    phase: &str,
    from: String,
    protocol: &str,
) -> ProbeReport {
    ProbeReport {
        name: match instance {
            Some(instance) => format!("{cell} [{instance}]"),
            None => cell.clone(),
        },
        cell,
        phase: phase.into(),
        from,
        to: String::new(),
        target_address: String::new(),
        protocol: protocol.into(),
        port: None,
        expected: String::new(),
        observed: String::new(),
        expected_reach: Reach::Unknown,
        observed_reach: Reach::Unknown,
        verdict: Verdict::Pass,
        attempts: 1,
        earlier_attempts: Vec::new(),
        duration_secs: 0.0,
        message: None,
        reproduce: String::new(),
        source: None,
        destination_node: None,
        observed_kind: None,
        path: None,
        latency_ms: None,
        backends: None,
    }
}
