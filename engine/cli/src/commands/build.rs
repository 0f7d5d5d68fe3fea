//! `build PATH | URL | -`: sends a context (a directory as a tar, less what `.dockerignore`
//! leaves out; a git URL for the daemon to clone; standard input) to `POST /build` and prints
//! the classic builder's stream as it arrives.

use super::images::query_escape;
use crate::flags::{Flag, Parsed};
use crate::output::human_size;
use crate::{CliError, Session};
use berth_api::progress::Message;
use berth_builder::ignore::Ignore;
use berth_client::{body_from_bytes, body_from_reader, RequestBody};
use http::Method;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

pub const FLAGS: &[Flag] = &[
    Flag::multi(Some('t'), "tag", "Repository name (and optionally a tag) for the image, name:tag"),
    Flag::boolean(Some('q'), "quiet", false, "Suppress the build output and print the image ID on success"),
    Flag::boolean(None, "no-cache", false, "Do not use the cache when building the image"),
    Flag::boolean(None, "rm", true, "Remove intermediate containers after a successful build"),
    Flag::boolean(None, "force-rm", false, "Always remove intermediate containers"),
    Flag::value(Some('f'), "file", "", "Name of the Dockerfile (default is 'PATH/Dockerfile')"),
    Flag::multi(None, "build-arg", "Set build-time variables"),
    Flag::multi(None, "label", "Set metadata for an image"),
    Flag::value(None, "target", "", "Set the target build stage to build"),
    Flag::value(None, "network", "", "The network RUN steps use (default, bridge, none or host)"),
];

pub fn build(session: &mut Session, flags: &Parsed) -> Result<i32, CliError> {
    let [source] = flags.args.as_slice() else {
        return Err(CliError::usage(
            "\"build\" requires exactly 1 argument: PATH, URL or -".to_string(),
            Some("build"),
        ));
    };
    let mut query = query(flags)?;
    let quiet = flags.bool(FLAGS, "quiet");
    let body = if source == "-" {
        stdin_context()?
    } else if is_remote(source) {
        query.push(("remote".into(), source.clone()));
        body_from_bytes(bytes::Bytes::new())
    } else {
        let (body, size, dockerfile) =
            directory_context(Path::new(source), flags.last("file").filter(|f| !f.is_empty()))?;
        if let Some(name) = dockerfile {
            query.push(("dockerfile".into(), name));
        }
        if !quiet {
            writeln!(
                session.out,
                "Sending build context to Docker daemon  {}",
                human_size(size as i64).replace(' ', "")
            )?;
        }
        body
    };
    if source == "-" || is_remote(source) {
        if let Some(file) = flags.last("file").filter(|f| !f.is_empty()) {
            query.push(("dockerfile".into(), file.to_string()));
        }
    }
    let path = format!(
        "/build?{}",
        query.iter().map(|(k, v)| format!("{k}={}", query_escape(v))).collect::<Vec<_>>().join("&")
    );
    let client = session.client()?;
    let mut out = std::mem::replace(&mut session.out, Box::new(std::io::sink()));
    let result = session.block_on(stream_build(&client, &path, body, &mut out));
    session.out = out;
    match result? {
        None => Ok(0),
        Some((code, message)) => Err(CliError::Exit { code, message }),
    }
}

/// Sends the build and prints its stream; a failure gives the exit status and message.
async fn stream_build(
    client: &berth_client::Client,
    path: &str,
    body: RequestBody,
    out: &mut Box<dyn Write>,
) -> Result<Option<(i32, String)>, CliError> {
    let response = client.stream(Method::POST, path, body, Some("application/x-tar")).await?;
    super::each_line(response.into_body(), |line| print_line(line, out)).await
}

/// Prints one message; an error message gives the exit status (a failed `RUN`'s code) and text.
fn print_line(line: &[u8], out: &mut Box<dyn Write>) -> Result<Option<(i32, String)>, CliError> {
    let text = String::from_utf8_lossy(line);
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let message: Message =
        serde_json::from_str(text).map_err(|e| CliError::Failed(format!("the daemon sent {text:?}: {e}")))?;
    if !message.error.is_empty() {
        let code = message.error_detail.and_then(|d| d.code).filter(|c| *c != 0).unwrap_or(1);
        return Ok(Some((code as i32, message.error)));
    }
    if !message.stream.is_empty() {
        write!(out, "{}", message.stream)?;
        out.flush()?;
    } else if !message.status.is_empty() {
        writeln!(out, "{}", message.status)?;
    }
    Ok(None)
}

