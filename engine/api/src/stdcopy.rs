//! The attach and logs stream framing of API 1.6+: each chunk is preceded by 8 bytes —
//! the stream (0 stdin, 1 stdout, 2 stderr), three zero bytes, and the length as a big-endian
//! u32 — so stdout and stderr can share one connection. A tty's stream is raw instead.

pub const STDIN: u8 = 0;
pub const STDOUT: u8 = 1;
pub const STDERR: u8 = 2;

/// A framed chunk: header then data.
pub fn frame(stream: u8, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 8);
    out.extend_from_slice(&[stream, 0, 0, 0]);
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(data);
    out
}

/// Splits a framed byte stream back into (stream, data) chunks as bytes arrive.
#[derive(Debug, Default)]
pub struct Demux {
    buffer: Vec<u8>,
}

impl Demux {
    /// Adds bytes and returns every chunk now complete.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<(u8, Vec<u8>)> {
        self.buffer.extend_from_slice(bytes);
        let mut out = Vec::new();
        loop {
            if self.buffer.len() < 8 {
                break;
            }
            let len = u32::from_be_bytes([self.buffer[4], self.buffer[5], self.buffer[6], self.buffer[7]]) as usize;
            if self.buffer.len() < 8 + len {
                break;
            }
            let stream = self.buffer[0];
            let data = self.buffer[8..8 + len].to_vec();
            self.buffer.drain(..8 + len);
            out.push((stream, data));
        }
        out
    }

    /// Bytes of an incomplete chunk still held.
    pub fn pending(&self) -> usize {
        self.buffer.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn header_layout() {
        assert_eq!(frame(STDERR, b"hi"), [2, 0, 0, 0, 0, 0, 0, 2, b'h', b'i']);
    }

    proptest! {
        #[test]
        fn demux_undoes_frame_at_any_split(chunks in proptest::collection::vec((1u8..3, proptest::collection::vec(any::<u8>(), 0..50)), 0..8), split in 0usize..400) {
            let bytes: Vec<u8> = chunks.iter().flat_map(|(s, d)| frame(*s, d)).collect();
            let at = split.min(bytes.len());
            let mut demux = Demux::default();
            let mut got = demux.push(&bytes[..at]);
            got.extend(demux.push(&bytes[at..]));
            prop_assert_eq!(got, chunks);
            prop_assert_eq!(demux.pending(), 0);
        }
    }
}
