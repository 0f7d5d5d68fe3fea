//! The build: each stage from its `FROM`, each instruction a step that commits an image
//! (metadata steps a config-only one, `RUN` a container's changes, `ADD`/`COPY` a layer of
//! sources), with the build cache, `ONBUILD` triggers, and the classic builder's messages.

use crate::backend::{Backend, BuiltImage};
use crate::context::Context;
use crate::sources;
use crate::BuildError;
use berth_api::container::{Config, Empty, Healthcheck as ConfigHealthcheck};
use berth_api::image::{History, ImageConfig, RootFs};
use berth_api::progress::Message;
use berth_dockerfile::{Command, Copy, Dockerfile, Healthcheck, Instruction, Located};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

/// What the request asks besides the context.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `(repository, tag)` pairs to tag the result with.
    pub tags: Vec<(String, String)>,
    pub quiet: bool,
    pub no_cache: bool,
    /// Remove intermediate containers after a successful step.
    pub rm: bool,
    /// Remove them even when the step fails.
    pub force_rm: bool,
    /// `--build-arg`: a `None` value means "unset" (the CLI found no value).
    pub build_args: BTreeMap<String, Option<String>>,
    /// `--label`, added to the last stage as one more `LABEL` step, as moby does.
    pub labels: BTreeMap<String, String>,
    /// `--target`: the stage to stop after.
    pub target: Option<String>,
    /// 2014 step lines (`Step 1 : ...`) rather than `Step 1/3 : ...`.
    pub legacy_output: bool,
    /// Send the image id as an `aux` message (API 1.31 and later).
    pub aux_id: bool,
}

/// The default shell of shell-form commands.
const SHELL: [&str; 2] = ["/bin/sh", "-c"];

/// Parses the Dockerfile, appending the `--label` step; errors name the line.
pub fn parse(text: &str, options: &Options) -> Result<Dockerfile, BuildError> {
    let mut dockerfile = berth_dockerfile::parse(text)?;
    if !options.labels.is_empty() {
        let pairs: Vec<(String, String)> = options.labels.iter().map(|(k, v)| (quote(k), quote(v))).collect();
        let original = format!("LABEL {}", pairs.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(" "));
        if let Some(stage) = dockerfile.stages.last_mut() {
            stage.instructions.push(Located { line: 0, original, inner: Instruction::Label(pairs) });
        }
    }
    Ok(dockerfile)
}

fn quote(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

/// Runs a parsed build, sending messages to `out`; returns the image made.
pub fn run(
    dockerfile: &Dockerfile,
    context: &Context,
    options: &Options,
    backend: &dyn Backend,
    work: &Path,
    out: &mut dyn FnMut(Message),
) -> Result<BuiltImage, BuildError> {
    let mut builder =
        Builder { dockerfile, context, options, backend, work, out, done: Vec::new(), step: 0, used_args: Vec::new() };
    let image = builder.stages()?;
    let unused: Vec<&String> = options
        .build_args
        .keys()
        .filter(|k| !builder.used_args.contains(k) && !PREDEFINED_ARGS.contains(&k.as_str()))
        .collect();
    if !unused.is_empty() {
        let names = unused.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" ");
        builder.say(format!("[Warning] One or more build-args [{names}] were not consumed\n"));
    }
    let image = image.ok_or_else(|| BuildError::Invalid("No image was generated. Is your Dockerfile empty?".into()))?;
    let out = builder.out;
    if options.aux_id {
        out(Message { aux: Some(serde_json::json!({"ID": image.digest()})), ..Default::default() });
    }
    if options.quiet {
        out(Message::stream(format!("{}\n", image.digest())));
    } else {
        out(Message::stream(format!("Successfully built {}\n", image.short_id())));
    }
    for (repository, tag) in &options.tags {
        backend.tag(&image, repository, tag).map_err(BuildError::Engine)?;
        if !options.quiet {
            out(Message::stream(format!("Successfully tagged {repository}:{tag}\n")));
        }
    }
    Ok(image)
}

