//! Pull and push over the distribution API v2: Docker schema 2 and OCI manifests (and the
//! lists/indexes above them), config blobs, gzip layers downloaded in parallel and applied in
//! order, uploads streamed while they are compressed. Token auth (`Bearer realm=...`) and Basic.

use super::gzip;
use super::progress::{short, Progress, Throttle};
use super::transport::{self, header, parse_challenge, Authorization, Server};
use super::{blocking, AuthConfig, Blob, DistributionError, Distributor, Remote};
use berth_api::image::ImageConfig;
use bytes::Bytes;
use http::{Method, StatusCode};
use http_body_util::BodyExt;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest as _, Sha256};
use std::path::PathBuf;
use std::sync::Arc;
use tokio::io::AsyncWriteExt;

pub const SCHEMA2: &str = "application/vnd.docker.distribution.manifest.v2+json";
const LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const CONFIG: &str = "application/vnd.docker.container.image.v1+json";
const LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
/// Downloads of one pull running at once, as docker does.
const PARALLEL: usize = 3;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct Descriptor {
    media_type: String,
    size: u64,
    digest: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    platform: Option<Platform>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    urls: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
struct Platform {
    architecture: String,
    os: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct Manifest {
    schema_version: u32,
    media_type: String,
    config: Option<Descriptor>,
    layers: Vec<Descriptor>,
    manifests: Vec<Descriptor>,
}

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", gzip::hex(&Sha256::digest(bytes)))
}

/// Asks `GET /v2/`; when the server is a v2 registry, sets up the session's authorization
/// for the repository (a Bearer token for its scope, or Basic) and answers true.
pub async fn speaks_v2(
    server: &Server,
    auth: &AuthConfig,
    remote: &Remote,
    push: bool,
) -> Result<bool, DistributionError> {
    if let Some(token) = auth.registrytoken.as_deref().filter(|t| !t.is_empty()) {
        server.set_auth(Authorization::Bearer(token.to_string()));
    }
    let (status, headers, _) = server.call(Method::GET, "/v2/", &[], transport::empty()).await?;
    let v2_header = header(&headers, "docker-distribution-api-version").is_some_and(|v| v.contains("registry/2"));
    match status {
        StatusCode::OK => Ok(true),
        StatusCode::UNAUTHORIZED => {
            let challenge = header(&headers, "www-authenticate").and_then(parse_challenge);
            match challenge {
                Some(c) if c.scheme.eq_ignore_ascii_case("bearer") => {
                    let actions = if push { "pull,push" } else { "pull" };
                    let scope = (!remote.path.is_empty()).then(|| format!("repository:{}:{actions}", remote.v2_path()));
                    let token = fetch_token(&c, scope.as_deref(), auth).await?;
                    server.set_auth(Authorization::Bearer(token));
                    Ok(true)
                }
                Some(c) if c.scheme.eq_ignore_ascii_case("basic") && v2_header => {
                    if let Some((user, password)) = auth.user_password() {
                        server.set_auth(Authorization::basic(&user, &password));
                    }
                    Ok(true)
                }
                _ => Ok(v2_header),
            }
        }
        _ => Ok(false),
    }
}

/// Gets a token from the realm a Bearer challenge names.
async fn fetch_token(
    challenge: &transport::Challenge,
    scope: Option<&str>,
    auth: &AuthConfig,
) -> Result<String, DistributionError> {
    let realm = challenge
        .param("realm")
        .ok_or_else(|| DistributionError::Protocol("the registry's Bearer challenge names no realm".into()))?;
    let (authority, mut path) = transport::split_url(realm)?;
    let mut sep = if path.contains('?') { '&' } else { '?' };
    if let Some(service) = challenge.param("service") {
        path.push_str(&format!("{sep}service={}", transport::escape(service)));
        sep = '&';
    }
    if let Some(scope) = scope {
        path.push_str(&format!("{sep}scope={}", transport::escape(scope)));
    }
    let realm_server = Server::new(authority);
    if let Some((user, password)) = auth.user_password() {
        realm_server.set_auth(Authorization::basic(&user, &password));
    }
    let (status, _, body) = realm_server.call(Method::GET, &path, &[], transport::empty()).await?;
    if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
        return Err(DistributionError::Unauthorized("unauthorized: incorrect username or password".into()));
    }
    if !status.is_success() {
        return Err(DistributionError::Protocol(format!("the token server at {realm} answered {status}")));
    }
    let value: serde_json::Value = serde_json::from_slice(&body)
        .map_err(|e| DistributionError::Protocol(format!("the token server sent no JSON: {e}")))?;
    value
        .get("token")
        .or_else(|| value.get("access_token"))
        .and_then(|t| t.as_str())
        .map(String::from)
        .ok_or_else(|| DistributionError::Protocol("the token server's answer holds no token".into()))
}

