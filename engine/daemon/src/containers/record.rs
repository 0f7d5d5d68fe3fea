//! A container as the daemon keeps it: its configuration, host configuration and state,
//! persisted as `containers/<id>/container.json` (replaced atomically on every change).

use berth_api::container::Config;
use berth_api::containers::HostConfig;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Container {
    pub id: String,
    /// With the leading slash, as Docker shows names.
    pub name: String,
    pub created: String,
    /// The program and its arguments: entrypoint and command together.
    pub path: String,
    pub args: Vec<String>,
    pub config: Config,
    pub host_config: HostConfig,
    /// `sha256:<id>` of the image it was made from.
    pub image: String,
    /// The chain ids of that image's layers, base first: the container stands on them even if
    /// the image itself is removed.
    pub layers: Vec<String>,
    pub driver: String,
    pub state: RunState,
    pub restart_count: i64,
    /// Set by `stop`/`kill` so a restart policy does not restart what a user stopped.
    pub stopped_by_user: bool,
    pub exec_ids: Vec<String>,
    /// Binds, volumes and `--mount` tmpfs mounts, resolved at create (volumes named,
    /// `--volumes-from` copied).
    pub mount_points: Vec<super::mounts::MountPoint>,
    /// What `mount_points` were resolved from ([`super::mounts::source_key`]).
    pub mount_source: String,
    /// The networks it joins when it starts, by name: from its network mode, the create
    /// request's endpoint settings and `network connect`.
    pub networks: std::collections::BTreeMap<String, super::network::EndpointConfig>,
    /// Its networking while it runs (namespace, endpoints, published ports).
    pub net: super::network::NetState,
}

/// Where a container is in its life.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RunState {
    pub running: bool,
    pub paused: bool,
    pub restarting: bool,
    pub oom_killed: bool,
    pub dead: bool,
    /// The monitor is gone while the container was running (2014's "Ghost").
    pub ghost: bool,
    pub pid: i64,
    pub exit_code: i64,
    pub error: String,
    pub started_at: String,
    pub finished_at: String,
    pub health: Option<berth_api::containers::Health>,
}

/// Go's zero time, which Docker shows for times that have not happened.
pub const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

impl RunState {
    pub fn created() -> RunState {
        RunState { started_at: ZERO_TIME.into(), finished_at: ZERO_TIME.into(), ..Default::default() }
    }

    /// The one-word status of API 1.41: created, running, paused, restarting, exited, dead.
    pub fn status(&self) -> &'static str {
        match () {
            _ if self.dead => "dead",
            _ if self.restarting => "restarting",
            _ if self.paused => "paused",
            _ if self.running => "running",
            _ if self.started_at == ZERO_TIME || self.started_at.is_empty() => "created",
            _ => "exited",
        }
    }
}

impl Container {
    pub fn short_id(&self) -> &str {
        &self.id[..12.min(self.id.len())]
    }

    /// The name without its slash.
    pub fn plain_name(&self) -> &str {
        self.name.trim_start_matches('/')
    }
}

/// Where a container's files live: its record, layer and files under the graph root, and its
/// runtime state (monitor socket, exit status) under the short exec root, since a unix socket
/// path must fit in 108 bytes.
#[derive(Debug, Clone)]
pub struct Paths {
    pub dir: PathBuf,
    run: PathBuf,
}

impl Paths {
    pub fn new(containers: &Path, exec_root: &Path, id: &str) -> Paths {
        Paths { dir: containers.join(id), run: exec_root.join(&id[..id.len().min(12)]) }
    }

    pub fn record(&self) -> PathBuf {
        self.dir.join("container.json")
    }

    /// The storage driver's read-write layer and mount point.
    pub fn rw(&self) -> PathBuf {
        self.dir.join("rw")
    }

    /// The runtime's state: spec, monitor socket and pid, exit status.
    pub fn run(&self) -> PathBuf {
        self.run.clone()
    }

    pub fn log(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}-json.log"))
    }

    pub fn hostname(&self) -> PathBuf {
        self.dir.join("hostname")
    }

    pub fn hosts(&self) -> PathBuf {
        self.dir.join("hosts")
    }

    pub fn resolv_conf(&self) -> PathBuf {
        self.dir.join("resolv.conf")
    }
}
