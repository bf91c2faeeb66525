//! The example exporters (`status_sidecar`, `app_registry`, `api_poller`) run as
//! processes against upstreams started here, healthy and failing in every way the
//! issue names; their expositions are read with our parser, cross-checked by the
//! reference parsers where they are installed (`common::try_parse`).

mod common;

use std::io::Write;
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{free_addr, start_example, wait_until, Exposition, Reply, Upstream};

/// How long a wait for an exporter's state may take before it fails: a hang guard.
const WAIT: Duration = common::HANG;

fn json(body: &str) -> Reply {
    Reply::Answer(200, "application/json", body.as_bytes().to_vec())
}

/// Waits until `check` holds for a scrape of `addr`; returns that scrape.
fn scrape_until(addr: SocketAddr, what: &str, check: impl Fn(&Exposition) -> bool) -> Exposition {
    wait_until(what, WAIT, || {
        let m = common::scrape_parsed(addr);
        if check(&m) {
            Ok(m)
        } else {
            Err(format!(
                "{:?}",
                m.families.iter().map(|f| &f.samples).collect::<Vec<_>>()
            ))
        }
    })
}

fn value(m: &Exposition, name: &str) -> Option<f64> {
    m.get(name, &[])
}

/// Puts `upstream` into each failure in turn (`"down"` also closes its port) and
/// waits until the exporter at `addr` counts it in `<poller>_poll_errors_total` with
/// `<poller>_up` 0; then runs `check` on that scrape, checks both output formats,
/// and waits for recovery on `healthy`.
fn for_each_failure(
    upstream: &Upstream,
    addr: SocketAddr,
    poller: &str,
    failures: Vec<(&str, Reply)>,
    healthy: Reply,
    check: impl Fn(&Exposition, &str),
) {
    let (errors, up) = (
        format!("{poller}_poll_errors_total"),
        format!("{poller}_up"),
    );
    for (what, reply) in failures {
        let before = value(&common::scrape_parsed(addr), &errors).unwrap();
        upstream.set(reply);
        if what == "down" {
            upstream.down();
        }
        let m = scrape_until(addr, &format!("{poller} to count {what}"), |m| {
            value(m, &errors).unwrap() > before && value(m, &up) == Some(0.0)
        });
        check(&m, what);
        common::check_outputs(addr);
        upstream.set(healthy.clone());
        upstream.up();
        scrape_until(addr, &format!("recovery after {what}"), |m| {
            value(m, &up) == Some(1.0)
        });
    }
}

// --- status_sidecar --------------------------------------------------------------

const STATUS: &str = r#"{"current_requests": 3, "pending_requests": 1, "total_uptime": 1234.5, "health": "healthy", "extra": true}"#;

