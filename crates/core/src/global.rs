//! The process registry: the [`Registry`] that [`HttpMetrics::default`], the
//! pollers and the framework adapters' `metrics_handler`s use when given none.
//!
//! [`HttpMetrics::default`]: crate::HttpMetrics::default

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::OnceLock;

use crate::process::ProcessCollector;
use crate::registry::Registry;

static DEFAULT_REGISTRY: OnceLock<Registry> = OnceLock::new();

/// The process registry, created on first use, with the process metrics
/// (`process_cpu_seconds_total`, `process_resident_memory_bytes`, ...; see
/// [`ProcessCollector`](crate::ProcessCollector)) in it; switch those off with
/// [`set_process_metrics_enabled`](crate::set_process_metrics_enabled).
///
/// [`HttpMetrics::default`](crate::HttpMetrics::default) registers into it and the framework adapters'
/// `metrics_handler` serves it. Tests and libraries that want isolation create their
/// own [`Registry`] instead.
pub fn default_registry() -> &'static Registry {
    DEFAULT_REGISTRY.get_or_init(|| {
        let registry = Registry::new();
        // An empty registry has room for the process metrics, so this cannot fail.
        let _ = ProcessCollector::register_with(&registry, true);
        registry
    })
}

/// Whether `registry` is the process registry, without creating the process
/// registry (and its process metrics) when nothing has used it yet: then
/// `registry` cannot be it.
pub(crate) fn is_default(registry: &Registry) -> bool {
    DEFAULT_REGISTRY
        .get()
        .is_some_and(|default| default.same_as(registry))
}

/// Whether an HTTP metric set was built into the process registry.
static HTTP_SET_IN_DEFAULT: AtomicBool = AtomicBool::new(false);
/// Whether an HTTP metric set was built into another registry.
static HTTP_SET_ELSEWHERE: AtomicBool = AtomicBool::new(false);
/// Whether [`check_default_served`] has warned already.
static WARNED: AtomicBool = AtomicBool::new(false);

/// Notes where an HTTP metric set was built, for [`check_default_served`].
pub(crate) fn note_http_set(registry: &Registry) {
    if is_default(registry) {
        HTTP_SET_IN_DEFAULT.store(true, Relaxed);
    } else {
        HTTP_SET_ELSEWHERE.store(true, Relaxed);
    }
}

/// Whether serving the process registry would miss every HTTP metric set of
/// the process: one was built, into another registry, and none into this one.
/// That is the mistake of serving the process registry's handler beside a set
/// built with [`HttpMetricsBuilder::registry`](crate::HttpMetricsBuilder::registry).
#[must_use]
pub fn http_sets_elsewhere() -> bool {
    HTTP_SET_ELSEWHERE.load(Relaxed) && !HTTP_SET_IN_DEFAULT.load(Relaxed)
}

/// Called by an endpoint serving the process registry on every scrape: logs,
/// once per process, a warning when [`http_sets_elsewhere`].
pub(crate) fn check_default_served() {
    if http_sets_elsewhere() && !WARNED.swap(true, Relaxed) {
        tracing::warn!(
            "the process registry is served, but every HTTP metric set of this process \
             was built into another registry, so its request metrics are not in this \
             answer: serve the set's registry (`MetricsLayer::handler()` in axum, \
             `Metrics::handler()` in actix-web, or `metrics_handler_with(registry)`)"
        );
    }
}
