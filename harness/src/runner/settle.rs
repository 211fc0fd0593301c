//! Telling when a phase's change of objects has taken effect. A probe expected to observe the
//! opposite of what the same probe observed at the end of the previous phase (allowed then,
//! denied now, or the reverse) can only match once the change reached the data plane, so such
//! probes replace a fixed settle window with evidence (see [`SettleRule::Changed`]). Only the
//! previous phase counts: nothing changes between two phases but the later one's objects.
//! Before a copy's first change there is no previous phase, only freshly deployed pods whose
//! paths may still be coming up: there, only what got through counts (see
//! [`LastObserved::reached_after_deploy`]).

use super::execute::SettleRule;
use super::plan::{PlannedKind, PlannedProbe};
use crate::judge;
use crate::report::model::Reach;
use crate::scenario::model::Protocol;
use std::collections::HashMap;
use std::time::Duration;

/// The same traffic in two phases: from the same pod to the same address, port and protocol.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Path {
    source_namespace: String,
    source: String,
    /// Resolved, so that two pods behind one target are two paths.
    target_address: String,
    protocol: Protocol,
    port: Option<u16>,
}

impl Path {
    fn of(probe: &PlannedProbe) -> Self {
        Path {
            source_namespace: probe.source.namespace.clone(),
            source: probe.source.name.clone(),
            target_address: probe.target_address.clone(),
            protocol: probe.protocol,
            port: probe.port,
        }
    }
}

/// What each traffic probe of a phase finally observed, reached or blocked.
#[derive(Debug, Default)]
pub(super) struct LastObserved(HashMap<Path, Reach>);

impl LastObserved {
    /// `observed` is what each of `probes` observed last, in the same order.
    pub fn of_phase(probes: &[PlannedProbe], observed: impl IntoIterator<Item = Reach>) -> Self {
        LastObserved(
            probes
                .iter()
                .zip(observed)
                .filter(|(probe, reach)| {
                    matches!(probe.kind, PlannedKind::Traffic(_)) && *reach != Reach::Unknown
                })
                .map(|(probe, reach)| (Path::of(probe), reach))
                .collect(),
        )
    }

    /// What `probes` observed right after the workloads were deployed, before any change: a
    /// probe that got through proves its path works, so blocking it later shows the change taking
    /// effect; one that did not may only be a path still coming up, which proves nothing.
    pub fn reached_after_deploy(
        probes: &[PlannedProbe],
        observed: impl IntoIterator<Item = Reach>,
    ) -> Self {
        let mut observed = Self::of_phase(probes, observed);
        observed.0.retain(|_, reach| *reach == Reach::Reached);
        observed
    }

    /// How `probes`, planned after this phase's observations and a change of objects, know the
    /// change has taken effect: by the probes expected to flip, or else by a window of `settle`.
    pub fn settle_rule(
        &self,
        probes: &[PlannedProbe],
        settle: Duration,
        confirm: Duration,
    ) -> SettleRule {
        let changing = probes
            .iter()
            .filter(|probe| {
                let PlannedKind::Traffic(traffic) = &probe.kind else {
                    return false;
                };
                let expected = judge::expected_reach(&traffic.expected);
                self.0
                    .get(&Path::of(probe))
                    .is_some_and(|&before| expected != Reach::Unknown && before != expected)
            })
            .count();
        if changing == 0 {
            SettleRule::Window(settle)
        } else {
            SettleRule::Changed { changing, confirm }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::execute::tests::tcp_probe;
    use crate::scenario::model::Expectation;

    const SETTLE: Duration = Duration::from_secs(5);
    const CONFIRM: Duration = Duration::from_secs(1);

    #[test]
    fn a_probe_expected_to_flip_is_the_evidence_and_the_window_is_the_fallback() {
        let before = [tcp_probe(Expectation::Allowed)];
        let now = [tcp_probe(Expectation::Denied)];
        let rule =
            |reach| LastObserved::of_phase(&before, [reach]).settle_rule(&now, SETTLE, CONFIRM);
        assert_eq!(
            rule(Reach::Reached),
            SettleRule::Changed {
                changing: 1,
                confirm: CONFIRM
            }
        );
        // Denied before and after: nothing shows when the change takes effect.
        assert_eq!(rule(Reach::Blocked), SettleRule::Window(SETTLE));
        // The probe said neither, so there is nothing to flip from.
        assert_eq!(rule(Reach::Unknown), SettleRule::Window(SETTLE));
    }

    #[test]
    fn only_the_same_path_counts() {
        let before = [tcp_probe(Expectation::Allowed)];
        let mut elsewhere = tcp_probe(Expectation::Denied);
        elsewhere.port = Some(9001);
        let mut other_source = tcp_probe(Expectation::Denied);
        other_source.source.name = "client-1".into();
        let last = LastObserved::of_phase(&before, [Reach::Reached]);
        assert_eq!(
            last.settle_rule(&[elsewhere, other_source], SETTLE, CONFIRM),
            SettleRule::Window(SETTLE)
        );
        assert_eq!(
            LastObserved::default().settle_rule(&[tcp_probe(Expectation::Denied)], SETTLE, CONFIRM),
            SettleRule::Window(SETTLE),
            "the first phase of a copy has no previous observations"
        );
    }

    #[test]
    fn after_deploying_only_a_path_that_got_through_is_evidence() {
        let before = [tcp_probe(Expectation::Allowed)];
        let rule = |reach, expected| {
            LastObserved::reached_after_deploy(&before, [reach]).settle_rule(
                &[tcp_probe(expected)],
                SETTLE,
                CONFIRM,
            )
        };
        assert_eq!(
            rule(Reach::Reached, Expectation::Denied),
            SettleRule::Changed {
                changing: 1,
                confirm: CONFIRM
            }
        );
        // Blocked right after deploying may be a path still coming up, not a policy.
        assert_eq!(
            rule(Reach::Blocked, Expectation::Allowed),
            SettleRule::Window(SETTLE)
        );
    }
}
