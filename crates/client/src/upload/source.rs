//! What an upload reads from: a file (positioned reads, resumable), bytes in memory, or any
//! `AsyncRead` of unknown length such as stdin.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncReadExt};

use crate::error::{Error, Result};

/// The data to upload.
pub enum Source {
    /// A file, read part by part with positioned reads.
    File(PathBuf),
    /// Bytes already in memory.
    Bytes(Bytes),
    /// A stream of unknown length, read once in order.
    Reader(Box<dyn AsyncRead + Send + Unpin>),
    /// A blocking stream of unknown length (stdin, a pipe), read once in order; each part is
    /// read on a blocking thread straight into its buffer, which costs far less CPU than
    /// small async reads that each hop threads.
    BlockingReader(Box<dyn std::io::Read + Send>),
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::File(p) => f.debug_tuple("File").field(p).finish(),
            Source::Bytes(b) => f.debug_tuple("Bytes").field(&b.len()).finish(),
            Source::Reader(_) => f.write_str("Reader"),
            Source::BlockingReader(_) => f.write_str("BlockingReader"),
        }
    }
}

impl Source {
    /// A stream source.
    pub fn reader(r: impl AsyncRead + Send + Unpin + 'static) -> Source {
        Source::Reader(Box::new(r))
    }

    /// A blocking stream source, such as `std::io::stdin()`.
    pub fn blocking_reader(r: impl std::io::Read + Send + 'static) -> Source {
        Source::BlockingReader(Box::new(r))
    }

    /// Whether the source is a stream of unknown length (not resumable).
    pub fn is_stream(&self) -> bool {
        matches!(self, Source::Reader(_) | Source::BlockingReader(_))
    }
}

impl From<&Path> for Source {
    fn from(p: &Path) -> Self {
        Source::File(p.to_owned())
    }
}

impl From<PathBuf> for Source {
    fn from(p: PathBuf) -> Self {
        Source::File(p)
    }
}

impl From<&str> for Source {
    fn from(p: &str) -> Self {
        Source::File(PathBuf::from(p))
    }
}

impl From<Bytes> for Source {
    fn from(b: Bytes) -> Self {
        Source::Bytes(b)
    }
}

impl From<Vec<u8>> for Source {
    fn from(b: Vec<u8>) -> Self {
        Source::Bytes(Bytes::from(b))
    }
}

impl Source {
    /// Fills `buf` with the next bytes of a stream (fewer at its end) and hands them back;
    /// files are read while they are sent and in-memory bytes are sliced, not read.
    pub(crate) async fn read_part(&mut self, mut buf: Vec<u8>) -> Result<Bytes> {
        let n = match self {
            Source::Reader(r) => read_full(r, &mut buf).await?,
            Source::BlockingReader(r) => {
                let mut reader = std::mem::replace(r, Box::new(std::io::empty()));
                let (reader, filled, n) = tokio::task::spawn_blocking(move || {
                    let n = read_full_blocking(&mut *reader, &mut buf);
                    (reader, buf, n)
                })
                .await
                .map_err(|e| Error::Io(std::io::Error::other(e)))?;
                *r = reader;
                buf = filled;
                n?
            }
            Source::File(_) | Source::Bytes(_) => {
                return Err(Error::InvalidArgument(
                    "file and in-memory parts are not read into buffers".into(),
                ))
            }
        };
        buf.truncate(n);
        Ok(Bytes::from(buf))
    }
}

/// Fills `buf` from a blocking stream; returns how many bytes were read (less at the end).
fn read_full_blocking(r: &mut (dyn std::io::Read + Send), buf: &mut [u8]) -> Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match r.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(filled)
}

/// Fills `buf` from a stream; returns how many bytes were read (less at the end).
async fn read_full(
    r: &mut (dyn tokio::io::AsyncRead + Send + Unpin),
    buf: &mut [u8],
) -> Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        let n = r.read(&mut buf[filled..]).await?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    Ok(filled)
}
