//! A container's whole life through the API of a real daemon: create, start, wait, remove of
//! `busybox true` without a network, and listing 1,000 containers (`ps -a`). Needs root, the
//! release binary (`cargo build --release -p berth`) and the busybox fixture (`just fixtures`);
//! `just bench` makes both. Targets (issue 4): the docker CLI's `run --rm --net=none` at most
//! 1/6 of moby's (see compare/start.sh for that comparison); the listing <= 20 ms.

use berth_api::Host;
use berth_client::{Client, Reply};
use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion};
use http::{Method, StatusCode};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A berth daemon in a temporary root, stopped and cleaned up when dropped.
struct Daemon {
    child: Child,
    root: tempfile::TempDir,
    client: Client,
}

impl Daemon {
    fn start(runtime: &tokio::runtime::Runtime) -> Daemon {
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let binary = workspace.join("target/release/berth");
        let fixture = workspace.join("fixtures/out/busybox.tar");
        assert!(binary.exists(), "{} is missing: cargo build --release -p berth", binary.display());
        assert!(fixture.exists(), "{} is missing: just fixtures", fixture.display());
        let root = tempfile::Builder::new().prefix("berth-bench.").tempdir_in("/tmp").expect("temporary root");
        let socket = root.path().join("berth.sock");
        let child = Command::new(&binary)
            .args(["-d", "-H"])
            .arg(format!("unix://{}", socket.display()))
            .arg("-g")
            .arg(root.path().join("graph"))
            .arg("-p")
            .arg(root.path().join("berth.pid"))
            // Containers here run without a network: no bridge or iptables chains on the host.
            .args(["-b", "none", "--iptables=false"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("berth daemon");
        let client = Client::new(Host::Unix(socket.clone())).expect("client");
        let daemon = Daemon { child, root, client };
        runtime.block_on(async {
            for _ in 0..100 {
                if matches!(daemon.call(Method::GET, "/_ping", None).await, Ok(r) if r.status == StatusCode::OK) {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            let tar = std::fs::read(&fixture).expect("fixture");
            let reply = daemon.call(Method::POST, "/v1.41/images/load?quiet=1", Some(Bytes::from(tar))).await;
            assert!(matches!(reply, Ok(r) if r.status == StatusCode::OK), "loading the busybox fixture failed");
        });
        daemon
    }

    async fn call(&self, method: Method, path: &str, body: Option<Bytes>) -> Result<Reply, berth_client::ClientError> {
        self.client.call(method, path, body).await
    }

    async fn ok(&self, method: Method, path: &str, body: Option<Bytes>) -> Reply {
        let reply = self.call(method.clone(), path, body).await.expect("daemon reachable");
        assert!(reply.status.is_success(), "{method} {path}: {} {:?}", reply.status, reply.body);
        reply
    }

    /// Creates a container running `cmd` without a network; its id.
    async fn create(&self, cmd: &[&str]) -> String {
        let body = serde_json::json!({"Image": "busybox", "Cmd": cmd, "HostConfig": {"NetworkMode": "none"}});
        let reply = self.ok(Method::POST, "/v1.41/containers/create", Some(Bytes::from(body.to_string()))).await;
        let value: serde_json::Value = reply.json().expect("create reply");
        value["Id"].as_str().expect("an id").to_string()
    }

    fn path(&self) -> PathBuf {
        self.root.path().to_path_buf()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        // SAFETY: kill(2) on our own child's pid has no memory-safety preconditions.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let _ = self.child.wait();
        let graph = self.path();
        if let Ok(mounts) = std::fs::read_to_string("/proc/mounts") {
            for target in
                mounts.lines().filter_map(|l| l.split(' ').nth(1)).filter(|t| t.starts_with(&*graph.to_string_lossy()))
            {
                let _ = nix::mount::umount2(target, nix::mount::MntFlags::MNT_DETACH);
            }
        }
    }
}

fn lifecycle(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let daemon = Daemon::start(&runtime);
    let mut group = c.benchmark_group("container");
    group.sample_size(30).measurement_time(Duration::from_secs(10));
    group.bench_function("create, start, wait, rm (busybox true, no network)", |b| {
        b.iter(|| {
            runtime.block_on(async {
                let id = daemon.create(&["true"]).await;
                daemon.ok(Method::POST, &format!("/v1.41/containers/{id}/start"), None).await;
                let reply = daemon.ok(Method::POST, &format!("/v1.41/containers/{id}/wait"), None).await;
                let value: serde_json::Value = reply.json().expect("wait reply");
                assert_eq!(value["StatusCode"], 0);
                daemon.ok(Method::DELETE, &format!("/v1.41/containers/{id}"), None).await;
            })
        })
    });
    group.finish();
}

fn list(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let daemon = Daemon::start(&runtime);
    runtime.block_on(async {
        for _ in 0..1000 {
            daemon.create(&["true"]).await;
        }
    });
    let mut group = c.benchmark_group("container");
    group.sample_size(50);
    group.bench_function("ps -a of 1,000 containers (API)", |b| {
        b.iter(|| {
            runtime.block_on(async {
                let reply = daemon.ok(Method::GET, "/v1.41/containers/json?all=1", None).await;
                assert!(reply.body.len() > 1000 * 100);
                reply.body.len()
            })
        })
    });
    group.finish();
}

criterion_group!(benches, lifecycle, list);
criterion_main!(benches);
