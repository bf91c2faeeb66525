//! Prometheus HTTP metrics for [actix-web](https://docs.rs/actix-web): one
//! middleware, one route.
//!
//! ```no_run
//! # mod promhttp { pub mod actix { pub use promhttp_actix::*; } pub use promhttp_core::*; }
//! use actix_web::{web, App, HttpServer};
//! use promhttp::actix::Metrics;
//! use promhttp::HttpMetrics;
//!
//! async fn user() -> &'static str { "ok" }
//!
//! # async fn run() -> std::io::Result<()> {
//! let metrics = HttpMetrics::default(); // the process registry's metric set
//! HttpServer::new(move || {
//!     let middleware = Metrics::new(&metrics);
//!     App::new()
//!         .route("/users/{id}", web::get().to(user))
//!         // The registry the middleware records into; every method, so that
//!         // `HEAD` gets `GET`'s headers.
//!         .route("/metrics", web::route().to(middleware.handler()))
//!         .wrap(middleware)
//! })
//! .bind("127.0.0.1:3001")?
//! .run()
//! .await
//! # }
//! ```
//!
//! # When is a request counted
//!
//! - **Request enters the middleware**: `http_server_requests_in_flight{method}`
//!   goes up and the clock starts. The in-flight gauge has no `route` label here:
//!   actix-web routes a request inside the service the middleware wraps, so the
//!   route is not known yet, and finding it before routing would mean matching
//!   the path against every resource (what
//!   [`match_pattern`](actix_web::HttpRequest::match_pattern) does before
//!   routing, several hundred nanoseconds per request). OpenTelemetry's
//!   `http.server.active_requests` leaves the route out for the same reason. A
//!   request to an ignored route without parameters
//!   ([`HttpMetricsBuilder::ignore_route`](promhttp_core::HttpMetricsBuilder::ignore_route)),
//!   told by its path, raises no gauge at all.
//! - **The response comes back through the middleware**: the route is read from
//!   the response's request, after routing, where actix-web has recorded the
//!   resource it routed to: `match_pattern` then walks that resource's scopes
//!   instead of matching the path again. A request that no resource matched (the
//!   default service, a 404 included) is `route="unmatched"`, found without
//!   matching its path again, so a flood of 404s costs no more than hits.
//! - **Response body ends** (its last chunk is read, it fails, or it is dropped; a
//!   response without a body ends with its head): in-flight goes down,
//!   `http_server_requests_total{method,route,status}` goes up and the duration is
//!   observed in `http_server_request_duration_seconds`. A request to an ignored
//!   route with parameters showed in flight while it ran and is not counted.
//! - **The response future is dropped before the handler answered** (the client
//!   went away): recorded as status `499`; if the handler panicked, as `500`. An
//!   error returned through the middleware is recorded with the status of its
//!   error response. None of these brings a response back, so the route is not
//!   known: they are counted under `route="unmatched"`.
//! - **The client leaves while sending the request body** (an upload cut
//!   mid-body): the handler's read of the payload fails and, with half-closed
//!   connections allowed (below), the handler runs to its answer, so the request
//!   is recorded with the status the handler answers (`400` from an extractor
//!   such as `Bytes`, or whatever a handler that keeps partial uploads returns),
//!   although no client is left to read it. The status says what the server
//!   answered; `499` means it answered nothing.
//!
//! Each request is recorded exactly once, and in-flight returns to where it was.
//!
//! actix-web allows half-closed HTTP/1 connections by default, so it cannot tell a
//! client that left from one that only closed its sending side: the handler runs
//! to completion and the request is recorded with the status it produced. With
//! [`HttpServer::h1_allow_half_closed(false)`](actix_web::HttpServer::h1_allow_half_closed)
//! actix-web drops the request when the client goes away, and it is recorded as
//! 499; that includes a handler still at work after an upload was cut.
//!
//! Wrapping the whole `App` records `/metrics` scrapes too; leave them out with
//! [`HttpMetricsBuilder::ignore_route`](promhttp_core::HttpMetricsBuilder::ignore_route).
//!
//! Two limits of telling requests apart without matching their path again:
//!
//! - An ignored route is recognised before routing by comparing the request's
//!   path (as the router will match it, percent-decoding included) with the
//!   ignored templates that have no parameters. One with parameters is only
//!   known after routing, hence the in-flight rule above.
//! - A path equal to a scope's own path with no resource at the scope's root
//!   (`GET /api` with `web::scope("/api")` holding only `/items`) is consumed by
//!   routing without matching a resource; for it, and only for it,
//!   `match_pattern` matches the path again (to find nothing: `unmatched`).

mod handler;
mod middleware;
mod server;

pub use handler::{metrics_endpoint, metrics_handler, metrics_handler_with};
pub use middleware::{Metrics, MetricsMiddleware, ResponseBody, ResponseFuture};
pub use server::{serve, serve_on, DEFAULT_HEADER_READ_TIMEOUT};
