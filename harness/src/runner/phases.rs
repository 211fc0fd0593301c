//! A copy's phases, one after another: plan each one's probes, delete and apply its objects,
//! choose how to know the change took effect (see [`super::settle`]), probe until it did, and
//! report every probe.

use super::cells::Cell;
use super::deploy::Deployment;
use super::execute::{self, RetryPolicy, SettleRule};
use super::plan::{self, Unplannable};
use super::scenario_run::DELETE_TIMEOUT;
use super::settle::LastObserved;
use super::variable_values::{self, RunFacts};
use super::{RunOptions, RunnerError, Selection, SuiteContext};
use crate::cluster::{self, AgentSessions, AppliedObject, ApplyContext};
use crate::events::PhaseSummary;
use crate::report::model::{ObservationKind, PhaseTimes, ProbeReport, Reach, StageTimes, Verdict};
use crate::scenario::LoadedScenario;
use crate::scenario::model::{Phase, ProbeSet};
use crate::scenario::variables::Variable;
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::time::Instant;

/// What one copy of the workloads did: its phases' probes and where its time went (cleanup is
/// the scenario's).
#[derive(Default)]
pub(super) struct CopyRun {
    pub probes: Vec<ProbeReport>,
    pub stages: StageTimes,
}

/// What variables resolve to in manifests applied into `namespaces`.
pub(super) fn run_facts<'a>(
    context: &'a SuiteContext,
    namespaces: &'a BTreeMap<String, String>,
    deployment: Option<&'a Deployment>,
) -> RunFacts<'a> {
    RunFacts {
        external_host: context
            .options
            .external
            .as_ref()
            .and_then(|target| target.0.host_str()),
        namespaces,
        nodes: &context.nodes,
        deployment,
    }
}

/// Applies the manifest at `path` (relative to the scenario's file) and records what it created.
pub(super) async fn apply_manifest(
    context: &SuiteContext,
    loaded: &LoadedScenario,
    path: &str,
    apply_context: &ApplyContext<'_>,
    applied: &mut BTreeMap<String, Vec<AppliedObject>>,
) -> Result<(), RunnerError> {
    let text = loaded.source.read_manifest(path)?;
    let objects = cluster::parse_manifests(&text)?;
    let created = cluster::apply_manifests(&context.client, &objects, apply_context, false).await?;
    applied.insert(path.to_string(), created);
    Ok(())
}

/// A copy of the workloads on the cluster, as phases use it.
pub(super) struct OnCluster<'a> {
    pub namespaces: &'a BTreeMap<String, String>,
    pub deployment: &'a Deployment,
    /// Its agents, one exec each for all its phases (more while a pod runs two batches).
    pub agents: &'a AgentSessions,
}

