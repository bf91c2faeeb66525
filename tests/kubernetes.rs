//! The Kubernetes files: `deploy/kubernetes/demo.yaml` (the axum demo's
//! Deployment and Service), the Prometheus Operator's `podmonitor.yaml` and
//! `servicemonitor.yaml` for it, and `deploy/prometheus/prometheus-kubernetes.yml`
//! (plain Prometheus with Kubernetes discovery) select one another, name the
//! ports and paths the demo serves, and agree on a sample limit that covers the
//! demo's HTTP metric set at the series cap its Deployment sets
//! (`PROMHTTP_MAX_SERIES`, by the formula of tests/support/sizing.rs); the config
//! passes `promtool check config`, and a real Prometheus, discovering the
//! Deployment's pods from a stand-in for the Kubernetes API, scrapes the demo's
//! `http` port of each running replica and nothing else; the demo started with
//! the container's environment serves its probes and its metrics where the
//! manifests say.
//!
//! Debian 12's `promtool` and `prometheus` (2.42, which the other tests use)
//! are built without Kubernetes discovery: these tests use Debian 13's (2.53),
//! which `scripts/kubernetes-tools.sh` fetches into `.tools/` (see
//! [`kubernetes_tools`]).

mod common;
#[path = "support/sizing.rs"]
mod sizing;

use std::io::{BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, OnceLock};
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

/// A `promtool` and a `prometheus` built with Kubernetes service discovery.
struct KubernetesTools {
    promtool: PathBuf,
    prometheus: PathBuf,
}

const NO_KUBERNETES_TOOLS: &str =
    "no promtool and prometheus with Kubernetes discovery (Debian 12's are built without it: \
     run scripts/kubernetes-tools.sh, which fetches Debian 13's into .tools/)";

/// The first of `$PROMHTTP_KUBERNETES_TOOLS` (a directory), `.tools/debian13/usr/bin`
/// (where scripts/kubernetes-tools.sh puts them) and the `PATH` whose `promtool`
/// accepts a `kubernetes_sd_configs` job and whose `prometheus` runs.
fn kubernetes_tools() -> Option<&'static KubernetesTools> {
    static TOOLS: OnceLock<Option<KubernetesTools>> = OnceLock::new();
    TOOLS
        .get_or_init(|| {
            let dir = common::TempDir::new("kubernetes-tools");
            let probe = dir.join("probe.yml");
            std::fs::write(
                &probe,
                "scrape_configs:\n  - job_name: probe\n    kubernetes_sd_configs:\n      - role: pod\n",
            )
            .unwrap();
            let mut dirs: Vec<Option<PathBuf>> = Vec::new();
            if let Some(dir) = std::env::var_os("PROMHTTP_KUBERNETES_TOOLS") {
                dirs.push(Some(dir.into()));
            }
            dirs.push(Some(repo(".tools/debian13/usr/bin")));
            dirs.push(None);
            dirs.into_iter().find_map(|dir| {
                let tool = |name: &str| dir.as_ref().map_or_else(|| name.into(), |d| d.join(name));
                let tools = KubernetesTools {
                    promtool: tool("promtool"),
                    prometheus: tool("prometheus"),
                };
                let (ok, _) = promtool_check_config(&tools.promtool, &probe)?;
                let runs = Command::new(&tools.prometheus)
                    .arg("--version")
                    .output()
                    .is_ok_and(|o| o.status.success());
                (ok && runs).then_some(tools)
            })
        })
        .as_ref()
}

