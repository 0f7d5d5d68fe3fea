//! Things inside things: the CREATED BY of the layers a build stacks on its base (5.1.12),
//! and an engine running inside a `--privileged` container with containers of its own
//! (5.1.29, 5.3.2).

use super::containers::{both, cleaning_images, is_running, remove, run, text, IMAGE};
use super::Case;
use crate::case;
use crate::engine::{CliRun, Engine};
use crate::outcome::{skip, Outcome, SkipKind};
use anyhow::{bail, ensure, Context as _};
use http::StatusCode;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[rustfmt::skip]
pub static CASES: &[Case] = &[
    case!("history of metadata steps", ["cli.history.nop"], history_nop),
    case!("engine inside a privileged container", ["run.privileged.docker-in-docker"], docker_in_docker),
];

// ---------------------------------------------------------------------------------------------
// history: #(nop) layers
// ---------------------------------------------------------------------------------------------

/// ENV, EXPOSE and CMD only change the configuration; RUN runs a command.
const NOP_DOCKERFILE: &str = "FROM busybox
ENV NESTED_GREETING hello
RUN echo made > /made
EXPOSE 4242
CMD [\"cat\", \"/made\"]
";
const RUN_CREATED_BY: &str = "/bin/sh -c echo made > /made";
/// Each metadata step once `/bin/sh -c #(nop)` is taken off: how it starts and what it
/// holds (the rest has changed form over the years: `ENV K V` or `ENV K=V`, `CMD [cat /made]`
/// or `CMD ["cat" "/made"]`). The base image has a CMD step of its own.
const NOP_STEPS: [(&str, &str); 3] = [("ENV", "NESTED_GREETING"), ("EXPOSE", "4242"), ("CMD", "/made")];
const NOP_PREFIX: &str = "/bin/sh -c #(nop)";

/// Metadata-only steps show `/bin/sh -c #(nop) INSTRUCTION ...` as CREATED BY, and a RUN
/// step `/bin/sh -c COMMAND`, in `GET /images/(name)/history` and `history --no-trunc`.
pub async fn history_nop(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let tag = e.unique("nop");
    cleaning_images(&e, &[], &[&tag], async {
        build(&e, NOP_DOCKERFILE, &tag).await?;
        let reply = e.get(&format!("/images/{tag}/history")).await?;
        ensure!(reply.status == StatusCode::OK, "history answered {}: {}", reply.status, text(&reply.body));
        let steps: Vec<Value> = reply.json()?;
        let created_by: Vec<&str> = steps.iter().filter_map(|s| s["CreatedBy"].as_str()).collect();
        check_created_by(&created_by).context("GET /images/(name)/history")?;

        let out = e.cli(&["history", "--no-trunc", &tag]).await?.success()?.stdout;
        check_created_by(&out.lines().collect::<Vec<_>>()).context("history --no-trunc")?;
        Ok(Outcome::Passed)
    })
    .await
}

/// Checks the build's steps among `texts` (CreatedBy values, or lines of the CLI table that
/// contain them).
fn check_created_by(texts: &[&str]) -> anyhow::Result<()> {
    let run = find(texts, "echo made")?;
    ensure!(
        run.contains(RUN_CREATED_BY) && !run.contains("#(nop)"),
        "the RUN step is not shown as {RUN_CREATED_BY:?}: {run:?}"
    );
    for (step, holds) in NOP_STEPS {
        ensure!(
            texts.iter().any(|t| shows_nop(t, step, holds)),
            "no step shown as {NOP_PREFIX:?} then {step} ... {holds} in:\n{}",
            texts.join("\n")
        );
    }
    Ok(())
}

/// Whether `text` shows `/bin/sh -c #(nop)`, then `step` with `holds` after it.
fn shows_nop(text: &str, step: &str, holds: &str) -> bool {
    let after = text.split_once(NOP_PREFIX).map(|(_, rest)| rest.trim_start());
    after.is_some_and(|rest| rest.starts_with(step) && rest.contains(holds))
}

fn find<'a>(texts: &[&'a str], needle: &str) -> anyhow::Result<&'a str> {
    let found = texts.iter().find(|t| t.contains(needle));
    found.copied().with_context(|| format!("no step mentions {needle:?} in:\n{}", texts.join("\n")))
}

