//! Differential test of the OpenMetrics parser (`promhttp::parse::parse_openmetrics`)
//! against the Python `prometheus_client` OpenMetrics parser, on generated
//! expositions: valid ones (families of every type, hostile label values, numbers
//! in many forms) and mutations of them (no `# EOF`, blank lines, swapped, deleted
//! and duplicated lines, corrupted characters, bad escapes, changed types, ...).
//! The two parsers must agree on accepting or rejecting each input and, where both
//! accept, read the same families: names, types, help, units, samples, labels,
//! values (NaN-aware), timestamps and exemplars.
//!
//! The inputs on which the Python parser departs from the specification are kept
//! out of the generator; `exposition_gen` lists them, and the unit tests of
//! `promhttp_core::parse` show what this parser does with each.
//!
//! Bounded: batches of 8 expositions, one exchange with the Python worker per
//! batch; `PROPTEST_CASES` sets the number of batches (default 600 valid, 1200
//! mutated).

mod common;
mod exposition_gen;

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;

use exposition_gen::{exposition, mutation, Exposition};
use promhttp::family::MetricFamily;
use promhttp::parse::{parse_openmetrics, ParseError, Rule};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

const BATCH: usize = 8;

fn runner(default_cases: u32) -> TestRunner {
    TestRunner::new(Config {
        cases: exposition_gen::cases(default_cases),
        failure_persistence: None,
        ..Config::default()
    })
}

/// How many inputs each verdict covered.
#[derive(Default)]
struct Tally {
    /// Accepted by both, read alike.
    accepted: Cell<usize>,
    /// Refused by both.
    rejected: Cell<usize>,
    /// Refused here and accepted by Python (or the other way round) for one of its
    /// known departures from the specification, by departure.
    divergent: RefCell<BTreeMap<String, usize>>,
}

#[test]
fn valid_expositions_are_read_alike() {
    require_python_parser!();
    let tally = Tally::default();
    runner(600)
        .run(&vec(exposition(), BATCH), |batch| {
            let texts: Vec<String> = batch.iter().map(Exposition::text).collect();
            check(&texts, &tally, true)
        })
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(tally.rejected.get(), 0);
    assert!(tally.divergent.borrow().is_empty());
    assert!(
        tally.accepted.get() >= BATCH,
        "{} accepted",
        tally.accepted.get()
    );
}

#[test]
fn broken_expositions_are_refused_alike() {
    require_python_parser!();
    let tally = Tally::default();
    runner(1200)
        .run(&vec((exposition(), mutation()), BATCH), |batch| {
            let texts: Vec<String> = batch.iter().map(|(e, m)| e.mutate(m)).collect();
            check(&texts, &tally, false)
        })
        .unwrap_or_else(|e| panic!("{e}"));
    // The mutations must mostly break the expositions, and not always.
    let (accepted, rejected) = (tally.accepted.get(), tally.rejected.get());
    let divergent: usize = tally.divergent.borrow().values().sum();
    println!(
        "{rejected} refused by both, {accepted} accepted by both, known departures: {:?}",
        tally.divergent.borrow()
    );
    assert!(
        rejected > accepted,
        "{rejected} rejected, {accepted} accepted"
    );
    assert!(accepted > 0, "{rejected} rejected, {accepted} accepted");
    assert!(divergent * 20 < rejected, "{divergent} known departures");
}

