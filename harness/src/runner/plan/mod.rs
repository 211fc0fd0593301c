//! Turns the selected cells of a phase into concrete probes: from each pod of the `from`
//! workload to each address of the `to` target, as agent requests.

mod destination;

use super::cells::{Cell, CellKind, MatrixCell};
use super::deploy::{DeployedPod, DeployedWorkload, Deployment, NetworkRangeError};
use super::tunnel::Tunnel;
use crate::cluster::PodRef;
use crate::judge::{AddressExpectation, BalanceExpectation, RecordedAttachment};
use crate::probe::{ProbeAction, ProbeRequest};
use crate::report::model::PathClass;
use crate::scenario::model::{Balance, Expectation, Phase, Port, ProbeSet, Protocol, Target};
use destination::{Destination, action, destinations};
use reqwest::Url;

/// Probe timeout when a probe set gives none: long enough for a healthy cluster under load,
/// short enough that deny probes (which wait it out, concurrently) keep runs fast.
pub const DEFAULT_PROBE_TIMEOUT_SECS: f64 = 2.0;

/// Where `external` targets point: given by the user, never implied.
#[derive(Debug, Clone)]
pub struct ExternalTarget(pub Url);

#[derive(Debug, Clone)]
pub struct PlannedProbe {
    pub name: String,
    /// The name of the cell the probe belongs to.
    pub cell: String,
    pub phase: String,
    pub source: DeployedPod,
    /// The target as written (`pod:server`).
    pub to: String,
    /// The target as resolved, for humans (`10.244.1.5:8080 (server-0)`).
    pub target_address: String,
    pub protocol: Protocol,
    pub port: Option<u16>,
    /// `id` is assigned per batch by the executor.
    pub request: ProbeRequest,
    pub kind: PlannedKind,
}

/// What a planned probe is held to, by kind of cell.
#[derive(Debug, Clone)]
pub enum PlannedKind {
    Traffic(TrafficProbe),
    /// Samples toward a Service, counted by the backend that answered.
    Balance(BalanceExpectation),
    /// The source pod's own interface, against Multus' record of it and its NAD's range.
    Address(AddressExpectation),
}

/// Traffic from the source pod to one destination of the cell's target.
#[derive(Debug, Clone)]
pub struct TrafficProbe {
    pub expected: Expectation,
    /// The node the destination is on, where it is one pod or node.
    pub destination_node: Option<String>,
    /// Whether the destination stands for its node (`node:` targets), so that a blocked probe
    /// is a path between two nodes.
    pub to_node: bool,
    /// The agents that confirm delivery of UDP: the destination node's, watching while the
    /// source sends (nothing answers a tunnel port); the destination pod's, or every pod's
    /// behind a Service, asked whether the datagram arrived.
    pub receivers: Vec<Receiver>,
    /// Whose overlay the port is, when it is the cluster's tunnel port.
    pub overlay: Option<String>,
    pub path: PathClass,
}

/// The destination pod's half of a probe whose delivery only the destination can confirm.
#[derive(Debug, Clone)]
pub struct Receiver {
    pub pod: PodRef,
    pub request: ProbeRequest,
    pub confirms: Confirmation,
}

/// When a receiver runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confirmation {
    /// From before the source sends ([`CAPTURE_LEAD`]) until after: a node's agent capturing
    /// frames, which must be capturing already when the datagram crosses.
    Capturing,
    /// While the source sends: a node's agent watching through a raw socket, which sees only
    /// what arrives while it watches.
    Watching,
    /// Before and after the source sends: a pod's agent asking its echo, which remembers what
    /// arrived.
    Asked,
}

/// How much longer a watching receiver watches than its sender sends: the two agent execs
/// start at about, not exactly, the same moment.
const RECEIVER_GRACE_MS: u64 = 1000;
/// How long a capturing receiver starts before its source sends: long enough for the exec to
/// be running; the capture's own clock says whether it was (see `execute`).
pub const CAPTURE_LEAD: std::time::Duration = std::time::Duration::from_millis(1500);
/// How long an asked receiver waits for its echo's answer over loopback.
const RECEIVER_QUESTION_MS: u64 = 2000;

impl PlannedProbe {
    pub fn pod(&self) -> PodRef {
        PodRef {
            namespace: self.source.namespace.clone(),
            name: self.source.name.clone(),
        }
    }

    pub fn source_label(&self) -> String {
        format!(
            "{}/{} on {}",
            self.source.namespace, self.source.name, self.source.node
        )
    }

