//! Container commands that do not stream a process: ps, logs, stop, restart, kill, rm, wait,
//! top, diff, export, commit, rename, port, cp and events.

use super::images::{path_escape, query_escape};
use crate::flags::{Flag, Parsed};
use crate::output::{ago, human_size, short_id, Table};
use crate::{CliError, Session};
use berth_api::containers::{ChangeItem, Summary, TopResponse};
use berth_client::Client;
use http::Method;
use http_body_util::BodyExt;
use std::io::{IsTerminal, Write};

fn usage(command: &'static str, message: impl Into<String>) -> CliError {
    CliError::usage(message, Some(command))
}

fn need_args(flags: &Parsed, command: &'static str, what: &str) -> Result<(), CliError> {
    if flags.args.is_empty() {
        return Err(usage(command, format!("\"berth {command}\" requires at least 1 argument: {what}")));
    }
    Ok(())
}

#[rustfmt::skip]
pub const PS_FLAGS: &[Flag] = &[
    Flag::boolean(Some('a'), "all", false, "Show all containers. Only running containers are shown by default."),
    Flag::boolean(None, "no-trunc", false, "Don't truncate output"),
    Flag::boolean(Some('q'), "quiet", false, "Only display numeric IDs"),
    Flag::boolean(Some('s'), "size", false, "Display sizes"),
    Flag::boolean(Some('l'), "latest", false, "Show only the latest created container, include non-running ones"),
    Flag::value(Some('n'), "last", "-1", "Show n last created containers, include non-running ones"),
    Flag::value(None, "since", "", "Show only containers created since Id, include non-running ones"),
    Flag::value(None, "before", "", "Show only containers created before Id, include non-running ones"),
    Flag::multi(Some('f'), "filter", "Filter output (status=exited, name=..., label=...)"),
];

pub fn ps(session: &mut Session, flags: &Parsed) -> Result<i32, CliError> {
    let spec = PS_FLAGS;
    let mut query = vec![format!("all={}", u8::from(flags.bool(spec, "all")))];
    let last = if flags.bool(spec, "latest") {
        1
    } else {
        flags.last("last").unwrap_or("-1").parse::<i64>().map_err(|_| usage("ps", "-n takes a number"))?
    };
    if last > 0 {
        query.push(format!("limit={last}"));
    }
    for key in ["since", "before"] {
        if let Some(v) = flags.last(key).filter(|v| !v.is_empty()) {
            query.push(format!("{key}={}", query_escape(v)));
        }
    }
    if flags.bool(spec, "size") {
        query.push("size=1".into());
    }
    let mut filters: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for f in flags.all("filter") {
        let (k, v) = f
            .split_once('=')
            .ok_or_else(|| usage("ps", format!("bad format of filter {f:?} (expected name=value)")))?;
        filters.entry(k.to_string()).or_default().push(v.to_string());
    }
    if !filters.is_empty() {
        query.push(format!("filters={}", query_escape(&serde_json::to_string(&filters).unwrap_or_default())));
    }
    let client = session.client()?;
    let list: Vec<Summary> = session.block_on(client.get_json(&format!("/containers/json?{}", query.join("&"))))?;
    let no_trunc = flags.bool(spec, "no-trunc");
    if flags.bool(spec, "quiet") {
        for c in &list {
            writeln!(session.out, "{}", if no_trunc { c.id.as_str() } else { short_id(&c.id) })?;
        }
        return Ok(0);
    }
    write!(session.out, "{}", render_ps(&list, no_trunc, flags.bool(spec, "size")))?;
    Ok(0)
}

/// `Exited (3) 5 seconds ago` as the 2014 CLI showed it: `Exit 3`.
fn status_2014(status: &str) -> String {
    let code = status.strip_prefix("Exited (").and_then(|rest| rest.split_once(')')).map(|(code, _)| code);
    match code {
        Some(code) => format!("Exit {code}"),
        None => status.to_string(),
    }
}

