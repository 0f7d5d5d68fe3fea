//! Today's distribution API (Docker Registry HTTP API v2 / OCI distribution spec) under `/v2/`,
//! in the same server and storage root as v1:
//!
//! - `v2/blobs/<alg>/<2 hex>/<hex>/data`: content-addressed blobs (layers, configs, manifests);
//! - `v2/repositories/<name>/_layers/<alg>/<hex>`: the blobs a repository may serve;
//! - `v2/repositories/<name>/_manifests/revisions/<alg>/<hex>` (holding the media type) and
//!   `_manifests/tags/<tag>` (holding a digest);
//! - `v2/uploads/<uuid>/{data,name}`: uploads in progress, invisible until completed with a
//!   digest that matches.
//!
//! Access: open when the registry is; otherwise HTTP Basic (the htpasswd file, or credentials
//! the index accepts); with an index, pushes are allowed into the user's own namespace only.

mod blobs;
mod errors;
mod listing;
mod manifests;
mod store;
mod uploads;

pub use errors::{Code, V2Error};

use crate::fsio::Storage;
use crate::http::{Body, ResponseExt};
use crate::names::{is_v2_name, is_v2_tag, Digest};
use crate::v1::Gate;
use http::request::Parts;
use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use std::io;
use std::sync::Arc;
use store::BlobStore;
use uploads::Uploads;

pub struct Distribution {
    store: BlobStore,
    uploads: Uploads,
    gate: Arc<Gate>,
    /// Serializes changes to links and tags.
    lock: tokio::sync::Mutex<()>,
}

/// A manifest reference: a tag or a digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reference {
    Tag(String),
    Digest(Digest),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Route {
    Base,
    Catalog,
    Tags(String),
    Manifest(String, Reference),
    Blob(String, Digest),
    UploadStart(String),
    Upload(String, String),
}

impl Distribution {
    pub async fn open(storage: Storage, gate: Arc<Gate>) -> io::Result<Distribution> {
        let store = BlobStore::new(storage);
        let prepared = store.clone();
        crate::fsio::blocking(move || prepared.prepare()).await?;
        Ok(Distribution { uploads: Uploads::new(store.clone()), store, gate, lock: tokio::sync::Mutex::new(()) })
    }

    pub async fn handle(&self, request: Request<Incoming>) -> Response<Body> {
        let (parts, body) = request.into_parts();
        let response = match parse(parts.uri.path()) {
            Ok(route) => self.route(parts, body, route).await,
            Err(e) => Err(e),
        };
        response.unwrap_or_else(V2Error::into_response).with_header("docker-distribution-api-version", "registry/2.0")
    }

    async fn route(&self, parts: Parts, body: Incoming, route: Route) -> Result<Response<Body>, V2Error> {
        let method = parts.method.clone();
        match (route, &method) {
            (Route::Base, &Method::GET | &Method::HEAD) => {
                self.authorize(&parts, None).await?;
                Ok(crate::http::json(StatusCode::OK, &serde_json::json!({})))
            }
            (Route::Catalog, &Method::GET) => listing::catalog(self, &parts).await,
            (Route::Tags(name), &Method::GET) => listing::tags(self, &parts, &name).await,
            (Route::Manifest(name, reference), &Method::GET | &Method::HEAD) => {
                manifests::get(self, &parts, &name, &reference).await
            }
            (Route::Manifest(name, reference), &Method::PUT) => {
                manifests::put(self, &parts, body, &name, &reference).await
            }
            (Route::Manifest(name, reference), &Method::DELETE) => {
                manifests::delete(self, &parts, &name, &reference).await
            }
            (Route::Blob(name, digest), &Method::GET | &Method::HEAD) => blobs::get(self, &parts, &name, &digest).await,
            (Route::Blob(name, digest), &Method::DELETE) => blobs::delete(self, &parts, &name, &digest).await,
            (Route::UploadStart(name), &Method::POST) => blobs::start_upload(self, &parts, body, &name).await,
            (Route::Upload(name, uuid), &Method::PATCH) => blobs::patch_upload(self, &parts, body, &name, &uuid).await,
            (Route::Upload(name, uuid), &Method::PUT) => blobs::finish_upload(self, &parts, body, &name, &uuid).await,
            (Route::Upload(name, uuid), &Method::GET) => blobs::upload_status(self, &parts, &name, &uuid).await,
            (Route::Upload(name, uuid), &Method::DELETE) => blobs::cancel_upload(self, &parts, &name, &uuid).await,
            _ => Err(V2Error::new(Code::Unsupported, "the operation is unsupported")),
        }
    }

