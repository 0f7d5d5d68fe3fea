//! The engine's HTTP client for registries and indexes: plain HTTP/1.1 over TCP (loopback
//! registries and `--index` URLs; berth carries no TLS stack), one connection per request,
//! with the authorization a session has earned (Basic, Bearer, a v1 Token) and its cookies.

use super::DistributionError;
use base64::Engine as _;
use bytes::Bytes;
use futures_util::StreamExt;
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper_util::rt::TokioIo;
use std::io;
use std::sync::Mutex;
use std::time::Duration;

/// A request body: nothing, bytes, or chunks produced elsewhere (sent chunked).
pub type ReqBody = BoxBody<Bytes, io::Error>;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// The largest non-blob answer read into memory (manifests, JSON lists).
pub const MAX_SMALL: usize = 8 << 20;

pub fn empty() -> ReqBody {
    Empty::new().map_err(|never| match never {}).boxed()
}

pub fn full(bytes: impl Into<Bytes>) -> ReqBody {
    Full::new(bytes.into()).map_err(|never| match never {}).boxed()
}

/// A body fed through a channel; the sender ends it by dropping.
pub fn channel(depth: usize) -> (tokio::sync::mpsc::Sender<io::Result<Bytes>>, ReqBody) {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<io::Result<Bytes>>(depth);
    let stream = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx)).map(|c| c.map(Frame::data));
    (tx, BodyExt::boxed(StreamBody::new(stream)))
}

/// How requests of a session are authorized.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Authorization {
    #[default]
    None,
    Basic(String),
    Bearer(String),
    /// A v1 index token: `Token signature=...,repository="...",access=...`.
    Token(String),
}

impl Authorization {
    pub fn basic(username: &str, password: &str) -> Authorization {
        let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
        Authorization::Basic(encoded)
    }

    fn header(&self) -> Option<String> {
        match self {
            Authorization::None => None,
            Authorization::Basic(b) => Some(format!("Basic {b}")),
            Authorization::Bearer(t) => Some(format!("Bearer {t}")),
            Authorization::Token(t) => Some(format!("Token {t}")),
        }
    }
}

/// One server (`host:port`) and what the session has learnt about talking to it.
#[derive(Debug)]
pub struct Server {
    pub authority: String,
    auth: Mutex<Authorization>,
    cookies: Mutex<Vec<String>>,
}

impl Server {
    pub fn new(authority: impl Into<String>) -> Server {
        Server { authority: authority.into(), auth: Mutex::new(Authorization::None), cookies: Mutex::new(Vec::new()) }
    }

    pub fn set_auth(&self, auth: Authorization) {
        *self.auth.lock().unwrap_or_else(|e| e.into_inner()) = auth;
    }

    pub fn auth(&self) -> Authorization {
        self.auth.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.authority)
    }

    /// Sends one request with the session's authorization and cookies.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, String)],
        body: ReqBody,
    ) -> Result<Response<Incoming>, DistributionError> {
        let auth = self.auth().header();
        let cookies = self.cookies.lock().unwrap_or_else(|e| e.into_inner()).join("; ");
        let mut request = Request::builder().method(method).uri(path).header("host", &self.authority);
        request = request.header("user-agent", concat!("berth/", env!("CARGO_PKG_VERSION")));
        if let Some(auth) = auth {
            request = request.header("authorization", auth);
        }
        if !cookies.is_empty() {
            request = request.header("cookie", cookies);
        }
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let request = request.body(body).map_err(|e| DistributionError::Invalid(format!("bad request: {e}")))?;
        let response = exchange(&self.authority, request).await?;
        self.keep_cookies(response.headers());
        Ok(response)
    }

    fn keep_cookies(&self, headers: &HeaderMap) {
        let mut cookies = self.cookies.lock().unwrap_or_else(|e| e.into_inner());
        for value in headers.get_all("set-cookie").iter().filter_map(|v| v.to_str().ok()) {
            let pair = value.split(';').next().unwrap_or_default().trim().to_string();
            let name = pair.split('=').next().unwrap_or_default().to_string();
            cookies.retain(|c| c.split('=').next() != Some(name.as_str()));
            cookies.push(pair);
        }
    }

    /// Sends a request and reads a small answer whole.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, String)],
        body: ReqBody,
    ) -> Result<(StatusCode, HeaderMap, Bytes), DistributionError> {
        let response = self.send(method, path, headers, body).await?;
        let (parts, body) = response.into_parts();
        let bytes = read_small(body, &self.authority).await?;
        Ok((parts.status, parts.headers, bytes))
    }
}

