//! Streams into running containers: attachers (who may arrive before the container starts,
//! as `docker run` does: they are connected before the container's process is released, so
//! no output is lost) and `exec` processes.

use super::ContainerError;
use crate::engine::Engine;
use berth_api::containers::ExecConfig;
use berth_runtime::{ExecHandle, ExecSpec, Monitor};
use std::sync::Arc;
use tokio::net::UnixStream;
use tokio::sync::oneshot;

/// An attach waiting for its container to start.
pub struct PendingAttach {
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    pub reply: oneshot::Sender<UnixStream>,
}

/// A live attach that may still be waiting for its container to start.
pub enum LiveStream {
    Running(Arc<Monitor>, [bool; 3]),
    Pending(oneshot::Receiver<UnixStream>),
}

impl LiveStream {
    /// The stream, once there is one (`None` if the container went away first).
    pub async fn connect(self) -> Option<UnixStream> {
        match self {
            LiveStream::Running(monitor, [stdin, stdout, stderr]) => monitor.attach(stdin, stdout, stderr).await.ok(),
            LiveStream::Pending(waiting) => waiting.await.ok(),
        }
    }
}

/// An exec: what to run, and how it went.
pub struct ExecRecord {
    pub id: String,
    pub container: String,
    pub config: ExecConfig,
    pub running: bool,
    pub exit_code: Option<i64>,
    pub pid: i64,
    pub handle: Option<Arc<ExecHandle>>,
}

impl Engine {
    /// A live attach to a container: at once when it runs, else when it next starts. The
    /// registration happens now; the stream comes when the returned future resolves, so an
    /// HTTP answer can go out before the container starts (`run` attaches, then starts).
    pub fn attach_streams(
        &self,
        id: &str,
        stdin: bool,
        stdout: bool,
        stderr: bool,
    ) -> Result<LiveStream, ContainerError> {
        let (reply, waiting) = oneshot::channel();
        let monitor = self.containers.with(id, |e| match (&e.monitor, e.record.state.running) {
            (Some(m), true) => Some(m.clone()),
            _ => {
                e.pending_attach.push(PendingAttach { stdin, stdout, stderr, reply });
                None
            }
        })?;
        Ok(match monitor {
            Some(monitor) => LiveStream::Running(monitor, [stdin, stdout, stderr]),
            None => LiveStream::Pending(waiting),
        })
    }

    /// Connects the attachers waiting for this start (the process is still held).
    pub(crate) async fn connect_pending(&self, id: &str, monitor: &Monitor) {
        let pending = self.containers.with(id, |e| std::mem::take(&mut e.pending_attach)).unwrap_or_default();
        for request in pending {
            match monitor.attach(request.stdin, request.stdout, request.stderr).await {
                Ok(stream) => {
                    let _ = request.reply.send(stream);
                }
                Err(e) => tracing::warn!("cannot attach to {id}: {e}"),
            }
        }
    }

    pub fn create_exec(&self, container: &str, config: ExecConfig) -> Result<String, ContainerError> {
        let running = self.containers.with(container, |e| e.record.state.running)?;
        if !running {
            return Err(ContainerError::Conflict(format!("Container {container} is not running")));
        }
        let id = crate::random_id().map_err(|e| ContainerError::Internal(e.to_string()))?;
        let record = ExecRecord {
            id: id.clone(),
            container: container.to_string(),
            config,
            running: false,
            exit_code: None,
            pid: 0,
            handle: None,
        };
        self.execs.lock().unwrap_or_else(|e| e.into_inner()).insert(id.clone(), record);
        self.containers.update(container, |c| c.exec_ids.push(id.clone()))?;
        Ok(id)
    }

    /// What an exec is: a copy of its record's public part.
    pub fn exec(&self, id: &str) -> Result<ExecView, ContainerError> {
        let execs = self.execs.lock().unwrap_or_else(|e| e.into_inner());
        let r = execs.get(id).ok_or_else(|| ContainerError::NoSuch(format!("exec instance {id}")))?;
        Ok(ExecView {
            id: r.id.clone(),
            container: r.container.clone(),
            config: r.config.clone(),
            running: r.running,
            exit_code: r.exit_code,
            pid: r.pid,
        })
    }

    /// Starts an exec in its container; its exit is recorded when it comes.
    pub async fn start_exec(self: &Arc<Self>, id: &str) -> Result<(UnixStream, ExecConfig), ContainerError> {
        let view = self.exec(id)?;
        if view.running || view.exit_code.is_some() {
            return Err(ContainerError::Conflict(format!("exec instance {id} has already been started")));
        }
        let record = self.containers.with(&view.container, |e| e.record.clone())?;
        let monitor = self
            .containers
            .with(&view.container, |e| e.monitor.clone())?
            .ok_or_else(|| ContainerError::Conflict(format!("Container {} is not running", view.container)))?;
        let config = &view.config;
        // As at start: link variables, then the container's own, then the exec's.
        let mut env = record.net.link_env.clone();
        env.extend(record.config.env.clone().unwrap_or_default());
        env.extend(config.env.clone().unwrap_or_default());
        let spec = ExecSpec {
            args: config.cmd.clone().unwrap_or_default(),
            env,
            user: if config.user.is_empty() { record.config.user.clone() } else { config.user.clone() },
            cwd: if config.working_dir.is_empty() {
                record.config.working_dir.clone()
            } else {
                config.working_dir.clone()
            },
            tty: config.tty,
            open_stdin: config.attach_stdin,
            privileged: config.privileged || record.host_config.privileged,
        };
        let (stream, handle) = monitor.exec(&spec).await.map_err(|e| ContainerError::Invalid(e.to_string()))?;
        let handle = Arc::new(handle);
        self.set_exec(id, |r| {
            r.running = true;
            r.pid = i64::from(handle.pid());
            r.handle = Some(handle.clone());
        });
        let engine = self.clone();
        let exec_id = id.to_string();
        tokio::spawn(async move {
            let code = handle.wait().await.map(i64::from).unwrap_or(-1);
            engine.set_exec(&exec_id, |r| {
                r.running = false;
                r.exit_code = Some(code);
            });
        });
        Ok((stream, view.config))
    }

    pub fn resize_exec(&self, id: &str, rows: u16, cols: u16) -> Result<(), ContainerError> {
        let handle = self.execs.lock().unwrap_or_else(|e| e.into_inner()).get(id).and_then(|r| r.handle.clone());
        let handle = handle.ok_or_else(|| ContainerError::Conflict(format!("exec instance {id} is not running")))?;
        handle.resize(rows, cols).map_err(|e| ContainerError::Internal(e.to_string()))
    }

    fn set_exec(&self, id: &str, f: impl FnOnce(&mut ExecRecord)) {
        if let Some(record) = self.execs.lock().unwrap_or_else(|e| e.into_inner()).get_mut(id) {
            f(record);
        }
    }
}

/// An exec as the API shows it.
pub struct ExecView {
    pub id: String,
    pub container: String,
    pub config: ExecConfig,
    pub running: bool,
    pub exit_code: Option<i64>,
    pub pid: i64,
}
