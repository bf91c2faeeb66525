//! Settings from the environment, shared by the example exporters.

use std::fmt::Display;
use std::str::FromStr;
use std::time::Duration;

/// The environment variable `name` parsed, or `default` when it is not set; a
/// value that does not parse is an error naming the variable.
pub(crate) fn env_or<T: FromStr>(name: &str, default: T) -> Result<T, String>
where
    T::Err: Display,
{
    match std::env::var(name) {
        Ok(v) => v
            .trim()
            .parse()
            .map_err(|e| format!("{name}={v:?} is not valid: {e}")),
        Err(_) => Ok(default),
    }
}

/// `seconds` as a duration, which must be positive and representable; `what` names
/// the setting in the error.
pub(crate) fn positive_seconds(what: &str, seconds: f64) -> Result<Duration, String> {
    Duration::try_from_secs_f64(seconds)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| format!("{what} must be a positive number of seconds, not {seconds}"))
}

/// The names the demos serve their HTTP metrics under: `PROMHTTP_NAMING=otel`
/// for OpenTelemetry's conventions, `promhttp` (or unset) for ours.
#[allow(dead_code, reason = "only the two HTTP demos serve an HTTP metric set")]
pub(crate) fn naming() -> Result<promhttp::Naming, String> {
    match std::env::var("PROMHTTP_NAMING").as_deref() {
        Err(_) | Ok("promhttp") => Ok(promhttp::Naming::Promhttp),
        Ok("otel") => Ok(promhttp::Naming::OpenTelemetry),
        Ok(other) => Err(format!(
            "PROMHTTP_NAMING={other:?} is not valid: `otel` or `promhttp`"
        )),
    }
}

/// The series limit per family of the demos' HTTP metric set
/// (`HttpMetricsBuilder::max_series`): `PROMHTTP_MAX_SERIES`, or
/// [`promhttp::DEFAULT_MAX_SERIES`] when it is unset. Size it from the
/// scraper's sample limit (the README's "Sizing the series cap against
/// sample_limit"); a value that is not a positive whole number is an error
/// naming the variable.
#[allow(dead_code, reason = "only the two HTTP demos serve an HTTP metric set")]
pub(crate) fn max_series() -> Result<usize, String> {
    const NAME: &str = "PROMHTTP_MAX_SERIES";
    match env_or(NAME, promhttp::DEFAULT_MAX_SERIES)? {
        0 => Err(format!(
            "{NAME}=0 is not valid: the series limit per family must be at least 1"
        )),
        n => Ok(n),
    }
}

/// An on/off switch from the environment: `1` or `true` turns it on, `0`,
/// `false` or unset leaves it off; anything else is an error naming the
/// variable.
#[allow(dead_code, reason = "only the two HTTP demos read switches")]
pub(crate) fn switch(name: &str) -> Result<bool, String> {
    match std::env::var(name).as_deref().map(str::trim) {
        Err(_) | Ok("0" | "false" | "") => Ok(false),
        Ok("1" | "true") => Ok(true),
        Ok(other) => Err(format!(
            "{name}={other:?} is not valid: `1` (or `true`) turns it on, `0` (or `false`) off"
        )),
    }
}

/// Adds request headers to a poller's fetch: each `Name: value` of `headers`
/// (repeatable `--header`), and `Authorization: Bearer <token>` with the token
/// read from `token_file` or taken from `token`, the value of an environment
/// variable, so that it never shows in `ps`. Errors name the header, never its
/// value.
#[cfg(feature = "fetch")]
#[allow(dead_code, reason = "only the fetching examples send headers")]
pub(crate) fn with_headers(
    mut fetch: promhttp::fetch::Fetch,
    headers: &[String],
    token_file: Option<&std::path::Path>,
    token: Option<&str>,
) -> Result<promhttp::fetch::Fetch, String> {
    for header in headers {
        let (name, value) = header
            .split_once(':')
            .ok_or_else(|| format!("--header {header:?} is not `Name: value`"))?;
        fetch = fetch
            .header(name.trim(), value.trim())
            .map_err(|e| e.to_string())?;
    }
    let token = match (token_file, token) {
        (Some(path), _) => Some(
            std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read the bearer token file {}: {e}", path.display()))?
                .trim()
                .to_owned(),
        ),
        (None, Some(token)) => Some(token.trim().to_owned()),
        (None, None) => None,
    };
    match token {
        Some(token) if token.is_empty() => Err("the bearer token is empty".to_owned()),
        Some(token) => fetch
            .header("authorization", &format!("Bearer {token}"))
            .map_err(|_| "the bearer token has characters a header cannot carry".to_owned()),
        None => Ok(fetch),
    }
}

/// Trusts the CA certificates of the PEM file `ca_file` for `https://`
/// upstreams, beside Mozilla's roots.
#[cfg(feature = "fetch")]
#[allow(dead_code, reason = "only the fetching examples verify upstreams")]
pub(crate) fn with_ca_file(
    fetch: promhttp::fetch::Fetch,
    ca_file: Option<&std::path::Path>,
) -> Result<promhttp::fetch::Fetch, String> {
    match ca_file {
        Some(path) => fetch.ca_file(path).map_err(|e| format!("{e:?}")),
        None => Ok(fetch),
    }
}
