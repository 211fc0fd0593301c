//! `cnicheck diff` for people: the two runs, each kind of change in order of importance
//! (regressions first), and the counts.

use crate::report::diff::{CellChange, CellOutcome, ReportDiff, RunSummary};
use crate::report::latency;
use crate::report::model::Verdict;
use crate::report::palette::{Palette, Style, VERDICT_WIDTH, WRITE_TO_STRING, plural};
use std::fmt::{self, Write as _};

/// `cnicheck diff` for people: the two runs, each kind of change in order of importance
/// (regressions first), and the counts.
pub fn render_diff(diff: &ReportDiff, colors: bool) -> String {
    let mut out = String::new();
    write_diff(&mut out, diff, Palette { enabled: colors }).expect(WRITE_TO_STRING);
    out
}

pub(super) fn write_diff(out: &mut String, diff: &ReportDiff, palette: Palette) -> fmt::Result {
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
    if let Some(factor) = diff.latency_factor
        && !diff.slower.is_empty()
    {
        let heading = format!(
            "Slower: passing, but latency grew more than {factor}x ({})",
            diff.slower.len()
        );
        writeln!(out, "{}", palette.paint(Style::Heading, &heading))?;
        for change in &diff.slower {
            writeln!(
                out,
                "  {} {}: median {} -> {} ({:.1}x)",
                palette.paint(Style::Fail, &format!("{:>VERDICT_WIDTH$}", "SLOW")),
                change.cell,
                latency::milliseconds(change.before_ms),
                latency::milliseconds(change.after_ms),
                change.after_ms / change.before_ms
            )?;
        }
        writeln!(out)?;
    }
    let regressed = plural(diff.regressed.len(), "regression", "regressions");
    let regressed = if diff.regressed.is_empty() {
        regressed
    } else {
        palette.paint(Style::Fail, &regressed)
    };
    let regressed = match diff.latency_factor {
        Some(_) if !diff.slower.is_empty() => format!(
            "{regressed}, {}",
            palette.paint(Style::Fail, &format!("{} slower", diff.slower.len()))
        ),
        Some(_) => format!("{regressed}, 0 slower"),
        None => regressed,
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
pub(super) fn describe_run(run: &RunSummary) -> String {
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
pub(super) fn write_changes(
    out: &mut String,
    changes: &[CellChange],
    palette: Palette,
) -> fmt::Result {
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

pub(super) fn verdict_word(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Pass => "pass",
        Verdict::Flaky => "flaky",
        Verdict::Fail => "fail",
        Verdict::Error => "error",
        Verdict::Skip => "skip",
    }
}
