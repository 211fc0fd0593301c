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
pub(super) mod tests {
    //! The executor's rules on a fake agent: what the probes observe round after round is
    //! scripted, and the clock is tokio's paused one, so settle windows and deadlines pass at once.
    use super::*;
    use crate::report::model::PathClass;
    use crate::runner::deploy::DeployedPod;
    use crate::runner::plan::{Receiver, TrafficProbe};
    use crate::scenario::model::Expectation;
    use std::sync::Mutex;

    /// Answers each request with the next outcome of its script (the last one once the script
    /// runs out) and counts the rounds it was asked.
    struct ScriptedAgent {
        script: Vec<Outcome>,
        asked: Mutex<usize>,
    }

    impl ScriptedAgent {
        fn new(script: Vec<Outcome>) -> Self {
            ScriptedAgent {
                script,
                asked: Mutex::new(0),
            }
        }

        fn rounds(&self) -> usize {
            *self.asked.lock().unwrap()
        }
    }

    impl ProbeAgent for ScriptedAgent {
        async fn run_batch(&self, _: &PodRef, requests: &[ProbeRequest]) -> Vec<ProbeResult> {
            let mut asked = self.asked.lock().unwrap();
            let outcome = self.script[(*asked).min(self.script.len() - 1)].clone();
            *asked += 1;
            requests
                .iter()
                .map(|request| ProbeResult {
                    id: request.id,
                    outcome: outcome.clone(),
                    elapsed_ms: 5,
                    latency_us: None,
                    started_unix_ms: None,
                })
                .collect()
        }
    }

