//! Trace context for exemplars: the identifiers of a sampled trace, read from a
//! W3C `traceparent` header or handed over by the application, and the
//! lock-free slot that keeps the latest one per histogram bucket.
//!
//! An exemplar links a metric to one request that it counted: Prometheus keeps
//! it beside the sample (`--enable-feature=exemplar-storage`) and Grafana draws
//! it as a dot that opens the trace. promhttp writes them with the OpenMetrics
//! label names `trace_id` and `span_id`.

use std::fmt;
use std::sync::atomic::{fence, AtomicU64, Ordering};

/// The identifiers of a sampled trace and of the span a request ran in: what an
/// exemplar carries.
///
/// ```
/// # mod promhttp { pub use promhttp_core::*; }
/// use promhttp::TraceContext;
///
/// let header = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
/// let trace = TraceContext::from_traceparent(header).unwrap();
/// assert_eq!(trace.trace_id_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
/// assert_eq!(trace.span_id_hex(), "00f067aa0ba902b7");
/// // Not sampled (flags 00): no exemplar.
/// let unsampled = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00";
/// assert_eq!(TraceContext::from_traceparent(unsampled), None);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TraceContext {
    trace_id: [u8; 16],
    span_id: [u8; 8],
}

impl fmt::Debug for TraceContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TraceContext")
            .field("trace_id", &self.trace_id_hex())
            .field("span_id", &self.span_id_hex())
            .finish()
    }
}

impl TraceContext {
    /// A trace context from its identifiers; `None` when either is all zeros,
    /// which W3C Trace Context reserves for "no trace".
    #[must_use]
    pub fn new(trace_id: [u8; 16], span_id: [u8; 8]) -> Option<Self> {
        (trace_id != [0; 16] && span_id != [0; 8]).then_some(Self { trace_id, span_id })
    }

    /// Reads a W3C Trace Context `traceparent` header value
    /// (`version-traceid-parentid-flags`, lowercase hex) and returns the trace
    /// if it is **sampled** (flag bit 0 set).
    ///
    /// `None`, never an error, for anything else: a malformed value, version
    /// `ff`, all-zero identifiers, an unsampled trace. A version above `00` is
    /// read as the specification asks (its first four fields as version 00's,
    /// more fields after a `-`); version `00` must be exactly 55 bytes.
    #[must_use]
    pub fn from_traceparent(value: &[u8]) -> Option<Self> {
        let value = value.trim_ascii();
        if value.len() < 55 {
            return None;
        }
        let version = hex_byte(&value[0..2])?;
        if version == 0xff || (version == 0 && value.len() != 55) {
            return None;
        }
        if version != 0 && value.len() > 55 && value[55] != b'-' {
            return None;
        }
        if value[2] != b'-' || value[35] != b'-' || value[52] != b'-' {
            return None;
        }
        let mut trace_id = [0u8; 16];
        hex_into(&value[3..35], &mut trace_id)?;
        let mut span_id = [0u8; 8];
        hex_into(&value[36..52], &mut span_id)?;
        let flags = hex_byte(&value[53..55])?;
        if flags & 1 == 0 {
            return None;
        }
        Self::new(trace_id, span_id)
    }

    /// The trace of the current `tracing` span, as `tracing-opentelemetry`
    /// keeps it: `Some` when the span belongs to a valid, **sampled**
    /// OpenTelemetry trace. Needs the feature `opentelemetry` (which matches
    /// `tracing-opentelemetry` 0.34 and OpenTelemetry 0.33: spans recorded by
    /// other versions are not seen); without it, always `None`.
    ///
    /// The adapters ask it first and read the `traceparent` header only when it
    /// has no trace, so a service that traces gets its own server span's ids.
    #[must_use]
    #[inline]
    pub fn current() -> Option<Self> {
        #[cfg(feature = "opentelemetry")]
        {
            current_span()
        }
        #[cfg(not(feature = "opentelemetry"))]
        {
            None
        }
    }

    /// The trace id.
    #[must_use]
    pub fn trace_id(&self) -> [u8; 16] {
        self.trace_id
    }

    /// The span id.
    #[must_use]
    pub fn span_id(&self) -> [u8; 8] {
        self.span_id
    }

    /// The trace id as 32 lowercase hex digits, as the exemplar's `trace_id`.
    #[must_use]
    pub fn trace_id_hex(&self) -> String {
        hex(&self.trace_id)
    }

