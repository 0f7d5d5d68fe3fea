//! Bridges between async HTTP bodies and the blocking code of the image store: a request
//! body read as `std::io::Read`, and a response body written as `std::io::Write` or as a
//! stream of JSON messages. Chunks flow through bounded channels, so neither side buffers a
//! whole archive in memory.

use super::response::Body;
use berth_registry::distribution::ChannelReader;
use bytes::Bytes;
use futures_util::StreamExt;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::{Frame, Incoming};
use std::io::{self, Read, Write};

/// Chunks in flight between the two sides.
const DEPTH: usize = 16;

/// A request body as a blocking reader. Read it from a blocking thread only.
pub struct BodyReader(ChannelReader);

impl BodyReader {
    pub fn new(mut body: Incoming) -> BodyReader {
        let (tx, rx) = tokio::sync::mpsc::channel(DEPTH);
        tokio::spawn(async move {
            while let Some(frame) = body.frame().await {
                let chunk = match frame {
                    Ok(frame) => match frame.into_data() {
                        Ok(data) => Ok(data),
                        Err(_) => continue,
                    },
                    Err(e) => Err(io::Error::other(e)),
                };
                let failed = chunk.is_err();
                if tx.send(chunk).await.is_err() || failed {
                    break;
                }
            }
        });
        BodyReader(ChannelReader::new(rx))
    }
}

impl Read for BodyReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

/// A response body fed by a blocking writer. Dropping the writer ends the body.
pub struct BodyWriter {
    tx: tokio::sync::mpsc::Sender<io::Result<Bytes>>,
    buffer: Vec<u8>,
}

/// Bytes gathered before a chunk is sent.
const CHUNK: usize = 256 * 1024;

pub fn body_channel() -> (BodyWriter, Body) {
    let (tx, rx) = tokio::sync::mpsc::channel(DEPTH);
    let stream = tokio_stream_from(rx).map(|chunk: io::Result<Bytes>| chunk.map(Frame::data));
    (BodyWriter { tx, buffer: Vec::with_capacity(CHUNK) }, StreamBody::new(stream).boxed_unsync())
}

fn tokio_stream_from(
    mut rx: tokio::sync::mpsc::Receiver<io::Result<Bytes>>,
) -> impl futures_util::Stream<Item = io::Result<Bytes>> {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

impl BodyWriter {
    fn send(&mut self, data: Bytes) -> io::Result<()> {
        self.tx.blocking_send(Ok(data)).map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the client went away"))
    }

    /// Ends the body with an error, which aborts the response mid-stream.
    pub fn fail(mut self, error: io::Error) {
        let _ = self.flush();
        let _ = self.tx.blocking_send(Err(error));
    }
}

impl Write for BodyWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.buffer.extend_from_slice(buf);
        if self.buffer.len() >= CHUNK {
            self.flush()?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let data = Bytes::from(std::mem::replace(&mut self.buffer, Vec::with_capacity(CHUNK)));
        self.send(data)
    }
}

impl Drop for BodyWriter {
    fn drop(&mut self) {
        let _ = self.flush();
    }
}
