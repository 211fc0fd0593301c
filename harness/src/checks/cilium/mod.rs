//! The `cilium` check: is the cluster's Cilium up, is it the build the user expects, and do its
//! agents reach each other?
//!
//! - `agent::ready`, `operator::ready`: every pod of the agent DaemonSet and the operator
//!   Deployment is ready (N/N).
//! - `agent::image`, `operator::image`: one result per pod, saying what its main container
//!   runs; with `--expect-cilium-image` / `--expect-cilium-operator-image`, whether that is the
//!   expected image (see [`crate::image::ImageRef::check`]).
//! - `health::…`: `cilium-health status -o json` in every agent, one result per pair of nodes,
//!   address and protocol: ICMP and HTTP to TCP 4240, to the peer node and to its health
//!   endpoint (a pod address, reached through the overlay).
//!
//! Without Cilium the check is skipped, unless an image was expected: then the expected image
//! is not running, which fails the run.

mod components;
mod health;

use super::{CheckContext, CheckOutcome, finding};
use crate::cluster::{
    CILIUM_AGENT_DAEMONSET as AGENT_DAEMONSET, CILIUM_OPERATOR_DEPLOYMENT as OPERATOR_DEPLOYMENT,
    Kubectl,
};
use crate::image::ImageRef;
use crate::report::model::{ProbeReport, Verdict};

/// The test names, relative to the scenario (see [`super::tests`]).
pub const TESTS: &[&str] = &[
    AGENT_READY,
    AGENT_IMAGE,
    OPERATOR_READY,
    OPERATOR_IMAGE,
    health::NODE_ICMP,
    health::NODE_HTTP,
    health::ENDPOINT_ICMP,
    health::ENDPOINT_HTTP,
];
const AGENT_READY: &str = "agent::ready";
const AGENT_IMAGE: &str = "agent::image";
const OPERATOR_READY: &str = "operator::ready";
const OPERATOR_IMAGE: &str = "operator::image";

/// The images the user expects Cilium to run (`cnicheck run --expect-cilium-…`).
#[derive(Debug, Clone, Default)]
pub struct Expectations {
    pub agent_image: Option<ImageRef>,
    pub operator_image: Option<ImageRef>,
}

/// The command-line flags behind [`Expectations`].
pub const AGENT_IMAGE_FLAG: &str = "--expect-cilium-image";
pub const OPERATOR_IMAGE_FLAG: &str = "--expect-cilium-operator-image";

impl Expectations {
    /// Each expectation given, as (its flag, the test that checks it): a run that expects an
    /// image must select that test, or the expectation would pass unchecked.
    pub fn tests(&self) -> Vec<(&'static str, &'static str)> {
        [
            (AGENT_IMAGE_FLAG, AGENT_IMAGE, self.agent_image.is_some()),
            (
                OPERATOR_IMAGE_FLAG,
                OPERATOR_IMAGE,
                self.operator_image.is_some(),
            ),
        ]
        .into_iter()
        .filter_map(|(flag, test, given)| given.then_some((flag, test)))
        .collect()
    }
}

pub(super) async fn run(
    scenario: &str,
    context: &CheckContext<'_>,
    selected: &dyn Fn(&str) -> bool,
) -> CheckOutcome {
    let (expectations, kubectl) = (&context.options.cilium, context.kubectl);
    let Some(install) = context.cilium else {
        return without_cilium(scenario, context.cni, expectations, selected, kubectl);
    };
    let mut results = Vec::new();
    if selected(AGENT_READY) {
        results.push(components::readiness(
            scenario,
            AGENT_READY,
            &install.agent,
            kubectl,
        ));
    }
    if selected(AGENT_IMAGE) {
        results.extend(components::images(
            scenario,
            AGENT_IMAGE,
            &install.agent,
            expectations.agent_image.as_ref(),
            AGENT_IMAGE_FLAG,
            kubectl,
        ));
    }
    match &install.operator {
        Some(operator) => {
            if selected(OPERATOR_READY) {
                results.push(components::readiness(
                    scenario,
                    OPERATOR_READY,
                    operator,
                    kubectl,
                ));
            }
            if selected(OPERATOR_IMAGE) {
                results.extend(components::images(
                    scenario,
                    OPERATOR_IMAGE,
                    operator,
                    expectations.operator_image.as_ref(),
                    OPERATOR_IMAGE_FLAG,
                    kubectl,
                ));
            }
        }
        None => {
            let operator = format!("Deployment {}/{OPERATOR_DEPLOYMENT}", install.namespace);
            let why = format!(
                "there is no {operator}: Cilium's agents need their operator (IPAM, identities, \
                 CRDs)"
            );
            if selected(OPERATOR_READY) {
                let expected = "a ready operator".to_string();
                let result = absent(
                    scenario,
                    OPERATOR_READY,
                    &operator,
                    expected,
                    Verdict::Fail,
                    kubectl,
                );
                results.push(explained(result, why.clone()));
            }
            if selected(OPERATOR_IMAGE) {
                // An image is only expected when the user named one.
                let expected = expectations.operator_image.as_ref();
                let verdict = expected.map_or(Verdict::Skip, |_| Verdict::Fail);
                let expected = expected.map(ToString::to_string).unwrap_or_default();
                let result = absent(
                    scenario,
                    OPERATOR_IMAGE,
                    &operator,
                    expected,
                    verdict,
                    kubectl,
                );
                results.push(explained(result, why));
            }
        }
    }
    results.extend(health::run(context.client, scenario, install, selected, kubectl).await);
    CheckOutcome::Ran(results)
}

