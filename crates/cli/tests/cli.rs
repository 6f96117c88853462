//! Every `osspart` command, run as a user would: the same tour against the embedded default
//! (no endpoint configured) and against a separately started `osspart serve`, `--json` output
//! parsed back, exit codes for bad arguments, missing things, bad credentials and unreachable
//! endpoints, and the precedence of flags over environment over config file.

use std::os::unix::fs::PermissionsExt;

use serde_json::Value;

use crate::home::{pattern, Home};
use crate::support::{self, ServerProcess};

const NOTE: &str = "note: nothing configured: using the local osspart server";

/// Keys of the objects listed by `ls --json` (prefix lines excluded).
fn listed_keys(lines: &[Value]) -> Vec<String> {
    let mut keys: Vec<String> = lines
        .iter()
        .filter_map(|v| v["key"].as_str().map(str::to_owned))
        .collect();
    keys.sort();
    keys
}

/// Prefixes listed by `ls --json`.
fn listed_prefixes(lines: &[Value]) -> Vec<String> {
    lines
        .iter()
        .filter_map(|v| v["prefix"].as_str().map(str::to_owned))
        .collect()
}

/// The same walk through every command, whichever service `home` points at.
fn tour(home: &Home) {
    let embedded = home.is_embedded();
    if !embedded {
        // A real service has no bucket until one is made; uploading into none is "not found".
        let f = home.file("early.txt", b"early");
        let early = home
            .run(&["cp", f.to_str().unwrap(), "oss://tour/early.txt"])
            .code(3);
        assert!(early.stderr.contains("NoSuchBucket"), "{}", early.stderr);
        assert!(
            !early.stderr.contains("run the same command again"),
            "a missing bucket is not worth a retry: {}",
            early.stderr
        );
    }
    let made = home.run(&["mb", "oss://tour"]).success();
    assert_eq!(made.stdout.trim(), "created oss://tour");
    assert_eq!(made.stderr.contains(NOTE), embedded, "{}", made.stderr);

    // cp FILE with every object option; 350 KiB in 100 KiB parts is four parts.
    let data = pattern(350 << 10, 1);
    let file = home.file("photo.bin", &data);
    let file = file.to_str().unwrap();
    let up = home
        .run(&[
            "cp",
            file,
            "oss://tour/a/photo.bin",
            "--multipart-threshold",
            "100KiB",
            "--part-size",
            "100KiB",
            "--parallel",
            "3",
            "--meta",
            "owner=alice",
            "--meta",
            "trip=x=y",
            "--content-type",
            "image/x-test",
            "--header",
            "Cache-Control: no-cache",
            "--header",
            "Content-Disposition: attachment",
            "--content-md5",
            "--json",
        ])
        .success();
    let out = up.json();
    assert_eq!(out["bucket"], "tour");
    assert_eq!(out["key"], "a/photo.bin");
    assert_eq!(out["size"], data.len() as u64);
    assert_eq!(out["parts_sent"], 4);
    assert_eq!(out["parts_kept"], 0);
    assert!(out["etag"].as_str().unwrap().ends_with("-4\""), "{out}");
    let crc = out["crc64"].as_str().unwrap().to_owned();
    assert!(
        !home
            .checkpoints()
            .iter()
            .any(|p| std::fs::read_to_string(p).unwrap().contains("photo.bin")),
        "a finished upload leaves no checkpoint: {:?}",
        home.checkpoints()
    );

    let head = home
        .run(&["head", "oss://tour/a/photo.bin", "--json"])
        .success()
        .json();
    assert_eq!(head["size"], data.len() as u64);
    assert_eq!(head["crc64"], crc.as_str());
    assert_eq!(head["etag"], out["etag"]);
    assert_eq!(head["content_type"], "image/x-test");
    assert_eq!(head["meta"]["owner"], "alice");
    assert_eq!(head["meta"]["trip"], "x=y");
    let text = home.run(&["head", "oss://tour/a/photo.bin"]).success();
    assert!(
        text.stdout.contains("meta:          owner=alice"),
        "{}",
        text.stdout
    );
    assert!(text.stdout.contains(&format!("crc64:         {crc}")));
    let headers = home.with_client("tour", |c| async move {
        let info = c.head_object("a/photo.bin").await.expect("head");
        (
            info.response.header("cache-control").map(str::to_owned),
            info.response
                .header("content-disposition")
                .map(str::to_owned),
        )
    });
    assert_eq!(headers.0.as_deref(), Some("no-cache"));
    assert_eq!(headers.1.as_deref(), Some("attachment"));

    // Text output of cp names the object and the part counts.
    let again = home
        .run(&[
            "cp",
            file,
            "oss://tour/a/copy.bin",
            "--part-size",
            "200KiB",
            "--multipart-threshold",
            "200KiB",
        ])
        .success();
    assert!(
        again
            .stdout
            .starts_with("uploaded oss://tour/a/copy.bin (350.0 KiB"),
        "{}",
        again.stdout
    );
    assert!(again.stdout.contains("2 parts sent, 0 kept"));
    assert!(again.stderr.contains("started upload "), "{}", again.stderr);
    assert!(again.stderr.contains("100%"), "{}", again.stderr);

    // A trailing slash appends the file name; stdin needs a full key.
    let slash = home
        .run(&["cp", file, "oss://tour/dir/", "--json"])
        .success()
        .json();
    assert_eq!(slash["key"], "dir/photo.bin");
    let piped = home
        .run_with_stdin(
            &["cp", "-", "oss://tour/std/in.txt", "--json"],
            b"from stdin\n",
        )
        .success()
        .json();
    assert_eq!(piped["size"], 11);
    home.run(&["cp", "-", "oss://tour/std/"]).code(2);

    // Download: to a named file and into a directory; bytes identical.
    let got = home
        .run(&[
            "cp",
            "oss://tour/a/photo.bin",
            "back.bin",
            "--parallel",
            "4",
            "--json",
        ])
        .success()
        .json();
    assert_eq!(got["crc64"], crc.as_str());
    assert_eq!(std::fs::read(home.path().join("back.bin")).unwrap(), data);
    std::fs::create_dir(home.path().join("down")).unwrap();
    let into_dir = home.run(&["cp", "oss://tour/std/in.txt", "down"]).success();
    assert!(into_dir.stdout.contains("verified"), "{}", into_dir.stdout);
    assert_eq!(
        std::fs::read(home.path().join("down/in.txt")).unwrap(),
        b"from stdin\n"
    );

    // ls: one level, recursive, under a prefix, buckets.
    let level = home.run(&["ls", "oss://tour", "--json"]).success();
    let lines = level.json_lines();
    assert_eq!(
        listed_prefixes(&lines),
        ["oss://tour/a/", "oss://tour/dir/", "oss://tour/std/"]
    );
    assert!(listed_keys(&lines).is_empty());
    let all = home
        .run(&["ls", "-r", "oss://tour", "--json"])
        .success()
        .json_lines();
    assert_eq!(
        listed_keys(&all),
        ["a/copy.bin", "a/photo.bin", "dir/photo.bin", "std/in.txt"]
    );
    let sizes: u64 = all.iter().map(|v| v["size"].as_u64().unwrap()).sum();
    assert_eq!(sizes, 3 * data.len() as u64 + 11);
    let under = home.run(&["ls", "oss://tour/a/"]).success();
    assert!(under.stdout.contains("oss://tour/a/photo.bin"));
    assert!(
        under.stdout.contains("2 objects, 700.0 KiB"),
        "{}",
        under.stdout
    );
    let buckets = home.run(&["ls", "--json"]).success().json_lines();
    assert!(buckets.iter().any(|b| b["bucket"] == "tour"), "{buckets:?}");

    // Uploads in progress: ls, parts ls, clean (dry run, too young, all), abort twice over.
    let ids = home.open_uploads("tour", "pending/x.bin", &[3, 1, 2]);
    let listed = home
        .run(&["uploads", "ls", "oss://tour", "--json"])
        .success()
        .json_lines();
    let mut listed_ids: Vec<&str> = listed
        .iter()
        .map(|u| u["upload_id"].as_str().unwrap())
        .collect();
    listed_ids.sort();
    let mut want = ids.iter().map(String::as_str).collect::<Vec<_>>();
    want.sort();
    assert_eq!(listed_ids, want);
    assert!(listed.iter().all(|u| u["key"] == "pending/x.bin"
        && u["bucket"] == "tour"
        && u["age_seconds"].as_i64().unwrap() >= 0));
    let text = home
        .run(&["uploads", "ls", "oss://tour/pending/"])
        .success();
    assert!(
        text.stdout.contains("3 uploads in progress"),
        "{}",
        text.stdout
    );
    assert!(home
        .run(&["uploads", "ls", "oss://tour/nothing-here/"])
        .success()
        .stdout
        .contains("0 uploads in progress"));

    let parts = home
        .run(&[
            "parts",
            "ls",
            "oss://tour/pending/x.bin",
            "--upload-id",
            &ids[0],
            "--json",
        ])
        .success()
        .json_lines();
    assert_eq!(parts.len(), 4, "three parts and a total: {parts:?}");
    let numbers: Vec<u64> = parts[..3]
        .iter()
        .map(|p| p["number"].as_u64().unwrap())
        .collect();
    assert_eq!(numbers, [1, 2, 3]);
    assert!(parts[..3].iter().all(|p| p["size"] == 100 << 10
        && p["etag"].as_str().is_some()
        && p["crc64"].as_str().is_some()));
    assert_eq!(parts[3]["parts"], 3);
    assert_eq!(parts[3]["total_bytes"], 300 << 10);
    let text = home
        .run(&[
            "parts",
            "ls",
            "oss://tour/pending/x.bin",
            "--upload-id",
            &ids[0],
        ])
        .success();
    assert!(
        text.stdout.contains("3 parts, 300.0 KiB (307200 bytes)"),
        "{}",
        text.stdout
    );

    let young = home
        .run(&["uploads", "clean", "oss://tour", "--older-than", "1d"])
        .success();
    assert!(
        young.stdout.contains("0 uploads aborted"),
        "{}",
        young.stdout
    );
    let dry = home
        .run(&[
            "uploads",
            "clean",
            "oss://tour",
            "--older-than",
            "0s",
            "--dry-run",
            "--json",
        ])
        .success()
        .json_lines();
    assert_eq!(dry.len(), 3);
    assert!(dry.iter().all(|u| u["aborted"] == false));
    assert_eq!(
        home.run(&["uploads", "ls", "oss://tour", "--json"])
            .success()
            .json_lines()
            .len(),
        3,
        "a dry run aborts nothing"
    );

    let aborted = home
        .run(&[
            "uploads",
            "abort",
            "oss://tour/pending/x.bin",
            "--upload-id",
            &ids[0],
        ])
        .success();
    assert!(aborted.stdout.starts_with(&format!("aborted {}", ids[0])));
    home.run(&[
        "abort",
        "oss://tour/pending/x.bin",
        "--upload-id",
        &ids[1],
        "--json",
    ])
    .success();
    // Aborting it again: the upload is gone.
    home.run(&["abort", "oss://tour/pending/x.bin", "--upload-id", &ids[1]])
        .code(3);
    home.run(&[
        "parts",
        "ls",
        "oss://tour/pending/x.bin",
        "--upload-id",
        &ids[1],
    ])
    .code(3);
    let cleaned = home
        .run(&["uploads", "clean", "oss://tour", "--older-than", "0s"])
        .success();
    assert!(
        cleaned.stdout.contains(&format!("aborted {}", ids[2])),
        "{}",
        cleaned.stdout
    );
    assert!(cleaned.stdout.contains("1 upload aborted"));
    assert!(home
        .run(&["uploads", "ls", "oss://tour", "--json"])
        .success()
        .stdout
        .trim()
        .is_empty());

    // Not found: unknown key, unknown bucket (the embedded server makes buckets only for cp
    // uploads and mb, never for reads).
    let missing = home.run(&["head", "oss://tour/no/such/key"]).code(3);
    assert!(missing.stderr.contains("NoSuchKey"), "{}", missing.stderr);
    home.run(&["cp", "oss://tour/no/such/key", "nothing.bin"])
        .code(3);
    assert!(!home.path().join("nothing.bin").exists());
    let nobucket = home.run(&["ls", "oss://no-such-bucket"]).code(3);
    assert!(
        nobucket.stderr.contains("NoSuchBucket"),
        "{}",
        nobucket.stderr
    );
    home.run(&["head", "oss://no-such-bucket/k"]).code(3);
    home.run(&["uploads", "ls", "oss://no-such-bucket"]).code(3);
    home.run(&["rb", "oss://no-such-bucket"]).code(3);
    let buckets = home.run(&["ls", "--json"]).success().json_lines();
    assert!(
        !buckets.iter().any(|b| b["bucket"] == "no-such-bucket"),
        "reads must not create buckets: {buckets:?}"
    );

    // rm, rb: a bucket with objects stays; emptied, it goes.
    home.run(&["rb", "oss://tour"]).code(1);
    for key in ["a/copy.bin", "a/photo.bin", "dir/photo.bin", "std/in.txt"] {
        let rm = home.run(&["rm", &format!("oss://tour/{key}")]).success();
        assert_eq!(rm.stdout.trim(), format!("deleted oss://tour/{key}"));
    }
    home.run(&["head", "oss://tour/a/photo.bin"]).code(3);
    let empty = home.run(&["ls", "-r", "oss://tour"]).success();
    assert!(empty.stdout.contains("0 objects, 0 B"), "{}", empty.stdout);
    let removed = home.run(&["rb", "oss://tour", "--json"]).success().json();
    assert_eq!(removed["removed"], "tour");
    home.run(&["ls", "oss://tour"]).code(3);
}

