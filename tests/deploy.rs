//! The deployment files: Prometheus' config passes `promtool check config` and
//! scrapes every example at its default address; the Compose file and the
//! Kubernetes manifest are well-formed YAML that fits the examples they run.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// The YAML file as JSON, read by PyYAML; `None` (after reporting) when missing.
fn yaml(path: &str) -> Option<serde_json::Value> {
    let out = Command::new("python3")
        .args([
            "-c",
            "import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))",
        ])
        .arg(repo(path))
        .output();
    match out {
        Ok(out) if out.status.success() => Some(serde_json::from_slice(&out.stdout).unwrap()),
        Ok(out) if String::from_utf8_lossy(&out.stderr).contains("No module named 'yaml'") => {
            common::missing_tool("PyYAML is not installed (Debian package `python3-yaml`)");
            None
        }
        Ok(out) => panic!(
            "{path} is not valid YAML: {}",
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(_) => {
            common::missing_tool("python3 is not installed");
            None
        }
    }
}

#[test]
fn prometheus_config_passes_promtool() {
    let out = match Command::new("promtool")
        .args(["check", "config"])
        .arg(repo("deploy/prometheus/prometheus.yml"))
        .output()
    {
        Ok(out) => out,
        Err(_) => {
            return common::missing_tool("promtool is not installed (Debian package `prometheus`)")
        }
    };
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Each example's default `/metrics` address, and the text in its source that sets it.
const DEFAULTS: [(&str, &str, &str); 7] = [
    ("axum", "127.0.0.1:3000", "\"127.0.0.1:3000\""),
    ("actix", "127.0.0.1:3001", "\"127.0.0.1:3001\""),
    (
        "status_sidecar",
        "127.0.0.1:9877",
        "env_or(\"EXPORTER_PORT\", 9877)",
    ),
    ("app_registry", "127.0.0.1:3002", "\"127.0.0.1:3002\""),
    (
        "api_poller",
        "127.0.0.1:9878",
        "default_value = \"127.0.0.1:9878\"",
    ),
    ("relay", "127.0.0.1:9999", "default_value_t = 9999"),
    ("access_log", "127.0.0.1:9100", "default_value_t = 9100"),
];

#[test]
fn prometheus_scrapes_every_example_at_its_default_address() {
    let Some(config) = yaml("deploy/prometheus/prometheus.yml") else {
        return;
    };
    let targets: Vec<&str> = config["scrape_configs"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|job| job["static_configs"].as_array().unwrap())
        .flat_map(|sc| sc["targets"].as_array().unwrap())
        .map(|t| t.as_str().unwrap())
        .collect();
    for (example, addr, in_source) in DEFAULTS {
        assert!(
            targets.contains(&addr),
            "no job scrapes {example} at {addr}"
        );
        let file = ["examples/{}.rs", "examples/{}/main.rs"]
            .iter()
            .map(|p| repo(&p.replace("{}", example)))
            .find(|p| p.exists())
            .unwrap_or_else(|| panic!("no source for example {example}"));
        let source = std::fs::read_to_string(&file).unwrap();
        assert!(
            source.contains(in_source),
            "{} does not default to {addr}",
            file.display()
        );
    }
}

#[test]
fn compose_file_mounts_the_config_and_provisions_grafana() {
    let Some(compose) = yaml("deploy/docker-compose.yml") else {
        return;
    };
    let services = &compose["services"];
    for service in ["prometheus", "grafana"] {
        let volumes = services[service]["volumes"].as_array().unwrap();
        for volume in volumes {
            let host = volume.as_str().unwrap().split(':').next().unwrap();
            assert!(
                repo("deploy").join(host).exists(),
                "{service} mounts missing {host}"
            );
        }
    }
    let command: Vec<&str> = services["prometheus"]["command"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert!(command.contains(&"--config.file=/etc/prometheus/prometheus.yml"));
    let datasources = yaml("deploy/grafana/provisioning/datasources/prometheus.yml").unwrap();
    assert_eq!(
        datasources["datasources"][0]["url"],
        "http://127.0.0.1:9090"
    );
}

#[test]
fn kubernetes_sidecar_runs_the_app_and_the_exporter_in_one_pod() {
    let Some(manifest) = yaml("deploy/kubernetes/sidecar.yaml") else {
        return;
    };
    assert_eq!(manifest["kind"], "Deployment");
    let template = &manifest["spec"]["template"];
    assert_eq!(
        manifest["spec"]["selector"]["matchLabels"],
        template["metadata"]["labels"]
    );
    let containers = template["spec"]["containers"].as_array().unwrap();
    assert_eq!(containers.len(), 2, "the app and the sidecar, side by side");
    let (app, sidecar) = (&containers[0], &containers[1]);
    let env: Vec<(&str, &str)> = sidecar["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["name"].as_str().unwrap(), e["value"].as_str().unwrap()))
        .collect();
    let source = std::fs::read_to_string(repo("examples/status_sidecar.rs")).unwrap();
    for (name, _) in &env {
        assert!(
            source.contains(&format!("\"{name}\"")),
            "status_sidecar does not read {name}"
        );
    }
    let get = |name: &str| env.iter().find(|(n, _)| *n == name).map(|(_, v)| *v);
    assert_eq!(
        get("APP_PORT").unwrap(),
        app["ports"][0]["containerPort"].to_string()
    );
    let metrics_port = sidecar["ports"][0]["containerPort"].to_string();
    assert_eq!(get("EXPORTER_PORT").unwrap(), metrics_port);
    assert_eq!(
        template["metadata"]["annotations"]["prometheus.io/port"],
        metrics_port
    );
}
