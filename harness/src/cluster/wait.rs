//! Waiting for agent pods and Service endpoints, with a deadline for every wait. What a pod's
//! state means (ready, on its way, stuck, failed) is decided in [`super::pod_state`]; this
//! module polls, gives up on a pod stuck for [`WaitOptions::stuck_grace`] or failed at once,
//! and adds the pod's last warning event to what it reports.

use super::events::{last_warning_for, list_events};
use super::pod_state::{
    CREATING, FAILED_SANDBOX, PodProblem, assess, ready_endpoint_pods, recognised_sandbox_failures,
};
use super::{ApiContext, ClusterError};
use crate::multus::{self, SandboxFailure};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::Client;
use kube::api::{Api, ListParams};
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::time::Instant;

#[derive(Debug, Clone, Copy)]
pub struct WaitOptions {
    /// Give up after this long.
    pub timeout: Duration,
    /// Give up on a pod once it has been stuck (see [`PodProblem`]) this long: long enough for
    /// a transient registry error to clear, short enough not to wait out the timeout.
    pub stuck_grace: Duration,
    pub poll_interval: Duration,
}

impl Default for WaitOptions {
    fn default() -> Self {
        WaitOptions {
            timeout: Duration::from_secs(180),
            stuck_grace: Duration::from_secs(20),
            poll_interval: Duration::from_secs(1),
        }
    }
}

/// Waits until every pod in `names` is Ready, and returns them. On failure the error lists
/// every pod that is not ready, with Kubernetes' reason and the pod's last warning event.
/// A pod Multus cannot attach for a reason cnicheck knows (see [`SandboxFailure`]) is named
/// as such, at once when it cannot clear by itself.
pub async fn wait_for_pods_ready(
    client: &Client,
    namespace: &str,
    names: &[String],
    options: WaitOptions,
) -> Result<Vec<Pod>, ClusterError> {
    let api = Api::<Pod>::namespaced(client.clone(), namespace);
    let started = Instant::now();
    let mut stuck_since = BTreeMap::new();
    let mut sandbox_failures = BTreeMap::new();
    let mut creating = false;
    loop {
        let pods = api
            .list(&ListParams::default())
            .await
            .doing(|| format!("listing pods in {namespace} while waiting for them to be ready"))?
            .items;
        // Events only matter while sandboxes are being created: read them only then.
        if creating {
            sandbox_failures = sandbox_failures_in(client, namespace).await;
        }
        let now = Instant::now();
        let mut assessment = assess(
            names,
            pods,
            &sandbox_failures,
            &mut stuck_since,
            now,
            options.stuck_grace,
        );
        creating = assessment
            .problems
            .iter()
            .any(|problem| problem.reason == CREATING);
        if assessment.problems.is_empty() {
            return Ok(assessment.ready);
        }
        if assessment.give_up || now.duration_since(started) >= options.timeout {
            add_last_warnings(client, namespace, &mut assessment.problems).await;
            return Err(ClusterError::PodsNotReady {
                waited: now.duration_since(started),
                problems: assessment.problems,
            });
        }
        let remaining = options.timeout.saturating_sub(now.duration_since(started));
        tokio::time::sleep(options.poll_interval.min(remaining)).await;
    }
}

/// The recognised sandbox failures of the pods in `namespace`, with the master interface
/// looked up in the NAD when the message does not name it. Best effort, like events.
async fn sandbox_failures_in(client: &Client, namespace: &str) -> BTreeMap<String, SandboxFailure> {
    let Ok(events) = list_events(client, namespace).await else {
        return BTreeMap::new();
    };
    let mut failures = recognised_sandbox_failures(&events);
    for failure in failures.values_mut() {
        if let SandboxFailure::MasterNotFound {
            network: Some(network),
            master: None,
        } = failure
        {
            let config = super::network_attachment_config(client, namespace, network).await;
            let master = config
                .ok()
                .flatten()
                .and_then(|config| multus::master_of(&config));
            *failure = failure.clone().with_master(|_| master);
        }
    }
    failures
}

/// Events often hold the real cause (a CNI error in FailedCreatePodSandBox, a failing
/// readiness probe). Best effort: the problems stand on their own if events cannot be read.
async fn add_last_warnings(client: &Client, namespace: &str, problems: &mut [PodProblem]) {
    let events = match list_events(client, namespace).await {
        Ok(events) => events,
        Err(error) => {
            tracing::warn!("{error}");
            return;
        }
    };
    // An explained sandbox failure already says what the event says, in words.
    let unexplained = problems
        .iter_mut()
        .filter(|problem| problem.reason != FAILED_SANDBOX);
    for problem in unexplained {
        if let Some(warning) = last_warning_for(&events, &problem.pod) {
            problem.message = if problem.message.is_empty() {
                format!("last event: {warning}")
            } else {
                format!("{}; last event: {warning}", problem.message)
            };
        }
    }
}

/// Waits until the Service's EndpointSlices list every pod in `pods` as ready: only then do
/// probes through the Service test the network rather than the endpoint controller.
pub async fn wait_for_service_endpoints(
    client: &Client,
    namespace: &str,
    service: &str,
    pods: &[String],
    timeout: Duration,
) -> Result<(), ClusterError> {
    let api = Api::<EndpointSlice>::namespaced(client.clone(), namespace);
    let params = ListParams::default().labels(&format!("kubernetes.io/service-name={service}"));
    let started = Instant::now();
    loop {
        let slices = api
            .list(&params)
            .await
            .doing(|| format!("listing EndpointSlices of Service {namespace}/{service}"))?
            .items;
        let ready = ready_endpoint_pods(&slices);
        let missing: Vec<String> = pods
            .iter()
            .filter(|pod| !ready.contains(*pod))
            .cloned()
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        let waited = started.elapsed();
        if waited >= timeout {
            return Err(ClusterError::EndpointsNotReady {
                namespace: namespace.into(),
                service: service.into(),
                missing,
                ready: ready.into_iter().collect(),
                waited,
            });
        }
        tokio::time::sleep(Duration::from_secs(1).min(timeout - waited)).await;
    }
}
