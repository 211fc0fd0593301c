//! What a pod's state says about its way to Ready, from the pod and its events alone (no
//! cluster calls, so every rule is unit-tested): ready, progressing, stuck in a state that
//! rarely recovers (an image that cannot be pulled, a crash loop, no node that fits), or failed
//! for good (an invalid image name, a pull policy of Never for a missing image, phase Failed).

use crate::multus::SandboxFailure;
use k8s_openapi::api::core::v1::Event;
use k8s_openapi::api::core::v1::{ContainerStateTerminated, ContainerStatus, Pod};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::Duration;
use tokio::time::Instant;

/// Why a pod is not ready, as Kubernetes put it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodProblem {
    pub pod: String,
    /// Where it was scheduled, if it was.
    pub node: Option<String>,
    /// Kubernetes' reason: `Unschedulable`, `ImagePullBackOff`, `CrashLoopBackOff`, ...
    pub reason: String,
    pub message: String,
}

impl fmt::Display for PodProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let node = self.node.as_deref().unwrap_or("no node");
        write!(f, "pod {} ({node}): {}", self.pod, self.reason)?;
        if !self.message.is_empty() {
            write!(f, ": {}", self.message)?;
        }
        Ok(())
    }
}

/// Where a pod stands on its way to Ready.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum PodState {
    Ready,
    /// On its way (scheduling, pulling, starting): the problem says where it is.
    Progressing(PodProblem),
    /// In a state that rarely recovers: fails the wait after the grace period.
    Stuck(PodProblem),
    /// Will never become ready.
    Failed(PodProblem),
}

/// Waiting reasons that never clear by themselves.
pub(super) const HOPELESS_WAITING: [&str; 2] = ["InvalidImageName", "ErrImageNeverPull"];
/// Waiting reasons that usually do not clear (a transient registry error can).
pub(super) const STUCK_WAITING: [&str; 6] = [
    "ErrImagePull",
    "ImagePullBackOff",
    "CrashLoopBackOff",
    "CreateContainerConfigError",
    "CreateContainerError",
    "RunContainerError",
];

/// The kubelet's reason for a pod whose sandbox (network included) could not be created.
pub(super) const FAILED_SANDBOX: &str = "FailedCreatePodSandBox";
/// The waiting reason of a pod whose sandbox is still being created.
pub(super) const CREATING: &str = "ContainerCreating";

pub(super) struct Assessment {
    pub(super) ready: Vec<Pod>,
    /// One per pod of `names` that is not ready.
    pub(super) problems: Vec<PodProblem>,
    /// Some pod failed, or has been stuck longer than the grace period.
    pub(super) give_up: bool,
}

/// Where the pods `names` stand. `stuck_since` remembers when each pod was first seen stuck
/// and is only cleared when it becomes ready: stuck states alternate with others (an image
/// pull error with its back-off, a crash loop with short runs), which must not restart the
/// grace period.
pub(super) fn assess(
    names: &[String],
    pods: Vec<Pod>,
    sandbox_failures: &BTreeMap<String, SandboxFailure>,
    stuck_since: &mut BTreeMap<String, Instant>,
    now: Instant,
    grace: Duration,
) -> Assessment {
    let mut pods: BTreeMap<String, Pod> = pods
        .into_iter()
        .filter_map(|pod| Some((pod.metadata.name.clone()?, pod)))
        .collect();
    let mut assessment = Assessment {
        ready: Vec::new(),
        problems: Vec::new(),
        give_up: false,
    };
    for name in names {
        let state = pods.remove(name).map_or_else(
            || {
                PodState::Failed(PodProblem {
                    pod: name.clone(),
                    node: None,
                    reason: "NotFound".into(),
                    message: "the pod does not exist (deleted, or never created)".into(),
                })
            },
            |pod| match classify(&pod) {
                PodState::Ready => {
                    assessment.ready.push(pod);
                    PodState::Ready
                }
                PodState::Progressing(problem) if problem.reason == CREATING => {
                    match sandbox_failures.get(name) {
                        Some(failure) => explained_sandbox_failure(problem, failure),
                        None => PodState::Progressing(problem),
                    }
                }
                state => state,
            },
        );
        let problem = match state {
            PodState::Ready => {
                stuck_since.remove(name);
                continue;
            }
            PodState::Progressing(problem) => problem,
            PodState::Stuck(problem) => {
                let since = *stuck_since.entry(name.clone()).or_insert(now);
                assessment.give_up |= now.duration_since(since) >= grace;
                problem
            }
            PodState::Failed(problem) => {
                assessment.give_up = true;
                problem
            }
        };
        assessment.problems.push(problem);
    }
    assessment
}

