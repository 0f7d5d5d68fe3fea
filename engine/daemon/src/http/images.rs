//! The image endpoints: list, inspect, history, tag, delete, save (`get`), load, and import
//! (`create?fromSrc=`), in the 1.41 shapes and the 2014 ones for v1.9 clients.

use super::response::{json, ApiError, Reply};
use super::stream::{body_channel, BodyReader};
use super::Ctx;
use berth_api::image::{
    DeleteItem, GraphDriver, HistoryItem, HistoryItemV1_9, ImageInspect, ImageInspectV1_9, ImageMetadata, ImageSummary,
    ImageSummaryV1_9, RootFsInspect,
};
use berth_api::progress::Message;
use berth_image::{ErrorKind, Image, Store, StoreError};
use http::{header, HeaderValue, Response, StatusCode};
use std::collections::BTreeMap;
use std::sync::Arc;

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        let status = match e.kind() {
            ErrorKind::NotFound => StatusCode::NOT_FOUND,
            ErrorKind::Conflict => StatusCode::CONFLICT,
            ErrorKind::InvalidInput => StatusCode::BAD_REQUEST,
            ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError::new(status, e.to_string())
    }
}

/// Runs store work on a blocking thread.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, ApiError> {
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => result.map_err(ApiError::from),
        Err(e) => Err(ApiError::internal(format!("the store task failed: {e}"))),
    }
}

fn name_param(ctx: &Ctx) -> Result<String, ApiError> {
    ctx.params.get("name").map(String::from).ok_or_else(|| ApiError::bad_request("no image name in the path"))
}

/// `filters` as JSON: `{"key": ["v"]}` or the older `{"key": {"v": true}}`.
pub fn filters(ctx: &Ctx) -> Result<BTreeMap<String, Vec<String>>, ApiError> {
    let Some(text) = ctx.query.get("filters").filter(|t| !t.is_empty()) else { return Ok(BTreeMap::new()) };
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| ApiError::bad_request(format!("invalid filters {text:?}: {e}")))?;
    let object = value
        .as_object()
        .ok_or_else(|| ApiError::bad_request(format!("invalid filters {text:?}: expected a JSON object")))?;
    let mut out = BTreeMap::new();
    for (key, values) in object {
        let list: Vec<String> = match values {
            serde_json::Value::Array(a) => a.iter().filter_map(|v| v.as_str().map(String::from)).collect(),
            serde_json::Value::Object(o) => {
                o.iter().filter(|(_, on)| on.as_bool() == Some(true)).map(|(k, _)| k.clone()).collect()
            }
            _ => return Err(ApiError::bad_request(format!("invalid filter {key:?}: expected a list"))),
        };
        out.insert(key.clone(), list);
    }
    Ok(out)
}

/// Shell-style match with `*` (for the `reference` filter and `images NAME`).
fn glob(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == text,
        Some((head, tail)) => {
            text.starts_with(head)
                && (0..=text.len() - head.len())
                    .any(|i| text.is_char_boundary(head.len() + i) && glob(tail, &text[head.len() + i..]))
        }
    }
}

fn reference_matches(pattern: &str, name: &str) -> bool {
    let (repo, _) = name.rsplit_once(':').unwrap_or((name, ""));
    glob(pattern, name) || glob(pattern, repo)
}

struct Listed {
    image: Arc<Image>,
    names: Vec<String>,
    parent_size: i64,
}

