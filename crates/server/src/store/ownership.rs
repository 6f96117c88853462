//! Which directory the store may treat as its own, and the private modes of what it creates.
//!
//! Invariant: the store creates, changes or removes anything in a data directory only once
//! that directory holds the marker file [`MARKER`]. The marker is written only into a
//! directory that was missing or empty (a new store) or that already holds a `meta.db` with
//! this store's tables (a store made before the marker existed). Any other directory is
//! refused untouched, so start-up recovery can never delete a user's files.
//!
//! On Unix every directory the store creates is `0700` and every file `0600`: object bodies
//! and metadata are readable by the server's user alone.

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::path::Path;

use rusqlite::{Connection, OpenFlags};

use super::blobs::{sync_dir, Layout};
use super::StoreError;

/// Name of the marker file in the data directory.
pub(crate) const MARKER: &str = "osspart-store";

/// Layout version the marker records; a store with a larger one is refused.
const FORMAT: u32 = 1;

/// The marker's whole content for [`FORMAT`].
fn marker_text() -> String {
    format!("{MARKER} {FORMAT}\n")
}

/// Makes sure `layout`'s root is this store's to use, creating it (private) and its marker
/// when it is missing or empty; see the module invariant. Refuses any other directory with
/// [`StoreError::NotAStore`].
pub(crate) fn claim(layout: &Layout) -> Result<(), StoreError> {
    let root = layout.root();
    let marker = root.join(MARKER);
    match fs::read_to_string(&marker) {
        Ok(text) => return check_marker(root, &text, layout),
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => return Err(e.into()),
    }
    let empty = match fs::read_dir(root) {
        Ok(mut entries) => entries.next().is_none(),
        Err(e) if e.kind() == ErrorKind::NotFound => {
            private_dir_builder().recursive(true).create(root)?;
            true
        }
        Err(e) => return Err(e.into()),
    };
    if empty {
        set_private_dir(root)?;
        // The marker first: whatever a crash leaves after it is the store's own.
        write_marker(root)?;
        // An empty file is an empty SQLite database; creating it here gives it (and the WAL
        // files SQLite derives from it) the private mode.
        private_file_options()
            .write(true)
            .create(true)
            .truncate(false)
            .open(layout.db_path())?;
        return Ok(());
    }
    if !holds_store_database(layout) {
        return Err(StoreError::NotAStore {
            dir: root.to_path_buf(),
            reason: format!(
                "it is not empty and has neither an {MARKER} marker nor an osspart meta.db"
            ),
        });
    }
    write_marker(root)
}

/// Accepts a marker of a format this server knows; rewrites one a crash left unfinished.
fn check_marker(root: &Path, text: &str, layout: &Layout) -> Result<(), StoreError> {
    let full = marker_text();
    if full.starts_with(text) && text != full {
        // Torn while being written: the marker's name alone says the directory is ours.
        if holds_store_database(layout) || only_marker(root)? {
            return write_marker(root);
        }
    }
    let version = text
        .strip_prefix(MARKER)
        .map(str::trim)
        .and_then(|v| v.parse::<u32>().ok());
    match version {
        Some(v) if v <= FORMAT => Ok(()),
        Some(v) => Err(StoreError::NotAStore {
            dir: root.to_path_buf(),
            reason: format!("its {MARKER} marker names layout {v}, newer than this server's"),
        }),
        None => Err(StoreError::NotAStore {
            dir: root.to_path_buf(),
            reason: format!("its {MARKER} file is not a marker this server wrote"),
        }),
    }
}

/// Whether the directory holds nothing but the marker.
fn only_marker(root: &Path) -> Result<bool, StoreError> {
    for entry in fs::read_dir(root)? {
        if entry?.file_name() != MARKER {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Whether `meta.db` exists and has this store's tables; opened read-only, never changed.
fn holds_store_database(layout: &Layout) -> bool {
    let path = layout.db_path();
    if !path.is_file() {
        return false;
    }
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let Ok(conn) = Connection::open_with_flags(&path, flags) else {
        return false;
    };
    let tables = ["buckets", "objects", "blobs"];
    tables.iter().all(|table| {
        conn.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1")
            .and_then(|mut stmt| stmt.exists([table]))
            .unwrap_or(false)
    })
}

/// Writes the marker durably (file and directory entry).
fn write_marker(root: &Path) -> Result<(), StoreError> {
    let mut file = private_file_options()
        .write(true)
        .create(true)
        .truncate(true)
        .open(root.join(MARKER))?;
    file.write_all(marker_text().as_bytes())?;
    file.sync_all()?;
    sync_dir(root)
}

/// Options that create files readable and writable by the owner alone (Unix `0600`).
pub(crate) fn private_file_options() -> OpenOptions {
    #[allow(unused_mut)] // only changed on Unix
    let mut options = File::options();
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
}

/// A builder that creates directories usable by the owner alone (Unix `0700`).
pub(crate) fn private_dir_builder() -> DirBuilder {
    #[allow(unused_mut)] // only changed on Unix
    let mut builder = DirBuilder::new();
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
}

/// Narrows a directory the store has just claimed to its owner (Unix `0700`).
fn set_private_dir(dir: &Path) -> Result<(), StoreError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}
