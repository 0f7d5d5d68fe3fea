//! Builds: `build` and the Dockerfile reference (4.4, 5.1.6, 5.2, `POST /build` of 5.4.4 and
//! the derived-image seeds). Every case writes its contexts in a temporary directory of its own,
//! builds under unique names with the classic builder (DOCKER_BUILDKIT=0: the 2014 "Step N",
//! "Using cache" output is its own), and removes what it built, intermediate images included,
//! whatever happened. RUN steps and containers run with no network (`--network=none`,
//! `--net=none`) unless a case needs one; URLs point at a server the case runs on 127.0.0.1.

use super::containers::{remove, text, IDLE, IMAGE};
use super::Case;
use crate::case;
use crate::engine::{CliRun, Engine};
use crate::outcome::{skip, Outcome, SkipKind};
use anyhow::{bail, ensure, Context as _};
use http::{Method, StatusCode};
use serde_json::{json, Value};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

#[rustfmt::skip]
pub static CASES: &[Case] = &[
    case!("build needs a Dockerfile", ["build.dockerfile-required", "api.build.no-dockerfile"], dockerfile_required),
    case!("build discards its context", ["build.context-cleanup"], context_cleanup),
    case!("build steps are independent", ["build.step-independent"], step_independent),
    case!("build commits every step", ["build.commit-per-step"], commit_per_step),
    case!("build cache reuse", ["build.cache.reuse"], cache_reuse),
    case!("build cache invalidation", ["build.cache.invalidate"], cache_invalidate),
    case!("dockerfile comments", ["dockerfile.format.comment", "dockerfile.comment-version-line"], comments),
    case!("dockerfile # inside arguments", ["dockerfile.format.hash-inline"], hash_inline),
    case!("dockerfile keyword case", ["dockerfile.format.case-insensitive"], case_insensitive),
    case!("dockerfile FROM first", ["dockerfile.format.first-from"], first_from),
    case!("dockerfile order", ["dockerfile.format.in-order"], in_order),
    case!("dockerfile FROM image", ["dockerfile.from.image"], from_image),
    case!("dockerfile FROM tag", ["dockerfile.from.tag", "dockerfile.from.default-latest"], from_tag),
    case!("dockerfile FROM missing tag", ["dockerfile.from.missing-tag"], from_missing_tag),
    case!("dockerfile FROM twice", ["dockerfile.from.multiple"], from_multiple),
    case!("dockerfile MAINTAINER", ["dockerfile.maintainer"], maintainer),
    case!("dockerfile RUN shell form", ["dockerfile.run.shell-form"], run_shell_form),
    case!("dockerfile RUN exec form", ["dockerfile.run.exec-form"], run_exec_form),
    case!("dockerfile RUN keeps files", ["dockerfile.run.new-layer"], run_new_layer),
    case!("dockerfile CMD exec form", ["dockerfile.cmd.exec-form"], cmd_exec_form),
    case!("dockerfile CMD shell form", ["dockerfile.cmd.shell-form"], cmd_shell_form),
    case!("dockerfile CMD last wins", ["dockerfile.cmd.last-wins"], cmd_last_wins),
    case!("dockerfile CMD replaced by run args", ["dockerfile.cmd.overridden-by-run-args"], cmd_overridden),
    case!("dockerfile CMD not run at build", ["dockerfile.cmd.not-at-build"], cmd_not_at_build),
    case!("dockerfile CMD as commit config", ["dockerfile.cmd.equiv-commit-run"], cmd_equiv_commit),
    case!("dockerfile EXPOSE", ["dockerfile.expose"], expose),
    case!("dockerfile EXPOSE several", ["dockerfile.expose.multiple"], expose_multiple),
    case!("dockerfile ENV in RUN", ["dockerfile.env.set"], env_set),
    case!("dockerfile ENV at run time", ["dockerfile.env.persist", "dockerfile.env.value-rest-of-line"], env_persist),
    case!("dockerfile ADD file", ["dockerfile.add.context-file", "dockerfile.add.file-to-dir-slash", "dockerfile.add.file-to-file"], add_file),
    case!("dockerfile ADD creates directories", ["dockerfile.add.create-parents", "dockerfile.add.owner-mode"], add_create_parents),
    case!("dockerfile ADD keeps file metadata", ["dockerfile.add.file-metadata"], add_file_metadata),
    case!("dockerfile ADD outside the context", ["dockerfile.add.outside-context"], add_outside_context),
    case!("dockerfile ADD URL", ["dockerfile.add.url-no-trailing-slash", "dockerfile.add.url-trailing-slash", "dockerfile.add.url-not-decompressed"], add_url),
    case!("dockerfile ADD URL without a path", ["dockerfile.add.url-no-path"], add_url_no_path),
    case!("dockerfile ADD URL with authentication", ["dockerfile.add.url-no-auth"], add_url_auth),
    case!("dockerfile ADD directory", ["dockerfile.add.dir", "dockerfile.add.dir-merge"], add_dir),
    case!("dockerfile ADD local archives", ["dockerfile.add.tar-identity", "dockerfile.add.tar-gzip", "dockerfile.add.tar-bzip2", "dockerfile.add.tar-xz"], add_tars),
    case!("dockerfile ADD archive merges", ["dockerfile.add.tar-merge"], add_tar_merge),
    case!("dockerfile ENTRYPOINT exec form", ["dockerfile.entrypoint.exec-form", "dockerfile.entrypoint.run-args-appended"], entrypoint_exec_form),
    case!("dockerfile ENTRYPOINT shell form", ["dockerfile.entrypoint.shell-form"], entrypoint_shell_form),
    case!("dockerfile ENTRYPOINT last wins", ["dockerfile.entrypoint.last-wins"], entrypoint_last_wins),
    case!("dockerfile ENTRYPOINT parameters kept", ["dockerfile.entrypoint.params-kept"], entrypoint_params_kept),
    case!("dockerfile ENTRYPOINT with CMD defaults", ["dockerfile.cmd.params-form", "dockerfile.entrypoint.cmd-default-args"], entrypoint_cmd_defaults),
    case!("dockerfile VOLUME", ["dockerfile.volume"], volume),
    case!("dockerfile USER name", ["dockerfile.user.name"], user_name),
    case!("dockerfile USER uid", ["dockerfile.user.uid"], user_uid),
    case!("dockerfile WORKDIR", ["dockerfile.workdir"], workdir),
    case!("dockerfile ONBUILD stored", ["dockerfile.onbuild.register", "dockerfile.onbuild.inspect"], onbuild_stored),
    case!("dockerfile ONBUILD triggers", ["dockerfile.onbuild.trigger-order", "dockerfile.onbuild.trigger-context", "dockerfile.onbuild.any-instruction", "dockerfile.onbuild.not-inherited"], onbuild_triggers),
    case!("dockerfile ONBUILD failing trigger", ["dockerfile.onbuild.trigger-failure"], onbuild_trigger_failure),
    case!("dockerfile ONBUILD chains rejected", ["dockerfile.onbuild.chain-rejected"], onbuild_chain_rejected),
    case!("dockerfile COPY into a directory", ["seed.kratos.dockerfile-copy"], copy_into_directory),
    case!("dockerfile FROM a tagged base", ["seed.kratos.from-tagged-base"], from_tagged_base),
    case!("dockerfile USER switches", ["seed.directus.dockerfile-user-switch"], user_switch),
    case!("dockerfile RUN continuation", ["seed.directus.dockerfile-run-continuation"], run_continuation),
    case!("build -t NAME", ["seed.directus.build-tag-latest"], build_tag_latest),
    case!("dockerfile FROM scratch", ["seed.pocketid.from-scratch"], from_scratch),
    case!("build output", ["cli.build.output-steps"], output_steps),
    case!("build failing step", ["cli.build.failure"], failing_step),
    case!("build pulls a missing base", ["cli.build.pull-base"], pull_base),
    case!("build sends the whole context", ["cli.build.context-all-files"], context_all_files),
    case!("build from a Dockerfile URL", ["cli.build.context-url-dockerfile"], context_url_dockerfile),
    case!("build from a git repository", ["cli.build.context-git"], context_git),
    case!("build from stdin", ["cli.build.stdin", "cli.build.stdin-add-local-fails"], from_stdin),
    case!("dockerfile VOLUME binds no host path", ["volumes.dockerfile.no-host-bind"], volume_no_host_bind),
    case!("build source argument", ["cli.build.missing-path", "cli.build.usage-forms"], source_argument),
    case!("build -t", ["cli.build.opt.tag", "cli.images.after-build"], opt_tag),
    case!("build -q", ["cli.build.opt.quiet"], opt_quiet),
    case!("build --no-cache", ["cli.build.opt.no-cache"], opt_no_cache),
    case!("build --rm", ["cli.build.opt.rm", "cli.build.opt.rm-on-failure"], opt_rm),
    case!("api build", ["api.build", "api.v1-8.build-json-stream"], api_build),
    case!("api build compressed context", ["api.v1-3.build-tar-stream"], api_build_compressed),
    case!("build and serve an app", ["flow.node-build-run"], build_and_serve),
];

// ---------------------------------------------------------------------------------------------
// Helpers: a case's scope (contexts, names, cleanup), builds, runs, a loopback HTTP server.
// ---------------------------------------------------------------------------------------------

/// What one case made: its temporary directory, the images it named or built and the
/// containers it kept. [`scoped`] removes them all when the case ends.
struct Scope {
    e: Arc<Engine>,
    dir: PathBuf,
    images: Mutex<Vec<String>>,
    containers: Mutex<Vec<String>>,
}

/// A build context: a directory holding a Dockerfile and the files a case puts beside it.
struct Ctx {
    dir: PathBuf,
}

/// Runs a case body with a fresh [`Scope`], then removes everything the scope recorded.
async fn scoped<F, Fut>(e: Arc<Engine>, body: F) -> anyhow::Result<Outcome>
where
    F: FnOnce(Arc<Scope>) -> Fut,
    Fut: Future<Output = anyhow::Result<Outcome>>,
{
    let dir = std::env::temp_dir().join(e.unique("build"));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let s = Arc::new(Scope { e, dir, images: Mutex::default(), containers: Mutex::default() });
    let result = body(s.clone()).await;
    s.clean().await;
    result
}

impl Scope {
    /// A unique image name, removed at the end.
    fn name(&self, what: &str) -> String {
        // Usable as a namespace too (before a slash): only [a-z0-9_] by the 2014 rules.
        let name = self.e.unique(what).replace('-', "_");
        self.images.lock().unwrap_or_else(|p| p.into_inner()).push(name.clone());
        name
    }

    /// A unique container name, removed (with its volumes) at the end.
    fn container(&self, what: &str) -> String {
        let name = self.e.unique(what);
        self.containers.lock().unwrap_or_else(|p| p.into_inner()).push(name.clone());
        name
    }

    /// A new context directory with `dockerfile` as its Dockerfile.
    fn context(&self, dockerfile: &str) -> anyhow::Result<Ctx> {
        let ctx = self.bare_context()?;
        ctx.write("Dockerfile", dockerfile)?;
        Ok(ctx)
    }

    /// A new, empty context directory.
    fn bare_context(&self) -> anyhow::Result<Ctx> {
        let dir = self.dir.join(self.e.unique("ctx"));
        std::fs::create_dir_all(&dir)?;
        Ok(Ctx { dir })
    }

    /// `build --force-rm --network=none -t TAG DIR` with the classic builder, whatever its
    /// outcome; the images the build made are recorded for removal.
    async fn build(&self, ctx: &Ctx, tag: &str) -> anyhow::Result<CliRun> {
        let dir = ctx.dir.to_string_lossy();
        let env = [("DOCKER_HOST", self.e.docker_host.as_str()), ("DOCKER_BUILDKIT", "0")];
        let args = ["build", "--force-rm", "--network=none", "-t", tag, &dir];
        let run = self.e.cli_with(&args, &env).await?;
        self.record(&run.stdout);
        Ok(run)
    }

    /// A build that must succeed; its output.
    async fn built(&self, ctx: &Ctx, tag: &str) -> anyhow::Result<String> {
        Ok(self.build(ctx, tag).await?.success()?.stdout)
    }

