//! One test per rule (line, column and rule of the error), the valid forms, and the
//! inputs on which the Python `prometheus_client` parser and the specification part
//! ways (see `tests/parser_differential.rs`).

use super::*;
use crate::encode::encode_families;
use crate::family::{Exemplar, MetricType, Sample};

/// Parses `text`, which must fail, and checks where and why.
#[track_caller]
fn fails(
    parse: fn(&str) -> Result<Vec<MetricFamily>, ParseError>,
    text: &str,
    line: usize,
    column: usize,
    rule: Rule,
) {
    match parse(text) {
        Ok(families) => panic!("accepted {text:?}: {families:#?}"),
        Err(err) => {
            assert_eq!(
                (err.line(), err.column(), err.rule()),
                (line, column, rule),
                "{text:?}: {err}"
            );
            assert!(err
                .to_string()
                .starts_with(&format!("line {line}, column {column}: ")));
        }
    }
}

#[track_caller]
fn om_fails(text: &str, line: usize, column: usize, rule: Rule) {
    fails(parse_openmetrics, text, line, column, rule);
}

#[track_caller]
fn text_fails(text: &str, line: usize, column: usize, rule: Rule) {
    fails(parse_text, text, line, column, rule);
}

#[track_caller]
fn om(text: &str) -> Vec<MetricFamily> {
    parse_openmetrics(text).unwrap_or_else(|e| panic!("{text:?}: {e}"))
}

#[track_caller]
fn text(text: &str) -> Vec<MetricFamily> {
    parse_text(text).unwrap_or_else(|e| panic!("{text:?}: {e}"))
}

