//! The container endpoints: create, list, inspect, start, stop, restart, kill, wait, remove,
//! rename, resize, top, logs and changes, in the 1.41 shapes and the 2014 ones.

use super::response::{empty, json, ApiError, Reply};
use super::Ctx;
use crate::containers::lifecycle::{status_text, WaitFor};
use crate::containers::record::Container;
use crate::containers::{logs, mounts, signals, ContainerError};
use crate::engine::Engine;
use berth_api::containers::{CreateRequest, CreateResponse, HostConfig, Summary, WaitResponse};
use http::StatusCode;
use serde_json::{json as j, Value};
use std::sync::Arc;
use std::time::Duration;

impl From<ContainerError> for ApiError {
    fn from(e: ContainerError) -> ApiError {
        let status = match &e {
            ContainerError::NoSuch(_) | ContainerError::NotFound(_) => StatusCode::NOT_FOUND,
            ContainerError::Conflict(_) => StatusCode::CONFLICT,
            ContainerError::Invalid(_) => StatusCode::BAD_REQUEST,
            ContainerError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError::new(status, e.to_string())
    }
}

pub(super) fn id_param(ctx: &Ctx) -> Result<String, ApiError> {
    let name = ctx.params.get("id").ok_or_else(|| ApiError::bad_request("no container in the path"))?;
    Ok(ctx.engine.containers.resolve(name)?)
}

pub(super) async fn read_body(ctx: &mut Ctx) -> Result<bytes::Bytes, ApiError> {
    use http_body_util::BodyExt;
    let body = ctx.take_body()?;
    Ok(body
        .collect()
        .await
        .map_err(|e| ApiError::bad_request(format!("cannot read the request body: {e}")))?
        .to_bytes())
}

/// A request body as `T`. Clients send `null` for fields they leave unset (bollard, docker-py),
/// which means the same as leaving them out, so nulls are dropped before reading.
pub(super) fn parse_json<T: serde::de::DeserializeOwned + Default>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    let mut value: Value = serde_json::from_slice(bytes)
        .map_err(|e| ApiError::bad_request(format!("invalid JSON in the request body: {e}")))?;
    drop_nulls(&mut value);
    serde_json::from_value(value).map_err(|e| ApiError::bad_request(format!("invalid request body: {e}")))
}

fn drop_nulls(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|_, v| !v.is_null());
            map.values_mut().for_each(drop_nulls);
        }
        Value::Array(items) => items.iter_mut().for_each(drop_nulls),
        _ => {}
    }
}

pub async fn create(mut ctx: Ctx) -> Result<Reply, ApiError> {
    let request: CreateRequest = parse_json(&read_body(&mut ctx).await?)?;
    let name = ctx.query.get("name").map(String::from);
    let engine = ctx.engine.clone();
    let old = ctx.version.before(1, 10);
    let driver = engine.images.driver_name().to_string();
    let (record, warnings) = tokio::task::spawn_blocking(move || {
        crate::containers::create::create(
            &engine.containers,
            &engine.images,
            name.as_deref(),
            request,
            &driver,
            &engine.net,
            &engine.volumes,
        )
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))??;
    ctx.engine.events.container("create", &record.id, &ctx.engine.event_image(&record), &record.name, &[]);
    let id = record.id.clone();
    if old {
        return json(
            StatusCode::CREATED,
            &j!({"Id": id, "Warnings": if warnings.is_empty() { Value::Null } else { j!(warnings) }}),
        );
    }
    json(StatusCode::CREATED, &CreateResponse { id, warnings })
}

pub async fn start(mut ctx: Ctx) -> Result<Reply, ApiError> {
    let id = id_param(&ctx)?;
    let body = read_body(&mut ctx).await?;
    if ctx.version.before(1, 24) && !body.iter().all(u8::is_ascii_whitespace) {
        let host: HostConfig = parse_json(&body)?;
        ctx.engine.containers.update(&id, |c| merge_start_host_config(&mut c.host_config, host))?;
    }
    if ctx.engine.start_container(&id).await? {
        Ok(empty(StatusCode::NO_CONTENT))
    } else {
        Ok(empty(StatusCode::NOT_MODIFIED))
    }
}

