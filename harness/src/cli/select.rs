//! Which tests `cnicheck run` selects: scenario groups, name filters, `--skip` and `--exact`,
//! checked against what the scenarios hold before anything touches the cluster, so that a
//! typo never turns into a green run that checked nothing.

use cnicheck::cluster::shell_word;
use cnicheck::runner::{Selection, cells};
use cnicheck::scenario::LoadedScenario;
use std::collections::BTreeSet;
use std::path::Path;

const HEADING: &str = "Test selection";

#[derive(Debug, clap::Args)]
pub struct SelectArgs {
    /// Run only the tests whose name contains one of these (several allowed, as in `cargo test`)
    #[arg(value_name = "FILTER", help_heading = HEADING)]
    pub filters: Vec<String>,
    /// Filters and --skip patterns must equal a whole test name
    #[arg(long, help_heading = HEADING)]
    pub exact: bool,
    /// Leave out the tests whose name contains PATTERN (repeatable)
    #[arg(long, value_name = "PATTERN", help_heading = HEADING)]
    pub skip: Vec<String>,
    /// Only the scenarios of these groups (repeatable, or comma-separated: --group dns,policy)
    #[arg(long = "group", value_name = "GROUP", value_delimiter = ',', help_heading = HEADING)]
    pub groups: Vec<String>,
    /// Print the selected test names, quoted for a shell where needed, and exit (no cluster
    /// needed)
    #[arg(long, help_heading = HEADING)]
    pub list: bool,
}

/// Why a selection cannot run. Usage errors, except [`SelectionError::NothingSelected`].
#[derive(Debug, thiserror::Error)]
pub enum SelectionError {
    #[error(
        "{} is a file, not a test filter: give every scenario file after one -f \
         (-f a.yaml b.yaml), or put filters before -f",
        shell_word(.0)
    )]
    FilterIsAFile(String),

    #[error("unknown group {}{}; the groups are: {}", shell_word(given),
        suggestion(given, known).map(|s| format!(" (did you mean {s}?)")).unwrap_or_default(),
        known.join(", "))]
    UnknownGroup { given: String, known: Vec<String> },

    #[error("nothing to run: {0}; `cnicheck run --list` shows the tests")]
    NothingSelected(String),
}

/// A group that differs from `given` only in case, the usual slip.
fn suggestion<'a>(given: &str, known: &'a [String]) -> Option<&'a str> {
    known
        .iter()
        .find(|group| group.eq_ignore_ascii_case(given))
        .map(String::as_str)
}

impl SelectArgs {
    /// A positional argument that names an existing file was meant as a scenario file: with
    /// `-f a.yaml b.yaml` parsed the old way, it would have filtered out every test.
    pub fn check_filters(&self) -> Result<(), SelectionError> {
        match self
            .filters
            .iter()
            .find(|filter| Path::new(filter).is_file())
        {
            Some(file) => Err(SelectionError::FilterIsAFile(file.clone())),
            None => Ok(()),
        }
    }

    pub fn test_filter(&self) -> cells::TestFilter {
        cells::TestFilter {
            filters: self.filters.clone(),
            skip: self.skip.clone(),
            exact: self.exact,
        }
    }

    /// The scenarios of the chosen groups (without `--group`, all but the opt-in ones); every
    /// group given must be one the scenarios have.
    pub fn scenarios_in_groups(
        &self,
        scenarios: Vec<LoadedScenario>,
    ) -> Result<Vec<LoadedScenario>, SelectionError> {
        let known: BTreeSet<&String> = scenarios
            .iter()
            .flat_map(|loaded| &loaded.scenario.groups)
            .collect();
        if let Some(unknown) = self.groups.iter().find(|group| !known.contains(group)) {
            return Err(SelectionError::UnknownGroup {
                given: unknown.clone(),
                known: known.into_iter().cloned().collect(),
            });
        }
        Ok(scenarios
            .into_iter()
            .filter(|loaded| {
                if self.groups.is_empty() {
                    !loaded.scenario.opt_in
                } else {
                    loaded
                        .scenario
                        .groups
                        .iter()
                        .any(|group| self.groups.contains(group))
                }
            })
            .collect())
    }

    /// Each scenario with its test names and the ones this run selects.
    pub fn select<'a>(&self, scenarios: &'a [LoadedScenario]) -> Vec<Selection<'a>> {
        let filter = self.test_filter();
        scenarios
            .iter()
            .map(|scenario| {
                let cells = cells::cells(scenario);
                let selected = (0..cells.len())
                    .filter(|&index| filter.selects(&cells[index].name))
                    .collect();
                Selection {
                    scenario,
                    cells,
                    selected,
                }
            })
            .collect()
    }

    /// Says why nothing was selected, when nothing was.
    pub fn check_not_empty(&self, selections: &[Selection<'_>]) -> Result<(), SelectionError> {
        if selections
            .iter()
            .any(|selection| !selection.selected.is_empty())
        {
            return Ok(());
        }
        let tests: usize = selections
            .iter()
            .map(|selection| selection.cells.len())
            .sum();
        let groups = if self.groups.is_empty() {
            String::new()
        } else {
            format!(" in group(s) {}", self.groups.join(","))
        };
        let why = if tests == 0 {
            format!("no scenario{groups}")
        } else {
            let mut rules = Vec::new();
            if !self.filters.is_empty() {
                let quoted: Vec<_> = self.filters.iter().map(|f| shell_word(f)).collect();
                rules.push(format!(
                    "{} filter(s) {}",
                    if self.exact { "exact" } else { "the" },
                    quoted.join(" ")
                ));
            }
            if !self.skip.is_empty() {
                let quoted: Vec<_> = self.skip.iter().map(|s| shell_word(s)).collect();
                rules.push(format!("--skip {}", quoted.join(" --skip ")));
            }
            format!(
                "{} select(s) none of the {tests} test(s) of {} scenario(s){groups}",
                rules.join(" with "),
                selections.len()
            )
        };
        Err(SelectionError::NothingSelected(why))
    }
}

