//! Volumes (3.6, 4.7, 5.1.29, 5.3.3, 8.1.3): new volumes with `-v PATH`, bind mounts with
//! `-v HOST:PATH[:ro|rw]`, sharing with `--volumes-from`, volumes outside the union file
//! system and outside commits, and the modern forms: named volumes and `--mount`. Host
//! directories are temporary and the case's own.

use super::containers::{
    both, cleaning, cleaning_images, create, detach, exit_code, inspect, is_running, remove, run, run_out, IDLE, IMAGE,
};
use super::network::{answer, answering, free_port, listening, loopback, serve};
use super::run_options::{image_with, TempPath};
use super::Case;
use crate::case;
use crate::engine::Engine;
use crate::outcome::{skip, Outcome, SkipKind};
use anyhow::{ensure, Context};
use serde_json::{json, Value};
use std::sync::Arc;

#[rustfmt::skip]
pub static CASES: &[Case] = &[
    case!("two new volumes", ["volumes.create.multiple"], two_new_volumes),
    case!("data container", ["volumes.from.stopped", "volumes.data-container", "cli.run.opt.volumes-from"], data_container),
    case!("image volumes", ["volumes.dockerfile.instruction", "run.override.volume"], image_volumes),
    case!("repeated --volumes-from", ["volumes.from.multiple"], volumes_from_repeated),
    case!("--volumes-from a,b", ["volumes.from.comma-list"], volumes_from_comma),
    case!("volumes through a middleman", ["volumes.from.chained", "volumes.refcount.delete"], volumes_chained),
    case!("--volumes-from modes", ["volumes.from.ro", "volumes.from.rw", "volumes.from.inherit-mode"], volumes_from_modes),
    case!("volumes outside the layer", ["volumes.bypass-union", "volumes.not-committed"], outside_the_layer),
    case!("bind mounts", ["volumes.bind.rw-default", "volumes.bind.ro", "volumes.bind.rw-explicit"], bind_mounts),
    case!("-v forms", ["cli.run.opt.volume"], volume_forms),
    case!("bind a missing directory", ["volumes.bind.create-missing-host"], bind_missing),
    case!("bind a file", ["volumes.bind.file"], bind_file),
    case!("live sharing", ["volumes.shared-live"], shared_live),
    case!("couchdb shares a volume", ["flow.couchdb-shared-volume"], couchdb_shared),
    case!("work in the host's directory", ["cli.run.volume-pwd-workdir"], pwd_workdir),
    case!("engine socket in a container", ["cli.run.docker-socket-bind"], socket_bind),
    case!("host root bound", ["security.daemon.host-root-bind"], host_root),
    case!("five-container example", ["flow.run.complete-example"], complete_example),
    case!("--mount bind", ["seed.kratos.mount-bind", "seed.kratos.mount-bind-missing-source"], mount_bind),
    case!("uploads outlive the container", ["seed.directus.bind-persist"], bind_persist),
    case!("named volumes", ["modern.volume.named"], named_volumes),
    case!("--mount volume", ["modern.volume.mount"], mount_volume),
];

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// One mount of a container: from inspect's Mounts, or from the 2014 Volumes and VolumesRW.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    pub destination: String,
    pub source: String,
    pub rw: bool,
}

pub async fn mounts(e: &Engine, name: &str) -> anyhow::Result<Vec<Mount>> {
    let value = inspect(e, name).await?;
    if let Some(list) = value["Mounts"].as_array().filter(|l| !l.is_empty()) {
        return Ok(list
            .iter()
            .map(|m| Mount {
                destination: m["Destination"].as_str().unwrap_or_default().to_string(),
                source: m["Source"].as_str().unwrap_or_default().to_string(),
                rw: m["RW"] == true,
            })
            .collect());
    }
    let rw = &value["VolumesRW"];
    Ok(value["Volumes"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(destination, source)| Mount {
            destination: destination.clone(),
            source: source.as_str().unwrap_or_default().to_string(),
            rw: rw[destination] == true,
        })
        .collect())
}

/// The host directory behind the container's mount at `destination`.
pub async fn source_of(e: &Engine, name: &str, destination: &str) -> anyhow::Result<String> {
    let all = mounts(e, name).await?;
    all.iter()
        .find(|m| m.destination == destination)
        .map(|m| m.source.clone())
        .with_context(|| format!("{name} has no mount at {destination}: {all:?}"))
}

/// The daemon's root directory, when `info` reports it.
async fn daemon_root(e: &Engine) -> anyhow::Result<Option<String>> {
    let info: Value = e.get("/info").await?.json()?;
    Ok(info["DockerRootDir"].as_str().filter(|r| !r.is_empty()).map(String::from))
}

