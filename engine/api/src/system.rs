//! Bodies of the system endpoints: `/version`, `/info` and `/_ping`, in the 2014 (v1.9) shape
//! and today's (v1.41) shape. Every field defaults when absent, so one type reads both
//! berth's and moby's answers.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `GET /version` as API 1.9 clients expect it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct VersionV1_9 {
    pub version: String,
    pub git_commit: String,
    pub go_version: String,
}

/// `GET /version` as API 1.41 clients expect it (what the docker CLI 28 reads).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Version {
    pub platform: Platform,
    pub components: Vec<Component>,
    pub version: String,
    pub api_version: String,
    #[serde(rename = "MinAPIVersion")]
    pub min_api_version: String,
    pub git_commit: String,
    /// Named after Docker's Go toolchain field; berth puts its Rust toolchain here.
    pub go_version: String,
    pub os: String,
    pub arch: String,
    pub kernel_version: String,
    pub experimental: bool,
    pub build_time: String,
}

impl Version {
    /// The shape of this answer an API 1.9 client expects.
    pub fn to_v1_9(&self) -> VersionV1_9 {
        VersionV1_9 {
            version: self.version.clone(),
            git_commit: self.git_commit.clone(),
            go_version: self.go_version.clone(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Platform {
    pub name: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Component {
    pub name: String,
    pub version: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub details: BTreeMap<String, String>,
}

/// `GET /info` as API 1.9 clients expect it: the documented fields plus the driver and kernel
/// details Docker 0.8 added.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct InfoV1_9 {
    pub containers: u64,
    pub images: u64,
    pub driver: String,
    pub driver_status: Vec<[String; 2]>,
    pub execution_driver: String,
    pub kernel_version: String,
    pub debug: bool,
    #[serde(rename = "NFd")]
    pub n_fd: u64,
    pub n_goroutines: u64,
    #[serde(rename = "NEventsListener")]
    pub n_events_listener: u64,
    pub memory_limit: bool,
    pub swap_limit: bool,
    #[serde(rename = "IPv4Forwarding")]
    pub ipv4_forwarding: bool,
    pub index_server_address: String,
}

/// `GET /info` as API 1.41 clients expect it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Info {
    #[serde(rename = "ID")]
    pub id: String,
    pub containers: u64,
    pub containers_running: u64,
    pub containers_paused: u64,
    pub containers_stopped: u64,
    pub images: u64,
    pub driver: String,
    pub driver_status: Vec<[String; 2]>,
    pub plugins: Plugins,
    pub memory_limit: bool,
    pub swap_limit: bool,
    pub kernel_memory: bool,
    pub cpu_cfs_period: bool,
    pub cpu_cfs_quota: bool,
    #[serde(rename = "CPUShares")]
    pub cpu_shares: bool,
    #[serde(rename = "CPUSet")]
    pub cpu_set: bool,
    pub pids_limit: bool,
    pub oom_kill_disable: bool,
    #[serde(rename = "IPv4Forwarding")]
    pub ipv4_forwarding: bool,
    pub bridge_nf_iptables: bool,
    pub bridge_nf_ip6tables: bool,
    pub debug: bool,
    #[serde(rename = "NFd")]
    pub n_fd: u64,
    pub n_goroutines: u64,
    pub system_time: String,
    pub logging_driver: String,
    pub cgroup_driver: String,
    pub cgroup_version: String,
    #[serde(rename = "NEventsListener")]
    pub n_events_listener: u64,
    pub kernel_version: String,
    pub operating_system: String,
    #[serde(rename = "OSVersion")]
    pub os_version: String,
    #[serde(rename = "OSType")]
    pub os_type: String,
    pub architecture: String,
    pub index_server_address: String,
    #[serde(rename = "NCPU")]
    pub ncpu: u64,
    pub mem_total: u64,
    pub docker_root_dir: String,
    pub http_proxy: String,
    pub https_proxy: String,
    pub no_proxy: String,
    pub name: String,
    pub labels: Vec<String>,
    pub experimental_build: bool,
    pub server_version: String,
    pub runtimes: BTreeMap<String, Runtime>,
    pub default_runtime: String,
    pub swarm: Swarm,
    pub live_restore_enabled: bool,
    pub isolation: String,
    pub init_binary: String,
    pub security_options: Vec<String>,
    pub warnings: Vec<String>,
    /// Not in Docker's 1.41 shape: the execution driver line that `info` printed in 2014.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub execution_driver: String,
}

impl Info {
    /// The shape of this answer an API 1.9 client expects.
    pub fn to_v1_9(&self) -> InfoV1_9 {
        InfoV1_9 {
            containers: self.containers,
            images: self.images,
            driver: self.driver.clone(),
            driver_status: self.driver_status.clone(),
            execution_driver: self.execution_driver.clone(),
            kernel_version: self.kernel_version.clone(),
            debug: self.debug,
            n_fd: self.n_fd,
            n_goroutines: self.n_goroutines,
            n_events_listener: self.n_events_listener,
            memory_limit: self.memory_limit,
            swap_limit: self.swap_limit,
            ipv4_forwarding: self.ipv4_forwarding,
            index_server_address: self.index_server_address.clone(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Plugins {
    pub volume: Vec<String>,
    pub network: Vec<String>,
    pub authorization: Option<Vec<String>>,
    pub log: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Runtime {
    pub path: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Swarm {
    #[serde(rename = "NodeID")]
    pub node_id: String,
    pub node_addr: String,
    pub local_node_state: String,
    pub control_available: bool,
    pub error: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_9_version_has_exactly_the_documented_fields() {
        let v = Version { version: "0.1.0".into(), api_version: "1.41".into(), ..Default::default() };
        let json = serde_json::to_value(v.to_v1_9()).unwrap();
        let mut keys: Vec<_> = json.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        assert_eq!(keys, ["GitCommit", "GoVersion", "Version"]);
    }

    #[test]
    fn v1_9_info_keeps_documented_names() {
        let json = serde_json::to_value(Info::default().to_v1_9()).unwrap();
        for key in ["Containers", "Images", "Debug", "NFd", "NGoroutines", "MemoryLimit", "SwapLimit", "IPv4Forwarding"]
        {
            assert!(json.get(key).is_some(), "missing {key} in {json}");
        }
    }

    #[test]
    fn reads_a_sparse_answer() {
        let info: Info = serde_json::from_str(r#"{"Containers":3,"ID":"x","Unknown":1}"#).unwrap();
        assert_eq!((info.containers, info.id.as_str()), (3, "x"));
    }
}
