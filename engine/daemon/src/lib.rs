#![recursion_limit = "256"]
//! The berth daemon: guards (root, graph lock, pid file), listeners, and the Remote API server
//! over the engine's state. `run` is what `berth -d` calls.

pub mod build;
pub mod config;
pub mod containers;
pub mod engine;
pub mod events;
pub mod guard;
pub mod host;
pub mod http;
pub mod listen;
pub mod volumes;

pub use config::{Config, ConfigError, Flags};

use berth_api::BuildInfo;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("{0}")]
    Guard(#[from] guard::GuardError),
    #[error("{0}")]
    Listen(#[from] listen::ListenError),
    #[error("cannot start the daemon's runtime: {0}")]
    Runtime(io::Error),
    #[error("cannot open the image store: {0}")]
    Store(#[from] berth_image::StoreError),
    #[error("cannot load the containers: {0}")]
    Containers(String),
    #[error("cannot read or write {path}: {source}")]
    State { path: String, source: io::Error },
    #[error("cannot set up networking: {0}")]
    Network(String),
}

/// Runs the daemon until SIGINT or SIGTERM. The sockets appear only once it is ready to
/// answer, and are removed (with the pid file) when it stops.
pub fn run(config: Config, build: BuildInfo) -> Result<(), DaemonError> {
    guard::require_root()?;
    let _lock = guard::GraphLock::acquire(&config.graph)?;
    let _pidfile = guard::PidFile::create(&config.pidfile)?;
    let id = engine_id(&config.graph)?;
    let images = berth_image::Store::open(&config.graph, config.storage_driver.as_deref())?;
    tracing::info!("image store ready: {} images, storage driver {}", images.images().len(), images.driver_name());
    let containers = containers::Containers::open(&config.graph.join("containers"), &exec_root(&config.graph))
        .map_err(|e| DaemonError::Containers(e.to_string()))?;
    for record in containers.list() {
        images.hold(&record.id, &record.layers);
    }
    let volumes = volumes::Volumes::open(&config.graph.join("volumes"), volumes::users_of(&containers))
        .map_err(|e| DaemonError::Containers(e.to_string()))?;
    let exe = std::env::current_exe().map_err(|source| DaemonError::State { path: "/proc/self/exe".into(), source })?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(DaemonError::Runtime)?;
    let net = open_network(&config, runtime.handle().clone())?;
    runtime.block_on(async {
        // Watch for SIGTERM and SIGINT before any socket exists: a client that sees the
        // socket may stop the daemon at once, and that must be a clean stop.
        let shutdown = shutdown_signal()?;
        let listeners = listen::bind_all(&config.listen_hosts())?;
        for listener in &listeners {
            tracing::info!("API listening on {}", listener.describe());
        }
        let engine = Arc::new(engine::Engine::new(config, build, id, images, containers, exe, net, volumes));
        engine.connect_volume_events();
        engine.recover_containers().await;
        http::serve(engine.clone(), listeners, shutdown).await;
        engine.release_host().await;
        tracing::info!("daemon stopped");
        Ok(())
    })
}

/// Networking from the daemon's flags. berth's own bridge is `berth0` and its iptables chains
/// `BERTH*` for the default graph root; a daemon on another root (a test's, say) gets a
/// bridge and chains named after that root, so two daemons never share them.
fn open_network(config: &Config, handle: tokio::runtime::Handle) -> Result<berth_network::Controller, DaemonError> {
    let error = |e: &dyn std::fmt::Display| DaemonError::Network(e.to_string());
    let (bridge, chains) = network_names(&config.graph, in_own_network_namespace());
    let mut net = berth_network::Config::new(config.graph.join("network"));
    net.bridge = berth_network::BridgeMode::from_flag(config.bridge.as_deref().unwrap_or(""), &bridge);
    net.bip = config.bip.as_deref().map(str::parse).transpose().map_err(|e| error(&e))?;
    net.mtu = (config.mtu > 0).then_some(config.mtu);
    net.iptables = config.iptables;
    net.icc = config.icc;
    net.default_ip = match config.ip {
        std::net::IpAddr::V4(ip) => ip,
        std::net::IpAddr::V6(ip) => return Err(error(&format!("--ip {ip}: only IPv4 addresses are supported"))),
    };
    net.chain_prefix = chains;
    // Daemons starting together must not pick the same free range for their bridges.
    std::fs::create_dir_all("/run/berth").map_err(|e| error(&e))?;
    let lock = std::fs::File::create("/run/berth/network.lock").map_err(|e| error(&e))?;
    nix::fcntl::Flock::lock(lock, nix::fcntl::FlockArg::LockExclusive)
        .map_err(|(_, e)| error(&e))
        .and_then(|_guard| berth_network::Controller::open_host(net, handle).map_err(|e| error(&e)))
}

/// The managed bridge's name and the chain prefix for a graph root. In the host's network
/// namespace only the daemon of the default graph root is `berth0` with chains `BERTH`; any
/// other gets names of its own from its graph root, so a second daemon never takes over the
/// first one's bridge. A daemon in a network namespace of its own has nobody to collide with
/// and uses the default names.
pub fn network_names(graph: &Path, own_namespace: bool) -> (String, String) {
    if own_namespace || graph == Path::new(config::DEFAULT_GRAPH) {
        return (config::DEFAULT_BRIDGE.to_string(), "BERTH".to_string());
    }
    let digest = berth_image::store::sha256_digest(graph.as_os_str().as_encoded_bytes());
    let short = &digest["sha256:".len()..]["".len()..8];
    (format!("berth-{short}"), format!("BERTH-{short}"))
}

/// Whether this process runs in a network namespace of its own: one `ip netns` named (under
/// /run/netns), or another one than process 1's (the host's) when that can be read.
fn in_own_network_namespace() -> bool {
    use std::os::unix::fs::MetadataExt;
    let key = |path: &Path| std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()));
    let Some(own) = key(Path::new("/proc/self/ns/net")) else { return false };
    if key(Path::new("/proc/1/ns/net")).is_some_and(|host| host != own) {
        return true;
    }
    std::fs::read_dir("/run/netns").into_iter().flatten().flatten().any(|entry| key(&entry.path()) == Some(own))
}

