//! The process registry: the [`Registry`] that [`HttpMetrics::default`], the
//! pollers and the framework adapters' `metrics_handler`s use when given none.
//!
//! [`HttpMetrics::default`]: crate::HttpMetrics::default

use std::sync::LazyLock;

use crate::process::ProcessCollector;
use crate::registry::Registry;

static DEFAULT_REGISTRY: LazyLock<Registry> = LazyLock::new(|| {
    let registry = Registry::new();
    // An empty registry has room for the process metrics, so this cannot fail.
    let _ = ProcessCollector::register_with(&registry, true);
    registry
});

/// The process registry, created on first use, with the process metrics
/// (`process_cpu_seconds_total`, `process_resident_memory_bytes`, ...; see
/// [`ProcessCollector`](crate::ProcessCollector)) in it; switch those off with
/// [`set_process_metrics_enabled`](crate::set_process_metrics_enabled).
///
/// [`HttpMetrics::default`](crate::HttpMetrics::default) registers into it and the framework adapters'
/// `metrics_handler` serves it. Tests and libraries that want isolation create their
/// own [`Registry`] instead.
pub fn default_registry() -> &'static Registry {
    &DEFAULT_REGISTRY
}