/// The last recognised sandbox failure of each pod, from events sorted oldest first.
pub(super) fn recognised_sandbox_failures(events: &[Event]) -> BTreeMap<String, SandboxFailure> {
    events
        .iter()
        .filter(|event| {
            event.reason.as_deref() == Some(FAILED_SANDBOX)
                && event.involved_object.kind.as_deref() == Some("Pod")
        })
        .filter_map(|event| {
            let failure = SandboxFailure::recognise(event.message.as_deref()?)?;
            Some((event.involved_object.name.clone()?, failure))
        })
        .collect()
}

pub(super) fn explained_sandbox_failure(
    mut problem: PodProblem,
    failure: &SandboxFailure,
) -> PodState {
    problem.reason = FAILED_SANDBOX.into();
    problem.message = failure.describe(problem.node.as_deref());
    if failure.may_clear() {
        PodState::Stuck(problem)
    } else {
        PodState::Failed(problem)
    }
}

/// Why a pod is not ready, or none when it is.
pub(super) fn readiness_problem(pod: &Pod) -> Option<PodProblem> {
    match classify(pod) {
        PodState::Ready => None,
        PodState::Progressing(problem) | PodState::Stuck(problem) | PodState::Failed(problem) => {
            Some(problem)
        }
    }
}

pub(super) fn classify(pod: &Pod) -> PodState {
    let problem = |reason: &str, message: String| PodProblem {
        pod: pod.metadata.name.clone().unwrap_or_default(),
        node: pod.spec.as_ref().and_then(|spec| spec.node_name.clone()),
        reason: reason.into(),
        message,
    };
    if pod.metadata.deletion_timestamp.is_some() {
        return PodState::Failed(problem("Terminating", "the pod is being deleted".into()));
    }
    let Some(status) = &pod.status else {
        return PodState::Progressing(problem("Pending", "no status yet".into()));
    };
    let phase = status.phase.as_deref().unwrap_or("Pending");
    if matches!(phase, "Failed" | "Succeeded") {
        let message = status.message.clone().unwrap_or_else(|| {
            let statuses = status.container_statuses.iter().flatten();
            statuses
                .filter_map(|container| container.state.as_ref()?.terminated.as_ref())
                .map(describe_termination)
                .next()
                .unwrap_or_default()
        });
        return PodState::Failed(problem(status.reason.as_deref().unwrap_or(phase), message));
    }
    let conditions = status.conditions.as_deref().unwrap_or_default();
    let condition = |type_: &str| conditions.iter().find(|condition| condition.type_ == type_);
    if condition("Ready").is_some_and(|ready| ready.status == "True") {
        return PodState::Ready;
    }
    if let Some(scheduled) =
        condition("PodScheduled").filter(|scheduled| scheduled.status == "False")
    {
        let reason = scheduled.reason.as_deref().unwrap_or("Pending");
        let message = scheduled.message.clone().unwrap_or_default();
        return if reason == "Unschedulable" {
            PodState::Stuck(problem(reason, message))
        } else {
            PodState::Progressing(problem(reason, message))
        };
    }
    let statuses = status
        .init_container_statuses
        .as_deref()
        .into_iter()
        .chain(status.container_statuses.as_deref());
    for container in statuses.flatten() {
        if let Some(state) = container_state(container, &problem) {
            return state;
        }
    }
    let not_ready = condition("Ready")
        .and_then(|ready| ready.message.clone())
        .unwrap_or_else(|| format!("phase {phase}"));
    let reason = if phase == "Running" {
        "NotReady"
    } else {
        phase
    };
    PodState::Progressing(problem(reason, not_ready))
}

