//! `cp -r` and `sync` of whole trees, against the embedded default and a separately started
//! `osspart serve`: a generated tree goes up and comes back identical (content and mtime),
//! re-runs transfer nothing, changes transfer exactly what changed, filters select exactly
//! the expected keys, `--dry-run` changes nothing, and a killed tree transfer resumes to an
//! identical tree with no multipart upload left behind. Also the endpoint rules that keep
//! data from going to the embedded server by mistake.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use futures_util::TryStreamExt;
use serde_json::Value;

use crate::home::{pattern, Home};
use crate::support::ServerProcess;

/// Files in the generated tree besides the special ones.
const SMALL_FILES: usize = 1200;
/// Flags that make the few large files multipart with several parts.
const MULTIPART: [&str; 4] = ["--multipart-threshold", "300KiB", "--part-size", "100KiB"];

/// The generated tree: relative path -> content, plus the paths that must not travel.
struct Tree {
    root: PathBuf,
    files: BTreeMap<String, Vec<u8>>,
}

fn make_tree(home: &Home) -> Tree {
    let root = home.path().join("src");
    let mut files = BTreeMap::new();
    for i in 0..SMALL_FILES {
        let rel = format!("d{}/e{}/f{i}.dat", i % 7, i % 3);
        files.insert(rel, pattern(200 + i * 3, i as u64));
    }
    for (i, rel) in ["big/one.bin", "big/two.bin", "three.bin"]
        .iter()
        .enumerate()
    {
        files.insert(
            rel.to_string(),
            pattern(350_000 + i * 70_001, 1000 + i as u64),
        );
    }
    files.insert("names/with space.txt".into(), b"spaces".to_vec());
    files.insert("names/非ASCII ünïcödé.txt".into(), b"unicode".to_vec());
    files.insert("names/a-b.txt".into(), b"sorts before a/".to_vec());
    files.insert("names/a/inner.txt".into(), b"inner".to_vec());
    files.insert("names/ab.txt".into(), b"sorts after a/".to_vec());
    files.insert("empty.txt".into(), Vec::new());
    files.insert("skip/me.txt".into(), b"filtered".to_vec());
    files.insert("notes.txt".into(), b"text".to_vec());
    for (rel, data) in &files {
        let path = root.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, data).unwrap();
    }
    std::fs::create_dir_all(root.join("hollow/deeper")).unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink(root.join("notes.txt"), root.join("link.txt")).unwrap();
    Tree { root, files }
}

/// Every file under `dir`: relative path -> (content, mtime).
fn read_tree(dir: &Path) -> BTreeMap<String, (Vec<u8>, SystemTime)> {
    let mut out = BTreeMap::new();
    for entry in walkdir_files(dir) {
        let rel = entry
            .strip_prefix(dir)
            .unwrap()
            .to_str()
            .unwrap()
            .replace('\\', "/");
        let meta = std::fs::symlink_metadata(&entry).unwrap();
        if meta.file_type().is_symlink() {
            continue;
        }
        out.insert(
            rel,
            (std::fs::read(&entry).unwrap(), meta.modified().unwrap()),
        );
    }
    out
}

fn walkdir_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let t = e.file_type().unwrap();
            if t.is_dir() {
                stack.push(e.path());
            } else {
                out.push(e.path());
            }
        }
    }
    out
}

/// Keys and sizes under `prefix`.
fn objects(home: &Home, bucket: &str, prefix: &str) -> BTreeMap<String, u64> {
    let prefix = prefix.to_owned();
    home.with_client(bucket, |client| async move {
        client
            .list_all_objects(osspart::ListObjectsQuery::default().with_prefix(prefix.clone()))
            .map_ok(|o| (o.key[prefix.len()..].to_owned(), o.size))
            .try_collect()
            .await
            .expect("list")
    })
}

fn open_uploads(home: &Home, bucket: &str) -> usize {
    home.with_client(bucket, |client| async move {
        client
            .list_uploads(&Default::default())
            .await
            .expect("list uploads")
            .uploads
            .len()
    })
}

/// The `action` of each per-file record, by relative source path, and the summary.
fn records(run: &crate::home::Run, root: &str) -> (BTreeMap<String, String>, Value) {
    let mut lines = run.json_lines();
    let summary = lines.pop().expect("a summary line");
    assert_eq!(summary["summary"], true, "{}", run.stdout);
    let mut out = BTreeMap::new();
    for l in lines {
        let src = l["source"].as_str().unwrap();
        let rel = src
            .strip_prefix(root)
            .unwrap_or(src)
            .trim_start_matches('/')
            .to_owned();
        let action = l["action"].as_str().unwrap().to_owned();
        assert!(out.insert(rel, action).is_none(), "one record per path");
    }
    (out, summary)
}

