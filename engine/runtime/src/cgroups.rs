//! The container's control groups (8.3): `<parent>/<id>` under each v1 hierarchy the runtime
//! uses, or under the cgroup2 root; limits, the v1 device allow-list, OOM kills, removal.
//! The layout (v1, hybrid, pure v2) is read from /proc/self/mountinfo at run time.

use crate::spec::Cgroup;
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

/// v1 controllers a container gets a group in: limits, stats (8.3) and pause.
const V1_CONTROLLERS: [&str; 7] = ["memory", "cpu", "cpuacct", "pids", "devices", "blkio", "freezer"];
/// v2 controllers enabled for the parents' children.
const V2_CONTROLLERS: [&str; 4] = ["memory", "pids", "cpu", "io"];
/// Docker's device allow-list for an unprivileged container (v1 devices controller).
const ALLOWED_DEVICES: [&str; 12] = [
    "c *:* m",
    "b *:* m",
    "c 1:3 rwm",
    "c 1:5 rwm",
    "c 1:7 rwm",
    "c 1:8 rwm",
    "c 1:9 rwm",
    "c 5:0 rwm",
    "c 5:1 rwm",
    "c 5:2 rwm",
    "c 136:* rwm",
    "c 10:200 rwm",
];

#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error("no cgroup file system is mounted (looked in /proc/self/mountinfo)")]
    NotMounted,
    #[error("invalid cgroup name {0:?}: it must be a relative path without '..'")]
    BadName(String),
    #[error("couldn't create cgroup {path}: {source}")]
    Create {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("couldn't write {value:?} to {path}: {source}")]
    Write {
        path: PathBuf,
        value: String,
        #[source]
        source: io::Error,
    },
    #[error("couldn't remove cgroup {path}: {source}")]
    Remove {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// Where the cgroup hierarchies are mounted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layout {
    /// v1 (also the hybrid layout, whose cgroup2 mount has no controllers): each hierarchy's
    /// mount point with its controllers.
    V1(Vec<(Vec<String>, PathBuf)>),
    /// The unified hierarchy's mount point.
    V2(PathBuf),
}

impl Layout {
    /// The layout of the calling process's mount namespace.
    pub fn detect() -> Result<Layout, CgroupError> {
        let text = fs::read_to_string("/proc/self/mountinfo").map_err(|_| CgroupError::NotMounted)?;
        Layout::from_mountinfo(&text).ok_or(CgroupError::NotMounted)
    }

    /// v1 when any v1 hierarchy carries one of our controllers, else the cgroup2 mount.
    pub fn from_mountinfo(text: &str) -> Option<Layout> {
        let mut v1 = Vec::new();
        let mut v2 = None;
        for (mount_point, fstype, options) in text.lines().filter_map(parse_mountinfo) {
            match fstype {
                "cgroup2" if v2.is_none() || mount_point == Path::new("/sys/fs/cgroup") => v2 = Some(mount_point),
                "cgroup" => {
                    let ctrls: Vec<String> =
                        options.split(',').filter(|o| V1_CONTROLLERS.contains(o)).map(String::from).collect();
                    if !ctrls.is_empty() && !v1.iter().any(|(c, _)| *c == ctrls) {
                        v1.push((ctrls, mount_point));
                    }
                }
                _ => {}
            }
        }
        if v1.is_empty() {
            v2.map(Layout::V2)
        } else {
            Some(Layout::V1(v1))
        }
    }
}

/// (mount point, fstype, super options) of one mountinfo line.
fn parse_mountinfo(line: &str) -> Option<(PathBuf, &str, &str)> {
    let (left, right) = line.split_once(" - ")?;
    let mount_point = left.split(' ').nth(4)?;
    let mut right = right.split(' ');
    let fstype = right.next()?;
    let options = right.nth(1)?;
    Some((PathBuf::from(mount_point.replace("\\040", " ")), fstype, options))
}

