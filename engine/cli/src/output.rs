//! How the CLI prints: aligned tables (Go's tabwriter as the 2014 CLI used it), sizes and ages
//! in the 2014 wording ("131.5 MB", "19 hours ago"), short ids, and the JSON message streams
//! of loads, imports and pulls.

use crate::CliError;
use berth_api::progress::Message;
use std::io::Write;

/// Rows padded into columns: each cell at least 20 wide, 3 spaces after the widest cell,
/// the last column unpadded.
#[derive(Default)]
pub struct Table {
    rows: Vec<Vec<String>>,
}

const MIN_WIDTH: usize = 20;
const PADDING: usize = 3;

impl Table {
    pub fn row<I: IntoIterator<Item = S>, S: Into<String>>(&mut self, cells: I) {
        self.rows.push(cells.into_iter().map(Into::into).collect());
    }

    pub fn render(&self) -> String {
        let columns = self.rows.iter().map(Vec::len).max().unwrap_or(0);
        let widths: Vec<usize> = (0..columns)
            .map(|c| {
                let widest = self.rows.iter().filter_map(|r| r.get(c)).map(|s| s.chars().count()).max().unwrap_or(0);
                (widest + PADDING).max(MIN_WIDTH)
            })
            .collect();
        let mut out = String::new();
        for row in &self.rows {
            for (c, cell) in row.iter().enumerate() {
                if c + 1 == row.len() {
                    out.push_str(cell);
                } else {
                    out.push_str(&format!("{cell:<width$}", width = widths[c]));
                }
            }
            out.push('\n');
        }
        out
    }
}

/// A size as the 2014 CLI printed it: four significant digits, decimal units.
pub fn human_size(bytes: i64) -> String {
    const UNITS: [&str; 9] = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
    let mut size = bytes.max(0) as f64;
    let mut unit = 0;
    while size >= 1000.0 && unit + 1 < UNITS.len() {
        size /= 1000.0;
        unit += 1;
    }
    format!("{} {}", significant(size, 4), UNITS[unit])
}

/// `%.4g` without exponents: at most `digits` significant digits, trailing zeros dropped.
fn significant(value: f64, digits: i32) -> String {
    if value == 0.0 {
        return "0".into();
    }
    let magnitude = value.abs().log10().floor() as i32;
    let decimals = (digits - 1 - magnitude).max(0) as usize;
    let text = format!("{value:.decimals$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    }
}

/// How long ago, in the 2014 wording.
pub fn human_duration(seconds: i64) -> String {
    let s = seconds.max(0);
    let (minutes, hours) = (s / 60, s / 3600);
    match () {
        _ if s < 1 => "Less than a second".into(),
        _ if s < 60 => format!("{s} seconds"),
        _ if minutes == 1 => "About a minute".into(),
        _ if minutes < 60 => format!("{minutes} minutes"),
        _ if hours == 1 => "About an hour".into(),
        _ if hours < 48 => format!("{hours} hours"),
        _ if hours < 24 * 7 * 2 => format!("{} days", hours / 24),
        _ if hours < 24 * 30 * 3 => format!("{} weeks", hours / 24 / 7),
        _ if hours < 24 * 365 * 2 => format!("{} months", hours / 24 / 30),
        _ => format!("{} years", hours / 24 / 365),
    }
}

/// "N ago" from a Unix time.
pub fn ago(unix: i64) -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
    format!("{} ago", human_duration(now - unix))
}

/// The 12-character form of an id, without any `sha256:`.
pub fn short_id(id: &str) -> &str {
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    &hex[..hex.len().min(12)]
}

