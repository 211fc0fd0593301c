//! Connecting to the cluster, with a deadline on every call (see [`super::deadline`]).

use super::deadline::DeadlineLayer;
use super::error::{ApiFailure, Server};
use kube::Client;
use kube::client::ClientBuilder;
use kube::config::{Config, KubeConfigOptions, Kubeconfig};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long a call to the API server may take unless told otherwise: ample for a healthy
/// server across the world, and two of them (a call, then cleanup) still end a run against a
/// stalled one within a minute.
pub const DEFAULT_API_TIMEOUT: Duration = Duration::from_secs(30);

/// Why there is no client for the cluster.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("could not load kubeconfig {from}{}: {}",
        context.as_ref().map(|c| format!(" (context {c})")).unwrap_or_default(),
        super::error::chain_text(source.as_ref()))]
    LoadKubeconfig {
        /// The path, or `$KUBECONFIG=...`.
        from: String,
        context: Option<String>,
        #[source]
        source: Box<kube::config::KubeconfigError>,
    },

    #[error("no kubeconfig found (looked at {looked_at}) and {}; pass --kubeconfig or set KUBECONFIG",
        in_cluster.as_ref().map_or_else(|| "not running in a cluster".to_string(),
            |why| format!("the in-cluster config failed ({why})")))]
    NoKubeconfig {
        looked_at: KubeconfigNotFound,
        /// Why the in-cluster config failed, when cnicheck runs in a pod.
        in_cluster: Option<String>,
    },

    #[error(
        "could not set up a client for API server {server}: {}",
        ApiFailure(source)
    )]
    BuildClient {
        server: Server,
        #[source]
        source: Box<kube::Error>,
    },
}

/// A client, and the server it talks to (for messages).
#[derive(Clone)]
pub struct Cluster {
    pub client: Client,
    pub server: Server,
}

/// Builds a client from `kubeconfig` (or `$KUBECONFIG` / `~/.kube/config`) and `context` (or
/// the current one), falling back to the in-cluster service account when neither is given
/// and no kubeconfig exists. Exec credential plugins (EKS, GKE) work as in kubectl. Every
/// call through the client ends within `api_timeout` (watches: their own length on top).
pub async fn connect(
    kubeconfig: Option<&Path>,
    context: Option<&str>,
    api_timeout: Duration,
) -> Result<Cluster, ConnectError> {
    install_crypto_provider();
    let source = match kubeconfig {
        Some(path) => Ok(KubeconfigSource::Flag(path.to_path_buf())),
        None => KubeconfigSource::from_environment(),
    };
    let load_error = |source: &KubeconfigSource| {
        let from = source.to_string();
        let context = context.map(str::to_string);
        move |error| ConnectError::LoadKubeconfig {
            from,
            context,
            source: Box::new(error),
        }
    };
    let (config, context) = match source {
        Ok(source) => {
            let file = match &source {
                KubeconfigSource::Flag(path) => Kubeconfig::read_from(path),
                KubeconfigSource::Environment(_) | KubeconfigSource::Home(_) => Kubeconfig::read(),
            }
            .map_err(load_error(&source))?;
            let context = context
                .map(str::to_string)
                .or_else(|| file.current_context.clone());
            let options = KubeConfigOptions {
                context: context.clone(),
                ..KubeConfigOptions::default()
            };
            let config = Config::from_custom_kubeconfig(file, &options)
                .await
                .map_err(load_error(&source))?;
            (config, context)
        }
        // An explicit context only makes sense for a kubeconfig: never silently go in-cluster.
        Err(looked_at) if context.is_some() => return Err(no_kubeconfig(looked_at, None)),
        Err(looked_at) => match Config::incluster() {
            Ok(config) => (config, None),
            Err(error) => return Err(no_kubeconfig(looked_at, Some(error))),
        },
    };
    let server = Server {
        url: config
            .cluster_url
            .to_string()
            .trim_end_matches('/')
            .to_string(),
        context,
    };
    let client = build_client(config, api_timeout).map_err(|error| ConnectError::BuildClient {
        server: server.clone(),
        source: Box::new(error),
    })?;
    Ok(Cluster { client, server })
}

/// The client for `config`, every call of which has a deadline of `api_timeout`.
pub(super) fn build_client(
    mut config: Config,
    api_timeout: Duration,
) -> Result<Client, kube::Error> {
    config.connect_timeout = Some(api_timeout);
    config.write_timeout = Some(api_timeout);
    // Left unset on purpose: it is a socket idle timeout that would cut quiet exec sessions;
    // the deadline layer bounds requests instead.
    config.read_timeout = None;
    Ok(ClientBuilder::try_from(config)?
        .with_layer(&DeadlineLayer {
            timeout: api_timeout,
        })
        .build())
}

/// Where cnicheck looked for a kubeconfig and found none.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KubeconfigNotFound {
    #[error("$KUBECONFIG={0} (no such file)")]
    Environment(String),
    #[error("$KUBECONFIG (unset), {}", .0.display())]
    Home(PathBuf),
    #[error("$KUBECONFIG (unset), ~/.kube/config (no home directory)")]
    NoHome,
}

/// Where the kubeconfig comes from.
enum KubeconfigSource {
    Flag(PathBuf),
    /// `$KUBECONFIG`, as set (a list of files is merged).
    Environment(String),
    /// `~/.kube/config`
    Home(PathBuf),
}

impl KubeconfigSource {
    /// `$KUBECONFIG` if it names a file that exists, else `~/.kube/config` if `$KUBECONFIG`
    /// is unset and it exists (as kubectl). Err says where it looked.
    fn from_environment() -> Result<KubeconfigSource, KubeconfigNotFound> {
        match std::env::var_os("KUBECONFIG").filter(|value| !value.is_empty()) {
            Some(value) if std::env::split_paths(&value).any(|path| path.exists()) => Ok(
                KubeconfigSource::Environment(value.to_string_lossy().into_owned()),
            ),
            Some(value) => Err(KubeconfigNotFound::Environment(
                value.to_string_lossy().into_owned(),
            )),
            None => match home_kubeconfig() {
                Some(path) if path.exists() => Ok(KubeconfigSource::Home(path)),
                Some(path) => Err(KubeconfigNotFound::Home(path)),
                None => Err(KubeconfigNotFound::NoHome),
            },
        }
    }
}

impl std::fmt::Display for KubeconfigSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KubeconfigSource::Flag(path) | KubeconfigSource::Home(path) => {
                write!(f, "{}", path.display())
            }
            KubeconfigSource::Environment(value) => write!(f, "$KUBECONFIG={value}"),
        }
    }
}

fn home_kubeconfig() -> Option<PathBuf> {
    std::env::home_dir().map(|home| home.join(".kube").join("config"))
}

/// Neither a kubeconfig nor an in-cluster service account. Being in a pod without a token is
/// worth its own words; not being in a pod at all is the usual case and needs none.
fn no_kubeconfig(
    looked_at: KubeconfigNotFound,
    in_cluster: Option<kube::config::InClusterError>,
) -> ConnectError {
    let in_cluster = in_cluster
        .filter(|_| std::env::var_os("KUBERNETES_SERVICE_HOST").is_some())
        .map(|error| super::error::chain_text(&error));
    ConnectError::NoKubeconfig {
        looked_at,
        in_cluster,
    }
}

/// rustls needs a process-wide provider when more than one could be linked in (reqwest is
/// built without one); ring is the one our rustls is built with.
fn install_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Err only means another thread installed one first, which is just as good.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}
