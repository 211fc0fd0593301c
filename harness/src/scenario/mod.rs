//! Scenario files: the model, loading with `file:line:col` errors, and validation.
//!
//! [`load_all`] backs `cnicheck validate FILES` and runs on user files, [`builtin`] gives the
//! suites compiled into the binary, [`json_schema`] backs `cnicheck schema`.

mod error;
pub mod limits;
mod load;
mod manifest;
pub mod matrix;
pub mod model;
pub(crate) mod names;
mod read;
mod reference;
mod size;
mod source;
mod spanned;
mod tree;
mod validate;
pub mod variables;

pub use error::{Diagnostic, ScenarioError, printable};
pub use names::NameError;
pub use source::ScenarioSource;

use model::Scenario;
use std::borrow::Cow;
use std::path::Path;

/// A scenario that parsed and validated, with where it came from (and so where the manifests
/// its phases apply are found: see [`ScenarioSource::read_manifest`]).
#[derive(Debug, Clone)]
pub struct LoadedScenario {
    pub scenario: Scenario,
    pub source: ScenarioSource,
}

/// Parses scenario text for a unit test elsewhere in the crate (no validation).
#[cfg(test)]
pub(crate) fn parse_for_tests(text: &str) -> Scenario {
    load::parse("test.yaml", text).expect("the test's scenario parses")
}

/// Loads and validates one scenario file.
pub fn load_file(path: impl AsRef<Path>) -> Result<LoadedScenario, Vec<ScenarioError>> {
    let mut loaded = load_all([path])?;
    Ok(loaded.remove(0))
}

/// What loading may accept beyond the defaults.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// Read manifests outside the scenario file's folder (`../x.yaml`, `/abs/x.yaml`, symlinks
    /// that lead out). Off by default, so a scenario file cannot make cnicheck read, and send
    /// to the cluster, files it has no business with.
    pub allow_manifests_outside: bool,
}

/// Loads and validates scenario files, reporting every problem in every file; scenario names
/// must be unique across them.
pub fn load_all(
    paths: impl IntoIterator<Item = impl AsRef<Path>>,
) -> Result<Vec<LoadedScenario>, Vec<ScenarioError>> {
    load_all_with(paths, &LoadOptions::default())
}

/// [`load_all`] with options.
pub fn load_all_with(
    paths: impl IntoIterator<Item = impl AsRef<Path>>,
    options: &LoadOptions,
) -> Result<Vec<LoadedScenario>, Vec<ScenarioError>> {
    let texts = paths.into_iter().map(|path| {
        let path = path.as_ref();
        read::read_text(path).map(|text| (ScenarioSource::File(path.to_owned()), Cow::Owned(text)))
    });
    load_texts(texts, options)
}

/// The suites compiled into the binary, from `scenarios/`.
pub fn builtin() -> Vec<LoadedScenario> {
    let texts = source::BUILTIN_SCENARIOS
        .iter()
        .map(|(path, text)| Ok((ScenarioSource::Builtin(path), Cow::Borrowed(*text))));
    load_texts(texts, &LoadOptions::default()).unwrap_or_else(|errors| {
        // Tests load every built-in scenario, so this is a build that skipped them.
        let errors: Vec<String> = errors.iter().map(ToString::to_string).collect();
        panic!("built-in scenarios are invalid:\n{}", errors.join("\n"))
    })
}

/// The JSON Schema of the scenario format, for editors and `cnicheck schema`.
pub fn json_schema() -> serde_json::Value {
    schemars::schema_for!(Scenario).to_value()
}

fn load_texts(
    texts: impl IntoIterator<Item = Result<(ScenarioSource, Cow<'static, str>), ScenarioError>>,
    options: &LoadOptions,
) -> Result<Vec<LoadedScenario>, Vec<ScenarioError>> {
    let mut errors = Vec::new();
    let mut parsed = Vec::new();
    let mut sizes = Vec::new();
    for text in texts {
        let parsed_one = text.and_then(|(source, text)| {
            let scenario = load::parse(&source.to_string(), &text)?;
            Ok((scenario, source, text))
        });
        match parsed_one {
            Ok((scenario, source, text)) => {
                let (problems, size) = validate::validate(&scenario, &source, &text, options);
                errors.extend(problems);
                sizes.push(size);
                parsed.push((scenario, source, text));
            }
            Err(error) => errors.push(error),
        }
    }
    errors.extend(validate::check_run_size(parsed.iter().zip(&sizes).map(
        |((scenario, source, text), size)| (scenario, source, text.as_ref(), *size),
    )));
    errors.extend(validate::check_unique_names(
        parsed
            .iter()
            .map(|(scenario, source, text)| (scenario, source, text.as_ref())),
    ));
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(parsed
        .into_iter()
        .map(|(scenario, source, _)| LoadedScenario { scenario, source })
        .collect())
}
