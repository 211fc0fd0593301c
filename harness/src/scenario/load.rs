//! Parsing a scenario's YAML into the model, with `file:line:col` errors and fix hints.

use super::ScenarioError;
use super::error::{Diagnostic, choose_from};
use super::model::Scenario;
use serde_saphyr::{Error as YamlError, Location, MessageFormatter, UserMessageFormatter};

/// Parses `text`; `file` is the name errors show.
pub(crate) fn parse(file: &str, text: &str) -> Result<Scenario, ScenarioError> {
    serde_saphyr::from_str(text).map_err(|error| syntax_error(file, text, &error))
}

/// The parser's error in `file`, located, with a hint where one helps.
pub(crate) fn syntax_error(file: &str, text: &str, error: &YamlError) -> ScenarioError {
    let (message, hint) = explain(innermost(error));
    let hint = hint.or_else(|| {
        Some(
            "check the indentation and quoting here (quote strings that hold `: `, ` #`, `{`, `}`, \
             `[`, `]` or start with `*`, `&`, `!`)"
                .to_owned(),
        )
    });
    let at = error.location().unwrap_or(Location::UNKNOWN);
    ScenarioError::Syntax(Box::new(Diagnostic::new(file, text, at, message, hint)))
}

/// The parser's own error, without the alias and snippet wrappers around it.
fn innermost(mut error: &YamlError) -> &YamlError {
    while let YamlError::AliasError { error: inner, .. }
    | YamlError::WithSnippet { error: inner, .. } = error
    {
        error = inner;
    }
    error
}

fn explain(error: &YamlError) -> (String, Option<String>) {
    match error {
        YamlError::SerdeUnknownField {
            field, expected, ..
        } => (
            format!("unknown field `{field}`"),
            Some(choose_from(
                field,
                "valid fields here",
                expected.iter().copied(),
            )),
        ),
        YamlError::SerdeUnknownVariant {
            variant, expected, ..
        } => (
            format!("unknown value `{variant}`"),
            Some(choose_from(
                variant,
                "allowed values",
                expected.iter().copied(),
            )),
        ),
        YamlError::SerdeMissingField { field, .. } => (
            format!("missing field `{field}`"),
            Some(format!("add `{field}:` to this mapping")),
        ),
        YamlError::InvalidScalar { ty, .. } => {
            let range = match *ty {
                "u16" => Some("a whole number from 0 to 65535"),
                "u32" => Some("a whole number from 0 to 4294967295"),
                "u64" | "usize" => Some("a whole number from 0 up"),
                "f32" | "f64" => Some("a number"),
                "bool" => Some("`true` or `false`"),
                _ => None,
            };
            (
                format!("this is not a valid {ty}"),
                range.map(|range| format!("write {range} here")),
            )
        }
        YamlError::DuplicateMappingKey { .. } => (
            UserMessageFormatter.format_message(error).into_owned(),
            Some("each key may appear once per mapping; merge or remove the duplicate".to_owned()),
        ),
        _ => (
            UserMessageFormatter.format_message(error).into_owned(),
            None,
        ),
    }
}
