//! A real Prometheus scrapes both demo examples; PromQL through its HTTP API must
//! return exactly the number of requests sent.

mod common;

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{free_addr, Running, TempDir};

/// Starts an example on `addr` and waits until it prints its URL.
fn start_example(name: &str, addr: SocketAddr) -> Running {
    let (running, line) = common::start_and_read_line(
        Command::new(common::example_binary(name)).env("BIND", addr.to_string()),
    );
    assert!(
        line.contains(&format!("http://{addr}/")),
        "{name} printed {line:?}"
    );
    running
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

/// Runs an instant PromQL query and returns the single value of its result, if any.
fn query(prometheus: SocketAddr, promql: &str) -> Option<f64> {
    let target = format!("/api/v1/query?query={}", percent_encode(promql));
    let res = common::http(prometheus, "GET", &target, &[], b"").ok()?;
    let json: serde_json::Value = serde_json::from_slice(&res.body).ok()?;
    let result = json["data"]["result"].as_array()?;
    assert!(
        result.len() <= 1,
        "{promql} returned several series: {json}"
    );
    result.first()?["value"][1].as_str()?.parse().ok()
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

#[test]
fn prometheus_scrapes_the_exact_request_counts_of_both_examples() {
    if Command::new("prometheus")
        .arg("--version")
        .output()
        .is_err()
    {
        common::missing_tool("prometheus is not installed (Debian package `prometheus`)");
        return;
    }
    let axum_addr = free_addr();
    let actix_addr = free_addr();
    let _axum = start_example("axum", axum_addr);
    let _actix = start_example("actix", actix_addr);

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

    let dir = TempDir::new("e2e");
    let config = format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: axum\n    static_configs:\n      - targets: ['{axum_addr}']\n  - job_name: actix\n    static_configs:\n      - targets: ['{actix_addr}']\n"
    );
    std::fs::write(dir.join("prometheus.yml"), config).unwrap();
    let prometheus_addr = free_addr();
    let _prometheus = Running(
        Command::new("prometheus")
            .arg(format!(
                "--config.file={}",
                dir.join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address={prometheus_addr}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );

    let deadline = Instant::now() + Duration::from_secs(90);
    for job in ["axum", "actix"] {
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
        let count = format!("sum(http_server_request_duration_seconds_count{{job=\"{job}\"}})");
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
        let stream_seconds = format!(
            "sum(http_server_request_duration_seconds_sum{{job=\"{job}\",route=\"/stream\"}})"
        );
        let seconds = query(prometheus_addr, &stream_seconds).unwrap();
        assert!(
            (0.95..3.0).contains(&seconds),
            "the 1 s stream took {seconds} s"
        );
    }
}