/// Both parsers on each text: the same verdict, and the same families when both
/// accept. With `valid`, every text must be accepted, by both; otherwise a
/// disagreement passes only if it is one of the known departures of the Python
/// parser from the specification, recognised by [`known_divergence`] from the
/// input and Python's reading, with this parser refusing under the rule the
/// specification sets.
fn check(texts: &[String], tally: &Tally, valid: bool) -> Result<(), TestCaseError> {
    let theirs = common::python_try_parse_many("openmetrics", texts);
    for (text, theirs) in texts.iter().zip(theirs) {
        let ours = parse_openmetrics(text);
        let verdict = match (&ours, &theirs) {
            (Ok(o), Ok(t)) => common::compare_with_reference(o, t).map(|()| Some(&tally.accepted)),
            (Err(_), Err(_)) if !valid => Ok(Some(&tally.rejected)),
            (Err(e), Err(t)) => Err(format!("a valid exposition refused: {e}; Python: {t}")),
            _ => match known_divergence(text, &ours, &theirs).filter(|_| !valid) {
                Some(class) => {
                    *tally.divergent.borrow_mut().entry(class).or_default() += 1;
                    Ok(None)
                }
                None => Err(match (&ours, &theirs) {
                    (Ok(_), Err(t)) => format!("accepted here, refused by Python: {t}"),
                    (Err(e), _) => format!("refused here ({e}), accepted by Python"),
                    _ => unreachable!(),
                }),
            },
        };
        let counter =
            verdict.map_err(|why| TestCaseError::fail(format!("{why}\n---\n{text}---")))?;
        if let Some(counter) = counter {
            counter.set(counter.get() + 1);
        }
    }
    Ok(())
}

/// The known departure of the Python parser from the specification that explains
/// why the two disagree on `text`, if there is one (numbers as in
/// `exposition_gen`'s list; the mutations can form these inputs, the valid
/// expositions never do):
///
/// - 8: a counter point with `_created` but no `_total` (after a line is deleted,
///   say), a non-finite `_created`, `quantile` on a summary's `_count`, `_sum` or
///   `_created`, a bucket exemplar above the bucket or NaN, an `le` or `quantile`
///   that Python's `float()` reads with spaces or `_` in it, a number beyond
///   float64 (which Python reads as infinite): Python's reading shows the sample,
///   or the number is one, and this parser refuses it under the rule for it;
/// - 1: a series repeated without timestamps, which Python drops: the line this
///   parser refuses starts like an earlier one, name and label set, and neither
///   has a timestamp;
/// - 4: the order and presence of timestamps of info samples, which Python does
///   not check per label set: the line refused is an info sample;
/// - 5: a `"` after the value of the line refused (outside the exemplar's label
///   set): Python toggles "in quotes" on each and skips what lies between; and,
///   the other way round, an escaped quote in an exemplar's label set, which
///   Python refuses for the same reason;
/// - 3: Python fails (not a `ValueError`: an `AttributeError` or `TypeError`)
///   comparing a float timestamp (`1e5`) with one of its `Timestamp`s.
fn known_divergence(
    text: &str,
    ours: &Result<Vec<MetricFamily>, ParseError>,
    theirs: &Result<common::Exposition, String>,
) -> Option<String> {
    let (err, t) = match (ours, theirs) {
        (Ok(_), Err(msg)) => {
            if msg.starts_with("AttributeError") || msg.starts_with("TypeError") {
                return Some("3: Python fails comparing timestamps".into());
            }
            let escaped_quote = text.split('\n').any(|line| {
                let rest = &line[series_head(line).len()..];
                rest.find(" # {").is_some_and(|hash| {
                    let exemplar = &rest[hash + 3..];
                    exemplar[..exemplar_gen_end(exemplar).unwrap_or(0)].contains("\\\"")
                })
            });
            return escaped_quote.then(|| "5: Python refuses escaped quotes in exemplars".into());
        }
        (Err(err), Ok(t)) => (err, t),
        _ => return None,
    };
    let line = text
        .split('\n')
        .nth(err.line().wrapping_sub(1))
        .unwrap_or("");
    let samples = |kind: &'static str| {
        t.families
            .iter()
            .filter(move |f| f.kind == kind)
            .flat_map(|f| f.samples.iter().map(move |s| (f, s)))
    };
    let suffix =
        |f: &common::Family, s: &common::Sample, x: &str| s.name == format!("{}{x}", f.name);
    if stray_quote(line) {
        return Some("5: Python skips quotes after the value".into());
    }
    let found = match err.rule() {
        Rule::CounterWithoutTotal => samples("counter").any(|(f, s)| {
            suffix(f, s, "_created")
                && !f.samples.iter().any(|o| {
                    suffix(f, o, "_total") && o.labels == s.labels && o.timestamp == s.timestamp
                })
        }),
        Rule::CreatedValue => t
            .families
            .iter()
            .flat_map(|f| f.samples.iter().map(move |s| (f, s)))
            .any(|(f, s)| suffix(f, s, "_created") && !s.value.is_finite()),
        Rule::TypeLabel => {
            samples("summary").any(|(f, s)| s.name != f.name && s.labels.contains_key("quantile"))
        }
        Rule::ExemplarOutOfBucket => ["histogram", "gaugehistogram"]
            .into_iter()
            .flat_map(samples)
            .any(|(_, s)| {
                let le = s.labels.get("le").and_then(|le| le.parse::<f64>().ok());
                s.exemplar
                    .as_ref()
                    .is_some_and(|e| e.value.is_nan() || le.is_some_and(|le| e.value > le))
            }),
        Rule::BucketLabel | Rule::QuantileLabel => {
            t.families.iter().flat_map(|f| &f.samples).any(|s| {
                ["le", "quantile"]
                    .iter()
                    .filter_map(|k| s.labels.get(*k))
                    .any(|v| v.trim() != v || v.contains('_'))
            })
        }
        Rule::NumberRange => {
            // A decimal number beyond float64, which Python's `float()` reads as
            // infinite.
            let token: String = line
                .chars()
                .skip(err.column() - 1)
                .take_while(|&c| c != ' ')
                .collect();
            token.bytes().any(|b| b.is_ascii_digit())
                && token.parse::<f64>().is_ok_and(f64::is_infinite)
        }
        Rule::DuplicateSeries => {
            let head = series_head(line);
            !has_timestamp(line)
                && text
                    .split('\n')
                    .take(err.line().saturating_sub(1))
                    .any(|l| series_head(l) == head && !has_timestamp(l))
        }
        Rule::TimestampOrder | Rule::TimestampPresence | Rule::MetricsInterleaved => {
            samples("info").any(|(f, _)| series_head(line).starts_with(&format!("{}_info", f.name)))
        }
        _ => false,
    };
    found.then(|| format!("8/1/4: refused under {:?}", err.rule()))
}

