//! Pull and push over the 2014 protocol (5.4.1 §2): the index hands out a token and the
//! registry endpoints (`X-Docker-Token: true`, `X-Docker-Endpoints`); the registry validates
//! the token once and keeps a cookie session; images travel as ancestry, json and layer, with
//! checksums the index records. A `host:port/name` registry is used with no index at all.
//!
//! berth images map onto v1 images by id: an image's v1 id is its own id and its json is its
//! config with `id` and `parent` set, so a pull gives back the same ids. Layers below an image
//! that no stored image ends at travel as layer-only entries.

use super::gzip::hex;
use super::progress::{short, Progress};
use super::transport::{self, header, Authorization, Server};
use super::{blocking, AuthConfig, DistributionError, Distributor, Remote, SearchHit};
use berth_api::image::{History, ImageConfig, RootFs};
use bytes::Bytes;
use http::{Method, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Map, Value};
use sha2::{Digest as _, Sha256};
use std::collections::{BTreeMap, HashSet};
use std::io::Read;
use std::sync::Arc;

/// Marks a v1 json that stands for a layer only, not an image of its own.
const LAYER_ONLY: &str = "berth_layer_only";

fn refused(status: StatusCode, body: &[u8], what: &str) -> DistributionError {
    let text = String::from_utf8_lossy(body).trim().trim_matches('"').to_string();
    let detail = if text.is_empty() { status.to_string() } else { text };
    match status {
        StatusCode::UNAUTHORIZED => DistributionError::Unauthorized(format!("{what}: {detail}")),
        StatusCode::FORBIDDEN => DistributionError::Forbidden(format!("{what}: {detail}")),
        StatusCode::NOT_FOUND => DistributionError::NotFound(format!("{what}: {detail}")),
        _ => DistributionError::Protocol(format!("{what}: the server answered {status}: {detail}")),
    }
}

fn first_endpoint(headers: &http::HeaderMap, fallback: &str) -> String {
    header(headers, "x-docker-endpoints")
        .and_then(|e| e.split(',').map(str::trim).find(|e| !e.is_empty()))
        .map(|e| e.trim_start_matches("http://").trim_start_matches("https://").trim_end_matches('/').to_string())
        .unwrap_or_else(|| fallback.to_string())
}

fn token_of(headers: &http::HeaderMap) -> Option<String> {
    header(headers, "x-docker-token")
        .map(String::from)
        .or_else(|| header(headers, "www-authenticate").and_then(|v| v.strip_prefix("Token ")).map(String::from))
}

/// The registry a pull talks to, and the checksums the index listed.
struct Session {
    registry: Server,
    checksums: BTreeMap<String, String>,
}

async fn open_pull(
    server: Server,
    remote: &Remote,
    tag: Option<&str>,
    auth: &AuthConfig,
) -> Result<Session, DistributionError> {
    if remote.registry.is_some() {
        if let Some((user, password)) = auth.user_password() {
            server.set_auth(Authorization::basic(&user, &password));
        }
        return Ok(Session { registry: server, checksums: BTreeMap::new() });
    }
    if let Some((user, password)) = auth.user_password() {
        server.set_auth(Authorization::basic(&user, &password));
    }
    // With a tag, the index lists the checksums of that tag's chain only (5.4.1 §2.1 step 1).
    let path = match tag {
        Some(tag) => format!("/v1/repositories/{}/images?tag={tag}", remote.path),
        None => format!("/v1/repositories/{}/images", remote.path),
    };
    let headers = [("x-docker-token", "true".to_string())];
    let (status, answer, body) = server.call(Method::GET, &path, &headers, transport::empty()).await?;
    if status == StatusCode::NOT_FOUND {
        return Err(DistributionError::NotFound(format!("Error: image {} not found", remote.local)));
    }
    if !status.is_success() {
        return Err(refused(status, &body, &format!("cannot pull {}", remote.local)));
    }
    let list: Vec<Value> = serde_json::from_slice(&body).unwrap_or_default();
    let checksums = list
        .iter()
        .filter_map(|e| Some((e.get("id")?.as_str()?.to_string(), e.get("checksum")?.as_str()?.to_string())))
        .filter(|(_, c)| !c.is_empty())
        .collect();
    let registry = Server::new(first_endpoint(&answer, &server.authority));
    if let Some(token) = token_of(&answer) {
        registry.set_auth(Authorization::Token(token));
    }
    Ok(Session { registry, checksums })
}

