//! OpenMetrics 1.0 text, read line by line.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet, VecDeque};

use super::lex::{self, BadNumber, Cursor, Dialect, Exact, Label};
use super::{Cutter, Lines, ParseError, Piece, Rule, Seen};
use crate::family::{Exemplar, MetricFamily, MetricType, Sample};

/// The families of an OpenMetrics text, each given as soon as its last line is
/// read and checked: memory holds one family at a time, plus the names of those
/// given so far. After an error, nothing more.
pub(super) struct Stream<'a> {
    lines: Lines<'a>,
    parser: Parser<'a>,
    /// The last line read, with its number: where a missing `# EOF` is reported.
    last: (usize, &'a str),
}

impl<'a> Stream<'a> {
    pub(super) fn new(text: &'a str) -> Self {
        Self {
            lines: Lines::new(text),
            parser: Parser::default(),
            last: (0, ""),
        }
    }

    /// Reads one line; `Ok(false)` at the end of the text.
    fn step(&mut self) -> Result<bool, ParseError> {
        let Some((number, line, last)) = self.lines.next_line()? else {
            if !self.parser.eof {
                let (number, end) = self.last;
                return Err(ParseError::new(
                    number,
                    lex::column(end, end.len()),
                    Rule::MissingEof,
                    String::new(),
                ));
            }
            return Ok(false);
        };
        self.last = (number, line);
        let parser = &mut self.parser;
        if parser.eof {
            if last && line.is_empty() {
                return Ok(true);
            }
            return Err(ParseError::new(
                number,
                1,
                Rule::TextAfterEof,
                String::new(),
            ));
        }
        if line.is_empty() {
            if last {
                return Ok(true);
            }
            return Err(ParseError::new(number, 1, Rule::BlankLine, String::new()));
        }
        if line == "# EOF" {
            parser.finish_family()?;
            parser.eof = true;
        } else if line.starts_with('#') {
            parser.metadata(Cursor::new(line, number))?;
        } else {
            parser.sample(Cursor::new(line, number))?;
        }
        Ok(true)
    }
}

impl super::Reader for Stream<'_> {
    fn step(&mut self) -> Result<bool, ParseError> {
        Stream::step(self)
    }

    fn ready(&mut self) -> &mut VecDeque<Piece> {
        &mut self.parser.ready
    }

    fn set_max_samples(&mut self, max: usize) {
        self.parser.max = Some(max);
    }
}

#[derive(Default)]
struct Parser<'a> {
    /// Pieces finished and not yet given out (at most one: a line finishes at
    /// most one piece).
    ready: VecDeque<Piece>,
    /// Cut families into pieces of this many samples.
    max: Option<usize>,
    /// Every name a finished family has or can write, with that family's name.
    taken: HashMap<String, String>,
    current: Option<Family<'a>>,
    eof: bool,
}

/// The family being read and what its lines so far have settled.
struct Family<'a> {
    family: MetricFamily,
    help: bool,
    typed: bool,
    /// Whether a `# UNIT` line was seen.
    unit_line: bool,
    /// The line and column of a non-empty unit.
    unit: Option<(usize, usize)>,
    has_samples: bool,
    /// The label sets of the metrics finished so far.
    seen: Seen,
    metric: Option<Metric<'a>>,
    cutter: Cutter,
    /// A piece cut by the last sample, to be given.
    cut: Option<Piece>,
    /// Whether metrics and points are followed: their rules, and metrics
    /// coming back after another. Not when checking a family of gauges, unknowns
    /// or infos, whose every sample is a point of its own and whose repeats
    /// `validate` finds.
    interleaving: bool,
}

/// A series: its name and the value of the label that tells a point's samples
/// apart.
type Series<'a> = (Cow<'a, str>, Option<Cow<'a, str>>);

/// The series of a point: the first held inline, so that a point of one sample
/// (every gauge's) needs no set.
#[derive(Default)]
struct PointSeries<'a> {
    first: Option<Series<'a>>,
    rest: HashSet<Series<'a>>,
}

impl<'a> PointSeries<'a> {
    /// Adds `series`; `false` if it was there.
    fn insert(&mut self, series: Series<'a>) -> bool {
        match &self.first {
            None => {
                self.first = Some(series);
                true
            }
            Some(first) if *first == series => false,
            Some(_) => self.rest.insert(series),
        }
    }

    fn clear(&mut self) {
        self.first = None;
        self.rest.clear();
    }
}

/// A label's name and value, borrowed from the text (or an owned family)
/// unless unescaped.
type Pair<'a> = (Cow<'a, str>, Cow<'a, str>);

