//! The Kubernetes files: `deploy/kubernetes/demo.yaml` (the axum demo's
//! Deployment and Service), the Prometheus Operator's `podmonitor.yaml` and
//! `servicemonitor.yaml` for it, and `deploy/prometheus/prometheus-kubernetes.yml`
//! (plain Prometheus with Kubernetes discovery) select one another, name the
//! ports and paths the demo serves, and agree on a sample limit that covers the
//! demo's HTTP metric set at the series cap its Deployment sets
//! (`PROMHTTP_MAX_SERIES`, by the formula of tests/support/sizing.rs); the config
//! passes `promtool check config`, and a real Prometheus relabels discovered
//! pods to the demo's `http` port; the demo started with the container's
//! environment serves its probes and its metrics where the manifests say.

mod common;
#[path = "support/sizing.rs"]
mod sizing;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::{json, Value};

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

const DEMO: &str = "deploy/kubernetes/demo.yaml";
const POD_MONITOR: &str = "deploy/kubernetes/podmonitor.yaml";
const SERVICE_MONITOR: &str = "deploy/kubernetes/servicemonitor.yaml";
const PROMETHEUS: &str = "deploy/prometheus/prometheus-kubernetes.yml";

/// Every document of the YAML file, as JSON, read by PyYAML's `safe_load_all`.
fn yaml_docs(path: &str) -> Option<Vec<Value>> {
    let program = "import json, sys, yaml\n\
                   print(json.dumps(list(yaml.safe_load_all(open(sys.argv[1])))))";
    let docs = common::python_yaml(program, &[repo(path).display().to_string()])?;
    let docs: Vec<Value> = docs.as_array().unwrap().clone();
    assert!(
        docs.iter().all(Value::is_object),
        "{path}: a document is not a mapping"
    );
    Some(docs)
}

/// The only document of `kind` in `docs`, of `path`.
fn the(docs: &[Value], kind: &str, path: &str) -> Value {
    let found: Vec<&Value> = docs.iter().filter(|d| d["kind"] == kind).collect();
    let [one] = found[..] else {
        panic!("{path}: {} documents of kind {kind}", found.len());
    };
    one.clone()
}

/// What the tests read: the demo's Deployment and Service, the two monitors and
/// the plain Prometheus config.
struct Files {
    deployment: Value,
    service: Value,
    pod_monitor: Value,
    service_monitor: Value,
    prometheus: Value,
}

fn files() -> Option<Files> {
    let demo = yaml_docs(DEMO)?;
    assert_eq!(demo.len(), 2, "{DEMO}: the Deployment and the Service");
    let pod_monitor = yaml_docs(POD_MONITOR)?;
    let service_monitor = yaml_docs(SERVICE_MONITOR)?;
    let prometheus = yaml_docs(PROMETHEUS)?;
    assert_eq!(prometheus.len(), 1, "{PROMETHEUS}: one document");
    let files = Files {
        deployment: the(&demo, "Deployment", DEMO),
        service: the(&demo, "Service", DEMO),
        pod_monitor: the(&pod_monitor, "PodMonitor", POD_MONITOR),
        service_monitor: the(&service_monitor, "ServiceMonitor", SERVICE_MONITOR),
        prometheus: prometheus[0].clone(),
    };
    assert_eq!(files.deployment["apiVersion"], "apps/v1");
    assert_eq!(files.service["apiVersion"], "v1");
    for monitor in [&files.pod_monitor, &files.service_monitor] {
        assert_eq!(monitor["apiVersion"], "monitoring.coreos.com/v1");
    }
    Some(files)
}

impl Files {
    fn pod_template(&self) -> &Value {
        &self.deployment["spec"]["template"]
    }

    /// The pod template's labels.
    fn pod_labels(&self) -> &serde_json::Map<String, Value> {
        self.pod_template()["metadata"]["labels"]
            .as_object()
            .expect("the pod template has labels")
    }

