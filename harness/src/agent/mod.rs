//! The agent: what runs inside every test pod.
//!
//! `cnicheck agent serve` is the pod's main process: the targets probes aim at (HTTP, TCP and UDP
//! echo, see [`serve`]). The pod is ready when `GET` [`crate::probe::HEALTHZ_PATH`] on
//! [`crate::probe::ports::HTTP`] answers 200, which happens only after every listener is bound,
//! so the pod template uses an `httpGet` readiness probe and no exec is needed.
//!
//! `cnicheck agent session` is what the runner execs, once per pod: batches of
//! [`crate::probe`] requests on stdin, each ended by a line of its own, results on stdout (see
//! [`batch`]); `cnicheck agent probe` runs a single batch. Their stdout carries the protocol
//! only; logs go to stderr through `tracing`.

mod batch;
mod probes;
mod serve;

use std::io;

pub use batch::{run_probe, run_session};
pub use serve::{BoundAgent, ListenAddresses, ServeArgs, run_serve};

/// `cnicheck agent ...`
#[derive(Debug, Clone, clap::Subcommand)]
pub enum AgentCommand {
    /// Serve HTTP, TCP echo and UDP echo until SIGTERM: the main process of an agent pod.
    Serve(ServeArgs),
    /// Run the probe requests read from stdin (JSON lines) concurrently and print one result
    /// line per request, then the end-of-results sentinel.
    Probe,
    /// Like `probe`, batch after batch, each ended by the end-of-batch line, until stdin closes.
    Session,
}

impl AgentCommand {
    pub async fn run(self) -> Result<(), AgentError> {
        match self {
            AgentCommand::Serve(args) => run_serve(args).await,
            AgentCommand::Probe => run_probe(tokio::io::stdin(), tokio::io::stdout()).await,
            AgentCommand::Session => run_session(tokio::io::stdin(), tokio::io::stdout()).await,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("cannot listen on {protocol} port {port}: {source}")]
    Listen {
        protocol: &'static str,
        port: u16,
        source: io::Error,
    },
    #[error("cannot install the SIGTERM handler: {0}")]
    Signal(io::Error),
    #[error("a listener stopped unexpectedly: {0}")]
    ListenerStopped(tokio::task::JoinError),
    #[error("reading probe requests: {0}")]
    ReadRequests(io::Error),
    #[error("writing probe results: {0}")]
    WriteResults(io::Error),
    #[error("encoding a probe result: {0}")]
    EncodeResult(serde_json::Error),
    #[error("request line {line} is not a probe request and has no id to answer: {source}")]
    MalformedRequest {
        line: usize,
        source: serde_json::Error,
    },
}
