//! The actix-web middleware: [`Metrics`], the [`MetricsMiddleware`] service, its
//! [`ResponseFuture`] and [`ResponseBody`].

use std::future::{ready, Future, Ready};
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use actix_web::body::{BodySize, MessageBody};
use actix_web::dev::{forward_ready, Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::web::Bytes;
use actix_web::Error;
use pin_project_lite::pin_project;
use promhttp_core::{HttpMethod, HttpMetrics, RequestGuard};

/// actix-web middleware that records the HTTP metrics of every request through the
/// app or scope it wraps: `App::new().wrap(Metrics::new(&metrics))`.
#[derive(Clone, Debug)]
pub struct Metrics {
    metrics: HttpMetrics,
}

impl Metrics {
    /// Middleware recording into `metrics`.
    #[must_use]
    pub fn new(metrics: &HttpMetrics) -> Self {
        Self {
            metrics: metrics.clone(),
        }
    }
}

impl<S, B> Transform<S, ServiceRequest> for Metrics
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error>,
    B: MessageBody,
{
    type Response = ServiceResponse<ResponseBody<B>>;
    type Error = Error;
    type Transform = MetricsMiddleware<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(MetricsMiddleware {
            service,
            metrics: self.metrics.clone(),
        }))
    }
}

/// The service made by the [`Metrics`] transform.
#[derive(Debug)]
pub struct MetricsMiddleware<S> {
    service: S,
    metrics: HttpMetrics,
}

impl<S, B> Service<ServiceRequest> for MetricsMiddleware<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error>,
    B: MessageBody,
{
    type Response = ServiceResponse<ResponseBody<B>>;
    type Error = Error;
    type Future = ResponseFuture<S::Future>;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        // The in-flight gauge is labelled by route, so the route is needed before
        // the request moves on. actix-web routes it inside the inner service and
        // offers no way back to it afterwards, so `match_pattern` matches the path
        // against the app's resources here: most of this middleware's cost.
        let route = req.match_pattern();
        let guard = self
            .metrics
            .route(route.as_deref())
            .start(HttpMethod::from_token(req.method().as_str()));
        ResponseFuture {
            inner: self.service.call(req),
            guard,
        }
    }
}

pin_project! {
    /// The response future of [`MetricsMiddleware`].
    ///
    /// Dropped before the inner service answers, it records the request as
    /// cancelled (status 499), or as 500 when the handler panicked.
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        guard: Option<RequestGuard>,
    }
}

impl<F, B> Future for ResponseFuture<F>
where
    F: Future<Output = Result<ServiceResponse<B>, Error>>,
    B: MessageBody,
{
    type Output = Result<ServiceResponse<ResponseBody<B>>, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut inner = this.inner;
        let result = ready!(RequestGuard::poll_scope(this.guard, || inner
            .as_mut()
            .poll(cx)));
        let guard = this.guard.take();
        Poll::Ready(match result {
            Ok(response) => {
                let guard = guard.map(|g| g.with_status(response.status().as_u16()));
                Ok(response.map_body(|_, body| ResponseBody::new(body, guard)))
            }
            Err(err) => {
                // actix-web turns the error into a response with this status.
                let status = err.as_response_error().status_code().as_u16();
                drop(guard.map(|g| g.with_status(status)));
                Err(err)
            }
        })
    }
}

pin_project! {
    /// The response body of [`MetricsMiddleware`]: the inner body, which closes the
    /// request's books when it ends, fails or is dropped.
    pub struct ResponseBody<B> {
        #[pin]
        inner: B,
        guard: Option<RequestGuard>,
        // Bytes still to come of a body of known length.
        remaining: Option<u64>,
    }
}

impl<B: MessageBody> ResponseBody<B> {
    fn new(inner: B, guard: Option<RequestGuard>) -> Self {
        let (guard, remaining) = match inner.size() {
            // No body, or an empty one: the response ends with its head.
            BodySize::None | BodySize::Sized(0) => (None, None),
            BodySize::Sized(len) => (guard, Some(len)),
            BodySize::Stream => (guard, None),
        };
        Self {
            inner,
            guard,
            remaining,
        }
    }
}

impl<B: MessageBody> MessageBody for ResponseBody<B> {
    type Error = B::Error;

    #[inline]
    fn size(&self) -> BodySize {
        self.inner.size()
    }

    /// A body that is one buffer is complete: the request ends here, and
    /// actix-web writes the bytes without polling a stream.
    fn try_into_bytes(self) -> Result<Bytes, Self> {
        let Self {
            inner,
            guard,
            remaining,
        } = self;
        match inner.try_into_bytes() {
            Ok(bytes) => {
                drop(guard);
                Ok(bytes)
            }
            Err(inner) => Err(Self {
                inner,
                guard,
                remaining,
            }),
        }
    }

    fn poll_next(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        let this = self.project();
        let chunk = ready!(this.inner.poll_next(cx));
        let ended = match (&chunk, this.remaining) {
            (Some(Ok(bytes)), Some(remaining)) => {
                // A body of known length has ended once all of it was read, even
                // if nobody polls it again.
                *remaining = remaining.saturating_sub(bytes.len() as u64);
                *remaining == 0
            }
            (Some(Ok(_)), None) => false,
            (None | Some(Err(_)), _) => true,
        };
        if ended {
            drop(this.guard.take());
        }
        Poll::Ready(chunk)
    }
}
