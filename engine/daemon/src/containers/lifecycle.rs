//! Running containers: start (mount the union root, write the daemon's files, hand a spec
//! to a monitor), the watcher that records each exit, stop, kill, restart, wait, remove, and
//! finding running containers again after the daemon restarts.

use super::files;
use super::network::{NetState, Wiring};
use super::record::{Container, ZERO_TIME};
use super::{ContainerError, Generation};
use crate::engine::Engine;
use berth_runtime::{Cgroup, ExitStatus, Monitor, RuntimeError, Spec};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// Default PATH when neither the image nor the request sets one (Docker's).
const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// What `wait` waits for (API 1.30's `condition`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitFor {
    NotRunning,
    NextExit,
    Removed,
}

fn internal(e: impl std::fmt::Display) -> ContainerError {
    ContainerError::Internal(e.to_string())
}

/// The exit status Docker gives a container whose process could not start.
fn start_failure_code(message: &str) -> i64 {
    if message.contains("not found") || message.contains("no such file") {
        127
    } else if message.contains("permission denied") {
        126
    } else {
        128
    }
}

impl Engine {
    /// Starts a created or stopped container. Starting a running one is a no-op (`Ok(false)`).
    pub async fn start_container(self: &Arc<Self>, id: &str) -> Result<bool, ContainerError> {
        let record = self.containers.with(id, |e| {
            if e.record.state.running || e.busy {
                return None;
            }
            e.busy = true;
            Some(e.record.clone())
        })?;
        let Some(record) = record else { return Ok(false) };
        let first = self.containers.with(id, |e| (!e.pending_attach.is_empty()).then(|| e.pending_attach.remove(0)))?;
        let engine = self.clone();
        let result = tokio::task::spawn_blocking(move || engine.launch(&record, first)).await.map_err(internal)?;
        let _ = self.containers.with(id, |e| e.busy = false);
        let (monitor, net) = match result {
            Ok(started) => started,
            Err(message) => {
                let code = start_failure_code(&message.to_lowercase());
                if let Ok(record) = self.containers.get(id) {
                    self.volumes_unmounted(&record, false);
                }
                self.containers.update(id, |c| {
                    c.state.error = message.clone();
                    c.state.exit_code = code;
                })?;
                return Err(ContainerError::Invalid(message));
            }
        };
        let pid = monitor.pid();
        self.connect_pending(id, &monitor).await;
        let monitor = Arc::new(monitor);
        self.containers.with(id, |e| e.monitor = Some(monitor.clone()))?;
        let record = self.containers.update(id, |c| {
            c.state.running = true;
            c.net = net.clone();
            c.state.restarting = false;
            c.state.ghost = false;
            c.state.pid = i64::from(pid);
            c.state.exit_code = 0;
            c.state.error.clear();
            c.state.oom_killed = false;
            c.state.started_at = berth_api::time::now_rfc3339();
            c.state.finished_at = ZERO_TIME.into();
            c.stopped_by_user = false;
        })?;
        self.events.container("start", id, &self.event_image(&record), &record.name, &[]);
        let generation = self.containers.with(id, |e| e.changes.borrow().exits)?;
        self.watch(id.to_string(), monitor);
        self.start_health(id, generation);
        Ok(true)
    }

    /// The image as `ps` names it: the name it was created from, else its id.
    pub(crate) fn image_label(&self, record: &Container) -> String {
        if record.config.image.is_empty() {
            record.image.clone()
        } else {
            record.config.image.clone()
        }
    }

    /// The image as events name it: `repo:tag` (5.1.10), or the id it was made from by id.
    pub(crate) fn event_image(&self, record: &Container) -> String {
        match berth_image::Reference::parse(&record.config.image) {
            Ok(r) if r.digest.is_none() && self.images.resolve(&record.config.image).is_some() => {
                format!("{}:{}", r.repository, r.tag_or_latest())
            }
            _ => self.image_label(record),
        }
    }

