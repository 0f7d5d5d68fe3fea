//! The profile's table against the kernel's headers, the program run by a small classic BPF
//! interpreter, and the installed filter in forked children (the test process stays unfiltered).

use super::*;
use crate::caps;
use std::collections::HashMap;

const HEADERS: &str = "/usr/include/x86_64-linux-gnu/asm";

/// `__NR_name` values of one of the kernel's unistd headers, with x32's bit added back.
fn header_numbers(file: &str) -> Option<HashMap<String, u32>> {
    let text = std::fs::read_to_string(format!("{HEADERS}/{file}")).ok()?;
    let numbers = text.lines().filter_map(|l| {
        let rest = l.strip_prefix("#define __NR_")?;
        let (name, value) = rest.split_once(' ')?;
        let value = value.trim();
        let number = match value.strip_prefix("(__X32_SYSCALL_BIT + ") {
            Some(n) => X32_SYSCALL_BIT + n.trim_end_matches(')').parse::<u32>().ok()?,
            None => value.parse().ok()?,
        };
        Some((name.to_string(), number))
    });
    Some(numbers.collect())
}

#[test]
fn numbers_match_the_kernel_headers() {
    let (Some(x86_64), Some(i386), Some(x32)) =
        (header_numbers("unistd_64.h"), header_numbers("unistd_32.h"), header_numbers("unistd_x32.h"))
    else {
        return; // no kernel headers on this machine
    };
    for rule in RULES {
        match rule.name.strip_suffix("/x32") {
            Some(name) => assert_eq!(rule.x86_64.map(|n| n | X32_SYSCALL_BIT), x32.get(name).copied(), "{name}"),
            None => {
                assert_eq!(rule.x86_64, x86_64.get(rule.name).copied(), "x86_64 {}", rule.name);
                assert_eq!(rule.i386, i386.get(rule.name).copied(), "i386 {}", rule.name);
            }
        }
    }
}

#[test]
fn no_syscall_is_listed_twice() {
    for arch in [AUDIT_ARCH_X86_64, AUDIT_ARCH_I386] {
        let mut numbers: Vec<u32> = RULES.iter().filter_map(|r| r.number(arch)).collect();
        let count = numbers.len();
        numbers.sort_unstable();
        numbers.dedup();
        assert_eq!(numbers.len(), count, "arch {arch:#x}");
    }
}

#[test]
fn every_jump_lands_inside_the_program() {
    for caps in [0, DEFAULT_CAPS, caps::ALL] {
        let filter = Filter::default_profile(caps);
        assert!(filter.0.len() < 256, "{} instructions", filter.0.len());
        for (pc, i) in filter.0.iter().enumerate() {
            let code = u32::from(i.code);
            let far = match code {
                c if c & 0x07 != BPF_JMP => continue,
                c if c == BPF_JMP | BPF_JA => i.k as usize,
                _ => usize::from(i.jt.max(i.jf)),
            };
            assert!(pc + 1 + far < filter.0.len(), "jump at {pc} of {}", filter.0.len());
        }
    }
}

#[test]
fn runs_merge_consecutive_numbers_with_one_errno() {
    let calls = vec![(5, 1), (3, 1), (4, 1), (9, 1), (10, 38), (11, 38), (12, 1)];
    assert_eq!(runs(calls), [(3, 5, 1), (9, 9, 1), (10, 11, 38), (12, 12, 1)]);
}

/// Every number of every rule, and its neighbours, get what the table says.
#[test]
fn the_program_agrees_with_the_table() {
    let filter = Filter::default_profile(DEFAULT_CAPS);
    for arch in [AUDIT_ARCH_X86_64, AUDIT_ARCH_I386] {
        let denied: HashMap<u32, i32> = RULES
            .iter()
            .filter(|r| r.unless & DEFAULT_CAPS == 0 && matches!(r.deny, Deny::All))
            .filter_map(|r| Some((r.number(arch)?, r.errno)))
            .collect();
        let by_argument: Vec<u32> =
            RULES.iter().filter(|r| !matches!(r.deny, Deny::All)).filter_map(|r| r.number(arch)).collect();
        for nr in (0..600).filter(|nr| !by_argument.contains(nr)) {
            let want = denied.get(&nr).map_or(ALLOW, |e| libc::SECCOMP_RET_ERRNO | *e as u32);
            assert_eq!(simulate(&filter, arch, nr, [0; 6]), want, "arch {arch:#x} nr {nr}");
        }
    }
}

