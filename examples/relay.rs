//! A relabelling exporter: re-exposes another target's metrics, filtered, renamed
//! and labelled, fetched afresh on every scrape.
//!
//! ```text
//! cargo run --example relay --features axum,exporter -- --service foo \
//!     --url http://127.0.0.1:9880/metrics --port 9999 \
//!     --exclude exclude_me --exclude-regex '^go_.*' --label team=core
//! ```
//!
//! The upstream may answer Prometheus text 0.0.4, OpenMetrics or a flat JSON object
//! of numbers (`{"queue_depth": 3, "ready": true}`), told apart by its
//! `Content-Type`; text and OpenMetrics are read by promhttp's strict parser, so
//! types, help and units are kept. Every sample gets `service="<--service>"` and
//! each `--label`; an upstream label of the same name keeps its value as
//! `exported_<name>`, as Prometheus does with a target's labels. `--rename FILE` maps family
//! names, one `old new` pair per line (`#` starts a comment).
//!
//! A family the upstream gave no help gets one saying it is relayed (so the
//! output passes `promtool check metrics`).
//!
//! Two families are added: `relay_upstream_up` (1 if the upstream was fetched
//! and parsed, else 0) and `relay_scrape_duration_seconds` (how long the whole
//! scrape took: fetching, parsing, relabelling, checking and encoding), named
//! so that they never meet Prometheus' own `up` and `scrape_duration_seconds`
//! of the relay's target (they were `up` and `scrape_duration_seconds` before,
//! and `up == 0` matched both the relay and its upstream); and the relay's own calls to
//! the upstream, `http_client_requests_total`,
//! `http_client_request_duration_seconds` and `http_client_requests_in_flight`
//! (`promhttp::fetch` with `HttpClientMetrics`), which count every fetch, a
//! fetch that several scrapes joined once. An upstream that is down,
//! sends something unparsable or too large, or whose scrape takes longer than
//! `--timeout` all told, gives `relay_upstream_up 0` and one logged reason, never a 500 or a
//! half-written body.
//!
//! # Under load and hostile upstreams
//!
//! - Scrapes that arrive while a fetch is in flight join it: the upstream sees
//!   one request, the answer is parsed once and encoded once per format however
//!   many scrapers wait. A fetch whose scrapers all left is abandoned (its
//!   connection closed, its work stopped), and a fetch that has finished is never
//!   served to a scrape that arrives after it: nothing is cached.
//! - Parsing, relabelling, checking and encoding run on a thread of their own,
//!   one fetch's work at a time, never on the server's async workers.
//! - `/metrics` goes through a [`MetricsEndpoint`]: past
//!   `--max-concurrent-scrapes`, `503` with `Retry-After`. A scrape counts until
//!   its answer has been taken whole, or for `--send-timeout` at most.
//! - The upstream's body is capped (`--max-upstream-bytes`) and so is the answer
//!   (`--max-answer-bytes`): past either, `relay_upstream_up 0` with the reason.
//! - What is left out of an answer (excluded families aside) is logged as one
//!   line per fetch and cause, with a count.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use clap::Parser;
use futures_util::future::{BoxFuture, FutureExt, Shared};
use http_body::{Frame, SizeHint};
use promhttp::encode::{Dialect, Encoder};
use promhttp::family::{MetricFamily, MetricType};
use promhttp::fetch::{Fetch, FetchResponse};
use promhttp::names::{check_label_name, check_metric_name};
use promhttp::parse::Piece;
use promhttp::{Format, MetricsEndpoint, Registry, ScrapePermit, ScrapeResponse};
use regex::Regex;

#[allow(dead_code)]
#[path = "support/config.rs"]
mod config;
#[path = "support/serve.rs"]
mod http_serve;
#[path = "support/logging.rs"]
mod logging;