    /// Mounts the root, writes the daemon's files, and starts the monitor (blocking work).
    /// The first attacher waiting for this start is connected before the process runs, so
    /// it sees all of its output.
    fn launch(
        &self,
        record: &Container,
        first: Option<super::attach::PendingAttach>,
    ) -> Result<(Monitor, NetState), String> {
        let paths = self.containers.paths(&record.id);
        let layers = self.images.dirs_of(&record.layers);
        let rootfs = self.images.driver().mount(&layers, &paths.rw()).map_err(|e| e.to_string())?;
        let wiring = match self.net_up(record) {
            Ok(wiring) => wiring,
            Err(e) => {
                let _ = self.images.driver().unmount(&paths.rw());
                return Err(e.to_string());
            }
        };
        let net = wiring.state.clone();
        let started = self.spec(record, &rootfs, wiring).map_err(|e| e.to_string()).and_then(|spec| match first {
            None => Monitor::start(&self.exe, &spec).map(|(m, _)| m).map_err(|e| e.to_string()),
            Some(pending) => {
                let streams = berth_runtime::AttachStreams {
                    stdin: pending.stdin,
                    stdout: pending.stdout,
                    stderr: pending.stderr,
                };
                let (monitor, _, stream) =
                    Monitor::start_attached(&self.exe, &spec, streams).map_err(|e| e.to_string())?;
                let stream = stream.set_nonblocking(true).and_then(|_| tokio::net::UnixStream::from_std(stream));
                match stream {
                    Ok(stream) => {
                        let _ = pending.reply.send(stream);
                    }
                    Err(e) => tracing::warn!("cannot hand the attach stream over: {e}"),
                }
                Ok(monitor)
            }
        });
        if started.is_err() {
            let _ = self.images.driver().unmount(&paths.rw());
            self.net_down(&record.id, &net);
        }
        started.map(|monitor| (monitor, net))
    }

    /// The runtime spec for a container.
    fn spec(&self, record: &Container, rootfs: &Path, wiring: Wiring) -> Result<Spec, ContainerError> {
        let paths = self.containers.paths(&record.id);
        let host = &record.host_config;
        let config = &record.config;
        self.write_files(record, &wiring)?;
        let run = paths.run();
        std::fs::create_dir_all(&run).map_err(internal)?;
        // Link variables first: the container's own of the same name win.
        let mut env = wiring.env.clone();
        env.extend(config.env.clone().unwrap_or_default());
        if !env.iter().any(|e| e.starts_with("PATH=")) {
            env.insert(0, DEFAULT_PATH.into());
        }
        env.push(format!("HOSTNAME={}", config.hostname));
        if config.tty && !env.iter().any(|e| e.starts_with("TERM=")) {
            env.push("TERM=xterm".into());
        }
        let mut mounts = vec![
            super::mounts::bind(&paths.hostname(), "/etc/hostname", false),
            super::mounts::bind(&paths.hosts(), "/etc/hosts", false),
            super::mounts::bind(&paths.resolv_conf(), "/etc/resolv.conf", false),
        ];
        mounts.extend(self.container_mounts(record, rootfs)?);
        let mut args = vec![record.path.clone()];
        args.extend(record.args.iter().cloned());
        Ok(Spec {
            id: record.id.clone(),
            state_dir: run,
            rootfs: rootfs.to_path_buf(),
            args,
            env,
            cwd: if config.working_dir.is_empty() { "/".into() } else { config.working_dir.clone() },
            user: config.user.clone(),
            hostname: config.hostname.clone(),
            domainname: config.domainname.clone(),
            tty: config.tty,
            open_stdin: config.open_stdin,
            stdin_once: config.stdin_once,
            network: wiring.network,
            pid_host: host.pid_mode == "host",
            ipc_host: host.ipc_mode == "host",
            uts_host: host.uts_mode == "host",
            mounts,
            readonly_rootfs: host.readonly_rootfs,
            privileged: host.privileged,
            cap_add: host.cap_add.clone().unwrap_or_default(),
            cap_drop: host.cap_drop.clone().unwrap_or_default(),
            no_new_privileges: host
                .security_opt
                .iter()
                .flatten()
                .any(|o| o == "no-new-privileges" || o == "no-new-privileges:true" || o == "no-new-privileges=true"),
            seccomp: if host
                .security_opt
                .iter()
                .flatten()
                .any(|o| o == "seccomp=unconfined" || o == "seccomp:unconfined")
            {
                berth_runtime::Seccomp::Unconfined
            } else {
                berth_runtime::Seccomp::Default
            },
            cgroup: Cgroup {
                parent: "berth".into(),
                memory: (host.memory > 0).then_some(host.memory),
                memory_swap: (host.memory_swap != 0).then_some(host.memory_swap),
                cpu_shares: (host.cpu_shares > 0).then_some(host.cpu_shares as u64),
                pids_limit: host.pids_limit.filter(|p| *p > 0),
            },
            log_path: Some(paths.log(&record.id)),
            stop_signal: (!config.stop_signal.is_empty()).then(|| config.stop_signal.clone()),
        })
    }

