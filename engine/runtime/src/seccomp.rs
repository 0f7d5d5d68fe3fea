//! The seccomp filter of an unprivileged container: what Docker's default profile blocks for
//! the container's capabilities, as a denylist. Those calls fail with EPERM (clone3 with
//! ENOSYS, so that libc falls back to clone, whose flags a filter can see); everything else is
//! allowed. A classic BPF program over `struct seccomp_data` for x86_64, its x32 ABI and the
//! i386 ABI (which a 64-bit process reaches through `int 0x80`); any other architecture's
//! calls kill the process, as libseccomp's filters do.

use crate::caps::{self, CapSet};
use crate::spec::{Seccomp, Spec};
use libc::{
    sock_filter, BPF_ABS, BPF_ALU, BPF_AND, BPF_JA, BPF_JEQ, BPF_JGE, BPF_JGT, BPF_JMP, BPF_JSET, BPF_K, BPF_LD,
    BPF_RET, BPF_W,
};
use nix::errno::Errno;

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SeccompError {
    #[error("couldn't install the seccomp filter: {0}")]
    Install(Errno),
    #[error("the default seccomp profile is only defined for x86_64; use --security-opt seccomp=unconfined")]
    UnsupportedArch,
}

const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
const AUDIT_ARCH_I386: u32 = 0x4000_0003;
/// Set in the numbers of x32 calls, which otherwise share x86_64's (or have their own
/// compat numbers from 512 up, listed in the table).
const X32_SYSCALL_BIT: u32 = 0x4000_0000;

/// The namespace flags of clone and unshare (`CLONE_NEWNS`, `NEWCGROUP`, `NEWUTS`, `NEWIPC`,
/// `NEWUSER`, `NEWPID`, `NEWNET`), Docker's mask; unshare also has `CLONE_NEWTIME`.
const CLONE_NAMESPACES: u32 = 0x7e02_0000;
const CLONE_NEWTIME: u32 = 0x80;
/// The personalities Docker allows: Linux, Linux32, UNAME26 with both, and the query.
const PERSONALITIES: &[u32] = &[0x0, 0x8, 0x20000, 0x20008, 0xffff_ffff];
const AF_VSOCK: u32 = 40;

/// Which calls of a syscall a rule denies. Arguments are compared in their low 32 bits,
/// which is all the kernel reads of these (flags, a personality, a family).
#[derive(Debug, Clone, Copy)]
enum Deny {
    All,
    /// Those with any of `mask`'s bits set in argument `arg`.
    AnyBit {
        arg: u32,
        mask: u32,
    },
    /// Those whose argument `arg` is `value`.
    Equal {
        arg: u32,
        value: u32,
    },
    /// Those whose argument `arg` is none of `allowed`.
    Except {
        arg: u32,
        allowed: &'static [u32],
    },
}

/// One syscall of the profile.
#[derive(Debug, Clone, Copy)]
struct Rule {
    /// The call's name in the kernel's headers (`/x32` for an x32 compat number); the tests
    /// check the numbers against them.
    #[cfg_attr(not(test), allow(dead_code))]
    name: &'static str,
    /// Its number on x86_64 (and x32); `None` where the architecture has no such call.
    x86_64: Option<u32>,
    i386: Option<u32>,
    deny: Deny,
    errno: i32,
    /// Capabilities any one of which lifts the rule (Docker allows the call then).
    unless: CapSet,
}

const fn rule(name: &'static str, x86_64: Option<u32>, i386: Option<u32>, unless: CapSet) -> Rule {
    Rule { name, x86_64, i386, deny: Deny::All, errno: libc::EPERM, unless }
}

/// The same number on both architectures (the calls added since 2019 are numbered alike).
const fn both(name: &'static str, nr: u32, unless: CapSet) -> Rule {
    rule(name, Some(nr), Some(nr), unless)
}

impl Rule {
    const fn only(self, deny: Deny) -> Rule {
        Rule { deny, ..self }
    }

    const fn failing_with(self, errno: i32) -> Rule {
        Rule { errno, ..self }
    }

    fn number(&self, arch: u32) -> Option<u32> {
        if arch == AUDIT_ARCH_X86_64 {
            self.x86_64
        } else {
            self.i386
        }
    }
}

const NONE: CapSet = 0;
const ADMIN: CapSet = caps::SYS_ADMIN;

