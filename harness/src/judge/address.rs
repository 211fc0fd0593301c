//! Address checks (`expect: in-nad-range`): a pod's secondary interface against Multus' record
//! of it and its NetworkAttachmentDefinition's range. Judged apart from traffic, since there is
//! no destination and nothing to reach: only what the pod has and what Multus says it has.

use super::words::outcome_words;
use super::{AttemptVerdict, Judgement};
use crate::multus::IpRange;
use crate::probe::Outcome;
use crate::report::model::Reach;
use crate::report::text::single_line;
use std::net::IpAddr;

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
        observed_kind: super::observed_kind(observed),
        observed_reach: Reach::Unknown,
        backends: None,
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

#[cfg(test)]
mod tests {
    use super::*;
    use AttemptVerdict::{Error as E, Fail as F, Pass as P};

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
}