    /// Builds `dockerfile` alone under a new name; the name.
    async fn image(&self, dockerfile: &str) -> anyhow::Result<String> {
        let tag = self.name("img");
        self.built(&self.context(dockerfile)?, &tag).await?;
        Ok(tag)
    }

    /// A build that must fail; its output, both streams. Fails if the tag came to exist.
    async fn refused(&self, ctx: &Ctx) -> anyhow::Result<String> {
        let tag = self.name("refused");
        let run = self.build(ctx, &tag).await?;
        let all = format!("{}{}", run.stdout, run.stderr);
        ensure!(run.status != Some(0), "the build succeeded:\n{all}");
        ensure!(!self.exists(&tag).await?, "the failed build still tagged {tag}");
        Ok(all)
    }

    /// `POST /build?QUERY` with the context as an uncompressed tar; the status and the text of
    /// the answer (see [`stream_text`]).
    async fn api_build(&self, ctx: &Ctx, query: &str) -> anyhow::Result<(u16, String)> {
        let (status, body) = self.api_build_raw(&ctx_tar(ctx)?, query).await?;
        Ok((status, stream_text(&body)))
    }

    /// `POST /build?forcerm=1&networkmode=none&QUERY` with `body` as `Content-Type:
    /// application/tar`, as the 2014 documentation sends it; the status and the raw body.
    async fn api_build_raw(&self, body: &[u8], query: &str) -> anyhow::Result<(u16, Vec<u8>)> {
        let path = format!("/build?forcerm=1&networkmode=none&{query}");
        let (status, answer) = raw_post(&self.e, &path, "application/tar", body).await?;
        self.record(&stream_text(&answer));
        Ok((status, answer))
    }

    /// Records the images a build output says the build made: every ` ---> ID` line except
    /// the base image a FROM step names and images taken from the cache.
    fn record(&self, output: &str) {
        let made = made_images(output);
        self.images.lock().unwrap_or_else(|p| p.into_inner()).extend(made);
    }

    async fn exists(&self, image: &str) -> anyhow::Result<bool> {
        Ok(self.e.get(&format!("/images/{image}/json")).await?.status == StatusCode::OK)
    }

    /// `GET /images/(name)/json`.
    async fn inspect(&self, image: &str) -> anyhow::Result<Value> {
        let reply = self.e.get(&format!("/images/{image}/json")).await?;
        ensure!(reply.status == StatusCode::OK, "no image {image}: {}", text(&reply.body));
        Ok(reply.json()?)
    }

    /// The image's configuration as inspect shows it.
    async fn config(&self, image: &str) -> anyhow::Result<Value> {
        let value = self.inspect(image).await?;
        Ok(value.get("Config").or_else(|| value.get("config")).cloned().unwrap_or(Value::Null))
    }

    /// The ids of the image and all its parents, child first.
    async fn ancestry(&self, image: &str) -> anyhow::Result<Vec<String>> {
        let mut chain = vec![];
        let mut next = image.to_string();
        while !next.is_empty() && chain.len() < 100 {
            let value = self.inspect(&next).await?;
            chain.push(value["Id"].as_str().unwrap_or_default().trim_start_matches("sha256:").to_string());
            next = value["Parent"].as_str().unwrap_or_default().trim_start_matches("sha256:").to_string();
        }
        Ok(chain)
    }

    /// `run --rm --net=none ARGS...`, whatever its outcome.
    async fn run(&self, args: &[&str]) -> anyhow::Result<CliRun> {
        let mut all = vec!["run", "--rm", "--net=none"];
        all.extend_from_slice(args);
        self.e.cli(&all).await
    }

    /// `run --rm --net=none ARGS...`, which must succeed; its standard output, trimmed.
    async fn out(&self, args: &[&str]) -> anyhow::Result<String> {
        Ok(self.run(args).await?.success()?.stdout.trim().to_string())
    }

    /// `run --rm -i --net=none ARGS...` with `input` on standard input; its standard output.
    async fn out_with_input(&self, input: &str, args: &[&str]) -> anyhow::Result<String> {
        let file = self.dir.join(self.e.unique("stdin"));
        std::fs::write(&file, input)?;
        let mut all = vec!["run", "--rm", "-i", "--net=none"];
        all.extend_from_slice(args);
        Ok(self.e.cli_stdin(&all, &file).await?.success()?.stdout.trim().to_string())
    }

    /// Whether `path` exists in a container of `image` (which must have busybox).
    async fn has(&self, image: &str, path: &str) -> anyhow::Result<bool> {
        let run = self.run(&[image, "test", "-e", path]).await?;
        match run.status {
            Some(0) => Ok(true),
            Some(1) => Ok(false),
            _ => bail!("`test -e {path}` in {image} failed: {}{}", run.stdout, run.stderr),
        }
    }

    async fn clean(&self) {
        let containers = std::mem::take(&mut *self.containers.lock().unwrap_or_else(|p| p.into_inner()));
        for name in containers {
            remove(&self.e, &name).await;
        }
        let images = std::mem::take(&mut *self.images.lock().unwrap_or_else(|p| p.into_inner()));
        // Names first (forced, pruning untagged parents), then what is left, children first.
        let (names, ids): (Vec<String>, Vec<String>) = images.into_iter().partition(|i| i.starts_with("spec-"));
        for name in names {
            let _ = self.e.call(Method::DELETE, &format!("/images/{name}?force=1")).await;
        }
        for id in ids.iter().rev() {
            let _ = self.e.call(Method::DELETE, &format!("/images/{id}")).await;
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Ctx {
    /// Writes a file of the context (parents created).
    fn write(&self, path: &str, contents: impl AsRef<[u8]>) -> anyhow::Result<PathBuf> {
        let full = self.dir.join(path);
        if let Some(parent) = full.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&full, contents).with_context(|| format!("cannot write {}", full.display()))?;
        Ok(full)
    }

    fn chmod(&self, path: &str, mode: u32) -> anyhow::Result<()> {
        use std::os::unix::fs::PermissionsExt;
        Ok(std::fs::set_permissions(self.dir.join(path), std::fs::Permissions::from_mode(mode))?)
    }
}

/// The ids of the images a build output shows being made (see [`Scope::record`]).
fn made_images(output: &str) -> Vec<String> {
    let mut made = vec![];
    let (mut base_pending, mut cached) = (false, false);
    for line in output.lines().map(str::trim) {
        if line.starts_with("Step ") {
            let instruction = line.split_once(" : ").map_or("", |(_, rest)| rest);
            base_pending = instruction.to_ascii_uppercase().starts_with("FROM");
            cached = false;
        } else if line.contains("Using cache") {
            cached = true;
        } else if let Some(id) = line.strip_prefix("---> ") {
            let id = id.trim();
            if id.len() >= 12 && id.bytes().all(|b| b.is_ascii_hexdigit()) {
                if !base_pending && !cached {
                    made.push(id.to_string());
                }
                base_pending = false;
                cached = false;
            }
        }
    }
    made
}

/// The blocks of a build output, one per `Step` line, in order.
fn steps(output: &str) -> Vec<String> {
    let mut blocks: Vec<String> = vec![];
    for line in output.lines() {
        if line.starts_with("Step ") {
            blocks.push(String::new());
        }
        if let Some(block) = blocks.last_mut() {
            block.push_str(line);
            block.push('\n');
        }
    }
    blocks
}

/// Whether some line of `output` is exactly `wanted` (surrounding blanks aside).
fn has_line(output: &str, wanted: &str) -> bool {
    output.lines().any(|l| l.trim() == wanted)
}

fn strings(value: &Value) -> Vec<String> {
    value.as_array().map(|a| a.iter().filter_map(|v| v.as_str().map(String::from)).collect()).unwrap_or_default()
}

/// An answer of the loopback HTTP server: status, extra header lines, body.
type Answer = (u16, String, Vec<u8>);

/// An HTTP server on 127.0.0.1 answering every request with what `answer` gives for its path,
/// for as long as the value lives.
struct Server {
    port: u16,
    task: tokio::task::JoinHandle<()>,
}

impl Server {
    async fn start(answer: impl Fn(&str) -> Answer + Send + Sync + 'static) -> anyhow::Result<Server> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let answer = Arc::new(answer);
        let task = tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let answer = answer.clone();
                tokio::spawn(async move {
                    let mut request = vec![0u8; 8192];
                    let n = stream.read(&mut request).await.unwrap_or(0);
                    let head = String::from_utf8_lossy(&request[..n]).into_owned();
                    let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
                    let (status, headers, body) = answer(&path);
                    let head = format!(
                        "HTTP/1.1 {status} X\r\nContent-Length: {}\r\n{headers}Connection: close\r\n\r\n",
                        body.len()
                    );
                    let _ = stream.write_all(head.as_bytes()).await;
                    let _ = stream.write_all(&body).await;
                });
            }
        });
        Ok(Server { port, task })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A tar holding `files` (path, contents), uncompressed.
pub(super) fn tar_of(files: &[(&str, &str)]) -> anyhow::Result<Vec<u8>> {
    let mut tar = tar::Builder::new(Vec::new());
    for (path, contents) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(contents.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(1_400_000_000);
        tar.append_data(&mut header, path, contents.as_bytes())?;
    }
    Ok(tar.into_inner()?)
}

fn gzip(data: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, data)?;
    Ok(gz.finish()?)
}

/// `data` compressed by a host program such as bzip2 or xz.
fn compress_with(program: &str, data: &[u8]) -> anyhow::Result<Vec<u8>> {
    use std::io::Write;
    let mut child = std::process::Command::new(program)
        .arg("-c")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot run {program}"))?;
    let mut stdin = child.stdin.take().context("no stdin")?;
    let input = data.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let output = child.wait_with_output()?;
    writer.join().map_err(|_| anyhow::anyhow!("{program} writer panicked"))??;
    ensure!(output.status.success(), "{program} failed");
    Ok(output.stdout)
}

