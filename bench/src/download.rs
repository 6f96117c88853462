//! `download_bench`'s settings (from flags) and the downloaders it compares, each a command
//! that reads `oss://BUCKET/KEY` into a file: `osspart cp`, oss2's `resumable_download`
//! (`bench/peers/download_oss2.py`, with its defaults and with 5 threads of 8 MiB) and
//! ali-oss's `get` (`bench/peers/download_ali_oss.js`).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, ensure, Context};

use crate::server_process::{cli_env, sdk_env};
use crate::tree_config::parse;
use crate::tree_uploaders::UploadEnv;

const MIB: u64 = 1024 * 1024;

/// What `download_bench` downloads and how often.
#[derive(Debug, Clone)]
pub struct DownloadConfig {
    /// Object size in bytes (whole MiB). Default 1 GiB.
    pub size: u64,
    /// Rounds; each runs every downloader once. Default 3.
    pub rounds: usize,
    /// Run osspart only.
    pub skip_peers: bool,
    /// Drop the server's files from the page cache before every download (default), so the
    /// server reads the object from the disk; `--warm` leaves them cached.
    pub cold: bool,
    /// Scratch directory for the data file, the server's data, the downloads and the logs.
    /// Default `target/download-bench` in the workspace.
    pub dir: PathBuf,
    /// The `osspart` binary (CLI and server). Default `target/release/osspart`
    /// (`OSSPART_BIN`).
    pub bin: PathBuf,
}

/// Usage text for `--help`.
pub const USAGE: &str = "\
download_bench: uploads one object of random bytes to one `osspart serve` with `osspart cp`,
then downloads it to a file with `osspart cp oss://...`, oss2 resumable_download (defaults, and
5 threads x 8 MiB) and ali-oss get, each a child process measured with wait4 (client CPU, peak
RSS) and /proc (server CPU); every downloaded file is checked (size and CRC-64) and deleted.
Rounds run the downloaders in rotating order; the report shows medians.

usage: target/release/download_bench [flags]

flags:
  --gib G          object size in GiB, fractions allowed, whole MiB (1)
  --rounds N       rounds, each downloader once per round (3)
  --skip-peers     run osspart only
  --quick          0.25 GiB and 1 round (explicit --gib / --rounds win)
  --warm           keep the server's files in the page cache (default: drop them before every
                   download with posix_fadvise DONTNEED, so the object comes from the disk)
  --dir PATH       scratch directory (target/download-bench)
  --bin PATH       the osspart binary [OSSPART_BIN] (target/release/osspart)
";

/// The outcome of reading the command line.
#[derive(Debug)]
pub enum Invocation {
    /// Run with these settings.
    Run(DownloadConfig),
    /// Print [`USAGE`] and exit.
    Help,
}

impl DownloadConfig {
    /// Defaults for a workspace at `root`.
    pub fn defaults(root: &Path) -> DownloadConfig {
        DownloadConfig {
            size: 1024 * MIB,
            rounds: 3,
            skip_peers: false,
            cold: true,
            dir: root.join("target/download-bench"),
            bin: std::env::var_os("OSSPART_BIN")
                .filter(|v| !v.is_empty())
                .map_or_else(|| root.join("target/release/osspart"), PathBuf::from),
        }
    }

    /// Reads `args` (without the program name) over the defaults for a workspace at `root`.
    pub fn load(root: &Path, args: impl IntoIterator<Item = String>) -> anyhow::Result<Invocation> {
        let mut c = DownloadConfig::defaults(root);
        let (mut quick, mut explicit_size, mut explicit_rounds) = (false, false, false);
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
                "--warm" => {
                    c.cold = false;
                    continue;
                }
                _ => {}
            }
            let value = args
                .next()
                .with_context(|| format!("{flag} needs a value"))?;
            match flag.as_str() {
                "--gib" => {
                    let gib: f64 = parse(&flag, &value)?;
                    ensure!(gib > 0.0 && gib <= 64.0, "--gib must be in (0, 64]");
                    c.size = ((gib * 1024.0).round() as u64).max(1) * MIB;
                    explicit_size = true;
                }
                "--rounds" => {
                    c.rounds = parse(&flag, &value)?;
                    explicit_rounds = true;
                }
                "--dir" => c.dir = PathBuf::from(value),
                "--bin" => c.bin = PathBuf::from(value),
                other => bail!("unknown flag {other:?}; see --help"),
            }
        }
        if quick {
            if !explicit_size {
                c.size = 256 * MIB;
            }
            if !explicit_rounds {
                c.rounds = 1;
            }
        }
        ensure!(c.rounds > 0, "--rounds must be at least 1");
        Ok(Invocation::Run(c))
    }
}

