//! GET a URL for a poller (feature `fetch`): the request an exporter sends to
//! its upstream on every poll, with a timeout over the whole exchange, a cap on
//! the body, request headers, JSON decoding, errors that name the URL and
//! their cause, and the call recorded in an [`HttpClientMetrics`] set.
//!
//! ```no_run
//! # mod promhttp { pub use promhttp_core::*; }
//! use std::time::Duration;
//! use promhttp::fetch::Fetch;
//! use promhttp::{HttpClientMetrics, Registry};
//!
//! #[derive(serde::Deserialize)]
//! struct Status { current_requests: u64 }
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let registry = Registry::new();
//! let calls = HttpClientMetrics::builder().registry(&registry).build()?;
//! let fetch = Fetch::new()
//!     .timeout(Duration::from_secs(5))
//!     .header("authorization", "Bearer s3cret")?
//!     .metrics(&calls);
//! let status: Status = fetch.get_json("http://127.0.0.1:8080/status").await?;
//! # let _ = status.current_requests;
//! # Ok(()) }
//! ```
//!
//! HTTP/1.1, one connection per request; host names are resolved by the
//! system resolver. `https://` is verified with rustls against Mozilla's root
//! certificates (compiled in, `webpki-roots`) and any CA file given to
//! [`Fetch::ca_file`]; a certificate that does not verify is an error naming
//! why (`UnknownIssuer`, `NotValidForName`, an expired one).

use std::error::Error as StdError;
use std::fmt;
use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::rustls::{self, pki_types::pem::PemObject, pki_types::CertificateDer};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::header::{HeaderName, HeaderValue};
use hyper::{Request, Uri};
use hyper_util::rt::TokioIo;

use crate::http::{HttpClientMetrics, HttpMethod, RequestGuard, STATUS_FAILED};

/// The default cap on a response body: 16 MiB.
pub const DEFAULT_MAX_BODY: usize = 16 << 20;

/// The default timeout over a whole exchange: 10 s.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// How a poller GETs its upstream; cheap to clone, reusable for every poll.
#[derive(Clone, Debug)]
#[must_use]
pub struct Fetch {
    timeout: Duration,
    max_body: usize,
    headers: Vec<(HeaderName, HeaderValue)>,
    metrics: Option<HttpClientMetrics>,
    /// The TLS settings with the extra roots of [`Fetch::ca_file`]; `None`:
    /// Mozilla's roots alone.
    tls: Option<Arc<rustls::ClientConfig>>,
}

impl Default for Fetch {
    fn default() -> Self {
        Self::new()
    }
}

/// A whole response.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct FetchResponse {
    /// Its status code.
    pub status: u16,
    /// Its `Content-Type`, if it had a readable one.
    pub content_type: Option<String>,
    /// Its body, read whole.
    pub body: Bytes,
}

/// A request other than a plain GET, for the toolkit's own users (the
/// Pushgateway's PUT, POST and DELETE).
pub(crate) struct Outgoing<'a> {
    pub(crate) method: hyper::Method,
    pub(crate) accept: &'a str,
    pub(crate) content_type: Option<&'a str>,
    pub(crate) body: Bytes,
}

impl Fetch {
    /// A fetch with [`DEFAULT_TIMEOUT`], [`DEFAULT_MAX_BODY`], no headers and
    /// no metrics.
    pub fn new() -> Self {
        Self {
            timeout: DEFAULT_TIMEOUT,
            max_body: DEFAULT_MAX_BODY,
            headers: Vec::new(),
            metrics: None,
            tls: None,
        }
    }

    /// Trusts the CA certificates in the PEM file at `path` for `https://`,
    /// beside Mozilla's roots: for an upstream whose certificate an internal CA
    /// signed.
    ///
    /// # Errors
    /// [`FetchErrorKind::InvalidCa`] for a file that cannot be read, holds no
    /// certificate, or one that is not a CA certificate rustls can use.
    pub fn ca_file(mut self, path: impl AsRef<Path>) -> Result<Self, FetchError> {
        let path = path.as_ref();
        let invalid = |detail: String, source: Option<Cause>| FetchError {
            url: String::new(),
            kind: FetchErrorKind::InvalidCa,
            detail,
            source,
        };
        let certificates: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
            .map_err(|e| {
                invalid(
                    format!("cannot read the CA file {}", path.display()),
                    Some(Box::new(e)),
                )
            })?
            .collect::<Result<_, _>>()
            .map_err(|e| {
                invalid(
                    format!("the CA file {} is not PEM certificates", path.display()),
                    Some(Box::new(e)),
                )
            })?;
        if certificates.is_empty() {
            return Err(invalid(
                format!("the CA file {} holds no certificate", path.display()),
                None,
            ));
        }
        let mut roots = mozilla_roots();
        for certificate in certificates {
            roots.add(certificate).map_err(|e| {
                invalid(
                    format!("a certificate in {} is not a usable CA", path.display()),
                    Some(Box::new(e)),
                )
            })?;
        }
        self.tls = Some(Arc::new(client_config(roots).map_err(|e| {
            invalid(
                "the TLS settings cannot be made".to_owned(),
                Some(Box::new(e)),
            )
        })?));
        Ok(self)
    }

