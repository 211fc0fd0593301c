//! Checks of probe sets: protocol, port, timeout, every `from` and `to` entry, `except` keys
//! and expectations, each with a hint that fixes it.

use super::*;
use crate::scenario::error::{choose_from, closest};
use crate::scenario::limits::{MAX_PATH_CHARS, MAX_TIMEOUT_SECONDS};
use crate::scenario::matrix::{ExceptKey, MatrixEntry};
use crate::scenario::model::{
    Expectation, OneOrMany, Port, ProbeSet, Protocol, ServiceKind, Target, ToEntry,
};
use crate::scenario::names;
use serde_saphyr::Spanned;
use std::collections::HashSet;
use std::net::IpAddr;

impl<'a> Checker<'a> {
    pub(super) fn check_probe_set(&mut self, probes: &ProbeSet, path: &[PathPart<'_>]) {
        if let Some(name) = &probes.name {
            let at = self.locate(
                &[path, &[PathPart::Key("name")]].concat(),
                probes.location(),
            );
            if name.is_empty() {
                self.report(
                    at,
                    "the probe set name is empty".to_owned(),
                    TEST_NAME_PART_HINT.to_owned(),
                );
            }
            self.check_name(
                at,
                "probe set name",
                name,
                names::label_value,
                TEST_NAME_PART_HINT,
            );
        }
        for (field, list) in [("from", &probes.from), ("to", &probes.to)] {
            if list.as_slice().is_empty() {
                self.report(
                    list.location(),
                    format!("`{field}: []` is empty, so this probe set makes no tests"),
                    format!("list at least one entry in `{field}`, or remove the probe set"),
                );
            }
        }
        if probes.protocol.as_slice().is_empty() {
            self.report(
                probes.location(),
                "`protocol: []` is empty, so this probe set makes no tests".to_owned(),
                "name a protocol (tcp, udp, http, ...) or a list of them".to_owned(),
            );
        }
        for from in probes.from.as_slice() {
            self.resolve_workload(from);
        }
        let protocols: Vec<Protocol> = probes.protocols().collect();
        for to in probes.to.as_slice() {
            self.check_target(to, &protocols);
        }
        for &protocol in &protocols {
            self.check_expectation(&probes.expect, protocol);
        }
        let froms: HashSet<&str> = probes
            .from
            .as_slice()
            .iter()
            .map(|entry| entry.value.as_str())
            .collect();
        let tos: HashSet<&str> = probes
            .to
            .as_slice()
            .iter()
            .map(|entry| entry.value.as_str())
            .collect();
        let matrix = probes.matrix();
        for (index, (key, expectation)) in probes.except.iter().enumerate() {
            self.check_except_key(index, key, probes, &froms, &tos, &matrix);
            // An entry's expectation need only fit the protocols of the cells it decides.
            for protocol in probes.protocols().filter(|&protocol| {
                matrix
                    .iter()
                    .any(|cell| cell.decided_by == Some(index) && cell.protocol == protocol)
            }) {
                self.check_expectation(expectation, protocol);
            }
        }
        let ports = probes.port.as_ref().map_or(&[][..], |list| &list.0[..]);
        let port_at = self.locate(
            &[path, &[PathPart::Key("port")]].concat(),
            probes.location(),
        );
        if probes.port.is_some() && ports.is_empty() {
            self.report(
                port_at,
                "`port: []` is empty, so this probe set makes no tests".to_owned(),
                "list at least one port, or remove `port` for the agent's port".to_owned(),
            );
        }
        if ports.contains(&Port::Number(0)) {
            self.report(
                port_at,
                "`port: 0` is not a port".to_owned(),
                "use a port from 1 to 65535, or remove `port` for the agent's port".to_owned(),
            );
        }
        if let Some(http_path) = &probes.path
            && (!http_path.starts_with('/')
                || http_path.chars().count() > MAX_PATH_CHARS
                || http_path
                    .chars()
                    .any(|c| c.is_whitespace() || c.is_control()))
        {
            let at = self.locate(
                &[path, &[PathPart::Key("path")]].concat(),
                probes.location(),
            );
            self.report(
                at,
                format!("`path: {http_path}` is not an HTTP path"),
                format!("write a path that starts with `/`, without spaces, at most {MAX_PATH_CHARS} characters (percent-encode the rest)"),
            );
        }
        if let Some(interface) = &probes.interface {
            let at = self.locate(
                &[path, &[PathPart::Key("interface")]].concat(),
                probes.location(),
            );
            self.check_name(
                at,
                "interface",
                interface,
                names::interface_name,
                "name a pod interface, e.g. `net1`",
            );
        }
        for protocol in probes.protocol.as_slice() {
            self.check_protocol_fits(probes, protocol, ports);
        }
        self.check_balance(probes);
        self.check_encryption(probes);
        if let Some(timeout) = &probes.timeout
            && !(timeout.value > 0.0 && timeout.value <= MAX_TIMEOUT_SECONDS)
        {
            self.report(
                timeout.referenced,
                format!(
                    "timeout must be a positive number of seconds up to {MAX_TIMEOUT_SECONDS}, not {}",
                    short_number(timeout.value)
                ),
                "remove `timeout` for the default of 2 seconds".to_owned(),
            );
        }
    }

    /// The fields of a probe set that `protocol`, one of its protocols, cannot go with.
    fn check_protocol_fits(
        &mut self,
        probes: &ProbeSet,
        protocol: &Spanned<Protocol>,
        ports: &[Port],
    ) {
        if protocol.value == Protocol::Address
            && let Some(interface) = &probes.interface
        {
            self.report(
                protocol.referenced,
                format!("an address check does not send, so it cannot be bound to `interface: {interface}`"),
                format!("name the interface to check as the target: `to: interface:{interface}`"),
            );
        }
        if ports.contains(&Port::Tunnel) && protocol.value != Protocol::Udp {
            self.report(
                protocol.referenced,
                format!(
                    "`port: tunnel` is the cluster's UDP overlay port, but this probe set uses protocol {}",
                    protocol.value.name()
                ),
                "use `protocol: udp` with `port: tunnel`, or give a port number".to_owned(),
            );
        }
        if let Some(port) = ports.first()
            && matches!(
                protocol.value,
                Protocol::Icmp | Protocol::Dns | Protocol::Address
            )
        {
            // The port lives in a plain field; the protocol is what makes it wrong.
            self.report(
                protocol.referenced,
                format!(
                    "protocol {} has no port, but this probe set gives `port: {port}`",
                    protocol.value.name()
                ),
                "remove `port`, or use tcp, udp or http(s) to probe a port".to_owned(),
            );
        }
    }

    /// Checks a target once, and that it can be probed with each of `protocols`.
    pub(super) fn check_target(&mut self, written: &Spanned<String>, protocols: &[Protocol]) {
        let Some(entry) = ToEntry::parse(&written.value) else {
            self.report(
                written.referenced,
                format!("`{}` is not a target", written.value),
                target_hint(&written.value),
            );
            return;
        };
        match entry {
            ToEntry::Target(Target::Dns(name)) => {
                self.check_name(
                    written.referenced,
                    "name to look up",
                    name,
                    names::dns_name,
                    "write a DNS name such as `kubernetes.default` or `example.com`",
                );
            }
            ToEntry::Interface(name) => {
                self.check_name(
                    written.referenced,
                    "interface",
                    name,
                    names::interface_name,
                    "name a pod interface, e.g. `interface:net1`",
                );
            }
            _ => {}
        }
        for &protocol in protocols {
            self.check_target_fits(written, entry, protocol);
        }
        let ToEntry::Target(target) = entry else {
            return;
        };
        if target == Target::External && !self.scenario.requires.external_target {
            self.report(
                written.referenced,
                "`external` needs the scenario to require an external target".into(),
                "add `requires: {external-target: true}`, so runs without --external-target skip it"
                    .to_owned(),
            );
        }
        let Some(reference) = target.workload() else {
            return;
        };
        let Some(workload) = self.lookup_workload(written, reference) else {
            return;
        };
        let service = workload.service.as_ref().map(|service| service.kind);
        let problem = match target {
            Target::Service(_) | Target::ServiceDns(_) if service.is_none() => Some((
                "has no Service",
                "add `service: {}` to the workload".to_owned(),
            )),
            Target::NodePort(_) if service != Some(ServiceKind::NodePort) => Some((
                "has no NodePort Service",
                "set `service: {type: NodePort}` on the workload".to_owned(),
            )),
            Target::Node(_) if !workload.host_network => Some((
                "is not a host-network workload",
                "set `host-network: true` on the workload, or target it with `pod:`".to_owned(),
            )),
            _ => None,
        };
        if let Some((what, hint)) = problem {
            self.report(
                written.referenced,
                format!("`{}`: workload `{reference}` {what}", written.value),
                hint,
            );
        }
    }

    /// Reports `written` (parsed as `entry`) when `protocol` cannot probe it.
    fn check_target_fits(
        &mut self,
        written: &Spanned<String>,
        entry: ToEntry<'_>,
        protocol: Protocol,
    ) {
        let fits_protocol = match entry {
            ToEntry::Interface(_) => protocol == Protocol::Address,
            ToEntry::Target(Target::Dns(_)) => protocol == Protocol::Dns,
            ToEntry::Target(Target::ServiceDns(_) | Target::External) => {
                !matches!(protocol, Protocol::Address)
            }
            ToEntry::Target(
                Target::Pod(_) | Target::Service(_) | Target::NodePort(_) | Target::Node(_),
            ) => !matches!(protocol, Protocol::Dns | Protocol::Address),
        };
        if !fits_protocol {
            let hint = match (protocol, entry) {
                (Protocol::Dns, _) => {
                    "a dns probe looks up `dns:NAME`, `service-dns:WORKLOAD` or `external`"
                }
                (Protocol::Address, _) => {
                    "an address check looks at the source pod's own `interface:NAME`"
                }
                (_, ToEntry::Interface(_)) => "`interface:NAME` targets need `protocol: address`",
                _ => "`dns:NAME` targets need `protocol: dns`",
            };
            self.report(
                written.referenced,
                format!(
                    "`{}` cannot be probed with {}",
                    written.value,
                    protocol.name()
                ),
                hint.to_owned(),
            );
        }
    }

    pub(super) fn check_except_key(
        &mut self,
        index: usize,
        written: &Spanned<String>,
        probes: &ProbeSet,
        froms: &HashSet<&str>,
        tos: &HashSet<&str>,
        matrix: &[MatrixEntry<'_>],
    ) {
        let Some(key) = ExceptKey::parse(&written.value) else {
            self.report(
                written.referenced,
                format!("`{}` is not an `except` key", written.value),
                EXCEPT_KEY_HINT.to_owned(),
            );
            return;
        };
        if !key.is_pattern() {
            let mut known = true;
            if !froms.contains(key.from) {
                known = false;
                self.report_lazy(
                    written.referenced,
                    format!(
                        "`{}` in `{}` is not in this probe set's `from`",
                        key.from, written.value
                    ),
                    || choose_from(key.from, "`from` has", written_list(&probes.from)),
                );
            }
            let to_is_known = tos.contains(key.to)
                || matrix
                    .iter()
                    .any(|cell| key.to == format!("{}:{}", cell.to.value, cell.label));
            let labelled = tos.iter().find_map(|to| {
                key.to
                    .strip_prefix(to)
                    .and_then(|rest| rest.strip_prefix(':'))
            });
            if !to_is_known && let Some(label) = labelled {
                known = false;
                let mut labels: Vec<String> = Vec::new();
                for cell in matrix {
                    let label = format!("`{}`", cell.label);
                    if !labels.contains(&label) {
                        labels.push(label);
                    }
                }
                self.report(
                    written.referenced,
                    format!(
                        "`{label}` in `{}` is not a port of this probe set",
                        written.value
                    ),
                    format!("its cells end in {}", labels.join(", ")),
                );
            } else if !to_is_known {
                known = false;
                self.report_lazy(
                    written.referenced,
                    format!(
                        "`{}` in `{}` is not in this probe set's `to`",
                        key.to, written.value
                    ),
                    || choose_from(key.to, "`to` has", written_list(&probes.to)),
                );
            }
            if !known {
                return;
            }
        }
        let matches =
            |cell: &&MatrixEntry<'_>| key.matches(&cell.from.value, &cell.to.value, &cell.label);
        let deciders: Vec<Option<usize>> = matrix
            .iter()
            .filter(matches)
            .map(|cell| cell.decided_by)
            .collect();
        // The last matching entry decides a cell, so a matched cell this entry does not decide
        // is decided by one after it.
        if let Some(Some(later)) = deciders.first()
            && !deciders.contains(&Some(index))
            && let Some((later_key, _)) = probes.except.iter().nth(*later)
        {
            self.report(
                written.referenced,
                format!(
                    "`except` entry `{}` decides no cell: entries after it decide every cell it \
                     matches",
                    written.value
                ),
                format!(
                    "the last entry that matches a cell decides it, and `{}` on line {} does: \
                     remove this entry, or move it below that one",
                    later_key.value,
                    later_key.referenced.line()
                ),
            );
        }
        if deciders.is_empty() {
            let examples: Vec<String> = matrix
                .iter()
                .take(3)
                .map(|cell| format!("`{} -> {}:{}`", cell.from.value, cell.to.value, cell.label))
                .collect();
            self.report(
                written.referenced,
                format!(
                    "`except` entry `{}` matches no cell of this probe set",
                    written.value
                ),
                format!(
                    "its cells are written like {}; {EXCEPT_KEY_HINT}",
                    examples.join(", ")
                ),
            );
        }
    }

    pub(super) fn check_expectation(
        &mut self,
        expectation: &Spanned<Expectation>,
        protocol: Protocol,
    ) {
        let is_dns = protocol == Protocol::Dns;
        let is_http = matches!(protocol, Protocol::Http | Protocol::Https);
        let is_address = protocol == Protocol::Address;
        let problem = match &expectation.value {
            Expectation::InNadRange if !is_address => Some(
                "`in-nad-range` checks an interface's addresses; use `protocol: address`"
                    .to_owned(),
            ),
            Expectation::InNadRange => None,
            Expectation::Encrypted if protocol != Protocol::Udp => Some(
                "`encrypted` looks for a UDP datagram's marker on the wire; use `protocol: udp`"
                    .to_owned(),
            ),
            Expectation::Spread | Expectation::Affinity | Expectation::Consistent
                if !matches!(protocol, Protocol::Http | Protocol::Udp) =>
            {
                Some(
                    "a load-balancing check counts which backend answered, which the agents say \
                     over HTTP and the UDP echo; use `protocol: http` or `udp`"
                        .to_owned(),
                )
            }
            _ if is_address => Some("an address check expects `in-nad-range`".to_owned()),
            Expectation::Allowed | Expectation::Denied => None,
            Expectation::Dropped | Expectation::Refused if is_dns => Some(
                "a dns probe expects `allowed`, `denied`, `nxdomain` or `resolves-to`".to_owned(),
            ),
            Expectation::Status(_) if !is_http => {
                Some("`status` checks an HTTP response; use `protocol: http` or `https`".to_owned())
            }
            Expectation::Status(code) if !(100..=599).contains(code) => {
                Some(format!("{code} is not an HTTP status code (100-599)"))
            }
            Expectation::ResolvesTo(_) | Expectation::Nxdomain if !is_dns => Some(format!(
                "`{}` checks a DNS answer; use `protocol: dns`",
                expectation_name(&expectation.value)
            )),
            Expectation::ResolvesTo(address) if address.parse::<IpAddr>().is_err() => {
                Some(format!("`{address}` is not an IP address"))
            }
            _ => None,
        };
        if let Some(hint) = problem {
            self.report(
                expectation.referenced,
                format!(
                    "expectation `{}` does not fit protocol {}",
                    expectation_name(&expectation.value),
                    protocol.name()
                ),
                hint,
            );
        }
    }
}

pub(super) fn target_hint(written: &str) -> String {
    const KINDS: [&str; 8] = [
        "pod",
        "service",
        "service-dns",
        "nodeport",
        "node",
        "external",
        "dns",
        "interface",
    ];
    let forms = ToEntry::FORMS.join(", ");
    let (kind, name) = written.split_once(':').unwrap_or((written, ""));
    match closest(kind, KINDS) {
        Some(best) if best != kind && !name.is_empty() => {
            format!("did you mean `{best}:{name}`? targets are {forms}")
        }
        _ => format!("targets are {forms}"),
    }
}

pub(super) fn expectation_name(expectation: &Expectation) -> &'static str {
    match expectation {
        Expectation::Allowed => "allowed",
        Expectation::Denied => "denied",
        Expectation::Dropped => "dropped",
        Expectation::Refused => "refused",
        Expectation::Status(_) => "status",
        Expectation::ResolvesTo(_) => "resolves-to",
        Expectation::Nxdomain => "nxdomain",
        Expectation::InNadRange => "in-nad-range",
        Expectation::Encrypted => "encrypted",
        Expectation::Spread => "spread",
        Expectation::Affinity => "affinity",
        Expectation::Consistent => "consistent",
    }
}

/// `1e308` rather than its 309 digits.
pub(super) fn short_number(value: f64) -> String {
    if value.is_finite() && value.abs() >= 1e6 {
        format!("{value:e}")
    } else {
        value.to_string()
    }
}

const EXCEPT_KEY_HINT: &str = "write `FROM -> TO` (every port) or `FROM -> TO:PROTOCOL/PORT` (one \
     port), with FROM and TO as in `from` and `to`; `*` matches any characters";

/// The entries of a `from` or `to` as written.
pub(super) fn written_list(list: &OneOrMany) -> Vec<&str> {
    list.as_slice()
        .iter()
        .map(|entry| entry.value.as_str())
        .collect()
}
