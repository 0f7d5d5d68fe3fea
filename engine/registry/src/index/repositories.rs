//! Repositories on the index (5.4.1 §2 and §4.4–4.5, 5.4.3 §2.1): allocation before a push,
//! the image list with checksums, the two-step delete, token checks for registries, and search.

use super::{db, may_write, with_token, Caller, IndexError, IndexService, MAX_BODY};
use crate::http::{self as h, Body};
use crate::names::{is_image_id, RepoName};
use crate::token::Access;
use http::request::Parts;
use http::{Response, StatusCode};
use hyper::body::Incoming;

#[derive(serde::Deserialize)]
struct ImageEntry {
    id: String,
    #[serde(default)]
    checksum: Option<String>,
    /// The tag whose chain the image belongs to, as a pushing client lists it.
    #[serde(default, rename = "Tag", alias = "tag")]
    tag: Option<String>,
}

#[derive(serde::Serialize)]
struct ImageAnswer {
    id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    checksum: Option<String>,
}

async fn image_list(body: Incoming) -> Result<Vec<db::ImageRow>, IndexError> {
    let bytes = h::read_limited(body, MAX_BODY).await.map_err(|e| IndexError::bad_request(e.to_string()))?;
    let entries: Vec<ImageEntry> = serde_json::from_slice(&bytes)
        .map_err(|_| IndexError::bad_request("Invalid JSON: expected [{\"id\": ..., \"checksum\": ...}]"))?;
    if let Some(bad) = entries.iter().find(|e| !is_image_id(&e.id)) {
        return Err(IndexError::bad_request(format!("Invalid image id {:?}", bad.id)));
    }
    Ok(entries
        .into_iter()
        .map(|e| db::ImageRow {
            id: e.id,
            checksum: e.checksum.filter(|c| !c.is_empty()),
            tag: e.tag.filter(|t| !t.is_empty()),
        })
        .collect())
}

/// The user behind Basic credentials who may write `repo`.
async fn writer(svc: &IndexService, parts: &Parts, repo: &RepoName) -> Result<db::User, IndexError> {
    match svc.caller(parts).await? {
        Caller::User(user) if may_write(&user, repo) => Ok(user),
        Caller::User(user) => Err(IndexError::forbidden(format!("{} may not write {repo}", user.username))),
        _ => Err(IndexError::unauthorized("Login with your username and password (HTTP Basic)")),
    }
}

/// Push step 1: allocates the repository (marked initialized: images without checksums).
pub async fn put(
    svc: &IndexService,
    parts: &Parts,
    body: Incoming,
    repo: &RepoName,
) -> Result<Response<Body>, IndexError> {
    let user = writer(svc, parts, repo).await?;
    let images = image_list(body).await?;
    let (name, owner) = (repo.clone(), user.id);
    svc.db(move |c| {
        let id = db::allocate_repository(c, &name, owner)?;
        db::add_images(c, id, &images)
    })
    .await?;
    let mut response = svc.with_endpoints(h::json(StatusCode::OK, &""));
    if h::wants_token(parts) {
        response = with_token(response, &svc.issue_token(repo, Access::Write, Some(user.id)).await?);
    }
    Ok(response)
}

/// Delete steps 1–2 (marks the repository deleted, 202 with a delete token) and 6 (a second
/// DELETE once the registry removed the data: the records go, 200).
pub async fn delete(svc: &IndexService, parts: &Parts, repo: &RepoName) -> Result<Response<Body>, IndexError> {
    let user = writer(svc, parts, repo).await?;
    let name = repo.clone();
    let repository = svc.db(move |c| db::repository(c, &name)).await?;
    let repository = repository.ok_or_else(|| IndexError::new(StatusCode::NOT_FOUND, "Repository not found"))?;
    let id = repository.id;
    if repository.deleted {
        svc.db(move |c| db::purge(c, id)).await?;
        return Ok(h::json(StatusCode::OK, &""));
    }
    svc.db(move |c| db::mark_deleted(c, id)).await?;
    let mut response = svc.with_endpoints(h::json(StatusCode::ACCEPTED, &""));
    if h::wants_token(parts) {
        response = with_token(response, &svc.issue_token(repo, Access::Delete, Some(user.id)).await?);
    }
    Ok(response)
}

