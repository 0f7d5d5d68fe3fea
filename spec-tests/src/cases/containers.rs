//! Containers: the lifecycle commands (`ps`, `start`, `stop`, `kill`, `restart`, `rm`, `wait`,
//! `logs`, `top`, names and ids) of 3.1, 4.2, 5.1 and 7.3, plus the helpers every container
//! module shares: cleanup, polling, background CLI runs and container lookups. Every container
//! runs with `--net=none`: nothing a case starts reaches beyond the machine.

use super::Case;
use crate::case;
use crate::engine::{CliRun, Engine};
use crate::outcome::{skip, Outcome, SkipKind};
use anyhow::{bail, ensure, Context};
use http::{Method, StatusCode};
use serde_json::Value;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The fixture image every case runs.
pub const IMAGE: &str = "busybox";
/// How long a container may take to reach a state a case waits for.
pub const SETTLE: Duration = Duration::from_secs(30);
/// A shell loop that keeps PID 1 alive and exits at once on SIGTERM.
pub const IDLE: &str = "trap 'exit 0' TERM; while :; do sleep 0.2; done";

#[rustfmt::skip]
pub static CASES: &[Case] = &[
    case!("ps running only", ["cli.ps.default-running"], ps_default_running),
    case!("ps -a", ["cli.ps.opt.all", "cli.ps.all-finished"], ps_all),
    case!("ps --no-trunc", ["cli.ps.opt.no-trunc"], ps_no_trunc),
    case!("ps -q", ["cli.ps.opt.quiet"], ps_quiet),
    case!("ps columns and exit status", ["cli.ps.columns", "cli.ps.all-exited"], ps_columns),
    case!("ps ghost state", ["cli.ps.ghost", "cli.ps.ghost-recover"], ps_ghost),
    case!("start stopped container", ["cli.start.basic"], start_basic),
    case!("start -a", ["cli.start.opt.attach", "cli.start.attach-returns-on-stop"], start_attach),
    case!("start -a signals", ["cli.start.attach-signals", "cli.start.opt.attach"], start_attach_signals),
    case!("start -a -i", ["cli.start.opt.interactive"], start_interactive),
    case!("stop sends SIGTERM", ["cli.stop.sigterm"], stop_sigterm),
    case!("stop grace period", ["cli.stop.opt.time", "cli.stop.supervisor-stop"], stop_time),
    case!("stop several", ["cli.stop.multiple"], stop_multiple),
    case!("kill default SIGKILL", ["cli.kill.default"], kill_default),
    case!("kill -s", ["cli.kill.opt.signal"], kill_signal),
    case!("kill several", ["cli.kill.multiple"], kill_multiple),
    case!("restart running", ["cli.restart.basic", "fs.container.restart-fresh"], restart_running),
    case!("restart exited", ["cli.restart.stopped"], restart_stopped),
    case!("rm by name", ["cli.rm.by-name"], rm_by_name),
    case!("rm running refused", ["cli.rm.running-refused"], rm_running_refused),
    case!("rm several", ["cli.rm.multiple"], rm_multiple),
    case!("rm unknown", ["cli.rm.unknown"], rm_unknown),
    case!("wait blocks", ["cli.wait.blocks"], wait_blocks),
    case!("wait exited", ["cli.wait.already-stopped"], wait_exited),
    case!("logs of a loop", ["cli.logs.collected"], logs_collected),
    case!("logs both streams", ["cli.logs.stdout-stderr"], logs_streams),
    case!("logs -f", ["cli.logs.opt.follow"], logs_follow),
    case!("logs after exit", ["cli.logs.stopped"], logs_stopped),
    case!("top", ["cli.top.basic"], top_basic),
    case!("top ps options", ["cli.top.ps-args"], top_ps_args),
    case!("top stopped", ["cli.top.stopped"], top_stopped),
    case!("run --name", ["run.name.assign", "cli.run.opt.name"], name_assign),
    case!("generated names", ["run.name.autogen"], name_autogen),
    case!("name conflict", ["run.name.conflict"], name_conflict),
    case!("name reuse after rm", ["run.name.reuse-after-rm"], name_reuse),
    case!("names in commands", ["run.name.commands"], name_commands),
    case!("full ids", ["run.id.long", "cli.ids.full-accepted"], id_long),
    case!("short ids", ["run.id.short", "fs.ids.short-12"], id_short),
    case!("names as ids", ["run.id.name"], id_name),
    case!("container ids", ["fs.ids.container-64hex", "fs.ids.server-long"], ids_format),
    case!("container states", ["fs.container.states", "fs.container.exit-preserved"], states),
    case!("data until rm", ["fs.container.persist-until-rm", "seed.directus.ephemeral"], persist_until_rm),
    case!("info counts", ["cli.info.counts"], info_counts),
    case!("hello world", ["flow.hello-world"], hello_world),
    case!("arguments verbatim", ["flow.args-verbatim-echo"], args_verbatim),
    case!("daemonized loop", ["flow.daemonized-loop"], daemonized_loop),
    case!("inspect container and image", ["cli.inspect.image-or-container", "cli.inspect.json-array"], inspect_mixed),
    case!("inspect --format", ["cli.inspect.opt.format"], inspect_format),
    case!("inspect -format", ["cli.inspect.format-single-dash"], inspect_single_dash),
    case!("port not published", ["cli.port.not-published"], port_not_published),
    case!("restart on-failure", ["modern.run.restart-on-failure"], restart_on_failure),
    case!("restart always until stopped", ["modern.run.restart-always"], restart_always),
];

// ---------------------------------------------------------------------------------------------
// Helpers shared by the container modules.
// ---------------------------------------------------------------------------------------------

/// Runs a case body, then force-removes the named containers (with their volumes) whatever
/// happened.
pub async fn cleaning<F>(e: &Engine, containers: &[&str], body: F) -> anyhow::Result<Outcome>
where
    F: Future<Output = anyhow::Result<Outcome>>,
{
    cleaning_images(e, containers, &[], body).await
}

/// Like [`cleaning`], then also removes the named images.
pub async fn cleaning_images<F>(e: &Engine, containers: &[&str], images: &[&str], body: F) -> anyhow::Result<Outcome>
where
    F: Future<Output = anyhow::Result<Outcome>>,
{
    let result = body.await;
    for name in containers {
        remove(e, name).await;
    }
    for name in images {
        let _ = e.call(Method::DELETE, &format!("/images/{name}?force=1")).await;
    }
    result
}

/// Force-removes a container, ignoring errors (it may never have been made).
pub async fn remove(e: &Engine, name: &str) {
    let _ = e.call(Method::DELETE, &format!("/containers/{name}?force=1&v=1")).await;
}

/// `run --net=none ARGS...`.
pub async fn run(e: &Engine, args: &[&str]) -> anyhow::Result<CliRun> {
    let mut all = vec!["run", "--net=none"];
    all.extend_from_slice(args);
    e.cli(&all).await
}

/// `run --net=none ARGS...`, which must succeed; its standard output.
pub async fn run_out(e: &Engine, args: &[&str]) -> anyhow::Result<String> {
    Ok(run(e, args).await?.success()?.stdout)
}

/// `run -d --name NAME --net=none ARGS...`; the id it prints.
pub async fn detach(e: &Engine, name: &str, args: &[&str]) -> anyhow::Result<String> {
    let mut all = vec!["-d", "--name", name];
    all.extend_from_slice(args);
    Ok(run_out(e, &all).await?.trim().to_string())
}

/// `create --name NAME --net=none ARGS...`; the id it prints.
pub async fn create(e: &Engine, name: &str, args: &[&str]) -> anyhow::Result<String> {
    let mut all = vec!["create", "--net=none", "--name", name];
    all.extend_from_slice(args);
    Ok(e.cli(&all).await?.success()?.stdout.trim().to_string())
}