/// The paths under `root` whose file name is `name`, not descending below `depth` levels.
fn find_named(root: &Path, name: &str, depth: usize, found: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(root) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if entry.file_name() == name {
            found.push(path.clone());
        }
        let is_dir = entry.file_type().map(|t| t.is_dir()).unwrap_or(false);
        if is_dir && depth > 0 {
            find_named(&path, name, depth - 1, found);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// build (5.2.1)
// ---------------------------------------------------------------------------------------------

/// A context without a Dockerfile: the CLI build fails, and so does `POST /build`.
pub async fn dockerfile_required(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    scoped(e, |s| async move {
        let ctx = s.bare_context()?;
        ctx.write("Dockerfile.not", "FROM busybox\n")?;
        s.refused(&ctx).await?;
        let tag = s.name("api-nodockerfile");
        let (status, out) = s.api_build(&ctx, &format!("t={tag}")).await?;
        ensure!(
            status >= 400 || (status == 200 && !out.contains("Successfully built")),
            "POST /build without a Dockerfile answered {status}: {out}"
        );
        ensure!(!s.exists(&tag).await?, "POST /build without a Dockerfile tagged {tag}");
        Ok(Outcome::Passed)
    })
    .await
}

/// After a build, no copy of the uploaded context is left in the daemon's storage (its
/// root, as `info` reports it, or the system temporary directory).
pub async fn context_cleanup(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    scoped(e, |s| async move {
        let marker = s.e.unique("context-marker");
        let ctx = s.context("FROM busybox\nRUN true\n")?;
        ctx.write(&marker, "only in the context")?;
        s.built(&ctx, &s.name("cleanup")).await?;
        let info: Value = s.e.get("/info").await?.json()?;
        let mut found = vec![];
        if let Some(root) = info["DockerRootDir"].as_str().filter(|r| !r.is_empty()) {
            find_named(Path::new(root), &marker, 12, &mut found);
        }
        find_named(&std::env::temp_dir(), &marker, 3, &mut found);
        found.retain(|p| !p.starts_with(&s.dir));
        ensure!(found.is_empty(), "the context is still kept after the build: {found:?}");
        Ok(Outcome::Passed)
    })
    .await
}

/// `RUN cd /tmp` then `RUN pwd` prints /: the directory does not carry over.
pub async fn step_independent(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    scoped(e, |s| async move {
        let ctx = s.context(&format!("FROM busybox\nRUN cd /tmp # {}\nRUN pwd\n", s.e.unique("uncached")))?;
        let out = s.built(&ctx, &s.name("independent")).await?;
        let last = steps(&out).pop().unwrap_or_default();
        ensure!(has_line(&last, "/"), "`RUN pwd` did not print /:\n{out}");
        Ok(Outcome::Passed)
    })
    .await
}

/// Each instruction after FROM prints the id of the image it committed; those ids are in the
/// result's history and in `images -a`.
pub async fn commit_per_step(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    scoped(e, |s| async move {
        let marker = s.e.unique("step");
        let ctx = s.context(&format!("FROM busybox\nRUN echo {marker} > /marker\nENV STEP two\nCMD [\"true\"]\n"))?;
        let tag = s.name("per-step");
        let out = s.built(&ctx, &tag).await?;
        let ids = made_images(&out);
        ensure!(ids.len() == 3, "expected an image id for each of the 3 steps after FROM:\n{out}");
        let history = s.e.cli(&["history", "-q", "--no-trunc", &tag]).await?.success()?.stdout;
        let all = s.e.cli(&["images", "-a", "-q", "--no-trunc"]).await?.success()?.stdout;
        for id in &ids {
            let listed =
                |listing: &str| listing.lines().any(|l| l.trim().trim_start_matches("sha256:").starts_with(id));
            ensure!(listed(&history), "step image {id} is not in the history of {tag}:\n{history}");
            ensure!(listed(&all), "step image {id} is not in `images -a`");
        }
        Ok(Outcome::Passed)
    })
    .await
}

/// A second build of the same Dockerfile takes every step from the cache and ends with the
/// same image.
pub async fn cache_reuse(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    scoped(e, |s| async move {
        let marker = s.e.unique("cache");
        let ctx = s.context(&format!("FROM busybox\nRUN echo {marker} > /marker\nENV CACHED yes\n"))?;
        let tag = s.name("cache");
        let first = s.built(&ctx, &tag).await?;
        ensure!(!first.contains("Using cache"), "the first build already used the cache:\n{first}");
        let id = s.e.image_id(&tag).await?;
        let second = s.built(&ctx, &tag).await?;
        let cached = steps(&second).iter().skip(1).filter(|b| b.contains("Using cache")).count();
        ensure!(cached == 2, "expected `Using cache` for both steps after FROM:\n{second}");
        ensure!(s.e.image_id(&tag).await? == id, "the rebuild made another image:\n{second}");
        Ok(Outcome::Passed)
    })
    .await
}

/// Editing the third instruction runs it and the fourth again; the second still comes from
/// the cache.
pub async fn cache_invalidate(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    scoped(e, |s| async move {
        let marker = s.e.unique("invalidate");
        let dockerfile = |middle: &str| {
            format!("FROM busybox\nRUN echo {marker} > /one\nRUN echo {middle} > /two\nRUN echo three\n")
        };
        let tag = s.name("invalidate");
        s.built(&s.context(&dockerfile("before"))?, &tag).await?;
        let out = s.built(&s.context(&dockerfile("after"))?, &tag).await?;
        let cached: Vec<bool> = steps(&out).iter().map(|b| b.contains("Using cache")).collect();
        ensure!(cached.len() == 4 && cached[1..] == [true, false, false], "expected cache, run, run:\n{out}");
        ensure!(s.out(&[&tag, "cat", "/two"]).await? == "after", "the edited step's result is not in the image");
        Ok(Outcome::Passed)
    })
    .await
}

// ---------------------------------------------------------------------------------------------
// Format (5.2.2)
// ---------------------------------------------------------------------------------------------

/// A leading `# DOCKER-VERSION` line and other # lines are no instructions.
pub async fn comments(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    scoped(e, |s| async move {
        let dockerfile =
            "# DOCKER-VERSION 0.3.4\nFROM busybox\n# RUN touch /commented\nRUN touch /uncommented\n# CMD [\"false\"]\n";
        let ctx = s.context(dockerfile)?;
        let tag = s.name("comments");
        let out = s.built(&ctx, &tag).await?;
        ensure!(steps(&out).len() == 2, "comment lines became steps:\n{out}");
        ensure!(s.has(&tag, "/uncommented").await? && !s.has(&tag, "/commented").await?, "a comment was run");
        Ok(Outcome::Passed)
    })
    .await
}

/// A # inside an argument is part of it.
pub async fn hash_inline(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    scoped(e, |s| async move {
        let fresh = s.e.unique("uncached");
        let ctx =
            s.context(&format!("FROM busybox\nENV FRESH {fresh}\nRUN echo 'we are running some # of cool things'\n"))?;
        let out = s.built(&ctx, &s.name("hash")).await?;
        ensure!(has_line(&out, "we are running some # of cool things"), "the text was cut at #:\n{out}");
        Ok(Outcome::Passed)
    })
    .await
}

/// `from`, `Run` and `cmd` work like their upper-case forms.
pub async fn case_insensitive(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    scoped(e, |s| async move {
        let tag = s.image("from busybox\nRun echo mixed > /mixed\ncmd [\"cat\", \"/mixed\"]\n").await?;
        ensure!(s.out(&[&tag]).await? == "mixed", "lower-case instructions did not take effect");
        Ok(Outcome::Passed)
    })
    .await
}

/// An instruction before any FROM fails the build, asking for a base image.
pub async fn first_from(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    scoped(e, |s| async move {
        let out = s.refused(&s.context("# no base\nRUN echo hello\nFROM busybox\n")?).await?;
        let lower = out.to_lowercase().replace("response from daemon", "");
        if lower.contains("from") || lower.contains("base image") || lower.contains("source image") {
            return Ok(Outcome::Passed);
        }
        ensure!(lower.contains("no build stage"), "the error does not ask for a base image:\n{out}");
        Ok(skip(
            SkipKind::Divergence,
            "later Docker (multi-stage builds) refuses with `no build stage in current context` instead of asking \
             for a base image with FROM",
        ))
    })
    .await
}

/// Steps are numbered and run in file order; each sees the previous ones' effects.
pub async fn in_order(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    scoped(e, |s| async move {
        let dockerfile = "FROM busybox\nRUN echo first > /order\nRUN cat /order && echo second >> /order\n";
        let tag = s.name("order");
        let out = s.built(&s.context(dockerfile)?, &tag).await?;
        for (n, block) in steps(&out).iter().enumerate() {
            let number = block.trim_start_matches("Step ").split([' ', '/']).next().unwrap_or_default();
            ensure!(number == (n + 1).to_string(), "step {} is numbered {number}:\n{out}", n + 1);
        }
        ensure!(s.out(&[&tag, "cat", "/order"]).await? == "first\nsecond", "the steps did not run in order");
        Ok(Outcome::Passed)
    })
    .await
}

// ---------------------------------------------------------------------------------------------
// FROM, MAINTAINER, RUN (5.2.3 §3.1–3.3)
// ---------------------------------------------------------------------------------------------

/// `FROM busybox`: busybox is among the result's parents.
pub async fn from_image(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    scoped(e, |s| async move {
        let tag = s.image("FROM busybox\nENV DERIVED yes\n").await?;
        let base = s.e.image_id(&format!("{IMAGE}:latest")).await?;
        let chain = s.ancestry(&tag).await?;
        ensure!(chain[1..].contains(&base), "{IMAGE} ({base}) is not a parent of the result: {chain:?}");
        Ok(Outcome::Passed)
    })
    .await
}

/// `FROM repo:tag` builds on exactly that tag; `FROM repo` on repo:latest.
pub async fn from_tag(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    scoped(e, |s| async move {
        let repo = s.name("base");
        let (tagged, latest) = (format!("{repo}:v1"), format!("{repo}:latest"));
        s.images.lock().unwrap_or_else(|p| p.into_inner()).extend([tagged.clone(), latest.clone()]);
        s.e.cli(&["tag", IMAGE, &tagged]).await?.success()?;
        s.e.cli_stdin(&["import", "-", &latest], &s.e.fixture("busybox-rootfs.tar")).await?.success()?;
        let (v1_id, latest_id) = (s.e.image_id(&tagged).await?, s.e.image_id(&latest).await?);
        ensure!(v1_id != latest_id, "the two tags name one image");
        let on_tag = s.ancestry(&s.image(&format!("FROM {tagged}\nENV ON tag\n")).await?).await?;
        ensure!(on_tag.contains(&v1_id) && !on_tag.contains(&latest_id), "FROM {tagged} used another base");
        let on_repo = s.ancestry(&s.image(&format!("FROM {repo}\nENV ON latest\n")).await?).await?;
        ensure!(on_repo.contains(&latest_id) && !on_repo.contains(&v1_id), "FROM {repo} did not use {latest}");
        Ok(Outcome::Passed)
    })
    .await
}

/// FROM a tag found neither locally nor on the registry (a loopback registry answering 404 to
/// everything) fails the build.
pub async fn from_missing_tag(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    scoped(e, |s| async move {
        let registry = Server::start(|_| (404, String::new(), b"{}".to_vec())).await?;
        let base = format!("127.0.0.1:{}/{}:missing", registry.port, s.e.unique("nothing"));
        s.refused(&s.context(&format!("FROM {base}\nRUN true\n"))?).await?;
        Ok(Outcome::Passed)
    })
    .await
}

/// Two FROM sections make two images: the first section's has /bar only, the reported
/// result /oink only.
pub async fn from_multiple(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    scoped(e, |s| async move {
        let dockerfile = "FROM busybox\nRUN touch /bar\nFROM busybox\nRUN touch /oink\n";
        let tag = s.name("multiple");
        let out = s.built(&s.context(dockerfile)?, &tag).await?;
        let blocks = steps(&out);
        ensure!(blocks.len() == 4, "expected 4 steps:\n{out}");
        let first = made_images(&blocks[..2].concat()).pop().with_context(|| format!("no first image:\n{out}"))?;
        ensure!(s.has(&first, "/bar").await? && !s.has(&first, "/oink").await?, "the first image is not /bar only");
        ensure!(s.has(&tag, "/oink").await? && !s.has(&tag, "/bar").await?, "the result is not /oink only");
        Ok(Outcome::Passed)
    })
    .await
}

/// `MAINTAINER` sets Author.
pub async fn maintainer(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    scoped(e, |s| async move {
        let tag = s.image("FROM busybox\nMAINTAINER Jane Doe <jane@example.com>\n").await?;
        let author = s.inspect(&tag).await?["Author"].clone();
        ensure!(author == "Jane Doe <jane@example.com>", "Author is {author}");
        Ok(Outcome::Passed)
    })
    .await
}

/// The shell form goes through /bin/sh -c: pipes, `;` and $VAR work.
pub async fn run_shell_form(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    scoped(e, |s| async move {
        let tag = s.image("FROM busybox\nRUN echo a b c | wc -w > /shell; X=expanded; echo $X >> /shell\n").await?;
        let out = s.out(&[&tag, "cat", "/shell"]).await?;
        ensure!(out == "3\nexpanded", "the shell did not run the line: {out:?}");
        Ok(Outcome::Passed)
    })
    .await
}

/// The exec form runs the program without a shell: $HOME stays literal, and it works in an
/// image that has nothing but a static busybox at /busybox.
pub async fn run_exec_form(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    scoped(e, |s| async move {
        let fresh = s.e.unique("uncached");
        let ctx = s.context(&format!("FROM busybox\nENV FRESH {fresh}\nRUN [\"/bin/echo\", \"$HOME\"]\n"))?;
        let out = s.built(&ctx, &s.name("exec")).await?;
        ensure!(has_line(&out, "$HOME"), "$HOME was expanded:\n{out}");
        let ctx = s.context("FROM scratch\nADD busybox /busybox\nRUN [\"/busybox\", \"touch\", \"/made\"]\n")?;
        extract_busybox(&s.e.fixture("busybox-rootfs.tar"), &ctx.dir.join("busybox"))?;
        ctx.chmod("busybox", 0o755)?;
        let tag = s.name("no-shell");
        s.built(&ctx, &tag).await?;
        let run = s.run(&["--entrypoint", "/busybox", &tag, "test", "-e", "/made"]).await?;
        ensure!(run.status == Some(0), "the exec-form RUN did not run: {}{}", run.stdout, run.stderr);
        Ok(Outcome::Passed)
    })
    .await
}

/// Copies the static busybox binary out of the fixture's root file system.
fn extract_busybox(rootfs: &Path, to: &Path) -> anyhow::Result<()> {
    let mut rootfs = tar::Archive::new(std::fs::File::open(rootfs)?);
    let mut entry = rootfs
        .entries()?
        .filter_map(Result::ok)
        .find(|e| e.path().is_ok_and(|p| p.ends_with("bin/busybox") && !p.starts_with("usr")))
        .context("no bin/busybox in the fixture's root file system")?;
    entry.unpack(to)?;
    Ok(())
}

/// What RUN writes is seen by the next step and by containers of the image.
pub async fn run_new_layer(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    scoped(e, |s| async move {
        let tag = s.image("FROM busybox\nRUN echo layer > /made\nRUN cat /made > /seen\n").await?;
        ensure!(s.out(&[&tag, "cat", "/seen"]).await? == "layer", "the next step did not see the file");
        ensure!(s.out(&[&tag, "cat", "/made"]).await? == "layer", "the image lacks the file");
        Ok(Outcome::Passed)
    })
    .await
}

// ---------------------------------------------------------------------------------------------
// CMD, EXPOSE, ENV (5.2.3 §3.4–3.6)
// ---------------------------------------------------------------------------------------------

/// `CMD ["/usr/bin/wc", "--help"]` is stored as is and run without a shell.
pub async fn cmd_exec_form(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    scoped(e, |s| async move {
        let tag = s.image("FROM busybox\nCMD [\"/usr/bin/wc\", \"--help\"]\n").await?;
        let cmd = strings(&s.config(&tag).await?["Cmd"]);
        ensure!(cmd == ["/usr/bin/wc", "--help"], "Cmd is {cmd:?}");
        let run = s.run(&[&tag]).await?;
        ensure!(format!("{}{}", run.stdout, run.stderr).contains("wc"), "wc --help did not run: {run:?}");
        Ok(Outcome::Passed)
    })
    .await
}

/// The shell form of CMD goes through /bin/sh -c, so its pipe works.
pub async fn cmd_shell_form(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    scoped(e, |s| async move {
        let tag = s.image("FROM busybox\nCMD echo \"This is a test.\" | wc -\n").await?;
        let cmd = strings(&s.config(&tag).await?["Cmd"]);
        ensure!(cmd == ["/bin/sh", "-c", "echo \"This is a test.\" | wc -"], "Cmd is {cmd:?}");
        let out = s.out(&[&tag]).await?;
        ensure!(out.split_whitespace().take(3).eq(["1", "4", "16"]), "the pipe did not count: {out:?}");
        Ok(Outcome::Passed)
    })
    .await
}

/// Only the last CMD is stored and run.
pub async fn cmd_last_wins(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    scoped(e, |s| async move {
        let tag = s.image("FROM busybox\nCMD [\"echo\", \"first\"]\nCMD [\"echo\", \"last\"]\n").await?;
        ensure!(strings(&s.config(&tag).await?["Cmd"]) == ["echo", "last"], "the last CMD is not the one stored");
        ensure!(s.out(&[&tag]).await? == "last", "the last CMD is not the one run");
        Ok(Outcome::Passed)
    })
    .await
}

/// Arguments after the image replace CMD entirely.
pub async fn cmd_overridden(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    scoped(e, |s| async move {
        let tag = s.image("FROM busybox\nCMD [\"echo\", \"from-cmd\"]\n").await?;
        let out = s.out(&[&tag, "echo", "from-run"]).await?;
        ensure!(out == "from-run", "run arguments did not replace CMD: {out:?}");
        Ok(Outcome::Passed)
    })
    .await
}

/// CMD is not run during the build.
pub async fn cmd_not_at_build(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    scoped(e, |s| async move {
        let tag = s.image("FROM busybox\nCMD touch /made-by-cmd\n").await?;
        ensure!(!s.has(&tag, "/made-by-cmd").await?, "the CMD ran during the build");
        Ok(Outcome::Passed)
    })
    .await
}

/// The Cmd that CMD records equals the one a commit with a run configuration stores (what
/// 2014's `commit -run '{"Cmd": ...}'` sent: `POST /commit` with the configuration as body).
pub async fn cmd_equiv_commit(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    scoped(e, |s| async move {
        let tag = s.image("FROM busybox\nCMD [\"echo\", \"from-cmd\"]\n").await?;
        let container = s.container("commit");
        s.e.cli(&["create", "--net=none", "--name", &container, IMAGE, "true"]).await?.success()?;
        let committed = s.name("committed");
        let body = json!({"Cmd": ["echo", "from-cmd"]}).to_string();
        let path = format!("/commit?container={container}&repo={committed}");
        let reply = s.e.api.call(Method::POST, &path, Some(body.into())).await?;
        ensure!(reply.status.is_success(), "commit answered {}: {}", reply.status, text(&reply.body));
        let (built, by_commit) = (s.config(&tag).await?["Cmd"].clone(), s.config(&committed).await?["Cmd"].clone());
        ensure!(built == by_commit, "CMD stored {built}, the commit {by_commit}");
        Ok(Outcome::Passed)
    })
    .await
}

/// EXPOSE records the port, `run -P` publishes it and a linked container gets its variables.
pub async fn expose(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    scoped(e, |s| async move {
        let tag = s.image("FROM busybox\nEXPOSE 8087\n").await?;
        let exposed = s.config(&tag).await?["ExposedPorts"].clone();
        ensure!(exposed.get("8087/tcp").is_some(), "ExposedPorts is {exposed}");
        let server = s.container("exposing");
        s.e.cli(&["run", "-d", "-P", "--name", &server, &tag, "sh", "-c", IDLE]).await?.success()?;
        let port = s.e.cli(&["port", &server, "8087"]).await?.success()?.stdout;
        ensure!(port.contains(':'), "-P did not publish 8087: {port:?}");
        let env = s.e.cli(&["run", "--rm", "--link", &format!("{server}:srv"), IMAGE, "env"]).await?.success()?.stdout;
        ensure!(env.contains("SRV_PORT_8087_TCP="), "no link variables for 8087:\n{env}");
        Ok(Outcome::Passed)
    })
    .await
}

/// `EXPOSE 8087 8098 22` records all three.
pub async fn expose_multiple(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    scoped(e, |s| async move {
        let tag = s.image("FROM busybox\nEXPOSE 8087 8098 22\n").await?;
        let exposed = s.config(&tag).await?["ExposedPorts"].clone();
        for port in ["8087/tcp", "8098/tcp", "22/tcp"] {
            ensure!(exposed.get(port).is_some(), "{port} is not exposed: {exposed}");
        }
        Ok(Outcome::Passed)
    })
    .await
}

/// `ENV FOO bar` then `RUN echo $FOO` prints bar.
pub async fn env_set(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    scoped(e, |s| async move {
        let ctx =
            s.context(&format!("FROM busybox\nENV FRESH {}\nENV FOO bar\nRUN echo $FOO\n", s.e.unique("uncached")))?;
        let out = s.built(&ctx, &s.name("env")).await?;
        ensure!(has_line(&out, "bar"), "RUN did not see FOO:\n{out}");
        Ok(Outcome::Passed)
    })
    .await
}

/// ENV variables are in the environment of containers, the value being the rest of the line.
pub async fn env_persist(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    scoped(e, |s| async move {
        let tag = s.image("FROM busybox\nENV SPEC_GREETING some value\n").await?;
        let env = s.out(&[&tag, "env"]).await?;
        ensure!(has_line(&env, "SPEC_GREETING=some value"), "the container's environment:\n{env}");
        Ok(Outcome::Passed)
    })
    .await
}

// ---------------------------------------------------------------------------------------------
// ADD (5.2.3 §3.7)
// ---------------------------------------------------------------------------------------------

/// A context file lands at the destination: inside it with a trailing slash, as that file
/// without one.
pub async fn add_file(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    scoped(e, |s| async move {
        let ctx = s.context("FROM busybox\nADD hello.txt /opt/\nADD hello.txt /opt/newname\nADD hello.txt /dest\n")?;
        ctx.write("hello.txt", "hello from the context\n")?;
        let tag = s.name("add");
        s.built(&ctx, &tag).await?;
        for path in ["/dest", "/opt/hello.txt", "/opt/newname"] {
            let out = s.out(&[&tag, "sh", "-c", &format!("test -f {path} && cat {path}")]).await?;
            ensure!(out == "hello from the context", "{path} is not the context file: {out:?}");
        }
        Ok(Outcome::Passed)
    })
    .await
}

/// ADD into /a/b/c/ makes /a, /a/b and /a/b/c with mode 0755, everything owned by root.
pub async fn add_create_parents(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    scoped(e, |s| async move {
        let ctx = s.context("FROM busybox\nADD owned.txt /a/b/c/\n")?;
        let file = ctx.write("owned.txt", "not root's\n")?;
        std::os::unix::fs::chown(&file, Some(1234), Some(1234))?;
        let tag = s.name("parents");
        s.built(&ctx, &tag).await?;
        let out = s.out(&[&tag, "stat", "-c", "%n %u %g %a", "/a", "/a/b", "/a/b/c", "/a/b/c/owned.txt"]).await?;
        let lines: Vec<&str> = out.lines().collect();
        ensure!(lines.len() == 4, "not every path exists:\n{out}");
        for dir in &lines[..3] {
            ensure!(dir.ends_with(" 0 0 755"), "a created directory is not root's with 0755: {dir}");
        }
        ensure!(lines[3].contains(" 0 0 "), "the added file is not owned by root: {}", lines[3]);
        Ok(Outcome::Passed)
    })
    .await
}

/// An executable context file stays executable.
pub async fn add_file_metadata(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    scoped(e, |s| async move {
        let ctx = s.context("FROM busybox\nADD tool.sh /usr/local/bin/tool.sh\n")?;
        ctx.write("tool.sh", "#!/bin/sh\necho tool ran\n")?;
        ctx.chmod("tool.sh", 0o755)?;
        let tag = s.name("metadata");
        s.built(&ctx, &tag).await?;
        ensure!(s.out(&[&tag, "/usr/local/bin/tool.sh"]).await? == "tool ran", "the file lost its executable bit");
        Ok(Outcome::Passed)
    })
    .await
}

/// `ADD ../something` fails as outside the context.
pub async fn add_outside_context(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    scoped(e, |s| async move {
        let ctx = s.context("FROM busybox\nADD ../something /something\n")?;
        std::fs::write(s.dir.join("something"), "beside the context")?;
        let out = s.refused(&ctx).await?;
        ensure!(out.to_lowercase().contains("outside"), "the error does not say outside the context:\n{out}");
        Ok(Outcome::Passed)
    })
    .await
}

/// URLs on a loopback server: a destination without a slash is the file, one with a slash
/// takes the URL's file name, and a .tar.gz stays one compressed file.
pub async fn add_url(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    scoped(e, |s| async move {
        let archive = gzip(&tar_of(&[("inside.txt", "packed\n")])?)?;
        let server = Server::start(move |path| match path {
            "/foobar" => (200, String::new(), b"downloaded\n".to_vec()),
            "/pack.tar.gz" => (200, "Content-Type: application/gzip\r\n".into(), archive.clone()),
            _ => (404, String::new(), vec![]),
        })
        .await?;
        let url = format!("http://127.0.0.1:{}", server.port);
        let dockerfile =
            format!("FROM busybox\nADD {url}/foobar /x/name\nADD {url}/foobar /\nADD {url}/pack.tar.gz /archives/\n");
        let tag = s.name("url");
        let out = s.build(&s.context(&dockerfile)?, &tag).await?;
        drop(server);
        out.success()?;
        ensure!(s.out(&[&tag, "cat", "/x/name"]).await? == "downloaded", "/x/name is not the download");
        ensure!(s.out(&[&tag, "cat", "/foobar"]).await? == "downloaded", "/foobar is not the download");
        let listing = s.out(&[&tag, "ls", "/archives"]).await?;
        ensure!(listing == "pack.tar.gz", "the remote archive was unpacked: {listing:?}");
        let kind = s.out(&[&tag, "sh", "-c", "gzip -dc /archives/pack.tar.gz | tar -t"]).await?;
        ensure!(kind == "inside.txt", "the archive is not stored whole: {kind:?}");
        Ok(Outcome::Passed)
    })
    .await
}

/// `ADD http://host /dir/` fails: the URL gives no file name.
pub async fn add_url_no_path(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    scoped(e, |s| async move {
        let server = Server::start(|_| (200, String::new(), b"root of the site\n".to_vec())).await?;
        let ctx = s.context(&format!("FROM busybox\nADD http://127.0.0.1:{} /dir/\n", server.port))?;
        s.refused(&ctx).await?;
        Ok(Outcome::Passed)
    })
    .await
}

/// A URL answering with an authentication challenge fails the step.
pub async fn add_url_auth(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    scoped(e, |s| async move {
        let challenge = "WWW-Authenticate: Basic realm=\"spec\"\r\n".to_string();
        let server = Server::start(move |_| (401, challenge.clone(), b"authentication required\n".to_vec())).await?;
        let ctx = s.context(&format!("FROM busybox\nADD http://127.0.0.1:{}/secret /secret\n", server.port))?;
        s.refused(&ctx).await?;
        Ok(Outcome::Passed)
    })
    .await
}

/// A directory's tree (mode and mtime kept) is copied under the destination, merging with
/// what is there: files only the image has stay, files on both sides take the source's.
pub async fn add_dir(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    scoped(e, |s| async move {
        let dockerfile = "FROM busybox\nRUN mkdir -p /dest && echo old > /dest/kept && echo old > /dest/both\n\
                          ADD tree /dest/\n";
        let ctx = s.context(dockerfile)?;
        ctx.write("tree/both", "new\n")?;
        let deep = ctx.write("tree/sub/deep", "deep\n")?;
        ctx.chmod("tree/sub/deep", 0o640)?;
        let stamp = std::fs::File::options().write(true).open(&deep)?;
        stamp.set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000_000))?;
        let tag = s.name("dir");
        s.built(&ctx, &tag).await?;
        let script = "cat /dest/kept /dest/both /dest/sub/deep; stat -c '%a %Y' /dest/sub/deep; test -e /dest/tree";
        let out = s.run(&[&tag, "sh", "-c", script]).await?;
        let lines: Vec<&str> = out.stdout.lines().collect();
        ensure!(out.status == Some(1), "the directory itself was copied (/dest/tree exists): {out:?}");
        ensure!(lines[..lines.len().min(3)] == ["old", "new", "deep"], "the trees did not merge: {lines:?}");
        ensure!(lines.get(3) == Some(&"640 1000000000"), "metadata not kept: {lines:?}");
        Ok(Outcome::Passed)
    })
    .await
}

