//! Compose stacks shaped like the seeds' (the directus guide's and the pocket-id README's),
//! built from the busybox fixture: services, networks and their names, named volumes,
//! healthchecks and start order, restart policies, the locked-down pocket-id stack. A compose
//! CLI (COMPOSE_CLI, default docker-compose) drives the engine at DOCKER_HOST; every case
//! works under a project of its own in a temporary directory and takes it down with its
//! volumes afterwards.

use super::containers::{both, cleaning_images, epoch_seconds, eventually, inspect, is_running, IDLE, IMAGE, SETTLE};
use super::network::{answer, answering, answering_all, ask, free_port, loopback, Outside};
use super::run_options::TempPath;
use super::Case;
use crate::case;
use crate::daemon::{Spec, TestDaemon};
use crate::engine::{CliRun, Engine};
use crate::outcome::{skip, Outcome, SkipKind};
use anyhow::{ensure, Context};
use http::StatusCode;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

#[rustfmt::skip]
pub static CASES: &[Case] = &[
    case!("compose directus stack", [
        "seed.compose.version-key", "seed.compose.services", "seed.compose.container-name",
        "seed.compose.bind-relative", "seed.compose.network-dns", "seed.compose.network-top-level",
        "seed.compose.ports-short", "seed.compose.depends-on-list", "seed.compose.up-detached",
    ], directus_stack),
    case!("compose environment values", ["seed.compose.environment-map"], environment_values),
    case!("compose pocket-id stack", [
        "seed.compose.extension-fields", "seed.compose.named-volumes", "seed.compose.named-volume-copyup",
        "seed.compose.depends-on-healthy", "seed.compose.ports-proto", "seed.compose.network-internal",
        "seed.compose.multi-network", "seed.compose.env-interpolation", "seed.compose.restart-always",
        "seed.pocketid.lockdown-starts", "modern.compose.up-down",
    ], pocket_id_stack),
    case!("compose unhealthy dependency", ["seed.compose.depends-on-healthy"], unhealthy_dependency),
    case!("compose depends_on restart", ["seed.compose.depends-on-restart"], dependency_restart),
    case!("compose restart across daemon restart", ["seed.compose.restart-always"], restart_across_daemon),
    case!("compose project name", ["seed.compose.project-name"], project_name),
    case!("compose upgrade", ["seed.compose.pull-up"], upgrade),
];

// ---------------------------------------------------------------------------------------------
// A compose project of the case's own
// ---------------------------------------------------------------------------------------------

/// How long one compose command may take.
const COMPOSE_TIMEOUT: Duration = Duration::from_secs(120);

/// The compose CLI: COMPOSE_CLI, or docker-compose.
fn compose_cli() -> String {
    std::env::var("COMPOSE_CLI").ok().filter(|c| !c.is_empty()).unwrap_or_else(|| "docker-compose".into())
}

/// A skip when no compose CLI can be run here.
async fn compose_missing() -> Option<Outcome> {
    let cli = compose_cli();
    let works = tokio::process::Command::new(&cli).arg("version").output().await.is_ok_and(|o| o.status.success());
    (!works).then(|| skip(SkipKind::Environment, format!("no compose CLI ({cli}; set COMPOSE_CLI) runs here")))
}

/// A project: its name, its directory (with docker-compose.yml) and the engine it talks to.
pub struct Project {
    pub name: String,
    pub dir: TempPath,
    docker_host: String,
    env: Vec<(String, String)>,
}

impl Project {
    /// A project with this compose file, on the engine under test.
    pub fn new(e: &Engine, what: &str, yaml: &str) -> anyhow::Result<Project> {
        Project::on(e, &e.docker_host, what, yaml)
    }

    /// A project with this compose file, on the engine at `docker_host`.
    pub fn on(e: &Engine, docker_host: &str, what: &str, yaml: &str) -> anyhow::Result<Project> {
        let dir = TempPath::new(e, what);
        std::fs::create_dir_all(&dir.0)?;
        std::fs::write(dir.0.join("docker-compose.yml"), yaml)?;
        let name = e.unique(what).replace('-', "");
        Ok(Project { name, dir, docker_host: docker_host.to_string(), env: Vec::new() })
    }

    pub fn with_env(mut self, key: &str, value: &str) -> Project {
        self.env.push((key.into(), value.into()));
        self
    }

    pub fn write(&self, yaml: &str) -> anyhow::Result<()> {
        Ok(std::fs::write(self.dir.0.join("docker-compose.yml"), yaml)?)
    }

