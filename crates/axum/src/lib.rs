//! Prometheus HTTP metrics for [axum](https://docs.rs/axum) and any
//! [tower](https://docs.rs/tower) HTTP service: one layer, one route.
//!
//! ```no_run
//! # mod promhttp { pub mod axum { pub use promhttp_axum::*; } pub use promhttp_core::*; }
//! use axum::{routing::get, Router};
//! use promhttp::axum::MetricsLayer;
//! use promhttp::HttpMetrics;
//!
//! async fn user() -> &'static str { "ok" }
//!
//! let layer = MetricsLayer::new(&HttpMetrics::default()); // the process registry's set
//! let app: Router = Router::new()
//!     .route("/users/{id}", get(user))
//!     .layer(layer.clone())
//!     .route("/metrics", get(layer.handler())); // the registry the layer records into
//! ```
//!
//! Routes added after `.layer(..)` (here `/metrics`) are not recorded: that is
//! axum's rule for `Router::layer`.
//!
//! # When is a request counted
//!
//! - **Request enters the layer**: `http_server_requests_in_flight{method,route}`
//!   goes up and the clock starts. The route is axum's [`MatchedPath`] (nested
//!   routers included); a request that matched no route (404 fallback,
//!   `nest_service`) is recorded as `route="unmatched"`. axum routes a request
//!   before `Router::layer` layers run, so the route is known here and labels the
//!   in-flight gauge (the actix-web middleware, which runs before routing, labels
//!   it by method alone).
//! - **Response body ends** (its last frame is read, it fails, or it is dropped; a
//!   body that is empty from the start ends with the response head): in-flight goes
//!   down, `http_server_requests_total{method,route,status}` goes up and the
//!   duration is observed in `http_server_request_duration_seconds`.
//! - **The response future is dropped before the handler answered** (the client
//!   went away, a timeout fired): recorded as status `499`; if the handler
//!   panicked, as `500`. If the inner service returns an error, `500`.
//! - **The client leaves while sending the request body** (an upload cut
//!   mid-body): the handler's read of the body fails and hyper still runs the
//!   handler to its answer, so the request is recorded with the status the
//!   handler answers (`400` from an extractor such as `Bytes`, or whatever a
//!   handler that keeps partial uploads returns), although no client is left to
//!   read it. The status says what the server answered; `499` means it answered
//!   nothing.
//!
//! Each request is recorded exactly once, and in-flight returns to where it was.
//!
//! # A listener of its own
//!
//! [`serve`] and [`MetricsServer`] run a metrics-only HTTP/1.1 server, off the
//! public listener. It closes a connection that has not sent a complete request
//! head within [`DEFAULT_HEADER_READ_TIMEOUT`] (10 s) of opening or of its
//! previous response, which `axum::serve` does not do: slow senders and idle
//! connections cannot hold its sockets.
//!
//! # The requests a service sends
//!
//! [`ClientMetricsLayer`] wraps any tower HTTP client (a hyper client, a tonic
//! channel) and records its requests into an
//! [`HttpClientMetrics`](promhttp_core::HttpClientMetrics) set, by server
//! address.
//!
//! # gRPC
//!
//! [`GrpcMetricsLayer`] records gRPC server metrics
//! ([`promhttp_core::grpc`]) for tonic and any tower gRPC server.
//!
//! [`MatchedPath`]: axum::extract::MatchedPath

mod client;
mod grpc;
mod handler;
mod layer;
mod server;

pub use client::{ClientMetricsLayer, ClientMetricsService, ClientResponseFuture};
pub use grpc::{
    GrpcClientMetricsLayer, GrpcClientMetricsService, GrpcMetricsLayer, GrpcMetricsService,
    GrpcRequestBody, GrpcResponseBody, GrpcResponseFuture,
};
pub use handler::{
    metrics_endpoint, metrics_handler, metrics_handler_with, ScrapeFuture, ScrapeHandler,
};
pub use layer::{MetricsLayer, MetricsService, ResponseBody, ResponseFuture};
pub use server::{serve, serve_app, serve_on, MetricsServer, DEFAULT_HEADER_READ_TIMEOUT};
