//! What to keep from a namespace when something failed, before it is deleted.
//!
//! Layout under `DIR/NAMESPACE/`: `events.txt`, `pods/POD.json`, `pods/POD.log` (and
//! `POD.previous.log` after restarts), `services.json`, `endpointslices.json`.

use super::events::{format_event, list_events};
use super::workload::AGENT_CONTAINER;
use super::{ApiContext, ClusterError};
use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, ListParams, LogParams};
use kube::{Client, ResourceExt};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Agent logs are short; this only guards against a runaway one.
const LOG_TAIL_LINES: i64 = 5000;

/// The files written, and what could not be collected (the rest is still written).
#[derive(Debug, Default)]
pub struct DiagnosticsSummary {
    pub files: Vec<PathBuf>,
    pub problems: Vec<ClusterError>,
}

impl DiagnosticsSummary {
    fn record<T>(&mut self, outcome: Result<T, ClusterError>) -> Option<T> {
        outcome.map_err(|problem| self.problems.push(problem)).ok()
    }

    fn keep_file(&mut self, written: Result<PathBuf, ClusterError>) {
        if let Some(path) = self.record(written) {
            self.files.push(path);
        }
    }
}

/// Dumps pods (objects and agent logs), Services, EndpointSlices and events of `namespace`
/// into `dir`. Fails only when the directory cannot be created; anything else that cannot
/// be collected is listed in the summary's problems.
pub async fn dump_namespace(
    client: &Client,
    namespace: &str,
    dir: &Path,
) -> Result<DiagnosticsSummary, ClusterError> {
    let root = dir.join(namespace);
    let pods_dir = root.join("pods");
    create_dir(&pods_dir).await?;
    let mut summary = DiagnosticsSummary::default();

    if let Some(events) = summary.record(list_events(client, namespace).await) {
        let text: String = events
            .iter()
            .map(|event| format_event(event) + "\n")
            .collect();
        let written = write(&root.join("events.txt"), text.as_bytes()).await;
        summary.keep_file(written);
    }

    let pods_api = Api::<Pod>::namespaced(client.clone(), namespace);
    let pods = pods_api
        .list(&ListParams::default())
        .await
        .doing(|| format!("listing pods in {namespace} for diagnostics"));
    for pod in summary
        .record(pods)
        .map(|list| list.items)
        .unwrap_or_default()
    {
        let name = pod.name_any();
        let written = write_json(&pods_dir.join(format!("{name}.json")), &pod).await;
        summary.keep_file(written);
        let restarted = pod
            .status
            .iter()
            .flat_map(|status| status.container_statuses.iter().flatten())
            .any(|container| container.name == AGENT_CONTAINER && container.restart_count > 0);
        let runs: &[(bool, &str)] = if restarted {
            &[(false, "log"), (true, "previous.log")]
        } else {
            &[(false, "log")]
        };
        for &(previous, suffix) in runs {
            let params = LogParams {
                container: Some(AGENT_CONTAINER.into()),
                previous,
                tail_lines: Some(LOG_TAIL_LINES),
                timestamps: true,
                ..LogParams::default()
            };
            let logs = pods_api
                .logs(&name, &params)
                .await
                .doing(|| format!("reading {suffix} of pod {namespace}/{name}"));
            if let Some(logs) = summary.record(logs) {
                let written =
                    write(&pods_dir.join(format!("{name}.{suffix}")), logs.as_bytes()).await;
                summary.keep_file(written);
            }
        }
    }

    let services = Api::<Service>::namespaced(client.clone(), namespace)
        .list(&ListParams::default())
        .await
        .doing(|| format!("listing Services in {namespace} for diagnostics"));
    if let Some(services) = summary.record(services) {
        let written = write_json(&root.join("services.json"), &services.items).await;
        summary.keep_file(written);
    }

    let slices = Api::<EndpointSlice>::namespaced(client.clone(), namespace)
        .list(&ListParams::default())
        .await
        .doing(|| format!("listing EndpointSlices in {namespace} for diagnostics"));
    if let Some(slices) = summary.record(slices) {
        let written = write_json(&root.join("endpointslices.json"), &slices.items).await;
        summary.keep_file(written);
    }
    Ok(summary)
}

async fn create_dir(path: &Path) -> Result<(), ClusterError> {
    tokio::fs::create_dir_all(path)
        .await
        .map_err(|source| ClusterError::WriteDiagnostics {
            path: path.into(),
            source,
        })
}

async fn write_json(path: &Path, value: &impl Serialize) -> Result<PathBuf, ClusterError> {
    let text =
        serde_json::to_vec_pretty(value).map_err(|error| ClusterError::WriteDiagnostics {
            path: path.into(),
            source: error.into(),
        })?;
    write(path, &text).await
}

async fn write(path: &Path, contents: &[u8]) -> Result<PathBuf, ClusterError> {
    tokio::fs::write(path, contents)
        .await
        .map_err(|source| ClusterError::WriteDiagnostics {
            path: path.into(),
            source,
        })?;
    Ok(path.into())
}