/// Local archives, plain or compressed with gzip, bzip2 or xz, are unpacked at the
/// destination and not kept as files.
pub async fn add_tars(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    scoped(e, |s| async move {
        let mut dockerfile = String::from("FROM busybox\n");
        let ctx = s.bare_context()?;
        let formats = ["plain", "gzip", "bzip2", "xz"];
        for format in formats {
            let tar = tar_of(&[(&format!("{format}-member"), format)])?;
            let (file, data) = match format {
                "plain" => ("a.tar", tar),
                "gzip" => ("a.tar.gz", gzip(&tar)?),
                "bzip2" => ("a.tar.bz2", compress_with("bzip2", &tar)?),
                _ => ("a.tar.xz", compress_with("xz", &tar)?),
            };
            ctx.write(&format!("{format}/{file}"), data)?;
            dockerfile.push_str(&format!("ADD {format}/{file} /t/{format}/\n"));
        }
        ctx.write("Dockerfile", dockerfile)?;
        let tag = s.name("tars");
        s.built(&ctx, &tag).await?;
        for format in formats {
            let listing = s.out(&[&tag, "ls", &format!("/t/{format}")]).await?;
            ensure!(listing == format!("{format}-member"), "the {format} archive was not unpacked: {listing:?}");
        }
        Ok(Outcome::Passed)
    })
    .await
}

