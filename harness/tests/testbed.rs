//! The `cnicheck` binary against a real cluster: the testbed (`ci/testbed`), with its locally
//! built agent image and its outside world. Ignored by default; `ci/test` runs them with
//! `--ignored` once the testbed is up (`KUBECONFIG` pointing at it).
//!
//! Each test proves one promise: the built-in suites pass on a healthy cluster; a wrong
//! expectation fails with a readable message; a probe whose agent vanished is an error, never a
//! pass; a missing image is a setup error named within the timeout; a killed run is cleaned
//! up by `cnicheck cleanup`, and an interrupted one cleans up after itself. Cilium's scenarios
//! skip here (no Cilium agents) while their policies pass the dry-run preflight against the
//! installed CRDs, and a misspelled policy stops the run before anything is deployed.

use cnicheck::cluster::{self, labels};
use cnicheck::report::model::{RunReport, Verdict};
use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::api::{Api, DeleteParams, ListParams};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const AGENT_IMAGE: &str = "localhost/cnicheck-agent:dev";
const EXTERNAL_TARGET: &str = "http://outside.cnicheck.test/";

fn workdir(test: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("testbed")
        .join(test);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn cnicheck(dir: &Path, extra: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_cnicheck"));
    command.arg("run");
    if !extra.contains(&"--agent-image") {
        command.args(["--agent-image", AGENT_IMAGE, "--pull-policy", "never"]);
    }
    command
        .args([
            "--external-target",
            EXTERNAL_TARGET,
            "--setup-timeout",
            "90",
        ])
        .arg("--json")
        .arg(dir.join("report.json"))
        .arg("--junit")
        .arg(dir.join("junit.xml"))
        .arg("--artifacts")
        .arg(dir.join("artifacts"))
        .args(extra);
    command
}

fn run(dir: &Path, extra: &[&str]) -> (Output, RunReport) {
    let started = Instant::now();
    let output = cnicheck(dir, extra).output().expect("cnicheck runs");
    eprintln!(
        "cnicheck {extra:?}: exit {:?} in {:.1}s\n--- stderr ---\n{}",
        output.status.code(),
        started.elapsed().as_secs_f64(),
        String::from_utf8_lossy(&output.stderr)
    );
    let report = cnicheck::report::json::read(&dir.join("report.json")).expect("a JSON report");
    (output, report)
}

fn write_scenario(dir: &Path, name: &str, yaml: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, yaml).unwrap();
    path.display().to_string()
}

fn block_on<T>(future: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Runtime::new().unwrap().block_on(future)
}

/// Namespaces cnicheck made that still exist (Terminating ones included).
fn cnicheck_namespaces() -> Vec<String> {
    block_on(async {
        let client = cluster::connect(None, None).await.unwrap();
        Api::<Namespace>::all(client)
            .list(&ListParams::default().labels(&labels::managed_selector(None)))
            .await
            .unwrap()
            .items
            .into_iter()
            .filter_map(|namespace| namespace.metadata.name)
            .collect()
    })
}

