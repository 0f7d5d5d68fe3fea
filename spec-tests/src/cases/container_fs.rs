//! A container's file system: the writable layer over the image (7.1, 7.2), `diff`, `export`,
//! `cp` and `commit` (5.1.7, 5.1.9, 5.1.10, 5.1.11).

use super::containers::{cleaning, cleaning_images, detach, inspect, is_running, run, run_out, IDLE, IMAGE};
use super::run_options::TempPath;
use super::Case;
use crate::case;
use crate::engine::Engine;
use crate::outcome::{skip, Outcome, SkipKind};
use anyhow::{ensure, Context};
use serde_json::Value;
use std::sync::Arc;

#[rustfmt::skip]
pub static CASES: &[Case] = &[
    case!("diff added file", ["cli.diff.add", "fs.new-file-top-layer"], diff_add),
    case!("diff deleted file", ["cli.diff.delete", "fs.delete-lower"], diff_delete),
    case!("diff changed file", ["cli.diff.change", "fs.copy-on-write"], diff_change),
    case!("layers and a writable top", ["fs.rootfs.layers", "fs.image.immutable"], layers_unchanged),
    case!("union view", ["fs.union.view"], union_view),
    case!("commit parent", ["fs.image.parent", "fs.container.commit-as-parent"], commit_parent),
    case!("commit stores the diff", ["fs.commit.diff-only"], commit_diff_only),
    case!("export", ["cli.export.tar"], export_tar),
    case!("export is flat", ["cli.export.flattened"], export_flattened),
    case!("cp file", ["cli.cp.file"], cp_file),
    case!("cp by name", ["cli.cp.by-name"], cp_by_name),
    case!("cp directory", ["cli.cp.directory"], cp_directory),
    case!("cp relative path", ["cli.cp.relative-root"], cp_relative),
    case!("cp missing path", ["cli.cp.missing"], cp_missing),
    case!("commit prints id", ["cli.commit.usage", "cli.commit.named-listed"], commit_usage),
    case!("commit without repository", ["cli.commit.no-repo"], commit_no_repo),
    case!("commit user/repo", ["cli.commit.user-repo"], commit_user_repo),
    case!("commit running", ["cli.commit.running"], commit_running),
    case!("commit -m -a", ["cli.commit.opt.message", "cli.commit.opt.author"], commit_message_author),
    case!("commit -run", ["cli.commit.opt.run", "cli.commit.opt.run-full", "cli.commit.opt.run-invalid", "cli.commit.run-autostart"], commit_run),
];

/// The lines of `diff NAME`.
async fn diff(e: &Engine, name: &str) -> anyhow::Result<Vec<String>> {
    Ok(e.cli(&["diff", name]).await?.success()?.stdout.lines().map(|l| l.trim().to_string()).collect())
}

fn has(lines: &[String], line: &str) -> anyhow::Result<()> {
    ensure!(lines.iter().any(|l| l == line), "no `{line}` in diff:\n{}", lines.join("\n"));
    Ok(())
}

/// A new file is `A` in diff and belongs to that container only.
pub async fn diff_add(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let (a, b) = (e.unique("diffadd"), e.unique("diffaddsibling"));
    cleaning(&e, &[&a, &b], async {
        run(&e, &["--name", &a, IMAGE, "sh", "-c", "echo new > /newfile"]).await?.success()?;
        has(&diff(&e, &a).await?, "A /newfile")?;
        let sibling = run(&e, &["--name", &b, IMAGE, "cat", "/newfile"]).await?;
        ensure!(sibling.status != Some(0), "another container sees /newfile: {}", sibling.stdout);
        Ok(Outcome::Passed)
    })
    .await
}

/// A deleted image file is `D` in diff; the image and other containers still have it.
pub async fn diff_delete(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let (a, b) = (e.unique("diffdel"), e.unique("diffdelsibling"));
    cleaning(&e, &[&a, &b], async {
        run(&e, &["--name", &a, IMAGE, "rm", "/etc/group"]).await?.success()?;
        has(&diff(&e, &a).await?, "D /etc/group")?;
        let out = run_out(&e, &["--name", &b, IMAGE, "cat", "/etc/group"]).await?;
        ensure!(out.contains("berthuser"), "the image lost /etc/group: {out}");
        Ok(Outcome::Passed)
    })
    .await
}

