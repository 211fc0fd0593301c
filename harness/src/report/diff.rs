//! `cnicheck diff`: what changed between two runs, for the question an operator asks after an
//! upgrade: what passed before and does not now?
//!
//! Runs are compared cell by cell (the test names `--list` shows), never probe by probe: a
//! probe's name carries its run's pod addresses, which change from run to run. A cell's outcome
//! folds those of its probes (one per source pod and target address): any failure fails the
//! cell, any error makes it an error, and so on down.
//!
//! The [`ReportDiff`] is serialized as-is by `cnicheck diff --format json`: a stable, versioned
//! machine format like the report itself. Add fields with defaults; never rename or remove one.

use super::latency;
use super::model::{AttemptReport, ClusterInfo, ProbeReport, RunReport, Verdict};
use super::text::single_line;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

pub const DIFF_FORMAT_VERSION: u32 = 1;

/// Every cell that changed between a baseline run and a current one, by kind of change in
/// order of importance, and how many did not change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportDiff {
    pub format_version: u32,
    pub baseline: RunSummary,
    pub current: RunSummary,
    /// Passed (or was flaky) before; fails or errors now.
    pub regressed: Vec<CellChange>,
    /// Ran before; skipped now (an unmet requirement: a CRD gone, too few nodes, ...).
    pub newly_skipped: Vec<CellChange>,
    /// Flaky now and not before. A cell is flaky when one of its probes passed only on a
    /// retry (`--retries`), or passed in the end although an attempt after a matching one did
    /// not match (it flapped while a phase settled). Converging, that is failing until a
    /// deployment or policy change takes effect and then matching for good, is not flaky.
    pub newly_flaky: Vec<CellChange>,
    /// Failed or errored before; passes cleanly now.
    pub fixed: Vec<CellChange>,
    /// Ran now, and not before: new in the scenarios, or skipped before.
    pub added: Vec<CellChange>,
    /// Ran before, not in the current run: gone from the scenarios or not selected.
    pub removed: Vec<CellChange>,
    pub unchanged: Unchanged,
    /// The `--latency-regression` factor, when one was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_factor: Option<f64>,
    /// Passing in both runs, and its answers' median latency grew by more than
    /// `latency_factor` and by at least [`LATENCY_FLOOR_MS`]: it still works, but slower.
    /// Empty unless `latency_factor` is given.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub slower: Vec<LatencyChange>,
}

/// What a diff flags beyond verdicts.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct DiffOptions {
    /// Flag cells whose median latency grew more than this many times.
    pub latency_factor: Option<f64>,
}

/// Growth below this is noise at the scale of pod networks, whatever its factor.
pub const LATENCY_FLOOR_MS: f64 = 0.5;

/// A passing cell whose answers got slower: the median latency of its probes in each run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LatencyChange {
    pub scenario: String,
    pub cell: String,
    pub before_ms: f64,
    pub after_ms: f64,
}

/// Which run a side of the comparison is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    pub cnicheck_version: String,
    /// RFC 3339.
    pub started_at: String,
    pub cluster: ClusterInfo,
}

/// One cell that changed. `before` is absent for added cells, `after` for removed ones.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CellChange {
    pub scenario: String,
    /// `scenario::phase::from->to:protocol/port`.
    pub cell: String,
    pub before: Option<CellOutcome>,
    pub after: Option<CellOutcome>,
}

/// How a cell ended in one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CellOutcome {
    /// `flaky` in the wider sense of [`ReportDiff::newly_flaky`].
    pub verdict: Verdict,
    /// Why, for anything but a clean pass: the first wrong probe's observation, the reason of
    /// a skip, what a flaky probe saw.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// Cells with the same outcome in both runs, by that outcome (an error that became a failure,
/// or the reverse, is still failing).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unchanged {
    pub passing: usize,
    pub flaky: usize,
    pub failing: usize,
    pub skipped: usize,
}

impl ReportDiff {
    /// Cells that pass no more, or (when asked for) got slower.
    pub fn has_regressions(&self) -> bool {
        !self.regressed.is_empty() || !self.slower.is_empty()
    }
}