/// Builds the command that downloads `oss://BUCKET/KEY` into `dest`, given a fresh scratch
/// directory for whatever state the downloader keeps.
type BuildCommand = Box<dyn Fn(&str, &str, &Path, &Path) -> Command>;

/// One downloader.
pub struct Downloader {
    /// Name in the report.
    pub name: &'static str,
    /// What exactly runs.
    pub describe: String,
    /// Whether this is osspart (the others are the peers it is compared with).
    pub is_osspart: bool,
    build: BuildCommand,
}

impl Downloader {
    /// The command that downloads `oss://bucket/key` into `dest`; `scratch` is a fresh,
    /// empty directory for this run (osspart's `--checkpoint-dir`).
    pub fn command(&self, bucket: &str, key: &str, dest: &Path, scratch: &Path) -> Command {
        (self.build)(bucket, key, dest, scratch)
    }
}

/// `osspart cp oss://BUCKET/KEY DEST --checkpoint-dir SCRATCH` with the CLI's defaults
/// (8 MiB ranges, 5 in flight, CRC-64 checked, a hidden temporary file renamed at the end).
pub fn osspart_cp(env: &UploadEnv) -> Downloader {
    let env = env.clone();
    Downloader {
        name: "osspart",
        describe: "osspart cp oss://BUCKET/KEY FILE --checkpoint-dir (fresh per run); defaults: \
                   8 MiB ranges, 5 in flight, CRC-64 checked, temporary file fsynced and renamed"
            .to_owned(),
        is_osspart: true,
        build: Box::new(move |bucket, key, dest, scratch| {
            let mut c = Command::new(&env.bin);
            c.arg("cp")
                .arg(format!("oss://{bucket}/{key}"))
                .arg(dest)
                .arg("--checkpoint-dir")
                .arg(scratch);
            cli_env(&mut c, &env.endpoint, &env.cli_home);
            c
        }),
    }
}

/// oss2 from `compat/python/.venv`: `bench/peers/download_oss2.py`, with oss2's defaults
/// (`threads_part = None`) or `(threads, part size)`.
pub fn oss2(env: &UploadEnv, threads_part: Option<(usize, u64)>) -> anyhow::Result<Downloader> {
    let python = env.workspace.join("compat/python/.venv/bin/python");
    ensure!(
        python.is_file(),
        "{} is missing: run `scripts/test --deps`",
        python.display()
    );
    let script = env.workspace.join("bench/peers/download_oss2.py");
    let endpoint = env.endpoint.clone();
    let (name, describe) = match threads_part {
        None => (
            "oss2-default",
            "oss2 2.19 resumable_download, defaults (multiget above 100 MiB: 4 threads, 10 MiB \
             ranges; enable_crc on; temporary file renamed)"
                .to_owned(),
        ),
        Some((threads, part)) => (
            "oss2-5x8m",
            format!(
                "oss2 2.19 resumable_download, num_threads={threads}, part_size={} MiB \
                 (enable_crc on)",
                part / MIB
            ),
        ),
    };
    Ok(Downloader {
        name,
        describe,
        is_osspart: false,
        build: Box::new(move |bucket, key, dest, _| {
            let mut c = Command::new(&python);
            c.arg(&script).arg(bucket).arg(key).arg(dest);
            if let Some((threads, part)) = threads_part {
                c.arg(threads.to_string()).arg(part.to_string());
            }
            sdk_env(&mut c, &endpoint);
            c
        }),
    })
}

/// ali-oss from `compat/node/node_modules`: `bench/peers/download_ali_oss.js`.
pub fn ali_oss(env: &UploadEnv) -> anyhow::Result<Downloader> {
    let module = env.workspace.join("compat/node/node_modules/ali-oss");
    ensure!(
        module.is_dir(),
        "{} is missing: run `scripts/test --deps`",
        module.display()
    );
    let script = env.workspace.join("bench/peers/download_ali_oss.js");
    let endpoint = env.endpoint.clone();
    Ok(Downloader {
        name: "ali-oss",
        describe: "ali-oss 6.23 client.get(key, file): one GET streamed to a write stream, no \
                   checksum"
            .to_owned(),
        is_osspart: false,
        build: Box::new(move |bucket, key, dest, _| {
            let mut c = Command::new("node");
            c.arg(&script).arg(bucket).arg(key).arg(dest);
            sdk_env(&mut c, &endpoint);
            c
        }),
    })
}