/// The metric (label set) being read.
struct Metric<'a> {
    key: Vec<Pair<'a>>,
    timed: bool,
    last: Option<Exact>,
    /// The series written in the current point (without timestamps, the
    /// metric's only point), as their name and the value of the label that
    /// tells a point's samples apart (the rest is the metric's key): a series
    /// twice in a point is a repeat.
    untimed: PointSeries<'a>,
    point: Point,
}

/// What the checks at the end of a metric point need: the samples of one metric
/// with one timestamp.
#[derive(Default)]
struct Point {
    last_line: usize,
    /// The last bucket's `le` and count, and its line.
    bucket: Option<(f64, f64, usize)>,
    negative_bucket: bool,
    count: Option<(f64, usize)>,
    sum: Option<usize>,
    gsum: Option<(f64, usize)>,
    total: bool,
    created: Option<usize>,
}

/// A sample line, read but not yet placed.
struct Line<'a> {
    number: usize,
    name: Cow<'a, str>,
    labels: Vec<Label<'a>>,
    value: f64,
    value_at: usize,
    /// The timestamp in seconds, exactly as written, and its position.
    timestamp: Option<(f64, Exact, usize)>,
    exemplar: Option<(Cow<'a, Exemplar>, usize)>,
}

#[derive(Clone, Copy)]
enum Kind {
    Help,
    Type,
    Unit,
}

impl<'a> Parser<'a> {
    fn metadata(&mut self, mut c: Cursor<'_>) -> Result<(), ParseError> {
        if c.rest().starts_with("# EOF") {
            return Err(c.error(Rule::EofLine, format!("found {:?}", c.rest())));
        }
        let kind = if c.eat_str("# HELP ") {
            Kind::Help
        } else if c.eat_str("# TYPE ") {
            Kind::Type
        } else if c.eat_str("# UNIT ") {
            Kind::Unit
        } else {
            return Err(bad_hash_line(&c));
        };
        let name_at = c.pos();
        if c.peek() == Some(' ') {
            return Err(c.error(Rule::Separator, "two spaces before the metric name"));
        }
        let name = c.metric_name()?;
        match c.peek() {
            Some(' ') => {
                c.bump();
            }
            None => {
                return Err(c.error(
                    Rule::Metadata,
                    "the line ends after the metric name; a space and a value must follow",
                ))
            }
            Some(ch) if !matches!(ch, '\t' | '\r') => {
                return Err(c.error(
                    Rule::MetricName,
                    format!("{ch:?} cannot appear in a metric name"),
                ))
            }
            Some(_) => return Err(c.unexpected(Rule::Separator, "one space")),
        }
        let value_at = c.pos();
        let value = c.rest();
        let number = c.line_number();
        let col = c.column_at(value_at);
        let family = self.enter(name, &c, name_at)?;
        if family.has_samples {
            return Err(c.error_at(
                0,
                Rule::MetadataAfterSamples,
                format!("family `{name}` already has samples"),
            ));
        }
        match kind {
            Kind::Help => {
                if family.help {
                    return Err(duplicate(&c, "HELP", name));
                }
                family.help = true;
                family.family.help = unescape_help(&c, value, value_at)?;
            }
            Kind::Type => {
                if family.typed {
                    return Err(duplicate(&c, "TYPE", name));
                }
                let metric_type = metric_type(&c, value, value_at)?;
                family.typed = true;
                family.family.metric_type = metric_type;
                if let Some((line, col)) = family.unit {
                    check_unit_type(metric_type, line, col)?;
                }
                for suffix in metric_type.sample_suffixes() {
                    let sample = format!("{name}{suffix}");
                    if let Some(owner) = self.taken.get(&sample) {
                        return Err(c.error_at(
                            value_at,
                            Rule::NameClash,
                            format!("{metric_type} `{name}` writes `{sample}`, a name of family `{owner}`"),
                        ));
                    }
                }
            }
            Kind::Unit => {
                if family.unit_line {
                    return Err(duplicate(&c, "UNIT", name));
                }
                family.unit_line = true;
                if let Some((i, ch)) = value
                    .char_indices()
                    .find(|&(_, ch)| !(ch.is_ascii_alphanumeric() || ch == '_' || ch == ':'))
                {
                    let rule = if ch == ' ' {
                        Rule::Separator
                    } else if ch == '\r' {
                        Rule::CarriageReturn
                    } else {
                        Rule::Unit
                    };
                    return Err(c.error_at(
                        value_at + i,
                        rule,
                        format!("{ch:?} in the unit (units are made of [a-zA-Z0-9_:])"),
                    ));
                }
                if !value.is_empty() && !name.ends_with(&format!("_{value}")) {
                    return Err(c.error_at(
                        value_at,
                        Rule::Unit,
                        format!("`{name}` does not end in `_{value}`"),
                    ));
                }
                if !value.is_empty() {
                    family.unit = Some((number, col));
                    family.family.unit = Some(value.to_owned());
                    check_unit_type(family.family.metric_type, number, col)?;
                }
            }
        }
        Ok(())
    }