pub async fn pull(
    d: &Arc<Distributor>,
    server: Arc<Server>,
    remote: &Remote,
    tag: Option<&str>,
    auth: &AuthConfig,
    progress: &Progress,
) -> Result<(), DistributionError> {
    let session = open_pull(Server::new(server.authority.clone()), remote, tag, auth).await?;
    let tags_path = format!("/v1/repositories/{}/tags", remote.path);
    let (status, _, body) = session.registry.call(Method::GET, &tags_path, &[], transport::empty()).await?;
    if !status.is_success() {
        return Err(refused(status, &body, &format!("cannot list the tags of {}", remote.local)));
    }
    let tags: BTreeMap<String, String> = serde_json::from_slice(&body)
        .map_err(|e| DistributionError::Protocol(format!("the tag list of {} is not valid: {e}", remote.local)))?;
    let wanted: Vec<(String, String)> = match tag {
        Some(tag) => vec![(
            tag.to_string(),
            tags.get(tag).cloned().ok_or_else(|| {
                DistributionError::NotFound(format!("Tag {tag} not found in repository {}", remote.local))
            })?,
        )],
        None => tags.into_iter().collect(),
    };
    progress.status(format!("Pulling repository {}", remote.local));
    let mut done = HashSet::new();
    for (tag, id) in &wanted {
        progress.item(id, format!("Pulling image ({tag}) from {}", remote.local));
        let local = pull_image(d, &session, id, &mut done, progress).await?;
        let (store, repo, tag) = (d.store.clone(), remote.local.clone(), tag.clone());
        blocking(move || Ok(store.tag(&local, &repo, &tag, true)?)).await?;
        progress.item(id, "Download complete");
    }
    Ok(())
}

/// Fetches an image and its ancestors; returns the local image id of the top.
async fn pull_image(
    d: &Arc<Distributor>,
    session: &Session,
    id: &str,
    done: &mut HashSet<String>,
    progress: &Progress,
) -> Result<String, DistributionError> {
    if !crate::names::is_image_id(id) {
        return Err(DistributionError::Protocol(format!("the registry named an invalid image id {id:?}")));
    }
    let path = format!("/v1/images/{id}/ancestry");
    let (status, _, body) = session.registry.call(Method::GET, &path, &[], transport::empty()).await?;
    if !status.is_success() {
        return Err(refused(status, &body, &format!("cannot get the ancestry of {}", short(id))));
    }
    let ancestry: Vec<String> = serde_json::from_slice(&body)
        .map_err(|e| DistributionError::Protocol(format!("the ancestry of {} is not valid: {e}", short(id))))?;
    if ancestry.first().map(String::as_str) != Some(id) || ancestry.iter().any(|a| !crate::names::is_image_id(a)) {
        return Err(DistributionError::Protocol(format!("the ancestry of {} is not valid", short(id))));
    }
    progress.item(id, "Pulling dependent layers");
    let mut base = Parent::default();
    let mut fetched: Vec<(String, Bytes, Bytes)> = Vec::new();
    for v1 in ancestry.iter().rev() {
        if fetched.is_empty() {
            if let Some(known) = d.v1_image(v1) {
                base = known;
                continue;
            }
        }
        progress.item(v1, "Pulling metadata");
        let json = fetch(session, &format!("/v1/images/{v1}/json"), v1).await?;
        progress.item(v1, "Pulling fs layer");
        let layer = fetch(session, &format!("/v1/images/{v1}/layer"), v1).await?;
        verify(session, v1, &json, &layer)?;
        progress.item(v1, "Download complete");
        fetched.push((v1.clone(), json, layer));
    }
    if fetched.is_empty() {
        return base.image.ok_or_else(|| DistributionError::Protocol(format!("image {} has no layers", short(id))));
    }
    let store = d.store.clone();
    let stored = blocking(move || store_chain(&store, base, fetched)).await?;
    for (v1, parent) in &stored {
        d.remember_v1(v1, parent);
        done.insert(v1.clone());
    }
    stored
        .last()
        .and_then(|(_, p)| p.image.clone())
        .ok_or_else(|| DistributionError::Protocol(format!("image {} has no layers", short(id))))
}

