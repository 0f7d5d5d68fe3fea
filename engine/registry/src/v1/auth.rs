//! Who may do what on the registry (5.4.1 §2 and §6.2).
//!
//! - Standalone without htpasswd: everyone may do everything (§3.1).
//! - Standalone with htpasswd: HTTP Basic credentials from the file, on every request but `_ping`.
//! - With an index: a request carries `Authorization: Token signature=...,repository=...,access=...`.
//!   The registry asks the index whether the token is good, with the token itself: `GET
//!   {index}/v1/repositories/<ns>/<repo>/images` for read and write tokens (the answer also lists
//!   the repository's images, which the session may then touch), `PUT .../auth` for delete
//!   tokens. The index consumes the token, so it opens exactly one session: the registry answers
//!   with `Set-Cookie: berth_session=...`, and later requests of the same pull or push present
//!   the cookie. Sessions live in memory for an hour.

use crate::client::IndexUrl;
use crate::htpasswd::{verify_cached, Htpasswd, VerifiedCache};
use crate::http::{basic_credentials, cookie, token_authorization};
use crate::names::RepoName;
use crate::token::{random_hex, Access, Token};
use http::request::Parts;
use http::{Method, StatusCode};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const SESSION_COOKIE: &str = "berth_session";
const SESSION_TTL: Duration = Duration::from_secs(3600);
const MAX_SESSIONS: usize = 100_000;
const BASIC_REALM: &str = "Basic realm=\"berth registry\"";

/// What a request needs.
#[derive(Debug, Clone, Copy)]
pub enum Need<'a> {
    /// Any authenticated caller (the index calls a standalone registry answers itself).
    Anyone,
    Repository(&'a RepoName, Access),
    Image(&'a str, Access),
}

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: StatusCode,
    pub message: String,
    pub challenge: Option<&'static str>,
}

impl Refusal {
    fn unauthorized(message: impl Into<String>, challenge: &'static str) -> Refusal {
        Refusal { status: StatusCode::UNAUTHORIZED, message: message.into(), challenge: Some(challenge) }
    }

    fn status(status: StatusCode, message: impl Into<String>) -> Refusal {
        Refusal { status, message: message.into(), challenge: None }
    }
}

pub enum Gate {
    Open,
    Htpasswd { file: Htpasswd, cache: Arc<VerifiedCache> },
    Index { index: IndexUrl, sessions: Sessions, cache: Arc<VerifiedCache> },
}

impl Gate {
    /// Lets the request through, or says why not. A new session's cookie is put in `set_cookie`.
    pub async fn check(&self, parts: &Parts, need: Need<'_>, set_cookie: &mut Option<String>) -> Result<(), Refusal> {
        match self {
            Gate::Open => Ok(()),
            Gate::Htpasswd { file, cache } => check_basic(file, cache, parts).await,
            Gate::Index { index, sessions, .. } => {
                let session = cookie(parts, SESSION_COOKIE).and_then(|id| sessions.get(&id));
                let verdict = session.as_ref().map(|s| s.covers(need));
                if verdict == Some(Coverage::Yes) {
                    return Ok(());
                }
                match token_authorization(parts) {
                    Some(raw) => check_token(index, sessions, raw, need, set_cookie).await,
                    None if verdict == Some(Coverage::WrongAccess) => {
                        Err(Refusal::status(StatusCode::FORBIDDEN, "this session does not allow that access"))
                    }
                    None => Err(Refusal::unauthorized("Requires authorization", "Token")),
                }
            }
        }
    }
}

