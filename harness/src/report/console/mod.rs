//! Console output: one line per finished probe while the run goes, then a summary that makes
//! every failure actionable without another tool.
//!
//! Progress is plain lines: they read the same in a terminal and in a CI log, and each finished
//! probe stays on record (in a terminal, [`super::progress`] keeps a bar under them). Everything
//! renders into a `String` first, so the output is tested as text.

mod changes;
mod truth_table;

pub use changes::render_diff;

use super::diff::ReportDiff;
use super::failure::{earlier_observations, write_failure_block};
use super::latency;
use super::model::{
    ComponentInfo, ObservationKind, PreflightCheck, ProbeReport, RunReport, ScenarioReport,
    StageTimes, Verdict,
};
use super::palette::{Palette, Style, VERDICT_WIDTH, WRITE_TO_STRING, plural};
use super::text::single_line;
use super::truth_table::{distinct, probe_groups};
use crate::events::{EventSink, RunEvent};
use std::fmt::{self, Write as _};
use std::io::{self, IsTerminal, Write};
use std::sync::Mutex;
use truth_table::write_truth_tables;

/// Live progress and the final summary, written to `out` (stderr in the binary: stdout belongs
/// to the test runner's machine-readable output).
pub struct Console<W> {
    out: W,
    palette: Palette,
}

/// The console as a run's [`EventSink`]: the preflight's result, then a line per finished
/// probe and per scenario that ran none, as they come from concurrent scenarios; the summary
/// when the run finishes, and what changed since the baseline if there is one.
pub struct ConsoleReporter<W> {
    console: Mutex<Console<W>>,
    baseline: Option<RunReport>,
}

impl<W> ConsoleReporter<W> {
    pub fn new(console: Console<W>, baseline: Option<RunReport>) -> Self {
        ConsoleReporter {
            console: Mutex::new(console),
            baseline,
        }
    }
}

impl<W: Write + Send> EventSink for ConsoleReporter<W> {
    fn event(&self, event: RunEvent<'_>) {
        let Ok(mut console) = self.console.lock() else {
            return;
        };
        // Progress that cannot be written (a closed stderr) must not stop the run.
        let _ = match event {
            RunEvent::PreflightFinished { checks } => console.preflight_finished(checks),
            RunEvent::ProbeFinished { probe } => console.probe_finished(probe),
            RunEvent::ScenarioFinished { scenario } => console.scenario_finished(scenario),
            RunEvent::RunFinished { report } => {
                console.run_finished(report, self.baseline.as_ref())
            }
            RunEvent::RunStarted { .. }
            | RunEvent::ScenarioStarted { .. }
            | RunEvent::PhaseFinished(_) => Ok(()),
        };
    }
}

impl Console<io::Stderr> {
    /// Colored when stderr is a terminal and `NO_COLOR` is unset or empty.
    pub fn stderr() -> Self {
        let stderr = io::stderr();
        let colors = colors_wanted(&stderr);
        Self::new(stderr, colors)
    }
}

impl<W: Write> Console<W> {
    pub fn new(out: W, colors: bool) -> Self {
        Console {
            out,
            palette: Palette { enabled: colors },
        }
    }

    pub fn probe_finished(&mut self, probe: &ProbeReport) -> io::Result<()> {
        writeln!(self.out, "{}", progress_line(probe, self.palette.enabled))
    }

    /// Says why a scenario ran no probes; scenarios that ran were already reported probe by probe.
    pub fn scenario_finished(&mut self, scenario: &ScenarioReport) -> io::Result<()> {
        let palette = self.palette;
        if let Some(error) = &scenario.setup_error {
            let label = palette.verdict(Verdict::Error, VERDICT_WIDTH);
            let error = single_line(error);
            writeln!(self.out, "{label} {}::setup: {error}", scenario.name)?;
        } else if let Some(reason) = &scenario.skipped {
            let label = palette.verdict(Verdict::Skip, VERDICT_WIDTH);
            let reason = single_line(reason);
            writeln!(self.out, "{label} {}: {reason}", scenario.name)?;
        }
        Ok(())
    }

    /// Rejected objects one line each, then what the dry run found in one line.
    pub fn preflight_finished(&mut self, checks: &[PreflightCheck]) -> io::Result<()> {
        self.out
            .write_all(render_preflight(checks, self.palette.enabled).as_bytes())
    }

