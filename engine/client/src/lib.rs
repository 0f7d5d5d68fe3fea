//! A small Remote API client: it dials the daemon named by `-H` or `DOCKER_HOST` (unix or tcp),
//! sends one request per connection, and maps error answers to their `{"message"}` text.
//! The berth CLI and the conformance suite both talk to engines through it.

use berth_api::{ApiVersion, ErrorResponse, Host};
use bytes::Bytes;
use futures_util::StreamExt;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Frame;
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use serde::de::DeserializeOwned;
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("{0}")]
    Host(#[from] berth_api::HostError),
    #[error("cannot use file descriptor address {0} as a client: give unix:// or tcp://")]
    FdHost(String),
    #[error("cannot connect to the daemon at {host}: {source}. Is the daemon running there?")]
    Connect { host: String, source: std::io::Error },
    #[error("lost the connection to the daemon at {host}: {source}")]
    Http { host: String, source: hyper::Error },
    #[error("bad request to the daemon: {0}")]
    Request(#[from] http::Error),
    #[error("the daemon answered {status}: {message}")]
    Api { status: StatusCode, message: String },
    #[error("the daemon's answer is not the JSON expected: {0}")]
    Json(#[from] serde_json::Error),
}

impl ClientError {
    /// The HTTP status of an error answer from the daemon, if this is one.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            ClientError::Api { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// A taken-over connection: two-way, or the output only.
pub enum Hijacked {
    Stream { io: TokioIo<hyper::upgrade::Upgraded>, content_type: String },
    Body { body: Incoming, content_type: String },
}

/// A whole answer: status, headers and the collected body.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    /// The body parsed as JSON.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_slice(&self.body)
    }

    /// A header's value as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// A client for one daemon endpoint.
#[derive(Debug, Clone)]
pub struct Client {
    host: Host,
    /// The `/vX.Y` prefix put on every path, once known.
    version: Option<ApiVersion>,
}

impl Client {
    pub fn new(host: Host) -> Result<Client, ClientError> {
        if let Host::Fd(_) = host {
            return Err(ClientError::FdHost(host.to_string()));
        }
        Ok(Client { host, version: None })
    }

    /// The endpoint named by the last `-H` given, else `DOCKER_HOST`, else `default_unix`.
    pub fn from_flags(hosts: &[String], default_unix: &Path) -> Result<Client, ClientError> {
        let env = std::env::var("DOCKER_HOST").ok();
        let text = hosts.last().map(String::as_str).or(env.as_deref()).unwrap_or("");
        Client::new(Host::parse(text, default_unix)?)
    }

    pub fn host(&self) -> &Host {
        &self.host
    }

    /// Puts `/v{version}` in front of every later path.
    pub fn with_version(mut self, version: ApiVersion) -> Client {
        self.version = Some(version);
        self
    }

    pub fn version(&self) -> Option<ApiVersion> {
        self.version
    }

    /// Asks the daemon which API version it speaks and settles on the newest both know.
    pub async fn negotiate(self) -> Result<Client, ClientError> {
        let reply = self.call(Method::GET, "/_ping", None).await?;
        let server = reply.header("api-version").and_then(|v| v.parse::<ApiVersion>().ok());
        let version = server.map_or(ApiVersion::MIN, |v| v.min(ApiVersion::CURRENT));
        Ok(self.with_version(version))
    }

    fn full_path(&self, path: &str) -> String {
        match self.version {
            Some(v) if !path.starts_with("/_ping") => format!("/v{v}{path}"),
            _ => path.to_string(),
        }
    }

    /// Sends a request whose path is used exactly as given (no version prefix).
    pub async fn send(&self, mut request: Request<RequestBody>) -> Result<Response<Incoming>, ClientError> {
        request.headers_mut().entry(http::header::HOST).or_insert(HeaderValue::from_static("localhost"));
        let mut sender = self.connect().await?;
        sender.send_request(request).await.map_err(|source| self.http_error(source))
    }

    /// Sends `method path` with an optional JSON body and collects the whole answer, whatever
    /// its status.
    pub async fn call(&self, method: Method, path: &str, body: Option<Bytes>) -> Result<Reply, ClientError> {
        let content_type = body.is_some().then_some("application/json");
        let response = self.request(method, path, body_from_bytes(body.unwrap_or_default()), content_type).await?;
        self.collect(response).await
    }

    /// Sends `method path` (version prefix added) with any body.
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        body: RequestBody,
        content_type: Option<&str>,
    ) -> Result<Response<Incoming>, ClientError> {
        let mut builder = Request::builder().method(method).uri(self.full_path(path));
        if let Some(content_type) = content_type {
            builder = builder.header(http::header::CONTENT_TYPE, content_type);
        }
        self.send(builder.body(body)?).await
    }

    /// Like [`request`](Self::request), but an error answer becomes `ClientError::Api`; the
    /// body of a success is left to stream.
    pub async fn stream(
        &self,
        method: Method,
        path: &str,
        body: RequestBody,
        content_type: Option<&str>,
    ) -> Result<Response<Incoming>, ClientError> {
        let response = self.request(method, path, body, content_type).await?;
        if response.status().is_success() {
            return Ok(response);
        }
        Err(api_error(self.collect(response).await?))
    }

    /// Sends a request that asks to take the connection over (attach, exec start). On 101 the
    /// raw two-way stream is returned; a server that answers 200 instead gives a one-way
    /// stream (its body), returned as `Hijacked::Body`.
    pub async fn hijack(&self, method: Method, path: &str, body: Option<Bytes>) -> Result<Hijacked, ClientError> {
        let request = Request::builder()
            .method(method)
            .uri(self.full_path(path))
            .header(http::header::CONNECTION, "Upgrade")
            .header(http::header::UPGRADE, "tcp")
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(body_from_bytes(body.unwrap_or_default()))?;
        let mut response = self.send(request).await?;
        let content_type =
            response.headers().get(http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        match response.status() {
            StatusCode::SWITCHING_PROTOCOLS => {
                let upgraded = hyper::upgrade::on(&mut response).await.map_err(|source| self.http_error(source))?;
                Ok(Hijacked::Stream { io: TokioIo::new(upgraded), content_type })
            }
            status if status.is_success() => Ok(Hijacked::Body { body: response.into_body(), content_type }),
            _ => Err(api_error(self.collect(response).await?)),
        }
    }

    async fn collect(&self, response: Response<Incoming>) -> Result<Reply, ClientError> {
        let (parts, body) = response.into_parts();
        let body = body.collect().await.map_err(|source| self.http_error(source))?.to_bytes();
        Ok(Reply { status: parts.status, headers: parts.headers, body })
    }

    /// `GET path`, expecting a 2xx JSON answer.
    pub async fn get_json<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        let reply = self.call(Method::GET, path, None).await?;
        Ok(check(reply)?.json()?)
    }

    async fn connect(&self) -> Result<SendRequest<RequestBody>, ClientError> {
        let connect_error = |source| ClientError::Connect { host: self.host.to_string(), source };
        let sender = match &self.host {
            Host::Unix(path) => handshake(tokio::net::UnixStream::connect(path).await.map_err(connect_error)?).await,
            Host::Tcp { host, port } => {
                handshake(tokio::net::TcpStream::connect((host.as_str(), *port)).await.map_err(connect_error)?).await
            }
            Host::Fd(_) => return Err(ClientError::FdHost(self.host.to_string())),
        };
        sender.map_err(|source| self.http_error(source))
    }

    fn http_error(&self, source: hyper::Error) -> ClientError {
        ClientError::Http { host: self.host.to_string(), source }
    }
}

/// Starts HTTP/1.1 on a fresh connection; the connection is driven by its own task, which
/// ends when the answer is read or the daemon hangs up (the request's future reports errors).
async fn handshake<S>(stream: S) -> Result<SendRequest<RequestBody>, hyper::Error>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = connection.with_upgrades().await;
    });
    Ok(sender)
}

