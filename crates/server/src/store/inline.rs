//! Small bodies kept in the database (`blob_bytes`) instead of in files.
//!
//! A file blob costs a file creation, two fsyncs (file and directory) and a rename before its
//! row may be committed; for a few KiB that is nearly all of a PutObject's cost. A body of at
//! most the inline limit is instead inserted with its blob row, in the same transaction, so the
//! commit's single WAL fsync makes both durable together.
//!
//! Invariant: a blob row has either a `blob_bytes` row (inline) or a file under `blobs/`, never
//! both; the bytes row goes when the blob row does (`ON DELETE CASCADE`), so reference counting
//! and recovery treat both kinds alike, except that only file blobs have files to delete.

use rusqlite::{Connection, OptionalExtension, Transaction};

use super::blobs::BlobId;
use super::StoreError;

/// Default largest body stored inline.
pub const DEFAULT_INLINE_MAX: u64 = 64 * 1024;

/// The table, created by the schema (and on opening a version-1 database).
pub(crate) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS blob_bytes (
    id    TEXT PRIMARY KEY REFERENCES blobs(id) ON DELETE CASCADE,
    data  BLOB NOT NULL
);
";

/// Stores the bytes of blob `id`, whose row must exist.
pub(crate) fn insert(tx: &Transaction<'_>, id: &BlobId, data: &[u8]) -> Result<(), StoreError> {
    tx.prepare_cached("INSERT INTO blob_bytes (id, data) VALUES (?1, ?2)")?
        .execute(rusqlite::params![id.as_str(), data])?;
    Ok(())
}

/// The bytes of blob `id` if it is inline.
pub(crate) fn read(conn: &Connection, id: &BlobId) -> Result<Option<Vec<u8>>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT data FROM blob_bytes WHERE id = ?1")?
        .query_row([id.as_str()], |row| row.get(0))
        .optional()?)
}

/// Deletes the bytes of blob `id` if it is inline and holds its last reference; whether it
/// did (then the blob has no file to delete). Call it just before releasing that reference.
pub(crate) fn drop_if_last(tx: &Transaction<'_>, id: &BlobId) -> Result<bool, StoreError> {
    let n = tx
        .prepare_cached(
            "DELETE FROM blob_bytes WHERE id = ?1
               AND (SELECT refs FROM blobs WHERE id = ?1) = 1",
        )?
        .execute([id.as_str()])?;
    Ok(n == 1)
}
