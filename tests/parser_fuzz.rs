//! Bounded fuzzing of the exposition parsers (`promhttp::parse`): on any input,
//! arbitrary text and bytes, fragments of the formats stuck together, and valid
//! expositions with mutations stacked on them, neither parser panics; an error
//! names a line of the input and a column within that line or just past its end;
//! and what the OpenMetrics parser accepts, `encode_families` writes back into
//! text it reads as the same families.
//!
//! A few seconds: `PROPTEST_CASES` cases per kind of input (default 2000).

mod exposition_gen;

use exposition_gen::{exposition, mutation, same_families, Exposition};
use promhttp::encode::encode_families;
use promhttp::parse::{parse, parse_openmetrics, parse_text, ParseError};
use proptest::collection::vec;
use proptest::prelude::*;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: exposition_gen::cases(2000),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Pieces of both formats, to be put together in any order.
const FRAGMENTS: &[&str] = &[
    "# TYPE ",
    "# HELP ",
    "# UNIT ",
    "# EOF",
    "\n",
    "\r",
    "\t",
    " ",
    "  ",
    "#",
    "{",
    "}",
    "=",
    "\"",
    "\\",
    "\\\"",
    "\\n",
    ",",
    "a",
    "a_total",
    "a_bucket",
    "a_count",
    "a_sum",
    "a_created",
    "a_info",
    "le",
    "quantile",
    "+Inf",
    "-Inf",
    "NaN",
    "nan",
    "1",
    "0",
    "-1",
    "1.5e3",
    ".5",
    "1e400",
    "counter",
    "gauge",
    "histogram",
    "gaugehistogram",
    "summary",
    "info",
    "stateset",
    "unknown",
    "untyped",
    "seconds",
    " # {",
    "é",
    "\u{feff}",
    "\u{0}",
    "_",
    ":",
    "1700000000.123",
];

/// Checks everything the parsers say about `text`.
fn check(text: &str) -> Result<(), TestCaseError> {
    match parse_openmetrics(text) {
        Ok(families) => {
            let written = encode_families(&families);
            let again = parse_openmetrics(&written)
                .map_err(|e| TestCaseError::fail(format!("rereading {written:?}: {e}")))?;
            prop_assert!(
                same_families(&families, &again),
                "{families:#?}\nwritten as {written:?}\nread back as {again:#?}"
            );
        }
        Err(err) => check_position(text, &err)?,
    }
    if let Err(err) = parse_text(text) {
        check_position(text, &err)?;
    }
    for content_type in [Some("application/openmetrics-text; version=1.0.0"), None] {
        if let Err(err) = parse(content_type, text) {
            check_position(text, &err)?;
        }
    }
    Ok(())
}

/// The error names a line of `text` and a column of that line, or just past it.
fn check_position(text: &str, err: &ParseError) -> Result<(), TestCaseError> {
    let lines: Vec<&str> = text.split('\n').collect();
    prop_assert!(
        (1..=lines.len()).contains(&err.line()),
        "line {} of {}: {err}",
        err.line(),
        lines.len()
    );
    let chars = lines[err.line() - 1].chars().count();
    prop_assert!(
        (1..=chars + 1).contains(&err.column()),
        "column {} of {chars}: {err}",
        err.column()
    );
    let place = format!(
        "line {}, column {}: {}",
        err.line(),
        err.column(),
        err.rule().description()
    );
    prop_assert!(err.to_string().starts_with(&place), "{err}");
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_text(text in "\\PC*|.*", bytes in vec(any::<u8>(), 0..300)) {
        check(&text)?;
        check(&String::from_utf8_lossy(&bytes))?;
    }

    #[test]
    fn fragments_of_the_formats(parts in vec(proptest::sample::select(FRAGMENTS), 0..60)) {
        check(&parts.concat())?;
    }

    #[test]
    fn mutated_expositions(e in exposition(), ms in vec(mutation(), 1..5)) {
        check(&e.text())?;
        let mut text = e.text();
        for m in &ms {
            text = Exposition::from_text(&text).mutate(m);
            check(&text)?;
        }
    }
}

/// A pinned case of each kind, so that the properties above are known to reach
/// both branches of `check`.
#[test]
fn checks_reach_both_verdicts() {
    check("# TYPE a counter\na_total 1 # {t=\"x\"} 0.5 1\n# EOF\n").unwrap();
    check("a 1\n").unwrap();
    assert!(parse_openmetrics("a 1\n").is_err());
    assert!(parse_openmetrics("# TYPE a counter\na_total 1\n# EOF\n").is_ok());
}