#[test]
fn tour_of_the_embedded_default() {
    let home = Home::new();
    tour(&home);
    assert!(
        home.local_data_dir().join("meta.db").exists(),
        "the embedded server keeps its data in the user's data dir"
    );
}

#[test]
fn tour_against_osspart_serve() {
    let server = ServerProcess::start(&[]);
    let home = Home::against(&server);
    tour(&home);
    assert!(
        !home.local_data_dir().exists(),
        "with an endpoint the embedded server is not started"
    );
}

#[test]
fn bad_arguments_exit_2_with_a_clear_message() {
    let home = Home::new();
    let file = home.file("f.txt", b"data");
    let file = file.to_str().unwrap();
    let cases: &[(&[&str], &str)] = &[
        (&[], "Usage"),
        (&["frobnicate"], "unrecognized subcommand"),
        (&["cp", file], "required"),
        (
            &["cp", "a.txt", "b.txt"],
            "one side of cp must be an oss://",
        ),
        (
            &["cp", "oss://bkt1/", "oss://bkt2/k"],
            "needs a source object",
        ),
        (
            &["cp", "missing.txt", "oss://demo/k"],
            "is not a readable file",
        ),
        (
            &["cp", file, "oss://Bad_Bucket/k"],
            "not a valid bucket name",
        ),
        (
            &["cp", file, "oss://demo/k", "--part-size", "8parsecs"],
            "is not a size",
        ),
        (
            &["cp", file, "oss://demo/k", "--parallel", "many"],
            "invalid value",
        ),
        (
            &["cp", file, "oss://demo/k", "--meta", "novalue"],
            "is not k=v",
        ),
        (
            &["cp", file, "oss://demo/k", "--header", "no colon"],
            "is not 'Name: value'",
        ),
        (&["cp", "-", "oss://demo/"], "needs a full oss://bucket/key"),
        (
            &["cp", "oss://demo", "out.txt"],
            "download needs oss://bucket/key",
        ),
        (&["head", "oss://demo"], "names no object"),
        (&["head", "demo/key"], "is not an oss://bucket/key target"),
        (&["rm", "oss://demo/"], "names no object"),
        (&["mb", "oss://demo/key"], "names an object"),
        (&["parts", "ls", "oss://demo/k"], "--upload-id"),
        (
            &[
                "uploads",
                "clean",
                "oss://demo",
                "--older-than",
                "7 fortnights",
            ],
            "is not a duration",
        ),
        (&["uploads", "clean", "oss://demo"], "--older-than"),
        (
            &["--sign", "v3", "ls", "oss://demo"],
            "--sign must be v1 or v4",
        ),
        (
            &["--access-key-id", "only-id", "ls", "oss://demo"],
            "needs its AccessKeySecret",
        ),
        (
            &["--endpoint", "http://127.0.0.1:1", "ls", "oss://demo"],
            "no credentials",
        ),
    ];
    for (args, message) in cases {
        let run = home.run(args).code(2);
        assert!(
            run.stderr.contains(message),
            "osspart {args:?}: stderr should say {message:?}:\n{}",
            run.stderr
        );
        assert!(
            !run.stderr.contains(NOTE),
            "osspart {args:?} started a server for bad arguments"
        );
    }
    assert!(
        !home.local_data_dir().exists(),
        "bad arguments never reach a service"
    );
}

