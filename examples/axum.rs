//! The demo service on axum: `cargo run --example axum --features axum`.
//!
//! Routes: `GET /`, `GET /users/{id}`, `POST /echo` (echoes the body), `GET /stream`
//! (10 chunks over about one second), `GET /fail` (always a 500: the fault to
//! try the SLO alerts with) and `GET /metrics`. Listens on `$BIND`,
//! default `127.0.0.1:3000`.
//!
//! A connection must send a complete request head within
//! `$HEADER_READ_TIMEOUT_SECONDS` (default 5) of opening or of its previous
//! response, or it is closed: that bounds slow senders (slowloris) and idle
//! kept-alive connections alike (see `support/serve.rs`).
//!
//! `$PROMHTTP_MAX_SERIES` (default 10,000) caps the series per family: size it from `sample_limit`.

#[path = "support/config.rs"]
mod config;
#[path = "support/serve.rs"]
mod http_serve;

use std::io::Write as _;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::Path;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::Router;
use promhttp::axum::MetricsLayer;
use promhttp::HttpMetrics;

async fn index() -> &'static str {
    "promhttp axum demo: try /users/42, POST /echo, /stream, /fail and /metrics\n"
}

/// A server error on purpose: what the SLO alerts page on
/// (`deploy/prometheus/slo-rules.yml`).
async fn fail() -> (StatusCode, &'static str) {
    (StatusCode::INTERNAL_SERVER_ERROR, "a failure on purpose\n")
}

async fn user(Path(id): Path<String>) -> String {
    format!("user {id}\n")
}

async fn echo(body: Bytes) -> Bytes {
    body
}

async fn stream() -> Body {
    let chunks = futures_util::stream::unfold(0u32, |i| async move {
        if i == 10 {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        Some((Ok::<_, std::io::Error>(format!("chunk {i}\n")), i + 1))
    });
    Body::from_stream(chunks)
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let bind = std::env::var("BIND").unwrap_or_else(|_| "127.0.0.1:3000".into());
    let header_read_timeout = http_serve::header_read_timeout().map_err(std::io::Error::other)?;
    // Exemplars on: a request with a sampled W3C `traceparent` header leaves its
    // trace on its latency bucket and its request counter.
    let metrics = HttpMetrics::builder()
        // `PROMHTTP_NAMING=otel`: OpenTelemetry's names and labels.
        .naming(config::naming().map_err(std::io::Error::other)?)
        // `PROMHTTP_BODY_SIZES=1`: request and response body size histograms;
        // `PROMHTTP_FIRST_BYTE=1`: the time-to-first-byte histogram.
        .body_sizes(config::switch("PROMHTTP_BODY_SIZES").map_err(std::io::Error::other)?)
        .time_to_first_byte(config::switch("PROMHTTP_FIRST_BYTE").map_err(std::io::Error::other)?)
        // `PROMHTTP_MAX_SERIES`: the series limit per family (default 10,000),
        // sized from the scraper's sample limit (README, Operations).
        .max_series(config::max_series().map_err(std::io::Error::other)?)
        .exemplars(true)
        // Native histograms for scrapers that ask for protobuf (Prometheus with
        // `--enable-feature=native-histograms`); classic buckets for the rest.
        .native_histograms(promhttp::NativeHistogram::new())
        .build()
        .map_err(std::io::Error::other)?;
    let layer = MetricsLayer::new(&metrics);
    let app = Router::new()
        .route("/", get(index))
        .route("/users/{id}", get(user))
        .route("/echo", post(echo))
        .route("/stream", get(stream))
        .route("/fail", get(fail))
        .layer(layer.clone())
        // The registry the layer records into.
        .route("/metrics", get(layer.handler()))
        // Finished once, as `axum::serve` does: the routes and their layers are
        // built here, not on every request.
        .with_state(());

    let listener = tokio::net::TcpListener::bind(&bind).await?;
    let addr = listener.local_addr()?;
    // A closed terminal is no reason to stop serving: print errors are ignored.
    let _ = writeln!(
        std::io::stdout(),
        "promhttp axum demo listening on http://{addr}/\nmetrics at http://{addr}/metrics"
    );
    promhttp::axum::serve_app(listener, app, header_read_timeout).await
}
