//! Running one probe request. Every path ends in an [`Outcome`]: a probe that could not be
//! carried out says so ([`Outcome::CouldNotRun`]) instead of looking like a network observation.

mod capture;
mod dns;
mod http;
mod icmp;
mod interface;
mod receive;
mod resolve;
mod sample;
mod socket;
mod tcp;
mod udp;
mod watch;

use std::error::Error;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::probe::{Outcome, ProbeAction, ProbeRequest, ProbeResult};

use resolve::NameResolution;

/// `Ok`: what the probe observed. `Err`: why it stopped before observing (resolution failed, no
/// such interface, ...), which is reported as the outcome all the same; `Err` lets `?` end a
/// probe early.
type ProbeOutcome = Result<Outcome, Outcome>;

/// What the probes of one batch share.
#[derive(Default)]
pub(super) struct ProbeContext {
    names: NameResolution,
}

/// Settings every kind of probe obeys, and its stopwatch.
struct ProbeSettings<'a> {
    timeout: Duration,
    interface: Option<&'a str>,
    names: &'a NameResolution,
    stopwatch: &'a Stopwatch,
}

/// Times a probe's exchange with its target, without what comes before it (resolving a name,
/// opening a socket): started just before the first packet leaves, set outright where a
/// library measures the round trip itself (ICMP), or discarded where the answer cannot be
/// matched to its question (a UDP echo after a resend).
#[derive(Default)]
struct Stopwatch(Mutex<Timed>);

#[derive(Debug, Clone, Copy, Default)]
struct Timed {
    started: Option<Instant>,
    measured: Option<Duration>,
}

impl Stopwatch {
    /// The probes' tasks are spawned, so the state is behind a lock; nobody else holds it.
    fn timed(&self) -> std::sync::MutexGuard<'_, Timed> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn start(&self) {
        self.timed().started = Some(Instant::now());
    }

    fn discard(&self) {
        self.timed().started = None;
    }

    fn measured(&self, round_trip: Duration) {
        self.timed().measured = Some(round_trip);
    }

    fn latency(&self, ended: Instant) -> Option<Duration> {
        let timed = *self.timed();
        timed.measured.or_else(|| {
            timed
                .started
                .map(|started| ended.saturating_duration_since(started))
        })
    }
}

/// Outcomes that are an answer from the target, and so have a latency.
fn is_timed_answer(outcome: &Outcome) -> bool {
    matches!(
        outcome,
        Outcome::Connected { .. }
            | Outcome::HttpStatus { .. }
            | Outcome::UdpEcho { .. }
            | Outcome::IcmpReply
            | Outcome::Resolved { .. }
            | Outcome::NxDomain
    )
}

pub(super) async fn execute(request: &ProbeRequest, context: &ProbeContext) -> ProbeResult {
    let started = Instant::now();
    let started_unix_ms = capture::unix_ms();
    let stopwatch = Stopwatch::default();
    let outcome = match request.samples {
        Some(count) => sample::sample(request, count, context).await,
        None => observe(request, context, &stopwatch)
            .await
            .unwrap_or_else(|early| early),
    };
    let ended = Instant::now();
    let latency = is_timed_answer(&outcome)
        .then(|| stopwatch.latency(ended))
        .flatten();
    ProbeResult {
        id: request.id,
        outcome,
        elapsed_ms: u64::try_from(ended.duration_since(started).as_millis()).unwrap_or(u64::MAX),
        latency_us: latency.map(|latency| u64::try_from(latency.as_micros()).unwrap_or(u64::MAX)),
        started_unix_ms: Some(started_unix_ms),
    }
}

async fn observe(
    request: &ProbeRequest,
    context: &ProbeContext,
    stopwatch: &Stopwatch,
) -> ProbeOutcome {
    if request.timeout_ms == 0 {
        // A zero deadline would report Timeout without sending anything.
        return Err(could_not_run("timeout_ms must be positive"));
    }
    let interface = request.interface.as_deref();
    // An interface probe sends nothing; it answers for a missing interface itself.
    if let Some(interface) = interface
        && !matches!(request.action, ProbeAction::Interface { .. })
    {
        socket::check_interface(interface)?;
    }
    let settings = ProbeSettings {
        timeout: Duration::from_millis(request.timeout_ms),
        interface,
        names: &context.names,
        stopwatch,
    };
    match &request.action {
        ProbeAction::Tcp { host, port } => tcp::probe(host, *port, &settings).await,
        ProbeAction::Http { url } => http::probe(url, &settings).await,
        ProbeAction::Udp { host, port, marker } => udp::probe(host, *port, marker, &settings).await,
        ProbeAction::UdpSend { host, port, marker } => {
            udp::send(host, *port, marker, &settings).await
        }
        ProbeAction::UdpReceive { port, marker } => receive::probe(*port, marker, &settings).await,
        ProbeAction::UdpWatch { port, marker } => watch::probe(*port, marker, &settings).await,
        ProbeAction::Icmp { host } => icmp::probe(host, &settings).await,
        ProbeAction::Dns { name, server } => dns::probe(name, server.as_deref(), &settings).await,
        ProbeAction::Interface { name } => interface::probe(name, interface),
        ProbeAction::Capture { address, marker } => {
            capture::probe(address, marker, &settings).await
        }
    }
}

fn could_not_run(reason: impl Into<String>) -> Outcome {
    Outcome::CouldNotRun {
        reason: reason.into(),
    }
}

fn network_error(detail: impl Into<String>) -> Outcome {
    Outcome::NetworkError {
        detail: detail.into(),
    }
}

/// An error and its causes on one line: libraries wrap the interesting part (an io error, a
/// TLS alert) several levels deep.
fn describe(error: &(dyn Error + 'static)) -> String {
    let mut description = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !description.contains(&cause_text) {
            description.push_str(": ");
            description.push_str(&cause_text);
        }
        source = cause.source();
    }
    description
}