    /// /etc/hostname, /etc/hosts and /etc/resolv.conf for the container.
    fn write_files(&self, record: &Container, wiring: &Wiring) -> Result<(), ContainerError> {
        let paths = self.containers.paths(&record.id);
        let host = &record.host_config;
        let host_resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
        let daemon_dns: Vec<String> = self.config.dns.iter().map(|d| d.to_string()).collect();
        let mut dns = host.dns.clone().filter(|d| !d.is_empty()).unwrap_or(daemon_dns);
        // On a user network the embedded DNS answers names and forwards the rest.
        if let Some(server) = wiring.nameserver.filter(|_| host.dns.as_ref().is_none_or(Vec::is_empty)) {
            dns = vec![server.to_string()];
        }
        let resolv = files::resolv_conf(
            &host_resolv,
            &dns,
            &host.dns_search.clone().unwrap_or_default(),
            &host.dns_options.clone().unwrap_or_default(),
            host.network_mode == "host",
        );
        let own_ip = wiring.state.primary().map(|e| std::net::IpAddr::V4(e.ip));
        let mut extra = wiring.hosts.clone();
        for entry in host.extra_hosts.iter().flatten() {
            let (name, ip) = entry.split_once(':').unwrap_or((entry, ""));
            let ip = ip
                .parse()
                .map_err(|_| ContainerError::Invalid(format!("invalid extra host {entry:?}: expected name:IP")))?;
            extra.push((name.to_string(), ip));
        }
        let writes = [
            (paths.hostname(), files::hostname(&record.config.hostname)),
            (paths.hosts(), files::hosts(&record.config.hostname, &record.config.domainname, own_ip, &extra)),
            (paths.resolv_conf(), resolv),
        ];
        for (path, content) in writes {
            berth_image::fsutil::write_replace(&path, content.as_bytes())
                .map_err(|e| internal(format!("cannot write {}: {e}", path.display())))?;
        }
        Ok(())
    }

    /// Waits for a running container's exit in the background and records it.
    fn watch(self: &Arc<Self>, id: String, monitor: Arc<Monitor>) {
        let engine = self.clone();
        tokio::spawn(async move {
            let status = monitor.wait().await;
            engine.exited(&id, status).await;
        });
    }

    async fn exited(self: &Arc<Self>, id: &str, status: Result<ExitStatus, RuntimeError>) {
        let status = status.unwrap_or_else(|e| ExitStatus { code: -1, error: e.to_string(), ..Default::default() });
        let mut net = NetState::default();
        let updated = self.containers.update(id, |c| {
            net = std::mem::take(&mut c.net);
            c.state.running = false;
            c.state.pid = 0;
            c.state.exit_code = i64::from(status.code);
            c.state.oom_killed = status.oom_killed;
            c.state.error = status.error.clone();
            c.state.finished_at =
                if status.finished_at.is_empty() { berth_api::time::now_rfc3339() } else { status.finished_at.clone() };
        });
        let Ok(record) = updated else { return };
        let paths = self.containers.paths(id);
        let engine = self.clone();
        let rw = paths.rw();
        let run = paths.run();
        let cleanup_id = id.to_string();
        let _ = tokio::task::spawn_blocking(move || {
            engine.net_down(&cleanup_id, &net);
            berth_runtime::cleanup(&run, &cleanup_id);
            if let Err(e) = engine.images.driver().unmount(&rw) {
                tracing::warn!("cannot unmount the root of {cleanup_id}: {e}");
            }
        })
        .await;
        let _ = self.containers.with(id, |e| {
            e.monitor = None;
            e.changes.send_modify(|g| {
                g.exits += 1;
                g.exit_code = i64::from(status.code);
            });
        });
        let label = self.event_image(&record);
        if status.oom_killed {
            self.events.container("oom", id, &label, &record.name, &[]);
        }
        self.events.container("die", id, &label, &record.name, &[("exitCode", status.code.to_string())]);
        self.volumes_unmounted(&record, true);
        self.after_exit(record).await;
    }

