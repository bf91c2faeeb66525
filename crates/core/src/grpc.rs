//! gRPC server metrics under the names the Go ecosystem's gRPC middleware
//! writes, which Grafana's gRPC dashboards and alerts query.
//!
//! | name | type | labels |
//! |---|---|---|
//! | `grpc_server_started_total` | counter | `grpc_type`, `grpc_service`, `grpc_method` |
//! | `grpc_server_handled_total` | counter | the three, and `grpc_code` |
//! | `grpc_server_handling_seconds` | histogram | `grpc_type`, `grpc_service`, `grpc_method` |
//! | `grpc_server_msg_received_total` | counter | `grpc_type`, `grpc_service`, `grpc_method` |
//! | `grpc_server_msg_sent_total` | counter | `grpc_type`, `grpc_service`, `grpc_method` |
//!
//! Only the methods the server declares become label values; a call to any
//! other path is counted under `unknown` in all three. Every series of a
//! declared method exists from the start at zero (every `grpc_code` of
//! `handled_total` too), as the Go middleware initialises them.
//!
//! The adapters record with [`GrpcMetrics::start`]: the tower layer
//! `promhttp::axum::GrpcMetricsLayer` for tonic and any tower gRPC server.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use crate::encode::{Chain, Descriptor, Encoder};
use crate::family::MetricType;
use crate::histogram::{Bounds, Cells};
use crate::http::BuildError;
use crate::registry::{Registry, Source};

/// The handling-time buckets, in seconds: Prometheus' default buckets, as the
/// Go middleware uses.
pub const DEFAULT_GRPC_BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The label value of every label of a call to a method that was not
/// declared.
pub const UNKNOWN_METHOD: &str = "unknown";

/// The gRPC status codes, in order: `grpc_code` label values.
pub const GRPC_CODES: [&str; 17] = [
    "OK",
    "Canceled",
    "Unknown",
    "InvalidArgument",
    "DeadlineExceeded",
    "NotFound",
    "AlreadyExists",
    "PermissionDenied",
    "ResourceExhausted",
    "FailedPrecondition",
    "Aborted",
    "OutOfRange",
    "Unimplemented",
    "Internal",
    "Unavailable",
    "DataLoss",
    "Unauthenticated",
];

/// Some gRPC status codes by number, for the adapters.
pub mod code {
    /// `OK`.
    pub const OK: u8 = 0;
    /// `CANCELLED`: the client cancelled the call (written `Canceled`, as Go
    /// names it, in `grpc_code`).
    pub const CANCELLED: u8 = 1;
    /// `UNKNOWN`.
    pub const UNKNOWN: u8 = 2;
    /// `DEADLINE_EXCEEDED`.
    pub const DEADLINE_EXCEEDED: u8 = 4;
    /// `UNAVAILABLE`.
    pub const UNAVAILABLE: u8 = 14;
    /// `INTERNAL`.
    pub const INTERNAL: u8 = 13;
}

/// How a method streams: the `grpc_type` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GrpcType {
    /// One request message, one response message.
    Unary,
    /// A stream of request messages, one response message.
    ClientStream,
    /// One request message, a stream of response messages.
    ServerStream,
    /// Streams both ways.
    BidiStream,
}

impl GrpcType {
    /// The `grpc_type` label value: `unary`, `client_stream`,
    /// `server_stream`, `bidi_stream`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Unary => "unary",
            Self::ClientStream => "client_stream",
            Self::ServerStream => "server_stream",
            Self::BidiStream => "bidi_stream",
        }
    }
}

