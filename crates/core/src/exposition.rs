//! Exposition formats, content negotiation and the framework-free scrape answer.
//!
//! Each format is written by the [encoder](crate::encode) in its own dialect;
//! none is derived from another's output.

use crate::encode::Dialect;

/// An exposition format promhttp can serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Format {
    /// OpenMetrics 1.0.0 text (`application/openmetrics-text; version=1.0.0`).
    OpenMetrics,
    /// The same text announced as OpenMetrics 0.0.1, for clients that ask for that
    /// version only (Prometheus 2.x lists it as its second choice).
    OpenMetricsV0,
    /// Prometheus text format 0.0.4 (`text/plain; version=0.0.4`).
    Text,
    /// Prometheus text format 1.0.0 (`text/plain; version=1.0.0`): 0.0.4 with
    /// names that may be quoted UTF-8. promhttp's names are always valid legacy
    /// names, so the body is the same as 0.0.4's.
    TextV1,
    /// The Prometheus protobuf format: length-delimited
    /// `io.prometheus.client.MetricFamily` messages.
    Protobuf,
}

/// How a scraper asks for names that are not valid legacy Prometheus names to
/// be escaped (the `escaping` parameter of Prometheus 3's `Accept` header).
///
/// Every name promhttp writes is a valid legacy name, which no scheme changes
/// (client_golang leaves such names as they are under every scheme, `dots`
/// included), so the body does not depend on it: the scheme asked for is stated
/// in the answer's `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Escaping {
    /// `allow-utf-8`: names as they are.
    AllowUtf8,
    /// `underscores`.
    Underscores,
    /// `dots`.
    Dots,
    /// `values`.
    Values,
}

impl Escaping {
    fn parse(value: &str) -> Option<Self> {
        Some(match value {
            "allow-utf-8" => Self::AllowUtf8,
            "underscores" => Self::Underscores,
            "dots" => Self::Dots,
            "values" => Self::Values,
            _ => return None,
        })
    }
}

/// What a scrape is answered with: a [`Format`] and, when the scraper named one,
/// an [`Escaping`] scheme. Its [`header`](ContentType::header) is the answer's
/// `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ContentType {
    /// The format.
    pub format: Format,
    /// The escaping scheme the scraper asked for, stated in the header.
    pub escaping: Option<Escaping>,
}

macro_rules! content_types {
    ($format:expr, $escaping:expr, $($variant:ident => $base:literal,)*) => {
        match ($format, $escaping) {
            $(
                (Format::$variant, None) => $base,
                (Format::$variant, Some(Escaping::AllowUtf8)) => concat!($base, "; escaping=allow-utf-8"),
                (Format::$variant, Some(Escaping::Underscores)) => concat!($base, "; escaping=underscores"),
                (Format::$variant, Some(Escaping::Dots)) => concat!($base, "; escaping=dots"),
                (Format::$variant, Some(Escaping::Values)) => concat!($base, "; escaping=values"),
            )*
        }
    };
}

