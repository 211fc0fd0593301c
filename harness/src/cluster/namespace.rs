//! Run namespaces, and removing everything cnicheck left behind.

use super::labels::{self, RunId};
use super::wait::watch_failed;
use super::{ApiContext, ApiFailure, ClusterError, is_not_found};
use crate::scenario::NameError;
use crate::scenario::model::NamespaceSpec;
use futures::future::join_all;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, PostParams};
use kube::discovery::{Discovery, Scope, verbs};
use kube::runtime::wait::Error as WaitError;
use kube::runtime::wait::delete::{Error as DeleteError, delete_and_finalize};
use kube::{Client, Resource, ResourceExt};
use std::fmt::Debug;
use std::time::Duration;
use tokio::time::Instant;

/// Host-network agents need the `privileged` Pod Security level; the namespace is ours and
/// short-lived, and without this a cluster enforcing `baseline` rejects them with a message
/// that does not mention cnicheck.
const POD_SECURITY_ENFORCE: (&str, &str) = ("pod-security.kubernetes.io/enforce", "privileged");

/// Creates namespace `name` for `run`, with the scenario's labels (for namespace selectors in
/// policies). cnicheck's own labels cannot be overridden.
pub async fn create_namespace(
    client: &Client,
    name: &str,
    run: &RunId,
    spec: &NamespaceSpec,
) -> Result<Namespace, ClusterError> {
    let namespace = namespace_object(name, run, spec)?;
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &namespace)
        .await
        .doing(|| format!("creating namespace {name}"))
}

fn namespace_object(
    name: &str,
    run: &RunId,
    spec: &NamespaceSpec,
) -> Result<Namespace, ClusterError> {
    labels::check_dns_label("namespace name", name)?;
    if let Some(key) = spec
        .labels
        .keys()
        .find(|key| labels::RESERVED.contains(&key.as_str()))
    {
        return Err(ClusterError::InvalidName {
            what: "namespace label",
            name: key.clone(),
            why: NameError::Reserved,
        });
    }
    let mut namespace_labels = std::collections::BTreeMap::from([(
        POD_SECURITY_ENFORCE.0.to_string(),
        POD_SECURITY_ENFORCE.1.to_string(),
    )]);
    namespace_labels.extend(spec.labels.clone());
    namespace_labels.extend(run.labels());
    Ok(Namespace {
        metadata: ObjectMeta {
            name: Some(name.into()),
            labels: Some(namespace_labels),
            annotations: Some(run.annotations()),
            ..ObjectMeta::default()
        },
        ..Namespace::default()
    })
}

/// Deletes namespace `name` and waits until it is gone. A namespace that is already gone
/// counts as deleted. On timeout the error carries the namespace's own account of what is
/// holding it up (its status conditions).
pub async fn delete_namespace(
    client: &Client,
    name: &str,
    timeout: Duration,
) -> Result<(), ClusterError> {
    let api = Api::<Namespace>::all(client.clone());
    match delete_and_wait(api.clone(), name, timeout).await {
        Err(ClusterError::DeletionTimedOut { what, timeout, .. }) => {
            Err(ClusterError::DeletionTimedOut {
                what,
                timeout,
                detail: deletion_blockers(&api, name).await,
            })
        }
        other => other,
    }
}

/// Deletes an object and waits for it (and its finalizers) to be gone, up to `timeout`.
pub(super) async fn delete_and_wait<K>(
    api: Api<K>,
    name: &str,
    timeout: Duration,
) -> Result<(), ClusterError>
where
    K: Clone + Debug + Send + serde::de::DeserializeOwned + Resource + 'static,
    K::DynamicType: Default,
{
    let what = format!("{} {name}", K::kind(&K::DynamicType::default()));
    delete_and_wait_with(api, name, what, timeout).await
}

