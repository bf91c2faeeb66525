//! Generated OpenMetrics expositions for the parser tests: valid ones, of every
//! metric type, with hostile label values and numbers in many written forms, and
//! mutations of them that break (or, now and then, keep) their validity.
//!
//! A valid exposition is drawn as raw ingredients (a word, a help text, label
//! values and a list of numbers per family) that `Exposition::build` turns into
//! lines deterministically, so that every rule holds by construction and proptest
//! can still shrink the ingredients.
//!
//! Some inputs are kept out on purpose, because the Python `prometheus_client`
//! parser (0.26) departs from the OpenMetrics 1.0 specification on them; each is
//! named where it is avoided, and the unit tests of `promhttp_core::parse`
//! (`om_where_the_python_parser_differs`) show what this parser does instead.
//! The valid expositions never contain them. The mutations are kept from forming
//! them where that is cheap (as said below); where a mutation still forms one
//! (a deleted `_total` line leaves its `_created` alone, a corrupted digit makes a
//! number overflow, ...), `known_divergence` in `parser_differential.rs`
//! recognises it from the input and Python's reading, and checks that this parser
//! refused it under the specification's rule.
//!
//! 1. Two samples of one series without timestamps: Python keeps the first and
//!    drops the other silently. The specification wants a unique label set per
//!    metric and increasing timestamps between its points; this parser refuses.
//!    (Mutations never put a duplicate line next to its own metric.)
//! 2. Python drops, silently, every sample of a series that an earlier point of
//!    the same metric wrote when the sample before it has the same timestamp: the
//!    second and later samples of each later point (the specification's own
//!    summary example loses `foo_seconds_sum{a="bb"} 0 456`), and repeats of a
//!    point's timestamp. The differential test compares the samples Python keeps
//!    with the same selection of this parser's; but a histogram point that loses
//!    its `+Inf` bucket that way is refused by Python, so histograms and gauge
//!    histograms have one point per metric here.
//! 3. Timestamps in exponent form (`1e3`) or starting with `.` become Python floats,
//!    which its parser then compares with its `Timestamp` objects and fails; and
//!    negative timestamps above -1 (`-0.5`) lose their sign in its `Timestamp`.
//!    Generated sample timestamps are `[+-]digits[.digits]`, never in (-1, 0).
//! 4. Info metrics: Python puts every sample of an info family into one metric
//!    and does not check the order of their timestamps, so it refuses timestamps
//!    on some info label sets and not on others, accepts an info series whose
//!    timestamps go back, and drops repeated info samples. Generated info
//!    families are timed throughout or not at all, with one point per metric, and
//!    mutations do not duplicate or truncate info lines.
//! 5. Python toggles "in quotes" on every `"` after the value, escaped or not, so
//!    it refuses exemplar label values with an escaped quote. Exemplar label
//!    values have no `"`.
//! 6. Python skips runs of spaces after `#`, between the metadata fields and
//!    inside label sets, takes any character after a label set's `}` as the space,
//!    and reads the first field of HELP text without its leading spaces; the ABNF
//!    has exactly one space. HELP texts do not start with a space; `DoubleSpace`
//!    only touches sample lines, `TrailingSpace` no HELP or UNIT line, and
//!    `Corrupt` neither HELP text nor the space after a sample's label set.
//! 7. Python takes a lone backslash at the end of HELP text as itself; the ABNF
//!    needs a character after it. Generated HELP texts are escaped, and neither
//!    `Corrupt` nor `Truncate` touches them.
//! 8. Python accepts `+nan`, digits beyond ASCII, `1.+5` as a timestamp, `_` and
//!    spaces in `le` (its `float()`), numbers beyond float64, `quantile` on
//!    `_count`/`_sum`, `_created` without `_total` or NaN, and a bucket exemplar
//!    above its bucket or NaN; the specification does not. None is generated;
//!    `Corrupt` writes no `+`, `_`, space or non-ASCII digit, but can still form
//!    some of the others.
#![allow(dead_code)]

use promhttp::family::{Exemplar, MetricFamily};
use proptest::prelude::*;

/// The number of proptest cases: `PROPTEST_CASES`, or `default`.
pub(crate) fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(default)
}

