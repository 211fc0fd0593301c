//! A scenario resolved into its cells, once, from its file alone: one per matrix cell (a `from`
//! workload and a `to` entry of one probe set) or per test of a built-in check. Each cell knows
//! its test name, what kind of check it is, its parsed source and destination and its
//! expectation, so the planner and the judge never read the scenario's strings again; `--list`
//! and name filters work on them with no cluster needed.

use crate::scenario::LoadedScenario;
use crate::scenario::model::{
    BuiltinCheck, Expectation, Port, ProbeSet, Protocol, Target, ToEntry, WorkloadRef,
};

#[derive(Debug, Clone)]
pub struct Cell<'s> {
    /// `scenario::phase::from->to:protocol/port`, or `scenario::test` for a built-in check.
    pub name: String,
    pub kind: CellKind<'s>,
}

#[derive(Debug, Clone)]
pub enum CellKind<'s> {
    /// Traffic from each pod of the source workload to each destination of `to`.
    Traffic {
        matrix: MatrixCell<'s>,
        to: Target<'s>,
    },
    /// The addresses of each source pod's own interface, against Multus' record of the pod.
    Address {
        matrix: MatrixCell<'s>,
        interface: &'s str,
    },
    /// One test of a built-in check, which probes nothing of the scenario's own.
    Check {
        check: BuiltinCheck,
        test: &'static str,
    },
}

/// Where a matrix cell comes from and what it expects.
#[derive(Debug, Clone)]
pub struct MatrixCell<'s> {
    /// The index of its phase in the scenario.
    pub phase: usize,
    pub set: &'s ProbeSet,
    /// The one of the set's protocols this cell probes with.
    pub protocol: Protocol,
    /// The port of the set's this cell probes (none: the agent's for the protocol).
    pub port: Option<Port>,
    pub from: WorkloadRef<'s>,
    /// `from` and `to` as written (`client`, `pod:server`), for reports.
    pub written_from: &'s str,
    pub written_to: &'s str,
    /// The probe set's `expect`, or its `except` entry for this cell.
    pub expected: &'s Expectation,
}

impl<'s> Cell<'s> {
    /// The matrix cell behind a traffic or address cell; none for a built-in check's test.
    pub fn matrix(&self) -> Option<&MatrixCell<'s>> {
        match &self.kind {
            CellKind::Traffic { matrix, .. } | CellKind::Address { matrix, .. } => Some(matrix),
            CellKind::Check { .. } => None,
        }
    }
}

/// The cells of a loaded (so validated) scenario, in file order.
pub fn cells(loaded: &LoadedScenario) -> Vec<Cell<'_>> {
    let scenario = &loaded.scenario;
    if let Some(check) = &scenario.check {
        return crate::checks::tests(check.value)
            .iter()
            .map(|&test| Cell {
                name: format!("{}::{test}", scenario.name.value),
                kind: CellKind::Check {
                    check: check.value,
                    test,
                },
            })
            .collect();
    }
    let mut cells = Vec::new();
    for (phase_index, phase) in scenario.phases.iter().enumerate() {
        for set in &phase.probes {
            for entry in set.matrix() {
                let (from, to) = (&entry.from.value, &entry.to.value);
                let matrix = MatrixCell {
                    phase: phase_index,
                    set,
                    protocol: entry.protocol,
                    port: entry.port,
                    from: WorkloadRef::parse(from),
                    written_from: from,
                    written_to: to,
                    expected: entry.expected,
                };
                let kind = match ToEntry::parse(to) {
                    Some(ToEntry::Target(to)) => CellKind::Traffic { matrix, to },
                    Some(ToEntry::Interface(interface)) => CellKind::Address { matrix, interface },
                    None => unreachable!("validation rejects `{to}`, a `to` that is not a target"),
                };
                let name = format!(
                    "{}::{}::{from}->{to}:{}",
                    scenario.name.value, phase.name.value, entry.label,
                );
                cells.push(Cell { name, kind });
            }
        }
    }
    cells
}

/// Which test names a run selects, with `cargo test`'s rules: a name is selected when it
/// contains one of the filters (or equals it, with `exact`), or there are no filters, and it
/// contains none of the `skip` patterns (equals none, with `exact`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TestFilter {
    pub filters: Vec<String>,
    pub skip: Vec<String>,
    pub exact: bool,
}

