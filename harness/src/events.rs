//! What a run says while it goes, as typed events (after cargo-nextest's `reporter/events.rs`):
//! the runner emits them into an [`EventSink`] and prints nothing itself; the console is one
//! sink ([`crate::report::console::ConsoleReporter`]); a progress bar or a live JSON stream
//! would be others, without a change to the runner.

use crate::report::model::{PreflightCheck, ProbeReport, ScenarioReport};

/// One thing that happened during a run, borrowing what it is about from the runner.
#[derive(Debug, Clone, Copy)]
pub enum RunEvent<'a> {
    /// The preflight dry run of every scenario's manifests is done (a failed check means no
    /// scenario runs).
    PreflightFinished { checks: &'a [PreflightCheck] },
    /// A probe or a built-in check reached its final verdict.
    ProbeFinished { probe: &'a ProbeReport },
    /// A scenario is done: it ran, was skipped, or its setup failed.
    ScenarioFinished { scenario: &'a ScenarioReport },
}

/// Where a run's events go. Scenarios run concurrently, so a sink is shared between them and
/// keeps its own order.
pub trait EventSink: Send + Sync {
    fn event(&self, event: RunEvent<'_>);
}
