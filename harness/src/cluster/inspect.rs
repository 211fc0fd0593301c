//! Facts about the cluster: version, nodes, CRDs, and which CNI runs it.

use super::{ApiContext, ClusterError};
use crate::image::ImageRef;
use ipnet::IpNet;
use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::Node;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, ListParams};
use kube::{Client, ResourceExt};
use std::net::IpAddr;

/// CNIs recognised by their DaemonSet: (DaemonSet name, CNI, image whose tag is the version).
const KNOWN_CNIS: [(&str, &str, &str); 5] = [
    ("cilium", "cilium", "cilium"),
    ("kube-router", "kube-router", "kube-router"),
    ("calico-node", "calico", "node"),
    ("kube-flannel-ds", "flannel", "flannel"),
    ("kube-flannel", "flannel", "flannel"),
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeInfo {
    pub name: String,
    /// `InternalIP` addresses (two on dual-stack nodes).
    pub internal_ips: Vec<IpAddr>,
    pub ready: bool,
    /// Ready, not cordoned, and without a NoSchedule/NoExecute taint: agent pods (which
    /// tolerate nothing) can run there.
    pub schedulable: bool,
    /// The pod address ranges the cluster assigned it (`spec.podCIDRs`); empty where the CNI
    /// manages its own (Cilium's cluster-pool IPAM).
    pub pod_cidrs: Vec<IpNet>,
}

/// Every node, sorted by name (the stable order `plan_nodes` expects).
pub async fn list_nodes(client: &Client) -> Result<Vec<NodeInfo>, ClusterError> {
    let mut nodes: Vec<NodeInfo> = Api::<Node>::all(client.clone())
        .list(&ListParams::default())
        .await
        .doing(|| "listing nodes".into())?
        .items
        .iter()
        .map(node_info)
        .collect();
    nodes.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(nodes)
}

fn node_info(node: &Node) -> NodeInfo {
    let status = node.status.as_ref();
    let ready = status
        .and_then(|status| status.conditions.as_ref())
        .into_iter()
        .flatten()
        .any(|condition| condition.type_ == "Ready" && condition.status == "True");
    let spec = node.spec.as_ref();
    let cordoned = spec.and_then(|spec| spec.unschedulable).unwrap_or(false);
    let repelling_taint = spec
        .and_then(|spec| spec.taints.as_ref())
        .into_iter()
        .flatten()
        .any(|taint| matches!(taint.effect.as_str(), "NoSchedule" | "NoExecute"));
    let internal_ips = status
        .and_then(|status| status.addresses.as_ref())
        .into_iter()
        .flatten()
        .filter(|address| address.type_ == "InternalIP")
        .filter_map(|address| address.address.parse().ok())
        .collect();
    let pod_cidrs = spec
        .and_then(|spec| {
            spec.pod_cidrs
                .clone()
                .or_else(|| Some(vec![spec.pod_cidr.clone()?]))
        })
        .into_iter()
        .flatten()
        .filter_map(|cidr| cidr.parse().ok())
        .collect();
    NodeInfo {
        name: node.name_any(),
        internal_ips,
        ready,
        schedulable: ready && !cordoned && !repelling_taint,
        pod_cidrs,
    }
}

/// The API server's `gitVersion`, e.g. `v1.34.4`.
pub async fn server_version(client: &Client) -> Result<String, ClusterError> {
    Ok(client
        .apiserver_version()
        .await
        .doing(|| "reading the API server version".into())?
        .git_version)
}

/// The CRDs among `names` (full names, `plural.group`) that are not installed and established.
pub async fn missing_crds(client: &Client, names: &[String]) -> Result<Vec<String>, ClusterError> {
    let api = Api::<CustomResourceDefinition>::all(client.clone());
    let mut missing = Vec::new();
    for name in names {
        let crd = api
            .get_opt(name)
            .await
            .doing(|| format!("looking up CRD {name}"))?;
        let established = crd
            .and_then(|crd| crd.status)
            .and_then(|status| status.conditions)
            .unwrap_or_default()
            .iter()
            .any(|condition| condition.type_ == "Established" && condition.status == "True");
        if !established {
            missing.push(name.clone());
        }
    }
    Ok(missing)
}

/// The CNI config (`spec.config`) of the NetworkAttachmentDefinition `namespace/name`, or
/// `None` when there is no such NAD.
pub async fn network_attachment_config(
    client: &Client,
    namespace: &str,
    name: &str,
) -> Result<Option<String>, ClusterError> {
    let kind = GroupVersionKind::gvk("k8s.cni.cncf.io", "v1", "NetworkAttachmentDefinition");
    let resource = ApiResource::from_gvk_with_plural(&kind, "network-attachment-definitions");
    let nad = Api::<DynamicObject>::namespaced_with(client.clone(), namespace, &resource)
        .get_opt(name)
        .await
        .doing(|| format!("reading NetworkAttachmentDefinition {namespace}/{name}"))?;
    Ok(nad.map(|nad| {
        nad.data
            .pointer("/spec/config")
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default()
            .to_owned()
    }))
}

/// The CNI the cluster runs, as far as its DaemonSets tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CniInfo {
    /// `cilium`, `kube-router`, `calico`, `flannel`, or `unknown`.
    pub name: String,
    /// The tag of the CNI's main image.
    pub version: Option<String>,
    /// Every image of the CNI's DaemonSet.
    pub images: Vec<String>,
    /// Where the CNI's DaemonSet runs.
    pub namespace: Option<String>,
}

