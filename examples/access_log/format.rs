//! Access-log line formats: Common and Combined Log Format, or a user's regex.

use std::fmt;

use promhttp::HttpMethod;
use regex::Regex;

/// The fields every format must yield, as named groups.
const REQUIRED_GROUPS: [&str; 3] = ["method", "status", "bytes"];

/// A quoted field as Apache and nginx write it: backslash escapes allowed inside.
const QUOTED: &str = r#""(?:[^"\\]|\\.)*""#;

/// `host ident authuser [date] "request" status bytes`; the method is the first
/// word of the request (`"-"`, written for requests that never arrived whole, and
/// `""` count as `_OTHER`).
const COMMON: &str = r#"^\S+ \S+ \S+ \[[^\]]*\] "(?P<method>[^\s"\\]*)(?:[^"\\]|\\.)*" (?P<status>\S+) (?P<bytes>\S+)"#;

/// A request time after the standard fields: seconds, as nginx's
/// `$request_time` and Apache's `%T` write them (`0.123`, `2`).
const REQUEST_TIME: &str = r"(?: (?P<request_time>\d+(?:\.\d+)?))?";

/// Anything after: fields a server's own log format adds.
const TRAILING: &str = "(?: .*)?$";

/// Which built-in format `--format` selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Builtin {
    /// Common Log Format.
    Common,
    /// Combined Log Format: Common plus `"referer" "user-agent"`.
    Combined,
    /// Either of the two, line by line.
    Auto,
}

/// One request read from a line, its labels already bounded.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Request {
    /// The method; anything but the nine standard ones is `_OTHER`.
    pub(crate) method: HttpMethod,
    /// The status: three digits, 100 to 599.
    pub(crate) status: u16,
    /// The response size; CLF's `-` is 0.
    pub(crate) bytes: u64,
    /// The request time in seconds, when the line has one.
    pub(crate) seconds: Option<f64>,
}

/// A compiled line format.
#[derive(Debug, Clone)]
pub(crate) struct LineFormat {
    regex: Regex,
}

/// A `--regex` that cannot be used.
#[derive(Debug)]
pub(crate) enum FormatError {
    /// It is not a valid regular expression.
    Invalid(regex::Error),
    /// It lacks some of the named groups `method`, `status` and `bytes`.
    MissingGroups(Vec<&'static str>),
}

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Invalid(err) => write!(f, "--regex is not a valid regular expression: {err}"),
            Self::MissingGroups(missing) => write!(
                f,
                "--regex must capture the named groups method, status and bytes, \
                 e.g. (?P<status>\\d+); missing: {}",
                missing.join(", ")
            ),
        }
    }
}

impl std::error::Error for FormatError {}

impl LineFormat {
    /// One of the built-in formats, matching whole lines: their fields, then
    /// an optional request time in seconds (a very common addition: nginx's
    /// `$request_time`, Apache's `%T`), then anything (fields a server adds).
    pub(crate) fn builtin(which: Builtin) -> Self {
        let tail = match which {
            Builtin::Common => format!("{REQUEST_TIME}{TRAILING}"),
            Builtin::Combined => format!(" {QUOTED} {QUOTED}{REQUEST_TIME}{TRAILING}"),
            Builtin::Auto => format!("(?: {QUOTED} {QUOTED})?{REQUEST_TIME}{TRAILING}"),
        };
        let regex = Regex::new(&format!("{COMMON}{tail}")).expect("the built-in formats compile");
        Self { regex }
    }

    /// A user's regex with the named groups `method`, `status` and `bytes`, and
    /// optionally `request_time` (seconds). It is searched for anywhere in the
    /// line: anchor it with `^` and `$` to match whole lines.
    pub(crate) fn custom(pattern: &str) -> Result<Self, FormatError> {
        let regex = Regex::new(pattern).map_err(FormatError::Invalid)?;
        let missing: Vec<_> = REQUIRED_GROUPS
            .into_iter()
            .filter(|group| !regex.capture_names().any(|name| name == Some(group)))
            .collect();
        if missing.is_empty() {
            Ok(Self { regex })
        } else {
            Err(FormatError::MissingGroups(missing))
        }
    }

