//! Strict parsers for the two exposition formats, into [`MetricFamily`] values.
//!
//! - [`parse_openmetrics`] reads OpenMetrics 1.0 text exactly as its specification
//!   has it: the ABNF (single spaces, no blank lines, `# EOF` last, the escapes,
//!   the number forms) and the rules of the data model (sample names per type,
//!   metadata before samples and once, no interleaved families or metrics, no
//!   repeated series, counter, histogram, summary, state-set and info values,
//!   exemplars and their 128 characters, ...). The rules are listed on [`Rule`].
//! - [`parse_text`] reads Prometheus text format 0.0.4, whose grammar is more
//!   lenient (blank lines, comments, runs of blanks) and which has fewer types.
//! - [`parse`] picks one of the two from a `Content-Type` header.
//!
//! A refusal is a [`ParseError`] naming the line, the column and the [`Rule`]
//! broken. No input makes these functions panic.
//!
//! ```
//! # mod promhttp { pub use promhttp_core::*; }
//! use promhttp::family::MetricType;
//! use promhttp::parse::{parse_openmetrics, Rule};
//!
//! let families = parse_openmetrics(concat!(
//!     "# TYPE jobs counter\n",
//!     "jobs_total{queue=\"a\"} 3 # {trace_id=\"7f\"} 1 1700000000.5\n",
//!     "jobs_created{queue=\"a\"} 1700000000\n",
//!     "# EOF\n",
//! ))?;
//! assert_eq!(families[0].name, "jobs");
//! assert_eq!(families[0].metric_type, MetricType::Counter);
//! assert_eq!(families[0].samples[0].label("queue"), Some("a"));
//! let exemplar = families[0].samples[0].exemplar.as_ref().unwrap();
//! assert_eq!(exemplar.timestamp, Some(1_700_000_000.5));
//!
//! let err = parse_openmetrics("# TYPE jobs counter\njobs 3\n# EOF\n").unwrap_err();
//! assert_eq!((err.line(), err.column(), err.rule()), (2, 1, Rule::SampleName));
//! # Ok::<(), promhttp::parse::ParseError>(())
//! ```

mod lex;
mod openmetrics;
mod text;

pub(crate) mod validate;

#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::fmt;

use crate::family::MetricFamily;

/// Parses OpenMetrics 1.0 text.
///
/// The families come in the order they are written, each with its samples in
/// order. A family with no `# TYPE` is [`MetricType::Unknown`]; an empty `HELP`
/// is an empty [`MetricFamily::help`] and an empty `UNIT` is no unit, as the
/// specification says. Timestamps are seconds since the Unix epoch.
///
/// ```
/// # mod promhttp { pub use promhttp_core::*; }
/// use promhttp::parse::{parse_openmetrics, Rule};
///
/// let err = parse_openmetrics("up 1\n").unwrap_err();
/// assert_eq!(err.rule(), Rule::MissingEof);
/// assert_eq!(err.to_string(), "line 2, column 1: an OpenMetrics exposition must end with a `# EOF` line");
/// ```
///
/// [`MetricType::Unknown`]: crate::family::MetricType::Unknown
///
/// # Errors
/// The first rule the text breaks, with its line and column.
pub fn parse_openmetrics(text: &str) -> Result<Vec<MetricFamily>, ParseError> {
    openmetrics_families(text).collect()
}

