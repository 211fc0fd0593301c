//! Load-balancing checks (`expect: spread`, `affinity`): one client's samples toward a Service,
//! counted by the backend that answered (every agent names its pod), against the Service's
//! backends. Judged apart from traffic, since a verdict needs all the samples and the backends
//! the runner found, not one observation.

use std::collections::BTreeMap;

use super::words::outcome_words;
use super::{AttemptVerdict, Judgement, observed_kind, observed_reach};
use crate::probe::Outcome;
use crate::report::text::single_line;
use crate::scenario::model::Balance;

/// The chance below which a backend's share counts as too small for a fair random choice.
const UNFAIR_CHANCE: f64 = 1e-6;

/// What a load-balancing check holds one client's samples to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BalanceExpectation {
    pub balance: Balance,
    /// The target as written (`service:server`).
    pub service: String,
    /// The pods behind the Service, by name.
    pub backends: Vec<String>,
    pub samples: u32,
    /// What the cluster's configuration says would make this check fail, named in its failure.
    pub known_cause: Option<String>,
}

impl BalanceExpectation {
    /// `spread over 3 backends`, for tables and the `expected` field of reports.
    pub fn summary(&self) -> String {
        let backends = self.backends.len();
        match self.balance {
            Balance::Spread => format!("spread over {backends} backends"),
            Balance::Affinity => format!("one of {backends} backends per client"),
            Balance::Consistent => format!("consistent over {backends} backends"),
        }
    }
}

/// Judges one client's samples. The judgement carries the count of every backend, those that
/// never answered included.
pub fn judge_balance(expected: &BalanceExpectation, observed: &Outcome) -> Judgement {
    let (verdict, explanation) = balance_verdict(expected, observed);
    let backends = match observed {
        Outcome::Sampled { answers, .. } => Some(counts(expected, answers)),
        _ => None,
    };
    Judgement {
        verdict,
        explanation: single_line(&explanation),
        observed: single_line(&observed.summary()),
        observed_kind: observed_kind(observed),
        observed_reach: observed_reach(observed),
        backends,
    }
}

/// Every backend's count, zero for those that never answered, and any other pod's that did.
fn counts(expected: &BalanceExpectation, answers: &BTreeMap<String, u32>) -> BTreeMap<String, u32> {
    let mut counts: BTreeMap<String, u32> = expected
        .backends
        .iter()
        .map(|backend| (backend.clone(), 0))
        .collect();
    counts.extend(answers.iter().map(|(pod, count)| (pod.clone(), *count)));
    counts
}

