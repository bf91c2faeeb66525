//! A real Prometheus scrapes both demo examples; PromQL through its HTTP API must
//! return exactly the number of requests sent.

mod common;

use std::net::SocketAddr;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{free_addr, Running};

/// Starts a demo example on a port the system picks; returns it and its address.
fn start_example(name: &str) -> (Running, SocketAddr) {
    let (running, line) = common::start_example(name, &[("BIND", "127.0.0.1:0")], &[]);
    (running, common::served_addr(&line))
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Runs an instant query: the series of its result, or Prometheus' error.
fn query_result(prometheus: SocketAddr, promql: &str) -> Result<Vec<serde_json::Value>, String> {
    let target = format!("/api/v1/query?query={}", percent_encode(promql));
    let res = common::http(prometheus, "GET", &target, &[], b"").map_err(|e| e.to_string())?;
    let json: serde_json::Value = serde_json::from_slice(&res.body).map_err(|e| e.to_string())?;
    match json["data"]["result"].as_array() {
        Some(result) if json["status"] == "success" => Ok(result.clone()),
        _ => Err(json.to_string()),
    }
}

/// Runs an instant PromQL query and returns the single value of its result, if any.
fn query(prometheus: SocketAddr, promql: &str) -> Option<f64> {
    let result = query_result(prometheus, promql).ok()?;
    assert!(
        result.len() <= 1,
        "{promql} returned several series: {result:?}"
    );
    result.first()?["value"][1].as_str()?.parse().ok()
}

/// Runs an instant query; the number of series it returns, or Prometheus' error.
fn query_series(prometheus: SocketAddr, promql: &str) -> Result<usize, String> {
    query_result(prometheus, promql).map(|result| result.len())
}

/// Every query of the Grafana dashboard in `deploy/` runs against the scraped demos,
/// with Grafana's variables filled in as Grafana would.
fn check_dashboard(prometheus: SocketAddr, job: &str) {
    let dashboard = check_panels(prometheus, "promhttp-http.json", job);
    let variable = &dashboard["templating"]["list"][1]["definition"];
    assert_eq!(variable, "label_values(http_server_requests_total, job)");
    let target = "/api/v1/label/job/values?match[]=http_server_requests_total";
    let res = common::http(prometheus, "GET", target, &[], b"").unwrap();
    assert!(res.text().contains(&format!("\"{job}\"")), "{}", res.text());
}

/// Runs every query of the dashboard `file` (in `deploy/grafana/dashboards`)
/// with `$job` filled in, until each returns a series (overflow panels
/// aside); returns the dashboard.
fn check_panels(prometheus: SocketAddr, file: &str, job: &str) -> serde_json::Value {
    let path = format!(
        "{}/deploy/grafana/dashboards/{file}",
        env!("CARGO_MANIFEST_DIR")
    );
    let dashboard: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    for panel in dashboard["panels"].as_array().unwrap() {
        let title = panel["title"].as_str().unwrap();
        for target in panel["targets"].as_array().unwrap() {
            let expr = target["expr"].as_str().unwrap();
            let promql = expr.replace("$job", job).replace("$__rate_interval", "1m");
            // Overflow and scrape failures never happened here; everything else has
            // data once two scrapes are in (rate() needs two samples).
            let wanted = usize::from(!title.contains("overflow"));
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                let series = query_series(prometheus, &promql)
                    .unwrap_or_else(|e| panic!("panel {title:?}: {promql} failed: {e}"));
                if series >= wanted {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "panel {title:?}: {promql} returned no series"
                );
                std::thread::sleep(Duration::from_millis(250));
            }
        }
    }
    dashboard
}

/// Polls `promql` until it returns `expected` or the deadline passes.
fn wait_for(prometheus: SocketAddr, promql: &str, expected: f64, deadline: Instant) -> Option<f64> {
    let mut last = None;
    while Instant::now() < deadline {
        last = query(prometheus, promql);
        if last == Some(expected) {
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    last
}

/// A Prometheus process and its data directory, both gone when dropped (the
/// process first).
struct Prometheus {
    _process: Running,
    _dir: common::TempDir,
}

fn prometheus_installed() -> bool {
    let installed = Command::new("prometheus").arg("--version").output().is_ok();
    if !installed {
        common::skip_test("prometheus is not installed (Debian package `prometheus`)");
    }
    installed
}

/// Starts Prometheus scraping each `(job, target)` every second.
fn start_prometheus(name: &str, jobs: &[(&str, SocketAddr)]) -> (Prometheus, SocketAddr) {
    let jobs: Vec<(String, SocketAddr, Option<&str>)> = jobs
        .iter()
        .map(|(job, target)| ((*job).to_owned(), *target, None))
        .collect();
    start_prometheus_with(name, &jobs, &[])
}

/// Starts Prometheus with `flags`, scraping each `(job, target, format)` every
/// second; a format is passed as the `format` URL parameter (Prometheus 2.42
/// cannot choose the `Accept` header it sends, but its `params` can).
fn start_prometheus_with(
    name: &str,
    jobs: &[(String, SocketAddr, Option<&str>)],
    flags: &[&str],
) -> (Prometheus, SocketAddr) {
    let mut scrape_configs = String::new();
    for (job, target, format) in jobs {
        scrape_configs.push_str(&format!(
            "  - job_name: {job}\n    static_configs:\n      - targets: ['{target}']\n"
        ));
        if let Some(format) = format {
            scrape_configs.push_str(&format!("    params:\n      format: [{format}]\n"));
        }
    }
    start_prometheus_config(name, &scrape_configs, flags)
}

/// Starts Prometheus with these `scrape_configs` (YAML, each entry indented
/// two spaces), scraping every second, and `flags`.
fn start_prometheus_config(
    name: &str,
    scrape_configs: &str,
    flags: &[&str],
) -> (Prometheus, SocketAddr) {
    start_prometheus_full(name, "", "", scrape_configs, flags)
}

/// Starts Prometheus as [`start_prometheus_config`] does, with `global` (YAML
/// indented two spaces: external labels) in its `global` section, `top` (YAML:
/// rule files, alerting, remote write) at the top level of its config, and
/// rules evaluated every second. With `--enable-feature=agent` among the
/// `flags` it is an agent, storing into an agent's write-ahead log.
fn start_prometheus_full(
    name: &str,
    global: &str,
    top: &str,
    scrape_configs: &str,
    flags: &[&str],
) -> (Prometheus, SocketAddr) {
    let dir = common::TempDir::new(&format!("e2e-{name}"));
    let config = format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n{global}{top}scrape_configs:\n{scrape_configs}"
    );
    let storage = if flags.contains(&"--enable-feature=agent") {
        "--storage.agent.path"
    } else {
        "--storage.tsdb.path"
    };
    std::fs::write(dir.join("prometheus.yml"), config).unwrap();
    let config = dir.join("prometheus.yml");
    let data = dir.join("data");
    let (process, addr) = common::start_listening("Prometheus", "/-/healthy", |addr| {
        let mut command = Command::new("prometheus");
        command
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("{storage}={}", data.display()))
            .arg(format!("--web.listen-address={addr}"))
            .args(flags);
        command
    });
    (
        Prometheus {
            _process: process,
            _dir: dir,
        },
        addr,
    )
}