impl ContentType {
    /// The `Content-Type` header value.
    ///
    /// ```
    /// # mod promhttp { pub use promhttp_core::*; }
    /// use promhttp::{ContentType, Escaping, Format};
    /// let answer = ContentType { format: Format::TextV1, escaping: Some(Escaping::AllowUtf8) };
    /// assert_eq!(answer.header(), "text/plain; version=1.0.0; charset=utf-8; escaping=allow-utf-8");
    /// ```
    #[must_use]
    pub const fn header(&self) -> &'static str {
        content_types!(self.format, self.escaping,
            OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
            OpenMetricsV0 => "application/openmetrics-text; version=0.0.1; charset=utf-8",
            Text => "text/plain; version=0.0.4; charset=utf-8",
            TextV1 => "text/plain; version=1.0.0; charset=utf-8",
            Protobuf => "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited",
        )
    }

    /// Picks the answer to a request with the given `Accept` header.
    ///
    /// Follows RFC 9110: the most specific media range that matches an offer gives
    /// its quality, `q=0` refuses, and among equal qualities an explicitly named type
    /// wins over a wildcard (OpenMetrics 1.0, then protobuf, then the older
    /// versions and text). A wildcard (`*/*`, `text/*`) gets text 0.0.4 first, and
    /// never protobuf, which is served only when named with its `proto` and
    /// `encoding=delimited` parameters. An unversioned `text/plain` is 0.0.4 and an
    /// unversioned `application/openmetrics-text` 1.0.0. With no `Accept` header,
    /// or one with no parseable media range, the answer is text 0.0.4. The
    /// `escaping` parameter of the range that chose the format is stated back.
    ///
    /// ```
    /// # mod promhttp { pub use promhttp_core::*; }
    /// use promhttp::{ContentType, Escaping, Format};
    /// // What Prometheus 3 sends by default.
    /// let prometheus_3 = "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.3,text/plain;version=0.0.4;q=0.2,*/*;q=0.1";
    /// let answer = ContentType::negotiate(Some(prometheus_3.as_bytes()))?;
    /// assert_eq!(answer, ContentType { format: Format::OpenMetrics, escaping: Some(Escaping::AllowUtf8) });
    /// # Ok::<(), promhttp::NotAcceptable>(())
    /// ```
    ///
    /// # Errors
    /// [`NotAcceptable`] when the header names media ranges and none of them accepts
    /// a format promhttp serves.
    pub fn negotiate(accept: Option<&[u8]>) -> Result<Self, NotAcceptable> {
        let text = ContentType {
            format: Format::Text,
            escaping: None,
        };
        let Some(accept) = accept else {
            return Ok(text);
        };
        let accept = String::from_utf8_lossy(accept);
        // (quality, specificity, escaping) of the most specific range matching
        // each offer.
        let mut best: [Option<(u16, u8, Option<Escaping>)>; OFFERS.len()] = [None; OFFERS.len()];
        let mut any_range = false;
        for range in split_unquoted(&accept, ',') {
            let Some(range) = MediaRange::parse(range) else {
                continue;
            };
            any_range = true;
            for (slot, offer) in best.iter_mut().zip(&OFFERS) {
                if let Some(specificity) = range.matches(offer) {
                    match slot {
                        Some((_, s, _)) if *s > specificity => {}
                        Some((q, s, e)) if *s == specificity => {
                            if range.q > *q {
                                *q = range.q;
                                *e = range.escaping;
                            }
                        }
                        _ => *slot = Some((range.q, specificity, range.escaping)),
                    }
                }
            }
        }
        if !any_range {
            return Ok(text);
        }
        OFFERS
            .iter()
            .zip(best)
            .filter_map(|(offer, m)| {
                let (q, specificity, escaping) = m?;
                let rank = offer.rank(specificity)?;
                (q > 0).then_some((q, rank, offer.format, escaping))
            })
            .max_by_key(|&(q, rank, _, _)| (q, rank))
            .map(|(_, _, format, escaping)| ContentType { format, escaping })
            .ok_or(NotAcceptable)
    }
}

impl Format {
    /// The exact `Content-Type` header value for this format, with no escaping
    /// scheme stated.
    #[must_use]
    pub const fn content_type(self) -> &'static str {
        ContentType {
            format: self,
            escaping: None,
        }
        .header()
    }

    /// The encoder dialect that writes this format.
    #[must_use]
    pub const fn dialect(self) -> Dialect {
        match self {
            Self::OpenMetrics | Self::OpenMetricsV0 => Dialect::OpenMetrics,
            Self::Text | Self::TextV1 => Dialect::Text,
            Self::Protobuf => Dialect::Protobuf,
        }
    }

    /// Picks the format to answer a request with the given `Accept` header; see
    /// [`ContentType::negotiate`].
    ///
    /// ```
    /// # mod promhttp { pub use promhttp_core::*; }
    /// use promhttp::Format;
    /// // What Prometheus 2.x sends.
    /// let prometheus = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
    /// assert_eq!(Format::negotiate(Some(prometheus.as_bytes())), Ok(Format::OpenMetrics));
    /// assert_eq!(Format::negotiate(Some(b"*/*")), Ok(Format::Text));
    /// assert_eq!(Format::negotiate(None), Ok(Format::Text));
    /// assert!(Format::negotiate(Some(b"application/json")).is_err());
    /// ```
    ///
    /// # Errors
    /// [`NotAcceptable`] when the header names media ranges and none of them accepts
    /// a format promhttp serves.
    pub fn negotiate(accept: Option<&[u8]>) -> Result<Self, NotAcceptable> {
        ContentType::negotiate(accept).map(|c| c.format)
    }
}

/// The `Accept` header accepts none of the formats promhttp serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotAcceptable;

impl std::fmt::Display for NotAcceptable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(NOT_ACCEPTABLE_BODY.trim_end())
    }
}

impl std::error::Error for NotAcceptable {}

const NOT_ACCEPTABLE_BODY: &str = "406 Not Acceptable: this endpoint serves \
application/openmetrics-text (versions 1.0.0 and 0.0.1), text/plain (versions 0.0.4 and 1.0.0) \
and application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited\n";

