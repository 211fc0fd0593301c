//! Node ports pass between every ordered pair of nodes, and a blocked one fails exactly in its
//! direction.

use crate::support::*;
use cnicheck::report::model::Verdict;

/// (protocol and port as in messages, source node, destination node) of a node-port probe.
pub(crate) fn node_port_path(
    probe: &cnicheck::report::model::ProbeReport,
) -> (String, String, String) {
    let path = match probe.port {
        Some(port) => format!("{}/{port}", probe.protocol),
        None => probe.protocol.clone(),
    };
    let from = probe
        .source
        .as_ref()
        .expect("a node probe has a source pod");
    let to = probe
        .destination_node
        .clone()
        .unwrap_or_else(|| panic!("{} names no destination node", probe.name));
    (path, from.node.clone(), to)
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
    // A blocked tunnel port failed cilium-health's probes of the other node's health endpoint,
    // and its results are up to a minute old: the next test must not see them.
    if testbed_cni() == TestbedCni::Cilium {
        crate::cilium_agents::wait_for_cilium_agents();
    }
}
