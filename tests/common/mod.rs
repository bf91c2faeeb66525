//! Helpers shared by the integration tests: expositions read with our own parser
//! (`promhttp::parse`) into a value look-up API, cross-checked against the
//! reference parsers (Python `prometheus_client`, `promtool`) where they are
//! installed, a small HTTP/1.1 client for live servers, and the example binaries
//! as child processes.
//!
//! Two tiers meet here. What a test asserts is read with our parser, so it runs
//! and bites on any machine. The conformance tier, our output checked by tools we
//! did not write, runs where the tools are installed: a missing tool is reported
//! by [`missing_tool`] (a `SKIPPED:` line, and a line in the file named by
//! `PROMHTTP_SKIP_LOG` that `scripts/test.sh` counts) or is a failure under
//! `PROMHTTP_REQUIRE_TOOLS=1`.
#![allow(dead_code, unreachable_pub)]

use std::collections::{BTreeMap, HashSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use promhttp::family::{self, MetricFamily, MetricType};

/// Whether CI demands every external tool (`PROMHTTP_REQUIRE_TOOLS=1`).
pub fn tools_required() -> bool {
    std::env::var("PROMHTTP_REQUIRE_TOOLS").is_ok_and(|v| v == "1")
}

/// Reports a conformance check skipped for want of a tool, while the test goes
/// on with its other assertions: a failure under `PROMHTTP_REQUIRE_TOOLS=1`,
/// otherwise a `SKIPPED: <reason>` line on stderr (once per reason and test
/// binary) and, when `PROMHTTP_SKIP_LOG` names a file, a line appended to it (see
/// [`log_skip`]).
pub fn missing_tool(reason: &str) {
    log_skip("check", reason);
}

/// Like [`missing_tool`], for a test that is a conformance check and nothing
/// else, and returns after this: the summary counts it as skipped whole.
pub fn skip_test(reason: &str) {
    log_skip("test", reason);
}

/// Says `SKIPPED: <reason>` on stderr, once per reason and test binary, and
/// appends one line `<test binary>\t<test>\t<kind>\t<reason>` per test, kind and
/// reason to the file named by `PROMHTTP_SKIP_LOG`, if set (`scripts/test.sh`
/// counts them at the end of its run); then fails under
/// `PROMHTTP_REQUIRE_TOOLS=1`, where the kind written is `required`.
fn log_skip(kind: &str, reason: &str) {
    let required = tools_required();
    let kind = if required { "required" } else { kind };
    // The test harness names each test's thread after the test.
    let test = std::thread::current()
        .name()
        .unwrap_or("<unnamed thread>")
        .to_owned();
    static SAID: Mutex<Vec<(String, String, String)>> = Mutex::new(Vec::new());
    let mut said = SAID
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if !required && !said.iter().any(|(_, _, r)| r == reason) {
        // Straight to the process's stderr, past the harness's output capture,
        // so that a skip is always seen.
        let _ = writeln!(std::io::stderr(), "SKIPPED: {reason}");
    }
    let logged = said
        .iter()
        .any(|(t, k, r)| *t == test && k == kind && r == reason);
    if !logged {
        said.push((test.clone(), kind.to_owned(), reason.to_owned()));
        if let Some(log) = std::env::var_os("PROMHTTP_SKIP_LOG") {
            let binary = std::env::current_exe()
                .ok()
                .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
                .map(|s| match s.rsplit_once('-') {
                    Some((name, _hash)) => name.to_owned(),
                    None => s,
                })
                .unwrap_or_default();
            // One write per line, in append mode: lines from test binaries never mix.
            let line = format!("{binary}\t{test}\t{kind}\t{reason}\n");
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(log);
            let _ = file.and_then(|mut f| f.write_all(line.as_bytes()));
        }
    }
    drop(said);
    assert!(!required, "PROMHTTP_REQUIRE_TOOLS=1 but {reason}");
}

/// Skips the calling test (a conformance test, which checks our output against
/// the Python parser and nothing else) when the Python parser is missing.
#[macro_export]
macro_rules! require_python_parser {
    () => {
        if !$crate::common::python_parser_available() {
            return $crate::common::skip_test($crate::common::NO_PYTHON_PARSER);
        }
    };
}

struct Worker {
    _child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

static WORKER: OnceLock<Option<Mutex<Worker>>> = OnceLock::new();

fn worker() -> Option<&'static Mutex<Worker>> {
    WORKER
        .get_or_init(|| {
            let script =
                Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/parse_exposition.py");
            let check = Command::new("python3")
                .args(["-c", "import prometheus_client.openmetrics.parser"])
                .output();
            if !check.is_ok_and(|o| o.status.success()) {
                return None;
            }
            let mut child = Command::new("python3")
                .arg(script)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .ok()?;
            let stdin = child.stdin.take()?;
            let stdout = BufReader::new(child.stdout.take()?);
            Some(Mutex::new(Worker {
                _child: child,
                stdin,
                stdout,
            }))
        })
        .as_ref()
}

/// Whether the Python parser can be used; prints the skip reason when not.
pub fn python_parser_available() -> bool {
    if worker().is_some() {
        return true;
    }
    missing_tool(NO_PYTHON_PARSER);
    false
}

/// Why the Python parser is unavailable.
pub const NO_PYTHON_PARSER: &str =
    "python3 with the prometheus_client package is not available (pip install prometheus_client)";

/// One sample of an [`Exposition`].
#[derive(Debug, Clone)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
    pub timestamp: Option<f64>,
    pub exemplar: Option<Exemplar>,
}

