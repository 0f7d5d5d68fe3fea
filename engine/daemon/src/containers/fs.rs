//! A container's files from the outside: changes (`diff`), export, copying paths out and in
//! (`cp`, the archive endpoints), commit to a new image, and the processes (`top`).

use super::files_in;
use super::record::Container;
use super::ContainerError;
use crate::engine::Engine;
use berth_api::container::Config;
use berth_api::image::{History, ImageConfig, RootFs};
use berth_image::archive::{self, ApplyOptions, Change, TreeOptions, Whiteouts};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

fn internal(e: impl std::fmt::Display) -> ContainerError {
    ContainerError::Internal(e.to_string())
}

/// What `archive` stat answers: a path's name, size, mode and link target.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PathStat {
    pub name: String,
    pub size: i64,
    pub mode: u32,
    pub mtime: String,
    #[serde(rename = "linkTarget")]
    pub link_target: String,
}

impl Engine {
    /// Runs `f` with the container's root mounted (mounting it for the call if the container
    /// is not running). Blocking.
    pub fn with_root<R>(
        &self,
        id: &str,
        f: impl FnOnce(&Container, &Path) -> Result<R, ContainerError>,
    ) -> Result<R, ContainerError> {
        let record = self.containers.with(id, |e| e.record.clone())?;
        let paths = self.containers.paths(id);
        let layers = self.images.dirs_of(&record.layers);
        let root = self.images.driver().mount(&layers, &paths.rw()).map_err(internal)?;
        let result = f(&record, &root);
        if !self.containers.with(id, |e| e.record.state.running).unwrap_or(false) {
            let _ = self.images.driver().unmount(&paths.rw());
        }
        result
    }

    /// The changes to the container's file system (`diff`). Blocking.
    pub fn container_changes(&self, id: &str) -> Result<Vec<Change>, ContainerError> {
        let record = self.containers.with(id, |e| e.record.clone())?;
        let rw = self.containers.paths(id).rw();
        if !rw.exists() {
            return Ok(Vec::new());
        }
        let mut changes = self.images.driver().changes(&self.images.dirs_of(&record.layers), &rw).map_err(internal)?;
        changes.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(changes)
    }

    /// The container's whole file system as a tar (`export`). Blocking.
    pub fn export_container(&self, id: &str, out: impl Write) -> Result<(), ContainerError> {
        self.with_root(id, |_, root| {
            archive::write_tree(root, out, &TreeOptions::default()).map_err(internal)?;
            Ok(())
        })
    }

    /// One path of the container as a tar, named from its base name (`cp`). Blocking.
    pub fn copy_from_container(&self, id: &str, path: &str, out: impl Write) -> Result<(), ContainerError> {
        let paths = self.containers.paths(id);
        self.with_root(id, |record, root| {
            let host = files_in::resolve(record, &paths, root, path).map_err(ContainerError::Invalid)?;
            if std::fs::symlink_metadata(&host).is_err() {
                return Err(ContainerError::NotFound(format!("Could not find the file {path} in container {id}")));
            }
            let (base, name) = split(&host);
            let options = TreeOptions { only: Some(PathBuf::from("/").join(name)), ..TreeOptions::default() };
            archive::write_tree(&base, out, &options).map_err(internal)?;
            Ok(())
        })
    }

    /// What `archive` HEAD answers for a path. Blocking.
    pub fn stat_in_container(&self, id: &str, path: &str) -> Result<PathStat, ContainerError> {
        let paths = self.containers.paths(id);
        self.with_root(id, |record, root| {
            let host = files_in::resolve(record, &paths, root, path).map_err(ContainerError::Invalid)?;
            let meta = std::fs::symlink_metadata(&host)
                .map_err(|_| ContainerError::NotFound(format!("Could not find the file {path} in container {id}")))?;
            use std::os::unix::fs::MetadataExt;
            let link_target = std::fs::read_link(&host).map(|t| t.display().to_string()).unwrap_or_default();
            Ok(PathStat {
                name: Path::new(path).file_name().map_or("/".into(), |n| n.to_string_lossy().into_owned()),
                size: meta.len() as i64,
                mode: go_mode(meta.mode()),
                mtime: berth_api::time::rfc3339(meta.mtime(), meta.mtime_nsec() as u32),
                link_target,
            })
        })
    }

    /// Unpacks a tar into a directory of the container (`cp` into it). Blocking.
    pub fn copy_into_container(&self, id: &str, path: &str, input: impl Read) -> Result<(), ContainerError> {
        let paths = self.containers.paths(id);
        self.with_root(id, |record, root| {
            let host = files_in::resolve(record, &paths, root, path).map_err(ContainerError::Invalid)?;
            if !host.is_dir() {
                return Err(ContainerError::Invalid(format!("extraction point is not a directory: {path}")));
            }
            let options = ApplyOptions { whiteouts: Whiteouts::Apply, ..ApplyOptions::default() };
            archive::apply_layer(input, &host, &options).map_err(|e| ContainerError::Invalid(e.to_string()))?;
            Ok(())
        })
    }

