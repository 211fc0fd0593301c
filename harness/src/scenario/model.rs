//! The scenario file format: what a YAML file under `scenarios/` deserializes into.
//!
//! One scenario deploys its workloads once, then runs its phases in order. A phase may apply
//! objects (policies, NADs) first, then runs its probe sets. A probe set is a matrix: every
//! `from` x every `to`, all expected to behave as `expect` except the cells listed in `except`.
//!
//! ```yaml
//! name: pod-to-pod
//! workloads:
//!   - name: client
//!   - name: server
//!     replicas: 2
//! phases:
//!   - name: baseline
//!     probes:
//!       - from: client
//!         to: pod:server
//!         protocol: http
//!         expect: allowed
//! ```

use schemars::JsonSchema;
use serde::Deserialize;
use serde_saphyr::Spanned;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Scenario {
    /// Unique name; the first part of every test name (`NAME::phase::probe`).
    #[schemars(with = "String")]
    pub name: Spanned<String>,
    #[serde(default)]
    pub description: String,
    /// Scenario groups this scenario belongs to (e.g. `policy`, `node-ports`), for `--group`.
    #[serde(default)]
    pub groups: Vec<String>,
    #[serde(default)]
    pub requires: Requirements,
    /// Extra namespaces by alias, besides the run's own namespace (alias `default`).
    #[serde(default)]
    pub namespaces: BTreeMap<String, NamespaceSpec>,
    pub workloads: Vec<Workload>,
    pub phases: Vec<Phase>,
}

/// When any requirement is unmet the scenario is skipped, with the unmet requirement as the reason.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Requirements {
    /// Minimum number of schedulable nodes.
    #[serde(default)]
    pub min_nodes: Option<u32>,
    /// CRDs that must be installed, by full name (`network-attachment-definitions.k8s.cni.cncf.io`).
    #[serde(default)]
    pub crds: Vec<String>,
    /// Needs `--external-target` (never probes a public address implicitly).
    #[serde(default)]
    pub external_target: bool,
    /// Needs Cilium's agent DaemonSet in the cluster.
    #[serde(default)]
    pub cilium: bool,
}

#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct NamespaceSpec {
    /// Labels for namespace selectors in policies.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

/// A set of identical agent pods. Every agent pod serves HTTP, TCP echo and UDP echo
/// (see `probe::ports`), and can be the source of probes.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Workload {
    /// Referenced by probes as `NAME` (or `NAMESPACE/NAME` for workloads in extra namespaces).
    #[schemars(with = "String")]
    pub name: Spanned<String>,
    /// Namespace alias from `namespaces`; the run's namespace when absent.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub namespace: Option<Spanned<String>>,
    #[serde(default = "one")]
    pub replicas: u32,
    /// Extra pod labels (every pod also gets `cnicheck.io/workload: NAME`).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub placement: Placement,
    /// Expose the workload through a Service.
    #[serde(default)]
    pub service: Option<ServiceSpec>,
    /// Run in the node's network namespace (node-port checks).
    #[serde(default)]
    pub host_network: bool,
    /// Multus networks to attach (`k8s.v1.cni.cncf.io/networks`), by NetworkAttachmentDefinition name.
    #[serde(default)]
    pub networks: Vec<String>,
}

fn one() -> u32 {
    1
}

/// Where a workload's pods go relative to another workload's.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub enum Placement {
    /// Wherever the scheduler likes.
    #[default]
    Any,
    /// On the same node as the named workload's pods.
    SameNodeAs(#[schemars(with = "String")] Spanned<String>),
    /// On a different node than the named workload's pods (needs two nodes).
    OtherNodeThan(#[schemars(with = "String")] Spanned<String>),
    /// One pod on every schedulable node (`replicas` is ignored).
    EveryNode,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ServiceSpec {
    #[serde(default, rename = "type")]
    pub kind: ServiceKind,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
pub enum ServiceKind {
    #[default]
    ClusterIP,
    NodePort,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Phase {
    #[schemars(with = "String")]
    pub name: Spanned<String>,
    /// Manifests applied (server-side, into the run's namespace unless they name an alias)
    /// before this phase's probes, and deleted after the scenario. Paths are relative to the
    /// scenario file.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub apply: Vec<Spanned<String>>,
    /// Manifests applied by an earlier phase to delete before this phase's probes.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub delete: Vec<Spanned<String>>,
    pub probes: Vec<ProbeSet>,
}

/// A matrix of probes: every `from` x every `to`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ProbeSet {
    /// Optional label for test names; derived from protocol and port when absent.
    #[serde(default)]
    pub name: Option<String>,
    /// Source workloads (each of their pods probes). `WORKLOAD` or `NAMESPACE/WORKLOAD`.
    #[schemars(with = "OneOrMany<String>")]
    pub from: OneOrMany<Spanned<String>>,
    /// Targets, as `KIND:NAME`: `pod:W` (each pod of W by IP), `service:W` (ClusterIP),
    /// `service-dns:W` (the Service's DNS name), `nodeport:W` (every node IP at the NodePort),
    /// `node:W` (the node IP of each pod of a host-network workload W), `external` (the
    /// `--external-target`), `dns:NAME` (a name to look up, for protocol dns).
    #[schemars(with = "OneOrMany<String>")]
    pub to: OneOrMany<Spanned<String>>,
    pub protocol: Protocol,
    /// Destination port; defaults to the agent's port for the protocol.
    #[serde(default)]
    pub port: Option<u16>,
    /// Path for http/https probes.
    #[serde(default)]
    pub path: Option<String>,
    /// Send from this pod interface (e.g. Multus `net1`) and target the peer's address on it.
    #[serde(default)]
    pub interface: Option<String>,
    pub expect: Expectation,
    /// Cells that behave otherwise, keyed `FROM -> TO` as written in `from` and `to`.
    #[serde(default)]
    pub except: BTreeMap<String, Expectation>,
    /// Per-probe timeout in seconds (default 2; denials are only trusted after this long).
    #[serde(default)]
    pub timeout: Option<f64>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum OneOrMany<T> {
    One(T),
    Many(Vec<T>),
}

impl<T> OneOrMany<T> {
    pub fn as_slice(&self) -> &[T] {
        match self {
            OneOrMany::One(item) => std::slice::from_ref(item),
            OneOrMany::Many(items) => items,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Protocol {
    Tcp,
    Http,
    Https,
    Udp,
    Icmp,
    Dns,
}

/// What a probe should observe.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Expectation {
    /// Connection made / HTTP 2xx / UDP echo / ICMP reply / name resolved.
    Allowed,
    /// Blocked in any way: no answer, refused or unreachable (policies may drop or reject).
    Denied,
    /// No answer at all before the timeout.
    Dropped,
    /// Actively refused (TCP RST / ICMP port unreachable).
    Refused,
    /// An HTTP response with exactly this status.
    Status(u16),
    /// A DNS answer that includes this address.
    ResolvesTo(String),
    /// DNS says the name does not exist.
    Nxdomain,
}
