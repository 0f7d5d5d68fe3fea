//! The client's global flags, help, `version` and `info` (5.1.1, 5.1.15, 5.1.36).

use super::containers::{cleaning, create, inspect, is_long_id, run, run_out, IMAGE};
use super::COMMANDS_2014;
use crate::daemon::{Spec, TestDaemon};
use crate::engine::{CliRun, Engine};
use crate::outcome::{skip, Outcome, SkipKind};
use anyhow::{ensure, Context};
use std::sync::Arc;

/// A socket path where nothing listens.
const NOWHERE: &str = "unix:///nonexistent/spec-tests/no-daemon.sock";

fn both(run: &CliRun) -> String {
    format!("{}{}", run.stdout, run.stderr)
}

fn contains_ci(text: &str, needle: &str) -> bool {
    text.to_lowercase().contains(&needle.to_lowercase())
}

/// `version` shows the client's version, toolchain and commit, then the server's.
pub async fn version(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let run = e.cli(&["version"]).await?.success()?;
    let out = &run.stdout;
    for needle in ["client", "server", "go version", "git commit"] {
        ensure!(contains_ci(out, needle), "`version` output lacks {needle:?}:\n{out}");
    }
    let server = out.to_lowercase().find("server").unwrap_or(0);
    ensure!(
        out[server..].contains(&e.version.version),
        "server part lacks the engine's version {}:\n{out}",
        e.version.version
    );
    ensure!(
        out[server..].contains(&e.version.git_commit),
        "server part lacks the engine's commit {}:\n{out}",
        e.version.git_commit
    );
    Ok(Outcome::Passed)
}

/// `info` succeeds against the engine and fails, with a message, when no daemon answers.
pub async fn info_basic(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    e.cli(&["info"]).await?.success()?;
    let run = e.cli_with(&["info"], &[("DOCKER_HOST", NOWHERE)]).await?;
    ensure!(run.status != Some(0), "`info` with no daemon exited {:?}", run.status);
    ensure!(!run.stderr.trim().is_empty(), "`info` with no daemon printed no error");
    Ok(Outcome::Passed)
}

/// `info` prints the counts, driver, kernel and debug lines of 5.1.15.
pub async fn info_fields(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let out = e.cli(&["info"]).await?.success()?.stdout;
    let fields = ["Containers:", "Images:", "Storage Driver:", "Kernel Version:", "Debug"];
    let missing: Vec<_> = fields.iter().filter(|f| !contains_ci(&out, f)).collect();
    ensure!(missing.is_empty(), "`info` lacks {missing:?}:\n{out}");
    let debug_only = ["Fds:", "Goroutines:", "EventsListeners:"];
    let hidden: Vec<_> = debug_only.iter().filter(|f| !out.contains(*f)).collect();
    if hidden.is_empty() {
        return Ok(Outcome::Passed);
    }
    let map: serde_json::Value = e.get("/info").await?.json()?;
    let debug = map.get("Debug").and_then(|d| d.as_bool()).unwrap_or(false);
    if out.contains("Server:") && !debug && map.get("NFd").is_some() {
        return Ok(skip(SkipKind::Divergence, format!(
            "the CLI groups info under Client:/Server: and prints {hidden:?} only when the daemon runs in debug mode; the API still reports them"
        )));
    }
    anyhow::bail!("`info` lacks {hidden:?}:\n{out}")
}

/// Without swap accounting, `info` ends with the swap warning.
pub async fn info_swap_warning(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let map: serde_json::Value = e.get("/info").await?.json()?;
    if map.get("SwapLimit").and_then(|s| s.as_bool()) == Some(true) {
        return Ok(skip(SkipKind::Environment, "this kernel has swap accounting, so there is no warning to show"));
    }
    let run = e.cli(&["info"]).await?.success()?;
    ensure!(both(&run).contains("WARNING: No swap limit support"), "no swap warning:\n{}", both(&run));
    Ok(Outcome::Passed)
}