    /// The span id as 16 lowercase hex digits, as the exemplar's `span_id`.
    #[must_use]
    pub fn span_id_hex(&self) -> String {
        hex(&self.span_id)
    }

    fn words(&self) -> [u64; 3] {
        let mut hi = [0u8; 8];
        let mut lo = [0u8; 8];
        hi.copy_from_slice(&self.trace_id[..8]);
        lo.copy_from_slice(&self.trace_id[8..]);
        [
            u64::from_be_bytes(hi),
            u64::from_be_bytes(lo),
            u64::from_be_bytes(self.span_id),
        ]
    }

    fn from_words([hi, lo, span]: [u64; 3]) -> Self {
        let mut trace_id = [0u8; 16];
        trace_id[..8].copy_from_slice(&hi.to_be_bytes());
        trace_id[8..].copy_from_slice(&lo.to_be_bytes());
        Self {
            trace_id,
            span_id: span.to_be_bytes(),
        }
    }
}

#[cfg(feature = "opentelemetry")]
fn current_span() -> Option<TraceContext> {
    use opentelemetry::trace::TraceContextExt;
    use tracing_opentelemetry::OpenTelemetrySpanExt;

    let span = tracing::Span::current();
    if span.is_none() {
        return None;
    }
    let context = span.context();
    let otel = context.span();
    let ids = otel.span_context();
    if !ids.is_valid() || !ids.is_sampled() {
        return None;
    }
    TraceContext::new(ids.trace_id().to_bytes(), ids.span_id().to_bytes())
}

/// Two lowercase hex digits (W3C Trace Context allows no uppercase).
fn hex_byte(pair: &[u8]) -> Option<u8> {
    let mut byte = [0u8];
    hex_into(pair, &mut byte)?;
    Some(byte[0])
}

/// The value of each lowercase hex digit; `0xff` for any other byte.
const HEX: [u8; 256] = {
    let mut table = [0xff; 256];
    let mut i = 0;
    while i < 10 {
        table[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        table[b'a' as usize + i] = 10 + i as u8;
        i += 1;
    }
    table
};

/// Decodes `digits` (two per byte) into `out`; `None` on any byte that is not
/// a lowercase hex digit.
fn hex_into(digits: &[u8], out: &mut [u8]) -> Option<()> {
    let mut bad = 0u8;
    for (byte, pair) in out.iter_mut().zip(digits.chunks_exact(2)) {
        let (hi, lo) = (HEX[usize::from(pair[0])], HEX[usize::from(pair[1])]);
        bad |= (hi | lo) & 0xf0;
        *byte = (hi << 4) | (lo & 0x0f);
    }
    (bad == 0 && digits.len() == out.len() * 2).then_some(())
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    out
}

/// What an exemplar slot holds: a trace, the observed value in nanoseconds and
/// the clock's raw reading when it was observed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stored {
    pub(crate) trace: TraceContext,
    pub(crate) nanos: u64,
    pub(crate) at: u64,
}

/// The latest exemplar of one bucket, written and read without a lock (a
/// sequence lock: an odd sequence number while a write is under way). Two
/// requests that finish in the same bucket at the same moment race for it and
/// one of them keeps its exemplar: an exemplar is one example, not a record.
#[derive(Default)]
pub(crate) struct ExemplarSlot {
    /// 0 until the first write; odd while a write is under way.
    seq: AtomicU64,
    words: [AtomicU64; 3],
    nanos: AtomicU64,
    at: AtomicU64,
}

