//! Which node each pod of a scenario goes to.
//!
//! Placement relations are resolved here, up front, into one node per pod, and the pods are
//! then pinned with a required node affinity on `metadata.name` (what the DaemonSet controller
//! does), not with `nodeName` and not with pod (anti-)affinity:
//!
//! - `nodeName` bypasses the scheduler: a tainted, full or cordoned node then shows up as a
//!   kubelet admission failure or a pod stuck in Pending with no reason, never as
//!   `Unschedulable` with the scheduler's explanation.
//! - Pod (anti-)affinity only constrains against pods that are already bound, so dependent
//!   workloads would have to be created after their anchors are scheduled, and an anti-affinity
//!   evaluated too early passes silently — a wrong placement that looks like a right one.
//!
//! With a planned node and a node affinity the scheduler still checks taints, resources and
//! host ports, and a pod that cannot go where the scenario needs it is reported as
//! `Unschedulable` with the scheduler's message. Workloads that nothing refers to and that
//! have no placement are left to the scheduler.

use super::ClusterError;
use crate::scenario::model::{Placement, Workload, WorkloadRef};
use std::collections::BTreeSet;

/// The node of each pod of each workload, in the order of `workloads`: `Some(node)` pins the
/// pod, `None` leaves it to the scheduler. The length of a workload's list is its pod count.
/// `nodes` are the schedulable nodes, in a stable order (see `inspect::list_nodes`).
pub fn plan_nodes(
    workloads: &[Workload],
    nodes: &[String],
) -> Result<Vec<Vec<Option<String>>>, ClusterError> {
    let anchors: BTreeSet<usize> = workloads
        .iter()
        .filter_map(|workload| anchor_name(&workload.placement))
        .map(|reference| find(workloads, reference))
        .collect::<Result<_, _>>()?;
    let mut planner = Planner {
        workloads,
        nodes,
        anchors,
        plans: vec![Plan::Todo; workloads.len()],
    };
    (0..workloads.len())
        .map(|index| planner.plan(index))
        .collect()
}

#[derive(Clone)]
enum Plan {
    Todo,
    InProgress,
    Done(Vec<Option<String>>),
}

struct Planner<'a> {
    workloads: &'a [Workload],
    nodes: &'a [String],
    /// Workloads other workloads are placed relative to: they must be pinned too.
    anchors: BTreeSet<usize>,
    plans: Vec<Plan>,
}

impl Planner<'_> {
    fn plan(&mut self, index: usize) -> Result<Vec<Option<String>>, ClusterError> {
        match &self.plans[index] {
            Plan::Done(plan) => return Ok(plan.clone()),
            Plan::InProgress => {
                return Err(self.error(index, "its placement refers back to itself".into()));
            }
            Plan::Todo => {}
        }
        self.plans[index] = Plan::InProgress;
        let workload = &self.workloads[index];
        let replicas = workload.replicas.value as usize;
        let plan = match &workload.placement {
            Placement::Any if self.anchors.contains(&index) => {
                let nodes = self.require_nodes(index)?;
                round_robin(nodes, replicas)
            }
            Placement::Any => vec![None; replicas],
            Placement::EveryNode => self
                .require_nodes(index)?
                .iter()
                .cloned()
                .map(Some)
                .collect(),
            Placement::SameNodeAs(anchor) => {
                let anchor_nodes = self.plan(find(self.workloads, &anchor.value)?)?;
                round_robin(&pinned(&anchor_nodes), replicas)
            }
            Placement::OtherNodeThan(anchor) => {
                let taken: BTreeSet<String> =
                    pinned(&self.plan(find(self.workloads, &anchor.value)?)?)
                        .into_iter()
                        .collect();
                let free: Vec<String> = self
                    .nodes
                    .iter()
                    .filter(|node| !taken.contains(*node))
                    .cloned()
                    .collect();
                if free.is_empty() {
                    return Err(self.error(
                        index,
                        format!(
                            "needs a node without {}'s pods, but they are on all {} schedulable node(s)",
                            anchor.value,
                            self.nodes.len()
                        ),
                    ));
                }
                round_robin(&free, replicas)
            }
        };
        self.plans[index] = Plan::Done(plan.clone());
        Ok(plan)
    }

    fn require_nodes(&self, index: usize) -> Result<&[String], ClusterError> {
        if self.nodes.is_empty() {
            Err(self.error(index, "the cluster has no schedulable node".into()))
        } else {
            Ok(self.nodes)
        }
    }

    fn error(&self, index: usize, problem: String) -> ClusterError {
        ClusterError::Placement {
            workload: WorkloadRef::of(&self.workloads[index]).to_string(),
            problem,
        }
    }
}

fn anchor_name(placement: &Placement) -> Option<&str> {
    match placement {
        Placement::SameNodeAs(anchor) | Placement::OtherNodeThan(anchor) => Some(&anchor.value),
        Placement::Any | Placement::EveryNode => None,
    }
}