/// Unpacking onto a directory keeps unrelated files and overwrites clashing ones.
pub async fn add_tar_merge(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    scoped(e, |s| async move {
        let dockerfile = "FROM busybox\nRUN mkdir -p /m && echo old > /m/kept && echo old > /m/both\nADD m.tar /m/\n";
        let ctx = s.context(dockerfile)?;
        ctx.write("m.tar", tar_of(&[("both", "new\n"), ("added", "added\n")])?)?;
        let tag = s.name("merge");
        s.built(&ctx, &tag).await?;
        let out = s.out(&[&tag, "cat", "/m/kept", "/m/both", "/m/added"]).await?;
        ensure!(out == "old\nnew\nadded", "the archive did not merge like tar -x: {out:?}");
        Ok(Outcome::Passed)
    })
    .await
}

// ---------------------------------------------------------------------------------------------
// ENTRYPOINT, VOLUME, USER, WORKDIR (5.2.3 §3.8–3.11)
// ---------------------------------------------------------------------------------------------

/// `ENTRYPOINT ["/bin/echo", "p1"]` runs directly; `run IMAGE -d` hands -d to it.
pub async fn entrypoint_exec_form(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    scoped(e, |s| async move {
        let tag = s.image("FROM busybox\nENTRYPOINT [\"/bin/echo\", \"p1\"]\n").await?;
        let entrypoint = strings(&s.config(&tag).await?["Entrypoint"]);
        ensure!(entrypoint == ["/bin/echo", "p1"], "Entrypoint is {entrypoint:?}");
        ensure!(s.out(&[&tag]).await? == "p1", "the entrypoint did not run");
        let out = s.out(&[&tag, "-d"]).await?;
        ensure!(out == "p1 -d", "-d did not reach the entrypoint: {out:?}");
        Ok(Outcome::Passed)
    })
    .await
}

/// `ENTRYPOINT wc -l -` runs through the shell and counts two piped lines.
pub async fn entrypoint_shell_form(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    scoped(e, |s| async move {
        let tag = s.image("FROM busybox\nENTRYPOINT wc -l -\n").await?;
        let entrypoint = strings(&s.config(&tag).await?["Entrypoint"]);
        ensure!(entrypoint == ["/bin/sh", "-c", "wc -l -"], "Entrypoint is {entrypoint:?}");
        let out = s.out_with_input("one\ntwo\n", &[&tag]).await?;
        ensure!(out.split_whitespace().next() == Some("2"), "expected 2: {out:?}");
        Ok(Outcome::Passed)
    })
    .await
}

/// Only the last ENTRYPOINT is used.
pub async fn entrypoint_last_wins(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    scoped(e, |s| async move {
        let dockerfile =
            "FROM busybox\nENTRYPOINT [\"/bin/echo\", \"first\"]\nENTRYPOINT [\"/bin/echo\", \"second\"]\n";
        let tag = s.image(dockerfile).await?;
        ensure!(s.out(&[&tag]).await? == "second", "the last ENTRYPOINT is not the one used");
        Ok(Outcome::Passed)
    })
    .await
}

/// ENTRYPOINT's own parameters always pass; CMD's give way to run arguments.
pub async fn entrypoint_params_kept(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    scoped(e, |s| async move {
        let tag = s.image("FROM busybox\nENTRYPOINT [\"/bin/echo\", \"fixed\"]\nCMD [\"default\"]\n").await?;
        ensure!(s.out(&[&tag]).await? == "fixed default", "CMD did not supply the default");
        let out = s.out(&[&tag, "given"]).await?;
        ensure!(out == "fixed given", "run arguments did not replace only CMD: {out:?}");
        Ok(Outcome::Passed)
    })
    .await
}

/// ENTRYPOINT ["/usr/bin/wc"] with CMD ["-l", "-"]: bare, it counts stdin's lines; with
/// --help, wc prints its help.
pub async fn entrypoint_cmd_defaults(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    scoped(e, |s| async move {
        let tag = s.image("FROM busybox\nCMD [\"-l\", \"-\"]\nENTRYPOINT [\"/usr/bin/wc\"]\n").await?;
        let out = s.out_with_input("one\ntwo\n", &[&tag]).await?;
        ensure!(out.split_whitespace().next() == Some("2"), "wc -l - did not count 2 lines: {out:?}");
        let help = s.run(&[&tag, "--help"]).await?;
        let all = format!("{}{}", help.stdout, help.stderr);
        ensure!(all.contains("Usage") && all.contains("wc"), "wc --help did not run: {all:?}");
        Ok(Outcome::Passed)
    })
    .await
}

/// `VOLUME ["/data"]` gives containers a volume at /data, listed by inspect and shared with
/// --volumes-from.
pub async fn volume(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    scoped(e, |s| async move {
        let tag = s.image("FROM busybox\nVOLUME [\"/data\"]\n").await?;
        let writer = s.container("volume");
        let write = ["run", "--net=none", "--name", &writer, &tag, "sh", "-c", "echo shared > /data/file"];
        s.e.cli(&write).await?.success()?;
        let value = super::containers::inspect(&s.e, &writer).await?;
        let in_mounts = value["Mounts"].as_array().is_some_and(|m| m.iter().any(|m| m["Destination"] == "/data"));
        let in_volumes = value["Volumes"].get("/data").is_some();
        ensure!(in_mounts || in_volumes, "inspect lists no volume at /data: {} {}", value["Mounts"], value["Volumes"]);
        let out = s.out(&["--volumes-from", &writer, IMAGE, "cat", "/data/file"]).await?;
        ensure!(out == "shared", "--volumes-from did not share /data: {out:?}");
        Ok(Outcome::Passed)
    })
    .await
}

/// `USER daemon`: the container runs as daemon.
pub async fn user_name(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    scoped(e, |s| async move {
        let tag = s.image("FROM busybox\nUSER daemon\nCMD [\"id\", \"-un\"]\n").await?;
        ensure!(s.out(&[&tag]).await? == "daemon", "not running as daemon");
        Ok(Outcome::Passed)
    })
    .await
}

/// `USER 1000`: `id -u` prints 1000.
pub async fn user_uid(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    scoped(e, |s| async move {
        let tag = s.image("FROM busybox\nUSER 1000\nCMD [\"id\", \"-u\"]\n").await?;
        ensure!(s.out(&[&tag]).await? == "1000", "not running as uid 1000");
        Ok(Outcome::Passed)
    })
    .await
}

/// `WORKDIR /path/to/workdir`: the CMD starts there.
pub async fn workdir(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    scoped(e, |s| async move {
        let tag = s.image("FROM busybox\nWORKDIR /path/to/workdir\nCMD [\"pwd\"]\n").await?;
        ensure!(s.out(&[&tag]).await? == "/path/to/workdir", "the CMD did not start in the WORKDIR");
        Ok(Outcome::Passed)
    })
    .await
}

// ---------------------------------------------------------------------------------------------
// ONBUILD (5.2.3 §3.11)
// ---------------------------------------------------------------------------------------------

/// Triggers are stored, in order, as OnBuild, and not run in the image that declares them.
pub async fn onbuild_stored(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    scoped(e, |s| async move {
        let tag = s.image("FROM busybox\nONBUILD RUN touch /x\nONBUILD ENV TRIGGERED yes\n").await?;
        ensure!(!s.has(&tag, "/x").await?, "the trigger ran in the image declaring it");
        let onbuild = strings(&s.config(&tag).await?["OnBuild"]);
        ensure!(onbuild == ["RUN touch /x", "ENV TRIGGERED yes"], "OnBuild is {onbuild:?}");
        Ok(Outcome::Passed)
    })
    .await
}