/// Resolves at the first SIGTERM or SIGINT.
fn shutdown_signal() -> Result<impl std::future::Future<Output = ()>, DaemonError> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).map_err(DaemonError::Runtime)?;
    let mut int = signal(SignalKind::interrupt()).map_err(DaemonError::Runtime)?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
            _ = int.recv() => tracing::info!("SIGINT: shutting down"),
        }
    })
}

/// The engine's id: made once, kept in the graph root so `info` shows the same one always.
fn engine_id(graph: &Path) -> Result<String, DaemonError> {
    let path = graph.join("engine-id");
    let state_error = |source| DaemonError::State { path: path.display().to_string(), source };
    match std::fs::read_to_string(&path) {
        Ok(id) if id.trim().len() == 64 => return Ok(id.trim().to_string()),
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(state_error(e)),
    }
    let id = random_id().map_err(state_error)?;
    guard::write_atomic(&path, id.as_bytes()).map_err(state_error)?;
    Ok(id)
}

/// Where containers' runtime state (monitor sockets, exit status) lives: a short path under
/// /run, one per graph root, so two daemons never share it and socket paths stay short.
pub fn exec_root(graph: &Path) -> PathBuf {
    let digest = berth_image::store::sha256_digest(graph.as_os_str().as_encoded_bytes());
    PathBuf::from(format!("/run/berth/{}", &digest["sha256:".len()..]["".len()..8]))
}

/// 64 hex characters from the kernel's random source, as Docker's ids are.
pub fn random_id() -> io::Result<String> {
    let mut bytes = [0u8; 32];
    std::io::Read::read_exact(&mut std::fs::File::open("/dev/urandom")?, &mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}