/// `POST /auth` against a v2 registry: `GET /v2/` with the credentials.
pub async fn login(server: &Server, user: &str, password: &str) -> Result<String, DistributionError> {
    let auth = AuthConfig { username: Some(user.into()), password: Some(password.into()), ..Default::default() };
    server.set_auth(Authorization::basic(user, password));
    let (status, headers, _) = server.call(Method::GET, "/v2/", &[], transport::empty()).await?;
    if status == StatusCode::OK {
        return Ok("Login Succeeded".into());
    }
    if status == StatusCode::UNAUTHORIZED {
        if let Some(c) = header(&headers, "www-authenticate").and_then(parse_challenge) {
            if c.scheme.eq_ignore_ascii_case("bearer") {
                fetch_token(&c, None, &auth).await?;
                return Ok("Login Succeeded".into());
            }
        }
    }
    Err(DistributionError::Unauthorized(format!(
        "login to {} failed: the registry answered {status}: incorrect username or password",
        server.authority
    )))
}

fn denied(remote: &Remote, status: StatusCode, what: &str) -> DistributionError {
    match status {
        StatusCode::UNAUTHORIZED => DistributionError::Unauthorized(format!(
            "pull access denied for {}, repository does not exist or may require 'docker login'",
            remote.local
        )),
        StatusCode::FORBIDDEN => {
            DistributionError::Forbidden("denied: requested access to the resource is denied".to_string())
        }
        StatusCode::NOT_FOUND => DistributionError::NotFound(format!("{what} not found")),
        _ => DistributionError::Protocol(format!("{what}: the registry answered {status}")),
    }
}

/// Fetches a manifest by tag or digest; a list or index is resolved to this platform's entry.
async fn fetch_manifest(
    server: &Server,
    remote: &Remote,
    reference: &str,
) -> Result<(Manifest, Bytes, String), DistributionError> {
    let accept = format!("{SCHEMA2}, {OCI_MANIFEST}, {LIST}, {OCI_INDEX}");
    let path = format!("/v2/{}/manifests/{reference}", remote.v2_path());
    let (status, headers, body) = server.call(Method::GET, &path, &[("accept", accept)], transport::empty()).await?;
    if !status.is_success() {
        let what = format!("manifest for {}:{reference}", remote.local);
        return Err(denied(remote, status, &what));
    }
    let digest = sha256(&body);
    if reference.starts_with("sha256:") && digest != reference {
        return Err(DistributionError::Protocol(format!("manifest {reference} does not match its digest ({digest})")));
    }
    let mut manifest: Manifest = serde_json::from_slice(&body)
        .map_err(|e| DistributionError::Protocol(format!("the manifest of {} is not valid: {e}", remote.local)))?;
    if manifest.media_type.is_empty() {
        manifest.media_type = header(&headers, "content-type").unwrap_or_default().to_string();
    }
    if manifest.schema_version == 1 {
        return Err(DistributionError::Protocol(format!(
            "{}:{reference} has a schema 1 manifest, which berth does not pull; push it again with a current client",
            remote.local
        )));
    }
    if manifest.media_type == LIST || manifest.media_type == OCI_INDEX || !manifest.manifests.is_empty() {
        let arch = berth_api::go_arch();
        let entry = manifest
            .manifests
            .iter()
            .find(|m| m.platform.as_ref().is_some_and(|p| p.os == "linux" && p.architecture == arch))
            .ok_or_else(|| {
                DistributionError::NotFound(format!(
                    "no matching manifest for linux/{arch} in the manifest list entries"
                ))
            })?
            .digest
            .clone();
        return Box::pin(fetch_manifest(server, remote, &entry)).await;
    }
    Ok((manifest, body, digest))
}