/// A child runs its parent's triggers right after FROM, in order, on its own context; ADD,
/// RUN, ENV, EXPOSE and CMD triggers all take effect; a grandchild runs none of them.
pub async fn onbuild_triggers(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    scoped(e, |s| async move {
        let parent_ctx = s.context(
            "FROM busybox\nONBUILD ADD . /app/src\nONBUILD RUN echo first >> /order\n\
             ONBUILD RUN echo second >> /order\nONBUILD ENV TRIGGERED yes\nONBUILD EXPOSE 4242\n\
             ONBUILD CMD [\"cat\", \"/order\"]\n",
        )?;
        parent_ctx.write("parent-only", "parent")?;
        let parent = s.name("parent");
        s.built(&parent_ctx, &parent).await?;
        let child_ctx = s.context(&format!("FROM {parent}\nRUN echo child >> /order\n"))?;
        child_ctx.write("child-only", "child")?;
        let child = s.name("child");
        s.built(&child_ctx, &child).await?;
        ensure!(s.out(&[&child]).await? == "first\nsecond\nchild", "triggers did not run first, in order");
        let listing = s.out(&[&child, "ls", "/app/src"]).await?;
        ensure!(has_line(&listing, "child-only") && !has_line(&listing, "parent-only"), "ADD . took: {listing}");
        let config = s.config(&child).await?;
        ensure!(strings(&config["Env"]).iter().any(|v| v == "TRIGGERED=yes"), "ENV trigger: {}", config["Env"]);
        ensure!(config["ExposedPorts"].get("4242/tcp").is_some(), "EXPOSE trigger: {}", config["ExposedPorts"]);
        ensure!(strings(&config["OnBuild"]).is_empty(), "the child keeps triggers: {}", config["OnBuild"]);
        let grandchild = s.image(&format!("FROM {child}\nENV GENERATION three\n")).await?;
        ensure!(s.out(&[&grandchild]).await? == "first\nsecond\nchild", "the grandchild re-ran the triggers");
        Ok(Outcome::Passed)
    })
    .await
}

/// A failing trigger fails the child build.
pub async fn onbuild_trigger_failure(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    scoped(e, |s| async move {
        let parent = s.image("FROM busybox\nONBUILD RUN false\n").await?;
        s.refused(&s.context(&format!("FROM {parent}\nRUN touch /after\n"))?).await?;
        Ok(Outcome::Passed)
    })
    .await
}

/// `ONBUILD ONBUILD`, `ONBUILD FROM` and `ONBUILD MAINTAINER` are refused.
pub async fn onbuild_chain_rejected(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    scoped(e, |s| async move {
        for trigger in ["ONBUILD RUN true", "FROM busybox", "MAINTAINER someone"] {
            let out = s.refused(&s.context(&format!("FROM busybox\nONBUILD {trigger}\n"))?).await;
            out.with_context(|| format!("`ONBUILD {trigger}` was accepted"))?;
        }
        Ok(Outcome::Passed)
    })
    .await
}

// ---------------------------------------------------------------------------------------------
// Derived images of the seed projects
// ---------------------------------------------------------------------------------------------

/// COPY onto an existing directory without a trailing slash puts the file inside it.
pub async fn copy_into_directory(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    scoped(e, |s| async move {
        let dockerfile = "FROM busybox\nRUN mkdir -p /home/ory\nCOPY contrib/quickstart/kratos.yml /home/ory\n";
        let ctx = s.context(dockerfile)?;
        ctx.write("contrib/quickstart/kratos.yml", "version: v0.4.3\n")?;
        let tag = s.name("copy");
        s.built(&ctx, &tag).await?;
        let out = s.out(&[&tag, "cat", "/home/ory/kratos.yml"]).await?;
        ensure!(out == "version: v0.4.3", "the file is not inside /home/ory: {out:?}");
        Ok(Outcome::Passed)
    })
    .await
}

/// A child of a tagged base keeps its ENTRYPOINT, USER, ENV and WORKDIR but what it sets
/// again.
pub async fn from_tagged_base(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    scoped(e, |s| async move {
        let base = s.name("kratos");
        let dockerfile = "FROM busybox\nENV DSN memory\nENV SERVE all\nWORKDIR /home/berthuser\nUSER berthuser\n\
                          ENTRYPOINT [\"/bin/sh\", \"-c\", \"echo $DSN $SERVE $(id -un) $(pwd)\"]\n";
        s.built(&s.context(dockerfile)?, &format!("{base}:latest")).await?;
        let child = s.image(&format!("FROM {base}:latest\nENV SERVE admin\n")).await?;
        let out = s.out(&[&child]).await?;
        ensure!(out == "memory admin berthuser /home/berthuser", "the child's settings: {out:?}");
        Ok(Outcome::Passed)
    })
    .await
}

/// RUN after `USER root` runs as uid 0, after `USER berthuser` as berthuser, who is also the
/// final image's user.
pub async fn user_switch(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    scoped(e, |s| async move {
        let dockerfile = "FROM busybox\nUSER root\nRUN id -u > /as-root && mkdir -m 777 /out\n\
                          USER berthuser\nRUN id -un > /out/as-user\n";
        let tag = s.image(dockerfile).await?;
        ensure!(s.out(&[&tag, "cat", "/as-root", "/out/as-user"]).await? == "0\nberthuser", "RUN users differ");
        ensure!(s.out(&[&tag, "id", "-un"]).await? == "berthuser", "the final user is not berthuser");
        Ok(Outcome::Passed)
    })
    .await
}

/// Backslash-continued lines make one RUN: one shell, one layer on top of the base.
pub async fn run_continuation(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    scoped(e, |s| async move {
        let dockerfile = "FROM busybox\nRUN X=joined \\\n    && echo $X > /cont \\\n    && echo two >> /cont\n";
        let tag = s.name("continued");
        let out = s.built(&s.context(dockerfile)?, &tag).await?;
        ensure!(steps(&out).len() == 2, "the continued lines are not one step:\n{out}");
        ensure!(s.out(&[&tag, "cat", "/cont"]).await? == "joined\ntwo", "the lines did not run in one shell");
        let base = s.e.image_id(&format!("{IMAGE}:latest")).await?;
        let chain = s.ancestry(&tag).await?;
        ensure!(chain.get(1) == Some(&base), "more than one layer above {IMAGE}: {chain:?}");
        Ok(Outcome::Passed)
    })
    .await
}

/// `build -t NAME` tags NAME:latest.
pub async fn build_tag_latest(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    scoped(e, |s| async move {
        let name = s.image("FROM busybox\nENV TAGGED yes\n").await?;
        let by_name = s.e.image_id(&name).await?;
        ensure!(s.e.image_id(&format!("{name}:latest")).await? == by_name, "{name}:latest is another image");
        Ok(Outcome::Passed)
    })
    .await
}

/// `FROM scratch` starts empty: the image's only content is what was added after it.
pub async fn from_scratch(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    scoped(e, |s| async move {
        let ctx = s.context("FROM scratch\nADD hello.txt /hello.txt\n")?;
        ctx.write("hello.txt", "only file\n")?;
        let tag = s.name("scratch");
        s.built(&ctx, &tag).await?;
        let reply = s.e.get(&format!("/images/{tag}/get")).await?;
        ensure!(reply.status == StatusCode::OK, "save answered {}", reply.status);
        let mut files = vec![];
        let mut saved = tar::Archive::new(&reply.body[..]);
        for entry in saved.entries()? {
            let mut entry = entry?;
            if entry.path()?.ends_with("layer.tar") {
                let mut layer = vec![];
                std::io::Read::read_to_end(&mut entry, &mut layer)?;
                for inner in tar::Archive::new(&layer[..]).entries()? {
                    files.push(inner?.path()?.to_string_lossy().trim_start_matches("./").to_string());
                }
            }
        }
        files.retain(|f| !f.is_empty());
        ensure!(files == ["hello.txt"], "the image holds more than the added file: {files:?}");
        Ok(Outcome::Passed)
    })
    .await
}

// ---------------------------------------------------------------------------------------------
// `build` sources and output (5.1.6)
// ---------------------------------------------------------------------------------------------

/// The output: the context upload with its size, `Step N : INSTRUCTION`, ` ---> Running in`
/// for a step that runs, ` ---> ID` per committed step, `Successfully built ID`.
pub async fn output_steps(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    scoped(e, |s| async move {
        let marker = s.e.unique("output");
        let ctx = s.context(&format!("FROM busybox\nRUN echo {marker}\nENV SHAPE fixed\n"))?;
        let out = s.built(&ctx, &s.name("output")).await?;
        let lines: Vec<&str> = out.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
        let blocks = steps(&out);
        let instructions: Vec<&str> = blocks.iter().map(|b| b.lines().next().unwrap_or_default()).collect();
        let made = made_images(&out);
        ensure!(made.len() == 2, "expected ` ---> ID` for the 2 steps after FROM:\n{out}");
        ensure!(out.contains("---> Running in "), "no ` ---> Running in` line:\n{out}");
        let last = made.last().map(String::as_str).unwrap_or_default();
        ensure!(
            lines.iter().any(|l| *l == format!("Successfully built {last}")),
            "no `Successfully built {last}`:\n{out}"
        );
        let upload = lines.first().copied().unwrap_or_default();
        let numbered = |n: usize, later: bool| {
            let (old, new) = (format!("Step {n} : "), format!("Step {n}/3 : "));
            instructions.get(n - 1).is_some_and(|l| l.starts_with(if later { &new } else { &old }))
        };
        if upload.starts_with("Uploading context ") && (1..=3).all(|n| numbered(n, false)) {
            return Ok(Outcome::Passed);
        }
        let later = upload.starts_with("Sending build context to Docker daemon") && (1..=3).all(|n| numbered(n, true));
        ensure!(later, "neither the 2014 nor the later shape of the upload and step lines:\n{out}");
        Ok(skip(
            SkipKind::Divergence,
            "later Docker words the upload `Sending build context to Docker daemon SIZE` and numbers steps \
             `Step N/TOTAL :`; the rest of the shape is as documented",
        ))
    })
    .await
}

/// A RUN that exits 3 stops the build with an error naming the command and the code; the
/// CLI exits non-zero and the tag is not made.
pub async fn failing_step(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    scoped(e, |s| async move {
        let out = s.refused(&s.context("FROM busybox\nRUN exit 3\nRUN touch /never\n")?).await?;
        let error = out.lines().filter(|l| l.contains("exit 3")).find(|l| !l.starts_with("Step "));
        let error = error.with_context(|| format!("no error names the command:\n{out}"))?;
        ensure!(error.contains(": 3") || error.contains("code 3"), "the error does not give code 3: {error}");
        Ok(Outcome::Passed)
    })
    .await
}

/// A base missing locally is pulled from the registry (REGISTRY_URL) and the build goes on.
pub async fn pull_base(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    // A registry that takes pushes without an index (3.2.7): PRIVATE_REGISTRY_URL, else
    // REGISTRY_URL.
    let url = |name: &str| std::env::var(name).ok().filter(|u| !u.is_empty());
    let Some(registry) = url("PRIVATE_REGISTRY_URL").or_else(|| url("REGISTRY_URL")) else {
        return Ok(skip(SkipKind::Environment, "REGISTRY_URL is not set: no registry to pull a base from"));
    };
    scoped(e, |s| async move {
        let host = registry.trim_start_matches("http://").trim_start_matches("https://").trim_end_matches('/');
        let base = format!("{host}/{}:v1", s.e.unique("pulled"));
        s.images.lock().unwrap_or_else(|p| p.into_inner()).push(base.clone());
        s.e.cli(&["tag", IMAGE, &base]).await?.success()?;
        s.e.cli(&["push", &base]).await?.success()?;
        s.e.cli(&["rmi", &base]).await?.success()?;
        let tag = s.name("on-pulled");
        let out = s.built(&s.context(&format!("FROM {base}\nRUN touch /after-pull\n"))?, &tag).await?;
        ensure!(out.contains("Pull"), "the output does not show the pull:\n{out}");
        ensure!(s.has(&tag, "/after-pull").await?, "the steps after FROM did not run");
        Ok(Outcome::Passed)
    })
    .await
}