/// Reads a body of at most [`MAX_SMALL`] bytes.
pub async fn read_small(body: Incoming, from: &str) -> Result<Bytes, DistributionError> {
    let limited = http_body_util::Limited::new(body, MAX_SMALL);
    match limited.collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) => Err(DistributionError::Unreachable(format!("cannot read the answer of {from}: {e}"))),
    }
}

async fn exchange(authority: &str, request: Request<ReqBody>) -> Result<Response<Incoming>, DistributionError> {
    let unreachable = |e: &dyn std::fmt::Display| DistributionError::Unreachable(format!("{authority}: {e}"));
    let connect = tokio::net::TcpStream::connect(authority);
    let stream = match tokio::time::timeout(CONNECT_TIMEOUT, connect).await {
        Ok(stream) => stream.map_err(|e| unreachable(&e))?,
        Err(_) => return Err(unreachable(&"the connection timed out")),
    };
    let _ = stream.set_nodelay(true);
    let (mut sender, connection) = hyper::client::conn::http1::Builder::new()
        .handshake(TokioIo::new(stream))
        .await
        .map_err(|e| unreachable(&e))?;
    tokio::spawn(connection);
    sender.send_request(request).await.map_err(|e| unreachable(&e))
}

/// A header as text.
pub fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// A `WWW-Authenticate` challenge: its scheme and parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    pub scheme: String,
    pub params: Vec<(String, String)>,
}

impl Challenge {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// Parses `Bearer realm="...",service="...",scope="..."` (or `Basic realm="..."`).
pub fn parse_challenge(value: &str) -> Option<Challenge> {
    let value = value.trim();
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    let mut params = Vec::new();
    let mut rest = rest.trim();
    while !rest.is_empty() {
        let Some((key, after)) = rest.split_once('=') else { break };
        let key = key.trim().trim_start_matches(',').trim().to_string();
        let after = after.trim_start();
        let (val, remaining) = if let Some(quoted) = after.strip_prefix('"') {
            let end = quoted.find('"')?;
            (quoted[..end].to_string(), &quoted[end + 1..])
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (after[..end].trim().to_string(), &after[end..])
        };
        params.push((key, val));
        rest = remaining.trim_start().trim_start_matches(',').trim_start();
    }
    Some(Challenge { scheme: scheme.to_string(), params })
}

/// `http://host:port/...` split into the authority and the path (with query).
pub fn split_url(url: &str) -> Result<(String, String), DistributionError> {
    if url.starts_with("https://") {
        return Err(DistributionError::Invalid(format!(
            "cannot reach {url}: berth speaks plain http to registries; serve it over http on a local address"
        )));
    }
    let rest = url.strip_prefix("http://").unwrap_or(url);
    let (authority, path) = rest.split_once('/').map_or((rest, "/".to_string()), |(a, p)| (a, format!("/{p}")));
    if authority.is_empty() {
        return Err(DistributionError::Invalid(format!("invalid URL {url:?}: no host")));
    }
    let authority = if authority.contains(':') { authority.to_string() } else { format!("{authority}:80") };
    Ok((authority, path))
}

/// Percent-encodes a query value.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges() {
        let c = parse_challenge(
            r#"Bearer realm="http://127.0.0.1:5001/token",service="registry",scope="repository:a/b:pull,push""#,
        )
        .unwrap();
        assert_eq!(c.scheme, "Bearer");
        assert_eq!(c.param("realm"), Some("http://127.0.0.1:5001/token"));
        assert_eq!(c.param("scope"), Some("repository:a/b:pull,push"));
        let c = parse_challenge(r#"Basic realm="auth required",Token"#);
        assert_eq!(c.map(|c| c.scheme), Some("Basic".to_string()));
    }

    #[test]
    fn urls() {
        assert_eq!(split_url("http://127.0.0.1:5000/v1/").unwrap(), ("127.0.0.1:5000".into(), "/v1/".into()));
        assert_eq!(split_url("index.local").unwrap(), ("index.local:80".into(), "/".into()));
        assert!(split_url("https://x").is_err());
        assert_eq!(escape("a b/c"), "a%20b%2Fc");
    }
}
