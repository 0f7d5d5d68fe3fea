//! Hijacked streams: `attach` (API 1.6's framing unless the container has a tty; a raw merged
//! stream for older clients) and `exec`. A client that asks to upgrade gets 101 and a two-way
//! connection; one that does not gets the output as the response body.

use super::containers::{id_param, read_body};
use super::response::{empty, json, ApiError, Body, Reply};
use super::Ctx;
use crate::engine::Engine;
use berth_api::containers::{ExecConfig, ExecInspect, ExecStart, ProcessConfig};
use berth_api::stdcopy::Demux;
use http::{header, HeaderValue, Response, StatusCode};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Ctrl-p Ctrl-q: the key sequence that detaches a client without stopping the container.
const DEFAULT_DETACH: &[u8] = &[0x10, 0x11];

/// Where a bridge's container side comes from.
enum Live {
    Now(tokio::net::UnixStream),
    Later(crate::containers::attach::LiveStream),
}

impl Live {
    async fn connect(self) -> Option<tokio::net::UnixStream> {
        match self {
            Live::Now(stream) => Some(stream),
            Live::Later(pending) => pending.connect().await,
        }
    }
}

/// How the monitor's framed output reaches this client.
#[derive(Debug, Clone, Copy)]
struct Shape {
    framed: bool,
}

/// Parses `--detach-keys` (`ctrl-p,ctrl-q`, `a,b`).
fn detach_keys(text: &str) -> Result<Vec<u8>, ApiError> {
    if text.is_empty() {
        return Ok(DEFAULT_DETACH.to_vec());
    }
    text.split(',')
        .map(|key| match key.strip_prefix("ctrl-") {
            Some(k) if k.len() == 1 => Ok(k.as_bytes()[0].to_ascii_lowercase().wrapping_sub(b'a' - 1) & 0x1f),
            Some("@") => Ok(0),
            Some(_) => Err(ApiError::bad_request(format!("invalid detach key {key:?}"))),
            None if key.len() == 1 => Ok(key.as_bytes()[0]),
            None => Err(ApiError::bad_request(format!("invalid detach key {key:?}"))),
        })
        .collect()
}

pub async fn attach(mut ctx: Ctx) -> Result<Reply, ApiError> {
    let id = id_param(&ctx)?;
    let record = ctx.engine.containers.get(&id)?;
    let q = &ctx.query;
    let (logs, stream) = (q.bool("logs", false)?, q.bool("stream", false)?);
    let (stdin, stdout, stderr) = (q.bool("stdin", false)?, q.bool("stdout", false)?, q.bool("stderr", false)?);
    if !stdin && !stdout && !stderr {
        return Err(ApiError::bad_request("Bad parameters: you must choose at least one stream"));
    }
    let keys = detach_keys(q.get("detachKeys").unwrap_or(""))?;
    let shape = Shape { framed: !record.config.tty && ctx.version.at_least(1, 6) };
    let past = if logs { past_output(&ctx.engine, &record, stdout, stderr, shape).await } else { Vec::new() };
    let live = if stream { Some(Live::Later(ctx.engine.attach_streams(&id, stdin, stdout, stderr)?)) } else { None };
    ctx.engine.events.container("attach", &id, &ctx.engine.event_image(&record), &record.name, &[]);
    let upgrade = ctx.head.extensions.remove::<OnUpgrade>().filter(|_| wants_upgrade(&ctx));
    Ok(hijack(upgrade, past, live, stdin, keys, shape))
}

fn wants_upgrade(ctx: &Ctx) -> bool {
    ctx.head.headers.get(header::UPGRADE).is_some()
}

/// The container's earlier output from its log, shaped for this client.
async fn past_output(
    engine: &Arc<Engine>,
    record: &crate::containers::Container,
    stdout: bool,
    stderr: bool,
    shape: Shape,
) -> Vec<u8> {
    let path = engine.containers.paths(&record.id).log(&record.id);
    let options = crate::containers::logs::Options { stdout, stderr, ..Default::default() };
    tokio::task::spawn_blocking(move || {
        let mut out = Vec::new();
        let _ = crate::containers::logs::read(&path, &options, &|| false, &mut |line| {
            let (stream, data) = crate::containers::logs::render(line, false);
            out.extend(if shape.framed { berth_api::stdcopy::frame(stream, &data) } else { data });
            true
        });
        out
    })
    .await
    .unwrap_or_default()
}