impl Sample {
    /// The labels as pairs, for [`Exposition::value`].
    pub fn label_pairs(&self) -> Vec<(&str, &str)> {
        self.labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    }
}

/// An exemplar of a [`Sample`].
#[derive(Debug, Clone)]
pub struct Exemplar {
    pub labels: BTreeMap<String, String>,
    pub value: f64,
    pub timestamp: Option<f64>,
}

/// One metric family of an [`Exposition`].
#[derive(Debug, Clone)]
pub struct Family {
    pub name: String,
    pub kind: String,
    pub help: String,
    /// The unit; empty when there is none.
    pub unit: String,
    pub samples: Vec<Sample>,
}

/// A parsed exposition, with value look-ups.
#[derive(Debug, Clone)]
pub struct Exposition {
    pub families: Vec<Family>,
}

/// Parses OpenMetrics text with our strict parser, and checks that the Python
/// parser reads the same (see [`try_parse`]).
///
/// # Panics
/// When either parser rejects the text or they disagree, with the reason.
pub fn parse_openmetrics(text: &str) -> Exposition {
    try_parse("openmetrics", text)
        .unwrap_or_else(|err| panic!("OpenMetrics exposition refused: {err}\n{text}"))
}

/// Parses Prometheus text 0.0.4 with our parser, and checks that the Python
/// parser reads the same (see [`try_parse`]).
///
/// # Panics
/// As [`parse_openmetrics`].
pub fn parse_text(text: &str) -> Exposition {
    try_parse("text", text)
        .unwrap_or_else(|err| panic!("text 0.0.4 exposition refused: {err}\n{text}"))
}

/// Parses `text` in `format` (`"openmetrics"` or `"text"`) with our parser
/// (`promhttp::parse`), which is what the tests assert on, so they run on any
/// machine. Where the Python `prometheus_client` is installed, the same text is
/// also read by its parser and must read the same (the conformance tier, on every
/// exposition the tests read); where it is not, that check is reported skipped by
/// [`missing_tool`].
///
/// # Errors
/// Our parser's refusal, Python's refusal of what we accepted, or how the two
/// readings differ.
pub fn try_parse(format: &str, text: &str) -> Result<Exposition, String> {
    let ours = match format {
        "openmetrics" => promhttp::parse::parse_openmetrics(text),
        "text" => promhttp::parse::parse_text(text),
        other => panic!("no format {other:?}"),
    }
    .map_err(|e| format!("promhttp::parse: {e}"))?;
    cross_check(format, text, &ours)?;
    Ok(from_families(&ours))
}

/// Checks that the Python parser reads `text` as `ours`, what our parser read from
/// it; `Ok` with the check reported skipped when Python's parser is missing.
///
/// # Errors
/// Python's refusal or how the readings differ.
pub fn cross_check(format: &str, text: &str, ours: &[MetricFamily]) -> Result<(), String> {
    if !python_parser_available() {
        return Ok(());
    }
    let theirs = python_try_parse(format, text)
        .map_err(|e| format!("accepted here, but Python's {format} parser refused it: {e}"))?;
    compare_with_reference(ours, &theirs)
        .map_err(|e| format!("Python's {format} parser differs: {e}"))
}

/// The [`Exposition`] view of what our parser read.
pub fn from_families(families: &[MetricFamily]) -> Exposition {
    let labels = |l: &family::Labels| l.iter().cloned().collect::<BTreeMap<_, _>>();
    Exposition {
        families: families
            .iter()
            .map(|f| Family {
                name: f.name.clone(),
                kind: f.metric_type.as_str().to_owned(),
                help: f.help.clone(),
                unit: f.unit.clone().unwrap_or_default(),
                samples: f
                    .samples
                    .iter()
                    .map(|s| Sample {
                        name: s.name.clone(),
                        labels: labels(&s.labels),
                        value: s.value,
                        timestamp: s.timestamp,
                        exemplar: s.exemplar.as_ref().map(|e| Exemplar {
                            labels: labels(&e.labels),
                            value: e.value,
                            timestamp: e.timestamp,
                        }),
                    })
                    .collect(),
            })
            .collect(),
    }
}

/// Parses with the Python parser only, returning its error message on rejection.
///
/// # Panics
/// When the Python parser is unavailable: call [`python_parser_available`] first.
pub fn python_try_parse(format: &str, text: &str) -> Result<Exposition, String> {
    exposition(&ask(format, text))
}

/// Parses each of `texts` with the Python parser, in one exchange with the
/// worker: what [`python_try_parse`] answers for each.
pub fn python_try_parse_many(format: &str, texts: &[String]) -> Vec<Result<Exposition, String>> {
    let batch = serde_json::json!({ "format": format, "texts": texts }).to_string();
    let reply = ask("batch", &batch);
    let replies = reply.as_array().expect("a batch reply is a list");
    assert_eq!(replies.len(), texts.len(), "one reply per text");
    replies.iter().map(exposition).collect()
}

