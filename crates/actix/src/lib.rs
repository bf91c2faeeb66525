//! Prometheus HTTP metrics for [actix-web](https://docs.rs/actix-web): one
//! middleware, one route.
//!
//! ```no_run
//! use actix_web::{web, App, HttpServer};
//! use promhttp_actix::{metrics_handler, Metrics};
//! use promhttp_core::HttpMetrics;
//!
//! async fn user() -> &'static str { "ok" }
//!
//! # async fn run() -> std::io::Result<()> {
//! let metrics = HttpMetrics::default(); // the process registry's metric set
//! HttpServer::new(move || {
//!     App::new()
//!         .wrap(Metrics::new(&metrics))
//!         .route("/users/{id}", web::get().to(user))
//!         .route("/metrics", web::get().to(metrics_handler))
//! })
//! .bind("127.0.0.1:3001")?
//! .run()
//! .await
//! # }
//! ```
//!
//! # When is a request counted
//!
//! - **Request enters the middleware**: `http_server_requests_in_flight{method,route}`
//!   goes up and the clock starts. The route is actix-web's
//!   [`match_pattern`](actix_web::HttpRequest::match_pattern) (scopes included); a
//!   request that matched no resource (the default service) is recorded as
//!   `route="unmatched"`.
//! - **Response body ends** (its last chunk is read, it fails, or it is dropped; a
//!   response without a body ends with its head): in-flight goes down,
//!   `http_server_requests_total{method,route,status}` goes up and the duration is
//!   observed in `http_server_request_duration_seconds`.
//! - **The response future is dropped before the handler answered** (the client
//!   went away): recorded as status `499`; if the handler panicked, as `500`. An
//!   error returned through the middleware is recorded with the status of its
//!   error response.
//!
//! Each request is recorded exactly once, and in-flight returns to where it was.
//!
//! actix-web allows half-closed HTTP/1 connections by default, so it cannot tell a
//! client that left from one that only closed its sending side: the handler runs
//! to completion and the request is recorded with the status it produced. With
//! [`HttpServer::h1_allow_half_closed(false)`](actix_web::HttpServer::h1_allow_half_closed)
//! actix-web drops the request when the client goes away, and it is recorded as 499.
//!
//! Wrapping the whole `App` records `/metrics` scrapes too; leave them out with
//! [`HttpMetricsBuilder::ignore_route`](promhttp_core::HttpMetricsBuilder::ignore_route).

mod handler;
mod middleware;

pub use handler::{metrics_endpoint, metrics_handler, metrics_handler_with};
pub use middleware::{Metrics, MetricsMiddleware, ResponseBody, ResponseFuture};