/// Build args Docker accepts without an `ARG` (proxies).
const PREDEFINED_ARGS: &[&str] =
    &["HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "FTP_PROXY", "ftp_proxy", "NO_PROXY", "no_proxy"];

struct Builder<'a> {
    dockerfile: &'a Dockerfile,
    context: &'a Context,
    options: &'a Options,
    backend: &'a dyn Backend,
    work: &'a Path,
    out: &'a mut dyn FnMut(Message),
    /// Finished stages: alias and image.
    done: Vec<(Option<String>, Option<BuiltImage>)>,
    step: usize,
    used_args: Vec<String>,
}

/// One stage being built.
struct Stage {
    image: Option<BuiltImage>,
    config: Config,
    author: String,
    /// ARGs in scope with their values.
    args: Vec<(String, Option<String>)>,
    cmd_set: bool,
}

impl Stage {
    fn lookup(&self, name: &str) -> Option<String> {
        let env = self.config.env.iter().flatten().rev();
        env.filter_map(|e| e.split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_string())
            .or_else(|| self.args.iter().rev().find(|(k, _)| k == name).and_then(|(_, v)| v.clone()))
    }

    fn shell(&self) -> Vec<String> {
        self.config.shell.clone().unwrap_or_else(|| SHELL.iter().map(|s| s.to_string()).collect())
    }

    fn command(&self, command: &Command) -> Vec<String> {
        match command {
            Command::Exec(args) => args.clone(),
            Command::Shell(text) => {
                let mut shell = self.shell();
                shell.push(text.clone());
                shell
            }
        }
    }
}