/// The state of one container, if it says more than "running, not ready yet".
pub(super) fn container_state(
    container: &ContainerStatus,
    problem: &impl Fn(&str, String) -> PodProblem,
) -> Option<PodState> {
    let state = container.state.as_ref()?;
    if let Some(waiting) = &state.waiting {
        let reason = waiting.reason.as_deref().unwrap_or("Waiting");
        let mut message = waiting.message.clone().unwrap_or_default();
        // The back-off message only says it is backing off; why it crashed is in lastState.
        if let Some(last) = container
            .last_state
            .as_ref()
            .and_then(|last| last.terminated.as_ref())
        {
            let last_exit = describe_termination(last);
            message = if message.is_empty() {
                format!("last run: {last_exit}")
            } else {
                format!("{message}; last run: {last_exit}")
            };
        }
        let problem = problem(reason, message);
        return Some(if HOPELESS_WAITING.contains(&reason) {
            PodState::Failed(problem)
        } else if STUCK_WAITING.contains(&reason) {
            PodState::Stuck(problem)
        } else {
            PodState::Progressing(problem)
        });
    }
    state.terminated.as_ref().map(|terminated| {
        PodState::Progressing(problem(
            terminated.reason.as_deref().unwrap_or("Terminated"),
            describe_termination(terminated),
        ))
    })
}

pub(super) fn describe_termination(terminated: &ContainerStateTerminated) -> String {
    let mut text = format!("exit code {}", terminated.exit_code);
    if let Some(reason) = &terminated.reason {
        text.push_str(&format!(" ({reason})"));
    }
    if let Some(message) = terminated
        .message
        .as_deref()
        .map(str::trim)
        .filter(|m| !m.is_empty())
    {
        text.push_str(&format!(": {message}"));
    }
    text
}