/// The tags of a repository, for a pull that names none.
async fn list_tags(server: &Server, remote: &Remote) -> Result<Vec<String>, DistributionError> {
    let path = format!("/v2/{}/tags/list", remote.v2_path());
    let (status, _, body) = server.call(Method::GET, &path, &[], transport::empty()).await?;
    if !status.is_success() {
        return Err(denied(remote, status, &format!("repository {}", remote.local)));
    }
    let value: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let tags: Vec<String> = value
        .get("tags")
        .and_then(|t| t.as_array())
        .map(|a| a.iter().filter_map(|t| t.as_str().map(String::from)).collect())
        .unwrap_or_default();
    if tags.is_empty() {
        return Err(DistributionError::NotFound(format!("repository {} has no tags", remote.local)));
    }
    Ok(tags)
}

pub async fn pull(
    d: &Arc<Distributor>,
    server: &Arc<Server>,
    remote: &Remote,
    tag: Option<&str>,
    progress: &Progress,
) -> Result<(), DistributionError> {
    let (tags, all) = match tag {
        Some(tag) => (vec![tag.to_string()], false),
        None => (list_tags(server, remote).await?, true),
    };
    let mut newer = false;
    for tag in &tags {
        newer |= pull_tag(d, server, remote, tag, progress).await?;
    }
    let name = if all { remote.local.clone() } else { format!("{}:{}", remote.local, tags[0]) };
    progress.status(if newer {
        format!("Status: Downloaded newer image for {name}")
    } else {
        format!("Status: Image is up to date for {name}")
    });
    Ok(())
}

/// Pulls one tag; true when something new was stored.
async fn pull_tag(
    d: &Arc<Distributor>,
    server: &Arc<Server>,
    remote: &Remote,
    tag: &str,
    progress: &Progress,
) -> Result<bool, DistributionError> {
    let (manifest, _, digest) = fetch_manifest(server, remote, tag).await?;
    progress.item(tag, format!("Pulling from {}", remote.v2_path()));
    let config_desc = manifest.config.clone().ok_or_else(|| {
        DistributionError::Protocol(format!("the manifest of {}:{tag} names no config", remote.local))
    })?;
    let config = fetch_small_blob(server, remote, &config_desc.digest).await?;
    let image_config: ImageConfig = serde_json::from_slice(&config).map_err(|e| {
        DistributionError::Protocol(format!("the image config of {}:{tag} is not valid: {e}", remote.local))
    })?;
    let diff_ids = image_config.rootfs.map(|r| r.diff_ids).unwrap_or_default();
    if diff_ids.len() != manifest.layers.len() {
        return Err(DistributionError::Protocol(format!(
            "the image config of {}:{tag} names {} layers but its manifest lists {}",
            remote.local,
            diff_ids.len(),
            manifest.layers.len()
        )));
    }
    let id = config_desc.digest.trim_start_matches("sha256:").to_string();
    let known = d.store.get(&id).is_some();
    let layers: Vec<Layer> = manifest
        .layers
        .iter()
        .zip(&diff_ids)
        .scan(None::<String>, |parent, (desc, diff_id)| {
            let chain = berth_image::store::chain_id(parent.as_deref(), diff_id);
            *parent = Some(chain.clone());
            Some(Layer { desc: desc.clone(), diff_id: diff_id.clone(), chain })
        })
        .collect();
    let previous = d.store.resolve(&format!("{}:{tag}", remote.local)).map(|i| i.id.clone());
    let target = Target { config, repository: remote.local.clone(), tag: tag.to_string() };
    if known {
        let store = d.store.clone();
        blocking(move || target.store(&store)).await?;
    } else {
        fetch_layers(d, server, remote, &layers, target, progress).await?;
    }
    for layer in &layers {
        d.remember_blob(&layer.diff_id, blob_of(&layer.desc));
    }
    progress.status(format!("Digest: {digest}"));
    Ok(!known || previous.as_deref() != Some(id.as_str()))
}

