//! Applying a scenario's manifests (policies, NetworkAttachmentDefinitions, ...) with
//! server-side apply, and deleting them again.
//!
//! Objects go into the run's namespaces only: a manifest naming any other namespace is
//! refused, so a scenario can never modify objects cnicheck did not create. Cluster-scoped
//! objects are renamed after the scenario's namespace (`cnicheck-RUN-s3-NAME`), so they never
//! collide with anyone else's, and cluster-wide Cilium policies are confined to the scenario's
//! namespaces (see [`confine_clusterwide_policy`]).

use super::labels::{self, RunId};
use super::namespace::delete_and_wait_with;
use super::{ApiContext, ApiFailure, ClusterError, is_not_found};
use crate::scenario::model::WorkloadRef;
use crate::scenario::variables::{self, Variable, VariableError};
use futures::future::join_all;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams};
use kube::discovery::{self, ApiCapabilities, Scope};
use kube::{Client, ResourceExt};
use serde_json::{Value, json};
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

/// The field manager of everything cnicheck applies.
pub const FIELD_MANAGER: &str = "cnicheck";

const CILIUM_GROUP: &str = "cilium.io";
const CILIUM_CLUSTERWIDE_POLICY: &str = "CiliumClusterwideNetworkPolicy";
/// The label Cilium gives every pod's endpoint: the pod's namespace.
const CILIUM_POD_NAMESPACE_LABEL: &str = "k8s:io.kubernetes.pod.namespace";

/// Where and for whom manifests are applied.
#[derive(Clone, Copy)]
pub struct ApplyContext<'a> {
    pub run: &'a RunId,
    pub scenario: &'a str,
    /// The real namespace of every alias of the scenario, `default` included: objects without a
    /// namespace go to `default`'s, and a manifest may name an alias or its real namespace.
    pub namespaces: &'a BTreeMap<String, String>,
    /// What each `${...}` in a manifest's strings stands for in this run, or why it has no
    /// value (see [`crate::scenario::variables`]).
    pub values: &'a VariableValues<'a>,
}

/// What a `${...}` stands for, or why it stands for nothing in this run.
pub type VariableValues<'a> = dyn Fn(Variable<'_>) -> Result<String, String> + Sync + 'a;

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
        serde_saphyr::from_multiple(yaml).map_err(ManifestError::Parse)?;
    documents
        .into_iter()
        .enumerate()
        .filter(|(_, document)| !document.is_null())
        .map(|(index, document)| parse_object(index + 1, document))
        .collect()
}