    fn sample(&mut self, mut c: Cursor<'a>) -> Result<(), ParseError> {
        let line = read_sample(&mut c)?;
        let accepted = self
            .current
            .as_ref()
            .is_some_and(|f| suffix(&f.family, &line.name).is_some());
        if !accepted {
            if let Some(f) = &self.current {
                if f.family.name == line.name {
                    let t = f.family.metric_type;
                    return Err(c.error_at(
                        0,
                        Rule::SampleName,
                        format!(
                            "{t} family `{}` writes {}",
                            line.name,
                            t.sample_names(&line.name)
                                .get(1..)
                                .unwrap_or_default()
                                .join(", ")
                        ),
                    ));
                }
            }
            self.enter(&line.name, &c, 0)?;
        }
        let Some(family) = self.current.as_mut() else {
            return Ok(());
        };
        family.add(&c, &line)?;
        if let Some(piece) = family.cut.take() {
            self.ready.push_back(piece);
        }
        let (value, timestamp) = (line.value, line.timestamp.map(|(s, _, _)| s));
        family.family.samples.push(Sample {
            name: line.name.into_owned(),
            labels: lex::plain(line.labels),
            value,
            timestamp,
            exemplar: line.exemplar.map(|(e, _)| e.into_owned()),
        });
        Ok(())
    }

    /// Makes `name` the current family, starting a new one if it is not.
    fn enter(
        &mut self,
        name: &str,
        c: &Cursor<'_>,
        at: usize,
    ) -> Result<&mut Family<'a>, ParseError> {
        let same = self.current.as_ref().is_some_and(|f| f.family.name == name);
        if !same {
            self.finish_family()?;
            if let Some(owner) = self.taken.get(name) {
                return Err(if owner == name {
                    c.error_at(
                        at,
                        Rule::FamilyRepeated,
                        format!("family `{name}` appeared before"),
                    )
                } else {
                    c.error_at(
                        at,
                        Rule::NameClash,
                        format!("`{name}` is a sample name of family `{owner}`"),
                    )
                });
            }
        }
        Ok(self.current.get_or_insert_with(|| Family {
            family: MetricFamily::new(name, MetricType::Unknown, ""),
            help: false,
            typed: false,
            unit_line: false,
            unit: None,
            has_samples: false,
            seen: Seen::default(),
            metric: None,
            cutter: Cutter {
                given: 0,
                max: self.max,
            },
            cut: None,
            interleaving: true,
        }))
    }

    fn finish_family(&mut self) -> Result<(), ParseError> {
        let Some(mut family) = self.current.take() else {
            return Ok(());
        };
        if let Some(metric) = family.metric.take() {
            metric.point.check(family.family.metric_type)?;
        }
        let f = family.family;
        for suffix in f.metric_type.sample_suffixes() {
            self.taken
                .insert(format!("{}{suffix}", f.name), f.name.clone());
        }
        self.taken.insert(f.name.clone(), f.name.clone());
        self.ready.push_back(family.cutter.last(f));
        Ok(())
    }
}

