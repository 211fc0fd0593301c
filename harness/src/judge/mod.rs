//! Judging: does what a probe observed match what its scenario expected?
//!
//! The agent only reports observations ([`Outcome`]); every rule about what counts as allowed,
//! denied or dropped lives here, so the rules are in one place and tested as a table. The
//! explanation of every judgement says, in words, what was expected, what was observed and what
//! that usually means, because a failure message is only useful if it can be acted on without
//! reading cnicheck's source.

mod address;
mod balance;
mod words;

pub use address::{AddressExpectation, RecordedAttachment, judge_address};
pub use balance::{BalanceExpectation, fewest_fair_answers, judge_balance};

use std::collections::BTreeMap;

use crate::probe::Outcome;
use crate::report::model::{AttemptReport, ObservationKind, Reach, Verdict};
use crate::report::text::single_line;
use crate::scenario::model::{Expectation, Protocol};
use words::{expectation_words, failure_hint, outcome_words};

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
    pub observed_kind: ObservationKind,
    pub observed_reach: Reach,
    /// A load-balancing check's answers per backend (zero for those that never answered).
    pub backends: Option<BTreeMap<String, u32>>,
}

impl Judgement {
    pub fn to_attempt_report(&self) -> AttemptReport {
        AttemptReport {
            observed: self.observed.clone(),
            verdict: self.verdict.into(),
            explanation: self.explanation.clone(),
            observed_kind: Some(self.observed_kind),
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
        observed_kind: observed_kind(observed),
        observed_reach: observed_reach(observed),
        backends: None,
    }
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
        Expectation::Encrypted => "encrypted".into(),
        Expectation::InNadRange => "in the NAD's range".into(),
        Expectation::Spread => "spread over the backends".into(),
        Expectation::Affinity => "one backend per client".into(),
        Expectation::Consistent => "consistent backends".into(),
    }
}

/// Whether traffic should get through. Any HTTP status or DNS answer means it did: a 403 from an
/// L7 policy still reached a proxy.
pub fn expected_reach(expected: &Expectation) -> Reach {
    match expected {
        Expectation::Allowed
        | Expectation::Status(_)
        | Expectation::ResolvesTo(_)
        | Expectation::Nxdomain
        | Expectation::Encrypted
        | Expectation::Spread
        | Expectation::Affinity
        | Expectation::Consistent => Reach::Reached,
        Expectation::Denied | Expectation::Dropped | Expectation::Refused => Reach::Blocked,
        Expectation::InNadRange => Reach::Unknown,
    }
}

pub(crate) fn observed_kind(observed: &Outcome) -> ObservationKind {
    match observed {
        Outcome::Connected { .. } => ObservationKind::Connected,
        Outcome::HttpStatus { .. } => ObservationKind::HttpResponse,
        Outcome::UdpEcho { .. } => ObservationKind::UdpEcho,
        Outcome::UdpSent { .. } => ObservationKind::UdpUnconfirmed,
        Outcome::UdpReceived { .. } => ObservationKind::UdpReceived,
        Outcome::UdpNotReceived { .. } => ObservationKind::UdpNotDelivered,
        Outcome::UdpReplyLost { .. } => ObservationKind::UdpReplyLost,
        Outcome::IcmpReply => ObservationKind::IcmpReply,
        Outcome::Resolved { .. } => ObservationKind::Resolved,
        Outcome::NxDomain => ObservationKind::Nxdomain,
        Outcome::InterfaceAddresses { .. } => ObservationKind::InterfaceAddresses,
        Outcome::NoSuchInterface { .. } => ObservationKind::NoSuchInterface,
        Outcome::Timeout => ObservationKind::Timeout,
        Outcome::Refused => ObservationKind::Refused,
        Outcome::Unreachable { .. } => ObservationKind::Unreachable,
        Outcome::NetworkError { .. } => ObservationKind::NetworkError,
        Outcome::CouldNotRun { .. } => ObservationKind::CouldNotRun,
        Outcome::MarkerCaptured { .. } => ObservationKind::Plaintext,
        Outcome::MarkerNotCaptured { .. } => ObservationKind::NotPlaintext,
        Outcome::Sampled {
            stopped: Some(stopped),
            ..
        } => observed_kind(stopped),
        Outcome::Sampled { stopped: None, .. } => ObservationKind::Sampled,
    }
}

