//! Registry, index and distribution (3.2, 5.1.16/20/24/25/31, 5.4.1–5.4.3): the index's users,
//! repositories, tokens and search, the v1 registry's images, tags and sessions, the push,
//! pull and delete flows step by step over HTTP, and the CLI's login, push, pull, search and
//! insert against them. Servers come from the environment: INDEX_URL, REGISTRY_URL (a registry
//! that works with that index), PRIVATE_REGISTRY_URL (a standalone one), and active accounts
//! INDEX_USER/INDEX_PASSWORD, INDEX_USER2/INDEX_PASSWORD2 and INDEX_ADMIN/INDEX_ADMIN_PASSWORD.
//! A case whose server or account is not given skips, saying which.

use super::containers::{both, cleaning_images, run_out, IMAGE};
use super::Case;
use crate::case;
use crate::engine::{CliRun, Engine};
use crate::outcome::{skip, Outcome, SkipKind};
use anyhow::{ensure, Context};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[rustfmt::skip]
pub static CASES: &[Case] = &[
    case!("index user registration rules", [
        "index.users.create", "index.users.create.validation.username-short", "index.users.create.validation.username-long",
        "index.users.create.validation.username-charset", "index.users.create.validation.password-short",
        "index.users.create.validation.email", "index.users.create.validation.missing-field",
        "index.users.create.validation.invalid-json", "index.users.create.validation.duplicate",
        "index.users.create.validation.forbidden",
    ], users_create),
    case!("index login check", ["index.users.login", "index.users.inactive-until-email", "index.auth.basic-inactive"], users_login),
    case!("index user update", ["index.users.update", "index.users.update.password", "index.users.update.email-adds"], users_update),
    case!("index challenge", ["index.auth.challenge", "flow.push.auth-required", "index.auth.basic-bad", "index.api.basic-auth"], auth_challenge),
    case!("index repository allocation", [
        "index.repositories.user.put", "index.auth.basic-token", "flow.push.index-put-repo", "flow.push.index-allocates",
        "index.resolve-short-names", "index.auth.basic-only",
    ], repository_put),
    case!("index own namespace", ["index.push.own-namespace-only"], own_namespace),
    case!("index images", [
        "index.repositories.user.images.put", "index.repositories.user.images.get", "index.images.put-add-only",
        "index.images.endpoints-header", "flow.push.in-progress", "flow.pull.index-response", "flow.pull.token-only-when-asked",
    ], repository_images),
    case!("index images of one tag", ["flow.pull.tag-scope"], tag_scope),
    case!("index tokens", ["flow.pull.token-new-each-time", "index.repositories.user.auth", "index.auth.token"], tokens),
    case!("index library namespace", [
        "index.repositories.library.put", "index.repositories.library.namespace-default", "index.repositories.library.images.put",
        "index.repositories.library.images.get", "index.repositories.library.auth", "index.repositories.library.delete",
        "index.repo.toplevel-no-slash",
    ], library),
    case!("index search", ["index.search", "index.search.empty", "index.search.get-only"], search_api),
    case!("registry ping", ["registry.v1.ping", "registry.v1.common-headers"], ping),
    case!("registry push flow", [
        "flow.push.image-json-token", "flow.push.cookie", "flow.push.parent-first", "flow.push.checksum-header", "flow.push.tag",
        "flow.push.index-images-final", "flow.push.token-invalidated", "flow.push.retry-cookie",
        "registry.v1.images.json.put", "registry.v1.images.layer.put", "registry.v1.images.json.get",
        "registry.v1.images.json.size-header", "registry.v1.images.layer.get", "registry.v1.images.ancestry.get",
        "registry.v1.images.ancestry.put", "registry.v1.tags.put", "registry.v1.tags.get", "registry.v1.tags.list",
    ], push_flow),
    case!("registry pull flow", [
        "flow.pull.index-request", "flow.pull.tags-request", "flow.pull.registry-validates", "flow.pull.token-invalidated",
        "flow.pull.cookie-session", "flow.pull.ancestry-walk", "flow.pull.public-no-auth", "flow.pull.public-bad-auth",
        "registry.chain.endpoints-header", "registry.chain.full-chain", "index.repo.user-namespace",
    ], pull_flow),
    case!("registry delete flow", [
        "flow.delete.index-request", "flow.delete.auth", "flow.delete.registry-request", "flow.delete.registry-validates",
        "flow.delete.registry-statuses", "flow.delete.registry-effect", "flow.delete.index-final", "registry.v1.tags.delete",
        "registry.v1.repo.delete", "index.repositories.user.delete",
    ], delete_flow),
    case!("registry tokens only", ["registry.auth.token-only", "flow.token.repo-scope", "flow.token.access-level"], token_only),
    case!("registry names", ["registry.v1.namespace-regex", "registry.v1.repo-name-regex"], names),
    case!("registry private repository", ["flow.pull.private-requires-auth"], private_repository),
    case!("registry checksum mismatch", ["flow.pull.checksum-verify"], checksum_mismatch),
    case!("standalone registry", ["registry.standalone.no-index", "flow.push.no-index", "flow.pull.registry-direct", "registry.private.no-username-check"], standalone),
    case!("https probe", ["registry.v1.ping.ssl-probe"], ssl_probe),
    case!("static registry", ["registry.standalone.static-http"], static_registry),
    case!("cli login", [
        "cli.login.opt.username", "cli.login.opt.password", "cli.login.opt.email", "cli.login.success",
        "cli.login.bad-credentials", "cli.login.server-arg",
    ], cli_login),
    case!("cli login registers", ["cli.login.register-new"], cli_register),
    case!("cli login prompts", ["cli.login.interactive"], cli_login_interactive),
    case!("cli credentials file", [
        "cli.login.dockercfg-file", "cli.login.dockercfg-default-key", "cli.login.dockercfg-server-key",
        "cli.login.dockercfg-auth-field", "cli.login.dockercfg-multi",
    ], cli_dockercfg),
    case!("cli push and pull", [
        "cli.push.user-repo", "cli.pull.repo", "cli.pull.user-repo", "cli.pull.tag", "cli.push.all-tags",
        "cli.push.skip-existing", "cli.pull.skip-existing", "cli.pull.short-id-progress",
    ], cli_push_pull),
    case!("cli pull output", ["cli.pull.output"], cli_pull_output),
    case!("cli pull all tags", ["cli.pull.all-tags"], cli_pull_all_tags),
    case!("cli pull unknown", ["cli.pull.not-found"], cli_pull_not_found),
    case!("cli push refusals", ["cli.push.requires-login", "cli.push.root-repo-denied", "cli.push.unknown-image"], cli_push_refusals),
    case!("cli search", [
        "cli.search.output", "cli.search.matches", "cli.search.opt.no-trunc", "cli.search.opt.stars",
        "cli.search.opt.trusted",
    ], cli_search),
    case!("cli search -notrunc", ["cli.search.opt.notrunc-legacy"], cli_search_notrunc),
    case!("cli private registry", [
        "registry.private.prefix-tag", "registry.private.push", "registry.private.pull", "registry.private.not-indexed",
    ], cli_private),
    case!("cli insert", ["cli.insert.basic", "cli.insert.parent"], cli_insert),
];

// ---------------------------------------------------------------------------------------------
// Servers, accounts and a small HTTP client (the servers are reached only through their URLs).
// ---------------------------------------------------------------------------------------------

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

struct Servers {
    index: String,
    registry: String,
    user: (String, String),
    user2: (String, String),
}

/// The index, its registry and two active accounts, or why the case cannot run.
fn servers() -> Result<Servers, Outcome> {
    let missing = |what: &str| skip(SkipKind::Environment, format!("{what} is not set: no registry or index to test"));
    let index = env("INDEX_URL").ok_or_else(|| missing("INDEX_URL"))?;
    let registry = env("REGISTRY_URL").ok_or_else(|| missing("REGISTRY_URL"))?;
    let account = |u: &str, p: &str| -> Result<(String, String), Outcome> {
        Ok((env(u).ok_or_else(|| missing(u))?, env(p).ok_or_else(|| missing(p))?))
    };
    Ok(Servers {
        index: index.trim_end_matches('/').into(),
        registry: registry.trim_end_matches('/').into(),
        user: account("INDEX_USER", "INDEX_PASSWORD")?,
        user2: account("INDEX_USER2", "INDEX_PASSWORD2")?,
    })
}

macro_rules! servers_or_skip {
    () => {
        match servers() {
            Ok(s) => s,
            Err(outcome) => return Ok(outcome),
        }
    };
}

/// Skips a case that reaches the index through the engine's default (`push user/repo`,
/// `search`, `login` without a server) when the engine's index, as /info reports it, is not
/// INDEX_URL: it then talks to Docker Hub, which this machine has no route to.
macro_rules! engine_index_or_skip {
    ($e:expr, $s:expr) => {
        if let Some(outcome) = engine_index_elsewhere(&$e, &$s.index).await? {
            return Ok(outcome);
        }
    };
}

