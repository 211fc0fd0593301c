//! libtest's output on stdout: one trial per selected cell, printed and counted the way Rust
//! users and their tools expect (pretty, terse, or libtest's JSON lines).
//!
//! Trials are decided as their scenarios finish, by name, and printed when the run does: the
//! console's lines already show progress on stderr, and a libtest line held open while
//! scenarios run concurrently would only interleave with them.

use super::failure::failure_block;
use super::model::{ScenarioReport, Verdict};
use crate::events::{EventSink, RunEvent};
use libtest_mimic::{Arguments, ColorSetting, Completion, Failed, FormatSetting, Trial};
use std::collections::HashMap;
use std::sync::Mutex;

#[derive(Debug, Clone, Copy)]
pub enum Format {
    Pretty,
    Terse,
    Json,
}

/// The selected cells of one scenario, by name, as libtest will list them.
pub struct SelectedTests {
    pub scenario: String,
    pub cells: Vec<String>,
}

/// How a cell ended, for libtest: passed, failed with the failure blocks of its probes, or
/// ignored (a skipped scenario, or every probe skipped).
type TrialOutcome = Result<Completion, String>;

pub struct LibtestReporter {
    selected: Vec<SelectedTests>,
    arguments: Arguments,
    /// The outcomes of finished scenarios' cells, by scenario name.
    decided: Mutex<HashMap<String, Vec<TrialOutcome>>>,
}

impl LibtestReporter {
    /// `selected` in the order libtest prints them; `colors` for stdout.
    pub fn new(selected: Vec<SelectedTests>, format: Format, colors: bool) -> Self {
        LibtestReporter {
            selected,
            // The trials are the selection already: libtest filters nothing itself, and its
            // exit code is not cnicheck's (see `exit_code`).
            arguments: Arguments {
                format: Some(match format {
                    Format::Pretty => FormatSetting::Pretty,
                    Format::Terse => FormatSetting::Terse,
                    Format::Json => FormatSetting::Json,
                }),
                color: Some(if colors {
                    ColorSetting::Always
                } else {
                    ColorSetting::Never
                }),
                test_threads: Some(1),
                ..Arguments::default()
            },
            decided: Mutex::new(HashMap::new()),
        }
    }

    /// Every selected cell with its outcome, in the order of the selection.
    fn outcomes(&self) -> Vec<(String, TrialOutcome)> {
        let mut decided = self
            .decided
            .lock()
            .map(|mut decided| std::mem::take(&mut *decided))
            .unwrap_or_default();
        let mut outcomes = Vec::new();
        for selected in &self.selected {
            let mut scenario = decided.remove(&selected.scenario).map(Vec::into_iter);
            for cell in &selected.cells {
                // The runner reports every scenario it was given; a cell without a result
                // failed to run, and is never counted a pass.
                let outcome = scenario
                    .as_mut()
                    .and_then(Iterator::next)
                    .unwrap_or_else(|| {
                        Err(format!(
                            "the run reported no result for scenario {}",
                            selected.scenario
                        ))
                    });
                outcomes.push((cell.clone(), outcome));
            }
        }
        outcomes
    }
}

impl EventSink for LibtestReporter {
    fn event(&self, event: RunEvent<'_>) {
        match event {
            RunEvent::ScenarioFinished { scenario } => {
                let Some(selected) = self.selected.iter().find(|s| s.scenario == scenario.name)
                else {
                    return;
                };
                let decided = selected
                    .cells
                    .iter()
                    .map(|cell| cell_outcome(scenario, cell))
                    .collect();
                if let Ok(mut outcomes) = self.decided.lock() {
                    outcomes.insert(scenario.name.clone(), decided);
                }
            }
            // Nothing ran when the preflight rejected a manifest: no test results to print.
            RunEvent::RunFinished { report } if !report.preflight_rejected() => {
                let trials = self
                    .outcomes()
                    .into_iter()
                    .map(|(cell, outcome)| {
                        Trial::ignorable_test(cell, move || outcome.map_err(Failed::from))
                    })
                    .collect();
                let _ = libtest_mimic::run(&self.arguments, trials);
            }
            _ => {}
        }
    }
}

