//! The agent end to end, on loopback only: `serve` runs in-process on ephemeral ports and
//! batches go through `run_probe` with in-memory stdin/stdout. Nothing here sends a packet to
//! any address but 127.0.0.1.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use cnicheck::agent::{AgentError, BoundAgent, ListenAddresses, ServeArgs, run_probe, run_session};
use cnicheck::probe::{
    END_OF_BATCH, END_OF_RESULTS, Outcome, ProbeAction, ProbeRequest, ProbeResult,
};
use hickory_resolver::proto::op::{Message, ResponseCode};
use hickory_resolver::proto::rr::rdata::A;
use hickory_resolver::proto::rr::{Name, RData, Record, RecordType};
use tokio::net::{TcpListener, TcpSocket, TcpStream, UdpSocket};

const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const POD_NAME: &str = "agent-under-test";
const TIMEOUT_MS: u64 = 1_000;

/// Starts an agent on IPv4 loopback; it lives as long as the test's runtime.
fn start_agent() -> ListenAddresses {
    start_agent_on(LOOPBACK)
}

fn start_agent_on(loopback: IpAddr) -> ListenAddresses {
    let args = ServeArgs {
        pod_name: Some(POD_NAME.to_owned()),
        listen_address: Some(loopback),
        http_port: 0,
        http_alt_port: 0,
        tcp_echo_port: 0,
        udp_echo_port: 0,
        extra_tcp_ports: vec![0],
        extra_udp_ports: vec![0],
    };
    let agent = BoundAgent::bind(&args).expect("agent binds on loopback");
    let addresses = agent.addresses().clone();
    tokio::spawn(agent.serve_until(std::future::pending()));
    addresses
}

fn request(id: u32, action: ProbeAction) -> ProbeRequest {
    ProbeRequest {
        id,
        action,
        timeout_ms: TIMEOUT_MS,
        interface: None,
        samples: None,
    }
}

fn tcp(id: u32, address: SocketAddr) -> ProbeRequest {
    request(
        id,
        ProbeAction::Tcp {
            host: address.ip().to_string(),
            port: address.port(),
        },
    )
}

fn udp(id: u32, address: SocketAddr, marker: &str) -> ProbeRequest {
    request(
        id,
        ProbeAction::Udp {
            host: address.ip().to_string(),
            port: address.port(),
            marker: marker.to_owned(),
        },
    )
}

fn http(id: u32, address: SocketAddr, path: &str) -> ProbeRequest {
    request(
        id,
        ProbeAction::Http {
            url: format!("http://{address}{path}"),
        },
    )
}

fn dns(id: u32, name: &str, server: SocketAddr) -> ProbeRequest {
    request(
        id,
        ProbeAction::Dns {
            name: name.to_owned(),
            server: Some(server.to_string()),
        },
    )
}

fn input_of(requests: &[ProbeRequest]) -> String {
    requests
        .iter()
        .map(|request| serde_json::to_string(request).expect("request encodes") + "\n")
        .collect()
}

/// Runs a batch; returns each id's outcome after checking the framing (one line per request,
/// the sentinel last).
async fn run_batch(requests: &[ProbeRequest]) -> HashMap<u32, Outcome> {
    run_batch_results(requests)
        .await
        .into_iter()
        .map(|(id, result)| (id, result.outcome))
        .collect()
}

/// [`run_batch`], with each id's whole result.
async fn run_batch_results(requests: &[ProbeRequest]) -> HashMap<u32, ProbeResult> {
    let input = input_of(requests);
    let mut output = Vec::new();
    run_probe(input.as_bytes(), &mut output)
        .await
        .expect("batch runs");
    let output = String::from_utf8(output).expect("output is UTF-8");
    let mut lines: Vec<&str> = output.lines().collect();
    assert_eq!(lines.pop(), Some(END_OF_RESULTS), "output:\n{output}");
    assert_eq!(lines.len(), requests.len(), "output:\n{output}");
    let results: HashMap<u32, ProbeResult> = lines
        .iter()
        .map(|line| {
            let result: ProbeResult = serde_json::from_str(line).expect("result line parses");
            (result.id, result)
        })
        .collect();
    assert_eq!(
        results.len(),
        requests.len(),
        "one result per id:\n{output}"
    );
    results
}