/// A skip when the engine's default index, as /info reports it, is not `index_url`.
pub(super) async fn engine_index_elsewhere(e: &Engine, index_url: &str) -> anyhow::Result<Option<Outcome>> {
    let info: Value = e.get("/info").await?.json()?;
    let address = info["IndexServerAddress"].as_str().unwrap_or_default().trim_end_matches('/').to_string();
    let wanted = index_url.trim_end_matches('/');
    if address.starts_with(wanted) {
        return Ok(None);
    }
    Ok(Some(skip(
        SkipKind::Environment,
        format!(
            "the engine's index is {address}, not INDEX_URL ({wanted}), and it has no setting to change that; \
             this machine has no route to Docker Hub"
        ),
    )))
}

static SERIAL: AtomicU32 = AtomicU32::new(0);

/// A fresh name of `[a-z0-9]`, usable as a username or repository.
pub(super) fn fresh(prefix: &str) -> String {
    let n = SERIAL.fetch_add(1, Ordering::Relaxed);
    let stamp =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_micros() % 1_000_000);
    format!("{prefix}{}{stamp}{n}", std::process::id() % 10_000)
}

fn base64(bytes: &[u8]) -> String {
    super::distribution::base64(bytes, super::distribution::STANDARD)
}

fn basic(user: &(String, String)) -> (&'static str, String) {
    ("authorization", format!("Basic {}", base64(format!("{}:{}", user.0, user.1).as_bytes())))
}

fn token_header(token: &str) -> (&'static str, String) {
    ("authorization", format!("Token {token}"))
}

const WANT_TOKEN: (&str, &str) = ("x-docker-token", "true");

/// A whole HTTP answer.
#[derive(Debug)]
pub(super) struct Answer {
    pub(super) status: u16,
    pub(super) headers: Vec<(String, String)>,
    pub(super) body: Vec<u8>,
}

impl Answer {
    pub(super) fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub(super) fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub(super) fn json(&self) -> anyhow::Result<Value> {
        serde_json::from_slice(&self.body).with_context(|| format!("not JSON: {}", self.text()))
    }

    /// The token handed out, from `X-Docker-Token` or `WWW-Authenticate: Token ...`.
    fn token(&self) -> Option<String> {
        self.header("x-docker-token")
            .map(String::from)
            .or_else(|| self.header("www-authenticate").and_then(|v| v.strip_prefix("Token ")).map(String::from))
    }

    /// The `name=value` of a Set-Cookie.
    fn cookie(&self) -> Option<String> {
        self.header("set-cookie").map(|c| c.split(';').next().unwrap_or_default().to_string())
    }

    pub(super) fn expect(self, status: u16, what: &str) -> anyhow::Result<Answer> {
        ensure!(self.status == status, "{what}: expected {status}, got {} {}", self.status, self.text().trim());
        Ok(self)
    }
}

/// One HTTP/1.1 request to `base` (`http://host:port`), the connection closed after it.
async fn http(base: &str, method: &str, path: &str, headers: &[(&str, String)], body: &[u8]) -> anyhow::Result<Answer> {
    let authority = base.strip_prefix("http://").unwrap_or(base).trim_end_matches('/');
    let exchange = async {
        let mut stream =
            tokio::net::TcpStream::connect(authority).await.with_context(|| format!("connect {authority}"))?;
        let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n");
        if !body.is_empty() || matches!(method, "PUT" | "POST") {
            head.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes()).await?;
        stream.write_all(body).await?;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await?;
        parse_answer(&raw, method == "HEAD")
    };
    tokio::time::timeout(Duration::from_secs(60), exchange).await.context("the server did not answer in 60 s")?
}

/// An HTTP/1.1 answer read whole: status, headers, and the body (de-chunked unless the
/// request was HEAD).
pub(super) fn parse_answer(raw: &[u8], head_only: bool) -> anyhow::Result<Answer> {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n").context("no end of headers")?;
    let head = String::from_utf8_lossy(&raw[..end]);
    let mut lines = head.split("\r\n");
    let status: u16 =
        lines.next().and_then(|l| l.split(' ').nth(1)).and_then(|s| s.parse().ok()).context("no status")?;
    let headers: Vec<(String, String)> =
        lines.filter_map(|l| l.split_once(':').map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))).collect();
    let mut body = raw[end + 4..].to_vec();
    let chunked = headers.iter().any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    if chunked && !head_only {
        body = dechunk(&body)?;
    }
    Ok(Answer { status, headers, body })
}

fn dechunk(mut data: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = data.windows(2).position(|w| w == b"\r\n").context("bad chunk")?;
        let size_text = String::from_utf8_lossy(&data[..line_end]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("0").trim(), 16)?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        ensure!(data.len() >= size + 2, "truncated chunk");
        out.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

/// A layer tar holding one small file.
fn layer_tar(name: &str, content: &[u8]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_ustar();
    header.set_size(content.len() as u64);
    header.set_mode(0o644);
    header.set_mtime(1_400_000_000);
    header.set_entry_type(tar::EntryType::Regular);
    builder.append_data(&mut header, name, content).expect("tar in memory");
    builder.into_inner().expect("tar in memory")
}

/// A 64-hex image id no one has used.
fn fresh_id() -> String {
    let seed = fresh("id");
    let mut out = String::new();
    let mut state: u64 = seed.bytes().fold(1469598103934665603, |h, b| (h ^ u64::from(b)).wrapping_mul(1099511628211));
    while out.len() < 64 {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        out.push_str(&format!("{:016x}", state));
    }
    out.truncate(64);
    out
}

/// Asks the index for a repository and a token (`PUT .../` with `X-Docker-Token: true`).
async fn allocate(s: &Servers, user: &(String, String), repo: &str, images: &Value) -> anyhow::Result<Answer> {
    let headers = [basic(user), (WANT_TOKEN.0, WANT_TOKEN.1.into()), ("content-type", "application/json".into())];
    http(&s.index, "PUT", &format!("/v1/repositories/{repo}/"), &headers, images.to_string().as_bytes()).await
}

/// An image pushed by hand through the v1 flow: its id, json and layer.
struct Pushed {
    repo: String,
    ids: Vec<String>,
    layers: Vec<Vec<u8>>,
    checksums: Vec<String>,
}

/// Pushes a parent and a child image and tags the child `latest`, as 5.4.1 §2.2 describes,
/// finishing with the checksums at the index.
async fn push_two(s: &Servers) -> anyhow::Result<Pushed> {
    let repo = format!("{}/{}", s.user.0, fresh("repo"));
    let ids = vec![fresh_id(), fresh_id()];
    // As a pushing client lists them: the chain of tag latest.
    let list = json!([{"id": ids[0], "Tag": "latest"}, {"id": ids[1], "Tag": "latest"}]);
    let allocated = allocate(s, &s.user, &repo, &list).await?.expect(200, "PUT repository at the index")?;
    let token = allocated.token().context("the index gave no token")?;
    let mut cookie: Option<String> = None;
    let mut layers = Vec::new();
    let mut checksums = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        let mut json = json!({"id": id, "created": "2014-02-03T00:00:00Z", "container_config": {"Cmd": ["true"]}});
        if i > 0 {
            json["parent"] = json!(ids[i - 1]);
        }
        let json = json.to_string();
        let auth = match &cookie {
            Some(c) => ("cookie", c.clone()),
            None => token_header(&token),
        };
        let put =
            http(&s.registry, "PUT", &format!("/v1/images/{id}/json"), std::slice::from_ref(&auth), json.as_bytes())
                .await?
                .expect(200, "PUT image json")?;
        if cookie.is_none() {
            cookie = Some(put.cookie().context("the registry set no session cookie after the token")?);
        }
        let session = ("cookie", cookie.clone().unwrap_or_default());
        let layer = layer_tar(&format!("file{i}"), format!("layer {i} of {id}").as_bytes());
        let checksum = put_layer(&s.registry, &session, id, &json, &layer).await?;
        layers.push(layer);
        checksums.push(checksum);
    }
    let session = ("cookie", cookie.unwrap_or_default());
    let tag = serde_json::to_vec(&ids[1])?;
    http(&s.registry, "PUT", &format!("/v1/repositories/{repo}/tags/latest"), &[session], &tag)
        .await?
        .expect(200, "PUT tag")?;
    let finish = json!([{"id": ids[0], "checksum": checksums[0]}, {"id": ids[1], "checksum": checksums[1]}]);
    let endpoints = allocated.header("x-docker-endpoints").unwrap_or_default().to_string();
    http(
        &s.index,
        "PUT",
        &format!("/v1/repositories/{repo}/images"),
        &[basic(&s.user), ("x-docker-endpoints", endpoints)],
        finish.to_string().as_bytes(),
    )
    .await?
    .expect(204, "final PUT images at the index")?;
    Ok(Pushed { repo, ids, layers, checksums })
}

