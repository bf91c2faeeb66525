//! The framework-free core of [promhttp](https://docs.rs/promhttp): a cheap-to-clone
//! [`Registry`], the [`HttpMetrics`] set that the axum and actix-web adapters record
//! into, and exposition in OpenMetrics 1.0 and Prometheus text 0.0.4, with strict
//! parsers for both in [`parse`].
//!
//! ```
//! use promhttp_core::{Format, HttpMethod, HttpMetrics, Registry};
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

pub mod collect;
pub mod encode;
mod endpoint;
mod exposition;
pub mod family;
mod global;
mod histogram;
mod http;
pub mod names;
pub mod parse;
pub mod poller;
mod process;
mod registry;
pub mod source;

pub use endpoint::{
    EndpointError, MetricsEndpoint, ScrapeFailure, ScrapePermit, ScrapeRequest,
    DEFAULT_COMPRESSION_THRESHOLD, DEFAULT_MAX_CONCURRENT_SCRAPES,
};
pub use exposition::{ContentType, Escaping, Format, NotAcceptable, ScrapeResponse};
pub use global::default_registry;
pub use histogram::{BucketsError, DurationHistogram};
pub use http::{
    BuildError, HttpMethod, HttpMetrics, HttpMetricsBuilder, RequestGuard, RouteHandle,
    DEFAULT_BUCKETS, DEFAULT_MAX_SERIES, OVERFLOW_ROUTE, STATUS_CLIENT_CLOSED, STATUS_PANICKED,
    UNMATCHED_ROUTE,
};
pub use process::{set_process_metrics_enabled, ProcessCollector};
pub use registry::{EncodeError, Registry, RegistryError};

/// The `prometheus-client` crate this one builds on, for registering its metric
/// types in a [`Registry`].
pub use prometheus_client;