/// API < 1.24 sent HostConfig with `start` (v1.3); what it sets replaces the create-time one.
fn merge_start_host_config(current: &mut HostConfig, given: HostConfig) {
    let mode = std::mem::take(&mut current.network_mode);
    *current = given;
    if current.network_mode.is_empty() {
        current.network_mode = mode;
    }
}

fn timeout(ctx: &Ctx) -> Result<Duration, ApiError> {
    Ok(Duration::from_secs(ctx.query.int("t")?.unwrap_or(10).max(0) as u64))
}

pub async fn stop(ctx: Ctx) -> Result<Reply, ApiError> {
    let id = id_param(&ctx)?;
    let stopped = ctx.engine.stop_container(&id, timeout(&ctx)?).await?;
    Ok(empty(if stopped { StatusCode::NO_CONTENT } else { StatusCode::NOT_MODIFIED }))
}

pub async fn restart(ctx: Ctx) -> Result<Reply, ApiError> {
    let id = id_param(&ctx)?;
    ctx.engine.restart_container(&id, timeout(&ctx)?).await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

pub async fn kill(ctx: Ctx) -> Result<Reply, ApiError> {
    let id = id_param(&ctx)?;
    let name = ctx.query.get("signal").filter(|s| !s.is_empty()).unwrap_or("KILL");
    let signal = signals::parse(name).ok_or_else(|| ApiError::bad_request(format!("Invalid signal: {name}")))?;
    ctx.engine.kill_container(&id, signal)?;
    Ok(empty(StatusCode::NO_CONTENT))
}

pub async fn wait(ctx: Ctx) -> Result<Reply, ApiError> {
    let id = id_param(&ctx)?;
    let condition = match ctx.query.get("condition").unwrap_or("") {
        "" | "not-running" => WaitFor::NotRunning,
        "next-exit" => WaitFor::NextExit,
        "removed" => WaitFor::Removed,
        other => {
            return Err(ApiError::bad_request(format!(
                "invalid condition {other:?}: use not-running, next-exit or removed"
            )))
        }
    };
    let waiting = ctx.engine.waiter(&id, condition)?;
    let old = ctx.version.before(1, 10);
    let chunk = futures_util::stream::once(async move {
        let body = match waiting.await {
            Ok(code) if old => j!({"StatusCode": code}),
            Ok(code) => j!(WaitResponse { status_code: code, error: None }),
            Err(e) => j!({"StatusCode": -1, "Error": {"Message": e.to_string()}}),
        };
        let mut line = serde_json::to_vec(&body).unwrap_or_default();
        line.push(b'\n');
        Ok::<_, std::io::Error>(hyper::body::Frame::data(bytes::Bytes::from(line)))
    });
    let mut reply = http::Response::new(http_body_util::BodyExt::boxed_unsync(http_body_util::StreamBody::new(chunk)));
    reply.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
    Ok(reply)
}

pub async fn remove(ctx: Ctx) -> Result<Reply, ApiError> {
    if ctx.query.bool("link", false)? {
        let path = ctx.params.get("id").unwrap_or_default().to_string();
        let engine = ctx.engine.clone();
        tokio::task::spawn_blocking(move || engine.remove_link(&path))
            .await
            .map_err(|e| ApiError::internal(e.to_string()))??;
        return Ok(empty(StatusCode::NO_CONTENT));
    }
    let id = id_param(&ctx)?;
    let force = ctx.query.bool("force", false)?;
    let volumes = ctx.query.bool("v", false)?;
    ctx.engine.remove_container(&id, force, volumes).await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

pub async fn rename(ctx: Ctx) -> Result<Reply, ApiError> {
    let id = id_param(&ctx)?;
    let name = ctx
        .query
        .get("name")
        .filter(|n| !n.is_empty())
        .ok_or_else(|| ApiError::bad_request("give the new name as ?name="))?;
    if !crate::containers::names::valid(name) {
        return Err(ApiError::bad_request(format!(
            "Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
        )));
    }
    ctx.engine.containers.rename(&id, &format!("/{}", name.trim_start_matches('/')))?;
    Ok(empty(StatusCode::NO_CONTENT))
}

pub async fn resize(ctx: Ctx) -> Result<Reply, ApiError> {
    let id = id_param(&ctx)?;
    let (h, w) = (ctx.query.int("h")?.unwrap_or(0), ctx.query.int("w")?.unwrap_or(0));
    let monitor = ctx.engine.containers.with(&id, |e| e.monitor.clone())?;
    let monitor = monitor.ok_or_else(|| ApiError::conflict(format!("Container {id} is not running")))?;
    monitor
        .resize(h.clamp(0, u16::MAX as i64) as u16, w.clamp(0, u16::MAX as i64) as u16)
        .map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(empty(StatusCode::OK))
}

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

fn created_unix(record: &Container) -> i64 {
    berth_api::time::parse_rfc3339(&record.created).unwrap_or(0)
}

fn command(record: &Container) -> String {
    std::iter::once(record.path.as_str()).chain(record.args.iter().map(String::as_str)).collect::<Vec<_>>().join(" ")
}

/// `GET /containers/json`: running containers, or all; newest first; `limit`, `since`,
/// `before`, `size` and today's `filters`.
pub async fn list(ctx: Ctx) -> Result<Reply, ApiError> {
    let all = ctx.query.bool("all", false)?;
    let limit = ctx.query.int("limit")?.filter(|l| *l > 0);
    let size = ctx.query.bool("size", false)?;
    let filters = super::images::filters(&ctx)?;
    let mut records = ctx.engine.containers.list();
    records.sort_by_key(|r| std::cmp::Reverse((created_unix(r), r.created.clone())));
    let position = |records: &[Container], name: &str| -> Result<usize, ApiError> {
        let id = ctx.engine.containers.resolve(name)?;
        Ok(records.iter().position(|r| r.id == id).unwrap_or(0))
    };
    if let Some(before) = ctx.query.get("before").filter(|b| !b.is_empty()) {
        let at = position(&records, before)?;
        records.drain(..=at);
    }
    if let Some(since) = ctx.query.get("since").filter(|s| !s.is_empty()) {
        let at = position(&records, since)?;
        records.truncate(at);
    }
    let shown_all = all || limit.is_some() || ctx.query.get("since").is_some() || ctx.query.get("before").is_some();
    records.retain(|r| (shown_all || r.state.running) && matches_filters(r, &filters));
    if let Some(limit) = limit {
        records.truncate(limit as usize);
    }
    let old = ctx.version.before(1, 10);
    let links = super::networks::link_names(&ctx.engine.containers.list());
    let entries: Vec<Value> = records.iter().map(|r| summary(&ctx.engine, r, size, old, &links)).collect();
    json(StatusCode::OK, &entries)
}

fn matches_filters(record: &Container, filters: &std::collections::BTreeMap<String, Vec<String>>) -> bool {
    let label = |v: &String| {
        let labels = record.config.labels.clone().unwrap_or_default();
        match v.split_once('=') {
            Some((k, val)) => labels.get(k).is_some_and(|x| x == val),
            None => labels.contains_key(v),
        }
    };
    filters.iter().all(|(key, values)| {
        // Every label asked for must be there; for the other keys one value is enough.
        if key == "label" {
            return values.iter().all(label);
        }
        values.iter().any(|v| match key.as_str() {
            "status" => record.state.status() == v,
            "network" => record.networks.contains_key(v.as_str()) || record.host_config.network_mode == *v,
            "health" => {
                let status = record.state.health.as_ref().map_or("none", |h| h.status.as_str());
                status == v
            }
            "name" => record.plain_name().contains(v.trim_start_matches('/')),
            "id" => record.id.starts_with(v.as_str()),
            "exited" => !record.state.running && record.state.exit_code.to_string() == *v,
            "ancestor" => record.config.image == *v || record.image.ends_with(v.trim_start_matches("sha256:")),
            "volume" => record.mount_points.iter().any(|m| m.name == *v || m.destination == *v || m.source == *v),
            _ => true,
        })
    })
}

fn summary(
    engine: &Arc<Engine>,
    record: &Container,
    size: bool,
    old: bool,
    links: &std::collections::HashMap<String, Vec<String>>,
) -> Value {
    let mut names = vec![record.name.clone()];
    names.extend(links.get(&record.id).into_iter().flatten().cloned());
    let (size_rw, size_root) = if size { sizes(engine, record) } else { (None, None) };
    if old {
        let status = if record.state.running {
            status_text(record, now())
        } else if record.state.ghost {
            "Ghost".into()
        } else {
            format!("Exit {}", record.state.exit_code)
        };
        let mut v = j!({
            "Id": record.id, "Image": engine.image_label(record), "Command": command(record), "Created": created_unix(record),
            "Status": status, "Ports": super::networks::summary_ports(record), "Names": names,
        });
        if size {
            v["SizeRw"] = j!(size_rw.unwrap_or(0));
            v["SizeRootFs"] = j!(size_root.unwrap_or(0));
        }
        return v;
    }
    let s = Summary {
        id: record.id.clone(),
        names,
        image: engine.image_label(record),
        image_id: record.image.clone(),
        command: command(record),
        created: created_unix(record),
        ports: super::networks::summary_ports(record)
            .into_iter()
            .filter_map(|p| serde_json::from_value(p).ok())
            .collect(),
        size_rw,
        size_root_fs: size_root,
        labels: record.config.labels.clone().unwrap_or_default(),
        state: record.state.status().to_string(),
        status: status_text(record, now()),
        host_config: j!({"NetworkMode": record.host_config.network_mode}),
        network_settings: super::networks::summary_networks(engine, record),
        mounts: mounts::inspect_mounts(&record.mount_points, &engine.volumes)
            .into_iter()
            .filter_map(|m| serde_json::to_value(m).ok())
            .collect(),
    };
    serde_json::to_value(s).unwrap_or(Value::Null)
}

/// The read-write layer's size and the whole root's (image plus changes).
fn sizes(engine: &Arc<Engine>, record: &Container) -> (Option<i64>, Option<i64>) {
    let rw = engine.containers.paths(&record.id).rw();
    let upper = if rw.join("upper").exists() { rw.join("upper") } else { rw.join("root") };
    let changed = du(&upper);
    let image = engine.images.get(&record.image).map_or(0, |i| i.size);
    (Some(changed), Some(image + changed))
}

fn du(path: &std::path::Path) -> i64 {
    let Ok(meta) = std::fs::symlink_metadata(path) else { return 0 };
    if !meta.is_dir() {
        return meta.len() as i64;
    }
    std::fs::read_dir(path).map_or(0, |d| d.flatten().map(|e| du(&e.path())).sum())
}

pub async fn inspect(ctx: Ctx) -> Result<Reply, ApiError> {
    let id = id_param(&ctx)?;
    let record = ctx.engine.containers.get(&id)?;
    let size = ctx.query.bool("size", false)?;
    json(StatusCode::OK, &inspect_value(&ctx.engine, &record, size, ctx.version.before(1, 10)))
}

fn inspect_value(engine: &Arc<Engine>, record: &Container, size: bool, old: bool) -> Value {
    let paths = engine.containers.paths(&record.id);
    let s = &record.state;
    let (volumes, volumes_rw) = mounts::legacy_volumes(&record.mount_points, &engine.volumes);
    if old {
        return j!({
            "Id": record.id, "Created": record.created, "Path": record.path, "Args": record.args,
            "Config": record.config,
            "State": {"Running": s.running, "Pid": s.pid, "ExitCode": s.exit_code, "StartedAt": s.started_at, "FinishedAt": s.finished_at, "Ghost": s.ghost},
            "Image": record.image.trim_start_matches("sha256:"),
            "NetworkSettings": super::networks::settings(engine, record, true),
            "ResolvConfPath": paths.resolv_conf(), "HostnamePath": paths.hostname(), "HostsPath": paths.hosts(),
            "Name": record.name, "Driver": record.driver, "ExecDriver": "berth",
            "Volumes": volumes, "VolumesRW": volumes_rw, "HostConfig": record.host_config,
        });
    }
    let mut v = j!({
        "Id": record.id, "Created": record.created, "Path": record.path, "Args": record.args,
        "State": {
            "Status": s.status(), "Running": s.running, "Paused": s.paused, "Restarting": s.restarting,
            "OOMKilled": s.oom_killed, "Dead": s.dead, "Pid": s.pid, "ExitCode": s.exit_code, "Error": s.error,
            "StartedAt": s.started_at, "FinishedAt": s.finished_at, "Ghost": s.ghost,
        },
        "Image": record.image, "ResolvConfPath": paths.resolv_conf(), "HostnamePath": paths.hostname(),
        "HostsPath": paths.hosts(), "LogPath": paths.log(&record.id), "Name": record.name,
        "RestartCount": record.restart_count, "Driver": record.driver, "Platform": "linux",
        "MountLabel": "", "ProcessLabel": "", "AppArmorProfile": "",
        "ExecIDs": if record.exec_ids.is_empty() { Value::Null } else { j!(record.exec_ids) },
        "HostConfig": record.host_config,
        "GraphDriver": {"Name": record.driver, "Data": {"UpperDir": paths.rw().join("upper"), "MergedDir": paths.rw().join("merged")}},
        "Mounts": mounts::inspect_mounts(&record.mount_points, &engine.volumes),
        "Volumes": volumes, "VolumesRW": volumes_rw, "Config": record.config,
        "NetworkSettings": super::networks::settings(engine, record, false),
    });
    if let Some(health) = &s.health {
        v["State"]["Health"] = j!(health);
    }
    if size {
        let (rw, root) = sizes(engine, record);
        v["SizeRw"] = j!(rw);
        v["SizeRootFs"] = j!(root);
    }
    v
}

/// `GET /containers/(id)/logs`: the json-file log, framed unless the container has a tty.
pub async fn logs(ctx: Ctx) -> Result<Reply, ApiError> {
    let id = id_param(&ctx)?;
    let record = ctx.engine.containers.get(&id)?;
    let q = &ctx.query;
    let options = logs::Options {
        stdout: q.bool("stdout", false)?,
        stderr: q.bool("stderr", false)?,
        since: q.int("since")?.filter(|s| *s > 0),
        until: q.int("until")?.filter(|u| *u > 0),
        tail: q
            .get("tail")
            .filter(|t| *t != "all" && !t.is_empty())
            .map(|t| t.parse::<usize>())
            .transpose()
            .map_err(|_| ApiError::bad_request("tail must be a number or all"))?,
        timestamps: q.bool("timestamps", false)?,
        follow: q.bool("follow", false)?,
    };
    if !options.stdout && !options.stderr {
        return Err(ApiError::bad_request("Bad parameters: you must choose at least one stream"));
    }
    let framed = !record.config.tty;
    let path = ctx.engine.containers.paths(&id).log(&id);
    let engine = ctx.engine.clone();
    let (mut writer, body) = super::stream::body_channel();
    tokio::task::spawn_blocking(move || {
        let running = || engine.containers.with(&id, |e| e.record.state.running).unwrap_or(false);
        let _ = logs::read(&path, &options, &running, &mut |line| {
            let (stream, data) = logs::render(line, options.timestamps);
            let bytes = if framed { berth_api::stdcopy::frame(stream, &data) } else { data };
            std::io::Write::write_all(&mut writer, &bytes).is_ok() && std::io::Write::flush(&mut writer).is_ok()
        });
    });
    let mut reply = http::Response::new(body);
    let content_type =
        if framed { "application/vnd.docker.multiplexed-stream" } else { "application/vnd.docker.raw-stream" };
    reply.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static(content_type));
    Ok(reply)
}

/// `GET /containers/(id)/changes`: A/C/D as kinds 1/0/2.
pub async fn changes(ctx: Ctx) -> Result<Reply, ApiError> {
    let id = id_param(&ctx)?;
    let engine = ctx.engine.clone();
    let changes = tokio::task::spawn_blocking(move || engine.container_changes(&id))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))??;
    let items: Vec<Value> = changes.iter().map(|c| j!({"Path": c.path, "Kind": c.kind as u8})).collect();
    json(StatusCode::OK, &items)
}