    /// The request a line records, or `None` when the line is malformed: it does
    /// not match, is not UTF-8, or its status or bytes are out of bounds.
    pub(crate) fn parse(&self, line: &[u8]) -> Option<Request> {
        let line = std::str::from_utf8(line).ok()?;
        let caps = self.regex.captures(line)?;
        let group = |name| caps.name(name).map_or("", |m| m.as_str());
        let seconds = match caps.name("request_time") {
            Some(time) => Some(parse_seconds(time.as_str())?),
            None => None,
        };
        Some(Request {
            method: HttpMethod::from_token(group("method")),
            status: parse_status(group("status"))?,
            bytes: parse_bytes(group("bytes"))?,
            seconds,
        })
    }
}

/// Exactly three ASCII digits from 100 to 599.
fn parse_status(text: &str) -> Option<u16> {
    if text.len() != 3 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let status = text.parse().ok()?;
    (100..=599).contains(&status).then_some(status)
}

/// A finite, non-negative number of seconds.
fn parse_seconds(text: &str) -> Option<f64> {
    let seconds: f64 = text.parse().ok()?;
    (seconds.is_finite() && seconds >= 0.0).then_some(seconds)
}

/// ASCII digits that fit a `u64`, or `-` for none.
fn parse_bytes(text: &str) -> Option<u64> {
    if text == "-" {
        return Some(0);
    }
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLF: &str =
        r#"127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326"#;
    const COMBINED_TAIL: &str =
        r#" "http://www.example.com/start.html" "Mozilla/4.08 [en] (Win98; I ;Nav)""#;

    fn request(method: HttpMethod, status: u16, bytes: u64) -> Option<Request> {
        Some(Request {
            method,
            status,
            bytes,
            seconds: None,
        })
    }

    #[test]
    fn common_reads_the_apache_example_and_trailing_fields() {
        let common = LineFormat::builtin(Builtin::Common);
        assert_eq!(
            common.parse(CLF.as_bytes()),
            request(HttpMethod::Get, 200, 2326)
        );
        // What follows the common fields is a server's own: read past.
        assert_eq!(
            common.parse(format!("{CLF}{COMBINED_TAIL}").as_bytes()),
            request(HttpMethod::Get, 200, 2326)
        );
    }

    #[test]
    fn a_trailing_request_time_is_read_in_seconds() {
        let with_time = |seconds| {
            Some(Request {
                seconds: Some(seconds),
                ..request(HttpMethod::Get, 200, 5).unwrap()
            })
        };
        // The issue's line: a combined log with a trailing request time.
        let line =
            r#"1.2.3.4 - - [01/Jan/2024:00:00:00 +0000] "GET / HTTP/1.1" 200 5 "-" "curl/8" 0.123"#;
        for which in [Builtin::Combined, Builtin::Auto] {
            assert_eq!(
                LineFormat::builtin(which).parse(line.as_bytes()),
                with_time(0.123)
            );
        }
        // ... and the common one, with whole seconds and more fields after.
        let line = r#"1.2.3.4 - - [01/Jan/2024:00:00:00 +0000] "GET / HTTP/1.1" 200 5 2 upstream=10.0.0.9"#;
        for which in [Builtin::Common, Builtin::Auto] {
            assert_eq!(
                LineFormat::builtin(which).parse(line.as_bytes()),
                with_time(2.0)
            );
        }
        // A trailing field that is not a time is only a field.
        let line =
            r#"1.2.3.4 - - [01/Jan/2024:00:00:00 +0000] "GET / HTTP/1.1" 200 5 host.example"#;
        assert_eq!(
            LineFormat::builtin(Builtin::Auto).parse(line.as_bytes()),
            request(HttpMethod::Get, 200, 5)
        );
        // A custom format's `request_time` group, and a bad one.
        let format = LineFormat::custom(
            r"^(?P<method>\S+) (?P<status>\d+) (?P<bytes>\d+) (?P<request_time>\S+)$",
        )
        .unwrap();
        assert_eq!(format.parse(b"GET 200 5 0.5"), with_time(0.5));
        assert_eq!(format.parse(b"GET 200 5 soon"), None);
    }

    #[test]
    fn combined_needs_referer_and_user_agent() {
        let combined = LineFormat::builtin(Builtin::Combined);
        assert_eq!(
            combined.parse(format!("{CLF}{COMBINED_TAIL}").as_bytes()),
            request(HttpMethod::Get, 200, 2326)
        );
        assert_eq!(combined.parse(CLF.as_bytes()), None);
    }

    #[test]
    fn auto_reads_both() {
        let auto = LineFormat::builtin(Builtin::Auto);
        assert!(auto.parse(CLF.as_bytes()).is_some());
        assert!(auto
            .parse(format!("{CLF}{COMBINED_TAIL}").as_bytes())
            .is_some());
        assert_eq!(
            auto.parse(format!("{CLF} trailing").as_bytes()),
            request(HttpMethod::Get, 200, 2326)
        );
    }

    #[test]
    fn unknown_methods_are_other_and_dash_bytes_are_zero() {
        let auto = LineFormat::builtin(Builtin::Auto);
        let line = r#"::1 - - [01/Jan/2024:00:00:00 +0000] "PROPFIND /dav HTTP/1.1" 207 -"#;
        assert_eq!(
            auto.parse(line.as_bytes()),
            request(HttpMethod::Other, 207, 0)
        );
        let lower = r#"::1 - - [01/Jan/2024:00:00:00 +0000] "get / HTTP/1.1" 200 1"#;
        assert_eq!(
            auto.parse(lower.as_bytes()),
            request(HttpMethod::Other, 200, 1)
        );
        let no_request = r#"10.0.0.1 - - [01/Jan/2024:00:00:00 +0000] "-" 408 -"#;
        assert_eq!(
            auto.parse(no_request.as_bytes()),
            request(HttpMethod::Other, 408, 0)
        );
    }

    #[test]
    fn escaped_quotes_inside_fields_are_read() {
        let auto = LineFormat::builtin(Builtin::Auto);
        let line = r#"1.2.3.4 - - [01/Jan/2024:00:00:00 +0000] "POST /q?a=\"x\" HTTP/1.1" 201 5 "-" "agent \"quoted\"""#;
        assert_eq!(
            auto.parse(line.as_bytes()),
            request(HttpMethod::Post, 201, 5)
        );
    }

    #[test]
    fn statuses_and_sizes_out_of_bounds_are_malformed() {
        let auto = LineFormat::builtin(Builtin::Auto);
        let line = |status: &str, bytes: &str| {
            format!(r#"h - - [d] "GET / HTTP/1.1" {status} {bytes}"#).into_bytes()
        };
        for status in ["099", "600", "20", "2000", "abc", "-", "+20"] {
            assert_eq!(auto.parse(&line(status, "1")), None, "status {status}");
        }
        for bytes in ["", "x", "-1", "+1", "18446744073709551616"] {
            assert_eq!(auto.parse(&line("200", bytes)), None, "bytes {bytes:?}");
        }
        assert_eq!(
            auto.parse(&line("599", "18446744073709551615")),
            request(HttpMethod::Get, 599, u64::MAX)
        );
    }

    #[test]
    fn invalid_utf8_and_empty_lines_are_malformed() {
        let auto = LineFormat::builtin(Builtin::Auto);
        let mut line = CLF.as_bytes().to_vec();
        line[20] = 0xff;
        assert_eq!(auto.parse(&line), None);
        assert_eq!(auto.parse(b""), None);
    }

    #[test]
    fn custom_regex_reads_its_named_groups() {
        let format = LineFormat::custom(
            r"^(?P<method>\S+) (?P<path>\S+) -> (?P<status>\d+) \((?P<bytes>\S+) bytes\)$",
        )
        .unwrap();
        assert_eq!(
            format.parse(b"DELETE /x -> 204 (- bytes)"),
            request(HttpMethod::Delete, 204, 0)
        );
        assert_eq!(format.parse(b"DELETE /x -> 204"), None);
    }

    #[test]
    fn custom_regex_without_the_groups_is_refused_with_their_names() {
        let err = LineFormat::custom(r"(?P<method>\S+) (\d+)").unwrap_err();
        let message = err.to_string();
        assert!(message.contains("missing: status, bytes"), "{message}");
        let err = LineFormat::custom("(unclosed").unwrap_err();
        assert!(err.to_string().contains("not a valid regular expression"));
    }
}
