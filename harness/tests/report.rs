//! The reporters, fed one report that has every kind of result: a passing, a flaky and a skipped
//! probe, a failed matrix (with a failure and an error), a skipped scenario and a scenario whose
//! setup failed, after a preflight that accepted one manifest and could not check another.

use cnicheck::exit_code;
use cnicheck::judge::{self, Judgement};
use cnicheck::probe::Outcome;
use cnicheck::report::model::{
    CiliumInfo, ClusterInfo, ComponentInfo, PathClass, PhaseTimes, PreflightCheck, ProbeReport,
    REPORT_FORMAT_VERSION, Reach, RunReport, ScenarioReport, StageTimes, Verdict,
};
use cnicheck::report::{ReportError, console, diff, failure, json, junit, truth_table};
use cnicheck::scenario::model::{Expectation, Protocol};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

const CLIENT_A: &str = "cnicheck-x/client-a-0 on node-1";
const CLIENT_B: &str = "cnicheck-x/client-b-0 on node-2";

/// A probe report as the runner builds it: judged by `judge`, one attempt per outcome.
fn probe(
    phase: &str,
    from: &str,
    (to, target_address): (&str, &str),
    protocol: Protocol,
    port: u16,
    expected: Expectation,
    outcomes: &[Outcome],
) -> ProbeReport {
    let attempts: Vec<Judgement> = outcomes
        .iter()
        .map(|outcome| judge::judge(&expected, protocol, outcome))
        .collect();
    let (verdict, attempt_count) = judge::final_verdict(&attempts);
    let (last, earlier) = attempts.split_last().expect("at least one outcome");
    let protocol = format!("{protocol:?}").to_lowercase();
    let pod = from.split(' ').next().unwrap();
    ProbeReport {
        name: format!("{phase}::{pod}->{to}:{protocol}/{port}"),
        cell: String::new(),
        phase: phase.into(),
        from: from.into(),
        to: to.into(),
        target_address: target_address.into(),
        protocol: protocol.clone(),
        port: Some(port),
        expected: judge::expected_summary(&expected),
        observed: last.observed.clone(),
        expected_reach: judge::expected_reach(&expected),
        observed_reach: last.observed_reach,
        verdict,
        attempts: attempt_count,
        earlier_attempts: earlier.iter().map(Judgement::to_attempt_report).collect(),
        duration_secs: 0.25,
        message: (verdict != Verdict::Pass).then(|| last.explanation.clone()),
        reproduce: format!(
            "kubectl exec -n cnicheck-x {} -- cnicheck agent probe {protocol} {}",
            pod.split('/').nth(1).unwrap(),
            target_address.split(' ').next().unwrap()
        ),
        source: None,
        destination_node: None,
        observed_kind: Some(last.observed_kind),
        path: None,
        latency_ms: None,
        backends: None,
    }
}

const SERVER: (&str, &str) = ("pod:server", "10.244.1.5:9000 (server-0)");
const OTHER: (&str, &str) = ("pod:other", "10.244.2.7:9000 (other-0)");

fn connected() -> Outcome {
    Outcome::Connected {
        peer: "10.244.1.5:9000".into(),
    }
}

/// A scenario's report as the runner finishes it: probes named after it, truth tables built.
fn scenario(name: &str, probes: Vec<ProbeReport>) -> ScenarioReport {
    let probes: Vec<ProbeReport> = probes
        .into_iter()
        .map(|mut probe| {
            probe.name = format!("{name}::{}", probe.name);
            probe
        })
        .collect();
    ScenarioReport {
        name: name.into(),
        file: format!("scenarios/{name}.yaml"),
        skipped: None,
        setup_error: None,
        duration_secs: 3.5,
        truth_tables: truth_table::truth_tables(&probes),
        probes,
        stages: None,
    }
}

