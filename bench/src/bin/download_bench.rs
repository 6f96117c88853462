//! Download benchmark: one object of random bytes uploaded to one `osspart serve` (the release
//! binary, a child process) with `osspart cp`, then downloaded to a file on the same disk by
//! `osspart cp oss://...`, oss2's `resumable_download` (defaults, and 5 threads x 8 MiB) and
//! ali-oss's `get`, each a child process reaped with `wait4` (its own CPU and peak RSS), with
//! the server's CPU read from `/proc`. Every downloaded file is checked (size and CRC-64 against
//! the uploaded bytes) and deleted. Rounds run the downloaders in rotating order.
//! `--help` lists the flags; bench/README.md explains the numbers.

use std::fs::File;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use osspart_bench::child::run_measured;
use osspart_bench::data_file::{drop_from_page_cache, ensure_xorshift_file, file_crc64};
use osspart_bench::download::{self, DownloadConfig, Downloader, Invocation, USAGE};
use osspart_bench::download_report::{DownloadReport, DownloadRun, DownloaderRuns, UploadRun};
use osspart_bench::report::Machine;
use osspart_bench::server_process::{cli_env, ServerProcess};
use osspart_bench::tree_uploaders::UploadEnv;

const MIB: u64 = 1024 * 1024;
const BUCKET: &str = "download-bench";
/// oss2's second setting: osspart's defaults.
const OSS2_THREADS: usize = 5;
const OSS2_PART: u64 = 8 * MIB;

fn main() -> anyhow::Result<()> {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()?;
    let config = match DownloadConfig::load(&workspace, std::env::args().skip(1))? {
        Invocation::Help => {
            print!("{USAGE}");
            return Ok(());
        }
        Invocation::Run(c) => c,
    };
    std::fs::create_dir_all(&config.dir)?;
    let dir = config.dir.canonicalize()?;
    let machine = Machine::detect(&dir);
    let mut notes = Vec::new();

    let file = dir.join(format!("data-{}MiB.bin", config.size / MIB));
    ensure_xorshift_file(&file, config.size)?;
    let (crc, len) = file_crc64(&file)?;
    anyhow::ensure!(len == config.size, "{} has {len} bytes", file.display());

    let server = ServerProcess::start(&config.bin, &dir)?;
    eprintln!("server {} ({})", server.endpoint(), config.bin.display());
    let env = UploadEnv {
        bin: config.bin.clone(),
        workspace: workspace.clone(),
        endpoint: server.endpoint().to_owned(),
        cli_home: dir.join("cli-home"),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let client = server.client(BUCKET)?;
    runtime.block_on(client.create_bucket())?;
    let logs = dir.join("logs");
    let scratch = dir.join("scratch");
    let downloads = dir.join("downloads");
    for d in [&logs, &scratch, &downloads] {
        fresh_dir(d)?;
    }

    let key = format!("object-{}MiB.bin", config.size / MIB);
    let upload = {
        let mut c = Command::new(&config.bin);
        c.arg("cp")
            .arg(&file)
            .arg(format!("oss://{BUCKET}/{key}"))
            .arg("--checkpoint-dir")
            .arg(&scratch);
        cli_env(&mut c, &env.endpoint, &env.cli_home);
        let before = server.cpu();
        let usage = run_measured(c, &logs.join("upload.log"), None)?;
        let server_cpu = delta(before, server.cpu());
        let info = runtime.block_on(client.head_object(&key))?;
        anyhow::ensure!(
            info.size == config.size && info.crc64 == Some(crc),
            "uploaded object: {} bytes, CRC-64 {:?}; expected {} and {crc}",
            info.size,
            info.crc64,
            config.size
        );
        eprintln!(
            "upload {:7.2} s {:6.2} CPU-s, server {} CPU-s",
            usage.wall.as_secs_f64(),
            usage.cpu.as_secs_f64(),
            secs(server_cpu)
        );
        UploadRun { usage, server_cpu }
    };
    fresh_dir(&scratch)?;

    let mut downloaders = vec![download::osspart_cp(&env)];
    if config.skip_peers {
        notes.push("peers skipped (--skip-peers)".into());
    } else {
        downloaders.push(download::oss2(&env, None)?);
        downloaders.push(download::oss2(&env, Some((OSS2_THREADS, OSS2_PART)))?);
        downloaders.push(download::ali_oss(&env)?);
    }
    let bench = Bench {
        server: &server,
        cold: config.cold,
        key: &key,
        size: config.size,
        crc,
        scratch: &scratch,
        downloads: &downloads,
        logs: &logs,
    };

    // Not measured: the server's first read of the object and the first start of the binary
    // would be billed to whoever ran first.
    bench
        .run(&downloaders[0], "warm-up")
        .map_err(|e| anyhow::anyhow!("warm-up download failed: {e}"))?;
    let mut results: Vec<Vec<Result<DownloadRun, String>>> = vec![Vec::new(); downloaders.len()];
    for round in 1..=config.rounds {
        // Each round starts one downloader later, so nobody always follows the same neighbour.
        for step in 0..downloaders.len() {
            let i = (step + round - 1) % downloaders.len();
            let d = &downloaders[i];
            results[i].push(bench.run(d, &format!("{}-{round}", d.name)));
        }
    }
    let load_after = osspart_bench::cpu::load_average();
    drop(server);

    let now = time::OffsetDateTime::now_utc();
    let report = DownloadReport {
        date: format!("{} {:02}:{:02} UTC", now.date(), now.hour(), now.minute()),
        machine,
        load_after,
        size: config.size,
        rounds: config.rounds,
        cold: config.cold,
        upload,
        downloaders: downloaders
            .iter()
            .zip(results)
            .map(|(d, runs)| DownloaderRuns {
                name: d.name.to_owned(),
                describe: d.describe.clone(),
                is_osspart: d.is_osspart,
                runs,
            })
            .collect(),
        notes,
    };
    println!("{report}");
    Ok(())
}

/// What every download run shares.
struct Bench<'a> {
    server: &'a ServerProcess,
    cold: bool,
    key: &'a str,
    size: u64,
    crc: u64,
    scratch: &'a Path,
    downloads: &'a Path,
    logs: &'a Path,
}

