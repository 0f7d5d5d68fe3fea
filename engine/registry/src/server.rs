//! Listening sockets and the connection loop shared by the registry and the index: HTTP/1.1
//! over tcp or a unix socket, with a graceful stop.

use crate::http::Body;
use crate::RegistryError;
use http::{Request, Response};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

/// How long open connections may take to finish once a stop is asked for.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);
/// hyper's read buffer limit: large, so that uploads arrive in large frames.
const MAX_READ_BUFFER: usize = 4 << 20;

/// What serves requests: the registry or the index.
pub(crate) trait Service: Send + Sync + 'static {
    fn call(self: Arc<Self>, request: Request<Incoming>) -> impl Future<Output = Response<Body>> + Send;
}

/// A bound socket, ready to serve. A unix socket's file is removed when the server stops.
#[derive(Debug)]
pub enum Listener {
    Tcp(std::net::TcpListener),
    Unix { listener: std::os::unix::net::UnixListener, path: PathBuf },
}

impl Listener {
    /// Binds `host:port`, or a unix socket for `/path` and `unix:///path` (a stale socket file is replaced).
    pub fn bind(listen: &str) -> Result<Listener, RegistryError> {
        let error = |source| RegistryError::Listen { listen: listen.to_string(), source };
        if let Some(path) = listen.strip_prefix("unix://").or(listen.starts_with('/').then_some(listen)) {
            let path = PathBuf::from(path);
            if path.exists() && std::os::unix::net::UnixStream::connect(&path).is_err() {
                std::fs::remove_file(&path).map_err(error)?;
            }
            let listener = std::os::unix::net::UnixListener::bind(&path).map_err(error)?;
            listener.set_nonblocking(true).map_err(error)?;
            return Ok(Listener::Unix { listener, path });
        }
        let address = listen.strip_prefix("tcp://").unwrap_or(listen);
        let listener = std::net::TcpListener::bind(address).map_err(error)?;
        listener.set_nonblocking(true).map_err(error)?;
        Ok(Listener::Tcp(listener))
    }

    /// The bound tcp address (`None` for a unix socket).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        match self {
            Listener::Tcp(listener) => listener.local_addr().ok(),
            Listener::Unix { .. } => None,
        }
    }

    fn describe(&self) -> String {
        match self {
            Listener::Tcp(listener) => listener.local_addr().map_or("tcp".into(), |a| a.to_string()),
            Listener::Unix { path, .. } => format!("unix://{}", path.display()),
        }
    }
}

/// A running server.
#[derive(Debug)]
pub struct Server {
    address: Option<SocketAddr>,
    description: String,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Server {
    /// The tcp address the server answers on (`None` on a unix socket).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.address
    }

    /// `http://host:port` for a tcp server.
    pub fn url(&self) -> Option<String> {
        self.address.map(|a| format!("http://{a}"))
    }

    /// Where the server listens, for logs.
    pub fn describe(&self) -> &str {
        &self.description
    }

    /// Stops accepting, lets open connections finish their current request, and waits.
    pub async fn stop(self) -> Result<(), RegistryError> {
        let _ = self.stop.send(true);
        self.task.await.map_err(|e| RegistryError::Task(e.to_string()))
    }
}

/// Starts serving `listener` with `service` on the current tokio runtime.
pub(crate) fn spawn<S: Service>(listener: Listener, service: S) -> Result<Server, RegistryError> {
    let address = listener.local_addr();
    let description = listener.describe();
    let (stop, stopped) = watch::channel(false);
    let service = Arc::new(service);
    let task = match listener {
        Listener::Tcp(std) => {
            let listen_error = |source| RegistryError::Listen { listen: description.clone(), source };
            let listener = tokio::net::TcpListener::from_std(std).map_err(listen_error)?;
            tokio::spawn(accept_tcp(listener, service, stopped))
        }
        Listener::Unix { listener: std, path } => {
            let listen_error = |source| RegistryError::Listen { listen: description.clone(), source };
            let listener = tokio::net::UnixListener::from_std(std).map_err(listen_error)?;
            tokio::spawn(accept_unix(listener, path, service, stopped))
        }
    };
    Ok(Server { address, description, stop, task })
}

async fn accept_tcp<S: Service>(listener: tokio::net::TcpListener, service: Arc<S>, mut stop: watch::Receiver<bool>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let _ = stream.set_nodelay(true);
                    connections.spawn(serve_connection(stream, service.clone(), stop.clone()));
                }
                Err(e) => accept_failed(e).await,
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    drain(connections).await;
}

async fn accept_unix<S: Service>(
    listener: tokio::net::UnixListener,
    path: PathBuf,
    service: Arc<S>,
    mut stop: watch::Receiver<bool>,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    connections.spawn(serve_connection(stream, service.clone(), stop.clone()));
                }
                Err(e) => accept_failed(e).await,
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    let _ = std::fs::remove_file(&path);
    drain(connections).await;
}

/// Out of descriptors, for example: wait a little instead of spinning.
async fn accept_failed(error: std::io::Error) {
    tracing::warn!(%error, "accept failed");
    tokio::time::sleep(Duration::from_millis(50)).await;
}

async fn drain(mut connections: JoinSet<()>) {
    let all_done = async { while connections.join_next().await.is_some() {} };
    if tokio::time::timeout(DRAIN_TIMEOUT, all_done).await.is_err() {
        tracing::warn!("connections still open at stop were closed");
    }
}

async fn serve_connection<IO, S>(io: IO, service: Arc<S>, mut stop: watch::Receiver<bool>)
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: Service,
{
    let handler = service_fn(move |request| {
        let service = service.clone();
        async move { Ok::<_, Infallible>(service.call(request).await) }
    });
    let connection =
        http1::Builder::new().max_buf_size(MAX_READ_BUFFER).writev(true).serve_connection(TokioIo::new(io), handler);
    tokio::pin!(connection);
    let result = tokio::select! {
        result = connection.as_mut() => result,
        _ = stop.changed() => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(error) = result {
        tracing::debug!(%error, "connection ended with an error");
    }
}
