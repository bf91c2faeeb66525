//! The `/metrics` handlers.

use std::future::{ready, Ready};

use axum::body::Body;
use axum::response::Response;
use http::header::{ACCEPT, ALLOW, CONTENT_TYPE};
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use promhttp_core::{default_registry, Registry, ScrapeResponse};

/// Serves the process registry ([`default_registry`]) in the format the scraper
/// asks for. Mount it with `.route("/metrics", get(metrics_handler))`.
///
/// `GET` gets OpenMetrics 1.0 when the `Accept` header asks for
/// `application/openmetrics-text`, otherwise Prometheus text 0.0.4; `HEAD` gets the
/// headers alone; an `Accept` header that allows neither gets `406`.
pub async fn metrics_handler(method: Method, headers: HeaderMap) -> Response {
    scrape(default_registry(), &method, &headers)
}

/// A handler like [`metrics_handler`] serving `registry` instead of the process
/// registry: `.route("/metrics", get(metrics_handler_with(registry)))`.
pub fn metrics_handler_with(
    registry: Registry,
) -> impl Fn(Method, HeaderMap) -> Ready<Response> + Clone + Send + Sync + 'static {
    move |method, headers| ready(scrape(&registry, &method, &headers))
}

fn scrape(registry: &Registry, method: &Method, headers: &HeaderMap) -> Response {
    let accept = headers.get(ACCEPT).map(HeaderValue::as_bytes);
    into_response(registry.scrape(method.as_str(), accept))
}

fn into_response(scrape: ScrapeResponse) -> Response {
    let mut response = Response::new(Body::from(scrape.body));
    *response.status_mut() =
        StatusCode::from_u16(scrape.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(scrape.content_type));
    if let Some(allow) = scrape.allow {
        headers.insert(ALLOW, HeaderValue::from_static(allow));
    }
    response
}