impl Builder<'_> {
    fn say(&mut self, text: impl Into<String>) {
        if !self.options.quiet {
            (self.out)(Message::stream(text));
        }
    }

    fn total_steps(&self) -> usize {
        self.dockerfile.stages.iter().map(|s| 1 + s.instructions.len()).sum()
    }

    fn announce(&mut self, original: &str) {
        self.step += 1;
        let text = match self.options.legacy_output {
            true => format!("Step {} : {original}\n", self.step),
            false => format!("Step {}/{} : {original}\n", self.step, self.total_steps()),
        };
        self.say(text);
    }

    fn substitute(&self, stage: &Stage, word: &str) -> Result<String, BuildError> {
        Ok(berth_dockerfile::substitute(word, &|name| stage.lookup(name), self.dockerfile.escape)?)
    }

    fn stages(&mut self) -> Result<Option<BuiltImage>, BuildError> {
        let target = self.options.target.as_deref().map(str::to_ascii_lowercase);
        if let Some(target) = &target {
            if !self.dockerfile.stages.iter().any(|s| s.from.inner.alias.as_deref() == Some(target)) {
                return Err(BuildError::Invalid(format!("failed to reach build target {target} in Dockerfile")));
            }
        }
        let mut last = None;
        for stage in &self.dockerfile.stages {
            let mut state = self.from(&stage.from)?;
            for instruction in &stage.instructions {
                self.announce(&instruction.original);
                self.dispatch(&mut state, instruction)?;
            }
            let alias = stage.from.inner.alias.clone();
            last = state.image.clone();
            self.done.push((alias.clone(), state.image));
            if alias.is_some() && alias == target {
                break;
            }
        }
        Ok(last)
    }

    /// The meta ARGs (before the first FROM) with build-arg overrides.
    fn meta_args(&mut self) -> Vec<(String, Option<String>)> {
        let mut args = Vec::new();
        for arg in &self.dockerfile.args_before_from {
            let value = self.build_arg(&arg.name).or_else(|| arg.default.clone());
            args.push((arg.name.clone(), value));
        }
        args
    }

    fn build_arg(&mut self, name: &str) -> Option<String> {
        let value = self.options.build_args.get(name)?.clone();
        self.used_args.push(name.to_string());
        value
    }

    fn from(&mut self, from: &Located<berth_dockerfile::From>) -> Result<Stage, BuildError> {
        self.announce(&from.original);
        let meta = Stage {
            image: None,
            config: Config::default(),
            author: String::new(),
            args: self.meta_args(),
            cmd_set: false,
        };
        let name = self.substitute(&meta, &from.inner.image)?;
        let image = self.base_image(&name)?;
        let mut stage = Stage {
            config: image.as_ref().and_then(|i| i.config.config.clone()).unwrap_or_default(),
            author: image.as_ref().map(|i| i.config.author.clone()).unwrap_or_default(),
            image,
            args: Vec::new(),
            cmd_set: false,
        };
        if let Some(image) = &stage.image {
            let short = image.short_id().to_string();
            self.say(format!(" ---> {short}\n"));
        }
        self.triggers(&mut stage)?;
        Ok(stage)
    }

    fn base_image(&mut self, name: &str) -> Result<Option<BuiltImage>, BuildError> {
        if name.is_empty() {
            return Err(BuildError::Invalid("base name (FROM) should not be blank".into()));
        }
        let lower = name.to_ascii_lowercase();
        if let Some((_, image)) = self.done.iter().rev().find(|(alias, _)| alias.as_deref() == Some(lower.as_str())) {
            return Ok(image.clone());
        }
        if lower == "scratch" {
            return Ok(None);
        }
        if let Ok(image) = self.backend.image(name) {
            return Ok(Some(image));
        }
        // Not here: pulled from its registry, as `docker build` does.
        let mut lines = Vec::new();
        let pulled = self.backend.pull(name, &mut |line| lines.push(line));
        for line in lines {
            self.say(line);
        }
        pulled.map(Some).map_err(|e| {
            BuildError::NotFound(format!("the base image {name} is not in the image store and cannot be pulled: {e}"))
        })
    }

    /// Runs the base image's `ONBUILD` triggers, which the new image does not inherit.
    fn triggers(&mut self, stage: &mut Stage) -> Result<(), BuildError> {
        let triggers = stage.config.on_build.take().unwrap_or_default();
        if triggers.is_empty() {
            return Ok(());
        }
        let plural = if triggers.len() == 1 { "" } else { "s" };
        self.say(format!("# Executing {} build trigger{plural}\n", triggers.len()));
        for text in triggers {
            let trigger = berth_dockerfile::parse_trigger(&text, self.dockerfile.escape).map_err(|e| {
                BuildError::Invalid(format!("invalid ONBUILD trigger {text:?} in the base image: {}", e.kind))
            })?;
            self.dispatch(stage, &trigger)?;
        }
        Ok(())
    }

    fn dispatch(&mut self, stage: &mut Stage, step: &Located<Instruction>) -> Result<(), BuildError> {
        match &step.inner {
            Instruction::Run(command) => return self.run_step(stage, command),
            Instruction::Add(copy) => return self.copy_step(stage, copy, true),
            Instruction::Copy(copy) => return self.copy_step(stage, copy, false),
            Instruction::Arg(arg) => {
                let value = self.build_arg(&arg.name).or_else(|| match &arg.default {
                    Some(default) => self.substitute(stage, default).ok(),
                    None => None,
                });
                stage.args.push((arg.name.clone(), value));
            }
            other => self.apply_metadata(stage, other)?,
        }
        let text = self.nop_text(stage, step)?;
        self.commit_metadata(stage, &text)
    }

    /// The history text of a metadata step: the instruction with its words substituted.
    fn nop_text(&self, stage: &Stage, step: &Located<Instruction>) -> Result<String, BuildError> {
        Ok(match &step.inner {
            Instruction::Cmd(c) | Instruction::Entrypoint(c) => {
                format!("{} {}", step.inner.keyword(), render(&stage.command(c)))
            }
            Instruction::Env(pairs) | Instruction::Label(pairs) => {
                let words: Vec<String> = pairs
                    .iter()
                    .map(|(k, v)| Ok(format!("{}={}", self.substitute(stage, k)?, self.substitute(stage, v)?)))
                    .collect::<Result<_, BuildError>>()?;
                format!("{} {}", step.inner.keyword(), words.join(" "))
            }
            _ => step.original.clone(),
        })
    }

    fn apply_metadata(&mut self, stage: &mut Stage, instruction: &Instruction) -> Result<(), BuildError> {
        match instruction {
            Instruction::Env(pairs) => {
                let mut values = Vec::new();
                for (k, v) in pairs {
                    values.push((self.substitute(stage, k)?, self.substitute(stage, v)?));
                }
                let env = stage.config.env.get_or_insert_with(Vec::new);
                for (k, v) in values {
                    env.retain(|e| e.split_once('=').map_or(e.as_str(), |(n, _)| n) != k);
                    env.push(format!("{k}={v}"));
                }
            }
            Instruction::Label(pairs) => {
                let mut values = Vec::new();
                for (k, v) in pairs {
                    values.push((self.substitute(stage, k)?, self.substitute(stage, v)?));
                }
                stage.config.labels.get_or_insert_with(BTreeMap::new).extend(values);
            }
            Instruction::Cmd(command) => {
                stage.config.cmd = Some(stage.command(command));
                stage.cmd_set = true;
            }
            Instruction::Entrypoint(command) => {
                stage.config.entrypoint = Some(stage.command(command));
                if !stage.cmd_set {
                    stage.config.cmd = None;
                }
            }
            Instruction::Expose(ports) => {
                let mut specs = Vec::new();
                for port in ports {
                    specs.extend(expand_port(&self.substitute(stage, port)?)?);
                }
                stage
                    .config
                    .exposed_ports
                    .get_or_insert_with(BTreeMap::new)
                    .extend(specs.into_iter().map(|p| (p, Empty {})));
            }
            Instruction::Volume(paths) => {
                let mut values = Vec::new();
                for path in paths {
                    values.push(self.substitute(stage, path)?);
                }
                stage
                    .config
                    .volumes
                    .get_or_insert_with(BTreeMap::new)
                    .extend(values.into_iter().map(|p| (p, Empty {})));
            }
            Instruction::User(user) => stage.config.user = self.substitute(stage, user)?,
            Instruction::Workdir(dir) => {
                let dir = self.substitute(stage, dir)?;
                stage.config.working_dir = absolute(&stage.config.working_dir, &dir);
            }
            Instruction::Onbuild(trigger) => {
                stage.config.on_build.get_or_insert_with(Vec::new).push(trigger.original.clone())
            }
            Instruction::Maintainer(name) => stage.author = name.clone(),
            Instruction::Healthcheck(check) => stage.config.healthcheck = Some(healthcheck(check)),
            Instruction::Stopsignal(signal) => stage.config.stop_signal = self.substitute(stage, signal)?,
            Instruction::Shell(shell) => stage.config.shell = Some(shell.clone()),
            Instruction::Run(_) | Instruction::Add(_) | Instruction::Copy(_) | Instruction::Arg(_) => {}
        }
        Ok(())
    }

    /// The config a step's image would record as `container_config`: what the cache compares.
    fn container_config(&self, stage: &Stage, cmd: Vec<String>) -> Config {
        let mut config = stage.config.clone();
        config.cmd = Some(cmd);
        config.image = stage.image.as_ref().map(|i| i.digest()).unwrap_or_default();
        config
    }

    /// A cached image for this step: a child of the current image made by the same step.
    fn cached(&mut self, stage: &Stage, container_config: &Config) -> Option<BuiltImage> {
        if self.options.no_cache {
            return None;
        }
        let parent = stage.image.as_ref()?;
        let hit = self.backend.children(&parent.id).into_iter().find(|child| {
            child.config.container_config.as_ref() == Some(container_config)
                && child.config.config.as_ref() == Some(&stage.config)
                && child.config.author == stage.author
        })?;
        self.say(" ---> Using cache\n");
        self.say(format!(" ---> {}\n", hit.short_id()));
        Some(hit)
    }

    fn image_config(&self, stage: &Stage, container_config: Config, created_by: String, empty: bool) -> ImageConfig {
        let parent = stage.image.as_ref().map(|i| &i.config);
        let created = berth_api::time::now_rfc3339();
        let mut history = parent.map(|p| p.history.clone()).unwrap_or_default();
        history.push(History { created: created.clone(), created_by, empty_layer: empty, ..Default::default() });
        ImageConfig {
            parent: stage.image.as_ref().map(|i| i.digest()).unwrap_or_default(),
            created,
            container_config: Some(container_config),
            docker_version: format!("berth {}", env!("CARGO_PKG_VERSION")),
            author: stage.author.clone(),
            config: Some(stage.config.clone()),
            architecture: parent
                .map(|p| p.architecture.clone())
                .filter(|a| !a.is_empty())
                .unwrap_or_else(|| berth_api::go_arch().into()),
            os: "linux".into(),
            rootfs: Some(
                parent.and_then(|p| p.rootfs.clone()).unwrap_or(RootFs { kind: "layers".into(), diff_ids: Vec::new() }),
            ),
            history,
            ..Default::default()
        }
    }

    fn commit_metadata(&mut self, stage: &mut Stage, text: &str) -> Result<(), BuildError> {
        let nop = format!("#(nop) {text}");
        let container_config = self.container_config(stage, vec![SHELL[0].into(), SHELL[1].into(), nop.clone()]);
        if let Some(hit) = self.cached(stage, &container_config) {
            stage.image = Some(hit);
            return Ok(());
        }
        let config = self.image_config(stage, container_config, format!("/bin/sh -c {nop}"), true);
        let image = self.backend.commit(stage.image.as_ref(), config, None).map_err(BuildError::Engine)?;
        self.say(format!(" ---> {}\n", image.short_id()));
        stage.image = Some(image);
        Ok(())
    }

    fn run_step(&mut self, stage: &mut Stage, command: &Command) -> Result<(), BuildError> {
        let cmd = stage.command(command);
        let args: Vec<String> = stage
            .args
            .iter()
            .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={v}")))
            .filter(|kv| !stage.config.env.iter().flatten().any(|e| e.split('=').next() == kv.split('=').next()))
            .collect();
        let mut cache_cmd = cmd.clone();
        if !args.is_empty() {
            cache_cmd =
                std::iter::once(format!("|{}", args.len())).chain(args.iter().cloned()).chain(cmd.clone()).collect();
        }
        let container_config = self.container_config(stage, cache_cmd.clone());
        if let Some(hit) = self.cached(stage, &container_config) {
            stage.image = Some(hit);
            return Ok(());
        }
        let Some(image) = stage.image.clone() else {
            return Err(BuildError::Invalid("RUN needs a base image: a stage FROM scratch has no shell to run".into()));
        };
        let mut config = stage.config.clone();
        config.cmd = Some(cmd.clone());
        config.entrypoint = None;
        config.env.get_or_insert_with(Vec::new).extend(args);
        config.image = image.digest();
        let quiet = self.options.quiet;
        let mut output = StreamWriter { out: &mut *self.out, quiet };
        let ran = self.backend.run(&image, config, &mut output).map_err(BuildError::Engine)?;
        let remove = |builder: &mut Self| -> Result<(), BuildError> {
            builder.say(format!("Removing intermediate container {}\n", &ran.container[..12.min(ran.container.len())]));
            builder.backend.remove_container(&ran.container).map_err(BuildError::Engine)
        };
        if ran.exit_code != 0 {
            if self.options.force_rm {
                remove(self)?;
            }
            return Err(BuildError::CommandFailed { command: cmd.join(" "), code: ran.exit_code });
        }
        let created_by = cache_cmd.join(" ");
        let mut image_config = self.image_config(stage, container_config, created_by, false);
        image_config.container = ran.container.clone();
        let new = self.backend.commit_container(&ran.container, &image, image_config).map_err(BuildError::Engine)?;
        if self.options.rm || self.options.force_rm {
            remove(self)?;
        }
        self.say(format!(" ---> {}\n", new.short_id()));
        stage.image = Some(new);
        Ok(())
    }

    fn copy_step(&mut self, stage: &mut Stage, copy: &Copy, add: bool) -> Result<(), BuildError> {
        let verb = if add { "ADD" } else { "COPY" };
        let mut sources = Vec::new();
        for source in &copy.sources {
            sources.push(self.substitute(stage, source)?);
        }
        let dest = self.substitute(stage, &copy.dest)?;
        let dest = destination(&stage.config.working_dir, &dest);
        let owner = match &copy.chown {
            Some(chown) => self.owner(stage, &self.substitute(stage, chown)?)?,
            None => (0, 0),
        };
        // Made only by what needs it (`--from` files, downloads, the layer of a cache miss).
        let work = self.work.join(format!("step-{}", self.step));
        let from_root;
        let root = match &copy.from {
            Some(from) => {
                from_root = self.stage_files(&self.substitute(stage, from)?, &work)?;
                from_root.as_path()
            }
            None => self.context.dir.as_path(),
        };
        let context = copy.from.is_none().then_some(self.context);
        let request = sources::Request { add, root, sources, dest: dest.clone(), owner, work: &work, context };
        let prepared = sources::prepare(&request, self.backend, stage.image.as_ref())?;
        let from = copy.from.as_ref().map(|f| format!("--from={f} ")).unwrap_or_default();
        let chown = if owner == (0, 0) { String::new() } else { format!("--chown={}:{} ", owner.0, owner.1) };
        let nop = format!("#(nop) {verb} {from}{chown}file:{} in {dest} ", prepared.digest);
        let container_config = self.container_config(stage, vec![SHELL[0].into(), SHELL[1].into(), nop.clone()]);
        if let Some(hit) = self.cached(stage, &container_config) {
            stage.image = Some(hit);
            let _ = std::fs::remove_dir_all(&work);
            return Ok(());
        }
        let config = self.image_config(stage, container_config, format!("/bin/sh -c {nop}"), false);
        if let Some(context) = request.context {
            context.materialize()?;
        }
        std::fs::create_dir_all(&work).map_err(BuildError::io("create a build directory"))?;
        let tar_path = work.join("layer.tar");
        prepared.write(&tar_path, self.backend, stage.image.as_ref())?;
        let mut tar = std::fs::File::open(&tar_path).map_err(BuildError::io("read the layer tar"))?;
        let image = self.backend.commit(stage.image.as_ref(), config, Some(&mut tar)).map_err(BuildError::Engine)?;
        let _ = std::fs::remove_dir_all(&work);
        self.say(format!(" ---> {}\n", image.short_id()));
        stage.image = Some(image);
        Ok(())
    }

    /// The files of a stage (by name or number) or an image, unpacked for `COPY --from`.
    fn stage_files(&self, from: &str, work: &Path) -> Result<std::path::PathBuf, BuildError> {
        let lower = from.to_ascii_lowercase();
        let stage = match lower.parse::<usize>() {
            Ok(n) => Some(self.done.get(n).map(|(_, i)| i.clone()).ok_or_else(|| {
                BuildError::Invalid(format!("invalid from flag value {from}: stage {n} is not before this one"))
            })?),
            Err(_) => {
                self.done.iter().rev().find(|(a, _)| a.as_deref() == Some(lower.as_str())).map(|(_, i)| i.clone())
            }
        };
        let image = match stage {
            Some(image) => image,
            None => Some(self.backend.image(from).map_err(|e| {
                BuildError::NotFound(format!("invalid from flag value {from}: no stage or image of that name ({e})"))
            })?),
        };
        let root = work.join("from");
        std::fs::create_dir_all(&root).map_err(BuildError::io("create a build directory"))?;
        if let Some(image) = image {
            let tar_path = work.join("from.tar");
            let mut file = std::fs::File::create(&tar_path).map_err(BuildError::io("create a build directory"))?;
            self.backend.export(&image, &mut file).map_err(BuildError::Engine)?;
            let mut archive = tar::Archive::new(std::fs::File::open(&tar_path).map_err(BuildError::io("read"))?);
            archive.set_preserve_permissions(true);
            archive.set_preserve_mtime(true);
            archive.unpack(&root).map_err(BuildError::io(format!("unpack the files of {from}")))?;
        }
        Ok(root)
    }

    /// `--chown=user[:group]`: numbers, or names from the image's `/etc/passwd` and `/etc/group`.
    fn owner(&self, stage: &Stage, chown: &str) -> Result<(u64, u64), BuildError> {
        let (user, group) = chown.split_once(':').map_or((chown, None), |(u, g)| (u, Some(g)));
        let file = |path: &str| {
            stage
                .image
                .as_ref()
                .and_then(|i| self.backend.read_file(i, path))
                .map(|b| String::from_utf8_lossy(&b).into_owned())
        };
        let find = |text: Option<String>, name: &str, field: usize| -> Option<u64> {
            text?
                .lines()
                .map(|l| l.split(':').collect::<Vec<_>>())
                .find(|f| f.first() == Some(&name))?
                .get(field)?
                .parse()
                .ok()
        };
        let uid = match user.parse::<u64>() {
            Ok(uid) => uid,
            Err(_) => find(file("/etc/passwd"), user, 2)
                .ok_or_else(|| BuildError::Invalid(format!("unable to convert uid/gid chown string to host mapping: no such user {user:?} in the image's /etc/passwd")))?,
        };
        let gid = match group {
            None => match user.parse::<u64>() {
                Ok(_) => uid,
                Err(_) => find(file("/etc/passwd"), user, 3).unwrap_or(uid),
            },
            Some(group) => match group.parse::<u64>() {
                Ok(gid) => gid,
                Err(_) => find(file("/etc/group"), group, 2)
                    .ok_or_else(|| BuildError::Invalid(format!("unable to convert uid/gid chown string to host mapping: no such group {group:?} in the image's /etc/group")))?,
            },
        };
        Ok((uid, gid))
    }
}

