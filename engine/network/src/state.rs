//! What berth remembers about networking across daemon restarts: networks (with their
//! leases), endpoints (with their published ports and DNS names) and links. One JSON file,
//! replaced by write-temp, fsync, rename.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::ipam::Pool;
use crate::ipnet::Ipv4Net;
use crate::ports::{ExposedPort, PortBinding};

const FILE: &str = "network.json";

/// Why the state could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("couldn't {what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the network state {path} is corrupt: {source}")]
    Corrupt {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

/// A network: the default bridge or a user-defined one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkRecord {
    pub id: String,
    pub name: String,
    /// The bridge interface (`berth0`, `br-<12 hex>`, or the one given with `-b`).
    pub bridge: String,
    /// The bridge's address with the prefix, e.g. 172.17.42.1/16.
    pub address: Ipv4Net,
    pub internal: bool,
    pub icc: bool,
    /// Whether this is the default network (`bridge`) rather than a user-defined one.
    pub default: bool,
    /// Whether berth created the bridge (and so deletes it on teardown).
    pub created_bridge: bool,
    pub pool: Pool,
    /// What the daemon keeps for `network inspect` (labels, options, creation time).
    #[serde(default)]
    pub meta: NetworkMeta,
}

/// A network's labels, driver options and creation time: berth only stores them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NetworkMeta {
    pub labels: std::collections::BTreeMap<String, String>,
    pub options: std::collections::BTreeMap<String, String>,
    /// RFC 3339.
    pub created: String,
    pub attachable: bool,
}

/// A container's interface on one network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    pub id: String,
    pub container_id: String,
    pub network_id: String,
    pub network_name: String,
    /// The interface inside the container (`eth0`, `eth1`, ...).
    pub interface: String,
    /// The host end of the veth pair (`veth` + 7 hex).
    pub host_veth: String,
    pub ip: Ipv4Addr,
    pub prefix: u8,
    /// The default route's next hop; `None` on internal networks.
    pub gateway: Option<Ipv4Addr>,
    /// 02:42 followed by the four bytes of `ip`, as Docker derives it.
    pub mac: String,
    pub mtu: u32,
    /// The container's network namespace as given at attach.
    pub netns: PathBuf,
    /// Names the embedded DNS answers with `ip` (user networks only).
    #[serde(default)]
    pub names: Vec<String>,
    #[serde(default)]
    pub ports: Vec<PortBinding>,
}

/// A link under `--icc=false`: `parent` may reach `ports` of `child`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkRecord {
    pub parent: String,
    pub child: String,
    pub network_id: String,
    pub ports: Vec<ExposedPort>,
}

/// Everything persisted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    #[serde(default)]
    pub networks: BTreeMap<String, NetworkRecord>,
    #[serde(default)]
    pub endpoints: BTreeMap<String, Endpoint>,
    #[serde(default)]
    pub links: Vec<LinkRecord>,
}

impl State {
    /// Reads the state in `dir`; a missing file is an empty state.
    pub fn load(dir: &Path) -> Result<Self, StateError> {
        let path = dir.join(FILE);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|source| StateError::Corrupt { path, source }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(source) => Err(StateError::Io { what: "read", path, source }),
        }
    }

    /// Writes the state to `dir` atomically.
    pub fn save(&self, dir: &Path) -> Result<(), StateError> {
        let io = |what, path: &Path| {
            let path = path.to_path_buf();
            move |source| StateError::Io { what, path, source }
        };
        std::fs::create_dir_all(dir).map_err(io("create", dir))?;
        let path = dir.join(FILE);
        let tmp = dir.join(format!(".{FILE}.tmp"));
        let bytes = serde_json::to_vec_pretty(self).map_err(|e| StateError::Io {
            what: "encode",
            path: path.clone(),
            source: std::io::Error::other(e),
        })?;
        let mut file = std::fs::File::create(&tmp).map_err(io("create", &tmp))?;
        file.write_all(&bytes).map_err(io("write", &tmp))?;
        file.sync_all().map_err(io("sync", &tmp))?;
        std::fs::rename(&tmp, &path).map_err(io("replace", &path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_missing_file() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(State::load(dir.path()).unwrap(), State::default());
        let mut s = State::default();
        let address: Ipv4Net = "10.3.0.1/24".parse().unwrap();
        s.networks.insert(
            "abc".into(),
            NetworkRecord {
                id: "abc".into(),
                name: "backend".into(),
                bridge: "br-abc".into(),
                address,
                internal: true,
                icc: true,
                default: false,
                created_bridge: true,
                pool: Pool::new(address, address.addr()),
                meta: NetworkMeta::default(),
            },
        );
        s.save(dir.path()).unwrap();
        assert_eq!(State::load(dir.path()).unwrap(), s);
    }

    #[test]
    fn corrupt_file_is_reported_with_its_path() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(FILE), b"{not json").unwrap();
        let err = State::load(dir.path()).unwrap_err();
        assert!(err.to_string().contains("network.json"), "{err}");
    }
}
