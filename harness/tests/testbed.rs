//! The `cnicheck` binary against a real cluster: the testbed (`ci/testbed`), with its locally
//! built agent image and its outside world. Ignored by default; `ci/test` runs them with
//! `--ignored` once the testbed is up (`KUBECONFIG` pointing at it).
//!
//! Each test proves one promise: the built-in suites pass on a healthy cluster; a wrong
//! expectation fails with a readable message; a probe whose agent vanished is an error, never a
//! pass; a missing image is a setup error named within the timeout; a Multus NAD whose master
//! interface is missing or whose range is too small is named as such; node ports pass between
//! every ordered pair of nodes and a blocked one fails exactly in its direction; Cilium's
//! scenarios skip here (no Cilium agents) while their policies pass the dry-run preflight
//! against the installed CRDs, and a misspelled policy stops the run before anything is
//! deployed; a killed run is cleaned up by `cnicheck cleanup`, and an interrupted one cleans up
//! after itself; `cnicheck diff` names exactly the cells that regressed; the documented RBAC
//! role is all a run needs.

use cnicheck::cluster::{self, labels};
use cnicheck::report::model::{RunReport, Verdict};
use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::{Namespace, Pod, Secret, ServiceAccount};
use kube::api::{
    Api, DeleteParams, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams, PostParams,
};
use kube::{Client, ResourceExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The agent image imported into the testbed: `$CNICHECK_AGENT_IMAGE` (what `ci/test` sets),
/// else what `ci/testbed/agent-image` builds by default.
fn agent_image() -> String {
    std::env::var("CNICHECK_AGENT_IMAGE").unwrap_or_else(|_| "localhost/cnicheck-agent:dev".into())
}
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
        command.args(["--agent-image", &agent_image(), "--pull-policy", "never"]);
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
        let client = cluster::connect(None, None, cluster::DEFAULT_API_TIMEOUT)
            .await
            .unwrap()
            .client;
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
    // The two-node testbed runs everything but what needs an external component it lacks.
    for name in ["network-policy", "cross-node", "node-ports", "multus"] {
        let scenario = report.scenarios.iter().find(|s| s.name == name).unwrap();
        assert!(
            scenario.skipped.is_none() && !scenario.probes.is_empty(),
            "{name} did not run: {:?}",
            scenario.skipped
        );
    }
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
    // Kept, so that its reproduce commands can be pasted; given the kubeconfig by flag, which
    // those commands must carry.
    let kubeconfig = std::env::var("KUBECONFIG").expect("ci/test sets KUBECONFIG");
    let (output, report) = run(
        &dir,
        &[
            "-f",
            &scenario,
            "--propagation-timeout",
            "10",
            "--keep",
            "--kubeconfig",
            &kubeconfig,
        ],
    );
    let kept = KeptRun::of(&report);
    // kube-router rejects what its policies deny; Cilium drops it.
    let denied = match testbed_cni() {
        TestbedCni::KubeRouter => "refused",
        TestbedCni::Cilium => "timeout",
    };
    let observed = format!("observed:  {denied}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(100), "probe failures exit 100");
    let probes = &report.scenarios[0].probes;
    assert_eq!(probes.len(), 2);
    assert!(
        probes.iter().all(|probe| probe.verdict == Verdict::Fail),
        "{probes:#?}"
    );
    for needle in [
        // The truth tables: rows from, columns to, every cell wrong.
        "Matrix wrong-expectation / deny-all: http/8080: 2 of 2 cells wrong",
        "  expected:\n",
        "  observed:\n",
        "  diff:\n",
        "  !  !\n",
        // A block per wrong cell.
        "expected:  allowed",
        observed.as_str(),
        "client-0",
        "server-0",
        "kubectl --kubeconfig",
        "agent probe",
    ] {
        assert!(
            stderr.contains(needle),
            "the failure message lacks `{needle}`"
        );
    }
    // Pasted into a shell whose environment names no cluster, the command observes again what
    // the run observed.
    let answer = paste(&probes[0].reproduce, &["KUBECONFIG"]);
    assert!(
        answer.contains(&format!(r#""outcome":"{denied}""#)),
        "the run observed {}, the reproduce command: {answer}",
        probes[0].observed
    );
    drop(kept);
}

/// Runs a reproduce command as a user pastes it into the shell that ran cnicheck, less the
/// environment variables `unset`, and returns what it printed.
fn paste(command: &str, unset: &[&str]) -> String {
    let mut shell = Command::new("sh");
    shell.args(["-c", command]).env("PATH", testbed_path());
    for variable in unset {
        shell.env_remove(variable);
    }
    let output = shell.output().unwrap();
    assert!(
        output.status.success(),
        "{command}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// `$PATH` with the testbed's kubectl first (`ci/testbed/up` links it there).
fn testbed_path() -> String {
    let path = std::env::var("PATH").unwrap_or_default();
    format!("/var/lib/cnicheck-testbed/bin:{path}")
}

/// The testbed's kubectl, with the environment's kubeconfig (what `ci/test` sets).
fn testbed_kubectl() -> Command {
    let mut kubectl = Command::new("kubectl");
    kubectl.env("PATH", testbed_path());
    kubectl
}

/// A run made with `--keep`, removed by `cnicheck cleanup --run` when this is dropped.
struct KeptRun(String);

impl KeptRun {
    fn of(report: &RunReport) -> Self {
        assert!(report.kept_namespaces, "the run was made with --keep");
        KeptRun(report.run_id.clone())
    }
}

impl Drop for KeptRun {
    fn drop(&mut self) {
        let cleanup = Command::new(env!("CARGO_BIN_EXE_cnicheck"))
            .args(["cleanup", "--run", &self.0])
            .status();
        let removed = cleanup.is_ok_and(|status| status.success());
        // A second panic while a failed assertion unwinds would abort the test binary.
        if !removed && !std::thread::panicking() {
            panic!("cnicheck cleanup --run {} failed", self.0);
        }
    }
}

#[test]
#[ignore = "needs the testbed: run through ci/test"]
fn cilium_scenarios_skip_with_a_reason_and_their_policies_pass_dry_run() {
    if !on_testbed(TestbedCni::KubeRouter, "cilium scenarios without Cilium") {
        return;
    }
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
        let client = cluster::connect(None, None, cluster::DEFAULT_API_TIMEOUT)
            .await
            .unwrap()
            .client;
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
fn a_kubeconfig_list_in_the_environment_is_merged_as_kubectl_does() {
    let dir = workdir("kubeconfig-list");
    let admin = std::env::var("KUBECONFIG").expect("KUBECONFIG names the testbed's");
    let other = dir.join("other.kubeconfig");
    std::fs::write(
        &other,
        "apiVersion: v1\nkind: Config\nclusters:\n- name: elsewhere\n  cluster: {server: https://127.0.0.1:1}\n\
         users:\n- name: nobody\n  user: {token: none}\ncontexts:\n- name: elsewhere\n  context: {cluster: elsewhere, user: nobody}\n",
    )
    .unwrap();
    let cleanup = Command::new(env!("CARGO_BIN_EXE_cnicheck"))
        .arg("cleanup")
        .env("KUBECONFIG", format!("{admin}:{}", other.display()))
        .output()
        .unwrap();
    assert!(
        cleanup.status.success(),
        "the first file's current context wins: {}",
        String::from_utf8_lossy(&cleanup.stderr)
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

/// The CNI the testbed runs (`ci/testbed/up --cni`): what a test observes of the CNI's own
/// behaviour (how a denied connection ends, the tunnel port, Cilium's checks) depends on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TestbedCni {
    KubeRouter,
    Cilium,
}

fn testbed_cni() -> TestbedCni {
    let state = "/var/lib/cnicheck-testbed/cni";
    match std::fs::read_to_string(state).as_deref().map(str::trim) {
        Ok("cilium") => TestbedCni::Cilium,
        Ok("kube-router") => TestbedCni::KubeRouter,
        other => panic!("{state} names no testbed CNI ({other:?}): is the testbed up?"),
    }
}

/// The overlay port the node-port suite checks on this testbed: Cilium's VXLAN (its
/// `cilium-config`), or, without Cilium, GENEVE, the default.
fn tunnel_path() -> &'static str {
    match testbed_cni() {
        TestbedCni::Cilium => "udp/8472",
        TestbedCni::KubeRouter => "udp/6081",
    }
}

/// Whether the testbed that is up runs `cni`, which `test` needs; says so when it does not.
/// `ci/test` brings up the Cilium testbed; the kube-router one (`ci/testbed/up`) runs the rest.
fn on_testbed(cni: TestbedCni, test: &str) -> bool {
    let up = testbed_cni();
    if up != cni {
        eprintln!("{test}: not run here: it needs the {cni:?} testbed, and the {up:?} one is up");
    }
    up == cni
}

/// The testbed's node N: its name and address (ci/testbed/lib/common.sh).
fn testbed_node(n: u32) -> (String, String) {
    (format!("testbed-node{n}"), format!("10.201.0.{}", 10 + n))
}

/// Blocks traffic between testbed nodes with `ci/testbed/firewall`; every block goes away when
/// this is dropped, so a failing test leaves a healthy testbed behind.
struct Firewall;

impl Firewall {
    fn run(args: &[&str]) {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../ci/testbed/firewall");
        let status = Command::new(script)
            .args(args)
            .status()
            .expect("ci/testbed/firewall runs");
        assert!(status.success(), "ci/testbed/firewall {args:?} failed");
    }

    fn block(&self, from: u32, to: u32, what: &str) {
        Firewall::run(&["block", &from.to_string(), &to.to_string(), what]);
    }
}

impl Drop for Firewall {
    fn drop(&mut self) {
        Firewall::run(&["clear"]);
    }
}

/// (protocol and port as in messages, source node, destination node) of a node-port probe.
fn node_port_path(probe: &cnicheck::report::model::ProbeReport) -> (String, String, String) {
    let path = match probe.port {
        Some(port) => format!("{}/{port}", probe.protocol),
        None => probe.protocol.clone(),
    };
    let from = probe
        .from
        .rsplit(" on ")
        .next()
        .unwrap_or_default()
        .to_string();
    let to_address = probe
        .target_address
        .split([':', ' '])
        .next()
        .unwrap_or_default();
    let to = (1..=2)
        .map(testbed_node)
        .find(|(_, address)| address == to_address)
        .map(|(name, _)| name)
        .unwrap_or_else(|| panic!("{} is not a testbed node", probe.target_address));
    (path, from, to)
}

#[test]
#[ignore = "needs the testbed: run through ci/test"]
fn node_ports_pass_between_every_ordered_pair_of_nodes() {
    let dir = workdir("node-ports");
    let (output, report) = run(&dir, &["--group", "node-ports"]);
    assert_eq!(output.status.code(), Some(0));
    let probes = &report.scenarios[0].probes;
    let mut paths: Vec<_> = probes.iter().map(node_port_path).collect();
    paths.sort();
    let (node1, node2) = (testbed_node(1).0, testbed_node(2).0);
    let mut expected = Vec::new();
    for path in ["icmp", "tcp/4240", tunnel_path()] {
        expected.push((path.to_string(), node1.clone(), node2.clone()));
        expected.push((path.to_string(), node2.clone(), node1.clone()));
    }
    expected.sort();
    assert_eq!(
        paths, expected,
        "every ordered pair of distinct nodes, each port once"
    );
    assert!(probes.iter().all(|probe| probe.verdict == Verdict::Pass));
    let udp = probes.iter().find(|probe| probe.protocol == "udp").unwrap();
    assert_eq!(
        udp.observed, "udp received",
        "UDP passes only on the receiver's word"
    );
}

#[test]
#[ignore = "needs the testbed: run through ci/test"]
fn a_blocked_node_port_is_reported_exactly_in_its_direction() {
    let firewall = Firewall;
    let cases = [tunnel_path(), "tcp/4240", "icmp"]
        .into_iter()
        .flat_map(|what| [(what, 1, 2), (what, 2, 1)]);
    for (what, from, to) in cases {
        let dir = workdir(&format!(
            "node-port-fault-{}-{from}-{to}",
            what.replace('/', "-")
        ));
        firewall.block(from, to, what);
        let (output, report) = run(
            &dir,
            &[
                "--group",
                "node-ports",
                "--propagation-timeout",
                "5",
                "--keep",
            ],
        );
        let kept = KeptRun::of(&report);
        let failed_reproduce = report.scenarios[0]
            .probes
            .iter()
            .find(|probe| probe.verdict != Verdict::Pass)
            .map(|probe| probe.reproduce.clone())
            .unwrap_or_default();
        let while_blocked = paste(&failed_reproduce, &[]);
        Firewall::run(&["unblock", &from.to_string(), &to.to_string(), what]);
        let once_unblocked = paste(&failed_reproduce, &[]);
        drop(kept);
        assert!(
            while_blocked.contains(r#""outcome":"timeout""#)
                && !once_unblocked.contains(r#""outcome":"timeout""#),
            "{what} {from}->{to}: the reproduce command observes the block, and its removal \
             ({failed_reproduce}): blocked {while_blocked}, unblocked {once_unblocked}"
        );
        if what.starts_with("udp") {
            assert!(
                once_unblocked.contains(r#""outcome":"udp-received""#),
                "UDP is confirmed by the receiver in the reproduce command too: {once_unblocked}"
            );
        }
        assert_eq!(
            output.status.code(),
            Some(100),
            "{what} {from}->{to}: probe failures exit 100"
        );
        let failed: Vec<_> = report.scenarios[0]
            .probes
            .iter()
            .filter(|probe| probe.verdict != Verdict::Pass)
            .collect();
        let (from_node, to_node) = (testbed_node(from).0, testbed_node(to).0);
        assert_eq!(
            failed
                .iter()
                .map(|probe| node_port_path(probe))
                .collect::<Vec<_>>(),
            [(what.to_string(), from_node.clone(), to_node.clone())],
            "only the blocked path, in the blocked direction, fails"
        );
        assert_eq!(
            failed[0].verdict,
            Verdict::Fail,
            "a blocked port is a failure, not an error"
        );
        let message = failed[0].message.as_deref().unwrap_or_default();
        for needed in [what, &from_node, &to_node, "firewall between the nodes"] {
            assert!(
                message.contains(needed),
                "{needed:?} missing from: {message}"
            );
        }
    }
}

#[test]
#[ignore = "needs the testbed: run through ci/test"]
fn the_cilium_group_skips_without_cilium_but_an_expected_image_fails() {
    if !on_testbed(TestbedCni::KubeRouter, "the cilium group without Cilium") {
        return;
    }
    // The testbed runs no Cilium: the check does not apply, and says why.
    let dir = workdir("cilium-absent");
    let (output, report) = run(&dir, &["--group", "cilium"]);
    assert_eq!(output.status.code(), Some(4), "nothing was checked");
    let cilium = &report.scenarios[0];
    assert_eq!(cilium.name, "cilium");
    let reason = cilium.skipped.as_deref().unwrap_or_default();
    assert!(
        reason
            .starts_with("needs Cilium: no DaemonSet cilium in any namespace (the cluster's CNI: "),
        "{reason}"
    );
    assert!(report.cluster.cilium.is_none());
    let junit = std::fs::read_to_string(dir.join("junit.xml")).unwrap();
    assert!(
        junit.contains(r#"<testcase name="cilium::requires" classname="cilium">"#),
        "{junit}"
    );

    // A vendor gating on its build gets a failure, never a pass or a quiet skip.
    let dir = workdir("cilium-expected");
    let image = "public.ecr.aws/eks/cilium/cilium:v1.17.6-0";
    let (output, report) = run(&dir, &["--group", "cilium", "--expect-cilium-image", image]);
    assert_eq!(output.status.code(), Some(100));
    let results = &report.scenarios[0].probes;
    let image_result = results
        .iter()
        .find(|result| result.name == "cilium::agent::image")
        .expect("the image test ran");
    assert_eq!(image_result.verdict, Verdict::Fail);
    assert_eq!(image_result.expected, image);
    assert!(
        results
            .iter()
            .filter(|result| result.name != "cilium::agent::image")
            .all(|result| result.verdict == Verdict::Skip),
        "{results:#?}"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("FAIL cilium::agent::image")
            && stderr.contains("the cluster runs no Cilium"),
        "{stderr}"
    );

    // An expectation no selected test checks is refused before anything runs.
    let dir = workdir("cilium-unchecked");
    let output = cnicheck(
        &dir,
        &[
            "--group",
            "connectivity",
            "--expect-cilium-operator-image",
            image,
        ],
    )
    .output()
    .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains(
            "--expect-cilium-operator-image is checked by the test cilium::operator::image"
        ),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(!dir.join("report.json").exists());
}

/// A stand-in for Cilium: a DaemonSet `cilium` and a Deployment `cilium-operator` with
/// Cilium's labels and container names, running the agent image, in a namespace of cnicheck's
/// (so `cnicheck cleanup` would remove a leftover). Its agents have no `cilium-health`.
/// Removed on drop.
struct StandInCilium {
    namespace: String,
}

impl StandInCilium {
    fn deploy() -> Self {
        let run = cluster::RunId::generate();
        let namespace = format!("{}-cilium", run.namespace());
        let pod_spec = |container: &str| {
            serde_json::json!({
                "containers": [{
                    "name": container,
                    "image": agent_image(),
                    "imagePullPolicy": "Never",
                    "command": ["/cnicheck", "agent", "serve"],
                }],
                "terminationGracePeriodSeconds": 0,
            })
        };
        let daemonset: k8s_openapi::api::apps::v1::DaemonSet =
            serde_json::from_value(serde_json::json!({
                "metadata": {"name": "cilium", "labels": {"k8s-app": "cilium"}},
                "spec": {
                    "selector": {"matchLabels": {"k8s-app": "cilium"}},
                    "template": {
                        "metadata": {"labels": {"k8s-app": "cilium"}},
                        "spec": pod_spec("cilium-agent"),
                    },
                },
            }))
            .unwrap();
        let operator_labels =
            serde_json::json!({"io.cilium/app": "operator", "name": "cilium-operator"});
        let deployment: k8s_openapi::api::apps::v1::Deployment =
            serde_json::from_value(serde_json::json!({
                "metadata": {"name": "cilium-operator"},
                "spec": {
                    "replicas": 1,
                    "selector": {"matchLabels": operator_labels},
                    "template": {
                        "metadata": {"labels": operator_labels},
                        "spec": pod_spec("cilium-operator"),
                    },
                },
            }))
            .unwrap();
        block_on(async {
            let client = cluster::connect(None, None, cluster::DEFAULT_API_TIMEOUT)
                .await
                .unwrap()
                .client;
            cluster::create_namespace(&client, &namespace, &run, &Default::default())
                .await
                .unwrap();
            let params = kube::api::PostParams::default();
            Api::namespaced(client.clone(), &namespace)
                .create(&params, &daemonset)
                .await
                .unwrap();
            Api::namespaced(client, &namespace)
                .create(&params, &deployment)
                .await
                .unwrap();
        });
        StandInCilium { namespace }
    }

    /// Waits until every pod of both is ready.
    fn wait_ready(&self) {
        wait_until(
            "the stand-in Cilium to be ready",
            Duration::from_secs(90),
            || {
                block_on(async {
                    let client = cluster::connect(None, None, cluster::DEFAULT_API_TIMEOUT)
                        .await
                        .unwrap()
                        .client;
                    let cilium = cluster::find_cilium(&client).await.unwrap().unwrap();
                    let operator = cilium.operator.unwrap();
                    cilium.agent.desired > 0
                        && cilium.agent.ready == cilium.agent.desired
                        && operator.ready == operator.desired
                })
            },
        );
    }
}

impl Drop for StandInCilium {
    fn drop(&mut self) {
        block_on(async {
            let client = cluster::connect(None, None, cluster::DEFAULT_API_TIMEOUT)
                .await
                .unwrap()
                .client;
            if let Err(error) =
                cluster::delete_namespace(&client, &self.namespace, Duration::from_secs(120)).await
            {
                eprintln!("could not delete {}: {error}", self.namespace);
            }
        });
    }
}

#[test]
#[ignore = "needs the testbed: run through ci/test"]
fn a_cilium_look_alike_is_inspected_and_its_missing_cilium_health_is_an_error() {
    let stand_in = StandInCilium::deploy();
    stand_in.wait_ready();
    let dir = workdir("cilium-stand-in");
    let image = agent_image();
    let (output, report) = run(
        &dir,
        &[
            "--group",
            "cilium",
            "--expect-cilium-image",
            &image,
            "--expect-cilium-operator-image",
            &image,
        ],
    );
    let cilium = report.cluster.cilium.as_ref().expect("Cilium found");
    assert_eq!(cilium.namespace, stand_in.namespace);
    assert_eq!(cilium.agent.ready, cilium.agent.desired);
    assert_eq!(cilium.agent.images, std::slice::from_ref(&image));
    let results = &report.scenarios[0].probes;
    let verdict_of = |prefix: &str| -> Vec<Verdict> {
        results
            .iter()
            .filter(|result| result.name.starts_with(prefix))
            .map(|result| result.verdict)
            .collect()
    };
    assert_eq!(verdict_of("cilium::agent::ready"), [Verdict::Pass]);
    assert_eq!(verdict_of("cilium::operator::ready"), [Verdict::Pass]);
    let agents = verdict_of("cilium::agent::image [");
    assert_eq!(agents.len(), cilium.agent.desired as usize);
    assert!(
        agents.iter().all(|verdict| *verdict == Verdict::Pass),
        "{results:#?}"
    );
    assert_eq!(verdict_of("cilium::operator::image ["), [Verdict::Pass]);
    // No cilium-health in these agents: every health result is an error, never a pass.
    let health: Vec<_> = results
        .iter()
        .filter(|result| result.name.starts_with("cilium::health::"))
        .collect();
    assert!(!health.is_empty());
    assert!(
        health
            .iter()
            .all(|result| result.verdict == Verdict::Error && result.observed == "could not run"),
        "{health:#?}"
    );
    assert_eq!(output.status.code(), Some(102), "errors without failures");

    // Another tag than the one running fails, per pod.
    another_tag_fails_on_every_agent(
        "cilium-stand-in-mismatch",
        "localhost/cnicheck-agent:other",
        cilium.agent.desired as usize,
        "another tag: expected other, runs dev",
    );
}

/// Runs the cilium group expecting `image`, another tag than the agents run: the image test
/// fails on each of the `agents` pods, with `message` at the end of each failure.
fn another_tag_fails_on_every_agent(test: &str, image: &str, agents: usize, message: &str) {
    let dir = workdir(test);
    let (output, report) = run(
        &dir,
        &[
            "--group",
            "cilium",
            "--skip",
            "cilium::health",
            "--expect-cilium-image",
            image,
        ],
    );
    assert_eq!(output.status.code(), Some(100));
    let failed: Vec<_> = report.scenarios[0]
        .probes
        .iter()
        .filter(|result| result.verdict == Verdict::Fail)
        .collect();
    assert_eq!(failed.len(), agents, "{failed:#?}");
    for result in failed {
        assert!(
            result
                .message
                .as_deref()
                .unwrap_or_default()
                .ends_with(message),
            "{result:#?}"
        );
    }
}

/// The images `ci/testbed/up --cni cilium` builds and runs (lib/cilium.sh).
const TESTBED_CILIUM_IMAGE: &str = "localhost/cnicheck-testbed/cilium:v1.17.6";
const TESTBED_OPERATOR_IMAGE: &str = "localhost/cnicheck-testbed/operator-generic:v1.17.6";

#[test]
#[ignore = "needs the testbed: run through ci/test"]
fn real_cilium_passes_its_checks_and_another_image_fails_on_every_agent() {
    if !on_testbed(TestbedCni::Cilium, "the cilium group on real agents") {
        return;
    }
    let dir = workdir("cilium-real");
    let (output, report) = run(
        &dir,
        &[
            "--group",
            "cilium",
            "--expect-cilium-image",
            TESTBED_CILIUM_IMAGE,
            "--expect-cilium-operator-image",
            TESTBED_OPERATOR_IMAGE,
        ],
    );
    let cilium = report.cluster.cilium.as_ref().expect("Cilium found");
    assert_eq!(cilium.namespace, "kube-system");
    assert_eq!((cilium.agent.desired, cilium.agent.ready), (2, 2));
    assert_eq!(cilium.agent.versions, ["v1.17.6"]);
    let results = &report.scenarios[0].probes;
    assert!(
        results.iter().all(|result| result.verdict == Verdict::Pass),
        "{results:#?}"
    );
    assert_eq!(output.status.code(), Some(0));
    let (node1, node2) = (testbed_node(1).0, testbed_node(2).0);
    for kind in [
        "node->node:icmp",
        "node->node:http/4240",
        "node->endpoint:icmp",
        "node->endpoint:http/4240",
    ] {
        for (from, to) in [(&node1, &node2), (&node2, &node1)] {
            let name = format!("cilium::health::{kind} [{from} -> {to}");
            assert!(
                results.iter().any(|result| result.name.starts_with(&name)),
                "no {name}: {:#?}",
                results
                    .iter()
                    .map(|result| &result.name)
                    .collect::<Vec<_>>()
            );
        }
    }
    let images = results
        .iter()
        .filter(|result| result.name.starts_with("cilium::agent::image ["))
        .count();
    assert_eq!(images, 2, "the image is checked on every agent pod");

    // Another tag than the one running fails, on every agent pod.
    another_tag_fails_on_every_agent(
        "cilium-real-mismatch",
        "localhost/cnicheck-testbed/cilium:v1.17.5",
        2,
        "another tag: expected v1.17.5, runs v1.17.6",
    );
}

#[test]
#[ignore = "needs the testbed: run through ci/test"]
fn cilium_policies_are_enforced_by_real_agents_and_l7_is_skipped_without_envoy() {
    if !on_testbed(TestbedCni::Cilium, "Cilium policies on real agents") {
        return;
    }
    let dir = workdir("cilium-policy-real");
    let (output, report) = run(&dir, &["--group", "cilium-policy"]);
    assert_eq!(output.status.code(), Some(0), "{:?}", report.tally());
    assert_eq!(report.scenarios.len(), 6);
    for scenario in &report.scenarios {
        if scenario.name == "cilium-l7-http" {
            let reason = scenario.skipped.as_deref().unwrap_or_default();
            assert!(
                reason.starts_with("needs Cilium's L7 proxy (Envoy) to enforce L7 policies: ")
                    && reason.contains("has no cilium-envoy"),
                "{reason}"
            );
            continue;
        }
        assert!(
            scenario.skipped.is_none() && !scenario.probes.is_empty(),
            "{} did not run: {:?}",
            scenario.name,
            scenario.skipped
        );
        for probe in &scenario.probes {
            assert_eq!(probe.verdict, Verdict::Pass, "{probe:#?}");
        }
    }
    let denied = report
        .scenarios
        .iter()
        .flat_map(|scenario| &scenario.probes)
        .filter(|probe| probe.expected_reach == cnicheck::report::model::Reach::Blocked)
        .count();
    assert!(
        denied > 5,
        "the policies deny something: {denied} blocked cells"
    );
}

/// The Cilium agent pod on node N.
fn cilium_agent_pod(node: u32) -> String {
    let (name, _) = testbed_node(node);
    block_on(async {
        let client = cluster::connect(None, None, cluster::DEFAULT_API_TIMEOUT)
            .await
            .unwrap()
            .client;
        Api::<Pod>::namespaced(client, "kube-system")
            .list(
                &ListParams::default()
                    .labels("k8s-app=cilium")
                    .fields(&format!("spec.nodeName={name}")),
            )
            .await
            .unwrap()
            .items
            .into_iter()
            .next()
            .unwrap_or_else(|| panic!("no Cilium agent on {name}"))
            .name_any()
    })
}

/// Runs `command` in the Cilium agent of node N, and returns its output.
fn in_cilium_agent(node: u32, command: &[&str]) -> String {
    let pod = cilium_agent_pod(node);
    let output = testbed_kubectl()
        .args([
            "-n",
            "kube-system",
            "exec",
            &pod,
            "-c",
            "cilium-agent",
            "--",
        ])
        .args(command)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{command:?} in {pod}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// When cilium-health on node N last finished probing every node (it does about once a minute).
fn cilium_health_probed_at(node: u32) -> k8s_openapi::jiff::Timestamp {
    let status = in_cilium_agent(node, &["cilium-health", "status", "-o", "json"]);
    let status: serde_json::Value = serde_json::from_str(&status).unwrap();
    status["timestamp"].as_str().unwrap().parse().unwrap()
}

/// Whether cilium-health on node N last saw every testbed node and its health endpoint
/// answer ICMP and HTTP.
fn cilium_health_all_reachable(node: u32) -> bool {
    let status = in_cilium_agent(node, &["cilium-health", "status", "-o", "json"]);
    let status: serde_json::Value = serde_json::from_str(&status).unwrap_or_default();
    let nodes = status["nodes"].as_array().cloned().unwrap_or_default();
    let answered = |path: &serde_json::Value| {
        ["icmp", "http"].iter().all(|protocol| {
            path[protocol].is_object()
                && path[protocol]["status"]
                    .as_str()
                    .unwrap_or_default()
                    .is_empty()
        })
    };
    nodes.len() == 2
        && nodes.iter().all(|peer| {
            answered(&peer["host"]["primary-address"])
                && answered(&peer["health-endpoint"]["primary-address"])
        })
}

/// Waits until every Cilium agent is ready again and cilium-health sees every path healthy
/// (after a test disturbed an agent or the network), so the next test finds the testbed whole.
fn wait_for_cilium_agents() {
    let status = testbed_kubectl()
        .args([
            "-n",
            "kube-system",
            "rollout",
            "status",
            "daemonset/cilium",
            "--timeout=240s",
        ])
        .status()
        .unwrap();
    assert!(status.success(), "the Cilium agents did not come back");
    wait_until(
        "cilium-health on every node to see every path healthy",
        Duration::from_secs(240),
        || [1, 2].iter().all(|&node| cilium_health_all_reachable(node)),
    );
}

/// Policy enforcement switched off in one agent, until dropped.
struct EnforcementOff(u32);

impl EnforcementOff {
    fn on_node(node: u32) -> Self {
        in_cilium_agent(node, &["cilium-dbg", "config", "PolicyEnforcement=never"]);
        EnforcementOff(node)
    }
}

impl Drop for EnforcementOff {
    fn drop(&mut self) {
        in_cilium_agent(
            self.0,
            &["cilium-dbg", "config", "PolicyEnforcement=default"],
        );
    }
}

#[test]
#[ignore = "needs the testbed: run through ci/test"]
fn a_cilium_policy_that_one_agent_does_not_enforce_fails_there_and_only_there() {
    if !on_testbed(TestbedCni::Cilium, "unenforced Cilium policy") {
        return;
    }
    let dir = workdir("cilium-unenforced");
    std::fs::write(
        dir.join("deny.yaml"),
        "apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: only-friend}\n\
         spec:\n  endpointSelector: {matchLabels: {cnicheck.io/workload: server}}\n  ingress:\n\
         \x20   - fromEndpoints: [{matchLabels: {cnicheck.io/workload: friend}}]\n",
    )
    .unwrap();
    let scenario = write_scenario(
        &dir,
        "unenforced.yaml",
        "name: unenforced\nrequires: {cilium: true}\nworkloads:\n  - name: client\n  - name: friend\n\
         \x20 - name: server\n    placement: every-node\nphases:\n  - name: only-friend\n\
         \x20   apply: [deny.yaml]\n    probes:\n      - from: [client, friend]\n        to: pod:server\n\
         \x20       protocol: tcp\n        expect: denied\n        except: {\"friend -> pod:server\": allowed}\n",
    );
    let enforcement_off = EnforcementOff::on_node(2);
    let (output, report) = run(
        &dir,
        &["-f", &scenario, "--propagation-timeout", "15", "--keep"],
    );
    drop(enforcement_off);
    let kept = KeptRun::of(&report);
    let node_of_server = |target: &str| -> String {
        let pod = target
            .rsplit_once('(')
            .and_then(|(_, rest)| rest.strip_suffix(')'))
            .unwrap_or_else(|| panic!("no pod in {target}"))
            .to_string();
        block_on(async {
            let client = cluster::connect(None, None, cluster::DEFAULT_API_TIMEOUT)
                .await
                .unwrap()
                .client;
            Api::<Pod>::all(client)
                .list(&ListParams::default().labels(&format!("{}=server", labels::WORKLOAD)))
                .await
                .unwrap()
                .items
                .into_iter()
                .find(|candidate| candidate.name_any() == pod)
                .and_then(|found| found.spec?.node_name)
                .unwrap_or_else(|| panic!("server pod {pod} not found"))
        })
    };
    let probes = &report.scenarios[0].probes;
    let mut verdicts: Vec<(String, String, Verdict)> = probes
        .iter()
        .map(|probe| {
            let workload = if probe.from.contains("friend") {
                "friend"
            } else {
                "client"
            };
            (
                workload.to_string(),
                node_of_server(&probe.target_address),
                probe.verdict,
            )
        })
        .collect();
    drop(kept);
    let (node1, node2) = (testbed_node(1).0, testbed_node(2).0);
    let mut expected = vec![
        ("client".to_string(), node1.clone(), Verdict::Pass),
        ("client".to_string(), node2.clone(), Verdict::Fail),
        ("friend".to_string(), node1, Verdict::Pass),
        ("friend".to_string(), node2, Verdict::Pass),
    ];
    verdicts.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    expected.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    assert_eq!(
        verdicts, expected,
        "the denied cell fails where enforcement is off, and only there: {probes:#?}"
    );
    assert_eq!(output.status.code(), Some(100));
    let failed = probes
        .iter()
        .find(|probe| probe.verdict == Verdict::Fail)
        .unwrap();
    assert!(
        failed
            .message
            .as_deref()
            .unwrap_or_default()
            .contains("denied"),
        "{failed:#?}"
    );
}

#[test]
#[ignore = "needs the testbed: run through ci/test"]
fn a_blocked_tunnel_port_breaks_cross_node_pods_and_health_endpoints_but_not_node_to_node() {
    if !on_testbed(TestbedCni::Cilium, "the tunnel port blocked under Cilium") {
        return;
    }
    let firewall = Firewall;
    firewall.block(1, 2, "udp/8472");
    // cilium-health answers from its last round: wait for one that began after the block.
    let blocked_at = k8s_openapi::jiff::Timestamp::now();
    wait_until(
        "cilium-health to probe again after the block",
        Duration::from_secs(180),
        || {
            [1, 2]
                .iter()
                .all(|&node| cilium_health_probed_at(node).as_second() > blocked_at.as_second() + 5)
        },
    );
    let dir = workdir("tunnel-blocked");
    let (output, report) = run(
        &dir,
        &[
            "--group",
            "cross-node,node-ports,cilium",
            "--skip",
            "pod-to-service",
            "--propagation-timeout",
            "5",
        ],
    );
    drop(firewall);
    wait_for_cilium_agents();
    assert_eq!(output.status.code(), Some(100), "{:?}", report.tally());
    let scenario = |name: &str| {
        report
            .scenarios
            .iter()
            .find(|scenario| scenario.name == name)
            .unwrap_or_else(|| panic!("{name} did not run"))
    };
    // The node-port suite: only the tunnel port, only from node 1 to node 2.
    let failed: Vec<_> = scenario("node-ports")
        .probes
        .iter()
        .filter(|probe| probe.verdict != Verdict::Pass)
        .map(node_port_path)
        .collect();
    let (node1, node2) = (testbed_node(1).0, testbed_node(2).0);
    assert_eq!(
        failed,
        [("udp/8472".to_string(), node1.clone(), node2.clone())]
    );
    // Pods across nodes lose each other (one direction blocked breaks both: requests or
    // replies cross it); pods on the server's node do not.
    for probe in &scenario("cross-node").probes {
        let remote = probe.from.contains("remote-client");
        let expected = if remote { Verdict::Fail } else { Verdict::Pass };
        assert_eq!(probe.verdict, expected, "{probe:#?}");
    }
    // cilium-health: node to node passes (it does not use the tunnel), a node's own endpoint
    // passes, the other node's endpoint (through the tunnel) fails, in both directions.
    for result in &scenario("cilium").probes {
        let Some(pair) = result.name.strip_prefix("cilium::health::") else {
            continue;
        };
        let across = pair.contains(&format!("{node1} -> {node2}"))
            || pair.contains(&format!("{node2} -> {node1}"));
        let expected = if pair.starts_with("node->endpoint") && across {
            Verdict::Fail
        } else {
            Verdict::Pass
        };
        assert_eq!(result.verdict, expected, "{result:#?}");
    }
}

#[test]
#[ignore = "needs the testbed: run through ci/test"]
fn an_agent_that_is_not_ready_fails_readiness_naming_its_node_and_nothing_from_it_passes() {
    if !on_testbed(TestbedCni::Cilium, "a Cilium agent restarting") {
        return;
    }
    let pod = cilium_agent_pod(2);
    let deleted = testbed_kubectl()
        .args(["-n", "kube-system", "delete", "pod", &pod, "--wait=true"])
        .status()
        .unwrap();
    assert!(deleted.success());
    let dir = workdir("cilium-agent-restarting");
    let (output, report) = run(&dir, &["--group", "cilium"]);
    wait_for_cilium_agents();
    let node2 = testbed_node(2).0;
    let results = &report.scenarios[0].probes;
    let ready = results
        .iter()
        .find(|result| result.name == "cilium::agent::ready")
        .unwrap();
    assert_eq!(ready.verdict, Verdict::Fail, "{ready:#?}");
    assert!(
        ready
            .message
            .as_deref()
            .unwrap_or_default()
            .contains(&node2),
        "{ready:#?}"
    );
    for result in results {
        if result.name.starts_with("cilium::health::")
            && result.name.contains(&format!("[{node2} ->"))
        {
            assert_ne!(result.verdict, Verdict::Pass, "{result:#?}");
        }
    }
    assert_ne!(output.status.code(), Some(0));
}

#[test]
#[ignore = "needs the testbed: run through ci/test"]
fn multus_pods_get_net1_in_the_nad_range_and_reach_each_other() {
    let dir = workdir("multus");
    let (output, report) = run(&dir, &["--group", "multus"]);
    let tally = report.tally();
    assert_eq!(output.status.code(), Some(0), "{tally:?}");
    let multus = &report.scenarios[0];
    assert!(multus.skipped.is_none(), "{:?}", multus.skipped);
    let checks: Vec<_> = multus
        .probes
        .iter()
        .filter(|probe| probe.protocol == "address")
        .collect();
    assert_eq!(checks.len(), 2, "one address check per pod");
    for check in checks {
        assert_eq!(check.verdict, Verdict::Pass, "{check:#?}");
        assert_eq!(check.expected, "net1 in 10.202.0.100-10.202.0.199");
        // An IPv6 link-local address may follow.
        let address = check.observed.strip_prefix("net1 10.202.0.");
        assert!(
            address.is_some_and(|a| a.split(',').next().unwrap().ends_with("/24")),
            "{}",
            check.observed
        );
    }
    assert!(
        multus
            .probes
            .iter()
            .all(|probe| probe.verdict == Verdict::Pass),
        "{:#?}",
        multus.probes
    );
}

/// Runs the multus suite with `options` and returns its setup error and how long the run took.
fn multus_setup_error(test: &str, options: &[&str]) -> (String, Duration) {
    let dir = workdir(test);
    let started = Instant::now();
    let mut args = vec!["--group", "multus"];
    args.extend_from_slice(options);
    let (output, report) = run(&dir, &args);
    let elapsed = started.elapsed();
    assert_eq!(output.status.code(), Some(102), "setup errors exit 102");
    assert!(
        cnicheck_namespaces().is_empty(),
        "setup errors must still clean up"
    );
    let error = report.scenarios[0]
        .setup_error
        .clone()
        .expect("a setup error");
    (error, elapsed)
}

#[test]
#[ignore = "needs the testbed: run through ci/test"]
fn a_missing_multus_master_is_a_setup_error_naming_it_at_once() {
    let (error, elapsed) = multus_setup_error("multus-master", &["--multus-master", "eth9"]);
    assert!(
        error.contains("Multus NAD cnicheck-macvlan: master interface eth9 not found on node "),
        "{error}"
    );
    assert!(error.contains("fix: set --multus-master"), "{error}");
    assert!(
        elapsed < Duration::from_secs(45),
        "took {elapsed:?}: a missing master never appears, so it must not be waited for"
    );
}

#[test]
#[ignore = "needs the testbed: run through ci/test"]
fn a_multus_range_too_small_for_the_pods_is_a_setup_error_naming_it() {
    // One address, two pods.
    let (error, elapsed) = multus_setup_error(
        "multus-exhausted",
        &["--multus-range", "10.202.0.150-10.202.0.150/24"],
    );
    assert!(
        error.contains(
            "Multus NAD cnicheck-macvlan: IPAM range exhausted (range 10.202.0.150-10.202.0.150)"
        ),
        "{error}"
    );
    assert!(error.contains("fix: widen --multus-range"), "{error}");
    assert!(
        elapsed < Duration::from_secs(75),
        "took {elapsed:?}: an exhausted range must fail after the stuck grace, not the timeout"
    );
}

#[test]
#[ignore = "needs the testbed: run through ci/test"]
fn diff_names_exactly_the_cells_that_regressed() {
    let before = workdir("diff-baseline");
    let (output, _) = run(&before, &["--group", "dns"]);
    assert_eq!(output.status.code(), Some(0), "the baseline run must pass");
    let baseline = before.join("report.json");

    // The same scenario, with one expectation wrong: a name that does not exist "resolves".
    let after = workdir("diff-current");
    let builtin = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/dns.yaml");
    let yaml = std::fs::read_to_string(builtin).unwrap();
    assert_eq!(yaml.matches("expect: nxdomain").count(), 1);
    let wrong = write_scenario(
        &after,
        "dns.yaml",
        &yaml.replace("expect: nxdomain", "expect: allowed"),
    );
    let baseline_arg = baseline.display().to_string();
    let (output, _) = run(
        &after,
        &[
            "-f",
            &wrong,
            "--propagation-timeout",
            "10",
            "--baseline",
            &baseline_arg,
        ],
    );
    assert_eq!(
        output.status.code(),
        Some(100),
        "the run keeps its own code"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("Regressions: passed before, not now (1)"),
        "run --baseline prints the comparison"
    );

    let diff = Command::new(env!("CARGO_BIN_EXE_cnicheck"))
        .args(["diff", "--format", "json"])
        .arg(&baseline)
        .arg(after.join("report.json"))
        .output()
        .unwrap();
    eprintln!("{}", String::from_utf8_lossy(&diff.stderr));
    assert_eq!(diff.status.code(), Some(100), "regressions exit 100");
    let diff: cnicheck::report::diff::ReportDiff = serde_json::from_slice(&diff.stdout).unwrap();
    let regressed: Vec<&str> = diff.regressed.iter().map(|c| c.cell.as_str()).collect();
    assert_eq!(
        regressed,
        ["dns::lookups::client->dns:cnicheck-no-such-service.default.svc.cluster.local:dns"]
    );
    let after_outcome = diff.regressed[0].after.as_ref().unwrap();
    assert_eq!(after_outcome.verdict, Verdict::Fail);
    assert!(
        diff.newly_skipped.is_empty()
            && diff.newly_flaky.is_empty()
            && diff.fixed.is_empty()
            && diff.added.is_empty()
            && diff.removed.is_empty(),
        "{diff:#?}"
    );
    assert_eq!(diff.unchanged.passing, 2, "{diff:#?}");
    assert!(cnicheck_namespaces().is_empty());
}

/// The objects of `manifests/rbac/` (ClusterRole, Namespace, ServiceAccount, binding).
fn rbac_manifests() -> Vec<DynamicObject> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../manifests/rbac");
    ["cnicheck-clusterrole.yaml", "cnicheck-serviceaccount.yaml"]
        .iter()
        .flat_map(|file| {
            let text = std::fs::read_to_string(dir.join(file)).unwrap();
            cluster::parse_manifests(&text).unwrap()
        })
        .collect()
}

async fn api_for(client: &Client, object: &DynamicObject) -> Api<DynamicObject> {
    let types = object.types.as_ref().unwrap();
    let (group, version) = types
        .api_version
        .split_once('/')
        .unwrap_or(("", &types.api_version));
    let gvk = GroupVersionKind::gvk(group, version, &types.kind);
    let (resource, _) = kube::discovery::pinned_kind(client, &gvk).await.unwrap();
    match &object.metadata.namespace {
        Some(namespace) => Api::namespaced_with(client.clone(), namespace, &resource),
        None => Api::all_with(client.clone(), &resource),
    }
}

/// Removes the RBAC example's objects when dropped, also when the test fails.
struct RbacExample(Vec<DynamicObject>);

impl RbacExample {
    fn apply() -> Self {
        let objects = rbac_manifests();
        block_on(async {
            let client = cluster::connect(None, None, cluster::DEFAULT_API_TIMEOUT)
                .await
                .unwrap()
                .client;
            for object in &objects {
                api_for(&client, object)
                    .await
                    .patch(
                        &object.name_any(),
                        &PatchParams::apply("cnicheck-testbed-test"),
                        &Patch::Apply(object),
                    )
                    .await
                    .unwrap();
            }
        });
        RbacExample(objects)
    }
}

impl Drop for RbacExample {
    fn drop(&mut self) {
        block_on(async {
            let client = cluster::connect(None, None, cluster::DEFAULT_API_TIMEOUT)
                .await
                .unwrap()
                .client;
            for object in self.0.iter().rev() {
                let api = api_for(&client, object).await;
                if let Err(error) = api
                    .delete(&object.name_any(), &DeleteParams::default())
                    .await
                {
                    eprintln!("could not delete {}: {error}", object.name_any());
                }
            }
        });
    }
}

/// A kubeconfig for the testbed's API server that authenticates with a fresh token of the
/// example's ServiceAccount (what `kubectl create token` mints, through the TokenRequest API).
fn service_account_kubeconfig(path: &Path) {
    let token = block_on(async {
        let client = cluster::connect(None, None, cluster::DEFAULT_API_TIMEOUT)
            .await
            .unwrap()
            .client;
        let request = TokenRequest {
            spec: TokenRequestSpec {
                expiration_seconds: Some(3600),
                ..TokenRequestSpec::default()
            },
            ..TokenRequest::default()
        };
        Api::<ServiceAccount>::namespaced(client, "cnicheck")
            .create_token_request("cnicheck", &PostParams::default(), &request)
            .await
            .unwrap()
            .status
            .unwrap()
            .token
    });
    let admin = std::env::var("KUBECONFIG").expect("KUBECONFIG names the testbed's");
    let admin = kube::config::Kubeconfig::read_from(admin).unwrap();
    let cluster = serde_json::to_value(&admin.clusters[0]).unwrap();
    let kubeconfig = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [cluster],
        "users": [{"name": "cnicheck", "user": {"token": token}}],
        "contexts": [{"name": "cnicheck", "context": {"cluster": cluster["name"], "user": "cnicheck"}}],
        "current-context": "cnicheck",
    });
    std::fs::write(path, kubeconfig.to_string()).unwrap();
}

#[test]
#[ignore = "needs the testbed: run through ci/test"]
fn builtin_suites_pass_as_a_service_account_with_only_the_documented_role() {
    let dir = workdir("rbac");
    let example = RbacExample::apply();
    let kubeconfig = dir.join("service-account.kubeconfig");
    service_account_kubeconfig(&kubeconfig);
    let kubeconfig_arg = kubeconfig.display().to_string();

    // The kubeconfig really is the ServiceAccount, not an admin.
    let secrets = block_on(async {
        let client = cluster::connect(Some(&kubeconfig), None, cluster::DEFAULT_API_TIMEOUT)
            .await
            .unwrap()
            .client;
        Api::<Secret>::all(client)
            .list(&ListParams::default())
            .await
    });
    assert!(
        matches!(&secrets, Err(kube::Error::Api(status)) if status.is_forbidden()),
        "{secrets:?}"
    );

    let (output, report) = run(&dir, &["--kubeconfig", &kubeconfig_arg]);
    let tally = report.tally();
    assert_eq!(output.status.code(), Some(0), "{tally:?}");
    assert_eq!((tally.failed, tally.errors, tally.setup_errors), (0, 0, 0));
    for needed in ["network-policy", "multus", "pod-to-service"] {
        let scenario = report.scenarios.iter().find(|s| s.name == needed).unwrap();
        assert!(
            scenario.skipped.is_none() && !scenario.probes.is_empty(),
            "{needed} did not run: {:?}",
            scenario.skipped
        );
    }
    assert!(
        cnicheck_namespaces().is_empty(),
        "the run left namespaces behind"
    );

    let cleanup = Command::new(env!("CARGO_BIN_EXE_cnicheck"))
        .args(["cleanup", "--kubeconfig", &kubeconfig_arg])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&cleanup.stderr);
    eprintln!("{stderr}");
    assert!(cleanup.status.success(), "cleanup with the role: {stderr}");
    assert!(stderr.contains("cleanup: 0 removed, 0 failed"), "{stderr}");
    drop(example);
}
