//! The container endpoints of the Remote API (5.4.4 §2.1, the routing table and the "what's
//! new" notes of v1.3 to v1.8), `/commit`, and events through the API and the CLI (5.1.10).

use super::attach::{api_create, api_start, hijack};
use super::containers::{
    cleaning, cleaning_images, detach, epoch_seconds, exists, exit_code, idle, inspect, is_long_id, is_running, pid,
    run, text, Background, IDLE, IMAGE, SETTLE,
};
use super::run_options::{events_of, now, TempPath};
use super::Case;
use crate::case;
use crate::engine::Engine;
use crate::outcome::{skip, Outcome, SkipKind};
use anyhow::{bail, ensure, Context};
use berth_api::ApiVersion;
use http::{Method, StatusCode};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[rustfmt::skip]
pub static CASES: &[Case] = &[
    case!("api list containers", ["api.containers.list"], list),
    case!("api list sizes", ["api.v1-3.containers-size"], list_sizes),
    case!("api create", ["api.containers.create"], create),
    case!("api create name", ["api.containers.create.name"], create_name),
    case!("api inspect container", ["api.containers.inspect"], inspect_fields),
    case!("api inspect HostConfig", ["api.v1-8.container-hostconfig"], inspect_hostconfig),
    case!("api changes", ["api.containers.changes"], changes),
    case!("api export", ["api.containers.export"], export),
    case!("api start", ["api.containers.start"], start),
    case!("api start with HostConfig", ["api.v1-3.start-hostconfig"], start_hostconfig),
    case!("api stop", ["api.containers.stop"], stop),
    case!("api restart", ["api.containers.restart"], restart),
    case!("api kill", ["api.containers.kill"], kill),
    case!("api wait", ["api.containers.wait"], wait),
    case!("api delete", ["api.containers.delete"], delete),
    case!("api copy", ["api.containers.copy"], copy),
    case!("api top", ["api.containers.top", "api.v1-4.top-ps-args"], top),
    case!("api commit", ["api.commit"], commit),
    case!("api events", ["api.events", "api.v1-4.events-from"], events),
    case!("api events stream", ["api.v1-3.events-stream"], events_stream),
    case!("api events since", ["api.v1-3.events-poll"], events_poll),
    case!("events live", ["cli.events.stream"], cli_events_stream),
    case!("events image names", ["cli.events.image-name"], cli_events_image),
    case!("events --since epoch", ["cli.events.since-epoch"], cli_since_epoch),
    case!("events --since date", ["cli.events.since-date"], cli_since_date),
    case!("events --since date and time", ["cli.events.since-datetime"], cli_since_datetime),
];

fn body(reply: &berth_client::Reply) -> String {
    text(&reply.body)
}

async fn post(e: &Engine, path: &str) -> anyhow::Result<berth_client::Reply> {
    e.call(Method::POST, path).await
}

fn ids_in(list: &Value) -> Vec<String> {
    list.as_array().into_iter().flatten().filter_map(|c| c["Id"].as_str().map(String::from)).collect()
}

/// `GET /containers/json`: running only unless all=1; limit, since and before; 400 for a bad
/// parameter.
pub async fn list(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let (up, down, later) = (e.unique("listup"), e.unique("listdown"), e.unique("listlater"));
    cleaning(&e, &[&up, &down, &later], async {
        let down_id = super::containers::create(&e, &down, &[IMAGE, "true"]).await?;
        let up_id = idle(&e, &up).await?;
        let later_id = super::containers::create(&e, &later, &[IMAGE, "true"]).await?;
        let running = ids_in(&e.get("/containers/json").await?.json()?);
        ensure!(running.contains(&up_id) && !running.contains(&down_id), "the default list is not running-only");
        let all = ids_in(&e.get("/containers/json?all=1").await?.json()?);
        ensure!(all.contains(&down_id) && all.contains(&later_id), "all=1 lacks stopped containers");
        ensure!(ids_in(&e.get("/containers/json?all=1&limit=1").await?.json()?).len() == 1, "limit=1 did not give one");
        let mut problems = Vec::new();
        let since = ids_in(&e.get(&format!("/containers/json?all=1&since={up_id}")).await?.json()?);
        if !(since.contains(&later_id) && !since.contains(&up_id) && !since.contains(&down_id)) {
            problems.push(format!(
                "since=<id> is ignored ({} containers listed, the given one and older among them)",
                since.len()
            ));
        }
        let before = ids_in(&e.get(&format!("/containers/json?all=1&before={up_id}")).await?.json()?);
        if !(before.contains(&down_id) && !before.contains(&up_id) && !before.contains(&later_id)) {
            problems.push(format!(
                "before=<id> is ignored ({} containers listed, the given one and newer among them)",
                before.len()
            ));
        }
        let bad = e.get("/containers/json?limit=abc").await?;
        if bad.status != StatusCode::BAD_REQUEST {
            problems.push(format!("limit=abc answered {} ({}), not 400", bad.status, body(&bad).trim()));
        }
        ensure!(problems.is_empty(), "{}", problems.join("; "));
        Ok(Outcome::Passed)
    })
    .await
}

