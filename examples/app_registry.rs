//! An app that owns its metrics: its own `Registry` (no global state), metrics
//! updated when `/metrics` is requested, a synthetic probe and a mirrored counter.
//!
//! ```text
//! cargo run --example app_registry --features axum,exporter
//! curl -s localhost:3002/metrics
//! ```
//!
//! - `/metrics` updates `hits` (scrapes served, a counter) and `level` (a gauge
//!   that wanders between 0 and 100) before encoding.
//! - A probe connects to an RFC 867 daytime service every `PROBE_INTERVAL_SECONDS`
//!   (default 5) and reads its answer: `probe_duration_seconds` (a histogram of
//!   successful probes) and `probe_success` (1 or 0). The example starts a daytime
//!   service of its own on loopback unless `DAYTIME_ADDR` names one
//!   (`host:port`; a host name is resolved on every probe).
//! - A poller reads `{"launched": "<time>", "requests": N}` from a
//!   JSON-over-TCP service (connect, read to the end) and mirrors `requests` as the
//!   counter `upstream_requests_total`, with `launched` as its `_created`; a count
//!   that goes down, or a new launch time, is a reset. The example starts such a
//!   service too unless `COUNTER_ADDR` names one. `launched` is an RFC 3339
//!   time, or one without a time zone (`2020-11-04T17:57:42.448578`, as
//!   Python's `datetime.isoformat()` writes a naive time), taken as UTC.
//!
//! `BIND` (default `127.0.0.1:3002`) is where `/metrics` is served.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use axum::http::{HeaderMap, Method, Uri};
use axum::routing::any;
use promhttp::collect::Families;
use promhttp::poller::Poller;
use promhttp::prometheus_client::metrics::counter::Counter;
use promhttp::prometheus_client::metrics::gauge::Gauge;
use promhttp::source::MirroredCounter;
use promhttp::{DurationHistogram, Registry};
use serde::Deserialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[path = "support/config.rs"]
mod config;
#[path = "support/serve.rs"]
mod http_serve;
#[path = "support/logging.rs"]
mod logging;

/// Everything the app measures, in a registry of its own.
#[derive(Clone)]
struct Metrics {
    registry: Registry,
    hits: Counter,
    level: Gauge,
    probe_duration: DurationHistogram,
    probe_success: Gauge,
    upstream_requests: MirroredCounter,
    /// State of the level's random walk (xorshift).
    walk: Arc<AtomicU64>,
}

impl Metrics {
    fn new() -> Result<Self, Box<dyn std::error::Error>> {
        let registry = Registry::new();
        let metrics = Self {
            registry: registry.clone(),
            hits: Counter::default(),
            level: Gauge::default(),
            probe_duration: DurationHistogram::new([
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
            ])?,
            probe_success: Gauge::default(),
            upstream_requests: MirroredCounter::new(),
            walk: Arc::new(AtomicU64::new(0x9E37_79B9_7F4A_7C15)),
        };
        registry.register("hits", "Scrapes of /metrics served.", metrics.hits.clone())?;
        registry.register(
            "level",
            "A level that moves on every scrape.",
            metrics.level.clone(),
        )?;
        registry.register(
            "probe_duration_seconds",
            "How long successful probes of the daytime service took.",
            metrics.probe_duration.clone(),
        )?;
        registry.register(
            "probe_success",
            "Whether the last probe of the daytime service succeeded.",
            metrics.probe_success.clone(),
        )?;
        registry.register_family(
            "upstream_requests",
            "Requests counted by the upstream service, mirrored.",
            metrics.upstream_requests.clone(),
        )?;
        Ok(metrics)
    }

    /// Moves the level by a pseudo-random step, staying within 0..=100.
    fn step_level(&self) {
        let mut x = self.walk.load(Ordering::Relaxed);
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.walk.store(x, Ordering::Relaxed);
        let step = i64::try_from(x % 21).unwrap_or(0) - 10;
        let level = (self.level.get() + step).clamp(0, 100);
        self.level.set(level);
    }
}

/// An RFC 867 daytime service: each connection gets the time and is closed.
async fn daytime_service(listener: TcpListener) {
    loop {
        let Ok((mut conn, _)) = listener.accept().await else {
            continue;
        };
        tokio::spawn(async move {
            let now = time::OffsetDateTime::now_utc();
            let text = now
                .format(&time::format_description::well_known::Rfc2822)
                .unwrap_or_default();
            let _ = conn.write_all(format!("{text}\r\n").as_bytes()).await;
        });
    }
}

/// A JSON-over-TCP service reporting a request count that grows by one for each
/// connection.
async fn counter_service(listener: TcpListener) {
    let launched = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let mut requests = 0u64;
    loop {
        let Ok((mut conn, _)) = listener.accept().await else {
            continue;
        };
        requests += 1;
        let body = serde_json::json!({ "launched": launched, "requests": requests }).to_string();
        tokio::spawn(async move {
            let _ = conn.write_all(body.as_bytes()).await;
        });
    }
}

/// Connects to the daytime service and reads its answer to the end.
async fn probe(addr: &str, timeout: Duration) -> Result<Duration, String> {
    let t0 = Instant::now();
    let exchange = async {
        let mut conn = TcpStream::connect(addr)
            .await
            .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
        let mut answer = Vec::new();
        conn.read_to_end(&mut answer)
            .await
            .map_err(|e| format!("reading from {addr}: {e}"))?;
        if answer.is_empty() || std::str::from_utf8(&answer).is_err() {
            return Err(format!("{addr} sent no daytime text"));
        }
        Ok(())
    };
    match tokio::time::timeout(timeout, exchange).await {
        Ok(Ok(())) => Ok(t0.elapsed()),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(format!("{addr} did not answer within {timeout:?}")),
    }
}