impl Bench<'_> {
    /// One download by `d` into a fresh file: measured, fsynced, checked and deleted.
    fn run(&self, d: &Downloader, label: &str) -> Result<DownloadRun, String> {
        let result = self.try_run(d, label).map_err(|e| format!("{e:#}"));
        match &result {
            Ok(r) => eprintln!(
                "{label:16} {:7.2} s {:6.0} MiB/s {:6.2} CPU-s ({:.2} sys) {:6.1} MiB RSS, \
                 server {} CPU-s, fsync after {:.2} s ({} CPU-s)",
                r.usage.wall.as_secs_f64(),
                self.size as f64 / MIB as f64 / r.usage.wall.as_secs_f64(),
                r.usage.cpu.as_secs_f64(),
                r.usage.sys.as_secs_f64(),
                r.usage.max_rss as f64 / MIB as f64,
                secs(r.server_cpu),
                r.fsync_after.as_secs_f64(),
                secs(r.fsync_cpu)
            ),
            Err(e) => eprintln!("{label:16} FAILED: {e}"),
        }
        // Whatever happened, leave nothing behind for the next run.
        let _ = fresh_dir(self.downloads);
        let _ = fresh_dir(self.scratch);
        result
    }

    fn try_run(&self, d: &Downloader, label: &str) -> anyhow::Result<DownloadRun> {
        fresh_dir(self.downloads)?;
        fresh_dir(self.scratch)?;
        if self.cold {
            drop_from_page_cache(self.server.data_dir())?;
        }
        let dest = self.downloads.join(format!("{label}.bin"));
        let cmd = d.command(BUCKET, self.key, &dest, self.scratch);
        let before = self.server.cpu();
        let usage = run_measured(cmd, &self.logs.join(format!("{label}.log")), None)?;
        let server_cpu = delta(before, self.server.cpu());
        // What the downloader left dirty in the page cache (osspart fsyncs before its rename).
        let (started, cpu_before) = (Instant::now(), osspart_bench::cpu::this_thread());
        File::open(&dest)?.sync_all()?;
        let fsync_after = started.elapsed();
        let fsync_cpu = delta(cpu_before, osspart_bench::cpu::this_thread());
        let (crc, len) = file_crc64(&dest)?;
        anyhow::ensure!(
            len == self.size && crc == self.crc,
            "{}: {len} bytes with CRC-64 {crc}, expected {} bytes with {}",
            dest.display(),
            self.size,
            self.crc
        );
        std::fs::remove_file(&dest)?;
        let left: Vec<String> = std::fs::read_dir(self.downloads)?
            .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
            .collect::<std::io::Result<_>>()?;
        anyhow::ensure!(left.is_empty(), "left behind: {}", left.join(", "));
        Ok(DownloadRun {
            usage,
            server_cpu,
            fsync_after,
            fsync_cpu,
        })
    }
}

/// Empties `dir` (creating it if needed).
fn fresh_dir(dir: &Path) -> std::io::Result<()> {
    match std::fs::remove_dir_all(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    std::fs::create_dir_all(dir)
}

fn delta(before: Option<Duration>, after: Option<Duration>) -> Option<Duration> {
    after?.checked_sub(before?)
}

fn secs(d: Option<Duration>) -> String {
    d.map_or_else(|| "?".into(), |d| format!("{:.2}", d.as_secs_f64()))
}
