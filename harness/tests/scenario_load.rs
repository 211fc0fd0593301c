//! Loading scenario files: the built-in suites, the documented example, the schema, and the
//! position and hint of every class of error.

use cnicheck::scenario::model::{Expectation, Target, WorkloadRef};
use cnicheck::scenario::{self, Diagnostic, ScenarioError, ScenarioSource};
use std::path::{Path, PathBuf};

/// Writes `files` into a fresh directory named after the test and returns its path.
fn fixture_dir(test: &str, files: &[(&str, &str)]) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("scenario_load")
        .join(test);
    let _ = std::fs::remove_dir_all(&dir);
    for (name, text) in files {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    dir
}

/// Every error, one after another, for a panic message.
fn describe(errors: &[ScenarioError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

/// Loads `yaml` as `TEST/s.yaml` and returns its diagnostics (panics if it loads fine).
fn diagnostics(test: &str, yaml: &str) -> Vec<Diagnostic> {
    let dir = fixture_dir(test, &[("s.yaml", yaml)]);
    diagnostics_of(&dir.join("s.yaml"))
}

fn diagnostics_of(path: &Path) -> Vec<Diagnostic> {
    let errors = scenario::load_file(path).expect_err("should not load");
    errors
        .into_iter()
        .map(|error| match error {
            ScenarioError::Syntax(diagnostic) | ScenarioError::Invalid(diagnostic) => *diagnostic,
            ScenarioError::Read { .. } | ScenarioError::TooManyErrors { .. } => {
                panic!("unexpected: {error}")
            }
        })
        .collect()
}

/// Asserts exactly these errors, in order: (line, column, part of message, part of hint).
#[track_caller]
fn assert_errors(test: &str, yaml: &str, expected: &[(u64, u64, &str, &str)]) {
    let dir = fixture_dir(test, &[("s.yaml", yaml)]);
    assert_errors_in(&dir.join("s.yaml"), expected);
}

/// [`assert_errors`] for a file already written.
#[track_caller]
fn assert_errors_in(path: &Path, expected: &[(u64, u64, &str, &str)]) {
    let found = diagnostics_of(path);
    let rendered: Vec<String> = found.iter().map(ToString::to_string).collect();
    assert_eq!(
        found.len(),
        expected.len(),
        "errors:\n{}",
        rendered.join("\n")
    );
    for ((diagnostic, rendered), (line, column, message, hint)) in
        found.iter().zip(&rendered).zip(expected)
    {
        assert_eq!(
            (diagnostic.line, diagnostic.column),
            (*line, *column),
            "{rendered}"
        );
        assert!(diagnostic.message.contains(message), "{rendered}");
        let actual_hint = diagnostic.hint.as_deref().unwrap_or_default();
        assert!(actual_hint.contains(hint), "{rendered}");
    }
}

/// A valid manifest.
const POLICY: &str = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p}\nspec: {podSelector: {}}\n";

/// A valid scenario to break one line at a time.
const BASE: &str = "\
name: s
workloads:
  - name: client
  - name: server
    service: {}
phases:
  - name: one
    probes:
      - from: client
        to: pod:server
        protocol: http
        expect: allowed
";

#[test]
fn every_builtin_scenario_loads() {
    let builtin = scenario::builtin();
    let names: Vec<&str> = builtin
        .iter()
        .map(|loaded| loaded.scenario.name.value.as_str())
        .collect();
    assert_eq!(
        names,
        [
            "pod-to-pod",
            "pod-to-service",
            "load-balancing",
            "encryption",
            "cross-node",
            "node-ports",
            "dns",
            "external",
            "network-policy",
            "policy-deny-ingress",
            "policy-deny-egress",
            "policy-selectors",
            "policy-ports",
            "policy-ipblock",
            "policy-ipblock-egress",
            "netpol-e2e",
            "netpol-e2e-ipblock",
            "multus",
            "cilium",
            "cilium-l3-l4",
            "cilium-entities",
            "cilium-cidr",
            "cilium-l7-http",
            "cilium-fqdn",
            "cilium-clusterwide",
        ]
    );
    for loaded in &builtin {
        assert!(!loaded.scenario.groups.is_empty(), "{}", loaded.source);
        assert!(loaded.source.to_string().starts_with("builtin/"));
        for phase in &loaded.scenario.phases {
            for manifest in &phase.apply {
                loaded.source.read_manifest(&manifest.value).unwrap();
            }
        }
    }
}

#[test]
fn builtin_files_load_from_disk_too() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            path.extension()
                .is_some_and(|extension| extension == "yaml")
        })
        .collect();
    paths.sort();
    let loaded =
        scenario::load_all(&paths).unwrap_or_else(|errors| panic!("{}", describe(&errors)));
    assert_eq!(
        loaded.len(),
        scenario::builtin().len(),
        "every file is built in"
    );
    let policy = loaded
        .iter()
        .find(|loaded| loaded.scenario.name.value == "network-policy")
        .unwrap();
    let manifest = policy
        .source
        .read_manifest("manifests/deny-ingress-to-server.yaml")
        .unwrap();
    assert!(manifest.contains("kind: NetworkPolicy"));
}

#[test]
fn module_doc_example_parses() {
    let source = include_str!("../src/scenario/model.rs");
    let example: String = source
        .lines()
        .filter_map(|line| line.strip_prefix("//!"))
        .map(|line| line.strip_prefix(' ').unwrap_or(line))
        .skip_while(|line| *line != "```yaml")
        .skip(1)
        .take_while(|line| *line != "```")
        .map(|line| format!("{line}\n"))
        .collect();
    assert!(example.contains("workloads:"), "example not found");
    let dir = fixture_dir("module_doc_example_parses", &[("example.yaml", &example)]);
    let loaded = scenario::load_file(dir.join("example.yaml")).unwrap();
    assert_eq!(loaded.scenario.workloads[1].replicas.value, 2);
    assert_eq!(loaded.scenario.workloads[0].replicas.value, 1);
}