/// One container's groups, one directory per hierarchy used.
#[derive(Debug, Clone)]
pub struct Cgroups {
    v2: bool,
    /// (controllers, group directory); controllers are empty for v2.
    dirs: Vec<(Vec<String>, PathBuf)>,
    /// v2 only: the parent's directories from the root down, which need controllers enabled.
    ancestors: Vec<PathBuf>,
}

impl Cgroups {
    /// The groups for `<parent>/<id>`; nothing is created yet.
    pub fn new(layout: &Layout, parent: &str, id: &str) -> Result<Cgroups, CgroupError> {
        let rel = relative_name(parent, id)?;
        Ok(match layout {
            Layout::V1(mounts) => Cgroups {
                v2: false,
                dirs: mounts.iter().map(|(c, m)| (c.clone(), m.join(&rel))).collect(),
                ancestors: Vec::new(),
            },
            Layout::V2(root) => {
                let mut ancestors = vec![root.clone()];
                for c in Path::new(parent).components() {
                    ancestors.push(ancestors[ancestors.len() - 1].join(c));
                }
                Cgroups { v2: true, dirs: vec![(Vec::new(), root.join(&rel))], ancestors }
            }
        })
    }

    /// Creates the groups and applies the limits; a privileged container keeps all devices.
    pub fn create(&self, limits: &Cgroup, privileged: bool) -> Result<(), CgroupError> {
        if self.v2 {
            self.enable_v2_controllers()?;
        }
        for (_, dir) in &self.dirs {
            fs::create_dir_all(dir).map_err(|source| CgroupError::Create { path: dir.clone(), source })?;
        }
        let result = if self.v2 { self.limit_v2(limits) } else { self.limit_v1(limits, privileged) };
        result.inspect_err(|_| {
            let _ = self.destroy();
        })
    }

    /// The `cgroup.procs` files a process writes "0" to to join every group.
    pub fn procs_files(&self) -> Vec<PathBuf> {
        self.dirs.iter().map(|(_, d)| d.join("cgroup.procs")).collect()
    }

    /// Moves process `pid` (a host pid) into every group.
    pub fn add_process(&self, pid: i32) -> Result<(), CgroupError> {
        self.dirs.iter().try_for_each(|(_, d)| write_limit(d, "cgroup.procs", &pid.to_string()))
    }

    /// The group directories (one per hierarchy used).
    pub fn dirs(&self) -> impl Iterator<Item = &Path> {
        self.dirs.iter().map(|(_, d)| d.as_path())
    }

    /// Whether the kernel's OOM killer killed a process of the group.
    pub fn oom_killed(&self) -> bool {
        let (file, key) = if self.v2 { ("memory.events", "oom_kill") } else { ("memory.oom_control", "oom_kill") };
        let Some(dir) = self.controller_dir("memory") else { return false };
        let text = fs::read_to_string(dir.join(file)).unwrap_or_default();
        counter(&text, key).is_some_and(|n| n > 0)
    }

    /// Kills every process in the groups.
    pub fn kill_all(&self) {
        self.dirs.iter().for_each(|(_, d)| kill_members(d));
    }

