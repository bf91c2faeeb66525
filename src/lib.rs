//! Prometheus metrics for Rust HTTP services: exact request counts, in-flight
//! gauges and latency histograms, recorded by one layer and served by one route.
//!
//! ```
//! use promhttp::{Format, HttpMethod, HttpMetrics, Registry};
//!
//! let registry = Registry::new();
//! let metrics = HttpMetrics::builder().registry(&registry).build()?;
//! let mut request = metrics.route(Some("/")).start(HttpMethod::Get).unwrap();
//! request.set_status(200);
//! drop(request);
//! assert!(registry
//!     .encode(Format::Text)?
//!     .contains("http_server_requests_total{method=\"GET\",route=\"/\",status=\"200\"} 1\n"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `axum` | | `promhttp::axum` (the `promhttp-axum` crate): `MetricsLayer` for axum and any tower HTTP service, `metrics_handler` |
//! | `actix` | | `promhttp::actix` (the `promhttp-actix` crate): the `Metrics` middleware for actix-web, `metrics_handler` |
//! | `prometheus-client` | yes | `Registry::register` of `prometheus-client` metrics and collectors, served in every format (compiles the OpenMetrics reader that carries them) |
//! | `exporter` | | the exporter toolkit: `collect`, `poller`, the metric types of `source` (implies `parse`) |
//! | `parse` | | the readers of OpenMetrics and text 0.0.4 (`parse`), `MetricFamily::validate`, `FamilySource::write` |
//!
//! `default-features = false, features = ["axum"]` (or `["actix"]`) is the
//! middleware alone: no parser, no exporter toolkit, no `prometheus-client`.
//!
//! The core types are re-exported here from `promhttp-core`. The README has the
//! metric table and says exactly when each metric is written.

#[doc(inline)]
pub use promhttp_core::*;

/// The axum and tower adapter (feature `axum`).
#[cfg(feature = "axum")]
#[doc(inline)]
pub use promhttp_axum as axum;

/// The actix-web adapter (feature `actix`).
#[cfg(feature = "actix")]
#[doc(inline)]
pub use promhttp_actix as actix;

/// The README's code blocks, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
mod readme {}