/// No Cilium: skipped, unless an image was expected, which then fails.
/// Why a cluster counts as running no Cilium; skip reasons of everything that needs it say so.
pub fn absence(cni: &str) -> String {
    format!("no DaemonSet {AGENT_DAEMONSET} in any namespace (the cluster's CNI: {cni})")
}

fn without_cilium(
    scenario: &str,
    cni: &str,
    expectations: &Expectations,
    selected: &dyn Fn(&str) -> bool,
    kubectl: &Kubectl,
) -> CheckOutcome {
    let absence = absence(cni);
    let reason = format!("needs Cilium: {absence}");
    if expectations.agent_image.is_none() && expectations.operator_image.is_none() {
        return CheckOutcome::Skipped(reason);
    }
    let expected_image = |test: &str| match test {
        AGENT_IMAGE => expectations.agent_image.as_ref(),
        OPERATOR_IMAGE => expectations.operator_image.as_ref(),
        _ => None,
    };
    let results = TESTS
        .iter()
        .filter(|test| selected(test))
        .map(|&test| match expected_image(test) {
            Some(image) => explained(
                absent(
                    scenario,
                    test,
                    "the cluster",
                    image.to_string(),
                    Verdict::Fail,
                    kubectl,
                ),
                format!("{image} is expected, but the cluster runs no Cilium: {absence}"),
            ),
            None => explained(
                absent(
                    scenario,
                    test,
                    "the cluster",
                    String::new(),
                    Verdict::Skip,
                    kubectl,
                ),
                reason.clone(),
            ),
        })
        .collect();
    CheckOutcome::Ran(results)
}

/// The result of a test whose subject is not in the cluster.
fn absent(
    scenario: &str,
    test: &str,
    subject: &str,
    expected: String,
    verdict: Verdict,
    kubectl: &Kubectl,
) -> ProbeReport {
    let (phase, what) = test.split_once("::").unwrap_or((test, test));
    let mut result = finding(
        format!("{scenario}::{test}"),
        None,
        phase,
        subject.into(),
        what,
    );
    result.expected = expected;
    result.observed = "not found".into();
    result.verdict = verdict;
    result.reproduce = kubectl.command("get daemonsets,deployments --all-namespaces | grep cilium");
    result
}

