//! Applying a scenario's manifests (policies, NetworkAttachmentDefinitions, ...) with
//! server-side apply, and deleting them again.
//!
//! Objects go into the run's namespaces only: a manifest naming any other namespace is
//! refused, so a scenario can never modify objects cnicheck did not create.

use super::labels::{self, RunId};
use super::namespace::delete_and_wait_with;
use super::{ApiContext, ClusterError, is_not_found};
use crate::scenario::model::WorkloadRef;
use futures::future::join_all;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams};
use kube::discovery::{self, ApiCapabilities, Scope};
use kube::{Client, ResourceExt};
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

/// The field manager of everything cnicheck applies.
pub const FIELD_MANAGER: &str = "cnicheck";

/// Where and for whom manifests are applied.
#[derive(Debug, Clone, Copy)]
pub struct ApplyContext<'a> {
    pub run: &'a RunId,
    pub scenario: &'a str,
    /// The real namespace of every alias of the scenario, `default` included: objects without a
    /// namespace go to `default`'s, and a manifest may name an alias or its real namespace.
    pub namespaces: &'a BTreeMap<String, String>,
}

/// An object cnicheck applied, enough to delete it again.
#[derive(Debug, Clone)]
pub struct AppliedObject {
    pub resource: ApiResource,
    /// `None` for cluster-scoped objects.
    pub namespace: Option<String>,
    pub name: String,
}

impl AppliedObject {
    fn api(&self, client: &Client) -> Api<DynamicObject> {
        match &self.namespace {
            Some(namespace) => Api::namespaced_with(client.clone(), namespace, &self.resource),
            None => Api::all_with(client.clone(), &self.resource),
        }
    }

    fn describe(&self) -> String {
        match &self.namespace {
            Some(namespace) => format!("{} {namespace}/{}", self.resource.kind, self.name),
            None => format!("{} {}", self.resource.kind, self.name),
        }
    }
}

/// Reads a multi-document YAML manifest. Empty documents are skipped; every other document
/// must be one object with `apiVersion`, `kind` and `metadata.name`.
pub fn parse_manifests(yaml: &str) -> Result<Vec<DynamicObject>, ClusterError> {
    let documents: Vec<serde_json::Value> =
        serde_saphyr::from_multiple(yaml).map_err(ClusterError::ParseManifests)?;
    documents
        .into_iter()
        .enumerate()
        .filter(|(_, document)| !document.is_null())
        .map(|(index, document)| parse_object(index + 1, document))
        .collect()
}

fn parse_object(document: usize, value: serde_json::Value) -> Result<DynamicObject, ClusterError> {
    let invalid = |problem: String| ClusterError::InvalidManifest { document, problem };
    for field in ["/apiVersion", "/kind", "/metadata/name"] {
        let text = value.pointer(field).and_then(serde_json::Value::as_str);
        if text.is_none_or(str::is_empty) {
            return Err(invalid(format!(
                "{} is missing or not a string",
                &field[1..].replace('/', ".")
            )));
        }
    }
    serde_json::from_value(value).map_err(|error| invalid(error.to_string()))
}

/// Applies `objects` server-side (field manager [`FIELD_MANAGER`], strict field validation,
/// cnicheck's labels added). Every object is first validated with a server-side dry run, so a
/// bad manifest (unknown kind, unknown field, foreign namespace) changes nothing. With
/// `dry_run`, that validation is all that happens.
pub async fn apply_manifests(
    client: &Client,
    objects: &[DynamicObject],
    context: &ApplyContext<'_>,
    dry_run: bool,
) -> Result<Vec<AppliedObject>, ClusterError> {
    let scenario_labels = labels::scenario_labels(context.run, context.scenario)?;
    let mut kinds = KindCache::default();
    let mut prepared = Vec::with_capacity(objects.len());
    for object in objects {
        let (resource, capabilities) = kinds.resolve(client, object).await?;
        let namespace = match capabilities.scope {
            Scope::Namespaced => Some(run_namespace(object, context)?),
            Scope::Cluster => None,
        };
        let mut object = object.clone();
        object.metadata.namespace = namespace.clone();
        object.labels_mut().extend(scenario_labels.clone());
        let target = AppliedObject {
            resource,
            namespace,
            name: object.name_any(),
        };
        prepared.push((target, object));
    }
    let validate = PatchParams::apply(FIELD_MANAGER)
        .force()
        .validation_strict()
        .dry_run();
    for (target, object) in &prepared {
        patch(client, target, object, &validate).await?;
    }
    if !dry_run {
        let apply = PatchParams::apply(FIELD_MANAGER)
            .force()
            .validation_strict();
        for (target, object) in &prepared {
            patch(client, target, object, &apply).await?;
        }
    }
    Ok(prepared.into_iter().map(|(target, _)| target).collect())
}

async fn patch(
    client: &Client,
    target: &AppliedObject,
    object: &DynamicObject,
    params: &PatchParams,
) -> Result<(), ClusterError> {
    let verb = if params.dry_run {
        "validating (server-side dry run)"
    } else {
        "applying"
    };
    target
        .api(client)
        .patch(&target.name, params, &Patch::Apply(object))
        .await
        .doing(|| format!("{verb} {}", target.describe()))?;
    Ok(())
}

/// The real namespace for a namespaced object: its alias's, or the run's own when it names
/// none. Anything else is refused.
fn run_namespace(
    object: &DynamicObject,
    context: &ApplyContext<'_>,
) -> Result<String, ClusterError> {
    let written = object
        .metadata
        .namespace
        .as_deref()
        .unwrap_or(WorkloadRef::DEFAULT_NAMESPACE);
    context
        .namespaces
        .get(written)
        .or_else(|| context.namespaces.values().find(|real| *real == written))
        .cloned()
        .ok_or_else(|| ClusterError::ForeignNamespace {
            object: format!(
                "{} {}",
                object
                    .types
                    .as_ref()
                    .map_or("object", |types| types.kind.as_str()),
                object.name_any()
            ),
            namespace: written.into(),
        })
}

