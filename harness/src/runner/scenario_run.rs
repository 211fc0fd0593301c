//! One scenario, start to finish: check its requirements, deploy it (each of its copies, see
//! [`copies`]), run its phases (applying and deleting their objects, and knowing when a change
//! took effect, see [`super::settle`]), collect diagnostics if anything went wrong, and remove
//! it all.

use super::cells::{Cell, CellKind};
use super::copies;
use super::deploy::{self, DeployOptions};
use super::execute::{self, RetryPolicy, SettleRule};
use super::plan::{self, Unplannable};
use super::settle::LastObserved;
use super::variable_values::{self, RunFacts};
use super::{RunOptions, RunnerError, Selection, SuiteContext};
use crate::checks::{self, CheckContext, CheckOutcome};
use crate::cluster::{self, AgentSessions, AppliedObject, ApplyContext};
use crate::events::PhaseSummary;
use crate::report::model::{
    ObservationKind, PhaseTimes, ProbeReport, Reach, ScenarioReport, StageTimes, Verdict,
};
use crate::scenario::model::{BuiltinCheck, Phase, ProbeSet, Scenario};
use crate::scenario::variables::Variable;
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::time::{Duration, Instant};

const DELETE_TIMEOUT: Duration = Duration::from_secs(120);
/// How long `cilium-envoy --version` may take in an agent.
const L7_PROXY_CHECK_TIMEOUT: Duration = Duration::from_secs(20);

