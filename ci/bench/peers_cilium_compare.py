#!/usr/bin/env python3
"""Compares a run of `cilium connectivity test` with a run of cnicheck's built-in suites on the
same cluster (ci/bench/peers-cilium).

Prints Markdown: a table of the two runs (wall time, peak RSS, tests and actions or probes run and
passed, exit code); one row per cilium test that ran, with its result, its actions, and the
cnicheck scenarios and phases that check the same thing (from the coverage map,
ci/bench/peers-cilium-coverage.tsv) with their verdicts in this run; the coverage in numbers,
both ways (cilium tests with a cnicheck counterpart, and cnicheck scenarios that no cilium test
that ran checks); and the tests cilium-cli skipped, by reason.

The coverage map is a tab-separated file, `#` starts a comment line:
    CILIUM_TEST  COVERAGE  CNICHECK  WHAT
COVERAGE is `same` (cnicheck checks what the test checks), `partial` (part of it: WHAT says which
part is missing) or `none` (WHAT says why); CNICHECK is `-` or comma-separated `SCENARIO::PHASE`
(or `SCENARIO` for all its phases) of the built-in scenarios.
Standard library only.
"""
import argparse, collections, json, re, sys
import xml.etree.ElementTree as ET

# A line of the connectivity test's output may start with a timestamp or an emoji; these are found anywhere.
SKIP_TEST = re.compile(r"Skipping test \[([^\]]+)\] \[\d+/\d+\] \((.*)\)\s*$")
SKIP_SCENARIO = re.compile(r"\[-\] Skipping Scenario \[([^/\]]+)/([^\]]+)\] \((.*)\)\s*$")
ACTION = re.compile(r"\[\.\] Action \[([^/\]]+)/")
ALL_PASSED = re.compile(r"All (\d+) tests \((\d+) actions\) successful, (\d+) tests skipped, (\d+) scenarios skipped")
SOME_FAILED = re.compile(r"(\d+)/(\d+) tests failed \((\d+)/(\d+) actions\), (\d+) tests skipped, (\d+) scenarios skipped")
VERSION = re.compile(r"Cilium version: (\S+)")


def read_time(path):
    """(seconds, MB) from /usr/bin/time -f '%e %M' (its last line; a failed command's comes after a note)."""
    with open(path) as f:
        secs, kb = f.read().strip().splitlines()[-1].split()
    return float(secs), int(kb) / 1024


def read_junit(path):
    """[{name, status, secs, failure}] in the order of the report."""
    tests = []
    for case in ET.parse(path).getroot().iter("testcase"):
        failure = case.find("failure")
        tests.append({
            "name": case.get("name", ""),
            "status": case.get("status") or ("failed" if failure is not None else
                                              "skipped" if case.find("skipped") is not None else "passed"),
            "secs": float(case.get("time") or 0),
            "failure": (failure.text or failure.get("message", "")) if failure is not None else "",
        })
    return tests


def read_log(path):
    """What only the output says: skip reasons of tests and scenarios, actions per test, the totals."""
    out = {"skipped": {}, "scenario_skips": collections.defaultdict(list),
           "actions": collections.Counter(), "totals": None, "version": None}
    with open(path, errors="replace") as f:
        for line in f:
            line = line.rstrip("\n")
            if m := SKIP_TEST.search(line):
                out["skipped"][m.group(1)] = m.group(2)
            elif m := SKIP_SCENARIO.search(line):
                out["scenario_skips"][m.group(1)].append((m.group(2), m.group(3)))
            elif m := ACTION.search(line):
                out["actions"][m.group(1)] += 1
            if m := ALL_PASSED.search(line):
                tests, actions, skipped, skipped_scenarios = map(int, m.groups())
                out["totals"] = {"ran": tests, "failed": 0, "actions": actions, "failed_actions": 0,
                                 "skipped": skipped, "skipped_scenarios": skipped_scenarios}
            elif m := SOME_FAILED.search(line):
                failed, ran, failed_actions, actions, skipped, skipped_scenarios = map(int, m.groups())
                out["totals"] = {"ran": ran, "failed": failed, "actions": actions,
                                 "failed_actions": failed_actions, "skipped": skipped,
                                 "skipped_scenarios": skipped_scenarios}
            if out["version"] is None and (m := VERSION.search(line)):
                out["version"] = m.group(1)
    return out


