//! Client benchmark: the same file uploaded through one `osspart serve` by osspart,
//! ali-oss (Node) and oss2 (Python), with `curl -T` of a presigned PutObject URL as the floor.
//!
//! Every uploader runs as its own child process and is reaped with `wait4`, so its user + system
//! CPU time and peak RSS are its own; the server is another process and is not counted.
//! Uploaders run round-robin, `runs` times each, so background noise spreads over all of them;
//! the report shows medians of wall time and CPU and the largest peak RSS seen.
//!
//! Settings (environment): `OSSPART_CLIENT_BENCH_GIB` file size in GiB (default 1, fractions allowed),
//! `OSSPART_CLIENT_BENCH_RUNS` runs per uploader (default 3), `OSSPART_CLIENT_BENCH_SPARSE_GIB` size of the
//! sparse-file run (default 10; 0 skips it), `OSSPART_CLIENT_BENCH_DIR` scratch directory (default
//! `target/client-bench`), `OSSPART_CLIENT_BENCH_PEERS` comma-separated uploader names to run
//! (default all), `OSSPART_BIN` the server binary (default `target/release/osspart`).
//! The `OSSPART_CLIENT_BENCH_` prefix keeps these apart from `server_bench`'s `OSSPART_BENCH_*`.
//! The SDKs come from `compat/node/node_modules` and `compat/python/.venv` (`scripts/test`).
#![deny(unsafe_code)]

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::Context;
use osspart::Client;
use osspart_bench::child::{run_measured, Usage};
use osspart_bench::data_file::{self, ensure_xorshift_file};
use osspart_bench::report::median;
use osspart_bench::server_process::{sdk_env, ServerProcess};

const MIB: u64 = 1024 * 1024;
const GIB: u64 = 1024 * MIB;
const BUCKET: &str = "client-bench";
/// osspart's settings in every run: 5 parts in flight, 8 MiB parts (CRC-64 is always on).
const PARALLEL: u64 = 5;
const PART_SIZE: u64 = 8 * MIB;

/// Settings read once from the environment.
struct Settings {
    /// Size of the benchmark file in bytes.
    size: u64,
    /// Runs per uploader.
    runs: usize,
    /// Size of the sparse file osspart uploads once (0 = skip).
    sparse_size: u64,
    /// Scratch directory for the files and the server's data.
    dir: PathBuf,
    /// Uploader names to run (`None` = all).
    peers: Option<Vec<String>>,
    /// `osspart` binary that serves.
    server_bin: PathBuf,
    /// Directory of this binary, where `osspart_upload` is built too.
    bin_dir: PathBuf,
    /// Workspace root.
    root: PathBuf,
}

impl Settings {
    fn from_env() -> anyhow::Result<Settings> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .canonicalize()?;
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let gib = |name: &str, default: f64| -> anyhow::Result<u64> {
            let g: f64 = var(name).map_or(Ok(default), |v| v.parse())?;
            // Whole MiB, so part counts stay easy to read.
            Ok((g * 1024.0).round() as u64 * MIB)
        };
        Ok(Settings {
            size: gib("OSSPART_CLIENT_BENCH_GIB", 1.0)?,
            runs: var("OSSPART_CLIENT_BENCH_RUNS").map_or(Ok(3), |v| v.parse())?,
            sparse_size: gib("OSSPART_CLIENT_BENCH_SPARSE_GIB", 10.0)?,
            dir: var("OSSPART_CLIENT_BENCH_DIR")
                .map_or_else(|| root.join("target/client-bench"), PathBuf::from),
            peers: var("OSSPART_CLIENT_BENCH_PEERS")
                .map(|v| v.split(',').map(|s| s.trim().to_owned()).collect()),
            server_bin: var("OSSPART_BIN")
                .map_or_else(|| root.join("target/release/osspart"), PathBuf::from),
            bin_dir: std::env::current_exe()?
                .parent()
                .context("binary directory")?
                .to_owned(),
            root,
        })
    }

    fn wants(&self, name: &str) -> bool {
        self.peers
            .as_ref()
            .is_none_or(|p| p.iter().any(|n| n == name))
    }
}

/// Builds the command that uploads the benchmark file as the given object key.
type UploadCommand = Box<dyn Fn(&str) -> anyhow::Result<Command>>;

/// One uploader: its name in the report, what it is, and how to start it.
struct Uploader {
    name: &'static str,
    describe: &'static str,
    command: UploadCommand,
    /// Feed the file on standard input through a pipe from `cat` (whose CPU is not counted).
    piped: bool,
}

