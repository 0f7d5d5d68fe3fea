//! HEALTHCHECK: `NONE`, or `[OPTIONS] CMD` and a command in either form.

use std::time::Duration;

use crate::ast::{Command, Healthcheck};
use crate::duration::{parse_duration, DurationError};
use crate::error::ParseErrorKind;
use crate::flags::Flags;
use crate::words::{first_word, json_array};

/// A HEALTHCHECK that Docker would refuse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HealthcheckError {
    #[error("unknown type {0:?} in HEALTHCHECK (try CMD or NONE)")]
    UnknownType(String),
    #[error("HEALTHCHECK NONE takes no arguments, got {0:?}")]
    NoneWithArguments(String),
    #[error("HEALTHCHECK NONE takes no options like --interval; they belong to HEALTHCHECK CMD")]
    NoneWithOptions,
    #[error("missing command after HEALTHCHECK CMD")]
    MissingCommand,
    #[error("HEALTHCHECK --{flag}: {source}")]
    Duration {
        flag: &'static str,
        #[source]
        source: DurationError,
    },
    #[error("HEALTHCHECK --{flag}={value} cannot be less than 1ms")]
    TooShort { flag: &'static str, value: String },
    #[error("HEALTHCHECK --retries must be a whole number of at least 1, got {0:?}")]
    Retries(String),
}

const OPTIONS: &[&str] = &["interval", "timeout", "start-period", "retries"];

/// Parses HEALTHCHECK's flag words and the arguments after them.
pub(crate) fn parse(flag_words: &[String], args: &str) -> Result<Healthcheck, ParseErrorKind> {
    let flags = Flags::parse("HEALTHCHECK", flag_words, OPTIONS)?;
    let (kind, rest) = first_word(args);
    match kind.to_ascii_uppercase().as_str() {
        "" => Err(ParseErrorKind::MissingArguments("HEALTHCHECK")),
        "NONE" => none(&flags, rest),
        "CMD" => check(&flags, rest),
        _ => Err(HealthcheckError::UnknownType(kind.to_string()).into()),
    }
}

fn none(flags: &Flags, rest: &str) -> Result<Healthcheck, ParseErrorKind> {
    if !rest.is_empty() {
        return Err(HealthcheckError::NoneWithArguments(rest.to_string()).into());
    }
    if !flags.is_empty() {
        return Err(HealthcheckError::NoneWithOptions.into());
    }
    Ok(Healthcheck::None)
}

fn check(flags: &Flags, rest: &str) -> Result<Healthcheck, ParseErrorKind> {
    Ok(Healthcheck::Check {
        test: test_command(rest)?,
        interval: interval(flags, "interval")?,
        timeout: interval(flags, "timeout")?,
        start_period: interval(flags, "start-period")?,
        retries: retries(flags)?,
    })
}

fn test_command(rest: &str) -> Result<Command, ParseErrorKind> {
    let json = json_array(rest)
        .map_err(|_| ParseErrorKind::NotStringArray { instruction: "HEALTHCHECK", args: format!("CMD {rest}") })?;
    match json {
        Some(words) if !words.is_empty() => Ok(Command::Exec(words)),
        None if !rest.is_empty() => Ok(Command::Shell(rest.to_string())),
        _ => Err(HealthcheckError::MissingCommand.into()),
    }
}

/// An interval option; unset or empty means Docker's default.
fn interval(flags: &Flags, flag: &'static str) -> Result<Option<Duration>, HealthcheckError> {
    let Some(value) = flags.non_empty(flag) else {
        return Ok(None);
    };
    let duration = parse_duration(&value).map_err(|source| HealthcheckError::Duration { flag, source })?;
    if duration < Duration::from_millis(1) {
        return Err(HealthcheckError::TooShort { flag, value });
    }
    Ok(Some(duration))
}

/// `--retries`: a positive `i32`, as moby parses it.
fn retries(flags: &Flags) -> Result<Option<u32>, HealthcheckError> {
    let Some(value) = flags.non_empty("retries") else {
        return Ok(None);
    };
    match value.parse::<i32>() {
        Ok(n) if n >= 1 => Ok(u32::try_from(n).ok()),
        _ => Err(HealthcheckError::Retries(value)),
    }
}
