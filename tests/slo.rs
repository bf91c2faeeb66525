//! SLO rules: generated from the objectives file by the `slo_rules` example,
//! checked by `promtool check rules`, and proven by `promtool test rules` on
//! synthetic series: an outage pages within minutes, a slow burn opens a
//! ticket and does not page, healthy traffic fires nothing.

mod common;

use std::process::Command;

/// The rules the example generates from `objectives`, written into `dir`.
fn generate(dir: &common::TempDir, objectives: &str) -> std::path::PathBuf {
    let input = dir.join("objectives.txt");
    std::fs::write(&input, objectives).unwrap();
    let out = common::output_ok(Command::new(common::example_binary("slo_rules")).arg(&input));
    let rules = dir.join("rules.yml");
    std::fs::write(&rules, out).unwrap();
    rules
}

/// `promtool` with `args`; `None` (reported) when it is not installed.
fn promtool(args: &[&str]) -> Option<(bool, String)> {
    match Command::new("promtool").args(args).output() {
        Ok(out) => {
            let mut report = String::from_utf8_lossy(&out.stdout).into_owned();
            report.push_str(&String::from_utf8_lossy(&out.stderr));
            Some((out.status.success(), report))
        }
        Err(_) => {
            common::missing_tool("promtool is not installed (Debian package `prometheus`)");
            None
        }
    }
}

const OBJECTIVES: &str = "api availability 99.9% 30d job=\"api\"\n";

#[test]
fn the_deploy_objectives_generate_rules_promtool_accepts() {
    let dir = common::TempDir::new("slo-deploy");
    let objectives = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/deploy/prometheus/slo-objectives.txt"
    ))
    .unwrap();
    let rules = generate(&dir, &objectives);
    let text = std::fs::read_to_string(&rules).unwrap();
    assert_eq!(
        text.matches("alert: SloErrorBudgetBurn").count(),
        8,
        "{text}"
    );
    assert!(text.contains(r#"le=\"0.25\""#), "{text}");
    if let Some((ok, report)) = promtool(&["check", "rules", rules.to_str().unwrap()]) {
        assert!(ok, "promtool check rules: {report}");
    }
    // A bad file is refused with its line.
    let bad = dir.join("bad.txt");
    std::fs::write(&bad, "api availability 100% 30d\n").unwrap();
    let out = Command::new(common::example_binary("slo_rules"))
        .arg(&bad)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("line 1"));
}

/// An alert of the generated rules as promtool's test expects it.
fn page(long: &str, factor: &str, short: &str) -> String {
    format!(
        "          - exp_labels: {{severity: page, slo: api, long_window: {long}}}\n            exp_annotations: {{summary: \"api is spending its error budget {factor}x as fast as it allows ({long} and {short} windows)\"}}\n"
    )
}

fn ticket(long: &str, factor: &str, short: &str) -> String {
    format!(
        "          - exp_labels: {{severity: ticket, slo: api, long_window: {long}}}\n            exp_annotations: {{summary: \"api is spending its error budget {factor}x as fast as it allows ({long} and {short} windows)\"}}\n"
    )
}