/// A loopback port nothing listens on.
async fn closed_tcp_port() -> SocketAddr {
    let listener = TcpListener::bind((LOOPBACK, 0)).await.expect("bind");
    listener.local_addr().expect("address")
}

async fn closed_udp_port() -> SocketAddr {
    let socket = UdpSocket::bind((LOOPBACK, 0)).await.expect("bind");
    socket.local_addr().expect("address")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_tcp_probes_connect_to_open_ports_and_are_refused_by_closed_ones() {
    let agent = start_agent();
    let closed = closed_tcp_port().await;
    let outcomes = run_batch(&[
        tcp(1, agent.tcp_echo),
        tcp(2, agent.http[2]),
        tcp(3, closed),
        http(4, agent.http[2], "/"),
    ])
    .await;
    assert_eq!(
        outcomes[&1],
        Outcome::Connected {
            peer: agent.tcp_echo.to_string()
        }
    );
    assert!(matches!(outcomes[&2], Outcome::Connected { .. }));
    assert_eq!(outcomes[&3], Outcome::Refused);
    // An extra TCP port serves HTTP too, so http probes of it get an answer.
    assert!(
        matches!(outcomes[&4], Outcome::HttpStatus { status: 200, .. }),
        "{:?}",
        outcomes[&4]
    );
}

/// `localhost` is answered inside hickory (RFC 6761) without a query, so this exercises the
/// by-name path without sending DNS anywhere; IPv4 is preferred.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_probes_by_name_use_the_ipv4_address() {
    let agent = start_agent();
    let port = agent.tcp_echo.port();
    let by_name = request(
        1,
        ProbeAction::Tcp {
            host: "localhost".to_owned(),
            port,
        },
    );
    let outcomes = run_batch(&[by_name]).await;
    assert_eq!(
        outcomes[&1],
        Outcome::Connected {
            peer: agent.tcp_echo.to_string()
        }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_http_probes_report_status_and_answering_pod() {
    let agent = start_agent();
    let outcomes = run_batch(&[
        http(1, agent.http[0], "/"),
        http(2, agent.http[1], "/status/403"),
        http(3, agent.http[0], "/healthz"),
        http(4, closed_tcp_port().await, "/"),
    ])
    .await;
    let answered = |status| Outcome::HttpStatus {
        status,
        server: Some(POD_NAME.to_owned()),
    };
    assert_eq!(outcomes[&1], answered(200));
    assert_eq!(outcomes[&2], answered(403));
    assert_eq!(outcomes[&3], answered(200));
    assert_eq!(outcomes[&4], Outcome::Refused);
}

/// On loopback a closed UDP port always answers with ICMP port unreachable, which the
/// connected probe socket reports as ECONNREFUSED: `Refused`, never `Timeout` (a silent drop,
/// as by a network policy, is what gives `Timeout`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_udp_probes_need_their_marker_echoed() {
    let agent = start_agent();
    let outcomes = run_batch(&[
        udp(1, agent.udp_echo[0], "marker-1"),
        udp(2, agent.udp_echo[1], "marker-2"),
        udp(3, closed_udp_port().await, "marker-3"),
    ])
    .await;
    let echoed = Outcome::UdpEcho {
        server: Some(POD_NAME.to_owned()),
    };
    assert_eq!(outcomes[&1], echoed);
    assert_eq!(outcomes[&2], echoed);
    assert_eq!(outcomes[&3], Outcome::Refused);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_serves_and_probes_over_ipv6() {
    let agent = start_agent_on(IpAddr::V6(Ipv6Addr::LOCALHOST));
    let outcomes = run_batch(&[
        tcp(1, agent.tcp_echo),
        http(2, agent.http[0], "/status/204"),
        udp(3, agent.udp_echo[0], "marker-v6"),
    ])
    .await;
    assert_eq!(
        outcomes[&1],
        Outcome::Connected {
            peer: agent.tcp_echo.to_string()
        }
    );
    assert_eq!(
        outcomes[&2],
        Outcome::HttpStatus {
            status: 204,
            server: Some(POD_NAME.to_owned())
        }
    );
    assert!(
        matches!(outcomes[&3], Outcome::UdpEcho { .. }),
        "{:?}",
        outcomes[&3]
    );
}

/// A UDP echo that answers, but never with our marker, must not pass.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_udp_probe_ignores_replies_without_its_marker() {
    let impostor = UdpSocket::bind((LOOPBACK, 0)).await.expect("bind");
    let address = impostor.local_addr().expect("address");
    tokio::spawn(async move {
        let mut datagram = [0u8; 512];
        while let Ok((_, peer)) = impostor.recv_from(&mut datagram).await {
            let _ = impostor.send_to(b"something else", peer).await;
        }
    });
    let outcomes = run_batch(&[udp(1, address, "the-marker")]).await;
    assert_eq!(outcomes[&1], Outcome::Timeout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_probes_bound_to_an_interface() {
    let agent = start_agent();
    let on = |mut request: ProbeRequest, interface: &str| {
        request.interface = Some(interface.to_owned());
        request
    };
    let missing = "cnicheck-none0";
    let outcomes = run_batch(&[
        on(tcp(1, agent.tcp_echo), "lo"),
        on(udp(2, agent.udp_echo[0], "marker-lo"), "lo"),
        on(tcp(3, agent.tcp_echo), missing),
        on(udp(4, agent.udp_echo[0], "marker-missing"), missing),
        on(http(5, agent.http[0], "/"), missing),
        on(
            request(
                6,
                ProbeAction::Icmp {
                    host: LOOPBACK.to_string(),
                },
            ),
            missing,
        ),
    ])
    .await;
    assert!(
        matches!(outcomes[&1], Outcome::Connected { .. }),
        "{:?}",
        outcomes[&1]
    );
    assert!(
        matches!(outcomes[&2], Outcome::UdpEcho { .. }),
        "{:?}",
        outcomes[&2]
    );
    for id in 3..=6 {
        match &outcomes[&id] {
            Outcome::CouldNotRun { reason } => assert!(reason.contains(missing), "{reason}"),
            other => panic!("probe {id} on a missing interface: {other:?}"),
        }
    }
}

/// Root (or CAP_NET_RAW, or a permissive `net.ipv4.ping_group_range`) gets a reply from
/// loopback; without permission the probe must say it could not run, never pass or time out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_icmp_probe_replies_or_could_not_run() {
    let outcomes = run_batch(&[request(
        1,
        ProbeAction::Icmp {
            host: LOOPBACK.to_string(),
        },
    )])
    .await;
    match &outcomes[&1] {
        Outcome::IcmpReply => {}
        Outcome::CouldNotRun { reason } => {
            assert!(reason.contains("ping_group_range"), "{reason}")
        }
        other => panic!("ICMP to loopback: {other:?}"),
    }
}

const KNOWN_NAME: &str = "known.cnicheck.test.";
const KNOWN_ADDRESS: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 10);

/// A loopback DNS server: `KNOWN_NAME` has an A record, every other name is NXDOMAIN.
async fn start_dns_responder() -> SocketAddr {
    let socket = UdpSocket::bind((LOOPBACK, 0)).await.expect("bind");
    let address = socket.local_addr().expect("address");
    tokio::spawn(async move {
        let mut datagram = [0u8; 4096];
        while let Ok((length, peer)) = socket.recv_from(&mut datagram).await {
            let Ok(query) = Message::from_vec(&datagram[..length]) else {
                continue;
            };
            if let Ok(answer) = answer(&query).to_vec() {
                let _ = socket.send_to(&answer, peer).await;
            }
        }
    });
    address
}

fn answer(query: &Message) -> Message {
    let mut response = Message::response(query.metadata.id, query.metadata.op_code);
    response.metadata.recursion_desired = query.metadata.recursion_desired;
    response.metadata.recursion_available = true;
    response.add_queries(query.queries.iter().cloned());
    let known = Name::from_ascii(KNOWN_NAME).expect("valid name");
    for question in &query.queries {
        if question.name() != &known {
            response.metadata.response_code = ResponseCode::NXDomain;
        } else if question.query_type() == RecordType::A {
            response.add_answer(Record::from_rdata(
                known.clone(),
                60,
                RData::A(A(KNOWN_ADDRESS)),
            ));
        }
    }
    response
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_dns_probes_resolve_and_see_nxdomain() {
    let server = start_dns_responder().await;
    let outcomes = run_batch(&[
        dns(1, KNOWN_NAME, server),
        dns(2, "missing.cnicheck.test.", server),
        dns(3, "known.cnicheck.test", server),
    ])
    .await;
    let resolved = Outcome::Resolved {
        addresses: vec![IpAddr::V4(KNOWN_ADDRESS)],
    };
    assert_eq!(outcomes[&1], resolved);
    assert_eq!(outcomes[&2], Outcome::NxDomain);
    assert_eq!(outcomes[&3], resolved);
}

/// A listener whose accept queue is full drops further SYNs: a TCP probe to it gets no answer.
async fn unanswering_tcp_listener() -> (TcpListener, Vec<TcpStream>, SocketAddr) {
    let socket = TcpSocket::new_v4().expect("socket");
    socket.bind((LOOPBACK, 0).into()).expect("bind");
    let listener = socket.listen(0).expect("listen");
    let address = listener.local_addr().expect("address");
    let mut queued = Vec::new();
    // The accept queue of a backlog-0 listener holds one connection; a few more make sure.
    for _ in 0..4 {
        if let Ok(Ok(stream)) =
            tokio::time::timeout(Duration::from_millis(200), TcpStream::connect(address)).await
        {
            queued.push(stream);
        }
    }
    (listener, queued, address)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_probes_without_answer_time_out_together() {
    let silent_udp = UdpSocket::bind((LOOPBACK, 0)).await.expect("bind");
    let silent = silent_udp.local_addr().expect("address");
    let (_listener, _queued, unanswering_tcp) = unanswering_tcp_listener().await;
    let mut requests: Vec<ProbeRequest> = (1..=18)
        .map(|id| udp(id, silent, &format!("marker-{id}")))
        .collect();
    requests.push(tcp(19, unanswering_tcp));
    requests.push(dns(20, KNOWN_NAME, silent));
    let started = Instant::now();
    let outcomes = run_batch(&requests).await;
    let elapsed = started.elapsed();
    for (id, outcome) in &outcomes {
        assert_eq!(outcome, &Outcome::Timeout, "probe {id}");
    }
    assert!(
        elapsed < Duration::from_secs(5),
        "20 probes with 1 s timeouts took {elapsed:?}: they did not run concurrently"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_answers_unreadable_requests_that_have_an_id() {
    let agent = start_agent();
    let input = format!(
        "{}\n{}\n\n{}",
        r#"{"id": 7, "action": {"kind": "teleport"}, "timeout_ms": 1000}"#,
        r#"{"id": 8, "action": {"kind": "tcp", "host": "127.0.0.1", "port": 1}, "timeout_ms": 0}"#,
        input_of(&[tcp(9, agent.tcp_echo)]),
    );
    let mut output = Vec::new();
    run_probe(input.as_bytes(), &mut output)
        .await
        .expect("batch runs");
    let output = String::from_utf8(output).expect("UTF-8");
    let mut lines: Vec<&str> = output.lines().collect();
    assert_eq!(lines.pop(), Some(END_OF_RESULTS));
    let results: HashMap<u32, Outcome> = lines
        .iter()
        .map(|line| {
            let result: ProbeResult = serde_json::from_str(line).expect("result parses");
            (result.id, result.outcome)
        })
        .collect();
    assert!(
        matches!(results[&7], Outcome::CouldNotRun { .. }),
        "{output}"
    );
    assert!(
        matches!(results[&8], Outcome::CouldNotRun { .. }),
        "{output}"
    );
    assert!(matches!(results[&9], Outcome::Connected { .. }), "{output}");
}

/// Without an id there is nothing to answer: the batch fails without the sentinel, but the
/// probes already started still report.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_fails_the_batch_on_a_request_without_id() {
    let agent = start_agent();
    let input = input_of(&[tcp(1, agent.tcp_echo)]) + "not json at all\n";
    let mut output = Vec::new();
    let error = run_probe(input.as_bytes(), &mut output)
        .await
        .expect_err("an unanswerable line fails the batch");
    assert!(
        matches!(error, AgentError::MalformedRequest { line: 2, .. }),
        "{error}"
    );
    let output = String::from_utf8(output).expect("UTF-8");
    assert!(!output.contains(END_OF_RESULTS), "{output}");
    assert_eq!(output.lines().count(), 1, "{output}");
}

fn udp_send(id: u32, address: SocketAddr, marker: &str) -> ProbeRequest {
    request(
        id,
        ProbeAction::UdpSend {
            host: address.ip().to_string(),
            port: address.port(),
            marker: marker.to_owned(),
        },
    )
}

fn udp_receive(id: u32, port: u16, marker: &str) -> ProbeRequest {
    request(
        id,
        ProbeAction::UdpReceive {
            port,
            marker: marker.to_owned(),
        },
    )
}

/// The node-port check of UDP 6081 in one batch, as a sender and its receiver run it: the
/// receiver's raw socket confirms delivery where nothing listens and where a socket holds the
/// port and swallows every datagram, as Cilium's kernel GENEVE device does. Needs CAP_NET_RAW
/// (the tests run as root, as CI does).
#[tokio::test]
async fn agent_udp_receiver_confirms_delivery_whether_or_not_a_socket_holds_the_port() {
    let free = closed_udp_port().await;
    let holder = UdpSocket::bind((LOOPBACK, 0)).await.expect("bind");
    let held = holder.local_addr().expect("address");
    let watched = closed_udp_port().await;
    let outcomes = run_batch(&[
        udp_receive(1, free.port(), "cnicheck-to-a-free-port"),
        udp_send(2, free, "cnicheck-to-a-free-port"),
        udp_receive(3, held.port(), "cnicheck-to-a-held-port"),
        udp_send(4, held, "cnicheck-to-a-held-port"),
        // Someone else's datagrams to the watched port are no delivery of ours.
        udp_receive(5, watched.port(), "cnicheck-expected-marker"),
        udp_send(6, watched, "cnicheck-another-marker"),
    ])
    .await;
    let received = Outcome::UdpReceived {
        source: "127.0.0.1".into(),
    };
    assert_eq!(outcomes[&1], received, "nothing listens");
    assert_eq!(outcomes[&3], received, "a socket holds the port");
    assert_eq!(outcomes[&5], Outcome::Timeout, "another marker");
    for sender in [2, 4, 6] {
        assert!(
            matches!(outcomes[&sender], Outcome::UdpSent { datagrams } if datagrams > 0),
            "{:?}",
            outcomes[&sender]
        );
    }
    drop(holder);
}

fn udp_watch(id: u32, port: u16, marker: &str) -> ProbeRequest {
    request(
        id,
        ProbeAction::UdpWatch {
            port,
            marker: marker.to_owned(),
        },
    )
}

/// The receiving half of a UDP probe to an agent pod: the pod's own echo, asked over loopback,
/// says whether the marker arrived and, when not, which listener did not get it, the same one
/// for as long as the echo runs; nothing listening is no answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_udp_watch_confirms_arrival_absence_or_that_nobody_listens() {
    let agent = start_agent();
    let echo = agent.udp_echo[0];
    let closed = closed_udp_port().await;
    let sent = run_batch(&[udp(1, echo, "cnicheck-sent")]).await;
    assert!(
        matches!(sent[&1], Outcome::UdpEcho { .. }),
        "{:?}",
        sent[&1]
    );
    let outcomes = run_batch(&[
        udp_watch(1, echo.port(), "cnicheck-sent"),
        udp_watch(2, echo.port(), "cnicheck-never-sent"),
        udp_watch(3, echo.port(), "cnicheck-never-sent-either"),
        udp_watch(4, closed.port(), "cnicheck-sent"),
    ])
    .await;
    assert_eq!(
        outcomes[&1],
        Outcome::UdpReceived {
            source: "127.0.0.1".into()
        }
    );
    let (Outcome::UdpNotReceived { listener }, Outcome::UdpNotReceived { listener: same }) =
        (&outcomes[&2], &outcomes[&3])
    else {
        panic!("{outcomes:?}");
    };
    assert_eq!(listener, same, "one echo, one listener");
    assert!(
        matches!(&outcomes[&4], Outcome::CouldNotRun { reason } if reason.contains("nothing listens")),
        "{:?}",
        outcomes[&4]
    );
}

/// Answers are timed in the agent, from the exchange's start to the answer, and only answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_times_answers_and_only_answers() {
    let agent = start_agent();
    let closed = closed_tcp_port().await;
    let results = run_batch_results(&[
        tcp(1, agent.tcp_echo),
        udp(2, agent.udp_echo[0], "cnicheck-timed"),
        http(3, agent.http[0], "/"),
        tcp(4, closed),
    ])
    .await;
    for id in [1, 2, 3] {
        let result = &results[&id];
        let latency = result
            .latency_us
            .unwrap_or_else(|| panic!("answer {id} is timed: {result:?}"));
        assert!(
            latency > 0 && latency <= (result.elapsed_ms + 1) * 1000,
            "{result:?}"
        );
    }
    assert_eq!(results[&4].outcome, Outcome::Refused);
    assert_eq!(results[&4].latency_us, None, "a refusal is no answer");
}

/// A sampled request counts every answer by the pod that gave it, and stops at the first sample
/// no server answered, saying what it observed instead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_samples_count_answers_by_pod_and_stop_at_the_first_without_one() {
    let agent = start_agent();
    let sampled = |request: ProbeRequest, samples| ProbeRequest {
        samples: Some(samples),
        ..request
    };
    let outcomes = run_batch(&[
        sampled(http(1, agent.http[0], "/"), 12),
        sampled(udp(2, agent.udp_echo[0], "marker-2"), 9),
        sampled(http(3, closed_tcp_port().await, "/"), 5),
    ])
    .await;
    let answered = |count| Outcome::Sampled {
        answers: [(POD_NAME.to_owned(), count)].into(),
        unnamed: 0,
        stopped: None,
    };
    assert_eq!(outcomes[&1], answered(12));
    assert_eq!(outcomes[&2], answered(9));
    assert_eq!(
        outcomes[&3],
        Outcome::Sampled {
            answers: Default::default(),
            unnamed: 0,
            stopped: Some(Box::new(Outcome::Refused)),
        }
    );
}

fn capture(id: u32, address: &str, marker: &str) -> ProbeRequest {
    request(
        id,
        ProbeAction::Capture {
            address: address.to_owned(),
            marker: marker.to_owned(),
        },
    )
}

/// A capture on the interface holding an address sees a marker that crosses it readable, and
/// counts the frames it saw without one; an address no interface holds cannot be captured at.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_capture_finds_a_readable_marker_on_the_interface_holding_the_address() {
    let target = closed_udp_port().await;
    let outcomes = run_batch(&[
        capture(1, "127.0.0.1", "cnicheck-readable"),
        udp_send(2, target, "cnicheck-readable"),
        capture(3, "127.0.0.1", "cnicheck-never-sent"),
        capture(4, "192.0.2.1", "cnicheck-readable"),
    ])
    .await;
    assert_eq!(
        outcomes[&1],
        Outcome::MarkerCaptured {
            interface: "lo".into()
        }
    );
    assert!(
        matches!(
            &outcomes[&3],
            Outcome::MarkerNotCaptured { interface, frames, from_unix_ms, until_unix_ms }
                if interface == "lo" && *frames > 0 && from_unix_ms < until_unix_ms
        ),
        "{:?}",
        outcomes[&3]
    );
    assert!(
        matches!(&outcomes[&4], Outcome::CouldNotRun { reason } if reason.contains("no interface here holds 192.0.2.1")),
        "{:?}",
        outcomes[&4]
    );
}