    /// A new image from the container's changes on top of its image (`commit`). Blocking.
    pub fn commit_container(
        &self,
        id: &str,
        request: &CommitRequest,
    ) -> Result<Arc<berth_image::Image>, ContainerError> {
        let new =
            self.commit_container_with(id, |record, image, diff_id| committed_config(record, image, diff_id, request))?;
        if let Some(repo) = &request.repo {
            self.images.tag(&new.id, repo, request.tag.as_deref().unwrap_or("latest"), true)?;
        }
        Ok(new)
    }

    /// Stores the container's changes as a layer and an image whose config `make` writes from
    /// the container, its image and the new layer's diff id. Blocking.
    pub fn commit_container_with(
        &self,
        id: &str,
        make: impl FnOnce(&Container, &berth_image::Image, &str) -> ImageConfig,
    ) -> Result<Arc<berth_image::Image>, ContainerError> {
        let record = self.containers.with(id, |e| e.record.clone())?;
        let image = self
            .images
            .get(&record.image)
            .ok_or_else(|| ContainerError::Internal(format!("the image of {id} is gone")))?;
        let rw = self.containers.paths(id).rw();
        let scratch = self.images.scratch_dir()?;
        let tar_path = scratch.join("layer.tar");
        let result = (|| -> Result<Arc<berth_image::Image>, ContainerError> {
            let mut file = std::io::BufWriter::new(std::fs::File::create(&tar_path).map_err(internal)?);
            self.images.driver().diff(&self.images.dirs_of(&record.layers), &rw, &mut file).map_err(internal)?;
            file.flush().map_err(internal)?;
            drop(file);
            let mut tar = std::io::BufReader::new(std::fs::File::open(&tar_path).map_err(internal)?);
            let layer = self.images.add_layer(record.layers.last().map(String::as_str), &mut tar, None)?;
            let bytes = serde_json::to_vec(&make(&record, &image, &layer.diff_id)).map_err(internal)?;
            Ok(self.images.add_image(&bytes)?)
        })();
        let _ = berth_image::fsutil::remove_tree(&scratch);
        result
    }

