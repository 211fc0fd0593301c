//! Real Cilium agents: their policies are enforced, and each fault (enforcement off on one
//! agent, the tunnel port blocked, an agent restarting) fails exactly where it is.

use crate::node_ports::*;
use crate::support::*;
use cnicheck::report::model::{ObservationKind, Verdict};
use k8s_openapi::api::core::v1::Pod;
use kube::ResourceExt;
use kube::api::{Api, ListParams};
use std::time::Duration;

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
pub(crate) fn cilium_agent_pod(node: u32) -> String {
    let (name, _) = testbed_node(node);
    block_on(async {
        let client = testbed_client().await;
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
pub(crate) fn in_cilium_agent(node: u32, command: &[&str]) -> String {
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
pub(crate) fn cilium_health_probed_at(node: u32) -> k8s_openapi::jiff::Timestamp {
    let status = in_cilium_agent(node, &["cilium-health", "status", "-o", "json"]);
    let status: serde_json::Value = serde_json::from_str(&status).unwrap();
    status["timestamp"].as_str().unwrap().parse().unwrap()
}

/// Whether cilium-health on node N last saw every testbed node and its health endpoint
/// answer ICMP and HTTP.
pub(crate) fn cilium_health_all_reachable(node: u32) -> bool {
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
pub(crate) fn wait_for_cilium_agents() {
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
pub(crate) struct EnforcementOff(u32);

impl EnforcementOff {
    pub(crate) fn on_node(node: u32) -> Self {
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
    let probes = &report.scenarios[0].probes;
    let mut verdicts: Vec<(String, String, Verdict)> = probes
        .iter()
        .map(|probe| {
            let source = probe
                .source
                .as_ref()
                .expect("a traffic probe has a source pod");
            let workload = if source.pod.starts_with("friend") {
                "friend"
            } else {
                "client"
            };
            let server_node = probe
                .destination_node
                .clone()
                .unwrap_or_else(|| panic!("{} names no destination node", probe.name));
            (workload.to_string(), server_node, probe.verdict)
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
    // replies cross it); pods on the server's node do not. UDP whose request crossed and whose
    // echo did not is delivered: it passes, its reply said lost.
    for probe in &scenario("cross-node").probes {
        let source = probe
            .source
            .as_ref()
            .expect("a traffic probe has a source pod");
        let remote = source.pod.starts_with("remote-client");
        let reply_lost = probe.observed_kind == Some(ObservationKind::UdpReplyLost);
        let expected = if remote && !reply_lost {
            Verdict::Fail
        } else {
            Verdict::Pass
        };
        assert_eq!(probe.verdict, expected, "{probe:#?}");
        assert!(!reply_lost || remote, "{probe:#?}");
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
