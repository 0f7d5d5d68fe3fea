//! Facts about the host that `info` and `version` report: kernel, OS, CPUs, memory, cgroup
//! features, and the daemon's own descriptors and threads.

use std::fs;
use std::path::Path;

pub fn kernel_version() -> String {
    nix::sys::utsname::uname().map(|u| u.release().to_string_lossy().into_owned()).unwrap_or_default()
}

pub fn hostname() -> String {
    nix::unistd::gethostname().map(|h| h.to_string_lossy().into_owned()).unwrap_or_default()
}

/// `PRETTY_NAME` of /etc/os-release, such as "Debian GNU/Linux 12 (bookworm)".
pub fn operating_system() -> (String, String) {
    let text = fs::read_to_string("/etc/os-release").unwrap_or_default();
    let field = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
            .map(|v| v.trim_matches('"').to_string())
            .unwrap_or_default()
    };
    (field("PRETTY_NAME"), field("VERSION_ID"))
}

pub fn cpu_count() -> u64 {
    std::thread::available_parallelism().map_or(1, |n| n.get() as u64)
}

/// Total memory in bytes, from /proc/meminfo.
pub fn mem_total() -> u64 {
    let text = fs::read_to_string("/proc/meminfo").unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

pub fn open_fds() -> u64 {
    fs::read_dir("/proc/self/fd").map_or(0, |d| d.count() as u64)
}

pub fn threads() -> u64 {
    let text = fs::read_to_string("/proc/self/status").unwrap_or_default();
    text.lines().find_map(|l| l.strip_prefix("Threads:")).and_then(|v| v.trim().parse().ok()).unwrap_or(0)
}

pub fn ipv4_forwarding() -> bool {
    fs::read_to_string("/proc/sys/net/ipv4/ip_forward").is_ok_and(|v| v.trim() == "1")
}

/// Which cgroup layout the host has, and what the memory controller can limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cgroups {
    pub v2_only: bool,
    pub memory_limit: bool,
    pub swap_limit: bool,
}

pub fn cgroups() -> Cgroups {
    let root = Path::new("/sys/fs/cgroup");
    if root.join("cgroup.controllers").exists() {
        let controllers = fs::read_to_string(root.join("cgroup.controllers")).unwrap_or_default();
        let memory = controllers.split_whitespace().any(|c| c == "memory");
        let swap = memory && has_child_file(root, "memory.swap.max");
        return Cgroups { v2_only: true, memory_limit: memory, swap_limit: swap };
    }
    let memory = root.join("memory");
    Cgroups {
        v2_only: false,
        memory_limit: memory.join("memory.limit_in_bytes").exists(),
        swap_limit: memory.join("memory.memsw.limit_in_bytes").exists(),
    }
}

/// cgroup v2 shows `memory.swap.max` only in child groups, never the root.
fn has_child_file(root: &Path, name: &str) -> bool {
    fs::read_dir(root).is_ok_and(|mut d| d.any(|e| e.is_ok_and(|e| e.path().join(name).exists())))
}
