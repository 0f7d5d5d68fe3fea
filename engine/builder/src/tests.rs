//! The build loop against a fake engine: steps, cache, ONBUILD, stages, errors.

use crate::{Backend, BuildError, BuiltImage, Context, Options, PathKind, Ran, RunOutput};
use berth_api::container::Config;
use berth_api::image::ImageConfig;
use berth_api::progress::Message;
use sha2::{Digest, Sha256};
use std::cell::RefCell;
use std::io::{Read, Write};

#[derive(Default)]
struct FakeEngine {
    images: RefCell<Vec<BuiltImage>>,
    runs: RefCell<Vec<Vec<String>>>,
    removed: RefCell<Vec<String>>,
    tags: RefCell<Vec<String>>,
    layers: RefCell<Vec<Vec<u8>>>,
}

impl FakeEngine {
    fn with_busybox() -> FakeEngine {
        let engine = FakeEngine::default();
        let config = ImageConfig {
            config: Some(Config { cmd: Some(vec!["sh".into()]), ..Default::default() }),
            ..Default::default()
        };
        engine.store(config);
        engine
    }

    fn store(&self, config: ImageConfig) -> BuiltImage {
        let id = format!("{:x}", Sha256::digest(serde_json::to_vec(&config).unwrap()));
        let image = BuiltImage { id, config };
        self.images.borrow_mut().push(image.clone());
        image
    }

    fn get(&self, id: &str) -> BuiltImage {
        self.images.borrow().iter().find(|i| i.id == id || id.ends_with(&i.id)).cloned().unwrap()
    }
}

impl Backend for FakeEngine {
    fn image(&self, name: &str) -> Result<BuiltImage, String> {
        match name {
            "busybox" => Ok(self.images.borrow()[0].clone()),
            _ => self
                .images
                .borrow()
                .iter()
                .find(|i| i.id.starts_with(name))
                .cloned()
                .ok_or_else(|| "no such image".into()),
        }
    }

    fn children(&self, id: &str) -> Vec<BuiltImage> {
        self.images.borrow().iter().filter(|i| i.config.parent == format!("sha256:{id}")).cloned().collect()
    }

    fn commit(
        &self,
        _: Option<&BuiltImage>,
        config: ImageConfig,
        layer: Option<&mut dyn Read>,
    ) -> Result<BuiltImage, String> {
        if let Some(layer) = layer {
            let mut bytes = Vec::new();
            layer.read_to_end(&mut bytes).unwrap();
            self.layers.borrow_mut().push(bytes);
        }
        Ok(self.store(config))
    }

    fn run(&self, _: &BuiltImage, config: Config, output: &mut dyn RunOutput) -> Result<Ran, String> {
        let cmd = config.cmd.unwrap();
        output.started(&format!("c{:063}", self.runs.borrow().len() + 1));
        let code = if cmd.last().unwrap().starts_with("exit ") { cmd.last().unwrap()[5..].parse().unwrap() } else { 0 };
        output.write_all(b"output\n").unwrap();
        self.runs.borrow_mut().push(cmd);
        Ok(Ran { container: format!("c{:063}", self.runs.borrow().len()), exit_code: code })
    }

    fn commit_container(&self, _: &str, _: &BuiltImage, config: ImageConfig) -> Result<BuiltImage, String> {
        Ok(self.store(config))
    }

    fn remove_container(&self, container: &str) -> Result<(), String> {
        self.removed.borrow_mut().push(container.to_string());
        Ok(())
    }

    fn path_kind(&self, _: &BuiltImage, path: &str) -> Option<PathKind> {
        ["/", "/etc", "/bin"].contains(&path).then_some(PathKind::Dir)
    }

    fn read_file(&self, _: &BuiltImage, path: &str) -> Option<Vec<u8>> {
        (path == "/etc/passwd").then(|| b"root:x:0:0::/root:/bin/sh\nwww:x:33:34::/:/bin/false\n".to_vec())
    }

    fn export(&self, _: &BuiltImage, out: &mut dyn Write) -> Result<(), String> {
        let mut builder = tar::Builder::new(out);
        let mut header = tar::Header::new_gnu();
        header.set_size(3);
        header.set_mode(0o755);
        header.set_cksum();
        builder.append_data(&mut header, "app/bin", &b"elf"[..]).map_err(|e| e.to_string())?;
        builder.finish().map_err(|e| e.to_string())
    }

    fn tag(&self, image: &BuiltImage, repository: &str, tag: &str) -> Result<(), String> {
        self.tags.borrow_mut().push(format!("{repository}:{tag}={}", image.short_id()));
        Ok(())
    }
}

