//! Typed object flags (`--storage-class`, `--acl`, `--tagging`, `--sse`, `--cache-control`,
//! `--content-disposition`, `--expires`, `--no-clobber`) checked before anything is sent and
//! visible on `head`; `presign` URLs used by curl; `--restart` starting over.

use std::process::Command;

use crate::home::{pattern, Home};
use crate::support::ServerProcess;

const TYPED: [&str; 14] = [
    "--storage-class",
    "IA",
    "--acl",
    "private",
    "--tagging",
    "team=data&tier=2",
    "--sse",
    "AES256",
    "--cache-control",
    "max-age=60",
    "--content-disposition",
    "attachment",
    "--expires",
    "1d",
];

#[test]
fn typed_flags_reach_the_object_and_bad_ones_send_nothing() {
    let server = ServerProcess::start(&[]);
    let home = Home::against(&server);
    home.run(&["mb", "oss://typed"]).success();
    let small = home.file("small.txt", b"hello");
    let large = home.file("large.bin", &pattern(300 * 1024, 1));
    for (file, key, extra) in [
        (&small, "small.txt", vec![]),
        (
            &large,
            "large.bin",
            vec!["--multipart-threshold", "100KiB", "--part-size", "100KiB"],
        ),
    ] {
        let target = format!("oss://typed/{key}");
        let mut args = vec!["cp", file.to_str().unwrap(), &target];
        args.extend(TYPED);
        args.extend(extra);
        home.run(&args).success();
        let head = home.run(&["head", &target, "--json"]).success().json();
        assert_eq!(head["storage_class"], "IA", "{head}");
        assert_eq!(head["acl"], "private", "{head}");
        assert_eq!(head["server_side_encryption"], "AES256", "{head}");
        assert_eq!(head["tagging_count"], 2, "{head}");
        assert_eq!(head["cache_control"], "max-age=60", "{head}");
        assert_eq!(head["content_disposition"], "attachment", "{head}");
        assert!(head["expires"].as_str().unwrap().ends_with("GMT"), "{head}");
        let text = home.run(&["head", &target]).success().stdout;
        assert!(text.contains("storage-class: IA"), "{text}");
    }
    // --no-clobber: the second write is refused and the object is unchanged.
    let other = home.file("other.txt", b"other");
    let run = home.run(&[
        "cp",
        other.to_str().unwrap(),
        "oss://typed/small.txt",
        "--no-clobber",
    ]);
    assert_ne!(run.code, Some(0), "{}", run.stderr);
    assert!(run.stderr.contains("FileAlreadyExists"), "{}", run.stderr);
    let head = home
        .run(&["head", "oss://typed/small.txt", "--json"])
        .success()
        .json();
    assert_eq!(head["size"], 5);
    // A copy with typed flags replaces the attributes.
    home.run(&[
        "cp",
        "oss://typed/small.txt",
        "oss://typed/copy.txt",
        "--storage-class",
        "Archive",
    ])
    .success();
    let head = home
        .run(&["head", "oss://typed/copy.txt", "--json"])
        .success()
        .json();
    assert_eq!(head["storage_class"], "Archive", "{head}");

    // Bad values: exit 2 and no request (the embedded server is never started).
    let fresh = Home::new();
    let f = fresh.file("f.txt", b"x");
    let f = f.to_str().unwrap();
    for bad in [
        vec!["--storage-class", "Hot"],
        vec!["--acl", "everyone"],
        vec!["--tagging", "a=1&a=2"],
        vec!["--sse", "ROT13"],
        vec!["--sse-kms-key-id", "k1"],
        vec!["--sse", "AES256", "--sse-kms-key-id", "k1"],
        vec!["--expires", "someday"],
    ] {
        let mut args = vec!["cp", f, "oss://typed/f.txt"];
        args.extend(bad.iter().copied());
        fresh.run(&args).code(2);
    }
    assert!(!fresh.local_data_dir().exists(), "nothing was sent");
}