#[test]
fn bad_credentials_exit_4_and_unreachable_endpoints_exit_6() {
    let server = ServerProcess::start(&[]);
    let mut home = Home::against(&server);
    home.run(&["mb", "oss://creds"]).success();
    for sign in ["v1", "v4"] {
        let run = home
            .run(&[
                "--sign",
                sign,
                "--access-key-secret",
                "not-the-secret",
                "ls",
                "oss://creds",
            ])
            .code(4);
        assert!(
            run.stderr.contains("SignatureDoesNotMatch"),
            "{}",
            run.stderr
        );
    }
    let run = home
        .run(&["--access-key-id", "LTAI-unknown", "ls", "oss://creds"])
        .code(4);
    assert!(run.stderr.contains("InvalidAccessKeyId"), "{}", run.stderr);

    // Nothing listens on port 1; with no retries this fails at once.
    home.set("OSS_ENDPOINT", "http://127.0.0.1:1");
    let f = home.file("f.txt", b"data");
    let run = home
        .run(&["--retries", "0", "cp", f.to_str().unwrap(), "oss://creds/f"])
        .code(6);
    assert!(run.stderr.contains("127.0.0.1:1"), "{}", run.stderr);
    home.run(&["--retries", "0", "ls", "oss://creds"]).code(6);
}