/// A temporary host directory of the case's own holding `file` with `text`.
fn host_dir(e: &Engine, what: &str, file: &str, text: &str) -> anyhow::Result<TempPath> {
    let dir = TempPath::new(e, what);
    std::fs::create_dir_all(&dir.0)?;
    std::fs::write(dir.0.join(file), text)?;
    Ok(dir)
}

fn read_only_refusal(out: &str) -> bool {
    out.contains("Read-only file system")
}

/// Runs a body, then removes the containers and the named volumes, whatever happened.
pub async fn cleaning_volumes<F>(e: &Engine, containers: &[&str], volumes: &[&str], body: F) -> anyhow::Result<Outcome>
where
    F: std::future::Future<Output = anyhow::Result<Outcome>>,
{
    let result = cleaning(e, containers, body).await;
    for volume in volumes {
        let _ = e.call(http::Method::DELETE, &format!("/volumes/{volume}?force=1")).await;
    }
    result
}

// ---------------------------------------------------------------------------------------------
// New volumes and --volumes-from (3.6.1, 4.7, 5.1.29)
// ---------------------------------------------------------------------------------------------

/// `run -v /var/volume1 -v /var/volume2 busybox true` exits at once with two volumes, each a
/// host directory of its own under the daemon's root.
pub async fn two_new_volumes(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("twovolumes");
    cleaning(&e, &[&name], async {
        run(&e, &["-v", "/var/volume1", "-v", "/var/volume2", "--name", &name, IMAGE, "true"]).await?.success()?;
        let (one, two) = (source_of(&e, &name, "/var/volume1").await?, source_of(&e, &name, "/var/volume2").await?);
        ensure!(one != two, "both volumes are {one}");
        let root = daemon_root(&e).await?;
        for source in [&one, &two] {
            ensure!(std::path::Path::new(source).is_dir(), "{source} is not a host directory");
            if let Some(root) = &root {
                ensure!(source.starts_with(root.as_str()), "{source} is not under the daemon's root {root}");
            }
        }
        Ok(Outcome::Passed)
    })
    .await
}

/// An exited DATA container lends its volumes: two containers mounting from it see each
/// other's files, at the same paths and in the same host directories.
pub async fn data_container(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let (data, writer, reader) = (e.unique("DATA"), e.unique("client1"), e.unique("client2"));
    cleaning(&e, &[&data, &writer, &reader], async {
        let seed = "echo one > /var/volume1/f; echo two > /var/volume2/g";
        run(&e, &["-v", "/var/volume1", "-v", "/var/volume2", "--name", &data, IMAGE, "sh", "-c", seed])
            .await?
            .success()?;
        ensure!(!is_running(&e, &data).await?, "DATA still runs");
        let script = "cat /var/volume1/f /var/volume2/g; echo three > /var/volume1/h";
        let out = run_out(&e, &["--volumes-from", &data, "--name", &writer, IMAGE, "sh", "-c", script]).await?;
        ensure!(out.split_whitespace().collect::<Vec<_>>() == ["one", "two"], "the first client read {out:?}");
        let out = run_out(&e, &["--volumes-from", &data, "--name", &reader, IMAGE, "cat", "/var/volume1/h"]).await?;
        ensure!(out.trim() == "three", "the second client read {out:?}");
        for path in ["/var/volume1", "/var/volume2"] {
            let own = source_of(&e, &data, path).await?;
            ensure!(source_of(&e, &writer, path).await? == own, "{writer} mounts another directory at {path}");
        }
        Ok(Outcome::Passed)
    })
    .await
}

/// An image naming two volumes gives each container two new volumes of its own; `-v` at run
/// adds a third beside them.
pub async fn image_volumes(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let image = e.unique("data");
    let (a, b, more) = (e.unique("imgvola"), e.unique("imgvolb"), e.unique("imgvolmore"));
    cleaning_images(&e, &[&a, &b, &more], &[&image], async {
        let volumes = json!({"/var/volume1": {}, "/var/volume2": {}});
        image_with(&e, &image, json!({"Volumes": volumes, "Cmd": ["true"]})).await?;
        run(&e, &["--name", &a, &image, "sh", "-c", "echo mine > /var/volume1/f"]).await?.success()?;
        let out = run_out(&e, &["--name", &b, &image, "ls", "-A", "/var/volume1", "/var/volume2"]).await?;
        ensure!(!out.contains('f'), "the second container sees the first's volume: {out:?}");
        for path in ["/var/volume1", "/var/volume2"] {
            ensure!(source_of(&e, &a, path).await? != source_of(&e, &b, path).await?, "{path} is shared");
        }
        run(&e, &["-v", "/extra", "--name", &more, &image, "true"]).await?.success()?;
        let mut paths: Vec<String> = mounts(&e, &more).await?.into_iter().map(|m| m.destination).collect();
        paths.sort();
        ensure!(paths == ["/extra", "/var/volume1", "/var/volume2"], "with -v /extra the mounts are {paths:?}");
        Ok(Outcome::Passed)
    })
    .await
}

