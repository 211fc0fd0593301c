//! What a failed call to the API server means, in words, with the fix: the one place that
//! reads [`kube::Error`]s (their Display is a Debug dump of the Status, and every transport
//! failure reads `client error (Connect)`).
//!
//! [`ApiFailure`] walks the error's source chain down to the cause that tells them apart: the
//! deadline of [`super::deadline`], an [`std::io::ErrorKind`], a rustls error, the API's Status.

use super::deadline::RequestTimedOut;
use kube::core::Status;
use std::error::Error as StdError;
use std::fmt;

/// The API server cnicheck talks to, as the user would recognise it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Server {
    /// `https://127.0.0.1:16443`
    pub url: String,
    /// The kubeconfig context it came from; none in-cluster.
    pub context: Option<String>,
}

impl fmt::Display for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.url)?;
        if let Some(context) = &self.context {
            write!(f, " (context {context})")?;
        }
        Ok(())
    }
}

impl Server {
    /// Names this server in front of an error that happened while talking to it.
    pub fn failed<'a, E: fmt::Display>(&'a self, error: &'a E) -> OnServer<'a, E> {
        OnServer {
            server: self,
            error,
        }
    }
}

/// An error, prefixed by the server it happened on.
pub struct OnServer<'a, E> {
    server: &'a Server,
    error: &'a E,
}

impl<E: fmt::Display> fmt::Display for OnServer<'_, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "API server {}: {}", self.server, self.error)
    }
}

/// What went wrong with one call, told apart by cause.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// The request got no (complete) answer before its deadline.
    TimedOut,
    /// Nothing listens at the address.
    Refused,
    /// The TCP connection was not set up in time.
    ConnectTimedOut,
    /// The server's name does not resolve.
    Dns,
    /// The TLS handshake failed (certificates).
    Tls,
    /// The connection broke or was closed without an answer.
    Broken,
    /// The credential plugin or token source failed before anything was sent.
    Credentials,
    /// The server answered with this HTTP status.
    Status(u16),
    /// Anything else (an answer cnicheck could not read, a request it could not build).
    Other,
}

impl FailureKind {
    /// Whether the server could not be reached at all: further calls would fail the same way.
    pub fn is_unreachable(self) -> bool {
        matches!(
            self,
            FailureKind::TimedOut
                | FailureKind::Refused
                | FailureKind::ConnectTimedOut
                | FailureKind::Dns
                | FailureKind::Tls
                | FailureKind::Broken
        )
    }
}

/// Renders a [`kube::Error`] as what failed and how to fix it.
pub struct ApiFailure<'a>(pub &'a kube::Error);

impl ApiFailure<'_> {
    pub fn kind(&self) -> FailureKind {
        if let kube::Error::Api(status) = self.0 {
            return FailureKind::Status(status.code);
        }
        if matches!(self.0, kube::Error::Auth(_)) {
            return FailureKind::Credentials;
        }
        for cause in causes(self.0) {
            if cause.is::<RequestTimedOut>() {
                return FailureKind::TimedOut;
            }
            if cause.is::<rustls::Error>() {
                return FailureKind::Tls;
            }
            if let Some(io) = cause.downcast_ref::<std::io::Error>() {
                use std::io::ErrorKind;
                match io.kind() {
                    ErrorKind::ConnectionRefused => return FailureKind::Refused,
                    ErrorKind::TimedOut => return FailureKind::ConnectTimedOut,
                    ErrorKind::ConnectionReset
                    | ErrorKind::ConnectionAborted
                    | ErrorKind::BrokenPipe
                    | ErrorKind::UnexpectedEof => return FailureKind::Broken,
                    _ => {}
                }
            }
            if let Some(hyper) = cause.downcast_ref::<hyper::Error>()
                && (hyper.is_incomplete_message() || hyper.is_closed())
            {
                return FailureKind::Broken;
            }
            // hyper-util's connect error is private; its message is the only sign.
            if cause.to_string() == "dns error" {
                return FailureKind::Dns;
            }
        }
        FailureKind::Other
    }

    /// The deepest message of the chain that says something: the cause, in its own words.
    fn root_cause(&self) -> String {
        causes(self.0)
            .last()
            .map(|cause| cause.to_string())
            .unwrap_or_default()
    }
}