/// Pull step 1–2, and the registry's token check (steps 4–5): the image list of a repository;
/// with `?tag=`, only the chain of that tag as pushes listed it (every image when no push
/// named the tag).
pub async fn get_images(svc: &IndexService, parts: &Parts, repo: &RepoName) -> Result<Response<Body>, IndexError> {
    let name = repo.clone();
    let repository = svc.db(move |c| db::repository(c, &name)).await?.filter(|r| !r.deleted);
    let repository = repository.ok_or_else(|| IndexError::new(StatusCode::NOT_FOUND, "Repository not found"))?;
    let caller = svc.caller(parts).await?;
    let issue_for = match &caller {
        Caller::Token(token) => {
            let usable = matches!(token.access, Access::Read | Access::Write) && svc.consume_token(token, repo).await?;
            if !usable {
                return Err(IndexError::unauthorized("Invalid or already used token"));
            }
            None
        }
        Caller::User(user) if repository.private && !may_write(user, repo) && repository.owner_id != Some(user.id) => {
            return Err(IndexError::forbidden(format!("{repo} is private")));
        }
        Caller::User(user) => Some(Some(user.id)),
        Caller::Anonymous if repository.private => return Err(IndexError::unauthorized(format!("{repo} is private"))),
        Caller::Anonymous => Some(None),
    };
    let id = repository.id;
    let tag = h::query_value(&h::query(parts), "tag").filter(|t| !t.is_empty());
    let images = svc.db(move |c| db::images(c, id, tag.as_deref())).await?;
    let answer: Vec<ImageAnswer> = images.into_iter().map(|(id, checksum)| ImageAnswer { id, checksum }).collect();
    let mut response = svc.with_endpoints(h::json(StatusCode::OK, &answer));
    if let (Some(user), true) = (issue_for, h::wants_token(parts)) {
        response = with_token(response, &svc.issue_token(repo, Access::Read, user).await?);
    }
    Ok(response)
}

/// Push step 10: the checksums of the uploaded images (204). Images are only ever added.
pub async fn put_images(
    svc: &IndexService,
    parts: &Parts,
    body: Incoming,
    repo: &RepoName,
) -> Result<Response<Body>, IndexError> {
    match svc.caller(parts).await? {
        Caller::Token(token) if token.access == Access::Write => {
            if !svc.consume_token(&token, repo).await? {
                return Err(IndexError::unauthorized("Invalid or already used token"));
            }
        }
        Caller::Token(_) => return Err(IndexError::forbidden("this token does not allow writing")),
        _ => drop(writer(svc, parts, repo).await?),
    }
    let images = image_list(body).await?;
    let name = repo.clone();
    let found = svc
        .db(move |c| match db::repository(c, &name)?.filter(|r| !r.deleted) {
            Some(repository) => db::add_images(c, repository.id, &images).map(|()| true),
            None => Ok(false),
        })
        .await?;
    if !found {
        return Err(IndexError::new(StatusCode::NOT_FOUND, "Repository not found"));
    }
    Ok(svc.with_endpoints(h::empty(StatusCode::NO_CONTENT)))
}

/// A registry checks a token (delete step 4): 200 "OK" and the token is used up; 403 when the
/// token is bad or used.
pub async fn auth(svc: &IndexService, parts: &Parts, repo: &RepoName) -> Result<Response<Body>, IndexError> {
    let Caller::Token(token) = svc.caller(parts).await? else {
        return Err(IndexError::unauthorized("A token is required (Authorization: Token ...)"));
    };
    let name = repo.clone();
    if svc.db(move |c| db::repository(c, &name)).await?.is_none() {
        return Err(IndexError::new(StatusCode::NOT_FOUND, "Repository not found"));
    }
    match svc.consume_token(&token, repo).await? {
        true => Ok(h::json(StatusCode::OK, &"OK")),
        false => Err(IndexError::forbidden("Invalid or already used token")),
    }
}

pub async fn search(svc: &IndexService, parts: &Parts) -> Result<Response<Body>, IndexError> {
    let term = h::query_value(&h::query(parts), "q").unwrap_or_default();
    let pattern = term.clone();
    let results = svc.db(move |c| db::search(c, &pattern)).await?;
    let answer = serde_json::json!({"query": term, "num_results": results.len(), "results": results});
    Ok(h::json(StatusCode::OK, &answer))
}
