//! A scenario workload as Kubernetes objects: one bare pod per replica (stable names `W-0`,
//! `W-1`, ... and exact placement, which a Deployment would not give) and an optional Service.

use super::labels::{self, RunId};
use super::{ApiContext, ClusterError};
use crate::probe::{HEALTHZ_PATH, ports};
use crate::scenario::model::{ServiceKind, SessionAffinity, Workload, WorkloadRef};
use k8s_openapi::api::core::v1::{
    Affinity, Capabilities, Container, ContainerPort, EnvVar, EnvVarSource, HTTPGetAction,
    NodeAffinity, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm, ObjectFieldSelector,
    Pod, PodSecurityContext, PodSpec, Probe, SeccompProfile, SecurityContext, Service, ServicePort,
    ServiceSpec, Sysctl,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::Client;
use kube::api::{Api, PostParams};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Path of the cnicheck binary in the agent image; `serve` in pods, `probe` over exec.
pub const AGENT_BINARY: &str = "/cnicheck";
/// The agent's container in every agent pod.
pub const AGENT_CONTAINER: &str = "agent";

const MULTUS_NETWORKS_ANNOTATION: &str = "k8s.v1.cni.cncf.io/networks";
/// Lets unprivileged processes open ICMP datagram sockets, so pods need no NET_RAW to ping.
/// A namespaced sysctl in Kubernetes' "safe" set: allowed without kubelet configuration.
const PING_GROUP_RANGE: (&str, &str) = ("net.ipv4.ping_group_range", "0 2147483647");
/// Safe too (since 1.22): lets the unprivileged agent listen on ports below 1024 where a
/// scenario probes them (a truth table on 80 and 81, as upstream's netpol tests use).
const UNPRIVILEGED_PORT_START: (&str, &str) = ("net.ipv4.ip_unprivileged_port_start", "0");
const PRIVILEGED_PORTS_END: u16 = 1024;
const UNPRIVILEGED_USER: i64 = 65534;
/// Agents hold no state: no reason to wait long for them on deletion.
const TERMINATION_GRACE_SECONDS: i64 = 1;

/// The agent's named ports: (name, port, protocol). Services and container ports share them.
const AGENT_PORTS: [(&str, u16, &str); 4] = [
    ("http", ports::HTTP, "TCP"),
    ("http-alt", ports::HTTP_ALT, "TCP"),
    ("tcp-echo", ports::TCP_ECHO, "TCP"),
    ("udp-echo", ports::UDP_ECHO, "UDP"),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PullPolicy {
    Always,
    #[default]
    IfNotPresent,
    /// For images preloaded on the nodes (a testbed's `localhost/...` images).
    Never,
}

impl PullPolicy {
    fn as_str(self) -> &'static str {
        match self {
            PullPolicy::Always => "Always",
            PullPolicy::IfNotPresent => "IfNotPresent",
            PullPolicy::Never => "Never",
        }
    }
}

/// The registry cnicheck's images are published to; a mirror replaces it ([`Images::registry`]).
pub const DEFAULT_REGISTRY: &str = "ghcr.io";
/// The agent image's repository in the registry: the agent is `ghcr.io/cnicheck/agent:VERSION`,
/// tagged with the version of the cnicheck that deploys it.
pub const AGENT_REPOSITORY: &str = "cnicheck/agent";

/// Where cnicheck's images come from. Today the agent is the only image cnicheck deploys;
/// scenario manifests are the user's and are applied as written.
#[derive(Debug, Clone, Default)]
pub struct Images {
    /// Registry (and path prefix) replacing [`DEFAULT_REGISTRY`] in cnicheck's image
    /// references, repository and tag kept: a mirror for air-gapped clusters, e.g.
    /// `123456789012.dkr.ecr.us-west-2.amazonaws.com/ghcr` (an ECR pull-through cache of
    /// ghcr.io) gives `123456789012.dkr.ecr.us-west-2.amazonaws.com/ghcr/cnicheck/agent:VERSION`.
    /// Checked by [`parse_registry_prefix`].
    pub registry: Option<String>,
    /// Full reference of the agent image (e.g. `localhost/cnicheck-agent:dev`); wins over
    /// `registry`.
    pub agent: Option<String>,
    pub pull_policy: PullPolicy,
}

impl Images {
    pub fn agent_image(&self) -> String {
        self.agent.clone().unwrap_or_else(|| {
            format!(
                "{}/{AGENT_REPOSITORY}:{}",
                self.registry.as_deref().unwrap_or(DEFAULT_REGISTRY),
                env!("CARGO_PKG_VERSION")
            )
        })
    }
}

/// A registry prefix as an image reference starts: `host[:port][/path...]`, without scheme,
/// tag or digest (the repository and tag are cnicheck's). A trailing `/` is dropped.
pub fn parse_registry_prefix(text: &str) -> Result<String, RegistryPrefixError> {
    let prefix = text.trim_end_matches('/');
    if prefix.is_empty() {
        return Err(RegistryPrefixError::Empty);
    }
    if prefix.contains("://") {
        return Err(RegistryPrefixError::Scheme(text.to_owned()));
    }
    if prefix.contains(|c: char| c.is_whitespace() || c == '@') {
        return Err(RegistryPrefixError::NotAPrefix(text.to_owned()));
    }
    let mut segments = prefix.split('/');
    let _host = segments.next();
    if let Some(segment) = segments.find(|segment| segment.is_empty() || segment.contains(':')) {
        return Err(if segment.is_empty() {
            RegistryPrefixError::EmptySegment(text.to_owned())
        } else {
            RegistryPrefixError::Tag {
                text: text.to_owned(),
                segment: segment.to_owned(),
            }
        });
    }
    Ok(prefix.to_owned())
}

const REGISTRY_EXAMPLE: &str = "e.g. 123456789012.dkr.ecr.us-west-2.amazonaws.com/mirror";

/// Why a text is not a registry prefix; each ends with an example of one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryPrefixError {
    #[error("the registry prefix is empty; {REGISTRY_EXAMPLE}")]
    Empty,
    #[error("`{0}` has a scheme; give the registry as image references start, {REGISTRY_EXAMPLE}")]
    Scheme(String),
    #[error("`{0}` is not a registry prefix; {REGISTRY_EXAMPLE}")]
    NotAPrefix(String),
    #[error("`{0}` has an empty path segment; {REGISTRY_EXAMPLE}")]
    EmptySegment(String),
    #[error(
        "`{text}` has a tag (`{segment}`): cnicheck adds its repository and version; {REGISTRY_EXAMPLE}"
    )]
    Tag { text: String, segment: String },
}

