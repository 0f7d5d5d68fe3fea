//! Accounts (5.4.1 §4.2, 5.4.3 §2.2): registration (201 "User Created"; the spec's 200 is
//! answered as 201, as the index API shows), login checks, updates, and email confirmation.
//! A new account is inactive until the link of its confirmation mail is opened; mails are
//! written to `<root>/outbox/` (the index sends no email itself).

use super::{db, Caller, IndexError, IndexService, MAX_BODY};
use crate::http::{self as h, Body};
use crate::names::is_username;
use crate::token::{hex, random_hex};
use http::request::Parts;
use http::{Response, StatusCode};
use hyper::body::Incoming;
use sha2::{Digest, Sha256};

/// Names nobody may register: namespaces with a meaning, and words that look official.
const FORBIDDEN: &[&str] = &["library", "admin", "root", "docker", "index", "registry", "official", "users", "search"];
const MIN_PASSWORD: usize = 5;

pub async fn create(svc: &IndexService, body: Incoming) -> Result<Response<Body>, IndexError> {
    let fields = json_object(body).await?;
    let field = |name: &str| -> Result<String, IndexError> {
        let value = fields.get(name).ok_or_else(|| IndexError::bad_request(format!("Missing field: {name}")))?;
        value
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| IndexError::bad_request(format!("Invalid field: {name} must be a string")))
    };
    let (username, password, email) = (field("username")?, field("password")?, field("email")?);
    check_username(&username)?;
    check_password(&password)?;
    check_email(&email)?;
    let hash = hash_password(password).await?;
    let code = random_hex::<16>();
    let (name, address, code_hash) = (username.clone(), email.clone(), code_hash(&code));
    if !svc.db(move |c| db::create_user(c, &name, &hash, &address, &code_hash)).await? {
        return Err(IndexError::bad_request("Username or email already exists"));
    }
    send_confirmation(svc, &username, &email, &code).await;
    Ok(h::json(StatusCode::CREATED, &"User Created"))
}

pub async fn login(svc: &IndexService, parts: &Parts) -> Result<Response<Body>, IndexError> {
    match svc.caller(parts).await? {
        Caller::User(_) => Ok(h::json(StatusCode::OK, &"OK")),
        _ => Err(IndexError::unauthorized("Login with your username and password (HTTP Basic)")),
    }
}

/// Changes the password and/or adds an email (which then needs confirming; the account stays active).
pub async fn update(
    svc: &IndexService,
    parts: &Parts,
    body: Incoming,
    name: &str,
) -> Result<Response<Body>, IndexError> {
    let wanted = name.to_string();
    if svc.db(move |c| db::user(c, &wanted)).await?.is_none() {
        return Err(IndexError::new(StatusCode::NOT_FOUND, "User not found"));
    }
    let user = match svc.caller(parts).await? {
        Caller::User(user) => user,
        _ => return Err(IndexError::unauthorized("Login with your username and password (HTTP Basic)")),
    };
    if user.username != name && !user.admin {
        return Err(IndexError::forbidden(format!("{} may not change the account of {name}", user.username)));
    }
    let fields = json_object(body).await?;
    let text = |key: &str| {
        fields.get(key).map(|v| v.as_str().ok_or_else(|| IndexError::bad_request(format!("Invalid field: {key}"))))
    };
    let (password, email) = (text("password").transpose()?, text("email").transpose()?);
    if password.is_none() && email.is_none() {
        return Err(IndexError::bad_request("Nothing to update: give a password and/or an email"));
    }
    if let Some(password) = password {
        check_password(password)?;
        let hash = hash_password(password.to_string()).await?;
        let id = user.id;
        svc.db(move |c| db::set_password(c, id, &hash)).await?;
    }
    if let Some(email) = email {
        add_email(svc, user.id, name, email).await?;
    }
    Ok(h::empty(StatusCode::NO_CONTENT))
}

async fn add_email(svc: &IndexService, user_id: i64, name: &str, email: &str) -> Result<(), IndexError> {
    check_email(email)?;
    let code = random_hex::<16>();
    let (address, hash) = (email.to_string(), code_hash(&code));
    if !svc.db(move |c| db::add_email(c, user_id, &address, &hash)).await? {
        return Err(IndexError::bad_request("Username or email already exists"));
    }
    send_confirmation(svc, name, email, &code).await;
    Ok(())
}