/// The series of one method.
struct Method {
    /// `grpc_type`, `grpc_service`, `grpc_method`.
    labels: [(&'static str, String); 3],
    /// The request path, `/service/method`.
    path: String,
    started: AtomicU64,
    received: AtomicU64,
    sent: AtomicU64,
    handled: [AtomicU64; 17],
    handling: Cells,
    /// The handling-time bounds, in nanoseconds.
    bounds_ns: Arc<[u64]>,
}

impl Method {
    fn new(service: &str, method: &str, kind: &str, bounds_ns: &Arc<[u64]>) -> Self {
        Self {
            labels: [
                ("grpc_type", kind.to_owned()),
                ("grpc_service", service.to_owned()),
                ("grpc_method", method.to_owned()),
            ],
            path: format!("/{service}/{method}"),
            started: AtomicU64::new(0),
            received: AtomicU64::new(0),
            sent: AtomicU64::new(0),
            handled: Default::default(),
            handling: Cells::new(bounds_ns.len()),
            bounds_ns: Arc::clone(bounds_ns),
        }
    }
}

struct Shared {
    /// Server or client names.
    side: &'static Side,
    methods: Vec<Arc<Method>>,
    unknown: Arc<Method>,
    bounds: Bounds,
    const_labels: Vec<(String, String)>,
}

/// The gRPC server metrics of one service, registered in one [`Registry`]: a
/// handle, cheap to clone.
///
/// ```
/// # mod promhttp { pub use promhttp_core::*; }
/// use promhttp::grpc::{code, GrpcMetrics, GrpcType};
/// use promhttp::{Format, Registry};
///
/// let registry = Registry::new();
/// let grpc = GrpcMetrics::builder()
///     .registry(&registry)
///     .method("helloworld.Greeter", "SayHello", GrpcType::Unary)
///     .build()?;
/// // What an adapter does for each call.
/// let mut call = grpc.start("/helloworld.Greeter/SayHello");
/// call.message_received();
/// call.message_sent();
/// call.set_code(code::OK);
/// drop(call);
/// let text = registry.encode(Format::Text)?;
/// assert!(text.contains("grpc_server_handled_total{grpc_type=\"unary\",grpc_service=\"helloworld.Greeter\",grpc_method=\"SayHello\",grpc_code=\"OK\"} 1\n"));
/// // Every code of a declared method exists from the start.
/// assert!(text.contains("grpc_method=\"SayHello\",grpc_code=\"Unavailable\"} 0\n"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct GrpcMetrics {
    shared: Arc<Shared>,
    registry: Registry,
}

impl fmt::Debug for GrpcMetrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GrpcMetrics")
            .field("methods", &self.shared.methods.len())
            .finish_non_exhaustive()
    }
}

impl GrpcMetrics {
    /// Starts configuring a set.
    pub fn builder() -> GrpcMetricsBuilder {
        GrpcMetricsBuilder {
            client: false,
            methods: Vec::new(),
            buckets: DEFAULT_GRPC_BUCKETS.to_vec(),
            const_labels: Vec::new(),
            registry: None,
        }
    }

    /// Starts configuring a client's set: the same series under
    /// `grpc_client_*` (`grpc_client_started_total`,
    /// `grpc_client_handled_total`, `grpc_client_handling_seconds`,
    /// `grpc_client_msg_received_total`, `grpc_client_msg_sent_total`), as the
    /// Go middleware names a client's, for the calls a service makes. A
    /// server set and a client set share a registry.
    pub fn client_builder() -> GrpcMetricsBuilder {
        GrpcMetricsBuilder {
            client: true,
            ..Self::builder()
        }
    }

    /// Whether this is a client's set ([`GrpcMetrics::client_builder`]).
    #[must_use]
    pub fn is_client(&self) -> bool {
        std::ptr::eq(self.shared.side, &CLIENT)
    }

    /// The registry this set is registered in.
    #[must_use]
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Starts recording a call to `path` (`/package.Service/Method`, the
    /// request's path): counts it as started and starts the clock. A path no
    /// declared method has is counted under [`UNKNOWN_METHOD`].
    #[must_use]
    pub fn start(&self, path: &str) -> GrpcCall {
        let shared = &*self.shared;
        let method = shared
            .methods
            .iter()
            .find(|m| m.path == path)
            .unwrap_or(&shared.unknown);
        method.started.fetch_add(1, Relaxed);
        GrpcCall {
            method: GrpcMethod(Arc::clone(method)),
            start: crate::clock::now(),
            code: None,
            code_if_unfinished: code::CANCELLED,
            deadline: None,
        }
    }
}

/// The method of one call: counts its messages, from the request body and
/// the response body alike. Cheap to clone.
#[derive(Clone)]
pub struct GrpcMethod(Arc<Method>);

impl fmt::Debug for GrpcMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.path)
    }
}

impl GrpcMethod {
    /// Counts `n` messages received from the client.
    #[inline]
    pub fn messages_received(&self, n: u64) {
        self.0.received.fetch_add(n, Relaxed);
    }

    /// Counts `n` messages sent to the client.
    #[inline]
    pub fn messages_sent(&self, n: u64) {
        self.0.sent.fetch_add(n, Relaxed);
    }
}

