//! Checks of load-balancing expectations (`spread`, `affinity`, `consistent`): they count which
//! backend of a Service answered, so they need a Service with several backends, and `samples`
//! means nothing without them.

use super::*;
use crate::scenario::limits::MAX_SAMPLES;
use crate::scenario::model::{Placement, ProbeSet, Target, ToEntry};

impl Checker<'_> {
    pub(super) fn check_balance(&mut self, probes: &ProbeSet) {
        let balanced = probes
            .expectations()
            .find(|expectation| expectation.value.balance().is_some());
        if let Some(samples) = &probes.samples {
            if balanced.is_none() {
                self.report(
                    samples.referenced,
                    "`samples` only counts for the load-balancing expectations".to_owned(),
                    "expect `spread`, `affinity` or `consistent`, or remove `samples`".to_owned(),
                );
            } else if !(2..=MAX_SAMPLES).contains(&samples.value) {
                self.report(
                    samples.referenced,
                    format!("`samples: {}` is out of range", samples.value),
                    format!(
                        "give 2 to {MAX_SAMPLES} requests per client, or remove `samples` for \
                         the default"
                    ),
                );
            }
        }
        let Some(balanced) = balanced else {
            return;
        };
        let expectation = super::probes::expectation_name(&balanced.value);
        for to in probes.to.as_slice() {
            let workload = match ToEntry::parse(&to.value) {
                Some(ToEntry::Target(
                    Target::Service(reference)
                    | Target::ServiceDns(reference)
                    | Target::NodePort(reference),
                )) => self.workloads.get(&reference).copied(),
                // Not a target at all: reported by `check_target`.
                None => continue,
                Some(_) => {
                    self.report(
                        to.referenced,
                        format!(
                            "`{expectation}` counts the backends of a Service, and `{}` is not one",
                            to.value
                        ),
                        "target `service:W`, `service-dns:W` or `nodeport:W` of a workload with \
                         several replicas"
                            .to_owned(),
                    );
                    continue;
                }
            };
            // An unknown workload or one without a Service is reported by `check_target`.
            if let Some(workload) = workload
                && workload.replicas.value < 2
                && !matches!(workload.placement, Placement::EveryNode)
            {
                self.report(
                    to.referenced,
                    format!(
                        "`{expectation}` needs several backends, and `{}` has one pod",
                        to.value
                    ),
                    format!(
                        "give workload `{}` `replicas: 2` or more",
                        workload.name.value
                    ),
                );
            }
        }
    }
}