/// A cell's outcome from its scenario's report.
fn cell_outcome(scenario: &ScenarioReport, cell: &str) -> TrialOutcome {
    if let Some(reason) = &scenario.skipped {
        // The reason is also in the summary and the JUnit file.
        return Ok(Completion::ignored_with(reason));
    }
    if let Some(error) = &scenario.setup_error {
        return Err(format!("setup failed: {error}"));
    }
    let probes: Vec<_> = scenario
        .probes
        .iter()
        .filter(|probe| probe.cell_name() == cell)
        .collect();
    if probes.is_empty() {
        // Nothing was observed, so nothing passed.
        return Err(format!("no probe of {cell} ran: the run reported none"));
    }
    if probes.iter().all(|probe| probe.verdict == Verdict::Skip) {
        // A cell whose every probe was skipped did not pass.
        return Ok(Completion::ignored());
    }
    let problems: Vec<String> = probes
        .into_iter()
        .filter(|probe| matches!(probe.verdict, Verdict::Fail | Verdict::Error))
        .map(failure_block)
        .collect();
    if problems.is_empty() {
        Ok(Completion::Completed)
    } else {
        Err(problems.join("\n"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scenario(skipped: Option<&str>, setup_error: Option<&str>) -> ScenarioReport {
        ScenarioReport {
            name: "netpol".into(),
            file: "netpol.yaml".into(),
            skipped: skipped.map(Into::into),
            setup_error: setup_error.map(Into::into),
            duration_secs: 1.0,
            probes: Vec::new(),
            truth_tables: Vec::new(),
            stages: None,
        }
    }

    #[test]
    fn a_skipped_scenario_ignores_its_cells_with_the_reason() {
        let outcome = cell_outcome(&scenario(Some("needs Cilium"), None), "netpol::a->b");
        assert!(matches!(
            outcome,
            Ok(Completion::Ignored { reason: Some(reason) }) if reason == "needs Cilium"
        ));
    }

    #[test]
    fn a_failed_setup_fails_every_cell() {
        let outcome = cell_outcome(&scenario(None, Some("pods not ready")), "netpol::a->b");
        assert_eq!(
            outcome.err().expect("a failure"),
            "setup failed: pods not ready"
        );
    }

    #[test]
    fn a_cell_that_no_probe_reported_is_never_a_pass() {
        let outcome = cell_outcome(&scenario(None, None), "netpol::a->b");
        assert!(
            outcome
                .err()
                .expect("a failure")
                .contains("no probe of netpol::a->b ran")
        );
    }

    #[test]
    fn cells_are_decided_when_their_scenario_finishes() {
        let reporter = LibtestReporter::new(
            vec![SelectedTests {
                scenario: "netpol".into(),
                cells: vec!["netpol::a->b".into(), "netpol::a->c".into()],
            }],
            Format::Terse,
            false,
        );
        reporter.event(RunEvent::ScenarioFinished {
            scenario: &scenario(None, Some("pods not ready")),
        });
        let outcomes = reporter.outcomes();
        let cells: Vec<&str> = outcomes.iter().map(|(cell, _)| cell.as_str()).collect();
        assert_eq!(cells, ["netpol::a->b", "netpol::a->c"]);
        assert!(outcomes.iter().all(|(_, outcome)| {
            outcome
                .as_ref()
                .is_err_and(|error| error == "setup failed: pods not ready")
        }));
    }

    #[test]
    fn a_scenario_the_run_did_not_report_fails_its_cells() {
        let reporter = LibtestReporter::new(
            vec![SelectedTests {
                scenario: "netpol".into(),
                cells: vec!["netpol::a->b".into()],
            }],
            Format::Terse,
            false,
        );
        let outcomes = reporter.outcomes();
        assert_eq!(outcomes.len(), 1);
        let (cell, outcome) = &outcomes[0];
        assert_eq!(cell, "netpol::a->b");
        assert_eq!(
            outcome.as_ref().err().expect("a failure"),
            "the run reported no result for scenario netpol"
        );
    }
}
