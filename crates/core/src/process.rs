//! Process metrics: CPU time, memory, file descriptors, threads and start time
//! of the current process, read on every scrape.
//!
//! | name | type | source on Linux |
//! |---|---|---|
//! | `process_cpu_seconds_total` | counter | `/proc/self/stat` fields 14 and 15 (user + system), in clock ticks of 1/100 s |
//! | `process_resident_memory_bytes` | gauge | `VmRSS` in `/proc/self/status` |
//! | `process_virtual_memory_bytes` | gauge | `VmSize` in `/proc/self/status` |
//! | `process_open_fds` | gauge | entries of `/proc/self/fd` |
//! | `process_max_fds` | gauge | soft "Max open files" in `/proc/self/limits` |
//! | `process_start_time_seconds` | gauge | `btime` of `/proc/stat` + field 22 of `/proc/self/stat` |
//! | `process_threads` | gauge | `Threads` in `/proc/self/status` |
//!
//! The names and meanings are the ones client_golang and the Python client use,
//! so existing dashboards work. Elsewhere than Linux the OS offers none of these
//! files and the collector writes nothing. A value that cannot be read is left
//! out of that scrape rather than written as a wrong number.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::encode::{Descriptor, Encoder};
use crate::family::MetricType;
use crate::registry::Source;

use crate::registry::{Registry, RegistryError};

/// The kernel's fixed `USER_HZ`: `/proc` reports times in 1/100 s on every
/// architecture Linux runs user space on today.
const TICKS_PER_SECOND: f64 = 100.0;

static ENABLED: AtomicBool = AtomicBool::new(true);

/// Turns the process metrics of the process registry on or off (on by default).
/// Takes effect from the next scrape.
pub fn set_process_metrics_enabled(enabled: bool) {
    ENABLED.store(enabled, Ordering::Relaxed);
}

/// The process collector: registered in the process registry when it is created
/// (switch it off with [`set_process_metrics_enabled`]); register it in your own
/// registries with [`ProcessCollector::register`].
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessCollector {
    /// Whether the process-wide switch applies (it does for the process registry).
    follows_switch: bool,
}

/// The family names the collector writes.
const FAMILIES: [(&str, &str, MetricType); 7] = [
    (
        "process_cpu_seconds",
        "Total user and system CPU time spent, in seconds.",
        MetricType::Counter,
    ),
    (
        "process_resident_memory_bytes",
        "Resident memory size, in bytes.",
        MetricType::Gauge,
    ),
    (
        "process_virtual_memory_bytes",
        "Virtual memory size, in bytes.",
        MetricType::Gauge,
    ),
    (
        "process_open_fds",
        "Number of open file descriptors.",
        MetricType::Gauge,
    ),
    (
        "process_max_fds",
        "Maximum number of open file descriptors (soft limit).",
        MetricType::Gauge,
    ),
    (
        "process_start_time_seconds",
        "Start time of the process since the Unix epoch, in seconds.",
        MetricType::Gauge,
    ),
    (
        "process_threads",
        "Number of OS threads in the process.",
        MetricType::Gauge,
    ),
];

impl ProcessCollector {
    /// Registers the process metrics in `registry`.
    ///
    /// # Errors
    /// [`RegistryError::NameClash`] when one of the `process_*` names is taken.
    pub fn register(registry: &Registry) -> Result<(), RegistryError> {
        Self::register_with(registry, false)
    }

    pub(crate) fn register_with(
        registry: &Registry,
        follows_switch: bool,
    ) -> Result<(), RegistryError> {
        let names = FAMILIES
            .iter()
            .flat_map(|(name, _, kind)| kind.sample_names(name))
            .collect();
        registry
            .add_source(names, Arc::new(ProcessCollector { follows_switch }))
            .map(|_| ())
    }
}

/// One reading of the process's figures; `None` where a figure could not be read.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
struct Reading {
    cpu_seconds: Option<f64>,
    resident_bytes: Option<f64>,
    virtual_bytes: Option<f64>,
    open_fds: Option<f64>,
    max_fds: Option<f64>,
    start_time: Option<f64>,
    threads: Option<f64>,
}

#[cfg(target_os = "linux")]
fn read() -> Reading {
    let stat = std::fs::read_to_string("/proc/self/stat").ok();
    // Fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat
        .as_deref()
        .and_then(|s| s.rsplit_once(')'))
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    // `fields[0]` is field 3 of proc(5), so field n is `fields[n - 3]`.
    let field = |n: usize| fields.get(n - 3).and_then(|f| f.parse::<f64>().ok());
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let status_value = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<f64>().ok())
    };
    let boot_time = std::fs::read_to_string("/proc/stat").ok().and_then(|s| {
        s.lines()
            .find_map(|l| l.strip_prefix("btime "))
            .and_then(|v| v.trim().parse::<f64>().ok())
    });
    let max_fds = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Max open files"))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse::<f64>().ok())
        });
    Reading {
        cpu_seconds: field(14)
            .zip(field(15))
            .map(|(user, system)| (user + system) / TICKS_PER_SECOND),
        resident_bytes: status_value("VmRSS:").map(|kib| kib * 1024.0),
        virtual_bytes: status_value("VmSize:").map(|kib| kib * 1024.0),
        open_fds: std::fs::read_dir("/proc/self/fd")
            .ok()
            .map(|d| d.count() as f64),
        max_fds,
        start_time: boot_time
            .zip(field(22))
            .map(|(boot, ticks)| boot + ticks / TICKS_PER_SECOND),
        threads: status_value("Threads:"),
    }
}

#[cfg(not(target_os = "linux"))]
fn read() -> Reading {
    Reading::default()
}

impl Source for ProcessCollector {
    fn encode(&self, out: &mut Encoder) {
        if self.follows_switch && !ENABLED.load(Ordering::Relaxed) {
            return;
        }
        let r = read();
        let values = [
            r.cpu_seconds,
            r.resident_bytes,
            r.virtual_bytes,
            r.open_fds,
            r.max_fds,
            r.start_time,
            r.threads,
        ];
        for ((name, help, kind), value) in FAMILIES.iter().zip(values) {
            let Some(value) = value else { continue };
            out.family(&Descriptor::new(name, *kind, help));
            match kind {
                // The CPU time counts from the process's start.
                MetricType::Counter => out.counter(&(), value, r.start_time, None),
                _ => out.gauge(&(), value),
            }
        }
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn reads_every_figure_on_linux() {
        let r = read();
        assert!(r.cpu_seconds.is_some_and(|v| v >= 0.0));
        assert!(r.resident_bytes.is_some_and(|v| v > 1024.0 * 1024.0 / 2.0));
        assert!(r.virtual_bytes.unwrap() >= r.resident_bytes.unwrap());
        assert!(r.open_fds.is_some_and(|v| v >= 3.0));
        assert!(r.max_fds.unwrap() >= r.open_fds.unwrap());
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        let start = r.start_time.unwrap();
        assert!(
            start <= now + 1.0 && start > now - 3600.0,
            "start {start}, now {now}"
        );
        assert!(r.threads.is_some_and(|v| v >= 1.0));
    }
}