    /// Kills what is left in the groups and removes them; missing groups are fine.
    pub fn destroy(&self) -> Result<(), CgroupError> {
        let mut first_error = None;
        for (_, dir) in &self.dirs {
            if let Err(e) = remove_group(dir) {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    fn controller_dir(&self, controller: &str) -> Option<&Path> {
        let found = self.dirs.iter().find(|(c, _)| self.v2 || c.iter().any(|n| n == controller));
        found.map(|(_, d)| d.as_path())
    }

    fn enable_v2_controllers(&self) -> Result<(), CgroupError> {
        for dir in &self.ancestors {
            fs::create_dir_all(dir).map_err(|source| CgroupError::Create { path: dir.clone(), source })?;
            let available = fs::read_to_string(dir.join("cgroup.controllers")).unwrap_or_default();
            let enabled = fs::read_to_string(dir.join("cgroup.subtree_control")).unwrap_or_default();
            for ctrl in V2_CONTROLLERS {
                if has_word(&available, ctrl) && !has_word(&enabled, ctrl) {
                    // A controller the kernel refuses to enable here just stays off; a limit
                    // that needs it fails below with the file missing.
                    let _ = write_file(&dir.join("cgroup.subtree_control"), &format!("+{ctrl}"));
                }
            }
        }
        Ok(())
    }

    fn limit_v1(&self, limits: &Cgroup, privileged: bool) -> Result<(), CgroupError> {
        if let Some(dir) = self.controller_dir("memory") {
            if let Some(memory) = limits.memory.filter(|m| *m > 0) {
                write_limit(dir, "memory.limit_in_bytes", &memory.to_string())?;
            }
            if let Some(swap) = limits.memory_swap.filter(|s| *s != 0) {
                // Without swap accounting the file is missing; Docker only warns then.
                write_optional(dir, "memory.memsw.limit_in_bytes", &swap.to_string())?;
            }
        }
        if let (Some(dir), Some(shares)) = (self.controller_dir("cpu"), limits.cpu_shares.filter(|s| *s > 0)) {
            write_limit(dir, "cpu.shares", &shares.to_string())?;
        }
        if let (Some(dir), Some(pids)) = (self.controller_dir("pids"), limits.pids_limit) {
            write_limit(dir, "pids.max", &pids_value(pids))?;
        }
        match self.controller_dir("devices") {
            Some(dir) if !privileged => restrict_devices(dir),
            _ => Ok(()),
        }
    }

    fn limit_v2(&self, limits: &Cgroup) -> Result<(), CgroupError> {
        let dir = &self.dirs[0].1;
        if let Some(memory) = limits.memory.filter(|m| *m > 0) {
            write_limit(dir, "memory.max", &memory.to_string())?;
        }
        if let Some(swap) = limits.memory_swap.filter(|s| *s != 0) {
            let value = match (swap, limits.memory) {
                (-1, _) => "max".to_string(),
                (total, Some(memory)) => (total - memory).max(0).to_string(),
                (total, None) => total.to_string(),
            };
            write_optional(dir, "memory.swap.max", &value)?;
        }
        if let Some(shares) = limits.cpu_shares.filter(|s| *s > 0) {
            write_limit(dir, "cpu.weight", &shares_to_weight(shares).to_string())?;
        }
        if let Some(pids) = limits.pids_limit {
            write_limit(dir, "pids.max", &pids_value(pids))?;
        }
        Ok(())
    }
}

/// `<parent>/<id>` after checking neither can climb out of the hierarchy.
fn relative_name(parent: &str, id: &str) -> Result<PathBuf, CgroupError> {
    let normal = |s: &str| !s.is_empty() && Path::new(s).components().all(|c| matches!(c, Component::Normal(_)));
    if !normal(parent) {
        return Err(CgroupError::BadName(parent.to_string()));
    }
    if !normal(id) || id.contains('/') {
        return Err(CgroupError::BadName(id.to_string()));
    }
    Ok(Path::new(parent).join(id))
}

/// cgroup v2's cpu.weight for v1 cpu.shares, as runc converts them.
pub fn shares_to_weight(shares: u64) -> u64 {
    let shares = shares.clamp(2, 262_144);
    1 + ((shares - 2) * 9999) / 262_142
}

fn pids_value(limit: i64) -> String {
    if limit > 0 {
        limit.to_string()
    } else {
        "max".into()
    }
}

/// The number after `key` in a flat-keyed cgroup file (`oom_kill 1`).
fn counter(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| l.strip_prefix(key)?.strip_prefix(' ')?.trim().parse().ok())
}

fn has_word(text: &str, word: &str) -> bool {
    text.split_whitespace().any(|w| w == word)
}

fn restrict_devices(dir: &Path) -> Result<(), CgroupError> {
    write_limit(dir, "devices.deny", "a")?;
    ALLOWED_DEVICES.iter().try_for_each(|rule| write_limit(dir, "devices.allow", rule))
}

fn write_limit(dir: &Path, file: &str, value: &str) -> Result<(), CgroupError> {
    let path = dir.join(file);
    write_file(&path, value).map_err(|source| CgroupError::Write { path, value: value.into(), source })
}

fn write_optional(dir: &Path, file: &str, value: &str) -> Result<(), CgroupError> {
    match write_limit(dir, file, value) {
        Err(CgroupError::Write { source, .. }) if source.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

/// One write(2) of the whole value, as cgroup files want.
pub fn write_file(path: &Path, value: &str) -> io::Result<()> {
    OpenOptions::new().write(true).open(path)?.write_all(value.as_bytes())
}

/// Kills the group's processes and removes it, retrying while the kernel still counts
/// exiting tasks (rmdir's EBUSY).
fn remove_group(dir: &Path) -> Result<(), CgroupError> {
    for _ in 0..200 {
        kill_members(dir);
        match fs::remove_dir(dir) {
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            other => return other.map_err(|source| CgroupError::Remove { path: dir.into(), source }),
        }
    }
    Err(CgroupError::Remove { path: dir.into(), source: io::Error::from_raw_os_error(libc::EBUSY) })
}

fn kill_members(dir: &Path) {
    if write_file(&dir.join("cgroup.kill"), "1").is_ok() {
        return;
    }
    let procs = fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
    for pid in procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "\
24 1 0:22 / /sys rw - sysfs sysfs rw
30 24 0:26 / /sys/fs/cgroup rw - tmpfs tmpfs rw,mode=755
31 30 0:27 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw
32 30 0:28 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct
33 30 0:29 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
34 30 0:30 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,name=systemd
";
    const PURE_V2: &str = "30 24 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n";

    #[test]
    fn hybrid_uses_the_v1_hierarchies() {
        let layout = Layout::from_mountinfo(HYBRID).unwrap();
        let Layout::V1(mounts) = &layout else { panic!("{layout:?}") };
        assert_eq!(mounts.len(), 2);
        assert_eq!(mounts[0], (vec!["cpu".to_string(), "cpuacct".to_string()], "/sys/fs/cgroup/cpu,cpuacct".into()));
        let groups = Cgroups::new(&layout, "berth", "abc").unwrap();
        assert_eq!(groups.controller_dir("cpuacct"), Some(Path::new("/sys/fs/cgroup/cpu,cpuacct/berth/abc")));
        assert_eq!(groups.controller_dir("memory"), Some(Path::new("/sys/fs/cgroup/memory/berth/abc")));
    }

    #[test]
    fn pure_v2_uses_the_root() {
        let layout = Layout::from_mountinfo(PURE_V2).unwrap();
        assert_eq!(layout, Layout::V2("/sys/fs/cgroup".into()));
        let groups = Cgroups::new(&layout, "a/b", "id").unwrap();
        assert_eq!(groups.procs_files(), [PathBuf::from("/sys/fs/cgroup/a/b/id/cgroup.procs")]);
        assert_eq!(groups.ancestors.len(), 3);
    }

    #[rstest::rstest]
    #[case("../x", "id")]
    #[case("/abs", "id")]
    #[case("berth", "..")]
    #[case("berth", "a/b")]
    #[case("", "id")]
    fn names_cannot_escape(#[case] parent: &str, #[case] id: &str) {
        let layout = Layout::V2("/sys/fs/cgroup".into());
        assert!(matches!(Cgroups::new(&layout, parent, id), Err(CgroupError::BadName(_))));
    }

    #[rstest::rstest]
    #[case(2, 1)]
    #[case(1024, 39)]
    #[case(262_144, 10_000)]
    #[case(1, 1)]
    fn shares_convert_to_weights(#[case] shares: u64, #[case] weight: u64) {
        assert_eq!(shares_to_weight(shares), weight);
    }

    #[test]
    fn oom_counter_parses() {
        assert_eq!(counter("oom_kill_disable 0\nunder_oom 0\noom_kill 2\n", "oom_kill"), Some(2));
        assert_eq!(counter("low 0\nmax 3\noom 1\noom_kill 0\n", "oom_kill"), Some(0));
    }
}
