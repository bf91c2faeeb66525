//! The `relay` example against upstreams started here: text 0.0.4, OpenMetrics and
//! JSON upstreams relayed with exclusions, labels and renames; concurrent scrapes
//! sharing one fetch; and every upstream failure giving `up 0` in a whole,
//! parsable answer.

mod common;

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
    require_python_parser!();
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
    // The upstream's own `team` label gives way to --label team=core.
    assert_eq!(
        m.value("api_requests_total", &with(&[("code", "200")])),
        1027.0
    );
    assert_eq!(
        m.value("api_requests_total", &with(&[("code", "500")])),
        3.0
    );
    assert_eq!(m.value("load1", &with(&[])), 0.25);
    assert_eq!(m.family("rpc_seconds").unwrap().kind, "histogram");
    assert_eq!(m.value("rpc_seconds_bucket", &with(&[("le", "0.1")])), 4.0);
    assert_eq!(m.value("rpc_seconds_count", &with(&[])), 5.0);
    assert_eq!(m.family("legacy").unwrap().kind, "unknown");
    assert_eq!(m.value("legacy", &with(&[])), 7.0);
    assert_eq!(m.value("up", &with(&[])), 1.0);
    assert!(m.value("scrape_duration_seconds", &with(&[])) >= 0.0);
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
    require_python_parser!();
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
    assert_eq!(m.value("up", &foo), 1.0);
    let om = common::scrape_openmetrics(addr);
    assert!(om.contains("# UNIT temperature_celsius celsius\n"), "{om}");
    assert!(
        om.contains("# {trace_id=\"t1\"} 1 1700000000.5\n"),
        "the exemplar is kept:\n{om}"
    );

    upstream.set(Reply::Answer(
        200,
        "application/json",
        br#"{"queue_depth": 3, "ready": true, "name": "x", "nested": {"a": 1}, "bad-name": 2, "up": 5}"#
            .to_vec(),
    ));
    let m = common::scrape_parsed(addr);
    assert_eq!(m.value("queue_depth", &foo), 3.0);
    assert_eq!(m.value("ready", &foo), 1.0);
    assert!(m.family("name").is_none() && m.family("nested").is_none());
    // The upstream's own `up` gives way to the relay's (one series, value 1).
    assert_eq!(m.value("up", &foo), 1.0);
    assert_eq!(m.samples("up").count(), 1);
}

#[test]
fn concurrent_scrapes_share_one_upstream_fetch() {
    require_python_parser!();
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
            common::parse_openmetrics(body).value("up", &[("service", "foo")]),
            1.0
        );
    }
    // The next scrape after that fetch is a new fetch, not a stale copy.
    common::scrape_openmetrics(addr);
    assert_eq!(upstream.requests.load(Ordering::SeqCst) - before, 2);
}

#[test]
fn every_upstream_failure_is_up_zero_in_a_whole_answer() {
    require_python_parser!();
    let upstream = Upstream::start(text_reply(TEXT));
    let (_relay, addr) = start_relay(&upstream, &["--timeout", "0.3"]);
    let foo = [("service", "foo")];
    assert_eq!(common::scrape_parsed(addr).value("up", &foo), 1.0);
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
        assert_eq!(m.value("up", &foo), 0.0, "{what}");
        assert!(m.value("scrape_duration_seconds", &foo) >= 0.0);
        assert_eq!(
            m.families.len(),
            2,
            "{what}: only up and scrape_duration_seconds"
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
        &["--service", "foo", "--url", "https://example.com/metrics"],
        "only http://",
    );
    let _ = std::fs::remove_file(rename);
}
