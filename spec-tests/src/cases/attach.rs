//! Attaching: the `attach` command, signal proxying of `run`, `start -a` and `attach`,
//! interactive terminals, and the hijacked attach endpoint with its stream framing (5.1.5,
//! 5.3, 5.4.4 and the v1.6 notes). Terminal sessions get a pty from util-linux `script`;
//! the API rows speak raw HTTP over the engine's socket, since the connection stops being
//! HTTP once the engine takes it over.

use super::containers::{cleaning, detach, exit_code, is_running, run, running, text, Background, IMAGE, SETTLE};
use super::Case;
use crate::case;
use crate::engine::Engine;
use crate::outcome::{skip, Outcome, SkipKind};
use anyhow::{bail, ensure, Context};
use berth_api::{ApiVersion, Host};
use http::Method;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

#[rustfmt::skip]
pub static CASES: &[Case] = &[
    case!("attach streams output", ["cli.attach.basic", "run.detached.reattach"], attach_basic),
    case!("attach --no-stdin", ["cli.attach.opt.no-stdin"], attach_no_stdin),
    case!("attach proxies signals", ["cli.attach.opt.sig-proxy"], attach_sig_proxy),
    case!("attach --sig-proxy=false", ["cli.attach.sig-proxy-false-ctrlc"], attach_no_sig_proxy),
    case!("attach exit code", ["cli.attach.exit-code"], attach_exit_code),
    case!("attach stopped", ["cli.attach.stopped"], attach_stopped),
    case!("run proxies signals", ["cli.run.opt.sig-proxy", "run.sig-proxy.default", "run.sig-proxy.false"], run_sig_proxy),
    case!("run -i -t shell", ["run.interactive-tty", "seed.kratos.run-it"], interactive_tty),
    case!("detach with Ctrl-p Ctrl-q", ["run.interactive.detach-keys"], detach_keys),
    case!("api hijacked attach", ["api.hijack.attach"], api_hijack),
    case!("api attach", ["api.containers.attach"], api_attach),
    case!("api attach framing", ["api.v1-6.attach-multiplex"], api_multiplex),
    case!("api attach tty raw", ["api.v1-6.attach-tty-raw"], api_tty_raw),
    case!("api attach before 1.6", ["api.v1-6.attach-old-merged"], api_attach_old),
    case!("api attach websocket", ["api.v1-6.attach-websocket"], api_websocket),
];

/// Prints a tick every 0.2 s; SIGTERM or SIGINT makes it say so and exit 4.
const TICKING_TRAP: &str = "trap 'echo got-signal; exit 4' TERM INT; while :; do echo tick; sleep 0.2; done";

/// `attach` to a detached container streams the output it keeps producing.
pub async fn attach_basic(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("attach");
    cleaning(&e, &[&name], async {
        detach(&e, &name, &[IMAGE, "sh", "-c", "i=0; while :; do i=$((i+1)); echo tick $i; sleep 0.2; done"]).await?;
        let attached = Background::cli(&e, &["attach", "--sig-proxy=false", &name])?;
        attached.wait_output("tick", SETTLE).await?;
        let seen = attached.stdout();
        attached.wait_output(&format!("{seen}tick"), SETTLE).await.context("the output stopped after attaching")?;
        Ok(Outcome::Passed)
    })
    .await
}

/// A container echoing every line it reads, with stdin open.
const ECHO_LINES: &str = "while read line; do echo \"got $line\"; done";

/// `attach --no-stdin` leaves the container's stdin alone; a plain attach feeds it.
pub async fn attach_no_stdin(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("nostdin");
    cleaning(&e, &[&name], async {
        detach(&e, &name, &["-i", IMAGE, "sh", "-c", ECHO_LINES]).await?;
        let mut quiet = Background::cli(&e, &["attach", "--no-stdin", "--sig-proxy=false", &name])?;
        quiet.write(b"one\n").await?;
        tokio::time::sleep(Duration::from_secs(2)).await;
        drop(quiet);
        let mut feeding = Background::cli(&e, &["attach", "--sig-proxy=false", &name])?;
        tokio::time::sleep(Duration::from_millis(500)).await;
        feeding.write(b"two\n").await?;
        feeding.wait_output("got two", SETTLE).await?;
        let logs = e.cli(&["logs", &name]).await?.stdout;
        ensure!(!logs.contains("got one"), "input sent with --no-stdin reached the container:\n{logs}");
        Ok(Outcome::Passed)
    })
    .await
}