fn wait_until(what: &str, timeout: Duration, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !condition() {
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn wait_for_exit(child: &mut Child, timeout: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "cnicheck did not exit within {timeout:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
#[ignore = "needs the testbed: run through ci/test"]
fn builtin_suites_pass_on_a_healthy_cluster() {
    let dir = workdir("builtin");
    let started = Instant::now();
    let (output, report) = run(&dir, &[]);
    let tally = report.tally();
    assert_eq!(output.status.code(), Some(0), "{tally:?}");
    assert_eq!((tally.failed, tally.errors, tally.setup_errors), (0, 0, 0));
    assert!(tally.passed > 20, "{tally:?}");
    let policy = report
        .scenarios
        .iter()
        .find(|s| s.name == "network-policy")
        .unwrap();
    assert!(policy.skipped.is_none() && !policy.probes.is_empty());
    assert!(
        cnicheck_namespaces().is_empty(),
        "the run left namespaces behind"
    );
    eprintln!(
        "built-in suites: {tally:?} in {:.1}s",
        started.elapsed().as_secs_f64()
    );

    let schema = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/junit-10.xsd");
    let xmllint = Command::new("xmllint")
        .arg("--noout")
        .arg("--schema")
        .arg(schema)
        .arg(dir.join("junit.xml"))
        .output()
        .expect("xmllint (libxml2-utils) is installed");
    assert!(
        xmllint.status.success(),
        "{}",
        String::from_utf8_lossy(&xmllint.stderr)
    );
}

#[test]
#[ignore = "needs the testbed: run through ci/test"]
fn a_policy_that_blocks_an_expected_connection_fails_clearly() {
    let dir = workdir("wrong-expectation");
    std::fs::write(
        dir.join("deny.yaml"),
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: deny-all}\n\
         spec: {podSelector: {}, policyTypes: [Ingress]}\n",
    )
    .unwrap();
    let scenario = write_scenario(
        &dir,
        "wrong.yaml",
        "name: wrong-expectation\nworkloads:\n  - name: client\n  - name: server\n    replicas: 2\n\
         phases:\n  - name: deny-all\n    apply: [deny.yaml]\n    probes:\n      - from: client\n\
         \x20       to: pod:server\n        protocol: http\n        expect: allowed\n",
    );
    let (output, report) = run(&dir, &["-f", &scenario, "--propagation-timeout", "10"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(100), "probe failures exit 100");
    let probes = &report.scenarios[0].probes;
    assert_eq!(probes.len(), 2);
    assert!(
        probes.iter().all(|probe| probe.verdict == Verdict::Fail),
        "{probes:#?}"
    );
    for needle in [
        "expected",
        "allowed",
        "client-0",
        "server-0",
        "kubectl -n",
        "agent probe",
    ] {
        assert!(
            stderr.contains(needle),
            "the failure message lacks `{needle}`"
        );
    }
}

#[test]
#[ignore = "needs the testbed: run through ci/test"]
fn cilium_scenarios_skip_with_a_reason_and_their_policies_pass_dry_run() {
    let dir = workdir("cilium-skip");
    let (output, report) = run(&dir, &["--group", "cilium-policy"]);
    assert_eq!(output.status.code(), Some(4), "nothing ran: exit 4");
    assert_eq!(report.scenarios.len(), 6);
    for scenario in &report.scenarios {
        let reason = scenario.skipped.as_deref().unwrap_or_default();
        assert!(
            reason.starts_with("needs Cilium"),
            "{}: {reason:?}",
            scenario.name
        );
    }
    let kinds: Vec<&str> = report
        .preflight
        .iter()
        .map(|check| check.object.split('/').next().unwrap())
        .collect();
    assert!(
        kinds.contains(&"CiliumNetworkPolicy") && kinds.contains(&"CiliumClusterwideNetworkPolicy")
    );
    for check in &report.preflight {
        assert_eq!(check.verdict, Verdict::Pass, "{check:#?}");
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!(
            "preflight: server-side dry run of {} objects: {0} accepted",
            report.preflight.len()
        )),
        "{stderr}"
    );
    let junit = std::fs::read_to_string(dir.join("junit.xml")).unwrap();
    assert!(junit.contains(
        r#"<testcase name="preflight::dry-run::builtin/manifests/ccnp-deny-locked-zone.yaml::CiliumClusterwideNetworkPolicy/deny-locked-zone" classname="preflight"/>"#
    ), "{junit}");
    assert!(
        cnicheck_namespaces().is_empty(),
        "the preflight left its namespace"
    );
}

#[test]
#[ignore = "needs the testbed: run through ci/test"]
fn a_misspelled_cilium_policy_fails_before_anything_is_deployed() {
    let dir = workdir("cilium-typo");
    std::fs::write(
        dir.join("typo.yaml"),
        "apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: typo}\n\
         spec:\n  endpointSelector: {}\n  ingress:\n    - fromEndpoint: [{matchLabels: {a: b}}]\n",
    )
    .unwrap();
    let scenario = write_scenario(
        &dir,
        "typo-scenario.yaml",
        "name: cilium-typo\nworkloads:\n  - name: server\nphases:\n  - name: typo\n\
         \x20   apply: [typo.yaml]\n    probes:\n      - {from: server, to: pod:server, \
         protocol: http, expect: allowed}\n",
    );
    let (output, report) = run(&dir, &["-f", &scenario]);
    assert_eq!(output.status.code(), Some(1), "a rejected manifest exits 1");
    assert!(report.scenarios.is_empty(), "nothing was deployed");
    let [check] = report.preflight.as_slice() else {
        panic!("{:#?}", report.preflight)
    };
    assert_eq!(check.verdict, Verdict::Fail);
    assert!(check.file.ends_with("typo.yaml"), "{check:#?}");
    assert_eq!(check.object, "CiliumNetworkPolicy/typo");
    let message = check.message.as_deref().unwrap_or_default();
    assert!(
        message.contains(".spec.ingress[0].fromEndpoint: field not declared in schema"),
        "{message}"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("nothing was deployed"), "{stderr}");
    assert!(
        cnicheck_namespaces().is_empty(),
        "the preflight left its namespace"
    );
}

#[test]
#[ignore = "needs the testbed: run through ci/test"]
fn probes_of_an_agent_deleted_mid_run_are_errors_not_passes() {
    let dir = workdir("agent-deleted");
    // Port 9 of the outside world drops: the probe is in flight for its whole timeout.
    let scenario = write_scenario(
        &dir,
        "victim.yaml",
        "name: agent-deleted\nrequires: {external-target: true}\nworkloads:\n  - name: victim\n\
         phases:\n  - name: slow\n    probes:\n      - from: victim\n        to: external\n\
         \x20       protocol: tcp\n        port: 9\n        expect: dropped\n        timeout: 40\n",
    );
    let mut child = cnicheck(&dir, &["-f", &scenario])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let deleted = block_on(async {
        let client = cluster::connect(None, None).await.unwrap();
        let pods = Api::<Pod>::all(client.clone());
        let selector = format!("{}=victim", labels::WORKLOAD);
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            assert!(
                Instant::now() < deadline,
                "the victim pod never became ready"
            );
            let list = pods
                .list(&ListParams::default().labels(&selector))
                .await
                .unwrap();
            let ready = list.items.iter().find(|pod| {
                pod.status
                    .as_ref()
                    .and_then(|s| s.conditions.as_ref())
                    .is_some_and(|conditions| {
                        conditions
                            .iter()
                            .any(|c| c.type_ == "Ready" && c.status == "True")
                    })
            });
            if let Some(pod) = ready {
                // Give the runner time to start the probe batch, then pull the agent away.
                tokio::time::sleep(Duration::from_secs(8)).await;
                let namespace = pod.metadata.namespace.clone().unwrap();
                let name = pod.metadata.name.clone().unwrap();
                Api::<Pod>::namespaced(client, &namespace)
                    .delete(
                        &name,
                        &DeleteParams {
                            grace_period_seconds: Some(0),
                            ..Default::default()
                        },
                    )
                    .await
                    .unwrap();
                break name;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    });
    let status = wait_for_exit(&mut child, Duration::from_secs(180));
    let report = cnicheck::report::json::read(&dir.join("report.json")).unwrap();
    let probes = &report.scenarios[0].probes;
    eprintln!("deleted {deleted}; probes: {probes:#?}");
    assert_eq!(status.code(), Some(102), "errors without failures exit 102");
    assert!(!probes.is_empty());
    assert!(
        probes.iter().all(|probe| probe.verdict == Verdict::Error),
        "a vanished agent must never pass"
    );
}

#[test]
#[ignore = "needs the testbed: run through ci/test"]
fn an_image_that_cannot_be_pulled_is_a_setup_error_naming_pod_and_reason() {
    let dir = workdir("missing-image");
    let started = Instant::now();
    let (output, report) = run(
        &dir,
        &[
            "--group",
            "connectivity",
            "--agent-image",
            "localhost/cnicheck-no-such-image:1",
            "--pull-policy",
            "if-not-present",
        ],
    );
    let elapsed = started.elapsed();
    assert_eq!(output.status.code(), Some(102));
    assert!(
        elapsed < Duration::from_secs(90),
        "took {elapsed:?}: stuck images must fail fast"
    );
    for scenario in &report.scenarios {
        let error = scenario
            .setup_error
            .as_deref()
            .unwrap_or_else(|| panic!("{} has no setup error", scenario.name));
        assert!(
            error.contains("client-0") || error.contains("server-0"),
            "no pod named: {error}"
        );
        assert!(
            error.contains("ErrImagePull") || error.contains("ImagePullBackOff"),
            "no reason: {error}"
        );
    }
    assert!(
        cnicheck_namespaces().is_empty(),
        "setup errors must still clean up"
    );
}

/// Starts a run of the connectivity group and returns once its namespaces exist.
fn start_connectivity_run(dir: &Path) -> Child {
    let child = cnicheck(dir, &["--group", "connectivity"])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    wait_until("the run's namespaces", Duration::from_secs(60), || {
        !cnicheck_namespaces().is_empty()
    });
    child
}

#[test]
#[ignore = "needs the testbed: run through ci/test"]
fn a_killed_run_is_removed_by_cleanup() {
    let dir = workdir("killed");
    let mut child = start_connectivity_run(&dir);
    child.kill().unwrap();
    let _ = child.wait();
    assert!(
        !cnicheck_namespaces().is_empty(),
        "SIGKILL gives no chance to clean up"
    );
    let cleanup = Command::new(env!("CARGO_BIN_EXE_cnicheck"))
        .arg("cleanup")
        .output()
        .unwrap();
    eprintln!("{}", String::from_utf8_lossy(&cleanup.stderr));
    assert!(cleanup.status.success());
    assert!(
        cnicheck_namespaces().is_empty(),
        "cleanup left: {:?}",
        cnicheck_namespaces()
    );
}

#[test]
#[ignore = "needs the testbed: run through ci/test"]
fn an_interrupted_run_cleans_up_after_itself() {
    let dir = workdir("interrupted");
    let mut child = start_connectivity_run(&dir);
    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = wait_for_exit(&mut child, Duration::from_secs(180));
    assert_eq!(status.code(), Some(143), "SIGTERM exits 143");
    assert!(
        cnicheck_namespaces().is_empty(),
        "left behind: {:?}",
        cnicheck_namespaces()
    );
}
