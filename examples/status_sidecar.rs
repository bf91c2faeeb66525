//! A sidecar exporter: polls an app's `/status` JSON and exposes it to Prometheus.
//!
//! ```text
//! APP_PORT=8080 cargo run --example status_sidecar --features axum,exporter
//! curl -s localhost:9877/metrics
//! ```
//!
//! Environment (all optional):
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `POLLING_INTERVAL_SECONDS` | `5` | time between polls (fractions allowed) |
//! | `APP_PORT` | `80` | the app's port on `APP_HOST` |
//! | `APP_HOST` | `localhost` | the app's host (in a pod: `localhost`) |
//! | `EXPORTER_PORT` | `9877` | port of this exporter's `/metrics` |
//! | `EXPORTER_HOST` | `0.0.0.0` | address to listen on |
//! | `POLL_TIMEOUT_SECONDS` | interval, at most 10 | per-poll timeout |
//!
//! The app answers `GET /status` with
//! `{"current_requests": 3, "pending_requests": 1, "total_uptime": 1234.5, "health": "healthy"}`.
//! A poll fails (and is counted in `app_poll_errors_total`, with `app_up` 0) when the
//! app is down, slower than the timeout, answers other than 200, or sends JSON
//! without these fields or with a health other than `healthy` / `unhealthy`. The
//! app's series are dropped while polls fail: a sidecar that kept showing the last
//! numbers of a dead app would mislead.

use std::net::SocketAddr;

use axum::routing::get;
use promhttp::collect::{Families, NotDeclared};
use promhttp::family::{MetricFamily, MetricType};
use promhttp::poller::{Poller, Stale};
use serde::Deserialize;

use config::{env_or, positive_seconds};

#[path = "support/config.rs"]
mod config;
#[path = "support/serve.rs"]
mod http_serve;
#[path = "support/logging.rs"]
mod logging;

/// The app's `/status` document; every field is required, others are ignored.
#[derive(Debug, Deserialize)]
struct Status {
    #[serde(deserialize_with = "number")]
    current_requests: f64,
    #[serde(deserialize_with = "number")]
    pending_requests: f64,
    #[serde(deserialize_with = "number")]
    total_uptime: f64,
    health: Health,
}

/// A number, or a string holding one (`"current_requests": "5"`), as apps
/// written in languages that stringify numbers send them.
fn number<'de, D: serde::Deserializer<'de>>(de: D) -> Result<f64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum NumberOrText {
        Number(f64),
        Text(String),
    }
    match NumberOrText::deserialize(de)? {
        NumberOrText::Number(n) => Ok(n),
        NumberOrText::Text(text) => text
            .trim()
            .parse()
            .map_err(|_| serde::de::Error::custom(format!("{text:?} is not a number"))),
    }
}

