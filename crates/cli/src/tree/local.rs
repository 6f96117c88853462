//! The local side of a tree: a depth-first walk that yields files in the byte order of their
//! relative paths (`/`-separated), the same order in which OSS lists keys, so both sides can be
//! merged without holding either in memory. Within each directory, entries are sorted by name,
//! a directory's name counting as `name/`; that makes the depth-first order the key order.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use walkdir::{DirEntry, WalkDir};

/// Suffix of the temporary files downloads write before renaming them into place; the walk
/// never reports them as part of the tree.
pub use osspart::download::PARTIAL_SUFFIX;

/// One thing the walk found, in key order of `rel`.
#[derive(Debug, Clone)]
pub enum LocalItem {
    /// A regular file (or, with `--follow-symlinks`, what a link points to).
    File(LocalFile),
    /// Something left out on purpose, with the reason (symbolic link, empty directory, ...).
    Skipped {
        /// Relative path (a directory's ends in `/`).
        rel: String,
        /// Why it was left out.
        why: String,
    },
    /// A path that cannot become a key (its name is not UTF-8); reported, never compared.
    Unnamed {
        /// The path on disk.
        path: PathBuf,
        /// Why it cannot be named.
        why: String,
    },
    /// Something that could not be read; the objects it would match are never deleted.
    Unreadable {
        /// Relative path as far as it could be named.
        rel: String,
        /// What went wrong.
        why: String,
    },
}

impl LocalItem {
    /// The relative path this item stands for, in key order; `None` for an unnamed path.
    pub fn rel(&self) -> Option<&str> {
        match self {
            LocalItem::File(f) => Some(&f.rel),
            LocalItem::Skipped { rel, .. } | LocalItem::Unreadable { rel, .. } => Some(rel),
            LocalItem::Unnamed { .. } => None,
        }
    }
}

/// A file of the tree.
#[derive(Debug, Clone)]
pub struct LocalFile {
    /// Path relative to the root, `/`-separated.
    pub rel: String,
    /// Path on disk.
    pub path: PathBuf,
    /// Size in bytes.
    pub size: u64,
    /// Modification time.
    pub mtime: SystemTime,
}

/// Walks `root` in key order, calling `emit` for each item until it returns `false`.
/// `follow_symlinks` follows links to files and directories (loops are reported, not
/// followed). Blocking: run it on a blocking thread.
pub fn walk(root: &Path, follow_symlinks: bool, mut emit: impl FnMut(LocalItem) -> bool) {
    let walker = WalkDir::new(root)
        .min_depth(1)
        .follow_links(follow_symlinks)
        .sort_by(|a, b| order_key(a).cmp(&order_key(b)));
    // A directory seen last whose first child has not shown up yet.
    let mut pending_dir: Option<(usize, String)> = None;
    let mut entries = walker.into_iter();
    while let Some(entry) = entries.next() {
        let depth = match &entry {
            Ok(e) => e.depth(),
            Err(e) => e.depth(),
        };
        if let Some((dir_depth, rel)) = pending_dir.take() {
            let had_child = depth == dir_depth + 1 && entry.is_ok();
            if !had_child
                && !emit(LocalItem::Skipped {
                    rel,
                    why: "empty directory".into(),
                })
            {
                return;
            }
        }
        let item = match entry {
            Err(e) => {
                let path = e.path().map(Path::to_path_buf).unwrap_or_default();
                match relative(root, &path) {
                    Some(mut rel) => {
                        if path.is_dir() {
                            rel.push('/');
                        }
                        LocalItem::Unreadable {
                            rel,
                            why: io_reason(&e),
                        }
                    }
                    None => LocalItem::Unnamed {
                        path,
                        why: io_reason(&e),
                    },
                }
            }
            Ok(e) => {
                let Some(rel) = relative(root, e.path()) else {
                    if e.file_type().is_dir() {
                        entries.skip_current_dir();
                    }
                    let item = LocalItem::Unnamed {
                        path: e.path().to_path_buf(),
                        why: "the name is not valid UTF-8, so it cannot be a key".into(),
                    };
                    if !emit(item) {
                        return;
                    }
                    continue;
                };
                let kind = e.file_type();
                if kind.is_dir() {
                    pending_dir = Some((e.depth(), format!("{rel}/")));
                    continue;
                }
                if kind.is_symlink() {
                    LocalItem::Skipped {
                        rel,
                        why: "symbolic link (use --follow-symlinks to follow it)".into(),
                    }
                } else if !kind.is_file() {
                    LocalItem::Skipped {
                        rel,
                        why: "not a regular file".into(),
                    }
                } else if rel.ends_with(PARTIAL_SUFFIX) {
                    continue;
                } else {
                    match e.metadata() {
                        Ok(m) => LocalItem::File(LocalFile {
                            rel,
                            path: e.into_path(),
                            size: m.len(),
                            mtime: m.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                        }),
                        Err(err) => LocalItem::Unreadable {
                            rel,
                            why: io_reason(&err),
                        },
                    }
                }
            }
        };
        if !emit(item) {
            return;
        }
    }
    if let Some((_, rel)) = pending_dir {
        emit(LocalItem::Skipped {
            rel,
            why: "empty directory".into(),
        });
    }
}

/// Items a walk hands over at once: one channel message per batch instead of per file.
pub const BATCH: usize = 256;

