//! How a scenario names what it probes: a workload (`NAME`, `NAMESPACE/NAME`) and a `to` entry
//! (`pod:W`, `service:W`, `external`, `dns:NAME`, `interface:NAME`, ...), parsed from the text
//! as written. `except` keys are the matrix's ([`super::matrix::ExceptKey`]).

use super::model::Workload;
use std::fmt;

/// A reference to a workload: `NAME` (the run's namespace) or `NAMESPACE/NAME`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct WorkloadRef<'a> {
    /// Namespace alias; `default` (the run's namespace) when not written.
    pub namespace: &'a str,
    pub name: &'a str,
}

impl<'a> WorkloadRef<'a> {
    pub const DEFAULT_NAMESPACE: &'static str = "default";

    pub fn parse(text: &'a str) -> Self {
        match text.split_once('/') {
            Some((namespace, name)) => WorkloadRef { namespace, name },
            None => WorkloadRef {
                namespace: Self::DEFAULT_NAMESPACE,
                name: text,
            },
        }
    }

    /// The reference a workload definition answers to.
    pub fn of(workload: &'a Workload) -> Self {
        WorkloadRef {
            namespace: workload
                .namespace
                .as_ref()
                .map_or(Self::DEFAULT_NAMESPACE, |alias| alias.value.as_str()),
            name: &workload.name.value,
        }
    }
}

impl fmt::Display for WorkloadRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.namespace == Self::DEFAULT_NAMESPACE {
            f.write_str(self.name)
        } else {
            write!(f, "{}/{}", self.namespace, self.name)
        }
    }
}

/// A `to` entry, parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target<'a> {
    /// Each pod of the workload, by pod IP.
    Pod(WorkloadRef<'a>),
    /// The workload's Service, by ClusterIP.
    Service(WorkloadRef<'a>),
    /// The workload's Service, by DNS name.
    ServiceDns(WorkloadRef<'a>),
    /// Every node IP at the workload's NodePort.
    NodePort(WorkloadRef<'a>),
    /// The node IP of each pod of a host-network workload.
    Node(WorkloadRef<'a>),
    /// The `--external-target`.
    External,
    /// A name to look up.
    Dns(&'a str),
}

impl<'a> Target<'a> {
    /// `None` when the kind is unknown or the name after it is empty (and for
    /// `interface:NAME`, which is no destination: see [`ToEntry`]).
    pub fn parse(text: &'a str) -> Option<Self> {
        if text == "external" {
            return Some(Target::External);
        }
        let (kind, name) = text.split_once(':')?;
        if name.is_empty() {
            return None;
        }
        let workload = WorkloadRef::parse(name);
        Some(match kind {
            "pod" => Target::Pod(workload),
            "service" => Target::Service(workload),
            "service-dns" => Target::ServiceDns(workload),
            "nodeport" => Target::NodePort(workload),
            "node" => Target::Node(workload),
            "dns" => Target::Dns(name),
            _ => return None,
        })
    }

    /// The workload this target points at, if any.
    pub fn workload(&self) -> Option<WorkloadRef<'a>> {
        match *self {
            Target::Pod(workload)
            | Target::Service(workload)
            | Target::ServiceDns(workload)
            | Target::NodePort(workload)
            | Target::Node(workload) => Some(workload),
            Target::External | Target::Dns(_) => None,
        }
    }
}

/// A `to` entry, parsed: where traffic goes, or the source pod's own interface, whose
/// addresses an address check looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToEntry<'a> {
    Target(Target<'a>),
    /// The source pod's own interface (a Multus `net1`), for `protocol: address`.
    Interface(&'a str),
}

impl<'a> ToEntry<'a> {
    /// Every accepted form, for help texts.
    pub const FORMS: [&'static str; 8] = [
        "pod:WORKLOAD",
        "service:WORKLOAD",
        "service-dns:WORKLOAD",
        "nodeport:WORKLOAD",
        "node:WORKLOAD",
        "external",
        "dns:NAME",
        "interface:NAME",
    ];

    /// `None` when the kind is unknown or the name after it is empty.
    pub fn parse(text: &'a str) -> Option<Self> {
        match text.split_once(':') {
            Some(("interface", "")) => None,
            Some(("interface", name)) => Some(ToEntry::Interface(name)),
            _ => Target::parse(text).map(ToEntry::Target),
        }
    }
}
