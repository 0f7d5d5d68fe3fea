//! `GET /containers/(id)/attach/ws` (API 1.6): the attach stream over a WebSocket — output as
//! binary messages, raw (no 8-byte stream headers), input from the client's messages.

use super::containers::id_param;
use super::response::{empty, ApiError, Reply};
use super::Ctx;
use http::{header, HeaderValue, StatusCode};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use sha1::{Digest, Sha1};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The constant RFC 6455 appends to the client's key.
const ACCEPT_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

pub fn accept_key(key: &str) -> String {
    let digest = Sha1::digest(format!("{key}{ACCEPT_GUID}").as_bytes());
    super::archive::base64(&digest)
}

pub async fn attach(mut ctx: Ctx) -> Result<Reply, ApiError> {
    let id = id_param(&ctx)?;
    let key = ctx.head.headers.get("sec-websocket-key").and_then(|v| v.to_str().ok()).map(String::from);
    let key = key.ok_or_else(|| ApiError::bad_request("not a WebSocket handshake: no Sec-WebSocket-Key"))?;
    let q = &ctx.query;
    let (stdin, stdout, stderr) = (q.bool("stdin", false)?, q.bool("stdout", false)?, q.bool("stderr", false)?);
    let live = ctx.engine.attach_streams(&id, stdin, stdout, stderr)?;
    let upgrade = ctx
        .head
        .extensions
        .remove::<OnUpgrade>()
        .ok_or_else(|| ApiError::bad_request("the connection cannot be upgraded"))?;
    tokio::spawn(async move {
        let (Ok(upgraded), Some(container)) = (upgrade.await, live.connect().await) else { return };
        relay(TokioIo::new(upgraded), container, stdin).await;
    });
    let mut reply = empty(StatusCode::SWITCHING_PROTOCOLS);
    let headers = reply.headers_mut();
    headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    headers.insert(
        "sec-websocket-accept",
        HeaderValue::from_str(&accept_key(&key)).map_err(|e| ApiError::internal(e.to_string()))?,
    );
    Ok(reply)
}

/// One server-to-client frame: FIN, binary, unmasked.
pub fn frame(payload: &[u8]) -> Vec<u8> {
    let mut out = vec![0x82];
    match payload.len() {
        n if n < 126 => out.push(n as u8),
        n if n <= u16::MAX as usize => {
            out.push(126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(payload);
    out
}

async fn relay(ws: TokioIo<hyper::upgrade::Upgraded>, container: tokio::net::UnixStream, stdin: bool) {
    let (mut ws_read, mut ws_write) = tokio::io::split(ws);
    let (mut c_read, mut c_write) = container.into_split();
    let output = async move {
        let mut demux = berth_api::stdcopy::Demux::default();
        let mut buf = vec![0u8; 32 * 1024];
        while let Ok(n) = c_read.read(&mut buf).await {
            if n == 0 {
                break;
            }
            for (_, data) in demux.push(&buf[..n]) {
                if ws_write.write_all(&frame(&data)).await.is_err() {
                    return;
                }
            }
        }
        let _ = ws_write.write_all(&[0x88, 0]).await;
        let _ = ws_write.shutdown().await;
    };
    let input = async move {
        if !stdin {
            return std::future::pending::<()>().await;
        }
        while let Ok(Some(payload)) = read_frame(&mut ws_read).await {
            if c_write.write_all(&payload).await.is_err() {
                break;
            }
        }
        let _ = c_write.shutdown().await;
        std::future::pending::<()>().await
    };
    tokio::select! {
        _ = output => {},
        _ = input => {},
    }
}

/// Reads one client frame (masked, as clients must send) and returns its payload; `None`
/// at a close frame.
async fn read_frame<R: tokio::io::AsyncRead + Unpin>(r: &mut R) -> std::io::Result<Option<Vec<u8>>> {
    let mut head = [0u8; 2];
    r.read_exact(&mut head).await?;
    let opcode = head[0] & 0x0f;
    let masked = head[1] & 0x80 != 0;
    let len = match head[1] & 0x7f {
        126 => u64::from(r.read_u16().await?),
        127 => r.read_u64().await?,
        n => u64::from(n),
    };
    if len > 16 << 20 {
        return Err(std::io::Error::other("websocket frame too large"));
    }
    let mut mask = [0u8; 4];
    if masked {
        r.read_exact(&mut mask).await?;
    }
    let mut payload = vec![0u8; len as usize];
    r.read_exact(&mut payload).await?;
    if masked {
        for (i, b) in payload.iter_mut().enumerate() {
            *b ^= mask[i % 4];
        }
    }
    Ok(if opcode == 0x8 { None } else { Some(payload) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_key_of_rfc_6455_example() {
        assert_eq!(accept_key("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    }

    #[test]
    fn frame_lengths() {
        assert_eq!(frame(b"hi"), [0x82, 2, b'h', b'i']);
        assert_eq!(&frame(&[0; 200])[..4], &[0x82, 126, 0, 200]);
    }

    #[tokio::test]
    async fn reads_masked_client_frames() {
        let payload = b"ls\n";
        let mask = [1u8, 2, 3, 4];
        let mut bytes = vec![0x82, 0x80 | payload.len() as u8];
        bytes.extend_from_slice(&mask);
        bytes.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        bytes.extend_from_slice(&[0x88, 0x80, 0, 0, 0, 0]);
        let mut reader = &bytes[..];
        assert_eq!(read_frame(&mut reader).await.unwrap(), Some(payload.to_vec()));
        assert_eq!(read_frame(&mut reader).await.unwrap(), None);
    }
}
