//! Exposition formats, content negotiation and the framework-free scrape answer.
//!
//! Each format is written by the [encoder](crate::encode) in its own dialect;
//! none is derived from another's output.

use crate::encode::Dialect;
use crate::registry::Registry;

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
    /// The Prometheus protobuf format: length-delimited
    /// `io.prometheus.client.MetricFamily` messages.
    Protobuf,
}

impl Format {
    /// The exact `Content-Type` header value for this format.
    #[must_use]
    pub const fn content_type(self) -> &'static str {
        match self {
            Self::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
            Self::OpenMetricsV0 => "application/openmetrics-text; version=0.0.1; charset=utf-8",
            Self::Text => "text/plain; version=0.0.4; charset=utf-8",
            Self::Protobuf => {
                "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited"
            }
        }
    }

    /// The encoder dialect that writes this format.
    #[must_use]
    pub const fn dialect(self) -> Dialect {
        match self {
            Self::OpenMetrics | Self::OpenMetricsV0 => Dialect::OpenMetrics,
            Self::Text => Dialect::Text,
            Self::Protobuf => Dialect::Protobuf,
        }
    }

    /// Picks the format to answer a request with the given `Accept` header.
    ///
    /// Follows RFC 9110: the most specific media range that matches an offer gives
    /// its quality, `q=0` refuses, and among equal qualities an explicitly named type
    /// wins over a wildcard. With no `Accept` header, or one with no parseable media
    /// range, the answer is [`Format::Text`]; a wildcard alone (`*/*`) also gets text.
    ///
    /// ```
    /// use promhttp_core::Format;
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
        let Some(accept) = accept else {
            return Ok(Self::Text);
        };
        let accept = String::from_utf8_lossy(accept);
        // (quality, specificity) of the most specific range matching each offer.
        let mut best: [Option<(u16, u8)>; 3] = [None; 3];
        let mut any_range = false;
        for range in split_unquoted(&accept, ',') {
            let Some(range) = MediaRange::parse(range) else {
                continue;
            };
            any_range = true;
            for (slot, offer) in best.iter_mut().zip(&OFFERS) {
                if let Some(specificity) = range.matches(offer) {
                    match slot {
                        Some((q, s)) if *s > specificity => {}
                        Some((q, s)) if *s == specificity => *q = (*q).max(range.q),
                        _ => *slot = Some((range.q, specificity)),
                    }
                }
            }
        }
        if !any_range {
            return Ok(Self::Text);
        }
        OFFERS
            .iter()
            .zip(best)
            .filter_map(|(offer, m)| {
                let (q, specificity) = m?;
                (q > 0).then_some((q, offer.rank(specificity), offer.format))
            })
            .max_by_key(|&(q, rank, _)| (q, rank))
            .map(|(_, _, format)| format)
            .ok_or(NotAcceptable)
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
application/openmetrics-text; version=1.0.0 (or 0.0.1) and text/plain; version=0.0.4\n";

struct Offer {
    format: Format,
    kind: &'static str,
    subtype: &'static str,
    version: &'static str,
}

const OFFERS: [Offer; 3] = [
    Offer {
        format: Format::OpenMetrics,
        kind: "application",
        subtype: "openmetrics-text",
        version: "1.0.0",
    },
    Offer {
        format: Format::OpenMetricsV0,
        kind: "application",
        subtype: "openmetrics-text",
        version: "0.0.1",
    },
    Offer {
        format: Format::Text,
        kind: "text",
        subtype: "plain",
        version: "0.0.4",
    },
];

impl Offer {
    /// Tie-break among equal qualities: a named type beats a wildcard; among named
    /// types OpenMetrics 1.0 is preferred, among wildcards plain text.
    fn rank(&self, specificity: u8) -> u8 {
        let explicit = specificity >= 3;
        match (self.format, explicit) {
            (Format::OpenMetrics, true) => 5,
            (Format::OpenMetricsV0, true) => 4,
            (Format::Text, true) => 3,
            (Format::Text, false) => 2,
            (Format::OpenMetrics, false) => 1,
            (Format::OpenMetricsV0, false) => 0,
            (Format::Protobuf, _) => 0,
        }
    }
}

struct MediaRange<'a> {
    kind: &'a str,
    subtype: &'a str,
    version: Option<&'a str>,
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
        match self.version {
            None => {
                // An unversioned OpenMetrics range means the current version only.
                (offer.format != Format::OpenMetricsV0).then_some(3)
            }
            Some(v) if v == offer.version => Some(4),
            Some(_) => None,
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
}

impl Registry {
    /// Answers a scrape of this registry.
    ///
    /// `method` is the request method and `accept` the raw `Accept` header. `GET`
    /// gets the exposition in the negotiated [`Format`]; `HEAD` the same status and
    /// headers with an empty body (nothing is encoded); any other method `405` with
    /// `Allow: GET, HEAD`; an `Accept` header that accepts no format promhttp serves
    /// `406`; a collector that fails to encode `500`. None of these panics.
    #[must_use]
    pub fn scrape(&self, method: &str, accept: Option<&[u8]>) -> ScrapeResponse {
        const PLAIN: &str = "text/plain; charset=utf-8";
        let head = match method {
            "GET" => false,
            "HEAD" => true,
            _ => {
                return ScrapeResponse {
                    status: 405,
                    content_type: PLAIN,
                    body: b"405 Method Not Allowed: use GET or HEAD\n".to_vec(),
                    headers: vec![("allow", "GET, HEAD")],
                }
            }
        };
        let format = match Format::negotiate(accept) {
            Ok(format) => format,
            Err(NotAcceptable) => {
                return ScrapeResponse {
                    status: 406,
                    content_type: PLAIN,
                    body: if head {
                        Vec::new()
                    } else {
                        NOT_ACCEPTABLE_BODY.as_bytes().to_vec()
                    },
                    headers: Vec::new(),
                }
            }
        };
        if head {
            return ScrapeResponse {
                status: 200,
                content_type: format.content_type(),
                body: Vec::new(),
                headers: Vec::new(),
            };
        }
        let mut body = Vec::new();
        match self.encode_to(format, &mut body) {
            Ok(()) => ScrapeResponse {
                status: 200,
                content_type: format.content_type(),
                body,
                headers: Vec::new(),
            },
            Err(err) => ScrapeResponse {
                status: 500,
                content_type: PLAIN,
                body: format!("500 Internal Server Error: {err}\n").into_bytes(),
                headers: Vec::new(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
