//! A small HTTP/1.1 GET client for the example exporters, built on hyper (already
//! in the tree through axum). Plain `http://` only, one connection per request, a
//! timeout over the whole exchange and a cap on the body size.

// Not every example reads every field.
#![allow(dead_code)]

use std::fmt;
use std::time::Duration;

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper::{Request, Uri};
use hyper_util::rt::TokioIo;

/// Bodies larger than this are refused rather than buffered.
pub(crate) const MAX_BODY: usize = 16 << 20;

/// A response: status, `Content-Type` and the whole body.
#[derive(Debug)]
pub(crate) struct Response {
    pub(crate) status: u16,
    pub(crate) content_type: Option<String>,
    pub(crate) body: Bytes,
}

/// Why a GET failed, in words fit for a log line.
#[derive(Debug)]
pub(crate) struct GetError(pub String);

impl fmt::Display for GetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for GetError {}

/// Checks that `url` is an `http://host[:port]/path` URL this client can fetch.
pub(crate) fn check_url(url: &str) -> Result<Uri, GetError> {
    let uri: Uri = url
        .parse()
        .map_err(|e| GetError(format!("invalid URL {url:?}: {e}")))?;
    if uri.scheme_str() != Some("http") || uri.host().is_none() {
        return Err(GetError(format!(
            "unsupported URL {url:?}: only http://host[:port]/path is supported"
        )));
    }
    Ok(uri)
}

/// GETs `url` as JSON: an answer other than 200, or JSON that does not fit `T`, is
/// an error.
pub(crate) async fn get_json<T: serde::de::DeserializeOwned>(
    url: &str,
    timeout: Duration,
) -> Result<T, GetError> {
    let response = get(url, "application/json", timeout).await?;
    if response.status != 200 {
        return Err(GetError(format!("{url} answered HTTP {}", response.status)));
    }
    serde_json::from_slice(&response.body)
        .map_err(|e| GetError(format!("{url} sent JSON of the wrong shape: {e}")))
}

/// GETs `url`, giving up after `timeout`.
pub(crate) async fn get(url: &str, accept: &str, timeout: Duration) -> Result<Response, GetError> {
    get_limited(url, accept, timeout, MAX_BODY).await
}

/// GETs `url`, giving up after `timeout` or when the body is larger than
/// `max_body` bytes. Dropping the future closes the connection.
pub(crate) async fn get_limited(
    url: &str,
    accept: &str,
    timeout: Duration,
    max_body: usize,
) -> Result<Response, GetError> {
    let uri = check_url(url)?;
    match tokio::time::timeout(timeout, exchange(uri, accept, max_body)).await {
        Ok(result) => result,
        Err(_) => Err(GetError(format!(
            "no complete answer from {url} within {timeout:?}"
        ))),
    }
}

/// A task aborted when this is dropped: the connection of an exchange whose
/// caller went away ends with it.
struct AbortOnDrop(tokio::task::JoinHandle<Result<(), hyper::Error>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn exchange(uri: Uri, accept: &str, max_body: usize) -> Result<Response, GetError> {
    let host = uri.host().unwrap_or_default();
    let port = uri.port_u16().unwrap_or(80);
    let stream = tokio::net::TcpStream::connect((host, port))
        .await
        .map_err(|e| GetError(format!("cannot connect to {host}:{port}: {e}")))?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| GetError(format!("HTTP handshake with {host}:{port} failed: {e}")))?;
    let _driver = AbortOnDrop(tokio::spawn(connection));
    let authority = uri.authority().map(|a| a.to_string()).unwrap_or_default();
    let path = uri.path_and_query().map_or("/", |p| p.as_str()).to_owned();
    let request = Request::get(path)
        .header(hyper::header::HOST, authority)
        .header(hyper::header::ACCEPT, accept)
        .body(Empty::<Bytes>::new())
        .map_err(|e| GetError(format!("cannot build the request: {e}")))?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| GetError(format!("request to {uri} failed: {e}")))?;
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get(hyper::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    // Read into one buffer of the announced size, rather than collected in
    // pieces and then copied whole: the body is held once, not twice.
    let announced = response
        .headers()
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if announced.is_some_and(|n| n > max_body) {
        return Err(GetError(format!(
            "{uri} sent a body larger than {max_body} bytes"
        )));
    }
    let mut body = Vec::with_capacity(announced.unwrap_or(64 << 10));
    let mut incoming = response.into_body();
    while let Some(frame) = incoming.frame().await {
        let frame =
            frame.map_err(|e| GetError(format!("reading the body from {uri} failed: {e}")))?;
        if let Ok(data) = frame.into_data() {
            if body.len() + data.len() > max_body {
                return Err(GetError(format!(
                    "{uri} sent a body larger than {max_body} bytes"
                )));
            }
            body.extend_from_slice(&data);
        }
    }
    let body = Bytes::from(body);
    Ok(Response {
        status,
        content_type,
        body,
    })
}