#[test]
fn an_outage_pages_a_slow_burn_opens_a_ticket_and_health_fires_nothing() {
    let dir = common::TempDir::new("slo-test");
    let rules = generate(&dir, OBJECTIVES);
    if let Some((ok, report)) = promtool(&["check", "rules", rules.to_str().unwrap()]) {
        assert!(ok, "promtool check rules: {report}");
    } else {
        return;
    }
    // One minute between samples. An outage: 100 requests a minute, all
    // answered 200 for an hour, then all 500.
    let outage = "      - series: 'http_server_requests_total{job=\"api\",status=\"200\"}'\n        values: '0+100x60 6000x60'\n      - series: 'http_server_requests_total{job=\"api\",status=\"500\"}'\n        values: '0x60 100+100x60'\n";
    // A slow burn: 0.5% errors for two days, five times the budget rate:
    // above the ticket's 3x and 1x, below the page's 6x and 14.4x.
    let slow = "      - series: 'http_server_requests_total{job=\"api\",status=\"200\"}'\n        values: '0+995x2900'\n      - series: 'http_server_requests_total{job=\"api\",status=\"500\"}'\n        values: '0+5x2900'\n";
    let healthy = "      - series: 'http_server_requests_total{job=\"api\",status=\"200\"}'\n        values: '0+1000x2900'\n";
    let mut test = format!(
        "rule_files:\n  - {}\nevaluation_interval: 1m\ntests:\n",
        rules.display()
    );
    let mut case = |series: &str, checks: &[(&str, Vec<String>)]| {
        test.push_str("  - interval: 1m\n    input_series:\n");
        test.push_str(series);
        test.push_str("    alert_rule_test:\n");
        for (at, alerts) in checks {
            test.push_str(&format!(
                "      - eval_time: {at}\n        alertname: SloErrorBudgetBurn\n"
            ));
            if alerts.is_empty() {
                test.push_str("        exp_alerts: []\n");
            } else {
                test.push_str("        exp_alerts:\n");
                for alert in alerts {
                    test.push_str(alert);
                }
            }
        }
    };
    // Four minutes into the outage both pages fire (the tickets are still
    // pending); before it, nothing.
    case(
        outage,
        &[
            ("59m", vec![]),
            (
                "64m",
                vec![page("1h", "14.4", "5m"), page("6h", "6", "30m")],
            ),
        ],
    );
    case(
        slow,
        &[(
            "26h",
            vec![ticket("1d", "3", "2h"), ticket("3d", "1", "6h")],
        )],
    );
    case(healthy, &[("2d", vec![])]);
    // Healthy traffic with no 5xx series at all records an error ratio of 0,
    // not no ratio, so that a dashboard shows a perfect service as such.
    test.push_str(
        "    promql_expr_test:\n      - expr: slo:sli_error:ratio_rate5m\n        eval_time: 1h\n        exp_samples:\n          - labels: 'slo:sli_error:ratio_rate5m{slo=\"api\"}'\n            value: 0\n",
    );
    let file = dir.join("test.yml");
    std::fs::write(&file, test).unwrap();
    let (ok, report) = promtool(&["test", "rules", file.to_str().unwrap()]).unwrap();
    assert!(ok, "promtool test rules:\n{report}");
}

/// The rules and the dashboard in `deploy/` are what the example generates
/// from `deploy/prometheus/slo-objectives.txt` today; the dashboard is JSON
/// whose every query reads the objectives' recorded series or counters.
#[test]
fn the_deploy_rules_and_dashboard_are_generated_from_the_objectives() {
    let repo = env!("CARGO_MANIFEST_DIR");
    let objectives = format!("{repo}/deploy/prometheus/slo-objectives.txt");
    for (flag, committed) in [
        (None, "deploy/prometheus/slo-rules.yml"),
        (Some("--dashboard"), "deploy/grafana/dashboards/slo.json"),
    ] {
        let generated = String::from_utf8(common::output_ok(
            Command::new(common::example_binary("slo_rules"))
                .args(flag)
                .arg(&objectives),
        ))
        .unwrap();
        let file = std::fs::read_to_string(format!("{repo}/{committed}")).unwrap();
        assert!(
            generated == file,
            "{committed} is not what `cargo run --example slo_rules --features exporter -- {} deploy/prometheus/slo-objectives.txt` writes now: generate it again",
            flag.unwrap_or("")
        );
    }
    let dashboard: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{repo}/deploy/grafana/dashboards/slo.json")).unwrap(),
    )
    .unwrap();
    let panels = dashboard["panels"].as_array().unwrap();
    // Four panels for each of the two objectives.
    assert_eq!(panels.len(), 8);
    for slo in ["demo-availability", "demo-latency"] {
        let burn = panels
            .iter()
            .find(|p| {
                p["title"]
                    .as_str()
                    .unwrap()
                    .starts_with(&format!("{slo}: burn rate"))
            })
            .unwrap();
        let exprs: Vec<&str> = burn["targets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["expr"].as_str().unwrap())
            .collect();
        // The burn rate is the recorded error ratio over the budget (0.1% or 1%).
        let budget = if slo.ends_with("availability") {
            "0.001"
        } else {
            "0.01"
        };
        assert_eq!(
            exprs,
            ["5m", "1h", "6h", "1d"]
                .map(|w| format!("slo:sli_error:ratio_rate{w}{{slo=\"{slo}\"}} / {budget}")),
        );
    }
}
