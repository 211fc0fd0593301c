//! Runs a phase's planned probes: one agent exec per source pod carries all of that pod's
//! probes, all pods at once, so a phase costs about one probe timeout however large its matrix.
//! Probes that did not observe what was expected run again while the phase allows retries.

use super::plan::{CAPTURE_LEAD, Confirmation, PlannedKind, PlannedProbe, Receiver};
use crate::cluster::{self, AgentSessions, Kubectl, PodRef};
use crate::events::Settling;
use crate::judge::{self, Judgement};
use crate::probe::{Outcome, ProbeRequest, ProbeResult};
use crate::report::model::{ObservationKind, PodLocation, ProbeReport, Reach, Verdict};
use crate::scenario::model::Protocol;
use futures::future::join_all;
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;
// tokio's clock, so that tests on a paused clock see settle windows and deadlines pass.
use tokio::time::Instant;

/// Something that runs a batch of probes in a pod: the cluster (one agent exec per batch), or a
/// fake in tests. It answers every request, in order; a request that could not run is answered
/// [`Outcome::CouldNotRun`], never left out.
pub(crate) trait ProbeAgent: Sync {
    async fn run_batch(&self, pod: &PodRef, requests: &[ProbeRequest]) -> Vec<ProbeResult>;
}

impl ProbeAgent for AgentSessions {
    async fn run_batch(&self, pod: &PodRef, requests: &[ProbeRequest]) -> Vec<ProbeResult> {
        AgentSessions::run_batch(self, pod, requests, cluster::batch_deadline(requests)).await
    }
}

/// How a phase treats probes that did not observe what was expected.
#[derive(Debug, Clone, Copy)]
pub enum RetryPolicy {
    /// Workloads were just deployed: Services may not be programmed yet, so failing probes run
    /// again until they pass or the deadline comes. Converging is expected, not flakiness.
    Converge { deadline: Duration },
    /// Objects were just applied or deleted: a policy takes effect at a moment nobody announces,
    /// so a probe that passes early may only pass because the policy is not enforced yet. Every
    /// probe runs again until the whole phase has matched as `settle` asks (or the deadline
    /// comes); what counts is the last observation.
    Settle {
        deadline: Duration,
        settle: SettleRule,
    },
    /// Nothing changed: run failing probes again up to N times; a pass after a retry is flaky.
    Retries(u32),
}

/// When a phase that applied or deleted objects has reached its expected state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SettleRule {
    /// `changing` probes are expected to observe the opposite of what they observed at the end
    /// of the previous phase. Once every probe matches, those have shown that the change took
    /// effect, so the phase only has to match again in one more round at least `confirm` after
    /// the first (a second look, for states that flicker while a CNI applies a change).
    Changed { changing: usize, confirm: Duration },
    /// No probe shows when the change takes effect: the phase must match for the whole window.
    Window(Duration),
}

impl SettleRule {
    /// Whether a phase that has matched in `rounds` rounds in a row, for `matched_for`, has
    /// settled.
    fn settled(self, rounds: u32, matched_for: Duration) -> bool {
        match self {
            SettleRule::Changed { confirm, .. } => rounds >= 2 && matched_for >= confirm,
            SettleRule::Window(window) => matched_for >= window,
        }
    }
}

const POLL_INTERVAL: Duration = Duration::from_millis(500);

/// A phase's probes with their final verdicts, in the order planned, and how waiting for the
/// phase's expected state ended.
pub(crate) struct PhaseProbes {
    pub reports: Vec<ProbeReport>,
    pub settling: Settling,
    /// When every probe first observed what was expected, from the start of probing: how long
    /// the phase's state took to propagate (the rest of its probing is the settle window).
    pub matched_after: Option<Duration>,
}