/// Where and for whom a workload is built.
#[derive(Debug, Clone, Copy)]
pub struct WorkloadContext<'a> {
    pub run: &'a RunId,
    pub scenario: &'a str,
    /// The real namespace of the workload's alias.
    pub namespace: &'a str,
    pub images: &'a Images,
    /// Extra TCP and UDP echo ports the agent listens on (where they are free: a host-network
    /// workload's node may already serve one, like cilium-health on 4240): the ports the
    /// scenario probes on the workload beyond the agent's own.
    pub listen: &'a ListenPorts,
}

/// Ports an agent serves beyond its own, by protocol.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListenPorts {
    pub tcp: Vec<u16>,
    pub udp: Vec<u16>,
}

impl ListenPorts {
    /// Whether an unprivileged agent needs leave to bind one of them (below 1024).
    fn has_privileged(&self) -> bool {
        self.tcp
            .iter()
            .chain(&self.udp)
            .any(|&port| port < PRIVILEGED_PORTS_END)
    }
}

/// The workload's pods, one per entry of `nodes` (from `plan_nodes`): `Some(node)` pins the
/// pod there with a required node affinity, `None` leaves it to the scheduler.
pub fn build_pods(
    workload: &Workload,
    nodes: &[Option<String>],
    context: &WorkloadContext<'_>,
) -> Result<Vec<Pod>, ClusterError> {
    let name = &workload.name.value;
    labels::check_dns_label("workload name", name)?;
    if workload.host_network && !workload.networks.is_empty() {
        return Err(invalid(
            workload,
            "Multus networks cannot be attached to a host-network pod",
        ));
    }
    let labels = pod_labels(workload, context)?;
    let annotations = (!workload.networks.is_empty()).then(|| {
        BTreeMap::from([(
            MULTUS_NETWORKS_ANNOTATION.to_string(),
            workload.networks.join(","),
        )])
    });
    nodes
        .iter()
        .enumerate()
        .map(|(index, node)| {
            let pod_name = format!("{name}-{index}");
            labels::check_dns_label("pod name", &pod_name)?;
            Ok(Pod {
                metadata: ObjectMeta {
                    name: Some(pod_name),
                    namespace: Some(context.namespace.to_string()),
                    labels: Some(labels.clone()),
                    annotations: annotations.clone(),
                    ..ObjectMeta::default()
                },
                spec: Some(pod_spec(workload.host_network, node.as_deref(), context)),
                status: None,
            })
        })
        .collect()
}

