//! Images: listing, names, removal, history, import, save and load (5.1.12–5.1.14, 5.1.19,
//! 5.1.28, 5.1.30, 5.1.34, 7.3 and the image endpoints). Cases work on names of their own and
//! on images they import, never on the shared busybox fixture's own tag.

use crate::engine::{CliRun, Engine};
use crate::outcome::{skip, Outcome, SkipKind};
use anyhow::{ensure, Context};
use http::{Method, StatusCode};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::Arc;

const BASE: &str = "busybox";

/// Runs a case body, then removes the named images whatever happened.
async fn cleaning<F>(e: &Engine, names: &[&str], body: F) -> anyhow::Result<Outcome>
where
    F: std::future::Future<Output = anyhow::Result<Outcome>>,
{
    let result = body.await;
    if !names.is_empty() {
        let mut args = vec!["rmi", "-f"];
        args.extend_from_slice(names);
        let _ = e.cli(&args).await;
    }
    result
}

/// Imports the busybox root file system as `name`, returning the new image's id.
async fn import(e: &Engine, name: &str) -> anyhow::Result<String> {
    e.cli_stdin(&["import", "-", name], &e.fixture("busybox-rootfs.tar")).await?.success()?;
    e.image_id(name).await
}

async fn exists(e: &Engine, name: &str) -> anyhow::Result<bool> {
    Ok(e.get(&format!("/images/{name}/json")).await?.status == StatusCode::OK)
}

fn lines_starting<'a>(out: &'a str, start: &str) -> Vec<&'a str> {
    out.lines().filter(|l| l.split_whitespace().next() == Some(start)).collect()
}

/// A scratch file path of the case's own, removed when dropped.
struct TempFile(PathBuf);