pub async fn run_scenario(
    context: &SuiteContext,
    index: usize,
    selection: &Selection<'_>,
) -> ScenarioReport {
    let started = Instant::now();
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
    if let Some(reason) = unmet_requirement(context, scenario).await {
        report.skipped = Some(reason);
        return report;
    }
    if let Some(check) = &scenario.check {
        run_check(context, check.value, selection, &mut report).await;
        report.duration_secs = started.elapsed().as_secs_f64();
        return report;
    }
    let stretches = copies::stretches(scenario);
    let copies = match (0..stretches.len())
        .map(|copy| deploy::namespace_names(&context.run, index, copy, scenario))
        .collect::<Result<Vec<_>, _>>()
    {
        Ok(copies) => copies,
        Err(error) => {
            report.setup_error = Some(error.to_string());
            return report;
        }
    };
    let mut stages = run_copies(context, selection, &copies, &stretches, &mut report).await;
    let namespaces: Vec<&String> = copies.iter().flat_map(BTreeMap::values).collect();
    let cleanup = Instant::now();
    let troubled = report.setup_error.is_some()
        || report
            .probes
            .iter()
            .any(|probe| matches!(probe.verdict, Verdict::Fail | Verdict::Error));
    if troubled {
        collect_diagnostics(context, &namespaces, &mut report).await;
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
    stages.cleanup_secs = cleanup.elapsed().as_secs_f64();
    report.stages = Some(stages);
    report.duration_secs = started.elapsed().as_secs_f64();
    report
}

/// What one copy of the workloads did: its phases' probes and where its time went (cleanup is
/// the scenario's).
#[derive(Default)]
struct CopyRun {
    probes: Vec<ProbeReport>,
    stages: StageTimes,
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

/// Whether an agent's encryption status (see `cluster::cilium_encryption_status`) is WireGuard
/// or IPsec.
fn is_encrypting(status: &str) -> bool {
    ["Wireguard", "IPsec"]
        .iter()
        .any(|mode| status.starts_with(mode))
}

async fn unmet_requirement(context: &SuiteContext, scenario: &Scenario) -> Option<String> {
    let requires = &scenario.requires;
    let schedulable = context.nodes.iter().filter(|node| node.schedulable).count();
    if let Some(min) = requires.min_nodes
        && schedulable < min as usize
    {
        return Some(format!(
            "needs {min} schedulable nodes, the cluster has {schedulable}"
        ));
    }
    if requires.external_target && context.options.external.is_none() {
        return Some(
            "needs --external-target (cnicheck never probes a public address on its own)".into(),
        );
    }
    if requires.cilium && context.cilium.is_none() {
        return Some(format!(
            "needs Cilium: {}",
            checks::cilium::absence(&context.cni.name)
        ));
    }
    if requires.ipblock_selects_pods && context.cilium.is_some() {
        return Some(
            "needs ipBlock peers to select the cluster's own pods by address, which Cilium's \
             CIDR rules never do: they describe peers outside the cluster, pods are matched by \
             identity (Cilium's documentation: Kubernetes NetworkPolicy, and Policy Language, \
             CIDR based)"
                .into(),
        );
    }
    if requires.cilium_encryption {
        let Some(cilium) = &context.cilium else {
            return Some(format!(
                "needs Cilium's encryption between nodes: {}",
                checks::cilium::absence(&context.cni.name)
            ));
        };
        let plaintext: Vec<String> = context
            .cilium_encryption
            .iter()
            .filter(|(_, status)| !is_encrypting(status))
            .map(|(node, status)| format!("{node}: {status}"))
            .collect();
        if context.cilium_encryption.is_empty() || !plaintext.is_empty() {
            return Some(format!(
                "needs every Cilium agent to encrypt between nodes, and {} says otherwise \
                 (cilium-dbg encrypt status: {})",
                cilium.agent.object(),
                if plaintext.is_empty() {
                    "no agent answered".to_owned()
                } else {
                    plaintext.join(", ")
                }
            ));
        }
    }
    if requires.cilium_l7_proxy {
        let Some(cilium) = &context.cilium else {
            return Some(format!(
                "needs Cilium's L7 proxy: {}",
                checks::cilium::absence(&context.cni.name)
            ));
        };
        if let Err(missing) =
            cluster::l7_proxy_available(&context.client, cilium, L7_PROXY_CHECK_TIMEOUT).await
        {
            return Some(format!(
                "needs Cilium's L7 proxy (Envoy) to enforce L7 policies: {missing}"
            ));
        }
    }
    if !requires.crds.is_empty() {
        match cluster::missing_crds(&context.client, &requires.crds).await {
            Ok(missing) if !missing.is_empty() => {
                return Some(format!(
                    "needs CRDs that are not installed: {}",
                    missing.join(", ")
                ));
            }
            Ok(_) => {}
            Err(error) => return Some(format!("could not check CRDs: {error}")),
        }
    }
    None
}

/// Deploys one copy of the scenario's workloads in `namespaces` and runs `phases` on it.
async fn deploy_and_probe(
    context: &SuiteContext,
    selection: &Selection<'_>,
    namespaces: &BTreeMap<String, String>,
    phases: Range<usize>,
    report: &mut CopyRun,
) -> Result<(), RunnerError> {
    let loaded = selection.scenario;
    let scenario = &loaded.scenario;
    let cells = &selection.cells;
    let options: &RunOptions = &context.options;
    let deploy_options = DeployOptions {
        run: &context.run,
        images: &options.images,
        setup_timeout: options.setup_timeout,
    };
    let facts = RunFacts {
        external_host: options
            .external
            .as_ref()
            .and_then(|target| target.0.host_str()),
        namespaces,
        nodes: &context.nodes,
        deployment: None,
    };
    let before_deploy = |variable: Variable<'_>| variable_values::resolve(variable, &facts);
    let apply_context = ApplyContext {
        run: &context.run,
        scenario: &scenario.name.value,
        namespaces,
        values: &before_deploy,
    };
    let mut applied: BTreeMap<String, Vec<AppliedObject>> = BTreeMap::new();
    let apply = async |path: &str,
                       apply_context: &ApplyContext<'_>,
                       applied: &mut BTreeMap<String, Vec<AppliedObject>>| {
        let text = loaded.source.read_manifest(path)?;
        let objects = cluster::parse_manifests(&text)?;
        let created =
            cluster::apply_manifests(&context.client, &objects, apply_context, false).await?;
        applied.insert(path.to_string(), created);
        Ok::<_, RunnerError>(())
    };
    let stage = Instant::now();
    let stages = &mut report.stages;
    deploy::create_namespaces(&context.client, scenario, namespaces, &context.run).await?;
    if let Some(name) = &scenario.multus_network {
        // Namespaced: it goes with the scenario's namespace.
        let nad = options.multus.build(&name.value);
        cluster::apply_manifests(&context.client, &[nad], &apply_context, false).await?;
    }
    for path in &scenario.setup {
        apply(&path.value, &apply_context, &mut applied).await?;
    }
    stages.setup_secs = stage.elapsed().as_secs_f64();
    let stage = Instant::now();
    let deployment = deploy::deploy(
        &context.client,
        scenario,
        namespaces,
        &context.nodes,
        &deploy_options,
    )
    .await;
    stages.deploy_secs = stage.elapsed().as_secs_f64();
    let deployment = deployment?;
    let facts = RunFacts {
        deployment: Some(&deployment),
        ..facts
    };
    let after_deploy = |variable: Variable<'_>| variable_values::resolve(variable, &facts);
    let apply_context = ApplyContext {
        values: &after_deploy,
        ..apply_context
    };

    // The copy's agents, one exec each for all its phases (more while a pod runs two batches).
    let agents = AgentSessions::new(context.client.clone());
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
            &deployment,
            plan::RunTargets {
                external: options.external.as_ref(),
                tunnel: &context.tunnel,
                consistent_hashing_skip: &context.consistent_hashing_skip,
                affinity_ignored: context.affinity_ignored.as_deref(),
            },
        );
        let policy = if !phase.apply.is_empty() || !phase.delete.is_empty() {
            let mut settle = last_observed.settle_rule(&probes, options.settle, options.confirm);
            if matches!(settle, SettleRule::Window(_)) && phase_index != phases.start {
                // The previous phase looked elsewhere: one round on this phase's own paths, in
                // the state the previous phase settled in, may find probes that the change must
                // flip, which is faster than the window (not after deploying: that state is
                // not settled).
                let before = execute::observe_now(&agents, &probes).await;
                last_observed = LastObserved::of_phase(&probes, before);
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
            apply(&path.value, &apply_context, &mut applied).await?;
        }
        let apply_secs = applying.elapsed().as_secs_f64();
        let probing = Instant::now();
        let phase_probes =
            execute::run_probes(&agents, &probes, policy, &context.options.kubectl).await;
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
    // Namespaced objects go with their namespace; cluster-scoped ones need deleting here.
    let leftovers: Vec<AppliedObject> = applied
        .into_values()
        .flatten()
        .filter(|o| o.namespace.is_none())
        .collect();
    if !leftovers.is_empty() && !options.keep {
        cluster::delete_applied(&context.client, &leftovers, DELETE_TIMEOUT).await?;
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