pub fn render_ps(list: &[Summary], no_trunc: bool, size: bool) -> String {
    let mut table = Table::default();
    let mut header = vec!["CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"];
    if size {
        header.push("SIZE");
    }
    table.row(header);
    for c in list {
        let command = if no_trunc || c.command.chars().count() <= 20 {
            c.command.clone()
        } else {
            format!("{}...", c.command.chars().take(17).collect::<String>())
        };
        let ports: Vec<String> = c
            .ports
            .iter()
            .map(|p| match p.public_port {
                Some(public) => format!(
                    "{}:{public}->{}/{}",
                    if p.ip.is_empty() { "0.0.0.0" } else { &p.ip },
                    p.private_port,
                    p.kind
                ),
                None => format!("{}/{}", p.private_port, p.kind),
            })
            .collect();
        let names: Vec<&str> = c.names.iter().map(|n| n.trim_start_matches('/')).collect();
        let mut row = vec![
            if no_trunc { c.id.clone() } else { short_id(&c.id).to_string() },
            c.image.clone(),
            format!("\"{command}\""),
            ago(c.created),
            status_2014(&c.status),
            ports.join(", "),
            names.join(","),
        ];
        if size {
            row.push(format!(
                "{} (virtual {})",
                human_size(c.size_rw.unwrap_or(0)),
                human_size(c.size_root_fs.unwrap_or(0))
            ));
        }
        table.row(row);
    }
    table.render()
}

#[rustfmt::skip]
pub const LOGS_FLAGS: &[Flag] = &[
    Flag::boolean(Some('f'), "follow", false, "Follow log output"),
    Flag::boolean(Some('t'), "timestamps", false, "Show timestamps"),
    Flag::value(None, "tail", "all", "Output the specified number of lines at the end of logs"),
    Flag::value(None, "since", "", "Show logs since a Unix timestamp"),
];

pub fn logs(session: &mut Session, flags: &Parsed) -> Result<i32, CliError> {
    let [name] = flags.args.as_slice() else {
        return Err(usage("logs", "\"berth logs\" requires exactly 1 argument: CONTAINER"));
    };
    let spec = LOGS_FLAGS;
    let mut path = format!(
        "/containers/{}/logs?stdout=1&stderr=1&follow={}&timestamps={}&tail={}",
        path_escape(name),
        u8::from(flags.bool(spec, "follow")),
        u8::from(flags.bool(spec, "timestamps")),
        query_escape(flags.last("tail").unwrap_or("all"))
    );
    if let Some(since) = flags.last("since").filter(|s| !s.is_empty()) {
        path.push_str(&format!("&since={}", query_escape(since)));
    }
    let client = session.client()?;
    session.block_on(async {
        let info: serde_json::Value = client.get_json(&format!("/containers/{}/json", path_escape(name))).await?;
        let framed = !info["Config"]["Tty"].as_bool().unwrap_or(false);
        let hijacked = client.hijack(Method::GET, &path, None).await?;
        crate::stream::relay(hijacked, false, framed).await.map_err(|e| CliError::Failed(e.to_string()))
    })?;
    Ok(0)
}

/// Runs one request per container, printing each name that succeeded; any failure makes the
/// command fail after trying them all.
fn for_each(
    session: &mut Session,
    flags: &Parsed,
    command: &'static str,
    method: Method,
    path: impl Fn(&str) -> String,
) -> Result<i32, CliError> {
    need_args(flags, command, "CONTAINER")?;
    let client = session.client()?;
    let mut failed = false;
    for name in &flags.args {
        // `/redis` names the container `redis`, as 5.1.27 shows.
        match session
            .block_on(client.call(method.clone(), &path(name.trim_start_matches('/')), None))
            .and_then(berth_client::check)
        {
            Ok(_) => writeln!(session.out, "{name}")?,
            Err(e) => {
                failed = true;
                eprintln!("{}", CliError::from(e).report());
            }
        }
    }
    if failed {
        return Err(CliError::Failed(format!("failed to {command} one or more containers")));
    }
    Ok(0)
}

pub const STOP_FLAGS: &[Flag] =
    &[Flag::value(Some('t'), "time", "10", "Number of seconds to wait for the container to stop before killing it")];

pub fn stop(session: &mut Session, flags: &Parsed) -> Result<i32, CliError> {
    let t =
        flags.last("time").unwrap_or("10").parse::<u64>().map_err(|_| usage("stop", "-t takes a number of seconds"))?;
    for_each(session, flags, "stop", Method::POST, |n| format!("/containers/{}/stop?t={t}", path_escape(n)))
}

pub fn restart(session: &mut Session, flags: &Parsed) -> Result<i32, CliError> {
    let t = flags
        .last("time")
        .unwrap_or("10")
        .parse::<u64>()
        .map_err(|_| usage("restart", "-t takes a number of seconds"))?;
    for_each(session, flags, "restart", Method::POST, |n| format!("/containers/{}/restart?t={t}", path_escape(n)))
}

