//! ICMP echo. An unprivileged ICMP datagram socket is tried first, a raw socket after (surge-ping
//! does both); without either permission the probe could not run, which is not a timeout.

use std::io;
use std::net::IpAddr;

use surge_ping::{Client, Config, ICMP, PingIdentifier, PingSequence, SurgeError};

use super::{ProbeOutcome, ProbeSettings, could_not_run, network_error, socket};
use crate::probe::Outcome;

const PAYLOAD: &[u8] = b"cnicheck";

pub(super) async fn probe(host: &str, settings: &ProbeSettings<'_>) -> ProbeOutcome {
    let address = settings.names.resolve_host(host, settings.timeout).await?;
    let client = Client::new(&config(address, settings.interface))
        .map_err(|error| socket_error(&error, settings.interface))?;
    let mut pinger = client.pinger(address, PingIdentifier(rand::random())).await;
    pinger.timeout(settings.timeout);
    Ok(match pinger.ping(PingSequence(0), PAYLOAD).await {
        Ok((_reply, round_trip)) => {
            settings.stopwatch.measured(round_trip);
            Outcome::IcmpReply
        }
        Err(SurgeError::Timeout { .. }) => Outcome::Timeout,
        Err(SurgeError::IOError(error)) => socket::outcome_of_io_error(&error),
        Err(error) => network_error(error.to_string()),
    })
}

fn config(address: IpAddr, interface: Option<&str>) -> Config {
    let kind = match address {
        IpAddr::V4(_) => ICMP::V4,
        IpAddr::V6(_) => ICMP::V6,
    };
    let builder = Config::builder().kind(kind);
    match interface {
        Some(interface) => builder.interface(interface),
        None => builder,
    }
    .build()
}

fn socket_error(error: &io::Error, interface: Option<&str>) -> Outcome {
    match (error.kind(), interface) {
        // surge-ping's own message here is advice for a workstation (sudo, setcap).
        (io::ErrorKind::PermissionDenied, _) => could_not_run(
            "no permission to open an ICMP socket: the pod needs its group in sysctl \
             net.ipv4.ping_group_range (unprivileged ICMP) or the CAP_NET_RAW capability",
        ),
        (_, Some(interface)) if error.raw_os_error() == Some(libc::ENODEV) => {
            socket::interface_error(interface, error)
        }
        _ => could_not_run(format!("cannot open an ICMP socket: {error}")),
    }
}