    /// `COMPOSE -p NAME -f DIR/docker-compose.yml ARGS...`, run in DIR.
    pub async fn run(&self, args: &[&str]) -> anyhow::Result<CliRun> {
        let file = self.dir.0.join("docker-compose.yml");
        let mut command = tokio::process::Command::new(compose_cli());
        command.arg("-p").arg(&self.name).arg("-f").arg(&file).args(args).current_dir(&self.dir.0);
        command.env("DOCKER_HOST", &self.docker_host).envs(self.env.iter().map(|(k, v)| (k, v)));
        command.stdin(std::process::Stdio::null()).kill_on_drop(true);
        let output = tokio::time::timeout(COMPOSE_TIMEOUT, command.output())
            .await
            .with_context(|| format!("compose {} did not finish in {COMPOSE_TIMEOUT:?}", args.join(" ")))??;
        Ok(CliRun {
            status: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        })
    }

    /// The id of the (first) container of a service.
    pub async fn container(&self, service: &str) -> anyhow::Result<String> {
        let out = self.run(&["ps", "-q", service]).await?.success()?.stdout;
        out.split_whitespace().next().map(String::from).with_context(|| format!("no container for {service}"))
    }

    /// `down -v --remove-orphans`, whatever state the project is in.
    pub async fn down(&self) {
        let _ = self.run(&["down", "-v", "--remove-orphans"]).await;
    }
}

/// Runs a body, then takes the project down (with its volumes), whatever happened.
async fn taking_down<F>(project: &Project, body: F) -> anyhow::Result<Outcome>
where
    F: std::future::Future<Output = anyhow::Result<Outcome>>,
{
    let result = body.await;
    project.down().await;
    result
}

/// An exec in a container, which must succeed; its output.
async fn exec(e: &Engine, id: &str, script: &str) -> anyhow::Result<String> {
    Ok(e.cli(&["exec", id, "sh", "-c", script]).await?.success()?.stdout)
}

fn started_at(value: &Value) -> anyhow::Result<f64> {
    epoch_seconds(value["State"]["StartedAt"].as_str().unwrap_or_default())
}

async fn exists_at(e: &Engine, path: &str) -> anyhow::Result<bool> {
    Ok(e.get(path).await?.status == StatusCode::OK)
}

