//! HTTP(S) GET: the status and which agent answered. Certificates are not checked (test servers
//! are self-signed), redirects are not followed (a 3xx is what was observed), and no proxy from
//! the environment is used (it would test the proxy, not the pod network).

use std::error::Error;
use std::io;
use std::net::SocketAddr;
use std::sync::Once;

use reqwest::{Url, redirect};

use super::{ProbeOutcome, ProbeSettings, could_not_run, describe, network_error, socket};
use crate::probe::{Outcome, POD_NAME_HEADER};

pub(super) async fn probe(url: &str, settings: &ProbeSettings<'_>) -> ProbeOutcome {
    let url =
        Url::parse(url).map_err(|error| could_not_run(format!("invalid URL {url:?}: {error}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(could_not_run(format!("not an http(s) URL: {url}")));
    }
    install_crypto_provider();
    let mut client = reqwest::Client::builder()
        .no_proxy()
        .tls_danger_accept_invalid_certs(true)
        .redirect(redirect::Policy::none())
        .timeout(settings.timeout);
    // Resolved here, so reqwest never falls back to getaddrinfo (see `resolve`).
    if let Some(domain) = url.domain() {
        let address = settings
            .names
            .resolve_host(domain, settings.timeout)
            .await?;
        client = client.resolve(domain, SocketAddr::new(address, 0));
    }
    if let Some(interface) = settings.interface {
        client = client.interface(interface);
    }
    let client = client.build().map_err(|error| {
        could_not_run(format!(
            "cannot build the HTTP client: {}",
            describe(&error)
        ))
    })?;
    // Timed to the response headers: connection, TLS handshake, request and the server's answer.
    settings.stopwatch.start();
    Ok(match client.get(url).send().await {
        Ok(response) => Outcome::HttpStatus {
            status: response.status().as_u16(),
            server: response
                .headers()
                .get(POD_NAME_HEADER)
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned),
        },
        Err(error) => outcome_of_request_error(&error),
    })
}

/// reqwest is built without a default rustls provider; the first probe installs ring's. An
/// `Err` means the process already has one (e.g. installed by the CLI), which is as good.
fn install_crypto_provider() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let _already_installed = rustls::crypto::ring::default_provider().install_default();
    });
}

fn outcome_of_request_error(error: &reqwest::Error) -> Outcome {
    if error.is_timeout() {
        return Outcome::Timeout;
    }
    match io_error_within(error) {
        Some(io_error) => match socket::outcome_of_io_error(io_error) {
            // Keep reqwest's context ("error sending request", TLS handshake ...) in the detail.
            Outcome::NetworkError { .. } => network_error(describe(error)),
            outcome => outcome,
        },
        None => network_error(describe(error)),
    }
}

/// The io error a connect or read failure wraps, several layers down (hyper-util, hyper).
fn io_error_within(error: &reqwest::Error) -> Option<&io::Error> {
    let mut source = error.source();
    while let Some(cause) = source {
        if let Some(io_error) = cause.downcast_ref::<io::Error>() {
            return Some(io_error);
        }
        source = cause.source();
    }
    None
}