pub(crate) async fn run_probes(
    agent: &impl ProbeAgent,
    probes: &[PlannedProbe],
    policy: RetryPolicy,
    kubectl: &Kubectl,
) -> PhaseProbes {
    let started = Instant::now();
    let mut attempts: Vec<Vec<Judgement>> = vec![Vec::new(); probes.len()];
    let mut timings = vec![Timing::default(); probes.len()];
    let mut pending: Vec<usize> = (0..probes.len()).collect();
    let mut all_matching_since: Option<Instant> = None;
    let mut matching_rounds: u32 = 0;
    let mut round: u32 = 0;
    let mut settled = false;
    let mut matched_after = None;
    while !pending.is_empty() {
        let round_started = Instant::now();
        for (index, result) in run_round(agent, probes, &pending, round).await {
            let probe = &probes[index];
            attempts[index].push(match &probe.kind {
                PlannedKind::Traffic(traffic) => {
                    judge::judge(&traffic.expected, probe.protocol, &result.outcome)
                }
                PlannedKind::Balance(balance) => judge::judge_balance(balance, &result.outcome),
                PlannedKind::Address(address) => judge::judge_address(address, &result.outcome),
            });
            timings[index] = Timing {
                duration: Duration::from_millis(result.elapsed_ms),
                latency_us: result.latency_us,
            };
        }
        round += 1;
        let failing = |index: &usize| {
            attempts[*index]
                .last()
                .is_some_and(|last| last.verdict != judge::AttemptVerdict::Pass)
        };
        if matched_after.is_none() && !(0..probes.len()).any(|index| failing(&index)) {
            matched_after = Some(started.elapsed());
        }
        let more = match policy {
            RetryPolicy::Converge { deadline } => {
                pending.retain(failing);
                settled = pending.is_empty();
                !settled && started.elapsed() + POLL_INTERVAL < deadline
            }
            RetryPolicy::Settle { deadline, settle } => {
                if (0..probes.len()).any(|index| failing(&index)) {
                    all_matching_since = None;
                    matching_rounds = 0;
                } else {
                    all_matching_since.get_or_insert(round_started);
                    matching_rounds += 1;
                }
                settled = all_matching_since
                    .is_some_and(|since| settle.settled(matching_rounds, since.elapsed()));
                !settled && started.elapsed() + POLL_INTERVAL < deadline
            }
            RetryPolicy::Retries(retries) => {
                pending.retain(failing);
                !pending.is_empty() && round <= retries
            }
        };
        if !more {
            break;
        }
        tokio::time::sleep(POLL_INTERVAL.saturating_sub(round_started.elapsed())).await;
    }
    let settling = match policy {
        RetryPolicy::Retries(_) => Settling::Retried,
        _ if settled || probes.is_empty() => Settling::Settled {
            after: started.elapsed(),
        },
        _ => Settling::TimedOut {
            after: started.elapsed(),
        },
    };
    let reports = probes
        .iter()
        .zip(attempts)
        .zip(timings)
        .map(|((probe, attempts), timing)| report(probe, &attempts, timing, policy, kubectl))
        .collect();
    PhaseProbes {
        reports,
        settling,
        matched_after,
    }
}

/// The round number of [`observe_now`]: never one of [`run_probes`]' rounds, so that its UDP
/// markers are its own and none of its datagrams answers for a later round.
const OBSERVATION_ROUND: u32 = u32::MAX;

/// What each of `probes` observes now, in one round, whatever it expects: how the paths stand
/// before a change.
pub(crate) async fn observe_now(agent: &impl ProbeAgent, probes: &[PlannedProbe]) -> Vec<Reach> {
    let all: Vec<usize> = (0..probes.len()).collect();
    let mut observed = vec![Reach::Unknown; probes.len()];
    for (index, result) in run_round(agent, probes, &all, OBSERVATION_ROUND).await {
        observed[index] = judge::observed_reach(&result.outcome);
    }
    observed
}

/// Which half of a probe a request is: the source's, or one of its receivers' (see
/// [`Receiver`]), by number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Half {
    Source,
    Receiver(usize),
}

/// One request of a batch, and the probe (and half of it) its result belongs to.
struct BatchEntry<'a> {
    probe: usize,
    half: Half,
    request: &'a ProbeRequest,
}

