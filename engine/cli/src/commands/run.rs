//! `run`, `create`, `start`, `attach` and `exec`: the commands that start processes and relay
//! their streams (5.1.29, 5.3).

use super::images::{path_escape, query_escape};
use crate::flags::{parse_bool, Flag, Parsed};
use crate::stream::{relay, terminal_size, RawTerminal};
use crate::{CliError, Session};
use berth_api::container::{Config, Empty, Healthcheck};
use berth_api::containers::{
    CreateRequest, CreateResponse, HostConfig, MountSpec, PortBinding, RestartPolicy, TmpfsOptions, WaitResponse,
};
use berth_client::{Client, ClientError};
use http::{Method, StatusCode};
use std::collections::BTreeMap;
use std::io::Write;

#[rustfmt::skip]
pub const RUN_FLAGS: &[Flag] = &[
    Flag::multi(Some('a'), "attach", "Attach to stdin, stdout or stderr"),
    Flag::value(Some('c'), "cpu-shares", "0", "CPU shares (relative weight)"),
    Flag::value(None, "cidfile", "", "Write the container ID to the file"),
    Flag::boolean(Some('d'), "detach", false, "Detached mode: run the container in the background and print its id"),
    Flag::multi(Some('e'), "env", "Set environment variables"),
    Flag::multi(None, "env-file", "Read environment variables from a file"),
    Flag::value(Some('h'), "hostname", "", "Container host name"),
    Flag::boolean(Some('i'), "interactive", false, "Keep stdin open even if not attached"),
    Flag::boolean(None, "privileged", false, "Give extended privileges to this container"),
    Flag::value(Some('m'), "memory", "", "Memory limit (format: <number><optional unit>, where unit = b, k, m or g)"),
    Flag::value(None, "memory-swap", "", "Memory plus swap limit; -1 for unlimited swap"),
    Flag::boolean(Some('n'), "networking", true, "Enable networking for this container"),
    Flag::multi(Some('p'), "publish", "Map a network port to the container"),
    Flag::boolean(Some('P'), "publish-all", false, "Publish all exposed ports to the host interfaces"),
    Flag::boolean(None, "rm", false, "Automatically remove the container when it exits (incompatible with -d)"),
    Flag::boolean(Some('t'), "tty", false, "Allocate a pseudo-tty"),
    Flag::value(Some('u'), "user", "", "Username or UID[:GID]"),
    Flag::multi(None, "dns", "Set custom dns servers for the container"),
    Flag::multi(None, "dns-search", "Set custom dns search domains"),
    Flag::multi(Some('v'), "volume", "Mount a new volume (/container-path), a host path or a named volume: [host-path|name:]container-path[:ro|rw]"),
    Flag::multi(None, "volumes-from", "Mount all volumes from the given container(s)"),
    Flag::value(None, "entrypoint", "", "Overwrite the default entrypoint set by the image"),
    Flag::value(Some('w'), "workdir", "", "Working directory inside the container"),
    Flag::multi(None, "lxc-conf", "Add custom lxc options (not supported: berth has no LXC driver)"),
    Flag::boolean(None, "sig-proxy", true, "Proxy all received signals to the process (non-tty mode)"),
    Flag::multi(None, "expose", "Expose a port from the container without publishing it to your host"),
    Flag::multi(None, "link", "Add link to another container (name:alias)"),
    Flag::value(None, "name", "", "Assign the specified name to the container"),
    Flag::value(None, "net", "", "Network: bridge, none, host or container:NAME"),
    Flag::value(None, "network", "", "Network: bridge, none, host or container:NAME"),
    Flag::multi(None, "network-alias", "Add a network-scoped alias for the container"),
    Flag::value(None, "ip", "", "IPv4 address on a user-defined network (e.g. 172.30.100.104)"),
    Flag::multi(None, "tmpfs", "Mount a tmpfs: PATH[:OPTIONS]"),
    Flag::multi(None, "mount", "Attach a file system mount: type=bind|volume|tmpfs,source=...,target=...[,readonly][,volume-nocopy]"),
    Flag::boolean(None, "read-only", false, "Mount the container's root file system read-only"),
    Flag::multi(None, "security-opt", "Security options (no-new-privileges)"),
    Flag::multi(None, "cap-add", "Add Linux capabilities"),
    Flag::multi(None, "cap-drop", "Drop Linux capabilities"),
    Flag::value(None, "restart", "no", "Restart policy: no, always, on-failure[:N], unless-stopped"),
    Flag::value(None, "pids-limit", "0", "Tune the container's pids limit"),
    Flag::multi(Some('l'), "label", "Set metadata on the container"),
    Flag::value(None, "stop-signal", "", "Signal to stop the container"),
    Flag::value(None, "health-cmd", "", "Command to run to check health"),
    Flag::value(None, "health-interval", "", "Time between running the check"),
    Flag::value(None, "health-timeout", "", "Maximum time to allow one check to run"),
    Flag::value(None, "health-retries", "0", "Consecutive failures needed to report unhealthy"),
    Flag::value(None, "health-start-period", "", "Start period before failures count"),
    Flag::boolean(None, "no-healthcheck", false, "Disable any container-specified HEALTHCHECK"),
    Flag::value(None, "pid", "", "PID namespace to use (host)"),
    Flag::value(None, "ipc", "", "IPC namespace to use (host)"),
    Flag::value(None, "uts", "", "UTS namespace to use (host)"),
    Flag::multi(None, "group-add", "Add additional groups to join"),
    Flag::value(None, "detach-keys", "", "Override the key sequence for detaching a container"),
];

