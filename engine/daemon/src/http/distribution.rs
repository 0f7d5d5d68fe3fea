//! Registry endpoints: pull (`POST /images/create?fromImage=`), `POST /images/(name)/push`,
//! `POST /auth`, `GET /images/search`, and the 2014 `POST /images/(name)/insert`. Pulls and
//! pushes stream JSON progress; an error before any progress is an HTTP error, one after it
//! is an `{"error": ...}` line (1.1).

use super::response::{json, ApiError, Reply};
use super::stream::BodyReader;
use super::Ctx;
use berth_api::image::{History, ImageConfig, RootFs};
use berth_api::progress::Message;
use berth_registry::distribution::{AuthConfig, DistributionError, Progress, SearchHit};
use bytes::Bytes;
use futures_util::StreamExt;
use http::{header, HeaderValue, Response, StatusCode};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use serde::Serialize;
use std::future::Future;
use std::sync::Arc;

impl From<DistributionError> for ApiError {
    fn from(e: DistributionError) -> ApiError {
        let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        ApiError::new(status, e.to_string())
    }
}

/// The credentials a request carries in `X-Registry-Auth`.
fn registry_auth(ctx: &Ctx) -> Result<AuthConfig, ApiError> {
    let value = ctx.head.headers.get("x-registry-auth").and_then(|v| v.to_str().ok()).unwrap_or_default();
    Ok(AuthConfig::from_header(value)?)
}

/// Runs a pull or push, answering with its progress stream.
async fn progress_reply<F, Fut>(work: F) -> Result<Reply, ApiError>
where
    F: FnOnce(Progress) -> Fut,
    Fut: Future<Output = Result<(), DistributionError>> + Send + 'static,
{
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Message>();
    let progress = Progress::new(Arc::new(move |m| {
        let _ = tx.send(m);
    }));
    let mut task = tokio::spawn(work(progress));
    let first = rx.recv().await;
    let Some(first) = first else {
        let result = (&mut task).await.map_err(|e| ApiError::internal(format!("the registry task failed: {e}")))?;
        result?;
        return Ok(stream_reply(futures_util::stream::empty().boxed()));
    };
    let rest = futures_util::stream::unfold(Some((rx, task)), |state| async move {
        let (mut rx, task) = state?;
        match rx.recv().await {
            Some(message) => Some((message, Some((rx, task)))),
            None => match task.await {
                Ok(Ok(())) => None,
                Ok(Err(e)) => Some((Message::error(e.to_string()), None)),
                Err(e) => Some((Message::error(format!("the registry task failed: {e}")), None)),
            },
        }
    });
    let messages = futures_util::stream::once(async move { first }).chain(rest);
    Ok(stream_reply(messages.boxed()))
}

fn stream_reply(messages: futures_util::stream::BoxStream<'static, Message>) -> Reply {
    let frames = messages.map(|m| Ok::<_, std::io::Error>(Frame::data(Bytes::from(m.to_line()))));
    let mut reply = Response::new(StreamBody::new(frames).boxed_unsync());
    reply.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    reply
}

/// `POST /images/create?fromImage=NAME[&tag=TAG]`.
pub async fn pull(ctx: Ctx, image: String) -> Result<Reply, ApiError> {
    let tag = ctx.query.get("tag").filter(|t| !t.is_empty()).map(String::from);
    let auth = registry_auth(&ctx)?;
    let distribution = ctx.engine.distribution().clone();
    progress_reply(move |progress| async move { distribution.pull(&image, tag.as_deref(), &auth, &progress).await })
        .await
}

/// `POST /images/(name)/push[?tag=TAG]`.
pub async fn push(ctx: Ctx) -> Result<Reply, ApiError> {
    let name = ctx.params.get("name").map(String::from).ok_or_else(|| ApiError::bad_request("no image name"))?;
    let tag = ctx.query.get("tag").filter(|t| !t.is_empty()).map(String::from);
    let auth = registry_auth(&ctx)?;
    let distribution = ctx.engine.distribution().clone();
    if ctx.engine.images().names_in(&berth_image::Reference::repository(&name)?).is_empty()
        && ctx.engine.images().resolve(&name).is_none()
    {
        return Err(ApiError::not_found(format!("An image does not exist locally with the tag: {name}")));
    }
    progress_reply(move |progress| async move { distribution.push(&name, tag.as_deref(), &auth, &progress).await })
        .await
}

