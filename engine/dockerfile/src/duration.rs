//! Go-style durations (`30s`, `1m30s`, `500ms`, `1.5h`), the syntax of the HEALTHCHECK
//! options since moby parses them with Go's `time.ParseDuration`.

use std::time::Duration;

/// Text that is not a duration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("invalid duration {0:?}: expected numbers with units, like 30s, 1m30s or 500ms")]
    Invalid(String),
    #[error("missing unit in duration {0:?}: use ns, us, ms, s, m or h")]
    MissingUnit(String),
    #[error("unknown unit {unit:?} in duration {value:?}: use ns, us, ms, s, m or h")]
    UnknownUnit { unit: String, value: String },
    #[error("duration {0:?} is too long")]
    Overflow(String),
}

/// Go's limit: durations are `i64` nanoseconds there.
const MAX_NANOS: u128 = i64::MAX as u128;

/// Parses a sequence of `<number><unit>` parts; a bare `0` is allowed, as in Go.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let body = text.strip_prefix('+').unwrap_or(text);
    if body == "0" {
        return Ok(Duration::ZERO);
    }
    if body.is_empty() {
        return Err(DurationError::Invalid(text.to_string()));
    }
    let mut rest = body;
    let mut nanos: u128 = 0;
    while !rest.is_empty() {
        let (part, after) = part_nanos(text, rest)?;
        nanos = nanos.saturating_add(part);
        rest = after;
    }
    if nanos > MAX_NANOS {
        return Err(DurationError::Overflow(text.to_string()));
    }
    let secs = u64::try_from(nanos / 1_000_000_000).unwrap_or(u64::MAX);
    Ok(Duration::new(secs, (nanos % 1_000_000_000) as u32))
}

/// One `<number><unit>` part at the front of `rest`, in nanoseconds.
fn part_nanos<'a>(text: &str, rest: &'a str) -> Result<(u128, &'a str), DurationError> {
    let number_end = rest.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(rest.len());
    let (number, rest) = rest.split_at(number_end);
    let unit_end = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
    let (unit, rest) = rest.split_at(unit_end);
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if (whole.is_empty() && fraction.is_empty()) || fraction.contains('.') {
        return Err(DurationError::Invalid(text.to_string()));
    }
    let unit_nanos = unit_nanos(text, unit)?;
    let overflow = || DurationError::Overflow(text.to_string());
    let whole = digits_value(whole).ok_or_else(overflow)?;
    let nanos = whole.checked_mul(unit_nanos).ok_or_else(overflow)?;
    Ok((nanos.saturating_add(fraction_nanos(fraction, unit_nanos)), rest))
}

fn unit_nanos(text: &str, unit: &str) -> Result<u128, DurationError> {
    Ok(match unit {
        "ns" => 1,
        "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" => 60_000_000_000,
        "h" => 3_600_000_000_000,
        "" => return Err(DurationError::MissingUnit(text.to_string())),
        _ => {
            let (unit, value) = (unit.to_string(), text.to_string());
            return Err(DurationError::UnknownUnit { unit, value });
        }
    })
}

/// The value of a run of digits, `None` when it is past any duration Go can hold.
fn digits_value(digits: &str) -> Option<u128> {
    digits.bytes().try_fold(0u128, |value, digit| {
        let value = value * 10 + u128::from(digit - b'0');
        (value <= MAX_NANOS).then_some(value)
    })
}

/// The nanoseconds of a decimal fraction of `unit_nanos`; digits past nanosecond
/// precision are dropped, as Go drops them.
fn fraction_nanos(fraction: &str, unit_nanos: u128) -> u128 {
    let kept = &fraction[..fraction.len().min(18)];
    let value = digits_value(kept).unwrap_or(0);
    value * unit_nanos / 10u128.pow(kept.len() as u32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("30s", Duration::from_secs(30))]
    #[case("1m30s", Duration::from_secs(90))]
    #[case("500ms", Duration::from_millis(500))]
    #[case("1.5h", Duration::from_secs(5400))]
    #[case(".5s", Duration::from_millis(500))]
    #[case("1.s", Duration::from_secs(1))]
    #[case("2h45m", Duration::from_secs(9900))]
    #[case("10us", Duration::from_micros(10))]
    #[case("10\u{b5}s", Duration::from_micros(10))]
    #[case("7ns", Duration::from_nanos(7))]
    #[case("0", Duration::ZERO)]
    #[case("+3s", Duration::from_secs(3))]
    fn parses(#[case] text: &str, #[case] expected: Duration) {
        assert_eq!(parse_duration(text), Ok(expected));
    }

    #[rstest]
    #[case("", "invalid duration \"\": expected numbers with units, like 30s, 1m30s or 500ms")]
    #[case("30", "missing unit in duration \"30\": use ns, us, ms, s, m or h")]
    #[case("5 s", "unknown unit \" s\" in duration \"5 s\": use ns, us, ms, s, m or h")]
    #[case("3d", "unknown unit \"d\" in duration \"3d\": use ns, us, ms, s, m or h")]
    #[case("-1s", "invalid duration \"-1s\": expected numbers with units, like 30s, 1m30s or 500ms")]
    #[case("1..2s", "invalid duration \"1..2s\": expected numbers with units, like 30s, 1m30s or 500ms")]
    #[case("s", "invalid duration \"s\": expected numbers with units, like 30s, 1m30s or 500ms")]
    #[case("99999999999999999999h", "duration \"99999999999999999999h\" is too long")]
    #[case("3000000h", "duration \"3000000h\" is too long")]
    fn rejects(#[case] text: &str, #[case] message: &str) {
        assert_eq!(parse_duration(text).expect_err("fails").to_string(), message);
    }
}