impl Gate {
    /// For `/v2/`: who the caller is, from HTTP Basic credentials (checked against the htpasswd
    /// file, or by the index with `GET /v1/users`). `Ok(None)` when the registry is open.
    pub async fn basic_user(&self, parts: &Parts) -> Result<Option<String>, Refusal> {
        let refused = || Refusal::unauthorized("authentication required", BASIC_REALM);
        match self {
            Gate::Open => Ok(None),
            Gate::Htpasswd { file, cache } => {
                check_basic(file, cache, parts).await?;
                Ok(basic_credentials(parts).and_then(Result::ok).map(|(user, _)| user))
            }
            Gate::Index { index, cache, .. } => {
                let (user, password) = basic_credentials(parts).ok_or_else(refused)?.map_err(|()| refused())?;
                if !cache.contains(&user, &password, "index") {
                    login_with_index(index, parts).await?;
                    cache.insert(&user, &password, "index");
                }
                Ok(Some(user))
            }
        }
    }
}

/// Checks Basic credentials with the index's login endpoint (5.4.1 §4.2.3).
async fn login_with_index(index: &IndexUrl, parts: &Parts) -> Result<(), Refusal> {
    let authorization = crate::http::header(parts, http::header::AUTHORIZATION).unwrap_or_default();
    let answer = index
        .call(Method::GET, "/v1/users/", &[("authorization", authorization)])
        .await
        .map_err(|e| Refusal::status(StatusCode::SERVICE_UNAVAILABLE, format!("cannot reach the index: {e}")))?;
    match answer.status {
        StatusCode::OK => Ok(()),
        StatusCode::FORBIDDEN => Err(Refusal::status(StatusCode::FORBIDDEN, "the account is not active")),
        _ => Err(Refusal::unauthorized("invalid credentials", BASIC_REALM)),
    }
}

async fn check_basic(file: &Htpasswd, cache: &Arc<VerifiedCache>, parts: &Parts) -> Result<(), Refusal> {
    let refused = || Refusal::unauthorized("Requires authorization", BASIC_REALM);
    let (user, password) = basic_credentials(parts).ok_or_else(refused)?.map_err(|()| refused())?;
    let hash = file.hash_of(&user).ok_or_else(refused)?;
    if verify_cached(cache, &user, &password, hash).await {
        Ok(())
    } else {
        Err(refused())
    }
}

async fn check_token(
    index: &IndexUrl,
    sessions: &Sessions,
    raw: &str,
    need: Need<'_>,
    set_cookie: &mut Option<String>,
) -> Result<(), Refusal> {
    let invalid = || Refusal::unauthorized("Invalid token", "Token");
    let token = Token::parse(raw).ok_or_else(invalid)?;
    let repository = RepoName::parse_full(&token.repository).map_err(|_| invalid())?;
    if let Need::Repository(wanted, _) = need {
        if *wanted != repository {
            return Err(Refusal::unauthorized(format!("the token is for {}, not {wanted}", token.repository), "Token"));
        }
    }
    let images = validate_with_index(index, &repository, &token, raw).await?;
    let session = Session { repository, access: token.access, images, expires: Instant::now() + SESSION_TTL };
    let verdict = session.covers(need);
    let id = sessions.insert(session);
    *set_cookie = Some(format!("{SESSION_COOKIE}={id}; Path=/; HttpOnly"));
    match verdict {
        Coverage::Yes => Ok(()),
        _ => Err(Refusal::status(StatusCode::FORBIDDEN, "the token does not allow that access")),
    }
}

/// Asks the index about a token; on success returns the repository's image ids.
async fn validate_with_index(
    index: &IndexUrl,
    repository: &RepoName,
    token: &Token,
    raw: &str,
) -> Result<HashSet<String>, Refusal> {
    let authorization = format!("Token {raw}");
    let headers = [("authorization", authorization.as_str()), ("accept", "application/json")];
    let (method, path) = match token.access {
        Access::Delete => (Method::PUT, format!("/v1/repositories/{repository}/auth")),
        _ => (Method::GET, format!("/v1/repositories/{repository}/images")),
    };
    let answer = index.call(method, &path, &headers).await.map_err(|e| {
        tracing::warn!(error = %e, "cannot reach the index to validate a token");
        Refusal::status(StatusCode::SERVICE_UNAVAILABLE, format!("cannot reach the index: {e}"))
    })?;
    match answer.status {
        StatusCode::OK if token.access == Access::Delete => Ok(HashSet::new()),
        StatusCode::OK => image_ids(&answer.body),
        StatusCode::FORBIDDEN => Err(Refusal::status(StatusCode::FORBIDDEN, "the index refused the token")),
        StatusCode::NOT_FOUND => Err(Refusal::status(StatusCode::NOT_FOUND, "Repository not found")),
        _ => Err(Refusal::unauthorized("the index refused the token", "Token")),
    }
}

