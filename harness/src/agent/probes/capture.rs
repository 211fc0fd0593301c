//! Looking for a marker in plaintext on a node's wire (`expect: encrypted`). An AF_PACKET socket
//! on the interface that holds the node's address sees every frame that leaves or arrives
//! there, whole, before anything on the node decrypts it (WireGuard and IPsec hand decrypted
//! packets up on devices of their own): a marker found there crossed between the nodes
//! readable. One buffer, reused, whatever the traffic: memory stays bounded.

use std::io;
use std::mem::MaybeUninit;
use std::net::IpAddr;
use std::os::fd::AsRawFd;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use nix::ifaddrs::getifaddrs;
use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

use super::{ProbeOutcome, ProbeSettings, could_not_run, interface, udp};
use crate::probe::Outcome;

/// Large enough for any frame on a standard or jumbo-frame link (and for GRO's merged ones,
/// which are cut to this length: a marker early in a datagram is in the first bytes).
const FRAME_BUFFER: usize = 65_536;

pub(super) async fn probe(
    address: &str,
    marker: &str,
    settings: &ProbeSettings<'_>,
) -> ProbeOutcome {
    udp::check_marker(marker)?;
    let address: IpAddr = address
        .parse()
        .map_err(|_| could_not_run(format!("`{address}` is not an IP address to capture at")))?;
    let interface = interface_holding(address)?;
    let socket = open(&interface).map_err(|error| match error.kind() {
        io::ErrorKind::PermissionDenied => could_not_run(
            "capturing frames needs a packet socket: the pod needs CAP_NET_RAW (cnicheck grants \
             it to host-network workloads)",
        ),
        _ => could_not_run(format!("cannot capture on {interface}: {error}")),
    })?;
    let from_unix_ms = unix_ms();
    let mut frames = 0;
    let watched = tokio::time::timeout(
        settings.timeout,
        until_marker(&socket, marker.as_bytes(), &mut frames),
    )
    .await;
    Ok(match watched {
        Ok(Ok(())) => Outcome::MarkerCaptured { interface },
        Ok(Err(error)) => could_not_run(format!("reading frames on {interface}: {error}")),
        Err(_elapsed) => Outcome::MarkerNotCaptured {
            interface,
            frames,
            from_unix_ms,
            until_unix_ms: unix_ms(),
        },
    })
}

/// Milliseconds since the Unix epoch on this node's clock, to line a capture up with a probe
/// sent from another node.
pub(super) fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| {
            u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
        })
}

/// The interface that holds `address`: the node's own, which its traffic to other nodes
/// crosses.
fn interface_holding(address: IpAddr) -> Result<String, Outcome> {
    let entries = getifaddrs()
        .map_err(|error| could_not_run(format!("cannot list the node's interfaces: {error}")))?;
    for entry in entries {
        if entry.address.as_ref().and_then(interface::ip_of) == Some(address) {
            return Ok(entry.interface_name);
        }
    }
    Err(could_not_run(format!(
        "no interface here holds {address}: the capture must run in the network namespace of \
         the node with that address (a host-network pod on it)"
    )))
}

fn open(interface: &str) -> io::Result<AsyncFd<Socket>> {
    let every_protocol = (libc::ETH_P_ALL as u16).to_be();
    let socket = Socket::new(
        Domain::PACKET,
        Type::RAW,
        Some(Protocol::from(i32::from(every_protocol))),
    )?;
    let index = nix::net::if_::if_nametoindex(interface).map_err(io::Error::from)?;
    // SAFETY: sockaddr_ll is plain data, valid when zeroed; bind reads exactly its size.
    let bound = unsafe {
        let mut link: libc::sockaddr_ll = std::mem::zeroed();
        link.sll_family = libc::AF_PACKET as u16;
        link.sll_protocol = every_protocol;
        link.sll_ifindex = i32::try_from(index).map_err(io::Error::other)?;
        libc::bind(
            socket.as_raw_fd(),
            std::ptr::from_ref(&link).cast(),
            std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    };
    if bound != 0 {
        return Err(io::Error::last_os_error());
    }
    socket.set_nonblocking(true)?;
    // SAFETY: the Socket owns its descriptor and keeps it open, unchanged, until dropped,
    // which only happens when the AsyncFd holding it is.
    Ok(unsafe { AsyncFd::register_with_interest(socket, Interest::READABLE) }?)
}

/// Reads frames, counting them, until one carries `marker` anywhere in its bytes.
async fn until_marker(socket: &AsyncFd<Socket>, marker: &[u8], frames: &mut u64) -> io::Result<()> {
    let mut buffer = vec![MaybeUninit::<u8>::uninit(); FRAME_BUFFER];
    let started = Instant::now();
    loop {
        let mut ready = socket.readable().await?;
        let length = match ready.try_io(|socket| socket.get_ref().recv(&mut buffer)) {
            Ok(received) => received?,
            Err(_would_block) => continue,
        };
        *frames += 1;
        // SAFETY: recv initialized the first `length` bytes.
        let frame: &[u8] = unsafe { std::slice::from_raw_parts(buffer.as_ptr().cast(), length) };
        if udp::contains(frame, marker) {
            tracing::debug!(frames, elapsed = ?started.elapsed(), "marker captured");
            return Ok(());
        }
    }
}