#[test]
fn prometheus_scrapes_the_exact_request_counts_of_both_examples() {
    if !prometheus_installed() {
        return;
    }
    let (_axum, axum_addr) = start_example("axum");
    let (_actix, actix_addr) = start_example("actix");

    // Traffic: known routes, an echo, a streamed body and unmatched paths.
    let mut sent = 0.0;
    for addr in [axum_addr, actix_addr] {
        for i in 0..7 {
            let res = common::http(addr, "GET", &format!("/users/{i}"), &[], b"").unwrap();
            assert_eq!(res.status, 200);
            sent += 1.0;
        }
        for _ in 0..3 {
            let res = common::http(addr, "POST", "/echo", &[], b"ping").unwrap();
            assert_eq!(res.text(), "ping");
            sent += 1.0;
        }
        assert_eq!(
            common::http(addr, "GET", "/stream", &[], b"")
                .unwrap()
                .text()
                .lines()
                .count(),
            10
        );
        assert_eq!(
            common::http(addr, "GET", "/", &[], b"").unwrap().status,
            200
        );
        assert_eq!(
            common::http(addr, "GET", "/no/such/page", &[], b"")
                .unwrap()
                .status,
            404
        );
        assert_eq!(
            common::http(addr, "GET", "/other/missing", &[], b"")
                .unwrap()
                .status,
            404
        );
        sent += 4.0;
    }
    let per_app = sent / 2.0;

    // Each demo is scraped three ways by one Prometheus with native histograms
    // on, which asks for protobuf first: as it asks (protobuf), and through the
    // `format` parameter as OpenMetrics and as text 0.0.4. Every way must give
    // the same numbers.
    let mut jobs = Vec::new();
    for (app, addr) in [("axum", axum_addr), ("actix", actix_addr)] {
        for (way, format) in [
            ("protobuf", None),
            ("openmetrics", Some("openmetrics")),
            ("text", Some("text")),
        ] {
            jobs.push((format!("{app}_{way}"), addr, format));
        }
    }
    let (_prometheus, prometheus_addr) =
        start_prometheus_with("demos", &jobs, &["--enable-feature=native-histograms"]);

    let deadline = Instant::now() + Duration::from_secs(90);
    for (job, _, _) in &jobs {
        let up = wait_for(
            prometheus_addr,
            &format!("up{{job=\"{job}\"}}"),
            1.0,
            deadline,
        );
        assert_eq!(
            up,
            Some(1.0),
            "Prometheus could not scrape the {job} example"
        );
        let total = format!("sum(http_server_requests_total{{job=\"{job}\"}})");
        assert_eq!(
            wait_for(prometheus_addr, &total, per_app, deadline),
            Some(per_app),
            "{total}"
        );
        // Asked for protobuf, Prometheus keeps the native histogram (and not
        // the classic buckets); its count is the exact request count too.
        let count = if job.ends_with("protobuf") {
            format!("histogram_count(sum(http_server_request_duration_seconds{{job=\"{job}\"}}))")
        } else {
            format!("sum(http_server_request_duration_seconds_count{{job=\"{job}\"}})")
        };
        assert_eq!(query(prometheus_addr, &count), Some(per_app), "{count}");
        let users = format!("sum(http_server_requests_total{{job=\"{job}\",route=\"/users/{{id}}\",method=\"GET\",status=\"200\"}})");
        assert_eq!(query(prometheus_addr, &users), Some(7.0), "{users}");
        let unmatched = format!(
            "sum(http_server_requests_total{{job=\"{job}\",route=\"unmatched\",status=\"404\"}})"
        );
        assert_eq!(query(prometheus_addr, &unmatched), Some(2.0), "{unmatched}");
        let series = format!("count(http_server_requests_total{{job=\"{job}\"}})");
        assert_eq!(
            query(prometheus_addr, &series),
            Some(5.0),
            "{series}: one per route and status"
        );
        let in_flight = format!("sum(http_server_requests_in_flight{{job=\"{job}\"}})");
        assert_eq!(query(prometheus_addr, &in_flight), Some(0.0), "{in_flight}");
        let stream_seconds = if job.ends_with("protobuf") {
            format!("histogram_sum(sum(http_server_request_duration_seconds{{job=\"{job}\",route=\"/stream\"}}))")
        } else {
            format!(
                "sum(http_server_request_duration_seconds_sum{{job=\"{job}\",route=\"/stream\"}})"
            )
        };
        let seconds = query(prometheus_addr, &stream_seconds).unwrap();
        assert!(
            (0.95..3.0).contains(&seconds),
            "the 1 s stream took {seconds} s"
        );
        if job.ends_with("openmetrics") {
            check_dashboard(prometheus_addr, job);
        }
    }
    // The native histogram agrees with the classic one: the same sum, and a
    // 90th percentile in the classic bucket that holds the classic estimate
    // (its counts are exact), give or take a native bucket (factor 1.1).
    for app in ["axum", "actix"] {
        let (native, classic) = (format!("{app}_protobuf"), format!("{app}_openmetrics"));
        let native_sum = query(
            prometheus_addr,
            &format!(
                "histogram_sum(sum(http_server_request_duration_seconds{{job=\"{native}\"}}))"
            ),
        )
        .unwrap();
        let classic_sum = query(
            prometheus_addr,
            &format!("sum(http_server_request_duration_seconds_sum{{job=\"{classic}\"}})"),
        )
        .unwrap();
        assert!(
            (native_sum - classic_sum).abs() <= 1e-9 * classic_sum.max(1.0),
            "{app}: native sum {native_sum}, classic {classic_sum}"
        );
        // rate() needs traffic while Prometheus watches: a second wave, seen
        // by both jobs before the quantiles are asked.
        let addr = if app == "axum" { axum_addr } else { actix_addr };
        for i in 0..20 {
            let res = common::http(addr, "GET", &format!("/users/{i}"), &[], b"").unwrap();
            assert_eq!(res.status, 200);
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        let seen = per_app + 20.0;
        let native_count = format!(
            "histogram_count(sum(http_server_request_duration_seconds{{job=\"{native}\"}}))"
        );
        let classic_count =
            format!("sum(http_server_request_duration_seconds_count{{job=\"{classic}\"}})");
        assert_eq!(
            wait_for(prometheus_addr, &native_count, seen, deadline),
            Some(seen)
        );
        assert_eq!(
            wait_for(prometheus_addr, &classic_count, seen, deadline),
            Some(seen)
        );
        let (native_p90, classic_p90) = loop {
            let native_p90 = query(
                prometheus_addr,
                &format!("histogram_quantile(0.9, sum(rate(http_server_request_duration_seconds{{job=\"{native}\"}}[1m])))"),
            );
            let classic_p90 = query(
                prometheus_addr,
                &format!("histogram_quantile(0.9, sum by (le) (rate(http_server_request_duration_seconds_bucket{{job=\"{classic}\"}}[1m])))"),
            );
            match (native_p90, classic_p90) {
                (Some(n), Some(c)) if n.is_finite() && c.is_finite() => break (n, c),
                _ if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(250)),
                other => panic!("{app}: no quantiles: {other:?}"),
            }
        };
        eprintln!("{app}: p90 over 1m, native {native_p90}, classic {classic_p90}");
        let bounds = promhttp::DEFAULT_BUCKETS;
        let hi = bounds
            .iter()
            .copied()
            .find(|&b| b >= classic_p90)
            .unwrap_or(f64::INFINITY);
        let lo = bounds
            .iter()
            .copied()
            .rev()
            .find(|&b| b < classic_p90)
            .unwrap_or(0.0);
        assert!(
            native_p90 > lo / 1.1 && native_p90 <= hi * 1.1,
            "{app}: native p90 {native_p90}, classic p90 {classic_p90} in ({lo}, {hi}]"
        );
    }
    // Each process served each wire format: the protobuf job got protobuf (no
    // other job asks for it) and the text job text.
    for app in ["axum", "actix"] {
        for format in ["protobuf", "openmetrics", "text"] {
            let served = format!(
                "promhttp_metric_handler_requests_total{{job=\"{app}_openmetrics\",format=\"{format}\"}} > 0"
            );
            assert!(
                query(prometheus_addr, &served).is_some(),
                "{app} served no {format} scrape"
            );
        }
    }
}

