//! `inspect`: containers and images by any name, as one JSON array, or each through a Go
//! template (`--format`, 5.1.17).

use super::images::path_escape;
use crate::flags::{Flag, Parsed};
use crate::template::Template;
use crate::{CliError, Session};
use berth_client::ClientError;
use http::StatusCode;
use std::io::Write;

pub const FLAGS: &[Flag] = &[
    Flag::value(Some('f'), "format", "", "Format the output using the given Go template"),
    Flag::value(None, "type", "", "Only look for a container or an image (container|image)"),
];

pub fn inspect(session: &mut Session, flags: &Parsed) -> Result<i32, CliError> {
    if flags.args.is_empty() {
        return Err(CliError::usage(
            "\"berth inspect\" requires at least one argument: CONTAINER|IMAGE",
            Some("inspect"),
        ));
    }
    let template = match flags.last("format").filter(|f| !f.is_empty()) {
        Some(text) => Some(Template::parse(text).map_err(|e| CliError::Failed(e.to_string()))?),
        None => None,
    };
    let kinds: &[&str] = match flags.last("type").unwrap_or("") {
        "" => &["containers", "images"],
        "container" => &["containers"],
        "image" => &["images"],
        other => {
            return Err(CliError::usage(format!("invalid --type {other:?}: use container or image"), Some("inspect")))
        }
    };
    let client = session.client()?;
    let mut found = Vec::new();
    let mut failed = false;
    for name in &flags.args {
        match session.block_on(find(&client, kinds, name))? {
            Some(value) => found.push(value),
            None => {
                failed = true;
                eprintln!("Error: No such image or container: {name}");
            }
        }
    }
    match template {
        Some(template) => {
            for value in &found {
                let text = template.render(value).map_err(|e| CliError::Failed(e.to_string()))?;
                writeln!(session.out, "{text}")?;
            }
        }
        None => writeln!(session.out, "{}", pretty(&serde_json::Value::Array(found))?)?,
    }
    Ok(if failed { 1 } else { 0 })
}

/// The first kind of object that has this name, or `None` when none has.
async fn find(
    client: &berth_client::Client,
    kinds: &[&str],
    name: &str,
) -> Result<Option<serde_json::Value>, ClientError> {
    for kind in kinds {
        let reply = client.call(http::Method::GET, &format!("/{kind}/{}/json", path_escape(name)), None).await?;
        if reply.status == StatusCode::NOT_FOUND {
            continue;
        }
        return Ok(Some(berth_client::check(reply)?.json()?));
    }
    Ok(None)
}

/// JSON indented by four spaces, as the CLI has always printed it.
fn pretty(value: &serde_json::Value) -> Result<String, CliError> {
    let mut out = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut serializer = serde_json::Serializer::with_formatter(&mut out, formatter);
    serde::Serialize::serialize(value, &mut serializer).map_err(|e| CliError::Failed(e.to_string()))?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}