/// Runs `entries`, one batch per pod, all batches concurrently: each result by probe and half.
/// Every round is a new attempt with markers of its own (the same in both halves of a probe):
/// a receiver that remembers what arrived must not answer for an earlier round's datagram (one
/// that got through before a policy took effect).
async fn run_batches(
    agent: &impl ProbeAgent,
    entries: Vec<(PodRef, BatchEntry<'_>)>,
    round: u32,
) -> BTreeMap<(usize, Half), ProbeResult> {
    let mut by_pod: HashMap<PodRef, Vec<BatchEntry<'_>>> = HashMap::new();
    for (pod, entry) in entries {
        by_pod.entry(pod).or_default().push(entry);
    }
    let batches = by_pod.into_iter().map(|(pod, entries)| async move {
        let requests: Vec<_> = entries
            .iter()
            .enumerate()
            .map(|(id, entry)| entry.request.for_attempt(id as u32, round))
            .collect();
        let results = agent.run_batch(&pod, &requests).await;
        entries
            .into_iter()
            .map(|entry| (entry.probe, entry.half))
            .zip(results)
            .collect::<Vec<_>>()
    });
    join_all(batches).await.into_iter().flatten().collect()
}

/// The receivers of `indices` that confirm `when`.
fn receivers<'p>(
    probes: &'p [PlannedProbe],
    indices: impl IntoIterator<Item = usize>,
    when: Confirmation,
) -> Vec<(PodRef, BatchEntry<'p>)> {
    indices
        .into_iter()
        .flat_map(|index| {
            probes[index]
                .receivers()
                .iter()
                .enumerate()
                .filter(move |(_, receiver)| receiver.confirms == when)
                .map(move |(number, receiver)| {
                    let entry = BatchEntry {
                        probe: index,
                        half: Half::Receiver(number),
                        request: &receiver.request,
                    };
                    (receiver.pod.clone(), entry)
                })
        })
        .collect()
}

/// Runs `pending` probes: each source pod's probes in one batch, all pods at once. Receivers
/// that watch run in the same batches, at the same time; receivers that are asked answer before
/// the sources send and again after, for the probes that saw no echo.
async fn run_round(
    agent: &impl ProbeAgent,
    probes: &[PlannedProbe],
    pending: &[usize],
    round: u32,
) -> Vec<(usize, ProbeResult)> {
    // No entries, no batch: a round without asked receivers makes no exec for them.
    let asked = receivers(probes, pending.iter().copied(), Confirmation::Asked);
    let mut before = run_batches(agent, asked, round).await;
    let sending = pending.iter().map(|&index| {
        let entry = BatchEntry {
            probe: index,
            half: Half::Source,
            request: &probes[index].request,
        };
        (probes[index].pod(), entry)
    });
    let watching = receivers(probes, pending.iter().copied(), Confirmation::Watching);
    let capturing = receivers(probes, pending.iter().copied(), Confirmation::Capturing);
    // Captures must be running when the datagrams cross: they start first.
    let lead = if capturing.is_empty() {
        Duration::ZERO
    } else {
        CAPTURE_LEAD
    };
    let (mut captured, mut during) =
        futures::future::join(run_batches(agent, capturing, round), async {
            tokio::time::sleep(lead).await;
            run_batches(agent, sending.chain(watching).collect(), round).await
        })
        .await;
    let unanswered = pending.iter().copied().filter(|index| {
        !matches!(
            during.get(&(*index, Half::Source)),
            Some(ProbeResult {
                outcome: Outcome::UdpEcho { .. },
                ..
            })
        )
    });
    let asked_after = receivers(probes, unanswered, Confirmation::Asked);
    let mut after = run_batches(agent, asked_after, round).await;
    pending
        .iter()
        .map(|&index| {
            let mut result = during
                .remove(&(index, Half::Source))
                .unwrap_or_else(|| ProbeResult {
                    id: 0,
                    outcome: could_not_run(NO_ANSWER.to_owned()),
                    elapsed_ms: 0,
                    latency_us: None,
                    started_unix_ms: None,
                });
            let receivers = probes[index].receivers();
            let answer = |number, answers: &mut BTreeMap<(usize, Half), ProbeResult>| {
                answers
                    .remove(&(index, Half::Receiver(number)))
                    .map(|answer| answer.outcome)
            };
            result.outcome = match receivers.first().map(|receiver| receiver.confirms) {
                None => result.outcome,
                Some(Confirmation::Watching) => {
                    watched_delivery(result.outcome, answer(0, &mut during))
                }
                Some(Confirmation::Capturing) => {
                    captured_crossing(&result, answer(0, &mut captured))
                }
                Some(Confirmation::Asked) => {
                    let answers = (0..receivers.len())
                        .map(|number| (answer(number, &mut before), answer(number, &mut after)))
                        .collect();
                    asked_delivery(result.outcome, answers)
                }
            };
            (index, result)
        })
        .collect()
}