fn image_ids(body: &[u8]) -> Result<HashSet<String>, Refusal> {
    #[derive(serde::Deserialize)]
    struct Entry {
        id: String,
    }
    let entries: Vec<Entry> = serde_json::from_slice(body)
        .map_err(|_| Refusal::status(StatusCode::BAD_GATEWAY, "the index answered with an unreadable image list"))?;
    Ok(entries.into_iter().map(|e| e.id).collect())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Coverage {
    Yes,
    WrongAccess,
    No,
}

/// What one validated token opened.
#[derive(Debug, Clone)]
pub struct Session {
    repository: RepoName,
    access: Access,
    images: HashSet<String>,
    expires: Instant,
}

impl Session {
    fn covers(&self, need: Need<'_>) -> Coverage {
        let in_scope = match need {
            Need::Anyone => true,
            Need::Repository(repo, _) => *repo == self.repository,
            Need::Image(id, _) => self.images.contains(id),
        };
        let access = match need {
            Need::Anyone => Access::Read,
            Need::Repository(_, access) | Need::Image(_, access) => access,
        };
        match (in_scope, self.access.allows(access)) {
            (false, _) => Coverage::No,
            (true, false) => Coverage::WrongAccess,
            (true, true) => Coverage::Yes,
        }
    }
}

/// Open sessions by cookie value.
#[derive(Debug, Default)]
pub struct Sessions {
    open: Mutex<HashMap<String, Session>>,
}

impl Sessions {
    fn get(&self, id: &str) -> Option<Session> {
        let open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        open.get(id).filter(|s| s.expires > Instant::now()).cloned()
    }

    fn insert(&self, session: Session) -> String {
        let id = random_hex::<24>();
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        if open.len() >= MAX_SESSIONS {
            let now = Instant::now();
            open.retain(|_, s| s.expires > now);
        }
        if open.len() >= MAX_SESSIONS {
            open.clear(); // still full of live sessions: start over rather than grow without bound
        }
        open.insert(id.clone(), session);
        id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(access: Access) -> Session {
        Session {
            repository: RepoName::parse_full("foobar/app").unwrap(),
            access,
            images: ["a".repeat(64)].into_iter().collect(),
            expires: Instant::now() + SESSION_TTL,
        }
    }

    #[test]
    fn sessions_cover_their_repository_and_images_only() {
        let repo = RepoName::parse_full("foobar/app").unwrap();
        let other = RepoName::parse_full("foobar/other").unwrap();
        let write = session(Access::Write);
        assert_eq!(write.covers(Need::Repository(&repo, Access::Write)), Coverage::Yes);
        assert_eq!(write.covers(Need::Repository(&repo, Access::Delete)), Coverage::WrongAccess);
        assert_eq!(write.covers(Need::Repository(&other, Access::Read)), Coverage::No);
        assert_eq!(write.covers(Need::Image(&"a".repeat(64), Access::Read)), Coverage::Yes);
        assert_eq!(write.covers(Need::Image(&"b".repeat(64), Access::Read)), Coverage::No);
        assert_eq!(session(Access::Read).covers(Need::Image(&"a".repeat(64), Access::Write)), Coverage::WrongAccess);
    }

    #[test]
    fn expired_sessions_are_gone() {
        let sessions = Sessions::default();
        let mut old = session(Access::Read);
        old.expires = Instant::now() - Duration::from_secs(1);
        let id = sessions.insert(old);
        assert!(sessions.get(&id).is_none());
        let id = sessions.insert(session(Access::Read));
        assert!(sessions.get(&id).is_some());
    }
}
