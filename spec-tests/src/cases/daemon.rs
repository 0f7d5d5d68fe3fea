//! The daemon's own flags (5.1.4), through the profile's daemon command.

use crate::engine::Engine;
use crate::outcome::Outcome;
use anyhow::ensure;
use std::sync::Arc;

/// `-v` and `--version` print the version and exit 0 without starting a daemon.
pub async fn version_flag(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    for flag in ["-v", "--version"] {
        let run = e.daemon_binary(&[flag]).await?.success()?;
        let line = run.stdout.lines().next().unwrap_or("");
        ensure!(
            super::cli_system::is_version_line(line),
            "daemon {flag} printed {line:?}"
        );
    }
    Ok(Outcome::Passed)
}