    /// Gives up on an exchange (connecting, sending, the whole body) after
    /// `timeout`.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Refuses a body larger than `bytes` rather than buffering it.
    pub fn max_body(mut self, bytes: usize) -> Self {
        self.max_body = bytes;
        self
    }

    /// Sends this header with every request (`Authorization`, an API key).
    ///
    /// # Errors
    /// A name or value that is not a valid header's, without the value in the
    /// message (it may be a secret).
    pub fn header(mut self, name: &str, value: &str) -> Result<Self, FetchError> {
        let invalid = |what: &str| FetchError {
            url: String::new(),
            kind: FetchErrorKind::InvalidHeader,
            detail: format!("invalid header {name:?}: {what}"),
            source: None,
        };
        let name =
            HeaderName::from_bytes(name.as_bytes()).map_err(|_| invalid("not a header name"))?;
        let mut value = HeaderValue::from_str(value)
            .map_err(|_| invalid("the value has characters a header cannot carry"))?;
        value.set_sensitive(true);
        self.headers.push((name, value));
        Ok(self)
    }

    /// Records every request in `metrics`: its latency and status by server,
    /// `status="error"` for one that failed without an answer (refused,
    /// timed out).
    pub fn metrics(mut self, metrics: &HttpClientMetrics) -> Self {
        self.metrics = Some(metrics.clone());
        self
    }