fn usage(command: &'static str, message: impl Into<String>) -> CliError {
    CliError::usage(message, Some(command))
}

/// `512m` and the like, in bytes.
pub fn parse_memory(text: &str) -> Result<i64, String> {
    let text = text.trim().to_ascii_lowercase();
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit() && c != '.') {
        Some(i) => text.split_at(i),
        None => (text.as_str(), ""),
    };
    let factor: f64 = match unit.trim_end_matches('b') {
        "" if unit.is_empty() || unit == "b" => 1.0,
        "k" => 1024.0,
        "m" => 1024.0 * 1024.0,
        "g" => 1024.0 * 1024.0 * 1024.0,
        _ => return Err(format!("invalid size {text:?}: use a number with an optional b, k, m or g")),
    };
    let value: f64 =
        number.parse().map_err(|_| format!("invalid size {text:?}: use a number with an optional b, k, m or g"))?;
    Ok((value * factor) as i64)
}

/// A Go duration (`30s`, `1m30s`, `500ms`) in nanoseconds.
pub fn parse_duration(text: &str) -> Result<i64, String> {
    let bad = || format!("invalid duration {text:?}: such as 30s, 1m30s or 500ms");
    let mut total = 0f64;
    let mut rest = text;
    while !rest.is_empty() {
        let split = rest.find(|c: char| !c.is_ascii_digit() && c != '.').ok_or_else(bad)?;
        let (number, tail) = rest.split_at(split);
        let unit_len = tail.find(|c: char| c.is_ascii_digit()).unwrap_or(tail.len());
        let (unit, next) = tail.split_at(unit_len);
        let n: f64 = number.parse().map_err(|_| bad())?;
        let scale = match unit {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return Err(bad()),
        };
        total += n * scale;
        rest = next;
    }
    if text.is_empty() {
        return Err(bad());
    }
    Ok(total as i64)
}

fn env_files(paths: &[String]) -> Result<Vec<String>, CliError> {
    let mut env = Vec::new();
    for path in paths {
        let text =
            std::fs::read_to_string(path).map_err(|e| CliError::Failed(format!("cannot read env file {path}: {e}")))?;
        for line in text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
            env.push(expand_env(line));
        }
    }
    Ok(env)
}

/// `-e NAME` takes the value from this process's environment, as Docker does.
fn expand_env(entry: &str) -> String {
    if entry.contains('=') {
        return entry.to_string();
    }
    match std::env::var(entry) {
        Ok(value) => format!("{entry}={value}"),
        Err(_) => entry.to_string(),
    }
}

/// `8080`, `80:8080`, `127.0.0.1:80:8080`, `127.0.0.1::8080`, each with an optional `/udp`.
pub fn parse_publish(spec: &str) -> Result<(String, PortBinding), String> {
    let (ports, proto) = spec.rsplit_once('/').unwrap_or((spec, "tcp"));
    let parts: Vec<&str> = ports.split(':').collect();
    let (ip, host, container) = match parts.as_slice() {
        [c] => ("", "", *c),
        [h, c] => ("", *h, *c),
        [ip, h, c] => (*ip, *h, *c),
        _ => return Err(format!("invalid port specification {spec:?}")),
    };
    let valid = |p: &str| p.is_empty() || p.parse::<u16>().is_ok_and(|n| n > 0);
    if container.is_empty() || !valid(container) || !valid(host) || !matches!(proto, "tcp" | "udp") {
        return Err(format!("invalid port specification {spec:?}"));
    }
    Ok((format!("{container}/{proto}"), PortBinding { host_ip: ip.to_string(), host_port: host.to_string() }))
}

/// `-v` values: a lone container path asks for a new volume (Config.Volumes, as the docker
/// CLI sends it); the others are binds or named volumes (HostConfig.Binds).
fn split_volumes(values: &[String]) -> (Option<BTreeMap<String, Empty>>, Option<Vec<String>>) {
    let (anonymous, binds): (Vec<&String>, Vec<&String>) = values.iter().partition(|v| !v.contains(':'));
    let anonymous: BTreeMap<String, Empty> = anonymous.into_iter().map(|v| (v.clone(), Empty {})).collect();
    let binds: Vec<String> = binds.into_iter().cloned().collect();
    ((!anonymous.is_empty()).then_some(anonymous), (!binds.is_empty()).then_some(binds))
}

