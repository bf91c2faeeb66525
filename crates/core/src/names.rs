//! The Prometheus naming rules, for exporters that take names from their users or
//! their upstreams (a rename file, a `--label` flag). Every registration and
//! [`MetricFamily::validate`](crate::family::MetricFamily::validate) applies them.
//!
//! ```
//! # mod promhttp { pub use promhttp_core::*; }
//! use promhttp::names::{check_label_name, check_metric_name};
//!
//! assert!(check_metric_name("http_requests").is_ok());
//! assert!(check_metric_name("http-requests").is_err());
//! assert!(check_label_name("__name__").is_err()); // reserved
//! ```

/// Checks `name` against `[a-zA-Z_:][a-zA-Z0-9_:]*`.
///
/// # Errors
/// The rule broken, in words.
pub fn check_metric_name(name: &str) -> Result<(), &'static str> {
    check(name, true)
        .map_err(|()| "metric names must match [a-zA-Z_:][a-zA-Z0-9_:]* (ASCII letters, digits, `_` and `:`, not starting with a digit)")
}

/// A counter family's name from a name that may end in `_total`, the suffix of
/// its samples: `jobs_total` and `jobs` both give `jobs`.
pub(crate) fn without_total(name: &str) -> &str {
    name.strip_suffix("_total").unwrap_or(name)
}

/// Checks `name` against `[a-zA-Z_][a-zA-Z0-9_]*` and the reserved `__` prefix.
///
/// # Errors
/// The rule broken, in words.
pub fn check_label_name(name: &str) -> Result<(), &'static str> {
    check(name, false).map_err(|()| {
        "label names must match [a-zA-Z_][a-zA-Z0-9_]* (ASCII letters, digits and `_`, not starting with a digit)"
    })?;
    if name.starts_with("__") {
        return Err("label names starting with `__` are reserved for Prometheus itself");
    }
    Ok(())
}

fn check(name: &str, colon: bool) -> Result<(), ()> {
    let ok_first = |b: u8| b.is_ascii_alphabetic() || b == b'_' || (colon && b == b':');
    let mut bytes = name.bytes();
    match bytes.next() {
        Some(b) if ok_first(b) => {}
        _ => return Err(()),
    }
    if bytes.all(|b| ok_first(b) || b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_names() {
        for good in ["a", "_a", ":a", "a:b_c9", "http_server_requests"] {
            assert!(check_metric_name(good).is_ok(), "{good}");
        }
        for bad in ["", "9a", "a-b", "a.b", "a b", "ä", "a\n"] {
            assert!(check_metric_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn label_names() {
        for good in ["a", "_a", "service", "a9"] {
            assert!(check_label_name(good).is_ok(), "{good}");
        }
        for bad in ["", "9a", "a:b", "__name__", "__x", "a-b", "\""] {
            assert!(check_label_name(bad).is_err(), "{bad:?}");
        }
    }
}
