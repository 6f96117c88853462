//! `osspart cp oss://a/k oss://b/k`: a server-side copy (one CopyObject, or a resumable
//! UploadPartCopy multipart copy for large objects) that keeps metadata, and resumes after a
//! kill.

use std::time::Duration;

use crate::home::{pattern, Home};
use crate::support::ServerProcess;

#[test]
fn copies_across_buckets_keeping_metadata_and_resume_after_a_kill() {
    let server = ServerProcess::start(&[]);
    let home = Home::against(&server);
    for b in ["oss://copy-a", "oss://copy-b"] {
        home.run(&["mb", b]).success();
    }
    let small = home.file("small.txt", b"small object");
    home.run(&[
        "cp",
        small.to_str().unwrap(),
        "oss://copy-a/small.txt",
        "--meta",
        "owner=alice",
    ])
    .success();
    let out = home
        .run(&["cp", "oss://copy-a/small.txt", "oss://copy-b/", "--json"])
        .success()
        .json();
    assert_eq!(out["key"], "small.txt");
    assert!(out["upload_id"].is_null(), "one CopyObject: {out}");
    let head = home
        .run(&["head", "oss://copy-b/small.txt", "--json"])
        .success()
        .json();
    assert_eq!(head["meta"]["owner"], "alice");

    // A large object: many UploadPartCopy ranges, killed and resumed.
    let data = pattern(12 << 20, 4);
    let big = home.file("big.bin", &data);
    home.run(&[
        "cp",
        big.to_str().unwrap(),
        "oss://copy-a/big.bin",
        "--meta",
        "k=v",
    ])
    .success();
    let args = [
        "cp",
        "oss://copy-a/big.bin",
        "oss://copy-b/big-copy.bin",
        "--multipart-threshold",
        "1MiB",
        "--part-size",
        "100KiB",
        "--parallel",
        "1",
    ];
    let mut interrupted = false;
    for delay in [150u64, 300, 600] {
        let mut child = home.command(&args).spawn().unwrap();
        std::thread::sleep(Duration::from_millis(delay));
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap();
            child.wait().unwrap();
            if !home.checkpoints().is_empty() {
                interrupted = true;
                break;
            }
        }
    }
    assert!(
        interrupted,
        "no kill landed mid-copy; make the object larger"
    );
    let done = home
        .run(&[&args[..], &["--json"]].concat())
        .success()
        .json();
    assert!(done["parts_kept"].as_u64().unwrap() > 0, "{done}");
    assert_eq!(
        done["parts_kept"].as_u64().unwrap() + done["parts_copied"].as_u64().unwrap(),
        123
    );
    assert!(home.checkpoints().is_empty(), "{:?}", home.checkpoints());
    let back = home.path().join("back.bin");
    home.run(&["cp", "oss://copy-b/big-copy.bin", back.to_str().unwrap()])
        .success();
    assert!(std::fs::read(&back).unwrap() == data);
    let head = home
        .run(&["head", "oss://copy-b/big-copy.bin", "--json"])
        .success()
        .json();
    assert_eq!(head["meta"]["k"], "v", "metadata is kept: {head}");
    let uploads = home
        .run(&["uploads", "ls", "oss://copy-b", "--json"])
        .success();
    assert!(
        uploads
            .json_lines()
            .iter()
            .all(|l| l.get("upload_id").is_none()),
        "{}",
        uploads.stdout
    );
}