impl ExemplarSlot {
    /// Keeps `stored`, unless another thread is writing the slot right now.
    #[inline]
    pub(crate) fn store(&self, stored: &Stored) {
        let seq = self.seq.load(Ordering::Relaxed);
        if seq & 1 == 1
            || self
                .seq
                .compare_exchange(seq, seq + 1, Ordering::Acquire, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        // The odd sequence number is ordered before the data that follows it.
        fence(Ordering::Release);
        for (cell, word) in self.words.iter().zip(stored.trace.words()) {
            cell.store(word, Ordering::Relaxed);
        }
        self.nanos.store(stored.nanos, Ordering::Relaxed);
        self.at.store(stored.at, Ordering::Relaxed);
        self.seq.store(seq + 2, Ordering::Release);
    }

    /// The latest exemplar, if one was ever stored and a consistent reading was
    /// had in a few tries (a slot written without pause reads as empty rather
    /// than holding the scrape).
    pub(crate) fn load(&self) -> Option<Stored> {
        for _ in 0..8 {
            let before = self.seq.load(Ordering::Acquire);
            if before == 0 {
                return None;
            }
            if before & 1 == 1 {
                std::hint::spin_loop();
                continue;
            }
            let words = [
                self.words[0].load(Ordering::Relaxed),
                self.words[1].load(Ordering::Relaxed),
                self.words[2].load(Ordering::Relaxed),
            ];
            let nanos = self.nanos.load(Ordering::Relaxed);
            let at = self.at.load(Ordering::Relaxed);
            fence(Ordering::Acquire);
            if self.seq.load(Ordering::Relaxed) == before {
                return Some(Stored {
                    trace: TraceContext::from_words(words),
                    nanos,
                    at,
                });
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn traceparent_is_read_as_the_w3c_spec_says() {
        let t = TraceContext::from_traceparent(GOOD.as_bytes()).unwrap();
        assert_eq!(t.trace_id_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(t.span_id_hex(), "00f067aa0ba902b7");
        assert_eq!(t.trace_id()[0], 0x4b);
        assert_eq!(t.span_id()[7], 0xb7);
        // Surrounding whitespace (OWS) is allowed; other sampled flags too.
        let padded = format!("  {GOOD}\t");
        assert_eq!(TraceContext::from_traceparent(padded.as_bytes()), Some(t));
        let flags = GOOD.replace("-01", "-03");
        assert_eq!(TraceContext::from_traceparent(flags.as_bytes()), Some(t));
        // A later version may append fields after a dash.
        let later = format!("01{}-what-comes-next", &GOOD[2..]);
        assert_eq!(TraceContext::from_traceparent(later.as_bytes()), Some(t));

        let refused = [
            GOOD.replace("-01", "-00"),   // not sampled
            GOOD.replace("-01", "-02"),   // not sampled
            format!("ff{}", &GOOD[2..]),  // version ff
            format!("{GOOD}-x"),          // version 00, too long
            format!("01{}x", &GOOD[2..]), // a later version, no dash
            GOOD[..54].to_owned(),        // too short
            GOOD.to_uppercase(),          // uppercase hex
            GOOD.replace("4bf92f3577b34da6a3ce929d0e0e4736", &"0".repeat(32)),
            GOOD.replace("00f067aa0ba902b7", &"0".repeat(16)),
            GOOD.replace('-', "_"),
            GOOD.replace("4b", "g4"),
            GOOD.replace("4bf9", "zzzz"), // two bad pairs
            GOOD.replace("00f0", "x0x0"),
            String::new(),
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0\u{e9}".to_owned(),
        ];
        for value in refused {
            assert_eq!(
                TraceContext::from_traceparent(value.as_bytes()),
                None,
                "{value}"
            );
        }
        assert!(TraceContext::new([0; 16], [1; 8]).is_none());
        assert!(TraceContext::new([1; 16], [0; 8]).is_none());
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        // Every prefix, and every single-byte change of a good value.
        for end in 0..=GOOD.len() {
            let _ = TraceContext::from_traceparent(&GOOD.as_bytes()[..end]);
        }
        for at in 0..GOOD.len() {
            for b in [0u8, b'-', b'f', b'0', 0xff, b' '] {
                let mut v = GOOD.as_bytes().to_vec();
                v[at] = b;
                let _ = TraceContext::from_traceparent(&v);
            }
        }
    }

    #[test]
    fn a_slot_is_read_whole_while_threads_write_it() {
        // Each writer stores values whose words all derive from one number: a
        // torn reading would mix two numbers and be caught.
        let slot = ExemplarSlot::default();
        assert_eq!(slot.load(), None);
        let stored = |n: u64| Stored {
            trace: TraceContext::from_words([n, !n, n.rotate_left(7)]),
            nanos: n.wrapping_mul(3),
            at: n ^ 0x55,
        };
        let done = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|s| {
            for w in 0..2u64 {
                let (slot, done) = (&slot, &done);
                s.spawn(move || {
                    let mut n = w << 40;
                    while !done.load(Ordering::Relaxed) {
                        n += 1;
                        slot.store(&stored(n));
                        if n % 64 == 0 {
                            std::thread::yield_now();
                        }
                    }
                });
            }
            let mut read = 0;
            for _ in 0..10_000_000 {
                if let Some(got) = slot.load() {
                    let [n, _, _] = got.trace.words();
                    assert_eq!(got, stored(n));
                    read += 1;
                    if read == 20_000 {
                        break;
                    }
                }
            }
            done.store(true, Ordering::Relaxed);
            assert!(read >= 100, "only {read} whole readings");
        });
    }
}