/// A sparse file of `size` bytes (all zeros, no blocks on disk).
fn ensure_sparse_file(path: &Path, size: u64) -> anyhow::Result<()> {
    if !std::fs::metadata(path).is_ok_and(|m| m.len() == size) {
        File::create(path)?.set_len(size)?;
    }
    Ok(())
}

/// CRC-64 of a whole file, to check every uploaded object against.
fn file_crc64(path: &Path) -> anyhow::Result<u64> {
    Ok(data_file::file_crc64(path)?.0)
}

/// Every uploader, in the order of the first round.
fn uploaders(settings: &Settings, endpoint: &str, client: &Client, file: &Path) -> Vec<Uploader> {
    let upload_bin = settings.bin_dir.join("osspart_upload");
    let node_dir = settings.root.join("compat/node");
    let py_dir = settings.root.join("compat/python");
    let python = py_dir.join(".venv/bin/python");
    let part = PART_SIZE.to_string();
    let par = PARALLEL.to_string();
    let file = file.to_owned();
    let endpoint = endpoint.to_owned();
    let mut list = Vec::new();
    {
        let (bin, file, endpoint) = (upload_bin.clone(), file.clone(), endpoint.clone());
        list.push(Uploader {
            name: "osspart",
            describe: "osspart multipart_upload, parallel 5, 8 MiB parts, CRC-64 on",
            command: osspart_command(bin.clone(), file, endpoint.clone()),
            piped: false,
        });
        list.push(Uploader {
            name: "osspart-stdin",
            describe: "osspart from a pipe on stdin (unknown size), parallel 5, 8 MiB parts",
            command: osspart_command(bin, PathBuf::from("-"), endpoint),
            piped: true,
        });
    }
    for (name, describe, extra) in [
        (
            "ali-oss-default",
            "ali-oss 6.23 multipartUpload, defaults (parallel 5, 1 MiB parts)",
            vec![],
        ),
        (
            "ali-oss-8m",
            "ali-oss 6.23 multipartUpload, parallel 5, 8 MiB parts",
            vec![par.clone(), part.clone()],
        ),
    ] {
        let (dir, file, endpoint) = (node_dir.clone(), file.clone(), endpoint.clone());
        list.push(Uploader {
            name,
            describe,
            command: Box::new(move |key| {
                let mut c = Command::new("node");
                c.current_dir(&dir)
                    .arg("bench_upload.js")
                    .arg(BUCKET)
                    .arg(key)
                    .arg(&file)
                    .args(&extra);
                sdk_env(&mut c, &endpoint);
                Ok(c)
            }),
            piped: false,
        });
    }
    {
        let (file, endpoint, part, par) = (file.clone(), endpoint.clone(), part, par);
        list.push(Uploader {
            name: "oss2",
            describe: "oss2 resumable_upload, 5 threads, 8 MiB parts, enable_crc=True",
            command: Box::new(move |key| {
                let mut c = Command::new(&python);
                c.current_dir(&py_dir)
                    .arg("bench_upload.py")
                    .arg(BUCKET)
                    .arg(key)
                    .arg(&file)
                    .arg(&par)
                    .arg(&part);
                sdk_env(&mut c, &endpoint);
                Ok(c)
            }),
            piped: false,
        });
    }
    {
        let client = client.clone();
        list.push(Uploader {
            name: "curl",
            describe: "curl -T of the file to a presigned PutObject URL (one stream, no checks)",
            command: Box::new(move |key| {
                let url = client.presign(reqwest::Method::PUT, key, Duration::from_secs(3600));
                let mut c = Command::new("curl");
                // No `Expect: 100-continue` round trip: the floor is one plain stream.
                c.args(["-sS", "-f", "-o", "/dev/null", "-H", "Expect:", "-T"])
                    .arg(&file)
                    .arg(url);
                Ok(c)
            }),
            piped: false,
        });
    }
    list.retain(|u| settings.wants(u.name));
    list
}

/// `osspart_upload BUCKET KEY SOURCE 5 8MiB` against `endpoint`.
fn osspart_command(bin: PathBuf, source: PathBuf, endpoint: String) -> UploadCommand {
    Box::new(move |key| {
        let mut c = Command::new(&bin);
        c.arg(BUCKET)
            .arg(key)
            .arg(&source)
            .arg(PARALLEL.to_string())
            .arg(PART_SIZE.to_string());
        sdk_env(&mut c, &endpoint);
        Ok(c)
    })
}

