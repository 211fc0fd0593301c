//! The results of a run: what the runner produces and every reporter consumes.
//!
//! These types are serialized as-is by `--json` and by `cnicheck diff`'s inputs: they are a
//! stable, versioned machine format. Add fields with defaults; never rename or remove one.

use super::truth_table::TruthTable;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const REPORT_FORMAT_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunReport {
    pub format_version: u32,
    pub cnicheck_version: String,
    /// The id in the run's namespace names and labels (`cnicheck cleanup --run ID`). Empty in
    /// reports written before it existed.
    #[serde(default)]
    pub run_id: String,
    /// The command line, for reproduction.
    pub arguments: Vec<String>,
    pub cluster: ClusterInfo,
    /// RFC 3339.
    pub started_at: String,
    pub duration_secs: f64,
    /// The server-side dry run of every manifest before anything was deployed. When one was
    /// rejected, no scenario ran.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub preflight: Vec<PreflightCheck>,
    pub scenarios: Vec<ScenarioReport>,
    /// Whether the run's namespaces and pods were left in place (`--keep`): reproduce commands
    /// that exec into them work only then.
    #[serde(default)]
    pub kept_namespaces: bool,
}

/// One object of a manifest, checked by a server-side dry run before the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PreflightCheck {
    /// `preflight::dry-run::FILE::KIND/NAME`.
    pub name: String,
    /// The manifest, as scenario reports name files.
    pub file: String,
    /// `KIND/NAME` (`KIND/NAMESPACE/NAME` where the manifest names a namespace) as written in
    /// the manifest (`-` when the file could not be read).
    pub object: String,
    /// Pass (accepted), Fail (rejected: the message is the API server's or cnicheck's reason),
    /// or Skip (the cluster does not serve the kind).
    pub verdict: Verdict,
    pub message: Option<String>,
}

impl RunReport {
    /// Whether the preflight rejected a manifest (and so nothing ran).
    pub fn preflight_rejected(&self) -> bool {
        self.preflight
            .iter()
            .any(|check| check.verdict == Verdict::Fail)
    }
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
    /// Cilium's agent and operator as the run found them, when the cluster runs Cilium.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cilium: Option<CiliumInfo>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CiliumInfo {
    pub namespace: String,
    pub agent: ComponentInfo,
    /// None when Cilium's namespace has no operator Deployment.
    pub operator: Option<ComponentInfo>,
    /// Each agent's encryption status by node, as `cilium-dbg encrypt status` says it
    /// (`Disabled`, `Wireguard (cilium_wg0: 1 peer; ...)`), or why it is unknown.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub encryption: BTreeMap<String, String>,
}

impl CiliumInfo {
    /// The agents' encryption in one line: `Disabled on 2 agents` when they agree, else each
    /// node's. None when no agent was asked.
    pub fn encryption_summary(&self) -> Option<String> {
        let mut statuses = self.encryption.values();
        let first = statuses.next()?;
        Some(if statuses.all(|status| status == first) {
            let agents = self.encryption.len();
            format!(
                "{first} on {agents} agent{}",
                if agents == 1 { "" } else { "s" }
            )
        } else {
            self.encryption
                .iter()
                .map(|(node, status)| format!("{node}: {status}"))
                .collect::<Vec<_>>()
                .join(", ")
        })
    }
}

/// A Cilium workload: how many of its pods are ready, and what they run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ComponentInfo {
    /// `DaemonSet kube-system/cilium`, `Deployment kube-system/cilium-operator`.
    pub object: String,
    pub desired: u32,
    pub ready: u32,
    /// The images of its main container across its pods (the template's when it has none),
    /// each once.
    pub images: Vec<String>,
    /// Their tags, each once: `v1.17.6-0`.
    pub versions: Vec<String>,
}

