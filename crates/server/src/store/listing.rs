//! Prefix/delimiter roll-up, shared by ListObjects and ListMultipartUploads.
//!
//! Invariant: a page holds entries and common prefixes in byte order of their keys, each
//! counting once toward `max`; `is_truncated` is true exactly when another entry or prefix
//! follows; and a rolled-up prefix is skipped with one range seek, never by reading every key
//! under it. Entries come from a caller-supplied `fetch` over an ordered source, so the same
//! code serves objects (ordered by key) and uploads (ordered by key, then upload id).

use super::{ListPage, StoreError};

/// Where a fetch starts, in the source's order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Seek<C> {
    /// Entries whose key is `>=` these bytes.
    From(Vec<u8>),
    /// Entries whose key is `>` these bytes (every entry of that key excluded).
    Past(Vec<u8>),
    /// Entries strictly after this position of the source (for uploads: key, then upload id).
    After(C),
}

/// How many entries one fetch returns at most.
const FETCH_CAP: usize = 1001;

/// The smallest byte string greater than every string that starts with `prefix`, or `None`
/// when there is none (empty prefix, or only `0xFF` bytes — which UTF-8 never contains).
pub(crate) fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xFF {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// The common prefix `key` rolls up into, if the delimiter occurs after `prefix`.
fn rolled_prefix<'k>(key: &'k str, prefix: &str, delimiter: &str) -> Option<&'k str> {
    if delimiter.is_empty() || !key.starts_with(prefix) {
        return None;
    }
    let rest = &key[prefix.len()..];
    rest.find(delimiter)
        .map(|at| &key[..prefix.len() + at + delimiter.len()])
}

/// Where listing starts for an exclusive `marker` (empty = none).
///
/// `exact` is the source position "just after the marker entry" when the caller has one more
/// tie-breaker (an upload id marker); without it every entry of the marker key is skipped.
/// A marker inside a common prefix (including the prefix itself, as returned in
/// `next_marker`) means that prefix was already listed, so the whole prefix is skipped.
/// `None` means nothing can follow.
pub(crate) fn start<C>(
    prefix: &str,
    delimiter: &str,
    marker: &str,
    exact: Option<C>,
) -> Option<Seek<C>> {
    if marker.as_bytes() < prefix.as_bytes() {
        return Some(Seek::From(prefix.as_bytes().to_vec()));
    }
    if let Some(listed) = rolled_prefix(marker, prefix, delimiter) {
        return prefix_end(listed.as_bytes()).map(Seek::From);
    }
    Some(match exact {
        Some(position) => Seek::After(position),
        None => Seek::Past(marker.as_bytes().to_vec()),
    })
}

