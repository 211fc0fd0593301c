//! What Cilium's `cilium-config` ConfigMap says that cnicheck's checks depend on: how pod traffic
//! crosses between nodes (which UDP port the overlay uses, if any), where the L7 proxy runs, and
//! how Services choose their backends.

use std::collections::BTreeMap;

/// The ConfigMap the Cilium chart (and EKS Anywhere) writes the agents' settings into.
pub const CONFIG_MAP: &str = "cilium-config";

/// How pod traffic crosses between nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Routing {
    /// Encapsulated in UDP to the other node's `port`.
    Tunnel { protocol: TunnelProtocol, port: u16 },
    /// Routed as it is: no overlay, so no tunnel port.
    Native,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TunnelProtocol {
    Vxlan,
    Geneve,
}

impl TunnelProtocol {
    /// The port Cilium uses unless `tunnel-port` says otherwise (Linux's VXLAN default, and
    /// GENEVE's IANA port).
    pub fn default_port(self) -> u16 {
        match self {
            TunnelProtocol::Vxlan => 8472,
            TunnelProtocol::Geneve => 6081,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            TunnelProtocol::Vxlan => "VXLAN",
            TunnelProtocol::Geneve => "GENEVE",
        }
    }
}

/// Where the agents' L7 proxy (Envoy, which L7 policies need) runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum L7Proxy {
    /// `enable-l7-proxy: false`: L7 policies are not enforced at all.
    Disabled,
    /// `external-envoy-proxy: true`: in the DaemonSet `cilium-envoy` beside the agents.
    External,
    /// Started by each agent from its own image's `cilium-envoy`.
    Embedded,
}

/// Reads where the L7 proxy runs, with Cilium's defaults (enabled; embedded unless the chart
/// says `external-envoy-proxy`).
pub fn l7_proxy(data: &BTreeMap<String, String>) -> L7Proxy {
    let is = |key: &str, wanted: &str| data.get(key).is_some_and(|value| value.trim() == wanted);
    if is("enable-l7-proxy", "false") {
        L7Proxy::Disabled
    } else if is("external-envoy-proxy", "true") {
        L7Proxy::External
    } else {
        L7Proxy::Embedded
    }
}

/// How the agents choose a Service's backend, as far as keeping a flow on it goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceBalancing {
    /// `kube-proxy-replacement` off: kube-proxy (or Cilium's per-packet balancing for pods)
    /// chooses at random, and maglev is not available.
    WithoutReplacement,
    /// Replacement on, with `bpf-lb-algorithm: random` (the default).
    Random,
    /// Replacement on, with `bpf-lb-algorithm: maglev`: consistent hashing.
    Maglev,
}

/// Reads how Services are balanced, with Cilium's defaults (no replacement, random). Cilium
/// before 1.14 said `strict` or `partial` for on and `disabled` for off.
pub fn service_balancing(data: &BTreeMap<String, String>) -> ServiceBalancing {
    let value = |key: &str| data.get(key).map(|value| value.trim());
    match value("kube-proxy-replacement") {
        Some("true" | "strict" | "partial") => match value("bpf-lb-algorithm") {
            Some("maglev") => ServiceBalancing::Maglev,
            _ => ServiceBalancing::Random,
        },
        _ => ServiceBalancing::WithoutReplacement,
    }
}

/// Whether the agents honour a Service's `sessionAffinity: ClientIP`: `enable-session-affinity`,
/// which the kube-proxy replacement turns on. Without it Cilium still balances pod traffic to
/// ClusterIPs itself (kube-proxy never sees it) and ignores the affinity.
pub fn session_affinity(data: &BTreeMap<String, String>) -> bool {
    let is = |key: &str, wanted: &str| data.get(key).is_some_and(|value| value.trim() == wanted);
    is("enable-session-affinity", "true")
        || service_balancing(data) != ServiceBalancing::WithoutReplacement
}

/// Why the routing could not be read from the cluster.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoutingProblem {
    #[error("there is no ConfigMap {namespace}/{CONFIG_MAP} to read Cilium's routing from")]
    NoConfigMap { namespace: String },
    #[error("{namespace}/{CONFIG_MAP} has `{key}: {value}`, which cnicheck does not know")]
    UnknownValue {
        namespace: String,
        key: &'static str,
        value: String,
    },
}