fn report() -> RunReport {
    let http = |outcomes: &[Outcome]| {
        probe(
            "baseline",
            CLIENT_A,
            SERVER,
            Protocol::Http,
            8080,
            Expectation::Allowed,
            outcomes,
        )
    };
    let ok = Outcome::HttpStatus {
        status: 200,
        server: Some("server-0".into()),
    };
    let mut skipped_probe = http(std::slice::from_ref(&ok));
    skipped_probe.name = "baseline::client-a-0->service:server:http/8080".into();
    skipped_probe.verdict = Verdict::Skip;
    skipped_probe.message = Some("the Service has no ClusterIP".into());

    let tcp = |from, to, expected, outcome: Outcome| {
        probe(
            "enforce",
            from,
            to,
            Protocol::Tcp,
            9000,
            expected,
            &[outcome],
        )
    };
    let matrix = vec![
        tcp(CLIENT_A, SERVER, Expectation::Allowed, connected()),
        tcp(CLIENT_A, OTHER, Expectation::Denied, Outcome::Timeout),
        tcp(CLIENT_B, SERVER, Expectation::Denied, connected()),
        tcp(
            CLIENT_B,
            OTHER,
            Expectation::Denied,
            Outcome::CouldNotRun {
                // Agent output may carry terminal colors and worse; XML must not.
                reason: "exec failed: \u{1b}[31mcontainer not found\u{1b}[0m\u{0}".into(),
            },
        ),
    ];

    let mut skipped = scenario("multus-macvlan", vec![]);
    skipped.skipped = Some("requires CRD network-attachment-definitions.k8s.cni.cncf.io".into());
    let mut broken = scenario("node-ports", vec![]);
    broken.setup_error = Some(
        // Kubernetes errors can quote colored tool output: neither XML nor a terminal may get it.
        "Deployment server did not become ready in 120s: 0/2 pods ready \
         (\u{1b}[33mImagePullBackOff\u{1b}[0m)\u{0}"
            .into(),
    );

    RunReport {
        format_version: REPORT_FORMAT_VERSION,
        cnicheck_version: "0.1.0".into(),
        run_id: "x".into(),
        arguments: vec![
            "cnicheck".into(),
            "run".into(),
            "--junit".into(),
            "out.xml".into(),
        ],
        cluster: ClusterInfo {
            server_version: "v1.34.1".into(),
            nodes: 2,
            cni: "cilium".into(),
            cni_version: Some("1.17.6".into()),
            cni_images: vec![
                "public.ecr.aws/eks/cilium/cilium:v1.17.6-0".into(),
                "public.ecr.aws/eks/cilium/operator-generic:v1.17.6-0".into(),
            ],
            namespace: "cnicheck-x".into(),
            cilium: Some(CiliumInfo {
                namespace: "kube-system".into(),
                agent: ComponentInfo {
                    object: "DaemonSet kube-system/cilium".into(),
                    desired: 3,
                    ready: 2,
                    images: vec!["public.ecr.aws/eks/cilium/cilium:v1.17.6-0".into()],
                    versions: vec!["v1.17.6-0".into()],
                },
                operator: Some(ComponentInfo {
                    object: "Deployment kube-system/cilium-operator".into(),
                    desired: 2,
                    ready: 2,
                    images: vec!["public.ecr.aws/eks/cilium/operator-generic:v1.17.6-0".into()],
                    versions: vec!["v1.17.6-0".into()],
                }),
                encryption: BTreeMap::from([
                    ("node-1".to_owned(), "Disabled".to_owned()),
                    ("node-2".to_owned(), "Disabled".to_owned()),
                ]),
            }),
        },
        started_at: "2026-11-22T10:00:00Z".into(),
        duration_secs: 42.5,
        preflight: vec![
            preflight_check(
                "scenarios/manifests/deny.yaml",
                "NetworkPolicy/deny",
                Verdict::Pass,
                None,
            ),
            preflight_check(
                "scenarios/manifests/nad.yaml",
                "NetworkAttachmentDefinition/macvlan",
                Verdict::Skip,
                Some("not checked: the cluster does not serve k8s.cni.cncf.io/v1"),
            ),
        ],
        scenarios: vec![
            scenario(
                "pod-to-pod",
                vec![
                    http(std::slice::from_ref(&ok)),
                    {
                        let mut flaky = http(&[Outcome::Timeout, ok]);
                        flaky.name = "baseline::client-a-0->pod:server:http/8081".into();
                        flaky.port = Some(8081);
                        flaky
                    },
                    skipped_probe,
                ],
            ),
            scenario("policy-deny", matrix),
            skipped,
            broken,
        ],
        kept_namespaces: false,
    }
}

fn preflight_check(
    file: &str,
    object: &str,
    verdict: Verdict,
    message: Option<&str>,
) -> PreflightCheck {
    PreflightCheck {
        name: format!("preflight::dry-run::{file}::{object}"),
        file: file.into(),
        object: object.into(),
        verdict,
        message: message.map(Into::into),
    }
}

/// The fixture as a run whose preflight rejected a policy: nothing ran.
fn rejected_report() -> RunReport {
    let mut rejected = report();
    rejected.scenarios.clear();
    rejected.preflight.push(preflight_check(
        "scenarios/manifests/cnp.yaml",
        "CiliumNetworkPolicy/typo",
        Verdict::Fail,
        Some(".spec.ingress[0].fromEndpoint: field not declared in schema (BadRequest)"),
    ));
    rejected
}

// ---- judge, as the runner uses it --------------------------------------------------------------

#[test]
fn fixture_has_every_kind_of_result() {
    let tally = report().tally();
    assert_eq!(
        (
            tally.passed,
            tally.flaky,
            tally.failed,
            tally.errors,
            tally.skipped
        ),
        (3, 1, 1, 1, 1)
    );
    assert_eq!(
        (
            tally.scenarios_run,
            tally.scenarios_skipped,
            tally.setup_errors
        ),
        (2, 1, 1)
    );
}

// ---- console -----------------------------------------------------------------------------------

#[test]
fn console_prints_truth_tables_for_a_failed_matrix() {
    let summary = console::render_summary(&report(), false);
    let tables = "\
Matrix policy-deny / enforce: tcp/9000: 2 of 4 cells wrong
      1 = pod:server at 10.244.1.5:9000 (server-0)
      2 = pod:other at 10.244.2.7:9000 (other-0)
  expected:
                           1  2
    cnicheck-x/client-a-0  .  X
    cnicheck-x/client-b-0  X  X
  observed:
                           1  2
    cnicheck-x/client-a-0  .  X
    cnicheck-x/client-b-0  .  E
  diff:
                           1  2
    cnicheck-x/client-a-0  .  .
    cnicheck-x/client-b-0  !  E
  . reached   X blocked   ? unclear   ! wrong   E error   - not run
";
    assert!(summary.contains(tables), "tables missing from:\n{summary}");
}

