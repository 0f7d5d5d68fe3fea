//! `run` and its options (5.1.27, the 5.3 run reference) and the run-time options of today's
//! engines that the seed documents rely on (read-only root, tmpfs, no-new-privileges,
//! healthchecks). Images with a particular config are made by committing a container of the
//! fixture with that config, as the commit endpoint allows.

use super::containers::{
    both, cleaning, cleaning_images, cli_has_flag, create, detach, exists, inspect, is_long_id, remove, run, run_out,
    running, Background, IDLE, IMAGE, SETTLE,
};
use super::Case;
use crate::case;
use crate::engine::Engine;
use crate::outcome::{skip, Outcome, SkipKind};
use anyhow::{bail, ensure, Context};
use http::{Method, StatusCode};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[rustfmt::skip]
pub static CASES: &[Case] = &[
    case!("run -d prints the id", ["cli.run.detach-prints-id", "cli.run.opt.detach"], detach_prints_id),
    case!("run shows both streams", ["run.foreground.attach-default"], attach_default),
    case!("run -a stdout", ["cli.run.opt.attach"], attach_stdout),
    case!("run -a stdin -a stdout", ["run.foreground.attach-select"], attach_stdin_stdout),
    case!("run -a stderr", ["run.foreground.attach-stderr-only"], attach_stderr),
    case!("run --cidfile", ["cli.run.opt.cidfile", "run.cidfile.closed"], cidfile),
    case!("run --cidfile taken", ["cli.run.cidfile-exists"], cidfile_exists),
    case!("run -e", ["cli.run.opt.env", "seed.kratos.env-dsn", "seed.directus.env-value-special"], env_option),
    case!("run -e over ENV", ["run.override.env"], env_override),
    case!("run -h", ["cli.run.opt.hostname", "run.override.hostname"], hostname_option),
    case!("HOSTNAME is the short id", ["run.env.hostname"], hostname_default),
    case!("run -i", ["cli.run.opt.interactive"], interactive),
    case!("no stdin without -i", ["run.stdin-closed-without-i"], stdin_closed),
    case!("run -m units", ["cli.run.opt.memory-units"], memory_units),
    case!("run -m above RAM", ["run.memory.above-physical"], memory_above_physical),
    case!("run -n=false", ["cli.run.opt.networking", "run.network.disabled"], networking_off),
    case!("run --rm", ["cli.run.opt.rm", "run.rm"], rm_on_exit),
    case!("run --rm -d", ["cli.run.rm-with-detach"], rm_with_detach),
    case!("run -t", ["cli.run.opt.tty", "run.env.term"], tty),
    case!("run -u", ["cli.run.opt.user"], user_option),
    case!("run -u over USER", ["run.override.user", "seed.pocketid.nonroot-1000"], user_override),
    case!("non-root user", ["security.nonroot-user"], nonroot_user),
    case!("run --dns", ["cli.run.opt.dns", "run.dns.custom"], dns_custom),
    case!("run host dns", ["run.dns.host-default"], dns_default),
    case!("run --entrypoint", ["cli.run.opt.entrypoint", "run.override.entrypoint"], entrypoint_option),
    case!("entrypoint arguments", ["run.override.entrypoint-args", "seed.kratos.args-to-entrypoint"], entrypoint_args),
    case!("command after entrypoint", ["run.override.cmd-to-entrypoint"], cmd_to_entrypoint),
    case!("command over CMD", ["run.override.cmd"], cmd_override),
    case!("run -w", ["cli.run.opt.workdir", "run.override.workdir"], workdir),
    case!("run -w creates", ["cli.run.workdir-create"], workdir_create),
    case!("run --expose adds", ["run.override.expose"], expose_union),
    case!("run --lxc-conf", ["cli.run.opt.lxc-conf", "run.lxc-conf.override"], lxc_conf),
    case!("run exit code", ["cli.run.exit-code"], exit_status),
    case!("run without command", ["cli.run.no-command"], no_command),
    case!("run is create and start", ["cli.run.equals-create-start"], create_then_start),
    case!("run IMAGE:TAG", ["run.general-form", "seed.directus.implicit-latest"], general_form),
    case!("run with a dotted tag", ["seed.kratos.env-secrets"], dotted_tag),
    case!("arguments keep quoting", ["run.args.preserve-quoting"], args_quoting),
    case!("container lives with pid 1", ["run.pid1-lifetime"], pid1_lifetime),
    case!("files kept after exit", ["run.fs-persists-default"], fs_persists),
    case!("default HOME", ["run.env.home"], env_home),
    case!("default PATH", ["run.env.path"], env_path),
    case!("container=lxc marker", ["run.env.container-marker"], container_marker),
    case!("--mount syntax", ["seed.kratos.mount-syntax"], mount_syntax),
    case!("--read-only", ["seed.pocketid.read-only"], read_only),
    case!("no-new-privileges", ["seed.pocketid.no-new-privileges"], no_new_privileges),
    case!("tmpfs owner", ["seed.pocketid.tmpfs-uid-gid"], tmpfs_owner),
    case!("tmpfs volatile", ["seed.pocketid.tmpfs-volatile"], tmpfs_volatile),
    case!("image without shell", ["seed.pocketid.distroless-no-shell"], no_shell),
    case!("healthcheck", ["seed.pocketid.healthcheck"], healthcheck),
];

/// Commits a container of the fixture as `repo` (tag latest when none is given), with
/// `config` as the run config the commit endpoint merges into the image; the new image's id.
pub async fn image_with(e: &Engine, repo: &str, config: Value) -> anyhow::Result<String> {
    let (repo, tag) = repo.rsplit_once(':').filter(|(_, t)| !t.contains('/')).unwrap_or((repo, "latest"));
    let base = e.unique("base");
    create(e, &base, &[IMAGE, "true"]).await?;
    let path = format!("/commit?container={base}&repo={repo}&tag={tag}");
    let reply = e.api.call(Method::POST, &path, Some(config.to_string().into())).await;
    remove(e, &base).await;
    let reply = reply?;
    ensure!(
        reply.status == StatusCode::CREATED,
        "commit answered {}: {}",
        reply.status,
        super::containers::text(&reply.body)
    );
    let value: Value = reply.json()?;
    Ok(value["Id"].as_str().context("commit gave no Id")?.trim_start_matches("sha256:").to_string())
}