/// `size=1` adds SizeRw and SizeRootFs; without it they are absent or zero.
pub async fn list_sizes(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("listsize");
    cleaning(&e, &[&name], async {
        run(&e, &["--name", &name, IMAGE, "sh", "-c", "head -c 100000 /dev/zero > /written"]).await?.success()?;
        let id = inspect(&e, &name).await?["Id"].as_str().unwrap_or_default().to_string();
        let find =
            |list: Value| list.as_array().into_iter().flatten().find(|c| c["Id"] == Value::String(id.clone())).cloned();
        let sized = find(e.get("/containers/json?all=1&size=1").await?.json()?).context("not listed")?;
        ensure!(sized["SizeRw"].as_i64().is_some_and(|s| s >= 100_000), "SizeRw: {}", sized["SizeRw"]);
        ensure!(sized["SizeRootFs"].as_i64().is_some_and(|s| s >= 1_000_000), "SizeRootFs: {}", sized["SizeRootFs"]);
        let plain = find(e.get("/containers/json?all=1").await?.json()?).context("not listed")?;
        for key in ["SizeRw", "SizeRootFs"] {
            ensure!(plain.get(key).is_none_or(|v| v.as_i64() == Some(0)), "{key} without size=1: {}", plain[key]);
        }
        Ok(Outcome::Passed)
    })
    .await
}

/// `POST /containers/create`: 201 with Id and Warnings; 404 for an unknown image.
pub async fn create(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("apicreate");
    cleaning(&e, &[&name], async {
        let config = json!({"Image": IMAGE, "Cmd": ["true"], "HostConfig": {"NetworkMode": "none"}});
        let reply = e
            .api
            .call(Method::POST, &format!("/containers/create?name={name}"), Some(config.to_string().into()))
            .await?;
        ensure!(reply.status == StatusCode::CREATED, "create answered {}: {}", reply.status, body(&reply));
        let value: Value = reply.json()?;
        ensure!(value["Id"].as_str().is_some_and(is_long_id), "Id: {value}");
        ensure!(value.get("Warnings").is_some_and(|w| w.is_array() || w.is_null()), "no Warnings: {value}");
        let unknown = json!({"Image": e.unique("noimage"), "Cmd": ["true"]});
        let missing = e.api.call(Method::POST, "/containers/create", Some(unknown.to_string().into())).await?;
        ensure!(missing.status == StatusCode::NOT_FOUND, "an unknown image answered {}", missing.status);
        Ok(Outcome::Passed)
    })
    .await
}

/// `?name=` names the container; a bad name is refused, a taken one is a conflict.
pub async fn create_name(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("apiname");
    cleaning(&e, &[&name], async {
        api_create(&e, &name, json!({"Cmd": ["true"]})).await?;
        ensure!(inspect(&e, &name).await?["Name"] == Value::String(format!("/{name}")), "the name was not given");
        let config = json!({"Image": IMAGE, "Cmd": ["true"]}).to_string();
        let bad = e.api.call(Method::POST, "/containers/create?name=bad%20name!", Some(config.clone().into())).await?;
        ensure!(bad.status == StatusCode::BAD_REQUEST, "a bad name answered {}", bad.status);
        let taken = e.api.call(Method::POST, &format!("/containers/create?name={name}"), Some(config.into())).await?;
        ensure!(taken.status == StatusCode::CONFLICT, "a taken name answered {}", taken.status);
        Ok(Outcome::Passed)
    })
    .await
}

/// `GET /containers/(id)/json`: the documented fields, 404 for unknown; the Ghost flag is
/// 2014's.
pub async fn inspect_fields(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("apiinspect");
    cleaning(&e, &[&name], async {
        idle(&e, &name).await?;
        let value = inspect(&e, &name).await?;
        ensure!(value["Id"].as_str().is_some_and(is_long_id), "Id: {}", value["Id"]);
        for key in
            ["Created", "Path", "Args", "Config", "State", "Image", "NetworkSettings", "ResolvConfPath", "HostConfig"]
        {
            ensure!(value.get(key).is_some(), "no {key}");
        }
        let state = &value["State"];
        for key in ["Running", "Pid", "ExitCode", "StartedAt"] {
            ensure!(state.get(key).is_some(), "no State.{key}: {state}");
        }
        let missing = e.get(&format!("/containers/{}/json", e.unique("missing"))).await?;
        ensure!(missing.status == StatusCode::NOT_FOUND, "unknown container: {}", missing.status);
        if value.get("Volumes").is_none() || state.get("Ghost").is_none() {
            ensure!(value.get("Mounts").is_some(), "neither Volumes nor Mounts");
            return Ok(skip(
                SkipKind::Legacy,
                "the engine reports Mounts instead of Volumes and no State.Ghost (Docker 1.8 and 0.10 dropped them)",
            ));
        }
        Ok(Outcome::Passed)
    })
    .await
}