/// One line of a generated exposition and where it comes from.
#[derive(Debug, Clone)]
pub(crate) struct Line {
    pub(crate) text: String,
    /// The family's index, `usize::MAX` for `# EOF`.
    pub(crate) family: usize,
    /// The metric's index within its family, for sample lines.
    pub(crate) metric: Option<usize>,
    /// Whether this is an info family's line.
    pub(crate) info: bool,
}

/// A valid exposition, as lines.
#[derive(Debug, Clone)]
pub(crate) struct Exposition {
    pub(crate) lines: Vec<Line>,
}

impl Exposition {
    pub(crate) fn text(&self) -> String {
        join(self.lines.iter().map(|l| l.text.as_str()))
    }
}

fn join<'a>(lines: impl Iterator<Item = &'a str>) -> String {
    let mut out = String::new();
    for line in lines {
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// The raw ingredients of one family.
#[derive(Debug, Clone)]
pub(crate) struct RawFamily {
    word: String,
    help: String,
    values: Vec<String>,
    seeds: Vec<u32>,
}

/// Label values and help texts that break naive writers and readers.
pub(crate) fn hostile() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[\"\\\\\n\r\t{}#= ,.a-z0-9\u{0}\u{7f}\u{85}\u{2028}é😀]{0,12}",
        1 => "\\PC{0,16}",
        1 => Just(String::new()),
    ]
}

fn raw_family() -> impl Strategy<Value = RawFamily> {
    (
        "[a-zA-Z][a-zA-Z0-9_]{0,5}",
        hostile(),
        proptest::collection::vec(hostile(), 1..6),
        proptest::collection::vec(any::<u32>(), 48),
    )
        .prop_map(|(word, help, values, seeds)| RawFamily {
            word,
            help,
            values,
            seeds,
        })
}

/// A valid exposition of 0 to 5 families.
pub(crate) fn exposition() -> impl Strategy<Value = Exposition> {
    proptest::collection::vec(raw_family(), 0..6).prop_map(|raw| build(&raw))
}

/// Deterministic choices from a list of seeds.
pub(crate) struct Draw<'a> {
    seeds: &'a [u32],
    i: usize,
}

impl<'a> Draw<'a> {
    /// Choices drawn from `seeds`, which must not be empty.
    pub(crate) fn new(seeds: &'a [u32]) -> Self {
        Self { seeds, i: 0 }
    }

    fn next(&mut self) -> u32 {
        let v = self.seeds[self.i % self.seeds.len()];
        self.i += 1;
        // Mix in the position so that a list of equal seeds still varies.
        v.wrapping_add((self.i as u32).wrapping_mul(0x9e37_79b9))
            .rotate_left(7)
    }
    pub(crate) fn below(&mut self, n: usize) -> usize {
        self.next() as usize % n.max(1)
    }
    pub(crate) fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
    pub(crate) fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }
}

const KINDS: [&str; 8] = [
    "gauge",
    "unknown",
    "counter",
    "stateset",
    "info",
    "histogram",
    "gaugehistogram",
    "summary",
];
const UNITS: [&str; 3] = ["seconds", "bytes", "celsius"];
const LABEL_NAMES: [&str; 9] = [
    "a", "b", "code", "le", "quantile", "_x", "Path", "z9", "le_x",
];
const BOUNDS: [f64; 12] = [
    -5.0, -1.0, -0.5, 0.0, 1e-9, 0.001, 0.25, 0.5, 1.0, 2.5, 10.0, 1e6,
];
const QUANTILES: [f64; 6] = [0.0, 0.25, 0.5, 0.9, 0.99, 1.0];
const STATES: [&str; 6] = ["a", "on", "off", "x y", "ü", ""];

fn build(raw: &[RawFamily]) -> Exposition {
    let mut lines = Vec::new();
    for (index, family) in raw.iter().enumerate() {
        build_family(index, family, &mut lines);
    }
    lines.push(Line {
        text: "# EOF".into(),
        family: usize::MAX,
        metric: None,
        info: false,
    });
    Exposition { lines }
}

/// Escapes a label value or (with `raw_quotes`) a HELP text.
fn escape(s: &str, raw_quotes: bool) -> String {
    let mut out = String::new();
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' if !raw_quotes => out.push_str("\\\""),
            _ => out.push(c),
        }
    }
    out
}

