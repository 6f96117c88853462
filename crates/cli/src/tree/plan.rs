//! Deciding what a tree transfer does: both sides are merged in key order (the local walk
//! and the paginated listing, neither held in memory) and each path becomes one [`Step`].
//! Equal paths are compared by size and modification time (default), CRC-64
//! (`--checksum`) or size alone (`--size-only`); a HEAD is sent only when the listing cannot
//! settle it.

use std::path::PathBuf;
use std::time::SystemTime;

use anyhow::bail;
use futures_util::{Stream, StreamExt};
use osspart::Client;
use osspart_protocol::crc64;
use tokio::sync::mpsc;

use super::filter::Filter;
use super::local::{LocalFeed, LocalFile, LocalItem};
use super::mtime;
use super::remote::RemoteObject;

/// Which way the tree goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Local directory to OSS.
    Up,
    /// OSS to a local directory.
    Down,
}

/// How two copies of a path are found equal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compare {
    /// Same size and same modification time (the object's `mtime` metadata, else its
    /// Last-Modified).
    SizeAndMtime,
    /// Same size and same CRC-64.
    Checksum,
    /// Same size.
    SizeOnly,
}

/// Two sides of one path, as the merge pairs them.
#[derive(Debug)]
pub enum Pair {
    /// Only the local side has it.
    Local(LocalFile),
    /// Only OSS has it; `protected` when the local side could not be read there.
    Remote {
        /// The object.
        object: RemoteObject,
        /// Never delete it: the local side was unreadable or skipped at this path.
        protected: bool,
    },
    /// Both have it.
    Both(LocalFile, RemoteObject),
    /// A local path that is not a file to transfer (skipped or unreadable).
    Note(LocalItem),
}

/// What to do with one path.
#[derive(Debug)]
pub enum Step {
    /// Send the local file to its key.
    Upload(LocalFile),
    /// Fetch the object into the local tree.
    Download(RemoteObject),
    /// Delete the object (`--delete`).
    DeleteRemote(RemoteObject),
    /// Delete the local file (`--delete`).
    DeleteLocal(LocalFile),
    /// Nothing to do.
    Skip {
        /// Relative path.
        rel: String,
        /// Size, when it is a file.
        size: Option<u64>,
        /// Why, when it is not simply unchanged.
        why: Option<String>,
    },
    /// The path cannot be transferred.
    Fail {
        /// Relative path (or the local path when it has no name).
        rel: String,
        /// What went wrong.
        why: String,
    },
}

/// Merges the local items and the listing by relative path, dropping what the filter leaves
/// out, and sends the pairs to `out`. Fails (before any pair out of order) when either side is
/// not in key order, since a merge of unordered sides would delete the wrong things.
pub async fn merge<S>(
    mut local: LocalFeed,
    remote: S,
    filter: &Filter,
    out: mpsc::Sender<Pair>,
) -> anyhow::Result<()>
where
    S: Stream<Item = osspart::Result<RemoteObject>>,
{
    let mut remote = std::pin::pin!(remote
        .filter(|r| { std::future::ready(r.as_ref().map_or(true, |o| filter.includes(&o.rel))) }));
    let mut l = recv_local(&mut local, filter).await;
    let mut r = remote.next().await.transpose()?;
    let mut last_local = String::new();
    let mut last_remote = String::new();
    // Objects at or under this path are never deleted: the local side could not be read there.
    let mut protect: Option<String> = None;
    loop {
        let pair = match (l.take(), r.take()) {
            (None, None) => return Ok(()),
            (Some(item), remote_head) => {
                let local_rel = item.rel().map(str::to_owned);
                let before_remote = match (&local_rel, &remote_head) {
                    (None, _) | (_, None) => true,
                    (Some(a), Some(b)) => a.as_str() <= b.rel.as_str(),
                };
                if let Some(rel) = &local_rel {
                    if rel.as_str() < last_local.as_str() {
                        bail!("the local walk went out of order at {rel:?}; stopping before anything is deleted");
                    }
                }
                if !before_remote {
                    l = Some(item);
                    let object = remote_head.expect("checked above");
                    r = next_remote(&mut remote, &mut last_remote, &object).await?;
                    let protected = protect.as_deref().is_some_and(|p| covers(p, &object.rel));
                    Pair::Remote { object, protected }
                } else {
                    if let Some(rel) = local_rel {
                        last_local = rel;
                    }
                    l = recv_local(&mut local, filter).await;
                    match item {
                        LocalItem::File(file) => match remote_head {
                            Some(object) if object.rel == file.rel => {
                                r = next_remote(&mut remote, &mut last_remote, &object).await?;
                                Pair::Both(file, object)
                            }
                            other => {
                                r = other;
                                Pair::Local(file)
                            }
                        },
                        other => {
                            r = remote_head;
                            if !matches!(&other, LocalItem::Skipped { rel, .. } if rel.ends_with('/'))
                            {
                                protect = other.rel().map(str::to_owned);
                            }
                            Pair::Note(other)
                        }
                    }
                }
            }
            (None, Some(object)) => {
                r = next_remote(&mut remote, &mut last_remote, &object).await?;
                let protected = protect.as_deref().is_some_and(|p| covers(p, &object.rel));
                Pair::Remote { object, protected }
            }
        };
        if out.send(pair).await.is_err() {
            return Ok(());
        }
    }
}

/// The next local item the filter keeps (notes are always kept).
async fn recv_local(local: &mut LocalFeed, filter: &Filter) -> Option<LocalItem> {
    loop {
        let item = local.next().await?;
        match &item {
            LocalItem::File(f) if !filter.includes(&f.rel) => continue,
            LocalItem::Skipped { rel, .. } | LocalItem::Unreadable { rel, .. }
                if !rel.ends_with('/') && !filter.includes(rel) =>
            {
                continue
            }
            _ => return Some(item),
        }
    }
}