/// A `#` line that is not `# HELP`, `# TYPE`, `# UNIT` or `# EOF`.
/// Checks an owned family's samples under the rules this parser applies to a
/// family's lines (the labels a type gives a meaning to, values, exemplars,
/// metrics and points, timestamps, repeats): one rule table for the parser and
/// [`MetricFamily::validate`]. The samples' names must belong to the family
/// (which `validate` checks first). A refusal names the sample (from 1) as its
/// line, and no column.
pub(crate) fn check_family(family: &MetricFamily) -> Result<(), ParseError> {
    let t = family.metric_type;
    let mut f = Family {
        family: MetricFamily::new(&family.name, t, ""),
        help: false,
        typed: true,
        unit_line: false,
        unit: None,
        has_samples: false,
        seen: Seen::default(),
        metric: None,
        cutter: Cutter::default(),
        cut: None,
        interleaving: !matches!(
            t,
            MetricType::Gauge | MetricType::Unknown | MetricType::Info
        ),
    };
    let mut line = Line {
        number: 0,
        name: Cow::Borrowed(""),
        labels: Vec::new(),
        value: 0.0,
        value_at: 0,
        timestamp: None,
        exemplar: None,
    };
    for (i, sample) in family.samples.iter().enumerate() {
        let c = Cursor::new("", i + 1);
        let timestamp = match sample.timestamp {
            None => None,
            Some(ts) => {
                // Compared as written: the shortest decimal that reads back as `ts`.
                let written = crate::family::format_number(ts);
                let exact = Exact::of(&written).ok_or_else(|| {
                    c.error_at(0, Rule::Timestamp, format!("timestamp {written}"))
                })?;
                Some((ts, exact, 0))
            }
        };
        // One line, its label buffer reused from sample to sample.
        line.number = i + 1;
        line.name = Cow::Borrowed(&sample.name);
        line.labels.clear();
        line.labels
            .extend(sample.labels.iter().map(|(name, value)| Label {
                name: Cow::Borrowed(name),
                value: Cow::Borrowed(value),
                at: 0,
            }));
        line.value = sample.value;
        line.timestamp = timestamp;
        line.exemplar = sample.exemplar.as_ref().map(|e| (Cow::Borrowed(e), 0));
        f.add(&c, &line)?;
    }
    match f.metric.take() {
        Some(metric) => metric.point.check(t),
        None => Ok(()),
    }
}

/// Whether a metric's key and a sample's (both sorted) are the same label set.
fn same_key(key: &[Pair<'_>], other: &[(&str, &str)]) -> bool {
    key.len() == other.len()
        && key
            .iter()
            .zip(other)
            .all(|((k, v), (l, w))| k == l && v == w)
}

fn bad_hash_line(c: &Cursor<'_>) -> ParseError {
    let rest = c.rest();
    let word = rest
        .strip_prefix("# ")
        .map(|r| r.split([' ', '\t']).next().unwrap_or(""));
    match word {
        Some("") => c.error_at(2, Rule::Separator, "more than one space after `#`"),
        Some(w @ ("HELP" | "TYPE" | "UNIT")) => c.error_at(
            2 + w.len(),
            Rule::Metadata,
            format!("`# {w}` must be followed by one space and a metric name"),
        ),
        _ => c.error_at(0, Rule::Comment, format!("found {rest:?}")),
    }
}

fn duplicate(c: &Cursor<'_>, kind: &str, name: &str) -> ParseError {
    c.error_at(
        0,
        Rule::DuplicateMetadata,
        format!("a second {kind} line for `{name}`"),
    )
}

fn check_unit_type(t: MetricType, line: usize, col: usize) -> Result<(), ParseError> {
    if matches!(t, MetricType::Info | MetricType::StateSet) {
        return Err(ParseError::new(
            line,
            col,
            Rule::UnitNotAllowed,
            format!("{t} family with a unit"),
        ));
    }
    Ok(())
}

fn metric_type(c: &Cursor<'_>, value: &str, at: usize) -> Result<MetricType, ParseError> {
    if let Some(t) = MetricType::from_openmetrics(value) {
        return Ok(t);
    }
    let trimmed = value.trim_matches(' ');
    if trimmed != value && MetricType::from_openmetrics(trimmed).is_some() {
        return Err(c.error_at(at, Rule::Separator, format!("spaces around {trimmed:?}")));
    }
    let detail = if value == "untyped" {
        "`untyped` is text 0.0.4's word; OpenMetrics says `unknown`".to_owned()
    } else {
        format!("found {value:?}")
    };
    Err(c.error_at(at, Rule::MetricType, detail))
}

/// HELP text: an `escaped-string`, unescaped. `\` before a character other than
/// `n`, `"` or `\` stands for itself, as the ABNF's `BS normal-char` says. A bare
/// `"` is taken as itself: the ABNF's `normal-char` excludes it, but the
/// OpenMetrics project's own parser test suite (`help_escaping`) has `\\"` in a
/// HELP line among the expositions that must parse.
fn unescape_help(c: &Cursor<'_>, value: &str, at: usize) -> Result<String, ParseError> {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.char_indices();
    while let Some((i, ch)) = chars.next() {
        match ch {
            '\\' => match chars.next() {
                Some((_, 'n')) => out.push('\n'),
                Some((_, '"')) => out.push('"'),
                Some((_, '\\')) => out.push('\\'),
                Some((_, other)) => {
                    out.push('\\');
                    out.push(other);
                }
                None => {
                    return Err(c.error_at(
                        at + i,
                        Rule::EscapedString,
                        "a backslash at the end of the line",
                    ))
                }
            },
            _ => out.push(ch),
        }
    }
    Ok(out)
}

/// The suffix `name` adds to `family`'s name, if its type allows that suffix.
fn suffix<'n>(family: &MetricFamily, name: &'n str) -> Option<&'n str> {
    let s = name.strip_prefix(family.name.as_str())?;
    family
        .metric_type
        .sample_suffixes()
        .contains(&s)
        .then_some(s)
}

