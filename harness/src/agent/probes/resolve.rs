//! Name resolution with hickory, never getaddrinfo: the agent is a static glibc binary, where
//! NSS (and so getaddrinfo for anything but literals) does not work.

use std::net::{IpAddr, SocketAddr};
use std::sync::OnceLock;
use std::time::Duration;

use hickory_resolver::config::{LookupIpStrategy, NameServerConfig, ResolverConfig, ResolverOpts};
use hickory_resolver::net::NetError;
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::Name;
use hickory_resolver::{TokioResolver, system_conf};

use super::{could_not_run, network_error};
use crate::probe::Outcome;

/// The pod's resolver configuration (`/etc/resolv.conf`), read once per batch and only when a
/// probe needs it, so probes of literal addresses work without it.
#[derive(Default)]
pub(super) struct NameResolution {
    pod_config: OnceLock<Result<(ResolverConfig, ResolverOpts), NetError>>,
}

impl NameResolution {
    /// A fresh resolver (so every probe really queries) with the pod's search domains, ndots and
    /// options, asking `server` instead of the pod's nameservers when given.
    pub(super) fn resolver(
        &self,
        server: Option<SocketAddr>,
        strategy: LookupIpStrategy,
    ) -> Result<TokioResolver, Outcome> {
        let pod_config = self.pod_config.get_or_init(system_conf::read_system_conf);
        let (config, mut options) = match (pod_config, server) {
            (Ok((config, options)), None) => (config.clone(), options.clone()),
            (Ok((config, options)), Some(server)) => (
                ResolverConfig::from_parts(
                    config.domain().cloned(),
                    config.search().to_vec(),
                    vec![name_server(server)],
                ),
                options.clone(),
            ),
            // An explicit server does not need the pod's configuration, only benefits from it.
            (Err(_), Some(server)) => (
                ResolverConfig::from_name_servers(vec![name_server(server)]),
                ResolverOpts::default(),
            ),
            (Err(error), None) => {
                return Err(could_not_run(format!(
                    "cannot read the pod's DNS configuration (/etc/resolv.conf): {error}"
                )));
            }
        };
        options.ip_strategy = strategy;
        TokioResolver::builder_with_config(config, TokioRuntimeProvider::default())
            .with_options(options)
            .build()
            .map_err(|error| could_not_run(format!("cannot build a DNS resolver: {error}")))
    }

    /// The first address of `host`: a literal, or a name resolved through the pod's resolver
    /// within `timeout`, IPv4 first (AAAA is asked only when there is no A record) so that a
    /// dual-stack name always means the same address. Failing to resolve is never a timeout of
    /// the probe itself: a name that does not exist is a bad target (`CouldNotRun`), a resolver
    /// that fails is a `NetworkError`.
    pub(super) async fn resolve_host(
        &self,
        host: &str,
        timeout: Duration,
    ) -> Result<IpAddr, Outcome> {
        let unbracketed = host
            .strip_prefix('[')
            .and_then(|host| host.strip_suffix(']'))
            .unwrap_or(host);
        if let Ok(address) = unbracketed.parse::<IpAddr>() {
            return Ok(address);
        }
        let name = Name::from_utf8(host).map_err(|error| {
            could_not_run(format!("{host:?} is not a valid host name: {error}"))
        })?;
        let resolver = self.resolver(None, LookupIpStrategy::Ipv4thenIpv6)?;
        let lookup = match tokio::time::timeout(timeout, resolver.lookup_ip(name)).await {
            Err(_) => Err(NetError::Timeout),
            Ok(result) => result,
        };
        match lookup {
            Ok(lookup) => lookup
                .iter()
                .next()
                .ok_or_else(|| could_not_run(format!("{host} resolved to no address"))),
            Err(error) if error.is_nx_domain() => {
                Err(could_not_run(format!("{host} does not resolve (NXDOMAIN)")))
            }
            Err(error) if error.is_no_records_found() => {
                Err(could_not_run(format!("{host} has no A or AAAA record")))
            }
            Err(NetError::Timeout) => Err(network_error(format!(
                "resolving {host}: no DNS answer within {} ms",
                timeout.as_millis()
            ))),
            Err(error) => Err(network_error(format!("resolving {host}: {error}"))),
        }
    }
}

fn name_server(server: SocketAddr) -> NameServerConfig {
    let mut name_server = NameServerConfig::udp_and_tcp(server.ip());
    for connection in &mut name_server.connections {
        connection.port = server.port();
    }
    name_server
}