/// Prometheus stores the exemplars of both demos: the trace ids sent in
/// `traceparent` headers come back from `/api/v1/query_exemplars`, on the
/// latency buckets and the request counters, and an unsampled trace does not.
#[test]
fn prometheus_stores_the_exemplars_of_traced_requests() {
    if !prometheus_installed() {
        return;
    }
    let (_axum, axum_addr) = start_example("axum");
    let (_actix, actix_addr) = start_example("actix");
    let trace = |app: u8, sampled: bool| {
        let id = format!("{app:02x}").repeat(14) + if sampled { "5a5a" } else { "0000" };
        let parent = format!("00-{id}-{}-0{}", "7b".repeat(8), u8::from(sampled));
        (id, parent)
    };
    for (n, addr) in [(0xa1, axum_addr), (0xac, actix_addr)] {
        for sampled in [true, false] {
            let (_, parent) = trace(n, sampled);
            let route = if sampled { "/users/1" } else { "/echo" };
            let method = if sampled { "GET" } else { "POST" };
            let res = common::http(
                addr,
                method,
                route,
                &[("traceparent", parent.as_str())],
                b"x",
            )
            .unwrap();
            assert_eq!(res.status, 200);
        }
    }
    let jobs = vec![
        ("axum".to_owned(), axum_addr, Some("openmetrics")),
        ("actix".to_owned(), actix_addr, Some("openmetrics")),
    ];
    let (_prometheus, prometheus) =
        start_prometheus_with("exemplars", &jobs, &["--enable-feature=exemplar-storage"]);
    let deadline = Instant::now() + Duration::from_secs(90);
    for (n, job) in [(0xa1, "axum"), (0xac, "actix")] {
        assert_eq!(
            wait_for(prometheus, &format!("up{{job=\"{job}\"}}"), 1.0, deadline),
            Some(1.0),
            "Prometheus could not scrape the {job} example"
        );
        for metric in [
            "http_server_request_duration_seconds_bucket",
            "http_server_requests_total",
        ] {
            let selector = format!("{metric}{{job=\"{job}\",route=\"/users/{{id}}\"}}");
            let (sampled, _) = trace(n, true);
            let (unsampled, _) = trace(n, false);
            let mut found = Vec::new();
            while Instant::now() < deadline {
                found = exemplar_trace_ids(prometheus, &selector);
                if !found.is_empty() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(250));
            }
            assert!(found.contains(&sampled), "{selector}: {found:?}");
            assert!(!found.contains(&unsampled), "{selector}: {found:?}");
            let echo = format!("{metric}{{job=\"{job}\",route=\"/echo\"}}");
            assert!(exemplar_trace_ids(prometheus, &echo).is_empty(), "{echo}");
        }
        // The dashboard's latency panel asks for exemplars, and its queries
        // get the trace, as Grafana asks for them.
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/deploy/grafana/dashboards/promhttp-http.json"
        );
        let dashboard: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let with_exemplars: Vec<(&str, &str)> = dashboard["panels"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|panel| {
                let title = panel["title"].as_str().unwrap();
                panel["targets"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|t| t["exemplar"] == true)
                    .map(move |t| (title, t["expr"].as_str().unwrap()))
            })
            .collect();
        assert!(
            with_exemplars
                .iter()
                .any(|(title, _)| title.starts_with("Latency")),
            "{with_exemplars:?}"
        );
        for (title, expr) in with_exemplars {
            let promql = expr.replace("$job", job).replace("$__rate_interval", "1m");
            let found = exemplar_trace_ids(prometheus, &promql);
            assert!(
                found.contains(&trace(n, true).0),
                "panel {title:?}: {found:?}"
            );
        }
    }
}

