//! Puts a scenario's workloads on the cluster and records where everything landed: namespaces,
//! pods (IPs, nodes, Multus interfaces) and Services. Probes are planned from this record.

use crate::cluster::{
    self, ClusterError, Images, ListenPorts, NodeInfo, RunId, WaitOptions, WorkloadContext,
};
use crate::multus::{self, IpRange, IpamError};
use crate::probe::ports;
use crate::scenario::model::{NamespaceSpec, ProbeSet, Protocol, Scenario, Target, WorkloadRef};
use k8s_openapi::api::core::v1::{Pod, Service};
use kube::Client;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

/// Multus' record of a pod's interfaces.
const NETWORK_STATUS: &str = "k8s.v1.cni.cncf.io/network-status";

#[derive(Debug, Clone, Default)]
pub struct Deployment {
    /// Scenario namespace alias (`default` included) to real namespace.
    pub namespaces: BTreeMap<String, String>,
    /// Keyed by `WorkloadRef`'s display form (`name` or `alias/name`).
    pub workloads: BTreeMap<String, DeployedWorkload>,
    pub nodes: Vec<NodeInfo>,
    /// The IPAM range of every NAD a pod is attached to, keyed like [`Attachment::network`];
    /// an error says why the range is unknown.
    pub network_ranges: BTreeMap<String, Result<IpRange, NetworkRangeError>>,
}

/// Why the IPAM range of a pod's network is unknown; address checks on it are errors.
#[derive(Debug, Clone, thiserror::Error)]
pub enum NetworkRangeError {
    #[error("`{0}` is the cluster network, not a NAD")]
    ClusterNetwork(String),
    #[error("cannot tell the range of NAD {network}: {why}")]
    Unreadable { network: String, why: IpamError },
    #[error("NAD {0} does not exist")]
    Missing(String),
    #[error(transparent)]
    Lookup(Arc<ClusterError>),
    #[error("NAD {0} was not looked up")]
    NotLookedUp(String),
}

#[derive(Debug, Clone, Default)]
pub struct DeployedWorkload {
    pub pods: Vec<DeployedPod>,
    pub service: Option<Service>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeployedPod {
    pub namespace: String,
    pub name: String,
    pub node: String,
    pub ip: String,
    /// Multus' record of the pod's interfaces (`eth0`, `net1`), from its network-status annotation.
    pub interfaces: BTreeMap<String, Attachment>,
}

/// One interface of a pod as Multus recorded it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct Attachment {
    /// The network: a NAD as `namespace/name`, or the cluster network's name.
    #[serde(rename = "name")]
    pub network: String,
    #[serde(default)]
    pub ips: Vec<String>,
}

impl Deployment {
    pub fn workload(&self, reference: WorkloadRef<'_>) -> Option<&DeployedWorkload> {
        self.workloads.get(&reference.to_string())
    }
}

/// Real namespace names of a copy of a scenario's workloads (see `copies`): `default` is the
/// scenario's own, extra aliases get theirs. The first copy's carry no copy number.
pub fn namespace_names(
    run: &RunId,
    scenario_index: usize,
    copy: usize,
    scenario: &Scenario,
) -> Result<BTreeMap<String, String>, ClusterError> {
    let own = match copy {
        0 => format!("s{scenario_index}"),
        copy => format!("s{scenario_index}c{copy}"),
    };
    let mut names = BTreeMap::from([(
        WorkloadRef::DEFAULT_NAMESPACE.to_string(),
        run.extra_namespace(&own)?,
    )]);
    for (alias, _) in scenario.namespaces.iter() {
        names.insert(
            alias.value.clone(),
            run.extra_namespace(&format!("{own}-{}", alias.value))?,
        );
    }
    Ok(names)
}

pub struct DeployOptions<'a> {
    pub run: &'a RunId,
    pub images: &'a Images,
    pub setup_timeout: Duration,
}

/// Creates the scenario's namespaces, labelled as declared.
pub async fn create_namespaces(
    client: &Client,
    scenario: &Scenario,
    namespaces: &BTreeMap<String, String>,
    run: &RunId,
) -> Result<(), ClusterError> {
    for (alias, name) in namespaces {
        let spec = scenario
            .namespaces
            .get(alias)
            .cloned()
            .unwrap_or_else(NamespaceSpec::default);
        cluster::create_namespace(client, name, run, &spec).await?;
    }
    Ok(())
}