#[test]
fn json_reports_carry_every_matrix_as_compact_truth_tables() {
    let report = report();
    let text = json::to_string(&report).unwrap();
    let read: RunReport = serde_json::from_str(&text).unwrap();
    let table = read
        .scenarios
        .iter()
        .flat_map(|scenario| &scenario.truth_tables)
        .find(|table| table.phase == "enforce")
        .expect("the enforce matrix has a table");
    assert_eq!(table.protocol, "tcp/9000");
    assert_eq!(
        table.rows,
        ["cnicheck-x/client-a-0", "cnicheck-x/client-b-0"]
    );
    assert_eq!(table.columns[0].to, "pod:server");
    assert_eq!(table.columns[0].address, "10.244.1.5:9000 (server-0)");
    assert_eq!(table.expected, [".X", "XX"]);
    assert_eq!(table.observed, [".X", ".E"]);
    assert_eq!(table.diff, ["..", "!E"]);
    assert_eq!((table.wrong(), table.cells()), (2, 4));
}

#[test]
fn a_truth_table_cell_holds_every_pod_of_its_source() {
    let probe = |from: &str, (to, address): (&str, &str), outcome: Outcome| {
        let mut probe = probe(
            "p",
            from,
            (to, address),
            Protocol::Tcp,
            80,
            Expectation::Allowed,
            &[outcome],
        );
        probe.cell = format!("s::p::x/a->{to}:tcp/80");
        probe
    };
    let connected = || Outcome::Connected {
        peer: "10.0.0.2:80".into(),
    };
    let probes = vec![
        probe(
            "ns/a-0 on n1",
            ("pod:y/b", "10.0.0.2:80 (b-0)"),
            connected(),
        ),
        probe(
            "ns/a-1 on n2",
            ("pod:y/b", "10.0.0.2:80 (b-0)"),
            connected(),
        ),
        probe(
            "ns/a-0 on n1",
            ("pod:y/c", "10.0.0.3:80 (c-0)"),
            connected(),
        ),
        probe(
            "ns/a-1 on n2",
            ("pod:y/c", "10.0.0.3:80 (c-0)"),
            Outcome::Timeout,
        ),
    ];
    let tables = truth_table::truth_tables(&probes);
    assert_eq!(tables[0].rows, ["x/a"]);
    assert_eq!(tables[0].observed, [".?"]);
    assert_eq!(tables[0].diff, [".!"]);
}

#[test]
fn console_prints_a_block_with_the_reproduce_command_for_each_wrong_cell() {
    let summary = console::render_summary(&report(), false);
    let failure = "\
FAIL policy-deny::enforce::cnicheck-x/client-b-0->pod:server:tcp/9000
    from:      cnicheck-x/client-b-0 on node-2
    to:        pod:server at 10.244.1.5:9000 (server-0)
    protocol:  tcp/9000
    expected:  denied
    observed:  connected
    why:       expected the traffic to be denied (dropped, refused or unreachable), but the \
connection was made (to 10.244.1.5:9000): the traffic got through: the policy that should block \
it is missing, not yet enforced, or does not select these pods
    reproduce: kubectl exec -n cnicheck-x client-b-0 -- cnicheck agent probe tcp 10.244.1.5:9000
";
    assert!(
        summary.contains(failure),
        "failure block missing from:\n{summary}"
    );
    assert!(
        summary.contains("ERROR policy-deny::enforce::cnicheck-x/client-b-0->pod:other:tcp/9000\n"),
        "{summary}"
    );
    assert!(
        summary.contains(
            "    reproduce: kubectl exec -n cnicheck-x client-b-0 -- cnicheck agent probe tcp \
             10.244.2.7:9000\n"
        ),
        "{summary}"
    );
    // Cells that passed get no block.
    assert!(
        !summary.contains("client-a-0 -- cnicheck agent probe tcp"),
        "{summary}"
    );
}

#[test]
fn console_says_reproduce_commands_need_the_pods_kept() {
    const HINT: &str = "rerun with --keep to keep them";
    let mut report = report();
    assert!(
        console::render_summary(&report, false).contains(HINT),
        "failures in deleted pods need the hint"
    );
    report.kept_namespaces = true;
    let kept = console::render_summary(&report, false);
    assert!(!kept.contains(HINT));
    assert!(
        kept.contains("`cnicheck cleanup --run x` removes them"),
        "a kept run says how to remove it: {kept}"
    );
    let only_cilium_failed = RunReport {
        scenarios: vec![cilium_check()],
        kept_namespaces: false,
        ..report
    };
    assert!(
        !console::render_summary(&only_cilium_failed, false).contains(HINT),
        "Cilium's pods are not the run's: their commands work without --keep"
    );
}

#[test]
fn console_summarizes_setup_errors_flaky_probes_skips_and_counts() {
    let summary = console::render_summary(&report(), false);
    for expected in [
        "ERROR node-ports::setup\n    file:      scenarios/node-ports.yaml\n    why:       the \
         scenario's setup failed: Deployment server did not become ready in 120s: 0/2 pods ready \
         (ImagePullBackOff)\n",
        "FLAKY pod-to-pod::baseline::client-a-0->pod:server:http/8081 (passed on attempt 2; \
         before: timeout)\n",
        "Summary [  42.500s] 2 scenarios run, 1 skipped, 1 setup error\n",
        "    probes: 3 passed, 1 flaky, 1 failed, 1 error, 1 skipped\n",
        "    skipped multus-macvlan: requires CRD network-attachment-definitions.k8s.cni.cncf.io\n",
    ] {
        assert!(
            summary.contains(expected),
            "missing {expected:?} from:\n{summary}"
        );
    }
    assert!(
        !summary.contains('\u{1b}'),
        "colors without a terminal:\n{summary}"
    );
    assert!(console::render_summary(&report(), true).contains("\u{1b}[1;31m"));
}