/// A detached container idling until it is stopped; its id.
pub async fn idle(e: &Engine, name: &str) -> anyhow::Result<String> {
    detach(e, name, &[IMAGE, "sh", "-c", IDLE]).await
}

/// `GET /containers/(name)/json`, which must answer 200.
pub async fn inspect(e: &Engine, name: &str) -> anyhow::Result<Value> {
    let reply = e.get(&format!("/containers/{name}/json")).await?;
    ensure!(reply.status == StatusCode::OK, "inspect {name} answered {}: {}", reply.status, text(&reply.body));
    Ok(reply.json()?)
}

/// Whether the engine knows a container by this name or id.
pub async fn exists(e: &Engine, name: &str) -> anyhow::Result<bool> {
    Ok(e.get(&format!("/containers/{name}/json")).await?.status == StatusCode::OK)
}

pub async fn is_running(e: &Engine, name: &str) -> anyhow::Result<bool> {
    Ok(inspect(e, name).await?["State"]["Running"] == Value::Bool(true))
}

/// The host pid of the container's main process.
pub async fn pid(e: &Engine, name: &str) -> anyhow::Result<u32> {
    let value = inspect(e, name).await?;
    let pid = value["State"]["Pid"].as_u64().filter(|p| *p > 0);
    pid.map(|p| p as u32).with_context(|| format!("{name} has no running process: {}", value["State"]))
}

