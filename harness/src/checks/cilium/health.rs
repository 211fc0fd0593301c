//! Node-to-node health as Cilium's agents see it: `cilium-health status -o json` in every
//! agent, turned into one result per source node, peer node, address and protocol.
//!
//! cilium-health probes every node about once a minute, by ICMP and by an HTTP request to TCP
//! 4240, at the node's address and at its health endpoint (a pod address, so through the
//! overlay). An empty `status` is success, a non-empty one the error, and no result at all means
//! not probed yet (Cilium's `pkg/health/client` reads them the same way): that is an error
//! here, never a pass.

use super::super::finding;
use crate::cluster::{self, CiliumInstall, ComponentPod, Kubectl, PodRef};
use crate::report::model::{ObservationKind, ProbeReport, Reach, Verdict};
use futures::StreamExt;
use kube::Client;
use serde::Deserialize;
use std::time::{Duration, Instant};

pub(super) const NODE_ICMP: &str = "health::node->node:icmp";
pub(super) const NODE_HTTP: &str = "health::node->node:http/4240";
pub(super) const ENDPOINT_ICMP: &str = "health::node->endpoint:icmp";
pub(super) const ENDPOINT_HTTP: &str = "health::node->endpoint:http/4240";

/// cilium-health's HTTP port.
const HEALTH_PORT: u16 = 4240;
/// Per agent: `cilium-health status` answers from a cache, in well under a second.
const EXEC_DEADLINE: Duration = Duration::from_secs(30);
/// Agents asked at once.
const CONCURRENT_EXECS: usize = 8;

// The JSON of cilium-health (api/v1/health/models in Cilium), the fields used here.

#[derive(Debug, Deserialize)]
struct HealthStatus {
    #[serde(default)]
    nodes: Option<Vec<NodeStatus>>,
}

#[derive(Debug, Deserialize)]
struct NodeStatus {
    /// `CLUSTER/NODE`.
    #[serde(default)]
    name: String,
    #[serde(default)]
    host: Option<Addresses>,
    #[serde(default, rename = "health-endpoint")]
    health_endpoint: Option<Addresses>,
    /// Deprecated since Cilium 1.11 for `health-endpoint`; older agents only have this.
    #[serde(default)]
    endpoint: Option<PathStatus>,
}

#[derive(Debug, Deserialize)]
struct Addresses {
    #[serde(default, rename = "primary-address")]
    primary: Option<PathStatus>,
    #[serde(default, rename = "secondary-addresses")]
    secondary: Option<Vec<PathStatus>>,
}

#[derive(Debug, Deserialize)]
struct PathStatus {
    #[serde(default)]
    ip: String,
    #[serde(default)]
    icmp: Option<Connectivity>,
    #[serde(default)]
    http: Option<Connectivity>,
}

#[derive(Debug, Deserialize)]
struct Connectivity {
    /// Round trip time in nanoseconds.
    #[serde(default)]
    latency: u64,
    /// Empty on success, else what went wrong.
    #[serde(default)]
    status: String,
}

impl NodeStatus {
    /// The Kubernetes node name: cilium-health prefixes it with the cluster name.
    fn node_name(&self) -> &str {
        self.name.rsplit('/').next().unwrap_or(&self.name)
    }

