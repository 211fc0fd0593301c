//! The manifests a scenario applies, checked offline: every document is a Kubernetes object
//! (`apiVersion`, `kind`, `metadata.name`), objects of kinds k8s-openapi knows fit their type
//! (field types, unknown fields), strings are strings (a YAML 1.1 `yes` is a boolean to
//! kubectl and to cnicheck alike), and namespaces are the scenario's aliases. The cluster's
//! server-side dry run still has the last word (CRD schemas, admission), but nothing here
//! needs a cluster.

use super::ScenarioError;
use super::error::{Diagnostic, Position};
use super::load::syntax_error;
use super::model::{Placement, Workload, WorkloadRef};
use super::tree::{Located, Node, TypeError, UnknownField, check_as};
use super::variables::{self, Variable};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::{Resource, api};
use serde_saphyr::Location;

/// What a manifest may rely on from the scenario applying it.
pub(crate) struct ManifestContext<'a> {
    /// Namespace aliases objects may name (`default` included).
    pub namespaces: &'a [&'a str],
    /// Whether the scenario requires `--external-target`, which `${CNICHECK_EXTERNAL_HOST}`
    /// needs.
    pub external_target: bool,
    /// The scenario's workloads, which `${POD_IP:W}` and the like name.
    pub workloads: &'a [Workload],
    /// Whether the manifest is applied after the pods are deployed (a phase's `apply`), so
    /// it may name their addresses; `setup` manifests come before.
    pub after_deploy: bool,
}

/// Every problem in the manifest `text`, named `file` in errors.
pub(crate) fn check(file: &str, text: &str, context: &ManifestContext<'_>) -> Vec<ScenarioError> {
    let documents: Vec<Located> = match serde_saphyr::from_multiple(text) {
        Ok(documents) => documents,
        Err(error) => return vec![syntax_error(file, text, &error)],
    };
    let mut checker = Checker {
        file,
        text,
        errors: Vec::new(),
    };
    if documents.is_empty() {
        checker.report(
            Position::UNKNOWN,
            "holds no Kubernetes object".to_owned(),
            OBJECT_HINT.to_owned(),
        );
    }
    for document in &documents {
        checker.check_object(document, context);
    }
    checker.errors
}

const OBJECT_HINT: &str = "a manifest holds Kubernetes objects separated by `---`, each with \
    `apiVersion`, `kind` and `metadata.name` (e.g. apiVersion: networking.k8s.io/v1, kind: NetworkPolicy)";

struct Checker<'a> {
    file: &'a str,
    text: &'a str,
    errors: Vec<ScenarioError>,
}

