//! Benchmarks of promhttp; see `benches/` and BENCHMARKS.md.
//!
//! The apps and the request loops that `benches/request_overhead.rs` and
//! `examples/overhead_table.rs` both measure, so the two always measure the same.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use actix_web::body::MessageBody;
use actix_web::dev::ServiceResponse;
use actix_web::{test as actix_test, web};
use axum::body::Body;
use axum::http::Request;
use axum::routing::get;
use axum::Router;
use http_body_util::BodyExt as _;
use tower::Service as _;

/// Polls a future that never waits on I/O to completion, with no runtime.
pub fn run<F: Future>(fut: F) -> F::Output {
    let mut fut = pin!(fut);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return out;
        }
    }
}

/// The axum app measured: an index and a templated route.
pub fn axum_routes() -> Router {
    Router::new()
        .route("/", get(|| async { "index" }))
        .route("/users/{id}", get(|| async { "user" }))
}

/// `GET /users/42` through `router`, its body read to the end; the body's length.
pub fn axum_request(router: &mut Router) -> usize {
    let req = Request::get("/users/42").body(Body::empty()).unwrap();
    let res = run(router.call(req)).unwrap();
    let mut body = pin!(res.into_body());
    let mut len = 0;
    while let Some(frame) = run(body.as_mut().frame()) {
        len += frame.unwrap().into_data().map_or(0, |d| d.len());
    }
    len
}

/// The actix-web app measured, the same routes as [`axum_routes`].
pub fn actix_routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(|| async { "index" }))
        .route("/users/{id}", web::get().to(|| async { "user" }));
}

/// `GET /users/42` through `app`, its body read to the end; the body's length.
pub fn actix_request<S, B>(app: &S) -> usize
where
    S: actix_web::dev::Service<
        actix_http::Request,
        Response = ServiceResponse<B>,
        Error = actix_web::Error,
    >,
    B: MessageBody,
{
    let req = actix_test::TestRequest::get().uri("/users/42").to_request();
    let res = run(app.call(req)).unwrap();
    let mut body = pin!(res.into_body());
    let mut len = 0;
    while let Some(chunk) = run(std::future::poll_fn(|cx| body.as_mut().poll_next(cx))) {
        len += chunk
            .unwrap_or_else(|_| panic!("the response body failed"))
            .len();
    }
    len
}