/// SIGTERM and SIGINT sent to `attach` (no tty) reach the container, which stops.
pub async fn attach_sig_proxy(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    for signal in [libc::SIGTERM, libc::SIGINT] {
        let name = e.unique("attachsig");
        let result = cleaning(&e, &[&name], async {
            detach(&e, &name, &[IMAGE, "sh", "-c", TICKING_TRAP]).await?;
            let mut attached = Background::cli(&e, &["attach", &name])?;
            attached.wait_output("tick", SETTLE).await?;
            attached.signal(signal)?;
            ensure!(exit_code(&e, &name).await? == 4, "signal {signal} did not reach the container's trap");
            attached.finish(SETTLE).await?;
            Ok(Outcome::Passed)
        })
        .await?;
        ensure!(result == Outcome::Passed, "{result:?}");
    }
    Ok(Outcome::Passed)
}

/// With `--sig-proxy=false`, Ctrl-C (SIGINT) ends only the client; the container runs on.
pub async fn attach_no_sig_proxy(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("attachnosig");
    cleaning(&e, &[&name], async {
        detach(&e, &name, &[IMAGE, "sh", "-c", TICKING_TRAP]).await?;
        let mut attached = Background::cli(&e, &["attach", "--sig-proxy=false", &name])?;
        attached.wait_output("tick", SETTLE).await?;
        attached.signal(libc::SIGINT)?;
        let ended = attached.finish(Duration::from_secs(5)).await.is_ok();
        let mut signals = 1;
        while !ended && attached.alive() && signals < 3 {
            attached.signal(libc::SIGINT)?;
            signals += 1;
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        let _ = attached.finish(Duration::from_secs(5)).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        ensure!(is_running(&e, &name).await?, "the container stopped");
        ensure!(e.cli(&["ps"]).await?.success()?.stdout.contains(&name), "ps does not list it as running");
        if ended {
            return Ok(Outcome::Passed);
        }
        Ok(skip(SkipKind::Legacy, format!(
            "the CLI did not end on one SIGINT with --sig-proxy=false; it ended after {signals} ({}): today's CLI handles termination signals itself",
            attached.stderr().trim()
        )))
    })
    .await
}

/// `attach` exits with the process's exit code.
pub async fn attach_exit_code(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("attachcode");
    cleaning(&e, &[&name], async {
        detach(&e, &name, &["-i", IMAGE, "sh", "-c", "read line; exit 5"]).await?;
        let mut attached = Background::cli(&e, &["attach", &name])?;
        tokio::time::sleep(Duration::from_millis(500)).await;
        attached.write(b"go\n").await?;
        ensure!(attached.finish(SETTLE).await? == Some(5), "attach did not exit 5: {}", attached.stderr());
        Ok(Outcome::Passed)
    })
    .await
}

/// Attaching to a stopped container is refused.
pub async fn attach_stopped(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("attachstopped");
    cleaning(&e, &[&name], async {
        run(&e, &["--name", &name, IMAGE, "true"]).await?.success()?;
        let run = e.cli(&["attach", &name]).await?;
        ensure!(
            run.status != Some(0) && !run.stderr.trim().is_empty(),
            "exit {:?}, stderr {:?}",
            run.status,
            run.stderr
        );
        Ok(Outcome::Passed)
    })
    .await
}

/// A foreground `run` passes SIGTERM to the container; with `--sig-proxy=false` it does not.
pub async fn run_sig_proxy(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let (proxied, unproxied) = (e.unique("runsig"), e.unique("runnosig"));
    cleaning(&e, &[&proxied, &unproxied], async {
        let mut cli = Background::cli(&e, &["run", "--net=none", "--name", &proxied, IMAGE, "sh", "-c", TICKING_TRAP])?;
        cli.wait_output("tick", SETTLE).await?;
        cli.signal(libc::SIGTERM)?;
        ensure!(exit_code(&e, &proxied).await? == 4, "SIGTERM did not reach the container");
        cli.finish(SETTLE).await?;
        let args = ["run", "--net=none", "--sig-proxy=false", "--name", &unproxied, IMAGE, "sh", "-c", TICKING_TRAP];
        let cli = Background::cli(&e, &args)?;
        cli.wait_output("tick", SETTLE).await?;
        cli.signal(libc::SIGTERM)?;
        tokio::time::sleep(Duration::from_secs(1)).await;
        ensure!(is_running(&e, &unproxied).await?, "with --sig-proxy=false the container stopped");
        ensure!(!cli.stdout().contains("got-signal"), "with --sig-proxy=false the signal reached the container");
        Ok(Outcome::Passed)
    })
    .await
}

/// Quotes words for `sh -c`.
fn shell_line(words: &[&str]) -> String {
    words.iter().map(|w| format!("'{}'", w.replace('\'', "'\\''"))).collect::<Vec<_>>().join(" ")
}

/// The CLI with `args` on a pseudo-terminal (util-linux `script`), its keyboard a pipe.
fn on_terminal(e: &Engine, args: &[&str]) -> anyhow::Result<Background> {
    let mut words = vec![e.cli.as_str()];
    words.extend_from_slice(args);
    let line = shell_line(&words);
    Background::program("script", &["-qec", &line, "/dev/null"], &[("DOCKER_HOST", &e.docker_host)])
}

/// `run -i -t IMAGE sh` (and the clustered `-it`) is a shell: typed commands run, `exit` ends
/// the container.
pub async fn interactive_tty(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    for flags in [&["-i", "-t"][..], &["-it"][..]] {
        let name = e.unique("shell");
        let result = cleaning(&e, &[&name], async {
            let mut args = vec!["run", "--net=none"];
            args.extend_from_slice(flags);
            args.extend(["--name", &name, IMAGE, "sh"]);
            let mut terminal = on_terminal(&e, &args)?;
            running(&e, &name).await?;
            terminal.write(b"echo $((6*7)); tty\n").await?;
            terminal.wait_output("42", SETTLE).await?;
            terminal.wait_output("/dev/pts/", SETTLE).await?;
            terminal.write(b"exit\n").await?;
            ensure!(exit_code(&e, &name).await? == 0, "the shell did not exit cleanly");
            terminal.finish(SETTLE).await?;
            Ok(Outcome::Passed)
        })
        .await
        .with_context(|| format!("with {flags:?}"))?;
        ensure!(result == Outcome::Passed, "{result:?}");
    }
    Ok(Outcome::Passed)
}

/// Ctrl-p Ctrl-q in a `run -i -t` session gives the terminal back; the container stays Up.
pub async fn detach_keys(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("detachkeys");
    cleaning(&e, &[&name], async {
        let mut terminal = on_terminal(&e, &["run", "--net=none", "-i", "-t", "--name", &name, IMAGE, "sh"])?;
        running(&e, &name).await?;
        terminal.write(b"echo attached-$((1+1))\n").await?;
        terminal.wait_output("attached-2", SETTLE).await?;
        terminal.write(b"\x10\x11").await?;
        terminal.finish(SETTLE).await.context("the client did not return after Ctrl-p Ctrl-q")?;
        ensure!(is_running(&e, &name).await?, "the container stopped");
        let ps = e.cli(&["ps"]).await?.success()?.stdout;
        ensure!(ps.lines().any(|l| l.contains(&name) && l.contains("Up")), "ps does not list it as Up:\n{ps}");
        Ok(Outcome::Passed)
    })
    .await
}

// ---------------------------------------------------------------------------------------------
// The attach endpoint, spoken raw.
// ---------------------------------------------------------------------------------------------

trait Duplex: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Duplex for T {}

/// A connection the engine took over: the answer's head, then raw bytes both ways.
pub struct Hijacked {
    pub head: String,
    stream: Box<dyn Duplex>,
    pub received: Vec<u8>,
}

async fn dial(e: &Engine) -> anyhow::Result<Box<dyn Duplex>> {
    Ok(match e.api.host() {
        Host::Unix(path) => Box::new(tokio::net::UnixStream::connect(path).await?),
        Host::Tcp { host, port } => Box::new(tokio::net::TcpStream::connect((host.as_str(), *port)).await?),
        other => bail!("cannot dial {other}"),
    })
}

/// Sends `method path` with `headers` (each ending in CRLF) and reads the answer's head.
pub async fn hijack(e: &Engine, method: &str, path: &str, headers: &str) -> anyhow::Result<Hijacked> {
    let mut stream = dial(e).await?;
    let request = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\n{headers}\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut received = Vec::new();
    let deadline = Instant::now() + SETTLE;
    let end = loop {
        if let Some(at) = received.windows(4).position(|w| w == b"\r\n\r\n") {
            break at;
        }
        let mut chunk = [0u8; 4096];
        let n = tokio::time::timeout_at(deadline.into(), stream.read(&mut chunk)).await.context("no answer")??;
        ensure!(n > 0, "the engine closed the connection without answering: {}", text(&received));
        received.extend_from_slice(&chunk[..n]);
    };
    let head = text(&received[..end]);
    let rest = received[end + 4..].to_vec();
    Ok(Hijacked { head, stream, received: rest })
}

/// `POST path` asking for the attach upgrade, as today's clients do (2014 engines hijack
/// without it).
pub async fn attach_stream(e: &Engine, path: &str) -> anyhow::Result<Hijacked> {
    hijack(e, "POST", path, "Content-Type: text/plain\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n").await
}

impl Hijacked {
    /// The status code of the answer.
    pub fn status(&self) -> u16 {
        self.head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0)
    }

    pub async fn write(&mut self, bytes: &[u8]) -> anyhow::Result<()> {
        self.stream.write_all(bytes).await?;
        Ok(self.stream.flush().await?)
    }

    /// Reads until `done` holds for what was received, or the engine closes the stream.
    pub async fn read_until(&mut self, within: Duration, done: impl Fn(&[u8]) -> bool) -> anyhow::Result<&[u8]> {
        let deadline = Instant::now() + within;
        while !done(&self.received) {
            let mut chunk = [0u8; 4096];
            let read = tokio::time::timeout_at(deadline.into(), self.stream.read(&mut chunk)).await;
            let n = read.with_context(|| format!("not there within {within:?}; got {:?}", text(&self.received)))??;
            if n == 0 {
                break;
            }
            self.received.extend_from_slice(&chunk[..n]);
        }
        Ok(&self.received)
    }

    /// Reads until the engine closes the stream.
    pub async fn read_to_end(&mut self, within: Duration) -> anyhow::Result<&[u8]> {
        let deadline = Instant::now() + within;
        loop {
            let mut chunk = [0u8; 4096];
            let read = tokio::time::timeout_at(deadline.into(), self.stream.read(&mut chunk)).await;
            let n = read.with_context(|| format!("the stream stayed open; got {:?}", text(&self.received)))??;
            if n == 0 {
                return Ok(&self.received);
            }
            self.received.extend_from_slice(&chunk[..n]);
        }
    }
}