fn select(store: &Store, all: bool, filters: &BTreeMap<String, Vec<String>>) -> Result<Vec<Listed>, ApiError> {
    let dangling = match filters.get("dangling").and_then(|v| v.first()).map(String::as_str) {
        None => None,
        Some("true" | "1") => Some(true),
        Some("false" | "0") => Some(false),
        Some(other) => return Err(ApiError::bad_request(format!("invalid filter 'dangling={other}'"))),
    };
    let mut out = Vec::new();
    for (image, mut names) in store.images() {
        let has_children = !store.children(&image.id).is_empty();
        if names.is_empty() && has_children && !all {
            continue;
        }
        if dangling.is_some_and(|d| d != names.is_empty()) {
            continue;
        }
        if let Some(patterns) = filters.get("reference") {
            names.retain(|n| patterns.iter().any(|p| reference_matches(p, n)));
            if names.is_empty() {
                continue;
            }
        }
        if let Some(labels) = filters.get("label") {
            let have = image.config.config.as_ref().and_then(|c| c.labels.clone()).unwrap_or_default();
            let ok = labels.iter().all(|l| match l.split_once('=') {
                Some((k, v)) => have.get(k).is_some_and(|x| x == v),
                None => have.contains_key(l),
            });
            if !ok {
                continue;
            }
        }
        let parent_size = image.parent.as_ref().and_then(|p| store.get(p)).map_or(0, |p| p.size);
        out.push(Listed { image, names, parent_size });
    }
    Ok(out)
}

pub async fn list(ctx: Ctx) -> Result<Reply, ApiError> {
    let all = ctx.query.bool("all", false)?;
    let mut filters = filters(&ctx)?;
    if let Some(name) = ctx.query.get("filter").filter(|f| !f.is_empty()) {
        filters.entry("reference".into()).or_default().push(name.to_string());
    }
    let store = ctx.engine.images().clone();
    let listed = blocking(move || Ok(select(&store, all, &filters))).await??;
    if ctx.version.before(1, 10) {
        let old: Vec<ImageSummaryV1_9> = listed
            .iter()
            .map(|l| ImageSummaryV1_9 {
                repo_tags: if l.names.is_empty() { vec!["<none>:<none>".into()] } else { l.names.clone() },
                id: l.image.id.clone(),
                parent_id: l.image.parent.clone().unwrap_or_default(),
                created: l.image.created,
                size: l.image.size - l.parent_size,
                virtual_size: l.image.size,
            })
            .collect();
        return json(StatusCode::OK, &old);
    }
    let new: Vec<ImageSummary> = listed
        .iter()
        .map(|l| ImageSummary {
            id: l.image.digest(),
            parent_id: l.image.parent.as_ref().map(|p| format!("sha256:{p}")).unwrap_or_default(),
            repo_tags: Some(if l.names.is_empty() { vec!["<none>:<none>".into()] } else { l.names.clone() }),
            repo_digests: Some(vec![]),
            created: l.image.created,
            size: l.image.size,
            shared_size: -1,
            virtual_size: l.image.size,
            labels: l.image.config.config.as_ref().and_then(|c| c.labels.clone()),
            containers: -1,
        })
        .collect();
    json(StatusCode::OK, &new)
}

pub async fn inspect(ctx: Ctx) -> Result<Reply, ApiError> {
    let name = name_param(&ctx)?;
    let store = ctx.engine.images().clone();
    let (image, names, parent_size, driver) = blocking(move || {
        let image = store.lookup(&name)?;
        let parent_size = image.parent.as_ref().and_then(|p| store.get(p)).map_or(0, |p| p.size);
        Ok((image.clone(), store.names(&image.id), parent_size, store.driver_name()))
    })
    .await?;
    let c = &image.config;
    if ctx.version.before(1, 10) {
        return json(
            StatusCode::OK,
            &ImageInspectV1_9 {
                id: image.id.clone(),
                parent: image.parent.clone().unwrap_or_default(),
                created: c.created.clone(),
                container: c.container.clone(),
                container_config: c.container_config.clone(),
                config: c.config.clone(),
                docker_version: c.docker_version.clone(),
                author: c.author.clone(),
                comment: c.comment.clone(),
                architecture: c.architecture.clone(),
                os: c.os.clone(),
                size: image.size - parent_size,
            },
        );
    }
    json(
        StatusCode::OK,
        &ImageInspect {
            id: image.digest(),
            repo_tags: names,
            repo_digests: vec![],
            parent: image.parent.as_ref().map(|p| format!("sha256:{p}")).unwrap_or_default(),
            comment: c.comment.clone(),
            created: c.created.clone(),
            container: c.container.clone(),
            // Always an object today (compose reads its Volumes), empty when no container made
            // the image.
            container_config: Some(c.container_config.clone().unwrap_or_default()),
            docker_version: c.docker_version.clone(),
            author: c.author.clone(),
            config: c.config.clone(),
            architecture: c.architecture.clone(),
            os: c.os.clone(),
            size: image.size,
            virtual_size: image.size,
            graph_driver: GraphDriver { data: None, name: driver.to_string() },
            root_fs: RootFsInspect {
                kind: "layers".into(),
                layers: c.rootfs.as_ref().map(|r| r.diff_ids.clone()).unwrap_or_default(),
            },
            // Go's zero time: clients parse this field as a time.
            metadata: ImageMetadata { last_tag_time: "0001-01-01T00:00:00Z".into() },
        },
    )
}

