//! Cilium as installed: its agent DaemonSet and operator Deployment, what their pods run, and
//! `cilium-health status` asked inside each agent. Read only: cnicheck never changes Cilium's
//! objects, and the command it runs in the agents only reads.

use super::cilium_config::{self, CONFIG_MAP, L7Proxy, Routing, RoutingProblem, ServiceBalancing};
use super::exec::{self, PodRef};
use super::pod_state::{PodProblem, readiness_problem};
use super::{ApiContext, ClusterError};
use crate::image::ImageRef;
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment};
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::api::{Api, ListParams};
use kube::core::Selector;
use kube::{Client, ResourceExt};
use std::time::Duration;

/// Names the Cilium Helm chart gives its objects (EKS Anywhere's too).
pub const AGENT_DAEMONSET: &str = "cilium";
pub const AGENT_CONTAINER: &str = "cilium-agent";
pub const OPERATOR_DEPLOYMENT: &str = "cilium-operator";
pub const OPERATOR_CONTAINER: &str = "cilium-operator";

/// `cilium-health status -o json`: the agent's latest probe of every node, as JSON.
const HEALTH_STATUS_COMMAND: [&str; 4] = ["cilium-health", "status", "-o", "json"];

/// Cilium's agent and operator as the cluster runs them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CiliumInstall {
    pub namespace: String,
    pub agent: Component,
    /// None when Cilium's namespace has no operator Deployment.
    pub operator: Option<Component>,
    /// How the agents carry pod traffic between nodes, from `cilium-config`.
    pub routing: Result<Routing, RoutingProblem>,
    /// Where the L7 proxy runs, from `cilium-config`; None without it.
    pub l7_proxy: Option<L7Proxy>,
    /// How Services choose their backends, from `cilium-config`; None without it.
    pub service_balancing: Option<ServiceBalancing>,
    /// Whether the agents honour `sessionAffinity: ClientIP`, from `cilium-config`; None
    /// without it.
    pub session_affinity: Option<bool>,
}

/// The agent DaemonSet or the operator Deployment, and its pods.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Component {
    /// `DaemonSet` or `Deployment`.
    pub kind: &'static str,
    pub namespace: String,
    pub name: String,
    /// Pods it wants: a DaemonSet's desired number scheduled, a Deployment's replicas.
    pub desired: u32,
    pub ready: u32,
    /// Pods that run its current template.
    pub up_to_date: u32,
    /// The main container: `cilium-agent` or `cilium-operator`.
    pub container: &'static str,
    /// The main container's image in the template.
    pub template_image: Option<String>,
    /// Every pod its selector matches, by name.
    pub pods: Vec<ComponentPod>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComponentPod {
    pub pod: PodRef,
    pub node: Option<String>,
    /// The main container's image in the pod spec; none if the pod has no such container.
    pub image: Option<String>,
    /// The main container's `imageID` in the pod status: what the runtime resolved the image
    /// to (with containerd, `repository@sha256:…`).
    pub image_id: Option<String>,
    /// Why the pod is not ready; none when it is.
    pub problem: Option<PodProblem>,
}

impl Component {
    /// `DaemonSet kube-system/cilium`.
    pub fn object(&self) -> String {
        format!("{} {}/{}", self.kind, self.namespace, self.name)
    }

    /// The images of its main container across its pods (the template's when it has none),
    /// each once, sorted.
    pub fn images(&self) -> Vec<String> {
        let mut images: Vec<String> = self
            .pods
            .iter()
            .filter_map(|pod| pod.image.clone())
            .collect();
        if images.is_empty() {
            images.extend(self.template_image.clone());
        }
        images.sort();
        images.dedup();
        images
    }

    /// The tags of [`Component::images`], each once, sorted: `v1.17.6-0`.
    pub fn versions(&self) -> Vec<String> {
        let mut versions: Vec<String> = self
            .images()
            .iter()
            .filter_map(|image| image.parse::<ImageRef>().ok()?.tag)
            .collect();
        versions.sort();
        versions.dedup();
        versions
    }
}

impl ComponentPod {
    /// `kube-system/cilium-x7k2p on worker-1`.
    pub fn describe(&self) -> String {
        match &self.node {
            Some(node) => format!("{} on {node}", self.pod),
            None => format!("{} (not scheduled)", self.pod),
        }
    }
}