fn owned(labels: &[(&str, &str)]) -> crate::family::Labels {
    labels
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

// ---- OpenMetrics: the structure of the exposition ----

#[test]
fn om_byte_order_mark() {
    om_fails("\u{feff}a 1\n# EOF\n", 1, 1, Rule::ByteOrderMark);
}

#[test]
fn om_eof_required_and_last() {
    om_fails("", 1, 1, Rule::MissingEof);
    om_fails("a 1\n", 2, 1, Rule::MissingEof);
    om_fails("a 1", 1, 4, Rule::MissingEof);
    om_fails("# EOF\n\n", 2, 1, Rule::TextAfterEof);
    om_fails("# EOF\na 1\n# EOF\n", 2, 1, Rule::TextAfterEof);
    om_fails("a 1\n# EOF\nblah", 3, 1, Rule::TextAfterEof);
    om_fails("a 1\n# EOF \n", 2, 1, Rule::EofLine);
    om_fails("a 1\n# EOFblah", 2, 1, Rule::EofLine);
    assert!(om("# EOF").is_empty());
    assert!(om("# EOF\n").is_empty());
    assert_eq!(om("a 1\n# EOF").len(), 1);
}

#[test]
fn om_no_blank_lines_or_carriage_returns() {
    om_fails("a 1\n\n# EOF\n", 2, 1, Rule::BlankLine);
    om_fails("\n# EOF\n", 1, 1, Rule::BlankLine);
    om_fails("a 1\r\n# EOF\n", 1, 4, Rule::CarriageReturn);
    om_fails("a{b=\"c\"}\r\n# EOF\n", 1, 9, Rule::CarriageReturn);
    om_fails("a 1\n# EOF\r\n", 2, 1, Rule::EofLine);
}

#[test]
fn om_only_metadata_and_eof_start_with_hash() {
    om_fails("# a comment\n# EOF\n", 1, 1, Rule::Comment);
    om_fails("#\n# EOF\n", 1, 1, Rule::Comment);
    om_fails("# FOO a x\n# EOF\n", 1, 1, Rule::Comment);
    om_fails("#TYPE a gauge\n# EOF\n", 1, 1, Rule::Comment);
    om_fails("a 1\n#a 1\n# EOF\n", 2, 1, Rule::Comment);
}

#[test]
fn om_metadata_syntax() {
    om_fails("# TYPE a\n# EOF\n", 1, 9, Rule::Metadata);
    om_fails("# HELP\n# EOF\n", 1, 7, Rule::Metadata);
    om_fails("# UNIT a\n# EOF\n", 1, 9, Rule::Metadata);
    om_fails("# TYPE \n# EOF\n", 1, 8, Rule::MetricName);
    om_fails("# TYPE a-b gauge\n# EOF\n", 1, 9, Rule::MetricName);
    om_fails("#  TYPE a gauge\n# EOF\n", 1, 3, Rule::Separator);
    om_fails("# TYPE  a gauge\n# EOF\n", 1, 8, Rule::Separator);
    om_fails("# TYPE a  gauge\n# EOF\n", 1, 10, Rule::Separator);
    om_fails("# TYPE a gauge \n# EOF\n", 1, 10, Rule::Separator);
    om_fails("# TYPE a\tgauge\n# EOF\n", 1, 9, Rule::Separator);
    om_fails("# HELP a\r\n# EOF\n", 1, 9, Rule::CarriageReturn);
}

#[test]
fn om_types() {
    om_fails("# TYPE a untyped\n# EOF\n", 1, 10, Rule::MetricType);
    om_fails("# TYPE a Gauge\n# EOF\n", 1, 10, Rule::MetricType);
    om_fails("# TYPE a \n# EOF\n", 1, 10, Rule::MetricType);
    let names = [
        "counter",
        "gauge",
        "histogram",
        "gaugehistogram",
        "stateset",
        "info",
        "summary",
        "unknown",
    ];
    for (i, t) in names.iter().enumerate() {
        let fams = om(&format!("# TYPE a{i} {t}\n# EOF\n"));
        assert_eq!(fams[0].metric_type.as_str(), *t);
    }
}

#[test]
fn om_units() {
    om_fails("# UNIT a_seconds bytes\n# EOF\n", 1, 18, Rule::Unit);
    om_fails("# UNIT seconds seconds\n# EOF\n", 1, 16, Rule::Unit);
    om_fails("# UNIT a_s s.x\n# EOF\n", 1, 13, Rule::Unit);
    om_fails("# UNIT a_s s \n# EOF\n", 1, 13, Rule::Separator);
    om_fails(
        "# TYPE a_b info\n# UNIT a_b b\n# EOF\n",
        2,
        12,
        Rule::UnitNotAllowed,
    );
    om_fails(
        "# UNIT a_b b\n# TYPE a_b stateset\n# EOF\n",
        1,
        12,
        Rule::UnitNotAllowed,
    );
    // An empty unit is no unit, for any type, before or after the type.
    let fams = om("# TYPE a info\n# UNIT a \n# EOF\n");
    assert_eq!(fams[0].unit, None);
    let fams = om("# UNIT a \n# TYPE a stateset\n# EOF\n");
    assert_eq!(fams[0].unit, None);
    let fams = om("# TYPE a_b_seconds gauge\n# UNIT a_b_seconds b_seconds\n# EOF\n");
    assert_eq!(fams[0].unit.as_deref(), Some("b_seconds"));
}

#[test]
fn om_help_escapes() {
    om_fails("# HELP a x\\\n# EOF\n", 1, 11, Rule::EscapedString);
    let fams = om(concat!(
        "# HELP a0 \\\\ \\n \\\" \\z \" \u{0} ü\n",
        "# HELP a1 \n",
        "# HELP a2 \\\\\"\n",
        "# EOF\n"
    ));
    assert_eq!(fams[0].help, "\\ \n \" \\z \" \u{0} ü");
    assert_eq!(fams[1].help, "");
    assert_eq!(fams[2].help, "\\\"");
}

#[test]
fn om_metadata_once_and_before_samples() {
    om_fails(
        "# HELP a x\n# HELP a y\n# EOF\n",
        2,
        1,
        Rule::DuplicateMetadata,
    );
    om_fails(
        "# HELP a \n# HELP a \n# EOF\n",
        2,
        1,
        Rule::DuplicateMetadata,
    );
    om_fails(
        "# TYPE a gauge\n# TYPE a gauge\n# EOF\n",
        2,
        1,
        Rule::DuplicateMetadata,
    );
    om_fails(
        "# UNIT a_s s\n# UNIT a_s s\n# EOF\n",
        2,
        1,
        Rule::DuplicateMetadata,
    );
    om_fails(
        "# TYPE a gauge\na 1\n# HELP a x\n# EOF\n",
        3,
        1,
        Rule::MetadataAfterSamples,
    );
    om_fails(
        "a 1\n# TYPE a gauge\n# EOF\n",
        2,
        1,
        Rule::MetadataAfterSamples,
    );
    // Any order of the metadata is fine.
    let fams = om("# UNIT a_s s\n# HELP a_s h\n# TYPE a_s gauge\na_s 1\n# EOF\n");
    assert_eq!(
        (fams[0].metric_type, fams[0].help.as_str()),
        (MetricType::Gauge, "h")
    );
}

#[test]
fn om_families_together_and_names_unique() {
    om_fails("a 1\nb 1\na 2\n# EOF\n", 3, 1, Rule::FamilyRepeated);
    om_fails(
        "# TYPE a gauge\n# TYPE b gauge\n# TYPE a gauge\n# EOF\n",
        3,
        8,
        Rule::FamilyRepeated,
    );
    // A name another family's type can write, either way round.
    om_fails(
        "# TYPE a counter\na_total 1\n# TYPE a_total gauge\n# EOF\n",
        3,
        8,
        Rule::NameClash,
    );
    om_fails(
        "# TYPE a_created gauge\n# TYPE a counter\n# EOF\n",
        2,
        10,
        Rule::NameClash,
    );
    om_fails(
        "# TYPE a histogram\n# TYPE b gauge\nb 1\na_count 1\n# EOF\n",
        4,
        1,
        Rule::NameClash,
    );
    // Sample names of the current family that its type does not write start a
    // new family, which is fine when nothing clashes.
    let fams = om("# TYPE a counter\na_total 1\na_count 1\n# EOF\n");
    assert_eq!(fams[1].name, "a_count");
    assert_eq!(fams[1].metric_type, MetricType::Unknown);
}

#[test]
fn om_sample_names_per_type() {
    om_fails("# TYPE a counter\na 1\n# EOF\n", 2, 1, Rule::SampleName);
    om_fails("# TYPE a histogram\na 1\n# EOF\n", 2, 1, Rule::SampleName);
    om_fails(
        "# TYPE a gaugehistogram\na 1\n# EOF\n",
        2,
        1,
        Rule::SampleName,
    );
    om_fails("# TYPE a info\na 1\n# EOF\n", 2, 1, Rule::SampleName);
}

// ---- OpenMetrics: tokens ----

/// Large inputs are read whole (their cost per line is measured by
/// `cargo bench -p promhttp-bench --bench validate`; a quadratic check makes
/// this test run for minutes).
#[test]
fn large_inputs_are_read_whole() {
    // A label set of 50 000 labels, and one whose last name repeats the first.
    let labels: Vec<String> = (0..50_000).map(|i| format!("l{i}=\"v\"")).collect();
    let text = format!("a{{{}}} 1\n# EOF\n", labels.join(","));
    assert_eq!(om(&text)[0].samples[0].labels.len(), 50_000);
    let joined = labels.join(",");
    let err = parse_openmetrics(&format!("a{{{joined},l0=\"x\"}} 1\n# EOF\n")).unwrap_err();
    // The repeated name starts after `a{`, the labels and a comma.
    let column = "a{".len() + joined.len() + ",".len() + 1;
    assert_eq!(
        (err.line(), err.column(), err.rule()),
        (1, column, Rule::DuplicateLabel)
    );
    // 20 000 families and as many metrics in one family.
    let many: String = (0..20_000)
        .map(|i| format!("f{i} 1\ng{{i=\"{i}\"}} 1\n"))
        .collect();
    assert!(parse_openmetrics(&format!("{many}# EOF\n")).is_err());
    let metrics: String = (0..20_000).map(|i| format!("g{{i=\"{i}\"}} 1\n")).collect();
    assert_eq!(om(&format!("{metrics}# EOF\n"))[0].samples.len(), 20_000);
}

#[test]
fn families_are_given_as_they_end_and_nothing_after_an_error() {
    // Each family comes out once the line after it is read, before the rest of
    // the text is looked at: the error at the end is reached only afterwards.
    for (families, bad) in [
        (
            openmetrics_families as fn(&str) -> Families<'_>,
            "a 1\nb{x=\"1\"} 2\nb{x=\"2\"} 3\nc 4\nc 5\n# EOF\n",
        ),
        (text_families, "a 1\nb{x=\"1\"} 2\nb{x=\"2\"} 3\nc 4\nc 5\n"),
    ] {
        let mut it = families(bad);
        assert_eq!(it.next().unwrap().unwrap().name, "a");
        let b = it.next().unwrap().unwrap();
        assert_eq!((b.name.as_str(), b.samples.len()), ("b", 2));
        let err = it.next().unwrap().unwrap_err();
        assert_eq!(
            (err.line(), err.rule()),
            (5, Rule::DuplicateSeries),
            "{err}"
        );
        assert!(it.next().is_none());
        assert!(it.next().is_none());
    }
    // What the iterator gives is what the whole-text parsers return.
    let good = "# HELP a A.\n# TYPE a counter\na_total 1\n# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_count 1\nh_sum 0\n# EOF\n";
    let streamed: Vec<MetricFamily> = openmetrics_families(good).map(Result::unwrap).collect();
    assert_eq!(streamed, om(good));
    let good_text = good.strip_suffix("# EOF\n").unwrap();
    let streamed: Vec<MetricFamily> = text_families(good_text).map(Result::unwrap).collect();
    assert_eq!(streamed, text(good_text));
    // A byte order mark is the first and only item.
    let mut it = openmetrics_families("\u{feff}a 1\n# EOF\n");
    assert_eq!(it.next().unwrap().unwrap_err().rule(), Rule::ByteOrderMark);
    assert!(it.next().is_none());
    // A media type neither format has: one error.
    let mut it = super::families(Some("application/json"), "{}");
    assert_eq!(it.next().unwrap().unwrap_err().rule(), Rule::ContentType);
    assert!(it.next().is_none());
}

#[test]
fn om_names() {
    om_fails("0a 1\n# EOF\n", 1, 1, Rule::MetricName);
    om_fails("a-b 1\n# EOF\n", 1, 2, Rule::MetricName);
    om_fails("a.b 1\n# EOF\n", 1, 2, Rule::MetricName);
    om_fails(" a 1\n# EOF\n", 1, 1, Rule::MetricName);
    om_fails("{\"a.b\"} 1\n# EOF\n", 1, 1, Rule::MetricName);
    om_fails("a{1=\"x\"} 1\n# EOF\n", 1, 3, Rule::LabelName);
    om_fails("a{\"x.y\"=\"1\"} 1\n# EOF\n", 1, 3, Rule::LabelName);
    om_fails("a{x-y=\"1\"} 1\n# EOF\n", 1, 4, Rule::LabelName);
    om_fails("a{__x=\"1\"} 1\n# EOF\n", 1, 3, Rule::ReservedLabelName);
    om_fails(
        "a{__name__=\"a\"} 1\n# EOF\n",
        1,
        3,
        Rule::ReservedLabelName,
    );
    om_fails("a{x=\"1\",x=\"2\"} 1\n# EOF\n", 1, 9, Rule::DuplicateLabel);
    let fams = om("_a:b{_c=\"1\"} 1\n# EOF\n");
    assert_eq!(fams[0].samples[0], Sample::new("_a:b", [("_c", "1")], 1.0));
}

#[test]
fn om_label_sets() {
    for (text, column) in [
        ("a{x=\"1\",} 1\n# EOF\n", 9),
        ("a{,x=\"1\"} 1\n# EOF\n", 3),
        ("a{x=\"1\",,y=\"2\"} 1\n# EOF\n", 9),
        ("a{x=\"1\"y=\"2\"} 1\n# EOF\n", 8),
        ("a{x} 1\n# EOF\n", 4),
        ("a{x=} 1\n# EOF\n", 5),
        ("a{x=1} 1\n# EOF\n", 5),
        ("a{x='1'} 1\n# EOF\n", 5),
        ("a{ x=\"1\"} 1\n# EOF\n", 3),
        ("a{x =\"1\"} 1\n# EOF\n", 4),
        ("a{x=\"1\" } 1\n# EOF\n", 8),
        ("a{x=\"1\"\n# EOF\n", 8),
    ] {
        let rule = if text.starts_with("a{ ") {
            Rule::LabelName
        } else {
            Rule::LabelSet
        };
        om_fails(text, 1, column, rule);
    }
    om_fails("a{x=\"1} 1\n# EOF\n", 1, 5, Rule::UnterminatedString);
    om_fails("a{x=\"1\\\"} 1\n# EOF\n", 1, 5, Rule::UnterminatedString);
    let fams = om("a{} 1\na_b{x=\"} b # {c=\\\"d\\\"} 1\",y=\"\"} 2\n# EOF\n");
    assert_eq!(fams[0].samples[0].labels, Vec::new());
    assert_eq!(
        fams[1].samples[0].labels,
        owned(&[("x", "} b # {c=\"d\"} 1"), ("y", "")])
    );
}

#[test]
fn om_label_value_escapes() {
    let fams = om("a{x=\"\\\\ \\n \\\" \\z \u{0} \\\\\\\"\"} 1\n# EOF\n");
    assert_eq!(
        fams[0].samples[0].label("x"),
        Some("\\ \n \" \\z \u{0} \\\"")
    );
}

#[test]
fn om_separators() {
    om_fails("a  1\n# EOF\n", 1, 3, Rule::Separator);
    om_fails("a 1 \n# EOF\n", 1, 5, Rule::Separator);
    om_fails("a 1  2\n# EOF\n", 1, 5, Rule::Separator);
    om_fails("a\t1\n# EOF\n", 1, 2, Rule::Separator);
    om_fails("a{}1\n# EOF\n", 1, 4, Rule::Separator);
    om_fails("a{}X1\n# EOF\n", 1, 4, Rule::Separator);
}

#[test]
fn om_values() {
    om_fails("a\n# EOF\n", 1, 2, Rule::Value);
    for bad in [
        "one", "1_0", "0x1", "0x1p-3", "+nan", "-NaN", "1e", ".", "١", "1,5", "infinit",
    ] {
        om_fails(&format!("a {bad}\n# EOF\n"), 1, 3, Rule::Value);
    }
    om_fails("a 1e999\n# EOF\n", 1, 3, Rule::NumberRange);
    om_fails("a -1e999\n# EOF\n", 1, 3, Rule::NumberRange);
    let fams = om(concat!(
        "a{v=\"1\"} 0042\na{v=\"2\"} -1.5e-3\na{v=\"3\"} .5\na{v=\"4\"} 5.\na{v=\"5\"} +Inf\n",
        "a{v=\"6\"} -inf\na{v=\"7\"} Infinity\na{v=\"8\"} nan\na{v=\"9\"} 1E3\na{v=\"10\"} 9223372036854775808\n",
        "# EOF\n"
    ));
    let values: Vec<f64> = fams[0].samples.iter().map(|s| s.value).collect();
    assert_eq!(
        &values[..7],
        &[
            42.0,
            -0.0015,
            0.5,
            5.0,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::INFINITY
        ]
    );
    assert!(values[7].is_nan());
    assert_eq!(&values[8..], &[1000.0, 9_223_372_036_854_775_808.0]);
}

#[test]
fn om_timestamps() {
    for bad in [
        "NaN", "Inf", "-Inf", "+Inf", "z", "1z", "1_2", "1.1.1", "0x1p-3", "1.+5", "1e999",
    ] {
        om_fails(&format!("a 1 {bad}\n# EOF\n"), 1, 5, Rule::Timestamp);
    }
    om_fails("a 1 2 3\n# EOF\n", 1, 7, Rule::TrailingText);
    om_fails("a 1 2 x\n# EOF\n", 1, 7, Rule::TrailingText);
    let fams = om(concat!(
        "a{v=\"1\"} 1 000\na{v=\"2\"} 1 1.5e3\na{v=\"3\"} 1 -0.5\na{v=\"4\"} 1 -1.5\n",
        "a{v=\"5\"} 1 1604676851.123456789\na{v=\"6\"} 1 .5\n# EOF\n"
    ));
    let ts: Vec<Option<f64>> = fams[0].samples.iter().map(|s| s.timestamp).collect();
    let nanos = "1604676851.123456789".parse().ok();
    assert_eq!(
        ts,
        [
            Some(0.0),
            Some(1500.0),
            Some(-0.5),
            Some(-1.5),
            nanos,
            Some(0.5)
        ]
    );
}

// ---- OpenMetrics: exemplars ----

#[test]
fn om_exemplar_syntax() {
    let c = "# TYPE a counter\n";
    for (line, column) in [
        ("a_total 1 #", 12),
        ("a_total 1 #{} 1", 12),
        ("a_total 1 # x", 13),
        ("a_total 1 # {}", 15),
        ("a_total 1 # {}1", 15),
    ] {
        om_fails(&format!("{c}{line}\n# EOF\n"), 2, column, Rule::Exemplar);
    }
    om_fails(
        &format!("{c}a_total 1 # {{}} 1 \n# EOF\n"),
        2,
        18,
        Rule::Separator,
    );
    om_fails(
        &format!("{c}a_total 1 # {{}} 1 2 3\n# EOF\n"),
        2,
        19,
        Rule::TrailingText,
    );
    om_fails(
        &format!("{c}a_total 1 # {{}} x\n# EOF\n"),
        2,
        16,
        Rule::Value,
    );
    om_fails(
        &format!("{c}a_total 1 # {{}} 1 NaN\n# EOF\n"),
        2,
        18,
        Rule::Timestamp,
    );
    om_fails(
        &format!("{c}a_total 1 # {{__x=\"1\"}} 1\n# EOF\n"),
        2,
        14,
        Rule::ReservedLabelName,
    );
    om_fails(
        &format!("{c}a_total 1 # {{x=\"1\",x=\"1\"}} 1\n# EOF\n"),
        2,
        20,
        Rule::DuplicateLabel,
    );
    om_fails(
        &format!("{c}a_total 1 # {{x=\"1\" }} 1\n# EOF\n"),
        2,
        19,
        Rule::LabelSet,
    );
}

#[test]
fn om_exemplars_only_on_totals_and_buckets() {
    om_fails("a 1 # {} 1\n# EOF\n", 1, 5, Rule::ExemplarNotAllowed);
    om_fails(
        "# TYPE a counter\na_created 1 # {} 1\n# EOF\n",
        2,
        13,
        Rule::ExemplarNotAllowed,
    );
    om_fails(
        "# TYPE a histogram\na_bucket{le=\"+Inf\"} 1\na_count 1\na_sum 1 # {} 1\n# EOF\n",
        4,
        9,
        Rule::ExemplarNotAllowed,
    );
    om_fails(
        "# TYPE a info\na_info 1 # {} 1\n# EOF\n",
        2,
        10,
        Rule::ExemplarNotAllowed,
    );
    om_fails(
        "# TYPE a stateset\na{a=\"x\"} 1 # {} 1\n# EOF\n",
        2,
        12,
        Rule::ExemplarNotAllowed,
    );
}

#[test]
fn om_exemplar_labels_at_most_128_characters() {
    // 1 + 127 characters, four of them two bytes long: fine.
    let ok = format!("a{}", "é".repeat(4) + &"x".repeat(122));
    let fams = om(&format!(
        "# TYPE a counter\na_total 1 # {{b=\"{ok}\"}} 1\n# EOF\n"
    ));
    let exemplar = fams[0].samples[0].exemplar.as_ref().unwrap();
    assert_eq!(exemplar.labels, owned(&[("b", &ok)]));
    let long = format!("{ok}x");
    om_fails(
        &format!("# TYPE a counter\na_total 1 # {{b=\"{long}\"}} 1\n# EOF\n"),
        2,
        11,
        Rule::ExemplarTooLong,
    );
}

#[test]
fn om_bucket_exemplars_within_the_bucket() {
    let h = "# TYPE a histogram\n";
    om_fails(
        &format!("{h}a_bucket{{le=\"1\"}} 0 # {{}} 2\n# EOF\n"),
        2,
        20,
        Rule::ExemplarOutOfBucket,
    );
    om_fails(
        &format!("{h}a_bucket{{le=\"+Inf\"}} 0 # {{}} NaN\n# EOF\n"),
        2,
        23,
        Rule::ExemplarOutOfBucket,
    );
    let fams = om(&format!("{h}a_bucket{{le=\"1\"}} 1 # {{}} 1\na_bucket{{le=\"+Inf\"}} 1 # {{t=\"x\"}} +Inf 5\n# EOF\n"));
    assert_eq!(
        fams[0].samples[1].exemplar,
        Some(Exemplar {
            labels: owned(&[("t", "x")]),
            value: f64::INFINITY,
            timestamp: Some(5.0)
        })
    );
}

// ---- OpenMetrics: metrics and points ----

#[test]
fn om_metrics_not_interleaved() {
    om_fails(
        "a{x=\"1\"} 1\na{x=\"2\"} 1\na{x=\"1\"} 2\n# EOF\n",
        3,
        1,
        Rule::MetricsInterleaved,
    );
    om_fails(
        "# TYPE a summary\na_count{x=\"1\"} 1\na_count{x=\"2\"} 1\na_sum{x=\"1\"} 2\n# EOF\n",
        4,
        1,
        Rule::MetricsInterleaved,
    );
}

#[test]
fn om_no_duplicate_series() {
    om_fails("a 1\na 2\n# EOF\n", 2, 1, Rule::DuplicateSeries);
    om_fails(
        "a{x=\"1\",y=\"2\"} 1\na{y=\"2\",x=\"1\"} 1\n# EOF\n",
        2,
        1,
        Rule::DuplicateSeries,
    );
    om_fails(
        "# TYPE a counter\na_total 1\na_created 1\na_total 1\n# EOF\n",
        4,
        1,
        Rule::DuplicateSeries,
    );
    om_fails(
        "# TYPE a info\na_info{x=\"1\"} 1\na_info{x=\"1\"} 1\n# EOF\n",
        3,
        1,
        Rule::DuplicateSeries,
    );
    // With timestamps a series comes again as a later point of its metric, or at
    // the same time: the OpenMetrics test suite's `duplicate_timestamps_1` parses.
    let fams = om("a 1 0\na 2 0\na 3 1\n# EOF\n");
    assert_eq!(fams[0].samples.len(), 3);
    // But a point of a counter, histogram, summary or state set holds each of
    // its series once (found by the fuzzer: a repeated `_count`).
    om_fails(
        "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 3 5\nh_count 3 5\nh_count 3 5\nh_sum 1 5\n# EOF\n",
        4,
        1,
        Rule::DuplicateSeries,
    );
    om_fails(
        "# TYPE a counter\na_total 1 5\na_total 2 5\n# EOF\n",
        3,
        1,
        Rule::DuplicateSeries,
    );
    let fams = om("# TYPE a counter\na_total 1 5\na_total 2 6\n# EOF\n");
    assert_eq!(fams[0].samples.len(), 2);
}

#[test]
fn om_timestamps_within_a_metric() {
    om_fails("a 1 1\na 2\n# EOF\n", 2, 3, Rule::TimestampPresence);
    om_fails("a 1\na 2 1\n# EOF\n", 2, 5, Rule::TimestampPresence);
    om_fails("a 1 2\na 1 1\n# EOF\n", 2, 5, Rule::TimestampOrder);
    // Compared exactly as written, beyond float precision.
    om_fails(
        "a 1 1604676851.123456789\na 1 1604676851.123456788\n# EOF\n",
        2,
        5,
        Rule::TimestampOrder,
    );
    om_fails(
        "# TYPE a summary\na_count 0 123\na_count 0 456\na_sum 0 123\na_sum 0 456\n# EOF\n",
        4,
        9,
        Rule::TimestampOrder,
    );
    // Different metrics are independent.
    let fams = om("a{x=\"1\"} 1 5\na{x=\"2\"} 1\n# EOF\n");
    assert_eq!(fams[0].samples.len(), 2);
    // Points of a summary, in order.
    let fams =
        om("# TYPE a summary\na_count 0 123\na_sum 0 123\na_count 0 456\na_sum 0 456\n# EOF\n");
    assert_eq!(fams[0].samples.len(), 4);
}

// ---- OpenMetrics: values by type ----

#[test]
fn om_counter_like_values() {
    let cases = [
        ("counter", "a_total NaN", 9, Rule::NanValue),
        ("counter", "a_total -1", 9, Rule::NegativeValue),
        ("summary", "a_sum NaN", 7, Rule::NanValue),
        ("summary", "a_sum -1", 7, Rule::NegativeValue),
        ("summary", "a_count -1", 9, Rule::NegativeValue),
        ("summary", "a_count 1.5", 9, Rule::IntegerValue),
        ("summary", "a{quantile=\"0.5\"} -1", 19, Rule::NegativeValue),
        ("histogram", "a_bucket{le=\"+Inf\"} NaN", 21, Rule::NanValue),
        (
            "histogram",
            "a_bucket{le=\"+Inf\"} -1",
            21,
            Rule::NegativeValue,
        ),
        (
            "histogram",
            "a_bucket{le=\"+Inf\"} 1.5",
            21,
            Rule::IntegerValue,
        ),
        (
            "histogram",
            "a_bucket{le=\"+Inf\"} +Inf",
            21,
            Rule::IntegerValue,
        ),
        ("histogram", "a_count NaN", 9, Rule::NanValue),
        ("histogram", "a_sum -1", 7, Rule::NegativeValue),
        (
            "gaugehistogram",
            "a_bucket{le=\"+Inf\"} -1",
            21,
            Rule::NegativeValue,
        ),
        ("gaugehistogram", "a_gcount 0.5", 10, Rule::IntegerValue),
        ("gaugehistogram", "a_gsum NaN", 8, Rule::NanValue),
        ("counter", "a_created NaN", 11, Rule::CreatedValue),
        ("histogram", "a_created +Inf", 11, Rule::CreatedValue),
        ("summary", "a_created -Inf", 11, Rule::CreatedValue),
    ];
    for (t, line, column, rule) in cases {
        om_fails(&format!("# TYPE a {t}\n{line}\n# EOF\n"), 2, column, rule);
    }
    // Quantile values may be NaN; counters +Inf; a gauge anything; counts 1.0.
    om("# TYPE a summary\na{quantile=\"0.5\"} NaN\n# EOF\n");
    om("# TYPE a counter\na_total +Inf\n# EOF\n");
    om("# TYPE a gauge\na -Inf\n# EOF\n");
    om("# TYPE a histogram\na_bucket{le=\"+Inf\"} 2.0\na_count 2\na_sum 0\n# EOF\n");
}

#[test]
fn om_counter_points_have_a_total() {
    om_fails(
        "# TYPE a counter\na_created 1\n# EOF\n",
        2,
        1,
        Rule::CounterWithoutTotal,
    );
    om_fails(
        "# TYPE a counter\na_created{x=\"1\"} 1\na_total{x=\"2\"} 1\n# EOF\n",
        2,
        1,
        Rule::CounterWithoutTotal,
    );
    om("# TYPE a counter\na_created 1\na_total 1\n# EOF\n");
}

#[test]
fn om_state_sets_and_info() {
    om_fails("# TYPE a stateset\na 1\n# EOF\n", 2, 1, Rule::StateSetLabel);
    om_fails(
        "# TYPE a stateset\na{a=\"x\"} 2\n# EOF\n",
        2,
        10,
        Rule::StateSetValue,
    );
    om_fails(
        "# TYPE a stateset\na{a=\"x\"} 1.5\n# EOF\n",
        2,
        10,
        Rule::StateSetValue,
    );
    om_fails("# TYPE a info\na_info 2\n# EOF\n", 2, 8, Rule::InfoValue);
    om_fails(
        "# TYPE a info\na_info{x=\"y\"} 1.0001\n# EOF\n",
        2,
        15,
        Rule::InfoValue,
    );
    let fams = om("# TYPE a stateset\na{a=\"x\",e=\"1\"} 1.0\na{a=\"y\",e=\"1\"} 0\n# TYPE b info\nb_info{v=\"1\"} 1.0\n# EOF\n");
    assert_eq!(fams[0].samples[1].value, 0.0);
    assert_eq!(fams[1].samples[0], Sample::new("b_info", [("v", "1")], 1.0));
}

#[test]
fn om_summary_labels() {
    let s = "# TYPE a summary\n";
    om_fails(&format!("{s}a 1\n# EOF\n"), 2, 1, Rule::QuantileLabel);
    for (q, column) in [("-1", 3), ("1.01", 3), ("foo", 3), ("NaN", 3), ("", 3)] {
        om_fails(
            &format!("{s}a{{quantile=\"{q}\"}} 1\n# EOF\n"),
            2,
            column,
            Rule::QuantileLabel,
        );
    }
    om_fails(
        &format!("{s}a_count{{quantile=\"0.5\"}} 1\n# EOF\n"),
        2,
        9,
        Rule::TypeLabel,
    );
    let fams = om(&format!("{s}a{{quantile=\"0\"}} 1\na{{quantile=\"1.0\"}} 2\na{{quantile=\"1e-1\"}} 1.5\na_count 3\n# EOF\n"));
    assert_eq!(fams[0].samples.len(), 4);
}

#[test]
fn om_histogram_buckets() {
    let h = "# TYPE a histogram\n";
    om_fails(&format!("{h}a_bucket 0\n# EOF\n"), 2, 1, Rule::BucketLabel);
    for le in ["Inf", "+inf", "+INF", "NaN", "x", ""] {
        om_fails(
            &format!("{h}a_bucket{{le=\"{le}\"}} 0\n# EOF\n"),
            2,
            10,
            Rule::BucketLabel,
        );
    }
    om_fails(
        &format!("{h}a_bucket{{le=\"+Inf\"}} 0\na_count{{le=\"1\"}} 0\n# EOF\n"),
        3,
        9,
        Rule::TypeLabel,
    );
    om_fails(
        &format!("{h}a_bucket{{le=\"2\"}} 0\na_bucket{{le=\"1\"}} 0\n# EOF\n"),
        3,
        10,
        Rule::BucketOrder,
    );
    om_fails(
        &format!("{h}a_bucket{{le=\"1\"}} 0\na_bucket{{le=\"1.0\"}} 0\n# EOF\n"),
        3,
        10,
        Rule::BucketOrder,
    );
    om_fails(
        &format!("{h}a_bucket{{le=\"1\"}} 2\na_bucket{{le=\"+Inf\"}} 1\n# EOF\n"),
        3,
        21,
        Rule::BucketCounts,
    );
    om_fails(
        &format!("{h}a_bucket{{le=\"1\"}} 0\n# EOF\n"),
        2,
        1,
        Rule::MissingInfBucket,
    );
    om_fails(
        &format!("{h}a_bucket{{le=\"1\"}} 0\na_count 0\na_sum 0\n# EOF\n"),
        2,
        1,
        Rule::MissingInfBucket,
    );
    om_fails(
        &format!("{h}a_sum 0\n# EOF\n"),
        2,
        1,
        Rule::MissingInfBucket,
    );
    om_fails(
        &format!("{h}a_bucket{{le=\"+Inf\"}} 1\na_count 2\na_sum 1\n# EOF\n"),
        3,
        1,
        Rule::CountMismatch,
    );
    om_fails(
        &format!("{h}a_count 2\na_sum 1\na_bucket{{le=\"+Inf\"}} 1\n# EOF\n"),
        4,
        1,
        Rule::CountMismatch,
    );
    om_fails(
        &format!("{h}a_bucket{{le=\"+Inf\"}} 1\na_sum 1\n# EOF\n"),
        3,
        1,
        Rule::SumCountPairing,
    );
    om_fails(
        &format!("{h}a_bucket{{le=\"+Inf\"}} 1\na_count 1\n# EOF\n"),
        3,
        1,
        Rule::SumCountPairing,
    );
    om_fails(
        &format!(
            "{h}a_bucket{{le=\"-1\"}} 0\na_bucket{{le=\"+Inf\"}} 1\na_count 1\na_sum 1\n# EOF\n"
        ),
        5,
        1,
        Rule::NegativeBucketSum,
    );
    // Each metric and each point is checked on its own.
    om_fails(
        &format!("{h}a_bucket{{x=\"1\",le=\"+Inf\"}} 1\na_bucket{{x=\"2\",le=\"1\"}} 1\n# EOF\n"),
        3,
        1,
        Rule::MissingInfBucket,
    );
    om_fails(
        &format!("{h}a_bucket{{le=\"+Inf\"}} 1 1\na_count 1 2\na_sum 1 2\n# EOF\n"),
        4,
        1,
        Rule::MissingInfBucket,
    );
    // Negative buckets without a sum; non-canonical `le`s; any order of the rest.
    let fams = om(&format!(
        "{h}a_bucket{{le=\"-1.0\"}} 0\na_bucket{{le=\"1e-04\"}} 1\na_bucket{{le=\"+Inf\"}} 3\n# TYPE b histogram\nb_count 1\nb_bucket{{le=\"+Inf\"}} 1\nb_sum 0.5\nb_created 1\n# EOF\n"
    ));
    assert_eq!(fams[0].samples[1].label("le"), Some("1e-04"));
    assert_eq!(fams[1].samples.len(), 4);
}

#[test]
fn om_gauge_histograms() {
    let g = "# TYPE a gaugehistogram\n";
    om_fails(
        &format!("{g}a_bucket{{le=\"+Inf\"}} 1\na_gcount 1\n# EOF\n"),
        3,
        1,
        Rule::SumCountPairing,
    );
    om_fails(
        &format!("{g}a_bucket{{le=\"+Inf\"}} 1\na_gsum 1\n# EOF\n"),
        3,
        1,
        Rule::SumCountPairing,
    );
    om_fails(
        &format!("{g}a_bucket{{le=\"+Inf\"}} 1\na_gcount 2\na_gsum 1\n# EOF\n"),
        3,
        1,
        Rule::CountMismatch,
    );
    om_fails(
        &format!("{g}a_bucket{{le=\"+Inf\"}} 1\na_gcount 1\na_gsum -1\n# EOF\n"),
        4,
        1,
        Rule::NegativeGsum,
    );
    let fams = om(&format!(
        "{g}a_bucket{{le=\"-1\"}} 1\na_bucket{{le=\"+Inf\"}} 3 # {{}} 4\na_gcount 3\na_gsum -5\n# EOF\n"
    ));
    assert_eq!(fams[0].samples.len(), 4);
}

// ---- OpenMetrics: what is read ----

#[test]
fn om_reads_every_type_into_families() {
    let text = concat!(
        "up 1\n",
        "# TYPE q summary\n",
        "q{quantile=\"0.5\"} 0.25 10\n",
        "q_sum 2 10\n",
        "q_count 4 10\n",
        "# TYPE g gaugehistogram\n",
        "g_bucket{le=\"+Inf\"} 0\n",
        "g_gsum 0\n",
        "g_gcount 0\n",
        "# TYPE build info\n",
        "build_info{version=\"2.0\"} 1\n",
        "# UNIT wait_seconds seconds\n",
        "# TYPE wait_seconds histogram\n",
        "# HELP wait_seconds Waiting.\n",
        "wait_seconds_bucket{le=\"0.25\"} 1\n",
        "wait_seconds_bucket{le=\"+Inf\"} 3\n",
        "wait_seconds_sum 1.5\n",
        "wait_seconds_count 3\n",
        "# TYPE state stateset\n",
        "state{state=\"on\"} 0\n",
        "state{state=\"off\"} 1\n",
        "# TYPE tasks counter\n",
        "# HELP tasks Tasks \\\"run\\\"\\nso far\\\\\n",
        "tasks_total{k=\"x\\\"y\\\\z\\nw\"} 7 # {span=\"9\"} 2 2.5\n",
        "tasks_created{k=\"x\\\"y\\\\z\\nw\"} 2.5\n",
        "# EOF\n",
    );
    let mut up = MetricFamily::new("up", MetricType::Unknown, "");
    up.add_gauge(crate::family::NO_LABELS, 1.0);
    let mut q = MetricFamily::new("q", MetricType::Summary, "");
    for (name, labels, value) in [
        ("q", vec![("quantile", "0.5")], 0.25),
        ("q_sum", vec![], 2.0),
        ("q_count", vec![], 4.0),
    ] {
        let mut s = Sample::new(name, labels, value);
        s.timestamp = Some(10.0);
        q.samples.push(s);
    }
    let mut g = MetricFamily::new("g", MetricType::GaugeHistogram, "");
    g.samples = vec![
        Sample::new("g_bucket", [("le", "+Inf")], 0.0),
        Sample::new("g_gsum", Vec::<(&str, &str)>::new(), 0.0),
        Sample::new("g_gcount", Vec::<(&str, &str)>::new(), 0.0),
    ];
    let mut build = MetricFamily::new("build", MetricType::Info, "");
    build.add_info([("version", "2.0")]);
    let mut wait =
        MetricFamily::new("wait_seconds", MetricType::Histogram, "Waiting.").with_unit("seconds");
    wait.add_histogram(crate::family::NO_LABELS, &[(0.25, 1)], 1.5, 3, None);
    let mut state = MetricFamily::new("state", MetricType::StateSet, "");
    state.add_stateset::<&str, &str, _>([], [("on", false), ("off", true)]);
    let mut tasks = MetricFamily::counter("tasks", "Tasks \"run\"\nso far\\");
    tasks.add_counter([("k", "x\"y\\z\nw")], 7.0, Some(2.5));
    tasks.samples[0].exemplar = Some(Exemplar {
        labels: owned(&[("span", "9")]),
        value: 2.0,
        timestamp: Some(2.5),
    });
    let expected = vec![up, q, g, build, wait, state, tasks];
    assert_eq!(om(text), expected);
    for family in &expected {
        family.validate().unwrap();
    }
    assert_eq!(om(&encode_families(&expected)), expected);
}

/// Where the Python `prometheus_client` parser (0.26) and the OpenMetrics 1.0
/// specification disagree, this parser follows the specification; the
/// differential test keeps these inputs out of its generator.
#[test]
fn om_where_the_python_parser_differs() {
    // Python accepts all of these; the ABNF has single spaces, no spaces in label
    // sets, a space after the label set, unquoted ASCII names and label names.
    om_fails("# TYPE  a gauge\n# EOF\n", 1, 8, Rule::Separator);
    // HELP text is everything after the one space, spaces included.
    assert_eq!(om("# HELP a  x\n# EOF\n")[0].help, " x");
    om_fails("a{ b=\"1\"} 1\n# EOF\n", 1, 3, Rule::LabelName);
    om_fails("a{b=\"1\"}X1\n# EOF\n", 1, 9, Rule::Separator);
    om_fails("a {b=\"1\"} 1\n# EOF\n", 1, 3, Rule::Value);
    om_fails("a{\"x.y\"=\"1\"} 1\n# EOF\n", 1, 3, Rule::LabelName);
    // Python reads these numbers; the ABNF has neither signed NaN, nor digits
    // beyond ASCII, nor `1.+5`, and numbers must fit a float64.
    om_fails("a +nan\n# EOF\n", 1, 3, Rule::Value);
    om_fails("a \u{661}\n# EOF\n", 1, 3, Rule::Value);
    om_fails("a 1 1.+5\n# EOF\n", 1, 5, Rule::Timestamp);
    om_fails("a 1e400\n# EOF\n", 1, 3, Rule::NumberRange);
    om_fails(
        "# TYPE a histogram\na_bucket{le=\"1_0\"} 0\n# EOF\n",
        2,
        10,
        Rule::BucketLabel,
    );
    om_fails(
        "# TYPE a histogram\na_bucket{le=\" 1\"} 0\n# EOF\n",
        2,
        10,
        Rule::BucketLabel,
    );
    // Python reads `-0.5` as +0.5 (the sign of "-0" is lost in its Timestamp).
    assert_eq!(om("a 1 -0.5\n# EOF\n")[0].samples[0].timestamp, Some(-0.5));
    // Python drops a repeated series silently; it is an error.
    om_fails("a 1\na 2\n# EOF\n", 2, 1, Rule::DuplicateSeries);
    // Python keeps the first of two points with one timestamp; both are kept.
    assert_eq!(om("a 1 5\na 2 5\n# EOF\n")[0].samples.len(), 2);
    // Python drops the second sample of a metric's second point: the
    // specification's own example loses `foo_seconds_sum{a="bb"} 0 456`.
    let example = concat!(
        "# TYPE foo_seconds summary\n",
        "# UNIT foo_seconds seconds\n",
        "foo_seconds_count{a=\"bb\"} 0 123\n",
        "foo_seconds_sum{a=\"bb\"} 0 123\n",
        "foo_seconds_count{a=\"bb\"} 0 456\n",
        "foo_seconds_sum{a=\"bb\"} 0 456\n",
        "# EOF\n",
    );
    let fams = om(example);
    assert_eq!(fams[0].samples.len(), 4);
    assert_eq!(fams[0].samples[3].timestamp, Some(456.0));
    // Python takes a lone backslash at the end of HELP as itself.
    om_fails("# HELP a x\\\n# EOF\n", 1, 11, Rule::EscapedString);
    // Python allows `quantile` on `_count`, a `_created` without `_total`, a NaN
    // `_created`, and bucket exemplars above the bucket or NaN.
    om_fails(
        "# TYPE a summary\na_count{quantile=\"0.5\"} 1\n# EOF\n",
        2,
        9,
        Rule::TypeLabel,
    );
    om_fails(
        "# TYPE a counter\na_created 1\n# EOF\n",
        2,
        1,
        Rule::CounterWithoutTotal,
    );
    om_fails(
        "# TYPE a counter\na_total 1\na_created NaN\n# EOF\n",
        3,
        11,
        Rule::CreatedValue,
    );
    om_fails(
        "# TYPE a histogram\na_bucket{le=\"+Inf\"} 1 # {} NaN\n# EOF\n",
        2,
        23,
        Rule::ExemplarOutOfBucket,
    );
    // Python toggles "in quotes" on every `"` of an exemplar, escaped or not, and
    // refuses an escaped quote in an exemplar label value.
    let fams = om("# TYPE a counter\na_total 1 # {a=\"x\\\"y\"} 1\n# EOF\n");
    assert_eq!(
        fams[0].samples[0].exemplar.as_ref().unwrap().labels,
        owned(&[("a", "x\"y")])
    );
    // Python skips a `"` (and what follows up to the next one) after the value.
    om_fails("a 1 10000001\"\n# EOF\n", 1, 5, Rule::Timestamp);
    // Python does not check the order of info timestamps.
    om_fails(
        "# TYPE a info\na_info{x=\"1\"} 1 5\na_info{x=\"1\"} 1 3\n# EOF\n",
        3,
        17,
        Rule::TimestampOrder,
    );
    // Python groups every info sample into one metric, so it refuses timestamps on
    // some info label sets and not others; each label set is its own metric here.
    assert_eq!(
        om("# TYPE a info\na_info{x=\"1\"} 1 1\na_info{x=\"2\"} 1\n# EOF\n")[0]
            .samples
            .len(),
        2
    );
    // Python compares a float timestamp (`1e3`) with a `Timestamp` (`1`) and fails.
    assert_eq!(om("a 0 1\na 0 1e3\n# EOF\n")[0].samples.len(), 2);
}

// ---- text 0.0.4 ----

#[test]
fn text_structure() {
    text_fails("\u{feff}a 1\n", 1, 1, Rule::ByteOrderMark);
    text_fails("a 1", 1, 4, Rule::MissingFinalNewline);
    text_fails("a 1\r\n", 1, 4, Rule::CarriageReturn);
    assert!(text("").is_empty());
    assert!(text("\n\n  \t\n# just a comment\n#\n").is_empty());
    // Blank lines and comments anywhere, blanks around tokens.
    let fams = text(" \t# TYPE a gauge\n\n# a comment\n  a { x = \"1\" , } \t 2 \t 3000 \n");
    assert_eq!(fams[0].samples[0].labels, owned(&[("x", "1")]));
    assert_eq!(fams[0].samples[0].timestamp, Some(3.0));
}

#[test]
fn text_metadata() {
    text_fails("# HELP\n", 1, 7, Rule::Metadata);
    text_fails("# TYPE \n", 1, 8, Rule::Metadata);
    text_fails("# TYPE a-b gauge\n", 1, 9, Rule::MetricName);
    text_fails("# TYPE a gauge x\n", 1, 16, Rule::Metadata);
    text_fails("# TYPE a info\n", 1, 10, Rule::MetricType);
    text_fails("# TYPE a unknown\n", 1, 10, Rule::MetricType);
    text_fails("# HELP a x\n# HELP a y\n", 2, 1, Rule::DuplicateMetadata);
    text_fails(
        "# TYPE a gauge\n# TYPE a gauge\n",
        2,
        1,
        Rule::DuplicateMetadata,
    );
    text_fails("a 1\n# TYPE a gauge\n", 2, 1, Rule::MetadataAfterSamples);
    text_fails("# HELP a \\q\n", 1, 10, Rule::Escape);
    text_fails("# HELP a \\\"\n", 1, 10, Rule::Escape);
    text_fails("# HELP a x\\\n", 1, 11, Rule::Escape);
    // HELP after the samples is fine in 0.0.4; `"` needs no escape there.
    let fams = text("a 1\n# HELP a \"q\" \\\\ \\n\n");
    assert_eq!(fams[0].help, "\"q\" \\ \n");
}

#[test]
fn text_samples() {
    text_fails("a-b 1\n", 1, 2, Rule::MetricName);
    text_fails("a\n", 1, 2, Rule::Value);
    text_fails("a x\n", 1, 3, Rule::Value);
    text_fails("a 1e999\n", 1, 3, Rule::NumberRange);
    text_fails("a 1 1.5\n", 1, 5, Rule::Timestamp);
    text_fails("a 1 99999999999999999999\n", 1, 5, Rule::Timestamp);
    text_fails("a 1 2 3\n", 1, 7, Rule::TrailingText);
    text_fails("a{x=\"\\q\"} 1\n", 1, 6, Rule::Escape);
    text_fails("a{x=\"1\",x=\"2\"} 1\n", 1, 9, Rule::DuplicateLabel);
    text_fails("a{__x=\"1\"} 1\n", 1, 3, Rule::ReservedLabelName);
    text_fails("a{x=\"1\"} 1\na{x=\"1\"} 2\n", 2, 1, Rule::DuplicateSeries);
    text_fails("a 1\nb 1\na 1\n", 3, 1, Rule::FamilyRepeated);
    text_fails("# TYPE a histogram\na_bucket 1\n", 2, 1, Rule::BucketLabel);
    text_fails(
        "# TYPE a histogram\na_bucket{le=\"x\"} 1\n",
        2,
        10,
        Rule::BucketLabel,
    );
    text_fails("# TYPE a summary\na 1\n", 2, 1, Rule::QuantileLabel);
    text_fails(
        "# TYPE a summary\na{quantile=\"x\"} 1\n",
        2,
        3,
        Rule::QuantileLabel,
    );
    let fams = text("a{x=\"\\\\\\\"\\n\"}1 -5\n");
    assert_eq!(fams[0].samples[0].label("x"), Some("\\\"\n"));
    assert_eq!(fams[0].samples[0].timestamp, Some(-0.005));
}

#[test]
fn text_types_and_counter_names() {
    let fams = text(concat!(
        "# HELP c_total C.\n# TYPE c_total counter\nc_total{a=\"1\"} 1\n",
        "# TYPE d counter\nd 2\n",
        "# TYPE u untyped\nu 3\n",
        "v 4\n",
        "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_count 1\nh_sum 0.5\n",
        "# TYPE s summary\ns{quantile=\"0.5\"} 1\ns_count 1\ns_sum 1\n",
        "# TYPE g gauge\ng 5\n",
    ));
    let summary: Vec<(&str, MetricType, Vec<&str>)> = fams
        .iter()
        .map(|f| {
            (
                f.name.as_str(),
                f.metric_type,
                f.samples.iter().map(|s| s.name.as_str()).collect(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            ("c", MetricType::Counter, vec!["c_total"]),
            ("d", MetricType::Counter, vec!["d_total"]),
            ("u", MetricType::Unknown, vec!["u"]),
            ("v", MetricType::Unknown, vec!["v"]),
            (
                "h",
                MetricType::Histogram,
                vec!["h_bucket", "h_count", "h_sum"]
            ),
            ("s", MetricType::Summary, vec!["s", "s_count", "s_sum"]),
            ("g", MetricType::Gauge, vec!["g"]),
        ]
    );
    assert_eq!(fams[0].help, "C.");
    for family in &fams {
        family.validate().unwrap();
    }
}

// ---- content types ----

#[test]
fn content_types() {
    let om_body = "a 1\n# EOF\n";
    for ct in [
        "application/openmetrics-text",
        "application/openmetrics-text; version=1.0.0; charset=utf-8",
        "Application/OpenMetrics-Text;version=\"0.0.1\"",
    ] {
        assert_eq!(parse(Some(ct), om_body).unwrap().len(), 1, "{ct}");
        assert_eq!(
            parse(Some(ct), "a 1\n").unwrap_err().rule(),
            Rule::MissingEof,
            "{ct}"
        );
    }
    for ct in [
        None,
        Some("text/plain"),
        Some("text/plain; version=0.0.4; charset=utf-8"),
    ] {
        assert_eq!(parse(ct, "a 1\n").unwrap().len(), 1, "{ct:?}");
        // `# EOF` is a comment in text 0.0.4; an exemplar is not.
        assert_eq!(parse(ct, om_body).unwrap().len(), 1, "{ct:?}");
        assert_eq!(
            parse(ct, "a 1 # {} 1\n").unwrap_err().rule(),
            Rule::Timestamp,
            "{ct:?}"
        );
    }
    for ct in [
        "application/json",
        "application/openmetrics-text; version=2.0.0",
        "text/plain; version=1.0.0",
        "",
    ] {
        let err = parse(Some(ct), "a 1\n").unwrap_err();
        assert_eq!(
            (err.line(), err.column(), err.rule()),
            (0, 0, Rule::ContentType),
            "{ct}"
        );
    }
}