/// One row of an image's history: which image it belongs to (`None` for steps whose image is
/// not stored), its time, command, size and tags.
struct Step {
    id: Option<String>,
    created: i64,
    created_by: String,
    comment: String,
    size: i64,
    tags: Vec<String>,
}

/// Walks the config's history newest first. A step belongs to a stored ancestor when that
/// ancestor's own history ends there; each non-empty step has the size of its layer.
fn steps(store: &Store, image: &Arc<Image>) -> Vec<Step> {
    let mut owners: BTreeMap<usize, Arc<Image>> = BTreeMap::new();
    let mut next = Some(image.clone());
    while let Some(current) = next {
        owners.entry(current.config.history.len().max(1) - 1).or_insert(current.clone());
        next = current.parent.as_ref().and_then(|p| store.get(p));
    }
    let mut layer = image.layers.len();
    let history = &image.config.history;
    let mut out = Vec::new();
    for (i, step) in history.iter().enumerate().rev() {
        let size = if step.empty_layer || layer == 0 {
            0
        } else {
            layer -= 1;
            store.layer(&image.layers[layer]).map_or(0, |l| l.size as i64)
        };
        let owner = owners.get(&i);
        out.push(Step {
            id: owner.map(|o| o.id.clone()),
            created: berth_api::time::parse_rfc3339(&step.created).unwrap_or(image.created),
            created_by: step.created_by.clone(),
            comment: step.comment.clone(),
            size,
            tags: owner.map(|o| store.names(&o.id)).unwrap_or_default(),
        });
    }
    if out.is_empty() {
        out.push(Step {
            id: Some(image.id.clone()),
            created: image.created,
            created_by: String::new(),
            comment: image.config.comment.clone(),
            size: image.size,
            tags: store.names(&image.id),
        });
    }
    out
}

pub async fn history(ctx: Ctx) -> Result<Reply, ApiError> {
    let name = name_param(&ctx)?;
    let store = ctx.engine.images().clone();
    let steps = blocking(move || {
        let image = store.lookup(&name)?;
        Ok(steps(&store, &image))
    })
    .await?;
    if ctx.version.before(1, 10) {
        let old: Vec<HistoryItemV1_9> = steps
            .into_iter()
            .map(|s| HistoryItemV1_9 {
                id: s.id.unwrap_or_else(|| "<missing>".into()),
                created: s.created,
                created_by: s.created_by,
            })
            .collect();
        return json(StatusCode::OK, &old);
    }
    let new: Vec<HistoryItem> = steps
        .into_iter()
        .map(|s| HistoryItem {
            id: s.id.map_or_else(|| "<missing>".into(), |id| format!("sha256:{id}")),
            created: s.created,
            created_by: s.created_by,
            tags: if s.tags.is_empty() { None } else { Some(s.tags) },
            size: s.size,
            comment: s.comment,
        })
        .collect();
    json(StatusCode::OK, &new)
}

pub async fn tag(ctx: Ctx) -> Result<Reply, ApiError> {
    let name = name_param(&ctx)?;
    let repo = ctx
        .query
        .get("repo")
        .filter(|r| !r.is_empty())
        .ok_or_else(|| ApiError::bad_request("repository name must have at least one component: give ?repo="))?
        .to_string();
    let tag = ctx.query.get("tag").filter(|t| !t.is_empty()).unwrap_or(berth_image::reference::DEFAULT_TAG).to_string();
    // Later Docker dropped `force` and always moves the tag; 2014 clients get the conflict.
    let force = ctx.query.bool("force", false)? || ctx.version.at_least(1, 25);
    let store = ctx.engine.images().clone();
    blocking(move || {
        let image = store.lookup(&name)?;
        store.tag(&image.id, &repo, &tag, force)
    })
    .await?;
    Ok(super::response::empty(StatusCode::CREATED))
}

