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
        answer_all(requests, &outcome)
    }
}

/// Every request answered with `outcome`, in 5 ms.
fn answer_all(requests: &[ProbeRequest], outcome: &Outcome) -> Vec<ProbeResult> {
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

/// Answers every request a pod gets with that pod's outcome.
struct PodAnswers(HashMap<&'static str, Outcome>);

impl ProbeAgent for PodAnswers {
    async fn run_batch(&self, pod: &PodRef, requests: &[ProbeRequest]) -> Vec<ProbeResult> {
        answer_all(requests, &self.0[pod.name.as_str()])
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
        answer_all(requests, &outcome)
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