fn balance_verdict(expected: &BalanceExpectation, observed: &Outcome) -> (AttemptVerdict, String) {
    let samples = expected.samples;
    let service = &expected.service;
    let backends = expected.backends.len();
    let wanted = match expected.balance {
        Balance::Spread => format!(
            "the {samples} requests of this client to spread over the {backends} backends of \
             {service}"
        ),
        Balance::Affinity => format!(
            "all {samples} requests of this client to reach one backend of {service} \
             (sessionAffinity: ClientIP)"
        ),
        Balance::Consistent => format!("the flows to {service} to keep their backends"),
    };
    let Outcome::Sampled {
        answers,
        unnamed,
        stopped,
    } = observed
    else {
        return (
            AttemptVerdict::Error,
            format!(
                "cannot judge: expected {wanted}, but {}: the agent did not sample (is its image \
                 older than cnicheck?)",
                outcome_words(observed)
            ),
        );
    };
    if let Some(stopped) = stopped {
        let answered: u32 = answers.values().sum::<u32>() + unnamed;
        let saw = outcome_words(stopped);
        return match **stopped {
            Outcome::CouldNotRun { .. } => (
                AttemptVerdict::Error,
                format!(
                    "expected {wanted}, but sample {} {saw}: this says nothing about the network",
                    answered + 1
                ),
            ),
            _ => (
                AttemptVerdict::Fail,
                format!(
                    "expected {wanted}, but sample {} of {samples} got no answer from a backend: \
                     {saw}; a load-balancing check needs every request answered (probe \
                     reachability with `expect: allowed` first)",
                    answered + 1
                ),
            ),
        };
    }
    if *unnamed > 0 {
        return (
            AttemptVerdict::Error,
            format!(
                "cannot judge: expected {wanted}, but {unnamed} answers did not name their pod: \
                 something other than a cnicheck agent answered"
            ),
        );
    }
    let shares = shares(expected, answers);
    if let Some(stranger) = answers.keys().find(|pod| !expected.backends.contains(pod)) {
        return (
            AttemptVerdict::Fail,
            format!(
                "expected {wanted}, but pod {stranger} answered, which is not one of its backends \
                 ({}): {shares}; the Service's endpoints are stale or select other pods",
                expected.backends.join(", ")
            ),
        );
    }
    match expected.balance {
        Balance::Spread => {
            let fewest = fewest_fair_answers(samples, backends);
            if fewest == 0 {
                return (
                    AttemptVerdict::Error,
                    format!(
                        "cannot judge: {samples} samples are too few to tell a fair spread over \
                         {backends} backends from an unfair one; give `samples: {}` or more",
                        Balance::Spread.default_samples(backends)
                    ),
                );
            }
            let rare: Vec<&str> = expected
                .backends
                .iter()
                .filter(|backend| answers.get(*backend).copied().unwrap_or(0) < fewest)
                .map(String::as_str)
                .collect();
            let rule = format!(
                "each answering at least {fewest} (a fair random choice gives fewer with a chance \
                 below 1 in a million)"
            );
            if rare.is_empty() {
                (
                    AttemptVerdict::Pass,
                    format!("expected {wanted}, {rule}, and they did: {shares}"),
                )
            } else {
                (
                    AttemptVerdict::Fail,
                    format!(
                        "expected {wanted}, {rule}, but {} answered too rarely: {shares}; the \
                         Service has sessionAffinity, or its balancer does not choose at random \
                         (check the Service, its endpoints and the proxy's mode)",
                        rare.join(", ")
                    ),
                )
            }
        }
        Balance::Affinity if answers.len() <= 1 => (
            AttemptVerdict::Pass,
            format!("expected {wanted}, and it did: {shares}"),
        ),
        Balance::Affinity => (
            AttemptVerdict::Fail,
            format!(
                "expected {wanted}, but {} backends answered: {shares}; {}",
                answers.len(),
                expected.known_cause.as_deref().unwrap_or(
                    "the Service has no sessionAffinity: ClientIP, or the datapath ignores it"
                )
            ),
        ),
        Balance::Consistent => (
            AttemptVerdict::Error,
            format!(
                "cannot judge: expected {wanted}, which needs backends removed between samples; \
                 cnicheck plans consistent-hashing checks only where the cluster does it"
            ),
        ),
    }
}

/// `server-0 31, server-1 29 of 60`.
fn shares(expected: &BalanceExpectation, answers: &BTreeMap<String, u32>) -> String {
    let parts: Vec<String> = counts(expected, answers)
        .iter()
        .map(|(pod, count)| format!("{pod} {count}"))
        .collect();
    format!("{} of {}", parts.join(", "), expected.samples)
}

