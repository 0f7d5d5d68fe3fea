//! The daemon's own flags (5.1.4, 2.13, 3.1.4): each case starts a daemon of its own in a
//! temporary directory through the profile, and stops and removes it afterwards.

use super::containers::{eventually, IDLE, IMAGE, SETTLE};
use crate::daemon::{Spec, TestDaemon};
use crate::engine::{CliRun, Engine};
use crate::outcome::{skip, Outcome, SkipKind};
use anyhow::{ensure, Context};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// How long a daemon that must refuse to start may take to exit.
const REFUSAL: Duration = Duration::from_secs(30);

/// `-v` and `--version` print the version and exit 0 without starting a daemon.
pub async fn version_flag(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    for flag in ["-v", "--version"] {
        let run = e.daemon_binary(&[flag]).await?.success()?;
        let line = run.stdout.lines().next().unwrap_or("");
        ensure!(super::cli_system::is_version_line(line), "daemon {flag} printed {line:?}");
    }
    Ok(Outcome::Passed)
}

pub(super) async fn started(e: &Engine, spec: Spec) -> anyhow::Result<TestDaemon> {
    let mut daemon = TestDaemon::start(e, spec).await?;
    let host = daemon.host.clone();
    daemon.ready(&host).await?;
    Ok(daemon)
}

/// The daemon serves the API until signalled, then exits cleanly, taking its socket away.
pub async fn serves_until_signalled(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let mut daemon = TestDaemon::start(&e, Spec::default()).await?;
    let socket = daemon.dir.join("engine.sock");
    ensure!(!socket.exists(), "the socket exists before the daemon started");
    let host = daemon.host.clone();
    daemon.ready(&host).await?;
    let version = daemon.get(&host, "/version").await?;
    ensure!(version.status.is_success(), "GET /version answered {}", version.status);
    e.cli_with(&["-H", &host, "version"], &[]).await?.success()?;
    let status = daemon.stop().await?;
    ensure!(status.success(), "the daemon exited {status} on SIGTERM:\n{}", daemon.log());
    ensure!(!socket.exists(), "the socket is still there after the daemon stopped");
    Ok(Outcome::Passed)
}

/// The socket file is absent before the daemon starts and present once it answers, after
/// which client calls succeed.
pub async fn socket_when_ready(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let mut daemon = TestDaemon::start(&e, Spec::default()).await?;
    let socket = daemon.dir.join("engine.sock");
    let host = daemon.host.clone();
    daemon.ready(&host).await?;
    ensure!(socket.exists(), "the daemon answers but {} does not exist", socket.display());
    e.cli_with(&["-H", &host, "info"], &[]).await?.success()?;
    daemon.stop().await?;
    ensure!(!socket.exists(), "the socket is left after the daemon stopped");
    Ok(Outcome::Passed)
}

/// `-H unix://path` makes a socket at that path that a client with the same `-H` reaches.
pub async fn host_unix(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let daemon = started(&e, Spec::default()).await?;
    ensure!(daemon.dir.join("engine.sock").exists(), "no socket file at the -H path");
    e.cli_with(&["-H", &daemon.host, "info"], &[]).await?.success()?;
    Ok(Outcome::Passed)
}

pub(super) fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// `-H tcp://127.0.0.1:PORT` answers API calls over TCP.
pub async fn host_tcp(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let tcp = format!("tcp://127.0.0.1:{}", free_port()?);
    let mut daemon = TestDaemon::start(&e, Spec { hosts: Some(vec![tcp.clone()]), ..Default::default() }).await?;
    daemon.ready(&tcp).await?;
    ensure!(daemon.get(&tcp, "/version").await?.status.is_success(), "GET /version over tcp failed");
    Ok(Outcome::Passed)
}

/// A tcp address without a port listens on the engine's default port (4243 in 2014).
pub async fn tcp_default_port(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let port = e.profile.tcp_port;
    if std::net::TcpListener::bind(("127.0.0.1", port)).is_err() {
        return Ok(skip(SkipKind::Environment, format!("port {port} is taken on this machine")));
    }
    let spec = Spec { hosts: Some(vec!["tcp://127.0.0.1".into()]), ..Default::default() };
    let mut daemon = TestDaemon::start(&e, spec).await?;
    daemon.ready(&format!("tcp://127.0.0.1:{port}")).await?;
    Ok(Outcome::Passed)
}