#[derive(Serialize)]
struct AuthAnswer {
    #[serde(rename = "Status")]
    status: String,
    #[serde(rename = "IdentityToken", skip_serializing_if = "Option::is_none")]
    identity_token: Option<String>,
}

/// `POST /auth`: checks credentials with the registry or index they name.
pub async fn auth(mut ctx: Ctx) -> Result<Reply, ApiError> {
    let body = ctx.take_body()?;
    let bytes = http_body_util::Limited::new(body, 1 << 20)
        .collect()
        .await
        .map_err(|e| ApiError::bad_request(format!("cannot read the request body: {e}")))?
        .to_bytes();
    let config: AuthConfig = serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::bad_request(format!("invalid auth configuration: {e}")))?;
    match ctx.engine.distribution().login(&config).await {
        Ok(status) => {
            let identity_token = ctx.version.at_least(1, 23).then(String::new);
            json(StatusCode::OK, &AuthAnswer { status, identity_token })
        }
        Err(e @ (DistributionError::Unauthorized(_) | DistributionError::Forbidden(_))) => {
            Err(ApiError::new(StatusCode::UNAUTHORIZED, e.to_string()))
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Serialize)]
struct SearchHitV1_9 {
    description: String,
    is_official: bool,
    is_trusted: bool,
    name: String,
    star_count: u64,
}

/// `GET /images/search?term=`: the index's search, filtered as 1.41 asks.
pub async fn search(ctx: Ctx) -> Result<Reply, ApiError> {
    let term = ctx
        .query
        .get("term")
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ApiError::bad_request("give a search term (?term=)"))?
        .to_string();
    let filters = super::images::filters(&ctx)?;
    let limit: Option<usize> = match ctx.query.get("limit").filter(|l| !l.is_empty()) {
        Some(l) => Some(l.parse().map_err(|_| ApiError::bad_request(format!("invalid limit {l:?}")))?),
        None => None,
    };
    let auth = registry_auth(&ctx)?;
    let mut hits = ctx.engine.distribution().search(&term, &auth).await?;
    hits.retain(|hit| keep(hit, &filters));
    if let Some(limit) = limit {
        hits.truncate(limit);
    }
    if ctx.version.before(1, 10) {
        let old: Vec<SearchHitV1_9> = hits
            .into_iter()
            .map(|h| SearchHitV1_9 {
                description: h.description,
                is_official: h.is_official,
                is_trusted: h.is_automated,
                name: h.name,
                star_count: h.star_count,
            })
            .collect();
        return json(StatusCode::OK, &old);
    }
    json(StatusCode::OK, &hits)
}

fn keep(hit: &SearchHit, filters: &std::collections::BTreeMap<String, Vec<String>>) -> bool {
    let flag = |name: &str| filters.get(name).and_then(|v| v.last()).map(|v| v == "true" || v == "1");
    let stars = filters.get("stars").and_then(|v| v.last()).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    hit.star_count >= stars
        && flag("is-automated").is_none_or(|want| want == hit.is_automated)
        && flag("is-official").is_none_or(|want| want == hit.is_official)
}