struct Offer {
    format: Format,
    kind: &'static str,
    subtype: &'static str,
    /// The `version` parameter that names this offer, and whether a range without
    /// one means it.
    version: Option<(&'static str, bool)>,
}

const OFFERS: [Offer; 5] = [
    Offer {
        format: Format::OpenMetrics,
        kind: "application",
        subtype: "openmetrics-text",
        version: Some(("1.0.0", true)),
    },
    Offer {
        format: Format::OpenMetricsV0,
        kind: "application",
        subtype: "openmetrics-text",
        version: Some(("0.0.1", false)),
    },
    Offer {
        format: Format::Text,
        kind: "text",
        subtype: "plain",
        version: Some(("0.0.4", true)),
    },
    Offer {
        format: Format::TextV1,
        kind: "text",
        subtype: "plain",
        version: Some(("1.0.0", false)),
    },
    Offer {
        format: Format::Protobuf,
        kind: "application",
        subtype: "vnd.google.protobuf",
        version: None,
    },
];

impl Offer {
    /// Tie-break among equal qualities: a named type beats a wildcard; among named
    /// types OpenMetrics 1.0 first, then protobuf, the older OpenMetrics, text 1.0.0
    /// and 0.0.4; among wildcards plain text first. `None`: a wildcard never gets
    /// protobuf.
    fn rank(&self, specificity: u8) -> Option<u8> {
        let explicit = specificity >= 3;
        Some(match (self.format, explicit) {
            (Format::OpenMetrics, true) => 9,
            (Format::Protobuf, true) => 8,
            (Format::OpenMetricsV0, true) => 7,
            (Format::TextV1, true) => 6,
            (Format::Text, true) => 5,
            (Format::Text, false) => 4,
            (Format::OpenMetrics, false) => 3,
            (Format::TextV1, false) => 2,
            (Format::OpenMetricsV0, false) => 1,
            (Format::Protobuf, false) => return None,
        })
    }
}

struct MediaRange<'a> {
    kind: &'a str,
    subtype: &'a str,
    version: Option<&'a str>,
    proto: Option<&'a str>,
    encoding: Option<&'a str>,
    escaping: Option<Escaping>,
    /// Quality in thousandths.
    q: u16,
}

impl<'a> MediaRange<'a> {
    fn parse(s: &'a str) -> Option<Self> {
        let mut parts = split_unquoted(s, ';');
        let (kind, subtype) = parts.next()?.trim().split_once('/')?;
        let (kind, subtype) = (kind.trim(), subtype.trim());
        if kind.is_empty() || subtype.is_empty() || (kind == "*" && subtype != "*") {
            return None;
        }
        let mut range = MediaRange {
            kind,
            subtype,
            version: None,
            proto: None,
            encoding: None,
            escaping: None,
            q: 1000,
        };
        for param in parts {
            let Some((key, value)) = param.split_once('=') else {
                continue;
            };
            let value = value.trim().trim_matches('"');
            match key.trim() {
                k if k.eq_ignore_ascii_case("q") => range.q = parse_quality(value)?,
                k if k.eq_ignore_ascii_case("version") => range.version = Some(value),
                k if k.eq_ignore_ascii_case("proto") => range.proto = Some(value),
                k if k.eq_ignore_ascii_case("encoding") => range.encoding = Some(value),
                // An escaping scheme promhttp does not know is ignored, as
                // client_golang ignores it.
                k if k.eq_ignore_ascii_case("escaping") => range.escaping = Escaping::parse(value),
                _ => {}
            }
        }
        Some(range)
    }

    /// How specifically this range names `offer`, or `None` when it does not match.
    fn matches(&self, offer: &Offer) -> Option<u8> {
        if self.kind == "*" {
            return Some(1);
        }
        if !self.kind.eq_ignore_ascii_case(offer.kind) {
            return None;
        }
        if self.subtype == "*" {
            return Some(2);
        }
        if !self.subtype.eq_ignore_ascii_case(offer.subtype) {
            return None;
        }
        match offer.version {
            // Protobuf: only the delimited encoding of client_model's messages.
            None => (self.proto == Some("io.prometheus.client.MetricFamily")
                && self.encoding == Some("delimited"))
            .then_some(4),
            Some((version, default)) => match self.version {
                None => default.then_some(3),
                Some(v) if v == version => Some(4),
                Some(_) => None,
            },
        }
    }
}