/// Finds the DaemonSet `cilium` in any namespace, the operator beside it, and their pods.
/// None when no Cilium agent DaemonSet exists.
pub async fn find_cilium(client: &Client) -> Result<Option<CiliumInstall>, ClusterError> {
    let mut daemonsets = Api::<DaemonSet>::all(client.clone())
        .list(&ListParams::default().fields(&format!("metadata.name={AGENT_DAEMONSET}")))
        .await
        .doing(|| format!("looking for the DaemonSet {AGENT_DAEMONSET}"))?
        .items;
    daemonsets.sort_by_key(|daemonset| daemonset.namespace());
    let Some(daemonset) = daemonsets.into_iter().next() else {
        return Ok(None);
    };
    let namespace = daemonset.namespace().unwrap_or_default();
    let agent_pods = selected_pods(
        client,
        &namespace,
        &component_name("DaemonSet", &namespace, AGENT_DAEMONSET),
        daemonset.spec.as_ref().map(|spec| &spec.selector),
    )
    .await?;
    let deployment = Api::<Deployment>::namespaced(client.clone(), &namespace)
        .get_opt(OPERATOR_DEPLOYMENT)
        .await
        .doing(|| format!("reading Deployment {namespace}/{OPERATOR_DEPLOYMENT}"))?;
    let operator_pods = match &deployment {
        Some(deployment) => {
            selected_pods(
                client,
                &namespace,
                &component_name("Deployment", &namespace, OPERATOR_DEPLOYMENT),
                deployment.spec.as_ref().map(|spec| &spec.selector),
            )
            .await?
        }
        None => Vec::new(),
    };
    let config = Api::<ConfigMap>::namespaced(client.clone(), &namespace)
        .get_opt(CONFIG_MAP)
        .await
        .doing(|| format!("reading ConfigMap {namespace}/{CONFIG_MAP}"))?;
    let data = config.map(|config| config.data.unwrap_or_default());
    let routing = match &data {
        Some(data) => cilium_config::routing(&namespace, data),
        None => Err(RoutingProblem::NoConfigMap {
            namespace: namespace.clone(),
        }),
    };
    Ok(Some(CiliumInstall {
        agent: agent_component(&daemonset, &agent_pods),
        operator: deployment.map(|deployment| operator_component(&deployment, &operator_pods)),
        routing,
        l7_proxy: data.as_ref().map(cilium_config::l7_proxy),
        service_balancing: data.as_ref().map(cilium_config::service_balancing),
        session_affinity: data.as_ref().map(cilium_config::session_affinity),
        namespace,
    }))
}

async fn selected_pods(
    client: &Client,
    namespace: &str,
    owner: &str,
    selector: Option<&LabelSelector>,
) -> Result<Vec<Pod>, ClusterError> {
    let unreadable = |problem: String| ClusterError::UnreadableObject {
        object: owner.into(),
        problem,
    };
    let selector = selector.ok_or_else(|| unreadable("it has no pod selector".into()))?;
    let selector = Selector::try_from(selector.clone())
        .map_err(|error| unreadable(format!("its pod selector is invalid: {error}")))?;
    // An empty selector would match every pod of the namespace.
    if selector.selects_all() {
        return Err(unreadable("its pod selector is empty".into()));
    }
    Ok(Api::<Pod>::namespaced(client.clone(), namespace)
        .list(&ListParams::default().labels_from(&selector))
        .await
        .doing(|| format!("listing the pods of {owner}"))?
        .items)
}

fn component_name(kind: &str, namespace: &str, name: &str) -> String {
    format!("{kind} {namespace}/{name}")
}

fn agent_component(daemonset: &DaemonSet, pods: &[Pod]) -> Component {
    let status = daemonset.status.as_ref();
    let count = |field: fn(&k8s_openapi::api::apps::v1::DaemonSetStatus) -> Option<i32>| {
        status.and_then(field).map_or(0, to_count)
    };
    Component {
        kind: "DaemonSet",
        namespace: daemonset.namespace().unwrap_or_default(),
        name: daemonset.name_any(),
        desired: count(|status| Some(status.desired_number_scheduled)),
        ready: count(|status| Some(status.number_ready)),
        up_to_date: count(|status| status.updated_number_scheduled),
        container: AGENT_CONTAINER,
        template_image: daemonset
            .spec
            .as_ref()
            .and_then(|spec| template_image(spec.template.spec.as_ref(), AGENT_CONTAINER)),
        pods: component_pods(pods, AGENT_CONTAINER),
    }
}