fn blob_of(desc: &Descriptor) -> Blob {
    Blob { digest: desc.digest.clone(), size: desc.size, media_type: desc.media_type.clone() }
}

/// The image a pull ends with: stored once its layers are, then tagged.
struct Target {
    config: Bytes,
    repository: String,
    tag: String,
}

impl Target {
    fn store(&self, store: &berth_image::Store) -> Result<(), DistributionError> {
        let image = store.add_image(&self.config)?;
        store.tag(&image.id, &self.repository, &self.tag, true)?;
        Ok(())
    }
}

#[derive(Debug, Clone)]
struct Layer {
    desc: Descriptor,
    diff_id: String,
    chain: String,
}

async fn fetch_small_blob(server: &Server, remote: &Remote, digest: &str) -> Result<Bytes, DistributionError> {
    let path = format!("/v2/{}/blobs/{digest}", remote.v2_path());
    let response = get_following(server, &path).await?;
    let status = response.status();
    if !status.is_success() {
        return Err(denied(remote, status, &format!("blob {digest} of {}", remote.local)));
    }
    let bytes = transport::read_small(response.into_body(), &server.authority).await?;
    if sha256(&bytes) != digest {
        return Err(DistributionError::Protocol(format!("blob {digest} does not match its digest")));
    }
    Ok(bytes)
}

/// GET that follows the redirects a registry may send to its storage.
async fn get_following(
    server: &Server,
    path: &str,
) -> Result<http::Response<hyper::body::Incoming>, DistributionError> {
    let mut response = server.send(Method::GET, path, &[], transport::empty()).await?;
    for _ in 0..3 {
        if !response.status().is_redirection() {
            break;
        }
        let location = header(response.headers(), "location").unwrap_or_default().to_string();
        response = if location.starts_with('/') {
            server.send(Method::GET, &location, &[], transport::empty()).await?
        } else {
            let (authority, path) = transport::split_url(&location)?;
            Server::new(authority).send(Method::GET, &path, &[], transport::empty()).await?
        };
    }
    Ok(response)
}

/// Downloads the layers the store lacks (in parallel) and applies them in order.
async fn fetch_layers(
    d: &Arc<Distributor>,
    server: &Arc<Server>,
    remote: &Remote,
    layers: &[Layer],
    target: Target,
    progress: &Progress,
) -> Result<(), DistributionError> {
    let mut chains: Vec<&str> = layers.iter().map(|l| l.chain.as_str()).collect();
    chains.sort_unstable();
    chains.dedup();
    let locks: Vec<_> = chains.iter().map(|c| d.fetch_lock(c)).collect();
    let mut _guards = Vec::new();
    for lock in &locks {
        _guards.push(lock.clone().lock_owned().await);
    }
    let missing: Vec<bool> = layers.iter().map(|l| d.store.layer(&l.chain).is_none()).collect();
    for (layer, missing) in layers.iter().zip(&missing) {
        progress.item(&layer.desc.digest, if *missing { "Pulling fs layer" } else { "Already exists" });
    }
    let scratch = d.store.scratch_dir()?;
    let result = download_and_apply(d, server, remote, layers, &missing, &scratch, target, progress).await;
    let _ = std::fs::remove_dir_all(&scratch);
    result
}

/// Where a downloaded layer is read from: the first layer to apply streams straight from the
/// network into the store (and into a file, which the store keeps as the layer's blob); the
/// others are spooled to files while it is applied.
enum Source {
    File(PathBuf),
    Stream(tokio::sync::mpsc::Receiver<std::io::Result<Bytes>>, PathBuf),
}

/// Where a download writes.
enum Spool {
    File(tokio::io::BufWriter<tokio::fs::File>),
    Stream(tokio::sync::mpsc::Sender<std::io::Result<Bytes>>, tokio::io::BufWriter<tokio::fs::File>),
}

impl Spool {
    async fn write(&mut self, data: Bytes) -> Result<(), DistributionError> {
        match self {
            Spool::File(out) => out.write_all(&data).await.map_err(spool_error),
            Spool::Stream(tx, out) => {
                // The file first: when the stream ends, the file is whole.
                out.write_all(&data).await.map_err(spool_error)?;
                tx.send(Ok(data)).await.map_err(|_| DistributionError::Protocol("applying the layer stopped".into()))
            }
        }
    }

