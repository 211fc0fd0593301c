//! DNS: an A/AAAA lookup as the pod's applications would do it (search domains, ndots).

use std::net::{IpAddr, SocketAddr};

use hickory_resolver::config::LookupIpStrategy;
use hickory_resolver::net::{DnsError, NetError};
use hickory_resolver::proto::rr::Name;

use super::{ProbeOutcome, ProbeSettings, could_not_run, network_error, socket};
use crate::probe::Outcome;

const DNS_PORT: u16 = 53;

pub(super) async fn probe(
    name: &str,
    server: Option<&str>,
    settings: &ProbeSettings<'_>,
) -> ProbeOutcome {
    if settings.interface.is_some() {
        return Err(could_not_run("DNS probes cannot be bound to an interface"));
    }
    let server = server.map(parse_server).transpose()?;
    let query = Name::from_utf8(name)
        .map_err(|error| could_not_run(format!("{name:?} is not a valid DNS name: {error}")))?;
    // Both families, A first: the answer lists every address the name has.
    let resolver = settings
        .names
        .resolver(server, LookupIpStrategy::Ipv4AndIpv6)?;
    settings.stopwatch.start();
    Ok(
        match tokio::time::timeout(settings.timeout, resolver.lookup_ip(query)).await {
            Err(_) => Outcome::Timeout,
            Ok(Ok(lookup)) => {
                let addresses: Vec<IpAddr> = lookup.iter().collect();
                if addresses.is_empty() {
                    network_error(format!("{name}: an answer without addresses"))
                } else {
                    Outcome::Resolved { addresses }
                }
            }
            Ok(Err(error)) => outcome_of_resolver_error(name, &error),
        },
    )
}

fn parse_server(server: &str) -> Result<SocketAddr, Outcome> {
    server
        .parse::<SocketAddr>()
        .or_else(|_| {
            server
                .parse::<IpAddr>()
                .map(|ip| SocketAddr::new(ip, DNS_PORT))
        })
        .map_err(|_| could_not_run(format!("DNS server {server:?} is not an IP or IP:port")))
}

fn outcome_of_resolver_error(name: &str, error: &NetError) -> Outcome {
    match error {
        _ if error.is_nx_domain() => Outcome::NxDomain,
        // NODATA: the server answered, the name exists, but it has no address. Neither a pass
        // for "resolves" nor NXDOMAIN.
        _ if error.is_no_records_found() => {
            network_error(format!("{name} exists but has no A or AAAA record"))
        }
        NetError::Timeout => Outcome::Timeout,
        NetError::Io(io_error) => socket::outcome_of_io_error(io_error),
        NetError::Dns(DnsError::ResponseCode(code)) => {
            network_error(format!("the DNS server answered {code}"))
        }
        _ => network_error(error.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn servers_are_addresses_with_an_optional_port() {
        assert_eq!(
            parse_server("10.96.0.10"),
            Ok("10.96.0.10:53".parse().expect("valid"))
        );
        assert_eq!(
            parse_server("[fd00::a]:5353"),
            Ok("[fd00::a]:5353".parse().expect("valid"))
        );
        assert_eq!(
            parse_server("fd00::a"),
            Ok("[fd00::a]:53".parse().expect("valid"))
        );
        assert!(matches!(
            parse_server("kube-dns"),
            Err(Outcome::CouldNotRun { .. })
        ));
    }
}