/// The workload's Service, if it asks for one: named like the workload, selecting its pods,
/// exposing every agent port by name.
pub fn build_service(
    workload: &Workload,
    context: &WorkloadContext<'_>,
) -> Result<Option<Service>, ClusterError> {
    let Some(service) = &workload.service else {
        return Ok(None);
    };
    let name = &workload.name.value;
    labels::check_service_name(name)?;
    let selector = BTreeMap::from([
        (labels::RUN.to_string(), context.run.to_string()),
        (labels::WORKLOAD.to_string(), name.clone()),
    ]);
    let ports = AGENT_PORTS
        .iter()
        .map(|&(port_name, port, protocol)| ServicePort {
            name: Some(port_name.into()),
            port: port.into(),
            protocol: Some(protocol.into()),
            target_port: Some(IntOrString::String(port_name.into())),
            ..ServicePort::default()
        })
        .collect();
    Ok(Some(Service {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            namespace: Some(context.namespace.to_string()),
            labels: Some(object_labels(context, name)?),
            ..ObjectMeta::default()
        },
        spec: Some(ServiceSpec {
            type_: Some(
                match service.kind {
                    ServiceKind::ClusterIP => "ClusterIP",
                    ServiceKind::NodePort => "NodePort",
                }
                .into(),
            ),
            selector: Some(selector),
            ports: Some(ports),
            session_affinity: Some(
                match service.session_affinity {
                    SessionAffinity::None => "None",
                    SessionAffinity::ClientIP => "ClientIP",
                }
                .into(),
            ),
            ..ServiceSpec::default()
        }),
        status: None,
    }))
}

/// How long pod creation waits for a new namespace's `default` ServiceAccount: the
/// controller-manager creates it shortly after the namespace (seconds on a busy cluster), and
/// until then the API server refuses every pod of the namespace.
const SERVICE_ACCOUNT_WAIT: Duration = Duration::from_secs(60);
const SERVICE_ACCOUNT_RETRY: Duration = Duration::from_millis(250);

/// The API server's refusal of a pod whose namespace has no `default` ServiceAccount yet.
fn lacks_default_service_account(error: &kube::Error) -> bool {
    matches!(error, kube::Error::Api(status)
        if status.code == 403 && status.message.contains("error looking up service account"))
}

/// Creates the pods and the Service; returns the Service as created (with its ClusterIP and
/// node ports filled in).
pub async fn create_workload(
    client: &Client,
    pods: &[Pod],
    service: Option<&Service>,
) -> Result<Option<Service>, ClusterError> {
    for pod in pods {
        let namespace = pod.metadata.namespace.as_deref().unwrap_or_default();
        let api = Api::<Pod>::namespaced(client.clone(), namespace);
        let waiting_since = Instant::now();
        loop {
            match api.create(&PostParams::default(), pod).await {
                Err(error)
                    if lacks_default_service_account(&error)
                        && waiting_since.elapsed() < SERVICE_ACCOUNT_WAIT =>
                {
                    tokio::time::sleep(SERVICE_ACCOUNT_RETRY).await;
                }
                result => {
                    result.doing(|| {
                        format!(
                            "creating pod {namespace}/{}",
                            pod.metadata.name.as_deref().unwrap_or_default()
                        )
                    })?;
                    break;
                }
            }
        }
    }
    match service {
        Some(service) => {
            let namespace = service.metadata.namespace.as_deref().unwrap_or_default();
            let created = Api::<Service>::namespaced(client.clone(), namespace)
                .create(&PostParams::default(), service)
                .await
                .doing(|| {
                    format!(
                        "creating Service {namespace}/{}",
                        service.metadata.name.as_deref().unwrap_or_default()
                    )
                })?;
            Ok(Some(created))
        }
        None => Ok(None),
    }
}

