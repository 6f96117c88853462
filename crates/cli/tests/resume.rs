//! `osspart cp` survives being killed: after SIGKILL mid-upload, running the same command
//! again resumes (keeping the parts already stored) and produces the exact bytes, leaving no
//! upload and no checkpoint behind. Ctrl-C (SIGINT) pauses: exit 130, checkpoint and parts kept.
//! Both against the embedded default and against a separate `osspart serve`.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use crate::home::{pattern, Home};
use crate::support::ServerProcess;

/// 24 MiB in 100 KiB parts: 246 parts, long enough for a debug build to be caught mid-way.
const BIG: usize = 24 << 20;
const PARTS: u64 = (BIG as u64).div_ceil(100 << 10);

/// How long the upload may take to show enough progress.
const PROGRESS_TIMEOUT: Duration = Duration::from_secs(60);

/// A running `osspart cp` whose stderr lines arrive on a channel.
struct Watched {
    child: Child,
    lines: mpsc::Receiver<String>,
    /// Stderr read so far.
    seen: String,
}

impl Watched {
    /// Waits for the process; returns its exit code and all of its stderr.
    fn finish(mut self) -> (Option<i32>, String) {
        let status = self.child.wait().expect("wait for osspart cp");
        // The reader ends at EOF, which follows the exit.
        for line in self.lines.iter() {
            self.seen.push_str(&line);
            self.seen.push('\n');
        }
        (status.code(), self.seen)
    }
}