    async fn finish(&mut self, error: Option<&DistributionError>) -> Result<(), DistributionError> {
        match (self, error) {
            (Spool::File(out), _) => out.flush().await.map_err(spool_error),
            (Spool::Stream(tx, _), Some(e)) => {
                let _ = tx.send(Err(std::io::Error::other(e.to_string()))).await;
                Ok(())
            }
            (Spool::Stream(tx, out), None) => {
                if let Err(e) = out.flush().await {
                    let _ = tx.send(Err(std::io::Error::other(format!("cannot keep the layer: {e}")))).await;
                    return Err(spool_error(e));
                }
                Ok(())
            }
        }
    }
}

fn spool_error(e: std::io::Error) -> DistributionError {
    DistributionError::Protocol(format!("cannot store a downloaded layer: {e}"))
}

/// A channel of chunks read as a blocking reader (from a blocking thread only).
#[allow(clippy::too_many_arguments)]
async fn download_and_apply(
    d: &Arc<Distributor>,
    server: &Arc<Server>,
    remote: &Remote,
    layers: &[Layer],
    missing: &[bool],
    scratch: &std::path::Path,
    target: Target,
    progress: &Progress,
) -> Result<(), DistributionError> {
    let permits = Arc::new(tokio::sync::Semaphore::new(PARALLEL));
    let mut downloads = Vec::new();
    let mut streamed = None;
    for (i, layer) in layers.iter().enumerate().filter(|(i, _)| missing[*i]) {
        let (server, progress, permits) = (server.clone(), progress.clone(), permits.clone());
        let path = format!("/v2/{}/blobs/{}", remote.v2_path(), layer.desc.digest);
        let desc = layer.desc.clone();
        let file = scratch.join(format!("layer-{i}"));
        let (spool, source) = if streamed.is_none() && downloads.is_empty() {
            let (tx, rx) = tokio::sync::mpsc::channel(64);
            streamed = Some(Source::Stream(rx, file.clone()));
            (None, Some((tx, file)))
        } else {
            (Some(file), None)
        };
        downloads.push(tokio::spawn(async move {
            let _permit = permits.acquire_owned().await;
            let create = |path: PathBuf| async move {
                let file = tokio::fs::File::create(&path).await.map_err(spool_error)?;
                Ok::<_, DistributionError>(tokio::io::BufWriter::with_capacity(1 << 20, file))
            };
            let sink = match (&spool, source) {
                (Some(file), _) => Spool::File(create(file.clone()).await?),
                (None, Some((tx, file))) => Spool::Stream(tx, create(file).await?),
                (None, None) => unreachable!("a download has a file or a stream"),
            };
            download(&server, &path, &desc, sink, &progress).await?;
            Ok::<_, DistributionError>(spool)
        }));
    }
    let (tx, rx) = std::sync::mpsc::channel::<Result<Source, DistributionError>>();
    let store = d.store.clone();
    let plan: Vec<(Layer, bool)> = layers.iter().cloned().zip(missing.iter().copied()).collect();
    let apply_progress = progress.clone();
    let applier = tokio::task::spawn_blocking(move || apply_layers(&store, &plan, &rx, &target, &apply_progress));
    let mut first_error = None;
    for (n, download) in downloads.into_iter().enumerate() {
        if n == 0 {
            if let Some(source) = streamed.take() {
                let _ = tx.send(Ok(source));
            }
        }
        let result =
            download.await.unwrap_or_else(|e| Err(DistributionError::Protocol(format!("a download failed: {e}"))));
        match result {
            Ok(Some(file)) => {
                if tx.send(Ok(Source::File(file))).is_err() {
                    break;
                }
            }
            Ok(None) => {}
            Err(e) => {
                first_error = Some(e.to_string());
                let _ = tx.send(Err(e));
                break;
            }
        }
    }
    drop(tx);
    let applied = applier.await.map_err(|e| DistributionError::Protocol(format!("applying layers failed: {e}")))?;
    match (applied, first_error) {
        (Err(_), Some(download_error)) => Err(DistributionError::Protocol(download_error)),
        (result, _) => result,
    }
}

