//! The index's SQLite database (`<root>/index.db`): users with argon2 password hashes and an
//! active flag, their emails with hashed confirmation codes, repositories with owner,
//! description, stars and flags, the images of each repository with their checksums, and the
//! hashes of tokens not used yet.

use crate::names::RepoName;
use crate::token::Access;
use rusqlite::{params, Connection, OptionalExtension};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS users (
    id INTEGER PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    active INTEGER NOT NULL DEFAULT 0,
    admin INTEGER NOT NULL DEFAULT 0,
    created INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS emails (
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    email TEXT NOT NULL UNIQUE,
    verified INTEGER NOT NULL DEFAULT 0,
    code_hash TEXT,
    PRIMARY KEY (user_id, email)
);
CREATE TABLE IF NOT EXISTS repositories (
    id INTEGER PRIMARY KEY,
    namespace TEXT NOT NULL,
    name TEXT NOT NULL,
    owner_id INTEGER REFERENCES users(id),
    description TEXT NOT NULL DEFAULT '',
    stars INTEGER NOT NULL DEFAULT 0,
    private INTEGER NOT NULL DEFAULT 0,
    deleted INTEGER NOT NULL DEFAULT 0,
    created INTEGER NOT NULL,
    UNIQUE (namespace, name)
);
CREATE TABLE IF NOT EXISTS images (
    repository_id INTEGER NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
    image_id TEXT NOT NULL,
    checksum TEXT,
    position INTEGER NOT NULL,
    PRIMARY KEY (repository_id, image_id)
);
CREATE TABLE IF NOT EXISTS image_tags (
    repository_id INTEGER NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
    image_id TEXT NOT NULL,
    tag TEXT NOT NULL,
    PRIMARY KEY (repository_id, tag, image_id)
);
CREATE TABLE IF NOT EXISTS tokens (
    signature_hash TEXT PRIMARY KEY,
    repository TEXT NOT NULL,
    access TEXT NOT NULL,
    user_id INTEGER,
    created INTEGER NOT NULL
);
";

/// Opens (creating when needed) the database.
pub fn open(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.execute_batch(SCHEMA)?;
    Ok(conn)
}

/// The shared connection, used from blocking threads.
#[derive(Clone)]
pub struct Db(Arc<Mutex<Connection>>);

impl Db {
    pub fn new(conn: Connection) -> Db {
        Db(Arc::new(Mutex::new(conn)))
    }

    pub async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, DbError> {
        let db = self.0.clone();
        let result = tokio::task::spawn_blocking(move || work(&mut db.lock().unwrap_or_else(|e| e.into_inner())));
        Ok(result.await??)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    #[error("the database task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

#[derive(Debug, Clone)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub password_hash: String,
    pub active: bool,
    pub admin: bool,
}

pub fn user(conn: &Connection, username: &str) -> rusqlite::Result<Option<User>> {
    conn.query_row(
        "SELECT id, username, password_hash, active, admin FROM users WHERE username = ?1",
        [username],
        |row| {
            Ok(User {
                id: row.get(0)?,
                username: row.get(1)?,
                password_hash: row.get(2)?,
                active: row.get(3)?,
                admin: row.get(4)?,
            })
        },
    )
    .optional()
}

fn is_conflict(error: &rusqlite::Error) -> bool {
    matches!(error, rusqlite::Error::SqliteFailure(e, _) if e.code == rusqlite::ErrorCode::ConstraintViolation)
}

/// Creates an inactive user; `Ok(false)` when the username or email is taken.
pub fn create_user(
    conn: &mut Connection,
    username: &str,
    hash: &str,
    email: &str,
    code_hash: &str,
) -> rusqlite::Result<bool> {
    let tx = conn.transaction()?;
    let inserted = tx.execute(
        "INSERT INTO users (username, password_hash, created) VALUES (?1, ?2, ?3)",
        params![username, hash, now()],
    );
    match inserted {
        Err(e) if is_conflict(&e) => return Ok(false),
        other => other?,
    };
    let user_id = tx.last_insert_rowid();
    match add_email_in(&tx, user_id, email, code_hash) {
        Ok(true) => tx.commit().map(|()| true),
        other => other,
    }
}

/// Adds an unverified email; `Ok(false)` when some account already has it.
pub fn add_email(conn: &Connection, user_id: i64, email: &str, code_hash: &str) -> rusqlite::Result<bool> {
    add_email_in(conn, user_id, email, code_hash)
}

fn add_email_in(conn: &Connection, user_id: i64, email: &str, code_hash: &str) -> rusqlite::Result<bool> {
    match conn.execute(
        "INSERT INTO emails (user_id, email, code_hash) VALUES (?1, ?2, ?3)",
        params![user_id, email, code_hash],
    ) {
        Ok(_) => Ok(true),
        Err(e) if is_conflict(&e) => Ok(false),
        Err(e) => Err(e),
    }
}

pub fn set_password(conn: &Connection, user_id: i64, hash: &str) -> rusqlite::Result<()> {
    conn.execute("UPDATE users SET password_hash = ?1 WHERE id = ?2", params![hash, user_id]).map(drop)
}

/// Verifies the email a confirmation code was sent to and activates its account.
pub fn confirm(conn: &mut Connection, username: &str, code_hash: &str) -> rusqlite::Result<bool> {
    let tx = conn.transaction()?;
    let verified = tx.execute(
        "UPDATE emails SET verified = 1, code_hash = NULL
         WHERE code_hash = ?2 AND user_id = (SELECT id FROM users WHERE username = ?1)",
        params![username, code_hash],
    )?;
    if verified == 1 {
        tx.execute("UPDATE users SET active = 1 WHERE username = ?1", [username])?;
    }
    tx.commit()?;
    Ok(verified == 1)
}

pub fn set_flag(conn: &Connection, username: &str, flag: UserFlag, value: bool) -> rusqlite::Result<bool> {
    let sql = match flag {
        UserFlag::Active => "UPDATE users SET active = ?2 WHERE username = ?1",
        UserFlag::Admin => "UPDATE users SET admin = ?2 WHERE username = ?1",
    };
    Ok(conn.execute(sql, params![username, value])? == 1)
}

#[derive(Debug, Clone, Copy)]
pub enum UserFlag {
    Active,
    Admin,
}

#[derive(Debug, Clone)]
pub struct Repository {
    pub id: i64,
    pub owner_id: Option<i64>,
    pub private: bool,
    pub deleted: bool,
}

pub fn repository(conn: &Connection, repo: &RepoName) -> rusqlite::Result<Option<Repository>> {
    conn.query_row(
        "SELECT id, owner_id, private, deleted FROM repositories WHERE namespace = ?1 AND name = ?2",
        params![repo.namespace, repo.name],
        |row| Ok(Repository { id: row.get(0)?, owner_id: row.get(1)?, private: row.get(2)?, deleted: row.get(3)? }),
    )
    .optional()
}

/// Creates the repository, or takes it back from a delete in progress; returns its id.
pub fn allocate_repository(conn: &Connection, repo: &RepoName, owner_id: i64) -> rusqlite::Result<i64> {
    conn.execute(
        "INSERT INTO repositories (namespace, name, owner_id, created) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (namespace, name) DO UPDATE SET deleted = 0",
        params![repo.namespace, repo.name, owner_id, now()],
    )?;
    conn.query_row(
        "SELECT id FROM repositories WHERE namespace = ?1 AND name = ?2",
        params![repo.namespace, repo.name],
        |r| r.get(0),
    )
}

/// An image of a repository's list: its checksum once pushed, and the tag whose chain a
/// pushing client listed it under.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageRow {
    pub id: String,
    pub checksum: Option<String>,
    pub tag: Option<String>,
}

/// Adds images (never removes any); a checksum given replaces the one recorded, a tag given
/// adds the image to that tag's chain.
pub fn add_images(conn: &mut Connection, repository_id: i64, images: &[ImageRow]) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    for image in images {
        tx.execute(
            "INSERT INTO images (repository_id, image_id, checksum, position)
             VALUES (?1, ?2, ?3, (SELECT COUNT(*) FROM images WHERE repository_id = ?1))
             ON CONFLICT (repository_id, image_id) DO UPDATE SET checksum = COALESCE(excluded.checksum, checksum)",
            params![repository_id, image.id, image.checksum],
        )?;
        if let Some(tag) = &image.tag {
            tx.execute(
                "INSERT OR IGNORE INTO image_tags (repository_id, image_id, tag) VALUES (?1, ?2, ?3)",
                params![repository_id, image.id, tag],
            )?;
        }
    }
    tx.commit()
}

