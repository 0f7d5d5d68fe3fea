//! Relaying a hijacked attach or exec: the container's output to this process's stdout and
//! stderr (split from the 8-byte frames unless it is a tty), this process's stdin to the
//! container, the terminal in raw mode while a tty is attached, and its size passed on.

use berth_api::stdcopy::{Demux, STDERR};
use berth_client::Hijacked;
use http_body_util::BodyExt;
use std::io::{IsTerminal, Write};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The terminal as it was, restored when dropped.
pub struct RawTerminal {
    saved: Option<nix::sys::termios::Termios>,
}

impl RawTerminal {
    /// Puts stdin in raw mode when it is a terminal (for a tty container).
    pub fn enter(wanted: bool) -> RawTerminal {
        let stdin = std::io::stdin();
        if !wanted || !stdin.is_terminal() {
            return RawTerminal { saved: None };
        }
        let Ok(saved) = nix::sys::termios::tcgetattr(&stdin) else { return RawTerminal { saved: None } };
        let mut raw = saved.clone();
        nix::sys::termios::cfmakeraw(&mut raw);
        let _ = nix::sys::termios::tcsetattr(&stdin, nix::sys::termios::SetArg::TCSANOW, &raw);
        RawTerminal { saved: Some(saved) }
    }
}

impl Drop for RawTerminal {
    fn drop(&mut self) {
        if let Some(saved) = &self.saved {
            let _ = nix::sys::termios::tcsetattr(std::io::stdin(), nix::sys::termios::SetArg::TCSANOW, saved);
        }
    }
}

/// The terminal's size, if stdout is one.
pub fn terminal_size() -> Option<(u16, u16)> {
    let mut size = libc::winsize { ws_row: 0, ws_col: 0, ws_xpixel: 0, ws_ypixel: 0 };
    // SAFETY: TIOCGWINSZ fills the winsize struct we own; the descriptor is stdout's.
    let ok = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut size) } == 0;
    (ok && size.ws_row > 0).then_some((size.ws_row, size.ws_col))
}

/// Writes output chunks where they belong.
struct Output {
    demux: Option<Demux>,
}

impl Output {
    fn new(framed: bool) -> Output {
        Output { demux: framed.then(Demux::default) }
    }

    fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        match &mut self.demux {
            None => {
                let mut out = std::io::stdout().lock();
                out.write_all(bytes)?;
                out.flush()
            }
            Some(demux) => {
                for (stream, data) in demux.push(bytes) {
                    if stream == STDERR {
                        std::io::stderr().lock().write_all(&data)?;
                    } else {
                        let mut out = std::io::stdout().lock();
                        out.write_all(&data)?;
                        out.flush()?;
                    }
                }
                Ok(())
            }
        }
    }
}

/// The keys that detach a client (Ctrl-p Ctrl-q), unless the user chose others.
pub const DEFAULT_DETACH: &[u8] = &[0x10, 0x11];

/// Relays until the container's output ends. `send_stdin` copies this process's stdin in and
/// closes the container's stdin at its end. Returns true when the user typed the detach keys
/// (the daemon then ends the stream while the container keeps running).
/// `framed` says whether output comes in 8-byte frames: always, unless the container or exec
/// has a tty (the API's content type does not say so before API 1.42).
pub async fn relay(hijacked: Hijacked, send_stdin: bool, framed: bool) -> std::io::Result<bool> {
    relay_with(hijacked, send_stdin, framed, DEFAULT_DETACH).await
}

pub async fn relay_with(hijacked: Hijacked, send_stdin: bool, framed: bool, keys: &[u8]) -> std::io::Result<bool> {
    let detached = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    match hijacked {
        Hijacked::Body { mut body, .. } => {
            let mut output = Output::new(framed);
            while let Some(frame) = body.frame().await {
                let frame = frame.map_err(std::io::Error::other)?;
                if let Some(data) = frame.data_ref() {
                    output.write(data)?;
                }
            }
            Ok(false)
        }
        Hijacked::Stream { io, .. } => {
            let mut output = Output::new(framed);
            let (mut read, mut write) = tokio::io::split(io);
            if send_stdin {
                let seen = detached.clone();
                let keys = keys.to_vec();
                tokio::spawn(async move {
                    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<u8>>(8);
                    std::thread::spawn(move || {
                        let mut stdin = std::io::stdin();
                        let mut buf = vec![0u8; 8192];
                        loop {
                            match std::io::Read::read(&mut stdin, &mut buf) {
                                Ok(0) | Err(_) => break,
                                Ok(n) => {
                                    if tx.blocking_send(buf[..n].to_vec()).is_err() {
                                        break;
                                    }
                                }
                            }
                        }
                    });
                    let mut matched = 0;
                    while let Some(chunk) = rx.recv().await {
                        for &b in &chunk {
                            matched = if keys.get(matched) == Some(&b) {
                                matched + 1
                            } else {
                                usize::from(keys.first() == Some(&b))
                            };
                            if matched == keys.len() && !keys.is_empty() {
                                seen.store(true, std::sync::atomic::Ordering::SeqCst);
                            }
                        }
                        if write.write_all(&chunk).await.is_err() {
                            return;
                        }
                    }
                    let _ = write.shutdown().await;
                });
            }
            let mut buf = vec![0u8; 32 * 1024];
            loop {
                let n = read.read(&mut buf).await?;
                if n == 0 {
                    return Ok(detached.load(std::sync::atomic::Ordering::SeqCst));
                }
                output.write(&buf[..n])?;
            }
        }
    }
}