/// [`delete_and_wait`] for objects whose kind is only known at run time.
pub(super) async fn delete_and_wait_with<K>(
    api: Api<K>,
    name: &str,
    what: String,
    timeout: Duration,
) -> Result<(), ClusterError>
where
    K: Clone + Debug + Send + serde::de::DeserializeOwned + Resource + 'static,
{
    let params = DeleteParams::background();
    match tokio::time::timeout(timeout, delete_and_finalize(api, name, &params)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(DeleteError::Delete(error))) if is_not_found(&error) => Ok(()),
        Ok(Err(DeleteError::Delete(source))) => Err(ClusterError::Api {
            doing: format!("deleting {what}"),
            source: Box::new(source),
        }),
        Ok(Err(DeleteError::Await(WaitError::ProbeFailed(error)))) => Err(watch_failed(
            format!("watching the deletion of {what}"),
            error,
        )),
        Ok(Err(DeleteError::NoUid)) => Err(ClusterError::UnreadableObject {
            object: what,
            problem: "the API server's answer to its deletion has no UID to wait for".into(),
        }),
        Err(_) => Err(ClusterError::DeletionTimedOut {
            what,
            timeout,
            detail: String::new(),
        }),
    }
}

/// The namespace controller's conditions that are true: remaining finalizers or resources.
async fn deletion_blockers(api: &Api<Namespace>, name: &str) -> String {
    match api.get_opt(name).await {
        Ok(Some(namespace)) => namespace
            .status
            .and_then(|status| status.conditions)
            .unwrap_or_default()
            .into_iter()
            .filter(|condition| condition.status == "True")
            .map(|condition| {
                format!(
                    "{}: {}",
                    condition.reason.unwrap_or(condition.type_),
                    condition.message.unwrap_or_default()
                )
            })
            .collect::<Vec<_>>()
            .join("; "),
        Ok(None) => "it is gone now".into(),
        Err(error) => format!("could not read its status: {}", ApiFailure(&error)),
    }
}

/// What [`cleanup_leftovers`] removed, and what it could not.
#[derive(Debug, Default)]
pub struct CleanupReport {
    /// `Kind name` (cluster-scoped objects and namespaces).
    pub removed: Vec<String>,
    pub failures: Vec<ClusterError>,
    /// Cluster-scoped resource types (plural) this identity may not list, so not searched.
    /// With cnicheck's least-privilege role (manifests/rbac) it can create none of them either.
    pub not_listable: Vec<String>,
}

/// Deletes every namespace and cluster-scoped object labelled and annotated as made by cnicheck (only
/// those of `run`, if given; without it, runs still in progress lose theirs too) and waits
/// for them to be gone, all within `timeout`. Namespaced objects go with their namespaces.
/// Continues past failures and reports them all, except a server that cannot be reached,
/// which ends it at once.
pub async fn cleanup_leftovers(
    client: &Client,
    run: Option<&str>,
    timeout: Duration,
) -> Result<CleanupReport, ClusterError> {
    let deadline = Instant::now() + timeout;
    let selector = labels::managed_selector(run);
    let mut report = CleanupReport::default();
    let doomed = tokio::time::timeout_at(deadline, find_leftovers(client, &selector, &mut report))
        .await
        .map_err(|_| ClusterError::CleanupTimedOut { waited: timeout })??;
    // Namespaces last would be tidier but slower; deletion order does not matter for
    // correctness, so everything goes at once and is awaited together.
    let remaining = deadline.saturating_duration_since(Instant::now());
    let outcomes =
        join_all(doomed.iter().map(|(api, name, what)| {
            delete_and_wait_with(api.clone(), name, what.clone(), remaining)
        }))
        .await;
    for ((_, _, what), outcome) in doomed.into_iter().zip(outcomes) {
        match outcome {
            Ok(()) => report.removed.push(what),
            Err(error) => report.failures.push(error),
        }
    }
    Ok(report)
}