/// Reads one sample line: `name [labels] SP value [SP timestamp] [SP # SP labels SP
/// value [SP timestamp]]`.
fn read_sample<'a>(c: &mut Cursor<'a>) -> Result<Line<'a>, ParseError> {
    let name = Cow::Borrowed(c.metric_name()?);
    let labels = if c.peek() == Some('{') {
        c.labels(Dialect::OpenMetrics)?
    } else {
        if let Some(ch) = c.peek().filter(|ch| !matches!(ch, ' ' | '\t' | '\r')) {
            return Err(c.error(
                Rule::MetricName,
                format!("{ch:?} cannot appear in a metric name"),
            ));
        }
        Vec::new()
    };
    if c.at_end() {
        return Err(c.error(Rule::Value, "the sample has no value"));
    }
    if !c.eat(' ') {
        return Err(c.unexpected(Rule::Separator, "one space before the value"));
    }
    let value_at = c.pos();
    let value = number(c, Rule::Value)?;
    let mut line = Line {
        number: c.line_number(),
        name,
        labels,
        value,
        value_at,
        timestamp: None,
        exemplar: None,
    };
    if !next_field(c)? {
        return Ok(line);
    }
    if c.peek() != Some('#') {
        line.timestamp = Some(timestamp(c)?);
        if !next_field(c)? {
            return Ok(line);
        }
        if c.peek() != Some('#') {
            return Err(c.error(
                Rule::TrailingText,
                format!("found {:?} after the timestamp", c.rest()),
            ));
        }
    }
    let exemplar_at = c.pos();
    c.bump();
    if !c.eat(' ') {
        return Err(c.unexpected(Rule::Exemplar, "one space after `#`"));
    }
    if c.peek() != Some('{') {
        return Err(c.unexpected(Rule::Exemplar, "the exemplar's label set, `{...}`"));
    }
    let labels = lex::plain(c.labels(Dialect::OpenMetrics)?);
    if c.at_end() {
        return Err(c.error(Rule::Exemplar, "the exemplar has no value"));
    }
    if !c.eat(' ') {
        return Err(c.unexpected(Rule::Exemplar, "one space after the exemplar's labels"));
    }
    let mut exemplar = Exemplar {
        labels,
        value: number(c, Rule::Value)?,
        timestamp: None,
    };
    if next_field(c)? {
        exemplar.timestamp = Some(timestamp(c)?.0);
        if !c.at_end() {
            return Err(c.error(
                Rule::TrailingText,
                format!("found {:?} after the exemplar", c.rest()),
            ));
        }
    }
    line.exemplar = Some((Cow::Owned(exemplar), exemplar_at));
    Ok(line)
}

/// After a field: `false` at the end of the line, `true` past the one space before
/// another field.
fn next_field(c: &mut Cursor<'_>) -> Result<bool, ParseError> {
    if c.at_end() {
        return Ok(false);
    }
    if !c.eat(' ') {
        return Err(c.unexpected(Rule::Separator, "one space"));
    }
    if c.at_end() || c.peek() == Some(' ') {
        return Err(c.error(Rule::Separator, "a second space, or a space at the end"));
    }
    Ok(true)
}

/// The token up to the next space.
fn token<'a>(c: &mut Cursor<'a>) -> Result<(&'a str, usize), ParseError> {
    let at = c.pos();
    let tok = c.take_while(|ch| ch != ' ');
    if tok.is_empty() {
        return Err(c.error(Rule::Separator, "a second space, or a space at the end"));
    }
    Ok((tok, at))
}

fn number(c: &mut Cursor<'_>, rule: Rule) -> Result<f64, ParseError> {
    let (tok, at) = token(c)?;
    lex::parse_number(tok).map_err(|e| lex::number_error(c, tok, at, e, rule))
}

fn timestamp(c: &mut Cursor<'_>) -> Result<(f64, Exact, usize), ParseError> {
    let (tok, at) = token(c)?;
    let seconds =
        lex::parse_real(tok).map_err(|e| lex::number_error(c, tok, at, e, Rule::Timestamp))?;
    let exact = Exact::of(tok)
        .ok_or_else(|| lex::number_error(c, tok, at, BadNumber::Syntax, Rule::Timestamp))?;
    Ok((seconds, exact, at))
}

