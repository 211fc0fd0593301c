//! The block that says everything about one failed or errored probe: from where to where,
//! what was expected and observed, what the earlier attempts saw, why, and how to reproduce it.
//! The console prints it in color; JUnit and libtest carry it uncolored.

use super::model::ProbeReport;
use super::palette::{Palette, WRITE_TO_STRING};
use super::text::single_line;
use std::fmt::{self, Write as _};

/// The block that says everything about one failed or errored probe, uncolored (JUnit puts it
/// in the failure's text).
pub fn failure_block(probe: &ProbeReport) -> String {
    let mut out = String::new();
    write_failure_block(&mut out, probe, Palette { enabled: false }).expect(WRITE_TO_STRING);
    out
}

pub(super) fn write_failure_block(
    out: &mut String,
    probe: &ProbeReport,
    palette: Palette,
) -> fmt::Result {
    writeln!(out, "{} {}", palette.verdict(probe.verdict, 0), probe.name)?;
    writeln!(out, "    from:      {}", probe.from)?;
    // Built-in checks' results may have no target (readiness) or no address (an image).
    match (probe.to.is_empty(), probe.target_address.is_empty()) {
        (true, _) => {}
        (false, true) => writeln!(out, "    to:        {}", probe.to)?,
        (false, false) => writeln!(
            out,
            "    to:        {} at {}",
            probe.to, probe.target_address
        )?,
    }
    writeln!(out, "    protocol:  {}", protocol_and_port(probe))?;
    writeln!(out, "    expected:  {}", probe.expected)?;
    writeln!(out, "    observed:  {}", single_line(&probe.observed))?;
    if !probe.earlier_attempts.is_empty() {
        writeln!(
            out,
            "    attempts:  {} (before the last: {})",
            probe.attempts,
            earlier_observations(probe)
        )?;
    }
    let why = probe.message.clone().unwrap_or_else(|| {
        format!(
            "expected {}, but observed {}",
            probe.expected, probe.observed
        )
    });
    writeln!(out, "    why:       {}", single_line(&why))?;
    writeln!(out, "    reproduce: {}", probe.reproduce)
}

pub(super) fn protocol_and_port(probe: &ProbeReport) -> String {
    match probe.port {
        Some(port) => format!("{}/{port}", probe.protocol),
        None => probe.protocol.clone(),
    }
}

/// What the attempts before the last one observed, in order, with a run of attempts that saw
/// the same thing said once (`exec failed: pod x is gone (52 attempts)`): a converging phase
/// may try a dead pod dozens of times. Separated by `; `, since an observation may hold commas
/// (answers by backend), and with the middle of a long history left out: the first and the
/// latest observations say what changed. Empty when nothing came before the last attempt.
pub(super) fn earlier_observations(probe: &ProbeReport) -> String {
    const FIRST: usize = 2;
    const LATEST: usize = 3;
    let mut runs: Vec<(String, usize)> = Vec::new();
    for attempt in &probe.earlier_attempts {
        let observed = single_line(&attempt.observed);
        match runs.last_mut() {
            Some((last, count)) if *last == observed => *count += 1,
            _ => runs.push((observed, 1)),
        }
    }
    let said: Vec<String> = runs
        .iter()
        .map(|(observed, count)| match count {
            1 => observed.clone(),
            _ => format!("{observed} ({count} attempts)"),
        })
        .collect();
    if said.len() <= FIRST + LATEST + 1 {
        return said.join("; ");
    }
    let left_out: usize = runs[FIRST..runs.len() - LATEST]
        .iter()
        .map(|(_, count)| count)
        .sum();
    format!(
        "{}; ... {left_out} more ...; {}",
        said[..FIRST].join("; "),
        said[said.len() - LATEST..].join("; ")
    )
}
