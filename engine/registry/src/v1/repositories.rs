//! Tags and repositories on the registry (5.4.1 §4.3, §4.5.1; 5.4.2 §2.2, §2.3).

use super::{ok_empty, run, Ctx, Need, RegistryService, V1Error};
use crate::http::{self as h, Body};
use crate::names::{is_image_id, RepoName};
use crate::token::Access;
use http::{Response, StatusCode};

pub async fn list_tags(svc: &RegistryService, ctx: &mut Ctx, repo: &RepoName) -> Result<Response<Body>, V1Error> {
    ctx.authorize(&svc.gate, Need::Repository(repo, Access::Read)).await?;
    let (store, repo) = (svc.store.clone(), repo.clone());
    let tags = run(move || Ok(store.tags(&repo)?)).await?;
    Ok(h::json(StatusCode::OK, &tags.ok_or_else(|| V1Error::not_found("Repository not found"))?))
}

pub async fn get_tag(
    svc: &RegistryService,
    ctx: &mut Ctx,
    repo: &RepoName,
    tag: &str,
) -> Result<Response<Body>, V1Error> {
    ctx.authorize(&svc.gate, Need::Repository(repo, Access::Read)).await?;
    let (store, repo, tag) = (svc.store.clone(), repo.clone(), tag.to_string());
    let id = run(move || Ok(store.tags(&repo)?.and_then(|mut tags| tags.remove(&tag)))).await?;
    Ok(h::json(StatusCode::OK, &id.ok_or_else(|| V1Error::not_found("Tag not found"))?))
}

pub async fn put_tag(
    svc: &RegistryService,
    ctx: &mut Ctx,
    repo: &RepoName,
    tag: &str,
) -> Result<Response<Body>, V1Error> {
    ctx.authorize(&svc.gate, Need::Repository(repo, Access::Write)).await?;
    let body = ctx.small_body().await?;
    let id = match serde_json::from_slice::<serde_json::Value>(&body) {
        Ok(serde_json::Value::String(id)) if is_image_id(&id) => id,
        _ => return Err(V1Error::bad_request("Invalid data: the body is the image id as a JSON string")),
    };
    let _guard = svc.lock.lock().await;
    let (store, repo, tag) = (svc.store.clone(), repo.clone(), tag.to_string());
    run(move || {
        if store.complete_meta(&id)?.is_none() {
            return Err(V1Error::not_found("Image not found"));
        }
        let mut tags = store.tags(&repo)?.unwrap_or_default();
        tags.insert(tag, id);
        store.write_tags(&repo, &tags)?;
        Ok(ok_empty())
    })
    .await
}

pub async fn delete_tag(
    svc: &RegistryService,
    ctx: &mut Ctx,
    repo: &RepoName,
    tag: &str,
) -> Result<Response<Body>, V1Error> {
    ctx.authorize(&svc.gate, Need::Repository(repo, Access::Write)).await?;
    let _guard = svc.lock.lock().await;
    let (store, repo, tag) = (svc.store.clone(), repo.clone(), tag.to_string());
    run(move || {
        let mut tags = store.tags(&repo)?.unwrap_or_default();
        if tags.remove(&tag).is_none() {
            return Err(V1Error::not_found("Tag not found"));
        }
        store.write_tags(&repo, &tags)?;
        Ok(ok_empty())
    })
    .await
}

/// Removes the repository's tags and image list; the images themselves stay (others may share them).
pub async fn delete(svc: &RegistryService, ctx: &mut Ctx, repo: &RepoName) -> Result<Response<Body>, V1Error> {
    ctx.authorize(&svc.gate, Need::Repository(repo, Access::Delete)).await?;
    let _guard = svc.lock.lock().await;
    let (store, repo) = (svc.store.clone(), repo.clone());
    run(move || match store.delete_repository(&repo)? {
        true => Ok(ok_empty()),
        false => Err(V1Error::not_found("Repository not found")),
    })
    .await
}