/// `run -d` returns at once, printing nothing but the full id.
pub async fn detach_prints_id(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("detached");
    cleaning(&e, &[&name], async {
        let started = Instant::now();
        let run = run(&e, &["-d", "--name", &name, IMAGE, "sleep", "60"]).await?.success()?;
        ensure!(started.elapsed() < Duration::from_secs(30), "run -d took {:?}", started.elapsed());
        ensure!(run.stdout.lines().count() == 1 && is_long_id(&run.stdout), "run -d printed {:?}", run.stdout);
        ensure!(
            inspect(&e, &name).await?["Id"] == Value::String(run.stdout.trim().into()),
            "the id is not the container's"
        );
        Ok(Outcome::Passed)
    })
    .await
}

const STREAMS: &str = "echo to-stdout; echo to-stderr >&2";

/// A foreground run shows stdout and stderr.
pub async fn attach_default(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("bothstreams");
    cleaning(&e, &[&name], async {
        let run = run(&e, &["--name", &name, IMAGE, "sh", "-c", STREAMS]).await?.success()?;
        ensure!(
            run.stdout.contains("to-stdout") && run.stderr.contains("to-stderr"),
            "stdout {:?}, stderr {:?}",
            run.stdout,
            run.stderr
        );
        Ok(Outcome::Passed)
    })
    .await
}

/// `-a stdout`: stdout is shown, stderr is not.
pub async fn attach_stdout(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("attachout");
    cleaning(&e, &[&name], async {
        let run = run(&e, &["-a", "stdout", "--name", &name, IMAGE, "sh", "-c", STREAMS]).await?.success()?;
        ensure!(run.stdout.contains("to-stdout"), "stdout not shown: {:?}", run.stdout);
        ensure!(!both(&run).contains("to-stderr"), "stderr shown: {:?}", both(&run));
        Ok(Outcome::Passed)
    })
    .await
}

/// `-a stdin -a stdout`: stdin feeds the process, stdout is shown, stderr is not.
pub async fn attach_stdin_stdout(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("attachinout");
    let script = "read line; echo \"out $line\"; echo \"err $line\" >&2";
    cleaning(&e, &[&name], async {
        let mut cli = Background::cli(
            &e,
            &["run", "--net=none", "-i", "-a", "stdin", "-a", "stdout", "--name", &name, IMAGE, "sh", "-c", script],
        )?;
        cli.write(b"fed\n").await?;
        cli.wait_output("out fed", SETTLE).await?;
        cli.close_stdin();
        cli.finish(SETTLE).await?;
        ensure!(!format!("{}{}", cli.stdout(), cli.stderr()).contains("err fed"), "stderr shown: {}", cli.stderr());
        Ok(Outcome::Passed)
    })
    .await
}

/// `-a stderr`: only the error output is shown.
pub async fn attach_stderr(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("attacherr");
    cleaning(&e, &[&name], async {
        let run = run(&e, &["-a", "stderr", "--name", &name, IMAGE, "sh", "-c", STREAMS]).await?.success()?;
        ensure!(run.stderr.contains("to-stderr"), "stderr not shown: {:?}", run.stderr);
        ensure!(!both(&run).contains("to-stdout"), "stdout shown: {:?}", both(&run));
        Ok(Outcome::Passed)
    })
    .await
}

/// A scratch path of the case's own, removed when dropped.
pub struct TempPath(pub std::path::PathBuf);

impl TempPath {
    pub fn new(e: &Engine, what: &str) -> TempPath {
        TempPath(std::env::temp_dir().join(e.unique(what)))
    }

