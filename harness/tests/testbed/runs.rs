//! Whole runs: the built-in suites pass on a healthy cluster; a wrong expectation fails with a
//! readable message and a reproduce command that works; a probe whose agent vanished is an
//! error, never a pass; a missing image is a setup error named within the timeout; a kubeconfig
//! list is merged as kubectl does.

use crate::support::*;
use cnicheck::cluster::labels;
use cnicheck::report::latency;
use cnicheck::report::model::{ObservationKind, PathClass, ProbeReport, Verdict};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, ListParams};
use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

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
    for name in [
        "network-policy",
        "cross-node",
        "node-ports",
        "multus",
        "load-balancing",
    ] {
        let scenario = report.scenarios.iter().find(|s| s.name == name).unwrap();
        assert!(
            scenario.skipped.is_none() && !scenario.probes.is_empty(),
            "{name} did not run: {:?}",
            scenario.skipped
        );
    }
    assert!(
        report
            .scenarios
            .iter()
            .all(|s| !s.name.starts_with("netpol-e2e")),
        "the opt-in netpol-e2e group ran without --group"
    );
    assert!(
        cnicheck_namespaces().is_empty(),
        "the run left namespaces behind"
    );
    // Where the time went: every scenario that deployed says so, stage by stage.
    let policy = report
        .scenarios
        .iter()
        .find(|s| s.name == "network-policy")
        .unwrap();
    let stages = policy.stages.as_ref().expect("stage times");
    assert!(
        stages.deploy_secs > 0.0 && stages.cleanup_secs > 0.0 && stages.phases.len() >= 2,
        "{stages:#?}"
    );
    assert!(
        stages
            .phases
            .iter()
            .all(|phase| phase.matched_after_secs.is_some()),
        "{stages:#?}"
    );
    // The connectivity scenarios declare the same workloads and change nothing: one deployment
    // served them all.
    let connectivity = report
        .scenarios
        .iter()
        .find(|s| s.name == "pod-to-pod")
        .unwrap();
    let shared = &connectivity
        .stages
        .as_ref()
        .expect("stage times")
        .shared_with;
    for name in ["pod-to-service", "load-balancing", "dns", "external"] {
        assert!(shared.iter().any(|other| other == name), "{shared:?}");
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("time by stage, summed over scenarios: setup"),
        "{stderr}"
    );
    // Spread and affinity were counted by backend; consistent hashing is skipped with the
    // reason (no kube-proxy replacement on either testbed).
    let balancing = report
        .scenarios
        .iter()
        .find(|s| s.name == "load-balancing")
        .unwrap();
    for probe in &balancing.probes {
        if probe.cell.ends_with(":maglev") {
            assert_eq!(probe.verdict, Verdict::Skip);
            let reason = probe.message.as_deref().unwrap_or_default();
            assert!(reason.contains("no consistent hashing here"), "{reason}");
        } else {
            assert!(probe.backends.is_some(), "{probe:#?}");
        }
    }
    // This kernel cannot encrypt: the encryption suite says what the agents said.
    if testbed_cni() == TestbedCni::Cilium {
        let encryption = report
            .scenarios
            .iter()
            .find(|s| s.name == "encryption")
            .unwrap();
        let reason = encryption.skipped.as_deref().unwrap_or_default();
        assert!(
            reason.contains("needs every Cilium agent to encrypt between nodes")
                && reason.contains("testbed-node1: Disabled"),
            "{reason}"
        );
    }
    eprintln!(
        "built-in suites: {tally:?} in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    // Every answer has its latency (but a UDP echo after a resend, which cannot be matched to
    // its datagram), and pods across nodes answer in measurable time.
    let probes: Vec<&ProbeReport> = report.scenarios.iter().flat_map(|s| &s.probes).collect();
    for probe in &probes {
        use ObservationKind::*;
        let answered = matches!(
            probe.observed_kind,
            Some(Connected | HttpResponse | IcmpReply | Resolved | Nxdomain)
        );
        if answered {
            assert!(probe.latency_ms.is_some(), "no latency: {probe:#?}");
        }
    }
    let figures = latency::by_path(probes.iter().copied());
    eprintln!("latency by path: {figures:#?}");
    let cross_node = figures
        .iter()
        .find(|figures| figures.path == PathClass::CrossNode)
        .expect("cross-node answers were timed");
    assert!(cross_node.p50_ms > 0.0, "{cross_node:?}");

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
fn upstream_netpol_e2e_truth_tables_pass() {
    let dir = workdir("netpol-e2e");
    let started = Instant::now();
    let (output, report) = run(&dir, &["--group", "netpol-e2e"]);
    let tally = report.tally();
    assert_eq!(output.status.code(), Some(0), "{tally:?}");
    assert_eq!((tally.failed, tally.errors, tally.setup_errors), (0, 0, 0));
    let netpol = report
        .scenarios
        .iter()
        .find(|s| s.name == "netpol-e2e")
        .unwrap();
    assert!(netpol.skipped.is_none(), "{:?}", netpol.skipped);
    // Every phase's matrix is in the report as upstream's 9x9 tables, none of them wrong.
    assert!(
        netpol.truth_tables.len() >= 46,
        "{}",
        netpol.truth_tables.len()
    );
    for table in &netpol.truth_tables {
        assert_eq!((table.rows.len(), table.columns.len()), (9, 9), "{table:?}");
        assert_eq!(table.wrong(), 0, "{table:?}");
    }
    // Its phases ran on three copies of the pods (`copies: 3`), each in namespaces x, y and z
    // of its own, and most policy changes were seen taking effect in the probes expected to
    // flip rather than waited out.
    let source_namespaces: BTreeSet<&str> = netpol
        .probes
        .iter()
        .filter_map(|probe| probe.source.as_ref())
        .map(|source| source.namespace.as_str())
        .collect();
    assert_eq!(source_namespaces.len(), 9, "{source_namespaces:?}");
    let phases = &netpol.stages.as_ref().unwrap().phases;
    let flipped = phases
        .iter()
        .filter(|phase| phase.changing_probes > 0)
        .count();
    assert!(flipped * 2 >= phases.len(), "{flipped} of {}", phases.len());
    // Upstream's ipBlock tables run where ipBlocks select pods (kube-router), and are skipped,
    // saying why, on Cilium.
    let ipblock = report
        .scenarios
        .iter()
        .find(|s| s.name == "netpol-e2e-ipblock")
        .unwrap();
    if report.cluster.cni == "cilium" {
        let reason = ipblock.skipped.as_deref().unwrap_or_default();
        assert!(reason.contains("Cilium's CIDR rules"), "{reason:?}");
    } else {
        assert!(ipblock.skipped.is_none() && !ipblock.probes.is_empty());
    }
    assert!(
        cnicheck_namespaces().is_empty(),
        "the run left namespaces behind"
    );
    eprintln!(
        "netpol-e2e: {tally:?} in {:.1}s",
        started.elapsed().as_secs_f64()
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
        // The truth tables: rows from, columns to; the one cell holds both server pods.
        "Matrix wrong-expectation / deny-all: http/8080: 1 of 1 cells wrong",
        "  expected:\n",
        "  observed:\n",
        "  diff:\n",
        "    client  !\n",
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
    // Give the runner time to start the probe batch, then pull the agent away.
    let deleted = delete_once_ready("victim", Duration::from_secs(8));
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

/// Silence is a UDP deny only while the receiver confirms it listened: one deleted while the
/// datagrams are in flight makes the probe an error. Needs a CNI whose deny is silence (Cilium):
/// kube-router rejects at once, with the receiver still there to confirm it listened.
#[test]
#[ignore = "needs the testbed: run through ci/test"]
fn a_udp_deny_whose_receiver_is_deleted_mid_phase_is_an_error_never_a_pass() {
    if !on_testbed(TestbedCni::Cilium, "a UDP deny that is silence") {
        return;
    }
    let dir = workdir("udp-receiver-deleted");
    std::fs::write(
        dir.join("deny.yaml"),
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: deny-server\n\
         spec:\n  podSelector:\n    matchLabels: {cnicheck.io/workload: server}\n\
         \x20 policyTypes: [Ingress]\n",
    )
    .unwrap();
    let scenario = write_scenario(
        &dir,
        "udp-deny.yaml",
        "name: udp-receiver-deleted\nworkloads:\n  - name: client\n  - name: server\n\
         phases:\n  - name: deny\n    apply: [deny.yaml]\n    probes:\n      - from: client\n\
         \x20       to: pod:server\n        protocol: udp\n        expect: denied\n        timeout: 40\n",
    );
    let mut child = cnicheck(&dir, &["-f", &scenario, "--propagation-timeout", "10"])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let deleted = delete_once_ready("server", Duration::from_secs(12));
    let status = wait_for_exit(&mut child, Duration::from_secs(180));
    let report = cnicheck::report::json::read(&dir.join("report.json")).unwrap();
    let probes = &report.scenarios[0].probes;
    eprintln!("deleted {deleted}; probes: {probes:#?}");
    assert_eq!(status.code(), Some(102), "errors without failures exit 102");
    assert_eq!(probes.len(), 1);
    assert_eq!(probes[0].verdict, Verdict::Error, "{:?}", probes[0].message);
    assert!(
        probes[0]
            .message
            .as_deref()
            .is_some_and(|message| message.contains("could not say whether the datagram arrived")),
        "{:?}",
        probes[0].message
    );
}

/// Waits until a pod of `workload` is ready, waits `after` more, and deletes it at once.
fn delete_once_ready(workload: &str, after: Duration) -> String {
    block_on(async {
        let client = testbed_client().await;
        let pods = Api::<Pod>::all(client.clone());
        let selector = format!("{}={workload}", labels::WORKLOAD);
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            assert!(Instant::now() < deadline, "no {workload} pod became ready");
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
                tokio::time::sleep(after).await;
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
                return name;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    })
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
