//! The benchmark's settings, merged once from defaults, `OSSPART_BENCH_*` variables and flags
//! (in rising precedence); nothing after [`BenchConfig::load`] reads the environment.

use std::path::PathBuf;

use anyhow::{bail, Context};

const MIB: u64 = 1024 * 1024;
const GIB: u64 = 1024 * MIB;

/// Every part in the Complete-latency runs but the last must be at least this large
/// (`osspart_protocol::limits::MIN_PART_SIZE`), so all parts are exactly this large.
pub const SMALL_PART: u64 = osspart_protocol::limits::MIN_PART_SIZE;

/// What to measure and how big.
#[derive(Debug, Clone)]
pub struct BenchConfig {
    /// Bytes uploaded in the ingest run. Default 1 GiB (`OSSPART_BENCH_GIB`, `--gib`, may be
    /// fractional).
    pub ingest_bytes: u64,
    /// Part size of the ingest run, bytes. Default 8 MiB (`OSSPART_BENCH_PART_MIB`).
    pub ingest_part: u64,
    /// UploadPart requests in flight (one keep-alive connection each) during ingest.
    /// Default 5 (`OSSPART_BENCH_INFLIGHT`).
    pub ingest_inflight: usize,
    /// Bytes hashed by the single-core MD5 baseline. Default: the same as `ingest_bytes`.
    pub md5_bytes: u64,
    /// Part counts whose CompleteMultipartUpload is timed. Default 100, 1000, 10000
    /// (`OSSPART_BENCH_COMPLETE_PARTS`, comma-separated).
    pub complete_counts: Vec<u32>,
    /// Timed runs per count below [`LARGE_COUNT`](Self::LARGE_COUNT); the median is
    /// reported. Default 3 (`OSSPART_BENCH_RUNS`).
    pub runs: usize,
    /// Timed runs per count of at least [`LARGE_COUNT`](Self::LARGE_COUNT). Default 1
    /// (`OSSPART_BENCH_LARGE_RUNS`).
    pub large_runs: usize,
    /// UploadPart requests in flight while preparing a Complete run. Default 16
    /// (`OSSPART_BENCH_COMPLETE_INFLIGHT`).
    pub complete_inflight: usize,
    /// Part size of the "same part count, bigger object" Complete run, bytes; 0 skips it.
    /// Default 8 MiB (`OSSPART_BENCH_BIG_PART_MIB`).
    pub big_part: u64,
    /// Directory under which the server's temporary data dir is made. Default
    /// `std::env::temp_dir()` (`OSSPART_BENCH_DIR`).
    pub data_parent: PathBuf,
}

impl Default for BenchConfig {
    fn default() -> Self {
        BenchConfig {
            ingest_bytes: GIB,
            ingest_part: 8 * MIB,
            ingest_inflight: 5,
            md5_bytes: GIB,
            complete_counts: vec![100, 1_000, 10_000],
            runs: 3,
            large_runs: 1,
            complete_inflight: 16,
            big_part: 8 * MIB,
            data_parent: std::env::temp_dir(),
        }
    }
}

/// Usage text for `--help`.
pub const USAGE: &str = "\
server_bench: UploadPart ingest throughput and CompleteMultipartUpload latency of an in-process
osspart server over loopback.

usage: cargo run --release -p osspart-bench --bin server_bench -- [flags]

flags (environment variable in brackets):
  --gib N                 bytes uploaded by the ingest run, GiB, may be fractional [OSSPART_BENCH_GIB] (1)
  --part-mib N            ingest part size, MiB [OSSPART_BENCH_PART_MIB] (8)
  --inflight N            ingest requests in flight = connections [OSSPART_BENCH_INFLIGHT] (5)
  --complete-parts A,B,.. part counts whose Complete is timed [OSSPART_BENCH_COMPLETE_PARTS] (100,1000,10000)
  --runs N                timed runs per count below 5000 (median) [OSSPART_BENCH_RUNS] (3)
  --large-runs N          timed runs per count of 5000 or more [OSSPART_BENCH_LARGE_RUNS] (1)
  --complete-inflight N   requests in flight while uploading the small parts [OSSPART_BENCH_COMPLETE_INFLIGHT] (16)
  --big-part-mib N        part size of the 100-part size-independence run, 0 skips [OSSPART_BENCH_BIG_PART_MIB] (8)
  --dir PATH              parent of the temporary data dir [OSSPART_BENCH_DIR] (system temp dir)
  --quick                 small preset: 0.25 GiB ingest, counts 100,1000, 1 MiB big parts
";

/// The outcome of reading the command line.
#[derive(Debug)]
pub enum Invocation {
    /// Run with these settings.
    Run(BenchConfig),
    /// Print [`USAGE`] and exit.
    Help,
}

impl BenchConfig {
    /// Counts at or above this use [`large_runs`](Self::large_runs).
    pub const LARGE_COUNT: u32 = 5_000;

