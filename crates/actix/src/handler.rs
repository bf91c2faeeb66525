//! The `/metrics` handlers.

use std::future::{ready, Ready};

use actix_web::http::header::{HeaderValue, ACCEPT, ALLOW, CONTENT_TYPE};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use promhttp_core::{default_registry, Registry};

/// Serves the process registry ([`default_registry`]) in the format the scraper
/// asks for: `.route("/metrics", web::get().to(metrics_handler))`.
///
/// `GET` gets OpenMetrics 1.0 when the `Accept` header asks for
/// `application/openmetrics-text`, otherwise Prometheus text 0.0.4; `HEAD` gets the
/// headers alone; an `Accept` header that allows neither gets `406`.
pub async fn metrics_handler(req: HttpRequest) -> HttpResponse {
    scrape(default_registry(), &req)
}

/// A handler like [`metrics_handler`] serving `registry` instead of the process
/// registry: `.route("/metrics", web::get().to(metrics_handler_with(registry)))`.
pub fn metrics_handler_with(
    registry: Registry,
) -> impl Fn(HttpRequest) -> Ready<HttpResponse> + Clone + 'static {
    move |req| ready(scrape(&registry, &req))
}

fn scrape(registry: &Registry, req: &HttpRequest) -> HttpResponse {
    let accept = req.headers().get(ACCEPT).map(HeaderValue::as_bytes);
    let scrape = registry.scrape(req.method().as_str(), accept);
    let status = StatusCode::from_u16(scrape.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = HttpResponse::build(status);
    response.insert_header((CONTENT_TYPE, HeaderValue::from_static(scrape.content_type)));
    if let Some(allow) = scrape.allow {
        response.insert_header((ALLOW, HeaderValue::from_static(allow)));
    }
    response.body(scrape.body)
}
