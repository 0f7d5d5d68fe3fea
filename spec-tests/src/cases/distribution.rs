//! Distribution through the engine (5.4.4's registry endpoints, `run`'s pull, and the seeds'
//! image names and tags): pull, push, `/auth`, `X-Registry-Auth`, `X-Registry-Config`, search
//! and insert. Cases push to the standalone registry at PRIVATE_REGISTRY_URL as
//! `127.0.0.1:PORT/name`, which any engine reaches without an index; a registry that wants
//! credentials is a [`Gate`] the case runs in front of it. Only the cases about the default
//! index need the engine's index to be INDEX_URL, and skip when it is not.

use super::build::tar_of;
use super::containers::{both, cleaning_images, remove, run_out, text, IMAGE};
use super::registry::{engine_index_elsewhere, fresh, parse_answer, Answer, FileServer};
use super::Case;
use crate::case;
use crate::engine::Engine;
use crate::outcome::{skip, Outcome, SkipKind};
use anyhow::{bail, ensure, Context};
use berth_api::{ApiVersion, Host};
use http::Method;
use serde_json::{json, Value};
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

#[rustfmt::skip]
pub static CASES: &[Case] = &[
    case!("distribution auth check", ["api.auth", "api.v1-2.auth-post-check-only", "api.v1-2.auth-get-deprecated"], auth_check),
    case!("distribution credentials stay with the client", ["api.auth.client-side"], auth_client_side),
    case!("distribution pull with X-Registry-Auth", ["api.v1-5.x-registry-auth-pull"], auth_pull),
    case!("distribution push with X-Registry-Auth", ["api.v1-5.x-registry-auth-push"], auth_push),
    case!("distribution api push", ["api.images.push"], api_push),
    case!("distribution api pull", ["api.images.create-pull"], api_pull),
    case!("distribution parallel layer downloads", ["api.v1-4.pull-parallel"], pull_parallel),
    case!("distribution build with X-Registry-Config", ["api.v1-9.build-configfile"], build_config),
    case!("distribution api search", ["api.images.search"], api_search),
    case!("distribution api insert", ["api.images.insert"], api_insert),
    case!("distribution run pulls a missing image", ["cli.run.auto-pull"], run_auto_pull),
    case!("distribution tag aliases", ["seed.kratos.tags-aliases"], tag_aliases),
    case!("distribution tags with dots and hyphens", ["seed.kratos.tag-charset"], tag_charset),
    case!("distribution semver tags", ["seed.directus.semver-tags"], semver_tags),
    case!("distribution library and user names", ["seed.directus.official-shortnames"], official_names),
    case!("distribution repository without latest", ["seed.pocketid.no-latest"], no_latest),
    case!("distribution moving tags", ["seed.pocketid.moving-tags"], moving_tags),
    case!("distribution registry host in the name", ["seed.pocketid.registry-prefixes"], registry_hosts),
    case!("distribution plain name at the default index", ["seed.pocketid.registry-prefixes"], default_index_name),
];

/// How long one request to the engine or a server may take (a pull or a build included).
const TIMEOUT: Duration = Duration::from_secs(180);

// ---------------------------------------------------------------------------------------------
// Servers and accounts from the environment, names, credentials.
// ---------------------------------------------------------------------------------------------

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// `host:port` of the server whose URL `var` holds, or why the case cannot run.
fn server(var: &str) -> Result<String, Outcome> {
    let url = env(var).ok_or_else(|| skip(SkipKind::Environment, format!("{var} is not set: no server to test")))?;
    Ok(url.trim_start_matches("http://").trim_end_matches('/').to_string())
}

/// The account whose name and password `user` and `password` hold, or why the case cannot run.
fn account(user: &str, password: &str) -> Result<Account, Outcome> {
    let missing = |var: &str| skip(SkipKind::Environment, format!("{var} is not set: no account to test with"));
    Ok(Account {
        user: env(user).ok_or_else(|| missing(user))?,
        password: env(password).ok_or_else(|| missing(password))?,
    })
}

macro_rules! or_skip {
    ($found:expr) => {
        match $found {
            Ok(value) => value,
            Err(outcome) => return Ok(outcome),
        }
    };
}

/// Skips a case about the engine's default index unless that index, as /info reports it, is
/// INDEX_URL (`index` is its `host:port`): elsewhere it is Docker Hub, which this machine has
/// no route to.
async fn default_index_is(e: &Engine, index: &str) -> anyhow::Result<Result<(), Outcome>> {
    Ok(engine_index_elsewhere(e, &format!("http://{index}")).await?.map_or(Ok(()), Err))
}

#[derive(Debug, Clone)]
struct Account {
    user: String,
    password: String,
}

impl Account {
    /// The AuthConfig a client sends for `server` (`host:port`; `None` for the default index).
    fn auth(&self, server: Option<&str>) -> Value {
        let mut auth =
            json!({"username": self.user, "password": self.password, "email": format!("{}@example.com", self.user)});
        if let Some(server) = server {
            auth["serveraddress"] = json!(server);
        }
        auth
    }

    fn wrong(&self) -> Account {
        Account { user: self.user.clone(), password: format!("{}-wrong", self.password) }
    }

    /// `Authorization: Basic ...`, as registries and the index read it.
    fn basic(&self) -> (&'static str, String) {
        ("Authorization", format!("Basic {}", base64(format!("{}:{}", self.user, self.password).as_bytes(), STANDARD)))
    }
}

/// The AuthConfig of a client that has no credentials.
fn anonymous() -> Value {
    json!({})
}