/// Re-exposes another target's metrics, filtered, renamed and labelled.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// `start`, as the original exporter's command line has it; optional.
    #[arg(value_parser = ["start"], hide_possible_values = true)]
    command: Option<String>,
    /// The value of the `service` label added to every sample.
    #[arg(short = 's', long)]
    service: String,
    /// The upstream's metrics URL: `http://` or `https://`.
    #[arg(short = 'u', long)]
    url: String,
    /// Port to serve `/metrics` on.
    #[arg(short = 'p', long, default_value_t = 9999)]
    port: u16,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    bind: IpAddr,
    /// A family to drop, by its name or one of its sample names
    /// (`http_requests` or `http_requests_total`); repeatable.
    #[arg(long)]
    exclude: Vec<String>,
    /// A regular expression of families to keep (repeatable): with it, only
    /// families whose name one matches are relayed (`--exclude` still
    /// applies). The `regex` crate has no look-around, so an allow-list is how
    /// to say "all but".
    #[arg(long)]
    include_regex: Vec<Regex>,
    /// A regular expression of families to drop (repeatable; matched against the
    /// family name, e.g. `^go_.*`).
    #[arg(long)]
    exclude_regex: Vec<Regex>,
    /// A label `name=value` added to every sample (repeatable); the upstream's
    /// own label of that name is kept as `exported_<name>`.
    #[arg(long, value_parser = parse_label)]
    label: Vec<(String, String)>,
    /// A file of `old new` family-name pairs, one per line.
    #[arg(long)]
    rename: Option<PathBuf>,
    /// How long one scrape may take all told (fetching, parsing, relabelling,
    /// checking and encoding), in seconds; past it, `relay_upstream_up 0`.
    #[arg(long, default_value_t = 5.0)]
    timeout: f64,
    /// Scrapes served at once; past it, `503`. A scrape counts until its answer
    /// has been taken whole (or for `--send-timeout`). 0: no limit.
    #[arg(long, default_value_t = promhttp::DEFAULT_MAX_CONCURRENT_SCRAPES)]
    max_concurrent_scrapes: usize,
    /// A PEM file of CA certificates to trust for an `https://` upstream,
    /// beside Mozilla's roots.
    #[arg(long, value_name = "PATH")]
    ca_file: Option<std::path::PathBuf>,
    /// A header sent with every fetch of the upstream, `Name: value`;
    /// repeatable.
    #[arg(long = "header", value_name = "NAME: VALUE")]
    headers: Vec<String>,
    /// A file holding a bearer token, sent as `Authorization: Bearer <token>`.
    #[arg(long, value_name = "PATH")]
    bearer_token_file: Option<std::path::PathBuf>,
    /// A bearer token, from the environment only (never on the command line,
    /// where `ps` shows it).
    #[arg(skip = std::env::var("RELAY_BEARER_TOKEN").ok())]
    bearer_token: Option<String>,
    /// The largest upstream body read, in bytes; a larger one gives `relay_upstream_up 0`.
    #[arg(long, default_value_t = promhttp::fetch::DEFAULT_MAX_BODY)]
    max_upstream_bytes: usize,
    /// The largest answer served, in bytes (in each format); a larger one gives
    /// `relay_upstream_up 0` instead.
    #[arg(long, default_value_t = 64 << 20)]
    max_answer_bytes: usize,
    /// How long a scraper may take to read its answer, in seconds; past it the
    /// answer is dropped and its scrape no longer counts.
    #[arg(long, default_value_t = 30.0)]
    send_timeout: f64,
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
/// Prefixed, so that they never meet Prometheus' own `up` and
/// `scrape_duration_seconds` of the relay's target (before, `up == 0` matched
/// both the relay and its upstream).
const OWN_FAMILIES: [&str; 2] = ["relay_scrape_duration_seconds", "relay_upstream_up"];

/// Samples in a piece of an upstream family: a family is parsed, relabelled,
/// checked and written this many samples at a time, so that a scrape holds one
/// piece, not one family (a million series in one family held whole cost 47
/// times the body).
const PIECE_SAMPLES: usize = 4096;

/// Why a family (or a JSON key) was left out of an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Cause {
    /// It would write `relay_upstream_up` or `relay_scrape_duration_seconds`, which are the relay's.
    OwnName,
    /// Its name, or a sample name its type writes, is an earlier family's.
    Clash,
    /// It breaks a rule of `MetricFamily::validate` once relabelled.
    Invalid,
    /// A JSON value that is not a number or a boolean.
    NotANumber,
    /// A JSON key that is not a metric name.
    BadName,
}

impl Cause {
    const fn describe(self) -> &'static str {
        match self {
            Self::OwnName => {
                "they would replace the relay's own `relay_upstream_up`, `relay_scrape_duration_seconds` or `http_client_*`"
            }
            Self::Clash => "their names clash with an earlier family's",
            Self::Invalid => "they are invalid once relabelled",
            Self::NotANumber => "JSON values that are not numbers or booleans",
            Self::BadName => "JSON keys that are not metric names",
        }
    }
}

/// What one fetch left out, by cause: logged as one line per cause, with a
/// count and the first case, however many there were.
#[derive(Debug, Default)]
struct Dropped(BTreeMap<Cause, (usize, String)>);

impl Dropped {
    fn add(&mut self, cause: Cause, first: impl FnOnce() -> String) {
        self.0.entry(cause).or_insert_with(|| (0, first())).0 += 1;
    }