/// Prints a JSON message stream as it arrives (status and stream lines), stopping with the
/// first error message.
pub fn print_messages(body: &[u8], out: &mut dyn Write) -> Result<(), CliError> {
    let text = String::from_utf8_lossy(body);
    for line in text.split(['\n', '\r']).filter(|l| !l.trim().is_empty()) {
        let message: Message =
            serde_json::from_str(line).map_err(|e| CliError::Failed(format!("the daemon sent {line:?}: {e}")))?;
        if !message.error.is_empty() {
            return Err(CliError::Failed(message.error));
        }
        if !message.stream.is_empty() {
            write!(out, "{}", message.stream)?;
        } else if !message.status.is_empty() {
            let id = if message.id.is_empty() { String::new() } else { format!("{}: ", message.id) };
            writeln!(
                out,
                "{id}{}{}",
                message.status,
                if message.progress.is_empty() { String::new() } else { format!(" {}", message.progress) }
            )?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case(0, "0 B")]
    #[case(7, "7 B")]
    #[case(24_653, "24.65 kB")]
    #[case(131_506_275, "131.5 MB")]
    #[case(1_089_000_000, "1.089 GB")]
    #[case(2_000_000, "2 MB")]
    #[case(999, "999 B")]
    #[case(1_000, "1 kB")]
    fn sizes_as_in_2014(#[case] bytes: i64, #[case] want: &str) {
        assert_eq!(human_size(bytes), want);
    }

    #[rstest]
    #[case(0, "Less than a second")]
    #[case(23, "23 seconds")]
    #[case(61, "About a minute")]
    #[case(600, "10 minutes")]
    #[case(3700, "About an hour")]
    #[case(19 * 3600, "19 hours")]
    #[case(3 * 86400, "3 days")]
    #[case(30 * 86400, "4 weeks")]
    #[case(200 * 86400, "6 months")]
    #[case(12 * 365 * 86400 + 86400 * 3, "12 years")]
    fn durations(#[case] secs: i64, #[case] want: &str) {
        assert_eq!(human_duration(secs), want);
    }

    #[test]
    fn table_pads_all_but_the_last_column() {
        let mut t = Table::default();
        t.row(["REPOSITORY", "TAG", "IMAGE ID"]);
        t.row(["a-very-long-repository-name", "latest", "77af4d6b9913"]);
        let text = t.render();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0].find("TAG"), Some(30));
        assert_eq!(lines[1].find("latest"), Some(30));
        assert_eq!(lines[0].find("IMAGE ID"), Some(50));
        assert!(!lines[0].ends_with(' '));
    }

    #[test]
    fn messages_print_and_errors_stop() {
        let mut out = Vec::new();
        print_messages(b"{\"stream\":\"Loaded image: busybox:latest\\n\"}\r\n{\"status\":\"done\"}\r\n", &mut out)
            .unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "Loaded image: busybox:latest\ndone\n");
        let err = print_messages(b"{\"error\":\"broken\"}", &mut Vec::new()).unwrap_err();
        assert_eq!(err.to_string(), "broken");
    }
}

/// An event as 5.1.10 prints it: `[2013-09-03 15:49:26 +0000 UTC] 4386fb97867d: (from busybox) start`.
pub fn render_event(event: &berth_api::containers::Event) -> String {
    let time = berth_api::time::rfc3339(event.time, 0);
    let when = format!("{} {} +0000 UTC", &time[..10], &time[11..19]);
    let id = if event.kind == "image" { event.id.clone() } else { short_id(&event.id).to_string() };
    if event.from.is_empty() {
        format!("[{when}] {id}: {}", event.status)
    } else {
        format!("[{when}] {id}: (from {}) {}", event.from, event.status)
    }
}

/// `--since`/`--until` as users give them: seconds, `2013-09-03`, `2013-09-03 15:49:29`, RFC
/// 3339. Returned as Unix seconds text for the API.
pub fn event_time(text: &str) -> Option<String> {
    if text.parse::<f64>().is_ok() {
        return Some(text.to_string());
    }
    let candidates = [text.to_string(), format!("{text}T00:00:00Z"), format!("{}Z", text.replacen(' ', "T", 1))];
    let words: Vec<&str> = text.split_whitespace().collect();
    let zoned = (words.len() >= 3).then(|| format!("{}T{}{}", words[0], words[1], zone(words[2])));
    candidates.iter().chain(zoned.iter()).find_map(|c| berth_api::time::parse_rfc3339(c)).map(|s| s.to_string())
}

/// `+0200` as `+02:00`.
fn zone(offset: &str) -> String {
    match offset.len() {
        5 if offset.starts_with(['+', '-']) => format!("{}:{}", &offset[..3], &offset[3..]),
        _ => "Z".into(),
    }
}

#[cfg(test)]
mod event_tests {
    use super::*;

    #[test]
    fn event_times_in_the_2014_forms() {
        assert_eq!(event_time("1378216169").as_deref(), Some("1378216169"));
        assert_eq!(event_time("2013-09-03").as_deref(), Some("1378166400"));
        assert_eq!(event_time("2013-09-03 15:49:29 +0200 CEST").as_deref(), Some("1378216169"));
        assert_eq!(event_time("yesterday"), None);
    }

    #[test]
    fn events_print_as_2014() {
        let event = berth_api::containers::Event {
            status: "start".into(),
            id: "4386fb97867d1234".into(),
            from: "busybox".into(),
            kind: "container".into(),
            time: 1_378_216_166,
            ..Default::default()
        };
        assert_eq!(render_event(&event), "[2013-09-03 13:49:26 +0000 UTC] 4386fb97867d: (from busybox) start");
    }
}
