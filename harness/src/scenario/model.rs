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

pub use super::reference::{Target, ToEntry, WorkloadRef};
pub use super::spanned::{OneOrMany, SpannedMap};
use crate::probe::ports;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, de};
use serde_saphyr::{Location, Spanned};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
#[schemars(extend("anyOf" = [{"required": ["check"]}, {"required": ["workloads", "phases"]}]))]
pub struct Scenario {
    /// Unique name; the first part of every test name (`NAME::phase::probe`).
    #[schemars(with = "String")]
    pub name: Spanned<String>,
    #[serde(default)]
    pub description: String,
    /// Scenario groups this scenario belongs to (e.g. `policy`, `node-ports`), for `--group`.
    #[serde(default)]
    pub groups: Vec<String>,
    /// Runs only when `--group` names one of its groups: a long suite (upstream's netpol e2e
    /// tables) that a default run leaves out.
    #[serde(default)]
    pub opt_in: bool,
    #[serde(default)]
    pub requires: Requirements,
    /// Extra namespaces by alias, besides the run's own namespace (alias `default`).
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, NamespaceSpec>")]
    pub namespaces: SpannedMap<NamespaceSpec>,
    /// Manifests applied (server-side, into the scenario's namespace unless they name an alias)
    /// before the workloads are deployed, e.g. the NetworkAttachmentDefinitions pods attach to.
    /// Paths are relative to the scenario file; everything goes away with the run.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub setup: Vec<Spanned<String>>,
    /// A NetworkAttachmentDefinition of this name that cnicheck builds from the `--multus-*`
    /// options (plugin, master interface, mode, range) and creates with the setup manifests,
    /// for workloads to attach through `networks`.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub multus_network: Option<Spanned<String>>,
    /// A check built into cnicheck, in place of workloads and phases (see [`BuiltinCheck`]).
    #[serde(default)]
    #[schemars(with = "Option<BuiltinCheck>")]
    pub check: Option<Spanned<BuiltinCheck>>,
    /// Agent pods to deploy (every scenario without a `check` has some).
    #[serde(default)]
    pub workloads: Vec<Workload>,
    #[serde(default)]
    pub phases: Vec<Phase>,
    /// Deploys the workloads this many times, each copy in namespaces of its own, and shares
    /// the phases out between the copies, which run at once, in consecutive runs of phases. A
    /// run of phases only begins where a phase starts from nothing that earlier phases applied
    /// (see [`Scenario::fresh_starts`]), so every phase sees the objects it would see with one
    /// copy. For long suites of independent cases, like upstream's NetworkPolicy tables.
    #[serde(default)]
    #[schemars(with = "Option<u32>")]
    pub copies: Option<Spanned<u32>>,
}

impl Scenario {
    /// The phases (never the first) before which every object applied by earlier phases has
    /// been deleted, by them or by the phase itself: a copy of the workloads may start there.
    pub fn fresh_starts(&self) -> Vec<usize> {
        let mut applied: Vec<&str> = Vec::new();
        let mut starts = Vec::new();
        for (index, phase) in self.phases.iter().enumerate() {
            applied.retain(|path| !phase.delete.iter().any(|deleted| deleted.value == *path));
            if index > 0 && applied.is_empty() {
                starts.push(index);
            }
            applied.extend(phase.apply.iter().map(|path| path.value.as_str()));
        }
        starts
    }
}

/// Checks written in Rust rather than as probe matrices, because they inspect the cluster's
/// own components instead of deploying agent pods (see `crate::checks`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum BuiltinCheck {
    /// Cilium's agent DaemonSet and operator Deployment: readiness, the images they run
    /// (against `--expect-cilium-image` and `--expect-cilium-operator-image`), and
    /// `cilium-health` between every pair of nodes.
    Cilium,
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
    /// Needs Cilium's L7 proxy (Envoy), which L7 policies are enforced by: on in
    /// `cilium-config`, and Envoy there to run it (the `cilium-envoy` DaemonSet, or in the agents).
    #[serde(default)]
    pub cilium_l7_proxy: bool,
    /// Needs NetworkPolicy `ipBlock` peers to select the cluster's own pods by address, as
    /// the upstream netpol e2e tests expect. Cilium's CIDR rules describe peers outside the
    /// cluster (pods are matched by identity, never by address), so it is unmet there.
    #[serde(default)]
    pub ipblock_selects_pods: bool,
    /// Needs every Cilium agent to say it encrypts traffic between nodes (`cilium-dbg encrypt
    /// status`: WireGuard or IPsec), so that `expect: encrypted` checks a promise the cluster
    /// makes rather than failing where nobody turned encryption on.
    #[serde(default)]
    pub cilium_encryption: bool,
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
    #[schemars(with = "u32", default = "one_replica", range(min = 1))]
    pub replicas: Spanned<u32>,
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

