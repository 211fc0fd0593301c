//! `cnicheck diff BASELINE CURRENT`: what changed between two runs' JSON reports (see
//! [`cnicheck::report::diff`]), for people or as JSON.

use cnicheck::exit_code;
use cnicheck::report::{self, console, diff::ReportDiff};
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
    let diff = report::diff::diff(&baseline, &current);
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
        DiffFormat::Json => println!("{}", report::json::to_string(diff)?),
    }
    Ok(())
}
