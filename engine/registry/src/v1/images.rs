//! `/v1/images/<id>/{json,layer,ancestry,checksum}` (5.4.1 §4.1, 5.4.2 §2.1) and the checksum
//! flow docker clients follow: PUT json, PUT layer (the registry computes `sha256:` of json +
//! "\n" + layer while it arrives), PUT checksum with `X-Docker-Checksum-Payload` (that sha256)
//! and/or `X-Docker-Checksum` (`tarsum+sha256:...` or `sha256:...`). A mismatch is refused with
//! 400 and takes the layer back.

use super::store::ImageMeta;
use super::tarsum::tarsum_v0;
use super::{ok_empty, run, Ctx, Need, RegistryService, V1Error};
use crate::fsio::{receive, stream_file, ReceiveError};
use crate::http::{self as h, Body, ResponseExt};
use crate::names::is_image_id;
use crate::token::{hex, Access};
use http::{header, Method, Response, StatusCode};
use sha2::{Digest, Sha256};
use std::fs::File;
use std::path::Path;

pub async fn get_json(svc: &RegistryService, ctx: &mut Ctx, id: &str) -> Result<Response<Body>, V1Error> {
    ctx.authorize(&svc.gate, Need::Image(id, Access::Read)).await?;
    let (store, image) = (svc.store.clone(), id.to_string());
    let found = run(move || Ok(store.complete_meta(&image)?.zip(store.json(&image)?))).await?;
    let (meta, json) = found.ok_or_else(|| V1Error::not_found("Image not found"))?;
    let response = h::json_bytes(StatusCode::OK, json).with_header("x-docker-size", meta.size.unwrap_or(0).to_string());
    let payload = meta.payload_checksum.clone().unwrap_or_default();
    Ok(response
        .with_header("x-docker-checksum", meta.checksum.unwrap_or_else(|| payload.clone()))
        .with_header("x-docker-checksum-payload", payload))
}

pub async fn put_json(svc: &RegistryService, ctx: &mut Ctx, id: &str) -> Result<Response<Body>, V1Error> {
    ctx.authorize(&svc.gate, Need::Image(id, Access::Write)).await?;
    let expected = h::header(&ctx.parts, "x-docker-checksum").map(str::to_string);
    if let Some(checksum) = &expected {
        check_checksum_format(checksum)?;
    }
    let body = ctx.small_body().await?;
    let parent = image_parent(&body, id)?;
    let _guard = svc.lock.lock().await;
    let (store, id) = (svc.store.clone(), id.to_string());
    run(move || {
        if store.meta(&id)?.is_some_and(|meta| meta.complete) {
            return Err(V1Error::conflict("Image already exists"));
        }
        let mut ancestry = vec![id.clone()];
        if let Some(parent) = parent {
            let parent_ancestry = store.ancestry(&parent)?.filter(|_| store.json(&parent).is_ok_and(|j| j.is_some()));
            ancestry
                .extend(parent_ancestry.ok_or_else(|| V1Error::bad_request("Image depends on a non existing parent"))?);
        }
        store.put_json(&id, &body, &ancestry, expected)?;
        Ok(ok_empty())
    })
    .await
}

/// Checks the uploaded json names this image, and returns its parent.
fn image_parent(body: &[u8], id: &str) -> Result<Option<String>, V1Error> {
    let value: serde_json::Value = serde_json::from_slice(body).map_err(|_| V1Error::bad_request("Invalid JSON"))?;
    let object = value.as_object().ok_or_else(|| V1Error::bad_request("Invalid JSON: expected an object"))?;
    match object.get("id").and_then(|v| v.as_str()) {
        None => return Err(V1Error::bad_request("Missing key `id' in JSON")),
        Some(json_id) if json_id != id => return Err(V1Error::bad_request("JSON data contains invalid id")),
        Some(_) => {}
    }
    match object.get("parent") {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(p)) if p.is_empty() => Ok(None),
        Some(serde_json::Value::String(p)) if is_image_id(p) && p != id => Ok(Some(p.clone())),
        Some(_) => Err(V1Error::bad_request("Invalid parent id in JSON")),
    }
}

