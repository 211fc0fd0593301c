#!/usr/bin/env python3
"""Compares a run of upstream's NetworkPolicy e2e tests with cnicheck's port of them (ci/bench/peers).

Prints a Markdown table, one row per upstream Netpol test of the JUnit report: its result and time,
the cnicheck phases that port it, their verdict and time, and whether the two agree; then totals.

Upstream tests are matched to phases by the scenario files' comments: each ported phase has a
comment `# upstream It("TEXT")` above it, and a comment `# upstream Describe("D") / Context("C"):`
names the context of that phase and of every later phase of the file until the next such comment.
A test matches when its JUnit name, with every [bracketed tag] taken out, is "D C TEXT" (also with
tags taken out). A test that no phase names is "not expressed", with the reason the scenario's
description gives for leaving it out (its clause of "Left out, with the reason: ...").
Standard library only.
"""
import argparse, json, re, sys
import xml.etree.ElementTree as ET

MAIN_CONTEXT = "NetworkPolicy between server and client"
MATRIX_PODS = 9  # upstream's model: namespaces x, y, z with pods a, b, c
SCORED_CELLS = MATRIX_PODS * MATRIX_PODS - MATRIX_PODS  # upstream ignores pod-to-itself (loopback)


def untagged(text):
    """The text without [bracketed tags] (labels, [sig-network], [LinuxOnly], [Feature:X]), spaces collapsed."""
    return " ".join(re.sub(r"\[[^\]]*\]", " ", text).split())


def split_upstream(text):
    """(describe, context, it) of a Netpol test's untagged full text, e.g.
    ("Netpol", "NetworkPolicy between server and client using UDP", "should support ...")."""
    m = re.match(r"^(Netpol) (.+?) (should .*)$", text)
    return (m.group(1), m.group(2), m.group(3)) if m else ("Netpol", "", text)


# --- The scenario files: phases with their upstream test, and the reasons for tests left out.

def folded_block(lines, key):
    """The text of a top-level `key: >-` (or plain) value: its indented continuation lines, joined."""
    for i, line in enumerate(lines):
        m = re.match(rf"^{key}:\s*(.*)$", line)
        if not m:
            continue
        parts = [] if m.group(1).strip() in (">", ">-", "|", "|-") else [m.group(1).strip()]
        for cont in lines[i + 1:]:
            if cont.strip() and not cont.startswith((" ", "\t")):
                break
            parts.append(cont.strip())
        return " ".join(p for p in parts if p)
    return ""


def top_level(text, sep):
    """Splits text at `sep` characters that are outside parentheses."""
    parts, depth, cur = [], 0, ""
    for ch in text:
        depth += ch == "("
        depth -= ch == ")"
        if ch == sep and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    return parts + [cur]


def without_asides(text):
    """The text without its (parenthesised asides), spaces collapsed."""
    out, depth = "", 0
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth = max(0, depth - 1)
        elif depth == 0:
            out += ch
    return " ".join(out.split())


def parse_scenario(path):
    """(name, groups, phases, left_out): phases as [(phase, key or None)], key = (describe, context, it)
    untagged; left_out as [(clause, quoted contexts, reason)] from the description."""
    lines = open(path, encoding="utf-8").read().splitlines()
    name = next((m.group(1).strip().strip("'\"") for line in lines
                 for m in [re.match(r"^name:\s*(\S.*)$", line)] if m), None)
    groups_line = folded_block(lines, "groups")
    groups = re.findall(r"[\w.-]+", groups_line)
    phases, pending, context, in_phases = [], [], None, False
    for line in lines:
        if re.match(r"^phases:", line):
            in_phases = True
            continue
        if not in_phases:
            continue
        if line and not line.startswith((" ", "\t", "#")):
            break  # the next top-level key
        stripped = line.strip()
        if stripped.startswith("#"):
            pending.append(stripped.lstrip("#").strip())
            continue
        m = re.match(r"^\s{0,4}- name:\s*(\S+)", line)
        if m:
            it = None
            for comment in pending:
                c = re.search(r'upstream Describe\("(.*?)"\)\s*/\s*Context\("(.*?)"\)', comment)
                if c:
                    context = (untagged(c.group(1)), untagged(c.group(2)))
                i = re.search(r'upstream It\("(.*)"\)', comment)
                if i:
                    it = untagged(i.group(1))
            key = None
            if it is not None:
                describe, ctx = context if context else ("Netpol", MAIN_CONTEXT)
                key = (describe, ctx, it)
            phases.append((m.group(1).strip("'\""), key))
            pending = []
        elif stripped:
            pending = []
    left_out = []
    description = folded_block(lines, "description")
    idx = description.find("Left out, with the reason:")
    if idx >= 0:
        rest = description[idx + len("Left out, with the reason:"):]
        for clause in top_level(rest, ";"):
            clause = clause.strip().rstrip(".")
            contexts = [q for q in re.findall(r'"([^"]*)"', clause) if q.startswith("NetworkPolicy between")]
            reason_at = clause.find("because ")
            reason = without_asides(clause[reason_at + len("because "):]) if reason_at >= 0 else ""
            left_out.append((untagged(clause), [untagged(c) for c in contexts], reason))
    return name, groups, phases, left_out


