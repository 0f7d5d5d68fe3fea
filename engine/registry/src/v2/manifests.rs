//! Manifests by tag and by digest: Docker schema 2 and manifest lists, OCI image manifests and
//! indexes. A PUT is checked before anything is stored: JSON of schema version 2, a known media
//! type, every referenced blob (or child manifest) present in the repository, and the digest of
//! the body equal to the one in the URL when a digest was used.

use super::store::digest_of;
use super::{Code, Distribution, Reference, V2Error};
use crate::fsio::blocking;
use crate::http::{self as h, Body, ResponseExt};
use crate::names::{Algorithm, Digest};
use http::request::Parts;
use http::{header, Method, Response, StatusCode};
use hyper::body::Incoming;

const MAX_MANIFEST: usize = 4 << 20;

pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

pub async fn get(
    dist: &Distribution,
    parts: &Parts,
    name: &str,
    reference: &Reference,
) -> Result<Response<Body>, V2Error> {
    dist.authorize(parts, None).await?;
    let (store, repository, wanted) = (dist.store.clone(), name.to_string(), reference.clone());
    let found = blocking(move || {
        let digest = match wanted {
            Reference::Digest(digest) => Some(digest),
            Reference::Tag(tag) => store.tag(&repository, &tag)?,
        };
        let Some(digest) = digest else { return Ok(None) };
        let Some(media_type) = store.manifest_type(&repository, &digest)? else { return Ok(None) };
        Ok(store.read_blob(&digest)?.map(|bytes| (digest, media_type, bytes)))
    })
    .await?;
    let (digest, media_type, bytes) = found.ok_or_else(|| manifest_unknown(reference))?;
    let len = bytes.len();
    let body = if parts.method == Method::HEAD { Body::Empty } else { Body::full(bytes) };
    Ok(h::response(StatusCode::OK, body)
        .with_header(header::CONTENT_TYPE, media_type)
        .with_header(header::CONTENT_LENGTH, len.to_string())
        .with_header("docker-content-digest", digest.to_string())
        .with_header(header::ETAG, format!("\"{digest}\"")))
}

fn manifest_unknown(reference: &Reference) -> V2Error {
    let shown = match reference {
        Reference::Tag(tag) => tag.clone(),
        Reference::Digest(digest) => digest.to_string(),
    };
    V2Error::new(Code::ManifestUnknown, format!("manifest unknown: {shown}"))
}

pub async fn put(
    dist: &Distribution,
    parts: &Parts,
    body: Incoming,
    name: &str,
    reference: &Reference,
) -> Result<Response<Body>, V2Error> {
    dist.authorize(parts, Some(name)).await?;
    let bytes =
        h::read_limited(body, MAX_MANIFEST).await.map_err(|e| V2Error::new(Code::ManifestInvalid, e.to_string()))?;
    let manifest = Manifest::parse(h::header(parts, header::CONTENT_TYPE), &bytes)?;
    let algorithm = match reference {
        Reference::Digest(digest) => digest.algorithm,
        Reference::Tag(_) => Algorithm::Sha256,
    };
    let digest = digest_of(algorithm, &bytes);
    if let Reference::Digest(expected) = reference {
        if *expected != digest {
            let message = format!("the manifest's digest is {digest}, not {expected}");
            return Err(V2Error::new(Code::DigestInvalid, message));
        }
    }
    let _guard = dist.lock.lock().await;
    store_manifest(dist, name, reference, manifest, bytes.to_vec(), &digest).await?;
    Ok(h::empty(StatusCode::CREATED)
        .with_header(header::LOCATION, format!("/v2/{name}/manifests/{digest}"))
        .with_header(header::CONTENT_LENGTH, "0")
        .with_header("docker-content-digest", digest.to_string()))
}

async fn store_manifest(
    dist: &Distribution,
    name: &str,
    reference: &Reference,
    manifest: Manifest,
    bytes: Vec<u8>,
    digest: &Digest,
) -> Result<(), V2Error> {
    let (store, repository, reference, digest) =
        (dist.store.clone(), name.to_string(), reference.clone(), digest.clone());
    blocking(move || {
        for blob in &manifest.blobs {
            if store.has_blob(&repository, blob)?.is_none() {
                return Ok(Err(missing(blob)));
            }
        }
        for child in &manifest.children {
            if store.manifest_type(&repository, child)?.is_none() {
                return Ok(Err(missing(child)));
            }
        }
        store.put_blob(&digest, &bytes)?;
        store.link_manifest(&repository, &digest, &manifest.media_type)?;
        if let Reference::Tag(tag) = reference {
            store.set_tag(&repository, &tag, &digest)?;
        }
        Ok(Ok(()))
    })
    .await?
}

fn missing(digest: &Digest) -> V2Error {
    V2Error::new(
        Code::ManifestBlobUnknown,
        format!("the manifest references {digest}, which this repository does not have"),
    )
    .with_detail(serde_json::json!({"digest": digest.to_string()}))
}

pub async fn delete(
    dist: &Distribution,
    parts: &Parts,
    name: &str,
    reference: &Reference,
) -> Result<Response<Body>, V2Error> {
    dist.authorize(parts, Some(name)).await?;
    let _guard = dist.lock.lock().await;
    let (store, repository, wanted) = (dist.store.clone(), name.to_string(), reference.clone());
    let removed = blocking(move || match wanted {
        Reference::Digest(digest) => store.unlink_manifest(&repository, &digest),
        Reference::Tag(tag) => store.delete_tag(&repository, &tag),
    })
    .await?;
    match removed {
        true => Ok(h::empty(StatusCode::ACCEPTED).with_header(header::CONTENT_LENGTH, "0")),
        false => Err(manifest_unknown(reference)),
    }
}