/// Stores fetched v1 images base first, keeping every new layer pinned until the images
/// above it are stored.
fn store_chain(
    store: &berth_image::Store,
    base: Parent,
    fetched: Vec<(String, Bytes, Bytes)>,
) -> Result<Vec<(String, Parent)>, DistributionError> {
    let mut pins = Vec::new();
    let mut parent = base;
    let mut out = Vec::new();
    for (v1, json, layer) in fetched {
        let (next, pin) = store_v1(store, &v1, &json, layer, &parent)?;
        pins.push(pin);
        out.push((v1, next.clone()));
        parent = next;
    }
    drop(pins);
    Ok(out)
}

async fn fetch(session: &Session, path: &str, id: &str) -> Result<Bytes, DistributionError> {
    let response = session.registry.send(Method::GET, path, &[], transport::empty()).await?;
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| DistributionError::Unreachable(format!("{}: {e}", session.registry.authority)))?
        .to_bytes();
    if !status.is_success() {
        return Err(refused(status, &body, &format!("cannot fetch {path} of {}", short(id))));
    }
    Ok(body)
}

/// Checks a layer against the checksum the index listed, when it listed one.
fn verify(session: &Session, id: &str, json: &[u8], layer: &[u8]) -> Result<(), DistributionError> {
    let Some(expected) = session.checksums.get(id) else { return Ok(()) };
    let got = if expected.starts_with("tarsum+") {
        crate::v1::tarsum::tarsum_v0(layer, json).map_err(|e| DistributionError::Protocol(e.to_string()))?
    } else {
        payload_checksum(json, layer)
    };
    if &got != expected {
        return Err(DistributionError::Protocol(format!(
            "image {} failed its checksum: the index lists {expected}, the layer sums to {got}",
            short(id)
        )));
    }
    Ok(())
}

fn payload_checksum(json: &[u8], layer: &[u8]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(json);
    hasher.update(b"\n");
    hasher.update(layer);
    format!("sha256:{}", hex(&hasher.finalize()))
}

/// Where a v1 chain stands locally: the top layer's chain id, the diff ids so far, and the
/// nearest image (when the entry is not layer-only).
#[derive(Debug, Clone, Default)]
pub struct Parent {
    pub chain: Option<String>,
    pub diff_ids: Vec<String>,
    pub image: Option<String>,
    /// The entry stands for a layer only; `image` is then the nearest image below.
    pub layer_only: bool,
}

/// Stores one v1 image: its layer on top of `parent`, and an image unless it is layer-only.
fn store_v1<'a>(
    store: &'a berth_image::Store,
    v1: &str,
    json: &[u8],
    layer: Bytes,
    parent: &Parent,
) -> Result<(Parent, berth_image::PinnedLayer<'a>), DistributionError> {
    let value: Map<String, Value> = serde_json::from_slice(json)
        .map_err(|e| DistributionError::Protocol(format!("the json of {} is not valid: {e}", short(v1))))?;
    let mut reader = berth_image::archive::decompressed(std::io::Cursor::new(layer))
        .map_err(|e| DistributionError::Protocol(format!("the layer of {} cannot be read: {e}", short(v1))))?;
    let stored = store.add_layer(parent.chain.as_deref(), &mut reader, None)?;
    let mut next =
        Parent { chain: Some(stored.chain_id.clone()), diff_ids: parent.diff_ids.clone(), ..Parent::default() };
    next.diff_ids.push(stored.diff_id.clone());
    if value.get(LAYER_ONLY).and_then(Value::as_bool) == Some(true) {
        // The nearest image below stays the parent of the next image.
        next.image = parent.image.clone();
        next.layer_only = true;
        return Ok((next, stored));
    }
    let config = config_from_v1(store, value, parent, &next.diff_ids)?;
    let image = store.add_image(&config)?;
    next.image = Some(image.id.clone());
    Ok((next, stored))
}

