//! `GET /v2/<name>/tags/list` and `GET /v2/_catalog`, with `n`/`last` pagination and a `Link`
//! header pointing at the next page.

use super::{Code, Distribution, V2Error};
use crate::fsio::blocking;
use crate::http::{self as h, Body, ResponseExt};
use http::request::Parts;
use http::{header, Response, StatusCode};

/// The most entries one page holds, whatever `n` asks.
const MAX_PAGE: usize = 1000;

pub async fn tags(dist: &Distribution, parts: &Parts, name: &str) -> Result<Response<Body>, V2Error> {
    dist.authorize(parts, None).await?;
    let (store, repository) = (dist.store.clone(), name.to_string());
    let tags = blocking(move || store.tags(&repository))
        .await?
        .ok_or_else(|| V2Error::new(Code::NameUnknown, format!("repository {name} is unknown")))?;
    let (page, next) = paginate(parts, tags)?;
    let response = h::json(StatusCode::OK, &serde_json::json!({"name": name, "tags": page}));
    Ok(with_link(response, &format!("/v2/{name}/tags/list"), next))
}

pub async fn catalog(dist: &Distribution, parts: &Parts) -> Result<Response<Body>, V2Error> {
    dist.authorize(parts, None).await?;
    let store = dist.store.clone();
    let repositories = blocking(move || store.repositories()).await?;
    let (page, next) = paginate(parts, repositories)?;
    let response = h::json(StatusCode::OK, &serde_json::json!({"repositories": page}));
    Ok(with_link(response, "/v2/_catalog", next))
}

/// A page of entries, and `(n, last entry)` when more entries follow.
type Page = (Vec<String>, Option<(usize, String)>);

/// Takes the page after `last`, of at most `n` entries.
fn paginate(parts: &Parts, sorted: Vec<String>) -> Result<Page, V2Error> {
    let query = h::query(parts);
    let n = match h::query_value(&query, "n") {
        None => None,
        Some(n) => Some(
            n.parse::<usize>()
                .map_err(|_| V2Error::new(Code::PaginationNumberInvalid, format!("invalid page size n={n:?}")))?,
        ),
    };
    let limit = n.unwrap_or(MAX_PAGE).min(MAX_PAGE);
    let last = h::query_value(&query, "last");
    let mut rest = sorted.into_iter().filter(|entry| last.as_ref().is_none_or(|last| entry > last)).peekable();
    let page: Vec<String> = rest.by_ref().take(limit).collect();
    let next = match (rest.peek(), page.last()) {
        (Some(_), Some(last)) => Some((limit, last.clone())),
        _ => None,
    };
    Ok((page, next))
}

fn with_link(response: Response<Body>, path: &str, next: Option<(usize, String)>) -> Response<Body> {
    match next {
        Some((n, last)) => response.with_header(header::LINK, format!("<{path}?last={last}&n={n}>; rel=\"next\"")),
        None => response,
    }
}
