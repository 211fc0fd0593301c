//! Reading scenario and manifest files from disk: regular files only, never more than
//! [`MAX_FILE_BYTES`], and UTF-8 (an invalid byte gets its line and column).
//!
//! A FIFO would block `open` and `read` forever and a device may never end, so the file type is
//! checked before opening, and again on the open file (the path may have changed in between);
//! the open itself never waits (`O_NONBLOCK`).

use super::ScenarioError;
use super::error::{Diagnostic, Position};
use std::fs::{Metadata, OpenOptions};
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

/// The most a scenario or manifest file may hold. Real ones are a few KB; the cap keeps a wrong
/// path (a log, an image, `/dev/zero`) from eating memory.
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// The text of the regular file at `path`, named `path` as given in errors.
pub(crate) fn read_text(path: &Path) -> Result<String, ScenarioError> {
    let name = path.display().to_string();
    let read_error = |source| ScenarioError::Read {
        path: path.to_owned(),
        source,
    };
    check_file(&name, &std::fs::metadata(path).map_err(read_error)?)?;
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(read_error)?;
    check_file(&name, &file.metadata().map_err(read_error)?)?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(read_error)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(too_large(&name));
    }
    decode(&name, bytes)
}

fn check_file(name: &str, metadata: &Metadata) -> Result<(), ScenarioError> {
    let kind = metadata.file_type();
    let what = if kind.is_file() {
        if metadata.len() > MAX_FILE_BYTES {
            return Err(too_large(name));
        }
        return Ok(());
    } else if kind.is_dir() {
        "a directory"
    } else if kind.is_fifo() {
        "a FIFO (named pipe)"
    } else if kind.is_char_device() || kind.is_block_device() {
        "a device"
    } else if kind.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    };
    Err(file_error(
        name,
        format!("{what}, not a regular file"),
        "cnicheck reads only regular files; name a YAML file",
    ))
}

fn too_large(name: &str) -> ScenarioError {
    file_error(
        name,
        format!(
            "larger than {MAX_FILE_BYTES} bytes (1 MiB), the most a scenario or manifest file may hold"
        ),
        "split it into several files, or check that this is the file you meant",
    )
}

fn file_error(name: &str, message: String, hint: &str) -> ScenarioError {
    ScenarioError::Invalid(Box::new(Diagnostic::new(
        name,
        "",
        Position::UNKNOWN,
        message,
        Some(hint.to_owned()),
    )))
}

/// `bytes` as text, or an error at the first byte that is not UTF-8.
pub(crate) fn decode(name: &str, bytes: Vec<u8>) -> Result<String, ScenarioError> {
    String::from_utf8(bytes).map_err(|error| {
        let valid_up_to = error.utf8_error().valid_up_to();
        let bytes = error.as_bytes();
        let valid = std::str::from_utf8(&bytes[..valid_up_to]).unwrap_or_default();
        let line_start = valid.rfind('\n').map_or(0, |newline| newline + 1);
        let line = valid.matches('\n').count() as u64 + 1;
        let column = valid[line_start..].chars().count() as u64 + 1;
        // The snippet shows the line up to the bad byte: what follows may be anything.
        let at = Position {
            line,
            column,
            byte_offset: Some(valid_up_to as u64),
            width: 1,
        };
        ScenarioError::Syntax(Box::new(Diagnostic::new(
            name,
            valid,
            at,
            format!(
                "not UTF-8 text: byte 0x{:02x} is not valid UTF-8",
                bytes[valid_up_to]
            ),
            Some("save the file as UTF-8 (is it a YAML file at all?)".to_owned()),
        )))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_utf8_is_located() {
        let error = decode("m.yaml", b"a: 1\nbb: \xc3x\xff\n".to_vec()).unwrap_err();
        let text = error.to_string();
        assert!(
            text.starts_with("m.yaml:2:5: not UTF-8 text: byte 0xc3"),
            "{text}"
        );
        assert!(text.contains("hint: save the file as UTF-8"), "{text}");
        assert!(text.ends_with("2 | bb: \n  |     ^"), "{text}");
    }

    #[test]
    fn devices_and_directories_are_refused_without_blocking() {
        for (path, what) in [("/dev/zero", "a device"), ("/tmp", "a directory")] {
            let error = read_text(Path::new(path)).unwrap_err().to_string();
            assert!(
                error.starts_with(&format!("{path}: {what}, not a regular file")),
                "{error}"
            );
            assert!(error.contains("hint: "), "{error}");
        }
    }
}