fn operator_component(deployment: &Deployment, pods: &[Pod]) -> Component {
    let spec = deployment.spec.as_ref();
    let status = deployment.status.as_ref();
    Component {
        kind: "Deployment",
        namespace: deployment.namespace().unwrap_or_default(),
        name: deployment.name_any(),
        // Kubernetes defaults replicas to 1.
        desired: spec.and_then(|spec| spec.replicas).map_or(1, to_count),
        ready: status
            .and_then(|status| status.ready_replicas)
            .map_or(0, to_count),
        up_to_date: status
            .and_then(|status| status.updated_replicas)
            .map_or(0, to_count),
        container: OPERATOR_CONTAINER,
        template_image: spec
            .and_then(|spec| template_image(spec.template.spec.as_ref(), OPERATOR_CONTAINER)),
        pods: component_pods(pods, OPERATOR_CONTAINER),
    }
}

fn to_count(value: i32) -> u32 {
    u32::try_from(value).unwrap_or(0)
}

fn template_image(
    pod: Option<&k8s_openapi::api::core::v1::PodSpec>,
    container: &str,
) -> Option<String> {
    pod?.containers
        .iter()
        .find(|candidate| candidate.name == container)?
        .image
        .clone()
}

fn component_pods(pods: &[Pod], container: &str) -> Vec<ComponentPod> {
    let mut result: Vec<ComponentPod> = pods
        .iter()
        .map(|pod| {
            let spec = pod.spec.as_ref();
            let image_id = pod
                .status
                .as_ref()
                .and_then(|status| status.container_statuses.as_ref())
                .into_iter()
                .flatten()
                .find(|status| status.name == container)
                .map(|status| status.image_id.clone())
                .filter(|id| !id.is_empty());
            ComponentPod {
                pod: PodRef {
                    namespace: pod.namespace().unwrap_or_default(),
                    name: pod.name_any(),
                },
                node: spec.and_then(|spec| spec.node_name.clone()),
                image: template_image(spec, container),
                image_id,
                problem: readiness_problem(pod),
            }
        })
        .collect();
    result.sort_by(|a, b| a.pod.name.cmp(&b.pod.name));
    result
}

/// Runs [`HEALTH_STATUS_COMMAND`] in the agent container of `pod` and returns its stdout, or
/// why it could not.
pub async fn health_status(
    client: &Client,
    pod: &PodRef,
    deadline: Duration,
) -> Result<Vec<u8>, exec::CommandFailed> {
    exec::run_command(
        client,
        pod,
        AGENT_CONTAINER,
        &HEALTH_STATUS_COMMAND,
        deadline,
    )
    .await
}

/// The DaemonSet the chart runs Envoy in when `external-envoy-proxy` is on.
pub const ENVOY_DAEMONSET: &str = "cilium-envoy";

/// Why L7 policies cannot be enforced here.
#[derive(Debug, thiserror::Error)]
pub enum NoL7Proxy {
    #[error("enable-l7-proxy is false in {namespace}/{CONFIG_MAP}")]
    Disabled { namespace: String },
    #[error("there is no {namespace}/{CONFIG_MAP} to tell where Envoy runs")]
    NoConfig { namespace: String },
    #[error(
        "{namespace}/{CONFIG_MAP} runs Envoy in the DaemonSet {ENVOY_DAEMONSET} \
         (external-envoy-proxy), which {problem}"
    )]
    NoEnvoyDaemonSet { namespace: String, problem: String },
    #[error(
        "the agents start Envoy from their own image (external-envoy-proxy is not set), but \
         {pod} has no cilium-envoy ({cause})"
    )]
    NoEnvoyInAgent { pod: String, cause: String },
    #[error("no agent pod is ready to ask whether it has Envoy")]
    NoReadyAgent,
    #[error(transparent)]
    Cluster(#[from] ClusterError),
}