/// What a PUT needs to know of a manifest.
#[derive(Debug, PartialEq, Eq)]
pub struct Manifest {
    pub media_type: String,
    /// Config and layers (those without external `urls`).
    pub blobs: Vec<Digest>,
    /// Manifests an index or list names.
    pub children: Vec<Digest>,
}

impl Manifest {
    pub fn parse(content_type: Option<&str>, bytes: &[u8]) -> Result<Manifest, V2Error> {
        let invalid = |message: String| V2Error::new(Code::ManifestInvalid, message);
        let value: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| invalid(format!("the manifest is not JSON: {e}")))?;
        if value.get("schemaVersion").and_then(|v| v.as_u64()) != Some(2) {
            return Err(invalid("only schemaVersion 2 manifests are supported".into()));
        }
        let media_type = media_type(content_type, &value).map_err(invalid)?;
        let is_index = media_type == DOCKER_LIST || media_type == OCI_INDEX;
        if is_index {
            let children = descriptors(value.get("manifests"), true).map_err(invalid)?;
            return Ok(Manifest { media_type, blobs: Vec::new(), children });
        }
        let config = value.get("config").ok_or_else(|| invalid("the manifest has no config".into()))?;
        let mut blobs = descriptors(Some(&serde_json::Value::Array(vec![config.clone()])), true).map_err(invalid)?;
        blobs.extend(descriptors(value.get("layers"), false).map_err(invalid)?);
        Ok(Manifest { media_type, blobs, children: Vec::new() })
    }
}

/// The media type from the Content-Type header, the body's `mediaType`, or the body's shape.
fn media_type(content_type: Option<&str>, value: &serde_json::Value) -> Result<String, String> {
    let header = content_type.map(|t| t.split(';').next().unwrap_or(t).trim()).filter(|t| *t != "application/json");
    let declared = value.get("mediaType").and_then(|v| v.as_str());
    let chosen = match (header, declared) {
        (Some(h), Some(d)) if h != d => {
            return Err(format!("Content-Type {h} does not match the manifest's mediaType {d}"))
        }
        (Some(h), _) => h.to_string(),
        (None, Some(d)) => d.to_string(),
        (None, None) if value.get("manifests").is_some() => OCI_INDEX.to_string(),
        (None, None) => OCI_MANIFEST.to_string(),
    };
    if ![DOCKER_MANIFEST, DOCKER_LIST, OCI_MANIFEST, OCI_INDEX].contains(&chosen.as_str()) {
        return Err(format!("unsupported manifest media type {chosen}"));
    }
    Ok(chosen)
}

/// The digests of a descriptor list; with `all` false, descriptors with `urls` (foreign layers) are skipped.
fn descriptors(list: Option<&serde_json::Value>, all: bool) -> Result<Vec<Digest>, String> {
    let Some(list) = list else { return Ok(Vec::new()) };
    let list = list.as_array().ok_or("a descriptor list is not an array")?;
    let mut digests = Vec::new();
    for descriptor in list {
        let text = descriptor.get("digest").and_then(|d| d.as_str()).ok_or("a descriptor has no digest")?;
        let digest = Digest::parse(text).ok_or_else(|| format!("invalid digest {text:?} in a descriptor"))?;
        let foreign = descriptor.get("urls").and_then(|u| u.as_array()).is_some_and(|u| !u.is_empty());
        if all || !foreign {
            digests.push(digest);
        }
    }
    Ok(digests)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(c: char) -> String {
        format!("sha256:{}", c.to_string().repeat(64))
    }

    #[test]
    fn reads_image_manifests_and_indexes() {
        let image = serde_json::json!({"schemaVersion": 2, "mediaType": DOCKER_MANIFEST,
            "config": {"digest": d('a'), "size": 1}, "layers": [{"digest": d('b')}, {"digest": d('c'), "urls": ["http://x"]}]});
        let parsed = Manifest::parse(None, image.to_string().as_bytes()).unwrap();
        assert_eq!(parsed.media_type, DOCKER_MANIFEST);
        assert_eq!(parsed.blobs, vec![Digest::parse(&d('a')).unwrap(), Digest::parse(&d('b')).unwrap()]);
        let index = serde_json::json!({"schemaVersion": 2, "manifests": [{"digest": d('e')}]});
        let parsed = Manifest::parse(Some(OCI_INDEX), index.to_string().as_bytes()).unwrap();
        assert_eq!(parsed.children, vec![Digest::parse(&d('e')).unwrap()]);
    }

    #[test]
    fn refuses_bad_manifests() {
        let code = |ct: Option<&str>, body: &str| Manifest::parse(ct, body.as_bytes()).unwrap_err().code;
        assert_eq!(code(None, "not json"), Code::ManifestInvalid);
        assert_eq!(code(None, r#"{"schemaVersion": 1}"#), Code::ManifestInvalid);
        assert_eq!(code(Some(OCI_MANIFEST), r#"{"schemaVersion": 2, "layers": []}"#), Code::ManifestInvalid);
        let mismatch = format!(
            r#"{{"schemaVersion": 2, "mediaType": "{DOCKER_MANIFEST}", "config": {{"digest": "{}"}}}}"#,
            d('a')
        );
        assert_eq!(code(Some(OCI_MANIFEST), &mismatch), Code::ManifestInvalid);
        assert_eq!(code(Some("text/plain"), r#"{"schemaVersion": 2, "config": {}}"#), Code::ManifestInvalid);
        let bad_digest = r#"{"schemaVersion": 2, "config": {"digest": "sha256:zz"}, "layers": []}"#;
        assert_eq!(code(Some(OCI_MANIFEST), bad_digest), Code::ManifestInvalid);
    }
}
