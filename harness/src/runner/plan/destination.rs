//! Where a traffic cell goes: the addresses of its target as deployed (each pod of a workload,
//! a Service's ClusterIP or DNS name, a NodePort on every node, the external target, a name),
//! and the agent request that probes each.

use super::{ExternalTarget, PlanError};
use crate::cluster::PodRef;
use crate::probe::ProbeAction;
use crate::runner::cells::MatrixCell;
use crate::runner::deploy::{DeployedWorkload, Deployment};
use crate::scenario::model::{Port, Protocol, Target, WorkloadRef};

/// One resolved destination of a target.
pub(super) struct Destination {
    /// The agent pod answering, when the target is one (`pod:`, `node:`).
    pub pod: Option<PodRef>,
    /// The node it is on, where it is one pod or node.
    pub node: Option<String>,
    /// Whether it stands for a node (`node:` targets: a host-network agent), so that traffic to
    /// it goes between two nodes.
    pub is_node: bool,
    /// Host for the request: an address, or a name the agent resolves.
    pub host: String,
    pub port: Option<u16>,
    /// For humans: `10.244.1.5:8080 (server-0)`.
    pub describe: String,
    /// The agents that receive what is sent there, and their port: the pod itself, or every
    /// pod behind a Service (at the Service's port, also for a NodePort). None elsewhere.
    pub receiving: Option<Receiving>,
}

#[derive(Debug, Clone)]
pub(super) struct Receiving {
    pub pods: Vec<PodRef>,
    pub port: u16,
}

/// Where the cell to `to` goes, at `port` (the probe set's, with the tunnel resolved).
pub(super) fn destinations(
    to: Target<'_>,
    matrix: &MatrixCell<'_>,
    port: Option<u16>,
    deployment: &Deployment,
    external: Option<&ExternalTarget>,
) -> Result<Vec<Destination>, PlanError> {
    let set = matrix.set;
    let workload = |reference: WorkloadRef<'_>| {
        deployment
            .workload(reference)
            .ok_or_else(|| PlanError::NotDeployed(reference.to_string()))
    };
    let with_port = |host: &str| match port {
        Some(port) => host_and_port(host, port),
        None => host.to_string(),
    };
    Ok(match to {
        Target::Pod(reference) | Target::Node(reference) => workload(reference)?
            .pods
            .iter()
            .map(|pod| {
                let host = match &set.interface {
                    Some(interface) => pod
                        .interfaces
                        .get(interface)
                        .and_then(|attachment| attachment.ips.first())
                        .cloned()
                        .ok_or_else(|| PlanError::NoInterfaceAddress {
                            namespace: pod.namespace.clone(),
                            pod: pod.name.clone(),
                            interface: interface.clone(),
                        })?,
                    None => pod.ip.clone(),
                };
                let is_node = matches!(to, Target::Node(_));
                // A host-network pod's address is its node's: the node is what it stands for.
                let describe = if is_node {
                    format!("{} (node {})", with_port(&host), pod.node)
                } else {
                    format!("{} ({})", with_port(&host), pod.name)
                };
                let agent = PodRef {
                    namespace: pod.namespace.clone(),
                    name: pod.name.clone(),
                };
                Ok(Destination {
                    receiving: port.map(|port| Receiving {
                        pods: vec![agent.clone()],
                        port,
                    }),
                    pod: Some(agent),
                    node: Some(pod.node.clone()),
                    is_node,
                    describe,
                    host,
                    port,
                })
            })
            .collect::<Result<_, PlanError>>()?,
        Target::Service(reference) => {
            let receiving = behind(workload(reference)?, port);
            let service = workload(reference)?
                .service
                .as_ref()
                .ok_or_else(|| PlanError::NoService(reference.to_string()))?;
            let ip = service
                .spec
                .as_ref()
                .and_then(|spec| spec.cluster_ip.clone())
                .ok_or_else(|| PlanError::NoClusterIp(reference.to_string()))?;
            vec![Destination {
                pod: None,
                node: None,
                is_node: false,
                describe: format!("{} (Service {})", with_port(&ip), reference.name),
                host: ip,
                port,
                receiving,
            }]
        }
        Target::ServiceDns(reference) => {
            let namespace = &deployment.namespaces[reference.namespace];
            let name = format!("{}.{namespace}.svc.cluster.local", reference.name);
            vec![Destination {
                pod: None,
                node: None,
                is_node: false,
                describe: with_port(&name),
                host: name,
                port,
                receiving: behind(workload(reference)?, port),
            }]
        }
        Target::NodePort(reference) => {
            let receiving = behind(workload(reference)?, port);
            let node_port =
                node_port(workload(reference)?, matrix.protocol, port).ok_or_else(|| {
                    PlanError::NoNodePort {
                        reference: reference.to_string(),
                        to: matrix.written_to.to_owned(),
                    }
                })?;
            deployment
                .nodes
                .iter()
                .filter_map(|node| Some((node, node.internal_ips.first()?)))
                .map(|(node, ip)| Destination {
                    pod: None,
                    node: Some(node.name.clone()),
                    is_node: false,
                    describe: format!("{ip}:{node_port} (node {})", node.name),
                    host: ip.to_string(),
                    port: Some(node_port),
                    receiving: receiving.clone(),
                })
                .collect()
        }
        Target::External => {
            let url = &external.ok_or(PlanError::NoExternalTarget)?.0;
            let host = url
                .host_str()
                .ok_or(PlanError::ExternalTargetWithoutHost)?
                .to_string();
            let port = match matrix.protocol {
                Protocol::Http | Protocol::Https => url.port_or_known_default(),
                _ => matrix.port.and_then(Port::number),
            };
            vec![Destination {
                pod: None,
                node: None,
                is_node: false,
                describe: url.to_string(),
                host,
                port,
                receiving: None,
            }]
        }
        Target::Dns(name) => vec![Destination {
            pod: None,
            node: None,
            is_node: false,
            describe: name.to_string(),
            host: name.to_string(),
            port: None,
            receiving: None,
        }],
    })
}

