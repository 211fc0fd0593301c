//! What a scenario makes, counted from its lists without expanding them (a 300 x 300 matrix in
//! 100 phases is 9 million tests, found by multiplying, not by listing), and the cells that
//! would be the same test twice.

use super::limits::MAX_REPLICAS;
use super::model::{Expectation, Placement, Scenario, Target, Workload, WorkloadRef, split_cell};
use serde_saphyr::Location;
use std::collections::HashMap;

/// Tests and probes of a scenario (a built-in check's few, fixed tests count 0).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Size {
    pub tests: u64,
    pub probes: u64,
    /// The probe set that makes the most tests: where, and its `from` x `to`.
    pub largest: Option<(Location, u64, u64)>,
}

pub(crate) fn measure(scenario: &Scenario) -> Size {
    let workloads: HashMap<WorkloadRef<'_>, &Workload> = scenario
        .workloads
        .iter()
        .map(|workload| (WorkloadRef::of(workload), workload))
        .collect();
    let pods = |reference: WorkloadRef<'_>| {
        workloads
            .get(&reference)
            .map_or(1, |workload| match workload.placement {
                Placement::EveryNode => 1,
                // Too many replicas is an error of its own.
                _ => u64::from(workload.replicas.value.min(MAX_REPLICAS)),
            })
    };
    let mut size = Size::default();
    for set in scenario.phases.iter().flat_map(|phase| &phase.probes) {
        let (froms, tos) = (set.from.as_slice(), set.to.as_slice());
        let tests = (froms.len() as u64).saturating_mul(tos.len() as u64);
        let sources: u64 = froms
            .iter()
            .map(|from| pods(WorkloadRef::parse(&from.value)))
            .fold(0, u64::saturating_add);
        let targets: u64 = tos
            .iter()
            .map(|to| match Target::parse(&to.value) {
                Some(Target::Pod(workload) | Target::Node(workload)) => pods(workload),
                _ => 1,
            })
            .fold(0, u64::saturating_add);
        size.tests = size.tests.saturating_add(tests);
        size.probes = size.probes.saturating_add(sources.saturating_mul(targets));
        if size
            .largest
            .is_none_or(|(_, f, t)| f.saturating_mul(t) < tests)
        {
            size.largest = Some((set.from.location(), froms.len() as u64, tos.len() as u64));
        }
    }
    size
}

/// A cell that repeats an earlier one of its phase: the same test, listed twice.
#[derive(Debug)]
pub(crate) struct Repeat {
    pub at: Location,
    /// `phase`, `from -> to` and the test label (`tcp/9000`).
    pub phase: String,
    pub cell: String,
    pub label: String,
    pub first_line: u64,
    /// The two expectations, when they differ.
    pub contradiction: Option<(Expectation, Expectation)>,
}

/// Every repeated cell. Only call on a scenario whose [`measure`] is within the limits: this
/// walks every cell.
pub(crate) fn repeats(scenario: &Scenario) -> Vec<Repeat> {
    let mut repeats = Vec::new();
    for phase in &scenario.phases {
        let mut first: HashMap<(&str, &str, String), (&Expectation, u64)> = HashMap::new();
        for set in &phase.probes {
            let except: HashMap<(&str, &str), &Expectation> = set
                .except
                .iter()
                .filter_map(|(key, expectation)| {
                    split_cell(&key.value).map(|cell| (cell, &expectation.value))
                })
                .collect();
            for from in set.from.as_slice() {
                for to in set.to.as_slice() {
                    let (from_text, to_text) = (from.value.as_str(), to.value.as_str());
                    let expectation = except
                        .get(&(from_text, to_text))
                        .copied()
                        .unwrap_or(&set.expect.value);
                    let label = set.test_label(to_text);
                    let key = (from_text, to_text, label);
                    match first.get(&key) {
                        Some(&(earlier, first_line)) => repeats.push(Repeat {
                            at: to.referenced,
                            phase: phase.name.value.clone(),
                            cell: format!("{from_text} -> {to_text}"),
                            label: key.2,
                            first_line,
                            contradiction: (earlier != expectation)
                                .then(|| (earlier.clone(), expectation.clone())),
                        }),
                        None => {
                            first.insert(key, (expectation, to.referenced.line()));
                        }
                    }
                }
            }
        }
    }
    repeats
}