    fn log(&self, url: &str) {
        for (&cause, (count, first)) in &self.0 {
            let what = cause.describe();
            if cause == Cause::NotANumber {
                tracing::debug!("{url}: {count} left out: {what} (the first: {first})");
            } else {
                tracing::warn!("{url}: {count} left out: {what} (the first: {first})");
            }
        }
    }
}

/// What to do to the upstream's families.
struct Rules {
    exclude: Vec<String>,
    include_regex: Vec<Regex>,
    exclude_regex: Vec<Regex>,
    labels: Vec<(String, String)>,
    renames: HashMap<String, String>,
    /// The `--exclude` names and `--rename` keys some family matched, for the
    /// warning about those that match nothing.
    matched: Mutex<HashSet<String>>,
    /// Whether that warning was given.
    warned: AtomicBool,
}

impl Rules {
    /// Whether `family` is left out: not matched by an `--include-regex`
    /// given, or named by `--exclude` (as a family or one of its samples) or
    /// an `--exclude-regex`.
    fn excluded(&self, family: &MetricFamily) -> bool {
        let name = family.name.as_str();
        if !self.include_regex.is_empty() && !self.include_regex.iter().any(|r| r.is_match(name)) {
            return true;
        }
        let samples = family.metric_type.sample_names(name);
        let named = self
            .exclude
            .iter()
            .find(|e| *e == name || samples.iter().any(|s| s == *e));
        if let Some(named) = named {
            self.matched(named);
            return true;
        }
        self.exclude_regex.iter().any(|r| r.is_match(name))
    }

    /// Notes that an `--exclude` name or `--rename` key matched a family.
    fn matched(&self, key: &str) {
        let mut matched = self.matched.lock().unwrap_or_else(PoisonError::into_inner);
        if !matched.contains(key) {
            matched.insert(key.to_owned());
        }
    }

    /// After the first whole fetch: a warning, once, for every `--exclude`
    /// name and `--rename` key no family matched (a typo, or a name the
    /// upstream does not have).
    fn warn_unmatched(&self, url: &str) {
        if self.warned.swap(true, Ordering::Relaxed) {
            return;
        }
        let matched = self.matched.lock().unwrap_or_else(PoisonError::into_inner);
        for name in &self.exclude {
            if !matched.contains(name) {
                tracing::warn!("{url}: --exclude {name}: no family of that name or sample name");
            }
        }
        for old in self.renames.keys() {
            if !matched.contains(old) {
                tracing::warn!("{url}: --rename {old}: no family of that name or sample name");
            }
        }
    }

    /// The new family name for `family` by `--rename`: a key that is the
    /// family's name, or one of its sample names (`http_requests_total
    /// api_requests_total` renames the counter `http_requests` to
    /// `api_requests`).
    fn renamed(&self, family: &MetricFamily) -> Option<String> {
        if let Some(new) = self.renames.get(&family.name) {
            self.matched(&family.name);
            return Some(new.clone());
        }
        for sample in family.metric_type.sample_names(&family.name) {
            if let Some(new) = self.renames.get(&sample) {
                self.matched(&sample);
                let suffix = sample
                    .strip_prefix(family.name.as_str())
                    .unwrap_or_default();
                return Some(new.strip_suffix(suffix).unwrap_or(new).to_owned());
            }
        }
        None
    }

    /// Adds the relay's labels. An upstream label of the same name keeps its
    /// value as `exported_<name>`, as Prometheus does with a target's labels
    /// (`honor_labels: false`); one named `exported_<name>` becomes
    /// `exported_exported_<name>`, and so on. Two different series therefore
    /// stay different once labelled, so a family can be relabelled a piece at a
    /// time without checking its series against those of its earlier pieces.
    fn label(&self, labels: &mut Vec<(String, String)>) {
        for (name, value) in &self.labels {
            for (label, _) in labels.iter_mut() {
                if is_exported(label, name) {
                    label.insert_str(0, "exported_");
                }
            }
            labels.push((name.clone(), value.clone()));
        }
    }

