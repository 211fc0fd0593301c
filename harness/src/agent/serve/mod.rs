//! `cnicheck agent serve`: the probe targets every agent pod offers.
//!
//! Everything is bound before anything is served, so `/healthz` answering means every port is
//! open. The process is PID 1 of a scratch image: the kernel ignores signals PID 1 has no handler
//! for, so SIGTERM (and SIGINT, for a terminal) are handled explicitly and end the server cleanly.

mod echo;
mod http;
mod listen;

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::signal::unix::{SignalKind, signal};
use tokio::task::JoinSet;

use super::AgentError;
use crate::probe::ports;

#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// Name reported to clients (HTTP header, UDP echo); the hostname, which in a pod is the pod
    /// name, when unset.
    #[arg(long, env = "POD_NAME")]
    pub pod_name: Option<String>,
    /// Listen on this address only; every IPv6 and IPv4 address by default.
    #[arg(long)]
    pub listen_address: Option<IpAddr>,
    #[arg(long, default_value_t = ports::HTTP)]
    pub http_port: u16,
    #[arg(long, default_value_t = ports::HTTP_ALT)]
    pub http_alt_port: u16,
    #[arg(long, default_value_t = ports::TCP_ECHO)]
    pub tcp_echo_port: u16,
    #[arg(long, default_value_t = ports::UDP_ECHO)]
    pub udp_echo_port: u16,
    /// An extra TCP port, served as HTTP (a tcp probe needs only the handshake), where it is free
    /// (node-port checks: where the node already serves it, like cilium-health on 4240, probes
    /// reach that server instead); repeatable.
    #[arg(long = "tcp-listen", value_name = "PORT")]
    pub extra_tcp_ports: Vec<u16>,
    /// An extra UDP echo port; repeatable.
    #[arg(long = "udp-listen", value_name = "PORT")]
    pub extra_udp_ports: Vec<u16>,
}

/// Serves until SIGTERM or SIGINT, then returns `Ok` (the process should exit 0).
pub async fn run_serve(args: ServeArgs) -> Result<(), AgentError> {
    let mut terminate = signal(SignalKind::terminate()).map_err(AgentError::Signal)?;
    let mut interrupt = signal(SignalKind::interrupt()).map_err(AgentError::Signal)?;
    let agent = BoundAgent::bind(&args)?;
    tracing::info!(pod = %agent.pod_name, addresses = ?agent.addresses(), "agent serving");
    agent
        .serve_until(async {
            tokio::select! {
                _ = terminate.recv() => tracing::info!("SIGTERM: stopping"),
                _ = interrupt.recv() => tracing::info!("SIGINT: stopping"),
            }
        })
        .await
}

/// Where a bound agent listens; the first entry of each list is the standard port, extra
/// listeners follow in the order given (where their ports were free).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenAddresses {
    /// [`ServeArgs::http_port`], [`ServeArgs::http_alt_port`], then the extra TCP ports.
    pub http: Vec<SocketAddr>,
    pub tcp_echo: SocketAddr,
    pub udp_echo: Vec<SocketAddr>,
}

/// An agent whose sockets are all bound but not yet served.
pub struct BoundAgent {
    pod_name: Arc<str>,
    addresses: ListenAddresses,
    http: Vec<TcpListener>,
    tcp_echo: TcpListener,
    udp_echo: Vec<UdpSocket>,
}