pub const KILL_FLAGS: &[Flag] = &[Flag::value(Some('s'), "signal", "KILL", "Signal to send to the container")];

pub fn kill(session: &mut Session, flags: &Parsed) -> Result<i32, CliError> {
    let signal = query_escape(flags.last("signal").unwrap_or("KILL"));
    for_each(session, flags, "kill", Method::POST, |n| format!("/containers/{}/kill?signal={signal}", path_escape(n)))
}

#[rustfmt::skip]
pub const RM_FLAGS: &[Flag] = &[
    Flag::boolean(Some('f'), "force", false, "Force removal of running container"),
    Flag::boolean(Some('l'), "link", false, "Remove the specified link and not the underlying container"),
    Flag::boolean(Some('v'), "volumes", false, "Remove the volumes associated to the container"),
];

pub fn rm(session: &mut Session, flags: &Parsed) -> Result<i32, CliError> {
    let q = format!(
        "force={}&link={}&v={}",
        u8::from(flags.bool(RM_FLAGS, "force")),
        u8::from(flags.bool(RM_FLAGS, "link")),
        u8::from(flags.bool(RM_FLAGS, "volumes"))
    );
    for_each(session, flags, "rm", Method::DELETE, |n| format!("/containers/{}?{q}", path_escape(n)))
}

pub fn wait(session: &mut Session, flags: &Parsed) -> Result<i32, CliError> {
    need_args(flags, "wait", "CONTAINER")?;
    let client = session.client()?;
    let mut failed = false;
    for name in &flags.args {
        let result = session
            .block_on(client.call(Method::POST, &format!("/containers/{}/wait", path_escape(name)), None))
            .and_then(berth_client::check);
        match result.and_then(|r| Ok(r.json::<serde_json::Value>()?)) {
            Ok(v) => writeln!(session.out, "{}", v["StatusCode"].as_i64().unwrap_or(-1))?,
            Err(e) => {
                failed = true;
                eprintln!("{}", CliError::from(e).report());
            }
        }
    }
    if failed {
        return Err(CliError::Failed("failed to wait for one or more containers".into()));
    }
    Ok(0)
}

pub fn top(session: &mut Session, flags: &Parsed) -> Result<i32, CliError> {
    let Some((name, ps_args)) = flags.args.split_first() else {
        return Err(usage("top", "\"berth top\" requires at least 1 argument: CONTAINER"));
    };
    let mut path = format!("/containers/{}/top", path_escape(name));
    if !ps_args.is_empty() {
        path.push_str(&format!("?ps_args={}", query_escape(&ps_args.join(" "))));
    }
    let client = session.client()?;
    let top: TopResponse = session.block_on(client.get_json(&path))?;
    let mut table = Table::default();
    table.row(top.titles.clone());
    for row in top.processes {
        table.row(row);
    }
    write!(session.out, "{}", table.render())?;
    Ok(0)
}

pub fn diff(session: &mut Session, flags: &Parsed) -> Result<i32, CliError> {
    let [name] = flags.args.as_slice() else {
        return Err(usage("diff", "\"berth diff\" requires exactly 1 argument: CONTAINER"));
    };
    let client = session.client()?;
    let changes: Vec<ChangeItem> =
        session.block_on(client.get_json(&format!("/containers/{}/changes", path_escape(name))))?;
    for change in changes {
        let kind = match change.kind {
            0 => "C",
            1 => "A",
            2 => "D",
            _ => "?",
        };
        writeln!(session.out, "{kind} {}", change.path)?;
    }
    Ok(0)
}

pub const EXPORT_FLAGS: &[Flag] = &[Flag::value(Some('o'), "output", "", "Write to a file instead of standard output")];

pub fn export(session: &mut Session, flags: &Parsed) -> Result<i32, CliError> {
    let [name] = flags.args.as_slice() else {
        return Err(usage("export", "\"berth export\" requires exactly 1 argument: CONTAINER"));
    };
    let output = flags.last("output").filter(|o| !o.is_empty());
    if output.is_none() && std::io::stdout().is_terminal() {
        return Err(CliError::Failed(
            "refusing to write a tar archive to a terminal: use -o FILE or redirect standard output".into(),
        ));
    }
    let client = session.client()?;
    let sink: Box<dyn Write> = match output {
        Some(file) => Box::new(std::io::BufWriter::new(std::fs::File::create(file)?)),
        None => Box::new(std::io::stdout().lock()),
    };
    session.block_on(download(&client, &format!("/containers/{}/export", path_escape(name)), sink))?;
    Ok(0)
}

