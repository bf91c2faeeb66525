//! [`MetricsEndpoint`]: the `/metrics` route's policy — authentication, a limit on
//! concurrent scrapes, a timeout — and the counter of refused or failed scrapes.

use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use crate::exposition::{Plan, ScrapeResponse};
use crate::registry::Registry;

/// The default limit on scrapes served at the same time.
pub const DEFAULT_MAX_CONCURRENT_SCRAPES: usize = 16;

/// The smallest body a [`MetricsEndpoint`] compresses by default, in bytes:
/// below it gzip's own header and the time spent outweigh the bytes saved.
pub const DEFAULT_COMPRESSION_THRESHOLD: usize = 1024;

/// A scrape as a framework adapter passes it on: the request's method and the
/// headers that decide the answer.
#[derive(Debug, Clone, Copy, Default)]
pub struct ScrapeRequest<'a> {
    /// The request method (`GET`, `HEAD`, ...).
    pub method: &'a str,
    /// The `Accept` header, raw.
    pub accept: Option<&'a [u8]>,
    /// The `Accept-Encoding` header, raw.
    pub accept_encoding: Option<&'a [u8]>,
    /// The `Authorization` header, raw.
    pub authorization: Option<&'a [u8]>,
    /// The query string of the request's URL, if any: `format=openmetrics`,
    /// `format=text` or `format=protobuf` chooses the format whatever `Accept`
    /// says (for scrapers that cannot set it, such as Prometheus' `params`, and for
    /// a look in a browser); another value gets `400`.
    pub query: Option<&'a str>,
}

/// Why a scrape was refused or failed: the `cause` label of
/// `promhttp_metric_handler_errors_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ScrapeFailure {
    /// Missing or wrong credentials (401).
    Unauthorized,
    /// More scrapes in progress than allowed (503).
    TooManyScrapes,
    /// Encoding took longer than the timeout (503).
    Timeout,
    /// A registered metric or collector failed to encode (500).
    Encoding,
}

impl ScrapeFailure {
    /// The `cause` label value.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Unauthorized => "unauthorized",
            Self::TooManyScrapes => "too_many_scrapes",
            Self::Timeout => "timeout",
            Self::Encoding => "encoding",
        }
    }
}

/// The scrape counters of one registry: refusals and failures by cause, and
/// scrapes served by format. Registered in the registry on first use, written
/// straight into the encoder.
pub(crate) struct Counters {
    errors: [AtomicU64; 4],
    served: [AtomicU64; 3],
    /// When the counters were registered: their start, in seconds since the
    /// Unix epoch.
    created: f64,
}

impl Default for Counters {
    fn default() -> Self {
        Self {
            errors: Default::default(),
            served: Default::default(),
            created: crate::family::unix_now(),
        }
    }
}

/// The causes, in the order of `Counters::errors`.
const CAUSES: [ScrapeFailure; 4] = [
    ScrapeFailure::Unauthorized,
    ScrapeFailure::TooManyScrapes,
    ScrapeFailure::Timeout,
    ScrapeFailure::Encoding,
];

/// The wire formats, in the order of `Counters::served`.
const SERVED: [&str; 3] = ["openmetrics", "text", "protobuf"];

pub(crate) type Failures = Arc<Counters>;