fn apply_layers(
    store: &berth_image::Store,
    plan: &[(Layer, bool)],
    sources: &std::sync::mpsc::Receiver<Result<Source, DistributionError>>,
    target: &Target,
    progress: &Progress,
) -> Result<(), DistributionError> {
    let mut pins = Vec::new();
    let mut parent: Option<String> = None;
    for (layer, missing) in plan {
        if *missing {
            let source =
                sources.recv().map_err(|_| DistributionError::Protocol("a layer download stopped".into()))??;
            progress.item(&layer.desc.digest, "Extracting");
            let unreadable = |e: std::io::Error| {
                DistributionError::Protocol(format!("layer {} cannot be read: {e}", layer.desc.digest))
            };
            let (mut reader, blob) = match source {
                Source::File(path) => {
                    let file = std::fs::File::open(&path).map_err(unreadable)?;
                    let reader = berth_image::archive::decompressed(std::io::BufReader::with_capacity(1 << 20, file));
                    (reader.map_err(unreadable)?, path)
                }
                Source::Stream(rx, path) => {
                    let reader = super::ChannelReader::new(rx);
                    (berth_image::archive::decompressed(reader).map_err(unreadable)?, path)
                }
            };
            // The store keeps the blob as it came, not a copy of the tar: once the layer is
            // applied, the rest of the stream is read (a streamed layer counts only once the
            // download has checked its digest, and its file is then whole).
            let kept = blob.clone();
            let mut finish = move |rest: &mut dyn std::io::Read| {
                std::io::copy(rest, &mut std::io::sink())?;
                Ok(kept.clone())
            };
            let stored = store.add_layer_with(
                parent.as_deref(),
                &mut reader,
                Some(&layer.diff_id),
                berth_image::KeepTar::Blob(&mut finish),
            );
            let _ = std::fs::remove_file(&blob);
            pins.push(stored?);
            progress.item(&layer.desc.digest, "Pull complete");
        }
        parent = Some(layer.chain.clone());
    }
    // The new layers stay pinned until the image that names them is stored.
    target.store(store)?;
    drop(pins);
    Ok(())
}

/// Streams a blob to its spool, checking its digest and size; a mismatch fails the stream.
async fn download(
    server: &Server,
    path: &str,
    desc: &Descriptor,
    mut sink: Spool,
    progress: &Progress,
) -> Result<(), DistributionError> {
    let result = fetch_into(server, path, desc, &mut sink, progress).await;
    sink.finish(result.as_ref().err()).await?;
    result?;
    progress.item(&desc.digest, "Download complete");
    Ok(())
}

async fn fetch_into(
    server: &Server,
    path: &str,
    desc: &Descriptor,
    sink: &mut Spool,
    progress: &Progress,
) -> Result<(), DistributionError> {
    if !desc.urls.is_empty() {
        return Err(DistributionError::Protocol(format!(
            "layer {} is a foreign layer, which berth does not fetch",
            desc.digest
        )));
    }
    let response = get_following(server, path).await?;
    if !response.status().is_success() {
        return Err(DistributionError::Protocol(format!(
            "layer {} cannot be fetched: the registry answered {}",
            desc.digest,
            response.status()
        )));
    }
    let mut body = response.into_body();
    let mut hasher = Sha256::new();
    let mut current = 0u64;
    let mut throttle = Throttle::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| DistributionError::Unreachable(format!("{}: {e}", server.authority)))?;
        let Ok(data) = frame.into_data() else { continue };
        hasher.update(&data);
        current += data.len() as u64;
        sink.write(data).await?;
        if throttle.ready() {
            progress.bytes(&desc.digest, "Downloading", current, Some(desc.size));
        }
    }
    progress.item(&desc.digest, "Verifying Checksum");
    let got = format!("sha256:{}", gzip::hex(&hasher.finalize()));
    if got != desc.digest || (desc.size > 0 && current != desc.size) {
        return Err(DistributionError::Protocol(format!(
            "filesystem layer verification failed for digest {}: got {got} ({current} bytes)",
            desc.digest
        )));
    }
    Ok(())
}