/// Docker's default profile for amd64, x32 and x86, as the calls it blocks.
const RULES: &[Rule] = &[
    rule("add_key", Some(248), Some(286), NONE),
    rule("request_key", Some(249), Some(287), NONE),
    rule("keyctl", Some(250), Some(288), NONE),
    rule("create_module", Some(174), Some(127), NONE),
    rule("get_kernel_syms", Some(177), Some(130), NONE),
    rule("query_module", Some(178), Some(167), NONE),
    rule("nfsservctl", Some(180), Some(169), NONE),
    rule("uselib", Some(134), Some(86), NONE),
    rule("vm86", None, Some(166), NONE),
    rule("vm86old", None, Some(113), NONE),
    rule("kexec_load", Some(246), Some(283), NONE),
    rule("kexec_load/x32", Some(528), None, NONE),
    rule("kexec_file_load", Some(320), None, NONE),
    rule("swapon", Some(167), Some(87), NONE),
    rule("swapoff", Some(168), Some(115), NONE),
    rule("pivot_root", Some(155), Some(217), NONE),
    rule("userfaultfd", Some(323), Some(374), NONE),
    rule("personality", Some(135), Some(136), NONE).only(Deny::Except { arg: 0, allowed: PERSONALITIES }),
    rule("socket", Some(41), Some(359), NONE).only(Deny::Equal { arg: 0, value: AF_VSOCK }),
    rule("init_module", Some(175), Some(128), caps::SYS_MODULE),
    rule("finit_module", Some(313), Some(350), caps::SYS_MODULE),
    rule("delete_module", Some(176), Some(129), caps::SYS_MODULE),
    rule("reboot", Some(169), Some(88), caps::SYS_BOOT),
    rule("acct", Some(163), Some(51), caps::SYS_PACCT),
    rule("iopl", Some(172), Some(110), caps::SYS_RAWIO),
    rule("ioperm", Some(173), Some(101), caps::SYS_RAWIO),
    rule("kcmp", Some(312), Some(349), caps::SYS_PTRACE),
    both("pidfd_getfd", 438, caps::SYS_PTRACE),
    both("process_madvise", 440, caps::SYS_PTRACE),
    rule("settimeofday", Some(164), Some(79), caps::SYS_TIME),
    rule("stime", None, Some(25), caps::SYS_TIME),
    rule("clock_settime", Some(227), Some(264), caps::SYS_TIME),
    rule("clock_settime64", None, Some(404), caps::SYS_TIME),
    rule("vhangup", Some(153), Some(111), caps::SYS_TTY_CONFIG),
    rule("get_mempolicy", Some(239), Some(275), caps::SYS_NICE),
    rule("set_mempolicy", Some(238), Some(276), caps::SYS_NICE),
    both("set_mempolicy_home_node", 450, caps::SYS_NICE),
    rule("mbind", Some(237), Some(274), caps::SYS_NICE),
    rule("move_pages", Some(279), Some(317), caps::SYS_NICE),
    rule("move_pages/x32", Some(533), None, caps::SYS_NICE),
    rule("chroot", Some(161), Some(61), caps::SYS_CHROOT),
    rule("open_by_handle_at", Some(304), Some(342), caps::DAC_READ_SEARCH),
    rule("name_to_handle_at", Some(303), Some(341), caps::DAC_READ_SEARCH | ADMIN),
    rule("mount", Some(165), Some(21), ADMIN),
    rule("umount", None, Some(22), ADMIN),
    rule("umount2", Some(166), Some(52), ADMIN),
    both("open_tree", 428, ADMIN),
    both("move_mount", 429, ADMIN),
    both("fsopen", 430, ADMIN),
    both("fsconfig", 431, ADMIN),
    both("fsmount", 432, ADMIN),
    both("fspick", 433, ADMIN),
    both("mount_setattr", 442, ADMIN),
    rule("setns", Some(308), Some(346), ADMIN),
    rule("unshare", Some(272), Some(310), ADMIN).only(Deny::AnyBit { arg: 0, mask: CLONE_NAMESPACES | CLONE_NEWTIME }),
    rule("clone", Some(56), Some(120), ADMIN).only(Deny::AnyBit { arg: 0, mask: CLONE_NAMESPACES }),
    both("clone3", 435, ADMIN).failing_with(libc::ENOSYS),
    rule("fanotify_init", Some(300), Some(338), ADMIN),
    rule("lookup_dcookie", Some(212), Some(253), ADMIN),
    rule("quotactl", Some(179), Some(131), ADMIN),
    both("quotactl_fd", 443, ADMIN),
    rule("sethostname", Some(170), Some(74), ADMIN),
    rule("setdomainname", Some(171), Some(121), ADMIN),
    rule("syslog", Some(103), Some(103), ADMIN | caps::SYSLOG),
    rule("bpf", Some(321), Some(357), ADMIN | caps::BPF),
    rule("perf_event_open", Some(298), Some(336), ADMIN | caps::PERFMON),
];

