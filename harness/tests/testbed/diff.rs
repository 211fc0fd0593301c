//! `cnicheck diff` names exactly the cells that regressed.

use crate::support::*;
use cnicheck::report::model::Verdict;
use std::path::Path;
use std::process::Command;

#[test]
#[ignore = "needs the testbed: run through ci/test"]
fn diff_names_exactly_the_cells_that_regressed() {
    let before = workdir("diff-baseline");
    let (output, _) = run(&before, &["--group", "dns"]);
    assert_eq!(output.status.code(), Some(0), "the baseline run must pass");
    let baseline = before.join("report.json");

    // The same scenario, with one expectation wrong: a name that does not exist "resolves".
    let after = workdir("diff-current");
    let builtin = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/dns.yaml");
    let yaml = std::fs::read_to_string(builtin).unwrap();
    assert_eq!(yaml.matches("expect: nxdomain").count(), 1);
    let wrong = write_scenario(
        &after,
        "dns.yaml",
        &yaml.replace("expect: nxdomain", "expect: allowed"),
    );
    let baseline_arg = baseline.display().to_string();
    let (output, _) = run(
        &after,
        &[
            "-f",
            &wrong,
            "--propagation-timeout",
            "10",
            "--baseline",
            &baseline_arg,
        ],
    );
    assert_eq!(
        output.status.code(),
        Some(100),
        "the run keeps its own code"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("Regressions: passed before, not now (1)"),
        "run --baseline prints the comparison"
    );

    let diff = Command::new(env!("CARGO_BIN_EXE_cnicheck"))
        .args(["diff", "--format", "json"])
        .arg(&baseline)
        .arg(after.join("report.json"))
        .output()
        .unwrap();
    eprintln!("{}", String::from_utf8_lossy(&diff.stderr));
    assert_eq!(diff.status.code(), Some(100), "regressions exit 100");
    let diff: cnicheck::report::diff::ReportDiff = serde_json::from_slice(&diff.stdout).unwrap();
    let regressed: Vec<&str> = diff.regressed.iter().map(|c| c.cell.as_str()).collect();
    assert_eq!(
        regressed,
        ["dns::lookups::client->dns:cnicheck-no-such-service.default.svc.cluster.local:dns"]
    );
    let after_outcome = diff.regressed[0].after.as_ref().unwrap();
    assert_eq!(after_outcome.verdict, Verdict::Fail);
    assert!(
        diff.newly_skipped.is_empty()
            && diff.newly_flaky.is_empty()
            && diff.fixed.is_empty()
            && diff.added.is_empty()
            && diff.removed.is_empty(),
        "{diff:#?}"
    );
    assert_eq!(diff.unchanged.passing, 2, "{diff:#?}");
    assert!(cnicheck_namespaces().is_empty());
}
