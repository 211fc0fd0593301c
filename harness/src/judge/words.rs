//! The words of a judgement: what an expectation and an observation mean for a protocol, and
//! what a mismatch usually points to, so that a failure can be acted on without reading
//! cnicheck's source.

use super::expected_reach;
use crate::probe::Outcome;
use crate::report::model::Reach;
use crate::scenario::model::{Expectation, Protocol};

pub(super) fn expectation_words(expected: &Expectation, protocol: Protocol) -> String {
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
        Expectation::Encrypted => {
            "the datagram to arrive, encrypted between the nodes (its marker never readable on \
             the receiving node's interface)"
                .into()
        }
        Expectation::Spread => "the requests to spread over every backend".into(),
        Expectation::Affinity => "every request of a client to reach the same backend".into(),
        Expectation::Consistent => "each flow to keep its backend when another backend goes".into(),
    }
}

pub(super) fn outcome_words(observed: &Outcome) -> String {
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
        Outcome::UdpNotReceived { .. } => "nothing came back, and the receiver, listening on that \
             port all along, confirmed the datagram never arrived"
            .into(),
        Outcome::UdpReplyLost { source } => format!(
            "the receiver saw our datagram arrive (from {source}), but its echo never came back: \
             delivered, reply lost"
        ),
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
        Outcome::Sampled { .. } => format!("the samples were answered by {}", observed.summary()),
        Outcome::MarkerCaptured { interface } => format!(
            "the datagram arrived, and its marker crossed {interface} of the receiving node in \
             plaintext"
        ),
        Outcome::MarkerNotCaptured {
            interface, frames, ..
        } => format!(
            "the datagram arrived, and its marker was readable in none of the {frames} frames \
             that crossed {interface} of the receiving node meanwhile"
        ),
    }
}

fn from_pod(server: &Option<String>) -> String {
    server
        .as_deref()
        .map(|pod| format!(" from pod {pod}"))
        .unwrap_or_default()
}

/// What a mismatch usually means, so the reader knows where to look first.
pub(super) fn failure_hint(
    expected: &Expectation,
    protocol: Protocol,
    observed: &Outcome,
) -> &'static str {
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
        Outcome::UdpNotReceived { .. } if wanted_reach == Reach::Reached => {
            "something dropped the datagrams on their way to a receiver that was listening (a \
             NetworkPolicy, a firewall, or a broken route)"
        }
        Outcome::UdpNotReceived { .. } => {
            "nothing arrived, which is silence: a policy that rejects would have answered"
        }
        Outcome::UdpReplyLost { .. } if wanted_reach == Reach::Blocked => {
            "the datagram got through (only its reply was lost): the policy that should block it \
             is missing, not yet enforced, or does not select these pods"
        }
        Outcome::Connected { .. }
        | Outcome::UdpEcho { .. }
        | Outcome::UdpReceived { .. }
        | Outcome::UdpReplyLost { .. }
        | Outcome::IcmpReply => {
            "the traffic got through: the policy that should block it is missing, not yet \
             enforced, or does not select these pods"
        }
        Outcome::CouldNotRun { .. } | Outcome::UdpSent { .. } => "the probe could not run",
        Outcome::InterfaceAddresses { .. } | Outcome::NoSuchInterface { .. } => {
            "an address check is judged against its NAD's range"
        }
        Outcome::Sampled { .. } => "a load-balancing check is judged against its backends",
        Outcome::MarkerCaptured { .. } => {
            "traffic between these nodes is not encrypted: turn on the CNI's encryption \
             (Cilium: WireGuard or IPsec, see `cilium-dbg encrypt status` in an agent)"
        }
        Outcome::MarkerNotCaptured { .. } => {
            "the datagram arrived unreadable on the wire, which is what encryption looks like"
        }
    }
}