    /// Auto-removal and restart policies, once an exit is recorded.
    async fn after_exit(self: &Arc<Self>, record: Container) {
        let id = record.id.clone();
        if record.host_config.auto_remove {
            if let Err(e) = self.remove_container(&id, true, true).await {
                tracing::warn!("cannot auto-remove {id}: {e}");
            }
            return;
        }
        let policy = record.host_config.restart_policy.clone();
        let again = match policy.name.as_str() {
            "always" | "unless-stopped" => !record.stopped_by_user,
            "on-failure" => {
                record.state.exit_code != 0
                    && (policy.maximum_retry_count == 0 || record.restart_count < policy.maximum_retry_count)
            }
            _ => false,
        };
        if !again {
            return;
        }
        let _ = self.containers.update(&id, |c| {
            c.restart_count += 1;
            c.state.restarting = true;
        });
        let delay = Duration::from_millis(100 * (1 << record.restart_count.clamp(0, 6)) as u64);
        tokio::time::sleep(delay).await;
        let stopped = self.containers.with(&id, |e| e.record.stopped_by_user).unwrap_or(true);
        let started = !stopped && {
            match self.start_container(&id).await {
                Ok(_) => true,
                Err(e) => {
                    tracing::warn!("restart policy could not start {id}: {e}");
                    false
                }
            }
        };
        if !started {
            let _ = self.containers.update(&id, |c| c.state.restarting = false);
        }
    }

    fn monitor_of(&self, id: &str) -> Result<Option<Arc<Monitor>>, ContainerError> {
        self.containers.with(id, |e| e.monitor.clone())
    }

    /// Sends a signal to a running container.
    pub fn kill_container(&self, id: &str, signal: i32) -> Result<(), ContainerError> {
        let record = self.containers.with(id, |e| e.record.clone())?;
        let Some(monitor) = self.monitor_of(id)?.filter(|_| record.state.running) else {
            return Err(ContainerError::Conflict(format!(
                "Cannot kill container: {id}: Container {id} is not running"
            )));
        };
        // As Docker: a fatal signal (SIGKILL or the stop signal) is a user's stop, which a
        // restart policy respects until the next start; SIGUSR1 and the like are not.
        let stop_signal = super::signals::parse(if record.config.stop_signal.is_empty() {
            "SIGTERM"
        } else {
            &record.config.stop_signal
        })
        .unwrap_or(libc::SIGTERM);
        if signal == libc::SIGKILL || signal == stop_signal {
            self.containers.update(id, |c| c.stopped_by_user = true)?;
        }
        monitor.signal(signal).map_err(internal)?;
        self.events.container("kill", id, &self.event_image(&record), &record.name, &[("signal", signal.to_string())]);
        Ok(())
    }

    /// Stops a container: its stop signal, then SIGKILL after `timeout`. `Ok(false)` when it
    /// was not running.
    pub async fn stop_container(self: &Arc<Self>, id: &str, timeout: Duration) -> Result<bool, ContainerError> {
        let record = self.containers.update(id, |c| c.stopped_by_user = true)?;
        if !record.state.running {
            return Ok(false);
        }
        let signal = super::signals::parse(if record.config.stop_signal.is_empty() {
            "SIGTERM"
        } else {
            &record.config.stop_signal
        })
        .unwrap_or(libc::SIGTERM);
        let mut changes = self.containers.subscribe(id)?;
        let before = *changes.borrow();
        let _ = self.kill_container(id, signal);
        if !wait_change(&mut changes, before, Some(timeout)).await {
            let _ = self.kill_container(id, libc::SIGKILL);
            wait_change(&mut changes, before, Some(Duration::from_secs(30))).await;
        }
        self.events.container("stop", id, &self.event_image(&record), &record.name, &[]);
        Ok(true)
    }