/// Sends one request to the worker and reads its JSON answer.
fn ask(format: &str, payload: &str) -> serde_json::Value {
    let worker = worker().expect("the Python parser is not available");
    let mut worker = worker
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    writeln!(worker.stdin, "{format} {}", payload.len()).unwrap();
    worker.stdin.write_all(payload.as_bytes()).unwrap();
    worker.stdin.flush().unwrap();
    let mut line = String::new();
    worker.stdout.read_line(&mut line).unwrap();
    serde_json::from_str(&line).expect("worker reply is JSON")
}

/// The exposition in one worker answer, or the parser's error message.
fn exposition(reply: &serde_json::Value) -> Result<Exposition, String> {
    if reply["ok"] != true {
        return Err(reply["error"].as_str().unwrap_or("?").to_owned());
    }
    let number = |v: &serde_json::Value| v.as_str().map(parse_float);
    let labels = |v: &serde_json::Value| serde_json::from_value(v.clone()).unwrap();
    let families = reply["families"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| Family {
            name: f["name"].as_str().unwrap().to_owned(),
            kind: f["type"].as_str().unwrap().to_owned(),
            help: f["help"].as_str().unwrap_or("").to_owned(),
            unit: f["unit"].as_str().unwrap_or("").to_owned(),
            samples: f["samples"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| Sample {
                    name: s["name"].as_str().unwrap().to_owned(),
                    labels: labels(&s["labels"]),
                    value: number(&s["value"]).unwrap(),
                    timestamp: number(&s["timestamp"]),
                    exemplar: s["exemplar"].as_object().map(|e| Exemplar {
                        labels: labels(&e["labels"]),
                        value: number(&e["value"]).unwrap(),
                        timestamp: number(&e["timestamp"]),
                    }),
                })
                .collect(),
        })
        .collect();
    Ok(Exposition { families })
}

/// Checks that `ours`, what `promhttp::parse` read from an exposition, is what the
/// reference parser read from it (`theirs`): the same families (name, type, help,
/// unit) with the same samples (name, labels, value NaN-aware, timestamp,
/// exemplar), up to the samples the reference parser drops (see
/// [`python_keeps`]) and the last bits of timestamps (see [`close`]).
pub fn compare_with_reference(ours: &[MetricFamily], theirs: &Exposition) -> Result<(), String> {
    if ours.len() != theirs.families.len() {
        let names = |v: Vec<&str>| v.join(", ");
        return Err(format!(
            "families: [{}] here, [{}] in Python",
            names(ours.iter().map(|f| f.name.as_str()).collect()),
            names(theirs.families.iter().map(|f| f.name.as_str()).collect()),
        ));
    }
    for (o, t) in ours.iter().zip(&theirs.families) {
        let head = |f: &str, a: &dyn std::fmt::Debug, b: &dyn std::fmt::Debug| {
            Err(format!(
                "family `{}`: {f} {a:?} here, {b:?} in Python",
                o.name
            ))
        };
        if o.name != t.name {
            return head("name", &o.name, &t.name);
        }
        if o.metric_type.as_str() != t.kind {
            return head("type", &o.metric_type, &t.kind);
        }
        if o.help != t.help {
            return head("help", &o.help, &t.help);
        }
        if o.unit.as_deref().unwrap_or("") != t.unit {
            return head("unit", &o.unit, &t.unit);
        }
        let kept = python_keeps(o);
        if kept.len() != t.samples.len() {
            return head("samples", &kept, &t.samples);
        }
        for (s, ts) in kept.into_iter().zip(&t.samples) {
            if !same_sample(s, ts) {
                return head("sample", s, ts);
            }
        }
    }
    Ok(())
}

fn same_sample(s: &family::Sample, t: &Sample) -> bool {
    s.name == t.name
        && label_map(&s.labels).is_some_and(|m| m == t.labels)
        && same_number(s.value, t.value)
        && close(s.timestamp, t.timestamp)
        && match (&s.exemplar, &t.exemplar) {
            (None, None) => true,
            (Some(a), Some(b)) => same_exemplar(a, b),
            _ => false,
        }
}

fn same_exemplar(a: &family::Exemplar, b: &Exemplar) -> bool {
    label_map(&a.labels).is_some_and(|m| m == b.labels)
        && same_number(a.value, b.value)
        && close(a.timestamp, b.timestamp)
}

/// The labels as a map, `None` if a name repeats.
fn label_map(labels: &[(String, String)]) -> Option<BTreeMap<String, String>> {
    let map: BTreeMap<String, String> = labels.iter().cloned().collect();
    (map.len() == labels.len()).then_some(map)
}

fn same_number(a: f64, b: f64) -> bool {
    a == b || (a.is_nan() && b.is_nan())
}

/// Timestamps agree to the last bits: Python adds whole seconds and nanoseconds
/// in floating point, where this parser rounds the decimal once. And Python reads
/// a timestamp in (-1, 0), written `-0.5`, as 0.5 (divergence 3 of
/// `tests/exposition_gen`: the sign of `int("-0")` is lost); mutations can write one.
fn close(a: Option<f64>, b: Option<f64>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) if a > -1.0 && a < 0.0 && b == -a => true,
        (Some(a), Some(b)) => (a - b).abs() <= 4.0 * f64::EPSILON * a.abs().max(1.0),
        _ => false,
    }
}

