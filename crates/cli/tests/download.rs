//! `osspart cp oss://b/k FILE` downloads through `Client::download`: killed with SIGKILL
//! midway, the same command resumes from the checkpoint it left (fetching only what is
//! missing, as counted on the wire by a fault proxy) and ends with the exact bytes and nothing
//! left over; a range corrupted on the wire fails the CRC-64 with exit 5 and no file.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::thread;
use std::time::{Duration, Instant};

use osspart_testkit::{Cut, Fault, FaultKind, FaultProxy, FaultRule, Phase, SeenRequest};

use crate::home::{pattern, Home};
use crate::support::ServerProcess;

/// 20 MiB in 100 KiB ranges: 205 of them.
const BIG: usize = 20 << 20;
const PART: u64 = 100 << 10;
const PARTS: u64 = (BIG as u64).div_ceil(PART);

/// Latency the proxy adds to every GET of the first run, so it is still going when killed.
const DELAY: Duration = Duration::from_millis(30);

/// The kill comes once the checkpoint vouches for this many parts (about half).
const KILL_AT_PARTS: u64 = 100;

/// How long the first run may take to get there.
const PROGRESS_TIMEOUT: Duration = Duration::from_secs(120);

/// A server, a fault proxy in front of it (on a runtime of its own) and a home whose
/// endpoint is the proxy; `oss://dls/<key>` holds `data`, uploaded past the proxy.
struct Rig {
    // Field order is drop order: the proxy goes before its runtime.
    proxy: FaultProxy,
    _runtime: tokio::runtime::Runtime,
    home: Home,
    _server: ServerProcess,
}

impl Rig {
    fn start(key: &str, data: &[u8]) -> Rig {
        let server = ServerProcess::start(&[]);
        let mut home = Home::against(&server);
        home.run(&["mb", "oss://dls"]).success();
        let file = home.file("source.bin", data);
        home.run(&["cp", file.to_str().unwrap(), &format!("oss://dls/{key}")])
            .success();
        std::fs::remove_file(&file).unwrap();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let proxy = runtime
            .block_on(FaultProxy::start(server.addr))
            .expect("start the fault proxy");
        home.set("OSS_ENDPOINT", &proxy.endpoint());
        Rig {
            proxy,
            _runtime: runtime,
            home,
            _server: server,
        }
    }

    /// Bytes the ranged GETs among `requests` asked for (`bytes=A-B`).
    fn ranged_bytes(requests: &[SeenRequest]) -> u64 {
        requests
            .iter()
            .filter(|r| r.method == "GET")
            .map(|r| {
                let range = r.header("range").expect("every download GET is ranged");
                let (a, b) = range
                    .trim_start_matches("bytes=")
                    .split_once('-')
                    .expect("bytes=A-B");
                b.parse::<u64>().unwrap() - a.parse::<u64>().unwrap() + 1
            })
            .sum()
    }
}

/// Parts of the download checkpoint in `home`'s checkpoint dir (0 while there is none).
fn checkpointed_parts(home: &Home) -> u64 {
    home.checkpoints()
        .iter()
        .filter_map(|p| std::fs::read(p).ok())
        .filter_map(|t| serde_json::from_slice::<serde_json::Value>(&t).ok())
        .filter_map(|v| v["parts"].as_object().map(|m| m.len() as u64))
        .max()
        .unwrap_or(0)
}

fn partial(dest: &Path) -> PathBuf {
    let name = dest.file_name().unwrap().to_string_lossy();
    dest.with_file_name(format!(".{name}.osspart-partial"))
}