/// Two containers with one volume each.
async fn two_sources(e: &Engine, a: &str, b: &str) -> anyhow::Result<()> {
    run(e, &["-v", "/va", "--name", a, IMAGE, "sh", "-c", "echo from-a > /va/f"]).await?.success()?;
    run(e, &["-v", "/vb", "--name", b, IMAGE, "sh", "-c", "echo from-b > /vb/f"]).await?.success()?;
    Ok(())
}

/// `--volumes-from a --volumes-from b` mounts the volumes of both.
pub async fn volumes_from_repeated(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let (a, b, c) = (e.unique("froma"), e.unique("fromb"), e.unique("fromboth"));
    cleaning(&e, &[&a, &b, &c], async {
        two_sources(&e, &a, &b).await?;
        let out =
            run_out(&e, &["--volumes-from", &a, "--volumes-from", &b, "--name", &c, IMAGE, "cat", "/va/f", "/vb/f"])
                .await?;
        ensure!(out.split_whitespace().collect::<Vec<_>>() == ["from-a", "from-b"], "read {out:?}");
        Ok(Outcome::Passed)
    })
    .await
}

/// `--volumes-from a,b` is the same as giving the option twice.
pub async fn volumes_from_comma(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let (a, b, c) = (e.unique("commaa"), e.unique("commab"), e.unique("commaboth"));
    cleaning(&e, &[&a, &b, &c], async {
        two_sources(&e, &a, &b).await?;
        let list = format!("{a},{b}");
        let run = run(&e, &["--volumes-from", &list, "--name", &c, IMAGE, "cat", "/va/f", "/vb/f"]).await?;
        if run.status != Some(0) && run.stderr.contains(&format!("No such container: {list}")) {
            return Ok(skip(
                SkipKind::Divergence,
                "the engine takes the whole comma list as one container name (later Docker dropped the \
                 comma form; --volumes-from is repeated instead)",
            ));
        }
        ensure!(
            run.status == Some(0) && run.stdout.split_whitespace().collect::<Vec<_>>() == ["from-a", "from-b"],
            "--volumes-from {list}: {}",
            both(&run).trim()
        );
        Ok(Outcome::Passed)
    })
    .await
}

/// Volumes taken through a middleman are DATA's own; they outlive DATA and the middleman
/// (removed with -v) while a container still refers to them.
pub async fn volumes_chained(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let (data, middle, last) = (e.unique("chaindata"), e.unique("chainmiddle"), e.unique("chainlast"));
    cleaning(&e, &[&data, &middle, &last], async {
        run(&e, &["-v", "/var/volume1", "--name", &data, IMAGE, "sh", "-c", "echo kept > /var/volume1/f"])
            .await?
            .success()?;
        create(&e, &middle, &["--volumes-from", &data, IMAGE, "true"]).await?;
        create(&e, &last, &["--volumes-from", &middle, IMAGE, "cat", "/var/volume1/f"]).await?;
        let own = source_of(&e, &data, "/var/volume1").await?;
        let second_hand = source_of(&e, &last, "/var/volume1").await?;
        ensure!(second_hand == own, "through the middleman {second_hand}, DATA's is {own}");
        e.cli(&["rm", "-v", &data]).await?.success()?;
        e.cli(&["rm", "-v", &middle]).await?.success()?;
        let out = e.cli(&["start", "-a", &last]).await?.success()?.stdout;
        ensure!(out.trim() == "kept", "after DATA and the middleman went, the volume holds {out:?}");
        Ok(Outcome::Passed)
    })
    .await
}