pub async fn delete(ctx: Ctx) -> Result<Reply, ApiError> {
    let name = name_param(&ctx)?;
    let force = ctx.query.bool("force", false)?;
    let prune = !ctx.query.bool("noprune", false)?;
    let engine = ctx.engine.clone();
    let old = ctx.version.before(1, 10);
    let items = blocking(move || {
        let store = engine.images().clone();
        let image = store.lookup(&name)?;
        let items = store.delete(&name, force, prune, &|id| engine.image_in_use(id))?;
        Ok(if old { items.into_iter().map(|i| as_2014(i, &image.id)).collect() } else { items })
    })
    .await?;
    json(StatusCode::OK, &items)
}

/// The 2014 answer names the image id in both kinds of line (5.1.28).
fn as_2014(item: DeleteItem, id: &str) -> DeleteItem {
    match item {
        DeleteItem::Untagged(_) => DeleteItem::Untagged(id.to_string()),
        DeleteItem::Deleted(d) => DeleteItem::Deleted(d.trim_start_matches("sha256:").to_string()),
    }
}

/// `GET /images/(name)/get` and `GET /images/get?names=...`: a save tar.
pub async fn get(ctx: Ctx) -> Result<Reply, ApiError> {
    let mut names: Vec<String> = ctx.params.get("name").map(String::from).into_iter().collect();
    names.extend(ctx.query.all("names").into_iter().map(String::from));
    if names.is_empty() {
        return Err(ApiError::bad_request("no image to save: give a name"));
    }
    let store = ctx.engine.images().clone();
    let chosen = {
        let store = store.clone();
        blocking(move || berth_image::save::select(&store, &names)).await?
    };
    let (mut writer, body) = body_channel();
    tokio::task::spawn_blocking(move || {
        if let Err(e) = berth_image::save::save(&store, &chosen, &mut writer) {
            tracing::warn!("save failed: {e}");
            writer.fail(std::io::Error::other(e.to_string()));
        }
    });
    let mut reply = Response::new(body);
    reply.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/x-tar"));
    Ok(reply)
}

/// `POST /images/load`: a save tar in the body.
pub async fn load(mut ctx: Ctx) -> Result<Reply, ApiError> {
    let quiet = ctx.query.bool("quiet", false)?;
    let old = ctx.version.before(1, 23);
    let store = ctx.engine.images().clone();
    let reader = BodyReader::new(ctx.take_body()?);
    let loaded = blocking(move || berth_image::save::load(&store, reader)).await?;
    if old {
        return Ok(super::response::empty(StatusCode::OK));
    }
    let mut messages = Vec::new();
    for item in loaded.iter().filter(|_| !quiet) {
        if item.names.is_empty() {
            messages.push(Message::stream(format!("Loaded image ID: {}\n", item.image.digest())));
        }
        messages.extend(item.names.iter().map(|name| Message::stream(format!("Loaded image: {name}\n"))));
    }
    Ok(messages_reply(&messages))
}

/// A whole JSON message stream, for answers whose messages are all known at once.
fn messages_reply(messages: &[Message]) -> Reply {
    let body: Vec<u8> = messages.iter().flat_map(Message::to_line).collect();
    let mut reply = Response::new(super::response::full(body));
    reply.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    reply
}