fn one() -> Spanned<u32> {
    Spanned::new(one_replica(), Location::UNKNOWN, Location::UNKNOWN)
}

fn one_replica() -> u32 {
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
    /// `ClientIP`: each client keeps reaching the backend it reached first (what `expect:
    /// affinity` checks).
    #[serde(default)]
    pub session_affinity: SessionAffinity,
}

/// The Service's `sessionAffinity`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
pub enum SessionAffinity {
    #[default]
    None,
    ClientIP,
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
    /// Manifests applied by an earlier phase to delete before this phase's probes (and before
    /// its `apply`, so an object it replaces under the same name stays).
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
    pub from: OneOrMany,
    /// Targets, as `KIND:NAME`: `pod:W` (each pod of W by IP), `service:W` (ClusterIP),
    /// `service-dns:W` (the Service's DNS name), `nodeport:W` (every node IP at the NodePort),
    /// `node:W` (the node IP of each pod of a host-network workload W), `external` (the
    /// `--external-target`; with protocol dns, its host name), `dns:NAME` (a name to look up,
    /// for protocol dns), `interface:NAME` (the source pod's own interface, for protocol address).
    pub to: OneOrMany,
    /// The protocol, or a list of them (one cell per protocol and port).
    pub protocol: OneOrMany<Protocol>,
    /// Destination port, or a list of them (one cell per port); defaults to the agent's port
    /// for each protocol. `tunnel` (UDP only): the cluster's overlay port, learnt at run time
    /// (see [`Port::Tunnel`]).
    #[serde(default)]
    pub port: Option<PortList>,
    /// Path for http/https probes.
    #[serde(default)]
    pub path: Option<String>,
    /// Send from this pod interface (e.g. Multus `net1`) and target the peer's address on it.
    #[serde(default)]
    pub interface: Option<String>,
    #[schemars(with = "Expectation")]
    pub expect: Spanned<Expectation>,
    /// Cells that behave otherwise, keyed `FROM -> TO` as written in `from` and `to`, or
    /// `FROM -> TO:PROTOCOL/PORT` for one port of several; `*` matches any characters. The last
    /// entry that matches a cell decides it.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, Expectation>")]
    pub except: SpannedMap<Spanned<Expectation>>,
    /// How many requests each source pod sends for a load-balancing expectation (`spread`,
    /// `affinity`, `consistent`), one after the other: by default 20 per backend for `spread`
    /// and 20 for the others.
    #[serde(default)]
    #[schemars(with = "Option<u32>")]
    pub samples: Option<Spanned<u32>>,
    /// Per-probe timeout in seconds (default 2; denials are only trusted after this long).
    #[serde(default)]
    #[schemars(with = "Option<f64>")]
    pub timeout: Option<Spanned<f64>>,
}