#[test]
fn console_progress_lines() {
    let report = report();
    let probes = &report.scenarios[1].probes;
    let lines: Vec<String> = probes
        .iter()
        .map(|probe| console::progress_line(probe, false))
        .collect();
    assert_eq!(
        lines[0],
        " PASS [   0.250s] policy-deny::enforce::cnicheck-x/client-a-0->pod:server:tcp/9000"
    );
    assert_eq!(
        lines[2],
        " FAIL [   0.250s] policy-deny::enforce::cnicheck-x/client-b-0->pod:server:tcp/9000: \
         expected denied, observed connected"
    );
    let flaky = console::progress_line(&report.scenarios[0].probes[1], false);
    assert!(
        flaky.starts_with("FLAKY ") && flaky.ends_with(" (passed on attempt 2)"),
        "{flaky}"
    );

    let mut out = Vec::new();
    let mut live = console::Console::new(&mut out, false);
    live.probe_finished(&probes[0]).unwrap();
    live.scenario_finished(&report.scenarios[2]).unwrap();
    live.scenario_finished(&report.scenarios[3]).unwrap();
    let out = String::from_utf8(out).unwrap();
    assert!(out.contains(" SKIP multus-macvlan: requires CRD"), "{out}");
    assert!(
        out.contains("ERROR node-ports::setup: Deployment server"),
        "{out}"
    );
}

/// The image results of the built-in `cilium` check on two agents that run another build:
/// results with no address and no reach.
fn cilium_check() -> ScenarioReport {
    let image = |pod: &str, node: &str| ProbeReport {
        name: format!("image [{pod} on {node}]"),
        cell: "image".into(),
        phase: "agent".into(),
        from: format!("kube-system/{pod} on {node}"),
        to: "container cilium-agent".into(),
        target_address: String::new(),
        protocol: "image".into(),
        port: None,
        expected: "public.ecr.aws/eks/cilium/cilium:v1.17.6-0".into(),
        observed: "quay.io/cilium/cilium:v1.17.6".into(),
        expected_reach: Reach::Unknown,
        observed_reach: Reach::Unknown,
        verdict: Verdict::Fail,
        attempts: 1,
        earlier_attempts: Vec::new(),
        duration_secs: 0.0,
        message: Some(format!(
            "cilium-agent of pod kube-system/{pod} ({node}) does not run \
             public.ecr.aws/eks/cilium/cilium:v1.17.6-0: another repository: expected \
             public.ecr.aws/eks/cilium/cilium, runs quay.io/cilium/cilium"
        )),
        reproduce: format!("kubectl -n kube-system get pod {pod} -o jsonpath=..."),
        source: None,
        destination_node: None,
        observed_kind: None,
        path: None,
        latency_ms: None,
        backends: None,
    };
    scenario(
        "cilium",
        vec![image("cilium-0", "node-1"), image("cilium-1", "node-2")],
    )
}

#[test]
fn console_names_the_cluster_and_cilium_s_readiness_and_images() {
    let summary = console::render_summary(&report(), false);
    let expected = "Cluster v1.34.1, 2 nodes, CNI cilium 1.17.6\n    cilium agent 2/3 ready \
                    (public.ecr.aws/eks/cilium/cilium:v1.17.6-0), operator 2/2 ready \
                    (public.ecr.aws/eks/cilium/operator-generic:v1.17.6-0)\n    cilium \
                    encryption: Disabled on 2 agents\nSummary";
    assert!(
        summary.contains(expected),
        "missing {expected:?} from:\n{summary}"
    );
}

#[test]
fn console_shows_check_results_without_empty_targets_or_truth_tables() {
    let mut report = report();
    report.scenarios.push(cilium_check());
    let summary = console::render_summary(&report, false);
    let block = "\
FAIL cilium::image [cilium-1 on node-2]
    from:      kube-system/cilium-1 on node-2
    to:        container cilium-agent
    protocol:  image
    expected:  public.ecr.aws/eks/cilium/cilium:v1.17.6-0
    observed:  quay.io/cilium/cilium:v1.17.6
    why:       cilium-agent of pod kube-system/cilium-1 (node-2) does not run \
public.ecr.aws/eks/cilium/cilium:v1.17.6-0: another repository: expected \
public.ecr.aws/eks/cilium/cilium, runs quay.io/cilium/cilium
";
    assert!(
        summary.contains(block),
        "missing {block:?} from:\n{summary}"
    );
    assert!(!summary.contains("Matrix cilium"), "{summary}");
}

// ---- JUnit -------------------------------------------------------------------------------------