const NO_ANSWER: &str = "the agent gave no answer";

/// A sender's observation and its watching receiver's: nothing answers a tunnel port, so
/// delivery is what the receiver saw, as long as the sender did send.
fn watched_delivery(sent: Outcome, watched: Option<Outcome>) -> Outcome {
    match (sent, watched) {
        (Outcome::UdpSent { .. }, None) => could_not_run("the receiver gave no answer".to_owned()),
        (Outcome::UdpSent { .. }, Some(Outcome::CouldNotRun { reason })) => could_not_run(format!(
            "the receiver could not watch for the datagrams: {reason}"
        )),
        (Outcome::UdpSent { .. }, Some(watched)) => watched,
        (sent, _) => sent,
    }
}

/// A sender's observation and the capture on the receiving node. Only a datagram that arrived
/// (its echo came back) says anything of encryption; then the capture decides, if it was
/// watching the whole time the probe ran, by the two nodes' clocks: a capture that started late
/// or ended early proves nothing either way.
fn captured_crossing(sent: &ProbeResult, captured: Option<Outcome>) -> Outcome {
    if !matches!(sent.outcome, Outcome::UdpEcho { .. }) {
        return sent.outcome.clone();
    }
    match captured {
        None => could_not_run("the capturing agent gave no answer".to_owned()),
        Some(Outcome::CouldNotRun { reason }) => could_not_run(format!(
            "the datagram arrived, and the receiving node could not capture: {reason}"
        )),
        Some(Outcome::MarkerNotCaptured {
            interface,
            frames: 0,
            ..
        }) => could_not_run(format!(
            "the capture on {interface} saw no frames at all, not even the datagram's, which \
             proves nothing"
        )),
        Some(Outcome::MarkerNotCaptured {
            interface,
            frames,
            from_unix_ms,
            until_unix_ms,
        }) => {
            let started = sent.started_unix_ms.unwrap_or(0);
            let ended = started.saturating_add(sent.elapsed_ms);
            if sent.started_unix_ms.is_some() && from_unix_ms <= started && ended <= until_unix_ms {
                Outcome::MarkerNotCaptured {
                    interface,
                    frames,
                    from_unix_ms,
                    until_unix_ms,
                }
            } else {
                could_not_run(format!(
                    "the capture on {interface} ran from {from_unix_ms} to {until_unix_ms} \
                     (ms since the epoch, receiving node's clock), which does not cover the \
                     probe ({started} to {ended}, sending node's clock): it may have missed \
                     the datagram"
                ))
            }
        }
        Some(captured) => captured,
    }
}

