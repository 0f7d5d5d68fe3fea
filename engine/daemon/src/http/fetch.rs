//! Fetching a URL the daemon was given (`import http://...`, 5.1.14): plain HTTP/1.1 over TCP,
//! following a few redirects. HTTPS is refused with a clear message: berth carries no TLS
//! stack yet.

use super::response::ApiError;
use http::{Request, StatusCode};
use http_body_util::Empty;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;

/// How many redirects a fetch follows.
const MAX_REDIRECTS: usize = 5;

/// `http://host[:port]/path` split up.
fn split_url(url: &str) -> Result<(String, u16, String), ApiError> {
    if url.starts_with("https://") {
        return Err(ApiError::bad_request(format!(
            "cannot fetch {url}: https is not supported yet; serve it over http or send it as the request body"
        )));
    }
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| ApiError::bad_request(format!("invalid URL {url:?}: it must start with http://")))?;
    let (authority, path) = rest.split_once('/').map_or((rest, "/".to_string()), |(a, p)| (a, format!("/{p}")));
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || authority.starts_with('[') => (
            h.trim_matches(['[', ']']).to_string(),
            p.parse().map_err(|_| ApiError::bad_request(format!("invalid port in {url:?}")))?,
        ),
        _ => (authority.to_string(), 80),
    };
    if host.is_empty() {
        return Err(ApiError::bad_request(format!("invalid URL {url:?}: no host")));
    }
    Ok((host, port, path))
}

/// GETs `url`, returning the body of its final answer once it is 200.
pub async fn get(url: &str) -> Result<Incoming, ApiError> {
    let mut url = url.to_string();
    for _ in 0..=MAX_REDIRECTS {
        let (host, port, path) = split_url(&url)?;
        let unreachable = |e: &dyn std::fmt::Display| {
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("cannot fetch {url}: {e}"))
        };
        let stream = tokio::net::TcpStream::connect((host.as_str(), port)).await.map_err(|e| unreachable(&e))?;
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(|e| unreachable(&e))?;
        tokio::spawn(connection);
        let request = Request::get(path)
            .header(http::header::HOST, format!("{host}:{port}"))
            .body(Empty::<bytes::Bytes>::new())
            .map_err(|e| unreachable(&e))?;
        let response = sender.send_request(request).await.map_err(|e| unreachable(&e))?;
        let status = response.status();
        if status.is_redirection() {
            let location = response
                .headers()
                .get(http::header::LOCATION)
                .and_then(|l| l.to_str().ok())
                .unwrap_or_default()
                .to_string();
            url = if location.starts_with('/') { format!("http://{host}:{port}{location}") } else { location };
            continue;
        }
        if status != StatusCode::OK {
            return Err(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("cannot fetch {url}: the server answered {status}"),
            ));
        }
        return Ok(response.into_body());
    }
    Err(ApiError::bad_request(format!("cannot fetch {url}: more than {MAX_REDIRECTS} redirects")))
}

#[cfg(test)]
mod tests {
    use super::split_url;

    #[test]
    fn urls() {
        assert_eq!(split_url("http://127.0.0.1:8080/a/b.tgz").unwrap(), ("127.0.0.1".into(), 8080, "/a/b.tgz".into()));
        assert_eq!(split_url("http://example.com").unwrap(), ("example.com".into(), 80, "/".into()));
        assert!(split_url("https://example.com/x").unwrap_err().message.contains("https"));
        assert!(split_url("ftp://x/y").is_err());
    }
}
