//! Wire types of the Docker Remote API shared by the daemon, the CLI and the conformance suite:
//! API versions, daemon/client host addresses, and the JSON bodies of every endpoint, in the
//! shape each API version expects. Knows nothing of HTTP libraries or the kernel.

pub mod container;
pub mod containers;
pub mod host;
pub mod image;
pub mod progress;
pub mod stdcopy;
mod strslice;
pub mod system;
pub mod time;
pub mod version;
pub mod volume;

pub use host::{Host, HostError};
pub use version::{ApiVersion, VersionError};

/// The body of every error response: `{"message": "..."}`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ErrorResponse {
    pub message: String,
}

/// Go's name for this machine's architecture, which image configs and Docker clients use.
pub fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

/// berth's own version, shown by `berth version` and `GET /version`.
pub const BERTH_VERSION: &str = env!("CARGO_PKG_VERSION");

/// How this build of berth was made: shown by `version` on both sides of the API.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuildInfo {
    pub version: String,
    /// Short commit id of the source, or "unknown" outside a git checkout.
    pub git_commit: String,
    /// The compiler, as `rustc --version` names it.
    pub rustc: String,
    pub build_time: String,
}