/// HostConfig in inspect reflects the run options (Privileged, ContainerIDFile, ...).
pub async fn inspect_hostconfig(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("hostconfig");
    let cidfile = TempPath::new(&e, "hostconfig.cid");
    cleaning(&e, &[&name], async {
        super::containers::create(&e, &name, &["--privileged", "--cidfile", &cidfile.text(), IMAGE, "true"]).await?;
        let host = inspect(&e, &name).await?["HostConfig"].clone();
        ensure!(host["Privileged"] == Value::Bool(true), "Privileged: {}", host["Privileged"]);
        ensure!(
            host["ContainerIDFile"] == Value::String(cidfile.text()),
            "ContainerIDFile: {}",
            host["ContainerIDFile"]
        );
        ensure!(host["PublishAllPorts"] == Value::Bool(false), "PublishAllPorts: {}", host["PublishAllPorts"]);
        for key in ["Binds", "PortBindings", "Links"] {
            ensure!(host.get(key).is_some(), "no HostConfig.{key}: {host}");
        }
        if host.get("LxcConf").is_none() {
            return Ok(skip(
                SkipKind::Legacy,
                "HostConfig has no LxcConf: the LXC driver's options were removed in Docker 1.10",
            ));
        }
        Ok(Outcome::Passed)
    })
    .await
}

/// `GET /containers/(id)/changes`: Kind 0 changed, 1 added, 2 deleted; 404 for unknown.
pub async fn changes(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("apichanges");
    cleaning(&e, &[&name], async {
        run(&e, &["--name", &name, IMAGE, "sh", "-c", "touch /added; rm /etc/group; echo x >> /etc/passwd"])
            .await?
            .success()?;
        let reply = e.get(&format!("/containers/{name}/changes")).await?;
        ensure!(reply.status == StatusCode::OK, "changes answered {}", reply.status);
        let list: Vec<Value> = reply.json()?;
        for (path, kind) in [("/added", 1), ("/etc/group", 2), ("/etc/passwd", 0), ("/etc", 0)] {
            ensure!(list.iter().any(|c| c["Path"] == path && c["Kind"] == kind), "no {path} of kind {kind}: {list:?}");
        }
        let missing = e.get(&format!("/containers/{}/changes", e.unique("missing"))).await?;
        ensure!(missing.status == StatusCode::NOT_FOUND, "unknown container: {}", missing.status);
        Ok(Outcome::Passed)
    })
    .await
}

fn tar_names_of(bytes: &[u8]) -> anyhow::Result<Vec<String>> {
    let mut archive = tar::Archive::new(bytes);
    let mut names = Vec::new();
    for entry in archive.entries()? {
        names.push(entry?.path()?.to_string_lossy().into_owned());
    }
    Ok(names)
}

fn tar_has(bytes: &[u8], member: &str) -> anyhow::Result<bool> {
    let mut archive = tar::Archive::new(bytes);
    for entry in archive.entries()? {
        if entry?.path()?.to_string_lossy().trim_start_matches("./").trim_end_matches('/') == member {
            return Ok(true);
        }
    }
    Ok(false)
}

/// `GET /containers/(id)/export`: 200, application/octet-stream, a tar; 404 for unknown.
pub async fn export(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("apiexport");
    cleaning(&e, &[&name], async {
        run(&e, &["--name", &name, IMAGE, "touch", "/exported"]).await?.success()?;
        let reply = e.get(&format!("/containers/{name}/export")).await?;
        ensure!(reply.status == StatusCode::OK, "export answered {}", reply.status);
        ensure!(
            reply.header("content-type") == Some("application/octet-stream"),
            "Content-Type {:?}",
            reply.header("content-type")
        );
        ensure!(tar_has(&reply.body, "exported")?, "the tar lacks /exported");
        let missing = e.get(&format!("/containers/{}/export", e.unique("missing"))).await?;
        ensure!(missing.status == StatusCode::NOT_FOUND, "unknown container: {}", missing.status);
        Ok(Outcome::Passed)
    })
    .await
}

/// `POST /containers/(id)/start`: 204 and running; 404 for unknown.
pub async fn start(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("apistart");
    cleaning(&e, &[&name], async {
        api_create(&e, &name, json!({"Cmd": ["sh", "-c", IDLE]})).await?;
        api_start(&e, &name).await?;
        ensure!(is_running(&e, &name).await?, "not running after 204");
        let missing = post(&e, &format!("/containers/{}/start", e.unique("missing"))).await?;
        ensure!(missing.status == StatusCode::NOT_FOUND, "unknown container: {}", missing.status);
        Ok(Outcome::Passed)
    })
    .await
}

