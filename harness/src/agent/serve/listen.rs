//! Binding the agent's sockets: one dual-stack socket per port, so a single listener answers on
//! every IPv4 and IPv6 address of the pod.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::{TcpListener, UdpSocket};

const LISTEN_BACKLOG: i32 = 1024;

/// A listener and the address it got (port 0 picks a free port).
pub(super) fn tcp(address: Option<IpAddr>, port: u16) -> io::Result<(TcpListener, SocketAddr)> {
    let socket = bind(address, port, Type::STREAM, Protocol::TCP)?;
    socket.listen(LISTEN_BACKLOG)?;
    let listener = TcpListener::from_std(socket.into())?;
    let local = listener.local_addr()?;
    Ok((listener, local))
}

/// A bound socket and the address it got (port 0 picks a free port).
pub(super) fn udp(address: Option<IpAddr>, port: u16) -> io::Result<(UdpSocket, SocketAddr)> {
    let socket = bind(address, port, Type::DGRAM, Protocol::UDP)?;
    let socket = UdpSocket::from_std(socket.into())?;
    let local = socket.local_addr()?;
    Ok((socket, local))
}

/// Binds `address`, or `[::]` accepting IPv4 too, or `0.0.0.0` where the pod has no IPv6.
fn bind(
    address: Option<IpAddr>,
    port: u16,
    socket_type: Type,
    protocol: Protocol,
) -> io::Result<Socket> {
    let bind_one = |address: IpAddr, dual_stack: bool| -> io::Result<Socket> {
        let address = SocketAddr::new(address, port);
        let socket = Socket::new(Domain::for_address(address), socket_type, Some(protocol))?;
        if dual_stack {
            socket.set_only_v6(false)?;
        }
        // A restarted agent must not wait for the previous one's TIME_WAIT connections.
        socket.set_reuse_address(true)?;
        socket.set_nonblocking(true)?;
        socket.bind(&address.into())?;
        Ok(socket)
    };
    match address {
        Some(address) => bind_one(address, false),
        None => bind_one(Ipv6Addr::UNSPECIFIED.into(), true).or_else(|ipv6_error| {
            tracing::debug!(%ipv6_error, port, "no IPv6 listener; binding IPv4 only");
            bind_one(Ipv4Addr::UNSPECIFIED.into(), false)
        }),
    }
}
