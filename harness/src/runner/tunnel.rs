//! Which UDP port `port: tunnel` probes: the overlay port of this cluster, decided once per run
//! from `--tunnel-port`, else Cilium's `cilium-config`, else GENEVE (EKS Anywhere's Cilium).

use crate::cluster::{CiliumInstall, Routing, TunnelProtocol};

/// `--tunnel-port`: a port, or `none` for a cluster without an overlay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TunnelOverride {
    Port(u16),
    None,
}

impl std::str::FromStr for TunnelOverride {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "none" => Ok(TunnelOverride::None),
            _ => match text.parse::<u16>() {
                Ok(port) if port > 0 => Ok(TunnelOverride::Port(port)),
                _ => Err(format!(
                    "`{text}` is neither a UDP port (1-65535) nor `none` (no overlay)"
                )),
            },
        }
    }
}

/// The tunnel port of this run, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tunnel {
    /// Probe UDP `port`; `overlay` says whose overlay it is, for failures.
    Udp { port: u16, overlay: String },
    /// No overlay: `port: tunnel` cells are skipped with this reason.
    Absent { reason: String },
    /// The cluster's configuration could not be read: `port: tunnel` cells are errors.
    Unknown { problem: String },
}

pub fn resolve(flag: Option<TunnelOverride>, cilium: Option<&CiliumInstall>) -> Tunnel {
    match (flag, cilium) {
        (Some(TunnelOverride::Port(port)), _) => Tunnel::Udp {
            port,
            overlay: "the overlay whose port --tunnel-port gives".into(),
        },
        (Some(TunnelOverride::None), _) => Tunnel::Absent {
            reason: "--tunnel-port none: no overlay between nodes to check".into(),
        },
        (None, Some(cilium)) => {
            let config = format!("{}/cilium-config", cilium.namespace);
            match &cilium.routing {
                Ok(Routing::Tunnel { protocol, port }) => Tunnel::Udp {
                    port: *port,
                    overlay: format!(
                        "Cilium's {} overlay (tunnel-protocol {} in {config})",
                        protocol.name(),
                        protocol.name().to_lowercase()
                    ),
                },
                Ok(Routing::Native) => Tunnel::Absent {
                    reason: format!(
                        "Cilium routes natively (routing-mode native in {config}): no tunnel \
                         port between nodes"
                    ),
                },
                Err(problem) => Tunnel::Unknown {
                    problem: format!(
                        "{problem}: give the overlay's UDP port with --tunnel-port (or `none`)"
                    ),
                },
            }
        }
        (None, None) => Tunnel::Udp {
            port: TunnelProtocol::Geneve.default_port(),
            overlay: "the GENEVE overlay EKS Anywhere's Cilium uses (no Cilium runs here yet; \
                      --tunnel-port names another)"
                .into(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::{RoutingProblem, cilium_fixtures};

    fn cilium(routing: Result<Routing, RoutingProblem>) -> CiliumInstall {
        CiliumInstall {
            routing,
            ..cilium_fixtures::install(cilium_fixtures::UPSTREAM, &[("node-1", true)], "")
        }
    }

    #[test]
    fn cilium_config_decides_the_port() {
        let vxlan = cilium(Ok(Routing::Tunnel {
            protocol: TunnelProtocol::Vxlan,
            port: 8472,
        }));
        assert_eq!(
            resolve(None, Some(&vxlan)),
            Tunnel::Udp {
                port: 8472,
                overlay:
                    "Cilium's VXLAN overlay (tunnel-protocol vxlan in kube-system/cilium-config)"
                        .into()
            }
        );
        let native = resolve(None, Some(&cilium(Ok(Routing::Native))));
        assert!(
            matches!(&native, Tunnel::Absent { reason } if reason.contains("routes natively")),
            "{native:?}"
        );
        let missing = cilium(Err(RoutingProblem::NoConfigMap {
            namespace: "kube-system".into(),
        }));
        let unknown = resolve(None, Some(&missing));
        assert!(
            matches!(&unknown, Tunnel::Unknown { problem } if problem.contains("--tunnel-port")),
            "{unknown:?}"
        );
    }

    #[test]
    fn the_flag_wins_and_without_cilium_geneve_is_assumed() {
        let native = cilium(Ok(Routing::Native));
        assert!(matches!(
            resolve(Some(TunnelOverride::Port(4789)), Some(&native)),
            Tunnel::Udp { port: 4789, .. }
        ));
        assert!(matches!(
            resolve(Some(TunnelOverride::None), None),
            Tunnel::Absent { .. }
        ));
        assert!(matches!(
            resolve(None, None),
            Tunnel::Udp { port: 6081, .. }
        ));
    }

    #[test]
    fn the_flag_takes_a_port_or_none() {
        assert_eq!("8472".parse(), Ok(TunnelOverride::Port(8472)));
        assert_eq!("none".parse(), Ok(TunnelOverride::None));
        assert!("0".parse::<TunnelOverride>().is_err());
        assert!("vxlan".parse::<TunnelOverride>().is_err());
    }
}