fn changed(recs: &BTreeMap<String, String>, action: &str) -> BTreeSet<String> {
    recs.iter()
        .filter(|(_, a)| *a == action)
        .map(|(r, _)| r.clone())
        .collect()
}

fn set_mtime(path: &Path, t: SystemTime) {
    std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(t)
        .unwrap();
}

fn round_trip(home: &Home) {
    let tree = make_tree(home);
    let src = tree.root.to_str().unwrap().to_owned();
    let dest = "oss://trees/up/";
    let mut up: Vec<&str> = vec!["cp", "-r", &src, dest, "--json"];
    up.extend(MULTIPART);
    let run = home.run(&up).success();
    let (recs, summary) = records(&run, &src);
    let expected: BTreeSet<String> = tree.files.keys().cloned().collect();
    assert_eq!(changed(&recs, "uploaded"), expected);
    assert_eq!(summary["uploaded"], expected.len());
    assert_eq!(summary["failed"], 0);
    // The symbolic link and the empty directories are skipped with a note.
    assert_eq!(recs.get("link.txt").map(String::as_str), Some("skipped"));
    assert_eq!(
        recs.get("hollow/deeper/").map(String::as_str),
        Some("skipped")
    );
    let listed = objects(home, "trees", "up/");
    let sizes: BTreeMap<String, u64> = tree
        .files
        .iter()
        .map(|(k, v)| (k.clone(), v.len() as u64))
        .collect();
    assert_eq!(listed, sizes, "keys are the relative paths");
    assert_eq!(open_uploads(home, "trees"), 0);
    let etags = home.with_client("trees", |c| async move {
        let big = c.head_object("up/big/one.bin").await.unwrap();
        let small = c.head_object("up/notes.txt").await.unwrap();
        (big.etag, small.etag)
    });
    assert!(
        etags.0.contains('-'),
        "large files are multipart: {}",
        etags.0
    );
    assert!(
        !etags.1.contains('-'),
        "small files are one PutObject: {}",
        etags.1
    );

    // Back down: same bytes, same modification times.
    let back = home.path().join("back");
    let back_s = back.to_str().unwrap().to_owned();
    let run = home.run(&["cp", "-r", dest, &back_s, "--json"]).success();
    let (recs, _) = records(&run, "oss://trees/up");
    assert_eq!(changed(&recs, "downloaded").len(), expected.len());
    let source_tree = read_tree(&tree.root);
    let back_tree = read_tree(&back);
    assert_eq!(
        back_tree.keys().collect::<Vec<_>>(),
        source_tree
            .keys()
            .filter(|k| *k != "link.txt")
            .collect::<Vec<_>>()
    );
    for (rel, (data, mtime)) in &back_tree {
        let (want, want_mtime) = &source_tree[rel];
        assert!(data == want, "{rel}: content differs");
        let diff = mtime
            .duration_since(*want_mtime)
            .unwrap_or_else(|e| e.duration());
        assert!(
            diff < Duration::from_millis(1),
            "{rel}: mtime differs by {diff:?}"
        );
    }

    // Nothing changed: a sync either way transfers nothing.
    for args in [
        vec!["sync", &src, dest, "--json"],
        vec!["sync", dest, &back_s, "--json"],
    ] {
        let run = home.run(&args).success();
        let (recs, summary) = records(&run, "");
        assert_eq!(summary["uploaded"], 0, "{args:?}: {}", run.stdout);
        assert_eq!(summary["downloaded"], 0, "{args:?}: {}", run.stdout);
        assert!(changed(&recs, "skipped").len() >= expected.len());
    }

    // Touch one, rewrite one (same size), add one, remove one.
    let later = SystemTime::now() + Duration::from_secs(30);
    set_mtime(&tree.root.join("d1/e1/f1.dat"), later);
    let rewritten = tree.root.join("d2/e2/f2.dat");
    let mut data = std::fs::read(&rewritten).unwrap();
    data[0] ^= 0xff;
    std::fs::write(&rewritten, &data).unwrap();
    set_mtime(&rewritten, later);
    std::fs::write(tree.root.join("names/added.txt"), b"added").unwrap();
    std::fs::remove_file(tree.root.join("d3/e0/f3.dat")).unwrap();
    let run = home.run(&["sync", &src, dest, "--json"]).success();
    let (recs, summary) = records(&run, &src);
    assert_eq!(
        changed(&recs, "uploaded"),
        ["d1/e1/f1.dat", "d2/e2/f2.dat", "names/added.txt"]
            .map(String::from)
            .into()
    );
    assert_eq!(summary["deleted"], 0, "no --delete, no deletion");
    assert!(objects(home, "trees", "up/").contains_key("d3/e0/f3.dat"));
    // --dry-run --delete says what it would delete and deletes nothing.
    let run = home
        .run(&["sync", &src, dest, "--delete", "--dry-run", "--json"])
        .success();
    let (recs, summary) = records(&run, &src);
    assert_eq!(summary["dry_run"], true);
    assert!(changed(&recs, "uploaded").is_empty());
    let oss_prefix = "oss://trees/up/";
    let deleted: BTreeSet<String> = run
        .json_lines()
        .iter()
        .filter(|l| l["action"] == "deleted")
        .map(|l| {
            l["destination"]
                .as_str()
                .unwrap()
                .trim_start_matches(oss_prefix)
                .to_owned()
        })
        .collect();
    assert_eq!(deleted, ["d3/e0/f3.dat".to_owned()].into());
    assert!(objects(home, "trees", "up/").contains_key("d3/e0/f3.dat"));
    let run = home
        .run(&["sync", &src, dest, "--delete", "--json"])
        .success();
    let (recs, summary) = records(&run, &src);
    assert_eq!(summary["deleted"], 1);
    assert!(changed(&recs, "uploaded").is_empty());
    assert!(!objects(home, "trees", "up/").contains_key("d3/e0/f3.dat"));

    // The way back: exactly the changed files come down, the removed one goes with --delete.
    let run = home
        .run(&["sync", dest, &back_s, "--delete", "--json"])
        .success();
    let (recs, summary) = records(&run, "oss://trees/up");
    assert_eq!(
        changed(&recs, "downloaded"),
        ["d1/e1/f1.dat", "d2/e2/f2.dat", "names/added.txt"]
            .map(String::from)
            .into()
    );
    assert_eq!(summary["deleted"], 1);
    let source_tree = read_tree(&tree.root);
    let back_tree = read_tree(&back);
    assert_eq!(
        back_tree.keys().collect::<Vec<_>>(),
        source_tree.keys().collect::<Vec<_>>(),
        "the link is not followed"
    );
    for (rel, (data, mtime)) in &back_tree {
        assert!(data == &source_tree[rel].0, "{rel}");
        assert!(
            mtime
                .duration_since(source_tree[rel].1)
                .unwrap_or_else(|e| e.duration())
                < Duration::from_millis(1),
            "{rel}"
        );
    }

    // Filters: first match wins, matched against the relative path.
    let run = home
        .run(&[
            "cp",
            "-r",
            &src,
            "oss://trees/filtered/",
            "--json",
            "--exclude",
            "skip/",
            "--include",
            "*.txt",
            "--include",
            "big/*.bin",
            "--exclude",
            "*",
        ])
        .success();
    let (_, summary) = records(&run, &src);
    let keys: BTreeSet<String> = objects(home, "trees", "filtered/").into_keys().collect();
    let want: BTreeSet<String> = read_tree(&tree.root)
        .into_keys()
        .filter(|k| (k.ends_with(".txt") && !k.starts_with("skip/")) || k.starts_with("big/"))
        .filter(|k| k != "link.txt")
        .collect();
    assert_eq!(keys, want);
    assert_eq!(summary["uploaded"], want.len());
}

