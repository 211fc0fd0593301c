//! Semantic checks: what a well-formed scenario file can still get wrong. Every problem is
//! reported (not just the first), each pointing at the offending spot with a fix hint.

use super::error::{Diagnostic, Position, choose_from, closest};
use super::limits::{
    MAX_ALIAS_CHARS, MAX_DESCRIPTION_CHARS, MAX_ERRORS_PER_FILE, MAX_MIN_NODES, MAX_PATH_CHARS,
    MAX_PROBES_PER_RUN, MAX_REPLICAS, MAX_TESTS_PER_RUN, MAX_TIMEOUT_SECONDS,
};
use super::manifest::{self, ManifestContext};
use super::model::{
    Expectation, OneOrMany, Phase, Placement, Port, ProbeSet, Protocol, Scenario, ServiceKind,
    Target, ToEntry, Workload, WorkloadRef, split_cell,
};
use super::names::{self, NameError};
use super::size::{self, Size};
use super::source::{ManifestProblem, ScenarioSource};
use super::tree::{Located, Node};
use super::{LoadOptions, ScenarioError};
use crate::cluster::labels::RESERVED;
use serde_saphyr::{Location, Spanned};
use std::cell::OnceCell;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::IpAddr;

const NAD_CRD: &str = "network-attachment-definitions.k8s.cni.cncf.io";

pub(crate) fn validate(
    scenario: &Scenario,
    source: &ScenarioSource,
    text: &str,
    options: &LoadOptions,
) -> (Vec<ScenarioError>, Size) {
    let aliases = std::iter::once(WorkloadRef::DEFAULT_NAMESPACE)
        .chain(
            scenario
                .namespaces
                .iter()
                .map(|(alias, _)| alias.value.as_str()),
        )
        .collect();
    let mut checker = Checker {
        file: source.to_string(),
        text,
        source,
        scenario,
        options,
        aliases,
        workloads: HashMap::new(),
        checked_manifests: HashSet::new(),
        tree: OnceCell::new(),
        errors: Vec::new(),
        omitted: 0,
    };
    checker.check_kind();
    checker.check_scenario_fields();
    checker.check_namespaces();
    checker.check_multus_network();
    checker.check_workloads();
    checker.check_phases();
    let size = checker.check_tests();
    if checker.omitted > 0 {
        checker.errors.push(ScenarioError::TooManyErrors {
            file: checker.file.clone(),
            shown: MAX_ERRORS_PER_FILE,
            omitted: checker.omitted,
        });
    }
    (checker.errors, size)
}

struct Checker<'a> {
    file: String,
    text: &'a str,
    source: &'a ScenarioSource,
    scenario: &'a Scenario,
    options: &'a LoadOptions,
    /// `default` and the scenario's extra namespace aliases.
    aliases: Vec<&'a str>,
    /// Every workload by the reference that names it; filled by `check_workloads`.
    workloads: HashMap<WorkloadRef<'a>, &'a Workload>,
    /// Manifests already read and checked (a manifest may be applied by several phases).
    checked_manifests: HashSet<&'a str>,
    /// The file as a located tree, for places the model keeps no position of (label keys);
    /// parsed only when needed.
    tree: OnceCell<Option<Located>>,
    errors: Vec<ScenarioError>,
    /// Problems past [`MAX_ERRORS_PER_FILE`], counted, not rendered.
    omitted: usize,
}

impl<'a> Checker<'a> {
    /// Every semantic error comes with a hint: the checker knows what would fix it.
    fn report(&mut self, at: impl Into<Position>, message: String, hint: String) {
        self.report_lazy(at, message, || hint);
    }

    /// [`Self::report`] with a hint that costs something to make (it lists candidates): made
    /// only for problems that are shown, so many problems cost linear time.
    fn report_lazy(
        &mut self,
        at: impl Into<Position>,
        message: String,
        hint: impl FnOnce() -> String,
    ) {
        if self.errors.len() >= MAX_ERRORS_PER_FILE {
            self.omitted += 1;
            return;
        }
        let diagnostic = Diagnostic::new(&self.file, self.text, at, message, Some(hint()));
        self.errors
            .push(ScenarioError::Invalid(Box::new(diagnostic)));
    }

    fn push(&mut self, error: ScenarioError) {
        if self.errors.len() >= MAX_ERRORS_PER_FILE {
            self.omitted += 1;
        } else {
            self.errors.push(error);
        }
    }

