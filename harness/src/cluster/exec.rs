//! Running commands in pods over exec: a read-only look inside someone else's pod
//! (`cilium-health status`), and what agent batches share with it (see [`super::agent_session`]):
//! how an exec ended, and the results a batch's output holds.
//!
//! A probe only counts when the agent's result line for it arrived whole. Every probe without
//! one becomes [`Outcome::CouldNotRun`] with the reason the batch ended — never a timeout, which
//! would read as "the network dropped it".

use super::is_not_found;
use crate::probe::{END_OF_RESULTS, Outcome, ProbeRequest, ProbeResult};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Status;
use kube::Client;
use kube::api::{Api, AttachParams, AttachedProcess};
use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;
use tokio::io::AsyncReadExt;

/// Time for the exec round trip and agent start-up, on top of the probes themselves.
const BATCH_MARGIN: Duration = Duration::from_secs(15);
/// How much of the agent's stderr goes into a reason.
const STDERR_TAIL_CHARS: usize = 1000;

/// A pod to exec into.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PodRef {
    pub namespace: String,
    pub name: String,
}

impl fmt::Display for PodRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// How long a batch may take: probes run concurrently, a probe by name may take twice its
/// timeout (resolution, then the probe), and a sampled one that many times in a row, plus
/// [`BATCH_MARGIN`].
pub fn batch_deadline(requests: &[ProbeRequest]) -> Duration {
    let longest = requests
        .iter()
        .map(|request| {
            request
                .timeout_ms
                .saturating_mul(request.samples.map_or(1, u64::from))
        })
        .max()
        .unwrap_or(0);
    Duration::from_millis(longest.saturating_mul(2)) + BATCH_MARGIN
}

#[derive(Debug, Default)]
pub(super) struct BatchOutput {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub ending: ExecEnding,
}

/// How an exec ended.
#[derive(Debug, Default)]
pub(super) enum ExecEnding {
    /// The command exited 0.
    #[default]
    Exited,
    /// The command exited otherwise: the API's status message.
    Failed(String),
    /// The exec could not be started.
    NotStarted(String),
    /// The stream broke or closed without an exit status.
    Broken(String),
    TimedOut(Duration),
}

/// Why a command run with [`run_command`] gave no output, with the tail of its stderr.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{ending}{}", if .stderr.is_empty() { String::new() } else { format!("; stderr: {}", .stderr) })]
pub struct CommandFailed {
    pub ending: CommandEnding,
    pub stderr: String,
}

/// How a command that gave no output ended.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandEnding {
    #[error("`{command}` failed: {status}")]
    Failed { command: String, status: String },
    #[error("exec failed: {0}")]
    NotStarted(String),
    #[error("exec stream broke: {0}")]
    Broken(String),
    #[error("`{command}` did not finish within {}s", .deadline.as_secs())]
    TimedOut { command: String, deadline: Duration },
}

/// Runs `command` in `container` of `pod` (a read-only look inside, such as
/// `cilium-health status`), giving up after `deadline`. Returns its stdout when it exits 0,
/// else why not, with the tail of its stderr.
pub async fn run_command(
    client: &Client,
    pod: &PodRef,
    container: &str,
    command: &[&str],
    deadline: Duration,
) -> Result<Vec<u8>, CommandFailed> {
    let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
    let ending = tokio::time::timeout(
        deadline,
        exec(client, pod, container, command, &mut stdout, &mut stderr),
    )
    .await
    .unwrap_or(ExecEnding::TimedOut(deadline));
    let stderr = stderr_tail(&stderr);
    let ending = match ending {
        ExecEnding::Exited => return Ok(stdout),
        ExecEnding::Failed(status) => CommandEnding::Failed {
            command: command.join(" "),
            status,
        },
        ExecEnding::NotStarted(cause) => CommandEnding::NotStarted(cause),
        ExecEnding::Broken(cause) => CommandEnding::Broken(cause),
        ExecEnding::TimedOut(deadline) => CommandEnding::TimedOut {
            command: command.join(" "),
            deadline,
        },
    };
    Err(CommandFailed { ending, stderr })
}