fn find(workloads: &[Workload], reference: &str) -> Result<usize, ClusterError> {
    let wanted = WorkloadRef::parse(reference);
    workloads
        .iter()
        .position(|workload| WorkloadRef::of(workload) == wanted)
        .ok_or_else(|| ClusterError::Placement {
            workload: reference.to_string(),
            problem: "placement refers to a workload the scenario does not define".into(),
        })
}

/// Anchors are always pinned, so this drops nothing for them.
fn pinned(plan: &[Option<String>]) -> Vec<String> {
    plan.iter().flatten().cloned().collect()
}

fn round_robin(nodes: &[String], count: usize) -> Vec<Option<String>> {
    nodes
        .iter()
        .cycle()
        .take(count)
        .cloned()
        .map(Some)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scenario_workloads(yaml: &str) -> Vec<Workload> {
        serde_saphyr::from_str(yaml).expect("test workloads parse")
    }

    fn nodes(names: &[&str]) -> Vec<String> {
        names.iter().map(|name| name.to_string()).collect()
    }

    fn pins(names: &[&str]) -> Vec<Option<String>> {
        names.iter().map(|name| Some(name.to_string())).collect()
    }

    #[test]
    fn unreferenced_workloads_are_left_to_the_scheduler() {
        let workloads = scenario_workloads("- name: a\n  replicas: 2\n");
        let plan = plan_nodes(&workloads, &nodes(&["n1", "n2"])).unwrap();
        assert_eq!(plan, vec![vec![None, None]]);
    }

    #[test]
    fn anchors_are_pinned_and_followers_share_or_avoid_their_nodes() {
        let workloads = scenario_workloads(
            "- name: server\n\
             - name: near\n  replicas: 2\n  placement: {same-node-as: server}\n\
             - name: far\n  replicas: 3\n  placement: {other-node-than: server}\n",
        );
        let plan = plan_nodes(&workloads, &nodes(&["n1", "n2", "n3"])).unwrap();
        assert_eq!(plan[0], pins(&["n1"]));
        assert_eq!(plan[1], pins(&["n1", "n1"]));
        assert_eq!(plan[2], pins(&["n2", "n3", "n2"]));
    }

    #[test]
    fn every_node_gets_one_pod_per_node_whatever_the_replicas() {
        let workloads = scenario_workloads("- name: ds\n  replicas: 5\n  placement: every-node\n");
        let plan = plan_nodes(&workloads, &nodes(&["n1", "n2"])).unwrap();
        assert_eq!(plan[0], pins(&["n1", "n2"]));
    }

    #[test]
    fn chains_resolve_in_dependency_order() {
        let workloads = scenario_workloads(
            "- name: c\n  placement: {same-node-as: b}\n\
             - name: b\n  placement: {other-node-than: a}\n\
             - name: a\n",
        );
        let plan = plan_nodes(&workloads, &nodes(&["n1", "n2"])).unwrap();
        assert_eq!(plan, vec![pins(&["n2"]), pins(&["n2"]), pins(&["n1"])]);
    }

    #[test]
    fn other_node_than_needs_a_free_node() {
        let workloads = scenario_workloads(
            "- name: a\n  placement: every-node\n\
             - name: b\n  placement: {other-node-than: a}\n",
        );
        let error = plan_nodes(&workloads, &nodes(&["n1"]))
            .unwrap_err()
            .to_string();
        assert!(error.contains("cannot place workload b"), "{error}");
        assert!(error.contains("all 1 schedulable node"), "{error}");
    }

    #[test]
    fn cycles_and_unknown_references_are_errors() {
        let cycle = scenario_workloads(
            "- name: a\n  placement: {same-node-as: b}\n\
             - name: b\n  placement: {same-node-as: a}\n",
        );
        let error = plan_nodes(&cycle, &nodes(&["n1"])).unwrap_err().to_string();
        assert!(error.contains("refers back to itself"), "{error}");

        let unknown = scenario_workloads("- name: a\n  placement: {same-node-as: ghost}\n");
        let error = plan_nodes(&unknown, &nodes(&["n1"]))
            .unwrap_err()
            .to_string();
        assert!(error.contains("ghost"), "{error}");
    }

    #[test]
    fn references_respect_namespaces() {
        let workloads = scenario_workloads(
            "- name: server\n  namespace: other\n\
             - name: client\n  placement: {other-node-than: other/server}\n",
        );
        let plan = plan_nodes(&workloads, &nodes(&["n1", "n2"])).unwrap();
        assert_eq!(plan, vec![pins(&["n1"]), pins(&["n2"])]);

        let wrong_namespace = scenario_workloads(
            "- name: server\n  namespace: other\n\
             - name: client\n  placement: {other-node-than: server}\n",
        );
        assert!(plan_nodes(&wrong_namespace, &nodes(&["n1", "n2"])).is_err());
    }

    #[test]
    fn no_nodes_is_an_error_only_when_pinning() {
        let free = scenario_workloads("- name: a\n");
        assert_eq!(plan_nodes(&free, &[]).unwrap(), vec![vec![None]]);
        let every = scenario_workloads("- name: a\n  placement: every-node\n");
        assert!(plan_nodes(&every, &[]).is_err());
    }
}
