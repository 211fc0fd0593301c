//! Truth tables of a failed matrix, in the style of the Kubernetes netpol e2e suite: expected,
//! observed and diff, rows are sources and columns targets.

use crate::report::failure::protocol_and_port;
use crate::report::model::{ProbeReport, Reach, ScenarioReport, Verdict};
use crate::report::palette::{Palette, Style};
use std::fmt::{self, Write as _};

/// The probes of one phase of a scenario that share a protocol and port: the cells of one
/// `from` x `to` matrix.
pub(super) struct ProbeGroup<'a> {
    pub(super) phase: &'a str,
    pub(super) protocol: String,
    pub(super) probes: Vec<&'a ProbeReport>,
}

pub(super) fn probe_groups(probes: &[ProbeReport]) -> Vec<ProbeGroup<'_>> {
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

/// Expected, observed and diff tables in the style of the Kubernetes netpol e2e suite: rows are
/// sources, columns are targets (numbered, with a legend, since target names are long).
pub(super) fn write_truth_tables(
    out: &mut String,
    scenario: &ScenarioReport,
    group: &ProbeGroup,
    wrong: usize,
    palette: Palette,
) -> fmt::Result {
    let rows = distinct(group.probes.iter().map(|probe| probe.from.as_str()));
    let columns = distinct(
        group
            .probes
            .iter()
            .map(|probe| (probe.to.as_str(), probe.target_address.as_str())),
    );
    let cell = |row: &str, column: (&str, &str)| {
        group.probes.iter().rev().copied().find(|probe| {
            probe.from == row && (probe.to.as_str(), probe.target_address.as_str()) == column
        })
    };
    writeln!(
        out,
        "{} {} / {}: {}: {wrong} of {} cells wrong",
        palette.paint(Style::Heading, "Matrix"),
        scenario.name,
        group.phase,
        group.protocol,
        group.probes.len()
    )?;
    let column_width = columns.len().to_string().len() + 2;
    for (number, (to, address)) in columns.iter().enumerate() {
        let at = if address.is_empty() {
            String::new()
        } else {
            format!(" at {address}")
        };
        writeln!(out, "    {:>column_width$} = {to}{at}", number + 1)?;
    }
    let row_width = rows
        .iter()
        .map(|row| row.chars().count())
        .max()
        .unwrap_or(0);
    let tables: [(&str, CellSymbol); 3] = [
        ("expected", |probe| reach_symbol(probe.expected_reach)),
        ("observed", observed_symbol),
        ("diff", diff_symbol),
    ];
    for (title, symbol) in tables {
        writeln!(out, "  {title}:")?;
        write!(out, "    {:row_width$}", "")?;
        for number in 1..=columns.len() {
            write!(out, "{number:>column_width$}")?;
        }
        writeln!(out)?;
        for row in &rows {
            write!(out, "    {row:row_width$}")?;
            for column in &columns {
                let symbol = cell(row, *column).map_or(' ', symbol);
                let padding = " ".repeat(column_width - 1);
                write!(out, "{padding}{}", palette.symbol(symbol))?;
            }
            writeln!(out)?;
        }
    }
    writeln!(
        out,
        "  . reached   X blocked   ? unclear   ! wrong   E error   - not run"
    )?;
    writeln!(out)
}

/// How a table shows one probe.
pub(super) type CellSymbol = fn(&ProbeReport) -> char;

pub(super) fn distinct<T: PartialEq>(items: impl Iterator<Item = T>) -> Vec<T> {
    let mut seen = Vec::new();
    for item in items {
        if !seen.contains(&item) {
            seen.push(item);
        }
    }
    seen
}

pub(super) fn reach_symbol(reach: Reach) -> char {
    match reach {
        Reach::Reached => '.',
        Reach::Blocked => 'X',
        Reach::Unknown => '?',
    }
}

pub(super) fn observed_symbol(probe: &ProbeReport) -> char {
    match probe.verdict {
        Verdict::Error => 'E',
        Verdict::Skip => '-',
        Verdict::Pass | Verdict::Flaky | Verdict::Fail => reach_symbol(probe.observed_reach),
    }
}

pub(super) fn diff_symbol(probe: &ProbeReport) -> char {
    match probe.verdict {
        Verdict::Pass | Verdict::Flaky => '.',
        Verdict::Fail => '!',
        Verdict::Error => 'E',
        Verdict::Skip => '-',
    }
}