/// Creates the pods and Services of the first of `scenarios` in its namespaces and waits for
/// them. The others declare the same workloads (see `sharing`); the pods listen on the ports any
/// of them probes.
pub async fn deploy(
    client: &Client,
    scenarios: &[&Scenario],
    namespaces: &BTreeMap<String, String>,
    nodes: &[NodeInfo],
    options: &DeployOptions<'_>,
) -> Result<Deployment, ClusterError> {
    let schedulable: Vec<String> = nodes
        .iter()
        .filter(|node| node.schedulable)
        .map(|node| node.name.clone())
        .collect();
    let scenario = scenarios[0];
    let plan = cluster::plan_nodes(&scenario.workloads, &schedulable)?;

    let mut services = BTreeMap::new();
    let mut pod_names: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for (workload, pod_nodes) in scenario.workloads.iter().zip(&plan) {
        let reference = WorkloadRef::of(workload);
        let namespace = &namespaces[reference.namespace];
        let listen = probed_ports(scenarios, reference);
        let context = WorkloadContext {
            run: options.run,
            scenario: &scenario.name.value,
            namespace,
            images: options.images,
            listen: &listen,
        };
        let pods = cluster::build_pods(workload, pod_nodes, &context)?;
        let service = cluster::build_service(workload, &context)?;
        let created = cluster::create_workload(client, &pods, service.as_ref()).await?;
        pod_names
            .entry(namespace.as_str())
            .or_default()
            .extend(pods.iter().filter_map(|pod| pod.metadata.name.clone()));
        services.insert(reference.to_string(), created);
    }

    let wait = WaitOptions {
        timeout: options.setup_timeout,
        ..WaitOptions::default()
    };
    // (workload, pod), in the pods' name order.
    let mut ready: Vec<(String, DeployedPod)> = Vec::new();
    for (namespace, names) in &pod_names {
        for pod in cluster::wait_for_pods_ready(client, namespace, names, wait).await? {
            ready.push((
                pod_workload(&pod).unwrap_or_default().to_string(),
                deployed_pod(&pod),
            ));
        }
    }
    ready.sort_by(|(_, a), (_, b)| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));

    let mut deployment = Deployment {
        namespaces: namespaces.clone(),
        workloads: BTreeMap::new(),
        nodes: nodes.to_vec(),
        network_ranges: network_ranges(client, &ready).await,
    };
    for workload in &scenario.workloads {
        let reference = WorkloadRef::of(workload);
        let namespace = &namespaces[reference.namespace];
        let pods: Vec<DeployedPod> = ready
            .iter()
            .filter(|(name, pod)| pod.namespace == *namespace && name == reference.name)
            .map(|(_, pod)| pod.clone())
            .collect();
        let service = services.remove(&reference.to_string()).flatten();
        if let Some(service) = &service {
            let names: Vec<String> = pods.iter().map(|pod| pod.name.clone()).collect();
            let service_name = service.metadata.name.clone().unwrap_or_default();
            cluster::wait_for_service_endpoints(
                client,
                namespace,
                &service_name,
                &names,
                options.setup_timeout,
            )
            .await?;
        }
        deployment
            .workloads
            .insert(reference.to_string(), DeployedWorkload { pods, service });
    }
    Ok(deployment)
}

/// The IPAM range of each NAD the pods are attached to, read from the cluster: whoever wrote
/// the NAD (cnicheck from `--multus-*`, a setup manifest, the cluster's admin), its range is
/// what address checks hold the pods to.
async fn network_ranges(
    client: &Client,
    pods: &[(String, DeployedPod)],
) -> BTreeMap<String, Result<IpRange, NetworkRangeError>> {
    let networks: BTreeSet<&str> = pods
        .iter()
        .flat_map(|(_, pod)| pod.interfaces.values())
        .map(|attachment| attachment.network.as_str())
        .collect();
    let mut ranges = BTreeMap::new();
    for network in networks {
        let range = match network.split_once('/') {
            None => Err(NetworkRangeError::ClusterNetwork(network.to_owned())),
            Some((namespace, name)) => {
                match cluster::network_attachment_config(client, namespace, name).await {
                    Ok(Some(config)) => {
                        multus::ipam_range(&config).map_err(|why| NetworkRangeError::Unreadable {
                            network: network.to_owned(),
                            why,
                        })
                    }
                    Ok(None) => Err(NetworkRangeError::Missing(network.to_owned())),
                    Err(error) => Err(NetworkRangeError::Lookup(Arc::new(error))),
                }
            }
        };
        ranges.insert(network.to_owned(), range);
    }
    ranges
}

fn pod_workload(pod: &Pod) -> Option<&str> {
    pod.metadata
        .labels
        .as_ref()?
        .get(cluster::labels::WORKLOAD)
        .map(String::as_str)
}

