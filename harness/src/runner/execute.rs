//! Runs a phase's planned probes: one agent exec per source pod carries all of that pod's
//! probes, all pods at once, so a phase costs about one probe timeout however large its matrix.
//! Probes that did not observe what was expected run again while the phase allows retries.

use super::plan::PlannedProbe;
use crate::cluster::{self, PodRef};
use crate::judge::{self, Judgement};
use crate::probe::ProbeResult;
use crate::report::model::{ProbeReport, Verdict};
use futures::future::join_all;
use kube::Client;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// How a phase treats probes that did not observe what was expected.
#[derive(Debug, Clone, Copy)]
pub enum RetryPolicy {
    /// Workloads were just deployed: Services may not be programmed yet, so failing probes run
    /// again until they pass or the deadline comes. Converging is expected, not flakiness.
    Converge { deadline: Duration },
    /// Objects were just applied or deleted: a policy takes effect at a moment nobody announces,
    /// so a probe that passes early may only pass because the policy is not enforced yet. Every
    /// probe runs again until the whole phase has matched for `settle` in a row (or the deadline
    /// comes); what counts is the last observation.
    Settle {
        deadline: Duration,
        settle: Duration,
    },
    /// Nothing changed: run failing probes again up to N times; a pass after a retry is flaky.
    Retries(u32),
}

const POLL_INTERVAL: Duration = Duration::from_secs(1);

pub async fn run_probes(
    client: &Client,
    probes: &[PlannedProbe],
    policy: RetryPolicy,
) -> Vec<ProbeReport> {
    let started = Instant::now();
    let mut attempts: Vec<Vec<Judgement>> = vec![Vec::new(); probes.len()];
    let mut durations = vec![Duration::ZERO; probes.len()];
    let mut pending: Vec<usize> = (0..probes.len()).collect();
    let mut all_matching_since: Option<Instant> = None;
    let mut round = 0;
    while !pending.is_empty() {
        let round_started = Instant::now();
        for (index, result) in run_round(client, probes, &pending).await {
            let probe = &probes[index];
            attempts[index].push(match &probe.address {
                Some(address) => judge::judge_address(address, &result.outcome),
                None => judge::judge(&probe.expected, probe.protocol, &result.outcome),
            });
            durations[index] = Duration::from_millis(result.elapsed_ms);
        }
        round += 1;
        let failing = |index: &usize| {
            attempts[*index]
                .last()
                .is_some_and(|last| last.verdict != judge::AttemptVerdict::Pass)
        };
        let more = match policy {
            RetryPolicy::Converge { deadline } => {
                pending.retain(failing);
                started.elapsed() + POLL_INTERVAL < deadline
            }
            RetryPolicy::Settle { deadline, settle } => {
                if (0..probes.len()).any(|index| failing(&index)) {
                    all_matching_since = None;
                } else {
                    all_matching_since.get_or_insert(round_started);
                }
                let settled = all_matching_since.is_some_and(|since| since.elapsed() >= settle);
                !settled && started.elapsed() + POLL_INTERVAL < deadline
            }
            RetryPolicy::Retries(retries) => {
                pending.retain(failing);
                round <= retries
            }
        };
        if !more {
            break;
        }
        tokio::time::sleep(POLL_INTERVAL.saturating_sub(round_started.elapsed())).await;
    }
    probes
        .iter()
        .zip(attempts)
        .zip(durations)
        .map(|((probe, attempts), duration)| report(probe, &attempts, duration, policy))
        .collect()
}

/// Runs `pending` probes, one batch per source pod, all batches concurrently.
async fn run_round(
    client: &Client,
    probes: &[PlannedProbe],
    pending: &[usize],
) -> Vec<(usize, ProbeResult)> {
    let mut by_pod: BTreeMap<String, (PodRef, Vec<usize>)> = BTreeMap::new();
    for &index in pending {
        let pod = probes[index].pod();
        by_pod
            .entry(pod.to_string())
            .or_insert_with(|| (pod, Vec::new()))
            .1
            .push(index);
    }
    let batches = by_pod.into_values().map(|(pod, indices)| async move {
        let requests: Vec<_> = indices
            .iter()
            .enumerate()
            .map(|(id, &index)| {
                let mut request = probes[index].request.clone();
                request.id = id as u32;
                request
            })
            .collect();
        let deadline = cluster::batch_deadline(&requests);
        let results = cluster::run_agent_batch(client, &pod, &requests, deadline).await;
        indices.into_iter().zip(results).collect::<Vec<_>>()
    });
    join_all(batches).await.into_iter().flatten().collect()
}

fn report(
    probe: &PlannedProbe,
    attempts: &[Judgement],
    duration: Duration,
    policy: RetryPolicy,
) -> ProbeReport {
    let (mut verdict, count) = judge::final_verdict(attempts);
    if verdict == Verdict::Flaky && !matches!(policy, RetryPolicy::Retries(_)) {
        verdict = Verdict::Pass;
    }
    let last = attempts.last();
    ProbeReport {
        name: probe.name.clone(),
        phase: probe.phase.clone(),
        from: probe.source_label(),
        to: probe.to.clone(),
        target_address: probe.target_address.clone(),
        protocol: probe.protocol.name().to_string(),
        port: probe.port,
        expected: probe.address.as_ref().map_or_else(
            || judge::expected_summary(&probe.expected),
            judge::AddressExpectation::summary,
        ),
        observed: last
            .map(|judgement| judgement.observed.clone())
            .unwrap_or_default(),
        expected_reach: judge::expected_reach(&probe.expected),
        observed_reach: last
            .map(|judgement| judgement.observed_reach)
            .unwrap_or_default(),
        verdict,
        attempts: count,
        earlier_attempts: attempts
            .iter()
            .take(attempts.len().saturating_sub(1))
            .map(Judgement::to_attempt_report)
            .collect(),
        duration_secs: duration.as_secs_f64(),
        message: match verdict {
            Verdict::Pass | Verdict::Skip => None,
            _ => last.map(|judgement| judgement.explanation.clone()),
        },
        reproduce: reproduce_command(probe),
    }
}

/// The same probe by hand, through the same agent: what a user pastes to see it again.
fn reproduce_command(probe: &PlannedProbe) -> String {
    let request = serde_json::to_string(&probe.request).unwrap_or_default();
    format!(
        "echo '{request}' | kubectl -n {} exec -i {} -c {} -- {} agent probe",
        probe.source.namespace,
        probe.source.name,
        cluster::AGENT_CONTAINER,
        cluster::AGENT_BINARY,
    )
}