/// The receiving end of a walk that sends its items in batches.
#[derive(Debug)]
pub struct LocalFeed {
    batches: tokio::sync::mpsc::Receiver<Vec<LocalItem>>,
    current: std::vec::IntoIter<LocalItem>,
}

impl LocalFeed {
    /// Reads items from `batches`.
    pub fn new(batches: tokio::sync::mpsc::Receiver<Vec<LocalItem>>) -> LocalFeed {
        LocalFeed {
            batches,
            current: Vec::new().into_iter(),
        }
    }

    /// The next item in walk order; `None` once the walk ended.
    pub async fn next(&mut self) -> Option<LocalItem> {
        loop {
            if let Some(item) = self.current.next() {
                return Some(item);
            }
            self.current = self.batches.recv().await?.into_iter();
        }
    }
}

/// Walks `root` like [`walk`], sending items to `out` in batches of [`BATCH`]; stops early
/// when the receiver is gone. Blocking: run it on a blocking thread.
pub fn walk_into(
    root: &Path,
    follow_symlinks: bool,
    out: tokio::sync::mpsc::Sender<Vec<LocalItem>>,
) {
    let mut batch = Vec::with_capacity(BATCH);
    let mut open = true;
    walk(root, follow_symlinks, |item| {
        batch.push(item);
        if batch.len() == BATCH {
            open = out
                .blocking_send(std::mem::replace(&mut batch, Vec::with_capacity(BATCH)))
                .is_ok();
        }
        open
    });
    if open && !batch.is_empty() {
        let _ = out.blocking_send(batch);
    }
}

/// The name a walk sorts by: a directory's name ends in `/`.
fn order_key(e: &DirEntry) -> Vec<u8> {
    let mut key = e.file_name().as_encoded_bytes().to_vec();
    if e.file_type().is_dir() {
        key.push(b'/');
    }
    key
}

/// `path` relative to `root` with `/` separators; `None` when a component is not UTF-8 (or
/// `path` is not under `root`).
fn relative(root: &Path, path: &Path) -> Option<String> {
    let rel = path.strip_prefix(root).ok()?;
    let mut out = String::new();
    for c in rel.components() {
        if !out.is_empty() {
            out.push('/');
        }
        out.push_str(c.as_os_str().to_str()?);
    }
    Some(out)
}

/// The message of a walk or metadata error.
fn io_reason(e: &dyn std::fmt::Display) -> String {
    e.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(root: &Path, follow: bool) -> Vec<(String, &'static str)> {
        let mut out = Vec::new();
        walk(root, follow, |item| {
            out.push(match item {
                LocalItem::File(f) => (f.rel, "file"),
                LocalItem::Skipped { rel, .. } => (rel, "skipped"),
                LocalItem::Unreadable { rel, .. } => (rel, "unreadable"),
                LocalItem::Unnamed { path, .. } => (path.display().to_string(), "unnamed"),
            });
            true
        });
        out
    }

    #[test]
    fn walks_in_key_order() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for f in ["a-b", "a/x", "a/y/z", "ab", "b", "a.txt", "é", "sp ace/f"] {
            let p = root.join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, f).unwrap();
        }
        std::fs::create_dir_all(root.join("empty")).unwrap();
        std::fs::write(root.join(format!("c{PARTIAL_SUFFIX}")), "x").unwrap();
        let got = collect(root, false);
        let rels: Vec<&str> = got.iter().map(|(r, _)| r.as_str()).collect();
        let mut sorted = rels.clone();
        sorted.sort();
        assert_eq!(rels, sorted, "byte order of the relative paths");
        assert_eq!(
            got,
            vec![
                ("a-b".into(), "file"),
                ("a.txt".into(), "file"),
                ("a/x".into(), "file"),
                ("a/y/z".into(), "file"),
                ("ab".into(), "file"),
                ("b".into(), "file"),
                ("empty/".into(), "skipped"),
                ("sp ace/f".into(), "file"),
                ("é".into(), "file"),
            ]
        );
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_are_skipped_unless_followed_and_loops_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("d")).unwrap();
        std::fs::write(root.join("d/f"), "x").unwrap();
        std::os::unix::fs::symlink(root.join("d/f"), root.join("link")).unwrap();
        std::os::unix::fs::symlink(root, root.join("d/loop")).unwrap();
        let plain = collect(root, false);
        assert!(plain.contains(&("link".into(), "skipped")), "{plain:?}");
        assert!(plain.contains(&("d/loop".into(), "skipped")), "{plain:?}");
        let followed = collect(root, true);
        assert!(followed.contains(&("link".into(), "file")), "{followed:?}");
        assert!(
            followed
                .iter()
                .any(|(r, k)| r.starts_with("d/loop") && *k == "unreadable"),
            "{followed:?}"
        );
    }

    #[cfg(unix)]
    #[test]
    fn non_utf8_names_are_reported() {
        use std::os::unix::ffi::OsStrExt;
        let dir = tempfile::tempdir().unwrap();
        let name = std::ffi::OsStr::from_bytes(b"bad\xff");
        std::fs::write(dir.path().join(name), "x").unwrap();
        std::fs::write(dir.path().join("good"), "x").unwrap();
        let got = collect(dir.path(), false);
        assert_eq!(got.len(), 2);
        assert!(got.iter().any(|(_, k)| *k == "unnamed"));
        assert!(got.contains(&("good".into(), "file")));
    }
}
