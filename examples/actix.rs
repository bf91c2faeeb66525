//! The demo service on actix-web: `cargo run --example actix --features actix`.
//!
//! Routes: `GET /`, `GET /users/{id}`, `POST /echo` (echoes the body), `GET /stream`
//! (10 chunks over about one second) and `/metrics` (`GET` and `HEAD`). Listens on `$BIND`,
//! default `127.0.0.1:3001`.
//!
//! A connection must send a complete request head within
//! `$HEADER_READ_TIMEOUT_SECONDS` (default 5, actix-web's own default) of opening
//! (`408` past it) and a kept-alive connection may idle as long between requests:
//! that bounds slow senders (slowloris) and idle connections alike.
//!
//! `$PROMHTTP_MAX_SERIES` (default 10,000) caps the series per family: size it from `sample_limit`.

#[path = "support/config.rs"]
mod config;

use std::io::Write as _;
use std::time::Duration;

use actix_web::http::KeepAlive;
use actix_web::web::{self, Bytes};
use actix_web::{App, HttpResponse, HttpServer};
use promhttp::actix::Metrics;
use promhttp::HttpMetrics;

async fn index() -> &'static str {
    "promhttp actix demo: try /users/42, POST /echo, /stream and /metrics\n"
}

async fn user(id: web::Path<String>) -> String {
    format!("user {id}\n")
}

async fn echo(body: Bytes) -> Bytes {
    body
}

async fn stream() -> HttpResponse {
    let chunks = futures_util::stream::unfold(0u32, |i| async move {
        if i == 10 {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        Some((
            Ok::<_, std::io::Error>(Bytes::from(format!("chunk {i}\n"))),
            i + 1,
        ))
    });
    HttpResponse::Ok().streaming(chunks)
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let bind = std::env::var("BIND").unwrap_or_else(|_| "127.0.0.1:3001".into());
    let header_read_timeout = config::env_or("HEADER_READ_TIMEOUT_SECONDS", 5.0)
        .and_then(|s| config::positive_seconds("HEADER_READ_TIMEOUT_SECONDS", s))
        .map_err(std::io::Error::other)?;
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
        .ignore_route("/metrics")
        // A sampled W3C `traceparent` header leaves its trace as an exemplar.
        .exemplars(true)
        // Native histograms for protobuf scrapes, classic buckets for the rest.
        .native_histograms(promhttp::NativeHistogram::new())
        .build()
        .map_err(std::io::Error::other)?;
    let server = HttpServer::new(move || {
        let middleware = Metrics::new(&metrics);
        App::new()
            // The registry the middleware records into.
            .route("/metrics", web::route().to(middleware.handler()))
            .wrap(middleware)
            .route("/", web::get().to(index))
            .route("/users/{id}", web::get().to(user))
            .route("/echo", web::post().to(echo))
            .route("/stream", web::get().to(stream))
    })
    .workers(2)
    .client_request_timeout(header_read_timeout)
    .keep_alive(KeepAlive::Timeout(header_read_timeout))
    .bind(&bind)?;
    for addr in server.addrs() {
        // A closed terminal is no reason to stop serving: print errors are ignored.
        let _ = writeln!(
            std::io::stdout(),
            "promhttp actix demo listening on http://{addr}/\nmetrics at http://{addr}/metrics"
        );
    }
    server.run().await
}