/// The samples of `family` that the Python parser keeps (divergence 2 of
/// `tests/exposition_gen`): it drops a sample of a series its metric (its "group") has
/// written before when the sample before has the same timestamp, which loses the
/// second and later samples of a metric's later points. This parser keeps every
/// sample (and refuses a series repeated without timestamps, which Python also
/// drops: that case is never generated).
fn python_keeps(family: &MetricFamily) -> Vec<&family::Sample> {
    let mut kept = Vec::new();
    let mut previous: Option<(family::Labels, Option<f64>)> = None;
    let mut seen: HashSet<(String, Vec<(String, String)>)> = HashSet::new();
    for s in &family.samples {
        let group = python_group(family, s);
        let same_group = previous.as_ref().is_some_and(|(g, _)| *g == group);
        let same_time = previous.as_ref().is_some_and(|(_, t)| *t == s.timestamp);
        if !same_group {
            seen.clear();
        }
        let mut labels = s.labels.clone();
        labels.sort();
        let series = (s.name.clone(), labels);
        if !(same_group && same_time && seen.contains(&series)) {
            kept.push(s);
        }
        seen.insert(series);
        previous = Some((group, s.timestamp));
    }
    kept
}

/// The Python parser's metric of a sample: its labels but the one that tells the
/// samples of a point apart, and one metric for a whole info family.
fn python_group(family: &MetricFamily, s: &family::Sample) -> Vec<(String, String)> {
    let point_label = match family.metric_type {
        MetricType::Info => return Vec::new(),
        MetricType::Summary if s.name == family.name => Some("quantile"),
        MetricType::StateSet => Some(family.name.as_str()),
        MetricType::Histogram | MetricType::GaugeHistogram
            if s.name.strip_prefix(family.name.as_str()) == Some("_bucket") =>
        {
            Some("le")
        }
        _ => None,
    };
    let mut labels: Vec<(String, String)> = s
        .labels
        .iter()
        .filter(|(k, _)| Some(k.as_str()) != point_label)
        .cloned()
        .collect();
    labels.sort();
    labels
}

fn parse_float(s: &str) -> f64 {
    match s {
        "inf" => f64::INFINITY,
        "-inf" => f64::NEG_INFINITY,
        "nan" => f64::NAN,
        s => s.parse().unwrap(),
    }
}

/// A `traceparent` header value: trace id and span id all `n`, sampled or not.
pub fn traceparent(n: u8, sampled: bool) -> String {
    format!(
        "00-{}-{}-0{}",
        format!("{n:02x}").repeat(16),
        format!("{n:02x}").repeat(8),
        u8::from(sampled)
    )
}

/// The `trace_id` of the exemplar of the sample `name` with exactly `labels`, if
/// it has one; the exemplar's value must lie in its bucket when it is a bucket's.
pub fn exemplar_trace(m: &Exposition, name: &str, labels: &[(&str, &str)]) -> Option<String> {
    let sample = m
        .samples(name)
        .find(|s| labels_match(s, labels))
        .unwrap_or_else(|| panic!("no sample {name}{labels:?}"));
    let exemplar = sample.exemplar.as_ref()?;
    if let Some(le) = sample.labels.get("le") {
        assert!(
            exemplar.value <= parse_float_le(le),
            "{exemplar:?} above le={le}"
        );
    }
    assert!(
        exemplar.timestamp.is_some(),
        "{exemplar:?} has no timestamp"
    );
    assert_eq!(exemplar.labels.len(), 2, "{exemplar:?}");
    Some(exemplar.labels["trace_id"].clone())
}

fn parse_float_le(le: &str) -> f64 {
    if le == "+Inf" {
        f64::INFINITY
    } else {
        le.parse().unwrap()
    }
}

fn labels_match(sample: &Sample, labels: &[(&str, &str)]) -> bool {
    sample.labels.len() == labels.len()
        && labels
            .iter()
            .all(|(k, v)| sample.labels.get(*k).map(String::as_str) == Some(*v))
}

impl Exposition {
    /// Every sample called `name`.
    /// The distinct values of `label` on the samples named `name`, sorted;
    /// samples without the label are skipped.
    pub fn distinct<'a>(&'a self, name: &'a str, label: &str) -> Vec<&'a str> {
        let values: std::collections::BTreeSet<&str> = self
            .samples(name)
            .filter_map(|s| s.labels.get(label).map(String::as_str))
            .collect();
        values.into_iter().collect()
    }

