//! Scenarios start to finish: check each one's requirements, deploy its workloads (each of its
//! copies, see [`copies`], or once for the scenarios that share them, see [`super::sharing`]),
//! run its phases (see [`super::phases`]), collect diagnostics if anything went wrong, and
//! remove it all.

use super::cells::CellKind;
use super::copies;
use super::deploy::{self, DeployOptions, Deployment};
use super::phases::{CopyRun, OnCluster, apply_manifest, run_facts, run_phases};
use super::variable_values;
use super::{RunOptions, RunnerError, Selection, SuiteContext, requirements};
use crate::checks::{self, CheckContext, CheckOutcome};
use crate::cluster::{self, AgentSessions, AppliedObject, ApplyContext};
use crate::report::model::{ScenarioReport, StageTimes, Verdict};
use crate::scenario::LoadedScenario;
use crate::scenario::model::{BuiltinCheck, Scenario};
use crate::scenario::variables::Variable;
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::time::{Duration, Instant};

pub(super) const DELETE_TIMEOUT: Duration = Duration::from_secs(120);

/// A scenario of a group, by its place in the run.
pub type Member<'s, 'a> = (usize, &'s Selection<'a>);

/// Runs a group of scenarios that share their pods (see [`super::sharing`]; most groups have
/// one scenario) and returns each one's report with its place in the run, in the group's order.
pub async fn run_group(
    context: &SuiteContext,
    members: &[Member<'_, '_>],
) -> Vec<(usize, ScenarioReport)> {
    let started = Instant::now();
    let mut finished = Vec::new();
    let mut deploying: Vec<(usize, &Selection<'_>, ScenarioReport)> = Vec::new();
    for &(index, selection) in members {
        let loaded = selection.scenario;
        let scenario = &loaded.scenario;
        let mut report = ScenarioReport {
            name: scenario.name.value.clone(),
            file: loaded.source.to_string(),
            skipped: None,
            setup_error: None,
            duration_secs: 0.0,
            probes: Vec::new(),
            truth_tables: Vec::new(),
            stages: None,
        };
        if let Some(reason) = requirements::unmet_requirement(context, scenario).await {
            report.skipped = Some(reason);
            finished.push((index, report));
        } else if let Some(check) = &scenario.check {
            run_check(context, check.value, selection, &mut report).await;
            report.duration_secs = started.elapsed().as_secs_f64();
            finished.push((index, report));
        } else {
            deploying.push((index, selection, report));
        }
    }
    let Some(&(first_index, first, _)) = deploying.first() else {
        return finished;
    };
    // Scenarios that share their pods have one copy each.
    let stretches = copies::stretches(&first.scenario.scenario);
    let copies = match (0..stretches.len())
        .map(|copy| {
            deploy::namespace_names(&context.run, first_index, copy, &first.scenario.scenario)
        })
        .collect::<Result<Vec<_>, _>>()
    {
        Ok(copies) => copies,
        Err(error) => {
            for (index, _, mut report) in deploying {
                report.setup_error = Some(error.to_string());
                finished.push((index, report));
            }
            return finished;
        }
    };
    let stages = match deploying.as_mut_slice() {
        [(_, selection, report)] => {
            vec![run_copies(context, selection, &copies, &stretches, report).await]
        }
        sharing => run_side_by_side(context, &copies[0], sharing).await,
    };
    let namespaces: Vec<&String> = copies.iter().flat_map(BTreeMap::values).collect();
    let cleanup = Instant::now();
    for (_, _, report) in &mut deploying {
        let troubled = report.setup_error.is_some()
            || report
                .probes
                .iter()
                .any(|probe| matches!(probe.verdict, Verdict::Fail | Verdict::Error));
        if troubled {
            collect_diagnostics(context, &namespaces, report).await;
        }
    }
    if !context.options.keep {
        let deletions = namespaces
            .iter()
            .map(|namespace| cluster::delete_namespace(&context.client, namespace, DELETE_TIMEOUT));
        for error in futures::future::join_all(deletions)
            .await
            .into_iter()
            .filter_map(Result::err)
        {
            tracing::warn!("{error}");
        }
    }
    let cleanup_secs = cleanup.elapsed().as_secs_f64();
    for ((index, _, mut report), mut stages) in deploying.into_iter().zip(stages) {
        stages.cleanup_secs = cleanup_secs;
        report.stages = Some(stages);
        report.duration_secs = started.elapsed().as_secs_f64();
        finished.push((index, report));
    }
    finished
}

/// Deploys each copy of the workloads in its `namespaces` and runs its stretch of phases, all
/// copies at once; their probes go to `report` in phase order, and the first setup error too.
/// Returns where the time went: deploying as long as the slowest copy took.
async fn run_copies(
    context: &SuiteContext,
    selection: &Selection<'_>,
    namespaces: &[BTreeMap<String, String>],
    stretches: &[Range<usize>],
    report: &mut ScenarioReport,
) -> StageTimes {
    let runs = namespaces
        .iter()
        .zip(stretches)
        .map(|(namespaces, phases)| async {
            let mut run = CopyRun::default();
            let outcome =
                deploy_and_probe(context, selection, namespaces, phases.clone(), &mut run).await;
            (run, outcome)
        });
    let mut stages = StageTimes::default();
    for ((run, outcome), phases) in futures::future::join_all(runs)
        .await
        .into_iter()
        .zip(stretches)
    {
        stages.setup_secs = stages.setup_secs.max(run.stages.setup_secs);
        stages.deploy_secs = stages.deploy_secs.max(run.stages.deploy_secs);
        stages.phases.extend(run.stages.phases);
        report.probes.extend(run.probes);
        if let Err(error) = outcome
            && report.setup_error.is_none()
        {
            report.setup_error = Some(if stretches.len() == 1 {
                error.to_string()
            } else {
                let names = &selection.scenario.scenario.phases;
                format!(
                    "the copy of the workloads for phases {} to {}: {error}",
                    names[phases.start].name.value,
                    names[phases.end - 1].name.value
                )
            });
        }
    }
    stages
}

/// Deploys the workloads that the `sharing` scenarios declare alike once, in `namespaces`, and
/// runs every one's phases on those pods at once; each one's probes go to its report. Returns
/// where each one's time went, the deployment's included.
async fn run_side_by_side(
    context: &SuiteContext,
    namespaces: &BTreeMap<String, String>,
    sharing: &mut [(usize, &Selection<'_>, ScenarioReport)],
) -> Vec<StageTimes> {
    let scenarios: Vec<&LoadedScenario> = sharing
        .iter()
        .map(|(_, selection, _)| selection.scenario)
        .collect();
    let mut deployed_stages = StageTimes::default();
    let deployed = deploy_copy(context, &scenarios, namespaces, &mut deployed_stages).await;
    let agents = AgentSessions::new(context.client.clone());
    let runs = sharing.iter().map(|(_, selection, _)| async {
        let mut run = CopyRun::default();
        let outcome = match &deployed {
            Ok(deployed) => {
                let phases = 0..selection.scenario.scenario.phases.len();
                // Nothing to apply: only scenarios that change nothing share.
                let mut applied = BTreeMap::new();
                let copy = OnCluster {
                    namespaces,
                    deployment: &deployed.deployment,
                    agents: &agents,
                };
                run_phases(context, selection, copy, &mut applied, phases, &mut run)
                    .await
                    .map_err(|error| error.to_string())
            }
            Err(error) => Err(error.to_string()),
        };
        (run, outcome)
    });
    let runs = futures::future::join_all(runs).await;
    let names: Vec<String> = sharing
        .iter()
        .map(|(_, _, report)| report.name.clone())
        .collect();
    let mut stages = Vec::new();
    for ((_, _, report), (run, outcome)) in sharing.iter_mut().zip(runs) {
        report.probes = run.probes;
        report.setup_error = outcome.err();
        stages.push(StageTimes {
            phases: run.stages.phases,
            shared_with: names
                .iter()
                .filter(|name| **name != report.name)
                .cloned()
                .collect(),
            ..deployed_stages.clone()
        });
    }
    stages
}

/// A built-in check instead of deployment and probes: nothing is created, so nothing is
/// cleaned up.
async fn run_check(
    context: &SuiteContext,
    check: BuiltinCheck,
    selection: &Selection<'_>,
    report: &mut ScenarioReport,
) {
    let selected: BTreeSet<&str> = selection
        .selected
        .iter()
        .filter_map(|&index| match selection.cells[index].kind {
            CellKind::Check { test, .. } => Some(test),
            _ => None,
        })
        .collect();
    let check_context = CheckContext {
        client: &context.client,
        cni: &context.cni.name,
        cilium: context.cilium.as_ref(),
        options: &context.options.checks,
        kubectl: &context.options.kubectl,
    };
    let is_selected = |test: &str| selected.contains(test);
    match checks::run(check, &report.name, &check_context, &is_selected).await {
        CheckOutcome::Skipped(reason) => report.skipped = Some(reason),
        CheckOutcome::Ran(results) => {
            for result in &results {
                context.probe_finished(result);
            }
            report.probes = results;
        }
    }
}

/// Deploys one copy of the scenario's workloads in `namespaces` and runs `phases` on it.
async fn deploy_and_probe(
    context: &SuiteContext,
    selection: &Selection<'_>,
    namespaces: &BTreeMap<String, String>,
    phases: Range<usize>,
    report: &mut CopyRun,
) -> Result<(), RunnerError> {
    let Deployed {
        deployment,
        mut applied,
    } = deploy_copy(
        context,
        &[selection.scenario],
        namespaces,
        &mut report.stages,
    )
    .await?;
    let copy = OnCluster {
        namespaces,
        deployment: &deployment,
        agents: &AgentSessions::new(context.client.clone()),
    };
    run_phases(context, selection, copy, &mut applied, phases, report).await?;
    // Namespaced objects go with their namespace; cluster-scoped ones need deleting here.
    let leftovers: Vec<AppliedObject> = applied
        .into_values()
        .flatten()
        .filter(|o| o.namespace.is_none())
        .collect();
    if !leftovers.is_empty() && !context.options.keep {
        cluster::delete_applied(&context.client, &leftovers, DELETE_TIMEOUT).await?;
    }
    Ok(())
}

/// A copy of the workloads on the cluster, and the objects applied so far by manifest path.
struct Deployed {
    deployment: Deployment,
    applied: BTreeMap<String, Vec<AppliedObject>>,
}

/// Creates the namespaces, NAD and setup objects of the first of `scenarios` (the others, if
/// any, declare the same and nothing else, see [`super::sharing`]) and deploys their workloads,
/// listening on the ports every one of them probes.
async fn deploy_copy(
    context: &SuiteContext,
    scenarios: &[&LoadedScenario],
    namespaces: &BTreeMap<String, String>,
    stages: &mut StageTimes,
) -> Result<Deployed, RunnerError> {
    let loaded = scenarios[0];
    let scenario = &loaded.scenario;
    let options: &RunOptions = &context.options;
    let facts = run_facts(context, namespaces, None);
    let before_deploy = |variable: Variable<'_>| variable_values::resolve(variable, &facts);
    let apply_context = ApplyContext {
        run: &context.run,
        scenario: &scenario.name.value,
        namespaces,
        values: &before_deploy,
    };
    let mut applied = BTreeMap::new();
    let stage = Instant::now();
    deploy::create_namespaces(&context.client, scenario, namespaces, &context.run).await?;
    if let Some(name) = &scenario.multus_network {
        // Namespaced: it goes with the scenario's namespace.
        let nad = options.multus.build(&name.value);
        cluster::apply_manifests(&context.client, &[nad], &apply_context, false).await?;
    }
    for path in &scenario.setup {
        apply_manifest(context, loaded, &path.value, &apply_context, &mut applied).await?;
    }
    stages.setup_secs = stage.elapsed().as_secs_f64();
    let stage = Instant::now();
    let deploy_options = DeployOptions {
        run: &context.run,
        images: &options.images,
        setup_timeout: options.setup_timeout,
    };
    let scenarios: Vec<&Scenario> = scenarios.iter().map(|loaded| &loaded.scenario).collect();
    let deployment = deploy::deploy(
        &context.client,
        &scenarios,
        namespaces,
        &context.nodes,
        &deploy_options,
    )
    .await;
    stages.deploy_secs = stage.elapsed().as_secs_f64();
    Ok(Deployed {
        deployment: deployment?,
        applied,
    })
}

async fn collect_diagnostics(
    context: &SuiteContext,
    namespaces: &[&String],
    report: &mut ScenarioReport,
) {
    let dir = context.options.artifacts.join(&report.name);
    for namespace in namespaces {
        match cluster::dump_namespace(&context.client, namespace, &dir).await {
            Ok(summary) => tracing::info!(
                "diagnostics of {namespace} in {} ({} files)",
                dir.display(),
                summary.files.len()
            ),
            Err(error) => tracing::warn!("could not collect diagnostics of {namespace}: {error}"),
        }
    }
}
