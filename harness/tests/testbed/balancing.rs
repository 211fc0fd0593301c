//! Load-balancing checks count real answers: the built-in suite's spread and affinity pass in
//! `builtin_suites_pass_on_a_healthy_cluster`; here the rule is shown able to fail, on a Service
//! without session affinity, with each backend's share named.

use crate::support::*;
use cnicheck::report::model::{ObservationKind, Verdict};

const NO_AFFINITY: &str = "\
name: no-affinity
workloads:
  - name: client
  - name: server
    replicas: 2
    service: {}
phases:
  - name: balance
    probes:
      - from: client
        to: service:server
        protocol: [http, udp]
        expect: spread
      - name: sticky
        from: client
        to: service:server
        protocol: http
        expect: affinity
";

#[test]
#[ignore = "needs the testbed: run through ci/test"]
fn affinity_fails_on_a_service_without_it_and_names_each_backends_share() {
    let dir = workdir("no-affinity");
    let scenario = write_scenario(&dir, "no-affinity.yaml", NO_AFFINITY);
    // The first phase retries failing probes while Services converge: not for long here.
    let (output, report) = run(&dir, &["-f", &scenario, "--propagation-timeout", "5"]);
    assert_eq!(
        output.status.code(),
        Some(i32::from(cnicheck::exit_code::PROBES_FAILED))
    );
    let probes = &report.scenarios[0].probes;
    assert_eq!(probes.len(), 3, "{probes:#?}");
    for probe in probes {
        let backends = probe.backends.as_ref().expect("answers by backend");
        assert_eq!(backends.len(), 2, "{probe:#?}");
        assert_eq!(
            backends.values().sum::<u32>(),
            if probe.cell.ends_with(":sticky") {
                20
            } else {
                40
            }
        );
        assert_eq!(probe.observed_kind, Some(ObservationKind::Sampled));
        if probe.cell.ends_with(":sticky") {
            assert_eq!(probe.verdict, Verdict::Fail, "{probe:#?}");
            let message = probe.message.as_deref().unwrap();
            assert!(
                message.contains("2 backends answered: server-"),
                "{message}"
            );
            assert!(message.contains("sessionAffinity: ClientIP"), "{message}");
        } else {
            assert_eq!(probe.verdict, Verdict::Pass, "{probe:#?}");
        }
    }
    let junit = std::fs::read_to_string(dir.join("junit.xml")).unwrap();
    assert!(junit.contains("answers by backend: server-"), "{junit}");
}
