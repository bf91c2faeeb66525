//! The `/metrics` handlers.

use std::future::Future;
use std::pin::Pin;
use std::sync::OnceLock;

use axum::body::Body;
use axum::response::Response;
use http::header::{ACCEPT, ACCEPT_ENCODING, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE};
use http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use promhttp_core::{default_registry, MetricsEndpoint, Registry, ScrapeRequest, ScrapeResponse};

/// Serves the process registry ([`default_registry`]) in the format the scraper
/// asks for. Mount it with `.route("/metrics", get(metrics_handler))`.
///
/// `GET` gets OpenMetrics 1.0 when the `Accept` header asks for
/// `application/openmetrics-text`, otherwise Prometheus text 0.0.4; `HEAD` gets the
/// headers alone; an `Accept` header that allows neither gets `406`. At most
/// [`DEFAULT_MAX_CONCURRENT_SCRAPES`](promhttp_core::DEFAULT_MAX_CONCURRENT_SCRAPES)
/// scrapes are served at once (`503` past that).
pub async fn metrics_handler(method: Method, uri: Uri, headers: HeaderMap) -> Response {
    static ENDPOINT: OnceLock<MetricsEndpoint> = OnceLock::new();
    let endpoint = ENDPOINT.get_or_init(|| MetricsEndpoint::new(default_registry()));
    scrape(endpoint, &method, &uri, &headers).await
}

/// A handler like [`metrics_handler`] serving `registry` instead of the process
/// registry: `.route("/metrics", get(metrics_handler_with(registry)))`.
pub fn metrics_handler_with(registry: Registry) -> impl ScrapeHandler {
    metrics_endpoint(MetricsEndpoint::new(&registry))
}

/// A handler serving `endpoint`: its registry, behind its authentication,
/// concurrency limit and timeout.
///
/// ```no_run
/// # mod promhttp { pub mod axum { pub use promhttp_axum::*; } pub use promhttp_core::*; }
/// use axum::{routing::get, Router};
/// use promhttp::{MetricsEndpoint, Registry};
///
/// let registry = Registry::new();
/// let endpoint = MetricsEndpoint::new(&registry).bearer_token("s3cret").unwrap();
/// let app: Router = Router::new().route("/metrics", get(promhttp::axum::metrics_endpoint(endpoint)));
/// ```
///
/// Encoding runs on tokio's blocking pool, so it never stalls the runtime. A
/// scrape that overruns the timeout gets `503`; the permit it holds is given back
/// when the encoding finishes, so overrunning scrapes cannot pile up past the
/// concurrency limit.
pub fn metrics_endpoint(endpoint: impl Into<MetricsEndpoint>) -> impl ScrapeHandler {
    let endpoint = endpoint.into();
    move |method: Method, uri: Uri, headers: HeaderMap| -> ScrapeFuture {
        let endpoint = endpoint.clone();
        Box::pin(async move { scrape(&endpoint, &method, &uri, &headers).await })
    }
}

/// The future of a scrape handler.
pub type ScrapeFuture = Pin<Box<dyn Future<Output = Response> + Send>>;

/// What [`metrics_endpoint`] returns: an axum handler (a cloneable function of
/// the method, URI and headers).
pub trait ScrapeHandler:
    Fn(Method, Uri, HeaderMap) -> ScrapeFuture + Clone + Send + Sync + 'static
{
}

impl<F> ScrapeHandler for F where
    F: Fn(Method, Uri, HeaderMap) -> ScrapeFuture + Clone + Send + Sync + 'static
{
}

async fn scrape(
    endpoint: &MetricsEndpoint,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
) -> Response {
    let header = |name| headers.get(name).map(HeaderValue::as_bytes);
    let request = ScrapeRequest {
        method: method.as_str(),
        accept: header(ACCEPT),
        accept_encoding: header(ACCEPT_ENCODING),
        authorization: header(AUTHORIZATION),
        query: uri.query(),
    };
    into_response(endpoint.respond(&request).await)
}

fn into_response(scrape: ScrapeResponse) -> Response {
    let mut response = Response::new(Body::from(scrape.body));
    *response.status_mut() =
        StatusCode::from_u16(scrape.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(scrape.content_type));
    for (name, value) in scrape.headers {
        headers.insert(name, HeaderValue::from_static(value));
    }
    // `HEAD`: the length the `GET` body would have (hyper sends no body).
    if let Some(length) = scrape.content_length {
        headers.insert(CONTENT_LENGTH, HeaderValue::from(length));
    }
    response
}