    /// Renames and labels one piece of a family in place.
    fn relabel(&self, family: &mut MetricFamily) {
        if let Some(new) = self.renamed(family) {
            let new = &new;
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
    }

    /// The sample names a family (its first piece, relabelled) writes, if it may
    /// be relayed: not one of the relay's own, not an earlier family's (`taken`).
    fn admit(
        &self,
        family: &MetricFamily,
        taken: &HashSet<String>,
        dropped: &mut Dropped,
    ) -> Option<Vec<String>> {
        let names = family.metric_type.sample_names(&family.name);
        if let Some(own) = names.iter().find(|n| {
            OWN_FAMILIES.contains(&n.as_str())
                || n.starts_with("http_client_")
                || n.starts_with("promhttp_client_")
        }) {
            dropped.add(Cause::OwnName, || format!("`{own}`"));
            return None;
        }
        if names.iter().any(|n| taken.contains(n)) {
            dropped.add(Cause::Clash, || format!("`{}`", family.name));
            return None;
        }
        Some(names)
    }
}

/// Whether `label` is `name` under none or more `exported_` prefixes.
fn is_exported(mut label: &str, name: &str) -> bool {
    while label != name {
        match label.strip_prefix("exported_") {
            Some(rest) => label = rest,
            None => return false,
        }
    }
    true
}

/// A flat JSON object of numbers (and booleans) as gauges; other values are skipped.
fn json_families(body: &[u8], dropped: &mut Dropped) -> Result<Vec<MetricFamily>, String> {
    let object: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(body).map_err(|e| format!("invalid JSON object: {e}"))?;
    let mut out = Vec::new();
    for (key, value) in object {
        let v = match value {
            serde_json::Value::Number(n) => n.as_f64(),
            serde_json::Value::Bool(b) => Some(if b { 1.0 } else { 0.0 }),
            _ => None,
        };
        let Some(v) = v else {
            dropped.add(Cause::NotANumber, || format!("{key:?}"));
            continue;
        };
        let mut family = MetricFamily::gauge(key, "");
        family.add_gauge(promhttp::family::NO_LABELS, v);
        if family.validate().is_ok() {
            out.push(family);
        } else {
            dropped.add(Cause::BadName, || format!("{:?}", family.name));
        }
    }
    Ok(out)
}

/// The dialects an answer can be written in, in the order of [`Answers`].
const DIALECTS: [Dialect; 3] = [Dialect::OpenMetrics, Dialect::Text, Dialect::Protobuf];

const fn dialect_index(dialect: Dialect) -> usize {
    match dialect {
        Dialect::OpenMetrics => 0,
        Dialect::Text => 1,
        Dialect::Protobuf => 2,
    }
}

/// A flight's answers, one per dialect its scrapes asked for.
#[derive(Debug, Default)]
struct Answers([Option<Bytes>; 3]);

/// A fetch and everything done with what it brought, shared by the scrapes that
/// join it while it is in flight. The scrapes waiting for it hold it; when the
/// last one leaves, it is dropped, and with it the fetch and its work.
struct Flight {
    /// The dialects the scrapes that joined asked for, one bit each.
    wanted: Arc<AtomicU8>,
    answers: Shared<BoxFuture<'static, Arc<Answers>>>,
}

/// Set when dropped: tells the blocking work of a flight that no one waits for
/// it any more.
#[derive(Default)]
struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// What the blocking work of a flight needs to know.
struct Job {
    started: Instant,
    deadline: Instant,
    stop: Arc<AtomicBool>,
    wanted: u8,
}

impl Job {
    fn over(&self) -> bool {
        self.stop.load(Ordering::Relaxed) || Instant::now() >= self.deadline
    }
}

struct Relay {
    url: String,
    timeout: Duration,
    /// How the upstream is fetched: `--timeout` and `--max-upstream-bytes`,
    /// each fetch recorded in `own`.
    fetch: Fetch,
    /// The relay's own metrics: its calls to the upstream.
    own: Registry,
    max_answer: usize,
    rules: Rules,
    /// The flight scrapes join, while it is fetching: its number, and a weak
    /// handle so that the slot alone does not keep it alive.
    in_flight: Mutex<Option<(u64, Weak<Flight>)>>,
    flights: AtomicU64,
    /// The work thread's queue (see [`work_thread`]).
    work: tokio::sync::mpsc::Sender<Work>,
}

/// A flight's blocking work: parsing, relabelling, checking and encoding.
type Work = Box<dyn FnOnce() + Send>;

/// Starts the thread that does every flight's blocking work, one flight at a
/// time, off the server's async workers. One thread, so that the work of a
/// flight given up (which cannot be interrupted in the middle of parsing) holds
/// back the next rather than running beside it, and so that every scrape's
/// allocations come from the same allocator arena and reuse the memory of the
/// scrape before. The queue holds one flight's work while another's runs.
fn work_thread() -> io::Result<tokio::sync::mpsc::Sender<Work>> {
    let (sender, mut queue) = tokio::sync::mpsc::channel::<Work>(1);
    std::thread::Builder::new()
        .name("relay-work".to_owned())
        .spawn(move || {
            while let Some(work) = queue.blocking_recv() {
                // A flight whose work panicked answers `relay_upstream_up 0`; the next is served.
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(work));
            }
        })?;
    Ok(sender)
}

