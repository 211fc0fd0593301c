//! The HTTP target: 200 for any path, `/status/NNN` answers NNN, and every response names the
//! answering pod in [`POD_NAME_HEADER`] so a probe through a Service can tell who answered.

use std::convert::Infallible;
use std::sync::Arc;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};

use super::accept_each;
use crate::probe::{HEALTHZ_PATH, POD_NAME_HEADER};

const STATUS_PATH_PREFIX: &str = "/status/";

pub(super) async fn serve(listener: TcpListener, pod_name: Arc<str>) {
    let pod_header = HeaderValue::from_str(&pod_name).ok();
    if pod_header.is_none() {
        tracing::warn!(%pod_name, "pod name is not a valid header value; not sent");
    }
    accept_each(listener, "http", |stream| {
        serve_connection(stream, pod_header.clone())
    })
    .await;
}

async fn serve_connection(stream: TcpStream, pod_header: Option<HeaderValue>) {
    let service = hyper::service::service_fn(move |request| {
        let response = respond(&request, pod_header.clone());
        async move { Ok::<_, Infallible>(response) }
    });
    let connection =
        hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service);
    if let Err(error) = connection.await {
        tracing::debug!(%error, "http connection ended with an error");
    }
}

fn respond(request: &Request<Incoming>, pod_header: Option<HeaderValue>) -> Response<Full<Bytes>> {
    let status = if matches!(*request.method(), Method::GET | Method::HEAD) {
        requested_status(request.uri().path())
    } else {
        StatusCode::METHOD_NOT_ALLOWED
    };
    let body = match request.uri().path() {
        HEALTHZ_PATH => "ok\n".to_owned(),
        _ => format!("cnicheck agent: {}\n", status.as_u16()),
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    if let Some(pod_header) = pod_header {
        headers.insert(POD_NAME_HEADER, pod_header);
    }
    response
}

/// `/status/NNN` → NNN for final statuses (200..=599), 400 for anything else under
/// `/status/`; 200 for every other path.
fn requested_status(path: &str) -> StatusCode {
    let Some(code) = path.strip_prefix(STATUS_PATH_PREFIX) else {
        return StatusCode::OK;
    };
    code.parse::<u16>()
        .ok()
        .filter(|code| (200..=599).contains(code))
        .and_then(|code| StatusCode::from_u16(code).ok())
        .unwrap_or(StatusCode::BAD_REQUEST)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_paths_answer_final_statuses_only() {
        assert_eq!(requested_status("/"), StatusCode::OK);
        assert_eq!(requested_status("/anything"), StatusCode::OK);
        assert_eq!(requested_status("/status/403"), StatusCode::FORBIDDEN);
        assert_eq!(requested_status("/status/599").as_u16(), 599);
        assert_eq!(requested_status("/status/101"), StatusCode::BAD_REQUEST);
        assert_eq!(requested_status("/status/600"), StatusCode::BAD_REQUEST);
        assert_eq!(requested_status("/status/abc"), StatusCode::BAD_REQUEST);
    }
}
