//! Judging: does what a probe observed match what its scenario expected?
//!
//! The agent only reports observations ([`Outcome`]); every rule about what counts as allowed,
//! denied or dropped lives here, so the rules are in one place and tested as a table. The
//! explanation of every judgement says, in words, what was expected, what was observed and what
//! that usually means, because a failure message is only useful if it can be acted on without
//! reading cnicheck's source.

use crate::multus::IpRange;
use crate::probe::Outcome;
use crate::report::model::{AttemptReport, Reach, Verdict};
use crate::report::text::single_line;
use crate::scenario::model::{Expectation, Protocol};
use std::net::IpAddr;

/// The verdict on one attempt of a probe. Flaky and skipped only exist across attempts or
/// before any attempt, so they are not representable here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptVerdict {
    Pass,
    Fail,
    Error,
}

impl From<AttemptVerdict> for Verdict {
    fn from(verdict: AttemptVerdict) -> Self {
        match verdict {
            AttemptVerdict::Pass => Verdict::Pass,
            AttemptVerdict::Fail => Verdict::Fail,
            AttemptVerdict::Error => Verdict::Error,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Judgement {
    pub verdict: AttemptVerdict,
    /// One line: what was expected, what was observed and, for a failure, what it suggests.
    pub explanation: String,
    /// Short form of the observation, for tables ([`Outcome::summary`]).
    pub observed: String,
    pub observed_reach: Reach,
}

impl Judgement {
    pub fn to_attempt_report(&self) -> AttemptReport {
        AttemptReport {
            observed: self.observed.clone(),
            verdict: self.verdict.into(),
            explanation: self.explanation.clone(),
        }
    }
}

/// Judges one attempt of a probe.
pub fn judge(expected: &Expectation, protocol: Protocol, observed: &Outcome) -> Judgement {
    // Agent details end up in one-line progress output, terminals and XML attributes.
    let (verdict, explanation) = verdict_and_explanation(expected, protocol, observed);
    Judgement {
        verdict,
        explanation: single_line(&explanation),
        observed: single_line(&observed.summary()),
        observed_reach: observed_reach(observed),
    }
}

/// What an address check (`expect: in-nad-range`) holds a pod's interface to: the runner
/// resolves it per pod from Multus' network-status annotation and the NAD it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressExpectation {
    pub interface: String,
    /// Multus' record of the interface; `None` when the annotation does not list it.
    pub recorded: Option<RecordedAttachment>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedAttachment {
    /// The NAD, `namespace/name`.
    pub network: String,
    /// The NAD's IPAM range.
    pub range: IpRange,
    /// The addresses the annotation lists.
    pub ips: Vec<String>,
}

impl AddressExpectation {
    /// `net1 in 10.202.0.100-10.202.0.199`, for tables and the `expected` field of reports.
    pub fn summary(&self) -> String {
        match &self.recorded {
            Some(recorded) => format!("{} in {}", self.interface, recorded.range),
            None => format!("{} in its NAD's range", self.interface),
        }
    }
}

/// Judges one attempt of an address check: the interface must exist in the pod with an address
/// in the NAD's range, and Multus' annotation must record that same address.
pub fn judge_address(expected: &AddressExpectation, observed: &Outcome) -> Judgement {
    let (verdict, explanation) = address_verdict(expected, observed);
    Judgement {
        verdict,
        explanation: single_line(&explanation),
        observed: single_line(&observed.summary()),
        observed_reach: Reach::Unknown,
    }
}

fn address_verdict(expected: &AddressExpectation, observed: &Outcome) -> (AttemptVerdict, String) {
    let interface = &expected.interface;
    let wanted = match &expected.recorded {
        Some(recorded) => format!(
            "{interface} with an address in {} (NAD {})",
            recorded.range, recorded.network
        ),
        None => format!("{interface} with an address in its NAD's range"),
    };
    let fail = |saw: String| {
        (
            AttemptVerdict::Fail,
            format!("expected {wanted}, but {saw}"),
        )
    };
    let addresses = match observed {
        Outcome::InterfaceAddresses { addresses, .. } => addresses,
        Outcome::NoSuchInterface { .. } => {
            return fail(format!(
                "the pod has no interface {interface}: Multus did not attach the network (see \
                 the pod's k8s.v1.cni.cncf.io/networks annotation, its events and Multus' logs)"
            ));
        }
        Outcome::CouldNotRun { .. } => {
            return (
                AttemptVerdict::Error,
                format!(
                    "expected {wanted}, but {}: this says nothing about the network",
                    outcome_words(observed)
                ),
            );
        }
        other => {
            return (
                AttemptVerdict::Error,
                format!(
                    "cannot judge: an address check cannot observe '{}' (an agent bug, not a \
                     network result)",
                    other.summary()
                ),
            );
        }
    };
    let has = if addresses.is_empty() {
        format!("{interface} has no address")
    } else {
        format!("{interface} has {}", addresses.join(", "))
    };
    let Some(recorded) = &expected.recorded else {
        return fail(format!(
            "Multus' network-status annotation does not list {interface} ({has} in the pod)"
        ));
    };
    let in_range = |address: &str| {
        let ip = address.split('/').next().unwrap_or_default();
        ip.parse::<IpAddr>()
            .is_ok_and(|ip| recorded.range.contains(ip))
    };
    let ours: Vec<&String> = addresses.iter().filter(|a| in_range(a)).collect();
    if ours.is_empty() {
        return fail(format!(
            "{has}, none in the range: the NAD's IPAM did not configure the interface"
        ));
    }
    if recorded.ips.is_empty() {
        return fail(format!(
            "Multus' network-status annotation records no address on {interface} ({has} in the pod)"
        ));
    }
    let in_pod = |ip: &String| {
        ours.iter()
            .any(|a| a.split('/').next() == Some(ip.as_str()))
    };
    if let Some(stray) = recorded.ips.iter().find(|ip| !in_range(ip) || !in_pod(ip)) {
        return fail(format!(
            "Multus' network-status annotation records {stray} while {has} in the pod: the \
             record and the pod disagree"
        ));
    }
    let ours: Vec<&str> = ours.iter().map(|a| a.as_str()).collect();
    (
        AttemptVerdict::Pass,
        format!(
            "expected {wanted}, and {interface} has {} in the pod, as Multus recorded",
            ours.join(", ")
        ),
    )
}

/// The verdict over all attempts of a probe, oldest first, and how many there were.
///
/// Only the last attempt counts, because the runner retries only until the first pass (a policy
/// may take a moment to be enforced); a pass that needed retries is flaky so it stays visible.
pub fn final_verdict(attempts: &[Judgement]) -> (Verdict, u32) {
    let count = u32::try_from(attempts.len()).unwrap_or(u32::MAX);
    let verdict = match attempts.last().map(|last| last.verdict) {
        None => Verdict::Error,
        Some(AttemptVerdict::Pass) if attempts.len() > 1 => Verdict::Flaky,
        Some(last) => last.into(),
    };
    (verdict, count)
}

/// Short form of an expectation, for tables and the `expected` field of reports.
pub fn expected_summary(expected: &Expectation) -> String {
    match expected {
        Expectation::Allowed => "allowed".into(),
        Expectation::Denied => "denied".into(),
        Expectation::Dropped => "dropped".into(),
        Expectation::Refused => "refused".into(),
        Expectation::Status(status) => format!("http {status}"),
        Expectation::ResolvesTo(address) => format!("resolves to {address}"),
        Expectation::Nxdomain => "nxdomain".into(),
        Expectation::InNadRange => "in the NAD's range".into(),
    }
}

/// Whether traffic should get through. Any HTTP status or DNS answer means it did: a 403 from an
/// L7 policy still reached a proxy.
pub fn expected_reach(expected: &Expectation) -> Reach {
    match expected {
        Expectation::Allowed
        | Expectation::Status(_)
        | Expectation::ResolvesTo(_)
        | Expectation::Nxdomain => Reach::Reached,
        Expectation::Denied | Expectation::Dropped | Expectation::Refused => Reach::Blocked,
        Expectation::InNadRange => Reach::Unknown,
    }
}

fn observed_reach(observed: &Outcome) -> Reach {
    match observed {
        Outcome::Connected { .. }
        | Outcome::HttpStatus { .. }
        | Outcome::UdpEcho { .. }
        | Outcome::UdpReceived { .. }
        | Outcome::IcmpReply
        | Outcome::Resolved { .. }
        | Outcome::NxDomain => Reach::Reached,
        Outcome::Timeout | Outcome::Refused | Outcome::Unreachable { .. } => Reach::Blocked,
        Outcome::NetworkError { .. }
        | Outcome::CouldNotRun { .. }
        | Outcome::UdpSent { .. }
        | Outcome::InterfaceAddresses { .. }
        | Outcome::NoSuchInterface { .. } => Reach::Unknown,
    }
}

fn verdict_and_explanation(
    expected: &Expectation,
    protocol: Protocol,
    observed: &Outcome,
) -> (AttemptVerdict, String) {
    let wanted = expectation_words(expected, protocol);
    let saw = outcome_words(observed);
    if let Outcome::CouldNotRun { .. } | Outcome::UdpSent { .. } = observed {
        return (
            AttemptVerdict::Error,
            format!("expected {wanted}, but {saw}: this says nothing about the network"),
        );
    }
    if let Some(problem) = expectation_misfit(expected, protocol) {
        return (
            AttemptVerdict::Error,
            format!("cannot judge: {problem}; {saw}"),
        );
    }
    if !outcome_fits(protocol, observed) {
        return (
            AttemptVerdict::Error,
            format!(
                "cannot judge: a {} probe cannot observe '{}' (an agent bug, not a network result)",
                protocol.name(),
                observed.summary()
            ),
        );
    }
    if matches(expected, observed) {
        (
            AttemptVerdict::Pass,
            format!("expected {wanted}, and {saw}"),
        )
    } else {
        let hint = failure_hint(expected, protocol, observed);
        (
            AttemptVerdict::Fail,
            format!("expected {wanted}, but {saw}: {hint}"),
        )
    }
}

/// The matching rules, for outcomes that fit the protocol.
fn matches(expected: &Expectation, observed: &Outcome) -> bool {
    match expected {
        Expectation::Allowed => match observed {
            Outcome::HttpStatus { status, .. } => (200..300).contains(status),
            _ => observed_reach(observed) == Reach::Reached && !is_nxdomain(observed),
        },
        Expectation::Denied => observed_reach(observed) == Reach::Blocked,
        Expectation::Dropped => matches!(observed, Outcome::Timeout),
        Expectation::Refused => matches!(observed, Outcome::Refused),
        Expectation::Status(wanted) => {
            matches!(observed, Outcome::HttpStatus { status, .. } if status == wanted)
        }
        Expectation::ResolvesTo(wanted) => match observed {
            Outcome::Resolved { addresses } => addresses.iter().any(|a| a.to_string() == *wanted),
            _ => false,
        },
        Expectation::Nxdomain => is_nxdomain(observed),
        // Needs the NAD's range: see `judge_address`.
        Expectation::InNadRange => false,
    }
}

fn is_nxdomain(observed: &Outcome) -> bool {
    matches!(observed, Outcome::NxDomain)
}

/// Expectations that only make sense for some protocols; scenario validation should catch
/// these first, but a wrong expectation must never turn into a pass or a fail.
fn expectation_misfit(expected: &Expectation, protocol: Protocol) -> Option<String> {
    let fits = match expected {
        // Judged by `judge_address`, with the range the runner resolved.
        Expectation::InNadRange => false,
        _ if protocol == Protocol::Address => false,
        Expectation::Status(_) => matches!(protocol, Protocol::Http | Protocol::Https),
        Expectation::ResolvesTo(_) | Expectation::Nxdomain => protocol == Protocol::Dns,
        Expectation::Allowed
        | Expectation::Denied
        | Expectation::Dropped
        | Expectation::Refused => true,
    };
    (!fits).then(|| {
        format!(
            "the expectation '{}' does not apply to {} probes",
            expected_summary(expected),
            protocol.name()
        )
    })
}

/// Whether the agent could have observed this for this protocol at all.
fn outcome_fits(protocol: Protocol, observed: &Outcome) -> bool {
    match observed {
        Outcome::Connected { .. } => protocol == Protocol::Tcp,
        Outcome::HttpStatus { .. } => matches!(protocol, Protocol::Http | Protocol::Https),
        Outcome::UdpEcho { .. } | Outcome::UdpSent { .. } | Outcome::UdpReceived { .. } => {
            protocol == Protocol::Udp
        }
        Outcome::IcmpReply => protocol == Protocol::Icmp,
        Outcome::Resolved { .. } | Outcome::NxDomain => protocol == Protocol::Dns,
        Outcome::InterfaceAddresses { .. } | Outcome::NoSuchInterface { .. } => {
            protocol == Protocol::Address
        }
        Outcome::Timeout
        | Outcome::Refused
        | Outcome::Unreachable { .. }
        | Outcome::NetworkError { .. }
        | Outcome::CouldNotRun { .. } => true,
    }
}

fn expectation_words(expected: &Expectation, protocol: Protocol) -> String {
    match expected {
        Expectation::Allowed => match protocol {
            Protocol::Tcp => "the connection to be allowed".into(),
            Protocol::Http | Protocol::Https => "the request to be allowed (an HTTP 2xx)".into(),
            Protocol::Udp => {
                "the UDP datagram to be allowed (its echo to come back, or its receiver to see it)"
                    .into()
            }
            Protocol::Icmp => "the ping to be allowed (an ICMP echo reply)".into(),
            Protocol::Dns => "the name to resolve".into(),
            Protocol::Address => "the interface to exist".into(),
        },
        Expectation::Denied => "the traffic to be denied (dropped, refused or unreachable)".into(),
        Expectation::Dropped => "the traffic to be dropped silently (no answer at all)".into(),
        Expectation::Refused => {
            "the connection to be refused (a TCP reset or ICMP port unreachable)".into()
        }
        Expectation::Status(status) => format!("an HTTP {status} response"),
        Expectation::ResolvesTo(address) => format!("the name to resolve to {address}"),
        Expectation::Nxdomain => "the name not to exist (NXDOMAIN)".into(),
        Expectation::InNadRange => "an address in the NAD's range".into(),
    }
}

fn outcome_words(observed: &Outcome) -> String {
    match observed {
        Outcome::Connected { peer } => format!("the connection was made (to {peer})"),
        Outcome::HttpStatus { status, server } => {
            format!("the server answered HTTP {status}{}", from_pod(server))
        }
        Outcome::UdpEcho { server } => format!("the UDP echo came back{}", from_pod(server)),
        Outcome::UdpSent { datagrams } => format!(
            "{datagrams} datagram(s) were sent and nobody confirmed their arrival (the receiver \
             was not watching)"
        ),
        Outcome::UdpReceived { source } => {
            format!("the receiver saw our datagram arrive (from {source})")
        }
        Outcome::IcmpReply => "an ICMP echo reply came back".into(),
        Outcome::Resolved { addresses } => {
            let list: Vec<String> = addresses.iter().map(ToString::to_string).collect();
            format!("the name resolved to {}", list.join(", "))
        }
        Outcome::NxDomain => "the name does not exist (NXDOMAIN)".into(),
        Outcome::InterfaceAddresses { name, addresses } if addresses.is_empty() => {
            format!("{name} has no address")
        }
        Outcome::InterfaceAddresses { name, addresses } => {
            format!("{name} has {}", addresses.join(", "))
        }
        Outcome::NoSuchInterface { name } => format!("the pod has no interface {name}"),
        Outcome::Timeout => "it timed out with no answer".into(),
        Outcome::Refused => {
            "it was actively refused (a TCP reset or ICMP port unreachable came back)".into()
        }
        Outcome::Unreachable { detail } => format!("the destination was unreachable ({detail})"),
        Outcome::NetworkError { detail } => format!("it failed with a network error ({detail})"),
        Outcome::CouldNotRun { reason } => format!("the probe could not run ({reason})"),
    }
}

fn from_pod(server: &Option<String>) -> String {
    server
        .as_deref()
        .map(|pod| format!(" from pod {pod}"))
        .unwrap_or_default()
}

/// What a mismatch usually means, so the reader knows where to look first.
fn failure_hint(expected: &Expectation, protocol: Protocol, observed: &Outcome) -> &'static str {
    let wanted_reach = expected_reach(expected);
    match observed {
        Outcome::Timeout if wanted_reach == Reach::Reached && protocol == Protocol::Dns => {
            "no DNS answer: the DNS service is unreachable, or a policy blocks port 53"
        }
        Outcome::Timeout if wanted_reach == Reach::Reached => {
            "something dropped the packets (a NetworkPolicy, a firewall, or a broken route)"
        }
        Outcome::Timeout => {
            "the traffic was dropped instead of rejected (a dropping policy or firewall)"
        }
        Outcome::Refused if wanted_reach == Reach::Reached => {
            "nothing listens on that port, or a policy rejects the traffic"
        }
        Outcome::Refused => "something rejected the traffic instead of silently dropping it",
        Outcome::Unreachable { .. } if wanted_reach == Reach::Reached => {
            "no route to the destination, or a policy or firewall answers with ICMP unreachable"
        }
        Outcome::Unreachable { .. } => {
            "an ICMP unreachable came back instead of the expected kind of denial"
        }
        Outcome::NetworkError { .. } => {
            "neither a success nor a clean denial; the detail says what broke"
        }
        Outcome::HttpStatus { .. } if wanted_reach == Reach::Blocked => {
            "the request got through: the policy that should block it is missing, not yet \
             enforced, or does not select these pods"
        }
        Outcome::HttpStatus { .. } => {
            "the request got through, but the answer is not the expected status (check L7 \
             policies and the path)"
        }
        Outcome::Resolved { .. } if matches!(expected, Expectation::ResolvesTo(_)) => {
            "DNS answered, but not with the expected address"
        }
        Outcome::Resolved { .. } => "the name exists",
        Outcome::NxDomain => "the name does not exist: check the name and the pod's search domains",
        Outcome::Connected { .. }
        | Outcome::UdpEcho { .. }
        | Outcome::UdpReceived { .. }
        | Outcome::IcmpReply => {
            "the traffic got through: the policy that should block it is missing, not yet \
             enforced, or does not select these pods"
        }
        Outcome::CouldNotRun { .. } | Outcome::UdpSent { .. } => "the probe could not run",
        Outcome::InterfaceAddresses { .. } | Outcome::NoSuchInterface { .. } => {
            "an address check is judged against its NAD's range"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::IpAddr;

    const ALL_PROTOCOLS: [Protocol; 6] = [
        Protocol::Tcp,
        Protocol::Http,
        Protocol::Https,
        Protocol::Udp,
        Protocol::Icmp,
        Protocol::Dns,
    ];

    fn all_expectations() -> Vec<Expectation> {
        vec![
            Expectation::Allowed,
            Expectation::Denied,
            Expectation::Dropped,
            Expectation::Refused,
            Expectation::Status(200),
            Expectation::Status(403),
            Expectation::ResolvesTo("10.96.0.10".into()),
            Expectation::Nxdomain,
        ]
    }

    fn resolved(addresses: &[&str]) -> Outcome {
        Outcome::Resolved {
            addresses: addresses
                .iter()
                .map(|a| a.parse::<IpAddr>().unwrap())
                .collect(),
        }
    }

    fn http(status: u16) -> Outcome {
        Outcome::HttpStatus {
            status,
            server: Some("server-0".into()),
        }
    }

    fn all_outcomes() -> Vec<Outcome> {
        vec![
            Outcome::Connected {
                peer: "10.0.0.5:9000".into(),
            },
            http(200),
            http(204),
            http(403),
            http(500),
            Outcome::UdpEcho { server: None },
            Outcome::IcmpReply,
            resolved(&["10.96.0.10"]),
            resolved(&["10.96.0.11"]),
            Outcome::NxDomain,
            Outcome::Timeout,
            Outcome::Refused,
            Outcome::Unreachable {
                detail: "no route to host".into(),
            },
            Outcome::NetworkError {
                detail: "SERVFAIL".into(),
            },
            Outcome::CouldNotRun {
                reason: "no such interface net1".into(),
            },
        ]
    }

    use AttemptVerdict::{Error as E, Fail as F, Pass as P};

    #[test]
    fn rule_table() {
        use Expectation as X;
        use Protocol::*;
        let timeout = Outcome::Timeout;
        let refused = Outcome::Refused;
        let unreachable = Outcome::Unreachable {
            detail: "host unreachable".into(),
        };
        let network_error = Outcome::NetworkError {
            detail: "tls handshake".into(),
        };
        let connected = Outcome::Connected {
            peer: "10.0.0.5:9000".into(),
        };
        let udp_echo = Outcome::UdpEcho {
            server: Some("server-1".into()),
        };
        #[rustfmt::skip]
        let table: Vec<(X, Protocol, Outcome, AttemptVerdict)> = vec![
            // allowed
            (X::Allowed, Tcp, connected.clone(), P),
            (X::Allowed, Http, http(200), P),
            (X::Allowed, Https, http(299), P),
            (X::Allowed, Http, http(301), F),
            (X::Allowed, Http, http(403), F),
            (X::Allowed, Http, http(500), F),
            (X::Allowed, Udp, udp_echo.clone(), P),
            (X::Allowed, Icmp, Outcome::IcmpReply, P),
            (X::Allowed, Dns, resolved(&["10.96.0.10"]), P),
            (X::Allowed, Dns, Outcome::NxDomain, F),
            (X::Allowed, Tcp, timeout.clone(), F),
            (X::Allowed, Tcp, refused.clone(), F),
            (X::Allowed, Icmp, unreachable.clone(), F),
            (X::Allowed, Https, network_error.clone(), F),
            // denied: any kind of blocking
            (X::Denied, Tcp, timeout.clone(), P),
            (X::Denied, Tcp, refused.clone(), P),
            (X::Denied, Udp, unreachable.clone(), P),
            (X::Denied, Tcp, connected.clone(), F),
            (X::Denied, Http, http(403), F),
            (X::Denied, Udp, udp_echo.clone(), F),
            (X::Denied, Icmp, Outcome::IcmpReply, F),
            (X::Denied, Tcp, network_error.clone(), F),
            // dropped: only silence
            (X::Dropped, Tcp, timeout.clone(), P),
            (X::Dropped, Tcp, refused.clone(), F),
            (X::Dropped, Udp, unreachable.clone(), F),
            (X::Dropped, Tcp, connected.clone(), F),
            (X::Dropped, Tcp, network_error.clone(), F),
            // refused: only an active rejection
            (X::Refused, Tcp, refused.clone(), P),
            (X::Refused, Tcp, timeout.clone(), F),
            (X::Refused, Tcp, unreachable.clone(), F),
            (X::Refused, Tcp, connected.clone(), F),
            // exact status
            (X::Status(403), Http, http(403), P),
            (X::Status(403), Https, http(403), P),
            (X::Status(403), Http, http(200), F),
            (X::Status(200), Http, http(204), F),
            (X::Status(403), Http, timeout.clone(), F),
            (X::Status(200), Tcp, connected.clone(), E),
            // dns
            (X::ResolvesTo("10.96.0.10".into()), Dns, resolved(&["10.96.0.11", "10.96.0.10"]), P),
            (X::ResolvesTo("10.96.0.10".into()), Dns, resolved(&["10.96.0.11"]), F),
            (X::ResolvesTo("10.96.0.10".into()), Dns, Outcome::NxDomain, F),
            (X::ResolvesTo("10.96.0.10".into()), Dns, network_error.clone(), F),
            (X::ResolvesTo("10.96.0.10".into()), Tcp, connected.clone(), E),
            (X::Nxdomain, Dns, Outcome::NxDomain, P),
            (X::Nxdomain, Dns, resolved(&["10.96.0.10"]), F),
            (X::Nxdomain, Dns, timeout.clone(), F),
            (X::Nxdomain, Http, http(404), E),
            // an outcome the protocol cannot produce is an agent bug
            (X::Allowed, Tcp, http(200), E),
            (X::Allowed, Udp, connected.clone(), E),
            (X::Allowed, Http, connected.clone(), E),
            (X::Denied, Icmp, resolved(&["10.0.0.1"]), E),
        ];
        for (expected, protocol, observed, verdict) in table {
            let judgement = judge(&expected, protocol, &observed);
            assert_eq!(
                judgement.verdict, verdict,
                "{expected:?} over {protocol:?} observing {observed:?}: {}",
                judgement.explanation
            );
        }
    }

    #[test]
    fn could_not_run_is_always_an_error() {
        let could_not_run = Outcome::CouldNotRun {
            reason: "permission denied".into(),
        };
        for expected in all_expectations() {
            for protocol in ALL_PROTOCOLS {
                let judgement = judge(&expected, protocol, &could_not_run);
                assert_eq!(
                    judgement.verdict,
                    AttemptVerdict::Error,
                    "{expected:?} {protocol:?}"
                );
                assert_eq!(judgement.observed_reach, Reach::Unknown);
            }
        }
    }

    #[test]
    fn network_errors_never_pass() {
        let network_error = Outcome::NetworkError {
            detail: "SERVFAIL".into(),
        };
        for expected in all_expectations() {
            for protocol in ALL_PROTOCOLS {
                let verdict = judge(&expected, protocol, &network_error).verdict;
                assert_ne!(verdict, AttemptVerdict::Pass, "{expected:?} {protocol:?}");
            }
        }
    }

    /// The blocked outcomes may only pass expectations of blocking, whatever the protocol.
    #[test]
    fn blocked_outcomes_pass_only_blocking_expectations() {
        for observed in all_outcomes() {
            if observed_reach(&observed) != Reach::Blocked {
                continue;
            }
            for expected in all_expectations() {
                for protocol in ALL_PROTOCOLS {
                    let judgement = judge(&expected, protocol, &observed);
                    if judgement.verdict == AttemptVerdict::Pass {
                        assert_eq!(expected_reach(&expected), Reach::Blocked, "{observed:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn explanations_say_what_was_expected_and_observed_on_single_line() {
        for observed in all_outcomes() {
            for expected in all_expectations() {
                for protocol in ALL_PROTOCOLS {
                    let explanation = judge(&expected, protocol, &observed).explanation;
                    assert!(!explanation.contains('\n'), "{explanation}");
                    assert!(
                        explanation.starts_with("expected ")
                            || explanation.starts_with("cannot judge: "),
                        "{explanation}"
                    );
                }
            }
        }
    }

    #[test]
    fn timeout_of_an_allowed_connection_explains_the_likely_cause() {
        let judgement = judge(&Expectation::Allowed, Protocol::Tcp, &Outcome::Timeout);
        assert_eq!(
            judgement.explanation,
            "expected the connection to be allowed, but it timed out with no answer: something \
             dropped the packets (a NetworkPolicy, a firewall, or a broken route)"
        );
        assert_eq!(judgement.observed, "timeout");
        assert_eq!(judgement.observed_reach, Reach::Blocked);
    }

    #[test]
    fn multi_line_details_are_flattened() {
        let observed = Outcome::NetworkError {
            detail: "tls:\n  bad certificate".into(),
        };
        let judgement = judge(&Expectation::Allowed, Protocol::Https, &observed);
        assert!(judgement.explanation.contains("(tls: bad certificate)"));
        assert_eq!(judgement.observed, "error: tls: bad certificate");
    }

    fn net1_in_testbed_range(ips: &[&str]) -> AddressExpectation {
        AddressExpectation {
            interface: "net1".into(),
            recorded: Some(RecordedAttachment {
                network: "cnicheck-t0-s0/cnicheck-macvlan".into(),
                range: "10.202.0.100-10.202.0.199/24".parse().unwrap(),
                ips: ips.iter().map(ToString::to_string).collect(),
            }),
        }
    }

    fn net1(addresses: &[&str]) -> Outcome {
        Outcome::InterfaceAddresses {
            name: "net1".into(),
            addresses: addresses.iter().map(ToString::to_string).collect(),
        }
    }

    #[test]
    fn address_checks_need_the_pod_and_the_record_to_agree_on_an_address_in_range() {
        let recorded = net1_in_testbed_range(&["10.202.0.105"]);
        let pass = judge_address(&recorded, &net1(&["10.202.0.105/24", "fe80::1/64"]));
        assert_eq!(pass.verdict, P, "{}", pass.explanation);
        assert_eq!(
            pass.explanation,
            "expected net1 with an address in 10.202.0.100-10.202.0.199 (NAD \
             cnicheck-t0-s0/cnicheck-macvlan), and net1 has 10.202.0.105/24 in the pod, as \
             Multus recorded"
        );
        assert_eq!(recorded.summary(), "net1 in 10.202.0.100-10.202.0.199");

        let missing = judge_address(
            &recorded,
            &Outcome::NoSuchInterface {
                name: "net1".into(),
            },
        );
        assert_eq!(
            (missing.verdict, missing.observed.as_str()),
            (F, "net1 missing")
        );
        assert!(
            missing
                .explanation
                .contains("the pod has no interface net1")
        );

        let cases: Vec<(AddressExpectation, Outcome, AttemptVerdict, &str)> = vec![
            (
                recorded.clone(),
                net1(&["10.202.0.5/24"]),
                F,
                "none in the range",
            ),
            (
                recorded.clone(),
                net1(&[]),
                F,
                "net1 has no address, none in the range",
            ),
            (
                net1_in_testbed_range(&["10.202.0.106"]),
                net1(&["10.202.0.105/24"]),
                F,
                "records 10.202.0.106 while net1 has 10.202.0.105/24",
            ),
            (
                net1_in_testbed_range(&["10.202.0.5"]),
                net1(&["10.202.0.105/24"]),
                F,
                "records 10.202.0.5",
            ),
            (
                net1_in_testbed_range(&[]),
                net1(&["10.202.0.105/24"]),
                F,
                "records no address on net1",
            ),
            (
                AddressExpectation {
                    interface: "net1".into(),
                    recorded: None,
                },
                net1(&["10.202.0.105/24"]),
                F,
                "does not list net1",
            ),
            (
                recorded.clone(),
                Outcome::CouldNotRun {
                    reason: "getifaddrs: EPERM".into(),
                },
                E,
                "says nothing about the network",
            ),
            (recorded.clone(), Outcome::IcmpReply, E, "agent bug"),
        ];
        for (expected, observed, verdict, needle) in cases {
            let judgement = judge_address(&expected, &observed);
            assert_eq!(
                judgement.verdict, verdict,
                "{observed:?}: {}",
                judgement.explanation
            );
            assert!(
                judgement.explanation.contains(needle),
                "{}",
                judgement.explanation
            );
        }
    }

    #[test]
    fn address_outcomes_and_expectations_never_pass_the_general_judge() {
        for protocol in ALL_PROTOCOLS.into_iter().chain([Protocol::Address]) {
            for observed in [
                net1(&["10.202.0.105/24"]),
                Outcome::NoSuchInterface {
                    name: "net1".into(),
                },
            ] {
                for expected in all_expectations()
                    .into_iter()
                    .chain([Expectation::InNadRange])
                {
                    let verdict = judge(&expected, protocol, &observed).verdict;
                    assert_ne!(verdict, P, "{expected:?} {protocol:?} {observed:?}");
                }
            }
            let verdict = judge(&Expectation::InNadRange, protocol, &Outcome::IcmpReply).verdict;
            assert_eq!(verdict, E);
        }
    }

    fn attempt(verdict: AttemptVerdict) -> Judgement {
        Judgement {
            verdict,
            explanation: String::new(),
            observed: String::new(),
            observed_reach: Reach::Unknown,
        }
    }

    #[test]
    fn final_verdict_counts_only_the_last_attempt_and_marks_retried_passes_flaky() {
        let cases: Vec<(Vec<AttemptVerdict>, Verdict)> = vec![
            (vec![], Verdict::Error),
            (vec![P], Verdict::Pass),
            (vec![F], Verdict::Fail),
            (vec![E], Verdict::Error),
            (vec![F, P], Verdict::Flaky),
            (vec![E, F, P], Verdict::Flaky),
            (vec![P, F], Verdict::Fail),
            (vec![F, F, E], Verdict::Error),
        ];
        for (verdicts, want) in cases {
            let attempts: Vec<Judgement> = verdicts.iter().copied().map(attempt).collect();
            assert_eq!(
                final_verdict(&attempts),
                (want, verdicts.len() as u32),
                "{verdicts:?}"
            );
        }
    }
}
