//! The userland proxy: tokio tasks that accept on a published host port and forward to the
//! container's address. It serves what DNAT cannot (connections from the host itself to
//! 127.0.0.1) and everything when iptables is off, and its bound socket is what makes a
//! second publish of the same port fail with "port is already allocated".

use std::collections::HashMap;
use std::net::{SocketAddr, SocketAddrV4};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::runtime::Handle;
use tokio::sync::oneshot;
use tokio::task::JoinSet;

/// How long a UDP client's flow is kept without traffic from the container.
const UDP_IDLE: Duration = Duration::from_secs(90);
/// How long [`Proxy::stop`] waits for the task to release the host port.
const STOP_WAIT: Duration = Duration::from_secs(2);

/// Why a proxy could not start.
#[derive(Debug, thiserror::Error)]
#[error("couldn't hand the socket of {addr} to the proxy: {source}")]
pub struct ProxyError {
    pub addr: String,
    #[source]
    pub source: std::io::Error,
}

/// A running proxy for one published port; dropping it stops it without waiting.
#[derive(Debug)]
pub struct Proxy {
    stop: Option<oneshot::Sender<()>>,
    done: std::sync::mpsc::Receiver<()>,
}

impl Proxy {
    /// Forwards every TCP connection accepted on `listener` to `backend`.
    pub fn tcp(handle: &Handle, listener: std::net::TcpListener, backend: SocketAddrV4) -> Result<Self, ProxyError> {
        let addr = listener.local_addr().map(|a| a.to_string()).unwrap_or_default();
        let listener = {
            let _entered = handle.enter();
            listener.set_nonblocking(true).and_then(|()| TcpListener::from_std(listener))
        }
        .map_err(|source| ProxyError { addr, source })?;
        Ok(Self::spawn(handle, |stop| serve_tcp(listener, backend, stop)))
    }

    /// Forwards UDP datagrams received on `socket` to `backend` and the replies back.
    pub fn udp(handle: &Handle, socket: std::net::UdpSocket, backend: SocketAddrV4) -> Result<Self, ProxyError> {
        let addr = socket.local_addr().map(|a| a.to_string()).unwrap_or_default();
        let socket = {
            let _entered = handle.enter();
            socket.set_nonblocking(true).and_then(|()| UdpSocket::from_std(socket))
        }
        .map_err(|source| ProxyError { addr, source })?;
        Ok(Self::spawn(handle, |stop| serve_udp(socket, backend, stop)))
    }

    fn spawn<F, Fut>(handle: &Handle, serve: F) -> Self
    where
        F: FnOnce(oneshot::Receiver<()>) -> Fut,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        let (stop_tx, stop_rx) = oneshot::channel();
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        let serving = serve(stop_rx);
        handle.spawn(async move {
            serving.await;
            let _ = done_tx.send(());
        });
        Self { stop: Some(stop_tx), done: done_rx }
    }

    /// Stops the proxy and waits (briefly) until its host port is free again. Call it from a
    /// thread that is not a worker of a current-thread runtime.
    pub fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = self.done.recv_timeout(STOP_WAIT);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

async fn serve_tcp(listener: TcpListener, backend: SocketAddrV4, mut stop: oneshot::Receiver<()>) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            _ = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok((client, _)) => {
                    conns.spawn(forward_tcp(client, backend));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "proxy accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    // Closing the listener (dropped on return) and every forwarded connection.
    conns.shutdown().await;
}

async fn forward_tcp(mut client: TcpStream, backend: SocketAddrV4) {
    match TcpStream::connect(backend).await {
        Ok(mut upstream) => {
            let _ = client.set_nodelay(true);
            let _ = upstream.set_nodelay(true);
            let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
        }
        Err(e) => tracing::debug!(error = %e, %backend, "proxy couldn't reach the container"),
    }
}