    /// The container that declares the port named `http`.
    fn demo_container(&self) -> &Value {
        let containers = self.pod_template()["spec"]["containers"]
            .as_array()
            .unwrap();
        let found: Vec<&Value> = containers
            .iter()
            .filter(|c| container_port(c, "http").is_some())
            .collect();
        let [one] = found[..] else {
            panic!("{} containers declare a port named http", found.len());
        };
        one
    }

    /// The job of the plain config that discovers pods.
    fn sd_job(&self) -> &Value {
        let jobs: Vec<&Value> = self.prometheus["scrape_configs"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|j| !j["kubernetes_sd_configs"].is_null())
            .collect();
        let [job] = jobs[..] else {
            panic!(
                "{PROMETHEUS}: {} jobs with kubernetes_sd_configs",
                jobs.len()
            );
        };
        job
    }
}

/// The number of the container port named `name`.
fn container_port(container: &Value, name: &str) -> Option<u64> {
    container["ports"]
        .as_array()?
        .iter()
        .find(|p| p["name"] == name)
        .map(|p| {
            p["containerPort"]
                .as_u64()
                .expect("a numeric containerPort")
        })
}

/// The value of the container's environment variable `name`.
fn env_value<'a>(container: &'a Value, name: &str) -> Option<&'a str> {
    container["env"]
        .as_array()?
        .iter()
        .find(|e| e["name"] == name)
        .map(|e| e["value"].as_str().expect("a literal env value"))
}

/// The series cap per family the demo runs with: the container's
/// `PROMHTTP_MAX_SERIES` (read as examples/support/config.rs reads it), else
/// promhttp's default.
fn deployed_max_series(container: &Value) -> usize {
    env_value(container, "PROMHTTP_MAX_SERIES").map_or(promhttp::DEFAULT_MAX_SERIES, |v| {
        let n: usize = v
            .trim()
            .parse()
            .unwrap_or_else(|e| panic!("PROMHTTP_MAX_SERIES={v:?}: {e}"));
        assert!(n > 0, "PROMHTTP_MAX_SERIES=0: the demo refuses it");
        n
    })
}

/// The sample limit of the PodMonitor, which the other two share (see
/// [`sample_limits_agree_and_cover_the_demo_at_its_series_cap`]).
fn sample_limit(f: &Files) -> usize {
    let limit = f.pod_monitor["spec"]["sampleLimit"]
        .as_u64()
        .expect("PodMonitor: no sample limit");
    usize::try_from(limit).unwrap()
}

/// Whether every pair of `selector` is among `labels` (and there is one at
/// least: an empty selector selects everything).
fn selects(selector: &Value, labels: &serde_json::Map<String, Value>) -> bool {
    let selector = selector.as_object().expect("a label map");
    !selector.is_empty() && selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

/// The name of the meta label that Kubernetes pod discovery gives the pod label
/// `key`: every character that is not a letter, digit or `_` made `_`.
fn pod_label_meta(key: &str) -> String {
    let key: String = key
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    format!("__meta_kubernetes_pod_label_{key}")
}

/// Whether the relabel `regex` (RE2, anchored at both ends, as Prometheus
/// applies it) matches `value`.
fn relabel_matches(regex: &str, value: &str) -> bool {
    regex::Regex::new(&format!("^(?:{regex})$"))
        .unwrap_or_else(|e| panic!("relabel regex {regex:?}: {e}"))
        .is_match(value)
}

/// The `keep` rule of the discovery job on the one source label `label`.
fn keep_rule<'a>(job: &'a Value, label: &str) -> &'a Value {
    job["relabel_configs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["action"] == "keep" && r["source_labels"] == json!([label]))
        .unwrap_or_else(|| panic!("{PROMETHEUS}: no keep rule on [{label}]"))
}

