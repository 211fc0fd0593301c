//! A deadline on every request to the API server, as a layer of the client's service stack.
//!
//! kube's `read_timeout` is a socket idle timeout shared by every kind of request: long enough
//! for a quiet exec session is far too long for a `GET`, and a watch with no events trips it.
//! So the deadline depends on the request instead:
//! - an ordinary request must be answered, body included, within the timeout;
//! - a watch must send its headers within the timeout, and end within its server-side
//!   `timeoutSeconds` plus the timeout (the server closes it by then unless it is stalled);
//! - an upgrade (exec) must be accepted within the timeout; the session has its own deadline.
//!
//! The layer sits outside authentication and kube's retries, so exec credential plugins and
//! retried 503s count against the same deadline.

use hyper::body::{Body, Bytes, Frame};
use hyper::http::{Request, Response};
use kube::client::DynBody;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::{Instant, Sleep};
use tower::{BoxError, Layer, Service};

/// Watches without a `timeoutSeconds` are closed by kube-apiserver after this long.
const DEFAULT_WATCH_SECONDS: u64 = 290;

/// A request that got no (complete) answer in time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestTimedOut {
    /// `GET /api/v1/nodes`
    pub request: String,
    pub waited: Duration,
    /// Whether the response headers had come (the body then stalled).
    pub headers_received: bool,
}

impl fmt::Display for RequestTimedOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let answer = if self.headers_received {
            "no complete response"
        } else {
            "no response"
        };
        write!(
            f,
            "{}: {answer} within {} s",
            self.request,
            self.waited.as_secs()
        )
    }
}

impl std::error::Error for RequestTimedOut {}

/// Gives each request its deadline (see the module documentation).
#[derive(Debug, Clone, Copy)]
pub struct DeadlineLayer {
    pub timeout: Duration,
}

impl<S> Layer<S> for DeadlineLayer {
    type Service = DeadlineService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        DeadlineService {
            inner,
            timeout: self.timeout,
        }
    }
}

#[derive(Debug, Clone)]
pub struct DeadlineService<S> {
    inner: S,
    timeout: Duration,
}

/// How long each part of one request may take.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Deadlines {
    request: String,
    /// For the response headers, from the start.
    headers: Duration,
    /// For the whole body, from the start; none for upgraded connections.
    body: Option<Duration>,
}

impl Deadlines {
    fn for_request<B>(request: &Request<B>, timeout: Duration) -> Deadlines {
        let uri = request.uri();
        let query = uri.query().unwrap_or_default();
        let is_watch = query
            .split('&')
            .any(|pair| pair == "watch=true" || pair == "watch=1");
        let body = if request.headers().contains_key(hyper::http::header::UPGRADE) {
            None
        } else if is_watch {
            let watch_seconds = query
                .split('&')
                .find_map(|pair| pair.strip_prefix("timeoutSeconds="))
                .and_then(|seconds| seconds.parse().ok())
                .unwrap_or(DEFAULT_WATCH_SECONDS);
            Some(Duration::from_secs(watch_seconds) + timeout)
        } else {
            Some(timeout)
        };
        let watch = if is_watch { " (watch)" } else { "" };
        Deadlines {
            request: format!("{} {}{watch}", request.method(), uri.path()),
            headers: timeout,
            body,
        }
    }

    fn timed_out(&self, waited: Duration, headers_received: bool) -> BoxError {
        Box::new(RequestTimedOut {
            request: self.request.clone(),
            waited,
            headers_received,
        })
    }
}

impl<S, B> Service<Request<B>> for DeadlineService<S>
where
    S: Service<Request<B>, Response = Response<Box<DynBody>>, Error = BoxError>,
    S::Future: Send + 'static,
{
    type Response = Response<DeadlineBody>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let deadlines = Deadlines::for_request(&request, self.timeout);
        let started = Instant::now();
        let response = self.inner.call(request);
        Box::pin(async move {
            let response = tokio::time::timeout_at(started + deadlines.headers, response)
                .await
                .map_err(|_| deadlines.timed_out(deadlines.headers, false))??;
            Ok(response.map(|inner| DeadlineBody {
                inner,
                deadline: deadlines.body.map(|body| {
                    let timed_out = deadlines.timed_out(body, true);
                    (
                        Box::pin(tokio::time::sleep_until(started + body)),
                        Some(timed_out),
                    )
                }),
            }))
        })
    }
}

/// A response body that fails once its deadline has passed.
pub struct DeadlineBody {
    inner: Box<DynBody>,
    /// The deadline, and the error to give when it passes (taken when given).
    deadline: Option<(Pin<Box<Sleep>>, Option<BoxError>)>,
}

impl Body for DeadlineBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        if let Some((sleep, error)) = &mut self.deadline
            && sleep.as_mut().poll(cx).is_ready()
        {
            return Poll::Ready(error.take().map(Err));
        }
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deadlines(uri: &str, upgrade: bool) -> Deadlines {
        let mut request = Request::get(uri);
        if upgrade {
            request = request.header("upgrade", "websocket");
        }
        Deadlines::for_request(&request.body(()).unwrap(), Duration::from_secs(30))
    }

    #[test]
    fn ordinary_requests_must_be_answered_whole_within_the_timeout() {
        assert_eq!(
            deadlines("/api/v1/nodes?limit=500", false),
            Deadlines {
                request: "GET /api/v1/nodes".into(),
                headers: Duration::from_secs(30),
                body: Some(Duration::from_secs(30)),
            }
        );
    }

    #[test]
    fn watches_may_last_their_server_side_timeout_and_the_timeout() {
        let watch = deadlines(
            "/api/v1/namespaces?fieldSelector=x&watch=true&timeoutSeconds=60",
            false,
        );
        assert_eq!(watch.request, "GET /api/v1/namespaces (watch)");
        assert_eq!(watch.headers, Duration::from_secs(30));
        assert_eq!(watch.body, Some(Duration::from_secs(90)));
        let default = deadlines("/api/v1/namespaces?watch=1", false);
        assert_eq!(default.body, Some(Duration::from_secs(320)));
    }

    #[test]
    fn upgraded_sessions_only_need_to_be_accepted_in_time() {
        let exec = deadlines("/api/v1/namespaces/a/pods/b/exec?command=x", true);
        assert_eq!(exec.headers, Duration::from_secs(30));
        assert_eq!(exec.body, None);
    }

    #[test]
    fn timeouts_say_what_was_waited_for() {
        let timed_out = RequestTimedOut {
            request: "GET /version".into(),
            waited: Duration::from_secs(30),
            headers_received: false,
        };
        assert_eq!(
            timed_out.to_string(),
            "GET /version: no response within 30 s"
        );
    }
}