pub(super) const STANDARD: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const URL_SAFE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Base64 of `bytes` with the given alphabet, padded.
pub(super) fn base64(bytes: &[u8], table: &[u8; 64]) -> String {
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(table[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// An X-Registry-Auth or X-Registry-Config value: the JSON in URL-safe base64, as Docker
/// clients send it.
fn header_of(value: &Value) -> String {
    base64(value.to_string().as_bytes(), URL_SAFE)
}

// ---------------------------------------------------------------------------------------------
// HTTP: the engine's API with headers of the case's choosing, and the servers themselves.
// ---------------------------------------------------------------------------------------------

impl Answer {
    /// The JSON documents of the body in order: one, or a stream of progress messages.
    fn objects(&self) -> Vec<Value> {
        serde_json::Deserializer::from_slice(&self.body).into_iter::<Value>().map_while(Result::ok).collect()
    }

    /// Why the request failed: an error status, or an `error` message in the stream.
    fn failure(&self) -> Option<String> {
        if !(200..300).contains(&self.status) {
            return Some(format!("{} {}", self.status, self.text().trim()));
        }
        self.objects().iter().find_map(|o| o["error"].as_str().filter(|m| !m.is_empty()).map(String::from))
    }

    /// Fails unless the request succeeded, its stream included.
    fn success(self, what: &str) -> anyhow::Result<Answer> {
        if let Some(why) = self.failure() {
            bail!("{what} failed: {why}");
        }
        Ok(self)
    }
}

fn request(method: &str, path: &str, host: &str, headers: &[(&str, String)], body: &[u8]) -> Vec<u8> {
    let mut head =
        format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

/// `method path` on the engine's API with `headers`, on a connection of its own.
async fn api(e: &Engine, method: &str, path: &str, headers: &[(&str, String)], body: &[u8]) -> anyhow::Result<Answer> {
    let request = request(method, path, "localhost", headers, body);
    let answer = async {
        match Host::parse(&e.docker_host, Path::new(&e.profile.default_socket))? {
            Host::Unix(socket) => exchange(tokio::net::UnixStream::connect(socket).await?, &request).await,
            Host::Tcp { host, port } => exchange(TcpStream::connect((host.as_str(), port)).await?, &request).await,
            Host::Fd(_) => bail!("cannot reach an fd:// DOCKER_HOST"),
        }
    };
    tokio::time::timeout(TIMEOUT, answer).await.with_context(|| format!("{method} {path}: no answer in {TIMEOUT:?}"))?
}

/// `method path` on the engine's API with a JSON body.
async fn api_json(e: &Engine, method: &str, path: &str, body: &Value) -> anyhow::Result<Answer> {
    api(e, method, path, &[("Content-Type", "application/json".into())], body.to_string().as_bytes()).await
}

/// `method path` on the server at `host` (`host:port`).
async fn http(host: &str, method: &str, path: &str, headers: &[(&str, String)], body: &[u8]) -> anyhow::Result<Answer> {
    let request = request(method, path, host, headers, body);
    let answer =
        async { exchange(TcpStream::connect(host).await.with_context(|| format!("connect {host}"))?, &request).await };
    tokio::time::timeout(TIMEOUT, answer).await.with_context(|| format!("{method} {path}: no answer in {TIMEOUT:?}"))?
}

async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S, request: &[u8]) -> anyhow::Result<Answer> {
    stream.write_all(request).await?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await?;
    parse_answer(&raw, false)
}

/// The tags the v2 registry at `host` lists for `path` (none when it has no such repository).
async fn registry_tags(host: &str, path: &str) -> anyhow::Result<Vec<String>> {
    let answer = http(host, "GET", &format!("/v2/{path}/tags/list"), &[], b"").await?;
    if answer.status == 404 {
        return Ok(vec![]);
    }
    ensure!(answer.status == 200, "the tags of {path} at {host}: {} {}", answer.status, answer.text());
    let tags = answer.json()?["tags"].as_array().cloned().unwrap_or_default();
    Ok(tags.iter().filter_map(|t| t.as_str().map(String::from)).collect())
}

// ---------------------------------------------------------------------------------------------
// The engine's images: made, pushed, pulled and forgotten.
// ---------------------------------------------------------------------------------------------

/// `POST /images/create?fromImage=REPO&tag=TAG`, with `auth` as X-Registry-Auth when given.
async fn pull(e: &Engine, repo: &str, tag: &str, auth: Option<&Value>) -> anyhow::Result<Answer> {
    let headers: Vec<(&str, String)> = auth.map(|a| ("X-Registry-Auth", header_of(a))).into_iter().collect();
    api(e, "POST", &format!("/images/create?fromImage={repo}&tag={tag}"), &headers, b"").await
}

/// `POST /images/REPO/push?tag=TAG`, with `auth` as X-Registry-Auth when given.
async fn push(e: &Engine, repo: &str, tag: &str, auth: Option<&Value>) -> anyhow::Result<Answer> {
    let headers: Vec<(&str, String)> = auth.map(|a| ("X-Registry-Auth", header_of(a))).into_iter().collect();
    api(e, "POST", &format!("/images/{repo}/push?tag={tag}"), &headers, b"").await
}

/// A new image named `name`: `base` after `script` ran in it; its id.
async fn commit_on(e: &Engine, base: &str, name: &str, script: &str) -> anyhow::Result<String> {
    let container = e.unique("src");
    let ran = run_out(e, &["--name", &container, base, "sh", "-c", script]).await;
    let committed = match ran {
        Ok(_) => e.cli(&["commit", &container, name]).await,
        Err(error) => Err(error),
    };
    remove(e, &container).await;
    committed?.success()?;
    e.image_id(name).await
}

/// An image of the case's own named `name`: busybox with /made holding `content` (a word).
async fn own_image(e: &Engine, name: &str, content: &str) -> anyhow::Result<String> {
    commit_on(e, IMAGE, name, &format!("echo {content} > /made")).await
}

async fn tag(e: &Engine, from: &str, to: &str) -> anyhow::Result<()> {
    e.cli(&["tag", from, to]).await?.success()?;
    Ok(())
}

/// Removes local names; an image goes with its last one.
async fn forget(e: &Engine, names: &[&str]) -> anyhow::Result<()> {
    for name in names {
        let reply = e.call(Method::DELETE, &format!("/images/{name}")).await?;
        ensure!(reply.status.is_success(), "cannot remove {name}: {}", text(&reply.body));
    }
    Ok(())
}

async fn present(e: &Engine, name: &str) -> anyhow::Result<bool> {
    Ok(e.get(&format!("/images/{name}/json")).await?.status.is_success())
}

/// `REPO:TAG` for each tag.
fn tagged(repo: &str, tags: &[&str]) -> Vec<String> {
    tags.iter().map(|t| format!("{repo}:{t}")).collect()
}

fn refs(names: &[String]) -> Vec<&str> {
    names.iter().map(String::as_str).collect()
}

// ---------------------------------------------------------------------------------------------
// Loopback servers of the case's own: a registry gate that wants credentials, a file server.
// ---------------------------------------------------------------------------------------------

/// A registry that wants credentials: a proxy on 127.0.0.1 in front of a registry that wants
/// none, answering 401 with a Basic challenge unless a request carries the gate's account.
/// Each connection carries one request, so none rides on another's credentials.
struct Gate {
    /// `127.0.0.1:PORT`, the registry host of names pushed through the gate.
    host: String,
    /// The registry behind the gate, reached directly to see what a push left.
    upstream: String,
    account: Account,
    authorized: Arc<AtomicU32>,
    task: tokio::task::JoinHandle<()>,
}

/// The refusal of a request without the gate's credentials, as a v2 registry words it.
fn challenge() -> String {
    let body = r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required","detail":null}]}"#;
    format!(
        "HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\n\
         Docker-Distribution-Api-Version: registry/2.0\r\nWWW-Authenticate: Basic realm=\"spec-gate\"\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

impl Gate {
    /// A gate in front of the standalone registry, or why the case cannot run.
    async fn open() -> anyhow::Result<Result<Gate, Outcome>> {
        match server("PRIVATE_REGISTRY_URL") {
            Ok(upstream) => Ok(Ok(Gate::start(upstream).await?)),
            Err(outcome) => Ok(Err(outcome)),
        }
    }

    async fn start(upstream: String) -> anyhow::Result<Gate> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let host = listener.local_addr()?.to_string();
        let account = Account { user: fresh("gate"), password: fresh("pw") };
        let pair = format!("{}:{}", account.user, account.password);
        let expected = Arc::new([base64(pair.as_bytes(), STANDARD), base64(pair.as_bytes(), URL_SAFE)]);
        let authorized = Arc::new(AtomicU32::new(0));
        let (to, count) = (upstream.clone(), authorized.clone());
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let (to, expected, count) = (to.clone(), expected.clone(), count.clone());
                tokio::spawn(async move {
                    let _ = tokio::time::timeout(TIMEOUT, relay(client, &to, &expected[..], &count)).await;
                });
            }
        });
        Ok(Gate { host, upstream, account, authorized, task })
    }

    /// The AuthConfig that opens the gate.
    fn auth(&self) -> Value {
        self.account.auth(Some(&self.host))
    }

    fn wrong_auth(&self) -> Value {
        self.account.wrong().auth(Some(&self.host))
    }

    /// How many requests came with the gate's credentials so far.
    fn authorized(&self) -> u32 {
        self.authorized.load(Ordering::SeqCst)
    }
}

impl Drop for Gate {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// One connection through the gate: refused with the challenge, or passed to `upstream` with
/// `Connection: close` and relayed back until the registry hangs up.
async fn relay(mut client: TcpStream, upstream: &str, expected: &[String], count: &AtomicU32) -> anyhow::Result<()> {
    let Some((head, rest)) = read_head(&mut client).await? else { return Ok(()) };
    let lines: Vec<&str> = head.split("\r\n").collect();
    let credentials = header_in(&lines, "authorization").and_then(|v| v.split_once(' '));
    let basic = credentials.filter(|(scheme, _)| scheme.eq_ignore_ascii_case("basic")).map(|(_, c)| c.trim());
    if !basic.is_some_and(|c| expected.iter().any(|x| x == c)) {
        drain(&mut client, &lines, rest).await;
        client.write_all(challenge().as_bytes()).await?;
        return Ok(());
    }
    count.fetch_add(1, Ordering::SeqCst);
    let mut registry = TcpStream::connect(upstream).await?;
    let dropped = ["connection", "keep-alive", "authorization"];
    let kept = lines.iter().filter(|l| !l.is_empty() && !dropped.iter().any(|d| is_header(l, d)));
    let forwarded: String = kept.map(|l| format!("{l}\r\n")).collect();
    registry.write_all(format!("{forwarded}Connection: close\r\n\r\n").as_bytes()).await?;
    registry.write_all(&rest).await?;
    let (mut client_read, mut client_write) = client.split();
    let (mut registry_read, mut registry_write) = registry.split();
    let upload = async {
        let _ = tokio::io::copy(&mut client_read, &mut registry_write).await;
        std::future::pending::<()>().await
    };
    tokio::select! {
        answer = tokio::io::copy(&mut registry_read, &mut client_write) => { answer?; }
        () = upload => {}
    }
    Ok(())
}

/// The head of a request (without its blank line) and the bytes read past it; `None` when
/// the connection closes first or does not speak plain HTTP (an engine probing for https).
async fn read_head(client: &mut TcpStream) -> anyhow::Result<Option<(String, Vec<u8>)>> {
    let mut data = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        let n = client.read(&mut buf).await?;
        if n == 0 || (data.is_empty() && !buf[0].is_ascii_alphabetic()) {
            return Ok(None);
        }
        data.extend_from_slice(&buf[..n]);
        if let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            let rest = data.split_off(end + 4);
            data.truncate(end);
            return Ok(Some((String::from_utf8_lossy(&data).into_owned(), rest)));
        }
        ensure!(data.len() < 1 << 16, "a request head over 64 KiB");
    }
}