fn labels_text(labels: &[(String, String)]) -> String {
    let body: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", escape(v, false)))
        .collect();
    format!("{{{}}}", body.join(","))
}

/// `v` written in one of the forms the ABNF allows, chosen by `style`.
fn number(v: f64, style: usize) -> String {
    if v.is_nan() {
        return ["NaN", "nan", "NAN"][style % 3].into();
    }
    if v.is_infinite() {
        let forms: &[&str] = if v > 0.0 {
            &["+Inf", "Inf", "inf", "+inf", "Infinity", "+Infinity", "INF"]
        } else {
            &["-Inf", "-inf", "-Infinity", "-INF"]
        };
        return forms[style % forms.len()].into();
    }
    let integral = v.fract() == 0.0 && v.abs() < 1e15;
    let shortest = if integral {
        format!("{}", v as i64)
    } else {
        format!("{v:?}")
    };
    match style % 8 {
        1 => format!("{v:e}"),
        2 => format!("{v:E}"),
        3 if v >= 0.0 => format!("00{shortest}"),
        4 if v > 0.0 => format!("+{shortest}"),
        5 if integral => format!("{shortest}.0"),
        6 if integral => format!("{shortest}."),
        6 if v > 0.0 && v < 1.0 => shortest.trim_start_matches('0').to_owned(),
        7 if integral => format!("{shortest}.000e+00"),
        _ => shortest,
    }
}

/// A sample timestamp for point `k` of a metric whose first one is at `base`:
/// `[+-]digits[.digits]`, strictly increasing with `k`, never in (-1, 0).
fn timestamp(d: &mut Draw<'_>, base: i64, k: usize) -> String {
    let int = base + (k as i64) * (1 + d.below(1000) as i64);
    let digits = d.below(10);
    let frac: String = (0..digits)
        .map(|_| char::from(b'0' + d.below(10) as u8))
        .collect();
    let sign = if int >= 0 && d.chance(10) { "+" } else { "" };
    match (digits, d.chance(10)) {
        (0, true) => format!("{sign}{int}."),
        (0, false) => format!("{sign}{int}"),
        _ => format!("{sign}{int}.{frac}"),
    }
}

/// A value for a sample that may be anything.
fn any_value(d: &mut Draw<'_>) -> f64 {
    match d.below(10) {
        0 => f64::NAN,
        1 => f64::INFINITY,
        2 => f64::NEG_INFINITY,
        3 => -(d.below(1000) as f64) / 8.0,
        _ => non_negative(d),
    }
}

/// A finite value of at least 0.
fn non_negative(d: &mut Draw<'_>) -> f64 {
    match d.below(5) {
        0 => d.below(100) as f64,
        1 => d.below(1000) as f64 / 8.0,
        2 => d.below(1_000_000) as f64 * 1e9,
        3 => d.below(1000) as f64 * 1e-9,
        _ => d.below(10) as f64,
    }
}

struct Family<'a> {
    index: usize,
    name: String,
    kind: &'static str,
    values: &'a [String],
    lines: &'a mut Vec<Line>,
}

impl Family<'_> {
    fn push(&mut self, metric: Option<usize>, text: String) {
        self.lines.push(Line {
            text,
            family: self.index,
            metric,
            info: self.kind == "info",
        });
    }

    fn value(&self, d: &mut Draw<'_>) -> String {
        self.values[d.below(self.values.len())].clone()
    }

    /// Label names the type leaves free.
    fn label_name_ok(&self, name: &str) -> bool {
        match self.kind {
            "histogram" | "gaugehistogram" => name != "le",
            "summary" => name != "quantile",
            _ => true,
        }
    }

    /// An exemplar ` # {...} value [timestamp]` for a sample, its value `value`.
    fn exemplar(&self, d: &mut Draw<'_>, value: f64) -> String {
        let mut labels: Vec<(String, String)> = Vec::new();
        let mut budget = 128usize;
        for _ in 0..d.below(3) {
            let name = d.pick(&["trace_id", "span", "a", "_b"]);
            if labels.iter().any(|(k, _)| k == name) || budget < name.len() {
                continue;
            }
            // No `"` in exemplar label values: divergence 5 above.
            let value: String = self
                .value(d)
                .chars()
                .filter(|&c| c != '"')
                .take(budget - name.len())
                .collect();
            budget -= name.len() + value.chars().count();
            labels.push((name.to_owned(), value));
        }
        let mut out = format!(" # {} {}", labels_text(&labels), number(value, d.below(8)));
        if d.chance(40) {
            out.push(' ');
            let base = d.below(2_000_000_000) as i64 - 1_000;
            out.push_str(&timestamp(d, base, 0));
        }
        out
    }
}

