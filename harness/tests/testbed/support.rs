//! What every testbed test shares: running the binary against the testbed, its nodes and
//! CNI, waits with deadlines, and guards that undo what a test did to the testbed when dropped.

use cnicheck::cluster::{self, labels};
use cnicheck::report::model::RunReport;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, ListParams};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

/// The agent image imported into the testbed: `$CNICHECK_AGENT_IMAGE` (what `ci/test` sets),
/// else what `ci/testbed/agent-image` builds by default.
pub(crate) fn agent_image() -> String {
    std::env::var("CNICHECK_AGENT_IMAGE").unwrap_or_else(|_| "localhost/cnicheck-agent:dev".into())
}
pub(crate) const EXTERNAL_TARGET: &str = "http://outside.cnicheck.test/";

pub(crate) fn workdir(test: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("testbed")
        .join(test);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub(crate) fn cnicheck(dir: &Path, extra: &[&str]) -> Command {
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

pub(crate) fn run(dir: &Path, extra: &[&str]) -> (Output, RunReport) {
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

pub(crate) fn write_scenario(dir: &Path, name: &str, yaml: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, yaml).unwrap();
    path.display().to_string()
}

pub(crate) fn block_on<T>(future: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Runtime::new().unwrap().block_on(future)
}

/// A client of the testbed, from the environment's kubeconfig (what `ci/test` sets).
pub(crate) async fn testbed_client() -> kube::Client {
    cluster::connect(None, None, cluster::DEFAULT_API_TIMEOUT)
        .await
        .unwrap()
        .client
}

/// Namespaces cnicheck made that still exist (Terminating ones included).
pub(crate) fn cnicheck_namespaces() -> Vec<String> {
    block_on(async {
        let client = testbed_client().await;
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

pub(crate) fn wait_until(what: &str, timeout: Duration, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !condition() {
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

pub(crate) fn wait_for_exit(child: &mut Child, timeout: Duration) -> std::process::ExitStatus {
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

/// Runs a reproduce command as a user pastes it into the shell that ran cnicheck, less the
/// environment variables `unset`, and returns what it printed.
pub(crate) fn paste(command: &str, unset: &[&str]) -> String {
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
pub(crate) fn testbed_path() -> String {
    let path = std::env::var("PATH").unwrap_or_default();
    format!("/var/lib/cnicheck-testbed/bin:{path}")
}

/// The testbed's kubectl, with the environment's kubeconfig (what `ci/test` sets).
pub(crate) fn testbed_kubectl() -> Command {
    let mut kubectl = Command::new("kubectl");
    kubectl.env("PATH", testbed_path());
    kubectl
}

/// A run made with `--keep`, removed by `cnicheck cleanup --run` when this is dropped.
pub(crate) struct KeptRun(String);

impl KeptRun {
    pub(crate) fn of(report: &RunReport) -> Self {
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

/// The CNI the testbed runs (`ci/testbed/up --cni`): what a test observes of the CNI's own
/// behaviour (how a denied connection ends, the tunnel port, Cilium's checks) depends on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TestbedCni {
    KubeRouter,
    Cilium,
}

pub(crate) fn testbed_cni() -> TestbedCni {
    let state = "/var/lib/cnicheck-testbed/cni";
    match std::fs::read_to_string(state).as_deref().map(str::trim) {
        Ok("cilium") => TestbedCni::Cilium,
        Ok("kube-router") => TestbedCni::KubeRouter,
        other => panic!("{state} names no testbed CNI ({other:?}): is the testbed up?"),
    }
}

/// The overlay port the node-port suite checks on this testbed: Cilium's VXLAN (its
/// `cilium-config`), or, without Cilium, GENEVE, the default.
pub(crate) fn tunnel_path() -> &'static str {
    match testbed_cni() {
        TestbedCni::Cilium => "udp/8472",
        TestbedCni::KubeRouter => "udp/6081",
    }
}

/// Whether the testbed that is up runs `cni`, which `test` needs; says so when it does not.
/// `ci/test` brings up the Cilium testbed; the kube-router one (`ci/testbed/up`) runs the rest.
pub(crate) fn on_testbed(cni: TestbedCni, test: &str) -> bool {
    let up = testbed_cni();
    if up != cni {
        eprintln!("{test}: not run here: it needs the {cni:?} testbed, and the {up:?} one is up");
    }
    up == cni
}

/// The testbed's node N: its name and address (ci/testbed/lib/common.sh).
pub(crate) fn testbed_node(n: u32) -> (String, String) {
    (format!("testbed-node{n}"), format!("10.201.0.{}", 10 + n))
}

/// Blocks traffic between testbed nodes with `ci/testbed/firewall`; every block goes away when
/// this is dropped, so a failing test leaves a healthy testbed behind.
pub(crate) struct Firewall;

impl Firewall {
    pub(crate) fn run(args: &[&str]) {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../ci/testbed/firewall");
        let status = Command::new(script)
            .args(args)
            .status()
            .expect("ci/testbed/firewall runs");
        assert!(status.success(), "ci/testbed/firewall {args:?} failed");
    }

    pub(crate) fn block(&self, from: u32, to: u32, what: &str) {
        Firewall::run(&["block", &from.to_string(), &to.to_string(), what]);
    }
}

impl Drop for Firewall {
    fn drop(&mut self) {
        Firewall::run(&["clear"]);
    }
}