    pub async fn restart_container(self: &Arc<Self>, id: &str, timeout: Duration) -> Result<(), ContainerError> {
        self.stop_container(id, timeout).await?;
        self.start_container(id).await?;
        let record = self.containers.with(id, |e| e.record.clone())?;
        self.events.container("restart", id, &self.event_image(&record), &record.name, &[]);
        Ok(())
    }

    /// Blocks until the container is in the state asked for; returns its exit code.
    pub async fn wait_container(&self, id: &str, condition: WaitFor) -> Result<i64, ContainerError> {
        self.waiter(id, condition)?.await
    }

    /// Registers a wait now and returns the future of its exit code, so an answer's headers
    /// can go out before the container exits (clients wait for them before starting it).
    pub fn waiter(
        &self,
        id: &str,
        condition: WaitFor,
    ) -> Result<impl std::future::Future<Output = Result<i64, ContainerError>> + Send + 'static, ContainerError> {
        let mut changes = self.containers.subscribe(id)?;
        let before = *changes.borrow();
        let (running, code_now) = self.containers.with(id, |e| (e.record.state.running, e.record.state.exit_code))?;
        let containers = self.containers.clone();
        let id = id.to_string();
        Ok(async move {
            let done = match condition {
                WaitFor::NotRunning if !running => return Ok(code_now),
                WaitFor::Removed => wait_removed(&mut changes).await,
                _ => wait_change(&mut changes, before, None).await,
            };
            if !done {
                return Err(ContainerError::Internal(format!("stopped waiting for {id}")));
            }
            // A removed container's record is gone; its last exit travelled with the change.
            let code =
                containers.with(&id, |e| e.record.state.exit_code).unwrap_or_else(|_| changes.borrow().exit_code);
            Ok(code)
        })
    }

    /// Removes a container (killing it first with `force`), its read-write layer and files.
    pub async fn remove_container(
        self: &Arc<Self>,
        id: &str,
        force: bool,
        volumes: bool,
    ) -> Result<(), ContainerError> {
        let record = self.containers.with(id, |e| e.record.clone())?;
        if record.state.running {
            if !force {
                return Err(ContainerError::Conflict(format!(
                    "You cannot remove a running container {id}. Stop the container before attempting removal or force remove"
                )));
            }
            let mut changes = self.containers.subscribe(id)?;
            let before = *changes.borrow();
            self.containers.update(id, |c| c.stopped_by_user = true)?;
            let _ = self.kill_container(id, libc::SIGKILL);
            wait_change(&mut changes, before, Some(Duration::from_secs(30))).await;
        }
        let paths = self.containers.paths(id);
        let engine = self.clone();
        let cleanup_id = id.to_string();
        tokio::task::spawn_blocking(move || {
            berth_runtime::cleanup(&paths.run(), &cleanup_id);
            engine.images.driver().unmount(&paths.rw()).map_err(internal)
        })
        .await
        .map_err(internal)??;
        self.containers.forget(id)?;
        self.images.unhold(id);
        self.release_volumes(&record, volumes);
        self.events.container("destroy", id, &self.event_image(&record), &record.name, &[]);
        Ok(())
    }

    /// After a daemon restart: reconnect to the monitors of containers that were running;
    /// record the exits of those whose monitor finished meanwhile; mark the rest as ghosts
    /// and (with `-r`) start them again. With `-r=false` nothing that ran before the restart
    /// runs after it: the containers that outlived the daemon are stopped.
    pub async fn recover_containers(self: &Arc<Self>) {
        for record in self.containers.list().into_iter().filter(|c| c.state.running) {
            let run = self.containers.paths(&record.id).run();
            match Monitor::reconnect(&run) {
                Ok(monitor) => {
                    let monitor = Arc::new(monitor);
                    let _ = self.containers.with(&record.id, |e| e.monitor = Some(monitor.clone()));
                    self.watch(record.id.clone(), monitor);
                    if !self.config.restart {
                        let (engine, id) = (self.clone(), record.id.clone());
                        tokio::spawn(async move { engine.stop_container(&id, Duration::from_secs(10)).await });
                    }
                }
                Err(_) => match berth_runtime::exit_status(&run) {
                    Some(status) => self.exited(&record.id, Ok(status)).await,
                    None => self.ghost(&record).await,
                },
            }
        }
    }

    async fn ghost(self: &Arc<Self>, record: &Container) {
        tracing::warn!("container {} was running but its monitor is gone", record.short_id());
        let _ = self.containers.update(&record.id, |c| {
            c.state.running = false;
            c.state.ghost = true;
            c.state.pid = 0;
            c.state.exit_code = -1;
            c.state.error = "the container's monitor was gone when the daemon started".into();
            c.state.finished_at = berth_api::time::now_rfc3339();
            c.net = NetState::default();
        });
        self.net_down(&record.id, &record.net);
        let _ = self.images.driver().unmount(&self.containers.paths(&record.id).rw());
        if self.config.restart {
            if let Err(e) = self.start_container(&record.id).await {
                tracing::warn!("cannot restart {}: {e}", record.short_id());
            }
        }
    }
}

