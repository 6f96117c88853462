//! Client benchmark: the same file uploaded through one `osspart serve` by osspart (`osspart cp`,
//! from a file and from stdin, and the library), Apache OpenDAL's OSS writer, ali-oss (Node) and
//! oss2 (Python), with `curl -T` of a presigned PutObject URL as the single-stream floor.
//!
//! Every uploader runs as its own child process and is reaped with `wait4`, so its user + system
//! CPU time and peak RSS are its own; the server is another process, whose CPU over each upload
//! is read from `/proc` and reported beside it, together with the CPU that MD5 alone needs for
//! the same bytes (hashed in this process), since every stored byte must be MD5-hashed.
//! Uploaders run round-robin, `runs` times each, so background noise spreads over all of them;
//! the report shows medians of wall time and CPU and the largest peak RSS seen.
//!
//! Settings (environment): `OSSPART_CLIENT_BENCH_GIB` file size in GiB (default 1, fractions allowed),
//! `OSSPART_CLIENT_BENCH_RUNS` runs per uploader (default 3), `OSSPART_CLIENT_BENCH_SPARSE_GIB` size of the
//! sparse-file run (default 10; 0 skips it), `OSSPART_CLIENT_BENCH_DIR` scratch directory (default
//! `target/client-bench`), `OSSPART_CLIENT_BENCH_PEERS` comma-separated uploader names to run
//! (default all), `OSSPART_BIN` the server binary (default `target/release/osspart`).
//! The `OSSPART_CLIENT_BENCH_` prefix keeps these apart from `server_bench`'s `OSSPART_BENCH_*`.
//! The SDKs come from `compat/node/node_modules` and `compat/python/.venv` (`scripts/test`);
//! the OpenDAL uploader (`bench/peers/opendal`, a crate outside the workspace) is built into
//! `bench/peers/opendal/target` by this benchmark on first use.
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
use osspart_bench::server_process::{cli_env, sdk_env, ServerProcess};

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
    /// `osspart` binary that serves (and uploads, as `osspart cp`).
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

    /// The OpenDAL uploader's crate.
    fn opendal_dir(&self) -> PathBuf {
        self.root.join("bench/peers/opendal")
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
fn uploaders(
    settings: &Settings,
    endpoint: &str,
    client: &Client,
    file: &Path,
    opendal_bin: Option<PathBuf>,
) -> Vec<Uploader> {
    let upload_bin = settings.bin_dir.join("osspart_upload");
    let node_dir = settings.root.join("compat/node");
    let py_dir = settings.root.join("compat/python");
    let python = py_dir.join(".venv/bin/python");
    let part = PART_SIZE.to_string();
    let par = PARALLEL.to_string();
    let file = file.to_owned();
    let endpoint = endpoint.to_owned();
    let mut list = Vec::new();
    let home = settings.dir.join("cli-home");
    for (name, describe, source, piped) in [
        (
            "osspart",
            "osspart cp FILE oss://..., defaults (parallel 5, 8 MiB parts, CRC-64 per part and object)",
            file.clone(),
            false,
        ),
        (
            "osspart-stdin",
            "osspart cp - oss://... from a pipe on stdin (unknown size), defaults",
            PathBuf::from("-"),
            true,
        ),
    ] {
        let (bin, endpoint, home) = (settings.server_bin.clone(), endpoint.clone(), home.clone());
        list.push(Uploader {
            name,
            describe,
            command: Box::new(move |key| {
                let mut c = Command::new(&bin);
                c.arg("cp")
                    .arg(&source)
                    .arg(format!("oss://{BUCKET}/{key}"));
                cli_env(&mut c, &endpoint, &home);
                Ok(c)
            }),
            piped,
        });
    }
    list.push(Uploader {
        name: "osspart-sdk",
        describe:
            "osspart library multipart_upload (bench bin osspart_upload), parallel 5, 8 MiB parts",
        command: osspart_command(upload_bin.clone(), file.clone(), endpoint.clone()),
        piped: false,
    });
    if let Some(bin) = opendal_bin {
        let (file, endpoint) = (file.clone(), endpoint.clone());
        list.push(Uploader {
            name: "opendal",
            describe:
                "Apache OpenDAL 0.59.5 OSS writer, chunk 8 MiB, concurrent 5 (bench/peers/opendal)",
            command: Box::new(move |key| {
                let mut c = Command::new(&bin);
                c.arg(&file)
                    .arg(BUCKET)
                    .arg(key)
                    .args(["--chunk", &PART_SIZE.to_string()])
                    .args(["--concurrent", &PARALLEL.to_string()]);
                sdk_env(&mut c, &endpoint);
                Ok(c)
            }),
            piped: false,
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

/// One upload: the uploader's own usage and the server's CPU over it.
#[derive(Clone, Copy)]
struct Run {
    usage: Usage,
    /// The server's user + system CPU from the uploader's start to its exit, if `/proc` told.
    server_cpu: Option<Duration>,
}

/// Runs one uploader on `key`, then `check`s the object it made.
fn run_uploader(
    peer: &Uploader,
    key: &str,
    file: &Path,
    log: &Path,
    server: &ServerProcess,
    check: impl FnOnce() -> anyhow::Result<()>,
) -> anyhow::Result<Run> {
    let cmd = (peer.command)(key)?;
    let server_before = server.cpu();
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
    let server_cpu = server_before
        .zip(server.cpu())
        .map(|(a, b)| b.saturating_sub(a));
    check()?;
    eprintln!(
        "{key:24} {:6.1} s {:6.2} CPU-s ({:.2} sys) {:6.1} MiB RSS, server {:.2} CPU-s, load {}",
        usage.wall.as_secs_f64(),
        usage.cpu.as_secs_f64(),
        usage.sys.as_secs_f64(),
        usage.max_rss as f64 / MIB as f64,
        server_cpu.map_or(f64::NAN, |d| d.as_secs_f64()),
        load_average()
    );
    Ok(Run { usage, server_cpu })
}

/// Builds the OpenDAL uploader (its own crate and target directory, outside the workspace
/// build) and returns its binary. Cargo does nothing when it is up to date.
fn build_opendal(settings: &Settings) -> anyhow::Result<PathBuf> {
    let dir = settings.opendal_dir();
    let target = dir.join("target");
    let bin = target.join("release/osspart-bench-opendal");
    if !bin.is_file() {
        eprintln!(
            "building the OpenDAL uploader in {} (first use: a few minutes)",
            dir.display()
        );
    }
    let status = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .args([
            "build",
            "--release",
            "--quiet",
            "--locked",
            "--manifest-path",
        ])
        .arg(dir.join("Cargo.toml"))
        .env("CARGO_TARGET_DIR", &target)
        .status()
        .context("cannot run cargo to build the OpenDAL uploader")?;
    anyhow::ensure!(status.success(), "building {} failed", dir.display());
    Ok(bin)
}

/// CPU seconds per GiB that MD5 alone needs on this machine, on this thread, best of 3 each:
/// the `md-5` crate and the server's single-stream MD5 (`osspart_server::store::BodyMd5`),
/// each over `data` in 128 KiB updates (the size of the server's body chunks); and the
/// server's multi-lane kernel (`md5_lanes`) over `data` cut into five streams hashed side by
/// side in 1 MiB steps, as the server hashes five parts in flight at best.
fn md5_alone(data: &[u8]) -> anyhow::Result<Md5Alone> {
    use md5::Digest;
    use osspart_server::store::md5_lanes::{self, Md5State};
    let gib = data.len() as f64 / GIB as f64;
    let time = |hash: &dyn Fn() -> [u8; 16]| -> anyhow::Result<(f64, [u8; 16])> {
        let mut best = f64::INFINITY;
        let mut digest = [0; 16];
        for _ in 0..3 {
            let before = osspart_bench::cpu::this_thread().context("thread CPU from /proc")?;
            digest = hash();
            let after = osspart_bench::cpu::this_thread().context("thread CPU from /proc")?;
            best = best.min((after - before).as_secs_f64() / gib);
        }
        Ok((best, digest))
    };
    let (crate_md5, a) = time(&|| {
        let mut h = md5::Md5::new();
        for chunk in data.chunks(128 * 1024) {
            h.update(chunk);
        }
        h.finalize().into()
    })?;
    let (server_md5, b) = time(&|| {
        let mut h = osspart_server::store::BodyMd5::new();
        for chunk in data.chunks(128 * 1024) {
            h.update(chunk);
        }
        h.finalize()
    })?;
    anyhow::ensure!(a == b, "the two MD5s disagree");
    // Five streams of whole MiBs; the digests are checked against md-5 below.
    let stream_len = data.len() / 5 / MIB as usize * MIB as usize;
    let streams: Vec<&[u8]> = data.chunks(stream_len.max(MIB as usize)).take(5).collect();
    let (lanes_md5, _) = time(&|| {
        let mut states = vec![Md5State::INIT; streams.len()];
        for at in (0..stream_len).step_by(MIB as usize) {
            let mut jobs: Vec<(&mut Md5State, &[u8])> = states
                .iter_mut()
                .zip(&streams)
                .map(|(s, d)| (s, &d[at..at + MIB as usize]))
                .collect();
            md5_lanes::compress_many(&mut jobs);
        }
        md5_lanes::finish(states[0], &[], stream_len as u64)
    })?;
    let hashed = (streams.len() * stream_len) as f64;
    let lanes_md5 = lanes_md5 * data.len() as f64 / hashed;
    let want: [u8; 16] = md5::Md5::digest(&streams[0][..stream_len]).into();
    let mut lane0 = Md5State::INIT;
    md5_lanes::compress_many(&mut [(&mut lane0, &streams[0][..stream_len])]);
    let lane0 = md5_lanes::finish(lane0, &[], stream_len as u64);
    anyhow::ensure!(lane0 == want, "the lanes MD5 disagrees with md-5");
    Ok(Md5Alone {
        crate_md5,
        server_md5,
        lanes_md5,
        kernel: md5_lanes::kernel_name(),
    })
}

/// What [`md5_alone`] measured, in CPU-s/GiB.
struct Md5Alone {
    crate_md5: f64,
    server_md5: f64,
    lanes_md5: f64,
    kernel: &'static str,
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
    /// Median wall time, s.
    wall_s: f64,
    /// Median wall throughput, MiB/s.
    mib_s: f64,
    /// Median CPU seconds per GiB, and its system part.
    cpu_per_gib: f64,
    sys_per_gib: f64,
    /// Largest peak RSS, MiB.
    rss_mib: f64,
    /// Median server CPU seconds per GiB (NaN when `/proc` could not be read).
    server_per_gib: f64,
    /// Median of wall / ((client CPU + server CPU) / 2): 1.0 keeps both cores busy.
    wall_per_half_cpu: f64,
}

impl Row {
    fn new(name: &str, describe: &str, size: u64, runs: &[Run]) -> Row {
        let gib = size as f64 / GIB as f64;
        let of = |f: &dyn Fn(&Run) -> f64| median(runs.iter().map(f).collect());
        let server = |r: &Run| r.server_cpu.map_or(f64::NAN, |d| d.as_secs_f64());
        Row {
            name: name.to_owned(),
            describe: describe.to_owned(),
            wall_s: of(&|r| r.usage.wall.as_secs_f64()),
            mib_s: of(&|r| size as f64 / MIB as f64 / r.usage.wall.as_secs_f64()),
            cpu_per_gib: of(&|r| r.usage.cpu.as_secs_f64() / gib),
            sys_per_gib: of(&|r| r.usage.sys.as_secs_f64() / gib),
            rss_mib: runs.iter().map(|r| r.usage.max_rss).max().unwrap_or(0) as f64 / MIB as f64,
            server_per_gib: of(&|r| server(r) / gib),
            wall_per_half_cpu: of(&|r| {
                r.usage.wall.as_secs_f64() / ((r.usage.cpu.as_secs_f64() + server(r)) / 2.0)
            }),
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
    let opendal_bin = if settings.wants("opendal") {
        Some(build_opendal(&settings)?)
    } else {
        None
    };
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

    let peers = uploaders(&settings, server.endpoint(), &client, &file, opendal_bin);
    let mut results: Vec<Vec<Run>> = vec![Vec::new(); peers.len()];
    let logs = settings.dir.join("logs");
    std::fs::create_dir_all(&logs)?;
    let verify = |key: &str| runtime.block_on(verify_and_delete(&client, key, settings.size, crc));
    // Not measured: the server's first upload and a cold page cache would be billed to
    // whoever ran first.
    if let Some(first) = peers.first() {
        let key = "warm-up.bin";
        run_uploader(
            first,
            key,
            &file,
            &logs.join("warm-up.log"),
            &server,
            || verify(key),
        )?;
    }
    for run in 1..=settings.runs {
        // Each round starts one uploader later, so no one always follows the same neighbour.
        for step in 0..peers.len() {
            let i = (step + run - 1) % peers.len();
            let peer = &peers[i];
            let key = format!("{}-{run}.bin", peer.name);
            let log = logs.join(format!("{key}.log"));
            let run = run_uploader(peer, &key, &file, &log, &server, || verify(&key))?;
            results[i].push(run);
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
        let usage = run_uploader(&sparse_upload, key, &path, &log, &server, || {
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
    eprintln!("MD5 alone over the same file...");
    let md5 = md5_alone(&std::fs::read(&file)?)?;

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
    print_report(&settings, &rows, md5, &load_before, &load_after);
    Ok(())
}

fn print_report(
    settings: &Settings,
    rows: &[Row],
    md5: Md5Alone,
    load_before: &str,
    load_after: &str,
) {
    let (md5_crate, md5_server) = (md5.crate_md5, md5.server_md5);
    let date = time::OffsetDateTime::now_utc().date();
    println!(
        "client benchmark {date}: {} MiB file, {} run(s) each (medians; RSS is the largest seen)",
        settings.size / MIB,
        settings.runs
    );
    println!("machine: {}", machine());
    println!("load average before: {load_before}; after: {load_after}");
    println!(
        "MD5 alone on the same bytes, one core: md-5 crate {md5_crate:.2} CPU-s/GiB, \
         the server's MD5 (AWS-LC) {md5_server:.2} CPU-s/GiB; five streams side by side \
         (the server's {} kernel, as for five parts in flight) {:.2} CPU-s/GiB",
        md5.kernel, md5.lanes_md5
    );
    println!();
    println!(
        "| uploader | wall s | MiB/s | client CPU-s/GiB (sys) | peak RSS MiB | server CPU-s/GiB \
         | server / MD5 alone (md-5, server's) | wall / ((client+server CPU)/2) |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for r in rows {
        println!(
            "| {} | {:.2} | {:.0} | {:.2} ({:.2}) | {:.0} | {:.2} | {:.2}, {:.2} | {:.2} |",
            r.name,
            r.wall_s,
            r.mib_s,
            r.cpu_per_gib,
            r.sys_per_gib,
            r.rss_mib,
            r.server_per_gib,
            r.server_per_gib / md5_crate,
            r.server_per_gib / md5_server,
            r.wall_per_half_cpu
        );
    }
    println!();
    for r in rows {
        println!("- {}: {}", r.name, r.describe);
    }
    println!();
    let find = |name: &str| rows.iter().find(|r| r.name == name);
    let verdict = |ok: bool| if ok { "PASS" } else { "MISS" };
    let Some(o) = find("osspart") else {
        return;
    };
    if let Some(curl) = find("curl") {
        let x = o.cpu_per_gib / curl.cpu_per_gib;
        println!(
            "client CPU: osspart {:.2} / curl {:.2} s/GiB = {x:.2}x (goal <= 1.0x: {})",
            o.cpu_per_gib,
            curl.cpu_per_gib,
            verdict(x <= 1.0)
        );
    }
    if let Some(dal) = find("opendal") {
        let x = dal.cpu_per_gib / o.cpu_per_gib;
        println!(
            "client CPU: OpenDAL {:.2} / osspart {:.2} s/GiB = {x:.2}x (goal >= 2x: {})",
            dal.cpu_per_gib,
            o.cpu_per_gib,
            verdict(x >= 2.0)
        );
    }
    println!(
        "peak RSS: osspart {:.0} MiB (goal <= 24 MiB: {})",
        o.rss_mib,
        verdict(o.rss_mib <= 24.0)
    );
    let server_all = median(rows.iter().map(|r| r.server_per_gib).collect());
    for (what, v) in [
        ("osspart's uploads", o.server_per_gib),
        ("median over uploaders", server_all),
    ] {
        println!(
            "server CPU / MD5 alone ({what}): {v:.2} s/GiB = {:.2}x md-5, {:.2}x the server's own MD5, {:.2}x five streams side by side (goal <= 1.3x: {} vs md-5, {} vs its own)",
            v / md5_crate,
            v / md5_server,
            v / md5.lanes_md5,
            verdict(v / md5_crate <= 1.3),
            verdict(v / md5_server <= 1.3)
        );
    }
    if let Some(dal) = find("opendal") {
        let x = o.mib_s / dal.mib_s;
        println!(
            "throughput: osspart {:.0} / OpenDAL {:.0} MiB/s = {x:.2}x (goal >= 1.25x: {})",
            o.mib_s,
            dal.mib_s,
            verdict(x >= 1.25)
        );
    }
    println!(
        "both cores busy: osspart wall / ((client+server CPU)/2) = {:.2} (goal <= 1.2: {})",
        o.wall_per_half_cpu,
        verdict(o.wall_per_half_cpu <= 1.2)
    );
}
