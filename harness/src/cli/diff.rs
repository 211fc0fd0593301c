//! `cnicheck diff BASELINE CURRENT`: what changed between two runs' JSON reports (see
//! [`cnicheck::report::diff`]), for people or as JSON.

use cnicheck::exit_code;
use cnicheck::report::diff::{DiffOptions, ReportDiff};
use cnicheck::report::{self, console};
use std::io;
use std::path::{Path, PathBuf};

#[derive(Debug, clap::Args)]
pub struct DiffArgs {
    /// JSON report (`cnicheck run --json`) of the earlier run, e.g. from before an upgrade.
    pub baseline: PathBuf,
    /// JSON report of the run to judge against it.
    pub current: PathBuf,
    /// `human` (on stdout, colored on a terminal) or `json` (the stable diff format).
    #[arg(long, value_enum, default_value = "human")]
    pub format: DiffFormat,
    /// Also a regression: a cell passing in both runs whose answers' median latency grew more
    /// than FACTOR times (and by at least 0.5 ms), e.g. 3. Off by default.
    #[arg(long, value_name = "FACTOR", value_parser = latency_factor)]
    pub latency_regression: Option<f64>,
}

#[derive(Debug, thiserror::Error)]
#[error("{0:?} is not a factor above 1 (3 flags cells at least three times slower)")]
struct NotAFactor(String);

fn latency_factor(text: &str) -> Result<f64, NotAFactor> {
    match text.parse::<f64>() {
        Ok(factor) if factor.is_finite() && factor > 1.0 => Ok(factor),
        _ => Err(NotAFactor(text.to_owned())),
    }
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum DiffFormat {
    Human,
    Json,
}

/// Exit 0 without regressions, 100 with, 1 when a report cannot be read.
pub fn diff(args: DiffArgs) -> u8 {
    // Both are read before giving up, so both problems are told at once.
    let (baseline, current) = (read(&args.baseline), read(&args.current));
    let (Some(baseline), Some(current)) = (baseline, current) else {
        return exit_code::TOOL_ERROR;
    };
    let options = DiffOptions {
        latency_factor: args.latency_regression,
    };
    let diff = report::diff::diff(&baseline, &current, options);
    if let Err(error) = print(&diff, args.format) {
        eprintln!("cnicheck diff: {error}");
        return exit_code::TOOL_ERROR;
    }
    exit_code::for_diff(&diff)
}

fn read(path: &Path) -> Option<report::model::RunReport> {
    report::json::read(path)
        .inspect_err(|error| eprintln!("cnicheck diff: {error}"))
        .ok()
}

fn print(diff: &ReportDiff, format: DiffFormat) -> Result<(), Box<dyn std::error::Error>> {
    let stdout = io::stdout();
    match format {
        DiffFormat::Human => {
            let colors = console::colors_wanted(&stdout);
            console::Console::new(stdout.lock(), colors).diff(diff)?;
        }
        DiffFormat::Json => super::print_output(&format!("{}\n", report::json::to_string(diff)?)),
    }
    Ok(())
}
