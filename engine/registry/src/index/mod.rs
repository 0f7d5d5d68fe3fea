//! The index server (5.4.1 §4 and §6, 5.4.3): user accounts, repository ownership, image
//! checksums, single-use tokens for registries, and search. Answers are JSON strings or
//! documents; refusals are JSON strings with the reason (docker's `login` compares the body
//! `"Username or email already exists"` literally).

mod db;
mod repositories;
mod users;

use crate::htpasswd::{verify_cached, VerifiedCache};
use crate::http::{self as h, Body, ResponseExt};
use crate::names::RepoName;
use crate::token::{hex, random_hex, Access, Token};
use crate::v1path::{self, PathError, RepoAction, V1Path};
use crate::{IndexConfig, RegistryError};
use db::{Db, User};
use http::request::Parts;
use http::{header, Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The challenge of 5.4.1 §6.1.
const CHALLENGE: &str = "Basic realm=\"auth required\",Token";
const MAX_BODY: usize = 4 << 20;

pub struct IndexService {
    db: Db,
    /// `X-Docker-Endpoints`: the registries, as `host:port`, comma-separated.
    endpoints: String,
    outbox: PathBuf,
    verified: Arc<VerifiedCache>,
}

impl IndexService {
    pub async fn open(config: IndexConfig) -> Result<IndexService, RegistryError> {
        let root = config.root.clone();
        let conn = tokio::task::spawn_blocking(move || open_database(&root))
            .await
            .map_err(|e| RegistryError::Task(e.to_string()))??;
        let endpoints: Vec<&str> = config.registry_endpoints.iter().map(|e| h::endpoint_host(e)).collect();
        Ok(IndexService {
            db: Db::new(conn),
            endpoints: endpoints.join(","),
            outbox: config.root.join("outbox"),
            verified: Arc::new(VerifiedCache::new()),
        })
    }
}

fn open_database(root: &Path) -> Result<rusqlite::Connection, RegistryError> {
    std::fs::create_dir_all(root.join("outbox"))
        .map_err(|source| RegistryError::Root { path: root.to_path_buf(), source })?;
    let path = root.join("index.db");
    db::open(&path).map_err(|source| RegistryError::Database { path, source })
}

impl crate::server::Service for IndexService {
    async fn call(self: Arc<Self>, request: Request<Incoming>) -> Response<Body> {
        let (parts, body) = request.into_parts();
        let result = match v1path::parse(parts.uri.path()) {
            Ok(route) => self.route(&parts, body, route).await,
            Err(PathError::NotFound) => Err(IndexError::new(StatusCode::NOT_FOUND, "no such endpoint")),
            Err(e) => Err(IndexError::bad_request(e.to_string())),
        };
        result.unwrap_or_else(IndexError::into_response).with_header(header::VARY, "Accept")
    }
}

impl IndexService {
    async fn route(&self, parts: &Parts, body: Incoming, route: V1Path) -> Result<Response<Body>, IndexError> {
        let method = &parts.method;
        match route {
            V1Path::Ping if method == Method::GET => Ok(h::json(StatusCode::OK, &"")
                .with_header("x-docker-registry-version", "0.6.0")
                .with_header("x-docker-registry-standalone", "false")),
            V1Path::Users if method == Method::POST => users::create(self, body).await,
            V1Path::Users if method == Method::GET => users::login(self, parts).await,
            V1Path::User(name) if method == Method::PUT => users::update(self, parts, body, &name).await,
            V1Path::UserConfirm(name) if method == Method::GET => users::confirm(self, parts, &name).await,
            V1Path::Repository { repo, action } => self.repository(parts, body, &repo, action).await,
            V1Path::Search if method == Method::GET => repositories::search(self, parts).await,
            V1Path::Search => Err(IndexError::method_not_allowed("GET")),
            V1Path::Image { .. } => Err(IndexError::new(StatusCode::NOT_FOUND, "images are served by registries")),
            _ => Err(IndexError::method_not_allowed("")),
        }
    }

    async fn repository(
        &self,
        parts: &Parts,
        body: Incoming,
        repo: &RepoName,
        action: RepoAction,
    ) -> Result<Response<Body>, IndexError> {
        match (action, &parts.method) {
            (RepoAction::Itself, &Method::PUT) => repositories::put(self, parts, body, repo).await,
            (RepoAction::Itself, &Method::DELETE) => repositories::delete(self, parts, repo).await,
            (RepoAction::Images, &Method::GET) => repositories::get_images(self, parts, repo).await,
            (RepoAction::Images, &Method::PUT) => repositories::put_images(self, parts, body, repo).await,
            (RepoAction::Auth, &Method::PUT) => repositories::auth(self, parts, repo).await,
            (RepoAction::Tags | RepoAction::Tag(_), _) => {
                Err(IndexError::new(StatusCode::NOT_FOUND, "the index keeps no tags: ask a registry"))
            }
            _ => Err(IndexError::method_not_allowed("")),
        }
    }

    async fn db<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut rusqlite::Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, IndexError> {
        self.db.run(work).await.map_err(|error| {
            tracing::error!(%error, "index database failed");
            IndexError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("database error: {error}"))
        })
    }

    /// Who is calling: nobody, a user (Basic credentials, checked; an inactive account is
    /// refused with 403), or the bearer of a token (checked by the endpoint that accepts tokens).
    async fn caller(&self, parts: &Parts) -> Result<Caller, IndexError> {
        if let Some(raw) = h::token_authorization(parts) {
            return Token::parse(raw).map(Caller::Token).ok_or_else(|| IndexError::unauthorized("Invalid token"));
        }
        let Some(credentials) = h::basic_credentials(parts) else { return Ok(Caller::Anonymous) };
        let (username, password) = credentials.map_err(|()| IndexError::unauthorized("Invalid credentials"))?;
        let name = username.clone();
        let user = self.db(move |c| db::user(c, &name)).await?;
        let user = match user {
            Some(user) if verify_cached(&self.verified, &username, &password, &user.password_hash).await => user,
            _ => return Err(IndexError::unauthorized("Invalid username or password")),
        };
        if !user.active {
            return Err(IndexError::new(StatusCode::FORBIDDEN, "Account is not Active"));
        }
        Ok(Caller::User(user))
    }

    /// Issues a single-use token; only its hash is stored.
    async fn issue_token(&self, repo: &RepoName, access: Access, user: Option<i64>) -> Result<Token, IndexError> {
        let token = Token { signature: random_hex::<20>(), repository: repo.to_string(), access };
        let (hash, repository) = (signature_hash(&token.signature), token.repository.clone());
        self.db(move |c| db::store_token(c, &hash, &repository, access, user)).await?;
        Ok(token)
    }

    /// Uses up a token presented for `repo`; false when unknown, used, or for something else.
    async fn consume_token(&self, token: &Token, repo: &RepoName) -> Result<bool, IndexError> {
        if token.repository != repo.to_string() {
            return Ok(false);
        }
        let (hash, repository, access) = (signature_hash(&token.signature), token.repository.clone(), token.access);
        self.db(move |c| db::consume_token(c, &hash, &repository, access)).await
    }

    fn with_endpoints(&self, response: Response<Body>) -> Response<Body> {
        response.with_header("x-docker-endpoints", &self.endpoints)
    }
}