impl ProbeSet {
    /// Its protocols, in file order.
    pub fn protocols(&self) -> impl Iterator<Item = Protocol> + '_ {
        self.protocol
            .as_slice()
            .iter()
            .map(|protocol| protocol.value)
    }

    /// Its `expect` and every `except` entry's expectation, in file order.
    pub fn expectations(&self) -> impl Iterator<Item = &Spanned<Expectation>> {
        std::iter::once(&self.expect).chain(self.except.iter().map(|(_, expectation)| expectation))
    }

    /// Where its `protocol` is written, for messages about the set as a whole.
    pub fn location(&self) -> Location {
        self.protocol.location()
    }

    /// The ports its cells probe, in file order: each one given, or the agent's (None) when it
    /// gives none.
    pub fn ports(&self) -> Vec<Option<Port>> {
        match &self.port {
            Some(list) => list.0.iter().copied().map(Some).collect(),
            None => vec![None],
        }
    }

    /// The port number a cell of `protocol` at `port` (one of [`ProbeSet::ports`]) targets,
    /// when the file alone decides it: its own number, or the agent's port for the protocol.
    /// None for protocols without ports and for `port: tunnel`, which only the run can resolve.
    pub fn destination_port(protocol: Protocol, port: Option<Port>) -> Option<u16> {
        match port {
            Some(Port::Number(port)) => Some(port),
            Some(Port::Tunnel) => None,
            None => match protocol {
                Protocol::Tcp => Some(ports::TCP_ECHO),
                Protocol::Http => Some(ports::HTTP),
                Protocol::Https => Some(443),
                Protocol::Udp => Some(ports::UDP_ECHO),
                Protocol::Icmp | Protocol::Dns | Protocol::Address => None,
            },
        }
    }

    /// The last part of the test name of the cell to `to` over `protocol` at `port`:
    /// `tcp/9000`, `icmp`, or the probe set's name, followed by `/PROTOCOL` when it lists
    /// several protocols and `/PORT` when it lists several ports. An `external` target's port
    /// comes from `--external-target`, unknown until the run.
    pub fn test_label(&self, to: &str, protocol: Protocol, port: Option<Port>) -> String {
        let port_text = match port {
            Some(Port::Tunnel) => Some("tunnel".to_owned()),
            _ if to == "external" => port.and_then(Port::number).map(|port| port.to_string()),
            _ => Self::destination_port(protocol, port).map(|port| port.to_string()),
        };
        let Some(name) = &self.name else {
            return match port_text {
                Some(port) => format!("{}/{port}", protocol.name()),
                None => protocol.name().to_owned(),
            };
        };
        let mut label = name.clone();
        if self.protocol.as_slice().len() > 1 {
            label = format!("{label}/{}", protocol.name());
        }
        if let Some(port) = port_text
            && self.ports().len() > 1
        {
            label = format!("{label}/{port}");
        }
        label
    }
}

/// `port: 80` or `port: [80, 81]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortList(pub Vec<Port>);

impl<'de> Deserialize<'de> for PortList {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // By hand rather than an untagged enum, so that a bad port says why, where it is.
        struct Visitor;

        impl<'de> de::Visitor<'de> for Visitor {
            type Value = PortList;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a port (1-65535 or `tunnel`) or a list of ports")
            }

            fn visit_u64<E: de::Error>(self, port: u64) -> Result<PortList, E> {
                Port::deserialize(de::value::U64Deserializer::new(port))
                    .map(|port| PortList(vec![port]))
            }

            fn visit_i64<E: de::Error>(self, port: i64) -> Result<PortList, E> {
                Port::deserialize(de::value::I64Deserializer::new(port))
                    .map(|port| PortList(vec![port]))
            }

            fn visit_str<E: de::Error>(self, text: &str) -> Result<PortList, E> {
                Port::deserialize(de::value::StrDeserializer::new(text))
                    .map(|port| PortList(vec![port]))
            }

            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<PortList, A::Error> {
                let mut ports = Vec::new();
                while let Some(port) = seq.next_element::<Port>()? {
                    ports.push(port);
                }
                Ok(PortList(ports))
            }
        }

        deserializer.deserialize_any(Visitor)
    }
}

impl JsonSchema for PortList {
    fn schema_name() -> Cow<'static, str> {
        "Ports".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let port = generator.subschema_for::<Port>();
        json_schema!({
            "anyOf": [port, { "type": "array", "items": port, "minItems": 1 }]
        })
    }
}

/// A probe set's `port`: a number, or `tunnel`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Port {
    Number(u16),
    /// The UDP port of the cluster's overlay between nodes, which differs per cluster: VXLAN
    /// 8472 or GENEVE 6081 as Cilium's `cilium-config` says, none with native routing.
    /// Written `tunnel` so one node-port suite fits every cluster.
    Tunnel,
}

