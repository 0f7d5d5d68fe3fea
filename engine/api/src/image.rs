//! Images on the wire: the image config (the JSON whose sha256 is the image id, as `save`,
//! `load` and registries carry it), and the API's list, inspect, history and delete bodies in
//! their 1.41 and 2014 (v1.9) shapes.

use crate::container::Config;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// An image config. Unknown fields are ignored when reading; the id is always computed from
/// the stored bytes, never from a re-serialization.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ImageConfig {
    /// Present only in the legacy v1 layout (`<id>/json` in a save tar).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub id: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub parent: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub comment: String,
    pub created: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub container: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_config: Option<Config>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub docker_version: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub author: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config: Option<Config>,
    pub architecture: String,
    pub os: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rootfs: Option<RootFs>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<History>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RootFs {
    #[serde(rename = "type")]
    pub kind: String,
    pub diff_ids: Vec<String>,
}

/// One step of how an image was made.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct History {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub created: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub created_by: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub author: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub comment: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub empty_layer: bool,
}

/// `GET /images/json` entry, API 1.41.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ImageSummary {
    pub id: String,
    pub parent_id: String,
    pub repo_tags: Option<Vec<String>>,
    pub repo_digests: Option<Vec<String>>,
    pub created: i64,
    pub size: i64,
    pub shared_size: i64,
    pub virtual_size: i64,
    pub labels: Option<BTreeMap<String, String>>,
    pub containers: i64,
}

/// `GET /images/json` entry as API 1.7–1.9 clients read it (one entry per image).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ImageSummaryV1_9 {
    pub repo_tags: Vec<String>,
    pub id: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub parent_id: String,
    pub created: i64,
    pub size: i64,
    pub virtual_size: i64,
}

/// `GET /images/(name)/json`, API 1.41.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ImageInspect {
    pub id: String,
    pub repo_tags: Vec<String>,
    pub repo_digests: Vec<String>,
    pub parent: String,
    pub comment: String,
    pub created: String,
    pub container: String,
    pub container_config: Option<Config>,
    pub docker_version: String,
    pub author: String,
    pub config: Option<Config>,
    pub architecture: String,
    pub os: String,
    pub size: i64,
    pub virtual_size: i64,
    pub graph_driver: GraphDriver,
    #[serde(rename = "RootFS")]
    pub root_fs: RootFsInspect,
    pub metadata: ImageMetadata,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct GraphDriver {
    pub data: Option<BTreeMap<String, String>>,
    pub name: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RootFsInspect {
    #[serde(rename = "Type")]
    pub kind: String,
    pub layers: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ImageMetadata {
    pub last_tag_time: String,
}

/// `GET /images/(name)/json` as the 2014 documentation shows it (the v1 image JSON).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ImageInspectV1_9 {
    pub id: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub parent: String,
    pub created: String,
    pub container: String,
    pub container_config: Option<Config>,
    pub config: Option<Config>,
    pub docker_version: String,
    pub author: String,
    pub comment: String,
    pub architecture: String,
    pub os: String,
    #[serde(rename = "Size")]
    pub size: i64,
}

/// `GET /images/(name)/history` entry, API 1.41.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct HistoryItem {
    pub id: String,
    pub created: i64,
    pub created_by: String,
    pub tags: Option<Vec<String>>,
    pub size: i64,
    pub comment: String,
}

/// `GET /images/(name)/history` entry, API 1.9.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct HistoryItemV1_9 {
    pub id: String,
    pub created: i64,
    pub created_by: String,
}

/// One line of `DELETE /images/(name)`'s answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeleteItem {
    Untagged(String),
    Deleted(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delete_items_are_single_key_objects() {
        let items = vec![DeleteItem::Untagged("busybox:latest".into()), DeleteItem::Deleted("sha256:ab".into())];
        assert_eq!(
            serde_json::to_string(&items).unwrap(),
            r#"[{"Untagged":"busybox:latest"},{"Deleted":"sha256:ab"}]"#
        );
    }

    #[test]
    fn reads_a_docker_config() {
        let text = r#"{"architecture":"amd64","config":{"Env":["PATH=/bin"],"Cmd":["sh"]},"created":"2014-06-09T00:00:00Z",
            "os":"linux","rootfs":{"type":"layers","diff_ids":["sha256:aa"]},"history":[{"created_by":"x","empty_layer":true}]}"#;
        let c: ImageConfig = serde_json::from_str(text).unwrap();
        assert_eq!(c.rootfs.unwrap().diff_ids, ["sha256:aa"]);
        assert_eq!(c.config.unwrap().cmd.unwrap(), ["sh"]);
        assert!(c.history[0].empty_layer);
    }
}