pub async fn get_layer(svc: &RegistryService, ctx: &mut Ctx, id: &str) -> Result<Response<Body>, V1Error> {
    ctx.authorize(&svc.gate, Need::Image(id, Access::Read)).await?;
    let (store, image) = (svc.store.clone(), id.to_string());
    let opened = run(move || match store.complete_meta(&image)? {
        None => Ok(None),
        Some(_) => {
            let file = File::open(store.layer_path(&image))?;
            let len = file.metadata()?.len();
            Ok(Some((file, len)))
        }
    })
    .await?;
    let (file, len) = opened.ok_or_else(|| V1Error::not_found("Image not found"))?;
    let body = if ctx.parts.method == Method::HEAD { Body::Empty } else { stream_file(file, len) };
    Ok(h::response(StatusCode::OK, body)
        .with_header(header::CONTENT_TYPE, "application/octet-stream")
        .with_header(header::CONTENT_LENGTH, len.to_string())
        .with_header("x-docker-size", len.to_string()))
}

pub async fn put_layer(svc: &RegistryService, ctx: &mut Ctx, id: &str) -> Result<Response<Body>, V1Error> {
    ctx.authorize(&svc.gate, Need::Image(id, Access::Write)).await?;
    let (store, image) = (svc.store.clone(), id.to_string());
    let (meta, json, temp): (ImageMeta, Vec<u8>, tempfile::NamedTempFile) = run(move || {
        let (Some(meta), Some(json)) = (store.meta(&image)?, store.json(&image)?) else {
            return Err(V1Error::not_found("Image not found"));
        };
        if meta.complete {
            return Err(V1Error::conflict("Image already exists"));
        }
        Ok((meta, json, store.storage().temp()?))
    })
    .await?;
    let mut payload = Sha256::new();
    payload.update(&json);
    payload.update(b"\n");
    let received = receive(ctx.take_body()?, temp.as_file().try_clone()?, payload, None).await.map_err(upload_error)?;
    let layer = ImageMeta {
        complete: true,
        size: Some(received.written),
        payload_checksum: Some(format!("sha256:{}", hex(&received.hasher.finalize()))),
        checksum: meta.expected_checksum.clone(),
        expected_checksum: None,
    };
    let _guard = svc.lock.lock().await;
    let (store, id) = (svc.store.clone(), id.to_string());
    run(move || {
        if store.meta(&id)? != Some(meta.clone()) {
            return Err(V1Error::conflict("the image changed during the upload: upload it again"));
        }
        if let Some(expected) = &meta.expected_checksum {
            if verify(expected, &layer, temp.path(), &json)? == Some(false) {
                return Err(V1Error::bad_request("Checksum mismatch, ignoring the layer"));
            }
        }
        store.commit_layer(&id, temp, &layer)?;
        Ok(ok_empty())
    })
    .await
}

fn upload_error(error: ReceiveError) -> V1Error {
    match error {
        ReceiveError::Io(e) => e.into(),
        other => V1Error::bad_request(other.to_string()),
    }
}