async fn download(client: &Client, path: &str, mut sink: Box<dyn Write>) -> Result<(), CliError> {
    let response = client.stream(Method::GET, path, berth_client::body_from_bytes(Default::default()), None).await?;
    let mut body = response.into_body();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| CliError::Failed(format!("the archive was cut short: {e}")))?;
        if let Some(data) = frame.data_ref() {
            sink.write_all(data)?;
        }
    }
    sink.flush()?;
    Ok(())
}

#[rustfmt::skip]
pub const COMMIT_FLAGS: &[Flag] = &[
    Flag::value(Some('m'), "message", "", "Commit message"),
    Flag::value(Some('a'), "author", "", "Author (eg. \"John Hannibal Smith <hannibal@a-team.com>\")"),
    Flag::value(None, "run", "", "Config automatically applied when the image is run, as JSON (eg. '{\"Cmd\": [\"cat\", \"/world\"], \"PortSpecs\": [\"22\"]}')"),
];

pub fn commit(session: &mut Session, flags: &Parsed) -> Result<i32, CliError> {
    let (name, target) = match flags.args.as_slice() {
        [name] => (name, None),
        [name, target] => (name, Some(target.as_str())),
        _ => return Err(usage("commit", "\"berth commit\" requires 1 or 2 arguments: CONTAINER [REPOSITORY[:TAG]]")),
    };
    let mut path = format!("/commit?container={}", query_escape(name));
    if let Some((repo, tag)) = target.map(super::images::split_repo_tag) {
        path.push_str(&format!("&repo={}", query_escape(repo)));
        if let Some(tag) = tag {
            path.push_str(&format!("&tag={}", query_escape(tag)));
        }
    }
    for (flag, key) in [("message", "comment"), ("author", "author")] {
        if let Some(v) = flags.last(flag).filter(|v| !v.is_empty()) {
            path.push_str(&format!("&{key}={}", query_escape(v)));
        }
    }
    let body = match flags.last("run").filter(|r| !r.is_empty()) {
        Some(run) => {
            serde_json::from_str::<serde_json::Value>(run)
                .map_err(|e| usage("commit", format!("--run is not valid JSON: {e}")))?;
            Some(run.to_string().into())
        }
        None => None,
    };
    let client = session.client()?;
    let reply = session.block_on(client.call(Method::POST, &path, body)).and_then(berth_client::check)?;
    let id =
        reply.json::<serde_json::Value>()?["Id"].as_str().unwrap_or_default().trim_start_matches("sha256:").to_string();
    writeln!(session.out, "{id}")?;
    Ok(0)
}

pub fn rename(session: &mut Session, flags: &Parsed) -> Result<i32, CliError> {
    let [old, new] = flags.args.as_slice() else {
        return Err(usage("rename", "\"berth rename\" requires exactly 2 arguments: OLD_NAME NEW_NAME"));
    };
    let client = session.client()?;
    session
        .block_on(client.call(
            Method::POST,
            &format!("/containers/{}/rename?name={}", path_escape(old), query_escape(new)),
            None,
        ))
        .and_then(berth_client::check)?;
    Ok(0)
}

pub fn port(session: &mut Session, flags: &Parsed) -> Result<i32, CliError> {
    let (name, wanted) = match flags.args.as_slice() {
        [name] => (name, None),
        [name, port] => (name, Some(if port.contains('/') { port.clone() } else { format!("{port}/tcp") })),
        _ => return Err(usage("port", "\"berth port\" requires 1 or 2 arguments: CONTAINER [PRIVATE_PORT[/PROTO]]")),
    };
    let client = session.client()?;
    let info: serde_json::Value =
        session.block_on(client.get_json(&format!("/containers/{}/json", path_escape(name))))?;
    let ports = info["NetworkSettings"]["Ports"].as_object().cloned().unwrap_or_default();
    let mut found = false;
    for (port, bindings) in &ports {
        if wanted.as_ref().is_some_and(|w| w != port) {
            continue;
        }
        for b in bindings.as_array().into_iter().flatten() {
            found = true;
            let address =
                format!("{}:{}", b["HostIp"].as_str().unwrap_or("0.0.0.0"), b["HostPort"].as_str().unwrap_or(""));
            if wanted.is_some() {
                writeln!(session.out, "{address}")?;
            } else {
                writeln!(session.out, "{port} -> {address}")?;
            }
        }
    }
    match wanted {
        Some(w) if !found => Err(CliError::Failed(format!("No public port '{w}' published for {name}"))),
        _ => Ok(0),
    }
}