impl Counters {
    fn failed(&self, failure: ScrapeFailure) {
        if let Some(i) = CAUSES.iter().position(|c| *c == failure) {
            self.errors[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    fn served(&self, format: crate::Format) {
        let i = match format.dialect() {
            crate::encode::Dialect::OpenMetrics => 0,
            crate::encode::Dialect::Text => 1,
            crate::encode::Dialect::Protobuf => 2,
        };
        self.served[i].fetch_add(1, Ordering::Relaxed);
    }
}

impl crate::registry::Source for Counters {
    fn encode(&self, out: &mut crate::encode::Encoder) {
        write_counters(
            out,
            ERRORS,
            "Scrapes of this registry refused or failed, by cause.",
            "cause",
            CAUSES.iter().map(|c| c.as_str()).zip(&self.errors),
            self.created,
        );
        write_counters(
            out,
            SERVED_FAMILY,
            "Scrapes of this registry answered, by wire format.",
            "format",
            SERVED.iter().copied().zip(&self.served),
            self.created,
        );
    }
}

/// One counter family with one label, a series per value.
fn write_counters<'a>(
    out: &mut crate::encode::Encoder,
    name: &str,
    help: &str,
    label: &str,
    series: impl Iterator<Item = (&'a str, &'a AtomicU64)>,
    created: f64,
) {
    out.family(&crate::encode::Descriptor::new(
        name,
        crate::family::MetricType::Counter,
        help,
    ));
    for (value, n) in series {
        #[allow(clippy::cast_precision_loss)]
        out.counter(
            &[(label, value)],
            n.load(Ordering::Relaxed) as f64,
            Some(created),
            None,
        );
    }
}

const ERRORS: &str = "promhttp_metric_handler_errors";
const SERVED_FAMILY: &str = "promhttp_metric_handler_requests";

/// How a registry is served: who may scrape it, how many at once, how long an
/// encoding may take.
///
/// ```
/// # mod promhttp { pub use promhttp_core::*; }
/// use std::time::Duration;
/// use promhttp::{MetricsEndpoint, Registry};
///
/// let registry = Registry::new();
/// let endpoint = MetricsEndpoint::new(&registry)
///     .bearer_token("s3cret")?
///     .max_concurrent_scrapes(4)
///     .timeout(Duration::from_secs(5));
///
/// assert_eq!(endpoint.scrape("GET", None, None).status, 401);
/// let ok = endpoint.scrape("GET", None, Some(b"Bearer s3cret"));
/// assert_eq!(ok.status, 200);
/// # Ok::<(), promhttp::EndpointError>(())
/// ```
///
/// Credentials are compared in constant time with respect to their content.
/// Refusals and failures are counted in `promhttp_metric_handler_errors_total`
/// `{cause="unauthorized"|"too_many_scrapes"|"timeout"|"encoding"}`, registered
/// once per registry (as client_golang's handler does).
#[derive(Clone)]
pub struct MetricsEndpoint {
    inner: Arc<Inner>,
}

struct Inner {
    registry: Registry,
    auth: Option<Auth>,
    max_concurrent: usize,
    timeout: Option<Duration>,
    compression_threshold: usize,
    in_progress: AtomicUsize,
    failures: Failures,
}

enum Auth {
    /// The expected credentials after the scheme, and the scheme.
    Bearer(Vec<u8>),
    Basic(Vec<u8>),
}

impl fmt::Debug for MetricsEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let auth = match self.inner.auth {
            None => "none",
            Some(Auth::Bearer(_)) => "bearer",
            Some(Auth::Basic(_)) => "basic",
        };
        f.debug_struct("MetricsEndpoint")
            .field("auth", &auth)
            .field("max_concurrent", &self.inner.max_concurrent)
            .field("timeout", &self.inner.timeout)
            .finish_non_exhaustive()
    }
}

impl From<&Registry> for MetricsEndpoint {
    fn from(registry: &Registry) -> Self {
        Self::new(registry)
    }
}

impl From<Registry> for MetricsEndpoint {
    fn from(registry: Registry) -> Self {
        Self::new(&registry)
    }
}

impl MetricsEndpoint {
    /// Serves `registry` to anyone, at most
    /// [`DEFAULT_MAX_CONCURRENT_SCRAPES`] at a time, with no timeout.
    #[must_use]
    pub fn new(registry: &Registry) -> Self {
        Self {
            inner: Arc::new(Inner {
                registry: registry.clone(),
                auth: None,
                max_concurrent: DEFAULT_MAX_CONCURRENT_SCRAPES,
                timeout: None,
                compression_threshold: DEFAULT_COMPRESSION_THRESHOLD,
                in_progress: AtomicUsize::new(0),
                failures: failures_of(registry),
            }),
        }
    }

    fn with(self, f: impl FnOnce(&mut Inner)) -> Self {
        let mut inner = Arc::try_unwrap(self.inner).unwrap_or_else(|shared| Inner {
            registry: shared.registry.clone(),
            auth: shared.auth.as_ref().map(|a| match a {
                Auth::Bearer(t) => Auth::Bearer(t.clone()),
                Auth::Basic(t) => Auth::Basic(t.clone()),
            }),
            max_concurrent: shared.max_concurrent,
            timeout: shared.timeout,
            compression_threshold: shared.compression_threshold,
            in_progress: AtomicUsize::new(0),
            failures: shared.failures.clone(),
        });
        f(&mut inner);
        Self {
            inner: Arc::new(inner),
        }
    }