/// The end of `cnicheck run --help`: each group of the built-in suites and its scenarios.
pub fn groups_help() -> String {
    let scenarios = cnicheck::scenario::builtin();
    let groups: BTreeSet<&String> = scenarios
        .iter()
        .flat_map(|loaded| &loaded.scenario.groups)
        .collect();
    let width = groups.iter().map(|group| group.len()).max().unwrap_or(0);
    let mut help = String::from("Groups of the built-in suites (--group):\n");
    for group in groups {
        let members: Vec<&str> = scenarios
            .iter()
            .filter(|loaded| loaded.scenario.groups.contains(group))
            .map(|loaded| loaded.scenario.name.value.as_str())
            .collect();
        let opt_in = scenarios
            .iter()
            .any(|loaded| loaded.scenario.opt_in && loaded.scenario.groups.contains(group));
        let only_asked = if opt_in { " (only with --group)" } else { "" };
        help.push_str(&format!(
            "  {group:width$}  {}{only_asked}\n",
            members.join(", ")
        ));
    }
    help.push_str(
        "\nTest names are SCENARIO::PHASE::FROM->TO:PROTOCOL/PORT; quote them in a shell \
         (--list prints them quoted).",
    );
    help
}

/// `--list`: one selected test name per line, quoted where a shell would otherwise read `->`
/// as a redirection, so a line pasted after `cnicheck run --exact` selects that test.
pub fn list(selections: &[Selection<'_>]) -> String {
    selections
        .iter()
        .flat_map(|selection| selection.selected.iter().map(|&i| &selection.cells[i]))
        .map(|cell| format!("{}\n", shell_word(&cell.name)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Args {
        #[command(flatten)]
        select: SelectArgs,
    }

    fn args(argv: &[&str]) -> SelectArgs {
        Args::parse_from(std::iter::once("run").chain(argv.iter().copied())).select
    }

    fn builtin() -> Vec<LoadedScenario> {
        cnicheck::scenario::builtin()
    }

    #[test]
    fn groups_take_comma_lists_and_unknown_ones_are_errors_naming_the_valid_ones() {
        let chosen = args(&["--group", "dns,policy"])
            .scenarios_in_groups(builtin())
            .unwrap();
        assert!(!chosen.is_empty());
        assert!(chosen.iter().all(|loaded| {
            let groups = &loaded.scenario.groups;
            groups.iter().any(|g| g == "dns" || g == "policy")
        }));
        let error = args(&["--group", "Connectivity"])
            .scenarios_in_groups(builtin())
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with(
                "unknown group Connectivity (did you mean connectivity?); the groups are: "
            ),
            "{error}"
        );
        assert!(error.contains("dns"), "{error}");
        let error = args(&["--group", "bogus"]).scenarios_in_groups(builtin());
        assert!(matches!(error, Err(SelectionError::UnknownGroup { .. })));
    }

    #[test]
    fn a_filter_naming_a_file_is_an_error_with_a_hint() {
        let file =
            std::env::temp_dir().join(format!("cnicheck-filter-{}.yaml", std::process::id()));
        std::fs::write(&file, "").unwrap();
        let path = file.to_str().unwrap();
        let error = args(&[path]).check_filters().unwrap_err().to_string();
        std::fs::remove_file(&file).unwrap();
        assert!(error.contains("is a file, not a test filter"), "{error}");
        assert!(error.contains("-f a.yaml b.yaml"), "{error}");
        args(&["dns::", "pod-to-pod"]).check_filters().unwrap();
    }

    #[test]
    fn a_selection_of_nothing_says_which_rule_left_nothing() {
        let scenarios = builtin();
        let select = args(&["no-such-test", "--skip", "dns"]);
        let error = select
            .check_not_empty(&select.select(&scenarios))
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with(
                "nothing to run: the filter(s) no-such-test with --skip dns select(s) none of the "
            ),
            "{error}"
        );
        let select = args(&["dns"]);
        select.check_not_empty(&select.select(&scenarios)).unwrap();
    }

    #[test]
    fn listed_names_survive_a_paste_into_a_shell() {
        let scenarios = builtin();
        let select = args(&[
            "--exact",
            "pod-to-pod::baseline::client->pod:server:tcp/9000",
        ]);
        let listed = list(&select.select(&scenarios));
        assert_eq!(
            listed,
            "'pod-to-pod::baseline::client->pod:server:tcp/9000'\n"
        );
    }
}