/// The `trace_id`s of the exemplars Prometheus stored for `selector` over the
/// last ten minutes.
fn exemplar_trace_ids(prometheus: SocketAddr, selector: &str) -> Vec<String> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let target = format!(
        "/api/v1/query_exemplars?query={}&start={}&end={}",
        percent_encode(selector),
        now - 600,
        now + 60
    );
    let res = common::http(prometheus, "GET", &target, &[], b"").unwrap();
    let body: serde_json::Value = serde_json::from_str(&res.text()).unwrap();
    assert_eq!(body["status"], "success", "{body}");
    body["data"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|series| series["exemplars"].as_array().unwrap())
        .map(|e| e["labels"]["trace_id"].as_str().unwrap().to_owned())
        .collect()
}

/// Prometheus takes the exporter examples' OpenMetrics as they are: state sets,
/// `_created` samples, the pollers' own families.
#[test]
fn prometheus_scrapes_the_exporter_examples() {
    if !prometheus_installed() {
        return;
    }
    let app = common::Upstream::start(common::Reply::Answer(
        200,
        "application/json",
        br#"{"current_requests": 3, "pending_requests": 1, "total_uptime": 99, "health": "healthy"}"#.to_vec(),
    ));
    let app_port = app.addr.port().to_string();
    let (_sidecar, sidecar_line) = common::start_example(
        "status_sidecar",
        &[
            ("APP_HOST", "127.0.0.1"),
            ("APP_PORT", &app_port),
            ("EXPORTER_HOST", "127.0.0.1"),
            ("EXPORTER_PORT", "0"),
            ("POLLING_INTERVAL_SECONDS", "0.2"),
        ],
        &[],
    );
    let (_app_registry, registry_line) = common::start_example(
        "app_registry",
        &[("BIND", "127.0.0.1:0"), ("PROBE_INTERVAL_SECONDS", "0.2")],
        &[],
    );
    let sidecar_addr = common::served_addr(&sidecar_line);
    let registry_addr = common::served_addr(&registry_line);
    let (_prometheus, prometheus) = start_prometheus(
        "exporters",
        &[("sidecar", sidecar_addr), ("app", registry_addr)],
    );
    let deadline = Instant::now() + Duration::from_secs(90);
    for (promql, expected) in [
        ("up{job=\"sidecar\"}", 1.0),
        ("up{job=\"app\"}", 1.0),
        ("app_up", 1.0),
        ("app_requests_current", 3.0),
        ("app_uptime_seconds", 99.0),
        ("app_health{app_health=\"healthy\"}", 1.0),
        ("app_health{app_health=\"unhealthy\"}", 0.0),
        ("probe_success", 1.0),
        ("upstream_up", 1.0),
        // The mirrored counter and its `_created` both reach the TSDB.
        ("count(upstream_requests_total > 0)", 1.0),
        ("count(upstream_requests_created > 1.7e9)", 1.0),
        ("count(probe_duration_seconds_bucket{le=\"+Inf\"} > 0)", 1.0),
    ] {
        assert_eq!(
            wait_for(prometheus, promql, expected, deadline),
            Some(expected),
            "{promql}"
        );
    }
}

