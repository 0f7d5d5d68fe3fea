//! The index calls a docker client sends to a standalone registry (5.4.1 §3.1): with no index
//! behind it, the registry answers them itself, as docker-registry's standalone mode did, so
//! `docker push host:5000/name` works. Tokens it hands out are placeholders: it never checks them.

use super::store::IndexImage;
use super::{ok_empty, run, Ctx, Need, RegistryService, V1Error};
use crate::http::{self as h, Body, ResponseExt};
use crate::names::{is_image_id, RepoName};
use crate::token::{random_hex, Access, Token};
use crate::v1path::{RepoAction, V1Path};
use http::{header, Method, Response, StatusCode};

pub async fn repository(
    svc: &RegistryService,
    ctx: &mut Ctx,
    repo: &RepoName,
    action: RepoAction,
    method: &Method,
) -> Result<Response<Body>, V1Error> {
    ctx.authorize(&svc.gate, Need::Anyone).await?;
    match (action, method) {
        (RepoAction::Itself, &Method::PUT) => record_images(svc, ctx, repo, StatusCode::OK).await,
        (RepoAction::Images, &Method::PUT) => record_images(svc, ctx, repo, StatusCode::NO_CONTENT).await,
        (RepoAction::Images, &Method::GET) => images(svc, ctx, repo).await,
        (RepoAction::Auth, &Method::PUT) => Ok(h::json(StatusCode::OK, &"OK")),
        _ => Err(V1Error::method_not_allowed()),
    }
}

pub async fn other(
    svc: &RegistryService,
    ctx: &mut Ctx,
    route: V1Path,
    method: &Method,
) -> Result<Response<Body>, V1Error> {
    match (route, method) {
        (V1Path::Users, &Method::GET) => {
            ctx.authorize(&svc.gate, Need::Anyone).await?;
            Ok(h::json(StatusCode::OK, &"OK"))
        }
        (V1Path::Users, &Method::POST) => create_user(svc, ctx).await,
        (V1Path::User(_), &Method::PUT) => {
            ctx.authorize(&svc.gate, Need::Anyone).await?;
            Ok(h::empty(StatusCode::NO_CONTENT))
        }
        (V1Path::Search, &Method::GET) => search(svc, ctx).await,
        (V1Path::UserConfirm(_), _) => Err(V1Error::not_found("a standalone registry keeps no accounts")),
        _ => Err(V1Error::method_not_allowed()),
    }
}

/// Accounts are not kept here: without htpasswd any registration "succeeds"; with htpasswd the
/// answer makes docker's `login` go on to check the credentials with GET /v1/users.
async fn create_user(svc: &RegistryService, ctx: &mut Ctx) -> Result<Response<Body>, V1Error> {
    let body = ctx.small_body().await?;
    if serde_json::from_slice::<serde_json::Value>(&body).is_err() {
        return Err(V1Error::bad_request("Error Decoding JSON"));
    }
    match *svc.gate {
        super::Gate::Open => Ok(h::json(StatusCode::CREATED, &"User Created")),
        _ => Ok(h::json(StatusCode::BAD_REQUEST, &"Username or email already exists")),
    }
}

async fn record_images(
    svc: &RegistryService,
    ctx: &mut Ctx,
    repo: &RepoName,
    status: StatusCode,
) -> Result<Response<Body>, V1Error> {
    let body = ctx.small_body().await?;
    let entries: Vec<IndexImage> =
        serde_json::from_slice(&body).map_err(|_| V1Error::bad_request("Invalid data: expected [{\"id\": ...}]"))?;
    if let Some(bad) = entries.iter().find(|e| !is_image_id(&e.id)) {
        return Err(V1Error::bad_request(format!("invalid image id {:?}", bad.id)));
    }
    let _guard = svc.lock.lock().await;
    let (store, name) = (svc.store.clone(), repo.clone());
    run(move || Ok(store.merge_index_images(&name, &entries)?)).await?;
    let response = if status == StatusCode::OK { ok_empty() } else { h::empty(status) };
    Ok(with_index_headers(svc, ctx, repo, Access::Write, response))
}

async fn images(svc: &RegistryService, ctx: &mut Ctx, repo: &RepoName) -> Result<Response<Body>, V1Error> {
    let (store, name) = (svc.store.clone(), repo.clone());
    let list = run(move || {
        let recorded = store.index_images(&name)?;
        let tags = store.tags(&name)?;
        if recorded.is_none() && tags.is_none() {
            return Ok(None);
        }
        let mut list = recorded.unwrap_or_default();
        for id in tags.unwrap_or_default().values() {
            for image in store.ancestry(id)?.unwrap_or_default() {
                if !list.iter().any(|e| e.id == image) {
                    list.push(IndexImage { id: image, checksum: None });
                }
            }
        }
        for entry in list.iter_mut().filter(|e| e.checksum.is_none()) {
            entry.checksum = store.complete_meta(&entry.id)?.and_then(|m| m.checksum.or(m.payload_checksum));
        }
        Ok(Some(list))
    })
    .await?;
    let list = list.ok_or_else(|| V1Error::not_found("Repository not found"))?;
    Ok(with_index_headers(svc, ctx, repo, Access::Read, h::json(StatusCode::OK, &list)))
}

/// `X-Docker-Endpoints` (this registry), and a placeholder token when one was asked for.
fn with_index_headers(
    svc: &RegistryService,
    ctx: &Ctx,
    repo: &RepoName,
    access: Access,
    response: Response<Body>,
) -> Response<Body> {
    let response = response.with_header("x-docker-endpoints", &svc.endpoint);
    if !h::wants_token(&ctx.parts) {
        return response;
    }
    let token = Token { signature: random_hex::<16>(), repository: repo.to_string(), access };
    response
        .with_header("x-docker-token", token.to_string())
        .with_header(header::WWW_AUTHENTICATE, format!("Token {token}"))
}

async fn search(svc: &RegistryService, ctx: &mut Ctx) -> Result<Response<Body>, V1Error> {
    ctx.authorize(&svc.gate, Need::Anyone).await?;
    let term = h::query_value(&h::query(&ctx.parts), "q").unwrap_or_default();
    let store = svc.store.clone();
    let repositories = run(move || Ok(store.repositories()?)).await?;
    let needle = term.to_lowercase();
    let results: Vec<serde_json::Value> = repositories
        .iter()
        .map(|repo| repo.to_string())
        .filter(|name| name.to_lowercase().contains(&needle))
        .map(|name| {
            let shown = name.strip_prefix("library/").unwrap_or(&name).to_string();
            serde_json::json!({"name": shown, "description": "", "star_count": 0, "is_official": false, "is_trusted": false})
        })
        .collect();
    Ok(h::json(StatusCode::OK, &serde_json::json!({"query": term, "num_results": results.len(), "results": results})))
}