/// Text as a URL query value.
fn percent(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// A YAML scalar for any text (a JSON string is one).
fn q(text: &str) -> String {
    Value::String(text.to_string()).to_string()
}

/// The Env of a container as a map.
fn env_of(value: &Value) -> std::collections::BTreeMap<String, String> {
    value["Config"]["Env"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str()?.split_once('=').map(|(k, v)| (k.to_string(), v.to_string())))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The directus guide's stack
// ---------------------------------------------------------------------------------------------

fn directus_yaml(database: &str, cache: &str, directus: &str, port: u16) -> String {
    let db = q(&format!("echo $$POSTGRES_USER > /var/lib/postgresql/data/owner; {}", answering(5432, "db-reply")));
    let redis = q(&answering(6379, "cache-reply"));
    let app = q("trap 'exit 0' TERM; while :; do echo \"$$DB_HOST:$$DB_PORT $$CACHE_REDIS\" | nc -l -p 8055; done");
    format!(
        r#"version: '3'
services:
  database:
    container_name: {database}
    image: {IMAGE}
    volumes:
      - ./data/database:/var/lib/postgresql/data
    networks:
      - directus
    environment:
      POSTGRES_USER: 'directus'
    command: ["sh", "-c", {db}]

  cache:
    container_name: {cache}
    image: {IMAGE}
    networks:
      - directus
    command: ["sh", "-c", {redis}]

  directus:
    container_name: {directus}
    image: {IMAGE}
    ports:
      - {port}:8055
    volumes:
      - ./uploads:/directus/uploads
    networks:
      - directus
    depends_on:
      - cache
      - database
    environment:
      KEY: '255d861b-5ea1-5996-9aa3-922530ec40b1'
      DB_HOST: 'database'
      DB_PORT: '5432'
      CACHE_REDIS: 'redis://cache:6379'
    command: ["sh", "-c", {app}]

networks:
  directus:
"#
    )
}

/// The directus guide's compose file (version '3', container_name, a relative bind, one
/// declared network, a published port, depends_on) with busybox services: `up -d` returns
/// with every service running under its literal name, in order, on `<project>_directus`,
/// where services find each other by name.
pub async fn directus_stack(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    if let Some(missing) = compose_missing().await {
        return Ok(missing);
    }
    let [database, cache, directus] = ["database", "cache", "directus"].map(|n| e.unique(n));
    let port = free_port(&e, false)?;
    let project = Project::new(&e, "directus", &directus_yaml(&database, &cache, &directus, port))?;
    let data = project.dir.0.join("data/database");
    taking_down(&project, async {
        ensure!(!data.exists(), "./data/database exists before up");
        let up = project.run(&["up", "-d"]).await?;
        ensure!(up.status == Some(0), "compose up -d (version '3') failed: {}", both(&up).trim());
        for name in [&database, &cache, &directus] {
            let value = inspect(&e, name).await?;
            ensure!(value["Name"] == format!("/{name}"), "the container is named {}", value["Name"]);
            ensure!(value["Config"]["Image"] == IMAGE, "{name} runs {}", value["Config"]["Image"]);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        for name in [&database, &cache, &directus] {
            ensure!(is_running(&e, name).await?, "{name} is not running after up -d returned");
        }
        let owner = eventually("./data/database/owner", SETTLE, || async {
            Ok(std::fs::read_to_string(data.join("owner")).ok().filter(|t| !t.is_empty()))
        })
        .await?;
        ensure!(owner.trim() == "directus", "the bind directory holds {owner:?}");
        ensure!(project.dir.0.join("uploads").is_dir(), "./uploads was not made");
        let network: Value = e.get(&format!("/networks/{}_directus", project.name)).await?.json()?;
        ensure!(network["Driver"] == "bridge", "the network {}_directus: {network}", project.name);
        let script = format!("{}; {}", ask("database", "5432"), ask("cache", "6379"));
        let out = exec(&e, &directus, &script).await?;
        ensure!(out.lines().collect::<Vec<_>>() == ["db-reply", "cache-reply"], "by service name directus got {out:?}");
        let got = answer(loopback(port)).await?;
        ensure!(got == "database:5432 redis://cache:6379", "host port {port} answered {got:?}");
        let last = started_at(&inspect(&e, &directus).await?)?;
        for first in [&cache, &database] {
            ensure!(started_at(&inspect(&e, first).await?)? <= last, "{first} started after directus");
        }
        Ok(Outcome::Passed)
    })
    .await
}

/// Environment in mapping form reaches the container as text: quoted strings, numbers and
/// unquoted booleans alike.
pub async fn environment_values(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    if let Some(missing) = compose_missing().await {
        return Ok(missing);
    }
    let yaml = |boolean: &str| {
        format!(
            "services:\n  app:\n    image: {IMAGE}\n    command: [\"true\"]\n    environment:\n      QUOTED: 'directus'\n      \
             NUMBER: 5432\n{boolean}"
        )
    };
    let project = Project::new(&e, "envmap", &yaml("      TRUST_PROXY: true\n"))?;
    taking_down(&project, async {
        let checked = project.run(&["config"]).await?;
        let booleans = checked.status == Some(0);
        if !booleans {
            ensure!(both(&checked).contains("TRUST_PROXY"), "compose refused the file: {}", both(&checked));
            project.write(&yaml(""))?;
        }
        project.run(&["up", "-d"]).await?.success()?;
        let env = env_of(&inspect(&e, &project.container("app").await?).await?);
        ensure!(env.get("QUOTED").map(String::as_str) == Some("directus"), "QUOTED: {env:?}");
        ensure!(env.get("NUMBER").map(String::as_str) == Some("5432"), "NUMBER: {env:?}");
        if !booleans {
            return Ok(skip(
                SkipKind::Environment,
                format!("the compose CLI refuses an unquoted boolean in environment ({}); strings and numbers arrive as text", checked.stderr.lines().find(|l| l.contains("TRUST_PROXY")).unwrap_or("").trim()),
            ));
        }
        ensure!(env.get("TRUST_PROXY").map(String::as_str) == Some("true"), "TRUST_PROXY: {env:?}");
        Ok(Outcome::Passed)
    })
    .await
}

// ---------------------------------------------------------------------------------------------
// The pocket-id README's stack
// ---------------------------------------------------------------------------------------------

/// The pocket-id README's compose file, with busybox in place of its images: `image` for
/// postgres holds /postgres/etc/postgresql.conf owned by 1000:1000.
fn pocket_id_yaml(image: &str, port: u16, unset: &str) -> String {
    let postgres = q("echo started >> /postgres/var/starts; sleep 2; touch /postgres/run/ready; \
        trap 'exit 0' TERM; while :; do echo \"postgres:$$POSTGRES_PASSWORD\" | nc -l -p 5432; done");
    let pocket = answering_all(&[(1411, "pocket-id $$APP_URL")]);
    let pocket = q(&pocket.replace("trap 'exit 0' TERM;", "trap 'exit 0' TERM; trap 'exit 3' USR1;"));
    format!(
        r#"x-lockdown: &lockdown
  # prevents write access to the image itself
  read_only: true
  # prevents any process within the container to gain more privileges
  security_opt:
    - "no-new-privileges=true"

services:
  postgres:
    image: "{image}"
    <<: *lockdown
    environment:
      TZ: "Europe/Zurich"
      POSTGRES_PASSWORD: "${{POSTGRES_PASSWORD}}"
      POSTGRES_BACKUP_SCHEDULE: "0 3 * * *"
    volumes:
      - "postgres.etc:/postgres/etc"
      - "postgres.var:/postgres/var"
      - "postgres.backup:/postgres/backup"
    tmpfs:
      - "/postgres/run:uid=1000,gid=1000"
      - "/postgres/log:uid=1000,gid=1000"
    networks:
      backend:
    healthcheck:
      test: ["CMD-SHELL", "test -e /postgres/run/ready"]
      interval: 1s
      timeout: 3s
      retries: 30
    command: ["sh", "-c", {postgres}]
    restart: "always"

  pocket-id:
    depends_on:
      postgres:
        condition: "service_healthy"
    image: "{IMAGE}"
    <<: *lockdown
    environment:
      TZ: "Europe/Zurich"
      APP_URL: "${{FQDN}}"
      TRUST_PROXY: "true"
      DB_PROVIDER: "postgres"
      DB_CONNECTION_STRING: "postgres://postgres:${{POSTGRES_PASSWORD}}@postgres:5432/postgres"
      NOT_SET: "${{{unset}}}"
    volumes:
      - "pocket-id.var:/pocket-id/var"
    ports:
      - "{port}:1411/tcp"
    networks:
      frontend:
      backend:
    command: ["sh", "-c", {pocket}]
    restart: "always"

volumes:
  postgres.etc:
  postgres.var:
  postgres.backup:
  pocket-id.var:

networks:
  frontend:
  backend:
    internal: true
"#
    )
}

/// The postgres stand-in image: busybox with /postgres/etc/postgresql.conf owned by 1000:1000.
async fn postgres_image(e: &Engine, image: &str) -> anyhow::Result<()> {
    let prepare = e.unique("pgprep");
    let script = "mkdir -p /postgres/etc /postgres/var /postgres/backup /postgres/run /postgres/log /pocket-id/var \
        && echo 'listen_addresses = *' > /postgres/etc/postgresql.conf && chown -R 1000:1000 /postgres/etc";
    let made = async {
        super::containers::run(e, &["--name", &prepare, IMAGE, "sh", "-c", script]).await?.success()?;
        e.cli(&["commit", &prepare, image]).await?.success()?;
        anyhow::Ok(())
    }
    .await;
    super::containers::remove(e, &prepare).await;
    made
}

/// The whole pocket-id stack, locked down (read_only, no-new-privileges, tmpfs with
/// uid/gid, named volumes, an internal network, a healthcheck gating the second service,
/// restart always), on busybox: it comes up and answers, and every part does what the
/// README's file asks; `down` keeps the named volumes for the next `up`, `down -v` removes
/// them.
pub async fn pocket_id_stack(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    if let Some(missing) = compose_missing().await {
        return Ok(missing);
    }
    let image = e.unique("postgres16");
    let port = free_port(&e, false)?;
    let unset = format!("BERTH_SPEC_UNSET_{}", std::process::id());
    let project =
        Project::new(&e, "idp", &pocket_id_yaml(&image, port, &unset))?.with_env("POSTGRES_PASSWORD", "s3cret");
    std::fs::write(project.dir.0.join(".env"), "FQDN=idp.example.test\n")?;
    let outside = Outside::create(&e).await?;
    cleaning_images(
        &e,
        &[],
        &[&image],
        taking_down(&project, async {
            postgres_image(&e, &image).await?;
            let up = project.run(&["up", "-d"]).await?;
            ensure!(up.status == Some(0), "compose up -d failed: {}", both(&up).trim());
            ensure!(up.stderr.contains(&unset), "no warning about the unset {unset}: {}", up.stderr.trim());
            let (postgres, pocket) = (project.container("postgres").await?, project.container("pocket-id").await?);
            lockdown_starts(&e, &project, &postgres, &pocket, port).await?;
            interpolated(&e, &pocket, &unset).await?;
            locked_down(&e, &postgres, &pocket).await?;
            healthy_first(&e, &postgres, &pocket).await?;
            copied_up(&e, &postgres).await?;
            networks(&e, &project, &postgres, &pocket, &outside).await?;
            restarts(&e, &pocket).await?;
            volumes_kept(&e, &project).await?;
            Ok(Outcome::Passed)
        }),
    )
    .await
}

/// Both services run and pocket-id answers on its host port, over TCP only.
async fn lockdown_starts(e: &Engine, project: &Project, postgres: &str, pocket: &str, port: u16) -> anyhow::Result<()> {
    for id in [postgres, pocket] {
        ensure!(is_running(e, id).await?, "{id} is not running");
    }
    let got = answer(loopback(port)).await?;
    ensure!(got == "pocket-id idp.example.test", "host port {port} answered {got:?}");
    let ports = inspect(e, pocket).await?["NetworkSettings"]["Ports"].clone();
    ensure!(ports.get("1411/udp").is_none(), "1411/udp is published too: {ports}");
    let services = project.run(&["ps", "--services"]).await?.success()?.stdout;
    let mut services: Vec<&str> = services.split_whitespace().collect();
    services.sort();
    ensure!(services == ["pocket-id", "postgres"], "the services are {services:?} (x-lockdown is not one)");
    Ok(())
}

/// ${POSTGRES_PASSWORD} came from the calling shell, ${FQDN} from .env, an unset variable
/// became empty.
async fn interpolated(e: &Engine, pocket: &str, unset: &str) -> anyhow::Result<()> {
    let env = env_of(&inspect(e, pocket).await?);
    let get = |k: &str| env.get(k).cloned().unwrap_or_else(|| "<unset>".into());
    ensure!(get("APP_URL") == "idp.example.test", "APP_URL is {:?}", get("APP_URL"));
    ensure!(
        get("DB_CONNECTION_STRING") == "postgres://postgres:s3cret@postgres:5432/postgres",
        "{:?}",
        get("DB_CONNECTION_STRING")
    );
    ensure!(get("NOT_SET").is_empty(), "${{{unset}}} became {:?}", get("NOT_SET"));
    Ok(())
}

/// The x-lockdown keys reached both services through the YAML merge; postgres has its two
/// tmpfs owned by 1000:1000, and the image cannot be written.
async fn locked_down(e: &Engine, postgres: &str, pocket: &str) -> anyhow::Result<()> {
    for id in [postgres, pocket] {
        let host = inspect(e, id).await?["HostConfig"].clone();
        ensure!(host["ReadonlyRootfs"] == true, "{id} is not read-only: {host}");
        let opts = host["SecurityOpt"].to_string();
        ensure!(opts.contains("no-new-privileges"), "{id} lacks no-new-privileges: {opts}");
    }
    let out = exec(
        e,
        postgres,
        "stat -c '%u:%g' /postgres/run /postgres/log; touch /etc/x 2>&1; grep NoNewPrivs /proc/self/status",
    )
    .await?;
    ensure!(out.lines().take(2).all(|l| l == "1000:1000"), "the tmpfs owners: {out}");
    ensure!(out.contains("Read-only file system") && out.contains("NoNewPrivs:\t1"), "postgres: {out}");
    Ok(())
}

/// pocket-id started only once postgres was healthy (postgres needs two seconds first).
async fn healthy_first(e: &Engine, postgres: &str, pocket: &str) -> anyhow::Result<()> {
    let (db, app) = (inspect(e, postgres).await?, inspect(e, pocket).await?);
    ensure!(db["State"]["Health"]["Status"] == "healthy", "postgres is {}", db["State"]["Health"]);
    let gap = started_at(&app)? - started_at(&db)?;
    ensure!(gap >= 1.9, "pocket-id started {gap:.1} s after postgres, before it could be healthy");
    Ok(())
}

/// The new postgres.etc volume starts with the image's file, owner included.
async fn copied_up(e: &Engine, postgres: &str) -> anyhow::Result<()> {
    let out =
        exec(e, postgres, "stat -c '%u:%g' /postgres/etc/postgresql.conf; cat /postgres/etc/postgresql.conf").await?;
    ensure!(out.lines().collect::<Vec<_>>() == ["1000:1000", "listen_addresses = *"], "the volume holds {out:?}");
    Ok(())
}

/// pocket-id is on both networks and finds postgres by name; postgres, on the internal
/// backend only, reaches pocket-id but nothing beyond the host, which pocket-id reaches.
async fn networks(
    e: &Engine,
    project: &Project,
    postgres: &str,
    pocket: &str,
    outside: &Outside,
) -> anyhow::Result<()> {
    let attached = inspect(e, pocket).await?["NetworkSettings"]["Networks"].clone();
    for network in ["frontend", "backend"] {
        let name = format!("{}_{network}", project.name);
        ensure!(attached.get(&name).is_some(), "pocket-id is not on {name}: {attached}");
    }
    let interfaces = exec(e, pocket, "ip -4 -o addr | grep -v ' lo ' | wc -l").await?;
    ensure!(interfaces.trim() == "2", "pocket-id has {} interfaces besides lo", interfaces.trim());
    let beyond = format!("nc -w 2 {} 7000 </dev/null || echo contained", outside.address);
    let out = exec(e, pocket, &format!("{}; {beyond}", ask("postgres", "5432"))).await?;
    ensure!(out.lines().collect::<Vec<_>>() == ["postgres:s3cret", "outside"], "from pocket-id: {out:?}");
    let out = exec(e, postgres, &format!("{}; {beyond}", ask("pocket-id", "1411"))).await?;
    ensure!(out.lines().collect::<Vec<_>>() == ["pocket-id idp.example.test", "contained"], "from postgres: {out:?}");
    Ok(())
}

/// Under restart: always, pocket-id's main process exiting (code 3) is followed by a restart.
async fn restarts(e: &Engine, pocket: &str) -> anyhow::Result<()> {
    let before = inspect(e, pocket).await?["State"]["Pid"].clone();
    // From inside, detached: an attached `exec kill` could itself be killed with the
    // container before it reports its status; and `docker kill` is a user's stop to moby
    // 20.10 (no restart) whatever the signal.
    e.cli(&["exec", "-d", pocket, "kill", "-USR1", "1"]).await?.success()?;
    eventually("pocket-id restarting", SETTLE, || async {
        let value = inspect(e, pocket).await?;
        let again = value["RestartCount"].as_u64().unwrap_or(0) >= 1
            && value["State"]["Running"] == true
            && value["State"]["Pid"] != before;
        Ok(again.then_some(()))
    })
    .await
}

/// `down` removes containers and networks but keeps the named volumes, whose data the next
/// `up` finds; `down -v` removes them.
async fn volumes_kept(e: &Engine, project: &Project) -> anyhow::Result<()> {
    let volumes: Vec<String> = ["postgres.etc", "postgres.var", "postgres.backup", "pocket-id.var"]
        .iter()
        .map(|v| format!("{}_{v}", project.name))
        .collect();
    for volume in &volumes {
        ensure!(exists_at(e, &format!("/volumes/{volume}")).await?, "no volume {volume}");
    }
    project.run(&["down"]).await?.success()?;
    let filter = format!("{{\"label\":[\"com.docker.compose.project={}\"]}}", project.name);
    let left = e.get(&format!("/containers/json?all=1&filters={}", percent(&filter))).await?;
    let left: Value = left.json()?;
    ensure!(left.as_array().is_some_and(|l| l.is_empty()), "containers left after down: {left}");
    for network in ["frontend", "backend"] {
        let name = format!("{}_{network}", project.name);
        ensure!(!exists_at(e, &format!("/networks/{name}")).await?, "{name} is left after down");
    }
    for volume in &volumes {
        ensure!(exists_at(e, &format!("/volumes/{volume}")).await?, "down removed {volume}");
    }
    project.run(&["up", "-d"]).await?.success()?;
    let postgres = project.container("postgres").await?;
    let starts = exec(e, &postgres, "cat /postgres/var/starts").await?;
    ensure!(starts.lines().count() == 2, "after down and up the volume holds {starts:?}");
    project.run(&["down", "-v"]).await?.success()?;
    for volume in &volumes {
        ensure!(!exists_at(e, &format!("/volumes/{volume}")).await?, "down -v left {volume}");
    }
    Ok(())
}

/// A dependency whose healthcheck fails: `up` fails and the dependent service never starts.
pub async fn unhealthy_dependency(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    if let Some(missing) = compose_missing().await {
        return Ok(missing);
    }
    let (idle, started) = (q(IDLE), q(&format!("echo started; {IDLE}")));
    let yaml = format!(
        r#"services:
  postgres:
    image: {IMAGE}
    command: ["sh", "-c", {idle}]
    healthcheck:
      test: ["CMD-SHELL", "false"]
      interval: 1s
      retries: 1
  pocket-id:
    image: {IMAGE}
    command: ["sh", "-c", {started}]
    depends_on:
      postgres:
        condition: service_healthy
"#
    );
    let project = Project::new(&e, "unhealthy", &yaml)?;
    taking_down(&project, async {
        let up = project.run(&["up", "-d"]).await?;
        ensure!(up.status != Some(0), "up succeeded with an unhealthy dependency: {}", both(&up));
        let ids = project.run(&["ps", "-q", "pocket-id"]).await?.stdout;
        for id in ids.split_whitespace() {
            let state = inspect(&e, id).await?["State"].clone();
            ensure!(
                state["Running"] == false && state["StartedAt"].as_str().is_none_or(|s| s.starts_with("0001")),
                "pocket-id started: {state}"
            );
        }
        Ok(Outcome::Passed)
    })
    .await
}

/// With `restart: true` on the dependency, restarting postgres through compose restarts
/// pocket-id too.
pub async fn dependency_restart(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    if let Some(missing) = compose_missing().await {
        return Ok(missing);
    }
    let idle = q(IDLE);
    let yaml = format!(
        r#"services:
  postgres:
    image: {IMAGE}
    command: ["sh", "-c", {idle}]
  pocket-id:
    image: {IMAGE}
    command: ["sh", "-c", {idle}]
    depends_on:
      postgres:
        condition: service_started
        restart: true
"#
    );
    let project = Project::new(&e, "deprestart", &yaml)?;
    taking_down(&project, async {
        let checked = project.run(&["config", "-q"]).await?;
        if checked.status != Some(0) {
            ensure!(both(&checked).contains("restart"), "compose refused the file: {}", both(&checked));
            return Ok(skip(
                SkipKind::Environment,
                format!(
                    "the compose CLI does not know depends_on.restart (Compose v2.17 and later do): {}",
                    both(&checked).trim()
                ),
            ));
        }
        project.run(&["up", "-d"]).await?.success()?;
        let pocket = project.container("pocket-id").await?;
        let before = started_at(&inspect(&e, &pocket).await?)?;
        project.run(&["restart", "postgres"]).await?.success()?;
        eventually("pocket-id restarting with postgres", SETTLE, || async {
            let value = inspect(&e, &pocket).await?;
            Ok((value["State"]["Running"] == true && started_at(&value)? > before).then_some(()))
        })
        .await?;
        Ok(Outcome::Passed)
    })
    .await
}

/// Under restart: always, a service whose process exits (code 3 here) is started again, and
/// it is running after the daemon itself restarts (a daemon of the case's own). Whether the
/// daemon stopped it on the way down (moby) or left it running under its monitor (berth) is
/// the engine's business; either way it must be running afterwards.
pub async fn restart_across_daemon(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    if let Some(missing) = compose_missing().await {
        return Ok(missing);
    }
    let mut daemon = TestDaemon::start(&e, Spec::default()).await?;
    let host = daemon.host.clone();
    daemon.ready(&host).await?;
    let on_daemon = [("DOCKER_HOST", host.as_str())];
    let fixture = e.fixture("busybox.tar");
    e.cli_with(&["load", "-i", &fixture.to_string_lossy()], &on_daemon).await?.success()?;
    // The first run exits 3; the run after it finds its mark and stays.
    let script = q(&format!("if [ -f /tmp/once ]; then {IDLE}; fi; touch /tmp/once; exit 3"));
    let yaml = format!(
        "services:\n  postgres:\n    image: {IMAGE}\n    network_mode: none\n    restart: \"always\"\n    command: [\"sh\", \"-c\", {script}]\n"
    );
    let project = Project::on(&e, &host, "restartalways", &yaml)?;
    let result = taking_down(&project, async {
        project.run(&["up", "-d"]).await?.success()?;
        let id = project.container("postgres").await?;
        let state = |out: CliRun| -> anyhow::Result<Value> {
            let value: Value = serde_json::from_str(&out.success()?.stdout)?;
            Ok(value[0].clone())
        };
        let restarted = eventually("postgres started again after exiting 3", SETTLE, || async {
            let value = state(e.cli_with(&["inspect", &id], &on_daemon).await?)?;
            let again = value["RestartCount"].as_u64().unwrap_or(0) >= 1 && value["State"]["Running"] == true;
            Ok(again.then_some(value))
        })
        .await?;
        ensure!(restarted["State"]["Running"] == true, "not running after its restart: {}", restarted["State"]);
        daemon.restart().await?;
        eventually("postgres running after the daemon restarted", SETTLE, || async {
            let value = state(e.cli_with(&["inspect", &id], &on_daemon).await?)?;
            Ok((value["State"]["Running"] == true).then_some(()))
        })
        .await?;
        Ok(Outcome::Passed)
    })
    .await;
    let ids = e.cli_with(&["ps", "-a", "-q"], &on_daemon).await.map(|r| r.stdout).unwrap_or_default();
    for id in ids.split_whitespace() {
        let _ = e.cli_with(&["rm", "-f", "-v", id], &on_daemon).await;
    }
    let _ = daemon.stop().await;
    result
}

/// The top-level `name:` names the project: every container, network and volume starts
/// with it.
pub async fn project_name(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    if let Some(missing) = compose_missing().await {
        return Ok(missing);
    }
    let name = e.unique("idp").replace('-', "");
    let idle = q(IDLE);
    let yaml = format!(
        "name: \"{name}\"\nservices:\n  pocket-id:\n    image: {IMAGE}\n    command: [\"sh\", \"-c\", {idle}]\n    \
         volumes:\n      - \"pocket-id.var:/pocket-id/var\"\nvolumes:\n  pocket-id.var:\n"
    );
    let mut project = Project::new(&e, "named", &yaml)?;
    project.name = name.clone();
    taking_down(&project, async {
        let file = project.dir.0.join("docker-compose.yml");
        let mut command = tokio::process::Command::new(compose_cli());
        command.arg("-f").arg(&file).args(["up", "-d"]).current_dir(&project.dir.0).env("DOCKER_HOST", &e.docker_host);
        let up = command.output().await?;
        let said = format!("{}{}", String::from_utf8_lossy(&up.stdout), String::from_utf8_lossy(&up.stderr));
        if !up.status.success() {
            ensure!(said.contains("'name'"), "compose up failed: {said}");
            return Ok(skip(
                SkipKind::Environment,
                format!(
                    "the compose CLI does not read a top-level name (Compose v2 does): {}",
                    said.lines().next().unwrap_or("").trim()
                ),
            ));
        }
        let id = project.container("pocket-id").await?;
        let value = inspect(&e, &id).await?;
        ensure!(
            value["Name"].as_str().is_some_and(|n| n.starts_with(&format!("/{name}"))),
            "the container is {}",
            value["Name"]
        );
        ensure!(exists_at(&e, &format!("/volumes/{name}_pocket-id.var")).await?, "no volume {name}_pocket-id.var");
        ensure!(exists_at(&e, &format!("/networks/{name}_default")).await?, "no network {name}_default");
        Ok(Outcome::Passed)
    })
    .await
}

/// Upgrading by tag: after the tag in the file changes, `up -d` replaces only the service
/// whose image changed, and volume and bind data survive. The `pull` step needs a registry.
pub async fn upgrade(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    if let Some(missing) = compose_missing().await {
        return Ok(missing);
    }
    let repo = e.unique("directus");
    let (old, new) = (format!("{repo}:9.0.0-rc.101"), format!("{repo}:9.0.0"));
    let idle = q(IDLE);
    let yaml = |tag: &str| {
        format!(
            "version: '3'\nservices:\n  directus:\n    image: {tag}\n    command: [\"sh\", \"-c\", {idle}]\n    volumes:\n      \
             - ./uploads:/directus/uploads\n      - database:/directus/database\n  cache:\n    image: {IMAGE}\n    command: [\"sh\", \"-c\", {idle}]\n\
             volumes:\n  database:\n"
        )
    };
    let project = Project::new(&e, "upgrade", &yaml(&old))?;
    cleaning_images(
        &e,
        &[],
        &[&old, &new],
        taking_down(&project, async {
            e.cli(&["tag", IMAGE, &old]).await?.success()?;
            let prepare = e.unique("newversion");
            let made =
                super::containers::run(&e, &["--name", &prepare, IMAGE, "sh", "-c", "echo 9.0.0 > /version"]).await;
            let committed = e.cli(&["commit", &prepare, &new]).await;
            super::containers::remove(&e, &prepare).await;
            made?.success()?;
            committed?.success()?;
            project.run(&["up", "-d"]).await?.success()?;
            let (app, cache) = (project.container("directus").await?, project.container("cache").await?);
            exec(&e, &app, "echo upload > /directus/uploads/cat.jpg; echo rows > /directus/database/data.db").await?;
            project.write(&yaml(&new))?;
            project.run(&["up", "-d"]).await?.success()?;
            let (app2, cache2) = (project.container("directus").await?, project.container("cache").await?);
            ensure!(app2 != app, "directus was not recreated with the new tag");
            ensure!(cache2 == cache, "cache was recreated though its image did not change");
            let out = exec(&e, &app2, "cat /version /directus/uploads/cat.jpg /directus/database/data.db").await?;
            ensure!(out.lines().collect::<Vec<_>>() == ["9.0.0", "upload", "rows"], "after the upgrade: {out:?}");
            Ok(skip(
                SkipKind::Environment,
                "the recreate passed; `compose pull` would reach an image registry, and the suite has none to offer it",
            ))
        }),
    )
    .await
}