fn is_header(line: &str, name: &str) -> bool {
    line.split_once(':').is_some_and(|(k, _)| k.trim().eq_ignore_ascii_case(name))
}

fn header_in<'a>(lines: &[&'a str], name: &str) -> Option<&'a str> {
    lines.iter().skip(1).find(|l| is_header(l, name)).and_then(|l| l.split_once(':')).map(|(_, v)| v.trim())
}

/// Reads a refused request's body, so that the client reads the refusal rather than a reset.
async fn drain(client: &mut TcpStream, lines: &[&str], mut body: Vec<u8>) {
    let length = header_in(lines, "content-length").and_then(|v| v.parse::<usize>().ok());
    let chunked = header_in(lines, "transfer-encoding").is_some_and(|v| v.contains("chunked"));
    let read = async {
        let mut buf = [0u8; 8192];
        loop {
            let done = match length {
                Some(n) => body.len() >= n,
                None => !chunked || body.ends_with(b"0\r\n\r\n"),
            };
            if done {
                return;
            }
            match client.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => body.extend_from_slice(&buf[..n]),
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(10), read).await;
}

/// A loopback port nothing listens on.
async fn closed_port() -> anyhow::Result<u16> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    Ok(listener.local_addr()?.port())
}

// ---------------------------------------------------------------------------------------------
// /auth and the credentials a request carries (5.4.4 v1.2, v1.5, v1.9).
// ---------------------------------------------------------------------------------------------