/// One call being recorded. Dropping it counts the call as handled, with its
/// code, and observes its handling time; exactly once.
///
/// A call dropped with no code was cancelled ([`code::CANCELLED`]), unless
/// [`set_code_if_unfinished`](Self::set_code_if_unfinished) said otherwise.
pub struct GrpcCall {
    method: GrpcMethod,
    start: u64,
    code: Option<u8>,
    code_if_unfinished: u8,
    /// The call's deadline (its `grpc-timeout`), in nanoseconds from the start.
    deadline: Option<u64>,
}

impl fmt::Debug for GrpcCall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GrpcCall")
            .field("method", &self.method)
            .field("code", &self.code)
            .finish_non_exhaustive()
    }
}

impl GrpcCall {
    /// The call's method, to count messages from elsewhere (the request body).
    #[must_use]
    pub fn method(&self) -> &GrpcMethod {
        &self.method
    }

    /// Counts one message received.
    #[inline]
    pub fn message_received(&self) {
        self.method.messages_received(1);
    }

    /// Counts one message sent.
    #[inline]
    pub fn message_sent(&self) {
        self.method.messages_sent(1);
    }

    /// Sets the call's status code (`grpc-status`); a number past 16 is
    /// `UNKNOWN`.
    #[inline]
    pub fn set_code(&mut self, code: u8) {
        self.code = Some(if usize::from(code) < GRPC_CODES.len() {
            code
        } else {
            code::UNKNOWN
        });
    }

    /// The code set so far.
    #[must_use]
    pub fn code(&self) -> Option<u8> {
        self.code
    }

    /// The code the call gets if it is dropped with none set (default
    /// [`code::CANCELLED`]): what a client sees of a call that ended that way.
    #[inline]
    pub fn set_code_if_unfinished(&mut self, code: u8) {
        self.code_if_unfinished = code;
    }

    /// The call's deadline, `nanos` after its start (its `grpc-timeout`): a
    /// call that ends past it cancelled, or with no code, is
    /// `DeadlineExceeded`, which is what its client sees.
    #[inline]
    pub fn set_deadline_nanos(&mut self, nanos: u64) {
        self.deadline = Some(nanos);
    }

    /// Nanoseconds since the call started.
    #[must_use]
    pub fn elapsed_nanos(&self) -> u64 {
        crate::clock::since(self.start).1
    }
}

impl Drop for GrpcCall {
    fn drop(&mut self) {
        let (_, nanos) = crate::clock::since(self.start);
        let method = &*self.method.0;
        let mut code = self.code.unwrap_or(self.code_if_unfinished);
        if code == code::CANCELLED && self.deadline.is_some_and(|d| nanos >= d) {
            code = code::DEADLINE_EXCEEDED;
        }
        if let Some(handled) = method.handled.get(usize::from(code)) {
            handled.fetch_add(1, Relaxed);
        }
        method.handling.observe(&method.bounds_ns, nanos);
    }
}

/// Counts the messages of a gRPC body from its length-prefixed frames (one
/// flag byte, a four-byte big-endian length, the message) as the bytes pass,
/// in chunks of any size, without holding a message.
#[derive(Debug, Default, Clone)]
pub struct MessageCounter {
    /// Bytes of the current frame's five-byte prefix seen.
    prefix: u8,
    /// The length read from the prefix so far.
    length: u64,
    /// Bytes of the current message still to come.
    remaining: u64,
}

impl MessageCounter {
    /// Reads `data`, the next bytes of the body; returns the messages it
    /// completed.
    pub fn feed(&mut self, mut data: &[u8]) -> u64 {
        let mut completed = 0;
        while !data.is_empty() {
            if self.prefix < 5 {
                let (&byte, rest) = data.split_first().unwrap_or((&0, &[]));
                data = rest;
                if self.prefix > 0 {
                    self.length = (self.length << 8) | u64::from(byte);
                }
                self.prefix += 1;
                if self.prefix == 5 {
                    self.remaining = self.length;
                    if self.remaining == 0 {
                        completed += 1;
                        *self = Self::default();
                    }
                }
            } else {
                let take = data
                    .len()
                    .min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
                data = data.get(take..).unwrap_or_default();
                self.remaining -= take as u64;
                if self.remaining == 0 {
                    completed += 1;
                    *self = Self::default();
                }
            }
        }
        completed
    }
}

/// Configures a [`GrpcMetrics`] set; made by [`GrpcMetrics::builder`]. Every
/// check happens in [`build`](Self::build).
#[derive(Debug, Clone)]
#[must_use]
pub struct GrpcMetricsBuilder {
    /// Whether the set is a client's (`grpc_client_*`).
    client: bool,
    methods: Vec<(String, String, GrpcType)>,
    buckets: Vec<f64>,
    const_labels: Vec<(String, String)>,
    registry: Option<Registry>,
}