#[test]
fn status_sidecar_exports_the_status_and_survives_every_failure() {
    let app = Upstream::start(json(STATUS));
    let app_port = app.addr.port().to_string();
    let (_sidecar, line) = start_example(
        "status_sidecar",
        &[
            ("APP_HOST", "127.0.0.1"),
            ("APP_PORT", &app_port),
            ("EXPORTER_HOST", "127.0.0.1"),
            ("EXPORTER_PORT", "0"),
            ("POLLING_INTERVAL_SECONDS", "0.1"),
            ("POLL_TIMEOUT_SECONDS", "0.5"),
        ],
        &[],
    );
    let exporter = common::served_addr(&line);

    let m = scrape_until(exporter, "a first poll", |m| {
        value(m, "app_up") == Some(1.0)
    });
    assert_eq!(value(&m, "app_requests_current"), Some(3.0));
    assert_eq!(value(&m, "app_requests_pending"), Some(1.0));
    assert_eq!(value(&m, "app_uptime_seconds"), Some(1234.5));
    assert_eq!(m.family("app_health").unwrap().kind, "stateset");
    assert_eq!(m.get("app_health", &[("app_health", "healthy")]), Some(1.0));
    assert_eq!(
        m.get("app_health", &[("app_health", "unhealthy")]),
        Some(0.0)
    );
    assert_eq!(value(&m, "app_poll_errors_total"), Some(0.0));
    common::check_outputs(exporter);

    app.set(json(&STATUS.replace("\"healthy\"", "\"unhealthy\"")));
    scrape_until(exporter, "unhealthy", |m| {
        m.get("app_health", &[("app_health", "unhealthy")]) == Some(1.0)
            && m.get("app_health", &[("app_health", "healthy")]) == Some(0.0)
    });

    // The original's inputs: a number sent as a string is a number; a 503
    // whose body is a status (an app reporting itself unhealthy as load
    // balancers expect) is a status, not a failed poll.
    app.set(json(&STATUS.replace(
        "\"current_requests\": 3",
        "\"current_requests\": \"5\"",
    )));
    scrape_until(exporter, "a number sent as a string", |m| {
        value(m, "app_requests_current") == Some(5.0)
    });
    let errors = value(&common::scrape_parsed(exporter), "app_poll_errors_total").unwrap();
    app.set(Reply::Answer(
        503,
        "application/json",
        STATUS
            .replace("\"healthy\"", "\"unhealthy\"")
            .replace("\"current_requests\": 3", "\"current_requests\": 0")
            .into_bytes(),
    ));
    let m = scrape_until(exporter, "a 503 with an unhealthy status", |m| {
        m.get("app_health", &[("app_health", "unhealthy")]) == Some(1.0)
            && value(m, "app_requests_current") == Some(0.0)
    });
    assert_eq!(value(&m, "app_up"), Some(1.0));
    assert_eq!(value(&m, "app_poll_errors_total"), Some(errors));
    app.set(json(STATUS));

    let failures = vec![
        (
            "HTTP 500",
            Reply::Answer(500, "text/plain", b"oops".to_vec()),
        ),
        (
            "HTTP 503 without a status",
            Reply::Answer(503, "text/plain", b"down for maintenance".to_vec()),
        ),
        ("malformed JSON", json("{\"current_requests\": 3,")),
        (
            "a missing field",
            json(r#"{"current_requests": 3, "pending_requests": 1, "health": "healthy"}"#),
        ),
        (
            "an unknown health",
            json(&STATUS.replace("\"healthy\"", "\"meh\"")),
        ),
        ("a wrong type", json(&STATUS.replace("1234.5", "\"long\""))),
        (
            "slow past the timeout",
            Reply::Slow(Duration::from_millis(1500), Box::new(json(STATUS))),
        ),
        ("down", json(STATUS)),
    ];
    for_each_failure(&app, exporter, "app", failures, json(STATUS), |m, what| {
        // The app's series are dropped while it fails; the exporter still serves.
        for gone in ["app_requests_current", "app_uptime_seconds", "app_health"] {
            assert!(
                m.family(gone).is_none(),
                "{gone} still exported after {what}"
            );
        }
    });
}

// --- app_registry ----------------------------------------------------------------

/// A JSON-over-TCP service: every connection gets the current document.
struct CounterService {
    addr: SocketAddr,
    document: Arc<Mutex<String>>,
}

impl CounterService {
    fn start(document: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let document = Arc::new(Mutex::new(document.to_owned()));
        let serving = Arc::clone(&document);
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { continue };
                let body = serving.lock().unwrap().clone();
                let _ = conn.write_all(body.as_bytes());
            }
        });
        Self { addr, document }
    }

    fn set(&self, document: &str) {
        *self.document.lock().unwrap() = document.to_owned();
    }
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