/// The images of a repository with their checksums: all of them, or those of one tag's chain
/// when pushes named that tag.
pub fn images(
    conn: &Connection,
    repository_id: i64,
    tag: Option<&str>,
) -> rusqlite::Result<Vec<(String, Option<String>)>> {
    let tagged = match tag {
        Some(tag) => {
            conn.query_row(
                "SELECT COUNT(*) FROM image_tags WHERE repository_id = ?1 AND tag = ?2",
                params![repository_id, tag],
                |r| r.get::<_, i64>(0),
            )? > 0
        }
        None => false,
    };
    let mut statement = if tagged {
        conn.prepare(
            "SELECT i.image_id, i.checksum FROM images i
             JOIN image_tags t ON t.repository_id = i.repository_id AND t.image_id = i.image_id
             WHERE i.repository_id = ?1 AND t.tag = ?2 ORDER BY i.position, i.image_id",
        )?
    } else {
        conn.prepare(
            "SELECT image_id, checksum FROM images WHERE repository_id = ?1 AND ?2 = ?2
             ORDER BY position, image_id",
        )?
    };
    let rows = statement.query_map(params![repository_id, tag.unwrap_or("")], |row| Ok((row.get(0)?, row.get(1)?)))?;
    rows.collect()
}

pub fn mark_deleted(conn: &Connection, repository_id: i64) -> rusqlite::Result<()> {
    conn.execute("UPDATE repositories SET deleted = 1 WHERE id = ?1", [repository_id]).map(drop)
}