/// A start body (HostConfig) applies to that run, and an empty body works too. Engines drop
/// the body in API 1.24, so this speaks the oldest version the engine serves.
pub async fn start_hostconfig(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let old = e.min_api();
    if old >= ApiVersion::new(1, 24) {
        let reason = format!("the engine's oldest API is {old}: a start body is refused from API 1.24 on");
        return Ok(skip(SkipKind::Legacy, reason));
    }
    let (with, without) = (e.unique("startbody"), e.unique("startnobody"));
    cleaning(&e, &[&with, &without], async {
        for name in [&with, &without] {
            api_create(&e, name, json!({"Cmd": ["sh", "-c", IDLE]})).await?;
        }
        // Privileged where this machine can grant every capability, else one added capability.
        let full = super::isolation::host_has_all_caps()?;
        let mut hostconfig = json!({"NetworkMode": "none", "Binds": null, "PublishAllPorts": false, "Links": null});
        if full {
            hostconfig["Privileged"] = json!(true);
        } else {
            hostconfig["CapAdd"] = json!(["SYS_ADMIN"]);
        }
        let path = format!("/v{old}/containers/{with}/start");
        let reply = e.api.call(Method::POST, &path, Some(hostconfig.to_string().into())).await?;
        ensure!(
            reply.status == StatusCode::NO_CONTENT,
            "start with a body answered {}: {}",
            reply.status,
            body(&reply)
        );
        let applied = inspect(&e, &with).await?["HostConfig"].clone();
        let took = if full { applied["Privileged"] == true } else { applied["CapAdd"] == json!(["SYS_ADMIN"]) };
        ensure!(took, "the body's HostConfig was not applied: {applied}");
        let reply = post(&e, &format!("/v{old}/containers/{without}/start")).await?;
        ensure!(reply.status == StatusCode::NO_CONTENT, "start without a body answered {}", reply.status);
        ensure!(is_running(&e, &without).await?, "not running");
        Ok(Outcome::Passed)
    })
    .await
}

/// A container ignoring SIGTERM.
const STUBBORN: &str = "trap '' TERM; while :; do sleep 0.2; done";

/// `POST /containers/(id)/stop?t=N` answers 204 once the container is down, killing it
/// after N seconds; 404 for unknown.
pub async fn stop(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("apistop");
    cleaning(&e, &[&name], async {
        detach(&e, &name, &[IMAGE, "sh", "-c", STUBBORN]).await?;
        let started = Instant::now();
        let reply = post(&e, &format!("/containers/{name}/stop?t=1")).await?;
        ensure!(reply.status == StatusCode::NO_CONTENT, "stop answered {}", reply.status);
        ensure!(started.elapsed() >= Duration::from_millis(900), "stop answered before t=1 had passed");
        ensure!(!is_running(&e, &name).await?, "still running when stop answered");
        let missing = post(&e, &format!("/containers/{}/stop", e.unique("missing"))).await?;
        ensure!(missing.status == StatusCode::NOT_FOUND, "unknown container: {}", missing.status);
        Ok(Outcome::Passed)
    })
    .await
}

/// `POST /containers/(id)/restart?t=N`: 204 and a fresh process; 404 for unknown.
pub async fn restart(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("apirestart");
    cleaning(&e, &[&name], async {
        idle(&e, &name).await?;
        let before = pid(&e, &name).await?;
        let reply = post(&e, &format!("/containers/{name}/restart?t=1")).await?;
        ensure!(reply.status == StatusCode::NO_CONTENT, "restart answered {}", reply.status);
        ensure!(pid(&e, &name).await? != before, "the same process runs");
        let missing = post(&e, &format!("/containers/{}/restart", e.unique("missing"))).await?;
        ensure!(missing.status == StatusCode::NOT_FOUND, "unknown container: {}", missing.status);
        Ok(Outcome::Passed)
    })
    .await
}

/// `POST /containers/(id)/kill`: SIGKILL, or `signal=`; 204; 404 for unknown.
pub async fn kill(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("apikill");
    cleaning(&e, &[&name], async {
        let script = "trap 'echo usr1' USR1; trap '' TERM; echo ready; while :; do sleep 0.2; done";
        detach(&e, &name, &[IMAGE, "sh", "-c", script]).await?;
        // PID 1 ignores a signal it has no handler for: wait until the trap is set.
        super::containers::logs_contain(&e, &name, "ready").await?;
        let reply = post(&e, &format!("/containers/{name}/kill?signal=SIGUSR1")).await?;
        ensure!(reply.status == StatusCode::NO_CONTENT, "kill with a signal answered {}", reply.status);
        super::containers::logs_contain(&e, &name, "usr1").await?;
        ensure!(is_running(&e, &name).await?, "SIGUSR1 stopped it");
        let reply = post(&e, &format!("/containers/{name}/kill")).await?;
        ensure!(reply.status == StatusCode::NO_CONTENT, "kill answered {}", reply.status);
        ensure!(exit_code(&e, &name).await? == 137, "not killed by SIGKILL");
        let missing = post(&e, &format!("/containers/{}/kill", e.unique("missing"))).await?;
        ensure!(missing.status == StatusCode::NOT_FOUND, "unknown container: {}", missing.status);
        Ok(Outcome::Passed)
    })
    .await
}

