//! Files in and out of containers: export, the 2014 `copy`, today's `archive` (GET, HEAD,
//! PUT), commit, and top.

use super::containers::{id_param, read_body};
use super::response::{empty, json, ApiError, Reply};
use super::stream::{body_channel, BodyReader};
use super::Ctx;
use crate::containers::fs::CommitRequest;
use crate::containers::ContainerError;
use berth_api::container::Config;
use http::{header, HeaderValue, Response, StatusCode};
use serde_json::json as j;

fn tar_reply(body: super::response::Body, content_type: &'static str) -> Reply {
    let mut reply = Response::new(body);
    reply.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    reply
}

/// The type export and copy answer with, as the 2014 routing table lists it.
const OCTET_STREAM: &str = "application/octet-stream";
/// The type of today's archive endpoint.
const X_TAR: &str = "application/x-tar";

/// Streams what a blocking writer produces; an error ends the stream.
fn stream_tar(
    content_type: &'static str,
    work: impl FnOnce(&mut super::stream::BodyWriter) -> Result<(), ContainerError> + Send + 'static,
) -> Reply {
    let (mut writer, body) = body_channel();
    tokio::task::spawn_blocking(move || {
        if let Err(e) = work(&mut writer) {
            tracing::warn!("archive stream failed: {e}");
            writer.fail(std::io::Error::other(e.to_string()));
        }
    });
    tar_reply(body, content_type)
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ContainerError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work).await.map_err(|e| ApiError::internal(e.to_string()))?.map_err(ApiError::from)
}

pub async fn export(ctx: Ctx) -> Result<Reply, ApiError> {
    let id = id_param(&ctx)?;
    let engine = ctx.engine.clone();
    Ok(stream_tar(OCTET_STREAM, move |w| engine.export_container(&id, w)))
}

/// `POST /containers/(id)/copy` with `{"Resource": "/path"}` (API < 1.24).
pub async fn copy(mut ctx: Ctx) -> Result<Reply, ApiError> {
    let id = id_param(&ctx)?;
    let body = read_body(&mut ctx).await?;
    let request: serde_json::Value =
        serde_json::from_slice(&body).map_err(|e| ApiError::bad_request(format!("invalid JSON: {e}")))?;
    let path = request
        .get("Resource")
        .and_then(|r| r.as_str())
        .filter(|r| !r.is_empty())
        .ok_or_else(|| ApiError::bad_request("Path cannot be empty"))?
        .to_string();
    check_exists(&ctx, &id, &path).await?;
    let engine = ctx.engine.clone();
    Ok(stream_tar(OCTET_STREAM, move |w| engine.copy_from_container(&id, &path, w)))
}

async fn check_exists(ctx: &Ctx, id: &str, path: &str) -> Result<crate::containers::fs::PathStat, ApiError> {
    let (engine, id, path) = (ctx.engine.clone(), id.to_string(), path.to_string());
    blocking(move || engine.stat_in_container(&id, &path)).await
}

fn path_param(ctx: &Ctx) -> Result<String, ApiError> {
    ctx.query
        .get("path")
        .filter(|p| !p.is_empty())
        .map(String::from)
        .ok_or_else(|| ApiError::bad_request("give the path as ?path="))
}

fn stat_header(stat: &crate::containers::fs::PathStat) -> Result<HeaderValue, ApiError> {
    let json = serde_json::to_vec(stat).map_err(|e| ApiError::internal(e.to_string()))?;
    HeaderValue::from_str(&base64(&json)).map_err(|e| ApiError::internal(e.to_string()))
}

/// `HEAD /containers/(id)/archive?path=`: the path's stat in a header.
pub async fn archive_head(ctx: Ctx) -> Result<Reply, ApiError> {
    let id = id_param(&ctx)?;
    let stat = check_exists(&ctx, &id, &path_param(&ctx)?).await?;
    let mut reply = empty(StatusCode::OK);
    reply.headers_mut().insert("x-docker-container-path-stat", stat_header(&stat)?);
    Ok(reply)
}

/// `GET /containers/(id)/archive?path=`: the path as a tar, its stat in a header.
pub async fn archive_get(ctx: Ctx) -> Result<Reply, ApiError> {
    let id = id_param(&ctx)?;
    let path = path_param(&ctx)?;
    let stat = check_exists(&ctx, &id, &path).await?;
    let engine = ctx.engine.clone();
    let mut reply = stream_tar(X_TAR, move |w| engine.copy_from_container(&id, &path, w));
    reply.headers_mut().insert("x-docker-container-path-stat", stat_header(&stat)?);
    Ok(reply)
}

/// `PUT /containers/(id)/archive?path=`: a tar unpacked into that directory.
pub async fn archive_put(mut ctx: Ctx) -> Result<Reply, ApiError> {
    let id = id_param(&ctx)?;
    let path = path_param(&ctx)?;
    let reader = BodyReader::new(ctx.take_body()?);
    let engine = ctx.engine.clone();
    blocking(move || engine.copy_into_container(&id, &path, reader)).await?;
    Ok(empty(StatusCode::OK))
}

/// `POST /commit?container=&repo=&tag=&comment=&author=` with an optional config body.
pub async fn commit(mut ctx: Ctx) -> Result<Reply, ApiError> {
    let name = ctx
        .query
        .get("container")
        .filter(|c| !c.is_empty())
        .ok_or_else(|| ApiError::bad_request("give the container as ?container="))?
        .to_string();
    let id = ctx.engine.containers.resolve(&name)?;
    let body = read_body(&mut ctx).await?;
    let config: Option<Config> = if body.iter().all(u8::is_ascii_whitespace) || &body[..] == b"null" {
        None
    } else {
        Some(super::containers::parse_json(&body)?)
    };
    let q = &ctx.query;
    let repo = q.get("repo").filter(|r| !r.is_empty()).map(String::from);
    if let Some(repo) = &repo {
        berth_image::Reference::repository(repo)?;
    }
    let request = CommitRequest {
        repo,
        tag: q.get("tag").filter(|t| !t.is_empty()).map(String::from),
        comment: q.get("comment").or(q.get("m")).unwrap_or("").to_string(),
        author: q.get("author").unwrap_or("").to_string(),
        config,
    };
    let engine = ctx.engine.clone();
    let image = blocking(move || engine.commit_container(&id, &request)).await?;
    let id = if ctx.version.before(1, 10) { image.id.clone() } else { image.digest() };
    json(StatusCode::CREATED, &j!({"Id": id}))
}

pub async fn top(ctx: Ctx) -> Result<Reply, ApiError> {
    let id = id_param(&ctx)?;
    let args = ctx.query.get("ps_args").filter(|a| !a.is_empty()).unwrap_or("-ef").to_string();
    let engine = ctx.engine.clone();
    let (titles, processes) = blocking(move || engine.top_container(&id, &args)).await?;
    json(StatusCode::OK, &berth_api::containers::TopResponse { titles, processes })
}

/// Standard base64 with padding, for the path-stat header.
pub(super) fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::base64;

    #[test]
    fn base64_matches_the_standard() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"{\"name\":\"x\"}"), "eyJuYW1lIjoieCJ9");
    }
}
