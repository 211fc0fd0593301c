//! What a manifest's `${...}` stands for in this run (see [`crate::scenario::variables`]):
//! the deployed pods' addresses, their nodes' addresses and pod CIDRs, a Service's ClusterIP,
//! the `--external-target` host. Validation already refused references to workloads that do
//! not exist or have several pods; what remains here is what only the cluster can fail.

use super::deploy::{DeployedPod, Deployment};
use crate::cluster::NodeInfo;
use crate::scenario::model::WorkloadRef;
use crate::scenario::variables::Variable;
use ipnet::IpNet;
use std::collections::BTreeMap;

/// Stand-ins of the right shape for the preflight's dry run, before anything is deployed.
pub fn stand_in(variable: Variable<'_>) -> Result<String, String> {
    Ok(match variable {
        // Scenarios that need an external target but have none are skipped; their manifests
        // are still checked.
        Variable::ExternalHost => "external-target.invalid",
        // TEST-NET-1 (RFC 5737): never anyone's address.
        Variable::PodIp(_) | Variable::NodeIp(_) | Variable::ServiceIp(_) => "192.0.2.1",
        Variable::PodCidr(_) | Variable::PodNetwork => "192.0.2.0/24",
        Variable::Namespace(_) => "cnicheck-preflight-stand-in",
    }
    .to_owned())
}

/// What the run knows when it applies a manifest: `deployment` is None before the pods exist
/// (`setup` manifests, which validation keeps from naming them).
#[derive(Clone, Copy)]
pub struct RunFacts<'a> {
    pub external_host: Option<&'a str>,
    /// Every namespace alias of the scenario to its real name.
    pub namespaces: &'a BTreeMap<String, String>,
    pub nodes: &'a [NodeInfo],
    pub deployment: Option<&'a Deployment>,
}

/// The value of `variable` in this run, or why it has none.
pub fn resolve(variable: Variable<'_>, facts: &RunFacts<'_>) -> Result<String, String> {
    let RunFacts {
        external_host,
        namespaces,
        nodes,
        deployment,
    } = *facts;
    match variable {
        Variable::Namespace(alias) => namespaces
            .get(alias)
            .cloned()
            .ok_or_else(|| format!("the scenario has no namespace alias {alias}")),
        Variable::ExternalHost => external_host.map(str::to_owned).ok_or_else(|| {
            "no --external-target was given (the scenario should require external-target)"
                .to_owned()
        }),
        Variable::PodNetwork => pod_network(nodes).map(|network| network.to_string()),
        Variable::PodIp(workload) => Ok(only_pod(deployment, workload)?.ip.clone()),
        Variable::NodeIp(workload) => {
            let node = node_of(only_pod(deployment, workload)?, nodes)?;
            node.internal_ips
                .first()
                .map(ToString::to_string)
                .ok_or_else(|| format!("node {} reports no InternalIP", node.name))
        }
        Variable::PodCidr(workload) => {
            let node = node_of(only_pod(deployment, workload)?, nodes)?;
            node.pod_cidrs
                .first()
                .map(ToString::to_string)
                .ok_or_else(|| no_pod_cidr(&node.name))
        }
        Variable::ServiceIp(workload) => deployed(deployment, workload)?
            .service
            .as_ref()
            .and_then(|service| service.spec.as_ref()?.cluster_ip.clone())
            .filter(|ip| !ip.is_empty() && ip != "None")
            .ok_or_else(|| format!("workload {workload}'s Service has no ClusterIP")),
    }
}

/// The smallest network holding every node's first pod CIDR.
fn pod_network(nodes: &[NodeInfo]) -> Result<IpNet, String> {
    let mut cidrs = nodes.iter().map(|node| {
        node.pod_cidrs
            .first()
            .copied()
            .ok_or_else(|| no_pod_cidr(&node.name))
    });
    let mut network = cidrs
        .next()
        .ok_or_else(|| "the cluster has no nodes".to_owned())??;
    for cidr in cidrs {
        let cidr = cidr?;
        while !network.contains(&cidr) {
            network = network
                .supernet()
                .ok_or_else(|| format!("{network} and {cidr} are of different address families"))?;
        }
    }
    Ok(network.trunc())
}

fn no_pod_cidr(node: &str) -> String {
    format!(
        "node {node} has no pod CIDR (spec.podCIDRs): the CNI assigns addresses itself \
         (Cilium's cluster-pool IPAM does), so only pod addresses can be named"
    )
}

fn deployed<'d>(
    deployment: Option<&'d Deployment>,
    workload: WorkloadRef<'_>,
) -> Result<&'d super::deploy::DeployedWorkload, String> {
    deployment
        .and_then(|deployment| deployment.workload(workload))
        .ok_or_else(|| format!("workload {workload} is not deployed (yet)"))
}

fn only_pod<'d>(
    deployment: Option<&'d Deployment>,
    workload: WorkloadRef<'_>,
) -> Result<&'d DeployedPod, String> {
    match &deployed(deployment, workload)?.pods[..] {
        [pod] => Ok(pod),
        pods => Err(format!(
            "workload {workload} has {} pods, not one",
            pods.len()
        )),
    }
}

fn node_of<'n>(pod: &DeployedPod, nodes: &'n [NodeInfo]) -> Result<&'n NodeInfo, String> {
    nodes
        .iter()
        .find(|node| node.name == pod.node)
        .ok_or_else(|| {
            format!(
                "pod {} runs on node {}, which is not in the node list",
                pod.name, pod.node
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, cidrs: &[&str]) -> NodeInfo {
        NodeInfo {
            name: name.to_owned(),
            internal_ips: vec!["10.201.0.2".parse().unwrap()],
            ready: true,
            schedulable: true,
            pod_cidrs: cidrs.iter().map(|cidr| cidr.parse().unwrap()).collect(),
        }
    }

    #[test]
    fn the_pod_network_is_the_smallest_network_holding_every_node_cidr() {
        let nodes = [node("a", &["10.244.0.0/24"]), node("b", &["10.244.1.0/24"])];
        assert_eq!(pod_network(&nodes).unwrap().to_string(), "10.244.0.0/23");
        let nodes = [node("a", &["10.244.0.0/24"]), node("b", &["10.244.2.0/24"])];
        assert_eq!(pod_network(&nodes).unwrap().to_string(), "10.244.0.0/22");
        let nodes = [node("a", &["10.244.3.0/24"])];
        assert_eq!(pod_network(&nodes).unwrap().to_string(), "10.244.3.0/24");
        let nodes = [node("a", &["10.244.0.0/24"]), node("b", &[])];
        assert!(
            pod_network(&nodes)
                .unwrap_err()
                .contains("node b has no pod CIDR")
        );
    }

    #[test]
    fn values_the_run_does_not_have_say_why() {
        let namespaces = BTreeMap::from([("y".to_owned(), "cnicheck-r-s0-y".to_owned())]);
        let mut facts = RunFacts {
            external_host: None,
            namespaces: &namespaces,
            nodes: &[],
            deployment: None,
        };
        let workload = WorkloadRef::parse("x/b");
        let error = resolve(Variable::PodIp(workload), &facts).unwrap_err();
        assert_eq!(error, "workload x/b is not deployed (yet)");
        let error = resolve(Variable::ExternalHost, &facts).unwrap_err();
        assert!(error.contains("--external-target"), "{error}");
        assert_eq!(
            resolve(Variable::Namespace("y"), &facts).unwrap(),
            "cnicheck-r-s0-y"
        );
        facts.external_host = Some("outside.test");
        assert_eq!(
            resolve(Variable::ExternalHost, &facts).unwrap(),
            "outside.test"
        );
    }
}
