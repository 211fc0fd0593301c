//! Console output: one line per finished probe while the run goes, then a summary that makes
//! every failure actionable without another tool.
//!
//! Progress is plain lines rather than a progress bar: they read the same in a terminal and in
//! a CI log, and each finished probe stays on record. Everything renders into a `String` first,
//! so the output is tested as text.

use super::diff::{CellChange, CellOutcome, ReportDiff, RunSummary};
use super::model::{
    ComponentInfo, PreflightCheck, ProbeReport, Reach, RunReport, ScenarioReport, Verdict,
};
use super::text::single_line;
use crate::events::{EventSink, RunEvent};
use std::fmt::{self, Write as _};
use std::io::{self, IsTerminal, Write};
use std::sync::Mutex;

/// Live progress and the final summary, written to `out` (stderr in the binary: stdout belongs
/// to the test runner's machine-readable output).
pub struct Console<W> {
    out: W,
    palette: Palette,
}

/// The console as a run's [`EventSink`]: the preflight's result, then a line per finished
/// probe and per scenario that ran none, as they come from concurrent scenarios.
pub struct ConsoleReporter<W> {
    console: Mutex<Console<W>>,
}

impl<W> ConsoleReporter<W> {
    pub fn new(console: Console<W>) -> Self {
        ConsoleReporter {
            console: Mutex::new(console),
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

/// The block that says everything about one failed or errored probe, uncolored (JUnit puts it
/// in the failure's text).
pub fn failure_block(probe: &ProbeReport) -> String {
    let mut out = String::new();
    write_failure_block(&mut out, probe, Palette { enabled: false }).expect(WRITE_TO_STRING);
    out
}

/// Failures and errors with truth tables for failed matrices, flaky probes, skipped scenarios,
/// and the counts.
pub fn render_summary(report: &RunReport, colors: bool) -> String {
    let mut out = String::new();
    write_summary(&mut out, report, Palette { enabled: colors }).expect(WRITE_TO_STRING);
    out
}

/// `cnicheck diff` for people: the two runs, each kind of change in order of importance
/// (regressions first), and the counts.
pub fn render_diff(diff: &ReportDiff, colors: bool) -> String {
    let mut out = String::new();
    write_diff(&mut out, diff, Palette { enabled: colors }).expect(WRITE_TO_STRING);
    out
}

const WRITE_TO_STRING: &str = "writing to a String cannot fail";

/// Progress lines align their names behind the longest verdict label (`ERROR`, `FLAKY`).
const VERDICT_WIDTH: usize = 5;

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
                    attempts.join(", ")
                }
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
        // A table shows reach; results that expect none (an image, a readiness) get none.
        let has_reach = group
            .probes
            .iter()
            .any(|probe| probe.expected_reach != Reach::Unknown);
        if group.probes.len() > 1 && has_reach {
            write_truth_tables(out, scenario, &group, wrong.len(), palette)?;
        }
        for probe in wrong {
            write_failure_block(out, probe, palette)?;
            writeln!(out)?;
        }
    }
    Ok(())
}

fn write_failure_block(out: &mut String, probe: &ProbeReport, palette: Palette) -> fmt::Result {
    writeln!(out, "{} {}", palette.verdict(probe.verdict, 0), probe.name)?;
    writeln!(out, "    from:      {}", probe.from)?;
    // Built-in checks' results may have no target (readiness) or no address (an image).
    match (probe.to.is_empty(), probe.target_address.is_empty()) {
        (true, _) => {}
        (false, true) => writeln!(out, "    to:        {}", probe.to)?,
        (false, false) => writeln!(
            out,
            "    to:        {} at {}",
            probe.to, probe.target_address
        )?,
    }
    writeln!(out, "    protocol:  {}", protocol_and_port(probe))?;
    writeln!(out, "    expected:  {}", probe.expected)?;
    writeln!(out, "    observed:  {}", single_line(&probe.observed))?;
    if !probe.earlier_attempts.is_empty() {
        let earlier = earlier_observations(probe);
        writeln!(
            out,
            "    attempts:  {} (before the last: {})",
            probe.attempts,
            earlier.join(", ")
        )?;
    }
    let why = probe.message.clone().unwrap_or_else(|| {
        format!(
            "expected {}, but observed {}",
            probe.expected, probe.observed
        )
    });
    writeln!(out, "    why:       {}", single_line(&why))?;
    writeln!(out, "    reproduce: {}", probe.reproduce)
}

fn protocol_and_port(probe: &ProbeReport) -> String {
    match probe.port {
        Some(port) => format!("{}/{port}", probe.protocol),
        None => probe.protocol.clone(),
    }
}

/// The probes of one phase of a scenario that share a protocol and port: the cells of one
/// `from` x `to` matrix.
struct ProbeGroup<'a> {
    phase: &'a str,
    protocol: String,
    probes: Vec<&'a ProbeReport>,
}