    pub fn traffic(&self) -> Option<&TrafficProbe> {
        match &self.kind {
            PlannedKind::Traffic(traffic) => Some(traffic),
            PlannedKind::Balance(_) | PlannedKind::Address(_) => None,
        }
    }

    /// The kind of path it probes; none for an address check, which sends nothing.
    pub fn path(&self) -> Option<PathClass> {
        match &self.kind {
            PlannedKind::Traffic(traffic) => Some(traffic.path),
            PlannedKind::Balance(_) => Some(PathClass::Service),
            PlannedKind::Address(_) => None,
        }
    }

    /// The agents that confirm its delivery: none, one watching, or one or more asked (never
    /// both kinds).
    pub fn receivers(&self) -> &[Receiver] {
        self.traffic()
            .map_or(&[], |traffic| traffic.receivers.as_slice())
    }

    /// Source and destination nodes, when the probe goes from one node to another (node-port
    /// checks).
    pub fn between_nodes(&self) -> Option<(&str, &str)> {
        let traffic = self.traffic().filter(|traffic| traffic.to_node)?;
        Some((&self.source.node, traffic.destination_node.as_deref()?))
    }
}

/// A cell that was not planned: an error (a target without an address), or skipped (a tunnel
/// port on a cluster without an overlay); see [`PlanError::skips`].
#[derive(Debug, Clone)]
pub struct Unplannable {
    pub cell: usize,
    pub reason: PlanError,
}

/// Why a probe could not be planned against what was deployed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PlanError {
    #[error("workload `{0}` was not deployed")]
    NotDeployed(String),
    #[error("pod {namespace}/{pod} has no address on {interface}")]
    NoInterfaceAddress {
        namespace: String,
        pod: String,
        interface: String,
    },
    #[error("workload `{0}` has no Service")]
    NoService(String),
    #[error("Service of `{0}` has no ClusterIP")]
    NoClusterIp(String),
    #[error("Service of `{reference}` has no NodePort for {to}")]
    NoNodePort { reference: String, to: String },
    #[error("no --external-target given (scenario should require external-target)")]
    NoExternalTarget,
    #[error("--external-target has no host")]
    ExternalTargetWithoutHost,
    #[error(transparent)]
    NetworkRange(#[from] NetworkRangeError),
    /// A truth table's diagonal: what a pod reaches of itself says nothing of the network.
    #[error(
        "every destination of `{0}` is the probing pod itself, and a pod does not probe itself \
         (more replicas or nodes give it others)"
    )]
    OnlyItself(String),
    #[error("{0}")]
    NoTunnel(String),
    #[error("the tunnel port is unknown: {0}")]
    UnknownTunnel(String),
    #[error("{0}")]
    NoConsistentHashing(String),
    #[error(
        "no host-network agent runs on node {0} to capture what crosses it (a workload with \
         `host-network: true` and `placement: every-node`)"
    )]
    NoCapturer(String),
}

impl PlanError {
    /// Whether the cell is skipped rather than an error: nothing is there to probe by design.
    pub fn skips(&self) -> bool {
        matches!(
            self,
            PlanError::NoTunnel(_) | PlanError::OnlyItself(_) | PlanError::NoConsistentHashing(_)
        )
    }
}

/// What planning needs to know of the run, besides what was deployed.
#[derive(Debug, Clone, Copy)]
pub struct RunTargets<'a> {
    pub external: Option<&'a ExternalTarget>,
    pub tunnel: &'a Tunnel,
    /// Why `expect: consistent` cells are skipped on this cluster.
    pub consistent_hashing_skip: &'a str,
    /// Why this cluster ignores session affinity, when its configuration says so.
    pub affinity_ignored: Option<&'a str>,
}

/// The probes of the selected cells of phase `phase_index`, and the cells that could not be
/// planned against `deployment`.
pub fn plan_phase(
    phase_index: usize,
    phase: &Phase,
    cells: &[Cell<'_>],
    selected: &[usize],
    deployment: &Deployment,
    targets: RunTargets<'_>,
) -> (Vec<PlannedProbe>, Vec<Unplannable>) {
    let mut planner = PhasePlanner {
        phase: &phase.name.value,
        deployment,
        targets,
        planned: Vec::new(),
        unplannable: Vec::new(),
    };
    for &cell_index in selected {
        let cell = &cells[cell_index];
        match &cell.kind {
            CellKind::Traffic { matrix, to } if matrix.phase == phase_index => {
                planner.traffic(cell_index, cell, matrix, *to);
            }
            CellKind::Address { matrix, interface } if matrix.phase == phase_index => {
                planner.address(cell_index, cell, matrix, interface);
            }
            _ => {}
        }
    }
    (planner.planned, planner.unplannable)
}

/// What planning one phase needs and what it has planned so far.
struct PhasePlanner<'a> {
    phase: &'a str,
    deployment: &'a Deployment,
    targets: RunTargets<'a>,
    planned: Vec<PlannedProbe>,
    unplannable: Vec<Unplannable>,
}

