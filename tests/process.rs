//! Process metrics: present in the process registry by default, switchable off,
//! registrable in any registry, plausible values read back by the reference
//! parser, and clean under promtool.

mod common;

use promhttp::{
    default_registry, set_process_metrics_enabled, Format, ProcessCollector, Registry,
    RegistryError,
};

const NAMES: [&str; 7] = [
    "process_cpu_seconds_total",
    "process_resident_memory_bytes",
    "process_virtual_memory_bytes",
    "process_open_fds",
    "process_max_fds",
    "process_start_time_seconds",
    "process_threads",
];

#[test]
fn process_metrics_are_plausible_and_valid() {
    if !cfg!(target_os = "linux") {
        common::skip_test("process metrics are read from /proc, which only Linux has");
        return;
    }
    let registry = Registry::new();
    ProcessCollector::register(&registry).unwrap();
    let err = ProcessCollector::register(&registry).unwrap_err();
    assert!(matches!(err, RegistryError::NameClash { .. }), "{err}");

    let m = common::parse_openmetrics(&registry.encode(Format::OpenMetrics).unwrap());
    let value = |name: &str| m.value(name, &[]);
    assert!(value("process_cpu_seconds_total") >= 0.0);
    assert_eq!(m.family("process_cpu_seconds").unwrap().kind, "counter");
    assert!(value("process_resident_memory_bytes") > 1e6);
    assert!(value("process_virtual_memory_bytes") >= value("process_resident_memory_bytes"));
    assert!(value("process_open_fds") >= 3.0);
    assert!(value("process_max_fds") >= value("process_open_fds"));
    assert!(value("process_threads") >= 1.0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let start = value("process_start_time_seconds");
    assert!(
        start <= now + 1.0 && start > now - 3600.0,
        "start {start}, now {now}"
    );
    // The CPU time counts from the process' start.
    assert_eq!(value("process_cpu_seconds_created"), start);

    let text = registry.encode(Format::Text).unwrap();
    common::parse_text(&text);
    if let Some((ok, report)) = common::promtool_check_metrics(&text) {
        assert!(ok, "promtool check metrics complained:\n{report}\n{text}");
    }

    // The process registry has them from the start, and they can be switched off.
    let names = |text: &str| -> Vec<String> {
        common::parse_openmetrics(text)
            .families
            .iter()
            .flat_map(|f| f.samples.iter().map(|s| s.name.clone()))
            .collect()
    };
    let present = names(&default_registry().encode(Format::OpenMetrics).unwrap());
    for name in NAMES {
        assert!(
            present.iter().any(|n| n == name),
            "{name} missing from the process registry"
        );
    }
    set_process_metrics_enabled(false);
    let off = names(&default_registry().encode(Format::OpenMetrics).unwrap());
    set_process_metrics_enabled(true);
    assert!(off.iter().all(|n| !n.starts_with("process_")), "{off:?}");
    // Switching off concerns the process registry only.
    set_process_metrics_enabled(false);
    let custom = names(&registry.encode(Format::OpenMetrics).unwrap());
    set_process_metrics_enabled(true);
    // Each family once, and the CPU counter's `_created`.
    assert_eq!(custom.len(), NAMES.len() + 1, "{custom:?}");
}