/// Parses Prometheus text format 0.0.4.
///
/// What differs from [`parse_openmetrics`], besides the grammar:
///
/// - Timestamps are integer milliseconds in this format; the families hold them as
///   seconds (`1700000000123` becomes `1700000000.123`).
/// - `untyped` families are [`MetricType::Unknown`].
/// - A counter family is named without `_total` and its samples with it, whether
///   the exposition names them `jobs_total` or `jobs` (as the Python
///   `prometheus_client` parser does): `# TYPE jobs_total counter` and
///   `# TYPE jobs counter` with samples `jobs_total` and `jobs` respectively both
///   give a family `jobs` with samples `jobs_total`. The second is marked
///   [`counter_without_total`](crate::family::MetricFamily::counter_without_total),
///   so that the encoder writes it back as `jobs` in text and protobuf.
/// - `HELP` text escapes only `\\` and `\n`; label values `\\`, `\"` and `\n`. Other
///   escapes are errors, as in Prometheus' own parser.
/// - Blank lines, comments and runs of spaces and tabs are allowed; the last line
///   must end with a line feed.
/// - Checked: names, label syntax, repeated labels, numbers, one `HELP` and one
///   `TYPE` per family with `TYPE` before the samples, a family's lines together,
///   no repeated series, and the `le` and `quantile` labels of histograms and
///   summaries. The format sets no rules on the values themselves.
///
/// ```
/// # mod promhttp { pub use promhttp_core::*; }
/// use promhttp::parse::parse_text;
///
/// let families = parse_text("# TYPE jobs_total counter\njobs_total{q=\"a\"} 3 1700000000123\n")?;
/// assert_eq!(families[0].name, "jobs");
/// assert_eq!(families[0].samples[0].name, "jobs_total");
/// assert_eq!(families[0].samples[0].timestamp, Some(1_700_000_000.123));
/// # Ok::<(), promhttp::parse::ParseError>(())
/// ```
///
/// [`MetricType::Unknown`]: crate::family::MetricType::Unknown
///
/// # Errors
/// The first rule the text breaks, with its line and column.
pub fn parse_text(text: &str) -> Result<Vec<MetricFamily>, ParseError> {
    text_families(text).collect()
}

/// Parses an exposition in the format its `Content-Type` header names:
/// `application/openmetrics-text` (versions 1.0.0 and 0.0.1, or none) is
/// OpenMetrics, `text/plain` (version 0.0.4 or none) or no header at all is text
/// 0.0.4. Parameters other than `version` (`charset`, ...) are ignored.
///
/// ```
/// # mod promhttp { pub use promhttp_core::*; }
/// use promhttp::parse::{parse, Rule};
///
/// let om = "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// assert_eq!(parse(Some(om), "up 1\n# EOF\n")?.len(), 1);
/// assert_eq!(parse(None, "up 1\n")?.len(), 1);
/// assert_eq!(parse(Some("text/plain; version=0.0.4"), "up 1\n")?.len(), 1);
/// assert_eq!(parse(Some(om), "up 1\n").unwrap_err().rule(), Rule::MissingEof);
/// assert_eq!(parse(Some("application/json"), "{}").unwrap_err().rule(), Rule::ContentType);
/// # Ok::<(), promhttp::parse::ParseError>(())
/// ```
///
/// # Errors
/// [`Rule::ContentType`] (at line 0, column 0: not in the body) for a media type or
/// version that is neither format, otherwise as [`parse_openmetrics`] and
/// [`parse_text`].
pub fn parse(content_type: Option<&str>, body: &str) -> Result<Vec<MetricFamily>, ParseError> {
    families(content_type, body).collect()
}

/// The families of an OpenMetrics text one at a time, as [`parse_openmetrics`]
/// reads them: each is given once its last line is read and checked, so that
/// memory holds one family (and the names of the families before it) rather
/// than the whole exposition. The checks are the same; after an `Err`, the
/// iterator ends. A caller that must not act on part of an invalid exposition
/// keeps what it does with the families undone until the iterator has ended
/// without an error.
///
/// ```
/// # mod promhttp { pub use promhttp_core::*; }
/// use promhttp::parse::{openmetrics_families, Rule};
///
/// let mut families = openmetrics_families("a 1\nb 2\n# EOF\n");
/// assert_eq!(families.next().unwrap()?.name, "a");
/// assert_eq!(families.next().unwrap()?.name, "b");
/// assert!(families.next().is_none());
///
/// // Errors come where they are found: `a` is given before the repeat is seen
/// // (`b` ends on the line that breaks the rule, and is never given).
/// let mut families = openmetrics_families("a 1\nb 2\na 3\n# EOF\n");
/// assert_eq!(families.next().unwrap()?.name, "a");
/// assert_eq!(families.next().unwrap().unwrap_err().rule(), Rule::FamilyRepeated);
/// assert!(families.next().is_none());
/// # Ok::<(), promhttp::parse::ParseError>(())
/// ```
#[must_use]
pub fn openmetrics_families(text: &str) -> Families<'_> {
    Families(Stream::OpenMetrics(Box::new(Drive::new(
        openmetrics::Stream::new(text),
    ))))
}

