//! Test helpers: servers started in-process on 127.0.0.1:0 in temporary roots, and a small
//! HTTP/1.1 client (one request per connection, like the 2014 docker client).
#![allow(dead_code)]

use base64::Engine as _;
use berth_registry::{start_index, start_registry, IndexConfig, Listener, RegistryConfig, Server};
use bytes::Bytes;
use http::{HeaderMap, Request};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tempfile::TempDir;

pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.text()))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The `code` of the first v2 error.
    pub fn v2_code(&self) -> String {
        self.json()["errors"][0]["code"].as_str().unwrap_or_default().to_string()
    }

    /// `name=value` of a Set-Cookie header, ready for a Cookie header.
    pub fn cookie(&self) -> Option<String> {
        self.header("set-cookie").map(|c| c.split(';').next().unwrap_or_default().to_string())
    }
}

impl std::fmt::Debug for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {:?} {}", self.status, self.headers, self.text())
    }
}

/// Sends one request.
pub async fn send(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> Reply {
    let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.expect("handshake");
    tokio::spawn(connection);
    let mut request = Request::builder().method(method).uri(path).header("host", addr.to_string());
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request.body(Full::new(body.into())).expect("request");
    let response = tokio::time::timeout(Duration::from_secs(60), sender.send_request(request))
        .await
        .expect("answer in time")
        .expect("answer");
    let (parts, body) = response.into_parts();
    let body = body.collect().await.expect("body").to_bytes();
    Reply { status: parts.status.as_u16(), headers: parts.headers, body }
}

pub async fn get(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Reply {
    send(addr, "GET", path, headers, Bytes::new()).await
}

pub fn basic(user: &str, password: &str) -> String {
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}")))
}

/// A 64-hex image id made from a seed.
pub fn image_id(seed: &str) -> String {
    use sha2::Digest;
    berth_hex(&sha2::Sha256::digest(seed.as_bytes()))
}

pub fn berth_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    berth_hex(&sha2::Sha256::digest(data))
}

/// A tar layer holding the given files.
pub fn layer(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (name, data) in files {
        let mut header = tar::Header::new_ustar();
        header.set_size(data.len() as u64);
        header.set_mode(0o100644);
        header.set_mtime(1_390_000_000);
        header.set_cksum();
        builder.append_data(&mut header, name, *data).expect("tar entry");
    }
    builder.into_inner().expect("tar")
}

/// The image json docker sends, with an optional parent.
pub fn image_json(id: &str, parent: Option<&str>) -> String {
    let mut json =
        serde_json::json!({"id": id, "created": "2014-02-01T00:00:00Z", "container_config": {"Cmd": ["/bin/sh"]}});
    if let Some(parent) = parent {
        json["parent"] = parent.into();
    }
    json.to_string()
}

/// The `sha256:` payload checksum docker computes: json + "\n" + layer.
pub fn payload_checksum(json: &str, layer: &[u8]) -> String {
    format!("sha256:{}", sha256_hex(&[json.as_bytes(), b"\n", layer].concat()))
}

pub struct Running {
    pub server: Server,
    pub root: TempDir,
}

impl Running {
    pub fn addr(&self) -> SocketAddr {
        self.server.local_addr().expect("tcp address")
    }

    pub fn path(&self) -> &Path {
        self.root.path()
    }
}

fn bind() -> (Listener, SocketAddr) {
    let listener = Listener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("address");
    (listener, addr)
}

/// A standalone registry, with Basic auth when `htpasswd` is given.
pub async fn standalone(htpasswd: Option<PathBuf>) -> Running {
    let root = tempfile::tempdir().expect("tempdir");
    let (listener, addr) = bind();
    let config = RegistryConfig {
        listen: addr.to_string(),
        root: root.path().to_path_buf(),
        index_url: None,
        htpasswd,
        registry_url: format!("http://{addr}"),
    };
    Running { server: start_registry(config, listener).await.expect("registry starts"), root }
}

/// An index and a registry that validates its tokens with it.
pub async fn pair() -> (Running, Running) {
    let (index_root, registry_root) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let ((index_listener, index_addr), (registry_listener, registry_addr)) = (bind(), bind());
    let index_config = IndexConfig {
        listen: index_addr.to_string(),
        root: index_root.path().to_path_buf(),
        registry_endpoints: vec![format!("http://{registry_addr}")],
    };
    let registry_config = RegistryConfig {
        listen: registry_addr.to_string(),
        root: registry_root.path().to_path_buf(),
        index_url: Some(format!("http://{index_addr}")),
        htpasswd: None,
        registry_url: format!("http://{registry_addr}"),
    };
    let index = start_index(index_config, index_listener).await.expect("index starts");
    let registry = start_registry(registry_config, registry_listener).await.expect("registry starts");
    (Running { server: index, root: index_root }, Running { server: registry, root: registry_root })
}

/// Registers a user and activates the account through the link of its confirmation mail.
pub async fn register(index: &Running, username: &str, password: &str) {
    let body =
        serde_json::json!({"username": username, "password": password, "email": format!("{username}@example.com")});
    let reply =
        send(index.addr(), "POST", "/v1/users/", &[("content-type", "application/json")], body.to_string()).await;
    assert_eq!(reply.status, 201, "{reply:?}");
    let link = confirmation_link(index.path(), username);
    assert_eq!(get(index.addr(), &link, &[]).await.status, 200);
}

/// The confirmation link in the newest mail to `username`.
pub fn confirmation_link(root: &Path, username: &str) -> String {
    let mut mails: Vec<PathBuf> = std::fs::read_dir(root.join("outbox"))
        .expect("outbox")
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(&format!("-{username}.txt")))
        .collect();
    mails.sort();
    let mail = std::fs::read_to_string(mails.last().expect("a mail")).unwrap();
    mail.split_whitespace().find(|w| w.starts_with("/v1/users/")).expect("a link").to_string()
}

/// Files under `dir`, recursively (to check that nothing was stored).
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                found.extend(files_under(&path));
            } else {
                found.push(path);
            }
        }
    }
    found
}