/// Runs one uploader on `key`, then `check`s the object it made.
fn run_uploader(
    peer: &Uploader,
    key: &str,
    file: &Path,
    log: &Path,
    check: impl FnOnce() -> anyhow::Result<()>,
) -> anyhow::Result<Usage> {
    let cmd = (peer.command)(key)?;
    let usage = if peer.piped {
        let mut cat = Command::new("cat")
            .arg(file)
            .stdout(Stdio::piped())
            .spawn()?;
        let pipe = Stdio::from(cat.stdout.take().context("cat stdout")?);
        let usage = run_measured(cmd, log, Some(pipe));
        anyhow::ensure!(cat.wait()?.success(), "cat failed");
        usage?
    } else {
        run_measured(cmd, log, None)?
    };
    check()?;
    eprintln!(
        "{key:24} {:6.1} s {:6.2} CPU-s ({:.2} sys) {:6.1} MiB RSS",
        usage.wall.as_secs_f64(),
        usage.cpu.as_secs_f64(),
        usage.sys.as_secs_f64(),
        usage.max_rss as f64 / MIB as f64
    );
    Ok(usage)
}

/// Checks the object's size and CRC-64, then deletes it so the server's disk stays small.
async fn verify_and_delete(client: &Client, key: &str, size: u64, crc: u64) -> anyhow::Result<()> {
    let info = client.head_object(key).await?;
    anyhow::ensure!(info.size == size, "{key}: size {} != {size}", info.size);
    anyhow::ensure!(
        info.crc64 == Some(crc),
        "{key}: CRC-64 {:?} != {crc}",
        info.crc64
    );
    client.delete_object(key).await?;
    Ok(())
}

/// Summary of one uploader's runs.
struct Row {
    name: String,
    describe: String,
    /// Median wall throughput, MiB/s.
    mib_s: f64,
    /// Median CPU seconds per GiB.
    cpu_per_gib: f64,
    /// Largest peak RSS, MiB.
    rss_mib: f64,
}

impl Row {
    fn new(name: &str, describe: &str, size: u64, runs: &[Usage]) -> Row {
        let gib = size as f64 / GIB as f64;
        Row {
            name: name.to_owned(),
            describe: describe.to_owned(),
            mib_s: median(
                runs.iter()
                    .map(|u| size as f64 / MIB as f64 / u.wall.as_secs_f64())
                    .collect(),
            ),
            cpu_per_gib: median(runs.iter().map(|u| u.cpu.as_secs_f64() / gib).collect()),
            rss_mib: runs.iter().map(|u| u.max_rss).max().unwrap_or(0) as f64 / MIB as f64,
        }
    }
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("{cores} cores, {cpu}")
}