impl<'a> Family<'a> {
    fn add(&mut self, c: &Cursor<'_>, line: &Line<'a>) -> Result<(), ParseError> {
        let t = self.family.metric_type;
        let name = self.family.name.as_str();
        let sfx = line.name.get(name.len()..).unwrap_or("");
        let label = |n: &str| line.labels.iter().find(|l| l.name == n);
        let bucket =
            matches!(t, MetricType::Histogram | MetricType::GaugeHistogram) && sfx == "_bucket";
        let quantile = t == MetricType::Summary && sfx.is_empty();
        // The labels the type gives a meaning to.
        let mut le = None;
        if bucket {
            let Some(l) = label("le") else {
                return Err(c.error_at(0, Rule::BucketLabel, "the bucket has no `le` label"));
            };
            let v = match lex::parse_number(&l.value) {
                Ok(v) if !v.is_nan() => v,
                _ => {
                    return Err(c.error_at(
                        l.at,
                        Rule::BucketLabel,
                        format!("le={:?} is not a number", l.value),
                    ))
                }
            };
            if v == f64::INFINITY && l.value != "+Inf" {
                return Err(c.error_at(
                    l.at,
                    Rule::BucketLabel,
                    format!("le={:?} must be written \"+Inf\"", l.value),
                ));
            }
            le = Some(v);
        } else if let Some(l) =
            label("le").filter(|_| matches!(t, MetricType::Histogram | MetricType::GaugeHistogram))
        {
            return Err(c.error_at(l.at, Rule::TypeLabel, format!("`le` on `{}`", line.name)));
        }
        if quantile {
            let Some(l) = label("quantile") else {
                return Err(c.error_at(
                    0,
                    Rule::QuantileLabel,
                    "the quantile has no `quantile` label",
                ));
            };
            if !lex::parse_number(&l.value).is_ok_and(|q| (0.0..=1.0).contains(&q)) {
                return Err(c.error_at(
                    l.at,
                    Rule::QuantileLabel,
                    format!("quantile={:?}", l.value),
                ));
            }
        } else if let Some(l) = label("quantile").filter(|_| t == MetricType::Summary) {
            return Err(c.error_at(
                l.at,
                Rule::TypeLabel,
                format!("`quantile` on `{}`", line.name),
            ));
        }
        if t == MetricType::StateSet && label(name).is_none() {
            return Err(c.error_at(
                0,
                Rule::StateSetLabel,
                format!("no label `{name}` naming the state"),
            ));
        }
        check_value(c, t, sfx, line)?;
        if let Some((exemplar, at)) = &line.exemplar {
            let allowed = (t == MetricType::Counter && sfx == "_total") || bucket;
            if !allowed {
                return Err(c.error_at(
                    *at,
                    Rule::ExemplarNotAllowed,
                    format!("an exemplar on `{}` in {t} family `{name}`", line.name),
                ));
            }
            let chars = exemplar.label_chars();
            if chars > Exemplar::MAX_LABEL_CHARS {
                return Err(c.error_at(*at, Rule::ExemplarTooLong, format!("{chars} characters")));
            }
            if let Some(le) = le {
                if exemplar.value.is_nan() || exemplar.value > le {
                    return Err(c.error_at(
                        *at,
                        Rule::ExemplarOutOfBucket,
                        format!("exemplar value {} in the bucket le={le}", exemplar.value),
                    ));
                }
            }
        }
        // Which metric (label set) the sample belongs to: its labels but the one
        // that tells the samples of a point apart.
        let point_label = if bucket {
            Some("le")
        } else if quantile {
            Some("quantile")
        } else if t == MetricType::StateSet {
            Some(name)
        } else {
            None
        };
        if !self.interleaving {
            // Checking a family whose every sample is a point of its own, whose
            // repeats `validate` finds: no metric or point rule can apply.
            self.has_samples = true;
            return Ok(());
        }
        let mut key: Vec<(&str, &str)> = line
            .labels
            .iter()
            .map(|l| (&*l.name, &*l.value))
            .filter(|(k, _)| Some(*k) != point_label)
            .collect();
        key.sort_unstable();
        let new_metric = self.metric.as_ref().is_none_or(|m| !same_key(&m.key, &key));
        // The point label again, not borrowed from the family (a state set's
        // is the family's name).
        let point = point_label.map(|p| match p {
            "le" => "le",
            "quantile" => "quantile",
            _ => "",
        });
        self.place(c, line, &key, point)?;
        self.point_add(c, t, sfx, line, le)?;
        if new_metric && self.cutter.due(self.family.samples.len()) {
            self.cut = Some(self.cutter.cut(&mut self.family));
        }
        self.has_samples = true;
        Ok(())
    }