fn parse_mount(spec: &str) -> Result<MountSpec, String> {
    let mut mount = MountSpec { kind: "volume".into(), ..Default::default() };
    let mut tmpfs = TmpfsOptions::default();
    let mut volume = serde_json::json!({});
    let mut bind = serde_json::Map::new();
    for field in spec.split(',').filter(|f| !f.is_empty()) {
        let (key, value) = field.split_once('=').unwrap_or((field, ""));
        match key {
            "type" => mount.kind = value.to_string(),
            "source" | "src" => mount.source = value.to_string(),
            "target" | "destination" | "dst" => mount.target = value.to_string(),
            "readonly" | "ro" => mount.read_only = value.is_empty() || parse_bool(value).unwrap_or(false),
            "tmpfs-size" => tmpfs.size_bytes = parse_memory(value)?,
            "tmpfs-mode" => {
                tmpfs.mode = u32::from_str_radix(value, 8).map_err(|_| format!("invalid tmpfs-mode {value:?}"))?
            }
            "volume-nocopy" => volume["NoCopy"] = (value.is_empty() || parse_bool(value).unwrap_or(false)).into(),
            "volume-label" | "volume-opt" => {
                let (k, v) = value.split_once('=').ok_or_else(|| format!("invalid {key} {value:?}: use key=value"))?;
                let map =
                    if key == "volume-label" { &mut volume["Labels"] } else { &mut volume["DriverConfig"]["Options"] };
                map[k] = v.into();
            }
            "volume-driver" => volume["DriverConfig"]["Name"] = value.into(),
            "bind-propagation" => {
                bind.insert("Propagation".into(), value.into());
            }
            "consistency" => {}
            other => return Err(format!("unexpected key {other:?} in --mount {spec:?}")),
        }
    }
    if volume.as_object().is_some_and(|v| !v.is_empty()) {
        mount.volume_options = Some(volume);
    }
    if !bind.is_empty() {
        mount.bind_options = Some(serde_json::Value::Object(bind));
    }
    if mount.target.is_empty() {
        return Err(format!("target is required in --mount {spec:?}"));
    }
    if !matches!(mount.kind.as_str(), "bind" | "volume" | "tmpfs") {
        return Err(format!("invalid mount type {:?} in --mount {spec:?}: use bind, volume or tmpfs", mount.kind));
    }
    if mount.kind == "tmpfs" {
        mount.tmpfs_options = Some(tmpfs);
    }
    Ok(mount)
}