#[test]
fn presigned_urls_work_with_curl() {
    let server = ServerProcess::start(&[]);
    let home = Home::against(&server);
    home.run(&["mb", "oss://signed"]).success();
    let file = home.file("up.bin", &pattern(200_000, 3));
    for sign in ["v4", "v1"] {
        let key = format!("oss://signed/{sign}.bin");
        let put = home
            .run(&[
                "--sign",
                sign,
                "presign",
                &key,
                "--method",
                "PUT",
                "--expires",
                "15m",
            ])
            .success();
        let url = put.stdout.trim();
        let curl = Command::new("curl")
            .args(["-sS", "-f", "-T", file.to_str().unwrap(), url])
            .output()
            .expect("curl");
        assert!(
            curl.status.success(),
            "{sign}: {}",
            String::from_utf8_lossy(&curl.stderr)
        );
        let head = home.run(&["head", &key, "--json"]).success().json();
        assert_eq!(head["size"], 200_000);
        let get = home.run(&["--sign", sign, "presign", &key]).success();
        let body = Command::new("curl")
            .args(["-sS", "-f", get.stdout.trim()])
            .output()
            .expect("curl");
        assert!(body.stdout == std::fs::read(&file).unwrap(), "{sign}");
    }
    // Without keys the URL is refused.
    let anon = Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}"])
        .arg(format!("{}/signed/v4.bin", server.endpoint))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&anon.stdout), "403");
    home.run(&["presign", "oss://signed/x", "--expires", "8d"])
        .code(2);
    let embedded = Home::new().run(&["presign", "oss://signed/x"]).code(2);
    assert!(
        embedded.stderr.contains("osspart serve"),
        "{}",
        embedded.stderr
    );
}

