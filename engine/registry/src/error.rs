//! The errors that stop a server from starting or running.

use std::io;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("cannot listen on {listen}: {source}")]
    Listen {
        listen: String,
        #[source]
        source: io::Error,
    },
    #[error("cannot prepare the storage root {}: {source}", path.display())]
    Root {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("invalid index url {0:?}: give http://host:port (https is not supported; put a TLS proxy in front)")]
    IndexUrl(String),
    #[error("cannot load the htpasswd file {}: {source}", path.display())]
    Htpasswd {
        path: PathBuf,
        #[source]
        source: crate::htpasswd::HtpasswdError,
    },
    #[error("cannot open the index database {}: {source}", path.display())]
    Database {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("the index database failed: {0}")]
    Query(#[from] rusqlite::Error),
    #[error("no user named {0:?} in the index")]
    NoSuchUser(String),
    #[error("no repository named {0:?} in the index")]
    NoSuchRepository(String),
    #[error("the server task failed: {0}")]
    Task(String),
}