/// `-H` before the command picks the daemon over DOCKER_HOST; an address with no listener
/// is a connection error and a non-zero exit.
pub async fn host_flag(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    e.cli_with(&["-H", &e.docker_host, "info"], &[("DOCKER_HOST", NOWHERE)]).await?.success()?;
    for nowhere in [NOWHERE, "tcp://127.0.0.1:1"] {
        let run = e.cli_with(&["-H", nowhere, "info"], &[("DOCKER_HOST", &e.docker_host)]).await?;
        ensure!(run.status != Some(0), "-H {nowhere} exited 0");
        ensure!(!run.stderr.trim().is_empty(), "-H {nowhere}: no error printed");
    }
    Ok(Outcome::Passed)
}

fn check_help(text: &str, what: &str) -> anyhow::Result<()> {
    ensure!(text.contains("Usage"), "{what} shows no usage line:\n{text}");
    let missing: Vec<_> = COMMANDS_2014.iter().filter(|c| !text.contains(&format!(" {c} "))).collect();
    ensure!(missing.is_empty(), "{what} does not list {missing:?}:\n{text}");
    ensure!(text.contains("-H"), "{what} does not show the -H option:\n{text}");
    Ok(())
}

/// `-h` and `--help` print the help text.
pub async fn help_flag(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    for flag in ["-h", "--help"] {
        let run = e.cli(&[flag]).await?.success()?;
        check_help(&both(&run), flag)?;
    }
    Ok(Outcome::Passed)
}

/// The CLI alone prints usage, the global options and the commands.
pub async fn no_args(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let run = e.cli(&[]).await?;
    check_help(&both(&run), "the CLI with no arguments")?;
    Ok(Outcome::Passed)
}

/// `help` lists the commands.
pub async fn help_list(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let run = e.cli(&["help"]).await?.success()?;
    check_help(&both(&run), "`help`")?;
    Ok(Outcome::Passed)
}

/// `help search` prints search's usage line and options.
pub async fn help_command(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let text = both(&e.cli(&["help", "search"]).await?.success()?);
    let usage = text.lines().find(|l| l.contains("Usage")).context("no usage line")?;
    ensure!(usage.contains("search"), "usage line does not name search: {usage}");
    ensure!(
        text.lines().any(|l| l.trim_start().starts_with("--") || l.trim_start().starts_with("-")),
        "no option lines:\n{text}"
    );
    Ok(Outcome::Passed)
}

/// `-v` prints `NAME version X, build Y` and needs no daemon.
pub async fn version_flag(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let run = e.cli_with(&["-v"], &[("DOCKER_HOST", NOWHERE)]).await?.success()?;
    let line = run.stdout.lines().next().unwrap_or("");
    ensure!(is_version_line(line), "`-v` printed {line:?}, expected NAME version X, build Y");
    Ok(Outcome::Passed)
}

/// `Docker version 0.8.0, build cc3a8c8` and the like.
pub fn is_version_line(line: &str) -> bool {
    let words: Vec<&str> = line.split_whitespace().collect();
    matches!(words[..], [_, "version", v, "build", _] if v.ends_with(','))
}

/// Unknown flags and commands are refused with a message naming them and a non-zero exit.
pub async fn bad_input(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    for (args, named) in [
        (vec!["--no-such-flag"], "--no-such-flag"),
        (vec!["no-such-command"], "no-such-command"),
        (vec!["info", "--no-such-flag"], "--no-such-flag"),
    ] {
        let run = e.cli(&args).await?;
        ensure!(run.status.is_some_and(|s| s != 0), "`{}` exited {:?}", args.join(" "), run.status);
        ensure!(run.stderr.contains(named), "`{}`: the error does not name {named}: {}", args.join(" "), run.stderr);
    }
    Ok(Outcome::Passed)
}