#[test]
fn restart_starts_over_even_when_the_file_is_unchanged() {
    let home = Home::new();
    home.run(&["mb", "oss://restart"]).success();
    let file = home.file("big.bin", &pattern(3 << 20, 8));
    let f = file.to_str().unwrap();
    // Leave a paused upload behind: an open upload plus its checkpoint.
    let ids = home.open_uploads("restart", "big.bin", &[2]);
    let args = [
        "cp",
        f,
        "oss://restart/big.bin",
        "--part-size",
        "100KiB",
        "--multipart-threshold",
        "1MiB",
    ];
    // Kill a first run after its checkpoint exists, so the next run would resume it.
    let mut child = home.command(&args).spawn().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while home.checkpoints().is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        !home.checkpoints().is_empty(),
        "the first run left no checkpoint to restart from"
    );
    let run = home.run(&[&args[..], &["--restart"]].concat()).success();
    assert!(run.stderr.contains("started upload"), "{}", run.stderr);
    assert!(!run.stderr.contains("resuming upload"), "{}", run.stderr);
    let listed = home
        .run(&["uploads", "ls", "oss://restart", "--json"])
        .success();
    let open: Vec<String> = listed
        .json_lines()
        .iter()
        .filter_map(|l| l["upload_id"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(
        open, ids,
        "only the unrelated upload is left: {}",
        listed.stdout
    );
}

/// `--bandwidth-limit` holds the whole command to the cap (within 10%) over a 10-second
/// transfer, across several files in flight.
#[test]
fn bandwidth_limit_holds_a_tree_to_the_cap() {
    let home = Home::new();
    for i in 0..4 {
        home.file(&format!("capped/{i}.bin"), &pattern((5 << 20) / 2, 60 + i));
    }
    let root = home.path().join("capped");
    let started = std::time::Instant::now();
    home.run(&[
        "cp",
        "-r",
        root.to_str().unwrap(),
        "oss://capped/",
        "--bandwidth-limit",
        "1MiB/s",
        "--part-size",
        "256KiB",
        "--multipart-threshold",
        "1MiB",
        "--jobs",
        "4",
    ])
    .success();
    let elapsed = started.elapsed().as_secs_f64();
    let rate = 10.0 / elapsed;
    assert!(
        rate <= 1.1,
        "{rate:.3} MiB/s over {elapsed:.2} s: more than 10% above the cap"
    );
    // Not held back much below it either (generous: CI machines are busy).
    assert!(elapsed < 20.0, "{elapsed:.2} s for 10 MiB at 1 MiB/s");
}

/// Help reads like its peers: examples, connection options under their own heading and out
/// of `serve --help`; completions and a man page come from the same definitions; `-q` leaves
/// only errors.
#[test]
fn help_completions_man_page_and_quiet() {
    let home = Home::new();
    let cp = home.run(&["cp", "--help"]).success().stdout;
    assert!(cp.contains("Examples:"), "{cp}");
    let options = cp.find("--jobs").unwrap();
    let connection = cp.find("Connection options:").expect("a heading");
    assert!(options < connection, "command options come first:\n{cp}");
    assert!(cp.contains("--storage-class"), "{cp}");
    for cmd in ["sync", "uploads"] {
        let help = home.run(&[cmd, "--help"]).success().stdout;
        assert!(help.contains("Examples:"), "{cmd}: {help}");
    }
    let serve = home.run(&["serve", "--help"]).success().stdout;
    for client_only in ["--endpoint", "--json", "--checkpoint-dir", "--retries"] {
        assert!(
            !serve.contains(client_only),
            "serve --help shows {client_only}:\n{serve}"
        );
    }
    assert!(serve.contains("--data"), "{serve}");
    for shell in ["bash", "zsh", "fish"] {
        let script = home.run(&["completions", shell]).success().stdout;
        assert!(
            script.contains("osspart") && script.contains("sync"),
            "{shell}"
        );
    }
    let man = home.run(&["man"]).success().stdout;
    assert!(
        man.starts_with(".ie") || man.contains(".TH osspart"),
        "{man}"
    );
    assert!(man.contains("presign"), "the man page lists the commands");

    let file = home.file("q.txt", b"quiet");
    let quiet = home
        .run(&["-q", "cp", file.to_str().unwrap(), "oss://quiet/q.txt"])
        .success();
    assert!(
        quiet.stdout.is_empty() && quiet.stderr.is_empty(),
        "{quiet:?}"
    );
    let tree = home.path().join("qt");
    std::fs::create_dir_all(&tree).unwrap();
    std::fs::write(tree.join("a"), b"a").unwrap();
    let quiet = home
        .run(&["-q", "sync", tree.to_str().unwrap(), "oss://quiet/t/"])
        .success();
    assert!(
        quiet.stdout.is_empty() && quiet.stderr.is_empty(),
        "{quiet:?}"
    );
    let failed = home.run(&["-q", "head", "oss://quiet/missing"]).code(3);
    assert!(
        failed.stderr.contains("NoSuchKey"),
        "errors still show: {failed:?}"
    );
}

/// `--ca-bundle` adds a PEM file of CA certificates to the system's; a file that holds none
/// is refused before any request.
#[test]
fn ca_bundle_is_read_and_checked() {
    let server = ServerProcess::start(&[]);
    let home = Home::against(&server);
    let pem = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/test-ca.pem");
    home.run(&["--ca-bundle", pem.to_str().unwrap(), "mb", "oss://with-ca"])
        .success();
    let junk = home.file("junk.pem", b"not a certificate");
    let run = home
        .run(&["--ca-bundle", junk.to_str().unwrap(), "ls", "oss://with-ca"])
        .code(2);
    assert!(run.stderr.contains("junk.pem"), "{}", run.stderr);
    let missing = home.path().join("missing.pem");
    home.run(&[
        "--ca-bundle",
        missing.to_str().unwrap(),
        "ls",
        "oss://with-ca",
    ])
    .code(2);
}