/// Starts `command` in `container` of `pod` over exec, or says why it could not start.
pub(super) async fn start_exec(
    client: &Client,
    pod: &PodRef,
    command: &[&str],
    params: &AttachParams,
) -> Result<AttachedProcess, ExecEnding> {
    let api = Api::<Pod>::namespaced(client.clone(), &pod.namespace);
    match api.exec(&pod.name, command.iter().copied(), params).await {
        Ok(process) => Ok(process),
        Err(error) if is_not_found(&error) => {
            Err(ExecEnding::NotStarted(format!("pod {pod} is gone")))
        }
        Err(error) => Err(ExecEnding::NotStarted(format!(
            "exec in {pod} failed: {}",
            super::ApiFailure(&error)
        ))),
    }
}

/// Runs `command` in `container` and collects its output.
async fn exec(
    client: &Client,
    pod: &PodRef,
    container: &str,
    command: &[&str],
    stdout: &mut Vec<u8>,
    stderr: &mut Vec<u8>,
) -> ExecEnding {
    let params = AttachParams::default()
        .container(container)
        .stdout(true)
        .stderr(true);
    let mut process = match start_exec(client, pod, command, &params).await {
        Ok(process) => process,
        Err(ending) => return ending,
    };
    let (Some(mut out), Some(mut err), Some(status)) =
        (process.stdout(), process.stderr(), process.take_status())
    else {
        return ExecEnding::NotStarted("exec did not provide stdout and stderr".into());
    };
    // Both outputs must be drained before join(), or the command blocks on a full pipe and
    // output is lost.
    let (read_out, read_err) = tokio::join!(out.read_to_end(stdout), err.read_to_end(stderr));
    let status = status.await;
    let joined = process.join().await;
    match status {
        Some(status) if status.status.as_deref() == Some("Success") => ExecEnding::Exited,
        Some(status) => ExecEnding::Failed(describe_status(&status)),
        None => {
            let cause = joined
                .err()
                .map(|error| error.to_string())
                .or_else(|| {
                    read_out
                        .err()
                        .map(|error| format!("reading stdout: {error}"))
                })
                .or_else(|| {
                    read_err
                        .err()
                        .map(|error| format!("reading stderr: {error}"))
                })
                .unwrap_or_else(|| "the exec stream closed without an exit status".into());
            ExecEnding::Broken(cause)
        }
    }
}

pub(super) fn request_lines(requests: &[ProbeRequest]) -> Result<Vec<u8>, serde_json::Error> {
    let mut payload = Vec::new();
    for request in requests {
        serde_json::to_writer(&mut payload, request)?;
        payload.push(b'\n');
    }
    Ok(payload)
}

/// `command terminated with non-zero exit code: ... (exit code 2)`.
fn describe_status(status: &Status) -> String {
    let exit_code = status
        .details
        .iter()
        .flat_map(|details| details.causes.iter().flatten())
        .find(|cause| cause.reason.as_deref() == Some("ExitCode"))
        .and_then(|cause| cause.message.as_deref())
        .map(|code| format!(" (exit code {code})"))
        .unwrap_or_default();
    let message = status
        .message
        .as_deref()
        .or(status.reason.as_deref())
        .unwrap_or("the command failed without a message");
    format!("{message}{exit_code}")
}

/// Whole result lines, and whether the end-of-results marker came.
#[derive(Debug, Default)]
struct AgentOutput {
    results: BTreeMap<u32, ProbeResult>,
    complete: bool,
}

fn parse_agent_output(stdout: &[u8]) -> AgentOutput {
    let mut output = AgentOutput::default();
    // A line cut short is not valid JSON, and a cut-short marker does not match: both are
    // treated as missing.
    for line in String::from_utf8_lossy(stdout).lines() {
        let line = line.trim();
        if line == END_OF_RESULTS {
            output.complete = true;
            break;
        }
        if line.is_empty() {
            continue;
        }
        match serde_json::from_str::<ProbeResult>(line) {
            Ok(result) => {
                output.results.entry(result.id).or_insert(result);
            }
            Err(error) => tracing::warn!("ignoring agent output line {line:?}: {error}"),
        }
    }
    output
}

