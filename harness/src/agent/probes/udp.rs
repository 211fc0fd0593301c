//! UDP: a pass needs proof of delivery, an echo carrying our marker. Datagrams may be lost, so
//! the marker is resent a few times within the timeout before concluding nothing answers.
//! Where nothing echoes (GENEVE's port on a node), [`send`] only sends and the receiving node's
//! agent confirms arrival (see `receive`).

use std::net::SocketAddr;
use std::time::Duration;

use socket2::{Protocol, Type};
use tokio::net::UdpSocket;

use super::{ProbeOutcome, ProbeSettings, Stopwatch, could_not_run, socket};
use crate::probe::{Outcome, UDP_ECHO_POD_TAG};

/// How many times the marker is sent, evenly spread over the timeout.
const SENDS: u32 = 4;
const MAX_MARKER: usize = 1024;
/// An agent's echo is the marker, a tag and a pod name (at most 253 bytes).
const REPLY_BUFFER: usize = 4096;

pub(super) async fn probe(
    host: &str,
    port: u16,
    marker: &str,
    settings: &ProbeSettings<'_>,
) -> ProbeOutcome {
    check_marker(marker)?;
    let (socket, peer) = open(host, port, settings).await?;
    // Connected, so the kernel reports an ICMP port unreachable to us as ECONNREFUSED.
    if let Err(error) = socket.connect(peer).await {
        return Ok(socket::outcome_of_io_error(&error));
    }
    let resend_every = settings.timeout / SENDS;
    Ok(tokio::time::timeout(
        settings.timeout,
        exchange(&socket, marker.as_bytes(), resend_every, settings.stopwatch),
    )
    .await
    .unwrap_or(Outcome::Timeout))
}

/// Sends `marker` [`SENDS`] times over the timeout and reports how many datagrams left. Replies
/// and ICMP errors are ignored: a port unreachable only means no socket holds the port, while
/// the receiver's raw socket still sees the datagram arrive.
pub(super) async fn send(
    host: &str,
    port: u16,
    marker: &str,
    settings: &ProbeSettings<'_>,
) -> ProbeOutcome {
    check_marker(marker)?;
    let (socket, peer) = open(host, port, settings).await?;
    let mut resend = tokio::time::interval(settings.timeout / SENDS);
    let mut datagrams = 0;
    for _ in 0..SENDS {
        resend.tick().await;
        match socket.send_to(marker.as_bytes(), peer).await {
            Ok(_) => datagrams += 1,
            // Nothing left this pod: that is an observation only if it never worked.
            Err(error) if datagrams == 0 => return Ok(socket::outcome_of_io_error(&error)),
            Err(error) => tracing::debug!(%error, "a resend failed"),
        }
    }
    Ok(Outcome::UdpSent { datagrams })
}

/// Empty would match any datagram; too long would not fit an echo with a pod name.
pub(super) fn check_marker(marker: &str) -> Result<(), Outcome> {
    if marker.is_empty() || marker.len() > MAX_MARKER {
        return Err(could_not_run(format!(
            "a UDP marker must have 1 to {MAX_MARKER} bytes"
        )));
    }
    Ok(())
}

async fn open(
    host: &str,
    port: u16,
    settings: &ProbeSettings<'_>,
) -> Result<(UdpSocket, SocketAddr), Outcome> {
    let address = settings.names.resolve_host(host, settings.timeout).await?;
    let peer = SocketAddr::new(address, port);
    let socket = socket::open(peer, Type::DGRAM, Protocol::UDP, settings.interface)?;
    let socket = UdpSocket::from_std(socket.into())
        .map_err(|error| could_not_run(format!("cannot register the UDP socket: {error}")))?;
    Ok((socket, peer))
}

/// Sends `marker` every `resend_every` until an echo containing it, or an error, comes back.
/// An echo is timed only when it answers the first datagram: every resend carries the same
/// marker, so after one, which datagram came back is unknown.
async fn exchange(
    socket: &UdpSocket,
    marker: &[u8],
    resend_every: Duration,
    stopwatch: &Stopwatch,
) -> Outcome {
    let mut resend = tokio::time::interval(resend_every);
    let mut reply = vec![0u8; REPLY_BUFFER];
    let mut first_send = true;
    loop {
        tokio::select! {
            _ = resend.tick() => {
                if first_send {
                    stopwatch.start();
                    first_send = false;
                } else {
                    stopwatch.discard();
                }
                if let Err(error) = socket.send(marker).await {
                    return socket::outcome_of_io_error(&error);
                }
            }
            received = socket.recv(&mut reply) => match received {
                Ok(length) => {
                    if let Some(server) = echoing_server(&reply[..length], marker) {
                        return Outcome::UdpEcho { server };
                    }
                    tracing::debug!(length, "ignoring a UDP reply without our marker");
                }
                Err(error) => return socket::outcome_of_io_error(&error),
            },
        }
    }
}

/// `None` if `reply` does not echo `marker`; otherwise the pod name an agent appended, if any
/// (another echo server proves delivery too, it just cannot say who it is).
fn echoing_server(reply: &[u8], marker: &[u8]) -> Option<Option<String>> {
    if !contains(reply, marker) {
        return None;
    }
    let tag_start = reply
        .windows(UDP_ECHO_POD_TAG.len())
        .rposition(|window| window == UDP_ECHO_POD_TAG);
    Some(tag_start.map(|start| {
        String::from_utf8_lossy(&reply[start + UDP_ECHO_POD_TAG.len()..]).into_owned()
    }))
}

pub(super) fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_echo_must_carry_the_marker() {
        assert_eq!(echoing_server(b"other", b"marker"), None);
        assert_eq!(echoing_server(b"", b"marker"), None);
    }

    #[test]
    fn the_pod_name_follows_the_last_tag() {
        let mut reply = b"marker".to_vec();
        reply.extend_from_slice(UDP_ECHO_POD_TAG);
        reply.extend_from_slice(b"pod-a");
        assert_eq!(
            echoing_server(&reply, b"marker"),
            Some(Some("pod-a".to_owned()))
        );
        // Another echo server proves delivery but cannot say who it is.
        assert_eq!(echoing_server(b"xxmarkerxx", b"marker"), Some(None));
    }
}