/// Whether Cilium can enforce L7 policies: its proxy is on and Envoy is there to run it, by
/// the DaemonSet's readiness or, when the agents embed it, by running `cilium-envoy --version`
/// in one ready agent.
pub async fn l7_proxy_available(
    client: &Client,
    cilium: &CiliumInstall,
    deadline: Duration,
) -> Result<(), NoL7Proxy> {
    let namespace = cilium.namespace.clone();
    match cilium.l7_proxy {
        None => Err(NoL7Proxy::NoConfig { namespace }),
        Some(L7Proxy::Disabled) => Err(NoL7Proxy::Disabled { namespace }),
        Some(L7Proxy::External) => {
            let daemonset = Api::<DaemonSet>::namespaced(client.clone(), &namespace)
                .get_opt(ENVOY_DAEMONSET)
                .await
                .doing(|| format!("reading DaemonSet {namespace}/{ENVOY_DAEMONSET}"))?;
            let status = daemonset
                .as_ref()
                .and_then(|daemonset| daemonset.status.as_ref());
            let problem = match status {
                None if daemonset.is_none() => "does not exist".to_owned(),
                None => "has no status yet".to_owned(),
                Some(status) if status.number_ready < status.desired_number_scheduled => format!(
                    "has {} of {} pods ready",
                    status.number_ready, status.desired_number_scheduled
                ),
                Some(_) => return Ok(()),
            };
            Err(NoL7Proxy::NoEnvoyDaemonSet { namespace, problem })
        }
        Some(L7Proxy::Embedded) => {
            let agent = cilium
                .agent
                .pods
                .iter()
                .find(|pod| pod.problem.is_none())
                .ok_or(NoL7Proxy::NoReadyAgent)?;
            exec::run_command(
                client,
                &agent.pod,
                AGENT_CONTAINER,
                &["cilium-envoy", "--version"],
                deadline,
            )
            .await
            .map(drop)
            .map_err(|failed| NoL7Proxy::NoEnvoyInAgent {
                pod: agent.describe(),
                // The runtime's own words say where it looked; the gist is enough here.
                cause: if failed.to_string().contains("executable file not found") {
                    "it is not in the agent's image".to_owned()
                } else {
                    failed.to_string()
                },
            })
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    //! The objects are the Helm chart's own (see `tests/data/cilium/README.md`); their status,
    //! which no manifest has, is set through the typed API structs.

    use super::*;
    use k8s_openapi::api::apps::v1::{DaemonSetStatus, DeploymentStatus};
    use k8s_openapi::api::core::v1::{ContainerStatus, PodCondition, PodStatus};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/cilium/helm/");
    pub const UPSTREAM: &str = "upstream-v1.17.6.yaml";
    pub const EKS_ANYWHERE: &str = "eks-anywhere-v1.17.6-0.yaml";

    /// The DaemonSet and the Deployment of a rendered chart.
    pub fn rendered(file: &str) -> (DaemonSet, Deployment) {
        let text = std::fs::read_to_string(format!("{FIXTURES}{file}")).unwrap();
        let mut daemonset = None;
        let mut deployment = None;
        // Kubernetes reads YAML 1.1, where the chart's `defaultMode: 0400` is octal.
        let options = serde_saphyr::options! { legacy_octal_numbers: true };
        let documents: Vec<serde_json::Value> =
            serde_saphyr::from_multiple_with_options(&text, options).unwrap();
        for document in documents {
            match document["kind"].as_str() {
                Some("DaemonSet") => daemonset = Some(serde_json::from_value(document).unwrap()),
                Some("Deployment") => deployment = Some(serde_json::from_value(document).unwrap()),
                _ => {}
            }
        }
        (daemonset.unwrap(), deployment.unwrap())
    }

    /// A pod as the DaemonSet or ReplicaSet controller makes it from `template`, on `node`,
    /// ready or not, its main container resolved to `image_id`.
    pub fn pod_from(
        template: &k8s_openapi::api::core::v1::PodTemplateSpec,
        name: &str,
        node: &str,
        ready: bool,
        image_id: &str,
    ) -> Pod {
        let spec = template.spec.clone().unwrap();
        let container_statuses = spec
            .containers
            .iter()
            .map(|container| ContainerStatus {
                name: container.name.clone(),
                image: container.image.clone().unwrap_or_default(),
                image_id: image_id.into(),
                ready,
                ..ContainerStatus::default()
            })
            .collect();
        Pod {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some("kube-system".into()),
                labels: template
                    .metadata
                    .as_ref()
                    .and_then(|meta| meta.labels.clone()),
                ..ObjectMeta::default()
            },
            spec: Some(k8s_openapi::api::core::v1::PodSpec {
                node_name: Some(node.into()),
                ..spec
            }),
            status: Some(PodStatus {
                phase: Some("Running".into()),
                conditions: Some(vec![PodCondition {
                    type_: "Ready".into(),
                    status: if ready { "True" } else { "False" }.into(),
                    reason: (!ready).then(|| "ContainersNotReady".into()),
                    message: (!ready)
                        .then(|| format!("containers with unready status: [{AGENT_CONTAINER}]")),
                    ..PodCondition::default()
                }]),
                container_statuses: Some(container_statuses),
                ..PodStatus::default()
            }),
        }
    }

    pub fn daemonset_status(desired: i32, ready: i32, updated: i32) -> DaemonSetStatus {
        DaemonSetStatus {
            desired_number_scheduled: desired,
            current_number_scheduled: desired,
            number_ready: ready,
            number_available: Some(ready),
            updated_number_scheduled: Some(updated),
            number_misscheduled: 0,
            ..DaemonSetStatus::default()
        }
    }

    pub fn deployment_status(ready: i32, updated: i32) -> DeploymentStatus {
        DeploymentStatus {
            replicas: Some(ready.max(updated)),
            ready_replicas: Some(ready),
            available_replicas: Some(ready),
            updated_replicas: Some(updated),
            ..DeploymentStatus::default()
        }
    }

    /// Cilium as the chart in `file` installs it: an agent on each of `nodes` (name, ready),
    /// every agent resolved to `agent_image_id`, every operator replica ready.
    pub fn install(file: &str, nodes: &[(&str, bool)], agent_image_id: &str) -> CiliumInstall {
        let (mut daemonset, mut deployment) = rendered(file);
        let count = |n: usize| i32::try_from(n).unwrap();
        let ready = nodes.iter().filter(|(_, ready)| *ready).count();
        daemonset.status = Some(daemonset_status(
            count(nodes.len()),
            count(ready),
            count(nodes.len()),
        ));
        let template = &daemonset.spec.as_ref().unwrap().template;
        let agents: Vec<Pod> = nodes
            .iter()
            .enumerate()
            .map(|(index, (node, ready))| {
                pod_from(
                    template,
                    &format!("cilium-{index}"),
                    node,
                    *ready,
                    agent_image_id,
                )
            })
            .collect();
        let replicas = deployment.spec.as_ref().unwrap().replicas.unwrap();
        deployment.status = Some(deployment_status(replicas, replicas));
        let template = &deployment.spec.as_ref().unwrap().template;
        let operators: Vec<Pod> = (0..replicas)
            .map(|index| {
                pod_from(
                    template,
                    &format!("cilium-operator-{index}"),
                    nodes[0].0,
                    true,
                    "",
                )
            })
            .collect();
        CiliumInstall {
            namespace: "kube-system".into(),
            agent: agent_component(&daemonset, &agents),
            operator: Some(operator_component(&deployment, &operators)),
            routing: Ok(Routing::Tunnel {
                protocol: super::cilium_config::TunnelProtocol::Vxlan,
                port: 8472,
            }),
            l7_proxy: Some(L7Proxy::Embedded),
            service_balancing: Some(ServiceBalancing::WithoutReplacement),
            session_affinity: Some(false),
        }
    }

    pub const AGENT_DIGEST: &str =
        "sha256:544de3d4fed7acba72758413812780a4972d47c39035f2a06d6145d8644a3353";

    #[test]
    fn the_upstream_chart_gives_readiness_and_images_per_pod() {
        let (mut daemonset, mut deployment) = rendered(UPSTREAM);
        daemonset.status = Some(daemonset_status(3, 2, 3));
        deployment.status = Some(deployment_status(2, 2));
        let template = &daemonset.spec.as_ref().unwrap().template;
        let image_id = format!("quay.io/cilium/cilium@{AGENT_DIGEST}");
        let pods = [
            pod_from(template, "cilium-b8x2k", "worker-2", false, &image_id),
            pod_from(template, "cilium-4jz9q", "worker-1", true, &image_id),
            pod_from(template, "cilium-t6wfp", "control-plane", true, ""),
        ];
        let agent = agent_component(&daemonset, &pods);
        assert_eq!(agent.object(), "DaemonSet kube-system/cilium");
        assert_eq!((agent.desired, agent.ready, agent.up_to_date), (3, 2, 3));
        let expected_image = format!("quay.io/cilium/cilium:v1.17.6@{AGENT_DIGEST}");
        assert_eq!(
            agent.template_image.as_deref(),
            Some(expected_image.as_str())
        );
        let names: Vec<&str> = agent.pods.iter().map(|pod| pod.pod.name.as_str()).collect();
        assert_eq!(names, ["cilium-4jz9q", "cilium-b8x2k", "cilium-t6wfp"]);
        let worker_1 = &agent.pods[0];
        assert_eq!(worker_1.describe(), "kube-system/cilium-4jz9q on worker-1");
        assert_eq!(worker_1.image.as_deref(), Some(expected_image.as_str()));
        assert_eq!(worker_1.image_id.as_deref(), Some(image_id.as_str()));
        assert!(worker_1.problem.is_none());
        let problem = agent.pods[1]
            .problem
            .as_ref()
            .expect("worker-2 is not ready");
        assert_eq!(problem.node.as_deref(), Some("worker-2"));
        assert!(problem.to_string().contains("cilium-b8x2k"), "{problem}");
        // An image not pulled yet has an empty imageID.
        assert_eq!(agent.pods[2].image_id, None);

        let operator_pods = [pod_from(
            &deployment.spec.as_ref().unwrap().template,
            "cilium-operator-5d8c9f7b6-xk2lp",
            "worker-1",
            true,
            "",
        )];
        let operator = operator_component(&deployment, &operator_pods);
        assert_eq!(operator.object(), "Deployment kube-system/cilium-operator");
        assert_eq!(
            (operator.desired, operator.ready, operator.up_to_date),
            (2, 2, 2)
        );
        assert_eq!(operator.container, OPERATOR_CONTAINER);
        assert_eq!(
            operator.template_image.as_deref(),
            Some(
                "quay.io/cilium/operator-generic:v1.17.6@sha256:91ac3bf7be7bed30e90218f219d4f3062a63377689ee7246062fa0cc3839d096"
            )
        );
        assert_eq!(operator.pods[0].image, operator.template_image);

        assert_eq!((agent.ready, agent.desired), (2, 3));
        assert_eq!(agent.images(), [expected_image.as_str()]);
        assert_eq!(agent.versions(), ["v1.17.6"]);
        assert_eq!(operator.versions(), ["v1.17.6"]);
    }

    #[test]
    fn the_eks_anywhere_build_runs_the_aws_images() {
        let (daemonset, deployment) = rendered(EKS_ANYWHERE);
        // Fresh objects: no status yet counts nothing ready.
        let agent = agent_component(&daemonset, &[]);
        assert_eq!((agent.desired, agent.ready), (0, 0));
        assert_eq!(
            agent.template_image.as_deref(),
            Some("public.ecr.aws/eks/cilium/cilium:v1.17.6-0")
        );
        let operator = operator_component(&deployment, &[]);
        assert_eq!((operator.desired, operator.ready), (2, 0));
        assert_eq!(
            operator.template_image.as_deref(),
            Some("public.ecr.aws/eks/cilium/operator-generic:v1.17.6-0")
        );
    }

    #[test]
    fn the_charts_select_their_pods_by_label() {
        for file in [UPSTREAM, EKS_ANYWHERE] {
            let (daemonset, deployment) = rendered(file);
            let agent = Selector::try_from(daemonset.spec.unwrap().selector).unwrap();
            assert_eq!(agent.to_string(), "k8s-app=cilium", "{file}");
            let operator = Selector::try_from(deployment.spec.unwrap().selector).unwrap();
            let operator = operator.to_string();
            assert!(
                operator.contains("io.cilium/app=operator"),
                "{file}: {operator}"
            );
        }
    }
}