/// Runs a filter the way the kernel would, for the instructions it uses.
fn simulate(filter: &Filter, arch: u32, nr: u32, args: [u64; 6]) -> u32 {
    let mut data = [0u32; 16];
    data[0] = nr;
    data[1] = arch;
    for (i, a) in args.iter().enumerate() {
        data[4 + 2 * i] = *a as u32;
        data[5 + 2 * i] = (*a >> 32) as u32;
    }
    let (mut acc, mut pc) = (0u32, 0usize);
    loop {
        let i = filter.0[pc];
        pc += 1;
        let code = u32::from(i.code);
        let skip = |taken: bool| usize::from(if taken { i.jt } else { i.jf });
        match code {
            c if c == BPF_LD | BPF_W | BPF_ABS => acc = data[i.k as usize / 4],
            c if c == BPF_ALU | BPF_AND | BPF_K => acc &= i.k,
            c if c == BPF_JMP | BPF_JA => pc += i.k as usize,
            c if c == BPF_JMP | BPF_JEQ | BPF_K => pc += skip(acc == i.k),
            c if c == BPF_JMP | BPF_JSET | BPF_K => pc += skip(acc & i.k != 0),
            c if c == BPF_JMP | BPF_JGE | BPF_K => pc += skip(acc >= i.k),
            c if c == BPF_JMP | BPF_JGT | BPF_K => pc += skip(acc > i.k),
            c if c == BPF_RET | BPF_K => return i.k,
            other => panic!("unexpected opcode {other:#x}"),
        }
    }
}

const EPERM: u32 = libc::SECCOMP_RET_ERRNO | libc::EPERM as u32;
const ENOSYS: u32 = libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32;
const ALLOW: u32 = libc::SECCOMP_RET_ALLOW;
const CLONE_NEWUSER: u64 = 0x1000_0000;
const DEFAULT_CAPS: CapSet = 0xa80425fb;

#[rstest::rstest]
#[case::getpid(AUDIT_ARCH_X86_64, 39, 0, ALLOW)]
#[case::init_module(AUDIT_ARCH_X86_64, 175, 0, EPERM)]
#[case::init_module_x32(AUDIT_ARCH_X86_64, X32_SYSCALL_BIT | 175, 0, EPERM)]
#[case::kexec_load_x32(AUDIT_ARCH_X86_64, X32_SYSCALL_BIT | 528, 0, EPERM)]
#[case::read_x32(AUDIT_ARCH_X86_64, X32_SYSCALL_BIT, 0, ALLOW)]
#[case::clone_thread(AUDIT_ARCH_X86_64, 56, 0x003d_0f00, ALLOW)]
#[case::clone_newuser(AUDIT_ARCH_X86_64, 56, CLONE_NEWUSER | 17, EPERM)]
#[case::clone_newuser_high_bits(AUDIT_ARCH_X86_64, 56, 0xffff_0000_0000_0000 | 17, ALLOW)]
#[case::unshare_files(AUDIT_ARCH_X86_64, 272, 0x400, ALLOW)]
#[case::unshare_mount(AUDIT_ARCH_X86_64, 272, 0x0002_0000, EPERM)]
#[case::unshare_time(AUDIT_ARCH_X86_64, 272, 0x80, EPERM)]
#[case::clone3(AUDIT_ARCH_X86_64, 435, 0, ENOSYS)]
#[case::personality_query(AUDIT_ARCH_X86_64, 135, 0xffff_ffff, ALLOW)]
#[case::personality_linux32(AUDIT_ARCH_X86_64, 135, 8, ALLOW)]
#[case::personality_no_aslr(AUDIT_ARCH_X86_64, 135, 0x0004_0000, EPERM)]
#[case::socket_unix(AUDIT_ARCH_X86_64, 41, 1, ALLOW)]
#[case::socket_vsock(AUDIT_ARCH_X86_64, 41, 40, EPERM)]
#[case::ptrace(AUDIT_ARCH_X86_64, 101, 0, ALLOW)]
#[case::chroot(AUDIT_ARCH_X86_64, 161, 0, ALLOW)]
#[case::i386_getpid(AUDIT_ARCH_I386, 20, 0, ALLOW)]
#[case::i386_unshare_user(AUDIT_ARCH_I386, 310, CLONE_NEWUSER, EPERM)]
#[case::i386_init_module(AUDIT_ARCH_I386, 128, 0, EPERM)]
#[case::i386_175_is_rt_sigprocmask(AUDIT_ARCH_I386, 175, 0, ALLOW)]
#[case::aarch64(0xc000_00b7, 39, 0, libc::SECCOMP_RET_KILL_PROCESS)]
fn default_capabilities(#[case] arch: u32, #[case] nr: u32, #[case] arg0: u64, #[case] action: u32) {
    let filter = Filter::default_profile(DEFAULT_CAPS);
    assert_eq!(simulate(&filter, arch, nr, [arg0, 0, 0, 0, 0, 0]), action);
}