fn parse_object(document: usize, value: serde_json::Value) -> Result<DynamicObject, ClusterError> {
    let invalid =
        |problem: String| ClusterError::from(ManifestError::InvalidDocument { document, problem });
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

/// `Kind/name`, or `Kind/namespace/name` where the manifest names a namespace (an alias of the
/// scenario's), as written in the manifest: how reports name an object. One file may hold the
/// same policy for two namespaces.
pub fn object_label(object: &DynamicObject) -> String {
    let kind = object
        .types
        .as_ref()
        .map_or("object", |types| types.kind.as_str());
    match &object.metadata.namespace {
        Some(namespace) => format!("{kind}/{namespace}/{}", object.name_any()),
        None => format!("{kind}/{}", object.name_any()),
    }
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
    let mut kinds = KindCache::default();
    let mut prepared = Vec::with_capacity(objects.len());
    for object in objects {
        prepared.push(prepare(client, &mut kinds, object, context).await?);
    }
    for (target, object) in &prepared {
        patch(client, target, object, &validation()).await?;
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

/// What the API server said to one object's server-side dry run.
#[derive(Debug)]
pub enum DryRunOutcome {
    Accepted,
    /// The cluster does not serve the object's kind (its CRD is not installed): nothing to
    /// validate against.
    NotServed,
    /// Refused, by the API server or by cnicheck's own rules (foreign namespace, unsafe object).
    Rejected(ClusterError),
}

/// Validates each object with a server-side dry run of exactly what [`apply_manifests`] would
/// send, and says what became of each (in order). Nothing is created.
pub async fn dry_run_each(
    client: &Client,
    objects: &[DynamicObject],
    context: &ApplyContext<'_>,
) -> Vec<DryRunOutcome> {
    let mut kinds = KindCache::default();
    let mut outcomes = Vec::with_capacity(objects.len());
    for object in objects {
        let outcome = match prepare(client, &mut kinds, object, context).await {
            Ok((target, object)) => match patch(client, &target, &object, &validation()).await {
                Ok(()) => DryRunOutcome::Accepted,
                Err(error) => DryRunOutcome::Rejected(error),
            },
            Err(ClusterError::Manifest(ManifestError::UnknownKind { .. })) => {
                DryRunOutcome::NotServed
            }
            Err(error) => DryRunOutcome::Rejected(error),
        };
        outcomes.push(outcome);
    }
    outcomes
}

fn validation() -> PatchParams {
    PatchParams::apply(FIELD_MANAGER)
        .force()
        .validation_strict()
        .dry_run()
}

/// The object as cnicheck sends it: in the run's namespace (or renamed, if cluster-scoped),
/// labelled, with variables filled in and cluster-wide policies confined.
async fn prepare(
    client: &Client,
    kinds: &mut KindCache,
    object: &DynamicObject,
    context: &ApplyContext<'_>,
) -> Result<(AppliedObject, DynamicObject), ClusterError> {
    let (resource, capabilities) = kinds.resolve(client, object).await?;
    let invalid = |problem: ObjectProblem| {
        ClusterError::from(ManifestError::InvalidObject {
            object: object_label(object),
            problem,
        })
    };
    let mut prepared = object.clone();
    let own_namespace = context
        .namespaces
        .get(WorkloadRef::DEFAULT_NAMESPACE)
        .ok_or_else(|| invalid(ObjectProblem::NoScenarioNamespace))?;
    let namespace = match capabilities.scope {
        Scope::Namespaced => Some(run_namespace(object, context)?),
        Scope::Cluster => {
            prepared.metadata.name = Some(format!("{own_namespace}-{}", object.name_any()));
            None
        }
    };
    prepared.metadata.namespace = namespace.clone();
    prepared
        .labels_mut()
        .extend(labels::scenario_labels(context.run, context.scenario)?);
    prepared.annotations_mut().extend(context.run.annotations());
    substitute_variables(&mut prepared.data, context.values).map_err(invalid)?;
    if resource.group == CILIUM_GROUP && resource.kind == CILIUM_CLUSTERWIDE_POLICY {
        let namespaces: Vec<&str> = context.namespaces.values().map(String::as_str).collect();
        confine_clusterwide_policy(&mut prepared.data, &namespaces).map_err(invalid)?;
    }
    let target = AppliedObject {
        resource,
        namespace,
        name: prepared.name_any(),
    };
    Ok((target, prepared))
}

/// Why a scenario's manifests cannot be applied as written.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("could not read manifests: {0}")]
    Parse(#[source] serde_saphyr::Error),

    #[error("manifest document {document}: {problem}")]
    InvalidDocument { document: usize, problem: String },

    #[error(
        "{kind} ({api_version}) {name}: not served by this cluster (is its CRD installed?): {}",
        ApiFailure(source)
    )]
    UnknownKind {
        api_version: String,
        kind: String,
        name: String,
        #[source]
        source: Box<kube::Error>,
    },

    /// A manifest's object that cnicheck refuses to apply as written.
    #[error("{object}: {problem}")]
    InvalidObject {
        object: String,
        problem: ObjectProblem,
    },

    #[error("{object} names namespace {namespace:?}, which is not one of this run's namespaces")]
    ForeignNamespace { object: String, namespace: String },
}

/// Why cnicheck refuses to apply a manifest's object as written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ObjectProblem {
    #[error("the scenario has no namespace")]
    NoScenarioNamespace,
    #[error("uses {variable}, which has no value in this run: {why}")]
    UnresolvedVariable { variable: String, why: String },
    #[error("{0}")]
    BadVariable(VariableError),
    #[error("is not a mapping")]
    NotAMapping,
    #[error("has neither spec nor specs")]
    NoRules,
    #[error("a rule is not a mapping")]
    RuleNotAMapping,
    #[error("selects nodes (nodeSelector); cnicheck only applies policies to the pods it deployed")]
    SelectsNodes,
    #[error("endpointSelector is not a mapping")]
    SelectorNotAMapping,
    #[error("endpointSelector.matchExpressions is not a list")]
    ExpressionsNotAList,
}