/// DOCKER_HOST=tcp://HOST:PORT sends `ps` to that daemon, with what `-H` gives.
pub async fn docker_host_env(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let tcp = format!("tcp://127.0.0.1:{}", super::daemon::free_port()?);
    let mut daemon = TestDaemon::start(&e, Spec { hosts: Some(vec![tcp.clone()]), ..Default::default() }).await?;
    daemon.ready(&tcp).await?;
    let env = [("DOCKER_HOST", tcp.as_str())];
    let name = e.unique("dockerhost");
    let result = async {
        e.cli_with(&["load", "-i", &e.fixture("busybox.tar").to_string_lossy()], &env).await?.success()?;
        let id = e.cli_with(&["create", "--net=none", "--name", &name, IMAGE, "true"], &env).await?.success()?.stdout;
        let via_env = e.cli_with(&["ps", "-a", "-q", "--no-trunc"], &env).await?.success()?.stdout;
        let via_flag = e.cli_with(&["-H", &tcp, "ps", "-a", "-q", "--no-trunc"], &[("DOCKER_HOST", NOWHERE)]).await?;
        ensure!(via_env.trim() == id.trim(), "ps with DOCKER_HOST listed {via_env:?}, expected {id:?}");
        ensure!(via_flag.success()?.stdout == via_env, "ps with -H and with DOCKER_HOST differ");
        Ok(Outcome::Passed)
    }
    .await;
    let _ = e.cli_with(&["rm", "-f", &name], &env).await;
    daemon.stop().await?;
    result
}

/// 5.1.1's global quiet flag, when the CLI's help lists it: it shortens the output.
pub async fn global_quiet(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    global_flag(&e, "--quiet", |plain, flagged| flagged.len() <= plain.len()).await
}

/// 5.1.1's global verbose flag, when the CLI's help lists it: it lengthens the output.
pub async fn global_verbose(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    global_flag(&e, "--verbose", |plain, flagged| flagged.len() >= plain.len()).await
}

async fn global_flag(e: &Engine, flag: &str, fits: fn(&str, &str) -> bool) -> anyhow::Result<Outcome> {
    let help = both(&e.cli(&["--help"]).await?);
    if !help.split(|c: char| c.is_whitespace() || c == ',' || c == '=').any(|w| w == flag) {
        return Ok(skip(SkipKind::Divergence, format!(
            "the CLI's help lists no global {flag}: only 5.1.1's list has it; the rest of the documentation (5.1.4's options, -v for the version) does not"
        )));
    }
    let plain = e.cli(&["info"]).await?.success()?;
    let flagged = e.cli(&[flag, "info"]).await?.success()?;
    ensure!(fits(&both(&plain), &both(&flagged)), "`{flag} info` printed:\n{}", both(&flagged));
    Ok(Outcome::Passed)
}

/// A bare boolean flag sets the opposite of its default (`run -d` detaches); `-d=true` and
/// `-d=false` set it outright.
pub async fn bool_flags(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let (a, b, c) = (e.unique("bare"), e.unique("true"), e.unique("false"));
    cleaning(&e, &[&a, &b, &c], async {
        for (flag, name) in [("-d", &a), ("-d=true", &b)] {
            let out = run_out(&e, &[flag, "--name", name, IMAGE, "echo", "attached"]).await?;
            ensure!(is_long_id(&out), "`run {flag}` printed {out:?}, not the container's id");
        }
        let out = run_out(&e, &["-d=false", "--name", &c, IMAGE, "echo", "attached"]).await?;
        ensure!(out.trim() == "attached", "`run -d=false` printed {out:?}, not the container's output");
        Ok(Outcome::Passed)
    })
    .await
}