/// `POST /containers/(id)/wait` answers only once the container stopped, with StatusCode.
pub async fn wait(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("apiwait");
    cleaning(&e, &[&name], async {
        detach(&e, &name, &[IMAGE, "sh", "-c", super::containers::EXIT_ON_USR1]).await?;
        let engine = e.clone();
        let path = format!("/containers/{name}/wait");
        let waiting = tokio::spawn(async move { engine.call(Method::POST, &path).await });
        tokio::time::sleep(Duration::from_secs(1)).await;
        ensure!(!waiting.is_finished(), "wait answered while the container runs");
        e.cli(&["kill", "-s", "USR1", &name]).await?.success()?;
        let reply = tokio::time::timeout(SETTLE, waiting).await.context("wait did not answer")???;
        ensure!(reply.status == StatusCode::OK, "wait answered {}", reply.status);
        ensure!(reply.json::<Value>()?["StatusCode"] == 3, "wait gave {}", body(&reply));
        let missing = post(&e, &format!("/containers/{}/wait", e.unique("missing"))).await?;
        ensure!(missing.status == StatusCode::NOT_FOUND, "unknown container: {}", missing.status);
        Ok(Outcome::Passed)
    })
    .await
}

/// `DELETE /containers/(id)`: 204 when stopped, an error status when running, 404 unknown,
/// 400 for a bad parameter.
pub async fn delete(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let (up, down) = (e.unique("apidelup"), e.unique("apideldown"));
    cleaning(&e, &[&up, &down], async {
        idle(&e, &up).await?;
        super::containers::create(&e, &down, &[IMAGE, "true"]).await?;
        let running = e.call(Method::DELETE, &format!("/containers/{up}")).await?;
        ensure!(
            running.status.is_client_error() || running.status.is_server_error(),
            "a running container answered {}",
            running.status
        );
        ensure!(exists(&e, &up).await?, "the running container was removed");
        let missing = e.call(Method::DELETE, &format!("/containers/{}", e.unique("missing"))).await?;
        ensure!(missing.status == StatusCode::NOT_FOUND, "unknown container: {}", missing.status);
        let bad = e.call(Method::DELETE, &format!("/containers/{down}?v=not-a-boolean")).await?;
        let bad_status = bad.status;
        if bad_status != StatusCode::NO_CONTENT {
            ensure!(bad_status == StatusCode::BAD_REQUEST, "a bad parameter answered {bad_status}");
            let done = e.call(Method::DELETE, &format!("/containers/{down}")).await?;
            ensure!(done.status == StatusCode::NO_CONTENT, "delete answered {}", done.status);
        }
        ensure!(!exists(&e, &down).await?, "the stopped container is still there");
        ensure!(
            bad_status == StatusCode::BAD_REQUEST,
            "v=not-a-boolean was accepted (204) and the container deleted, not answered 400"
        );
        Ok(Outcome::Passed)
    })
    .await
}

/// `POST /containers/(id)/copy` with a Resource: 200 and an octet-stream tar of that file or
/// directory; 404 for unknown. Later engines dropped the route in API 1.24, so this speaks the
/// oldest version the engine serves.
pub async fn copy(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let old = e.min_api();
    if old >= ApiVersion::new(1, 24) {
        let reason = format!("the engine's oldest API is {old}: the copy endpoint is gone from 1.24 on (see /archive)");
        return Ok(skip(SkipKind::Legacy, reason));
    }
    let name = e.unique("apicopy");
    cleaning(&e, &[&name], async {
        run(&e, &["--name", &name, IMAGE, "sh", "-c", "mkdir -p /dir/sub; echo a > /dir/sub/a"]).await?.success()?;
        let ask = |container: String, resource: &str| {
            let (e, path) = (e.clone(), format!("/v{old}/containers/{container}/copy"));
            let request = json!({"Resource": resource}).to_string();
            async move { anyhow::Ok(e.api.call(Method::POST, &path, Some(request.into())).await?) }
        };
        let file = ask(name.clone(), "/dir/sub/a").await?;
        ensure!(file.status == StatusCode::OK, "copy of a file answered {}: {}", file.status, body(&file));
        ensure!(tar_has(&file.body, "a")?, "the tar lacks the file");
        let dir = ask(name.clone(), "/dir").await?;
        ensure!(dir.status == StatusCode::OK, "copy of a directory answered {}", dir.status);
        let missing = ask(e.unique("missing"), "/").await?;
        ensure!(missing.status == StatusCode::NOT_FOUND, "unknown container: {}", missing.status);
        let mut problems = Vec::new();
        if !tar_has(&dir.body, "dir/sub/a")? {
            problems
                .push(format!("the tar of /dir holds {:?}, not dir/ and what is under it", tar_names_of(&dir.body)?));
        }
        let kind = file.header("content-type").unwrap_or_default().to_string();
        if kind != "application/octet-stream" {
            problems.push(format!("the tar comes as Content-Type {kind:?}, not application/octet-stream"));
        }
        ensure!(problems.is_empty(), "{}", problems.join("; "));
        Ok(Outcome::Passed)
    })
    .await
}