/// The listing's next object, checked to come after `current`.
async fn next_remote<S>(
    remote: &mut std::pin::Pin<&mut S>,
    last: &mut String,
    current: &RemoteObject,
) -> anyhow::Result<Option<RemoteObject>>
where
    S: Stream<Item = osspart::Result<RemoteObject>>,
{
    if current.rel.as_str() < last.as_str() {
        bail!(
            "the listing went out of order at {:?}; stopping before anything is deleted",
            current.key
        );
    }
    last.clone_from(&current.rel);
    Ok(remote.next().await.transpose()?)
}

/// Whether a local path `p` (a directory when it ends in `/`) covers relative path `rel`.
fn covers(p: &str, rel: &str) -> bool {
    rel == p
        || rel
            .strip_prefix(p.trim_end_matches('/'))
            .is_some_and(|rest| rest.starts_with('/'))
}

/// Turns one pair into a step, asking the service (HEAD) or reading the file only when the
/// comparison needs it.
pub async fn decide(
    pair: Pair,
    direction: Direction,
    compare: Compare,
    delete: bool,
    client: &Client,
) -> Step {
    match (pair, direction) {
        (Pair::Note(item), Direction::Up) => note_step(item),
        // The destination's own oddities are not part of a download.
        (Pair::Note(item), Direction::Down) => match item {
            LocalItem::Unnamed { .. } => note_step(item),
            other => Step::Skip {
                rel: other.rel().unwrap_or_default().to_owned(),
                size: None,
                why: Some("not a file in the destination".into()),
            },
        },
        (Pair::Local(file), Direction::Up) => Step::Upload(file),
        (Pair::Local(file), Direction::Down) if delete => Step::DeleteLocal(file),
        (Pair::Local(file), Direction::Down) => Step::Skip {
            rel: file.rel,
            size: Some(file.size),
            why: Some("only in the destination".into()),
        },
        (Pair::Remote { object, protected }, Direction::Up) => {
            if delete && !protected {
                Step::DeleteRemote(object)
            } else {
                Step::Skip {
                    rel: object.rel,
                    size: Some(object.size),
                    why: Some(if protected {
                        "not deleted: the local side could not be read here".into()
                    } else {
                        "only in the destination".into()
                    }),
                }
            }
        }
        (Pair::Remote { object, .. }, Direction::Down) => Step::Download(object),
        (Pair::Both(file, object), direction) => {
            match equal(&file, &object, direction, compare, client).await {
                Ok(true) => Step::Skip {
                    rel: file.rel,
                    size: Some(file.size),
                    why: None,
                },
                Ok(false) => match direction {
                    Direction::Up => Step::Upload(file),
                    Direction::Down => Step::Download(object),
                },
                Err(e) => Step::Fail {
                    rel: file.rel,
                    why: format!("{e:#}"),
                },
            }
        }
    }
}

fn note_step(item: LocalItem) -> Step {
    match item {
        LocalItem::Skipped { rel, why } => Step::Skip {
            rel,
            size: None,
            why: Some(why),
        },
        LocalItem::Unreadable { rel, why, .. } => Step::Fail { rel, why },
        LocalItem::Unnamed { path, why } => Step::Fail {
            rel: path.display().to_string(),
            why,
        },
        LocalItem::File(f) => Step::Upload(f),
    }
}

/// Whether the file and the object hold the same data by the chosen comparison.
async fn equal(
    file: &LocalFile,
    object: &RemoteObject,
    direction: Direction,
    compare: Compare,
    client: &Client,
) -> anyhow::Result<bool> {
    if file.size != object.size {
        return Ok(false);
    }
    match compare {
        Compare::SizeOnly => Ok(true),
        Compare::SizeAndMtime => {
            // A download that already set the object's Last-Modified on the file is settled
            // by the listing; anything else needs the object's own `mtime`.
            if let (Direction::Down, Some(lm)) = (direction, object.last_modified) {
                if same_second(file.mtime, lm) {
                    return Ok(true);
                }
            }
            let Some(info) = client.object_exists(&object.key).await? else {
                return Ok(false);
            };
            let has_meta = info.meta.iter().any(|(k, _)| k == mtime::META_NAME);
            match (direction, has_meta) {
                // Written by another tool after the file was last changed: keep it.
                (Direction::Up, false) => Ok(true),
                _ => Ok(mtime::of_info(&info).is_some_and(|t| mtime::same(t, file.mtime))),
            }
        }
        Compare::Checksum => {
            let Some(info) = client.object_exists(&object.key).await? else {
                return Ok(false);
            };
            let Some(theirs) = info.crc64 else {
                // Nothing to compare with: transfer, which is never wrong.
                return Ok(false);
            };
            Ok(file_crc64(file.path.clone()).await? == theirs)
        }
    }
}

fn same_second(a: SystemTime, b: SystemTime) -> bool {
    let secs = |t: SystemTime| {
        t.duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    };
    secs(a) == secs(b)
}

/// CRC-64 of a whole file, read in 1 MiB pieces on a blocking thread.
pub async fn file_crc64(path: PathBuf) -> anyhow::Result<u64> {
    tokio::task::spawn_blocking(move || {
        use std::io::Read;
        let mut f = std::fs::File::open(&path)?;
        let mut buf = vec![0u8; 1 << 20];
        let mut digest = crc64::Crc64::new();
        loop {
            let n = f.read(&mut buf)?;
            if n == 0 {
                break;
            }
            digest.update(&buf[..n]);
        }
        Ok(digest.value())
    })
    .await?
}
