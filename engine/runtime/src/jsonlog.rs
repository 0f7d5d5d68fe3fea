//! Docker's json-file log driver: one JSON object per line of output,
//! `{"log":"hello\n","stream":"stdout","time":"..."}`, escaped as Go's encoder does.

use crate::timefmt;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// An open json-file log.
pub struct JsonLog {
    file: File,
    buf: Vec<u8>,
}

impl JsonLog {
    /// Opens (appending) or creates the log.
    pub fn open(path: &Path) -> std::io::Result<JsonLog> {
        let file = OpenOptions::new().append(true).create(true).mode(0o640).open(path)?;
        Ok(JsonLog { file, buf: Vec::with_capacity(512) })
    }

    /// Logs a chunk of a stream: one entry per line, and one for a trailing partial line.
    pub fn write_chunk(&mut self, stream: &str, chunk: &[u8]) -> std::io::Result<()> {
        let time = timefmt::now();
        self.buf.clear();
        for line in chunk.split_inclusive(|b| *b == b'\n') {
            encode_entry(&mut self.buf, line, stream, &time);
        }
        self.file.write_all(&self.buf)
    }
}

/// Appends one log entry (with its newline) to `out`.
pub fn encode_entry(out: &mut Vec<u8>, line: &[u8], stream: &str, time: &str) {
    out.extend_from_slice(b"{\"log\":\"");
    escape_go_string(out, &String::from_utf8_lossy(line));
    out.extend_from_slice(b"\",\"stream\":\"");
    out.extend_from_slice(stream.as_bytes());
    out.extend_from_slice(b"\",\"time\":\"");
    out.extend_from_slice(time.as_bytes());
    out.extend_from_slice(b"\"}\n");
}

/// Go's `encoding/json` string escaping with HTML escaping on, which Docker's logs have:
/// `<`, `>` and `&` as `\u003c`..., U+2028/2029 escaped, other controls as `\u00XX`.
fn escape_go_string(out: &mut Vec<u8>, s: &str) {
    for c in s.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' | '\0'..='\x1f' => {
                out.extend_from_slice(format!("\\u{:04x}", c as u32).as_bytes())
            }
            c => {
                let mut utf8 = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut utf8).as_bytes());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(line: &[u8]) -> String {
        let mut out = Vec::new();
        encode_entry(&mut out, line, "stdout", "T");
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn escapes_like_go() {
        assert_eq!(
            entry(b"a\"b\\<&>\t\x01\n"),
            "{\"log\":\"a\\\"b\\\\\\u003c\\u0026\\u003e\\t\\u0001\\n\",\"stream\":\"stdout\",\"time\":\"T\"}\n"
        );
    }

    #[test]
    fn invalid_utf8_becomes_replacement_character() {
        assert!(entry(b"\xff\n").contains("\u{fffd}\\n"));
    }

    #[test]
    fn splits_chunks_at_newlines_and_keeps_partial_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.json");
        let mut log = JsonLog::open(&path).unwrap();
        log.write_chunk("stderr", b"one\ntwo\nthr").unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let logs: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        let lines: Vec<&str> = logs.iter().map(|v| v["log"].as_str().unwrap()).collect();
        assert_eq!(lines, ["one\n", "two\n", "thr"]);
        assert!(logs.iter().all(|v| v["stream"] == "stderr"));
    }
}