    /// Finds the sample's metric and point: the same metric as the sample before,
    /// or a new one that must not have been seen.
    fn place(
        &mut self,
        c: &Cursor<'_>,
        line: &Line<'a>,
        key: &[(&str, &str)],
        point_label: Option<&str>,
    ) -> Result<(), ParseError> {
        let t = self.family.metric_type;
        let ts = line.timestamp.as_ref();
        let ts_at = ts.map_or(line.value_at, |(_, _, at)| *at);
        // `Some("")`: a state set's state label, named like the family.
        let point_label = point_label.map(|p| {
            if p.is_empty() {
                self.family.name.as_str()
            } else {
                p
            }
        });
        let point_value = point_label.and_then(|p| {
            line.labels
                .iter()
                .find(|l| l.name == p)
                .map(|l| l.value.clone())
        });
        let series = (line.name.clone(), point_value);
        match &mut self.metric {
            Some(m) if same_key(&m.key, key) => {
                if m.timed != ts.is_some() {
                    return Err(c.error_at(
                        ts_at,
                        Rule::TimestampPresence,
                        if m.timed {
                            "no timestamp after samples with one"
                        } else {
                            "a timestamp after samples without one"
                        },
                    ));
                }
                if let Some((_, exact, at)) = ts {
                    if let Some(last) = &m.last {
                        if exact < last {
                            return Err(c.error_at(
                                *at,
                                Rule::TimestampOrder,
                                "earlier than the sample before",
                            ));
                        }
                        if exact != last {
                            std::mem::take(&mut m.point).check(t)?;
                            m.untimed.clear();
                        }
                    }
                    m.last = Some(exact.clone());
                }
                // A gauge's, unknown's or info's sample is a point of its own, so
                // one may come again at the same time (the OpenMetrics suite's
                // `duplicate_timestamps_1`); a counter's, histogram's, summary's
                // or state set's point holds each of its series once.
                let own_point = matches!(
                    t,
                    MetricType::Gauge | MetricType::Unknown | MetricType::Info
                );
                if (ts.is_none() || !own_point) && !m.untimed.insert(series) {
                    return Err(c.error_at(
                        0,
                        Rule::DuplicateSeries,
                        format!("`{}` with these labels again", line.name),
                    ));
                }
            }
            current => {
                if let Some(m) = current.take() {
                    m.point.check(t)?;
                    if self.interleaving {
                        self.seen.insert("", &m.key);
                    }
                }
                if self.interleaving && self.seen.contains("", key) {
                    return Err(c.error_at(
                        0,
                        Rule::MetricsInterleaved,
                        format!(
                            "the metric {key:?} of `{}` came before, then another",
                            self.family.name
                        ),
                    ));
                }
                let mut untimed = PointSeries::default();
                untimed.insert(series);
                self.metric = Some(Metric {
                    key: {
                        let mut owned: Vec<Pair<'a>> = line
                            .labels
                            .iter()
                            .filter(|l| Some(&*l.name) != point_label)
                            .map(|l| (l.name.clone(), l.value.clone()))
                            .collect();
                        owned.sort_unstable();
                        owned
                    },
                    timed: ts.is_some(),
                    last: ts.map(|(_, e, _)| e.clone()),
                    untimed,
                    point: Point::default(),
                });
            }
        }
        Ok(())
    }

    fn point_add(
        &mut self,
        c: &Cursor<'_>,
        t: MetricType,
        sfx: &str,
        line: &Line<'_>,
        le: Option<f64>,
    ) -> Result<(), ParseError> {
        let Some(m) = self.metric.as_mut() else {
            return Ok(());
        };
        let p = &mut m.point;
        p.last_line = line.number;
        let v = line.value;
        match (t, sfx, le) {
            (_, "_bucket", Some(le)) => {
                if let Some((prev_le, prev, _)) = p.bucket {
                    if le <= prev_le {
                        let at = line
                            .labels
                            .iter()
                            .find(|l| l.name == "le")
                            .map_or(0, |l| l.at);
                        return Err(c.error_at(
                            at,
                            Rule::BucketOrder,
                            format!("le={le} after le={prev_le}"),
                        ));
                    }
                    if v < prev {
                        return Err(c.error_at(
                            line.value_at,
                            Rule::BucketCounts,
                            format!("{v} after {prev}"),
                        ));
                    }
                }
                p.negative_bucket |= le < 0.0;
                p.bucket = Some((le, v, line.number));
            }
            (_, "_count" | "_gcount", _) => p.count = Some((v, line.number)),
            (MetricType::Histogram, "_sum", _) => p.sum = Some(line.number),
            (_, "_gsum", _) => p.gsum = Some((v, line.number)),
            (MetricType::Counter, "_total", _) => p.total = true,
            (MetricType::Counter, "_created", _) => p.created = Some(line.number),
            _ => {}
        }
        Ok(())
    }
}