/// Compares `current` with `baseline`, cell by cell.
pub fn diff(baseline: &RunReport, current: &RunReport, options: DiffOptions) -> ReportDiff {
    let before = RunCells::of(baseline);
    let after = RunCells::of(current);
    let mut diff = ReportDiff {
        format_version: DIFF_FORMAT_VERSION,
        baseline: RunSummary::of(baseline),
        current: RunSummary::of(current),
        regressed: Vec::new(),
        newly_skipped: Vec::new(),
        newly_flaky: Vec::new(),
        fixed: Vec::new(),
        added: Vec::new(),
        removed: Vec::new(),
        unchanged: Unchanged::default(),
        latency_factor: options.latency_factor,
        slower: Vec::new(),
    };
    // The current run's order (scenario, phase, matrix), then what only the baseline had.
    let cells = after.cells.iter().chain(
        before
            .cells
            .iter()
            .filter(|cell| !after.index.contains_key(cell.name)),
    );
    for cell in cells {
        let change = CellChange {
            scenario: cell.scenario.to_owned(),
            cell: cell.name.to_owned(),
            before: before.outcome(cell.scenario, cell.name),
            after: after.outcome(cell.scenario, cell.name),
        };
        use Verdict::{Error, Fail, Flaky, Pass, Skip};
        let verdicts = (
            change.before.as_ref().map(|outcome| outcome.verdict),
            change.after.as_ref().map(|outcome| outcome.verdict),
        );
        let list = match verdicts {
            (None, _) | (Some(Skip), Some(Pass | Fail | Error)) => &mut diff.added,
            (_, None) => &mut diff.removed,
            (Some(Pass | Flaky), Some(Fail | Error)) => &mut diff.regressed,
            (Some(before), Some(Skip)) if before != Skip => &mut diff.newly_skipped,
            (Some(before), Some(Flaky)) if before != Flaky => &mut diff.newly_flaky,
            (Some(Fail | Error), Some(Pass)) => &mut diff.fixed,
            (Some(_), Some(after)) => {
                let count = match after {
                    Pass => &mut diff.unchanged.passing,
                    Flaky => &mut diff.unchanged.flaky,
                    Fail | Error => &mut diff.unchanged.failing,
                    Skip => &mut diff.unchanged.skipped,
                };
                *count += 1;
                continue;
            }
        };
        list.push(change);
    }
    if let Some(factor) = options.latency_factor {
        diff.slower = slower_cells(&before, &after, factor);
    }
    diff
}

/// Cells passing in both runs whose median latency grew more than `factor` times.
fn slower_cells(before: &RunCells<'_>, after: &RunCells<'_>, factor: f64) -> Vec<LatencyChange> {
    let passing = |probes: &[&ProbeReport]| {
        matches!(cell_outcome(probes).verdict, Verdict::Pass | Verdict::Flaky)
    };
    after
        .cells
        .iter()
        .filter_map(|now| {
            let then = &before.cells[*before.index.get(now.name)?];
            if !passing(&then.probes) || !passing(&now.probes) {
                return None;
            }
            let before_ms = latency::cell_median(then.probes.iter().copied())?;
            let after_ms = latency::cell_median(now.probes.iter().copied())?;
            (after_ms > before_ms * factor && after_ms - before_ms >= LATENCY_FLOOR_MS).then(|| {
                LatencyChange {
                    scenario: now.scenario.to_owned(),
                    cell: now.name.to_owned(),
                    before_ms,
                    after_ms,
                }
            })
        })
        .collect()
}

impl RunSummary {
    fn of(report: &RunReport) -> Self {
        RunSummary {
            cnicheck_version: report.cnicheck_version.clone(),
            started_at: report.started_at.clone(),
            cluster: report.cluster.clone(),
        }
    }
}

/// The cells of one run, in report order, with their outcomes.
struct RunCells<'a> {
    cells: Vec<Cell<'a>>,
    index: HashMap<&'a str, usize>,
    /// The outcome of every cell of a scenario that has no probe of its own in the report: a
    /// skipped scenario runs none, a failed setup stops the scenario's remaining phases.
    scenario_outcomes: HashMap<&'a str, CellOutcome>,
}

