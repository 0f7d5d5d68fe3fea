//! The entry points the `berth` binary calls: `run_registry` and `run_index` on a unix socket
//! and on tcp, stopped by their shutdown future.

use berth_registry::{run_index, run_registry, IndexConfig, RegistryConfig, RegistryError};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn ping_unix(path: &std::path::Path) -> String {
    let mut stream = tokio::net::UnixStream::connect(path).await.expect("connect");
    stream.write_all(b"GET /v1/_ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    String::from_utf8_lossy(&answer).into_owned()
}

async fn wait_for(path: &std::path::Path) {
    for _ in 0..200 {
        if path.exists() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{} never appeared", path.display());
}

#[tokio::test]
async fn registry_and_index_serve_unix_sockets_until_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let (registry_socket, index_socket) = (dir.path().join("registry.sock"), dir.path().join("index.sock"));
    let (stop_registry, registry_stopped) = tokio::sync::oneshot::channel::<()>();
    let (stop_index, index_stopped) = tokio::sync::oneshot::channel::<()>();
    let registry = tokio::spawn(run_registry(
        RegistryConfig {
            listen: format!("unix://{}", registry_socket.display()),
            root: dir.path().join("registry"),
            index_url: None,
            htpasswd: None,
            registry_url: "registry.example:5000".into(),
        },
        async move { drop(registry_stopped.await) },
    ));
    let index = tokio::spawn(run_index(
        IndexConfig {
            listen: index_socket.display().to_string(),
            root: dir.path().join("index"),
            registry_endpoints: vec!["registry.example:5000".into()],
        },
        async move { drop(index_stopped.await) },
    ));
    wait_for(&registry_socket).await;
    wait_for(&index_socket).await;
    let answer = ping_unix(&registry_socket).await;
    assert!(answer.starts_with("HTTP/1.1 200") && answer.contains("x-docker-registry-standalone: true"), "{answer}");
    assert!(ping_unix(&index_socket).await.starts_with("HTTP/1.1 200"));
    stop_registry.send(()).unwrap();
    stop_index.send(()).unwrap();
    registry.await.unwrap().unwrap();
    index.await.unwrap().unwrap();
    assert!(!registry_socket.exists() && !index_socket.exists(), "sockets are removed at stop");
    assert!(dir.path().join("index/index.db").exists());
}

#[tokio::test]
async fn bad_configurations_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let config = |index_url: Option<&str>, htpasswd: Option<std::path::PathBuf>| RegistryConfig {
        listen: "127.0.0.1:0".into(),
        root: dir.path().join("root"),
        index_url: index_url.map(str::to_string),
        htpasswd,
        registry_url: "x:1".into(),
    };
    let result = run_registry(config(Some("https://index.example"), None), async {}).await;
    assert!(matches!(result, Err(RegistryError::IndexUrl(_))), "{result:?}");
    let result = run_registry(config(None, Some(dir.path().join("missing"))), async {}).await;
    assert!(matches!(result, Err(RegistryError::Htpasswd { .. })), "{result:?}");
    let result = run_registry(RegistryConfig { listen: "256.0.0.1:1".into(), ..config(None, None) }, async {}).await;
    assert!(matches!(result, Err(RegistryError::Listen { .. })), "{result:?}");
    assert!(run_registry(config(None, None), async {}).await.is_ok());
}
