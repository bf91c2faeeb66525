//! The deployment files: Prometheus' config passes `promtool check config` and
//! scrapes every example where it listens when started with its defaults; the
//! Compose file and the Kubernetes manifest are well-formed YAML that fits the
//! examples they run.

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// The YAML file as JSON, read by PyYAML; `None` (after reporting) when missing.
fn yaml(path: &str) -> Option<serde_json::Value> {
    common::python_yaml(
        "import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))",
        &[repo(path).display().to_string()],
    )
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
            return common::skip_test("promtool is not installed (Debian package `prometheus`)")
        }
    };
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The jobs of `deploy/prometheus/prometheus.yml` and their targets. The file
/// writes each job's targets as a flow list, `- targets: ["host:port"]`, which is
/// JSON; a target written any other way is missed, and the check that every
/// example is scraped fails. Where PyYAML is installed, a full YAML reading must
/// find the same.
fn scrape_jobs() -> Vec<(String, Vec<String>)> {
    let text = std::fs::read_to_string(repo("deploy/prometheus/prometheus.yml")).unwrap();
    let mut jobs: Vec<(String, Vec<String>)> = Vec::new();
    for line in text.lines() {
        let line = line.trim().trim_start_matches("- ");
        if let Some(job) = line.strip_prefix("job_name:") {
            jobs.push((job.trim().trim_matches('"').to_owned(), Vec::new()));
        } else if let Some(list) = line.strip_prefix("targets:") {
            let targets: Vec<String> = serde_json::from_str(list.trim())
                .unwrap_or_else(|e| panic!("targets not a flow list of strings: {line:?}: {e}"));
            jobs.last_mut()
                .expect("targets before any job_name")
                .1
                .extend(targets);
        }
    }
    if let Some(config) = yaml("deploy/prometheus/prometheus.yml") {
        let full: Vec<(String, Vec<String>)> = config["scrape_configs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|job| {
                let targets = job["static_configs"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .flat_map(|sc| sc["targets"].as_array().unwrap())
                    .map(|t| t.as_str().unwrap().to_owned())
                    .collect();
                (job["job_name"].as_str().unwrap().to_owned(), targets)
            })
            .collect();
        assert_eq!(jobs, full, "the line reading differs from PyYAML's");
    }
    jobs
}

/// Each example as a user starts it: no configuration but what it requires and
/// has no default for (none of which sets where it listens).
fn examples(log_file: &Path) -> Vec<(&'static str, Vec<String>)> {
    let no_upstream = "http://127.0.0.1:9/metrics";
    let args = |a: &[&str]| a.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    vec![
        ("axum", vec![]),
        ("actix", vec![]),
        ("status_sidecar", vec![]),
        ("app_registry", vec![]),
        ("api_poller", args(&["--url", no_upstream])),
        ("relay", args(&["--service", "foo", "--url", no_upstream])),
        (
            "access_log",
            vec!["--file".to_owned(), log_file.display().to_string()],
        ),
    ]
}

/// Whether a scrape of `target` reaches a server listening on `bound`.
fn reaches(target: SocketAddr, bound: SocketAddr) -> bool {
    target.port() == bound.port() && (target.ip() == bound.ip() || bound.ip().is_unspecified())
}

#[test]
fn prometheus_scrapes_every_example_where_it_listens_by_default() {
    let jobs = scrape_jobs();
    let targets: Vec<(&str, SocketAddr)> = jobs
        .iter()
        .flat_map(|(job, targets)| targets.iter().map(move |t| (job.as_str(), t)))
        .map(|(job, t)| {
            let addr = t
                .parse()
                .unwrap_or_else(|e| panic!("job {job}: target {t:?} is not an address: {e}"));
            (job, addr)
        })
        .collect();
    let dir = common::TempDir::new("deploy-defaults");
    let _ports = common::default_ports_lock();
    let mut scraped_jobs = Vec::new();
    for (example, args) in examples(&dir.join("access.log")) {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (running, line) = common::start_and_read_line(
            std::process::Command::new(common::example_binary(example))
                .args(&args)
                .env("RUST_LOG", "warn"),
        );
        assert!(
            line.contains("http://"),
            "{example} did not start with its defaults (is its default port taken \
             on this machine?); it printed {line:?}"
        );
        let bound = common::served_addr(&line);
        let jobs: Vec<(&str, SocketAddr)> = targets
            .iter()
            .filter(|(_, t)| reaches(*t, bound))
            .copied()
            .collect();
        let [(job, target)] = jobs[..] else {
            panic!("{example} listens on {bound}; the jobs that reach it: {jobs:?}");
        };
        // Scraped as Prometheus would, at the address in its config.
        let res = common::http(target, "GET", "/metrics", &[], b"").unwrap();
        assert_eq!(res.status, 200, "job {job}, {example}: {}", res.text());
        let families = common::parse_text(&res.text());
        assert!(!families.families.is_empty(), "{example} served no metrics");
        scraped_jobs.push(job.to_owned());
        drop(running);
    }
    // And no job scrapes an address nothing listens on by default, but
    // Prometheus' own.
    for (job, targets) in &jobs {
        if job != "prometheus" {
            assert!(
                scraped_jobs.contains(job),
                "job {job} scrapes {targets:?}: no example listens there"
            );
        }
    }
}