/// The name and label set that start a sample line.
fn series_head(line: &str) -> &str {
    let end = exposition_gen::label_set_end(line).map_or_else(
        || line.find(' ').unwrap_or(line.len()),
        |chars| {
            line.char_indices()
                .nth(chars)
                .map_or(line.len(), |(b, _)| b + 1)
        },
    );
    &line[..end]
}

/// Whether a sample line has a `"` after its name and label set, other than in
/// an exemplar's label set.
fn stray_quote(line: &str) -> bool {
    let rest = &line[series_head(line).len()..];
    let Some(hash) = rest.find(" # {") else {
        return rest.contains('"');
    };
    let exemplar = &rest[hash + 3..];
    let after = exemplar_gen_end(exemplar).map_or("", |end| &exemplar[end..]);
    rest[..hash].contains('"') || after.contains('"')
}

/// The byte offset just past the label set that starts `s`, if it closes.
fn exemplar_gen_end(s: &str) -> Option<usize> {
    let chars = exposition_gen::label_set_end(&format!("x{s}"))?;
    s.char_indices()
        .nth(chars - 1)
        .map(|(b, c)| b + c.len_utf8())
}

/// Whether a sample line has a timestamp: a field after its value (before any
/// exemplar).
fn has_timestamp(line: &str) -> bool {
    let rest = &line[series_head(line).len()..];
    let fields: Vec<&str> = rest.split(" # ").next().unwrap_or("").split(' ').collect();
    fields.len() > 2
}
