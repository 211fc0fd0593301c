//! Connecting to the cluster.

use super::ClusterError;
use kube::Client;
use kube::config::{Config, KubeConfigOptions, Kubeconfig};
use std::path::Path;

/// Builds a client from `kubeconfig` (or `$KUBECONFIG` / `~/.kube/config`) and `context` (or
/// the current one), falling back to the in-cluster service account when neither is given
/// and no kubeconfig exists. Exec credential plugins (EKS, GKE) work as in kubectl.
pub async fn connect(
    kubeconfig: Option<&Path>,
    context: Option<&str>,
) -> Result<Client, ClusterError> {
    install_crypto_provider();
    let options = KubeConfigOptions {
        context: context.map(str::to_string),
        ..KubeConfigOptions::default()
    };
    let load_error = |source| ClusterError::LoadKubeconfig {
        path: kubeconfig.map(Path::to_path_buf),
        context: options.context.clone(),
        source: Box::new(source),
    };
    let config = match (kubeconfig, context) {
        (Some(path), _) => {
            let file = Kubeconfig::read_from(path).map_err(load_error)?;
            Config::from_custom_kubeconfig(file, &options)
                .await
                .map_err(load_error)?
        }
        // An explicit context only makes sense for a kubeconfig: never silently go in-cluster.
        (None, Some(_)) => Config::from_kubeconfig(&options)
            .await
            .map_err(load_error)?,
        (None, None) => Config::infer()
            .await
            .map_err(|error| ClusterError::InferConfig(Box::new(error)))?,
    };
    Client::try_from(config).map_err(|error| ClusterError::BuildClient(Box::new(error)))
}

/// rustls needs a process-wide provider when more than one could be linked in (reqwest is
/// built without one); ring is the one our rustls is built with.
fn install_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Err only means another thread installed one first, which is just as good.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}
