//! The module's error type and how a diagnostic looks on screen.

use serde_saphyr::Location;
use std::borrow::Cow;
use std::fmt;
use std::io;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("{}: cannot read: {source}", printable(&path.display().to_string()))]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// Not YAML, or YAML that does not fit the format (unknown field, wrong type).
    #[error("{0}")]
    Syntax(Box<Diagnostic>),
    /// A well-formed file that does not make sense (unknown workload, impossible expectation).
    #[error("{0}")]
    Invalid(Box<Diagnostic>),
    /// The problems of a file past the first `shown`, counted rather than rendered.
    #[error(
        "{}: and {omitted} more problem(s) not shown (only the first {shown} of a file are)\n  hint: fix these and run `cnicheck validate` again",
        printable(file)
    )]
    TooManyErrors {
        file: String,
        shown: usize,
        omitted: usize,
    },
}

/// A message about one place in a scenario file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The file as the user named it (or `builtin/NAME.yaml`).
    pub file: String,
    /// 1-based; 0 when the parser could not tell.
    pub line: u64,
    pub column: u64,
    pub message: String,
    /// How to fix it.
    pub hint: Option<String>,
    /// The offending line with a caret under the spot; empty when the position is unknown.
    pub snippet: String,
}

/// A spot in a file: where the parser located something, or a position cnicheck computed (the
/// first byte that is not UTF-8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Position {
    /// 1-based; 0 when unknown.
    pub line: u64,
    pub column: u64,
    /// Where the line holding the spot starts, when known: finding it then costs one line, not
    /// the whole file (one error per line of a long file stays linear).
    pub byte_offset: Option<u64>,
    /// How many characters to underline.
    pub width: u64,
}

impl Position {
    pub const UNKNOWN: Position = Position {
        line: 0,
        column: 0,
        byte_offset: None,
        width: 0,
    };
}

impl From<Location> for Position {
    fn from(at: Location) -> Self {
        Position {
            line: at.line(),
            column: at.column(),
            byte_offset: at.span().byte_offset(),
            width: at.span().len(),
        }
    }
}

impl Diagnostic {
    pub(crate) fn new(
        file: &str,
        text: &str,
        at: impl Into<Position>,
        message: String,
        hint: Option<String>,
    ) -> Self {
        let at = at.into();
        Diagnostic {
            file: printable(file).into_owned(),
            line: at.line,
            column: at.column,
            message: printable(&message).into_owned(),
            hint: hint.as_deref().map(|hint| printable(hint).into_owned()),
            snippet: snippet(text, at),
        }
    }
}

/// Escapes control characters (`\n`, `\u{1b}`), so text from a file cannot drive the user's
/// terminal or forge output lines. Everything that prints names from scenario files should pass
/// them through this.
pub fn printable(text: &str) -> Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(
        text.chars()
            .map(|c| {
                if c.is_control() {
                    c.escape_debug().to_string()
                } else {
                    c.to_string()
                }
            })
            .collect(),
    )
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file, self.message)?;
        } else {
            write!(
                f,
                "{}:{}:{}: {}",
                self.file, self.line, self.column, self.message
            )?;
        }
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        if !self.snippet.is_empty() {
            write!(f, "\n{}", self.snippet)?;
        }
        Ok(())
    }
}

/// Renders the line at `at` with carets under the located text, rustc style:
///
/// ```text
///    |
/// 12 |         to: pod:sever
///    |             ^^^^^^^^^
/// ```
fn snippet(text: &str, at: Position) -> String {
    let Some(line) = line_at(text, at) else {
        return String::new();
    };
    // Columns and span lengths count characters, not bytes.
    let line_chars = line.chars().count();
    let start = usize::try_from(at.column.saturating_sub(1)).unwrap_or(line_chars);
    let start = start.min(line_chars);
    let width = usize::try_from(at.width)
        .unwrap_or(1)
        .clamp(1, (line_chars - start).max(1));
    let line = printable(line);
    let number = at.line.to_string();
    let gutter = " ".repeat(number.len());
    format!(
        "{gutter} |\n{number} | {line}\n{gutter} | {}{}",
        " ".repeat(start),
        "^".repeat(width)
    )
}

/// The text of the line `at` is on.
fn line_at(text: &str, at: Position) -> Option<&str> {
    if at.line == 0 {
        return None;
    }
    let from_offset = at
        .byte_offset
        .and_then(|offset| usize::try_from(offset).ok())
        .filter(|&offset| offset <= text.len() && text.is_char_boundary(offset))
        .map(|offset| {
            let start = text[..offset].rfind('\n').map_or(0, |newline| newline + 1);
            let end = text[offset..]
                .find('\n')
                .map_or(text.len(), |newline| offset + newline);
            text[start..end].trim_end_matches('\r')
        });
    from_offset.or_else(|| {
        let index = usize::try_from(at.line - 1).ok()?;
        text.lines().nth(index)
    })
}

/// `did you mean `X`?` for the candidate closest to `given`, if any is close enough to be a typo.
pub(crate) fn closest<'a>(
    given: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|candidate| (edit_distance(given, candidate), candidate))
        .filter(|(distance, candidate)| *distance <= (candidate.chars().count() / 3).max(1))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

/// A hint naming the closest candidate (if any) and listing all of them.
pub(crate) fn choose_from<'a>(
    given: &str,
    what: &str,
    candidates: impl IntoIterator<Item = &'a str> + Clone,
) -> String {
    // A hint stays short however many candidates there are.
    const LISTED: usize = 20;
    let mut listed: Vec<String> = Vec::new();
    let mut unlisted = 0usize;
    for candidate in candidates.clone() {
        if listed.len() < LISTED {
            listed.push(format!("`{candidate}`"));
        } else {
            unlisted += 1;
        }
    }
    let list = match (listed.is_empty(), unlisted) {
        (true, _) => "none".to_owned(),
        (false, 0) => listed.join(", "),
        (false, more) => format!("{} and {more} more", listed.join(", ")),
    };
    match closest(given, candidates) {
        Some(best) => format!("did you mean `{best}`? {what}: {list}"),
        None => format!("{what}: {list}"),
    }
}

/// Edit distance counting a swap of neighbours as one edit (`pdo` is one typo from `pod`).
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut table = vec![vec![0; b.len() + 1]; a.len() + 1];
    for (i, row) in table.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in table[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let substitution = table[i - 1][j - 1] + usize::from(a[i - 1] != b[j - 1]);
            let mut best = substitution
                .min(table[i - 1][j] + 1)
                .min(table[i][j - 1] + 1);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(table[i - 2][j - 2] + 1);
            }
            table[i][j] = best;
        }
    }
    table[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        assert_eq!(closest("sever", ["client", "server"]), Some("server"));
        assert_eq!(closest("replica", ["replicas", "labels"]), Some("replicas"));
        assert_eq!(closest("pdo", ["pod", "node"]), Some("pod"));
        assert_eq!(closest("xyz", ["client", "server"]), None);
    }

    #[test]
    fn lists_candidates() {
        assert_eq!(
            choose_from("sever", "workloads", ["client", "server"]),
            "did you mean `server`? workloads: `client`, `server`"
        );
        assert_eq!(choose_from("x", "workloads", []), "workloads: none");
        let many: Vec<String> = (0..25).map(|index| format!("w{index}")).collect();
        let hint = choose_from("zzz", "workloads", many.iter().map(String::as_str));
        assert!(hint.ends_with("`w19` and 5 more"), "{hint}");
    }
}