#[rstest::rstest]
#[case::module(caps::SYS_MODULE, 175, 0)]
#[case::unshare_user(caps::SYS_ADMIN, 272, CLONE_NEWUSER)]
#[case::mount(caps::SYS_ADMIN, 165, 0)]
#[case::clone3(caps::SYS_ADMIN, 435, 0)]
#[case::syslog(caps::SYSLOG, 103, 0)]
#[case::kcmp(caps::SYS_PTRACE, 312, 0)]
#[case::clock_settime(caps::SYS_TIME, 227, 0)]
#[case::mbind(caps::SYS_NICE, 237, 0)]
fn added_capabilities_lift_rules(#[case] cap: CapSet, #[case] nr: u32, #[case] arg0: u64) {
    let args = [arg0, 0, 0, 0, 0, 0];
    assert_ne!(simulate(&Filter::default_profile(DEFAULT_CAPS), AUDIT_ARCH_X86_64, nr, args), ALLOW);
    assert_eq!(simulate(&Filter::default_profile(DEFAULT_CAPS | cap), AUDIT_ARCH_X86_64, nr, args), ALLOW);
}

#[test]
fn privileged_and_unconfined_containers_get_no_filter() {
    let mut spec = Spec::default();
    assert!(for_container(&spec, DEFAULT_CAPS).unwrap().is_some());
    spec.seccomp = Seccomp::Unconfined;
    assert!(for_container(&spec, DEFAULT_CAPS).unwrap().is_none());
    spec.seccomp = Seccomp::Default;
    spec.privileged = true;
    assert!(for_container(&spec, caps::ALL).unwrap().is_none());
}

// ---- in the kernel, in forked children -------------------------------------------------

/// Forks; the child installs `filter` (if any), makes `call` and sends back what the
/// syscall returned (a negative errno on failure).
fn in_child(filter: Option<&Filter>, call: fn() -> i64) -> i64 {
    let (r, w) = nix::unistd::pipe().unwrap();
    // SAFETY: the child only makes system calls (install allocates nothing) and _exits.
    match unsafe { nix::unistd::fork() }.unwrap() {
        nix::unistd::ForkResult::Child => {
            let result = match filter.map_or(Ok(()), Filter::install) {
                Ok(()) => call(),
                Err(_) => i64::MIN,
            };
            let _ = nix::unistd::write(&w, &result.to_ne_bytes());
            // SAFETY: ends the child without running the test harness's code.
            unsafe { libc::_exit(0) }
        }
        nix::unistd::ForkResult::Parent { child } => {
            drop(w);
            let mut buf = [0u8; 8];
            let n = nix::unistd::read(std::os::fd::AsRawFd::as_raw_fd(&r), &mut buf).unwrap();
            nix::sys::wait::waitpid(child, None).unwrap();
            // A child that died (a signal) sent nothing.
            if n == 8 {
                i64::from_ne_bytes(buf)
            } else {
                i64::MIN
            }
        }
    }
}