fn explained(mut result: ProbeReport, why: String) -> ProbeReport {
    result.message = Some(why);
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::CheckOptions;
    use crate::cluster::cilium_fixtures::{EKS_ANYWHERE, install};

    /// A client that is never used: the health tests, the only ones that reach the cluster,
    /// are not selected here.
    fn offline_client() -> kube::Client {
        let config = kube::Config::new("http://127.0.0.1:9".parse().unwrap());
        kube::Client::try_from(config).unwrap()
    }

    async fn run_check(
        cilium: Option<&crate::cluster::CiliumInstall>,
        expectations: Expectations,
        tests: &[&str],
    ) -> CheckOutcome {
        let client = offline_client();
        let options = CheckOptions {
            cilium: expectations,
        };
        let context = CheckContext {
            client: &client,
            cni: "kube-router",
            cilium,
            options: &options,
            kubectl: &Kubectl::new(Some(std::path::Path::new("/run/eks-a.kubeconfig")), None),
        };
        run("cilium", &context, &|test| tests.contains(&test)).await
    }

    const NOT_HEALTH: [&str; 4] = [AGENT_READY, AGENT_IMAGE, OPERATOR_READY, OPERATOR_IMAGE];

    #[tokio::test]
    async fn without_cilium_the_check_is_skipped_with_its_reason() {
        let outcome = run_check(None, Expectations::default(), TESTS).await;
        assert_eq!(
            outcome,
            CheckOutcome::Skipped(
                "needs Cilium: no DaemonSet cilium in any namespace (the cluster's CNI: \
                 kube-router)"
                    .into()
            )
        );
    }

    #[tokio::test]
    async fn without_cilium_an_expected_image_fails() {
        let expectations = Expectations {
            agent_image: Some(
                "public.ecr.aws/eks/cilium/cilium:v1.17.6-0"
                    .parse()
                    .unwrap(),
            ),
            operator_image: None,
        };
        assert_eq!(expectations.tests(), [(AGENT_IMAGE_FLAG, AGENT_IMAGE)]);
        let CheckOutcome::Ran(results) = run_check(None, expectations, TESTS).await else {
            panic!("an expectation must not be skipped");
        };
        assert_eq!(results.len(), TESTS.len());
        let verdicts: Vec<(&str, Verdict)> = results
            .iter()
            .map(|result| (result.name.as_str(), result.verdict))
            .collect();
        assert_eq!(verdicts[1], ("cilium::agent::image", Verdict::Fail));
        assert!(
            verdicts
                .iter()
                .filter(|(name, _)| *name != "cilium::agent::image")
                .all(|(_, verdict)| *verdict == Verdict::Skip),
            "{verdicts:?}"
        );
        let agent_image = &results[1];
        assert_eq!(
            agent_image.expected,
            "public.ecr.aws/eks/cilium/cilium:v1.17.6-0"
        );
        assert_eq!(agent_image.observed, "not found");
        assert_eq!(
            agent_image.message.as_deref(),
            Some(
                "public.ecr.aws/eks/cilium/cilium:v1.17.6-0 is expected, but the cluster runs no \
                 Cilium: no DaemonSet cilium in any namespace (the cluster's CNI: kube-router)"
            )
        );
        assert_eq!(
            agent_image.reproduce,
            "kubectl --kubeconfig /run/eks-a.kubeconfig get daemonsets,deployments \
             --all-namespaces | grep cilium",
            "reproduce commands reach the cluster the run was told to use"
        );
    }

    #[tokio::test]
    async fn a_missing_operator_fails_readiness_and_an_expected_operator_image() {
        let mut cilium = install(EKS_ANYWHERE, &[("worker-1", true)], "");
        cilium.operator = None;
        let CheckOutcome::Ran(results) =
            run_check(Some(&cilium), Expectations::default(), &NOT_HEALTH).await
        else {
            panic!("Cilium is there");
        };
        let verdicts: Vec<(&str, Verdict)> = results
            .iter()
            .map(|result| (result.name.as_str(), result.verdict))
            .collect();
        assert_eq!(
            verdicts,
            [
                ("cilium::agent::ready", Verdict::Pass),
                ("cilium::agent::image [cilium-0 on worker-1]", Verdict::Pass),
                ("cilium::operator::ready", Verdict::Fail),
                ("cilium::operator::image", Verdict::Skip),
            ]
        );
        assert!(
            results[2]
                .message
                .as_deref()
                .unwrap()
                .contains("there is no Deployment kube-system/cilium-operator")
        );

        let expectations = Expectations {
            agent_image: None,
            operator_image: Some(
                "public.ecr.aws/eks/cilium/operator-generic:v1.17.6-0"
                    .parse()
                    .unwrap(),
            ),
        };
        let CheckOutcome::Ran(results) =
            run_check(Some(&cilium), expectations, &[OPERATOR_IMAGE]).await
        else {
            panic!("Cilium is there");
        };
        assert_eq!(results.len(), 1);
        assert_eq!(results[0].verdict, Verdict::Fail);
    }

    #[tokio::test]
    async fn only_selected_tests_run() {
        let cilium = install(EKS_ANYWHERE, &[("worker-1", true), ("worker-2", true)], "");
        let CheckOutcome::Ran(results) =
            run_check(Some(&cilium), Expectations::default(), &[OPERATOR_READY]).await
        else {
            panic!("Cilium is there");
        };
        let names: Vec<&str> = results.iter().map(|result| result.name.as_str()).collect();
        assert_eq!(names, ["cilium::operator::ready"]);
    }
}