/// The create request a `run`/`create` command line describes.
pub fn create_request(flags: &Parsed, command: &'static str) -> Result<(CreateRequest, Option<String>), CliError> {
    let spec = RUN_FLAGS;
    let Some((image, cmd)) = flags.args.split_first() else {
        return Err(usage(command, format!("\"berth {command}\" requires at least 1 argument: IMAGE")));
    };
    let attach: Vec<String> = flags.all("attach").iter().map(|a| a.to_lowercase()).collect();
    if let Some(bad) = attach.iter().find(|a| !matches!(a.as_str(), "stdin" | "stdout" | "stderr")) {
        return Err(usage(command, format!("invalid argument {bad:?} for -a: use stdin, stdout or stderr")));
    }
    let detach = flags.bool(spec, "detach");
    let interactive = flags.bool(spec, "interactive");
    let mut env = env_files(flags.all("env-file"))?;
    env.extend(flags.all("env").iter().map(|e| expand_env(e)));
    let value = |name: &str| flags.last(name).filter(|v| !v.is_empty()).map(String::from);
    let number = |name: &str| {
        let parse =
            |v: String| v.parse::<i64>().map_err(|_| usage(command, format!("invalid --{name} {v:?}: give a number")));
        value(name).map(parse).transpose()
    };
    let memory = value("memory").map(|m| parse_memory(&m)).transpose().map_err(|e| usage(command, e))?.unwrap_or(0);
    let memory_swap = match value("memory-swap").as_deref() {
        Some("-1") => -1,
        Some(m) => parse_memory(m).map_err(|e| usage(command, e))?,
        None => 0,
    };
    let mut exposed: BTreeMap<String, Empty> = BTreeMap::new();
    let mut bindings: BTreeMap<String, Option<Vec<PortBinding>>> = BTreeMap::new();
    for p in flags.all("publish") {
        let (port, binding) = parse_publish(p).map_err(|e| usage(command, e))?;
        exposed.insert(port.clone(), Empty {});
        bindings.entry(port).or_insert_with(|| Some(Vec::new())).get_or_insert_with(Vec::new).push(binding);
    }
    for e in flags.all("expose") {
        let port = if e.contains('/') { e.clone() } else { format!("{e}/tcp") };
        exposed.insert(port, Empty {});
    }
    let network =
        if !flags.bool(spec, "networking") { Some("none".to_string()) } else { value("network").or(value("net")) };
    let restart = value("restart").unwrap_or_default();
    let (policy, retries) = restart.split_once(':').map_or((restart.as_str(), "0"), |(p, n)| (p, n));
    let mut labels = BTreeMap::new();
    for l in flags.all("label") {
        let (k, v) = l.split_once('=').unwrap_or((l, ""));
        labels.insert(k.to_string(), v.to_string());
    }
    let healthcheck = health(flags, command)?;
    let mut tmpfs = BTreeMap::new();
    for t in flags.all("tmpfs") {
        let (path, options) = t.split_once(':').unwrap_or((t, ""));
        tmpfs.insert(path.to_string(), options.to_string());
    }
    let mounts: Vec<MountSpec> =
        flags.all("mount").iter().map(|m| parse_mount(m)).collect::<Result<_, _>>().map_err(|e| usage(command, e))?;
    let some_list = |v: &[String]| (!v.is_empty()).then(|| v.to_vec());
    let lxc: Vec<serde_json::Value> = flags
        .all("lxc-conf")
        .iter()
        .map(|c| {
            let (k, v) = c.split_once('=').unwrap_or((c, ""));
            serde_json::json!({"Key": k.trim(), "Value": v.trim()})
        })
        .collect();
    let config = Config {
        hostname: value("hostname").unwrap_or_default(),
        user: value("user").unwrap_or_default(),
        attach_stdin: !detach && (interactive || attach.iter().any(|a| a == "stdin")),
        attach_stdout: !detach && (attach.is_empty() || attach.iter().any(|a| a == "stdout")),
        attach_stderr: !detach && (attach.is_empty() || attach.iter().any(|a| a == "stderr")),
        tty: flags.bool(spec, "tty"),
        open_stdin: interactive,
        stdin_once: interactive && !detach,
        env: Some(env),
        cmd: (!cmd.is_empty()).then(|| cmd.to_vec()),
        entrypoint: flags.last("entrypoint").filter(|_| flags.given("entrypoint")).map(|e| vec![e.to_string()]),
        image: image.clone(),
        volumes: split_volumes(flags.all("volume")).0,
        working_dir: value("workdir").unwrap_or_default(),
        exposed_ports: (!exposed.is_empty()).then_some(exposed),
        labels: (!labels.is_empty()).then_some(labels),
        stop_signal: value("stop-signal").unwrap_or_default(),
        healthcheck,
        network_disabled: network.as_deref() == Some("none") && !flags.bool(spec, "networking"),
        ..Default::default()
    };
    let host = HostConfig {
        binds: split_volumes(flags.all("volume")).1,
        container_id_file: value("cidfile").unwrap_or_default(),
        lxc_conf: (!lxc.is_empty()).then(|| serde_json::Value::Array(lxc)),
        memory,
        memory_swap,
        cpu_shares: number("cpu-shares")?.unwrap_or(0),
        pids_limit: number("pids-limit")?.filter(|p| *p != 0),
        privileged: flags.bool(spec, "privileged"),
        port_bindings: (!bindings.is_empty()).then_some(bindings),
        links: some_list(flags.all("link")),
        publish_all_ports: flags.bool(spec, "publish-all"),
        dns: some_list(flags.all("dns")),
        dns_search: some_list(flags.all("dns-search")),
        volumes_from: some_list(flags.all("volumes-from")),
        network_mode: network.unwrap_or_else(|| "default".into()),
        restart_policy: RestartPolicy {
            name: policy.to_string(),
            maximum_retry_count: retries
                .parse()
                .map_err(|_| usage(command, format!("invalid restart policy {restart:?}")))?,
        },
        auto_remove: flags.bool(spec, "rm"),
        cap_add: some_list(flags.all("cap-add")),
        cap_drop: some_list(flags.all("cap-drop")),
        readonly_rootfs: flags.bool(spec, "read-only"),
        security_opt: some_list(flags.all("security-opt")),
        tmpfs: (!tmpfs.is_empty()).then_some(tmpfs),
        mounts: (!mounts.is_empty()).then_some(mounts),
        pid_mode: value("pid").unwrap_or_default(),
        ipc_mode: value("ipc").unwrap_or_default(),
        uts_mode: value("uts").unwrap_or_default(),
        group_add: some_list(flags.all("group-add")),
        ..Default::default()
    };
    let aliases = flags.all("network-alias");
    let ip = value("ip");
    let networking_config = match host.network_mode.as_str() {
        _ if aliases.is_empty() && ip.is_none() => None,
        "default" | "bridge" | "none" | "host" => {
            return Err(usage(command, "network-scoped aliases and --ip are only supported for user-defined networks"))
        }
        mode => Some(serde_json::json!({"EndpointsConfig": {mode: {
            "Aliases": aliases,
            "IPAMConfig": ip.map(|ip| serde_json::json!({"IPv4Address": ip})),
        }}})),
    };
    Ok((CreateRequest { config, host_config: Some(host), networking_config }, value("name")))
}

