//! The cilium group and Cilium's scenarios: skipped with a reason where Cilium is absent, their
//! policies dry-run against the CRDs, a look-alike's missing cilium-health is an error, and the
//! real agents pass while another expected image fails on every agent.

use crate::support::*;
use cnicheck::cluster::{self};
use cnicheck::report::model::Verdict;
use kube::api::Api;
use std::time::Duration;

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
pub(crate) struct StandInCilium {
    namespace: String,
}

impl StandInCilium {
    pub(crate) fn deploy() -> Self {
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
            let client = testbed_client().await;
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
    pub(crate) fn wait_ready(&self) {
        wait_until(
            "the stand-in Cilium to be ready",
            Duration::from_secs(90),
            || {
                block_on(async {
                    let client = testbed_client().await;
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
            let client = testbed_client().await;
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
pub(crate) fn another_tag_fails_on_every_agent(
    test: &str,
    image: &str,
    agents: usize,
    message: &str,
) {
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
pub(crate) const TESTBED_CILIUM_IMAGE: &str = "localhost/cnicheck-testbed/cilium:v1.17.6";
pub(crate) const TESTBED_OPERATOR_IMAGE: &str =
    "localhost/cnicheck-testbed/operator-generic:v1.17.6";

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
    // Every agent was asked about encryption, which this kernel cannot do.
    let (node1, node2) = (testbed_node(1).0, testbed_node(2).0);
    assert_eq!(
        cilium.encryption,
        [
            (node1.clone(), "Disabled".to_owned()),
            (node2.clone(), "Disabled".to_owned())
        ]
        .into(),
    );
    let junit = std::fs::read_to_string(dir.join("junit.xml")).unwrap();
    assert!(
        junit.contains(r#"<property name="cilium.encryption" value="Disabled on 2 agents"/>"#),
        "{junit}"
    );
    let results = &report.scenarios[0].probes;
    assert!(
        results.iter().all(|result| result.verdict == Verdict::Pass),
        "{results:#?}"
    );
    assert_eq!(output.status.code(), Some(0));
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