/// Splits a multiplexed stream into (stream type, payload) frames; an incomplete last frame
/// is left out. A header that is not `[1|2, 0, 0, 0, size]` is an error.
pub fn frames(raw: &[u8]) -> anyhow::Result<Vec<(u8, Vec<u8>)>> {
    let mut out = Vec::new();
    let mut at = 0;
    while raw.len() >= at + 8 {
        let header = &raw[at..at + 8];
        ensure!(
            matches!(header[0], 0..=2) && header[1..4] == [0, 0, 0],
            "not a frame header: {header:?} in {:?}",
            text(raw)
        );
        let size = u32::from_be_bytes([header[4], header[5], header[6], header[7]]) as usize;
        if raw.len() < at + 8 + size {
            break;
        }
        out.push((header[0], raw[at + 8..at + 8 + size].to_vec()));
        at += 8 + size;
    }
    Ok(out)
}

fn stream_text(frames: &[(u8, Vec<u8>)], kind: u8) -> String {
    frames.iter().filter(|(k, _)| *k == kind).map(|(_, d)| text(d)).collect()
}

/// Creates and names a container through the API with the given config (no network).
pub async fn api_create(e: &Engine, name: &str, config: Value) -> anyhow::Result<String> {
    let mut config = config;
    config["Image"] = json!(IMAGE);
    config["HostConfig"]["NetworkMode"] = json!("none");
    let reply =
        e.api.call(Method::POST, &format!("/containers/create?name={name}"), Some(config.to_string().into())).await?;
    ensure!(reply.status.as_u16() == 201, "create answered {}: {}", reply.status, text(&reply.body));
    Ok(reply.json::<Value>()?["Id"].as_str().context("no Id")?.to_string())
}

