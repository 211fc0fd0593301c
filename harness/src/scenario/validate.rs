//! Semantic checks: what a well-formed scenario file can still get wrong. Every problem is
//! reported (not just the first), each pointing at the offending spot with a fix hint.

use super::ScenarioError;
use super::error::{Diagnostic, choose_from, closest};
use super::model::{
    Expectation, Phase, Placement, ProbeSet, Protocol, Scenario, ServiceKind, Target, Workload,
    WorkloadRef, split_cell,
};
use super::source::ScenarioSource;
use serde_saphyr::{Location, Spanned};
use std::collections::HashMap;
use std::net::IpAddr;

const NAD_CRD: &str = "network-attachment-definitions.k8s.cni.cncf.io";

pub(crate) fn validate(
    scenario: &Scenario,
    source: &ScenarioSource,
    text: &str,
) -> Vec<ScenarioError> {
    let mut checker = Checker {
        file: source.to_string(),
        text,
        source,
        scenario,
        workloads: HashMap::new(),
        errors: Vec::new(),
    };
    checker.check_kind();
    checker.check_namespaces();
    checker.check_multus_network();
    checker.check_workloads();
    checker.check_phases();
    checker.errors
}

struct Checker<'a> {
    file: String,
    text: &'a str,
    source: &'a ScenarioSource,
    scenario: &'a Scenario,
    /// Every workload by the reference that names it; filled by `check_workloads`.
    workloads: HashMap<WorkloadRef<'a>, &'a Workload>,
    errors: Vec<ScenarioError>,
}

impl<'a> Checker<'a> {
    /// Every semantic error comes with a hint: the checker knows what would fix it.
    fn report(&mut self, at: Location, message: String, hint: String) {
        self.errors
            .push(ScenarioError::Invalid(Box::new(Diagnostic::new(
                &self.file,
                self.text,
                at,
                message,
                Some(hint),
            ))));
    }

    /// A scenario is a built-in check or workloads with phases, never both, never neither.
    fn check_kind(&mut self) {
        let scenario = self.scenario;
        if let Some(check) = &scenario.check {
            let extra: Vec<&str> = [
                ("workloads", !scenario.workloads.is_empty()),
                ("phases", !scenario.phases.is_empty()),
                ("setup", !scenario.setup.is_empty()),
                ("namespaces", scenario.namespaces.iter().next().is_some()),
            ]
            .into_iter()
            .filter_map(|(field, present)| present.then_some(field))
            .collect();
            if !extra.is_empty() {
                self.report(
                    check.referenced,
                    format!("a built-in check has no {}", extra.join(", ")),
                    "remove them (the check brings its own tests), or remove `check`".to_owned(),
                );
            }
            return;
        }
        let missing: Vec<&str> = [
            ("workloads", scenario.workloads.is_empty()),
            ("phases", scenario.phases.is_empty()),
        ]
        .into_iter()
        .filter_map(|(field, absent)| absent.then_some(field))
        .collect();
        if !missing.is_empty() {
            self.report(
                scenario.name.referenced,
                format!("the scenario has no {}", missing.join(" and ")),
                "add `workloads` to deploy and `phases` with probes, or use a built-in check \
                 (`check: cilium`)"
                    .to_owned(),
            );
        }
    }

    fn check_namespaces(&mut self) {
        for (alias, _) in self.scenario.namespaces.iter() {
            if alias.value == WorkloadRef::DEFAULT_NAMESPACE {
                self.report(
                    alias.referenced,
                    "namespace alias `default` is reserved for the run's own namespace".into(),
                    "pick another alias".to_owned(),
                );
            }
        }
    }

    fn check_multus_network(&mut self) {
        let Some(name) = &self.scenario.multus_network else {
            return;
        };
        if !is_dns_label(&name.value) {
            self.report(
                name.referenced,
                format!(
                    "`{}` is not a valid NetworkAttachmentDefinition name",
                    name.value
                ),
                "use lowercase letters, digits and `-`, at most 63 characters".to_owned(),
            );
        }
        if !self.scenario.requires.crds.iter().any(|crd| crd == NAD_CRD) {
            self.report(
                name.referenced,
                "`multus-network` needs Multus, but the scenario does not require it".into(),
                format!("add `{NAD_CRD}` to `requires.crds`, so clusters without Multus skip this scenario"),
            );
        }
    }