/// `build --force-rm --network=none -t TAG` of a context holding only `dockerfile`, with the
/// classic builder. Removing the tag later removes the intermediate images, its parents.
async fn build(e: &Engine, dockerfile: &str, tag: &str) -> anyhow::Result<CliRun> {
    let dir = std::env::temp_dir().join(e.unique("ctx"));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let result = async {
        std::fs::write(dir.join("Dockerfile"), dockerfile)?;
        let env = [("DOCKER_HOST", e.docker_host.as_str()), ("DOCKER_BUILDKIT", "0")];
        let context = dir.to_string_lossy();
        e.cli_with(&["build", "--force-rm", "--network=none", "-t", tag, &context], &env).await?.success()
    }
    .await;
    let _ = std::fs::remove_dir_all(&dir);
    result
}

// ---------------------------------------------------------------------------------------------
// An engine inside a privileged container
// ---------------------------------------------------------------------------------------------

/// Where the container finds the engine's program, the image to load and its socket.
const INNER_BIN: &str = "/usr/local/bin/berth";
const INNER_TAR: &str = "/busybox.tar";
const INNER_HOST: &str = "unix:///var/run/berth.sock";
/// The nested graph lives on a volume, where the overlay driver works (over the container's
/// own overlay root it does not) and which goes with the container.
const INNER_GRAPH: &str = "/var/lib/berth";
const NESTED_START: Duration = Duration::from_secs(60);
const NESTED_STOP: &str = "20";