/// POST /auth checks credentials with the registry they name: good ones get 200 (or 204),
/// wrong ones an error. The daemon keeps nothing (a pull right after sends the registry no
/// credentials), and GET /auth hands none back.
async fn auth_check(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let gate = or_skip!(Gate::open().await?);
    let good = api_json(&e, "POST", "/auth", &gate.auth()).await?;
    ensure!(matches!(good.status, 200 | 204), "POST /auth with good credentials: {} {}", good.status, good.text());
    ensure!(gate.authorized() > 0, "POST /auth said yes without asking the registry");
    let bad = api_json(&e, "POST", "/auth", &gate.wrong_auth()).await?;
    ensure!(bad.status >= 400, "POST /auth with a wrong password got {} {}", bad.status, bad.text());
    let before = gate.authorized();
    let later = pull(&e, &format!("{}/{}", gate.host, fresh("kept")), "latest", None).await?;
    ensure!(later.failure().is_some(), "a pull with no credentials got past the gate: {}", later.text());
    ensure!(gate.authorized() == before, "after POST /auth the daemon sent credentials of its own");
    let got = e.get("/auth").await?;
    let body = text(&got.body);
    let leaked = body.contains(&gate.account.user) || body.contains(&gate.account.password);
    ensure!(!(got.status.is_success() && leaked), "GET /auth handed credentials back: {} {body}", got.status);
    Ok(Outcome::Passed)
}

/// The daemon holds no registry credentials: after a successful POST /auth, a push that
/// carries none is refused, while the same push with them goes through.
async fn auth_client_side(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let gate = or_skip!(Gate::open().await?);
    let path = fresh("clientside");
    let repo = format!("{}/{path}", gate.host);
    let name = format!("{repo}:v1");
    cleaning_images(&e, &[], &[&name], async {
        own_image(&e, &name, "client-side").await?;
        api_json(&e, "POST", "/auth", &gate.auth()).await?.success("POST /auth with good credentials")?;
        let bare = push(&e, &repo, "v1", Some(&anonymous())).await?;
        ensure!(bare.failure().is_some(), "after POST /auth a push with no credentials succeeded: {}", bare.text());
        ensure!(registry_tags(&gate.upstream, &path).await?.is_empty(), "the refused push left tags behind");
        push(&e, &repo, "v1", Some(&gate.auth())).await?.success("the same push with credentials")?;
        let tags = registry_tags(&gate.upstream, &path).await?;
        ensure!(tags == ["v1"], "after the push the registry lists {tags:?}");
        Ok(Outcome::Passed)
    })
    .await
}

/// A repository that needs credentials pulls through POST /images/create only with an
/// X-Registry-Auth header holding them; without one, or with a wrong password, it fails.
async fn auth_pull(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let gate = or_skip!(Gate::open().await?);
    let repo = format!("{}/{}", gate.host, fresh("authpull"));
    let name = format!("{repo}:v1");
    cleaning_images(&e, &[], &[&name], async {
        let id = own_image(&e, &name, "auth-pull").await?;
        push(&e, &repo, "v1", Some(&gate.auth())).await?.success("pushing the image")?;
        forget(&e, &[&name]).await?;
        let bare = pull(&e, &repo, "v1", None).await?;
        ensure!(bare.failure().is_some(), "a pull without X-Registry-Auth succeeded: {}", bare.text());
        let wrong = pull(&e, &repo, "v1", Some(&gate.wrong_auth())).await?;
        ensure!(wrong.failure().is_some(), "a pull with a wrong password succeeded: {}", wrong.text());
        ensure!(!present(&e, &name).await?, "a refused pull left {name}");
        pull(&e, &repo, "v1", Some(&gate.auth())).await?.success("the pull with X-Registry-Auth")?;
        ensure!(e.image_id(&name).await? == id, "the image pulled is not the one pushed");
        Ok(Outcome::Passed)
    })
    .await
}

/// POST /images/(name)/push takes its credentials from X-Registry-Auth: without them, or
/// with a wrong password, nothing reaches the registry; with them the push goes through.
async fn auth_push(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let gate = or_skip!(Gate::open().await?);
    let path = fresh("authpush");
    let repo = format!("{}/{path}", gate.host);
    let name = format!("{repo}:v1");
    cleaning_images(&e, &[], &[&name], async {
        own_image(&e, &name, "auth-push").await?;
        let bare = push(&e, &repo, "v1", None).await?;
        ensure!(bare.failure().is_some(), "a push without X-Registry-Auth succeeded: {}", bare.text());
        let wrong = push(&e, &repo, "v1", Some(&gate.wrong_auth())).await?;
        ensure!(wrong.failure().is_some(), "a push with a wrong password succeeded: {}", wrong.text());
        ensure!(registry_tags(&gate.upstream, &path).await?.is_empty(), "a refused push left tags behind");
        push(&e, &repo, "v1", Some(&gate.auth())).await?.success("the push with X-Registry-Auth")?;
        let tags = registry_tags(&gate.upstream, &path).await?;
        ensure!(tags == ["v1"], "after the push the registry lists {tags:?}");
        Ok(Outcome::Passed)
    })
    .await
}

/// POST /images/(name)/push answers 200 and streams JSON progress while the image goes to
/// the registry; a name no image has gets 404.
async fn api_push(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let private = or_skip!(server("PRIVATE_REGISTRY_URL"));
    let path = fresh("apipush");
    let repo = format!("{private}/{path}");
    let name = format!("{repo}:v1");
    cleaning_images(&e, &[], &[&name], async {
        own_image(&e, &name, "api-push").await?;
        let pushed = push(&e, &repo, "v1", Some(&anonymous())).await?.success("POST /images/(name)/push")?;
        let objects = pushed.objects();
        let progress = |o: &Value| o["status"].is_string() || o.get("aux").is_some();
        ensure!(objects.len() > 1 && objects.iter().all(progress), "not a progress stream: {}", pushed.text());
        let tags = registry_tags(&private, &path).await?;
        ensure!(tags == ["v1"], "after the push the registry lists {tags:?}");
        let ghost = push(&e, &format!("{private}/{}", fresh("ghost")), "v1", Some(&anonymous())).await?;
        if ghost.status == 200 && ghost.failure().is_some_and(|m| m.contains("does not exist")) {
            return Ok(skip(
                SkipKind::Divergence,
                "a push of a name no image has answers 200 and reports the missing image in the stream, not 404",
            ));
        }
        ensure!(ghost.status == 404, "pushing a name no image has got {} {}", ghost.status, ghost.text());
        Ok(Outcome::Passed)
    })
    .await
}

// ---------------------------------------------------------------------------------------------
// Pull, build, search and insert through the API.
// ---------------------------------------------------------------------------------------------

