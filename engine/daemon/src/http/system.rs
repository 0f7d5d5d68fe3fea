//! `/_ping`, `/version` and `/info`.

use super::response::{json, text, ApiError, Reply};
use super::Ctx;
use http::{header, HeaderValue, StatusCode};

pub async fn ping(_ctx: Ctx) -> Result<Reply, ApiError> {
    let mut reply = text(StatusCode::OK, "OK");
    let headers = reply.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache, no-store, must-revalidate"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    Ok(reply)
}

pub async fn version(ctx: Ctx) -> Result<Reply, ApiError> {
    let version = ctx.engine.version();
    if ctx.version.before(1, 10) {
        return json(StatusCode::OK, &version.to_v1_9());
    }
    json(StatusCode::OK, &version)
}

pub async fn info(ctx: Ctx) -> Result<Reply, ApiError> {
    let info = ctx.engine.info();
    if ctx.version.before(1, 10) {
        return json(StatusCode::OK, &info.to_v1_9());
    }
    json(StatusCode::OK, &info)
}