/// `:ro` makes borrowed volumes read-only, `:rw` writable; with no suffix each keeps the
/// mode it has in the source.
pub async fn volumes_from_modes(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let (source, ro, rw, inherit) =
        (e.unique("modesource"), e.unique("modero"), e.unique("moderw"), e.unique("modeinh"));
    let dir = host_dir(&e, "modes", "host-file", "host")?;
    cleaning(&e, &[&source, &ro, &rw, &inherit], async {
        let bind = format!("{}:/hostro:ro", dir.text());
        create(&e, &source, &["-v", "/data", "-v", &bind, IMAGE, "true"]).await?;
        let write = "touch /data/new && echo wrote";
        let from = |suffix: &str| format!("{source}{suffix}");
        let out = run(&e, &["--volumes-from", &from(":ro"), "--name", &ro, IMAGE, "sh", "-c", write]).await?;
        ensure!(read_only_refusal(&both(&out)), "with :ro the write was not refused: {}", both(&out));
        let out = run_out(&e, &["--volumes-from", &from(":rw"), "--name", &rw, IMAGE, "sh", "-c", write]).await?;
        ensure!(out.trim() == "wrote", "with :rw: {out:?}");
        let script = "touch /data/other && echo wrote; touch /hostro/x 2>&1; cat /hostro/host-file";
        let out = run(&e, &["--volumes-from", &source, "--name", &inherit, IMAGE, "sh", "-c", script]).await?;
        let all = both(&out);
        ensure!(all.contains("wrote") && read_only_refusal(&all) && all.contains("host"), "inherited modes: {all}");
        ensure!(!dir.0.join("x").exists(), "the read-only bind was written through");
        Ok(Outcome::Passed)
    })
    .await
}

// ---------------------------------------------------------------------------------------------
// Volumes and the container's own layer (3.6)
// ---------------------------------------------------------------------------------------------

/// What a container writes to a volume is not in its `diff`, nor in an image committed from
/// it.
pub async fn outside_the_layer(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let (name, image, fresh) = (e.unique("outside"), e.unique("outsidecommit"), e.unique("outsidefresh"));
    cleaning_images(&e, &[&name, &fresh], &[&image], async {
        run(&e, &["-v", "/vol", "--name", &name, IMAGE, "sh", "-c", "echo x > /vol/in-volume; echo y > /in-layer"])
            .await?
            .success()?;
        let diff = e.cli(&["diff", &name]).await?.success()?.stdout;
        ensure!(diff.lines().any(|l| l.trim() == "A /in-layer"), "diff lacks the layer's file:\n{diff}");
        ensure!(!diff.contains("in-volume"), "diff shows the volume's file:\n{diff}");
        e.cli(&["commit", &name, &image]).await?.success()?;
        let out = run_out(&e, &["--name", &fresh, &image, "sh", "-c", "ls -A /vol; cat /in-layer"]).await?;
        ensure!(out.trim() == "y", "a container of the committed image sees {out:?}");
        Ok(Outcome::Passed)
    })
    .await
}

// ---------------------------------------------------------------------------------------------
// Bind mounts (3.6.1, 5.1.29, 8.1.3)
// ---------------------------------------------------------------------------------------------

/// `-v DIR:/ctr` shares the host directory both ways; `:ro` refuses writes; `:rw` is the
/// same as no suffix.
pub async fn bind_mounts(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let (plain, ro, rw) = (e.unique("bindplain"), e.unique("bindro"), e.unique("bindrw"));
    let dir = host_dir(&e, "bind", "host-file", "from-host")?;
    cleaning(&e, &[&plain, &ro, &rw], async {
        let script = |file: &str| format!("cat /ctr/host-file; echo from-container > /ctr/{file}");
        for (name, suffix, file) in [(&plain, "", "plain"), (&rw, ":rw", "rw")] {
            let bind = format!("{}:/ctr{suffix}", dir.text());
            let out = run_out(&e, &["-v", &bind, "--name", name, IMAGE, "sh", "-c", &script(file)]).await?;
            ensure!(out.trim() == "from-host", "-v DIR:/ctr{suffix} read {out:?}");
            let written = std::fs::read_to_string(dir.0.join(file)).unwrap_or_default();
            ensure!(written.trim() == "from-container", "with -v DIR:/ctr{suffix} the host has {written:?}");
        }
        let bind = format!("{}:/ctr:ro", dir.text());
        let out = run(&e, &["-v", &bind, "--name", &ro, IMAGE, "sh", "-c", &script("ro")]).await?;
        ensure!(out.stdout.contains("from-host"), "with :ro the file could not be read: {}", both(&out));
        ensure!(read_only_refusal(&both(&out)), "with :ro the write was not refused: {}", both(&out));
        ensure!(!dir.0.join("ro").exists(), "a file was written through :ro");
        Ok(Outcome::Passed)
    })
    .await
}

