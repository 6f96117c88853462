//! Reading an object's bytes: a byte range over its manifest of blobs, chunk by chunk.
//! Used to stream GetObject bodies and to feed UploadPartCopy.

use std::io::{Read, Seek, SeekFrom};

use bytes::Bytes;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;

use crate::http::response::Body;
use crate::store::{BlobReader, Segment, Store, StoreError};

/// Size of the chunks handed to the sink (and of each read for a response body).
const CHUNK: usize = 64 * 1024;

/// Calls `sink` with the bytes `first..=last` of the object made of `manifest`, in order.
/// Blocking: run it on the blocking pool.
pub fn for_each_chunk(
    store: &Store,
    manifest: &[Segment],
    first: u64,
    last: u64,
    mut sink: impl FnMut(&[u8]) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    let mut seg_start = 0u64;
    let mut buf = vec![0u8; CHUNK];
    for seg in manifest {
        let seg_end = seg_start + seg.size; // exclusive
        if seg_end <= first || seg.size == 0 {
            seg_start = seg_end;
            continue;
        }
        if seg_start > last {
            break;
        }
        let from = first.saturating_sub(seg_start);
        let to = (last + 1).min(seg_end) - seg_start; // exclusive, within the segment
        let mut file = store.open_blob(&seg.blob)?;
        file.seek(SeekFrom::Start(from))?;
        let mut left = to - from;
        while left > 0 {
            let want = (left as usize).min(CHUNK);
            let chunk = buf
                .get_mut(..want)
                .ok_or_else(|| std::io::Error::other("read chunk larger than its buffer"))?;
            file.read_exact(chunk)?;
            sink(chunk)?;
            left -= want as u64;
        }
        seg_start = seg_end;
    }
    Ok(())
}

/// A response body streaming bytes `first..=last` of the object made of `manifest`.
///
/// Each chunk is read by a short task on the blocking pool only when the connection asks for
/// more, so a peer that stops reading holds an open blob and a buffer, never a thread.
pub fn stream(store: Store, manifest: Vec<Segment>, first: u64, last: u64) -> Body {
    let cursor = BodyCursor {
        store,
        manifest,
        segment: 0,
        segment_start: 0,
        next: first,
        last,
        reader: None,
    };
    let chunks = futures_util::stream::unfold(Some(cursor), |cursor| async move {
        let mut cursor = cursor?;
        let read = tokio::task::spawn_blocking(move || {
            let chunk = cursor.read_chunk();
            (cursor, chunk)
        })
        .await;
        match read {
            Ok((_, Ok(None))) => None,
            Ok((cursor, Ok(Some(chunk)))) => Some((Ok(Frame::data(chunk)), Some(cursor))),
            Ok((_, Err(e))) => {
                tracing::warn!(error = %e, "object read failed mid-stream");
                Some((Err(std::io::Error::other(e.to_string())), None))
            }
            Err(e) => Some((Err(std::io::Error::other(e.to_string())), None)),
        }
    });
    BodyExt::boxed(StreamBody::new(chunks))
}

/// Where a streamed body stands: the segment being read and the next byte to send.
struct BodyCursor {
    store: Store,
    manifest: Vec<Segment>,
    /// Index in `manifest` of the segment holding `next`.
    segment: usize,
    /// Object offset of that segment's first byte.
    segment_start: u64,
    /// Object offset of the next byte to send.
    next: u64,
    /// Last object offset to send (inclusive).
    last: u64,
    /// The open blob of `segment`, positioned at `next`.
    reader: Option<BlobReader>,
}

impl BodyCursor {
    /// Reads the next chunk (at most [`CHUNK`] bytes, never across a segment end); `None`
    /// once the range is sent. Blocking.
    fn read_chunk(&mut self) -> Result<Option<Bytes>, StoreError> {
        if self.next > self.last {
            return Ok(None);
        }
        let (blob, segment_end) = loop {
            let Some(seg) = self.manifest.get(self.segment) else {
                return Err(StoreError::Io(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "the manifest ends before the range",
                )));
            };
            let end = self.segment_start + seg.size; // exclusive
            if end > self.next {
                break (&seg.blob, end);
            }
            self.segment += 1;
            self.segment_start = end;
            self.reader = None;
        };
        let reader = match &mut self.reader {
            Some(r) => r,
            None => {
                let mut r = self.store.open_blob(blob)?;
                r.seek(SeekFrom::Start(self.next - self.segment_start))?;
                self.reader.insert(r)
            }
        };
        let want = (segment_end.min(self.last + 1) - self.next).min(CHUNK as u64) as usize;
        let mut buf = vec![0u8; want];
        reader.read_exact(&mut buf)?;
        self.next += want as u64;
        Ok(Some(Bytes::from(buf)))
    }
}