#[test]
fn junit_carries_cilium_s_readiness_images_and_versions() {
    let xml = junit::to_string(&report()).unwrap();
    for expected in [
        r#"<property name="cilium.namespace" value="kube-system"/>"#,
        r#"<property name="cilium.agent.ready" value="2/3"/>"#,
        r#"<property name="cilium.agent.images" value="public.ecr.aws/eks/cilium/cilium:v1.17.6-0"/>"#,
        r#"<property name="cilium.agent.versions" value="v1.17.6-0"/>"#,
        r#"<property name="cilium.operator.ready" value="2/2"/>"#,
        r#"<property name="cilium.operator.images" value="public.ecr.aws/eks/cilium/operator-generic:v1.17.6-0"/>"#,
        r#"<property name="cilium.encryption" value="Disabled on 2 agents"/>"#,
    ] {
        assert!(xml.contains(expected), "missing {expected:?} from:\n{xml}");
    }
}

#[test]
fn junit_has_one_suite_per_scenario_and_one_case_per_probe() {
    let xml = junit::to_string(&report()).unwrap();
    for expected in [
        r#"<testsuite name="pod-to-pod" tests="3" skipped="1" errors="0" failures="0""#,
        r#"<testsuite name="policy-deny" tests="4" skipped="0" errors="1" failures="1""#,
        r#"<property name="cni.images" value="public.ecr.aws/eks/cilium/cilium:v1.17.6-0,public.ecr.aws/eks/cilium/operator-generic:v1.17.6-0"/>"#,
        r#"<property name="cnicheck.arguments" value="cnicheck run --junit out.xml"/>"#,
        r#"<property name="cnicheck.run-id" value="x"/>"#,
        r#"<property name="cluster.nodes" value="2"/>"#,
        r#"<testcase name="node-ports::setup" classname="node-ports">"#,
        r#"<error message="Deployment server did not become ready in 120s"#,
        r#"<testcase name="multus-macvlan::requires" classname="multus-macvlan">"#,
        r#"<skipped message="requires CRD network-attachment-definitions.k8s.cni.cncf.io"/>"#,
        r#"<skipped message="the Service has no ClusterIP"/>"#,
        r#"<flakyFailure message="expected the request to be allowed (an HTTP 2xx), but it timed out with no answer: something dropped the packets (a NetworkPolicy, a firewall, or a broken route)" type="timeout">"#,
        r#"type="could-not-run">ERROR policy-deny::enforce::"#,
        r#"<failure message="expected the traffic to be denied (dropped, refused or unreachable), but the connection was made"#,
        "    reproduce: kubectl exec -n cnicheck-x client-b-0 -- cnicheck agent probe tcp 10.244.1.5:9000",
        r#"<testcase name="policy-deny::enforce::cnicheck-x/client-a-0->pod:server:tcp/9000" classname="policy-deny" time="0.250"/>"#,
    ] {
        let expected = expected.replace("->", "-&gt;");
        assert!(xml.contains(&expected), "missing {expected:?} from:\n{xml}");
    }
    assert!(
        !xml.contains("<testsuites name=\"cnicheck\" tests=\"11\" skipped")
            && xml.contains("<testsuites name=\"cnicheck\" tests=\"11\""),
        "{xml}"
    );
}

#[test]
fn preflight_shows_in_console_and_junit() {
    let lines = console::render_preflight(&report().preflight, false);
    assert_eq!(
        lines,
        "preflight: server-side dry run of 2 objects: 1 accepted, 1 not served by the cluster \
         (NetworkAttachmentDefinition)\n"
    );
    let rejected = rejected_report();
    let lines = console::render_preflight(&rejected.preflight, false);
    assert!(
        lines.starts_with(
            " FAIL preflight::dry-run::scenarios/manifests/cnp.yaml::CiliumNetworkPolicy/typo: \
             .spec.ingress[0].fromEndpoint: field not declared in schema (BadRequest)\n"
        ),
        "{lines}"
    );
    assert!(
        lines.ends_with(
            "1 accepted, 1 rejected, 1 not served by the cluster (NetworkAttachmentDefinition)\n"
        ),
        "{lines}"
    );
    let summary = console::render_summary(&rejected, false);
    assert!(
        summary.starts_with(
            "FAIL preflight::dry-run::scenarios/manifests/cnp.yaml::CiliumNetworkPolicy/typo\n    \
             file:      scenarios/manifests/cnp.yaml\n    object:    CiliumNetworkPolicy/typo\n    \
             why:       .spec.ingress[0].fromEndpoint: field not declared in schema (BadRequest)\n\n\
             Preflight: the server-side dry run rejected a manifest; nothing was deployed\n"
        ),
        "{summary}"
    );

    let xml = junit::to_string(&rejected).unwrap();
    for expected in [
        r#"<testsuite name="preflight" tests="3" skipped="1" errors="0" failures="1""#,
        r#"<testcase name="preflight::dry-run::scenarios/manifests/deny.yaml::NetworkPolicy/deny" classname="preflight"/>"#,
        r#"<skipped message="not checked: the cluster does not serve k8s.cni.cncf.io/v1"/>"#,
        r#"<failure message=".spec.ingress[0].fromEndpoint: field not declared in schema (BadRequest)" type="rejected">file:   scenarios/manifests/cnp.yaml"#,
    ] {
        assert!(xml.contains(expected), "missing {expected:?} from:\n{xml}");
    }
}

#[test]
fn junit_has_no_terminal_escapes_or_nul_bytes() {
    let xml = junit::to_string(&report()).unwrap();
    assert!(xml.contains("container not found"), "{xml}");
    assert!(!xml.contains('\u{1b}'), "ESC in XML:\n{xml}");
    assert!(!xml.contains('\u{0}'), "NUL in XML:\n{xml}");
}