/// Reads the routing from the data of `cilium-config` in `namespace`, with Cilium's own
/// defaults: tunnel mode over VXLAN. Cilium before 1.14 had one key, `tunnel`
/// (`vxlan`, `geneve` or `disabled`), which still counts where `routing-mode` is absent.
pub fn routing(
    namespace: &str,
    data: &BTreeMap<String, String>,
) -> Result<Routing, RoutingProblem> {
    let unknown = |key: &'static str, value: &str| RoutingProblem::UnknownValue {
        namespace: namespace.to_owned(),
        key,
        value: value.to_owned(),
    };
    let value = |key: &str| data.get(key).map(|value| value.trim());
    let legacy_tunnel = value("tunnel").filter(|_| value("routing-mode").is_none());
    let protocol_key = match (value("routing-mode"), legacy_tunnel) {
        (Some("native"), _) | (None, Some("disabled")) => return Ok(Routing::Native),
        (Some("tunnel") | None, None) => "tunnel-protocol",
        (None, Some(_)) => "tunnel",
        (Some(other), _) => return Err(unknown("routing-mode", other)),
    };
    let protocol = match value(protocol_key) {
        None | Some("" | "vxlan") => TunnelProtocol::Vxlan,
        Some("geneve") => TunnelProtocol::Geneve,
        Some(other) => return Err(unknown(protocol_key, other)),
    };
    let port = match value("tunnel-port") {
        None | Some("" | "0") => protocol.default_port(),
        Some(text) => match text.parse::<u16>() {
            Ok(port) if port > 0 => port,
            _ => return Err(unknown("tunnel-port", text)),
        },
    };
    Ok(Routing::Tunnel { protocol, port })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
            .collect()
    }

    fn read(pairs: &[(&str, &str)]) -> Result<Routing, RoutingProblem> {
        routing("kube-system", &config(pairs))
    }

    #[test]
    fn maglev_needs_the_replacement_and_the_algorithm() {
        let balancing = |pairs: &[(&str, &str)]| service_balancing(&config(pairs));
        use ServiceBalancing::*;
        assert_eq!(balancing(&[]), WithoutReplacement);
        assert_eq!(
            balancing(&[("bpf-lb-algorithm", "maglev")]),
            WithoutReplacement
        );
        assert_eq!(
            balancing(&[("kube-proxy-replacement", "false")]),
            WithoutReplacement
        );
        assert_eq!(balancing(&[("kube-proxy-replacement", "true")]), Random);
        assert_eq!(
            balancing(&[
                ("kube-proxy-replacement", "strict"),
                ("bpf-lb-algorithm", " maglev ")
            ]),
            Maglev
        );
    }

    #[test]
    fn session_affinity_is_on_by_flag_or_with_the_replacement() {
        let affinity = |pairs: &[(&str, &str)]| session_affinity(&config(pairs));
        assert!(!affinity(&[]));
        assert!(!affinity(&[("kube-proxy-replacement", "false")]));
        assert!(affinity(&[("enable-session-affinity", "true")]));
        assert!(affinity(&[("kube-proxy-replacement", "true")]));
    }

    fn tunnel(protocol: TunnelProtocol, port: u16) -> Result<Routing, RoutingProblem> {
        Ok(Routing::Tunnel { protocol, port })
    }

    #[test]
    fn the_tunnel_protocol_decides_the_port() {
        use TunnelProtocol::{Geneve, Vxlan};
        let vxlan = [("routing-mode", "tunnel"), ("tunnel-protocol", "vxlan")];
        assert_eq!(read(&vxlan), tunnel(Vxlan, 8472));
        let geneve = [("routing-mode", "tunnel"), ("tunnel-protocol", "geneve")];
        assert_eq!(read(&geneve), tunnel(Geneve, 6081));
        assert_eq!(read(&[]), tunnel(Vxlan, 8472), "Cilium's defaults");
        let custom = [("tunnel-protocol", "geneve"), ("tunnel-port", "7000")];
        assert_eq!(read(&custom), tunnel(Geneve, 7000));
        let zero = [("tunnel-protocol", "vxlan"), ("tunnel-port", "0")];
        assert_eq!(read(&zero), tunnel(Vxlan, 8472), "0 means the default");
    }

    #[test]
    fn native_routing_has_no_tunnel_port() {
        let native = [("routing-mode", "native"), ("tunnel-protocol", "vxlan")];
        assert_eq!(read(&native), Ok(Routing::Native));
    }

    #[test]
    fn the_key_of_cilium_before_1_14_still_counts() {
        assert_eq!(read(&[("tunnel", "disabled")]), Ok(Routing::Native));
        assert_eq!(
            read(&[("tunnel", "geneve")]),
            tunnel(TunnelProtocol::Geneve, 6081)
        );
        let both = [("routing-mode", "tunnel"), ("tunnel", "disabled")];
        assert_eq!(
            read(&both),
            tunnel(TunnelProtocol::Vxlan, 8472),
            "routing-mode wins"
        );
    }

    #[test]
    fn the_l7_proxy_is_embedded_unless_the_config_says_otherwise() {
        let data = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
                .collect()
        };
        assert_eq!(l7_proxy(&data(&[])), L7Proxy::Embedded);
        let external = [
            ("enable-l7-proxy", "true"),
            ("external-envoy-proxy", "true"),
        ];
        assert_eq!(l7_proxy(&data(&external)), L7Proxy::External);
        let off = [
            ("enable-l7-proxy", "false"),
            ("external-envoy-proxy", "true"),
        ];
        assert_eq!(l7_proxy(&data(&off)), L7Proxy::Disabled);
    }

    #[test]
    fn unknown_values_are_named() {
        let problem = read(&[("tunnel-protocol", "ipip")]).unwrap_err();
        assert_eq!(
            problem.to_string(),
            "kube-system/cilium-config has `tunnel-protocol: ipip`, which cnicheck does not know"
        );
        assert!(read(&[("tunnel-port", "70000")]).is_err());
        assert!(read(&[("routing-mode", "magic")]).is_err());
    }
}