const ACCEPT: &str = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,application/json;q=0.4";

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Relay {
    /// The flight in progress, joined, or a new one.
    fn join(self: &Arc<Self>, dialect: Dialect) -> Arc<Flight> {
        let bit = 1 << dialect_index(dialect);
        let mut slot = lock(&self.in_flight);
        if let Some(flight) = slot.as_ref().and_then(|(_, weak)| weak.upgrade()) {
            // Under the slot's lock, so the flight reads it after every join.
            flight.wanted.fetch_or(bit, Ordering::Relaxed);
            return flight;
        }
        let id = self.flights.fetch_add(1, Ordering::Relaxed);
        let wanted = Arc::new(AtomicU8::new(bit));
        let answers = Arc::clone(self)
            .fly(id, Instant::now(), Arc::clone(&wanted))
            .boxed()
            .shared();
        let flight = Arc::new(Flight { wanted, answers });
        *slot = Some((id, Arc::downgrade(&flight)));
        flight
    }

    /// Ends flight `id`'s time in the slot: scrapes from now on start a flight of
    /// their own.
    fn land(&self, id: u64) {
        let mut slot = lock(&self.in_flight);
        if slot.as_ref().is_some_and(|(current, _)| *current == id) {
            *slot = None;
        }
    }

    /// One flight: fetch, then parse, relabel, check and encode on the work
    /// thread, all within `--timeout` of `started`.
    async fn fly(
        self: Arc<Self>,
        id: u64,
        started: Instant,
        wanted: Arc<AtomicU8>,
    ) -> Arc<Answers> {
        let deadline = started + self.timeout;
        let tokio_deadline = tokio::time::Instant::from_std(deadline);
        let stop = StopOnDrop::default();
        let fetched = tokio::time::timeout_at(tokio_deadline, self.fetch()).await;
        // No scrape joins from here on, so none is served a fetch that had
        // finished before it arrived; and the dialects wanted are known.
        self.land(id);
        let wanted = wanted.load(Ordering::Relaxed);
        let response = match fetched {
            Ok(Ok(response)) => response,
            Ok(Err(reason)) => return Arc::new(self.failed(wanted, started, &reason)),
            Err(_) => {
                let reason = format!("no complete answer within --timeout ({:?})", self.timeout);
                return Arc::new(self.failed(wanted, started, &reason));
            }
        };
        let job = Job {
            started,
            deadline,
            stop: Arc::clone(&stop.0),
            wanted,
        };
        let (done, result) = tokio::sync::oneshot::channel();
        let relay = Arc::clone(&self);
        let work: Work = Box::new(move || {
            let _ = done.send(if job.over() {
                Err(relay.overrun())
            } else {
                relay.process(response, &job)
            });
        });
        // At most one flight's work waits while another's runs.
        if !matches!(
            tokio::time::timeout_at(tokio_deadline, self.work.send(work)).await,
            Ok(Ok(()))
        ) {
            let reason = format!(
                "the work of an earlier scrape, given up, did not end within --timeout ({:?})",
                self.timeout
            );
            return Arc::new(self.failed(wanted, started, &reason));
        }
        let reason = match tokio::time::timeout_at(tokio_deadline, result).await {
            Ok(Ok(Ok(answers))) => return Arc::new(answers),
            Ok(Ok(Err(reason))) => reason,
            Ok(Err(_panicked)) => "processing the answer failed".to_owned(),
            Err(_) => self.overrun(),
        };
        Arc::new(self.failed(wanted, started, &reason))
        // `stop` is dropped here: work still running stops at its next check.
    }

    fn overrun(&self) -> String {
        format!(
            "parsing, relabelling and encoding did not end within --timeout ({:?})",
            self.timeout
        )
    }

    async fn fetch(&self) -> Result<FetchResponse, String> {
        let response = self.fetch.get(&self.url, ACCEPT).await.map_err(|e| {
            // The whole chain: `connection refused`, not only that it failed.
            let mut reason = e.to_string();
            let mut cause = std::error::Error::source(&e);
            while let Some(c) = cause {
                reason.push_str(": ");
                reason.push_str(&c.to_string());
                cause = c.source();
            }
            reason
        })?;
        if response.status != 200 {
            return Err(format!("it answered HTTP {}", response.status));
        }
        Ok(response)
    }

    /// The blocking work of a flight: the upstream's families are read one at a
    /// time (text and OpenMetrics are parsed as a stream, so that memory holds
    /// the body, one family and the answers, never the whole parsed upstream),
    /// relabelled, checked and written into each dialect wanted. `Err` is why the
    /// upstream cannot be relayed; the answers are finished only once the whole
    /// body has been read without an error.
    fn process(&self, response: FetchResponse, job: &Job) -> Result<Answers, String> {
        let mut dropped = Dropped::default();
        let upstream_len = response.body.len();
        let content_type = response.content_type.as_deref();
        let pieces: Box<dyn Iterator<Item = Result<Piece, String>>> =
            if content_type.is_some_and(|t| t.trim_start().starts_with("application/json")) {
                Box::new(
                    json_families(&response.body, &mut dropped)?
                        .into_iter()
                        .map(|family| {
                            Ok(Piece {
                                family,
                                first: true,
                                last: true,
                            })
                        }),
                )
            } else {
                let body = std::str::from_utf8(&response.body)
                    .map_err(|e| format!("the body is not UTF-8: {e}"))?;
                Box::new(
                    promhttp::parse::families(content_type, body)
                        .in_pieces(PIECE_SAMPLES)
                        .map(|p| p.map_err(|e| e.to_string())),
                )
            };
        // Room for an answer about the upstream's size, so that the answer does
        // not grow by doubling (which would hold twice its size, and three times
        // while the last doubling copies).
        let room = (upstream_len + upstream_len / 4 + 4096).min(self.max_answer + 1);
        let mut writers: Vec<(Dialect, Result<Encoder, String>)> = wanted(job.wanted)
            .map(|d| (d, Ok(Encoder::with_buffer(d, Vec::with_capacity(room)))))
            .collect();
        let mut taken = HashSet::new();
        // The sample names of the family being relayed, taken once it is whole;
        // `None` while one being left out goes on.
        let mut kept: Option<Vec<String>> = None;
        for (i, piece) in pieces.enumerate() {
            if i % 64 == 0 && job.over() {
                return Err(self.overrun());
            }
            let Piece {
                mut family,
                first,
                last,
            } = piece?;
            if first {
                kept = None;
                if self.rules.excluded(&family) {
                    continue;
                }
                self.rules.relabel(&mut family);
                kept = self.rules.admit(&family, &taken, &mut dropped);
            } else if kept.is_some() {
                self.rules.relabel(&mut family);
            }
            if kept.is_none() {
                continue;
            }
            // A piece holds whole metrics, and relabelling keeps different
            // series different: what makes a family invalid is in one piece.
            if let Err(e) = family.validate() {
                dropped.add(Cause::Invalid, || e.to_string());
                // Withdraw what its earlier pieces wrote (a first piece wrote
                // nothing: the family open in the encoders is the one before).
                if !first {
                    for (_, writer) in &mut writers {
                        if let Ok(encoder) = writer {
                            encoder.discard_family();
                        }
                    }
                }
                kept = None;
                continue;
            }
            for (_, writer) in &mut writers {
                if let Ok(encoder) = writer {
                    if first {
                        encoder.write_family(&family);
                    } else {
                        encoder.write_more(&family);
                    }
                    if encoder.len() > self.max_answer {
                        *writer = Err(format!(
                            "the answer would be larger than --max-answer-bytes ({} bytes)",
                            self.max_answer
                        ));
                    }
                }
            }
            if last {
                taken.extend(kept.take().unwrap_or_default());
            }
        }
        dropped.log(&self.url);
        self.rules.warn_unmatched(&self.url);
        let took = job.started.elapsed();
        let mut answers = Answers::default();
        for (dialect, writer) in writers {
            answers.0[dialect_index(dialect)] = Some(match writer {
                Ok(encoder) => self.finish(encoder, took, true),
                Err(reason) => {
                    tracing::warn!("upstream {} unusable: {reason}", self.url);
                    self.finish(Encoder::new(dialect), took, false)
                }
            });
        }
        Ok(answers)
    }

    /// `relay_upstream_up 0` in every dialect wanted, and the reason logged once.
    fn failed(&self, wanted_bits: u8, started: Instant, reason: &str) -> Answers {
        tracing::warn!("upstream {} unusable: {reason}", self.url);
        let took = started.elapsed();
        let mut answers = Answers::default();
        for dialect in wanted(wanted_bits) {
            answers.0[dialect_index(dialect)] =
                Some(self.finish(Encoder::new(dialect), took, false));
        }
        answers
    }

    /// Ends an answer with the relay's own families.
    fn finish(&self, mut encoder: Encoder, took: Duration, up: bool) -> Bytes {
        let mut labels = Vec::new();
        self.rules.label(&mut labels);
        let [duration, up_name] = OWN_FAMILIES;
        let mut gauge = |name: &str, help: &str, v: f64| {
            let mut f = MetricFamily::gauge(name, help);
            f.add_gauge(labels.iter().map(|(k, v)| (k.as_str(), v.as_str())), v);
            encoder.write_family(&f);
        };
        gauge(
            duration,
            "How long the scrape took: fetching, parsing, relabelling, checking and encoding the upstream.",
            took.as_secs_f64(),
        );
        gauge(
            up_name,
            "Whether the upstream was fetched, parsed and relayed whole (1) or not (0).",
            if up { 1.0 } else { 0.0 },
        );
        // The relay's calls to the upstream.
        if self.own.write_into(&mut encoder).is_err() {
            tracing::warn!("the relay's own metrics could not be written");
        }
        let mut body = encoder.finish();
        body.shrink_to_fit();
        Bytes::from(body)
    }
}

