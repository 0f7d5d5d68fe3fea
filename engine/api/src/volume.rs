//! Volumes on the wire (API 1.21 and later): a volume as list, inspect and create answer it,
//! the create request, the list and prune answers, and a container's mount as `Mounts` in
//! inspect shows it.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A volume. `Labels` and `Options` are `null` when empty, as Docker sends them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Volume {
    pub created_at: String,
    pub driver: String,
    pub labels: Option<BTreeMap<String, String>>,
    pub mountpoint: String,
    pub name: String,
    pub options: Option<BTreeMap<String, String>>,
    pub scope: String,
    /// Only in `GET /system/df`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage_data: Option<UsageData>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct UsageData {
    /// Bytes, or -1 when unknown.
    pub size: i64,
    /// Containers referring to the volume, or -1 when unknown.
    pub ref_count: i64,
}

/// `POST /volumes/create`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct CreateRequest {
    pub name: String,
    pub driver: String,
    pub driver_opts: Option<BTreeMap<String, String>>,
    pub labels: Option<BTreeMap<String, String>>,
}

/// `GET /volumes`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ListResponse {
    pub volumes: Vec<Volume>,
    pub warnings: Option<Vec<String>>,
}

/// `POST /volumes/prune`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct PruneResponse {
    pub volumes_deleted: Option<Vec<String>>,
    pub space_reclaimed: u64,
}

/// One entry of a container's `Mounts` (API 1.20 and later). Binds and tmpfs mounts have no
/// `Name` or `Driver`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct MountPoint {
    #[serde(rename = "Type")]
    pub kind: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    pub source: String,
    pub destination: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub driver: String,
    pub mode: String,
    #[serde(rename = "RW")]
    pub rw: bool,
    pub propagation: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_labels_and_options_are_null() {
        let v = Volume { name: "data".into(), driver: "local".into(), scope: "local".into(), ..Default::default() };
        let text = serde_json::to_string(&v).unwrap();
        assert!(text.contains(r#""Labels":null"#) && text.contains(r#""Options":null"#), "{text}");
        assert!(!text.contains("UsageData"));
    }

    #[test]
    fn a_bind_mount_has_no_name_or_driver() {
        let m = MountPoint {
            kind: "bind".into(),
            source: "/srv".into(),
            destination: "/d".into(),
            rw: true,
            ..Default::default()
        };
        let text = serde_json::to_string(&m).unwrap();
        assert_eq!(text, r#"{"Type":"bind","Source":"/srv","Destination":"/d","Mode":"","RW":true,"Propagation":""}"#);
    }
}