    fn namespace_aliases(&self) -> Vec<&'a str> {
        let scenario = self.scenario;
        std::iter::once(WorkloadRef::DEFAULT_NAMESPACE)
            .chain(
                scenario
                    .namespaces
                    .iter()
                    .map(|(alias, _)| alias.value.as_str()),
            )
            .collect()
    }

    fn check_workloads(&mut self) {
        let scenario = self.scenario;
        for workload in &scenario.workloads {
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
                && !self.namespace_aliases().contains(&alias.value.as_str())
            {
                let hint = choose_from(&alias.value, "defined aliases", self.namespace_aliases());
                self.report(
                    alias.referenced,
                    format!("namespace alias `{}` is not defined", alias.value),
                    format!("{hint}; add it under `namespaces:`"),
                );
            }
            if workload.replicas.value == 0 {
                self.report(
                    workload.replicas.referenced,
                    "`replicas` must be at least 1".into(),
                    "remove `replicas` for one pod".to_owned(),
                );
            }
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

    fn check_placement(&mut self, workload: &'a Workload) {
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
    fn resolve_workload(&mut self, name: &Spanned<String>) -> Option<&'a Workload> {
        self.lookup_workload(name, WorkloadRef::parse(&name.value))
    }

    fn lookup_workload(
        &mut self,
        written: &Spanned<String>,
        reference: WorkloadRef<'_>,
    ) -> Option<&'a Workload> {
        if let Some(workload) = self.workloads.get(&reference) {
            return Some(*workload);
        }
        let known: Vec<String> = self
            .scenario
            .workloads
            .iter()
            .map(|workload| WorkloadRef::of(workload).to_string())
            .collect();
        let same_name_elsewhere = known
            .iter()
            .find(|candidate| WorkloadRef::parse(candidate).name == reference.name);
        let hint = match same_name_elsewhere {
            Some(candidate) => format!(
                "did you mean `{candidate}`? workloads outside the run's namespace are written NAMESPACE/NAME"
            ),
            None => choose_from(
                &reference.to_string(),
                "defined workloads",
                known.iter().map(String::as_str),
            ),
        };
        self.report(
            written.referenced,
            format!("unknown workload `{reference}`"),
            hint,
        );
        None
    }

    fn check_phases(&mut self) {
        let scenario = self.scenario;
        let mut seen: HashMap<&str, u64> = HashMap::new();
        self.check_manifest_paths(&scenario.setup);
        let mut applied: Vec<&str> = Vec::new();
        for phase in &scenario.phases {
            if let Some(line) = seen.insert(&phase.name.value, phase.name.referenced.line()) {
                self.report(
                    phase.name.referenced,
                    format!("phase `{}` is defined twice", phase.name.value),
                    format!("the first definition is on line {line}; rename one of them"),
                );
            }
            self.check_manifests(phase, &applied);
            applied.extend(phase.apply.iter().map(|path| path.value.as_str()));
            for probes in &phase.probes {
                self.check_probe_set(probes);
            }
        }
    }

    fn check_manifests(&mut self, phase: &Phase, applied_before: &[&str]) {
        self.check_manifest_paths(&phase.apply);
        for path in &phase.delete {
            if !applied_before.contains(&path.value.as_str()) {
                let hint = choose_from(
                    &path.value,
                    "applied by earlier phases",
                    applied_before.iter().copied(),
                );
                self.report(
                    path.referenced,
                    format!(
                        "`{}` is deleted but no earlier phase applies it",
                        path.value
                    ),
                    hint,
                );
            }
        }
    }

    fn check_manifest_paths(&mut self, paths: &[Spanned<String>]) {
        for path in paths {
            if !self.source.manifest_exists(&path.value) {
                self.report(
                    path.referenced,
                    format!("manifest `{}` not found", path.value),
                    "manifest paths are relative to the directory of the scenario file".to_owned(),
                );
            }
        }
    }

    fn check_probe_set(&mut self, probes: &ProbeSet) {
        let protocol = probes.protocol.value;
        for from in probes.from.as_slice() {
            self.resolve_workload(from);
        }
        for to in probes.to.as_slice() {
            self.check_target(to, protocol);
        }
        self.check_expectation(&probes.expect, protocol);
        for (cell, expectation) in probes.except.iter() {
            self.check_cell(cell, probes);
            self.check_expectation(expectation, protocol);
        }
        if protocol == Protocol::Address
            && let Some(interface) = &probes.interface
        {
            self.report(
                probes.protocol.referenced,
                format!("an address check does not send, so it cannot be bound to `interface: {interface}`"),
                format!("name the interface to check as the target: `to: interface:{interface}`"),
            );
        }
        if let Some(port) = probes.port
            && matches!(protocol, Protocol::Icmp | Protocol::Dns | Protocol::Address)
        {
            // The port lives in a plain field; the protocol is what makes it wrong.
            self.report(
                probes.protocol.referenced,
                format!(
                    "protocol {} has no port, but this probe set gives `port: {port}`",
                    protocol.name()
                ),
                "remove `port`, or use tcp, udp or http(s) to probe a port".to_owned(),
            );
        }
        if let Some(timeout) = &probes.timeout
            && !(timeout.value > 0.0 && timeout.value.is_finite())
        {
            self.report(
                timeout.referenced,
                format!(
                    "timeout must be a positive number of seconds, not {}",
                    timeout.value
                ),
                "remove `timeout` for the default of 2 seconds".to_owned(),
            );
        }
    }

    fn check_target(&mut self, written: &Spanned<String>, protocol: Protocol) {
        let Some(target) = Target::parse(&written.value) else {
            self.report(
                written.referenced,
                format!("`{}` is not a target", written.value),
                target_hint(&written.value),
            );
            return;
        };
        let fits_protocol = match target {
            Target::Dns(_) => protocol == Protocol::Dns,
            Target::Interface(_) => protocol == Protocol::Address,
            Target::ServiceDns(_) | Target::External => !matches!(protocol, Protocol::Address),
            Target::Pod(_) | Target::Service(_) | Target::NodePort(_) | Target::Node(_) => {
                !matches!(protocol, Protocol::Dns | Protocol::Address)
            }
        };
        if !fits_protocol {
            let hint = match (protocol, target) {
                (Protocol::Dns, _) => {
                    "a dns probe looks up `dns:NAME`, `service-dns:WORKLOAD` or `external`"
                }
                (Protocol::Address, _) => {
                    "an address check looks at the source pod's own `interface:NAME`"
                }
                (_, Target::Interface(_)) => "`interface:NAME` targets need `protocol: address`",
                _ => "`dns:NAME` targets need `protocol: dns`",
            };
            self.report(
                written.referenced,
                format!(
                    "`{}` cannot be probed with {}",
                    written.value,
                    protocol.name()
                ),
                hint.to_owned(),
            );
        }
        if target == Target::External && !self.scenario.requires.external_target {
            self.report(
                written.referenced,
                "`external` needs the scenario to require an external target".into(),
                "add `requires: {external-target: true}`, so runs without --external-target skip it"
                    .to_owned(),
            );
        }
        let Some(reference) = target.workload() else {
            return;
        };
        let Some(workload) = self.lookup_workload(written, reference) else {
            return;
        };
        let service = workload.service.as_ref().map(|service| service.kind);
        let problem = match target {
            Target::Service(_) | Target::ServiceDns(_) if service.is_none() => Some((
                "has no Service",
                "add `service: {}` to the workload".to_owned(),
            )),
            Target::NodePort(_) if service != Some(ServiceKind::NodePort) => Some((
                "has no NodePort Service",
                "set `service: {type: NodePort}` on the workload".to_owned(),
            )),
            Target::Node(_) if !workload.host_network => Some((
                "is not a host-network workload",
                "set `host-network: true` on the workload, or target it with `pod:`".to_owned(),
            )),
            _ => None,
        };
        if let Some((what, hint)) = problem {
            self.report(
                written.referenced,
                format!("`{}`: workload `{reference}` {what}", written.value),
                hint,
            );
        }
    }

    fn check_cell(&mut self, cell: &Spanned<String>, probes: &ProbeSet) {
        let Some((from, to)) = split_cell(&cell.value) else {
            self.report(
                cell.referenced,
                format!("`{}` is not an `except` key", cell.value),
                "write `FROM -> TO`, with FROM and TO as in `from` and `to`".to_owned(),
            );
            return;
        };
        let froms: Vec<&str> = probes
            .from
            .as_slice()
            .iter()
            .map(|entry| entry.value.as_str())
            .collect();
        let tos: Vec<&str> = probes
            .to
            .as_slice()
            .iter()
            .map(|entry| entry.value.as_str())
            .collect();
        if !froms.contains(&from) {
            self.report(
                cell.referenced,
                format!(
                    "`{from}` in `{}` is not in this probe set's `from`",
                    cell.value
                ),
                choose_from(from, "`from` has", froms.iter().copied()),
            );
        }
        if !tos.contains(&to) {
            self.report(
                cell.referenced,
                format!("`{to}` in `{}` is not in this probe set's `to`", cell.value),
                choose_from(to, "`to` has", tos.iter().copied()),
            );
        }
    }

    fn check_expectation(&mut self, expectation: &Spanned<Expectation>, protocol: Protocol) {
        let is_dns = protocol == Protocol::Dns;
        let is_http = matches!(protocol, Protocol::Http | Protocol::Https);
        let is_address = protocol == Protocol::Address;
        let problem = match &expectation.value {
            Expectation::InNadRange if !is_address => Some(
                "`in-nad-range` checks an interface's addresses; use `protocol: address`"
                    .to_owned(),
            ),
            Expectation::InNadRange => None,
            _ if is_address => Some("an address check expects `in-nad-range`".to_owned()),
            Expectation::Allowed | Expectation::Denied => None,
            Expectation::Dropped | Expectation::Refused if is_dns => Some(
                "a dns probe expects `allowed`, `denied`, `nxdomain` or `resolves-to`".to_owned(),
            ),
            Expectation::Status(_) if !is_http => {
                Some("`status` checks an HTTP response; use `protocol: http` or `https`".to_owned())
            }
            Expectation::Status(code) if !(100..=599).contains(code) => {
                Some(format!("{code} is not an HTTP status code (100-599)"))
            }
            Expectation::ResolvesTo(_) | Expectation::Nxdomain if !is_dns => Some(format!(
                "`{}` checks a DNS answer; use `protocol: dns`",
                expectation_name(&expectation.value)
            )),
            Expectation::ResolvesTo(address) if address.parse::<IpAddr>().is_err() => {
                Some(format!("`{address}` is not an IP address"))
            }
            _ => None,
        };
        if let Some(hint) = problem {
            self.report(
                expectation.referenced,
                format!(
                    "expectation `{}` does not fit protocol {}",
                    expectation_name(&expectation.value),
                    protocol.name()
                ),
                hint,
            );
        }
    }
}