/// The access-log dashboard in `deploy/`: every panel's query returns series
/// from a real Prometheus scraping the access-log example.
#[test]
fn the_access_log_dashboard_queries_the_access_log_exporter() {
    if !prometheus_installed() {
        return;
    }
    let dir = common::TempDir::new("e2e-access-log-file");
    let log = dir.join("access.log");
    let line = |i: u32| {
        format!(
            "10.0.0.{i} - - [01/Jan/2024:00:00:00 +0000] \"GET /a HTTP/1.1\" 200 {i} \"-\" \"curl/8\" 0.0{i}\n"
        )
    };
    std::fs::write(&log, (1..5).map(line).collect::<String>()).unwrap();
    let (_exporter, started) = common::start_and_read_line(
        Command::new(common::example_binary("access_log"))
            .arg("--file")
            .arg(&log)
            .args(["--from-start", "--port", "0", "--poll-interval-ms", "50"]),
    );
    let addr = common::served_addr(&started);
    let (_prometheus, prometheus) = start_prometheus("access-log", &[("access-log", addr)]);
    // More lines while it scrapes, so that rates have something to show.
    let writer = std::thread::spawn(move || {
        use std::io::Write;
        let mut file = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
        for i in 5..9 {
            std::thread::sleep(Duration::from_millis(700));
            file.write_all(line(i).as_bytes()).unwrap();
        }
    });
    let dashboard = check_panels(prometheus, "access-log.json", "access-log");
    assert_eq!(
        dashboard["templating"]["list"][1]["definition"],
        "label_values(log_lines_read_total, job)"
    );
    writer.join().unwrap();
}

/// Debian's Pushgateway on a free loopback port, its data in a temporary
/// directory; `None` (reported) when it is not installed.
fn start_pushgateway() -> Option<(Running, common::TempDir, SocketAddr)> {
    if !common::installed("prometheus-pushgateway", "prometheus-pushgateway") {
        return None;
    }
    let dir = common::TempDir::new("e2e-pushgateway");
    let pushed = dir.join("pushed");
    let (process, addr) = common::start_listening("the Pushgateway", "/-/ready", |addr| {
        let mut command = Command::new("prometheus-pushgateway");
        command
            .arg(format!("--web.listen-address={addr}"))
            .arg(format!("--persistence.file={}", pushed.display()));
        command
    });
    Some((process, dir, addr))
}

/// A batch job pushes to Debian's Pushgateway; Prometheus scrapes the gateway
/// with `honor_labels` and PromQL returns the pushed values under the job and
/// instance the job pushed; replace (PUT), add (POST) and delete behave as
/// the gateway documents them; a push the gateway refuses is an error value
/// with its words.
#[test]
fn a_batch_job_pushes_to_the_pushgateway_and_prometheus_reads_it() {
    if !prometheus_installed() {
        return;
    }
    let Some((_gateway, _dir, gateway)) = start_pushgateway() else {
        return;
    };
    let url = format!("http://{gateway}");
    // The example, as a cron job runs it.
    common::output_ok(
        Command::new(common::example_binary("batch_push"))
            .arg("250")
            .env("PUSHGATEWAY_URL", &url)
            .env("BATCH_INSTANCE", "nightly"),
    );
    let pushed = common::parse_text(
        &common::http(gateway, "GET", "/metrics", &[], b"")
            .unwrap()
            .text(),
    );
    let group = [("instance", "nightly"), ("job", "batch_push")];
    assert_eq!(pushed.value("batch_records_processed", &group), 250.0);

    let (_prometheus, prometheus) = start_prometheus_config(
        "pushgateway",
        &format!(
            "  - job_name: pushgateway\n    honor_labels: true\n    static_configs:\n      - targets: ['{gateway}']\n"
        ),
        &[],
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    let promql = "batch_records_processed{job=\"batch_push\",instance=\"nightly\"}";
    assert_eq!(
        wait_for(prometheus, promql, 250.0, deadline),
        Some(250.0),
        "{promql}"
    );

    // The library's semantics, on the same gateway.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        use prometheus_client::metrics::counter::Counter;
        use prometheus_client::metrics::gauge::Gauge;
        let pusher = promhttp::push::Pusher::new(&url, "semantics")
            .unwrap()
            .grouping("path", "/var/db")
            .unwrap();
        let gauge = |name: &str, value: i64| {
            let registry = promhttp::Registry::new();
            let g = Gauge::<i64>::default();
            g.set(value);
            registry.register(name, "A pushed value.", g).unwrap();
            registry
        };
        let read = || {
            common::parse_text(
                &common::http(gateway, "GET", "/metrics", &[], b"")
                    .unwrap()
                    .text(),
            )
        };
        // The gateway adds an empty `instance` to a group without one.
        let group = [("instance", ""), ("job", "semantics"), ("path", "/var/db")];
        pusher.push(&gauge("first", 1)).await.unwrap();
        pusher.push_add(&gauge("second", 2)).await.unwrap();
        let m = read();
        assert_eq!(m.value("first", &group), 1.0, "POST keeps the other names");
        assert_eq!(m.value("second", &group), 2.0);
        pusher.push(&gauge("third", 3)).await.unwrap();
        let m = read();
        assert!(m.get("first", &group).is_none(), "PUT replaces the group");
        assert_eq!(m.value("third", &group), 3.0);
        pusher.delete().await.unwrap();
        assert!(
            read().get("third", &group).is_none(),
            "DELETE removes the group"
        );

        // A name pushed before as a gauge (`runs_total`), now as a counter's
        // samples (the counter `runs` writes `runs_total`): refused.
        promhttp::push::Pusher::new(&url, "gauges")
            .unwrap()
            .push(&gauge("runs_total", 1))
            .await
            .unwrap();
        let registry = promhttp::Registry::new();
        registry
            .register("runs", "Now a counter.", Counter::<u64>::default())
            .unwrap();
        let err = promhttp::push::Pusher::new(&url, "counters")
            .unwrap()
            .push(&registry)
            .await
            .unwrap_err();
        match &err {
            promhttp::push::PushError::Refused {
                status, message, ..
            } => {
                assert_eq!(*status, 400, "{err}");
                assert!(message.contains("runs_total"), "{err}");
            }
            other => panic!("not refused: {other}"),
        }
        // No gateway there: a transport error, not a panic.
        let closed = free_addr();
        let err = promhttp::push::Pusher::new(&format!("http://{closed}"), "j")
            .unwrap()
            .push(&gauge("x", 1))
            .await
            .unwrap_err();
        assert!(
            matches!(err, promhttp::push::PushError::Transport(_)),
            "{err}"
        );
    });
}