impl fmt::Display for ApiFailure<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let kube::Error::Api(status) = self.0 {
            return write_status(f, status);
        }
        match self.kind() {
            FailureKind::TimedOut => {
                let timed_out = causes(self.0)
                    .find_map(|cause| cause.downcast_ref::<RequestTimedOut>())
                    .expect("classified by its presence");
                let what = if timed_out.headers_received {
                    "it sent response headers, then stalled"
                } else {
                    "it accepted the connection but did not answer"
                };
                write!(
                    f,
                    "{timed_out} ({what}); check that the API server is healthy (`kubectl get \
                     --raw /readyz`), or allow a slow link more time with --api-timeout"
                )
            }
            FailureKind::Refused => write!(
                f,
                "connection refused: nothing listens at the server's address; is the cluster \
                 up, and are the kubeconfig and context the right ones?"
            ),
            FailureKind::ConnectTimedOut => write!(
                f,
                "could not connect: timed out ({}); the address does not answer: check it, \
                 and any VPN or firewall on the way",
                self.root_cause()
            ),
            FailureKind::Dns => write!(
                f,
                "the server's name does not resolve ({}); check the server address in the \
                 kubeconfig and this machine's DNS",
                self.root_cause()
            ),
            FailureKind::Tls => write!(
                f,
                "TLS handshake failed: {}; the server's certificate does not match the \
                 kubeconfig's certificate-authority (or server name): fetch a fresh kubeconfig \
                 for this cluster",
                self.root_cause()
            ),
            FailureKind::Broken => write!(
                f,
                "the connection broke before an answer came ({}); is something other than a \
                 Kubernetes API server (a proxy, a load balancer) at that address?",
                self.root_cause()
            ),
            FailureKind::Credentials => write_credentials(f, self.0),
            FailureKind::Status(_) | FailureKind::Other => write!(f, "{}", chain_text(self.0)),
        }
    }
}

/// The answers of the API server, by HTTP status.
fn write_status(f: &mut fmt::Formatter<'_>, status: &Status) -> fmt::Result {
    let message = if status.message.is_empty() {
        status.reason.as_str()
    } else {
        status.message.as_str()
    };
    match status.code {
        401 => write!(
            f,
            "401 Unauthorized: the API server rejected the credentials (an expired or revoked \
             token or certificate, or the kubeconfig user of another cluster); log in again or \
             refresh the kubeconfig (e.g. `aws eks update-kubeconfig`), or choose another \
             --context"
        ),
        403 => {
            write!(f, "403 Forbidden: {message}")?;
            if let Some((verb, resource)) = forbidden_action(message) {
                write!(f, " (this identity may not {verb} {resource})")?;
            }
            write!(
                f,
                "; grant cnicheck's role from manifests/rbac/ (`kubectl apply -f \
                 manifests/rbac/`) or use an identity that has it"
            )
        }
        404 => write!(
            f,
            "404 Not Found: {message}; is this the right cluster, and does it serve this API \
             (is its CRD installed)?"
        ),
        409 => write!(
            f,
            "409 Conflict: {message}; another client changed it at the same time, or a \
             leftover of an earlier run is in the way (`cnicheck cleanup` removes those)"
        ),
        429 => write!(
            f,
            "429 Too Many Requests: {message}; the API server is throttling: retry later"
        ),
        code @ 500..=599 => write!(
            f,
            "{code} {}: {message}; the API server (or an aggregated API or webhook behind it) \
             is failing: check `kubectl get --raw '/readyz?verbose'` and retry",
            if status.reason.is_empty() {
                "Server Error"
            } else {
                status.reason.as_str()
            }
        ),
        code => write!(f, "{code} {}: {message}", status.reason),
    }
}

/// The verb and resource of kube-apiserver's RBAC denial: `nodes is forbidden: User "x"
/// cannot list resource "nodes" in API group "" at the cluster scope`.
fn forbidden_action(message: &str) -> Option<(&str, String)> {
    let rest = message.split_once(" cannot ")?.1;
    let (verb, rest) = rest.split_once(" resource \"")?;
    let (resource, rest) = rest.split_once('"')?;
    let group = rest
        .strip_prefix(" in API group \"")
        .and_then(|rest| rest.split_once('"'))
        .map(|(group, _)| group)
        .filter(|group| !group.is_empty());
    let resource = match group {
        Some(group) => format!("{resource}.{group}"),
        None => resource.to_string(),
    };
    Some((verb, resource))
}

fn write_credentials(f: &mut fmt::Formatter<'_>, error: &kube::Error) -> fmt::Result {
    use kube::client::AuthError;
    match error {
        kube::Error::Auth(AuthError::AuthExecRun { cmd, out }) => {
            let stderr = String::from_utf8_lossy(&out.stderr);
            write!(
                f,
                "the kubeconfig's credential plugin `{cmd}` failed ({}): {}; run it yourself to \
                 see why (often: log in again)",
                out.status,
                stderr.trim()
            )
        }
        _ => write!(
            f,
            "could not get credentials: {}; check the kubeconfig user's token, certificate or \
             credential plugin",
            chain_text(error)
        ),
    }
}