struct Cell<'a> {
    scenario: &'a str,
    name: &'a str,
    probes: Vec<&'a ProbeReport>,
}

impl<'a> RunCells<'a> {
    fn of(report: &'a RunReport) -> Self {
        let mut run = RunCells {
            cells: Vec::new(),
            index: HashMap::new(),
            scenario_outcomes: HashMap::new(),
        };
        for scenario in &report.scenarios {
            let blanket = if let Some(error) = &scenario.setup_error {
                Some(CellOutcome {
                    verdict: Verdict::Error,
                    detail: Some(format!("setup failed: {}", single_line(error))),
                })
            } else {
                scenario.skipped.as_ref().map(|reason| CellOutcome {
                    verdict: Verdict::Skip,
                    detail: Some(single_line(reason)),
                })
            };
            if let Some(outcome) = blanket {
                run.scenario_outcomes.insert(&scenario.name, outcome);
            }
            for probe in &scenario.probes {
                let name = probe.cell_name();
                let index = *run.index.entry(name).or_insert_with(|| {
                    run.cells.push(Cell {
                        scenario: &scenario.name,
                        name,
                        probes: Vec::new(),
                    });
                    run.cells.len() - 1
                });
                run.cells[index].probes.push(probe);
            }
        }
        run
    }

    fn outcome(&self, scenario: &str, cell: &str) -> Option<CellOutcome> {
        match self.index.get(cell) {
            Some(&index) => Some(cell_outcome(&self.cells[index].probes)),
            None => self.scenario_outcomes.get(scenario).cloned(),
        }
    }
}

/// The worst of the probes' verdicts, in the order fail, error, skip (only when all were
/// skipped), flaky, pass.
fn cell_outcome(probes: &[&ProbeReport]) -> CellOutcome {
    let count = |verdict| probes.iter().filter(|p| p.verdict == verdict).count();
    let first = |verdict| probes.iter().find(|p| p.verdict == verdict);
    for verdict in [Verdict::Fail, Verdict::Error] {
        if let Some(probe) = first(verdict) {
            let wrong = count(verdict);
            let observation = format!(
                "{} -> {}: expected {}, observed {}",
                probe.from,
                probe.target_address,
                probe.expected,
                single_line(&probe.observed)
            );
            let detail = if probes.len() == 1 {
                observation
            } else {
                format!("{wrong} of {} probes; first: {observation}", probes.len())
            };
            return CellOutcome {
                verdict,
                detail: Some(detail),
            };
        }
    }
    if count(Verdict::Skip) == probes.len() {
        return CellOutcome {
            verdict: Verdict::Skip,
            detail: probes
                .first()
                .and_then(|probe| probe.message.as_deref())
                .map(single_line),
        };
    }
    if let Some(probe) = probes.iter().find(|probe| is_flaky(probe)) {
        let attempts: Vec<String> = probe
            .earlier_attempts
            .iter()
            .map(attempt_label)
            .chain(["pass".to_owned()])
            .collect();
        return CellOutcome {
            verdict: Verdict::Flaky,
            detail: Some(format!(
                "{} -> {}: attempts {}",
                probe.from,
                probe.target_address,
                attempts.join(", ")
            )),
        };
    }
    CellOutcome {
        verdict: Verdict::Pass,
        detail: None,
    }
}

/// Passed on a retry, or passed after flapping: a matching attempt was followed by one that
/// did not match.
fn is_flaky(probe: &ProbeReport) -> bool {
    match probe.verdict {
        Verdict::Flaky => true,
        Verdict::Pass => probe
            .earlier_attempts
            .iter()
            .skip_while(|attempt| attempt.verdict != Verdict::Pass)
            .any(|attempt| attempt.verdict != Verdict::Pass),
        Verdict::Fail | Verdict::Error | Verdict::Skip => false,
    }
}

