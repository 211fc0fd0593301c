//! The exit code of a run, decided from its report, and of `cnicheck diff`, from the diff.

use super::diff::ReportDiff;
use super::model::RunReport;

/// The server-side dry run rejected a manifest, so nothing was deployed: a bad scenario file,
/// found by the API server. The same code as a bad scenario file found offline.
pub const MANIFESTS_REJECTED: i32 = 1;
/// Every probe that ran passed (flaky passes count, skips are fine).
pub const SUCCESS: i32 = 0;
/// Nothing was checked: every scenario and probe was skipped (or none was selected). Not a
/// success, because a green CI job that checked nothing is the kind of trust cnicheck must not
/// give away; scripts that accept it can test for 4.
pub const NO_PROBES_RAN: i32 = 4;
/// At least one probe observed something other than expected: the network (or the
/// expectation) is wrong. Takes precedence over errors, because it is a definite finding.
pub const PROBES_FAILED: i32 = 100;
/// No failure, but something could not be judged: a scenario's setup failed, or a probe could
/// not run (exec failed, agent gone, bad interface). The cluster's health is unknown; look at the
/// errors before trusting the run.
pub const PROBES_ERRORED: i32 = 102;

/// The exit code for a finished run, in the spirit of cargo-nextest's semantic codes:
///
/// | code | meaning |
/// | --- | --- |
/// | 0 | [`SUCCESS`]: every probe that ran passed (flaky counts as passed, skips are fine) |
/// | 1 | [`MANIFESTS_REJECTED`]: a manifest failed the preflight dry run; nothing ran |
/// | 4 | [`NO_PROBES_RAN`]: nothing was checked |
/// | 100 | [`PROBES_FAILED`]: at least one probe failed (errors may also have happened) |
/// | 102 | [`PROBES_ERRORED`]: no failure, but setup errors or probe errors |
///
/// Codes left to the command line: 2 for usage errors (clap's), 1 also for errors before any
/// report exists (no cluster, unreadable scenarios). 101 is never used on purpose: it is what a Rust
/// panic exits with, and a crash must not read as a finding.
pub fn exit_code(report: &RunReport) -> i32 {
    let tally = report.tally();
    if report.preflight_rejected() {
        MANIFESTS_REJECTED
    } else if tally.failed > 0 {
        PROBES_FAILED
    } else if tally.errors > 0 || tally.setup_errors > 0 {
        PROBES_ERRORED
    } else if tally.passed + tally.flaky == 0 {
        NO_PROBES_RAN
    } else {
        SUCCESS
    }
}

/// `cnicheck diff`: a cell that passed in the baseline fails or errors now. The same number as
/// [`PROBES_FAILED`]: a definite finding, which is what 100 means throughout.
pub const REGRESSIONS: i32 = 100;

/// The exit code of `cnicheck diff`: [`REGRESSIONS`] when something that passed does not any
/// more, else [`SUCCESS`]. New skips, new flakes, removed cells and cells that were already
/// failing are reported but do not count: the run's own exit code covers what fails now.
/// An unreadable report is 1, like any input cnicheck cannot work with.
pub fn diff_exit_code(diff: &ReportDiff) -> i32 {
    if diff.has_regressions() {
        REGRESSIONS
    } else {
        SUCCESS
    }
}
