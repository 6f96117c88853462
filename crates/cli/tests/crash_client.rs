//! Client crash rig: `osspart cp FILE oss://bucket/key` runs as a child process and
//! is SIGKILLed at seeded moments (right after InitiateMultipartUpload, part-way through the
//! parts, while a checkpoint is being written, around CompleteMultipartUpload, or at a random
//! time); the same command is run again, possibly killed again, until it succeeds.
//!
//! After every file: the object is byte-identical to the file (GET and CRC-64), no multipart
//! upload is left in the bucket (not even one a killed run initiated and lost), the checkpoint
//! directory holds nothing, and the bytes the server ingested beyond the file's size (parts
//! sent again after a crash) are at most `parallel x part_size` per crash.
//!
//! The server runs in this process (so its counters are at hand); only the client is killed.
//! `OSSPART_STRESS_ITERATIONS` sets the number of crash/resume cycles (default 24) and
//! `OSSPART_STRESS_SEED` the seed.

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use futures_util::TryStreamExt;
use osspart::{Client, Config, Credentials, ListUploadsQuery, RetryPolicy};
use osspart_protocol::crc64;
use osspart_server::{RunningServer, ServerConfig};

use crate::support::{self, ACCESS_KEY_ID, ACCESS_KEY_SECRET, REGION};

/// Part size the rig uploads with (the smallest OSS allows).
const PART_SIZE: u64 = 100 * 1024;
/// Upper bound for one `osspart cp` run before the rig gives up on it.
const RUN_TIMEOUT: Duration = Duration::from_secs(120);
/// Runs of one file before the rig gives up (a file that never finishes is a failure).
const MAX_RUNS_PER_FILE: u32 = 40;

/// A small seeded generator (SplitMix64), so a failing run can be replayed from its seed.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..hi` (`lo` when the range is empty).
    pub(crate) fn range(&mut self, lo: u64, hi: u64) -> u64 {
        if hi <= lo {
            return lo;
        }
        lo + self.next_u64() % (hi - lo)
    }

    pub(crate) fn bytes(&mut self, len: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(len + 8);
        while out.len() < len {
            out.extend_from_slice(&self.next_u64().to_le_bytes());
        }
        out.truncate(len);
        out
    }
}

/// `OSSPART_STRESS_ITERATIONS` when set, else `default`.
pub(crate) fn stress_iterations(default: usize) -> usize {
    match std::env::var("OSSPART_STRESS_ITERATIONS") {
        Ok(v) => v
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("OSSPART_STRESS_ITERATIONS={v:?} is not a number")),
        Err(_) => default,
    }
}

/// `OSSPART_STRESS_SEED` when set, else `default`.
pub(crate) fn stress_seed(default: u64) -> u64 {
    match std::env::var("OSSPART_STRESS_SEED") {
        Ok(v) => v
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("OSSPART_STRESS_SEED={v:?} is not a number")),
        Err(_) => default,
    }
}

pub(crate) fn credentials() -> Credentials {
    Credentials {
        access_key_id: ACCESS_KEY_ID.into(),
        access_key_secret: ACCESS_KEY_SECRET.into(),
        security_token: None,
    }
}

/// A client for `bucket` that fails fast (the rigs classify every failure themselves).
pub(crate) fn quick_client(endpoint: &str, bucket: &str) -> Client {
    let mut config = Config::new(endpoint, REGION, bucket, credentials());
    config.retry = RetryPolicy::none();
    config.connect_timeout = Duration::from_secs(5);
    config.request_timeout = Duration::from_secs(30);
    Client::new(config).expect("client")
}

/// When a run is killed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum KillAt {
    /// As soon as the server has answered InitiateMultipartUpload: before (or while) the
    /// checkpoint naming the new upload is first saved.
    AfterInitiate,
    /// Once the server has ingested this many bytes in this run, plus a short delay.
    AfterBytes(u64),
    /// While a checkpoint is being written (its temporary file exists).
    DuringCheckpointSave,
    /// Once every byte is on the server: the last checkpoint save, Complete or the cleanup,
    /// after this many microseconds.
    NearComplete(u64),
    /// As soon as the server has committed CompleteMultipartUpload.
    AfterComplete,
    /// This many milliseconds after the start.
    AtTime(u64),
}

