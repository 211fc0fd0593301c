//! Probe sockets: opening them (bound to an interface when asked) and reading socket errors as
//! observations.

use std::io;
use std::net::SocketAddr;

use socket2::{Domain, Protocol, Socket, Type};

use super::{could_not_run, network_error};
use crate::probe::Outcome;

/// Fails early, for every kind of probe, when the pod has no such interface.
pub(super) fn check_interface(interface: &str) -> Result<(), Outcome> {
    let socket = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))
        .map_err(|error| could_not_run(format!("cannot open a socket: {error}")))?;
    bind_to_interface(&socket, interface)
}

/// A non-blocking socket for talking to `peer`, bound to `interface` if given.
pub(super) fn open(
    peer: SocketAddr,
    socket_type: Type,
    protocol: Protocol,
    interface: Option<&str>,
) -> Result<Socket, Outcome> {
    let socket = Socket::new(Domain::for_address(peer), socket_type, Some(protocol))
        .map_err(|error| could_not_run(format!("cannot open a socket for {peer}: {error}")))?;
    if let Some(interface) = interface {
        bind_to_interface(&socket, interface)?;
    }
    socket
        .set_nonblocking(true)
        .map_err(|error| could_not_run(format!("cannot make the socket non-blocking: {error}")))?;
    Ok(socket)
}

fn bind_to_interface(socket: &Socket, interface: &str) -> Result<(), Outcome> {
    socket
        .bind_device(Some(interface.as_bytes()))
        .map_err(|error| interface_error(interface, &error))
}

/// Why binding to `interface` failed, as a reason the probe could not run.
pub(super) fn interface_error(interface: &str, error: &io::Error) -> Outcome {
    match error.raw_os_error() {
        Some(libc::ENODEV) => could_not_run(format!("no network interface named {interface:?}")),
        Some(libc::EPERM) => could_not_run(format!(
            "binding to interface {interface:?} needs CAP_NET_RAW (kernels before 5.7): {error}"
        )),
        _ => could_not_run(format!("cannot bind to interface {interface:?}: {error}")),
    }
}

/// What a failed connect, send or receive says about the network.
pub(super) fn outcome_of_io_error(error: &io::Error) -> Outcome {
    match error.kind() {
        // A TCP RST, or an ICMP port unreachable reported on a connected UDP socket.
        io::ErrorKind::ConnectionRefused => Outcome::Refused,
        // Also ICMP "administratively prohibited", which is how REJECT rules often answer.
        io::ErrorKind::HostUnreachable | io::ErrorKind::NetworkUnreachable => {
            Outcome::Unreachable {
                detail: error.to_string(),
            }
        }
        // EPERM on connect or send: a packet filter in the pod's own network namespace (or a
        // cgroup socket hook) dropped it before it left, which is a denial seen locally.
        io::ErrorKind::PermissionDenied => Outcome::Unreachable {
            detail: format!("blocked locally: {error}"),
        },
        // The kernel gave up (SYN retries exhausted): no answer, as with our own deadline.
        io::ErrorKind::TimedOut => Outcome::Timeout,
        // No local address or port to send from: nothing was sent, so nothing was observed.
        io::ErrorKind::AddrNotAvailable | io::ErrorKind::AddrInUse => {
            could_not_run(format!("no usable local address: {error}"))
        }
        _ => network_error(error.to_string()),
    }
}
