//! Docker's device allow-list for an unprivileged container, enforced by the v1 devices
//! controller (`devices.deny`/`devices.allow`) or, where there is none (cgroup2), by an eBPF
//! program of type BPF_PROG_TYPE_CGROUP_DEVICE attached to the container's cgroup2 group. The
//! kernel runs that program for the tasks of the group on the default (cgroup2) hierarchy,
//! which is also mounted on hybrid hosts.

use super::{write_limit, CgroupError};
use nix::errno::Errno;
use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

/// Access bits, as the kernel passes them to the program (`BPF_DEVCG_ACC_*`).
const MKNOD: u32 = 1;
const READ: u32 = 2;
const WRITE: u32 = 4;
const RWM: u32 = READ | WRITE | MKNOD;

/// Device types, as the kernel passes them (`BPF_DEVCG_DEV_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Block = 1,
    Char = 2,
}

/// One allow rule; `None` is `*`.
#[derive(Debug, Clone, Copy)]
struct Rule {
    kind: Kind,
    major: Option<u32>,
    minor: Option<u32>,
    access: u32,
}

const fn rule(kind: Kind, major: Option<u32>, minor: Option<u32>, access: u32) -> Rule {
    Rule { kind, major, minor, access }
}

const fn char_dev(major: u32, minor: u32) -> Rule {
    rule(Kind::Char, Some(major), Some(minor), RWM)
}

/// Docker's allow-list: any node may be made, and null, zero, full, random, urandom, tty,
/// console, ptmx, the ptys and tun may be used.
const ALLOWED: [Rule; 12] = [
    rule(Kind::Char, None, None, MKNOD),
    rule(Kind::Block, None, None, MKNOD),
    char_dev(1, 3),
    char_dev(1, 5),
    char_dev(1, 7),
    char_dev(1, 8),
    char_dev(1, 9),
    char_dev(5, 0),
    char_dev(5, 1),
    char_dev(5, 2),
    rule(Kind::Char, Some(136), None, RWM),
    char_dev(10, 200),
];

impl Rule {
    /// The rule as `devices.allow` reads it: `c 1:3 rwm`.
    fn v1(&self) -> String {
        let number = |n: Option<u32>| n.map_or("*".to_string(), |n| n.to_string());
        let kind = if self.kind == Kind::Char { 'c' } else { 'b' };
        let access: String = [(READ, 'r'), (WRITE, 'w'), (MKNOD, 'm')]
            .iter()
            .filter(|(bit, _)| self.access & bit != 0)
            .map(|p| p.1)
            .collect();
        format!("{kind} {}:{} {access}", number(self.major), number(self.minor))
    }
}

/// The v1 devices controller: deny everything, then allow the list.
pub fn restrict_v1(dir: &Path) -> Result<(), CgroupError> {
    write_limit(dir, "devices.deny", "a")?;
    ALLOWED.iter().try_for_each(|rule| write_limit(dir, "devices.allow", &rule.v1()))
}

/// Loads the allow-list program and attaches it to the cgroup2 group `dir` (alongside any
/// programs of its ancestors, which must allow an access too).
pub fn attach_program(dir: &Path) -> Result<(), CgroupError> {
    let error = |what: &'static str| move |errno: Errno| CgroupError::Devices { path: dir.into(), what, errno };
    let group = File::open(dir).map_err(|e| error("open")(io_errno(&e)))?;
    let program = load(&program(&ALLOWED)).map_err(error("load the device program for"))?;
    bpf_attach(&group, &program).map_err(error("attach the device program to"))
}

fn io_errno(e: &std::io::Error) -> Errno {
    Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO))
}

// ---- the eBPF program ----------------------------------------------------------------

/// `struct bpf_insn`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Insn {
    code: u8,
    /// dst_reg in the low nibble, src_reg in the high one.
    regs: u8,
    off: i16,
    imm: i32,
}