impl KillAt {
    fn label(self) -> &'static str {
        match self {
            KillAt::AfterInitiate => "after-initiate",
            KillAt::AfterBytes(_) => "during-parts",
            KillAt::DuringCheckpointSave => "during-checkpoint-save",
            KillAt::NearComplete(_) => "near-complete",
            KillAt::AfterComplete => "after-complete",
            KillAt::AtTime(_) => "random-time",
        }
    }
}

/// How a run ended.
enum Outcome {
    Killed,
    Exited(ExitStatus),
}

/// Figures of the whole rig, printed at the end.
#[derive(Default)]
struct Figures {
    files: u32,
    runs: u32,
    crashes: u32,
    crashes_by_moment: BTreeMap<&'static str, u32>,
    /// Kills that left no checkpoint naming an upload although one had been initiated.
    killed_before_first_save: u32,
    /// Kills that came after the run had completed the object and removed its checkpoint.
    killed_after_finishing: u32,
    bytes_uploaded: u64,
    bytes_resent: u64,
    max_resent_per_crash: u64,
    objects_verified: u32,
}

struct Rig {
    runtime: tokio::runtime::Runtime,
    server: RunningServer,
    client: Client,
    bucket: String,
    work: tempfile::TempDir,
    checkpoint_dir: PathBuf,
}

impl Rig {
    fn start() -> Rig {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let work = tempfile::Builder::new()
            .prefix("osspart-crash-client-")
            .tempdir()
            .expect("temp dir");
        let data = work.path().join("data");
        fs::create_dir_all(&data).unwrap();
        let mut config = ServerConfig::new(&data, "127.0.0.1:0".parse().unwrap());
        config.credentials.push(credentials());
        let server = runtime
            .block_on(RunningServer::start(config))
            .expect("start the server");
        let bucket = "crash-client".to_owned();
        let client = quick_client(&server.endpoint(), &bucket);
        runtime
            .block_on(client.create_bucket())
            .expect("create bucket");
        let checkpoint_dir = work.path().join("checkpoints");
        for dir in ["state", "config", "share", "home", "files"] {
            fs::create_dir_all(work.path().join(dir)).unwrap();
        }
        Rig {
            runtime,
            server,
            client,
            bucket,
            checkpoint_dir,
            work,
        }
    }

    fn counter(&self, op: &str) -> u64 {
        self.server
            .completed_operations()
            .get(op)
            .copied()
            .unwrap_or(0)
    }

    fn cp_command(&self, file: &Path, key: &str, parallel: usize, run: u32) -> Command {
        let dir = self.work.path();
        let mut cmd = Command::new(support::osspart_bin());
        cmd.arg("--endpoint")
            .arg(self.server.endpoint())
            .arg("--checkpoint-dir")
            .arg(&self.checkpoint_dir)
            .arg("--json")
            .arg("cp")
            .arg(file)
            .arg(format!("oss://{}/{key}", self.bucket))
            .arg("--part-size")
            .arg("100KiB")
            .arg("--parallel")
            .arg(parallel.to_string())
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("OSS_ACCESS_KEY_ID", ACCESS_KEY_ID)
            .env("OSS_ACCESS_KEY_SECRET", ACCESS_KEY_SECRET)
            .env("OSS_REGION", REGION)
            .env("HOME", dir.join("home"))
            .env("XDG_STATE_HOME", dir.join("state"))
            .env("XDG_CONFIG_HOME", dir.join("config"))
            .env("XDG_DATA_HOME", dir.join("share"))
            .stdin(Stdio::null())
            .stdout(fs::File::create(dir.join(format!("run-{run}.out"))).unwrap())
            .stderr(fs::File::create(dir.join(format!("run-{run}.err"))).unwrap());
        cmd
    }