def read_coverage(path):
    """{cilium test: (coverage, [refs], what)}."""
    rows = {}
    with open(path) as f:
        for number, line in enumerate(f, 1):
            if not line.strip() or line.startswith("#"):
                continue
            fields = line.rstrip("\n").split("\t")
            if len(fields) != 4 or fields[1] not in ("same", "partial", "none"):
                sys.exit(f"{path}:{number}: want CILIUM_TEST, same|partial|none, CNICHECK, WHAT (tab-separated)")
            test, coverage, refs, what = fields
            rows[test] = (coverage, [] if refs.strip() == "-" else [r.strip() for r in refs.split(",")], what)
    return rows


def read_cnicheck(path):
    """(report, {(scenario, phase): Counter of verdicts}, {scenario: Counter}, {scenario: why skipped})."""
    with open(path) as f:
        report = json.load(f)
    by_phase = collections.defaultdict(collections.Counter)
    by_scenario = collections.defaultdict(collections.Counter)
    skipped = {}
    for scenario in report.get("scenarios", []):
        name = scenario["name"]
        by_scenario[name]  # present even with no probes
        if scenario.get("skipped") or scenario.get("setup_error"):
            skipped[name] = scenario.get("skipped") or ("setup failed: " + scenario["setup_error"])
        for probe in scenario.get("probes", []):
            verdict = str(probe.get("verdict", "")).lower()
            by_phase[(name, probe.get("phase", ""))][verdict] += 1
            by_scenario[name][verdict] += 1
    return report, by_phase, by_scenario, skipped


def verdict_text(counter):
    """`12 pass`, `10 pass, 2 fail`, or `-`."""
    order = ["pass", "flaky", "fail", "error", "skip"]
    parts = [f"{counter[v]} {v}" for v in order if counter.get(v)]
    parts += [f"{n} {v}" for v, n in sorted(counter.items()) if v not in order and n]
    return ", ".join(parts) or "-"


