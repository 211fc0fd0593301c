//! Judging Cilium's agent and operator: are all their pods ready, and do they run the image
//! the user expects?

use super::super::finding;
use crate::cluster::{Component, ComponentPod, Kubectl};
use crate::image::{ImageRef, RunningImage};
use crate::report::model::{ProbeReport, Verdict};

/// `test` is `agent::ready` or `operator::ready`.
pub(super) fn readiness(
    scenario: &str,
    test: &str,
    component: &Component,
    kubectl: &Kubectl,
) -> ProbeReport {
    let phase = test.split("::").next().unwrap_or(test);
    let mut result = finding(
        format!("{scenario}::{test}"),
        None,
        phase,
        component.object(),
        "readiness",
    );
    let (desired, ready) = (component.desired, component.ready);
    result.expected = if desired > 0 {
        format!("{desired}/{desired} ready")
    } else {
        "at least one pod, all ready".into()
    };
    let mut observed = format!("{ready}/{desired} ready");
    if component.up_to_date < desired {
        observed.push_str(&format!(
            ", {} up to date (a rollout is in progress)",
            component.up_to_date
        ));
    }
    result.observed = observed;
    result.reproduce = describe(component, kubectl);
    if desired > 0 && ready >= desired {
        return result;
    }
    result.verdict = Verdict::Fail;
    let not_ready: Vec<String> = component
        .pods
        .iter()
        .filter_map(|pod| pod.problem.as_ref())
        .map(ToString::to_string)
        .collect();
    result.message = Some(if desired == 0 {
        format!(
            "{} wants no pods: {}",
            component.object(),
            if component.kind == "DaemonSet" {
                "its node selector or tolerations match no node"
            } else {
                "it is scaled to zero"
            }
        )
    } else if not_ready.is_empty() {
        format!(
            "{} of {desired} pods of {} are ready",
            ready,
            component.object()
        )
    } else {
        format!(
            "{ready} of {desired} pods of {} are ready; not ready: {}",
            component.object(),
            not_ready.join("; ")
        )
    });
    result
}

/// One result per pod: what its main container runs, and whether that is `expected` (named
/// by `flag`). `test` is `agent::image` or `operator::image`.
pub(super) fn images(
    scenario: &str,
    test: &str,
    component: &Component,
    expected: Option<&ImageRef>,
    flag: &str,
    kubectl: &Kubectl,
) -> Vec<ProbeReport> {
    let phase = test.split("::").next().unwrap_or(test);
    let expected_text =
        expected.map_or_else(|| format!("any image (no {flag})"), ToString::to_string);
    if component.pods.is_empty() {
        let mut result = finding(
            format!("{scenario}::{test}"),
            None,
            phase,
            component.object(),
            "image",
        );
        result.expected = expected_text;
        result.observed = "no pods".into();
        result.verdict = if expected.is_some() {
            Verdict::Fail
        } else {
            Verdict::Skip
        };
        result.message = Some(format!(
            "{} has no pods to run any image",
            component.object()
        ));
        result.reproduce = describe(component, kubectl);
        return vec![result];
    }
    component
        .pods
        .iter()
        .map(|pod| {
            let mut result = finding(
                format!("{scenario}::{test}"),
                Some(pod_label(pod)),
                phase,
                pod.describe(),
                "image",
            );
            result.to = format!("container {}", component.container);
            result.expected = expected_text.clone();
            result.reproduce = kubectl.command(format_args!(
                "-n {} get pod {} -o jsonpath='{{.spec.containers[?(@.name==\"{container}\")].image}}{{\"\\n\"}}{{.status.containerStatuses[?(@.name==\"{container}\")].imageID}}{{\"\\n\"}}'",
                pod.pod.namespace,
                pod.pod.name,
                container = component.container
            ));
            judge_image(&mut result, pod, component.container, expected);
            result
        })
        .collect()
}

/// `cilium-4jz9q on worker-1`: the pod in a result's name.
fn pod_label(pod: &ComponentPod) -> String {
    match &pod.node {
        Some(node) => format!("{} on {node}", pod.pod.name),
        None => pod.pod.name.clone(),
    }
}