/// A modified file, and the directory of an added one, are `C`; the change stays private.
pub async fn diff_change(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let (a, b) = (e.unique("diffchange"), e.unique("diffchangesibling"));
    cleaning(&e, &[&a, &b], async {
        run(&e, &["--name", &a, IMAGE, "sh", "-c", "echo changed >> /etc/passwd; touch /etc/mtab-new"])
            .await?
            .success()?;
        let lines = diff(&e, &a).await?;
        for line in ["C /etc", "C /etc/passwd", "A /etc/mtab-new"] {
            has(&lines, line)?;
        }
        let out = run_out(&e, &["--name", &b, IMAGE, "cat", "/etc/passwd"]).await?;
        ensure!(!out.contains("changed"), "a sibling container sees the change:\n{out}");
        Ok(Outcome::Passed)
    })
    .await
}

/// What a container sees of a file of the image: its checksum, from a fresh container.
async fn fresh_sum(e: &Engine, image: &str, path: &str) -> anyhow::Result<String> {
    let name = e.unique("fresh");
    let mut sum = String::new();
    let outcome = cleaning(e, &[&name], async {
        sum = run_out(e, &["--name", &name, image, "md5sum", path]).await?;
        Ok(Outcome::Passed)
    })
    .await?;
    ensure!(outcome == Outcome::Passed, "{outcome:?}");
    Ok(sum)
}

/// Containers write to their own layer: running, changing and committing containers leaves
/// the image's id and files as they were.
pub async fn layers_unchanged(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let (name, image) = (e.unique("writer"), e.unique("writercommit"));
    cleaning_images(&e, &[&name], &[&image], async {
        let id = e.image_id(IMAGE).await?;
        let before = fresh_sum(&e, IMAGE, "/etc/passwd").await?;
        run(&e, &["--name", &name, IMAGE, "sh", "-c", "echo intruder >> /etc/passwd; rm /bin/true"])
            .await?
            .success()?;
        e.cli(&["commit", &name, &image]).await?.success()?;
        ensure!(e.image_id(IMAGE).await? == id, "the image's id changed");
        ensure!(fresh_sum(&e, IMAGE, "/etc/passwd").await? == before, "the image's /etc/passwd changed");
        ensure!(!fresh_sum(&e, IMAGE, "/bin/true").await?.is_empty(), "the image lost /bin/true");
        Ok(Outcome::Passed)
    })
    .await
}

/// Files of every layer show in one tree, which the process can also write.
pub async fn union_view(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let (first, image, second) = (e.unique("layer2"), e.unique("twolayers"), e.unique("unionview"));
    cleaning_images(&e, &[&first, &second], &[&image], async {
        run(&e, &["--name", &first, IMAGE, "sh", "-c", "echo upper > /etc/from-layer-two"]).await?.success()?;
        e.cli(&["commit", &first, &image]).await?.success()?;
        let script = "cat /etc/from-layer-two; head -1 /etc/passwd; echo top > /etc/from-top && cat /etc/from-top";
        let out = run_out(&e, &["--name", &second, &image, "sh", "-c", script]).await?;
        ensure!(
            out.lines().collect::<Vec<_>>() == ["upper", "root:x:0:0:root:/root:/bin/sh", "top"],
            "the merged tree shows {out:?}"
        );
        Ok(Outcome::Passed)
    })
    .await
}

fn parent_of(image: &Value) -> String {
    image.get("Parent").and_then(Value::as_str).unwrap_or_default().trim_start_matches("sha256:").to_string()
}

/// A committed image names the container's image as parent, the chain ends at a base with
/// none, and containers of it see the committed files.
pub async fn commit_parent(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let (name, image, child) = (e.unique("parent"), e.unique("childimage"), e.unique("childrun"));
    cleaning_images(&e, &[&name, &child], &[&image], async {
        run(&e, &["--name", &name, IMAGE, "sh", "-c", "echo committed > /committed"]).await?.success()?;
        e.cli(&["commit", &name, &image]).await?.success()?;
        let mut current: Value = e.get(&format!("/images/{image}/json")).await?.json()?;
        ensure!(
            parent_of(&current) == e.image_id(IMAGE).await?,
            "the parent is {:?}, not {IMAGE}'s id",
            parent_of(&current)
        );
        for _ in 0..64 {
            let parent = parent_of(&current);
            if parent.is_empty() {
                break;
            }
            current = e.get(&format!("/images/{parent}/json")).await?.json()?;
        }
        ensure!(parent_of(&current).is_empty(), "the parent chain does not end");
        ensure!(
            run_out(&e, &["--name", &child, &image, "cat", "/committed"]).await?.trim() == "committed",
            "the file is not in the image"
        );
        Ok(Outcome::Passed)
    })
    .await
}

