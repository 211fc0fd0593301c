//! Every exit code cnicheck returns, in one place, in the spirit of cargo-nextest's semantic
//! codes:
//!
//! | code | meaning |
//! | --- | --- |
//! | 0 | [`SUCCESS`]: every probe that ran passed (flaky counts as passed, skips are fine); `diff`: no regression |
//! | 1 | [`TOOL_ERROR`]: cnicheck could not do its job: bad scenario files (offline, or a manifest the preflight dry run rejected, so nothing ran), unreadable reports, no cluster |
//! | 2 | [`USAGE`]: a command line that cannot work (clap uses it too) |
//! | 4 | [`NO_PROBES_RAN`]: nothing was checked |
//! | 100 | [`PROBES_FAILED`]: at least one probe failed (errors may also have happened); `diff`: a regression |
//! | 102 | [`PROBES_ERRORED`]: no failure, but setup errors or probe errors |
//! | 130, 143 | [`INTERRUPTED`], [`TERMINATED`]: stopped by SIGINT or SIGTERM |
//!
//! 101 is never used on purpose: it is what a Rust panic exits with, and a crash must not read as
//! a finding.

use crate::report::diff::ReportDiff;
use crate::report::model::RunReport;

/// Every probe that ran passed, or `cnicheck diff` found no regression.
pub const SUCCESS: u8 = 0;
/// cnicheck could not do its job, which is not a verdict about the cluster: bad input (scenario
/// files found bad offline, or a manifest the server-side dry run rejected, so nothing was
/// deployed), an unreadable report, a cluster that cannot be reached.
pub const TOOL_ERROR: u8 = 1;
/// A command line that cannot work.
pub const USAGE: u8 = 2;
/// Nothing was checked: every scenario and probe was skipped (or none was selected). Not a
/// success, because a green CI job that checked nothing is the kind of trust cnicheck must not
/// give away; scripts that accept it can test for 4.
pub const NO_PROBES_RAN: u8 = 4;
/// A definite finding: at least one probe observed something other than expected (the network,
/// or the expectation, is wrong), or for `cnicheck diff` a cell that passed in the baseline fails
/// or errors now. Takes precedence over errors.
pub const PROBES_FAILED: u8 = 100;
/// No failure, but something could not be judged: a scenario's setup failed, or a probe could
/// not run (exec failed, agent gone, bad interface). The cluster's health is unknown; look at the
/// errors before trusting the run.
pub const PROBES_ERRORED: u8 = 102;
/// Stopped by Ctrl-C (SIGINT), as a shell reports it: 128 + 2.
pub const INTERRUPTED: u8 = 130;
/// Stopped by SIGTERM: 128 + 15.
pub const TERMINATED: u8 = 143;

/// The exit code for a finished run, decided from its report.
pub fn for_run(report: &RunReport) -> u8 {
    let tally = report.tally();
    if report.preflight_rejected() {
        TOOL_ERROR
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

/// The exit code of `cnicheck diff`: [`PROBES_FAILED`] when something that passed does not any
/// more, else [`SUCCESS`]. New skips, new flakes, removed cells and cells that were already
/// failing are reported but do not count: the run's own exit code covers what fails now.
pub fn for_diff(diff: &ReportDiff) -> u8 {
    if diff.has_regressions() {
        PROBES_FAILED
    } else {
        SUCCESS
    }
}