/// `cp CONTAINER:PATH HOSTDIR` (5.1.8) and today's `cp HOSTPATH CONTAINER:DIR`.
pub fn cp(session: &mut Session, flags: &Parsed) -> Result<i32, CliError> {
    let [from, to] = flags.args.as_slice() else {
        return Err(usage("cp", "\"berth cp\" requires exactly 2 arguments"));
    };
    let client = session.client()?;
    match (from.split_once(':'), to.split_once(':')) {
        (Some((container, path)), None) => {
            let reply = session
                .block_on(client.call(
                    Method::GET,
                    &format!("/containers/{}/archive?path={}", path_escape(container), query_escape(path)),
                    None,
                ))
                .and_then(berth_client::check)?;
            std::fs::create_dir_all(to).map_err(|e| CliError::Failed(format!("cannot create {to}: {e}")))?;
            tar::Archive::new(&reply.body[..])
                .unpack(to)
                .map_err(|e| CliError::Failed(format!("cannot unpack into {to}: {e}")))?;
            Ok(0)
        }
        (None, Some((container, path))) => {
            let source = std::path::Path::new(from);
            let name = source.file_name().ok_or_else(|| usage("cp", format!("cannot copy {from}: it has no name")))?;
            let mut builder = tar::Builder::new(Vec::new());
            builder.follow_symlinks(false);
            let added = if source.is_dir() {
                builder.append_dir_all(name, source)
            } else {
                builder.append_path_with_name(source, name)
            };
            added.map_err(|e| CliError::Failed(format!("cannot read {from}: {e}")))?;
            let tar = builder.into_inner().map_err(|e| CliError::Failed(e.to_string()))?;
            let path = format!("/containers/{}/archive?path={}", path_escape(container), query_escape(path));
            let reply = session.block_on(client.request(
                Method::PUT,
                &path,
                berth_client::body_from_bytes(tar.into()),
                Some("application/x-tar"),
            ));
            let collected = session.block_on(async {
                Ok::<_, CliError>(reply?.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default())
            });
            collected.map(|_| 0)
        }
        _ => Err(usage(
            "cp",
            "copying between two containers or two host paths is not supported: give CONTAINER:PATH on one side",
        )),
    }
}

pub const EVENTS_FLAGS: &[Flag] = &[
    Flag::value(None, "since", "", "Show previously created events and then stream"),
    Flag::value(None, "until", "", "Stream events until this timestamp"),
    Flag::multi(Some('f'), "filter", "Filter output (container=..., image=..., event=...)"),
];

pub fn events(session: &mut Session, flags: &Parsed) -> Result<i32, CliError> {
    let mut query = Vec::new();
    for key in ["since", "until"] {
        if let Some(v) = flags.last(key).filter(|v| !v.is_empty()) {
            let value = crate::output::event_time(v).ok_or_else(|| {
                usage(
                    "events",
                    format!("invalid --{key} {v:?}: give seconds since the epoch or a date (2014-01-31, or RFC 3339)"),
                )
            })?;
            query.push(format!("{key}={value}"));
        }
    }
    let mut filters: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for f in flags.all("filter") {
        let (k, v) = f.split_once('=').ok_or_else(|| usage("events", format!("bad format of filter {f:?}")))?;
        filters.entry(k.to_string()).or_default().push(v.to_string());
    }
    if !filters.is_empty() {
        query.push(format!("filters={}", query_escape(&serde_json::to_string(&filters).unwrap_or_default())));
    }
    let client = session.client()?;
    let path = format!("/events?{}", query.join("&"));
    let out = &mut session.out;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async {
        let response =
            client.stream(Method::GET, &path, berth_client::body_from_bytes(Default::default()), None).await?;
        super::each_line(response.into_body(), |line| {
            if let Ok(event) = serde_json::from_slice::<berth_api::containers::Event>(line) {
                writeln!(out, "{}", crate::output::render_event(&event))?;
                out.flush()?;
            }
            Ok(None::<()>)
        })
        .await
    })?;
    Ok(0)
}