/// Parses an RFC 9110 qvalue (`0`, `0.5`, `1.000`) into thousandths.
fn parse_quality(s: &str) -> Option<u16> {
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let frac_value = frac
        .bytes()
        .chain(std::iter::repeat(b'0'))
        .take(3)
        .fold(0u16, |acc, b| acc * 10 + u16::from(b - b'0'));
    match int {
        "0" => Some(frac_value),
        "1" if frac_value == 0 => Some(1000),
        _ => None,
    }
}

/// Splits `s` at `sep` outside double-quoted strings.
fn split_unquoted(s: &str, sep: char) -> impl Iterator<Item = &str> {
    let mut rest = Some(s);
    std::iter::from_fn(move || {
        let s = rest?;
        let mut quoted = false;
        let mut escaped = false;
        for (i, c) in s.char_indices() {
            match c {
                _ if escaped => escaped = false,
                '\\' if quoted => escaped = true,
                '"' => quoted = !quoted,
                c if c == sep && !quoted => {
                    rest = Some(&s[i + c.len_utf8()..]);
                    return Some(&s[..i]);
                }
                _ => {}
            }
        }
        rest = None;
        Some(s)
    })
}

/// A framework-free answer to a scrape, which the adapters turn into their own
/// response type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScrapeResponse {
    /// The HTTP status code.
    pub status: u16,
    /// The `Content-Type` header value.
    pub content_type: &'static str,
    /// The body; empty for `HEAD`.
    pub body: Vec<u8>,
    /// Other response headers: `Allow` on 405, `WWW-Authenticate` on 401,
    /// `Retry-After` on 503.
    pub headers: Vec<(&'static str, &'static str)>,
    /// For `HEAD`: the `Content-Length` the same `GET` would have, which the
    /// adapters send with the empty body. `None` for `GET` (the body's length
    /// is the header's).
    pub content_length: Option<usize>,
}

/// What a scrape asked for, once its method and `Accept` header are read: the
/// answer's content type, whether the body is wanted (not for `HEAD`), and
/// whether it may be compressed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Plan {
    pub(crate) content_type: ContentType,
    pub(crate) head: bool,
    pub(crate) gzip: bool,
}

pub(crate) const PLAIN: &str = "text/plain; charset=utf-8";

impl Plan {
    /// The plan for `method` with these headers, or the answer that refuses it:
    /// `405` (with `Allow: GET, HEAD`) for a method other than `GET` and `HEAD`,
    /// `406` for an `Accept` header that accepts no format promhttp serves.
    pub(crate) fn of(
        method: &str,
        accept: Option<&[u8]>,
        accept_encoding: Option<&[u8]>,
        query: Option<&str>,
    ) -> Result<Self, ScrapeResponse> {
        let head = match method {
            "GET" => false,
            "HEAD" => true,
            _ => {
                return Err(ScrapeResponse {
                    status: 405,
                    content_type: PLAIN,
                    body: b"405 Method Not Allowed: use GET or HEAD\n".to_vec(),
                    headers: vec![("allow", "GET, HEAD")],
                    content_length: None,
                })
            }
        };
        let chosen = match forced_format(query) {
            Ok(Some(format)) => Ok(ContentType {
                format,
                escaping: None,
            }),
            Ok(None) => ContentType::negotiate(accept),
            Err(value) => {
                return Err(ScrapeResponse {
                    status: 400,
                    content_type: PLAIN,
                    body: format!(
                    "400 Bad Request: format={value:?} is not one of openmetrics, text, protobuf\n"
                )
                    .into_bytes(),
                    headers: Vec::new(),
                    content_length: None,
                })
            }
        };
        match chosen {
            Ok(content_type) => Ok(Self {
                content_type,
                head,
                gzip: accepts_gzip(accept_encoding),
            }),
            Err(NotAcceptable) => Err(ScrapeResponse {
                status: 406,
                content_type: PLAIN,
                body: if head {
                    Vec::new()
                } else {
                    NOT_ACCEPTABLE_BODY.as_bytes().to_vec()
                },
                headers: Vec::new(),
                content_length: None,
            }),
        }
    }

    /// The answer once the body is known, compressed when the scraper accepts
    /// gzip and the body is at least `threshold` bytes. For `HEAD` the same
    /// headers, the body's length as `content_length` and no body.
    pub(crate) fn answer(&self, body: Vec<u8>, threshold: usize) -> ScrapeResponse {
        let mut headers = vec![("vary", "accept-encoding")];
        let body = if self.gzip && body.len() >= threshold {
            match gzip(&body) {
                Ok(compressed) => {
                    headers.push(("content-encoding", "gzip"));
                    compressed
                }
                Err(_) => body,
            }
        } else {
            body
        };
        let (body, content_length) = if self.head {
            (Vec::new(), Some(body.len()))
        } else {
            (body, None)
        };
        ScrapeResponse {
            status: 200,
            content_type: self.content_type.header(),
            body,
            headers,
            content_length,
        }
    }
}