fn health(flags: &Parsed, command: &'static str) -> Result<Option<Healthcheck>, CliError> {
    if flags.bool(RUN_FLAGS, "no-healthcheck") {
        return Ok(Some(Healthcheck { test: Some(vec!["NONE".into()]), ..Default::default() }));
    }
    let duration = |name: &str| -> Result<i64, CliError> {
        flags
            .last(name)
            .filter(|v| !v.is_empty())
            .map(parse_duration)
            .transpose()
            .map_err(|e| usage(command, e))
            .map(|d| d.unwrap_or(0))
    };
    let cmd = flags.last("health-cmd").filter(|c| !c.is_empty());
    let any = cmd.is_some()
        || ["health-interval", "health-timeout", "health-start-period"].iter().any(|f| flags.given(f))
        || flags.given("health-retries");
    if !any {
        return Ok(None);
    }
    Ok(Some(Healthcheck {
        test: cmd.map(|c| vec!["CMD-SHELL".to_string(), c.to_string()]),
        interval: duration("health-interval")?,
        timeout: duration("health-timeout")?,
        start_period: duration("health-start-period")?,
        retries: flags
            .last("health-retries")
            .unwrap_or("0")
            .parse()
            .map_err(|_| usage(command, "invalid --health-retries"))?,
    }))
}

/// Creates the container; an image that is not here is pulled first, as `run` does.
async fn create(client: &Client, request: &CreateRequest, name: Option<&str>) -> Result<CreateResponse, CliError> {
    let path = match name {
        Some(n) => format!("/containers/create?name={}", query_escape(n)),
        None => "/containers/create".into(),
    };
    let body = serde_json::to_vec(request).map_err(|e| CliError::Failed(e.to_string()))?;
    let reply = client.call(Method::POST, &path, Some(body.clone().into())).await?;
    if reply.status == StatusCode::NOT_FOUND && reply.body.windows(13).any(|w| w == b"No such image") {
        eprintln!("Unable to find image '{}' locally", request.config.image);
        let pull = client
            .call(Method::POST, &format!("/images/create?fromImage={}", query_escape(&request.config.image)), None)
            .await?;
        berth_client::check(pull)?;
        let again = client.call(Method::POST, &path, Some(body.into())).await?;
        return Ok(berth_client::check(again)?.json()?);
    }
    Ok(berth_client::check(reply)?.json()?)
}

fn cidfile_guard(path: &str) -> Result<(), CliError> {
    if !path.is_empty() && std::path::Path::new(path).exists() {
        return Err(CliError::Failed(format!(
            "Container ID file found, make sure the other container isn't running or delete {path}"
        )));
    }
    Ok(())
}

pub fn create_cmd(session: &mut Session, flags: &Parsed) -> Result<i32, CliError> {
    let (request, name) = create_request(flags, "create")?;
    let cidfile = request.host_config.as_ref().map(|h| h.container_id_file.clone()).unwrap_or_default();
    cidfile_guard(&cidfile)?;
    let client = session.client()?;
    let created = session.block_on(create(&client, &request, name.as_deref())).map_err(as_create_error)?;
    write_cidfile(&cidfile, &created.id)?;
    for warning in &created.warnings {
        eprintln!("WARNING: {warning}");
    }
    writeln!(session.out, "{}", created.id)?;
    Ok(0)
}

fn write_cidfile(path: &str, id: &str) -> Result<(), CliError> {
    if !path.is_empty() {
        std::fs::write(path, id)
            .map_err(|e| CliError::Failed(format!("cannot write the container ID file {path}: {e}")))?;
    }
    Ok(())
}

/// Errors before the container runs exit 125, as the docker CLI does.
fn as_create_error(e: CliError) -> CliError {
    match e {
        CliError::Client(ClientError::Api { message, .. }) => {
            CliError::Exit { code: 125, message: format!("Error response from daemon: {message}") }
        }
        other => other,
    }
}

/// A failed start: 127 for a command not found, 126 for one that cannot run, else 125.
fn as_start_error(e: CliError) -> CliError {
    match e {
        CliError::Client(ClientError::Api { message, .. }) => {
            let lower = message.to_lowercase();
            let code = if lower.contains("not found") || lower.contains("no such file") {
                127
            } else if lower.contains("permission denied") {
                126
            } else {
                125
            };
            CliError::Exit { code, message: format!("Error response from daemon: {message}") }
        }
        other => other,
    }
}

pub fn run(session: &mut Session, flags: &Parsed) -> Result<i32, CliError> {
    let (request, name) = create_request(flags, "run")?;
    let detach = flags.bool(RUN_FLAGS, "detach");
    let auto_remove = flags.bool(RUN_FLAGS, "rm");
    if detach && auto_remove {
        return Err(usage("run", "Conflicting options: --rm and -d"));
    }
    let cidfile = request.host_config.as_ref().map(|h| h.container_id_file.clone()).unwrap_or_default();
    cidfile_guard(&cidfile)?;
    let client = session.client()?;
    let created = session.block_on(create(&client, &request, name.as_deref())).map_err(as_create_error)?;
    write_cidfile(&cidfile, &created.id)?;
    for warning in &created.warnings {
        eprintln!("WARNING: {warning}");
    }
    let id = created.id;
    if detach {
        session.block_on(start(&client, &id)).map_err(as_start_error)?;
        writeln!(session.out, "{id}")?;
        return Ok(0);
    }
    let c = &request.config;
    let options = AttachOptions {
        stdin: c.attach_stdin,
        stdout: c.attach_stdout,
        stderr: c.attach_stderr,
        tty: c.tty,
        sig_proxy: flags.bool(RUN_FLAGS, "sig-proxy") && !c.tty,
        detach_keys: flags.last("detach-keys").unwrap_or("").to_string(),
    };
    session.out.flush()?;
    let code = session.block_on(attach_start_wait(&client, &id, &options, true, auto_remove))?;
    Ok(code)
}

