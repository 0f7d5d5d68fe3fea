//! The daemon's own flags (5.1.4, 2.13, 3.1.4): each case starts a daemon of its own in a
//! temporary directory through the profile, and stops and removes it afterwards.

use crate::daemon::{Spec, TestDaemon};
use crate::engine::Engine;
use crate::outcome::{skip, Outcome, SkipKind};
use anyhow::{ensure, Context};
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

async fn started(e: &Engine, spec: Spec) -> anyhow::Result<TestDaemon> {
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

fn free_port() -> anyhow::Result<u16> {
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

/// Without `-H` (or with an empty one) the daemon listens on the engine's default socket.
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

struct RemoveDir(std::path::PathBuf);

impl Drop for RemoveDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
