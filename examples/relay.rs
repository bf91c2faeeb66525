//! A relabelling exporter: re-exposes another target's metrics, filtered, renamed
//! and labelled, fetched afresh on every scrape.
//!
//! ```text
//! cargo run --example relay --features axum -- --service foo \
//!     --url http://127.0.0.1:9100/metrics --port 9999 \
//!     --exclude exclude_me --exclude-regex '^go_.*' --label team=core
//! ```
//!
//! The upstream may answer Prometheus text 0.0.4, OpenMetrics or a flat JSON object
//! of numbers (`{"queue_depth": 3, "ready": true}`), told apart by its
//! `Content-Type`; text and OpenMetrics are read by promhttp's strict parser, so
//! types, help and units are kept. Every sample gets `service="<--service>"` and
//! each `--label` (replacing a label of the same name). `--rename FILE` maps family
//! names, one `old new` pair per line (`#` starts a comment).
//!
//! A family the upstream gave no help gets one saying it is relayed (so the
//! output passes `promtool check metrics`).
//!
//! Two families are added: `up` (1 if the upstream was fetched and parsed, else 0)
//! and `scrape_duration_seconds` (how long that took). An upstream that is down,
//! slower than `--timeout` or sends something unparsable gives `up 0` and a logged
//! reason, never a 500 or a half-written body. Scrapes that arrive while a fetch is
//! in flight share it: the upstream sees one request however many scrapers there are.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use clap::Parser;
use futures_util::future::{BoxFuture, FutureExt, Shared};
use promhttp::family::{MetricFamily, MetricType};
use promhttp::names::{check_label_name, check_metric_name};
use promhttp::Format;
use regex::Regex;

#[allow(dead_code)]
#[path = "support/config.rs"]
mod config;
#[path = "support/http_get.rs"]
mod http_get;
#[path = "support/logging.rs"]
mod logging;

/// Re-exposes another target's metrics, filtered, renamed and labelled.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// The value of the `service` label added to every sample.
    #[arg(long)]
    service: String,
    /// The upstream's metrics URL (plain http).
    #[arg(long)]
    url: String,
    /// Port to serve `/metrics` on.
    #[arg(long, default_value_t = 9999)]
    port: u16,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    bind: IpAddr,
    /// A family to drop (repeatable).
    #[arg(long)]
    exclude: Vec<String>,
    /// A regular expression of families to drop (repeatable; matched against the
    /// family name, e.g. `^go_.*`).
    #[arg(long)]
    exclude_regex: Vec<Regex>,
    /// A label `name=value` added to every sample (repeatable).
    #[arg(long, value_parser = parse_label)]
    label: Vec<(String, String)>,
    /// A file of `old new` family-name pairs, one per line.
    #[arg(long)]
    rename: Option<PathBuf>,
    /// How long one upstream fetch may take, in seconds.
    #[arg(long, default_value_t = 5.0)]
    timeout: f64,
}

fn parse_label(text: &str) -> Result<(String, String), String> {
    let (name, value) = text
        .split_once('=')
        .ok_or_else(|| format!("{text:?} is not name=value"))?;
    check_label_name(name).map_err(|reason| format!("label name {name:?}: {reason}"))?;
    Ok((name.to_owned(), value.to_owned()))
}

/// Reads `old new` pairs, naming the line of any error.
fn read_renames(path: &PathBuf) -> Result<HashMap<String, String>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut renames = HashMap::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let mut words = line.split_whitespace();
        let (Some(old), Some(new), None) = (words.next(), words.next(), words.next()) else {
            return Err(format!("{}:{}: expected `old new`", path.display(), i + 1));
        };
        if let Err(reason) = check_metric_name(new) {
            return Err(format!("{}:{}: {new:?}: {reason}", path.display(), i + 1));
        }
        if renames.insert(old.to_owned(), new.to_owned()).is_some() {
            return Err(format!(
                "{}:{}: {old} is renamed twice",
                path.display(),
                i + 1
            ));
        }
    }
    Ok(renames)
}

/// The families the relay adds; an upstream family that would write one of these
/// names is dropped.
const OWN_FAMILIES: [&str; 2] = ["scrape_duration_seconds", "up"];