/// `-H HOST:PORT` without a scheme is tcp; `0.0.0.0` listens on every interface.
pub async fn host_short_form(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let port = free_port()?;
    let spec = Spec { hosts: Some(vec![format!("0.0.0.0:{port}")]), ..Default::default() };
    let mut daemon = TestDaemon::start(&e, spec).await?;
    daemon.ready(&format!("tcp://127.0.0.1:{port}")).await?;
    Ok(Outcome::Passed)
}

/// Several `-H` at once: every endpoint serves the same daemon.
pub async fn host_multiple(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let tcp = format!("tcp://127.0.0.1:{}", free_port()?);
    let dir = std::env::temp_dir().join(e.unique("multiple"));
    std::fs::create_dir_all(&dir)?;
    let _cleanup = RemoveDir(dir.clone());
    let unix = format!("unix://{}/both.sock", dir.display());
    let mut daemon =
        TestDaemon::start(&e, Spec { hosts: Some(vec![tcp.clone(), unix.clone()]), ..Default::default() }).await?;
    daemon.ready(&tcp).await?;
    daemon.ready(&unix).await?;
    let a = daemon.get(&tcp, "/info").await?.json::<serde_json::Value>()?;
    let b = daemon.get(&unix, "/info").await?.json::<serde_json::Value>()?;
    ensure!(
        a.get("ID") == b.get("ID"),
        "the two endpoints answer for different daemons: {:?} vs {:?}",
        a.get("ID"),
        b.get("ID")
    );
    Ok(Outcome::Passed)
}

/// Without `-H` (or with an empty one) the daemon listens on the engine's default socket,
/// where plain HTTP requests get JSON answers.
pub async fn default_socket(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let default = format!("unix://{}", e.profile.default_socket);
    let path = std::path::Path::new(&e.profile.default_socket);
    if path.exists() {
        return Ok(skip(
            SkipKind::Environment,
            format!("{} exists: another daemon may be using the default socket", path.display()),
        ));
    }
    for hosts in [vec![], vec![String::new()]] {
        let mut daemon = TestDaemon::start(&e, Spec { hosts: Some(hosts.clone()), ..Default::default() }).await?;
        daemon.ready(&default).await?;
        let version = daemon.get(&default, "/version").await?;
        let json = version.header("content-type").is_some_and(|c| c.starts_with("application/json"));
        ensure!(version.status.is_success() && json, "GET /version on the default socket: {}", version.status);
        version.json::<serde_json::Value>().context("GET /version on the default socket is not JSON")?;
        let run = e.cli_with(&["info"], &[("DOCKER_HOST", "")]).await?;
        if run.status != Some(0) && run.stderr.contains("unix://") && !run.stderr.contains(&default) {
            daemon.stop().await?;
            return Ok(skip(
                SkipKind::Environment,
                format!(
                    "the CLI's own default socket is not {default}: it belongs to another engine ({})",
                    run.stderr.trim()
                ),
            ));
        }
        run.success().context("a client with no -H")?;
        daemon.stop().await?;
        ensure!(!path.exists(), "{} is left after the daemon stopped", path.display());
    }
    Ok(Outcome::Passed)
}

/// The pid file holds the daemon's pid while it runs and is removed on a clean stop.
pub async fn pidfile(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let mut daemon = started(&e, Spec::default()).await?;
    let path = daemon.dir.join("engine.pid");
    let pid: u32 =
        std::fs::read_to_string(&path).context("no pid file")?.trim().parse().context("pid file holds no pid")?;
    ensure!(std::path::Path::new(&format!("/proc/{pid}")).exists(), "the pid file names {pid}, which is not running");
    daemon.stop().await?;
    ensure!(!path.exists(), "the pid file is left after a clean stop");
    Ok(Outcome::Passed)
}