    pub fn samples<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Sample> + 'a {
        self.families
            .iter()
            .flat_map(|f| &f.samples)
            .filter(move |s| s.name == name)
    }

    /// The family called `name`.
    pub fn family(&self, name: &str) -> Option<&Family> {
        self.families.iter().find(|f| f.name == name)
    }

    /// The value of the sample with exactly these labels.
    pub fn get(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let mut found = self.samples(name).filter(|s| labels_match(s, labels));
        let first = found.next()?;
        assert!(found.next().is_none(), "duplicate series {name}{labels:?}");
        Some(first.value)
    }

    /// Like [`get`](Self::get), panicking with the samples of that name if absent.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.get(name, labels).unwrap_or_else(|| {
            let have: Vec<_> = self.samples(name).map(|s| &s.labels).collect();
            panic!("no sample {name}{labels:?}; the samples of that name have labels {have:#?}")
        })
    }

    /// The sum of every sample called `name`.
    pub fn sum(&self, name: &str) -> f64 {
        self.samples(name).map(|s| s.value).sum()
    }

    /// Checks that every request that entered has been closed exactly once: the
    /// in-flight gauges are 0 and each `requests_total` series equals its
    /// histogram's `_count` and `+Inf` bucket.
    pub fn assert_books_balanced(&self) {
        for s in self.samples("http_server_requests_in_flight") {
            assert_eq!(s.value, 0.0, "in-flight not back at 0: {:?}", s.labels);
        }
        let requests: Vec<_> = self.samples("http_server_requests_total").collect();
        assert_eq!(
            requests.len(),
            self.samples("http_server_request_duration_seconds_count")
                .count(),
            "requests_total and the histogram have different series"
        );
        for s in requests {
            let labels: Vec<(&str, &str)> = s
                .labels
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            let count = self.value("http_server_request_duration_seconds_count", &labels);
            let mut with_le = labels.clone();
            with_le.push(("le", "+Inf"));
            let inf = self.value("http_server_request_duration_seconds_bucket", &with_le);
            assert_eq!(s.value, count, "requests_total != _count for {labels:?}");
            assert_eq!(count, inf, "_count != +Inf bucket for {labels:?}");
        }
    }

    /// Every label value in the exposition.
    pub fn label_values(&self) -> impl Iterator<Item = &str> {
        self.families
            .iter()
            .flat_map(|f| &f.samples)
            .flat_map(|s| s.labels.values().map(String::as_str))
    }
}

/// Runs `promtool check metrics` on Prometheus text 0.0.4; `None` when promtool is
/// missing (after reporting it), otherwise its combined output and whether it passed.
pub fn promtool_check_metrics(text: &str) -> Option<(bool, String)> {
    let child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let Ok(mut child) = child else {
        missing_tool("promtool is not installed (Debian package `prometheus`)");
        return None;
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let mut report = String::from_utf8_lossy(&out.stdout).into_owned();
    report.push_str(&String::from_utf8_lossy(&out.stderr));
    Some((out.status.success() && report.trim().is_empty(), report))
}

/// A response read by [`http`].
#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8(self.body.clone()).expect("UTF-8 body")
    }
}

