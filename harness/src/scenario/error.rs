//! The module's error type and how a diagnostic looks on screen.

use serde_saphyr::Location;
use std::fmt;
use std::io;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("{}: cannot read: {source}", path.display())]
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

impl Diagnostic {
    pub(crate) fn new(
        file: &str,
        text: &str,
        at: Location,
        message: String,
        hint: Option<String>,
    ) -> Self {
        Diagnostic {
            file: file.to_owned(),
            line: at.line(),
            column: at.column(),
            message: printable(&message),
            hint: hint.as_deref().map(printable),
            snippet: snippet(text, at),
        }
    }
}

/// Escapes control characters, so text from the file cannot drive the user's terminal.
fn printable(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_debug().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
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
fn snippet(text: &str, at: Location) -> String {
    let Some(line) = usize::try_from(at.line())
        .ok()
        .and_then(|line| line.checked_sub(1))
        .and_then(|index| text.lines().nth(index))
    else {
        return String::new();
    };
    // Columns and span lengths count characters, not bytes.
    let line_chars = line.chars().count();
    let start = usize::try_from(at.column().saturating_sub(1)).unwrap_or(line_chars);
    let start = start.min(line_chars);
    let width = usize::try_from(at.span().len())
        .unwrap_or(1)
        .clamp(1, (line_chars - start).max(1));
    let line = printable(line);
    let number = at.line().to_string();
    let gutter = " ".repeat(number.len());
    format!(
        "{gutter} |\n{number} | {line}\n{gutter} | {}{}",
        " ".repeat(start),
        "^".repeat(width)
    )
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
    let list = candidates
        .clone()
        .into_iter()
        .map(|candidate| format!("`{candidate}`"))
        .collect::<Vec<_>>()
        .join(", ");
    let list = if list.is_empty() {
        "none".to_owned()
    } else {
        list
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
    }
}