/// A second daemon with the same pid file, while the first runs, refuses to start.
pub async fn pidfile_guard(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let first = started(&e, Spec::default()).await?;
    let pidfile = first.dir.join("engine.pid").display().to_string();
    let mut second = TestDaemon::start(&e, Spec { args: vec!["-p".into(), pidfile], ..Default::default() }).await?;
    let status = second.exit(REFUSAL).await?;
    ensure!(!status.success(), "the second daemon exited 0");
    let log = second.log().to_lowercase();
    ensure!(log.contains("pid") && log.contains("file"), "the refusal does not mention the pid file:\n{log}");
    Ok(Outcome::Passed)
}

/// `-D` shows as debug mode in `info` and makes the daemon log debug lines.
pub async fn debug_flag(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    for debug in [false, true] {
        let args = if debug { vec!["-D".to_string()] } else { vec![] };
        let daemon = started(&e, Spec { args, ..Default::default() }).await?;
        let info: serde_json::Value = daemon.get(&daemon.host, "/info").await?.json()?;
        ensure!(
            info.get("Debug") == Some(&serde_json::Value::Bool(debug)),
            "with debug={debug}, info says Debug={:?}",
            info.get("Debug")
        );
        if debug {
            ensure!(daemon.log().to_lowercase().contains("debug"), "no debug lines in the log:\n{}", daemon.log());
        }
    }
    Ok(Outcome::Passed)
}

/// `--api-enable-cors` adds CORS headers and answers preflights; without it, none are sent.
pub async fn cors(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    if !e.daemon_has_flag("--api-enable-cors").await? {
        return Ok(skip(
            SkipKind::Divergence,
            "the daemon's --help has no --api-enable-cors (later Docker replaced it with --api-cors-header)",
        ));
    }
    for enabled in [false, true] {
        let args = if enabled { vec!["--api-enable-cors".to_string()] } else { vec![] };
        let daemon = started(&e, Spec { args, ..Default::default() }).await?;
        let reply = daemon.get(&daemon.host, "/version").await?;
        let origin = reply.header("access-control-allow-origin");
        ensure!(origin.is_some() == enabled, "with cors={enabled}, Access-Control-Allow-Origin is {origin:?}");
        if enabled {
            let preflight = daemon.client(&daemon.host)?.call(http::Method::OPTIONS, "/containers/json", None).await?;
            ensure!(preflight.status.is_success(), "OPTIONS answered {}", preflight.status);
            ensure!(preflight.header("access-control-allow-methods").is_some(), "the preflight lists no methods");
        }
    }
    Ok(Outcome::Passed)
}

/// Started by an unprivileged user, the daemon quits at once saying it needs root.
pub async fn needs_root(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let mut daemon = TestDaemon::start(&e, Spec { as_user: Some(65534), ..Default::default() }).await?;
    let status = daemon.exit(REFUSAL).await?;
    ensure!(!status.success(), "the daemon ran as nobody");
    ensure!(daemon.log().to_lowercase().contains("root"), "the refusal does not mention root:\n{}", daemon.log());
    Ok(Outcome::Passed)
}

/// `--bip` with `-b` is refused at start.
pub async fn bip_with_bridge(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let args = ["--bip", "10.233.0.1/24", "-b", "spec-nobridge"].map(String::from).to_vec();
    let mut daemon = TestDaemon::start(&e, Spec { args, ..Default::default() }).await?;
    let status = daemon.exit(REFUSAL).await?;
    ensure!(!status.success(), "the daemon accepted --bip with -b");
    ensure!(daemon.log().contains("bip"), "the refusal does not name --bip:\n{}", daemon.log());
    Ok(Outcome::Passed)
}

