//! `--json`: the [`RunReport`] (or a [`super::diff::ReportDiff`]) as pretty JSON, and reading a
//! report back for `cnicheck diff`.

use super::ReportError;
use super::model::{REPORT_FORMAT_VERSION, RunReport};
use serde::{Deserialize, Serialize};
use std::path::Path;

pub fn to_string(value: &impl Serialize) -> Result<String, ReportError> {
    serde_json::to_string_pretty(value).map_err(ReportError::EncodeJson)
}

pub fn write(report: &RunReport, path: &Path) -> Result<(), ReportError> {
    let mut text = to_string(report)?;
    text.push('\n');
    std::fs::write(path, text).map_err(|source| ReportError::Write {
        path: path.to_owned(),
        source,
    })
}

/// Reads a report written by this or an older cnicheck. A newer format is refused rather than
/// half-read, because silently dropping fields would make a diff lie.
pub fn read(path: &Path) -> Result<RunReport, ReportError> {
    let text = std::fs::read_to_string(path).map_err(|source| ReportError::Read {
        path: path.to_owned(),
        source,
    })?;
    let decode_error = |source| ReportError::DecodeJson {
        path: path.to_owned(),
        source,
    };
    // The version is checked before the rest so a newer report gets the helpful error, not a
    // complaint about a field this version does not know.
    let version: FormatVersion = serde_json::from_str(&text).map_err(decode_error)?;
    if version.format_version > REPORT_FORMAT_VERSION {
        return Err(ReportError::UnsupportedFormat {
            path: path.to_owned(),
            found: version.format_version,
            supported: REPORT_FORMAT_VERSION,
        });
    }
    serde_json::from_str(&text).map_err(decode_error)
}

#[derive(Deserialize)]
struct FormatVersion {
    format_version: u32,
}
