//! `berth registry` and `berth index`: the servers of section 5.4, run in the foreground until
//! SIGINT or SIGTERM, plus the index's administration commands (what the 2014 Hub did through
//! its web pages).

use berth_registry::{IndexAdmin, IndexConfig, RegistryConfig};
use std::path::PathBuf;

const REGISTRY_USAGE: &str = "\
Usage: berth registry [OPTIONS]

Run a registry (v1 of section 5.4 and the v2/OCI distribution API).

Options:
  -l, --listen ADDR     host:port or a unix socket path (default 0.0.0.0:5000)
  -r, --root DIR        storage root (default /var/lib/berth-registry)
      --index URL       the index that checks tokens (http://host:port); without it the
                        registry is standalone
      --htpasswd FILE   a standalone registry's users (bcrypt or argon2 hashes)
      --url URL         the address clients reach this registry at (default http://LISTEN)
";

const INDEX_USAGE: &str = "\
Usage: berth index [OPTIONS]
       berth index [--root DIR] activate USER | admin USER | private REPO | public REPO
                   | describe REPO TEXT | stars REPO N

Run an index (users, repositories, tokens, search; section 5.4), or change its records.

Options:
  -l, --listen ADDR     host:port or a unix socket path (default 0.0.0.0:5001)
  -r, --root DIR        where index.db and outbox/ live (default /var/lib/berth-index)
      --registry ADDR   a registry named in X-Docker-Endpoints (repeatable)
";

struct Options {
    listen: Option<String>,
    root: Option<PathBuf>,
    index: Option<String>,
    htpasswd: Option<PathBuf>,
    url: Option<String>,
    registries: Vec<String>,
    words: Vec<String>,
}

fn parse(name: &str, args: &[String]) -> Result<Options, String> {
    let mut o = Options {
        listen: None,
        root: None,
        index: None,
        htpasswd: None,
        url: None,
        registries: Vec::new(),
        words: Vec::new(),
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with('-') => (f, Some(v.to_string())),
            _ => (arg.as_str(), None),
        };
        let mut value =
            || inline.clone().or_else(|| it.next().cloned()).ok_or(format!("flag needs an argument: {flag}"));
        match (name, flag) {
            (_, "-l" | "--listen") => o.listen = Some(value()?),
            (_, "-r" | "--root") => o.root = Some(value()?.into()),
            ("registry", "--index") => o.index = Some(value()?),
            ("registry", "--htpasswd") => o.htpasswd = Some(value()?.into()),
            ("registry", "--url") => o.url = Some(value()?),
            ("index", "--registry") => o.registries.push(value()?),
            (_, flag) if flag.starts_with('-') && flag.len() > 1 => return Err(format!("unknown flag: {flag}")),
            _ => o.words.push(arg.clone()),
        }
    }
    Ok(o)
}

/// Runs `berth registry ARGS` or `berth index ARGS`; the exit status.
pub fn main(name: &str, args: &[String]) -> i32 {
    let usage = if name == "registry" { REGISTRY_USAGE } else { INDEX_USAGE };
    if args.iter().any(|a| a == "-h" || a == "--help") {
        print!("{usage}");
        return 0;
    }
    let options = match parse(name, args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("berth {name}: {e}\nSee 'berth {name} --help'.");
            return 2;
        }
    };
    crate::init_logging(false);
    let result = if name == "registry" { registry(options) } else { index(options) };
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("berth {name}: {e}");
            1
        }
    }
}

fn registry(o: Options) -> Result<(), String> {
    if let Some(word) = o.words.first() {
        return Err(format!("unexpected argument {word:?}; see 'berth registry --help'"));
    }
    let listen = o.listen.unwrap_or_else(|| "0.0.0.0:5000".into());
    let config = RegistryConfig {
        registry_url: o.url.unwrap_or_else(|| format!("http://{listen}")),
        listen,
        root: o.root.unwrap_or_else(|| "/var/lib/berth-registry".into()),
        index_url: o.index,
        htpasswd: o.htpasswd,
    };
    serve(|shutdown| async move { berth_registry::run_registry(config, shutdown).await })
}

fn index(o: Options) -> Result<(), String> {
    let root = o.root.unwrap_or_else(|| "/var/lib/berth-index".into());
    if !o.words.is_empty() {
        return admin(&root, &o.words);
    }
    let config = IndexConfig {
        listen: o.listen.unwrap_or_else(|| "0.0.0.0:5001".into()),
        root,
        registry_endpoints: o.registries,
    };
    serve(|shutdown| async move { berth_registry::run_index(config, shutdown).await })
}

fn admin(root: &std::path::Path, words: &[String]) -> Result<(), String> {
    let admin = IndexAdmin::open(root).map_err(|e| e.to_string())?;
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    let result = match words.as_slice() {
        ["activate", user] => admin.activate(user),
        ["admin", user] => admin.set_admin(user, true),
        ["private", repo] => admin.set_private(repo, true),
        ["public", repo] => admin.set_private(repo, false),
        ["describe", repo, text] => admin.set_description(repo, text),
        ["stars", repo, n] => {
            let n = n.parse().map_err(|_| format!("not a number of stars: {n:?}"))?;
            admin.set_stars(repo, n)
        }
        _ => return Err(format!("unknown index command {:?}; see 'berth index --help'", words.join(" "))),
    };
    result.map_err(|e| e.to_string())
}

/// Runs a server on a fresh runtime until SIGINT or SIGTERM.
fn serve<F, Fut>(run: F) -> Result<(), String>
where
    F: FnOnce(std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>) -> Fut,
    Fut: std::future::Future<Output = Result<(), berth_registry::RegistryError>>,
{
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .map_err(|e| format!("cannot handle SIGTERM: {e}"))?;
        let shutdown = Box::pin(async move {
            tokio::select! { _ = tokio::signal::ctrl_c() => {}, _ = term.recv() => {} }
        });
        run(shutdown).await.map_err(|e| e.to_string())
    })
}
