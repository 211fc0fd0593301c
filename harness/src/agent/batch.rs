//! `cnicheck agent probe`: one batch of the [`crate::probe`] protocol.
//!
//! Each request starts as soon as its line is read, so all probes of a batch run concurrently
//! and deny probes wait out their timeouts together. Results are written in completion order,
//! one flushed line each, then [`END_OF_RESULTS`].

use std::collections::HashMap;
use std::sync::Arc;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::task::{self, JoinSet};

use super::AgentError;
use super::probes::{self, ProbeContext};
use crate::probe::{END_OF_BATCH, END_OF_RESULTS, Outcome, ProbeRequest, ProbeResult};

/// Runs every request read from `input` until EOF and writes the results to `output`.
///
/// A line that is not a request but has an `id` is answered with `CouldNotRun`. A line without
/// a usable `id` cannot be answered: reading stops, the probes already started are finished and
/// written, and the batch ends with [`AgentError::MalformedRequest`] and without the sentinel,
/// so the runner sees the batch as incomplete.
pub async fn run_probe(
    input: impl AsyncRead + Unpin,
    mut output: impl AsyncWrite + Unpin,
) -> Result<(), AgentError> {
    let context = Arc::new(ProbeContext::default());
    let mut lines = BufReader::new(input).lines();
    let mut running = JoinSet::new();
    // Which request each task runs, to answer for a task that panicked.
    let mut request_of_task: HashMap<task::Id, u32> = HashMap::new();
    let mut line_number = 0;
    let mut reading = true;
    let mut unanswerable = None;
    loop {
        tokio::select! {
            line = lines.next_line(), if reading => {
                let Some(line) = line.map_err(AgentError::ReadRequests)? else {
                    reading = false;
                    continue;
                };
                line_number += 1;
                match parse_request(&line) {
                    Parsed::Blank => {}
                    Parsed::Request(request) => {
                        let id = request.id;
                        let context = Arc::clone(&context);
                        let task = running.spawn(async move {
                            probes::execute(&request, &context).await
                        });
                        request_of_task.insert(task.id(), id);
                    }
                    Parsed::Unusable { id: Some(id), error } => {
                        let reason = format!("malformed probe request: {error}");
                        write_result(&mut output, &not_run(id, reason)).await?;
                    }
                    Parsed::Unusable { id: None, error } => {
                        tracing::error!(
                            line = line_number, %error, "unanswerable probe request; stopping"
                        );
                        unanswerable = Some(AgentError::MalformedRequest {
                            line: line_number,
                            source: error,
                        });
                        reading = false;
                    }
                }
            }
            Some(finished) = running.join_next_with_id() => {
                let (task, result) = match finished {
                    Ok((task, result)) => (task, Some(result)),
                    Err(failure) => (failure.id(), None),
                };
                // Every task is recorded right after it is spawned, before it can be joined.
                if let Some(id) = request_of_task.remove(&task) {
                    let result = result.unwrap_or_else(|| {
                        not_run(id, "the probe panicked inside the agent".to_owned())
                    });
                    write_result(&mut output, &result).await?;
                }
            }
            else => break,
        }
    }
    if let Some(error) = unanswerable {
        return Err(error);
    }
    write_line(&mut output, END_OF_RESULTS).await
}

/// Runs batches read from `input`, each ended by [`END_OF_BATCH`], one after another, each
/// answered as [`run_probe`] answers, until `input` ends (a batch cut short by the end of
/// `input` is not run: nobody is left to read its results).
pub async fn run_session(
    input: impl AsyncRead + Unpin,
    mut output: impl AsyncWrite + Unpin,
) -> Result<(), AgentError> {
    let mut lines = BufReader::new(input).lines();
    let mut batch = String::new();
    while let Some(line) = lines.next_line().await.map_err(AgentError::ReadRequests)? {
        if line.trim() == END_OF_BATCH {
            run_probe(batch.as_bytes(), &mut output).await?;
            batch.clear();
        } else {
            batch.push_str(&line);
            batch.push('\n');
        }
    }
    Ok(())
}

enum Parsed {
    Blank,
    Request(ProbeRequest),
    Unusable {
        id: Option<u32>,
        error: serde_json::Error,
    },
}

fn parse_request(line: &str) -> Parsed {
    if line.trim().is_empty() {
        return Parsed::Blank;
    }
    match serde_json::from_str::<ProbeRequest>(line) {
        Ok(request) => Parsed::Request(request),
        Err(error) => Parsed::Unusable {
            // A request this agent does not understand (say, a newer probe kind) can still be
            // answered if its id is readable.
            id: serde_json::from_str::<serde_json::Value>(line)
                .ok()
                .and_then(|value| value.get("id")?.as_u64())
                .and_then(|id| u32::try_from(id).ok()),
            error,
        },
    }
}

fn not_run(id: u32, reason: String) -> ProbeResult {
    ProbeResult {
        id,
        outcome: Outcome::CouldNotRun { reason },
        elapsed_ms: 0,
        latency_us: None,
        started_unix_ms: None,
    }
}

async fn write_result(
    output: &mut (impl AsyncWrite + Unpin),
    result: &ProbeResult,
) -> Result<(), AgentError> {
    let line = serde_json::to_string(result).map_err(AgentError::EncodeResult)?;
    write_line(output, &line).await
}

/// Writes and flushes one line: the runner may read results while others still run.
async fn write_line(output: &mut (impl AsyncWrite + Unpin), line: &str) -> Result<(), AgentError> {
    output
        .write_all(format!("{line}\n").as_bytes())
        .await
        .map_err(AgentError::WriteResults)?;
    output.flush().await.map_err(AgentError::WriteResults)
}
