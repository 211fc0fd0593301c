//! JUnit XML for CI: one testsuite per scenario, one testcase per probe.
//!
//! The output is checked against the Jenkins xUnit plugin's `junit-10.xsd`, the strictest schema
//! CI tools apply (`tests/report_junit.rs`), so it also reads in GitLab, GitHub reporters and
//! Jenkins' junit plugin, which are more lenient.

use super::ReportError;
use super::failure;
use super::latency;
use super::model::{
    CiliumInfo, ObservationKind, PreflightCheck, ProbeReport, RunReport, ScenarioReport, Verdict,
};
use quick_junit::{
    NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestRerun, TestSuite,
};
use std::path::Path;
use std::time::Duration;

pub fn write(report: &RunReport, path: &Path) -> Result<(), ReportError> {
    std::fs::write(path, to_string(report)?).map_err(|source| ReportError::Write {
        path: path.to_owned(),
        source,
    })
}

pub fn to_string(report: &RunReport) -> Result<String, ReportError> {
    Ok(without_testsuites_skipped(to_junit(report).to_string()?))
}

pub fn to_junit(report: &RunReport) -> Report {
    let properties = run_properties(report);
    let mut junit = Report::new("cnicheck");
    junit.set_time(seconds(report.duration_secs));
    if !report.preflight.is_empty() {
        junit.add_test_suite(preflight_suite(&report.preflight, &properties));
    }
    for scenario in &report.scenarios {
        junit.add_test_suite(scenario_suite(scenario, &properties));
    }
    junit
}

/// Run-wide facts go on every testsuite: `<testsuites>` has no properties in the JUnit schemas,
/// and a suite that carries them stays self-describing when a CI tool shows it alone.
fn run_properties(report: &RunReport) -> Vec<Property> {
    let cluster = &report.cluster;
    [
        ("cnicheck.version", report.cnicheck_version.clone()),
        ("cnicheck.run-id", report.run_id.clone()),
        ("cnicheck.arguments", report.arguments.join(" ")),
        ("cnicheck.started-at", report.started_at.clone()),
        ("cluster.server-version", cluster.server_version.clone()),
        ("cluster.nodes", cluster.nodes.to_string()),
        ("cluster.namespace", cluster.namespace.clone()),
        ("cni.name", cluster.cni.clone()),
        (
            "cni.version",
            cluster
                .cni_version
                .clone()
                .unwrap_or_else(|| "unknown".into()),
        ),
        ("cni.images", cluster.cni_images.join(",")),
    ]
    .into_iter()
    .map(|(name, value)| Property::new(name, value))
    .chain(cluster.cilium.iter().flat_map(cilium_properties))
    .collect()
}

/// `cilium.agent.ready` = `3/3`, its images and versions, the same for the operator.
fn cilium_properties(cilium: &CiliumInfo) -> Vec<Property> {
    let mut properties = vec![Property::new("cilium.namespace", cilium.namespace.as_str())];
    for (role, component) in [
        ("agent", Some(&cilium.agent)),
        ("operator", cilium.operator.as_ref()),
    ] {
        let property =
            |what: &str, value: String| Property::new(format!("cilium.{role}.{what}"), value);
        match component {
            Some(component) => properties.extend([
                property(
                    "ready",
                    format!("{}/{}", component.ready, component.desired),
                ),
                property("images", component.images.join(",")),
                property("versions", component.versions.join(",")),
            ]),
            None => properties.push(property("ready", "missing".into())),
        }
    }
    properties.extend(
        cilium
            .encryption_summary()
            .map(|summary| Property::new("cilium.encryption", summary)),
    );
    properties
}