fn target_hint(written: &str) -> String {
    const KINDS: [&str; 8] = [
        "pod",
        "service",
        "service-dns",
        "nodeport",
        "node",
        "external",
        "dns",
        "interface",
    ];
    let forms = Target::FORMS.join(", ");
    let (kind, name) = written.split_once(':').unwrap_or((written, ""));
    match closest(kind, KINDS) {
        Some(best) if best != kind && !name.is_empty() => {
            format!("did you mean `{best}:{name}`? targets are {forms}")
        }
        _ => format!("targets are {forms}"),
    }
}

fn expectation_name(expectation: &Expectation) -> &'static str {
    match expectation {
        Expectation::Allowed => "allowed",
        Expectation::Denied => "denied",
        Expectation::Dropped => "dropped",
        Expectation::Refused => "refused",
        Expectation::Status(_) => "status",
        Expectation::ResolvesTo(_) => "resolves-to",
        Expectation::Nxdomain => "nxdomain",
        Expectation::InNadRange => "in-nad-range",
    }
}

/// Kubernetes' DNS-1123 label: what a NetworkAttachmentDefinition may be called.
fn is_dns_label(name: &str) -> bool {
    (1..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

/// Scenario names must be unique across a run: they prefix every test name.
pub(crate) fn check_unique_names<'s>(
    scenarios: impl IntoIterator<Item = (&'s Scenario, &'s ScenarioSource, &'s str)>,
) -> Vec<ScenarioError> {
    let mut first_seen: HashMap<&str, (String, u64)> = HashMap::new();
    let mut errors = Vec::new();
    for (scenario, source, text) in scenarios {
        let name = &scenario.name;
        let file = source.to_string();
        match first_seen.get(name.value.as_str()) {
            Some((first_file, first_line)) => {
                errors.push(ScenarioError::Invalid(Box::new(Diagnostic::new(
                    &file,
                    text,
                    name.referenced,
                    format!("scenario `{}` is defined twice", name.value),
                    Some(format!(
                        "the first is at {first_file}:{first_line}; scenario names must be unique"
                    )),
                ))));
            }
            None => {
                first_seen.insert(&name.value, (file, name.referenced.line()));
            }
        }
    }
    errors
}