/// A committed image's own size counts only what the container changed; its virtual size
/// counts the parents too.
pub async fn commit_diff_only(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let (name, image) = (e.unique("sized"), e.unique("sizedimage"));
    cleaning_images(&e, &[&name], &[&image], async {
        run(&e, &["--name", &name, IMAGE, "sh", "-c", "head -c 3000000 /dev/zero > /three-megabytes"]).await?.success()?;
        e.cli(&["commit", &name, &image]).await?.success()?;
        let base: Value = e.get(&format!("/images/{IMAGE}/json")).await?.json()?;
        let made: Value = e.get(&format!("/images/{image}/json")).await?.json()?;
        let history: Vec<Value> = e.get(&format!("/images/{image}/history")).await?.json()?;
        let layer = history.first().and_then(|h| h["Size"].as_i64()).context("no history")?;
        ensure!((3_000_000..3_200_000).contains(&layer), "the committed layer is {layer} bytes for a 3 MB change");
        let (size, virtual_size) = (made["Size"].as_i64().unwrap_or(-1), made["VirtualSize"].as_i64().unwrap_or(-1));
        let base_size = base["VirtualSize"].as_i64().or(base["Size"].as_i64()).unwrap_or(-1);
        ensure!(virtual_size >= base_size + 3_000_000, "VirtualSize {virtual_size} does not count the parent ({base_size})");
        if (3_000_000..3_200_000).contains(&size) {
            return Ok(Outcome::Passed);
        }
        ensure!(size == virtual_size, "Size is {size}: neither the diff nor the total");
        Ok(skip(SkipKind::Legacy, format!(
            "the engine reports Size = VirtualSize = {size} (the whole image, as Docker does since 1.10); the layer's own size is in history ({layer})"
        )))
    })
    .await
}

/// The member names of a tar file, without a leading `./`.
pub fn tar_names(path: &std::path::Path) -> anyhow::Result<Vec<String>> {
    let mut archive = tar::Archive::new(std::fs::File::open(path)?);
    let mut names = Vec::new();
    for entry in archive.entries()? {
        names.push(entry?.path()?.to_string_lossy().trim_start_matches("./").trim_end_matches('/').to_string());
    }
    Ok(names)
}

/// `export NAME > file` writes a tar of the whole file system, the container's files included.
pub async fn export_tar(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("export");
    let file = TempPath::new(&e, "export.tar");
    cleaning(&e, &[&name], async {
        run(&e, &["--name", &name, IMAGE, "sh", "-c", "echo made > /made-inside"]).await?.success()?;
        e.cli_to_file(&["export", &name], &file.0).await?.success()?;
        let names = tar_names(&file.0)?;
        for member in ["made-inside", "bin/busybox", "etc/passwd"] {
            ensure!(names.iter().any(|n| n == member), "no {member} in the export ({} members)", names.len());
        }
        Ok(Outcome::Passed)
    })
    .await
}

/// The export is one flat tree: no layer files, and imported back it has no parent.
pub async fn export_flattened(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let (name, image) = (e.unique("flat"), e.unique("flatimage"));
    let file = TempPath::new(&e, "flat.tar");
    cleaning_images(&e, &[&name], &[&image], async {
        run(&e, &["--name", &name, IMAGE, "true"]).await?.success()?;
        e.cli_to_file(&["export", &name], &file.0).await?.success()?;
        let names = tar_names(&file.0)?;
        ensure!(
            !names.iter().any(|n| n.ends_with("layer.tar") || n == "manifest.json" || n == "repositories"),
            "layer data in the export"
        );
        e.cli_stdin(&["import", "-", &image], &file.0).await?.success()?;
        let imported: Value = e.get(&format!("/images/{image}/json")).await?.json()?;
        ensure!(parent_of(&imported).is_empty(), "the imported export has a parent");
        Ok(Outcome::Passed)
    })
    .await
}

/// A container with a file and a directory tree of known content.
async fn with_files(e: &Engine, name: &str) -> anyhow::Result<()> {
    let script =
        "printf 'line one\\nline two\\n' > /etc/copied; mkdir -p /tree/sub; echo a > /tree/a; echo b > /tree/sub/b";
    run(e, &["--name", name, IMAGE, "sh", "-c", script]).await?.success()?;
    Ok(())
}