/// POST /images/create?fromImage=&tag= streams JSON progress while it pulls, and the image
/// pushed earlier is in the store afterwards.
async fn api_pull(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let private = or_skip!(server("PRIVATE_REGISTRY_URL"));
    let repo = format!("{private}/{}", fresh("created"));
    let name = format!("{repo}:v1");
    cleaning_images(&e, &[], &[&name], async {
        let id = own_image(&e, &name, "create-pull").await?;
        push(&e, &repo, "v1", Some(&anonymous())).await?.success("pushing the image")?;
        forget(&e, &[&name]).await?;
        let pulled = pull(&e, &repo, "v1", None).await?.success("POST /images/create?fromImage=")?;
        let objects = pulled.objects();
        ensure!(
            objects.len() > 1 && objects.iter().all(|o| o["status"].is_string()),
            "not a JSON progress stream: {}",
            pulled.text()
        );
        ensure!(e.image_id(&name).await? == id, "the image pulled is not the one pushed");
        Ok(Outcome::Passed)
    })
    .await
}

/// What a pull said of each layer while downloading it: the layer and the positions of its
/// first and last download message in the stream.
fn download_spans(objects: &[Value]) -> Vec<(String, usize, usize)> {
    const DOWNLOADING: &[&str] =
        &["Pulling fs layer", "Waiting", "Downloading", "Verifying Checksum", "Download complete"];
    let mut spans: Vec<(String, usize, usize)> = Vec::new();
    for (i, object) in objects.iter().enumerate() {
        let (Some(id), Some(status)) = (object["id"].as_str(), object["status"].as_str()) else { continue };
        if id.is_empty() || !DOWNLOADING.contains(&status) {
            continue;
        }
        match spans.iter_mut().find(|(layer, _, _)| layer == id) {
            Some(span) => span.2 = i,
            None => spans.push((id.to_string(), i, i)),
        }
    }
    spans
}

/// A pull fetches several layers at once: one layer's download messages come while another
/// layer's download is still going on.
async fn pull_parallel(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let private = or_skip!(server("PRIVATE_REGISTRY_URL"));
    let repo = format!("{private}/{}", fresh("layers"));
    let (base, top) = (format!("{repo}:base"), format!("{repo}:v1"));
    cleaning_images(&e, &[], &[&top, &base], async {
        commit_on(&e, IMAGE, &base, "head -c 3000000 /dev/urandom > /one").await?;
        commit_on(&e, &base, &top, "head -c 3000000 /dev/urandom > /two").await?;
        push(&e, &repo, "v1", Some(&anonymous())).await?.success("pushing the image")?;
        forget(&e, &[&top, &base]).await?;
        let pulled = pull(&e, &repo, "v1", None).await?.success("the pull")?;
        let spans = download_spans(&pulled.objects());
        ensure!(spans.len() >= 2, "fewer than two layers were downloaded: {}", pulled.text());
        let overlap = spans.iter().any(|a| spans.iter().any(|b| a.0 != b.0 && a.1 < b.1 && b.1 < a.2));
        ensure!(overlap, "each layer was downloaded after the one before had finished: {}", pulled.text());
        Ok(Outcome::Passed)
    })
    .await
}

/// POST /build with an X-Registry-Config header (base64 JSON of credentials per registry)
/// pulls a FROM image from a registry that wants credentials; without the header the build
/// fails. An engine that speaks API 1.9 gets the 2014 ConfigFile (`{"configs": {...}}`),
/// others the map of registries later clients send.
async fn build_config(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let gate = or_skip!(Gate::open().await?);
    let repo = format!("{}/{}", gate.host, fresh("base"));
    let base = format!("{repo}:v1");
    let built = fresh("configfile");
    cleaning_images(&e, &[], &[&built, &base], async {
        let id = own_image(&e, &base, "configfile").await?;
        push(&e, &repo, "v1", Some(&gate.auth())).await?.success("pushing the base image")?;
        forget(&e, &[&base]).await?;
        let context = tar_of(&[("Dockerfile", &format!("FROM {base}\nENV SPEC_BUILT yes\n"))])?;
        let mut registries = serde_json::Map::new();
        registries.insert(gate.host.clone(), gate.auth());
        let (path, config) = if e.min_api() <= ApiVersion::MIN {
            ("/v1.9/build", json!({"configs": registries}))
        } else {
            ("/build", Value::Object(registries))
        };
        let query = format!("{path}?t={built}&rm=1&forcerm=1");
        let tar = ("Content-Type", "application/x-tar".to_string());
        let bare = api(&e, "POST", &query, std::slice::from_ref(&tar), &context).await?;
        ensure!(bare.failure().is_some(), "a build without X-Registry-Config pulled its base: {}", bare.text());
        ensure!(!present(&e, &built).await?, "the failed build made {built}");
        let headers = [tar, ("X-Registry-Config", header_of(&config))];
        api(&e, "POST", &query, &headers, &context).await?.success("the build with X-Registry-Config")?;
        ensure!(e.image_id(&base).await? == id, "the base the build pulled is not the image pushed");
        let inspect = e.api.get_json::<Value>(&format!("/images/{built}/json")).await?;
        let env = inspect["Config"]["Env"].as_array().cloned().unwrap_or_default();
        ensure!(env.iter().any(|v| v == "SPEC_BUILT=yes"), "the built image's Env is {env:?}");
        Ok(Outcome::Passed)
    })
    .await
}

/// GET /images/search?term= answers 200 with the index's matches as objects of name,
/// description, is_official, is_trusted (is_automated after API 1.9) and star_count, and 500
/// when the index cannot be reached. The term names the index (`host:port/term`), so every
/// engine asks INDEX_URL.
async fn api_search(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let index = or_skip!(server("INDEX_URL"));
    let user = or_skip!(account("INDEX_USER", "INDEX_PASSWORD"));
    let name = fresh("found");
    let repo = format!("{}/{name}", user.user);
    let headers = [user.basic(), ("Content-Type", "application/json".to_string())];
    let made = http(&index, "PUT", &format!("/v1/repositories/{repo}/"), &headers, b"[]").await?;
    ensure!(made.status == 200, "making {repo} at the index: {} {}", made.status, made.text());
    let (prefix, trusted) = if e.min_api() <= ApiVersion::MIN { ("/v1.9", "is_trusted") } else { ("", "is_automated") };
    let answer = api(&e, "GET", &format!("{prefix}/images/search?term={index}/{name}"), &[], b"").await?;
    ensure!(answer.status == 200, "search: {} {}", answer.status, answer.text());
    let hits = answer.json()?;
    let hit = hits.as_array().and_then(|h| h.iter().find(|h| h["name"] == repo.as_str())).cloned();
    let hit = hit.with_context(|| format!("{repo} is not among the hits: {hits}"))?;
    ensure!(hit["description"].is_string() && hit["star_count"].is_u64(), "hit {hit}");
    ensure!(hit["is_official"] == false && hit[trusted] == false, "hit {hit}");
    let down = format!("127.0.0.1:{}", closed_port().await?);
    let failed = api(&e, "GET", &format!("{prefix}/images/search?term={down}/{name}"), &[], b"").await?;
    ensure!(failed.status == 500, "a search at an index that is down got {} {}", failed.status, failed.text());
    Ok(Outcome::Passed)
}

