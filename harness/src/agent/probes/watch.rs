//! The receiving half of a UDP probe to an agent pod: ask the pod's own UDP echo, over loopback,
//! whether the sender's marker arrived. Loopback is never filtered by a policy, so the answer
//! says what reached the echo; which listener answered lets the runner, asking before and after
//! the source sends, see that the echo listened and remembered all along.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::time::Instant;

use super::{ProbeOutcome, ProbeSettings, could_not_run, udp};
use crate::probe::{
    Outcome, UDP_NOT_RECEIVED, UDP_QUERY_PREFIX, UDP_RECEIVED_FROM, UDP_RECORDED_MARKER,
};

/// How long one question waits for its answer before it is asked again: a datagram on loopback
/// is lost only when the echo is busy or not there yet.
const ASK_EVERY: Duration = Duration::from_millis(200);
/// An answer is a tag and an address or a number: far below this.
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
    let mut answer = vec![0u8; ANSWER_BUFFER];
    while Instant::now() < deadline {
        // A refused question (nothing holds the port) shows as an error on this send or the
        // receive; either way there was no answer this time.
        if socket.send(&query).await.is_ok()
            && let Ok(Ok(length)) = tokio::time::timeout(ASK_EVERY, socket.recv(&mut answer)).await
        {
            match read_answer(&answer[..length]) {
                Some(outcome) => return Ok(outcome),
                None => tracing::debug!(length, "ignoring an answer that is not one"),
            }
        } else {
            tokio::time::sleep_until((Instant::now() + ASK_EVERY).min(deadline)).await;
        }
    }
    Err(could_not_run(format!(
        "the pod's UDP echo on port {port} did not answer its own question over loopback: \
         nothing listens there, so silence would prove nothing"
    )))
}

fn read_answer(answer: &[u8]) -> Option<Outcome> {
    if let Some(sender) = answer.strip_prefix(UDP_RECEIVED_FROM) {
        return Some(Outcome::UdpReceived {
            source: String::from_utf8_lossy(sender).into_owned(),
        });
    }
    let listener = std::str::from_utf8(answer.strip_prefix(UDP_NOT_RECEIVED)?).ok()?;
    Some(Outcome::UdpNotReceived {
        listener: listener.parse().ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_say_who_sent_the_marker_or_which_listener_did_not_get_it() {
        assert_eq!(
            read_answer(b"#cnicheck-received-from=10.0.0.2"),
            Some(Outcome::UdpReceived {
                source: "10.0.0.2".into()
            })
        );
        assert_eq!(
            read_answer(b"#cnicheck-not-received-by=42"),
            Some(Outcome::UdpNotReceived { listener: 42 })
        );
        assert_eq!(read_answer(b"#cnicheck-not-received-by=x"), None);
        assert_eq!(read_answer(b"cnicheck-0123"), None);
    }
}