    /// Reports `name` when `rule` rejects it.
    fn check_name(
        &mut self,
        at: Location,
        what: &str,
        name: &str,
        rule: fn(&str) -> Result<(), NameError>,
        hint: &str,
    ) -> bool {
        match rule(name) {
            Ok(()) => true,
            Err(why) => {
                self.report(
                    at,
                    format!("{what} `{name}` is not valid: {why}"),
                    hint.to_owned(),
                );
                false
            }
        }
    }

    /// The node at `path` of the file.
    fn node_at(&self, path: &[PathPart<'_>]) -> Option<&Located> {
        let tree = self
            .tree
            .get_or_init(|| serde_saphyr::from_str::<Located>(self.text).ok())
            .as_ref()?;
        let mut node = tree;
        for part in path {
            node = match (part, &node.value) {
                (PathPart::Key(key), _) => node.value.get(key)?,
                (PathPart::Index(index), Node::Seq(items)) => items.get(*index)?,
                _ => return None,
            };
        }
        Some(node)
    }

    /// Where `path` is written, or `fallback`.
    fn locate(&self, path: &[PathPart<'_>], fallback: Location) -> Location {
        self.node_at(path).map_or(fallback, |node| node.referenced)
    }

    /// Where the key `key` (or its value) is written in the mapping at `path` of the file.
    fn locate_entry(&self, path: &[PathPart<'_>], key: &str, value: bool) -> Option<Location> {
        let (key_at, value_at) = self.node_at(path)?.value.entry(key)?;
        Some(if value {
            value_at.referenced
        } else {
            key_at.referenced
        })
    }

    /// Label keys and values as Kubernetes accepts them, none of cnicheck's own keys.
    fn check_labels(
        &mut self,
        labels: &BTreeMap<String, String>,
        path: &[PathPart<'_>],
        fallback: Location,
    ) {
        for (key, value) in labels {
            let key_at = self.locate_entry(path, key, false).unwrap_or(fallback);
            if RESERVED.contains(&key.as_str()) {
                self.report(
                    key_at,
                    format!("label `{key}` is set by cnicheck itself"),
                    "choose another key".to_owned(),
                );
            }
            self.check_name(
                key_at,
                "label key",
                key,
                names::label_key,
                "a label key is [PREFIX/]NAME: NAME up to 63 letters, digits, `-`, `_`, `.`; \
                 PREFIX a DNS subdomain",
            );
            if names::label_value(value).is_err() {
                let value_at = self.locate_entry(path, key, true).unwrap_or(fallback);
                self.check_name(
                    value_at,
                    "label value",
                    value,
                    names::label_value,
                    "a label value is empty or up to 63 letters, digits, `-`, `_`, `.`, \
                     starting and ending with a letter or digit",
                );
            }
        }
    }

    /// The scenario's own fields: its name (a label value on everything it creates, and the
    /// start of every test name), description, groups and requirements.
    fn check_scenario_fields(&mut self) {
        let scenario = self.scenario;
        if scenario.name.value.is_empty() {
            self.report(
                scenario.name.referenced,
                "the scenario name is empty".to_owned(),
                "name the scenario: it starts every test name".to_owned(),
            );
        } else {
            self.check_name(
                scenario.name.referenced,
                "scenario name",
                &scenario.name.value,
                names::label_value,
                "the scenario name labels everything it creates: up to 63 letters, digits, \
                 `-`, `_`, `.`, e.g. `my-scenario`",
            );
        }
        let description = &scenario.description;
        if description
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\t')
            || description.chars().count() > MAX_DESCRIPTION_CHARS
        {
            self.report(
                scenario.name.referenced,
                "`description` holds control characters or is too long".to_owned(),
                format!("keep it to plain text of at most {MAX_DESCRIPTION_CHARS} characters"),
            );
        }
        for (index, group) in scenario.groups.iter().enumerate() {
            if names::dns_label(group).is_err() {
                let at = self.locate(
                    &[PathPart::Key("groups"), PathPart::Index(index)],
                    scenario.name.referenced,
                );
                self.report(
                    at,
                    format!("group `{group}` is not a valid group name"),
                    "groups are lowercase letters, digits and `-` (as `--group` takes them)"
                        .to_owned(),
                );
            }
        }
        for (index, crd) in scenario.requires.crds.iter().enumerate() {
            if names::dns_subdomain(crd).is_err() || !crd.contains('.') {
                let at = self.locate(
                    &[
                        PathPart::Key("requires"),
                        PathPart::Key("crds"),
                        PathPart::Index(index),
                    ],
                    scenario.name.referenced,
                );
                self.report(
                    at,
                    format!("`{crd}` in `requires.crds` is not a CRD name"),
                    "write the CRD's full name, PLURAL.GROUP (e.g. \
                     `network-attachment-definitions.k8s.cni.cncf.io`)"
                        .to_owned(),
                );
            }
        }
        if let Some(nodes) = scenario.requires.min_nodes
            && !(1..=MAX_MIN_NODES).contains(&nodes)
        {
            let at = self.locate(
                &[PathPart::Key("requires"), PathPart::Key("min-nodes")],
                scenario.name.referenced,
            );
            self.report(
                at,
                format!("`requires.min-nodes: {nodes}` is out of range (1 to {MAX_MIN_NODES})"),
                "remove `min-nodes` when one node will do".to_owned(),
            );
        }
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
        for (alias, spec) in self.scenario.namespaces.iter() {
            if alias.value == WorkloadRef::DEFAULT_NAMESPACE {
                self.report(
                    alias.referenced,
                    "namespace alias `default` is reserved for the run's own namespace".into(),
                    "pick another alias".to_owned(),
                );
            }
            let valid = self.check_name(
                alias.referenced,
                "namespace alias",
                &alias.value,
                names::dns_label,
                "namespace aliases are lowercase letters, digits and `-` (they end the real \
                 namespace's name)",
            );
            if valid && alias.value.len() > MAX_ALIAS_CHARS {
                self.report(
                    alias.referenced,
                    format!(
                        "namespace alias `{}` is longer than {MAX_ALIAS_CHARS} characters",
                        alias.value
                    ),
                    "the real namespace `cnicheck-RUNID-sN-ALIAS` must fit in 63 characters: \
                     shorten the alias"
                        .to_owned(),
                );
            }
            self.check_labels(
                &spec.labels,
                &[
                    PathPart::Key("namespaces"),
                    PathPart::Key(&alias.value),
                    PathPart::Key("labels"),
                ],
                alias.referenced,
            );
        }
    }

    fn check_multus_network(&mut self) {
        let Some(name) = &self.scenario.multus_network else {
            return;
        };
        if names::dns_label(&name.value).is_err() {
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

    fn check_workloads(&mut self) {
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
    fn check_workload_names(&mut self, index: usize, workload: &Workload) {
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

    fn check_phases(&mut self) {
        let scenario = self.scenario;
        let mut seen: HashMap<&str, u64> = HashMap::new();
        self.check_manifest_paths(&scenario.setup);
        let mut applied: HashSet<&str> = HashSet::new();
        for (phase_index, phase) in scenario.phases.iter().enumerate() {
            if let Some(line) = seen.insert(&phase.name.value, phase.name.referenced.line()) {
                self.report(
                    phase.name.referenced,
                    format!("phase `{}` is defined twice", phase.name.value),
                    format!("the first definition is on line {line}; rename one of them"),
                );
            }
            self.check_name(
                phase.name.referenced,
                "phase name",
                &phase.name.value,
                names::label_value,
                TEST_NAME_PART_HINT,
            );
            if phase.name.value.is_empty() {
                self.report(
                    phase.name.referenced,
                    "the phase name is empty".to_owned(),
                    TEST_NAME_PART_HINT.to_owned(),
                );
            }
            if phase.probes.is_empty() {
                self.report(
                    phase.name.referenced,
                    format!(
                        "phase `{}` has no probes, so it makes no tests",
                        phase.name.value
                    ),
                    "add a probe set under `probes:`; objects a phase applies are there for the \
                     probes of later phases too"
                        .to_owned(),
                );
            }
            self.check_manifests(phase, &applied);
            applied.extend(phase.apply.iter().map(|path| path.value.as_str()));
            for (set_index, probes) in phase.probes.iter().enumerate() {
                let path = [
                    PathPart::Key("phases"),
                    PathPart::Index(phase_index),
                    PathPart::Key("probes"),
                    PathPart::Index(set_index),
                ];
                self.check_probe_set(probes, &path);
            }
        }
    }

    fn check_manifests(&mut self, phase: &'a Phase, applied_before: &HashSet<&str>) {
        self.check_manifest_paths(&phase.apply);
        for path in &phase.delete {
            if !applied_before.contains(path.value.as_str()) {
                self.report_lazy(
                    path.referenced,
                    format!(
                        "`{}` is deleted but no earlier phase applies it",
                        path.value
                    ),
                    || {
                        let mut applied: Vec<&str> = applied_before.iter().copied().collect();
                        applied.sort_unstable();
                        choose_from(&path.value, "applied by earlier phases", applied)
                    },
                );
            }
        }
    }

    /// What the scenario makes stays within the limits, and no test is listed twice.
    fn check_tests(&mut self) -> Size {
        let scenario = self.scenario;
        let size = size::measure(scenario);
        if size.tests > MAX_TESTS_PER_RUN || size.probes > MAX_PROBES_PER_RUN {
            let largest = size.largest.map_or(String::new(), |(at, froms, tos)| {
                format!(
                    "; the largest probe set, on line {}, is {froms} x {tos}",
                    at.line()
                )
            });
            self.report(
                scenario.name.referenced,
                format!(
                    "this scenario makes {} tests and {} probes{largest}; a run may hold at most \
                     {MAX_TESTS_PER_RUN} tests and {MAX_PROBES_PER_RUN} probes",
                    size.tests, size.probes
                ),
                "split the matrices into smaller scenarios, or list fewer `from`/`to` entries"
                    .to_owned(),
            );
            return size;
        }
        for repeat in size::repeats(scenario) {
            let test = format!(
                "`{}` ({}) in phase `{}`",
                repeat.cell, repeat.label, repeat.phase
            );
            match &repeat.contradiction {
                Some((first, second)) => self.report(
                    repeat.at,
                    format!(
                        "test {test} expects {} here but {} on line {}",
                        expectation_name(second),
                        expectation_name(first),
                        repeat.first_line
                    ),
                    "one test has one expectation: remove one of them, or give the probe sets \
                     different `name`s if they check different things"
                        .to_owned(),
                ),
                None => self.report(
                    repeat.at,
                    format!(
                        "test {test} is a duplicate of the one on line {}",
                        repeat.first_line
                    ),
                    "remove the repeated entry".to_owned(),
                ),
            }
        }
        size
    }

    /// Reads and checks each manifest once: inside the scenario's folder (unless allowed
    /// otherwise), a regular file, Kubernetes objects (see [`manifest::check`]).
    fn check_manifest_paths(&mut self, paths: &'a [Spanned<String>]) {
        for path in paths {
            if !self.checked_manifests.insert(&path.value) {
                continue;
            }
            let problem = match self
                .source
                .load_manifest(&path.value, self.options.allow_manifests_outside)
            {
                Ok((name, text)) => {
                    let context = ManifestContext {
                        namespaces: &self.aliases,
                        external_target: self.scenario.requires.external_target,
                    };
                    for error in manifest::check(&name, &text, &context) {
                        self.push(error);
                    }
                    continue;
                }
                Err(problem) => problem,
            };
            let (message, hint) = match problem {
                ManifestProblem::NotFound => (
                    format!("manifest `{}` not found", path.value),
                    "manifest paths are relative to the directory of the scenario file".to_owned(),
                ),
                ManifestProblem::Outside { folder, resolved } => (
                    format!(
                        "manifest `{}` is outside the scenario's folder `{folder}` (it is `{resolved}`)",
                        path.value
                    ),
                    "keep manifests in the scenario's folder or below it (symlinks count where \
                     they lead), or allow others with --allow-outside-manifests"
                        .to_owned(),
                ),
                // Text that is not UTF-8 is located in the manifest itself.
                ManifestProblem::Unreadable(error @ ScenarioError::Syntax(_)) => {
                    self.push(error);
                    continue;
                }
                ManifestProblem::Unreadable(ScenarioError::Invalid(diagnostic)) => (
                    format!("manifest `{}`: {}", path.value, diagnostic.message),
                    diagnostic.hint.unwrap_or_default(),
                ),
                ManifestProblem::Unreadable(error) => (
                    format!("manifest `{}`: {error}", path.value),
                    "check that the file is readable".to_owned(),
                ),
            };
            self.report(path.referenced, message, hint);
        }
    }

    fn check_probe_set(&mut self, probes: &ProbeSet, path: &[PathPart<'_>]) {
        let protocol = probes.protocol.value;
        if let Some(name) = &probes.name {
            let at = self.locate(
                &[path, &[PathPart::Key("name")]].concat(),
                probes.protocol.referenced,
            );
            if name.is_empty() {
                self.report(
                    at,
                    "the probe set name is empty".to_owned(),
                    TEST_NAME_PART_HINT.to_owned(),
                );
            }
            self.check_name(
                at,
                "probe set name",
                name,
                names::label_value,
                TEST_NAME_PART_HINT,
            );
        }
        for (field, list) in [("from", &probes.from), ("to", &probes.to)] {
            if list.as_slice().is_empty() {
                self.report(
                    list.location(),
                    format!("`{field}: []` is empty, so this probe set makes no tests"),
                    format!("list at least one entry in `{field}`, or remove the probe set"),
                );
            }
        }
        for from in probes.from.as_slice() {
            self.resolve_workload(from);
        }
        for to in probes.to.as_slice() {
            self.check_target(to, protocol);
        }
        self.check_expectation(&probes.expect, protocol);
        let froms: HashSet<&str> = probes
            .from
            .as_slice()
            .iter()
            .map(|entry| entry.value.as_str())
            .collect();
        let tos: HashSet<&str> = probes
            .to
            .as_slice()
            .iter()
            .map(|entry| entry.value.as_str())
            .collect();
        for (cell, expectation) in probes.except.iter() {
            self.check_cell(cell, probes, &froms, &tos);
            self.check_expectation(expectation, protocol);
        }
        if probes.port == Some(Port::Number(0)) {
            let at = self.locate(
                &[path, &[PathPart::Key("port")]].concat(),
                probes.protocol.referenced,
            );
            self.report(
                at,
                "`port: 0` is not a port".to_owned(),
                "use a port from 1 to 65535, or remove `port` for the agent's port".to_owned(),
            );
        }
        if let Some(http_path) = &probes.path
            && (!http_path.starts_with('/')
                || http_path.chars().count() > MAX_PATH_CHARS
                || http_path
                    .chars()
                    .any(|c| c.is_whitespace() || c.is_control()))
        {
            let at = self.locate(
                &[path, &[PathPart::Key("path")]].concat(),
                probes.protocol.referenced,
            );
            self.report(
                at,
                format!("`path: {http_path}` is not an HTTP path"),
                format!("write a path that starts with `/`, without spaces, at most {MAX_PATH_CHARS} characters (percent-encode the rest)"),
            );
        }
        if let Some(interface) = &probes.interface {
            let at = self.locate(
                &[path, &[PathPart::Key("interface")]].concat(),
                probes.protocol.referenced,
            );
            self.check_name(
                at,
                "interface",
                interface,
                names::interface_name,
                "name a pod interface, e.g. `net1`",
            );
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
        if probes.port == Some(Port::Tunnel) && protocol != Protocol::Udp {
            self.report(
                probes.protocol.referenced,
                format!(
                    "`port: tunnel` is the cluster's UDP overlay port, but this probe set uses protocol {}",
                    protocol.name()
                ),
                "use `protocol: udp` with `port: tunnel`, or give a port number".to_owned(),
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
            && !(timeout.value > 0.0 && timeout.value <= MAX_TIMEOUT_SECONDS)
        {
            self.report(
                timeout.referenced,
                format!(
                    "timeout must be a positive number of seconds up to {MAX_TIMEOUT_SECONDS}, not {}",
                    short_number(timeout.value)
                ),
                "remove `timeout` for the default of 2 seconds".to_owned(),
            );
        }
    }

    fn check_target(&mut self, written: &Spanned<String>, protocol: Protocol) {
        let Some(entry) = ToEntry::parse(&written.value) else {
            self.report(
                written.referenced,
                format!("`{}` is not a target", written.value),
                target_hint(&written.value),
            );
            return;
        };
        match entry {
            ToEntry::Target(Target::Dns(name)) => {
                self.check_name(
                    written.referenced,
                    "name to look up",
                    name,
                    names::dns_name,
                    "write a DNS name such as `kubernetes.default` or `example.com`",
                );
            }
            ToEntry::Interface(name) => {
                self.check_name(
                    written.referenced,
                    "interface",
                    name,
                    names::interface_name,
                    "name a pod interface, e.g. `interface:net1`",
                );
            }
            _ => {}
        }
        let fits_protocol = match entry {
            ToEntry::Interface(_) => protocol == Protocol::Address,
            ToEntry::Target(Target::Dns(_)) => protocol == Protocol::Dns,
            ToEntry::Target(Target::ServiceDns(_) | Target::External) => {
                !matches!(protocol, Protocol::Address)
            }
            ToEntry::Target(
                Target::Pod(_) | Target::Service(_) | Target::NodePort(_) | Target::Node(_),
            ) => !matches!(protocol, Protocol::Dns | Protocol::Address),
        };
        if !fits_protocol {
            let hint = match (protocol, entry) {
                (Protocol::Dns, _) => {
                    "a dns probe looks up `dns:NAME`, `service-dns:WORKLOAD` or `external`"
                }
                (Protocol::Address, _) => {
                    "an address check looks at the source pod's own `interface:NAME`"
                }
                (_, ToEntry::Interface(_)) => "`interface:NAME` targets need `protocol: address`",
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
        let ToEntry::Target(target) = entry else {
            return;
        };
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

    fn check_cell(
        &mut self,
        cell: &Spanned<String>,
        probes: &ProbeSet,
        froms: &HashSet<&str>,
        tos: &HashSet<&str>,
    ) {
        let Some((from, to)) = split_cell(&cell.value) else {
            self.report(
                cell.referenced,
                format!("`{}` is not an `except` key", cell.value),
                "write `FROM -> TO`, with FROM and TO as in `from` and `to`".to_owned(),
            );
            return;
        };
        if !froms.contains(from) {
            self.report_lazy(
                cell.referenced,
                format!(
                    "`{from}` in `{}` is not in this probe set's `from`",
                    cell.value
                ),
                || choose_from(from, "`from` has", written(&probes.from)),
            );
        }
        if !tos.contains(to) {
            self.report_lazy(
                cell.referenced,
                format!("`{to}` in `{}` is not in this probe set's `to`", cell.value),
                || choose_from(to, "`to` has", written(&probes.to)),
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
    let forms = ToEntry::FORMS.join(", ");
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

const TEST_NAME_PART_HINT: &str = "names of phases and probe sets are part of test names: up to \
    63 letters, digits, `-`, `_`, `.`, starting and ending with a letter or digit";

/// A step into the file's tree, for finding where a field is written.
#[derive(Clone, Copy)]
enum PathPart<'p> {
    Key(&'p str),
    Index(usize),
}

/// `1e308` rather than its 309 digits.
fn short_number(value: f64) -> String {
    if value.is_finite() && value.abs() >= 1e6 {
        format!("{value:e}")
    } else {
        value.to_string()
    }
}

/// The entries of a `from` or `to` as written.
fn written(list: &OneOrMany) -> Vec<&str> {
    list.as_slice()
        .iter()
        .map(|entry| entry.value.as_str())
        .collect()
}

/// A Multus network as a workload's `networks` entry names it: `[NAMESPACE/]NAME[@INTERFACE]`.
fn network_reference(network: &str) -> Result<(), NameError> {
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

/// The scenarios of one run together stay within the limits (each alone was checked).
pub(crate) fn check_run_size<'s>(
    scenarios: impl IntoIterator<Item = (&'s Scenario, &'s ScenarioSource, &'s str, Size)>,
) -> Option<ScenarioError> {
    let (mut tests, mut probes) = (0u64, 0u64);
    for (scenario, source, text, size) in scenarios {
        tests = tests.saturating_add(size.tests);
        probes = probes.saturating_add(size.probes);
        let alone_too_big = size.tests > MAX_TESTS_PER_RUN || size.probes > MAX_PROBES_PER_RUN;
        if !alone_too_big && (tests > MAX_TESTS_PER_RUN || probes > MAX_PROBES_PER_RUN) {
            return Some(ScenarioError::Invalid(Box::new(Diagnostic::new(
                &source.to_string(),
                text,
                scenario.name.referenced,
                format!(
                    "with the files before it, this scenario brings the run to {tests} tests and \
                     {probes} probes; a run may hold at most {MAX_TESTS_PER_RUN} tests and \
                     {MAX_PROBES_PER_RUN} probes"
                ),
                Some("run fewer scenario files at once".to_owned()),
            ))));
        }
    }
    None
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
