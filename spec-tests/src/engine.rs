//! The engine under test as cases reach it: the Remote API at DOCKER_HOST, the CLI named by
//! DOCKER_CLI, the registry and index URLs, the profile, and what the engine says of itself.

use crate::profile::Profile;
use anyhow::{bail, Context as _};
use berth_api::system::Version;
use berth_api::{ApiVersion, Host};
use berth_client::{Client, Reply};
use http::Method;
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// Everything a case may use. Cheap to share: cases get it behind an `Arc`.
pub struct Engine {
    /// The Remote API, with paths sent exactly as a case writes them (no version prefix).
    pub api: Client,
    pub docker_host: String,
    pub cli: String,
    pub profile: Profile,
    /// `GET /version` as the engine answered it before any case ran.
    pub version: Version,
    serial: AtomicU32,
}

/// What one CLI run produced.
#[derive(Debug, Clone)]
pub struct CliRun {
    pub status: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl CliRun {
    /// Fails unless the run exited 0, showing what it printed.
    pub fn success(self) -> anyhow::Result<CliRun> {
        if self.status != Some(0) {
            bail!("CLI exited {:?}\nstdout: {}\nstderr: {}", self.status, self.stdout.trim(), self.stderr.trim());
        }
        Ok(self)
    }
}

const CLI_TIMEOUT: Duration = Duration::from_secs(120);

impl Engine {
    /// The bridge the engine under test plugs containers into: ENGINE_BRIDGE when it was
    /// started on another one than its profile's default (a fresh daemon of a case's own
    /// still makes the profile's).
    pub fn bridge(&self) -> String {
        std::env::var("ENGINE_BRIDGE").ok().filter(|b| !b.is_empty()).unwrap_or_else(|| self.profile.bridge.clone())
    }

    pub async fn connect(docker_host: String, cli: String, profile: Profile) -> anyhow::Result<Engine> {
        let host = Host::parse(&docker_host, Path::new(&profile.default_socket))?;
        let api = Client::new(host)?;
        let version: Version = api
            .get_json("/version")
            .await
            .with_context(|| format!("the engine at {docker_host} does not answer GET /version"))?;
        Ok(Engine { api, docker_host, cli, profile, version, serial: AtomicU32::new(0) })
    }

    /// The engine's oldest API version, as it reports it (1.9 for a 2014 engine, which does
    /// not report one).
    pub fn min_api(&self) -> ApiVersion {
        self.version.min_api_version.parse().unwrap_or(ApiVersion::MIN)
    }

    /// The engine's current API version, as it reports it.
    pub fn current_api(&self) -> ApiVersion {
        self.version.api_version.parse().unwrap_or(ApiVersion::MIN)
    }

    /// A name no other case or run uses, for containers, images, networks and files.
    pub fn unique(&self, what: &str) -> String {
        let n = self.serial.fetch_add(1, Ordering::Relaxed);
        format!("spec-{}-{n}-{what}", std::process::id())
    }

    /// `method path` on the API, path as given.
    pub async fn call(&self, method: Method, path: &str) -> anyhow::Result<Reply> {
        Ok(self.api.call(method, path, None).await?)
    }

    /// `GET path` on the API.
    pub async fn get(&self, path: &str) -> anyhow::Result<Reply> {
        self.call(Method::GET, path).await
    }

    /// Runs the CLI with `args` against the engine.
    pub async fn cli(&self, args: &[&str]) -> anyhow::Result<CliRun> {
        self.cli_with(args, &[("DOCKER_HOST", self.docker_host.as_str())]).await
    }

    /// Runs the CLI with `args` and extra environment (such as another DOCKER_HOST).
    pub async fn cli_with(&self, args: &[&str], env: &[(&str, &str)]) -> anyhow::Result<CliRun> {
        run(&self.cli, args, env, None).await
    }

    /// Runs another program with `args` and `env`: a wrapper around the CLI, for instance.
    pub async fn program(&self, program: &str, args: &[&str], env: &[(&str, &str)]) -> anyhow::Result<CliRun> {
        run(program, args, env, None).await
    }