    /// Answers every request a pod gets with that pod's outcome.
    struct PodAnswers(HashMap<&'static str, Outcome>);

    impl ProbeAgent for PodAnswers {
        async fn run_batch(&self, pod: &PodRef, requests: &[ProbeRequest]) -> Vec<ProbeResult> {
            requests
                .iter()
                .map(|request| ProbeResult {
                    id: request.id,
                    outcome: self.0[pod.name.as_str()].clone(),
                    elapsed_ms: 5,
                    latency_us: None,
                    started_unix_ms: None,
                })
                .collect()
        }
    }

    pub(crate) fn tcp_probe(expected: Expectation) -> PlannedProbe {
        PlannedProbe {
            name: "s::p::client->pod:server:tcp/9000 [client-0 -> 10.0.0.2:9000 (server-0)]".into(),
            cell: "s::p::client->pod:server:tcp/9000".into(),
            phase: "p".into(),
            source: DeployedPod {
                namespace: "ns".into(),
                name: "client-0".into(),
                node: "node-1".into(),
                ip: "10.0.0.1".into(),
                interfaces: BTreeMap::new(),
            },
            to: "pod:server".into(),
            target_address: "10.0.0.2:9000 (server-0)".into(),
            protocol: Protocol::Tcp,
            port: Some(9000),
            request: ProbeRequest {
                id: 0,
                action: crate::probe::ProbeAction::Tcp {
                    host: "10.0.0.2".into(),
                    port: 9000,
                },
                timeout_ms: 1000,
                interface: None,
                samples: None,
            },
            kind: PlannedKind::Traffic(TrafficProbe {
                expected,
                destination_node: Some("node-2".into()),
                to_node: false,
                receivers: Vec::new(),
                overlay: None,
                path: PathClass::CrossNode,
            }),
        }
    }

    fn connected() -> Outcome {
        Outcome::Connected {
            peer: "10.0.0.2:9000".into(),
        }
    }

    fn could_not_run() -> Outcome {
        Outcome::CouldNotRun {
            reason: "agent gone".into(),
        }
    }

    async fn run_phase(
        agent: &ScriptedAgent,
        expected: Expectation,
        policy: RetryPolicy,
    ) -> PhaseProbes {
        let kubectl = Kubectl::new(None, None);
        let phase = run_probes(agent, &[tcp_probe(expected)], policy, &kubectl).await;
        assert_eq!(phase.reports.len(), 1);
        phase
    }

    async fn run(agent: &ScriptedAgent, expected: Expectation, policy: RetryPolicy) -> ProbeReport {
        run_phase(agent, expected, policy).await.reports.remove(0)
    }

    /// UDP 6081 between nodes: nothing echoes, so the receiving node's agent must confirm it.
    fn udp_between_nodes() -> PlannedProbe {
        let marker = "cnicheck-0123456789abcdef".to_owned();
        PlannedProbe {
            protocol: Protocol::Udp,
            port: Some(6081),
            request: ProbeRequest {
                id: 0,
                action: crate::probe::ProbeAction::UdpSend {
                    host: "10.0.0.2".into(),
                    port: 6081,
                    marker: marker.clone(),
                },
                timeout_ms: 1000,
                interface: None,
                samples: None,
            },
            kind: PlannedKind::Traffic(TrafficProbe {
                expected: Expectation::Allowed,
                destination_node: Some("node-2".into()),
                to_node: true,
                receivers: vec![Receiver {
                    pod: PodRef {
                        namespace: "ns".into(),
                        name: "node-2".into(),
                    },
                    request: ProbeRequest {
                        id: 0,
                        action: crate::probe::ProbeAction::UdpReceive { port: 6081, marker },
                        timeout_ms: 2000,
                        interface: None,
                        samples: None,
                    },
                    confirms: Confirmation::Watching,
                }],
                overlay: None,
                path: PathClass::NodeToNode,
            }),
            ..tcp_probe(Expectation::Allowed)
        }
    }

    /// UDP to an agent pod: the source waits for the echo, the pod's agent says whether the
    /// datagram arrived.
    fn udp_to_pod(expected: Expectation) -> PlannedProbe {
        let marker = "cnicheck-0123456789abcdef".to_owned();
        PlannedProbe {
            protocol: Protocol::Udp,
            port: Some(9001),
            request: ProbeRequest {
                id: 0,
                action: crate::probe::ProbeAction::Udp {
                    host: "10.0.0.2".into(),
                    port: 9001,
                    marker: marker.clone(),
                },
                timeout_ms: 1000,
                interface: None,
                samples: None,
            },
            kind: PlannedKind::Traffic(TrafficProbe {
                expected: expected.clone(),
                destination_node: Some("node-2".into()),
                to_node: false,
                receivers: vec![Receiver {
                    pod: PodRef {
                        namespace: "ns".into(),
                        name: "server-0".into(),
                    },
                    request: ProbeRequest {
                        id: 0,
                        action: crate::probe::ProbeAction::UdpWatch { port: 9001, marker },
                        timeout_ms: 2000,
                        interface: None,
                        samples: None,
                    },
                    confirms: Confirmation::Asked,
                }],
                overlay: None,
                path: PathClass::CrossNode,
            }),
            ..tcp_probe(expected)
        }
    }

    /// UDP to a Service in front of `server-0` and `server-1`: both are asked.
    fn udp_to_service(expected: Expectation) -> PlannedProbe {
        let mut probe = udp_to_pod(expected);
        let PlannedKind::Traffic(traffic) = &mut probe.kind else {
            unreachable!()
        };
        let mut second = traffic.receivers[0].clone();
        second.pod.name = "server-1".into();
        traffic.receivers.push(second);
        traffic.path = PathClass::Service;
        probe
    }

    /// Silence through a Service passes a deny only when every pod behind it confirms nothing
    /// arrived; one that got it makes it delivered, one that cannot say makes it an error.
    #[tokio::test(start_paused = true)]
    async fn udp_silence_through_a_service_needs_the_word_of_every_pod_behind_it() {
        let kubectl = Kubectl::new(None, None);
        let arrived = Outcome::UdpReceived {
            source: "10.0.0.1".into(),
        };
        for (second, verdict, kind) in [
            (
                Outcome::UdpNotReceived { listener: 8 },
                Verdict::Pass,
                ObservationKind::UdpNotDelivered,
            ),
            (arrived, Verdict::Fail, ObservationKind::UdpReplyLost),
            (
                could_not_run(),
                Verdict::Error,
                ObservationKind::CouldNotRun,
            ),
        ] {
            let agent = PodAnswers(HashMap::from([
                ("client-0", Outcome::Timeout),
                ("server-0", Outcome::UdpNotReceived { listener: 7 }),
                ("server-1", second.clone()),
            ]));
            let report = run_probes(
                &agent,
                &[udp_to_service(Expectation::Denied)],
                RetryPolicy::Retries(0),
                &kubectl,
            )
            .await
            .reports
            .remove(0);
            assert_eq!(report.verdict, verdict, "server-1 answered {second:?}");
            assert_eq!(report.observed_kind, Some(kind));
        }
    }

    /// Silence passes a UDP deny only when the receiver, listening all along, confirms nothing
    /// arrived; a receiver that cannot say (deleted, not listening) makes it an error, never a
    /// pass; a datagram that arrived while its echo was lost is delivered.
    #[tokio::test(start_paused = true)]
    async fn udp_silence_counts_only_when_the_listening_receiver_confirms_it() {
        use Expectation::{Allowed, Denied, Dropped};
        let kubectl = Kubectl::new(None, None);
        let arrived = Outcome::UdpReceived {
            source: "10.0.0.1".into(),
        };
        let echo = Outcome::UdpEcho {
            server: Some("server-0".into()),
        };
        let listening = Outcome::UdpNotReceived { listener: 7 };
        let (p, f, e) = (Verdict::Pass, Verdict::Fail, Verdict::Error);
        #[rustfmt::skip]
        let table = [
            // (sender, receiver, expected, verdict, observed kind)
            (Outcome::Timeout, listening.clone(), Denied, p, ObservationKind::UdpNotDelivered),
            (Outcome::Timeout, listening.clone(), Dropped, p, ObservationKind::UdpNotDelivered),
            (Outcome::Timeout, listening.clone(), Allowed, f, ObservationKind::UdpNotDelivered),
            (Outcome::Timeout, arrived.clone(), Denied, f, ObservationKind::UdpReplyLost),
            (Outcome::Timeout, arrived.clone(), Allowed, p, ObservationKind::UdpReplyLost),
            (Outcome::Timeout, could_not_run(), Denied, e, ObservationKind::CouldNotRun),
            (Outcome::Timeout, could_not_run(), Dropped, e, ObservationKind::CouldNotRun),
            (Outcome::Timeout, could_not_run(), Allowed, e, ObservationKind::CouldNotRun),
            (echo.clone(), arrived.clone(), Allowed, p, ObservationKind::UdpEcho),
            (echo.clone(), could_not_run(), Denied, f, ObservationKind::UdpEcho),
            (Outcome::Refused, listening.clone(), Denied, p, ObservationKind::Refused),
            (Outcome::Refused, arrived.clone(), Denied, f, ObservationKind::UdpReplyLost),
            (Outcome::Refused, could_not_run(), Denied, e, ObservationKind::CouldNotRun),
            (Outcome::Unreachable { detail: "no route".into() }, could_not_run(), Denied, e, ObservationKind::CouldNotRun),
        ];
        for (sent, received, expected, verdict, kind) in table {
            let agent = PodAnswers(HashMap::from([
                ("client-0", sent.clone()),
                ("server-0", received.clone()),
            ]));
            let report = run_probes(
                &agent,
                &[udp_to_pod(expected.clone())],
                RetryPolicy::Retries(0),
                &kubectl,
            )
            .await
            .reports
            .remove(0);
            let case = format!("sender {sent:?}, receiver {received:?}, expected {expected:?}");
            assert_eq!(report.verdict, verdict, "{case}: {:?}", report.message);
            assert_eq!(report.observed_kind, Some(kind), "{case}");
        }
    }

    /// A network that delivers until a policy takes effect half a second in, and a receiver that
    /// remembers every marker that ever arrived, as the agent's echo does.
    struct PolicyTakesEffect {
        since: Instant,
        arrived: Mutex<Vec<String>>,
    }

    impl ProbeAgent for PolicyTakesEffect {
        async fn run_batch(&self, _: &PodRef, requests: &[ProbeRequest]) -> Vec<ProbeResult> {
            let open = self.since.elapsed() < Duration::from_millis(500);
            let mut arrived = self.arrived.lock().unwrap();
            requests
                .iter()
                .map(|request| {
                    let outcome = match &request.action {
                        crate::probe::ProbeAction::Udp { marker, .. } if open => {
                            arrived.push(marker.clone());
                            Outcome::UdpEcho { server: None }
                        }
                        crate::probe::ProbeAction::Udp { .. } => Outcome::Timeout,
                        crate::probe::ProbeAction::UdpWatch { marker, .. }
                            if arrived.contains(marker) =>
                        {
                            Outcome::UdpReceived {
                                source: "10.0.0.1".into(),
                            }
                        }
                        _ => Outcome::UdpNotReceived { listener: 1 },
                    };
                    ProbeResult {
                        id: request.id,
                        outcome,
                        elapsed_ms: 5,
                        latency_us: None,
                        started_unix_ms: None,
                    }
                })
                .collect()
        }
    }

    /// A UDP deny settling after a policy: the datagram of the round before the policy took
    /// effect is remembered by the receiver, and must not answer for the rounds after it.
    #[tokio::test(start_paused = true)]
    async fn each_round_has_markers_of_its_own() {
        let agent = PolicyTakesEffect {
            since: Instant::now(),
            arrived: Mutex::new(Vec::new()),
        };
        let policy = RetryPolicy::Settle {
            deadline: Duration::from_secs(30),
            settle: SettleRule::Window(Duration::from_secs(3)),
        };
        let kubectl = Kubectl::new(None, None);
        let phase = run_probes(&agent, &[udp_to_pod(Expectation::Denied)], policy, &kubectl).await;
        assert!(matches!(phase.settling, Settling::Settled { .. }));
        let report = &phase.reports[0];
        assert_eq!(report.verdict, Verdict::Pass, "{:?}", report.message);
        assert_eq!(report.observed_kind, Some(ObservationKind::UdpNotDelivered));
    }

    /// The receiver's echo answers from a new listener each time it is asked: it restarted.
    struct RestartingReceiver(Mutex<u64>);

    impl ProbeAgent for RestartingReceiver {
        async fn run_batch(&self, pod: &PodRef, requests: &[ProbeRequest]) -> Vec<ProbeResult> {
            let mut listener = self.0.lock().unwrap();
            *listener += 1;
            let outcome = match pod.name.as_str() {
                "server-0" => Outcome::UdpNotReceived {
                    listener: *listener,
                },
                _ => Outcome::Timeout,
            };
            requests
                .iter()
                .map(|request| ProbeResult {
                    id: request.id,
                    outcome: outcome.clone(),
                    elapsed_ms: 5,
                    latency_us: None,
                    started_unix_ms: None,
                })
                .collect()
        }
    }

    #[tokio::test(start_paused = true)]
    async fn silence_proves_nothing_when_the_receiver_restarted_in_between() {
        let agent = RestartingReceiver(Mutex::new(0));
        let kubectl = Kubectl::new(None, None);
        let report = run_probes(
            &agent,
            &[udp_to_pod(Expectation::Denied)],
            RetryPolicy::Retries(0),
            &kubectl,
        )
        .await
        .reports
        .remove(0);
        assert_eq!(report.verdict, Verdict::Error);
        assert!(
            report
                .message
                .as_deref()
                .unwrap_or_default()
                .contains("restarted"),
            "{:?}",
            report.message
        );
    }

    #[tokio::test(start_paused = true)]
    async fn udp_passes_only_when_the_receiver_saw_the_marker() {
        let kubectl = Kubectl::new(None, None);
        let sent = Outcome::UdpSent { datagrams: 3 };
        for (received, verdict) in [
            (
                Outcome::UdpReceived {
                    source: "10.0.0.1".into(),
                },
                Verdict::Pass,
            ),
            (Outcome::Timeout, Verdict::Fail),
            (could_not_run(), Verdict::Error),
        ] {
            let agent = PodAnswers(HashMap::from([
                ("client-0", sent.clone()),
                ("node-2", received.clone()),
            ]));
            let reports = run_probes(
                &agent,
                &[udp_between_nodes()],
                RetryPolicy::Retries(0),
                &kubectl,
            )
            .await
            .reports;
            assert_eq!(reports[0].verdict, verdict, "receiver saw {received:?}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_pass_after_a_retry_is_flaky() {
        let agent = ScriptedAgent::new(vec![Outcome::Timeout, connected()]);
        let report = run(&agent, Expectation::Allowed, RetryPolicy::Retries(2)).await;
        assert_eq!((report.verdict, report.attempts), (Verdict::Flaky, 2));
        assert_eq!(agent.rounds(), 2, "a passing probe runs no more");
    }

    #[tokio::test(start_paused = true)]
    async fn a_report_says_where_it_went_and_what_kind_of_thing_each_attempt_saw() {
        let agent = ScriptedAgent::new(vec![Outcome::Timeout, connected()]);
        let report = run(&agent, Expectation::Allowed, RetryPolicy::Retries(2)).await;
        let source = report.source.expect("a traffic probe has a source pod");
        assert_eq!(
            (
                source.namespace.as_str(),
                source.pod.as_str(),
                source.node.as_str()
            ),
            ("ns", "client-0", "node-1")
        );
        assert_eq!(report.destination_node.as_deref(), Some("node-2"));
        assert_eq!(report.observed_kind, Some(ObservationKind::Connected));
        assert_eq!(
            report.earlier_attempts[0].observed_kind,
            Some(ObservationKind::Timeout)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn retries_end_with_the_last_failure() {
        let agent = ScriptedAgent::new(vec![Outcome::Timeout]);
        let report = run(&agent, Expectation::Allowed, RetryPolicy::Retries(2)).await;
        assert_eq!((report.verdict, report.attempts), (Verdict::Fail, 3));
    }

    #[tokio::test(start_paused = true)]
    async fn a_probe_that_could_not_run_is_an_error_never_an_expected_drop() {
        for expected in [
            Expectation::Denied,
            Expectation::Dropped,
            Expectation::Refused,
        ] {
            for policy in [
                RetryPolicy::Retries(1),
                RetryPolicy::Converge {
                    deadline: Duration::from_secs(5),
                },
                RetryPolicy::Settle {
                    deadline: Duration::from_secs(10),
                    settle: SettleRule::Window(Duration::from_secs(3)),
                },
            ] {
                let agent = ScriptedAgent::new(vec![could_not_run()]);
                let report = run(&agent, expected.clone(), policy).await;
                assert_eq!(report.verdict, Verdict::Error, "{expected:?} {policy:?}");
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn converging_after_a_deployment_is_a_pass_not_a_flake() {
        let agent = ScriptedAgent::new(vec![Outcome::Timeout, Outcome::Timeout, connected()]);
        let policy = RetryPolicy::Converge {
            deadline: Duration::from_secs(30),
        };
        let phase = run_phase(&agent, Expectation::Allowed, policy).await;
        assert_eq!(
            (phase.reports[0].verdict, phase.reports[0].attempts),
            (Verdict::Pass, 3)
        );
        assert_eq!(
            phase.settling,
            Settling::Settled {
                after: Duration::from_secs(1)
            }
        );
        assert_eq!(phase.matched_after, Some(Duration::from_secs(1)));
    }

    #[tokio::test(start_paused = true)]
    async fn converging_stops_at_the_deadline_with_a_failure() {
        let agent = ScriptedAgent::new(vec![Outcome::Timeout]);
        let policy = RetryPolicy::Converge {
            deadline: Duration::from_secs(5),
        };
        let phase = run_phase(&agent, Expectation::Allowed, policy).await;
        assert_eq!(phase.reports[0].verdict, Verdict::Fail);
        assert!(matches!(phase.settling, Settling::TimedOut { .. }));
        assert_eq!(phase.matched_after, None);
        assert!(
            agent.rounds() <= 10,
            "polls twice a second until the deadline"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn settling_waits_out_the_window_and_counts_the_last_observation() {
        // A policy that is not enforced yet: connections still get through at first.
        let agent = ScriptedAgent::new(vec![connected(), connected(), Outcome::Timeout]);
        let policy = RetryPolicy::Settle {
            deadline: Duration::from_secs(60),
            settle: SettleRule::Window(Duration::from_secs(5)),
        };
        let started = Instant::now();
        let phase = run_phase(&agent, Expectation::Denied, policy).await;
        assert_eq!(phase.reports[0].verdict, Verdict::Pass);
        assert!(matches!(phase.settling, Settling::Settled { .. }));
        assert!(
            started.elapsed() >= Duration::from_secs(5),
            "matched for the whole settle window"
        );
        assert!(agent.rounds() >= 2 + 5, "kept probing while it settled");
        // Propagation took the first two rounds; the rest was the settle window.
        assert_eq!(phase.matched_after, Some(Duration::from_secs(1)));
    }

    /// After a change one probe must flip, confirmed a second after everything first matched.
    fn settle_on_a_change() -> RetryPolicy {
        RetryPolicy::Settle {
            deadline: Duration::from_secs(60),
            settle: SettleRule::Changed {
                changing: 1,
                confirm: Duration::from_secs(1),
            },
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_change_seen_taking_effect_settles_after_a_second_look() {
        // Still allowed in the first round, as at the end of the previous phase; then denied.
        let agent = ScriptedAgent::new(vec![connected(), Outcome::Timeout]);
        let policy = settle_on_a_change();
        let phase = run_phase(&agent, Expectation::Denied, policy).await;
        assert_eq!(phase.reports[0].verdict, Verdict::Pass);
        assert_eq!(phase.matched_after, Some(Duration::from_millis(500)));
        assert_eq!(
            phase.settling,
            Settling::Settled {
                after: Duration::from_millis(1500)
            },
            "matched in the second round, and again a second later"
        );
        assert_eq!(agent.rounds(), 4);
    }

    #[tokio::test(start_paused = true)]
    async fn a_change_that_flickers_back_starts_the_confirmation_again() {
        let agent = ScriptedAgent::new(vec![
            Outcome::Timeout,
            connected(),
            Outcome::Timeout,
            Outcome::Timeout,
            Outcome::Timeout,
            Outcome::Timeout,
        ]);
        let policy = settle_on_a_change();
        let phase = run_phase(&agent, Expectation::Denied, policy).await;
        assert_eq!(phase.reports[0].verdict, Verdict::Pass);
        assert_eq!(
            phase.settling,
            Settling::Settled {
                after: Duration::from_millis(2000)
            },
            "the pass of the first round did not count once the second failed"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_early_pass_does_not_count_when_the_phase_settles_on_a_failure() {
        // Allowed at first, then the policy denies what it should allow.
        let agent = ScriptedAgent::new(vec![connected(), Outcome::Refused]);
        let policy = RetryPolicy::Settle {
            deadline: Duration::from_secs(10),
            settle: SettleRule::Window(Duration::from_secs(3)),
        };
        let phase = run_phase(&agent, Expectation::Allowed, policy).await;
        assert_eq!(phase.reports[0].verdict, Verdict::Fail);
        assert!(matches!(phase.settling, Settling::TimedOut { .. }));
    }

    #[test]
    fn a_capture_decides_encryption_only_for_a_datagram_that_arrived_while_it_watched() {
        let sent = |outcome: Outcome| ProbeResult {
            id: 0,
            outcome,
            elapsed_ms: 40,
            latency_us: None,
            started_unix_ms: Some(10_000),
        };
        let echoed = sent(Outcome::UdpEcho { server: None });
        let not_seen = |from_unix_ms, until_unix_ms, frames| Outcome::MarkerNotCaptured {
            interface: "eth0".into(),
            frames,
            from_unix_ms,
            until_unix_ms,
        };
        let captured = Outcome::MarkerCaptured {
            interface: "eth0".into(),
        };
        // The capture covered the probe: what it saw is the answer.
        assert_eq!(
            captured_crossing(&echoed, Some(not_seen(9_000, 12_000, 7))),
            not_seen(9_000, 12_000, 7)
        );
        assert_eq!(captured_crossing(&echoed, Some(captured.clone())), captured);
        // It started late, ended early or saw nothing at all: nothing is proven.
        for capture in [
            not_seen(10_001, 12_000, 7),
            not_seen(9_000, 10_030, 7),
            not_seen(9_000, 12_000, 0),
        ] {
            let outcome = captured_crossing(&echoed, Some(capture.clone()));
            assert!(
                matches!(outcome, Outcome::CouldNotRun { .. }),
                "{capture:?}: {outcome:?}"
            );
        }
        assert!(matches!(
            captured_crossing(&echoed, None),
            Outcome::CouldNotRun { .. }
        ));
        // A datagram that never arrived is judged on that, whatever the capture saw.
        assert_eq!(
            captured_crossing(&sent(Outcome::Timeout), Some(captured)),
            Outcome::Timeout
        );
    }
}
