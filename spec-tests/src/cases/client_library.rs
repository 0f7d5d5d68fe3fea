//! An engine as a real Docker client library sees it: testcontainers (through bollard) creates,
//! starts, execs in and removes a container, as test suites everywhere do.

use super::Case;
use crate::case;
use crate::engine::Engine;
use crate::outcome::Outcome;
use anyhow::{ensure, Context};
use std::sync::Arc;
use testcontainers::core::{ExecCommand, WaitFor};
use testcontainers::runners::AsyncRunner;
use testcontainers::{GenericImage, ImageExt};

#[rustfmt::skip]
pub static CASES: &[Case] = &[
    case!("testcontainers round trip", ["modern.client.testcontainers"], round_trip),
];

/// testcontainers reads DOCKER_HOST, as the suite does: the container it starts runs, an exec
/// in it answers, and dropping it removes it.
pub async fn round_trip(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    // The library's exec streams are not Send: drive it on a runtime of its own.
    let name = e.unique("testcontainers");
    let id = tokio::task::spawn_blocking(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        runtime.block_on(drive(name))
    })
    .await??;
    let gone = e.get(&format!("/containers/{id}/json")).await?;
    ensure!(gone.status == http::StatusCode::NOT_FOUND, "the container is still there after rm ({})", gone.status);
    Ok(Outcome::Passed)
}

/// Starts, execs in and removes the container; returns its id.
async fn drive(name: String) -> anyhow::Result<String> {
    let container = GenericImage::new("busybox", "latest")
        .with_wait_for(WaitFor::Nothing)
        .with_cmd(["sh", "-c", "echo ready; sleep 60"])
        .with_container_name(name)
        .start()
        .await
        .context("testcontainers could not start busybox")?;
    let id = container.id().to_string();
    let mut exec = container.exec(ExecCommand::new(["sh", "-c", "echo $((6*7))"])).await.context("exec failed")?;
    let out = String::from_utf8_lossy(&exec.stdout_to_vec().await?).trim().to_string();
    ensure!(out == "42", "the exec printed {out:?}");
    let logs = String::from_utf8_lossy(&container.stdout_to_vec().await.unwrap_or_default()).to_string();
    container.rm().await.context("removing the container failed")?;
    ensure!(logs.is_empty() || logs.contains("ready"), "unexpected logs {logs:?}");
    Ok(id)
}