#[test]
fn readme_example_is_a_valid_scenario() {
    let readme = include_str!("../../README.md");
    let example: String = readme
        .lines()
        .skip_while(|line| *line != "name: web-policy                  # test names: web-policy::PHASE::FROM->TO:PROTOCOL/PORT")
        .take_while(|line| *line != "```")
        .map(|line| format!("{line}\n"))
        .collect();
    assert!(example.contains("phases:"), "README example not found");
    let policy = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: allow-only-client}\n\
                  spec: {podSelector: {}, policyTypes: [Ingress]}\n";
    let dir = fixture_dir(
        "readme_example_is_a_valid_scenario",
        &[
            ("web.yaml", &example),
            ("manifests/allow-only-client.yaml", policy),
        ],
    );
    let loaded = scenario::load_file(dir.join("web.yaml"))
        .unwrap_or_else(|errors| panic!("{}", describe(&errors)));
    assert_eq!(loaded.scenario.name.value, "web-policy");
}

#[test]
fn schema_describes_the_format() {
    let schema = scenario::json_schema();
    let text = serde_json::to_string(&schema).unwrap();
    let reparsed: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(reparsed, schema);
    let properties = schema["properties"].as_object().unwrap();
    for property in [
        "name",
        "description",
        "groups",
        "requires",
        "namespaces",
        "workloads",
        "phases",
    ] {
        assert!(properties.contains_key(property), "missing {property}");
    }
    let required: Vec<&str> = schema["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|value| value.as_str().unwrap())
        .collect();
    assert_eq!(required, ["name"]);
    // Either a built-in check, or workloads and phases.
    assert_eq!(
        schema["anyOf"],
        serde_json::json!([{"required": ["check"]}, {"required": ["workloads", "phases"]}])
    );
    assert_eq!(
        schema["$defs"]["BuiltinCheck"]["oneOf"][0]["const"],
        "cilium"
    );
    assert_eq!(properties["name"]["type"], "string");
    let probe_set = &schema["$defs"]["ProbeSet"]["properties"];
    assert!(probe_set["from"].is_object() && probe_set["except"].is_object());
}

#[test]
fn probe_sets_accept_one_or_many_and_keep_positions() {
    let yaml = BASE.replace("to: pod:server", "to: [pod:server, \"service:server\"]");
    let dir = fixture_dir("one_or_many", &[("s.yaml", &yaml)]);
    let loaded = scenario::load_file(dir.join("s.yaml")).unwrap();
    let probes = &loaded.scenario.phases[0].probes[0];
    let from = &probes.from.as_slice()[0];
    assert_eq!((from.referenced.line(), from.referenced.column()), (9, 15));
    let to: Vec<(u64, u64)> = probes
        .to
        .as_slice()
        .iter()
        .map(|to| (to.referenced.line(), to.referenced.column()))
        .collect();
    assert_eq!(to, [(10, 14), (10, 26)]);
    assert_eq!(
        Target::parse(&probes.to.as_slice()[1].value),
        Some(Target::Service(WorkloadRef::parse("server")))
    );
}

#[test]
fn except_overrides_single_cells() {
    let yaml = BASE.replace(
        "        expect: allowed\n",
        "        expect: allowed\n        except:\n          client -> pod:server: {status: 403}\n",
    );
    let dir = fixture_dir("except_overrides", &[("s.yaml", &yaml)]);
    let loaded = scenario::load_file(dir.join("s.yaml")).unwrap();
    let probes = &loaded.scenario.phases[0].probes[0];
    let cells: Vec<(String, Expectation)> = probes
        .matrix()
        .iter()
        .map(|cell| (cell.to.value.clone(), cell.expected.clone()))
        .collect();
    assert_eq!(cells, [("pod:server".into(), Expectation::Status(403))]);
}

/// A truth table as people write it: several ports in one set, patterns for whole rows or
/// columns, one port's exception, and the last matching entry deciding.
const TABLE: &str = "\
name: t
namespaces:
  y: {}
workloads:
  - name: a
  - name: b
  - name: a
    namespace: y
phases:
  - name: one
    probes:
      - from: [a, b, y/a]
        to: [pod:a, pod:y/a]
        protocol: tcp
        port: [80, 81]
        expect: allowed
        except:
          \"y/* -> *\": denied
          \"* -> pod:y/*:tcp/81\": denied
          \"y/a -> pod:a:tcp/80\": allowed
";

#[test]
fn truth_tables_take_port_lists_and_except_patterns_the_last_match_deciding() {
    let dir = fixture_dir("truth_table", &[("t.yaml", TABLE)]);
    let loaded = scenario::load_file(dir.join("t.yaml")).unwrap();
    let cells: Vec<String> = cnicheck::runner::cells::cells(&loaded)
        .iter()
        .map(|cell| {
            let expected = cell.matrix().unwrap().expected;
            format!("{} {expected:?}", cell.name)
        })
        .collect();
    assert_eq!(
        cells,
        [
            "t::one::a->pod:a:tcp/80 Allowed",
            "t::one::a->pod:a:tcp/81 Allowed",
            "t::one::a->pod:y/a:tcp/80 Allowed",
            "t::one::a->pod:y/a:tcp/81 Denied",
            "t::one::b->pod:a:tcp/80 Allowed",
            "t::one::b->pod:a:tcp/81 Allowed",
            "t::one::b->pod:y/a:tcp/80 Allowed",
            "t::one::b->pod:y/a:tcp/81 Denied",
            "t::one::y/a->pod:a:tcp/80 Allowed",
            "t::one::y/a->pod:a:tcp/81 Denied",
            "t::one::y/a->pod:y/a:tcp/80 Denied",
            "t::one::y/a->pod:y/a:tcp/81 Denied",
        ]
    );
}

#[test]
fn except_entries_must_match_a_cell_and_ports_must_be_listed() {
    let yaml = TABLE
        .replace("port: [80, 81]", "port: [80, 81]\n        timeout: 1")
        .replace(
            "          \"y/a -> pod:a:tcp/80\": allowed\n",
            "          \"y/a -> pod:a:tcp/82\": allowed\n          \"x/* -> *\": denied\n",
        );
    assert_errors(
        "except_matches_nothing",
        &yaml,
        &[
            (
                21,
                11,
                "`tcp/82` in `y/a -> pod:a:tcp/82` is not a port",
                "`tcp/80`, `tcp/81`",
            ),
            (22, 11, "`x/* -> *` matches no cell", "`a -> pod:a:tcp/80`"),
        ],
    );
    let overridden = TABLE.replace(
        "          \"y/* -> *\": denied\n",
        "          \"y/a -> pod:a:tcp/81\": allowed\n          \"y/* -> *\": denied\n",
    );
    assert_errors(
        "except_overridden",
        &overridden,
        &[(
            18,
            11,
            "`y/a -> pod:a:tcp/81` decides no cell",
            "`y/* -> *` on line 19",
        )],
    );
    assert_errors(
        "empty_port_list",
        &BASE.replace("protocol: http\n", "protocol: http\n        port: []\n"),
        &[(12, 15, "`port: []` is empty", "list at least one port")],
    );
}

#[test]
fn unknown_field_suggests_the_closest() {
    let yaml = BASE.replace("  - name: client\n", "  - name: client\n    replica: 2\n");
    assert_errors(
        "unknown_field",
        &yaml,
        &[(4, 5, "unknown field `replica`", "did you mean `replicas`?")],
    );
    let rendered = diagnostics("unknown_field_display", &yaml)[0].to_string();
    assert!(rendered.contains("s.yaml:4:5: unknown field `replica`\n  hint: did you mean `replicas`? valid fields here: `name`, `namespace`, `replicas`"), "{rendered}");
    assert!(
        rendered.ends_with("  |\n4 |     replica: 2\n  |     ^^^^^^^"),
        "{rendered}"
    );
}

#[test]
fn bad_enum_value_lists_allowed_values() {
    // A lone value is reported at its key (the parser does not locate a value read as
    // "one or a list"); an item of a list at the item itself.
    let hint = "did you mean `http`? allowed values: `tcp`, `http`, `https`, `udp`, `icmp`, `dns`";
    let yaml = BASE.replace("protocol: http", "protocol: htp");
    assert_errors("bad_enum", &yaml, &[(11, 9, "unknown value `htp`", hint)]);
    let yaml = BASE.replace("protocol: http", "protocol: [tcp, htp]");
    assert_errors(
        "bad_enum_in_list",
        &yaml,
        &[(11, 25, "unknown value `htp`", hint)],
    );
}

#[test]
fn type_errors_point_at_the_value() {
    let yaml = BASE.replace(
        "  - name: client\n",
        "  - name: client\n    replicas: many\n",
    );
    assert_errors("type_error", &yaml, &[(4, 15, "u32", "")]);
}

#[test]
fn duplicate_names_point_at_the_second() {
    let yaml = format!("{BASE}  - name: one\n    probes: []\n")
        .replace("  - name: server\n", "  - name: client\n  - name: server\n");
    assert_errors(
        "duplicates",
        &yaml,
        &[
            (4, 11, "workload `client` is defined twice", "line 3"),
            (14, 11, "phase `one` is defined twice", "line 8"),
            (14, 11, "phase `one` has no probes", "add a probe set"),
        ],
    );
}

#[test]
fn duplicate_scenario_names_across_files() {
    let dir = fixture_dir("duplicate_scenarios", &[("a.yaml", BASE), ("b.yaml", BASE)]);
    let errors = scenario::load_all([dir.join("a.yaml"), dir.join("b.yaml")]).unwrap_err();
    assert_eq!(errors.len(), 1);
    let rendered = errors[0].to_string();
    assert!(
        rendered.contains("b.yaml:1:7: scenario `s` is defined twice"),
        "{rendered}"
    );
    assert!(rendered.contains("a.yaml:1"), "{rendered}");
}

#[test]
fn unknown_workloads_and_targets() {
    let yaml = BASE
        .replace("from: client", "from: [client, clinet]")
        .replace("to: pod:server", "to: [pod:sever, pdo:server, bogus]");
    assert_errors(
        "unknown_references",
        &yaml,
        &[
            (
                9,
                24,
                "unknown workload `clinet`",
                "did you mean `client`? defined workloads: `client`, `server`",
            ),
            (10, 14, "unknown workload `sever`", "did you mean `server`?"),
            (
                10,
                25,
                "`pdo:server` is not a target",
                "did you mean `pod:server`?",
            ),
            (
                10,
                37,
                "`bogus` is not a target",
                "targets are pod:WORKLOAD, service:WORKLOAD",
            ),
        ],
    );
}

#[test]
fn namespaced_references() {
    let yaml = BASE
        .replace("workloads:\n", "namespaces:\n  other: {}\nworkloads:\n")
        .replace(
            "  - name: server\n",
            "  - name: server\n    namespace: other\n",
        )
        .replace("to: pod:server", "to: [pod:other/server, pod:server]")
        .replace(
            "  - name: client\n",
            "  - name: client\n    namespace: elsewhere\n",
        );
    assert_errors(
        "namespaces",
        &yaml,
        &[
            (
                6,
                16,
                "namespace alias `elsewhere` is not defined",
                "defined aliases: `default`, `other`",
            ),
            (
                13,
                15,
                "unknown workload `client`",
                "did you mean `elsewhere/client`?",
            ),
            (
                14,
                32,
                "unknown workload `server`",
                "did you mean `other/server`?",
            ),
        ],
    );
}

#[test]
fn default_namespace_alias_is_reserved() {
    let yaml = BASE.replace("workloads:\n", "namespaces:\n  default: {}\nworkloads:\n");
    assert_errors(
        "reserved_alias",
        &yaml,
        &[(3, 3, "alias `default` is reserved", "pick another alias")],
    );
}

#[test]
fn services_must_exist_for_service_targets() {
    let yaml = BASE.replace("    service: {}\n", "").replace(
        "to: pod:server",
        "to: [service:server, service-dns:server, nodeport:server, node:server]",
    );
    assert_errors(
        "services",
        &yaml,
        &[
            (
                9,
                14,
                "workload `server` has no Service",
                "add `service: {}`",
            ),
            (
                9,
                30,
                "workload `server` has no Service",
                "add `service: {}`",
            ),
            (
                9,
                50,
                "has no NodePort Service",
                "`service: {type: NodePort}`",
            ),
            (
                9,
                67,
                "is not a host-network workload",
                "`host-network: true`",
            ),
        ],
    );
}

#[test]
fn except_keys_must_name_cells() {
    let yaml = BASE.replace(
        "        expect: allowed\n",
        "        expect: allowed\n        except:\n          client -> pod:servr: denied\n          client: denied\n          server -> pod:server: denied\n",
    );
    assert_errors(
        "except_keys",
        &yaml,
        &[
            (
                14,
                11,
                "`pod:servr` in `client -> pod:servr` is not in this probe set's `to`",
                "did you mean `pod:server`?",
            ),
            (
                15,
                11,
                "`client` is not an `except` key",
                "write `FROM -> TO`",
            ),
            (
                16,
                11,
                "`server` in `server -> pod:server` is not in this probe set's `from`",
                "`from` has: `client`",
            ),
        ],
    );
}

#[test]
fn expectations_must_fit_the_protocol() {
    let probes = r"      - from: client
        to: pod:server
        protocol: tcp
        expect: {status: 200}
      - from: client
        to: pod:server
        protocol: http
        expect: nxdomain
        except:
          client -> pod:server: {resolves-to: 10.0.0.1}
      - from: client
        to: [dns:example.com, pod:server]
        protocol: dns
        expect: dropped
      - from: client
        to: dns:example.org
        protocol: dns
        expect: {resolves-to: not-an-ip}
";
    let yaml = BASE.replace(
        "      - from: client\n        to: pod:server\n        protocol: http\n        expect: allowed\n",
        probes,
    );
    assert_errors(
        "expectations",
        &yaml,
        &[
            (
                12,
                17,
                "expectation `status` does not fit protocol tcp",
                "use `protocol: http`",
            ),
            (
                16,
                17,
                "`nxdomain` does not fit protocol http",
                "use `protocol: dns`",
            ),
            (
                18,
                33,
                "`resolves-to` does not fit protocol http",
                "use `protocol: dns`",
            ),
            (20, 31, "`pod:server` cannot be probed with dns", "dns:NAME"),
            (
                22,
                17,
                "`dropped` does not fit protocol dns",
                "`nxdomain` or `resolves-to`",
            ),
            (
                26,
                17,
                "`resolves-to` does not fit protocol dns",
                "`not-an-ip` is not an IP address",
            ),
        ],
    );
}

#[test]
fn placement_must_name_another_workload() {
    let yaml = BASE
        .replace(
            "  - name: client\n",
            "  - name: client\n    placement: {same-node-as: client}\n",
        )
        .replace(
            "    service: {}\n",
            "    service: {}\n    placement: {other-node-than: db}\n",
        );
    assert_errors(
        "placement",
        &yaml,
        &[
            (4, 31, "placed relative to itself", "another workload"),
            (
                7,
                34,
                "`other-node-than` needs at least two nodes",
                "min-nodes: 2",
            ),
            (7, 34, "unknown workload `db`", "defined workloads"),
        ],
    );
}

#[test]
fn manifests_must_exist_and_be_applied_before_deletion() {
    let yaml = BASE.replace(
        "  - name: one\n",
        "  - name: zero\n    apply: [policy.yaml, missing.yaml]\n    delete: [policy.yaml]\n    probes: [{from: client, to: pod:server, protocol: tcp, expect: allowed}]\n  - name: one\n    delete: [policy.yaml, other.yaml]\n",
    );
    let dir = fixture_dir("manifests", &[("s.yaml", &yaml), ("policy.yaml", POLICY)]);
    let errors = scenario::load_file(dir.join("s.yaml")).unwrap_err();
    let rendered: Vec<String> = errors.iter().map(ToString::to_string).collect();
    let headlines: Vec<&str> = rendered
        .iter()
        .map(|text| {
            text.lines()
                .next()
                .unwrap()
                .split_once("s.yaml:")
                .unwrap()
                .1
        })
        .collect();
    assert_eq!(
        headlines,
        [
            "8:26: manifest `missing.yaml` not found",
            "9:14: `policy.yaml` is deleted but no earlier phase applies it",
            "12:27: `other.yaml` is deleted but no earlier phase applies it",
        ]
    );
    assert!(
        rendered[2].contains("applied by earlier phases: `missing.yaml`, `policy.yaml`"),
        "{}",
        rendered[2]
    );
}

#[test]
fn run_time_values_in_manifests_are_checked_where_they_are_written() {
    let yaml = BASE
        .replace(
            "  - name: server\n    service: {}\n",
            "  - name: server\n    service: {}\n  - name: web\n    replicas: 2\n",
        )
        .replace("name: s\n", "name: s\nsetup: [setup.yaml]\n")
        .replace(
            "  - name: one\n",
            "  - name: one\n    apply: [policy.yaml]\n",
        );
    let policy = "\
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: p}
spec:
  podSelector: {}
  egress:
    - to:
        - ipBlock: {cidr: \"${POD_NETWORK}\", except: [\"${POD_IP:server}/32\", \"${POD_IP:web}/32\"]}
        - ipBlock: {cidr: \"${SERVICE_IP:client}/32\"}
        - ipBlock: {cidr: \"${POD_IP:x/server}/32\"}
        - ipBlock: {cidr: \"${NODE_IPS:server}\"}
";
    let setup = POLICY.replace(
        "spec: {podSelector: {}}",
        "spec: {podSelector: {matchLabels: {a: \"${POD_IP:server}\"}}}",
    );
    let dir = fixture_dir(
        "variables",
        &[
            ("s.yaml", &yaml),
            ("policy.yaml", policy),
            ("setup.yaml", &setup),
        ],
    );
    let found = diagnostics_of(&dir.join("s.yaml"));
    let headlines: Vec<String> = found
        .iter()
        .map(|diagnostic| {
            let file = if diagnostic.to_string().contains("/setup.yaml:") {
                "setup.yaml"
            } else {
                "policy.yaml"
            };
            format!(
                "{file}:{}:{}: {} | {}",
                diagnostic.line,
                diagnostic.column,
                diagnostic.message,
                diagnostic.hint.as_deref().unwrap_or_default()
            )
        })
        .collect();
    let expected = [
        "setup.yaml:4:39: ${POD_IP:server}: `setup` manifests are applied before the pods exist | apply this manifest in a phase (`apply:`), after the workloads are deployed",
        "policy.yaml:8:77: ${POD_IP:web}: workload `web` has more than one pod, so which one is meant is unclear | name a workload with `replicas: 1` (and no `placement: every-node`)",
        "policy.yaml:9:27: ${SERVICE_IP:client}: workload `client` has no Service | add `service: {}` to the workload",
        "policy.yaml:10:27: ${POD_IP:x/server}: the scenario has no workload `x/server` | name one of its workloads: client, server, web",
        "policy.yaml:11:27: `${NODE_IPS}` is not a variable cnicheck knows | cnicheck fills in ${NAME} for CNICHECK_EXTERNAL_HOST, POD_IP:WORKLOAD, NODE_IP:WORKLOAD, POD_CIDR:WORKLOAD, POD_NETWORK, SERVICE_IP:WORKLOAD, NAMESPACE:ALIAS; write `$${` for a literal `${`",
    ];
    assert_eq!(headlines, expected);
}

#[test]
fn numbers_must_be_sensible() {
    let yaml = BASE
        .replace("  - name: client\n", "  - name: client\n    replicas: 0\n")
        .replace(
            "        expect: allowed\n",
            "        expect: allowed\n        timeout: 0\n",
        );
    assert_errors(
        "numbers",
        &yaml,
        &[
            (4, 15, "`replicas` must be at least 1", ""),
            (
                14,
                18,
                "timeout must be a positive number",
                "default of 2 seconds",
            ),
        ],
    );
}

#[test]
fn a_port_needs_a_protocol_that_has_ports() {
    let yaml = BASE.replace("protocol: http\n", "protocol: icmp\n        port: 8080\n");
    assert_errors(
        "icmp_port",
        &yaml,
        &[(
            11,
            19,
            "protocol icmp has no port, but this probe set gives `port: 8080`",
            "remove `port`",
        )],
    );
}

#[test]
fn requirements_follow_from_use() {
    let yaml = BASE.replace("to: pod:server", "to: external").replace(
        "  - name: client\n",
        "  - name: client\n    networks: [macvlan]\n",
    );
    assert_errors(
        "requirements",
        &yaml,
        &[
            (
                3,
                11,
                "attaches Multus networks",
                "network-attachment-definitions.k8s.cni.cncf.io",
            ),
            (
                11,
                13,
                "`external` needs the scenario to require an external target",
                "external-target: true",
            ),
        ],
    );
}

#[test]
fn a_scenario_is_a_builtin_check_or_workloads_with_phases() {
    assert_errors(
        "check_and_workloads",
        &BASE.replace("name: s\n", "name: s\ncheck: cilium\n"),
        &[(
            2,
            8,
            "a built-in check has no workloads, phases",
            "remove `check`",
        )],
    );
    assert_errors(
        "neither",
        "name: s\ngroups: [x]\n",
        &[(
            1,
            7,
            "the scenario has no workloads and phases",
            "`check: cilium`",
        )],
    );
    assert_errors(
        "unknown_check",
        "name: s\ncheck: calico\n",
        &[(2, 8, "unknown value `calico`", "allowed values: `cilium`")],
    );
    let dir = fixture_dir(
        "check",
        &[("s.yaml", "name: s\ngroups: [cilium]\ncheck: cilium\n")],
    );
    let loaded = scenario::load_file(dir.join("s.yaml")).unwrap();
    assert!(loaded.scenario.check.is_some() && loaded.scenario.workloads.is_empty());
}

#[test]
fn address_checks_and_multus_networks_are_checked() {
    let yaml = "\
name: s
multus-network: Bad_Name
workloads:
  - name: peer
phases:
  - name: one
    probes:
      - from: peer
        to: [interface:net1, pod:peer]
        protocol: address
        interface: net1
        expect: allowed
      - from: peer
        to: interface:net1
        protocol: icmp
        expect: in-nad-range
";
    assert_errors(
        "address_checks",
        yaml,
        &[
            (
                2,
                17,
                "not a valid NetworkAttachmentDefinition name",
                "lowercase",
            ),
            (
                2,
                17,
                "`multus-network` needs Multus",
                "network-attachment-definitions.k8s.cni.cncf.io",
            ),
            (
                9,
                30,
                "`pod:peer` cannot be probed with address",
                "the source pod's own `interface:NAME`",
            ),
            (
                12,
                17,
                "does not fit protocol address",
                "expects `in-nad-range`",
            ),
            (
                10,
                19,
                "cannot be bound to `interface: net1`",
                "`to: interface:net1`",
            ),
            (
                14,
                13,
                "`interface:net1` cannot be probed with icmp",
                "need `protocol: address`",
            ),
            (
                16,
                17,
                "does not fit protocol icmp",
                "use `protocol: address`",
            ),
        ],
    );
}

#[test]
fn unreadable_files_name_the_path() {
    let errors = scenario::load_file("/nonexistent/s.yaml").unwrap_err();
    assert!(matches!(errors[..], [ScenarioError::Read { .. }]));
    assert!(
        errors[0]
            .to_string()
            .starts_with("/nonexistent/s.yaml: cannot read")
    );
}

#[test]
fn builtin_sources_read_embedded_manifests() {
    let source = ScenarioSource::Builtin("network-policy.yaml");
    assert!(
        source
            .read_manifest("./manifests/deny-ingress-to-server.yaml")
            .is_ok()
    );
    assert!(source.read_manifest("manifests/none.yaml").is_err());
}

#[test]
fn only_regular_files_are_read_and_never_block() {
    let dir = fixture_dir("special_files", &[]);
    std::fs::create_dir_all(&dir).unwrap();
    let fifo = dir.join("fifo.yaml");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    for (path, what) in [
        (fifo, "a FIFO (named pipe), not a regular file"),
        (PathBuf::from("/dev/zero"), "a device, not a regular file"),
        (dir.clone(), "a directory, not a regular file"),
    ] {
        let errors = scenario::load_file(&path).unwrap_err();
        let rendered = describe(&errors);
        assert!(
            rendered.starts_with(&format!("{}: {what}", path.display())),
            "{rendered}"
        );
        assert!(rendered.contains("hint: cnicheck reads only regular files"));
    }
}

#[test]
fn files_are_bounded_and_utf8() {
    let big = format!(
        "{BASE}# {}\n",
        "x".repeat(scenario::limits::MAX_FILE_BYTES as usize)
    );
    let dir = fixture_dir("big_file", &[("s.yaml", &big)]);
    let rendered = describe(&scenario::load_file(dir.join("s.yaml")).unwrap_err());
    assert!(
        rendered.contains("larger than 1048576 bytes (1 MiB)"),
        "{rendered}"
    );
    let dir = fixture_dir("not_utf8", &[]);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("s.yaml"), b"name: s\ndescription: caf\xe9\n").unwrap();
    assert_errors_in(
        &dir.join("s.yaml"),
        &[(2, 17, "not UTF-8 text: byte 0xe9", "save the file as UTF-8")],
    );
}

/// `BASE` with a phase that applies `manifest`, written as `m.yaml` beside it.
fn with_manifest(test: &str, manifest: &[u8], requires: &str) -> PathBuf {
    let yaml = BASE
        .replace("    probes:\n", "    apply: [m.yaml]\n    probes:\n")
        .replace("workloads:\n", &format!("{requires}workloads:\n"));
    let dir = fixture_dir(test, &[("s.yaml", &yaml)]);
    std::fs::write(dir.join("m.yaml"), manifest).unwrap();
    dir.join("s.yaml")
}

/// The rendered errors of loading `path`.
fn rendered_errors(path: &Path) -> Vec<String> {
    scenario::load_file(path)
        .expect_err("should not load")
        .iter()
        .map(ToString::to_string)
        .collect()
}

#[test]
fn manifests_are_parsed_offline() {
    let cases: [(&[u8], &str, &str); 6] = [
        (b"kind: [\n", "m.yaml:1:7: unclosed bracket", "hint: check the indentation"),
        (b"\x7fELF\x02\x01\x01\x00\xff\xfe", "m.yaml:1:9: not UTF-8", "save the file as UTF-8"),
        (b"hello: world\n", "m.yaml:1:1: `apiVersion` is missing", "hint: a manifest holds Kubernetes objects"),
        (
            b"apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: p\n  labels: {enabled: yes}\nspec: {podSelector: {}}\n",
            "m.yaml:5:21: NetworkPolicy `metadata.labels.enabled`: expected a string, found boolean",
            "quote it (\"yes\")",
        ),
        (
            b"apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {ports: [{port: http}]}\n",
            "m.yaml:4:23: Service `spec.ports[0].port`: expected i32",
            "kubectl explain service.spec.ports.port",
        ),
        (
            b"apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec: {replica: 1, selector: {}, template: {}}\n",
            "m.yaml:4:8: Deployment has no field `spec.replica`",
            "kubectl explain deployment.spec.replica",
        ),
    ];
    for (index, (manifest, headline, hint)) in cases.into_iter().enumerate() {
        let path = with_manifest(&format!("manifest_{index}"), manifest, "");
        let rendered = rendered_errors(&path);
        assert!(rendered[0].contains(headline), "{rendered:#?}");
        assert!(rendered[0].contains(hint), "{rendered:#?}");
    }
    // Custom resources need only be objects; the external host variable is accepted where the
    // scenario requires an external target.
    let cnp = b"apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: c}\nspec:\n  endpointSelector: {}\n  egress:\n    - toFQDNs:\n        - matchName: ${CNICHECK_EXTERNAL_HOST}\n";
    let path = with_manifest("manifest_crd", cnp, "requires: {external-target: true}\n");
    scenario::load_file(&path).unwrap_or_else(|errors| panic!("{}", describe(&errors)));
    let path = with_manifest("manifest_crd_no_external", cnp, "");
    let rendered = rendered_errors(&path);
    assert!(
        rendered[0].contains("m.yaml:8:22: ${CNICHECK_EXTERNAL_HOST} needs an external target"),
        "{rendered:#?}"
    );
}

#[test]
fn manifest_paths_stay_in_the_scenario_folder() {
    let dir = fixture_dir("confined", &[("sub/s.yaml", ""), ("outside.yaml", POLICY)]);
    std::os::unix::fs::symlink(dir.join("outside.yaml"), dir.join("sub/link.yaml")).unwrap();
    for manifest in [
        "../../../etc/passwd",
        "/etc/shadow",
        "/proc/self/environ",
        "link.yaml",
        "../outside.yaml",
    ] {
        let yaml = BASE.replace(
            "    probes:\n",
            &format!("    apply: [\"{manifest}\"]\n    probes:\n"),
        );
        std::fs::write(dir.join("sub/s.yaml"), &yaml).unwrap();
        let rendered = rendered_errors(&dir.join("sub/s.yaml"));
        assert_eq!(rendered.len(), 1, "{rendered:#?}");
        assert!(
            rendered[0].contains(&format!(
                "s.yaml:8:13: manifest `{manifest}` is outside the scenario's folder"
            )),
            "{rendered:#?}"
        );
        assert!(
            rendered[0].contains("--allow-outside-manifests"),
            "{rendered:#?}"
        );
    }
    let options = scenario::LoadOptions {
        allow_manifests_outside: true,
    };
    let loaded = scenario::load_all_with([dir.join("sub/s.yaml")], &options)
        .unwrap_or_else(|errors| panic!("{}", describe(&errors)));
    assert_eq!(loaded.len(), 1);
}

#[test]
fn names_kubernetes_rejects_are_errors() {
    let long = "x".repeat(300);
    let yaml = BASE
        .replace("name: s\n", "name: my scenario\n")
        .replace(
            "  - name: client\n",
            "  - name: Client_1.X\n    labels: {\"bad key!\": ok, app: \"-bad\"}\n",
        )
        .replace("from: client", "from: Client_1.X")
        .replace("  - name: one\n", &format!("  - name: {long}\n"));
    assert_errors(
        "bad_names",
        &yaml,
        &[
            (
                1,
                7,
                "scenario name `my scenario` is not valid",
                "labels everything it creates",
            ),
            (
                3,
                11,
                "workload name `Client_1.X` is not valid: only lowercase",
                "e.g. `client-1`",
            ),
            (
                4,
                35,
                "label value `-bad` is not valid",
                "label value is empty or",
            ),
            (4, 14, "label key `bad key!` is not valid", "[PREFIX/]NAME"),
            (8, 11, "phase name `xxx", "part of test names"),
        ],
    );
    assert_errors(
        "empty_name",
        &BASE.replace("name: s\n", "name: \"\"\n"),
        &[(1, 7, "the scenario name is empty", "starts every test name")],
    );
}

#[test]
fn numbers_are_bounded() {
    let yaml = BASE
        .replace(
            "  - name: client\n",
            "  - name: client\n    replicas: 4294967295\n",
        )
        .replace("workloads:\n", "requires: {min-nodes: 0}\nworkloads:\n")
        .replace(
            "        expect: allowed\n",
            "        expect: allowed\n        port: 0\n        timeout: 1e308\n",
        );
    assert_errors(
        "big_numbers",
        &yaml,
        &[
            (
                2,
                23,
                "`requires.min-nodes: 0` is out of range",
                "remove `min-nodes`",
            ),
            (
                5,
                15,
                "`replicas: 4294967295` is more than the 100 pods",
                "at most 100",
            ),
            (15, 15, "`port: 0` is not a port", "1 to 65535"),
            (16, 18, "up to 300, not 1e308", "default of 2 seconds"),
        ],
    );
    for (timeout, shown) in [(".nan", "NaN"), ("-1", "-1"), (".inf", "inf")] {
        let yaml = BASE.replace(
            "        expect: allowed\n",
            &format!("        expect: allowed\n        timeout: {timeout}\n"),
        );
        assert_errors(
            &format!("timeout_{shown}"),
            &yaml,
            &[(13, 18, &format!("not {shown}"), "default")],
        );
    }
    let yaml = BASE.replace(
        "        expect: allowed\n",
        "        expect: allowed\n        port: 70000\n",
    );
    // The port's own type names what it takes: the message is the hint.
    assert_errors(
        "port_range",
        &yaml,
        &[(
            13,
            9,
            "integer `70000`, expected a port number (1-65535) or `tunnel`",
            "",
        )],
    );
}

#[test]
fn the_tunnel_port_is_for_udp_and_named_tunnel_in_tests() {
    let yaml = BASE.replace(
        "        expect: allowed\n",
        "        expect: allowed\n        port: tunnel\n",
    );
    assert_errors(
        "tunnel_http",
        &yaml,
        &[(
            11,
            19,
            "`port: tunnel` is the cluster's UDP overlay port",
            "protocol: udp",
        )],
    );
    let yaml = yaml.replace("protocol: http", "protocol: udp");
    let dir = fixture_dir("tunnel_udp", &[("s.yaml", &yaml)]);
    let loaded = scenario::load_file(dir.join("s.yaml")).unwrap();
    let cells = cnicheck::runner::cells::cells(&loaded);
    assert_eq!(cells[0].name, "s::one::client->pod:server:udp/tunnel");
}

#[test]
fn each_protocol_of_a_list_is_checked_and_named_in_tests() {
    let yaml = BASE.replace(
        "protocol: http\n",
        "protocol: [tcp, icmp]\n        port: 8080\n",
    );
    assert_errors(
        "protocols_port",
        &yaml,
        &[(11, 25, "protocol icmp has no port", "remove `port`")],
    );
    let yaml = BASE.replace(
        "protocol: http\n",
        "protocol: [tcp, udp]\n        port: tunnel\n",
    );
    assert_errors(
        "protocols_tunnel",
        &yaml,
        &[(
            11,
            20,
            "`port: tunnel` is the cluster's UDP overlay port",
            "protocol: udp",
        )],
    );
    let yaml = BASE.replace("protocol: http\n", "protocol: []\n");
    assert_errors(
        "protocols_empty",
        &yaml,
        &[(11, 19, "`protocol: []` is empty", "name a protocol")],
    );
    let yaml = BASE.replace(
        "protocol: http\n",
        "protocol: [tcp, udp]\n        port: [80, 81]\n",
    );
    let dir = fixture_dir("protocols_cells", &[("s.yaml", &yaml)]);
    let loaded = scenario::load_file(dir.join("s.yaml")).unwrap();
    let names: Vec<String> = cnicheck::runner::cells::cells(&loaded)
        .into_iter()
        .map(|cell| cell.name)
        .collect();
    assert_eq!(
        names,
        [
            "s::one::client->pod:server:tcp/80",
            "s::one::client->pod:server:tcp/81",
            "s::one::client->pod:server:udp/80",
            "s::one::client->pod:server:udp/81",
        ]
    );
}

#[test]
fn empty_lists_make_no_tests_and_are_errors() {
    let yaml = BASE
        .replace("from: client", "from: []")
        .replace("to: pod:server", "to: []");
    assert_errors(
        "empty_lists",
        &yaml,
        &[
            (9, 15, "`from: []` is empty", "at least one entry"),
            (10, 13, "`to: []` is empty", "at least one entry"),
        ],
    );
    let yaml = BASE.replace("    probes:\n      - from: client\n        to: pod:server\n        protocol: http\n        expect: allowed\n", "    probes: []\n");
    assert_errors(
        "no_probes",
        &yaml,
        &[(7, 11, "phase `one` has no probes", "add a probe set")],
    );
}

#[test]
fn the_same_test_twice_is_an_error() {
    let twice = format!(
        "{BASE}      - from: client\n        to: [pod:server]\n        protocol: http\n        expect: denied\n      - from: [client, client]\n        to: pod:server\n        protocol: tcp\n        port: 9000\n        expect: allowed\n      - from: client\n        to: pod:server\n        protocol: tcp\n        expect: allowed\n"
    );
    assert_errors(
        "same_test",
        &twice,
        &[
            (
                14,
                14,
                "test `client -> pod:server` (http/8080) in phase `one` expects denied here but allowed on line 10",
                "one test has one expectation",
            ),
            (
                18,
                13,
                "test `client -> pod:server` (tcp/9000) in phase `one` is a duplicate of the one on line 18",
                "remove the repeated entry",
            ),
            (23, 13, "is a duplicate of the one on line 18", "remove"),
        ],
    );
}

#[test]
fn tests_are_counted_before_they_are_expanded() {
    // 100 phases of a 300 x 300 matrix through anchors: 9 million tests from a few KB.
    let names: Vec<String> = (0..300).map(|index| format!("w{index}")).collect();
    let mut yaml = format!(
        "name: s\nworkloads:\n{}phases:\n  - name: p0\n    probes: &probes\n      - from: &from [{}]\n        to: [{}]\n        protocol: tcp\n        expect: allowed\n",
        names
            .iter()
            .map(|name| format!("  - name: {name}\n"))
            .collect::<String>(),
        names.join(", "),
        names
            .iter()
            .map(|name| format!("pod:{name}"))
            .collect::<Vec<_>>()
            .join(", "),
    );
    for phase in 1..100 {
        yaml.push_str(&format!("  - name: p{phase}\n    probes: *probes\n"));
    }
    let started = std::time::Instant::now();
    let found = diagnostics("too_many_tests", &yaml);
    assert!(started.elapsed().as_secs() < 10, "{:?}", started.elapsed());
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!((found[0].line, found[0].column), (1, 7));
    assert!(
        found[0]
            .message
            .contains("this scenario makes 9000000 tests and 9000000 probes; the largest probe set, on line 306, is 300 x 300; a run may hold at most 10000 tests"),
        "{}",
        found[0]
    );
    // Several files that are each fine may still be too much together.
    let matrix = |name: &str| {
        let workloads: String = (0..80)
            .map(|index| format!("  - name: w{index}\n"))
            .collect();
        let list: Vec<String> = (0..80).map(|index| format!("w{index}")).collect();
        let targets: Vec<String> = list.iter().map(|name| format!("pod:{name}")).collect();
        format!(
            "name: {name}\nworkloads:\n{workloads}phases:\n  - name: p\n    probes:\n      - from: [{}]\n        to: [{}]\n        protocol: tcp\n        expect: allowed\n",
            list.join(", "),
            targets.join(", ")
        )
    };
    let dir = fixture_dir(
        "run_size",
        &[("a.yaml", &matrix("a")), ("b.yaml", &matrix("b"))],
    );
    scenario::load_file(dir.join("a.yaml")).unwrap();
    let errors = scenario::load_all([dir.join("a.yaml"), dir.join("b.yaml")]).unwrap_err();
    let rendered = describe(&errors);
    assert!(
        rendered.contains(
            "b.yaml:1:7: with the files before it, this scenario brings the run to 12800 tests"
        ),
        "{rendered}"
    );
}

#[test]
fn many_errors_render_in_linear_time_and_are_capped() {
    // 10,000 unknown workloads among 10,000 defined ones: every hint would list them all.
    let defined: String = (0..10_000)
        .map(|index| format!("  - name: w{index}\n"))
        .collect();
    let probes: String = (0..10_000)
        .map(|index| {
            format!("      - {{from: x{index}, to: pod:w0, protocol: tcp, expect: allowed}}\n")
        })
        .collect();
    let yaml = format!("name: s\nworkloads:\n{defined}phases:\n  - name: p\n    probes:\n{probes}");
    let dir = fixture_dir("many_errors", &[("s.yaml", &yaml)]);
    let started = std::time::Instant::now();
    let errors = scenario::load_file(dir.join("s.yaml")).unwrap_err();
    let rendered = describe(&errors);
    assert!(started.elapsed().as_secs() < 10, "{:?}", started.elapsed());
    assert_eq!(errors.len(), scenario::limits::MAX_ERRORS_PER_FILE + 1);
    assert!(
        rendered.ends_with("s.yaml: and 9950 more problem(s) not shown (only the first 50 of a file are)\n  hint: fix these and run `cnicheck validate` again"),
        "{}",
        &rendered[rendered.len() - 300..]
    );
}

#[test]
fn control_characters_in_names_are_rejected_and_escaped() {
    let yaml = BASE
        .replace("name: s\n", "name: \"s\\e]0;pwned\\a\"\n")
        .replace("  - name: server\n", "  - name: \"server\\nok: forged\"\n")
        .replace("to: pod:server", "to: \"pod:server\\nok: forged\"");
    let found = diagnostics("control_characters", &yaml);
    let rendered: String = found.iter().map(|found| format!("{found}\n")).collect();
    assert!(
        !rendered.contains('\u{1b}') && !rendered.contains('\u{7}'),
        "{rendered}"
    );
    assert!(
        rendered.contains("scenario name `s\\u{1b}]0;pwned\\u{7}` is not valid"),
        "{rendered}"
    );
    assert!(
        rendered.contains("workload name `server\\nok: forged` is not valid"),
        "{rendered}"
    );
    assert!(
        rendered.lines().all(|line| !line.starts_with("ok: forged")),
        "{rendered}"
    );
    assert_eq!(
        scenario::printable("a\u{1b}]0;t\u{7}\nb"),
        "a\\u{1b}]0;t\\u{7}\\nb"
    );
    assert!(matches!(
        scenario::printable("plain"),
        std::borrow::Cow::Borrowed("plain")
    ));
}

#[test]
fn load_balancing_expectations_need_a_service_with_several_backends() {
    let yaml = "\
name: lb
workloads:
  - name: client
  - name: single
    service: {}
  - name: server
    replicas: 2
    service: {}
phases:
  - name: p
    probes:
      - from: client
        to: [service:single, pod:server, service:server]
        protocol: http
        expect: spread
      - from: client
        to: service:server
        protocol: tcp
        expect: affinity
      - name: few
        from: client
        to: service:server
        protocol: http
        samples: 1
        expect: spread
      - name: plain
        from: client
        to: service:server
        protocol: http
        samples: 10
        expect: allowed
";
    assert_errors(
        "load_balancing",
        yaml,
        &[
            (
                13,
                14,
                "`spread` needs several backends, and `service:single` has one pod",
                "`replicas: 2`",
            ),
            (
                13,
                30,
                "`spread` counts the backends of a Service, and `pod:server` is not one",
                "`service:W`",
            ),
            (
                19,
                17,
                "expectation `affinity` does not fit protocol tcp",
                "`protocol: http` or `udp`",
            ),
            (24, 18, "`samples: 1` is out of range", "2 to 1000"),
            (
                30,
                18,
                "`samples` only counts for the load-balancing expectations",
                "`spread`, `affinity` or `consistent`",
            ),
        ],
    );
}

#[test]
fn encrypted_needs_udp_between_two_nodes_and_a_capturer_on_each() {
    let yaml = "\
name: enc
requires: {min-nodes: 2}
workloads:
  - name: client
  - name: near
  - name: far
    placement: {other-node-than: client}
    service: {}
phases:
  - name: p
    probes:
      - from: client
        to: [pod:near, pod:far, service:far]
        protocol: udp
        expect: encrypted
      - name: tcp
        from: client
        to: pod:far
        protocol: tcp
        expect: encrypted
";
    assert_errors(
        "encrypted",
        yaml,
        &[
            (
                15,
                17,
                "no host-network workload runs on every node",
                "`{name: node, host-network: true, placement: every-node}`",
            ),
            (
                13,
                14,
                "nothing keeps `client` and `near` on different nodes",
                "give workload `near` `placement: {other-node-than: client}`",
            ),
            (13, 33, "`service:far` is not a pod", "target `pod:W`"),
            (
                20,
                17,
                "expectation `encrypted` does not fit protocol tcp",
                "use `protocol: udp`",
            ),
            (
                20,
                17,
                "no host-network workload runs on every node",
                "host-network: true",
            ),
        ],
    );
}

#[test]
fn copies_need_phases_that_start_afresh() {
    assert_errors(
        "copies_without_fresh_starts",
        &BASE.replace("workloads:\n", "copies: 2\nworkloads:\n"),
        &[(
            2,
            9,
            "`copies: 2` needs 1 phases that start from nothing earlier phases applied, and \
             this scenario has 0",
            "lower `copies`",
        )],
    );
    assert_errors(
        "copies_out_of_range",
        &BASE.replace("workloads:\n", "copies: 0\nworkloads:\n"),
        &[(
            2,
            9,
            "`copies: 0` is out of range (1 to 8)",
            "a few are enough",
        )],
    );
}
