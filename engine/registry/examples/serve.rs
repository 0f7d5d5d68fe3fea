//! Runs a registry (or, with `--index`, an index) in the foreground until Ctrl-C or SIGTERM, for
//! scripts such as `tests/skopeo.sh` while the `berth registry` command is not wired up.
//!
//! `cargo run -p berth-registry --example serve -- LISTEN ROOT [--index-url URL] [--htpasswd FILE]`
//! `cargo run -p berth-registry --example serve -- --index LISTEN ROOT REGISTRY_ENDPOINT`

use berth_registry::{run_index, run_registry, IndexConfig, RegistryConfig};
use std::path::PathBuf;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let shutdown = async {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
        tokio::select! { _ = tokio::signal::ctrl_c() => {}, _ = term.recv() => {} }
    };
    if args.first().map(String::as_str) == Some("--index") {
        let [_, listen, root, endpoint] = &args[..] else {
            return Err("usage: --index LISTEN ROOT REGISTRY_ENDPOINT".into());
        };
        let config =
            IndexConfig { listen: listen.clone(), root: root.into(), registry_endpoints: vec![endpoint.clone()] };
        return Ok(run_index(config, shutdown).await?);
    }
    let (Some(listen), Some(root)) = (args.first(), args.get(1)) else {
        return Err("usage: LISTEN ROOT [--index-url URL] [--htpasswd FILE]".into());
    };
    let option = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
    let config = RegistryConfig {
        listen: listen.clone(),
        root: PathBuf::from(root),
        index_url: option("--index-url"),
        htpasswd: option("--htpasswd").map(PathBuf::from),
        registry_url: format!("http://{listen}"),
    };
    eprintln!("registry on {listen}, root {root}");
    Ok(run_registry(config, shutdown).await?)
}
