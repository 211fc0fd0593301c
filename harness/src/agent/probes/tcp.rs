//! TCP: does the handshake complete? Its latency is the handshake's.

use std::net::SocketAddr;

use socket2::{Protocol, Type};
use tokio::net::TcpSocket;

use super::{ProbeOutcome, ProbeSettings, socket};
use crate::probe::Outcome;

pub(super) async fn probe(host: &str, port: u16, settings: &ProbeSettings<'_>) -> ProbeOutcome {
    let address = settings.names.resolve_host(host, settings.timeout).await?;
    let peer = SocketAddr::new(address, port);
    let socket = socket::open(peer, Type::STREAM, Protocol::TCP, settings.interface)?;
    let socket = TcpSocket::from_std_stream(socket.into());
    settings.stopwatch.start();
    Ok(
        match tokio::time::timeout(settings.timeout, socket.connect(peer)).await {
            Err(_) => Outcome::Timeout,
            Ok(Ok(_connected)) => Outcome::Connected {
                peer: peer.to_string(),
            },
            Ok(Err(error)) => socket::outcome_of_io_error(&error),
        },
    )
}