/// The document the counter service sends.
#[derive(Debug, Deserialize)]
struct Count {
    /// When the service started counting, RFC 3339.
    launched: String,
    requests: f64,
}

async fn read_count(addr: &str, timeout: Duration) -> Result<(f64, SystemTime), String> {
    let exchange = async {
        let conn = TcpStream::connect(addr)
            .await
            .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
        let mut body = Vec::new();
        conn.take(1 << 20)
            .read_to_end(&mut body)
            .await
            .map_err(|e| format!("reading from {addr}: {e}"))?;
        let count: Count =
            serde_json::from_slice(&body).map_err(|e| format!("{addr} sent invalid JSON: {e}"))?;
        Ok((count.requests, launched_at(&count.launched)?))
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .unwrap_or_else(|_| Err(format!("{addr} did not answer within {timeout:?}")))
}

/// When the counter service launched: an RFC 3339 time, or a time without a
/// zone (Python's naive `isoformat()`, `2020-11-04T17:57:42.448578`), taken as
/// UTC as the original exporter does.
fn launched_at(text: &str) -> Result<SystemTime, String> {
    use time::format_description::well_known::Rfc3339;
    if let Ok(at) = time::OffsetDateTime::parse(text, &Rfc3339) {
        return Ok(SystemTime::from(at));
    }
    let mut last = None;
    for layout in [
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond]",
        "[year]-[month]-[day]T[hour]:[minute]:[second]",
    ] {
        let naive =
            time::format_description::parse_borrowed::<1>(layout).map_err(|e| e.to_string())?;
        match time::PrimitiveDateTime::parse(text, &naive) {
            Ok(at) => return Ok(SystemTime::from(at.assume_utc())),
            Err(e) => last = Some(e),
        }
    }
    let reason = last.map_or_else(String::new, |e| e.to_string());
    Err(format!(
        "`launched` {text:?} is neither an RFC 3339 time nor one without a zone: {reason}"
    ))
}

/// The `host:port` in environment variable `name` (a host name is resolved
/// when it is connected to), or a service of our own on loopback.
async fn service_addr<F>(
    name: &str,
    serve: fn(TcpListener) -> F,
) -> Result<String, Box<dyn std::error::Error>>
where
    F: std::future::Future<Output = ()> + Send + 'static,
{
    if let Ok(addr) = std::env::var(name) {
        let valid = addr
            .rsplit_once(':')
            .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
        if !valid {
            return Err(format!("{name}={addr:?} is not host:port").into());
        }
        return Ok(addr);
    }
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(serve(listener));
    Ok(addr.to_string())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    logging::init();
    let header_read_timeout = http_serve::header_read_timeout()?;
    let bind: SocketAddr = config::env_or("BIND", "127.0.0.1:3002".parse()?)?;
    let interval = config::positive_seconds(
        "PROBE_INTERVAL_SECONDS",
        config::env_or("PROBE_INTERVAL_SECONDS", 5.0)?,
    )?;
    let timeout = interval.min(Duration::from_secs(2));

    let metrics = Metrics::new()?;
    let daytime = service_addr("DAYTIME_ADDR", daytime_service).await?;
    let counter = service_addr("COUNTER_ADDR", counter_service).await?;
    let (probed, mirrored) = (daytime.clone(), counter.clone());

    let (duration, success) = (
        metrics.probe_duration.clone(),
        metrics.probe_success.clone(),
    );
    let _probe = Poller::builder("daytime_probe")
        .registry(&metrics.registry)
        .interval(interval)
        .timeout(timeout + Duration::from_millis(100))
        .spawn(move |out: Families| {
            let (duration, success, daytime) = (duration.clone(), success.clone(), probed.clone());
            async move {
                match probe(&daytime, timeout).await {
                    Ok(took) => {
                        duration.observe(took);
                        success.set(1);
                        Ok(out)
                    }
                    Err(e) => {
                        success.set(0);
                        Err(e.into())
                    }
                }
            }
        })?;

    let mirror = metrics.upstream_requests.clone();
    let _mirror = Poller::builder("upstream")
        .registry(&metrics.registry)
        .interval(interval)
        .timeout(timeout + Duration::from_millis(100))
        .spawn(move |out: Families| {
            let (mirror, counter) = (mirror.clone(), mirrored.clone());
            async move {
                let (requests, launched) = read_count(&counter, timeout).await?;
                mirror.set(requests, Some(launched))?;
                Ok(out)
            }
        })?;

    // `/metrics` moves `hits` and `level`, then serves the app's registry.
    let serve_registry = promhttp::axum::metrics_handler_with(metrics.registry.clone());
    let app = axum::Router::new().route(
        "/metrics",
        any(move |method: Method, uri: Uri, headers: HeaderMap| {
            let (metrics, serve_registry) = (metrics.clone(), serve_registry.clone());
            async move {
                if method == Method::GET {
                    metrics.hits.inc();
                    metrics.step_level();
                }
                serve_registry(method, uri, headers).await
            }
        }),
    );
    let listener = TcpListener::bind(bind).await?;
    println!(
        "app_registry: serving http://{}/metrics, probing daytime at {daytime}, mirroring {counter}",
        listener.local_addr()?
    );
    promhttp::axum::serve_app(listener, app, header_read_timeout).await?;
    Ok(())
}