/// `POST /images/(name)/insert?url=&path=` (2014, removed in API 1.12): a new image with the
/// file downloaded from `url` at `path`, on top of `name`.
pub async fn insert(ctx: Ctx) -> Result<Reply, ApiError> {
    if ctx.version.at_least(1, 12) {
        return Err(ApiError::not_found("page not found"));
    }
    let name = ctx.params.get("name").map(String::from).ok_or_else(|| ApiError::bad_request("no image name"))?;
    let url = ctx.query.get("url").filter(|u| !u.is_empty()).ok_or_else(|| ApiError::bad_request("give ?url="))?;
    let path = ctx.query.get("path").filter(|p| !p.is_empty()).ok_or_else(|| ApiError::bad_request("give ?path="))?;
    let (url, path) = (url.to_string(), path.to_string());
    if !path.starts_with('/') || path.split('/').any(|p| p == "..") {
        return Err(ApiError::bad_request(format!("invalid path {path:?}: give an absolute path inside the image")));
    }
    let store = ctx.engine.images().clone();
    let base = store.lookup(&name)?;
    let body = super::fetch::get(&url).await?;
    let reader = BodyReader::new(body);
    let version = ctx.engine.version().version;
    let image = tokio::task::spawn_blocking(move || insert_file(&store, &base, reader, &url, &path, &version))
        .await
        .map_err(|e| ApiError::internal(format!("the insert task failed: {e}")))??;
    let lines: Vec<u8> =
        [Message::status("Inserting..."), Message::status(image)].iter().flat_map(Message::to_line).collect();
    let mut reply = Response::new(super::response::full(lines));
    reply.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(reply)
}

/// The file from `reader` as a one-file layer on top of `base`; returns the new image's id.
fn insert_file(
    store: &berth_image::Store,
    base: &berth_image::Image,
    mut reader: impl std::io::Read,
    url: &str,
    path: &str,
    engine_version: &str,
) -> Result<String, ApiError> {
    let mut data = Vec::new();
    reader.read_to_end(&mut data).map_err(|e| ApiError::internal(format!("cannot download {url}: {e}")))?;
    let file_path = if path.ends_with('/') {
        let file = url.rsplit('/').next().filter(|f| !f.is_empty()).unwrap_or("index.html");
        format!("{path}{file}")
    } else {
        path.to_string()
    };
    let tar = one_file_tar(file_path.trim_start_matches('/'), &data)?;
    let layer = store.add_layer(base.layers.last().map(String::as_str), &mut &tar[..], None)?;
    let created = berth_api::time::now_rfc3339();
    let created_by = format!("/bin/sh -c #(nop) ADD {url} in {path}");
    let mut diff_ids = base.config.rootfs.as_ref().map(|r| r.diff_ids.clone()).unwrap_or_default();
    diff_ids.push(layer.diff_id.clone());
    let mut history = base.config.history.clone();
    history.push(History { created: created.clone(), created_by: created_by.clone(), ..Default::default() });
    let mut container_config = base.config.config.clone().unwrap_or_default();
    container_config.cmd = Some(vec!["/bin/sh".into(), "-c".into(), format!("#(nop) ADD {url} in {path}")]);
    let config = ImageConfig {
        id: String::new(),
        parent: base.digest(),
        comment: String::new(),
        created,
        container: String::new(),
        container_config: Some(container_config),
        docker_version: engine_version.to_string(),
        rootfs: Some(RootFs { kind: "layers".into(), diff_ids }),
        history,
        ..base.config.clone()
    };
    let bytes = serde_json::to_vec(&config).map_err(|e| ApiError::internal(e.to_string()))?;
    let image = store.add_image(&bytes)?;
    drop(layer);
    Ok(image.id.clone())
}

fn one_file_tar(path: &str, data: &[u8]) -> Result<Vec<u8>, ApiError> {
    let mut builder = tar::Builder::new(Vec::new());
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let write_err = |e: std::io::Error| ApiError::internal(format!("cannot build the inserted layer: {e}"));
    for i in 1..parts.len() {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Directory);
        header.set_mode(0o755);
        header.set_size(0);
        header.set_mtime(now);
        builder.append_data(&mut header, format!("{}/", parts[..i].join("/")), std::io::empty()).map_err(write_err)?;
    }
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Regular);
    header.set_mode(0o644);
    header.set_size(data.len() as u64);
    header.set_mtime(now);
    builder.append_data(&mut header, parts.join("/"), data).map_err(write_err)?;
    builder.into_inner().map_err(write_err)
}
