//! Checks of `expect: encrypted`: it watches a datagram cross from one node to another, so its
//! source and target must be kept on different nodes, and a host-network workload on every node
//! must be there to capture on the receiving one.

use super::*;
use crate::scenario::model::{Expectation, Placement, ProbeSet, Target, ToEntry};
use serde_saphyr::Spanned;

impl Checker<'_> {
    pub(super) fn check_encryption(&mut self, probes: &ProbeSet) {
        let Some(encrypted) = probes
            .expectations()
            .find(|expectation| expectation.value == Expectation::Encrypted)
        else {
            return;
        };
        let capturing = self.scenario.workloads.iter().any(|workload| {
            workload.host_network && matches!(workload.placement, Placement::EveryNode)
        });
        if !capturing {
            self.report(
                encrypted.referenced,
                "`encrypted` captures on the receiving node, and no host-network workload runs \
                 on every node"
                    .to_owned(),
                "add `{name: node, host-network: true, placement: every-node}` to `workloads`"
                    .to_owned(),
            );
        }
        for to in probes.to.as_slice() {
            let target = match ToEntry::parse(&to.value) {
                Some(ToEntry::Target(Target::Pod(target))) => target,
                // Not a target at all: reported by `check_target`.
                None => continue,
                Some(_) => {
                    self.report(
                        to.referenced,
                        format!(
                            "`encrypted` watches a datagram between two nodes, and `{}` is not \
                             a pod",
                            to.value
                        ),
                        "target `pod:W`, with W placed on another node than the source".to_owned(),
                    );
                    continue;
                }
            };
            for from in probes.from.as_slice() {
                self.check_apart(from, to, target);
            }
        }
    }

    /// Reports `to` unless a placement keeps `from`'s pods off the nodes of `target`'s.
    fn check_apart(
        &mut self,
        from: &Spanned<String>,
        to: &Spanned<String>,
        target: WorkloadRef<'_>,
    ) {
        let source = WorkloadRef::parse(&from.value);
        // Unknown workloads are reported by `check_target` and `resolve_workload`.
        let (Some(source_workload), Some(target_workload)) = (
            self.workloads.get(&source).copied(),
            self.workloads.get(&target).copied(),
        ) else {
            return;
        };
        let away_from = |workload: &Workload, other: WorkloadRef<'_>| matches!(&workload.placement, Placement::OtherNodeThan(name) if WorkloadRef::parse(&name.value) == other);
        if !away_from(source_workload, target) && !away_from(target_workload, source) {
            self.report(
                to.referenced,
                format!(
                    "`encrypted` watches a datagram between two nodes, and nothing keeps `{}` \
                     and `{}` on different nodes",
                    from.value, target
                ),
                format!(
                    "give workload `{}` `placement: {{other-node-than: {}}}`",
                    target, from.value
                ),
            );
        }
    }
}