/// `-v /path` makes a new, empty volume; `-v HOST:/path[:ro|:rw]` a bind mount.
pub async fn volume_forms(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let (fresh, bound) = (e.unique("vfresh"), e.unique("vbound"));
    let dir = host_dir(&e, "vforms", "host-file", "x")?;
    cleaning(&e, &[&fresh, &bound], async {
        let out = run_out(&e, &["-v", "/data", "--name", &fresh, IMAGE, "ls", "-A", "/data"]).await?;
        ensure!(out.trim().is_empty(), "a new volume is not empty: {out:?}");
        let source = source_of(&e, &fresh, "/data").await?;
        ensure!(source != dir.text() && std::path::Path::new(&source).is_dir(), "the new volume is at {source}");
        let (ro, rw) = (format!("{}:/ro:ro", dir.text()), format!("{}:/rw:rw", dir.text()));
        create(&e, &bound, &["-v", &ro, "-v", &rw, IMAGE, "true"]).await?;
        let all = mounts(&e, &bound).await?;
        for (path, writable) in [("/ro", false), ("/rw", true)] {
            let mount = all.iter().find(|m| m.destination == path).with_context(|| format!("no {path}: {all:?}"))?;
            ensure!(mount.source == dir.text() && mount.rw == writable, "the bind at {path}: {mount:?}");
        }
        Ok(Outcome::Passed)
    })
    .await
}

/// A bind source that does not exist is made as a directory and the container starts.
pub async fn bind_missing(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("bindmissing");
    let top = TempPath::new(&e, "doesnt");
    let missing = top.0.join("exist");
    cleaning(&e, &[&name], async {
        let bind = format!("{}:/foo", missing.display());
        let out = run_out(&e, &["-v", &bind, "-w", "/foo", "--name", &name, IMAGE, "pwd"]).await?;
        ensure!(out.trim() == "/foo", "the container printed {out:?}");
        ensure!(missing.is_dir(), "{} was not made as a directory", missing.display());
        Ok(Outcome::Passed)
    })
    .await
}

/// A single host file bound onto a file path works there, both ways.
pub async fn bind_file(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("bindfile");
    let file = TempPath::new(&e, "bound-file");
    std::fs::write(&file.0, "first\n")?;
    cleaning(&e, &[&name], async {
        let bind = format!("{}:/etc/bound.conf", file.text());
        let out = run_out(
            &e,
            &["-v", &bind, "--name", &name, IMAGE, "sh", "-c", "cat /etc/bound.conf; echo second >> /etc/bound.conf"],
        )
        .await?;
        ensure!(out.trim() == "first", "the container read {out:?}");
        let now = std::fs::read_to_string(&file.0)?;
        ensure!(now == "first\nsecond\n", "the host file is now {now:?}");
        Ok(Outcome::Passed)
    })
    .await
}

/// Two running containers sharing a volume through --volumes-from see each other's writes
/// at once.
pub async fn shared_live(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let (first, second) = (e.unique("livea"), e.unique("liveb"));
    cleaning(&e, &[&first, &second], async {
        detach(&e, &first, &["-v", "/shared", IMAGE, "sh", "-c", IDLE]).await?;
        detach(&e, &second, &["--volumes-from", &first, IMAGE, "sh", "-c", IDLE]).await?;
        for (writer, reader, text) in [(&first, &second, "one"), (&second, &first, "two")] {
            e.cli(&["exec", writer, "sh", "-c", &format!("echo {text} > /shared/{text}")]).await?.success()?;
            let out = e.cli(&["exec", reader, "cat", &format!("/shared/{text}")]).await?.success()?.stdout;
            ensure!(out.trim() == text, "{reader} read {out:?} right after {writer} wrote {text}");
        }
        Ok(Outcome::Passed)
    })
    .await
}

/// 4.7: a first service writes through its `-v /var/lib/couchdb` volume; a second one that
/// takes the first's volumes reads it.
pub async fn couchdb_shared(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let (db1, db2) = (e.unique("couch1"), e.unique("couch2"));
    cleaning(&e, &[&db1, &db2], async {
        let script = format!("echo '{{\"_id\": \"doc\"}}' > /var/lib/couchdb/doc.json; {IDLE}");
        detach(&e, &db1, &["-v", "/var/lib/couchdb", IMAGE, "sh", "-c", &script]).await?;
        let out = super::containers::eventually("the document", super::containers::SETTLE, || async {
            let run = run(&e, &["--rm", "--volumes-from", &db1, IMAGE, "cat", "/var/lib/couchdb/doc.json"]).await?;
            Ok((run.status == Some(0)).then_some(run.stdout))
        })
        .await?;
        ensure!(out.contains("\"doc\""), "read {out:?}");
        let out =
            run_out(&e, &["--volumes-from", &db1, "--name", &db2, IMAGE, "cat", "/var/lib/couchdb/doc.json"]).await?;
        ensure!(out.contains("\"doc\""), "the second service read {out:?}");
        Ok(Outcome::Passed)
    })
    .await
}