/// Waits until the container exits again (or is removed), up to `limit`. True when it did.
async fn wait_change(
    changes: &mut tokio::sync::watch::Receiver<Generation>,
    before: Generation,
    limit: Option<Duration>,
) -> bool {
    let changed = changes.wait_for(|g| g.exits > before.exits || g.removed);
    match limit {
        Some(limit) => matches!(tokio::time::timeout(limit, changed).await, Ok(Ok(_))),
        None => changed.await.is_ok(),
    }
}

async fn wait_removed(changes: &mut tokio::sync::watch::Receiver<Generation>) -> bool {
    // The sender is dropped with the entry, which also means removed.
    let _ = changes.wait_for(|g| g.removed).await;
    true
}

/// A container's state as the list shows: running, or how and when it ended.
pub fn status_text(record: &Container, now: i64) -> String {
    let state = &record.state;
    let since = |time: &str| berth_api::time::parse_rfc3339(time).map_or(0, |t| now - t);
    if state.ghost {
        return "Ghost".into();
    }
    if state.running {
        let paused = if state.paused { " (Paused)" } else { "" };
        let health = match state.health.as_ref().map(|h| h.status.as_str()) {
            Some("starting") => " (health: starting)",
            Some("healthy") => " (healthy)",
            Some("unhealthy") => " (unhealthy)",
            _ => "",
        };
        return format!("Up {}{paused}{health}", about(since(&state.started_at)));
    }
    if state.started_at == ZERO_TIME || state.started_at.is_empty() {
        return "Created".into();
    }
    if state.restarting {
        return format!("Restarting ({}) {} ago", state.exit_code, about(since(&state.finished_at)));
    }
    format!("Exited ({}) {} ago", state.exit_code, about(since(&state.finished_at)))
}

/// Today's wording of a duration ("About a minute", "5 seconds").
fn about(seconds: i64) -> String {
    match seconds {
        s if s < 1 => "Less than a second".into(),
        s if s < 60 => format!("{s} seconds"),
        s if s < 120 => "About a minute".into(),
        s if s < 3600 => format!("{} minutes", s / 60),
        s if s < 7200 => "About an hour".into(),
        s if s < 48 * 3600 => format!("{} hours", s / 3600),
        s if s < 14 * 86400 => format!("{} days", s / 86400),
        s if s < 90 * 86400 => format!("{} weeks", s / 86400 / 7),
        s if s < 730 * 86400 => format!("{} months", s / 86400 / 30),
        s => format!("{} years", s / 86400 / 365),
    }
}
