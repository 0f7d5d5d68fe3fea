//! The Remote API over HTTP: accepts connections on every listener, checks the API version in
//! the path, finds the route, and adds the headers every answer carries.

mod archive;
mod attach;
mod build;
mod containers;
mod distribution;
mod events;
mod fetch;
mod images;
mod networks;
mod query;
mod response;
mod router;
mod stream;
mod system;
mod volumes;
mod websocket;

pub use response::{ApiError, Body, Reply};

use crate::engine::Engine;
use crate::listen::Listener;
use berth_api::ApiVersion;
use http::{header, HeaderValue, Method, Request, StatusCode};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use query::Query;
use router::{match_path, split_version, Params};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// One request as a handler sees it.
pub struct Ctx {
    pub engine: Arc<Engine>,
    pub version: ApiVersion,
    pub params: Params,
    pub query: Query,
    pub head: http::request::Parts,
    pub body: Option<Incoming>,
}

impl Ctx {
    /// The request body, which a handler can take once.
    pub fn take_body(&mut self) -> Result<Incoming, ApiError> {
        self.body.take().ok_or_else(|| ApiError::internal("the request body was already read"))
    }
}

type HandlerFuture = Pin<Box<dyn Future<Output = Result<Reply, ApiError>> + Send>>;
type Handler = fn(Ctx) -> HandlerFuture;

struct Route {
    method: Method,
    pattern: &'static str,
    handler: Handler,
}

macro_rules! route {
    ($method:ident $pattern:literal => $handler:path) => {
        Route { method: Method::$method, pattern: $pattern, handler: |ctx| Box::pin($handler(ctx)) }
    };
}

/// Every endpoint, in the order they are tried.
static ROUTES: &[Route] = &[
    route!(GET "/_ping" => system::ping),
    route!(HEAD "/_ping" => system::ping),
    route!(GET "/version" => system::version),
    route!(GET "/info" => system::info),
    route!(GET "/images/json" => images::list),
    route!(GET "/images/get" => images::get),
    route!(POST "/images/load" => images::load),
    route!(POST "/images/create" => images::create),
    route!(GET "/images/search" => distribution::search),
    route!(POST "/images/{name*}/push" => distribution::push),
    route!(POST "/images/{name*}/insert" => distribution::insert),
    route!(POST "/auth" => distribution::auth),
    route!(GET "/images/{name*}/json" => images::inspect),
    route!(GET "/images/{name*}/history" => images::history),
    route!(GET "/images/{name*}/get" => images::get),
    route!(POST "/images/{name*}/tag" => images::tag),
    route!(DELETE "/images/{name*}" => images::delete),
    route!(GET "/containers/json" => containers::list),
    route!(GET "/containers/ps" => containers::list),
    route!(POST "/containers/create" => containers::create),
    route!(GET "/containers/{id}/json" => containers::inspect),
    route!(GET "/containers/{id}/top" => archive::top),
    route!(GET "/containers/{id}/logs" => containers::logs),
    route!(GET "/containers/{id}/changes" => containers::changes),
    route!(GET "/containers/{id}/export" => archive::export),
    route!(POST "/containers/{id}/start" => containers::start),
    route!(POST "/containers/{id}/stop" => containers::stop),
    route!(POST "/containers/{id}/restart" => containers::restart),
    route!(POST "/containers/{id}/kill" => containers::kill),
    route!(POST "/containers/{id}/wait" => containers::wait),
    route!(POST "/containers/{id}/attach" => attach::attach),
    route!(GET "/containers/{id}/attach/ws" => websocket::attach),
    route!(POST "/containers/{id}/resize" => containers::resize),
    route!(POST "/containers/{id}/rename" => containers::rename),
    route!(POST "/containers/{id}/copy" => archive::copy),
    route!(HEAD "/containers/{id}/archive" => archive::archive_head),
    route!(GET "/containers/{id}/archive" => archive::archive_get),
    route!(PUT "/containers/{id}/archive" => archive::archive_put),
    route!(POST "/containers/{id}/exec" => attach::exec_create),
    route!(DELETE "/containers/{id*}" => containers::remove),
    route!(POST "/exec/{id}/start" => attach::exec_start),
    route!(POST "/exec/{id}/resize" => attach::exec_resize),
    route!(GET "/exec/{id}/json" => attach::exec_inspect),
    route!(POST "/commit" => archive::commit),
    route!(POST "/build" => build::build),
    route!(GET "/events" => events::events),
    route!(GET "/networks" => networks::list),
    route!(POST "/networks/create" => networks::create),
    route!(POST "/networks/prune" => networks::prune),
    route!(GET "/networks/{id}" => networks::inspect),
    route!(DELETE "/networks/{id}" => networks::remove),
    route!(POST "/networks/{id}/connect" => networks::connect),
    route!(POST "/networks/{id}/disconnect" => networks::disconnect),
    route!(GET "/volumes" => volumes::list),
    route!(POST "/volumes/create" => volumes::create),
    route!(POST "/volumes/prune" => volumes::prune),
    route!(GET "/volumes/{name}" => volumes::inspect),
    route!(DELETE "/volumes/{name}" => volumes::remove),
];