/// The families of a text 0.0.4 exposition one at a time, as [`parse_text`]
/// reads them; see [`openmetrics_families`].
#[must_use]
pub fn text_families(text: &str) -> Families<'_> {
    Families(Stream::Text(Box::new(Drive::new(text::Stream::new(text)))))
}

/// The families of an exposition one at a time, in the format its
/// `Content-Type` names (as [`parse`] chooses); see [`openmetrics_families`].
/// A type that is neither format gives one [`Rule::ContentType`] error.
#[must_use]
pub fn families<'a>(content_type: Option<&str>, body: &'a str) -> Families<'a> {
    let Some(content_type) = content_type else {
        return text_families(body);
    };
    let mut parts = content_type.split(';');
    let media = parts.next().unwrap_or("").trim();
    let version = parts
        .filter_map(|p| p.split_once('='))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("version"))
        .map(|(_, v)| v.trim().trim_matches('"'));
    let refuse = || {
        Families(Stream::Refused(Some(ParseError::new(
            0,
            0,
            Rule::ContentType,
            format!("`{content_type}`"),
        ))))
    };
    if media.eq_ignore_ascii_case("application/openmetrics-text") {
        match version {
            None | Some("1.0.0" | "0.0.1") => openmetrics_families(body),
            Some(_) => refuse(),
        }
    } else if media.eq_ignore_ascii_case("text/plain") {
        match version {
            None | Some("0.0.4") => text_families(body),
            Some(_) => refuse(),
        }
    } else {
        refuse()
    }
}

/// An exposition's families, one at a time: see [`openmetrics_families`].
pub struct Families<'a>(Stream<'a>);

enum Stream<'a> {
    OpenMetrics(Box<Drive<openmetrics::Stream<'a>>>),
    Text(Box<Drive<text::Stream<'a>>>),
    Refused(Option<ParseError>),
}

impl<'a> Families<'a> {
    /// The same families, a family of more than `max_samples` samples given in
    /// [`Piece`]s of about that many: a piece is cut where a metric (a label
    /// set: a histogram's or summary's samples of one series, a counter's total
    /// and created time) ends, once it holds `max_samples` or more, so a piece
    /// always holds whole metrics. Memory then holds one piece at a time, plus
    /// a 128-bit fingerprint per series of the family being read (what the
    /// checks across pieces need: repeated series, interleaved metrics).
    ///
    /// ```
    /// # mod promhttp { pub use promhttp_core::*; }
    /// use promhttp::parse::text_families;
    ///
    /// let text = "# TYPE m gauge\nm{i=\"1\"} 1\nm{i=\"2\"} 2\nm{i=\"3\"} 3\nup 1\n";
    /// let pieces: Vec<_> = text_families(text).in_pieces(2).collect::<Result<_, _>>()?;
    /// let shape: Vec<_> = pieces
    ///     .iter()
    ///     .map(|p| (p.family.name.as_str(), p.family.samples.len(), p.first, p.last))
    ///     .collect();
    /// assert_eq!(shape, [("m", 2, true, false), ("m", 1, false, true), ("up", 1, true, true)]);
    /// # Ok::<(), promhttp::parse::ParseError>(())
    /// ```
    #[must_use]
    pub fn in_pieces(mut self, max_samples: usize) -> Pieces<'a> {
        let max = max_samples.max(1);
        match &mut self.0 {
            Stream::OpenMetrics(s) => s.reader.set_max_samples(max),
            Stream::Text(s) => s.reader.set_max_samples(max),
            Stream::Refused(_) => {}
        }
        Pieces(self.0)
    }

    fn next_piece(&mut self) -> Option<Result<Piece, ParseError>> {
        match &mut self.0 {
            Stream::OpenMetrics(s) => s.next(),
            Stream::Text(s) => s.next(),
            Stream::Refused(e) => e.take().map(Err),
        }
    }
}