impl GrpcMetricsBuilder {
    /// Declares a method: `service` as the server names it
    /// (`package.Service`, tonic's `NamedService::NAME`), `method` as in the
    /// `.proto`, and how it streams.
    pub fn method(
        mut self,
        service: impl Into<String>,
        method: impl Into<String>,
        kind: GrpcType,
    ) -> Self {
        self.methods.push((service.into(), method.into(), kind));
        self
    }

    /// Declares every method of `service`, with how each streams.
    pub fn service<M: Into<String>>(
        mut self,
        service: &str,
        methods: impl IntoIterator<Item = (M, GrpcType)>,
    ) -> Self {
        for (method, kind) in methods {
            self.methods.push((service.to_owned(), method.into(), kind));
        }
        self
    }

    /// The handling-time buckets, in seconds (default
    /// [`DEFAULT_GRPC_BUCKETS`]).
    pub fn buckets(mut self, bounds: impl IntoIterator<Item = f64>) -> Self {
        self.buckets = bounds.into_iter().collect();
        self
    }

    /// A label with one value on every series.
    pub fn const_label(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.const_labels.push((name.into(), value.into()));
        self
    }

    /// Registers into `registry` instead of the process registry.
    pub fn registry(mut self, registry: &Registry) -> Self {
        self.registry = Some(registry.clone());
        self
    }

    /// Checks the configuration and registers the set.
    ///
    /// # Errors
    /// [`BuildError::InvalidGrpcMethod`] for an empty, repeated or unusable
    /// name, [`BuildError::InvalidBuckets`], [`BuildError::InvalidLabelName`],
    /// or a name already taken in the registry.
    pub fn build(self) -> Result<GrpcMetrics, BuildError> {
        for (i, (service, method, _)) in self.methods.iter().enumerate() {
            let invalid = |reason| BuildError::InvalidGrpcMethod {
                method: format!("/{service}/{method}"),
                reason,
            };
            if service.is_empty() || method.is_empty() {
                return Err(invalid("a service and a method need a name"));
            }
            if service.contains('/') || method.contains('/') {
                return Err(invalid("names have no `/`: the path is `/service/method`"));
            }
            if service == UNKNOWN_METHOD && method == UNKNOWN_METHOD {
                return Err(invalid("`unknown` is promhttp's"));
            }
            if self.methods[..i]
                .iter()
                .any(|(s, m, _)| s == service && m == method)
            {
                return Err(invalid("a method may be declared only once"));
            }
        }
        for (i, (name, _)) in self.const_labels.iter().enumerate() {
            let invalid = |reason| BuildError::InvalidLabelName {
                name: name.clone(),
                reason,
            };
            crate::names::check_label_name(name).map_err(invalid)?;
            if [
                "grpc_type",
                "grpc_service",
                "grpc_method",
                "grpc_code",
                "le",
            ]
            .contains(&name.as_str())
            {
                return Err(invalid(
                    "the grpc_* labels and `le` are written by promhttp",
                ));
            }
            if self.const_labels[..i].iter().any(|(n, _)| n == name) {
                return Err(invalid("a constant label may be given only once"));
            }
        }
        let bounds = Bounds::new(self.buckets)?;
        crate::clock::calibrate_in_background();
        let registry = self
            .registry
            .unwrap_or_else(|| crate::global::default_registry().clone());
        let shared = Arc::new(Shared {
            methods: self
                .methods
                .iter()
                .map(|(service, method, kind)| {
                    Arc::new(Method::new(service, method, kind.as_str(), &bounds.nanos))
                })
                .collect(),
            unknown: Arc::new(Method::new(
                UNKNOWN_METHOD,
                UNKNOWN_METHOD,
                UNKNOWN_METHOD,
                &bounds.nanos,
            )),
            bounds,
            const_labels: self.const_labels,
            side: if self.client { &CLIENT } else { &SERVER },
        });
        let side = shared.side;
        let taken = [
            MetricType::Counter.sample_names(side.started),
            MetricType::Counter.sample_names(side.handled),
            MetricType::Histogram.sample_names(side.handling),
            MetricType::Counter.sample_names(side.received),
            MetricType::Counter.sample_names(side.sent),
        ]
        .concat();
        registry.add_source(taken, Arc::new(GrpcCollector(Arc::clone(&shared))))?;
        Ok(GrpcMetrics { shared, registry })
    }
}