/// A `format` query parameter that names none of the formats.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownFormat(String);

impl std::fmt::Display for UnknownFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "format={:?} is not one of openmetrics, text, protobuf",
            self.0
        )
    }
}

impl std::error::Error for UnknownFormat {}

impl Format {
    /// The format a URL's `format` query parameter names (`openmetrics`,
    /// `text`, `protobuf`), which takes precedence over `Accept`: for scrapers
    /// that cannot set that header (Prometheus' `params`, a browser). `None`
    /// without the parameter; the first one counts.
    ///
    /// # Errors
    /// A value that names none of them.
    pub fn from_query(query: Option<&str>) -> Result<Option<Self>, UnknownFormat> {
        forced_format(query).map_err(UnknownFormat)
    }
}

/// The format a `format` query parameter names (`openmetrics`, `text`,
/// `protobuf`), for scrapers that cannot set `Accept` (Prometheus' `params`, a
/// browser); `Err` with the value when it names none of them.
fn forced_format(query: Option<&str>) -> Result<Option<Format>, String> {
    let Some(value) = query
        .into_iter()
        .flat_map(|q| q.split('&'))
        .find_map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (key == "format").then_some(value)
        })
    else {
        return Ok(None);
    };
    match value {
        "openmetrics" => Ok(Some(Format::OpenMetrics)),
        "text" => Ok(Some(Format::Text)),
        "protobuf" => Ok(Some(Format::Protobuf)),
        other => Err(other.to_owned()),
    }
}

/// Whether an `Accept-Encoding` header allows gzip: `gzip` (or `x-gzip`), or `*`
/// without an explicit refusal of gzip, with a quality above 0.
fn accepts_gzip(accept_encoding: Option<&[u8]>) -> bool {
    let Some(header) = accept_encoding else {
        return false;
    };
    let header = String::from_utf8_lossy(header);
    let mut gzip = None;
    let mut any = None;
    for item in header.split(',') {
        let mut parts = item.split(';');
        let coding = parts.next().unwrap_or("").trim();
        let q = parts
            .filter_map(|p| p.split_once('='))
            .find(|(k, _)| k.trim().eq_ignore_ascii_case("q"))
            .map_or(Some(1000), |(_, v)| parse_quality(v.trim()));
        let Some(q) = q else { continue };
        if coding.eq_ignore_ascii_case("gzip") || coding.eq_ignore_ascii_case("x-gzip") {
            gzip = Some(q);
        } else if coding == "*" {
            any = Some(q);
        }
    }
    gzip.or(any).is_some_and(|q| q > 0)
}