fn query(flags: &Parsed) -> Result<Vec<(String, String)>, CliError> {
    let mut query: Vec<(String, String)> = flags.all("tag").iter().map(|t| ("t".to_string(), t.clone())).collect();
    for (name, flag) in [("q", "quiet"), ("nocache", "no-cache"), ("rm", "rm"), ("forcerm", "force-rm")] {
        query.push((name.into(), u8::from(flags.bool(FLAGS, flag)).to_string()));
    }
    let mut args: BTreeMap<String, Option<String>> = BTreeMap::new();
    for arg in flags.all("build-arg") {
        match arg.split_once('=') {
            Some((k, v)) => args.insert(k.to_string(), Some(v.to_string())),
            None => args.insert(arg.clone(), std::env::var(arg).ok()),
        };
    }
    if !args.is_empty() {
        query.push(("buildargs".into(), serde_json::to_string(&args).map_err(|e| CliError::Failed(e.to_string()))?));
    }
    let labels: BTreeMap<&str, &str> =
        flags.all("label").iter().map(|l| l.split_once('=').unwrap_or((l.as_str(), ""))).collect();
    if !labels.is_empty() {
        query.push(("labels".into(), serde_json::to_string(&labels).map_err(|e| CliError::Failed(e.to_string()))?));
    }
    if let Some(network) = flags.last("network").filter(|n| !n.is_empty()) {
        query.push(("networkmode".into(), network.to_string()));
    }
    if let Some(target) = flags.last("target").filter(|t| !t.is_empty()) {
        query.push(("target".into(), target.to_string()));
    }
    Ok(query)
}

/// Git repositories the daemon clones itself, as the docker CLI tells them apart.
fn is_remote(source: &str) -> bool {
    ["git://", "git@", "github.com/", "http://", "https://", "file://"].iter().any(|p| source.starts_with(p))
        || (source.ends_with(".git") && !Path::new(source).is_dir())
}

/// Standard input: a tar context or a Dockerfile alone; the daemon tells which.
fn stdin_context() -> Result<RequestBody, CliError> {
    let mut data = Vec::new();
    std::io::stdin().read_to_end(&mut data)?;
    Ok(body_from_bytes(bytes::Bytes::from(data)))
}

/// The directory as a streamed tar, its size, and the Dockerfile's name in it (`-f`); a
/// Dockerfile outside the directory is added to the tar under a name of its own.
fn directory_context(dir: &Path, file: Option<&str>) -> Result<(RequestBody, u64, Option<String>), CliError> {
    if !dir.is_dir() {
        return Err(CliError::Failed(format!(
            "unable to prepare context: path {:?} not found",
            dir.display().to_string()
        )));
    }
    let ignore = std::fs::read_to_string(dir.join(".dockerignore")).map(|t| Ignore::parse(&t)).unwrap_or_default();
    let (dockerfile_name, outside) = match file {
        None => (None, None),
        Some(file) => {
            let path = PathBuf::from(file);
            let absolute = std::fs::canonicalize(&path)
                .map_err(|e| CliError::Failed(format!("unable to prepare context: the Dockerfile {file}: {e}")))?;
            let root = std::fs::canonicalize(dir)?;
            match absolute.strip_prefix(&root) {
                Ok(relative) => (Some(relative.to_string_lossy().into_owned()), None),
                Err(_) => (Some(".dockerfile.berth".to_string()), Some(absolute)),
            }
        }
    };
    let keep = dockerfile_name.clone().unwrap_or_else(|| "Dockerfile".into());
    let mut files = Vec::new();
    berth_builder::ignore::walk(dir, &mut |rel, meta| {
        if rel == keep || rel == ".dockerignore" || !ignore.excludes(rel) {
            files.push((rel.to_string(), meta.len()));
        }
    })?;
    let size = files.iter().map(|(_, len)| len).sum();
    let dir = dir.to_path_buf();
    let (reader, mut writer) = std::os::unix::net::UnixStream::pair()?;
    std::thread::spawn(move || {
        let mut tar = tar::Builder::new(&mut writer);
        tar.follow_symlinks(false);
        for (rel, _) in &files {
            if let Err(e) = tar.append_path_with_name(dir.join(rel), rel) {
                eprintln!("cannot add {rel} to the build context: {e}");
                return;
            }
        }
        if let Some(outside) = &outside {
            let _ = tar.append_path_with_name(outside, ".dockerfile.berth");
        }
        let _ = tar.finish();
    });
    Ok((body_from_reader(reader), size, dockerfile_name))
}

#[cfg(test)]
mod tests {
    use super::is_remote;

    #[test]
    fn remote_sources_are_told_from_paths() {
        assert!(is_remote("git://host/repo"));
        assert!(is_remote("file:///srv/repo.git"));
        assert!(is_remote("https://github.com/x/y.git"));
        assert!(!is_remote("."));
        assert!(!is_remote("./app"));
    }
}