    fn run_output(&self, run: u32) -> String {
        let dir = self.work.path();
        format!(
            "stdout:\n{}\nstderr:\n{}",
            fs::read_to_string(dir.join(format!("run-{run}.out"))).unwrap_or_default(),
            fs::read_to_string(dir.join(format!("run-{run}.err"))).unwrap_or_default()
        )
    }

    fn checkpoint_entries(&self) -> Vec<String> {
        match fs::read_dir(&self.checkpoint_dir) {
            Ok(entries) => entries
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect(),
            Err(_) => Vec::new(),
        }
    }

    /// The saved checkpoint (ours is the only one in the directory), if any.
    fn saved_upload_id(&self) -> Option<String> {
        let name = self
            .checkpoint_entries()
            .into_iter()
            .find(|n| n.ends_with(".json"))?;
        let text = fs::read(self.checkpoint_dir.join(name)).ok()?;
        let cp = osspart::Checkpoint::from_json(&text).ok()?;
        Some(cp.upload_id).filter(|id| !id.is_empty())
    }

    /// Runs `cmd`, killing it when `kill` says so; `left` is how many bytes of the file the
    /// server has not ingested yet. Returns how the run ended.
    fn run(&self, cmd: Command, kill: Option<KillAt>, left: u64, rng: &mut Rng) -> Outcome {
        let initiates = self.counter("InitiateMultipartUpload");
        let completes = self.counter("CompleteMultipartUpload");
        let ingested = self.server.ingested_bytes();
        let stale: HashSet<String> = self.checkpoint_entries().into_iter().collect();
        let delay = Duration::from_micros(match kill {
            Some(KillAt::AfterBytes(_)) => rng.range(0, 2000),
            Some(KillAt::NearComplete(us)) => us,
            _ => 0,
        });
        let started = Instant::now();
        let mut child: Child = { cmd }.spawn().expect("spawn osspart cp");
        let mut fired_at: Option<Instant> = None;
        loop {
            if let Some(status) = child.try_wait().expect("try_wait") {
                return Outcome::Exited(status);
            }
            assert!(
                started.elapsed() < RUN_TIMEOUT,
                "osspart cp did not finish within {RUN_TIMEOUT:?}"
            );
            if fired_at.is_none() {
                let run_ingested = self.server.ingested_bytes() - ingested;
                let now = match kill {
                    None => false,
                    Some(KillAt::AfterInitiate) => {
                        self.counter("InitiateMultipartUpload") > initiates
                    }
                    Some(KillAt::AfterBytes(n)) => run_ingested >= n,
                    Some(KillAt::DuringCheckpointSave) => self
                        .checkpoint_entries()
                        .iter()
                        .any(|n| n.contains(".tmp") && !stale.contains(n)),
                    Some(KillAt::NearComplete(_)) => run_ingested >= left,
                    Some(KillAt::AfterComplete) => {
                        self.counter("CompleteMultipartUpload") > completes
                    }
                    Some(KillAt::AtTime(ms)) => started.elapsed() >= Duration::from_millis(ms),
                };
                if now {
                    fired_at = Some(Instant::now());
                }
            }
            if fired_at.is_some_and(|at| at.elapsed() >= delay) {
                return kill_child(child);
            }
            match kill {
                // These windows are short: poll without sleeping.
                Some(KillAt::AfterInitiate)
                | Some(KillAt::DuringCheckpointSave)
                | Some(KillAt::NearComplete(_))
                | Some(KillAt::AfterComplete) => thread::yield_now(),
                _ => thread::sleep(Duration::from_micros(200)),
            }
        }
    }

