//! The report files (`--junit`, `--json`) as a run's [`EventSink`]: written once, when the
//! report is final. A run that did not finish (interrupted, the cluster gone) writes none, so a
//! file on disk is always a whole run.

use super::{json, junit};
use crate::events::{EventSink, RunEvent};
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    Junit,
    Json,
}

pub struct ReportFile {
    pub format: FileFormat,
    pub path: PathBuf,
}

impl EventSink for ReportFile {
    fn event(&self, event: RunEvent<'_>) {
        let RunEvent::RunFinished { report } = event else {
            return;
        };
        let written = match self.format {
            FileFormat::Junit => junit::write(report, &self.path),
            FileFormat::Json => json::write(report, &self.path),
        };
        // The run's verdicts stand without the file; the console still shows them.
        if let Err(error) = written {
            eprintln!("cnicheck: {error}");
        }
    }
}
