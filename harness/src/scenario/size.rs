//! What a scenario makes, counted from its lists without expanding them (a 300 x 300 matrix in
//! 100 phases is 9 million tests, found by multiplying, not by listing), and the cells that
//! would be the same test twice.

use super::limits::MAX_REPLICAS;
use super::model::{Expectation, Placement, Scenario, Target, Workload, WorkloadRef};
use serde_saphyr::Location;
use std::collections::HashMap;

/// Tests and probes of a scenario (a built-in check's few, fixed tests count 0).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Size {
    pub tests: u64,
    pub probes: u64,
    /// The probe set that makes the most tests: where, and its `from` x `to` x (protocols x
    /// ports).
    pub largest: Option<(Location, [u64; 3])>,
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
        let dimensions = [
            froms.len() as u64,
            tos.len() as u64,
            (set.protocol.as_slice().len() as u64).saturating_mul(set.ports().len() as u64),
        ];
        let tests = dimensions
            .iter()
            .fold(1u64, |product, n| product.saturating_mul(*n));
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
        size.probes = size.probes.saturating_add(
            sources
                .saturating_mul(targets)
                .saturating_mul(dimensions[2]),
        );
        if size
            .largest
            .is_none_or(|(_, [f, t, p])| f.saturating_mul(t).saturating_mul(p) < tests)
        {
            size.largest = Some((set.from.location(), dimensions));
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
            for cell in set.matrix() {
                let (from, to) = (cell.from.value.as_str(), cell.to.value.as_str());
                let key = (from, to, cell.label);
                match first.get(&key) {
                    Some(&(earlier, first_line)) => repeats.push(Repeat {
                        at: cell.to.referenced,
                        phase: phase.name.value.clone(),
                        cell: format!("{from} -> {to}"),
                        label: key.2,
                        first_line,
                        contradiction: (earlier != cell.expected)
                            .then(|| (earlier.clone(), cell.expected.clone())),
                    }),
                    None => {
                        first.insert(key, (cell.expected, cell.to.referenced.line()));
                    }
                }
            }
        }
    }
    repeats
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_protocol_and_port_of_a_set_is_a_test_of_its_own() {
        let scenario: Scenario = serde_saphyr::from_str(
            "name: s\nworkloads: [{name: a, replicas: 2}, {name: b}]\nphases:\n  - name: p\n    probes:\n      - {from: [a, b], to: [pod:a, pod:b, service:b], protocol: [tcp, udp], port: [80, 81, 82], expect: allowed}\n",
        )
        .unwrap();
        let size = measure(&scenario);
        assert_eq!(size.tests, 2 * 3 * 6);
        // Sources: 2 pods of a and 1 of b; targets: 2 + 1 + 1 (the Service).
        assert_eq!(size.probes, 3 * 4 * 6);
        assert_eq!(
            size.largest.map(|(_, dimensions)| dimensions),
            Some([2, 3, 6])
        );
    }
}