/// A compiled filter, ready for `seccomp(SECCOMP_SET_MODE_FILTER)`.
#[derive(Clone)]
pub struct Filter(Vec<sock_filter>);

impl std::fmt::Debug for Filter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Filter({} instructions)", self.0.len())
    }
}

/// The filter a container's processes get: none for a privileged container or one that
/// asked for `seccomp=unconfined`, else the default profile for its capabilities.
pub fn for_container(spec: &Spec, caps: CapSet) -> Result<Option<Filter>, SeccompError> {
    if spec.privileged || spec.seccomp == Seccomp::Unconfined {
        return Ok(None);
    }
    if !cfg!(target_arch = "x86_64") {
        return Err(SeccompError::UnsupportedArch);
    }
    Ok(Some(Filter::default_profile(caps)))
}

impl Filter {
    /// Docker's default profile for a container with capabilities `caps`.
    pub fn default_profile(caps: CapSet) -> Filter {
        let x86_64 = arch_section(AUDIT_ARCH_X86_64, caps);
        let i386 = arch_section(AUDIT_ARCH_I386, caps);
        let mut prog = vec![
            stmt(BPF_LD | BPF_W | BPF_ABS, ARCH_OFFSET),
            jump(BPF_JEQ, AUDIT_ARCH_X86_64, 1, 0),
            stmt(BPF_JMP | BPF_JA, x86_64.len() as u32),
        ];
        prog.extend(x86_64);
        prog.extend([jump(BPF_JEQ, AUDIT_ARCH_I386, 1, 0), stmt(BPF_RET | BPF_K, libc::SECCOMP_RET_KILL_PROCESS)]);
        prog.extend(i386);
        Filter(prog)
    }

    /// Installs the filter on the calling thread, for good: it needs CAP_SYS_ADMIN or
    /// no_new_privs. Makes no allocation, so a forked child of a threaded process may call it.
    pub fn install(&self) -> Result<(), SeccompError> {
        let prog = libc::sock_fprog { len: self.0.len() as u16, filter: self.0.as_ptr().cast_mut() };
        match set_filter(&prog) {
            // Kernels before 3.17 have only the prctl.
            Err(Errno::ENOSYS) => set_filter_by_prctl(&prog),
            other => other,
        }
        .map_err(SeccompError::Install)
    }
}

fn set_filter(prog: &libc::sock_fprog) -> nix::Result<()> {
    // SAFETY: `prog` describes instructions that outlive the call; the kernel copies them.
    let rc = unsafe { libc::syscall(libc::SYS_seccomp, libc::SECCOMP_SET_MODE_FILTER, 0, prog as *const _) };
    Errno::result(rc).map(drop)
}

fn set_filter_by_prctl(prog: &libc::sock_fprog) -> nix::Result<()> {
    // SAFETY: as in `set_filter`; PR_SET_SECCOMP reads the same sock_fprog.
    let rc = unsafe { libc::prctl(libc::PR_SET_SECCOMP, libc::SECCOMP_MODE_FILTER, prog as *const _) };
    Errno::result(rc).map(drop)
}

const ARCH_OFFSET: u32 = 4;
const NR_OFFSET: u32 = 0;

/// Where argument `arg`'s low 32 bits are in `struct seccomp_data` (little-endian).
fn arg_offset(arg: u32) -> u32 {
    16 + 8 * arg
}

fn stmt(code: u32, k: u32) -> sock_filter {
    sock_filter { code: code as u16, jt: 0, jf: 0, k }
}

/// A conditional jump comparing the accumulator with `k`.
fn jump(op: u32, k: u32, jt: u8, jf: u8) -> sock_filter {
    sock_filter { code: (BPF_JMP | op | BPF_K) as u16, jt, jf, k }
}

fn ret(action: u32) -> sock_filter {
    stmt(BPF_RET | BPF_K, action)
}