/// `POST /images/create`: `fromSrc` imports a root file system; `fromImage` pulls.
pub async fn create(mut ctx: Ctx) -> Result<Reply, ApiError> {
    if let Some(image) = ctx.query.get("fromImage").filter(|i| !i.is_empty()) {
        let image = image.to_string();
        return super::distribution::pull(ctx, image).await;
    }
    let source = ctx
        .query
        .get("fromSrc")
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::bad_request("give fromImage (pull) or fromSrc (import)"))?
        .to_string();
    if !(source == "-" || source.starts_with("http://") || source.starts_with("https://")) {
        return Err(ApiError::bad_request(format!(
            "invalid import source {source:?}: give - (the request body) or an http:// or https:// URL"
        )));
    }
    let repo = ctx.query.get("repo").filter(|r| !r.is_empty()).map(String::from);
    let tag = ctx.query.get("tag").filter(|t| !t.is_empty()).map(String::from);
    let message = ctx.query.get("message").filter(|m| !m.is_empty()).map(String::from);
    let reference = match &repo {
        Some(repo) => Some(berth_image::Reference::parse(&match &tag {
            Some(t) => format!("{repo}:{t}"),
            None => repo.clone(),
        })?),
        None => None,
    };
    let store = ctx.engine.images().clone();
    let engine_version = ctx.engine.version().version;
    let old = ctx.version.before(1, 10);
    let from = source.clone();
    let import = move |reader: Box<dyn std::io::Read + Send>| -> Result<Message, StoreError> {
        let info = berth_image::import::ImportInfo {
            source: &from,
            message: message.as_deref(),
            engine_version: &engine_version,
            created: berth_api::time::now_rfc3339(),
        };
        let image = berth_image::import::import(&store, reader, &info)?;
        if let Some(r) = reference {
            store.tag(&image.id, &r.repository, r.tag_or_latest(), true)?;
        }
        Ok(Message::status(if old { image.id.clone() } else { image.digest() }))
    };
    if source == "-" {
        let reader = BodyReader::new(ctx.take_body()?);
        let done = blocking(move || import(Box::new(reader))).await?;
        return Ok(messages_reply(&[done]));
    }
    let body = super::fetch::get(&source).await?;
    Ok(import_streamed(&source, body, import))
}

/// An import from a URL, answered as it goes (1.1, 1.8): where it comes from, the download's
/// progress, then the new id, or an `{"error": ...}` line when it fails under way.
fn import_streamed(
    source: &str,
    body: hyper::body::Incoming,
    import: impl FnOnce(Box<dyn std::io::Read + Send>) -> Result<Message, StoreError> + Send + 'static,
) -> Reply {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<Message>();
    let _ = tx.send(Message::status(format!("Downloading from {source}")));
    let sender = tx.clone();
    let progress = berth_registry::distribution::Progress::new(Arc::new(move |m| {
        let _ = sender.send(m);
    }));
    let total = hyper::body::Body::size_hint(&body).exact();
    let reader = Downloading { body: BodyReader::new(body), progress, current: 0, reported: 0, total };
    tokio::task::spawn_blocking(move || {
        let _ = tx.send(import(Box::new(reader)).unwrap_or_else(|e| Message::error(e.to_string())));
    });
    let messages = futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|m| (m, rx)) });
    let frames = futures_util::StreamExt::map(messages, |m| {
        Ok::<_, std::io::Error>(hyper::body::Frame::data(bytes::Bytes::from(m.to_line())))
    });
    let mut reply = Response::new(http_body_util::BodyExt::boxed_unsync(http_body_util::StreamBody::new(frames)));
    reply.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    reply
}

/// A download being read, reporting its progress every 512 KiB and at its end.
struct Downloading {
    body: BodyReader,
    progress: berth_registry::distribution::Progress,
    current: u64,
    reported: u64,
    total: Option<u64>,
}

impl std::io::Read for Downloading {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.body.read(buf)?;
        self.current += n as u64;
        if (n == 0 && self.reported < self.current) || self.current - self.reported >= 512 * 1024 {
            self.reported = self.current;
            self.progress.bytes("", "Importing", self.current, self.total);
        }
        Ok(n)
    }
}

impl From<berth_image::reference::ReferenceError> for ApiError {
    fn from(e: berth_image::reference::ReferenceError) -> ApiError {
        ApiError::bad_request(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::glob;

    #[test]
    fn globs() {
        assert!(glob("busy*", "busybox"));
        assert!(glob("*box", "busybox"));
        assert!(glob("b*s*x", "busybox"));
        assert!(!glob("busy", "busybox"));
        assert!(glob("*", ""));
    }
}