/// A raw system call with integer arguments; a failure as -errno.
fn sys(nr: libc::c_long, a: usize, b: usize, c: usize) -> i64 {
    // SAFETY: the calls these tests make take integers, or pointers that may be null.
    let rc = unsafe { libc::syscall(nr, a, b, c) };
    if rc == -1 {
        -i64::from(Errno::last_raw())
    } else {
        rc
    }
}

/// An i386 system call through `int 0x80` (no pointer arguments).
fn int80(nr: u32, arg0: u32) -> i64 {
    let ret: i32;
    // SAFETY: `int 0x80` runs an i386 system call; rbx is saved and restored around it
    // (LLVM reserves it), and the arguments are plain integers.
    unsafe {
        std::arch::asm!(
            "xchg {arg0:r}, rbx",
            "int 0x80",
            "xchg {arg0:r}, rbx",
            arg0 = inout(reg) u64::from(arg0) => _,
            inlateout("eax") nr as i32 => ret,
            options(nostack),
        );
    }
    i64::from(ret)
}

fn default_filter() -> Filter {
    Filter::default_profile(DEFAULT_CAPS)
}

const EPERM_RC: i64 = -(libc::EPERM as i64);

#[test]
fn modules_are_not_permitted_even_without_module_support() {
    let init_module = || sys(libc::SYS_init_module, 0, 0, 0);
    assert_ne!(in_child(None, init_module), EPERM_RC, "root without a filter is not refused with EPERM");
    assert_eq!(in_child(Some(&default_filter()), init_module), EPERM_RC);
    let finit = || sys(libc::SYS_finit_module, usize::MAX, 0, 0);
    assert_eq!(in_child(Some(&default_filter()), finit), EPERM_RC);
    let x32 = || sys(X32_SYSCALL_BIT as libc::c_long | libc::SYS_init_module, 0, 0, 0);
    assert_eq!(in_child(Some(&default_filter()), x32), EPERM_RC);
}

#[test]
fn namespaces_are_not_permitted_but_other_unshares_are() {
    let user_ns = || sys(libc::SYS_unshare, CLONE_NEWUSER as usize, 0, 0);
    assert_eq!(in_child(Some(&default_filter()), user_ns), EPERM_RC);
    assert_eq!(in_child(Some(&Filter::default_profile(DEFAULT_CAPS | caps::SYS_ADMIN)), user_ns), 0);
    let files = || sys(libc::SYS_unshare, libc::CLONE_FILES as usize, 0, 0);
    assert_eq!(in_child(Some(&default_filter()), files), 0);
    let clone3 = || sys(libc::SYS_clone3, 0, 0, 0);
    assert_eq!(in_child(Some(&default_filter()), clone3), -(libc::ENOSYS as i64));
}

#[test]
fn personality_socket_and_ordinary_calls() {
    let query = || sys(libc::SYS_personality, 0xffff_ffff, 0, 0);
    assert!(in_child(Some(&default_filter()), query) >= 0);
    let no_aslr = || sys(libc::SYS_personality, 0x0004_0000, 0, 0);
    assert_eq!(in_child(Some(&default_filter()), no_aslr), EPERM_RC);
    let vsock = || sys(libc::SYS_socket, libc::AF_VSOCK as usize, libc::SOCK_STREAM as usize, 0);
    assert_eq!(in_child(Some(&default_filter()), vsock), EPERM_RC);
    let unix = || sys(libc::SYS_socket, libc::AF_UNIX as usize, libc::SOCK_STREAM as usize, 0);
    assert!(in_child(Some(&default_filter()), unix) >= 0);
    let pid = || sys(libc::SYS_getpid, 0, 0, 0);
    assert!(in_child(Some(&default_filter()), pid) > 0);
}

/// The i386 ABI is filtered by its own numbers (when the kernel has it).
#[test]
fn i386_calls_are_filtered_too() {
    let getpid = || int80(20, 0);
    if in_child(None, getpid) <= 0 {
        return; // no IA32 emulation
    }
    assert!(in_child(Some(&default_filter()), getpid) > 0);
    let user_ns = || int80(310, CLONE_NEWUSER as u32);
    assert_eq!(in_child(Some(&default_filter()), user_ns), EPERM_RC);
    let init_module = || int80(128, 0);
    assert_eq!(in_child(Some(&default_filter()), init_module), EPERM_RC);
}