/// Answers 101 and bridges the upgraded connection, or streams the output as the body.
fn hijack(
    upgrade: Option<OnUpgrade>,
    past: Vec<u8>,
    live: Option<Live>,
    stdin: bool,
    keys: Vec<u8>,
    shape: Shape,
) -> Reply {
    // API 1.42 named the framed stream multiplexed-stream; up to 1.41 both are raw-stream.
    let content_type = "application/vnd.docker.raw-stream";
    match upgrade {
        Some(on_upgrade) => {
            tokio::spawn(async move {
                match on_upgrade.await {
                    Ok(upgraded) => bridge(TokioIo::new(upgraded), past, live, stdin, keys, shape).await,
                    Err(e) => tracing::debug!("attach upgrade failed: {e}"),
                }
            });
            let mut reply = empty(StatusCode::SWITCHING_PROTOCOLS);
            let headers = reply.headers_mut();
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
            headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
            headers.insert(header::UPGRADE, HeaderValue::from_static("tcp"));
            reply
        }
        None => {
            let (near, far) = tokio::io::duplex(64 * 1024);
            tokio::spawn(bridge(near, past, live, false, keys, shape));
            let chunks = futures_util::stream::unfold(far, |mut reader| async move {
                let mut buf = vec![0u8; 32 * 1024];
                match reader.read(&mut buf).await {
                    Ok(0) | Err(_) => None,
                    Ok(n) => {
                        buf.truncate(n);
                        Some((Ok::<_, std::io::Error>(hyper::body::Frame::data(bytes::Bytes::from(buf))), reader))
                    }
                }
            });
            body_reply(http_body_util::BodyExt::boxed_unsync(http_body_util::StreamBody::new(chunks)), content_type)
        }
    }
}

fn body_reply(body: Body, content_type: &'static str) -> Reply {
    let mut reply = Response::new(body);
    reply.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    reply
}

/// Copies the monitor's output to the client (reshaped) and the client's input to the
/// monitor, until either side ends or the client types the detach keys.
async fn bridge<C>(client: C, past: Vec<u8>, live: Option<Live>, stdin: bool, keys: Vec<u8>, shape: Shape)
where
    C: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut client_read, mut client_write) = tokio::io::split(client);
    if client_write.write_all(&past).await.is_err() {
        return;
    }
    let live = match live {
        Some(live) => live.connect().await,
        None => None,
    };
    let Some(live) = live else {
        let _ = client_write.shutdown().await;
        return;
    };
    let (mut monitor_read, mut monitor_write) = live.into_split();
    let output = async move {
        let mut demux = Demux::default();
        let mut buf = vec![0u8; 32 * 1024];
        while let Ok(n) = monitor_read.read(&mut buf).await {
            if n == 0 {
                break;
            }
            let bytes: Vec<u8> = if shape.framed {
                buf[..n].to_vec()
            } else {
                demux.push(&buf[..n]).into_iter().flat_map(|(_, data)| data).collect()
            };
            if client_write.write_all(&bytes).await.is_err() {
                break;
            }
        }
        let _ = client_write.shutdown().await;
    };
    let input = async move {
        if !stdin {
            return std::future::pending::<()>().await;
        }
        let mut buf = vec![0u8; 8 * 1024];
        let mut matched = 0;
        while let Ok(n) = client_read.read(&mut buf).await {
            if n == 0 {
                break;
            }
            let (forward, detached) = scan_detach(&buf[..n], &keys, &mut matched);
            if monitor_write.write_all(&forward).await.is_err() || detached {
                return;
            }
        }
        let _ = monitor_write.shutdown().await;
        std::future::pending::<()>().await
    };
    tokio::select! {
        _ = output => {},
        _ = input => {},
    }
}

/// Passes input through until the detach sequence is complete; bytes of a partial match are
/// held back and released if the sequence breaks.
fn scan_detach(input: &[u8], keys: &[u8], matched: &mut usize) -> (Vec<u8>, bool) {
    let mut out = Vec::with_capacity(input.len());
    for &b in input {
        if keys.get(*matched) == Some(&b) {
            *matched += 1;
            if *matched == keys.len() {
                return (out, true);
            }
            continue;
        }
        out.extend_from_slice(&keys[..*matched]);
        *matched = 0;
        if keys.first() == Some(&b) {
            *matched = 1;
        } else {
            out.push(b);
        }
    }
    (out, false)
}