/// POST /images/(name)/insert?path=&url= (API 1.9–1.11) streams JSON progress ending in the
/// new image's id; that image has the downloaded file at the path.
async fn api_insert(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    if e.min_api() > ApiVersion::new(1, 11) {
        return Ok(skip(
            SkipKind::Legacy,
            format!("the engine's oldest API version is {}: insert was removed in API 1.12", e.min_api()),
        ));
    }
    let file = FileServer::start(b"inserted by the api\n").await?;
    let base = e.image_id(IMAGE).await?;
    let path = format!("/v1.9/images/{IMAGE}/insert?path=/tmp/inserted&url={}", file.url);
    let answer = api(&e, "POST", &path, &[], b"").await?.success("POST /images/(name)/insert")?;
    let objects = answer.objects();
    ensure!(objects.iter().all(|o| o["status"].is_string()), "not a JSON progress stream: {}", answer.text());
    let id = objects.last().and_then(|o| o["status"].as_str()).unwrap_or_default().to_string();
    ensure!(id.len() >= 12 && id.bytes().all(|b| b.is_ascii_hexdigit()), "the stream ends in {id:?}, not an id");
    let checked = async {
        let content = run_out(&e, &["--rm", &id, "cat", "/tmp/inserted"]).await?;
        ensure!(content == "inserted by the api\n", "the inserted file holds {content:?}");
        ensure!(e.image_id(IMAGE).await? == base, "the base image changed");
        Ok(Outcome::Passed)
    }
    .await;
    let _ = e.call(Method::DELETE, &format!("/images/{id}?force=1")).await;
    checked
}

/// `run` of an image that is not here: the create call gets 404, and the client pulls the
/// image, creates the container again and runs it.
async fn run_auto_pull(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let private = or_skip!(server("PRIVATE_REGISTRY_URL"));
    let repo = format!("{private}/{}", fresh("autopull"));
    let name = format!("{repo}:v1");
    cleaning_images(&e, &[], &[&name], async {
        own_image(&e, &name, "auto-pulled").await?;
        push(&e, &repo, "v1", Some(&anonymous())).await?.success("pushing the image")?;
        forget(&e, &[&name]).await?;
        let create = api_json(&e, "POST", "/containers/create", &json!({"Image": name, "Cmd": ["true"]})).await?;
        ensure!(
            create.status == 404,
            "creating a container of a missing image got {} {}",
            create.status,
            create.text()
        );
        let run = e.cli(&["run", "--rm", "--net=none", &name, "cat", "/made"]).await?.success()?;
        ensure!(run.stdout.lines().any(|l| l.trim() == "auto-pulled"), "the container printed {}", run.stdout);
        ensure!(both(&run).contains("Unable to find image"), "run did not say it pulls: {}", both(&run));
        ensure!(present(&e, &name).await?, "the pulled image is not kept");
        Ok(Outcome::Passed)
    })
    .await
}

// ---------------------------------------------------------------------------------------------
// Names and tags as the seed projects use them.
// ---------------------------------------------------------------------------------------------

/// Several tags of one build (kratos: latest, v0.4.3-alpha.1, v0.4.3, v0.4, v0) are each
/// pushed and pulled, and every one resolves to the same image.
async fn tag_aliases(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    const TAGS: [&str; 5] = ["latest", "v0.4.3-alpha.1", "v0.4.3", "v0.4", "v0"];
    let private = or_skip!(server("PRIVATE_REGISTRY_URL"));
    let path = fresh("kratos");
    let repo = format!("{private}/{path}");
    let names = tagged(&repo, &TAGS);
    cleaning_images(&e, &[], &refs(&names), async {
        let id = own_image(&e, &names[0], "one-build").await?;
        for name in &names[1..] {
            tag(&e, &names[0], name).await?;
        }
        for t in TAGS {
            push(&e, &repo, t, Some(&anonymous())).await?.success(&format!("pushing {t}"))?;
        }
        let listed = registry_tags(&private, &path).await?;
        ensure!(TAGS.iter().all(|t| listed.iter().any(|l| l == t)), "the registry lists {listed:?}");
        forget(&e, &refs(&names)).await?;
        for (t, name) in TAGS.iter().zip(&names) {
            pull(&e, &repo, t, None).await?.success(&format!("pulling {t}"))?;
            ensure!(e.image_id(name).await? == id, "{name} is another image");
        }
        Ok(Outcome::Passed)
    })
    .await
}

/// Tags with dots and hyphens (v0.4.3-alpha.1-sqlite, latest-sqlite) work with the CLI's
/// tag, push and pull.
async fn tag_charset(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let private = or_skip!(server("PRIVATE_REGISTRY_URL"));
    let repo = format!("{private}/{}", fresh("sqlite"));
    let names = tagged(&repo, &["v0.4.3-alpha.1-sqlite", "latest-sqlite"]);
    cleaning_images(&e, &[], &refs(&names), async {
        let id = own_image(&e, &names[0], "sqlite").await?;
        tag(&e, &names[0], &names[1]).await?;
        for name in &names {
            e.cli(&["push", name]).await?.success()?;
        }
        e.cli(&["rmi", &names[0], &names[1]]).await?.success()?;
        for name in &names {
            e.cli(&["pull", name]).await?.success()?;
            ensure!(e.image_id(name).await? == id, "{name} is another image");
        }
        Ok(Outcome::Passed)
    })
    .await
}

