//! Semantic checks: what a well-formed scenario file can still get wrong. Every problem is
//! reported (not just the first), each pointing at the offending spot with a fix hint.

mod balance;
mod encryption;
mod phases;
mod probes;
mod workloads;

use super::error::{Diagnostic, Position};
use super::limits::{
    MAX_ALIAS_CHARS, MAX_COPIES, MAX_DESCRIPTION_CHARS, MAX_ERRORS_PER_FILE, MAX_MIN_NODES,
    MAX_PROBES_PER_RUN, MAX_TESTS_PER_RUN,
};
use super::model::{Scenario, Workload, WorkloadRef};
use super::names::{self, NameError};
use super::size::Size;
use super::source::ScenarioSource;
use super::tree::{Located, Node};
use super::{LoadOptions, ScenarioError};
use crate::cluster::labels::RESERVED;
use serde_saphyr::Location;
use std::cell::OnceCell;
use std::collections::{BTreeMap, HashMap, HashSet};

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
    /// `copies` needs as many runs of phases as copies, each beginning at a fresh start.
    fn check_copies(&mut self) {
        let scenario = self.scenario;
        let Some(copies) = &scenario.copies else {
            return;
        };
        if !(1..=MAX_COPIES).contains(&copies.value) {
            self.report(
                copies.referenced,
                format!(
                    "`copies: {}` is out of range (1 to {MAX_COPIES})",
                    copies.value
                ),
                "copies share a scenario's phases out; a few are enough to keep a machine busy"
                    .to_owned(),
            );
            return;
        }
        let starts = scenario.fresh_starts().len();
        if scenario.check.is_some() && copies.value > 1 {
            self.report(
                copies.referenced,
                "a `check` scenario deploys nothing to copy".to_owned(),
                "remove `copies`".to_owned(),
            );
        } else if copies.value as usize > starts + 1 {
            self.report(
                copies.referenced,
                format!(
                    "`copies: {}` needs {} phases that start from nothing earlier phases \
                     applied, and this scenario has {starts}",
                    copies.value,
                    copies.value - 1,
                ),
                "a copy can only take over where a phase deletes everything earlier phases \
                 applied (in its `delete`, or theirs); lower `copies`, or delete in the phases \
                 where an independent case begins"
                    .to_owned(),
            );
        }
    }

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
        if scenario.opt_in && scenario.groups.is_empty() {
            self.report(
                scenario.name.referenced,
                "an `opt-in` scenario without `groups` never runs".to_owned(),
                "add `groups: [NAME]`, so `--group NAME` runs it".to_owned(),
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
        self.check_copies();
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
}

const TEST_NAME_PART_HINT: &str = "names of phases and probe sets are part of test names: up to \
    63 letters, digits, `-`, `_`, `.`, starting and ending with a letter or digit";

/// A step into the file's tree, for finding where a field is written.
#[derive(Clone, Copy)]
enum PathPart<'p> {
    Key(&'p str),
    Index(usize),
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