/// `POST /containers/(id)/exec`: records what to run.
pub async fn exec_create(mut ctx: Ctx) -> Result<Reply, ApiError> {
    let id = id_param(&ctx)?;
    let body = read_body(&mut ctx).await?;
    let config: ExecConfig = super::containers::parse_json(&body)?;
    if config.cmd.as_ref().is_none_or(Vec::is_empty) {
        return Err(ApiError::bad_request("No exec command specified"));
    }
    let exec_id = ctx.engine.create_exec(&id, config)?;
    json(StatusCode::CREATED, &serde_json::json!({"Id": exec_id}))
}

/// `POST /exec/(id)/start`: runs it, hijacked unless detached.
pub async fn exec_start(mut ctx: Ctx) -> Result<Reply, ApiError> {
    let exec_id = ctx.params.get("id").unwrap_or_default().to_string();
    let body = read_body(&mut ctx).await?;
    let start: ExecStart = super::containers::parse_json(&body)?;
    let (stream, config) = ctx.engine.start_exec(&exec_id).await?;
    if start.detach {
        drop(stream);
        return Ok(empty(StatusCode::OK));
    }
    let shape = Shape { framed: !config.tty };
    let upgrade = ctx.head.extensions.remove::<OnUpgrade>().filter(|_| wants_upgrade(&ctx));
    Ok(hijack(
        upgrade,
        Vec::new(),
        Some(Live::Now(stream)),
        config.attach_stdin,
        detach_keys(&config.detach_keys)?,
        shape,
    ))
}

pub async fn exec_inspect(ctx: Ctx) -> Result<Reply, ApiError> {
    let exec_id = ctx.params.get("id").unwrap_or_default();
    let exec = ctx.engine.exec(exec_id)?;
    let cmd = exec.config.cmd.clone().unwrap_or_default();
    json(
        StatusCode::OK,
        &ExecInspect {
            id: exec.id.clone(),
            running: exec.running,
            exit_code: exec.exit_code,
            process_config: ProcessConfig {
                tty: exec.config.tty,
                entrypoint: cmd.first().cloned().unwrap_or_default(),
                arguments: cmd.iter().skip(1).cloned().collect(),
                privileged: exec.config.privileged,
                user: exec.config.user.clone(),
            },
            open_stdin: exec.config.attach_stdin,
            open_stderr: exec.config.attach_stderr,
            open_stdout: exec.config.attach_stdout,
            can_remove: false,
            container_id: exec.container.clone(),
            detach_keys: exec.config.detach_keys.clone(),
            pid: exec.pid,
        },
    )
}

pub async fn exec_resize(ctx: Ctx) -> Result<Reply, ApiError> {
    let exec_id = ctx.params.get("id").unwrap_or_default().to_string();
    let (h, w) = (ctx.query.int("h")?.unwrap_or(0), ctx.query.int("w")?.unwrap_or(0));
    ctx.engine.resize_exec(&exec_id, h.clamp(0, u16::MAX as i64) as u16, w.clamp(0, u16::MAX as i64) as u16)?;
    Ok(empty(StatusCode::OK))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detach_sequence_is_cut_out_and_partial_matches_released() {
        let mut m = 0;
        assert_eq!(scan_detach(b"ab\x10\x11cd", DEFAULT_DETACH, &mut m), (b"ab".to_vec(), true));
        let mut m = 0;
        assert_eq!(scan_detach(b"a\x10", DEFAULT_DETACH, &mut m), (b"a".to_vec(), false));
        assert_eq!(scan_detach(b"b", DEFAULT_DETACH, &mut m), (b"\x10b".to_vec(), false));
        let mut m = 0;
        assert_eq!(scan_detach(b"\x10", DEFAULT_DETACH, &mut m), (vec![], false));
        assert_eq!(scan_detach(b"\x11", DEFAULT_DETACH, &mut m), (vec![], true));
    }

    #[test]
    fn detach_keys_parse() {
        assert_eq!(detach_keys("ctrl-p,ctrl-q").unwrap(), DEFAULT_DETACH);
        assert_eq!(detach_keys("ctrl-a,x").unwrap(), [1, b'x']);
        assert!(detach_keys("ctrl-long").is_err());
    }
}