impl Iterator for Families<'_> {
    type Item = Result<MetricFamily, ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        // Never cut: each piece is a whole family.
        self.next_piece().map(|p| p.map(|p| p.family))
    }
}

impl std::iter::FusedIterator for Families<'_> {}

/// A family or a part of one, as [`Families::in_pieces`] gives them.
#[derive(Debug, Clone, PartialEq)]
pub struct Piece {
    /// The family's name, type, help and unit, with this piece's samples.
    pub family: MetricFamily,
    /// Whether this piece starts its family (a whole family is first and last).
    pub first: bool,
    /// Whether this piece ends its family.
    pub last: bool,
}

/// An exposition's families in [`Piece`]s: see [`Families::in_pieces`]. After an
/// error, nothing more; pieces of a family already given stay given, so a
/// consumer that must not act on part of an invalid exposition keeps what it
/// makes of them until the end.
pub struct Pieces<'a>(Stream<'a>);

impl Iterator for Pieces<'_> {
    type Item = Result<Piece, ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        match &mut self.0 {
            Stream::OpenMetrics(s) => s.next(),
            Stream::Text(s) => s.next(),
            Stream::Refused(e) => e.take().map(Err),
        }
    }
}

impl std::iter::FusedIterator for Pieces<'_> {}

impl fmt::Debug for Pieces<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.0 {
            Stream::OpenMetrics(_) => "Pieces(OpenMetrics)",
            Stream::Text(_) => "Pieces(Text)",
            Stream::Refused(_) => "Pieces(Refused)",
        })
    }
}

/// A dialect's reader, driven one line at a time by [`Drive`].
trait Reader {
    /// Reads one line; `Ok(false)` at the end of the text.
    fn step(&mut self) -> Result<bool, ParseError>;
    /// The pieces finished and not yet given out.
    fn ready(&mut self) -> &mut VecDeque<Piece>;
    /// Cuts families of more than `max` samples into pieces.
    fn set_max_samples(&mut self, max: usize);
}

/// Gives a reader's pieces as they finish, then its error if any, then
/// nothing.
struct Drive<R> {
    reader: R,
    done: bool,
}

impl<R: Reader> Drive<R> {
    fn new(reader: R) -> Self {
        Self {
            reader,
            done: false,
        }
    }
}

impl<R: Reader> Iterator for Drive<R> {
    type Item = Result<Piece, ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            if let Some(piece) = self.reader.ready().pop_front() {
                return Some(Ok(piece));
            }
            match self.reader.step() {
                Ok(true) => {}
                Ok(false) => self.done = true,
                Err(e) => {
                    self.done = true;
                    self.reader.ready().clear();
                    return Some(Err(e));
                }
            }
        }
        self.reader.ready().pop_front().map(Ok)
    }
}

/// A family being read, as far as cutting it into pieces goes: the samples
/// not yet given and how many pieces were.
#[derive(Debug, Default)]
struct Cutter {
    /// Pieces given so far.
    given: usize,
    /// Cut at a metric's start once the family holds this many samples.
    max: Option<usize>,
}

impl Cutter {
    /// Whether to cut before a sample that starts a new metric, with `held`
    /// samples held.
    fn due(&self, held: usize) -> bool {
        self.max.is_some_and(|max| held >= max)
    }

    /// A piece of `family` with the samples held (taken out of it).
    fn cut(&mut self, family: &mut MetricFamily) -> Piece {
        let mut piece = MetricFamily::new(&family.name, family.metric_type, &family.help);
        piece.unit.clone_from(&family.unit);
        piece.counter_without_total = family.counter_without_total;
        piece.samples = std::mem::take(&mut family.samples);
        let first = self.given == 0;
        self.given += 1;
        Piece {
            family: piece,
            first,
            last: false,
        }
    }

    /// The family's last piece (the whole family, if none was cut).
    fn last(&self, family: MetricFamily) -> Piece {
        Piece {
            family,
            first: self.given == 0,
            last: true,
        }
    }
}

