//! A batch job that pushes its metrics to a Pushgateway when it ends: what a
//! cron job or a one-shot exporter run does, since no scrape would find it.
//!
//! ```sh
//! prometheus-pushgateway --web.listen-address=127.0.0.1:9091 &
//! PUSHGATEWAY_URL=http://127.0.0.1:9091 cargo run --example batch_push --features exporter,fetch -- 250
//! curl -s http://127.0.0.1:9091/metrics | grep batch_
//! ```
//!
//! It "processes" the number of records its argument says (default 100),
//! then replaces its group's metrics on the gateway (`job="batch_push"`,
//! `instance` from `BATCH_INSTANCE`, default `local`):
//! `batch_records_processed`, `batch_last_success_timestamp_seconds` and
//! `batch_duration_seconds`. `PUSHGATEWAY_USER` and `PUSHGATEWAY_PASSWORD`
//! add basic authentication. A refused push is printed with the gateway's
//! own words and exits with status 1.

use std::process::ExitCode;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use prometheus_client::metrics::gauge::Gauge;
use promhttp::push::Pusher;
use promhttp::Registry;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("batch_push: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let records: i64 = std::env::args()
        .nth(1)
        .map(|n| n.parse())
        .transpose()
        .map_err(|e| format!("the number of records is not a number: {e}"))?
        .unwrap_or(100);
    let gateway = std::env::var("PUSHGATEWAY_URL")
        .map_err(|_| "PUSHGATEWAY_URL is not set (the gateway, e.g. http://127.0.0.1:9091)")?;
    let instance = std::env::var("BATCH_INSTANCE").unwrap_or_else(|_| "local".to_owned());

    let started = Instant::now();
    let registry = Registry::new();
    let processed = Gauge::<i64>::default();
    let duration = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
    let last_success = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
    registry.register(
        "batch_records_processed",
        "Records the last run processed.",
        processed.clone(),
    )?;
    registry.register(
        "batch_duration_seconds",
        "How long the last run took.",
        duration.clone(),
    )?;
    registry.register(
        "batch_last_success_timestamp_seconds",
        "When the last run succeeded, in seconds since the Unix epoch.",
        last_success.clone(),
    )?;

    // The work.
    for _ in 0..records {
        processed.inc();
    }
    duration.set(started.elapsed().as_secs_f64());
    last_success.set(SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs_f64());

    let mut pusher = Pusher::new(&gateway, "batch_push")?.grouping("instance", &instance)?;
    if let (Ok(user), Ok(password)) = (
        std::env::var("PUSHGATEWAY_USER"),
        std::env::var("PUSHGATEWAY_PASSWORD"),
    ) {
        pusher = pusher.basic_auth(&user, &password)?;
    }
    pusher.push(&registry).await?;
    println!("batch_push: pushed {records} records to {}", pusher.url());
    Ok(())
}
