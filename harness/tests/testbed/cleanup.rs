//! Nothing left behind: a killed run is removed by `cnicheck cleanup`, an interrupted one
//! cleans up after itself.

use crate::support::*;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Starts a run of the connectivity group and returns once its namespaces exist.
pub(crate) fn start_connectivity_run(dir: &Path) -> Child {
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