/// Label sets seen, held as 128-bit fingerprints (two independently keyed
/// hashes, keys drawn per parser) rather than as the names and values: a
/// million series cost 16 MB, not the 200 MB of their copies. Two different
/// label sets share a fingerprint with a probability of about 2^-128 a pair,
/// which would make a valid exposition refused as repeating a series.
#[derive(Default)]
struct Seen {
    keys: (std::hash::RandomState, std::hash::RandomState),
    set: std::collections::HashSet<u128>,
}

impl Seen {
    fn fingerprint<L: std::hash::Hash>(&self, name: &str, labels: &[L]) -> u128 {
        use std::hash::BuildHasher;
        let a = self.keys.0.hash_one((name, labels));
        let b = self.keys.1.hash_one((name, labels));
        (u128::from(a) << 64) | u128::from(b)
    }

    /// Adds `name` with `labels`; `false` if it was there.
    fn insert<L: std::hash::Hash>(&mut self, name: &str, labels: &[L]) -> bool {
        let fp = self.fingerprint(name, labels);
        self.set.insert(fp)
    }

    fn contains<L: std::hash::Hash>(&self, name: &str, labels: &[L]) -> bool {
        self.set.contains(&self.fingerprint(name, labels))
    }

    /// A 64-bit hash of `labels` without the one named `skip`.
    fn hash_without(&self, labels: &[(&str, &str)], skip: &str) -> u64 {
        use std::hash::{BuildHasher, Hash, Hasher};
        let mut h = self.keys.0.build_hasher();
        for (k, v) in labels.iter().filter(|(k, _)| *k != skip) {
            k.hash(&mut h);
            v.hash(&mut h);
        }
        h.finish()
    }
}

impl fmt::Debug for Families<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.0 {
            Stream::OpenMetrics(_) => "Families(OpenMetrics)",
            Stream::Text(_) => "Families(Text)",
            Stream::Refused(_) => "Families(Refused)",
        })
    }
}

/// The lines of a text, as `\n` separates them, numbered from 1, each with
/// whether it is the last; a byte order mark, which neither format allows, is
/// an error before the first.
struct Lines<'a> {
    split: std::iter::Peekable<std::str::Split<'a, char>>,
    number: usize,
    bom: bool,
}

impl<'a> Lines<'a> {
    fn new(text: &'a str) -> Self {
        Self {
            split: text.split('\n').peekable(),
            number: 0,
            bom: text.starts_with('\u{feff}'),
        }
    }

    /// The next line: its number, its text and whether it is the last.
    fn next_line(&mut self) -> Result<Option<(usize, &'a str, bool)>, ParseError> {
        if self.bom {
            self.bom = false;
            return Err(ParseError::new(1, 1, Rule::ByteOrderMark, String::new()));
        }
        let Some(line) = self.split.next() else {
            return Ok(None);
        };
        self.number += 1;
        Ok(Some((self.number, line, self.split.peek().is_none())))
    }
}

/// An exposition that breaks a rule of its format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    line: usize,
    column: usize,
    rule: Rule,
    detail: String,
}

impl ParseError {
    fn new(line: usize, column: usize, rule: Rule, detail: String) -> Self {
        Self {
            line,
            column,
            rule,
            detail,
        }
    }

    /// The line the error is on, from 1 (0 for [`Rule::ContentType`]).
    ///
    /// Lines are what `\n` separates, so the end of an exposition that ends in a
    /// line feed is on the line after the last one, at column 1.
    #[must_use]
    pub fn line(&self) -> usize {
        self.line
    }

    /// The column, from 1, in characters (Unicode scalar values) of the line.
    #[must_use]
    pub fn column(&self) -> usize {
        self.column
    }

    /// The rule broken.
    #[must_use]
    pub fn rule(&self) -> Rule {
        self.rule
    }

    /// What was found, in words (may be empty).
    #[must_use]
    pub fn detail(&self) -> &str {
        &self.detail
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "line {}, column {}: {}",
            self.line,
            self.column,
            self.rule.description()
        )?;
        if !self.detail.is_empty() {
            write!(f, " ({})", self.detail)?;
        }
        Ok(())
    }
}

impl std::error::Error for ParseError {}