impl<'a> PhasePlanner<'a> {
    fn fail(&mut self, cell: usize, reason: PlanError) {
        self.unplannable.push(Unplannable { cell, reason });
    }

    fn source(
        &mut self,
        cell_index: usize,
        matrix: &MatrixCell<'_>,
    ) -> Option<&'a DeployedWorkload> {
        let deployment = self.deployment;
        let workload = deployment.workload(matrix.from);
        if workload.is_none() {
            self.fail(cell_index, PlanError::NotDeployed(matrix.from.to_string()));
        }
        workload
    }

    /// One address check per source pod.
    fn address(
        &mut self,
        cell_index: usize,
        cell: &Cell<'_>,
        matrix: &MatrixCell<'_>,
        interface: &str,
    ) {
        let Some(from) = self.source(cell_index, matrix) else {
            return;
        };
        for source in &from.pods {
            match address_expectation(source, interface, self.deployment) {
                Ok(address) => self.planned.push(PlannedProbe {
                    name: format!("{} [{}]", cell.name, source.name),
                    cell: cell.name.clone(),
                    phase: self.phase.to_owned(),
                    source: source.clone(),
                    to: matrix.written_to.to_owned(),
                    target_address: format!("{interface} of {}", source.name),
                    protocol: matrix.protocol,
                    port: None,
                    request: ProbeRequest {
                        id: 0,
                        action: ProbeAction::Interface {
                            name: interface.to_owned(),
                        },
                        timeout_ms: timeout_ms(matrix.set),
                        interface: None,
                        samples: None,
                    },
                    kind: PlannedKind::Address(address),
                }),
                Err(reason) => self.fail(cell_index, reason),
            }
        }
    }

    /// From each source pod to each destination of `to` but itself.
    fn traffic(
        &mut self,
        cell_index: usize,
        cell: &Cell<'_>,
        matrix: &MatrixCell<'_>,
        to: Target<'_>,
    ) {
        let Some(from) = self.source(cell_index, matrix) else {
            return;
        };
        let set = matrix.set;
        let port = match (matrix.port, self.targets.tunnel) {
            (Some(Port::Tunnel), Tunnel::Udp { port, overlay }) => {
                Ok((Some(*port), Some(overlay.clone())))
            }
            (Some(Port::Tunnel), Tunnel::Absent { reason }) => {
                Err(PlanError::NoTunnel(reason.clone()))
            }
            (Some(Port::Tunnel), Tunnel::Unknown { problem }) => {
                Err(PlanError::UnknownTunnel(problem.clone()))
            }
            _ => Ok((
                ProbeSet::destination_port(matrix.protocol, matrix.port),
                None,
            )),
        };
        let destinations = port.and_then(|(port, overlay)| {
            Ok((
                destinations(to, matrix, port, self.deployment, self.targets.external)?,
                overlay,
            ))
        });
        let (destinations, overlay) = match destinations {
            Ok(destinations) => destinations,
            Err(reason) => {
                self.fail(cell_index, reason);
                return;
            }
        };
        if let Some(balance) = matrix.expected.balance() {
            let sampled = Sampled { to, balance };
            self.balance(cell_index, cell, matrix, sampled, from, &destinations);
            return;
        }
        let timeout_ms = timeout_ms(set);
        let mut planned_for_cell = 0;
        for source in &from.pods {
            let source_pod = PodRef {
                namespace: source.namespace.clone(),
                name: source.name.clone(),
            };
            // A pod never probes itself: `from: node` to `node:node` means every ordered pair of
            // distinct nodes.
            for destination in destinations
                .iter()
                .filter(|destination| destination.pod.as_ref() != Some(&source_pod))
            {
                planned_for_cell += 1;
                let (action, receivers) = if *matrix.expected == Expectation::Encrypted {
                    match capture_halves(
                        action(matrix, destination),
                        destination,
                        timeout_ms,
                        self.deployment,
                    ) {
                        Ok(halves) => halves,
                        Err(reason) => {
                            self.fail(cell_index, reason);
                            continue;
                        }
                    }
                } else {
                    udp_halves(action(matrix, destination), destination, timeout_ms)
                };
                let request = ProbeRequest {
                    id: 0,
                    action,
                    timeout_ms,
                    interface: set.interface.clone(),
                    samples: None,
                };
                let kind = PlannedKind::Traffic(TrafficProbe {
                    expected: matrix.expected.clone(),
                    destination_node: destination.node.clone(),
                    to_node: destination.is_node,
                    receivers,
                    overlay: overlay.clone(),
                    path: path_class(to, &source.node, destination),
                });
                let probe = self.to_destination(cell, matrix, source, destination, request, kind);
                self.planned.push(probe);
            }
        }
        if planned_for_cell == 0 && !from.pods.is_empty() && !destinations.is_empty() {
            self.fail(
                cell_index,
                PlanError::OnlyItself(matrix.written_to.to_owned()),
            );
        }
    }
}