impl ComponentInfo {
    /// `3/3 ready`.
    pub fn readiness(&self) -> String {
        format!("{}/{} ready", self.ready, self.desired)
    }
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
    /// Every matrix of the scenario as expected/observed/diff tables, per phase and
    /// protocol/port. Empty in reports written before they existed.
    #[serde(default)]
    pub truth_tables: Vec<TruthTable>,
    /// Where the scenario's time went; absent for a scenario that deployed nothing (skipped,
    /// a built-in check) and in reports written before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stages: Option<StageTimes>,
}

/// Where a scenario's time went, in seconds, stage by stage.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StageTimes {
    /// Its namespaces, the Multus NAD and the `setup` manifests.
    pub setup_secs: f64,
    /// Creating the agent pods and waiting until every one is ready.
    pub deploy_secs: f64,
    pub phases: Vec<PhaseTimes>,
    /// Diagnostics of a troubled scenario, and deleting its namespaces until they are gone.
    pub cleanup_secs: f64,
    /// The other scenarios that ran on the same pods (they declare the same workloads and
    /// change nothing): setup, deploy and cleanup were done once for all of them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shared_with: Vec<String>,
}

/// Where one phase's time went, in seconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PhaseTimes {
    pub phase: String,
    /// Deleting and applying the phase's objects, and before that, when the previous phase
    /// probed other paths or there was none, one round of this phase's probes in the state
    /// before the change (see `changing_probes`).
    pub apply_secs: f64,
    /// Probing, every round until the phase's expected state held long enough (or its
    /// deadline came).
    pub probe_secs: f64,
    /// When every probe first observed what was expected, from the start of probing: the time
    /// the phase's state took to propagate. The rest of `probe_secs` is the settle window and
    /// retries. Absent when that never happened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matched_after_secs: Option<f64>,
    /// Probes expected to observe the opposite of what they observed at the end of the
    /// previous phase: once they matched, the phase's change had taken effect, and a second
    /// look (`--confirm`) replaced the settle window. 0 when the window was waited out.
    #[serde(default)]
    pub changing_probes: usize,
}

impl StageTimes {
    /// The stages summed over scenarios: setup, deploy, apply, probe, of which until every
    /// probe matched, and cleanup. A deployment that scenarios shared counts once.
    pub fn total<'a>(stages: impl IntoIterator<Item = &'a StageTimes>) -> StageTotals {
        let mut totals = StageTotals::default();
        for stage in stages {
            let share = 1.0 / (stage.shared_with.len() + 1) as f64;
            totals.setup_secs += stage.setup_secs * share;
            totals.deploy_secs += stage.deploy_secs * share;
            totals.cleanup_secs += stage.cleanup_secs * share;
            for phase in &stage.phases {
                totals.apply_secs += phase.apply_secs;
                totals.probe_secs += phase.probe_secs;
                totals.until_matched_secs += phase.matched_after_secs.unwrap_or(phase.probe_secs);
            }
        }
        totals
    }
}