/// `pass`, or what a failed attempt observed.
fn attempt_label(attempt: &AttemptReport) -> String {
    match attempt.verdict {
        Verdict::Pass => "pass".to_owned(),
        _ => single_line(&attempt.observed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::model::{Reach, ScenarioReport};

    fn probe(cell: &str, source: &str, verdict: Verdict) -> ProbeReport {
        ProbeReport {
            name: format!("{cell} [{source} -> 10.244.1.5:9000 (server-0)]"),
            cell: cell.into(),
            phase: "baseline".into(),
            from: format!("cnicheck-x/{source} on node-1"),
            to: "pod:server".into(),
            target_address: "10.244.1.5:9000 (server-0)".into(),
            protocol: "tcp".into(),
            port: Some(9000),
            expected: "allowed".into(),
            observed: match verdict {
                Verdict::Fail => "timeout".into(),
                Verdict::Error => "could not run: agent gone".into(),
                _ => "connected".into(),
            },
            expected_reach: Reach::Reached,
            observed_reach: Reach::Reached,
            verdict,
            attempts: 1,
            earlier_attempts: Vec::new(),
            duration_secs: 0.1,
            message: None,
            reproduce: String::new(),
            source: None,
            destination_node: None,
            observed_kind: None,
            path: None,
            latency_ms: None,
            backends: None,
        }
    }

    fn attempt(verdict: Verdict) -> AttemptReport {
        AttemptReport {
            observed: if verdict == Verdict::Pass {
                "connected".into()
            } else {
                "timeout".into()
            },
            verdict,
            explanation: String::new(),
            observed_kind: None,
        }
    }

    fn scenario(name: &str, probes: Vec<ProbeReport>) -> ScenarioReport {
        ScenarioReport {
            name: name.into(),
            file: format!("{name}.yaml"),
            skipped: None,
            setup_error: None,
            duration_secs: 1.0,
            probes,
            truth_tables: Vec::new(),
            stages: None,
        }
    }

    fn run(scenarios: Vec<ScenarioReport>) -> RunReport {
        RunReport {
            format_version: 1,
            cnicheck_version: "0.1.0".into(),
            run_id: "t0run".into(),
            arguments: Vec::new(),
            preflight: Vec::new(),
            cluster: ClusterInfo::default(),
            started_at: "2026-11-22T10:00:00Z".into(),
            duration_secs: 1.0,
            scenarios,
            kept_namespaces: false,
        }
    }

    fn names(changes: &[CellChange]) -> Vec<&str> {
        changes.iter().map(|change| change.cell.as_str()).collect()
    }

    const A: &str = "s::p::client->pod:server:tcp/9000";
    const B: &str = "s::p::client->service:server:tcp/9000";
    const C: &str = "s::p::client->pod:other:tcp/9000";

    #[test]
    fn sorts_changes_by_kind_and_counts_the_rest() {
        use Verdict::{Error, Fail, Flaky, Pass, Skip};
        // A cell's verdict before and after.
        type Pair = (&'static str, Option<Verdict>, Option<Verdict>);
        let pairs: [Pair; 12] = [
            ("pass-fail", Some(Pass), Some(Fail)),
            ("flaky-error", Some(Flaky), Some(Error)),
            ("pass-skip", Some(Pass), Some(Skip)),
            ("fail-skip", Some(Fail), Some(Skip)),
            ("pass-flaky", Some(Pass), Some(Flaky)),
            ("fail-pass", Some(Fail), Some(Pass)),
            ("skip-fail", Some(Skip), Some(Fail)),
            ("new", None, Some(Pass)),
            ("gone", Some(Pass), None),
            ("pass-pass", Some(Pass), Some(Pass)),
            ("error-fail", Some(Error), Some(Fail)),
            ("flaky-pass", Some(Flaky), Some(Pass)),
        ];
        let side = |pick: fn(&Pair) -> Option<Verdict>| {
            let probes = pairs
                .iter()
                .filter_map(|pair| Some(probe(pair.0, "client-0", pick(pair)?)))
                .collect();
            run(vec![scenario("s", probes)])
        };
        let diff = diff(
            &side(|pair| pair.1),
            &side(|pair| pair.2),
            DiffOptions::default(),
        );
        assert_eq!(names(&diff.regressed), ["pass-fail", "flaky-error"]);
        assert_eq!(names(&diff.newly_skipped), ["pass-skip", "fail-skip"]);
        assert_eq!(names(&diff.newly_flaky), ["pass-flaky"]);
        assert_eq!(names(&diff.fixed), ["fail-pass"]);
        assert_eq!(names(&diff.added), ["skip-fail", "new"]);
        assert_eq!(names(&diff.removed), ["gone"]);
        assert_eq!(
            diff.unchanged,
            Unchanged {
                passing: 2,
                flaky: 0,
                failing: 1,
                skipped: 0
            }
        );
        assert!(diff.has_regressions());
    }

    #[test]
    fn a_cell_is_as_bad_as_its_worst_probe() {
        let baseline = run(vec![scenario(
            "s",
            vec![
                probe(A, "client-0", Verdict::Pass),
                probe(A, "client-1", Verdict::Pass),
            ],
        )]);
        let current = run(vec![scenario(
            "s",
            vec![
                probe(A, "client-0", Verdict::Pass),
                probe(A, "client-1", Verdict::Error),
            ],
        )]);
        let diff = diff(&baseline, &current, DiffOptions::default());
        assert_eq!(names(&diff.regressed), [A]);
        let after = diff.regressed[0].after.as_ref().unwrap();
        assert_eq!(after.verdict, Verdict::Error);
        assert_eq!(
            after.detail.as_deref(),
            Some(
                "1 of 2 probes; first: cnicheck-x/client-1 on node-1 -> 10.244.1.5:9000 \
                 (server-0): expected allowed, observed could not run: agent gone"
            )
        );
        assert_eq!(diff.regressed[0].before.as_ref().unwrap().detail, None);
    }

    #[test]
    fn cells_match_across_runs_whatever_their_addresses() {
        let baseline = run(vec![scenario(
            "s",
            vec![probe(A, "client-0", Verdict::Pass)],
        )]);
        let mut moved = probe(A, "client-0", Verdict::Pass);
        moved.name = format!("{A} [client-0 -> 10.244.9.9:9000 (server-0)]");
        moved.target_address = "10.244.9.9:9000 (server-0)".into();
        let diff = diff(
            &baseline,
            &run(vec![scenario("s", vec![moved])]),
            DiffOptions::default(),
        );
        assert!(diff.added.is_empty() && diff.removed.is_empty());
        assert_eq!(diff.unchanged.passing, 1);
    }

    #[test]
    fn reports_without_cell_names_are_matched_by_the_cell_part_of_probe_names() {
        let mut old = probe(A, "client-0", Verdict::Pass);
        old.cell.clear();
        assert_eq!(old.cell_name(), A);
        let diff = diff(
            &run(vec![scenario("s", vec![old])]),
            &run(vec![scenario(
                "s",
                vec![probe(A, "client-0", Verdict::Fail)],
            )]),
            DiffOptions::default(),
        );
        assert_eq!(names(&diff.regressed), [A]);
    }

    #[test]
    fn a_skipped_scenario_skips_the_cells_it_ran_before() {
        let baseline = run(vec![scenario(
            "s",
            vec![
                probe(A, "client-0", Verdict::Pass),
                probe(B, "client-0", Verdict::Pass),
            ],
        )]);
        let mut skipped = scenario("s", Vec::new());
        skipped.skipped = Some("needs CRDs that are not installed: x".into());
        let diff = diff(&baseline, &run(vec![skipped]), DiffOptions::default());
        assert_eq!(names(&diff.newly_skipped), [A, B]);
        assert!(diff.removed.is_empty());
        let after = diff.newly_skipped[0].after.as_ref().unwrap();
        assert_eq!(
            after.detail.as_deref(),
            Some("needs CRDs that are not installed: x")
        );

        let mut skipped_before = scenario("s", Vec::new());
        skipped_before.skipped = Some("needs --external-target".into());
        let diff = super::diff(
            &run(vec![skipped_before]),
            &baseline,
            DiffOptions::default(),
        );
        assert_eq!(names(&diff.added), [A, B], "skipped before, running now");
    }

    #[test]
    fn a_failed_setup_is_an_error_for_every_cell_it_did_not_reach() {
        let baseline = run(vec![scenario(
            "s",
            vec![
                probe(A, "client-0", Verdict::Pass),
                probe(B, "client-0", Verdict::Pass),
                probe(C, "client-0", Verdict::Pass),
            ],
        )]);
        let mut broken = scenario("s", vec![probe(A, "client-0", Verdict::Pass)]);
        broken.setup_error = Some("applying NetworkPolicy deny: forbidden".into());
        let diff = diff(&baseline, &run(vec![broken]), DiffOptions::default());
        assert_eq!(names(&diff.regressed), [B, C]);
        assert_eq!(
            diff.regressed[0].after,
            Some(CellOutcome {
                verdict: Verdict::Error,
                detail: Some("setup failed: applying NetworkPolicy deny: forbidden".into()),
            })
        );
        assert_eq!(diff.unchanged.passing, 1);
    }

    #[test]
    fn flaky_means_passed_on_a_retry_or_flapped_not_converged() {
        let with_attempts = |verdict, earlier: &[Verdict]| {
            let mut probe = probe(A, "client-0", verdict);
            probe.earlier_attempts = earlier.iter().copied().map(attempt).collect();
            probe.attempts = earlier.len() as u32 + 1;
            probe
        };
        use Verdict::{Fail, Flaky, Pass};
        assert!(is_flaky(&with_attempts(Flaky, &[Fail])));
        assert!(is_flaky(&with_attempts(Pass, &[Pass, Fail, Pass])));
        assert!(!is_flaky(&with_attempts(Pass, &[Fail, Fail, Pass, Pass])));
        assert!(!is_flaky(&with_attempts(Pass, &[])));
        assert!(!is_flaky(&with_attempts(Fail, &[Pass, Fail])));

        let baseline = run(vec![scenario("s", vec![with_attempts(Pass, &[Fail])])]);
        let current = run(vec![scenario(
            "s",
            vec![with_attempts(Pass, &[Pass, Fail, Pass])],
        )]);
        let diff = diff(&baseline, &current, DiffOptions::default());
        assert_eq!(names(&diff.newly_flaky), [A]);
        assert_eq!(
            diff.newly_flaky[0]
                .after
                .as_ref()
                .unwrap()
                .detail
                .as_deref(),
            Some(
                "cnicheck-x/client-0 on node-1 -> 10.244.1.5:9000 (server-0): attempts \
                 pass, timeout, pass, pass"
            )
        );
    }

    #[test]
    fn the_json_form_names_every_list() {
        let diff = diff(&run(Vec::new()), &run(Vec::new()), DiffOptions::default());
        let json = serde_json::to_value(&diff).unwrap();
        for key in [
            "format_version",
            "baseline",
            "current",
            "regressed",
            "newly_skipped",
            "newly_flaky",
            "fixed",
            "added",
            "removed",
            "unchanged",
        ] {
            assert!(json.get(key).is_some(), "{key} missing");
        }
        let back: ReportDiff = serde_json::from_value(json).unwrap();
        assert_eq!(back, diff);
        assert!(!diff.has_regressions());
    }

    #[test]
    fn a_passing_cell_is_slower_only_past_the_factor_and_the_floor_and_only_when_asked() {
        let timed = |cell: &str, latency_ms: f64| ProbeReport {
            latency_ms: Some(latency_ms),
            ..probe(cell, "client-0", Verdict::Pass)
        };
        let baseline = run(vec![scenario(
            "s",
            vec![
                timed("s::p::a", 0.2),
                timed("s::p::b", 0.2),
                timed("s::p::c", 0.01),
            ],
        )]);
        let current = run(vec![scenario(
            "s",
            vec![
                timed("s::p::a", 2.0),
                timed("s::p::b", 0.5),
                timed("s::p::c", 0.4),
            ],
        )]);
        let options = DiffOptions {
            latency_factor: Some(3.0),
        };
        let diff = super::diff(&baseline, &current, options);
        // b grew 2.5x; c grew 40x but by less than the floor.
        assert_eq!(
            diff.slower,
            [LatencyChange {
                scenario: "s".into(),
                cell: "s::p::a".into(),
                before_ms: 0.2,
                after_ms: 2.0,
            }]
        );
        assert!(diff.has_regressions());
        let unasked = super::diff(&baseline, &current, DiffOptions::default());
        assert!(unasked.slower.is_empty() && !unasked.has_regressions());
    }
}