fn pod_labels(
    workload: &Workload,
    context: &WorkloadContext<'_>,
) -> Result<BTreeMap<String, String>, ClusterError> {
    if let Some(key) = workload
        .labels
        .keys()
        .find(|key| labels::RESERVED.contains(&key.as_str()))
    {
        return Err(invalid(
            workload,
            &format!("label {key} is set by cnicheck itself"),
        ));
    }
    let mut pod_labels = workload.labels.clone();
    pod_labels.extend(object_labels(context, &workload.name.value)?);
    Ok(pod_labels)
}

fn object_labels(
    context: &WorkloadContext<'_>,
    workload: &str,
) -> Result<BTreeMap<String, String>, ClusterError> {
    let mut object_labels = labels::scenario_labels(context.run, context.scenario)?;
    object_labels.insert(labels::WORKLOAD.into(), workload.into());
    Ok(object_labels)
}

fn invalid(workload: &Workload, problem: &str) -> ClusterError {
    ClusterError::InvalidWorkload {
        workload: WorkloadRef::of(workload).to_string(),
        problem: problem.into(),
    }
}

fn pod_spec(host_network: bool, node: Option<&str>, context: &WorkloadContext<'_>) -> PodSpec {
    let (pod_security, container_security) = if host_network {
        host_network_security()
    } else {
        unprivileged_security(context.listen.has_privileged())
    };
    PodSpec {
        containers: vec![agent_container(context, host_network, container_security)],
        host_network: host_network.then_some(true),
        // Host-network agents still resolve cluster names (service-dns targets).
        dns_policy: host_network.then(|| "ClusterFirstWithHostNet".into()),
        affinity: node.map(pin_to_node),
        security_context: Some(pod_security),
        termination_grace_period_seconds: Some(TERMINATION_GRACE_SECONDS),
        // Agents never call the API, and Service env vars would only add noise.
        automount_service_account_token: Some(false),
        enable_service_links: Some(false),
        ..PodSpec::default()
    }
}

/// The agent's own named ports, then each extra port named as upstream's netpol e2e pods
/// name theirs (`serve-81-tcp`), so its named-port policies apply as written. A host-network
/// pod declares no extra ones: there a container port is a host port too, and the node's own
/// service on it (cilium-health on 4240) would keep the pod from being scheduled.
fn container_ports(listen: &ListenPorts, host_network: bool) -> Vec<ContainerPort> {
    let extra = |ports: &[u16], protocol: &'static str| -> Vec<(String, u16, &'static str)> {
        ports
            .iter()
            .map(|&port| {
                let name = format!("serve-{port}-{}", protocol.to_lowercase());
                (name, port, protocol)
            })
            .collect()
    };
    let extra_ports = if host_network {
        Vec::new()
    } else {
        [extra(&listen.tcp, "TCP"), extra(&listen.udp, "UDP")].concat()
    };
    AGENT_PORTS
        .iter()
        .map(|&(name, port, protocol)| (name.to_owned(), port, protocol))
        .chain(extra_ports)
        .map(|(name, port, protocol)| ContainerPort {
            name: Some(name),
            container_port: port.into(),
            protocol: Some(protocol.into()),
            ..ContainerPort::default()
        })
        .collect()
}

fn listen_arguments<'p>(flag: &'p str, ports: &'p [u16]) -> impl Iterator<Item = String> + 'p {
    ports
        .iter()
        .flat_map(move |port| [flag.to_string(), port.to_string()])
}