/// [`StageTimes`] summed over scenarios.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct StageTotals {
    pub setup_secs: f64,
    pub deploy_secs: f64,
    pub apply_secs: f64,
    pub probe_secs: f64,
    /// The part of `probe_secs` until every probe of its phase matched.
    pub until_matched_secs: f64,
    pub cleanup_secs: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbeReport {
    /// Full test name: the cell's, then this probe's source pod and target address
    /// (`scenario::phase::from->to:protocol/port [client-0 -> 10.244.1.5:9000 (server-0)]`).
    pub name: String,
    /// The matrix cell this probe belongs to (`scenario::phase::from->to:protocol/port`, the
    /// name `--list` shows): unlike `name`, the same in every run. Empty in reports written
    /// before it existed; use [`ProbeReport::cell_name`].
    #[serde(default)]
    pub cell: String,
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
    /// Whether traffic should get through, and whether it did: the cells of the truth tables
    /// the console prints for a failed matrix. `unknown` in reports written before they existed.
    #[serde(default)]
    pub expected_reach: Reach,
    #[serde(default)]
    pub observed_reach: Reach,
    pub verdict: Verdict,
    /// How many times the probe ran; more than one means it needed retries (policy
    /// propagation) and a pass is reported as flaky.
    pub attempts: u32,
    /// The attempts before the last one, oldest first: what a flaky pass saw before it passed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub earlier_attempts: Vec<AttemptReport>,
    pub duration_secs: f64,
    /// Human explanation for failures and errors.
    pub message: Option<String>,
    /// A shell command that reproduces this probe by hand.
    pub reproduce: String,
    /// The source agent pod, where `from` is one: the same facts as `from`, typed. Absent for
    /// built-in checks of other things, and in reports written before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<PodLocation>,
    /// The node the destination is on, where it is one pod or node: with `source`, whether a
    /// probe stayed on one node or crossed between two.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination_node: Option<String>,
    /// What kind of thing the last attempt observed (`observed` says it with its detail).
    /// Absent for built-in checks, whose `observed` is already a short phrase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_kind: Option<ObservationKind>,
    /// Which way the traffic went, for latency by path. Absent for what is not traffic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<PathClass>,
    /// When the last attempt got an answer, how long it took, measured in the agent: the
    /// handshake (tcp), the response headers (http, https: connection, TLS and request), the
    /// round trip (icmp; udp from the latest resend), the lookup (dns).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<f64>,
    /// A load-balancing check's answers per backend pod, those that never answered at 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backends: Option<BTreeMap<String, u32>>,
}

/// Which way a probe's traffic went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PathClass {
    /// Pod to a pod on the same node.
    SameNode,
    /// Pod to a pod on another node.
    CrossNode,
    /// Through a Service: its ClusterIP, DNS name or a NodePort.
    Service,
    /// To the `--external-target`.
    External,
    /// Between the host networks of two nodes.
    NodeToNode,
    /// A name lookup.
    Dns,
}

impl PathClass {
    /// The serialized name: `cross-node`.
    pub fn name(self) -> &'static str {
        match self {
            PathClass::SameNode => "same-node",
            PathClass::CrossNode => "cross-node",
            PathClass::Service => "service",
            PathClass::External => "external",
            PathClass::NodeToNode => "node-to-node",
            PathClass::Dns => "dns",
        }
    }
}

/// A pod and the node it runs on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodLocation {
    pub namespace: String,
    pub pod: String,
    pub node: String,
}

/// The kinds of things a probe can observe: what CI tools show as a failure's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ObservationKind {
    Connected,
    HttpResponse,
    UdpEcho,
    /// Datagrams were sent and nobody confirmed their arrival.
    UdpUnconfirmed,
    UdpReceived,
    /// The receiver, listening all along, confirmed the datagram never arrived.
    UdpNotDelivered,
    /// The receiver saw the datagram arrive; its echo never came back.
    UdpReplyLost,
    IcmpReply,
    Resolved,
    Nxdomain,
    InterfaceAddresses,
    NoSuchInterface,
    Timeout,
    Refused,
    Unreachable,
    NetworkError,
    CouldNotRun,
    /// Every sample of a load-balancing check was answered; the answers counted by backend.
    Sampled,
    /// The probe's marker crossed the receiving node's interface readable.
    Plaintext,
    /// The probe arrived, and its marker never showed readable on the receiving node's interface.
    NotPlaintext,
    /// The probe was never planned (skipped, or an error before it could be sent).
    NotRun,
}