/// Polls `check` every 50 ms until it yields a value, failing after `within`.
pub async fn eventually<T, F, Fut>(what: &str, within: Duration, mut check: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<Option<T>>>,
{
    let deadline = Instant::now() + within;
    loop {
        if let Some(value) = check().await? {
            return Ok(value);
        }
        if Instant::now() > deadline {
            bail!("{what} did not happen within {within:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until the container has stopped and returns its exit code.
pub async fn exit_code(e: &Engine, name: &str) -> anyhow::Result<i64> {
    eventually(&format!("{name} stopping"), SETTLE, || async {
        let value = inspect(e, name).await?;
        let state = &value["State"];
        Ok((state["Running"] == Value::Bool(false)).then(|| state["ExitCode"].as_i64().unwrap_or(-1)))
    })
    .await
}

/// Waits until the container runs.
pub async fn running(e: &Engine, name: &str) -> anyhow::Result<()> {
    eventually(&format!("{name} running"), SETTLE, || async {
        Ok((exists(e, name).await? && is_running(e, name).await?).then_some(()))
    })
    .await
}

/// Waits until the container's logs contain `needle`.
pub async fn logs_contain(e: &Engine, name: &str, needle: &str) -> anyhow::Result<String> {
    eventually(&format!("{needle:?} in the logs of {name}"), SETTLE, || async {
        let run = e.cli(&["logs", name]).await?;
        let all = both(&run);
        Ok(all.contains(needle).then_some(all))
    })
    .await
}

pub fn both(run: &CliRun) -> String {
    format!("{}{}", run.stdout, run.stderr)
}

pub fn text(body: &[u8]) -> String {
    String::from_utf8_lossy(body).into_owned()
}

/// 64 lower-case hex characters, optionally after `sha256:`.
pub fn is_long_id(text: &str) -> bool {
    let hex = text.trim().trim_start_matches("sha256:");
    hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Whether the CLI's help for `command` mentions `flag`: how a case learns that the CLI
/// dropped a documented option.
pub async fn cli_has_flag(e: &Engine, command: &str, flag: &str) -> anyhow::Result<bool> {
    let help = e.cli(&[command, "--help"]).await?;
    let all = both(&help);
    Ok(all.split(|c: char| c.is_whitespace() || c == ',' || c == '=').any(|word| word == flag))
}

/// Seconds since the epoch of an RFC 3339 time as the engine writes it.
pub fn epoch_seconds(time: &str) -> anyhow::Result<f64> {
    let (date, clock) = time.split_once('T').with_context(|| format!("not a time: {time}"))?;
    let clock = clock.trim_end_matches('Z');
    let ymd: Vec<i64> = date.split('-').map(str::parse).collect::<Result<_, _>>()?;
    let hms: Vec<f64> = clock.split(':').map(str::parse).collect::<Result<_, _>>()?;
    ensure!(ymd.len() == 3 && hms.len() == 3, "not a UTC time: {time}");
    let days = days_from_civil(ymd[0], ymd[1], ymd[2]);
    Ok(days as f64 * 86400.0 + hms[0] * 3600.0 + hms[1] * 60.0 + hms[2])
}

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    era * 146097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719468
}

/// A CLI (or other program) running in the background while a case acts on it: its output is
/// collected as it comes, its standard input stays open until closed, and it is killed if the
/// case ends first.
pub struct Background {
    child: tokio::process::Child,
    stdin: Option<tokio::process::ChildStdin>,
    stdout: Arc<Mutex<Vec<u8>>>,
    stderr: Arc<Mutex<Vec<u8>>>,
}

impl Background {
    /// The engine's CLI with `args`, standard input a pipe.
    pub fn cli(e: &Engine, args: &[&str]) -> anyhow::Result<Background> {
        Background::program(&e.cli, args, &[("DOCKER_HOST", &e.docker_host)])
    }

    pub fn program(program: &str, args: &[&str], env: &[(&str, &str)]) -> anyhow::Result<Background> {
        let mut command = tokio::process::Command::new(program);
        command.args(args).envs(env.iter().copied()).kill_on_drop(true);
        command.stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::piped());
        command.stderr(std::process::Stdio::piped());
        // SAFETY: runs in the forked child before exec; signal() and sigprocmask() are
        // async-signal-safe. A shell that started this suite in the background may have left
        // SIGINT ignored, and ignored signals survive exec: cases that signal the CLI need the
        // defaults back.
        unsafe {
            command.pre_exec(|| {
                for signal in [libc::SIGINT, libc::SIGQUIT, libc::SIGTERM] {
                    libc::signal(signal, libc::SIG_DFL);
                }
                let mut none: libc::sigset_t = std::mem::zeroed();
                libc::sigemptyset(&mut none);
                libc::sigprocmask(libc::SIG_SETMASK, &none, std::ptr::null_mut());
                Ok(())
            });
        }
        let mut child = command.spawn().with_context(|| format!("cannot run {program}"))?;
        let stdout = collect(child.stdout.take());
        let stderr = collect(child.stderr.take());
        Ok(Background { stdin: child.stdin.take(), child, stdout, stderr })
    }

    pub fn stdout(&self) -> String {
        text(&self.stdout.lock().unwrap_or_else(|p| p.into_inner()))
    }

    pub fn stderr(&self) -> String {
        text(&self.stderr.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Waits until the standard output contains `needle`.
    pub async fn wait_output(&self, needle: &str, within: Duration) -> anyhow::Result<()> {
        let found = eventually(&format!("{needle:?} on the output"), within, || async {
            Ok(self.stdout().contains(needle).then_some(()))
        })
        .await;
        found.with_context(|| format!("stdout: {}\nstderr: {}", self.stdout(), self.stderr()))
    }

    pub async fn write(&mut self, bytes: &[u8]) -> anyhow::Result<()> {
        let stdin = self.stdin.as_mut().context("standard input is closed")?;
        stdin.write_all(bytes).await?;
        stdin.flush().await?;
        Ok(())
    }

    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    pub fn signal(&self, signal: i32) -> anyhow::Result<()> {
        let pid = self.child.id().context("the process has already ended")?;
        // SAFETY: signalling our own child, which has not been reaped (id() is Some).
        ensure!(unsafe { libc::kill(pid as libc::pid_t, signal) } == 0, "cannot signal {pid}");
        Ok(())
    }

    /// Whether the process is still running.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Waits for the process to end and returns its exit code (None when a signal ended it).
    pub async fn finish(&mut self, within: Duration) -> anyhow::Result<Option<i32>> {
        let status = tokio::time::timeout(within, self.child.wait()).await;
        let status = status.map_err(|_| {
            anyhow::anyhow!("still running after {within:?}\nstdout: {}\nstderr: {}", self.stdout(), self.stderr())
        })??;
        // The readers may still be draining the pipes.
        tokio::time::sleep(Duration::from_millis(100)).await;
        Ok(status.code())
    }
}

fn collect(pipe: Option<impl tokio::io::AsyncRead + Unpin + Send + 'static>) -> Arc<Mutex<Vec<u8>>> {
    let buffer = Arc::new(Mutex::new(Vec::new()));
    if let Some(mut pipe) = pipe {
        let sink = buffer.clone();
        tokio::spawn(async move {
            let mut chunk = [0u8; 4096];
            while let Ok(n) = pipe.read(&mut chunk).await {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap_or_else(|p| p.into_inner()).extend_from_slice(&chunk[..n]);
            }
        });
    }
    buffer
}

/// The rows of a CLI table (after its header) that contain `needle`.
fn rows_with<'a>(out: &'a str, needle: &str) -> Vec<&'a str> {
    out.lines().skip(1).filter(|l| l.contains(needle)).collect()
}

// ---------------------------------------------------------------------------------------------
// ps
// ---------------------------------------------------------------------------------------------

/// A running and an exited container of the case's own.
async fn one_up_one_down(e: &Engine, up: &str, down: &str) -> anyhow::Result<()> {
    idle(e, up).await?;
    run(e, &["--name", down, IMAGE, "true"]).await?.success()?;
    Ok(())
}

/// Plain `ps` lists running containers and no others.
pub async fn ps_default_running(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let (up, down) = (e.unique("psup"), e.unique("psdown"));
    cleaning(&e, &[&up, &down], async {
        one_up_one_down(&e, &up, &down).await?;
        let out = e.cli(&["ps"]).await?.success()?.stdout;
        ensure!(!rows_with(&out, &up).is_empty(), "the running {up} is not listed:\n{out}");
        ensure!(rows_with(&out, &down).is_empty(), "the exited {down} is listed:\n{out}");
        Ok(Outcome::Passed)
    })
    .await
}

/// `ps -a` lists exited containers too.
pub async fn ps_all(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let (up, down) = (e.unique("psaup"), e.unique("psadown"));
    cleaning(&e, &[&up, &down], async {
        one_up_one_down(&e, &up, &down).await?;
        let out = e.cli(&["ps", "-a"]).await?.success()?.stdout;
        for name in [&up, &down] {
            ensure!(!rows_with(&out, name).is_empty(), "{name} is not listed by ps -a:\n{out}");
        }
        Ok(Outcome::Passed)
    })
    .await
}

/// `ps --no-trunc` shows the 64-character id and the whole command.
pub async fn ps_no_trunc(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("notrunc");
    let script = format!("{IDLE}; echo this-command-line-is-long-enough-to-be-cut-by-default");
    cleaning(&e, &[&name], async {
        let id = detach(&e, &name, &[IMAGE, "sh", "-c", &script]).await?;
        let short = e.cli(&["ps"]).await?.success()?.stdout;
        let row =
            rows_with(&short, &name).into_iter().next().with_context(|| format!("{name} not listed:\n{short}"))?;
        ensure!(!row.contains(&id), "plain ps shows the full id: {row}");
        let out = e.cli(&["ps", "--no-trunc"]).await?.success()?.stdout;
        let row = rows_with(&out, &name).into_iter().next().with_context(|| format!("{name} not listed:\n{out}"))?;
        ensure!(row.contains(&id), "--no-trunc does not show the full id {id}: {row}");
        ensure!(row.contains("cut-by-default"), "--no-trunc does not show the whole command: {row}");
        Ok(Outcome::Passed)
    })
    .await
}

/// `ps -q` prints bare short ids, one a line; with `-a` exited ones too.
pub async fn ps_quiet(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let (up, down) = (e.unique("psqup"), e.unique("psqdown"));
    cleaning(&e, &[&up, &down], async {
        one_up_one_down(&e, &up, &down).await?;
        let (up_id, down_id) = (inspect(&e, &up).await?["Id"].clone(), inspect(&e, &down).await?["Id"].clone());
        let (up_id, down_id) = (up_id.as_str().unwrap_or_default(), down_id.as_str().unwrap_or_default());
        let quiet = e.cli(&["ps", "-q"]).await?.success()?.stdout;
        let all = e.cli(&["ps", "-a", "-q"]).await?.success()?.stdout;
        for line in all.lines() {
            ensure!(line.len() == 12 && line.bytes().all(|b| b.is_ascii_hexdigit()), "not a bare short id: {line:?}");
        }
        ensure!(quiet.lines().any(|l| up_id.starts_with(l)), "ps -q lacks the running container:\n{quiet}");
        ensure!(!quiet.lines().any(|l| down_id.starts_with(l)), "ps -q lists the exited container:\n{quiet}");
        ensure!(all.lines().any(|l| down_id.starts_with(l)), "ps -a -q lacks the exited container:\n{all}");
        Ok(Outcome::Passed)
    })
    .await
}

/// The columns of `ps`, and `Exit N` as the status of an exited container (2014).
pub async fn ps_columns(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let (up, down) = (e.unique("colup"), e.unique("coldown"));
    cleaning(&e, &[&up, &down], async {
        idle(&e, &up).await?;
        run(&e, &["--name", &down, IMAGE, "sh", "-c", "exit 3"]).await?;
        let out = e.cli(&["ps", "-a"]).await?.success()?.stdout;
        let header = out.lines().next().context("no output")?;
        for column in ["CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"] {
            ensure!(header.contains(column), "no {column} column: {header}");
        }
        let running = rows_with(&out, &up).into_iter().next().with_context(|| format!("{up} not listed:\n{out}"))?;
        ensure!(running.contains(" busybox") && running.contains("Up "), "the running row: {running}");
        let exited = rows_with(&out, &down).into_iter().next().with_context(|| format!("{down} not listed:\n{out}"))?;
        if exited.contains("Exit 3") {
            return Ok(Outcome::Passed);
        }
        ensure!(exited.contains("Exited (3)"), "the exited row shows no exit status 3: {exited}");
        Ok(skip(SkipKind::Legacy, "the CLI shows `Exited (3) ...` where 2014 showed `Exit 3` (changed in Docker 1.0)"))
    })
    .await
}

/// A container the daemon lost across a restart is shown as Ghost (2014): the engine's
/// container state says whether it has such a state at all.
pub async fn ps_ghost(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("ghost");
    cleaning(&e, &[&name], async {
        idle(&e, &name).await?;
        let state = inspect(&e, &name).await?["State"].clone();
        ensure!(state.get("Running").is_some(), "inspect has no State: {state}");
        if state.get("Ghost").is_none() {
            let reason = "the engine's container State has no Ghost field: a restarted daemon kills or restores \
                its containers instead (Docker 0.10 and later)";
            return Ok(skip(SkipKind::Legacy, reason));
        }
        ensure!(state["Ghost"] == Value::Bool(false), "a container the engine controls is a Ghost: {state}");
        let reason =
            "making a Ghost needs the engine under test restarted under its containers, which the suite does not do";
        Ok(skip(SkipKind::Environment, reason))
    })
    .await
}

// ---------------------------------------------------------------------------------------------
// start, stop, kill, restart
// ---------------------------------------------------------------------------------------------

/// `start` brings an exited container back with the same id, command and files.
pub async fn start_basic(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("restartme");
    cleaning(&e, &[&name], async {
        run(&e, &["--name", &name, IMAGE, "sh", "-c", "echo run >> /runs; wc -l < /runs"]).await?.success()?;
        let before = inspect(&e, &name).await?;
        e.cli(&["start", &name]).await?.success()?;
        exit_code(&e, &name).await?;
        let after = inspect(&e, &name).await?;
        for key in ["Id", "Path", "Args"] {
            ensure!(before[key] == after[key], "{key} changed: {} -> {}", before[key], after[key]);
        }
        let logs = e.cli(&["logs", &name]).await?.success()?.stdout;
        ensure!(
            logs.split_whitespace().collect::<Vec<_>>() == ["1", "2"],
            "the second run did not see the first's file:\n{logs}"
        );
        Ok(Outcome::Passed)
    })
    .await
}

/// `start -a` relays stdout and stderr and returns once the container stops.
pub async fn start_attach(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("starta");
    cleaning(&e, &[&name], async {
        create(&e, &name, &[IMAGE, "sh", "-c", "echo out; echo err >&2; sleep 2; echo done"]).await?;
        let started = Instant::now();
        let run = e.cli(&["start", "-a", &name]).await?.success()?;
        ensure!(started.elapsed() >= Duration::from_millis(1500), "start -a returned before the container ended");
        ensure!(run.stdout.contains("out") && run.stdout.contains("done"), "stdout: {}", run.stdout);
        ensure!(run.stderr.contains("err"), "stderr not relayed: {}", run.stderr);
        ensure!(!is_running(&e, &name).await?, "the container still runs after start -a returned");
        Ok(Outcome::Passed)
    })
    .await
}

/// A signal trap that reports and exits 4: how cases see a signal arrive in a container.
pub const TRAP: &str = "trap 'echo got-signal; exit 4' TERM INT; echo ready; while :; do sleep 0.2; done";

/// SIGTERM and SIGINT sent to `start -a` reach the container's process.
pub async fn start_attach_signals(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    for signal in [libc::SIGTERM, libc::SIGINT] {
        let name = e.unique("startsig");
        let result = cleaning(&e, &[&name], async {
            create(&e, &name, &[IMAGE, "sh", "-c", TRAP]).await?;
            let mut cli = Background::cli(&e, &["start", "-a", &name])?;
            cli.wait_output("ready", SETTLE).await?;
            cli.signal(signal)?;
            ensure!(exit_code(&e, &name).await? == 4, "signal {signal} did not reach the trap");
            cli.finish(SETTLE).await?;
            Ok(Outcome::Passed)
        })
        .await?;
        ensure!(result == Outcome::Passed, "{result:?}");
    }
    Ok(Outcome::Passed)
}

/// `start -a -i` on a container created with `-i` wires the client's stdin through.
pub async fn start_interactive(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("startai");
    cleaning(&e, &[&name], async {
        create(&e, &name, &["-i", IMAGE, "sh", "-c", "read line; echo \"got $line\""]).await?;
        let mut cli = Background::cli(&e, &["start", "-a", "-i", &name])?;
        cli.write(b"hello\n").await?;
        cli.wait_output("got hello", SETTLE).await?;
        cli.finish(SETTLE).await?;
        Ok(Outcome::Passed)
    })
    .await
}

/// `stop` sends SIGTERM first: a handler runs and the container exits on its own terms.
pub async fn stop_sigterm(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("sigterm");
    cleaning(&e, &[&name], async {
        detach(
            &e,
            &name,
            &[IMAGE, "sh", "-c", "trap 'echo handled; exit 0' TERM; echo ready; while :; do sleep 0.2; done"],
        )
        .await?;
        // PID 1 ignores a signal it has no handler for: wait until the trap is set.
        logs_contain(&e, &name, "ready").await?;
        e.cli(&["stop", &name]).await?.success()?;
        ensure!(exit_code(&e, &name).await? == 0, "the container did not exit through its handler");
        logs_contain(&e, &name, "handled").await?;
        Ok(Outcome::Passed)
    })
    .await
}

/// A process ignoring SIGTERM is killed after the grace period: `-t 2` about 2 s, the default
/// about 10 s.
pub async fn stop_time(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let (quick, default) = (e.unique("stopt2"), e.unique("stopdefault"));
    cleaning(&e, &[&quick, &default], async {
        let stubborn = [IMAGE, "sh", "-c", "trap '' TERM; while :; do sleep 0.2; done"];
        detach(&e, &quick, &stubborn).await?;
        detach(&e, &default, &stubborn).await?;
        let timed = |args: Vec<String>| {
            let e = e.clone();
            async move {
                let started = Instant::now();
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                e.cli(&args).await?.success()?;
                anyhow::Ok(started.elapsed())
            }
        };
        let (two, ten) = tokio::join!(
            timed(vec!["stop".into(), "-t".into(), "2".into(), quick.clone()]),
            timed(vec!["stop".into(), default.clone()])
        );
        let (two, ten) = (two?, ten?);
        ensure!((Duration::from_millis(1500)..Duration::from_secs(8)).contains(&two), "stop -t 2 took {two:?}");
        ensure!((Duration::from_secs(8)..Duration::from_secs(25)).contains(&ten), "stop took {ten:?}, not about 10 s");
        for name in [&quick, &default] {
            ensure!(!is_running(&e, name).await?, "{name} still runs after stop");
        }
        Ok(Outcome::Passed)
    })
    .await
}

/// `stop A B` stops both.
pub async fn stop_multiple(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let (a, b) = (e.unique("stopa"), e.unique("stopb"));
    cleaning(&e, &[&a, &b], async {
        idle(&e, &a).await?;
        idle(&e, &b).await?;
        e.cli(&["stop", &a, &b]).await?.success()?;
        ensure!(!is_running(&e, &a).await? && !is_running(&e, &b).await?, "not both stopped");
        Ok(Outcome::Passed)
    })
    .await
}

/// Without `-s`, kill is SIGKILL: a SIGTERM trap does not save the process.
pub async fn kill_default(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("kill");
    cleaning(&e, &[&name], async {
        detach(&e, &name, &[IMAGE, "sh", "-c", "trap 'echo term' TERM; while :; do sleep 0.2; done"]).await?;
        e.cli(&["kill", &name]).await?.success()?;
        ensure!(exit_code(&e, &name).await? == 137, "the exit code is not 128+SIGKILL");
        let logs = e.cli(&["logs", &name]).await?.stdout;
        ensure!(!logs.contains("term"), "the process got SIGTERM: {logs}");
        let ps = e.cli(&["ps"]).await?.success()?.stdout;
        ensure!(rows_with(&ps, &name).is_empty(), "ps still lists it:\n{ps}");
        Ok(Outcome::Passed)
    })
    .await
}

/// `kill -s` by name and by number hands the signal to a trap; the container stays up.
pub async fn kill_signal(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("killusr1");
    cleaning(&e, &[&name], async {
        detach(&e, &name, &[IMAGE, "sh", "-c", "trap 'echo usr1' USR1; echo ready; while :; do sleep 0.2; done"])
            .await?;
        logs_contain(&e, &name, "ready").await?;
        e.cli(&["kill", "-s", "SIGUSR1", &name]).await?.success()?;
        logs_contain(&e, &name, "usr1").await?;
        let number = libc::SIGUSR1.to_string();
        e.cli(&["kill", "-s", &number, &name]).await?.success()?;
        eventually("a second usr1", SETTLE, || async {
            Ok((e.cli(&["logs", &name]).await?.stdout.matches("usr1").count() == 2).then_some(()))
        })
        .await?;
        ensure!(is_running(&e, &name).await?, "the container stopped");
        Ok(Outcome::Passed)
    })
    .await
}

/// `kill A B` kills both.
pub async fn kill_multiple(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let (a, b) = (e.unique("killa"), e.unique("killb"));
    cleaning(&e, &[&a, &b], async {
        idle(&e, &a).await?;
        idle(&e, &b).await?;
        e.cli(&["kill", &a, &b]).await?.success()?;
        ensure!(exit_code(&e, &a).await? == 137 && exit_code(&e, &b).await? == 137, "not both killed");
        Ok(Outcome::Passed)
    })
    .await
}

/// `restart` keeps the id and files but starts a new main process, later.
pub async fn restart_running(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("restart");
    let script = format!("echo start >> /starts; echo \"starts=$(wc -l < /starts)\"; {IDLE}");
    cleaning(&e, &[&name], async {
        let id = detach(&e, &name, &[IMAGE, "sh", "-c", &script]).await?;
        logs_contain(&e, &name, "starts=1").await?;
        let before = inspect(&e, &name).await?;
        e.cli(&["restart", &name]).await?.success()?;
        running(&e, &name).await?;
        logs_contain(&e, &name, "starts=2").await?;
        let after = inspect(&e, &name).await?;
        ensure!(after["Id"] == Value::String(id.clone()), "the id changed");
        ensure!(before["State"]["Pid"] != after["State"]["Pid"], "the main process is the same pid");
        let times = |v: &Value| epoch_seconds(v["State"]["StartedAt"].as_str().unwrap_or_default());
        ensure!(times(&after)? > times(&before)?, "StartedAt did not move forward");
        Ok(Outcome::Passed)
    })
    .await
}

/// `restart` on an exited container makes it run again.
pub async fn restart_stopped(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("restartexited");
    cleaning(&e, &[&name], async {
        idle(&e, &name).await?;
        e.cli(&["stop", &name]).await?.success()?;
        e.cli(&["restart", &name]).await?.success()?;
        running(&e, &name).await?;
        Ok(Outcome::Passed)
    })
    .await
}

// ---------------------------------------------------------------------------------------------
// rm, wait
// ---------------------------------------------------------------------------------------------

/// `rm /NAME` removes the container and echoes `/NAME`.
pub async fn rm_by_name(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("rmname");
    cleaning(&e, &[&name], async {
        run(&e, &["--name", &name, IMAGE, "true"]).await?.success()?;
        let slashed = format!("/{name}");
        let out = e.cli(&["rm", &slashed]).await?.success()?.stdout;
        ensure!(out.trim() == slashed, "rm echoed {out:?}, not {slashed}");
        ensure!(!exists(&e, &name).await?, "{name} still exists");
        Ok(Outcome::Passed)
    })
    .await
}

/// `rm` of a running and a stopped container removes the stopped one, refuses the running one
/// and exits non-zero.
pub async fn rm_running_refused(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let (up, down) = (e.unique("rmup"), e.unique("rmdown"));
    cleaning(&e, &[&up, &down], async {
        one_up_one_down(&e, &up, &down).await?;
        let run = e.cli(&["rm", &up, &down]).await?;
        ensure!(run.status != Some(0), "rm exited 0");
        ensure!(!run.stderr.trim().is_empty(), "no error for the running container");
        ensure!(exists(&e, &up).await? && is_running(&e, &up).await?, "the running container was removed or stopped");
        ensure!(!exists(&e, &down).await?, "the stopped container was not removed");
        Ok(Outcome::Passed)
    })
    .await
}

/// The ids `ps -a -q` prints can be handed to one `rm`, which removes every one.
pub async fn rm_multiple(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let names: Vec<String> = (0..3).map(|i| e.unique(&format!("rmmany{i}"))).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    cleaning(&e, &refs, async {
        let mut ids = Vec::new();
        for name in &names {
            run(&e, &["--name", name, IMAGE, "true"]).await?.success()?;
            ids.push(inspect(&e, name).await?["Id"].as_str().unwrap_or_default().to_string());
        }
        let listed = e.cli(&["ps", "-a", "-q"]).await?.success()?.stdout;
        let mine: Vec<&str> = listed.lines().filter(|l| ids.iter().any(|id| id.starts_with(l.trim()))).collect();
        ensure!(mine.len() == 3, "ps -a -q does not list the three containers:\n{listed}");
        let mut args = vec!["rm"];
        args.extend(mine.iter().map(|l| l.trim()));
        e.cli(&args).await?.success()?;
        for name in &names {
            ensure!(!exists(&e, name).await?, "{name} was not removed");
        }
        Ok(Outcome::Passed)
    })
    .await
}

/// `rm` of an unknown container prints an error and exits non-zero.
pub async fn rm_unknown(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let run = e.cli(&["rm", &e.unique("nosuchcontainer")]).await?;
    ensure!(run.status != Some(0) && !run.stderr.trim().is_empty(), "exit {:?}, stderr {:?}", run.status, run.stderr);
    Ok(Outcome::Passed)
}

/// A container that runs until it gets SIGUSR1, then exits 3.
pub const EXIT_ON_USR1: &str = "trap 'exit 3' USR1; echo ready; while :; do sleep 0.2; done";

/// `wait` blocks while the container runs, then prints its exit code.
pub async fn wait_blocks(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("wait");
    cleaning(&e, &[&name], async {
        detach(&e, &name, &[IMAGE, "sh", "-c", EXIT_ON_USR1]).await?;
        let mut waiting = Background::cli(&e, &["wait", &name])?;
        tokio::time::sleep(Duration::from_secs(1)).await;
        ensure!(waiting.alive(), "wait returned while the container runs: {}", waiting.stdout());
        e.cli(&["kill", "-s", "USR1", &name]).await?.success()?;
        ensure!(waiting.finish(SETTLE).await? == Some(0), "wait failed: {}", waiting.stderr());
        ensure!(waiting.stdout().trim() == "3", "wait printed {:?}", waiting.stdout());
        Ok(Outcome::Passed)
    })
    .await
}

/// `wait` on an exited container answers at once with the recorded code.
pub async fn wait_exited(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("waitexited");
    cleaning(&e, &[&name], async {
        run(&e, &["--name", &name, IMAGE, "sh", "-c", "exit 5"]).await?;
        let started = Instant::now();
        let out = e.cli(&["wait", &name]).await?.success()?.stdout;
        ensure!(out.trim() == "5", "wait printed {out:?}");
        ensure!(started.elapsed() < Duration::from_secs(10), "wait took {:?}", started.elapsed());
        Ok(Outcome::Passed)
    })
    .await
}

// ---------------------------------------------------------------------------------------------
// logs, top
// ---------------------------------------------------------------------------------------------

/// `logs` of a looping container prints every line so far, in order, and returns.
pub async fn logs_collected(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("logloop");
    cleaning(&e, &[&name], async {
        detach(&e, &name, &[IMAGE, "sh", "-c", "i=0; while :; do i=$((i+1)); echo line $i; sleep 0.3; done"]).await?;
        logs_contain(&e, &name, "line 3").await?;
        let out = e.cli(&["logs", &name]).await?.success()?.stdout;
        let numbers: Vec<u32> = out.lines().filter_map(|l| l.strip_prefix("line ")?.parse().ok()).collect();
        ensure!(
            numbers.len() >= 3 && numbers.iter().enumerate().all(|(i, n)| *n == i as u32 + 1),
            "not every line in order:\n{out}"
        );
        Ok(Outcome::Passed)
    })
    .await
}

/// Lines to stdout and to stderr both appear in `logs`.
pub async fn logs_streams(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("logboth");
    cleaning(&e, &[&name], async {
        run(&e, &["--name", &name, IMAGE, "sh", "-c", "echo to-stdout; echo to-stderr >&2"]).await?.success()?;
        let all = both(&e.cli(&["logs", &name]).await?.success()?);
        ensure!(all.contains("to-stdout") && all.contains("to-stderr"), "logs lack a stream:\n{all}");
        Ok(Outcome::Passed)
    })
    .await
}

/// `logs -f` prints from the start, follows new lines and exits when the container stops.
pub async fn logs_follow(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("logfollow");
    let script = "echo first; trap 'echo second; exit 0' USR1; while :; do sleep 0.2; done";
    cleaning(&e, &[&name], async {
        detach(&e, &name, &[IMAGE, "sh", "-c", script]).await?;
        logs_contain(&e, &name, "first").await?;
        let mut follow = Background::cli(&e, &["logs", "-f", &name])?;
        follow.wait_output("first", SETTLE).await?;
        ensure!(follow.alive(), "logs -f returned while the container runs");
        e.cli(&["kill", "-s", "USR1", &name]).await?.success()?;
        follow.wait_output("second", SETTLE).await?;
        ensure!(follow.finish(SETTLE).await? == Some(0), "logs -f failed: {}", follow.stderr());
        Ok(Outcome::Passed)
    })
    .await
}

/// The logs of an exited container can still be read.
pub async fn logs_stopped(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("logexited");
    cleaning(&e, &[&name], async {
        run(&e, &["--name", &name, IMAGE, "echo", "said-before-exit"]).await?.success()?;
        ensure!(!is_running(&e, &name).await?, "still running");
        let out = e.cli(&["logs", &name]).await?.success()?.stdout;
        ensure!(out.contains("said-before-exit"), "logs: {out}");
        Ok(Outcome::Passed)
    })
    .await
}

/// The host cgroup paths of a process, one line per hierarchy, from /proc/<pid>/cgroup.
pub fn proc_cgroup(pid: u32) -> anyhow::Result<String> {
    std::fs::read_to_string(format!("/proc/{pid}/cgroup")).with_context(|| format!("cannot read /proc/{pid}/cgroup"))
}

/// `top` shows a ps-style table of the container's processes and of nothing else.
pub async fn top_basic(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("top");
    cleaning(&e, &[&name], async {
        let id = detach(&e, &name, &[IMAGE, "sh", "-c", "sleep 1001 & sleep 1002"]).await?;
        let out = eventually("both sleeps in top", SETTLE, || async {
            let out = e.cli(&["top", &name]).await?.success()?.stdout;
            Ok((out.contains("sleep 1001") && out.contains("sleep 1002")).then_some(out))
        })
        .await?;
        let header: Vec<&str> = out.lines().next().context("no output")?.split_whitespace().collect();
        for column in ["UID", "PID", "PPID", "CMD"] {
            ensure!(header.contains(&column), "no {column} column: {header:?}");
        }
        let at = header.iter().position(|c| *c == "PID").unwrap_or(1);
        for row in out.lines().skip(1) {
            let pid: u32 = row
                .split_whitespace()
                .nth(at)
                .and_then(|p| p.parse().ok())
                .with_context(|| format!("no pid in {row}"))?;
            let groups = proc_cgroup(pid).unwrap_or_default();
            ensure!(groups.contains(&id), "process {pid} ({row}) is not in the container's cgroup:\n{groups}");
        }
        Ok(Outcome::Passed)
    })
    .await
}

/// `top ID aux` passes the options to ps: the columns of `ps aux`.
pub async fn top_ps_args(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("topaux");
    cleaning(&e, &[&name], async {
        idle(&e, &name).await?;
        let out = e.cli(&["top", &name, "aux"]).await?.success()?.stdout;
        let header = out.lines().next().context("no output")?;
        for column in ["USER", "PID", "%CPU", "%MEM"] {
            ensure!(header.split_whitespace().any(|c| c == column), "no {column} column: {header}");
        }
        Ok(Outcome::Passed)
    })
    .await
}

/// `top` on a container that is not running is an error.
pub async fn top_stopped(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("topstopped");
    cleaning(&e, &[&name], async {
        run(&e, &["--name", &name, IMAGE, "true"]).await?.success()?;
        let run = e.cli(&["top", &name]).await?;
        ensure!(
            run.status != Some(0) && !run.stderr.trim().is_empty(),
            "exit {:?}, stderr {:?}",
            run.status,
            run.stderr
        );
        Ok(Outcome::Passed)
    })
    .await
}

// ---------------------------------------------------------------------------------------------
// names and ids
// ---------------------------------------------------------------------------------------------

/// `--name` names the container: ps shows it and commands take it.
pub async fn name_assign(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("named");
    cleaning(&e, &[&name], async {
        let id = idle(&e, &name).await?;
        let ps = e.cli(&["ps"]).await?.success()?.stdout;
        let row = rows_with(&ps, &id[..12]).into_iter().next().with_context(|| format!("not listed:\n{ps}"))?;
        ensure!(row.split_whitespace().last() == Some(name.as_str()), "NAMES is not {name}: {row}");
        ensure!(inspect(&e, &name).await?["Id"] == Value::String(id), "the name does not reach the container");
        Ok(Outcome::Passed)
    })
    .await
}

/// Without `--name` the engine picks an `adjective_surname` name.
pub async fn name_autogen(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let id = run_out(&e, &["-d", IMAGE, "true"]).await?.trim().to_string();
    let result = async {
        let name = inspect(&e, &id).await?["Name"].as_str().unwrap_or_default().trim_start_matches('/').to_string();
        let parts: Vec<&str> = name.split('_').collect();
        let word = |w: &str| !w.is_empty() && w.bytes().all(|b| b.is_ascii_lowercase());
        let ok = parts.len() == 2 && word(parts[0]) && word(parts[1].trim_end_matches(|c: char| c.is_ascii_digit()));
        ensure!(ok, "generated name {name:?} is not adjective_surname");
        Ok(Outcome::Passed)
    }
    .await;
    remove(&e, &id).await;
    result
}

/// A second container with a taken name is refused as a conflict.
pub async fn name_conflict(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("taken");
    cleaning(&e, &[&name], async {
        let first = idle(&e, &name).await?;
        let again = run(&e, &["-d", "--name", &name, IMAGE, "true"]).await?;
        ensure!(again.status != Some(0), "a second container got the name {name}");
        ensure!(
            again.stderr.to_lowercase().contains("conflict") || again.stderr.contains("already in use"),
            "{}",
            again.stderr
        );
        ensure!(inspect(&e, &name).await?["Id"] == Value::String(first), "the name moved to another container");
        Ok(Outcome::Passed)
    })
    .await
}

/// Once removed, a container's name can be used again.
pub async fn name_reuse(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("reuse");
    cleaning(&e, &[&name], async {
        run(&e, &["--name", &name, IMAGE, "true"]).await?.success()?;
        e.cli(&["rm", &name]).await?.success()?;
        run(&e, &["--name", &name, IMAGE, "true"]).await?.success()?;
        Ok(Outcome::Passed)
    })
    .await
}

/// `start`, `stop`, `attach`, `logs`, `inspect`, `port` and `rm` all take the name.
pub async fn name_commands(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("byname");
    cleaning(&e, &[&name], async {
        create(&e, &name, &[IMAGE, "sh", "-c", "i=0; while :; do i=$((i+1)); echo tick $i; sleep 0.2; done"]).await?;
        e.cli(&["start", &name]).await?.success()?;
        running(&e, &name).await?;
        let attached = Background::cli(&e, &["attach", "--no-stdin", "--sig-proxy=false", &name])?;
        attached.wait_output("tick", SETTLE).await?;
        drop(attached);
        logs_contain(&e, &name, "tick").await?;
        e.cli(&["inspect", &name]).await?.success()?;
        e.cli(&["port", &name]).await?.success()?;
        e.cli(&["stop", "-t", "1", &name]).await?.success()?;
        e.cli(&["rm", &name]).await?.success()?;
        ensure!(!exists(&e, &name).await?, "rm by name left the container");
        Ok(Outcome::Passed)
    })
    .await
}

/// Each lifecycle command works with the reference `by` for the container `name`.
async fn commands_with(e: &Engine, name: &str, by: &str) -> anyhow::Result<()> {
    e.cli(&["inspect", by]).await?.success()?;
    e.cli(&["logs", by]).await?.success()?;
    e.cli(&["top", by]).await?.success()?;
    e.cli(&["port", by]).await?.success()?;
    e.cli(&["stop", "-t", "1", by]).await?.success()?;
    ensure!(!is_running(e, name).await?, "stop {by} did not stop it");
    e.cli(&["start", by]).await?.success()?;
    running(e, name).await?;
    e.cli(&["kill", by]).await?.success()?;
    e.cli(&["wait", by]).await?.success()?;
    Ok(())
}

/// The full 64-hex id works for container commands, commit included.
pub async fn id_long(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let (name, image) = (e.unique("longid"), e.unique("longidimage"));
    cleaning_images(&e, &[&name], &[&image], async {
        let id = idle(&e, &name).await?;
        ensure!(is_long_id(&id), "run -d printed {id:?}");
        commands_with(&e, &name, &id).await?;
        e.cli(&["commit", &id, &image]).await?.success()?;
        e.cli(&["rm", &id]).await?.success()?;
        Ok(Outcome::Passed)
    })
    .await
}

/// The 12-character prefix of the id is enough.
pub async fn id_short(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("shortid");
    cleaning(&e, &[&name], async {
        let id = idle(&e, &name).await?;
        commands_with(&e, &name, &id[..12]).await?;
        e.cli(&["rm", &id[..12]]).await?.success()?;
        ensure!(!exists(&e, &name).await?, "rm by short id left the container");
        Ok(Outcome::Passed)
    })
    .await
}

/// Chosen and generated names work as identifiers.
pub async fn id_name(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("nameid");
    let generated = run_out(&e, &["-d", IMAGE, "sh", "-c", IDLE]).await?.trim().to_string();
    let result = cleaning(&e, &[&name], async {
        idle(&e, &name).await?;
        commands_with(&e, &name, &name).await?;
        let auto =
            inspect(&e, &generated).await?["Name"].as_str().unwrap_or_default().trim_start_matches('/').to_string();
        commands_with(&e, &auto, &auto).await?;
        Ok(Outcome::Passed)
    })
    .await;
    remove(&e, &generated).await;
    result
}

/// Container ids are 64 hex characters, and the engine reports them whole when it creates
/// something (run -d, the create endpoint, commit).
pub async fn ids_format(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let (name, image) = (e.unique("longids"), e.unique("longidscommit"));
    let api_name = e.unique("longidsapi");
    cleaning_images(&e, &[&name, &api_name], &[&image], async {
        let id = run_out(&e, &["-d", "--name", &name, IMAGE, "true"]).await?;
        ensure!(is_long_id(&id), "run -d printed {id:?}");
        let body = serde_json::json!({"Image": IMAGE, "Cmd": ["true"], "HostConfig": {"NetworkMode": "none"}});
        let created = e
            .api
            .call(Method::POST, &format!("/containers/create?name={api_name}"), Some(body.to_string().into()))
            .await?;
        let created: Value = created.json()?;
        ensure!(created["Id"].as_str().is_some_and(is_long_id), "create answered {created}");
        let committed = e.cli(&["commit", &name, &image]).await?.success()?.stdout;
        ensure!(is_long_id(&committed), "commit printed {committed:?}");
        let all = e.cli(&["ps", "-a", "-q", "--no-trunc"]).await?.success()?.stdout;
        ensure!(all.lines().all(is_long_id), "ps --no-trunc -q prints ids that are not 64 hex:\n{all}");
        Ok(Outcome::Passed)
    })
    .await
}

/// `State.Running` follows the main process; after it ends, ExitCode holds its status and the
/// file system changes are still there.
pub async fn states(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("states");
    let script = "echo data > /kept; trap 'exit 3' USR1; echo ready; while :; do sleep 0.2; done";
    cleaning(&e, &[&name], async {
        detach(&e, &name, &[IMAGE, "sh", "-c", script]).await?;
        logs_contain(&e, &name, "ready").await?;
        let state = inspect(&e, &name).await?["State"].clone();
        ensure!(
            state["Running"] == Value::Bool(true) && state["Pid"].as_u64().unwrap_or(0) > 0,
            "while running: {state}"
        );
        e.cli(&["kill", "-s", "USR1", &name]).await?.success()?;
        ensure!(exit_code(&e, &name).await? == 3, "ExitCode is not 3");
        let diff = e.cli(&["diff", &name]).await?.success()?.stdout;
        ensure!(diff.lines().any(|l| l.trim() == "A /kept"), "diff after exit lacks A /kept:\n{diff}");
        Ok(Outcome::Passed)
    })
    .await
}

/// Files a container wrote survive stop and start, and go only with `rm`: a new container of
/// the same name starts clean.
pub async fn persist_until_rm(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("persist");
    let script = "cat /data 2>/dev/null || echo none; echo written > /data";
    cleaning(&e, &[&name], async {
        run(&e, &["--name", &name, IMAGE, "sh", "-c", script]).await?.success()?;
        e.cli(&["start", "-a", &name]).await?.success()?;
        let logs = e.cli(&["logs", &name]).await?.success()?.stdout;
        ensure!(logs.lines().collect::<Vec<_>>() == ["none", "written"], "the file did not survive a restart:\n{logs}");
        e.cli(&["rm", &name]).await?.success()?;
        let fresh = run_out(&e, &["--name", &name, IMAGE, "sh", "-c", script]).await?;
        ensure!(fresh.trim() == "none", "a new container saw the removed one's file: {fresh}");
        Ok(Outcome::Passed)
    })
    .await
}

/// What `info` counts, with the ids the lists give, read when the lists stay the same around
/// the `info` call, so that other cases' activity between readings can be noticed.
async fn counts(e: &Engine) -> anyhow::Result<(i64, Vec<String>, i64, Vec<String>)> {
    let ids = |list: Value| -> Vec<String> {
        let mut ids: Vec<String> =
            list.as_array().into_iter().flatten().filter_map(|c| c["Id"].as_str().map(String::from)).collect();
        ids.sort();
        ids
    };
    let lists = || async {
        let containers = ids(e.get("/containers/json?all=1").await?.json()?);
        anyhow::Ok((containers, ids(e.get("/images/json?all=1").await?.json()?)))
    };
    for _ in 0..5 {
        let first = lists().await?;
        let info: Value = e.get("/info").await?.json()?;
        let (containers, images) = lists().await?;
        if first == (containers.clone(), images.clone()) {
            let (c, i) = (info["Containers"].as_i64().unwrap_or(-1), info["Images"].as_i64().unwrap_or(-1));
            return Ok((c, containers, i, images));
        }
    }
    bail!("{DISTURBED}")
}

/// `info`'s Containers goes up by one on create and down on rm; Images up when an image is
/// made (a commit). Other cases run at the same time, so a reading disturbed by them is
/// taken again, until the engine is quiet enough.
pub async fn info_counts(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let deadline = Instant::now() + Duration::from_secs(240);
    while Instant::now() < deadline {
        let (name, image) = (e.unique("counted"), e.unique("countedimage"));
        let result = cleaning_images(&e, &[&name], &[&image], async {
            let before = counts(&e).await?;
            create(&e, &name, &[IMAGE, "true"]).await?;
            e.cli(&["commit", &name, &image]).await?.success()?;
            let during = counts(&e).await?;
            e.cli(&["rm", &name]).await?.success()?;
            let after = counts(&e).await?;
            let quiet =
                before.1.len() + 1 == during.1.len() && before.1 == after.1 && before.3.len() + 1 == during.3.len();
            ensure!(quiet, "{DISTURBED}");
            ensure!(during.0 == before.0 + 1, "Containers went from {} to {} on create", before.0, during.0);
            ensure!(after.0 == before.0, "Containers went from {} to {} on rm", during.0, after.0);
            ensure!(during.2 == before.2 + 1, "Images went from {} to {} on commit", before.2, during.2);
            Ok(Outcome::Passed)
        })
        .await;
        match result {
            Err(error) if error.to_string() == DISTURBED => tokio::time::sleep(Duration::from_millis(500)).await,
            other => return other,
        }
    }
    bail!("other cases kept changing the engine's containers and images; no undisturbed reading in 240 s")
}

const DISTURBED: &str = "another case changed the lists between the readings";

// ---------------------------------------------------------------------------------------------
// First steps (4.x) and inspect
// ---------------------------------------------------------------------------------------------

/// `run IMAGE /bin/echo hello world` prints `hello world` and exits 0.
pub async fn hello_world(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("hello");
    cleaning(&e, &[&name], async {
        let out = run_out(&e, &["--name", &name, IMAGE, "/bin/echo", "hello", "world"]).await?;
        ensure!(out == "hello world\n", "printed {out:?}");
        Ok(Outcome::Passed)
    })
    .await
}

/// An argument with a backslash and a slash reaches the container unchanged.
pub async fn args_verbatim(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("verbatim");
    cleaning(&e, &[&name], async {
        let out = run_out(&e, &["--name", &name, IMAGE, "echo", r"docker on GCE \o/"]).await?;
        ensure!(out == "docker on GCE \\o/\n", "printed {out:?}");
        Ok(Outcome::Passed)
    })
    .await
}

/// A detached echo loop: lines in logs, listed by ps; once stopped only `ps -a` lists it.
pub async fn daemonized_loop(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("daemonized");
    cleaning(&e, &[&name], async {
        detach(&e, &name, &[IMAGE, "sh", "-c", "while true; do echo hello world; sleep 0.3; done"]).await?;
        logs_contain(&e, &name, "hello world").await?;
        ensure!(!rows_with(&e.cli(&["ps"]).await?.success()?.stdout, &name).is_empty(), "ps does not list it");
        e.cli(&["stop", "-t", "1", &name]).await?.success()?;
        ensure!(rows_with(&e.cli(&["ps"]).await?.success()?.stdout, &name).is_empty(), "ps lists it after stop");
        ensure!(!rows_with(&e.cli(&["ps", "-a"]).await?.success()?.stdout, &name).is_empty(), "ps -a does not list it");
        Ok(Outcome::Passed)
    })
    .await
}

/// One `inspect` of a container and an image prints one array with both objects.
pub async fn inspect_mixed(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("inspectmixed");
    cleaning(&e, &[&name], async {
        let id = create(&e, &name, &[IMAGE, "true"]).await?;
        let out = e.cli(&["inspect", &name, IMAGE]).await?.success()?.stdout;
        let value: Value = serde_json::from_str(&out).with_context(|| format!("not one JSON document:\n{out}"))?;
        let items = value.as_array().with_context(|| format!("not an array: {value}"))?;
        ensure!(items.len() == 2, "{} objects for 2 arguments", items.len());
        ensure!(items[0]["Id"] == Value::String(id), "the first object is not the container");
        let image = e.image_id(IMAGE).await?;
        ensure!(items[1]["Id"].as_str().is_some_and(|i| i.ends_with(&image)), "the second object is not the image");
        Ok(Outcome::Passed)
    })
    .await
}

/// `--format` prints only the template's value, one line per container.
pub async fn inspect_format(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let (a, b) = (e.unique("formata"), e.unique("formatb"));
    cleaning(&e, &[&a, &b], async {
        let ids = [create(&e, &a, &[IMAGE, "true"]).await?, create(&e, &b, &[IMAGE, "true"]).await?];
        let out = e.cli(&["inspect", "--format={{.Id}}", &a, &b]).await?.success()?.stdout;
        ensure!(out.lines().collect::<Vec<_>>() == ids, "expected the two ids, one a line:\n{out}");
        let address = e.cli(&["inspect", "--format={{.NetworkSettings.IPAddress}}", &a]).await?.success()?.stdout;
        ensure!(address.lines().count() == 1, "the address template printed more than one line: {address:?}");
        Ok(Outcome::Passed)
    })
    .await
}

/// `inspect -format=...`, the 2014 single-dash spelling, applies the template.
pub async fn inspect_single_dash(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("singledash");
    cleaning(&e, &[&name], async {
        let id = create(&e, &name, &[IMAGE, "true"]).await?;
        let run = e.cli(&["inspect", "-format={{.Id}}", &name]).await?;
        if run.status == Some(0) && run.stdout.trim() == id {
            return Ok(Outcome::Passed);
        }
        let modern = e.cli(&["inspect", "--format={{.Id}}", &name]).await?.success()?.stdout;
        ensure!(modern.trim() == id, "--format does not work either: {modern}");
        if run.stdout.trim() == format!("ormat={id}") || run.status != Some(0) {
            return Ok(skip(SkipKind::Legacy, format!(
                "the CLI reads `-format=` as the short flag -f with the value `ormat=...` (printed {:?}, {}): single-dash long flags were dropped after 2014",
                run.stdout.trim(), run.stderr.trim()
            )));
        }
        bail!("inspect -format printed {:?}", run.stdout)
    })
    .await
}

/// `port` on an exposed but unpublished port says so and exits non-zero.
pub async fn port_not_published(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("unpublished");
    cleaning(&e, &[&name], async {
        let id = detach(&e, &name, &["--expose", "80", IMAGE, "sh", "-c", IDLE]).await?;
        let run = e.cli(&["port", &id, "80"]).await?;
        ensure!(run.status != Some(0), "port exited 0: {}", run.stdout);
        ensure!(
            run.stderr.contains("No public port '80") && run.stderr.contains(&format!("published for {id}")),
            "{}",
            run.stderr
        );
        Ok(Outcome::Passed)
    })
    .await
}

/// `--restart on-failure:2`: a command failing every time runs three times in all, then the
/// container stays exited with its code and a restart count of 2.
pub async fn restart_on_failure(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("onfailure");
    cleaning(&e, &[&name], async {
        detach(&e, &name, &["--restart", "on-failure:2", IMAGE, "sh", "-c", "echo attempt; exit 3"]).await?;
        let state = eventually("two restarts, then rest", SETTLE, || async {
            let value = inspect(&e, &name).await?;
            let settled = value["RestartCount"] == 2
                && value["State"]["Running"] == Value::Bool(false)
                && value["State"]["Restarting"] != Value::Bool(true);
            Ok(settled.then_some(value))
        })
        .await?;
        ensure!(state["State"]["ExitCode"] == 3, "exit code after the last attempt: {}", state["State"]);
        let logs = logs_contain(&e, &name, "attempt").await?;
        ensure!(logs.matches("attempt").count() == 3, "three runs expected in the logs: {logs:?}");
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let later = inspect(&e, &name).await?;
        ensure!(later["RestartCount"] == 2, "it restarted again: {}", later["RestartCount"]);
        Ok(Outcome::Passed)
    })
    .await
}

/// `--restart always`: a command that exits, even with 0, is started again; `stop` ends that.
pub async fn restart_always(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("always");
    cleaning(&e, &[&name], async {
        detach(&e, &name, &["--restart", "always", IMAGE, "sh", "-c", "echo up; sleep 1"]).await?;
        eventually("a restart", SETTLE, || async {
            Ok(inspect(&e, &name).await?["RestartCount"].as_u64().is_some_and(|n| n >= 1).then_some(()))
        })
        .await?;
        running(&e, &name).await?;
        e.cli(&["stop", "-t", "1", &name]).await?.success()?;
        let count = inspect(&e, &name).await?["RestartCount"].clone();
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let after = inspect(&e, &name).await?;
        ensure!(after["State"]["Running"] == Value::Bool(false), "running again after stop: {}", after["State"]);
        ensure!(after["RestartCount"] == count, "restarted after stop: {} then {}", count, after["RestartCount"]);
        Ok(Outcome::Passed)
    })
    .await
}
