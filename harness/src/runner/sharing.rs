//! Which scenarios share one deployment of their workloads.
//!
//! Pods are most of a run's cost: creating and deleting one keeps the node's runtime and the
//! pod network busy for a second or two. Scenarios that declare the same namespaces and
//! workloads and change nothing on the cluster (no `setup`, no NAD, no phase that applies or
//! deletes, one copy) cannot tell whether they have those pods to themselves, so they are
//! deployed once and probe them at the same time. A scenario that changes something keeps its
//! own pods: its policies would reach into the others' probes.

use crate::scenario::model::{Placement, Scenario, ServiceSpec, Workload};
use serde_saphyr::Spanned;
use std::collections::BTreeMap;

/// The scenarios, as indices, in groups that share a deployment: groups in the order of their
/// first member, members in the order given.
pub(super) fn deployment_groups(scenarios: &[&Scenario]) -> Vec<Vec<usize>> {
    let mut groups: Vec<Vec<usize>> = Vec::new();
    for (index, scenario) in scenarios.iter().enumerate() {
        let joins = groups.iter_mut().find(|group| {
            let first = scenarios[group[0]];
            can_share(first) && can_share(scenario) && same_workloads(first, scenario)
        });
        match joins {
            Some(group) => group.push(index),
            None => groups.push(vec![index]),
        }
    }
    groups
}

/// Whether the scenario leaves the cluster as its deployment made it.
fn can_share(scenario: &Scenario) -> bool {
    scenario.check.is_none()
        && scenario.setup.is_empty()
        && scenario.multus_network.is_none()
        && scenario
            .copies
            .as_ref()
            .is_none_or(|copies| copies.value <= 1)
        && scenario
            .phases
            .iter()
            .all(|phase| phase.apply.is_empty() && phase.delete.is_empty())
}

/// The same namespaces and workloads, in the same order, wherever they are written.
fn same_workloads(a: &Scenario, b: &Scenario) -> bool {
    namespace_labels(a).eq(namespace_labels(b))
        && a.workloads.len() == b.workloads.len()
        && a.workloads
            .iter()
            .zip(&b.workloads)
            .all(|(a, b)| same_workload(a, b))
}

/// Each extra namespace's alias and labels, in file order.
fn namespace_labels(
    scenario: &Scenario,
) -> impl Iterator<Item = (&str, &BTreeMap<String, String>)> {
    scenario
        .namespaces
        .iter()
        .map(|(alias, spec)| (alias.value.as_str(), &spec.labels))
}

fn same_workload(a: &Workload, b: &Workload) -> bool {
    // Destructured in full, so that a new field of `Workload` cannot be left out of the
    // comparison unnoticed.
    let Workload {
        name,
        namespace,
        replicas,
        labels,
        placement,
        service,
        host_network,
        networks,
    } = a;
    name.value == b.name.value
        && value(namespace) == value(&b.namespace)
        && replicas.value == b.replicas.value
        && *labels == b.labels
        && same_placement(placement, &b.placement)
        && same_service(service.as_ref(), b.service.as_ref())
        && *host_network == b.host_network
        && *networks == b.networks
}

fn value(spanned: &Option<Spanned<String>>) -> Option<&str> {
    spanned.as_ref().map(|spanned| spanned.value.as_str())
}

fn same_placement(a: &Placement, b: &Placement) -> bool {
    match (a, b) {
        (Placement::Any, Placement::Any) | (Placement::EveryNode, Placement::EveryNode) => true,
        (Placement::SameNodeAs(a), Placement::SameNodeAs(b))
        | (Placement::OtherNodeThan(a), Placement::OtherNodeThan(b)) => a.value == b.value,
        _ => false,
    }
}

fn same_service(a: Option<&ServiceSpec>, b: Option<&ServiceSpec>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => {
            let ServiceSpec {
                kind,
                session_affinity,
            } = a;
            *kind == b.kind && *session_affinity == b.session_affinity
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::parse_for_tests as load;

    fn groups(scenarios: &[Scenario]) -> Vec<Vec<usize>> {
        deployment_groups(&scenarios.iter().collect::<Vec<_>>())
    }

    const WORKLOADS: &str = "
workloads:
  - name: client
    placement: every-node
  - name: server
    replicas: 2
    service:
      type: NodePort
";

    fn probing(name: &str, workloads: &str) -> String {
        format!(
            "name: {name}\n{workloads}phases:\n  - name: p\n    probes:\n      - from: client\n        to: pod:server\n        protocol: tcp\n        expect: allowed\n"
        )
    }

    #[test]
    fn scenarios_with_the_same_workloads_that_change_nothing_share() {
        let scenarios = [
            load(&probing("a", WORKLOADS)),
            load(&probing(
                "b",
                "workloads:\n  - name: client\n  - name: server\n",
            )),
            load(&format!("\n\n{}", probing("c", WORKLOADS))),
        ];
        assert_eq!(groups(&scenarios), [vec![0, 2], vec![1]]);
    }

    #[test]
    fn a_scenario_that_applies_objects_keeps_its_own_pods() {
        let applying = probing("b", WORKLOADS)
            .replace("  - name: p\n", "  - name: p\n    apply: [policy.yaml]\n");
        let scenarios = [load(&probing("a", WORKLOADS)), load(&applying)];
        assert_eq!(groups(&scenarios), [vec![0], vec![1]]);
    }

    #[test]
    fn a_difference_in_any_workload_field_keeps_them_apart() {
        let variants = [
            WORKLOADS.replace("replicas: 2", "replicas: 3"),
            WORKLOADS.replace("NodePort", "ClusterIP"),
            WORKLOADS.replace("every-node", "{same-node-as: server}"),
            WORKLOADS.replace(
                "    replicas: 2\n",
                "    replicas: 2\n    labels: {role: x}\n",
            ),
        ];
        for variant in variants {
            let scenarios = [
                load(&probing("a", WORKLOADS)),
                load(&probing("b", &variant)),
            ];
            assert_eq!(groups(&scenarios), [vec![0], vec![1]], "{variant}");
        }
    }
}
