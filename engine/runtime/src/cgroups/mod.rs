//! The container's control groups (8.3): a group `<parent>/<id>` in every mounted hierarchy
//! (every v1 one, named ones included, and cgroup2), limits in the v1 controllers or, on a
//! pure v2 host, in cgroup2; Docker's device allow-list ([`devices`]); OOM kills; removal.
//! The layout is read from /proc/self/mountinfo at run time ([`Layout`]).

mod devices;
mod layout;

pub use layout::{Hierarchy, Layout};

use crate::spec::Cgroup;
use nix::errno::Errno;
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

/// v2 controllers enabled for the parents' children.
const V2_CONTROLLERS: [&str; 4] = ["memory", "pids", "cpu", "io"];
/// What a new cpuset group needs before it can take tasks, copied from its parent.
const CPUSET_FILES: [&str; 2] = ["cpuset.cpus", "cpuset.mems"];

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
    /// The cgroup2 device filter (an eBPF program) could not be set up.
    #[error("couldn't {what} cgroup {path}: {errno}")]
    Devices { path: PathBuf, what: &'static str, errno: Errno },
}

/// One group: the container's directory in one hierarchy.
#[derive(Debug, Clone)]
struct Group {
    /// The v1 hierarchy's controllers; empty for cgroup2.
    controllers: Vec<String>,
    /// Whether this is the cgroup2 hierarchy.
    unified: bool,
    /// Where the hierarchy is mounted.
    root: PathBuf,
    dir: PathBuf,
}

impl Group {
    fn has(&self, controller: &str) -> bool {
        self.controllers.iter().any(|c| c == controller)
    }
}

/// One container's groups, one per hierarchy.
#[derive(Debug, Clone)]
pub struct Cgroups {
    groups: Vec<Group>,
    /// Limits go to the cgroup2 group (pure v2), else to the v1 controllers.
    v2_limits: bool,
}

impl Cgroups {
    /// The groups for `<parent>/<id>`; nothing is created yet.
    pub fn new(layout: &Layout, parent: &str, id: &str) -> Result<Cgroups, CgroupError> {
        let rel = relative_name(parent, id)?;
        let v1 = layout.v1.iter().map(|h| (h.controllers.clone(), false, &h.mount));
        let unified = layout.unified.iter().map(|m| (Vec::new(), true, m));
        let groups = v1
            .chain(unified)
            .map(|(controllers, unified, root)| Group {
                controllers,
                unified,
                root: root.clone(),
                dir: root.join(&rel),
            })
            .collect();
        Ok(Cgroups { groups, v2_limits: layout.limits_on_v2() })
    }

    /// Creates the groups and applies the limits; a privileged container keeps all devices.
    /// On failure nothing is left.
    pub fn create(&self, limits: &Cgroup, privileged: bool) -> Result<(), CgroupError> {
        let result = self.make_groups().and_then(|()| self.apply(limits, privileged));
        result.inspect_err(|_| {
            let _ = self.destroy();
        })
    }

    /// The `cgroup.procs` files a process writes "0" to to join every group.
    pub fn procs_files(&self) -> Vec<PathBuf> {
        self.groups.iter().map(|g| g.dir.join("cgroup.procs")).collect()
    }

    /// Moves process `pid` (a host pid) into every group. The first move after a quiet
    /// while waits for an RCU grace period (the kernel's cgroup_threadgroup_rwsem); the
    /// others follow within microseconds.
    pub fn add_process(&self, pid: i32) -> Result<(), CgroupError> {
        self.groups.iter().try_for_each(|g| write_limit(&g.dir, "cgroup.procs", &pid.to_string()))
    }

    /// The group directories (one per hierarchy).
    pub fn dirs(&self) -> impl Iterator<Item = &Path> {
        self.groups.iter().map(|g| g.dir.as_path())
    }

    /// Whether the kernel's OOM killer killed a process of the group.
    pub fn oom_killed(&self) -> bool {
        let Some((dir, v2)) = self.limit_group("memory") else { return false };
        let file = if v2 { "memory.events" } else { "memory.oom_control" };
        let text = fs::read_to_string(dir.join(file)).unwrap_or_default();
        counter(&text, "oom_kill").is_some_and(|n| n > 0)
    }

    /// Kills every process in the groups.
    pub fn kill_all(&self) {
        self.groups.iter().for_each(|g| kill_members(&g.dir));
    }

