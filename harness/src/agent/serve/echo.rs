//! TCP and UDP echo targets. The UDP echo appends the pod name so the prober knows both that its
//! datagram arrived (its marker comes back) and which pod got it.

use std::sync::Arc;

use tokio::net::{TcpListener, TcpStream, UdpSocket};

use super::accept_each;
use crate::probe::UDP_ECHO_POD_TAG;

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

pub(super) async fn serve_udp(socket: UdpSocket, pod_name: Arc<str>) {
    let mut datagram = vec![0u8; MAX_DATAGRAM];
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
        let mut reply = Vec::with_capacity(length + UDP_ECHO_POD_TAG.len() + pod_name.len());
        reply.extend_from_slice(&datagram[..length]);
        reply.extend_from_slice(UDP_ECHO_POD_TAG);
        reply.extend_from_slice(pod_name.as_bytes());
        if let Err(error) = socket.send_to(&reply, peer).await {
            tracing::debug!(%error, %peer, "udp echo reply failed");
        }
    }
}
