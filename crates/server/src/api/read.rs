//! Reading an object's bytes: a byte range over its manifest of blobs, chunk by chunk.
//! Used to stream GetObject bodies and to feed UploadPartCopy.

use std::io::{Read, Seek, SeekFrom};

use bytes::Bytes;

use crate::http::response::{self, Body};
use crate::store::{Segment, Store, StoreError};

/// Size of the chunks handed to the sink.
const CHUNK: usize = 256 * 1024;

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
            file.read_exact(&mut buf[..want])?;
            sink(&buf[..want])?;
            left -= want as u64;
        }
        seg_start = seg_end;
    }
    Ok(())
}

/// A response body streaming bytes `first..=last` of the object made of `manifest`.
pub fn stream(store: Store, manifest: Vec<Segment>, first: u64, last: u64) -> Body {
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(4);
    tokio::task::spawn_blocking(move || {
        let result = for_each_chunk(&store, &manifest, first, last, |chunk| {
            tx.blocking_send(Ok(Bytes::copy_from_slice(chunk)))
                .map_err(|_| {
                    StoreError::Io(std::io::Error::new(
                        std::io::ErrorKind::BrokenPipe,
                        "client went away",
                    ))
                })
        });
        if let Err(e) = result {
            tracing::warn!(error = %e, "object read failed mid-stream");
            let _ = tx.blocking_send(Err(std::io::Error::other(e.to_string())));
        }
    });
    response::channel_body(rx)
}