fn build_family(index: usize, raw: &RawFamily, lines: &mut Vec<Line>) {
    let mut d = Draw::new(&raw.seeds);
    let kind = d.pick(&KINDS);
    let unit = if matches!(kind, "info" | "stateset") || d.chance(70) {
        None
    } else {
        Some(d.pick(&UNITS))
    };
    // Names end in a digit (or a unit), so that no family name is another's
    // sample name; state sets need a name that is also a label name.
    let prefix = if kind != "stateset" && d.chance(15) {
        "ns:"
    } else {
        ""
    };
    let mut name = format!("{prefix}{}_{index}", raw.word);
    if let Some(unit) = unit {
        name = format!("{name}_{unit}");
    }
    let mut f = Family {
        index,
        name: name.clone(),
        kind,
        values: &raw.values,
        lines,
    };

    // Metadata, in any order: TYPE (optional for unknown), HELP, UNIT (possibly
    // empty, for any type).
    let mut meta = Vec::new();
    if kind != "unknown" || d.chance(50) {
        meta.push(format!("# TYPE {name} {kind}"));
    }
    if d.chance(60) {
        // HELP text is escaped (divergence 7) and does not start with a space
        // (divergence 6); quotes are left raw now and then, as the test suite has.
        let help = escape(raw.help.trim_start_matches(' '), d.chance(30));
        meta.push(format!("# HELP {name} {help}"));
    }
    match unit {
        Some(unit) => meta.push(format!("# UNIT {name} {unit}")),
        None if d.chance(10) => meta.push(format!("# UNIT {name} ")),
        None => {}
    }
    for _ in 0..meta.len() {
        let i = d.below(meta.len());
        let j = d.below(meta.len());
        meta.swap(i, j);
    }
    for line in meta {
        f.push(None, line);
    }

    // Metrics: distinct label sets, each timed throughout or not at all (and for
    // info families all alike: divergence 4).
    let family_timed = d.chance(25);
    let mut seen: Vec<Vec<(String, String)>> = Vec::new();
    for m in 0..d.below(4) {
        let mut labels: Vec<(String, String)> = Vec::new();
        for _ in 0..d.below(4) {
            let n = d.pick(&LABEL_NAMES);
            if f.label_name_ok(n) && !labels.iter().any(|(k, _)| k == n) {
                labels.push((n.to_owned(), f.value(&mut d)));
            }
        }
        let mut key = labels.clone();
        key.sort();
        if seen.contains(&key) {
            continue;
        }
        seen.push(key);
        let timed = if kind == "info" {
            family_timed
        } else {
            d.chance(25)
        };
        let several = timed && !matches!(kind, "histogram" | "gaugehistogram" | "info");
        let points = if several { 1 + d.below(2) } else { 1 };
        let base = d.below(3_000_000_000) as i64 - 1_000_000_000;
        // Never in (-1, 0): divergence 3.
        let base = if base < 0 { base.min(-1) } else { base };
        for k in 0..points {
            let ts = timed.then(|| timestamp(&mut d, base, k));
            metric_point(&mut f, &mut d, m, &labels, ts.as_deref());
        }
    }
}

/// The sample lines of one point of metric `m`.
/// What the sample lines of one point share: the family, the metric's labels
/// (also written out, or nothing for none), the timestamp, and the lines so far.
struct Point<'p, 'f> {
    f: &'p Family<'f>,
    labels: &'p [(String, String)],
    plain: String,
    ts: Option<&'p str>,
    lines: Vec<String>,
}