/// The dialects whose bits are set.
fn wanted(bits: u8) -> impl Iterator<Item = Dialect> {
    DIALECTS
        .into_iter()
        .filter(move |&d| bits & (1 << dialect_index(d)) != 0)
}

/// How much of an answer is copied out per frame.
const CHUNK: usize = 64 << 10;

/// The answer to one scrape. It is sent in chunks copied from the answer the
/// flight's scrapes share, so what the server queues for a client that reads
/// slowly is that client's own, never the whole shared answer. It holds its
/// scrape's permit until the last chunk is taken or the body is dropped, and
/// gives both up after `--send-timeout`: then the connection is closed the next
/// time the server writes to it.
struct AnswerBody {
    state: Arc<Mutex<Sending>>,
    timer: tokio::task::AbortHandle,
}

enum Sending {
    Left {
        answer: Bytes,
        sent: usize,
        _permit: ScrapePermit,
    },
    Done,
    TimedOut,
}

impl AnswerBody {
    fn new(answer: Bytes, permit: ScrapePermit, send_timeout: Duration) -> Self {
        let state = Arc::new(Mutex::new(if answer.is_empty() {
            Sending::Done
        } else {
            Sending::Left {
                answer,
                sent: 0,
                _permit: permit,
            }
        }));
        let weak = Arc::downgrade(&state);
        let timer = tokio::spawn(async move {
            tokio::time::sleep(send_timeout).await;
            if let Some(state) = weak.upgrade() {
                let mut state = lock(&state);
                if matches!(*state, Sending::Left { .. }) {
                    *state = Sending::TimedOut;
                }
            }
        })
        .abort_handle();
        Self { state, timer }
    }
}

