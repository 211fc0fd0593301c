//! Latency figures: how long answers took, by path (same node, cross node, through a Service,
//! to the outside, node to node, DNS), for the console's summary and JUnit's properties; and a
//! cell's typical latency, for `cnicheck diff`. Only probes that got an answer have a latency,
//! and only their last attempt's counts.

use super::model::{PathClass, ProbeReport};

/// p50, p99 and max of the latencies of one path's answers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PathLatency {
    pub path: PathClass,
    pub answers: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// The figures of every path some probe answered on, in [`PathClass`] order.
pub fn by_path<'a>(probes: impl IntoIterator<Item = &'a ProbeReport>) -> Vec<PathLatency> {
    let mut by_path: Vec<(PathClass, Vec<f64>)> = Vec::new();
    for probe in probes {
        let (Some(path), Some(latency)) = (probe.path, probe.latency_ms) else {
            continue;
        };
        match by_path.iter_mut().find(|(known, _)| *known == path) {
            Some((_, latencies)) => latencies.push(latency),
            None => by_path.push((path, vec![latency])),
        }
    }
    by_path.sort_by_key(|(path, _)| *path);
    by_path
        .into_iter()
        .map(|(path, mut latencies)| {
            latencies.sort_by(f64::total_cmp);
            PathLatency {
                path,
                answers: latencies.len(),
                p50_ms: percentile(&latencies, 50),
                p99_ms: percentile(&latencies, 99),
                max_ms: latencies.last().copied().unwrap_or_default(),
            }
        })
        .collect()
}

/// The median latency of a cell's probes that got an answer.
pub fn cell_median<'a>(probes: impl IntoIterator<Item = &'a ProbeReport>) -> Option<f64> {
    let mut latencies: Vec<f64> = probes
        .into_iter()
        .filter_map(|probe| probe.latency_ms)
        .collect();
    if latencies.is_empty() {
        return None;
    }
    latencies.sort_by(f64::total_cmp);
    Some(percentile(&latencies, 50))
}

/// Nearest rank on `sorted` (not empty): the smallest value with at least `percent` of the
/// values at or below it.
fn percentile(sorted: &[f64], percent: usize) -> f64 {
    let rank = (sorted.len() * percent).div_ceil(100).max(1);
    sorted[rank - 1]
}

/// `0.213 ms`, `12.4 ms`: three significant digits are enough to compare.
pub fn milliseconds(value: f64) -> String {
    if value < 10.0 {
        format!("{value:.3} ms")
    } else if value < 100.0 {
        format!("{value:.1} ms")
    } else {
        format!("{value:.0} ms")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::model::{Reach, Verdict};

    fn answered(path: Option<PathClass>, latency_ms: Option<f64>) -> ProbeReport {
        ProbeReport {
            name: String::new(),
            cell: String::new(),
            phase: String::new(),
            from: String::new(),
            to: String::new(),
            target_address: String::new(),
            protocol: "tcp".into(),
            port: Some(9000),
            expected: "allowed".into(),
            observed: "connected".into(),
            expected_reach: Reach::Reached,
            observed_reach: Reach::Reached,
            verdict: Verdict::Pass,
            attempts: 1,
            earlier_attempts: Vec::new(),
            duration_secs: 0.0,
            message: None,
            reproduce: String::new(),
            source: None,
            destination_node: None,
            observed_kind: None,
            path,
            latency_ms,
            backends: None,
        }
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let hundred: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&hundred, 50), 50.0);
        assert_eq!(percentile(&hundred, 99), 99.0);
        assert_eq!(percentile(&[7.0], 50), 7.0);
        assert_eq!(percentile(&[1.0, 2.0], 50), 1.0);
        assert_eq!(percentile(&[1.0, 2.0], 99), 2.0);
    }

    #[test]
    fn figures_are_per_path_over_answers_only() {
        let probes = [
            answered(Some(PathClass::CrossNode), Some(0.9)),
            answered(Some(PathClass::SameNode), Some(0.1)),
            answered(Some(PathClass::CrossNode), Some(0.5)),
            answered(Some(PathClass::CrossNode), Some(0.7)),
            answered(Some(PathClass::CrossNode), None),
            answered(None, Some(3.0)),
        ];
        let figures = by_path(&probes);
        assert_eq!(
            figures,
            [
                PathLatency {
                    path: PathClass::SameNode,
                    answers: 1,
                    p50_ms: 0.1,
                    p99_ms: 0.1,
                    max_ms: 0.1
                },
                PathLatency {
                    path: PathClass::CrossNode,
                    answers: 3,
                    p50_ms: 0.7,
                    p99_ms: 0.9,
                    max_ms: 0.9
                },
            ]
        );
        assert_eq!(cell_median(&probes[..3]), Some(0.5));
        assert_eq!(cell_median(&probes[4..5]), None);
    }

    #[test]
    fn milliseconds_keep_three_significant_digits() {
        assert_eq!(milliseconds(0.2134), "0.213 ms");
        assert_eq!(milliseconds(12.44), "12.4 ms");
        assert_eq!(milliseconds(1234.4), "1234 ms");
    }
}
