//! The runner: runs selected scenarios against a cluster and produces a [`RunReport`].
//!
//! Scenarios run concurrently, each in namespaces of its own, so one scenario's policies never
//! touch another's pods; scenarios that declare the same workloads and change nothing share
//! one deployment of them (see [`sharing`]). Within a scenario, phases run in order (in stretches, on several copies
//! of its workloads at once, when it asks for `copies`); within a phase every probe runs at once
//! (see [`execute`]). Test names come from [`cells`], which needs no cluster, so
//! `--list` and filters work offline. The runner prints nothing: it emits [`RunEvent`]s into the
//! caller's [`EventSink`], and reporting is left to [`crate::report`].

mod balancing;
pub mod cells;
mod cluster_facts;
mod copies;
mod deploy;
mod execute;
mod phases;
mod plan;
mod preflight;
mod requirements;
mod scenario_run;
mod settle;
mod sharing;
mod tunnel;
mod variable_values;

pub use plan::{DEFAULT_PROBE_TIMEOUT_SECS, ExternalTarget};
pub use tunnel::TunnelOverride;

use crate::checks::CheckOptions;
use crate::cluster::{
    self, CiliumInstall, ClusterError, CniInfo, Images, Kubectl, NodeInfo, RunId,
};
use crate::events::{EventSink, PhaseSummary, RunEvent};
use crate::multus::NadOptions;
use crate::report::model::{ProbeReport, REPORT_FORMAT_VERSION, RunReport, ScenarioReport};
use crate::report::{self, truth_table};
use crate::scenario::model::Scenario;
use crate::scenario::{LoadedScenario, ScenarioError};
use futures::StreamExt;
use k8s_openapi::jiff::Timestamp;
use kube::Client;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    #[error(transparent)]
    Manifest(#[from] ScenarioError),
}

#[derive(Debug, Clone)]
pub struct RunOptions {
    pub images: Images,
    pub external: Option<ExternalTarget>,
    /// Per wait for pods, Services and namespaces.
    pub setup_timeout: Duration,
    /// How long a phase that applied or deleted objects polls for the expected state.
    pub propagation_timeout: Duration,
    /// How long a phase that applied or deleted objects must match in a row to count, when no
    /// probe shows the change taking effect.
    pub settle: Duration,
    /// How long after a phase's change was seen taking effect it must still match.
    pub confirm: Duration,
    /// Extra attempts for failing probes in phases that changed nothing.
    pub retries: u32,
    /// Keep namespaces after the run, for debugging.
    pub keep: bool,
    /// Where diagnostics of troubled scenarios go.
    pub artifacts: PathBuf,
    /// Scenarios running at once.
    pub parallel: usize,
    /// What built-in checks expect (e.g. Cilium's images).
    pub checks: CheckOptions,
    /// `--tunnel-port`: the overlay port `port: tunnel` probes, instead of the cluster's own.
    pub tunnel_port: Option<TunnelOverride>,
    /// The NetworkAttachmentDefinition of scenarios with a `multus-network`.
    pub multus: NadOptions,
    /// How reproduce commands reach the cluster.
    pub kubectl: Kubectl,
}

/// What every scenario of a run shares.
pub struct SuiteContext {
    pub client: Client,
    pub run: RunId,
    pub options: RunOptions,
    pub nodes: Vec<NodeInfo>,
    pub cni: CniInfo,
    /// Cilium as found at the start of the run, if the cluster runs it.
    pub cilium: Option<CiliumInstall>,
    /// What `port: tunnel` probes.
    pub tunnel: tunnel::Tunnel,
    /// Why `expect: consistent` cells are skipped.
    pub consistent_hashing_skip: String,
    /// Why the cluster ignores session affinity, when its configuration says so.
    pub affinity_ignored: Option<String>,
    /// Each Cilium agent's encryption status by node, as the agents said it.
    pub cilium_encryption: BTreeMap<String, String>,
    events: Arc<dyn EventSink>,
}

impl SuiteContext {
    fn probe_finished(&self, probe: &ProbeReport) {
        self.events.event(RunEvent::ProbeFinished { probe });
    }

    fn phase_finished(&self, phase: &PhaseSummary<'_>) {
        self.events.event(RunEvent::PhaseFinished(phase));
    }

    fn scenario_finished(&self, scenario: &ScenarioReport) {
        self.events.event(RunEvent::ScenarioFinished { scenario });
    }
}

/// A scenario, its cells (see [`cells::cells`]) and the indices of the selected ones.
pub struct Selection<'a> {
    pub scenario: &'a LoadedScenario,
    pub cells: Vec<cells::Cell<'a>>,
    pub selected: Vec<usize>,
}