#[test]
fn tree_round_trip_on_the_embedded_server() {
    round_trip(&Home::new());
}

#[test]
fn tree_round_trip_on_osspart_serve() {
    let server = ServerProcess::start(&[]);
    let home = Home::against(&server);
    home.run(&["mb", "oss://trees"]).success();
    round_trip(&home);
}

#[cfg(unix)]
#[test]
fn unnamed_files_fail_alone_and_fail_fast_stops() {
    use std::os::unix::ffi::OsStrExt;
    let home = Home::new();
    let root = home.path().join("odd");
    std::fs::create_dir_all(&root).unwrap();
    for i in 0..20 {
        std::fs::write(root.join(format!("ok{i:02}")), b"fine").unwrap();
    }
    let bad = std::ffi::OsStr::from_bytes(b"bad\xffname");
    std::fs::write(root.join(bad), b"x").unwrap();
    let src = root.to_str().unwrap();
    let run = home.run(&["cp", "-r", src, "oss://odd/", "--json"]).code(1);
    let (recs, summary) = records(&run, src);
    assert_eq!(summary["failed"], 1);
    assert_eq!(summary["uploaded"], 20);
    assert_eq!(changed(&recs, "failed").len(), 1);
    let plain = home.run(&["cp", "-r", src, "oss://odd/"]).code(1);
    assert!(plain.stderr.contains("not valid UTF-8"), "{}", plain.stderr);
    assert!(
        plain.stderr.contains("1 file could not be transferred"),
        "{}",
        plain.stderr
    );
    // --fail-fast: the unnamed file sorts first, so nothing after it starts.
    let run = home
        .run(&[
            "cp",
            "-r",
            src,
            "oss://odd/again/",
            "--json",
            "--fail-fast",
            "--jobs",
            "1",
        ])
        .code(1);
    let (_, summary) = records(&run, src);
    assert_eq!(summary["failed"], 1);
    assert_eq!(summary["uploaded"], 0, "{}", run.stdout);
}

