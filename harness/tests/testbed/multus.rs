//! Multus: pods get net1 in the NAD range and reach each other; a missing master or a range
//! too small is a setup error naming it.

use crate::support::*;
use cnicheck::report::model::Verdict;
use std::time::{Duration, Instant};

#[test]
#[ignore = "needs the testbed: run through ci/test"]
fn multus_pods_get_net1_in_the_nad_range_and_reach_each_other() {
    let dir = workdir("multus");
    let (output, report) = run(&dir, &["--group", "multus"]);
    let tally = report.tally();
    assert_eq!(output.status.code(), Some(0), "{tally:?}");
    let multus = &report.scenarios[0];
    assert!(multus.skipped.is_none(), "{:?}", multus.skipped);
    let checks: Vec<_> = multus
        .probes
        .iter()
        .filter(|probe| probe.protocol == "address")
        .collect();
    assert_eq!(checks.len(), 2, "one address check per pod");
    for check in checks {
        assert_eq!(check.verdict, Verdict::Pass, "{check:#?}");
        assert_eq!(check.expected, "net1 in 10.202.0.100-10.202.0.199");
        // An IPv6 link-local address may follow.
        let address = check.observed.strip_prefix("net1 10.202.0.");
        assert!(
            address.is_some_and(|a| a.split(',').next().unwrap().ends_with("/24")),
            "{}",
            check.observed
        );
    }
    assert!(
        multus
            .probes
            .iter()
            .all(|probe| probe.verdict == Verdict::Pass),
        "{:#?}",
        multus.probes
    );
}

/// Runs the multus suite with `options` and returns its setup error and how long the run took.
pub(crate) fn multus_setup_error(test: &str, options: &[&str]) -> (String, Duration) {
    let dir = workdir(test);
    let started = Instant::now();
    let mut args = vec!["--group", "multus"];
    args.extend_from_slice(options);
    let (output, report) = run(&dir, &args);
    let elapsed = started.elapsed();
    assert_eq!(output.status.code(), Some(102), "setup errors exit 102");
    assert!(
        cnicheck_namespaces().is_empty(),
        "setup errors must still clean up"
    );
    let error = report.scenarios[0]
        .setup_error
        .clone()
        .expect("a setup error");
    (error, elapsed)
}

#[test]
#[ignore = "needs the testbed: run through ci/test"]
fn a_missing_multus_master_is_a_setup_error_naming_it_at_once() {
    let (error, elapsed) = multus_setup_error("multus-master", &["--multus-master", "eth9"]);
    assert!(
        error.contains("Multus NAD cnicheck-macvlan: master interface eth9 not found on node "),
        "{error}"
    );
    assert!(error.contains("fix: set --multus-master"), "{error}");
    assert!(
        elapsed < Duration::from_secs(45),
        "took {elapsed:?}: a missing master never appears, so it must not be waited for"
    );
}

#[test]
#[ignore = "needs the testbed: run through ci/test"]
fn a_multus_range_too_small_for_the_pods_is_a_setup_error_naming_it() {
    // One address, two pods.
    let (error, elapsed) = multus_setup_error(
        "multus-exhausted",
        &["--multus-range", "10.202.0.150-10.202.0.150/24"],
    );
    assert!(
        error.contains(
            "Multus NAD cnicheck-macvlan: IPAM range exhausted (range 10.202.0.150-10.202.0.150)"
        ),
        "{error}"
    );
    assert!(error.contains("fix: widen --multus-range"), "{error}");
    assert!(
        elapsed < Duration::from_secs(75),
        "took {elapsed:?}: an exhausted range must fail after the stuck grace, not the timeout"
    );
}