/// The image config a v1 json stands for: a berth config given back as it was, or a 2014
/// json turned into a config with rootfs and history.
fn config_from_v1(
    store: &berth_image::Store,
    mut value: Map<String, Value>,
    parent: &Parent,
    diff_ids: &[String],
) -> Result<Vec<u8>, DistributionError> {
    value.shift_remove("id");
    let parent_digest = parent.image.as_ref().map(|p| format!("sha256:{p}"));
    let matches = value
        .get("rootfs")
        .and_then(|r| r.get("diff_ids"))
        .and_then(Value::as_array)
        .is_some_and(|ids| ids.iter().filter_map(Value::as_str).eq(diff_ids.iter().map(String::as_str)));
    if matches {
        match (&parent_digest, value.get_mut("parent")) {
            (Some(p), Some(slot)) => *slot = Value::String(p.clone()),
            (None, Some(_)) => {
                value.shift_remove("parent");
            }
            _ => {}
        }
        return serde_json::to_vec(&value).map_err(|e| DistributionError::Protocol(e.to_string()));
    }
    let legacy: ImageConfig = serde_json::from_value(Value::Object(value))
        .map_err(|e| DistributionError::Protocol(format!("a v1 json is not an image: {e}")))?;
    let mut history =
        parent.image.as_ref().and_then(|p| store.get(p)).map(|p| p.config.history.clone()).unwrap_or_default();
    let created_by =
        legacy.container_config.as_ref().and_then(|c| c.cmd.clone()).map(|c| c.join(" ")).unwrap_or_default();
    history.push(History { created: legacy.created.clone(), created_by, ..Default::default() });
    let config = ImageConfig {
        id: String::new(),
        parent: parent_digest.unwrap_or_default(),
        rootfs: Some(RootFs { kind: "layers".into(), diff_ids: diff_ids.to_vec() }),
        history,
        ..legacy
    };
    serde_json::to_vec(&config).map_err(|e| DistributionError::Protocol(e.to_string()))
}

/// One v1 image to push, base first.
#[derive(Debug, Clone)]
struct Node {
    id: String,
    json: Vec<u8>,
    chain: String,
}

/// The v1 images of a berth image: one per layer, named after the image that ends there.
fn nodes_of(store: &berth_image::Store, top: &str) -> Result<Vec<Node>, DistributionError> {
    let image = store.get(top).ok_or_else(|| DistributionError::NotFound(format!("No such image: {top}")))?;
    let mut owners: BTreeMap<String, Arc<berth_image::Image>> = BTreeMap::new();
    let mut next = image.parent.as_ref().and_then(|p| store.get(p));
    while let Some(ancestor) = next {
        if let Some(last) = ancestor.layers.last() {
            owners.entry(last.clone()).or_insert_with(|| ancestor.clone());
        }
        next = ancestor.parent.as_ref().and_then(|p| store.get(p));
    }
    if let Some(last) = image.layers.last() {
        owners.insert(last.clone(), image.clone());
    }
    let mut nodes: Vec<Node> = Vec::new();
    for chain in &image.layers {
        let parent_v1 = nodes.last().map(|n| n.id.clone());
        let (id, json) = match owners.get(chain) {
            Some(owner) => {
                let config = store.config_bytes(&owner.id)?;
                (owner.id.clone(), image_json(&owner.id, parent_v1.as_deref(), &config)?)
            }
            None => {
                let seed = format!("{chain} {}", parent_v1.as_deref().unwrap_or_default());
                let id = hex(&Sha256::digest(seed.as_bytes()));
                let mut object = Map::new();
                object.insert("id".into(), Value::String(id.clone()));
                if let Some(p) = &parent_v1 {
                    object.insert("parent".into(), Value::String(p.clone()));
                }
                object.insert("created".into(), Value::String(image.config.created.clone()));
                object.insert(LAYER_ONLY.into(), Value::Bool(true));
                (id, serde_json::to_vec(&object).map_err(|e| DistributionError::Protocol(e.to_string()))?)
            }
        };
        nodes.push(Node { id, json, chain: chain.clone() });
    }
    Ok(nodes)
}