/// `cp ID:/path DIR` brings the file, byte for byte.
pub async fn cp_file(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("cpfile");
    let dir = TempPath::new(&e, "cpfile");
    cleaning(&e, &[&name], async {
        with_files(&e, &name).await?;
        std::fs::create_dir_all(&dir.0)?;
        let id = inspect(&e, &name).await?["Id"].as_str().unwrap_or_default().to_string();
        e.cli(&["cp", &format!("{id}:/etc/copied"), &dir.text()]).await?.success()?;
        ensure!(std::fs::read(dir.0.join("copied"))? == b"line one\nline two\n", "the copy differs");
        Ok(Outcome::Passed)
    })
    .await
}

/// cp takes the container's name.
pub async fn cp_by_name(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("cpname");
    let dir = TempPath::new(&e, "cpname");
    cleaning(&e, &[&name], async {
        with_files(&e, &name).await?;
        std::fs::create_dir_all(&dir.0)?;
        e.cli(&["cp", &format!("{name}:/etc/passwd"), &dir.text()]).await?.success()?;
        ensure!(
            std::fs::read_to_string(dir.0.join("passwd"))?.contains("berthuser"),
            "not the container's /etc/passwd"
        );
        Ok(Outcome::Passed)
    })
    .await
}

/// A directory comes with everything under it.
pub async fn cp_directory(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("cpdir");
    let dir = TempPath::new(&e, "cpdir");
    cleaning(&e, &[&name], async {
        with_files(&e, &name).await?;
        std::fs::create_dir_all(&dir.0)?;
        e.cli(&["cp", &format!("{name}:/tree"), &dir.text()]).await?.success()?;
        ensure!(std::fs::read_to_string(dir.0.join("tree/a"))? == "a\n", "tree/a missing or wrong");
        ensure!(std::fs::read_to_string(dir.0.join("tree/sub/b"))? == "b\n", "tree/sub/b missing or wrong");
        Ok(Outcome::Passed)
    })
    .await
}

/// A container path without a leading slash starts at `/`.
pub async fn cp_relative(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("cprel");
    let dir = TempPath::new(&e, "cprel");
    cleaning(&e, &[&name], async {
        with_files(&e, &name).await?;
        std::fs::create_dir_all(&dir.0)?;
        e.cli(&["cp", &format!("{name}:etc/copied"), &dir.text()]).await?.success()?;
        ensure!(
            std::fs::read(dir.0.join("copied"))? == b"line one\nline two\n",
            "etc/copied did not resolve to /etc/copied"
        );
        Ok(Outcome::Passed)
    })
    .await
}

/// A missing path copies nothing, prints an error and exits non-zero.
pub async fn cp_missing(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("cpmissing");
    let dir = TempPath::new(&e, "cpmissing");
    cleaning(&e, &[&name], async {
        with_files(&e, &name).await?;
        std::fs::create_dir_all(&dir.0)?;
        let run = e.cli(&["cp", &format!("{name}:/no/such/path"), &dir.text()]).await?;
        ensure!(
            run.status != Some(0) && !run.stderr.trim().is_empty(),
            "exit {:?}, stderr {:?}",
            run.status,
            run.stderr
        );
        ensure!(std::fs::read_dir(&dir.0)?.next().is_none(), "something was copied");
        Ok(Outcome::Passed)
    })
    .await
}

/// The repository and tag an image is listed under by `images`, if any.
async fn listed_as(e: &Engine, id: &str) -> anyhow::Result<Vec<(String, String)>> {
    let out = e.cli(&["images", "--no-trunc"]).await?.success()?.stdout;
    let id = id.trim().trim_start_matches("sha256:");
    Ok(out
        .lines()
        .skip(1)
        .filter(|l| l.contains(id))
        .map(|l| {
            let mut words = l.split_whitespace();
            (words.next().unwrap_or_default().to_string(), words.next().unwrap_or_default().to_string())
        })
        .collect())
}

/// `commit ID repo:tag` prints the new image's id, listed under that name; `commit ID repo`
/// tags it latest.
pub async fn commit_usage(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("commit");
    let (repo, bare) = (e.unique("committed"), e.unique("committedbare"));
    let tagged = format!("{repo}:v2");
    let bare_latest = format!("{bare}:latest");
    cleaning_images(&e, &[&name], &[&tagged, &bare_latest], async {
        run(&e, &["--name", &name, IMAGE, "true"]).await?.success()?;
        let id = e.cli(&["commit", &name, &tagged]).await?.success()?.stdout;
        ensure!(
            e.image_id(&tagged).await? == id.trim().trim_start_matches("sha256:"),
            "commit printed {id:?}, not the image's id"
        );
        ensure!(listed_as(&e, &id).await? == [(repo.clone(), "v2".to_string())], "images does not list {tagged}");
        let bare_id = e.cli(&["commit", &name, &bare]).await?.success()?.stdout;
        ensure!(
            listed_as(&e, &bare_id).await? == [(bare.clone(), "latest".to_string())],
            "images does not list {bare_latest}"
        );
        Ok(Outcome::Passed)
    })
    .await
}