impl Port {
    pub fn number(self) -> Option<u16> {
        match self {
            Port::Number(port) => Some(port),
            Port::Tunnel => None,
        }
    }
}

impl fmt::Display for Port {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Port::Number(port) => write!(f, "{port}"),
            Port::Tunnel => f.write_str("tunnel"),
        }
    }
}

impl<'de> Deserialize<'de> for Port {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;

        impl de::Visitor<'_> for Visitor {
            type Value = Port;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a port number (1-65535) or `tunnel` (the cluster's overlay port)")
            }

            fn visit_u64<E: de::Error>(self, port: u64) -> Result<Port, E> {
                u16::try_from(port)
                    .map(Port::Number)
                    .map_err(|_| E::invalid_value(de::Unexpected::Unsigned(port), &self))
            }

            fn visit_i64<E: de::Error>(self, port: i64) -> Result<Port, E> {
                u64::try_from(port)
                    .map_err(|_| E::invalid_value(de::Unexpected::Signed(port), &self))
                    .and_then(|port| self.visit_u64(port))
            }

            fn visit_str<E: de::Error>(self, text: &str) -> Result<Port, E> {
                match text {
                    "tunnel" => Ok(Port::Tunnel),
                    _ => Err(E::invalid_value(de::Unexpected::Str(text), &self)),
                }
            }
        }

        deserializer.deserialize_any(Visitor)
    }
}

impl JsonSchema for Port {
    fn schema_name() -> Cow<'static, str> {
        "Port".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "anyOf": [
                { "type": "integer", "minimum": 1, "maximum": 65535 },
                { "const": "tunnel" }
            ]
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Protocol {
    Tcp,
    Http,
    Https,
    Udp,
    Icmp,
    Dns,
    /// The addresses of the source pod's own interface (`to: interface:NAME`), as the pod has
    /// them and as Multus recorded them (`expect: in-nad-range`).
    Address,
}

impl Protocol {
    /// As written in scenario files and test names.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Http => "http",
            Protocol::Https => "https",
            Protocol::Udp => "udp",
            Protocol::Icmp => "icmp",
            Protocol::Dns => "dns",
            Protocol::Address => "address",
        }
    }
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
    /// The interface exists in the pod with an address from the IPAM range of the
    /// NetworkAttachmentDefinition attached on it, and Multus' `network-status` annotation
    /// records the same address.
    InNadRange,
    /// UDP to a pod on another node: the datagram arrives, and its marker never crosses the
    /// receiving node's interface in plaintext (a host-network agent there captures its frames),
    /// as with WireGuard or IPsec between the nodes.
    Encrypted,
    /// Toward a Service with several backends: the `samples` requests of each client reach
    /// every backend, none so rarely that a fair random choice would do it with a chance below
    /// 1 in a million.
    Spread,
    /// Toward a Service with several backends: the `samples` requests of each client all reach
    /// the same backend (`sessionAffinity: ClientIP`); different clients may differ.
    Affinity,
    /// Toward a Service with several backends: a flow keeps its backend when another backend
    /// goes away (Cilium's maglev). Needs Cilium's kube-proxy replacement with maglev;
    /// skipped, with the reason, elsewhere.
    Consistent,
}

impl Expectation {
    /// The load-balancing expectation this is, judged over many samples rather than one probe.
    pub fn balance(&self) -> Option<Balance> {
        match self {
            Expectation::Spread => Some(Balance::Spread),
            Expectation::Affinity => Some(Balance::Affinity),
            Expectation::Consistent => Some(Balance::Consistent),
            _ => None,
        }
    }
}

/// How a Service should share one client's requests among its backends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Balance {
    Spread,
    Affinity,
    Consistent,
}

impl Balance {
    /// Samples per client when the probe set gives none: enough that a backend a fair balancer
    /// never picked is a finding (with 20 per backend, a fair random choice misses one with a
    /// chance below 1 in a million), and that 2 backends without affinity give one client the
    /// same backend every time with a chance of 2 in a million.
    pub fn default_samples(self, backends: usize) -> u32 {
        match self {
            Balance::Spread => 20 * u32::try_from(backends).unwrap_or(u32::MAX / 20).max(1),
            Balance::Affinity | Balance::Consistent => 20,
        }
    }
}
