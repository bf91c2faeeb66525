//! The ready alert rules of `deploy/prometheus/promhttp-alerts.yml`, proven
//! with `promtool test rules` on synthetic series: each fires on what it is
//! about, with its labels and summary, and nothing fires on healthy series.

mod common;

use std::process::Command;

const RULES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/deploy/prometheus/promhttp-alerts.yml"
);

/// One `alert_rule_test` entry: `alert` at `at` with these labels and summary.
fn expect(at: &str, alert: &str, labels: &str, summary: &str) -> String {
    format!(
        "      - eval_time: {at}\n        alertname: {alert}\n        exp_alerts:\n          - exp_labels: {{{labels}}}\n            exp_annotations: {{summary: \"{summary}\"}}\n"
    )
}

fn none(at: &str, alert: &str) -> String {
    format!("      - eval_time: {at}\n        alertname: {alert}\n        exp_alerts: []\n")
}

#[test]
fn each_ready_alert_fires_on_its_cause_and_not_on_health() {
    let check = Command::new("promtool")
        .args(["check", "rules", RULES])
        .output();
    let Ok(check) = check else {
        return common::missing_tool("promtool is not installed (Debian package `prometheus`)");
    };
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stdout)
    );
    let series = [
        // A fold into the overflow series at minute 10 of a prefixed set.
        r#"shop_promhttp_series_overflow_total{job="api",instance="a:1",metric="shop_http_server_requests_total"}"#,
        "0x9 1 1x20",
        r#"promhttp_metric_handler_errors_total{job="api",instance="a:1",cause="too_many_scrapes"}"#,
        "0x9 3 3x20",
        r#"promhttp_metric_handler_errors_total{job="api",instance="a:1",cause="timeout"}"#,
        "0x30",
        // A poller down from minute 5; another up throughout.
        r#"app_up{job="sidecar",instance="b:2"}"#,
        "1x4 0x26",
        r#"energy_api_up{job="poller",instance="c:3"}"#,
        "1x30",
        r#"energy_api_last_success_timestamp_seconds{job="poller",instance="c:3"}"#,
        "0+60x80",
        // Never succeeded: its timestamp is 0.
        r#"app_last_success_timestamp_seconds{job="sidecar",instance="b:2"}"#,
        "0x80",
        r#"promhttp_collector_errors_total{job="app",instance="d:4",collector="queue"}"#,
        "0x4 1+0x26",
        r#"relay_upstream_up{job="relay",instance="e:5",service="foo"}"#,
        "1x4 0x26",
    ];
    let mut input = String::new();
    for pair in series.chunks(2) {
        input.push_str(&format!(
            "      - series: '{}'\n        values: '{}'\n",
            pair[0], pair[1]
        ));
    }
    let mut tests = String::new();
    for t in [
        none("9m", "PromhttpSeriesOverflow"),
        expect(
            "12m",
            "PromhttpSeriesOverflow",
            "severity: ticket, job: api, instance: \"a:1\", metric: shop_http_server_requests_total",
            "api/a:1: shop_http_server_requests_total passed its series limit; new label combinations go to its overflow series",
        ),
        expect(
            "12m",
            "PromhttpScrapesRefused",
            "severity: ticket, job: api, instance: \"a:1\", cause: too_many_scrapes",
            "api/a:1: /metrics refused or failed scrapes (too_many_scrapes)",
        ),
        none("7m", "PromhttpPollerDown"),
        expect(
            "12m",
            "PromhttpPollerDown",
            "severity: ticket, job: sidecar, instance: \"b:2\"",
            "sidecar/b:2: a poller has failed for 5 minutes",
        ),
        // An hour after the start of time (promtool's clock starts at 0).
        none("50m", "PromhttpPollerStale"),
        expect(
            "70m",
            "PromhttpPollerStale",
            "severity: ticket, job: sidecar, instance: \"b:2\"",
            "sidecar/b:2: a poller has not succeeded for an hour",
        ),
        expect(
            "12m",
            "PromhttpCollectorFailing",
            "severity: ticket, job: app, instance: \"d:4\", collector: queue",
            "app/d:4: collector queue failed",
        ),
        none("3m", "PromhttpCollectorFailing"),
        expect(
            "12m",
            "RelayUpstreamDown",
            "severity: page, job: relay, instance: \"e:5\", service: foo",
            "relay/e:5: the relay of foo has not reached its upstream for 5 minutes",
        ),
        none("8m", "RelayUpstreamDown"),
    ] {
        tests.push_str(&t);
    }
    let dir = common::TempDir::new("ready-alerts");
    let file = dir.join("test.yml");
    std::fs::write(
        &file,
        format!(
            "rule_files:\n  - {RULES}\nevaluation_interval: 1m\ntests:\n  - interval: 1m\n    input_series:\n{input}    alert_rule_test:\n{tests}"
        ),
    )
    .unwrap();
    let out = Command::new("promtool")
        .args(["test", "rules", file.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "promtool test rules:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