const CORS_HEADERS: &str = "Origin, X-Requested-With, Content-Type, Accept, X-Registry-Auth, X-Registry-Config";
const CORS_METHODS: &str = "HEAD, GET, POST, DELETE, PUT, OPTIONS";

/// Serves every listener until `shutdown` completes.
pub async fn serve(engine: Arc<Engine>, listeners: Vec<Listener>, shutdown: impl Future<Output = ()>) {
    let mut tasks = tokio::task::JoinSet::new();
    for listener in listeners {
        tasks.spawn(accept_loop(engine.clone(), listener));
    }
    shutdown.await;
    tasks.shutdown().await;
}

async fn accept_loop(engine: Arc<Engine>, listener: Listener) {
    loop {
        let accepted = match &listener {
            Listener::Unix { listener, .. } => listener.accept().await.map(|(s, _)| spawn_connection(&engine, s)),
            Listener::Tcp(listener) => listener.accept().await.map(|(s, _)| spawn_connection(&engine, s)),
        };
        if let Err(e) = accepted {
            tracing::warn!("accept on {} failed: {e}", listener.describe());
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
}

fn spawn_connection<S>(engine: &Arc<Engine>, stream: S)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let engine = engine.clone();
    tokio::spawn(async move {
        let service = service_fn(move |req| {
            let engine = engine.clone();
            async move { Ok::<_, std::convert::Infallible>(handle(engine, req).await) }
        });
        let conn = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service);
        if let Err(e) = conn.with_upgrades().await {
            tracing::debug!("connection ended: {e}");
        }
    });
}

/// Answers one request; every answer, error or not, carries the common headers.
pub async fn handle(engine: Arc<Engine>, req: Request<Incoming>) -> Reply {
    let started = std::time::Instant::now();
    let line = format!("{} {}", req.method(), req.uri());
    let cors = engine.cors();
    let mut reply = match dispatch(engine, req).await {
        Ok(reply) => reply,
        Err((version, err)) => err.into_reply(version),
    };
    let headers = reply.headers_mut();
    headers.insert("api-version", HeaderValue::from_static(API_VERSION_TEXT));
    headers.insert("docker-experimental", HeaderValue::from_static("false"));
    headers.insert("ostype", HeaderValue::from_static("linux"));
    headers.insert(header::SERVER, HeaderValue::from_static(SERVER_TEXT));
    if cors {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
        headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static(CORS_HEADERS));
        headers.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static(CORS_METHODS));
    }
    tracing::debug!("{line} -> {} in {:.1} ms", reply.status().as_u16(), started.elapsed().as_secs_f64() * 1000.0);
    reply
}

const API_VERSION_TEXT: &str = "1.41";
const SERVER_TEXT: &str = concat!("Berth/", env!("CARGO_PKG_VERSION"), " (linux)");

/// Routes a request; an error comes with the API version whose error shape to use.
async fn dispatch(engine: Arc<Engine>, req: Request<Incoming>) -> Result<Reply, (ApiVersion, ApiError)> {
    let path = req.uri().path().to_string();
    let (version_text, rest) = split_version(&path);
    let version = match version_text {
        None => ApiVersion::CURRENT,
        Some(text) => check_version(text)?,
    };
    if req.method() == Method::OPTIONS {
        return Ok(response::empty(StatusCode::OK));
    }
    let (route, params) = find_route(req.method(), rest).map_err(|e| (ApiVersion::CURRENT, e))?;
    let (head, body) = req.into_parts();
    let query = Query::parse(head.uri.query());
    let ctx = Ctx { engine, version, params, query, head, body: Some(body) };
    (route.handler)(ctx).await.map_err(|e| (version, e))
}

/// Accepts the versions berth serves. A refusal of an old version is worded in that
/// version's error shape (plain text), as Docker does.
fn check_version(text: &str) -> Result<ApiVersion, (ApiVersion, ApiError)> {
    let version: ApiVersion = text
        .parse()
        .map_err(|e: berth_api::VersionError| (ApiVersion::CURRENT, ApiError::bad_request(e.to_string())))?;
    if version < ApiVersion::MIN {
        return Err((version, ApiError::bad_request(format!(
            "client version {version} is too old. Minimum supported API version is {}, please upgrade your client to a newer version",
            ApiVersion::MIN
        ))));
    }
    if version > ApiVersion::CURRENT {
        return Err((
            ApiVersion::CURRENT,
            ApiError::bad_request(format!(
                "client version {version} is too new. Maximum supported API version is {}",
                ApiVersion::CURRENT
            )),
        ));
    }
    Ok(version)
}

/// The route for a method and path. Like Docker, an unknown path and a known path with the
/// wrong method both get a JSON 404, whatever the API version.
fn find_route(method: &Method, path: &str) -> Result<(&'static Route, Params), ApiError> {
    ROUTES
        .iter()
        .filter(|route| route.method == method)
        .find_map(|route| match_path(route.pattern, path).map(|params| (route, params)))
        .ok_or_else(|| ApiError::not_found("page not found"))
}