/// The objects labelled `selector` in every cluster-scoped resource type: their API, name,
/// and `Kind name`. Types that cannot be listed go into `report`.
async fn find_leftovers(
    client: &Client,
    selector: &str,
    report: &mut CleanupReport,
) -> Result<Vec<(Api<DynamicObject>, String, String)>, ClusterError> {
    let params = ListParams::default().labels(selector);
    let mut doomed = Vec::new();
    for (resource, capabilities) in cluster_scoped_resources(client).await? {
        if !capabilities.supports_operation(verbs::LIST)
            || !capabilities.supports_operation(verbs::DELETE)
        {
            continue;
        }
        let api = Api::<DynamicObject>::all_with(client.clone(), &resource);
        let doing = || format!("listing {} labelled {selector}", resource.plural);
        let objects = match api.list_metadata(&params).await {
            Ok(objects) => objects,
            Err(kube::Error::Api(status)) if status.is_forbidden() => {
                report.not_listable.push(resource.plural.clone());
                continue;
            }
            // Every other type would wait out the same deadline.
            Err(source) if ApiFailure(&source).kind().is_unreachable() => {
                return Err(ClusterError::Api {
                    doing: doing(),
                    source: Box::new(source),
                });
            }
            // One unavailable API (an aggregated API server that is down) must not stop the rest.
            Err(source) => {
                report.failures.push(ClusterError::Api {
                    doing: doing(),
                    source: Box::new(source),
                });
                continue;
            }
        };
        for object in objects.into_iter().filter(|object| {
            labels::created_by_cnicheck(
                object.metadata.labels.as_ref(),
                object.metadata.annotations.as_ref(),
            )
        }) {
            let what = format!("{} {}", resource.kind, object.name_any());
            doomed.push((api.clone(), object.name_any(), what));
        }
    }
    Ok(doomed)
}

/// Every cluster-scoped resource type the cluster serves (namespaces included), at its
/// preferred version.
async fn cluster_scoped_resources(
    client: &Client,
) -> Result<Vec<(kube::api::ApiResource, kube::discovery::ApiCapabilities)>, ClusterError> {
    // Aggregated discovery is two requests; older API servers need one per group.
    let discovery = match Discovery::new(client.clone()).run_aggregated().await {
        Ok(discovery) => discovery,
        Err(error) if ApiFailure(&error).kind().is_unreachable() => {
            return Err(ClusterError::Api {
                doing: "discovering the cluster's resource types".into(),
                source: Box::new(error),
            });
        }
        Err(_) => Discovery::new(client.clone())
            .run()
            .await
            .doing(|| "discovering the cluster's resource types".into())?,
    };
    Ok(discovery
        .groups()
        .flat_map(|group| group.recommended_resources())
        .filter(|(_, capabilities)| capabilities.scope == Scope::Cluster)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_carry_run_labels_and_scenario_labels() {
        let run = RunId::parse("t0abcd1234").unwrap();
        let spec = NamespaceSpec {
            labels: [("team".to_string(), "blue".to_string())].into(),
        };
        let namespace = namespace_object("cnicheck-t0abcd1234-other", &run, &spec).unwrap();
        let namespace_labels = namespace.metadata.labels.unwrap();
        assert_eq!(
            namespace.metadata.name.as_deref(),
            Some("cnicheck-t0abcd1234-other")
        );
        assert_eq!(namespace_labels[labels::MANAGED_BY], "cnicheck");
        assert_eq!(namespace_labels[labels::RUN], "t0abcd1234");
        assert_eq!(namespace_labels["team"], "blue");
        assert_eq!(
            namespace_labels["pod-security.kubernetes.io/enforce"],
            "privileged"
        );
    }

    #[test]
    fn scenario_labels_cannot_take_over_cnicheck_labels() {
        let run = RunId::parse("t0abcd1234").unwrap();
        let spec = NamespaceSpec {
            labels: [(labels::RUN.to_string(), "other".to_string())].into(),
        };
        assert!(namespace_object("cnicheck-t0abcd1234", &run, &spec).is_err());
    }
}