/// A poll's answer as a status: a 200, or a 503 whose body is a status (an
/// app that reports itself unhealthy with 503, as load balancers expect, is
/// still reporting).
fn status_of(url: &str, response: &promhttp::fetch::FetchResponse) -> Result<Status, String> {
    let parsed = serde_json::from_slice::<Status>(&response.body);
    match (response.status, parsed) {
        (200 | 503, Ok(status)) => Ok(status),
        (200, Err(e)) => Err(format!("GET {url}: sent JSON of the wrong shape: {e}")),
        (code, _) => Err(format!("GET {url}: answered HTTP {code}")),
    }
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum Health {
    Healthy,
    Unhealthy,
}

/// The families a poll fills, declared when the poller is built.
fn declared() -> [MetricFamily; 4] {
    [
        MetricFamily::gauge("app_requests_current", "Requests the app is serving now."),
        MetricFamily::gauge(
            "app_requests_pending",
            "Requests waiting in the app's queue.",
        ),
        MetricFamily::gauge("app_uptime_seconds", "How long the app has been up."),
        MetricFamily::new("app_health", MetricType::StateSet, "The app's health."),
    ]
}

/// What one `/status` document adds to them.
fn write(status: &Status, out: &mut Families) -> Result<(), NotDeclared> {
    for (name, value) in [
        ("app_requests_current", status.current_requests),
        ("app_requests_pending", status.pending_requests),
        ("app_uptime_seconds", status.total_uptime),
    ] {
        out.family(name)?
            .add_gauge(promhttp::family::NO_LABELS, value);
    }
    out.family("app_health")?.add_stateset::<&str, &str, _>(
        [],
        [
            ("healthy", status.health == Health::Healthy),
            ("unhealthy", status.health == Health::Unhealthy),
        ],
    );
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    logging::init();
    let header_read_timeout = http_serve::header_read_timeout()?;

    let interval = positive_seconds(
        "POLLING_INTERVAL_SECONDS",
        env_or("POLLING_INTERVAL_SECONDS", 5.0)?,
    )?;
    let timeout = positive_seconds(
        "POLL_TIMEOUT_SECONDS",
        env_or("POLL_TIMEOUT_SECONDS", interval.as_secs_f64().min(10.0))?,
    )?;
    let app_port: u16 = env_or("APP_PORT", 80)?;
    let app_host: String = env_or("APP_HOST", "localhost".to_owned())?;
    let exporter: SocketAddr = SocketAddr::new(
        env_or("EXPORTER_HOST", "0.0.0.0".parse()?)?,
        env_or("EXPORTER_PORT", 9877)?,
    );
    // `APP_SCHEME=https` for an app that serves TLS, verified against
    // Mozilla's roots and `APP_CA_FILE`.
    let scheme: String = env_or("APP_SCHEME", "http".to_owned())?;
    if scheme != "http" && scheme != "https" {
        return Err(format!("APP_SCHEME={scheme:?} is not valid: `http` or `https`").into());
    }
    let url = format!("{scheme}://{app_host}:{app_port}/status");
    promhttp::fetch::check_url(&url)?;

    let registry = promhttp::default_registry();
    // Each poll's latency and failures, by server: `http_client_*`.
    let calls = promhttp::HttpClientMetrics::builder()
        .registry(registry)
        .build()?;
    // `APP_HEADERS`: `Name: value` headers, one per line; the bearer token
    // from `APP_BEARER_TOKEN_FILE` or `APP_BEARER_TOKEN`.
    let headers: Vec<String> = std::env::var("APP_HEADERS")
        .map(|v| {
            v.lines()
                .filter(|l| !l.trim().is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let token_file = std::env::var_os("APP_BEARER_TOKEN_FILE").map(std::path::PathBuf::from);
    let ca_file = std::env::var_os("APP_CA_FILE").map(std::path::PathBuf::from);
    let fetch = config::with_headers(
        config::with_ca_file(
            promhttp::fetch::Fetch::new()
                .timeout(timeout)
                .metrics(&calls),
            ca_file.as_deref(),
        )?,
        &headers,
        token_file.as_deref(),
        std::env::var("APP_BEARER_TOKEN").ok().as_deref(),
    )?;
    let mut poller = Poller::builder("app")
        .registry(registry)
        .interval(interval)
        .timeout(timeout)
        .stale(Stale::Drop);
    for family in declared() {
        poller = poller.family(family);
    }
    let status_url = url.clone();
    let _poller = poller.spawn(move |mut out: Families| {
        let (url, fetch) = (status_url.clone(), fetch.clone());
        async move {
            let response = fetch.get(&url, "application/json").await?;
            let status = status_of(&url, &response)?;
            write(&status, &mut out)?;
            Ok(out)
        }
    })?;

    let app = axum::Router::new().route("/metrics", get(promhttp::axum::metrics_handler));
    let listener = tokio::net::TcpListener::bind(exporter).await?;
    println!(
        "status_sidecar: serving http://{}/metrics, polling {url} every {interval:?}",
        listener.local_addr()?
    );
    promhttp::axum::serve_app(listener, app, header_read_timeout).await?;
    Ok(())
}
