//! A container's log: the json-file lines the monitor writes (`{"log","stream","time"}`), read
//! back for `logs` with stream selection, `since`, `tail`, timestamps and `follow`.

use serde::Deserialize;
use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::path::Path;
use std::time::Duration;

#[derive(Debug, Clone, Deserialize)]
pub struct Line {
    pub log: String,
    pub stream: String,
    pub time: String,
}

#[derive(Debug, Clone, Default)]
pub struct Options {
    pub stdout: bool,
    pub stderr: bool,
    /// Unix seconds; lines before are skipped.
    pub since: Option<i64>,
    pub until: Option<i64>,
    /// Only the last N lines (before following).
    pub tail: Option<usize>,
    pub timestamps: bool,
    pub follow: bool,
}

impl Options {
    fn keeps(&self, line: &Line) -> bool {
        let stream_ok = match line.stream.as_str() {
            "stdout" => self.stdout,
            "stderr" => self.stderr,
            _ => false,
        };
        let time = berth_api::time::parse_rfc3339(&line.time);
        let since_ok = self.since.is_none_or(|s| time.is_some_and(|t| t >= s));
        let until_ok = self.until.is_none_or(|u| time.is_some_and(|t| t <= u));
        stream_ok && since_ok && until_ok
    }
}

/// One chunk to send: which stream and the bytes (with the timestamp if asked).
pub fn render(line: &Line, timestamps: bool) -> (u8, Vec<u8>) {
    let stream = if line.stream == "stderr" { berth_api::stdcopy::STDERR } else { berth_api::stdcopy::STDOUT };
    let text = if timestamps { format!("{} {}", line.time, line.log) } else { line.log.clone() };
    (stream, text.into_bytes())
}

/// Reads the log, calling `emit` for each kept line; with `follow`, keeps reading while
/// `running()` says the container runs. Stops early when `emit` returns false (the client
/// went away). Blocking: call from a blocking thread.
pub fn read(
    path: &Path,
    options: &Options,
    running: &dyn Fn() -> bool,
    emit: &mut dyn FnMut(&Line) -> bool,
) -> std::io::Result<()> {
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if !options.follow {
                return Ok(());
            }
            wait_for_file(path, running)?
        }
        Err(e) => return Err(e),
    };
    let mut reader = BufReader::new(file);
    let mut kept: Vec<Line> = Vec::new();
    let mut buf = String::new();
    while reader.read_line(&mut buf)? > 0 {
        if let Ok(line) = serde_json::from_str::<Line>(&buf) {
            if options.keeps(&line) {
                kept.push(line);
            }
        }
        buf.clear();
    }
    let start = options.tail.map_or(0, |n| kept.len().saturating_sub(n));
    for line in &kept[start..] {
        if !emit(line) {
            return Ok(());
        }
    }
    if options.follow {
        follow(reader, options, running, emit)?;
    }
    Ok(())
}

fn wait_for_file(path: &Path, running: &dyn Fn() -> bool) -> std::io::Result<std::fs::File> {
    loop {
        match std::fs::File::open(path) {
            Ok(f) => return Ok(f),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && running() => std::thread::sleep(POLL),
            Err(e) => return Err(e),
        }
    }
}

/// How often a followed log is checked for new lines.
const POLL: Duration = Duration::from_millis(50);

fn follow(
    mut reader: BufReader<std::fs::File>,
    options: &Options,
    running: &dyn Fn() -> bool,
    emit: &mut dyn FnMut(&Line) -> bool,
) -> std::io::Result<()> {
    let mut buf = String::new();
    loop {
        let position = reader.stream_position()?;
        let n = reader.read_line(&mut buf)?;
        if n > 0 && buf.ends_with('\n') {
            if let Ok(line) = serde_json::from_str::<Line>(&buf) {
                if options.keeps(&line) && !emit(&line) {
                    return Ok(());
                }
            }
            buf.clear();
            continue;
        }
        // A partial line: read it again whole next time.
        buf.clear();
        reader.seek(SeekFrom::Start(position))?;
        if !running() {
            return Ok(());
        }
        std::thread::sleep(POLL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_log(lines: &[(&str, &str, &str)]) -> tempfile::NamedTempFile {
        let file = tempfile::NamedTempFile::new().unwrap();
        let text: String = lines
            .iter()
            .map(|(log, stream, time)| format!("{}\n", serde_json::json!({"log": log, "stream": stream, "time": time})))
            .collect();
        std::fs::write(file.path(), text).unwrap();
        file
    }

    fn collect(path: &Path, options: &Options) -> Vec<String> {
        let mut out = Vec::new();
        read(path, options, &|| false, &mut |l| {
            out.push(String::from_utf8(render(l, options.timestamps).1).unwrap());
            true
        })
        .unwrap();
        out
    }

    #[test]
    fn streams_tail_since_and_timestamps() {
        let log = write_log(&[
            ("one\n", "stdout", "2014-01-01T00:00:01Z"),
            ("err\n", "stderr", "2014-01-01T00:00:02Z"),
            ("two\n", "stdout", "2014-01-01T00:00:03Z"),
        ]);
        let all = Options { stdout: true, stderr: true, ..Default::default() };
        assert_eq!(collect(log.path(), &all), ["one\n", "err\n", "two\n"]);
        let out = Options { stdout: true, ..Default::default() };
        assert_eq!(collect(log.path(), &out), ["one\n", "two\n"]);
        assert_eq!(collect(log.path(), &Options { tail: Some(1), ..all.clone() }), ["two\n"]);
        let since = berth_api::time::parse_rfc3339("2014-01-01T00:00:02Z");
        assert_eq!(collect(log.path(), &Options { since, ..all.clone() }), ["err\n", "two\n"]);
        assert_eq!(
            collect(log.path(), &Options { timestamps: true, tail: Some(1), ..all }),
            ["2014-01-01T00:00:03Z two\n"]
        );
    }
}