/// The ports the scenarios probe on `workload` (`pod:` and `node:` targets) beyond the agent's
/// own, which its agents then listen on: a truth table's ports (80, 81), the node-port checks'
/// (4240, where the node does not serve it already). TCP for tcp and http probes (an extra TCP
/// port serves HTTP, which a tcp probe's handshake needs no more of), UDP for udp.
fn probed_ports(scenarios: &[&Scenario], workload: WorkloadRef<'_>) -> ListenPorts {
    let mut listen = ListenPorts::default();
    let protocol_sets = scenarios
        .iter()
        .flat_map(|scenario| &scenario.phases)
        .flat_map(|phase| &phase.probes)
        .flat_map(|set| set.protocols().map(move |protocol| (set, protocol)));
    for (set, protocol) in protocol_sets {
        let (list, own_ports) = match protocol {
            Protocol::Tcp | Protocol::Http => (
                &mut listen.tcp,
                &[ports::HTTP, ports::HTTP_ALT, ports::TCP_ECHO][..],
            ),
            Protocol::Udp => (&mut listen.udp, &[ports::UDP_ECHO][..]),
            _ => continue,
        };
        let aims_here = set.to.as_slice().iter().any(|to| {
            matches!(
                Target::parse(&to.value),
                Some(Target::Pod(target) | Target::Node(target)) if target == workload
            )
        });
        if aims_here {
            list.extend(
                set.ports()
                    .into_iter()
                    .filter_map(|port| ProbeSet::destination_port(protocol, port))
                    .filter(|port| !own_ports.contains(port)),
            );
        }
    }
    for list in [&mut listen.tcp, &mut listen.udp] {
        list.sort_unstable();
        list.dedup();
    }
    listen
}

fn deployed_pod(pod: &Pod) -> DeployedPod {
    let status = pod.status.clone().unwrap_or_default();
    DeployedPod {
        namespace: pod.metadata.namespace.clone().unwrap_or_default(),
        name: pod.metadata.name.clone().unwrap_or_default(),
        node: pod
            .spec
            .as_ref()
            .and_then(|spec| spec.node_name.clone())
            .unwrap_or_default(),
        ip: status.pod_ip.unwrap_or_default(),
        interfaces: pod
            .metadata
            .annotations
            .as_ref()
            .and_then(|annotations| annotations.get(NETWORK_STATUS))
            .map(|status| interfaces_from_network_status(status))
            .unwrap_or_default(),
    }
}

/// The interfaces in Multus' `network-status` annotation (a JSON list of `{"name",
/// "interface", "ips"}`). Unparsable annotations yield no interfaces: a probe bound to a
/// missing interface then reports it as such.
fn interfaces_from_network_status(annotation: &str) -> BTreeMap<String, Attachment> {
    #[derive(serde::Deserialize)]
    struct Entry {
        interface: Option<String>,
        #[serde(flatten)]
        attachment: Attachment,
    }
    serde_json::from_str::<Vec<Entry>>(annotation)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|entry| Some((entry.interface?, entry.attachment)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agents_listen_on_every_port_probed_toward_them_beyond_their_own() {
        let scenario = crate::scenario::parse_for_tests(
            "name: t\nworkloads:\n  - name: a\n  - name: b\nphases:\n  - name: p\n    probes:\n\
             \x20     - {from: b, to: pod:a, protocol: tcp, port: [80, 81, 9000], expect: allowed}\n\
             \x20     - {from: b, to: pod:a, protocol: udp, port: [80, 9001], expect: allowed}\n\
             \x20     - {from: a, to: pod:b, protocol: http, expect: allowed}\n",
        );
        assert_eq!(
            probed_ports(&[&scenario], WorkloadRef::parse("a")),
            ListenPorts {
                tcp: vec![80, 81],
                udp: vec![80],
            }
        );
        assert_eq!(
            probed_ports(&[&scenario], WorkloadRef::parse("b")),
            ListenPorts::default()
        );
    }

    #[test]
    fn network_status_gives_addresses_per_interface() {
        // As Multus 4 writes it on a pod with one macvlan attachment.
        let annotation = r#"[{"name":"cnicheck-pods","interface":"eth0","ips":["10.244.1.5"],"mac":"b2:9e:3a:1c:7d:01","default":true,"dns":{}},{"name":"default/macvlan-testbed","interface":"net1","ips":["10.202.0.3"],"mac":"4e:5f:01:aa:bb:cc","dns":{}}]"#;
        let interfaces = interfaces_from_network_status(annotation);
        assert_eq!(
            interfaces["net1"],
            Attachment {
                network: "default/macvlan-testbed".into(),
                ips: vec!["10.202.0.3".into()]
            }
        );
        assert_eq!(interfaces["eth0"].ips, vec!["10.244.1.5".to_string()]);
        assert!(interfaces_from_network_status("not json").is_empty());
    }
}
