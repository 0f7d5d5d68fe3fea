//! A container's configuration as the Remote API and image configs carry it (`Config`,
//! `ContainerConfig`): today's field names, plus the 2014 ones that later moved to HostConfig.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The empty JSON object Docker uses as a set member: `"ExposedPorts": {"80/tcp": {}}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Empty {}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Config {
    pub hostname: String,
    pub domainname: String,
    pub user: String,
    pub attach_stdin: bool,
    pub attach_stdout: bool,
    pub attach_stderr: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exposed_ports: Option<BTreeMap<String, Empty>>,
    pub tty: bool,
    pub open_stdin: bool,
    pub stdin_once: bool,
    pub env: Option<Vec<String>>,
    #[serde(deserialize_with = "crate::strslice::deserialize")]
    pub cmd: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<Healthcheck>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub args_escaped: bool,
    pub image: String,
    pub volumes: Option<BTreeMap<String, Empty>>,
    pub working_dir: String,
    #[serde(deserialize_with = "crate::strslice::deserialize")]
    pub entrypoint: Option<Vec<String>>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub network_disabled: bool,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub mac_address: String,
    pub on_build: Option<Vec<String>>,
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub stop_signal: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_timeout: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none", deserialize_with = "crate::strslice::deserialize")]
    pub shell: Option<Vec<String>>,
    // 2014 fields (API < 1.18 sent these here; later in HostConfig).
    #[serde(skip_serializing_if = "is_zero")]
    pub memory: i64,
    #[serde(skip_serializing_if = "is_zero")]
    pub memory_swap: i64,
    #[serde(skip_serializing_if = "is_zero")]
    pub cpu_shares: i64,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub cpuset: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port_specs: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dns: Option<Vec<String>>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub volumes_from: String,
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

/// `HEALTHCHECK` as a config carries it; durations in nanoseconds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Healthcheck {
    pub test: Option<Vec<String>>,
    #[serde(skip_serializing_if = "is_zero")]
    pub interval: i64,
    #[serde(skip_serializing_if = "is_zero")]
    pub timeout: i64,
    #[serde(skip_serializing_if = "is_zero")]
    pub start_period: i64,
    #[serde(skip_serializing_if = "is_zero")]
    pub retries: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cmd_as_string_array_or_null() {
        let c: Config = serde_json::from_str(r#"{"Cmd":"echo hi","Entrypoint":null}"#).unwrap();
        assert_eq!(c.cmd, Some(vec!["echo hi".to_string()]));
        assert_eq!(c.entrypoint, None);
        let c: Config = serde_json::from_str(r#"{"Cmd":["a","b"]}"#).unwrap();
        assert_eq!(c.cmd.unwrap(), ["a", "b"]);
    }

    #[test]
    fn serializes_nulls_docker_clients_expect() {
        let json = serde_json::to_value(Config::default()).unwrap();
        assert_eq!(json["Cmd"], serde_json::Value::Null);
        assert!(json.get("Memory").is_none());
        assert!(json.get("Healthcheck").is_none());
    }
}
