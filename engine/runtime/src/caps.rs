//! Linux capabilities: Docker's default set, `--cap-add`/`--cap-drop` arithmetic, and the
//! syscalls that trim the bounding set and set a process's capability sets.

use nix::errno::Errno;

/// A set of capabilities as a bit mask (bit N = capability N).
pub type CapSet = u64;

/// Capability names by number, without the `CAP_` prefix.
const NAMES: [&str; 41] = [
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "IPC_OWNER",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_CHROOT",
    "SYS_PTRACE",
    "SYS_PACCT",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_NICE",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "MKNOD",
    "LEASE",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
    "SETFCAP",
    "MAC_OVERRIDE",
    "MAC_ADMIN",
    "SYSLOG",
    "WAKE_ALARM",
    "BLOCK_SUSPEND",
    "AUDIT_READ",
    "PERFMON",
    "BPF",
    "CHECKPOINT_RESTORE",
];

/// Docker's default capabilities for a container's process.
const DEFAULTS: [&str; 14] = [
    "CHOWN",
    "DAC_OVERRIDE",
    "FSETID",
    "FOWNER",
    "MKNOD",
    "NET_RAW",
    "SETGID",
    "SETUID",
    "SETFCAP",
    "SETPCAP",
    "NET_BIND_SERVICE",
    "SYS_CHROOT",
    "KILL",
    "AUDIT_WRITE",
];

/// Every capability the kernel might know; trimmed to the host's bounding set when applied.
pub const ALL: CapSet = u64::MAX;

