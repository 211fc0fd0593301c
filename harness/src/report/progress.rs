//! A progress bar at the bottom of a terminal while scenarios run: how many are done, which
//! are running, and the verdicts so far. The console's lines print above it (through
//! [`ProgressReporter::lines_above`]), so each finished probe stays on record as before.
//!
//! Hidden when stderr is not a terminal: a CI log gets the console's lines only.

use super::model::Verdict;
use crate::events::{EventSink, RunEvent};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::{self, Write};
use std::sync::Mutex;
use std::time::Duration;

pub struct ProgressReporter {
    bar: ProgressBar,
    state: Mutex<Counts>,
}

/// What the bar's message says.
#[derive(Debug, Default)]
struct Counts {
    /// In the order they started.
    running: Vec<String>,
    passed: usize,
    failed: usize,
    errors: usize,
}

impl Counts {
    fn message(&self) -> String {
        let mut parts = vec![format!("{} passed", self.passed)];
        if self.failed > 0 {
            parts.push(format!("{} failed", self.failed));
        }
        if self.errors > 0 {
            parts.push(format!("{} errors", self.errors));
        }
        if !self.running.is_empty() {
            parts.push(format!("running {}", self.running.join(", ")));
        }
        parts.join(" · ")
    }
}

impl ProgressReporter {
    /// On stderr when `wanted` and stderr is a terminal (indicatif draws nothing otherwise).
    pub fn stderr(wanted: bool) -> Self {
        let target = if wanted {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        let bar = ProgressBar::with_draw_target(None, target).with_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:24} {pos}/{len} scenarios · {wide_msg}",
            )
            .expect("a valid progress template"),
        );
        ProgressReporter {
            bar,
            state: Mutex::new(Counts::default()),
        }
    }

    /// Where the console writes: whole lines, printed above the bar.
    pub fn lines_above(&self) -> LinesAbove {
        LinesAbove {
            bar: self.bar.clone(),
            pending: Vec::new(),
        }
    }

    fn update(&self, change: impl FnOnce(&mut Counts)) {
        if let Ok(mut counts) = self.state.lock() {
            change(&mut counts);
            self.bar.set_message(counts.message());
        }
    }
}

impl EventSink for ProgressReporter {
    fn event(&self, event: RunEvent<'_>) {
        match event {
            RunEvent::RunStarted { scenarios, .. } => {
                self.bar.set_length(scenarios as u64);
                self.bar.enable_steady_tick(Duration::from_millis(250));
            }
            RunEvent::ScenarioStarted { scenario } => {
                self.update(|counts| counts.running.push(scenario.to_owned()));
            }
            RunEvent::ProbeFinished { probe } => self.update(|counts| match probe.verdict {
                Verdict::Pass | Verdict::Flaky => counts.passed += 1,
                Verdict::Fail => counts.failed += 1,
                Verdict::Error => counts.errors += 1,
                Verdict::Skip => {}
            }),
            RunEvent::ScenarioFinished { scenario } => {
                self.update(|counts| counts.running.retain(|name| *name != scenario.name));
                self.bar.inc(1);
            }
            // The summary follows: it reads better without a bar under it.
            RunEvent::RunFinished { .. } => self.bar.finish_and_clear(),
            RunEvent::PreflightFinished { .. } | RunEvent::PhaseFinished(_) => {}
        }
    }
}

impl Drop for ProgressReporter {
    /// An interrupted run never finishes: its messages must not print under a stale bar.
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}

/// Writes whole lines to stderr above the bar; a partial line waits for its end.
pub struct LinesAbove {
    bar: ProgressBar,
    pending: Vec<u8>,
}

impl Write for LinesAbove {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.pending.extend_from_slice(buf);
        if let Some(end) = self.pending.iter().rposition(|&byte| byte == b'\n') {
            let lines: Vec<u8> = self.pending.drain(..=end).collect();
            self.bar.suspend(|| io::stderr().write_all(&lines))?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        let rest = std::mem::take(&mut self.pending);
        self.bar.suspend(|| {
            let mut stderr = io::stderr();
            stderr.write_all(&rest)?;
            stderr.flush()
        })
    }
}

impl Drop for LinesAbove {
    fn drop(&mut self) {
        let _ = self.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_counts_verdicts_and_names_running_scenarios() {
        let counts = Counts {
            running: vec!["netpol".into(), "dns".into()],
            passed: 12,
            failed: 1,
            errors: 0,
        };
        assert_eq!(
            counts.message(),
            "12 passed · 1 failed · running netpol, dns"
        );
        assert_eq!(Counts::default().message(), "0 passed");
    }
}