    /// Whether the killed run had finished: no checkpoint is left and the object is the file.
    fn finished_before_kill(&self, key: &str, data: &[u8]) -> bool {
        if self
            .checkpoint_entries()
            .iter()
            .any(|n| !n.ends_with(".lock"))
        {
            return false;
        }
        let info = self
            .runtime
            .block_on(self.client.object_exists(key))
            .expect("HEAD");
        info.is_some_and(|i| i.crc64 == Some(crc64::checksum(data)) && i.size == data.len() as u64)
    }

    fn pending_uploads(&self) -> Vec<(String, String)> {
        self.runtime.block_on(async {
            self.client
                .list_all_uploads(ListUploadsQuery::default())
                .map_ok(|u| (u.key, u.upload_id))
                .try_collect()
                .await
                .expect("ListMultipartUploads")
        })
    }
}

fn kill_child(mut child: Child) -> Outcome {
    let _ = child.kill();
    let status = child.wait().expect("wait");
    if status.signal() == Some(9) {
        Outcome::Killed
    } else {
        // It finished on its own just before the kill.
        Outcome::Exited(status)
    }
}

fn choose_kill(rng: &mut Rng, remaining: u64, has_checkpoint: bool) -> KillAt {
    loop {
        let k = match rng.range(0, 12) {
            0 | 1 => KillAt::AfterInitiate,
            2..=4 => KillAt::AfterBytes(rng.range(0, remaining.max(1))),
            5 | 6 => KillAt::DuringCheckpointSave,
            7 | 8 => KillAt::NearComplete(rng.range(0, 4000)),
            9 => KillAt::AfterComplete,
            _ => KillAt::AtTime(rng.range(5, 400)),
        };
        // A resumed run only initiates when its upload is gone; aim where something happens.
        if k == KillAt::AfterInitiate && has_checkpoint {
            continue;
        }
        return k;
    }
}

