//! The encryption detector, proven the only way this kernel allows (it has no WireGuard or
//! ESP): traffic between the testbed's nodes is plaintext, and `expect: encrypted` says so,
//! naming the interface it was read on.

use crate::support::*;
use cnicheck::report::model::{ObservationKind, Verdict};

const BETWEEN_NODES: &str = "\
name: encryption
requires: {min-nodes: 2}
workloads:
  - name: node
    host-network: true
    placement: every-node
  - name: client
  - name: server
    placement: {other-node-than: client}
phases:
  - name: between-nodes
    probes:
      - from: client
        to: pod:server
        protocol: udp
        expect: encrypted
";

#[test]
#[ignore = "needs the testbed: run through ci/test"]
fn encrypted_fails_with_the_plaintext_found_between_the_nodes() {
    let dir = workdir("encryption");
    let scenario = write_scenario(&dir, "encryption.yaml", BETWEEN_NODES);
    let (output, report) = run(&dir, &["-f", &scenario, "--propagation-timeout", "5"]);
    assert_eq!(
        output.status.code(),
        Some(i32::from(cnicheck::exit_code::PROBES_FAILED))
    );
    let probes = &report.scenarios[0].probes;
    assert_eq!(probes.len(), 1, "{probes:#?}");
    let probe = &probes[0];
    assert_eq!(probe.verdict, Verdict::Fail, "{probe:#?}");
    assert_eq!(probe.observed_kind, Some(ObservationKind::Plaintext));
    let message = probe.message.as_deref().unwrap();
    assert!(
        message.contains("crossed") && message.contains("in plaintext"),
        "{message}"
    );
    assert!(message.contains("not encrypted"), "{message}");
    assert!(
        message.contains("Plaintext between node testbed-node"),
        "{message}"
    );
    assert_ne!(
        probe.source.as_ref().map(|source| source.node.as_str()),
        probe.destination_node.as_deref(),
        "{probe:#?}"
    );
}
