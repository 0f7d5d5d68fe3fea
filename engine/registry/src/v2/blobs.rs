//! Blobs and their uploads: `HEAD/GET/DELETE /v2/<name>/blobs/<digest>`, `POST
//! .../blobs/uploads/` (monolithic with `?digest=`, cross-repository mount with
//! `?mount=&from=`, or the start of a chunked upload), then `PATCH`, `PUT ?digest=`, `GET`
//! and `DELETE` on `.../blobs/uploads/<uuid>`.

use super::store::BlobHasher;
use super::uploads::Upload;
use super::{parse_digest, Code, Distribution, V2Error};
use crate::fsio::{blocking, receive, stream_file, ReceiveError};
use crate::http::{self as h, Body, ResponseExt};
use crate::names::{is_v2_name, Digest};
use http::request::Parts;
use http::{header, Method, Response, StatusCode};
use hyper::body::Incoming;
use std::fs::File;

pub async fn get(dist: &Distribution, parts: &Parts, name: &str, digest: &Digest) -> Result<Response<Body>, V2Error> {
    dist.authorize(parts, None).await?;
    let (store, repository, wanted) = (dist.store.clone(), name.to_string(), digest.clone());
    let opened = blocking(move || match store.has_blob(&repository, &wanted)? {
        Some(_) => File::open(store.blob_path(&wanted)).and_then(|f| Ok(Some((f.metadata()?.len(), f)))),
        None => Ok(None),
    })
    .await?;
    let (len, file) = opened.ok_or_else(|| blob_unknown(digest))?;
    let body = if parts.method == Method::HEAD { Body::Empty } else { stream_file(file, len) };
    Ok(h::response(StatusCode::OK, body)
        .with_header(header::CONTENT_TYPE, "application/octet-stream")
        .with_header(header::CONTENT_LENGTH, len.to_string())
        .with_header("docker-content-digest", digest.to_string())
        .with_header(header::ETAG, format!("\"{digest}\""))
        .with_header(header::CACHE_CONTROL, "max-age=31536000"))
}

fn blob_unknown(digest: &Digest) -> V2Error {
    V2Error::new(Code::BlobUnknown, "blob unknown to registry")
        .with_detail(serde_json::json!({"digest": digest.to_string()}))
}

/// Unlinks the blob from the repository (the data stays for other repositories).
pub async fn delete(
    dist: &Distribution,
    parts: &Parts,
    name: &str,
    digest: &Digest,
) -> Result<Response<Body>, V2Error> {
    dist.authorize(parts, Some(name)).await?;
    let _guard = dist.lock.lock().await;
    let (store, repository, wanted) = (dist.store.clone(), name.to_string(), digest.clone());
    match blocking(move || store.unlink_blob(&repository, &wanted)).await? {
        true => Ok(h::empty(StatusCode::ACCEPTED).with_header(header::CONTENT_LENGTH, "0")),
        false => Err(blob_unknown(digest)),
    }
}

pub async fn start_upload(
    dist: &Distribution,
    parts: &Parts,
    body: Incoming,
    name: &str,
) -> Result<Response<Body>, V2Error> {
    dist.authorize(parts, Some(name)).await?;
    let query = h::query(parts);
    if let (Some(mount), Some(from)) = (h::query_value(&query, "mount"), h::query_value(&query, "from")) {
        if let Some(response) = mount_blob(dist, parts, name, &parse_digest(&mount)?, &from).await? {
            return Ok(response);
        }
    } else if let Some(digest) = h::query_value(&query, "digest") {
        return monolithic(dist, body, name, &parse_digest(&digest)?).await;
    }
    let uuid = dist.uploads.start(name).await?;
    Ok(upload_response(StatusCode::ACCEPTED, name, &uuid, 0))
}

/// Links a blob of repository `from` into `name`; `None` (start an upload instead) when the
/// blob is not there or the caller may not read `from`.
async fn mount_blob(
    dist: &Distribution,
    parts: &Parts,
    name: &str,
    digest: &Digest,
    from: &str,
) -> Result<Option<Response<Body>>, V2Error> {
    if !is_v2_name(from) || dist.authorize(parts, None).await.is_err() {
        return Ok(None);
    }
    let _guard = dist.lock.lock().await;
    let (store, source, target, wanted) = (dist.store.clone(), from.to_string(), name.to_string(), digest.clone());
    let mounted = blocking(move || match store.has_blob(&source, &wanted)? {
        Some(_) => store.link_blob(&target, &wanted).map(|()| true),
        None => Ok(false),
    })
    .await?;
    Ok(mounted.then(|| created(name, digest)))
}