impl ObservationKind {
    /// The serialized name: `could-not-run`.
    pub fn name(self) -> &'static str {
        match self {
            ObservationKind::Connected => "connected",
            ObservationKind::HttpResponse => "http-response",
            ObservationKind::UdpEcho => "udp-echo",
            ObservationKind::UdpUnconfirmed => "udp-unconfirmed",
            ObservationKind::UdpReceived => "udp-received",
            ObservationKind::UdpNotDelivered => "udp-not-delivered",
            ObservationKind::UdpReplyLost => "udp-reply-lost",
            ObservationKind::IcmpReply => "icmp-reply",
            ObservationKind::Resolved => "resolved",
            ObservationKind::Nxdomain => "nxdomain",
            ObservationKind::InterfaceAddresses => "interface-addresses",
            ObservationKind::NoSuchInterface => "no-such-interface",
            ObservationKind::Timeout => "timeout",
            ObservationKind::Refused => "refused",
            ObservationKind::Unreachable => "unreachable",
            ObservationKind::NetworkError => "network-error",
            ObservationKind::CouldNotRun => "could-not-run",
            ObservationKind::Sampled => "sampled",
            ObservationKind::Plaintext => "plaintext",
            ObservationKind::NotPlaintext => "not-plaintext",
            ObservationKind::NotRun => "not-run",
        }
    }
}

impl ProbeReport {
    /// The cell's name, also for reports that predate the `cell` field: there, a probe's name
    /// is its cell's followed by ` [source -> target]` (or the cell's alone).
    pub fn cell_name(&self) -> &str {
        if !self.cell.is_empty() {
            return &self.cell;
        }
        self.name
            .find(" [")
            .map_or(self.name.as_str(), |end| &self.name[..end])
    }
}

/// One attempt of a probe that was retried.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttemptReport {
    pub observed: String,
    pub verdict: Verdict,
    pub explanation: String,
    /// As [`ProbeReport::observed_kind`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_kind: Option<ObservationKind>,
}

/// Whether traffic got (or should get) through, as a netpol-style truth table shows it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reach {
    /// Something answered: a connection, an echo, any HTTP response, any DNS answer.
    Reached,
    /// Nothing got through: a timeout, a refusal or an unreachable destination.
    Blocked,
    /// The probe said neither (a network error, a probe that could not run), or the report
    /// predates this field.
    #[default]
    Unknown,
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

/// How many scenarios and probes ended which way: the numbers of the console summary and of
/// the exit code, counted in one place so they cannot disagree.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    pub scenarios_run: usize,
    pub scenarios_skipped: usize,
    pub setup_errors: usize,
    pub passed: usize,
    pub flaky: usize,
    pub failed: usize,
    pub errors: usize,
    pub skipped: usize,
}

impl RunReport {
    pub fn tally(&self) -> Tally {
        let mut tally = Tally::default();
        for scenario in &self.scenarios {
            if scenario.skipped.is_some() {
                tally.scenarios_skipped += 1;
            } else if scenario.setup_error.is_some() {
                tally.setup_errors += 1;
            } else {
                tally.scenarios_run += 1;
            }
            for probe in &scenario.probes {
                let count = match probe.verdict {
                    Verdict::Pass => &mut tally.passed,
                    Verdict::Flaky => &mut tally.flaky,
                    Verdict::Fail => &mut tally.failed,
                    Verdict::Error => &mut tally.errors,
                    Verdict::Skip => &mut tally.skipped,
                };
                *count += 1;
            }
        }
        tally
    }
}

#[cfg(test)]
mod tests {
    use super::ObservationKind;

    #[test]
    fn observation_kinds_are_named_as_serialized() {
        use ObservationKind::*;
        for kind in [
            Connected,
            HttpResponse,
            UdpEcho,
            UdpUnconfirmed,
            UdpReceived,
            UdpNotDelivered,
            UdpReplyLost,
            IcmpReply,
            Resolved,
            Nxdomain,
            InterfaceAddresses,
            NoSuchInterface,
            Timeout,
            Refused,
            Unreachable,
            NetworkError,
            CouldNotRun,
            NotRun,
        ] {
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.name());
        }
    }

    #[test]
    fn path_classes_are_named_as_serialized() {
        use super::PathClass::*;
        for path in [SameNode, CrossNode, Service, External, NodeToNode, Dns] {
            assert_eq!(serde_json::to_value(path).unwrap(), path.name());
        }
    }
}