/// The fewest answers a backend must give out of `samples`, when a fair balancer picks one of
/// `backends` at random for each: the largest count that a fair choice falls below with a
/// chance under [`UNFAIR_CHANCE`] (binomial lower tail). Zero when even no answer at all is
/// too likely to be a finding.
pub fn fewest_fair_answers(samples: u32, backends: usize) -> u32 {
    if backends < 2 {
        return 0;
    }
    let n = f64::from(samples);
    let p = 1.0 / backends as f64;
    // In logarithms: (1-p)^n underflows for large n.
    let mut log_probability = n * (1.0 - p).ln();
    let mut below = 0.0;
    for count in 0..=samples {
        let probability = log_probability.exp();
        if below + probability >= UNFAIR_CHANCE {
            return count;
        }
        below += probability;
        let k = f64::from(count);
        log_probability += ((n - k) / (k + 1.0)).ln() + (p / (1.0 - p)).ln();
    }
    samples
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::model::ObservationKind;

    fn expectation(balance: Balance, samples: u32) -> BalanceExpectation {
        BalanceExpectation {
            balance,
            service: "service:server".into(),
            backends: vec!["server-0".into(), "server-1".into()],
            samples,
            known_cause: None,
        }
    }

    fn sampled(answers: &[(&str, u32)], stopped: Option<Outcome>) -> Outcome {
        Outcome::Sampled {
            answers: answers
                .iter()
                .map(|(pod, count)| ((*pod).to_owned(), *count))
                .collect(),
            unnamed: 0,
            stopped: stopped.map(Box::new),
        }
    }

    #[test]
    fn the_fair_share_floor_follows_the_binomial_tail() {
        // No backend can be judged with too few samples: 2^-19 is above one in a million.
        assert_eq!(fewest_fair_answers(19, 2), 0);
        // 2^-20 is below it, so zero answers out of 20 is a finding.
        assert_eq!(fewest_fair_answers(20, 2), 1);
        // Figures from the exact binomial sums.
        assert_eq!(fewest_fair_answers(40, 2), 6);
        assert_eq!(fewest_fair_answers(60, 3), 5);
        assert_eq!(fewest_fair_answers(1000, 2), 425);
        assert_eq!(fewest_fair_answers(2000, 100), 3);
        assert_eq!(fewest_fair_answers(100, 1), 0);
        for backends in 2..=100 {
            let samples = Balance::Spread.default_samples(backends);
            assert!(fewest_fair_answers(samples, backends) >= 1, "{backends}");
        }
    }

    #[test]
    fn spread_passes_a_fair_share_and_names_the_rare_backend() {
        let expected = expectation(Balance::Spread, 40);
        let fair = judge_balance(
            &expected,
            &sampled(&[("server-0", 22), ("server-1", 18)], None),
        );
        assert_eq!(fair.verdict, AttemptVerdict::Pass, "{}", fair.explanation);
        assert_eq!(fair.observed_kind, ObservationKind::Sampled);
        let lopsided = judge_balance(&expected, &sampled(&[("server-0", 40)], None));
        assert_eq!(lopsided.verdict, AttemptVerdict::Fail);
        assert!(
            lopsided
                .explanation
                .contains("server-1 answered too rarely: server-0 40, server-1 0 of 40"),
            "{}",
            lopsided.explanation
        );
        assert_eq!(
            lopsided.backends,
            Some(BTreeMap::from([
                ("server-0".to_owned(), 40),
                ("server-1".to_owned(), 0)
            ]))
        );
        let too_few = judge_balance(&expectation(Balance::Spread, 19), &sampled(&[], None));
        assert_eq!(too_few.verdict, AttemptVerdict::Error);
        assert!(too_few.explanation.contains("give `samples: 40`"));
    }

    #[test]
    fn affinity_passes_one_backend_and_fails_several() {
        let expected = expectation(Balance::Affinity, 20);
        let affine = judge_balance(&expected, &sampled(&[("server-1", 20)], None));
        assert_eq!(affine.verdict, AttemptVerdict::Pass);
        let spread = judge_balance(
            &expected,
            &sampled(&[("server-0", 9), ("server-1", 11)], None),
        );
        assert_eq!(spread.verdict, AttemptVerdict::Fail);
        assert!(spread.explanation.contains("2 backends answered"));
        let explained = BalanceExpectation {
            known_cause: Some("enable-session-affinity is off".into()),
            ..expected
        };
        let ignored = judge_balance(
            &explained,
            &sampled(&[("server-0", 9), ("server-1", 11)], None),
        );
        assert!(
            ignored
                .explanation
                .ends_with("11 of 20; enable-session-affinity is off"),
            "{}",
            ignored.explanation
        );
    }

    #[test]
    fn a_sample_without_an_answer_fails_and_one_that_could_not_run_is_an_error() {
        let expected = expectation(Balance::Affinity, 20);
        let timed_out = judge_balance(
            &expected,
            &sampled(&[("server-0", 3)], Some(Outcome::Timeout)),
        );
        assert_eq!(timed_out.verdict, AttemptVerdict::Fail);
        assert!(timed_out.explanation.contains("sample 4 of 20"));
        assert_eq!(timed_out.observed_kind, ObservationKind::Timeout);
        let not_run = judge_balance(
            &expected,
            &sampled(
                &[],
                Some(Outcome::CouldNotRun {
                    reason: "no permission".into(),
                }),
            ),
        );
        assert_eq!(not_run.verdict, AttemptVerdict::Error);
        let single = judge_balance(&expected, &Outcome::UdpEcho { server: None });
        assert_eq!(single.verdict, AttemptVerdict::Error);
    }

    #[test]
    fn answers_from_unknown_or_unnamed_servers_never_pass() {
        let expected = expectation(Balance::Affinity, 20);
        let stranger = judge_balance(&expected, &sampled(&[("old-server-7", 20)], None));
        assert_eq!(stranger.verdict, AttemptVerdict::Fail);
        assert!(stranger.explanation.contains("not one of its backends"));
        let unnamed = Outcome::Sampled {
            answers: BTreeMap::new(),
            unnamed: 20,
            stopped: None,
        };
        assert_eq!(
            judge_balance(&expected, &unnamed).verdict,
            AttemptVerdict::Error
        );
    }
}
