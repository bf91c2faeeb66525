//! Prometheus rules for service level objectives on promhttp's HTTP metrics:
//! recording rules and the SRE workbook's multi-window, multi-burn-rate
//! alerts, from a small file of objectives (`promhttp::slo`).
//!
//! ```sh
//! cargo run --example slo_rules --features exporter -- deploy/prometheus/slo-objectives.txt > slo-rules.yml
//! promtool check rules slo-rules.yml
//! ```
//!
//! `--prefix shop` for a metric set built with `.prefix("shop")`. `--dashboard`
//! writes the Grafana dashboard of the same objectives instead (error budget
//! left, burn rates), which reads the rules' recorded series:
//!
//! ```sh
//! cargo run --example slo_rules --features exporter -- --dashboard deploy/prometheus/slo-objectives.txt > slo.json
//! ```
//!
//! `deploy/prometheus/slo-rules.yml` and `deploy/grafana/dashboards/slo.json`
//! are these two outputs for `deploy/prometheus/slo-objectives.txt`.

use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let mut prefix = String::new();
    let mut file = None;
    let mut dashboard = false;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--prefix" => prefix = args.next().unwrap_or_default(),
            "--dashboard" => dashboard = true,
            _ => file = Some(arg),
        }
    }
    let Some(file) = file else {
        eprintln!("usage: slo_rules [--prefix PREFIX] [--dashboard] OBJECTIVES_FILE");
        return ExitCode::from(2);
    };
    let result = std::fs::read_to_string(&file)
        .map_err(|e| format!("cannot read {file}: {e}"))
        .and_then(|text| promhttp::slo::parse_objectives(&text).map_err(|e| format!("{file}: {e}")))
        .and_then(|objectives| {
            let objectives: Vec<_> = objectives.into_iter().map(|o| o.prefix(&prefix)).collect();
            if dashboard {
                promhttp::slo::dashboard_json(&objectives)
            } else {
                promhttp::slo::rules_yaml(&objectives)
            }
            .map_err(|e| format!("{file}: {e}"))
        });
    match result {
        Ok(yaml) => {
            print!("{yaml}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("slo_rules: {e}");
            ExitCode::FAILURE
        }
    }
}