/// One page of a prefix/delimiter listing.
///
/// `fetch(seek, end, limit)` returns up to `limit` entries from `seek` on, in order, whose
/// keys are below `end` (when given). `key_of` gives an entry's key and `position_of` the
/// source position to resume after it. Returns the page and whether its last item is a
/// common prefix (rather than an entry).
pub(crate) fn roll_up<T, C>(
    prefix: &str,
    delimiter: &str,
    max: u32,
    start: Option<Seek<C>>,
    key_of: impl Fn(&T) -> &str,
    position_of: impl Fn(&T) -> C,
    mut fetch: impl FnMut(&Seek<C>, Option<&[u8]>, usize) -> Result<Vec<T>, StoreError>,
) -> Result<(ListPage<T>, bool), StoreError> {
    let mut page = ListPage {
        entries: Vec::new(),
        common_prefixes: Vec::new(),
        is_truncated: false,
        next_marker: String::new(),
        next_upload_id_marker: String::new(),
    };
    let mut last_is_prefix = false;
    let Some(mut seek) = start else {
        return Ok((page, last_is_prefix));
    };
    let end = prefix_end(prefix.as_bytes());
    let max = max as usize;
    let mut count = 0usize;

    'pages: loop {
        let limit = (max - count + 1).min(FETCH_CAP);
        let batch = fetch(&seek, end.as_deref(), limit)?;
        let exhausted = batch.len() < limit;
        // The common prefix whose remaining keys are being passed over, if any.
        let mut skipping: Option<String> = None;
        let mut resume: Option<C> = None;
        for item in batch {
            let key = key_of(&item);
            if let Some(cp) = &skipping {
                if key.starts_with(cp.as_str()) {
                    continue;
                }
                skipping = None;
            }
            if !key.starts_with(prefix) {
                // Past the prefix range: nothing more can qualify.
                break 'pages;
            }
            if count == max {
                page.is_truncated = true;
                break 'pages;
            }
            count += 1;
            match rolled_prefix(key, prefix, delimiter) {
                Some(cp) => {
                    let cp = cp.to_owned();
                    page.next_marker.clone_from(&cp);
                    page.common_prefixes.push(cp.clone());
                    last_is_prefix = true;
                    skipping = Some(cp);
                }
                None => {
                    page.next_marker = key.to_owned();
                    resume = Some(position_of(&item));
                    page.entries.push(item);
                    last_is_prefix = false;
                }
            }
        }
        if exhausted {
            break;
        }
        seek = match (skipping, resume) {
            // The batch ended inside a common prefix: jump past all of it in one seek.
            (Some(cp), _) => match prefix_end(cp.as_bytes()) {
                Some(after) => Seek::From(after),
                None => break,
            },
            (None, Some(position)) => Seek::After(position),
            // A full batch always yields an entry or a prefix before it ends.
            (None, None) => break,
        };
    }
    Ok((page, last_is_prefix))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    /// An in-memory sorted source that counts the rows it hands out.
    struct Source {
        keys: Vec<String>,
        rows_read: Cell<usize>,
        fetches: Cell<usize>,
    }

    impl Source {
        fn new(mut keys: Vec<String>) -> Source {
            keys.sort();
            Source {
                keys,
                rows_read: Cell::new(0),
                fetches: Cell::new(0),
            }
        }

        fn fetch(
            &self,
            seek: &Seek<String>,
            end: Option<&[u8]>,
            limit: usize,
        ) -> Result<Vec<String>, StoreError> {
            self.fetches.set(self.fetches.get() + 1);
            let first = self.keys.partition_point(|k| match seek {
                Seek::From(b) => k.as_bytes() < b.as_slice(),
                Seek::Past(b) => k.as_bytes() <= b.as_slice(),
                Seek::After(s) => k.as_str() <= s.as_str(),
            });
            let out: Vec<String> = self.keys[first..]
                .iter()
                .take_while(|k| end.is_none_or(|e| k.as_bytes() < e))
                .take(limit)
                .cloned()
                .collect();
            self.rows_read.set(self.rows_read.get() + out.len());
            Ok(out)
        }

        fn list(&self, prefix: &str, delimiter: &str, marker: &str, max: u32) -> ListPage<String> {
            let start = start::<String>(prefix, delimiter, marker, None);
            roll_up(
                prefix,
                delimiter,
                max,
                start,
                |k: &String| k.as_str(),
                |k: &String| k.clone(),
                |s, e, l| self.fetch(s, e, l),
            )
            .unwrap()
            .0
        }
    }

    fn keys(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn prefix_end_is_the_next_string() {
        assert_eq!(prefix_end(b"dir/"), Some(b"dir0".to_vec()));
        assert_eq!(prefix_end(b"a\xff"), Some(b"b".to_vec()));
        assert_eq!(prefix_end(b""), None);
    }

    #[test]
    fn rolls_up_and_pages_with_markers() {
        let src = Source::new(keys(&[
            "a.txt",
            "dir/1",
            "dir/2",
            "dir/sub/3",
            "e.txt",
            "logs/x",
            "z",
        ]));
        let page = src.list("", "/", "", 1000);
        assert_eq!(page.entries, keys(&["a.txt", "e.txt", "z"]));
        assert_eq!(page.common_prefixes, keys(&["dir/", "logs/"]));
        assert!(!page.is_truncated);

        // Page by two: prefixes count once, markers resume exactly.
        let mut marker = String::new();
        let mut seen = Vec::new();
        loop {
            let page = src.list("", "/", &marker, 2);
            assert!(page.entries.len() + page.common_prefixes.len() <= 2);
            seen.extend(page.entries.iter().cloned());
            seen.extend(page.common_prefixes.iter().cloned());
            if !page.is_truncated {
                break;
            }
            marker = page.next_marker.clone();
        }
        seen.sort();
        assert_eq!(seen, keys(&["a.txt", "dir/", "e.txt", "logs/", "z"]));

        let page = src.list("dir/", "/", "", 1000);
        assert_eq!(page.entries, keys(&["dir/1", "dir/2"]));
        assert_eq!(page.common_prefixes, keys(&["dir/sub/"]));

        let page = src.list("dir/", "", "dir/1", 1);
        assert_eq!(page.entries, keys(&["dir/2"]));
        assert!(page.is_truncated);
        assert_eq!(page.next_marker, "dir/2");
    }

    #[test]
    fn truncation_is_exact() {
        let src = Source::new(keys(&["a", "b", "c"]));
        let page = src.list("", "", "", 3);
        assert!(!page.is_truncated);
        let page = src.list("", "", "", 2);
        assert!(page.is_truncated);
        assert_eq!(page.next_marker, "b");
        let page = src.list("", "", "b", 1);
        assert_eq!(page.entries, keys(&["c"]));
        assert!(!page.is_truncated);
        let page = src.list("", "", "", 0);
        assert!(page.entries.is_empty() && page.is_truncated);
        let page = src.list("x", "", "", 0);
        assert!(!page.is_truncated);
    }

    #[test]
    fn big_prefixes_are_skipped_by_seeking() {
        let mut all = Vec::new();
        for d in 0..5 {
            for i in 0..20_000 {
                all.push(format!("d{d}/{i:06}"));
            }
        }
        all.push("top".to_string());
        let src = Source::new(all);
        let page = src.list("", "/", "", 1000);
        assert_eq!(
            page.common_prefixes,
            keys(&["d0/", "d1/", "d2/", "d3/", "d4/"])
        );
        assert_eq!(page.entries, keys(&["top"]));
        // One bounded batch per prefix at most, not 100,000 rows.
        assert!(
            src.rows_read.get() < 6 * FETCH_CAP,
            "{}",
            src.rows_read.get()
        );
        assert!(src.fetches.get() <= 7);

        // Resuming from a prefix marker skips that whole prefix.
        let page = src.list("", "/", "d2/", 2);
        assert_eq!(page.common_prefixes, keys(&["d3/", "d4/"]));
        assert!(page.is_truncated);
        // A marker inside a prefix means the prefix was already listed.
        let page = src.list("", "/", "d3/000005", 1000);
        assert_eq!(page.common_prefixes, keys(&["d4/"]));
    }
}
