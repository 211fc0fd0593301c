//! `cnicheck cleanup`: removes leftovers of killed runs, by label only.

use cnicheck::cluster;
use cnicheck::exit_code;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, clap::Args)]
pub struct CleanupArgs {
    /// Only this run's objects (the id in namespace names `cnicheck-<run>-...`); all runs otherwise.
    #[arg(long)]
    pub run: Option<String>,
    /// Kubeconfig of the cluster to clean, else `$KUBECONFIG` (a list of files is merged),
    /// ~/.kube/config, the in-cluster config
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context to use instead of its current one
    #[arg(long)]
    pub context: Option<String>,
    /// Seconds the whole cleanup may take: finding the objects and waiting for them to be gone.
    #[arg(long, default_value_t = 180)]
    pub timeout: u64,
    /// Seconds each call to the API server may take (connecting included).
    #[arg(long, value_name = "SECONDS", default_value_t = cluster::DEFAULT_API_TIMEOUT.as_secs(),
          value_parser = clap::value_parser!(u64).range(1..))]
    pub api_timeout: u64,
}

pub fn cleanup(args: CleanupArgs) -> u8 {
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    runtime.block_on(async {
        let cluster::Cluster { client, server } = match cluster::connect(
            args.kubeconfig.as_deref(),
            args.context.as_deref(),
            Duration::from_secs(args.api_timeout),
        )
        .await
        {
            Ok(connected) => connected,
            Err(error) => {
                eprintln!("cnicheck cleanup: {error}");
                return exit_code::TOOL_ERROR;
            }
        };
        match cluster::cleanup_leftovers(
            &client,
            args.run.as_deref(),
            Duration::from_secs(args.timeout),
        )
        .await
        {
            Ok(report) => {
                for removed in &report.removed {
                    eprintln!("removed {removed}");
                }
                for failure in &report.failures {
                    eprintln!("could not remove: {}", server.failed(failure));
                }
                if !report.not_listable.is_empty() {
                    eprintln!(
                        "not searched: {} cluster-scoped resource type(s) this identity may \
                         not list (-v names them)",
                        report.not_listable.len()
                    );
                    tracing::info!("not listable: {}", report.not_listable.join(", "));
                }
                eprintln!(
                    "cleanup: {} removed, {} failed",
                    report.removed.len(),
                    report.failures.len()
                );
                if report.failures.is_empty() {
                    exit_code::SUCCESS
                } else {
                    exit_code::TOOL_ERROR
                }
            }
            Err(error) => {
                eprintln!("cnicheck cleanup: {}", server.failed(&error));
                exit_code::TOOL_ERROR
            }
        }
    })
}