/// Runs `selections` under run id `run` and returns the report, with one scenario report per
/// selection, in the same order. Cleanup of each scenario's
/// namespaces is part of running it; a caller interrupted mid-way cleans up by run label. What
/// happens on the way goes to `events`.
pub async fn run(
    client: Client,
    run: RunId,
    selections: &[Selection<'_>],
    options: RunOptions,
    arguments: Vec<String>,
    events: Arc<dyn EventSink>,
) -> Result<RunReport, ClusterError> {
    let started = Instant::now();
    let started_at = rfc3339_utc(SystemTime::now());
    events.event(RunEvent::RunStarted {
        run: &run,
        scenarios: selections.len(),
    });
    let nodes = cluster::list_nodes(&client).await?;
    let cilium = cluster::find_cilium(&client).await?;
    let cni = cluster::detect_cni(&client).await?;
    let encryption = match &cilium {
        Some(install) => cluster::cilium_encryption_status(&client, install).await,
        None => BTreeMap::new(),
    };
    let info = cluster_facts::cluster_info(
        cluster::server_version(&client).await?,
        &nodes,
        &cni,
        format!("{}*", run.namespace()),
        cilium.as_ref().map(|install| (install, encryption.clone())),
    );
    let external_host = options
        .external
        .as_ref()
        .and_then(|target| target.0.host_str());
    let preflight = preflight::dry_run(&client, &run, selections, external_host).await?;
    events.event(RunEvent::PreflightFinished {
        checks: &preflight.checks,
    });
    // Deleted while the scenarios run; awaited before the report is done.
    let preflight_cleanup = {
        let client = client.clone();
        let namespace = preflight.namespace.clone();
        async move {
            if let Some(namespace) = namespace
                && let Err(error) =
                    cluster::delete_namespace(&client, &namespace, PREFLIGHT_DELETE_TIMEOUT).await
            {
                tracing::warn!("{error}");
            }
        }
    };
    let (keep, run_id) = (options.keep, run.to_string());
    let report = |scenarios, preflight| RunReport {
        format_version: REPORT_FORMAT_VERSION,
        cnicheck_version: env!("CARGO_PKG_VERSION").to_string(),
        run_id: run_id.clone(),
        arguments: arguments.clone(),
        cluster: info.clone(),
        started_at: started_at.clone(),
        duration_secs: started.elapsed().as_secs_f64(),
        preflight,
        scenarios,
        kept_namespaces: keep,
    };
    if preflight
        .checks
        .iter()
        .any(|check| check.verdict == report::model::Verdict::Fail)
    {
        preflight_cleanup.await;
        let report = report(Vec::new(), preflight.checks);
        events.event(RunEvent::RunFinished { report: &report });
        return Ok(report);
    }
    let parallel = options.parallel.max(1);
    let context = SuiteContext {
        tunnel: tunnel::resolve(options.tunnel_port, cilium.as_ref()),
        consistent_hashing_skip: balancing::consistent_hashing_skip(cilium.as_ref()),
        affinity_ignored: balancing::affinity_ignored(cilium.as_ref()),
        cilium_encryption: encryption,
        client,
        run,
        options,
        nodes,
        cni,
        cilium,
        events,
    };
    let context = &context;
    let scenarios: Vec<&Scenario> = selections
        .iter()
        .map(|selection| &selection.scenario.scenario)
        .collect();
    let groups: Vec<Vec<scenario_run::Member<'_, '_>>> = sharing::deployment_groups(&scenarios)
        .into_iter()
        .map(|group| {
            group
                .into_iter()
                .map(|index| (index, &selections[index]))
                .collect()
        })
        .collect();
    let run_groups = futures::stream::iter(&groups)
        .map(|members| async move {
            for (_, selection) in members {
                context.events.event(RunEvent::ScenarioStarted {
                    scenario: &selection.scenario.scenario.name.value,
                });
            }
            let mut reports = scenario_run::run_group(context, members).await;
            for (_, report) in &mut reports {
                report.truth_tables = truth_table::truth_tables(&report.probes);
                context.scenario_finished(report);
            }
            reports
        })
        .buffer_unordered(parallel)
        .concat();
    let (mut scenarios, ()) = futures::join!(run_groups, preflight_cleanup);
    scenarios.sort_by_key(|(index, _)| *index);
    let report = report(
        scenarios.into_iter().map(|(_, report)| report).collect(),
        preflight.checks,
    );
    context
        .events
        .event(RunEvent::RunFinished { report: &report });
    Ok(report)
}

const PREFLIGHT_DELETE_TIMEOUT: Duration = Duration::from_secs(120);

/// RFC 3339 in UTC, to the second: `2026-11-18T11:06:40Z`.
fn rfc3339_utc(time: SystemTime) -> String {
    let second = time
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |since| since.as_secs());
    i64::try_from(second)
        .ok()
        .and_then(|second| Timestamp::from_second(second).ok())
        .unwrap_or(Timestamp::UNIX_EPOCH)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339_utc() {
        let time = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_000_000);
        assert_eq!(rfc3339_utc(time), "2026-11-18T11:06:40Z");
        assert_eq!(rfc3339_utc(SystemTime::UNIX_EPOCH), "1970-01-01T00:00:00Z");
    }
}