/// One HTTP/1.1 request over a fresh connection (`Connection: close`).
pub fn http(
    addr: SocketAddr,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<HttpResponse> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut request = format!(
        "{method} {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes())?;
    stream.write_all(body)?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("no end of headers"))?;
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut rest = raw[split + 4..].to_vec();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other("bad status line"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let chunked = headers.iter().any(|(k, v)| {
        k.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked")
    });
    if chunked && method != "HEAD" {
        rest = dechunk(&rest)?;
    }
    Ok(HttpResponse {
        status,
        headers,
        body: rest,
    })
}

/// Why YAML files cannot be read whole.
pub const NO_PYYAML: &str =
    "PyYAML is not installed (pip install PyYAML, or Debian package python3-yaml)";

/// Runs the Python `program` (which imports PyYAML and prints JSON) with
/// `args`; its output, or `None` (after reporting) when python3 or PyYAML is
/// missing.
///
/// # Panics
/// When the program fails otherwise (a file that is not valid YAML).
pub fn python_yaml(program: &str, args: &[String]) -> Option<serde_json::Value> {
    let out = Command::new("python3")
        .arg("-c")
        .arg(program)
        .args(args)
        .output();
    match out {
        Ok(out) if out.status.success() => Some(serde_json::from_slice(&out.stdout).unwrap()),
        Ok(out) if String::from_utf8_lossy(&out.stderr).contains("No module named 'yaml'") => {
            missing_tool(NO_PYYAML);
            None
        }
        Ok(out) => panic!(
            "python3 -c {program:?} {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(_) => {
            missing_tool("python3 is not installed");
            None
        }
    }
}

/// Whether the server `binary` (from the Debian package `package`) answers
/// `--version`; reported as a missing tool when it does not.
pub fn installed(binary: &str, package: &str) -> bool {
    let there = Command::new(binary).arg("--version").output().is_ok();
    if !there {
        missing_tool(&format!(
            "{binary} is not installed (Debian package `{package}`)"
        ));
    }
    there
}

/// The standard output of `command`, which must succeed.
///
/// # Panics
/// When it cannot start or fails; with its standard error.
pub fn output_ok(command: &mut Command) -> Vec<u8> {
    let out = command.output().unwrap();
    assert!(
        out.status.success(),
        "{command:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Starts the server `command` makes for an address, on a free loopback
/// port, and waits until `health` answers 200. Such a server cannot be told to
/// pick its own port: a port found free may be taken by the time it binds, so
/// a start that fails to listen is retried, five times.
pub fn start_listening(
    what: &str,
    health: &str,
    command: impl Fn(SocketAddr) -> Command,
) -> (Running, SocketAddr) {
    for _ in 0..5 {
        let addr = free_addr();
        let mut process = Running(
            command(addr)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while std::time::Instant::now() < deadline && process.0.try_wait().unwrap().is_none() {
            if http(addr, "GET", health, &[], b"").is_ok_and(|r| r.status == 200) {
                return (process, addr);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    panic!("{what} did not start listening in five tries");
}

/// The examples listen on fixed ports with their defaults: one test at a time on
/// this machine (another worktree's run included) holds them.
pub fn default_ports_lock() -> std::fs::File {
    let path = std::env::temp_dir().join("promhttp-default-ports.lock");
    let file = std::fs::File::create(path).unwrap();
    file.lock().unwrap();
    file
}

/// Sends `GET target` `n` times over one kept-alive connection, each answer
/// read whole (by its `Content-Length`) before the next request; returns how
/// many answers had each status. Many requests without a connection each (and
/// a port in `TIME_WAIT` each).
///
/// # Panics
/// When the connection fails or an answer has no `Content-Length`.
pub fn send_many(addr: SocketAddr, target: &str, n: usize) -> BTreeMap<u16, usize> {
    use std::io::BufRead;
    let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut writer = stream.try_clone().unwrap();
    let mut reader = std::io::BufReader::new(stream);
    let request = format!("GET {target} HTTP/1.1\r\nHost: {addr}\r\n\r\n");
    let mut statuses = BTreeMap::new();
    for _ in 0..n {
        writer.write_all(request.as_bytes()).unwrap();
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        let status: u16 = line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("bad status line {line:?}"));
        let mut length = None;
        loop {
            line.clear();
            reader.read_line(&mut line).unwrap();
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((k, v)) = header.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    length = v.trim().parse::<usize>().ok();
                }
            }
        }
        let mut body = vec![0; length.expect("an answer with a Content-Length")];
        reader.read_exact(&mut body).unwrap();
        *statuses.entry(status).or_default() += 1;
    }
    statuses
}

fn dechunk(mut data: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = data
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or_else(|| std::io::Error::other("truncated chunk"))?;
        let size_text = String::from_utf8_lossy(&data[..line_end]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap().trim(), 16)
            .map_err(std::io::Error::other)?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        out.extend_from_slice(
            data.get(..size)
                .ok_or_else(|| std::io::Error::other("short chunk"))?,
        );
        data = &data[size + 2..];
    }
}

/// What Prometheus 2.x sends in `Accept`.
pub const PROMETHEUS_ACCEPT: &str = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

/// Sends a request and closes the connection without reading the answer, once
/// `arrived` says the server has it (in flight): a client that goes away while
/// the handler is still working.
pub fn send_and_disconnect(addr: SocketAddr, target: &str, arrived: impl Fn() -> bool) {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
    write!(stream, "GET {target} HTTP/1.1\r\nHost: {addr}\r\n\r\n").unwrap();
    stream.flush().unwrap();
    wait_until("the request to be in flight", HANG, || {
        arrived().then_some(()).ok_or_else(|| "not yet".to_owned())
    });
    drop(stream);
}

/// Starts a `POST target` announcing a 100,000-byte body, sends 5,000 bytes of
/// it and closes the connection: an upload cut mid-body.
pub fn send_cut_upload(addr: SocketAddr, target: &str) {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
    write!(
        stream,
        "POST {target} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 100000\r\n\r\n"
    )
    .unwrap();
    stream.write_all(&[b'x'; 5_000]).unwrap();
    stream.flush().unwrap();
    drop(stream);
}

/// How long a wait for something that must happen gives it before failing: not
/// a time it is expected to take (the waits end as soon as it has happened), only
/// a bound that turns a hang into a failure, generous enough for a loaded machine.
pub const HANG: Duration = Duration::from_secs(120);

/// Scrapes until `done` holds for the exposition (servers close their books a
/// moment after the client has read the answer), giving up after [`HANG`];
/// returns the last scrape either way.
pub async fn eventually(
    scrape: impl Fn() -> Exposition,
    done: impl Fn(&Exposition) -> bool,
) -> Exposition {
    let deadline = std::time::Instant::now() + HANG;
    let mut m = scrape();
    while !done(&m) && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
        m = scrape();
    }
    m
}

/// Polls a future that never waits on I/O (an in-process request) to completion,
/// with no runtime.
pub fn run<F: std::future::Future>(fut: F) -> F::Output {
    let mut fut = std::pin::pin!(fut);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return out;
        }
    }
}

/// Reads an http-body to its end in process, as a server would.
pub fn drain_body<B>(body: B)
where
    B: http_body::Body,
    B::Error: std::fmt::Debug,
{
    use http_body_util::BodyExt as _;
    let mut body = std::pin::pin!(body);
    while let Some(frame) = run(body.as_mut().frame()) {
        frame.unwrap();
    }
}

/// Reads an actix-web body to its end in process, as its server would.
pub fn drain_actix_body<B: actix_web::body::MessageBody>(body: B) {
    let mut body = std::pin::pin!(body);
    while let Some(chunk) = run(std::future::poll_fn(|cx| body.as_mut().poll_next(cx))) {
        chunk.unwrap_or_else(|_| panic!("body error"));
    }
}