struct Run {
    image: Result<BuiltImage, BuildError>,
    lines: Vec<String>,
}

fn build(engine: &FakeEngine, dockerfile: &str, files: &[(&str, &str)], options: &Options) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let context_dir = dir.path().join("context");
    std::fs::create_dir(&context_dir).unwrap();
    for (name, data) in files {
        let path = context_dir.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, data).unwrap();
    }
    let context = Context { dir: context_dir, dockerfile: dockerfile.into(), ..Default::default() };
    let mut lines = Vec::new();
    let image = crate::parse(dockerfile, options).and_then(|parsed| {
        crate::run(&parsed, &context, options, engine, dir.path(), &mut |m: Message| lines.push(m.stream))
    });
    Run { image, lines }
}

fn defaults() -> Options {
    Options { rm: true, ..Default::default() }
}

#[test]
fn metadata_steps_commit_config_only_images_with_nop_history() {
    let engine = FakeEngine::with_busybox();
    let run = build(&engine, "FROM busybox\nENV A=1 B=$A\nCMD [\"cat\", \"/hello\"]\n", &[], &defaults());
    let image = run.image.unwrap();
    let config = image.config.config.clone().unwrap();
    // Within one ENV, `$A` is the value from before the instruction (unset here), as in Docker.
    assert_eq!(config.env, Some(vec!["A=1".into(), "B=".into()]));
    assert_eq!(config.cmd, Some(vec!["cat".into(), "/hello".into()]));
    let last = image.config.history.last().unwrap();
    assert_eq!(last.created_by, "/bin/sh -c #(nop) CMD [\"cat\" \"/hello\"]");
    assert!(last.empty_layer);
    assert_eq!(run.lines[0], "Step 1/3 : FROM busybox\n");
    assert_eq!(run.lines.last().unwrap(), &format!("Successfully built {}\n", image.short_id()));
}

#[test]
fn run_steps_use_a_container_and_remove_it() {
    let engine = FakeEngine::with_busybox();
    let run = build(&engine, "FROM busybox\nRUN echo hi\n", &[], &defaults());
    run.image.unwrap();
    assert_eq!(engine.runs.borrow()[0], vec!["/bin/sh", "-c", "echo hi"]);
    assert_eq!(engine.removed.borrow().len(), 1);
    assert!(run.lines.iter().any(|l| l.starts_with(" ---> Running in c")));
    assert!(run.lines.iter().any(|l| l == "output\n"));
    assert!(run.lines.iter().any(|l| l.starts_with("Removing intermediate container")));
}

#[test]
fn a_failing_run_reports_its_exit_code() {
    let engine = FakeEngine::with_busybox();
    let run = build(&engine, "FROM busybox\nRUN exit 3\n", &[], &defaults());
    let err = run.image.unwrap_err();
    assert_eq!(err.to_string(), "The command '/bin/sh -c exit 3' returned a non-zero code: 3");
    assert_eq!(err.exit_code(), Some(3));
    assert!(engine.removed.borrow().is_empty(), "the failed container is kept without --force-rm");
}

#[test]
fn the_second_build_uses_the_cache_and_no_cache_does_not() {
    let engine = FakeEngine::with_busybox();
    let dockerfile = "FROM busybox\nADD a /a\nRUN echo hi\nENV X=1\n";
    let first = build(&engine, dockerfile, &[("a", "one")], &defaults()).image.unwrap();
    let second = build(&engine, dockerfile, &[("a", "one")], &defaults());
    assert_eq!(second.image.unwrap(), first);
    assert_eq!(second.lines.iter().filter(|l| *l == " ---> Using cache\n").count(), 3);
    assert_eq!(engine.runs.borrow().len(), 1);
    let changed = build(&engine, dockerfile, &[("a", "two")], &defaults()).image.unwrap();
    assert_ne!(changed, first, "new source content misses the cache");
    let fresh = build(&engine, dockerfile, &[("a", "one")], &Options { no_cache: true, ..defaults() });
    assert!(!fresh.lines.iter().any(|l| l.contains("Using cache")));
}