/// `GET /containers/(id)/top`: Titles and Processes; ps_args=aux gives ps aux's columns;
/// 404 for unknown.
pub async fn top(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("apitop");
    cleaning(&e, &[&name], async {
        idle(&e, &name).await?;
        let reply = e.get(&format!("/containers/{name}/top")).await?;
        ensure!(reply.status == StatusCode::OK, "top answered {}", reply.status);
        let value: Value = reply.json()?;
        ensure!(
            value["Titles"].as_array().is_some_and(|t| t.iter().any(|c| c == "PID")),
            "Titles: {}",
            value["Titles"]
        );
        ensure!(
            value["Processes"].as_array().is_some_and(|p| !p.is_empty() && p.iter().all(Value::is_array)),
            "Processes: {}",
            value["Processes"]
        );
        let aux: Value = e.get(&format!("/containers/{name}/top?ps_args=aux")).await?.json()?;
        for column in ["USER", "PID", "%CPU"] {
            ensure!(
                aux["Titles"].as_array().is_some_and(|t| t.iter().any(|c| c == column)),
                "ps_args=aux Titles: {}",
                aux["Titles"]
            );
        }
        let missing = e.get(&format!("/containers/{}/top", e.unique("missing"))).await?;
        ensure!(missing.status == StatusCode::NOT_FOUND, "unknown container: {}", missing.status);
        Ok(Outcome::Passed)
    })
    .await
}

/// `POST /commit?container=&repo=&tag=&m=&author=` with a run config: 201 and the id; 404 for
/// an unknown container.
pub async fn commit(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let (name, repo) = (e.unique("apicommit"), e.unique("apicommitted"));
    let (image, other) = (format!("{repo}:t"), format!("{repo}:c"));
    cleaning_images(&e, &[&name], &[&image, &other], async {
        run(&e, &["--name", &name, IMAGE, "true"]).await?.success()?;
        let config = json!({"Cmd": ["echo", "from-commit"]}).to_string();
        let path = format!("/commit?container={name}&repo={repo}&tag=t&m=apimessage&author=apiauthor");
        let reply = e.api.call(Method::POST, &path, Some(config.into())).await?;
        ensure!(reply.status == StatusCode::CREATED, "commit answered {}: {}", reply.status, body(&reply));
        let id = reply.json::<Value>()?["Id"].as_str().unwrap_or_default().to_string();
        let named = e.image_id(&image).await? == id.trim_start_matches("sha256:");
        ensure!(is_long_id(&id) && named, "Id {id} is not {image}'s");
        let made: Value = e.get(&format!("/images/{image}/json")).await?.json()?;
        ensure!(made["Author"] == "apiauthor", "author not stored: {}", made["Author"]);
        let cmd = &made["Config"]["Cmd"];
        ensure!(*cmd == json!(["echo", "from-commit"]), "the run config was not stored: {cmd}");
        let missing = post(&e, &format!("/commit?container={}", e.unique("missing"))).await?;
        ensure!(missing.status == StatusCode::NOT_FOUND, "unknown container: {}", missing.status);
        if made["Comment"] == "apimessage" {
            return Ok(Outcome::Passed);
        }
        let renamed = post(&e, &format!("/commit?container={name}&repo={repo}&tag=c&comment=apimessage")).await?;
        let again: Value = e.get(&format!("/images/{other}/json")).await?.json()?;
        let read_comment = renamed.status == StatusCode::CREATED && again["Comment"] == "apimessage";
        let hint = if read_comment { "; the engine reads the message from comment= instead" } else { "" };
        bail!("m=apimessage was not stored as the image's Comment ({}){hint}", made["Comment"])
    })
    .await
}

