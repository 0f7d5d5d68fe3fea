//! `import`: a root file system tar (any compression) becomes a one-layer image with no
//! parent and no command (5.1.14, 8.2).

use crate::archive;
use crate::store::{Image, Store, StoreError};
use berth_api::container::Config;
use berth_api::image::{History, ImageConfig, RootFs};
use std::io::Read;
use std::sync::Arc;

/// What an imported image records about itself.
pub struct ImportInfo<'a> {
    /// Where the tar came from (`-` for the request body, or a URL), for the history.
    pub source: &'a str,
    /// A commit message; the default says where the tar came from.
    pub message: Option<&'a str>,
    /// The engine's version, recorded as `docker_version`.
    pub engine_version: &'a str,
    /// RFC 3339 time of the import.
    pub created: String,
}

pub fn import(store: &Store, input: impl Read + Send + 'static, info: &ImportInfo) -> Result<Arc<Image>, StoreError> {
    let mut tar =
        archive::decompressed(input).map_err(|e| StoreError::Invalid(format!("cannot read the archive: {e}")))?;
    let layer = store.add_layer(None, &mut tar, None)?;
    let comment = info.message.map(String::from).unwrap_or_else(|| format!("Imported from {}", info.source));
    let config = ImageConfig {
        created: info.created.clone(),
        docker_version: info.engine_version.to_string(),
        comment: comment.clone(),
        architecture: berth_api::go_arch().to_string(),
        os: "linux".into(),
        config: Some(Config::default()),
        container_config: Some(Config::default()),
        rootfs: Some(RootFs { kind: "layers".into(), diff_ids: vec![layer.diff_id.clone()] }),
        history: vec![History { created: info.created.clone(), comment, ..Default::default() }],
        ..Default::default()
    };
    let bytes = serde_json::to_vec(&config).map_err(|e| StoreError::Invalid(e.to_string()))?;
    let image = store.add_image(&bytes);
    drop(layer);
    image
}