/// What to do to the upstream's families.
struct Rules {
    exclude: Vec<String>,
    exclude_regex: Vec<Regex>,
    labels: Vec<(String, String)>,
    renames: HashMap<String, String>,
}

impl Rules {
    fn excluded(&self, name: &str) -> bool {
        self.exclude.iter().any(|e| e == name)
            || self.exclude_regex.iter().any(|r| r.is_match(name))
    }

    fn label(&self, labels: &mut Vec<(String, String)>) {
        for (name, value) in &self.labels {
            match labels.iter_mut().find(|(n, _)| n == name) {
                Some(existing) => existing.1.clone_from(value),
                None => labels.push((name.clone(), value.clone())),
            }
        }
    }

    /// Filters, renames and labels; families that end up invalid or clash with an
    /// earlier one are dropped and logged.
    fn apply(&self, families: Vec<MetricFamily>) -> Vec<MetricFamily> {
        let mut out: Vec<MetricFamily> = Vec::with_capacity(families.len());
        // Every sample name served so far, so a clash costs one look-up.
        let mut taken: HashSet<String> = HashSet::new();
        for mut family in families {
            if self.excluded(&family.name) {
                continue;
            }
            if let Some(new) = self.renames.get(&family.name) {
                for sample in &mut family.samples {
                    let suffix = sample
                        .name
                        .strip_prefix(family.name.as_str())
                        .unwrap_or_default()
                        .to_owned();
                    sample.name = format!("{new}{suffix}");
                    if family.metric_type == MetricType::StateSet {
                        for label in &mut sample.labels {
                            if label.0 == family.name {
                                label.0.clone_from(new);
                            }
                        }
                    }
                }
                family.name.clone_from(new);
            }
            for sample in &mut family.samples {
                self.label(&mut sample.labels);
            }
            if family.help.is_empty() {
                // promtool (and people) want every family explained.
                family.help = format!("{} from the relayed target (it gave no help).", family.name);
            }
            let names = family.metric_type.sample_names(&family.name);
            if let Some(own) = names.iter().find(|n| OWN_FAMILIES.contains(&n.as_str())) {
                tracing::warn!("the upstream's own `{own}` is replaced by the relay's");
                continue;
            }
            if names.iter().any(|n| taken.contains(n)) {
                tracing::warn!(
                    "dropping `{}`: its name clashes with another family",
                    family.name
                );
                continue;
            }
            match family.validate() {
                Ok(()) => {
                    taken.extend(names);
                    out.push(family);
                }
                Err(e) => tracing::warn!("dropping a family: {e}"),
            }
        }
        out
    }
}

/// A flat JSON object of numbers (and booleans) as gauges; other values are skipped.
fn json_families(body: &[u8]) -> Result<Vec<MetricFamily>, String> {
    let object: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(body).map_err(|e| format!("invalid JSON object: {e}"))?;
    let mut out = Vec::new();
    for (key, value) in object {
        let v = match value {
            serde_json::Value::Number(n) => n.as_f64(),
            serde_json::Value::Bool(b) => Some(if b { 1.0 } else { 0.0 }),
            _ => None,
        };
        let mut family = MetricFamily::gauge(key.clone(), "");
        match v {
            Some(v) => family.add_gauge::<&str, &str>([], v),
            None => {
                tracing::debug!("skipping JSON key {key:?}: not a number");
                continue;
            }
        };
        if family.validate().is_ok() {
            out.push(family);
        } else {
            tracing::warn!("skipping JSON key {key:?}: not a valid metric name");
        }
    }
    Ok(out)
}

/// One upstream fetch, parsed.
type Fetched = Arc<(Result<Vec<MetricFamily>, String>, Duration)>;

struct Relay {
    url: String,
    timeout: Duration,
    rules: Rules,
    /// The fetch in flight, shared by every scrape that arrives during it.
    in_flight: Mutex<Option<Shared<BoxFuture<'static, Fetched>>>>,
}

