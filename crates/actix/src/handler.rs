//! The `/metrics` handlers.

use std::sync::OnceLock;

use actix_web::http::header::{HeaderValue, ACCEPT, ACCEPT_ENCODING, AUTHORIZATION, CONTENT_TYPE};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use futures_util::future::LocalBoxFuture;
use promhttp_core::{default_registry, MetricsEndpoint, Registry, ScrapeRequest, ScrapeResponse};

/// Serves the process registry ([`default_registry`]) in the format the scraper
/// asks for: `.route("/metrics", web::get().to(metrics_handler))`.
///
/// `GET` gets OpenMetrics 1.0 when the `Accept` header asks for
/// `application/openmetrics-text`, otherwise Prometheus text 0.0.4; `HEAD` gets the
/// headers alone; an `Accept` header that allows neither gets `406`. At most
/// [`DEFAULT_MAX_CONCURRENT_SCRAPES`](promhttp_core::DEFAULT_MAX_CONCURRENT_SCRAPES)
/// scrapes are served at once (`503` past that).
pub async fn metrics_handler(req: HttpRequest) -> HttpResponse {
    static ENDPOINT: OnceLock<MetricsEndpoint> = OnceLock::new();
    let endpoint = ENDPOINT.get_or_init(|| MetricsEndpoint::new(default_registry()));
    scrape(endpoint, &req).await
}

/// A handler like [`metrics_handler`] serving `registry` instead of the process
/// registry: `.route("/metrics", web::get().to(metrics_handler_with(registry)))`.
pub fn metrics_handler_with(
    registry: Registry,
) -> impl Fn(HttpRequest) -> LocalBoxFuture<'static, HttpResponse> + Clone + 'static {
    metrics_endpoint(MetricsEndpoint::new(&registry))
}

/// A handler serving `endpoint`: its registry, behind its authentication,
/// concurrency limit and timeout:
/// `.route("/metrics", web::get().to(metrics_endpoint(endpoint)))`.
///
/// Encoding runs on actix-web's blocking pool, so it never stalls a worker. A
/// scrape that overruns the timeout gets `503`; its permit is given back when the
/// encoding finishes, so overrunning scrapes cannot pile up past the concurrency
/// limit.
pub fn metrics_endpoint(
    endpoint: impl Into<MetricsEndpoint>,
) -> impl Fn(HttpRequest) -> LocalBoxFuture<'static, HttpResponse> + Clone + 'static {
    let endpoint = endpoint.into();
    move |req: HttpRequest| -> LocalBoxFuture<'static, HttpResponse> {
        let endpoint = endpoint.clone();
        Box::pin(async move { scrape(&endpoint, &req).await })
    }
}

async fn scrape(endpoint: &MetricsEndpoint, req: &HttpRequest) -> HttpResponse {
    let header = |name| req.headers().get(name).map(HeaderValue::as_bytes);
    let request = ScrapeRequest {
        method: req.method().as_str(),
        accept: header(ACCEPT),
        accept_encoding: header(ACCEPT_ENCODING),
        authorization: header(AUTHORIZATION),
        query: Some(req.query_string()).filter(|q| !q.is_empty()),
    };
    into_response(endpoint.respond(&request).await)
}

fn into_response(scrape: ScrapeResponse) -> HttpResponse {
    let status = StatusCode::from_u16(scrape.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = HttpResponse::build(status);
    response.insert_header((CONTENT_TYPE, HeaderValue::from_static(scrape.content_type)));
    for (name, value) in scrape.headers {
        response.insert_header((name, HeaderValue::from_static(value)));
    }
    // `HEAD`: a body that states the length the `GET` body would have, which
    // actix-web writes as `Content-Length` without sending a body.
    if let Some(length) = scrape.content_length {
        return response.body(HeadBody(length as u64));
    }
    response.body(scrape.body)
}

/// The body of a `HEAD` answer: the size of the `GET` body, and no bytes.
struct HeadBody(u64);

impl actix_web::body::MessageBody for HeadBody {
    type Error = std::convert::Infallible;

    fn size(&self) -> actix_web::body::BodySize {
        actix_web::body::BodySize::Sized(self.0)
    }

    fn poll_next(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<actix_web::web::Bytes, Self::Error>>> {
        std::task::Poll::Ready(None)
    }
}