/// A config as v1 json: `id` first, then `parent` (the v1 parent) in place of the config's own.
fn image_json(id: &str, parent_v1: Option<&str>, config: &[u8]) -> Result<Vec<u8>, DistributionError> {
    let original: Map<String, Value> = serde_json::from_slice(config)
        .map_err(|e| DistributionError::Protocol(format!("the config of {} is not valid: {e}", short(id))))?;
    let mut object = Map::new();
    object.insert("id".into(), Value::String(id.to_string()));
    if let Some(p) = parent_v1 {
        object.insert("parent".into(), Value::String(p.to_string()));
    }
    for (key, value) in original {
        if key != "parent" && key != "id" {
            object.insert(key, value);
        }
    }
    serde_json::to_vec(&object).map_err(|e| DistributionError::Protocol(e.to_string()))
}

pub async fn push(
    d: &Arc<Distributor>,
    server: Arc<Server>,
    remote: &Remote,
    tags: &[(String, String)],
    auth: &AuthConfig,
    progress: &Progress,
) -> Result<(), DistributionError> {
    let mut nodes: Vec<Node> = Vec::new();
    let mut tops = Vec::new();
    // The image list for the index: every image of each tag's chain, under that tag.
    let mut listed = Vec::new();
    for (tag, id) in tags {
        let (store, id) = (d.store.clone(), id.clone());
        let image_nodes = blocking(move || nodes_of(&store, &id)).await?;
        tops.push((tag.clone(), image_nodes.last().map(|n| n.id.clone()).unwrap_or_default()));
        listed.extend(image_nodes.iter().map(|n| serde_json::json!({"id": n.id, "Tag": tag})));
        for node in image_nodes {
            if !nodes.iter().any(|n| n.id == node.id) {
                nodes.push(node);
            }
        }
    }
    progress.status(format!("The push refers to a repository [{}] (len: {})", remote.local, tags.len()));
    let index = remote.registry.is_none().then(|| Server::new(server.authority.clone()));
    let registry = match &index {
        Some(index) => open_push(index, remote, auth, &listed, progress).await?,
        None => {
            let registry = Server::new(server.authority.clone());
            if let Some((user, password)) = auth.user_password() {
                registry.set_auth(Authorization::basic(&user, &password));
            }
            registry
        }
    };
    progress.status(format!("Pushing repository {} ({} tags)", remote.local, tags.len()));
    let mut checksums = Vec::new();
    for node in &nodes {
        // Another push of the same image may be under way through another repository: the
        // registry then refuses this one with 409; a few tries later it has the image.
        let mut tries = 0;
        let checksum = loop {
            match push_node(d, &registry, node, progress).await {
                Err(DistributionError::Protocol(m)) if m.contains("409 Conflict") && tries < 5 => {
                    tries += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(300 * tries)).await;
                }
                other => break other?,
            }
        };
        checksums.push(serde_json::json!({"id": node.id, "checksum": checksum.unwrap_or_default()}));
    }
    for (tag, top) in &tops {
        progress.item(
            top,
            format!(
                "Pushing tag for rev [{}] on {{{}}}",
                short(top),
                registry.url(&format!("/v1/repositories/{}/tags/{tag}", remote.path))
            ),
        );
        let path = format!("/v1/repositories/{}/tags/{tag}", remote.path);
        let body = serde_json::to_vec(top).unwrap_or_default();
        let (status, _, answer) = registry.call(Method::PUT, &path, &[], transport::full(body)).await?;
        if !status.is_success() {
            return Err(refused(status, &answer, &format!("cannot push tag {tag}")));
        }
    }
    if let Some(index) = index {
        let path = format!("/v1/repositories/{}/images", remote.path);
        let headers = [("x-docker-endpoints", registry.authority.clone())];
        let body = serde_json::to_vec(&checksums).unwrap_or_default();
        let (status, _, answer) = index.call(Method::PUT, &path, &headers, transport::full(body)).await?;
        if !status.is_success() {
            return Err(refused(status, &answer, "the index refused the image list"));
        }
    }
    Ok(())
}

