//! The system endpoints and the API's versioning rules (5.4.4 §2, the routing table).

use crate::engine::Engine;
use crate::outcome::{skip, Outcome, SkipKind};
use anyhow::{ensure, Context};
use berth_api::ApiVersion;
use http::{Method, StatusCode};
use serde_json::Value;
use std::sync::Arc;

/// `_ping` answers `OK` to GET and HEAD and names the API version in a header.
pub async fn ping(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let get = e.get("/_ping").await?;
    ensure!(get.status == StatusCode::OK, "GET /_ping answered {}", get.status);
    ensure!(&get.body[..] == b"OK", "GET /_ping body is {:?}", String::from_utf8_lossy(&get.body));
    let version = get.header("api-version").context("GET /_ping has no Api-Version header")?;
    version.parse::<ApiVersion>().with_context(|| format!("Api-Version header {version:?}"))?;
    let head = e.call(Method::HEAD, "/_ping").await?;
    ensure!(head.status == StatusCode::OK, "HEAD /_ping answered {}", head.status);
    Ok(Outcome::Passed)
}

fn object(reply: &berth_client::Reply, what: &str) -> anyhow::Result<serde_json::Map<String, Value>> {
    ensure!(
        reply.status == StatusCode::OK,
        "{what} answered {}: {}",
        reply.status,
        String::from_utf8_lossy(&reply.body)
    );
    let value: Value = reply.json().with_context(|| format!("{what} is not JSON"))?;
    value.as_object().cloned().with_context(|| format!("{what} is not a JSON object: {value}"))
}

fn has_string(map: &serde_json::Map<String, Value>, key: &str) -> anyhow::Result<()> {
    let value = map.get(key).with_context(|| format!("no {key} in {map:?}"))?;
    ensure!(value.as_str().is_some_and(|s| !s.is_empty()), "{key} is not a non-empty string: {value}");
    Ok(())
}

fn has_kind(
    map: &serde_json::Map<String, Value>,
    key: &str,
    check: fn(&Value) -> bool,
    kind: &str,
) -> anyhow::Result<()> {
    let value = map.get(key).with_context(|| format!("no {key} in the answer"))?;
    ensure!(check(value), "{key} should be a {kind}, is {value}");
    Ok(())
}

/// `GET /version` gives Version, GitCommit and GoVersion.
pub async fn version(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let map = object(&e.get("/version").await?, "GET /version")?;
    for key in ["Version", "GitCommit", "GoVersion"] {
        has_string(&map, key)?;
    }
    Ok(Outcome::Passed)
}

const INFO_COUNTS: &[&str] = &["Containers", "Images", "NFd", "NGoroutines"];
const INFO_FLAGS: &[&str] = &["Debug", "MemoryLimit", "SwapLimit", "IPv4Forwarding"];

fn check_info(map: &serde_json::Map<String, Value>) -> anyhow::Result<()> {
    for key in INFO_COUNTS {
        has_kind(map, key, Value::is_u64, "count")?;
    }
    for key in INFO_FLAGS {
        has_kind(map, key, Value::is_boolean, "boolean")?;
    }
    Ok(())
}

/// `GET /info` gives the documented counts and flags, plus driver and kernel details.
pub async fn info(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let map = object(&e.get("/info").await?, "GET /info")?;
    check_info(&map)?;
    has_string(&map, "Driver")?;
    has_string(&map, "KernelVersion")?;
    Ok(Outcome::Passed)
}

/// Requests under `/v1.9/` succeed and get the 1.9 shapes.
pub async fn v1_9_paths(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    if e.min_api() > ApiVersion::MIN {
        return Ok(skip(
            SkipKind::Divergence,
            format!(
                "the engine reports MinAPIVersion {}: it refuses the API 1.9 the documentation describes",
                e.min_api()
            ),
        ));
    }
    let version = object(&e.get("/v1.9/version").await?, "GET /v1.9/version")?;
    for key in ["Version", "GitCommit", "GoVersion"] {
        has_string(&version, key)?;
    }
    check_info(&object(&e.get("/v1.9/info").await?, "GET /v1.9/info")?)?;
    Ok(Outcome::Passed)
}

fn keys(map: &serde_json::Map<String, Value>) -> Vec<&String> {
    let mut keys: Vec<_> = map.keys().collect();
    keys.sort();
    keys
}

/// A path without a version means the engine's current version.
pub async fn unversioned_alias(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let current = e.current_api();
    for path in ["/version", "/info"] {
        let plain = object(&e.get(path).await?, path)?;
        let versioned_path = format!("/v{current}{path}");
        let versioned = object(&e.get(&versioned_path).await?, &versioned_path)?;
        ensure!(
            keys(&plain) == keys(&versioned),
            "{path} and {versioned_path} differ in shape: {:?} vs {:?}",
            keys(&plain),
            keys(&versioned)
        );
    }
    Ok(Outcome::Passed)
}

/// An older version prefix is accepted. The documentation's own example is `/v1.0/`; engines
/// that serve only from a later minimum are checked at that minimum and the difference noted.
pub async fn older_prefix(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let oldest = e.min_api();
    ensure!(oldest < e.current_api(), "the engine reports no older API version than its current {}", e.current_api());
    let path = format!("/v{oldest}/version");
    has_string(&object(&e.get(&path).await?, &path)?, "Version")?;
    if oldest > ApiVersion::new(1, 0) {
        let refused = e.get("/v1.0/version").await?;
        ensure!(
            refused.status == StatusCode::BAD_REQUEST,
            "/v1.0/version below the reported minimum answered {}",
            refused.status
        );
        return Ok(skip(SkipKind::Legacy, format!(
            "/v{oldest}/ is accepted, but the engine's minimum API version is {oldest}, so /v1.0/ is refused with 400 (as later Docker does)"
        )));
    }
    Ok(Outcome::Passed)
}

/// Versions outside what the engine serves are refused with 400 and a message saying why.
pub async fn version_bounds(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let too_new = ApiVersion::new(e.current_api().major, e.current_api().minor + 1);
    let mut checks = vec![(format!("/v{too_new}/version"), "too new")];
    if e.min_api().minor > 0 {
        let too_old = ApiVersion::new(e.min_api().major, e.min_api().minor - 1);
        checks.push((format!("/v{too_old}/version"), "too old"));
    }
    for (path, word) in checks {
        let reply = e.get(&path).await?;
        ensure!(reply.status == StatusCode::BAD_REQUEST, "{path} answered {}, expected 400", reply.status);
        let body = String::from_utf8_lossy(&reply.body);
        ensure!(body.contains(word), "{path}: the message should say the version is {word}: {body}");
    }
    Ok(Outcome::Passed)
}

/// Unknown routes and wrong methods are 404 with a JSON `message`.
pub async fn errors(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    for (method, path) in [(Method::GET, "/no/such/route"), (Method::GET, "/v1.x/version"), (Method::POST, "/version")]
    {
        let reply = e.call(method.clone(), path).await?;
        ensure!(reply.status == StatusCode::NOT_FOUND, "{method} {path} answered {}, expected 404", reply.status);
        let body: Value = reply.json().with_context(|| format!("{method} {path}: error body is not JSON"))?;
        ensure!(body.get("message").and_then(Value::as_str).is_some(), "{method} {path}: no message in {body}");
    }
    Ok(Outcome::Passed)
}
