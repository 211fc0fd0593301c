//! The probe wire protocol between the runner and `cnicheck agent probe`.
//!
//! The runner opens one exec per agent pod (`cnicheck agent session`) and keeps it for a
//! scenario's phases. For each round it writes every [`ProbeRequest`] for that pod as one JSON
//! line each on stdin, then [`END_OF_BATCH`]. The agent runs them concurrently and answers with
//! one [`ProbeResult`] JSON line per request, in completion order, followed by
//! [`END_OF_RESULTS`], and waits for the next batch until stdin closes. (`cnicheck agent probe`
//! runs one batch that ends with stdin instead.) Exec output can be truncated without an error (kubernetes#124571), so a
//! batch without the sentinel is incomplete and the missing probes are errors, never passes.
//!
//! A request line that cannot be parsed but carries an `id` is answered with
//! [`Outcome::CouldNotRun`]; one without an `id` makes the agent stop reading, finish the probes
//! already started, and exit non-zero without the sentinel.
//!
//! Hosts given by name are resolved by the agent (hickory, the pod's `/etc/resolv.conf`) before
//! the probe starts, with its own `timeout_ms` budget: a probe by name can take up to twice
//! `timeout_ms`, and a name that cannot be resolved is never reported as a timeout of the probe
//! (NXDOMAIN → [`Outcome::CouldNotRun`], other resolver failures → [`Outcome::NetworkError`]).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::IpAddr;

/// Last line of every agent batch; its absence means the output was cut short.
pub const END_OF_RESULTS: &str = "#cnicheck-end-of-results";
/// Last line of a batch of requests in an agent session.
pub const END_OF_BATCH: &str = "#cnicheck-end-of-batch";

/// Ports every agent pod serves (see `agent::serve`), so scenarios and templates agree.
pub mod ports {
    pub const HTTP: u16 = 8080;
    pub const HTTP_ALT: u16 = 8081;
    pub const TCP_ECHO: u16 = 9000;
    pub const UDP_ECHO: u16 = 9001;
}

/// Response header carrying the answering agent's pod name.
pub const POD_NAME_HEADER: &str = "x-cnicheck-pod";

/// Path on [`ports::HTTP`] that answers 200 once every listener of the agent is bound: the agent
/// pod's readiness probe.
pub const HEALTHZ_PATH: &str = "/healthz";

/// The UDP echo answers a datagram with the datagram itself, this tag, then the agent's pod name.
pub const UDP_ECHO_POD_TAG: &[u8] = b"\n#cnicheck-pod=";

/// A datagram from the pod itself (loopback) that starts with this and goes on with a marker
/// asks the UDP echo whether a datagram carrying that marker arrived; it answers
/// [`UDP_RECEIVED_FROM`] and the sender's address, or [`UDP_NOT_RECEIVED`] and its listener's
/// number in decimal.
pub const UDP_QUERY_PREFIX: &[u8] = b"#cnicheck-received?";
pub const UDP_RECEIVED_FROM: &[u8] = b"#cnicheck-received-from=";
pub const UDP_NOT_RECEIVED: &[u8] = b"#cnicheck-not-received-by=";
/// The longest datagram the UDP echo remembers, and so the longest marker
/// [`ProbeAction::UdpWatch`] can ask for.
pub const UDP_RECORDED_MARKER: usize = 128;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeRequest {
    /// Chosen by the runner, echoed back in the result.
    pub id: u32,
    pub action: ProbeAction,
    pub timeout_ms: u64,
    /// Bind the probe's socket to this interface (e.g. Multus `net1`); the pod's default route otherwise.
    /// A missing interface makes the probe [`Outcome::CouldNotRun`]. Resolving a target name
    /// still goes through the pod's resolver on the default route.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface: Option<String>,
    /// Run the action this many times, one after the other, each with `timeout_ms`, and answer
    /// [`Outcome::Sampled`]: which server answered each time (load-balancing checks). Sampling
    /// stops at the first time no server answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub samples: Option<u32>,
}

impl ProbeRequest {
    /// This request as attempt `attempt` of its probe, numbered `id` in its batch: a marker
    /// becomes unique to the attempt (the same in both halves of a probe), so that nothing
    /// seen in one attempt answers for another.
    pub fn for_attempt(&self, id: u32, attempt: u32) -> ProbeRequest {
        let mut request = ProbeRequest { id, ..self.clone() };
        match &mut request.action {
            ProbeAction::Udp { marker, .. }
            | ProbeAction::UdpSend { marker, .. }
            | ProbeAction::UdpReceive { marker, .. }
            | ProbeAction::UdpWatch { marker, .. }
            | ProbeAction::Capture { marker, .. } => marker.push_str(&format!("-{attempt}")),
            ProbeAction::Tcp { .. }
            | ProbeAction::Http { .. }
            | ProbeAction::Icmp { .. }
            | ProbeAction::Dns { .. }
            | ProbeAction::Interface { .. } => {}
        }
        request
    }
}