/// The messages of an error and its sources, without the repeats of wrappers that print
/// their source too.
pub(super) fn chain_text(error: &(dyn StdError + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in causes(error) {
        let text = cause.to_string();
        if let Some(last) = parts.last_mut()
            && let Some(outer) = last.strip_suffix(&text)
        {
            *last = outer.trim_end_matches([':', ' ']).to_string();
        }
        parts.push(text);
    }
    parts.retain(|part| !part.is_empty());
    parts.dedup();
    parts.join(": ")
}

/// `error` and its sources, looking inside `std::io::Error`s (whose `source` skips the error
/// they wrap).
fn causes<'a>(
    error: &'a (dyn StdError + 'static),
) -> impl Iterator<Item = &'a (dyn StdError + 'static)> {
    std::iter::successors(
        Some(error),
        |&cause: &&'a (dyn StdError + 'static)| match cause
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            Some(inner) => Some(inner as &(dyn StdError + 'static)),
            None => cause.source(),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(code: u16, reason: &str, message: &str) -> kube::Error {
        kube::Error::Api(Status::failure(message, reason).with_code(code).boxed())
    }

    #[test]
    fn unauthorized_says_credentials_and_no_debug_dump() {
        let error = status(401, "Unauthorized", "Unauthorized");
        let text = ApiFailure(&error).to_string();
        assert!(text.starts_with("401 Unauthorized: "), "{text}");
        assert!(text.contains("credentials"), "{text}");
        assert!(!text.contains("Status {"), "{text}");
        assert_eq!(ApiFailure(&error).kind(), FailureKind::Status(401));
    }

    #[test]
    fn forbidden_names_verb_resource_and_the_rbac_manifests() {
        let error = status(
            403,
            "Forbidden",
            "customresourcedefinitions.apiextensions.k8s.io is forbidden: User \"ci\" cannot \
             list resource \"customresourcedefinitions\" in API group \"apiextensions.k8s.io\" \
             at the cluster scope",
        );
        let text = ApiFailure(&error).to_string();
        assert!(
            text.contains(
                "this identity may not list customresourcedefinitions.apiextensions.k8s.io"
            ),
            "{text}"
        );
        assert!(text.contains("manifests/rbac/"), "{text}");
        let core = forbidden_action(
            "nodes is forbidden: User \"ci\" cannot list resource \"nodes\" in API group \"\" \
             at the cluster scope",
        );
        assert_eq!(core, Some(("list", "nodes".to_string())));
    }

    #[test]
    fn server_errors_and_conflicts_say_what_to_do() {
        let text = ApiFailure(&status(503, "ServiceUnavailable", "etcd is down")).to_string();
        assert!(
            text.starts_with("503 ServiceUnavailable: etcd is down; "),
            "{text}"
        );
        assert!(text.contains("readyz"), "{text}");
        let text = ApiFailure(&status(409, "AlreadyExists", "namespace exists")).to_string();
        assert!(text.contains("cnicheck cleanup"), "{text}");
        let text = ApiFailure(&status(404, "NotFound", "the server could not find it")).to_string();
        assert!(text.starts_with("404 Not Found: "), "{text}");
    }

    #[test]
    fn servers_are_named_with_their_context() {
        let server = Server {
            url: "https://127.0.0.1:16443".into(),
            context: Some("testbed".into()),
        };
        assert_eq!(
            server.failed(&"listing nodes: boom").to_string(),
            "API server https://127.0.0.1:16443 (context testbed): listing nodes: boom"
        );
    }

    #[test]
    fn chains_drop_the_repeats_of_wrappers() {
        let inner = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        let outer = kube::Error::ReadEvents(inner);
        assert_eq!(
            chain_text(&outer),
            "Error reading events stream: no such file"
        );
    }

    /// Real sockets on 127.0.0.1, through the client cnicheck builds.
    mod sockets {
        use super::super::*;
        use crate::cluster::client::build_client;
        use std::time::Duration;

        async fn version_error(port: u16, timeout: Duration) -> kube::Error {
            let url = format!("http://127.0.0.1:{port}").parse().unwrap();
            let client = build_client(kube::Config::new(url), timeout).unwrap();
            client.apiserver_version().await.unwrap_err()
        }

        #[tokio::test]
        async fn a_refused_port_says_refused() {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let port = listener.local_addr().unwrap().port();
            drop(listener);
            let error = version_error(port, Duration::from_secs(5)).await;
            assert_eq!(ApiFailure(&error).kind(), FailureKind::Refused);
            let text = ApiFailure(&error).to_string();
            assert!(text.starts_with("connection refused"), "{text}");
        }

        #[tokio::test]
        async fn a_silent_server_times_out_naming_the_request() {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let port = listener.local_addr().unwrap().port();
            // Accepts and holds the connection, never answers.
            let server = tokio::spawn(async move {
                let (_connection, _) = listener.accept().await.unwrap();
                std::future::pending::<()>().await
            });
            let error = version_error(port, Duration::from_secs(1)).await;
            server.abort();
            assert_eq!(ApiFailure(&error).kind(), FailureKind::TimedOut);
            let text = ApiFailure(&error).to_string();
            assert!(
                text.starts_with("GET /version: no response within 1 s (it accepted"),
                "{text}"
            );
        }

        #[tokio::test]
        async fn a_server_that_stalls_after_the_headers_times_out_too() {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let port = listener.local_addr().unwrap().port();
            let server = tokio::spawn(async move {
                let (mut connection, _) = listener.accept().await.unwrap();
                let mut request = [0; 4096];
                let _ = connection.read(&mut request).await;
                let headers = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                               content-length: 1000\r\n\r\n{";
                connection.write_all(headers.as_bytes()).await.unwrap();
                std::future::pending::<()>().await
            });
            let error = version_error(port, Duration::from_secs(1)).await;
            server.abort();
            let text = ApiFailure(&error).to_string();
            assert!(
                text.starts_with("GET /version: no complete response within 1 s (it sent"),
                "{text}"
            );
        }
    }
}
