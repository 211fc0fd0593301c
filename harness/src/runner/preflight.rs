//! The preflight: before anything is deployed, every object of every manifest the selected
//! scenarios apply (setup and phases) goes through a server-side dry run with strict field
//! validation, exactly as it would be applied. A typo in a policy then fails the run at once,
//! naming the file, the object and the API server's reason, instead of halfway through a
//! scenario. Scenarios that will be skipped are checked too: wherever a CRD is installed, its
//! objects are validated against it, even when nothing enforces them (Cilium's CRDs without
//! Cilium's agents). Kinds the cluster does not serve cannot be checked and are reported so.
//!
//! A dry-run create into a namespace that does not exist is refused, and a scenario's
//! namespaces exist only while it runs. So namespaced objects are dry-run into a namespace of
//! the preflight's own (`cnicheck-RUN-preflight`, labelled like every namespace of the run):
//! created empty, so no object of the same name is there to be merged with, and deleted while
//! the scenarios run. Every alias a manifest may name maps to it.

use super::{Selection, variable_values};
use crate::cluster::{self, ApplyContext, ClusterError, DryRunOutcome, RunId};
use crate::report::model::{PreflightCheck, Verdict};
use crate::scenario::model::{NamespaceSpec, WorkloadRef};
use crate::scenario::variables::Variable;
use kube::Client;
use std::collections::{BTreeMap, BTreeSet};

/// The preflight's findings, and the namespace it leaves for the caller to delete.
pub struct Preflight {
    pub checks: Vec<PreflightCheck>,
    pub namespace: Option<String>,
}

/// Dry-runs every manifest of `selections` (each file once). Errors only when the preflight
/// itself cannot work (its namespace cannot be created); every problem with a manifest is a
/// failed check.
pub async fn dry_run(
    client: &Client,
    run: &RunId,
    selections: &[Selection<'_>],
    external_host: Option<&str>,
) -> Result<Preflight, ClusterError> {
    let manifests = manifests(selections);
    if manifests.is_empty() {
        return Ok(Preflight {
            checks: Vec::new(),
            namespace: None,
        });
    }
    let namespace = run.extra_namespace("preflight")?;
    cluster::create_namespace(client, &namespace, run, &NamespaceSpec::default()).await?;
    let mut checks = Vec::new();
    for manifest in &manifests {
        let scenario = &manifest.selection.scenario;
        let objects = match scenario
            .source
            .read_manifest(&manifest.path)
            .map_err(|error| error.to_string())
            .and_then(|text| cluster::parse_manifests(&text).map_err(|error| error.to_string()))
        {
            Ok(objects) => objects,
            Err(problem) => {
                checks.push(check(&manifest.file, "-", Verdict::Fail, Some(problem)));
                continue;
            }
        };
        let aliases: BTreeMap<String, String> = scenario
            .scenario
            .namespaces
            .iter()
            .map(|(alias, _)| alias.value.as_str())
            .chain([WorkloadRef::DEFAULT_NAMESPACE])
            .map(|alias| (alias.to_string(), namespace.clone()))
            .collect();
        let context = ApplyContext {
            run,
            scenario: &scenario.scenario.name.value,
            namespaces: &aliases,
            values: &|variable| match (variable, external_host) {
                (Variable::ExternalHost, Some(host)) => Ok(host.to_owned()),
                _ => variable_values::stand_in(variable),
            },
        };
        let outcomes = cluster::dry_run_each(client, &objects, &context).await;
        for (object, outcome) in objects.iter().zip(outcomes) {
            let (verdict, message) = judge(object, outcome);
            checks.push(check(
                &manifest.file,
                &cluster::object_label(object),
                verdict,
                message,
            ));
        }
    }
    Ok(Preflight {
        checks,
        namespace: Some(namespace),
    })
}

struct Manifest<'a> {
    selection: &'a Selection<'a>,
    /// As written in the scenario.
    path: String,
    /// As reports name it.
    file: String,
}