    /// Requires `Authorization: Bearer <token>`.
    ///
    /// # Errors
    /// [`EndpointError::InvalidToken`] when the token is empty or has characters
    /// a header cannot carry (only visible ASCII is allowed).
    pub fn bearer_token(self, token: impl AsRef<str>) -> Result<Self, EndpointError> {
        let token = token.as_ref();
        if token.is_empty() || !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(EndpointError::InvalidToken);
        }
        let token = token.as_bytes().to_vec();
        Ok(self.with(|inner| inner.auth = Some(Auth::Bearer(token))))
    }

    /// Requires `Authorization: Basic` with this user and password.
    ///
    /// # Errors
    /// [`EndpointError::InvalidUser`] when the user is empty or contains `:`
    /// (which basic authentication cannot carry) or a control character.
    pub fn basic_auth(
        self,
        user: impl AsRef<str>,
        password: impl AsRef<str>,
    ) -> Result<Self, EndpointError> {
        let user = user.as_ref();
        if user.is_empty() || user.contains(':') || user.chars().any(char::is_control) {
            return Err(EndpointError::InvalidUser);
        }
        let credentials = base64(format!("{user}:{}", password.as_ref()).as_bytes());
        Ok(self.with(|inner| inner.auth = Some(Auth::Basic(credentials.into_bytes()))))
    }

    /// Answers `503` to a scrape that arrives while `max` are in progress. Zero
    /// means no limit.
    #[must_use]
    pub fn max_concurrent_scrapes(self, max: usize) -> Self {
        self.with(|inner| inner.max_concurrent = if max == 0 { usize::MAX } else { max })
    }

    /// Answers `503` when encoding takes longer than `timeout`. Enforced by the
    /// framework adapters, which encode off the request's task when a timeout is
    /// set; [`MetricsEndpoint::scrape`] itself is synchronous.
    #[must_use]
    pub fn timeout(self, timeout: Duration) -> Self {
        self.with(|inner| inner.timeout = Some(timeout))
    }

    /// Bodies smaller than this many bytes are sent uncompressed even to a scraper
    /// that accepts gzip (default [`DEFAULT_COMPRESSION_THRESHOLD`]; `usize::MAX`
    /// never compresses).
    #[must_use]
    pub fn compression_threshold(self, bytes: usize) -> Self {
        self.with(|inner| inner.compression_threshold = bytes)
    }

    /// Answers a scrape, start to end; what both framework adapters call.
    ///
    /// In order: credentials (`401`), the concurrency limit (`503`), the method
    /// (`405`), a `format` query parameter (`400` for an unknown one) or else the
    /// `Accept` header (`406`, see
    /// [`ContentType::negotiate`](crate::ContentType::negotiate)); then the
    /// registry is encoded on tokio's blocking pool, so that a large registry or
    /// a slow collector never stalls the runtime, and gzipped when the scraper
    /// accepts it and the body reaches the
    /// [compression threshold](Self::compression_threshold). A scrape that
    /// overruns the [timeout](Self::timeout) gets `503`; its permit is given back
    /// when the encoding ends, so overrunning scrapes cannot pile up past the
    /// limit. Every refusal and failure is counted in
    /// `promhttp_metric_handler_errors_total`.
    ///
    /// Must be called inside a tokio runtime (axum's, or actix-web's, which is
    /// tokio's).
    ///
    /// An endpoint of the process registry logs a warning, once per process,
    /// when every HTTP metric set was built into another registry
    /// ([`http_sets_elsewhere`](crate::http_sets_elsewhere)): its answers would
    /// silently lack the request metrics.
    pub async fn respond(&self, request: &ScrapeRequest<'_>) -> ScrapeResponse {
        if crate::global::is_default(&self.inner.registry) {
            crate::global::check_default_served();
        }
        let permit = match self.admit(request.authorization) {
            Ok(permit) => permit,
            Err(refusal) => return refusal,
        };
        let plan = match Plan::of(
            request.method,
            request.accept,
            request.accept_encoding,
            request.query,
        ) {
            Ok(plan) => plan,
            Err(refusal) => return refusal,
        };
        // `HEAD` is encoded as `GET` would be, to answer its `Content-Length`.
        let threshold = self.inner.compression_threshold;
        let format = plan.content_type.format;
        // The permit goes with the encoding: an encoding that overruns the
        // timeout holds it until it ends.
        let encoding = tokio::task::spawn_blocking(move || {
            let endpoint = &permit.endpoint;
            endpoint.inner.registry.encode_answer(&plan, threshold)
        });
        let finished = match self.inner.timeout {
            Some(timeout) => match tokio::time::timeout(timeout, encoding).await {
                Ok(finished) => finished,
                // Counted once, as a timeout: what the encoding gives later is
                // served to no one.
                Err(_elapsed) => return self.timed_out(),
            },
            None => encoding.await,
        };
        if let Ok(response) = &finished {
            if response.status == 500 {
                self.count(ScrapeFailure::Encoding);
            } else {
                self.inner.failures.served(format);
            }
        }
        finished.unwrap_or_else(|_panicked| {
            self.count(ScrapeFailure::Encoding);
            ScrapeResponse {
                status: 500,
                content_type: PLAIN,
                body: b"500 Internal Server Error: encoding panicked\n".to_vec(),
                headers: Vec::new(),
                content_length: None,
            }
        })
    }

    /// The timeout, if one is set.
    #[must_use]
    pub fn scrape_timeout(&self) -> Option<Duration> {
        self.inner.timeout
    }

    /// The registry served.
    #[must_use]
    pub fn registry(&self) -> &Registry {
        &self.inner.registry
    }

    /// Checks credentials and the concurrency limit. `Ok` holds a permit for
    /// the scrape (released when dropped); `Err` is the refusal to send.
    ///
    /// # Errors
    /// The 401 or 503 response, already counted as a failure.
    pub fn admit(&self, authorization: Option<&[u8]>) -> Result<ScrapePermit, ScrapeResponse> {
        if !self.authorized(authorization) {
            self.count(ScrapeFailure::Unauthorized);
            let challenge = match self.inner.auth {
                Some(Auth::Basic(_)) => "Basic realm=\"metrics\", charset=\"UTF-8\"",
                _ => "Bearer realm=\"metrics\"",
            };
            return Err(ScrapeResponse {
                status: 401,
                content_type: PLAIN,
                body: b"401 Unauthorized: this metrics endpoint requires credentials\n".to_vec(),
                headers: vec![("www-authenticate", challenge)],
                content_length: None,
            });
        }
        let before = self.inner.in_progress.fetch_add(1, Ordering::AcqRel);
        let permit = ScrapePermit {
            endpoint: self.clone(),
        };
        if before >= self.inner.max_concurrent {
            drop(permit);
            self.count(ScrapeFailure::TooManyScrapes);
            return Err(unavailable(
                "503 Service Unavailable: too many scrapes in progress\n",
            ));
        }
        Ok(permit)
    }

    /// Answers a whole scrape synchronously: [`admit`](Self::admit), then
    /// [`Registry::scrape`]. The timeout is not applied here.
    #[must_use]
    pub fn scrape(
        &self,
        method: &str,
        accept: Option<&[u8]>,
        authorization: Option<&[u8]>,
    ) -> ScrapeResponse {
        match self.admit(authorization) {
            Ok(permit) => permit.scrape(method, accept),
            Err(refusal) => refusal,
        }
    }

    /// The answer to a scrape whose encoding overran the timeout; counts it.
    #[must_use]
    pub fn timed_out(&self) -> ScrapeResponse {
        self.count(ScrapeFailure::Timeout);
        unavailable(
            "503 Service Unavailable: encoding the metrics took longer than the scrape timeout\n",
        )
    }

    fn count(&self, failure: ScrapeFailure) {
        self.inner.failures.failed(failure);
    }

    fn authorized(&self, authorization: Option<&[u8]>) -> bool {
        let (scheme, expected) = match &self.inner.auth {
            None => return true,
            Some(Auth::Bearer(token)) => ("bearer", token),
            Some(Auth::Basic(credentials)) => ("basic", credentials),
        };
        let Some(header) = authorization else {
            return false;
        };
        let header = trim_ascii(header);
        let split = header
            .iter()
            .position(|&b| b == b' ')
            .unwrap_or(header.len());
        let (given_scheme, rest) = header.split_at(split);
        // The scheme is public; only the credentials are compared in constant time.
        given_scheme.eq_ignore_ascii_case(scheme.as_bytes())
            & constant_time_eq(trim_ascii(rest), expected)
    }
}