/// `-v DIR:DIR -w DIR`: the command runs in the host's directory, seeing its files.
pub async fn pwd_workdir(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("pwd");
    let dir = host_dir(&e, "pwd", "Makefile", "all:\n")?;
    cleaning(&e, &[&name], async {
        let bind = format!("{0}:{0}", dir.text());
        let out = run_out(&e, &["-v", &bind, "-w", &dir.text(), "--name", &name, IMAGE, "sh", "-c", "pwd; ls"]).await?;
        ensure!(out.lines().collect::<Vec<_>>() == [dir.text().as_str(), "Makefile"], "printed {out:?}");
        Ok(Outcome::Passed)
    })
    .await
}

/// Whether a program is a static executable (no ELF interpreter): what a busybox container
/// can run.
fn is_static(path: &std::path::Path) -> bool {
    std::fs::read(path).is_ok_and(|bytes| bytes.starts_with(b"\x7fELF") && elf_interpreter(&bytes).is_none())
}

/// The ELF interpreter (PT_INTERP) a 64-bit executable names, if any.
pub(super) fn elf_interpreter(bytes: &[u8]) -> Option<std::path::PathBuf> {
    if bytes.len() < 64 || &bytes[..4] != b"\x7fELF" || bytes[4] != 2 {
        return None;
    }
    let word = |at: usize, n: usize| -> Option<u64> {
        Some(bytes.get(at..at + n)?.iter().rev().fold(0u64, |a, b| a << 8 | u64::from(*b)))
    };
    let (phoff, phentsize, phnum) = (word(0x20, 8)? as usize, word(0x36, 2)? as usize, word(0x38, 2)? as usize);
    (0..phnum).find_map(|i| {
        let at = phoff + i * phentsize;
        if word(at, 4)? != 3 {
            return None;
        }
        let (offset, size) = (word(at + 8, 8)? as usize, word(at + 32, 8)? as usize);
        let name = bytes.get(offset..offset + size)?;
        let name = name.split(|b| *b == 0).next()?;
        Some(std::path::PathBuf::from(String::from_utf8_lossy(name).into_owned()))
    })
}

/// Where a program named on PATH is.
fn which(program: &str) -> Option<std::path::PathBuf> {
    if program.contains('/') {
        return Some(program.into());
    }
    std::env::var_os("PATH")?.to_str()?.split(':').map(|d| std::path::Path::new(d).join(program)).find(|p| p.is_file())
}

/// The engine's socket and the CLI bound into a container (with the shared libraries it
/// needs, if it is not a static executable): `ps` there lists the host's containers.
pub async fn socket_bind(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let Some(socket) = e.docker_host.strip_prefix("unix://").map(String::from) else {
        return Ok(skip(SkipKind::Environment, "the engine under test is not on a unix socket"));
    };
    let Some(cli) = which(&e.cli).and_then(|p| std::fs::canonicalize(p).ok()) else {
        return Ok(skip(SkipKind::Environment, format!("the CLI {} is not a file this suite can find", e.cli)));
    };
    let libraries = if is_static(&cli) { Vec::new() } else { super::nested::shared_libraries(&e, &cli).await? };
    let (marker, name) = (e.unique("listed"), e.unique("drives"));
    cleaning(&e, &[&marker, &name], async {
        detach(&e, &marker, &[IMAGE, "sh", "-c", IDLE]).await?;
        let target = e.profile.default_socket.clone();
        let (sock, bin) = (format!("{socket}:{target}"), format!("{}:/usr/bin/docker:ro", cli.display()));
        let host = format!("unix://{target}");
        let mut args: Vec<String> = vec!["-v".into(), sock, "-v".into(), bin];
        for library in &libraries {
            args.extend(["-v".into(), format!("{0}:{0}:ro", library.display())]);
        }
        args.extend(["--name", &name, IMAGE, "docker", "-H", &host, "ps"].map(String::from));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = run_out(&e, &args).await?;
        ensure!(out.contains(&marker), "ps inside the container does not list {marker}:\n{out}");
        Ok(Outcome::Passed)
    })
    .await
}