    /// Primary address first, then secondaries (the other IP family).
    fn addresses(&self, target: Target) -> Option<Vec<&PathStatus>> {
        let addresses = match target {
            Target::Node => self.host.as_ref(),
            Target::Endpoint => self.health_endpoint.as_ref(),
        };
        let Some(addresses) = addresses else {
            return (target == Target::Endpoint)
                .then_some(self.endpoint.as_ref())
                .flatten()
                .map(|primary| vec![primary]);
        };
        let all: Vec<&PathStatus> = addresses
            .primary
            .iter()
            .chain(addresses.secondary.iter().flatten())
            .collect();
        (!all.is_empty()).then_some(all)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Node,
    Endpoint,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protocol {
    Icmp,
    Http,
}

/// The four health tests: what each looks at.
const TESTS: [(&str, Target, Protocol); 4] = [
    (NODE_ICMP, Target::Node, Protocol::Icmp),
    (NODE_HTTP, Target::Node, Protocol::Http),
    (ENDPOINT_ICMP, Target::Endpoint, Protocol::Icmp),
    (ENDPOINT_HTTP, Target::Endpoint, Protocol::Http),
];

/// Asks every scheduled agent for its health status, concurrently, and judges every pair.
pub(super) async fn run(
    client: &Client,
    scenario: &str,
    install: &CiliumInstall,
    selected: &dyn Fn(&str) -> bool,
    kubectl: &Kubectl,
) -> Vec<ProbeReport> {
    let tests: Vec<(&str, Target, Protocol)> = TESTS
        .into_iter()
        .filter(|(test, _, _)| selected(test))
        .collect();
    if tests.is_empty() {
        return Vec::new();
    }
    let agents: Vec<&ComponentPod> = install
        .agent
        .pods
        .iter()
        .filter(|pod| pod.node.is_some())
        .collect();
    let mut peers: Vec<&str> = agents
        .iter()
        .filter_map(|pod| pod.node.as_deref())
        .collect();
    peers.sort_unstable();
    peers.dedup();
    let answers: Vec<(usize, Result<Vec<u8>, StatusUnknown>, Duration)> =
        futures::stream::iter(agents.iter().enumerate())
            .map(|(index, agent)| async move {
                let started = Instant::now();
                let answer = cluster::cilium_health_status(client, &agent.pod, EXEC_DEADLINE)
                    .await
                    .map_err(StatusUnknown::Exec);
                (index, answer, started.elapsed())
            })
            .buffer_unordered(CONCURRENT_EXECS)
            .collect()
            .await;
    let mut answers = answers;
    answers.sort_by_key(|(index, _, _)| *index);
    answers
        .into_iter()
        .flat_map(|(index, answer, took)| {
            let source = Source::new(scenario, agents[index], kubectl);
            let status = answer.and_then(|stdout| parse(&stdout));
            let mut results = judge(&source, &peers, &tests, status);
            for result in &mut results {
                result.duration_secs = took.as_secs_f64();
            }
            results
        })
        .collect()
}

/// The JSON, or why it is none. The last closing brace is the only sign that stdout arrived
/// whole (exec output can be cut short without an error): a cut JSON does not parse.
fn parse(stdout: &[u8]) -> Result<HealthStatus, StatusUnknown> {
    serde_json::from_slice(stdout).map_err(|error| {
        let text = String::from_utf8_lossy(stdout);
        StatusUnknown::Unreadable {
            error: error.to_string(),
            start: text.trim().chars().take(200).collect(),
        }
    })
}

/// Why an agent's health status is unknown; every result from it is then an error.
#[derive(Debug, thiserror::Error)]
enum StatusUnknown {
    #[error(transparent)]
    Exec(cluster::CommandFailed),
    #[error("cilium-health printed no health status ({error}): {start:?}")]
    Unreadable { error: String, start: String },
}

/// The agent a set of results comes from.
struct Source<'a> {
    scenario: &'a str,
    pod: &'a PodRef,
    node: &'a str,
    described: String,
    kubectl: &'a Kubectl,
}

impl<'a> Source<'a> {
    fn new(scenario: &'a str, agent: &'a ComponentPod, kubectl: &'a Kubectl) -> Self {
        Source {
            scenario,
            pod: &agent.pod,
            node: agent.node.as_deref().unwrap_or("no node"),
            described: agent.describe(),
            kubectl,
        }
    }