/// Flags shown with `=[]` repeat, and every value counts: `-a stdout -a stderr`, `-e`, `-e`.
pub async fn multi_flags(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let script = "echo out; echo err >&2";
    let has = |text: &str, line: &str| text.lines().any(|l| l.trim() == line);
    let two = run(&e, &["--rm", "-a", "stdout", "-a", "stderr", IMAGE, "sh", "-c", script]).await?.success()?;
    ensure!(has(&two.stdout, "out") && has(&two.stderr, "err"), "-a stdout -a stderr: {two:?}");
    let one = run(&e, &["--rm", "-a", "stdout", IMAGE, "sh", "-c", script]).await?.success()?;
    ensure!(has(&one.stdout, "out") && !has(&one.stderr, "err"), "-a stdout alone: {one:?}");
    let out = run_out(&e, &["--rm", "-e", "A=1", "-e", "B=2", IMAGE, "sh", "-c", "echo $A-$B"]).await?;
    ensure!(out.trim() == "1-2", "-e A=1 -e B=2 gave {out:?}");
    Ok(Outcome::Passed)
}

/// An integer flag (`-c`) takes one number and refuses a word; a string flag (`--name`) one
/// text value.
pub async fn string_int_flags(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let (name, refused) = (e.unique("shares"), e.unique("refused"));
    cleaning(&e, &[&name, &refused], async {
        let bad = e.cli(&["create", "--net=none", "--name", &refused, "-c", "lots", IMAGE, "true"]).await?;
        ensure!(bad.status.is_some_and(|s| s != 0), "-c lots exited {:?}", bad.status);
        ensure!(bad.stderr.contains("lots"), "the error does not name the bad value: {}", bad.stderr.trim());
        create(&e, &name, &["-c", "512", IMAGE, "true"]).await?;
        let value = inspect(&e, &name).await?;
        let shares = value["HostConfig"]["CpuShares"].as_i64().or(value["Config"]["CpuShares"].as_i64());
        ensure!(shares == Some(512), "-c 512 gave CpuShares {shares:?}");
        ensure!(value["Name"] == format!("/{name}"), "--name gave {}", value["Name"]);
        Ok(Outcome::Passed)
    })
    .await
}

/// Long options with one dash act as with two: `-name`, `-rm`, `-entrypoint`, `-expose`,
/// `-privileged`, `-sig-proxy`, `-volumes-from`.
pub async fn single_dash_long(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let (name, gone, from) = (e.unique("dash"), e.unique("dashrm"), e.unique("dashfrom"));
    cleaning(&e, &[&name, &gone, &from], async {
        create(&e, &from, &["-v", "/shared", IMAGE, "true"]).await?;
        let args = ["-name", &name, "-entrypoint", "echo", "-expose", "80", "-privileged", "-sig-proxy=false"];
        let mut all = args.to_vec();
        all.extend(["-volumes-from", &from, IMAGE, "hello"]);
        let first = run(&e, &all).await?;
        if first.status != Some(0) {
            run_out(&e, &["--rm", "--entrypoint", "echo", IMAGE, "hello"]).await.context("nor with two dashes")?;
            return Ok(skip(
                SkipKind::Legacy,
                format!(
                    "the CLI refuses single-dash long options (later Docker reads `-name` as short flags): {}",
                    first.stderr.lines().next().unwrap_or_default().trim()
                ),
            ));
        }
        ensure!(first.stdout.trim() == "hello", "-entrypoint echo printed {:?}", first.stdout);
        let value = inspect(&e, &name).await?;
        ensure!(value["Config"]["ExposedPorts"].get("80/tcp").is_some(), "-expose 80: {}", value["Config"]);
        ensure!(value["HostConfig"]["Privileged"] == true, "-privileged: {}", value["HostConfig"]["Privileged"]);
        ensure!(value["HostConfig"]["VolumesFrom"][0] == from.as_str(), "-volumes-from: {}", value["HostConfig"]);
        run_out(&e, &["-rm", "-name", &gone, IMAGE, "true"]).await?;
        ensure!(!super::containers::exists(&e, &gone).await?, "-rm left the container behind");
        Ok(Outcome::Passed)
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::is_version_line;

    #[test]
    fn version_lines() {
        assert!(is_version_line("Docker version 28.2.2, build e6534b4"));
        assert!(is_version_line("Berth version 0.1.0, build unknown"));
        assert!(!is_version_line("Docker version 28.2.2"));
        assert!(!is_version_line(""));
    }
}