/// `body` gzipped, at the fastest level: a scrape is compressed once and read
/// once, every few seconds.
fn gzip(body: &[u8]) -> std::io::Result<Vec<u8>> {
    use std::io::Write as _;
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(body.len() / 4),
        flate2::Compression::fast(),
    );
    encoder.write_all(body)?;
    encoder.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Registry;

    const PROMETHEUS_ACCEPT: &[u8] = b"application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

    #[test]
    fn negotiation() {
        let cases: &[(&str, Result<Format, NotAcceptable>)] = &[
            ("", Ok(Format::Text)),
            ("*/*", Ok(Format::Text)),
            ("text/*", Ok(Format::Text)),
            ("text/plain", Ok(Format::Text)),
            ("text/plain;version=0.0.4", Ok(Format::Text)),
            ("application/openmetrics-text", Ok(Format::OpenMetrics)),
            (
                "application/openmetrics-text; version=1.0.0",
                Ok(Format::OpenMetrics),
            ),
            (
                "application/openmetrics-text; version=0.0.1",
                Ok(Format::OpenMetricsV0),
            ),
            (
                "application/openmetrics-text; version=\"0.0.1\"",
                Ok(Format::OpenMetricsV0),
            ),
            (
                "APPLICATION/OpenMetrics-Text;Version=1.0.0",
                Ok(Format::OpenMetrics),
            ),
            (
                "application/openmetrics-text;version=2.0.0",
                Err(NotAcceptable),
            ),
            ("application/json", Err(NotAcceptable)),
            ("text/plain;q=0", Err(NotAcceptable)),
            ("text/plain;q=0, */*", Ok(Format::OpenMetrics)),
            (
                "text/plain;version=0.0.4;q=0.9, application/openmetrics-text;q=0.8",
                Ok(Format::Text),
            ),
            (
                "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
                Ok(Format::Text),
            ),
            ("application/*", Ok(Format::OpenMetrics)),
            ("garbage", Ok(Format::Text)),
            ("text/plain;q=2", Ok(Format::Text)),
        ];
        for (accept, expected) in cases {
            let got = Format::negotiate(Some(accept.as_bytes()));
            assert_eq!(&got, expected, "Accept: {accept}");
        }
        assert_eq!(
            Format::negotiate(Some(PROMETHEUS_ACCEPT)),
            Ok(Format::OpenMetrics)
        );
        assert_eq!(Format::negotiate(Some(b"\xff\xfe")), Ok(Format::Text));
    }

    #[test]
    fn quality_values() {
        assert_eq!(parse_quality("0"), Some(0));
        assert_eq!(parse_quality("0.5"), Some(500));
        assert_eq!(parse_quality("0.125"), Some(125));
        assert_eq!(parse_quality("1.000"), Some(1000));
        assert_eq!(parse_quality("1.5"), None);
        assert_eq!(parse_quality("0.1234"), None);
        assert_eq!(parse_quality("-1"), None);
    }

    #[test]
    fn scrape_answers_every_method_without_panicking() {
        let registry = Registry::new();
        let get = registry.scrape("GET", None);
        assert_eq!(
            (get.status, get.content_type),
            (200, Format::Text.content_type())
        );
        let head = registry.scrape("HEAD", Some(PROMETHEUS_ACCEPT));
        assert_eq!(head.status, 200);
        assert_eq!(head.content_type, Format::OpenMetrics.content_type());
        assert!(head.body.is_empty());
        let post = registry.scrape("POST", None);
        assert_eq!(
            (post.status, post.headers),
            (405, vec![("allow", "GET, HEAD")])
        );
        let json = registry.scrape("GET", Some(b"application/json"));
        assert_eq!(json.status, 406);
        let om = registry.scrape("GET", Some(b"application/openmetrics-text"));
        assert_eq!(om.body, b"# EOF\n");
    }

    fn negotiated(accept: &str) -> Result<ContentType, NotAcceptable> {
        ContentType::negotiate(Some(accept.as_bytes()))
    }

    fn answer(format: Format, escaping: Option<Escaping>) -> Result<ContentType, NotAcceptable> {
        Ok(ContentType { format, escaping })
    }

    #[test]
    fn content_type_headers() {
        let cases = [
            (Format::OpenMetrics, "application/openmetrics-text; version=1.0.0; charset=utf-8"),
            (Format::OpenMetricsV0, "application/openmetrics-text; version=0.0.1; charset=utf-8"),
            (Format::Text, "text/plain; version=0.0.4; charset=utf-8"),
            (Format::TextV1, "text/plain; version=1.0.0; charset=utf-8"),
            (
                Format::Protobuf,
                "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited",
            ),
        ];
        for (format, header) in cases {
            assert_eq!(format.content_type(), header);
            for (escaping, name) in [
                (Escaping::AllowUtf8, "allow-utf-8"),
                (Escaping::Underscores, "underscores"),
                (Escaping::Dots, "dots"),
                (Escaping::Values, "values"),
            ] {
                let with = ContentType {
                    format,
                    escaping: Some(escaping),
                };
                assert_eq!(with.header(), format!("{header}; escaping={name}"));
                assert_eq!(Escaping::parse(name), Some(escaping));
            }
        }
        assert_eq!(Escaping::parse("utf-8"), None);
        let dialects = [
            Format::OpenMetrics,
            Format::OpenMetricsV0,
            Format::Text,
            Format::TextV1,
            Format::Protobuf,
        ]
        .map(Format::dialect);
        assert_eq!(
            dialects,
            [
                Dialect::OpenMetrics,
                Dialect::OpenMetrics,
                Dialect::Text,
                Dialect::Text,
                Dialect::Protobuf
            ]
        );
    }

    #[test]
    fn negotiation_states_the_escaping_of_the_range_that_chose() {
        let prometheus_3 = "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.3,text/plain;version=0.0.4;q=0.2,*/*;q=0.1";
        assert_eq!(
            negotiated(prometheus_3),
            answer(Format::OpenMetrics, Some(Escaping::AllowUtf8))
        );
        // Equally specific and equally good: the first range stands.
        assert_eq!(
            negotiated("text/plain;escaping=dots, text/plain;escaping=values"),
            answer(Format::Text, Some(Escaping::Dots))
        );
        // Equally specific, better: the better one.
        assert_eq!(
            negotiated("text/plain;escaping=dots;q=0.5, text/plain;escaping=values"),
            answer(Format::Text, Some(Escaping::Values))
        );
        // A less specific range does not override a more specific one, in either order.
        for accept in [
            "text/plain;version=0.0.4;q=0.3;escaping=dots, text/*;q=0.2;escaping=values",
            "text/*;q=0.2;escaping=values, text/plain;version=0.0.4;q=0.3;escaping=dots",
        ] {
            assert_eq!(
                negotiated(accept),
                answer(Format::Text, Some(Escaping::Dots)),
                "{accept}"
            );
        }
        assert_eq!(
            negotiated("text/plain;q=0, text/*"),
            answer(Format::TextV1, None)
        );
        // A more specific range decides for its offer even with a lower quality.
        assert_eq!(
            negotiated("text/*;q=0.9, text/plain;version=0.0.4;q=0.3"),
            answer(Format::TextV1, None)
        );
        // Other parameters leave the escaping alone.
        assert_eq!(
            negotiated("text/plain;escaping=dots;charset=utf-8"),
            answer(Format::Text, Some(Escaping::Dots))
        );
        assert_eq!(
            negotiated("text/plain;escaping=no"),
            answer(Format::Text, None)
        );
    }

    #[test]
    fn negotiation_of_protobuf_and_wildcards() {
        let proto = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited";
        assert_eq!(negotiated(proto), answer(Format::Protobuf, None));
        // Named with equal quality: OpenMetrics 1.0 first, then protobuf.
        assert_eq!(
            negotiated(&format!(
                "{proto}, application/openmetrics-text;version=0.0.1, text/plain"
            )),
            answer(Format::Protobuf, None)
        );
        assert_eq!(
            negotiated(&format!("{proto}, application/openmetrics-text")),
            answer(Format::OpenMetrics, None)
        );
        for not_delimited in [
            "application/vnd.google.protobuf",
            "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily",
            "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=text",
            "application/vnd.google.protobuf;proto=other;encoding=delimited",
        ] {
            assert_eq!(
                negotiated(not_delimited),
                Err(NotAcceptable),
                "{not_delimited}"
            );
        }
        // Wildcards never get protobuf, and rank text first, then OpenMetrics 1.0,
        // text 1.0.0 and OpenMetrics 0.0.1.
        assert_eq!(negotiated("*/*"), answer(Format::Text, None));
        assert_eq!(
            negotiated("text/plain;q=0, */*"),
            answer(Format::OpenMetrics, None)
        );
        assert_eq!(
            negotiated("text/plain;version=0.0.4;q=0, application/openmetrics-text;q=0, */*"),
            answer(Format::TextV1, None)
        );
        assert_eq!(
            negotiated("text/plain;q=0, text/plain;version=1.0.0;q=0, application/openmetrics-text;q=0, */*"),
            answer(Format::OpenMetricsV0, None)
        );
        assert_eq!(
            negotiated("text/plain;q=0, text/plain;version=1.0.0;q=0, application/openmetrics-text;q=0, application/openmetrics-text;version=0.0.1;q=0, */*"),
            Err(NotAcceptable)
        );
        // Named beats wildcard at equal quality, among named the order is
        // OpenMetrics 0.0.1, text 1.0.0, text 0.0.4.
        assert_eq!(
            negotiated("text/plain;version=1.0.0, application/openmetrics-text;version=0.0.1"),
            answer(Format::OpenMetricsV0, None)
        );
        assert_eq!(
            negotiated("text/plain, text/plain;version=1.0.0"),
            answer(Format::TextV1, None)
        );
        assert_eq!(
            negotiated("application/*, text/plain;version=0.0.4"),
            answer(Format::Text, None)
        );
    }

    #[test]
    fn media_ranges_are_read_with_quotes_and_spaces() {
        // A comma or semicolon inside quotes does not split.
        assert_eq!(
            negotiated("text/plain;x=\"a,b;c\";version=1.0.0"),
            answer(Format::TextV1, None)
        );
        assert_eq!(
            negotiated("text/plain;x=\"a\\\",b\";version=1.0.0"),
            answer(Format::TextV1, None)
        );
        assert_eq!(
            negotiated(" text / plain ; version = \"1.0.0\" ; Q=0.5"),
            answer(Format::TextV1, None)
        );
        // Not media ranges: left out.
        for bad in ["*/plain", "/plain", "text/", "text", "text/plain;q=x"] {
            assert_eq!(
                negotiated(&format!("{bad}, application/openmetrics-text;q=0.1")),
                answer(Format::OpenMetrics, None),
                "{bad}"
            );
            assert_eq!(negotiated(bad), answer(Format::Text, None), "{bad}");
        }
        assert_eq!(negotiated("text/plain;version"), answer(Format::Text, None));
        let parts: Vec<&str> = split_unquoted("a,\"b,c\",d", ',').collect();
        assert_eq!(parts, ["a", "\"b,c\"", "d"]);
        // A backslash escapes only inside quotes.
        let parts: Vec<&str> = split_unquoted("a\\,b", ',').collect();
        assert_eq!(parts, ["a\\", "b"]);
        let parts: Vec<&str> = split_unquoted("a;é;b", ';').collect();
        assert_eq!(parts, ["a", "é", "b"]);
        assert_eq!(parse_quality("0.05"), Some(50));
        assert_eq!(parse_quality("1."), Some(1000));
        assert_eq!(parse_quality("0.x"), None);
        assert_eq!(parse_quality("1.001"), None);
        assert_eq!(parse_quality("2"), None);
    }

    #[test]
    fn gzip_when_accepted() {
        for (header, gzip) in [
            ("gzip", true),
            ("GZip", true),
            ("x-gzip", true),
            ("deflate, gzip;q=0.5", true),
            ("*", true),
            ("gzip;q=0", false),
            ("gzip;q=0, *", false),
            ("*;q=0", false),
            ("identity", false),
            ("gzip;q=2", false),
            ("gzip;level=1;q=0.001", true),
            ("", false),
        ] {
            assert_eq!(accepts_gzip(Some(header.as_bytes())), gzip, "{header}");
        }
        assert!(!accepts_gzip(None));
    }

    #[test]
    fn the_format_parameter() {
        assert_eq!(forced_format(None), Ok(None));
        assert_eq!(forced_format(Some("a=b&c")), Ok(None));
        assert_eq!(forced_format(Some("xformat=text")), Ok(None));
        assert_eq!(
            forced_format(Some("a=b&format=text")),
            Ok(Some(Format::Text))
        );
        assert_eq!(
            forced_format(Some("format=openmetrics&format=text")),
            Ok(Some(Format::OpenMetrics))
        );
        assert_eq!(
            forced_format(Some("format=protobuf")),
            Ok(Some(Format::Protobuf))
        );
        assert_eq!(forced_format(Some("format")), Err(String::new()));
        assert_eq!(forced_format(Some("format=TEXT")), Err("TEXT".to_owned()));
        assert_eq!(
            Format::from_query(Some("x=1&format=protobuf")),
            Ok(Some(Format::Protobuf))
        );
        assert_eq!(
            Format::from_query(Some("format=xml"))
                .unwrap_err()
                .to_string(),
            "format=\"xml\" is not one of openmetrics, text, protobuf"
        );
    }

    #[test]
    fn refusals_and_failures_of_a_scrape() {
        let registry = Registry::new();
        let head = registry.scrape("HEAD", Some(b"application/json"));
        assert_eq!((head.status, head.body.len()), (406, 0));
        let get = registry.scrape("GET", Some(b"application/json"));
        assert_eq!(get.body, NOT_ACCEPTABLE_BODY.as_bytes());
        assert_eq!(NotAcceptable.to_string(), NOT_ACCEPTABLE_BODY.trim_end());
        assert_eq!(get.headers, Vec::new());
        let get = registry.scrape("GET", None);
        assert_eq!(get.headers, vec![("vary", "accept-encoding")]);
        let plan = Plan::of("GET", None, Some(b"gzip"), None).unwrap();
        let small = plan.answer(b"abc".to_vec(), 4);
        assert_eq!((small.body, small.headers.len()), (b"abc".to_vec(), 1));
        let big = plan.answer(b"abcd".to_vec(), 4);
        assert_eq!(big.headers[1], ("content-encoding", "gzip"));
        assert_eq!(&big.body[..2], [0x1f, 0x8b]);
        // HEAD: GET's headers, GET's length, no body.
        let head = Plan::of("HEAD", None, Some(b"gzip"), None)
            .unwrap()
            .answer(b"abcd".to_vec(), 4);
        assert_eq!(head.headers, big.headers);
        assert_eq!(head.content_length, Some(big.body.len()));
        assert!(head.body.is_empty());
        assert_eq!(big.content_length, None);
    }
}