#[test]
fn app_registry_counts_scrapes_probes_and_mirrors_its_own_services() {
    let started = now();
    let (_app, line) = start_example(
        "app_registry",
        &[("BIND", "127.0.0.1:0"), ("PROBE_INTERVAL_SECONDS", "0.1")],
        &[],
    );
    let addr = common::served_addr(&line);
    let m = scrape_until(addr, "a successful probe and mirror", |m| {
        value(m, "probe_success") == Some(1.0)
            && value(m, "upstream_requests_total").unwrap_or(0.0) >= 2.0
    });
    // Every GET of /metrics counts itself before it is encoded.
    let hits = value(&m, "hits_total").unwrap();
    let next = common::scrape_parsed(addr);
    assert_eq!(value(&next, "hits_total"), Some(hits + 1.0));
    // HEAD is not a scrape of the values.
    assert_eq!(
        common::http(addr, "HEAD", "/metrics", &[], b"")
            .unwrap()
            .status,
        200
    );
    assert_eq!(
        value(&common::scrape_parsed(addr), "hits_total"),
        Some(hits + 2.0)
    );
    let level = value(&next, "level").unwrap();
    assert!((0.0..=100.0).contains(&level), "level {level}");

    let count = next.value("probe_duration_seconds_count", &[]);
    assert!(count >= 1.0);
    assert_eq!(
        next.value("probe_duration_seconds_bucket", &[("le", "+Inf")]),
        count
    );
    assert_eq!(value(&next, "daytime_probe_poll_errors_total"), Some(0.0));
    // The example's own counter service started with the example.
    let created = next.value("upstream_requests_created", &[]);
    assert!(
        created >= started - 1.0 && created <= now(),
        "created {created}, started {started}"
    );
    common::check_outputs(addr);
}

