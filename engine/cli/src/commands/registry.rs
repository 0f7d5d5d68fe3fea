//! Registry commands: `pull`, `push`, `login`, `logout`, `search`, `insert`. Credentials live in
//! `~/.docker/config.json` (`auths`), and the 2014 `~/.dockercfg` is read too (and kept up to
//! date when it exists); they travel to the daemon in `X-Registry-Auth`.

use super::images::{path_escape, query_escape, split_repo_tag};
use crate::flags::{Flag, Parsed};
use crate::output::Table;
use crate::{CliError, Session};
use base64::Engine as _;
use berth_api::progress::Message;
use berth_client::ClientError;
use http::{Method, Request};
use http_body_util::BodyExt;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;

pub const PULL_FLAGS: &[Flag] = &[
    Flag::boolean(Some('a'), "all-tags", false, "Download all tagged images in the repository"),
    Flag::boolean(Some('q'), "quiet", false, "Suppress verbose output"),
];
pub const PUSH_FLAGS: &[Flag] = &[
    Flag::boolean(Some('a'), "all-tags", false, "Push all tags of the repository"),
    Flag::boolean(Some('q'), "quiet", false, "Suppress verbose output"),
];
pub const LOGIN_FLAGS: &[Flag] = &[
    Flag::value(Some('u'), "username", "", "Username"),
    Flag::value(Some('p'), "password", "", "Password"),
    Flag::value(Some('e'), "email", "", "Email"),
    Flag::boolean(None, "password-stdin", false, "Take the password from stdin"),
];
pub const SEARCH_FLAGS: &[Flag] = &[
    Flag::boolean(None, "no-trunc", false, "Don't truncate output"),
    Flag::boolean(None, "notrunc", false, "Don't truncate output (2014 spelling)"),
    Flag::value(Some('s'), "stars", "0", "Only displays with at least x stars"),
    Flag::boolean(Some('t'), "automated", false, "Only show automated builds"),
    Flag::boolean(None, "trusted", false, "Only show trusted builds (2014 spelling of --automated)"),
    Flag::multi(Some('f'), "filter", "Filter output based on conditions provided"),
    Flag::value(None, "limit", "", "Max number of search results"),
];

/// The key the default index's credentials are filed under.
const DEFAULT_KEY: &str = "https://index.docker.io/v1/";

fn home() -> PathBuf {
    std::env::var_os("HOME").map_or_else(|| PathBuf::from("/root"), PathBuf::from)
}

fn config_path() -> PathBuf {
    std::env::var_os("DOCKER_CONFIG").map_or_else(|| home().join(".docker"), PathBuf::from).join("config.json")
}

fn dockercfg_path() -> PathBuf {
    home().join(".dockercfg")
}

fn read_json(path: &PathBuf) -> Map<String, Value> {
    std::fs::read(path).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default()
}

fn write_json(path: &PathBuf, value: &Map<String, Value>) -> Result<(), CliError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("tmp");
    let bytes = serde_json::to_vec_pretty(value)?;
    std::fs::write(&tmp, bytes)?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