impl TempFile {
    fn new(e: &Engine, what: &str) -> TempFile {
        TempFile(std::env::temp_dir().join(e.unique(what)))
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// `images` lists REPOSITORY, TAG, IMAGE ID (12 characters), CREATED and VIRTUAL SIZE.
pub async fn columns(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let out = e.cli(&["images"]).await?.success()?.stdout;
    let header = out.lines().next().context("no output")?;
    for column in ["REPOSITORY", "TAG", "IMAGE ID", "CREATED"] {
        ensure!(header.contains(column), "no {column} column: {header}");
    }
    let id = e.image_id(BASE).await?;
    let row = lines_starting(&out, BASE).into_iter().next().with_context(|| format!("no {BASE} row:\n{out}"))?;
    ensure!(
        row.contains(&id[..12]) && !row.contains(&id[..13]),
        "the row does not show the 12-character id {}: {row}",
        &id[..12]
    );
    ensure!(row.contains(" ago"), "CREATED is not relative: {row}");
    if !header.contains("VIRTUAL SIZE") {
        ensure!(header.contains("SIZE"), "no size column: {header}");
        return Ok(skip(
            SkipKind::Divergence,
            "the CLI titles the column SIZE: later Docker shows one size, no longer a virtual one",
        ));
    }
    Ok(Outcome::Passed)
}

/// One row per `repo:tag`, all with the same id; `tag` adds a name for the same image.
pub async fn one_row_per_tag(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let (a, b) = (format!("{}:one", e.unique("row")), format!("{}:two", e.unique("row")));
    cleaning(&e, &[&a, &b], async {
        e.cli(&["tag", BASE, &a]).await?.success()?;
        e.cli(&["tag", BASE, &b]).await?.success()?;
        let id = e.image_id(BASE).await?;
        ensure!(e.image_id(&a).await? == id, "{a} names another image");
        let out = e.cli(&["images"]).await?.success()?.stdout;
        for name in [&a, &b] {
            let repo = name.split(':').next().unwrap_or_default();
            let rows = lines_starting(&out, repo);
            ensure!(
                rows.len() == 1 && rows[0].contains(&id[..12]),
                "expected one row for {repo} with id {}:\n{out}",
                &id[..12]
            );
        }
        Ok(Outcome::Passed)
    })
    .await
}

/// `tag IMAGE repo` means `repo:latest`.
pub async fn tag_default_latest(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let repo = e.unique("latest");
    let latest = format!("{repo}:latest");
    cleaning(&e, &[&latest], async {
        e.cli(&["tag", BASE, &repo]).await?.success()?;
        ensure!(e.image_id(&latest).await? == e.image_id(BASE).await?, "{latest} does not name {BASE}");
        Ok(Outcome::Passed)
    })
    .await
}

/// Moving an existing tag to another image needs `-f`; without it the tag stays.
pub async fn tag_conflict(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let other = format!("{}:imported", e.unique("other"));
    let target = format!("{}:t", e.unique("moving"));
    cleaning(&e, &[&target, &other], async {
        let imported = import(&e, &other).await?;
        e.cli(&["tag", BASE, &target]).await?.success()?;
        let help = e.cli(&["tag", "--help"]).await?;
        if !format!("{}{}", help.stdout, help.stderr).contains("--force") {
            return Ok(skip(
                SkipKind::Divergence,
                "the CLI's `tag` has no -f/--force: later Docker always moves an existing tag",
            ));
        }
        let refused = e.cli(&["tag", &imported[..12], &target]).await?;
        ensure!(refused.status != Some(0), "moving {target} without -f succeeded");
        ensure!(e.image_id(&target).await? == e.image_id(BASE).await?, "{target} moved without -f");
        e.cli(&["tag", "-f", &imported[..12], &target]).await?.success()?;
        ensure!(e.image_id(&target).await? == imported, "{target} did not move with -f");
        Ok(Outcome::Passed)
    })
    .await
}

/// `POST /images/(name)/tag`: 201, 400 for a bad name, 404 for an unknown image, 409 for a
/// taken tag without force (API versions before 1.25).
pub async fn api_tag(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let repo = e.unique("apitag");
    let other = format!("{}:imported", e.unique("apiother"));
    let first = format!("{repo}:t");
    cleaning(&e, &[&first, &other], async {
        let ok = e.call(Method::POST, &format!("/images/{BASE}/tag?repo={repo}&tag=t")).await?;
        ensure!(ok.status == StatusCode::CREATED, "tag answered {}", ok.status);
        let bad = e.call(Method::POST, &format!("/images/{BASE}/tag?repo=Bad%20Name!&tag=t")).await?;
        ensure!(bad.status == StatusCode::BAD_REQUEST, "a bad repository name answered {}", bad.status);
        let missing = e.call(Method::POST, &format!("/images/{}/tag?repo={repo}", e.unique("missing"))).await?;
        ensure!(missing.status == StatusCode::NOT_FOUND, "an unknown image answered {}", missing.status);
        let imported = import(&e, &other).await?;
        let old = e.min_api();
        let taken = e.call(Method::POST, &format!("/v{old}/images/{imported}/tag?repo={repo}&tag=t")).await?;
        if taken.status == StatusCode::CREATED {
            return Ok(skip(
                SkipKind::Divergence,
                format!(
                    "even at API {old} the engine moves a taken tag without force (Docker dropped `force` in API 1.25)"
                ),
            ));
        }
        ensure!(taken.status == StatusCode::CONFLICT, "a taken tag without force answered {}", taken.status);
        Ok(Outcome::Passed)
    })
    .await
}

fn has_lines(run: &CliRun, untagged: bool, deleted: bool) -> anyhow::Result<()> {
    let out = &run.stdout;
    ensure!(out.contains("Untagged:") == untagged, "Untagged line expected={untagged}:\n{out}");
    ensure!(out.contains("Deleted:") == deleted, "Deleted line expected={deleted}:\n{out}");
    Ok(())
}

/// Removing the last name prints Untagged then Deleted, and the image is gone.
pub async fn rmi_last_name(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("rmilast");
    cleaning(&e, &[&name], async {
        import(&e, &name).await?;
        let run = e.cli(&["rmi", &name]).await?.success()?;
        has_lines(&run, true, true)?;
        ensure!(!exists(&e, &name).await?, "{name} is still there");
        Ok(Outcome::Passed)
    })
    .await
}

/// The 12-character and the 64-character id both remove a singly-named image.
pub async fn rmi_by_id(e: Arc<Engine>, long: bool) -> anyhow::Result<Outcome> {
    let name = e.unique("rmiid");
    cleaning(&e, &[&name], async {
        let id = import(&e, &name).await?;
        let by = if long { id.clone() } else { id[..12].to_string() };
        e.cli(&["rmi", &by]).await?.success()?;
        ensure!(!exists(&e, &id).await?, "{id} is still there");
        Ok(Outcome::Passed)
    })
    .await
}

pub async fn rmi_by_short_id(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    rmi_by_id(e, false).await
}

pub async fn rmi_by_long_id(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    rmi_by_id(e, true).await
}

/// An id named in several repositories is not removed without force; its names remain.
pub async fn rmi_conflict(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let (a, b) = (e.unique("multia"), e.unique("multib"));
    cleaning(&e, &[&a, &b], async {
        let id = import(&e, &a).await?;
        e.cli(&["tag", &a, &b]).await?.success()?;
        let run = e.cli(&["rmi", &id[..12]]).await?;
        ensure!(run.status != Some(0), "rmi of a doubly-named id succeeded");
        ensure!(
            run.stderr.to_lowercase().contains("multiple"),
            "the error does not say it is in several repositories: {}",
            run.stderr
        );
        ensure!(exists(&e, &a).await? && exists(&e, &b).await?, "a name was removed");
        Ok(Outcome::Passed)
    })
    .await
}

/// Removing one of two names only untags; the image stays under the other.
pub async fn rmi_untag(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let (a, b) = (e.unique("untaga"), e.unique("untagb"));
    cleaning(&e, &[&a, &b], async {
        let id = import(&e, &a).await?;
        e.cli(&["tag", &a, &b]).await?.success()?;
        let run = e.cli(&["rmi", &a]).await?.success()?;
        has_lines(&run, true, false)?;
        ensure!(e.image_id(&b).await? == id, "{b} lost its image");
        ensure!(!exists(&e, &a).await?, "{a} still resolves");
        Ok(Outcome::Passed)
    })
    .await
}

/// `rmi A B` removes each.
pub async fn rmi_multiple(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let (a, b) = (e.unique("multi1"), e.unique("multi2"));
    cleaning(&e, &[&a, &b], async {
        import(&e, &a).await?;
        import(&e, &b).await?;
        e.cli(&["rmi", &a, &b]).await?.success()?;
        ensure!(!exists(&e, &a).await? && !exists(&e, &b).await?, "not both removed");
        Ok(Outcome::Passed)
    })
    .await
}

/// Removing an unknown image fails with an error.
pub async fn rmi_unknown(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let run = e.cli(&["rmi", &e.unique("nosuchimage")]).await?;
    ensure!(run.status != Some(0) && !run.stderr.trim().is_empty(), "exit {:?}, stderr {:?}", run.status, run.stderr);
    Ok(Outcome::Passed)
}

/// `DELETE /images/(name)`: 404 unknown, 409 for several repositories, 200 with the lines.
pub async fn api_delete(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let (a, b) = (e.unique("apidela"), e.unique("apidelb"));
    cleaning(&e, &[&a, &b], async {
        let missing = e.call(Method::DELETE, &format!("/images/{}", e.unique("missing"))).await?;
        ensure!(missing.status == StatusCode::NOT_FOUND, "unknown image: {}", missing.status);
        let id = import(&e, &a).await?;
        e.cli(&["tag", &a, &b]).await?.success()?;
        let conflict = e.call(Method::DELETE, &format!("/images/{id}")).await?;
        ensure!(conflict.status == StatusCode::CONFLICT, "several repositories: {}", conflict.status);
        e.cli(&["rmi", &b]).await?.success()?;
        let done = e.call(Method::DELETE, &format!("/images/{a}")).await?;
        ensure!(done.status == StatusCode::OK, "delete answered {}", done.status);
        let items: Vec<Value> = done.json()?;
        let kinds: Vec<&str> = items.iter().filter_map(|i| i.as_object()?.keys().next().map(String::as_str)).collect();
        ensure!(kinds.contains(&"Untagged") && kinds.contains(&"Deleted"), "answer lacks Untagged/Deleted: {items:?}");
        Ok(Outcome::Passed)
    })
    .await
}

/// `history` shows IMAGE, CREATED and CREATED BY, newest first.
pub async fn history_basic(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let out = e.cli(&["history", BASE]).await?.success()?.stdout;
    let header = out.lines().next().context("no output")?;
    for column in ["IMAGE", "CREATED", "CREATED BY"] {
        ensure!(header.contains(column), "no {column} column: {header}");
    }
    let first = out.lines().nth(1).context("no rows")?;
    let id = e.image_id(BASE).await?;
    ensure!(first.contains(&id[..12]) || first.contains(BASE), "the first row is not the image itself: {first}");
    Ok(Outcome::Passed)
}

/// `history -q` prints only ids; `--no-trunc` prints them whole.
pub async fn history_quiet(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let out = e.cli(&["history", "-q", BASE]).await?.success()?.stdout;
    let id = e.image_id(BASE).await?;
    ensure!(out.lines().next() == Some(&id[..12]), "first line is not the short id:\n{out}");
    ensure!(
        out.lines().all(|l| l == "<missing>" || (l.len() == 12 && l.bytes().all(|b| b.is_ascii_hexdigit()))),
        "not only ids:\n{out}"
    );
    Ok(Outcome::Passed)
}

pub async fn history_no_trunc(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let ids = e.cli(&["history", "--no-trunc", "-q", BASE]).await?.success()?.stdout;
    let id = e.image_id(BASE).await?;
    ensure!(
        ids.lines().next().is_some_and(|l| l.trim_start_matches("sha256:") == id),
        "the full id {id} is not shown:\n{ids}"
    );
    let out = e.cli(&["history", "--no-trunc", BASE]).await?.success()?.stdout;
    let long = out.lines().skip(1).find(|l| l.contains("ADD")).with_context(|| format!("no ADD step:\n{out}"))?;
    ensure!(!long.contains("...") && !long.contains('…'), "CREATED BY is shortened: {long}");
    Ok(Outcome::Passed)
}

/// A tagged layer is shown by its name in the IMAGE column (2014).
pub async fn history_tags(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let out = e.cli(&["history", BASE]).await?.success()?.stdout;
    let first = out.lines().nth(1).context("no rows")?;
    if first.contains("busybox:latest") {
        return Ok(Outcome::Passed);
    }
    let id = e.image_id(BASE).await?;
    ensure!(first.contains(&id[..12]), "the first row shows neither the tag nor the id: {first}");
    Ok(skip(SkipKind::Divergence, "the CLI shows ids, not tags, in the IMAGE column (later Docker)"))
}

/// `GET /images/(name)/history`: 200 with Id, Created and CreatedBy, or 404.
pub async fn api_history(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let reply = e.get(&format!("/images/{BASE}/history")).await?;
    ensure!(reply.status == StatusCode::OK, "history answered {}", reply.status);
    let steps: Vec<Value> = reply.json()?;
    ensure!(!steps.is_empty(), "no steps");
    for key in ["Id", "Created", "CreatedBy"] {
        ensure!(steps.iter().all(|s| s.get(key).is_some()), "a step lacks {key}: {steps:?}");
    }
    let missing = e.get(&format!("/images/{}/history", e.unique("missing"))).await?;
    ensure!(missing.status == StatusCode::NOT_FOUND, "unknown image: {}", missing.status);
    Ok(Outcome::Passed)
}

/// `import - name:tag` from standard input creates that image, with no parent.
pub async fn import_stdin(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = format!("{}:new", e.unique("importlocal"));
    cleaning(&e, &[&name], async {
        let run = e.cli_stdin(&["import", "-", &name], &e.fixture("busybox-rootfs.tar")).await?.success()?;
        let id = e.image_id(&name).await?;
        ensure!(run.stdout.contains(&id[..12]), "import did not print the id: {}", run.stdout);
        let inspect: Value = e.get(&format!("/images/{name}/json")).await?.json()?;
        let parent = inspect.get("Parent").or(inspect.get("parent")).and_then(Value::as_str).unwrap_or("");
        ensure!(parent.is_empty(), "the imported image has parent {parent}");
        Ok(Outcome::Passed)
    })
    .await
}

/// gzip, bzip2 and xz archives are recognised and imported.
pub async fn import_compressed(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    for tool in ["gzip", "bzip2", "xz"] {
        let packed = TempFile::new(&e, tool);
        let status = tokio::process::Command::new("sh")
            .arg("-c")
            .arg(format!("{tool} -c < \"$0\" > \"$1\"",))
            .arg(e.fixture("busybox-rootfs.tar"))
            .arg(&packed.0)
            .status()
            .await?;
        ensure!(status.success(), "{tool} failed");
        let name = e.unique(tool);
        let result = cleaning(&e, &[&name], async {
            e.cli_stdin(&["import", "-", &name], &packed.0)
                .await?
                .success()
                .with_context(|| format!("{tool} archive"))?;
            ensure!(exists(&e, &name).await?, "the {tool} import made no image");
            Ok(Outcome::Passed)
        })
        .await?;
        ensure!(result == Outcome::Passed, "{tool}: {result:?}");
    }
    Ok(Outcome::Passed)
}

/// A source that is neither `-` nor a URL is refused.
pub async fn import_bad_source(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let run = e.cli(&["import", "/etc/hostname"]).await?;
    ensure!(
        run.status != Some(0) && !run.stderr.trim().is_empty(),
        "import of a local path: exit {:?}, {}",
        run.status,
        run.stderr
    );
    Ok(Outcome::Passed)
}

/// `POST /images/create?fromSrc=-&repo=&tag=` imports the body and tags it.
pub async fn api_import(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let repo = e.unique("apiimport");
    let name = format!("{repo}:v1");
    cleaning(&e, &[&name], async {
        let tar = std::fs::read(e.fixture("busybox-rootfs.tar"))?;
        let reply =
            e.api.call(Method::POST, &format!("/images/create?fromSrc=-&repo={repo}&tag=v1"), Some(tar.into())).await?;
        ensure!(
            reply.status == StatusCode::OK,
            "import answered {}: {}",
            reply.status,
            String::from_utf8_lossy(&reply.body)
        );
        ensure!(reply.header("content-type").is_some_and(|c| c.contains("json")), "not a JSON stream");
        ensure!(exists(&e, &name).await?, "{name} was not created");
        Ok(Outcome::Passed)
    })
    .await
}

fn tar_members(path: &Path) -> anyhow::Result<Vec<(String, Vec<u8>)>> {
    let mut archive = tar::Archive::new(std::fs::File::open(path)?);
    let mut members = Vec::new();
    for entry in archive.entries()? {
        let mut entry = entry?;
        let name = entry.path()?.to_string_lossy().trim_start_matches("./").to_string();
        let mut data = Vec::new();
        if !name.ends_with("layer.tar") {
            std::io::Read::read_to_end(&mut entry, &mut data)?;
        }
        members.push((name, data));
    }
    Ok(members)
}

/// `save IMAGE > file` writes a directory per layer (json, layer.tar, VERSION) and a
/// repositories file naming the tags.
pub async fn save_layout(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let file = TempFile::new(&e, "save.tar");
    e.cli_to_file(&["save", BASE], &file.0).await?.success()?;
    let members = tar_members(&file.0)?;
    let names: Vec<&str> = members.iter().map(|(n, _)| n.as_str()).collect();
    for leaf in ["json", "layer.tar", "VERSION"] {
        ensure!(names.iter().any(|n| n.ends_with(&format!("/{leaf}"))), "no */{leaf} in {names:?}");
    }
    let repositories = &members.iter().find(|(n, _)| n == "repositories").context("no repositories file")?.1;
    let repos: Value = serde_json::from_slice(repositories)?;
    ensure!(repos.get(BASE).and_then(|t| t.get("latest")).is_some(), "repositories lacks busybox:latest: {repos}");
    Ok(Outcome::Passed)
}

/// Saving a repository name saves every tag of it.
pub async fn save_all_tags(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let repo = e.unique("alltags");
    let (a, b) = (format!("{repo}:a"), format!("{repo}:b"));
    cleaning(&e, &[&a, &b], async {
        import(&e, &a).await?;
        e.cli(&["tag", BASE, &b]).await?.success()?;
        let file = TempFile::new(&e, "alltags.tar");
        e.cli_to_file(&["save", &repo], &file.0).await?.success()?;
        let members = tar_members(&file.0)?;
        let repositories = &members.iter().find(|(n, _)| n == "repositories").context("no repositories file")?.1;
        let repos: Value = serde_json::from_slice(repositories)?;
        let tags = repos.get(&repo).and_then(Value::as_object).with_context(|| format!("no {repo} in {repos}"))?;
        ensure!(tags.contains_key("a") && tags.contains_key("b"), "not every tag saved: {repos}");
        Ok(Outcome::Passed)
    })
    .await
}

/// `load < file` restores an image with its id and its names.
pub async fn load_restores(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("reload");
    cleaning(&e, &[&name], async {
        let id = import(&e, &name).await?;
        let file = TempFile::new(&e, "reload.tar");
        e.cli_to_file(&["save", &name], &file.0).await?.success()?;
        e.cli(&["rmi", &name]).await?.success()?;
        ensure!(!exists(&e, &id).await?, "rmi left the image");
        e.cli_stdin(&["load"], &file.0).await?.success()?;
        ensure!(e.image_id(&name).await? == id, "the loaded image has another id");
        Ok(Outcome::Passed)
    })
    .await
}

/// `GET /images/(name)/get` answers a save tar as application/x-tar.
pub async fn api_get(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let reply = e.get(&format!("/images/{BASE}/get")).await?;
    ensure!(reply.status == StatusCode::OK, "get answered {}", reply.status);
    ensure!(
        reply.header("content-type") == Some("application/x-tar"),
        "content type {:?}",
        reply.header("content-type")
    );
    let file = TempFile::new(&e, "get.tar");
    std::fs::write(&file.0, &reply.body)?;
    let names: Vec<String> = tar_members(&file.0)?.into_iter().map(|(n, _)| n).collect();
    ensure!(names.iter().any(|n| n == "repositories" || n == "manifest.json"), "not a save tar: {names:?}");
    Ok(Outcome::Passed)
}

/// `POST /images/load` with a save tar: 200, and the image is there.
pub async fn api_load(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("apiload");
    cleaning(&e, &[&name], async {
        let id = import(&e, &name).await?;
        let tar = e.get(&format!("/images/{name}/get")).await?.body;
        e.cli(&["rmi", &name]).await?.success()?;
        let reply = e.api.call(Method::POST, "/images/load", Some(tar)).await?;
        ensure!(reply.status == StatusCode::OK, "load answered {}", reply.status);
        ensure!(e.image_id(&name).await? == id, "not restored");
        Ok(Outcome::Passed)
    })
    .await
}

/// `GET /images/json`: each image once, with RepoTags, Id, ParentId, Created, Size and
/// VirtualSize.
pub async fn api_list(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let extra = e.unique("listed");
    cleaning(&e, &[&extra], async {
        e.cli(&["tag", BASE, &extra]).await?.success()?;
        let reply = e.get("/images/json").await?;
        ensure!(reply.status == StatusCode::OK, "list answered {}", reply.status);
        let list: Vec<Value> = reply.json()?;
        let id = e.image_id(BASE).await?;
        let mine: Vec<&Value> = list.iter().filter(|i| i["Id"].as_str().is_some_and(|v| v.ends_with(&id))).collect();
        ensure!(mine.len() == 1, "{BASE} is listed {} times", mine.len());
        for key in ["RepoTags", "Id", "ParentId", "Created", "Size", "VirtualSize"] {
            ensure!(mine[0].get(key).is_some(), "no {key} in {}", mine[0]);
        }
        let tags: Vec<&str> = mine[0]["RepoTags"]
            .as_array()
            .context("RepoTags is not a list")?
            .iter()
            .filter_map(Value::as_str)
            .collect();
        ensure!(
            tags.contains(&"busybox:latest") && tags.contains(&format!("{extra}:latest").as_str()),
            "RepoTags {tags:?}"
        );
        // Every image listed before and after an all=1 listing (other cases add and remove
        // images meanwhile) is in it.
        let all: Vec<Value> = e.get("/images/json?all=1").await?.json()?;
        let after: Vec<Value> = e.get("/images/json").await?.json()?;
        let ids =
            |l: &[Value]| -> Vec<String> { l.iter().filter_map(|i| i["Id"].as_str().map(String::from)).collect() };
        let (before, all, after) = (ids(&list), ids(&all), ids(&after));
        let missing: Vec<&String> = before.iter().filter(|i| after.contains(i) && !all.contains(i)).collect();
        ensure!(missing.is_empty(), "all=1 leaves out images the default list shows: {missing:?}");
        Ok(Outcome::Passed)
    })
    .await
}

/// `GET /images/(name)/json` under API 1.9 gives the v1 image JSON; 404 for unknown.
pub async fn api_inspect(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let missing = e.get(&format!("/images/{}/json", e.unique("missing"))).await?;
    ensure!(missing.status == StatusCode::NOT_FOUND, "unknown image: {}", missing.status);
    if e.min_api() > berth_api::ApiVersion::MIN {
        return Ok(skip(
            SkipKind::Divergence,
            format!("the engine's minimum API is {}: the 1.9 image JSON is not served", e.min_api()),
        ));
    }
    let reply = e.get(&format!("/v1.9/images/{BASE}/json")).await?;
    ensure!(reply.status == StatusCode::OK, "inspect answered {}", reply.status);
    let value: Value = reply.json()?;
    for key in ["id", "created", "container_config", "Size"] {
        ensure!(value.get(key).is_some(), "no {key} in {value}");
    }
    Ok(Outcome::Passed)
}

/// Image ids are 64 lower-case hex characters.
pub async fn ids_64hex(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let out = e.cli(&["images", "-q", "--no-trunc"]).await?.success()?.stdout;
    ensure!(!out.trim().is_empty(), "no ids");
    for line in out.lines() {
        let hex = line.trim_start_matches("sha256:");
        ensure!(berth_api_hex(hex), "{line} is not 64 lower-case hex characters");
    }
    Ok(Outcome::Passed)
}

fn berth_api_hex(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The 12-character id works where a name does (tag, history, rmi).
pub async fn ids_short(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let (name, alias) = (e.unique("shortid"), e.unique("shortalias"));
    cleaning(&e, &[&name, &alias], async {
        let id = import(&e, &name).await?;
        let short = &id[..12];
        e.cli(&["tag", short, &alias]).await?.success()?;
        e.cli(&["history", short]).await?.success()?;
        e.cli(&["rmi", &alias]).await?.success()?;
        e.cli(&["rmi", short]).await?.success()?;
        ensure!(!exists(&e, &id).await?, "rmi by short id left the image");
        Ok(Outcome::Passed)
    })
    .await
}

/// A prefix of several ids is refused rather than resolved to one of them. The case makes
/// its own images until two share a first character (17 at most), so other cases' images
/// coming and going cannot disturb it.
pub async fn ids_ambiguous(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let mut made: Vec<(String, String)> = Vec::new();
    let result = async {
        loop {
            let shared =
                (b'0'..=b'f').map(char::from).find(|c| made.iter().filter(|(_, id)| id.starts_with(*c)).count() > 1);
            if let Some(prefix) = shared {
                let alias = e.unique("ambiguous");
                let run = e.cli(&["tag", &prefix.to_string(), &alias]).await?;
                let created = exists(&e, &alias).await?;
                let _ = e.cli(&["rmi", &alias]).await;
                ensure!(run.status != Some(0), "tag with the shared prefix {prefix:?} succeeded");
                ensure!(!created, "a tag was created from an ambiguous prefix");
                return Ok(Outcome::Passed);
            }
            ensure!(made.len() <= 16, "no shared prefix after {} imports", made.len());
            let name = e.unique("prefix");
            let id = import(&e, &name).await?;
            made.push((name, id));
        }
    }
    .await;
    let names: Vec<&str> = made.iter().map(|(n, _)| n.as_str()).collect();
    cleaning(&e, &names, async { result }).await
}

/// A 2014-layout save tar (no manifest) of a chain of `depth` layers, each an image whose
/// parent is the one below, the top tagged `name:latest`. Returns the tar and the legacy ids
/// base first. Both 2014 engines and today's moby load this layout.
fn legacy_chain(name: &str, depth: usize, salt: &str) -> anyhow::Result<(Vec<u8>, Vec<String>)> {
    let ids: Vec<String> = (0..depth).map(|i| berth_hex(&format!("{salt} {name} {i}"))).collect();
    let mut tar = tar::Builder::new(Vec::new());
    for (i, id) in ids.iter().enumerate() {
        let parent = if i == 0 { String::new() } else { format!(r#","parent":"{}""#, ids[i - 1]) };
        let json = format!(
            r#"{{"id":"{id}"{parent},"created":"2014-0{}-01T00:00:00Z","container_config":{{"Cmd":["/bin/sh","-c","echo {i} > /layer-{i}"]}},"architecture":"amd64","os":"linux"}}"#,
            i + 1
        );
        append(&mut tar, &format!("{id}/json"), json.as_bytes())?;
        append(&mut tar, &format!("{id}/VERSION"), b"1.0")?;
        append(
            &mut tar,
            &format!("{id}/layer.tar"),
            &one_file_layer(&format!("layer-{i}"), &format!("{salt} {i}\n"))?,
        )?;
    }
    let top = ids.last().context("empty chain")?;
    append(&mut tar, "repositories", format!(r#"{{"{name}":{{"latest":"{top}"}}}}"#).as_bytes())?;
    Ok((tar.into_inner()?, ids))
}

fn append(tar: &mut tar::Builder<Vec<u8>>, name: &str, data: &[u8]) -> anyhow::Result<()> {
    let mut header = tar::Header::new_ustar();
    header.set_size(data.len() as u64);
    header.set_mode(0o644);
    header.set_mtime(1_400_000_000);
    tar.append_data(&mut header, name, data)?;
    Ok(())
}

fn one_file_layer(path: &str, content: &str) -> anyhow::Result<Vec<u8>> {
    let mut tar = tar::Builder::new(Vec::new());
    append(&mut tar, path, content.as_bytes())?;
    Ok(tar.into_inner()?)
}

/// A 64-hex id derived from text (sha256 through the engine-independent `tar`-free route).
fn berth_hex(text: &str) -> String {
    use std::hash::{Hash, Hasher};
    (0..4)
        .map(|round| {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            (round, text).hash(&mut h);
            format!("{:016x}", h.finish())
        })
        .collect()
}

/// Loads a legacy chain through the API and returns the images' ids (engine ids), base first.
async fn load_chain(e: &Engine, name: &str, depth: usize) -> anyhow::Result<Vec<String>> {
    let (tar, _) = legacy_chain(name, depth, &e.unique("salt"))?;
    let reply = e.api.call(Method::POST, "/images/load", Some(tar.into())).await?;
    ensure!(reply.status == StatusCode::OK, "load answered {}: {}", reply.status, String::from_utf8_lossy(&reply.body));
    let mut ids = vec![e.image_id(name).await?];
    while ids.len() < depth {
        let inspect: Value = e.get(&format!("/images/{}/json", ids[ids.len() - 1])).await?.json()?;
        let parent =
            inspect.get("Parent").and_then(Value::as_str).unwrap_or("").trim_start_matches("sha256:").to_string();
        ensure!(!parent.is_empty(), "image {} of the chain has no parent", ids.len());
        ids.push(parent);
    }
    ids.reverse();
    Ok(ids)
}

/// Intermediate images are hidden from `images` and shown by `images -a`.
pub async fn images_all(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("chain");
    cleaning(&e, &[&name], async {
        let ids = load_chain(&e, &name, 3).await?;
        let default = e.cli(&["images", "--no-trunc"]).await?.success()?.stdout;
        let all = e.cli(&["images", "-a", "--no-trunc"]).await?.success()?.stdout;
        ensure!(default.contains(&ids[2]), "the top is not listed:\n{default}");
        ensure!(
            !default.contains(&ids[0]) && !default.contains(&ids[1]),
            "intermediates listed without -a:\n{default}"
        );
        ensure!(ids.iter().all(|id| all.contains(id.as_str())), "-a misses an intermediate:\n{all}");
        Ok(Outcome::Passed)
    })
    .await
}

/// Untagged top-level images are listed as `<none> <none>`.
pub async fn images_untagged(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let run = e.cli_stdin(&["import", "-"], &e.fixture("busybox-rootfs.tar")).await?.success()?;
    let id = run.stdout.trim().trim_start_matches("sha256:").to_string();
    let result = async {
        ensure!(id.len() >= 12, "import printed no id: {}", run.stdout);
        let out = e.cli(&["images"]).await?.success()?.stdout;
        let row =
            out.lines().find(|l| l.contains(&id[..12])).with_context(|| format!("{} not listed:\n{out}", &id[..12]))?;
        let words: Vec<&str> = row.split_whitespace().collect();
        ensure!(words.len() > 2 && words[0] == "<none>" && words[1] == "<none>", "not shown as <none> <none>: {row}");
        Ok(Outcome::Passed)
    }
    .await;
    let _ = e.cli(&["rmi", &id]).await;
    result
}

/// `images --no-trunc` shows 64-character ids; `images -q` only ids.
pub async fn images_no_trunc_quiet(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let id = e.image_id(BASE).await?;
    let long = e.cli(&["images", "--no-trunc"]).await?.success()?.stdout;
    ensure!(long.contains(&id), "--no-trunc does not show {id}:\n{long}");
    let quiet = e.cli(&["images", "-q"]).await?.success()?.stdout;
    ensure!(quiet.lines().any(|l| l == &id[..12]), "-q does not list {}:\n{quiet}", &id[..12]);
    ensure!(
        quiet.lines().all(|l| l.len() == 12 && l.bytes().all(|b| b.is_ascii_hexdigit())),
        "-q prints more than ids:\n{quiet}"
    );
    Ok(Outcome::Passed)
}

/// `images NAME` lists only that repository.
pub async fn images_filter_name(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let repo = e.unique("onlyme");
    let (a, b) = (format!("{repo}:a"), format!("{repo}:b"));
    cleaning(&e, &[&a, &b], async {
        e.cli(&["tag", BASE, &a]).await?.success()?;
        e.cli(&["tag", BASE, &b]).await?.success()?;
        let out = e.cli(&["images", &repo]).await?.success()?.stdout;
        let rows: Vec<&str> = out.lines().skip(1).collect();
        ensure!(
            rows.len() == 2 && rows.iter().all(|r| r.starts_with(&repo)),
            "expected only {repo}'s two tags:\n{out}"
        );
        Ok(Outcome::Passed)
    })
    .await
}

async fn cli_has_flag(e: &Engine, command: &str, flag: &str) -> anyhow::Result<bool> {
    let help = e.cli(&[command, "--help"]).await?;
    Ok(format!("{}{}", help.stdout, help.stderr).contains(flag))
}

/// `images --tree` draws the chain indented by parentage with sizes and tags.
pub async fn images_tree(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    if !cli_has_flag(&e, "images", "--tree").await? {
        return Ok(skip(SkipKind::Legacy, "the CLI's `images` has no --tree (removed from Docker in 1.7)"));
    }
    let name = e.unique("tree");
    cleaning(&e, &[&name], async {
        let ids = load_chain(&e, &name, 3).await?;
        let out = e.cli(&["images", "--tree"]).await?.success()?.stdout;
        let indent = |id: &str| -> anyhow::Result<usize> {
            let line = out
                .lines()
                .find(|l| l.contains(&id[..12]))
                .with_context(|| format!("{} not in the tree:\n{out}", &id[..12]))?;
            ensure!(line.contains("Size:") && line.contains("virtual"), "no sizes: {line}");
            Ok(line.find(&id[..12]).unwrap_or(0))
        };
        let depths = [indent(&ids[0])?, indent(&ids[1])?, indent(&ids[2])?];
        ensure!(depths[0] < depths[1] && depths[1] < depths[2], "not indented by parentage:\n{out}");
        let top = out.lines().find(|l| l.contains(&ids[2][..12])).unwrap_or_default();
        ensure!(top.contains(&format!("{name}:latest")), "the top's tag is not shown: {top}");
        Ok(Outcome::Passed)
    })
    .await
}

/// `images --viz` prints a Graphviz digraph with parent -> child edges and tag labels.
pub async fn images_viz(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    if !cli_has_flag(&e, "images", "--viz").await? {
        return Ok(skip(SkipKind::Legacy, "the CLI's `images` has no --viz (removed from Docker in 1.7)"));
    }
    let name = e.unique("viz");
    cleaning(&e, &[&name], async {
        let ids = load_chain(&e, &name, 2).await?;
        let out = e.cli(&["images", "--viz"]).await?.success()?.stdout;
        ensure!(out.trim_start().starts_with("digraph") && out.trim_end().ends_with('}'), "not a digraph:\n{out}");
        let edge = format!("\"{}\" -> \"{}\"", &ids[0][..12], &ids[1][..12]);
        ensure!(out.contains(&edge), "no edge {edge}:\n{out}");
        ensure!(out.contains(&format!("{name}:latest")), "no tag label:\n{out}");
        ensure!(out.matches('{').count() == out.matches('}').count(), "unbalanced braces:\n{out}");
        Ok(Outcome::Passed)
    })
    .await
}

/// Deleting an image with children only untags it; deleting the leaf removes it and its
/// untagged parents, each reported.
pub async fn api_delete_parents(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("prune");
    let middle = e.unique("middle");
    cleaning(&e, &[&name, &middle], async {
        let ids = load_chain(&e, &name, 3).await?;
        e.cli(&["tag", &ids[1], &middle]).await?.success()?;
        let untag: Vec<Value> = e.call(Method::DELETE, &format!("/images/{middle}")).await?.json()?;
        ensure!(
            untag.iter().all(|i| i.get("Untagged").is_some()) && !untag.is_empty(),
            "deleting a parent should only untag: {untag:?}"
        );
        ensure!(exists(&e, &ids[1]).await?, "the parent image was deleted");
        let reply = e.call(Method::DELETE, &format!("/images/{name}")).await?;
        ensure!(reply.status == StatusCode::OK, "delete answered {}", reply.status);
        let items: Vec<Value> = reply.json()?;
        let deleted: Vec<&str> = items.iter().filter_map(|i| i.get("Deleted")?.as_str()).collect();
        for id in &ids {
            ensure!(deleted.iter().any(|d| d.ends_with(id.as_str())), "{id} is not reported deleted: {items:?}");
        }
        for id in &ids {
            ensure!(!exists(&e, id).await?, "{id} is left");
        }
        Ok(Outcome::Passed)
    })
    .await
}

/// Pre-1.7 listing formats (`/images/viz`, per-tag entries) are for API versions the engine
/// may no longer serve.
pub async fn api_images_legacy(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    if e.min_api() >= berth_api::ApiVersion::new(1, 7) {
        return Ok(skip(
            SkipKind::Legacy,
            format!("the engine's minimum API is {}: listing formats before 1.7 are not served", e.min_api()),
        ));
    }
    let reply = e.get("/v1.6/images/viz").await?;
    ensure!(
        reply.status == StatusCode::OK && String::from_utf8_lossy(&reply.body).contains("digraph"),
        "/v1.6/images/viz: {}",
        reply.status
    );
    Ok(Outcome::Passed)
}

/// `/images/viz` is gone from API 1.7 on.
pub async fn api_viz_removed(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let reply = e.get(&format!("/v{}/images/viz", e.current_api())).await?;
    ensure!(reply.status == StatusCode::NOT_FOUND, "/images/viz answered {}", reply.status);
    Ok(Outcome::Passed)
}

/// `inspect A B` prints one JSON array with an object per argument.
pub async fn inspect_array(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let alias = e.unique("inspected");
    cleaning(&e, &[&alias], async {
        e.cli(&["tag", BASE, &alias]).await?.success()?;
        let out = e.cli(&["inspect", BASE, &alias]).await?.success()?.stdout;
        let value: Value = serde_json::from_str(&out).with_context(|| format!("not one JSON document:\n{out}"))?;
        let items = value.as_array().with_context(|| format!("not an array: {value}"))?;
        ensure!(items.len() == 2, "{} objects for 2 arguments", items.len());
        Ok(Outcome::Passed)
    })
    .await
}

/// An unknown name is an error and a non-zero exit, and the known ones are still printed.
pub async fn inspect_not_found(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let missing = e.unique("nothing");
    let run = e.cli(&["inspect", BASE, &missing]).await?;
    ensure!(run.status.is_some_and(|s| s != 0), "exit {:?}", run.status);
    ensure!(run.stderr.contains(&missing), "the error does not name {missing}: {}", run.stderr);
    let value: Value =
        serde_json::from_str(&run.stdout).with_context(|| format!("the known one is not printed:\n{}", run.stdout))?;
    ensure!(value.as_array().is_some_and(|a| a.len() == 1), "expected the one known object: {value}");
    Ok(Outcome::Passed)
}

/// A broken template is an error and a non-zero exit.
pub async fn inspect_bad_template(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let run = e.cli(&["inspect", "--format", "{{.Id", BASE]).await?;
    ensure!(run.status.is_some_and(|s| s != 0), "exit {:?}", run.status);
    ensure!(
        run.stderr.to_lowercase().contains("template"),
        "the error does not say the template is wrong: {}",
        run.stderr
    );
    Ok(Outcome::Passed)
}

/// Serves `data` at any path on 127.0.0.1 for as long as the returned task lives.
async fn serve_once(data: Vec<u8>) -> anyhow::Result<(u16, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let data = std::sync::Arc::new(data);
    let task = tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let data = data.clone();
            tokio::spawn(async move {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let mut request = vec![0u8; 4096];
                let _ = stream.read(&mut request).await;
                let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nContent-Type: application/gzip\r\nConnection: close\r\n\r\n", data.len());
                let _ = stream.write_all(head.as_bytes()).await;
                let _ = stream.write_all(&data).await;
            });
        }
    });
    Ok((port, task))
}

/// `import http://host/img.tgz` downloads the archive and makes an untagged image, printing
/// its id.
pub async fn import_url(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let tar = std::fs::read(e.fixture("busybox-rootfs.tar"))?;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &tar)?;
    let (port, server) = serve_once(gz.finish()?).await?;
    let run = e.cli(&["import", &format!("http://127.0.0.1:{port}/exampleimage.tgz")]).await;
    server.abort();
    let run = run?.success()?;
    let id = run.stdout.lines().last().unwrap_or("").trim().trim_start_matches("sha256:").to_string();
    let result = async {
        ensure!(
            id.len() >= 12 && id.bytes().all(|b| b.is_ascii_hexdigit()),
            "import did not print an id: {}",
            run.stdout
        );
        let inspect: Value = e.get(&format!("/images/{id}/json")).await?.json()?;
        let tags = inspect.get("RepoTags").and_then(Value::as_array).map_or(0, |t| t.len());
        ensure!(tags == 0, "the imported image has names: {inspect}");
        Ok(Outcome::Passed)
    }
    .await;
    let _ = e.cli(&["rmi", &id]).await;
    result
}

/// The 12-character id `images` shows is the start of the 64-hex id that inspect and
/// `images --no-trunc` give.
pub async fn ids_short_prefix(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let column = |out: &str| -> anyhow::Result<String> {
        let row = lines_starting(out, BASE).first().copied().with_context(|| format!("no {BASE} row:\n{out}"))?;
        Ok(row.split_whitespace().nth(2).unwrap_or_default().trim_start_matches("sha256:").to_string())
    };
    let short = column(&e.cli(&["images", BASE]).await?.success()?.stdout)?;
    let long = column(&e.cli(&["images", "--no-trunc", BASE]).await?.success()?.stdout)?;
    let full = e.image_id(BASE).await?;
    ensure!(short.len() == 12 && full.starts_with(&short), "the short id {short} does not start {full}");
    ensure!(long == full, "images --no-trunc shows {long}, inspect {full}");
    Ok(Outcome::Passed)
}

/// A scratch directory of the case's own, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(e: &Engine, what: &str) -> anyhow::Result<TempDir> {
        let dir = std::env::temp_dir().join(e.unique(what));
        std::fs::create_dir_all(&dir)?;
        Ok(TempDir(dir))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs the host's tar, which must succeed.
async fn host_tar(args: &[&str]) -> anyhow::Result<()> {
    let out = tokio::process::Command::new("tar").args(args).output().await.context("cannot run tar")?;
    ensure!(out.status.success(), "tar {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
    Ok(())
}

/// The busybox root file system unpacked into `dir/rootfs`, changed by `edit`, then tarred up
/// as `tar -C rootfs -c .` would; the tar's path.
async fn rootfs_tar(e: &Engine, dir: &Path, edit: impl FnOnce(&Path) -> anyhow::Result<()>) -> anyhow::Result<PathBuf> {
    let rootfs = dir.join("rootfs");
    std::fs::create_dir_all(rootfs.join("etc"))?;
    let (root, fixture) = (rootfs.to_string_lossy(), e.fixture("busybox-rootfs.tar"));
    host_tar(&["-x", "-C", &root, "-f", &fixture.to_string_lossy()]).await?;
    edit(&rootfs)?;
    let tar = dir.join("rootfs.tar");
    host_tar(&["--numeric-owner", "-C", &root, "-cf", &tar.to_string_lossy(), "."]).await?;
    Ok(tar)
}

/// `tar -C rootfs -c . | import - NAME` prints the new id and makes NAME:latest, whose files
/// are the directory's: `run NAME cat /etc/lsb-release` prints the directory's copy.
pub async fn import_rootfs_dir(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("raring");
    let dir = TempDir::new(&e, "rootfs")?;
    cleaning(&e, &[&name], async {
        let release = format!("DISTRIB_CODENAME={name}\n");
        let tar = rootfs_tar(&e, &dir.0, |root| Ok(std::fs::write(root.join("etc/lsb-release"), &release)?)).await?;
        let printed = e.cli_stdin(&["import", "-", &name], &tar).await?.success()?.stdout;
        let printed = printed.trim().trim_start_matches("sha256:");
        let id = e.image_id(&format!("{name}:latest")).await?;
        ensure!(printed.len() >= 12 && id.starts_with(printed), "import printed {printed:?}; {name}:latest is {id}");
        let cat = e.cli(&["run", "--rm", "--net=none", &name, "cat", "/etc/lsb-release"]).await?.success()?.stdout;
        ensure!(cat == release, "cat /etc/lsb-release printed {cat:?}");
        Ok(Outcome::Passed)
    })
    .await
}

/// Owners, groups and modes in the imported tarball are the image's.
pub async fn import_ownership(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("owners");
    let dir = TempDir::new(&e, "owners")?;
    cleaning(&e, &[&name], async {
        let tar = rootfs_tar(&e, &dir.0, |root| {
            use std::os::unix::fs::PermissionsExt;
            for (file, uid, gid, mode) in [("owned", 1234, 5678, 0o640), ("rootonly", 0, 0, 0o600)] {
                let path = root.join(file);
                std::fs::write(&path, file)?;
                std::os::unix::fs::chown(&path, Some(uid), Some(gid))?;
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))?;
            }
            Ok(())
        })
        .await?;
        e.cli_stdin(&["import", "-", &name], &tar).await?.success()?;
        let args = ["run", "--rm", "--net=none", &name, "stat", "-c", "%u:%g:%a %n", "/owned", "/rootonly"];
        let out = e.cli(&args).await?.success()?.stdout;
        let lines: Vec<&str> = out.lines().collect();
        ensure!(lines == ["1234:5678:640 /owned", "0:0:600 /rootonly"], "stat in the image printed {out:?}");
        Ok(Outcome::Passed)
    })
    .await
}

/// An image a container was created from cannot be removed: rmi reports a conflict naming
/// the container, and the image stays.
pub async fn rmi_in_use(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let (image, container) = (e.unique("inuse"), e.unique("user"));
    super::containers::cleaning_images(&e, &[&container], &[&image], async {
        import(&e, &image).await?;
        let id = super::containers::create(&e, &container, &[&image, "true"]).await?;
        let run = e.cli(&["rmi", &image]).await?;
        ensure!(run.status.is_some_and(|s| s != 0), "rmi of an image in use exited {:?}", run.status);
        let said = run.stderr.to_lowercase();
        ensure!(said.contains("conflict") || said.contains("in use") || said.contains("using"), "no conflict: {said}");
        ensure!(said.contains(&id[..12]) || said.contains(&container), "the error does not name the container: {said}");
        ensure!(exists(&e, &image).await?, "the image is gone");
        Ok(Outcome::Passed)
    })
    .await
}

/// An image and its parent saved on one daemon and loaded on an empty one keep their ids,
/// parent link and tags, and a container runs from them there.
pub async fn save_load_round_trip(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let repo = e.unique("roundtrip");
    let (base, child, maker) = (format!("{repo}:base"), format!("{repo}:child"), e.unique("maker"));
    let file = TempFile::new(&e, "roundtrip.tar");
    super::containers::cleaning_images(&e, &[&maker], &[&child, &base], async {
        e.cli(&["tag", BASE, &base]).await?.success()?;
        super::containers::run(&e, &["--name", &maker, &base, "touch", "/marker"]).await?.success()?;
        e.cli(&["commit", &maker, &child]).await?.success()?;
        e.cli_to_file(&["save", &base, &child], &file.0).await?.success()?;
        let daemon = super::daemon::started(&e, crate::daemon::Spec::default()).await?;
        let result = async {
            super::daemon::on(&e, &daemon, &["load", "-i", &file.0.to_string_lossy()]).await?.success()?;
            for name in [&base, &child] {
                let here: Value = e.get(&format!("/images/{name}/json")).await?.json()?;
                let there: Value = daemon.get(&daemon.host, &format!("/images/{name}/json")).await?.json()?;
                for key in ["Id", "Parent"] {
                    ensure!(here[key] == there[key], "{name}: {key} {} became {}", here[key], there[key]);
                }
                let tags = there["RepoTags"].as_array().cloned().unwrap_or_default();
                ensure!(tags.iter().any(|t| t == name.as_str()), "{name} is not among the loaded tags {tags:?}");
            }
            let ls = super::daemon::on(&e, &daemon, &["run", "--rm", "--net=none", &child, "ls", "/marker"]).await?;
            ensure!(ls.success()?.stdout.trim() == "/marker", "the loaded child lacks its layer");
            Ok(Outcome::Passed)
        }
        .await;
        super::daemon::close(&e, daemon).await;
        result
    })
    .await
}

/// The JSON objects a streamed answer carries, after checking it is a 200 JSON answer.
fn stream_objects(reply: &berth_client::Reply) -> anyhow::Result<Vec<Value>> {
    let body = String::from_utf8_lossy(&reply.body);
    ensure!(reply.status == StatusCode::OK, "answered {}: {body}", reply.status);
    let kind = reply.header("content-type").unwrap_or_default();
    ensure!(kind.starts_with("application/json"), "Content-Type is {kind:?}");
    let objects = serde_json::Deserializer::from_slice(&reply.body).into_iter::<Value>();
    let objects: Vec<Value> = objects.collect::<Result<_, _>>().with_context(|| format!("not JSON objects: {body}"))?;
    ensure!(!objects.is_empty() && objects.iter().all(Value::is_object), "not a stream of objects: {body}");
    Ok(objects)
}

/// `POST /images/create?fromSrc=URL&repo=REPO` with `data` served at URL.
async fn import_served(e: &Engine, data: Vec<u8>, repo: &str) -> anyhow::Result<berth_client::Reply> {
    let (port, server) = serve_once(data).await?;
    let path = format!("/images/create?fromSrc=http://127.0.0.1:{port}/rootfs.tar&repo={repo}");
    let reply = e.api.call(Method::POST, &path, None).await;
    server.abort();
    Ok(reply?)
}

/// The create endpoint (an import from a URL here) answers 200 as application/json with a
/// stream of `{"status": ..., "progress": ...}` objects.
pub async fn api_json_stream(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let repo = e.unique("jsonstream");
    cleaning(&e, &[&repo], async {
        let objects =
            stream_objects(&import_served(&e, std::fs::read(e.fixture("busybox-rootfs.tar"))?, &repo).await?)?;
        for object in &objects {
            ensure!(object["status"].is_string(), "no status in {object}");
            ensure!(object.get("progress").is_none_or(Value::is_string), "progress is not text in {object}");
        }
        ensure!(exists(&e, &repo).await?, "{repo} was not created");
        Ok(Outcome::Passed)
    })
    .await
}

/// The create endpoint's progress (an import from a URL here) has progressDetail objects with
/// a numeric current and, when known, a numeric total.
pub async fn api_progress_detail(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let repo = e.unique("progressdetail");
    cleaning(&e, &[&repo], async {
        let objects =
            stream_objects(&import_served(&e, std::fs::read(e.fixture("busybox-rootfs.tar"))?, &repo).await?)?;
        let details: Vec<&Value> = objects
            .iter()
            .filter_map(|o| o.get("progressDetail"))
            .filter(|d| d.as_object().is_some_and(|d| !d.is_empty()))
            .collect();
        ensure!(!details.is_empty(), "no progressDetail in {objects:?}");
        for detail in details {
            ensure!(detail["current"].is_u64(), "current is not a number in {detail}");
            ensure!(detail.get("total").is_none_or(Value::is_u64), "total is not a number in {detail}");
        }
        Ok(Outcome::Passed)
    })
    .await
}

/// An import that fails under way (the archive ends in the middle of a file) still answers
/// 200; the failure is an `{"error": ...}` object ending the stream, and no image is made.
pub async fn api_error_in_stream(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let repo = e.unique("streamerror");
    cleaning(&e, &[&repo], async {
        let mut tar = std::fs::read(e.fixture("busybox-rootfs.tar"))?;
        tar.truncate(tar.len() * 2 / 3);
        let objects = stream_objects(&import_served(&e, tar, &repo).await?)?;
        let last = objects.last().context("an empty stream")?;
        ensure!(
            last["error"].as_str().is_some_and(|m| !m.is_empty()),
            "the stream does not end in an error: {objects:?}"
        );
        ensure!(!exists(&e, &repo).await?, "a truncated archive made {repo}");
        Ok(Outcome::Passed)
    })
    .await
}