/// Full, minor and major tags (directus: 9.0.0, 9.0, 9) live in one repository, and each
/// pulls on its own: here 9.0 and 9 have moved on to a later build than 9.0.0.
async fn semver_tags(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let private = or_skip!(server("PRIVATE_REGISTRY_URL"));
    let repo = format!("{private}/{}", fresh("directus"));
    let names = tagged(&repo, &["9.0.0", "9.0", "9"]);
    let [full, minor, major] = [&names[0], &names[1], &names[2]];
    cleaning_images(&e, &[], &refs(&names), async {
        let first = own_image(&e, full, "nine-zero-zero").await?;
        let later = own_image(&e, minor, "nine-zero-one").await?;
        tag(&e, minor, major).await?;
        for name in &names {
            e.cli(&["push", name]).await?.success()?;
        }
        e.cli(&["rmi", full, minor, major]).await?.success()?;
        e.cli(&["pull", minor]).await?.success()?;
        ensure!(e.image_id(minor).await? == later, "9.0 is another image");
        ensure!(!present(&e, full).await? && !present(&e, major).await?, "pulling 9.0 brought other tags");
        e.cli(&["pull", major]).await?.success()?;
        ensure!(e.image_id(major).await? == later, "9 is another image");
        e.cli(&["pull", full]).await?.success()?;
        ensure!(e.image_id(full).await? == first, "9.0.0 is another image");
        Ok(Outcome::Passed)
    })
    .await
}

/// A repository pushed only as 1.15.0 has no latest: `pull` with no tag fails as not found
/// and brings nothing, while pulling 1.15.0 works.
async fn no_latest(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let private = or_skip!(server("PRIVATE_REGISTRY_URL"));
    let repo = format!("{private}/{}", fresh("pocketid"));
    let (name, latest) = (format!("{repo}:1.15.0"), format!("{repo}:latest"));
    cleaning_images(&e, &[], &[&name, &latest], async {
        let id = own_image(&e, &name, "no-latest").await?;
        e.cli(&["push", &name]).await?.success()?;
        e.cli(&["rmi", &name]).await?.success()?;
        let untagged = e.cli(&["pull", &repo]).await?;
        ensure!(untagged.status != Some(0), "pulling {repo} with no tag succeeded: {}", both(&untagged));
        ensure!(both(&untagged).to_lowercase().contains("not found"), "not a not-found error: {}", both(&untagged));
        ensure!(!present(&e, &name).await? && !present(&e, &latest).await?, "the failed pull brought an image");
        e.cli(&["pull", &name]).await?.success()?;
        ensure!(e.image_id(&name).await? == id, "1.15.0 is another image");
        Ok(Outcome::Passed)
    })
    .await
}

/// A tag moves (pocket-id's 1.15): after another image is pushed under it, pulling the tag
/// gets the new image.
async fn moving_tags(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let private = or_skip!(server("PRIVATE_REGISTRY_URL"));
    let name = format!("{private}/{}:1.15", fresh("rolling"));
    cleaning_images(&e, &[], &[&name], async {
        let mut ids = Vec::new();
        for release in ["first-release", "second-release"] {
            let id = own_image(&e, &name, release).await?;
            e.cli(&["push", &name]).await?.success()?;
            e.cli(&["rmi", &name]).await?.success()?;
            e.cli(&["pull", &name]).await?.success()?;
            ensure!(e.image_id(&name).await? == id, "pulling 1.15 after the {release} push got another image");
            e.cli(&["rmi", &name]).await?.success()?;
            ids.push(id);
        }
        ensure!(ids[0] != ids[1], "both releases made the same image");
        Ok(Outcome::Passed)
    })
    .await
}

/// The host part of a name picks the registry (pocket-id on ghcr.io and quay.io): one path
/// pushed to two registries as different images comes back from each as its own.
async fn registry_hosts(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let private = or_skip!(server("PRIVATE_REGISTRY_URL"));
    let registry = or_skip!(server("REGISTRY_URL"));
    let user = or_skip!(account("INDEX_USER", "INDEX_PASSWORD"));
    let path = format!("{}/{}", user.user, fresh("pocket"));
    let hosts = [(private.clone(), anonymous()), (registry.clone(), user.auth(Some(&registry)))];
    let names: Vec<String> = hosts.iter().map(|(host, _)| format!("{host}/{path}:1.15.0")).collect();
    cleaning_images(&e, &[], &refs(&names), async {
        let mut ids = Vec::new();
        for ((host, auth), name) in hosts.iter().zip(&names) {
            ids.push(own_image(&e, name, &format!("from{}", host.replace(['.', ':'], ""))).await?);
            push(&e, &format!("{host}/{path}"), "1.15.0", Some(auth)).await?.success(&format!("pushing {name}"))?;
        }
        forget(&e, &refs(&names)).await?;
        for (((host, auth), name), id) in hosts.iter().zip(&names).zip(&ids) {
            pull(&e, &format!("{host}/{path}"), "1.15.0", Some(auth)).await?.success(&format!("pulling {name}"))?;
            ensure!(e.image_id(name).await? == *id, "{name} is not the image pushed to {host}");
        }
        ensure!(ids[0] != ids[1], "the two registries' images are one");
        Ok(Outcome::Passed)
    })
    .await
}

/// A name with no host goes to the default index: `user/repo:1.15.0` there and
/// `127.0.0.1:PORT/user/repo:1.15.0` are different images, each pulled from its own place.
async fn default_index_name(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let index = or_skip!(server("INDEX_URL"));
    let private = or_skip!(server("PRIVATE_REGISTRY_URL"));
    let user = or_skip!(account("INDEX_USER", "INDEX_PASSWORD"));
    or_skip!(default_index_is(&e, &index).await?);
    let path = format!("{}/{}", user.user, fresh("pocket"));
    let hosted = format!("{private}/{path}");
    let names = [format!("{path}:1.15.0"), format!("{hosted}:1.15.0")];
    cleaning_images(&e, &[], &refs(&names), async {
        let plain = own_image(&e, &names[0], "from-the-index").await?;
        let prefixed = own_image(&e, &names[1], "from-the-host").await?;
        push(&e, &path, "1.15.0", Some(&user.auth(None))).await?.success("pushing the plain name")?;
        push(&e, &hosted, "1.15.0", Some(&anonymous())).await?.success("pushing the prefixed name")?;
        let listed = http(&index, "GET", &format!("/v1/repositories/{path}/images"), &[], b"").await?;
        ensure!(listed.status == 200, "the index does not know {path}: {} {}", listed.status, listed.text());
        forget(&e, &refs(&names)).await?;
        pull(&e, &path, "1.15.0", None).await?.success("pulling the plain name")?;
        pull(&e, &hosted, "1.15.0", None).await?.success("pulling the prefixed name")?;
        ensure!(e.image_id(&names[0]).await? == plain, "the plain name did not come from the default index");
        ensure!(e.image_id(&names[1]).await? == prefixed, "the prefixed name did not come from its host");
        Ok(Outcome::Passed)
    })
    .await
}