#[test]
fn onbuild_triggers_run_after_from_and_are_not_inherited() {
    let engine = FakeEngine::with_busybox();
    let parent = build(&engine, "FROM busybox\nONBUILD RUN echo trigger\n", &[], &defaults()).image.unwrap();
    assert_eq!(parent.config.config.as_ref().unwrap().on_build, Some(vec!["RUN echo trigger".to_string()]));
    let child = build(&engine, &format!("FROM {}\nENV Y=1\n", parent.id), &[], &defaults());
    assert!(child.lines.iter().any(|l| l == "# Executing 1 build trigger\n"));
    assert_eq!(engine.runs.borrow().last().unwrap(), &vec!["/bin/sh", "-c", "echo trigger"]);
    let child = child.image.unwrap();
    assert!(child.config.config.unwrap().on_build.unwrap_or_default().is_empty());
}

#[test]
fn copy_writes_a_root_owned_layer_and_refuses_escapes() {
    let engine = FakeEngine::with_busybox();
    build(&engine, "FROM busybox\nCOPY dir /srv/\n", &[("dir/x", "1"), ("dir/sub/y", "2")], &defaults()).image.unwrap();
    let layer = engine.layers.borrow()[0].clone();
    let mut archive = tar::Archive::new(&layer[..]);
    let names: Vec<(String, u64)> = archive
        .entries()
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (e.path().unwrap().display().to_string(), e.header().uid().unwrap())
        })
        .collect();
    let paths: Vec<&str> = names.iter().map(|(n, _)| n.as_str()).collect();
    assert!(paths.contains(&"srv/x") && paths.contains(&"srv/sub/y"), "{paths:?}");
    assert!(names.iter().all(|(_, uid)| *uid == 0));
    let err = build(&engine, "FROM busybox\nCOPY ../x /x\n", &[], &defaults()).image.unwrap_err();
    assert!(err.to_string().contains("outside the build context"), "{err}");
}

#[test]
fn chown_names_come_from_the_image() {
    let engine = FakeEngine::with_busybox();
    build(&engine, "FROM busybox\nCOPY --chown=www a /a\n", &[("a", "1")], &defaults()).image.unwrap();
    let layer = engine.layers.borrow()[0].clone();
    let mut archive = tar::Archive::new(&layer[..]);
    let entry = archive.entries().unwrap().next().unwrap().unwrap();
    assert_eq!((entry.header().uid().unwrap(), entry.header().gid().unwrap()), (33, 34));
}

#[test]
fn multi_stage_copy_from_a_named_stage() {
    let engine = FakeEngine::with_busybox();
    let run = build(
        &engine,
        "FROM busybox AS build\nRUN make\nFROM busybox\nCOPY --from=build /app/bin /usr/bin/app\n",
        &[],
        &defaults(),
    );
    run.image.unwrap();
    let layer = engine.layers.borrow()[0].clone();
    let mut archive = tar::Archive::new(&layer[..]);
    let paths: Vec<String> =
        archive.entries().unwrap().map(|e| e.unwrap().path().unwrap().display().to_string()).collect();
    assert!(paths.contains(&"usr/bin/app".to_string()), "{paths:?}");
}

#[test]
fn build_args_reach_run_and_unused_ones_are_reported() {
    let engine = FakeEngine::with_busybox();
    let mut options = defaults();
    options.build_args.insert("V".into(), Some("7".into()));
    options.build_args.insert("UNUSED".into(), Some("x".into()));
    let run = build(&engine, "FROM busybox\nARG V=1\nRUN echo $V\n", &[], &options);
    let image = run.image.unwrap();
    assert_eq!(image.config.history.last().unwrap().created_by, "|1 V=7 /bin/sh -c echo $V");
    assert!(run.lines.iter().any(|l| l.contains("[Warning] One or more build-args [UNUSED] were not consumed")));
}

#[test]
fn labels_option_and_tags() {
    let engine = FakeEngine::with_busybox();
    let mut options = defaults();
    options.labels.insert("k".into(), "v w".into());
    options.tags.push(("x".into(), "latest".into()));
    let run = build(&engine, "FROM busybox\n", &[], &options);
    let image = run.image.unwrap();
    assert_eq!(image.config.config.unwrap().labels.unwrap()["k"], "v w");
    assert!(run.lines.iter().any(|l| l == "Step 2/2 : LABEL \"k\"=\"v w\"\n"), "{:?}", run.lines);
    assert!(run.lines.iter().any(|l| l == "Successfully tagged x:latest\n"));
}

#[test]
fn parse_errors_name_the_line() {
    let err = crate::parse("FROM busybox\nBOGUS x\n", &defaults()).unwrap_err();
    assert!(err.is_invalid());
    assert_eq!(err.to_string(), "dockerfile parse error line 2: unknown instruction: BOGUS");
}

#[test]
fn a_missing_base_image_is_named() {
    let engine = FakeEngine::with_busybox();
    let err = build(&engine, "FROM nothere\n", &[], &defaults()).image.unwrap_err();
    assert!(err.to_string().contains("nothere"), "{err}");
}