    /// Reads the environment and `args` (without the program name).
    pub fn load(args: impl IntoIterator<Item = String>) -> anyhow::Result<Invocation> {
        let env = |name: &str| std::env::var(name).ok();
        let mut raw = RawSettings {
            gib: env("OSSPART_BENCH_GIB"),
            part_mib: env("OSSPART_BENCH_PART_MIB"),
            inflight: env("OSSPART_BENCH_INFLIGHT"),
            complete_parts: env("OSSPART_BENCH_COMPLETE_PARTS"),
            runs: env("OSSPART_BENCH_RUNS"),
            large_runs: env("OSSPART_BENCH_LARGE_RUNS"),
            complete_inflight: env("OSSPART_BENCH_COMPLETE_INFLIGHT"),
            big_part_mib: env("OSSPART_BENCH_BIG_PART_MIB"),
            dir: env("OSSPART_BENCH_DIR"),
            quick: false,
        };
        let mut args = args.into_iter();
        while let Some(flag) = args.next() {
            if flag == "--help" || flag == "-h" {
                return Ok(Invocation::Help);
            }
            if flag == "--quick" {
                raw.quick = true;
                continue;
            }
            let slot = match flag.as_str() {
                "--gib" => &mut raw.gib,
                "--part-mib" => &mut raw.part_mib,
                "--inflight" => &mut raw.inflight,
                "--complete-parts" => &mut raw.complete_parts,
                "--runs" => &mut raw.runs,
                "--large-runs" => &mut raw.large_runs,
                "--complete-inflight" => &mut raw.complete_inflight,
                "--big-part-mib" => &mut raw.big_part_mib,
                "--dir" => &mut raw.dir,
                other => bail!("unknown flag {other:?}; see --help"),
            };
            *slot = Some(
                args.next()
                    .with_context(|| format!("{flag} needs a value"))?,
            );
        }
        raw.resolve().map(Invocation::Run)
    }
}

/// Settings as text, before validation.
#[derive(Debug, Default)]
struct RawSettings {
    gib: Option<String>,
    part_mib: Option<String>,
    inflight: Option<String>,
    complete_parts: Option<String>,
    runs: Option<String>,
    large_runs: Option<String>,
    complete_inflight: Option<String>,
    big_part_mib: Option<String>,
    dir: Option<String>,
    quick: bool,
}

fn parse<T: std::str::FromStr>(what: &str, text: &str) -> anyhow::Result<T> {
    text.trim()
        .parse()
        .ok()
        .with_context(|| format!("{what}: cannot parse {text:?}"))
}

impl RawSettings {
    fn resolve(self) -> anyhow::Result<BenchConfig> {
        let mut c = BenchConfig::default();
        if self.quick {
            c.ingest_bytes = GIB / 4;
            c.complete_counts = vec![100, 1_000];
            c.big_part = MIB;
        }
        if let Some(t) = &self.gib {
            let gib: f64 = parse("ingest GiB", t)?;
            if !(gib > 0.0 && gib.is_finite()) {
                bail!("ingest GiB must be positive, got {t}");
            }
            c.ingest_bytes = (gib * GIB as f64) as u64;
        }
        if let Some(t) = &self.part_mib {
            c.ingest_part = parse::<u64>("ingest part MiB", t)? * MIB;
        }
        if let Some(t) = &self.inflight {
            c.ingest_inflight = parse("in-flight requests", t)?;
        }
        if let Some(t) = &self.complete_parts {
            c.complete_counts = t
                .split(',')
                .filter(|s| !s.trim().is_empty())
                .map(|s| parse("part count", s))
                .collect::<anyhow::Result<_>>()?;
        }
        if let Some(t) = &self.runs {
            c.runs = parse("runs", t)?;
        }
        if let Some(t) = &self.large_runs {
            c.large_runs = parse("large runs", t)?;
        }
        if let Some(t) = &self.complete_inflight {
            c.complete_inflight = parse("complete in-flight requests", t)?;
        }
        if let Some(t) = &self.big_part_mib {
            c.big_part = parse::<u64>("big part MiB", t)? * MIB;
        }
        if let Some(t) = self.dir {
            c.data_parent = PathBuf::from(t);
        }
        if c.ingest_part < SMALL_PART || c.ingest_part > osspart_protocol::limits::MAX_PART_SIZE {
            bail!("ingest part size must be between 100 KiB and 5 GiB");
        }
        // Whole parts only, so every part has the same size and the rate is easy to read.
        c.ingest_bytes = (c.ingest_bytes / c.ingest_part).max(1) * c.ingest_part;
        c.md5_bytes = c.ingest_bytes;
        let parts = c.ingest_bytes / c.ingest_part;
        if parts > u64::from(osspart_protocol::limits::MAX_PART_NUMBER) {
            bail!("ingest needs {parts} parts; at most 10000 are allowed, raise --part-mib");
        }
        if c.ingest_inflight == 0 || c.complete_inflight == 0 || c.runs == 0 || c.large_runs == 0 {
            bail!("in-flight counts and run counts must be at least 1");
        }
        if let Some(bad) = c
            .complete_counts
            .iter()
            .find(|&&n| n == 0 || n > osspart_protocol::limits::MAX_PART_NUMBER)
        {
            bail!("part count {bad} is outside 1..=10000");
        }
        if c.big_part != 0 && c.big_part < SMALL_PART {
            bail!("big part size must be at least 100 KiB (or 0 to skip)");
        }
        Ok(c)
    }
}

impl BenchConfig {
    /// Number of parts the ingest run uploads.
    pub fn ingest_parts(&self) -> u32 {
        (self.ingest_bytes / self.ingest_part) as u32
    }

    /// Timed runs for a Complete of `count` parts.
    pub fn runs_for(&self, count: u32) -> usize {
        if count >= Self::LARGE_COUNT {
            self.large_runs
        } else {
            self.runs
        }
    }
}