impl BoundAgent {
    pub fn bind(args: &ServeArgs) -> Result<Self, AgentError> {
        let listen_error = |protocol, port| {
            move |source| AgentError::Listen {
                protocol,
                port,
                source,
            }
        };
        let tcp = |port| listen::tcp(args.listen_address, port).map_err(listen_error("tcp", port));
        let udp = |port| listen::udp(args.listen_address, port).map_err(listen_error("udp", port));
        let (mut http, mut http_addresses) = [args.http_port, args.http_alt_port]
            .into_iter()
            .map(tcp)
            .collect::<Result<(Vec<_>, Vec<_>), _>>()?;
        let (tcp_echo, tcp_echo_address) = tcp(args.tcp_echo_port)?;
        let (udp_echo, udp_echo_addresses) = udp(args.udp_echo_port)?;
        let (mut udp_echo, mut udp_echo_addresses) = (vec![udp_echo], vec![udp_echo_addresses]);
        // Extra TCP ports serve HTTP: a tcp probe needs only the handshake, an http probe an answer.
        let (extra_http, extra_http_addresses) = extra_ports(&args.extra_tcp_ports, |port| {
            listen::tcp(args.listen_address, port)
        })
        .map_err(|(port, source)| listen_error("tcp", port)(source))?;
        http.extend(extra_http);
        http_addresses.extend(extra_http_addresses);
        let (extra_udp, extra_udp_addresses) = extra_ports(&args.extra_udp_ports, |port| {
            listen::udp(args.listen_address, port)
        })
        .map_err(|(port, source)| listen_error("udp", port)(source))?;
        udp_echo.extend(extra_udp);
        udp_echo_addresses.extend(extra_udp_addresses);
        Ok(BoundAgent {
            pod_name: args
                .pod_name
                .clone()
                .filter(|name| !name.is_empty())
                .unwrap_or_else(hostname)
                .into(),
            addresses: ListenAddresses {
                http: http_addresses,
                tcp_echo: tcp_echo_address,
                udp_echo: udp_echo_addresses,
            },
            http,
            tcp_echo,
            udp_echo,
        })
    }

    pub fn addresses(&self) -> &ListenAddresses {
        &self.addresses
    }

    /// Serves until `shutdown` completes; in-flight connections are dropped then.
    pub async fn serve_until(self, shutdown: impl Future<Output = ()>) -> Result<(), AgentError> {
        let mut listeners = JoinSet::new();
        for listener in self.http {
            listeners.spawn(http::serve(listener, self.pod_name.clone()));
        }
        listeners.spawn(echo::serve_tcp(self.tcp_echo));
        for socket in self.udp_echo {
            listeners.spawn(echo::serve_udp(socket, self.pod_name.clone()));
        }
        tokio::select! {
            () = shutdown => Ok(()),
            // Listener loops never return on their own: reaching this means one panicked.
            Some(Err(stopped)) = listeners.join_next() => Err(AgentError::ListenerStopped(stopped)),
        }
    }
}

/// Each extra port's socket where the port is free: a port the host already serves (a
/// host-network agent's node: cilium-health on 4240) is left to its server, which the probes
/// then reach. Any other failure is the port's, with the error.
fn extra_ports<S>(
    ports: &[u16],
    bind: impl Fn(u16) -> std::io::Result<(S, SocketAddr)>,
) -> Result<(Vec<S>, Vec<SocketAddr>), (u16, std::io::Error)> {
    let (mut sockets, mut addresses) = (Vec::new(), Vec::new());
    for &port in ports {
        match bind(port) {
            Ok((socket, address)) => {
                sockets.push(socket);
                addresses.push(address);
            }
            Err(error) if error.kind() == std::io::ErrorKind::AddrInUse => {
                tracing::info!(
                    port,
                    "port already served here; probes will reach that server"
                );
            }
            Err(error) => return Err((port, error)),
        }
    }
    Ok((sockets, addresses))
}

/// Pause after a failed accept (e.g. out of file descriptors) instead of spinning.
const ACCEPT_RETRY_DELAY: Duration = Duration::from_millis(100);

/// Accepts connections forever, running `handle` on each. Connections live in a set owned by
/// this loop, so they end when the loop's task is aborted (JoinSet aborts on drop).
async fn accept_each<Handled>(
    listener: TcpListener,
    service: &'static str,
    handle: impl Fn(TcpStream) -> Handled,
) where
    Handled: Future<Output = ()> + Send + 'static,
{
    let mut connections = JoinSet::new();
    loop {
        match listener.accept().await {
            Ok((stream, _peer)) => {
                connections.spawn(handle(stream));
            }
            Err(error) => {
                tracing::warn!(%error, service, "accept failed");
                tokio::time::sleep(ACCEPT_RETRY_DELAY).await;
            }
        }
        // Reap finished connections so the set does not grow with every client.
        while connections.try_join_next().is_some() {}
    }
}

/// The kernel's hostname: a pod's hostname is its name (unless the pod spec sets `hostname`).
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_owned())
        .ok()
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "unknown".to_owned())
}
