//! The one outgoing HTTP call the registry makes: asking its index whether a token is good
//! (5.4.1 §2.1 step 4, §2.2 step 4, §2.3 step 4). Plain HTTP/1.1, one request per connection.

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use std::io;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(15);
const MAX_ANSWER: usize = 16 << 20;

/// An answer from the index.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub body: Bytes,
}

/// Where an index is: `http://host:port[/prefix]`.
#[derive(Debug, Clone)]
pub struct IndexUrl {
    authority: String,
    prefix: String,
}

impl IndexUrl {
    pub fn parse(url: &str) -> Option<IndexUrl> {
        let rest = url.strip_prefix("http://")?;
        let (authority, prefix) = rest.split_once('/').map_or((rest, ""), |(a, p)| (a, p));
        let prefix = prefix.trim_end_matches('/');
        let prefix = if prefix.is_empty() { String::new() } else { format!("/{prefix}") };
        (!authority.is_empty()).then(|| IndexUrl { authority: authority.to_string(), prefix })
    }

    /// Sends one request; `path` starts with `/v1/`.
    pub async fn call(&self, method: Method, path: &str, headers: &[(&str, &str)]) -> io::Result<Answer> {
        let uri = format!("{}{path}", self.prefix);
        tokio::time::timeout(TIMEOUT, self.exchange(method, &uri, headers)).await.map_err(|_| {
            io::Error::new(io::ErrorKind::TimedOut, format!("the index at {} did not answer", self.authority))
        })?
    }

    async fn exchange(&self, method: Method, uri: &str, headers: &[(&str, &str)]) -> io::Result<Answer> {
        let stream = tokio::net::TcpStream::connect(&self.authority).await?;
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(io::Error::other)?;
        tokio::spawn(connection);
        let mut request = Request::builder().method(method).uri(uri).header("host", &self.authority);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request.body(Full::new(Bytes::new())).map_err(io::Error::other)?;
        let response = sender.send_request(request).await.map_err(io::Error::other)?;
        let (parts, body) = response.into_parts();
        let body = http_body_util::Limited::new(body, MAX_ANSWER).collect().await.map_err(io::Error::other)?.to_bytes();
        Ok(Answer { status: parts.status, body })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_http_urls_only() {
        let url = IndexUrl::parse("http://127.0.0.1:5001/").unwrap();
        assert_eq!((url.authority.as_str(), url.prefix.as_str()), ("127.0.0.1:5001", ""));
        let url = IndexUrl::parse("http://index:80/api/").unwrap();
        assert_eq!((url.authority.as_str(), url.prefix.as_str()), ("index:80", "/api"));
        assert!(IndexUrl::parse("https://index").is_none());
        assert!(IndexUrl::parse("http://").is_none());
    }
}