/// The link of a confirmation mail: `GET /v1/users/<name>/confirm?code=...`.
pub async fn confirm(svc: &IndexService, parts: &Parts, name: &str) -> Result<Response<Body>, IndexError> {
    let code = h::query_value(&h::query(parts), "code").unwrap_or_default();
    let (user, hash) = (name.to_string(), code_hash(&code));
    match svc.db(move |c| db::confirm(c, &user, &hash)).await? {
        true => Ok(h::json(StatusCode::OK, &"Email confirmed, account active")),
        false => Err(IndexError::new(StatusCode::NOT_FOUND, "Unknown or already used confirmation code")),
    }
}

async fn json_object(body: Incoming) -> Result<serde_json::Map<String, serde_json::Value>, IndexError> {
    let bytes = h::read_limited(body, MAX_BODY).await.map_err(|e| IndexError::bad_request(e.to_string()))?;
    match serde_json::from_slice(&bytes) {
        Ok(serde_json::Value::Object(fields)) => Ok(fields),
        Ok(_) => Err(IndexError::bad_request("Invalid JSON: expected an object")),
        Err(_) => Err(IndexError::bad_request("Error Decoding JSON")),
    }
}

fn check_username(name: &str) -> Result<(), IndexError> {
    if !is_username(name) {
        return Err(IndexError::bad_request(format!(
            "Invalid username {name:?}: use 4 to 30 characters from [a-z0-9_]"
        )));
    }
    if FORBIDDEN.contains(&name) {
        return Err(IndexError::bad_request(format!("Forbidden username {name:?}")));
    }
    Ok(())
}

fn check_password(password: &str) -> Result<(), IndexError> {
    if password.chars().count() < MIN_PASSWORD {
        return Err(IndexError::bad_request(format!("Invalid password: use at least {MIN_PASSWORD} characters")));
    }
    Ok(())
}

/// A plausible address: one `@`, a local part, a dotted domain, no spaces.
fn check_email(email: &str) -> Result<(), IndexError> {
    let valid = email.len() <= 254
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && !domain.contains('@')
                && domain.split('.').count() >= 2
                && domain.split('.').all(|label| !label.is_empty())
        });
    if valid {
        Ok(())
    } else {
        Err(IndexError::bad_request(format!("Invalid email address {email:?}")))
    }
}

async fn hash_password(password: String) -> Result<String, IndexError> {
    use argon2::password_hash::{PasswordHasher, SaltString};
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::encode_b64(&crate::token::random_bytes::<16>()).map_err(|e| e.to_string())?;
        argon2::Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| e.to_string())
    })
    .await
    .map_err(|e| e.to_string())
    .and_then(|r| r)
    .map_err(|e| IndexError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("cannot hash the password: {e}")))
}

fn code_hash(code: &str) -> String {
    hex(&Sha256::digest(code.as_bytes()))
}

/// Writes the confirmation mail to the outbox (a failure is logged: the account can still be
/// activated by an administrator).
async fn send_confirmation(svc: &IndexService, username: &str, email: &str, code: &str) {
    let link = format!("/v1/users/{username}/confirm?code={code}");
    let mail =
        format!("To: {email}\nSubject: Confirm your account {username}\n\nOpen {link} on this index to confirm.\n");
    let stamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let path = svc.outbox.join(format!("{stamp}-{username}.txt"));
    if let Err(error) = tokio::fs::write(&path, mail).await {
        tracing::warn!(%error, path = %path.display(), "cannot write the confirmation mail");
    }
    tracing::info!(%username, %email, "confirmation mail written to the outbox");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validates_like_4_2_1() {
        assert!(check_username("abcd").is_ok() && check_username(&"a".repeat(30)).is_ok());
        assert!(check_username("abc").is_err() && check_username(&"a".repeat(31)).is_err());
        assert!(
            check_username("Abcd").is_err() && check_username("ab-cd").is_err() && check_username("ab.cd").is_err()
        );
        assert!(check_username("library").is_err());
        assert!(check_password("12345").is_ok() && check_password("1234").is_err());
        assert!(check_email("sam@dotcloud.com").is_ok());
        for bad in ["sam", "sam@", "@x.com", "sam@localhost", "sam@x..com", "s am@x.com", "a@b@c.com"] {
            assert!(check_email(bad).is_err(), "{bad}");
        }
    }
}
