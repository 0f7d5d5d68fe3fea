//! A quick measurement (not a benchmark suite): push and pull of one random blob through
//! `/v2` of a standalone registry on loopback: a monolithic `POST ?digest=` and a `GET`.
//!
//! `cargo run --release -p berth-registry --example blob_throughput [-- SIZE_MB [ROUNDS]]`
//! (default 200 MB, 3 rounds). The storage root is a temporary directory under $TMPDIR.

use berth_registry::{start_registry, Listener, RegistryConfig};
use bytes::Bytes;
use http::Request;
use http_body_util::BodyExt;
use hyper::body::{Frame, SizeHint};
use hyper_util::rt::TokioIo;
use sha2::Digest;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// A request body of ready chunks (slices of one buffer: nothing is copied).
struct Chunks(VecDeque<Bytes>, u64);

impl hyper::body::Body for Chunks {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let next = self.0.pop_front();
        if let Some(chunk) = &next {
            self.1 -= chunk.len() as u64;
        }
        Poll::Ready(next.map(|c| Ok(Frame::data(c))))
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.1)
    }
}

fn random_bytes(len: usize) -> Bytes {
    let mut state = 0x9e37_79b9_7f4a_7c15u64 ^ (Instant::now().elapsed().as_nanos() as u64);
    let mut data = Vec::with_capacity(len + 8);
    while data.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        data.extend_from_slice(&state.to_le_bytes());
    }
    data.truncate(len);
    Bytes::from(data)
}

async fn connect(addr: SocketAddr) -> hyper::client::conn::http1::SendRequest<Chunks> {
    let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream.set_nodelay(true).expect("nodelay");
    let (sender, connection) = hyper::client::conn::http1::Builder::new()
        .max_buf_size(4 << 20)
        .handshake(TokioIo::new(stream))
        .await
        .expect("handshake");
    tokio::spawn(connection);
    sender
}

async fn push(addr: SocketAddr, data: &Bytes, digest: &str) -> Duration {
    let chunks: VecDeque<Bytes> =
        (0..data.len()).step_by(1 << 20).map(|at| data.slice(at..(at + (1 << 20)).min(data.len()))).collect();
    let mut sender = connect(addr).await;
    let request = Request::post(format!("/v2/bench/blob/blobs/uploads/?digest={digest}"))
        .header("host", addr.to_string())
        .header("content-length", data.len())
        .body(Chunks(chunks, data.len() as u64))
        .expect("request");
    let started = Instant::now();
    let response = sender.send_request(request).await.expect("push");
    assert_eq!(response.status(), 201, "push refused");
    started.elapsed()
}

async fn pull(addr: SocketAddr, digest: &str, verify: bool) -> (Duration, usize) {
    let mut sender = connect(addr).await;
    let request = Request::get(format!("/v2/bench/blob/blobs/{digest}"))
        .header("host", addr.to_string())
        .body(Chunks(VecDeque::new(), 0))
        .expect("request");
    let started = Instant::now();
    let mut body = sender.send_request(request).await.expect("pull").into_body();
    let (mut received, mut hasher) = (0, sha2::Sha256::new());
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame.expect("frame").into_data() {
            received += data.len();
            if verify {
                hasher.update(&data);
            }
        }
    }
    let elapsed = started.elapsed();
    if verify {
        assert_eq!(format!("sha256:{:x}", hasher.finalize()), digest, "pulled bytes differ");
    }
    (elapsed, received)
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let size_mb: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(200);
    let rounds: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(3);
    let root = tempfile::tempdir().expect("temporary root");
    let listener = Listener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("address");
    let config = RegistryConfig {
        listen: addr.to_string(),
        root: root.path().to_path_buf(),
        index_url: None,
        htpasswd: None,
        registry_url: addr.to_string(),
    };
    let server = start_registry(config, listener).await.expect("registry");
    println!("blob of {size_mb} MB, {rounds} rounds, root {}", root.path().display());
    for round in 1..=rounds {
        let data = random_bytes(size_mb << 20);
        let digest = format!("sha256:{:x}", sha2::Sha256::digest(&data));
        let pushed = push(addr, &data, &digest).await;
        let (pulled, len) = pull(addr, &digest, false).await;
        assert_eq!(len, data.len());
        let (verified, _) = pull(addr, &digest, true).await;
        let mbps = |d: Duration| size_mb as f64 / d.as_secs_f64();
        println!(
            "round {round}: push {:.3} s ({:.0} MB/s)  pull {:.3} s ({:.0} MB/s)  pull+client sha256 {:.3} s",
            pushed.as_secs_f64(),
            mbps(pushed),
            pulled.as_secs_f64(),
            mbps(pulled),
            verified.as_secs_f64()
        );
    }
    server.stop().await.expect("stop");
}