#[test]
fn junit_validates_against_the_jenkins_xunit_schema() {
    let Some(xmllint) = xmllint() else { return };
    for (name, report) in [
        ("junit.xml", report()),
        ("junit-rejected.xml", rejected_report()),
    ] {
        validate_junit(xmllint, name, &report);
    }
}

fn validate_junit(xmllint: &str, name: &str, report: &RunReport) {
    let path = temp_path(name);
    junit::write(report, &path).unwrap();
    let schema = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/junit-10.xsd");
    let output = Command::new(xmllint)
        .arg("--noout")
        .arg("--schema")
        .arg(&schema)
        .arg(&path)
        .output()
        .unwrap();
    let xml = std::fs::read_to_string(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    assert!(
        output.status.success(),
        "xmllint rejected the JUnit report:\n{}\n{xml}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// xmllint, or `None` (with a notice) when it is missing outside CI. In CI a missing xmllint
/// fails the test, so the schema check cannot silently stop running.
fn xmllint() -> Option<&'static str> {
    if Command::new("xmllint").arg("--version").output().is_ok() {
        return Some("xmllint");
    }
    let advice = "xmllint is missing: install it with `apt-get install -y libxml2-utils`";
    if std::env::var_os("CI").is_some_and(|ci| !ci.is_empty()) {
        panic!("{advice} (CI is set, so the JUnit schema check may not be skipped)");
    }
    eprintln!("NOTICE: skipping the JUnit schema check: {advice}");
    None
}

fn temp_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!(
        "cnicheck-report-test-{}-{name}",
        std::process::id()
    ))
}

// ---- JSON --------------------------------------------------------------------------------------

#[test]
fn json_round_trips() {
    let path = temp_path("round-trip.json");
    let report = report();
    json::write(&report, &path).unwrap();
    let read = json::read(&path);
    std::fs::remove_file(&path).unwrap();
    assert_eq!(read.unwrap(), report);
}

#[test]
fn json_reads_reports_without_the_optional_fields() {
    let mut value = serde_json::to_value(report()).unwrap();
    for scenario in value["scenarios"].as_array_mut().unwrap() {
        for probe in scenario["probes"].as_array_mut().unwrap() {
            let probe = probe.as_object_mut().unwrap();
            probe.remove("expected_reach");
            probe.remove("observed_reach");
            probe.remove("earlier_attempts");
        }
    }
    let path = temp_path("minimal.json");
    std::fs::write(&path, value.to_string()).unwrap();
    let read = json::read(&path);
    std::fs::remove_file(&path).unwrap();
    let probe = &read.unwrap().scenarios[1].probes[0];
    assert_eq!(
        probe.expected_reach,
        cnicheck::report::model::Reach::Unknown
    );
    assert!(probe.earlier_attempts.is_empty());
}

