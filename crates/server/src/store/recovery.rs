//! Start-up repair, run before the store serves anything.
//!
//! Invariant restored: `tmp/` is empty, every blob row's count equals the object segments and
//! upload parts naming it (rows left with none are dropped, with their inline bytes), and every
//! file under `blobs/` is named by a blob row without inline bytes. Crashes anywhere in the
//! write path (tmp written, blob renamed but row not committed, row committed but file not yet
//! deleted) all end here in the same state; inline bodies commit atomically with their rows.

use std::collections::HashSet;
use std::fs;
use std::path::Path;

use rusqlite::{Connection, TransactionBehavior};

use super::blobs::Layout;
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
}

/// Repairs `layout`'s data directory; see the module invariant.
pub(crate) fn recover(
    conn: &mut Connection,
    layout: &Layout,
) -> Result<RecoveryReport, StoreError> {
    let mut report = RecoveryReport {
        tmp_files_removed: empty_dir(&layout.tmp_dir())?,
        ..RecoveryReport::default()
    };

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
        let shard_path = shard.path();
        if !shard.file_type()?.is_dir() {
            fs::remove_file(&shard_path)?;
            report.orphan_blobs_removed += 1;
            continue;
        }
        let shard_name = shard.file_name();
        for entry in fs::read_dir(&shard_path)? {
            let entry = entry?;
            let name = entry.file_name();
            let keep = match name.to_str() {
                Some(name) => {
                    live.contains(name)
                        && entry.file_type()?.is_file()
                        && shard_name.to_str() == name.get(..2)
                }
                None => false,
            };
            if keep {
                seen += 1;
            } else {
                remove_any(&entry.path())?;
                report.orphan_blobs_removed += 1;
            }
        }
    }
    report.missing_blobs = live.len() - seen;
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

/// Removes everything inside `dir`; returns how many entries it removed.
fn empty_dir(dir: &Path) -> Result<usize, StoreError> {
    let mut removed = 0;
    for entry in fs::read_dir(dir)? {
        remove_any(&entry?.path())?;
        removed += 1;
    }
    Ok(removed)
}

fn remove_any(path: &Path) -> Result<(), StoreError> {
    // symlink_metadata: a symlink is removed itself, never followed.
    if fs::symlink_metadata(path)?.is_dir() {
        fs::remove_dir_all(path)?;
    } else {
        fs::remove_file(path)?;
    }
    Ok(())
}