/// A scrape admitted by [`MetricsEndpoint::admit`]; it counts towards the
/// concurrency limit until dropped.
pub struct ScrapePermit {
    endpoint: MetricsEndpoint,
}

impl fmt::Debug for ScrapePermit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ScrapePermit")
    }
}

impl ScrapePermit {
    /// Encodes the registry for this request, counting an encoding failure.
    #[must_use]
    pub fn scrape(self, method: &str, accept: Option<&[u8]>) -> ScrapeResponse {
        let plan = match Plan::of(method, accept, None, None) {
            Ok(plan) => plan,
            Err(refusal) => return refusal,
        };
        let response = self
            .endpoint
            .inner
            .registry
            .encode_answer(&plan, usize::MAX);
        if response.status == 500 {
            self.endpoint.count(ScrapeFailure::Encoding);
        } else {
            self.endpoint
                .inner
                .failures
                .served(plan.content_type.format);
        }
        response
    }
}

impl Drop for ScrapePermit {
    fn drop(&mut self) {
        self.endpoint
            .inner
            .in_progress
            .fetch_sub(1, Ordering::AcqRel);
    }
}

/// Why an endpoint could not be configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum EndpointError {
    /// A bearer token must be non-empty visible ASCII.
    InvalidToken,
    /// A basic-auth user must be non-empty, without `:` or control characters.
    InvalidUser,
}

impl fmt::Display for EndpointError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::InvalidToken => {
                "invalid bearer token: it must be non-empty and made of visible ASCII characters"
            }
            Self::InvalidUser => {
                "invalid basic-auth user: it must be non-empty, without ':' or control characters"
            }
        })
    }
}

impl std::error::Error for EndpointError {}

const PLAIN: &str = "text/plain; charset=utf-8";

fn unavailable(body: &str) -> ScrapeResponse {
    ScrapeResponse {
        status: 503,
        content_type: PLAIN,
        body: body.as_bytes().to_vec(),
        headers: vec![("retry-after", "1")],
        content_length: None,
    }
}