/// Uploads an image's layer and then its payload checksum within a push session, as steps 7
/// and 8 of 5.4.1 §2.2 do; the checksum.
async fn put_layer(
    registry: &str,
    session: &(&'static str, String),
    id: &str,
    json: &str,
    layer: &[u8],
) -> anyhow::Result<String> {
    http(registry, "PUT", &format!("/v1/images/{id}/layer"), std::slice::from_ref(session), layer)
        .await?
        .expect(200, "PUT layer")?;
    let checksum = payload_checksum(json.as_bytes(), layer);
    let headers = [session.clone(), ("x-docker-checksum-payload", checksum.clone())];
    http(registry, "PUT", &format!("/v1/images/{id}/checksum"), &headers, b"").await?.expect(200, "PUT checksum")?;
    Ok(checksum)
}

/// sha256 of json + "\n" + layer, the payload checksum of 5.4.1 §2.2 step 8.
fn payload_checksum(json: &[u8], layer: &[u8]) -> String {
    use std::process::{Command, Stdio};
    let mut child = Command::new("sha256sum").stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().expect("sha256sum");
    {
        let mut stdin = child.stdin.take().expect("stdin");
        use std::io::Write;
        let _ = stdin.write_all(json);
        let _ = stdin.write_all(b"\n");
        let _ = stdin.write_all(layer);
    }
    let out = child.wait_with_output().expect("sha256sum output");
    format!("sha256:{}", String::from_utf8_lossy(&out.stdout).split_whitespace().next().unwrap_or_default())
}

// ---------------------------------------------------------------------------------------------
// Index
// ---------------------------------------------------------------------------------------------

async fn register(s: &Servers, body: &str) -> anyhow::Result<Answer> {
    http(&s.index, "POST", "/v1/users/", &[("content-type", "application/json".into())], body.as_bytes()).await
}

async fn users_create(_: Arc<Engine>) -> anyhow::Result<Outcome> {
    let s = servers_or_skip!();
    let user = |name: &str, password: &str, email: &str| {
        json!({"username": name, "password": password, "email": email}).to_string()
    };
    let name = fresh("new");
    let created = register(&s, &user(&name, "secret1", &format!("{name}@example.com"))).await?;
    ensure!(created.status == 201 || created.status == 200, "registration: {} {}", created.status, created.text());
    let four = format!("u{}", &fresh("")[..3]);
    let thirty = fresh("x").chars().chain(std::iter::repeat('a')).take(30).collect::<String>();
    let thirtyone = format!("{thirty}b");
    for (body, what) in [
        (user(&four[..3], "secret1", "a@example.com"), "a 3-character username"),
        (user(&thirtyone, "secret1", "a@example.com"), "a 31-character username"),
        (user(&format!("{}X", fresh("up")), "secret1", "a@example.com"), "an upper-case username"),
        (user(&format!("{}-x", fresh("hy")), "secret1", "a@example.com"), "a hyphen in the username"),
        (user(&format!("{}.x", fresh("do")), "secret1", "a@example.com"), "a dot in the username"),
        (user(&fresh("pw"), "four", "a@example.com"), "a 4-character password"),
        (user(&fresh("em"), "secret1", "not-an-email"), "a badly formed email"),
        (json!({"username": fresh("mi"), "password": "secret1"}).to_string(), "a missing email"),
        (json!({"email": "a@example.com", "password": "secret1"}).to_string(), "a missing username"),
        ("{not json".to_string(), "a body that is not JSON"),
        (user(&name, "secret1", "other@example.com"), "a username already taken"),
        (user("library", "secret1", "l@example.com"), "a forbidden username"),
    ] {
        let answer = register(&s, &body).await?;
        ensure!(answer.status == 400, "{what} must get 400, got {} {}", answer.status, answer.text());
    }
    for good in [four.clone(), thirty.clone()] {
        register(&s, &user(&good, "five5", &format!("{good}@example.com")))
            .await?
            .expect(201, "a boundary username")?;
    }
    Ok(Outcome::Passed)
}

async fn users_login(_: Arc<Engine>) -> anyhow::Result<Outcome> {
    let s = servers_or_skip!();
    http(&s.index, "GET", "/v1/users/", &[basic(&s.user)], b"").await?.expect(200, "an active account's login")?;
    let wrong = (s.user.0.clone(), format!("{}x", s.user.1));
    http(&s.index, "GET", "/v1/users/", &[basic(&wrong)], b"").await?.expect(401, "a wrong password")?;
    let name = fresh("inact");
    let body = json!({"username": name, "password": "secret1", "email": format!("{name}@example.com")});
    register(&s, &body.to_string()).await?.expect(201, "registration")?;
    let inactive = (name, "secret1".to_string());
    http(&s.index, "GET", "/v1/users/", &[basic(&inactive)], b"").await?.expect(403, "an account not yet confirmed")?;
    let repo = format!("{}/x", inactive.0);
    allocate(&s, &inactive, &repo, &json!([])).await?.expect(403, "a token for an inactive account")?;
    Ok(Outcome::Passed)
}

async fn users_update(_: Arc<Engine>) -> anyhow::Result<Outcome> {
    let s = servers_or_skip!();
    let user = s.user2.clone();
    let path = format!("/v1/users/{}/", user.0);
    let json_type = ("content-type", "application/json".to_string());
    let changed = (user.0.clone(), format!("{}new", user.1));
    http(
        &s.index,
        "PUT",
        &path,
        &[basic(&user), json_type.clone()],
        json!({"password": changed.1}).to_string().as_bytes(),
    )
    .await?
    .expect(204, "changing the password")?;
    let new_ok = http(&s.index, "GET", "/v1/users/", &[basic(&changed)], b"").await?.status;
    let old = http(&s.index, "GET", "/v1/users/", &[basic(&user)], b"").await?.status;
    let back = http(
        &s.index,
        "PUT",
        &path,
        &[basic(&changed), json_type.clone()],
        json!({"password": user.1}).to_string().as_bytes(),
    )
    .await?;
    back.expect(204, "changing the password back")?;
    ensure!(new_ok == 200 && old == 401, "after the change the new password got {new_ok} and the old one {old}");
    http(&s.index, "PUT", &path, &[basic(&user), json_type.clone()], json!({"password": "abc"}).to_string().as_bytes())
        .await?
        .expect(400, "a password too short")?;
    let email = format!("{}@added.example.com", fresh("e"));
    http(&s.index, "PUT", &path, &[basic(&user), json_type.clone()], json!({"email": email}).to_string().as_bytes())
        .await?
        .expect(204, "adding an email")?;
    http(&s.index, "GET", "/v1/users/", &[basic(&user)], b"").await?.expect(200, "login after adding an email")?;
    let wrong = (user.0.clone(), "wrongpass".into());
    http(&s.index, "PUT", &path, &[basic(&wrong), json_type], json!({"email": "x@example.com"}).to_string().as_bytes())
        .await?
        .expect(401, "an update with bad credentials")?;
    Ok(Outcome::Passed)
}

async fn auth_challenge(_: Arc<Engine>) -> anyhow::Result<Outcome> {
    let s = servers_or_skip!();
    let repo = format!("{}/{}", s.user.0, fresh("ch"));
    let answer =
        http(&s.index, "PUT", &format!("/v1/repositories/{repo}/"), &[(WANT_TOKEN.0, "true".into())], b"[]").await?;
    let answer = answer.expect(401, "a repository PUT without credentials")?;
    let challenge = answer.header("www-authenticate").unwrap_or_default();
    ensure!(challenge.starts_with("Basic") && challenge.contains("Token"), "challenge {challenge:?}");
    ensure!(answer.token().is_none() || answer.header("x-docker-token").is_none(), "a token came with the 401");
    let wrong = (s.user.0.clone(), "not-the-password".into());
    let bad = allocate(&s, &wrong, &repo, &json!([])).await?.expect(401, "a repository PUT with wrong credentials")?;
    ensure!(bad.header("x-docker-token").is_none(), "a token came with wrong credentials");
    let search = http(&s.index, "GET", "/v1/search?q=a", &[], b"").await?;
    ensure!(search.status == 200, "anonymous search got {}", search.status);
    Ok(Outcome::Passed)
}

async fn repository_put(_: Arc<Engine>) -> anyhow::Result<Outcome> {
    let s = servers_or_skip!();
    let repo = format!("{}/{}", s.user.0, fresh("alloc"));
    let answer = allocate(&s, &s.user, &repo, &json!([])).await?.expect(200, "PUT repository")?;
    let auth = answer.header("www-authenticate").unwrap_or_default();
    ensure!(auth.starts_with("Token signature="), "WWW-Authenticate {auth:?}");
    ensure!(auth.contains(&format!("repository=\"{repo}\"")) && auth.contains("access=write"), "token {auth:?}");
    ensure!(answer.header("x-docker-token").is_some(), "no X-Docker-Token");
    let endpoints = answer.header("x-docker-endpoints").unwrap_or_default();
    let registry_host = s.registry.trim_start_matches("http://");
    ensure!(
        endpoints.split(',').any(|e| e.trim().trim_start_matches("http://") == registry_host),
        "endpoints {endpoints:?}"
    );
    let plain = http(&s.index, "PUT", &format!("/v1/repositories/{repo}/"), &[basic(&s.user)], b"[]").await?;
    let plain = plain.expect(200, "PUT repository with Basic alone")?;
    ensure!(plain.token().is_none(), "a token without X-Docker-Token: true");
    Ok(Outcome::Passed)
}

async fn own_namespace(_: Arc<Engine>) -> anyhow::Result<Outcome> {
    let s = servers_or_skip!();
    let repo = format!("{}/{}", s.user2.0, fresh("theirs"));
    let answer = allocate(&s, &s.user, &repo, &json!([])).await?;
    ensure!(matches!(answer.status, 401 | 403), "pushing into another's namespace got {}", answer.status);
    ensure!(answer.header("x-docker-token").is_none(), "a token for someone else's namespace");
    Ok(Outcome::Passed)
}

async fn repository_images(_: Arc<Engine>) -> anyhow::Result<Outcome> {
    let s = servers_or_skip!();
    let pushed = push_two(&s).await?;
    let images = format!("/v1/repositories/{}/images", pushed.repo);
    let listed = http(&s.index, "GET", &images, &[], b"").await?.expect(200, "GET images")?;
    ensure!(listed.header("x-docker-endpoints").is_some(), "GET images without X-Docker-Endpoints");
    ensure!(listed.token().is_none(), "a token without X-Docker-Token: true");
    let list = listed.json()?;
    for (id, checksum) in pushed.ids.iter().zip(&pushed.checksums) {
        ensure!(
            list.as_array().is_some_and(|a| a.iter().any(|e| e["id"] == *id && e["checksum"] == *checksum)),
            "{list}"
        );
    }
    let tokened = http(&s.index, "GET", &images, &[(WANT_TOKEN.0, "true".into())], b"")
        .await?
        .expect(200, "GET images with a token")?;
    ensure!(tokened.token().is_some(), "no token when asked");
    let extra = fresh_id();
    let put = http(&s.index, "PUT", &images, &[basic(&s.user)], json!([{"id": extra}]).to_string().as_bytes()).await?;
    ensure!(put.header("x-docker-endpoints").is_some(), "PUT images without X-Docker-Endpoints");
    put.expect(204, "PUT images")?;
    let list = http(&s.index, "GET", &images, &[], b"").await?.json()?;
    let n = list.as_array().map_or(0, Vec::len);
    ensure!(n == 3, "after adding one image the list has {n} entries: {list}");
    let pending = list.as_array().and_then(|a| a.iter().find(|e| e["id"] == *extra)).cloned().unwrap_or_default();
    ensure!(
        pending["checksum"].as_str().unwrap_or_default().is_empty(),
        "an image not yet pushed has a checksum: {pending}"
    );
    http(&s.index, "PUT", &images, &[], b"[]").await?.expect(401, "PUT images without credentials")?;
    http(&s.index, "PUT", &images, &[basic(&s.user)], b"{bad").await?.expect(400, "PUT images with a bad body")?;
    Ok(Outcome::Passed)
}

/// 5.4.1 §2.1 step 1: asked for one tag (`.../images?tag=`), the index lists only that tag's
/// ancestry; asked for none, every image.
async fn tag_scope(_: Arc<Engine>) -> anyhow::Result<Outcome> {
    let s = servers_or_skip!();
    let pushed = push_two(&s).await?;
    let images = format!("/v1/repositories/{}/images", pushed.repo);
    let extra = fresh_id();
    let body = json!([{"id": extra, "checksum": format!("sha256:{}", "2".repeat(64))}]);
    http(&s.index, "PUT", &images, &[basic(&s.user)], body.to_string().as_bytes()).await?.expect(204, "PUT images")?;
    let all = http(&s.index, "GET", &images, &[], b"").await?.json()?;
    ensure!(all.as_array().map_or(0, Vec::len) == 3, "every image: {all}");
    let by_tag =
        http(&s.index, "GET", &format!("{images}?tag=latest"), &[], b"").await?.expect(200, "images of one tag")?;
    let listed = by_tag.json()?;
    let listed: Vec<&str> = listed.as_array().into_iter().flatten().filter_map(|i| i["id"].as_str()).collect();
    ensure!(
        listed.len() == 2 && pushed.ids.iter().all(|id| listed.contains(&id.as_str())),
        "the images of tag latest are {listed:?}, not its chain {:?} (without {extra})",
        pushed.ids
    );
    Ok(Outcome::Passed)
}

async fn tokens(_: Arc<Engine>) -> anyhow::Result<Outcome> {
    let s = servers_or_skip!();
    let repo = format!("{}/{}", s.user.0, fresh("tok"));
    let first =
        allocate(&s, &s.user, &repo, &json!([])).await?.expect(200, "first token")?.token().context("no token")?;
    let second =
        allocate(&s, &s.user, &repo, &json!([])).await?.expect(200, "second token")?.token().context("no token")?;
    ensure!(first != second, "two requests gave the same token");
    let images = format!("/v1/repositories/{repo}/images");
    http(&s.index, "GET", &images, &[token_header(&second)], b"").await?.expect(200, "GET images with a token")?;
    let auth_path = format!("/v1/repositories/{repo}/auth");
    let ok =
        http(&s.index, "PUT", &auth_path, &[token_header(&first)], b"").await?.expect(200, "validating a token")?;
    ensure!(ok.text().contains("OK"), "validation answered {}", ok.text());
    http(&s.index, "PUT", &auth_path, &[token_header(&first)], b"").await?.expect(403, "validating a used token")?;
    http(&s.index, "PUT", &auth_path, &[token_header("signature=nope,repository=\"x/y\",access=write")], b"")
        .await?
        .expect(403, "validating a made-up token")?;
    Ok(Outcome::Passed)
}

async fn library(_: Arc<Engine>) -> anyhow::Result<Outcome> {
    let s = servers_or_skip!();
    let Some(admin) = env("INDEX_ADMIN").zip(env("INDEX_ADMIN_PASSWORD")) else {
        return Ok(skip(SkipKind::Environment, "INDEX_ADMIN is not set: no admin account for library repositories"));
    };
    let name = fresh("lib");
    let denied = allocate(&s, &s.user, &name, &json!([])).await?;
    ensure!(denied.status == 403 || denied.status == 401, "a non-admin creating library/{name} got {}", denied.status);
    let put = allocate(&s, &admin, &name, &json!([])).await?.expect(200, "an admin creating a library repository")?;
    let token = put.token().context("no token")?;
    ensure!(token.contains(&format!("repository=\"library/{name}\"")), "token {token}");
    let images = format!("/v1/repositories/{name}/images");
    let id = fresh_id();
    http(
        &s.index,
        "PUT",
        &images,
        &[basic(&admin)],
        json!([{"id": id, "checksum": format!("sha256:{}", "0".repeat(64))}]).to_string().as_bytes(),
    )
    .await?
    .expect(204, "PUT library images")?;
    http(&s.index, "PUT", &images, &[basic(&s.user)], b"[]").await?.expect(403, "PUT library images as a non-admin")?;
    let list = http(&s.index, "GET", &images, &[], b"").await?.expect(200, "GET library images")?.json()?;
    ensure!(list.to_string().contains(&id), "{list}");
    let same = http(&s.index, "GET", &format!("/v1/repositories/library/{name}/images"), &[], b"").await?.json()?;
    ensure!(same == list, "library/{name} and {name} differ");
    http(&s.index, "GET", &format!("/v1/repositories/{}/images", fresh("none")), &[], b"")
        .await?
        .expect(404, "an unknown library repository")?;
    let auth_path = format!("/v1/repositories/{name}/auth");
    http(&s.index, "PUT", &auth_path, &[token_header(&token)], b"").await?.expect(200, "validating a library token")?;
    http(&s.index, "PUT", &auth_path, &[token_header(&token)], b"").await?.expect(403, "validating it again")?;
    let delete = [basic(&admin), (WANT_TOKEN.0, "true".into())];
    let deleted = http(&s.index, "DELETE", &format!("/v1/repositories/{name}/"), &delete, b"").await?;
    ensure!(deleted.status == 202 || deleted.status == 200, "deleting a library repository got {}", deleted.status);
    let token = deleted.token().unwrap_or_default();
    ensure!(
        token.contains(&format!("repository=\"library/{name}\"")) && token.contains("access=delete"),
        "delete token {token}"
    );
    Ok(Outcome::Passed)
}

async fn search_api(_: Arc<Engine>) -> anyhow::Result<Outcome> {
    let s = servers_or_skip!();
    let pushed = push_two(&s).await?;
    let term = pushed.repo.split('/').nth(1).unwrap_or_default().to_string();
    let found =
        http(&s.index, "GET", &format!("/v1/search?q={term}"), &[], b"").await?.expect(200, "search")?.json()?;
    let results = found["results"].as_array().cloned().unwrap_or_default();
    ensure!(found["query"] == term && found["num_results"] == results.len(), "{found}");
    ensure!(results.iter().any(|r| r["name"] == pushed.repo.as_str() && r.get("description").is_some()), "{found}");
    let none = http(&s.index, "GET", &format!("/v1/search?q={}", fresh("zz")), &[], b"").await?.json()?;
    ensure!(none["num_results"] == 0 && none["results"] == json!([]), "{none}");
    http(&s.index, "POST", "/v1/search?q=a", &[], b"").await?.expect(405, "POST /v1/search")?;
    Ok(Outcome::Passed)
}

// ---------------------------------------------------------------------------------------------
// Registry and flows
// ---------------------------------------------------------------------------------------------

async fn ping(_: Arc<Engine>) -> anyhow::Result<Outcome> {
    let s = servers_or_skip!();
    let answer = http(&s.registry, "GET", "/v1/_ping", &[], b"").await?.expect(200, "GET /v1/_ping")?;
    ensure!(answer.header("x-docker-registry-version").is_some(), "no X-Docker-Registry-Version");
    let tags = http(&s.registry, "GET", "/v1/repositories/nobody/nothing/tags", &[], b"").await?;
    ensure!(tags.header("x-docker-registry-version").is_some(), "an error answer without X-Docker-Registry-Version");
    let vary = answer.header("vary").unwrap_or_default().to_ascii_lowercase();
    ensure!(vary.contains("accept"), "Vary: {vary:?}");
    let typed = answer.header("content-type").unwrap_or_default();
    ensure!(typed.contains("application/json"), "Content-Type {typed:?}");
    Ok(Outcome::Passed)
}

async fn push_flow(_: Arc<Engine>) -> anyhow::Result<Outcome> {
    let s = servers_or_skip!();
    let pushed = push_two(&s).await?;
    let (parent, child) = (&pushed.ids[0], &pushed.ids[1]);
    // A fresh session: read access through the index.
    let token = http(
        &s.index,
        "GET",
        &format!("/v1/repositories/{}/images", pushed.repo),
        &[(WANT_TOKEN.0, "true".into())],
        b"",
    )
    .await?
    .token()
    .context("no read token")?;
    let json = http(&s.registry, "GET", &format!("/v1/images/{child}/json"), &[token_header(&token)], b"")
        .await?
        .expect(200, "GET json")?;
    let cookie = ("cookie", json.cookie().context("no session cookie")?);
    ensure!(json.json()?["parent"] == parent.as_str(), "json {}", json.text());
    let size: usize = json.header("x-docker-size").context("no X-Docker-Size")?.parse()?;
    ensure!(size == pushed.layers[1].len(), "X-Docker-Size {size}, layer {}", pushed.layers[1].len());
    ensure!(
        json.header("x-docker-checksum").is_some_and(|c| c == pushed.checksums[1]),
        "X-Docker-Checksum {:?}",
        json.header("x-docker-checksum")
    );
    let layer = http(&s.registry, "GET", &format!("/v1/images/{child}/layer"), std::slice::from_ref(&cookie), b"")
        .await?
        .expect(200, "GET layer")?;
    ensure!(layer.body == pushed.layers[1], "the layer came back different");
    let ancestry =
        http(&s.registry, "GET", &format!("/v1/images/{child}/ancestry"), std::slice::from_ref(&cookie), b"")
            .await?
            .expect(200, "ancestry")?;
    ensure!(ancestry.json()? == json!([child, parent]), "ancestry {}", ancestry.text());
    let tag = http(
        &s.registry,
        "GET",
        &format!("/v1/repositories/{}/tags/latest", pushed.repo),
        std::slice::from_ref(&cookie),
        b"",
    )
    .await?
    .expect(200, "GET tag")?;
    ensure!(tag.json()? == json!(child), "tag {}", tag.text());
    let tags =
        http(&s.registry, "GET", &format!("/v1/repositories/{}/tags", pushed.repo), std::slice::from_ref(&cookie), b"")
            .await?
            .expect(200, "tags")?;
    ensure!(tags.json()? == json!({"latest": child}), "tags {}", tags.text());
    http(
        &s.registry,
        "GET",
        &format!("/v1/repositories/{}/tags/nope", pushed.repo),
        std::slice::from_ref(&cookie),
        b"",
    )
    .await?
    .expect(404, "an unknown tag")?;
    // The push token is spent: a new session presenting it again is refused.
    let repo = format!("{}/{}", s.user.0, fresh("spent"));
    let id = fresh_id();
    let next = fresh_id();
    let write = allocate(&s, &s.user, &repo, &json!([{"id": id}, {"id": next}]))
        .await?
        .expect(200, "allocate")?
        .token()
        .context("no token")?;
    let body = json!({"id": id, "created": "2014-02-03T00:00:00Z"}).to_string();
    let first = http(&s.registry, "PUT", &format!("/v1/images/{id}/json"), &[token_header(&write)], body.as_bytes())
        .await?
        .expect(200, "first upload")?;
    let session = ("cookie", first.cookie().context("no cookie")?);
    let other = fresh_id();
    let other_json = json!({"id": other, "created": "2014-02-03T00:00:00Z"}).to_string();
    http(&s.registry, "PUT", &format!("/v1/images/{other}/json"), &[token_header(&write)], other_json.as_bytes())
        .await?
        .expect(401, "a second session with a spent token")?;
    // Going on inside the session needs the cookie alone, no new token.
    let layer = layer_tar("retry", b"retry");
    http(&s.registry, "PUT", &format!("/v1/images/{id}/layer"), std::slice::from_ref(&session), &layer)
        .await?
        .expect(200, "layer")?;
    let next_json = json!({"id": next, "created": "2014-02-03T00:00:00Z"}).to_string();
    http(&s.registry, "PUT", &format!("/v1/images/{next}/json"), std::slice::from_ref(&session), next_json.as_bytes())
        .await?
        .expect(200, "another upload in the same session")?;
    // A tag naming an unknown image, and a malformed tag body, are refused.
    let tag_path = format!("/v1/repositories/{repo}/tags/x");
    http(&s.registry, "PUT", &tag_path, std::slice::from_ref(&session), b"not json")
        .await?
        .expect(400, "a malformed tag body")?;
    let unknown = serde_json::to_vec(&fresh_id())?;
    let answer = http(&s.registry, "PUT", &tag_path, &[session], &unknown).await?;
    ensure!(answer.status == 404 || answer.status == 400, "a tag of an unknown image got {}", answer.status);
    Ok(Outcome::Passed)
}

async fn pull_flow(_: Arc<Engine>) -> anyhow::Result<Outcome> {
    let s = servers_or_skip!();
    let pushed = push_two(&s).await?;
    let images = format!("/v1/repositories/{}/images", pushed.repo);
    let listed = http(&s.index, "GET", &images, &[(WANT_TOKEN.0, "true".into())], b"")
        .await?
        .expect(200, "anonymous pull start")?;
    let token = listed.token().context("no token")?;
    let endpoint = listed
        .header("x-docker-endpoints")
        .and_then(|e| e.split(',').next())
        .context("no endpoints")?
        .trim()
        .to_string();
    let endpoint = format!("http://{}", endpoint.trim_start_matches("http://"));
    let tags = http(&endpoint, "GET", &format!("/v1/repositories/{}/tags", pushed.repo), &[token_header(&token)], b"")
        .await?
        .expect(200, "tags with the token")?;
    let cookie = ("cookie", tags.cookie().context("no session cookie")?);
    http(&endpoint, "GET", &format!("/v1/repositories/{}/tags", pushed.repo), &[token_header(&token)], b"")
        .await?
        .expect(401, "the token presented again in a new session")?;
    let ancestry =
        http(&endpoint, "GET", &format!("/v1/images/{}/ancestry", pushed.ids[1]), std::slice::from_ref(&cookie), b"")
            .await?
            .json()?;
    for id in ancestry.as_array().context("ancestry")?.iter().filter_map(Value::as_str) {
        http(&endpoint, "GET", &format!("/v1/images/{id}/json"), std::slice::from_ref(&cookie), b"")
            .await?
            .expect(200, "json of an ancestor")?;
        http(&endpoint, "GET", &format!("/v1/images/{id}/layer"), std::slice::from_ref(&cookie), b"")
            .await?
            .expect(200, "layer of an ancestor")?;
    }
    let wrong = (s.user.0.clone(), "bad-password".into());
    http(&s.index, "GET", &images, &[basic(&wrong)], b"").await?.expect(401, "a public pull with a wrong password")?;
    http(&s.index, "GET", &images, &[basic(&s.user)], b"").await?.expect(200, "a public pull with good credentials")?;
    Ok(Outcome::Passed)
}

async fn delete_flow(_: Arc<Engine>) -> anyhow::Result<Outcome> {
    let s = servers_or_skip!();
    let pushed = push_two(&s).await?;
    let path = format!("/v1/repositories/{}/", pushed.repo);
    let tag_path = format!("/v1/repositories/{}/tags/latest", pushed.repo);
    // A tag delete, in a write session.
    let write =
        allocate(&s, &s.user, &pushed.repo, &json!([])).await?.expect(200, "allocate")?.token().context("no token")?;
    http(&s.registry, "DELETE", &tag_path, &[], b"").await?.expect(401, "a tag delete without credentials")?;
    let deleted =
        http(&s.registry, "DELETE", &tag_path, &[token_header(&write)], b"").await?.expect(200, "a tag delete")?;
    ensure!(deleted.json()? == json!(""), "a tag delete answered {}", deleted.text());
    let session = ("cookie", deleted.cookie().context("no cookie")?);
    http(&s.registry, "GET", &tag_path, std::slice::from_ref(&session), b"").await?.expect(404, "the deleted tag")?;
    http(&s.registry, "PUT", &tag_path, std::slice::from_ref(&session), &serde_json::to_vec(&pushed.ids[1])?)
        .await?
        .expect(200, "the tag put back")?;
    // The repository delete: index, registry, index again (5.4.1 §2.3).
    http(&s.index, "DELETE", &path, &[(WANT_TOKEN.0, "true".into())], b"")
        .await?
        .expect(401, "DELETE without credentials")?;
    let other = http(&s.index, "DELETE", &path, &[basic(&s.user2), (WANT_TOKEN.0, "true".into())], b"").await?;
    ensure!(other.status == 403, "DELETE by another user got {}", other.status);
    let asked = http(&s.index, "DELETE", &path, &[basic(&s.user), (WANT_TOKEN.0, "true".into())], b"").await?;
    ensure!(asked.status == 202 || asked.status == 200, "DELETE at the index got {}", asked.status);
    let token = asked.token().context("no delete token")?;
    ensure!(token.contains("access=delete"), "token {token}");
    let endpoints = asked.header("x-docker-endpoints").context("no endpoints")?.to_string();
    let write = allocate(&s, &s.user, &format!("{}/{}", s.user.0, fresh("w")), &json!([]))
        .await?
        .token()
        .context("no token")?;
    let refused = http(&s.registry, "DELETE", &path, &[token_header(&write)], b"").await?;
    ensure!(
        refused.status == 403 || refused.status == 401,
        "a repository delete with another repository's write token got {}",
        refused.status
    );
    let removed =
        http(&s.registry, "DELETE", &path, &[token_header(&token)], b"").await?.expect(200, "the repository delete")?;
    let _ = removed;
    http(&s.registry, "GET", &format!("/v1/repositories/{}/tags", pushed.repo), &[session], b"")
        .await?
        .expect(404, "tags after the delete")?;
    let again = http(&s.registry, "DELETE", &path, &[token_header(&token)], b"").await?;
    ensure!(again.status == 401 || again.status == 403, "the delete token presented again got {}", again.status);
    let finished = http(&s.index, "DELETE", &path, &[basic(&s.user), ("x-docker-endpoints", endpoints)], b"").await?;
    ensure!(matches!(finished.status, 200 | 202 | 204), "the final DELETE at the index got {}", finished.status);
    Ok(Outcome::Passed)
}

async fn token_only(_: Arc<Engine>) -> anyhow::Result<Outcome> {
    let s = servers_or_skip!();
    let pushed = push_two(&s).await?;
    let tags = format!("/v1/repositories/{}/tags", pushed.repo);
    http(&s.registry, "GET", &tags, &[], b"").await?.expect(401, "tags with no credentials")?;
    http(&s.registry, "GET", &tags, &[basic(&s.user)], b"").await?.expect(401, "tags with Basic credentials")?;
    let other = format!("{}/{}", s.user.0, fresh("scope"));
    let write =
        allocate(&s, &s.user, &other, &json!([])).await?.expect(200, "allocate")?.token().context("no token")?;
    let answer = http(&s.registry, "GET", &tags, &[token_header(&write)], b"").await?;
    ensure!(
        answer.status == 401 || answer.status == 403,
        "a token for {other} used on {} got {}",
        pushed.repo,
        answer.status
    );
    let read = http(
        &s.index,
        "GET",
        &format!("/v1/repositories/{}/images", pushed.repo),
        &[(WANT_TOKEN.0, "true".into())],
        b"",
    )
    .await?
    .token()
    .context("no read token")?;
    let id = fresh_id();
    let body = json!({"id": id, "created": "2014-02-03T00:00:00Z"}).to_string();
    let answer =
        http(&s.registry, "PUT", &format!("/v1/images/{id}/json"), &[token_header(&read)], body.as_bytes()).await?;
    ensure!(answer.status == 401 || answer.status == 403, "an upload with a read token got {}", answer.status);
    Ok(Outcome::Passed)
}

async fn names(_: Arc<Engine>) -> anyhow::Result<Outcome> {
    let s = servers_or_skip!();
    for (repo, what) in [("abc/repo", "a 3-character namespace"), ("Upper/repo", "an upper-case namespace")] {
        let answer = http(&s.registry, "GET", &format!("/v1/repositories/{repo}/tags"), &[], b"").await?;
        ensure!(answer.status == 400 || answer.status == 404, "{what} got {}", answer.status);
        let index = allocate(&s, &s.user, repo, &json!([])).await?;
        ensure!(index.status >= 400, "{what} at the index got {}", index.status);
    }
    let bad = format!("{}/bad%20name", s.user.0);
    let answer = allocate(&s, &s.user, &bad, &json!([])).await?;
    ensure!(answer.status == 400 || answer.status == 404, "a repository name with a space got {}", answer.status);
    for id in ["abc", "../../etc/passwd", &"G".repeat(64)] {
        let answer = http(&s.registry, "GET", &format!("/v1/images/{id}/json"), &[], b"").await?;
        ensure!(
            answer.status == 400 || answer.status == 404 || answer.status == 401,
            "image id {id:?} got {}",
            answer.status
        );
    }
    Ok(Outcome::Passed)
}

async fn private_repository(_: Arc<Engine>) -> anyhow::Result<Outcome> {
    Ok(skip(
        SkipKind::Environment,
        "marking a repository private is an administrator's act at the index, which the suite cannot do through the API",
    ))
}

async fn checksum_mismatch(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let s = servers_or_skip!();
    engine_index_or_skip!(e, s);
    let repo = format!("{}/{}", s.user.0, fresh("bad"));
    let id = fresh_id();
    let allocated = allocate(&s, &s.user, &repo, &json!([{"id": id}])).await?.expect(200, "allocate")?;
    let token = allocated.token().context("no token")?;
    let json = json!({"id": id, "created": "2014-02-03T00:00:00Z"}).to_string();
    let put = http(&s.registry, "PUT", &format!("/v1/images/{id}/json"), &[token_header(&token)], json.as_bytes())
        .await?
        .expect(200, "json")?;
    let cookie = ("cookie", put.cookie().context("no cookie")?);
    put_layer(&s.registry, &cookie, &id, &json, &layer_tar("a", b"a")).await?;
    http(&s.registry, "PUT", &format!("/v1/repositories/{repo}/tags/latest"), &[cookie], &serde_json::to_vec(&id)?)
        .await?
        .expect(200, "tag")?;
    let wrong = json!([{"id": id, "checksum": format!("sha256:{}", "1".repeat(64))}]);
    let endpoints = allocated.header("x-docker-endpoints").unwrap_or_default().to_string();
    http(
        &s.index,
        "PUT",
        &format!("/v1/repositories/{repo}/images"),
        &[basic(&s.user), ("x-docker-endpoints", endpoints)],
        wrong.to_string().as_bytes(),
    )
    .await?
    .expect(204, "checksums at the index")?;
    let home = CliHome::new()?;
    let run = home.cli(&e, &["pull", &format!("{repo}:latest")]).await?;
    let _ = e.call(http::Method::DELETE, &format!("/images/{repo}:latest?force=1")).await;
    ensure!(run.status != Some(0), "a pull whose layer disagrees with the index's checksum succeeded: {}", both(&run));
    ensure!(both(&run).to_lowercase().contains("checksum"), "the error does not mention the checksum: {}", both(&run));
    Ok(Outcome::Passed)
}

async fn standalone(_: Arc<Engine>) -> anyhow::Result<Outcome> {
    let Some(private) = env("PRIVATE_REGISTRY_URL") else {
        return Ok(skip(SkipKind::Environment, "PRIVATE_REGISTRY_URL is not set: no standalone registry"));
    };
    let id = fresh_id();
    let repo = fresh("plain");
    let json = json!({"id": id, "created": "2014-02-03T00:00:00Z"}).to_string();
    http(&private, "PUT", &format!("/v1/images/{id}/json"), &[], json.as_bytes())
        .await?
        .expect(200, "json without a token")?;
    let layer = layer_tar("f", b"standalone");
    http(&private, "PUT", &format!("/v1/images/{id}/layer"), &[], &layer)
        .await?
        .expect(200, "layer without a token")?;
    http(&private, "PUT", &format!("/v1/repositories/{repo}/tags/latest"), &[], &serde_json::to_vec(&id)?)
        .await?
        .expect(200, "a tag without a namespace")?;
    let tags = http(&private, "GET", &format!("/v1/repositories/{repo}/tags"), &[], b"").await?.expect(200, "tags")?;
    ensure!(tags.json()? == json!({"latest": id}), "tags {}", tags.text());
    let back = http(&private, "GET", &format!("/v1/images/{id}/layer"), &[], b"").await?.expect(200, "layer")?;
    ensure!(back.body == layer, "the layer came back different");
    Ok(Outcome::Passed)
}

async fn ssl_probe(_: Arc<Engine>) -> anyhow::Result<Outcome> {
    Ok(skip(
        SkipKind::Divergence,
        "berth carries no TLS stack: it speaks plain http to registries on local addresses and never probes https",
    ))
}

async fn static_registry(_: Arc<Engine>) -> anyhow::Result<Outcome> {
    Ok(skip(SkipKind::Environment, "no static HTTP server serving a /v1 tree is provided to the suite"))
}

// ---------------------------------------------------------------------------------------------
// CLI
// ---------------------------------------------------------------------------------------------

/// A HOME and DOCKER_CONFIG of the case's own, so logins touch no real credentials.
struct CliHome {
    dir: PathBuf,
}

impl CliHome {
    fn new() -> anyhow::Result<CliHome> {
        let dir = std::env::temp_dir().join(fresh("spec-home-"));
        std::fs::create_dir_all(dir.join(".docker"))?;
        Ok(CliHome { dir })
    }

    async fn cli(&self, e: &Engine, args: &[&str]) -> anyhow::Result<CliRun> {
        let home = self.dir.to_string_lossy().into_owned();
        let config = self.dir.join(".docker").to_string_lossy().into_owned();
        e.cli_with(args, &[("DOCKER_HOST", &e.docker_host), ("HOME", &home), ("DOCKER_CONFIG", &config)]).await
    }

    async fn login(&self, e: &Engine, user: &(String, String), server: Option<&str>) -> anyhow::Result<CliRun> {
        let mut args = vec!["login", "-u", &user.0, "-p", &user.1];
        if let Some(server) = server {
            args.push(server);
        }
        self.cli(e, &args).await
    }

    fn config(&self) -> Value {
        std::fs::read(self.dir.join(".docker/config.json"))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    fn dockercfg(&self) -> Option<Value> {
        std::fs::read(self.dir.join(".dockercfg")).ok().and_then(|b| serde_json::from_slice(&b).ok())
    }
}

impl Drop for CliHome {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn cli_login(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let s = servers_or_skip!();
    engine_index_or_skip!(e, s);
    let home = CliHome::new()?;
    let ok = home.login(&e, &s.user, None).await?.success()?;
    ensure!(ok.stdout.contains("Login Succeeded"), "login said {}", both(&ok));
    let wrong = (s.user.0.clone(), "wrong-password".into());
    let other = CliHome::new()?;
    let bad = other.login(&e, &wrong, None).await?;
    ensure!(bad.status != Some(0), "a login with a wrong password succeeded");
    ensure!(other.config()["auths"].as_object().is_none_or(|a| a.is_empty()), "a failed login saved credentials");
    let registry = s.registry.trim_start_matches("http://").to_string();
    let named = home.login(&e, &s.user, Some(&registry)).await?.success()?;
    ensure!(named.stdout.contains("Login Succeeded"), "login to {registry} said {}", both(&named));
    let auths = home.config()["auths"].clone();
    ensure!(
        auths.as_object().is_some_and(|a| a.keys().any(|k| k.contains(&registry))),
        "no entry for {registry}: {auths}"
    );
    Ok(Outcome::Passed)
}

async fn cli_register(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let _ = servers_or_skip!();
    let home = CliHome::new()?;
    let name = fresh("reg");
    let run = home.cli(&e, &["login", "-u", &name, "-p", "secret1", "-e", &format!("{name}@example.com")]).await?;
    if run.status != Some(0) && !both(&run).to_lowercase().contains("activ") {
        return Ok(skip(
            SkipKind::Legacy,
            format!("the CLI does not register new accounts at login (today's behaviour): {}", both(&run).trim()),
        ));
    }
    ensure!(
        both(&run).to_lowercase().contains("activ") || both(&run).to_lowercase().contains("confirm"),
        "{}",
        both(&run)
    );
    Ok(Outcome::Passed)
}

async fn cli_login_interactive(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let s = servers_or_skip!();
    engine_index_or_skip!(e, s);
    let home = CliHome::new()?;
    let input = home.dir.join("answers");
    std::fs::write(&input, format!("{}\n{}\n{}@example.com\n", s.user.0, s.user.1, s.user.0))?;
    let home_dir = home.dir.to_string_lossy().into_owned();
    let output = tokio::process::Command::new(&e.cli)
        .arg("login")
        .env("DOCKER_HOST", &e.docker_host)
        .env("HOME", &home_dir)
        .env("DOCKER_CONFIG", format!("{home_dir}/.docker"))
        .stdin(std::fs::File::open(&input)?)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(60), output).await.context("login did not end")??;
    let run = CliRun {
        status: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    };
    let out = both(&run);
    if !out.contains("Email") {
        return Ok(skip(SkipKind::Legacy, "today's CLI prompts for username and password only, not for an email"));
    }
    ensure!(out.contains("Username") && out.contains("Password"), "prompts: {out}");
    ensure!(run.status == Some(0), "interactive login failed: {out}");
    Ok(Outcome::Passed)
}

async fn cli_dockercfg(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let s = servers_or_skip!();
    engine_index_or_skip!(e, s);
    let home = CliHome::new()?;
    home.login(&e, &s.user, None).await?.success()?;
    let registry = s.registry.trim_start_matches("http://").to_string();
    home.login(&e, &s.user2, Some(&registry)).await?.success()?;
    let Some(cfg) = home.dockercfg() else {
        let auths = home.config()["auths"].clone();
        ensure!(auths.as_object().is_some_and(|a| a.len() >= 2), "config.json auths: {auths}");
        return Ok(skip(
            SkipKind::Legacy,
            "the CLI keeps credentials in ~/.docker/config.json (today's file), not ~/.dockercfg",
        ));
    };
    let entries = cfg.as_object().context(".dockercfg is not an object")?;
    ensure!(entries.len() >= 2, ".dockercfg {cfg}");
    let default = entries
        .iter()
        .find(|(k, _)| k.contains(s.index.trim_start_matches("http://")))
        .context("no default index key")?;
    let auth = default.1["auth"].as_str().unwrap_or_default();
    ensure!(auth == base64(format!("{}:{}", s.user.0, s.user.1).as_bytes()), "auth {auth}");
    ensure!(default.1.get("email").is_some(), "no email in {}", default.1);
    Ok(Outcome::Passed)
}

/// An image of the case's own: busybox plus one committed file.
async fn own_image(e: &Engine, name: &str) -> anyhow::Result<()> {
    let container = e.unique("src");
    run_out(e, &["--name", &container, IMAGE, "sh", "-c", &format!("echo {name} > /made")]).await?;
    let committed = e.cli(&["commit", &container, name]).await?;
    super::containers::remove(e, &container).await;
    committed.success()?;
    Ok(())
}

async fn cli_push_pull(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let s = servers_or_skip!();
    engine_index_or_skip!(e, s);
    let home = CliHome::new()?;
    home.login(&e, &s.user, None).await?.success()?;
    let repo = format!("{}/{}", s.user.0, fresh("app"));
    let (v1, v2) = (format!("{repo}:v1"), format!("{repo}:v2"));
    cleaning_images(&e, &[], &[&v1, &v2], async {
        own_image(&e, &v1).await?;
        e.cli(&["tag", &v1, &v2]).await?.success()?;
        let original = e.image_id(&v1).await?;
        let pushed = home.cli(&e, &["push", &v1]).await?.success()?;
        let again = home.cli(&e, &["push", &v1]).await?.success()?;
        let skipped = again.stdout.to_lowercase();
        ensure!(skipped.contains("already"), "a second push re-sent layers: {}", again.stdout);
        home.cli(&e, &["push", &v2]).await?.success()?;
        let _ = pushed;
        e.cli(&["rmi", &v1, &v2]).await?.success()?;
        let pulled = home.cli(&e, &["pull", &v1]).await?.success()?;
        let out = pulled.stdout.clone();
        ensure!(e.image_id(&v1).await? == original, "the pulled image id differs from the pushed one");
        ensure!(e.image_id(&v2).await.is_err(), "pulling one tag brought another");
        let short = out
            .lines()
            .any(|l| l.split(':').next().is_some_and(|id| id.len() == 12 && id.bytes().all(|b| b.is_ascii_hexdigit())));
        ensure!(short, "no 12-character layer id in the pull output: {out}");
        let second = home.cli(&e, &["pull", &v2]).await?.success()?.stdout;
        ensure!(
            !second.contains("Pulling fs layer") || second.contains("Already exists") || second.contains("already"),
            "layers fetched again: {second}"
        );
        ensure!(e.image_id(&v2).await? == original, "v2 differs");
        Ok(Outcome::Passed)
    })
    .await
}

async fn cli_pull_output(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let s = servers_or_skip!();
    engine_index_or_skip!(e, s);
    let pushed = push_two(&s).await?;
    let home = CliHome::new()?;
    let name = format!("{}:latest", pushed.repo);
    let run = home.cli(&e, &["pull", &name]).await?;
    let _ = e.call(http::Method::DELETE, &format!("/images/{name}?force=1")).await;
    let run = run.success()?;
    if !run.stdout.contains("Pulling repository") {
        return Ok(skip(
            SkipKind::Legacy,
            format!(
                "the engine pulled over today's protocol and printed no 2014 'Pulling repository' line: {}",
                run.stdout.lines().next().unwrap_or_default()
            ),
        ));
    }
    ensure!(run.stdout.contains(&format!("Pulling repository {}", pushed.repo)), "{}", run.stdout);
    for id in &pushed.ids {
        ensure!(
            run.stdout.contains(&format!("{}: Download complete", &id[..12])),
            "no 'Download complete' for {}: {}",
            &id[..12],
            run.stdout
        );
    }
    Ok(Outcome::Passed)
}

async fn cli_pull_all_tags(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let s = servers_or_skip!();
    engine_index_or_skip!(e, s);
    let home = CliHome::new()?;
    home.login(&e, &s.user, None).await?.success()?;
    let repo = format!("{}/{}", s.user.0, fresh("all"));
    let (a, b) = (format!("{repo}:a"), format!("{repo}:b"));
    cleaning_images(&e, &[], &[&a, &b], async {
        own_image(&e, &a).await?;
        e.cli(&["tag", &a, &b]).await?.success()?;
        home.cli(&e, &["push", &a]).await?.success()?;
        home.cli(&e, &["push", &b]).await?.success()?;
        e.cli(&["rmi", &a, &b]).await?.success()?;
        let pulled = home.cli(&e, &["pull", &repo]).await?;
        if pulled.stdout.contains("Using default tag") {
            return Ok(skip(SkipKind::Legacy, "pull with no tag fetches only latest today (all tags need -a)"));
        }
        let pulled = pulled.success()?;
        if e.image_id(&b).await.is_err() {
            ensure!(pulled.stdout.contains("latest") || !pulled.stdout.is_empty(), "{}", pulled.stdout);
            return Ok(skip(SkipKind::Legacy, "pull with no tag fetches only latest today (all tags need -a)"));
        }
        ensure!(e.image_id(&a).await.is_ok(), "tag a was not pulled");
        Ok(Outcome::Passed)
    })
    .await
}

async fn cli_pull_not_found(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let s = servers_or_skip!();
    engine_index_or_skip!(e, s);
    let home = CliHome::new()?;
    let run = home.cli(&e, &["pull", &format!("{}/{}", s.user.0, fresh("missing"))]).await?;
    ensure!(run.status != Some(0), "pulling an unknown repository succeeded");
    ensure!(!both(&run).trim().is_empty(), "no error message");
    Ok(Outcome::Passed)
}

async fn cli_push_refusals(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let s = servers_or_skip!();
    engine_index_or_skip!(e, s);
    let anonymous = CliHome::new()?;
    let repo = format!("{}/{}", s.user.0, fresh("nolog"));
    let root = fresh("rootrepo");
    cleaning_images(&e, &[], &[&repo, &root], async {
        e.cli(&["tag", IMAGE, &repo]).await?.success()?;
        let run = anonymous.cli(&e, &["push", &repo]).await?;
        ensure!(run.status != Some(0), "a push without credentials succeeded");
        let text = both(&run).to_lowercase();
        ensure!(text.contains("auth") || text.contains("login") || text.contains("denied"), "{text}");
        let home = CliHome::new()?;
        home.login(&e, &s.user, None).await?.success()?;
        e.cli(&["tag", IMAGE, &root]).await?.success()?;
        let run = home.cli(&e, &["push", &root]).await?;
        ensure!(run.status != Some(0), "a push of a top-level name succeeded");
        let text = both(&run);
        ensure!(
            text.contains("<user>/<repo>") || text.to_lowercase().contains("denied") || text.contains("root"),
            "{text}"
        );
        let run = home.cli(&e, &["push", &format!("{}/{}", s.user.0, fresh("ghost"))]).await?;
        ensure!(run.status != Some(0), "pushing a name no image carries succeeded");
        Ok(Outcome::Passed)
    })
    .await
}

async fn cli_search(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let s = servers_or_skip!();
    engine_index_or_skip!(e, s);
    let pushed = push_two(&s).await?;
    let home = CliHome::new()?;
    let term = pushed.repo.split('/').nth(1).unwrap_or_default().to_string();
    let out = home.cli(&e, &["search", &term]).await?.success()?.stdout;
    let header = out.lines().next().unwrap_or_default();
    ensure!(header.contains("NAME") && header.contains("DESCRIPTION"), "header {header:?}");
    ensure!(out.lines().any(|l| l.starts_with(&pushed.repo)), "{out}");
    let by_owner = home.cli(&e, &["search", &s.user.0]).await?.success()?.stdout;
    ensure!(by_owner.lines().any(|l| l.starts_with(&pushed.repo)), "searching by the owner's name: {by_owner}");
    let none = home.cli(&e, &["search", "--filter", "stars=1000000", &term]).await?.success()?.stdout;
    ensure!(none.lines().count() == 1, "-s 1000000 kept rows: {none}");
    let wide = home.cli(&e, &["search", "--no-trunc", &term]).await?.success()?.stdout;
    ensure!(wide.lines().any(|l| l.starts_with(&pushed.repo)), "{wide}");
    let automated = home.cli(&e, &["search", "--filter", "is-automated=true", &term]).await?.success()?.stdout;
    ensure!(automated.lines().count() == 1, "a hand-pushed repository counted as automated: {automated}");
    Ok(Outcome::Passed)
}

async fn cli_search_notrunc(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let s = servers_or_skip!();
    engine_index_or_skip!(e, s);
    let pushed = push_two(&s).await?;
    let home = CliHome::new()?;
    let term = pushed.repo.split('/').nth(1).unwrap_or_default().to_string();
    let legacy = home.cli(&e, &["search", "-notrunc", &term]).await?;
    if legacy.status != Some(0) {
        return Ok(skip(SkipKind::Legacy, "the CLI no longer accepts the single-dash -notrunc spelling"));
    }
    let wide = home.cli(&e, &["search", "--no-trunc", &term]).await?.success()?.stdout;
    ensure!(legacy.stdout == wide, "-notrunc and --no-trunc differ");
    Ok(Outcome::Passed)
}

async fn cli_private(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let s = servers_or_skip!();
    let Some(private) = env("PRIVATE_REGISTRY_URL") else {
        return Ok(skip(SkipKind::Environment, "PRIVATE_REGISTRY_URL is not set: no standalone registry"));
    };
    let host = private.trim_start_matches("http://").trim_end_matches('/').to_string();
    let name = format!("{host}/{}", fresh("priv"));
    let tagged = format!("{name}:latest");
    cleaning_images(&e, &[], &[&tagged], async {
        own_image(&e, &tagged).await?;
        let id = e.image_id(&tagged).await?;
        let images = e.cli(&["images"]).await?.success()?.stdout;
        ensure!(images.lines().any(|l| l.starts_with(&name)), "images does not list {name}: {images}");
        let home = CliHome::new()?;
        home.cli(&e, &["push", &tagged]).await?.success()?;
        e.cli(&["rmi", &tagged]).await?.success()?;
        home.cli(&e, &["pull", &tagged]).await?.success()?;
        ensure!(e.image_id(&tagged).await? == id, "the image pulled back differs");
        let term = name.rsplit('/').next().unwrap_or_default();
        let found = http(&s.index, "GET", &format!("/v1/search?q={term}"), &[], b"").await?.json()?;
        ensure!(found["num_results"] == 0, "the index lists a privately pushed repository: {found}");
        Ok(Outcome::Passed)
    })
    .await
}

/// Serves one file over HTTP on loopback until dropped.
pub(super) struct FileServer {
    pub(super) url: String,
    task: tokio::task::JoinHandle<()>,
}

impl FileServer {
    pub(super) async fn start(content: &'static [u8]) -> anyhow::Result<FileServer> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}/file.txt", listener.local_addr()?);
        let task = tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let mut buf = [0u8; 4096];
                let _ = stream.read(&mut buf).await;
                let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", content.len());
                let _ = stream.write_all(head.as_bytes()).await;
                let _ = stream.write_all(content).await;
            }
        });
        Ok(FileServer { url, task })
    }
}

