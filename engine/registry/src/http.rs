//! HTTP plumbing shared by the servers: the response body (whole or streamed from a file),
//! response building, and reading what a request carries (headers, query, Basic credentials,
//! cookies, bounded bodies).

use base64::Engine as _;
use bytes::Bytes;
use http::request::Parts;
use http::{header, HeaderName, HeaderValue, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::{Frame, Incoming, SizeHint};
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::sync::mpsc;

/// A response body: nothing, one buffer, or chunks produced by a task (a file being read).
pub enum Body {
    Empty,
    Full(Option<Bytes>),
    Stream { chunks: mpsc::Receiver<io::Result<Bytes>>, remaining: u64 },
}

impl Body {
    pub fn full(bytes: impl Into<Bytes>) -> Body {
        Body::Full(Some(bytes.into()))
    }
}

impl hyper::body::Body for Body {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        match self.get_mut() {
            Body::Empty => Poll::Ready(None),
            Body::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            Body::Stream { chunks, remaining } => match chunks.poll_recv(cx) {
                Poll::Ready(Some(Ok(chunk))) => {
                    *remaining = remaining.saturating_sub(chunk.len() as u64);
                    Poll::Ready(Some(Ok(Frame::data(chunk))))
                }
                Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e))),
                Poll::Ready(None) => Poll::Ready(None),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Body::Empty => true,
            Body::Full(bytes) => bytes.is_none(),
            Body::Stream { .. } => false,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Body::Empty => SizeHint::with_exact(0),
            Body::Full(bytes) => SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64)),
            Body::Stream { remaining, .. } => SizeHint::with_exact(*remaining),
        }
    }
}

/// Building responses step by step.
pub trait ResponseExt: Sized {
    fn with_header(self, name: impl TryInto<HeaderName>, value: impl AsRef<str>) -> Self;
}

impl ResponseExt for Response<Body> {
    /// Sets a header; a value that is not a valid header value is left out.
    fn with_header(mut self, name: impl TryInto<HeaderName>, value: impl AsRef<str>) -> Self {
        if let (Ok(name), Ok(value)) = (name.try_into(), HeaderValue::from_str(value.as_ref())) {
            self.headers_mut().insert(name, value);
        }
        self
    }
}

pub fn response(status: StatusCode, body: Body) -> Response<Body> {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response
}

/// A JSON answer.
pub fn json(status: StatusCode, value: &impl serde::Serialize) -> Response<Body> {
    let bytes = serde_json::to_vec(value).unwrap_or_else(|_| b"null".to_vec());
    json_bytes(status, bytes)
}

/// An answer whose body is already JSON text.
pub fn json_bytes(status: StatusCode, bytes: impl Into<Bytes>) -> Response<Body> {
    response(status, Body::full(bytes)).with_header(header::CONTENT_TYPE, "application/json")
}

pub fn empty(status: StatusCode) -> Response<Body> {
    response(status, Body::Empty)
}

/// A header as text, when present and readable.
pub fn header(parts: &Parts, name: impl header::AsHeaderName) -> Option<&str> {
    parts.headers.get(name).and_then(|v| v.to_str().ok())
}

/// Whether the client asked for a token (`X-Docker-Token: true`).
pub fn wants_token(parts: &Parts) -> bool {
    header(parts, "x-docker-token").is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
}

/// The decoded query parameters, in order.
pub fn query(parts: &Parts) -> Vec<(String, String)> {
    let Some(raw) = parts.uri.query() else { return Vec::new() };
    raw.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(name), percent_decode(value))
        })
        .collect()
}

/// The last value of a query parameter.
pub fn query_value(query: &[(String, String)], name: &str) -> Option<String> {
    query.iter().rev().find(|(n, _)| n == name).map(|(_, v)| v.clone())
}

/// Decodes `%XX` escapes and `+` (a space in query strings); bad escapes are kept as they are.
pub fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%').then(|| text.get(i + 1..i + 3)).flatten();
        match (bytes[i], escaped.and_then(|hex| u8::from_str_radix(hex, 16).ok())) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (b'+', _) => {
                out.push(b' ');
                i += 1;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Credentials from `Authorization: Basic ...`; `Some(Err)` when the header is there but unreadable.
pub fn basic_credentials(parts: &Parts) -> Option<Result<(String, String), ()>> {
    let value = header(parts, header::AUTHORIZATION)?;
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).map_err(|_| ());
    let text = decoded.and_then(|bytes| String::from_utf8(bytes).map_err(|_| ()));
    Some(text.and_then(|t| t.split_once(':').map(|(u, p)| (u.to_string(), p.to_string())).ok_or(())))
}

/// The value of an `Authorization: Token ...` header.
pub fn token_authorization(parts: &Parts) -> Option<&str> {
    let value = header(parts, header::AUTHORIZATION)?.trim();
    let (scheme, rest) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("token").then_some(rest.trim())
}

/// The value of one cookie sent with the request.
pub fn cookie(parts: &Parts, name: &str) -> Option<String> {
    parts.headers.get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok()).find_map(|line| {
        line.split(';').find_map(|pair| {
            let (n, v) = pair.trim().split_once('=')?;
            (n == name).then(|| v.trim_matches('"').to_string())
        })
    })
}

/// Why a request body could not be read whole.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("the request body is larger than {0} bytes")]
    TooLarge(usize),
    #[error("the request body could not be read: {0}")]
    Read(#[from] hyper::Error),
}

/// Reads a small body (JSON, manifests) whole, refusing more than `limit` bytes.
pub async fn read_limited(mut body: Incoming, limit: usize) -> Result<Bytes, BodyError> {
    let mut collected = bytes::BytesMut::new();
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame?.into_data() {
            if collected.len() + data.len() > limit {
                return Err(BodyError::TooLarge(limit));
            }
            collected.extend_from_slice(&data);
        }
    }
    Ok(collected.freeze())
}

/// The `host:port` part of an address given as `http://host:port/...` or `host:port`.
pub fn endpoint_host(address: &str) -> &str {
    let rest = address.split_once("://").map_or(address, |(_, rest)| rest);
    rest.split('/').next().unwrap_or(rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(headers: &[(&str, &str)], uri: &str) -> Parts {
        let mut request = http::Request::builder().uri(uri);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.body(()).unwrap().into_parts().0
    }

    #[test]
    fn decodes_query_escapes() {
        let p = parts(&[], "/x?digest=sha256%3Aab&q=a+b&bad=%zz");
        let q = query(&p);
        assert_eq!(query_value(&q, "digest").as_deref(), Some("sha256:ab"));
        assert_eq!(query_value(&q, "q").as_deref(), Some("a b"));
        assert_eq!(query_value(&q, "bad").as_deref(), Some("%zz"));
    }

    #[test]
    fn reads_basic_credentials_and_cookies() {
        let p = parts(&[("authorization", "Basic Zm9vYmFyOnRvdG86NDI="), ("cookie", "a=1; session=abc")], "/");
        assert_eq!(basic_credentials(&p), Some(Ok(("foobar".into(), "toto:42".into()))));
        assert_eq!(cookie(&p, "session").as_deref(), Some("abc"));
        assert_eq!(basic_credentials(&parts(&[("authorization", "Basic !!!")], "/")), Some(Err(())));
    }

    #[test]
    fn endpoint_host_strips_scheme_and_path() {
        assert_eq!(endpoint_host("http://127.0.0.1:5000/v1/"), "127.0.0.1:5000");
        assert_eq!(endpoint_host("registry:5000"), "registry:5000");
    }
}