    /// GETs `url` as JSON (`Accept: application/json`): an answer other than
    /// 200, or JSON that does not fit `T`, is an error.
    ///
    /// # Errors
    /// As [`get`](Self::get); [`FetchErrorKind::Status`] for an answer other
    /// than 200 and [`FetchErrorKind::Json`] for a body that does not decode.
    pub async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        url: &str,
    ) -> Result<T, FetchError> {
        let response = self.get(url, "application/json").await?;
        if response.status != 200 {
            return Err(FetchError {
                url: url.to_owned(),
                kind: FetchErrorKind::Status(response.status),
                detail: format!("answered HTTP {}", response.status),
                source: None,
            });
        }
        serde_json::from_slice(&response.body).map_err(|e| FetchError {
            url: url.to_owned(),
            kind: FetchErrorKind::Json,
            detail: "sent JSON of the wrong shape".to_owned(),
            source: Some(Box::new(e)),
        })
    }

    /// GETs `url` with `accept` as its `Accept` header and reads the whole
    /// body. Any status is an answer; the caller judges it.
    ///
    /// # Errors
    /// A [`FetchError`] naming the URL, what failed and its cause.
    pub async fn get(&self, url: &str, accept: &str) -> Result<FetchResponse, FetchError> {
        self.send(
            url,
            Outgoing {
                method: hyper::Method::GET,
                accept,
                content_type: None,
                body: Bytes::new(),
            },
        )
        .await
    }

    /// Sends `out` to `url` and reads the whole answer.
    pub(crate) async fn send(
        &self,
        url: &str,
        out: Outgoing<'_>,
    ) -> Result<FetchResponse, FetchError> {
        let error = |kind, detail: String, source: Option<Cause>| FetchError {
            url: url.to_owned(),
            kind,
            detail,
            source,
        };
        let uri = check_url(url)?;
        let host = uri.host().unwrap_or_default().to_owned();
        let https = uri.scheme_str() == Some("https");
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        let mut guard = self
            .metrics
            .as_ref()
            .and_then(|m| m.start(HttpMethod::from_token(out.method.as_str()), &host, port));
        let exchange = self.exchange(&uri, (&host, port, https), out, &mut guard);
        let result = match tokio::time::timeout(self.timeout, exchange).await {
            Ok(result) => result,
            Err(_) => Err(error(
                FetchErrorKind::Timeout,
                format!("no complete answer within {:?}", self.timeout),
                None,
            )),
        };
        if let (Err(_), Some(guard)) = (&result, guard.as_mut()) {
            // No status yet: no answer came.
            if guard.status().is_none() {
                guard.set_status(STATUS_FAILED);
            }
        }
        result.map_err(|mut e| {
            e.url = url.to_owned();
            e
        })
    }

    async fn exchange(
        &self,
        uri: &Uri,
        (host, port, https): (&str, u16, bool),
        out: Outgoing<'_>,
        guard: &mut Option<RequestGuard>,
    ) -> Result<FetchResponse, FetchError> {
        let fail = |kind, detail: String, source: Cause| FetchError {
            url: String::new(),
            kind,
            detail,
            source: Some(source),
        };
        let stream = tokio::net::TcpStream::connect((host, port))
            .await
            .map_err(|e| {
                fail(
                    FetchErrorKind::Connect,
                    format!("cannot connect to {host}:{port}"),
                    Box::new(e),
                )
            })?;
        let mut builder = Request::builder()
            .method(out.method)
            .uri(uri.path_and_query().map_or("/", |p| p.as_str()))
            .header(
                hyper::header::HOST,
                uri.authority().map_or("", |a| a.as_str()),
            )
            .header(hyper::header::ACCEPT, out.accept);
        if let Some(content_type) = out.content_type {
            builder = builder.header(hyper::header::CONTENT_TYPE, content_type);
        }
        let mut request = builder.body(Full::new(out.body)).map_err(|e| {
            fail(
                FetchErrorKind::InvalidUrl,
                "cannot build the request".to_owned(),
                Box::new(e),
            )
        })?;
        for (name, value) in &self.headers {
            request.headers_mut().append(name.clone(), value.clone());
        }
        let (response, _driver) = if https {
            let config = match &self.tls {
                Some(config) => Arc::clone(config),
                None => default_tls().map_err(|e| {
                    fail(
                        FetchErrorKind::Tls,
                        "the TLS settings cannot be made".to_owned(),
                        Box::new(e),
                    )
                })?,
            };
            let name = rustls::pki_types::ServerName::try_from(host.to_owned()).map_err(|e| {
                fail(
                    FetchErrorKind::InvalidUrl,
                    format!("{host} is not a name a certificate can carry"),
                    Box::new(e),
                )
            })?;
            let tls = tokio_rustls::TlsConnector::from(config)
                .connect(name, stream)
                .await
                .map_err(|e| {
                    fail(
                        FetchErrorKind::Tls,
                        format!("TLS with {host}:{port} failed"),
                        Box::new(e),
                    )
                })?;
            send(tls, request, (host, port)).await?
        } else {
            send(stream, request, (host, port)).await?
        };
        let status = response.status().as_u16();
        if let Some(guard) = guard.as_mut() {
            guard.set_status(status);
            guard.response_started();
        }
        let content_type = response
            .headers()
            .get(hyper::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let too_large = || FetchError {
            url: String::new(),
            kind: FetchErrorKind::BodyTooLarge,
            detail: format!("sent a body larger than {} bytes", self.max_body),
            source: None,
        };
        let announced = response
            .headers()
            .get(hyper::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        if announced.is_some_and(|n| n > self.max_body) {
            return Err(too_large());
        }
        // One buffer of the announced size: the body is held once.
        let mut body = Vec::with_capacity(announced.unwrap_or(64 << 10));
        let mut incoming = response.into_body();
        while let Some(frame) = incoming.frame().await {
            let frame = frame.map_err(|e| {
                fail(
                    FetchErrorKind::Body,
                    "reading the body failed".to_owned(),
                    Box::new(e),
                )
            })?;
            if let Ok(data) = frame.into_data() {
                if body.len() + data.len() > self.max_body {
                    return Err(too_large());
                }
                body.extend_from_slice(&data);
            }
        }
        Ok(FetchResponse {
            status,
            content_type,
            body: Bytes::from(body),
        })
    }
}

/// Checks that `url` is an `http://` or `https://` URL with a host, which a
/// [`Fetch`] can GET.
///
/// # Errors
/// [`FetchErrorKind::InvalidUrl`] or [`FetchErrorKind::UnsupportedScheme`],
/// naming the URL.
pub fn check_url(url: &str) -> Result<Uri, FetchError> {
    let invalid = |kind, detail: String, source: Option<Cause>| FetchError {
        url: url.to_owned(),
        kind,
        detail,
        source,
    };
    let uri: Uri = url.parse().map_err(|e| {
        invalid(
            FetchErrorKind::InvalidUrl,
            "invalid URL".to_owned(),
            Some(Box::new(e)),
        )
    })?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) {
        return Err(invalid(
            FetchErrorKind::UnsupportedScheme,
            "only http:// and https:// URLs are supported".to_owned(),
            None,
        ));
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(invalid(
            FetchErrorKind::InvalidUrl,
            "the URL has no host".to_owned(),
            None,
        ));
    }
    Ok(uri)
}