/// A v1 image id (64 hex) that no one has used.
fn fresh_v1_id() -> String {
    let seed = fresh("id");
    let mut state: u64 = seed.bytes().fold(1469598103934665603, |h, b| (h ^ u64::from(b)).wrapping_mul(1099511628211));
    let mut id = String::new();
    while id.len() < 64 {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        id.push_str(&format!("{state:016x}"));
    }
    id.truncate(64);
    id
}

/// `sha256:` of json, a newline and the layer: an image's checksum in 5.4.1 §2.2 (computed by
/// the host's sha256sum).
fn payload_checksum(json: &[u8], layer: &[u8]) -> anyhow::Result<String> {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new("sha256sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .context("cannot run sha256sum")?;
    let mut stdin = child.stdin.take().context("sha256sum has no stdin")?;
    stdin.write_all(json)?;
    stdin.write_all(b"\n")?;
    stdin.write_all(layer)?;
    drop(stdin);
    let out = child.wait_with_output()?;
    let hex = String::from_utf8_lossy(&out.stdout).split_whitespace().next().unwrap_or_default().to_string();
    ensure!(hex.len() == 64, "sha256sum printed {hex:?}");
    Ok(format!("sha256:{hex}"))
}

/// Pushes a one-layer image whose author is `marker` as `library/NAME:TAG`, by hand through
/// the v1 flow (5.4.1 §2.2) with an administrator's account: engines refuse to push a name
/// with no namespace, so official images reach the index this way.
async fn push_library(index: &str, admin: &Account, name: &str, tag: &str, marker: &str) -> anyhow::Result<()> {
    let (id, repo) = (fresh_v1_id(), format!("library/{name}"));
    let listed = json!([{"id": id, "Tag": tag}]).to_string();
    let wants_token = [admin.basic(), ("X-Docker-Token", "true".into()), ("Content-Type", "application/json".into())];
    let allocated = http(index, "PUT", &format!("/v1/repositories/{repo}/"), &wants_token, listed.as_bytes()).await?;
    let allocated = allocated.expect(200, "allocating the repository")?;
    let token = allocated.header("x-docker-token").context("the index gave no token")?.to_string();
    let endpoints = allocated.header("x-docker-endpoints").context("the index named no registry")?.to_string();
    let registry = endpoints.split(',').next().unwrap_or_default().trim().trim_start_matches("http://").to_string();
    let json = json!({"id": id, "created": "2014-02-03T00:00:00Z", "author": marker, "config": {"Cmd": ["true"]}});
    let json = json.to_string();
    let token = [("Authorization", format!("Token {token}"))];
    let put = http(&registry, "PUT", &format!("/v1/images/{id}/json"), &token, json.as_bytes()).await?;
    let session = put.expect(200, "the image json")?.header("set-cookie").context("no session cookie")?.to_string();
    let cookie = [("Cookie", session.split(';').next().unwrap_or_default().to_string())];
    let layer = tar_of(&[("made", marker)])?;
    http(&registry, "PUT", &format!("/v1/images/{id}/layer"), &cookie, &layer).await?.expect(200, "the layer")?;
    let checksum = payload_checksum(json.as_bytes(), &layer)?;
    let with_checksum = [cookie[0].clone(), ("X-Docker-Checksum-Payload", checksum.clone())];
    http(&registry, "PUT", &format!("/v1/images/{id}/checksum"), &with_checksum, b"")
        .await?
        .expect(200, "the checksum")?;
    let tag_path = format!("/v1/repositories/{repo}/tags/{tag}");
    http(&registry, "PUT", &tag_path, &cookie, &serde_json::to_vec(&id)?).await?.expect(200, "the tag")?;
    let done = json!([{"id": id, "checksum": checksum}]).to_string();
    let finish = [admin.basic(), ("X-Docker-Endpoints", endpoints)];
    http(index, "PUT", &format!("/v1/repositories/{repo}/images"), &finish, done.as_bytes())
        .await?
        .expect(204, "the image list at the index")?;
    Ok(())
}

/// On the default index a name without a namespace (directus's `redis:6`) lives under
/// `library/`, and `user/name:tag` (`postgis/postgis:13-master`) under that user: the engine
/// pulls `NAME:6` as the image an administrator put in `library/NAME`, and pushes and pulls
/// `user/NAME` in the user's namespace.
async fn official_names(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let index = or_skip!(server("INDEX_URL"));
    let user = or_skip!(account("INDEX_USER", "INDEX_PASSWORD"));
    let admin = or_skip!(account("INDEX_ADMIN", "INDEX_ADMIN_PASSWORD"));
    or_skip!(default_index_is(&e, &index).await?);
    let official = fresh("redis");
    let own = fresh("postgis");
    let owned = format!("{}/{own}", user.user);
    let names = [format!("{official}:6"), format!("{owned}:13-master")];
    let marker = fresh("official");
    cleaning_images(&e, &[], &refs(&names), async {
        push_library(&index, &admin, &official, "6", &marker).await?;
        let owned_id = own_image(&e, &names[1], "owned").await?;
        push(&e, &owned, "13-master", Some(&user.auth(None))).await?.success("pushing the user name")?;
        for (repo, wanted) in
            [(format!("library/{official}"), 200), (owned.clone(), 200), (format!("library/{own}"), 404)]
        {
            let listed = http(&index, "GET", &format!("/v1/repositories/{repo}/images"), &[], b"").await?;
            ensure!(listed.status == wanted, "the index answers {} for {repo}, not {wanted}", listed.status);
        }
        forget(&e, &[&names[1]]).await?;
        pull(&e, &official, "6", None).await?.success("pulling the library name")?;
        pull(&e, &owned, "13-master", None).await?.success("pulling the user name")?;
        let author = e.api.get_json::<Value>(&format!("/images/{}/json", names[0])).await?["Author"].clone();
        ensure!(author == marker.as_str(), "{} is not the library image (author {author})", names[0]);
        ensure!(e.image_id(&names[1]).await? == owned_id, "{} is another image", names[1]);
        Ok(Outcome::Passed)
    })
    .await
}