pub fn purge(conn: &Connection, repository_id: i64) -> rusqlite::Result<()> {
    conn.execute("DELETE FROM repositories WHERE id = ?1", [repository_id]).map(drop)
}

pub fn set_repository(conn: &Connection, repo: &RepoName, field: RepoField) -> rusqlite::Result<bool> {
    let changed = match field {
        RepoField::Private(private) => conn.execute(
            "UPDATE repositories SET private = ?3 WHERE namespace = ?1 AND name = ?2",
            params![repo.namespace, repo.name, private],
        )?,
        RepoField::Description(text) => conn.execute(
            "UPDATE repositories SET description = ?3 WHERE namespace = ?1 AND name = ?2",
            params![repo.namespace, repo.name, text],
        )?,
        RepoField::Stars(stars) => conn.execute(
            "UPDATE repositories SET stars = ?3 WHERE namespace = ?1 AND name = ?2",
            params![repo.namespace, repo.name, stars],
        )?,
    };
    Ok(changed == 1)
}

pub enum RepoField {
    Private(bool),
    Description(String),
    Stars(u32),
}

pub fn store_token(
    conn: &Connection,
    signature_hash: &str,
    repository: &str,
    access: Access,
    user_id: Option<i64>,
) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO tokens (signature_hash, repository, access, user_id, created) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![signature_hash, repository, access.as_str(), user_id, now()],
    )
    .map(drop)
}

/// Uses a token up: true when it existed, unused, for that repository and access.
pub fn consume_token(
    conn: &Connection,
    signature_hash: &str,
    repository: &str,
    access: Access,
) -> rusqlite::Result<bool> {
    let removed = conn.execute(
        "DELETE FROM tokens WHERE signature_hash = ?1 AND repository = ?2 AND access = ?3",
        params![signature_hash, repository, access.as_str()],
    )?;
    Ok(removed == 1)
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct SearchResult {
    pub name: String,
    pub description: String,
    pub star_count: u32,
    pub is_official: bool,
    pub is_trusted: bool,
}

/// Public repositories whose name or description contains `term` (case-insensitive), most starred first.
pub fn search(conn: &Connection, term: &str) -> rusqlite::Result<Vec<SearchResult>> {
    let escaped = term.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
    let pattern = format!("%{escaped}%");
    let mut statement = conn.prepare(
        "SELECT namespace, name, description, stars FROM repositories
         WHERE deleted = 0 AND private = 0
           AND (namespace || '/' || name LIKE ?1 ESCAPE '\\' OR description LIKE ?1 ESCAPE '\\')
         ORDER BY stars DESC, namespace, name",
    )?;
    let rows = statement.query_map([pattern], |row| {
        let namespace: String = row.get(0)?;
        let name: String = row.get(1)?;
        let official = namespace == "library";
        Ok(SearchResult {
            name: if official { name } else { format!("{namespace}/{name}") },
            description: row.get(2)?,
            star_count: row.get(3)?,
            is_official: official,
            is_trusted: false,
        })
    })?;
    rows.collect()
}