impl Point<'_, '_> {
    /// `name<suffix><labels> <value>[ <timestamp>]`, with `extra` (a label put
    /// anywhere among the metric's) when given.
    fn line(
        &self,
        d: &mut Draw<'_>,
        suffix: &str,
        extra: Option<(&str, String)>,
        value: &str,
    ) -> String {
        let labels = match extra {
            Some((k, v)) => {
                let mut l = self.labels.to_vec();
                l.insert(d.below(l.len() + 1), (k.to_owned(), v));
                labels_text(&l)
            }
            None => self.plain.clone(),
        };
        match self.ts {
            Some(ts) => format!("{}{suffix}{labels} {value} {ts}", self.f.name),
            None => format!("{}{suffix}{labels} {value}", self.f.name),
        }
    }

    /// Puts each of `rest` anywhere among the lines.
    fn scatter(&mut self, d: &mut Draw<'_>, rest: Vec<String>) {
        for line in rest {
            let at = d.below(self.lines.len() + 1);
            self.lines.insert(at, line);
        }
    }
}

/// Up to three distinct values of `pool`, in increasing order.
fn some_of(d: &mut Draw<'_>, pool: &[f64]) -> Vec<f64> {
    let mut v: Vec<f64> = (0..d.below(4)).map(|_| d.pick(pool)).collect();
    v.sort_by(f64::total_cmp);
    v.dedup();
    v
}

/// The sample lines of one point of metric `m`.
fn metric_point(
    f: &mut Family<'_>,
    d: &mut Draw<'_>,
    m: usize,
    labels: &[(String, String)],
    ts: Option<&str>,
) {
    let plain = if labels.is_empty() && d.chance(60) {
        String::new()
    } else {
        labels_text(labels)
    };
    let name = f.name.clone();
    let mut p = Point {
        f,
        labels,
        plain,
        ts,
        lines: Vec::new(),
    };
    match p.f.kind {
        "gauge" | "unknown" => {
            let v = number(any_value(d), d.below(8));
            let line = p.line(d, "", None, &v);
            p.lines.push(line);
        }
        "counter" => {
            let v = if d.chance(5) {
                f64::INFINITY
            } else {
                non_negative(d)
            };
            let v = number(v, d.below(8));
            let mut total = p.line(d, "_total", None, &v);
            if d.chance(30) {
                let ex = if d.chance(10) { f64::NAN } else { any_value(d) };
                total.push_str(&p.f.exemplar(d, ex));
            }
            p.lines.push(total);
            if d.chance(40) {
                let v = number(non_negative(d), d.below(8));
                let created = p.line(d, "_created", None, &v);
                p.scatter(d, vec![created]);
            }
        }
        "stateset" => {
            let mut states: Vec<&str> = Vec::new();
            for _ in 0..1 + d.below(3) {
                let s = d.pick(&STATES);
                if !states.contains(&s) {
                    states.push(s);
                }
            }
            for s in states {
                let v = ["0", "1", "0.0", "1.0", "1e0", "00"][d.below(6)];
                let line = p.line(d, "", Some((&name, s.to_owned())), v);
                p.lines.push(line);
            }
        }
        "info" => {
            let v = ["1", "1.0", "1e0", "+1", "01", "1."][d.below(6)];
            let line = p.line(d, "_info", None, v);
            p.lines.push(line);
        }
        "histogram" | "gaugehistogram" => histogram(&mut p, d),
        _ => summary(&mut p, d),
    }
    let lines = std::mem::take(&mut p.lines);
    for line in lines {
        f.push(Some(m), line);
    }
}

fn histogram(p: &mut Point<'_, '_>, d: &mut Draw<'_>) {
    let gauge = p.f.kind == "gaugehistogram";
    let bounds = some_of(d, &BOUNDS);
    let negative = bounds.first().is_some_and(|b| *b < 0.0);
    let mut count = 0u64;
    for le in bounds.iter().copied().chain(std::iter::once(f64::INFINITY)) {
        count += d.below(4) as u64;
        let le_text = if le.is_infinite() {
            "+Inf".to_owned()
        } else {
            number(le, d.below(8))
        };
        let v = number(count as f64, d.below(8));
        let mut line = p.line(d, "_bucket", Some(("le", le_text)), &v);
        if d.chance(25) {
            // Within the bucket: divergence 8.
            let ex = if le.is_infinite() {
                any_value(d).clamp(-1e9, 1e9)
            } else {
                le - d.below(3) as f64
            };
            let ex = if ex.is_nan() { 0.0 } else { ex };
            line.push_str(&p.f.exemplar(d, ex));
        }
        p.lines.push(line);
    }
    let mut rest = Vec::new();
    let (count_name, sum_name) = if gauge {
        ("_gcount", "_gsum")
    } else {
        ("_count", "_sum")
    };
    // A sum and a count together or not at all, and no sum with negative buckets
    // in a histogram.
    if d.chance(70) && (gauge || !negative) {
        let v = number(count as f64, d.below(8));
        rest.push(p.line(d, count_name, None, &v));
        let sum = if gauge && negative && d.chance(50) {
            -non_negative(d)
        } else {
            non_negative(d)
        };
        let v = number(sum, d.below(8));
        rest.push(p.line(d, sum_name, None, &v));
    }
    if !gauge && d.chance(30) {
        let v = number(non_negative(d), d.below(8));
        rest.push(p.line(d, "_created", None, &v));
    }
    p.scatter(d, rest);
}