    pub fn text(&self) -> String {
        self.0.display().to_string()
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `--cidfile` writes exactly the id, complete once run returns; the output still shows.
pub async fn cidfile(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("cidfile");
    let file = TempPath::new(&e, "cid");
    cleaning(&e, &[&name], async {
        let out = run_out(&e, &["--cidfile", &file.text(), "--name", &name, IMAGE, "echo", "test"]).await?;
        ensure!(out.trim() == "test", "the output is not shown: {out:?}");
        let written = std::fs::read_to_string(&file.0).context("no cidfile")?;
        let id = inspect(&e, &name).await?["Id"].as_str().unwrap_or_default().to_string();
        ensure!(written == id, "the cidfile holds {written:?}, not exactly {id}");
        Ok(Outcome::Passed)
    })
    .await
}

/// A taken cidfile path is refused and the file is left as it was.
pub async fn cidfile_exists(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("cidtaken");
    let file = TempPath::new(&e, "cidtaken");
    cleaning(&e, &[&name], async {
        std::fs::write(&file.0, "already here")?;
        let run = run(&e, &["--cidfile", &file.text(), "--name", &name, IMAGE, "true"]).await?;
        ensure!(run.status != Some(0), "run with a taken cidfile exited 0");
        ensure!(!run.stderr.trim().is_empty(), "no error printed");
        ensure!(std::fs::read_to_string(&file.0)? == "already here", "the cidfile was changed");
        Ok(Outcome::Passed)
    })
    .await
}

/// Every `-e` reaches the environment, values byte for byte.
pub async fn env_option(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("env");
    cleaning(&e, &[&name], async {
        let pairs = ["ONE=1", "TWO=two words", "DSN=memory", "DB_EXTENSIONS=array:moment,uuid"];
        let mut args = vec!["--name", &name];
        for pair in &pairs {
            args.extend(["-e", pair]);
        }
        args.extend([IMAGE, "env"]);
        let out = run_out(&e, &args).await?;
        for pair in pairs {
            ensure!(out.lines().any(|l| l == pair), "{pair} not in the environment:\n{out}");
        }
        Ok(Outcome::Passed)
    })
    .await
}

/// `-e` adds to and overrides the image's ENV; the rest of ENV stays.
pub async fn env_override(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let (image, name) = (e.unique("envimage"), e.unique("envrun"));
    cleaning_images(&e, &[&name], &[&image], async {
        image_with(&e, &image, json!({"Env": ["deep=blue", "keep=yes"], "Cmd": ["env"]})).await?;
        let out = run_out(&e, &["--name", &name, "-e", "deep=purple", "-e", "added=1", &image, "env"]).await?;
        for pair in ["deep=purple", "keep=yes", "added=1"] {
            ensure!(out.lines().any(|l| l == pair), "{pair} not in the environment:\n{out}");
        }
        ensure!(!out.contains("deep=blue"), "the image value survived:\n{out}");
        Ok(Outcome::Passed)
    })
    .await
}

/// `-h NAME`: `hostname` and `$HOSTNAME` both say NAME.
pub async fn hostname_option(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("hostname");
    cleaning(&e, &[&name], async {
        let out =
            run_out(&e, &["-h", "web.sven.dev.org", "--name", &name, IMAGE, "sh", "-c", "hostname; echo $HOSTNAME"])
                .await?;
        ensure!(out.lines().collect::<Vec<_>>() == ["web.sven.dev.org"; 2], "printed {out:?}");
        Ok(Outcome::Passed)
    })
    .await
}

/// Without `-h`, the hostname and `$HOSTNAME` are the 12-character id.
pub async fn hostname_default(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("shortname");
    cleaning(&e, &[&name], async {
        let out = run_out(&e, &["--name", &name, IMAGE, "sh", "-c", "hostname; echo $HOSTNAME"]).await?;
        let id = inspect(&e, &name).await?["Id"].as_str().unwrap_or_default().to_string();
        ensure!(out.lines().collect::<Vec<_>>() == [&id[..12]; 2], "printed {out:?}, id {id}");
        Ok(Outcome::Passed)
    })
    .await
}

/// With `-i`, piped input reaches the process.
pub async fn interactive(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("interactive");
    cleaning(&e, &[&name], async {
        let mut cli = Background::cli(&e, &["run", "--net=none", "-i", "--name", &name, IMAGE, "cat"])?;
        cli.write(b"piped through\n").await?;
        cli.close_stdin();
        ensure!(cli.finish(SETTLE).await? == Some(0), "run -i failed: {}", cli.stderr());
        ensure!(cli.stdout() == "piped through\n", "cat gave back {:?}", cli.stdout());
        Ok(Outcome::Passed)
    })
    .await
}

/// Without `-i`, `cat` reads end-of-file at once even with input piped to the client.
pub async fn stdin_closed(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("nostdin");
    cleaning(&e, &[&name], async {
        let mut cli = Background::cli(&e, &["run", "--net=none", "--name", &name, IMAGE, "cat"])?;
        cli.write(b"not for the container\n").await?;
        ensure!(cli.finish(SETTLE).await? == Some(0), "run failed: {}", cli.stderr());
        ensure!(cli.stdout().is_empty(), "the container read the input: {:?}", cli.stdout());
        Ok(Outcome::Passed)
    })
    .await
}

/// `-m` takes b, k, m and g, a bare number is bytes, and other units are refused.
pub async fn memory_units(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    const MIB: i64 = 1 << 20;
    let forms = [
        ("104857600b", 100 * MIB),
        ("102400k", 100 * MIB),
        ("100m", 100 * MIB),
        ("1g", 1024 * MIB),
        ("104857600", 100 * MIB),
    ];
    for (form, bytes) in forms {
        let name = e.unique("memunit");
        let memory = cleaning(&e, &[&name], async {
            create(&e, &name, &["-m", form, IMAGE, "true"]).await.with_context(|| format!("-m {form}"))?;
            let memory = inspect(&e, &name).await?["HostConfig"]["Memory"].as_i64().unwrap_or(-1);
            ensure!(memory == bytes, "-m {form} gave a limit of {memory}, not {bytes}");
            Ok(Outcome::Passed)
        })
        .await?;
        ensure!(memory == Outcome::Passed, "{memory:?}");
    }
    let name = e.unique("memunitbad");
    cleaning(&e, &[&name], async {
        let refused = e.cli(&["create", "--net=none", "--name", &name, "-m", "100x", IMAGE, "true"]).await?;
        ensure!(refused.status != Some(0) && !refused.stderr.trim().is_empty(), "-m 100x was accepted");
        ensure!(!exists(&e, &name).await?, "a container was made with -m 100x");
        Ok(Outcome::Passed)
    })
    .await
}

fn meminfo(field: &str) -> anyhow::Result<u64> {
    let text = std::fs::read_to_string("/proc/meminfo")?;
    let line = text.lines().find(|l| l.starts_with(field)).with_context(|| format!("no {field} in /proc/meminfo"))?;
    Ok(line.split_whitespace().nth(1).and_then(|v| v.parse().ok()).unwrap_or(0) * 1024)
}

/// A limit above the host's RAM is not refused (the documentation: when swap is available).
pub async fn memory_above_physical(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("memhuge");
    let limit = (meminfo("MemTotal:")? * 2).to_string();
    cleaning(&e, &[&name], async {
        let run = run(&e, &["-m", &limit, "--name", &name, IMAGE, "true"]).await?;
        if run.status != Some(0) && meminfo("SwapTotal:")? == 0 {
            return Ok(skip(
                SkipKind::Environment,
                format!("this machine has no swap, and the engine refused -m {limit}: {}", run.stderr.trim()),
            ));
        }
        run.success()?;
        Ok(Outcome::Passed)
    })
    .await
}

/// `-n=false` leaves only the loopback interface (2014): the CLI's help says whether it still
/// has the option.
pub async fn networking_off(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    if !cli_has_flag(&e, "run", "--networking").await? && !cli_has_flag(&e, "run", "-n").await? {
        return Ok(skip(
            SkipKind::Legacy,
            "the CLI's `run --help` has no -n/--networking: later Docker replaced it with --net=none",
        ));
    }
    let name = e.unique("nonet");
    cleaning(&e, &[&name], async {
        let out = e
            .cli(&["run", "-n=false", "--name", &name, IMAGE, "sh", "-c", "ls /sys/class/net; ip route"])
            .await?
            .success()?
            .stdout;
        ensure!(out.split_whitespace().collect::<Vec<_>>() == ["lo"], "interfaces and routes: {out:?}");
        Ok(Outcome::Passed)
    })
    .await
}

/// With `--rm` nothing is left once the container exits: not in `ps -a`, not in inspect, and
/// its writable layer is gone from the engine's storage.
pub async fn rm_on_exit(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("autoremove");
    cleaning(&e, &[&name], async {
        let mut cli =
            Background::cli(&e, &["run", "--net=none", "--rm", "-i", "--name", &name, IMAGE, "sh", "-c", "read x"])?;
        running(&e, &name).await?;
        let value = inspect(&e, &name).await?;
        let layer: Vec<String> = value["GraphDriver"]["Data"]
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(k, _)| k.as_str() == "UpperDir" || k.as_str() == "MergedDir")
            .filter_map(|(_, v)| v.as_str().map(String::from))
            .collect();
        cli.write(b"go\n").await?;
        ensure!(cli.finish(SETTLE).await? == Some(0), "run --rm failed: {}", cli.stderr());
        super::containers::eventually("removal", SETTLE, || async { Ok((!exists(&e, &name).await?).then_some(())) })
            .await?;
        let ps = e.cli(&["ps", "-a"]).await?.success()?.stdout;
        ensure!(!ps.contains(&name), "ps -a still lists it");
        for dir in layer {
            ensure!(!std::path::Path::new(&dir).exists(), "the writable layer {dir} is left");
        }
        Ok(Outcome::Passed)
    })
    .await
}

/// `--rm` with `-d` is refused before any container exists (2014); later CLIs accept it and
/// the engine removes the container when it exits.
pub async fn rm_with_detach(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("rmdetach");
    cleaning(&e, &[&name], async {
        let run = run(&e, &["--rm", "-d", "--name", &name, IMAGE, "true"]).await?;
        if run.status != Some(0) {
            ensure!(
                run.stderr.to_lowercase().contains("conflict"),
                "the refusal does not say the options conflict: {}",
                run.stderr
            );
            ensure!(!exists(&e, &name).await?, "a container was made");
            return Ok(Outcome::Passed);
        }
        gone(&e, &name).await?;
        let reason =
            "the CLI accepts --rm with -d and the engine removes the container on exit (AutoRemove, Docker 1.13 on)";
        Ok(skip(SkipKind::Legacy, reason))
    })
    .await
}

/// Waits until the engine no longer knows the container.
async fn gone(e: &Engine, name: &str) -> anyhow::Result<()> {
    super::containers::eventually("removal", SETTLE, || async { Ok((!exists(e, name).await?).then_some(())) }).await
}

/// `-t` gives a pseudo-terminal (and TERM=xterm); without it `tty` says there is none.
pub async fn tty(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let (with, without) = (e.unique("tty"), e.unique("notty"));
    cleaning(&e, &[&with, &without], async {
        let out = run_out(&e, &["-t", "--name", &with, IMAGE, "sh", "-c", "tty; echo TERM=$TERM"]).await?;
        let lines: Vec<&str> = out.lines().map(str::trim).collect();
        ensure!(lines.first().is_some_and(|l| l.starts_with("/dev/pts/")), "tty printed {out:?}");
        ensure!(lines.contains(&"TERM=xterm"), "TERM is not xterm: {out:?}");
        let none = run(&e, &["--name", &without, IMAGE, "tty"]).await?;
        ensure!(
            none.status != Some(0) && none.stdout.contains("not a tty"),
            "without -t: {:?} {:?}",
            none.status,
            none.stdout
        );
        Ok(Outcome::Passed)
    })
    .await
}

/// `-u daemon` and `-u 1000` set the process's identity.
pub async fn user_option(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let (a, b) = (e.unique("userdaemon"), e.unique("user1000"));
    cleaning(&e, &[&a, &b], async {
        let by_name = run_out(&e, &["-u", "daemon", "--name", &a, IMAGE, "id"]).await?;
        ensure!(by_name.starts_with("uid=1(daemon)"), "-u daemon: {by_name}");
        let by_number = run_out(&e, &["-u", "1000", "--name", &b, IMAGE, "id"]).await?;
        ensure!(by_number.starts_with("uid=1000"), "-u 1000: {by_number}");
        Ok(Outcome::Passed)
    })
    .await
}

/// Root by default; an image USER (here 1000:1000) changes that, as inspect and
/// /proc/1/status show; `-u` wins over both.
pub async fn user_override(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let image = e.unique("userimage");
    let (plain, imaged, overridden) = (e.unique("userroot"), e.unique("userimaged"), e.unique("useroverridden"));
    cleaning_images(&e, &[&plain, &imaged, &overridden], &[&image], async {
        ensure!(
            run_out(&e, &["--name", &plain, IMAGE, "id", "-u"]).await?.trim() == "0",
            "the default user is not root"
        );
        image_with(&e, &image, json!({"User": "1000:1000", "Cmd": ["sh"]})).await?;
        let config: Value = e.get(&format!("/images/{image}/json")).await?.json()?;
        ensure!(config["Config"]["User"] == "1000:1000", "the image's Config.User is {}", config["Config"]["User"]);
        let status = run_out(&e, &["--name", &imaged, &image, "grep", "-E", "^(Uid|Gid):", "/proc/1/status"]).await?;
        for line in status.lines() {
            ensure!(line.split_whitespace().skip(1).all(|v| v == "1000"), "not 1000 throughout: {line}");
        }
        ensure!(inspect(&e, &imaged).await?["Config"]["User"] == "1000:1000", "the container's Config.User differs");
        ensure!(
            run_out(&e, &["-u", "0", "--name", &overridden, &image, "id", "-u"]).await?.trim() == "0",
            "-u 0 did not win"
        );
        Ok(Outcome::Passed)
    })
    .await
}

/// As `nobody`, the process is not uid 0 and cannot change root's /etc/passwd.
pub async fn nonroot_user(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("nobody");
    cleaning(&e, &[&name], async {
        let run =
            run(&e, &["-u", "nobody", "--name", &name, IMAGE, "sh", "-c", "id -u; echo x >> /etc/passwd"]).await?;
        ensure!(run.stdout.trim() == "65534", "uid {:?}", run.stdout);
        ensure!(
            run.status != Some(0) && run.stderr.contains("denied"),
            "writing /etc/passwd: {:?} {}",
            run.status,
            run.stderr
        );
        Ok(Outcome::Passed)
    })
    .await
}

fn nameservers(resolv: &str) -> Vec<String> {
    resolv.lines().filter_map(|l| l.strip_prefix("nameserver")).map(|s| s.trim().to_string()).collect()
}

/// `--dns 8.8.4.4`: the container's resolv.conf names exactly that server.
pub async fn dns_custom(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("dns");
    cleaning(&e, &[&name], async {
        let out = run_out(&e, &["--dns", "8.8.4.4", "--name", &name, IMAGE, "cat", "/etc/resolv.conf"]).await?;
        ensure!(nameservers(&out) == ["8.8.4.4"], "resolv.conf names {:?}:\n{out}", nameservers(&out));
        Ok(Outcome::Passed)
    })
    .await
}

/// Without `--dns`, the host's nameservers, loopback ones replaced by public defaults.
pub async fn dns_default(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("hostdns");
    let host = nameservers(&std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default());
    cleaning(&e, &[&name], async {
        let out = run_out(&e, &["--name", &name, IMAGE, "cat", "/etc/resolv.conf"]).await?;
        let inside = nameservers(&out);
        let loopback = |s: &String| s.starts_with("127.") || s == "::1";
        ensure!(!inside.is_empty() && !inside.iter().any(loopback), "resolv.conf names {inside:?}");
        let reachable: Vec<&String> = host.iter().filter(|s| !loopback(s)).collect();
        if reachable.is_empty() {
            return Ok(Outcome::Passed);
        }
        ensure!(reachable.iter().all(|s| inside.contains(s)), "the host's {reachable:?} are not all in {inside:?}");
        Ok(Outcome::Passed)
    })
    .await
}

/// An image whose ENTRYPOINT is `/bin/echo from-entrypoint` and CMD `image-cmd`.
async fn entrypoint_image(e: &Engine, image: &str) -> anyhow::Result<()> {
    image_with(e, image, json!({"Entrypoint": ["/bin/echo", "from-entrypoint"], "Cmd": ["image-cmd"]})).await?;
    Ok(())
}

/// `--entrypoint` runs another program instead of the image's ENTRYPOINT.
pub async fn entrypoint_option(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let image = e.unique("epimage");
    let (plain, replaced) = (e.unique("ep"), e.unique("epreplaced"));
    cleaning_images(&e, &[&plain, &replaced], &[&image], async {
        entrypoint_image(&e, &image).await?;
        let out = run_out(&e, &["--name", &plain, &image]).await?;
        ensure!(out.trim() == "from-entrypoint image-cmd", "the image's entrypoint printed {out:?}");
        let mut cli =
            Background::cli(&e, &["run", "--net=none", "-i", "--entrypoint", "/bin/sh", "--name", &replaced, &image])?;
        cli.write(b"echo in-a-shell\nexit\n").await?;
        cli.close_stdin();
        cli.finish(SETTLE).await?;
        ensure!(cli.stdout().trim() == "in-a-shell", "the replacement shell printed {:?}", cli.stdout());
        Ok(Outcome::Passed)
    })
    .await
}

/// Arguments after the image go to the (replacement) entrypoint, options included, without
/// the CLI reading them.
pub async fn entrypoint_args(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let image = e.unique("epargs");
    let (a, b) = (e.unique("epargsa"), e.unique("epargsb"));
    cleaning_images(&e, &[&a, &b], &[&image], async {
        entrypoint_image(&e, &image).await?;
        let out =
            run_out(&e, &["--entrypoint", "/bin/sh", "--name", &a, &image, "-c", "echo \"$0|$1\"", "ls", "-l"]).await?;
        ensure!(out.trim() == "ls|-l", "sh received other arguments: {out:?}");
        let out = run_out(&e, &["--name", &b, &image, "--config", "/home/ory/kratos.yml"]).await?;
        ensure!(out.trim() == "from-entrypoint --config /home/ory/kratos.yml", "the entrypoint received {out:?}");
        Ok(Outcome::Passed)
    })
    .await
}

/// The command after the image, else the image's CMD, is appended to the ENTRYPOINT.
pub async fn cmd_to_entrypoint(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let image = e.unique("epcmd");
    let (a, b) = (e.unique("epcmda"), e.unique("epcmdb"));
    cleaning_images(&e, &[&a, &b], &[&image], async {
        entrypoint_image(&e, &image).await?;
        ensure!(run_out(&e, &["--name", &a, &image]).await?.trim() == "from-entrypoint image-cmd", "CMD not appended");
        let out = run_out(&e, &["--name", &b, &image, "given"]).await?;
        ensure!(out.trim() == "from-entrypoint given", "the command was not appended: {out:?}");
        Ok(Outcome::Passed)
    })
    .await
}

/// A command on the run line replaces the image's CMD.
pub async fn cmd_override(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let image = e.unique("cmdimage");
    let (a, b) = (e.unique("cmda"), e.unique("cmdb"));
    cleaning_images(&e, &[&a, &b], &[&image], async {
        image_with(&e, &image, json!({"Cmd": ["echo", "image-cmd"]})).await?;
        ensure!(run_out(&e, &["--name", &a, &image]).await?.trim() == "image-cmd", "the image's CMD did not run");
        ensure!(run_out(&e, &["--name", &b, &image, "echo", "given"]).await?.trim() == "given", "CMD was not replaced");
        Ok(Outcome::Passed)
    })
    .await
}

/// `-w` sets the directory, over the image's WORKDIR, over `/`.
pub async fn workdir(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let image = e.unique("wdimage");
    let names: Vec<String> = (0..3).map(|i| e.unique(&format!("wd{i}"))).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    cleaning_images(&e, &refs, &[&image], async {
        ensure!(run_out(&e, &["--name", &names[0], IMAGE, "pwd"]).await?.trim() == "/", "the default is not /");
        image_with(&e, &image, json!({"WorkingDir": "/etc", "Cmd": ["pwd"]})).await?;
        ensure!(run_out(&e, &["--name", &names[1], &image]).await?.trim() == "/etc", "the image WORKDIR is not used");
        let out = run_out(&e, &["-w", "/usr/bin", "--name", &names[2], &image, "pwd"]).await?;
        ensure!(out.trim() == "/usr/bin", "-w gave {out:?}");
        Ok(Outcome::Passed)
    })
    .await
}

/// A `-w` directory missing from the image is created.
pub async fn workdir_create(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("wdcreate");
    cleaning(&e, &[&name], async {
        let out = run_out(&e, &["-w", "/path/to/dir", "--name", &name, IMAGE, "pwd"]).await?;
        ensure!(out.trim() == "/path/to/dir", "pwd printed {out:?}");
        Ok(Outcome::Passed)
    })
    .await
}

/// `--expose` adds to the image's EXPOSE list; inspect shows the union.
pub async fn expose_union(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let (image, name) = (e.unique("exposeimage"), e.unique("expose"));
    cleaning_images(&e, &[&name], &[&image], async {
        image_with(&e, &image, json!({"ExposedPorts": {"5432/tcp": {}}, "Cmd": ["true"]})).await?;
        create(&e, &name, &["--expose", "80", &image]).await?;
        let ports = inspect(&e, &name).await?["Config"]["ExposedPorts"].clone();
        for port in ["5432/tcp", "80/tcp"] {
            ensure!(ports.get(port).is_some(), "{port} not exposed: {ports}");
        }
        Ok(Outcome::Passed)
    })
    .await
}

/// `--lxc-conf` applies with the LXC driver; the CLI says whether it has the option.
pub async fn lxc_conf(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    if !cli_has_flag(&e, "run", "--lxc-conf").await? {
        return Ok(skip(
            SkipKind::Legacy,
            "the CLI's `run --help` has no --lxc-conf: the LXC driver was removed in Docker 1.10",
        ));
    }
    let name = e.unique("lxcconf");
    cleaning(&e, &[&name], async {
        let args = [
            "run",
            "--lxc-conf",
            "lxc.cgroup.cpuset.cpus = 0",
            "--name",
            &name,
            IMAGE,
            "cat",
            "/sys/fs/cgroup/cpuset/cpuset.cpus",
        ];
        let run = e.cli(&args).await?;
        let refusal = run.stderr.to_lowercase();
        if run.status != Some(0)
            && refusal.contains("lxc")
            && (refusal.contains("not supported") || refusal.contains("no lxc"))
        {
            return Ok(skip(
                SkipKind::Legacy,
                format!("the engine has no LXC driver and refuses --lxc-conf, saying so: {}", run.stderr.trim()),
            ));
        }
        let out = run.success()?.stdout;
        ensure!(out.trim() == "0", "cpuset.cpus is {out:?}");
        Ok(Outcome::Passed)
    })
    .await
}

/// The CLI's exit status is the container's.
pub async fn exit_status(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("exit3");
    cleaning(&e, &[&name], async {
        let run = run(&e, &["--name", &name, IMAGE, "sh", "-c", "exit 3"]).await?;
        ensure!(run.status == Some(3), "run exited {:?}", run.status);
        Ok(Outcome::Passed)
    })
    .await
}

/// Imports the fixture's root file system as `name`: an image with no CMD or ENTRYPOINT.
pub async fn imported(e: &Engine, name: &str) -> anyhow::Result<()> {
    e.cli_stdin(&["import", "-", name], &e.fixture("busybox-rootfs.tar")).await?.success()?;
    Ok(())
}

/// With no command in the image or on the line, run fails saying no command was given.
pub async fn no_command(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let (image, name) = (e.unique("nocmd"), e.unique("nocmdrun"));
    cleaning_images(&e, &[&name], &[&image], async {
        imported(&e, &image).await?;
        let run = run(&e, &["--name", &name, &image]).await?;
        ensure!(run.status != Some(0), "run without a command exited 0");
        ensure!(
            run.stderr.to_lowercase().contains("no command"),
            "the error does not say no command was given: {}",
            run.stderr
        );
        Ok(Outcome::Passed)
    })
    .await
}

/// The engine's events for one container between two instants, as (status, time) pairs.
pub async fn events_of(e: &Engine, id: &str, since: i64, until: i64) -> anyhow::Result<Vec<Value>> {
    let reply = e.get(&format!("/events?since={since}&until={until}")).await?;
    ensure!(reply.status == StatusCode::OK, "events answered {}", reply.status);
    let text = super::containers::text(&reply.body);
    let all: Vec<Value> = serde_json::Deserializer::from_str(&text).into_iter::<Value>().collect::<Result<_, _>>()?;
    Ok(all.into_iter().filter(|ev| ev["id"].as_str() == Some(id)).collect())
}

pub fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

/// `run` is create then start: the engine records create before start, and the container
/// stays (in `ps -a`) once it exits.
pub async fn create_then_start(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("createstart");
    cleaning(&e, &[&name], async {
        let since = now() - 1;
        run(&e, &["--name", &name, IMAGE, "true"]).await?.success()?;
        let id = inspect(&e, &name).await?["Id"].as_str().unwrap_or_default().to_string();
        let statuses: Vec<String> = events_of(&e, &id, since, now() + 1)
            .await?
            .iter()
            .filter_map(|ev| ev["status"].as_str().map(String::from))
            .collect();
        let create =
            statuses.iter().position(|s| s == "create").with_context(|| format!("no create event: {statuses:?}"))?;
        let start =
            statuses.iter().position(|s| s == "start").with_context(|| format!("no start event: {statuses:?}"))?;
        ensure!(create < start, "start came before create: {statuses:?}");
        ensure!(e.cli(&["ps", "-a"]).await?.success()?.stdout.contains(&name), "the exited container is not in ps -a");
        Ok(Outcome::Passed)
    })
    .await
}

/// `run IMAGE:TAG` runs that tag; `run IMAGE` runs IMAGE:latest (a user/repo name here).
pub async fn general_form(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let repo = format!("spec{}/{}", std::process::id(), e.unique("app"));
    let (tagged, latest) = (format!("{repo}:v1"), format!("{repo}:latest"));
    let (a, b) = (e.unique("formtag"), e.unique("formlatest"));
    cleaning_images(&e, &[&a, &b], &[&tagged, &latest], async {
        image_with(&e, &tagged, json!({"Env": ["WHICH=v1"], "Cmd": ["sh", "-c", "echo $WHICH"]})).await?;
        image_with(&e, &latest, json!({"Env": ["WHICH=latest"], "Cmd": ["sh", "-c", "echo $WHICH"]})).await?;
        ensure!(run_out(&e, &["--name", &a, &tagged]).await?.trim() == "v1", "{tagged} ran another image");
        ensure!(run_out(&e, &["--name", &b, &repo]).await?.trim() == "latest", "{repo} did not mean {latest}");
        Ok(Outcome::Passed)
    })
    .await
}

/// A tag with dots and hyphens runs exactly that image, with `-e` in its environment.
pub async fn dotted_tag(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let image = format!("{}:v0.4.3-alpha.1", e.unique("kratos"));
    let name = e.unique("dotted");
    cleaning_images(&e, &[&name], &[&image], async {
        let id = image_with(&e, &image, json!({"Cmd": ["env"]})).await?;
        let out = run_out(&e, &["-e", "SECRETS_DEFAULT=CHANGE-ME", "--name", &name, &image]).await?;
        ensure!(out.lines().any(|l| l == "SECRETS_DEFAULT=CHANGE-ME"), "the variable is missing:\n{out}");
        let used = inspect(&e, &name).await?["Image"].as_str().unwrap_or_default().to_string();
        ensure!(used.ends_with(&id), "the container runs {used}, not {id}");
        Ok(Outcome::Passed)
    })
    .await
}

/// Argument boundaries survive: a space inside one argument stays inside it.
pub async fn args_quoting(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("quoting");
    cleaning(&e, &[&name], async {
        let script = "for a in \"$@\"; do echo \"[$a]\"; done";
        let out = run_out(
            &e,
            &["--name", &name, IMAGE, "sh", "-c", script, "sh", "/usr/sbin/sshd", "/etc/init.d/apache2 start"],
        )
        .await?;
        ensure!(
            out.lines().collect::<Vec<_>>() == ["[/usr/sbin/sshd]", "[/etc/init.d/apache2 start]"],
            "arguments: {out:?}"
        );
        Ok(Outcome::Passed)
    })
    .await
}

/// The command is PID 1, and the container ends when it exits, children or not.
pub async fn pid1_lifetime(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("pid1");
    cleaning(&e, &[&name], async {
        let started = Instant::now();
        let out = run_out(&e, &["--name", &name, IMAGE, "sh", "-c", "sleep 1000 & echo pid=$$"]).await?;
        ensure!(out.trim() == "pid=1", "the command is not PID 1: {out:?}");
        ensure!(started.elapsed() < Duration::from_secs(60), "the container outlived its first process");
        ensure!(!super::containers::is_running(&e, &name).await?, "the container still runs");
        Ok(Outcome::Passed)
    })
    .await
}

/// Without `--rm` an exited container's files stay: `diff` and `cp` still work.
pub async fn fs_persists(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("persists");
    let dir = TempPath::new(&e, "persists");
    cleaning(&e, &[&name], async {
        run(&e, &["--name", &name, IMAGE, "sh", "-c", "echo kept > /kept"]).await?.success()?;
        let diff = e.cli(&["diff", &name]).await?.success()?.stdout;
        ensure!(diff.lines().any(|l| l.trim() == "A /kept"), "diff: {diff}");
        std::fs::create_dir_all(&dir.0)?;
        e.cli(&["cp", &format!("{name}:/kept"), &dir.text()]).await?.success()?;
        ensure!(std::fs::read_to_string(dir.0.join("kept"))? == "kept\n", "cp brought other content");
        Ok(Outcome::Passed)
    })
    .await
}

/// Root's HOME is `/` (2014); later engines use /root.
pub async fn env_home(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("home");
    cleaning(&e, &[&name], async {
        let home = run_out(&e, &["--name", &name, IMAGE, "sh", "-c", "echo $HOME"]).await?;
        match home.trim() {
            "/" => Ok(Outcome::Passed),
            "/root" => Ok(skip(
                SkipKind::Legacy,
                "the engine sets HOME=/root for root, as Docker does since 0.9 (from the image's /etc/passwd)",
            )),
            other => bail!("HOME is {other:?}"),
        }
    })
    .await
}

/// An image without PATH still gets the standard search path.
pub async fn env_path(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let (image, name) = (e.unique("nopath"), e.unique("nopathrun"));
    cleaning_images(&e, &[&name], &[&image], async {
        imported(&e, &image).await?;
        let out = run_out(&e, &["--name", &name, &image, "env"]).await?;
        let expected = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
        ensure!(out.lines().any(|l| l == expected), "no {expected}:\n{out}");
        Ok(Outcome::Passed)
    })
    .await
}

/// `container=lxc` appears with the LXC driver: `info` says which driver runs containers.
pub async fn container_marker(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let info: Value = e.get("/info").await?.json()?;
    let driver = info["ExecutionDriver"].as_str().unwrap_or_default().to_string();
    if !driver.starts_with("lxc") {
        return Ok(skip(SkipKind::Legacy, format!("the engine's info names no LXC execution driver ({driver:?}): the marker belongs to the LXC driver, removed in Docker 1.10")));
    }
    let name = e.unique("marker");
    cleaning(&e, &[&name], async {
        let out = run_out(&e, &["--name", &name, IMAGE, "env"]).await?;
        ensure!(out.lines().any(|l| l == "container=lxc"), "no container=lxc:\n{out}");
        Ok(Outcome::Passed)
    })
    .await
}

/// Bad `--mount` values (no target, unknown key, unknown type) are refused and make nothing.
pub async fn mount_syntax(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    for value in ["type=tmpfs", "type=tmpfs,target=/x,colour=blue", "type=nonsense,target=/x"] {
        let name = e.unique("mountsyntax");
        let result = cleaning(&e, &[&name], async {
            let run = run(&e, &["--mount", value, "--name", &name, IMAGE, "true"]).await?;
            ensure!(run.status != Some(0) && !run.stderr.trim().is_empty(), "--mount {value} was accepted");
            ensure!(!exists(&e, &name).await?, "--mount {value} made a container");
            Ok(Outcome::Passed)
        })
        .await?;
        ensure!(result == Outcome::Passed, "{result:?}");
    }
    Ok(Outcome::Passed)
}

/// `--read-only`: the image's paths cannot be written; a tmpfs mount can.
pub async fn read_only(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("readonly");
    cleaning(&e, &[&name], async {
        let script = "echo x > /etc/new 2>&1; echo x > /run/ok && echo tmpfs-ok";
        let run = run(&e, &["--read-only", "--tmpfs", "/run", "--name", &name, IMAGE, "sh", "-c", script]).await?;
        ensure!(
            both(&run).contains("Read-only file system"),
            "writing /etc was not refused as read-only: {}",
            both(&run)
        );
        ensure!(run.stdout.contains("tmpfs-ok"), "the tmpfs was not writable: {}", both(&run));
        Ok(Outcome::Passed)
    })
    .await
}

/// A setuid-root copy of busybox told (by /etc/busybox.conf) to keep its privileges; run as
/// berthuser it shows the effective uid it got.
const SETUID_PROBE: &str = "mkdir /tmp/s && cp /bin/busybox /tmp/s/busybox && chmod 4755 /tmp/s/busybox \
&& printf '[SUID]\\ngrep = ssx root.root\\n' > /etc/busybox.conf && chmod 600 /etc/busybox.conf \
&& su -s /bin/sh berthuser -c '/tmp/s/busybox grep -E \"^(Uid|NoNewPrivs)\" /proc/self/status'";

/// `no-new-privileges` shows as NoNewPrivs 1 and stops a setuid program from elevating.
pub async fn no_new_privileges(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let (plain, locked) = (e.unique("setuid"), e.unique("nnp"));
    cleaning(&e, &[&plain, &locked], async {
        let free = run_out(&e, &["--name", &plain, IMAGE, "sh", "-c", SETUID_PROBE]).await?;
        ensure!(free.contains("Uid:\t1000\t0"), "the probe does not elevate even without the option:\n{free}");
        let out = run_out(
            &e,
            &["--security-opt", "no-new-privileges=true", "--name", &locked, IMAGE, "sh", "-c", SETUID_PROBE],
        )
        .await?;
        ensure!(out.contains("NoNewPrivs:\t1"), "NoNewPrivs is not 1:\n{out}");
        ensure!(out.contains("Uid:\t1000\t1000"), "the setuid program elevated:\n{out}");
        Ok(Outcome::Passed)
    })
    .await
}

/// A tmpfs with uid/gid options is owned by them, and that user can write in it.
pub async fn tmpfs_owner(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("tmpfsowner");
    cleaning(&e, &[&name], async {
        let script = "stat -c %u:%g /postgres/run; touch /postgres/run/file && echo wrote";
        let out = run_out(
            &e,
            &["--tmpfs", "/postgres/run:uid=1000,gid=1000", "-u", "1000", "--name", &name, IMAGE, "sh", "-c", script],
        )
        .await?;
        ensure!(out.lines().collect::<Vec<_>>() == ["1000:1000", "wrote"], "printed {out:?}");
        Ok(Outcome::Passed)
    })
    .await
}

/// A tmpfs's contents do not survive a restart.
pub async fn tmpfs_volatile(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("tmpfsvolatile");
    let script = "ls /scratch; touch /scratch/was-here; echo listed";
    cleaning(&e, &[&name], async {
        run_out(&e, &["--tmpfs", "/scratch", "--name", &name, IMAGE, "sh", "-c", script]).await?;
        e.cli(&["start", "-a", &name]).await?.success()?;
        let logs = e.cli(&["logs", &name]).await?.success()?.stdout;
        ensure!(!logs.contains("was-here"), "the tmpfs kept its file across a restart:\n{logs}");
        Ok(Outcome::Passed)
    })
    .await
}

/// A tar holding only /busybox (no applet links): an image with no shell.
fn shell_less_tar(e: &Engine) -> anyhow::Result<Vec<u8>> {
    let mut archive = tar::Archive::new(std::fs::File::open(e.fixture("busybox-rootfs.tar"))?);
    let mut busybox = Vec::new();
    for entry in archive.entries()? {
        let mut entry = entry?;
        if entry.path()?.to_string_lossy().trim_start_matches("./") == "bin/busybox" {
            std::io::Read::read_to_end(&mut entry, &mut busybox)?;
        }
    }
    ensure!(!busybox.is_empty(), "no bin/busybox in the fixture");
    let mut out = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(busybox.len() as u64);
    header.set_mode(0o755);
    header.set_cksum();
    out.append_data(&mut header, "busybox", &busybox[..])?;
    Ok(out.into_inner()?)
}

/// In an image without a shell, `run --entrypoint sh` and `exec ... sh` fail as not found,
/// with status 126 or 127.
pub async fn no_shell(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let (image, up, tried) = (e.unique("distroless"), e.unique("distrolessup"), e.unique("distrolesssh"));
    let file = TempPath::new(&e, "distroless.tar");
    cleaning_images(&e, &[&up, &tried], &[&image], async {
        std::fs::write(&file.0, shell_less_tar(&e)?)?;
        e.cli_stdin(&["import", "-", &image], &file.0).await?.success()?;
        let run = run(&e, &["--entrypoint", "sh", "--name", &tried, &image]).await?;
        ensure!(matches!(run.status, Some(126 | 127)), "run --entrypoint sh exited {:?}: {}", run.status, run.stderr);
        ensure!(run.stderr.contains("not found"), "the error does not say not found: {}", run.stderr);
        detach(&e, &up, &[&image, "/busybox", "sleep", "1000"]).await?;
        let exec = e.cli(&["exec", &up, "sh"]).await?;
        ensure!(matches!(exec.status, Some(126 | 127)), "exec sh exited {:?}: {}", exec.status, exec.stderr);
        Ok(Outcome::Passed)
    })
    .await
}

async fn health(e: &Engine, name: &str) -> anyhow::Result<String> {
    Ok(inspect(e, name).await?["State"]["Health"]["Status"].as_str().unwrap_or_default().to_string())
}

async fn becomes(e: &Engine, name: &str, status: &str) -> anyhow::Result<()> {
    let what = format!("{name} {status}");
    super::containers::eventually(&what, SETTLE, || async { Ok((health(e, name).await? == status).then_some(())) })
        .await
}

/// An image HEALTHCHECK: starting, then healthy (shown by ps); failing checks: unhealthy.
pub async fn healthcheck(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let image = e.unique("healthy");
    let (good, bad) = (e.unique("healthgood"), e.unique("healthbad"));
    let second = 1_000_000_000u64;
    cleaning_images(&e, &[&good, &bad], &[&image], async {
        let test = json!(["CMD-SHELL", "test -e /tmp/healthy"]);
        let check = json!({"Test": test, "Interval": second, "Timeout": 5 * second, "Retries": 2});
        image_with(&e, &image, json!({"Healthcheck": check, "Cmd": ["sh", "-c", IDLE]})).await?;
        detach(&e, &good, &[&image, "sh", "-c", &format!("sleep 3; touch /tmp/healthy; {IDLE}")]).await?;
        detach(&e, &bad, &[&image]).await?;
        ensure!(health(&e, &good).await? == "starting", "the first status is {:?}", health(&e, &good).await?);
        becomes(&e, &good, "healthy").await?;
        let ps = e.cli(&["ps"]).await?.success()?.stdout;
        ensure!(ps.lines().any(|l| l.contains(&good) && l.contains("(healthy)")), "ps does not show (healthy):\n{ps}");
        becomes(&e, &bad, "unhealthy").await?;
        Ok(Outcome::Passed)
    })
    .await
}