impl Checker<'_> {
    fn report(&mut self, at: impl Into<Position>, message: String, hint: String) {
        self.errors
            .push(ScenarioError::Invalid(Box::new(Diagnostic::new(
                self.file,
                self.text,
                at,
                message,
                Some(hint),
            ))));
    }

    fn check_object(&mut self, document: &Located, context: &ManifestContext<'_>) {
        let Node::Map(_) = document.value else {
            self.report(
                document.referenced,
                "this document is not a Kubernetes object (not a mapping)".to_owned(),
                OBJECT_HINT.to_owned(),
            );
            return;
        };
        let api_version = self.required_string(document, &document.value, "apiVersion");
        let kind = self.required_string(document, &document.value, "kind");
        let Some(metadata) = document.value.get("metadata") else {
            self.report(
                document.referenced,
                "this object has no `metadata`".to_owned(),
                OBJECT_HINT.to_owned(),
            );
            return;
        };
        self.required_string(metadata, &metadata.value, "name");
        let (Some(api_version), Some(kind)) = (api_version, kind) else {
            return;
        };
        match known_kind(api_version, kind) {
            Some(check_type) => self.type_result(kind, "", check_type(document)),
            // Custom resources: the cluster knows their schema; their metadata is standard.
            None => self.type_result(kind, "metadata", check_as::<ObjectMeta>(metadata)),
        }
        self.check_namespace(kind, metadata, context);
        self.check_variables(document, context);
    }

    /// The string at `key` of `node`, reporting when it is missing, empty or not a string.
    fn required_string<'n>(
        &mut self,
        parent: &Located,
        node: &'n Node,
        key: &str,
    ) -> Option<&'n str> {
        let (at, problem) = match node.entry(key) {
            None => (parent.referenced, "is missing"),
            Some((_, value)) => match value.value.as_str() {
                Some("") => (value.referenced, "is empty"),
                Some(text) => return Some(text),
                None => (value.referenced, "is not a string"),
            },
        };
        let field = if key == "name" { "metadata.name" } else { key };
        self.report(
            at,
            format!("`{field}` {problem}: this is not a Kubernetes object"),
            OBJECT_HINT.to_owned(),
        );
        None
    }

    fn type_result(
        &mut self,
        kind: &str,
        prefix: &str,
        result: Result<Vec<UnknownField>, TypeError>,
    ) {
        let join = |path: &str| match (prefix, path) {
            ("", path) => path.to_owned(),
            (prefix, "") => prefix.to_owned(),
            (prefix, path) if path.starts_with('[') => format!("{prefix}{path}"),
            (prefix, path) => format!("{prefix}.{path}"),
        };
        match result {
            Ok(unknown) => {
                for field in unknown {
                    let path = join(&field.path);
                    self.report(
                        field.at,
                        format!("{kind} has no field `{path}`"),
                        format!(
                            "check the spelling and the indentation; `kubectl explain {}` lists the fields",
                            explain_path(kind, &path)
                        ),
                    );
                }
            }
            Err(error) => {
                let path = join(&error.path);
                let written = written_at(self.text, error.at);
                let hint = if error.wants_string {
                    format!(
                        "quote it (\"{written}\"): unquoted, YAML reads `{written}` as a boolean or a number, and kubectl does too"
                    )
                } else {
                    format!(
                        "`kubectl explain {}` describes the field",
                        explain_path(kind, &path)
                    )
                };
                let place = if path.is_empty() {
                    String::new()
                } else {
                    format!(" `{path}`")
                };
                self.report(error.at, format!("{kind}{place}: {}", error.message), hint);
            }
        }
    }

    /// Objects go into the scenario's namespaces only, named by alias.
    fn check_namespace(&mut self, kind: &str, metadata: &Located, context: &ManifestContext<'_>) {
        let Some(namespace) = metadata.value.get("namespace") else {
            return;
        };
        let Some(written) = namespace.value.as_str() else {
            return;
        };
        if !context.namespaces.contains(&written) {
            let aliases: Vec<String> = context
                .namespaces
                .iter()
                .map(|alias| format!("`{alias}`"))
                .collect();
            self.report(
                namespace.referenced,
                format!("{kind} names namespace `{written}`, which is not one of the scenario's"),
                format!(
                    "cnicheck only touches its own namespaces: name an alias ({}), or leave \
                     `namespace` out for the scenario's own",
                    aliases.join(", ")
                ),
            );
        }
    }

    fn check_variables(&mut self, document: &Located, context: &ManifestContext<'_>) {
        let mut strings = Vec::new();
        Node::strings(document, &mut strings);
        for string in strings {
            let Some(text) = string.value.as_str() else {
                continue;
            };
            for reference in variables::references(text) {
                let problem = match reference {
                    Ok(variable) => variable_problem(variable, context),
                    Err(error) => Some((
                        error.to_string(),
                        format!(
                            "cnicheck fills in ${{NAME}} for {}; write `$${{` for a literal `${{`",
                            variables::KNOWN
                        ),
                    )),
                };
                if let Some((message, hint)) = problem {
                    self.report(string.referenced, message, hint);
                }
            }
        }
    }
}