    fn reproduce(&self) -> String {
        self.kubectl.command(format_args!(
            "-n {} exec {} -c {} -- cilium-health status --verbose",
            self.pod.namespace,
            self.pod.name,
            cluster::CILIUM_AGENT_CONTAINER
        ))
    }
}

/// One result per peer, address and selected test; all errors when the status could not be read.
fn judge(
    source: &Source,
    peers: &[&str],
    tests: &[(&str, Target, Protocol)],
    status: Result<HealthStatus, StatusUnknown>,
) -> Vec<ProbeReport> {
    let mut results = Vec::new();
    let nodes = match status {
        Ok(status) => status.nodes.unwrap_or_default(),
        Err(reason) => {
            for &peer in peers {
                for &(test, target, protocol) in tests {
                    let mut result = base(source, test, peer, target, protocol, None);
                    result.observed = "could not run".into();
                    result.observed_kind = Some(ObservationKind::CouldNotRun);
                    result.verdict = Verdict::Error;
                    result.message = Some(format!(
                        "could not ask cilium-health in {}: {reason}",
                        source.described
                    ));
                    results.push(result);
                }
            }
            return results;
        }
    };
    for &peer in peers {
        let node = nodes.iter().find(|node| node.node_name() == peer);
        for &(test, target, protocol) in tests {
            let Some(node) = node else {
                let mut result = base(source, test, peer, target, protocol, None);
                result.observed = "not listed".into();
                result.verdict = Verdict::Fail;
                let listed: Vec<&str> = nodes.iter().map(NodeStatus::node_name).collect();
                result.message = Some(format!(
                    "cilium-health on {} does not list node {peer}, which runs a Cilium agent \
                     (it lists: {}): the agent has not learned of that node",
                    source.node,
                    if listed.is_empty() {
                        "none".into()
                    } else {
                        listed.join(", ")
                    }
                ));
                results.push(result);
                continue;
            };
            let Some(addresses) = node.addresses(target) else {
                let mut result = base(source, test, peer, target, protocol, None);
                result.observed = "no address".into();
                (result.verdict, result.message) = match target {
                    Target::Endpoint => (
                        Verdict::Skip,
                        Some(format!(
                            "cilium-health on {} knows no health endpoint of {peer} (endpoint \
                             health checking is off)",
                            source.node
                        )),
                    ),
                    Target::Node => (
                        Verdict::Error,
                        Some(format!(
                            "cilium-health on {} lists {peer} without an address",
                            source.node
                        )),
                    ),
                };
                results.push(result);
                continue;
            };
            for (index, path) in addresses.iter().enumerate() {
                let secondary = (index > 0).then_some(path.ip.as_str());
                let mut result = base(source, test, peer, target, protocol, secondary);
                result.target_address = match protocol {
                    Protocol::Icmp => path.ip.clone(),
                    Protocol::Http if path.ip.contains(':') => {
                        format!("[{}]:{HEALTH_PORT}", path.ip)
                    }
                    Protocol::Http => format!("{}:{HEALTH_PORT}", path.ip),
                };
                let connectivity = match protocol {
                    Protocol::Icmp => path.icmp.as_ref(),
                    Protocol::Http => path.http.as_ref(),
                };
                judge_path(&mut result, source, peer, target, protocol, connectivity);
                results.push(result);
            }
        }
    }
    results
}

/// A result for one peer and test, before judging. `secondary` is the address of a secondary
/// path (named in the result, since a node has one per IP family).
fn base(
    source: &Source,
    test: &str,
    peer: &str,
    target: Target,
    protocol: Protocol,
    secondary: Option<&str>,
) -> ProbeReport {
    let at = secondary.map(|ip| format!(" at {ip}")).unwrap_or_default();
    let mut result = finding(
        format!("{}::{test}", source.scenario),
        Some(format!("{} -> {peer}{at}", source.node)),
        "health",
        source.described.clone(),
        match protocol {
            Protocol::Icmp => "icmp",
            Protocol::Http => "http",
        },
    );
    result.to = match target {
        Target::Node => format!("node:{peer}"),
        Target::Endpoint => format!("endpoint:{peer}"),
    };
    result.port = (protocol == Protocol::Http).then_some(HEALTH_PORT);
    result.expected = "reachable".into();
    result.expected_reach = Reach::Reached;
    result.reproduce = source.reproduce();
    result
}

fn judge_path(
    result: &mut ProbeReport,
    source: &Source,
    peer: &str,
    target: Target,
    protocol: Protocol,
    connectivity: Option<&Connectivity>,
) {
    let what = match protocol {
        Protocol::Icmp => "ICMP",
        Protocol::Http => "HTTP (TCP 4240)",
    };
    let whose = match target {
        Target::Node => format!("node {peer}"),
        Target::Endpoint => format!("the health endpoint of {peer}"),
    };
    match connectivity {
        None => {
            result.observed = "no result yet".into();
            result.verdict = Verdict::Error;
            result.message = Some(format!(
                "cilium-health on {} has no {what} result for {whose} yet: it probes every node \
                 about once a minute, so a node that just joined or an agent that just started has \
                 none; run again in a minute",
                source.node
            ));
        }
        Some(connectivity) if connectivity.status.is_empty() => {
            result.observed = format!(
                "reachable in {:?}",
                Duration::from_nanos(connectivity.latency)
            );
            result.observed_reach = Reach::Reached;
        }
        Some(connectivity) => {
            result.observed = connectivity.status.clone();
            result.observed_reach = Reach::Blocked;
            result.verdict = Verdict::Fail;
            let hint = match target {
                Target::Node => format!(
                    "traffic between the nodes is blocked: allow {} between all nodes \
                     (firewall, security groups)",
                    match protocol {
                        Protocol::Icmp => "ICMP echo",
                        Protocol::Http => "TCP 4240",
                    }
                ),
                Target::Endpoint => "the endpoint is a pod address behind the overlay: if the node \
                                     itself answers, the tunnel between the nodes is blocked (GENEVE \
                                     UDP 6081 or VXLAN UDP 8472) or pods on that node are unhealthy"
                    .into(),
            };
            result.message = Some(format!(
                "cilium-health on {} cannot reach {whose} by {what}: {}: {hint}",
                source.node, connectivity.status
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::cilium_fixtures::{EKS_ANYWHERE, install};

    fn fixture(name: &str) -> Vec<u8> {
        let path = format!(
            "{}/tests/data/cilium/health/{name}.json",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read(path).unwrap()
    }

    /// Judges `fixture` as reported by the agent on kind-worker, for `peers` and every test.
    fn judged(status: Result<HealthStatus, StatusUnknown>, peers: &[&str]) -> Vec<ProbeReport> {
        let cilium = install(EKS_ANYWHERE, &[("kind-worker", true)], "");
        let kubectl = Kubectl::default();
        let source = Source::new("cilium", &cilium.agent.pods[0], &kubectl);
        judge(&source, peers, &TESTS, status)
    }

    fn verdicts(results: &[ProbeReport]) -> Vec<(&str, Verdict)> {
        results
            .iter()
            .map(|result| (result.name.as_str(), result.verdict))
            .collect()
    }

    const NODES: [&str; 3] = ["kind-control-plane", "kind-worker", "kind-worker2"];

    #[test]
    fn a_healthy_dual_stack_cluster_passes_every_pair_address_and_protocol() {
        let status = parse(&fixture("healthy-dual-stack"));
        let results = judged(status, &NODES);
        // 3 peers x 4 tests x 2 addresses (IPv4 primary, IPv6 secondary).
        assert_eq!(results.len(), 24);
        assert!(
            results.iter().all(|result| result.verdict == Verdict::Pass),
            "{results:#?}"
        );
        let first = &results[0];
        assert_eq!(
            first.name,
            "cilium::health::node->node:icmp [kind-worker -> kind-control-plane]"
        );
        assert_eq!(first.from, "kube-system/cilium-0 on kind-worker");
        assert_eq!(
            (first.to.as_str(), first.target_address.as_str()),
            ("node:kind-control-plane", "172.18.0.2")
        );
        assert_eq!(first.observed, "reachable in 402.775µs");
        assert_eq!(
            (first.expected_reach, first.observed_reach),
            (Reach::Reached, Reach::Reached)
        );
        assert_eq!(
            first.reproduce,
            "kubectl -n kube-system exec cilium-0 -c cilium-agent -- cilium-health status --verbose"
        );
        let secondary = &results[1];
        assert_eq!(
            secondary.name,
            "cilium::health::node->node:icmp [kind-worker -> kind-control-plane at fc00:c111::2]"
        );
        let http = results
            .iter()
            .find(|result| {
                result.name.starts_with(
                    "cilium::health::node->endpoint:http/4240 [kind-worker -> kind-worker2 at",
                )
            })
            .unwrap();
        assert_eq!(
            (http.target_address.as_str(), http.port),
            ("[fd00:10:244:2::a4b3]:4240", Some(4240))
        );
        assert_eq!(http.to, "endpoint:kind-worker2");
    }

    #[test]
    fn a_blocked_overlay_fails_the_endpoint_probes_with_cilium_health_s_error() {
        let results = judged(
            parse(&fixture("endpoint-unreachable")),
            &["kind-worker", "kind-worker2"],
        );
        let failed: Vec<&ProbeReport> = results
            .iter()
            .filter(|result| result.verdict != Verdict::Pass)
            .collect();
        assert_eq!(
            verdicts(
                &failed
                    .iter()
                    .map(|&result| result.clone())
                    .collect::<Vec<_>>()
            ),
            [
                (
                    "cilium::health::node->endpoint:icmp [kind-worker -> kind-worker2]",
                    Verdict::Fail
                ),
                (
                    "cilium::health::node->endpoint:http/4240 [kind-worker -> kind-worker2]",
                    Verdict::Fail
                ),
            ]
        );
        let icmp = failed[0];
        assert_eq!(icmp.observed, "Connection timed out");
        assert_eq!(icmp.observed_reach, Reach::Blocked);
        let http = failed[1];
        assert_eq!(
            http.observed,
            "Get \"http://10.244.2.17:4240/hello\": context deadline exceeded (Client.Timeout \
             exceeded while awaiting headers)"
        );
        assert_eq!(http.target_address, "10.244.2.17:4240");
        let message = http.message.as_deref().unwrap();
        assert!(message.starts_with("cilium-health on kind-worker cannot reach the health endpoint of kind-worker2 by HTTP (TCP 4240): Get"), "{message}");
        assert!(message.contains("GENEVE UDP 6081"), "{message}");
    }

    #[test]
    fn no_result_yet_is_an_error_and_no_health_endpoint_a_skip() {
        let results = judged(parse(&fixture("not-probed-yet")), &NODES);
        let by_name = |name: &str| {
            results
                .iter()
                .find(|result| result.name == name)
                .unwrap_or_else(|| panic!("no {name} in {:#?}", verdicts(&results)))
        };
        let unprobed = by_name("cilium::health::node->node:icmp [kind-worker -> kind-worker2]");
        assert_eq!(
            (unprobed.verdict, unprobed.observed.as_str()),
            (Verdict::Error, "no result yet")
        );
        assert!(
            unprobed
                .message
                .as_deref()
                .unwrap()
                .contains("once a minute")
        );
        let endpoint =
            by_name("cilium::health::node->endpoint:http/4240 [kind-worker -> kind-worker2]");
        assert_eq!(endpoint.verdict, Verdict::Error);
        let no_endpoint =
            by_name("cilium::health::node->endpoint:icmp [kind-worker -> kind-control-plane]");
        assert_eq!(no_endpoint.verdict, Verdict::Skip);
        assert!(
            no_endpoint
                .message
                .as_deref()
                .unwrap()
                .contains("endpoint health checking is off")
        );
        let reachable =
            by_name("cilium::health::node->node:http/4240 [kind-worker -> kind-control-plane]");
        assert_eq!(reachable.verdict, Verdict::Pass);
    }

    #[test]
    fn a_node_cilium_health_does_not_list_fails() {
        let results = judged(parse(&fixture("endpoint-unreachable")), &["kind-worker3"]);
        assert_eq!(results.len(), 4);
        assert!(results.iter().all(|result| result.verdict == Verdict::Fail));
        assert_eq!(
            results[0].message.as_deref(),
            Some(
                "cilium-health on kind-worker does not list node kind-worker3, which runs a \
                 Cilium agent (it lists: kind-worker, kind-worker2): the agent has not learned of \
                 that node"
            )
        );
    }

    #[test]
    fn unreadable_output_is_an_error_never_a_pass() {
        let whole = fixture("healthy-dual-stack");
        let cut = &whole[..whole.len() / 2];
        let status = parse(cut);
        assert!(status.as_ref().is_err_and(|reason| {
            reason
                .to_string()
                .starts_with("cilium-health printed no health status")
        }));
        let results = judged(status, &NODES);
        assert_eq!(results.len(), 12);
        assert!(
            results
                .iter()
                .all(|result| result.verdict == Verdict::Error)
        );
        let failed_exec = judged(
            Err(StatusUnknown::Exec(cluster::CommandFailed {
                ending: cluster::CommandEnding::Failed {
                    command: "cilium-health status -o json".into(),
                    status: "command terminated with non-zero exit code (exit code 1)".into(),
                },
                stderr: "Cannot get status: Get \"http://localhost/v1beta/status\": dial unix /var/run/cilium/health.sock: connect: no such file or directory".into(),
            })),
            &["kind-worker"],
        );
        assert!(
            failed_exec.iter().all(
                |result| result.verdict == Verdict::Error && result.observed == "could not run"
            )
        );
        assert!(
            failed_exec[0]
                .message
                .as_deref()
                .unwrap()
                .contains("health.sock")
        );
    }
}