#[test]
fn demo_deployment_service_and_monitors_select_one_another() {
    let Some(f) = files() else {
        return common::skip_test(common::NO_PYYAML);
    };
    let spec = &f.deployment["spec"];
    assert_eq!(f.deployment["metadata"]["name"], "promhttp-demo");
    assert_eq!(f.service["metadata"]["name"], "promhttp-demo");
    let replicas = spec["replicas"].as_u64().expect("replicas set");
    assert!(replicas >= 2, "{replicas} replicas: one pod is no rollout");
    let pod_labels = f.pod_labels();
    assert_eq!(pod_labels["app.kubernetes.io/name"], "promhttp-demo");
    assert!(
        selects(&spec["selector"]["matchLabels"], pod_labels),
        "the Deployment's selector does not select its own pods"
    );
    assert!(
        selects(&f.service["spec"]["selector"], pod_labels),
        "the Service does not select the demo's pods"
    );
    assert!(
        selects(
            &f.pod_monitor["spec"]["selector"]["matchLabels"],
            pod_labels
        ),
        "the PodMonitor does not select the demo's pods"
    );
    let service_labels = f.service["metadata"]["labels"].as_object().unwrap();
    assert!(
        selects(
            &f.service_monitor["spec"]["selector"]["matchLabels"],
            service_labels
        ),
        "the ServiceMonitor does not select the Service"
    );
    // Without a namespaceSelector, a monitor selects in its own namespace: all
    // four in one.
    let namespaces: Vec<&Value> = [
        &f.deployment,
        &f.service,
        &f.pod_monitor,
        &f.service_monitor,
    ]
    .iter()
    .map(|d| &d["metadata"]["namespace"])
    .collect();
    assert!(
        namespaces.iter().all(|n| *n == namespaces[0]),
        "{namespaces:?}"
    );
    for monitor in [&f.pod_monitor, &f.service_monitor] {
        assert!(monitor["spec"]["namespaceSelector"].is_null());
    }

    // The container's port `http`, where the demo listens (`$BIND`) on every
    // interface.
    let container = f.demo_container();
    let port = container_port(container, "http").unwrap();
    assert_eq!(port, 3000);
    let bind: SocketAddr = env_value(container, "BIND")
        .expect("BIND set: the demo listens on loopback by default")
        .parse()
        .unwrap();
    assert!(
        bind.ip().is_unspecified(),
        "BIND={bind}: unreachable from outside the pod"
    );
    assert_eq!(u64::from(bind.port()), port, "BIND={bind}");
    for probe in ["readinessProbe", "livenessProbe"] {
        let get = &container[probe]["httpGet"];
        assert!(
            get["port"] == "http" || get["port"].as_u64() == Some(port),
            "{probe} on port {}",
            get["port"]
        );
        assert!(
            ["/", "/metrics"].contains(&get["path"].as_str().unwrap()),
            "{probe} on {}",
            get["path"]
        );
    }
    let resources = &container["resources"];
    for key in ["cpu", "memory"] {
        assert!(resources["requests"][key].is_string(), "no {key} request");
    }
    assert!(resources["limits"]["memory"].is_string(), "no memory limit");

    // The Service's port `http` forwards to the container's.
    let service_ports = f.service["spec"]["ports"].as_array().unwrap();
    let service_port = service_ports
        .iter()
        .find(|p| p["name"] == "http")
        .expect("a Service port named http");
    assert!(
        service_port["targetPort"] == "http" || service_port["targetPort"].as_u64() == Some(port),
        "{service_port}"
    );

    // Each monitor scrapes /metrics on a port its target declares.
    let endpoints = f.pod_monitor["spec"]["podMetricsEndpoints"]
        .as_array()
        .unwrap();
    assert!(!endpoints.is_empty());
    for endpoint in endpoints {
        let name = endpoint["port"].as_str().unwrap();
        assert!(
            container_port(container, name).is_some(),
            "PodMonitor port {name}"
        );
        assert_eq!(endpoint["path"], "/metrics");
        assert_eq!(endpoint["interval"], "15s");
    }
    let endpoints = f.service_monitor["spec"]["endpoints"].as_array().unwrap();
    assert!(!endpoints.is_empty());
    for endpoint in endpoints {
        let name = &endpoint["port"];
        assert!(
            service_ports.iter().any(|p| p["name"] == *name),
            "ServiceMonitor port {name}"
        );
        assert_eq!(endpoint["path"], "/metrics");
    }
}