impl Drop for FileServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn cli_insert(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let help = e.cli(&["insert", "--help"]).await?;
    if help.status != Some(0) || !both(&help).contains("URL") {
        return Ok(skip(SkipKind::Legacy, "the CLI has no insert command (removed in Docker 0.10)"));
    }
    let server = FileServer::start(b"inserted content\n").await?;
    let base = e.image_id(IMAGE).await?;
    let run = e.cli(&["insert", IMAGE, &server.url, "/tmp/p"]).await?.success()?;
    let id = run.stdout.trim().to_string();
    ensure!(id.len() >= 12 && id.bytes().all(|b| b.is_ascii_hexdigit()), "insert printed {id:?}");
    let result = async {
        let content = run_out(&e, &["--rm", &id, "cat", "/tmp/p"]).await?;
        ensure!(content == "inserted content\n", "the file holds {content:?}");
        let inspect = e.api.get_json::<Value>(&format!("/images/{id}/json")).await?;
        let parent = inspect["Parent"].as_str().unwrap_or_default().trim_start_matches("sha256:").to_string();
        ensure!(parent == base.trim_start_matches("sha256:"), "parent {parent}, base {base}");
        ensure!(e.image_id(IMAGE).await? == base, "the base image changed");
        let listing = run_out(&e, &["--rm", &id, "ls", "/bin"]).await?;
        let original = run_out(&e, &["--rm", IMAGE, "ls", "/bin"]).await?;
        ensure!(listing == original, "other files differ");
        Ok(Outcome::Passed)
    }
    .await;
    let _ = e.call(http::Method::DELETE, &format!("/images/{id}?force=1")).await;
    result
}
