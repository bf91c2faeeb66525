//! Polls a JSON API on an interval and exposes the latest value per pod.
//!
//! ```text
//! cargo run --example api_poller --features axum,exporter -- --url http://127.0.0.1:8080/energy --interval 30m
//! ```
//!
//! The API answers with `{app: {cluster: {namespace: [pod, ...]}}}` where each pod
//! is `{"name": "web-1", "energy_consumed": [1.5, 2.0, ...]}`; the last number is
//! the latest reading. Each pod becomes one series of the gauge
//! `pod_energy_consumed{app, cluster, namespace, pod_name}` (a gauge: it does not end
//! in `_total`, so `promtool check metrics` accepts it).
//!
//! - Pods that are no longer in the answer lose their series.
//! - A pod with an empty list has no latest reading and no series.
//! - An error (upstream down, slower than `--timeout`, not HTTP 200, malformed JSON,
//!   missing fields, the same pod twice in one namespace) is logged and counted in
//!   `energy_api_poll_errors_total`, `energy_api_up` is 0, and the last good data
//!   stays (see `energy_api_last_success_timestamp_seconds` for its age).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use axum::routing::get;
use clap::Parser;
use promhttp::collect::{Families, NotDeclared};
use promhttp::family::MetricFamily;
use promhttp::poller::Poller;
use serde::Deserialize;

#[allow(dead_code)]
#[path = "support/config.rs"]
mod config;
#[path = "support/serve.rs"]
mod http_serve;
#[path = "support/logging.rs"]
mod logging;

/// Exposes the latest energy reading of every pod reported by a JSON API.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// The API to poll: `http://` or `https://` (verified against Mozilla's
    /// roots and `--ca-file`).
    #[arg(long, env = "API_URL")]
    url: String,
    /// Time between polls: a number with a unit, `ms`, `s`, `m` or `h`.
    #[arg(long, env = "POLL_INTERVAL", default_value = "30m", value_parser = parse_duration)]
    interval: Duration,
    /// How long one poll may take.
    #[arg(long, env = "POLL_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    timeout: Duration,
    /// Where to serve `/metrics`.
    #[arg(long, env = "BIND", default_value = "127.0.0.1:9878")]
    bind: SocketAddr,
    /// A PEM file of CA certificates to trust for `https://`, beside
    /// Mozilla's roots.
    #[arg(long, env = "API_CA_FILE", value_name = "PATH")]
    ca_file: Option<std::path::PathBuf>,
    /// A header sent with every poll, `Name: value`; repeatable.
    #[arg(long = "header", value_name = "NAME: VALUE")]
    headers: Vec<String>,
    /// A file holding a bearer token, sent as `Authorization: Bearer <token>`.
    #[arg(long, value_name = "PATH")]
    bearer_token_file: Option<std::path::PathBuf>,
    /// A bearer token, from the environment only (never on the command line,
    /// where `ps` shows it).
    #[arg(skip = std::env::var("API_BEARER_TOKEN").ok())]
    bearer_token: Option<String>,
}

/// Parses `250ms`, `10s`, `1.5m`, `2h`.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| c.is_ascii_alphabetic())
        .ok_or_else(|| format!("{text:?} has no unit (ms, s, m or h)"))?;
    let (number, unit) = text.split_at(split);
    if number.trim().is_empty() {
        return Err(format!("{text:?} has no number before its unit"));
    }
    let number: f64 = number
        .trim()
        .parse()
        .map_err(|e| format!("{text:?}: {number:?} is not a number: {e}"))?;
    let scale = match unit {
        "ms" => 0.001,
        "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        _ => return Err(format!("{text:?}: unknown unit {unit:?} (ms, s, m or h)")),
    };
    config::positive_seconds(text, number * scale)
        .map_err(|_| format!("{text:?} is not a positive duration"))
}

/// One pod in the API's answer.
#[derive(Debug, Deserialize)]
struct Pod {
    name: String,
    energy_consumed: Vec<f64>,
}

/// app → cluster → namespace → pods.
type Answer = BTreeMap<String, BTreeMap<String, BTreeMap<String, Vec<Pod>>>>;

const GAUGE: &str = "pod_energy_consumed";

/// Adds the latest reading of each pod in `answer` to the declared gauge.
fn write(answer: &Answer, out: &mut Families) -> Result<(), NotDeclared> {
    let mut gauge = out.family(GAUGE)?;
    for (app, clusters) in answer {
        for (cluster, namespaces) in clusters {
            for (namespace, pods) in namespaces {
                for pod in pods {
                    if let Some(&latest) = pod.energy_consumed.last() {
                        gauge.add_gauge(
                            [
                                ("app", app.as_str()),
                                ("cluster", cluster.as_str()),
                                ("namespace", namespace.as_str()),
                                ("pod_name", pod.name.as_str()),
                            ],
                            latest,
                        );
                    }
                }
            }
        }
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    logging::init();
    let args = Args::parse();
    let header_read_timeout = http_serve::header_read_timeout()?;
    promhttp::fetch::check_url(&args.url)?;

    let registry = promhttp::default_registry();
    let (url, timeout) = (args.url.clone(), args.timeout);
    // Each poll's latency and failures, by server: `http_client_*`.
    let calls = promhttp::HttpClientMetrics::builder()
        .registry(registry)
        .build()?;
    let fetch = config::with_headers(
        config::with_ca_file(
            promhttp::fetch::Fetch::new()
                .timeout(timeout)
                .metrics(&calls),
            args.ca_file.as_deref(),
        )?,
        &args.headers,
        args.bearer_token_file.as_deref(),
        args.bearer_token.as_deref(),
    )?;
    let _poller = Poller::builder("energy_api")
        .registry(registry)
        .family(MetricFamily::gauge(
            GAUGE,
            "The latest energy reading of each pod.",
        ))
        .interval(args.interval)
        .timeout(timeout)
        .spawn(move |mut out: Families| {
            let (url, fetch) = (url.clone(), fetch.clone());
            async move {
                let answer: Answer = fetch.get_json(&url).await?;
                write(&answer, &mut out)?;
                Ok(out)
            }
        })?;

    let app = axum::Router::new().route("/metrics", get(promhttp::axum::metrics_handler));
    let listener = tokio::net::TcpListener::bind(args.bind).await?;
    println!(
        "api_poller: serving http://{}/metrics, polling {} every {:?}",
        listener.local_addr()?,
        args.url,
        args.interval
    );
    promhttp::axum::serve_app(listener, app, header_read_timeout).await?;
    Ok(())
}
