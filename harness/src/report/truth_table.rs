//! Truth tables in the compact form of the Kubernetes netpol e2e suite: per phase and
//! protocol/port, rows are source pods, columns targets, one character per cell in three
//! tables (expected, observed, diff). Built once from a scenario's probes, for the JSON report
//! and the console alike.

use super::failure::protocol_and_port;
use super::model::{ProbeReport, Reach, Verdict};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// One matrix of a phase: the probes that share a protocol and port.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TruthTable {
    pub phase: String,
    /// `tcp/80`, `icmp`.
    pub protocol: String,
    /// The sources as the scenario writes them (`x/a`); a cell holds all of a source's pods.
    pub rows: Vec<String>,
    pub columns: Vec<TruthTableColumn>,
    /// One string per row, one character per column: `.` reached, `X` blocked, `?` unclear,
    /// a space where no probe went.
    pub expected: Vec<String>,
    /// As `expected`, and `E` for a probe that could not run, `-` for one skipped.
    pub observed: Vec<String>,
    /// `.` as expected, `!` wrong, `E` error, `-` skipped (a pod to itself).
    pub diff: Vec<String>,
}

/// A column: the target as written and as resolved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TruthTableColumn {
    pub to: String,
    pub address: String,
}

/// What each table's characters mean, for a legend.
pub const LEGEND: &str = ". reached   X blocked   ? unclear   ! wrong   E error   - not run";

impl TruthTable {
    /// How many cells the diff marks wrong or in error.
    pub fn wrong(&self) -> usize {
        self.diff
            .iter()
            .flat_map(|row| row.chars())
            .filter(|symbol| matches!(symbol, '!' | 'E'))
            .count()
    }

    pub fn cells(&self) -> usize {
        self.diff
            .iter()
            .flat_map(|row| row.chars())
            .filter(|symbol| *symbol != ' ')
            .count()
    }
}

/// The probes of one phase that share a protocol and port, in report order.
pub struct ProbeGroup<'a> {
    pub phase: &'a str,
    pub protocol: String,
    pub probes: Vec<&'a ProbeReport>,
}

pub fn probe_groups(probes: &[ProbeReport]) -> Vec<ProbeGroup<'_>> {
    let mut groups: Vec<ProbeGroup> = Vec::new();
    for probe in probes {
        let protocol = protocol_and_port(probe);
        match groups
            .iter_mut()
            .find(|group| group.phase == probe.phase && group.protocol == protocol)
        {
            Some(group) => group.probes.push(probe),
            None => groups.push(ProbeGroup {
                phase: &probe.phase,
                protocol,
                probes: vec![probe],
            }),
        }
    }
    groups
}

/// A table for every group of more than one probe that expects reach (checks of an image or
/// a readiness have none to show).
pub fn truth_tables(probes: &[ProbeReport]) -> Vec<TruthTable> {
    probe_groups(probes)
        .iter()
        .filter(|group| {
            group.probes.len() > 1
                && group
                    .probes
                    .iter()
                    .any(|probe| probe.expected_reach != Reach::Unknown)
        })
        .map(table)
        .collect()
}

fn table(group: &ProbeGroup<'_>) -> TruthTable {
    let rows = distinct(group.probes.iter().map(|probe| source_as_written(probe)));
    let columns = distinct(group.probes.iter().map(|probe| probe.to.as_str()));
    // A cell holds every probe of its source and target: one per source pod and address.
    // Sorted into cells once, so a table costs one pass over its probes, not one per cell.
    let mut cells: HashMap<(&str, &str), Vec<&ProbeReport>> = HashMap::new();
    for probe in &group.probes {
        cells
            .entry((source_as_written(probe), probe.to.as_str()))
            .or_default()
            .push(probe);
    }
    let render = |symbol: fn(&[&ProbeReport]) -> char| -> Vec<String> {
        rows.iter()
            .map(|row| {
                columns
                    .iter()
                    .map(|column| {
                        cells
                            .get(&(*row, *column))
                            .map_or(' ', |probes| symbol(probes))
                    })
                    .collect()
            })
            .collect()
    };
    TruthTable {
        phase: group.phase.to_owned(),
        protocol: group.protocol.clone(),
        expected: render(|probes| reach_symbol(probes[0].expected_reach)),
        observed: render(observed_symbol),
        diff: render(diff_symbol),
        rows: rows.iter().map(|row| (*row).to_owned()).collect(),
        columns: columns
            .iter()
            .map(|to| TruthTableColumn {
                to: (*to).to_owned(),
                address: only_address(group, to),
            })
            .collect(),
    }
}

/// The source as the scenario writes it (`x/a`), from the cell's name
/// (`scenario::phase::x/a->pod:x/b:tcp/80`); a built-in check's own `from` otherwise.
fn source_as_written(probe: &ProbeReport) -> &str {
    let cell = probe.cell_name();
    let cell = cell.rsplit_once("::").map_or(cell, |(_, cell)| cell);
    cell.split_once("->")
        .map_or(probe.from.as_str(), |(from, _)| from)
}

/// The address every probe of the column went to, when they all went to one.
fn only_address(group: &ProbeGroup<'_>, to: &str) -> String {
    let addresses = distinct(
        group
            .probes
            .iter()
            .filter(|probe| probe.to == to && !probe.target_address.is_empty())
            .map(|probe| probe.target_address.as_str()),
    );
    match addresses[..] {
        [only] => only.to_owned(),
        _ => String::new(),
    }
}

pub fn distinct<T: PartialEq>(items: impl Iterator<Item = T>) -> Vec<T> {
    let mut seen = Vec::new();
    for item in items {
        if !seen.contains(&item) {
            seen.push(item);
        }
    }
    seen
}

fn reach_symbol(reach: Reach) -> char {
    match reach {
        Reach::Reached => '.',
        Reach::Blocked => 'X',
        Reach::Unknown => '?',
    }
}

/// What the cell's probes saw: their reach when they agree, `?` when they differ, `E` when
/// any could not run, `-` when all were skipped.
fn observed_symbol(probes: &[&ProbeReport]) -> char {
    if probes.iter().any(|probe| probe.verdict == Verdict::Error) {
        return 'E';
    }
    let ran = distinct(
        probes
            .iter()
            .filter(|probe| probe.verdict != Verdict::Skip)
            .map(|probe| reach_symbol(probe.observed_reach)),
    );
    match ran[..] {
        [] => '-',
        [only] => only,
        _ => '?',
    }
}

/// `E` when any probe could not run, `!` when any was wrong, `-` when all were skipped.
fn diff_symbol(probes: &[&ProbeReport]) -> char {
    let any = |verdict| probes.iter().any(|probe| probe.verdict == verdict);
    if any(Verdict::Error) {
        'E'
    } else if any(Verdict::Fail) {
        '!'
    } else if probes.iter().all(|probe| probe.verdict == Verdict::Skip) {
        '-'
    } else {
        '.'
    }
}