const LDX_MEM_W: u8 = 0x61;
const ALU32_AND_K: u8 = 0x54;
const ALU32_RSH_K: u8 = 0x74;
const ALU32_MOV_X: u8 = 0xbc;
const ALU64_MOV_K: u8 = 0xb7;
const JMP_JNE_K: u8 = 0x55;
const JMP_JNE_X: u8 = 0x5d;
const JMP_EXIT: u8 = 0x95;

fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn { code, regs: dst | src << 4, off, imm }
}

/// The program: with `struct bpf_cgroup_dev_ctx *` in r1, load the device type (r2), the
/// access asked for (r3), major (r4) and minor (r5); return 1 (allow) from the first rule
/// that matches, 0 after the last.
fn program(rules: &[Rule]) -> Vec<Insn> {
    let mut prog = vec![
        insn(LDX_MEM_W, 2, 1, 0, 0),
        insn(ALU32_AND_K, 2, 0, 0, 0xffff),
        insn(LDX_MEM_W, 3, 1, 0, 0),
        insn(ALU32_RSH_K, 3, 0, 0, 16),
        insn(LDX_MEM_W, 4, 1, 4, 0),
        insn(LDX_MEM_W, 5, 1, 8, 0),
    ];
    for rule in rules {
        prog.extend(rule_block(rule));
    }
    prog.extend([insn(ALU64_MOV_K, 0, 0, 0, 0), insn(JMP_EXIT, 0, 0, 0, 0)]);
    prog
}

/// One rule: each test that fails jumps past the block's end (offsets count from the next
/// instruction); all passing returns 1. r1 (the context) is free for use by then.
fn rule_block(rule: &Rule) -> Vec<Insn> {
    // (instruction, whether it jumps to the end of the block on mismatch)
    let mut tests = vec![(insn(JMP_JNE_K, 2, 0, 0, rule.kind as i32), true)];
    if rule.access != RWM {
        tests.push((insn(ALU32_MOV_X, 1, 3, 0, 0), false));
        tests.push((insn(ALU32_AND_K, 1, 0, 0, rule.access as i32), false));
        tests.push((insn(JMP_JNE_X, 1, 3, 0, 0), true));
    }
    if let Some(major) = rule.major {
        tests.push((insn(JMP_JNE_K, 4, 0, 0, major as i32), true));
    }
    if let Some(minor) = rule.minor {
        tests.push((insn(JMP_JNE_K, 5, 0, 0, minor as i32), true));
    }
    let len = tests.len() + 2;
    let mut block: Vec<Insn> = tests
        .into_iter()
        .enumerate()
        .map(|(i, (mut ins, jumps))| {
            if jumps {
                ins.off = (len - i - 1) as i16;
            }
            ins
        })
        .collect();
    block.extend([insn(ALU64_MOV_K, 0, 0, 0, 1), insn(JMP_EXIT, 0, 0, 0, 0)]);
    block
}

// ---- bpf(2) ----------------------------------------------------------------------------

const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_ATTACH: libc::c_long = 8;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
const BPF_F_ALLOW_MULTI: u32 = 2;
const LICENSE: &[u8] = b"Apache-2.0\0";

/// The head of `union bpf_attr` for BPF_PROG_LOAD; the kernel takes the fields after these
/// as zero.
#[repr(C)]
#[derive(Default)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
}

/// The head of `union bpf_attr` for BPF_PROG_ATTACH.
#[repr(C)]
struct ProgAttachAttr {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
}

fn load(prog: &[Insn]) -> Result<OwnedFd, Errno> {
    let attr = ProgLoadAttr {
        prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
        insn_cnt: prog.len() as u32,
        insns: prog.as_ptr() as u64,
        license: LICENSE.as_ptr() as u64,
        ..ProgLoadAttr::default()
    };
    // SAFETY: `attr` is a BPF_PROG_LOAD head whose pointers (the instructions, the license)
    // point to memory that outlives the call; the kernel only reads it.
    let fd = unsafe { bpf(BPF_PROG_LOAD, &attr) }?;
    // SAFETY: BPF_PROG_LOAD returned a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn bpf_attach(group: &File, program: &OwnedFd) -> Result<(), Errno> {
    let attr = ProgAttachAttr {
        target_fd: group.as_raw_fd() as u32,
        attach_bpf_fd: program.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: BPF_F_ALLOW_MULTI,
    };
    // SAFETY: `attr` is a BPF_PROG_ATTACH head of plain integers, read by the kernel.
    unsafe { bpf(BPF_PROG_ATTACH, &attr) }.map(drop)
}