/// `promtool check config path`: whether it passed, and what it said; `None`
/// when `promtool` cannot be run.
fn promtool_check_config(promtool: &Path, path: &Path) -> Option<(bool, String)> {
    let out = Command::new(promtool)
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

/// The plain config as YAML, with `patch` merged into each of its
/// `kubernetes_sd_configs` and its rule files made absolute paths, to be
/// written anywhere.
fn patched(patch: &Value) -> Option<String> {
    let program = "import json, os, sys, yaml\n\
        path = sys.argv[1]\n\
        config = yaml.safe_load(open(path))\n\
        base = os.path.dirname(os.path.abspath(path))\n\
        config['rule_files'] = [os.path.join(base, f) for f in config.get('rule_files') or []]\n\
        patched = 0\n\
        for job in config['scrape_configs']:\n\
        \x20   for sd in job.get('kubernetes_sd_configs') or []:\n\
        \x20       sd.update(json.loads(sys.argv[2]))\n\
        \x20       patched += 1\n\
        assert patched == 1, patched\n\
        print(json.dumps(yaml.safe_dump(config)))";
    let args = [repo(PROMETHEUS).display().to_string(), patch.to_string()];
    common::python_yaml(program, &args).map(|v| v.as_str().unwrap().to_owned())
}

#[test]
fn prometheus_kubernetes_config_passes_promtool() {
    let Some(tools) = kubernetes_tools() else {
        return common::skip_test(NO_KUBERNETES_TOOLS);
    };
    let (ok, report) = promtool_check_config(&tools.promtool, &repo(PROMETHEUS)).unwrap();
    assert!(ok, "promtool check config {PROMETHEUS}:\n{report}");
    assert!(
        report.contains("SUCCESS") && report.contains("promhttp-alerts.yml"),
        "promtool check config {PROMETHEUS} did not check its rule file:\n{report}"
    );

    // The discovery block is read, not passed over: the same file with a role
    // that does not exist is refused, and the refusal names it.
    let Some(config) = patched(&json!({ "role": "pods" })) else {
        return common::skip_test(common::NO_PYYAML);
    };
    let dir = common::TempDir::new("kubernetes-promtool");
    let path = dir.join("prometheus-kubernetes.yml");
    std::fs::write(&path, &config).unwrap();
    let (ok, report) = promtool_check_config(&tools.promtool, &path).unwrap();
    assert!(
        !ok && report.contains("\"pods\""),
        "promtool passed role `pods`:\n{report}\n{config}"
    );
}

/// A stand-in for the Kubernetes API server, as much of it as pod discovery
/// uses: `GET /api/v1/pods` lists `pods`, and a watch is answered and then held
/// open with no event, as in a cluster where nothing changes. Every request
/// target it was sent is kept, for the failure messages.
struct ApiServer {
    addr: SocketAddr,
    requests: Arc<Mutex<Vec<String>>>,
}

impl ApiServer {
    fn start(pods: &[Value]) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let list = json!({
            "apiVersion": "v1",
            "kind": "PodList",
            "metadata": { "resourceVersion": "1" },
            "items": pods,
        })
        .to_string();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&requests);
        // The thread ends with the test binary: it serves until then.
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (list, seen) = (list.clone(), Arc::clone(&seen));
                std::thread::spawn(move || {
                    let _ = Self::serve(stream, &list, &seen);
                });
            }
        });
        Self { addr, requests }
    }

    /// Answers the requests of one connection (kept alive) until it closes.
    fn serve(stream: TcpStream, list: &str, seen: &Mutex<Vec<String>>) -> std::io::Result<()> {
        let mut reader = BufReader::new(stream.try_clone()?);
        let mut writer = stream;
        while let Some(head) = common::read_head(&mut reader) {
            let target = head[0].split(' ').nth(1).unwrap_or_default().to_owned();
            seen.lock().unwrap().push(target.clone());
            let path = target.split('?').next().unwrap_or_default();
            if path != "/api/v1/pods" {
                let body = r#"{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound","code":404}"#;
                write!(
                    writer,
                    "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                )?;
            } else if target.contains("watch=true") {
                writer.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
                )?;
                writer.flush()?;
                // No event until Prometheus hangs up.
                std::io::copy(&mut reader, &mut std::io::sink())?;
                return Ok(());
            } else {
                write!(
                    writer,
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{list}",
                    list.len()
                )?;
            }
            writer.flush()?;
        }
        Ok(())
    }

    fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

/// A pod of `template` (a pod template's `metadata` and `spec`, as in a
/// Deployment) named `namespace`/`name`, at `ip`, in `phase`.
fn pod(template: &Value, (namespace, name): (&str, &str), ip: &str, phase: &str) -> Value {
    let mut spec = template["spec"].clone();
    spec["nodeName"] = json!("node-1");
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": format!("uid-{namespace}-{name}"),
            "resourceVersion": "1",
            "labels": template["metadata"]["labels"],
        },
        "spec": spec,
        "status": { "phase": phase, "podIP": ip, "hostIP": ip },
    })
}