async fn serve_udp(socket: UdpSocket, backend: SocketAddrV4, mut stop: oneshot::Receiver<()>) {
    let socket = Arc::new(socket);
    let mut flows: HashMap<SocketAddr, Arc<UdpSocket>> = HashMap::new();
    let mut replies = JoinSet::new();
    let mut buf = vec![0u8; 65535];
    loop {
        tokio::select! {
            _ = &mut stop => break,
            received = socket.recv_from(&mut buf) => {
                let Ok((n, client)) = received else { continue };
                let flow = match flows.get(&client) {
                    Some(flow) => flow.clone(),
                    None => match open_flow(backend).await {
                        Ok(flow) => {
                            replies.spawn(relay_replies(flow.clone(), socket.clone(), client));
                            flows.insert(client, flow.clone());
                            flow
                        }
                        Err(e) => {
                            tracing::debug!(error = %e, %backend, "proxy couldn't open a UDP flow");
                            continue;
                        }
                    },
                };
                let _ = flow.send(&buf[..n]).await;
            }
            Some(ended) = replies.join_next(), if !replies.is_empty() => {
                if let Ok(client) = ended {
                    flows.remove(&client);
                }
            }
        }
    }
    // The reply relays hold the host socket: wait until they are gone so the port is free.
    replies.shutdown().await;
}

async fn open_flow(backend: SocketAddrV4) -> std::io::Result<Arc<UdpSocket>> {
    let flow = UdpSocket::bind("0.0.0.0:0").await?;
    flow.connect(backend).await?;
    Ok(Arc::new(flow))
}

async fn relay_replies(flow: Arc<UdpSocket>, host: Arc<UdpSocket>, client: SocketAddr) -> SocketAddr {
    let mut buf = vec![0u8; 65535];
    while let Ok(Ok(n)) = tokio::time::timeout(UDP_IDLE, flow.recv(&mut buf)).await {
        if host.send_to(&buf[..n], client).await.is_err() {
            break;
        }
    }
    client
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    #[test]
    fn tcp_and_udp_forward_on_loopback_and_stop_frees_the_port() {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        // A TCP echo backend.
        let backend = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let backend_addr = match backend.local_addr().unwrap() {
            SocketAddr::V4(a) => a,
            SocketAddr::V6(_) => unreachable!(),
        };
        std::thread::spawn(move || {
            if let Ok((mut s, _)) = backend.accept() {
                let mut buf = [0u8; 64];
                let n = s.read(&mut buf).unwrap_or(0);
                let _ = s.write_all(&buf[..n]);
            }
        });
        let front = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let front_addr = front.local_addr().unwrap();
        let proxy = Proxy::tcp(rt.handle(), front, backend_addr).unwrap();
        let mut c = std::net::TcpStream::connect(front_addr).unwrap();
        c.write_all(b"hello").unwrap();
        let mut got = [0u8; 5];
        c.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"hello");
        proxy.stop();
        assert!(std::net::TcpListener::bind(front_addr).is_ok(), "port released on stop");

        // A UDP echo backend.
        let ubackend = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let ubackend_addr = match ubackend.local_addr().unwrap() {
            SocketAddr::V4(a) => a,
            SocketAddr::V6(_) => unreachable!(),
        };
        std::thread::spawn(move || {
            let mut buf = [0u8; 64];
            if let Ok((n, from)) = ubackend.recv_from(&mut buf) {
                let _ = ubackend.send_to(&buf[..n], from);
            }
        });
        let ufront = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let ufront_addr = ufront.local_addr().unwrap();
        let uproxy = Proxy::udp(rt.handle(), ufront, ubackend_addr).unwrap();
        let client = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        client.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        client.send_to(b"ping", ufront_addr).unwrap();
        let mut buf = [0u8; 16];
        let (n, from) = client.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"ping");
        assert_eq!(from, ufront_addr);
        uproxy.stop();
        assert!(std::net::UdpSocket::bind(ufront_addr).is_ok());
    }
}