/// # Safety
/// `attr` must be the head of a `union bpf_attr` that `cmd` reads, with valid pointers.
unsafe fn bpf<T>(cmd: libc::c_long, attr: &T) -> Result<i32, Errno> {
    // SAFETY: per the caller; the size tells the kernel how much of the union we pass.
    let rc = unsafe { libc::syscall(libc::SYS_bpf, cmd, attr as *const T, std::mem::size_of::<T>()) };
    Errno::result(rc).map(|fd| fd as i32)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs a device program the way the kernel would, for the few instructions it uses.
    fn run(prog: &[Insn], kind: Kind, major: u32, minor: u32, access: u32) -> u64 {
        let ctx = [access << 16 | kind as u32, major, minor];
        let mut r = [0u64; 11];
        let mut pc = 0;
        loop {
            let i = prog[pc];
            let (dst, src) = ((i.regs & 0xf) as usize, (i.regs >> 4) as usize);
            pc += 1;
            match i.code {
                LDX_MEM_W => r[dst] = u64::from(ctx[i.off as usize / 4]),
                ALU32_AND_K => r[dst] = (r[dst] as u32 & i.imm as u32) as u64,
                ALU32_RSH_K => r[dst] = (r[dst] as u32 >> i.imm) as u64,
                ALU32_MOV_X => r[dst] = r[src] as u32 as u64,
                ALU64_MOV_K => r[dst] = i.imm as u64,
                JMP_JNE_K if r[dst] != i.imm as u64 => pc += i.off as usize,
                JMP_JNE_X if r[dst] != r[src] => pc += i.off as usize,
                JMP_JNE_K | JMP_JNE_X => {}
                JMP_EXIT => return r[0],
                other => panic!("unexpected opcode {other:#x}"),
            }
        }
    }

    #[rstest::rstest]
    #[case(Kind::Char, 1, 3, READ | WRITE, 1)]
    #[case(Kind::Char, 1, 9, READ, 1)]
    #[case(Kind::Char, 136, 4, READ | WRITE, 1)]
    #[case(Kind::Char, 5, 2, READ | WRITE, 1)]
    #[case(Kind::Char, 10, 200, READ | WRITE, 1)]
    #[case(Kind::Char, 1, 1, READ, 0)]
    #[case(Kind::Char, 1, 1, MKNOD, 1)]
    #[case(Kind::Char, 1, 11, WRITE, 0)]
    #[case(Kind::Char, 4, 0, READ, 0)]
    #[case(Kind::Block, 8, 0, READ, 0)]
    #[case(Kind::Block, 8, 0, MKNOD, 1)]
    #[case(Kind::Block, 1, 3, READ, 0)]
    #[case(Kind::Char, 1, 1, MKNOD | READ, 0)]
    fn the_program_allows_exactly_the_list(
        #[case] kind: Kind,
        #[case] major: u32,
        #[case] minor: u32,
        #[case] access: u32,
        #[case] allowed: u64,
    ) {
        assert_eq!(run(&program(&ALLOWED), kind, major, minor, access), allowed);
    }

    #[test]
    fn v1_rules_read_as_dockers() {
        let rules: Vec<String> = ALLOWED.iter().map(Rule::v1).collect();
        assert_eq!(rules[..3], ["c *:* m", "b *:* m", "c 1:3 rwm"]);
        assert_eq!(rules[10..], ["c 136:* rwm", "c 10:200 rwm"]);
    }

    #[test]
    fn jumps_land_inside_the_program() {
        let prog = program(&ALLOWED);
        for (pc, i) in prog.iter().enumerate() {
            if matches!(i.code, JMP_JNE_K | JMP_JNE_X) {
                assert!(pc + 1 + (i.off as usize) < prog.len(), "jump at {pc}");
            }
        }
    }
}