impl Relay {
    async fn fetch(url: String, timeout: Duration) -> Fetched {
        let t0 = Instant::now();
        let result = async {
            let response = http_get::get(
                &url,
                "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,application/json;q=0.4",
                timeout,
            )
            .await
            .map_err(|e| e.to_string())?;
            if response.status != 200 {
                return Err(format!("{url} answered HTTP {}", response.status));
            }
            let content_type = response.content_type.as_deref();
            if content_type.is_some_and(|t| t.trim_start().starts_with("application/json")) {
                return json_families(&response.body);
            }
            let body = std::str::from_utf8(&response.body)
                .map_err(|e| format!("{url} sent a body that is not UTF-8: {e}"))?;
            promhttp::parse::parse(content_type, body).map_err(|e| format!("{url}: {e}"))
        }
        .await;
        Arc::new((result, t0.elapsed()))
    }

    /// The current fetch, started if none is in flight.
    async fn fetched(self: &Arc<Self>) -> Fetched {
        let shared = {
            let mut slot = self
                .in_flight
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            match &*slot {
                Some(fetch) => fetch.clone(),
                None => {
                    let fetch = Self::fetch(self.url.clone(), self.timeout).boxed().shared();
                    *slot = Some(fetch.clone());
                    fetch
                }
            }
        };
        let fetched = shared.clone().await;
        let mut slot = self
            .in_flight
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if slot.as_ref().is_some_and(|s| s.ptr_eq(&shared)) {
            *slot = None;
        }
        fetched
    }

    async fn scrape(self: Arc<Self>) -> Vec<MetricFamily> {
        let fetched = self.fetched().await;
        let (result, took) = &*fetched;
        let mut families = match result {
            Ok(families) => self.rules.apply(families.clone()),
            Err(reason) => {
                tracing::warn!("upstream {} unusable: {reason}", self.url);
                Vec::new()
            }
        };
        let mut labels = Vec::new();
        self.rules.label(&mut labels);
        let [duration, up] = OWN_FAMILIES;
        let mut gauge = |name: &str, help: &str, v: f64| {
            let mut f = MetricFamily::gauge(name, help);
            f.add_gauge(labels.iter().map(|(k, v)| (k.as_str(), v.as_str())), v);
            families.push(f);
        };
        gauge(
            duration,
            "How long fetching and parsing the upstream took.",
            took.as_secs_f64(),
        );
        gauge(
            up,
            "Whether the upstream was fetched and parsed (1) or not (0).",
            if result.is_ok() { 1.0 } else { 0.0 },
        );
        families
    }
}

async fn serve(relay: Arc<Relay>, method: Method, headers: HeaderMap) -> Response {
    if method != Method::GET && method != Method::HEAD {
        return (
            StatusCode::METHOD_NOT_ALLOWED,
            [(header::ALLOW, "GET, HEAD")],
        )
            .into_response();
    }
    let format = match Format::negotiate(headers.get(header::ACCEPT).map(|v| v.as_bytes())) {
        Ok(format) => format,
        Err(e) => return (StatusCode::NOT_ACCEPTABLE, e.to_string()).into_response(),
    };
    let families = relay.scrape().await;
    let mut encoder = promhttp::encode::Encoder::new(format.dialect());
    for family in &families {
        encoder.write_family(family);
    }
    let body = encoder.finish();
    let mut response = ([(header::CONTENT_TYPE, format.content_type())], body).into_response();
    if method == Method::HEAD {
        *response.body_mut() = axum::body::Body::empty();
    }
    response
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    logging::init();
    let args = Args::parse();
    http_get::check_url(&args.url)?;
    let timeout = config::positive_seconds("--timeout", args.timeout)?;
    let renames = match &args.rename {
        Some(path) => read_renames(path)?,
        None => HashMap::new(),
    };
    let relay = Arc::new(Relay {
        url: args.url.clone(),
        timeout,
        rules: Rules {
            exclude: args.exclude,
            exclude_regex: args.exclude_regex,
            labels: std::iter::once(("service".to_owned(), args.service))
                .chain(args.label)
                .collect(),
            renames,
        },
        in_flight: Mutex::new(None),
    });
    let app = axum::Router::new().route(
        "/metrics",
        any(move |method: Method, headers: HeaderMap| serve(Arc::clone(&relay), method, headers)),
    );
    let listener = tokio::net::TcpListener::bind(SocketAddr::new(args.bind, args.port)).await?;
    println!(
        "relay: serving http://{}/metrics, relaying {}",
        listener.local_addr()?,
        args.url
    );
    axum::serve(listener, app).await?;
    Ok(())
}