/// What to do. Hosts are literal addresses or names the agent resolves itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum ProbeAction {
    /// A TCP handshake. A `host` name means its first address, IPv4 preferred (AAAA only when
    /// there is no A record); the same holds for every probe below that takes a host.
    Tcp { host: String, port: u16 },
    /// An HTTP(S) GET; certificates are not verified (test servers are self-signed) and
    /// redirects are not followed (a 3xx is the observation).
    Http { url: String },
    /// Sends a datagram carrying `marker` (1 to 1024 bytes, resent a few times within the
    /// timeout) and waits for an echo that contains it.
    Udp {
        host: String,
        port: u16,
        marker: String,
    },
    /// Sends datagrams carrying `marker` (like [`ProbeAction::Udp`]) and waits for nothing:
    /// ports like GENEVE's 6081 answer nobody, so delivery is confirmed by the receiver running
    /// [`ProbeAction::UdpReceive`] at the same time. Alone, it proves nothing.
    UdpSend {
        host: String,
        port: u16,
        marker: String,
    },
    /// Watches the pod's network namespace until a UDP datagram to `port` carrying `marker`
    /// arrives. It watches through a raw socket, which sees datagrams after the host firewall's
    /// INPUT chain and whether or not a socket (even a kernel GENEVE device) holds the port, so
    /// it confirms delivery to the node, not merely to its network interface. Needs CAP_NET_RAW.
    UdpReceive { port: u16, marker: String },
    /// Asks the pod's own UDP echo on `port`, over loopback (which no policy filters), whether
    /// a datagram carrying `marker` arrived, until the echo answers or the timeout:
    /// [`Outcome::UdpReceived`], or [`Outcome::UdpNotReceived`] naming the echo's listener;
    /// [`Outcome::CouldNotRun`] when nothing answers there. The runner asks before and after the
    /// source sends: the same listener both times proves the echo listened, remembering, all
    /// along, so "not received" means the network dropped the datagram, not that the server
    /// was dead.
    UdpWatch { port: u16, marker: String },
    /// One ICMP echo request.
    Icmp { host: String },
    /// An A and AAAA lookup (every address, IPv4 first) with the pod's search domains and ndots,
    /// through the pod's nameservers or `server` (`IP` or `IP:port`, port 53 by default) if
    /// given. Cannot be bound to an `interface`: such a request is [`Outcome::CouldNotRun`].
    Dns {
        name: String,
        server: Option<String>,
    },
    /// The addresses of the pod's own interface `name` (a Multus `net1`), as the kernel has
    /// them: [`Outcome::InterfaceAddresses`], or [`Outcome::NoSuchInterface`]. Sends nothing,
    /// so it cannot be bound to an `interface`: such a request is [`Outcome::CouldNotRun`].
    Interface { name: String },
    /// Captures every frame on the interface holding `address` (the node's own, so a
    /// host-network pod's) until one carries `marker`, in plaintext, anywhere in its bytes:
    /// [`Outcome::MarkerCaptured`], or at the timeout [`Outcome::MarkerNotCaptured`]. Needs
    /// CAP_NET_RAW.
    Capture { address: String, marker: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeResult {
    pub id: u32,
    pub outcome: Outcome,
    pub elapsed_ms: u64,
    /// For an answer (a handshake, an HTTP response, an echo, a DNS answer): how long it took
    /// from the moment the probe began its exchange with the target, in microseconds (see
    /// [`crate::agent`] for what each protocol times). Absent for everything else.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_us: Option<u64>,
    /// When the probe began, in milliseconds since the epoch on its pod's node, to line it up
    /// with a capture on another node ([`ProbeAction::Capture`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_unix_ms: Option<u64>,
}

/// What the agent observed. Judging (allowed/denied/...) happens in the runner, not here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum Outcome {
    /// TCP handshake completed.
    Connected { peer: String },
    /// HTTP response received. `server` is the answering agent's pod name, when it said.
    HttpStatus { status: u16, server: Option<String> },
    /// UDP echo containing our marker came back. `server` is the echoing pod, when it said.
    UdpEcho { server: Option<String> },
    /// [`ProbeAction::UdpSend`] sent this many datagrams; whether they arrived is the
    /// receiver's to say.
    UdpSent { datagrams: u32 },
    /// [`ProbeAction::UdpReceive`] or [`ProbeAction::UdpWatch`] saw a datagram carrying the
    /// marker, sent from `source`.
    UdpReceived { source: String },
    /// [`ProbeAction::UdpWatch`]: no datagram carrying the marker reached the echo's listener
    /// `listener` (a number the echo draws when it starts, so that a restart shows).
    UdpNotReceived { listener: u64 },
    /// The runner's reading of a UDP probe whose echo never came back while its receiver saw the
    /// datagram arrive from `source`: delivered, and the reply lost (an asymmetric policy).
    UdpReplyLost { source: String },
    /// ICMP echo reply received.
    IcmpReply,
    /// DNS answered with addresses.
    Resolved { addresses: Vec<IpAddr> },
    /// DNS said the name does not exist.
    NxDomain,
    /// The pod has interface `name`, with these addresses as `ADDRESS/PREFIX` (none is possible).
    InterfaceAddresses {
        name: String,
        addresses: Vec<String>,
    },
    /// The pod has no interface `name`.
    NoSuchInterface { name: String },
    /// No answer before the deadline (what a dropping policy or firewall looks like).
    Timeout,
    /// Actively refused: TCP RST or ICMP port unreachable.
    Refused,
    /// ICMP host/net unreachable or no route.
    Unreachable { detail: String },
    /// Any other network error (DNS SERVFAIL, TLS failure, ...): observed, but neither success nor denial.
    NetworkError { detail: String },
    /// The probe could not be carried out at all (bad address, no such interface, no
    /// permission). Always judged an error: it says nothing about the network.
    CouldNotRun { reason: String },
    /// [`ProbeAction::Capture`]: a frame carrying the marker crossed `interface`, readable.
    MarkerCaptured { interface: String },
    /// [`ProbeAction::Capture`] watched `interface` from `from_unix_ms` to `until_unix_ms`
    /// (milliseconds since the epoch, the node's clock) and saw `frames` frames, none carrying
    /// the marker.
    MarkerNotCaptured {
        interface: String,
        frames: u64,
        from_unix_ms: u64,
        until_unix_ms: u64,
    },
    /// A request with [`ProbeRequest::samples`]: how many answers each server gave, by pod name;
    /// answers that named no server; and what the first sample without an answer from a server
    /// observed instead, where sampling stopped.
    Sampled {
        answers: BTreeMap<String, u32>,
        #[serde(default, skip_serializing_if = "is_zero")]
        unnamed: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        stopped: Option<Box<Outcome>>,
    },
}