fn judge_image(
    result: &mut ProbeReport,
    pod: &ComponentPod,
    container: &str,
    expected: Option<&ImageRef>,
) {
    let Some(image) = &pod.image else {
        result.observed = format!("no container {container}");
        result.verdict = Verdict::Fail;
        result.message = Some(format!(
            "pod {} has no container {container}: is this Cilium's pod?",
            pod.pod
        ));
        return;
    };
    let running = match RunningImage::new(image, pod.image_id.as_deref()) {
        Ok(running) => running,
        Err(error) => {
            result.observed = image.clone();
            result.verdict = Verdict::Error;
            result.message = Some(error.to_string());
            return;
        }
    };
    result.observed = match (&running.spec.digest, &running.resolved_digest) {
        (None, Some(resolved)) => format!("{image} (resolved to {resolved})"),
        _ => image.clone(),
    };
    let Some(expected) = expected else {
        return;
    };
    if let Err(mismatch) = expected.check(&running) {
        result.verdict = if matches!(mismatch, crate::image::ImageMismatch::DigestUnknown) {
            Verdict::Error
        } else {
            Verdict::Fail
        };
        result.message = Some(format!(
            "{} of pod {} ({}) does not run {expected}: {mismatch}",
            container,
            pod.pod,
            pod.node.as_deref().unwrap_or("no node")
        ));
    }
}

