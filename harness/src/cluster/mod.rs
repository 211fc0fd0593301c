//! Everything cnicheck does to a Kubernetes cluster: connect, label, create and delete run
//! namespaces, turn workloads into pods and Services, wait for them with reasons, exec the
//! agent, apply manifests, inspect the cluster, and dump diagnostics.
//!
//! Every object cnicheck creates carries the [`labels`] scheme, so that a killed run's leftovers
//! can be found and removed by label ([`cleanup_leftovers`]) and nothing else is ever touched.

mod agent_session;
mod apply;
mod cilium;
mod cilium_config;
mod cilium_encryption;
mod client;
mod deadline;
mod diagnostics;
mod error;
mod events;
mod exec;
mod inspect;
mod kubectl;
pub mod labels;
mod namespace;
mod placement;
mod pod_state;
mod wait;
mod workload;

pub use agent_session::AgentSessions;
pub use apply::{
    AppliedObject, ApplyContext, DryRunOutcome, FIELD_MANAGER, VariableValues, apply_manifests,
    delete_applied, dry_run_each, object_label, parse_manifests,
};
#[cfg(test)]
pub(crate) use cilium::tests as cilium_fixtures;
pub use cilium::{
    AGENT_CONTAINER as CILIUM_AGENT_CONTAINER, AGENT_DAEMONSET as CILIUM_AGENT_DAEMONSET,
    CiliumInstall, Component, ComponentPod, NoL7Proxy,
    OPERATOR_DEPLOYMENT as CILIUM_OPERATOR_DEPLOYMENT, find_cilium,
    health_status as cilium_health_status, l7_proxy_available,
};
pub use cilium_config::{L7Proxy, Routing, RoutingProblem, ServiceBalancing, TunnelProtocol};
pub use cilium_encryption::encryption_status as cilium_encryption_status;
pub use client::{Cluster, ConnectError, DEFAULT_API_TIMEOUT, KubeconfigNotFound, connect};
pub use deadline::RequestTimedOut;
pub use diagnostics::{DiagnosticsSummary, dump_namespace};
pub use error::{ApiFailure, FailureKind, OnServer, Server};
pub use exec::{CommandEnding, CommandFailed, PodRef, batch_deadline};
pub use inspect::{
    CniInfo, NodeInfo, detect_cni, list_nodes, missing_crds, network_attachment_config,
    server_version,
};
pub use kubectl::{Kubectl, shell_word};
pub use labels::RunId;
pub use namespace::{CleanupReport, cleanup_leftovers, create_namespace, delete_namespace};
pub use placement::plan_nodes;
pub use pod_state::PodProblem;
pub use wait::{WaitOptions, wait_for_pods_ready, wait_for_service_endpoints};
pub use workload::{
    AGENT_BINARY, AGENT_CONTAINER, Images, ListenPorts, PullPolicy, WorkloadContext, build_pods,
    build_service, create_workload, parse_registry_prefix,
};

use crate::scenario::NameError;
pub use apply::{ManifestError, ObjectProblem};
use std::path::PathBuf;
use std::time::Duration;

/// What went wrong while cnicheck was talking to the cluster, and what it was doing at the time.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// No client: the kubeconfig, the in-cluster config or the client itself failed.
    #[error(transparent)]
    Connect(#[from] ConnectError),

    /// A Kubernetes API call failed; `doing` says which one and on what.
    #[error("{doing}: {}", ApiFailure(source))]
    Api {
        doing: String,
        #[source]
        source: Box<kube::Error>,
    },

    #[error("cleanup did not finish within {} s; what it removed so far is gone, the rest is \
        still there", waited.as_secs())]
    CleanupTimedOut { waited: Duration },

    #[error("invalid {what} {name:?}: {why}")]
    InvalidName {
        what: &'static str,
        name: String,
        why: NameError,
    },

    #[error("workload {workload}: {problem}")]
    InvalidWorkload { workload: String, problem: String },

    #[error("cannot place workload {workload}: {problem}")]
    Placement { workload: String, problem: String },

    #[error("{} pod(s) not ready after {:.0}s:\n{}", problems.len(), waited.as_secs_f64(),
        problems.iter().map(|p| format!("  {p}")).collect::<Vec<_>>().join("\n"))]
    PodsNotReady {
        waited: Duration,
        problems: Vec<PodProblem>,
    },

    #[error("Service {namespace}/{service} has no ready endpoint for {} after {:.0}s (ready endpoints: {})",
        missing.join(", "), waited.as_secs_f64(),
        if ready.is_empty() { "none".to_string() } else { ready.join(", ") })]
    EndpointsNotReady {
        namespace: String,
        service: String,
        missing: Vec<String>,
        ready: Vec<String>,
        waited: Duration,
    },

    #[error("{what} still present {:.0}s after deletion{}", timeout.as_secs_f64(),
        if detail.is_empty() { String::new() } else { format!(": {detail}") })]
    DeletionTimedOut {
        what: String,
        timeout: Duration,
        detail: String,
    },

    /// A manifest that cannot be applied as written.
    #[error(transparent)]
    Manifest(#[from] ManifestError),

    /// An object cnicheck reads but did not create is not as Kubernetes would have it.
    #[error("cannot read {object}: {problem}")]
    UnreadableObject { object: String, problem: String },

    #[error("could not write diagnostics to {}: {source}", path.display())]
    WriteDiagnostics {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl ClusterError {
    /// Whether the API server could not be reached at all: cleaning up would fail the same way.
    pub fn server_unreachable(&self) -> bool {
        matches!(self, ClusterError::Api { source, .. } if ApiFailure(source).kind().is_unreachable())
    }
}

/// Names the API call a [`kube::Error`] came from.
trait ApiContext<T> {
    fn doing(self, doing: impl FnOnce() -> String) -> Result<T, ClusterError>;
}

impl<T> ApiContext<T> for Result<T, kube::Error> {
    fn doing(self, doing: impl FnOnce() -> String) -> Result<T, ClusterError> {
        self.map_err(|source| ClusterError::Api {
            doing: doing(),
            source: Box::new(source),
        })
    }
}

/// Whether an API error means the object does not exist (already deleted counts as done).
fn is_not_found(error: &kube::Error) -> bool {
    // An API group the server does not serve answers with a bare "404 page not found", not a
    // Status with reason NotFound.
    matches!(error, kube::Error::Api(status) if status.is_not_found() || status.code == 404)
}