fn summary(p: &mut Point<'_, '_>, d: &mut Draw<'_>) {
    for q in some_of(d, &QUANTILES) {
        let v = if d.chance(15) {
            f64::NAN
        } else {
            non_negative(d)
        };
        let (q, v) = (number(q, d.below(8)), number(v, d.below(8)));
        let line = p.line(d, "", Some(("quantile", q)), &v);
        p.lines.push(line);
    }
    let mut rest = Vec::new();
    for (suffix, chance) in [("_count", 60), ("_sum", 60), ("_created", 30)] {
        if d.chance(chance) {
            let v = if suffix == "_count" {
                d.below(100) as f64
            } else {
                non_negative(d)
            };
            let v = number(v, d.below(8));
            rest.push(p.line(d, suffix, None, &v));
        }
    }
    p.scatter(d, rest);
}

/// A change to a valid exposition that (usually) breaks it.
#[derive(Debug, Clone)]
pub(crate) enum Mutation {
    /// Drops `# EOF`.
    DropEof,
    /// Inserts an empty line before line `.0`.
    BlankLine(usize),
    /// Swaps line `.0` and the next.
    Swap(usize),
    /// Deletes line `.0`.
    Delete(usize),
    /// Copies sample line `.0` to position `.1`, away from its own metric
    /// (divergence 1), unless it is an info line (divergence 4).
    Duplicate(usize, usize),
    /// Appends a space to line `.0`.
    TrailingSpace(usize),
    /// Doubles the first space after the label set of sample line `.0`.
    DoubleSpace(usize),
    /// Ends line `.0` with a carriage return.
    CarriageReturn(usize),
    /// Replaces character `.1` of line `.0` with `.2`.
    Corrupt(usize, usize, char),
    /// Cuts line `.0` after `.1` characters.
    Truncate(usize, usize),
    /// Puts `.1` at the start of the first label value of sample line `.0`.
    Escape(usize, &'static str),
    /// Changes the type on TYPE line `.0` to `.1`.
    Retype(usize, &'static str),
    /// Moves metadata line `.0` below the next line.
    MoveDown(usize),
}

fn is_help_or_unit(line: &str) -> bool {
    line.starts_with("# HELP ") || line.starts_with("# UNIT ")
}

/// The character index of the `}` that closes a sample line's own label set, if
/// it has one (the line being as generated).
pub(crate) fn label_set_end(line: &str) -> Option<usize> {
    let open = line.find(['{', ' '])?;
    if !line[open..].starts_with('{') {
        return None;
    }
    let (mut quoted, mut escaped) = (false, false);
    for (i, c) in line.chars().enumerate().skip(line[..open].chars().count()) {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '}' if !quoted => return Some(i),
            _ => {}
        }
    }
    None
}

/// Characters `Corrupt` writes: no whitespace (divergence 6), and no `+`, `_` or
/// non-ASCII digit, which Python's numbers take and the ABNF's do not
/// (divergence 8).
const CORRUPTIONS: [char; 14] = [
    '"', '\\', '{', '}', '=', ',', '#', 'x', '0', '9', '.', '-', 'e', '\u{0}',
];

pub(crate) fn mutation() -> impl Strategy<Value = Mutation> {
    let i = any::<usize>();
    prop_oneof![
        Just(Mutation::DropEof),
        i.prop_map(Mutation::BlankLine),
        i.prop_map(Mutation::Swap),
        i.prop_map(Mutation::Delete),
        (i, i).prop_map(|(a, b)| Mutation::Duplicate(a, b)),
        i.prop_map(Mutation::TrailingSpace),
        i.prop_map(Mutation::DoubleSpace),
        i.prop_map(Mutation::CarriageReturn),
        (i, i, proptest::sample::select(CORRUPTIONS.to_vec()))
            .prop_map(|(a, b, c)| Mutation::Corrupt(a, b, c)),
        (i, i).prop_map(|(a, b)| Mutation::Truncate(a, b)),
        (
            i,
            proptest::sample::select(vec!["\\", "\\z", "\\\\", "\\n", "\\\"", "\\ "])
        )
            .prop_map(|(a, e)| Mutation::Escape(a, e)),
        (i, proptest::sample::select(KINDS.to_vec())).prop_map(|(a, t)| Mutation::Retype(a, t)),
        i.prop_map(Mutation::MoveDown),
    ]
}

impl Exposition {
    /// The exposition with `m` applied.
    pub(crate) fn mutate(&self, m: &Mutation) -> String {
        let mut lines: Vec<String> = self.lines.iter().map(|l| l.text.clone()).collect();
        let n = lines.len();
        let samples: Vec<usize> = (0..n).filter(|&i| self.lines[i].metric.is_some()).collect();
        let sample = |i: usize| samples.get(i % samples.len().max(1)).copied();
        match *m {
            Mutation::DropEof => {
                lines.pop();
            }
            Mutation::BlankLine(i) => lines.insert(i % (n + 1), String::new()),
            Mutation::Swap(i) if n >= 2 => lines.swap(i % (n - 1), i % (n - 1) + 1),
            Mutation::Delete(i) => {
                lines.remove(i % n);
            }
            Mutation::Duplicate(i, j) => {
                if let Some(i) = sample(i).filter(|&i| !self.lines[i].info) {
                    let (f, m) = (self.lines[i].family, self.lines[i].metric);
                    let block: Vec<usize> = (0..n)
                        .filter(|&k| self.lines[k].family == f && self.lines[k].metric == m)
                        .collect();
                    let (first, last) = (block[0], block[block.len() - 1]);
                    // Anywhere before `# EOF` but in or right after its own metric.
                    let places: Vec<usize> =
                        (0..n).filter(|&p| p < first || p > last + 1).collect();
                    if let Some(&p) = places.get(j % places.len().max(1)) {
                        let copy = lines[i].clone();
                        lines.insert(p, copy);
                    }
                }
            }
            Mutation::TrailingSpace(i) => {
                // Not on HELP and UNIT lines, whose values may end in spaces, which
                // Python drops when they are all there is (divergence 6).
                let i = i % n;
                if !is_help_or_unit(&lines[i]) {
                    lines[i].push(' ');
                }
            }
            Mutation::DoubleSpace(i) => {
                if let Some(i) = sample(i) {
                    let line = &lines[i];
                    let from = line.find('}').map_or(0, |b| b + 1);
                    if let Some(sp) = line[from..].find(' ') {
                        lines[i].insert(from + sp, ' ');
                    }
                }
            }
            Mutation::CarriageReturn(i) => lines[i % n].push('\r'),
            Mutation::Corrupt(i, at, c) => {
                // Not in HELP text, where it could leave a lone backslash at the
                // end (divergence 7) or spaces first (divergence 6); not on the
                // space after a sample's label set (divergence 6).
                let line = &mut lines[i % n];
                let chars: Vec<char> = line.chars().collect();
                let after_labels = label_set_end(line).map(|e| e + 1);
                if !chars.is_empty() && !line.starts_with("# HELP ") {
                    let at = at % chars.len();
                    if Some(at) != after_labels {
                        *line = chars[..at]
                            .iter()
                            .chain(std::iter::once(&c))
                            .chain(&chars[at + 1..])
                            .collect();
                    }
                }
            }
            Mutation::Truncate(i, at) => {
                // Not HELP text, for its escapes (divergence 7), nor an info
                // sample's timestamp (divergence 4).
                let info = self.lines[i % n].info;
                let line = &mut lines[i % n];
                if !line.starts_with("# HELP ") && !info {
                    let keep = at % (line.chars().count() + 1);
                    *line = line.chars().take(keep).collect();
                }
            }
            Mutation::Escape(i, e) => {
                // Into the sample's own labels, not an exemplar's (divergence 5).
                if let Some(i) = sample(i).filter(|&i| label_set_end(&lines[i]).is_some()) {
                    if let Some(at) = lines[i].find("=\"") {
                        lines[i].insert_str(at + 2, e);
                    }
                }
            }
            Mutation::Retype(i, t) => {
                let types: Vec<usize> = (0..n)
                    .filter(|&k| lines[k].starts_with("# TYPE "))
                    .collect();
                if let Some(&k) = types.get(i % types.len().max(1)) {
                    let cut = lines[k].rfind(' ').unwrap_or(0);
                    lines[k].truncate(cut + 1);
                    lines[k].push_str(t);
                }
            }
            Mutation::MoveDown(i) => {
                let meta: Vec<usize> = (0..n.saturating_sub(2))
                    .filter(|&k| {
                        self.lines[k].metric.is_none() && self.lines[k].family != usize::MAX
                    })
                    .collect();
                if let Some(&k) = meta.get(i % meta.len().max(1)) {
                    lines.swap(k, k + 1);
                }
            }
            Mutation::Swap(_) => {}
        }
        join(lines.iter().map(String::as_str))
    }
}

impl Exposition {
    /// Any text as an exposition to mutate further, each line taken for a
    /// sample line of one metric unless it starts with `#`.
    pub(crate) fn from_text(text: &str) -> Self {
        let lines = text
            .strip_suffix('\n')
            .unwrap_or(text)
            .split('\n')
            .map(|l| Line {
                text: l.to_owned(),
                family: 0,
                metric: (!l.starts_with('#')).then_some(0),
                info: false,
            })
            .collect();
        Self { lines }
    }
}

/// A family as the encoder writes it, whatever form it was read in: every sample's
/// labels in name order, `le` and `quantile` values in canonical form (`0.25` for
/// `000.25`, `1.0` for `1`), and the samples in (name, labels, timestamp) order,
/// since the encoder writes each point's samples in canonical order.
pub(crate) fn canonical(families: &[MetricFamily]) -> Vec<MetricFamily> {
    let mut out = families.to_vec();
    for family in &mut out {
        for sample in &mut family.samples {
            for (k, v) in &mut sample.labels {
                if k == "le" || k == "quantile" {
                    let n: f64 = match v.as_str() {
                        "+Inf" => f64::INFINITY,
                        "-Inf" => f64::NEG_INFINITY,
                        other => other.parse().unwrap_or(f64::NAN),
                    };
                    *v = promhttp::family::format_bound(n);
                }
            }
            sample.labels.sort();
        }
        family.samples.sort_by(|s, t| {
            (&s.name, &s.labels).cmp(&(&t.name, &t.labels)).then(
                s.timestamp
                    .partial_cmp(&t.timestamp)
                    .unwrap_or(std::cmp::Ordering::Equal),
            )
        });
    }
    out
}

/// Whether two readings of an exposition are the same once in canonical form
/// (see [`canonical`]), NaN equal to NaN.
pub(crate) fn same_families(a: &[MetricFamily], b: &[MetricFamily]) -> bool {
    let (a, b) = (canonical(a), canonical(b));
    let number = |x: f64, y: f64| x == y || (x.is_nan() && y.is_nan());
    let exemplar = |x: &Option<Exemplar>, y: &Option<Exemplar>| match (x, y) {
        (None, None) => true,
        (Some(x), Some(y)) => {
            x.labels == y.labels && number(x.value, y.value) && x.timestamp == y.timestamp
        }
        _ => false,
    };
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| {
            x.name == y.name
                && x.metric_type == y.metric_type
                && x.help == y.help
                && x.unit == y.unit
                && x.samples.len() == y.samples.len()
                && x.samples.iter().zip(&y.samples).all(|(s, t)| {
                    s.name == t.name
                        && s.labels == t.labels
                        && number(s.value, t.value)
                        && s.timestamp == t.timestamp
                        && exemplar(&s.exemplar, &t.exemplar)
                })
        })
}
