//! The client's global flags, help, `version` and `info` (5.1.1, 5.1.15, 5.1.36).

use super::COMMANDS_2014;
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
