//! Generated directory trees for `tree_bench`: `files` files of `file_size` random bytes each,
//! 100 to a directory, 10 directories to a parent (`d000/e0/f000.bin` ... `d009/e9/f099.bin`
//! for 10,000 files), written once under a scratch directory and reused while the shape is the
//! same.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;

/// Files in one leaf directory.
const PER_DIR: usize = 100;
/// Leaf directories in one top directory.
const DIRS_PER_TOP: usize = 10;

/// One generated tree.
#[derive(Debug, Clone)]
pub struct Tree {
    /// Short name (`small`, `big`), used in bucket names and the report.
    pub name: String,
    /// Directory holding the files (and nothing else).
    pub root: PathBuf,
    /// Number of files.
    pub files: usize,
    /// Size of every file, bytes.
    pub file_size: u64,
}

impl Tree {
    /// Total bytes in the tree.
    pub fn total_bytes(&self) -> u64 {
        self.files as u64 * self.file_size
    }

    /// Every file's path relative to the root, '/'-separated, in index order.
    pub fn relative_paths(&self) -> Vec<String> {
        (0..self.files).map(relative_path).collect()
    }

    /// Reads every file once, so that no uploader pays for a cold page cache.
    pub fn warm_page_cache(&self) -> anyhow::Result<()> {
        let mut buf = vec![0u8; 1 << 20];
        for rel in self.relative_paths() {
            let mut f = File::open(self.root.join(&rel))?;
            while f.read(&mut buf)? > 0 {}
        }
        Ok(())
    }
}

/// The relative path of file number `index`.
pub fn relative_path(index: usize) -> String {
    format!(
        "d{:03}/e{}/f{:03}.bin",
        index / (PER_DIR * DIRS_PER_TOP),
        (index / PER_DIR) % DIRS_PER_TOP,
        index % PER_DIR
    )
}

/// The tree `name` of `files` files of `file_size` bytes under `parent`, written unless a
/// complete one of that shape is already there (a marker beside the root, not inside it, says
/// so: the uploaders take every file under the root).
pub fn ensure(parent: &Path, name: &str, files: usize, file_size: u64) -> anyhow::Result<Tree> {
    let dir_name = format!("{name}-{files}x{file_size}");
    let tree = Tree {
        name: name.to_owned(),
        root: parent.join(&dir_name),
        files,
        file_size,
    };
    let marker = parent.join(format!("{dir_name}.complete"));
    if marker.is_file() && tree.root.is_dir() {
        return Ok(tree);
    }
    eprintln!(
        "writing {} ({files} files of {file_size} bytes)",
        tree.root.display()
    );
    let _ = std::fs::remove_file(&marker);
    if tree.root.exists() {
        std::fs::remove_dir_all(&tree.root)
            .with_context(|| format!("cannot remove {}", tree.root.display()))?;
    }
    let mut buf = vec![0u8; file_size as usize];
    for index in 0..files {
        let path = tree.root.join(relative_path(index));
        if index % PER_DIR == 0 {
            std::fs::create_dir_all(path.parent().expect("a file path has a parent"))?;
        }
        fill_random(&mut buf, index as u64);
        File::create(&path)
            .and_then(|mut f| f.write_all(&buf))
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    File::create(&marker)?;
    Ok(tree)
}

/// Fills `buf` with xorshift64 output seeded by `seed` (every file different, none compressible).
fn fill_random(buf: &mut [u8], seed: u64) {
    let mut state = 0x9E37_79B9_7F4A_7C15_u64 ^ seed.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut chunks = buf.chunks_exact_mut(8);
    for chunk in &mut chunks {
        chunk.copy_from_slice(&next().to_le_bytes());
    }
    let rest = chunks.into_remainder();
    let last = next().to_le_bytes();
    rest.copy_from_slice(&last[..rest.len()]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_nest_100_files_per_directory() {
        assert_eq!(relative_path(0), "d000/e0/f000.bin");
        assert_eq!(relative_path(99), "d000/e0/f099.bin");
        assert_eq!(relative_path(100), "d000/e1/f000.bin");
        assert_eq!(relative_path(9_999), "d009/e9/f099.bin");
    }

    #[test]
    fn files_differ_and_odd_sizes_fill() {
        let (mut a, mut b) = (vec![0u8; 13], vec![0u8; 13]);
        fill_random(&mut a, 1);
        fill_random(&mut b, 2);
        assert_ne!(a, b);
        assert_ne!(&a[8..], &[0u8; 5]);
    }
}