/// Pods listed as ready endpoints. An absent `ready` means ready (EndpointSlice API docs).
pub(super) fn ready_endpoint_pods<'a>(
    slices: impl IntoIterator<Item = &'a EndpointSlice>,
) -> BTreeSet<String> {
    slices
        .into_iter()
        .flat_map(|slice| &slice.endpoints)
        .filter(|endpoint| {
            endpoint
                .conditions
                .as_ref()
                .and_then(|conditions| conditions.ready)
                != Some(false)
        })
        .filter_map(|endpoint| endpoint.target_ref.as_ref())
        .filter(|target| target.kind.as_deref() == Some("Pod"))
        .filter_map(|target| target.name.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::ClusterError;
    use serde_json::json;

    /// A pod as the API server returns it, with the status the kubelet/scheduler wrote.
    fn pod(name: &str, node: Option<&str>, status: serde_json::Value) -> Pod {
        let mut spec =
            json!({"containers": [{"name": "agent", "image": "ghcr.io/cnicheck/agent:0.1.0"}]});
        if let Some(node) = node {
            spec["nodeName"] = json!(node);
        }
        serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": "cnicheck-t0abcd1234", "uid": "3f1c0c8e-1111-2222-3333-444455556666"},
            "spec": spec,
            "status": status,
        }))
        .unwrap()
    }

    fn started_conditions(ready: &str) -> serde_json::Value {
        let (reason, message) = if ready == "True" {
            (json!(null), json!(null))
        } else {
            (
                json!("ContainersNotReady"),
                json!("containers with unready status: [agent]"),
            )
        };
        json!([
            {"type": "PodReadyToStartContainers", "status": "True", "lastProbeTime": null, "lastTransitionTime": "2026-11-22T03:10:02Z"},
            {"type": "Initialized", "status": "True", "lastProbeTime": null, "lastTransitionTime": "2026-11-22T03:10:00Z"},
            {"type": "Ready", "status": ready, "lastProbeTime": null, "lastTransitionTime": "2026-11-22T03:10:00Z", "reason": reason, "message": message},
            {"type": "ContainersReady", "status": ready, "lastProbeTime": null, "lastTransitionTime": "2026-11-22T03:10:00Z", "reason": reason, "message": message},
            {"type": "PodScheduled", "status": "True", "lastProbeTime": null, "lastTransitionTime": "2026-11-22T03:10:00Z"}
        ])
    }

    fn scheduled_status(
        phase: &str,
        ready: &str,
        container: serde_json::Value,
    ) -> serde_json::Value {
        let mut agent = json!({
            "name": "agent",
            "image": "ghcr.io/cnicheck/agent:0.1.0",
            "imageID": "",
            "ready": ready == "True",
            "restartCount": 0,
            "started": false,
            "lastState": {}
        });
        agent
            .as_object_mut()
            .unwrap()
            .extend(container.as_object().unwrap().clone());
        json!({
            "phase": phase,
            "hostIP": "10.0.0.11",
            "hostIPs": [{"ip": "10.0.0.11"}],
            "podIP": "10.244.1.7",
            "podIPs": [{"ip": "10.244.1.7"}],
            "startTime": "2026-11-22T03:10:00Z",
            "qosClass": "BestEffort",
            "conditions": started_conditions(ready),
            "containerStatuses": [agent]
        })
    }

    fn unschedulable() -> Pod {
        pod(
            "far-0",
            None,
            json!({
                "phase": "Pending",
                "qosClass": "BestEffort",
                "conditions": [{
                    "type": "PodScheduled",
                    "status": "False",
                    "lastProbeTime": null,
                    "lastTransitionTime": "2026-11-22T03:10:00Z",
                    "reason": "Unschedulable",
                    "message": "0/2 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }. preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling."
                }]
            }),
        )
    }

    fn image_pull_back_off() -> Pod {
        pod(
            "server-0",
            Some("worker-1"),
            scheduled_status(
                "Pending",
                "False",
                json!({
                    "state": {"waiting": {
                        "reason": "ImagePullBackOff",
                        "message": "Back-off pulling image \"ghcr.io/cnicheck/agent:0.1.0\": ErrImagePull: failed to pull and unpack image \"ghcr.io/cnicheck/agent:0.1.0\": failed to resolve reference \"ghcr.io/cnicheck/agent:0.1.0\": ghcr.io/cnicheck/agent:0.1.0: not found"
                    }}
                }),
            ),
        )
    }

    fn err_image_pull() -> Pod {
        pod(
            "server-0",
            Some("worker-1"),
            scheduled_status(
                "Pending",
                "False",
                json!({
                    "state": {"waiting": {
                        "reason": "ErrImagePull",
                        "message": "rpc error: code = NotFound desc = failed to pull and unpack image \"ghcr.io/cnicheck/agent:0.1.0\": not found"
                    }}
                }),
            ),
        )
    }

    fn crash_loop() -> Pod {
        pod(
            "server-1",
            Some("worker-2"),
            scheduled_status(
                "Running",
                "False",
                json!({
                    "containerID": "containerd://8d1f",
                    "restartCount": 3,
                    "state": {"waiting": {
                        "reason": "CrashLoopBackOff",
                        "message": "back-off 40s restarting failed container=agent pod=server-1_cnicheck-t0abcd1234(3f1c0c8e-1111-2222-3333-444455556666)"
                    }},
                    "lastState": {"terminated": {
                        "exitCode": 1,
                        "reason": "Error",
                        "message": "Error: cannot bind 0.0.0.0:8080: Address in use (os error 98)\n",
                        "startedAt": "2026-11-22T03:11:00Z",
                        "finishedAt": "2026-11-22T03:11:00Z",
                        "containerID": "containerd://8d1f"
                    }}
                }),
            ),
        )
    }

    fn running_not_ready() -> Pod {
        pod(
            "client-0",
            Some("worker-1"),
            scheduled_status(
                "Running",
                "False",
                json!({
                    "containerID": "containerd://77aa",
                    "started": true,
                    "state": {"running": {"startedAt": "2026-11-22T03:10:03Z"}}
                }),
            ),
        )
    }

    fn ready() -> Pod {
        pod(
            "client-0",
            Some("worker-1"),
            scheduled_status(
                "Running",
                "True",
                json!({
                    "containerID": "containerd://77aa",
                    "started": true,
                    "state": {"running": {"startedAt": "2026-11-22T03:10:03Z"}}
                }),
            ),
        )
    }

    fn problem_of(state: PodState) -> PodProblem {
        match state {
            PodState::Progressing(problem)
            | PodState::Stuck(problem)
            | PodState::Failed(problem) => problem,
            PodState::Ready => panic!("expected a problem, got Ready"),
        }
    }

    #[test]
    fn unschedulable_pods_are_stuck_with_the_schedulers_message() {
        let state = classify(&unschedulable());
        assert!(matches!(state, PodState::Stuck(_)), "{state:?}");
        let problem = problem_of(state);
        assert_eq!(problem.reason, "Unschedulable");
        assert_eq!(problem.node, None);
        assert!(problem.message.starts_with("0/2 nodes are available"));
        assert!(
            problem
                .to_string()
                .starts_with("pod far-0 (no node): Unschedulable: 0/2 nodes")
        );
    }

    #[test]
    fn image_pull_errors_are_stuck_with_the_pull_error() {
        for pod in [image_pull_back_off(), err_image_pull()] {
            let state = classify(&pod);
            assert!(matches!(state, PodState::Stuck(_)), "{state:?}");
            let problem = problem_of(state);
            assert_eq!(problem.node.as_deref(), Some("worker-1"));
            assert!(problem.message.contains("not found"), "{}", problem.message);
        }
        assert_eq!(
            problem_of(classify(&image_pull_back_off())).reason,
            "ImagePullBackOff"
        );
    }

    #[test]
    fn crash_loops_are_stuck_with_the_last_exit() {
        let problem = problem_of(classify(&crash_loop()));
        assert_eq!(problem.reason, "CrashLoopBackOff");
        assert!(
            problem.message.ends_with(
                "last run: exit code 1 (Error): Error: cannot bind 0.0.0.0:8080: Address in use (os error 98)"
            ),
            "{}",
            problem.message
        );
    }

    #[test]
    fn hopeless_and_failed_pods_fail_at_once() {
        let never_pull = pod(
            "server-0",
            Some("worker-1"),
            scheduled_status(
                "Pending",
                "False",
                json!({
                    "state": {"waiting": {
                        "reason": "ErrImageNeverPull",
                        "message": "Container image \"localhost/cnicheck-agent:dev\" is not present with pull policy of Never"
                    }}
                }),
            ),
        );
        assert!(matches!(classify(&never_pull), PodState::Failed(_)));

        let evicted = pod(
            "server-0",
            Some("worker-1"),
            json!({
                "phase": "Failed",
                "reason": "OutOfcpu",
                "message": "Pod was rejected: Node didn't have enough resource: cpu, requested: 100, used: 1950, capacity: 2000",
                "startTime": "2026-11-22T03:10:00Z"
            }),
        );
        let problem = problem_of(classify(&evicted));
        assert_eq!(problem.reason, "OutOfcpu");
        assert!(problem.message.starts_with("Pod was rejected"));

        let config_error = pod(
            "server-0",
            Some("worker-1"),
            scheduled_status(
                "Pending",
                "False",
                json!({
                    "state": {"waiting": {"reason": "CreateContainerConfigError", "message": "container has runAsNonRoot and image will run as root"}}
                }),
            ),
        );
        assert!(matches!(classify(&config_error), PodState::Stuck(_)));
    }

    #[test]
    fn starting_pods_are_progressing() {
        let problem = problem_of(classify(&running_not_ready()));
        assert_eq!(problem.reason, "NotReady");
        assert_eq!(problem.message, "containers with unready status: [agent]");

        let creating = pod(
            "client-0",
            Some("worker-1"),
            scheduled_status(
                "Pending",
                "False",
                json!({
                    "state": {"waiting": {"reason": "ContainerCreating"}}
                }),
            ),
        );
        let state = classify(&creating);
        assert!(
            matches!(&state, PodState::Progressing(problem) if problem.reason == "ContainerCreating"),
            "{state:?}"
        );
        assert_eq!(classify(&ready()), PodState::Ready);
    }

    #[test]
    fn stuck_pods_fail_after_the_grace_even_when_their_reason_alternates() {
        let names = vec!["server-0".to_string()];
        let grace = Duration::from_secs(20);
        let start = Instant::now();
        let mut stuck_since = BTreeMap::new();

        let first = assess(
            &names,
            vec![err_image_pull()],
            &BTreeMap::new(),
            &mut stuck_since,
            start,
            grace,
        );
        assert!(!first.give_up);
        let later = start + Duration::from_secs(10);
        assert!(
            !assess(
                &names,
                vec![image_pull_back_off()],
                &BTreeMap::new(),
                &mut stuck_since,
                later,
                grace
            )
            .give_up
        );
        let after_grace = start + Duration::from_secs(21);
        let last = assess(
            &names,
            vec![err_image_pull()],
            &BTreeMap::new(),
            &mut stuck_since,
            after_grace,
            grace,
        );
        assert!(last.give_up);
        assert_eq!(last.problems.len(), 1);
        assert_eq!(last.problems[0].reason, "ErrImagePull");
    }

    fn sandbox_event(pod: &str, message: &str) -> Event {
        serde_json::from_value(json!({
            "metadata": {"name": format!("{pod}.1879a2b3c4d5e6f7"), "namespace": "cnicheck-t0abcd1234"},
            "involvedObject": {"kind": "Pod", "name": pod, "namespace": "cnicheck-t0abcd1234"},
            "reason": "FailedCreatePodSandBox",
            "message": message,
            "type": "Warning",
            "count": 1,
            "lastTimestamp": "2026-11-22T03:10:04Z"
        }))
        .unwrap()
    }

    #[test]
    fn creating_pods_that_multus_cannot_attach_are_named_as_such() {
        let creating = pod(
            "client-0",
            Some("worker-1"),
            scheduled_status(
                "Pending",
                "False",
                json!({"state": {"waiting": {"reason": "ContainerCreating"}}}),
            ),
        );
        let master = "Failed to create pod sandbox: rpc error: code = Unknown desc = failed to setup network for sandbox \"5b3c\": plugin type=\"multus\" name=\"multus-cni-network\" failed (add): [cnicheck-t0abcd1234/client-0/3f1c:cnicheck-ipvlan]: error adding container to network \"cnicheck-ipvlan\": failed to lookup master \"eth9\": Link not found";
        let events = vec![
            sandbox_event("other-0", master),
            sandbox_event("client-0", "Failed to create pod sandbox: something else"),
            sandbox_event("client-0", master),
        ];
        let failures = recognised_sandbox_failures(&events);
        let names = vec!["client-0".to_string()];
        let assessment = assess(
            &names,
            vec![creating],
            &failures,
            &mut BTreeMap::new(),
            Instant::now(),
            Duration::from_secs(20),
        );
        assert!(assessment.give_up, "a missing master never appears");
        assert_eq!(
            assessment.problems[0].to_string(),
            "pod client-0 (worker-1): FailedCreatePodSandBox: Multus NAD cnicheck-ipvlan: master \
             interface eth9 not found on node worker-1; fix: set --multus-master (or the NAD's \
             `master`) to the nodes' secondary interface, as `ip link` on the node names it"
        );
        // A running pod's old sandbox events say nothing about it now.
        let running = assess(
            &names,
            vec![running_not_ready()],
            &failures,
            &mut BTreeMap::new(),
            Instant::now(),
            Duration::from_secs(20),
        );
        assert_eq!(running.problems[0].reason, "NotReady");
    }

    #[test]
    fn ready_pods_are_returned_and_missing_ones_fail() {
        let names = vec!["client-0".to_string(), "client-1".to_string()];
        let mut stuck_since = BTreeMap::new();
        let assessment = assess(
            &names,
            vec![ready()],
            &BTreeMap::new(),
            &mut stuck_since,
            Instant::now(),
            Duration::from_secs(20),
        );
        assert_eq!(assessment.ready.len(), 1);
        assert!(assessment.give_up);
        assert_eq!(assessment.problems[0].pod, "client-1");
        assert_eq!(assessment.problems[0].reason, "NotFound");
    }

    #[test]
    fn errors_list_every_pod() {
        let error = ClusterError::PodsNotReady {
            waited: Duration::from_secs(21),
            problems: vec![
                problem_of(classify(&crash_loop())),
                problem_of(classify(&unschedulable())),
            ],
        };
        let text = error.to_string();
        assert!(text.starts_with("2 pod(s) not ready after 21s:\n  pod server-1 (worker-2): CrashLoopBackOff: back-off 40s"), "{text}");
        assert!(
            text.contains("\n  pod far-0 (no node): Unschedulable: "),
            "{text}"
        );
    }

    #[test]
    fn endpoints_count_when_ready_or_unspecified() {
        let slice: EndpointSlice = serde_json::from_value(json!({
            "metadata": {"name": "server-abcde", "labels": {"kubernetes.io/service-name": "server"}},
            "addressType": "IPv4",
            "endpoints": [
                {"addresses": ["10.244.1.7"], "conditions": {"ready": true, "serving": true, "terminating": false},
                 "nodeName": "worker-1", "targetRef": {"kind": "Pod", "name": "server-0", "namespace": "cnicheck-t0abcd1234"}},
                {"addresses": ["10.244.2.9"], "conditions": {"ready": false, "serving": false, "terminating": false},
                 "targetRef": {"kind": "Pod", "name": "server-1", "namespace": "cnicheck-t0abcd1234"}},
                {"addresses": ["10.244.3.4"], "targetRef": {"kind": "Pod", "name": "server-2"}}
            ],
            "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]
        }))
        .unwrap();
        let ready = ready_endpoint_pods(&[slice]);
        assert_eq!(
            ready.into_iter().collect::<Vec<_>>(),
            vec!["server-0", "server-2"]
        );
    }
}
