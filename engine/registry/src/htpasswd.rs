//! Password checks: the htpasswd file a standalone registry may be given (bcrypt `$2y$` lines
//! as `htpasswd -B` writes them, or argon2 PHC strings), and a short-lived cache of verified
//! credentials so that a push does not pay a slow hash on every request.

use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a verified password is trusted without hashing it again.
const CACHE_TTL: Duration = Duration::from_secs(300);
const CACHE_MAX: usize = 10_000;

#[derive(Debug, thiserror::Error)]
pub enum HtpasswdError {
    #[error("{0}")]
    Read(#[from] std::io::Error),
    #[error("line {line}: expected user:hash with a bcrypt ($2y$) or argon2 ($argon2id$) hash")]
    Line { line: usize },
}

/// Users and password hashes from an htpasswd file.
#[derive(Debug)]
pub struct Htpasswd {
    users: HashMap<String, String>,
}

impl Htpasswd {
    pub fn load(path: &Path) -> Result<Htpasswd, HtpasswdError> {
        Htpasswd::parse(&std::fs::read_to_string(path)?)
    }

    pub fn parse(text: &str) -> Result<Htpasswd, HtpasswdError> {
        let mut users = HashMap::new();
        for (index, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (user, hash) = line.split_once(':').ok_or(HtpasswdError::Line { line: index + 1 })?;
            if user.is_empty() || !(hash.starts_with("$2") || hash.starts_with("$argon2")) {
                return Err(HtpasswdError::Line { line: index + 1 });
            }
            users.insert(user.to_string(), hash.to_string());
        }
        Ok(Htpasswd { users })
    }

    /// The stored hash of a user.
    pub fn hash_of(&self, user: &str) -> Option<&str> {
        self.users.get(user).map(String::as_str)
    }
}

/// Checks a password against a bcrypt or argon2 hash (slow by design: call off the async threads).
pub fn verify_password(password: &str, hash: &str) -> bool {
    if hash.starts_with("$argon2") {
        use argon2::password_hash::{PasswordHash, PasswordVerifier};
        return PasswordHash::new(hash)
            .is_ok_and(|parsed| argon2::Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok());
    }
    bcrypt::verify(password, hash).unwrap_or(false)
}

/// Credentials verified recently, remembered as a keyed hash of user, password and the stored
/// hash they matched (a password change therefore misses the cache).
#[derive(Debug)]
pub struct VerifiedCache {
    key: [u8; 32],
    entries: Mutex<HashMap<[u8; 32], Instant>>,
}

impl VerifiedCache {
    pub fn new() -> VerifiedCache {
        VerifiedCache { key: crate::token::random_bytes(), entries: Mutex::new(HashMap::new()) }
    }

    fn fingerprint(&self, user: &str, password: &str, hash: &str) -> [u8; 32] {
        let mut h = Sha256::new();
        for part in [&self.key[..], user.as_bytes(), password.as_bytes(), hash.as_bytes()] {
            h.update((part.len() as u64).to_be_bytes());
            h.update(part);
        }
        h.finalize().into()
    }

    pub fn contains(&self, user: &str, password: &str, hash: &str) -> bool {
        let fingerprint = self.fingerprint(user, password, hash);
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.get(&fingerprint).is_some_and(|expires| *expires > Instant::now())
    }

    pub fn insert(&self, user: &str, password: &str, hash: &str) {
        let fingerprint = self.fingerprint(user, password, hash);
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= CACHE_MAX {
            let now = Instant::now();
            entries.retain(|_, expires| *expires > now);
        }
        if entries.len() < CACHE_MAX {
            entries.insert(fingerprint, Instant::now() + CACHE_TTL);
        }
    }
}

/// Verifies off the async threads, through the cache.
pub async fn verify_cached(cache: &std::sync::Arc<VerifiedCache>, user: &str, password: &str, hash: &str) -> bool {
    if cache.contains(user, password, hash) {
        return true;
    }
    let (p, h) = (password.to_string(), hash.to_string());
    let ok = tokio::task::spawn_blocking(move || verify_password(&p, &h)).await.unwrap_or(false);
    if ok {
        cache.insert(user, password, hash);
    }
    ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bcrypt_lines_and_verifies() {
        let hash = bcrypt::hash("s3cret", 4).unwrap();
        let file = Htpasswd::parse(&format!("# users\nalice:{hash}\n\n")).unwrap();
        assert!(verify_password("s3cret", file.hash_of("alice").unwrap()));
        assert!(!verify_password("wrong", file.hash_of("alice").unwrap()));
        assert!(file.hash_of("bob").is_none());
    }

    #[test]
    fn refuses_unknown_hash_schemes() {
        assert!(matches!(Htpasswd::parse("alice:{SHA}abc"), Err(HtpasswdError::Line { line: 1 })));
        assert!(matches!(Htpasswd::parse("just-a-name"), Err(HtpasswdError::Line { line: 1 })));
    }

    #[test]
    fn the_cache_misses_after_a_password_change() {
        let cache = VerifiedCache::new();
        cache.insert("alice", "pw", "$hash1");
        assert!(cache.contains("alice", "pw", "$hash1"));
        assert!(!cache.contains("alice", "pw", "$hash2"));
        assert!(!cache.contains("alice", "other", "$hash1"));
    }
}