/// How to attach.
pub struct AttachOptions {
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    pub tty: bool,
    pub sig_proxy: bool,
    pub detach_keys: String,
}

async fn start(client: &Client, id: &str) -> Result<(), CliError> {
    let reply = client.call(Method::POST, &format!("/containers/{}/start", path_escape(id)), None).await?;
    berth_client::check(reply)?;
    Ok(())
}

/// Attaches, (optionally) starts, relays until the output ends, and returns the exit code.
async fn attach_start_wait(
    client: &Client,
    id: &str,
    o: &AttachOptions,
    do_start: bool,
    removed: bool,
) -> Result<i32, CliError> {
    let mut path = format!(
        "/containers/{}/attach?stream=1&stdin={}&stdout={}&stderr={}",
        path_escape(id),
        u8::from(o.stdin),
        u8::from(o.stdout),
        u8::from(o.stderr)
    );
    if !o.detach_keys.is_empty() {
        path.push_str(&format!("&detachKeys={}", query_escape(&o.detach_keys)));
    }
    let condition = if removed { "removed" } else { "next-exit" };
    let wait_client = client.clone();
    let wait_path = format!("/containers/{}/wait?condition={condition}", path_escape(id));
    let waiter = tokio::spawn(async move { wait_client.call(Method::POST, &wait_path, None).await });
    let hijacked = client.hijack(Method::POST, &path, None).await?;
    let _raw = RawTerminal::enter(o.tty && o.stdin);
    // The handlers go in before the container starts: a signal that comes once it has
    // printed anything must reach it, not end this process.
    let signals = if o.sig_proxy { proxied_signals() } else { Vec::new() };
    if do_start {
        start(client, id).await.map_err(as_start_error)?;
    }
    if o.tty {
        resize(client, id).await;
    }
    let proxy = o.sig_proxy.then(|| tokio::spawn(proxy_signals(client.clone(), id.to_string(), signals)));
    let keys = if o.detach_keys.is_empty() {
        crate::stream::DEFAULT_DETACH.to_vec()
    } else {
        detach_key_bytes(&o.detach_keys)
    };
    let relayed = crate::stream::relay_with(hijacked, o.stdin, !o.tty, &keys).await;
    drop(_raw);
    if let Some(proxy) = proxy {
        proxy.abort();
    }
    if relayed.map_err(|e| CliError::Failed(format!("the stream broke: {e}")))? {
        // Detached: the container runs on; there is no exit code to wait for.
        waiter.abort();
        return Ok(0);
    }
    let reply = waiter.await.map_err(|e| CliError::Failed(e.to_string()))??;
    let status: WaitResponse = berth_client::check(reply)?.json()?;
    Ok(status.status_code as i32)
}

/// `ctrl-p,ctrl-q` as bytes.
fn detach_key_bytes(text: &str) -> Vec<u8> {
    text.split(',')
        .filter_map(|key| match key.strip_prefix("ctrl-") {
            Some(k) if k.len() == 1 => Some(k.as_bytes()[0].to_ascii_lowercase().wrapping_sub(b'a' - 1) & 0x1f),
            Some(_) => None,
            None => key.bytes().next(),
        })
        .collect()
}

async fn resize(client: &Client, id: &str) {
    if let Some((rows, cols)) = terminal_size() {
        let _ =
            client.call(Method::POST, &format!("/containers/{}/resize?h={rows}&w={cols}", path_escape(id)), None).await;
    }
}

/// Handlers for the signals `--sig-proxy` passes on, each with its name.
fn proxied_signals() -> Vec<(tokio::signal::unix::Signal, &'static str)> {
    use tokio::signal::unix::{signal, SignalKind};
    let kinds = [
        (SignalKind::interrupt(), "INT"),
        (SignalKind::terminate(), "TERM"),
        (SignalKind::hangup(), "HUP"),
        (SignalKind::quit(), "QUIT"),
        (SignalKind::user_defined1(), "USR1"),
        (SignalKind::user_defined2(), "USR2"),
    ];
    kinds.into_iter().filter_map(|(kind, name)| signal(kind).ok().map(|s| (s, name))).collect()
}