/// Fills in every `${...}` in every string value.
fn substitute_variables(
    value: &mut Value,
    values: &VariableValues<'_>,
) -> Result<(), ObjectProblem> {
    match value {
        Value::String(text) => {
            let filled = variables::substitute(
                text,
                |variable| {
                    values(variable).map_err(|why| ObjectProblem::UnresolvedVariable {
                        variable: variable.to_string(),
                        why,
                    })
                },
                ObjectProblem::BadVariable,
            )?;
            if let Cow::Owned(filled) = filled {
                *text = filled;
            }
            Ok(())
        }
        Value::Array(items) => items
            .iter_mut()
            .try_for_each(|item| substitute_variables(item, values)),
        Value::Object(fields) => fields
            .values_mut()
            .try_for_each(|field| substitute_variables(field, values)),
        _ => Ok(()),
    }
}

/// A CiliumClusterwideNetworkPolicy applies to every pod its `endpointSelector` matches, in
/// any namespace. Each of its rules (`spec` and `specs[]`) gets
/// `k8s:io.kubernetes.pod.namespace In [the scenario's namespaces]` added to its
/// `endpointSelector`: selector terms are ANDed, so this only ever narrows what the scenario
/// wrote, and the policy cannot touch pods cnicheck did not create. Rules that select nodes
/// (`nodeSelector`, host policies) are refused: nodes are never cnicheck's.
fn confine_clusterwide_policy(data: &mut Value, namespaces: &[&str]) -> Result<(), ObjectProblem> {
    let Value::Object(fields) = data else {
        return Err(ObjectProblem::NotAMapping);
    };
    let mut rules: Vec<&mut Value> = Vec::new();
    for (field, value) in fields.iter_mut() {
        match (field.as_str(), value) {
            ("spec", Value::Null) => {}
            ("spec", spec) => rules.push(spec),
            ("specs", Value::Array(specs)) => rules.extend(specs.iter_mut()),
            _ => {}
        }
    }
    if rules.is_empty() {
        return Err(ObjectProblem::NoRules);
    }
    for rule in rules {
        let Value::Object(rule) = rule else {
            return Err(ObjectProblem::RuleNotAMapping);
        };
        if rule.contains_key("nodeSelector") {
            return Err(ObjectProblem::SelectsNodes);
        }
        let selector = rule.entry("endpointSelector").or_insert_with(|| json!({}));
        let Value::Object(selector) = selector else {
            return Err(ObjectProblem::SelectorNotAMapping);
        };
        let expressions = selector
            .entry("matchExpressions")
            .or_insert_with(|| json!([]));
        let Value::Array(expressions) = expressions else {
            return Err(ObjectProblem::ExpressionsNotAList);
        };
        expressions.push(json!({
            "key": CILIUM_POD_NAMESPACE_LABEL,
            "operator": "In",
            "values": namespaces,
        }));
    }
    Ok(())
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
) -> Result<String, ManifestError> {
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
        .ok_or_else(|| ManifestError::ForeignNamespace {
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
        let unknown = |source| {
            ClusterError::from(ManifestError::UnknownKind {
                api_version: types.api_version.clone(),
                kind: types.kind.clone(),
                name: object.name_any(),
                source: Box::new(source),
            })
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
        assert_eq!(object_label(&objects[0]), "NetworkPolicy/deny-ingress");
        assert_eq!(
            object_label(&objects[1]),
            "NetworkAttachmentDefinition/other/macvlan",
            "the same name may stand in two namespaces of one file"
        );
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
            Err(ClusterError::Manifest(ManifestError::Parse(_)))
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
            values: &|_| Err("unused".to_owned()),
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

    #[test]
    fn variables_in_strings_are_filled_in_or_refused_naming_them() {
        let values = |variable: Variable<'_>| match variable {
            Variable::ExternalHost => Ok("outside.cnicheck.test".to_owned()),
            _ => Err("workload x/b is not deployed (yet)".to_owned()),
        };
        let mut data = json!({"spec": {"egress": [
            {"toFQDNs": [{"matchName": "${CNICHECK_EXTERNAL_HOST}"}]},
            {"to": [{"ipBlock": {"cidr": "${POD_IP:x/b}/32"}}]},
        ]}});
        let error = substitute_variables(&mut data, &values).unwrap_err();
        assert_eq!(
            error.to_string(),
            "uses ${POD_IP:x/b}, which has no value in this run: workload x/b is not deployed (yet)"
        );
        let mut data = json!({"spec": {"egress": [{"toFQDNs": [{"matchName": "${CNICHECK_EXTERNAL_HOST}"}]}]}});
        substitute_variables(&mut data, &values).unwrap();
        assert_eq!(
            data["spec"]["egress"][0]["toFQDNs"][0]["matchName"],
            "outside.cnicheck.test"
        );
        let mut unknown = json!({"metadata": {"annotations": {"a": "${NOPE}"}}});
        let error = substitute_variables(&mut unknown, &values).unwrap_err();
        assert_eq!(
            error.to_string(),
            "`${NOPE}` is not a variable cnicheck knows"
        );
        let mut untouched =
            json!({"spec": {"podSelector": {}}, "data": {"script": "echo ${home}"}});
        let before = untouched.clone();
        substitute_variables(&mut untouched, &values).unwrap();
        assert_eq!(untouched, before);
    }

    #[test]
    fn clusterwide_policies_are_confined_to_the_scenario_namespaces() {
        let confined = |mut data: Value| {
            confine_clusterwide_policy(&mut data, &["cnicheck-x-s0", "cnicheck-x-s0-y"])
                .map(|()| data)
        };
        let scope = json!({
            "key": "k8s:io.kubernetes.pod.namespace",
            "operator": "In",
            "values": ["cnicheck-x-s0", "cnicheck-x-s0-y"],
        });
        let data = confined(json!({
            "spec": {"endpointSelector": {"matchLabels": {"zone": "locked"}}, "ingress": [{}]},
            "specs": [
                {"endpointSelector": {"matchExpressions": [{"key": "a", "operator": "Exists"}]}},
                {"egress": [{}]},
            ],
        }))
        .unwrap();
        assert_eq!(
            data["spec"]["endpointSelector"],
            json!({"matchLabels": {"zone": "locked"}, "matchExpressions": [scope.clone()]})
        );
        assert_eq!(
            data["specs"][0]["endpointSelector"]["matchExpressions"],
            json!([{"key": "a", "operator": "Exists"}, scope.clone()])
        );
        assert_eq!(
            data["specs"][1]["endpointSelector"],
            json!({"matchExpressions": [scope]}),
            "a rule without a selector would select every pod"
        );
        let error = confined(json!({"spec": {"nodeSelector": {}, "ingress": [{}]}})).unwrap_err();
        assert!(error.to_string().contains("selects nodes"), "{error}");
        assert!(confined(json!({"metadata": {}})).is_err());
    }
}