pub async fn api_start(e: &Engine, name: &str) -> anyhow::Result<()> {
    let reply = e.call(Method::POST, &format!("/containers/{name}/start")).await?;
    ensure!(reply.status.as_u16() == 204, "start answered {}: {}", reply.status, text(&reply.body));
    Ok(())
}

/// With `stream=1` the attach connection is taken over and carries stdin to the container
/// and its output back.
pub async fn api_hijack(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("hijack");
    cleaning(&e, &[&name], async {
        api_create(&e, &name, json!({"Cmd": ["cat"], "OpenStdin": true, "AttachStdin": true, "AttachStdout": true}))
            .await?;
        let mut attached = attach_stream(&e, &format!("/containers/{name}/attach?stream=1&stdin=1&stdout=1")).await?;
        ensure!(matches!(attached.status(), 101 | 200), "attach answered {}", attached.head);
        api_start(&e, &name).await?;
        attached.write(b"through the hijack\n").await?;
        let raw = attached
            .read_until(SETTLE, |r| frames(r).is_ok_and(|f| stream_text(&f, 1).contains("through the hijack")))
            .await?;
        frames(raw)?;
        Ok(Outcome::Passed)
    })
    .await
}

/// `attach` takes logs, stream, stdin, stdout and stderr: `logs=1&stream=0` gives the earlier
/// output and closes as a raw stream; a bad parameter is 400, an unknown container 404.
pub async fn api_attach(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("apiattach");
    cleaning(&e, &[&name], async {
        run(&e, &["--name", &name, IMAGE, "sh", "-c", "echo earlier-output; echo earlier-error >&2"])
            .await?
            .success()?;
        let mut logs =
            attach_stream(&e, &format!("/containers/{name}/attach?logs=1&stream=0&stdout=1&stderr=1")).await?;
        ensure!(logs.status() == 200 || logs.status() == 101, "logs=1&stream=0 answered {}", logs.head);
        ensure!(
            logs.head.to_lowercase().contains("application/vnd.docker.raw-stream"),
            "not a raw stream: {}",
            logs.head
        );
        let raw = logs.read_to_end(SETTLE).await?.to_vec();
        let frames = frames(&raw)?;
        ensure!(stream_text(&frames, 1).contains("earlier-output"), "stdout missing: {:?}", text(&raw));
        ensure!(stream_text(&frames, 2).contains("earlier-error"), "stderr missing: {:?}", text(&raw));
        let missing =
            e.call(Method::POST, &format!("/containers/{}/attach?stream=0&logs=1", e.unique("missing"))).await?;
        ensure!(missing.status.as_u16() == 404, "an unknown container answered {}", missing.status);
        let bad =
            e.call(Method::POST, &format!("/containers/{name}/attach?stream=1&stdout=1&detachKeys=not-a-key")).await?;
        ensure!(bad.status.as_u16() == 400, "a bad parameter answered {}", bad.status);
        Ok(Outcome::Passed)
    })
    .await
}

