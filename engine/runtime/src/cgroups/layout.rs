//! Where the host's cgroup hierarchies are mounted, from /proc/self/mountinfo: every v1
//! hierarchy (named ones such as `name=systemd` included) and the cgroup2 one, which is the
//! whole layout on a pure v2 host and a controller-less companion on a hybrid one.

use super::CgroupError;
use std::fs;
use std::path::{Path, PathBuf};

/// Mount options of a v1 hierarchy that are not controllers.
const NOT_CONTROLLERS: [&str; 7] =
    ["rw", "ro", "xattr", "noprefix", "clone_children", "cpuset_v2_mode", "favordynmods"];

/// One mounted v1 hierarchy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hierarchy {
    /// Its controllers and `name=` option: `["cpu", "cpuacct"]`, `["name=systemd"]`.
    pub controllers: Vec<String>,
    pub mount: PathBuf,
}

impl Hierarchy {
    pub fn has(&self, controller: &str) -> bool {
        self.controllers.iter().any(|c| c == controller)
    }

    /// A named hierarchy carries no controller (and so no limits).
    fn has_controllers(&self) -> bool {
        self.controllers.iter().any(|c| !c.starts_with("name="))
    }
}

/// The cgroup hierarchies of a host, each mounted once (a hierarchy mounted at several places
/// is listed at the first).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Layout {
    pub v1: Vec<Hierarchy>,
    /// The cgroup2 mount point, preferring /sys/fs/cgroup.
    pub unified: Option<PathBuf>,
}

impl Layout {
    /// The layout of the calling process's mount namespace.
    pub fn detect() -> Result<Layout, CgroupError> {
        let text = fs::read_to_string("/proc/self/mountinfo").map_err(|_| CgroupError::NotMounted)?;
        Layout::from_mountinfo(&text).ok_or(CgroupError::NotMounted)
    }

    /// `None` when no cgroup file system is mounted.
    pub fn from_mountinfo(text: &str) -> Option<Layout> {
        let mut layout = Layout::default();
        let mut seen = Vec::new();
        for mount in text.lines().filter_map(parse_mountinfo) {
            if seen.contains(&mount.device) {
                continue;
            }
            match mount.fstype {
                "cgroup2" => {
                    if layout.unified.is_none() || mount.point == Path::new("/sys/fs/cgroup") {
                        layout.unified = Some(mount.point);
                    }
                }
                "cgroup" => {
                    let controllers = mount.options.split(',').filter(|o| is_controller(o)).map(String::from).collect();
                    layout.v1.push(Hierarchy { controllers, mount: mount.point });
                }
                _ => continue,
            }
            seen.push(mount.device);
        }
        (layout.unified.is_some() || !layout.v1.is_empty()).then_some(layout)
    }

    /// Just a cgroup2 hierarchy at `root`: a pure v2 host, or a cgroup2 mount of one's own.
    pub fn unified(root: impl Into<PathBuf>) -> Layout {
        Layout { v1: Vec::new(), unified: Some(root.into()) }
    }

    /// Whether the limits go to cgroup2: no v1 hierarchy carries a controller.
    pub fn limits_on_v2(&self) -> bool {
        !self.v1.iter().any(Hierarchy::has_controllers)
    }
}

fn is_controller(option: &str) -> bool {
    !option.is_empty() && !NOT_CONTROLLERS.contains(&option) && !option.starts_with("release_agent=")
}

/// What one mountinfo line says about a mount.
struct MountLine<'a> {
    /// `major:minor` of the file system: the same for every mount of one hierarchy.
    device: &'a str,
    point: PathBuf,
    fstype: &'a str,
    /// The super block's options (a v1 hierarchy's controllers).
    options: &'a str,
}

fn parse_mountinfo(line: &str) -> Option<MountLine<'_>> {
    let (left, right) = line.split_once(" - ")?;
    let mut left = left.split(' ');
    let device = left.nth(2)?;
    let point = left.nth(1)?;
    let mut right = right.split(' ');
    let fstype = right.next()?;
    let options = right.nth(1)?;
    Some(MountLine { device, point: PathBuf::from(point.replace("\\040", " ")), fstype, options })
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "\
24 1 0:22 / /sys rw - sysfs sysfs rw
30 24 0:26 / /sys/fs/cgroup rw - tmpfs tmpfs rw,mode=755
31 30 0:27 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw,nsdelegate
32 30 0:28 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct
33 30 0:29 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
34 30 0:30 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,release_agent=/x,name=systemd
35 30 0:31 / /sys/fs/cgroup/cpuset rw - cgroup cgroup rw,cpuset,clone_children
36 30 0:28 / /mnt/cpu\\040again rw - cgroup cgroup rw,cpu,cpuacct
";
    const PURE_V2: &str = "30 24 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n";

    #[test]
    fn hybrid_lists_every_hierarchy_once() {
        let layout = Layout::from_mountinfo(HYBRID).unwrap();
        let names: Vec<Vec<String>> = layout.v1.iter().map(|h| h.controllers.clone()).collect();
        assert_eq!(names, [vec!["cpu", "cpuacct"], vec!["memory"], vec!["name=systemd"], vec!["cpuset"]]);
        assert_eq!(layout.v1[0].mount, Path::new("/sys/fs/cgroup/cpu,cpuacct"));
        assert_eq!(layout.unified.as_deref(), Some(Path::new("/sys/fs/cgroup/unified")));
        assert!(!layout.limits_on_v2());
    }

    #[test]
    fn pure_v2_and_named_only_hierarchies_put_limits_on_v2() {
        let layout = Layout::from_mountinfo(PURE_V2).unwrap();
        assert_eq!(layout, Layout::unified("/sys/fs/cgroup"));
        assert!(layout.limits_on_v2());
        let named = "40 31 0:37 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,name=systemd\n";
        let layout = Layout::from_mountinfo(&format!("{PURE_V2}{named}")).unwrap();
        assert_eq!(layout.v1.len(), 1);
        assert!(layout.limits_on_v2());
    }

    #[test]
    fn nothing_mounted() {
        assert_eq!(Layout::from_mountinfo("24 1 0:22 / /sys rw - sysfs sysfs rw\n"), None);
    }
}