fn probe_groups(probes: &[ProbeReport]) -> Vec<ProbeGroup<'_>> {
    let mut groups: Vec<ProbeGroup> = Vec::new();
    for probe in probes {
        let protocol = protocol_and_port(probe);
        match groups
            .iter_mut()
            .find(|group| group.phase == probe.phase && group.protocol == protocol)
        {
            Some(group) => group.probes.push(probe),
            None => groups.push(ProbeGroup {
                phase: &probe.phase,
                protocol,
                probes: vec![probe],
            }),
        }
    }
    groups
}

/// Expected, observed and diff tables in the style of the Kubernetes netpol e2e suite: rows are
/// sources, columns are targets (numbered, with a legend, since target names are long).
fn write_truth_tables(
    out: &mut String,
    scenario: &ScenarioReport,
    group: &ProbeGroup,
    wrong: usize,
    palette: Palette,
) -> fmt::Result {
    let rows = distinct(group.probes.iter().map(|probe| probe.from.as_str()));
    let columns = distinct(
        group
            .probes
            .iter()
            .map(|probe| (probe.to.as_str(), probe.target_address.as_str())),
    );
    let cell = |row: &str, column: (&str, &str)| {
        group.probes.iter().rev().copied().find(|probe| {
            probe.from == row && (probe.to.as_str(), probe.target_address.as_str()) == column
        })
    };
    writeln!(
        out,
        "{} {} / {}: {}: {wrong} of {} cells wrong",
        palette.paint(Style::Heading, "Matrix"),
        scenario.name,
        group.phase,
        group.protocol,
        group.probes.len()
    )?;
    let column_width = columns.len().to_string().len() + 2;
    for (number, (to, address)) in columns.iter().enumerate() {
        let at = if address.is_empty() {
            String::new()
        } else {
            format!(" at {address}")
        };
        writeln!(out, "    {:>column_width$} = {to}{at}", number + 1)?;
    }
    let row_width = rows
        .iter()
        .map(|row| row.chars().count())
        .max()
        .unwrap_or(0);
    let tables: [(&str, CellSymbol); 3] = [
        ("expected", |probe| reach_symbol(probe.expected_reach)),
        ("observed", observed_symbol),
        ("diff", diff_symbol),
    ];
    for (title, symbol) in tables {
        writeln!(out, "  {title}:")?;
        write!(out, "    {:row_width$}", "")?;
        for number in 1..=columns.len() {
            write!(out, "{number:>column_width$}")?;
        }
        writeln!(out)?;
        for row in &rows {
            write!(out, "    {row:row_width$}")?;
            for column in &columns {
                let symbol = cell(row, *column).map_or(' ', symbol);
                let padding = " ".repeat(column_width - 1);
                write!(out, "{padding}{}", palette.symbol(symbol))?;
            }
            writeln!(out)?;
        }
    }
    writeln!(
        out,
        "  . reached   X blocked   ? unclear   ! wrong   E error   - not run"
    )?;
    writeln!(out)
}

/// How a table shows one probe.
type CellSymbol = fn(&ProbeReport) -> char;

fn distinct<T: PartialEq>(items: impl Iterator<Item = T>) -> Vec<T> {
    let mut seen = Vec::new();
    for item in items {
        if !seen.contains(&item) {
            seen.push(item);
        }
    }
    seen
}

fn reach_symbol(reach: Reach) -> char {
    match reach {
        Reach::Reached => '.',
        Reach::Blocked => 'X',
        Reach::Unknown => '?',
    }
}

fn observed_symbol(probe: &ProbeReport) -> char {
    match probe.verdict {
        Verdict::Error => 'E',
        Verdict::Skip => '-',
        Verdict::Pass | Verdict::Flaky | Verdict::Fail => reach_symbol(probe.observed_reach),
    }
}