/// Without a tty, each chunk comes after an 8-byte header: type 1 stdout, 2 stderr, then a
/// big-endian size.
pub async fn api_multiplex(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("multiplex");
    cleaning(&e, &[&name], async {
        let script = "read go; echo to-stdout; echo to-stderr >&2";
        let config = json!({"Cmd": ["sh", "-c", script], "OpenStdin": true, "StdinOnce": true, "AttachStdin": true});
        api_create(&e, &name, config).await?;
        let mut attached =
            attach_stream(&e, &format!("/containers/{name}/attach?stream=1&stdin=1&stdout=1&stderr=1")).await?;
        api_start(&e, &name).await?;
        attached.write(b"go\n").await?;
        let raw = attached.read_to_end(SETTLE).await?.to_vec();
        let frames = frames(&raw)?;
        ensure!(
            frames.iter().map(|(_, d)| d.len() + 8).sum::<usize>() == raw.len(),
            "trailing bytes after the frames: {raw:?}"
        );
        ensure!(stream_text(&frames, 1) == "to-stdout\n", "stdout frames: {frames:?}");
        ensure!(stream_text(&frames, 2) == "to-stderr\n", "stderr frames: {frames:?}");
        Ok(Outcome::Passed)
    })
    .await
}

/// With a tty, the stream is the terminal's bytes with no headers.
pub async fn api_tty_raw(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("ttyraw");
    cleaning(&e, &[&name], async {
        let config =
            json!({"Cmd": ["sh", "-c", "read go; echo raw-bytes"], "Tty": true, "OpenStdin": true, "StdinOnce": true});
        api_create(&e, &name, config).await?;
        let mut attached =
            attach_stream(&e, &format!("/containers/{name}/attach?stream=1&stdin=1&stdout=1&stderr=1")).await?;
        api_start(&e, &name).await?;
        attached.write(b"go\n").await?;
        let raw = attached.read_to_end(SETTLE).await?.to_vec();
        let shown = text(&raw);
        ensure!(shown.contains("raw-bytes\r\n"), "the terminal output is not there as written: {shown:?}");
        ensure!(!raw.contains(&0), "the stream holds header bytes: {raw:?}");
        Ok(Outcome::Passed)
    })
    .await
}