#[test]
fn quiet_prints_only_the_id() {
    let engine = FakeEngine::with_busybox();
    let run = build(&engine, "FROM busybox\nRUN true\n", &[], &Options { quiet: true, ..defaults() });
    let image = run.image.unwrap();
    assert_eq!(run.lines, vec![format!("{}\n", image.digest())]);
    let _ = engine.get(&image.id);
}

#[test]
fn modern_instructions_set_the_config() {
    let engine = FakeEngine::with_busybox();
    let dockerfile = "FROM busybox\nSHELL [\"/bin/ash\", \"-c\"]\nRUN echo x\nHEALTHCHECK --interval=5s CMD true\n\
        ENTRYPOINT [\"app\"]\nSTOPSIGNAL SIGTERM\nEXPOSE 80 53/udp\nVOLUME /v\nUSER 1:2\nWORKDIR rel\nWORKDIR sub\n";
    let image = build(&engine, dockerfile, &[], &defaults()).image.unwrap();
    assert_eq!(engine.runs.borrow()[0], vec!["/bin/ash", "-c", "echo x"]);
    let config = image.config.config.unwrap();
    let check = config.healthcheck.unwrap();
    assert_eq!(check.test, Some(vec!["CMD-SHELL".to_string(), "true".to_string()]));
    assert_eq!(check.interval, 5_000_000_000);
    assert_eq!(config.entrypoint, Some(vec!["app".to_string()]));
    assert_eq!(config.cmd, None, "ENTRYPOINT drops the CMD inherited from the base image");
    assert_eq!(config.stop_signal, "SIGTERM");
    let ports: Vec<&String> = config.exposed_ports.as_ref().unwrap().keys().collect();
    assert_eq!(ports, ["53/udp", "80/tcp"]);
    assert!(config.volumes.unwrap().contains_key("/v"));
    assert_eq!(config.user, "1:2");
    assert_eq!(config.working_dir, "/rel/sub");
}

/// A context as `POST /build` makes it: unpacked from a tar, large files held in memory.
fn build_from_tar(engine: &FakeEngine, files: &[(&str, &[u8])]) -> (Run, Vec<u8>) {
    let dir = tempfile::tempdir().unwrap();
    let context_dir = dir.path().join("context");
    std::fs::create_dir(&context_dir).unwrap();
    let mut tar = tar::Builder::new(Vec::new());
    for (name, data) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        tar.append_data(&mut header, name, *data).unwrap();
    }
    let body = std::io::Cursor::new(tar.into_inner().unwrap());
    let context = crate::context::from_body(body, &context_dir, "Dockerfile").unwrap();
    let mut lines = Vec::new();
    let image = crate::parse(&context.dockerfile, &defaults()).and_then(|parsed| {
        crate::run(&parsed, &context, &defaults(), engine, dir.path(), &mut |m: Message| lines.push(m.stream))
    });
    // What is on disk at the end: the data, or nothing yet while it is held.
    let on_disk = std::fs::read(context_dir.join("big.bin")).unwrap();
    (Run { image, lines }, on_disk)
}

#[test]
fn a_held_context_file_is_written_for_a_new_layer_and_left_held_on_a_cache_hit() {
    let engine = FakeEngine::with_busybox();
    let data: Vec<u8> = (0..600_000u32).map(|i| (i % 251) as u8).collect();
    let files: &[(&str, &[u8])] = &[("Dockerfile", b"FROM busybox\nADD big.bin /big.bin\n"), ("big.bin", &data)];
    let (first, on_disk) = build_from_tar(&engine, files);
    first.image.unwrap();
    assert_eq!(on_disk, data, "a cache miss writes the held data before the layer");
    let layer = engine.layers.borrow()[0].clone();
    let mut archive = tar::Archive::new(&layer[..]);
    let mut entry =
        archive.entries().unwrap().map(|e| e.unwrap()).find(|e| e.path().unwrap().ends_with("big.bin")).unwrap();
    let mut content = Vec::new();
    entry.read_to_end(&mut content).unwrap();
    assert_eq!(content, data);

    let (second, on_disk) = build_from_tar(&engine, files);
    second.image.unwrap();
    assert!(second.lines.iter().any(|l| l == " ---> Using cache\n"), "{:?}", second.lines);
    assert!(on_disk.iter().all(|b| *b == 0), "a cache hit needs no data on disk");
    assert_eq!(engine.layers.borrow().len(), 1);
}