/// The rules on a sample's value that its type and suffix set.
fn check_value(
    c: &Cursor<'_>,
    t: MetricType,
    sfx: &str,
    line: &Line<'_>,
) -> Result<(), ParseError> {
    use MetricType as T;
    let v = line.value;
    let err = |rule: Rule| {
        Err(c.error_at(
            line.value_at,
            rule,
            format!("`{}` in {t} family is {v}", line.name),
        ))
    };
    let count = matches!(
        (t, sfx),
        (T::Histogram, "_bucket" | "_count")
            | (T::GaugeHistogram, "_bucket" | "_gcount")
            | (T::Summary, "_count")
    );
    let counter_like = count
        || matches!(
            (t, sfx),
            (T::Counter, "_total") | (T::Histogram | T::Summary, "_sum")
        );
    if (counter_like || (t, sfx) == (T::GaugeHistogram, "_gsum")) && v.is_nan() {
        return err(Rule::NanValue);
    }
    if (counter_like || (t, sfx) == (T::Summary, "")) && v < 0.0 {
        return err(Rule::NegativeValue);
    }
    if count && v.fract() != 0.0 {
        return err(Rule::IntegerValue);
    }
    if sfx == "_created" && !v.is_finite() {
        return err(Rule::CreatedValue);
    }
    if t == T::StateSet && v != 0.0 && v != 1.0 {
        return err(Rule::StateSetValue);
    }
    if t == T::Info && v != 1.0 {
        return err(Rule::InfoValue);
    }
    Ok(())
}

impl Point {
    /// The rules on a whole point, checked when it ends.
    fn check(self, t: MetricType) -> Result<(), ParseError> {
        let at =
            |line: usize, rule: Rule, detail: String| Err(ParseError::new(line, 1, rule, detail));
        match t {
            MetricType::Counter => {
                if let (Some(line), false) = (self.created, self.total) {
                    return at(
                        line,
                        Rule::CounterWithoutTotal,
                        "`_created` without `_total`".into(),
                    );
                }
            }
            MetricType::Histogram | MetricType::GaugeHistogram => {
                let histogram = t == MetricType::Histogram;
                let (count, sum) = if histogram {
                    ("_count", "_sum")
                } else {
                    ("_gcount", "_gsum")
                };
                let inf = match self.bucket {
                    Some((le, v, _)) if le == f64::INFINITY => v,
                    Some((le, _, line)) => {
                        return at(
                            line,
                            Rule::MissingInfBucket,
                            format!("the last bucket is le={le}"),
                        )
                    }
                    None => return at(self.last_line, Rule::MissingInfBucket, "no buckets".into()),
                };
                let inf_line = self.bucket.map_or(0, |(_, _, l)| l);
                if let Some((c, line)) = self.count {
                    if c != inf {
                        return at(
                            line.max(inf_line),
                            Rule::CountMismatch,
                            format!("{count} {c}, +Inf bucket {inf}"),
                        );
                    }
                }
                let sum_line = if histogram {
                    self.sum
                } else {
                    self.gsum.map(|(_, l)| l)
                };
                match (self.count, sum_line) {
                    (Some((_, line)), None) => {
                        return at(
                            line,
                            Rule::SumCountPairing,
                            format!("{count} without {sum}"),
                        )
                    }
                    (None, Some(line)) => {
                        return at(
                            line,
                            Rule::SumCountPairing,
                            format!("{sum} without {count}"),
                        )
                    }
                    _ => {}
                }
                if let (true, Some(line), true) = (histogram, self.sum, self.negative_bucket) {
                    return at(
                        line,
                        Rule::NegativeBucketSum,
                        "`_sum` with a negative bucket".into(),
                    );
                }
                if let Some((g, line)) = self.gsum {
                    if g < 0.0 && !self.negative_bucket {
                        return at(
                            line,
                            Rule::NegativeGsum,
                            format!("`_gsum` {g} without a negative bucket"),
                        );
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }
}