/// Starts an actix-web `HttpServer` on a free loopback port (two workers, no
/// signal handling) on the current actix system: `(address, handle)`.
#[macro_export]
macro_rules! start_actix {
    ($server:expr) => {{
        let server = $server
            .workers(2)
            .disable_signals()
            .bind("127.0.0.1:0")
            .unwrap();
        let addr = server.addrs()[0];
        let server = server.run();
        let handle = server.handle();
        actix_web::rt::spawn(server);
        (addr, handle)
    }};
}

/// A child process, killed when dropped whatever the test's outcome.
pub struct Running(pub Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A loopback address with a port that was free a moment ago.
pub fn free_addr() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// The path of an example binary, which `cargo test` builds beside the tests.
pub fn example_binary(name: &str) -> PathBuf {
    // target/<profile>/deps/<this test> -> target/<profile>/examples/<name>
    let exe = std::env::current_exe().unwrap();
    let path = exe
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples")
        .join(name);
    assert!(
        path.exists(),
        "{} is missing: run the tests with `cargo test --all-features`, which builds the examples",
        path.display()
    );
    path
}

/// Starts an example with `env` and `args` and waits until it prints its
/// `http://` URL on its first line of output; returns the process and that line.
pub fn start_example(name: &str, env: &[(&str, &str)], args: &[&str]) -> (Running, String) {
    let (running, line) = start_and_read_line(
        Command::new(example_binary(name))
            .envs(env.iter().copied())
            .env("RUST_LOG", "warn")
            .args(args),
    );
    assert!(line.contains("http://"), "{name} printed {line:?}");
    (running, line)
}

/// The address in the `http://ADDR/...` URL an example printed: tests start the
/// examples on port 0 and read the port the system gave them from here, so two
/// tests can never race for one port.
pub fn served_addr(line: &str) -> SocketAddr {
    line.split("http://")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .and_then(|addr| addr.parse().ok())
        .unwrap_or_else(|| panic!("no http://ADDR/ in {line:?}"))
}

/// Runs the example `name` with `args`, which it must refuse: it exits with a
/// failure before serving anything, and says `expected` on stderr. Returns stderr.
pub fn assert_refused(name: &str, args: &[&str], expected: &str) -> String {
    let out = Command::new(example_binary(name))
        .args(args)
        .output()
        .unwrap();
    assert!(!out.status.success(), "{name} {args:?} was accepted");
    assert!(out.stdout.is_empty(), "{name} {args:?} started anyway");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(stderr.contains(expected), "{name} {args:?}: {stderr}");
    stderr
}

/// Both formats served at `addr` pass our parser and, where installed, the
/// reference parsers, and text 0.0.4 passes `promtool check metrics`.
pub fn check_outputs(addr: SocketAddr) {
    parse_openmetrics(&scrape_openmetrics(addr));
    let text = scrape_text(addr);
    parse_text(&text);
    if let Some((ok, report)) = promtool_check_metrics(&text) {
        assert!(ok, "promtool check metrics:\n{report}\n{text}");
    }
}

/// Scrapes `addr` as Prometheus does and returns the OpenMetrics text.
pub fn scrape_openmetrics(addr: SocketAddr) -> String {
    let res = http(
        addr,
        "GET",
        "/metrics",
        &[("Accept", PROMETHEUS_ACCEPT)],
        b"",
    )
    .unwrap();
    assert_eq!(res.status, 200, "{}", res.text());
    res.text()
}

/// Scrapes `addr` in OpenMetrics and reads it (see [`try_parse`]).
pub fn scrape_parsed(addr: SocketAddr) -> Exposition {
    parse_openmetrics(&scrape_openmetrics(addr))
}

/// Scrapes `addr` in text 0.0.4.
pub fn scrape_text(addr: SocketAddr) -> String {
    let res = http(addr, "GET", "/metrics", &[], b"").unwrap();
    assert_eq!(res.status, 200, "{}", res.text());
    res.text()
}

/// Calls `probe` every 20 ms until it returns `Ok`, for at most `limit`; panics
/// naming `what` with the last `Err` otherwise.
pub fn wait_until<T>(
    what: &str,
    limit: Duration,
    mut probe: impl FnMut() -> Result<T, String>,
) -> T {
    let deadline = std::time::Instant::now() + limit;
    loop {
        match probe() {
            Ok(v) => return v,
            Err(last) if std::time::Instant::now() > deadline => {
                panic!("gave up after {limit:?} waiting for {what}; last: {last}")
            }
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

/// The head of the next HTTP/1.1 message on `reader`: its first line and its
/// header lines, each without its line end; `None` when the connection closes
/// or fails before the blank line that ends the head.
pub fn read_head(reader: &mut impl BufRead) -> Option<Vec<String>> {
    let mut head = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end_matches(['\r', '\n']);
        if line.is_empty() {
            return Some(head);
        }
        head.push(line.to_owned());
    }
}

/// What a scripted [`Upstream`] answers.
#[derive(Debug, Clone)]
pub enum Reply {
    /// Status, content type and body.
    Answer(u16, &'static str, Vec<u8>),
    /// Waits this long, then answers.
    Slow(Duration, Box<Reply>),
}

/// A scripted HTTP server on loopback, standing in for an exporter's upstream:
/// every request gets the current [`Reply`]; [`Upstream::down`] closes the port
/// (connections are refused) and [`Upstream::up`] opens it again.
pub struct Upstream {
    pub addr: SocketAddr,
    reply: std::sync::Arc<Mutex<Reply>>,
    listening: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// Whether the port is open now, as the listening thread last left it.
    open: std::sync::Arc<std::sync::atomic::AtomicBool>,
    pub requests: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl Upstream {
    pub fn start(reply: Reply) -> Self {
        use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
        use std::sync::Arc;
        // The first listener is kept (no window for another test to take the
        // port); only `down` and `up` close and re-open it.
        let first = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        first.set_nonblocking(true).unwrap();
        let addr = first.local_addr().unwrap();
        let upstream = Self {
            addr,
            reply: Arc::new(Mutex::new(reply)),
            listening: Arc::new(AtomicBool::new(true)),
            open: Arc::new(AtomicBool::new(true)),
            requests: Arc::new(AtomicUsize::new(0)),
        };
        let (reply, listening, open, requests) = (
            Arc::clone(&upstream.reply),
            Arc::clone(&upstream.listening),
            Arc::clone(&upstream.open),
            Arc::clone(&upstream.requests),
        );
        std::thread::spawn(move || {
            let mut listener: Option<std::net::TcpListener> = Some(first);
            loop {
                if !listening.load(Ordering::SeqCst) {
                    listener = None;
                } else if listener.is_none() {
                    let l = std::net::TcpListener::bind(addr).unwrap();
                    l.set_nonblocking(true).unwrap();
                    listener = Some(l);
                }
                open.store(listener.is_some(), Ordering::SeqCst);
                let accepted = listener.as_ref().map(std::net::TcpListener::accept);
                match accepted {
                    Some(Ok((conn, _))) => {
                        requests.fetch_add(1, Ordering::SeqCst);
                        let reply = reply.lock().unwrap().clone();
                        std::thread::spawn(move || answer(conn, reply));
                    }
                    _ => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        upstream
    }

    /// Answers every request from now on with `reply`.
    pub fn set(&self, reply: Reply) {
        *self.reply.lock().unwrap() = reply;
    }

    /// Closes the port; returns once it is closed.
    pub fn down(&self) {
        use std::sync::atomic::Ordering;
        self.listening.store(false, Ordering::SeqCst);
        wait_until("the upstream's port to close", HANG, || {
            (!self.open.load(Ordering::SeqCst))
                .then_some(())
                .ok_or_else(|| "still open".to_owned())
        });
    }

    /// Opens the port again.
    pub fn up(&self) {
        self.listening
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

fn answer(mut conn: TcpStream, reply: Reply) {
    let _ = conn.set_nonblocking(false);
    let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match conn.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
    }
    let mut reply = reply;
    while let Reply::Slow(delay, inner) = reply {
        std::thread::sleep(delay);
        reply = *inner;
    }
    if let Reply::Answer(status, content_type, body) = reply {
        let _ = write!(
            conn,
            "HTTP/1.1 {status} X\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        let _ = conn.write_all(&body);
    }
}

/// Starts `command` with its stdout piped and waits for the first line it prints
/// (the examples print their URL once they listen); an empty line means it exited
/// first. A process that prints nothing for 60 seconds (stuck before listening)
/// fails the test and is killed.
pub fn start_and_read_line(command: &mut Command) -> (Running, String) {
    let mut child = command.stdout(Stdio::piped()).spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let running = Running(child);
    let (sender, first_line) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let read = BufReader::new(stdout).read_line(&mut line);
        let _ = sender.send(read.map(|_| line));
    });
    let line = first_line
        .recv_timeout(Duration::from_secs(60))
        .unwrap_or_else(|_| panic!("{command:?} printed no line within 60 s"))
        .unwrap();
    (running, line)
}

/// A fresh directory under the system's temporary directory, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    /// `<tmp>/promhttp-<name>-<pid>`, emptied if it exists.
    pub fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("promhttp-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The `x-tier` header's value: the request label `tier` of the tests.
const X_TIER: axum::http::HeaderName = axum::http::HeaderName::from_static("x-tier");

/// promhttp's axum layer recording into `metrics`, reading the request label
/// `tier` from the `x-tier` header.
pub fn axum_layer_with_tier(metrics: &promhttp::HttpMetrics) -> promhttp::axum::MetricsLayer {
    promhttp::axum::MetricsLayer::new(metrics).label_with("tier", |head| {
        head.headers.get(X_TIER).and_then(|v| v.to_str().ok())
    })
}

/// promhttp's actix-web middleware recording into `metrics`, reading the
/// request label `tier` from the `x-tier` header.
pub fn actix_middleware_with_tier(metrics: &promhttp::HttpMetrics) -> promhttp::actix::Metrics {
    const ACTIX_X_TIER: actix_web::http::header::HeaderName =
        actix_web::http::header::HeaderName::from_static("x-tier");
    promhttp::actix::Metrics::new(metrics).label_with("tier", |req| {
        req.headers()
            .get(ACTIX_X_TIER)
            .and_then(|v| v.to_str().ok())
    })
}