/// An Alertmanager webhook receiver on loopback: each notification's JSON, in
/// the order they arrive.
struct Webhook {
    addr: SocketAddr,
    notifications: std::sync::mpsc::Receiver<serde_json::Value>,
}

fn start_webhook() -> Webhook {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, notifications) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = std::io::BufReader::new(stream.try_clone().unwrap());
            let Some(head) = common::read_head(&mut reader) else {
                continue;
            };
            let length = head
                .iter()
                .filter_map(|l| l.split_once(':'))
                .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
                .map_or(0, |(_, v)| v.trim().parse().unwrap_or(0));
            let mut body = vec![0; length];
            if reader.read_exact(&mut body).is_err() {
                continue;
            }
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
            if let Ok(json) = serde_json::from_slice(&body) {
                if tx.send(json).is_err() {
                    return;
                }
            }
        }
    });
    Webhook {
        addr,
        notifications,
    }
}

/// Starts Debian's Alertmanager with `config`; `None` (reported) when it is
/// not installed.
fn start_alertmanager(config: &str) -> Option<(Running, common::TempDir, SocketAddr)> {
    if !common::installed("prometheus-alertmanager", "prometheus-alertmanager") {
        return None;
    }
    let dir = common::TempDir::new("e2e-alertmanager");
    std::fs::write(dir.join("alertmanager.yml"), config).unwrap();
    let (file, data) = (dir.join("alertmanager.yml"), dir.join("data"));
    let (process, addr) = common::start_listening("Alertmanager", "/-/ready", |addr| {
        let mut command = Command::new("prometheus-alertmanager");
        command
            .arg(format!("--config.file={}", file.display()))
            .arg(format!("--storage.path={}", data.display()))
            .arg(format!("--web.listen-address={addr}"))
            // One instance, no gossip port to collide on.
            .arg("--cluster.listen-address=");
        command
    });
    Some((process, dir, addr))
}

/// Reads the webhook's notifications for at most `within`, until `done`
/// holds for the long windows of the `demo-availability` page alerts seen
/// with `status`; returns those windows and how many alerts other than pages
/// arrived meanwhile.
fn collect_pages(
    hook: &Webhook,
    status: &str,
    within: Duration,
    done: impl Fn(&std::collections::BTreeSet<String>) -> bool,
) -> (std::collections::BTreeSet<String>, usize) {
    let deadline = Instant::now() + within;
    let mut seen = std::collections::BTreeSet::new();
    let mut others = 0;
    while !done(&seen) {
        let left = deadline.saturating_duration_since(Instant::now());
        let notification = hook.notifications.recv_timeout(left).unwrap_or_else(|_| {
            panic!("only {seen:?} pages were {status} at the webhook after {within:?}")
        });
        others += notification["alerts"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|a| a["labels"]["severity"] != "page")
            .count();
        for (window, state) in pages(&notification, "demo-availability") {
            if state == status {
                seen.insert(window);
            }
        }
    }
    (seen, others)
}