#[test]
fn config_writes_a_private_file_and_flags_beat_env_beat_file() {
    let server = ServerProcess::start(&[]);
    let home = Home::new();
    let wrote = home
        .run(&[
            "config",
            "--endpoint",
            "http://127.0.0.1:1",
            "--access-key-id",
            "file-id",
            "--access-key-secret",
            "file-secret",
            "--sign",
            "v1",
        ])
        .success();
    let path = home.config_file();
    assert_eq!(wrote.stdout.trim(), format!("wrote {}", path.display()));
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the config file holds a secret");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("endpoint = \"http://127.0.0.1:1\""), "{text}");
    assert!(
        text.contains("access_key_secret = \"file-secret\""),
        "{text}"
    );
    let shown = home.run(&["config", "--show"]).success();
    assert!(shown.stdout.contains("file-id"));
    assert!(
        !shown.stdout.contains("file-secret"),
        "--show masks the secret"
    );
    // A later config run merges into the file.
    home.run(&["config", "--region", "cn-shanghai"]).success();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("region = \"cn-shanghai\"") && text.contains("file-id"));
    home.run(&["config", "--region", "cn-hangzhou"]).success();

    // The file alone: its endpoint is unreachable.
    home.run(&["--retries", "0", "ls", "oss://cfg"]).code(6);
    // Environment beats the file: endpoint and keys from the environment work.
    let mut env_home = Home::new();
    std::fs::create_dir_all(env_home.config_file().parent().unwrap()).unwrap();
    std::fs::copy(&path, env_home.config_file()).unwrap();
    env_home.set("OSS_ENDPOINT", &server.endpoint);
    // Keys still from the file: the server rejects them.
    env_home.run(&["--retries", "0", "mb", "oss://cfg"]).code(4);
    env_home.set("OSS_ACCESS_KEY_ID", support::ACCESS_KEY_ID);
    env_home.set("OSS_ACCESS_KEY_SECRET", support::ACCESS_KEY_SECRET);
    env_home.run(&["mb", "oss://cfg"]).success();
    let listed = env_home.run(&["ls", "oss://cfg"]).success();
    assert!(!listed.stderr.contains(NOTE), "{}", listed.stderr);
    // Flags beat the environment.
    env_home.set("OSS_ENDPOINT", "http://127.0.0.1:1");
    env_home.run(&["--retries", "0", "ls", "oss://cfg"]).code(6);
    env_home
        .run(&["--endpoint", &server.endpoint, "ls", "oss://cfg"])
        .success();
    env_home
        .run(&[
            "--endpoint",
            &server.endpoint,
            "--access-key-secret",
            "flag-secret",
            "ls",
            "oss://cfg",
        ])
        .code(4);
    // --config names another file; `endpoint = "local"` there asks for the embedded server.
    let other = home.file("other.toml", b"endpoint = \"local\"\n");
    let local = home
        .run(&["--config", other.to_str().unwrap(), "ls", "oss://cfg"])
        .code(3);
    assert!(local.stderr.contains(NOTE), "{}", local.stderr);
    // A broken file is reported, not ignored.
    let broken = home.file("broken.toml", b"endpoint = [");
    let run = home
        .run(&["--config", broken.to_str().unwrap(), "ls", "oss://cfg"])
        .code(1);
    assert!(run.stderr.contains("invalid config file"), "{}", run.stderr);
}