/// `-H fd://` serves every socket systemd passed; `fd://N` only that one; with none passed,
/// the daemon exits with an error.
pub async fn socket_activation(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let dir = std::env::temp_dir().join(e.unique("activation"));
    std::fs::create_dir_all(&dir)?;
    let _cleanup = RemoveDir(dir.clone());
    let listen = |name: &str| -> anyhow::Result<(String, std::os::fd::OwnedFd)> {
        let path = dir.join(name);
        let listener = std::os::unix::net::UnixListener::bind(&path)?;
        Ok((format!("unix://{}", path.display()), listener.into()))
    };
    let (a_host, a) = listen("a.sock")?;
    let (b_host, b) = listen("b.sock")?;
    let spec = Spec { hosts: Some(vec!["fd://".into()]), activated: vec![a, b], ..Default::default() };
    let mut all = TestDaemon::start(&e, spec).await?;
    all.ready(&a_host).await?;
    all.ready(&b_host).await?;
    all.stop().await?;

    let (c_host, c) = listen("c.sock")?;
    let (d_host, d) = listen("d.sock")?;
    let spec = Spec { hosts: Some(vec!["fd://3".into()]), activated: vec![c, d], ..Default::default() };
    let mut one = TestDaemon::start(&e, spec).await?;
    one.ready(&c_host).await?;
    let unserved = tokio::time::timeout(Duration::from_secs(2), one.get(&d_host, "/_ping")).await;
    ensure!(!matches!(unserved, Ok(Ok(ref r)) if r.status.is_success()), "fd://3 also served descriptor 4");
    one.stop().await?;

    let mut none = TestDaemon::start(&e, Spec { hosts: Some(vec!["fd://".into()]), ..Default::default() }).await?;
    ensure!(!none.exit(REFUSAL).await?.success(), "fd:// with no activated sockets exited 0");
    Ok(Outcome::Passed)
}

/// A daemon of the case's own with the fixture image loaded.
pub(super) async fn loaded(e: &Engine, spec: Spec) -> anyhow::Result<TestDaemon> {
    let daemon = started(e, spec).await?;
    let fixture = e.fixture("busybox.tar");
    on(e, &daemon, &["load", "-i", &fixture.to_string_lossy()]).await?.success()?;
    Ok(daemon)
}

/// The CLI against a daemon of the case's own.
pub(super) async fn on(e: &Engine, daemon: &TestDaemon, args: &[&str]) -> anyhow::Result<CliRun> {
    e.cli_with(args, &[("DOCKER_HOST", daemon.host.as_str())]).await
}

/// Removes the daemon's containers (some engines keep them running without the daemon),
/// then stops it.
pub(super) async fn close(e: &Engine, mut daemon: TestDaemon) {
    if let Ok(run) = on(e, &daemon, &["ps", "-a", "-q"]).await {
        for id in run.stdout.split_whitespace() {
            let _ = on(e, &daemon, &["rm", "-f", id]).await;
        }
    }
    let _ = daemon.stop().await;
}

/// A copy of the host's /etc/group without the profile's socket group, or with it as `gid`:
/// what a daemon of the case's own sees, so the host's groups stay as they are.
fn group_file(e: &Engine, dir: &Path, gid: Option<u32>) -> anyhow::Result<PathBuf> {
    let group = &e.profile.socket_group;
    let host = std::fs::read_to_string("/etc/group")?;
    let mut lines: Vec<String> =
        host.lines().filter(|l| l.split(':').next() != Some(group.as_str())).map(String::from).collect();
    lines.extend(gid.map(|gid| format!("{group}:x:{gid}:")));
    let path = dir.join("group");
    std::fs::write(&path, lines.join("\n") + "\n")?;
    Ok(path)
}

/// A gid no group of the host uses.
fn free_gid() -> anyhow::Result<u32> {
    let host = std::fs::read_to_string("/etc/group")?;
    let used: Vec<&str> = host.lines().filter_map(|l| l.split(':').nth(2)).collect();
    (4242..65000).find(|g| !used.contains(&g.to_string().as_str())).context("no free gid")
}

/// The CLI run as the unprivileged user nobody (65534), in `groups` only.
async fn cli_as_nobody(e: &Engine, groups: &[u32], args: &[&str]) -> anyhow::Result<CliRun> {
    let groups = match groups {
        [] => "--clear-groups".to_string(),
        _ => format!("--groups={}", groups.iter().map(u32::to_string).collect::<Vec<_>>().join(",")),
    };
    let mut all = vec!["--reuid=65534", "--regid=65534", groups.as_str(), e.cli.as_str()];
    all.extend_from_slice(args);
    e.program("setpriv", &all, &[("HOME", "/nonexistent")]).await
}