    /// The summary, then what changed since `baseline`.
    pub fn run_finished(
        &mut self,
        report: &RunReport,
        baseline: Option<&RunReport>,
    ) -> io::Result<()> {
        self.summary(report)?;
        if let Some(baseline) = baseline {
            writeln!(self.out)?;
            self.diff(&super::diff::diff(
                baseline,
                report,
                super::diff::DiffOptions::default(),
            ))?;
        }
        Ok(())
    }

    pub fn summary(&mut self, report: &RunReport) -> io::Result<()> {
        self.out
            .write_all(render_summary(report, self.palette.enabled).as_bytes())
    }

    pub fn diff(&mut self, diff: &ReportDiff) -> io::Result<()> {
        self.out
            .write_all(render_diff(diff, self.palette.enabled).as_bytes())
    }
}

/// Whether to color output for `stream`: only a terminal, and never when `NO_COLOR` is set to
/// anything but the empty string (<https://no-color.org>).
pub fn colors_wanted(stream: &impl IsTerminal) -> bool {
    stream.is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|value| value.is_empty())
}

/// ` FAIL [   2.003s] NAME: expected allowed, observed timeout`.
pub fn progress_line(probe: &ProbeReport, colors: bool) -> String {
    let palette = Palette { enabled: colors };
    let detail = match probe.verdict {
        Verdict::Pass => String::new(),
        Verdict::Flaky => format!(" (passed on attempt {})", probe.attempts),
        Verdict::Fail | Verdict::Error => {
            let observed = single_line(&probe.observed);
            format!(": expected {}, observed {observed}", probe.expected)
        }
        Verdict::Skip => probe
            .message
            .as_ref()
            .map(|reason| format!(": {}", single_line(reason)))
            .unwrap_or_default(),
    };
    format!(
        "{} [{:>8.3}s] {}{detail}",
        palette.verdict(probe.verdict, VERDICT_WIDTH),
        probe.duration_secs,
        probe.name
    )
}

/// Failures and errors with truth tables for failed matrices, flaky probes, skipped scenarios,
/// and the counts.
pub fn render_summary(report: &RunReport, colors: bool) -> String {
    let mut out = String::new();
    write_summary(&mut out, report, Palette { enabled: colors }).expect(WRITE_TO_STRING);
    out
}

/// The preflight as [`Console::preflight_finished`] prints it.
pub fn render_preflight(checks: &[PreflightCheck], colors: bool) -> String {
    let palette = Palette { enabled: colors };
    let mut out = String::new();
    for check in checks.iter().filter(|check| check.verdict == Verdict::Fail) {
        let message = single_line(check.message.as_deref().unwrap_or_default());
        writeln!(
            out,
            "{} {}: {message}",
            palette.verdict(Verdict::Fail, VERDICT_WIDTH),
            check.name
        )
        .expect(WRITE_TO_STRING);
    }
    if !checks.is_empty() {
        writeln!(out, "{}", preflight_counts(checks)).expect(WRITE_TO_STRING);
    }
    out
}

/// `preflight: server-side dry run of 12 objects: 9 accepted, 2 rejected, 1 not served (...)`.
fn preflight_counts(checks: &[PreflightCheck]) -> String {
    let count = |verdict| checks.iter().filter(|c| c.verdict == verdict).count();
    let mut parts = vec![format!("{} accepted", count(Verdict::Pass))];
    let rejected = count(Verdict::Fail);
    if rejected > 0 {
        parts.push(format!("{rejected} rejected"));
    }
    let not_served: Vec<&str> = distinct(
        checks
            .iter()
            .filter(|check| check.verdict == Verdict::Skip)
            .map(|check| check.object.split('/').next().unwrap_or_default()),
    );
    if !not_served.is_empty() {
        parts.push(format!(
            "{} not served by the cluster ({})",
            count(Verdict::Skip),
            not_served.join(", ")
        ));
    }
    format!(
        "preflight: server-side dry run of {}: {}",
        plural(checks.len(), "object", "objects"),
        parts.join(", ")
    )
}