#[test]
fn kubernetes_sd_job_keeps_the_demo_pods_http_port() {
    let Some(f) = files() else {
        return common::skip_test(common::NO_PYYAML);
    };
    let job = f.sd_job();
    let sd = job["kubernetes_sd_configs"].as_array().unwrap();
    assert!(
        !sd.is_empty() && sd.iter().all(|c| c["role"] == "pod"),
        "{sd:?}: the pod meta labels come with role pod only"
    );
    assert_eq!(
        job["metrics_path"].as_str().unwrap_or("/metrics"),
        "/metrics"
    );

    // Every pod label of the demo's template is kept by a rule on its meta
    // label, and so is the name of the container port the monitors scrape.
    let mut kept = Vec::new();
    for (key, value) in f.pod_labels() {
        let label = pod_label_meta(key);
        let rules = job["relabel_configs"].as_array().unwrap();
        if let Some(rule) = rules
            .iter()
            .find(|r| r["action"] == "keep" && r["source_labels"] == json!([label]))
        {
            kept.push((label, value.as_str().unwrap().to_owned(), rule));
        }
    }
    assert!(
        kept.iter()
            .any(|(l, _, _)| *l == pod_label_meta("app.kubernetes.io/name")),
        "{PROMETHEUS}: no keep rule on the app.kubernetes.io/name pod label"
    );
    let port_name = f.pod_monitor["spec"]["podMetricsEndpoints"][0]["port"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(container_port(f.demo_container(), &port_name).is_some());
    let port_rule = keep_rule(job, "__meta_kubernetes_pod_container_port_name");
    kept.push((
        "__meta_kubernetes_pod_container_port_name".to_owned(),
        port_name,
        port_rule,
    ));
    for (label, value, rule) in kept {
        let regex = rule["regex"].as_str().expect("a keep rule's regex");
        assert!(
            relabel_matches(regex, &value),
            "keep {label}=~{regex:?} drops the demo's {value:?}"
        );
        // And it is a filter: another value is dropped.
        for other in [format!("{value}-other"), String::new()] {
            assert!(
                !relabel_matches(regex, &other),
                "keep {label}=~{regex:?} keeps {other:?} too"
            );
        }
    }

    // Each series says which pod, in which namespace.
    for (meta, target) in [
        ("__meta_kubernetes_namespace", "namespace"),
        ("__meta_kubernetes_pod_name", "pod"),
    ] {
        let rules = job["relabel_configs"].as_array().unwrap();
        assert!(
            rules.iter().any(|r| r["source_labels"] == json!([meta])
                && r["target_label"] == target
                && r["action"].as_str().unwrap_or("replace") == "replace"),
            "{PROMETHEUS}: no rule copies {meta} to {target}"
        );
    }
}

#[test]
fn sample_limits_agree_and_cover_the_demo_at_its_series_cap() {
    let Some(f) = files() else {
        return common::skip_test(common::NO_PYYAML);
    };
    let limits = [
        ("PodMonitor", &f.pod_monitor["spec"]["sampleLimit"]),
        ("ServiceMonitor", &f.service_monitor["spec"]["sampleLimit"]),
        ("kubernetes_sd job", &f.sd_job()["sample_limit"]),
    ];
    let values: Vec<(&str, u64)> = limits
        .iter()
        .map(|(what, v)| {
            (
                *what,
                v.as_u64()
                    .unwrap_or_else(|| panic!("{what}: no sample limit")),
            )
        })
        .collect();
    assert!(values.iter().all(|(_, v)| *v == values[0].1), "{values:?}");
    // The limit counts samples, and a scrape past it is refused whole: it must
    // hold the demo's HTTP metric set at its series cap, so that a cardinality
    // burst ends in promhttp's overflow series, not in a failed scrape. (The
    // demo's own metrics beside it are measured live, in
    // `demo_started_as_deployed_answers_its_probes_and_its_scrapes`.)
    let max_series = deployed_max_series(f.demo_container());
    let at_cap = sizing::samples_at_cap(max_series);
    assert!(
        sample_limit(&f) >= at_cap,
        "sample limit {} < {at_cap} samples of the HTTP metric set at its cap of \
         {max_series} series per family (PROMHTTP_MAX_SERIES in {DEMO})",
        sample_limit(&f),
    );
}

/// A target as Kubernetes pod discovery would give it: the container port at
/// `addr` of the pod `pod` in `namespace`, with the pod label `label`, the
/// port's `port_name` and the pod's `phase`.
fn discovered(
    addr: SocketAddr,
    (namespace, pod): (&str, &str),
    label: (&str, &str),
    port_name: &str,
    phase: &str,
) -> Value {
    json!({
        "targets": [addr.to_string()],
        "labels": {
            "__meta_kubernetes_namespace": namespace,
            "__meta_kubernetes_pod_name": pod,
            pod_label_meta(label.0): label.1,
            "__meta_kubernetes_pod_container_port_name": port_name,
            "__meta_kubernetes_pod_container_port_number": addr.port().to_string(),
            "__meta_kubernetes_pod_phase": phase,
        },
    })
}

/// The plain config with its `kubernetes_sd_configs` replaced by these
/// `static_configs` (targets carrying the meta labels discovery would give
/// them) and its rule files made absolute paths, as YAML: what this Prometheus
/// can load, whether or not it was built with Kubernetes discovery.
fn with_targets(targets: &[Value]) -> Option<String> {
    let program = "import json, os, sys, yaml\n\
        path = sys.argv[1]\n\
        config = yaml.safe_load(open(path))\n\
        base = os.path.dirname(os.path.abspath(path))\n\
        config['rule_files'] = [os.path.join(base, f) for f in config.get('rule_files') or []]\n\
        replaced = 0\n\
        for job in config['scrape_configs']:\n\
        \x20   if job.pop('kubernetes_sd_configs', None) is not None:\n\
        \x20       job['static_configs'] = json.loads(sys.argv[2])\n\
        \x20       replaced += 1\n\
        assert replaced == 1, replaced\n\
        print(json.dumps(yaml.safe_dump(config)))";
    let args = [
        repo(PROMETHEUS).display().to_string(),
        Value::from(targets.to_vec()).to_string(),
    ];
    common::python_yaml(program, &args).map(|v| v.as_str().unwrap().to_owned())
}

/// Whether promtool's complaint is only that it was built without Kubernetes
/// discovery (Debian's promtool is).
fn lacks_kubernetes_sd(report: &str) -> bool {
    let errors: Vec<&str> = report
        .lines()
        .filter(|l| l.contains("not found in type"))
        .collect();
    !errors.is_empty()
        && errors.iter().all(|l| {
            l.contains("field kubernetes_sd_configs not found in type config.ScrapeConfig")
        })
}

fn promtool_check_config(path: &Path) -> Option<(bool, String)> {
    let out = Command::new("promtool")
        .args(["check", "config"])
        .arg(path)
        .output()
        .ok()?;
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Some((out.status.success(), report))
}

#[test]
fn prometheus_kubernetes_config_passes_promtool() {
    let Some((ok, report)) = promtool_check_config(&repo(PROMETHEUS)) else {
        return common::skip_test("promtool is not installed (Debian package `prometheus`)");
    };
    if ok {
        return;
    }
    // A promtool built without Kubernetes discovery refuses the job's
    // `kubernetes_sd_configs` and nothing else: it checks all the rest (rule
    // files, relabeling, limits) with the discovery replaced by static targets.
    assert!(
        lacks_kubernetes_sd(&report),
        "promtool check config {PROMETHEUS}:\n{report}"
    );
    let Some(config) = with_targets(&[discovered(
        common::free_addr(),
        ("default", "promhttp-demo-0"),
        ("app.kubernetes.io/name", "promhttp-demo"),
        "http",
        "Running",
    )]) else {
        return common::skip_test(common::NO_PYYAML);
    };
    let dir = common::TempDir::new("kubernetes-promtool");
    let path = dir.join("prometheus-kubernetes.yml");
    std::fs::write(&path, &config).unwrap();
    let (ok, static_report) = promtool_check_config(&path).unwrap();
    assert!(
        ok,
        "promtool check config, discovery replaced by static targets:\n{static_report}\n{config}"
    );
    eprintln!(
        "NOTE: this promtool has no Kubernetes discovery ({}); {PROMETHEUS} was checked \
         with its kubernetes_sd_configs replaced by static targets",
        report
            .lines()
            .find(|l| l.contains("kubernetes_sd_configs"))
            .unwrap_or("")
            .trim()
    );
}

/// Prometheus, relabeling targets that carry what pod discovery would give the
/// demo's pods and others, scrapes the demo's `http` port of its running pods
/// only, labelled with their namespace and pod.
#[test]
fn prometheus_relabels_discovered_pods_to_the_demos_http_port() {
    if Command::new("prometheus")
        .arg("--version")
        .output()
        .is_err()
    {
        return common::skip_test("prometheus is not installed (Debian package `prometheus`)");
    }
    let Some(f) = files() else {
        return common::skip_test(common::NO_PYYAML);
    };
    let label = (
        "app.kubernetes.io/name",
        f.pod_labels()["app.kubernetes.io/name"].as_str().unwrap(),
    );
    let port_name = f.pod_monitor["spec"]["podMetricsEndpoints"][0]["port"]
        .as_str()
        .unwrap();
    // Ports nothing listens on: the targets are listed whether or not they answer.
    let (demo, other_port, other_app, finished) = (
        common::free_addr(),
        common::free_addr(),
        common::free_addr(),
        common::free_addr(),
    );
    let targets = [
        discovered(
            demo,
            ("shop", "promhttp-demo-1"),
            label,
            port_name,
            "Running",
        ),
        discovered(
            other_port,
            ("shop", "promhttp-demo-1"),
            label,
            "admin",
            "Running",
        ),
        discovered(
            other_app,
            ("shop", "other-0"),
            (label.0, "other"),
            port_name,
            "Running",
        ),
        discovered(
            finished,
            ("shop", "promhttp-demo-2"),
            label,
            port_name,
            "Failed",
        ),
    ];
    let Some(config) = with_targets(&targets) else {
        return common::skip_test(common::NO_PYYAML);
    };
    let dir = common::TempDir::new("kubernetes-relabel");
    std::fs::write(dir.join("prometheus.yml"), &config).unwrap();
    let (_prometheus, addr) = start_prometheus(&dir);
    let job = f.sd_job()["job_name"].as_str().unwrap();
    let (active, dropped) =
        common::wait_until("Prometheus' targets", Duration::from_secs(60), || {
            let res = common::http(addr, "GET", "/api/v1/targets", &[], b"")
                .map_err(|e| e.to_string())?;
            let body: Value = serde_json::from_str(&res.text()).map_err(|e| e.to_string())?;
            let active = body["data"]["activeTargets"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let dropped = body["data"]["droppedTargets"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            if active.len() + dropped.len() < targets.len() {
                return Err(format!("{body}"));
            }
            Ok((active, dropped))
        });
    let [target] = &active[..] else {
        panic!("active targets: {active:#?}\n{config}");
    };
    let labels = &target["labels"];
    assert_eq!(labels["instance"], demo.to_string(), "{target:#}");
    assert_eq!(labels["job"], job, "{target:#}");
    assert_eq!(labels["namespace"], "shop", "{target:#}");
    assert_eq!(labels["pod"], "promhttp-demo-1", "{target:#}");
    assert_eq!(
        target["scrapeUrl"],
        format!("http://{demo}/metrics"),
        "{target:#}"
    );
    let mut dropped: Vec<&str> = dropped
        .iter()
        .map(|t| t["discoveredLabels"]["__address__"].as_str().unwrap())
        .collect();
    dropped.sort_unstable();
    let mut expected = [other_port, other_app, finished].map(|a| a.to_string());
    expected.sort_unstable();
    assert_eq!(dropped, expected);
}

/// Starts Prometheus with `dir/prometheus.yml` on a free loopback port.
fn start_prometheus(dir: &common::TempDir) -> (common::Running, SocketAddr) {
    let (config, data) = (dir.join("prometheus.yml"), dir.join("data"));
    common::start_listening("Prometheus", "/-/ready", |addr| {
        let mut command = Command::new("prometheus");
        command
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", data.display()))
            .arg(format!("--web.listen-address={addr}"));
        command
    })
}

/// The demo started with the container's environment listens on the container's
/// port, answers the kubelet's probes without counting them as traffic, and
/// serves its metrics at the monitors' path.
#[test]
fn demo_started_as_deployed_answers_its_probes_and_its_scrapes() {
    let Some(f) = files() else {
        return common::skip_test(common::NO_PYYAML);
    };
    let container = f.demo_container();
    let port = u16::try_from(container_port(container, "http").unwrap()).unwrap();
    let env: Vec<(String, String)> = container["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["name"].as_str().unwrap().to_owned(),
                e["value"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let _ports = common::default_ports_lock();
    let (_demo, line) = common::start_and_read_line(
        Command::new(common::example_binary("axum"))
            .envs(env)
            .env("RUST_LOG", "warn"),
    );
    assert!(line.contains("http://"), "the demo printed {line:?}");
    let served = common::served_addr(&line);
    assert_eq!(served.port(), port, "{line}");
    assert!(served.ip().is_unspecified(), "{line}");
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let probes: Vec<&str> = ["readinessProbe", "livenessProbe"]
        .iter()
        .map(|p| container[p]["httpGet"]["path"].as_str().unwrap())
        .collect();
    for path in &probes {
        for _ in 0..3 {
            let res = common::http(addr, "GET", path, &[], b"").unwrap();
            assert_eq!(res.status, 200, "probe GET {path}: {}", res.text());
        }
    }
    let path = f.pod_monitor["spec"]["podMetricsEndpoints"][0]["path"]
        .as_str()
        .unwrap();
    let res = common::http(addr, "GET", path, &[], b"").unwrap();
    assert_eq!(res.status, 200, "GET {path}: {}", res.text());
    let exposition = common::parse_text(&res.text());
    assert!(!exposition.families.is_empty(), "no metrics at {path}");

    // As Prometheus scrapes it (OpenMetrics), the demo's own metrics (process,
    // /metrics handler) beside the HTTP metric set, which at its series cap
    // (the container's PROMHTTP_MAX_SERIES) writes `sizing::samples_at_cap`:
    // together within the monitors' sample limit.
    let text = common::scrape_openmetrics(addr);
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    let own = lines
        .iter()
        .filter(|l| !l.starts_with("http_server_") && !l.starts_with("promhttp_series_overflow"))
        .count();
    assert!(own < lines.len(), "no HTTP metric set at {path}:\n{text}");
    let max_series = deployed_max_series(container);
    let at_cap = sizing::samples_at_cap(max_series) + own;
    assert!(
        at_cap <= sample_limit(&f),
        "at its cap of {max_series} series per family the demo would write {at_cap} samples \
         ({own} of its own metrics), over the sample limit {}:\n{text}",
        sample_limit(&f)
    );
    for family in &exposition.families {
        for sample in &family.samples {
            for key in ["route", "http_route"] {
                let route = sample.labels.get(key).map(String::as_str);
                assert!(
                    !route.is_some_and(|r| probes.contains(&r)),
                    "the probes are counted as traffic: {} {:?}",
                    sample.name,
                    sample.labels
                );
            }
        }
    }
}
