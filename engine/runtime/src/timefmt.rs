//! RFC 3339 timestamps with nanoseconds in UTC, as Docker writes them in logs and state
//! (`2014-06-09T00:00:00.123456789Z`), without a calendar crate in the monitor.

use std::time::{SystemTime, UNIX_EPOCH};

/// Now, formatted.
pub fn now() -> String {
    format_time(SystemTime::now())
}

/// `t` with a fixed nine-digit fraction (Docker's `RFC3339NanoFixed`); times before 1970
/// are clamped to the epoch.
pub fn format_time(t: SystemTime) -> String {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (year, month, day) = civil_from_days((secs / 86_400) as i64);
    let rem = secs % 86_400;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:09}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        since.subsec_nanos()
    )
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar
/// (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[rstest::rstest]
    #[case(0, 0, "1970-01-01T00:00:00.000000000Z")]
    #[case(1_402_272_000, 5, "2014-06-09T00:00:00.000000005Z")]
    #[case(951_782_400, 123_456_789, "2000-02-29T00:00:00.123456789Z")]
    #[case(4_102_444_799, 999_999_999, "2099-12-31T23:59:59.999999999Z")]
    fn formats(#[case] secs: u64, #[case] nanos: u32, #[case] want: &str) {
        let t = UNIX_EPOCH + Duration::new(secs, nanos);
        assert_eq!(format_time(t), want);
    }
}