/// Sends `request` over a new HTTP/1.1 connection on `io`: the response, and
/// the connection's task, which ends when it is dropped.
async fn send<T>(
    io: T,
    request: Request<Full<Bytes>>,
    (host, port): (&str, u16),
) -> Result<(hyper::Response<hyper::body::Incoming>, AbortOnDrop), FetchError>
where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let fail = |kind, detail: String, source: hyper::Error| FetchError {
        url: String::new(),
        kind,
        detail,
        source: Some(Box::new(source)),
    };
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(|e| {
            fail(
                FetchErrorKind::Connect,
                format!("HTTP handshake with {host}:{port} failed"),
                e,
            )
        })?;
    let driver = AbortOnDrop(tokio::spawn(connection));
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| fail(FetchErrorKind::Request, "the request failed".to_owned(), e))?;
    Ok((response, driver))
}

/// Mozilla's root certificates, as `webpki-roots` compiles them in.
fn mozilla_roots() -> rustls::RootCertStore {
    rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    }
}

/// TLS settings trusting `roots`: ring's cipher suites, the safe protocol
/// versions, HTTP/1.1 over ALPN.
fn client_config(roots: rustls::RootCertStore) -> Result<rustls::ClientConfig, rustls::Error> {
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// The settings with Mozilla's roots alone, made once.
fn default_tls() -> Result<Arc<rustls::ClientConfig>, rustls::Error> {
    static CONFIG: OnceLock<Result<Arc<rustls::ClientConfig>, rustls::Error>> = OnceLock::new();
    CONFIG
        .get_or_init(|| client_config(mozilla_roots()).map(Arc::new))
        .clone()
}

/// The cause of a [`FetchError`].
type Cause = Box<dyn StdError + Send + Sync>;

/// A task aborted when this is dropped: the connection of an exchange whose
/// caller went away ends with it.
struct AbortOnDrop(tokio::task::JoinHandle<Result<(), hyper::Error>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Why a GET failed: the URL, what failed, and the cause
/// ([`source`](StdError::source)), which a log of the whole chain shows
/// (`connection refused`, the JSON error's line and column). Its `Debug` is
/// that chain too, so that a `main` returning it prints words.
pub struct FetchError {
    url: String,
    kind: FetchErrorKind,
    detail: String,
    source: Option<Cause>,
}

/// What kind of failure a [`FetchError`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FetchErrorKind {
    /// The URL does not parse or has no host.
    InvalidUrl,
    /// The URL's scheme is neither `http` nor `https`.
    UnsupportedScheme,
    /// A header given to [`Fetch::header`] is not valid.
    InvalidHeader,
    /// No connection, or no HTTP handshake, with the server.
    Connect,
    /// The TLS handshake failed: the certificate did not verify (its issuer
    /// is not trusted, it is not valid for the host, it expired) or the
    /// server speaks no TLS.
    Tls,
    /// The CA file given to [`Fetch::ca_file`] is unusable.
    InvalidCa,
    /// The request failed after the connection was made.
    Request,
    /// No complete answer within the timeout.
    Timeout,
    /// The body failed while it was read.
    Body,
    /// The body was larger than the cap.
    BodyTooLarge,
    /// [`Fetch::get_json`]: an answer other than 200.
    Status(u16),
    /// [`Fetch::get_json`]: the body does not decode into the type.
    Json,
}

impl FetchError {
    /// The URL that was fetched (empty for [`FetchErrorKind::InvalidHeader`]).
    #[must_use]
    pub fn url(&self) -> &str {
        &self.url
    }

    /// What kind of failure it is.
    #[must_use]
    pub fn kind(&self) -> FetchErrorKind {
        self.kind
    }
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.url.is_empty() {
            f.write_str(&self.detail)
        } else {
            write!(f, "GET {}: {}", self.url, self.detail)
        }
    }
}

impl fmt::Debug for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)?;
        let mut cause = self.source();
        while let Some(c) = cause {
            write!(f, ": {c}")?;
            cause = c.source();
        }
        Ok(())
    }
}

impl StdError for FetchError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn StdError + 'static))
    }
}
