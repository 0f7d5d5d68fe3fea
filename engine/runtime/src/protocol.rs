//! The wire protocol on `<state_dir>/monitor.sock`, between [`crate::Monitor`] and the monitor.
//!
//! Every connection carries one request. The client sends a message (a `u32` big-endian
//! length, then that many bytes of JSON: a [`Request`]); the monitor answers with one message
//! holding a [`Reply`] (`error` set when it refused). `info`, `signal` and `resize` end there.
//! `wait` and `exec_wait` get their reply only when the container or exec has exited.
//!
//! After the reply to `attach` or `exec` the connection becomes a stream: monitor to client,
//! frames `[stream u8 (1 stdout, 2 stderr), 0, 0, 0, len u32 BE, data]` (a tty's output is
//! all stream 1); client to monitor, raw stdin bytes. The client shutting down its write half
//! is the end of its stdin; the monitor closes the stream once the process's output has ended.
//!
//! `Monitor::start` reads one more reply, a bare JSON [`Reply`] (no length prefix) on the pipe
//! that is the monitor's stdout, ended by EOF: `pid` when the container's process has been
//! exec'd, or `error` and `exit_code` when it could not start.

use crate::spec::{ExecSpec, ExitStatus};
use serde::{Deserialize, Serialize};

/// The biggest message either side accepts.
pub const MAX_MESSAGE: usize = 1 << 20;
/// Frame stream numbers.
pub const STDOUT: u8 = 1;
pub const STDERR: u8 = 2;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// The container init's host pid and start time.
    Info,
    /// Answered when the container has exited, with its [`ExitStatus`].
    Wait,
    /// Sends a signal to the container's init.
    Signal { signal: i32 },
    /// Sets the tty size of the container (`exec: None`) or of one exec.
    Resize { rows: u16, cols: u16, exec: Option<u32> },
    /// Turns the connection into an attach stream of the container's stdio.
    Attach { stdin: bool, stdout: bool, stderr: bool },
    /// Starts a process in the container; the connection becomes its stdio stream.
    Exec { spec: ExecSpec },
    /// Answered when exec `id` has exited, with its `exit_code`.
    ExecWait { id: u32 },
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Reply {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// With `error`: the start failed, and this is the exit code Docker records for it.
    /// For `exec_wait`: the exec's exit code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exec_id: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit: Option<ExitStatus>,
}

impl Reply {
    pub fn error(message: impl Into<String>) -> Reply {
        Reply { error: Some(message.into()), ..Reply::default() }
    }
}

/// A length-prefixed JSON message.
pub fn encode<T: Serialize>(message: &T) -> Vec<u8> {
    // Serializing these plain structs cannot fail: no maps with non-string keys, no I/O.
    let json = serde_json::to_vec(message).unwrap_or_default();
    let mut out = Vec::with_capacity(4 + json.len());
    out.extend_from_slice(&(json.len() as u32).to_be_bytes());
    out.extend_from_slice(&json);
    out
}

/// If `buf` starts with a whole message: the message's JSON and the total length it takes.
pub fn split_message(buf: &[u8]) -> Result<Option<(&[u8], usize)>, String> {
    let Some(header) = buf.get(..4) else { return Ok(None) };
    let len = u32::from_be_bytes([header[0], header[1], header[2], header[3]]) as usize;
    if len > MAX_MESSAGE {
        return Err(format!("message of {len} bytes is over the limit of {MAX_MESSAGE}"));
    }
    Ok(buf.get(4..4 + len).map(|json| (json, 4 + len)))
}

/// The 8-byte header of an output frame.
pub fn frame_header(stream: u8, len: usize) -> [u8; 8] {
    let n = (len as u32).to_be_bytes();
    [stream, 0, 0, 0, n[0], n[1], n[2], n[3]]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_round_trip() {
        let req = Request::Resize { rows: 24, cols: 80, exec: None };
        let bytes = encode(&req);
        let (json, used) = split_message(&bytes).unwrap().unwrap();
        assert_eq!(used, bytes.len());
        assert_eq!(serde_json::from_slice::<Request>(json).unwrap(), req);
        assert_eq!(std::str::from_utf8(json).unwrap(), r#"{"op":"resize","rows":24,"cols":80,"exec":null}"#);
    }

    #[test]
    fn partial_and_oversized_messages() {
        let bytes = encode(&Request::Wait);
        assert_eq!(split_message(&bytes[..3]).unwrap(), None);
        assert_eq!(split_message(&bytes[..bytes.len() - 1]).unwrap(), None);
        assert!(split_message(&[0xff, 0xff, 0xff, 0xff]).is_err());
    }

    #[test]
    fn frame_headers_are_big_endian() {
        assert_eq!(frame_header(STDERR, 0x0102), [2, 0, 0, 0, 0, 0, 1, 2]);
    }
}