/// The page alerts of `notification` (`SloErrorBudgetBurn`, `severity=page`)
/// for the objective `slo`, by their long window and status.
fn pages(notification: &serde_json::Value, slo: &str) -> Vec<(String, String)> {
    notification["alerts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|a| {
            a["labels"]["alertname"] == "SloErrorBudgetBurn"
                && a["labels"]["severity"] == "page"
                && a["labels"]["slo"] == slo
        })
        .map(|a| {
            (
                a["labels"]["long_window"].as_str().unwrap_or("").to_owned(),
                a["status"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

/// The SLO rules of `deploy/` on a real Prometheus and Alertmanager: the demo
/// is healthy (error ratio 0, every panel of the SLO dashboard answers, no
/// alert), then fails one request in four for as long as it takes: the page
/// reaches the pager's webhook through Alertmanager's routing, and resolves
/// once good requests bring the error ratio under the page's thresholds.
/// Tickets (routed elsewhere) never reach the pager.
#[test]
fn an_slo_outage_pages_through_alertmanager_and_resolves() {
    if !prometheus_installed() {
        return;
    }
    let hook = start_webhook();
    let routing = format!(
        "route:\n  receiver: tickets\n  group_by: [alertname, slo, long_window]\n  group_wait: 1s\n  group_interval: 1s\n  repeat_interval: 1h\n  routes:\n    - matchers: ['severity=\"page\"']\n      receiver: pager\nreceivers:\n  - name: tickets\n  - name: pager\n    webhook_configs:\n      - url: http://{}/page\n        send_resolved: true\n",
        hook.addr
    );
    let Some((_alertmanager, _am_dir, alertmanager)) = start_alertmanager(&routing) else {
        return;
    };
    let (_demo, demo) = start_example("axum");
    let top = format!(
        "rule_files:\n  - {}/deploy/prometheus/slo-rules.yml\nalerting:\n  alertmanagers:\n    - static_configs:\n        - targets: ['{alertmanager}']\n",
        env!("CARGO_MANIFEST_DIR")
    );
    let scrape =
        format!("  - job_name: demo-axum\n    static_configs:\n      - targets: ['{demo}']\n");
    let (_prometheus, prometheus) = start_prometheus_full("slo", "", &top, &scrape, &[]);

    // Healthy: an error ratio of 0 (not none), every dashboard query answers.
    // A series' first scraped value is no increase to rate(): the requests
    // that made it are sent before a scrape, more after it.
    let deadline = Instant::now() + Duration::from_secs(60);
    assert_eq!(
        common::send_many(demo, "/users/1", 100).get(&200),
        Some(&100)
    );
    let total = r#"sum(http_server_requests_total{job="demo-axum"})"#;
    assert_eq!(wait_for(prometheus, total, 100.0, deadline), Some(100.0));
    assert_eq!(
        common::send_many(demo, "/users/1", 100).get(&200),
        Some(&100)
    );
    let ratio = r#"slo:sli_error:ratio_rate5m{slo="demo-availability"}"#;
    assert_eq!(
        wait_for(prometheus, ratio, 0.0, deadline),
        Some(0.0),
        "{ratio}"
    );
    check_panels(prometheus, "slo.json", "demo-axum");

    // The outage: one request in four fails, every two seconds, until paged.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let fault = {
        let stop = std::sync::Arc::clone(&stop);
        std::thread::spawn(move || {
            let mut failed = 0;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                assert_eq!(
                    common::http(demo, "GET", "/fail", &[], b"").unwrap().status,
                    500
                );
                assert_eq!(common::send_many(demo, "/users/1", 3).get(&200), Some(&3));
                failed += 1;
                std::thread::sleep(Duration::from_secs(2));
            }
            failed
        })
    };
    // The page alerts fire after their `for: 2m`; allow five minutes.
    let (firing, mut tickets) = collect_pages(&hook, "firing", Duration::from_secs(300), |seen| {
        !seen.is_empty()
    });
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let failed = fault.join().unwrap();
    assert!(failed > 0);
    // Prometheus has it firing too, for the availability objective only.
    let alerts = r#"count(ALERTS{alertname="SloErrorBudgetBurn",severity="page",alertstate="firing",slo="demo-availability"})"#;
    assert!(
        query(prometheus, alerts).is_some_and(|n| n >= 1.0),
        "{alerts}"
    );
    let latency = r#"ALERTS{alertname="SloErrorBudgetBurn",slo="demo-latency"}"#;
    assert_eq!(query_series(prometheus, latency), Ok(0), "{latency}");

    // Recovery: enough good requests to bring the error ratio under both
    // pages' thresholds (0.0144 and 0.006) well before the errors leave the
    // windows; every page that fired is resolved at the webhook.
    let good = common::send_many(demo, "/users/1", 25_000);
    assert_eq!(good.get(&200), Some(&25_000), "{good:?}");
    let (_, late_tickets) = collect_pages(&hook, "resolved", Duration::from_secs(120), |seen| {
        firing.iter().all(|w| seen.contains(w))
    });
    tickets += late_tickets;
    assert_eq!(tickets, 0, "a ticket reached the pager");
}

/// Runs an instant query on VictoriaMetrics: `(labels, value)` of each series.
fn vm_query(vm: SocketAddr, promql: &str) -> Vec<(serde_json::Value, f64)> {
    query_result(vm, promql)
        .unwrap_or_else(|e| panic!("{promql}: {e}"))
        .into_iter()
        .map(|s| {
            let value = s["value"][1].as_str().unwrap().parse().unwrap();
            (s["metric"].clone(), value)
        })
        .collect()
}

/// Many instances: three demos, scraped by two Prometheus agents (one takes
/// two, the other one) that remote-write into Debian's VictoriaMetrics. The
/// requests sent are exactly `sum by (route) (increase(...))` there, summed
/// over the instances, although one instance is restarted mid-run (its
/// counters start again from 0); every series carries the scraper's `job`,
/// `instance` and external `agent` labels and none that promhttp invented.
#[test]
fn many_instances_through_agents_into_a_remote_store_give_exact_totals() {
    if !prometheus_installed() {
        return;
    }
    if !common::installed("victoria-metrics", "victoria-metrics") {
        return;
    }
    let store_dir = common::TempDir::new("e2e-victoria");
    let data = store_dir.join("data");
    let (_store, store) = common::start_listening("VictoriaMetrics", "/health", |addr| {
        let mut command = Command::new("victoria-metrics");
        command
            .arg(format!("-httpListenAddr={addr}"))
            .arg(format!("-storageDataPath={}", data.display()))
            .arg("-retentionPeriod=1d")
            // Answer with what was written a moment ago, not 30 s ago.
            .arg("-search.latencyOffset=0s")
            .arg("-search.disableCache");
        command
    });
    let mut demos: Vec<(Running, SocketAddr)> = (0..3).map(|_| start_example("axum")).collect();
    let addrs: Vec<SocketAddr> = demos.iter().map(|(_, a)| *a).collect();
    let remote = format!(
        "remote_write:\n  - url: http://{store}/api/v1/write\n    queue_config:\n      batch_send_deadline: 1s\n"
    );
    let job = |targets: &[SocketAddr]| {
        let list: Vec<String> = targets.iter().map(|t| format!("'{t}'")).collect();
        format!(
            "  - job_name: demo\n    static_configs:\n      - targets: [{}]\n",
            list.join(", ")
        )
    };
    let agent = ["--enable-feature=agent"];
    let (_a, _) = start_prometheus_full(
        "agent-a",
        "  external_labels:\n    agent: a\n",
        &remote,
        &job(&addrs[..2]),
        &agent,
    );
    let (_b, _) = start_prometheus_full(
        "agent-b",
        "  external_labels:\n    agent: b\n",
        &remote,
        &job(&addrs[2..]),
        &agent,
    );

    // Known traffic per instance and route, in two rounds around a restart.
    let mut sent: std::collections::BTreeMap<&str, f64> = std::collections::BTreeMap::new();
    let mut send = |addr: SocketAddr, target: &str, route: &'static str, status: u16, n: usize| {
        let got = common::send_many(addr, target, n);
        assert_eq!(got.get(&status), Some(&n), "{target}: {got:?}");
        #[allow(clippy::cast_precision_loss)]
        {
            *sent.entry(route).or_default() += n as f64;
        }
    };
    for (i, addr) in addrs.iter().enumerate() {
        send(*addr, "/users/7", "/users/{id}", 200, 5 + i);
        send(*addr, "/", "/", 200, 2);
        send(*addr, "/fail", "/fail", 500, i + 1);
    }
    // Everything the third instance counted is in the store before it stops.
    let third = format!(
        "sum(http_server_requests_total{{instance=\"{}\"}})",
        addrs[2]
    );
    let deadline = Instant::now() + Duration::from_secs(90);
    assert_eq!(
        wait_for(store, &third, 12.0, deadline),
        Some(12.0),
        "{third}"
    );
    drop(demos.pop());
    let (restarted, _) = common::start_example("axum", &[("BIND", &addrs[2].to_string())], &[]);
    // A reset shows only as a counter going down: the first scrape after the
    // restart must find fewer requests than the last one before it (1 < 2 and
    // 1 < 7), as it does when a process is scraped soon after it starts. A
    // counter that climbs past its old value before that scrape hides its
    // reset from increase() in any PromQL engine.
    send(addrs[2], "/users/8", "/users/{id}", 200, 1);
    send(addrs[2], "/", "/", 200, 1);
    assert_eq!(
        wait_for(store, &third, 2.0, deadline),
        Some(2.0),
        "{third} after the restart"
    );
    for addr in &addrs {
        send(*addr, "/users/8", "/users/{id}", 200, 2);
    }
    send(addrs[2], "/", "/", 200, 3);

    let totals = "sum by (route) (increase(http_server_requests_total{job=\"demo\"}[1h]))";
    let expected: Vec<(String, f64)> = sent.iter().map(|(r, n)| ((*r).to_owned(), *n)).collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut got = Vec::new();
    while Instant::now() < deadline {
        got = vm_query(store, totals)
            .into_iter()
            .map(|(labels, v)| (labels["route"].as_str().unwrap_or("").to_owned(), v))
            .collect();
        got.sort_by(|a, b| a.0.cmp(&b.0));
        if got == expected {
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    assert_eq!(got, expected, "{totals}");
    // The restarted instance's counters did start again: its raw sum is
    // below what it served, and increase() alone gives the right total.
    let raw = format!(
        "sum(http_server_requests_total{{instance=\"{}\"}})",
        addrs[2]
    );
    assert_eq!(vm_query(store, &raw)[0].1, 7.0, "{raw}");
    // Each series: the scraper's labels and promhttp's own, nothing else.
    let series = vm_query(store, "http_server_requests_total");
    assert!(!series.is_empty());
    for (labels, _) in &series {
        let mut names: Vec<&str> = labels
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        names.sort_unstable();
        assert_eq!(
            names,
            ["__name__", "agent", "instance", "job", "method", "route", "status"],
            "{labels}"
        );
        let instance = labels["instance"].as_str().unwrap();
        assert!(addrs.iter().any(|a| a.to_string() == instance), "{labels}");
        let agent = if instance == addrs[2].to_string() {
            "b"
        } else {
            "a"
        };
        assert_eq!(labels["agent"], agent, "{labels}");
    }
    drop(restarted);
}

/// The relay and an upstream whose text 0.0.4 counter has no `_total`
/// (`requests`): Prometheus asks for OpenMetrics and stores `requests_total`;
/// a job with `params: format: [text]` stores `requests`, the name it stores
/// when it scrapes the upstream itself.
#[test]
fn prometheus_keeps_a_relayed_counters_text_name_when_its_job_asks_for_text() {
    if !prometheus_installed() {
        return;
    }
    let upstream = common::Upstream::start(common::Reply::Answer(
        200,
        "text/plain; version=0.0.4; charset=utf-8",
        b"# TYPE requests counter\nrequests{code=\"200\"} 1027\n".to_vec(),
    ));
    let url = format!("http://{}/metrics", upstream.addr);
    let (_relay, line) = common::start_example(
        "relay",
        &[],
        &["--service", "foo", "--url", &url, "--port", "0"],
    );
    let relay = common::served_addr(&line);
    let jobs = [
        ("direct".to_owned(), upstream.addr, None),
        ("relay_negotiated".to_owned(), relay, None),
        ("relay_text".to_owned(), relay, Some("text")),
    ];
    let (_prometheus, prometheus) = start_prometheus_with("relay-names", &jobs, &[]);
    let deadline = Instant::now() + Duration::from_secs(60);
    for (promql, expected) in [
        (r#"requests{job="direct",code="200"}"#, 1027.0),
        (
            r#"requests{job="relay_text",code="200",service="foo"}"#,
            1027.0,
        ),
        (
            r#"requests_total{job="relay_negotiated",code="200",service="foo"}"#,
            1027.0,
        ),
    ] {
        assert_eq!(
            wait_for(prometheus, promql, expected, deadline),
            Some(expected),
            "{promql}"
        );
    }
    for absent in [
        r#"requests_total{job="relay_text"}"#,
        r#"requests{job="relay_negotiated"}"#,
    ] {
        assert_eq!(query_series(prometheus, absent), Ok(0), "{absent}");
    }
}