/// Before API 1.6 the two streams come interleaved with no headers (2014): only an engine
/// that still serves such a version can show it.
pub async fn api_attach_old(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    if e.min_api() > ApiVersion::new(1, 5) {
        return Ok(skip(
            SkipKind::Legacy,
            format!("the engine's minimum API version is {}: versions before 1.6 are no longer served", e.min_api()),
        ));
    }
    let name = e.unique("oldattach");
    cleaning(&e, &[&name], async {
        run(&e, &["--name", &name, IMAGE, "sh", "-c", "echo old-out; echo old-err >&2"]).await?.success()?;
        let mut logs =
            attach_stream(&e, &format!("/v1.5/containers/{name}/attach?logs=1&stream=0&stdout=1&stderr=1")).await?;
        let raw = logs.read_to_end(SETTLE).await?.to_vec();
        ensure!(text(&raw).contains("old-out\n") && text(&raw).contains("old-err\n"), "not the plain output: {raw:?}");
        ensure!(!raw.contains(&0), "the stream holds header bytes: {raw:?}");
        Ok(Outcome::Passed)
    })
    .await
}

/// Text payloads of the server's websocket frames (unmasked, as a server sends them).
fn websocket_payloads(raw: &[u8]) -> anyhow::Result<String> {
    let mut out = Vec::new();
    let mut at = 0;
    while raw.len() >= at + 2 {
        let (opcode, short) = (raw[at] & 0x0f, (raw[at + 1] & 0x7f) as usize);
        ensure!(raw[at + 1] & 0x80 == 0, "a server frame is masked");
        let (size, start) = match short {
            126 if raw.len() >= at + 4 => (u16::from_be_bytes([raw[at + 2], raw[at + 3]]) as usize, at + 4),
            127 if raw.len() >= at + 10 => (u64::from_be_bytes(raw[at + 2..at + 10].try_into()?) as usize, at + 10),
            126 | 127 => break,
            n => (n, at + 2),
        };
        if raw.len() < start + size {
            break;
        }
        if opcode <= 2 {
            out.extend_from_slice(&raw[start..start + size]);
        }
        at = start + size;
    }
    Ok(text(&out))
}

/// `/containers/(id)/attach/ws` speaks websocket and sends the output with no 8-byte headers.
pub async fn api_websocket(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("websocket");
    cleaning(&e, &[&name], async {
        detach(&e, &name, &[IMAGE, "sh", "-c", "while :; do echo over-websocket; sleep 0.2; done"]).await?;
        let headers = "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\
            Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nOrigin: http://localhost\r\n";
        let path = format!("/containers/{name}/attach/ws?stream=1&stdout=1");
        let mut socket = hijack(&e, "GET", &path, headers).await?;
        ensure!(socket.status() == 101, "the websocket handshake answered {}", socket.head);
        let raw =
            socket.read_until(SETTLE, |r| websocket_payloads(r).is_ok_and(|t| t.contains("over-websocket"))).await?;
        let payload = websocket_payloads(raw)?;
        ensure!(payload.starts_with("over-websocket"), "the payload is not the bare output: {payload:?}");
        Ok(Outcome::Passed)
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_split_and_refuse() {
        let raw =
            [&[1u8, 0, 0, 0, 0, 0, 0, 3][..], b"out", &[2, 0, 0, 0, 0, 0, 0, 2], b"er", &[1, 0, 0, 0, 0, 0, 0, 9]]
                .concat();
        let frames = frames(&raw).unwrap();
        assert_eq!(frames, vec![(1, b"out".to_vec()), (2, b"er".to_vec())]);
        assert!(super::frames(b"plain text, no header").is_err());
    }

    #[test]
    fn websocket_text_frames() {
        let raw = [&[0x81u8, 5][..], b"hello", &[0x82, 3], b"abc", &[0x81, 126, 0]].concat();
        assert_eq!(websocket_payloads(&raw).unwrap(), "helloabc");
        assert!(websocket_payloads(&[0x81, 0x85, 0, 0, 0, 0]).is_err());
    }
}
