//! A truth table as people write it runs on a real cluster: ports 80 and 81 in one set (the
//! agents listen on them, unprivileged), rows and columns by pattern, one port's exception, the
//! diagonal skipped; and UDP denies pass on the receiver's word, whichever way the CNI denies.

use crate::support::*;
use cnicheck::report::model::{ObservationKind, Verdict};

const POLICY: &str = "\
# x/a admits pods of its own namespace on TCP 80, nothing else.
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: a-admits-x-on-80
  namespace: x
spec:
  podSelector:
    matchLabels: {cnicheck.io/workload: a}
  policyTypes: [Ingress]
  ingress:
    - from: [{podSelector: {}}]
      ports: [{protocol: TCP, port: 80}]
";

const TABLE: &str = "\
name: table
namespaces:
  x: {}
  y: {}
workloads:
  - {name: a, namespace: x}
  - {name: b, namespace: x}
  - {name: a, namespace: y}
phases:
  - name: open
    probes:
      - from: [x/a, x/b, y/a]
        to: [pod:x/a, pod:x/b, pod:y/a]
        protocol: tcp
        port: [80, 81]
        expect: allowed
      - from: [x/a, x/b, y/a]
        to: [pod:x/a, pod:x/b, pod:y/a]
        protocol: udp
        port: 80
        expect: allowed
  - name: x-a-admits-x-on-80
    apply: [policy.yaml]
    probes:
      - from: [x/a, x/b, y/a]
        to: [pod:x/a, pod:x/b, pod:y/a]
        protocol: tcp
        port: [80, 81]
        expect: allowed
        except:
          \"* -> pod:x/a\": denied
          \"x/* -> pod:x/a:tcp/80\": allowed
      - from: [x/a, x/b, y/a]
        to: [pod:x/a, pod:x/b, pod:y/a]
        protocol: udp
        port: 80
        expect: allowed
        except: {\"* -> pod:x/a\": denied}
";

#[test]
#[ignore = "needs the testbed: run through ci/test"]
fn a_truth_table_with_port_lists_patterns_and_udp_denies_passes() {
    let dir = workdir("table");
    std::fs::write(dir.join("policy.yaml"), POLICY).unwrap();
    let scenario = write_scenario(&dir, "table.yaml", TABLE);
    let (output, report) = run(&dir, &["-f", &scenario]);
    let probes = &report.scenarios[0].probes;
    let wrong: Vec<_> = probes
        .iter()
        .filter(|probe| !matches!(probe.verdict, Verdict::Pass | Verdict::Skip))
        .collect();
    assert!(wrong.is_empty(), "{wrong:#?}");
    assert_eq!(output.status.code(), Some(0));
    // Per phase, the diagonal (3 pods x 3 of its cells: tcp/80, tcp/81, udp/80) is skipped.
    let skipped = probes.iter().filter(|probe| probe.verdict == Verdict::Skip);
    assert_eq!(skipped.count(), 2 * 3 * 3);
    // The policy's cells are judged on what happened: x/b reaches x/a on 80 only, and the
    // denied UDP is confirmed absent by x/a's agent (Cilium drops silently) or refused.
    let cell = |name: &str| {
        probes
            .iter()
            .find(|probe| probe.cell == format!("table::x-a-admits-x-on-80::{name}"))
            .unwrap_or_else(|| panic!("no cell {name}"))
    };
    assert_eq!(cell("x/b->pod:x/a:tcp/80").verdict, Verdict::Pass);
    assert_eq!(cell("x/b->pod:x/a:tcp/81").expected, "denied");
    let udp_deny = cell("y/a->pod:x/a:udp/80");
    assert!(
        matches!(
            udp_deny.observed_kind,
            Some(ObservationKind::UdpNotDelivered | ObservationKind::Refused)
        ),
        "{udp_deny:#?}"
    );
}