/// `-v /:/host`: a file written to /host/tmp shows in the host's /tmp.
pub async fn host_root(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("hostroot");
    let file = TempPath::new(&e, "written-from-a-container");
    let inside = format!("/host{}", file.text());
    cleaning(&e, &[&name], async {
        run_out(&e, &["-v", "/:/host", "--name", &name, IMAGE, "sh", "-c", &format!("echo owned > {inside}")]).await?;
        let text = std::fs::read_to_string(&file.0).with_context(|| format!("no {} on the host", file.text()))?;
        ensure!(text.trim() == "owned", "the host file holds {text:?}");
        Ok(Outcome::Passed)
    })
    .await
}

/// The five containers of 5.1.29's complete example, from the fixture: static (an image with
/// a volume), riak (exposes 8098), app (memory limit, two variables, a read-only bind), web
/// (published 443, its own DNS and hostname, a log volume, static's volumes, links to riak
/// and app) and log-tail, which reads web's log through `--volumes-from web`.
pub async fn complete_example(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let image = e.unique("static-web-files");
    let [stat, riak, app, web, tail] = ["static", "riak", "app", "web", "logtail"].map(|n| e.unique(n));
    let pwd = host_dir(&e, "appbin", "server.sh", "#!/bin/sh\n")?;
    let port = free_port(&e, false)?;
    cleaning_images(&e, &[&stat, &riak, &app, &web, &tail], &[&image], async {
        let config = json!({"Volumes": {"/srv/static": {}}, "Cmd": ["sh", "-c", "echo body{} > /srv/static/site.css"]});
        image_with(&e, &image, config).await?;
        serve(&e, &stat, &[&image]).await?;
        exit_code(&e, &stat).await?;
        serve(&e, &riak, &["--expose=8098", IMAGE, "sh", "-c", &answering(8098, "riak")]).await?;
        let bin = format!("{}:/app/bin:ro", pwd.text());
        let app_args = [
            "-m",
            "100m",
            "-e",
            "DEVELOPMENT=1",
            "-e",
            "BRANCH=example-code",
            "-v",
            &bin,
            "--expose",
            "8080",
            IMAGE,
            "sh",
            "-c",
            IDLE,
        ];
        serve(&e, &app, &app_args).await?;
        let (publish, to_riak, to_app) = (format!("{port}:443"), format!("{riak}:riak"), format!("{app}:app"));
        let log =
            "echo \"GET /site.css $(cat /srv/static/site.css) $RIAK_PORT_8098_TCP $APP_PORT_8080_TCP $(hostname)\" \
            >> /var/log/httpd/access.log";
        let web_script = format!("{log}; {}", answering(443, "web"));
        let web_args = [
            "-p",
            &publish,
            "--dns=10.0.0.53",
            "-h",
            "web.sven.dev.org",
            "-v",
            "/var/log/httpd",
            "--volumes-from",
            &stat,
            "--link",
            &to_riak,
            "--link",
            &to_app,
            IMAGE,
            "sh",
            "-c",
            &web_script,
        ];
        serve(&e, &web, &web_args).await?;
        listening(&e, &web, 443, "tcp").await?;
        ensure!(answer(loopback(port)).await? == "web", "host port {port} does not reach web's 443");
        let out = e
            .cli(&[
                "run",
                "--rm",
                "--name",
                &tail,
                "--volumes-from",
                &web,
                "-w",
                "/var/log/httpd",
                IMAGE,
                "tail",
                "access.log",
            ])
            .await?
            .success()?
            .stdout;
        let words: Vec<&str> = out.split_whitespace().collect();
        ensure!(
            words.len() == 6
                && words[2] == "body{}"
                && words[3].contains(":8098")
                && words[4].contains(":8080")
                && words[5] == "web.sven.dev.org",
            "log-tail read {out:?}"
        );
        ensure!(!super::containers::exists(&e, &tail).await?, "--rm left log-tail behind");
        let env = e.cli(&["exec", &app, "sh", "-c", "echo $DEVELOPMENT $BRANCH; touch /app/bin/x 2>&1"]).await?.stdout;
        ensure!(env.contains("1 example-code") && env.contains("Read-only file system"), "in app: {env}");
        Ok(Outcome::Passed)
    })
    .await
}

/// `--mount type=bind,source=DIR,target=/home/ory` shows DIR there; a missing source is an
/// error and nothing is made at that path.
pub async fn mount_bind(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let (bound, missing) = (e.unique("mountbind"), e.unique("mountmissing"));
    let dir = host_dir(&e, "kratos", "kratos.yml", "dsn: memory\n")?;
    let absent = TempPath::new(&e, "absent");
    cleaning(&e, &[&bound, &missing], async {
        let spec = format!("type=bind,source={},target=/home/ory", dir.text());
        let out = run_out(&e, &["--mount", &spec, "--name", &bound, IMAGE, "ls", "/home/ory"]).await?;
        ensure!(out.trim() == "kratos.yml", "/home/ory lists {out:?}");
        let spec = format!("type=bind,source={},target=/home/ory", absent.text());
        let run = run(&e, &["--mount", &spec, "--name", &missing, IMAGE, "true"]).await?;
        ensure!(run.status != Some(0), "--mount with a missing source succeeded");
        ensure!(!absent.0.exists(), "{} was made", absent.text());
        Ok(Outcome::Passed)
    })
    .await
}