/// A 3 MB file no instruction names still counts in the context size the build reports.
pub async fn context_all_files(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    scoped(e, |s| async move {
        let ctx = s.context("FROM busybox\nENV UNUSED yes\n")?;
        ctx.write("unused.bin", vec![7u8; 3 * 1024 * 1024])?;
        let out = s.built(&ctx, &s.name("whole")).await?;
        let line = out.lines().find(|l| l.contains("context")).with_context(|| format!("no context size:\n{out}"))?;
        let size = context_size(line).with_context(|| format!("no size in {line:?}"))?;
        ensure!(size >= 3.0e6, "the reported context ({line:?}) leaves out the unused file");
        Ok(Outcome::Passed)
    })
    .await
}

/// The size in bytes that a line like `Uploading context 3.146 MB` or `Sending build
/// context to Docker daemon  3.146MB` reports.
fn context_size(line: &str) -> Option<f64> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let (number, unit) = match words.as_slice() {
        [.., number, unit] if number.parse::<f64>().is_ok() => (*number, *unit),
        [.., last] => last.split_at(last.find(|c: char| c.is_ascii_alphabetic())?),
        _ => return None,
    };
    let scale = match unit.to_ascii_lowercase().as_str() {
        "b" => 1.0,
        "kb" | "kib" => 1e3,
        "mb" | "mib" => 1e6,
        "gb" | "gib" => 1e9,
        _ => return None,
    };
    Some(number.parse::<f64>().ok()? * scale)
}

/// An http URL serving a bare Dockerfile builds with an empty context, where ADD of a local
/// file fails.
pub async fn context_url_dockerfile(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    scoped(e, |s| async move {
        let server = Server::start(|path| match path {
            "/good/Dockerfile" => (200, String::new(), b"FROM busybox\nRUN echo from-url > /from-url\n".to_vec()),
            "/local/Dockerfile" => (200, String::new(), b"FROM busybox\nADD hello.txt /hello.txt\n".to_vec()),
            _ => (404, String::new(), vec![]),
        })
        .await?;
        let env = [("DOCKER_HOST", s.e.docker_host.as_str()), ("DOCKER_BUILDKIT", "0")];
        let (good, local) = (s.name("url-good"), s.name("url-local"));
        let mut runs = vec![];
        for (tag, path) in [(&good, "good"), (&local, "local")] {
            let url = format!("http://127.0.0.1:{}/{path}/Dockerfile", server.port);
            let run = s.e.cli_with(&["build", "--force-rm", "--network=none", "-t", tag, &url], &env).await?;
            s.record(&run.stdout);
            runs.push(run);
        }
        drop(server);
        let local_run = runs.pop().context("no second run")?;
        runs.pop().context("no first run")?.success()?;
        ensure!(s.out(&[&good, "cat", "/from-url"]).await? == "from-url", "the URL's Dockerfile did not run");
        ensure!(local_run.status != Some(0), "ADD of a local file worked without a context: {local_run:?}");
        ensure!(!s.exists(&local).await?, "the failed build tagged {local}");
        Ok(Outcome::Passed)
    })
    .await
}

/// A git repository URL (a bare repository served over dumb HTTP on 127.0.0.1) is cloned and
/// its root Dockerfile built with the checkout as context.
pub async fn context_git(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    scoped(e, |s| async move {
        let work = s.context("FROM busybox\nADD from-git.txt /from-git.txt\n")?;
        work.write("from-git.txt", "cloned\n")?;
        let bare = s.dir.join("repo.git");
        git_repository(&work.dir, &bare)?;
        let root = s.dir.clone();
        let server = Server::start(move |path| {
            let path = path.split('?').next().unwrap_or_default().trim_start_matches('/');
            match std::fs::read(root.join(path)) {
                Ok(body) if !path.contains("..") => (200, String::new(), body),
                _ => (404, String::new(), vec![]),
            }
        })
        .await?;
        let url = format!("http://127.0.0.1:{}/repo.git", server.port);
        let env = [("DOCKER_HOST", s.e.docker_host.as_str()), ("DOCKER_BUILDKIT", "0")];
        let tag = s.name("git");
        let run = s.e.cli_with(&["build", "--force-rm", "--network=none", "-t", &tag, &url], &env).await?;
        s.record(&run.stdout);
        drop(server);
        run.success()?;
        ensure!(s.out(&[&tag, "cat", "/from-git.txt"]).await? == "cloned", "the clone was not the context");
        Ok(Outcome::Passed)
    })
    .await
}

/// Commits `work` into a new repository and clones it bare to `bare`, ready for dumb HTTP.
fn git_repository(work: &Path, bare: &Path) -> anyhow::Result<()> {
    let git = |dir: &Path, args: &[&str]| -> anyhow::Result<()> {
        let out = std::process::Command::new("git")
            .args(["-c", "user.name=spec", "-c", "user.email=spec@localhost", "-c", "init.defaultBranch=master"])
            .args(args)
            .current_dir(dir)
            .output()
            .context("cannot run git")?;
        ensure!(out.status.success(), "git {args:?} failed: {}", text(&out.stderr));
        Ok(())
    };
    git(work, &["init", "-q"])?;
    git(work, &["add", "."])?;
    git(work, &["commit", "-q", "-m", "context"])?;
    let bare_text = bare.to_string_lossy();
    git(work, &["clone", "-q", "--bare", ".", &bare_text])?;
    git(bare, &["update-server-info"])
}

/// `build -` with the Dockerfile on stdin: no context, so steps that need no files work, an
/// ADD of a URL works, and an ADD of a local path fails.
pub async fn from_stdin(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    scoped(e, |s| async move {
        let server = Server::start(|_| (200, String::new(), b"fetched\n".to_vec())).await?;
        let url = format!("http://127.0.0.1:{}/fetched.txt", server.port);
        let tag = s.name("stdin");
        let dockerfile = format!("FROM busybox\nRUN echo no context > /made\nADD {url} /fetched.txt\n");
        let run = s.build_stdin(&dockerfile, &tag).await?;
        drop(server);
        run.success()?;
        ensure!(s.out(&[&tag, "cat", "/made", "/fetched.txt"]).await? == "no context\nfetched", "steps missing");
        let refused = s.name("stdin-local");
        let run = s.build_stdin("FROM busybox\nADD hello.txt /hello.txt\n", &refused).await?;
        ensure!(run.status != Some(0), "ADD of a local path worked without a context: {run:?}");
        ensure!(!s.exists(&refused).await?, "the failed build tagged {refused}");
        Ok(Outcome::Passed)
    })
    .await
}

impl Scope {
    /// `build -t TAG -` with `dockerfile` on standard input, run from the scope's directory
    /// (which holds a hello.txt a context would have given).
    async fn build_stdin(&self, dockerfile: &str, tag: &str) -> anyhow::Result<CliRun> {
        let input = self.dir.join(self.e.unique("dockerfile"));
        std::fs::write(&input, dockerfile)?;
        std::fs::write(self.dir.join("hello.txt"), "local\n")?;
        let mut command = tokio::process::Command::new(&self.e.cli);
        command.args(["build", "--force-rm", "--network=none", "-t", tag, "-"]).current_dir(&self.dir);
        command.env("DOCKER_HOST", &self.e.docker_host).env("DOCKER_BUILDKIT", "0").kill_on_drop(true);
        command.stdin(std::fs::File::open(&input)?);
        let output = tokio::time::timeout(std::time::Duration::from_secs(120), command.output())
            .await
            .context("`build -` did not finish in 120s")??;
        let run = CliRun { status: output.status.code(), stdout: text(&output.stdout), stderr: text(&output.stderr) };
        self.record(&run.stdout);
        Ok(run)
    }
}

/// `VOLUME ["HOSTDIR:/data"]` does not bind the host directory: the container never sees
/// the host's file (the engine may refuse the volume instead).
pub async fn volume_no_host_bind(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    scoped(e, |s| async move {
        let host = s.dir.join("host-side");
        std::fs::create_dir_all(&host)?;
        let secret = s.e.unique("host-secret");
        std::fs::write(host.join("secret"), &secret)?;
        let spec = format!("{}:/data", host.display());
        let ctx = s.context(&format!("FROM busybox\nVOLUME [\"{spec}\"]\n"))?;
        let tag = s.name("nobind");
        if s.build(&ctx, &tag).await?.status != Some(0) {
            return Ok(Outcome::Passed);
        }
        let script = format!("cat /data/secret '{spec}/secret' {}/secret", host.display());
        let run = s.run(&[&tag, "sh", "-c", &script]).await?;
        ensure!(!format!("{}{}", run.stdout, run.stderr).contains(&secret), "the host directory was bound: {run:?}");
        Ok(Outcome::Passed)
    })
    .await
}

/// The context directory as an uncompressed tar.
fn ctx_tar(ctx: &Ctx) -> anyhow::Result<Vec<u8>> {
    let mut tar = tar::Builder::new(Vec::new());
    tar.append_dir_all(".", &ctx.dir)?;
    Ok(tar.into_inner()?)
}

/// The text of a build's JSON stream: its `stream` and `error` fields in order (the body
/// itself when it is not JSON).
fn stream_text(body: &[u8]) -> String {
    let mut out = String::new();
    for value in serde_json::Deserializer::from_slice(body).into_iter::<Value>() {
        let Ok(value) = value else { return text(body) };
        for field in ["stream", "error"] {
            out.push_str(value.get(field).and_then(Value::as_str).unwrap_or_default());
        }
    }
    out
}

/// `POST path` with `body` sent as `content_type`, on a connection of its own (the suite's
/// client labels every body JSON); the status and the body, de-chunked.
async fn raw_post(e: &Engine, path: &str, content_type: &str, body: &[u8]) -> anyhow::Result<(u16, Vec<u8>)> {
    use berth_api::Host;
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n",
        body.len()
    );
    let mut request = head.into_bytes();
    request.extend_from_slice(body);
    let answer = match Host::parse(&e.docker_host, Path::new(&e.profile.default_socket))? {
        Host::Unix(socket) => exchange(tokio::net::UnixStream::connect(socket).await?, &request).await?,
        Host::Tcp { host, port } => {
            exchange(tokio::net::TcpStream::connect((host.as_str(), port)).await?, &request).await?
        }
        Host::Fd(_) => bail!("cannot reach an fd:// DOCKER_HOST"),
    };
    let split = answer.windows(4).position(|w| w == b"\r\n\r\n").context("no end of the answer's head")?;
    let head = String::from_utf8_lossy(&answer[..split]).to_lowercase();
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).context("no status")?;
    let rest = &answer[split + 4..];
    let body = if head.contains("transfer-encoding: chunked") { dechunk(rest)? } else { rest.to_vec() };
    Ok((status, body))
}

async fn exchange<S>(mut stream: S, request: &[u8]) -> anyhow::Result<Vec<u8>>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    stream.write_all(request).await?;
    let mut answer = vec![];
    let read = stream.read_to_end(&mut answer);
    tokio::time::timeout(std::time::Duration::from_secs(120), read).await.context("no answer in 120s")??;
    Ok(answer)
}

/// The payload of an HTTP/1.1 chunked body.
fn dechunk(mut body: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut out = vec![];
    loop {
        let end = body.windows(2).position(|w| w == b"\r\n").context("a chunk without its size line")?;
        let size_text = String::from_utf8_lossy(&body[..end]).into_owned();
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)?;
        if size == 0 {
            return Ok(out);
        }
        let data = body.get(end + 2..end + 2 + size).context("a chunk cut short")?;
        out.extend_from_slice(data);
        body = body.get(end + 4 + size..).unwrap_or_default();
    }
}