/// Passes the signals a user sends this process on to the container (`--sig-proxy`).
async fn proxy_signals(client: Client, id: String, mut streams: Vec<(tokio::signal::unix::Signal, &'static str)>) {
    while !streams.is_empty() {
        let next = futures_util::future::select_all(
            streams.iter_mut().map(|(s, name)| Box::pin(async move { s.recv().await.map(|_| *name) })),
        )
        .await;
        let Some(name) = next.0 else { return };
        let _ = client.call(Method::POST, &format!("/containers/{}/kill?signal={name}", path_escape(&id)), None).await;
    }
}

pub const START_FLAGS: &[Flag] = &[
    Flag::boolean(
        Some('a'),
        "attach",
        false,
        "Attach container's stdout/stderr and forward all signals to the process",
    ),
    Flag::boolean(Some('i'), "interactive", false, "Attach container's stdin"),
];

pub fn start_cmd(session: &mut Session, flags: &Parsed) -> Result<i32, CliError> {
    if flags.args.is_empty() {
        return Err(usage("start", "\"berth start\" requires at least 1 argument: CONTAINER"));
    }
    let client = session.client()?;
    if flags.bool(START_FLAGS, "attach") || flags.bool(START_FLAGS, "interactive") {
        let [name] = flags.args.as_slice() else {
            return Err(usage("start", "you cannot start and attach multiple containers at once"));
        };
        let info: serde_json::Value =
            session.block_on(client.get_json(&format!("/containers/{}/json", path_escape(name))))?;
        let tty = info["Config"]["Tty"].as_bool().unwrap_or(false);
        let stdin = flags.bool(START_FLAGS, "interactive") && info["Config"]["OpenStdin"].as_bool().unwrap_or(false);
        let options =
            AttachOptions { stdin, stdout: true, stderr: true, tty, sig_proxy: !tty, detach_keys: String::new() };
        return session.block_on(attach_start_wait(&client, name, &options, true, false));
    }
    let mut failed = false;
    for name in &flags.args {
        match session.block_on(start(&client, name)) {
            Ok(()) => writeln!(session.out, "{name}")?,
            Err(e) => {
                failed = true;
                eprintln!("{}", e.report());
            }
        }
    }
    if failed {
        return Err(CliError::Failed("failed to start one or more containers".into()));
    }
    Ok(0)
}

pub const ATTACH_FLAGS: &[Flag] = &[
    Flag::boolean(None, "no-stdin", false, "Do not attach stdin"),
    Flag::boolean(None, "sig-proxy", true, "Proxy all received signals to the process (non-tty mode)"),
    Flag::value(None, "detach-keys", "", "Override the key sequence for detaching a container"),
];

pub fn attach_cmd(session: &mut Session, flags: &Parsed) -> Result<i32, CliError> {
    let [name] = flags.args.as_slice() else {
        return Err(usage("attach", "\"berth attach\" requires exactly 1 argument: CONTAINER"));
    };
    let client = session.client()?;
    let info: serde_json::Value =
        session.block_on(client.get_json(&format!("/containers/{}/json", path_escape(name))))?;
    if !info["State"]["Running"].as_bool().unwrap_or(false) {
        return Err(CliError::Failed("You cannot attach to a stopped container, start it first".into()));
    }
    let tty = info["Config"]["Tty"].as_bool().unwrap_or(false);
    let stdin = !flags.bool(ATTACH_FLAGS, "no-stdin") && info["Config"]["OpenStdin"].as_bool().unwrap_or(false);
    let options = AttachOptions {
        stdin,
        stdout: true,
        stderr: true,
        tty,
        sig_proxy: flags.bool(ATTACH_FLAGS, "sig-proxy") && !tty,
        detach_keys: flags.last("detach-keys").unwrap_or("").to_string(),
    };
    let id = info["Id"].as_str().unwrap_or(name).to_string();
    session.block_on(attach_start_wait(&client, &id, &options, false, false))
}

pub const EXEC_FLAGS: &[Flag] = &[
    Flag::boolean(Some('d'), "detach", false, "Detached mode: run the command in the background"),
    Flag::boolean(Some('i'), "interactive", false, "Keep stdin open even if not attached"),
    Flag::boolean(Some('t'), "tty", false, "Allocate a pseudo-tty"),
    Flag::value(Some('u'), "user", "", "Username or UID[:GID]"),
    Flag::value(Some('w'), "workdir", "", "Working directory inside the container"),
    Flag::multi(Some('e'), "env", "Set environment variables"),
    Flag::boolean(None, "privileged", false, "Give extended privileges to the command"),
];

pub fn exec_cmd(session: &mut Session, flags: &Parsed) -> Result<i32, CliError> {
    let Some((name, cmd)) = flags.args.split_first().filter(|(_, c)| !c.is_empty()) else {
        return Err(usage("exec", "\"berth exec\" requires at least 2 arguments: CONTAINER COMMAND"));
    };
    let spec = EXEC_FLAGS;
    let (detach, tty, interactive) =
        (flags.bool(spec, "detach"), flags.bool(spec, "tty"), flags.bool(spec, "interactive"));
    let config = serde_json::json!({
        "AttachStdin": interactive && !detach, "AttachStdout": !detach, "AttachStderr": !detach, "Tty": tty,
        "Cmd": cmd, "Env": flags.all("env"), "User": flags.last("user").unwrap_or(""),
        "WorkingDir": flags.last("workdir").unwrap_or(""), "Privileged": flags.bool(spec, "privileged"),
    });
    let client = session.client()?;
    let created = session.block_on(client.call(
        Method::POST,
        &format!("/containers/{}/exec", path_escape(name)),
        Some(config.to_string().into()),
    ))?;
    let exec_id =
        berth_client::check(created)?.json::<serde_json::Value>()?["Id"].as_str().unwrap_or_default().to_string();
    let start_body = serde_json::json!({"Detach": detach, "Tty": tty}).to_string();
    if detach {
        session
            .block_on(client.call(Method::POST, &format!("/exec/{exec_id}/start"), Some(start_body.into())))
            .and_then(berth_client::check)?;
        return Ok(0);
    }
    session.block_on(async {
        let hijacked = client
            .hijack(Method::POST, &format!("/exec/{exec_id}/start"), Some(start_body.into()))
            .await
            .map_err(|e| as_start_error(e.into()))?;
        let _raw = RawTerminal::enter(tty && interactive);
        let detached =
            relay(hijacked, interactive, !tty).await.map_err(|e| CliError::Failed(format!("the stream broke: {e}")))?;
        if detached {
            return Ok(0);
        }
        drop(_raw);
        for _ in 0..100 {
            let info: serde_json::Value = client.get_json(&format!("/exec/{exec_id}/json")).await?;
            if !info["Running"].as_bool().unwrap_or(false) {
                return Ok(info["ExitCode"].as_i64().unwrap_or(0) as i32);
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        Ok::<i32, CliError>(0)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("512m", 512 << 20)]
    #[case("1g", 1 << 30)]
    #[case("100k", 100 << 10)]
    #[case("4096", 4096)]
    #[case("2MB", 2 << 20)]
    fn memory_sizes(#[case] text: &str, #[case] want: i64) {
        assert_eq!(parse_memory(text).unwrap(), want);
    }

    #[test]
    fn bad_sizes_and_durations() {
        assert!(parse_memory("lots").is_err());
        assert!(parse_memory("5t").is_err());
        assert_eq!(parse_duration("1m30s").unwrap(), 90_000_000_000);
        assert_eq!(parse_duration("500ms").unwrap(), 500_000_000);
        assert!(parse_duration("soon").is_err());
    }

    #[rstest]
    #[case("8080", "8080/tcp", "", "")]
    #[case("80:8080", "8080/tcp", "", "80")]
    #[case("127.0.0.1:80:8080/udp", "8080/udp", "127.0.0.1", "80")]
    #[case("127.0.0.1::8080", "8080/tcp", "127.0.0.1", "")]
    fn publish_forms(#[case] spec: &str, #[case] port: &str, #[case] ip: &str, #[case] host: &str) {
        let (p, b) = parse_publish(spec).unwrap();
        assert_eq!((p.as_str(), b.host_ip.as_str(), b.host_port.as_str()), (port, ip, host));
        assert!(parse_publish("a:b:c:d").is_err());
        assert!(parse_publish("80/sctp").is_err());
    }

    #[test]
    fn run_line_to_request() {
        let words: Vec<String> = "-d --name web -e A=1 -m 64m -u 1000 -w /tmp --rm=false --net=none busybox sh -c true"
            .split(' ')
            .map(String::from)
            .collect();
        let flags = crate::flags::parse(RUN_FLAGS, &words, false).unwrap();
        let (req, name) = create_request(&flags, "run").unwrap();
        assert_eq!(name.as_deref(), Some("web"));
        assert_eq!(req.config.cmd.unwrap(), ["sh", "-c", "true"]);
        let host = req.host_config.unwrap();
        assert_eq!((host.memory, host.network_mode.as_str()), (64 << 20, "none"));
        assert!(!req.config.attach_stdout, "detached runs attach nothing");
    }

    #[test]
    fn volume_flags_to_request() {
        let words: Vec<String> = [
            "-v",
            "/data",
            "-v",
            "cache:/c:ro",
            "--volumes-from",
            "DATA:ro",
            "--mount",
            "type=volume,source=v1,target=/v,volume-nocopy,volume-label=k=v,volume-opt=type=tmpfs",
            "--mount",
            "type=bind,source=/srv,target=/s,bind-propagation=rshared",
            "busybox",
        ]
        .map(String::from)
        .to_vec();
        let flags = crate::flags::parse(RUN_FLAGS, &words, false).unwrap();
        let (req, _) = create_request(&flags, "run").unwrap();
        assert_eq!(req.config.volumes.unwrap().keys().collect::<Vec<_>>(), ["/data"]);
        let host = req.host_config.unwrap();
        assert_eq!(host.binds.unwrap(), ["cache:/c:ro"]);
        assert_eq!(host.volumes_from.unwrap(), ["DATA:ro"]);
        let mounts = host.mounts.unwrap();
        assert_eq!(
            mounts[0].volume_options,
            Some(
                serde_json::json!({"NoCopy": true, "Labels": {"k": "v"}, "DriverConfig": {"Options": {"type": "tmpfs"}}})
            )
        );
        assert_eq!(mounts[1].bind_options, Some(serde_json::json!({"Propagation": "rshared"})));
    }
}