fn write_summary(out: &mut String, report: &RunReport, palette: Palette) -> fmt::Result {
    for check in report
        .preflight
        .iter()
        .filter(|check| check.verdict == Verdict::Fail)
    {
        writeln!(out, "{} {}", palette.verdict(Verdict::Fail, 0), check.name)?;
        writeln!(out, "    file:      {}", check.file)?;
        writeln!(out, "    object:    {}", check.object)?;
        let message = single_line(check.message.as_deref().unwrap_or_default());
        writeln!(out, "    why:       {message}")?;
        writeln!(out)?;
    }
    if report.preflight_rejected() {
        writeln!(
            out,
            "{}: the server-side dry run rejected a manifest; nothing was deployed",
            palette.paint(Style::Heading, "Preflight")
        )?;
    }
    for scenario in &report.scenarios {
        write_scenario_problems(out, scenario, palette)?;
    }
    if report.kept_namespaces {
        writeln!(
            out,
            "The run's namespaces {} were kept (--keep): `cnicheck cleanup --run {}` removes \
             them.\n",
            report.cluster.namespace, report.run_id
        )?;
    } else if all_probes(report).any(|probe| ran_in_run_pod(report, probe) && is_wrong(probe)) {
        writeln!(
            out,
            "The reproduce commands above exec into the run's pods, which were deleted with it: \
             rerun with --keep to keep them, then `cnicheck cleanup` to remove them.\n"
        )?;
    }
    let flaky: Vec<&ProbeReport> = all_probes(report)
        .filter(|probe| probe.verdict == Verdict::Flaky)
        .collect();
    if !flaky.is_empty() {
        writeln!(out, "{}", palette.paint(Style::Heading, "Flaky probes"))?;
        for probe in flaky {
            let attempts = earlier_observations(probe);
            writeln!(
                out,
                "{} {} (passed on attempt {}; before: {})",
                palette.verdict(Verdict::Flaky, VERDICT_WIDTH),
                probe.name,
                probe.attempts,
                if attempts.is_empty() {
                    "not recorded".into()
                } else {
                    attempts
                }
            )?;
        }
        writeln!(out)?;
    }
    // They pass `allowed` (the datagram got there), but the way back is broken.
    let replies_lost: Vec<&ProbeReport> = all_probes(report)
        .filter(|probe| probe.observed_kind == Some(ObservationKind::UdpReplyLost))
        .filter(|probe| matches!(probe.verdict, Verdict::Pass | Verdict::Flaky))
        .collect();
    if !replies_lost.is_empty() {
        writeln!(
            out,
            "{}: the datagram arrived, its echo never came back (a policy or firewall drops \
             the way back)",
            palette.paint(Style::Heading, "Delivered, reply lost")
        )?;
        for probe in replies_lost {
            let label = format!("{:>VERDICT_WIDTH$}", "LOST");
            writeln!(
                out,
                "{} {}",
                palette.paint(Style::Flaky, &label),
                probe.name
            )?;
        }
        writeln!(out)?;
    }
    write_counts(out, report, palette)
}

fn all_probes(report: &RunReport) -> impl Iterator<Item = &ProbeReport> {
    report
        .scenarios
        .iter()
        .flat_map(|scenario| &scenario.probes)
}

/// Whether `probe` came from one of the run's own pods (not, say, a Cilium agent a check asked).
fn ran_in_run_pod(report: &RunReport, probe: &ProbeReport) -> bool {
    let run_namespaces = report.cluster.namespace.trim_end_matches('*');
    !run_namespaces.is_empty() && probe.from.starts_with(run_namespaces)
}

fn is_wrong(probe: &ProbeReport) -> bool {
    matches!(probe.verdict, Verdict::Fail | Verdict::Error)
}

fn write_scenario_problems(
    out: &mut String,
    scenario: &ScenarioReport,
    palette: Palette,
) -> fmt::Result {
    if let Some(error) = &scenario.setup_error {
        writeln!(
            out,
            "{} {}::setup",
            palette.verdict(Verdict::Error, 0),
            scenario.name
        )?;
        writeln!(out, "    file:      {}", scenario.file)?;
        let error = single_line(error);
        writeln!(out, "    why:       the scenario's setup failed: {error}")?;
        writeln!(out)?;
    }
    for group in probe_groups(&scenario.probes) {
        let wrong: Vec<&ProbeReport> = group
            .probes
            .iter()
            .copied()
            .filter(|p| is_wrong(p))
            .collect();
        if wrong.is_empty() {
            continue;
        }
        if let Some(table) = scenario
            .truth_tables
            .iter()
            .find(|table| table.phase == group.phase && table.protocol == group.protocol)
        {
            write_truth_tables(out, scenario, table, palette)?;
        }
        for probe in wrong {
            write_failure_block(out, probe, palette)?;
            writeln!(out)?;
        }
    }
    Ok(())
}

