//! The engine's side of distribution: pulling and pushing images between the local image
//! store and a registry, logging in and searching. Today's registries speak v2 (Docker schema 2
//! manifests, gzip layers); berth's own index and registry and 2014 ones speak v1 (5.4.1 §2).
//! Each pull or push asks `GET /v2/` first and falls back to v1 when the server does not
//! answer it as a v2 registry.
//!
//! Names with a `host:port/` prefix go to that registry with no index (3.2.7); other names go
//! to the daemon's default index (`--index`), never to a hub on the internet.

mod auth;
mod channel;
mod gzip;
mod progress;
mod reference;
mod transport;
mod v1;
mod v2;

pub use auth::{AuthConfig, AuthConfigs};
pub use channel::ChannelReader;
pub use progress::{Progress, Sink};
pub use reference::Remote;

use berth_image::{Store, StoreError};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use transport::Server;

/// Why a pull, push, login or search failed.
#[derive(Debug, thiserror::Error)]
pub enum DistributionError {
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("cannot reach the registry at {0}")]
    Unreachable(String),
    #[error("{0}")]
    Protocol(String),
    #[error("{0}")]
    Store(#[from] StoreError),
}

impl DistributionError {
    /// The HTTP status the daemon answers with when the error comes before any progress.
    pub fn status(&self) -> u16 {
        match self {
            DistributionError::Invalid(_) => 400,
            DistributionError::NotFound(_) => 404,
            DistributionError::Unauthorized(_) => 401,
            DistributionError::Forbidden(_) => 403,
            DistributionError::Unreachable(_) | DistributionError::Protocol(_) => 500,
            DistributionError::Store(e) => match e.kind() {
                berth_image::ErrorKind::NotFound => 404,
                berth_image::ErrorKind::InvalidInput => 400,
                berth_image::ErrorKind::Conflict => 409,
                berth_image::ErrorKind::Internal => 500,
            },
        }
    }
}

/// Runs blocking store work.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, DistributionError> + Send + 'static,
) -> Result<T, DistributionError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| DistributionError::Protocol(format!("a store task failed: {e}")))?
}

/// What the engine keeps for distribution: the store, the default index, and which
/// compressed blob each layer was last sent or fetched as.
pub struct Distributor {
    store: Arc<Store>,
    index: Option<String>,
    blobs: Mutex<HashMap<String, Blob>>,
    /// Layers being fetched, so concurrent pulls store each once.
    fetching: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// v1 ids pulled, and where each stands locally.
    v1_images: Mutex<HashMap<String, v1::Parent>>,
}

/// A compressed layer blob as a registry knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Blob {
    pub digest: String,
    pub size: u64,
    pub media_type: String,
}

/// One hit of a search, as `GET /images/search` answers it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchHit {
    pub name: String,
    pub description: String,
    pub star_count: u64,
    pub is_official: bool,
    pub is_automated: bool,
}

impl Distributor {
    /// `index` is the default index's URL (`http://host:port`), if the daemon has one.
    pub fn new(store: Arc<Store>, index: Option<String>) -> Distributor {
        let index = index.map(|i| i.trim_end_matches('/').to_string()).filter(|i| !i.is_empty());
        Distributor { store, index, blobs: Mutex::default(), fetching: Mutex::default(), v1_images: Mutex::default() }
    }

    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// `host:port` of the default index.
    fn index_authority(&self) -> Result<String, DistributionError> {
        let url = self.index.as_deref().ok_or_else(|| {
            DistributionError::Invalid(
                "no default index: start the daemon with --index http://HOST:PORT, or name the registry (HOST:PORT/NAME)"
                    .into(),
            )
        })?;
        Ok(transport::split_url(url)?.0)
    }

    /// The server a repository lives on: its own registry, or the default index.
    fn server_for(&self, remote: &Remote) -> Result<Server, DistributionError> {
        match &remote.registry {
            Some(host) => Ok(Server::new(host.clone())),
            None => Ok(Server::new(self.index_authority()?)),
        }
    }

    fn remember_blob(&self, diff_id: &str, blob: Blob) {
        self.blobs.lock().unwrap_or_else(|e| e.into_inner()).insert(diff_id.to_string(), blob);
    }

    fn known_blob(&self, diff_id: &str) -> Option<Blob> {
        self.blobs.lock().unwrap_or_else(|e| e.into_inner()).get(diff_id).cloned()
    }

    fn remember_v1(&self, v1: &str, parent: &v1::Parent) {
        self.v1_images.lock().unwrap_or_else(|e| e.into_inner()).insert(v1.to_string(), parent.clone());
    }