    /// Lets the caller through, for reading (`write_to: None`) or writing into repository `write_to`.
    async fn authorize(&self, parts: &Parts, write_to: Option<&str>) -> Result<(), V2Error> {
        let user = self.gate.basic_user(parts).await.map_err(V2Error::from)?;
        match (&*self.gate, user, write_to) {
            (Gate::Index { .. }, Some(user), Some(name)) if name.split('/').next() != Some(user.as_str()) => {
                Err(V2Error::new(Code::Denied, format!("{user} may only push to repositories under {user}/")))
            }
            _ => Ok(()),
        }
    }
}

/// Builds a route from the repository name and the path's last segment.
type RouteFn = fn(String, &str) -> Result<Route, V2Error>;

fn parse(path: &str) -> Result<Route, V2Error> {
    let rest = match path {
        "/v2" | "/v2/" => return Ok(Route::Base),
        _ => path.strip_prefix("/v2/").ok_or_else(not_found)?,
    };
    if rest == "_catalog" {
        return Ok(Route::Catalog);
    }
    let segments: Vec<&str> = rest.split('/').collect();
    let (name, route): (&[&str], RouteFn) = match segments.as_slice() {
        [name @ .., "blobs", "uploads", ""] | [name @ .., "blobs", "uploads"] => {
            (name, |n, _| Ok(Route::UploadStart(n)))
        }
        [name @ .., "blobs", "uploads", _] => (name, |n, uuid| Ok(Route::Upload(n, uuid.to_string()))),
        [name @ .., "blobs", _] => (name, |n, digest| Ok(Route::Blob(n, parse_digest(digest)?))),
        [name @ .., "manifests", _] => (name, |n, reference| Ok(Route::Manifest(n, parse_reference(reference)?))),
        [name @ .., "tags", "list"] => (name, |n, _| Ok(Route::Tags(n))),
        _ => return Err(not_found()),
    };
    let name = name.join("/");
    if !is_v2_name(&name) {
        return Err(V2Error::new(Code::NameInvalid, format!("invalid repository name {name:?}")));
    }
    route(name, segments.last().copied().unwrap_or_default())
}

fn not_found() -> V2Error {
    V2Error::new(Code::NotFound, "no such endpoint")
}

pub fn parse_digest(text: &str) -> Result<Digest, V2Error> {
    Digest::parse(text).ok_or_else(|| V2Error::new(Code::DigestInvalid, format!("invalid digest {text:?}")))
}

fn parse_reference(text: &str) -> Result<Reference, V2Error> {
    if text.contains(':') {
        return parse_digest(text).map(Reference::Digest);
    }
    if !is_v2_tag(text) {
        return Err(V2Error::new(Code::TagInvalid, format!("invalid tag {text:?}")));
    }
    Ok(Reference::Tag(text.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_names_with_slashes() {
        let digest = format!("sha256:{}", "a".repeat(64));
        let d = Digest::parse(&digest).unwrap();
        assert_eq!(parse("/v2/"), Ok(Route::Base));
        assert_eq!(parse("/v2/_catalog"), Ok(Route::Catalog));
        assert_eq!(parse("/v2/team/app/tags/list"), Ok(Route::Tags("team/app".into())));
        assert_eq!(parse("/v2/team/app/blobs/uploads/"), Ok(Route::UploadStart("team/app".into())));
        assert_eq!(parse("/v2/a/blobs/uploads/x-1"), Ok(Route::Upload("a".into(), "x-1".into())));
        assert_eq!(parse(&format!("/v2/a/b/c/blobs/{digest}")), Ok(Route::Blob("a/b/c".into(), d.clone())));
        assert_eq!(parse("/v2/a/manifests/latest"), Ok(Route::Manifest("a".into(), Reference::Tag("latest".into()))));
        assert_eq!(parse(&format!("/v2/a/manifests/{digest}")), Ok(Route::Manifest("a".into(), Reference::Digest(d))));
        assert_eq!(parse("/v2/blobs/tags/list"), Ok(Route::Tags("blobs".into())));
    }

    #[test]
    fn refuses_bad_names_digests_and_tags() {
        let code = |path: &str| parse(path).unwrap_err().code;
        assert_eq!(code("/v2/../etc/tags/list"), Code::NameInvalid);
        assert_eq!(code("/v2/Team/tags/list"), Code::NameInvalid);
        assert_eq!(code("/v2/a//b/tags/list"), Code::NameInvalid);
        assert_eq!(code("/v2/a/blobs/sha256:xyz"), Code::DigestInvalid);
        assert_eq!(code("/v2/a/manifests/.bad"), Code::TagInvalid);
        assert_eq!(code("/v2/a/other"), Code::NotFound);
    }
}
