//! The framework-free core of [promhttp](https://docs.rs/promhttp): a cheap-to-clone
//! [`Registry`], the [`HttpMetrics`] set that the axum and actix-web adapters record
//! into, and exposition in OpenMetrics 1.0, Prometheus text 0.0.4 and Prometheus
//! protobuf.
//!
//! Features: `prometheus-client` (the bridge for that crate's metrics, with the
//! OpenMetrics reader it needs), `exporter` (collectors, pollers, the types of
//! `source`), `parse` (strict readers of both text formats, `MetricFamily::validate`);
//! all three are on by default here, and off by default in the adapters, which
//! need none of them (the `promhttp` facade turns on `prometheus-client` only).
//!
//! ```
//! # mod promhttp { pub use promhttp_core::*; }
//! use promhttp::{Format, HttpMethod, HttpMetrics, Registry};
//!
//! let registry = Registry::new();
//! let metrics = HttpMetrics::builder().registry(&registry).buckets([0.5]).build()?;
//!
//! let mut request = metrics.route(None).start(HttpMethod::from_token("BREW")).unwrap();
//! request.set_status(404);
//! drop(request);
//!
//! let text = registry.encode(Format::OpenMetrics)?;
//! assert!(text.contains(
//!     "http_server_requests_total{method=\"_OTHER\",route=\"unmatched\",status=\"404\"} 1\n"
//! ));
//! assert!(text.contains(
//!     "http_server_request_duration_seconds_bucket{method=\"_OTHER\",route=\"unmatched\",status=\"404\",le=\"+Inf\"} 1\n"
//! ));
//! assert!(text.ends_with("# EOF\n"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Everything here is also re-exported by the `promhttp` facade crate.

mod clock;
#[cfg(feature = "exporter")]
pub mod collect;
pub mod encode;
mod endpoint;
mod exposition;
pub mod family;
#[cfg(feature = "fetch")]
pub mod fetch;
mod global;
pub mod grpc;
mod histogram;
mod http;
pub mod names;
pub mod native;
#[cfg(feature = "parse")]
pub mod parse;
#[cfg(feature = "exporter")]
pub mod poller;
mod process;
#[cfg(feature = "fetch")]
pub mod push;
mod registry;
#[cfg(feature = "exporter")]
pub mod slo;
pub mod source;
mod trace;

pub use clock::{calibrate_clock, clock_calibrated};
pub use endpoint::{
    EndpointError, MetricsEndpoint, ScrapeFailure, ScrapePermit, ScrapeRequest,
    DEFAULT_COMPRESSION_THRESHOLD, DEFAULT_MAX_CONCURRENT_SCRAPES,
};
pub use exposition::{ContentType, Escaping, Format, NotAcceptable, ScrapeResponse, UnknownFormat};
pub use global::{default_registry, http_sets_elsewhere};
pub use histogram::{BucketsError, DurationHistogram};
pub use http::{
    BodyCounter, BuildError, BuiltinLabel, EndedRequest, HttpClientMetrics,
    HttpClientMetricsBuilder, HttpMethod, HttpMetrics, HttpMetricsBuilder, LabelReader,
    LabelValues, Naming, RequestGuard, RequestLabel, RouteHandle, DEFAULT_BODY_SIZE_BUCKETS,
    DEFAULT_BUCKETS, DEFAULT_MAX_SERIES, OTHER_LABEL_VALUE, OTHER_SERVER, OVERFLOW_ROUTE,
    STATUS_CLIENT_CLOSED, STATUS_FAILED, STATUS_PANICKED, UNMATCHED_ROUTE,
};
pub use native::{NativeError, NativeHistogram};
pub use process::{set_process_metrics_enabled, ProcessCollector};
pub use registry::{CollectorHandle, EncodeError, Registry, RegistryError};
pub use trace::TraceContext;

/// The `prometheus-client` crate this one builds on, for registering its metric
/// types in a [`Registry`] (feature `prometheus-client`, on by default).
#[cfg(feature = "prometheus-client")]
pub use prometheus_client;
