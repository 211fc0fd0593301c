//! Checks of phases: their names, the manifests they apply and delete (read and checked
//! once each), and the size of the test matrix they make.

use super::probes::expectation_name;
use super::*;
use crate::scenario::ScenarioError;
use crate::scenario::error::choose_from;
use crate::scenario::limits::{MAX_PROBES_PER_RUN, MAX_TESTS_PER_RUN};
use crate::scenario::manifest::{self, ManifestContext};
use crate::scenario::model::Phase;
use crate::scenario::names::{self};
use crate::scenario::size::{self, Size};
use crate::scenario::source::ManifestProblem;
use serde_saphyr::Spanned;
use std::collections::{HashMap, HashSet};

impl<'a> Checker<'a> {
    pub(super) fn check_phases(&mut self) {
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

    pub(super) fn check_manifests(&mut self, phase: &'a Phase, applied_before: &HashSet<&str>) {
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
    pub(super) fn check_tests(&mut self) -> Size {
        let scenario = self.scenario;
        let size = size::measure(scenario);
        if size.tests > MAX_TESTS_PER_RUN || size.probes > MAX_PROBES_PER_RUN {
            let largest = size
                .largest
                .map_or(String::new(), |(at, [froms, tos, variants])| {
                    let ports = if variants > 1 {
                        format!(" x {variants} protocols and ports")
                    } else {
                        String::new()
                    };
                    format!(
                        "; the largest probe set, on line {}, is {froms} x {tos}{ports}",
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
    pub(super) fn check_manifest_paths(&mut self, paths: &'a [Spanned<String>]) {
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
                        workloads: &self.scenario.workloads,
                        after_deploy: !self
                            .scenario
                            .setup
                            .iter()
                            .any(|setup| setup.value == path.value),
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
}