/// Why `variable` has no value in runs of this scenario, with the fix.
fn variable_problem(
    variable: Variable<'_>,
    context: &ManifestContext<'_>,
) -> Option<(String, String)> {
    if variable == Variable::ExternalHost && !context.external_target {
        return Some((
            format!("{variable} needs an external target, but the scenario does not require one"),
            "add `requires: {external-target: true}` to the scenario, so runs without \
             --external-target skip it"
                .to_owned(),
        ));
    }
    if let Variable::Namespace(alias) = variable
        && !context.namespaces.contains(&alias)
    {
        return Some((
            format!("{variable}: the scenario has no namespace alias `{alias}`"),
            format!("name one of its aliases: {}", context.namespaces.join(", ")),
        ));
    }
    let reference = variable.workload()?;
    if !context.after_deploy {
        return Some((
            format!("{variable}: `setup` manifests are applied before the pods exist"),
            "apply this manifest in a phase (`apply:`), after the workloads are deployed"
                .to_owned(),
        ));
    }
    let Some(workload) = context
        .workloads
        .iter()
        .find(|workload| WorkloadRef::of(workload) == reference)
    else {
        let known: Vec<String> = context
            .workloads
            .iter()
            .map(|workload| WorkloadRef::of(workload).to_string())
            .collect();
        return Some((
            format!("{variable}: the scenario has no workload `{reference}`"),
            format!("name one of its workloads: {}", known.join(", ")),
        ));
    };
    match variable {
        Variable::ServiceIp(_) if workload.service.is_none() => Some((
            format!("{variable}: workload `{reference}` has no Service"),
            "add `service: {}` to the workload".to_owned(),
        )),
        Variable::PodIp(_) | Variable::NodeIp(_) | Variable::PodCidr(_)
            if workload.replicas.value != 1
                || matches!(workload.placement, Placement::EveryNode) =>
        {
            Some((
                format!(
                    "{variable}: workload `{reference}` has more than one pod, so which one is meant is unclear"
                ),
                "name a workload with `replicas: 1` (and no `placement: every-node`)".to_owned(),
            ))
        }
        _ => None,
    }
}

/// The scalar as written at `at`, for quoting it in a hint.
fn written_at(text: &str, at: Location) -> String {
    let span = at.span();
    span.byte_offset()
        .zip(span.byte_len())
        .and_then(|(offset, len)| {
            let start = usize::try_from(offset).ok()?;
            text.get(start..start.checked_add(usize::try_from(len).ok()?)?)
        })
        .unwrap_or("...")
        .to_owned()
}

/// `networkpolicy.spec.podSelector`, without list indices.
fn explain_path(kind: &str, path: &str) -> String {
    let mut explain = kind.to_lowercase();
    for segment in path.split('.').filter(|segment| !segment.is_empty()) {
        let field = segment.split('[').next().unwrap_or_default();
        if !field.is_empty() {
            explain.push('.');
            explain.push_str(field);
        }
    }
    explain
}

type TypeCheck = fn(&Located) -> Result<Vec<UnknownField>, TypeError>;

macro_rules! known_kinds {
    ($($kind:ty),* $(,)?) => {
        /// The type check for objects of kinds k8s-openapi knows.
        fn known_kind(api_version: &str, kind: &str) -> Option<TypeCheck> {
            $(
                if api_version == <$kind as Resource>::API_VERSION
                    && kind == <$kind as Resource>::KIND
                {
                    return Some(check_as::<$kind>);
                }
            )*
            None
        }
    };
}