/// With no socket group on the host, the socket belongs to root alone: an ordinary user's
/// client is refused with permission denied.
pub async fn socket_owner_root(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let dir = std::env::temp_dir().join(e.unique("nogroup"));
    std::fs::create_dir_all(&dir)?;
    let _cleanup = RemoveDir(dir.clone());
    let etc_group = group_file(&e, &dir, None)?;
    let daemon = started(&e, Spec { etc_group: Some(etc_group), ..Default::default() }).await?;
    let socket = std::fs::metadata(daemon.dir.join("engine.sock"))?;
    ensure!(socket.uid() == 0 && socket.gid() == 0, "the socket is {}:{}, not root's", socket.uid(), socket.gid());
    ensure!(socket.mode() & 0o006 == 0, "others may use the socket: mode {:o}", socket.mode() & 0o777);
    let run = cli_as_nobody(&e, &[], &["-H", &daemon.host, "info"]).await?;
    ensure!(run.status.is_some_and(|s| s != 0), "nobody's client exited {:?}", run.status);
    ensure!(run.stderr.to_lowercase().contains("permission denied"), "no permission denied: {}", run.stderr.trim());
    Ok(Outcome::Passed)
}

/// With the socket group present at start, the socket is group read-write for it and a
/// member of that group (and no other) uses the CLI without root.
pub async fn socket_group(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let dir = std::env::temp_dir().join(e.unique("group"));
    std::fs::create_dir_all(&dir)?;
    let _cleanup = RemoveDir(dir.clone());
    let gid = free_gid()?;
    let etc_group = group_file(&e, &dir, Some(gid))?;
    let daemon = started(&e, Spec { etc_group: Some(etc_group), ..Default::default() }).await?;
    let socket = std::fs::metadata(daemon.dir.join("engine.sock"))?;
    ensure!(socket.gid() == gid, "the socket's group is {}, not {} ({gid})", socket.gid(), e.profile.socket_group);
    ensure!(socket.mode() & 0o060 == 0o060, "the group may not read and write: mode {:o}", socket.mode() & 0o777);
    cli_as_nobody(&e, &[gid], &["-H", &daemon.host, "info"]).await?.success().context("a member of the group")?;
    Ok(Outcome::Passed)
}

/// A client `-H :PORT` dials tcp on the local host at PORT.
pub async fn client_short_port(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let port = free_port()?;
    // Loopback only: the client side is what is checked, and the API has no authentication.
    let tcp = format!("tcp://127.0.0.1:{port}");
    let mut daemon = TestDaemon::start(&e, Spec { hosts: Some(vec![tcp.clone()]), ..Default::default() }).await?;
    daemon.ready(&tcp).await?;
    let nowhere = [("DOCKER_HOST", "unix:///nonexistent/spec-tests/no-daemon.sock")];
    e.cli_with(&["-H", &format!(":{port}"), "images"], &nowhere).await?.success()?;
    Ok(Outcome::Passed)
}

/// Every path under `root`, `depth` levels deep at most, without following links.
fn paths_under(root: &Path, depth: usize) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(root).into_iter().flatten().flatten() {
        let path = entry.path();
        if depth > 1 && entry.file_type().is_ok_and(|t| t.is_dir()) {
            found.extend(paths_under(&path, depth - 1));
        }
        found.push(path);
    }
    found
}

/// The graph root (`-g`, which the profile points into the case's directory) receives the
/// layers, the container records and the repository metadata; the default root gets nothing.
pub async fn graph_root(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let daemon = loaded(&e, Spec::default()).await?;
    let result = async {
        let repo = e.unique("graphrepo");
        on(&e, &daemon, &["tag", IMAGE, &repo]).await?.success()?;
        let container = on(&e, &daemon, &["create", "--net=none", IMAGE, "true"]).await?.success()?.stdout;
        let container = container.trim();
        let image: serde_json::Value = daemon.get(&daemon.host, &format!("/images/{IMAGE}/json")).await?.json()?;
        let image = image["Id"].as_str().context("no image Id")?.trim_start_matches("sha256:").to_string();
        let paths = paths_under(&daemon.dir.join("graph"), 8);
        let named =
            |part: &str| paths.iter().any(|p| p.file_name().is_some_and(|n| n.to_string_lossy().contains(part)));
        ensure!(named(container), "no file in the graph root is named after the container {container}");
        ensure!(named(&image), "no file in the graph root is named after the image {image}");
        ensure!(paths.iter().any(|p| p.ends_with("bin/busybox")), "no layer holding bin/busybox in the graph root");
        let mentions_repo = paths.iter().filter(|p| p.metadata().is_ok_and(|m| m.is_file() && m.len() < 1 << 20));
        let mentions_repo =
            mentions_repo.filter_map(|p| std::fs::read(p).ok()).any(|b| String::from_utf8_lossy(&b).contains(&repo));
        ensure!(mentions_repo, "no file in the graph root records the repository {repo}");
        let default = paths_under(Path::new(&e.profile.graph_root), 4);
        let leaked: Vec<_> = default.iter().filter(|p| p.to_string_lossy().contains(container)).collect();
        ensure!(leaked.is_empty(), "the default graph root got {leaked:?}");
        Ok(Outcome::Passed)
    }
    .await;
    close(&e, daemon).await;
    result
}