/// The container's program: mount the cgroup hierarchies if the engine did not (Docker in
/// 2014 did not; the `wrapdocker` script of the time did this under --privileged), start the
/// nested daemon with no bridge or iptables rules (the container has no network), and on
/// SIGTERM remove the nested containers (their cgroups are the host's) and stop the daemon.
/// The daemon's log is the container's.
const INNER_SCRIPT: &str = r#"set -e
mount_cgroups() {
    if [ "$(cut -d: -f2 /proc/self/cgroup)" = "" ]; then
        mount -t cgroup2 cgroup2 /sys/fs/cgroup
        return
    fi
    mount -t tmpfs -o mode=755 cgroup /sys/fs/cgroup
    while IFS=: read -r _ subsys _; do
        if [ -z "$subsys" ]; then
            mkdir -p /sys/fs/cgroup/unified
            mount -t cgroup2 cgroup2 /sys/fs/cgroup/unified
        else
            dir=/sys/fs/cgroup/${subsys#name=}
            mkdir -p "$dir"
            mount -t cgroup -o "$subsys" cgroup "$dir"
        fi
    done </proc/self/cgroup
}
bin=$0 host=$1
stop_daemon() {
    for c in $("$bin" -H "$host" ps -aq); do "$bin" -H "$host" rm -f "$c" >/dev/null || true; done
    kill -TERM "$daemon"
    wait "$daemon" || true
    exit 0
}
grep -qE ' - cgroup2? ' /proc/self/mountinfo || mount_cgroups
"$bin" -d -D -b none --iptables=false -H "$host" 2>&1 &
daemon=$!
trap stop_daemon TERM
while kill -0 "$daemon" 2>/dev/null; do sleep 0.2; done
wait "$daemon"
"#;

/// A --privileged container runs the engine's own daemon, loads busybox into it and runs a
/// container through it. Needs the daemon program (DAEMON_BIN) to be berth's: a single
/// binary that runs in a busybox container given its shared libraries.
pub async fn docker_in_docker(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let daemon = match berth_daemon(&e).await? {
        Ok(path) => path,
        Err(skipped) => return Ok(skipped),
    };
    let name = e.unique("dind");
    let result = nested_engine(&e, &name, &daemon).await;
    // SIGTERM first, so the nested daemon removes what it made (cgroups, mounts), then
    // remove the container and its volume (the nested graph).
    let _ = e.cli(&["stop", "-t", NESTED_STOP, &name]).await;
    remove(&e, &name).await;
    result
}

async fn nested_engine(e: &Engine, name: &str, daemon: &Path) -> anyhow::Result<Outcome> {
    let mut binds = vec![
        format!("{}:{INNER_BIN}:ro", daemon.display()),
        format!("{}:{INNER_TAR}:ro", absolute(&e.fixture("busybox.tar"))?.display()),
        INNER_GRAPH.to_string(),
    ];
    binds.extend(shared_libraries(e, daemon).await?.iter().map(|lib| format!("{0}:{0}:ro", lib.display())));
    let mut args = vec!["-d", "--privileged", "--name", name];
    for bind in &binds {
        args.extend(["-v", bind.as_str()]);
    }
    args.extend([IMAGE, "sh", "-c", INNER_SCRIPT, INNER_BIN, INNER_HOST]);
    run(e, &args).await?.success().context("the privileged container did not start")?;

    nested_ready(e, name).await?;
    inner(e, name, &["load", "-i", INNER_TAR]).await?.success().context("loading busybox into the nested engine")?;
    let echo = inner(e, name, &["run", "--rm", IMAGE, "echo", "nested"]).await?;
    if echo.status != Some(0) || echo.stdout.trim() != "nested" {
        bail!("a nested `run --rm busybox echo nested` gave {echo:?}\n{}", logs(e, name).await);
    }
    Ok(Outcome::Passed)
}

/// The nested engine's CLI (the same program), run in the container.
async fn inner(e: &Engine, name: &str, args: &[&str]) -> anyhow::Result<CliRun> {
    let mut all = vec!["exec", name, INNER_BIN, "-H", INNER_HOST];
    all.extend_from_slice(args);
    e.cli(&all).await
}

/// Waits until the nested daemon answers `version`; fails early, with the container's log,
/// when the container stops.
async fn nested_ready(e: &Engine, name: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + NESTED_START;
    loop {
        if !is_running(e, name).await? {
            bail!("the container stopped before its daemon answered:\n{}", logs(e, name).await);
        }
        if inner(e, name, &["version"]).await?.status == Some(0) {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("the nested daemon did not answer within {NESTED_START:?}:\n{}", logs(e, name).await);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The container's log (the mount steps and the nested daemon), for failure messages.
async fn logs(e: &Engine, name: &str) -> String {
    match e.cli(&["logs", name]).await {
        Ok(run) => format!("container log:\n{}", both(&run).trim()),
        Err(err) => format!("(no container log: {err})"),
    }
}

/// DAEMON_BIN, whole, when it is berth's; the skip otherwise.
async fn berth_daemon(e: &Engine) -> anyhow::Result<Result<PathBuf, Outcome>> {
    let Some(bin) = std::env::var("DAEMON_BIN").ok().filter(|b| !b.is_empty()) else {
        let reason = "DAEMON_BIN is not set: the case puts the engine's daemon program in the container";
        return Ok(Err(skip(SkipKind::Environment, reason)));
    };
    let version = e.program(&bin, &["--version"], &[]).await?;
    let said = both(&version);
    if !said.to_ascii_lowercase().contains("berth") {
        let reason = format!(
            "DAEMON_BIN ({bin}) is not berth's (its --version says {:?}): the case can start only \
             berth's daemon, one program, in a busybox container",
            said.lines().next().unwrap_or_default().trim()
        );
        return Ok(Err(skip(SkipKind::Environment, reason)));
    }
    Ok(Ok(absolute(Path::new(&bin))?))
}

/// The shared libraries (and the loader) `program` needs, as its ELF interpreter lists them
/// (`ld.so --list`, what `ldd` runs; a host without `ldd` still has the loader); none for a
/// static program.
pub(super) async fn shared_libraries(e: &Engine, program: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let bytes = std::fs::read(program).with_context(|| format!("cannot read {}", program.display()))?;
    let Some(loader) = super::volumes::elf_interpreter(&bytes) else { return Ok(Vec::new()) };
    let listed = e.program(&loader.to_string_lossy(), &["--list", &program.to_string_lossy()], &[]).await?;
    let mut libraries: Vec<PathBuf> = listed
        .stdout
        .lines()
        .filter_map(|line| {
            let path = line.split_once("=>").map_or(line, |(_, target)| target).split_whitespace().next()?;
            path.starts_with('/').then(|| PathBuf::from(path))
        })
        .collect();
    if !libraries.contains(&loader) {
        libraries.push(loader);
    }
    Ok(libraries)
}

fn absolute(path: &Path) -> anyhow::Result<PathBuf> {
    std::fs::canonicalize(path).with_context(|| format!("cannot find {}", path.display()))
}