/// What a user runs to see why a component is not ready.
fn describe(component: &Component, kubectl: &Kubectl) -> String {
    kubectl.command(format_args!(
        "-n {} describe {} {}",
        component.namespace,
        component.kind.to_lowercase(),
        component.name
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::cilium_fixtures::{AGENT_DIGEST, EKS_ANYWHERE, UPSTREAM, install};

    const EKS_AGENT: &str = "public.ecr.aws/eks/cilium/cilium:v1.17.6-0";
    const EKS_OPERATOR: &str = "public.ecr.aws/eks/cilium/operator-generic:v1.17.6-0";
    const EKS_AGENT_ID: &str = "public.ecr.aws/eks/cilium/cilium@sha256:\
        0d2b4ac4c3f1e07bb6e3c6b1ed7b71a0b6d3c1b3ab3a2a5e8e2b8b9d0b4a6f31";

    fn image(reference: &str) -> ImageRef {
        reference.parse().unwrap()
    }

    #[test]
    fn readiness_is_n_of_n() {
        let cilium = install(
            EKS_ANYWHERE,
            &[("worker-1", true), ("worker-2", true)],
            EKS_AGENT_ID,
        );
        let ready = readiness("cilium", "agent::ready", &cilium.agent, &Kubectl::default());
        assert_eq!(ready.name, "cilium::agent::ready");
        assert_eq!(ready.verdict, Verdict::Pass);
        assert_eq!(
            (ready.expected.as_str(), ready.observed.as_str()),
            ("2/2 ready", "2/2 ready")
        );
        assert_eq!(ready.from, "DaemonSet kube-system/cilium");
        assert_eq!(
            ready.reproduce,
            "kubectl -n kube-system describe daemonset cilium"
        );
        let operator = readiness(
            "cilium",
            "operator::ready",
            cilium.operator.as_ref().unwrap(),
            &Kubectl::default(),
        );
        assert_eq!(
            (operator.verdict, operator.observed.as_str()),
            (Verdict::Pass, "2/2 ready")
        );

        let cilium = install(
            EKS_ANYWHERE,
            &[("worker-1", true), ("worker-2", false)],
            EKS_AGENT_ID,
        );
        let ready = readiness("cilium", "agent::ready", &cilium.agent, &Kubectl::default());
        assert_eq!(ready.verdict, Verdict::Fail);
        assert_eq!(ready.observed, "1/2 ready");
        let message = ready.message.unwrap();
        assert!(
            message.starts_with("1 of 2 pods of DaemonSet kube-system/cilium are ready; not ready: pod cilium-1 (worker-2)"),
            "{message}"
        );

        let mut rolling = install(UPSTREAM, &[("worker-1", true)], "");
        rolling.agent.up_to_date = 0;
        let ready = readiness(
            "cilium",
            "agent::ready",
            &rolling.agent,
            &Kubectl::default(),
        );
        assert_eq!(ready.verdict, Verdict::Pass);
        assert_eq!(
            ready.observed,
            "1/1 ready, 0 up to date (a rollout is in progress)"
        );

        let mut none = install(UPSTREAM, &[("worker-1", true)], "");
        (none.agent.desired, none.agent.ready) = (0, 0);
        let ready = readiness("cilium", "agent::ready", &none.agent, &Kubectl::default());
        assert_eq!(ready.verdict, Verdict::Fail, "0/0 is not ready");
        assert!(ready.message.unwrap().contains("match no node"));
    }

    #[test]
    fn images_without_an_expectation_are_reported_and_pass() {
        let cilium = install(
            EKS_ANYWHERE,
            &[("worker-1", true), ("worker-2", true)],
            EKS_AGENT_ID,
        );
        let results = images(
            "cilium",
            "agent::image",
            &cilium.agent,
            None,
            "--expect-cilium-image",
            &Kubectl::default(),
        );
        assert_eq!(results.len(), 2);
        let first = &results[0];
        assert_eq!(first.name, "cilium::agent::image [cilium-0 on worker-1]");
        assert_eq!(first.from, "kube-system/cilium-0 on worker-1");
        assert_eq!(first.to, "container cilium-agent");
        assert_eq!(first.verdict, Verdict::Pass);
        assert_eq!(first.expected, "any image (no --expect-cilium-image)");
        let resolved = EKS_AGENT_ID.split_once('@').unwrap().1;
        assert_eq!(
            first.observed,
            format!("{EKS_AGENT} (resolved to {resolved})")
        );
        assert!(
            first
                .reproduce
                .starts_with("kubectl -n kube-system get pod cilium-0 -o jsonpath=")
        );
    }

    #[test]
    fn the_expected_vendor_build_passes_on_every_pod() {
        let cilium = install(
            EKS_ANYWHERE,
            &[("worker-1", true), ("worker-2", true)],
            EKS_AGENT_ID,
        );
        let agents = images(
            "cilium",
            "agent::image",
            &cilium.agent,
            Some(&image(EKS_AGENT)),
            "--expect-cilium-image",
            &Kubectl::default(),
        );
        assert!(
            agents.iter().all(|result| result.verdict == Verdict::Pass),
            "{agents:#?}"
        );
        assert_eq!(agents[1].expected, EKS_AGENT);
        let operator = cilium.operator.as_ref().unwrap();
        let operators = images(
            "cilium",
            "operator::image",
            operator,
            Some(&image(EKS_OPERATOR)),
            "--expect-cilium-operator-image",
            &Kubectl::default(),
        );
        assert_eq!(operators.len(), 2);
        assert!(
            operators
                .iter()
                .all(|result| result.verdict == Verdict::Pass),
            "{operators:#?}"
        );
        assert_eq!(operators[0].to, "container cilium-operator");
    }

    #[test]
    fn another_build_fails_naming_pod_expected_and_observed() {
        // Upstream Cilium where the AWS build was expected: another repository.
        let upstream_id = format!("quay.io/cilium/cilium@{AGENT_DIGEST}");
        let cilium = install(UPSTREAM, &[("worker-1", true)], &upstream_id);
        let results = images(
            "cilium",
            "agent::image",
            &cilium.agent,
            Some(&image(EKS_AGENT)),
            "--expect-cilium-image",
            &Kubectl::default(),
        );
        let result = &results[0];
        assert_eq!(result.verdict, Verdict::Fail);
        assert_eq!(result.expected, EKS_AGENT);
        assert_eq!(
            result.observed,
            format!("quay.io/cilium/cilium:v1.17.6@{AGENT_DIGEST}")
        );
        assert_eq!(
            result.message.as_deref(),
            Some(
                "cilium-agent of pod kube-system/cilium-0 (worker-1) does not run \
                 public.ecr.aws/eks/cilium/cilium:v1.17.6-0: another repository: expected \
                 public.ecr.aws/eks/cilium/cilium, runs quay.io/cilium/cilium"
            )
        );

        // The AWS build, but an older one: another tag.
        let cilium = install(EKS_ANYWHERE, &[("worker-1", true)], EKS_AGENT_ID);
        let older = image("public.ecr.aws/eks/cilium/cilium:v1.17.7-0");
        let result = &images(
            "cilium",
            "agent::image",
            &cilium.agent,
            Some(&older),
            "--expect-cilium-image",
            &Kubectl::default(),
        )[0];
        assert_eq!(result.verdict, Verdict::Fail);
        assert!(
            result
                .message
                .as_deref()
                .unwrap()
                .ends_with("another tag: expected v1.17.7-0, runs v1.17.6-0"),
            "{result:#?}"
        );
    }

    #[test]
    fn digest_pinned_references() {
        // The published chart pins the digest in the spec: an expectation by digest checks it.
        let cilium = install(UPSTREAM, &[("worker-1", true)], "");
        let pinned = image(&format!("quay.io/cilium/cilium:v1.17.6@{AGENT_DIGEST}"));
        let result = &images(
            "cilium",
            "agent::image",
            &cilium.agent,
            Some(&pinned),
            "--expect-cilium-image",
            &Kubectl::default(),
        )[0];
        assert_eq!(result.verdict, Verdict::Pass, "{result:#?}");
        let other = image(
            "quay.io/cilium/cilium:v1.17.6@sha256:0000000000000000000000000000000000000000000000000000000000000000",
        );
        let result = &images(
            "cilium",
            "agent::image",
            &cilium.agent,
            Some(&other),
            "--expect-cilium-image",
            &Kubectl::default(),
        )[0];
        assert_eq!(result.verdict, Verdict::Fail);
        assert!(
            result
                .message
                .as_deref()
                .unwrap()
                .contains("another digest"),
            "{result:#?}"
        );

        // The AWS chart pins by tag: the digest comes from what the runtime resolved, and
        // without it the digest cannot be confirmed, which is an error, never a pass.
        let resolved = EKS_AGENT_ID.split_once('@').unwrap().1;
        let expected = image(&format!("{EKS_AGENT}@{resolved}"));
        let cilium = install(EKS_ANYWHERE, &[("worker-1", true)], EKS_AGENT_ID);
        let result = &images(
            "cilium",
            "agent::image",
            &cilium.agent,
            Some(&expected),
            "--expect-cilium-image",
            &Kubectl::default(),
        )[0];
        assert_eq!(result.verdict, Verdict::Pass, "{result:#?}");
        let not_pulled = install(EKS_ANYWHERE, &[("worker-1", false)], "");
        let result = &images(
            "cilium",
            "agent::image",
            &not_pulled.agent,
            Some(&expected),
            "--expect-cilium-image",
            &Kubectl::default(),
        )[0];
        assert_eq!(result.verdict, Verdict::Error, "{result:#?}");
    }

    #[test]
    fn a_component_without_pods_fails_an_expectation() {
        let mut cilium = install(EKS_ANYWHERE, &[("worker-1", true)], EKS_AGENT_ID);
        cilium.agent.pods.clear();
        let expected = image(EKS_AGENT);
        let results = images(
            "cilium",
            "agent::image",
            &cilium.agent,
            Some(&expected),
            "--expect-cilium-image",
            &Kubectl::default(),
        );
        assert_eq!(results.len(), 1);
        assert_eq!(
            (results[0].name.as_str(), results[0].verdict),
            ("cilium::agent::image", Verdict::Fail)
        );
        let results = images(
            "cilium",
            "agent::image",
            &cilium.agent,
            None,
            "--expect-cilium-image",
            &Kubectl::default(),
        );
        assert_eq!(results[0].verdict, Verdict::Skip);
    }
}