/// The pods behind a workload's Service, receiving at the Service's `port` (which is theirs:
/// cnicheck's Services map every port to the agent's port of the same number).
fn behind(workload: &DeployedWorkload, port: Option<u16>) -> Option<Receiving> {
    Some(Receiving {
        pods: workload
            .pods
            .iter()
            .map(|pod| PodRef {
                namespace: pod.namespace.clone(),
                name: pod.name.clone(),
            })
            .collect(),
        port: port?,
    })
}

/// The NodePort serving the agent port a probe targets.
fn node_port(workload: &DeployedWorkload, protocol: Protocol, port: Option<u16>) -> Option<u16> {
    let wanted_protocol = if protocol == Protocol::Udp {
        "UDP"
    } else {
        "TCP"
    };
    workload
        .service
        .as_ref()?
        .spec
        .as_ref()?
        .ports
        .as_ref()?
        .iter()
        .find(|service_port| {
            Some(service_port.port) == port.map(i32::from)
                && service_port.protocol.as_deref().unwrap_or("TCP") == wanted_protocol
        })
        .and_then(|service_port| service_port.node_port)
        .and_then(|node_port| u16::try_from(node_port).ok())
}

/// `host:port`, with an IPv6 address in brackets as URLs and socket addresses write it.
fn host_and_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

pub(super) fn action(matrix: &MatrixCell<'_>, destination: &Destination) -> ProbeAction {
    let host = destination.host.clone();
    let port = destination.port.unwrap_or_default();
    match matrix.protocol {
        Protocol::Tcp => ProbeAction::Tcp { host, port },
        Protocol::Http | Protocol::Https => {
            let scheme = matrix.protocol.name();
            let path = matrix.set.path.as_deref().unwrap_or("/");
            ProbeAction::Http {
                url: format!("{scheme}://{}{path}", host_and_port(&host, port)),
            }
        }
        Protocol::Udp => ProbeAction::Udp {
            host,
            port,
            marker: marker(),
        },
        Protocol::Icmp => ProbeAction::Icmp { host },
        Protocol::Dns => ProbeAction::Dns {
            name: host,
            server: None,
        },
        // Validation pairs address checks with `interface:` targets, planned without destinations.
        Protocol::Address => ProbeAction::Interface { name: host },
    }
}

/// A marker only this probe's datagrams carry, so an echo proves delivery of *this* probe.
fn marker() -> String {
    format!("cnicheck-{:016x}", rand::random::<u64>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_hosts_are_bracketed_before_a_port() {
        assert_eq!(
            host_and_port("fd00:10:244::5", 8080),
            "[fd00:10:244::5]:8080"
        );
        assert_eq!(host_and_port("10.244.1.5", 8080), "10.244.1.5:8080");
        assert_eq!(host_and_port("server.ns.svc", 80), "server.ns.svc:80");
    }
}