/// Uploads written to a bind-mounted ./uploads stay on the host after the container is
/// removed.
pub async fn bind_persist(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let name = e.unique("uploads");
    let dir = TempPath::new(&e, "project");
    let uploads = dir.0.join("uploads");
    std::fs::create_dir_all(&uploads)?;
    let result = cleaning(&e, &[&name], async {
        let bind = format!("{}:/directus/uploads", uploads.display());
        run(&e, &["-v", &bind, "--name", &name, IMAGE, "sh", "-c", "echo image > /directus/uploads/cat.jpg"])
            .await?
            .success()?;
        e.cli(&["rm", "-v", &name]).await?.success()?;
        Ok(Outcome::Passed)
    })
    .await?;
    let kept = std::fs::read_to_string(uploads.join("cat.jpg")).unwrap_or_default();
    ensure!(kept.trim() == "image", "after rm the upload holds {kept:?}");
    Ok(result)
}

// ---------------------------------------------------------------------------------------------
// Named volumes and --mount type=volume (modern)
// ---------------------------------------------------------------------------------------------

/// `volume create NAME`, used by name with `-v NAME:/path`, keeps its data from container to
/// container; `volume rm` refuses while a container uses it and removes it afterwards.
pub async fn named_volumes(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let volume = e.unique("named");
    let (writer, reader) = (e.unique("namedwriter"), e.unique("namedreader"));
    cleaning_volumes(&e, &[&writer, &reader], &[&volume], async {
        e.cli(&["volume", "create", &volume]).await?.success()?;
        let listed = e.cli(&["volume", "ls", "-q"]).await?.success()?.stdout;
        ensure!(listed.lines().any(|l| l.trim() == volume), "volume ls does not list {volume}");
        let bind = format!("{volume}:/data");
        run(&e, &["-v", &bind, "--name", &writer, IMAGE, "sh", "-c", "echo kept > /data/f"]).await?.success()?;
        let out = run_out(&e, &["-v", &bind, "--name", &reader, IMAGE, "cat", "/data/f"]).await?;
        ensure!(out.trim() == "kept", "a second container read {out:?}");
        let point: Value = e.get(&format!("/volumes/{volume}")).await?.json()?;
        let mountpoint = point["Mountpoint"].as_str().unwrap_or_default();
        ensure!(std::path::Path::new(mountpoint).join("f").is_file(), "the volume's Mountpoint {mountpoint} lacks f");
        ensure!(e.cli(&["volume", "rm", &volume]).await?.status != Some(0), "volume rm removed a volume in use");
        remove(&e, &writer).await;
        remove(&e, &reader).await;
        e.cli(&["volume", "rm", &volume]).await?.success()?;
        let gone = e.get(&format!("/volumes/{volume}")).await?.status;
        ensure!(gone == http::StatusCode::NOT_FOUND, "after volume rm it answers {gone}");
        Ok(Outcome::Passed)
    })
    .await
}

/// `--mount type=volume,source=NAME,target=/data` makes the volume if needed and mounts it;
/// `readonly` refuses writes.
pub async fn mount_volume(e: Arc<Engine>) -> anyhow::Result<Outcome> {
    let volume = e.unique("mounted");
    let (writer, reader) = (e.unique("mountwriter"), e.unique("mountreader"));
    cleaning_volumes(&e, &[&writer, &reader], &[&volume], async {
        let spec = format!("type=volume,source={volume},target=/data");
        run(&e, &["--mount", &spec, "--name", &writer, IMAGE, "sh", "-c", "echo kept > /data/f"]).await?.success()?;
        let status = e.get(&format!("/volumes/{volume}")).await?.status;
        ensure!(status == http::StatusCode::OK, "--mount did not make the volume {volume}: {status}");
        let spec = format!("{spec},readonly");
        let out =
            run(&e, &["--mount", &spec, "--name", &reader, IMAGE, "sh", "-c", "cat /data/f; touch /data/g"]).await?;
        let all = both(&out);
        ensure!(out.stdout.trim() == "kept" && read_only_refusal(&all), "with readonly: {all}");
        Ok(Outcome::Passed)
    })
    .await
}
