//! TCP and UDP echo targets. The UDP echo appends the pod name so the prober knows both that its
//! datagram arrived (its marker comes back) and which pod got it. It also remembers the last
//! datagrams it got, so that the pod itself can ask whether one arrived whose echo was lost or
//! never sent (see [`crate::probe::ProbeAction::UdpWatch`]).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::{TcpListener, TcpStream, UdpSocket};

use super::accept_each;
use crate::probe::{
    UDP_ECHO_POD_TAG, UDP_NOT_RECEIVED, UDP_QUERY_PREFIX, UDP_RECEIVED_FROM, UDP_RECORDED_MARKER,
};

/// The largest UDP payload over IPv4; anything received fits.
const MAX_DATAGRAM: usize = 65_507;

pub(super) async fn serve_tcp(listener: TcpListener) {
    accept_each(listener, "tcp echo", echo_stream).await;
}

async fn echo_stream(mut stream: TcpStream) {
    let (mut reader, mut writer) = stream.split();
    if let Err(error) = tokio::io::copy(&mut reader, &mut writer).await {
        tracing::debug!(%error, "tcp echo connection ended with an error");
    }
}

/// How many arrivals the echo remembers: a phase's probes toward one pod are far fewer, and the
/// memory stays bounded (at most this many payloads of [`UDP_RECORDED_MARKER`] bytes).
const REMEMBERED_ARRIVALS: usize = 4096;

/// The latest datagrams that could carry a marker, oldest first, and who sent them; and a
/// number drawn when the echo starts, which its answers give, so that a restart (and the
/// memory lost with it) shows.
struct Arrivals {
    listener: u64,
    latest: VecDeque<(Vec<u8>, SocketAddr)>,
}

impl Arrivals {
    fn new() -> Self {
        Arrivals {
            listener: rand::random(),
            latest: VecDeque::new(),
        }
    }

    fn record(&mut self, payload: &[u8], sender: SocketAddr) {
        if payload.is_empty() || payload.len() > UDP_RECORDED_MARKER {
            return;
        }
        if self.latest.len() == REMEMBERED_ARRIVALS {
            self.latest.pop_front();
        }
        self.latest.push_back((payload.to_vec(), sender));
    }

    /// The answer to a query for `marker`: [`UDP_RECEIVED_FROM`] and the latest sender of a
    /// datagram that was exactly the marker, or [`UDP_NOT_RECEIVED`] and the listener.
    fn answer(&self, marker: &[u8]) -> Vec<u8> {
        match self
            .latest
            .iter()
            .rev()
            .find(|(payload, _)| payload == marker)
        {
            Some((_, sender)) => [UDP_RECEIVED_FROM, sender.ip().to_string().as_bytes()].concat(),
            None => [UDP_NOT_RECEIVED, self.listener.to_string().as_bytes()].concat(),
        }
    }
}

pub(super) async fn serve_udp(socket: UdpSocket, pod_name: Arc<str>) {
    let mut datagram = vec![0u8; MAX_DATAGRAM];
    let mut arrivals = Arrivals::new();
    loop {
        let (length, peer) = match socket.recv_from(&mut datagram).await {
            Ok(received) => received,
            Err(error) => {
                // Errors here are about earlier datagrams (e.g. an ICMP error for a reply);
                // the socket itself keeps working.
                tracing::debug!(%error, "udp echo receive failed");
                continue;
            }
        };
        // A dual-stack socket sees IPv4 senders as IPv4-mapped IPv6 addresses.
        let peer = SocketAddr::new(peer.ip().to_canonical(), peer.port());
        let payload = &datagram[..length];
        // Only the pod itself may ask, over loopback, which no policy filters.
        if let Some(marker) = payload.strip_prefix(UDP_QUERY_PREFIX)
            && peer.ip().is_loopback()
        {
            if let Err(error) = socket.send_to(&arrivals.answer(marker), peer).await {
                tracing::debug!(%error, %peer, "udp arrival answer failed");
            }
            continue;
        }
        arrivals.record(payload, peer);
        let mut reply = Vec::with_capacity(length + UDP_ECHO_POD_TAG.len() + pod_name.len());
        reply.extend_from_slice(&datagram[..length]);
        reply.extend_from_slice(UDP_ECHO_POD_TAG);
        reply.extend_from_slice(pod_name.as_bytes());
        if let Err(error) = socket.send_to(&reply, peer).await {
            tracing::debug!(%error, %peer, "udp echo reply failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sender(last: u8) -> SocketAddr {
        SocketAddr::from(([10, 0, 0, last], 40000))
    }

    #[test]
    fn arrivals_answer_with_the_latest_sender_of_exactly_that_marker() {
        let mut arrivals = Arrivals::new();
        let not_received = [UDP_NOT_RECEIVED, arrivals.listener.to_string().as_bytes()].concat();
        assert_eq!(arrivals.answer(b"cnicheck-1"), not_received);
        arrivals.record(b"cnicheck-1", sender(1));
        arrivals.record(b"cnicheck-1", sender(2));
        arrivals.record(b"cnicheck-12", sender(3));
        assert_eq!(
            arrivals.answer(b"cnicheck-1"),
            b"#cnicheck-received-from=10.0.0.2"
        );
        assert_eq!(arrivals.answer(b"cnicheck-"), not_received);
    }

    #[test]
    fn arrivals_are_bounded() {
        let mut arrivals = Arrivals::new();
        arrivals.record(b"first", sender(1));
        arrivals.record(&[b'x'; UDP_RECORDED_MARKER + 1], sender(1));
        for _ in 0..REMEMBERED_ARRIVALS {
            arrivals.record(b"later", sender(2));
        }
        assert_eq!(arrivals.latest.len(), REMEMBERED_ARRIVALS);
        assert!(arrivals.answer(b"first").starts_with(UDP_NOT_RECEIVED));
    }
}