    /// Kills what is left in the groups and removes them; missing groups are fine.
    pub fn destroy(&self) -> Result<(), CgroupError> {
        let mut first_error = None;
        for group in &self.groups {
            if let Err(e) = remove_group(&group.dir) {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// The group that holds `controller`'s limits, and whether it is a cgroup2 group: with
    /// pure v2 the one group; else the v1 hierarchy that has the controller, or, when none
    /// has it, the cgroup2 group if the kernel offers the controller there (a hybrid layout
    /// on a kernel built without the v1 memory controller, as Debian's 6.12).
    fn limit_group(&self, controller: &str) -> Option<(&Path, bool)> {
        if !self.v2_limits {
            if let Some(group) = self.groups.iter().find(|g| g.has(controller)) {
                return Some((group.dir.as_path(), false));
            }
        }
        let unified = self.groups.iter().find(|g| g.unified)?;
        (self.v2_limits || unified_offers(&unified.root, controller)).then_some((unified.dir.as_path(), true))
    }

    #[cfg(test)]
    fn limit_dir(&self, controller: &str) -> Option<&Path> {
        self.limit_group(controller).map(|(dir, _)| dir)
    }

    fn unified_dir(&self) -> Option<&Path> {
        self.groups.iter().find(|g| g.unified).map(|g| g.dir.as_path())
    }

    fn make_groups(&self) -> Result<(), CgroupError> {
        for group in &self.groups {
            let hands_out = |g: &Group| V2_CONTROLLERS.iter().any(|c| unified_offers(&g.root, c));
            if group.unified && (self.v2_limits || hands_out(group)) {
                make_v2_group(&group.root, &group.dir)?;
            } else if group.has("cpuset") {
                make_cpuset_group(&group.root, &group.dir)?;
            } else {
                create_dir(&group.dir)?;
            }
        }
        Ok(())
    }

    fn apply(&self, limits: &Cgroup, privileged: bool) -> Result<(), CgroupError> {
        self.limit(limits)?;
        if privileged {
            return Ok(());
        }
        // The v1 controller where there is one, else the cgroup2 program.
        let v1_devices =
            if self.v2_limits { None } else { self.groups.iter().find(|g| g.has("devices")).map(|g| &g.dir) };
        match (v1_devices, self.unified_dir()) {
            (Some(dir), _) => devices::restrict_v1(dir),
            (None, Some(dir)) => devices::attach_program(dir),
            (None, None) => Ok(()),
        }
    }

    /// Each limit in the group that holds its controller, in that hierarchy's terms.
    fn limit(&self, limits: &Cgroup) -> Result<(), CgroupError> {
        match self.limit_group("memory") {
            Some((dir, false)) => {
                if let Some(memory) = limits.memory.filter(|m| *m > 0) {
                    write_limit(dir, "memory.limit_in_bytes", &memory.to_string())?;
                }
                if let Some(swap) = limits.memory_swap.filter(|s| *s != 0) {
                    // Without swap accounting the file is missing; Docker only warns then.
                    write_optional(dir, "memory.memsw.limit_in_bytes", &swap.to_string())?;
                }
            }
            Some((dir, true)) => {
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
            }
            None => {}
        }
        if let Some(shares) = limits.cpu_shares.filter(|s| *s > 0) {
            match self.limit_group("cpu") {
                Some((dir, false)) => write_limit(dir, "cpu.shares", &shares.to_string())?,
                Some((dir, true)) => write_limit(dir, "cpu.weight", &shares_to_weight(shares).to_string())?,
                None => {}
            }
        }
        if let (Some((dir, _)), Some(pids)) = (self.limit_group("pids"), limits.pids_limit) {
            write_limit(dir, "pids.max", &pids_value(pids))?;
        }
        Ok(())
    }
}

/// Whether a cgroup2 hierarchy's root offers `controller` (lists it in cgroup.controllers).
fn unified_offers(root: &Path, controller: &str) -> bool {
    has_word(&fs::read_to_string(root.join("cgroup.controllers")).unwrap_or_default(), controller)
}

fn create_dir(dir: &Path) -> Result<(), CgroupError> {
    fs::create_dir_all(dir).map_err(|source| CgroupError::Create { path: dir.into(), source })
}

/// The directories from the hierarchy's root down to `dir`, the root excluded.
fn levels<'a>(root: &'a Path, dir: &'a Path) -> impl Iterator<Item = PathBuf> + 'a {
    let rel = dir.strip_prefix(root).unwrap_or(Path::new(""));
    rel.components().scan(root.to_path_buf(), |path, c| {
        path.push(c);
        Some(path.clone())
    })
}

/// A cgroup2 group whose ancestors hand it the controllers the limits need.
fn make_v2_group(root: &Path, dir: &Path) -> Result<(), CgroupError> {
    let parents = std::iter::once(root.to_path_buf()).chain(levels(root, dir));
    for parent in parents.filter(|p| p != dir) {
        create_dir(&parent)?;
        let available = fs::read_to_string(parent.join("cgroup.controllers")).unwrap_or_default();
        let enabled = fs::read_to_string(parent.join("cgroup.subtree_control")).unwrap_or_default();
        for ctrl in V2_CONTROLLERS {
            if has_word(&available, ctrl) && !has_word(&enabled, ctrl) {
                // A controller the kernel refuses to enable here just stays off; a limit
                // that needs it fails later with the file missing.
                let _ = write_file(&parent.join("cgroup.subtree_control"), &format!("+{ctrl}"));
            }
        }
    }
    create_dir(dir)
}

/// cpuset refuses tasks in a group whose cpus or mems are empty, as new groups' are (unless
/// the parent says clone_children): each level gets its parent's values.
fn make_cpuset_group(root: &Path, dir: &Path) -> Result<(), CgroupError> {
    let mut parent = root.to_path_buf();
    for level in levels(root, dir) {
        create_dir(&level)?;
        for file in CPUSET_FILES {
            let own = fs::read_to_string(level.join(file)).unwrap_or_default();
            if own.trim().is_empty() {
                let inherited = fs::read_to_string(parent.join(file)).unwrap_or_default();
                write_limit(&level, file, inherited.trim())?;
            }
        }
        parent = level;
    }
    Ok(())
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

    #[test]
    fn hybrid_has_a_group_in_every_hierarchy_and_limits_in_v1() {
        let layout = Layout::from_mountinfo(HYBRID).unwrap();
        let groups = Cgroups::new(&layout, "berth", "abc").unwrap();
        let dirs: Vec<&Path> = groups.dirs().collect();
        assert_eq!(
            dirs,
            [
                "/sys/fs/cgroup/cpu,cpuacct/berth/abc",
                "/sys/fs/cgroup/memory/berth/abc",
                "/sys/fs/cgroup/systemd/berth/abc",
                "/sys/fs/cgroup/unified/berth/abc"
            ]
            .map(Path::new)
        );
        assert_eq!(groups.limit_dir("cpuacct"), Some(Path::new("/sys/fs/cgroup/cpu,cpuacct/berth/abc")));
        assert_eq!(groups.limit_dir("memory"), Some(Path::new("/sys/fs/cgroup/memory/berth/abc")));
        assert_eq!(groups.limit_dir("pids"), None);
        assert_eq!(groups.unified_dir(), Some(Path::new("/sys/fs/cgroup/unified/berth/abc")));
    }

    #[test]
    fn hybrid_limits_a_controller_without_a_v1_hierarchy_in_cgroup2_when_offered_there() {
        let unified = tempfile::tempdir().unwrap();
        std::fs::write(unified.path().join("cgroup.controllers"), "memory pids\n").unwrap();
        let layout = Layout {
            v1: vec![Hierarchy {
                controllers: vec!["cpu".into(), "cpuacct".into()],
                mount: "/sys/fs/cgroup/cpu".into(),
            }],
            unified: Some(unified.path().to_path_buf()),
        };
        let groups = Cgroups::new(&layout, "berth", "abc").unwrap();
        let in_unified = unified.path().join("berth/abc");
        assert_eq!(groups.limit_group("memory"), Some((in_unified.as_path(), true)));
        assert_eq!(groups.limit_group("cpu"), Some((Path::new("/sys/fs/cgroup/cpu/berth/abc"), false)));
        assert_eq!(groups.limit_group("io"), None, "not offered in cgroup2");
    }

    #[test]
    fn pure_v2_puts_everything_in_one_group() {
        let groups = Cgroups::new(&Layout::unified("/sys/fs/cgroup"), "a/b", "id").unwrap();
        assert_eq!(groups.procs_files(), [PathBuf::from("/sys/fs/cgroup/a/b/id/cgroup.procs")]);
        assert_eq!(groups.limit_dir("memory"), Some(Path::new("/sys/fs/cgroup/a/b/id")));
        let levels: Vec<PathBuf> = levels(Path::new("/sys/fs/cgroup"), Path::new("/sys/fs/cgroup/a/b/id")).collect();
        assert_eq!(levels, ["/sys/fs/cgroup/a", "/sys/fs/cgroup/a/b", "/sys/fs/cgroup/a/b/id"].map(PathBuf::from));
    }

    #[rstest::rstest]
    #[case("../x", "id")]
    #[case("/abs", "id")]
    #[case("berth", "..")]
    #[case("berth", "a/b")]
    #[case("", "id")]
    fn names_cannot_escape(#[case] parent: &str, #[case] id: &str) {
        let layout = Layout::unified("/sys/fs/cgroup");
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
