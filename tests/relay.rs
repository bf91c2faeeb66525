//! The `relay` example against upstreams started here: text 0.0.4, OpenMetrics and
//! JSON upstreams relayed with exclusions, labels and renames; concurrent scrapes
//! sharing one fetch; and every upstream failure giving `up 0` in a whole,
//! parsable answer.

mod common;

/// The families the relay adds to every answer, in order: its own two, and
/// its calls to the upstream (`promhttp::fetch` with `HttpClientMetrics`).
const RELAY_OWN: [&str; 6] = [
    "relay_scrape_duration_seconds",
    "relay_upstream_up",
    "http_client_requests",
    "http_client_requests_in_flight",
    "http_client_request_duration_seconds",
    "promhttp_client_series_overflow",
];

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::Duration;

use common::{start_example, Reply, Upstream};

const TEXT: &str = "# HELP exclude_me Dropped by name.
# TYPE exclude_me gauge
exclude_me 1
# HELP go_goroutines Dropped by regex.
# TYPE go_goroutines gauge
go_goroutines 12
# HELP go_gc_duration_seconds Dropped by regex too.
# TYPE go_gc_duration_seconds summary
go_gc_duration_seconds{quantile=\"0.5\"} 0.001
go_gc_duration_seconds_sum 0.5
go_gc_duration_seconds_count 100
# HELP http_requests_total Requests served.
# TYPE http_requests_total counter
http_requests_total{code=\"200\",team=\"upstream\"} 1027
http_requests_total{code=\"500\",team=\"upstream\"} 3
# HELP node_load1 Load average.
# TYPE node_load1 gauge
node_load1 0.25
# HELP rpc_seconds Latency.
# TYPE rpc_seconds histogram
rpc_seconds_bucket{le=\"0.1\"} 4
rpc_seconds_bucket{le=\"+Inf\"} 5
rpc_seconds_sum 0.9
rpc_seconds_count 5
# A comment, and a blank line, which text 0.0.4 allows.

# TYPE legacy untyped
legacy 7
";

const OPENMETRICS: &str = "# TYPE jobs counter
# HELP jobs Jobs run.
jobs_total{queue=\"a\"} 10 # {trace_id=\"t1\"} 1 1700000000.5
jobs_created{queue=\"a\"} 1700000000
# TYPE health stateset
health{health=\"ok\"} 1
health{health=\"bad\"} 0
# TYPE build info
build_info{version=\"2.0\"} 1
# TYPE temperature_celsius gauge
# UNIT temperature_celsius celsius
temperature_celsius 21.5
# EOF
";

fn text_reply(body: &str) -> Reply {
    Reply::Answer(
        200,
        "text/plain; version=0.0.4; charset=utf-8",
        body.as_bytes().to_vec(),
    )
}

fn start_relay(upstream: &Upstream, extra: &[&str]) -> (common::Running, SocketAddr) {
    let url = format!("http://{}/metrics", upstream.addr);
    let mut args = vec!["--service", "foo", "--url", &url, "--port", "0"];
    args.extend_from_slice(extra);
    let (relay, line) = start_example("relay", &[], &args);
    (relay, common::served_addr(&line))
}

#[test]
fn relays_text_with_exclusions_labels_and_renames() {
    let upstream = Upstream::start(text_reply(TEXT));
    let renames = std::env::temp_dir().join(format!("relay-renames-{}", std::process::id()));
    std::fs::write(
        &renames,
        "# old new\nhttp_requests api_requests\nnode_load1 load1 # trailing comment\n",
    )
    .unwrap();
    let (_relay, addr) = start_relay(
        &upstream,
        &[
            "--exclude",
            "exclude_me",
            "--exclude-regex",
            "^go_.*",
            "--label",
            "team=core",
            "--label",
            "env=test",
            "--rename",
            renames.to_str().unwrap(),
        ],
    );
    let m = common::scrape_parsed(addr);
    for gone in [
        "exclude_me",
        "go_goroutines",
        "go_gc_duration_seconds",
        "http_requests",
        "node_load1",
    ] {
        assert!(m.family(gone).is_none(), "{gone} relayed");
    }
    let ours = [("service", "foo"), ("team", "core"), ("env", "test")];
    let with = |extra: &[(&'static str, &'static str)]| {
        let mut l = extra.to_vec();
        l.extend(ours);
        l
    };
    let requests = m.family("api_requests").unwrap();
    assert_eq!(requests.kind, "counter");
    assert_eq!(requests.help, "Requests served.");
    // The upstream's own `team` label keeps its value as `exported_team`
    // beside --label team=core, as Prometheus does with a target's labels.
    let upstream_team = |code| with(&[("code", code), ("exported_team", "upstream")]);
    assert_eq!(m.value("api_requests_total", &upstream_team("200")), 1027.0);
    assert_eq!(m.value("api_requests_total", &upstream_team("500")), 3.0);
    assert_eq!(m.value("load1", &with(&[])), 0.25);
    assert_eq!(m.family("rpc_seconds").unwrap().kind, "histogram");
    assert_eq!(m.value("rpc_seconds_bucket", &with(&[("le", "0.1")])), 4.0);
    assert_eq!(m.value("rpc_seconds_count", &with(&[])), 5.0);
    assert_eq!(m.family("legacy").unwrap().kind, "unknown");
    assert_eq!(m.value("legacy", &with(&[])), 7.0);
    assert_eq!(m.value("relay_upstream_up", &with(&[])), 1.0);
    assert!(m.value("relay_scrape_duration_seconds", &with(&[])) >= 0.0);
    // The relay's own call to the upstream, the one fetch this scrape made,
    // labelled as the rest.
    let server = upstream.addr.to_string();
    let mut call = vec![
        ("method", "GET"),
        ("server_address", server.as_str()),
        ("status", "200"),
    ];
    call.extend(ours);
    assert_eq!(m.value("http_client_requests_total", &call), 1.0);
    assert_eq!(
        m.value("http_client_request_duration_seconds_count", &call),
        1.0
    );
    for family in &m.families {
        for sample in &family.samples {
            assert_eq!(
                sample.labels.get("service").map(String::as_str),
                Some("foo"),
                "{sample:?}"
            );
        }
    }
    common::check_outputs(addr);
    let _ = std::fs::remove_file(renames);
}

#[test]
fn relays_openmetrics_and_json_by_content_type() {
    let upstream = Upstream::start(Reply::Answer(
        200,
        "application/openmetrics-text; version=1.0.0; charset=utf-8",
        OPENMETRICS.as_bytes().to_vec(),
    ));
    let (_relay, addr) = start_relay(&upstream, &[]);
    let m = common::scrape_parsed(addr);
    let foo = [("service", "foo")];
    assert_eq!(
        m.value("jobs_total", &[("queue", "a"), ("service", "foo")]),
        10.0
    );
    assert_eq!(
        m.value("jobs_created", &[("queue", "a"), ("service", "foo")]),
        1.7e9
    );
    assert_eq!(m.family("health").unwrap().kind, "stateset");
    assert_eq!(
        m.value("health", &[("health", "ok"), ("service", "foo")]),
        1.0
    );
    assert_eq!(m.family("build").unwrap().kind, "info");
    assert_eq!(
        m.value("build_info", &[("version", "2.0"), ("service", "foo")]),
        1.0
    );
    assert_eq!(m.value("temperature_celsius", &foo), 21.5);
    assert_eq!(m.value("relay_upstream_up", &foo), 1.0);
    let om = common::scrape_openmetrics(addr);
    assert!(om.contains("# UNIT temperature_celsius celsius\n"), "{om}");
    assert!(
        om.contains("# {trace_id=\"t1\"} 1 1700000000.5\n"),
        "the exemplar is kept:\n{om}"
    );

    upstream.set(Reply::Answer(
        200,
        "application/json",
        br#"{"queue_depth": 3, "ready": true, "name": "x", "nested": {"a": 1}, "bad-name": 2, "relay_upstream_up": 5}"#
            .to_vec(),
    ));
    let m = common::scrape_parsed(addr);
    assert_eq!(m.value("queue_depth", &foo), 3.0);
    assert_eq!(m.value("ready", &foo), 1.0);
    assert!(m.family("name").is_none() && m.family("nested").is_none());
    // The upstream's own `up` gives way to the relay's (one series, value 1).
    assert_eq!(m.value("relay_upstream_up", &foo), 1.0);
    assert_eq!(m.samples("relay_upstream_up").count(), 1);
}

#[test]
fn concurrent_scrapes_share_one_upstream_fetch() {
    let upstream = Upstream::start(Reply::Slow(
        Duration::from_millis(600),
        Box::new(text_reply(TEXT)),
    ));
    let (_relay, addr) = start_relay(&upstream, &[]);
    let before = upstream.requests.load(Ordering::SeqCst);
    let scrapes: Vec<_> = (0..8)
        .map(|_| std::thread::spawn(move || common::scrape_openmetrics(addr)))
        .collect();
    let bodies: Vec<String> = scrapes.into_iter().map(|s| s.join().unwrap()).collect();
    assert_eq!(
        upstream.requests.load(Ordering::SeqCst) - before,
        1,
        "one fetch for eight scrapes"
    );
    for body in &bodies {
        assert_eq!(
            common::parse_openmetrics(body).value("relay_upstream_up", &[("service", "foo")]),
            1.0
        );
    }
    // The next scrape after that fetch is a new fetch, not a stale copy.
    common::scrape_openmetrics(addr);
    assert_eq!(upstream.requests.load(Ordering::SeqCst) - before, 2);
}

#[test]
fn every_upstream_failure_is_up_zero_in_a_whole_answer() {
    let upstream = Upstream::start(text_reply(TEXT));
    let (_relay, addr) = start_relay(&upstream, &["--timeout", "0.3"]);
    let foo = [("service", "foo")];
    assert_eq!(
        common::scrape_parsed(addr).value("relay_upstream_up", &foo),
        1.0
    );
    let failures = [
        (
            "HTTP 500",
            Reply::Answer(500, "text/plain", b"oops".to_vec()),
        ),
        ("unparsable text", text_reply("node_load1 {{{ nope\n")),
        (
            "unparsable OpenMetrics",
            Reply::Answer(
                200,
                "application/openmetrics-text; version=1.0.0",
                b"x 1\n".to_vec(),
            ),
        ),
        (
            "a JSON array",
            Reply::Answer(200, "application/json", b"[1, 2]".to_vec()),
        ),
        (
            "slow past the timeout",
            Reply::Slow(Duration::from_secs(1), Box::new(text_reply(TEXT))),
        ),
        ("down", text_reply(TEXT)),
    ];
    for (what, reply) in failures {
        upstream.set(reply);
        if what == "down" {
            upstream.down();
        }
        let res = common::http(
            addr,
            "GET",
            "/metrics",
            &[("Accept", common::PROMETHEUS_ACCEPT)],
            b"",
        )
        .unwrap();
        assert_eq!(res.status, 200, "{what}");
        let m = common::parse_openmetrics(&res.text());
        assert_eq!(m.value("relay_upstream_up", &foo), 0.0, "{what}");
        assert!(m.value("relay_scrape_duration_seconds", &foo) >= 0.0);
        let names: Vec<&str> = m.families.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(
            names, RELAY_OWN,
            "{what}: only up, scrape_duration_seconds and the relay's calls"
        );
        common::check_outputs(addr);
        upstream.up();
    }
}

#[test]
fn bad_arguments_are_clear_errors() {
    let rename = std::env::temp_dir().join(format!("relay-bad-renames-{}", std::process::id()));
    std::fs::write(&rename, "good_name fine\nonly_one_word\n").unwrap();
    let base = [
        "--service",
        "foo",
        "--url",
        "http://127.0.0.1:9/metrics",
        "--port",
        "0",
    ];
    for (extra, expected) in [
        (vec!["--label", "no_equals"], "is not name=value"),
        (vec!["--label", "bad-name=x"], "label name"),
        (vec!["--exclude-regex", "(unclosed"], "regex"),
        (
            vec!["--rename", rename.to_str().unwrap()],
            ":2: expected `old new`",
        ),
        (vec!["--timeout", "0"], "--timeout"),
    ] {
        let args: Vec<&str> = base.iter().copied().chain(extra).collect();
        common::assert_refused("relay", &args, expected);
    }
    common::assert_refused(
        "relay",
        &["--service", "foo", "--url", "ftp://example.com/metrics"],
        "only http:// and https://",
    );
    let _ = std::fs::remove_file(rename);
}

// ---------------------------------------------------------------------------
// Hostile upstreams and scrapers (issue 13). These read values with promhttp's
// own parser directly (the tests above go through `common`, which also
// cross-checks with the reference parsers where they are installed).

/// An upstream driven by the test: it reports each request as it arrives
/// ([`Event::Request`]), answers it only when the test says what to answer, and
/// reports that the relay took the whole answer ([`Event::Taken`]) or closed
/// the connection while waiting for one ([`Event::Closed`]).
struct Gated {
    addr: SocketAddr,
    events: std::sync::mpsc::Receiver<Event>,
    answers: std::sync::mpsc::Sender<(u16, Vec<u8>)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Event {
    /// A request arrived.
    Request,
    /// The answer was written and the relay, having read it, closed the
    /// connection: the relay has the whole upstream body.
    Taken,
    /// The relay closed the connection before an answer was given.
    Closed,
}

impl Gated {
    fn start() -> Self {
        use std::sync::{mpsc, Arc, Mutex};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let (event, events) = mpsc::channel();
        let (answers, waiting) = mpsc::channel::<(u16, Vec<u8>)>();
        let waiting = Arc::new(Mutex::new(waiting));
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let (event, waiting) = (event.clone(), Arc::clone(&waiting));
                std::thread::spawn(move || gated_exchange(conn, &event, &waiting));
            }
        });
        Self {
            addr,
            events,
            answers,
        }
    }

    fn url(&self) -> String {
        format!("http://{}/metrics", self.addr)
    }

    /// The next event, within 30 seconds.
    fn next(&self) -> Event {
        self.events
            .recv_timeout(Duration::from_secs(30))
            .expect("no event at the upstream within 30 s")
    }

    /// Answers the request waiting (the next to arrive, if none is) with text
    /// 0.0.4.
    fn answer(&self, status: u16, body: impl Into<Vec<u8>>) {
        self.answers.send((status, body.into())).unwrap();
    }
}

fn gated_exchange(
    mut conn: std::net::TcpStream,
    event: &std::sync::mpsc::Sender<Event>,
    waiting: &std::sync::Mutex<std::sync::mpsc::Receiver<(u16, Vec<u8>)>>,
) {
    use std::io::{Read, Write};
    conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match conn.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
    }
    let _ = event.send(Event::Request);
    conn.set_nonblocking(true).unwrap();
    loop {
        let next = waiting
            .lock()
            .unwrap()
            .recv_timeout(Duration::from_millis(10));
        match next {
            Ok((status, body)) => {
                conn.set_nonblocking(false).unwrap();
                let _ = write!(
                    conn,
                    "HTTP/1.1 {status} X\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = conn.write_all(&body);
                // The relay closes its connection once it has read the body.
                while matches!(conn.read(&mut byte), Ok(1)) {}
                let _ = event.send(Event::Taken);
                return;
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => match conn.peek(&mut byte) {
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Ok(n) if n > 0 => {}
                // End of stream or reset: the relay gave up on this fetch.
                _ => {
                    let _ = event.send(Event::Closed);
                    return;
                }
            },
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return,
        }
    }
}

/// The relay with its log kept: stderr is read into `log` until it ends.
struct Logged {
    relay: common::Running,
    addr: SocketAddr,
    log: std::thread::JoinHandle<Vec<String>>,
}

impl Logged {
    fn start(url: &str, extra: &[&str], env: &[(&str, &str)]) -> Self {
        let mut command = std::process::Command::new(common::example_binary("relay"));
        command
            .args(["--service", "foo", "--url", url, "--port", "0"])
            .args(extra)
            .env("RUST_LOG", "warn")
            .envs(env.iter().copied())
            .stderr(std::process::Stdio::piped());
        let (mut relay, line) = common::start_and_read_line(&mut command);
        assert!(line.contains("http://"), "the relay printed {line:?}");
        let stderr = relay.0.stderr.take().unwrap();
        let log = std::thread::spawn(move || {
            use std::io::BufRead;
            std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
                .collect()
        });
        Self {
            relay,
            addr: common::served_addr(&line),
            log,
        }
    }

    fn pid(&self) -> u32 {
        self.relay.0.id()
    }

    /// Stops the relay and returns every line it logged.
    fn stop(mut self) -> Vec<String> {
        let _ = self.relay.0.kill();
        let _ = self.relay.0.wait();
        self.log.join().unwrap()
    }
}

/// A scrape as Prometheus asks for one: status and body.
fn scrape(addr: SocketAddr) -> (u16, String) {
    let res = common::http(
        addr,
        "GET",
        "/metrics",
        &[("Accept", common::PROMETHEUS_ACCEPT)],
        b"",
    )
    .unwrap();
    (res.status, String::from_utf8_lossy(&res.body).into_owned())
}

/// The value of the (only) sample `name` in an OpenMetrics answer, read with
/// promhttp's parser.
fn value_of(answer: &str, name: &str) -> f64 {
    let families = promhttp::parse::parse_openmetrics(answer)
        .unwrap_or_else(|e| panic!("the answer does not parse: {e}\n{answer}"));
    let mut samples = families
        .iter()
        .flat_map(|f| &f.samples)
        .filter(|s| s.name == name);
    let first = samples
        .next()
        .unwrap_or_else(|| panic!("no `{name}` in the answer:\n{answer}"));
    assert!(samples.next().is_none(), "`{name}` twice");
    first.value
}

/// The relay's resident memory now and at its peak, in bytes (`VmRSS`,
/// `VmHWM`).
fn rss(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kib| kib.parse::<u64>().ok())
            .unwrap_or_else(|| panic!("no {name} in /proc/{pid}/status"))
            * 1024
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// One sample with `k` distinct labels.
fn wide_sample(k: usize) -> String {
    let labels: Vec<String> = (0..k).map(|i| format!("l{i}=\"v\"")).collect();
    format!("one{{{}}} 1\n", labels.join(","))
}

/// `n` counters with four labels, 100 to a family, with HELP and TYPE (about
/// 110 bytes a series; `scripts/relay_table.py --shape realistic`).
fn realistic(n: usize) -> String {
    let mut out = String::new();
    for f in 0..n.div_ceil(100) {
        let name = format!("app_requests_{f}_total");
        out.push_str(&format!(
            "# HELP {name} Requests handled by the app, by route.\n# TYPE {name} counter\n"
        ));
        for i in 0..100.min(n - f * 100) {
            out.push_str(&format!(
                "{name}{{method=\"GET\",route=\"/api/v1/items/{i}\",status=\"{}\",instance=\"10.0.{}.{i}:8080\"}} {}\n",
                200 + i % 5,
                f % 256,
                f * 1000 + i
            ));
        }
    }
    out
}

/// `n` families of one sample each with long names and no metadata: the answer
/// (which adds a HELP line to each) is about four times the upstream.
fn many_families(n: usize) -> String {
    let pad = "x".repeat(80);
    (0..n).map(|i| format!("f{i}_{pad} 1\n")).collect()
}

/// Scrapes `addr`, and returns the answer's text and the time the scrape took
/// as seen from here.
fn timed_scrape(addr: SocketAddr) -> (String, f64) {
    let t0 = std::time::Instant::now();
    let (status, answer) = scrape(addr);
    let took = t0.elapsed().as_secs_f64();
    assert_eq!(status, 200, "{answer}");
    (answer, took)
}

/// Issue 13: one sample with 200,000 labels took 20 s a scrape (the
/// repeated-label check was quadratic), while `scrape_duration_seconds` said
/// 0.04 s. Now such a sample is relayed whole, and the reported duration is the
/// scrape's. (What the checks cost per label is measured by
/// `cargo bench -p promhttp-bench --bench validate`; a quadratic check makes
/// this test run for minutes.)
#[test]
fn a_sample_with_many_labels_is_relayed_whole_and_timed() {
    let labels = 100_000;
    let upstream = Upstream::start(text_reply(&wide_sample(labels)));
    let (_relay, addr) = start_relay(&upstream, &["--timeout", "120"]);
    let (answer, took) = timed_scrape(addr);
    assert_eq!(value_of(&answer, "relay_upstream_up"), 1.0, "{answer}");
    let families = promhttp::parse::parse_openmetrics(&answer).unwrap();
    let one = families
        .iter()
        .flat_map(|f| &f.samples)
        .find(|s| s.name == "one")
        .expect("the wide sample is relayed");
    let relayed = one
        .labels
        .iter()
        .filter(|(k, _)| k.starts_with('l'))
        .count();
    assert_eq!(relayed, labels, "{:?}", &one.labels[..3]);
    assert_eq!(one.label("l99999"), Some("v"));
    // The relay's own clock runs inside the scrape we timed. That it covers the
    // work, and not the fetch alone, is `the_timeout_covers_the_whole_scrape`'s.
    let reported = value_of(&answer, "relay_scrape_duration_seconds");
    assert!(
        reported <= took,
        "scrape_duration_seconds says {reported:.3} s of a {took:.3} s scrape"
    );
}

/// Issue 13: `--timeout` bounded the fetch alone; parsing, relabelling and
/// encoding a large upstream ran on past it. Now a scrape whose work overruns
/// the timeout is answered `up 0` at the timeout, and `scrape_duration_seconds`
/// counts that time.
#[test]
fn the_timeout_covers_the_whole_scrape() {
    // A 13 MB body: fetched on loopback in a small part of the timeout, and
    // several seconds of work in a debug build, far past it.
    let upstream = Upstream::start(text_reply(&realistic(120_000)));
    let relay = Logged::start(
        &format!("http://{}/metrics", upstream.addr),
        &["--timeout", "1"],
        &[],
    );
    let (answer, took) = timed_scrape(relay.addr);
    // `up 0` because the work, not the fetch, overran (the log says which):
    // the timeout covers the work.
    assert_eq!(
        value_of(&answer, "relay_upstream_up"),
        0.0,
        "the work overran the timeout"
    );
    // Answered at the timeout, so the scrape's own duration runs into the work.
    let reported = value_of(&answer, "relay_scrape_duration_seconds");
    assert!(
        (1.0..=took).contains(&reported),
        "scrape_duration_seconds {reported} of a {took:.3} s scrape"
    );
    let log = relay.stop();
    assert!(
        log.iter()
            .any(|l| l.contains("did not end within --timeout")),
        "{log:#?}"
    );
}

/// Issue 13: the relay's work ran on the async worker that served the scrape,
/// stalling every other request on that worker. With one worker thread, a
/// request that arrives while a large upstream is being processed is answered
/// before that scrape is.
#[test]
fn scrape_work_runs_off_the_async_workers() {
    use std::io::{Read, Write};
    let upstream = Gated::start();
    let relay = Logged::start(
        &upstream.url(),
        &["--timeout", "60"],
        &[("TOKIO_WORKER_THREADS", "1")],
    );
    let addr = relay.addr;
    let (answered, first_bytes) = std::sync::mpsc::channel();
    let scraper = std::thread::spawn(move || {
        let mut conn = std::net::TcpStream::connect(addr).unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        write!(
            conn,
            "GET /metrics HTTP/1.1\r\nHost: relay\r\nAccept: {}\r\nConnection: close\r\n\r\n",
            common::PROMETHEUS_ACCEPT
        )
        .unwrap();
        let mut answer = vec![0u8; 12];
        conn.read_exact(&mut answer).unwrap();
        let _ = answered.send(());
        conn.read_to_end(&mut answer).unwrap();
        String::from_utf8(answer).unwrap()
    });
    assert_eq!(upstream.next(), Event::Request);
    // About a second and a half of work in a debug build.
    upstream.answer(200, realistic(30_000));
    // The relay has read the whole body and closed the connection: its work
    // has begun.
    assert_eq!(upstream.next(), Event::Taken);
    let other = common::http(addr, "GET", "/elsewhere", &[], b"").unwrap();
    assert_eq!(other.status, 404);
    assert!(
        first_bytes.try_recv().is_err(),
        "the scrape was answered before a 404 could be: its work held the only worker"
    );
    let answer = scraper.join().unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer:.200}");
    let body = &answer[answer.find("\r\n\r\n").unwrap() + 4..];
    assert_eq!(value_of(body, "relay_upstream_up"), 1.0);
    relay.stop();
}

/// Issue 13: every scrape cloned the parsed upstream and encoded its own answer
/// (16 scrapes at once: 2 GB). Scrapes that arrive during a fetch share it: one
/// request upstream, one parse, one answer per format. Eight scrapes are held
/// at the upstream until a ninth is refused (`--max-concurrent-scrapes 8`), so
/// all eight have joined; the relay's peak memory then stays within what one
/// scrape of that upstream costs.
#[test]
fn concurrent_scrapes_share_one_fetch_parse_and_answer() {
    let upstream = Gated::start();
    let relay = Logged::start(
        &upstream.url(),
        &["--max-concurrent-scrapes", "8", "--timeout", "60"],
        &[],
    );
    let (base, _) = rss(relay.pid());
    let addr = relay.addr;
    let (report, reports) = std::sync::mpsc::channel();
    let scrapers: Vec<_> = (0..9)
        .map(|_| {
            let report = report.clone();
            std::thread::spawn(move || {
                let (status, answer) = scrape(addr);
                let _ = report.send(status);
                (status, answer)
            })
        })
        .collect();
    assert_eq!(upstream.next(), Event::Request);
    assert_eq!(
        reports.recv_timeout(Duration::from_secs(30)),
        Ok(503),
        "a ninth scrape was not refused"
    );
    let body = realistic(20_000);
    upstream.answer(200, body.clone());
    let answers: Vec<(u16, String)> = scrapers.into_iter().map(|s| s.join().unwrap()).collect();
    let served: Vec<&String> = answers
        .iter()
        .filter(|(status, _)| *status == 200)
        .map(|(_, a)| a)
        .collect();
    assert_eq!(served.len(), 8);
    for answer in &served {
        assert_eq!(value_of(answer, "relay_upstream_up"), 1.0);
        assert_eq!(*answer, served[0], "one answer for all");
    }
    assert_eq!(upstream.next(), Event::Taken);
    assert!(
        upstream.events.try_recv().is_err(),
        "more than one request upstream"
    );
    let (_, peak) = rss(relay.pid());
    let grown = peak.saturating_sub(base);
    // One scrape of this upstream costs about 10 times its size (the parsed
    // families; see BENCHMARKS.md); eight unshared ones would be 80.
    assert!(
        grown < 25 * body.len() as u64,
        "eight scrapes of a {} byte upstream took {grown} bytes",
        body.len()
    );
    relay.stop();
}

/// Issue 13: the relay's `/metrics` had no concurrency limit, and 64 clients
/// that never read held 3.6 GB. It goes through the endpoint's limit
/// (`503` with `Retry-After` past it), and a scrape counts until its answer
/// has been taken or `--send-timeout` has dropped it.
#[test]
fn scrapes_past_the_limit_are_refused_until_their_answers_are_taken() {
    use std::io::{Read, Write};
    let upstream = Gated::start();
    let relay = Logged::start(
        &upstream.url(),
        &[
            "--max-concurrent-scrapes",
            "1",
            "--send-timeout",
            "5",
            "--timeout",
            "60",
        ],
        &[],
    );
    let addr = relay.addr;
    let first = std::thread::spawn(move || scrape(addr));
    assert_eq!(upstream.next(), Event::Request);
    let refused = common::http(addr, "GET", "/metrics", &[], b"").unwrap();
    assert_eq!(refused.status, 503);
    assert_eq!(refused.header("retry-after"), Some("1"));
    upstream.answer(200, "g 1\n");
    let (status, answer) = first.join().unwrap();
    assert_eq!(status, 200);
    assert_eq!(value_of(&answer, "g"), 1.0);
    assert_eq!(upstream.next(), Event::Taken);

    // A scraper that reads the head of a large answer and stops. The answer
    // (13 MB) is far larger than what the sockets and the server can buffer
    // (on loopback, about 4.5 MB were taken up here: the 4 MiB most of
    // tcp_wmem, the client's receive buffer, hyper's write buffer), so the
    // rest waits for the scraper.
    let mut silent = std::net::TcpStream::connect(addr).unwrap();
    write!(silent, "GET /metrics HTTP/1.1\r\nHost: relay\r\n\r\n").unwrap();
    assert_eq!(upstream.next(), Event::Request);
    let upstream_body = many_families(30_000);
    upstream.answer(200, upstream_body.clone());
    assert_eq!(upstream.next(), Event::Taken);
    silent
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut head = [0u8; 1024];
    silent.read_exact(&mut head).unwrap();
    assert!(head.starts_with(b"HTTP/1.1 200"));
    let refused = common::http(addr, "GET", "/metrics", &[], b"").unwrap();
    assert_eq!(
        refused.status, 503,
        "a scrape whose answer is still being sent no longer counted"
    );
    // After --send-timeout the unread answer is dropped and scrapes are served
    // (the answer queued here is for the first one admitted).
    upstream.answer(200, upstream_body);
    let whole =
        common::wait_until(
            "a scrape served again",
            Duration::from_secs(30),
            || match common::http(addr, "GET", "/metrics", &[], b"") {
                Ok(res) if res.status == 200 => Ok(res.body.len()),
                Ok(res) => Err(format!("status {}", res.status)),
                Err(e) => Err(e.to_string()),
            },
        );
    // ... and the silent scraper, reading on, gets a cut answer.
    let mut rest = Vec::new();
    let _ = silent.read_to_end(&mut rest);
    assert!(
        head.len() + rest.len() < whole,
        "the whole answer ({whole} bytes) was kept for a scraper that did not read it"
    );
    relay.stop();
}

/// Issue 13: 1.5 million tiny families made a 178.6 MB answer. An answer larger
/// than `--max-answer-bytes`, or an upstream body larger than
/// `--max-upstream-bytes`, is `up 0` with the reason logged.
#[test]
fn answers_and_upstreams_past_their_caps_are_up_zero() {
    let body = many_families(2_000);
    let upstream = Upstream::start(text_reply(&body));
    let url = format!("http://{}/metrics", upstream.addr);
    for (flag, limit, reason) in [
        (
            "--max-answer-bytes",
            "100000",
            "larger than --max-answer-bytes",
        ),
        ("--max-upstream-bytes", "10000", "larger than 10000 bytes"),
    ] {
        let relay = Logged::start(&url, &[flag, limit], &[]);
        let (status, answer) = scrape(relay.addr);
        assert_eq!(status, 200);
        assert_eq!(value_of(&answer, "relay_upstream_up"), 0.0, "{flag}");
        // The relay's own families alone, not the upstream's 2,000.
        assert!(answer.len() < 8_000, "{flag}: {answer}");
        let log = relay.stop();
        assert!(log.iter().any(|l| l.contains(reason)), "{flag}: {log:#?}");
    }
    // Under both caps, the same upstream is relayed whole.
    let relay = Logged::start(&url, &[], &[]);
    let (_, answer) = scrape(relay.addr);
    assert_eq!(value_of(&answer, "relay_upstream_up"), 1.0);
    assert!(answer.len() > 4 * body.len());
    relay.stop();
}

/// Issue 13: a scraper gave up at 1 s while the upstream took 3 s; the fetch
/// stayed behind, and a scrape 20 s later got its old values with `up 1`. A
/// fetch ends with its last scraper, and a later scrape fetches afresh.
#[test]
fn a_fetch_ends_with_its_scrapers_and_is_never_served_later() {
    use std::io::Write;
    let upstream = Gated::start();
    let relay = Logged::start(&upstream.url(), &["--timeout", "60"], &[]);
    let addr = relay.addr;
    let mut given_up = std::net::TcpStream::connect(addr).unwrap();
    write!(
        given_up,
        "GET /metrics HTTP/1.1\r\nHost: relay\r\nAccept: {}\r\n\r\n",
        common::PROMETHEUS_ACCEPT
    )
    .unwrap();
    assert_eq!(upstream.next(), Event::Request);
    drop(given_up);
    assert_eq!(
        upstream.next(),
        Event::Closed,
        "the fetch outlived its only scraper"
    );
    // The upstream has changed since; a scrape now gets what it says now.
    let later = std::thread::spawn(move || scrape(addr));
    assert_eq!(upstream.next(), Event::Request, "no fetch of its own");
    upstream.answer(200, "g 2\n");
    let (_, answer) = later.join().unwrap();
    assert_eq!(value_of(&answer, "g"), 2.0);
    assert_eq!(value_of(&answer, "relay_upstream_up"), 1.0);
    assert_eq!(upstream.next(), Event::Taken);
    // And once it fails, the next scrape says so.
    let later = std::thread::spawn(move || scrape(addr));
    assert_eq!(upstream.next(), Event::Request);
    upstream.answer(500, "oops\n");
    let (_, answer) = later.join().unwrap();
    assert_eq!(value_of(&answer, "relay_upstream_up"), 0.0);
    relay.stop();
}

/// Issue 13: a 3.7 MB upstream made 100,000 warning lines per scrape. What is
/// left out is logged once per fetch and cause, with a count.
#[test]
fn what_is_left_out_is_logged_once_per_fetch_and_cause() {
    // Histograms whose buckets lose their `le` to `--label le=core` (kept as
    // `exported_le`): every family is invalid once relabelled; and the
    // upstream's own `up`.
    let mut body: String = (0..2_000)
        .map(|i| {
            format!(
                "# TYPE f{i} histogram\nf{i}_bucket{{le=\"+Inf\"}} 1\nf{i}_sum 1\nf{i}_count 1\n"
            )
        })
        .collect();
    body.push_str("# TYPE relay_upstream_up gauge\nrelay_upstream_up 1\n");
    let upstream = Upstream::start(text_reply(&body));
    let relay = Logged::start(
        &format!("http://{}/metrics", upstream.addr),
        &["--label", "le=core"],
        &[],
    );
    let (_, answer) = scrape(relay.addr);
    assert_eq!(value_of(&answer, "relay_upstream_up"), 1.0);
    assert!(!answer.contains("f0"), "an invalid family was relayed");
    let bad_keys: Vec<String> = (0..1_000).map(|i| format!("\"bad-{i}\": 1")).collect();
    upstream.set(Reply::Answer(
        200,
        "application/json",
        format!("{{{}}}", bad_keys.join(",")).into_bytes(),
    ));
    let (_, answer) = scrape(relay.addr);
    assert_eq!(value_of(&answer, "relay_upstream_up"), 1.0);
    let log = relay.stop();
    // At start: `le` is not put on the relay's own call metrics, which have one.
    assert!(
        log[0].contains("--label le: not on the http_client_* families"),
        "{log:#?}"
    );
    let log = &log[1..];
    assert_eq!(log.len(), 3, "one line per fetch and cause: {log:#?}");
    for expected in [
        "2000 left out: they are invalid once relabelled",
        "1 left out: they would replace the relay's own",
        "1000 left out: JSON keys that are not metric names",
    ] {
        assert!(
            log.iter().any(|l| l.contains(expected)),
            "no {expected:?} in {log:#?}"
        );
    }
}

/// Issue 13: one family of a million 16-byte series cost 47 times its body,
/// held whole. A family is relayed a piece at a time (4,096 samples), and a
/// piece found invalid late withdraws the whole family from every answer.
#[test]
fn a_large_family_is_relayed_a_piece_at_a_time_whole_or_not_at_all() {
    const SERIES: usize = 300_000;
    let mut body = String::from("# TYPE big gauge\n");
    for i in 0..SERIES {
        body.push_str(&format!("big{{i=\"{i}\"}} {i}\n"));
    }
    // A family invalid from its first piece on (a counter at -1, which text
    // 0.0.4 lets through and the model does not): it must not withdraw `big`.
    body.push_str("# TYPE neg counter\nneg -1\n");
    // 15,000 samples, over four pieces; the last series counts -1.
    body.push_str("# TYPE h histogram\n");
    for i in 0..5_000 {
        let count = if i < 4_999 { 1 } else { -1 };
        body.push_str(&format!(
            "h_bucket{{i=\"{i}\",le=\"+Inf\"}} 1\nh_sum{{i=\"{i}\"}} 1\nh_count{{i=\"{i}\"}} {count}\n"
        ));
    }
    body.push_str("# TYPE after gauge\nafter 1\n");
    let upstream = Upstream::start(text_reply(&body));
    let relay = Logged::start(
        &format!("http://{}/metrics", upstream.addr),
        &["--timeout", "60"],
        &[],
    );
    let (base, _) = rss(relay.pid());
    let (status, answer) = scrape(relay.addr);
    assert_eq!(status, 200);
    let (_, peak) = rss(relay.pid());
    let text = common::http(
        relay.addr,
        "GET",
        "/metrics",
        &[("Accept", "text/plain;version=0.0.4")],
        b"",
    )
    .unwrap();
    let text = String::from_utf8(text.body).unwrap();
    for families in [
        promhttp::parse::parse_openmetrics(&answer).unwrap(),
        promhttp::parse::parse_text(&text).unwrap(),
    ] {
        let names: Vec<&str> = families.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names[..2], ["big", "after"]);
        assert_eq!(names[2..], RELAY_OWN);
        let big = &families[0];
        assert_eq!(big.samples.len(), SERIES);
        for (i, sample) in big.samples.iter().enumerate() {
            assert_eq!(sample.label("i"), Some(i.to_string().as_str()));
            assert_eq!(sample.label("service"), Some("foo"));
            assert_eq!(sample.value, i as f64);
        }
    }
    assert_eq!(value_of(&answer, "relay_upstream_up"), 1.0);
    // Held whole, the family and its checks cost about 45 times the body.
    let grown = peak.saturating_sub(base);
    let limit = 4 * body.len() + 2 * answer.len();
    assert!(
        grown < limit as u64,
        "a {} byte upstream and a {} byte answer took {grown} bytes (limit {limit})",
        body.len(),
        answer.len()
    );
    let log = relay.stop();
    assert!(
        log.iter()
            .any(|l| l.contains("2 left out: they are invalid once relabelled")),
        "{log:#?}"
    );
}

/// The original relay's command line (`start`, `-s`, `-u`, `-p`); names given
/// by a sample name (`http_requests_total`) as well as a family name; an
/// allow-list; and a warning for a name that matches nothing.
#[test]
fn the_originals_command_line_sample_names_and_an_allow_list() {
    let upstream = Upstream::start(text_reply(TEXT));
    let url = format!("http://{}/metrics", upstream.addr);
    let renames = std::env::temp_dir().join(format!("relay-sample-renames-{}", std::process::id()));
    std::fs::write(
        &renames,
        "rpc_seconds_count latency_seconds_count\nnot_there x\n",
    )
    .unwrap();
    let mut command = std::process::Command::new(common::example_binary("relay"));
    command
        .args(["start", "-s", "foo", "-u", &url, "-p", "0"])
        .args([
            "--exclude",
            "http_requests_total",
            "--exclude",
            "typo_total",
        ])
        .args(["--include-regex", "^(http_|node_|rpc_|exclude_me)"])
        .args(["--rename", renames.to_str().unwrap()])
        .env("RUST_LOG", "warn")
        .stderr(std::process::Stdio::piped());
    let (mut relay, line) = common::start_and_read_line(&mut command);
    let stderr = relay.0.stderr.take().unwrap();
    let m = common::scrape_parsed(common::served_addr(&line));
    let names: Vec<&str> = m.families.iter().map(|f| f.name.as_str()).collect();
    // Excluded by its sample name; go_* and legacy not in the allow-list;
    // rpc_seconds renamed by its `_count` sample name.
    for gone in [
        "http_requests",
        "go_goroutines",
        "go_gc_duration_seconds",
        "legacy",
        "rpc_seconds",
    ] {
        assert!(!names.contains(&gone), "{gone} relayed: {names:?}");
    }
    for kept in ["exclude_me", "node_load1", "latency_seconds"] {
        assert!(names.contains(&kept), "{kept} missing: {names:?}");
    }
    assert_eq!(m.value("latency_seconds_count", &[("service", "foo")]), 5.0);
    drop(relay);
    let log: Vec<String> = {
        use std::io::BufRead;
        std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
            .collect()
    };
    for warned in [
        "--exclude typo_total: no family",
        "--rename not_there: no family",
    ] {
        assert!(
            log.iter().any(|l| l.contains(warned)),
            "no {warned:?} in {log:#?}"
        );
    }
    assert!(
        !log.iter()
            .any(|l| l.contains("--exclude http_requests_total")),
        "{log:#?}"
    );
    let _ = std::fs::remove_file(renames);
    // Anything but `start` where the command goes is refused.
    common::assert_refused(
        "relay",
        &["stop", "-s", "foo", "-u", &url],
        "invalid value 'stop'",
    );
}

/// An upstream counter named without `_total` in text 0.0.4 (`requests`) is
/// served under that name in text, as Prometheus stores it when it scrapes the
/// upstream itself, and as `requests_total` in OpenMetrics, which requires the
/// suffix.
#[test]
fn a_text_counter_without_total_keeps_the_upstreams_name_in_text() {
    let upstream = Upstream::start(text_reply(
        "# HELP requests Requests served.\n# TYPE requests counter\n\
         requests{code=\"200\"} 1027\nrequests{code=\"500\"} 3\n\
         # TYPE jobs_total counter\njobs_total 4\n",
    ));
    let (_relay, addr) = start_relay(&upstream, &[]);
    let text = common::scrape_text(addr);
    for line in [
        "# HELP requests Requests served.\n",
        "# TYPE requests counter\n",
        "requests{code=\"200\",service=\"foo\"} 1027\n",
        "requests{code=\"500\",service=\"foo\"} 3\n",
        "# TYPE jobs_total counter\n",
        "jobs_total{service=\"foo\"} 4\n",
    ] {
        assert!(text.contains(line), "no {line:?} in\n{text}");
    }
    assert!(
        !text.lines().any(|l| l.starts_with("requests_total")),
        "{text}"
    );
    // Read back through both parsers (ours and Python's agree), the values
    // are the upstream's.
    let m = common::parse_text(&text);
    assert_eq!(m.family("requests").unwrap().kind, "counter");
    let code = |c| [("code", c), ("service", "foo")];
    assert_eq!(m.value("requests_total", &code("200")), 1027.0);
    assert_eq!(m.value("requests_total", &code("500")), 3.0);
    let om = common::scrape_openmetrics(addr);
    assert!(
        om.contains("requests_total{code=\"200\",service=\"foo\"} 1027\n"),
        "{om}"
    );
    let m = common::parse_openmetrics(&om);
    assert_eq!(m.value("requests_total", &code("500")), 3.0);
    assert_eq!(m.value("jobs_total", &[("service", "foo")]), 4.0);
    // `?format=text` wins over an `Accept` that asks for OpenMetrics, as at
    // every promhttp endpoint: how a Prometheus job (`params`) keeps the name.
    let forced = common::http(
        addr,
        "GET",
        "/metrics?format=text",
        &[("Accept", common::PROMETHEUS_ACCEPT)],
        b"",
    )
    .unwrap();
    assert_eq!(forced.status, 200);
    assert!(forced
        .header("content-type")
        .unwrap()
        .starts_with("text/plain"));
    assert!(
        forced
            .text()
            .contains("requests{code=\"200\",service=\"foo\"} 1027\n"),
        "{}",
        forced.text()
    );
    let refused = common::http(addr, "GET", "/metrics?format=xml", &[], b"").unwrap();
    assert_eq!(refused.status, 400);
    assert!(
        refused.text().contains("format=\"xml\""),
        "{}",
        refused.text()
    );
}