/// A sender's observation and what its asked receivers (the destination pod, or every pod
/// behind a Service) answered before it sent and after. An echo proves delivery, and an error
/// is the sender's own. Otherwise the receivers decide: the datagram arrived at one of them
/// (delivered, its reply lost), or at none while each answered from the same listener before
/// and after (each listened, remembering, all along). A receiver that could not answer, or
/// restarted in between, leaves nothing proven.
fn asked_delivery(sent: Outcome, answers: Vec<(Option<Outcome>, Option<Outcome>)>) -> Outcome {
    if let Outcome::UdpEcho { .. } | Outcome::CouldNotRun { .. } = sent {
        return sent;
    }
    let saw = match &sent {
        Outcome::Timeout => "no echo came back".to_owned(),
        other => format!("the sender saw '{}'", other.summary()),
    };
    if let Some(source) = answers.iter().find_map(|(_, after)| match after {
        Some(Outcome::UdpReceived { source }) => Some(source.clone()),
        _ => None,
    }) {
        return Outcome::UdpReplyLost { source };
    }
    let mut last_listener = None;
    for (before, after) in answers {
        match (before, after) {
            (
                Some(Outcome::UdpNotReceived { listener: first }),
                Some(Outcome::UdpNotReceived { listener }),
            ) if first == listener => last_listener = Some(listener),
            (Some(Outcome::UdpNotReceived { .. }), Some(Outcome::UdpNotReceived { .. })) => {
                return could_not_run(format!(
                    "{saw}, and a receiver's echo restarted while the datagrams were in flight, \
                     forgetting what had arrived"
                ));
            }
            (Some(Outcome::CouldNotRun { reason }), _)
            | (_, Some(Outcome::CouldNotRun { reason })) => {
                return could_not_run(format!(
                    "{saw}, and a receiver could not say whether the datagram arrived: {reason}"
                ));
            }
            (before, after) => {
                return could_not_run(format!(
                    "{saw}, and a receiver's answers ({}, {}) say nothing of whether the \
                     datagram arrived",
                    before.map_or_else(|| "none".to_owned(), |outcome| outcome.summary()),
                    after.map_or_else(|| "none".to_owned(), |outcome| outcome.summary()),
                ));
            }
        }
    }
    match (sent, last_listener) {
        (Outcome::Timeout, Some(listener)) => Outcome::UdpNotReceived { listener },
        // A refusal or an unreachable destination, while every receiver listened.
        (sent, Some(_)) => sent,
        (_, None) => could_not_run(format!("{saw}, and no receiver was asked")),
    }
}

fn could_not_run(reason: String) -> Outcome {
    Outcome::CouldNotRun { reason }
}

/// How long a probe's last attempt ran, and how long its answer took, if it got one.
#[derive(Debug, Clone, Copy, Default)]
struct Timing {
    duration: Duration,
    latency_us: Option<u64>,
}

fn report(
    probe: &PlannedProbe,
    attempts: &[Judgement],
    timing: Timing,
    policy: RetryPolicy,
    kubectl: &Kubectl,
) -> ProbeReport {
    let (mut verdict, count) = judge::final_verdict(attempts);
    if verdict == Verdict::Flaky && !matches!(policy, RetryPolicy::Retries(_)) {
        verdict = Verdict::Pass;
    }
    let last = attempts.last();
    let (expected, expected_reach, destination_node) = match &probe.kind {
        PlannedKind::Traffic(traffic) => (
            judge::expected_summary(&traffic.expected),
            judge::expected_reach(&traffic.expected),
            traffic.destination_node.clone(),
        ),
        PlannedKind::Balance(balance) => (balance.summary(), Reach::Reached, None),
        PlannedKind::Address(address) => (address.summary(), Reach::Unknown, None),
    };
    ProbeReport {
        name: probe.name.clone(),
        cell: probe.cell.clone(),
        phase: probe.phase.clone(),
        from: probe.source_label(),
        to: probe.to.clone(),
        target_address: probe.target_address.clone(),
        protocol: probe.protocol.name().to_string(),
        port: probe.port,
        expected,
        observed: last
            .map(|judgement| judgement.observed.clone())
            .unwrap_or_default(),
        expected_reach,
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
        duration_secs: timing.duration.as_secs_f64(),
        message: match verdict {
            Verdict::Pass | Verdict::Skip => None,
            _ => last.map(|judgement| explain(probe, judgement)),
        },
        reproduce: reproduce_command(probe, kubectl),
        source: Some(PodLocation {
            namespace: probe.source.namespace.clone(),
            pod: probe.source.name.clone(),
            node: probe.source.node.clone(),
        }),
        destination_node,
        observed_kind: last.map(|judgement| judgement.observed_kind),
        path: probe.path(),
        backends: last.and_then(|judgement| judgement.backends.clone()),
        latency_ms: timing.latency_us.map(|micros| micros as f64 / 1000.0),
    }
}