/// The scrape counters of `registry`, registered on first use. If their names are
/// taken by something else, they still count but are not exposed.
fn failures_of(registry: &Registry) -> Failures {
    static UNREGISTERED: OnceLock<()> = OnceLock::new();
    registry.singleton(|| {
        let counters = Arc::new(Counters::default());
        let names = [ERRORS, SERVED_FAMILY]
            .iter()
            .flat_map(|name| crate::family::MetricType::Counter.sample_names(name))
            .collect();
        let source: Arc<dyn crate::registry::Source> = counters.clone();
        if let Err(err) = registry.add_source(names, source) {
            UNREGISTERED.get_or_init(|| {
                tracing::warn!(%err, "promhttp: the scrape counters are not exposed");
            });
        }
        counters
    })
}

fn trim_ascii(mut bytes: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = bytes {
        bytes = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = bytes {
        bytes = rest;
    }
    bytes
}

/// Compares in time that depends on the lengths only, not on where the first
/// difference is.
fn constant_time_eq(given: &[u8], expected: &[u8]) -> bool {
    let mut diff = u8::from(given.len() != expected.len());
    for (i, &e) in expected.iter().enumerate() {
        diff |= std::hint::black_box(given.get(i).copied().unwrap_or(!e) ^ e);
    }
    diff == 0
}

fn base64(input: &[u8]) -> String {
    base64_with(input, BASE64_STANDARD)
}

/// RFC 4648's base64 alphabet.
pub(crate) const BASE64_STANDARD: &[u8; 64] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
/// RFC 4648's URL- and filename-safe alphabet.
#[cfg(feature = "fetch")]
pub(crate) const BASE64_URL_SAFE: &[u8; 64] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// RFC 4648 base64 of `input` with `alphabet`, padded with `=`.
pub(crate) fn base64_with(input: &[u8], alphabet: &[u8; 64]) -> String {
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(char::from(alphabet[(n >> shift) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc_4648_vectors() {
        let cases = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (input, expected) in cases {
            assert_eq!(base64(input.as_bytes()), expected);
        }
    }

    #[test]
    fn credentials_are_checked() {
        let registry = Registry::new();
        let bearer = MetricsEndpoint::new(&registry).bearer_token("tok").unwrap();
        for (header, ok) in [
            (None, false),
            (Some(&b"Bearer tok"[..]), true),
            (Some(b"bearer  tok "), true),
            (Some(b"Bearer to"), false),
            (Some(b"Bearer tokk"), false),
            (Some(b"Basic tok"), false),
            (Some(b"tok"), false),
            (Some(b"Bearer \xff"), false),
        ] {
            assert_eq!(bearer.authorized(header), ok, "{header:?}");
        }
        let basic = MetricsEndpoint::new(&registry)
            .basic_auth("prometheus", "p@ss:word")
            .unwrap();
        let good = format!("Basic {}", base64(b"prometheus:p@ss:word"));
        assert!(basic.authorized(Some(good.as_bytes())));
        assert!(!basic.authorized(Some(b"Basic cHJvbWV0aGV1czp4")));
        assert!(MetricsEndpoint::new(&registry).bearer_token("a b").is_err());
        assert!(MetricsEndpoint::new(&registry)
            .basic_auth("a:b", "x")
            .is_err());
    }

    #[test]
    fn concurrency_limit_refuses_and_releases() {
        let registry = Registry::new();
        let endpoint = MetricsEndpoint::new(&registry).max_concurrent_scrapes(1);
        let first = endpoint.admit(None).unwrap();
        let refused = endpoint.admit(None).unwrap_err();
        assert_eq!(refused.status, 503);
        drop(first);
        assert!(endpoint.admit(None).is_ok());
        let text = registry.encode(crate::Format::Text).unwrap();
        assert!(text.contains("promhttp_metric_handler_errors_total{cause=\"too_many_scrapes\"} 1"));
    }

    use std::io::Read as _;
    use std::sync::mpsc;
    use std::sync::Mutex;

    use crate::family::{MetricFamily, MetricType};
    use crate::source::FamilySource;
    use crate::Format;

    /// The scrape counters' series, as `cause` or `format` label and value.
    fn counted(registry: &Registry) -> Vec<String> {
        registry
            .encode(Format::Text)
            .unwrap()
            .lines()
            .filter(|l| l.starts_with("promhttp_metric_handler_"))
            .map(|l| {
                let l = l.strip_prefix("promhttp_metric_handler_").unwrap();
                l.replace("errors_total{cause=\"", "")
                    .replace("requests_total{format=\"", "")
                    .replace("\"}", "")
            })
            .collect()
    }

    fn counts(errors: [u64; 4], served: [u64; 3]) -> Vec<String> {
        let causes = ["unauthorized", "too_many_scrapes", "timeout", "encoding"];
        causes
            .iter()
            .zip(errors)
            .chain(SERVED.iter().zip(served))
            .map(|(k, n)| format!("{k} {n}"))
            .collect()
    }

    fn request<'a>(accept: Option<&'a [u8]>, query: Option<&'a str>) -> ScrapeRequest<'a> {
        ScrapeRequest {
            method: "GET",
            accept,
            query,
            ..ScrapeRequest::default()
        }
    }

    #[tokio::test]
    async fn respond_answers_each_format_and_counts_it() {
        let registry = Registry::new();
        let endpoint = MetricsEndpoint::from(&registry);
        assert!(endpoint.registry().same_as(&registry));
        assert_eq!(endpoint.scrape_timeout(), None);
        let om = endpoint
            .respond(&request(Some(b"application/openmetrics-text"), None))
            .await;
        assert_eq!(om.status, 200);
        assert_eq!(om.content_type, Format::OpenMetrics.content_type());
        assert_eq!(om.headers, vec![("vary", "accept-encoding")]);
        let text = String::from_utf8(om.body).unwrap();
        // The counters are in the registry from the endpoint's creation; this
        // scrape is counted once it is answered.
        assert!(text.contains("promhttp_metric_handler_requests_total{format=\"openmetrics\"} 0\n"));
        assert!(text.ends_with("# EOF\n"));
        let forced = endpoint
            .respond(&request(
                Some(b"application/openmetrics-text"),
                Some("a=1&format=text"),
            ))
            .await;
        assert_eq!(forced.content_type, Format::Text.content_type());
        assert!(String::from_utf8(forced.body)
            .unwrap()
            .contains("promhttp_metric_handler_requests_total{format=\"openmetrics\"} 1\n"));
        let proto = endpoint
            .respond(&request(None, Some("format=protobuf")))
            .await;
        assert_eq!(proto.content_type, Format::Protobuf.content_type());
        assert_eq!(
            endpoint
                .respond(&request(None, Some("format=openmetrics")))
                .await
                .content_type,
            Format::OpenMetrics.content_type()
        );
        let bad = endpoint.respond(&request(None, Some("format=json"))).await;
        assert_eq!(bad.status, 400);
        assert_eq!(
            bad.body,
            b"400 Bad Request: format=\"json\" is not one of openmetrics, text, protobuf\n"
        );
        let refused = endpoint
            .respond(&request(Some(b"application/json"), None))
            .await;
        assert_eq!(refused.status, 406);
        let head = endpoint
            .respond(&ScrapeRequest {
                method: "HEAD",
                ..ScrapeRequest::default()
            })
            .await;
        assert_eq!((head.status, head.body.len()), (200, 0));
        assert!(head.content_length.is_some_and(|n| n > 100), "{head:?}");
        let post = endpoint
            .respond(&ScrapeRequest {
                method: "POST",
                ..ScrapeRequest::default()
            })
            .await;
        assert_eq!(
            (post.status, post.headers),
            (405, vec![("allow", "GET, HEAD")])
        );
        // Refusals of the request itself are not failures of the endpoint; HEAD
        // is encoded as GET would be (for its `Content-Length`) and counted.
        assert_eq!(counted(&registry), counts([0; 4], [2, 2, 1]));
        // A second endpoint on the registry shares its counters.
        let other = MetricsEndpoint::from(registry.clone());
        let _ = other.scrape("GET", None, None);
        let _ = other.scrape("GET", Some(b"application/openmetrics-text"), None);
        assert_eq!(counted(&registry), counts([0; 4], [3, 3, 1]));
        let head = other.scrape("HEAD", None, None);
        assert_eq!((head.status, head.body.len()), (200, 0));
        assert_eq!(other.scrape("PUT", None, None).status, 405);
        // The HEAD counted, the PUT not.
        assert_eq!(counted(&registry), counts([0; 4], [3, 4, 1]));
    }

    #[tokio::test]
    async fn respond_compresses_from_the_threshold() {
        let registry = Registry::new();
        let endpoint = MetricsEndpoint::new(&registry);
        let gzip = |accept_encoding: &'static [u8]| ScrapeRequest {
            method: "GET",
            accept_encoding: Some(accept_encoding),
            ..ScrapeRequest::default()
        };
        let plain = endpoint.respond(&request(None, None)).await.body;
        let size = plain.len();
        // Below the default threshold, never compressed.
        assert!(size < DEFAULT_COMPRESSION_THRESHOLD);
        assert_eq!(endpoint.respond(&gzip(b"gzip")).await.headers.len(), 1);
        for (threshold, compressed) in [(size, true), (size + 1, false)] {
            let endpoint = endpoint.clone().compression_threshold(threshold);
            let answer = endpoint.respond(&gzip(b"br, gzip")).await;
            let expected = if compressed {
                vec![("vary", "accept-encoding"), ("content-encoding", "gzip")]
            } else {
                vec![("vary", "accept-encoding")]
            };
            assert_eq!(answer.headers, expected, "threshold {threshold}");
            let body = if compressed {
                let mut body = Vec::new();
                flate2::read::GzDecoder::new(&answer.body[..])
                    .read_to_end(&mut body)
                    .unwrap();
                body
            } else {
                answer.body
            };
            // The served counter moved on by one scrape between the two.
            assert_eq!(body.len(), size, "threshold {threshold}");
            let no_gzip = endpoint.respond(&gzip(b"gzip;q=0, identity")).await;
            assert_eq!(no_gzip.headers.len(), 1);
        }
    }

    #[test]
    fn refusals_are_answered_and_counted_by_cause() {
        let registry = Registry::new();
        let endpoint = MetricsEndpoint::new(&registry)
            .bearer_token("tok")
            .unwrap()
            .max_concurrent_scrapes(1);
        let no = endpoint.scrape("GET", None, None);
        assert_eq!(no.status, 401);
        assert_eq!(
            no.headers,
            vec![("www-authenticate", "Bearer realm=\"metrics\"")]
        );
        assert_eq!(
            no.body,
            b"401 Unauthorized: this metrics endpoint requires credentials\n"
        );
        let held = endpoint.admit(Some(b"Bearer tok")).unwrap();
        assert_eq!(format!("{held:?}"), "ScrapePermit");
        let busy = endpoint.scrape("GET", None, Some(b"Bearer tok"));
        assert_eq!(busy.status, 503);
        assert_eq!(busy.headers, vec![("retry-after", "1")]);
        assert_eq!(
            busy.body,
            b"503 Service Unavailable: too many scrapes in progress\n"
        );
        let ok = held.scrape("GET", None);
        assert_eq!(ok.status, 200);
        let late = endpoint.timed_out();
        assert_eq!(
            (late.status, late.headers),
            (503, vec![("retry-after", "1")])
        );
        assert_eq!(counted(&registry), counts([1, 1, 1, 0], [0, 1, 0]));
        let basic = MetricsEndpoint::new(&registry)
            .basic_auth("u", "p")
            .unwrap();
        let no = basic.scrape("GET", None, Some(b"Bearer tok"));
        assert_eq!(
            no.headers,
            vec![(
                "www-authenticate",
                "Basic realm=\"metrics\", charset=\"UTF-8\""
            )]
        );
        let ok = basic.scrape("GET", None, Some(b"Basic dTpw"));
        assert_eq!(ok.status, 200);
        assert_eq!(counted(&registry), counts([2, 1, 1, 0], [0, 2, 0]));
    }

    #[test]
    fn settings_carry_over_from_a_shared_endpoint() {
        let registry = Registry::new();
        let base = MetricsEndpoint::new(&registry)
            .basic_auth("u", "p")
            .unwrap()
            .max_concurrent_scrapes(1)
            .compression_threshold(7);
        // Held elsewhere: the next setting copies the rest.
        let shared = base.clone();
        let timed = shared.timeout(Duration::from_secs(3));
        assert_eq!(timed.scrape_timeout(), Some(Duration::from_secs(3)));
        assert_eq!(timed.inner.max_concurrent, 1);
        assert_eq!(timed.inner.compression_threshold, 7);
        assert!(timed.authorized(Some(b"Basic dTpw")));
        assert!(!timed.authorized(Some(b"Basic dTpx")));
        let bearer = MetricsEndpoint::new(&registry).bearer_token("t").unwrap();
        let copied = bearer.clone().max_concurrent_scrapes(0);
        assert_eq!(copied.inner.max_concurrent, usize::MAX);
        assert!(copied.authorized(Some(b"Bearer t")));
        assert!(!copied.authorized(Some(b"Bearer u")));
        // Its own count of scrapes in progress: `base`'s permit is not `timed`'s.
        let _held = base.admit(Some(b"Basic dTpw")).unwrap();
        assert!(timed.admit(Some(b"Basic dTpw")).is_ok());
        assert_eq!(
            MetricsEndpoint::new(&registry).inner.compression_threshold,
            DEFAULT_COMPRESSION_THRESHOLD
        );
        assert_eq!(
            MetricsEndpoint::new(&registry).inner.max_concurrent,
            DEFAULT_MAX_CONCURRENT_SCRAPES
        );
    }

    #[test]
    fn configuration_errors() {
        let registry = Registry::new();
        let endpoint = || MetricsEndpoint::new(&registry);
        for token in ["", "a b", "tab\t", "é"] {
            assert_eq!(
                endpoint().bearer_token(token).unwrap_err(),
                EndpointError::InvalidToken
            );
        }
        for user in ["", "a:b", "a\nb"] {
            assert_eq!(
                endpoint().basic_auth(user, "p").unwrap_err(),
                EndpointError::InvalidUser
            );
        }
        assert_eq!(
            EndpointError::InvalidToken.to_string(),
            "invalid bearer token: it must be non-empty and made of visible ASCII characters"
        );
        assert_eq!(
            EndpointError::InvalidUser.to_string(),
            "invalid basic-auth user: it must be non-empty, without ':' or control characters"
        );
        let causes: Vec<&str> = CAUSES.iter().map(|c| c.as_str()).collect();
        assert_eq!(
            causes,
            ["unauthorized", "too_many_scrapes", "timeout", "encoding"]
        );
    }

    #[test]
    fn credentials_compare_whole() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(constant_time_eq(b"", b""));
        for (given, expected) in [
            (&b"abd"[..], &b"abc"[..]),
            (b"ab", b"abc"),
            (b"abcd", b"abc"),
            (b"", b"a"),
            (b"a", b""),
            (b"\x9e", b"a"),
        ] {
            assert!(!constant_time_eq(given, expected), "{given:?}");
        }
        assert_eq!(trim_ascii(b" \t a b\t "), b"a b");
        assert_eq!(trim_ascii(b"  "), b"");
    }

    /// A family whose encoding waits until the test lets it go.
    struct Blocked(Mutex<mpsc::Receiver<()>>);

    impl FamilySource for Blocked {
        fn metric_type(&self) -> MetricType {
            MetricType::Gauge
        }
        fn write(&self, _: &mut MetricFamily) {
            let _ = self.0.lock().unwrap().recv();
        }
    }

    #[test]
    fn an_encoding_past_the_timeout_is_a_503_and_keeps_its_permit() {
        let registry = Registry::new();
        let (release, blocked) = mpsc::channel();
        let _handle = registry
            .register_family("blocked", "", Blocked(Mutex::new(blocked)))
            .unwrap();
        let endpoint = MetricsEndpoint::new(&registry)
            .max_concurrent_scrapes(1)
            .timeout(Duration::from_millis(1));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        // The encoding cannot end before `release`: the timeout fires first.
        let late = runtime.block_on(endpoint.respond(&request(None, None)));
        assert_eq!(late.status, 503);
        assert_eq!(late.headers, vec![("retry-after", "1")]);
        assert_eq!(
            late.body,
            b"503 Service Unavailable: encoding the metrics took longer than the scrape timeout\n"
        );
        // The overrunning encoding still holds its permit.
        assert_eq!(endpoint.admit(None).unwrap_err().status, 503);
        release.send(()).unwrap();
        // Later scrapes of the registry do not wait.
        drop(release);
        // Dropping the runtime waits for the encoding on its blocking pool to end,
        // and with it the permit comes back.
        drop(runtime);
        assert!(endpoint.admit(None).is_ok());
        // Counted once, as a timeout: the encoding that ended after its 503 was
        // served to no one.
        assert_eq!(counted(&registry), counts([0, 1, 1, 0], [0; 3]));
    }

    #[derive(Debug)]
    struct Broken;

    impl prometheus_client::encoding::EncodeMetric for Broken {
        fn encode(
            &self,
            _: prometheus_client::encoding::MetricEncoder<'_>,
        ) -> Result<(), fmt::Error> {
            Err(fmt::Error)
        }
        fn metric_type(&self) -> prometheus_client::metrics::MetricType {
            prometheus_client::metrics::MetricType::Gauge
        }
    }

    struct Panics;

    impl FamilySource for Panics {
        fn metric_type(&self) -> MetricType {
            MetricType::Gauge
        }
        fn write(&self, _: &mut MetricFamily) {
            panic!("a collector bug");
        }
    }

    #[tokio::test]
    async fn failed_encodings_are_500s_counted_as_encoding() {
        let registry = Registry::new();
        registry.register("broken", "", Broken).unwrap();
        let endpoint = MetricsEndpoint::new(&registry);
        let failed = endpoint.respond(&request(None, None)).await;
        assert_eq!(failed.status, 500);
        assert_eq!(endpoint.scrape("GET", None, None).status, 500);
        assert_eq!(endpoint.inner.failures.errors[3].load(Ordering::Relaxed), 2);
        assert_eq!(endpoint.inner.failures.served[1].load(Ordering::Relaxed), 0);

        let registry = Registry::new();
        let _handle = registry.register_family("panics", "", Panics).unwrap();
        let endpoint = MetricsEndpoint::new(&registry);
        let failed = endpoint.respond(&request(None, None)).await;
        assert_eq!(failed.status, 500);
        assert_eq!(
            failed.body,
            b"500 Internal Server Error: encoding panicked\n"
        );
        assert_eq!(endpoint.inner.failures.errors[3].load(Ordering::Relaxed), 1);
        // The permit was given back.
        assert!(endpoint.admit(None).is_ok());
        assert_eq!(endpoint.inner.in_progress.load(Ordering::Relaxed), 0);
    }
}