fn scenario_suite(scenario: &ScenarioReport, properties: &[Property]) -> TestSuite {
    let mut suite = TestSuite::new(scenario.name.as_str());
    suite.set_time(seconds(scenario.duration_secs));
    suite.add_properties(properties.iter().cloned());
    suite.add_properties(latency_properties(&scenario.probes));
    suite
        .extra
        .insert("file".into(), scenario.file.as_str().into());
    if let Some(error) = &scenario.setup_error {
        let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
        status
            .set_message(error.as_str())
            .set_type("setup")
            .set_description(error.as_str());
        suite.add_test_case(scenario_case(scenario, "setup", status));
    }
    if let Some(reason) = &scenario.skipped
        && scenario.probes.is_empty()
    {
        let mut status = TestCaseStatus::skipped();
        status.set_message(reason.as_str());
        suite.add_test_case(scenario_case(scenario, "requires", status));
    }
    for probe in &scenario.probes {
        suite.add_test_case(probe_case(scenario, probe));
    }
    suite
}

/// The dry run of every manifest: one testcase per object, named `preflight::dry-run::FILE::OBJECT`.
fn preflight_suite(checks: &[PreflightCheck], properties: &[Property]) -> TestSuite {
    let mut suite = TestSuite::new(PREFLIGHT_SUITE);
    suite.add_properties(properties.iter().cloned());
    for check in checks {
        let message = check.message.as_deref().unwrap_or_default();
        let status = match check.verdict {
            Verdict::Fail | Verdict::Error => {
                let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
                status
                    .set_message(message)
                    .set_type("rejected")
                    .set_description(format!(
                        "file:   {}\nobject: {}\nwhy:    {message}",
                        check.file, check.object
                    ));
                status
            }
            Verdict::Skip => {
                let mut status = TestCaseStatus::skipped();
                status.set_message(message);
                status
            }
            Verdict::Pass | Verdict::Flaky => TestCaseStatus::success(),
        };
        let mut case = TestCase::new(check.name.as_str(), status);
        case.set_classname(PREFLIGHT_SUITE);
        suite.add_test_case(case);
    }
    suite
}

const PREFLIGHT_SUITE: &str = "preflight";

/// A testcase standing for the whole scenario, named `SCENARIO::WHAT`.
fn scenario_case(scenario: &ScenarioReport, what: &str, status: TestCaseStatus) -> TestCase {
    let mut case = TestCase::new(format!("{}::{what}", scenario.name), status);
    case.set_classname(scenario.name.as_str());
    case
}

/// The scenario's latency by path (`latency.cross-node.p50-ms`, ...): on the suite, because
/// junit-10.xsd (Jenkins) rejects properties on a testcase; each testcase says its own figure
/// in its system-out.
fn latency_properties(probes: &[ProbeReport]) -> Vec<Property> {
    latency::by_path(probes)
        .into_iter()
        .flat_map(|figures| {
            let name = |figure: &str| format!("latency.{}.{figure}", figures.path.name());
            [
                Property::new(name("p50-ms"), format!("{:.3}", figures.p50_ms)),
                Property::new(name("p99-ms"), format!("{:.3}", figures.p99_ms)),
                Property::new(name("max-ms"), format!("{:.3}", figures.max_ms)),
                Property::new(name("answers"), figures.answers.to_string()),
            ]
        })
        .collect()
}

fn probe_case(scenario: &ScenarioReport, probe: &ProbeReport) -> TestCase {
    let mut case = TestCase::new(probe.name.as_str(), probe_status(scenario, probe));
    case.set_classname(scenario.name.as_str())
        .set_time(seconds(probe.duration_secs));
    let mut output = Vec::new();
    if let (Some(latency), Some(path)) = (probe.latency_ms, probe.path) {
        output.push(format!(
            "latency: {} ({})",
            latency::milliseconds(latency),
            path.name()
        ));
    }
    if let Some(backends) = &probe.backends {
        let counts: Vec<String> = backends
            .iter()
            .map(|(pod, count)| format!("{pod} {count}"))
            .collect();
        output.push(format!("answers by backend: {}", counts.join(", ")));
    }
    if !output.is_empty() {
        case.set_system_out(output.join("\n"));
    }
    case
}