#[test]
fn serve_prints_how_to_reach_it_and_needs_credentials() {
    let server = ServerProcess::start(&["--region", "cn-beijing"]);
    // The start-up lines follow `listening on` within moments.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut logs = server.logs();
    while !logs.contains("accepting AccessKeyId") && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
        logs = server.logs();
    }
    assert!(
        logs.contains(&format!("listening on {}", server.endpoint)),
        "{logs}"
    );
    assert!(logs.contains("region: cn-beijing"), "{logs}");
    assert!(
        logs.contains(&format!(
            "accepting AccessKeyId: {}",
            support::ACCESS_KEY_ID
        )),
        "{logs}"
    );
    // The harness logs its own command line (with the environment) on "---" lines.
    let printed: String = logs.lines().filter(|l| !l.starts_with("---")).collect();
    assert!(
        !printed.contains(support::ACCESS_KEY_SECRET),
        "the secret is never printed"
    );
    let mut home = Home::against(&server);
    home.set("OSS_REGION", "cn-beijing");
    home.run(&["mb", "oss://served"]).success();
    home.run_with_stdin(&["cp", "-", "oss://served/k"], b"served")
        .success();
    home.run(&["cp", "oss://served/k", "k.txt"]).success();
    assert_eq!(std::fs::read(home.path().join("k.txt")).unwrap(), b"served");

    let refused = Home::new()
        .run(&["serve", "--data", "d", "--addr", "127.0.0.1:0"])
        .code(1);
    assert!(
        refused.stderr.contains("no credentials"),
        "{}",
        refused.stderr
    );
}