/// Without a repository the image is made anyway, listed as `<none> <none>`.
pub async fn commit_no_repo(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("commitnorepo");
    let mut id = String::new();
    let outcome = cleaning(&e, &[&name], async {
        run(&e, &["--name", &name, IMAGE, "true"]).await?.success()?;
        id = e.cli(&["commit", &name]).await?.success()?.stdout.trim().to_string();
        ensure!(
            listed_as(&e, &id).await? == [("<none>".to_string(), "<none>".to_string())],
            "images does not list {id} as <none> <none>"
        );
        Ok(Outcome::Passed)
    })
    .await;
    if !id.is_empty() {
        let _ = e.call(http::Method::DELETE, &format!("/images/{}?force=1", id.trim_start_matches("sha256:"))).await;
    }
    outcome
}

/// `commit ID user/repo` is listed as user/repo latest.
pub async fn commit_user_repo(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("commituser");
    let repo = format!("spec{}/{}", std::process::id(), e.unique("kickassapp"));
    let latest = format!("{repo}:latest");
    cleaning_images(&e, &[&name], &[&latest], async {
        run(&e, &["--name", &name, IMAGE, "true"]).await?.success()?;
        let id = e.cli(&["commit", &name, &repo]).await?.success()?.stdout;
        ensure!(listed_as(&e, &id).await? == [(repo.clone(), "latest".to_string())], "images does not list {latest}");
        Ok(Outcome::Passed)
    })
    .await
}

/// Committing a running container works and leaves it running.
pub async fn commit_running(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let (name, image) = (e.unique("commitrunning"), e.unique("commitrunningimage"));
    cleaning_images(&e, &[&name], &[&image], async {
        detach(&e, &name, &[IMAGE, "sh", "-c", IDLE]).await?;
        e.cli(&["commit", &name, &image]).await?.success()?;
        ensure!(is_running(&e, &name).await?, "the container stopped");
        Ok(Outcome::Passed)
    })
    .await
}

/// `-m` becomes the image's Comment and `-a` its Author.
pub async fn commit_message_author(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let (name, image) = (e.unique("commitmeta"), e.unique("commitmetaimage"));
    cleaning_images(&e, &[&name], &[&image], async {
        run(&e, &["--name", &name, IMAGE, "true"]).await?.success()?;
        e.cli(&["commit", "-m", "a message", "-a", "Some Author <a@example.org>", &name, &image]).await?.success()?;
        let made: Value = e.get(&format!("/images/{image}/json")).await?.json()?;
        ensure!(made["Comment"] == "a message", "Comment is {}", made["Comment"]);
        ensure!(made["Author"] == "Some Author <a@example.org>", "Author is {}", made["Author"]);
        Ok(Outcome::Passed)
    })
    .await
}

/// `commit -run='{json}'` stores a run config (2014): the CLI's help says whether it has it.
pub async fn commit_run(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    if !super::containers::cli_has_flag(&e, "commit", "--run").await?
        && !super::containers::cli_has_flag(&e, "commit", "-run").await?
    {
        return Ok(skip(
            SkipKind::Legacy,
            "the CLI's `commit --help` has no --run: later Docker replaced it with --change (Dockerfile instructions)",
        ));
    }
    let (name, image, child) = (e.unique("commitrun"), e.unique("commitrunimage"), e.unique("commitrunchild"));
    cleaning_images(&e, &[&name, &child], &[&image], async {
        run(&e, &["--name", &name, IMAGE, "true"]).await?.success()?;
        let bad = e.cli(&["commit", "--run", "{not json", &name, &format!("{image}:bad")]).await?;
        ensure!(bad.status != Some(0), "an invalid --run was accepted");
        e.cli(&["commit", "--run", r#"{"Cmd": ["ls", "/etc"], "PortSpecs": ["5432"]}"#, &name, &image])
            .await?
            .success()?;
        let out = run_out(&e, &["--name", &child, &image]).await?;
        ensure!(out.contains("passwd"), "the stored Cmd did not run: {out}");
        Ok(Outcome::Passed)
    })
    .await
}