#[test]
fn killed_cp_resumes_to_an_identical_object_without_orphans() {
    let target_crashes = stress_iterations(24) as u32;
    let seed = stress_seed(0x05C0_FFEE);
    let mut rng = Rng::new(seed);
    let rig = Rig::start();
    let mut figures = Figures::default();
    let started = Instant::now();

    while figures.crashes < target_crashes {
        figures.files += 1;
        let file_no = figures.files;
        // Mostly small files, so Complete and the checkpoint saves are a large share of a run;
        // some with dozens of parts.
        let size = match rng.range(0, 10) {
            0..=2 => rng.range(1, PART_SIZE + 1),
            3..=6 => rng.range(PART_SIZE + 1, 6 * PART_SIZE),
            _ => rng.range(6 * PART_SIZE, 40 * PART_SIZE),
        };
        let parallel = [1usize, 2, 3, 4][rng.range(0, 4) as usize];
        let planned_crashes = rng.range(1, 5) as u32;
        let path = rig
            .work
            .path()
            .join("files")
            .join(format!("f{file_no}.bin"));
        let data = rng.bytes(size as usize);
        fs::write(&path, &data).unwrap();
        let key = format!("dir/file-{file_no}.bin");

        let ingested_at_start = rig.server.ingested_bytes();
        let mut crashes = 0u32;
        let mut runs = 0u32;
        // What happened to each run of this file, for failure messages.
        let mut history: Vec<String> = Vec::new();
        loop {
            runs += 1;
            figures.runs += 1;
            assert!(
                runs <= MAX_RUNS_PER_FILE,
                "file {file_no} did not finish after {MAX_RUNS_PER_FILE} runs"
            );
            let run_id = figures.runs;
            let cmd = rig.cp_command(&path, &key, parallel, run_id);
            let file_ingested = rig.server.ingested_bytes() - ingested_at_start;
            let kill = (crashes < planned_crashes).then(|| {
                choose_kill(
                    &mut rng,
                    size.saturating_sub(file_ingested),
                    rig.saved_upload_id().is_some(),
                )
            });
            let initiates_before = rig.counter("InitiateMultipartUpload");
            let outcome = rig.run(cmd, kill, size.saturating_sub(file_ingested), &mut rng);
            history.push(format!(
                "run {run_id}: kill {kill:?} -> {}, checkpoint {:?}, ingested {}",
                match &outcome {
                    Outcome::Killed => "killed".to_owned(),
                    Outcome::Exited(s) => s.to_string(),
                },
                rig.checkpoint_entries(),
                rig.server.ingested_bytes() - ingested_at_start
            ));
            match outcome {
                Outcome::Killed if rig.finished_before_kill(&key, &data) => {
                    // Killed after removing its checkpoint: the upload was done and only the
                    // exit was left. A new run would be a new upload, not a resume.
                    figures.killed_after_finishing += 1;
                    for name in rig.checkpoint_entries() {
                        assert!(name.ends_with(".lock"), "checkpoint state left: {name}");
                        let _ = fs::remove_file(rig.checkpoint_dir.join(name));
                    }
                    break;
                }
                Outcome::Killed => {
                    crashes += 1;
                    figures.crashes += 1;
                    *figures
                        .crashes_by_moment
                        .entry(kill.expect("killed without a plan").label())
                        .or_default() += 1;
                    if rig.counter("InitiateMultipartUpload") > initiates_before
                        && rig.saved_upload_id().is_none()
                        && !rig.pending_uploads().is_empty()
                    {
                        figures.killed_before_first_save += 1;
                    }
                }
                Outcome::Exited(status) if status.success() => break,
                Outcome::Exited(status) => panic!(
                    "osspart cp of file {file_no} (run {runs}, after {crashes} crashes) failed: \
                     {status}\n{}",
                    rig.run_output(run_id)
                ),
            }
        }

        // The object is the file, byte for byte.
        let (info, body) = rig
            .runtime
            .block_on(rig.client.get_object(&key, None))
            .expect("GET the uploaded object");
        assert_eq!(body.len() as u64, size, "object size of file {file_no}");
        assert!(
            body[..] == data[..],
            "object of file {file_no} differs from the file"
        );
        assert_eq!(
            info.crc64,
            Some(crc64::checksum(&data)),
            "CRC-64 of file {file_no}"
        );
        // Nothing is left behind: no upload (not even one a killed run lost), no checkpoint.
        let pending = rig.pending_uploads();
        assert!(
            pending.is_empty(),
            "uploads left after file {file_no} ({crashes} crashes): {pending:?}"
        );
        let leftovers = rig.checkpoint_entries();
        assert!(
            leftovers.is_empty(),
            "checkpoint directory not empty after file {file_no}: {leftovers:?}"
        );
        // Re-sent bytes: what the server ingested beyond the file.
        let ingested = rig.server.ingested_bytes() - ingested_at_start;
        let resent = ingested.saturating_sub(size);
        assert!(
            resent <= u64::from(crashes) * parallel as u64 * PART_SIZE,
            "file {file_no} ({size} bytes, parallel {parallel}): {resent} bytes re-sent over \
             {crashes} crashes\n{}\nlast run's output:\n{}",
            history.join("\n"),
            rig.run_output(figures.runs)
        );
        figures.objects_verified += 1;
        figures.bytes_uploaded += size;
        figures.bytes_resent += resent;
        if crashes > 0 {
            figures.max_resent_per_crash = figures
                .max_resent_per_crash
                .max(resent / u64::from(crashes));
        }
    }

    println!(
        "client crash rig (seed {seed}): {} files, {} runs, {} crashes {:?}, {} killed between \
         initiate and the first checkpoint save, {} after the run had finished; {} objects verified ({} bytes); {} bytes \
         re-sent (max {} per crash); {:.1} s",
        figures.files,
        figures.runs,
        figures.crashes,
        figures.crashes_by_moment,
        figures.killed_before_first_save,
        figures.killed_after_finishing,
        figures.objects_verified,
        figures.bytes_uploaded,
        figures.bytes_resent,
        figures.max_resent_per_crash,
        started.elapsed().as_secs_f64()
    );
}