fn signature_hash(signature: &str) -> String {
    hex(&Sha256::digest(signature.as_bytes()))
}

/// Adds a token to an answer in both forms 5.4.3 shows.
fn with_token(response: Response<Body>, token: &Token) -> Response<Body> {
    response
        .with_header("x-docker-token", token.to_string())
        .with_header(header::WWW_AUTHENTICATE, format!("Token {token}"))
}

pub enum Caller {
    Anonymous,
    User(User),
    Token(Token),
}

/// May `user` push to (and delete) `repo`: their own namespace, or anything for an admin
/// (only admins may touch `library/`).
fn may_write(user: &User, repo: &RepoName) -> bool {
    user.admin || (repo.namespace == user.username && repo.namespace != "library")
}

#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct IndexError {
    status: StatusCode,
    message: String,
    allow: Option<&'static str>,
}

impl IndexError {
    fn new(status: StatusCode, message: impl Into<String>) -> IndexError {
        IndexError { status, message: message.into(), allow: None }
    }

    fn bad_request(message: impl Into<String>) -> IndexError {
        IndexError::new(StatusCode::BAD_REQUEST, message)
    }

    fn unauthorized(message: impl Into<String>) -> IndexError {
        IndexError::new(StatusCode::UNAUTHORIZED, message)
    }

    fn forbidden(message: impl Into<String>) -> IndexError {
        IndexError::new(StatusCode::FORBIDDEN, message)
    }

    fn method_not_allowed(allow: &'static str) -> IndexError {
        IndexError { allow: Some(allow), ..IndexError::new(StatusCode::METHOD_NOT_ALLOWED, "method not allowed") }
    }

    fn into_response(self) -> Response<Body> {
        let mut response = h::json(self.status, &self.message);
        if self.status == StatusCode::UNAUTHORIZED {
            response = response.with_header(header::WWW_AUTHENTICATE, CHALLENGE);
        }
        match self.allow.filter(|a| !a.is_empty()) {
            Some(allow) => response.with_header(header::ALLOW, allow),
            None => response,
        }
    }
}

/// Administration of an index database from outside the server (the `berth index` command,
/// tests): what the 2014 Hub did through its web pages.
pub struct IndexAdmin {
    conn: rusqlite::Connection,
}

impl IndexAdmin {
    /// Opens the database under an index root (creating it when needed).
    pub fn open(root: &Path) -> Result<IndexAdmin, RegistryError> {
        Ok(IndexAdmin { conn: open_database(root)? })
    }

    /// Marks an account active, as a confirmed email would.
    pub fn activate(&self, username: &str) -> Result<(), RegistryError> {
        self.user_flag(username, db::UserFlag::Active, true)
    }

    /// Grants or withdraws admin rights (needed for `library/` repositories).
    pub fn set_admin(&self, username: &str, admin: bool) -> Result<(), RegistryError> {
        self.user_flag(username, db::UserFlag::Admin, admin)
    }

    fn user_flag(&self, username: &str, flag: db::UserFlag, value: bool) -> Result<(), RegistryError> {
        match db::set_flag(&self.conn, username, flag, value)? {
            true => Ok(()),
            false => Err(RegistryError::NoSuchUser(username.to_string())),
        }
    }

    /// A private repository is listed by no search and read only with its owner's credentials.
    pub fn set_private(&self, repository: &str, private: bool) -> Result<(), RegistryError> {
        self.repository_field(repository, db::RepoField::Private(private))
    }

    pub fn set_description(&self, repository: &str, description: &str) -> Result<(), RegistryError> {
        self.repository_field(repository, db::RepoField::Description(description.to_string()))
    }

    pub fn set_stars(&self, repository: &str, stars: u32) -> Result<(), RegistryError> {
        self.repository_field(repository, db::RepoField::Stars(stars))
    }

    fn repository_field(&self, repository: &str, field: db::RepoField) -> Result<(), RegistryError> {
        let name = RepoName::parse_full(repository).map_err(|_| RegistryError::NoSuchRepository(repository.into()))?;
        match db::set_repository(&self.conn, &name, field)? {
            true => Ok(()),
            false => Err(RegistryError::NoSuchRepository(repository.to_string())),
        }
    }
}
