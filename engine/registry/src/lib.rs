//! Registry v1, index and v2 distribution: the servers behind `berth registry` and
//! `berth index`, as a library the `berth` binary calls and tests drive in-process.
//!
//! - [`run_registry`] serves the 2014 registry API (`/v1/...`, 5.4.1 §4 and 5.4.2) and today's
//!   distribution API (`/v2/...`, Docker schema 2 and OCI) from one storage root. Without an
//!   index it is standalone (5.4.1 §3.1) and also answers the index calls a docker client sends
//!   to a private registry.
//! - [`run_index`] serves the index (5.4.1 §4 and §6, 5.4.3): users, repositories, checksums,
//!   single-use tokens and search, kept in SQLite.
//!
//! [`start_registry`] and [`start_index`] do the same on a [`Listener`] bound beforehand (for
//! example on `127.0.0.1:0`) and return a [`Server`] handle, so a caller can learn the address
//! before the other server of a pair is configured.

mod client;
pub mod distribution;
mod error;
mod fsio;
mod htpasswd;
mod http;
mod index;
mod names;
mod server;
mod token;
mod v1;
mod v1path;
mod v2;

pub use error::RegistryError;
pub use index::IndexAdmin;
pub use server::{Listener, Server};
pub use token::{Access, Token};

use std::future::Future;
use std::path::PathBuf;

/// How `berth registry` runs.
#[derive(Debug, Clone)]
pub struct RegistryConfig {
    /// `host:port`, or a unix socket path (`/path` or `unix:///path`).
    pub listen: String,
    /// The storage root: `v1/` (images, repositories), `v2/` (blobs, repositories, uploads), `tmp/`.
    pub root: PathBuf,
    /// The index that validates tokens (`http://host:port`); `None` runs standalone (5.4.1 §3.1).
    pub index_url: Option<String>,
    /// An htpasswd file (bcrypt or argon2 hashes) that a standalone registry checks Basic auth against.
    pub htpasswd: Option<PathBuf>,
    /// The address clients reach this registry at, named in `X-Docker-Endpoints` when standalone.
    pub registry_url: String,
}

/// How `berth index` runs.
#[derive(Debug, Clone)]
pub struct IndexConfig {
    /// `host:port`, or a unix socket path (`/path` or `unix:///path`).
    pub listen: String,
    /// Holds `index.db` (SQLite) and `outbox/`, where confirmation mails are written.
    pub root: PathBuf,
    /// The registries named in `X-Docker-Endpoints` (`host:port`; a scheme is stripped).
    pub registry_endpoints: Vec<String>,
}

/// Serves the registry on `config.listen` until `shutdown` completes, then lets open
/// connections finish (at most a few seconds) and returns.
pub async fn run_registry(config: RegistryConfig, shutdown: impl Future<Output = ()>) -> Result<(), RegistryError> {
    let listener = Listener::bind(&config.listen)?;
    let server = start_registry(config, listener).await?;
    tracing::info!(address = %server.describe(), "registry listening");
    shutdown.await;
    server.stop().await
}

/// Serves the index on `config.listen` until `shutdown` completes.
pub async fn run_index(config: IndexConfig, shutdown: impl Future<Output = ()>) -> Result<(), RegistryError> {
    let listener = Listener::bind(&config.listen)?;
    let server = start_index(config, listener).await?;
    tracing::info!(address = %server.describe(), "index listening");
    shutdown.await;
    server.stop().await
}

/// Starts the registry on an already bound listener (`config.listen` is not used).
pub async fn start_registry(config: RegistryConfig, listener: Listener) -> Result<Server, RegistryError> {
    let service = v1::RegistryService::open(config).await?;
    server::spawn(listener, service)
}

/// Starts the index on an already bound listener (`config.listen` is not used).
pub async fn start_index(config: IndexConfig, listener: Listener) -> Result<Server, RegistryError> {
    let service = index::IndexService::open(config).await?;
    server::spawn(listener, service)
}