#[test]
fn compose_file_mounts_the_config_and_provisions_grafana() {
    let Some(compose) = yaml("deploy/docker-compose.yml") else {
        return common::skip_test(common::NO_PYYAML);
    };
    let services = &compose["services"];
    for (service, _) in services.as_object().unwrap() {
        let Some(volumes) = services[service]["volumes"].as_array() else {
            continue;
        };
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
    // The dashboard's latency panel shows exemplars: Prometheus must keep them.
    assert!(command.contains(&"--enable-feature=exemplar-storage"));
    let datasources = yaml("deploy/grafana/provisioning/datasources/prometheus.yml").unwrap();
    assert_eq!(
        datasources["datasources"][0]["url"],
        "http://127.0.0.1:9090"
    );
}

/// The exporters the Compose file runs, started exactly as its command line
/// and environment say (the log directory it mounts made a temporary one):
/// each listens where a job of Prometheus' config scrapes it, and serves.
#[test]
fn compose_exporters_start_as_compose_runs_them_where_prometheus_scrapes() {
    let Some(compose) = yaml("deploy/docker-compose.yml") else {
        return common::skip_test(common::NO_PYYAML);
    };
    let jobs = scrape_jobs();
    let dir = common::TempDir::new("deploy-compose");
    let _ports = common::default_ports_lock();
    let mut started = Vec::new();
    for (service, spec) in compose["services"].as_object().unwrap() {
        let Some(example) = spec["build"]["args"]["EXAMPLE"].as_str() else {
            continue;
        };
        assert_eq!(
            spec["build"]["dockerfile"], "deploy/Dockerfile",
            "{service}"
        );
        assert_eq!(spec["network_mode"], "host", "{service}: reaches 127.0.0.1");
        let command: Vec<String> = spec["command"]
            .as_array()
            .map(|c| {
                c.iter()
                    .map(|a| {
                        a.as_str()
                            .unwrap()
                            .replace("/var/log/app", dir.path().to_str().unwrap())
                    })
                    .collect()
            })
            .unwrap_or_default();
        let env: Vec<(String, String)> = spec["environment"]
            .as_object()
            .map(|e| {
                e.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
                    .collect()
            })
            .unwrap_or_default();
        let (running, line) = common::start_and_read_line(
            Command::new(common::example_binary(example))
                .args(&command)
                .envs(env)
                .env("RUST_LOG", "warn"),
        );
        assert!(line.contains("http://"), "{service}: {line:?}");
        let bound = common::served_addr(&line);
        let target = jobs
            .iter()
            .flat_map(|(_, targets)| targets)
            .filter_map(|t| t.parse::<SocketAddr>().ok())
            .find(|t| reaches(*t, bound))
            .unwrap_or_else(|| panic!("{service} listens on {bound}: no job scrapes it"));
        let res = common::http(target, "GET", "/metrics", &[], b"").unwrap();
        assert_eq!(res.status, 200, "{service}");
        assert!(!common::parse_text(&res.text()).families.is_empty());
        started.push(example.to_owned());
        drop(running);
    }
    started.sort();
    assert_eq!(started, ["access_log", "app_registry"]);
}

#[test]
fn kubernetes_sidecar_runs_the_app_and_the_exporter_in_one_pod() {
    let Some(manifest) = yaml("deploy/kubernetes/sidecar.yaml") else {
        return common::skip_test(common::NO_PYYAML);
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
    // The sidecar binary run with the manifest's environment polls the app's
    // port on its interval and serves on the port the pod declares.
    let _ports = common::default_ports_lock();
    let (_sidecar, line) = common::start_and_read_line(
        std::process::Command::new(common::example_binary("status_sidecar"))
            .envs(env.iter().copied())
            .env("RUST_LOG", "warn"),
    );
    assert!(line.contains("http://"), "status_sidecar printed {line:?}");
    assert_eq!(
        common::served_addr(&line).port().to_string(),
        metrics_port,
        "{line}"
    );
    let polled = line.trim().split("polling ").nth(1).unwrap_or_default();
    let app_port = app["ports"][0]["containerPort"].to_string();
    assert!(
        polled.starts_with(&format!("http://localhost:{app_port}/")),
        "{line}"
    );
    let interval: f64 = get("POLLING_INTERVAL_SECONDS").unwrap().parse().unwrap();
    assert!(
        polled.ends_with(&format!("every {:?}", Duration::from_secs_f64(interval))),
        "{line}"
    );
}