#[test]
fn app_registry_mirrors_resets_and_survives_bad_upstreams() {
    let closed = free_addr(); // nothing listens here: the probe fails
    let counter = CounterService::start(r#"{"launched": "2026-01-01T00:00:00Z", "requests": 10}"#);
    let t0 = 1_767_225_600.0; // 2026-01-01T00:00:00Z
    let (_app, line) = start_example(
        "app_registry",
        &[
            ("BIND", "127.0.0.1:0"),
            ("PROBE_INTERVAL_SECONDS", "0.1"),
            ("DAYTIME_ADDR", &closed.to_string()),
            ("COUNTER_ADDR", &counter.addr.to_string()),
        ],
        &[],
    );
    let addr = common::served_addr(&line);
    let mirrored = |requests: f64, created: f64| {
        move |m: &Exposition| {
            value(m, "upstream_requests_total") == Some(requests)
                && value(m, "upstream_requests_created") == Some(created)
        }
    };
    // The probe and the mirror poll independently: wait for both (under load
    // the mirror can come first).
    let first_mirror = mirrored(10.0, t0);
    let m = scrape_until(addr, "the first mirror and a failed probe", |m| {
        first_mirror(m) && value(m, "daytime_probe_poll_errors_total").is_some_and(|e| e >= 1.0)
    });
    assert_eq!(value(&m, "probe_success"), Some(0.0));
    assert_eq!(m.value("probe_duration_seconds_count", &[]), 0.0);
    assert_eq!(value(&m, "daytime_probe_up"), Some(0.0));

    counter.set(r#"{"launched": "2026-01-01T00:00:00Z", "requests": 25}"#);
    scrape_until(addr, "an increase", mirrored(25.0, t0));

    // Down without a new launch time: a reset, created moves to the moment seen.
    let before_reset = now();
    counter.set(r#"{"launched": "2026-01-01T00:00:00Z", "requests": 5}"#);
    let m = scrape_until(addr, "a reset", |m| {
        value(m, "upstream_requests_total") == Some(5.0)
    });
    let created = value(&m, "upstream_requests_created").unwrap();
    assert!(
        created >= before_reset - 1.0 && created <= now(),
        "created {created}"
    );

    // A new launch time is a reset even though the count went up.
    counter.set(r#"{"launched": "2026-02-01T12:30:00+01:00", "requests": 40}"#);
    scrape_until(addr, "a relaunch", mirrored(40.0, 1_769_945_400.0));

    for (what, document) in [
        (
            "malformed JSON",
            r#"{"launched": "2026-02-01T12:30:00+01:00", "#,
        ),
        ("a missing field", r#"{"requests": 41}"#),
        ("a bad time", r#"{"launched": "yesterday", "requests": 41}"#),
        (
            "a negative count",
            r#"{"launched": "2026-02-01T12:30:00+01:00", "requests": -1}"#,
        ),
    ] {
        let before = value(&common::scrape_parsed(addr), "upstream_poll_errors_total").unwrap();
        counter.set(document);
        let m = scrape_until(addr, what, |m| {
            value(m, "upstream_poll_errors_total").unwrap() > before
        });
        assert_eq!(value(&m, "upstream_up"), Some(0.0), "{what}");
        assert_eq!(
            value(&m, "upstream_requests_total"),
            Some(40.0),
            "{what}: the value moved"
        );
    }
    common::check_outputs(addr);
}

/// The inputs of the exporter app_registry ports: a daytime service named by
/// host name (`DAYTIME_ADDR=localhost:11113` in the original's setup), and the
/// article's own `launched` value, a time without a zone, taken as UTC.
#[test]
fn app_registry_takes_the_originals_host_names_and_naive_times() {
    let daytime = TcpListener::bind("127.0.0.1:0").unwrap();
    let daytime_port = daytime.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in daytime.incoming() {
            let Ok(mut conn) = conn else { continue };
            let _ = conn.write_all(b"Wednesday, December 2, 2026 16:00:00-UTC\n");
        }
    });
    let counter =
        CounterService::start(r#"{"launched": "2020-11-04T17:57:42.448578", "requests": 7}"#);
    let daytime_addr = format!("localhost:{daytime_port}");
    let counter_addr = format!("localhost:{}", counter.addr.port());
    let (_app, line) = start_example(
        "app_registry",
        &[
            ("BIND", "127.0.0.1:0"),
            ("PROBE_INTERVAL_SECONDS", "0.1"),
            ("DAYTIME_ADDR", &daytime_addr),
            ("COUNTER_ADDR", &counter_addr),
        ],
        &[],
    );
    let addr = common::served_addr(&line);
    let m = scrape_until(addr, "a probe and a mirror by host name", |m| {
        value(m, "probe_success") == Some(1.0) && value(m, "upstream_requests_total") == Some(7.0)
    });
    assert_eq!(value(&m, "upstream_requests_total"), Some(7.0));
    assert_eq!(
        value(&m, "upstream_requests_created"),
        Some(1_604_512_662.448_578)
    );
    assert_eq!(value(&m, "upstream_poll_errors_total"), Some(0.0));
    // An address without a port is refused at start, naming the variable.
    let out = std::process::Command::new(common::example_binary("app_registry"))
        .env("BIND", "127.0.0.1:0")
        .env("DAYTIME_ADDR", "localhost")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("DAYTIME_ADDR") && stderr.contains("is not host:port"),
        "{stderr}"
    );
}

// --- api_poller ------------------------------------------------------------------

const PODS: &str = r#"{
  "shop": {
    "eu-1": {
      "web": [{"name": "web-1", "energy_consumed": [1, 2, 3.5]},
              {"name": "web-2", "energy_consumed": [7]},
              {"name": "idle", "energy_consumed": []}],
      "db": [{"name": "pg-0", "energy_consumed": [10, 11]}]
    }
  },
  "blog": {"us-1": {"web": [{"name": "web-1", "energy_consumed": [0.25]}]}}
}"#;

fn pod(m: &Exposition, app: &str, cluster: &str, namespace: &str, pod: &str) -> Option<f64> {
    m.get(
        "pod_energy_consumed",
        &[
            ("app", app),
            ("cluster", cluster),
            ("namespace", namespace),
            ("pod_name", pod),
        ],
    )
}

#[test]
fn api_poller_follows_the_pods_and_keeps_the_last_good_data() {
    let api = Upstream::start(json(PODS));
    let url = format!("http://{}/energy", api.addr);
    let (_poller, line) = start_example(
        "api_poller",
        &[],
        &[
            "--url",
            &url,
            "--interval",
            "100ms",
            "--timeout",
            "500ms",
            "--bind",
            "127.0.0.1:0",
        ],
    );
    let addr = common::served_addr(&line);
    let m = scrape_until(addr, "a first poll", |m| {
        value(m, "energy_api_up") == Some(1.0)
    });
    assert_eq!(m.family("pod_energy_consumed").unwrap().kind, "gauge");
    assert_eq!(pod(&m, "shop", "eu-1", "web", "web-1"), Some(3.5));
    assert_eq!(pod(&m, "shop", "eu-1", "web", "web-2"), Some(7.0));
    assert_eq!(pod(&m, "shop", "eu-1", "db", "pg-0"), Some(11.0));
    assert_eq!(pod(&m, "blog", "us-1", "web", "web-1"), Some(0.25));
    assert_eq!(
        m.samples("pod_energy_consumed").count(),
        4,
        "the pod with no readings has no series"
    );
    common::check_outputs(addr);

    // web-2 is gone upstream: its series goes; the others update.
    let fewer = PODS
        .replace(r#"{"name": "web-2", "energy_consumed": [7]},"#, "")
        .replace("[10, 11]", "[10, 11, 12]");
    api.set(json(&fewer));
    let m = scrape_until(addr, "web-2 to disappear", |m| {
        pod(m, "shop", "eu-1", "web", "web-2").is_none()
    });
    assert_eq!(pod(&m, "shop", "eu-1", "db", "pg-0"), Some(12.0));
    assert_eq!(m.samples("pod_energy_consumed").count(), 3);

    let failures = vec![
        (
            "HTTP 500",
            Reply::Answer(500, "text/plain", b"oops".to_vec()),
        ),
        ("malformed JSON", json(r#"{"shop": {"eu-1": "#)),
        (
            "a missing field",
            json(r#"{"shop": {"eu-1": {"web": [{"name": "web-1"}]}}}"#),
        ),
        ("the wrong shape", json(r#"{"shop": [1, 2]}"#)),
        (
            "the same pod twice",
            json(
                r#"{"a": {"c": {"n": [{"name": "p", "energy_consumed": [1]}, {"name": "p", "energy_consumed": [2]}]}}}"#,
            ),
        ),
        (
            "slow past the timeout",
            Reply::Slow(Duration::from_millis(1500), Box::new(json(PODS))),
        ),
        ("down", json(PODS)),
    ];
    for_each_failure(
        &api,
        addr,
        "energy_api",
        failures,
        json(&fewer),
        |m, what| {
            // The last good data stays.
            assert_eq!(pod(m, "shop", "eu-1", "db", "pg-0"), Some(12.0), "{what}");
            assert_eq!(m.samples("pod_energy_consumed").count(), 3, "{what}");
        },
    );
    // Every poll is a call in the client metrics, by its outcome: answers
    // (200, and the 500), and failures without an answer (refused, timed out).
    let m = common::scrape_parsed(addr);
    let server = api.addr.to_string();
    for status in ["200", "500", "error"] {
        let calls = m
            .get(
                "http_client_requests_total",
                &[
                    ("method", "GET"),
                    ("server_address", &server),
                    ("status", status),
                ],
            )
            .unwrap_or(0.0);
        assert!(calls >= 1.0, "status {status}: {calls}");
    }
    assert!(m.family("http_client_request_duration_seconds").is_some());
}

/// The interval the `api_poller` example runs with by default: what it reports
/// in its first line, checked here to be 30 minutes, and that its first poll is
/// made at once. That a poller polls exactly on that interval is
/// [`a_poller_polls_on_its_interval_and_not_before`]'s part, on tokio's paused clock.
#[test]
fn api_poller_polls_every_thirty_minutes_by_default() {
    let api = Upstream::start(json(PODS));
    let url = format!("http://{}/energy", api.addr);
    let (_poller, line) =
        start_example("api_poller", &[], &["--url", &url, "--bind", "127.0.0.1:0"]);
    let addr = common::served_addr(&line);
    assert_eq!(
        announced_interval(&line),
        Duration::from_secs(30 * 60),
        "{line}"
    );
    let m = scrape_until(addr, "the first poll", |m| {
        value(m, "energy_api_up") == Some(1.0)
    });
    assert_eq!(pod(&m, "shop", "eu-1", "db", "pg-0"), Some(11.0));
    assert_eq!(api.requests.load(std::sync::atomic::Ordering::SeqCst), 1);
}

/// The interval in `api_poller`'s first line, `... every <Duration as Debug>`.
fn announced_interval(line: &str) -> Duration {
    let every = line
        .trim()
        .rsplit_once(" every ")
        .unwrap_or_else(|| panic!("no interval in {line:?}"))
        .1;
    let seconds: f64 = every
        .strip_suffix('s')
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{every:?} is not a number of seconds"));
    Duration::from_secs_f64(seconds)
}

/// On tokio's paused clock, which only moves when every task waits on it: a
/// poller set to 30 minutes polls at once, then exactly every 30 minutes, and
/// not a moment before.
#[tokio::test(start_paused = true)]
async fn a_poller_polls_on_its_interval_and_not_before() {
    use promhttp::family::MetricFamily;
    use tokio::time::{advance, Instant};
    let interval = Duration::from_secs(30 * 60);
    let registry = promhttp::Registry::new();
    let start = Instant::now();
    let polled_at = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&polled_at);
    let poller = promhttp::poller::Poller::builder("paced")
        .registry(&registry)
        .family(MetricFamily::gauge("paced_value", "A value."))
        .interval(interval)
        .spawn(move |mut out: promhttp::collect::Families| {
            log.lock().unwrap().push(start.elapsed());
            async move {
                out.family("paced_value")?.add_gauge([("k", "v")], 1.0);
                Ok(out)
            }
        })
        .unwrap();
    poller.wait_for_polls(1).await;
    advance(interval - Duration::from_millis(1)).await;
    tokio::task::yield_now().await;
    assert_eq!(poller.polls(), 1, "polled again before the interval was up");
    poller.wait_for_polls(3).await;
    assert_eq!(
        *polled_at.lock().unwrap(),
        [Duration::ZERO, interval, 2 * interval]
    );
    poller.stop().await;
}

#[test]
fn api_poller_refuses_bad_durations_and_urls() {
    for (flag, value, expected) in [
        ("--interval", "10", "has no unit"),
        ("--interval", "1d", "unknown unit"),
        ("--interval", "0s", "not a positive duration"),
        ("--interval=-1s", "", "not a positive duration"),
        ("--timeout", "fast", "has no number"),
        (
            "--timeout",
            "99999999999999999999h",
            "not a positive duration",
        ),
        ("--url", "ftp://example.com/", "only http:// and https://"),
        ("--url", "not a url", "invalid URL"),
    ] {
        let mut args = vec!["--bind", "127.0.0.1:0"];
        if flag != "--url" {
            args.extend(["--url", "http://127.0.0.1:9/energy"]);
        }
        args.push(flag);
        if !value.is_empty() {
            args.push(value);
        }
        common::assert_refused("api_poller", &args, expected);
    }
}

// --- request headers -------------------------------------------------------------

/// An upstream that answers `body` (JSON) only to requests carrying both
/// `X-Api-Key: k1` and `Authorization: Bearer s3cret`, 401 to any other; it
/// counts the requests it refused.
fn guarded_upstream(body: &'static str) -> (SocketAddr, Arc<std::sync::atomic::AtomicUsize>) {
    use std::io::BufReader;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let refused = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = Arc::clone(&refused);
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { continue };
            let mut reader = BufReader::new(conn.try_clone().unwrap());
            let head: Vec<String> = common::read_head(&mut reader)
                .unwrap_or_default()
                .iter()
                .map(|l| l.to_ascii_lowercase())
                .collect();
            let allowed = head.iter().any(|l| l == "x-api-key: k1")
                && head.iter().any(|l| l == "authorization: bearer s3cret");
            let (status, body) = if allowed {
                ("200 OK", body)
            } else {
                counted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                ("401 Unauthorized", "{}")
            };
            let mut conn = conn;
            let _ = write!(
                conn,
                "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (addr, refused)
}

/// Every fetching example sends the headers it is given, and a bearer token
/// from a file or the environment, never from its command line.
#[test]
fn fetching_examples_send_headers_and_a_bearer_token_kept_off_the_command_line() {
    let dir = common::TempDir::new("bearer");
    let token_file = dir.join("token");
    std::fs::write(&token_file, "s3cret\n").unwrap();
    let token_path = token_file.to_str().unwrap();

    // api_poller: --header, and the token from a file, then from API_BEARER_TOKEN.
    let (api, _) = guarded_upstream(PODS);
    let url = format!("http://{api}/energy");
    for (env, extra) in [
        (vec![], vec!["--bearer-token-file", token_path]),
        (vec![("API_BEARER_TOKEN", "s3cret")], vec![]),
    ] {
        let mut args = vec![
            "--url",
            &url,
            "--interval",
            "100ms",
            "--bind",
            "127.0.0.1:0",
        ];
        args.extend(["--header", "X-Api-Key: k1"]);
        args.extend(extra);
        let (_poller, line) = start_example("api_poller", &env, &args);
        let addr = common::served_addr(&line);
        let m = scrape_until(addr, "a poll with the headers", |m| {
            value(m, "energy_api_up") == Some(1.0)
        });
        assert_eq!(pod(&m, "shop", "eu-1", "db", "pg-0"), Some(11.0));
    }
    // Without the token: refused upstream, the poll fails.
    let (api, refused) = guarded_upstream(PODS);
    let url = format!("http://{api}/energy");
    let (_poller, line) = start_example(
        "api_poller",
        &[],
        &[
            "--url",
            &url,
            "--interval",
            "100ms",
            "--bind",
            "127.0.0.1:0",
            "--header",
            "X-Api-Key: k1",
        ],
    );
    let addr = common::served_addr(&line);
    scrape_until(addr, "a refused poll", |m| {
        value(m, "energy_api_poll_errors_total").is_some_and(|e| e >= 1.0)
    });
    assert!(refused.load(std::sync::atomic::Ordering::Relaxed) >= 1);
    // A header that is not `Name: value` is refused at start.
    common::assert_refused(
        "api_poller",
        &["--url", &url, "--header", "no colon here"],
        "is not `Name: value`",
    );

    // status_sidecar: APP_HEADERS and APP_BEARER_TOKEN_FILE.
    let (app, _) = guarded_upstream(STATUS);
    let port = app.port().to_string();
    let (_sidecar, line) = start_example(
        "status_sidecar",
        &[
            ("APP_HOST", "127.0.0.1"),
            ("APP_PORT", &port),
            ("EXPORTER_HOST", "127.0.0.1"),
            ("EXPORTER_PORT", "0"),
            ("POLLING_INTERVAL_SECONDS", "0.1"),
            ("APP_HEADERS", "X-Api-Key: k1"),
            ("APP_BEARER_TOKEN_FILE", token_path),
        ],
        &[],
    );
    let addr = common::served_addr(&line);
    let m = scrape_until(addr, "a sidecar poll with the headers", |m| {
        value(m, "app_up") == Some(1.0)
    });
    assert_eq!(value(&m, "app_requests_current"), Some(3.0));

    // relay: --header, and the token from RELAY_BEARER_TOKEN.
    let (upstream, _) = guarded_upstream(r#"{"temperature": 21.5}"#);
    let url = format!("http://{upstream}/metrics");
    let (_relay, line) = start_example(
        "relay",
        &[("RELAY_BEARER_TOKEN", "s3cret")],
        &[
            "--service",
            "foo",
            "--url",
            &url,
            "--port",
            "0",
            "--header",
            "X-Api-Key: k1",
        ],
    );
    let m = common::scrape_parsed(common::served_addr(&line));
    assert_eq!(m.value("relay_upstream_up", &[("service", "foo")]), 1.0);
    assert_eq!(m.value("temperature", &[("service", "foo")]), 21.5);
}
