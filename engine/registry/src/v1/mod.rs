//! The registry server: the v1 API of 5.4.1 §4 and 5.4.2 (images, tags, repositories), the index
//! calls a standalone registry answers itself (as docker-registry did), and `/v2/...` handed to
//! [`crate::v2`].

mod auth;
mod images;
mod repositories;
mod standalone;
mod store;
pub(crate) mod tarsum;

pub use auth::{Gate, Need, Refusal};

use crate::client::IndexUrl;
use crate::fsio::Storage;
use crate::htpasswd::{Htpasswd, VerifiedCache};
use crate::http::{self as h, Body, ResponseExt};
use crate::v1path::{self, ImagePart, PathError, RepoAction, V1Path};
use crate::{RegistryConfig, RegistryError};
use http::request::Parts;
use http::{header, Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use std::io;
use std::sync::Arc;
use store::V1Store;

/// The protocol version `X-Docker-Registry-Version` names: the one the 2014 documentation shows.
const REGISTRY_VERSION: &str = "0.6.0";
/// Image json and other small bodies larger than this are refused.
const MAX_JSON: usize = 4 << 20;

pub struct RegistryService {
    store: V1Store,
    gate: Arc<Gate>,
    standalone: bool,
    /// `host:port` for `X-Docker-Endpoints`.
    endpoint: String,
    /// Serializes changes to image metadata and tags.
    lock: tokio::sync::Mutex<()>,
    v2: crate::v2::Distribution,
}

impl RegistryService {
    pub async fn open(config: RegistryConfig) -> Result<RegistryService, RegistryError> {
        let root = config.root.clone();
        let storage = crate::fsio::blocking(move || Storage::open(&root))
            .await
            .map_err(|source| RegistryError::Root { path: config.root.clone(), source })?;
        let gate = Arc::new(gate(&config)?);
        let v2 = crate::v2::Distribution::open(storage.clone(), gate.clone())
            .await
            .map_err(|source| RegistryError::Root { path: config.root.clone(), source })?;
        Ok(RegistryService {
            store: V1Store::new(storage),
            gate,
            standalone: config.index_url.is_none(),
            endpoint: h::endpoint_host(&config.registry_url).to_string(),
            lock: tokio::sync::Mutex::new(()),
            v2,
        })
    }
}

fn gate(config: &RegistryConfig) -> Result<Gate, RegistryError> {
    let cache = Arc::new(VerifiedCache::new());
    if let Some(url) = &config.index_url {
        let index = IndexUrl::parse(url).ok_or_else(|| RegistryError::IndexUrl(url.clone()))?;
        return Ok(Gate::Index { index, sessions: auth::Sessions::default(), cache });
    }
    match &config.htpasswd {
        Some(path) => {
            let file = Htpasswd::load(path).map_err(|source| RegistryError::Htpasswd { path: path.clone(), source })?;
            Ok(Gate::Htpasswd { file, cache })
        }
        None => Ok(Gate::Open),
    }
}

impl crate::server::Service for RegistryService {
    async fn call(self: Arc<Self>, request: Request<Incoming>) -> Response<Body> {
        let path = request.uri().path();
        if path == "/v2" || path.starts_with("/v2/") {
            return self.v2.handle(request).await;
        }
        let (parts, body) = request.into_parts();
        let mut ctx = Ctx { parts, body: Some(body), set_cookie: None };
        let result = match v1path::parse(ctx.parts.uri.path()) {
            Ok(route) => self.route(&mut ctx, route).await,
            Err(e) => Err(e.into()),
        };
        let mut response = result.unwrap_or_else(V1Error::into_response);
        if let Some(cookie) = ctx.set_cookie.take() {
            response = response.with_header(header::SET_COOKIE, cookie);
        }
        response
            .with_header("x-docker-registry-version", REGISTRY_VERSION)
            .with_header("x-docker-registry-standalone", if self.standalone { "true" } else { "false" })
            .with_header(header::VARY, "Accept")
    }
}

impl RegistryService {
    async fn route(&self, ctx: &mut Ctx, route: V1Path) -> Result<Response<Body>, V1Error> {
        let method = ctx.parts.method.clone();
        match route {
            V1Path::Ping if method == Method::GET || method == Method::HEAD => Ok(ok_empty()),
            V1Path::Image { id, part } => self.image(ctx, &method, &id, part).await,
            V1Path::Repository { repo, action } => match (action, &method) {
                (RepoAction::Tags, &Method::GET) => repositories::list_tags(self, ctx, &repo).await,
                (RepoAction::Tag(tag), &Method::GET) => repositories::get_tag(self, ctx, &repo, &tag).await,
                (RepoAction::Tag(tag), &Method::PUT) => repositories::put_tag(self, ctx, &repo, &tag).await,
                (RepoAction::Tag(tag), &Method::DELETE) => repositories::delete_tag(self, ctx, &repo, &tag).await,
                (RepoAction::Itself, &Method::DELETE) => repositories::delete(self, ctx, &repo).await,
                (action, method) if self.standalone => standalone::repository(self, ctx, &repo, action, method).await,
                _ => Err(V1Error::not_found("no such endpoint on a registry that works with an index")),
            },
            route if self.standalone => standalone::other(self, ctx, route, &method).await,
            V1Path::Ping => Err(V1Error::method_not_allowed()),
            _ => Err(V1Error::not_found("no such endpoint on a registry that works with an index")),
        }
    }

    async fn image(
        &self,
        ctx: &mut Ctx,
        method: &Method,
        id: &str,
        part: ImagePart,
    ) -> Result<Response<Body>, V1Error> {
        match (part, method) {
            (ImagePart::Json, &Method::GET | &Method::HEAD) => images::get_json(self, ctx, id).await,
            (ImagePart::Json, &Method::PUT) => images::put_json(self, ctx, id).await,
            (ImagePart::Layer, &Method::GET | &Method::HEAD) => images::get_layer(self, ctx, id).await,
            (ImagePart::Layer, &Method::PUT) => images::put_layer(self, ctx, id).await,
            (ImagePart::Ancestry, &Method::GET | &Method::HEAD) => images::get_ancestry(self, ctx, id).await,
            (ImagePart::Ancestry, &Method::PUT) => images::put_ancestry(self, ctx, id).await,
            (ImagePart::Checksum, &Method::PUT) => images::put_checksum(self, ctx, id).await,
            _ => Err(V1Error::method_not_allowed()),
        }
    }
}

/// One request as a handler sees it.
pub struct Ctx {
    pub parts: Parts,
    body: Option<Incoming>,
    /// A session opened while handling the request: sent back even when the answer is an error.
    pub set_cookie: Option<String>,
}

impl Ctx {
    fn take_body(&mut self) -> Result<Incoming, V1Error> {
        self.body.take().ok_or_else(|| V1Error::internal("the request body was already read"))
    }

    async fn authorize(&mut self, gate: &Gate, need: Need<'_>) -> Result<(), V1Error> {
        gate.check(&self.parts, need, &mut self.set_cookie).await.map_err(V1Error::from)
    }

    /// Reads a small body whole.
    async fn small_body(&mut self) -> Result<bytes::Bytes, V1Error> {
        h::read_limited(self.take_body()?, MAX_JSON).await.map_err(|e| V1Error::bad_request(e.to_string()))
    }
}

/// A refusal as the 2014 registry wrote it: `{"error": "..."}` (docker 0.8 reads that key).
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct V1Error {
    status: StatusCode,
    message: String,
    challenge: Option<&'static str>,
}

impl V1Error {
    fn new(status: StatusCode, message: impl Into<String>) -> V1Error {
        V1Error { status, message: message.into(), challenge: None }
    }

    fn bad_request(message: impl Into<String>) -> V1Error {
        V1Error::new(StatusCode::BAD_REQUEST, message)
    }

    fn not_found(message: impl Into<String>) -> V1Error {
        V1Error::new(StatusCode::NOT_FOUND, message)
    }

    fn conflict(message: impl Into<String>) -> V1Error {
        V1Error::new(StatusCode::CONFLICT, message)
    }

    fn internal(message: impl Into<String>) -> V1Error {
        V1Error::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }

    fn method_not_allowed() -> V1Error {
        V1Error::new(StatusCode::METHOD_NOT_ALLOWED, "method not allowed on this endpoint")
    }

    fn into_response(self) -> Response<Body> {
        let response = h::json(self.status, &serde_json::json!({ "error": self.message }));
        match self.challenge {
            Some(challenge) => response.with_header(header::WWW_AUTHENTICATE, challenge),
            None => response,
        }
    }
}

impl From<Refusal> for V1Error {
    fn from(refusal: Refusal) -> V1Error {
        V1Error { status: refusal.status, message: refusal.message, challenge: refusal.challenge }
    }
}

impl From<PathError> for V1Error {
    fn from(error: PathError) -> V1Error {
        match error {
            PathError::NotFound => V1Error::not_found(error.to_string()),
            _ => V1Error::bad_request(error.to_string()),
        }
    }
}

impl From<io::Error> for V1Error {
    fn from(error: io::Error) -> V1Error {
        tracing::error!(%error, "registry storage failed");
        V1Error::internal(format!("storage error: {error}"))
    }
}

/// Runs storage work off the async threads.
async fn run<T: Send + 'static>(work: impl FnOnce() -> Result<T, V1Error> + Send + 'static) -> Result<T, V1Error> {
    tokio::task::spawn_blocking(work).await.map_err(|e| V1Error::internal(e.to_string()))?
}

/// `200` with the body `""`, as 5.4.2 shows for every write.
fn ok_empty() -> Response<Body> {
    h::json_bytes(StatusCode::OK, "\"\"")
}