/// Looks at DaemonSets in every namespace, not only kube-system: Calico's operator installs
/// into `calico-system`, current Flannel into `kube-flannel`.
pub async fn detect_cni(client: &Client) -> Result<CniInfo, ClusterError> {
    let daemonsets = Api::<DaemonSet>::all(client.clone())
        .list(&ListParams::default())
        .await
        .doing(|| "listing DaemonSets to detect the CNI".into())?
        .items;
    Ok(cni_from_daemonsets(&daemonsets))
}

fn cni_from_daemonsets(daemonsets: &[DaemonSet]) -> CniInfo {
    KNOWN_CNIS
        .iter()
        .find_map(|&(daemonset_name, cni, main_image)| {
            let daemonset = daemonsets
                .iter()
                .find(|ds| ds.name_any() == daemonset_name)?;
            let images = daemonset_images(daemonset);
            let version = images
                .iter()
                .filter_map(|image| image.parse::<ImageRef>().ok())
                .find(|image| image.name() == main_image)
                .and_then(|image| image.tag);
            Some(CniInfo {
                name: cni.into(),
                version,
                images,
                namespace: daemonset.namespace(),
            })
        })
        .unwrap_or_else(|| CniInfo {
            name: "unknown".into(),
            version: None,
            images: Vec::new(),
            namespace: None,
        })
}