impl PhasePlanner<'_> {
    /// The probe of `cell` from `source` to `destination`, sending `request`, held to `kind`.
    fn to_destination(
        &self,
        cell: &Cell<'_>,
        matrix: &MatrixCell<'_>,
        source: &DeployedPod,
        destination: &Destination,
        request: ProbeRequest,
        kind: PlannedKind,
    ) -> PlannedProbe {
        PlannedProbe {
            name: format!(
                "{} [{} -> {}]",
                cell.name, source.name, destination.describe
            ),
            cell: cell.name.clone(),
            phase: self.phase.to_owned(),
            source: source.clone(),
            to: matrix.written_to.to_owned(),
            target_address: destination.describe.clone(),
            protocol: matrix.protocol,
            port: destination.port,
            request,
            kind,
        }
    }
}

/// A load-balancing cell's target and what it expects of it.
struct Sampled<'s> {
    to: Target<'s>,
    balance: Balance,
}

impl PhasePlanner<'_> {
    /// From each source pod, samples toward each destination of a Service, sent one after the
    /// other by the agent. Nothing confirms delivery besides the answer: every sample must be
    /// answered, by a backend that names itself.
    fn balance(
        &mut self,
        cell_index: usize,
        cell: &Cell<'_>,
        matrix: &MatrixCell<'_>,
        Sampled { to, balance }: Sampled<'_>,
        from: &DeployedWorkload,
        destinations: &[Destination],
    ) {
        if balance == Balance::Consistent {
            self.fail(
                cell_index,
                PlanError::NoConsistentHashing(self.targets.consistent_hashing_skip.to_owned()),
            );
            return;
        }
        for source in &from.pods {
            for destination in destinations {
                let backends: Vec<String> = destination
                    .receiving
                    .iter()
                    .flat_map(|receiving| &receiving.pods)
                    .map(|pod| pod.name.clone())
                    .collect();
                let samples = matrix.set.samples.as_ref().map_or_else(
                    || balance.default_samples(backends.len()),
                    |samples| samples.value,
                );
                let request = ProbeRequest {
                    id: 0,
                    action: action(matrix, destination),
                    timeout_ms: timeout_ms(matrix.set),
                    interface: matrix.set.interface.clone(),
                    samples: Some(samples),
                };
                let kind = PlannedKind::Balance(BalanceExpectation {
                    balance,
                    service: matrix.written_to.to_owned(),
                    backends,
                    samples,
                    // What ignores affinity balances ClusterIPs; NodePorts stay kube-proxy's.
                    known_cause: match (balance, to) {
                        (Balance::Affinity, Target::Service(_) | Target::ServiceDns(_)) => {
                            self.targets.affinity_ignored.map(str::to_owned)
                        }
                        _ => None,
                    },
                });
                let probe = self.to_destination(cell, matrix, source, destination, request, kind);
                self.planned.push(probe);
            }
        }
    }
}

fn path_class(to: Target<'_>, source_node: &str, destination: &Destination) -> PathClass {
    match to {
        Target::Pod(_) if destination.node.as_deref() == Some(source_node) => PathClass::SameNode,
        Target::Pod(_) => PathClass::CrossNode,
        Target::Node(_) => PathClass::NodeToNode,
        Target::Service(_) | Target::ServiceDns(_) | Target::NodePort(_) => PathClass::Service,
        Target::External => PathClass::External,
        Target::Dns(_) => PathClass::Dns,
    }
}

