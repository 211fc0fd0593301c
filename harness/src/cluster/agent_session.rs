//! Long-lived agent execs: one `cnicheck agent session` per agent pod carries every round's
//! batch of probes, so a round costs no exec start (an API call, a container runtime exec and
//! a process start: a tenth of a second on an idle node, most of a second on a busy one).
//!
//! A session is used by one batch at a time; a pod asked for two batches at once (a source that
//! also watches for someone else's datagram) gets a second session. A session whose batch broke,
//! timed out or could not start is dropped, and the batch's probes without a whole result line
//! become [`crate::probe::Outcome::CouldNotRun`], exactly as with one exec per batch.

use super::exec::{BatchOutput, ExecEnding, PodRef, collect_results, request_lines, start_exec};
use super::workload::{AGENT_BINARY, AGENT_CONTAINER};
use crate::probe::{END_OF_BATCH, END_OF_RESULTS, ProbeRequest, ProbeResult};
use kube::Client;
use kube::api::{AttachParams, AttachedProcess};
use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};

/// The idle sessions of each agent pod, opened on first use. Dropping it ends them all: the
/// agents see their stdin close and exit.
pub struct AgentSessions {
    client: Client,
    idle: Mutex<HashMap<PodRef, Vec<AgentSession>>>,
}

impl AgentSessions {
    pub fn new(client: Client) -> Self {
        AgentSessions {
            client,
            idle: Mutex::new(HashMap::new()),
        }
    }

    /// Runs `requests` in the agent of `pod`, giving up after `deadline` (see
    /// [`super::batch_deadline`]). Returns one result per request, in request order.
    pub async fn run_batch(
        &self,
        pod: &PodRef,
        requests: &[ProbeRequest],
        deadline: Duration,
    ) -> Vec<ProbeResult> {
        let started = Instant::now();
        let idle = self.take_idle(pod);
        let mut output = BatchOutput::default();
        let mut session = None;
        output.ending = match tokio::time::timeout(deadline, async {
            if let Some(mut reused) = idle {
                let ending = reused.run(requests, &mut output.stdout).await;
                // A session that broke while idle (its pod restarted, a proxy closed the stream)
                // has answered nothing: the batch goes down a new one.
                let answered_nothing =
                    matches!(ending, Err(ExecEnding::Broken(_))) && output.stdout.is_empty();
                if !answered_nothing {
                    session = Some(reused);
                    return ending;
                }
            }
            let mut current = AgentSession::open(&self.client, pod).await?;
            let ending = current.run(requests, &mut output.stdout).await;
            session = Some(current);
            ending
        })
        .await
        {
            Ok(Ok(())) => {
                if let Some(session) = session.take() {
                    self.give_back(pod, session);
                }
                ExecEnding::Exited
            }
            Ok(Err(ending)) => ending,
            Err(_) => ExecEnding::TimedOut(deadline),
        };
        if let Some(session) = session {
            output.stderr = session.stderr();
        }
        let elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        collect_results(requests, &output, elapsed_ms)
    }

    fn take_idle(&self, pod: &PodRef) -> Option<AgentSession> {
        let mut idle = self
            .idle
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        idle.get_mut(pod).and_then(Vec::pop)
    }

    fn give_back(&self, pod: &PodRef, session: AgentSession) {
        let mut idle = self
            .idle
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        idle.entry(pod.clone()).or_default().push(session);
    }
}

/// One `cnicheck agent session` exec.
struct AgentSession {
    stdin: Pin<Box<dyn AsyncWrite + Send>>,
    stdout: BufReader<Pin<Box<dyn AsyncRead + Send>>>,
    /// What the agent wrote to stderr, for the reason of a batch that broke.
    stderr: Arc<Mutex<Vec<u8>>>,
    /// Kept open: dropping it ends the exec.
    _process: AttachedProcess,
}

impl AgentSession {
    async fn open(client: &Client, pod: &PodRef) -> Result<Self, ExecEnding> {
        let params = AttachParams::default()
            .container(AGENT_CONTAINER)
            .stdin(true)
            .stdout(true)
            .stderr(true);
        let command = [AGENT_BINARY, "agent", "session"];
        let mut process = start_exec(client, pod, &command, &params).await?;
        let (Some(stdin), Some(stdout), Some(mut stderr_stream)) =
            (process.stdin(), process.stdout(), process.stderr())
        else {
            return Err(ExecEnding::NotStarted(
                "exec did not provide stdin, stdout and stderr".into(),
            ));
        };
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let collected = Arc::clone(&stderr);
        // Drained all along, or the agent would block on a full pipe; ends with the exec.
        tokio::spawn(async move {
            let mut chunk = [0u8; 4096];
            while let Ok(read) = stderr_stream.read(&mut chunk).await {
                if read == 0 {
                    break;
                }
                let mut collected = collected
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                collected.extend_from_slice(&chunk[..read]);
            }
        });
        Ok(AgentSession {
            stdin: Box::pin(stdin),
            stdout: BufReader::new(Box::pin(stdout)),
            stderr,
            _process: process,
        })
    }

    /// Sends one batch and reads its result lines into `stdout`, up to and with
    /// [`END_OF_RESULTS`].
    async fn run(
        &mut self,
        requests: &[ProbeRequest],
        stdout: &mut Vec<u8>,
    ) -> Result<(), ExecEnding> {
        let mut payload = request_lines(requests).map_err(|error| {
            ExecEnding::NotStarted(format!("could not encode requests: {error}"))
        })?;
        payload.extend_from_slice(END_OF_BATCH.as_bytes());
        payload.push(b'\n');
        let sent = async {
            self.stdin.write_all(&payload).await?;
            self.stdin.flush().await
        };
        sent.await
            .map_err(|error| ExecEnding::Broken(format!("writing stdin: {error}")))?;
        let mut line = String::new();
        loop {
            line.clear();
            let read = self
                .stdout
                .read_line(&mut line)
                .await
                .map_err(|error| ExecEnding::Broken(format!("reading stdout: {error}")))?;
            if read == 0 {
                return Err(ExecEnding::Broken(
                    "the agent's session ended before the batch's results".into(),
                ));
            }
            stdout.extend_from_slice(line.as_bytes());
            if line.trim_end() == END_OF_RESULTS {
                return Ok(());
            }
        }
    }

    fn stderr(&self) -> Vec<u8> {
        self.stderr
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }
}