/// `GET /events`: objects with status, id, from and time, for create, start, die, stop and
/// destroy.
pub async fn events(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("apievents");
    cleaning(&e, &[&name], async {
        let since = now() - 1;
        let id = idle(&e, &name).await?;
        e.cli(&["stop", &name]).await?.success()?;
        e.cli(&["rm", &name]).await?.success()?;
        let events = super::containers::eventually("the destroy event", SETTLE, || async {
            let events = events_of(&e, &id, since, now() + 1).await?;
            Ok(events.iter().any(|ev| ev["status"] == "destroy").then_some(events))
        })
        .await?;
        let statuses: Vec<&str> = events.iter().filter_map(|ev| ev["status"].as_str()).collect();
        for status in ["create", "start", "die", "stop", "destroy"] {
            ensure!(statuses.contains(&status), "no {status} event: {statuses:?}");
        }
        for event in &events {
            ensure!(event["from"].as_str().is_some_and(|f| f.starts_with(IMAGE)), "no from naming the image: {event}");
            ensure!(event["time"].as_i64().is_some_and(|t| t >= since), "no time: {event}");
        }
        Ok(Outcome::Passed)
    })
    .await
}

/// Opens `GET path` as a stream and returns the connection, its head read.
async fn open_events(e: &Engine, path: &str) -> anyhow::Result<super::attach::Hijacked> {
    let stream = hijack(e, "GET", path, "").await?;
    ensure!(stream.status() == 200, "{path} answered {}", stream.head);
    Ok(stream)
}

fn mentions(raw: &[u8], id: &str, status: &str) -> bool {
    let text = String::from_utf8_lossy(raw);
    text.split(['\n', '\r']).any(|l| l.contains(id) && l.contains(&format!("\"status\":\"{status}\"")))
}

/// Without since, `GET /events` stays open and sends each new event as it happens.
pub async fn events_stream(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("eventstream");
    cleaning(&e, &[&name], async {
        let mut stream = open_events(&e, "/events").await?;
        let id = super::containers::create(&e, &name, &[IMAGE, "true"]).await?;
        stream.read_until(SETTLE, |raw| mentions(raw, &id, "create")).await?;
        e.cli(&["start", &name]).await?.success()?;
        stream.read_until(SETTLE, |raw| mentions(raw, &id, "start")).await?;
        Ok(Outcome::Passed)
    })
    .await
}

/// With since, stored events are replayed first, then the stream stays open for new ones.
pub async fn events_poll(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("eventpoll");
    cleaning(&e, &[&name], async {
        let since = now() - 1;
        let id = super::containers::create(&e, &name, &[IMAGE, "true"]).await?;
        let mut stream = open_events(&e, &format!("/events?since={since}")).await?;
        stream
            .read_until(SETTLE, |raw| mentions(raw, &id, "create"))
            .await
            .context("the earlier create was not replayed")?;
        e.cli(&["start", &name]).await?.success()?;
        stream.read_until(SETTLE, |raw| mentions(raw, &id, "start")).await.context("no live event after the replay")?;
        Ok(Outcome::Passed)
    })
    .await
}

/// The lines of a CLI event stream about the container `id` (not the network events that
/// name it).
fn lines_for<'a>(out: &'a str, id: &str) -> Vec<&'a str> {
    out.lines().filter(|l| l.contains(&id[..12]) && !l.contains(" network ")).collect()
}

/// Whether a line reads as 2014's `[time] id: (from image) status`.
fn is_2014_line(line: &str) -> bool {
    line.starts_with('[') && line.contains("] ") && line.contains(": (from ")
}

/// A running `events` reports start, die and stop as they happen, in that order.
pub async fn cli_events_stream(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("clievents");
    cleaning(&e, &[&name], async {
        let id = super::containers::create(&e, &name, &[IMAGE, "sh", "-c", IDLE]).await?;
        let events = Background::cli(&e, &["events"])?;
        tokio::time::sleep(Duration::from_millis(500)).await;
        e.cli(&["start", &name]).await?.success()?;
        e.cli(&["stop", &name]).await?.success()?;
        super::containers::eventually("a stop line", SETTLE, || async {
            Ok(lines_for(&events.stdout(), &id).iter().any(|l| l.split_whitespace().any(|w| w == "stop")).then_some(()))
        })
        .await
        .with_context(|| events.stdout())?;
        let out = events.stdout();
        let lines = lines_for(&out, &id);
        let at = |status: &str| lines.iter().position(|l| l.split_whitespace().any(|w| w == status));
        let (start, die, stop) = (at("start"), at("die"), at("stop"));
        let ordered = matches!((start, die, stop), (Some(a), Some(b), Some(c)) if a < b && b < c);
        ensure!(ordered, "not start, die, stop in order:\n{}", lines.join("\n"));
        if lines.iter().all(|l| is_2014_line(l)) {
            return Ok(Outcome::Passed);
        }
        Ok(skip(SkipKind::Legacy, format!("the CLI prints events as `<RFC 3339 time> container <status> <id> (image=..., name=...)` (Docker 1.10 and later), not `[time] id: (from image) status`: {}", lines[0])))
    })
    .await
}

