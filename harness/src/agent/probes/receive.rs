//! The receiving half of a node-port UDP check: watch for the sender's marker to arrive.
//!
//! A raw `IPPROTO_UDP` socket gets a copy of every UDP datagram the kernel delivers locally, after
//! netfilter's INPUT chain and before the datagram is handed to whatever holds the port. So the
//! check works where nothing listens, where a kernel GENEVE device owns 6081, and it fails, as it
//! should, when the node's own firewall drops the port. A packet capture (AF_PACKET) would see
//! datagrams the node then drops, and pass where the overlay is broken.

use std::io;
use std::mem::MaybeUninit;
use std::net::{IpAddr, SocketAddr};

use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

use super::{ProbeOutcome, ProbeSettings, could_not_run, udp};
use crate::probe::Outcome;

/// Large enough for any datagram on a standard or jumbo-frame link.
const PACKET_BUFFER: usize = 65_536;
const UDP_HEADER: usize = 8;

pub(super) async fn probe(port: u16, marker: &str, settings: &ProbeSettings<'_>) -> ProbeOutcome {
    udp::check_marker(marker)?;
    let mut watchers = Vec::new();
    for family in [Family::V4, Family::V6] {
        match family.open(settings.interface) {
            Ok(watcher) => watchers.push(watcher),
            // A pod without IPv6 still watches IPv4, and the other way round.
            Err(error) if error.kind() == io::ErrorKind::PermissionDenied => {
                return Err(could_not_run(
                    "watching for UDP datagrams needs a raw socket: the pod needs CAP_NET_RAW \
                     (cnicheck grants it to host-network workloads)",
                ));
            }
            Err(error) => tracing::debug!(%error, ?family, "no raw UDP socket for this family"),
        }
    }
    if watchers.is_empty() {
        return Err(could_not_run(
            "cannot open a raw UDP socket for IPv4 or IPv6",
        ));
    }
    let watch = futures::future::select_all(
        watchers
            .iter()
            .map(|watcher| Box::pin(watcher.until_marker(port, marker.as_bytes()))),
    );
    Ok(match tokio::time::timeout(settings.timeout, watch).await {
        Ok((Ok(source), _, _)) => Outcome::UdpReceived {
            source: source.to_string(),
        },
        Ok((Err(error), _, _)) => could_not_run(format!("reading the raw UDP socket: {error}")),
        Err(_elapsed) => Outcome::Timeout,
    })
}

#[derive(Debug, Clone, Copy)]
enum Family {
    V4,
    V6,
}

struct Watcher {
    family: Family,
    socket: AsyncFd<Socket>,
}

impl Family {
    fn open(self, interface: Option<&str>) -> io::Result<Watcher> {
        let domain = match self {
            Family::V4 => Domain::IPV4,
            Family::V6 => Domain::IPV6,
        };
        let socket = Socket::new(domain, Type::RAW, Some(Protocol::UDP))?;
        if let Some(interface) = interface {
            socket.bind_device(Some(interface.as_bytes()))?;
        }
        socket.set_nonblocking(true)?;
        // SAFETY: the Socket owns its descriptor and keeps it open, unchanged, until dropped,
        // which only happens when the AsyncFd holding it is.
        let socket = unsafe { AsyncFd::register_with_interest(socket, Interest::READABLE) }?;
        Ok(Watcher {
            family: self,
            socket,
        })
    }
}

impl Watcher {
    /// Reads datagrams until one to `port` carries `marker`; returns its source address.
    async fn until_marker(&self, port: u16, marker: &[u8]) -> io::Result<IpAddr> {
        let mut buffer = vec![MaybeUninit::<u8>::uninit(); PACKET_BUFFER];
        loop {
            let mut ready = self.socket.readable().await?;
            let received = match ready.try_io(|socket| socket.get_ref().recv_from(&mut buffer)) {
                Ok(received) => received?,
                Err(_would_block) => continue,
            };
            let (length, from) = received;
            // SAFETY: recv_from initialized the first `length` bytes.
            let packet: &[u8] =
                unsafe { std::slice::from_raw_parts(buffer.as_ptr().cast(), length) };
            if carries_marker(self.family, packet, port, marker) {
                let source = from
                    .as_socket()
                    .map(|address: SocketAddr| address.ip())
                    .ok_or_else(|| io::Error::other("a datagram without a source address"))?;
                return Ok(source);
            }
        }
    }
}

/// Whether a raw-socket read is a UDP datagram to `port` whose payload contains `marker`.
/// IPv4 raw sockets return the IP header too; IPv6 ones start at the UDP header.
fn carries_marker(family: Family, packet: &[u8], port: u16, marker: &[u8]) -> bool {
    let udp = match family {
        Family::V4 => {
            let Some(&first) = packet.first() else {
                return false;
            };
            let header_length = usize::from(first & 0x0f) * 4;
            match packet.get(header_length..) {
                Some(udp) => udp,
                None => return false,
            }
        }
        Family::V6 => packet,
    };
    if udp.len() < UDP_HEADER || u16::from_be_bytes([udp[2], udp[3]]) != port {
        return false;
    }
    udp::contains(&udp[UDP_HEADER..], marker)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An IPv4 header of 20 bytes, then a UDP header to `port`, then `payload`.
    fn ipv4_datagram(port: u16, payload: &[u8]) -> Vec<u8> {
        let mut packet = vec![0x45];
        packet.extend_from_slice(&[0; 19]);
        packet.extend_from_slice(&[0x30, 0x39]); // source port 12345
        packet.extend_from_slice(&port.to_be_bytes());
        packet.extend_from_slice(&[0, 0, 0, 0]); // length, checksum
        packet.extend_from_slice(payload);
        packet
    }

    #[test]
    fn finds_the_marker_behind_the_ip_and_udp_headers() {
        let packet = ipv4_datagram(6081, b"cnicheck-0123");
        assert!(carries_marker(Family::V4, &packet, 6081, b"cnicheck-0123"));
        assert!(!carries_marker(Family::V4, &packet, 6082, b"cnicheck-0123"));
        assert!(!carries_marker(Family::V4, &packet, 6081, b"cnicheck-9999"));
        assert!(carries_marker(
            Family::V6,
            &packet[20..],
            6081,
            b"cnicheck-0123"
        ));
    }

    #[test]
    fn the_marker_must_be_in_the_payload_not_the_headers() {
        // The port bytes 0x17 0xc1 (6081) are not a marker that happens to match.
        assert!(!carries_marker(
            Family::V4,
            &ipv4_datagram(6081, b""),
            6081,
            &[0x17, 0xc1]
        ));
    }

    #[test]
    fn truncated_packets_never_match() {
        assert!(!carries_marker(Family::V4, &[], 6081, b"m"));
        assert!(!carries_marker(Family::V4, &[0x4f, 0, 0], 6081, b"m"));
        assert!(!carries_marker(Family::V6, &[0, 1, 0x17], 6081, b"m"));
    }
}