/// Runs `phases` of the scenario on a copy of its workloads, one after another.
pub(super) async fn run_phases(
    context: &SuiteContext,
    selection: &Selection<'_>,
    copy: OnCluster<'_>,
    applied: &mut BTreeMap<String, Vec<AppliedObject>>,
    phases: Range<usize>,
    report: &mut CopyRun,
) -> Result<(), RunnerError> {
    let OnCluster {
        namespaces,
        deployment,
        agents,
    } = copy;
    let loaded = selection.scenario;
    let scenario = &loaded.scenario;
    let cells = &selection.cells;
    let options: &RunOptions = &context.options;
    let facts = run_facts(context, namespaces, Some(deployment));
    let after_deploy = |variable: Variable<'_>| variable_values::resolve(variable, &facts);
    let apply_context = ApplyContext {
        run: &context.run,
        scenario: &scenario.name.value,
        namespaces,
        values: &after_deploy,
    };
    let mut last_observed = LastObserved::default();
    for (phase_index, phase) in scenario
        .phases
        .iter()
        .enumerate()
        .take(phases.end)
        .skip(phases.start)
    {
        let applying = Instant::now();
        let (probes, unplannable) = plan::plan_phase(
            phase_index,
            phase,
            cells,
            &selection.selected,
            deployment,
            plan::RunTargets {
                external: options.external.as_ref(),
                tunnel: &context.tunnel,
                consistent_hashing_skip: &context.consistent_hashing_skip,
                affinity_ignored: context.affinity_ignored.as_deref(),
            },
        );
        let policy = if !phase.apply.is_empty() || !phase.delete.is_empty() {
            let mut settle = last_observed.settle_rule(&probes, options.settle, options.confirm);
            if matches!(settle, SettleRule::Window(_)) {
                // The previous phase looked elsewhere, or there was none: one round on this
                // phase's own paths, before the change, may find probes that the change must
                // flip, which is faster than the window.
                let before = execute::observe_now(agents, &probes).await;
                last_observed = if phase_index == phases.start {
                    LastObserved::reached_after_deploy(&probes, before)
                } else {
                    LastObserved::of_phase(&probes, before)
                };
                settle = last_observed.settle_rule(&probes, options.settle, options.confirm);
            }
            RetryPolicy::Settle {
                deadline: options.propagation_timeout,
                settle,
            }
        } else if phase_index == phases.start {
            RetryPolicy::Converge {
                deadline: options.propagation_timeout,
            }
        } else {
            RetryPolicy::Retries(options.retries)
        };
        // Deletions first: a phase that replaces an earlier phase's policy with one of the same
        // name must end with its own, not with nothing.
        for path in &phase.delete {
            if let Some(objects) = applied.remove(&path.value) {
                cluster::delete_applied(&context.client, &objects, DELETE_TIMEOUT).await?;
            }
        }
        for path in &phase.apply {
            apply_manifest(context, loaded, &path.value, &apply_context, applied).await?;
        }
        let apply_secs = applying.elapsed().as_secs_f64();
        let probing = Instant::now();
        let phase_probes =
            execute::run_probes(agents, &probes, policy, &context.options.kubectl).await;
        last_observed = LastObserved::of_phase(
            &probes,
            phase_probes
                .reports
                .iter()
                .map(|report| report.observed_reach),
        );
        report.stages.phases.push(PhaseTimes {
            phase: phase.name.value.clone(),
            apply_secs,
            probe_secs: probing.elapsed().as_secs_f64(),
            matched_after_secs: phase_probes.matched_after.map(|after| after.as_secs_f64()),
            changing_probes: match policy {
                RetryPolicy::Settle {
                    settle: SettleRule::Changed { changing, .. },
                    ..
                } => changing,
                _ => 0,
            },
        });
        let summary = PhaseSummary {
            scenario: &scenario.name.value,
            phase: &phase.name.value,
            probes: probes.len(),
            source_pods: probes
                .iter()
                .map(|probe| &probe.source.name)
                .collect::<BTreeSet<_>>()
                .len(),
            duration: probing.elapsed(),
            settling: phase_probes.settling,
        };
        tracing::info!(
            "{}::{}: {} probes from {} pods in {:.2}s",
            summary.scenario,
            summary.phase,
            summary.probes,
            summary.source_pods,
            summary.duration.as_secs_f64()
        );
        context.phase_finished(&summary);
        let mut reports = phase_probes.reports;
        reports.extend(
            unplannable
                .iter()
                .map(|problem| unplannable_report(cells, phase, problem)),
        );
        for probe in &reports {
            context.probe_finished(probe);
        }
        report.probes.extend(reports);
    }
    Ok(())
}

fn unplannable_report(cells: &[Cell<'_>], phase: &Phase, problem: &Unplannable) -> ProbeReport {
    let cell = &cells[problem.cell];
    let matrix = cell
        .matrix()
        .expect("only traffic and address cells are planned");
    let skipped = problem.reason.skips();
    ProbeReport {
        name: cell.name.clone(),
        cell: cell.name.clone(),
        phase: phase.name.value.clone(),
        from: matrix.written_from.to_owned(),
        to: matrix.written_to.to_owned(),
        target_address: String::new(),
        protocol: matrix.protocol.name().into(),
        port: ProbeSet::destination_port(matrix.protocol, matrix.port),
        expected: crate::judge::expected_summary(matrix.expected),
        observed: "not run".into(),
        expected_reach: crate::judge::expected_reach(matrix.expected),
        observed_reach: Reach::Unknown,
        verdict: if skipped {
            Verdict::Skip
        } else {
            Verdict::Error
        },
        attempts: 0,
        earlier_attempts: Vec::new(),
        duration_secs: 0.0,
        message: Some(if skipped {
            format!("skipped: {}", problem.reason)
        } else {
            format!("could not plan this probe: {}", problem.reason)
        }),
        reproduce: String::new(),
        source: None,
        destination_node: None,
        observed_kind: Some(ObservationKind::NotRun),
        path: None,
        latency_ms: None,
        backends: None,
    }
}