#[test]
fn bad_tree_arguments() {
    let home = Home::new();
    let file = home.file("plain.txt", b"x");
    let run = home
        .run(&["cp", "-r", file.to_str().unwrap(), "oss://bkt/"])
        .code(2);
    assert!(run.stderr.contains("not a directory"), "{}", run.stderr);
    let run = home
        .run(&[
            "cp",
            file.to_str().unwrap(),
            "oss://bkt/x",
            "--exclude",
            "*",
        ])
        .code(2);
    assert!(run.stderr.contains("needs -r"), "{}", run.stderr);
    let dir = home.path().join("d");
    std::fs::create_dir_all(&dir).unwrap();
    let run = home
        .run(&[
            "sync",
            dir.to_str().unwrap(),
            "oss://bkt/",
            "--include",
            "[",
        ])
        .code(2);
    assert!(run.stderr.contains("bad pattern"), "{}", run.stderr);
    let run = home
        .run(&[
            "sync",
            dir.to_str().unwrap(),
            "oss://bkt/",
            "--json",
            "--jobs",
            "0",
        ])
        .code(2);
    let err: Value = serde_json::from_str(run.stderr.lines().last().unwrap()).unwrap();
    assert_eq!(err["exit_code"], 2, "errors under --json are JSON");
}

#[test]
fn killed_tree_transfers_resume_to_an_identical_tree() {
    let server = ServerProcess::start(&[]);
    let home = Home::against(&server);
    home.run(&["mb", "oss://killed"]).success();
    let root = home.path().join("many");
    let mut files = BTreeMap::new();
    for i in 0..8 {
        files.insert(
            format!("large/{i}.bin"),
            pattern(2_000_000 + i * 1000, 50 + i as u64),
        );
    }
    for i in 0..200 {
        files.insert(
            format!("small/{i:03}.txt"),
            pattern(100 + i, 500 + i as u64),
        );
    }
    for (rel, data) in &files {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, data).unwrap();
    }
    let src = root.to_str().unwrap().to_owned();
    let args: Vec<&str> = vec![
        "cp",
        "-r",
        &src,
        "oss://killed/t/",
        "--jobs",
        "2",
        "--parallel",
        "1",
        "--multipart-threshold",
        "300KiB",
        "--part-size",
        "100KiB",
    ];
    // Kill runs at growing delays; at least one kill must land while the tree is unfinished.
    let mut unfinished_kills = 0;
    for delay_ms in [150u64, 250, 350] {
        let mut child = home.command(&args).spawn().unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        let running = child.try_wait().unwrap().is_none();
        if running {
            child.kill().unwrap();
        }
        child.wait().unwrap();
        if running && objects(&home, "killed", "t/").len() < files.len() {
            unfinished_kills += 1;
        }
    }
    assert!(
        unfinished_kills > 0,
        "every run finished before its kill; make the tree larger"
    );
    // A later killed run may have finished the tree already; then the last run has nothing
    // left to upload (what matters is the identical tree checked below).
    let finished_before = objects(&home, "killed", "t/").len() == files.len();
    let run = home.run(&args).success();
    assert!(
        finished_before || run.stdout.contains("uploaded"),
        "{}",
        run.stdout
    );
    let listed = objects(&home, "killed", "t/");
    let sizes: BTreeMap<String, u64> = files
        .iter()
        .map(|(k, v)| (k.clone(), v.len() as u64))
        .collect();
    assert_eq!(listed, sizes);
    assert_eq!(
        open_uploads(&home, "killed"),
        0,
        "no multipart upload left behind"
    );
    assert!(home.checkpoints().is_empty(), "{:?}", home.checkpoints());
    // Content is byte-identical: bring it back and compare.
    let back = home.path().join("back");
    home.run(&["cp", "-r", "oss://killed/t/", back.to_str().unwrap()])
        .success();
    for (rel, data) in &files {
        assert!(&std::fs::read(back.join(rel)).unwrap() == data, "{rel}");
    }
    // A re-run has nothing left to do.
    let again = home.run(&[&args[..], &["--json"]].concat()).success();
    let (_, summary) = records(&again, &src);
    assert_eq!(summary["uploaded"], 0);
}