/// Starts `osspart cp` and returns once its plain progress lines report at least
/// `min_parts` parts stored.
fn start_and_wait_for_parts(home: &Home, args: &[&str], min_parts: u64) -> Watched {
    let mut child = home.command(args).spawn().expect("start osspart cp");
    let stderr = child.stderr.take().expect("piped stderr");
    let (tx, rx) = mpsc::channel::<String>();
    thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + PROGRESS_TIMEOUT;
    let mut seen = String::new();
    loop {
        match rx.recv_timeout(Duration::from_millis(50)) {
            Ok(line) => {
                seen.push_str(&line);
                seen.push('\n');
                if seen.contains("started upload ")
                    && line.contains('%')
                    && parts_done(&line).is_some_and(|n| n >= min_parts)
                {
                    return Watched {
                        child,
                        lines: rx,
                        seen,
                    };
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let status = child.wait();
                panic!("osspart cp ended ({status:?}) before showing progress:\n{seen}");
            }
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("no progress within {PROGRESS_TIMEOUT:?}:\n{seen}");
        }
    }
}

/// `N` of "parts N/M" in a progress line.
fn parts_done(line: &str) -> Option<u64> {
    let rest = &line[line.find("parts ")? + "parts ".len()..];
    rest.split('/').next()?.trim().parse().ok()
}

/// `N` of "kept N parts" in a resume line.
fn kept_parts(stderr: &str) -> u64 {
    let line = stderr
        .lines()
        .find(|l| l.starts_with("resuming upload "))
        .unwrap_or_else(|| panic!("no resume line in:\n{stderr}"));
    let rest = &line[line.find("kept ").expect("kept N parts") + "kept ".len()..];
    rest.split(' ').next().unwrap().parse().expect("a number")
}

/// The upload ids `uploads ls` reports for `bucket`.
fn uploads_in_progress(home: &Home, bucket: &str) -> Vec<String> {
    home.run(&["uploads", "ls", bucket, "--json"])
        .success()
        .json_lines()
        .iter()
        .map(|u| u["upload_id"].as_str().unwrap().to_owned())
        .collect()
}

/// The whole crash-and-resume story on whichever service `home` points at.
fn resume_after_sigkill(home: &Home) {
    if !home.is_embedded() {
        home.run(&["mb", "oss://resume"]).success();
    }
    let data = pattern(BIG, 7);
    let file = home.file("big.bin", &data);
    let args = [
        "cp",
        file.to_str().unwrap(),
        "oss://resume/big.bin",
        "--part-size",
        "100KiB",
        "--parallel",
        "2",
    ];
    let mut watched = start_and_wait_for_parts(home, &args, 25);
    watched.child.kill().expect("SIGKILL osspart cp");
    let (code, stderr) = watched.finish();
    assert_eq!(code, None, "killed by a signal, not finished:\n{stderr}");

    // Mid-flight state: one checkpoint, one upload, no object yet.
    assert_eq!(
        home.checkpoints().len(),
        1,
        "the checkpoint survives the kill"
    );
    let ids = uploads_in_progress(home, "oss://resume");
    assert_eq!(ids.len(), 1, "{ids:?}");
    home.run(&["head", "oss://resume/big.bin"]).code(3);

    let again = home.run(&args).success();
    let kept = kept_parts(&again.stderr);
    assert!((1..PARTS).contains(&kept), "kept {kept}:\n{}", again.stderr);
    assert!(
        again
            .stderr
            .contains(&format!("resuming upload {}", ids[0])),
        "{}",
        again.stderr
    );
    let sent_kept = again
        .stdout
        .split("; ")
        .nth(1)
        .expect("'N parts sent, M kept'")
        .trim_end_matches(|c: char| !c.is_ascii_digit())
        .split(" parts sent, ")
        .map(|n| n.parse::<u64>().unwrap())
        .collect::<Vec<_>>();
    assert_eq!(sent_kept[0] + sent_kept[1], PARTS, "{}", again.stdout);
    assert!(sent_kept[1] >= kept, "{}", again.stdout);

    // The object is the file, nothing is left over.
    home.run(&["cp", "oss://resume/big.bin", "copy.bin"])
        .success();
    let copy = std::fs::read(home.path().join("copy.bin")).unwrap();
    assert!(copy == data, "the resumed object differs from the file");
    assert!(uploads_in_progress(home, "oss://resume").is_empty());
    assert!(
        home.checkpoint_dir_entries().is_empty(),
        "no checkpoint, lock or temporary file is left: {:?}",
        home.checkpoint_dir_entries()
    );
}

#[test]
fn sigkill_then_rerun_resumes_on_the_embedded_default() {
    resume_after_sigkill(&Home::new());
}

#[test]
fn sigkill_then_rerun_resumes_against_osspart_serve() {
    let server = ServerProcess::start(&[]);
    resume_after_sigkill(&Home::against(&server));
}

#[test]
fn ctrl_c_pauses_with_exit_130_and_keeps_parts() {
    let home = Home::new();
    let data = pattern(BIG, 9);
    let file = home.file("big.bin", &data);
    let args = [
        "cp",
        file.to_str().unwrap(),
        "oss://pause/big.bin",
        "--part-size",
        "100KiB",
        "--parallel",
        "2",
    ];
    let watched = start_and_wait_for_parts(&home, &args, 10);
    let sent = Command::new("kill")
        .arg("-INT")
        .arg(watched.child.id().to_string())
        .status()
        .expect("run kill");
    assert!(sent.success());
    let (code, stderr) = watched.finish();
    assert_eq!(code, Some(130), "{stderr}");
    assert!(
        stderr.contains("paused; run the same command again to resume"),
        "{stderr}"
    );

    assert_eq!(home.checkpoints().len(), 1, "the checkpoint is kept");
    let ids = uploads_in_progress(&home, "oss://pause");
    assert_eq!(ids.len(), 1, "{ids:?}");
    let parts = home
        .run(&[
            "parts",
            "ls",
            "oss://pause/big.bin",
            "--upload-id",
            &ids[0],
            "--json",
        ])
        .success()
        .json_lines();
    let summary = parts.last().unwrap();
    let stored = summary["parts"].as_u64().unwrap();
    assert!((10..PARTS).contains(&stored), "{summary}");
    assert_eq!(summary["total_bytes"], stored * (100 << 10));

    let again = home.run(&args).success();
    let kept = kept_parts(&again.stderr);
    assert!(kept >= 10 && kept <= stored, "kept {kept} of {stored}");
    home.run(&["cp", "oss://pause/big.bin", "copy.bin"])
        .success();
    assert!(std::fs::read(home.path().join("copy.bin")).unwrap() == data);
    assert!(home.checkpoint_dir_entries().is_empty());
}

#[test]
fn parses_progress_lines() {
    assert_eq!(
        parts_done(" 35%  1.0 MiB acknowledged  parts 12/246"),
        Some(12)
    );
    assert_eq!(parts_done("started upload X"), None);
    assert_eq!(
        kept_parts("note\nresuming upload AB: kept 31 parts (3.0 MiB)\n"),
        31
    );
}