fn is_zero(count: &u32) -> bool {
    *count == 0
}

impl Outcome {
    /// Short human form for tables and messages.
    pub fn summary(&self) -> String {
        match self {
            Outcome::Connected { .. } => "connected".into(),
            Outcome::HttpStatus { status, .. } => format!("http {status}"),
            Outcome::UdpEcho { .. } => "udp echo".into(),
            Outcome::UdpSent { datagrams } => format!("udp sent x{datagrams}, unconfirmed"),
            Outcome::UdpReceived { .. } => "udp received".into(),
            Outcome::UdpNotReceived { .. } => "udp not received".into(),
            Outcome::UdpReplyLost { .. } => "udp delivered, reply lost".into(),
            Outcome::IcmpReply => "icmp reply".into(),
            Outcome::Resolved { addresses } => {
                let list: Vec<String> = addresses.iter().map(ToString::to_string).collect();
                format!("resolved {}", list.join(","))
            }
            Outcome::NxDomain => "nxdomain".into(),
            Outcome::InterfaceAddresses { name, addresses } if addresses.is_empty() => {
                format!("{name} without addresses")
            }
            Outcome::InterfaceAddresses { name, addresses } => {
                format!("{name} {}", addresses.join(","))
            }
            Outcome::NoSuchInterface { name } => format!("{name} missing"),
            Outcome::Timeout => "timeout".into(),
            Outcome::Refused => "refused".into(),
            Outcome::Unreachable { .. } => "unreachable".into(),
            Outcome::NetworkError { detail } => format!("error: {detail}"),
            Outcome::CouldNotRun { reason } => format!("could not run: {reason}"),
            Outcome::MarkerCaptured { interface } => format!("plaintext on {interface}"),
            Outcome::MarkerNotCaptured {
                interface, frames, ..
            } => format!("not in plaintext on {interface} ({frames} frames)"),
            Outcome::Sampled {
                answers,
                unnamed,
                stopped,
            } => {
                let mut parts: Vec<String> = answers
                    .iter()
                    .map(|(server, count)| format!("{server} {count}"))
                    .collect();
                if *unnamed > 0 {
                    parts.push(format!("unnamed {unnamed}"));
                }
                if let Some(stopped) = stopped {
                    parts.push(format!("then {}", stopped.summary()));
                }
                if parts.is_empty() {
                    "no samples".into()
                } else {
                    parts.join(", ")
                }
            }
        }
    }
}
