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