/// A UDP probe to an agent has two halves. To a node (a tunnel port, which answers nobody) the
/// source only sends, and the node's agent watches for the marker through a raw socket. To a pod,
/// or to a Service in front of agents, the source waits for the echo, and each receiving agent
/// is asked whether the marker arrived, so that silence is a confirmed drop (or a lost reply)
/// rather than a dead server. The outside has no agent of ours to ask: the echo alone decides.
fn udp_halves(
    action: ProbeAction,
    destination: &Destination,
    timeout_ms: u64,
) -> (ProbeAction, Vec<Receiver>) {
    let ProbeAction::Udp { host, port, marker } = action else {
        return (action, Vec::new());
    };
    let Some(receiving) = &destination.receiving else {
        return (ProbeAction::Udp { host, port, marker }, Vec::new());
    };
    let receivers = |action: ProbeAction, timeout_ms, confirms| {
        let receiver = |pod: &PodRef| Receiver {
            pod: pod.clone(),
            request: ProbeRequest {
                id: 0,
                action: action.clone(),
                timeout_ms,
                interface: None,
                samples: None,
            },
            confirms,
        };
        receiving.pods.iter().map(receiver).collect()
    };
    if destination.is_node {
        let receive = ProbeAction::UdpReceive {
            port,
            marker: marker.clone(),
        };
        let watching = receivers(
            receive,
            timeout_ms + RECEIVER_GRACE_MS,
            Confirmation::Watching,
        );
        (ProbeAction::UdpSend { host, port, marker }, watching)
    } else {
        let watch = ProbeAction::UdpWatch {
            port: receiving.port,
            marker: marker.clone(),
        };
        let asked = receivers(watch, RECEIVER_QUESTION_MS, Confirmation::Asked);
        (ProbeAction::Udp { host, port, marker }, asked)
    }
}

/// A UDP probe whose echo proves delivery, and the capture of the receiving node's interface
/// by that node's host-network agent (a pod whose address is the node's), from before the
/// datagram is sent until after its timeout: whether its marker crossed readable.
fn capture_halves(
    action: ProbeAction,
    destination: &Destination,
    timeout_ms: u64,
    deployment: &Deployment,
) -> Result<(ProbeAction, Vec<Receiver>), PlanError> {
    let ProbeAction::Udp { marker, .. } = &action else {
        return Ok((action, Vec::new()));
    };
    let node = destination.node.clone().unwrap_or_default();
    let address = deployment
        .nodes
        .iter()
        .find(|info| info.name == node)
        .and_then(|info| info.internal_ips.first())
        .map(ToString::to_string)
        .ok_or_else(|| PlanError::NoCapturer(node.clone()))?;
    let capturer = deployment
        .workloads
        .values()
        .flat_map(|workload| &workload.pods)
        .find(|pod| pod.node == node && pod.ip == address)
        .ok_or_else(|| PlanError::NoCapturer(node.clone()))?;
    let capture = Receiver {
        pod: PodRef {
            namespace: capturer.namespace.clone(),
            name: capturer.name.clone(),
        },
        request: ProbeRequest {
            id: 0,
            action: ProbeAction::Capture {
                address,
                marker: marker.clone(),
            },
            timeout_ms: timeout_ms
                + u64::try_from(CAPTURE_LEAD.as_millis()).unwrap_or(u64::MAX)
                + RECEIVER_GRACE_MS,
            interface: None,
            samples: None,
        },
        confirms: Confirmation::Capturing,
    };
    Ok((action, vec![capture]))
}

fn timeout_ms(set: &ProbeSet) -> u64 {
    let seconds = set
        .timeout
        .as_ref()
        .map_or(DEFAULT_PROBE_TIMEOUT_SECS, |timeout| timeout.value);
    (seconds * 1000.0) as u64
}

/// What the address check of `interface` on `pod` expects, from Multus' record of the pod.
fn address_expectation(
    pod: &DeployedPod,
    interface: &str,
    deployment: &Deployment,
) -> Result<AddressExpectation, PlanError> {
    let recorded = match pod.interfaces.get(interface) {
        None => None,
        Some(attachment) => {
            let range = deployment
                .network_ranges
                .get(&attachment.network)
                .cloned()
                .unwrap_or_else(|| {
                    Err(NetworkRangeError::NotLookedUp(attachment.network.clone()))
                })?;
            Some(RecordedAttachment {
                network: attachment.network.clone(),
                range,
                ips: attachment.ips.clone(),
            })
        }
    };
    Ok(AddressExpectation {
        interface: interface.to_owned(),
        recorded,
    })
}

#[cfg(test)]
mod tests;