    /// `top`: the container's processes as `ps ARGS` shows them on the host.
    pub fn top_container(&self, id: &str, ps_args: &str) -> Result<(Vec<String>, Vec<Vec<String>>), ContainerError> {
        let record = self.containers.with(id, |e| e.record.clone())?;
        if !record.state.running {
            return Err(ContainerError::Conflict(format!("Container {id} is not running")));
        }
        let pids = pids_in_namespace_of(record.state.pid as i32);
        let args: Vec<&str> = ps_args.split_whitespace().collect();
        let output = std::process::Command::new("ps")
            .args(&args)
            .output()
            .map_err(|e| internal(format!("cannot run ps: {e}")))?;
        if !output.status.success() {
            return Err(ContainerError::Internal(format!(
                "ps {ps_args} failed: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            )));
        }
        parse_ps(&String::from_utf8_lossy(&output.stdout), &pids)
    }
}

/// A directory path's parent and name (`/` has none: the whole root with name ".").
fn split(path: &Path) -> (PathBuf, String) {
    match (path.parent(), path.file_name()) {
        (Some(parent), Some(name)) => (parent.to_path_buf(), name.to_string_lossy().into_owned()),
        _ => (path.to_path_buf(), ".".into()),
    }
}

/// Go's os.FileMode bits from a Unix mode, as the archive stat header carries them.
fn go_mode(mode: u32) -> u32 {
    let perm = mode & 0o777;
    let kind = match mode & libc::S_IFMT {
        libc::S_IFDIR => 1 << 31,
        libc::S_IFLNK => 1 << 27,
        libc::S_IFIFO => 1 << 25,
        libc::S_IFSOCK => 1 << 24,
        libc::S_IFCHR => (1 << 26) | (1 << 21),
        libc::S_IFBLK => 1 << 26,
        _ => 0,
    };
    let special = if mode & libc::S_ISUID != 0 { 1 << 23 } else { 0 }
        | if mode & libc::S_ISGID != 0 { 1 << 22 } else { 0 }
        | if mode & libc::S_ISVTX != 0 { 1 << 20 } else { 0 };
    kind | special | perm
}

/// What `commit` takes besides the container: the new name, message, author, and a config
/// whose fields override the container's (2014's `--run`, today's `--change`).
#[derive(Debug, Clone, Default)]
pub struct CommitRequest {
    pub repo: Option<String>,
    pub tag: Option<String>,
    pub comment: String,
    pub author: String,
    pub config: Option<Config>,
}

fn committed_config(
    record: &Container,
    image: &berth_image::Image,
    diff_id: &str,
    request: &CommitRequest,
) -> ImageConfig {
    let mut config = record.config.clone();
    if let Some(overrides) = &request.config {
        config = merge_run(config, overrides.clone());
    }
    let created = berth_api::time::now_rfc3339();
    let mut diff_ids = image.config.rootfs.as_ref().map(|r| r.diff_ids.clone()).unwrap_or_default();
    diff_ids.push(diff_id.to_string());
    let mut history = image.config.history.clone();
    let command = std::iter::once(record.path.as_str())
        .chain(record.args.iter().map(String::as_str))
        .collect::<Vec<_>>()
        .join(" ");
    history.push(History {
        created: created.clone(),
        created_by: command,
        author: request.author.clone(),
        comment: request.comment.clone(),
        empty_layer: false,
    });
    let mut container_config = record.config.clone();
    container_config.image = image.digest();
    ImageConfig {
        parent: image.digest(),
        comment: request.comment.clone(),
        created,
        container: record.id.clone(),
        container_config: Some(container_config),
        docker_version: format!("berth {}", env!("CARGO_PKG_VERSION")),
        author: request.author.clone(),
        config: Some(config),
        architecture: if image.config.architecture.is_empty() {
            berth_api::go_arch().into()
        } else {
            image.config.architecture.clone()
        },
        os: "linux".into(),
        rootfs: Some(RootFs { kind: "layers".into(), diff_ids }),
        history,
        ..Default::default()
    }
}

/// The `--run` config of a commit over the container's: what it sets wins.
fn merge_run(mut base: Config, run: Config) -> Config {
    if run.cmd.is_some() {
        base.cmd = run.cmd;
    }
    if run.entrypoint.is_some() {
        base.entrypoint = run.entrypoint;
    }
    if run.env.as_ref().is_some_and(|e| !e.is_empty()) {
        base.env = run.env;
    }
    if run.exposed_ports.is_some() {
        base.exposed_ports = run.exposed_ports;
    }
    if run.volumes.is_some() {
        base.volumes = run.volumes;
    }
    if !run.working_dir.is_empty() {
        base.working_dir = run.working_dir;
    }
    if !run.user.is_empty() {
        base.user = run.user;
    }
    if run.labels.is_some() {
        base.labels = run.labels;
    }
    if run.tty {
        base.tty = true;
    }
    if run.healthcheck.is_some() {
        base.healthcheck = run.healthcheck;
    }
    if !run.stop_signal.is_empty() {
        base.stop_signal = run.stop_signal;
    }
    if run.on_build.is_some() {
        base.on_build = run.on_build;
    }
    if run.shell.is_some() {
        base.shell = run.shell;
    }
    if run.attach_stdin || run.open_stdin {
        base.open_stdin = run.open_stdin;
        base.stdin_once = run.stdin_once;
    }
    base
}

/// Every process in the same pid namespace as `init`.
fn pids_in_namespace_of(init: i32) -> Vec<i32> {
    let ns = |pid: &str| std::fs::read_link(format!("/proc/{pid}/ns/pid")).ok();
    let Some(target) = ns(&init.to_string()) else { return vec![init] };
    std::fs::read_dir("/proc")
        .map(|d| {
            d.flatten()
                .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()))
                .filter(|pid| ns(&pid.to_string()).as_ref() == Some(&target))
                .collect()
        })
        .unwrap_or_default()
}

/// ps output split into titles and the rows of the given pids.
fn parse_ps(output: &str, pids: &[i32]) -> Result<(Vec<String>, Vec<Vec<String>>), ContainerError> {
    let mut lines = output.lines();
    let header = lines.next().ok_or_else(|| ContainerError::Internal("ps printed nothing".into()))?;
    let titles: Vec<String> = header.split_whitespace().map(String::from).collect();
    let pid_column = titles
        .iter()
        .position(|t| t == "PID")
        .ok_or_else(|| ContainerError::Invalid("ps did not print a PID column: give ps options that do".into()))?;
    let columns = titles.len();
    let rows = lines
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let pid: i32 = fields.get(pid_column)?.parse().ok()?;
            if !pids.contains(&pid) {
                return None;
            }
            let mut row: Vec<String> = fields.iter().take(columns - 1).map(|s| s.to_string()).collect();
            row.push(fields.get(columns - 1..).map(|rest| rest.join(" ")).unwrap_or_default());
            Some(row)
        })
        .collect();
    Ok((titles, rows))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ps_rows_of_the_container_only() {
        let out = "UID PID PPID C STIME TTY TIME CMD\nroot 1 0 0 10:00 ? 00:00:01 /sbin/init\nroot 4242 4240 0 10:01 ? 00:00:00 sh -c sleep 100\n";
        let (titles, rows) = parse_ps(out, &[4242]).unwrap();
        assert_eq!(titles.len(), 8);
        assert_eq!(rows, [["root", "4242", "4240", "0", "10:01", "?", "00:00:00", "sh -c sleep 100"]]);
        assert!(parse_ps("USER COMMAND\n", &[1]).is_err());
    }

    #[test]
    fn go_file_modes() {
        assert_eq!(go_mode(0o100644), 0o644);
        assert_eq!(go_mode(0o040755), (1 << 31) | 0o755);
        assert_eq!(go_mode(0o120777), (1 << 27) | 0o777);
    }
}