/// `Cluster v1.34.4, 3 nodes, CNI cilium v1.17.6`, and Cilium's readiness and images.
fn write_cluster(out: &mut String, report: &RunReport, palette: Palette) -> fmt::Result {
    let cluster = &report.cluster;
    let cni = match &cluster.cni_version {
        Some(version) => format!("{} {version}", cluster.cni),
        None => cluster.cni.clone(),
    };
    writeln!(
        out,
        "{} {}, {}, CNI {cni}",
        palette.paint(Style::Heading, "Cluster"),
        cluster.server_version,
        plural(cluster.nodes as usize, "node", "nodes")
    )?;
    if let Some(cilium) = &cluster.cilium {
        let describe = |component: &ComponentInfo| {
            format!(
                "{} ({})",
                component.readiness(),
                component.images.join(", ")
            )
        };
        let operator = cilium
            .operator
            .as_ref()
            .map_or_else(|| "missing".into(), describe);
        writeln!(
            out,
            "    cilium agent {}, operator {operator}",
            describe(&cilium.agent)
        )?;
        if let Some(encryption) = cilium.encryption_summary() {
            writeln!(out, "    cilium encryption: {encryption}")?;
        }
    }
    Ok(())
}

fn write_counts(out: &mut String, report: &RunReport, palette: Palette) -> fmt::Result {
    write_cluster(out, report, palette)?;
    let tally = report.tally();
    let mut scenarios = vec![plural(tally.scenarios_run, "scenario run", "scenarios run")];
    if tally.scenarios_skipped > 0 {
        scenarios.push(format!("{} skipped", tally.scenarios_skipped));
    }
    if tally.setup_errors > 0 {
        scenarios.push(plural(tally.setup_errors, "setup error", "setup errors"));
    }
    writeln!(
        out,
        "{} [{:>8.3}s] {}",
        palette.paint(Style::Heading, "Summary"),
        report.duration_secs,
        scenarios.join(", ")
    )?;
    let counts = [
        (tally.passed, "passed", Style::Pass),
        (tally.flaky, "flaky", Style::Flaky),
        (tally.failed, "failed", Style::Fail),
        (
            tally.errors,
            if tally.errors == 1 { "error" } else { "errors" },
            Style::Error,
        ),
        (tally.skipped, "skipped", Style::Skip),
    ];
    let counts: Vec<String> = counts
        .into_iter()
        .map(|(count, word, style)| {
            let text = format!("{count} {word}");
            if count > 0 {
                palette.paint(style, &text)
            } else {
                text
            }
        })
        .collect();
    writeln!(out, "    probes: {}", counts.join(", "))?;
    for figures in latency::by_path(all_probes(report)) {
        writeln!(
            out,
            "    latency {:<12} p50 {}, p99 {}, max {} ({})",
            figures.path.name(),
            latency::milliseconds(figures.p50_ms),
            latency::milliseconds(figures.p99_ms),
            latency::milliseconds(figures.max_ms),
            plural(figures.answers, "answer", "answers")
        )?;
    }
    let stages: Vec<&StageTimes> = report
        .scenarios
        .iter()
        .filter_map(|scenario| scenario.stages.as_ref())
        .collect();
    if !stages.is_empty() {
        let total = StageTimes::total(stages);
        writeln!(
            out,
            "    time by stage, summed over scenarios: setup {:.1}s, deploy {:.1}s, apply \
             {:.1}s, probing {:.1}s ({:.1}s until every probe matched), cleanup {:.1}s",
            total.setup_secs,
            total.deploy_secs,
            total.apply_secs,
            total.probe_secs,
            total.until_matched_secs,
            total.cleanup_secs
        )?;
    }
    for scenario in &report.scenarios {
        if let Some(reason) = &scenario.skipped {
            writeln!(
                out,
                "    skipped {}: {}",
                scenario.name,
                single_line(reason)
            )?;
        }
    }
    Ok(())
}