pub(super) fn collect_results(
    requests: &[ProbeRequest],
    output: &BatchOutput,
    elapsed_ms: u64,
) -> Vec<ProbeResult> {
    let mut parsed = parse_agent_output(&output.stdout);
    let stderr = stderr_tail(&output.stderr);
    let reason = missing_reason(&output.ending, parsed.complete, &stderr);
    requests
        .iter()
        .map(|request| {
            parsed
                .results
                .remove(&request.id)
                .unwrap_or_else(|| ProbeResult {
                    id: request.id,
                    outcome: Outcome::CouldNotRun {
                        reason: reason.clone(),
                    },
                    elapsed_ms,
                    latency_us: None,
                    started_unix_ms: None,
                })
        })
        .collect()
}

/// Why a probe has no result, from how the batch ended.
fn missing_reason(ending: &ExecEnding, complete: bool, stderr: &str) -> String {
    let reason = match ending {
        ExecEnding::Exited if complete => "the agent returned no result for this probe".into(),
        ExecEnding::Exited => "agent output ended early (no end-of-results marker)".into(),
        ExecEnding::Failed(status) => format!("agent failed: {status}"),
        ExecEnding::NotStarted(cause) => format!("exec failed: {cause}"),
        ExecEnding::Broken(cause) => format!("exec stream broke: {cause}"),
        ExecEnding::TimedOut(deadline) => format!(
            "the agent batch was cut off after {}s, before this probe's result arrived",
            deadline.as_secs()
        ),
    };
    if stderr.is_empty() {
        reason
    } else {
        format!("{reason}; agent stderr: {stderr}")
    }
}

