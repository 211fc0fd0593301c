//! Waiting for agent pods and Service endpoints, with a deadline for every wait. What a pod's
//! state means (ready, on its way, stuck, failed) is decided in [`super::pod_state`]; this
//! module watches, gives up on a pod stuck for [`WaitOptions::stuck_grace`] or failed at once,
//! and adds the pod's last warning event to what it reports.

use super::ClusterError;
use super::events::{last_warning_for, list_events};
use super::pod_state::{
    CREATING, FAILED_SANDBOX, PodProblem, assess, ready_endpoint_pods, recognised_sandbox_failures,
};
use crate::multus::{self, SandboxFailure};
use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::Client;
use kube::api::Api;
use kube::runtime::watcher::{self, Error as WatchError};
use kube::runtime::{WatchStreamExt, reflector};
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::hash::Hash;
use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// How often a wait looks again without news from its watch: deadlines and a stuck pod's
/// grace are measured in time, not in changes.
const TICK: Duration = Duration::from_secs(1);
/// How long pods may be in creation before their events are read for sandbox failures.
const EVENTS_AFTER: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, Copy)]
pub struct WaitOptions {
    /// Give up after this long.
    pub timeout: Duration,
    /// Give up on a pod once it has been stuck (see [`PodProblem`]) this long: long enough for
    /// a transient registry error to clear, short enough not to wait out the timeout.
    pub stuck_grace: Duration,
}

impl Default for WaitOptions {
    fn default() -> Self {
        WaitOptions {
            timeout: Duration::from_secs(180),
            stuck_grace: Duration::from_secs(20),
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
    let mut creating_since: Option<Instant> = None;
    let mut events_read: Option<Instant> = None;
    let decide = async |pods: Vec<Arc<Pod>>| {
        let now = Instant::now();
        // Events only matter while sandboxes are being created: read them only then, once a
        // second at most.
        let creating_for = creating_since.map(|since| now.duration_since(since));
        if creating_for.is_some_and(|creating_for| creating_for >= EVENTS_AFTER)
            && events_read.is_none_or(|read| now.duration_since(read) >= TICK)
        {
            sandbox_failures = sandbox_failures_in(client, namespace).await;
            events_read = Some(now);
        }
        let pods = pods.iter().map(|pod| Pod::clone(pod)).collect();
        let mut assessment = assess(
            names,
            pods,
            &sandbox_failures,
            &mut stuck_since,
            now,
            options.stuck_grace,
        );
        let creating = assessment
            .problems
            .iter()
            .any(|problem| problem.reason == CREATING);
        creating_since = creating.then(|| creating_since.unwrap_or(now));
        if assessment.problems.is_empty() {
            return ControlFlow::Break(Ok(assessment.ready));
        }
        if assessment.give_up || now.duration_since(started) >= options.timeout {
            add_last_warnings(client, namespace, &mut assessment.problems).await;
            return ControlFlow::Break(Err(ClusterError::PodsNotReady {
                waited: now.duration_since(started),
                problems: assessment.problems,
            }));
        }
        ControlFlow::Continue(())
    };
    let deadline = started + options.timeout;
    watch_until(api, watcher::Config::default(), deadline, decide)
        .await
        .map_err(|error| {
            watch_failed(
                format!("watching pods in {namespace} while waiting for them to be ready"),
                error,
            )
        })?
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
    let config =
        watcher::Config::default().labels(&format!("kubernetes.io/service-name={service}"));
    let started = Instant::now();
    let decide = async |slices: Vec<Arc<EndpointSlice>>| {
        let ready = ready_endpoint_pods(slices.iter().map(Arc::as_ref));
        let missing: Vec<String> = pods
            .iter()
            .filter(|pod| !ready.contains(*pod))
            .cloned()
            .collect();
        if missing.is_empty() {
            return ControlFlow::Break(Ok(()));
        }
        let waited = started.elapsed();
        if waited >= timeout {
            return ControlFlow::Break(Err(ClusterError::EndpointsNotReady {
                namespace: namespace.into(),
                service: service.into(),
                missing,
                ready: ready.into_iter().collect(),
                waited,
            }));
        }
        ControlFlow::Continue(())
    };
    watch_until(api, config, started + timeout, decide)
        .await
        .map_err(|error| {
            watch_failed(
                format!("watching the EndpointSlices of Service {namespace}/{service}"),
                error,
            )
        })?
}

/// Keeps what `api` lists under `config` current through a watch and hands it to `decide`
/// after every change once the first list is in, and every [`TICK`] in between, until `decide`
/// breaks with its answer. The answer, a timeout included, is `decide`'s: if the first list has
/// not come by `deadline`, `decide` sees nothing and says so. The watch's first error ends the
/// wait.
async fn watch_until<K, T>(
    api: Api<K>,
    config: watcher::Config,
    deadline: Instant,
    mut decide: impl AsyncFnMut(Vec<Arc<K>>) -> ControlFlow<T>,
) -> Result<T, WatchError>
where
    K: kube::Resource + Clone + Debug + DeserializeOwned + Send + Sync + 'static,
    K::DynamicType: Default + Eq + Hash + Clone,
{
    let (store, writer) = reflector::store();
    let mut changes = std::pin::pin!(watcher::watcher(api, config).reflect(writer));
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut listed = false;
    // A watcher's stream does not end; if it did, the ticks would still reach the deadline.
    let mut watching = true;
    loop {
        tokio::select! {
            change = changes.next(), if watching => match change {
                Some(Ok(watcher::Event::InitDone)) => listed = true,
                Some(Ok(_)) => {}
                Some(Err(error)) => return Err(error),
                None => watching = false,
            },
            _ = tick.tick() => {}
        }
        if (listed || Instant::now() >= deadline)
            && let ControlFlow::Break(answer) = decide(store.state()).await
        {
            return Ok(answer);
        }
    }
}

/// A watch that failed, with the API error behind it when there is one.
pub(super) fn watch_failed(doing: String, error: WatchError) -> ClusterError {
    let source = match error {
        WatchError::InitialListFailed(source)
        | WatchError::WatchStartFailed(source)
        | WatchError::WatchFailed(source) => source,
        WatchError::WatchError(status) => kube::Error::Api(status),
        WatchError::NoResourceVersion => {
            return ClusterError::UnreadableObject {
                object: doing,
                problem: "the watch's answer has no resourceVersion".into(),
            };
        }
    };
    ClusterError::Api {
        doing,
        source: Box::new(source),
    }
}