macro_rules! rules {
    ($($(#[$doc:meta])* $rule:ident => $text:literal,)*) => {
        /// A rule of an exposition format, as [`ParseError::rule`] names it.
        ///
        /// Unless said otherwise a rule is OpenMetrics 1.0's; those that apply to text
        /// 0.0.4 as well say so.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum Rule {
            $($(#[$doc])* $rule,)*
        }

        impl Rule {
            /// The rule in words.
            #[must_use]
            pub const fn description(self) -> &'static str {
                match self {
                    $(Self::$rule => $text,)*
                }
            }
        }
    };
}

rules! {
    /// The text starts with a byte order mark (both formats).
    ByteOrderMark => "an exposition must not start with a byte order mark",
    /// No `# EOF` line at the end.
    MissingEof => "an OpenMetrics exposition must end with a `# EOF` line",
    /// Something other than one line feed after `# EOF`.
    TextAfterEof => "nothing but one line feed may follow `# EOF`",
    /// A line that starts like `# EOF` but is not exactly that.
    EofLine => "`# EOF` must be written exactly so, alone on its line",
    /// An empty line.
    BlankLine => "an OpenMetrics exposition has no blank lines",
    /// A carriage return where a line should end or a token continue (both formats).
    CarriageReturn => "lines end in a line feed alone, without a carriage return",
    /// Text 0.0.4: the last line has no line feed.
    MissingFinalNewline => "the last line must end with a line feed",
    /// A `#` line that is neither metadata nor `# EOF`.
    Comment => "the only lines starting with `#` are `# HELP`, `# TYPE`, `# UNIT` and `# EOF`",
    /// A metadata line not of the form `# KIND name value` (both formats).
    Metadata => "a metadata line is `# HELP|TYPE|UNIT <metric name> <value>`, single spaces",
    /// An unknown type after `# TYPE` (both formats, each with its own types).
    MetricType => "the type must be counter, gauge, histogram, gaugehistogram, stateset, info, summary or unknown (text 0.0.4: counter, gauge, histogram, summary or untyped)",
    /// A unit that is not the end of the family name.
    Unit => "a unit must be the family name's last part, after an underscore",
    /// A unit on an info or state set family.
    UnitNotAllowed => "info and stateset families have no unit",
    /// HELP text ending in a lone `\`.
    EscapedString => "in HELP text a backslash must escape a character; a lone one cannot end the line",
    /// Text 0.0.4: an escape sequence the format does not have.
    Escape => "text 0.0.4 escapes only `\\\\`, `\\n` and, in label values, `\\\"`",
    /// A second HELP, TYPE or UNIT line for a family (both formats).
    DuplicateMetadata => "a family has at most one HELP, one TYPE and one UNIT line",
    /// Metadata after the family's first sample (both formats; in text 0.0.4 for TYPE).
    MetadataAfterSamples => "a family's metadata must come before its samples",
    /// A family name used before: families interleaved or repeated (both formats).
    FamilyRepeated => "a family's lines must be together and family names unique",
    /// A family whose name, or a sample name its type can write, is another family's.
    NameClash => "a family's name and the sample names its type can write must not clash with another family's",
    /// A sample named exactly like its family when the family's type needs a suffix.
    SampleName => "a sample name is the family name plus a suffix of the family's type",
    /// An invalid metric name (both formats).
    MetricName => "a metric name matches [a-zA-Z_:][a-zA-Z0-9_:]*",
    /// An invalid label name (both formats).
    LabelName => "a label name matches [a-zA-Z_][a-zA-Z0-9_]*",
    /// A label name starting with `__` (both formats).
    ReservedLabelName => "label names starting with `__` are reserved",
    /// A label name twice in one label set (both formats).
    DuplicateLabel => "label names are unique within a label set",
    /// A malformed label set (both formats).
    LabelSet => "a label set is `{name=\"value\",...}`, without spaces or a trailing comma in OpenMetrics",
    /// A label value with no closing quote (both formats).
    UnterminatedString => "a label value must end with an unescaped double quote",
    /// Not exactly one space between tokens, or a space at the end of the line.
    Separator => "the parts of a line are separated by exactly one space",
    /// A sample value that is not a number (both formats).
    Value => "a value is a decimal number, `+Inf`, `-Inf` or `NaN`",
    /// A number beyond the range of a 64-bit float (both formats).
    NumberRange => "numbers must fit in a 64-bit float",
    /// An invalid timestamp (both formats).
    Timestamp => "a timestamp is a finite decimal number of seconds (text 0.0.4: integer milliseconds)",
    /// Text after the value, timestamp or exemplar (both formats).
    TrailingText => "a sample line ends after its value, timestamp and exemplar",
    /// A malformed exemplar.
    Exemplar => "an exemplar is ` # {labels} value [timestamp]`",
    /// An exemplar on a sample that cannot have one.
    ExemplarNotAllowed => "only counter `_total` and histogram or gaugehistogram `_bucket` samples have exemplars",
    /// Exemplar labels over 128 characters.
    ExemplarTooLong => "an exemplar's label names and values have at most 128 characters together",
    /// A bucket exemplar whose value the bucket does not cover.
    ExemplarOutOfBucket => "a bucket's exemplar value must be a number no greater than the bucket's `le`",
    /// A metric (label set) that comes back after another one of its family.
    MetricsInterleaved => "a family's metrics must not be interleaved",
    /// A series written twice (both formats).
    DuplicateSeries => "a series is written once, or again only with a timestamp",
    /// Samples of one metric with and without timestamps.
    TimestampPresence => "the samples of a metric have timestamps all or none",
    /// A metric's timestamps going backwards.
    TimestampOrder => "a metric's timestamps must not decrease",
    /// NaN where a count or sum is written.
    NanValue => "`_total`, `_count`, `_sum`, `_bucket`, `_gcount` and `_gsum` values are not NaN",
    /// A negative count, sum or quantile value.
    NegativeValue => "`_total`, `_count`, `_bucket`, `_gcount`, histogram and summary `_sum` and quantile values are not negative",
    /// A bucket or count value with a fraction.
    IntegerValue => "bucket, `_count` and `_gcount` values are integers",
    /// A `_created` value that is not a finite timestamp.
    CreatedValue => "a `_created` value is a finite timestamp",
    /// A counter point without its `_total` sample.
    CounterWithoutTotal => "a counter's point has a `_total` sample",
    /// A bucket without a valid `le` label (both formats).
    BucketLabel => "a `_bucket` sample has an `le` label that is a number other than NaN, with +Inf written `+Inf`",
    /// `le` or `quantile` where it does not belong.
    TypeLabel => "`le` is a label of histogram buckets only and `quantile` of summary quantiles only",
    /// Buckets out of `le` order.
    BucketOrder => "buckets come in increasing `le` order, each `le` once",
    /// A bucket count below the one before.
    BucketCounts => "bucket counts are cumulative and never decrease",
    /// A histogram point without a `+Inf` bucket.
    MissingInfBucket => "a histogram point has buckets, the last with `le=\"+Inf\"`",
    /// `_count` or `_gcount` not equal to the `+Inf` bucket.
    CountMismatch => "`_count` and `_gcount` equal the `+Inf` bucket",
    /// `_sum` without `_count` or the other way round (and `_gsum`, `_gcount`).
    SumCountPairing => "`_sum` and `_count` (`_gsum` and `_gcount`) come together or not at all",
    /// A histogram with negative buckets and a `_sum`.
    NegativeBucketSum => "a histogram point with a negative bucket has no `_sum`",
    /// A gauge histogram with a negative `_gsum` and no negative bucket.
    NegativeGsum => "a gauge histogram's `_gsum` is negative only when it has a negative bucket",
    /// A summary quantile without a valid `quantile` label (both formats).
    QuantileLabel => "a summary quantile has a `quantile` label from 0 to 1",
    /// A state set sample without the label named like its family.
    StateSetLabel => "a stateset sample has a label named like its family",
    /// A state set value other than 0 or 1.
    StateSetValue => "stateset values are 0 or 1",
    /// An info value other than 1.
    InfoValue => "info values are 1",
    /// [`parse`]: a `Content-Type` that is neither format.
    ContentType => "the content type must be application/openmetrics-text (1.0.0 or 0.0.1) or text/plain (0.0.4)",
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.description())
    }
}