/// With keys or a region configured, data never goes to the embedded server by mistake.
#[test]
fn the_embedded_server_is_used_only_when_nothing_is_configured() {
    let mut home = Home::new();
    let file = home.file("f.txt", b"data");
    let f = file.to_str().unwrap().to_owned();
    // Keys but no region and no endpoint: a clear error, nothing started.
    home.set("OSS_ACCESS_KEY_ID", "id");
    home.set("OSS_ACCESS_KEY_SECRET", "secret");
    let run = home.run(&["cp", &f, "oss://demo/f.txt"]).code(2);
    assert!(run.stderr.contains("OSS_REGION"), "{}", run.stderr);
    assert!(!home.local_data_dir().exists());
    // A region: its public endpoint (unreachable here: a network error, not the local server).
    home.set("OSS_REGION", "cn-beijing");
    let run = home
        .run(&["-v", "--retries", "0", "--timeout", "5", "ls", "oss://demo"])
        .code(6);
    assert!(
        run.stderr
            .contains("endpoint https://oss-cn-beijing.aliyuncs.com, region cn-beijing"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("signature v4"), "{}", run.stderr);
    assert!(!home.local_data_dir().exists());
    // An OSS endpoint names its region.
    home.set("OSS_REGION", "");
    let run = home
        .run(&[
            "-v",
            "--retries",
            "0",
            "--timeout",
            "5",
            "--endpoint",
            "oss-cn-shanghai-internal.aliyuncs.com",
            "ls",
            "oss://demo",
        ])
        .code(6);
    assert!(
        run.stderr
            .contains("endpoint https://oss-cn-shanghai-internal.aliyuncs.com, region cn-shanghai"),
        "{}",
        run.stderr
    );
    // Asked for by name, the embedded server serves even with keys set.
    let run = home
        .run(&["--endpoint", "local", "-v", "cp", &f, "oss://demo/f.txt"])
        .success();
    assert!(
        run.stderr.contains("using the local osspart server"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("endpoint local"), "{}", run.stderr);
    // Nothing at all configured: the embedded server, and --json says so in JSON.
    let plain = Home::new();
    let run = plain.run(&["ls", "--json"]).success();
    let note: Value = serde_json::from_str(run.stderr.lines().next().unwrap()).unwrap();
    assert!(note["note"]
        .as_str()
        .unwrap()
        .contains("local osspart server"));
}

#[test]
fn ctrl_c_pauses_a_tree_and_the_same_command_finishes_it() {
    let home = Home::new();
    let root = home.path().join("paused");
    let mut files = BTreeMap::new();
    for i in 0..6 {
        files.insert(format!("{i}.bin"), pattern(3_000_000, 70 + i as u64));
    }
    for (rel, data) in &files {
        std::fs::create_dir_all(&root).unwrap();
        std::fs::write(root.join(rel), data).unwrap();
    }
    let src = root.to_str().unwrap().to_owned();
    let args: Vec<&str> = vec![
        "cp",
        "-r",
        &src,
        "oss://paused/",
        "--jobs",
        "2",
        "--parallel",
        "1",
        "--multipart-threshold",
        "300KiB",
        "--part-size",
        "100KiB",
        // Slow enough that the tree is still being sent when Ctrl-C comes (unpaced, a fast
        // machine finishes it first), fast enough for the second run.
        "--bandwidth-limit",
        "6MiB/s",
    ];
    let child = home.command(&args).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(400));
    let sent = std::process::Command::new("kill")
        .arg("-INT")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(sent.success());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(
        stderr.contains("paused; run the same command again to resume"),
        "{stderr}"
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("interrupted"));
    assert!(
        open_uploads(&home, "paused") > 0,
        "multipart uploads are paused, not aborted"
    );
    assert!(!home.checkpoints().is_empty(), "their checkpoints are kept");
    let run = home.run(&args).success();
    assert!(run.stdout.contains("uploaded"), "{}", run.stdout);
    let sizes: BTreeMap<String, u64> = files
        .iter()
        .map(|(k, v)| (k.clone(), v.len() as u64))
        .collect();
    assert_eq!(objects(&home, "paused", ""), sizes);
    assert_eq!(open_uploads(&home, "paused"), 0);
    assert!(home.checkpoints().is_empty());
}