def reason_left_out(test_key, scenarios):
    """The description's reason for leaving an upstream test out, or None."""
    _, context, it = test_key
    for scenario in scenarios:
        for clause, contexts, reason in scenario["left_out"]:
            if it not in clause:
                continue
            if contexts and context not in contexts:
                continue
            if not contexts and context != MAIN_CONTEXT:
                continue
            return reason or "named in the description as left out, no reason found"
    return None


# --- The upstream run.

def upstream_tests(junit_path):
    """The Netpol testcases of the JUnit report: dicts with key, name, state, secs, output."""
    tests = []
    for case in ET.parse(junit_path).getroot().iter("testcase"):
        raw = case.get("name", "")
        text = untagged(re.sub(r"^\[It\]\s*", "", raw))
        if "[sig-network]" not in raw or not text.startswith("Netpol "):
            continue
        state = case.get("status")
        if not state:
            state = ("failed" if case.find("failure") is not None or case.find("error") is not None
                     else "skipped" if case.find("skipped") is not None else "passed")
        output = "\n".join((e.text or "") for tag in ("system-out", "system-err") for e in case.iter(tag))
        tests.append({
            "key": split_upstream(text), "name": raw, "state": state,
            "secs": float(case.get("time") or 0), "output": output,
        })
    return tests


def count_matrices(output):
    """(validation matrices, of them second tries, readiness matrices, probes started) in a test's output."""
    return (output.count("Validating reachability matrix... (FIRST TRY)"),
            len(re.findall(r"retrying \(SECOND TRY\)", output)),
            len(re.findall(r"server \S+ is (?:not )?ready", output)),
            output.count("Starting probe from pod"))


# --- The cnicheck run.

def cnicheck_phases(report):
    """{(scenario, phase): {"verdicts": {verdict: probes}, "secs": apply + probing}}, {scenario: why skipped}."""
    phases, skipped = {}, {}
    for scenario in report.get("scenarios", []):
        name = scenario["name"]
        if scenario.get("skipped") or scenario.get("setup_error"):
            skipped[name] = scenario.get("skipped") or ("setup failed: " + scenario["setup_error"])
        for times in (scenario.get("stages") or {}).get("phases", []):
            entry = phases.setdefault((name, times["phase"]), {"verdicts": {}, "secs": 0.0})
            entry["secs"] += times.get("apply_secs", 0.0) + times.get("probe_secs", 0.0)
        for probe in scenario.get("probes", []):
            entry = phases.setdefault((name, probe["phase"]), {"verdicts": {}, "secs": 0.0})
            verdict = str(probe.get("verdict", "")).lower()
            entry["verdicts"][verdict] = entry["verdicts"].get(verdict, 0) + 1
    return phases, skipped


def phase_verdict(refs, phases, skipped):
    """cnicheck's verdict over a test's phases: pass only if every probe of them passed (flaky: passed
    after retries, counts as passed), None when none of them probed anything (not selected)."""
    totals = {}
    for scenario, phase in refs:
        if scenario in skipped:
            return f"skipped ({skipped[scenario]})"
        entry = phases.get((scenario, phase))
        if entry:
            for verdict, n in entry["verdicts"].items():
                totals[verdict] = totals.get(verdict, 0) + n
    if not totals:
        return None
    scored = sum(n for verdict, n in totals.items() if verdict != "skip")  # skip: a pod to itself
    if scored == 0:
        return "skipped"
    if totals.get("fail", 0) + totals.get("error", 0):
        parts = [f"{totals[v]} {v}" for v in ("fail", "error") if totals.get(v)]
        return f"fail ({', '.join(parts)} of {scored})"
    flaky = totals.get("flaky", 0)
    return f"pass ({flaky} flaky)" if flaky else "pass"


