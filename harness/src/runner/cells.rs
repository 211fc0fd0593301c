//! The test names of a scenario, known from its file alone: one per matrix cell (a `from`
//! workload and a `to` target of one probe set). `--list` and name filters work on these, with
//! no cluster needed. A cell runs from every pod of its workload to every address of its target.

use crate::scenario::model::Scenario;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cell {
    /// Where the cell comes from: `scenario.phases[phase].probes[probe_set]` (0 and 0 in a
    /// built-in check, whose tests are its own: see [`crate::checks::tests`]).
    pub phase: usize,
    pub probe_set: usize,
    /// As written in the scenario: `client`, `pod:server`.
    pub from: String,
    pub to: String,
    /// `scenario::phase::from->to:protocol/port`.
    pub name: String,
}

pub fn cells(scenario: &Scenario) -> Vec<Cell> {
    if let Some(check) = &scenario.check {
        return crate::checks::tests(check.value)
            .iter()
            .map(|test| Cell {
                phase: 0,
                probe_set: 0,
                from: String::new(),
                to: String::new(),
                name: format!("{}::{test}", scenario.name.value),
            })
            .collect();
    }
    let mut cells = Vec::new();
    for (phase_index, phase) in scenario.phases.iter().enumerate() {
        for (set_index, set) in phase.probes.iter().enumerate() {
            for from in set.from.as_slice() {
                for to in set.to.as_slice() {
                    let name = format!(
                        "{}::{}::{}->{}:{}",
                        scenario.name.value,
                        phase.name.value,
                        from.value,
                        to.value,
                        set.test_label(&to.value),
                    );
                    cells.push(Cell {
                        phase: phase_index,
                        probe_set: set_index,
                        from: from.value.clone(),
                        to: to.value.clone(),
                        name,
                    });
                }
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
            let cells = cells(&loaded.scenario);
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
        let names: Vec<_> = cells(&pod_to_pod.scenario)
            .into_iter()
            .map(|c| c.name)
            .collect();
        assert!(
            names
                .iter()
                .any(|name| name.starts_with("pod-to-pod::") && name.ends_with(":tcp/9000")),
            "{names:?}"
        );
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