/// Prometheus built with Kubernetes discovery, given the plain config with
/// only an `api_server` added, discovers the pods of the Deployment (its pod
/// template verbatim, `replicas` of them, each the demo started with the
/// container's environment on a loopback address of its own) among others,
/// and scrapes exactly the demo's `http` port of its running pods, labelled
/// with their namespace and pod, no scrape refused. (The demo at rest writes
/// far fewer samples than at its cap: the limit itself is checked against the
/// formula by `sample_limits_agree_and_cover_the_demo_at_its_series_cap`.)
#[test]
fn prometheus_discovers_the_deployments_pods_and_scrapes_their_http_port() {
    let Some(tools) = kubernetes_tools() else {
        return common::skip_test(NO_KUBERNETES_TOOLS);
    };
    let Some(f) = files() else {
        return common::skip_test(common::NO_PYYAML);
    };
    let template = f.pod_template();
    let container = f.demo_container();
    let port = container_port(container, "http").unwrap();
    let replicas = f.deployment["spec"]["replicas"].as_u64().unwrap();
    assert!(replicas > 1, "{DEMO}: one replica");

    // A sidecar's port on the first pod, dropped by the relabelling.
    let mut with_sidecar = template.clone();
    with_sidecar["spec"]["containers"]
        .as_array_mut()
        .unwrap()
        .push(json!({
            "name": "proxy",
            "image": "proxy:1",
            "ports": [{ "name": "admin", "containerPort": 9901, "protocol": "TCP" }],
        }));

    // The demo's pods, each on an address of 127.0.0.0/8 of its own (as each
    // pod has its IP) and the container's port.
    assert!(env_value(container, "BIND").is_some(), "{DEMO}: no BIND");
    let _ports = common::default_ports_lock();
    let mut pods = Vec::new();
    let mut demos = Vec::new();
    let mut expected = Vec::new();
    for i in 0..replicas {
        let (name, ip) = (format!("promhttp-demo-{i}"), format!("127.0.0.{}", 11 + i));
        let spec = if i == 0 { &with_sidecar } else { template };
        pods.push(pod(spec, ("shop", &name), &ip, "Running"));
        let env = container["env"].as_array().unwrap().iter().map(|e| {
            let name = e["name"].as_str().unwrap();
            let value = e["value"].as_str().unwrap();
            let value = if name == "BIND" {
                format!("{ip}:{port}")
            } else {
                value.to_owned()
            };
            (name.to_owned(), value)
        });
        let (demo, line) = common::start_and_read_line(
            Command::new(common::example_binary("axum"))
                .envs(env)
                .env("RUST_LOG", "warn"),
        );
        assert!(line.contains(&format!("http://{ip}:{port}/")), "{line}");
        demos.push(demo);
        expected.push((format!("{ip}:{port}"), name));
    }
    // Another app's pod and a finished pod of the demo: discovered, and
    // dropped by the relabelling.
    let mut other = template.clone();
    other["metadata"]["labels"]["app.kubernetes.io/name"] = json!("other");
    pods.push(pod(&other, ("shop", "other-0"), "127.0.0.21", "Running"));
    pods.push(pod(
        template,
        ("shop", "promhttp-demo-old"),
        "127.0.0.22",
        "Failed",
    ));
    let dropped_expected = [
        "127.0.0.11:9901".to_owned(),
        format!("127.0.0.21:{port}"),
        format!("127.0.0.22:{port}"),
    ];

    let api = ApiServer::start(&pods);
    let Some(config) = patched(&json!({ "api_server": format!("http://{}", api.addr) })) else {
        return common::skip_test(common::NO_PYYAML);
    };
    let dir = common::TempDir::new("kubernetes-sd");
    std::fs::write(dir.join("prometheus.yml"), &config).unwrap();
    let (_prometheus, addr) = start_prometheus(&tools.prometheus, &dir);
    let job = f.sd_job()["job_name"].as_str().unwrap();
    // Each target is scraped within the job's interval (15 s) of discovery.
    let (active, dropped) = common::wait_until(
        "Prometheus to discover and scrape the pods",
        Duration::from_secs(90),
        || {
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
            let scraped = active.iter().all(|t| t["health"] != "unknown");
            if active.len() < expected.len()
                || active.len() + dropped.len() < pods.len() + 1
                || !scraped
            {
                return Err(format!(
                    "{body}\nthe API server was asked: {:?}",
                    api.requests()
                ));
            }
            Ok((active, dropped))
        },
    );
    let mut seen: Vec<(String, String)> = active
        .iter()
        .map(|t| {
            let labels = &t["labels"];
            assert_eq!(t["health"], "up", "{t:#}");
            assert_eq!(t["lastError"], "", "{t:#}");
            assert_eq!(labels["job"], job, "{t:#}");
            assert_eq!(labels["namespace"], "shop", "{t:#}");
            let instance = labels["instance"].as_str().unwrap().to_owned();
            assert_eq!(
                t["scrapeUrl"],
                format!("http://{instance}/metrics"),
                "{t:#}"
            );
            (instance, labels["pod"].as_str().unwrap().to_owned())
        })
        .collect();
    seen.sort();
    assert_eq!(seen, expected, "active targets: {active:#?}");
    let mut dropped: Vec<&str> = dropped
        .iter()
        .map(|t| t["discoveredLabels"]["__address__"].as_str().unwrap())
        .collect();
    dropped.sort_unstable();
    assert_eq!(
        dropped,
        dropped_expected,
        "the API server was asked: {:?}",
        api.requests()
    );
    drop(demos);
}

/// Starts `prometheus` with `dir/prometheus.yml` on a free loopback port.
fn start_prometheus(prometheus: &Path, dir: &common::TempDir) -> (common::Running, SocketAddr) {
    let (config, data) = (dir.join("prometheus.yml"), dir.join("data"));
    common::start_listening("Prometheus", "/-/ready", |addr| {
        let mut command = Command::new(prometheus);
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