def fmt_secs(secs):
    return f"{secs:.1f}"


def read_time(path):
    """Wall seconds and peak RSS (KiB) from `/usr/bin/time -f '%e %M'` (its last line)."""
    last = [line for line in open(path).read().splitlines() if line.strip()][-1]
    secs, kib = last.split()
    return float(secs), int(kib)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--junit", required=True)
    ap.add_argument("--upstream-time", required=True)
    ap.add_argument("--upstream-exit", type=int, default=0)
    ap.add_argument("--cnicheck-json", required=True)
    ap.add_argument("--cnicheck-time", required=True)
    ap.add_argument("--cnicheck-exit", type=int, default=0)
    ap.add_argument("--scenarios", nargs="+", required=True, help="scenario files; those of group netpol-e2e are read")
    args = ap.parse_args()

    scenarios = []
    for path in args.scenarios:
        name, groups, phases, left_out = parse_scenario(path)
        if "netpol-e2e" in groups:
            scenarios.append({"name": name, "phases": phases, "left_out": left_out})
    scenarios.sort(key=lambda scenario: scenario["name"])  # netpol-e2e before netpol-e2e-ipblock
    if not scenarios:
        sys.exit("peers_compare: no scenario file of group netpol-e2e among --scenarios")
    mapping = {}
    for scenario in scenarios:
        for phase, key in scenario["phases"]:
            if key:
                mapping.setdefault(key, []).append((scenario["name"], phase))

    tests = upstream_tests(args.junit)
    report = json.load(open(args.cnicheck_json))
    phases, skipped = cnicheck_phases(report)
    up_wall, up_kib = read_time(args.upstream_time)
    ck_wall, ck_kib = read_time(args.cnicheck_time)

    # Rows in the scenarios' order (which follows upstream's source), tests no phase names last.
    order = {key: i for i, key in enumerate(mapping)}
    tests.sort(key=lambda t: (order.get(t["key"], len(order)), t["key"]))
    print("| upstream test | upstream | upstream s | upstream cells | cnicheck phases | cnicheck | cnicheck s "
          "| cnicheck cells | comparison |")
    print("|---|---|---|---|---|---|---|---|---|")
    hidden, matched_keys = 0, set()
    expressed_secs = all_secs = 0.0
    ran = expressed_ran = agree = disagree = not_expressed = 0
    matrices = second_tries = readiness = probes_started = 0
    for test in tests:
        key, state = test["key"], test["state"]
        _, context, it = key
        # The It text, and what sets its context apart from the main one: "(using UDP)", "(API)".
        aside = context[len(MAIN_CONTEXT):].strip() if context.startswith(MAIN_CONTEXT) else context
        label = f"{it} ({aside})" if aside else it
        refs = mapping.get(key)
        up_ran = state in ("passed", "failed")
        up_cells = "-"
        if up_ran:
            ran += 1
            all_secs += test["secs"]
            counted = count_matrices(test["output"])
            matrices, second_tries, readiness, probes_started = (
                a + b for a, b in zip((matrices, second_tries, readiness, probes_started), counted))
            up_cells = str(counted[0] * SCORED_CELLS) + (f" (+{counted[1]} retried matrices)" if counted[1] else "")
        if refs:
            matched_keys.add(key)
            verdict = phase_verdict(refs, phases, skipped)
            secs = sum(phases.get(ref, {"secs": 0.0})["secs"] for ref in refs)
            if up_ran:
                expressed_ran += 1
                expressed_secs += test["secs"]
            if not up_ran and verdict is None:
                hidden += 1
                continue
            if not up_ran:
                comparison = f"not compared (upstream {state})"
            elif verdict is None:
                comparison = "not compared (cnicheck did not run these phases)"
            elif verdict.startswith("skipped"):
                comparison = "not compared (cnicheck skipped)"
            elif (state == "passed") == verdict.startswith("pass"):
                comparison, agree = "agree", agree + 1
            else:
                comparison, disagree = "DISAGREE", disagree + 1
            phase_cell = ", ".join(phase if scen == "netpol-e2e" else f"{scen}::{phase}" for scen, phase in refs)
            ck_cell, ck_secs = (verdict or "not run"), (fmt_secs(secs) if verdict else "-")
            cells = sum(n for ref in refs for v, n in phases.get(ref, {"verdicts": {}})["verdicts"].items()
                        if v != "skip")
            ck_cells = str(cells) if verdict else "-"
        else:
            reason = reason_left_out(key, scenarios)
            if reason is None and not context.startswith(MAIN_CONTEXT):
                # Describe("Netpol API"), network_policy_api.go: no pods, no traffic.
                reason = ("an API test without traffic: the scenarios port the truth tables of "
                          "network_policy.go, and cnicheck does not test the API server")
            reason = reason or "no phase names it, and no scenario says why"
            comparison, not_expressed = f"not expressed ({reason})", not_expressed + 1
            phase_cell, ck_cell, ck_secs, ck_cells = "-", "-", "-", "-"
        up_secs = fmt_secs(test["secs"]) if up_ran else "-"
        print(f"| {label} | {state} | {up_secs} | {up_cells} | {phase_cell} | {ck_cell} | {ck_secs} | {ck_cells} "
              f"| {comparison} |")
    if hidden:
        print(f"\n{hidden} further ported upstream test(s) neither ran upstream (focus/skip) nor in cnicheck (filters).")
    unknown = sorted(set(mapping) - {t["key"] for t in tests})
    for key in unknown:
        print(f"\nWarning: phase(s) {mapping[key]} name an upstream test that is not in the JUnit report: {' '.join(key)}",
              file=sys.stderr)

    ck_probes = sum(1 for s in report.get("scenarios", []) for p in s.get("probes", [])
                    if str(p.get("verdict", "")).lower() != "skip")
    ck_phase_secs = sum(e["secs"] for e in phases.values())
    scored = matrices * SCORED_CELLS
    print()
    print("| total | upstream | cnicheck |")
    print("|---|---|---|")
    print(f"| tests | {ran} ran ({sum(t['state'] == 'passed' for t in tests)} passed, "
          f"{sum(t['state'] == 'failed' for t in tests)} failed, {sum(t['state'] == 'skipped' for t in tests)} skipped; "
          f"exit {args.upstream_exit}) | {len(matched_keys)} upstream tests ported in "
          f"{sum(len(v) for v in mapping.values())} phases; exit {args.cnicheck_exit} |")
    print(f"| comparison | {agree} agree, {disagree} disagree, {not_expressed} not expressed | |")
    print(f"| wall time | {fmt_secs(up_wall)} s (e2e.test start to end) | {fmt_secs(ck_wall)} s "
          f"(start to cleaned up; phases' apply + probing {fmt_secs(ck_phase_secs)} s) |")
    print(f"| time of the tests cnicheck expresses | {fmt_secs(expressed_secs)} s (sum of {expressed_ran} JUnit times; "
          f"all {ran} that ran: {fmt_secs(all_secs)} s) | {fmt_secs(ck_wall)} s (whole run) |")
    ratio = f"{up_wall / ck_wall:.1f}x" if ck_wall else "-"
    ratio_expr = f"{expressed_secs / ck_wall:.1f}x" if ck_wall else "-"
    print(f"| upstream / cnicheck | {ratio} (wall / wall); {ratio_expr} (expressed tests / cnicheck wall) | |")
    up_rate = f"{scored / up_wall:.1f}" if up_wall else "-"
    ck_rate = f"{ck_probes / ck_wall:.1f}" if ck_wall else "-"
    print(f"| scored cells | {scored} ({matrices} validation matrices x {SCORED_CELLS}; "
          f"{second_tries} second tries and {readiness} readiness matrices not counted; "
          f"{probes_started} probes started in all) | {ck_probes} probes in the JSON report |")
    print(f"| scored cells per second (of wall time) | {up_rate} | {ck_rate} |")
    print(f"| peak RSS | {up_kib // 1024} MB (e2e.test) | {ck_kib // 1024} MB |")
    print()
    print(f"Upstream cells: each validation of a reachability matrix (the step \"Validating reachability matrix... "
          f"(FIRST TRY)\" in the test's captured log in the JUnit report) probes {MATRIX_PODS}x{MATRIX_PODS} pairs, "
          f"of which {SCORED_CELLS} are scored (pod to itself is ignored); a second try re-probes the same cells and "
          f"the readiness check before each test (waitForHTTPServers) is not scored, so neither adds cells. cnicheck "
          f"cells: its probes other than skipped ones (a pod to itself), baseline phases included. Cells per second "
          f"divide by each side's whole wall time.")


if __name__ == "__main__":
    main()