fn daemonset_images(daemonset: &DaemonSet) -> Vec<String> {
    let Some(pod) = daemonset
        .spec
        .as_ref()
        .and_then(|spec| spec.template.spec.as_ref())
    else {
        return Vec::new();
    };
    let mut images: Vec<String> = pod
        .init_containers
        .iter()
        .flatten()
        .chain(&pod.containers)
        .filter_map(|container| container.image.clone())
        .collect();
    images.sort();
    images.dedup();
    images
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn node(value: serde_json::Value) -> Node {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn nodes_are_schedulable_only_when_ready_uncordoned_and_untainted() {
        let worker = node(json!({
            "metadata": {"name": "worker-1"},
            "spec": {"taints": [{"key": "example.com/soft", "effect": "PreferNoSchedule"}]},
            "status": {
                "addresses": [
                    {"type": "InternalIP", "address": "10.0.0.11"},
                    {"type": "Hostname", "address": "worker-1"},
                    {"type": "InternalIP", "address": "fd00::11"}
                ],
                "conditions": [
                    {"type": "MemoryPressure", "status": "False"},
                    {"type": "Ready", "status": "True", "reason": "KubeletReady"}
                ]
            }
        }));
        let info = node_info(&worker);
        assert_eq!(info.name, "worker-1");
        assert_eq!(
            info.internal_ips,
            vec![
                "10.0.0.11".parse::<IpAddr>().unwrap(),
                "fd00::11".parse().unwrap()
            ]
        );
        assert!(info.ready && info.schedulable);

        let control_plane = node(json!({
            "metadata": {"name": "cp"},
            "spec": {"taints": [{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]},
            "status": {"conditions": [{"type": "Ready", "status": "True"}]}
        }));
        assert!(!node_info(&control_plane).schedulable);

        let cordoned = node(json!({
            "metadata": {"name": "c"},
            "spec": {"unschedulable": true},
            "status": {"conditions": [{"type": "Ready", "status": "True"}]}
        }));
        assert!(!node_info(&cordoned).schedulable);

        let not_ready = node(json!({
            "metadata": {"name": "n"},
            "status": {"conditions": [{"type": "Ready", "status": "Unknown", "reason": "NodeStatusUnknown"}]}
        }));
        let info = node_info(&not_ready);
        assert!(!info.ready && !info.schedulable);
    }

    fn daemonset(namespace: &str, name: &str, images: &[&str]) -> DaemonSet {
        let containers: Vec<_> = images
            .iter()
            .enumerate()
            .map(|(index, image)| json!({"name": format!("c{index}"), "image": image}))
            .collect();
        serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": namespace},
            "spec": {
                "selector": {"matchLabels": {"k8s-app": name}},
                "template": {"spec": {
                    "initContainers": [{"name": "init", "image": images[0]}],
                    "containers": containers
                }}
            }
        }))
        .unwrap()
    }

    #[test]
    fn cilium_is_recognised_with_its_version() {
        let (cilium, _) =
            super::super::cilium::tests::rendered(super::super::cilium::tests::UPSTREAM);
        let daemonsets = [
            daemonset(
                "kube-system",
                "kube-proxy",
                &["registry.k8s.io/kube-proxy:v1.34.4"],
            ),
            cilium,
        ];
        let cni = cni_from_daemonsets(&daemonsets);
        assert_eq!(cni.name, "cilium");
        assert_eq!(cni.version.as_deref(), Some("v1.17.6"));
        assert_eq!(
            cni.images,
            vec![
                "quay.io/cilium/cilium:v1.17.6@sha256:544de3d4fed7acba72758413812780a4972d47c39035f2a06d6145d8644a3353"
            ]
        );
        assert_eq!(cni.namespace.as_deref(), Some("kube-system"));
    }

    #[test]
    fn other_cnis_and_unknown() {
        let calico = [daemonset(
            "calico-system",
            "calico-node",
            &[
                "docker.io/calico/node:v3.30.0",
                "docker.io/calico/cni:v3.30.0",
            ],
        )];
        let cni = cni_from_daemonsets(&calico);
        assert_eq!(
            (cni.name.as_str(), cni.version.as_deref()),
            ("calico", Some("v3.30.0"))
        );

        let flannel = [daemonset(
            "kube-flannel",
            "kube-flannel-ds",
            &["ghcr.io/flannel-io/flannel:v0.26.4"],
        )];
        assert_eq!(cni_from_daemonsets(&flannel).name, "flannel");

        let kube_router = [daemonset(
            "kube-system",
            "kube-router",
            &["docker.io/cloudnativelabs/kube-router"],
        )];
        let cni = cni_from_daemonsets(&kube_router);
        assert_eq!((cni.name.as_str(), cni.version), ("kube-router", None));

        let none = [daemonset(
            "kube-system",
            "kube-proxy",
            &["registry.k8s.io/kube-proxy:v1.34.4"],
        )];
        let cni = cni_from_daemonsets(&none);
        assert_eq!(cni.name, "unknown");
        assert!(cni.images.is_empty());
    }
}