    /// Runs the CLI with `args`, its standard input read from `input`.
    pub async fn cli_stdin(&self, args: &[&str], input: &Path) -> anyhow::Result<CliRun> {
        run(&self.cli, args, &[("DOCKER_HOST", self.docker_host.as_str())], Some(input)).await
    }

    /// Runs the CLI with `args`, its standard output written to `output` (binary-safe).
    pub async fn cli_to_file(&self, args: &[&str], output: &Path) -> anyhow::Result<CliRun> {
        let script = "out=$1; shift; exec \"$@\" > \"$out\"";
        let mut all = vec!["-c", script, "sh"];
        let out = output.to_string_lossy();
        all.push(&out);
        all.push(&self.cli);
        all.extend_from_slice(args);
        run("sh", &all, &[("DOCKER_HOST", self.docker_host.as_str())], None).await
    }

    /// A fixture file built by `just fixtures` (FIXTURES names their directory).
    pub fn fixture(&self, name: &str) -> std::path::PathBuf {
        let dir = std::env::var("FIXTURES").unwrap_or_else(|_| "fixtures/out".into());
        Path::new(&dir).join(name)
    }

    /// The full id of an image, as the API reports it (without `sha256:`).
    pub async fn image_id(&self, name: &str) -> anyhow::Result<String> {
        let reply = self.get(&format!("/images/{name}/json")).await?;
        anyhow::ensure!(reply.status.is_success(), "no image {name}: {}", String::from_utf8_lossy(&reply.body));
        let value: serde_json::Value = reply.json()?;
        let id = value.get("Id").and_then(|v| v.as_str()).context("image inspect has no Id")?;
        Ok(id.trim_start_matches("sha256:").to_string())
    }

    /// The daemon's program and leading arguments: the profile's command, whose program
    /// DAEMON_BIN replaces when set.
    pub fn daemon_command(&self) -> anyhow::Result<(String, Vec<String>)> {
        let (first, rest) = self.profile.daemon.split_first().context("the profile's daemon command is empty")?;
        let program = std::env::var("DAEMON_BIN").ok().filter(|p| !p.is_empty()).unwrap_or_else(|| first.clone());
        Ok((program, rest.to_vec()))
    }

    /// Runs the daemon program with `args` to completion, for one-shot uses such as its
    /// version flag.
    pub async fn daemon_binary(&self, args: &[&str]) -> anyhow::Result<CliRun> {
        let (program, lead) = self.daemon_command()?;
        let all: Vec<&str> = lead.iter().map(String::as_str).chain(args.iter().copied()).collect();
        run(&program, &all, &[], None).await
    }

    /// Whether the daemon's own help lists `flag`: how a case learns that an engine dropped a
    /// documented flag, from the engine itself.
    pub async fn daemon_has_flag(&self, flag: &str) -> anyhow::Result<bool> {
        let help = self.daemon_binary(&["--help"]).await?;
        let text = format!("{}{}", help.stdout, help.stderr);
        Ok(text.split(|c: char| c.is_whitespace() || c == ',' || c == '=').any(|word| word == flag))
    }
}

async fn run(program: &str, args: &[&str], env: &[(&str, &str)], input: Option<&Path>) -> anyhow::Result<CliRun> {
    let mut command = tokio::process::Command::new(program);
    let stdin = match input {
        Some(path) => std::process::Stdio::from(
            std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?,
        ),
        None => std::process::Stdio::null(),
    };
    command.args(args).envs(env.iter().copied()).stdin(stdin).kill_on_drop(true);
    let output = tokio::time::timeout(CLI_TIMEOUT, command.output())
        .await
        .with_context(|| format!("`{program} {}` did not finish in {CLI_TIMEOUT:?}", args.join(" ")))?
        .with_context(|| format!("cannot run {program}"))?;
    Ok(CliRun {
        status: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    })
}
