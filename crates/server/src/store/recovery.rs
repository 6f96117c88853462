//! Start-up repair, run before the store serves anything.
//!
//! Invariant restored: `tmp/` holds no body file, every blob row's count equals the object
//! segments and upload parts naming it (rows left with none are dropped, with their inline
//! bytes), and every body file under `blobs/` is named by a blob row without inline bytes.
//! Crashes anywhere in the write path (tmp written, blob renamed but row not committed, row
//! committed but file not yet deleted) all end here in the same state; inline bodies commit
//! atomically with their rows. Only files named as the store names them (a blob id, in a shard
//! directory under `blobs/`) are ever removed; anything else is left alone and logged.

use std::collections::HashSet;
use std::fs;

use rusqlite::{Connection, TransactionBehavior};

use super::blobs::{BlobId, Layout};
use super::StoreError;

/// What start-up recovery found and repaired.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Files removed from `tmp/` (bodies that never finished).
    pub tmp_files_removed: usize,
    /// Files under `blobs/` that no row referenced, removed.
    pub orphan_blobs_removed: usize,
    /// Blob rows whose reference count was wrong and was corrected.
    pub counts_repaired: usize,
    /// Referenced file blobs whose file is missing (data loss outside our control; logged).
    pub missing_blobs: usize,
    /// Entries under `tmp/` or `blobs/` not named as the store names its files: not the
    /// store's, so left in place (logged).
    pub foreign_entries: usize,
}

/// Repairs `layout`'s data directory; see the module invariant.
pub(crate) fn recover(
    conn: &mut Connection,
    layout: &Layout,
) -> Result<RecoveryReport, StoreError> {
    let mut report = RecoveryReport::default();
    for entry in fs::read_dir(layout.tmp_dir())? {
        let entry = entry?;
        if is_body_file(&entry)? {
            fs::remove_file(entry.path())?;
            report.tmp_files_removed += 1;
        } else {
            report.foreign_entries += 1;
        }
    }

    let live: HashSet<String> = {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let counted = "(SELECT count(*) FROM object_parts WHERE blob = blobs.id)
                     + (SELECT count(*) FROM upload_parts WHERE blob = blobs.id)";
        report.counts_repaired = tx.execute(
            &format!("UPDATE blobs SET refs = {counted} WHERE refs != {counted}"),
            [],
        )?;
        // Inline bytes of dropped rows go with them (ON DELETE CASCADE).
        tx.execute("DELETE FROM blobs WHERE refs = 0", [])?;
        let ids = {
            let mut stmt = tx.prepare(
                "SELECT id FROM blobs
                 WHERE NOT EXISTS (SELECT 1 FROM blob_bytes WHERE blob_bytes.id = blobs.id)",
            )?;
            let rows = stmt.query_map([], |row| row.get::<_, String>(0))?;
            rows.collect::<Result<HashSet<_>, _>>()?
        };
        tx.commit()?;
        ids
    };

    let mut seen = 0usize;
    for shard in fs::read_dir(layout.blobs_dir())? {
        let shard = shard?;
        let shard_name = shard.file_name();
        let is_shard = shard_name.to_str().is_some_and(|n| {
            n.len() == 2 && n.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        });
        if !is_shard || !shard.file_type()?.is_dir() {
            report.foreign_entries += 1;
            continue;
        }
        for entry in fs::read_dir(shard.path())? {
            let entry = entry?;
            if !is_body_file(&entry)? {
                report.foreign_entries += 1;
                continue;
            }
            let name = entry.file_name();
            let name = name.to_str().unwrap_or_default();
            if live.contains(name) && shard_name.to_str() == name.get(..2) {
                seen += 1;
            } else {
                fs::remove_file(entry.path())?;
                report.orphan_blobs_removed += 1;
            }
        }
    }
    if report.foreign_entries > 0 {
        tracing::warn!(
            entries = report.foreign_entries,
            "the data directory's tmp/ or blobs/ holds entries the store did not create; left alone"
        );
    }
    report.missing_blobs = live.len().saturating_sub(seen);
    if report.missing_blobs > 0 {
        tracing::error!(
            missing = report.missing_blobs,
            "referenced blob files are missing from the data directory"
        );
    }
    if report != RecoveryReport::default() {
        tracing::info!(?report, "start-up recovery repaired the data directory");
    }
    Ok(report)
}

/// Whether a directory entry is a body file as the store names them: a regular file (never
/// a link or a directory) whose name is a blob id.
fn is_body_file(entry: &fs::DirEntry) -> Result<bool, StoreError> {
    let named = entry.file_name().to_str().and_then(BlobId::parse).is_some();
    Ok(named && entry.file_type()?.is_file())
}