/// The judgement's explanation, and for traffic between nodes that did not get through, which
/// path between which nodes is blocked and what breaks with it.
fn explain(probe: &PlannedProbe, judgement: &Judgement) -> String {
    let explanation = judgement.explanation.clone();
    if judgement.observed_kind == ObservationKind::Plaintext
        && let Some(traffic) = probe.traffic()
    {
        let to = traffic.destination_node.as_deref().unwrap_or("unknown");
        return format!(
            "{explanation}. Plaintext between node {} and node {to}",
            probe.source.node
        );
    }
    let (Some(traffic), Some((from, to))) = (probe.traffic(), probe.between_nodes()) else {
        return explanation;
    };
    if judgement.observed_reach != Reach::Blocked
        || judge::expected_reach(&traffic.expected) != Reach::Reached
    {
        return explanation;
    }
    let path = match probe.port {
        Some(port) => format!("{}/{port}", probe.protocol.name()),
        None => probe.protocol.name().to_string(),
    };
    let purpose = match (&traffic.overlay, probe.protocol, probe.port) {
        (Some(overlay), _, _) => {
            format!(" ({overlay}: every cross-node pod packet depends on it)")
        }
        (None, Protocol::Tcp | Protocol::Http, Some(4240)) => {
            " (Cilium's node health checks)".into()
        }
        (None, Protocol::Icmp, _) => " (Cilium's node health pings)".into(),
        _ => String::new(),
    };
    format!(
        "{explanation}. {path} from node {from} to node {to} is blocked{purpose}: most likely a \
         firewall between the nodes (host firewall, security group or network ACL)"
    )
}

/// The same probe by hand, through the same agents: what a user pastes to see it again, both
/// halves where a receiver confirms delivery.
fn reproduce_command(probe: &PlannedProbe, kubectl: &Kubectl) -> String {
    let send = agent_probe_command(&probe.pod(), &probe.request, kubectl);
    let receivers = probe.receivers();
    let Some(first) = receivers.first() else {
        return send;
    };
    let receive =
        |receiver: &Receiver| agent_probe_command(&receiver.pod, &receiver.request, kubectl);
    match first.confirms {
        // The receiver watches first; the sender, which only sends, says nothing.
        Confirmation::Watching => {
            format!("{} & sleep 0.5; {send} > /dev/null; wait", receive(first))
        }
        // The capture starts first and says whether the marker crossed readable; the sender
        // whether its echo came back.
        Confirmation::Capturing => {
            format!("{} & sleep 1.5; {send}; wait", receive(first))
        }
        // The sender says whether an echo came back, then each receiver whether it arrived.
        Confirmation::Asked => std::iter::once(send)
            .chain(receivers.iter().map(receive))
            .collect::<Vec<_>>()
            .join("; "),
    }
}

fn agent_probe_command(pod: &PodRef, request: &ProbeRequest, kubectl: &Kubectl) -> String {
    let request = serde_json::to_string(request).unwrap_or_default();
    let exec = kubectl.command(format_args!(
        "-n {} exec -i {} -c {} -- {} agent probe",
        pod.namespace,
        pod.name,
        cluster::AGENT_CONTAINER,
        cluster::AGENT_BINARY,
    ));
    format!("echo {} | {exec}", cluster::shell_word(&request))
}

#[cfg(test)]
pub(super) mod tests;
