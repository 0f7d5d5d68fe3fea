//! `POST /build`: a context (tar, a Dockerfile alone, or a `remote` git repository) built
//! into an image, answered with the JSON message stream of the classic builder. Errors found
//! before the first step (bad options, a malformed Dockerfile) are plain 400s; later ones
//! end the stream with an `errorDetail`, as Docker does.

use super::response::{ApiError, Reply};
use super::stream::{body_channel, BodyReader};
use super::Ctx;
use crate::build::BuildBackend;
use berth_api::progress::{ErrorDetail, Message};
use berth_builder::{BuildError, Context, Options};
use berth_registry::distribution::AuthConfigs;
use http::{header, HeaderValue, Response, StatusCode};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

impl From<BuildError> for ApiError {
    fn from(e: BuildError) -> ApiError {
        match e {
            BuildError::NotFound(_) => ApiError::not_found(e.to_string()),
            e if e.is_invalid() => ApiError::bad_request(e.to_string()),
            e => ApiError::internal(e.to_string()),
        }
    }
}

pub async fn build(mut ctx: Ctx) -> Result<Reply, ApiError> {
    let options = options(&ctx)?;
    let registry_configs = registry_configs(&ctx)?;
    let dockerfile_name = ctx.query.get("dockerfile").filter(|d| !d.is_empty()).unwrap_or("Dockerfile").to_string();
    let mut remote = ctx.query.get("remote").filter(|r| !r.is_empty()).map(String::from);
    // An http(s) URL that is not a git repository is fetched and read as a body would be: a
    // tar context, or a Dockerfile alone.
    let fetched = match remote.as_deref() {
        Some(url) if is_http(url) && !is_git_url(url) => {
            let body = super::fetch::get(url).await?;
            remote = None;
            Some(BodyReader::new(body))
        }
        _ => None,
    };
    let work = ctx.engine.images.scratch_dir()?;
    let body = match fetched {
        Some(body) => body,
        None => BodyReader::new(ctx.take_body()?),
    };
    let prepared = {
        let (work, options) = (work.clone(), options.clone());
        tokio::task::spawn_blocking(move || prepare(body, remote, &work, &dockerfile_name, &options))
            .await
            .map_err(|e| ApiError::internal(e.to_string()))?
    };
    let (context, dockerfile) = match prepared {
        Ok(prepared) => prepared,
        Err(e) => {
            let _ = berth_image::fsutil::remove_tree(&work);
            return Err(e.into());
        }
    };
    let network_mode = match ctx.query.get("networkmode").unwrap_or_default() {
        "" | "default" => String::new(),
        mode @ ("none" | "host" | "bridge") => mode.to_string(),
        other => {
            return Err(ApiError::bad_request(format!(
                "networkmode {other:?}: a build runs on default, bridge, none or host"
            )))
        }
    };
    let backend = BuildBackend {
        engine: ctx.engine.clone(),
        runtime: tokio::runtime::Handle::current(),
        network_mode,
        registry_configs,
    };
    let (mut writer, body) = body_channel();
    tokio::task::spawn_blocking(move || {
        let mut send = |message: Message| {
            let _ = writer.write_all(&message.to_line());
            let _ = writer.flush();
        };
        if let Err(e) = berth_builder::run(&dockerfile, &context, &options, &backend, &work, &mut send) {
            tracing::info!("build failed: {e}");
            let message = e.to_string();
            send(Message {
                error: message.clone(),
                error_detail: Some(ErrorDetail { code: e.exit_code(), message }),
                ..Default::default()
            });
        }
        // The client has its answer before the scratch files go.
        drop(writer);
        let _ = berth_image::fsutil::remove_tree(&work);
    });
    let mut reply = Response::new(body);
    reply.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    *reply.status_mut() = StatusCode::OK;
    Ok(reply)
}

/// The credentials per registry in `X-Registry-Config` (1.9), for pulling FROM images.
fn registry_configs(ctx: &Ctx) -> Result<AuthConfigs, ApiError> {
    let value = ctx.head.headers.get("x-registry-config").and_then(|v| v.to_str().ok()).unwrap_or_default();
    Ok(AuthConfigs::from_header(value)?)
}

fn is_http(url: &str) -> bool {
    url.starts_with("http://") || url.starts_with("https://")
}

/// A git repository by the URL's look: `.git` at the end of its path, or a `#ref` fragment.
fn is_git_url(url: &str) -> bool {
    let (path, fragment) = url.split_once('#').map_or((url, None), |(p, f)| (p, Some(f)));
    fragment.is_some() || path.trim_end_matches('/').ends_with(".git")
}

/// Unpacks or fetches the context and parses its Dockerfile (blocking).
fn prepare(
    body: BodyReader,
    remote: Option<String>,
    work: &std::path::Path,
    dockerfile_name: &str,
    options: &Options,
) -> Result<(Context, berth_dockerfile::Dockerfile), BuildError> {
    let dir: PathBuf = work.join("context");
    std::fs::create_dir_all(&dir)
        .map_err(|source| BuildError::Io { what: "create the context directory".into(), source })?;
    let context = match remote {
        Some(url) => berth_builder::context::from_git(&url, &dir, dockerfile_name)?,
        None => berth_builder::context::from_body(body, &dir, dockerfile_name)?,
    };
    let dockerfile = berth_builder::parse(&context.dockerfile, options)?;
    Ok((context, dockerfile))
}

fn options(ctx: &Ctx) -> Result<Options, ApiError> {
    let q = &ctx.query;
    let mut tags = Vec::new();
    for t in q.all("t").into_iter().filter(|t| !t.is_empty()) {
        let reference =
            berth_image::Reference::parse(t).map_err(|e| ApiError::bad_request(format!("invalid tag {t:?}: {e}")))?;
        if reference.digest.is_some() {
            return Err(ApiError::bad_request(format!("invalid tag {t:?}: a build can't be tagged with a digest")));
        }
        tags.push((reference.repository.clone(), reference.tag_or_latest().to_string()));
    }
    Ok(Options {
        tags,
        quiet: q.bool("q", false)?,
        no_cache: q.bool("nocache", false)?,
        rm: q.bool("rm", true)?,
        force_rm: q.bool("forcerm", false)?,
        build_args: json_param(q.get("buildargs"), "buildargs")?,
        labels: json_param::<String>(q.get("labels"), "labels")?,
        target: q.get("target").filter(|t| !t.is_empty()).map(String::from),
        legacy_output: ctx.version.before(1, 28),
        aux_id: !ctx.version.before(1, 31),
    })
}

/// A JSON object parameter (`buildargs`, `labels`); absent or empty is an empty map.
fn json_param<T: serde::de::DeserializeOwned>(text: Option<&str>, name: &str) -> Result<BTreeMap<String, T>, ApiError> {
    match text.filter(|t| !t.is_empty() && *t != "null") {
        None => Ok(BTreeMap::new()),
        Some(text) => serde_json::from_str(text).map_err(|e| {
            ApiError::bad_request(format!("invalid {name} parameter: a JSON object of strings is expected: {e}"))
        }),
    }
}