known_kinds![
    api::core::v1::ConfigMap,
    api::core::v1::Endpoints,
    api::core::v1::LimitRange,
    api::core::v1::Pod,
    api::core::v1::PersistentVolumeClaim,
    api::core::v1::ResourceQuota,
    api::core::v1::Secret,
    api::core::v1::Service,
    api::core::v1::ServiceAccount,
    api::apps::v1::DaemonSet,
    api::apps::v1::Deployment,
    api::apps::v1::ReplicaSet,
    api::apps::v1::StatefulSet,
    api::batch::v1::CronJob,
    api::batch::v1::Job,
    api::discovery::v1::EndpointSlice,
    api::networking::v1::Ingress,
    api::networking::v1::IngressClass,
    api::networking::v1::NetworkPolicy,
    api::policy::v1::PodDisruptionBudget,
    api::rbac::v1::ClusterRole,
    api::rbac::v1::ClusterRoleBinding,
    api::rbac::v1::Role,
    api::rbac::v1::RoleBinding,
];

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(text: &str) -> Vec<String> {
        let context = ManifestContext {
            namespaces: &["default", "other"],
            external_target: false,
            workloads: &[],
            after_deploy: true,
        };
        check("m.yaml", text, &context)
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    const POLICY: &str = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: p\nspec:\n  podSelector: {}\n";

    #[test]
    fn valid_objects_and_custom_resources_pass() {
        assert_eq!(problems(POLICY), Vec::<String>::new());
        let cnp = "apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: c, namespace: other}\nspec: {anything: [1, yes]}\n";
        assert_eq!(
            problems(&format!("{POLICY}---\n{cnp}")),
            Vec::<String>::new()
        );
    }

    #[test]
    fn documents_must_be_objects() {
        let found = problems("hello: world\n");
        assert_eq!(found.len(), 3, "{found:?}");
        assert!(
            found[0].starts_with("m.yaml:1:1: `apiVersion` is missing"),
            "{found:?}"
        );
        assert!(found[0].contains("hint: a manifest holds Kubernetes objects"));
        assert!(found[2].contains("no `metadata`"), "{found:?}");
        let found = problems("- a\n- b\n");
        assert!(found[0].contains("not a mapping"), "{found:?}");
        let found = problems("# nothing\n");
        assert!(
            found[0].starts_with("m.yaml: holds no Kubernetes object"),
            "{found:?}"
        );
        let found = problems("kind: [\n");
        assert!(found[0].starts_with("m.yaml:"), "{found:?}");
    }

    #[test]
    fn types_fields_and_yaml11_booleans() {
        let found = problems(&POLICY.replace("  name: p\n", "  name: p\n  labels: {app: y}\n"));
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].starts_with(
                "m.yaml:5:17: NetworkPolicy `metadata.labels.app`: expected a string, found boolean"
            ),
            "{found:?}"
        );
        assert!(found[0].contains("hint: quote it (\"y\")"), "{found:?}");
        let found = problems(&POLICY.replace("podSelector: {}", "podSelector: {}\n  ingres: []"));
        assert!(
            found[0].starts_with("m.yaml:7:3: NetworkPolicy has no field `spec.ingres`"),
            "{found:?}"
        );
        assert!(
            found[0].contains("kubectl explain networkpolicy.spec.ingres"),
            "{found:?}"
        );
        let found = problems(&POLICY.replace(
            "podSelector: {}",
            "podSelector: {}\n  ingress: [{ports: [{port: 80, protocol: 6}]}]",
        ));
        assert!(
            found[0].contains("`spec.ingress[0].ports[0].protocol`"),
            "{found:?}"
        );
        let found = problems(
            "apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: c, annotations: {x: on}}\n",
        );
        assert!(found[0].contains("`metadata.annotations.x`"), "{found:?}");
    }

    #[test]
    fn namespaces_and_variables() {
        let found =
            problems(&POLICY.replace("  name: p\n", "  name: p\n  namespace: kube-system\n"));
        assert!(
            found[0].contains("names namespace `kube-system`"),
            "{found:?}"
        );
        assert!(found[0].contains("`default`, `other`"), "{found:?}");
        let fqdn = "apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: c}\nspec:\n  egress:\n    - toFQDNs:\n        - matchName: ${CNICHECK_EXTERNAL_HOST}\n";
        let found = problems(fqdn);
        assert!(found[0].contains("needs an external target"), "{found:?}");
        let context = ManifestContext {
            namespaces: &["default"],
            external_target: true,
            workloads: &[],
            after_deploy: true,
        };
        assert!(check("m.yaml", fqdn, &context).is_empty());
    }
}