/// Every event line names the image as repository:tag.
pub async fn cli_events_image(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("clieventsimage");
    cleaning(&e, &[&name], async {
        let since = now() - 1;
        let id = run(&e, &["-d", "--name", &name, IMAGE, "true"]).await?.success()?.stdout.trim().to_string();
        exit_code(&e, &name).await?;
        let until = (now() + 1).to_string();
        let out = e.cli(&["events", "--since", &since.to_string(), "--until", &until]).await?.success()?.stdout;
        let lines = lines_for(&out, &id);
        ensure!(!lines.is_empty(), "no events for the container:\n{out}");
        let unnamed: Vec<&&str> = lines.iter().filter(|l| !l.contains("busybox:latest")).collect();
        ensure!(
            unnamed.is_empty(),
            "event lines do not name busybox:latest (the container was run as `busybox`):\n{}",
            unnamed.iter().map(|l| l.to_string()).collect::<Vec<_>>().join("\n")
        );
        Ok(Outcome::Passed)
    })
    .await
}

/// `events --since WHEN` replays the container's earlier events, then stays for new ones.
async fn replay_then_live(e: &Engine, since: &str) -> anyhow::Result<()> {
    let name = e.unique("since");
    let outcome = cleaning(e, &[&name], async {
        let id = super::containers::create(e, &name, &[IMAGE, "true"]).await?;
        let events = Background::cli(e, &["events", "--since", since])?;
        events.wait_output(&id[..12], SETTLE).await.context("the earlier create was not replayed")?;
        ensure!(
            lines_for(&events.stdout(), &id).iter().any(|l| l.contains("create")),
            "no create line:\n{}",
            events.stdout()
        );
        e.cli(&["start", &name]).await?.success()?;
        super::containers::eventually("a live start line", SETTLE, || async {
            Ok(lines_for(&events.stdout(), &id).iter().any(|l| l.contains("start")).then_some(()))
        })
        .await?;
        Ok(Outcome::Passed)
    })
    .await?;
    ensure!(outcome == Outcome::Passed, "{outcome:?}");
    Ok(())
}

/// `--since` with a Unix timestamp.
pub async fn cli_since_epoch(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    replay_then_live(&e, &(now() - 1).to_string()).await?;
    Ok(Outcome::Passed)
}

/// (year, month, day, hour, minute, second) of a Unix time, in UTC.
fn civil(epoch: i64) -> (i64, i64, i64, i64, i64, i64) {
    let (days, rest) = (epoch.div_euclid(86400), epoch.rem_euclid(86400));
    let z = days + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day, rest / 3600, rest % 3600 / 60, rest % 60)
}

/// `--since YYYY-MM-DD` (yesterday, in UTC, so that any time zone covers today).
pub async fn cli_since_date(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let (y, m, d, ..) = civil(now() - 86400);
    replay_then_live(&e, &format!("{y:04}-{m:02}-{d:02}")).await?;
    Ok(Outcome::Passed)
}

/// `--since '2013-09-03 15:49:29 +0200 CEST'`: only events at that instant or later.
pub async fn cli_since_datetime(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let (early, late) = (e.unique("beforeinstant"), e.unique("afterinstant"));
    cleaning(&e, &[&early, &late], async {
        let early_id = super::containers::create(&e, &early, &[IMAGE, "true"]).await?;
        let created = epoch_seconds(inspect(&e, &early).await?["Created"].as_str().unwrap_or_default())?;
        let instant = created.floor() as i64 + 2;
        while (now() as f64) < instant as f64 + 0.2 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let late_id = super::containers::create(&e, &late, &[IMAGE, "true"]).await?;
        let (y, mo, d, h, mi, s) = civil(instant);
        let until = (now() + 1).to_string();
        let documented = format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02} +0000 UTC");
        let run = e.cli(&["events", "--since", &documented, "--until", &until]).await?;
        let check = |out: &str| -> anyhow::Result<()> {
            ensure!(!lines_for(out, &late_id).is_empty(), "the later container's events are missing:\n{out}");
            ensure!(lines_for(out, &early_id).is_empty(), "events before the instant were replayed:\n{out}");
            Ok(())
        };
        if run.status == Some(0) {
            check(&run.stdout)?;
            return Ok(Outcome::Passed);
        }
        let rfc3339 = format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z");
        check(&e.cli(&["events", "--since", &rfc3339, "--until", &until]).await?.success()?.stdout)?;
        if run.stderr.contains("parsing time") {
            return Ok(skip(
                SkipKind::Legacy,
                format!(
                    "the CLI no longer reads Go's time.String() form ({}); the same instant in RFC 3339 works",
                    run.stderr.trim()
                ),
            ));
        }
        bail!("events --since {documented:?} failed: {}", run.stderr)
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_matches_rfc3339() {
        for epoch in [0, 951782400, 1402272000, 1764115200 + 3723] {
            let (y, mo, d, h, mi, s) = civil(epoch);
            let text = format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z");
            assert_eq!(epoch_seconds(&text).unwrap(), epoch as f64, "{text}");
        }
        assert_eq!(epoch_seconds("2014-06-09T00:00:00.5Z").unwrap(), 1402272000.5);
    }
}