fn diff_symbol(probe: &ProbeReport) -> char {
    match probe.verdict {
        Verdict::Pass | Verdict::Flaky => '.',
        Verdict::Fail => '!',
        Verdict::Error => 'E',
        Verdict::Skip => '-',
    }
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

fn write_diff(out: &mut String, diff: &ReportDiff, palette: Palette) -> fmt::Result {
    writeln!(out, "baseline: {}", describe_run(&diff.baseline))?;
    writeln!(out, "current:  {}", describe_run(&diff.current))?;
    writeln!(out)?;
    let sections: [(&str, &[CellChange]); 6] = [
        ("Regressions: passed before, not now", &diff.regressed),
        ("New skips", &diff.newly_skipped),
        ("New flakes", &diff.newly_flaky),
        ("Fixed", &diff.fixed),
        ("Added", &diff.added),
        ("Removed", &diff.removed),
    ];
    for (title, changes) in sections {
        if changes.is_empty() {
            continue;
        }
        let heading = format!("{title} ({})", changes.len());
        writeln!(out, "{}", palette.paint(Style::Heading, &heading))?;
        write_changes(out, changes, palette)?;
        writeln!(out)?;
    }
    let regressed = plural(diff.regressed.len(), "regression", "regressions");
    let regressed = if diff.regressed.is_empty() {
        regressed
    } else {
        palette.paint(Style::Fail, &regressed)
    };
    let unchanged = diff.unchanged;
    writeln!(
        out,
        "{} {regressed}, {} newly skipped, {} newly flaky, {} fixed, {} added, {} removed; \
         unchanged: {} passing, {} flaky, {} failing, {} skipped",
        palette.paint(Style::Heading, "Diff"),
        diff.newly_skipped.len(),
        diff.newly_flaky.len(),
        diff.fixed.len(),
        diff.added.len(),
        diff.removed.len(),
        unchanged.passing,
        unchanged.flaky,
        unchanged.failing,
        unchanged.skipped,
    )
}

/// `started 2026-11-22T10:00:00Z, cnicheck 0.1.0, Kubernetes v1.34.4, 2 nodes, cilium v1.17.6`.
fn describe_run(run: &RunSummary) -> String {
    let cluster = &run.cluster;
    let cni = match &cluster.cni_version {
        Some(version) => format!("{} {version}", cluster.cni),
        None => cluster.cni.clone(),
    };
    format!(
        "started {}, cnicheck {}, Kubernetes {}, {}, CNI {cni}",
        run.started_at,
        run.cnicheck_version,
        cluster.server_version,
        plural(cluster.nodes as usize, "node", "nodes"),
    )
}

/// One line per cell, labelled with its verdict now and saying what it was; the detail under a
/// run of cells that share it (a failed setup fails a scenario's cells alike).
fn write_changes(out: &mut String, changes: &[CellChange], palette: Palette) -> fmt::Result {
    fn shown(change: &CellChange) -> Option<&CellOutcome> {
        change.after.as_ref().or(change.before.as_ref())
    }
    let detail = |change: &CellChange| shown(change).and_then(|outcome| outcome.detail.clone());
    for (index, change) in changes.iter().enumerate() {
        let Some(outcome) = shown(change) else {
            continue;
        };
        let was = match (&change.before, &change.after) {
            (Some(before), Some(_)) => format!("was {}", verdict_word(before.verdict)),
            (None, _) => "new".to_owned(),
            (Some(_), None) => "not in the current run".to_owned(),
        };
        writeln!(
            out,
            "  {} {} ({was})",
            palette.verdict(outcome.verdict, VERDICT_WIDTH),
            change.cell
        )?;
        let next_shares_detail = changes
            .get(index + 1)
            .is_some_and(|next| detail(next) == detail(change));
        if let Some(detail) = detail(change)
            && !next_shares_detail
        {
            writeln!(out, "  {:VERDICT_WIDTH$} {detail}", "")?;
        }
    }
    Ok(())
}

fn verdict_word(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Pass => "pass",
        Verdict::Flaky => "flaky",
        Verdict::Fail => "fail",
        Verdict::Error => "error",
        Verdict::Skip => "skip",
    }
}

fn plural(count: usize, one: &str, many: &str) -> String {
    format!("{count} {}", if count == 1 { one } else { many })
}

#[derive(Clone, Copy)]
struct Palette {
    enabled: bool,
}

#[derive(Clone, Copy)]
enum Style {
    Pass,
    Flaky,
    Fail,
    Error,
    Skip,
    Heading,
}

impl Style {
    fn sgr(self) -> &'static str {
        match self {
            Style::Pass => "32",
            Style::Flaky => "33",
            Style::Fail => "1;31",
            Style::Error => "1;35",
            Style::Skip => "2",
            Style::Heading => "1",
        }
    }
}

impl Palette {
    fn paint(self, style: Style, text: &str) -> String {
        if self.enabled {
            format!("\x1b[{}m{text}\x1b[0m", style.sgr())
        } else {
            text.to_owned()
        }
    }

    /// The verdict as a label right-aligned in `width`; padded before painting so escapes
    /// don't count.
    fn verdict(self, verdict: Verdict, width: usize) -> String {
        let (label, style) = match verdict {
            Verdict::Pass => ("PASS", Style::Pass),
            Verdict::Flaky => ("FLAKY", Style::Flaky),
            Verdict::Fail => ("FAIL", Style::Fail),
            Verdict::Error => ("ERROR", Style::Error),
            Verdict::Skip => ("SKIP", Style::Skip),
        };
        self.paint(style, &format!("{label:>width$}"))
    }

    fn symbol(self, symbol: char) -> String {
        match symbol {
            '!' => self.paint(Style::Fail, "!"),
            'E' => self.paint(Style::Error, "E"),
            other => other.to_string(),
        }
    }
}

/// What the attempts before the last one observed, one line each.
fn earlier_observations(probe: &ProbeReport) -> Vec<String> {
    probe
        .earlier_attempts
        .iter()
        .map(|attempt| single_line(&attempt.observed))
        .collect()
}