fn stderr_tail(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let text = text.trim();
    let excess = text.chars().count().saturating_sub(STDERR_TAIL_CHARS);
    if excess == 0 {
        text.to_string()
    } else {
        format!("...{}", text.chars().skip(excess).collect::<String>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::ProbeAction;

    fn requests(ids: &[u32]) -> Vec<ProbeRequest> {
        ids.iter()
            .map(|&id| ProbeRequest {
                id,
                action: ProbeAction::Tcp {
                    host: "10.0.0.1".into(),
                    port: 9000,
                },
                timeout_ms: 2000,
                interface: None,
                samples: None,
            })
            .collect()
    }

    fn result_line(id: u32, outcome: Outcome) -> String {
        serde_json::to_string(&ProbeResult {
            id,
            outcome,
            elapsed_ms: 3,
            latency_us: None,
            started_unix_ms: None,
        })
        .unwrap()
    }

    fn output(stdout: String, stderr: &str, ending: ExecEnding) -> BatchOutput {
        BatchOutput {
            stdout: stdout.into_bytes(),
            stderr: stderr.as_bytes().to_vec(),
            ending,
        }
    }

    fn could_not_run(result: &ProbeResult) -> &str {
        match &result.outcome {
            Outcome::CouldNotRun { reason } => reason,
            other => panic!("expected could-not-run, got {other:?}"),
        }
    }

    #[test]
    fn complete_batches_give_every_result_in_request_order() {
        let stdout = format!(
            "{}\n{}\n{END_OF_RESULTS}\n",
            result_line(2, Outcome::Timeout),
            result_line(
                1,
                Outcome::Connected {
                    peer: "10.0.0.1:9000".into()
                }
            ),
        );
        let results = collect_results(
            &requests(&[1, 2]),
            &output(stdout, "", ExecEnding::Exited),
            50,
        );
        assert_eq!(results[0].id, 1);
        assert!(matches!(results[0].outcome, Outcome::Connected { .. }));
        assert_eq!(results[1].outcome, Outcome::Timeout);
    }

    #[test]
    fn missing_marker_keeps_whole_lines_and_fails_the_rest() {
        let stdout = format!("{}\n", result_line(1, Outcome::Refused));
        let results = collect_results(
            &requests(&[1, 2]),
            &output(stdout, "", ExecEnding::Exited),
            50,
        );
        assert_eq!(results[0].outcome, Outcome::Refused);
        assert_eq!(
            could_not_run(&results[1]),
            "agent output ended early (no end-of-results marker)"
        );
        assert_eq!(results[1].elapsed_ms, 50);
    }

    #[test]
    fn truncated_lines_and_markers_count_as_missing() {
        let whole = result_line(1, Outcome::IcmpReply);
        let cut = result_line(2, Outcome::Timeout);
        let stdout = format!(
            "{whole}\n{}\n{}",
            &cut[..cut.len() - 3],
            &END_OF_RESULTS[..10]
        );
        let results = collect_results(
            &requests(&[1, 2]),
            &output(stdout, "", ExecEnding::Exited),
            50,
        );
        assert_eq!(results[0].outcome, Outcome::IcmpReply);
        assert!(could_not_run(&results[1]).contains("ended early"));
    }

    #[test]
    fn failed_exec_never_yields_a_timeout() {
        let results = collect_results(
            &requests(&[7]),
            &output(
                String::new(),
                "",
                ExecEnding::TimedOut(Duration::from_secs(19)),
            ),
            19_000,
        );
        let reason = could_not_run(&results[0]);
        assert!(reason.contains("cut off after 19s"), "{reason}");

        let results = collect_results(
            &requests(&[7]),
            &output(
                String::new(),
                "",
                ExecEnding::NotStarted("pod ns/client-0 is gone".into()),
            ),
            5,
        );
        assert_eq!(
            could_not_run(&results[0]),
            "exec failed: pod ns/client-0 is gone"
        );
    }

    #[test]
    fn agent_failures_include_stderr() {
        let status: Status = serde_json::from_value(serde_json::json!({
            "status": "Failure",
            "message": "command terminated with non-zero exit code: error executing command [/cnicheck agent probe], exit code 2",
            "reason": "NonZeroExitCode",
            "details": {"causes": [{"reason": "ExitCode", "message": "2"}]}
        }))
        .unwrap();
        let ending = ExecEnding::Failed(describe_status(&status));
        let results = collect_results(
            &requests(&[1]),
            &output(String::new(), "bad request line 1\n", ending),
            5,
        );
        let reason = could_not_run(&results[0]);
        assert!(
            reason.starts_with("agent failed: command terminated"),
            "{reason}"
        );
        assert!(reason.contains("(exit code 2)"), "{reason}");
        assert!(
            reason.ends_with("agent stderr: bad request line 1"),
            "{reason}"
        );
    }

    #[test]
    fn complete_batches_without_a_result_say_so() {
        let stdout = format!("{END_OF_RESULTS}\n");
        let results = collect_results(&requests(&[3]), &output(stdout, "", ExecEnding::Exited), 5);
        assert_eq!(
            could_not_run(&results[0]),
            "the agent returned no result for this probe"
        );
    }

    #[test]
    fn unknown_ids_duplicates_and_noise_are_ignored() {
        let stdout = format!(
            "starting\n{}\n{}\n{}\n{END_OF_RESULTS}\n{}\n",
            result_line(9, Outcome::Refused),
            result_line(1, Outcome::IcmpReply),
            result_line(1, Outcome::Timeout),
            result_line(2, Outcome::IcmpReply),
        );
        let results = collect_results(
            &requests(&[1, 2]),
            &output(stdout, "", ExecEnding::Exited),
            5,
        );
        assert_eq!(results.len(), 2);
        assert_eq!(results[0].outcome, Outcome::IcmpReply);
        // Lines after the marker are not part of the batch.
        assert!(could_not_run(&results[1]).contains("no result"));
    }

    #[test]
    fn requests_are_json_lines() {
        let payload = String::from_utf8(request_lines(&requests(&[1, 2])).unwrap()).unwrap();
        let lines: Vec<&str> = payload.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(payload.ends_with('\n'));
        let first: ProbeRequest = serde_json::from_str(lines[0]).unwrap();
        assert_eq!(first, requests(&[1])[0]);
    }

    #[test]
    fn deadline_covers_the_slowest_probe_twice_plus_margin() {
        let mut batch = requests(&[1, 2]);
        batch[1].timeout_ms = 5000;
        assert_eq!(batch_deadline(&batch), Duration::from_secs(25));
        assert_eq!(batch_deadline(&[]), BATCH_MARGIN);
    }

    #[test]
    fn stderr_is_cut_to_its_tail() {
        let long = "x".repeat(3000) + "END";
        let tail = stderr_tail(long.as_bytes());
        assert!(tail.starts_with("...") && tail.ends_with("END"));
        assert_eq!(tail.chars().count(), STDERR_TAIL_CHARS + 3);
    }
}