fn probe_status(scenario: &ScenarioReport, probe: &ProbeReport) -> TestCaseStatus {
    let explanation = || {
        probe
            .message
            .clone()
            .unwrap_or_else(|| format!("expected {}, observed {}", probe.expected, probe.observed))
    };
    match probe.verdict {
        Verdict::Pass => TestCaseStatus::success(),
        // A flaky pass is a passing testcase with Surefire's <flakyFailure>/<flakyError> per
        // failed attempt (what nextest writes too). Tools that know these elements (Jenkins,
        // Surefire-based reports) show the flakiness with each attempt's message; tools that
        // don't (GitLab, most GitHub reporters) ignore the unknown child and count a pass, which
        // is right. A testcase <property> would be invalid under junit-10.xsd and shown nowhere.
        Verdict::Flaky => {
            let mut status = TestCaseStatus::success();
            status.add_reruns(earlier_attempts(probe));
            status
        }
        Verdict::Fail | Verdict::Error => {
            let kind = if probe.verdict == Verdict::Fail {
                NonSuccessKind::Failure
            } else {
                NonSuccessKind::Error
            };
            let mut status = TestCaseStatus::non_success(kind);
            status
                .set_message(explanation())
                .set_type(failure_type(probe.observed_kind, &probe.observed))
                .set_description(failure::failure_block(probe))
                .add_reruns(earlier_attempts(probe));
            status
        }
        Verdict::Skip => {
            let mut status = TestCaseStatus::skipped();
            let reason = probe.message.as_ref().or(scenario.skipped.as_ref());
            status.set_message(reason.map_or("skipped", String::as_str));
            status
        }
    }
}

fn earlier_attempts(probe: &ProbeReport) -> Vec<TestRerun> {
    probe
        .earlier_attempts
        .iter()
        .filter(|attempt| matches!(attempt.verdict, Verdict::Fail | Verdict::Error))
        .map(|attempt| {
            let kind = if attempt.verdict == Verdict::Fail {
                NonSuccessKind::Failure
            } else {
                NonSuccessKind::Error
            };
            let mut rerun = TestRerun::new(kind);
            // junit-10.xsd requires a type on reruns.
            rerun
                .set_type(failure_type(attempt.observed_kind, &attempt.observed))
                .set_message(attempt.explanation.as_str());
            rerun
        })
        .collect()
}

/// The JUnit `type`, which CI tools show like an exception class: the kind of observation
/// (`timeout`, `http-response`, `could-not-run`) without its detail, which is in the message; a
/// built-in check's observation is already a short phrase (`1/2 ready`).
fn failure_type(kind: Option<ObservationKind>, observed: &str) -> &str {
    kind.map_or(observed, |kind| kind.name())
}

fn seconds(secs: f64) -> Duration {
    Duration::try_from_secs_f64(secs).unwrap_or_default()
}

/// quick-junit writes a `skipped` count on `<testsuites>`, which the Jenkins xUnit plugin's
/// schema rejects (the whole file is then dropped as invalid); the per-suite counts remain.
fn without_testsuites_skipped(xml: String) -> String {
    let Some(tag_start) = xml.find("<testsuites") else {
        return xml;
    };
    let tag_end = xml[tag_start..]
        .find('>')
        .map_or(xml.len(), |end| tag_start + end);
    const ATTRIBUTE: &str = " skipped=\"";
    let Some(attribute_start) = xml[tag_start..tag_end]
        .find(ATTRIBUTE)
        .map(|at| tag_start + at)
    else {
        return xml;
    };
    let value_start = attribute_start + ATTRIBUTE.len();
    let Some(attribute_end) = xml[value_start..tag_end]
        .find('"')
        .map(|end| value_start + end + 1)
    else {
        return xml;
    };
    format!("{}{}", &xml[..attribute_start], &xml[attribute_end..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_only_the_testsuites_skipped_count() {
        let xml = "<?xml version=\"1.0\"?>\n<testsuites name=\"cnicheck\" tests=\"3\" \
                   skipped=\"1\" failures=\"0\">\n<testsuite name=\"a\" skipped=\"1\">";
        assert_eq!(
            without_testsuites_skipped(xml.into()),
            "<?xml version=\"1.0\"?>\n<testsuites name=\"cnicheck\" tests=\"3\" \
             failures=\"0\">\n<testsuite name=\"a\" skipped=\"1\">"
        );
    }
}