/// Every manifest the selections apply, setup first, each file once (the first scenario that
/// uses a file lends it its namespace aliases).
fn manifests<'a>(selections: &'a [Selection<'a>]) -> Vec<Manifest<'a>> {
    let mut seen = BTreeSet::new();
    let mut manifests = Vec::new();
    for selection in selections {
        let scenario = &selection.scenario.scenario;
        let paths = scenario
            .setup
            .iter()
            .chain(scenario.phases.iter().flat_map(|phase| &phase.apply));
        for path in paths {
            let file = selection.scenario.source.manifest_name(&path.value);
            if seen.insert(file.clone()) {
                manifests.push(Manifest {
                    selection,
                    path: path.value.clone(),
                    file,
                });
            }
        }
    }
    manifests
}

fn judge(object: &kube::api::DynamicObject, outcome: DryRunOutcome) -> (Verdict, Option<String>) {
    match outcome {
        DryRunOutcome::Accepted => (Verdict::Pass, None),
        DryRunOutcome::NotServed => {
            let api_version = object
                .types
                .as_ref()
                .map_or("", |types| types.api_version.as_str());
            (
                Verdict::Skip,
                Some(format!(
                    "not checked: the cluster does not serve {api_version} (is its CRD installed?)"
                )),
            )
        }
        DryRunOutcome::Rejected(error) => (Verdict::Fail, Some(rejection(&error))),
    }
}

/// The API server's own words when it refused; cnicheck's account otherwise.
fn rejection(error: &ClusterError) -> String {
    match error {
        ClusterError::Api { source, .. } => match source.as_ref() {
            kube::Error::Api(status) if status.reason.is_empty() => status.message.clone(),
            kube::Error::Api(status) => format!("{} ({})", status.message, status.reason),
            other => other.to_string(),
        },
        other => other.to_string(),
    }
}

fn check(file: &str, object: &str, verdict: Verdict, message: Option<String>) -> PreflightCheck {
    PreflightCheck {
        name: format!("preflight::dry-run::{file}::{object}"),
        file: file.to_string(),
        object: object.to_string(),
        verdict,
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::cells;
    use crate::scenario::{self, LoadedScenario};

    fn selection(loaded: &LoadedScenario) -> Selection<'_> {
        let cells = cells::cells(loaded);
        let selected = (0..cells.len()).collect();
        Selection {
            scenario: loaded,
            cells,
            selected,
        }
    }

    #[test]
    fn every_manifest_is_checked_once() {
        let builtin = scenario::builtin();
        let selections: Vec<Selection<'_>> = builtin.iter().map(selection).collect();
        let files: Vec<String> = manifests(&selections)
            .into_iter()
            .map(|manifest| manifest.file)
            .collect();
        let unique: BTreeSet<&String> = files.iter().collect();
        assert_eq!(unique.len(), files.len(), "{files:?}");
        assert!(files.contains(&"builtin/manifests/ccnp-deny-locked-zone.yaml".to_string()));
        assert!(
            files
                .iter()
                .all(|file| file.starts_with("builtin/manifests/"))
        );
        // A file used by two scenarios is checked once, with the first one's aliases.
        let network_policy = builtin
            .iter()
            .find(|loaded| loaded.scenario.name.value == "network-policy")
            .unwrap();
        let twice = [selection(network_policy), selection(network_policy)];
        assert_eq!(
            manifests(&twice).len(),
            manifests(&twice[..1]).len(),
            "duplicates are dropped"
        );
    }

    #[test]
    fn checks_are_named_by_file_and_object() {
        let check = check(
            "builtin/manifests/cnp-l7-http.yaml",
            "CiliumNetworkPolicy/l7-http",
            Verdict::Pass,
            None,
        );
        assert_eq!(
            check.name,
            "preflight::dry-run::builtin/manifests/cnp-l7-http.yaml::CiliumNetworkPolicy/l7-http"
        );
    }
}