    /// A v1 image already here: pulled before, or a berth image whose id it is.
    fn v1_image(&self, v1: &str) -> Option<v1::Parent> {
        let remembered = self.v1_images.lock().unwrap_or_else(|e| e.into_inner()).get(v1).cloned();
        if let Some(parent) = remembered {
            let layer_ok = parent.chain.as_ref().is_none_or(|c| self.store.layer(c).is_some());
            let image_ok = parent.image.as_ref().is_none_or(|i| self.store.get(i).is_some());
            if layer_ok && image_ok {
                return Some(parent);
            }
        }
        let image = self.store.get(v1)?;
        Some(v1::Parent {
            chain: image.layers.last().cloned(),
            diff_ids: image.config.rootfs.as_ref().map(|r| r.diff_ids.clone()).unwrap_or_default(),
            image: Some(image.id.clone()),
            layer_only: false,
        })
    }

    fn fetch_lock(&self, chain: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut map = self.fetching.lock().unwrap_or_else(|e| e.into_inner());
        map.retain(|_, lock| Arc::strong_count(lock) > 1);
        map.entry(chain.to_string()).or_default().clone()
    }

    /// Pulls `name` (one tag, or every tag when none is given) into the store.
    pub async fn pull(
        self: &Arc<Self>,
        name: &str,
        tag: Option<&str>,
        auth: &AuthConfig,
        progress: &Progress,
    ) -> Result<(), DistributionError> {
        let (remote, tag) = reference::split(name, tag)?;
        let server = Arc::new(self.server_for(&remote)?);
        if v2::speaks_v2(&server, auth, &remote, false).await? {
            return v2::pull(self, &server, &remote, tag.as_deref(), progress).await;
        }
        v1::pull(self, server, &remote, tag.as_deref(), auth, progress).await
    }

    /// Pushes `name` (one tag, or every tag the local repository has).
    pub async fn push(
        self: &Arc<Self>,
        name: &str,
        tag: Option<&str>,
        auth: &AuthConfig,
        progress: &Progress,
    ) -> Result<(), DistributionError> {
        let (remote, tag) = reference::split(name, tag)?;
        let tags = self.local_tags(&remote, tag.as_deref())?;
        let server = Arc::new(self.server_for(&remote)?);
        if v2::speaks_v2(&server, auth, &remote, true).await? {
            return v2::push(self, &server, &remote, &tags, progress).await;
        }
        v1::push(self, server, &remote, &tags, auth, progress).await
    }

    /// The tags to push: the one asked for, or all the repository has.
    fn local_tags(&self, remote: &Remote, tag: Option<&str>) -> Result<Vec<(String, String)>, DistributionError> {
        let tags: Vec<(String, String)> = match tag {
            Some(tag) => self
                .store
                .resolve(&format!("{}:{tag}", remote.local))
                .map(|image| vec![(tag.to_string(), image.id.clone())])
                .unwrap_or_default(),
            None => self.store.names_in(&remote.local),
        };
        if tags.is_empty() {
            let what = tag.map_or_else(|| remote.local.clone(), |t| format!("{}:{t}", remote.local));
            return Err(DistributionError::NotFound(format!("An image does not exist locally with the tag: {what}")));
        }
        Ok(tags)
    }

    /// The credentials `configs` holds for the registry or index `name` lives on.
    pub fn auth_for(&self, configs: &AuthConfigs, name: &str) -> AuthConfig {
        let Ok((remote, _)) = reference::split(name, None) else { return AuthConfig::default() };
        let index = self.index_authority().ok();
        configs.lookup(remote.registry.as_deref(), index.as_deref())
    }

    /// Checks credentials with a registry or the index: `Ok(status text)` or why not.
    pub async fn login(&self, auth: &AuthConfig) -> Result<String, DistributionError> {
        let server = match auth.registry_host() {
            Some(host) => Server::new(host),
            None => Server::new(self.index_authority()?),
        };
        let remote = Remote { local: String::new(), registry: None, path: String::new() };
        let (user, password) = auth
            .user_password()
            .ok_or_else(|| DistributionError::Unauthorized("give a username and a password to log in".into()))?;
        if v2::speaks_v2(&server, &AuthConfig::default(), &remote, false).await.unwrap_or(false) {
            return v2::login(&server, &user, &password).await;
        }
        v1::login(&server, &user, &password, auth.email.as_deref().unwrap_or_default()).await
    }

    /// Searches the default index (or the registry a `host:port/` term names).
    pub async fn search(&self, term: &str, auth: &AuthConfig) -> Result<Vec<SearchHit>, DistributionError> {
        let (server, term) = match term.split_once('/') {
            Some((host, rest)) if host.contains(':') || host.contains('.') || host == "localhost" => {
                (Server::new(host), rest.to_string())
            }
            _ => (Server::new(self.index_authority()?), term.to_string()),
        };
        if let Some((user, password)) = auth.user_password() {
            server.set_auth(transport::Authorization::basic(&user, &password));
        }
        v1::search(&server, &term).await
    }
}