/// Capabilities the seccomp profile asks about.
pub const DAC_READ_SEARCH: CapSet = 1 << 2;
pub const SYS_MODULE: CapSet = 1 << 16;
pub const SYS_RAWIO: CapSet = 1 << 17;
pub const SYS_CHROOT: CapSet = 1 << 18;
pub const SYS_PTRACE: CapSet = 1 << 19;
pub const SYS_PACCT: CapSet = 1 << 20;
pub const SYS_ADMIN: CapSet = 1 << 21;
pub const SYS_BOOT: CapSet = 1 << 22;
pub const SYS_NICE: CapSet = 1 << 23;
pub const SYS_TIME: CapSet = 1 << 25;
pub const SYS_TTY_CONFIG: CapSet = 1 << 26;
pub const SYSLOG: CapSet = 1 << 34;
pub const PERFMON: CapSet = 1 << 38;
pub const BPF: CapSet = 1 << 39;

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum CapError {
    #[error("unknown capability: \"{0}\"")]
    Unknown(String),
    #[error("couldn't {op} capability {cap}: {errno}")]
    Syscall { op: &'static str, cap: u32, errno: Errno },
}

/// The capabilities a container's process gets: all for a privileged container, else
/// Docker's defaults adjusted as moby's `TweakCapabilities` does: `ALL` in `add` means all but
/// the dropped ones, `ALL` in `drop` means only the added ones, else defaults minus drops plus
/// adds.
pub fn resolve(add: &[String], drop: &[String], privileged: bool) -> Result<CapSet, CapError> {
    let add = parse_list(add)?;
    let drop = parse_list(drop)?;
    Ok(match () {
        _ if privileged => ALL,
        _ if add == ALL => ALL & !drop,
        _ if drop == ALL => add,
        _ => (mask(&DEFAULTS) & !drop) | add,
    })
}

/// `ALL` for a list naming "ALL", else the union of the named capabilities.
fn parse_list(names: &[String]) -> Result<CapSet, CapError> {
    names.iter().try_fold(0, |set, name| Ok(set | parse(name)?))
}

fn parse(name: &str) -> Result<CapSet, CapError> {
    let upper = name.to_ascii_uppercase();
    let bare = upper.strip_prefix("CAP_").unwrap_or(&upper);
    if bare == "ALL" {
        return Ok(ALL);
    }
    let index = NAMES.iter().position(|n| *n == bare).ok_or_else(|| CapError::Unknown(name.to_string()))?;
    Ok(1 << index)
}

fn mask(names: &[&str]) -> CapSet {
    names.iter().filter_map(|n| NAMES.iter().position(|m| m == n)).fold(0, |set, i| set | 1 << i)
}

/// The calling process's bounding set, probing until the kernel says a number is no
/// capability (so caps newer than our table are kept too).
pub fn read_bounding() -> CapSet {
    let mut set = 0;
    for cap in 0..64u32 {
        // SAFETY: PR_CAPBSET_READ takes a capability number and reads no memory.
        match unsafe { libc::prctl(libc::PR_CAPBSET_READ, libc::c_ulong::from(cap), 0, 0, 0) } {
            1 => set |= 1 << cap,
            0 => {}
            _ => break,
        }
    }
    set
}

/// Drops from the bounding set every capability of `host` that `keep` lacks.
pub fn drop_bounding(host: CapSet, keep: CapSet) -> Result<(), CapError> {
    for cap in (0..64u32).filter(|c| host & !keep & (1 << c) != 0) {
        // SAFETY: PR_CAPBSET_DROP takes a capability number and reads no memory.
        let rc = unsafe { libc::prctl(libc::PR_CAPBSET_DROP, libc::c_ulong::from(cap), 0, 0, 0) };
        Errno::result(rc).map_err(|errno| CapError::Syscall { op: "drop from the bounding set", cap, errno })?;
    }
    Ok(())
}

/// Sets the effective, permitted and inheritable sets to `set` and clears the ambient set.
pub fn set_process(set: CapSet) -> Result<(), CapError> {
    let mut header = libc_cap_header { version: LINUX_CAPABILITY_VERSION_3, pid: 0 };
    let words = [set as u32, (set >> 32) as u32];
    let data = words.map(|w| libc_cap_data { effective: w, permitted: w, inheritable: w });
    // SAFETY: the header and a two-element data array of the v3 layout outlive the call.
    let rc = unsafe { libc::syscall(libc::SYS_capset, &mut header, data.as_ptr()) };
    Errno::result(rc).map_err(|errno| CapError::Syscall { op: "set", cap: 0, errno })?;
    // SAFETY: PR_CAP_AMBIENT_CLEAR_ALL reads no memory.
    let rc = unsafe { libc::prctl(libc::PR_CAP_AMBIENT, libc::PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) };
    Errno::result(rc).map(drop).map_err(|errno| CapError::Syscall { op: "clear the ambient set of", cap: 0, errno })
}

const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;

/// `struct __user_cap_header_struct`.
#[repr(C)]
#[allow(non_camel_case_types)]
struct libc_cap_header {
    version: u32,
    pid: i32,
}

/// `struct __user_cap_data_struct`.
#[repr(C)]
#[allow(non_camel_case_types)]
struct libc_cap_data {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn defaults_are_dockers_fourteen() {
        let set = resolve(&[], &[], false).unwrap();
        assert_eq!(set.count_ones(), 14);
        assert_eq!(set & parse("SYS_ADMIN").unwrap(), 0);
    }

    #[test]
    fn add_and_drop_accept_both_spellings() {
        let set = resolve(&names(&["NET_ADMIN"]), &names(&["cap_chown"]), false).unwrap();
        assert_ne!(set & parse("CAP_NET_ADMIN").unwrap(), 0);
        assert_eq!(set & parse("CHOWN").unwrap(), 0);
    }

    #[test]
    fn drop_all_then_add() {
        let set = resolve(&names(&["KILL"]), &names(&["ALL"]), false).unwrap();
        assert_eq!(set, parse("KILL").unwrap());
    }

    #[test]
    fn add_all_and_privileged_give_everything() {
        assert_eq!(resolve(&names(&["all"]), &[], false).unwrap(), ALL);
        assert_eq!(resolve(&names(&["ALL"]), &names(&["MKNOD"]), false).unwrap(), ALL & !parse("MKNOD").unwrap());
        assert_eq!(resolve(&[], &[], true).unwrap(), ALL);
    }

    #[test]
    fn named_constants_match_the_table() {
        for (set, name) in [
            (DAC_READ_SEARCH, "DAC_READ_SEARCH"),
            (SYS_MODULE, "SYS_MODULE"),
            (SYS_RAWIO, "SYS_RAWIO"),
            (SYS_CHROOT, "SYS_CHROOT"),
            (SYS_PTRACE, "SYS_PTRACE"),
            (SYS_PACCT, "SYS_PACCT"),
            (SYS_ADMIN, "SYS_ADMIN"),
            (SYS_BOOT, "SYS_BOOT"),
            (SYS_NICE, "SYS_NICE"),
            (SYS_TIME, "SYS_TIME"),
            (SYS_TTY_CONFIG, "SYS_TTY_CONFIG"),
            (SYSLOG, "SYSLOG"),
            (PERFMON, "PERFMON"),
            (BPF, "BPF"),
        ] {
            assert_eq!(set, parse(name).unwrap(), "{name}");
        }
    }

    #[test]
    fn unknown_names_are_refused_with_dockers_message() {
        let err = resolve(&names(&["CAP_FOO"]), &[], false).unwrap_err();
        assert_eq!(err.to_string(), "unknown capability: \"CAP_FOO\"");
    }
}