#[test]
fn json_refuses_a_newer_format_with_a_clear_error() {
    let path = temp_path("newer.json");
    std::fs::write(&path, r#"{"format_version": 99, "something_new": true}"#).unwrap();
    let error = json::read(&path).unwrap_err();
    std::fs::remove_file(&path).unwrap();
    assert!(
        matches!(error, ReportError::UnsupportedFormat { found: 99, .. }),
        "{error}"
    );
    assert!(
        error.to_string().contains("use a newer cnicheck"),
        "{error}"
    );
}

// ---- exit code ---------------------------------------------------------------------------------

#[test]
fn exit_code_policy() {
    let full = report();
    assert_eq!(exit_code::for_run(&full), exit_code::PROBES_FAILED);

    let mut errors_only = full.clone();
    errors_only.scenarios.remove(1);
    assert_eq!(exit_code::for_run(&errors_only), exit_code::PROBES_ERRORED);

    let mut passed = errors_only.clone();
    passed
        .scenarios
        .retain(|scenario| scenario.setup_error.is_none());
    assert_eq!(
        exit_code::for_run(&passed),
        exit_code::SUCCESS,
        "flaky and skipped still pass"
    );

    let mut nothing_ran = passed.clone();
    nothing_ran.scenarios.remove(0);
    assert_eq!(exit_code::for_run(&nothing_ran), exit_code::NO_PROBES_RAN);

    assert_eq!(
        exit_code::for_run(&rejected_report()),
        exit_code::TOOL_ERROR
    );
}

// ---- diff --------------------------------------------------------------------------------------

/// The fixture as it was before things went wrong: every probe passed at once.
fn all_passing_baseline() -> RunReport {
    let mut baseline = report();
    for scenario in &mut baseline.scenarios {
        for probe in &mut scenario.probes {
            probe.verdict = Verdict::Pass;
            probe.attempts = 1;
            probe.earlier_attempts.clear();
        }
    }
    baseline.started_at = "2026-11-20T09:00:00Z".into();
    baseline.cluster.cni_version = Some("1.17.5".into());
    baseline
}

#[test]
fn diff_console_puts_regressions_first_with_what_was_observed() {
    let diff = diff::diff(
        &all_passing_baseline(),
        &report(),
        diff::DiffOptions::default(),
    );
    let text = console::render_diff(&diff, false);
    eprintln!("{text}");
    let regressions = text
        .find("Regressions: passed before, not now (2)")
        .unwrap();
    let skips = text.find("New skips (1)").unwrap();
    let flakes = text.find("New flakes (1)").unwrap();
    assert!(regressions < skips && skips < flakes, "{text}");
    for needle in [
        "baseline: started 2026-11-20T09:00:00Z, cnicheck 0.1.0, Kubernetes v1.34.1, 2 nodes, \
         CNI cilium 1.17.5",
        "current:  started 2026-11-22T10:00:00Z",
        "FAIL policy-deny::enforce::cnicheck-x/client-b-0->pod:server:tcp/9000 (was pass)",
        "expected denied, observed connected",
        "ERROR policy-deny::enforce::cnicheck-x/client-b-0->pod:other:tcp/9000 (was pass)",
        "observed could not run: exec failed: container not found",
        "FLAKY pod-to-pod::baseline::client-a-0->pod:server:http/8081 (was pass)",
        "attempts timeout, pass",
        "Diff 2 regressions, 1 newly skipped, 1 newly flaky, 0 fixed, 0 added, 0 removed; \
         unchanged: 3 passing, 0 flaky, 0 failing, 0 skipped",
    ] {
        assert!(text.contains(needle), "lacks `{needle}`:\n{text}");
    }
    assert!(!text.contains('\u{1b}') && !text.contains('\u{0}'));
    assert_eq!(exit_code::for_diff(&diff), exit_code::PROBES_FAILED);
    let reversed = diff::diff(
        &report(),
        &all_passing_baseline(),
        diff::DiffOptions::default(),
    );
    assert_eq!(reversed.fixed.len(), 2);
    assert_eq!(exit_code::for_diff(&reversed), exit_code::SUCCESS);
}

fn cnicheck_diff(baseline: &Path, current: &Path, extra: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_cnicheck"))
        .arg("diff")
        .arg(baseline)
        .arg(current)
        .args(extra)
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

#[test]
fn diff_command_exit_codes_and_json_output() {
    let (baseline, current) = (temp_path("baseline.json"), temp_path("current.json"));
    json::write(&all_passing_baseline(), &baseline).unwrap();
    json::write(&report(), &current).unwrap();

    let regressed = cnicheck_diff(&baseline, &current, &["--format", "json"]);
    let fixed = cnicheck_diff(&current, &baseline, &[]);
    let missing = cnicheck_diff(&baseline, &temp_path("missing.json"), &[]);
    let not_a_report = cnicheck_diff(&baseline, Path::new(env!("CARGO_MANIFEST_DIR")), &[]);
    std::fs::remove_file(&baseline).unwrap();
    std::fs::remove_file(&current).unwrap();

    assert_eq!(regressed.status.code(), Some(100));
    let machine: diff::ReportDiff = serde_json::from_slice(&regressed.stdout).unwrap();
    assert_eq!(machine.regressed.len(), 2);
    assert_eq!(machine.format_version, diff::DIFF_FORMAT_VERSION);

    assert_eq!(fixed.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&fixed.stdout).contains("Fixed (2)"));

    for unreadable in [missing, not_a_report] {
        assert_eq!(unreadable.status.code(), Some(1));
        assert!(unreadable.stdout.is_empty());
        let stderr = String::from_utf8_lossy(&unreadable.stderr);
        assert!(stderr.contains("cnicheck diff: cannot read"), "{stderr}");
    }
}

#[test]
fn a_failure_block_says_a_run_of_like_attempts_once() {
    let gone = || Outcome::CouldNotRun {
        reason: "exec failed: pod cnicheck-x/client-a-0 is gone".into(),
    };
    let mut outcomes = vec![Outcome::Timeout];
    outcomes.extend(std::iter::repeat_with(gone).take(53));
    let probe = probe(
        "slow",
        CLIENT_A,
        ("external", "http://outside.test/"),
        Protocol::Tcp,
        9,
        Expectation::Dropped,
        &outcomes,
    );
    let block = failure::failure_block(&probe);
    assert!(
        block.contains(
            "    attempts:  54 (before the last: timeout; could not run: exec failed: pod \
             cnicheck-x/client-a-0 is gone (52 attempts))\n"
        ),
        "{block}"
    );
}

#[test]
fn a_failure_block_leaves_out_the_middle_of_a_long_history() {
    let mut outcomes: Vec<Outcome> = (0..8u16)
        .map(|n| Outcome::HttpStatus {
            status: 500 + n,
            server: None,
        })
        .collect();
    outcomes.push(Outcome::Timeout);
    let probe = probe(
        "slow",
        CLIENT_A,
        ("external", "http://outside.test/"),
        Protocol::Http,
        80,
        Expectation::Allowed,
        &outcomes,
    );
    let block = failure::failure_block(&probe);
    assert!(
        block.contains(
            "    attempts:  9 (before the last: http 500; http 501; ... 3 more ...; http 505; \
             http 506; http 507)\n"
        ),
        "{block}"
    );
}

// ---- latency ----------------------------------------------------------------------------------

/// The report with latencies on its answered probes, as the agent measured them.
fn timed_report() -> RunReport {
    let mut report = report();
    let mut next = [0.8, 0.2, 1.4, 0.4].into_iter().cycle();
    for scenario in &mut report.scenarios {
        for probe in &mut scenario.probes {
            if probe.observed_reach == Reach::Reached {
                probe.path = Some(PathClass::CrossNode);
                probe.latency_ms = next.next();
            }
        }
    }
    report
}

#[test]
fn the_summary_gives_latency_by_path() {
    let summary = console::render_summary(&timed_report(), false);
    let line = summary
        .lines()
        .find(|line| line.trim_start().starts_with("latency cross-node"))
        .unwrap_or_else(|| panic!("no latency line in:\n{summary}"));
    assert!(
        line.contains("p50 ") && line.contains("p99 ") && line.contains("max 1.400 ms"),
        "{line}"
    );
    assert!(
        !console::render_summary(&report(), false).contains("latency"),
        "no answers timed, no latency line"
    );
}

#[test]
fn junit_carries_latency_per_path_on_the_suite_and_per_case() {
    let xml = junit::to_string(&timed_report()).unwrap();
    for expected in [
        r#"<property name="latency.cross-node.max-ms" value="1.400"/>"#,
        r#"<property name="latency.cross-node.answers" value="#,
        "<system-out>latency: 0.800 ms (cross-node)</system-out>",
    ] {
        assert!(xml.contains(expected), "missing {expected:?} from:\n{xml}");
    }
}

#[test]
fn latency_survives_the_json_report_and_older_reports_have_none() {
    let report = timed_report();
    let text = json::to_string(&report).unwrap();
    assert!(text.contains("\"latency_ms\": 0.8") && text.contains("\"path\": \"cross-node\""));
    let read: RunReport = serde_json::from_str(&text).unwrap();
    assert_eq!(read, report);
    let older = json::to_string(&crate::report()).unwrap();
    assert!(!older.contains("latency_ms"));
}

#[test]
fn a_udp_probe_whose_reply_was_lost_passes_and_is_listed_apart() {
    let mut report = report();
    let lost = probe(
        "baseline",
        CLIENT_A,
        SERVER,
        Protocol::Udp,
        9001,
        Expectation::Allowed,
        &[Outcome::UdpReplyLost {
            source: "10.244.1.9".into(),
        }],
    );
    assert_eq!(lost.verdict, Verdict::Pass);
    let name = lost.name.clone();
    report.scenarios[0].probes.push(lost);
    let summary = console::render_summary(&report, false);
    assert!(
        summary.contains("Delivered, reply lost") && summary.contains(&format!(" LOST {name}")),
        "{summary}"
    );
}

#[test]
fn junit_and_json_carry_the_answers_by_backend() {
    let mut report = report();
    let probe = &mut report.scenarios[0].probes[0];
    probe.backends = Some(BTreeMap::from([
        ("server-0".to_owned(), 38),
        ("server-1".to_owned(), 2),
    ]));
    let xml = junit::to_string(&report).unwrap();
    let expected = "<system-out>answers by backend: server-0 38, server-1 2</system-out>";
    assert!(xml.contains(expected), "missing {expected:?} from:\n{xml}");
    let text = json::to_string(&report).unwrap();
    assert!(text.contains("\"server-0\": 38"), "{text}");
    let read: RunReport = serde_json::from_str(&text).unwrap();
    assert_eq!(read, report);
}

#[test]
fn agents_that_disagree_on_encryption_are_named_each() {
    let mut report = report();
    let cilium = report.cluster.cilium.as_mut().unwrap();
    cilium
        .encryption
        .insert("node-2".into(), "Wireguard (cilium_wg0: 1 peer)".into());
    assert_eq!(
        cilium.encryption_summary().as_deref(),
        Some("node-1: Disabled, node-2: Wireguard (cilium_wg0: 1 peer)")
    );
}

#[test]
fn the_summary_gives_time_by_stage_and_json_keeps_each_phase() {
    let mut report = report();
    report.scenarios[0].stages = Some(StageTimes {
        setup_secs: 0.5,
        deploy_secs: 12.0,
        phases: vec![
            PhaseTimes {
                phase: "baseline".into(),
                apply_secs: 0.0,
                probe_secs: 2.0,
                matched_after_secs: Some(2.0),
                changing_probes: 0,
            },
            PhaseTimes {
                phase: "deny".into(),
                apply_secs: 0.25,
                probe_secs: 8.0,
                matched_after_secs: Some(3.0),
                changing_probes: 4,
            },
        ],
        cleanup_secs: 6.0,
        shared_with: Vec::new(),
    });
    // Two more scenarios ran on one deployment of their own: it counts once.
    let shared = |other: &str| StageTimes {
        setup_secs: 0.5,
        deploy_secs: 10.0,
        phases: Vec::new(),
        cleanup_secs: 4.0,
        shared_with: vec![other.into()],
    };
    for (name, other) in [("a", "b"), ("b", "a")] {
        let mut scenario = report.scenarios[0].clone();
        scenario.name = name.into();
        scenario.stages = Some(shared(other));
        report.scenarios.push(scenario);
    }
    let summary = console::render_summary(&report, false);
    let expected = "    time by stage, summed over scenarios: setup 1.0s, deploy 22.0s, apply 0.2s, \
                    probing 10.0s (5.0s until every probe matched), cleanup 10.0s\n";
    assert!(
        summary.contains(expected),
        "missing {expected:?} from:\n{summary}"
    );
    let text = json::to_string(&report).unwrap();
    assert!(text.contains("\"matched_after_secs\": 3.0"), "{text}");
    assert!(text.contains("\"changing_probes\": 4"), "{text}");
    assert!(text.contains("\"shared_with\": [\n"), "{text}");
    let read: RunReport = serde_json::from_str(&text).unwrap();
    assert_eq!(read, report);
}
