//! Sampling: one request's action run many times in a row, to learn which servers answer it
//! (the load-balancing checks). In a row, not at once: a Service's session affinity is set by
//! the first connection and must be in place for the next.

use std::collections::BTreeMap;

use super::{ProbeContext, Stopwatch, observe};
use crate::probe::{Outcome, ProbeAction, ProbeRequest};

pub(super) async fn sample(request: &ProbeRequest, count: u32, context: &ProbeContext) -> Outcome {
    let mut answers: BTreeMap<String, u32> = BTreeMap::new();
    let mut unnamed = 0;
    for index in 0..count {
        let single = single_sample(request, index);
        let observed = observe(&single, context, &Stopwatch::default())
            .await
            .unwrap_or_else(|early| early);
        match observed {
            Outcome::HttpStatus {
                server: Some(server),
                ..
            }
            | Outcome::UdpEcho {
                server: Some(server),
            } => *answers.entry(server).or_default() += 1,
            Outcome::HttpStatus { server: None, .. } | Outcome::UdpEcho { server: None } => {
                unnamed += 1;
            }
            other => {
                return Outcome::Sampled {
                    answers,
                    unnamed,
                    stopped: Some(Box::new(other)),
                };
            }
        }
    }
    Outcome::Sampled {
        answers,
        unnamed,
        stopped: None,
    }
}

/// Sample `index` of `request`: its own marker, so an echo answers only the sample it belongs to.
fn single_sample(request: &ProbeRequest, index: u32) -> ProbeRequest {
    let mut single = ProbeRequest {
        samples: None,
        ..request.clone()
    };
    if let ProbeAction::Udp { marker, .. } = &mut single.action {
        marker.push_str(&format!(".{index}"));
    }
    single
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_udp_sample_has_a_marker_of_its_own() {
        let request = ProbeRequest {
            id: 7,
            action: ProbeAction::Udp {
                host: "10.96.0.9".into(),
                port: 9001,
                marker: "cnicheck-3-0".into(),
            },
            timeout_ms: 2000,
            interface: None,
            samples: Some(40),
        };
        let sample = single_sample(&request, 12);
        assert_eq!(sample.samples, None);
        assert_eq!(
            sample.action,
            ProbeAction::Udp {
                host: "10.96.0.9".into(),
                port: 9001,
                marker: "cnicheck-3-0.12".into(),
            }
        );
    }
}
