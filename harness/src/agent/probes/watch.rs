//! The receiving half of a UDP probe to an agent pod: ask the pod's own UDP echo, over loopback,
//! whether the sender's marker arrived. Loopback is never filtered by a policy, so an echo that
//! answers proves the receiver alive and listening on that port for the whole window; only then
//! does "the marker never arrived" mean the network dropped it.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::time::Instant;

use super::{ProbeOutcome, ProbeSettings, could_not_run, udp};
use crate::probe::{
    Outcome, UDP_NOT_RECEIVED, UDP_QUERY_PREFIX, UDP_RECEIVED_FROM, UDP_RECORDED_MARKER,
};

/// How often the echo is asked: a marker that arrives is seen within this long.
const ASK_EVERY: Duration = Duration::from_millis(200);
const ANSWER_BUFFER: usize = 512;

pub(super) async fn probe(port: u16, marker: &str, settings: &ProbeSettings<'_>) -> ProbeOutcome {
    udp::check_marker(marker)?;
    if marker.len() > UDP_RECORDED_MARKER {
        return Err(could_not_run(format!(
            "the UDP echo remembers datagrams of at most {UDP_RECORDED_MARKER} bytes: this \
             marker is longer"
        )));
    }
    let echo = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .map_err(|error| could_not_run(format!("cannot open a loopback UDP socket: {error}")))?;
    socket
        .connect(echo)
        .await
        .map_err(|error| could_not_run(format!("cannot address {echo}: {error}")))?;
    let query = [UDP_QUERY_PREFIX, marker.as_bytes()].concat();
    let deadline = Instant::now() + settings.timeout;
    let mut answered = false;
    let mut answer = vec![0u8; ANSWER_BUFFER];
    loop {
        let asked = Instant::now();
        // A refused query (nothing holds the port) shows as an error on this send or the
        // receive; either way the echo did not answer this time.
        if socket.send(&query).await.is_ok()
            && let Ok(Ok(length)) = tokio::time::timeout(ASK_EVERY, socket.recv(&mut answer)).await
        {
            match read_answer(&answer[..length]) {
                Some(Some(source)) => return Ok(Outcome::UdpReceived { source }),
                Some(None) => answered = true,
                None => tracing::debug!(length, "ignoring an answer that is not one"),
            }
        }
        if asked >= deadline {
            break;
        }
        tokio::time::sleep_until((asked + ASK_EVERY).min(deadline)).await;
    }
    Ok(if answered {
        Outcome::UdpNotReceived
    } else {
        could_not_run(format!(
            "the pod's UDP echo on port {port} answered none of its own queries over loopback: \
             nothing listens there, so silence would prove nothing"
        ))
    })
}

/// `Some(Some(sender))`: the marker arrived; `Some(None)`: it did not; `None`: not an answer.
fn read_answer(answer: &[u8]) -> Option<Option<String>> {
    if answer == UDP_NOT_RECEIVED {
        return Some(None);
    }
    let sender = answer.strip_prefix(UDP_RECEIVED_FROM)?;
    Some(Some(String::from_utf8_lossy(sender).into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_say_who_sent_the_marker_or_that_nobody_did() {
        assert_eq!(
            read_answer(b"#cnicheck-received-from=10.0.0.2"),
            Some(Some("10.0.0.2".into()))
        );
        assert_eq!(read_answer(b"#cnicheck-not-received"), Some(None));
        assert_eq!(read_answer(b"cnicheck-0123"), None);
    }
}