def ref_verdicts(ref, by_phase, by_scenario, skipped):
    scenario, _, phase = ref.partition("::")
    if scenario in skipped:
        return f"skipped ({skipped[scenario]})"
    if phase:
        return verdict_text(by_phase.get((scenario, phase), {}))
    return verdict_text(by_scenario.get(scenario, {}))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--junit", required=True)
    ap.add_argument("--cilium-log", required=True)
    ap.add_argument("--cilium-time", required=True)
    ap.add_argument("--cilium-exit", type=int, default=0)
    ap.add_argument("--cilium-cleanup-secs", type=float, default=None,
                    help="how long deleting the namespace cilium-cli leaves behind took")
    ap.add_argument("--coverage", required=True)
    ap.add_argument("--cnicheck-json")
    ap.add_argument("--cnicheck-time")
    ap.add_argument("--cnicheck-exit", type=int, default=0)
    args = ap.parse_args()

    tests = read_junit(args.junit)
    log = read_log(args.cilium_log)
    coverage = read_coverage(args.coverage)
    cilium_secs, cilium_mb = read_time(args.cilium_time)
    have_cnicheck = bool(args.cnicheck_json)
    if have_cnicheck:
        report, by_phase, by_scenario, ck_skipped = read_cnicheck(args.cnicheck_json)
        ck_secs, ck_mb = read_time(args.cnicheck_time)
    else:
        report, by_phase, by_scenario, ck_skipped = {}, {}, {}, {}

    ran = [t for t in tests if t["status"] != "skipped"]
    passed = [t for t in ran if t["status"] == "passed"]
    failed = [t for t in ran if t["status"] == "failed"]
    skipped = [t for t in tests if t["status"] == "skipped"]
    totals = log["totals"] or {}
    actions = totals.get("actions", sum(log["actions"].values()))
    failed_actions = totals.get("failed_actions", 0)

    # --- The two runs.
    print("| | cilium connectivity test | cnicheck built-in suites |")
    print("|---|---|---|")
    if have_cnicheck:
        scenarios = report.get("scenarios", [])
        ck_ran = [s for s in scenarios if s["name"] not in ck_skipped]
        ck_passed = [s for s in ck_ran if not any(by_scenario[s["name"]].get(v) for v in ("fail", "error"))]
        probes = collections.Counter()
        for counter in by_scenario.values():
            probes.update(counter)
        ck_probes_ran = sum(n for v, n in probes.items() if v != "skip")
        ck_probes_ok = probes.get("pass", 0) + probes.get("flaky", 0)
        ck = {
            "wall": f"{ck_secs:,.1f} s, deploy and cleanup included",
            "rss": f"{ck_mb:.0f} MB",
            "tests": f"{len(ck_ran)} scenarios ran, {len(ck_passed)} passed; {len(ck_skipped)} skipped",
            "actions": f"{ck_probes_ran} probes, {ck_probes_ok} passed"
                       + (f" ({probes['flaky']} after retries)" if probes.get("flaky") else "")
                       + (f"; {probes['skip']} skipped" if probes.get("skip") else ""),
            "exit": str(args.cnicheck_exit),
        }
    else:
        ck = dict.fromkeys(("wall", "rss", "tests", "actions", "exit"), "not run (no release build)")
    cleanup = args.cilium_cleanup_secs
    if cleanup is None:
        cilium_wall = f"{cilium_secs:,.1f} s, deploying its pods included (it leaves them in place)"
        cilium_total = cilium_secs
    else:
        cilium_total = cilium_secs + cleanup
        cilium_wall = (f"{cilium_total:,.1f} s: {cilium_secs:,.1f} s deploying its pods and testing, "
                       f"{cleanup:,.1f} s deleting the namespace it leaves behind")
    print(f"| wall time | {cilium_wall} | {ck['wall']} |")
    print(f"| peak RSS | {cilium_mb:.0f} MB | {ck['rss']} |")
    print(f"| tests | {len(ran)} ran, {len(passed)} passed, {len(failed)} failed; {len(skipped)} skipped "
          f"(of {len(tests)}) | {ck['tests']} |")
    scen_skips = totals.get("skipped_scenarios")
    print(f"| actions / probes | {actions} actions, {actions - failed_actions} passed"
          + (f"; {scen_skips} scenarios skipped" if scen_skips is not None else "") + f" | {ck['actions']} |")
    print(f"| exit code | {args.cilium_exit} | {ck['exit']} |")
    if have_cnicheck and cilium_secs and ck_secs:
        print(f"| wall time ratio | {cilium_total / ck_secs:.1f}x | 1x |")

    # --- Each cilium test that ran, and its counterpart.
    print()
    print("| cilium test | result | actions | time | cnicheck counterpart | its verdicts | coverage |")
    print("|---|---|---|---|---|---|---|")
    count = collections.Counter()
    referenced = set()
    for t in ran:
        cov, refs, what = coverage.get(t["name"], ("unmapped", [], "not in the coverage map"))
        count[cov] += 1
        referenced.update(r.partition("::")[0] for r in refs)
        verdicts = "; ".join(f"{r}: {ref_verdicts(r, by_phase, by_scenario, ck_skipped)}" for r in refs) \
            if have_cnicheck else "-"
        print(f"| {t['name']} | {t['status']} | {log['actions'].get(t['name'], '?')} | {t['secs']:.1f} s | "
              f"{', '.join(refs) or '-'} | {verdicts or '-'} | {cov}: {what} |")

    # --- Coverage in numbers, both ways.
    print()
    print(f"Coverage of the {len(ran)} cilium tests that ran: {count['same']} checked the same way by cnicheck, "
          f"{count['partial']} in part, {count['none']} not at all"
          + (f", {count['unmapped']} not in the coverage map" if count["unmapped"] else "") + ".")
    unmapped_all = [t["name"] for t in tests if t["name"] not in coverage]
    if unmapped_all:
        print(f"Tests of this cilium-cli missing from the coverage map: {', '.join(unmapped_all)}.")
    if have_cnicheck:
        loose = []
        for s in report.get("scenarios", []):
            if s["name"] in referenced:
                continue
            why = f" (skipped: {ck_skipped[s['name']]})" if s["name"] in ck_skipped else ""
            loose.append(s["name"] + why)
        print(f"cnicheck scenarios no cilium test that ran checks: {'; '.join(loose) or 'none'}.")

    # --- What cilium-cli skipped, by reason.
    if skipped:
        by_reason = collections.defaultdict(list)
        for t in skipped:
            by_reason[log["skipped"].get(t["name"], "reason not in the log")].append(t["name"])
        print()
        print("Skipped by cilium-cli:")
        print()
        for reason, names in sorted(by_reason.items(), key=lambda item: -len(item[1])):
            print(f"- {reason} ({len(names)}): {', '.join(names)}")
    if failed:
        print()
        print("Failed cilium tests (their failed actions, from the JUnit report):")
        print()
        for t in failed:
            lines = [line for line in t["failure"].splitlines() if line.strip()]
            print(f"- {t['name']}: " + ("; ".join(lines[:5]) + (f"; ... ({len(lines)} in all)" if len(lines) > 5 else "")
                                          if lines else "no failed action recorded (see the log)"))


if __name__ == "__main__":
    main()