/// A container's output as stream messages.
struct StreamWriter<'a> {
    out: &'a mut dyn FnMut(Message),
    quiet: bool,
}

impl crate::backend::RunOutput for StreamWriter<'_> {
    fn started(&mut self, container: &str) {
        if !self.quiet {
            (self.out)(Message::stream(format!(" ---> Running in {}\n", &container[..12.min(container.len())])));
        }
    }
}

impl Write for StreamWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if !self.quiet && !buf.is_empty() {
            (self.out)(Message::stream(String::from_utf8_lossy(buf).into_owned()));
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A command as moby's history prints exec forms: `["a" "b"]`.
fn render(command: &[String]) -> String {
    let words: Vec<String> = command.iter().map(|w| format!("{w:?}")).collect();
    format!("[{}]", words.join(" "))
}

fn healthcheck(check: &Healthcheck) -> ConfigHealthcheck {
    let nanos = |d: Option<std::time::Duration>| d.map_or(0, |d| d.as_nanos() as i64);
    match check {
        Healthcheck::None => ConfigHealthcheck { test: Some(vec!["NONE".into()]), ..Default::default() },
        Healthcheck::Check { test, interval, timeout, start_period, retries } => {
            let test = match test {
                Command::Exec(args) => std::iter::once("CMD".to_string()).chain(args.iter().cloned()).collect(),
                Command::Shell(text) => vec!["CMD-SHELL".to_string(), text.clone()],
            };
            ConfigHealthcheck {
                test: Some(test),
                interval: nanos(*interval),
                timeout: nanos(*timeout),
                start_period: nanos(*start_period),
                retries: retries.map_or(0, i64::from),
            }
        }
    }
}

/// `EXPOSE` specs as config keys: `80` is `80/tcp`, a range gives every port in it.
fn expand_port(spec: &str) -> Result<Vec<String>, BuildError> {
    berth_dockerfile::check_port(spec).map_err(|e| BuildError::Invalid(e.to_string()))?;
    let (ports, proto) = spec.split_once('/').unwrap_or((spec, "tcp"));
    let proto = proto.to_ascii_lowercase();
    let (start, end) = ports.split_once('-').unwrap_or((ports, ports));
    let bad = || BuildError::Invalid(format!("invalid port {spec}"));
    let (start, end): (u32, u32) = (start.parse().map_err(|_| bad())?, end.parse().map_err(|_| bad())?);
    Ok((start..=end).map(|p| format!("{p}/{proto}")).collect())
}

/// `WORKDIR` relative to the current one, cleaned.
fn absolute(current: &str, dir: &str) -> String {
    let joined = if dir.starts_with('/') { dir.to_string() } else { format!("{}/{dir}", current) };
    format!("/{}", crate::ignore::clean(&joined))
}

/// An `ADD`/`COPY` destination made absolute against WORKDIR; a trailing `/` (or `.`) marks
/// a directory and is kept.
fn destination(workdir: &str, dest: &str) -> String {
    let dir_like = dest.ends_with('/') || dest == "." || dest.ends_with("/.");
    let mut path = absolute(if workdir.is_empty() { "/" } else { workdir }, dest);
    if dir_like && !path.ends_with('/') {
        path.push('/');
    }
    path
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations_follow_workdir() {
        assert_eq!(destination("", "/data/"), "/data/");
        assert_eq!(destination("/app", "x"), "/app/x");
        assert_eq!(destination("/app", "."), "/app/");
        assert_eq!(destination("", "rel"), "/rel");
    }

    #[test]
    fn ports_expand() {
        assert_eq!(expand_port("80").unwrap(), vec!["80/tcp"]);
        assert_eq!(expand_port("53/UDP").unwrap(), vec!["53/udp"]);
        assert_eq!(expand_port("8000-8002").unwrap().len(), 3);
        assert!(expand_port("x").is_err());
    }

    #[test]
    fn exec_forms_render_as_moby_prints_them() {
        assert_eq!(render(&["cat".into(), "/hello".into()]), "[\"cat\" \"/hello\"]");
    }
}