/// Every stored credential: config.json's `auths`, then `.dockercfg` entries it lacks.
fn stored_auths() -> BTreeMap<String, Value> {
    let mut all: BTreeMap<String, Value> = BTreeMap::new();
    if let Some(Value::Object(auths)) = read_json(&config_path()).get("auths") {
        all.extend(auths.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    for (key, value) in read_json(&dockercfg_path()) {
        all.entry(key).or_insert(value);
    }
    all
}

/// `host:port` of a server key (`https://host/v1/`, `host:port`).
fn host_of(key: &str) -> &str {
    let bare = key.trim_start_matches("https://").trim_start_matches("http://");
    bare.split('/').next().unwrap_or_default()
}

/// The `X-Registry-Auth` value for a registry (`None` = the default index).
fn auth_header(registry: Option<&str>, default_key: &str) -> Option<String> {
    let auths = stored_auths();
    let entry = match registry {
        Some(host) => auths.iter().find(|(k, _)| host_of(k) == host).map(|(k, v)| (k.clone(), v.clone())),
        None => auths
            .get(default_key)
            .cloned()
            .or_else(|| auths.get(DEFAULT_KEY).cloned())
            .map(|v| (default_key.to_string(), v)),
    }?;
    let (key, value) = entry;
    let auth = value.get("auth").and_then(Value::as_str)?;
    let decoded = base64::engine::general_purpose::STANDARD.decode(auth).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    let config = json!({"username": user, "password": password, "serveraddress": key});
    Some(base64::engine::general_purpose::URL_SAFE.encode(config.to_string()))
}

/// The registry host a name starts with, if any.
fn registry_of(name: &str) -> Option<&str> {
    let (first, _) = name.split_once('/')?;
    (first.contains('.') || first.contains(':') || first == "localhost").then_some(first)
}

/// The key of the default index, as the daemon reports it.
fn default_key(session: &mut Session) -> String {
    let client = match session.client() {
        Ok(c) => c,
        Err(_) => return DEFAULT_KEY.to_string(),
    };
    let info: Result<Value, _> = session.block_on(client.get_json("/info"));
    info.ok()
        .and_then(|i| i.get("IndexServerAddress").and_then(Value::as_str).map(String::from))
        .filter(|a| !a.is_empty())
        .unwrap_or_else(|| DEFAULT_KEY.to_string())
}

/// Sends a request whose answer is a progress stream, rendering it as it arrives.
fn stream_progress(session: &mut Session, path: &str, auth: Option<String>, quiet: bool) -> Result<(), CliError> {
    let client = session.client()?;
    let full = match client.version() {
        Some(v) => format!("/v{v}{path}"),
        None => path.to_string(),
    };
    let mut request = Request::builder().method(Method::POST).uri(full);
    if let Some(auth) = auth {
        request = request.header("x-registry-auth", auth);
    }
    let request =
        request.body(berth_client::body_from_bytes(Default::default())).map_err(|e| CliError::Failed(e.to_string()))?;
    let terminal = std::io::stdout().is_terminal() && !quiet;
    let mut renderer = Renderer::new(terminal, quiet);
    let mut writer = std::mem::replace(&mut session.out, Box::new(std::io::sink()));
    let out = &mut writer;
    let result = session.block_on(async {
        let response = client.send(request).await?;
        if !response.status().is_success() {
            let status = response.status();
            let body = response.into_body().collect().await.map(|c| c.to_bytes()).unwrap_or_default();
            let message = serde_json::from_slice::<Value>(&body)
                .ok()
                .and_then(|v| v.get("message").and_then(Value::as_str).map(String::from))
                .unwrap_or_else(|| String::from_utf8_lossy(&body).trim().to_string());
            return Err(CliError::Client(ClientError::Api { status, message }));
        }
        super::each_line(response.into_body(), |line| renderer.line(line, out).map(|()| None::<()>)).await?;
        Ok(())
    });
    session.out = writer;
    result
}

/// Draws progress messages: on a terminal each id keeps one line, redrawn in place (as
/// docker does); otherwise every status is printed once, without the bars.
struct Renderer {
    terminal: bool,
    quiet: bool,
    ids: Vec<String>,
}

impl Renderer {
    fn new(terminal: bool, quiet: bool) -> Renderer {
        Renderer { terminal, quiet, ids: Vec::new() }
    }

    fn line(&mut self, raw: &[u8], out: &mut dyn Write) -> Result<(), CliError> {
        let text = String::from_utf8_lossy(raw);
        let text = text.trim();
        if text.is_empty() {
            return Ok(());
        }
        let message: Message =
            serde_json::from_str(text).map_err(|e| CliError::Failed(format!("the daemon sent {text:?}: {e}")))?;
        if !message.error.is_empty() {
            return Err(CliError::Failed(message.error));
        }
        if self.quiet || message.status.is_empty() {
            return Ok(());
        }
        if message.id.is_empty() {
            writeln!(out, "{}", message.status)?;
            return Ok(());
        }
        let rendered = if message.progress.is_empty() {
            format!("{}: {}", message.id, message.status)
        } else {
            format!("{}: {} {}", message.id, message.status, message.progress)
        };
        if !self.terminal {
            if message.progress.is_empty() {
                writeln!(out, "{rendered}")?;
            }
            return Ok(());
        }
        match self.ids.iter().position(|i| *i == message.id) {
            Some(index) => {
                let up = self.ids.len() - index;
                write!(out, "\x1b[{up}A\x1b[2K\r{rendered}\x1b[{up}B\r")?;
            }
            None => {
                self.ids.push(message.id.clone());
                writeln!(out, "{rendered}")?;
            }
        }
        out.flush()?;
        Ok(())
    }
}

pub fn pull(session: &mut Session, flags: &Parsed) -> Result<i32, CliError> {
    let [name] = flags.args.as_slice() else {
        return Err(CliError::usage("\"berth pull\" requires exactly 1 argument: NAME[:TAG]", Some("pull")));
    };
    let (repo, tag) = split_repo_tag(name);
    let all = flags.bool(PULL_FLAGS, "all-tags");
    let tag = if all { None } else { Some(tag.unwrap_or("latest")) };
    if tag.is_some() && split_repo_tag(name).1.is_none() && !flags.bool(PULL_FLAGS, "quiet") {
        writeln!(session.out, "Using default tag: latest")?;
    }
    let mut path = format!("/images/create?fromImage={}", query_escape(repo));
    if let Some(tag) = tag {
        let _ = write!(path, "&tag={}", query_escape(tag));
    }
    let key = if registry_of(repo).is_none() { default_key(session) } else { String::new() };
    let auth = auth_header(registry_of(repo), &key);
    stream_progress(session, &path, auth, flags.bool(PULL_FLAGS, "quiet"))?;
    if flags.bool(PULL_FLAGS, "quiet") {
        writeln!(session.out, "{name}")?;
    }
    Ok(0)
}

pub fn push(session: &mut Session, flags: &Parsed) -> Result<i32, CliError> {
    let [name] = flags.args.as_slice() else {
        return Err(CliError::usage("\"berth push\" requires exactly 1 argument: NAME[:TAG]", Some("push")));
    };
    let (repo, tag) = split_repo_tag(name);
    let mut path = format!("/images/{}/push", path_escape(repo));
    if let Some(tag) = tag {
        let _ = write!(path, "?tag={}", query_escape(tag));
    }
    let key = if registry_of(repo).is_none() { default_key(session) } else { String::new() };
    let auth = auth_header(registry_of(repo), &key);
    stream_progress(session, &path, auth, flags.bool(PUSH_FLAGS, "quiet"))?;
    Ok(0)
}

fn prompt(session: &mut Session, label: &str) -> Result<String, CliError> {
    write!(session.out, "{label}")?;
    session.out.flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}

/// Reads a password with the terminal's echo off.
fn prompt_hidden(session: &mut Session, label: &str) -> Result<String, CliError> {
    use nix::sys::termios::{tcgetattr, tcsetattr, LocalFlags, SetArg};
    let stdin = std::io::stdin();
    let saved = if stdin.is_terminal() { tcgetattr(&stdin).ok() } else { None };
    if let Some(saved) = &saved {
        let mut quiet = saved.clone();
        quiet.local_flags.remove(LocalFlags::ECHO);
        let _ = tcsetattr(&stdin, SetArg::TCSANOW, &quiet);
    }
    let result = prompt(session, label);
    if let Some(saved) = &saved {
        let _ = tcsetattr(&stdin, SetArg::TCSANOW, saved);
        writeln!(session.out)?;
    }
    result
}

pub fn login(session: &mut Session, flags: &Parsed) -> Result<i32, CliError> {
    let server = flags.args.first().cloned();
    if flags.args.len() > 1 {
        return Err(CliError::usage("\"berth login\" takes at most 1 argument: [SERVER]", Some("login")));
    }
    let default = default_key(session);
    let key = server.clone().unwrap_or_else(|| default.clone());
    let mut username = flags.last("username").unwrap_or_default().to_string();
    if username.is_empty() {
        username = prompt(session, "Username: ")?;
    }
    let mut password = flags.last("password").unwrap_or_default().to_string();
    if flags.bool(LOGIN_FLAGS, "password-stdin") {
        let mut text = String::new();
        std::io::stdin().lock().read_line(&mut text)?;
        password = text.trim_end_matches(['\n', '\r']).to_string();
    } else if password.is_empty() {
        password = prompt_hidden(session, "Password: ")?;
    }
    let mut email = flags.last("email").unwrap_or_default().to_string();
    if email.is_empty() && !flags.given("username") && !flags.bool(LOGIN_FLAGS, "password-stdin") {
        email = prompt(session, "Email: ")?;
    }
    if username.is_empty() {
        return Err(CliError::Failed("Error: Non-null Username Required".into()));
    }
    let body = json!({"username": username, "password": password, "email": email, "serveraddress": key});
    let client = session.client()?;
    let reply = session.block_on(client.call(Method::POST, "/auth", Some(body.to_string().into())))?;
    let reply = berth_client::check(reply)?;
    let answer: Value = reply.json().unwrap_or_default();
    save_credentials(&key, &username, &password, &email)?;
    let status = answer.get("Status").and_then(Value::as_str).unwrap_or("Login Succeeded");
    writeln!(session.out, "{status}")?;
    Ok(0)
}

fn save_credentials(key: &str, username: &str, password: &str, email: &str) -> Result<(), CliError> {
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
    let path = config_path();
    let mut config = read_json(&path);
    let auths = config.entry("auths").or_insert_with(|| Value::Object(Map::new()));
    if let Value::Object(auths) = auths {
        auths.insert(key.to_string(), json!({"auth": auth}));
    }
    write_json(&path, &config)?;
    let legacy = dockercfg_path();
    if legacy.exists() {
        let mut old = read_json(&legacy);
        old.insert(key.to_string(), json!({"auth": auth, "email": email}));
        write_json(&legacy, &old)?;
    }
    Ok(())
}

pub fn logout(session: &mut Session, flags: &Parsed) -> Result<i32, CliError> {
    let key = match flags.args.first() {
        Some(server) => server.clone(),
        None => default_key(session),
    };
    let mut removed = false;
    for path in [config_path(), dockercfg_path()] {
        if !path.exists() {
            continue;
        }
        let mut config = read_json(&path);
        let table = if path == config_path() {
            config.get_mut("auths").and_then(Value::as_object_mut)
        } else {
            Some(&mut config)
        };
        if let Some(table) = table {
            let before = table.len();
            table.retain(|k, _| k != &key && host_of(k) != host_of(&key));
            removed |= table.len() != before;
        }
        write_json(&path, &config)?;
    }
    if removed {
        writeln!(session.out, "Removing login credentials for {key}")?;
    } else {
        writeln!(session.out, "Not logged in to {key}")?;
    }
    Ok(0)
}

pub fn search(session: &mut Session, flags: &Parsed) -> Result<i32, CliError> {
    let [term] = flags.args.as_slice() else {
        return Err(CliError::usage("\"berth search\" requires exactly 1 argument: TERM", Some("search")));
    };
    let mut filters: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let stars = flags.last("stars").unwrap_or("0");
    if stars != "0" {
        stars.parse::<u64>().map_err(|_| CliError::Failed(format!("invalid value {stars:?} for -s: give a number")))?;
        filters.entry("stars".into()).or_default().push(stars.to_string());
    }
    if flags.bool(SEARCH_FLAGS, "automated") || flags.bool(SEARCH_FLAGS, "trusted") {
        filters.entry("is-automated".into()).or_default().push("true".into());
    }
    for filter in flags.all("filter") {
        let (k, v) = filter
            .split_once('=')
            .ok_or_else(|| CliError::Failed(format!("bad format of filter (expected name=value): {filter}")))?;
        filters.entry(k.to_string()).or_default().push(v.to_string());
    }
    let mut path = format!("/images/search?term={}", query_escape(term));
    if !filters.is_empty() {
        let _ = write!(path, "&filters={}", query_escape(&serde_json::to_string(&filters)?));
    }
    if let Some(limit) = flags.last("limit").filter(|l| !l.is_empty()) {
        let _ = write!(path, "&limit={}", query_escape(limit));
    }
    let client = session.client()?;
    let hits: Vec<Value> = session.block_on(client.get_json(&path))?;
    let no_trunc = flags.bool(SEARCH_FLAGS, "no-trunc") || flags.bool(SEARCH_FLAGS, "notrunc");
    let mut table = Table::default();
    table.row(["NAME", "DESCRIPTION", "STARS", "OFFICIAL", "AUTOMATED"]);
    for hit in &hits {
        let text = |k: &str| hit.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
        let flag = |k: &str| hit.get(k).and_then(Value::as_bool).unwrap_or(false);
        let mut description = text("description").replace('\n', " ");
        if !no_trunc && description.chars().count() > 45 {
            description = format!("{}...", description.chars().take(42).collect::<String>());
        }
        let stars = hit.get("star_count").and_then(Value::as_u64).unwrap_or(0);
        table.row([
            text("name"),
            description,
            stars.to_string(),
            if flag("is_official") { "[OK]".into() } else { String::new() },
            if flag("is_automated") || flag("is_trusted") { "[OK]".into() } else { String::new() },
        ]);
    }
    write!(session.out, "{}", table.render())?;
    Ok(0)
}

/// `insert IMAGE URL PATH` (2014): asks the daemon through API 1.9, where insert lives.
pub fn insert(session: &mut Session, flags: &Parsed) -> Result<i32, CliError> {
    let [image, url, path] = flags.args.as_slice() else {
        return Err(CliError::usage("\"berth insert\" requires exactly 3 arguments: IMAGE URL PATH", Some("insert")));
    };
    let client = session.client()?.with_version(berth_api::ApiVersion::MIN);
    let request_path =
        format!("/images/{}/insert?url={}&path={}", path_escape(image), query_escape(url), query_escape(path));
    let reply = session.block_on(client.call(Method::POST, &request_path, None))?;
    let reply = berth_client::check(reply)?;
    let mut last = String::new();
    for line in String::from_utf8_lossy(&reply.body).lines().filter(|l| !l.trim().is_empty()) {
        let message: Message = serde_json::from_str(line)?;
        if !message.error.is_empty() {
            return Err(CliError::Failed(message.error));
        }
        last = message.status;
    }
    writeln!(session.out, "{last}")?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_hosts_and_keys() {
        assert_eq!(registry_of("127.0.0.1:5000/app"), Some("127.0.0.1:5000"));
        assert_eq!(registry_of("myname/app"), None);
        assert_eq!(host_of("https://index.docker.io/v1/"), "index.docker.io");
        assert_eq!(host_of("127.0.0.1:5000"), "127.0.0.1:5000");
    }

    #[test]
    fn terminal_redraws_lines_in_place() {
        let mut out = Vec::new();
        let mut r = Renderer::new(true, false);
        r.line(br#"{"status":"Pulling fs layer","id":"aaaaaaaaaaaa"}"#, &mut out).unwrap();
        r.line(br#"{"status":"Pulling fs layer","id":"bbbbbbbbbbbb"}"#, &mut out).unwrap();
        r.line(br#"{"status":"Downloading","progress":"[=>  ] 1B/2B","id":"aaaaaaaaaaaa"}"#, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.ends_with("\x1b[2A\x1b[2K\raaaaaaaaaaaa: Downloading [=>  ] 1B/2B\x1b[2B\r"), "{text:?}");
        let err = r.line(br#"{"error":"boom"}"#, &mut Vec::new()).unwrap_err();
        assert_eq!(err.to_string(), "boom");
    }
}