#[test]
fn sigkill_midway_then_rerun_fetches_only_the_rest() {
    let data = pattern(BIG, 21);
    let rig = Rig::start("big.bin", &data);
    let home = &rig.home;
    let dest = home.path().join("big.bin");
    let args = [
        "cp",
        "oss://dls/big.bin",
        "big.bin",
        "--part-size",
        "100KiB",
        "--parallel",
        "1",
    ];

    // First run: slowed down on the wire, killed once the checkpoint holds about half.
    rig.proxy.add(
        FaultRule::new(Fault::Delay {
            phase: Phase::Response,
            duration: DELAY,
        })
        .when(|r| r.method == "GET"),
    );
    let log = std::fs::File::create(home.path().join("first-run.log")).unwrap();
    let mut child = home
        .command(&args)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start osspart cp");
    let deadline = Instant::now() + PROGRESS_TIMEOUT;
    let at_kill = loop {
        let parts = checkpointed_parts(home);
        if parts >= KILL_AT_PARTS {
            break parts;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!(
                "osspart cp ended ({status}) before it was killed:\n{}",
                std::fs::read_to_string(home.path().join("first-run.log")).unwrap()
            );
        }
        assert!(
            Instant::now() < deadline,
            "the checkpoint held {parts} parts after {PROGRESS_TIMEOUT:?}"
        );
        thread::sleep(Duration::from_millis(20));
    };
    child.kill().expect("SIGKILL osspart cp");
    let status = child.wait().unwrap();
    assert_eq!(status.code(), None, "killed by a signal, not finished");
    assert!(at_kill < PARTS, "{at_kill}");

    // What a kill leaves: the checkpoint and the temporary file, no destination.
    assert!(!dest.exists(), "no destination before the CRC-64 matched");
    assert!(
        partial(&dest).exists(),
        "the temporary file survives the kill"
    );
    assert_eq!(home.checkpoints().len(), 1);

    // Second run, at full speed: only the ranges the checkpoint did not vouch for.
    rig.proxy.clear();
    let before = rig.proxy.seen().len();
    let mut json_args = args.to_vec();
    json_args.push("--json");
    let again = home.run(&json_args).success();
    let out = again.json();
    let fetched = Rig::ranged_bytes(&rig.proxy.seen()[before..]);
    let kept = out["parts_kept"].as_u64().unwrap();
    assert!(
        kept >= at_kill,
        "kept {kept}, the checkpoint had {at_kill}: {out}"
    );
    assert_eq!(
        kept + out["parts_fetched"].as_u64().unwrap(),
        PARTS,
        "{out}"
    );
    assert!(
        fetched <= BIG as u64 - at_kill * PART,
        "the second run fetched {fetched} bytes though {at_kill} parts were saved"
    );
    assert!(
        fetched * 4 < BIG as u64 * 3,
        "the second run fetched {fetched} of {BIG} bytes"
    );
    println!(
        "killed with {at_kill}/{PARTS} parts checkpointed; the rerun kept {kept} and fetched \
         {fetched} of {BIG} bytes"
    );
    assert_eq!(out["verified"], true, "{out}");
    assert_eq!(out["size"], BIG as u64);

    assert!(std::fs::read(&dest).unwrap() == data, "the file differs");
    assert!(!partial(&dest).exists(), "no .osspart-partial file is left");
    assert!(
        home.checkpoint_dir_entries().is_empty(),
        "no checkpoint or lock is left: {:?}",
        home.checkpoint_dir_entries()
    );
}

#[test]
fn a_corrupted_range_exits_5_and_writes_no_file() {
    let data = pattern(3 << 20, 22);
    let rig = Rig::start("obj.bin", &data);
    let home = &rig.home;
    // One of the ranges after the first (those carry If-Match) has one byte inverted.
    rig.proxy.add(
        FaultRule::new(Fault::Corrupt {
            at: Cut::AfterBytes(777),
        })
        .when(|r| r.method == "GET" && r.header("if-match").is_some())
        .times(1),
    );
    let dest = home.path().join("obj.bin");
    let run = home
        .run(&["cp", "oss://dls/obj.bin", "obj.bin", "--part-size", "1MiB"])
        .code(5);
    assert!(run.stderr.contains("checksum mismatch"), "{}", run.stderr);
    assert_eq!(rig.proxy.stats().count(FaultKind::CorruptResponse), 1);
    assert!(!dest.exists(), "no destination file");
    assert!(!partial(&dest).exists(), "no temporary file");
    assert!(
        home.checkpoint_dir_entries().is_empty(),
        "nothing to resume from: {:?}",
        home.checkpoint_dir_entries()
    );

    // The same command without the fault gets the object.
    home.run(&["cp", "oss://dls/obj.bin", "obj.bin", "--part-size", "1MiB"])
        .success();
    assert!(std::fs::read(&dest).unwrap() == data);
}
