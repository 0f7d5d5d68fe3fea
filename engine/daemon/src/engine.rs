//! The daemon's state — configuration, image store, containers, events — and the answers of
//! the system endpoints. The HTTP routes reach everything through an `Arc<Engine>`.

use crate::config::Config;
use crate::containers::Containers;
use crate::events::Events;
use crate::host;
use berth_api::system::{Component, Info, Platform, Runtime, Swarm, Version};
use berth_api::{ApiVersion, BuildInfo};
use berth_image::{ContainerUse, Store};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

pub struct Engine {
    pub(crate) config: Config,
    pub(crate) build: BuildInfo,
    /// Stable across restarts: kept in the graph root.
    id: String,
    pub(crate) images: Arc<Store>,
    pub(crate) containers: Arc<Containers>,
    pub(crate) volumes: Arc<crate::volumes::Volumes>,
    pub(crate) events: Events,
    /// This program, re-executed as each container's monitor.
    pub(crate) exe: PathBuf,
    pub(crate) execs: std::sync::Mutex<std::collections::HashMap<String, crate::containers::attach::ExecRecord>>,
    /// Bridges, addresses, published ports, links and user networks.
    pub(crate) net: Arc<berth_network::Controller>,
    /// Pulls, pushes, logins and searches, made on first use.
    distribution: std::sync::OnceLock<Arc<berth_registry::distribution::Distributor>>,
}

impl Engine {
    pub fn new(
        config: Config,
        build: BuildInfo,
        id: String,
        images: Store,
        containers: Containers,
        exe: PathBuf,
        net: berth_network::Controller,
        volumes: crate::volumes::Volumes,
    ) -> Engine {
        Engine {
            config,
            build,
            id,
            images: Arc::new(images),
            containers: Arc::new(containers),
            volumes: Arc::new(volumes),
            events: Events::default(),
            exe,
            execs: Default::default(),
            net: Arc::new(net),
            distribution: std::sync::OnceLock::new(),
        }
    }

    /// At shutdown: with no container running, what the daemon made on the host goes (its
    /// bridges, veths, iptables chains, exec root; network definitions stay and come back at
    /// the next start); otherwise all stays for the running containers and the next daemon.
    pub async fn release_host(self: &Arc<Self>) {
        let running = self.containers.list().iter().any(|c| c.state.running);
        let engine = self.clone();
        let _ = tokio::task::spawn_blocking(move || {
            if running {
                engine.net.shutdown();
                return;
            }
            if let Err(e) = engine.net.teardown() {
                tracing::warn!("cannot remove the daemon's networking: {e}");
            }
            let exec_root = crate::exec_root(&engine.config.graph);
            // Only empty directories: a container's leftovers are never deleted blindly.
            let _ = std::fs::remove_dir(exec_root.join("netns"));
            if let Ok(entries) = std::fs::read_dir(&exec_root) {
                for entry in entries.flatten() {
                    let _ = std::fs::remove_dir(entry.path());
                }
            }
            let _ = std::fs::remove_dir(&exec_root);
        })
        .await;
    }

    /// The engine's id (`info`'s ID), stable across restarts.
    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn images(&self) -> &Arc<Store> {
        &self.images
    }

    /// The distribution client, with the daemon's default index.
    pub fn distribution(&self) -> &Arc<berth_registry::distribution::Distributor> {
        self.distribution.get_or_init(|| {
            Arc::new(berth_registry::distribution::Distributor::new(self.images.clone(), self.config.index.clone()))
        })
    }

    /// The container made from an image, if any (it blocks the image's removal).
    pub fn image_in_use(&self, image_id: &str) -> Option<ContainerUse> {
        self.containers.using_image(image_id)
    }

    /// `--api-enable-cors`: send CORS headers and answer preflights.
    pub fn cors(&self) -> bool {
        self.config.api_enable_cors
    }

    pub fn version(&self) -> Version {
        let kernel = host::kernel_version();
        let details = BTreeMap::from([
            ("ApiVersion".to_string(), ApiVersion::CURRENT.to_string()),
            ("MinAPIVersion".to_string(), ApiVersion::MIN.to_string()),
            ("GitCommit".to_string(), self.build.git_commit.clone()),
            ("GoVersion".to_string(), self.build.rustc.clone()),
            ("Os".to_string(), "linux".to_string()),
            ("Arch".to_string(), berth_api::go_arch().to_string()),
            ("BuildTime".to_string(), self.build.build_time.clone()),
            ("Experimental".to_string(), "false".to_string()),
            ("KernelVersion".to_string(), kernel.clone()),
        ]);
        Version {
            platform: Platform { name: "berth".into() },
            components: vec![Component { name: "Engine".into(), version: self.build.version.clone(), details }],
            version: self.build.version.clone(),
            api_version: ApiVersion::CURRENT.to_string(),
            min_api_version: ApiVersion::MIN.to_string(),
            git_commit: self.build.git_commit.clone(),
            go_version: self.build.rustc.clone(),
            os: "linux".into(),
            arch: berth_api::go_arch().into(),
            kernel_version: kernel,
            experimental: false,
            build_time: self.build.build_time.clone(),
        }
    }

    pub fn info(&self) -> Info {
        let cgroups = host::cgroups();
        let (operating_system, os_version) = host::operating_system();
        let mut warnings = Vec::new();
        if !cgroups.swap_limit {
            warnings.push("WARNING: No swap limit support".to_string());
        }
        if !host::ipv4_forwarding() {
            warnings.push("WARNING: IPv4 forwarding is disabled".to_string());
        }
        Info {
            id: self.id.clone(),
            images: self.images.images().len() as u64,
            containers: self.containers.count().0 as u64,
            containers_running: self.containers.count().1 as u64,
            containers_stopped: (self.containers.count().0 - self.containers.count().1) as u64,
            n_events_listener: self.events.listeners() as u64,
            driver: self.images.driver_name().to_string(),
            driver_status: vec![["Backing Filesystem".into(), "extfs".into()]],
            memory_limit: cgroups.memory_limit,
            swap_limit: cgroups.swap_limit,
            cpu_shares: true,
            pids_limit: true,
            ipv4_forwarding: host::ipv4_forwarding(),
            debug: self.config.debug,
            n_fd: host::open_fds(),
            n_goroutines: host::threads(),
            system_time: berth_api::time::now_rfc3339(),
            logging_driver: "json-file".into(),
            cgroup_driver: "cgroupfs".into(),
            cgroup_version: if cgroups.v2_only { "2" } else { "1" }.into(),
            kernel_version: host::kernel_version(),
            operating_system,
            os_version,
            os_type: "linux".into(),
            architecture: std::env::consts::ARCH.into(),
            index_server_address: self
                .config
                .index
                .as_ref()
                .map_or_else(|| "https://index.docker.io/v1/".into(), |i| format!("{}/v1/", i.trim_end_matches('/'))),
            ncpu: host::cpu_count(),
            mem_total: host::mem_total(),
            docker_root_dir: self.config.graph.display().to_string(),
            name: host::hostname(),
            server_version: self.build.version.clone(),
            runtimes: BTreeMap::from([("berth".to_string(), Runtime { path: "berth".into() })]),
            default_runtime: "berth".into(),
            swarm: Swarm { local_node_state: "inactive".into(), ..Default::default() },
            isolation: String::new(),
            security_options: vec!["name=seccomp,profile=default".into()],
            warnings,
            execution_driver: format!("berth-{}", self.build.version),
            ..Default::default()
        }
    }
}