/// Discovery per kind, once per apply: tells the resource's plural and scope, and whether
/// the cluster serves it at all (a CRD that is not installed).
#[derive(Default)]
struct KindCache(HashMap<(String, String), (ApiResource, ApiCapabilities)>);

impl KindCache {
    async fn resolve(
        &mut self,
        client: &Client,
        object: &DynamicObject,
    ) -> Result<(ApiResource, ApiCapabilities), ClusterError> {
        // parse_manifests guarantees both; objects built elsewhere may lack them.
        let types = object.types.clone().unwrap_or_default();
        let key = (types.api_version.clone(), types.kind.clone());
        if let Some(found) = self.0.get(&key) {
            return Ok(found.clone());
        }
        let unknown = |source| ClusterError::UnknownKind {
            api_version: types.api_version.clone(),
            kind: types.kind.clone(),
            name: object.name_any(),
            source: Box::new(source),
        };
        let (group, version) = match types.api_version.split_once('/') {
            Some((group, version)) => (group, version),
            None => ("", types.api_version.as_str()),
        };
        let gvk = GroupVersionKind::gvk(group, version, &types.kind);
        let found = match discovery::pinned_kind(client, &gvk).await {
            Ok(found) => found,
            Err(error) if is_not_found(&error) => return Err(unknown(error)),
            // pinned_kind reports a served group without the kind as a discovery error.
            Err(error @ kube::Error::Discovery(_)) => return Err(unknown(error)),
            Err(source) => {
                return Err(ClusterError::Api {
                    doing: format!("looking up {} {}", types.kind, types.api_version),
                    source: Box::new(source),
                });
            }
        };
        self.0.insert(key, found.clone());
        Ok(found)
    }
}

/// Deletes applied objects and waits until they are gone. Tries them all; returns the first
/// failure (and logs the others).
pub async fn delete_applied(
    client: &Client,
    objects: &[AppliedObject],
    timeout: Duration,
) -> Result<(), ClusterError> {
    let outcomes = join_all(objects.iter().map(|object| {
        delete_and_wait_with(object.api(client), &object.name, object.describe(), timeout)
    }))
    .await;
    let mut failures = outcomes.into_iter().filter_map(Result::err);
    let first = failures.next();
    for other in failures {
        tracing::warn!("{other}");
    }
    first.map_or(Ok(()), Err)
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: &str = "\
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: deny-ingress
spec:
  podSelector:
    matchLabels:
      cnicheck.io/workload: server
  policyTypes: [Ingress]
";

    #[test]
    fn multi_document_manifests_skip_empty_documents() {
        let yaml = format!(
            "---\n{POLICY}---\n# only a comment\n---\n\
             apiVersion: k8s.cni.cncf.io/v1\nkind: NetworkAttachmentDefinition\n\
             metadata:\n  name: macvlan\n  namespace: other\nspec:\n  config: '{{\"cniVersion\": \"0.3.1\"}}'\n"
        );
        let objects = parse_manifests(&yaml).unwrap();
        assert_eq!(objects.len(), 2);
        let types = objects[0].types.as_ref().unwrap();
        assert_eq!(types.api_version, "networking.k8s.io/v1");
        assert_eq!(types.kind, "NetworkPolicy");
        assert_eq!(objects[0].name_any(), "deny-ingress");
        assert_eq!(objects[0].data["spec"]["policyTypes"][0], "Ingress");
        assert_eq!(objects[1].metadata.namespace.as_deref(), Some("other"));
    }

    #[test]
    fn objects_need_api_version_kind_and_name() {
        let error = parse_manifests("apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n")
            .unwrap_err()
            .to_string();
        assert_eq!(
            error,
            "manifest document 1: metadata.name is missing or not a string"
        );
        let error = parse_manifests(&format!("{POLICY}---\nkind: ConfigMap\n"))
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("manifest document 2: apiVersion"),
            "{error}"
        );
    }

    #[test]
    fn yaml_errors_are_reported() {
        assert!(matches!(
            parse_manifests("apiVersion: [unclosed\n"),
            Err(ClusterError::ParseManifests(_))
        ));
    }

    #[test]
    fn namespaces_resolve_to_the_run_or_are_refused() {
        let run = RunId::parse("t0abcd1234").unwrap();
        let namespaces = BTreeMap::from([
            ("default".to_string(), "cnicheck-t0abcd1234".to_string()),
            ("other".to_string(), "cnicheck-t0abcd1234-other".to_string()),
        ]);
        let context = ApplyContext {
            run: &run,
            scenario: "policy",
            namespaces: &namespaces,
        };
        let mut object = parse_manifests(POLICY).unwrap().remove(0);
        assert_eq!(
            run_namespace(&object, &context).unwrap(),
            "cnicheck-t0abcd1234"
        );
        object.metadata.namespace = Some("other".into());
        assert_eq!(
            run_namespace(&object, &context).unwrap(),
            "cnicheck-t0abcd1234-other"
        );
        object.metadata.namespace = Some("cnicheck-t0abcd1234-other".into());
        assert_eq!(
            run_namespace(&object, &context).unwrap(),
            "cnicheck-t0abcd1234-other"
        );
        object.metadata.namespace = Some("kube-system".into());
        let error = run_namespace(&object, &context).unwrap_err().to_string();
        assert_eq!(
            error,
            "NetworkPolicy deny-ingress names namespace \"kube-system\", which is not one of this run's namespaces"
        );
    }
}
