//! Keeps the long-lived monitor's resident set small while its container runs quietly.
//! Almost all of it is file-backed: the pages of the `berth` binary's and libc's code and
//! read-only data that starting the container (or serving it since) touched, each fault
//! mapping up to 15 neighbours too (the kernel's fault-around). They are clean page-cache
//! pages, shared with the daemon and the other monitors, so unmapping them loses nothing:
//! what the loop needs comes back on its next event. Private (relocated or written) pages
//! are never touched, and free heap memory goes back to the kernel.

use nix::sys::mman::{madvise, MmapAdvise};
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::ptr::NonNull;

/// Unmaps the clean read-only file pages and returns free heap memory. Best effort: a
/// mapping that cannot be read or released just stays as it is.
pub fn release_idle_pages() {
    trim_heap();
    let Ok(smaps) = File::open("/proc/self/smaps") else { return };
    for (start, end) in clean_read_only_mappings(BufReader::with_capacity(4096, smaps)) {
        let Some(addr) = NonNull::new(start as *mut libc::c_void) else { continue };
        // SAFETY: [start, end) is a whole private, read-only, file-backed mapping without
        // anonymous (private) pages: dropping its page table entries only makes the next
        // access fault the same file contents back in. No Rust object owns these pages.
        let _ = unsafe { madvise(addr, end - start, MmapAdvise::MADV_DONTNEED) };
    }
}

/// Hands glibc's free heap memory back to the kernel.
#[cfg(target_env = "gnu")]
fn trim_heap() {
    // SAFETY: malloc_trim only releases memory that no allocation holds.
    unsafe { libc::malloc_trim(0) };
}

#[cfg(not(target_env = "gnu"))]
fn trim_heap() {}

/// The address ranges of private read-only file mappings with no anonymous pages, present
/// (`Anonymous:`) or swapped out (`Swap:`, which smaps lists after it), from `/proc/self/smaps`.
fn clean_read_only_mappings(smaps: impl BufRead) -> Vec<(usize, usize)> {
    let mut found = Vec::new();
    let mut candidate = None;
    for line in smaps.lines().map_while(Result::ok) {
        if let Some(range) = mapping_header(&line) {
            candidate = range;
        } else if let Some(kb) = line.strip_prefix("Anonymous:") {
            candidate = candidate.filter(|_| is_zero(kb));
        } else if let Some(kb) = line.strip_prefix("Swap:") {
            found.extend(candidate.take().filter(|_| is_zero(kb)));
        }
    }
    found
}

fn is_zero(kb: &str) -> bool {
    kb.trim() == "0 kB"
}

/// For a mapping's header line: `Some(Some(range))` when it is a private read-only mapping
/// of a file, `Some(None)` for any other mapping; `None` for the lines about a mapping.
fn mapping_header(line: &str) -> Option<Option<(usize, usize)>> {
    let mut fields = line.split_whitespace();
    let range = fields.next()?;
    let (start, end) = range.split_once('-')?;
    let (start, end) = (usize::from_str_radix(start, 16).ok()?, usize::from_str_radix(end, 16).ok()?);
    let perms = fields.next()?;
    let path = fields.nth(3).unwrap_or_default();
    let wanted = perms.len() == 4 && !perms.contains('w') && perms.ends_with('p') && path.starts_with('/');
    Some(wanted.then_some((start, end)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMAPS: &str = "\
556f83752000-556f838f3000 r--p 00000000 fd:01 123 /usr/bin/berth
Size:               1668 kB
Rss:                 448 kB
Anonymous:             0 kB
Swap:                  0 kB
556f838f3000-556f83f6d000 r-xp 001a1000 fd:01 123 /usr/bin/berth
Rss:                1128 kB
Anonymous:             0 kB
Swap:                  0 kB
556f83f6d000-556f83f96000 r--p 0081a000 fd:01 123 /usr/bin/berth
Rss:                 164 kB
Anonymous:           164 kB
Swap:                  0 kB
556f83f96000-556f83f99000 rw-p 00842000 fd:01 123 /usr/bin/berth
Anonymous:             8 kB
Swap:                  0 kB
556fb9dc6000-556fb9de7000 rw-p 00000000 00:00 0 [heap]
Anonymous:            48 kB
Swap:                  0 kB
7fc665f0b000-7fc665f0d000 r-xp 00000000 00:00 0 [vdso]
Anonymous:             0 kB
Swap:                  0 kB
7fc665f0e000-7fc665f10000 r--s 00000000 00:05 77 /dev/shared
Anonymous:             0 kB
Swap:                  0 kB
7fc665f20000-7fc665f30000 r--p 00000000 fd:01 124 /usr/lib/libswapped.so
Anonymous:             0 kB
Swap:                 12 kB
";

    #[test]
    fn only_clean_private_read_only_file_mappings() {
        let found = clean_read_only_mappings(SMAPS.as_bytes());
        assert_eq!(found, [(0x556f83752000, 0x556f838f3000), (0x556f838f3000, 0x556f83f6d000)]);
    }

    #[test]
    fn releasing_keeps_the_process_working() {
        release_idle_pages();
        let text: String = ["still", "here"].join(" ");
        assert_eq!(text, "still here");
    }
}