pub async fn push(
    d: &Arc<Distributor>,
    server: &Arc<Server>,
    remote: &Remote,
    tags: &[(String, String)],
    progress: &Progress,
) -> Result<(), DistributionError> {
    progress.status(format!("The push refers to repository [{}]", remote.local));
    for (tag, id) in tags {
        push_image(d, server, remote, tag, id, progress).await?;
    }
    Ok(())
}

async fn push_image(
    d: &Arc<Distributor>,
    server: &Arc<Server>,
    remote: &Remote,
    tag: &str,
    id: &str,
    progress: &Progress,
) -> Result<(), DistributionError> {
    let image = d.store.get(id).ok_or_else(|| DistributionError::NotFound(format!("No such image: {id}")))?;
    let config = d.store.config_bytes(id)?;
    let layers: Vec<berth_image::Layer> = image
        .layers
        .iter()
        .map(|c| {
            d.store.layer(c).ok_or_else(|| DistributionError::Protocol(format!("layer {c} is missing from the store")))
        })
        .collect::<Result<_, _>>()?;
    for layer in layers.iter().rev() {
        progress.item(&layer.diff_id, "Preparing");
    }
    let mut uploads = Vec::new();
    for layer in &layers {
        let (d, server, remote, progress, layer) =
            (d.clone(), server.clone(), remote.clone(), progress.clone(), layer.clone());
        uploads.push(tokio::spawn(async move { push_layer(&d, &server, &remote, &layer, &progress).await }));
    }
    let mut blobs = Vec::new();
    for upload in uploads {
        blobs.push(upload.await.map_err(|e| DistributionError::Protocol(format!("an upload failed: {e}")))??);
    }
    let config_digest = image.digest();
    if !blob_exists(server, remote, &config_digest).await? {
        upload_bytes(server, remote, &config_digest, Bytes::from(config.clone())).await?;
    }
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": SCHEMA2,
        "config": {"mediaType": CONFIG, "size": config.len(), "digest": config_digest},
        "layers": blobs.iter().map(|b| json!({"mediaType": b.media_type, "size": b.size, "digest": b.digest})).collect::<Vec<_>>(),
    });
    let manifest = serde_json::to_vec_pretty(&manifest).map_err(|e| DistributionError::Protocol(e.to_string()))?;
    let path = format!("/v2/{}/manifests/{tag}", remote.v2_path());
    let headers = [("content-type", SCHEMA2.to_string())];
    let (status, _, body) = server.call(Method::PUT, &path, &headers, transport::full(manifest.clone())).await?;
    if !status.is_success() {
        return Err(push_refused(status, &body, "the manifest"));
    }
    let digest = sha256(&manifest);
    progress.status(format!("{tag}: digest: {digest} size: {}", manifest.len()));
    progress.send(berth_api::progress::Message {
        progress_detail: Some(Default::default()),
        aux: Some(json!({"Tag": tag, "Digest": digest, "Size": manifest.len()})),
        ..Default::default()
    });
    Ok(())
}

fn push_refused(status: StatusCode, body: &[u8], what: &str) -> DistributionError {
    let detail = String::from_utf8_lossy(body);
    let detail = detail.trim();
    match status {
        StatusCode::UNAUTHORIZED => DistributionError::Unauthorized("unauthorized: authentication required".into()),
        StatusCode::FORBIDDEN => {
            DistributionError::Forbidden("denied: requested access to the resource is denied".into())
        }
        _ => DistributionError::Protocol(format!("the registry refused {what} ({status}): {detail}")),
    }
}

async fn blob_exists(server: &Server, remote: &Remote, digest: &str) -> Result<bool, DistributionError> {
    let path = format!("/v2/{}/blobs/{digest}", remote.v2_path());
    let (status, _, _) = server.call(Method::HEAD, &path, &[], transport::empty()).await?;
    Ok(status.is_success())
}

/// Starts an upload; returns where to send its data.
async fn start_upload(server: &Server, remote: &Remote) -> Result<String, DistributionError> {
    let path = format!("/v2/{}/blobs/uploads/", remote.v2_path());
    let (status, headers, body) = server.call(Method::POST, &path, &[], transport::empty()).await?;
    if status != StatusCode::ACCEPTED {
        return Err(push_refused(status, &body, "an upload"));
    }
    location(&headers)
}