impl TestFilter {
    pub fn selects(&self, name: &str) -> bool {
        let matches = |pattern: &String| {
            if self.exact {
                name == pattern
            } else {
                name.contains(pattern.as_str())
            }
        };
        (self.filters.is_empty() || self.filters.iter().any(matches))
            && !self.skip.iter().any(matches)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario;

    #[test]
    fn every_builtin_cell_has_a_unique_name() {
        for loaded in scenario::builtin() {
            let cells = cells(&loaded);
            let mut names: Vec<_> = cells.iter().map(|cell| cell.name.as_str()).collect();
            names.sort_unstable();
            names.dedup();
            assert_eq!(names.len(), cells.len(), "{}", loaded.scenario.name.value);
        }
    }

    #[test]
    fn cells_are_named_after_scenario_phase_from_to_and_protocol() {
        let pod_to_pod = scenario::builtin()
            .into_iter()
            .find(|loaded| loaded.scenario.name.value == "pod-to-pod")
            .unwrap();
        let names: Vec<_> = cells(&pod_to_pod).into_iter().map(|c| c.name).collect();
        assert!(
            names
                .iter()
                .any(|name| name.starts_with("pod-to-pod::") && name.ends_with(":tcp/9000")),
            "{names:?}"
        );
    }

    fn builtin(name: &str) -> scenario::LoadedScenario {
        scenario::builtin()
            .into_iter()
            .find(|loaded| loaded.scenario.name.value == name)
            .unwrap()
    }

    #[test]
    fn each_kind_of_check_is_a_kind_of_cell() {
        let multus = builtin("multus");
        let multus_cells = cells(&multus);
        let address = multus_cells
            .iter()
            .find(|cell| cell.name.contains("->interface:net1"))
            .unwrap();
        assert!(
            matches!(
                address.kind,
                CellKind::Address {
                    interface: "net1",
                    ..
                }
            ),
            "{address:?}"
        );
        assert!(multus_cells.iter().any(|cell| matches!(
            cell.kind,
            CellKind::Traffic {
                to: Target::Pod(_),
                ..
            }
        )));
        let cilium = builtin("cilium");
        for cell in cells(&cilium) {
            assert!(
                matches!(cell.kind, CellKind::Check { test, .. } if cell.name == format!("cilium::{test}")),
                "{cell:?}"
            );
        }
    }

    #[test]
    fn a_cell_carries_its_parsed_source_and_target_and_its_except_entry() {
        let selectors = builtin("policy-selectors");
        let selector_cells = cells(&selectors);
        let matrix = |name: &str| {
            let cell = selector_cells
                .iter()
                .find(|cell| cell.name.starts_with(name))
                .unwrap();
            (cell.matrix().unwrap().clone(), cell.kind.clone())
        };
        let (excepted, kind) = matrix("policy-selectors::allow-pod-label::x/client->pod:x/server:");
        assert_eq!(*excepted.expected, Expectation::Allowed);
        assert_eq!(
            excepted.from,
            WorkloadRef {
                namespace: "x",
                name: "client"
            }
        );
        assert!(matches!(
            kind,
            CellKind::Traffic {
                to: Target::Pod(WorkloadRef {
                    namespace: "x",
                    name: "server"
                }),
                ..
            }
        ));
        let (default, _) = matrix("policy-selectors::allow-pod-label::x/other->pod:x/server:");
        assert_eq!(*default.expected, Expectation::Denied);
    }

    #[test]
    fn selection_follows_cargo_test_filters_exact_and_skip() {
        let filter = |filters: &[&str], skip: &[&str], exact: bool| TestFilter {
            filters: filters.iter().map(ToString::to_string).collect(),
            skip: skip.iter().map(ToString::to_string).collect(),
            exact,
        };
        let name = "dns::lookup::client->dns:kubernetes:dns";
        assert!(filter(&[], &[], false).selects(name));
        assert!(filter(&["lookup"], &[], false).selects(name));
        assert!(
            filter(&["nothing", "lookup"], &[], false).selects(name),
            "any filter"
        );
        assert!(!filter(&["nothing", "else"], &[], false).selects(name));
        assert!(!filter(&["lookup"], &[], true).selects(name));
        assert!(filter(&[name], &[], true).selects(name));
        assert!(!filter(&[], &["dns::"], false).selects(name));
        assert!(
            filter(&[], &["dns::"], true).selects(name),
            "--exact applies to --skip"
        );
    }
}