impl Drop for AnswerBody {
    fn drop(&mut self) {
        self.timer.abort();
    }
}

impl http_body::Body for AnswerBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let mut state = lock(&self.state);
        match &mut *state {
            Sending::Left { answer, sent, .. } => {
                let end = (*sent + CHUNK).min(answer.len());
                let chunk = Bytes::copy_from_slice(&answer[*sent..end]);
                *sent = end;
                if end == answer.len() {
                    *state = Sending::Done;
                }
                Poll::Ready(Some(Ok(Frame::data(chunk))))
            }
            Sending::Done => Poll::Ready(None),
            Sending::TimedOut => Poll::Ready(Some(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the answer was not taken within --send-timeout",
            )))),
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(*lock(&self.state), Sending::Done)
    }

    fn size_hint(&self) -> SizeHint {
        match &*lock(&self.state) {
            Sending::Left { answer, sent, .. } => {
                SizeHint::with_exact((answer.len() - sent) as u64)
            }
            _ => SizeHint::with_exact(0),
        }
    }
}

/// A refusal of the endpoint (`503` past the concurrency limit) as a response.
fn refusal(refused: ScrapeResponse) -> Response {
    let mut response = Response::new(axum::body::Body::from(refused.body));
    *response.status_mut() =
        StatusCode::from_u16(refused.status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(refused.content_type),
    );
    for (name, value) in refused.headers {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

struct Server {
    relay: Arc<Relay>,
    endpoint: MetricsEndpoint,
    send_timeout: Duration,
}

async fn serve(
    server: Arc<Server>,
    method: Method,
    uri: axum::http::Uri,
    headers: HeaderMap,
) -> Response {
    if method != Method::GET && method != Method::HEAD {
        return (
            StatusCode::METHOD_NOT_ALLOWED,
            [(header::ALLOW, "GET, HEAD")],
        )
            .into_response();
    }
    // `?format=text` first, as at every promhttp endpoint: Prometheus cannot
    // set `Accept`, but a job's `params` can ask for a format.
    let format = match Format::from_query(uri.query()) {
        Ok(Some(format)) => format,
        Ok(None) => match Format::negotiate(headers.get(header::ACCEPT).map(|v| v.as_bytes())) {
            Ok(format) => format,
            Err(e) => return (StatusCode::NOT_ACCEPTABLE, e.to_string()).into_response(),
        },
        Err(e) => return (StatusCode::BAD_REQUEST, format!("{e}\n")).into_response(),
    };
    let permit = match server.endpoint.admit(None) {
        Ok(permit) => permit,
        Err(refused) => return refusal(refused),
    };
    let dialect = format.dialect();
    let flight = server.relay.join(dialect);
    let answers = flight.answers.clone().await;
    drop(flight);
    let answer = answers.0[dialect_index(dialect)]
        .clone()
        .unwrap_or_else(|| {
            // Not reached: a flight answers every dialect its scrapes joined for.
            let reason = "the flight had no answer in this format";
            let failed = server
                .relay
                .failed(1 << dialect_index(dialect), Instant::now(), reason);
            failed.0[dialect_index(dialect)].clone().unwrap_or_default()
        });
    let body = if method == Method::HEAD {
        axum::body::Body::empty()
    } else {
        axum::body::Body::new(AnswerBody::new(answer, permit, server.send_timeout))
    };
    let mut response = Response::new(body);
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    response
}

fn positive_bytes(flag: &str, bytes: usize) -> Result<usize, String> {
    if bytes == 0 {
        return Err(format!("{flag} must be a positive number of bytes"));
    }
    Ok(bytes)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    logging::init();
    let args = Args::parse();
    promhttp::fetch::check_url(&args.url)?;
    let header_read_timeout = http_serve::header_read_timeout()?;
    let timeout = config::positive_seconds("--timeout", args.timeout)?;
    let send_timeout = config::positive_seconds("--send-timeout", args.send_timeout)?;
    let max_upstream = positive_bytes("--max-upstream-bytes", args.max_upstream_bytes)?;
    let max_answer = positive_bytes("--max-answer-bytes", args.max_answer_bytes)?;
    let renames = match &args.rename {
        Some(path) => read_renames(path)?,
        None => HashMap::new(),
    };
    // The relay's calls to the upstream, labelled as everything it serves
    // (`service` and the `--label`s).
    let own = Registry::new();
    let mut calls = promhttp::HttpClientMetrics::builder().registry(&own);
    for (name, value) in std::iter::once(("service".to_owned(), args.service.clone()))
        .chain(args.label.iter().cloned())
    {
        // A label the client families write themselves keeps their value.
        if ["method", "server_address", "status", "le", "metric"].contains(&name.as_str()) {
            tracing::warn!("--label {name}: not on the http_client_* families, which write `{name}` themselves");
            continue;
        }
        calls = calls.const_label(name, value);
    }
    let calls = calls.build()?;
    let relay = Arc::new(Relay {
        url: args.url.clone(),
        timeout,
        fetch: config::with_headers(
            config::with_ca_file(
                Fetch::new()
                    .timeout(timeout)
                    .max_body(max_upstream)
                    .metrics(&calls),
                args.ca_file.as_deref(),
            )?,
            &args.headers,
            args.bearer_token_file.as_deref(),
            args.bearer_token.as_deref(),
        )?,
        own,
        max_answer,
        rules: Rules {
            exclude: args.exclude,
            include_regex: args.include_regex,
            exclude_regex: args.exclude_regex,
            labels: std::iter::once(("service".to_owned(), args.service))
                .chain(args.label)
                .collect(),
            renames,
            matched: Mutex::default(),
            warned: AtomicBool::new(false),
        },
        in_flight: Mutex::new(None),
        flights: AtomicU64::new(0),
        work: work_thread()?,
    });
    let server = Arc::new(Server {
        relay,
        // The relay's own registry holds nothing but the endpoint's refusal counter.
        endpoint: MetricsEndpoint::new(&Registry::new())
            .max_concurrent_scrapes(args.max_concurrent_scrapes),
        send_timeout,
    });
    let app = axum::Router::new().route(
        "/metrics",
        any(
            move |method: Method, uri: axum::http::Uri, headers: HeaderMap| {
                serve(Arc::clone(&server), method, uri, headers)
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind(SocketAddr::new(args.bind, args.port)).await?;
    println!(
        "relay: serving http://{}/metrics, relaying {}",
        listener.local_addr()?,
        args.url
    );
    promhttp::axum::serve_app(listener, app, header_read_timeout).await?;
    Ok(())
}