fn main() -> anyhow::Result<()> {
    let settings = Settings::from_env()?;
    std::fs::create_dir_all(&settings.dir)?;
    let upload_bin = settings.bin_dir.join("osspart_upload");
    anyhow::ensure!(
        upload_bin.is_file(),
        "{} is missing: build with `cargo build --release -p osspart-bench --bins`",
        upload_bin.display()
    );
    let file = settings
        .dir
        .join(format!("data-{}MiB.bin", settings.size / MIB));
    ensure_xorshift_file(&file, settings.size)?;
    let crc = file_crc64(&file)?;
    let server = ServerProcess::start(&settings.server_bin, &settings.dir)?;
    eprintln!(
        "server {} ({})",
        server.endpoint(),
        settings.server_bin.display()
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let client = server.client(BUCKET)?;
    runtime.block_on(client.create_bucket())?;
    let load_before = load_average();

    let peers = uploaders(&settings, server.endpoint(), &client, &file);
    let mut results: Vec<Vec<Usage>> = vec![Vec::new(); peers.len()];
    let logs = settings.dir.join("logs");
    std::fs::create_dir_all(&logs)?;
    let verify = |key: &str| runtime.block_on(verify_and_delete(&client, key, settings.size, crc));
    // Not measured: the server's first upload and a cold page cache would be billed to
    // whoever ran first.
    if let Some(first) = peers.first() {
        let key = "warm-up.bin";
        run_uploader(first, key, &file, &logs.join("warm-up.log"), || verify(key))?;
    }
    for run in 1..=settings.runs {
        // Each round starts one uploader later, so no one always follows the same neighbour.
        for step in 0..peers.len() {
            let i = (step + run - 1) % peers.len();
            let peer = &peers[i];
            let key = format!("{}-{run}.bin", peer.name);
            let log = logs.join(format!("{key}.log"));
            let usage = run_uploader(peer, &key, &file, &log, || verify(&key))?;
            results[i].push(usage);
        }
    }

    let mut sparse = None;
    if settings.sparse_size > 0 && settings.wants("osspart-sparse") {
        let path = settings
            .dir
            .join(format!("sparse-{}MiB.bin", settings.sparse_size / MIB));
        ensure_sparse_file(&path, settings.sparse_size)?;
        let sparse_crc = file_crc64(&path)?;
        let key = "osspart-sparse.bin";
        let sparse_upload = Uploader {
            name: "osspart-sparse",
            describe: "",
            command: osspart_command(
                upload_bin.clone(),
                path.clone(),
                server.endpoint().to_owned(),
            ),
            piped: false,
        };
        let log = logs.join("osspart-sparse.log");
        let usage = run_uploader(&sparse_upload, key, &path, &log, || {
            runtime.block_on(verify_and_delete(
                &client,
                key,
                settings.sparse_size,
                sparse_crc,
            ))
        })?;
        sparse = Some(usage);
    }
    let load_after = load_average();
    drop(server);

    let mut rows: Vec<Row> = peers
        .iter()
        .zip(&results)
        .map(|(p, r)| Row::new(p.name, p.describe, settings.size, r))
        .collect();
    if let Some(u) = sparse {
        rows.push(Row::new(
            "osspart-sparse",
            "osspart, sparse file (1 run)",
            settings.sparse_size,
            &[u],
        ));
    }
    print_report(&settings, &rows, &load_before, &load_after);
    Ok(())
}

fn print_report(settings: &Settings, rows: &[Row], load_before: &str, load_after: &str) {
    let date = time::OffsetDateTime::now_utc().date();
    println!(
        "client benchmark {date}: {} MiB file, {} run(s) each (medians; RSS is the largest seen)",
        settings.size / MIB,
        settings.runs
    );
    println!("machine: {}", machine());
    println!("load average before: {load_before}; after: {load_after}");
    println!();
    println!("| uploader | wall MiB/s | CPU-s/GiB | peak RSS MiB | osspart speed x | osspart CPU x less | osspart RSS x less |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    let ours = rows.iter().find(|r| r.name == "osspart");
    for r in rows {
        let ratios = match ours {
            Some(o) if r.name != "osspart" && !r.name.starts_with("osspart-") => format!(
                "{:.2} | {:.2} | {:.2}",
                o.mib_s / r.mib_s,
                r.cpu_per_gib / o.cpu_per_gib,
                r.rss_mib / o.rss_mib
            ),
            _ => "- | - | -".into(),
        };
        println!(
            "| {} | {:.0} | {:.2} | {:.0} | {ratios} |",
            r.name, r.mib_s, r.cpu_per_gib, r.rss_mib
        );
    }
    println!();
    for r in rows {
        println!("- {}: {}", r.name, r.describe);
    }
    println!();
    let rss_limit = (PARALLEL * PART_SIZE + 32 * MIB) as f64 / MIB as f64;
    if let Some(o) = ours {
        let verdict = |ok: bool| if ok { "met" } else { "MISSED" };
        println!(
            "target CPU <= 0.6 s/GiB: {:.2} -> {}",
            o.cpu_per_gib,
            verdict(o.cpu_per_gib <= 0.6)
        );
        // The SDKs are the peers; curl is the floor for CPU, not a peer.
        let fastest_peer = rows
            .iter()
            .filter(|r| !r.name.starts_with("osspart") && r.name != "curl")
            .map(|r| r.mib_s)
            .fold(0.0, f64::max);
        println!(
            "target wall >= every SDK peer: {:.0} vs best SDK {:.0} MiB/s -> {}",
            o.mib_s,
            fastest_peer,
            verdict(o.mib_s >= fastest_peer)
        );
        if let Some(curl) = rows.iter().find(|r| r.name == "curl") {
            println!(
                "vs the curl floor: CPU {:.2}x curl's, wall {:.2}x curl's throughput",
                o.cpu_per_gib / curl.cpu_per_gib,
                o.mib_s / curl.mib_s
            );
        }
        for r in rows.iter().filter(|r| r.name.starts_with("osspart")) {
            println!(
                "target RSS <= {rss_limit:.0} MiB ({}): {:.0} -> {}",
                r.name,
                r.rss_mib,
                verdict(r.rss_mib <= rss_limit)
            );
        }
    }
}