pub async fn put_checksum(svc: &RegistryService, ctx: &mut Ctx, id: &str) -> Result<Response<Body>, V1Error> {
    ctx.authorize(&svc.gate, Need::Image(id, Access::Write)).await?;
    let payload = h::header(&ctx.parts, "x-docker-checksum-payload").map(str::to_string);
    let declared = h::header(&ctx.parts, "x-docker-checksum").map(str::to_string);
    if payload.is_none() && declared.is_none() {
        return Err(V1Error::bad_request("Missing Image's checksum"));
    }
    for checksum in payload.iter().chain(declared.iter()) {
        check_checksum_format(checksum)?;
    }
    let _guard = svc.lock.lock().await;
    let (store, id) = (svc.store.clone(), id.to_string());
    run(move || {
        let (Some(mut meta), Some(json)) = (store.meta(&id)?, store.json(&id)?) else {
            return Err(V1Error::not_found("Image not found"));
        };
        if !meta.complete {
            return Err(V1Error::conflict("Cannot set this image checksum: the layer has not been uploaded"));
        }
        let matched = match (&payload, &declared) {
            (Some(p), _) => Some(Some(p) == meta.payload_checksum.as_ref()),
            (None, Some(d)) => verify(d, &meta, &store.layer_path(&id), &json)?,
            (None, None) => None,
        };
        if matched == Some(false) {
            store.reject_layer(&id, &meta)?;
            return Err(V1Error::bad_request("Checksum mismatch"));
        }
        meta.checksum = declared.or(payload);
        store.write_meta(&id, &meta)?;
        Ok(ok_empty())
    })
    .await
}

/// Whether a declared checksum matches the layer: `Some(bool)` when the registry can compute
/// that kind (`sha256:` payload, `tarsum+sha256:` v0), `None` when it cannot (`tarsum.v1`).
fn verify(declared: &str, meta: &ImageMeta, layer: &Path, json: &[u8]) -> std::io::Result<Option<bool>> {
    if declared.starts_with("sha256:") {
        return Ok(Some(meta.payload_checksum.as_deref() == Some(declared)));
    }
    if declared.starts_with("tarsum+sha256:") {
        let computed = tarsum_v0(File::open(layer)?, json);
        return Ok(Some(computed.is_ok_and(|sum| sum == declared)));
    }
    Ok(None)
}

fn check_checksum_format(checksum: &str) -> Result<(), V1Error> {
    let known = ["sha256:", "tarsum+sha256:", "tarsum.v1+sha256:", "tarsum.dev+sha256:"];
    let valid = known.iter().any(|prefix| checksum.strip_prefix(prefix).is_some_and(is_hex64));
    if valid {
        Ok(())
    } else {
        Err(V1Error::bad_request(format!(
            "Invalid checksum format {checksum:?}: expected sha256:<hex> or tarsum+sha256:<hex>"
        )))
    }
}

fn is_hex64(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

pub async fn get_ancestry(svc: &RegistryService, ctx: &mut Ctx, id: &str) -> Result<Response<Body>, V1Error> {
    ctx.authorize(&svc.gate, Need::Image(id, Access::Read)).await?;
    let (store, image) = (svc.store.clone(), id.to_string());
    let ancestry = run(move || match store.complete_meta(&image)? {
        Some(_) => Ok(store.ancestry(&image)?),
        None => Ok(None),
    })
    .await?;
    Ok(h::json(StatusCode::OK, &ancestry.ok_or_else(|| V1Error::not_found("Image not found"))?))
}

pub async fn put_ancestry(svc: &RegistryService, ctx: &mut Ctx, id: &str) -> Result<Response<Body>, V1Error> {
    ctx.authorize(&svc.gate, Need::Image(id, Access::Write)).await?;
    let body = ctx.small_body().await?;
    let ancestry: Vec<String> = serde_json::from_slice(&body)
        .map_err(|_| V1Error::bad_request("Invalid data: expected a JSON array of ids"))?;
    if ancestry.first().map(String::as_str) != Some(id) || !ancestry.iter().all(|a| is_image_id(a)) {
        return Err(V1Error::bad_request("Invalid data: the ancestry starts with the image and lists image ids"));
    }
    let _guard = svc.lock.lock().await;
    let (store, id) = (svc.store.clone(), id.to_string());
    run(move || {
        if store.meta(&id)?.is_none() {
            return Err(V1Error::not_found("Image not found"));
        }
        store.put_ancestry(&id, &ancestry)?;
        Ok(ok_empty())
    })
    .await
}
