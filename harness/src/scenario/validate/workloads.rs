//! Checks of namespaces' workloads: names, labels, placement, networks, and the references
//! probe sets make to them.

use super::*;
use crate::scenario::error::choose_from;
use crate::scenario::limits::{MAX_MIN_NODES, MAX_REPLICAS};
use crate::scenario::model::{Placement, Workload, WorkloadRef};
use crate::scenario::names::{self, NameError};
use serde_saphyr::Spanned;

impl<'a> Checker<'a> {
    pub(super) fn check_workloads(&mut self) {
        let scenario = self.scenario;
        for (index, workload) in scenario.workloads.iter().enumerate() {
            let reference = WorkloadRef::of(workload);
            if let Some(first) = self.workloads.insert(reference, workload) {
                let line = first.name.referenced.line();
                self.report(
                    workload.name.referenced,
                    format!("workload `{reference}` is defined twice"),
                    format!("the first definition is on line {line}; rename one of them"),
                );
            }
            if let Some(alias) = &workload.namespace
                && !self.aliases.contains(&alias.value.as_str())
            {
                let aliases = self.aliases.clone();
                self.report_lazy(
                    alias.referenced,
                    format!("namespace alias `{}` is not defined", alias.value),
                    || {
                        let hint = choose_from(&alias.value, "defined aliases", aliases);
                        format!("{hint}; add it under `namespaces:`")
                    },
                );
            }
            let replicas = workload.replicas.value;
            if replicas == 0 {
                self.report(
                    workload.replicas.referenced,
                    "`replicas` must be at least 1".into(),
                    "remove `replicas` for one pod".to_owned(),
                );
            } else if replicas > MAX_REPLICAS {
                self.report(
                    workload.replicas.referenced,
                    format!("`replicas: {replicas}` is more than the {MAX_REPLICAS} pods a workload may have"),
                    format!("use at most {MAX_REPLICAS} replicas"),
                );
            }
            self.check_workload_names(index, workload);
            if !workload.networks.is_empty()
                && !scenario.requires.crds.iter().any(|crd| crd == NAD_CRD)
            {
                self.report(
                    workload.name.referenced,
                    format!("workload `{reference}` attaches Multus networks but the scenario does not require Multus"),
                    format!("add `{NAD_CRD}` to `requires.crds`, so clusters without Multus skip this scenario"),
                );
            }
        }
        // Placement may name a workload defined further down, so check it once all are known.
        for workload in &scenario.workloads {
            self.check_placement(workload);
        }
    }

    /// The workload's name is a label value and names its pods (`NAME-0`) and Service; its
    /// labels and networks go onto the pods as written.
    pub(super) fn check_workload_names(&mut self, index: usize, workload: &Workload) {
        let name = &workload.name;
        let valid = self.check_name(
            name.referenced,
            "workload name",
            &name.value,
            names::dns_label,
            "workload names are lowercase letters, digits and `-` (they name pods), e.g. `client-1`",
        );
        // Pods are `NAME-INDEX`, one per replica or per node.
        let most_pods = match workload.placement {
            Placement::EveryNode => MAX_MIN_NODES,
            _ => workload.replicas.value.max(1),
        };
        let longest_pod = name.value.len() + 1 + (most_pods - 1).to_string().len();
        if valid && longest_pod > 63 {
            self.report(
                name.referenced,
                format!(
                    "workload name `{}` is too long for its pod names (`{}-{}`)",
                    name.value,
                    name.value,
                    most_pods - 1
                ),
                "pod names are at most 63 characters: shorten the workload name".to_owned(),
            );
        }
        if valid && workload.service.is_some() && names::dns1035_label(&name.value).is_err() {
            self.report(
                name.referenced,
                format!(
                    "workload `{}` has a Service, so its name must start with a letter",
                    name.value
                ),
                "Service names start with a letter: rename the workload".to_owned(),
            );
        }
        let path = [
            PathPart::Key("workloads"),
            PathPart::Index(index),
            PathPart::Key("labels"),
        ];
        self.check_labels(&workload.labels, &path, name.referenced);
        for (network_index, network) in workload.networks.iter().enumerate() {
            if let Err(why) = network_reference(network) {
                let at = self.locate(
                    &[
                        PathPart::Key("workloads"),
                        PathPart::Index(index),
                        PathPart::Key("networks"),
                        PathPart::Index(network_index),
                    ],
                    name.referenced,
                );
                self.report(
                    at,
                    format!("network `{network}` is not valid: {why}"),
                    "name a NetworkAttachmentDefinition: `NAME`, `NAMESPACE/NAME` or \
                     `NAME@INTERFACE`"
                        .to_owned(),
                );
            }
        }
    }

    pub(super) fn check_placement(&mut self, workload: &'a Workload) {
        let peer = match &workload.placement {
            Placement::Any | Placement::EveryNode => return,
            Placement::SameNodeAs(peer) => peer,
            Placement::OtherNodeThan(peer) => {
                if self.scenario.requires.min_nodes.unwrap_or(1) < 2 {
                    self.report(
                        peer.referenced,
                        "`other-node-than` needs at least two nodes".into(),
                        "add `requires: {min-nodes: 2}`, so single-node clusters skip this scenario"
                            .to_owned(),
                    );
                }
                peer
            }
        };
        let Some(target) = self.resolve_workload(peer) else {
            return;
        };
        if std::ptr::eq(target, workload) {
            self.report(
                peer.referenced,
                format!(
                    "workload `{}` is placed relative to itself",
                    workload.name.value
                ),
                "name another workload".to_owned(),
            );
        }
    }

    /// The workload `name` refers to, reporting an error when there is none.
    pub(super) fn resolve_workload(&mut self, name: &Spanned<String>) -> Option<&'a Workload> {
        self.lookup_workload(name, WorkloadRef::parse(&name.value))
    }

    pub(super) fn lookup_workload(
        &mut self,
        written: &Spanned<String>,
        reference: WorkloadRef<'_>,
    ) -> Option<&'a Workload> {
        if let Some(workload) = self.workloads.get(&reference) {
            return Some(*workload);
        }
        let scenario = self.scenario;
        let hint = || {
            let known: Vec<String> = scenario
                .workloads
                .iter()
                .map(|workload| WorkloadRef::of(workload).to_string())
                .collect();
            let same_name_elsewhere = known
                .iter()
                .find(|candidate| WorkloadRef::parse(candidate).name == reference.name);
            match same_name_elsewhere {
                Some(candidate) => format!(
                    "did you mean `{candidate}`? workloads outside the run's namespace are written NAMESPACE/NAME"
                ),
                None => choose_from(
                    &reference.to_string(),
                    "defined workloads",
                    known.iter().map(String::as_str),
                ),
            }
        };
        self.report_lazy(
            written.referenced,
            format!("unknown workload `{reference}`"),
            hint,
        );
        None
    }
}

/// A Multus network as a workload's `networks` entry names it: `[NAMESPACE/]NAME[@INTERFACE]`.
pub(super) fn network_reference(network: &str) -> Result<(), NameError> {
    let (rest, interface) = match network.split_once('@') {
        Some((rest, interface)) => (rest, Some(interface)),
        None => (network, None),
    };
    let name = match rest.split_once('/') {
        Some((namespace, name)) => {
            names::dns_label(namespace)
                .map_err(|why| NameError::within("namespace", namespace, why))?;
            name
        }
        None => rest,
    };
    names::dns_subdomain(name)?;
    interface.map_or(Ok(()), names::interface_name)
}