/// `POST ...?digest=` with the whole blob as the body.
async fn monolithic(
    dist: &Distribution,
    body: Incoming,
    name: &str,
    digest: &Digest,
) -> Result<Response<Body>, V2Error> {
    let store = dist.store.clone();
    let temp = blocking(move || store.storage().temp()).await?;
    let file = temp.as_file().try_clone()?;
    let received = receive(body, file, BlobHasher::new(digest.algorithm), None).await.map_err(upload_error)?;
    let computed = received.hasher.finish();
    if computed != *digest {
        let message = format!("the upload's digest is {computed}, not {digest}");
        return Err(
            V2Error::new(Code::DigestInvalid, message).with_detail(serde_json::json!({"digest": digest.to_string()}))
        );
    }
    let _guard = dist.lock.lock().await;
    let (store, repository, wanted) = (dist.store.clone(), name.to_string(), digest.clone());
    blocking(move || {
        store.commit_temp(temp, &wanted)?;
        store.link_blob(&repository, &wanted)
    })
    .await?;
    Ok(created(name, digest))
}

fn upload_error(error: ReceiveError) -> V2Error {
    match error {
        ReceiveError::Io(e) => e.into(),
        other => V2Error::new(Code::BlobUploadInvalid, other.to_string()),
    }
}

fn created(name: &str, digest: &Digest) -> Response<Body> {
    h::empty(StatusCode::CREATED)
        .with_header(header::LOCATION, format!("/v2/{name}/blobs/{digest}"))
        .with_header(header::CONTENT_LENGTH, "0")
        .with_header("docker-content-digest", digest.to_string())
}

fn upload_response(status: StatusCode, name: &str, uuid: &str, offset: u64) -> Response<Body> {
    h::empty(status)
        .with_header(header::LOCATION, format!("/v2/{name}/blobs/uploads/{uuid}"))
        .with_header(header::RANGE, format!("0-{}", offset.saturating_sub(1)))
        .with_header(header::CONTENT_LENGTH, "0")
        .with_header("docker-upload-uuid", uuid)
}

/// The upload, locked for this request; a closed one is unknown.
async fn locked_upload(
    dist: &Distribution,
    parts: &Parts,
    name: &str,
    uuid: &str,
) -> Result<tokio::sync::OwnedMutexGuard<Upload>, V2Error> {
    dist.authorize(parts, Some(name)).await?;
    let upload = dist.uploads.find(name, uuid).await?.lock_owned().await;
    if upload.closed {
        return Err(V2Error::new(Code::BlobUploadUnknown, format!("upload {uuid} is unknown")));
    }
    Ok(upload)
}

/// A chunk must start where the upload stands (`Content-Range: <start>-<end>`).
fn check_content_range(parts: &Parts, upload: &Upload) -> Result<(), V2Error> {
    let Some(range) = h::header(parts, header::CONTENT_RANGE) else { return Ok(()) };
    let range = range.trim().trim_start_matches("bytes").trim_start_matches([' ', '=']);
    let start = range.split(['-', '/']).next().and_then(|s| s.trim().parse::<u64>().ok());
    if start == Some(upload.offset) {
        return Ok(());
    }
    let message = format!("the chunk starts at {range:?} but the upload has {} bytes", upload.offset);
    Err(V2Error::new(Code::RangeInvalid, message)
        .with_header("range", format!("0-{}", upload.offset.saturating_sub(1)))
        .with_header("location", format!("/v2/{}/blobs/uploads/{}", upload.name, upload.uuid))
        .with_header("docker-upload-uuid", upload.uuid.clone()))
}

pub async fn patch_upload(
    dist: &Distribution,
    parts: &Parts,
    body: Incoming,
    name: &str,
    uuid: &str,
) -> Result<Response<Body>, V2Error> {
    let mut upload = locked_upload(dist, parts, name, uuid).await?;
    check_content_range(parts, &upload)?;
    dist.uploads.append(&mut upload, body).await?;
    Ok(upload_response(StatusCode::ACCEPTED, name, uuid, upload.offset))
}

pub async fn finish_upload(
    dist: &Distribution,
    parts: &Parts,
    body: Incoming,
    name: &str,
    uuid: &str,
) -> Result<Response<Body>, V2Error> {
    let digest = h::query_value(&h::query(parts), "digest")
        .ok_or_else(|| V2Error::new(Code::DigestInvalid, "completing an upload needs ?digest="))?;
    let digest = parse_digest(&digest)?;
    let mut upload = locked_upload(dist, parts, name, uuid).await?;
    check_content_range(parts, &upload)?;
    dist.uploads.append(&mut upload, body).await?;
    let _guard = dist.lock.lock().await;
    dist.uploads.finish(&mut upload, &digest).await?;
    Ok(created(name, &digest))
}

pub async fn upload_status(
    dist: &Distribution,
    parts: &Parts,
    name: &str,
    uuid: &str,
) -> Result<Response<Body>, V2Error> {
    let upload = locked_upload(dist, parts, name, uuid).await?;
    Ok(upload_response(StatusCode::NO_CONTENT, name, uuid, upload.offset))
}

pub async fn cancel_upload(
    dist: &Distribution,
    parts: &Parts,
    name: &str,
    uuid: &str,
) -> Result<Response<Body>, V2Error> {
    let mut upload = locked_upload(dist, parts, name, uuid).await?;
    dist.uploads.cancel(&mut upload).await?;
    Ok(h::empty(StatusCode::NO_CONTENT))
}