fn location(headers: &http::HeaderMap) -> Result<String, DistributionError> {
    let location = header(headers, "location")
        .ok_or_else(|| DistributionError::Protocol("the registry gave no upload location".into()))?;
    if location.starts_with('/') {
        Ok(location.to_string())
    } else {
        Ok(transport::split_url(location)?.1)
    }
}

fn with_digest(location: &str, digest: &str) -> String {
    let sep = if location.contains('?') { '&' } else { '?' };
    format!("{location}{sep}digest={}", transport::escape(digest))
}

async fn upload_bytes(server: &Server, remote: &Remote, digest: &str, bytes: Bytes) -> Result<(), DistributionError> {
    let location = start_upload(server, remote).await?;
    let headers = [("content-type", "application/octet-stream".to_string())];
    let (status, _, body) =
        server.call(Method::PUT, &with_digest(&location, digest), &headers, transport::full(bytes)).await?;
    if status != StatusCode::CREATED {
        return Err(push_refused(status, &body, &format!("blob {digest}")));
    }
    Ok(())
}

/// Sends one layer unless the registry has it: compressed on the fly and streamed.
async fn push_layer(
    d: &Arc<Distributor>,
    server: &Arc<Server>,
    remote: &Remote,
    layer: &berth_image::Layer,
    progress: &Progress,
) -> Result<Blob, DistributionError> {
    let id = layer.diff_id.clone();
    if let Some(blob) = d.known_blob(&layer.diff_id) {
        if blob_exists(server, remote, &blob.digest).await? {
            progress.item(&id, "Layer already exists");
            return Ok(blob);
        }
    }
    let location = start_upload(server, remote).await?;
    let (tx, body) = transport::channel(8);
    let store = d.store.clone();
    let (chain, total) = (layer.chain_id.clone(), layer.size);
    let sender_progress = progress.clone();
    let sender_id = id.clone();
    let compress = tokio::task::spawn_blocking(move || -> std::io::Result<gzip::Compressed> {
        let tar = store.layer_tar(&chain).map_err(std::io::Error::other)?;
        let mut counted =
            Counted { inner: tar, read: 0, total, id: sender_id, progress: sender_progress, throttle: Throttle::new() };
        gzip::compress(&mut counted, |member| {
            tx.blocking_send(Ok(Bytes::from(member)))
                .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the upload stopped"))
        })
    });
    let headers = [("content-type", "application/octet-stream".to_string())];
    let (status, answer_headers, body_bytes) = server.call(Method::PATCH, &location, &headers, body).await?;
    let compressed = compress
        .await
        .map_err(|e| DistributionError::Protocol(format!("compressing a layer failed: {e}")))?
        .map_err(|e| DistributionError::Protocol(format!("cannot compress layer {}: {e}", layer.diff_id)))?;
    if status != StatusCode::ACCEPTED && status != StatusCode::NO_CONTENT {
        return Err(push_refused(status, &body_bytes, &format!("layer {}", short(&id))));
    }
    let location = location_or(&answer_headers, &location);
    let (status, _, body) =
        server.call(Method::PUT, &with_digest(&location, &compressed.digest), &[], transport::empty()).await?;
    if status != StatusCode::CREATED {
        return Err(push_refused(status, &body, &format!("layer {}", short(&id))));
    }
    progress.item(&id, "Pushed");
    let blob = Blob { digest: compressed.digest, size: compressed.size, media_type: LAYER_GZIP.into() };
    d.remember_blob(&layer.diff_id, blob.clone());
    Ok(blob)
}

fn location_or(headers: &http::HeaderMap, fallback: &str) -> String {
    location(headers).unwrap_or_else(|_| fallback.to_string())
}

/// A reader that reports how much of a layer has been read.
struct Counted<R> {
    inner: R,
    read: u64,
    total: u64,
    id: String,
    progress: Progress,
    throttle: Throttle,
}

impl<R: std::io::Read> std::io::Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        if self.throttle.ready() {
            self.progress.bytes(&self.id, "Pushing", self.read, Some(self.total));
        }
        Ok(n)
    }
}