/// The family names and HELP texts of one side.
struct Side {
    started: &'static str,
    handled: &'static str,
    handling: &'static str,
    received: &'static str,
    sent: &'static str,
    help: [&'static str; 5],
}

const SERVER: Side = Side {
    started: "grpc_server_started",
    handled: "grpc_server_handled",
    handling: "grpc_server_handling_seconds",
    received: "grpc_server_msg_received",
    sent: "grpc_server_msg_sent",
    help: [
        "Total number of RPCs started on the server.",
        "Total number of RPCs completed on the server, regardless of success or failure.",
        "Histogram of response latency (seconds) of gRPC that had been application-level handled by the server.",
        "Total number of RPC stream messages received on the server.",
        "Total number of gRPC stream messages sent by the server.",
    ],
};

const CLIENT: Side = Side {
    started: "grpc_client_started",
    handled: "grpc_client_handled",
    handling: "grpc_client_handling_seconds",
    received: "grpc_client_msg_received",
    sent: "grpc_client_msg_sent",
    help: [
        "Total number of RPCs started on the client.",
        "Total number of RPCs completed by the client, regardless of success or failure.",
        "Histogram of response latency (seconds) of the gRPC until it is finished by the application.",
        "Total number of RPC stream messages received by the client.",
        "Total number of gRPC stream messages sent by the client.",
    ],
};

struct GrpcCollector(Arc<Shared>);

impl Source for GrpcCollector {
    fn encode(&self, out: &mut Encoder) {
        let shared = &*self.0;
        let consts = shared.const_labels.as_slice();
        // Declared methods always; `unknown` once a call went there.
        let unknown = &shared.unknown;
        let used = unknown.started.load(Relaxed) > 0;
        let methods: Vec<&Method> = shared
            .methods
            .iter()
            .map(|m| &**m)
            .chain(used.then_some(&**unknown))
            .collect();
        // Handled before started: a scrape never shows a call handled that it
        // does not show started.
        let handled: Vec<[u64; 17]> = methods
            .iter()
            .map(|m| std::array::from_fn(|i| m.handled[i].load(Relaxed)))
            .collect();
        let mut buckets = Vec::new();
        let histograms: Vec<(usize, u64, f64)> = methods
            .iter()
            .map(|m| {
                let at = buckets.len();
                let (count, sum) = m.handling.read_into(&mut buckets);
                (at, count, sum)
            })
            .collect();
        #[allow(clippy::cast_precision_loss)]
        let counter = |out: &mut Encoder, name, help, value: fn(&Method) -> u64| {
            out.family(&Descriptor::new(name, MetricType::Counter, help));
            for m in &methods {
                out.counter(&Chain(&m.labels, consts), value(m) as f64, None, None);
            }
        };
        let side = shared.side;
        counter(out, side.started, side.help[0], |m| m.started.load(Relaxed));
        out.family(&Descriptor::new(
            side.handled,
            MetricType::Counter,
            side.help[1],
        ));
        for (m, codes) in methods.iter().zip(&handled) {
            for (code, n) in GRPC_CODES.iter().zip(codes) {
                let code = [("grpc_code", *code)];
                #[allow(clippy::cast_precision_loss)]
                out.counter(
                    &Chain(&m.labels, Chain(&code, consts)),
                    *n as f64,
                    None,
                    None,
                );
            }
        }
        out.family(
            &Descriptor::new(side.handling, MetricType::Histogram, side.help[2]).unit("seconds"),
        );
        let width = shared.bounds.nanos.len() + 1;
        for (m, &(at, count, sum)) in methods.iter().zip(&histograms) {
            let counts = buckets.get(at..at + width).unwrap_or(&[]);
            out.histogram(
                &Chain(&m.labels, consts),
                shared.bounds.buckets(counts),
                count,
                Some(sum),
                None,
            );
        }
        counter(out, side.received, side.help[3], |m| {
            m.received.load(Relaxed)
        });
        counter(out, side.sent, side.help[4], |m| m.sent.load(Relaxed));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Frames `messages` as gRPC does: flag, big-endian length, message.
    fn framed(messages: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for m in messages {
            out.push(0);
            out.extend_from_slice(&u32::try_from(m.len()).unwrap().to_be_bytes());
            out.extend_from_slice(m);
        }
        out
    }

    #[test]
    fn messages_are_counted_in_chunks_of_any_size() {
        let body = framed(&[b"hello", b"", b"a longer message of some bytes", b"x"]);
        for chunk in 1..=body.len() {
            let mut counter = MessageCounter::default();
            let counted: u64 = body.chunks(chunk).map(|c| counter.feed(c)).sum();
            assert_eq!(counted, 4, "chunks of {chunk}");
        }
        // A message cut short is not counted.
        let mut counter = MessageCounter::default();
        assert_eq!(counter.feed(&body[..body.len() - 1]), 3);
        // A prefix alone announcing a large message: not yet.
        let mut counter = MessageCounter::default();
        assert_eq!(counter.feed(&[0, 0xff, 0xff, 0xff, 0xff]), 0);
    }

    #[test]
    fn a_call_past_its_deadline_is_deadline_exceeded_unless_it_had_a_code() {
        let registry = Registry::new();
        let grpc = GrpcMetrics::builder()
            .registry(&registry)
            .method("s", "m", GrpcType::Unary)
            .build()
            .unwrap();
        let mut late = grpc.start("/s/m");
        late.set_deadline_nanos(0);
        drop(late);
        let mut answered = grpc.start("/s/m");
        answered.set_deadline_nanos(0);
        answered.set_code(code::OK);
        drop(answered);
        let mut cancelled = grpc.start("/s/m");
        cancelled.set_deadline_nanos(u64::MAX);
        drop(cancelled);
        let mut odd = grpc.start("/s/m");
        odd.set_code(200);
        drop(odd);
        let text = registry.encode(crate::Format::Text).unwrap();
        let handled = |code: &str| {
            format!("grpc_server_handled_total{{grpc_type=\"unary\",grpc_service=\"s\",grpc_method=\"m\",grpc_code=\"{code}\"}} 1\n")
        };
        for code in ["DeadlineExceeded", "OK", "Canceled", "Unknown"] {
            assert!(text.contains(&handled(code)), "{code}: {text}");
        }
        assert!(text.contains("grpc_server_started_total{grpc_type=\"unary\",grpc_service=\"s\",grpc_method=\"m\"} 4\n"));
        assert!(
            !text.contains("grpc_service=\"unknown\""),
            "unknown shows once used"
        );
    }

    #[test]
    fn a_client_set_writes_client_names_beside_a_server_set() {
        let registry = Registry::new();
        let server = GrpcMetrics::builder()
            .registry(&registry)
            .method("s", "m", GrpcType::Unary)
            .build()
            .unwrap();
        let client = GrpcMetrics::client_builder()
            .registry(&registry)
            .method("s", "m", GrpcType::Unary)
            .build()
            .unwrap();
        assert!(client.is_client() && !server.is_client());
        let mut call = client.start("/s/m");
        call.message_sent();
        call.set_code(code::UNAVAILABLE);
        drop(call);
        let text = registry.encode(crate::Format::Text).unwrap();
        assert!(text.contains("grpc_client_handled_total{grpc_type=\"unary\",grpc_service=\"s\",grpc_method=\"m\",grpc_code=\"Unavailable\"} 1\n"), "{text}");
        assert!(text.contains("grpc_client_msg_sent_total{grpc_type=\"unary\",grpc_service=\"s\",grpc_method=\"m\"} 1\n"));
        assert!(text.contains(
            "# HELP grpc_client_started_total Total number of RPCs started on the client.\n"
        ));
        assert!(text.contains("grpc_server_started_total{grpc_type=\"unary\",grpc_service=\"s\",grpc_method=\"m\"} 0\n"));
    }

    #[test]
    fn declarations_are_checked() {
        for (service, method, reason) in [
            ("", "m", "a service and a method need a name"),
            (
                "a/b",
                "m",
                "names have no `/`: the path is `/service/method`",
            ),
            ("unknown", "unknown", "`unknown` is promhttp's"),
            ("s", "m", "a method may be declared only once"),
        ] {
            let err = GrpcMetrics::builder()
                .registry(&Registry::new())
                .method("s", "m", GrpcType::Unary)
                .method(service, method, GrpcType::Unary)
                .build()
                .unwrap_err();
            assert!(
                matches!(&err, BuildError::InvalidGrpcMethod { reason: r, .. } if *r == reason),
                "{service}/{method}: {err}"
            );
        }
        let registry = Registry::new();
        let _first = GrpcMetrics::builder().registry(&registry).build().unwrap();
        assert!(matches!(
            GrpcMetrics::builder().registry(&registry).build(),
            Err(BuildError::Registry(_))
        ));
    }
}