/// Asks the index for a write token (5.4.1 §2.2 steps 1–2); returns the registry session.
async fn open_push(
    index: &Server,
    remote: &Remote,
    auth: &AuthConfig,
    list: &[Value],
    progress: &Progress,
) -> Result<Server, DistributionError> {
    let (user, password) = auth.user_password().ok_or_else(|| {
        DistributionError::Unauthorized(format!(
            "Authentication is required to push {}: log in first (berth login)",
            remote.local
        ))
    })?;
    if !remote.path.contains('/') {
        return Err(DistributionError::Forbidden(format!(
            "Impossible to push a \"root\" repository. Please rename your repository to <user>/<repo> (ex: {user}/{})",
            remote.path
        )));
    }
    index.set_auth(Authorization::basic(&user, &password));
    progress.status("Sending image list");
    let path = format!("/v1/repositories/{}/", remote.path);
    let headers = [("x-docker-token", "true".to_string())];
    let body = serde_json::to_vec(&list).unwrap_or_default();
    let (status, answer, body) = index.call(Method::PUT, &path, &headers, transport::full(body)).await?;
    if !status.is_success() {
        return Err(refused(status, &body, &format!("cannot push {}", remote.local)));
    }
    let registry = Server::new(first_endpoint(&answer, &index.authority));
    if let Some(token) = token_of(&answer) {
        registry.set_auth(Authorization::Token(token));
    }
    Ok(registry)
}

/// Sends one image's json, layer and checksum unless the registry has it.
async fn push_node(
    d: &Arc<Distributor>,
    registry: &Server,
    node: &Node,
    progress: &Progress,
) -> Result<Option<String>, DistributionError> {
    let path = format!("/v1/images/{}/json", node.id);
    let (status, headers, _) = registry.call(Method::GET, &path, &[], transport::empty()).await?;
    if status.is_success() {
        progress.item(&node.id, "Image already pushed, skipping");
        return Ok(header(&headers, "x-docker-checksum").map(String::from));
    }
    progress.item(&node.id, "Pushing");
    let (status, _, body) = registry.call(Method::PUT, &path, &[], transport::full(node.json.clone())).await?;
    if status == StatusCode::CONFLICT {
        // Pushed before through another repository, which this session may not read.
        progress.item(&node.id, "Image already pushed, skipping");
        return Ok(None);
    }
    if !status.is_success() {
        return Err(refused(status, &body, &format!("cannot push the json of {}", short(&node.id))));
    }
    let (tx, body) = transport::channel(8);
    let (store, chain, json) = (d.store.clone(), node.chain.clone(), node.json.clone());
    let producer = tokio::task::spawn_blocking(move || -> std::io::Result<String> {
        let mut tar = store.layer_tar(&chain).map_err(std::io::Error::other)?;
        let mut hasher = Sha256::new();
        hasher.update(&json);
        hasher.update(b"\n");
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = tar.read(&mut buf)?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            tx.blocking_send(Ok(Bytes::copy_from_slice(&buf[..n])))
                .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the upload stopped"))?;
        }
        Ok(format!("sha256:{}", hex(&hasher.finalize())))
    });
    let layer_path = format!("/v1/images/{}/layer", node.id);
    let (status, _, answer) = registry.call(Method::PUT, &layer_path, &[], body).await?;
    let checksum = producer
        .await
        .map_err(|e| DistributionError::Protocol(format!("reading a layer failed: {e}")))?
        .map_err(|e| DistributionError::Protocol(format!("cannot read the layer of {}: {e}", short(&node.id))))?;
    if !status.is_success() {
        return Err(refused(status, &answer, &format!("cannot push the layer of {}", short(&node.id))));
    }
    let checksum_path = format!("/v1/images/{}/checksum", node.id);
    let headers = [("x-docker-checksum-payload", checksum.clone())];
    let (status, _, answer) = registry.call(Method::PUT, &checksum_path, &headers, transport::empty()).await?;
    if !status.is_success() {
        return Err(refused(status, &answer, &format!("cannot push the checksum of {}", short(&node.id))));
    }
    progress.item(&node.id, "Image successfully pushed");
    Ok(Some(checksum))
}

