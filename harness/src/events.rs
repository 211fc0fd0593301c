//! What a run says while it goes, as typed events (after cargo-nextest's `reporter/events.rs`):
//! the runner emits them into an [`EventSink`] and prints nothing itself. The console, the
//! progress bar, libtest's output and the JUnit and JSON files are sinks (see
//! [`crate::report`]); a live JSON stream would be one more, without a change to the runner.

use crate::cluster::RunId;
use crate::report::model::{PreflightCheck, ProbeReport, RunReport, ScenarioReport};
use std::time::Duration;

/// One thing that happened during a run, borrowing what it is about from the runner.
#[derive(Debug, Clone, Copy)]
pub enum RunEvent<'a> {
    /// The run is about to look at the cluster.
    RunStarted { run: &'a RunId, scenarios: usize },
    /// The preflight dry run of every scenario's manifests is done (a failed check means no
    /// scenario runs).
    PreflightFinished { checks: &'a [PreflightCheck] },
    /// A scenario begins: its requirements are checked next, then it deploys.
    ScenarioStarted { scenario: &'a str },
    /// Every probe of a phase has its final verdict (they follow as `ProbeFinished`).
    PhaseFinished(&'a PhaseSummary<'a>),
    /// A probe or a built-in check reached its final verdict.
    ProbeFinished { probe: &'a ProbeReport },
    /// A scenario is done: it ran, was skipped, or its setup failed.
    ScenarioFinished { scenario: &'a ScenarioReport },
    /// Every scenario is done and cleaned up: the report is final.
    RunFinished { report: &'a RunReport },
}

/// A phase's probing: how much of it there was, and how its waiting ended.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PhaseSummary<'a> {
    pub scenario: &'a str,
    pub phase: &'a str,
    pub probes: usize,
    pub source_pods: usize,
    pub duration: Duration,
    pub settling: Settling,
}

/// How a phase's repeated probing ended, by the phase's retry policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settling {
    /// Nothing changed before the phase: failing probes were retried as often as allowed.
    Retried,
    /// The phase reached its expected state: every probe passed (after deploying), or matched
    /// for the whole settle window (after applying or deleting objects).
    Settled { after: Duration },
    /// The propagation deadline came first; the verdicts are the last observations.
    TimedOut { after: Duration },
}

/// Where a run's events go. Scenarios run concurrently, so a sink is shared between them and
/// keeps its own order.
pub trait EventSink: Send + Sync {
    fn event(&self, event: RunEvent<'_>);
}

/// Several sinks, each given every event in turn, in the order listed (the order their output
/// appears in when the run finishes).
pub struct Fanout(pub Vec<Box<dyn EventSink>>);

impl EventSink for Fanout {
    fn event(&self, event: RunEvent<'_>) {
        for sink in &self.0 {
            sink.event(event);
        }
    }
}