/// A session answers batch after batch on one stream, each batch complete with its sentinel,
/// and a batch cut short by the end of stdin is not run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_sessions_answer_each_batch_in_turn() {
    let agent = start_agent();
    let closed = closed_tcp_port().await;
    let input = format!(
        "{}{END_OF_BATCH}\n{}{END_OF_BATCH}\n{}",
        input_of(&[tcp(1, agent.tcp_echo)]),
        input_of(&[tcp(2, closed), tcp(3, agent.tcp_echo)]),
        input_of(&[tcp(4, agent.tcp_echo)]),
    );
    let mut output = Vec::new();
    run_session(input.as_bytes(), &mut output)
        .await
        .expect("session runs");
    let output = String::from_utf8(output).expect("output is UTF-8");
    let batches: Vec<Vec<&str>> = output
        .split_terminator(&format!("{END_OF_RESULTS}\n"))
        .map(|batch| batch.lines().collect())
        .collect();
    assert_eq!(batches.len(), 2, "output:\n{output}");
    let ids = |batch: &[&str]| {
        let mut ids: Vec<u32> = batch
            .iter()
            .map(|line| serde_json::from_str::<ProbeResult>(line).unwrap().id)
            .collect();
        ids.sort_unstable();
        ids
    };
    assert_eq!(ids(&batches[0]), vec![1]);
    assert_eq!(ids(&batches[1]), vec![2, 3]);
}
