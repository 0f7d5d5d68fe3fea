//! The volume endpoints (API 1.21 and later): list with filters, create, inspect, remove and
//! prune.

use super::containers::{parse_json, read_body};
use super::response::{empty, json, ApiError, Reply};
use super::Ctx;
use crate::volumes::{Volume, VolumeError};
use berth_api::volume::{CreateRequest, ListResponse, PruneResponse};
use http::StatusCode;
use std::collections::BTreeMap;

impl From<VolumeError> for ApiError {
    fn from(e: VolumeError) -> ApiError {
        let status = match &e {
            VolumeError::NoSuch(_) | VolumeError::NoDriver { .. } => StatusCode::NOT_FOUND,
            VolumeError::InUse { .. } => StatusCode::CONFLICT,
            VolumeError::NameTooShort(_) | VolumeError::InvalidName(_) | VolumeError::InvalidOptions { .. } => {
                StatusCode::BAD_REQUEST
            }
            VolumeError::Io(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError::new(status, e.to_string())
    }
}

fn name_param(ctx: &Ctx) -> Result<String, ApiError> {
    ctx.params.get("name").map(String::from).ok_or_else(|| ApiError::bad_request("no volume name in the path"))
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| ApiError::internal(e.to_string()))
}

/// `label=key` or `label=key=value` against a volume's labels.
fn has_label(volume: &Volume, filter: &str) -> bool {
    match filter.split_once('=') {
        Some((key, value)) => volume.labels.get(key).is_some_and(|v| v == value),
        None => volume.labels.contains_key(filter),
    }
}

fn bad_filter(key: &str, values: &[String]) -> ApiError {
    ApiError::bad_request(format!("Invalid filter '{key}={values:?}'"))
}

/// `dangling=true|false` (also 1/0).
fn dangling_wanted(values: &[String]) -> Result<Option<bool>, ApiError> {
    let mut wanted = None;
    for v in values {
        let b = match v.to_ascii_lowercase().as_str() {
            "true" | "1" => true,
            "false" | "0" => false,
            _ => return Err(bad_filter("dangling", values)),
        };
        wanted = Some(b);
    }
    Ok(wanted)
}

/// `GET /volumes`: filters `dangling`, `name` (part of the name), `label`, `driver`.
pub async fn list(ctx: Ctx) -> Result<Reply, ApiError> {
    let filters = super::images::filters(&ctx)?;
    let mut dangling = None;
    for (key, values) in &filters {
        match key.as_str() {
            "dangling" => dangling = dangling_wanted(values)?,
            "name" | "label" | "driver" => {}
            other => return Err(ApiError::bad_request(format!("Invalid filter '{other}'"))),
        }
    }
    let engine = &ctx.engine;
    let matches = |v: &Volume| {
        let any =
            |key: &str, test: &dyn Fn(&str) -> bool| filters.get(key).is_none_or(|vals| vals.iter().any(|x| test(x)));
        any("name", &|n| v.name.contains(n))
            && any("label", &|l| has_label(v, l))
            && any("driver", &|d| v.driver == d)
            && dangling.is_none_or(|d| d == engine.volumes.users(&v.name).is_empty())
    };
    let volumes = engine.volumes.list().iter().filter(|v| matches(v)).map(|v| engine.volume_view(v)).collect();
    json(StatusCode::OK, &ListResponse { volumes, warnings: None })
}

pub async fn create(mut ctx: Ctx) -> Result<Reply, ApiError> {
    let request: CreateRequest = parse_json(&read_body(&mut ctx).await?)?;
    let engine = ctx.engine.clone();
    let volume = blocking(move || engine.create_volume(request)).await??;
    json(StatusCode::CREATED, &ctx.engine.volume_view(&volume))
}

pub async fn inspect(ctx: Ctx) -> Result<Reply, ApiError> {
    let volume = ctx.engine.volumes.get(&name_param(&ctx)?)?;
    json(StatusCode::OK, &ctx.engine.volume_view(&volume))
}

/// `DELETE /volumes/{name}`: 409 while a container refers to it; `force` only makes a
/// missing volume no error.
pub async fn remove(ctx: Ctx) -> Result<Reply, ApiError> {
    let name = name_param(&ctx)?;
    let force = ctx.query.bool("force", false)?;
    let engine = ctx.engine.clone();
    blocking(move || engine.volumes.remove(&name, force)).await??;
    Ok(empty(StatusCode::NO_CONTENT))
}

/// `POST /volumes/prune`: every volume no container refers to, less those the `label` and
/// `label!` filters keep.
pub async fn prune(ctx: Ctx) -> Result<Reply, ApiError> {
    let filters: BTreeMap<String, Vec<String>> = super::images::filters(&ctx)?;
    for key in filters.keys() {
        if !matches!(key.as_str(), "label" | "label!" | "all") {
            return Err(ApiError::bad_request(format!("Invalid filter '{key}'")));
        }
    }
    let engine = ctx.engine.clone();
    let pruned = blocking(move || {
        engine.prune_volumes(|v| {
            let with = filters.get("label").is_some_and(|ls| !ls.iter().all(|l| has_label(v, l)));
            let without = filters.get("label!").is_some_and(|ls| ls.iter().any(|l| has_label(v, l)));
            with || without
        })
    })
    .await?;
    let deleted = (!pruned.names.is_empty()).then_some(pruned.names);
    json(StatusCode::OK, &PruneResponse { volumes_deleted: deleted, space_reclaimed: pruned.bytes })
}
