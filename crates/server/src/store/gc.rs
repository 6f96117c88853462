//! Reference counts of blobs and the deletion of blobs nobody references.
//!
//! Invariant: a blob row's `refs` equals the number of object segments and upload parts that
//! name it, and a blob file is deleted only after the transaction that dropped its last
//! reference has committed. A crash between that commit and the deletion leaves an
//! unreferenced file, which start-up recovery removes; it can never leave a row pointing at a
//! missing file.

use rusqlite::{params, Transaction};

use super::blobs::{BlobId, FinishedBlob, Layout};
use super::inline;
use super::StoreError;

/// Records a newly finished blob with one reference, and its bytes if it is inline.
pub(crate) fn record(tx: &Transaction<'_>, blob: &FinishedBlob) -> Result<(), StoreError> {
    insert(tx, &blob.id, blob.size)?;
    if let Some(bytes) = blob.inline_bytes() {
        inline::insert(tx, &blob.id, bytes)?;
    }
    Ok(())
}

/// Adds a blob row with one reference.
pub(crate) fn insert(tx: &Transaction<'_>, id: &BlobId, size: u64) -> Result<(), StoreError> {
    tx.prepare_cached("INSERT INTO blobs (id, size, refs) VALUES (?1, ?2, 1)")?
        .execute(params![id.as_str(), size as i64])?;
    Ok(())
}

/// Adds one reference to each blob (a copy sharing them).
pub(crate) fn retain<'a>(
    tx: &Transaction<'_>,
    ids: impl IntoIterator<Item = &'a BlobId>,
) -> Result<(), StoreError> {
    let mut stmt = tx.prepare_cached("UPDATE blobs SET refs = refs + 1 WHERE id = ?1")?;
    for id in ids {
        if stmt.execute([id.as_str()])? != 1 {
            return Err(StoreError::Corrupt(format!("blob {id} has no row")));
        }
    }
    Ok(())
}

/// Drops one reference from each blob; those left with none lose their row (and inline bytes);
/// file blobs among them are pushed onto `dead`, to be deleted by [`delete_files`] once the
/// transaction commits. Call it after
/// the rows that referenced the blobs are gone.
pub(crate) fn release<'a>(
    tx: &Transaction<'_>,
    ids: impl IntoIterator<Item = &'a BlobId>,
    dead: &mut Vec<BlobId>,
) -> Result<(), StoreError> {
    // Most blobs have exactly one reference, so try the delete first.
    let mut last = tx.prepare_cached("DELETE FROM blobs WHERE id = ?1 AND refs = 1")?;
    let mut dec =
        tx.prepare_cached("UPDATE blobs SET refs = refs - 1 WHERE id = ?1 AND refs > 1")?;
    for id in ids {
        let inline = inline::drop_if_last(tx, id)?;
        if last.execute([id.as_str()])? == 1 {
            if !inline {
                dead.push(id.clone());
            }
        } else if dec.execute([id.as_str()])? != 1 {
            return Err(StoreError::Corrupt(format!(
                "blob {id} released more often than referenced"
            )));
        }
    }
    Ok(())
}

/// Deletes the files of committed-dead blobs. Best effort: a file that cannot be removed now
/// is unreferenced and will be removed by the next start-up recovery.
pub(crate) fn delete_files(layout: &Layout, dead: &[BlobId]) {
    for id in dead {
        if let Err(e) = std::fs::remove_file(layout.blob_path(id)) {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(blob = %id, error = %e, "could not delete unreferenced blob");
            }
        }
    }
}
