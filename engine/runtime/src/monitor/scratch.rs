//! The event loop's read buffer in an anonymous mapping of its own: the kernel backs a page
//! only once a read has filled it, so the buffer of a quiet container costs nothing. (A heap
//! buffer is zeroed, every page of it, when it is allocated.)

use nix::sys::mman::{mmap_anonymous, munmap, MapFlags, ProtFlags};
use std::num::NonZeroUsize;
use std::ops::{Deref, DerefMut};
use std::ptr::NonNull;

pub struct Scratch {
    ptr: NonNull<u8>,
    len: NonZeroUsize,
}

impl Scratch {
    pub fn new(len: NonZeroUsize) -> nix::Result<Scratch> {
        let prot = ProtFlags::PROT_READ | ProtFlags::PROT_WRITE;
        // SAFETY: a new private mapping at an address the kernel picks overlaps nothing.
        let ptr = unsafe { mmap_anonymous(None, len, prot, MapFlags::MAP_PRIVATE) }?;
        Ok(Scratch { ptr: ptr.cast(), len })
    }
}

impl Deref for Scratch {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        // SAFETY: the mapping is `len` readable bytes (zeros until written), alive as long
        // as `self`, and only reached through `self`.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len.get()) }
    }
}

impl DerefMut for Scratch {
    fn deref_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `deref`, and `&mut self` makes this the only reference.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len.get()) }
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        // SAFETY: the mapping was made by `new` and no reference to it outlives `self`.
        let _ = unsafe { munmap(self.ptr.cast(), self.len.get()) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_as_zeros_and_keeps_writes() {
        let mut buf = Scratch::new(NonZeroUsize::new(32 * 1024).unwrap()).unwrap();
        assert!(buf.iter().all(|b| *b == 0));
        buf[4096..4099].copy_from_slice(b"abc");
        assert_eq!(&buf[4095..4100], b"\0abc\0");
    }
}
