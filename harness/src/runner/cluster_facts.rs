//! What a report says about the cluster it ran against: the facts the cluster layer found,
//! in the report's stable types. The cluster layer knows nothing of reports.

use crate::cluster::{CiliumInstall, CniInfo, Component, NodeInfo};
use crate::report::model::{CiliumInfo, ClusterInfo, ComponentInfo};
use std::collections::BTreeMap;

/// `nodes` counts every node, schedulable or not; `namespace` is how the run's namespaces are
/// named (`cnicheck-ID*`).
pub(super) fn cluster_info(
    server_version: String,
    nodes: &[NodeInfo],
    cni: &CniInfo,
    namespace: String,
    cilium: Option<(&CiliumInstall, BTreeMap<String, String>)>,
) -> ClusterInfo {
    ClusterInfo {
        server_version,
        nodes: u32::try_from(nodes.len()).unwrap_or(u32::MAX),
        cni: cni.name.clone(),
        cni_version: cni.version.clone(),
        cni_images: cni.images.clone(),
        namespace,
        cilium: cilium.map(|(install, encryption)| cilium_info(install, encryption)),
    }
}

/// `encryption`: each agent's encryption status by node.
fn cilium_info(install: &CiliumInstall, encryption: BTreeMap<String, String>) -> CiliumInfo {
    CiliumInfo {
        namespace: install.namespace.clone(),
        agent: component_info(&install.agent),
        operator: install.operator.as_ref().map(component_info),
        encryption,
    }
}

fn component_info(component: &Component) -> ComponentInfo {
    ComponentInfo {
        object: component.object(),
        desired: component.desired,
        ready: component.ready,
        images: component.images(),
        versions: component.versions(),
    }
}