fn agent_container(
    context: &WorkloadContext<'_>,
    host_network: bool,
    security: SecurityContext,
) -> Container {
    let images = context.images;
    let command = [AGENT_BINARY, "agent", "serve"]
        .into_iter()
        .map(String::from)
        .chain(listen_arguments("--tcp-listen", &context.listen.tcp))
        .chain(listen_arguments("--udp-listen", &context.listen.udp))
        .collect();
    let field_env = |name: &str, path: &str| EnvVar {
        name: name.into(),
        value_from: Some(EnvVarSource {
            field_ref: Some(ObjectFieldSelector {
                field_path: path.into(),
                ..ObjectFieldSelector::default()
            }),
            ..EnvVarSource::default()
        }),
        ..EnvVar::default()
    };
    Container {
        name: AGENT_CONTAINER.into(),
        image: Some(images.agent_image()),
        image_pull_policy: Some(images.pull_policy.as_str().into()),
        command: Some(command),
        env: Some(vec![
            field_env("POD_NAME", "metadata.name"),
            field_env("NODE_NAME", "spec.nodeName"),
        ]),
        ports: Some(container_ports(context.listen, host_network)),
        readiness_probe: Some(Probe {
            http_get: Some(HTTPGetAction {
                path: Some(HEALTHZ_PATH.into()),
                port: IntOrString::String("http".into()),
                ..HTTPGetAction::default()
            }),
            // The first probe usually comes before the agent listens: the next one, a period
            // later, is when the pod turns ready and the scenario can start.
            period_seconds: Some(1),
            timeout_seconds: Some(1),
            failure_threshold: Some(3),
            ..Probe::default()
        }),
        // A crashing agent's last log lines then show up in its status, where wait.rs reads them.
        termination_message_policy: Some("FallbackToLogsOnError".into()),
        security_context: Some(security),
        ..Container::default()
    }
}

/// No privileges at all (the "restricted" Pod Security profile); ICMP works through the
/// ping_group_range sysctl instead of NET_RAW.
fn unprivileged_security(privileged_ports: bool) -> (PodSecurityContext, SecurityContext) {
    let sysctls = std::iter::once(PING_GROUP_RANGE)
        .chain(privileged_ports.then_some(UNPRIVILEGED_PORT_START))
        .map(|(name, value)| Sysctl {
            name: name.into(),
            value: value.into(),
        })
        .collect();
    let pod = PodSecurityContext {
        run_as_non_root: Some(true),
        run_as_user: Some(UNPRIVILEGED_USER),
        run_as_group: Some(UNPRIVILEGED_USER),
        seccomp_profile: Some(runtime_default_seccomp()),
        sysctls: Some(sysctls),
        ..PodSecurityContext::default()
    };
    let container = SecurityContext {
        allow_privilege_escalation: Some(false),
        capabilities: Some(Capabilities {
            drop: Some(vec!["ALL".into()]),
            add: None,
        }),
        ..SecurityContext::default()
    };
    (pod, container)
}

/// In the node's network namespace the pod's sysctls are forbidden (they would change the
/// node), so ICMP needs NET_RAW, which only takes effect for root. Nothing else is granted.
fn host_network_security() -> (PodSecurityContext, SecurityContext) {
    let pod = PodSecurityContext {
        run_as_user: Some(0),
        seccomp_profile: Some(runtime_default_seccomp()),
        ..PodSecurityContext::default()
    };
    let container = SecurityContext {
        allow_privilege_escalation: Some(false),
        capabilities: Some(Capabilities {
            drop: Some(vec!["ALL".into()]),
            add: Some(vec!["NET_RAW".into()]),
        }),
        ..SecurityContext::default()
    };
    (pod, container)
}

fn runtime_default_seccomp() -> SeccompProfile {
    SeccompProfile {
        type_: "RuntimeDefault".into(),
        ..SeccompProfile::default()
    }
}

/// See `placement`: a node affinity keeps the scheduler (and its Unschedulable reasons) in
/// the loop, which `nodeName` would bypass.
fn pin_to_node(node: &str) -> Affinity {
    Affinity {
        node_affinity: Some(NodeAffinity {
            required_during_scheduling_ignored_during_execution: Some(NodeSelector {
                node_selector_terms: vec![NodeSelectorTerm {
                    match_fields: Some(vec![NodeSelectorRequirement {
                        key: "metadata.name".into(),
                        operator: "In".into(),
                        values: Some(vec![node.into()]),
                    }]),
                    ..NodeSelectorTerm::default()
                }],
            }),
            ..NodeAffinity::default()
        }),
        ..Affinity::default()
    }
}

#[cfg(test)]
mod tests;