/// `build -t NAME` with no source is a usage error; so are two sources.
pub async fn source_argument(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    scoped(e, |s| async move {
        let env = [("DOCKER_HOST", s.e.docker_host.as_str()), ("DOCKER_BUILDKIT", "0")];
        let tag = s.name("no-source");
        let none = s.e.cli_with(&["build", "-t", &tag], &env).await?;
        let all = format!("{}{}", none.stdout, none.stderr);
        ensure!(none.status != Some(0), "build without a source succeeded: {all}");
        ensure!(all.contains("Usage") || all.contains("usage"), "no usage text: {all}");
        let (a, b) = (s.context("FROM busybox\n")?, s.context("FROM busybox\n")?);
        let (a, b) = (a.dir.to_string_lossy().into_owned(), b.dir.to_string_lossy().into_owned());
        let two = s.e.cli_with(&["build", "--network=none", "-t", &tag, &a, &b], &env).await?;
        s.record(&two.stdout);
        ensure!(two.status != Some(0), "build with two sources succeeded: {two:?}");
        ensure!(!s.exists(&tag).await?, "a usage error still built {tag}");
        Ok(Outcome::Passed)
    })
    .await
}

/// `-t user/repo:2.0` names the result with that tag, `-t user/repo` with latest, and
/// `images` lists the repository beside its base.
pub async fn opt_tag(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    scoped(e, |s| async move {
        let repo = format!("{}/apache", s.name("vieux"));
        let (tagged, latest) = (format!("{repo}:2.0"), format!("{repo}:latest"));
        s.images.lock().unwrap_or_else(|p| p.into_inner()).extend([tagged.clone(), latest.clone()]);
        let ctx = s.context("FROM busybox\nENV SERVER apache\n")?;
        s.built(&ctx, &tagged).await?;
        s.built(&ctx, &repo).await?;
        let id = s.e.image_id(&tagged).await?;
        ensure!(s.e.image_id(&latest).await? == id, "-t {repo} did not give {latest}");
        let images = s.e.cli(&["images"]).await?.success()?.stdout;
        let row = |name: &str, tag: &str| images.lines().any(|l| l.split_whitespace().take(2).eq([name, tag]));
        ensure!(row(&repo, "2.0") && row(&repo, "latest"), "images does not list {repo} 2.0 and latest:\n{images}");
        ensure!(row(IMAGE, "latest"), "images does not list the base beside it:\n{images}");
        Ok(Outcome::Passed)
    })
    .await
}

/// `-q` hides what the steps print but still reports the image id.
pub async fn opt_quiet(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    scoped(e, |s| async move {
        let marker = s.e.unique("quiet");
        let ctx = s.context(&format!("FROM busybox\nRUN echo {marker} | tr a-z A-Z\n"))?;
        let tag = s.name("quiet");
        let env = [("DOCKER_HOST", s.e.docker_host.as_str()), ("DOCKER_BUILDKIT", "0")];
        let dir = ctx.dir.to_string_lossy();
        let run = s.e.cli_with(&["build", "-q", "--force-rm", "--network=none", "-t", &tag, &dir], &env).await?;
        let run = run.success()?;
        let id = s.e.image_id(&tag).await?;
        s.images.lock().unwrap_or_else(|p| p.into_inner()).push(id.clone());
        ensure!(!run.stdout.contains(&marker.to_uppercase()), "-q echoed the step's output:\n{}", run.stdout);
        ensure!(run.stdout.contains(&id[..12]), "-q did not report the id {id}:\n{}", run.stdout);
        Ok(Outcome::Passed)
    })
    .await
}

/// `--no-cache` runs every step again and makes new images.
pub async fn opt_no_cache(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    scoped(e, |s| async move {
        let marker = s.e.unique("nocache");
        let ctx = s.context(&format!("FROM busybox\nRUN echo {marker} > /marker\n"))?;
        let tag = s.name("nocache");
        s.built(&ctx, &tag).await?;
        let first = s.e.image_id(&tag).await?;
        let env = [("DOCKER_HOST", s.e.docker_host.as_str()), ("DOCKER_BUILDKIT", "0")];
        let dir = ctx.dir.to_string_lossy();
        let args = ["build", "--no-cache", "--force-rm", "--network=none", "-t", &tag, &dir];
        let run = s.e.cli_with(&args, &env).await?;
        s.record(&run.stdout);
        let out = run.success()?.stdout;
        ensure!(!out.contains("Using cache"), "--no-cache still used the cache:\n{out}");
        ensure!(s.e.image_id(&tag).await? != first, "--no-cache produced the same image again");
        Ok(Outcome::Passed)
    })
    .await
}

/// `--rm` removes the step containers of a successful build, `--rm=false` keeps them, and a
/// failed step's container stays even with `--rm`.
pub async fn opt_rm(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    scoped(e, |s| async move {
        let build = |rm: &'static str, dockerfile: String| {
            let s = s.clone();
            async move {
                let ctx = s.context(&dockerfile)?;
                let env = [("DOCKER_HOST", s.e.docker_host.as_str()), ("DOCKER_BUILDKIT", "0")];
                let (tag, dir) = (s.name("rm"), ctx.dir.to_string_lossy().into_owned());
                let run = s.e.cli_with(&["build", rm, "--network=none", "-t", &tag, &dir], &env).await?;
                s.record(&run.stdout);
                let containers = step_containers(&run.stdout);
                s.containers.lock().unwrap_or_else(|p| p.into_inner()).extend(containers.iter().cloned());
                anyhow::Ok((run, containers))
            }
        };
        let listed = |id: String| {
            let s = s.clone();
            async move { Ok::<_, anyhow::Error>(s.e.get(&format!("/containers/{id}/json")).await?.status.is_success()) }
        };
        let marker = s.e.unique("rm");
        let (run, removed) = build("--rm", format!("FROM busybox\nRUN echo {marker}-removed\n")).await?;
        run.success()?;
        ensure!(!removed.is_empty(), "no `Running in` container in the output");
        for id in removed {
            ensure!(!listed(id.clone()).await?, "--rm left the step container {id}");
        }
        let (run, kept) = build("--rm=false", format!("FROM busybox\nRUN echo {marker}-kept\n")).await?;
        run.success()?;
        for id in kept {
            ensure!(listed(id.clone()).await?, "--rm=false removed the step container {id}");
        }
        let (run, failed) = build("--rm", format!("FROM busybox\nRUN echo {marker} && exit 3\n")).await?;
        ensure!(run.status != Some(0), "the failing build succeeded");
        let last = failed.last().cloned().with_context(|| format!("no container for the failed step: {run:?}"))?;
        ensure!(listed(last.clone()).await?, "--rm removed the failed step's container {last}");
        Ok(Outcome::Passed)
    })
    .await
}

/// The containers a build output says steps ran in (` ---> Running in ID`).
fn step_containers(output: &str) -> Vec<String> {
    output.lines().filter_map(|l| l.trim().strip_prefix("---> Running in ")).map(|id| id.trim().to_string()).collect()
}

/// `POST /build` with a tar body: 200 and a stream of `{"stream": ...}`, `t` tags, `q`
/// quiets, `nocache` bypasses the cache; a failing RUN appends `{"error", "errorDetail"}`
/// with the exit status.
pub async fn api_build(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    scoped(e, |s| async move {
        let marker = s.e.unique("api");
        let ctx = s.context(&format!("FROM busybox\nRUN echo {marker} | tr a-z A-Z\n"))?;
        let tag = s.name("api");
        let (status, body) = s.api_build_raw(&ctx_tar(&ctx)?, &format!("t={tag}")).await?;
        ensure!(status == 200, "POST /build answered {status}: {}", text(&body));
        let messages: Vec<Value> = serde_json::Deserializer::from_slice(&body).into_iter().collect::<Result<_, _>>()?;
        // Later APIs add `{"aux": {"ID": ...}}` with the result's id beside the stream.
        let streamed = |m: &Value| m.get("stream").is_some() || m.get("aux").is_some();
        ensure!(messages.iter().all(streamed), "not all stream messages: {messages:?}");
        ensure!(stream_text(&body).contains(&marker.to_uppercase()), "the step's output is not streamed");
        let id = s.e.image_id(&tag).await?;
        let (status, quiet) = s.api_build(&ctx, &format!("t={tag}&q=1")).await?;
        ensure!(status == 200 && !quiet.contains(&marker.to_uppercase()), "q=1 still streamed the output: {quiet}");
        let (status, fresh) = s.api_build(&ctx, &format!("t={tag}&nocache=1")).await?;
        ensure!(status == 200 && !fresh.contains("Using cache"), "nocache=1 used the cache: {fresh}");
        ensure!(s.e.image_id(&tag).await? != id, "nocache=1 did not make a new image");
        let failing = s.context("FROM busybox\nRUN exit 3\n")?;
        let (_, body) = s.api_build_raw(&ctx_tar(&failing)?, "").await?;
        let last: Value = serde_json::Deserializer::from_slice(&body).into_iter().last().context("no messages")??;
        ensure!(last.get("error").is_some(), "the failure is not an error message: {last}");
        ensure!(last["errorDetail"]["code"] == 3, "errorDetail does not carry the exit status 3: {last}");
        Ok(Outcome::Passed)
    })
    .await
}

/// The context may come as a plain, gzip, bzip2 or xz tar.
pub async fn api_build_compressed(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    scoped(e, |s| async move {
        let ctx = s.context("FROM busybox\nADD packed.txt /packed.txt\n")?;
        ctx.write("packed.txt", "in the context\n")?;
        let tar = ctx_tar(&ctx)?;
        let bodies = [
            ("plain", tar.clone()),
            ("gzip", gzip(&tar)?),
            ("bzip2", compress_with("bzip2", &tar)?),
            ("xz", compress_with("xz", &tar)?),
        ];
        for (format, body) in bodies {
            let tag = s.name(format);
            let (status, answer) = s.api_build_raw(&body, &format!("t={tag}")).await?;
            ensure!(status == 200, "a {format} context answered {status}: {}", text(&answer));
            let out = s.out(&[&tag, "cat", "/packed.txt"]).await;
            ensure!(
                out.ok().as_deref() == Some("in the context"),
                "the {format} context was not used: {}",
                text(&answer)
            );
        }
        Ok(Outcome::Passed)
    })
    .await
}

/// The 4.4 walk-through with busybox's httpd for node: a project built as user/app and run
/// with `-p 49160:8080` answers 200 on host port 49160.
pub async fn build_and_serve(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    if std::net::TcpListener::bind(("127.0.0.1", 49160)).is_err() {
        return Ok(skip(SkipKind::Environment, "host port 49160 is taken on this machine"));
    }
    scoped(e, |s| async move {
        let base = format!("{}:0.1", s.name("node"));
        s.images.lock().unwrap_or_else(|p| p.into_inner()).push(base.clone());
        s.e.cli(&["tag", IMAGE, &base]).await?.success()?;
        let dockerfile = format!(
            "FROM {base}\nRUN mkdir -p /src\nADD . /src\nEXPOSE 8080\nCMD [\"httpd\", \"-f\", \"-p\", \"8080\", \"-h\", \"/src\"]\n"
        );
        let ctx = s.context(&dockerfile)?;
        ctx.write("index.html", "hello world\n")?;
        let app = format!("{}/app", s.name("user"));
        s.images.lock().unwrap_or_else(|p| p.into_inner()).push(app.clone());
        s.built(&ctx, &app).await?;
        let name = s.container("app");
        s.e.cli(&["run", "-p", "49160:8080", "-d", "--name", &name, &app]).await?.success()?;
        let answer = super::containers::eventually("an answer on port 49160", super::containers::SETTLE, || async {
            Ok(http_get(49160).await.ok().filter(|a| a.starts_with("HTTP/1.") && a.contains("hello world")))
        })
        .await?;
        let status = answer.split_whitespace().nth(1).unwrap_or_default();
        ensure!(status == "200", "GET / answered {status}:\n{answer}");
        Ok(Outcome::Passed)
    })
    .await
}

/// `GET /` on a host port of 127.0.0.1; the whole answer.
async fn http_get(port: u16) -> anyhow::Result<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    stream.write_all(b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n").await?;
    let mut answer = vec![];
    tokio::time::timeout(std::time::Duration::from_secs(5), stream.read_to_end(&mut answer)).await??;
    Ok(text(&answer))
}
