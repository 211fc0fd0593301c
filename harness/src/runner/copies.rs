//! Sharing a scenario's phases out between copies of its workloads (`copies`): each copy runs
//! one stretch of consecutive phases, beginning at a fresh start (see
//! [`Scenario::fresh_starts`]), and the stretches are as even in phases as those starts allow.

use crate::scenario::model::Scenario;
use std::ops::Range;

/// The phases each copy runs, in phase order; one stretch of every phase without `copies`.
pub(super) fn stretches(scenario: &Scenario) -> Vec<Range<usize>> {
    let phases = scenario.phases.len();
    let starts = scenario.fresh_starts();
    let copies = scenario
        .copies
        .as_ref()
        .map_or(1, |copies| copies.value as usize)
        .min(starts.len() + 1);
    let mut begins = vec![0];
    for copy in 1..copies {
        let ideal = copy * phases / copies;
        // Leave a start for each copy after this one.
        let left_for_later = copies - 1 - copy;
        let candidates = &starts[..starts.len() - left_for_later];
        let Some(&begin) = candidates
            .iter()
            .filter(|&&start| start > *begins.last().expect("begins with 0"))
            .min_by_key(|&&start| start.abs_diff(ideal))
        else {
            break;
        };
        begins.push(begin);
    }
    begins
        .iter()
        .zip(begins.iter().skip(1).chain(std::iter::once(&phases)))
        .map(|(&begin, &end)| begin..end)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A scenario of `phases` phases, each deleting what the one before applied, except those in
    /// `adds`, which apply on top.
    fn scenario(copies: u32, phases: usize, adds: &[usize]) -> Scenario {
        let mut yaml = format!("name: t\ncopies: {copies}\nworkloads:\n  - name: a\nphases:\n");
        for index in 0..phases {
            yaml += &format!("  - name: p{index}\n    apply: [m{index}.yaml]\n");
            if index > 0 && !adds.contains(&index) {
                let before = index - 1;
                yaml += &format!("    delete: [m{before}.yaml]\n");
            }
            yaml += "    probes:\n      - {from: a, to: pod:a, protocol: tcp, expect: allowed}\n";
        }
        crate::scenario::parse_for_tests(&yaml)
    }

    #[test]
    fn a_phase_that_deletes_everything_before_it_is_a_fresh_start() {
        assert_eq!(scenario(1, 5, &[]).fresh_starts(), vec![1, 2, 3, 4]);
        // p2 adds to p1's objects, and no later phase deletes p1's.
        assert_eq!(scenario(1, 5, &[2]).fresh_starts(), vec![1]);
    }

    #[test]
    fn copies_take_even_stretches_that_begin_at_fresh_starts() {
        assert_eq!(stretches(&scenario(1, 6, &[])), vec![0..6]);
        assert_eq!(stretches(&scenario(2, 6, &[])), vec![0..3, 3..6]);
        assert_eq!(stretches(&scenario(3, 7, &[])), vec![0..2, 2..4, 4..7]);
        // p3 may not begin a stretch: it carries p2's objects on.
        assert_eq!(stretches(&scenario(2, 6, &[3])), vec![0..2, 2..6]);
        // As many stretches as fresh starts allow, never an empty one.
        assert_eq!(
            stretches(&scenario(3, 4, &[2, 3])),
            vec![0..1, 1..4],
            "only p1 starts afresh"
        );
    }
}
