//! Reporters: the console, the progress bar, libtest's output, and the JUnit and JSON files,
//! each an [`crate::events::EventSink`] of the run; and the comparison of two reports
//! ([`diff`]).
//!
//! The runner produces the events and the final [`model::RunReport`]; reporters only render
//! them, so a report read back from `--json` renders exactly like a live one.

pub mod console;
pub mod diff;
pub mod failure;
pub mod file;
pub mod json;
pub mod junit;
pub mod latency;
pub mod libtest;
pub mod model;
mod palette;
pub mod progress;
pub mod text;
pub mod truth_table;

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot render the report as JSON: {0}")]
    EncodeJson(#[source] serde_json::Error),
    #[error("{path} is not a cnicheck JSON report: {source}")]
    DecodeJson {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error(
        "{path} has report format {found}, but this cnicheck reads format {supported} at most: \
         use a newer cnicheck"
    )]
    UnsupportedFormat {
        path: PathBuf,
        found: u32,
        supported: u32,
    },
    #[error("cannot render the JUnit report: {0}")]
    Junit(#[from] quick_junit::SerializeError),
}