/// `POST /auth` against an index or v1 registry (3.2.3): registers the account when an email
/// is given and the name is free, else checks the credentials with `GET /v1/users/`.
pub async fn login(server: &Server, user: &str, password: &str, email: &str) -> Result<String, DistributionError> {
    if !email.is_empty() {
        let body = serde_json::json!({"username": user, "password": password, "email": email});
        let (status, _, _) = server
            .call(Method::POST, "/v1/users/", &[], transport::full(serde_json::to_vec(&body).unwrap_or_default()))
            .await?;
        if status == StatusCode::CREATED {
            return Ok(
                "Account created. Please use the confirmation link we sent to your e-mail to activate it.".into()
            );
        }
    }
    server.set_auth(Authorization::basic(user, password));
    let (status, _, _) = server.call(Method::GET, "/v1/users/", &[], transport::empty()).await?;
    match status {
        StatusCode::OK => Ok("Login Succeeded".into()),
        StatusCode::UNAUTHORIZED => {
            Err(DistributionError::Unauthorized("Wrong login/password, please try again".into()))
        }
        StatusCode::FORBIDDEN => Err(DistributionError::Forbidden(
            "Login: Account is not Active. Please check your e-mail for a confirmation link.".into(),
        )),
        other => Err(DistributionError::Protocol(format!("Login: the index at {} answered {other}", server.authority))),
    }
}

/// `GET /v1/search?q=` on the index.
pub async fn search(server: &Server, term: &str) -> Result<Vec<SearchHit>, DistributionError> {
    let path = format!("/v1/search?q={}", transport::escape(term));
    let (status, _, body) = server.call(Method::GET, &path, &[], transport::empty()).await?;
    if !status.is_success() {
        return Err(refused(status, &body, "search failed"));
    }
    let value: Value = serde_json::from_slice(&body)
        .map_err(|e| DistributionError::Protocol(format!("the index's search answer is not JSON: {e}")))?;
    let results = value.get("results").and_then(Value::as_array).cloned().unwrap_or_default();
    Ok(results
        .iter()
        .map(|r| SearchHit {
            name: r.get("name").and_then(Value::as_str).unwrap_or_default().to_string(),
            description: r.get("description").and_then(Value::as_str).unwrap_or_default().to_string(),
            star_count: r.get("star_count").and_then(Value::as_u64).unwrap_or_default(),
            is_official: r.get("is_official").and_then(Value::as_bool).unwrap_or_default(),
            is_automated: r
                .get("is_automated")
                .or_else(|| r.get("is_trusted"))
                .and_then(Value::as_bool)
                .unwrap_or_default(),
        })
        .collect())
}