/// The body of a request: whole, or streamed from a reader.
pub type RequestBody = UnsyncBoxBody<Bytes, std::io::Error>;

pub fn body_from_bytes(bytes: Bytes) -> RequestBody {
    Full::new(bytes).map_err(|never| match never {}).boxed_unsync()
}

/// Streams a blocking reader (a file, standard input) as a request body, in 256 KiB chunks.
pub fn body_from_reader(mut reader: impl std::io::Read + Send + 'static) -> RequestBody {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(8);
    std::thread::spawn(move || loop {
        let mut chunk = vec![0u8; 256 * 1024];
        let sent = match reader.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => {
                chunk.truncate(n);
                tx.blocking_send(Ok(Bytes::from(chunk)))
            }
            Err(e) => {
                let _ = tx.blocking_send(Err(e));
                break;
            }
        };
        if sent.is_err() {
            break;
        }
    });
    let stream = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx)).map(|chunk| chunk.map(Frame::data));
    StreamBody::new(stream).boxed_unsync()
}

/// Turns a non-2xx answer into `ClientError::Api` carrying the daemon's message.
pub fn check(reply: Reply) -> Result<Reply, ClientError> {
    // 304: already in the state asked for (a started container started again), not an error.
    if reply.status.is_success() || reply.status == StatusCode::NOT_MODIFIED {
        Ok(reply)
    } else {
        Err(api_error(reply))
    }
}

/// The daemon's message from an error answer: `{"message"}`, or the body as text (API < 1.23).
fn api_error(reply: Reply) -> ClientError {
    let message = match serde_json::from_slice::<ErrorResponse>(&reply.body) {
        Ok(e) => e.message,
        Err(_) => String::from_utf8_lossy(&reply.body).trim().to_string(),
    };
    ClientError::Api { status: reply.status, message }
}