/// One architecture's calls: load the number (x32's without its bit); the calls denied
/// whatever their arguments, as runs of consecutive numbers that jump to a shared return;
/// the calls denied by their arguments, each in a block that decides it; allow the rest.
fn arch_section(arch: u32, caps: CapSet) -> Vec<sock_filter> {
    let rules: Vec<(&Rule, u32)> =
        RULES.iter().filter(|r| r.unless & caps == 0).filter_map(|r| Some((r, r.number(arch)?))).collect();
    let whole = rules.iter().filter(|(r, _)| matches!(r.deny, Deny::All)).map(|(r, nr)| (*nr, r.errno));
    let runs = runs(whole.collect());
    let mut errnos: Vec<i32> = runs.iter().map(|r| r.2).collect();
    errnos.sort_unstable();
    errnos.dedup();
    let by_argument: Vec<sock_filter> =
        rules.iter().filter(|(r, _)| !matches!(r.deny, Deny::All)).flat_map(|(r, nr)| rule_block(r, *nr)).collect();
    let mut section = vec![stmt(BPF_LD | BPF_W | BPF_ABS, NR_OFFSET)];
    if arch == AUDIT_ARCH_X86_64 {
        section.push(stmt(BPF_ALU | BPF_AND | BPF_K, !X32_SYSCALL_BIT));
    }
    section.extend(run_checks(&runs, &errnos, by_argument.len()));
    section.extend(by_argument);
    section.push(ret(libc::SECCOMP_RET_ALLOW));
    section.extend(errnos.iter().map(|e| ret(errno_action(*e))));
    section
}

/// `(first, last, errno)` runs of consecutive numbers with the same errno, ascending.
fn runs(mut calls: Vec<(u32, i32)>) -> Vec<(u32, u32, i32)> {
    calls.sort_unstable();
    let mut runs: Vec<(u32, u32, i32)> = Vec::new();
    for (nr, errno) in calls {
        match runs.last_mut() {
            Some((_, last, e)) if *last + 1 == nr && *e == errno => *last = nr,
            _ => runs.push((nr, nr, errno)),
        }
    }
    runs
}

/// The checks of the runs, `gap` instructions and the allow before the errno returns (one
/// per `errnos`). A number below a run's first skips the rest, which are all higher, so the
/// frequent low-numbered calls get through after one comparison.
fn run_checks(runs: &[(u32, u32, i32)], errnos: &[i32], gap: usize) -> Vec<sock_filter> {
    let len = 1 + runs.iter().map(|(first, last, _)| if first == last { 1 } else { 2 }).sum::<usize>();
    // Offsets count from the next instruction; the profile is small enough for u8 ones
    // (tests check the largest program).
    let to_end = |at: usize| (len - at - 1) as u8;
    let to_return = |at: usize, errno: i32| {
        let index = errnos.iter().position(|e| *e == errno).unwrap_or(0);
        (len - at - 1 + gap + 1 + index) as u8
    };
    let mut checks = vec![jump(BPF_JGE, runs.first().map_or(u32::MAX, |r| r.0), 0, to_end(0))];
    for &(first, last, errno) in runs {
        if first == last {
            checks.push(jump(BPF_JEQ, first, to_return(checks.len(), errno), 0));
        } else {
            checks.push(jump(BPF_JGE, first, 0, to_end(checks.len())));
            checks.push(jump(BPF_JGT, last, 0, to_return(checks.len(), errno)));
        }
    }
    checks
}

fn errno_action(errno: i32) -> u32 {
    libc::SECCOMP_RET_ERRNO | (errno as u32 & libc::SECCOMP_RET_DATA)
}

/// `if (nr == rule's) { decide }`: a block that returns for its own syscall and is skipped
/// whole for any other, the accumulator still holding the number.
fn rule_block(rule: &Rule, nr: u32) -> Vec<sock_filter> {
    let deny = ret(errno_action(rule.errno));
    let allow = ret(libc::SECCOMP_RET_ALLOW);
    let load = |arg| stmt(BPF_LD | BPF_W | BPF_ABS, arg_offset(arg));
    let body = match rule.deny {
        Deny::All => vec![deny], // only in the runs
        Deny::AnyBit { arg, mask } => vec![load(arg), jump(BPF_JSET, mask, 0, 1), deny, allow],
        Deny::Equal { arg, value } => vec![load(arg), jump(BPF_JEQ, value, 0, 1), deny, allow],
        Deny::Except { arg, allowed } => {
            let n = allowed.len();
            // Each match skips the rest of the matches and the denial.
            let matches = allowed.iter().enumerate().map(|(i, v)| jump(BPF_JEQ, *v, (n - i) as u8, 0));
            std::iter::once(load(arg)).chain(matches).chain([deny, allow]).collect()
        }
    };
    let mut block = vec![jump(BPF_JEQ, nr, 0, body.len() as u8)];
    block.extend(body);
    block
}

#[cfg(test)]
mod tests;
