//! `tree_bench`'s settings, from defaults and flags.

use std::path::PathBuf;

use anyhow::{bail, Context};

const KIB: u64 = 1024;
const MIB: u64 = 1024 * KIB;

/// What `tree_bench` uploads and how.
#[derive(Debug, Clone)]
pub struct TreeConfig {
    /// Files in the small tree (0 skips it). Default 10,000.
    pub small_files: usize,
    /// Size of each small file. Default 4 KiB.
    pub small_size: u64,
    /// Files in the big tree (0 skips it). Default 200.
    pub big_files: usize,
    /// Size of each big file. Default 5 MiB.
    pub big_size: u64,
    /// `osspart cp -r --jobs`: files in flight. Default 8 (the CLI's own default).
    pub jobs: usize,
    /// `osspart --sign` (`v1` or `v4`); `None` leaves the CLI's default (V4). The peers sign V1.
    pub osspart_sign: Option<String>,
    /// Files in flight for each peer SDK (thread pool / async workers). Default 16.
    pub peers_concurrency: usize,
    /// Run osspart only.
    pub skip_peers: bool,
    /// Scratch directory for the trees, the server's data and the logs. Default
    /// `target/tree-bench` in the workspace.
    pub dir: PathBuf,
    /// The `osspart` binary (CLI and server). Default `target/release/osspart`
    /// (`OSSPART_BIN`).
    pub bin: PathBuf,
}

/// Usage text for `--help`.
pub const USAGE: &str = "\
tree_bench: uploads a tree of many small files and a tree of big files through one
`osspart serve` with `osspart cp -r`, oss2 (thread pool of put_object_from_file) and ali-oss
(async workers of put), each a child process measured with wait4; also times a no-change
`osspart sync` of the small tree.

usage: target/release/tree_bench [flags]

flags:
  --small-files N          files in the small tree, 0 skips it (10000)
  --small-size SIZE        bytes per small file, suffix KiB/MiB allowed (4KiB)
  --big-files N            files in the big tree, 0 skips it (200)
  --big-size SIZE          bytes per big file (5MiB)
  --jobs N                 osspart cp -r --jobs (8)
  --osspart-sign v1|v4     osspart's signature version (the CLI's default, v4; the peers sign v1)
  --peers-concurrency N    files in flight for oss2 and ali-oss (16)
  --skip-peers             run osspart only
  --quick                  1,000 small files and 20 big ones
  --dir PATH               scratch directory (target/tree-bench)
  --bin PATH               the osspart binary [OSSPART_BIN] (target/release/osspart)
";

/// The outcome of reading the command line.
#[derive(Debug)]
pub enum Invocation {
    /// Run with these settings.
    Run(TreeConfig),
    /// Print [`USAGE`] and exit.
    Help,
}

impl TreeConfig {
    /// Defaults for a workspace at `root`.
    pub fn defaults(root: &std::path::Path) -> TreeConfig {
        TreeConfig {
            small_files: 10_000,
            small_size: 4 * KIB,
            big_files: 200,
            big_size: 5 * MIB,
            jobs: 8,
            osspart_sign: None,
            peers_concurrency: 16,
            skip_peers: false,
            dir: root.join("target/tree-bench"),
            bin: std::env::var_os("OSSPART_BIN")
                .filter(|v| !v.is_empty())
                .map_or_else(|| root.join("target/release/osspart"), PathBuf::from),
        }
    }

    /// Reads `args` (without the program name) over the defaults for a workspace at `root`.
    pub fn load(
        root: &std::path::Path,
        args: impl IntoIterator<Item = String>,
    ) -> anyhow::Result<Invocation> {
        let mut c = TreeConfig::defaults(root);
        let mut explicit_small = false;
        let mut explicit_big = false;
        let mut quick = false;
        let mut args = args.into_iter();
        while let Some(flag) = args.next() {
            match flag.as_str() {
                "--help" | "-h" => return Ok(Invocation::Help),
                "--quick" => {
                    quick = true;
                    continue;
                }
                "--skip-peers" => {
                    c.skip_peers = true;
                    continue;
                }
                _ => {}
            }
            let value = args
                .next()
                .with_context(|| format!("{flag} needs a value"))?;
            match flag.as_str() {
                "--small-files" => {
                    c.small_files = parse(&flag, &value)?;
                    explicit_small = true;
                }
                "--small-size" => c.small_size = parse_size(&flag, &value)?,
                "--big-files" => {
                    c.big_files = parse(&flag, &value)?;
                    explicit_big = true;
                }
                "--big-size" => c.big_size = parse_size(&flag, &value)?,
                "--jobs" => c.jobs = parse(&flag, &value)?,
                "--osspart-sign" => match value.as_str() {
                    "v1" | "v4" => c.osspart_sign = Some(value),
                    _ => bail!("--osspart-sign takes v1 or v4"),
                },
                "--peers-concurrency" => c.peers_concurrency = parse(&flag, &value)?,
                "--dir" => c.dir = PathBuf::from(value),
                "--bin" => c.bin = PathBuf::from(value),
                other => bail!("unknown flag {other:?}; see --help"),
            }
        }
        if quick {
            if !explicit_small {
                c.small_files = 1_000;
            }
            if !explicit_big {
                c.big_files = 20;
            }
        }
        if c.jobs == 0 || c.peers_concurrency == 0 {
            bail!("--jobs and --peers-concurrency must be at least 1");
        }
        if c.small_files + c.big_files == 0 {
            bail!("nothing to upload: both trees have 0 files");
        }
        // Paths d000..d999 hold 1,000 files each.
        if c.small_files.max(c.big_files) > 1_000_000 {
            bail!("at most 1,000,000 files per tree");
        }
        Ok(Invocation::Run(c))
    }
}

/// Parses a flag's value, naming the flag in the error.
pub fn parse<T: std::str::FromStr>(flag: &str, text: &str) -> anyhow::Result<T> {
    text.trim()
        .parse()
        .ok()
        .with_context(|| format!("{flag}: cannot parse {text:?}"))
}

/// Bytes, with an optional `B`, `KiB`/`K`, `MiB`/`M` or `GiB`/`G` suffix.
fn parse_size(flag: &str, text: &str) -> anyhow::Result<u64> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let n: u64 = parse(flag, number)?;
    let factor = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => KIB,
        "m" | "mib" => MIB,
        "g" | "gib" => 1024 * MIB,
        _ => bail!("{flag}: unknown unit in {text:?} (use B, KiB, MiB or GiB)"),
    };
    Ok(n * factor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_take_binary_suffixes() {
        assert_eq!(parse_size("x", "4096").unwrap(), 4096);
        assert_eq!(parse_size("x", "4KiB").unwrap(), 4096);
        assert_eq!(parse_size("x", "5MiB").unwrap(), 5 * MIB);
        assert_eq!(parse_size("x", "5m").unwrap(), 5 * MIB);
        assert!(parse_size("x", "5 parsecs").is_err());
    }

    #[test]
    fn quick_keeps_explicit_counts() {
        let root = std::path::Path::new("/w");
        let args = ["--quick", "--big-files", "3"].map(String::from);
        let Invocation::Run(c) = TreeConfig::load(root, args).unwrap() else {
            panic!("not a run");
        };
        assert_eq!((c.small_files, c.big_files), (1_000, 3));
    }
}