/// Whether a container running when its daemon restarts is running afterwards, with `-r=false`
/// unless `restart`; a skip when the daemon has no `-r`.
async fn runs_after_restart(e: &Engine, restart: bool) -> anyhow::Result<Result<bool, Outcome>> {
    if !e.daemon_has_flag("-r").await? {
        return Ok(Err(skip(
            SkipKind::Divergence,
            "the daemon's --help has no -r/--restart: later Docker brings back after a daemon restart only containers with a restart policy",
        )));
    }
    let args = if restart { vec![] } else { vec!["-r=false".to_string()] };
    let mut daemon = loaded(e, Spec { args, ..Default::default() }).await?;
    let result = async {
        let name = e.unique("survivor");
        on(e, &daemon, &["run", "-d", "--net=none", "--name", &name, IMAGE, "sh", "-c", IDLE]).await?.success()?;
        daemon.restart().await?;
        // Give the engine time to start (or stop) it; `ps` then tells what it did.
        let state = |out: CliRun| -> anyhow::Result<bool> { Ok(out.success()?.stdout.trim() == "true") };
        let settled = eventually("the container settling after the restart", SETTLE, || async {
            let running = state(on(e, &daemon, &["inspect", "--format", "{{.State.Running}}", &name]).await?)?;
            Ok((running == restart).then_some(()))
        });
        let _ = settled.await;
        let listed = on(e, &daemon, &["ps", "-q", "--no-trunc"]).await?.success()?.stdout;
        let id = on(e, &daemon, &["inspect", "--format", "{{.Id}}", &name]).await?.success()?.stdout;
        Ok(Ok(listed.contains(id.trim())))
    }
    .await;
    close(e, daemon).await;
    result
}

/// Under the default `-r=true`, a container running when the daemon went down runs again
/// once it is back.
pub async fn restart_true(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    Ok(match runs_after_restart(&e, true).await? {
        Ok(true) => Outcome::Passed,
        Ok(false) => Outcome::Failed("the container is not running after the daemon restarted".into()),
        Err(skipped) => skipped,
    })
}

/// Under `-r=false`, a container running when the daemon went down is stopped once it is back.
pub async fn restart_false(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    Ok(match runs_after_restart(&e, false).await? {
        Ok(false) => Outcome::Passed,
        Ok(true) => Outcome::Failed("ps lists the container as running after the daemon restarted".into()),
        Err(skipped) => skipped,
    })
}

/// `-s` with an available driver shows in `info`; an unknown driver stops the start.
pub async fn storage_driver(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let mut daemon = started(&e, Spec { args: vec!["-s".into(), "vfs".into()], ..Default::default() }).await?;
    let info: serde_json::Value = daemon.get(&daemon.host, "/info").await?.json()?;
    ensure!(info["Driver"] == "vfs", "with -s vfs, info reports Driver {}", info["Driver"]);
    daemon.stop().await?;
    let bad = vec!["-s".to_string(), "no-such-driver".to_string()];
    let mut refused = TestDaemon::start(&e, Spec { args: bad, ..Default::default() }).await?;
    ensure!(!refused.exit(REFUSAL).await?.success(), "the daemon started with an unknown storage driver");
    Ok(Outcome::Passed)
}

struct RemoveDir(std::path::PathBuf);

impl Drop for RemoveDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