/// Whether an observation got through, whatever was expected of it.
pub(crate) fn observed_reach(observed: &Outcome) -> Reach {
    match observed {
        Outcome::Sampled {
            answers,
            unnamed,
            stopped,
        } => match stopped {
            Some(stopped) if answers.is_empty() && *unnamed == 0 => observed_reach(stopped),
            _ => Reach::Reached,
        },
        Outcome::Connected { .. }
        | Outcome::HttpStatus { .. }
        | Outcome::UdpEcho { .. }
        | Outcome::UdpReceived { .. }
        | Outcome::UdpReplyLost { .. }
        | Outcome::IcmpReply
        | Outcome::Resolved { .. }
        | Outcome::NxDomain
        | Outcome::MarkerCaptured { .. }
        | Outcome::MarkerNotCaptured { .. } => Reach::Reached,
        Outcome::Timeout
        | Outcome::UdpNotReceived { .. }
        | Outcome::Refused
        | Outcome::Unreachable { .. } => Reach::Blocked,
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
        Expectation::Dropped => {
            matches!(observed, Outcome::Timeout | Outcome::UdpNotReceived { .. })
        }
        Expectation::Refused => matches!(observed, Outcome::Refused),
        Expectation::Status(wanted) => {
            matches!(observed, Outcome::HttpStatus { status, .. } if status == wanted)
        }
        Expectation::ResolvesTo(wanted) => match observed {
            Outcome::Resolved { addresses } => addresses.iter().any(|a| a.to_string() == *wanted),
            _ => false,
        },
        Expectation::Nxdomain => is_nxdomain(observed),
        Expectation::Encrypted => matches!(observed, Outcome::MarkerNotCaptured { .. }),
        // Need the NAD's range (see `judge_address`) or the Service's backends (see
        // `judge_balance`).
        Expectation::InNadRange
        | Expectation::Spread
        | Expectation::Affinity
        | Expectation::Consistent => false,
    }
}

fn is_nxdomain(observed: &Outcome) -> bool {
    matches!(observed, Outcome::NxDomain)
}

/// Expectations that only make sense for some protocols; scenario validation should catch
/// these first, but a wrong expectation must never turn into a pass or a fail.
fn expectation_misfit(expected: &Expectation, protocol: Protocol) -> Option<String> {
    let fits = match expected {
        // Judged by `judge_address`, with the range the runner resolved, and by
        // `judge_balance`, with the Service's backends.
        Expectation::InNadRange
        | Expectation::Spread
        | Expectation::Affinity
        | Expectation::Consistent => false,
        _ if protocol == Protocol::Address => false,
        Expectation::Status(_) => matches!(protocol, Protocol::Http | Protocol::Https),
        Expectation::ResolvesTo(_) | Expectation::Nxdomain => protocol == Protocol::Dns,
        Expectation::Encrypted => protocol == Protocol::Udp,
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
        Outcome::UdpEcho { .. }
        | Outcome::UdpSent { .. }
        | Outcome::UdpReceived { .. }
        | Outcome::UdpNotReceived { .. }
        | Outcome::UdpReplyLost { .. }
        | Outcome::MarkerCaptured { .. }
        | Outcome::MarkerNotCaptured { .. } => protocol == Protocol::Udp,
        Outcome::IcmpReply => protocol == Protocol::Icmp,
        Outcome::Resolved { .. } | Outcome::NxDomain => protocol == Protocol::Dns,
        Outcome::InterfaceAddresses { .. } | Outcome::NoSuchInterface { .. } => {
            protocol == Protocol::Address
        }
        // Judged by `judge_balance`.
        Outcome::Sampled { .. } => false,
        Outcome::Timeout
        | Outcome::Refused
        | Outcome::Unreachable { .. }
        | Outcome::NetworkError { .. }
        | Outcome::CouldNotRun { .. } => true,
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

    #[test]
    fn address_outcomes_and_expectations_never_pass_the_general_judge() {
        for protocol in ALL_PROTOCOLS.into_iter().chain([Protocol::Address]) {
            for observed in [
                Outcome::InterfaceAddresses {
                    name: "net1".into(),
                    addresses: vec!["10.202.0.105/24".into()],
                },
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
            observed_kind: ObservationKind::Timeout,
            observed_reach: Reach::Unknown,
            backends: None,
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
