//! Where the CLI's credentials come from, as a user sets them up: profiles of the config file
//! and ossutil's config file in their order of precedence, `osspart config` asking for the
//! secret (on standard input, and without echo on a terminal), an ECS metadata-service
//! stand-in rotating short-lived STS keys under a long upload, and a credential process.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::home::{pattern, Home};
use crate::support::{self, ServerOptions, ServerProcess};

const NOTE: &str = "note: nothing configured";

/// A server accepting the support keys plus `sts` (id, secret, token) entries.
fn server_accepting(sts: &[(String, String, String)]) -> (ServerProcess, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut toml = format!(
        "region = \"{}\"\n[[credentials]]\naccess_key_id = \"{}\"\naccess_key_secret = \"{}\"\n",
        support::REGION,
        support::ACCESS_KEY_ID,
        support::ACCESS_KEY_SECRET
    );
    for (id, secret, token) in sts {
        toml.push_str(&format!(
            "[[credentials]]\naccess_key_id = \"{id}\"\naccess_key_secret = \"{secret}\"\n\
             security_token = \"{token}\"\n"
        ));
    }
    let path = dir.path().join("serve.toml");
    std::fs::write(&path, toml).unwrap();
    let server =
        ServerProcess::start_with(ServerOptions::new().arg("--config").arg(path.as_os_str()));
    (server, dir)
}

#[test]
fn profiles_and_ossutil_config_in_order_of_precedence() {
    let server = ServerProcess::start(&[]);
    let mut home = Home::new();
    let ep = server.endpoint.as_str();
    // ossutil's file alone is enough: its [Credentials] section names endpoint and keys.
    home.file(
        ".ossutilconfig",
        format!(
            "[Credentials]\nlanguage=EN\nendpoint={ep}\naccessKeyID={}\naccessKeySecret={}\n\
             [wrong]\naccessKeySecret=not-the-secret\n",
            support::ACCESS_KEY_ID,
            support::ACCESS_KEY_SECRET
        )
        .as_bytes(),
    );
    let made = home.run(&["-v", "mb", "oss://ossutil"]).success();
    assert!(!made.stderr.contains(NOTE), "{}", made.stderr);
    assert!(
        made.stderr.contains(&format!("endpoint {ep}")),
        "{}",
        made.stderr
    );
    // ossutil's [wrong] section, selected by --profile, beats its [Credentials] section.
    let denied = home
        .run(&["--profile", "wrong", "ls", "oss://ossutil"])
        .code(4);
    assert!(
        denied.stderr.contains("SignatureDoesNotMatch"),
        "{}",
        denied.stderr
    );
    // A profile nobody has is an error, not a silent fall-back.
    let missing = home
        .run(&["--profile", "nope", "ls", "oss://ossutil"])
        .code(2);
    assert!(
        missing.stderr.contains("no profile \"nope\""),
        "{}",
        missing.stderr
    );

    // Our own file's top level beats ossutil's file.
    home.run(&["config", "--endpoint", "http://127.0.0.1:1"])
        .success();
    home.run(&["--retries", "0", "ls", "oss://ossutil"]).code(6);
    // A profile (secret piped in) beats the top level; OSS_PROFILE selects it too.
    let wrote = home
        .run_with_stdin(
            &[
                "config",
                "--profile",
                "good",
                "--endpoint",
                ep,
                "--access-key-id",
                support::ACCESS_KEY_ID,
            ],
            format!("{}\n", support::ACCESS_KEY_SECRET).as_bytes(),
        )
        .success();
    assert!(
        wrote.stdout.contains("wrote profile good"),
        "{}",
        wrote.stdout
    );
    let text = std::fs::read_to_string(home.config_file()).unwrap();
    assert!(text.contains("[profile.good]"), "{text}");
    home.run(&["--profile", "good", "ls", "oss://ossutil"])
        .success();
    home.set("OSS_PROFILE", "good");
    home.run(&["ls", "oss://ossutil"]).success();
    // The environment beats the profile; flags beat the environment.
    home.set("OSS_ACCESS_KEY_SECRET", "env-secret");
    home.run(&["ls", "oss://ossutil"]).code(4);
    home.run(&[
        "--access-key-secret",
        support::ACCESS_KEY_SECRET,
        "ls",
        "oss://ossutil",
    ])
    .success();

    // OSSUTIL_CONFIG_FILE names another ossutil file; a named ossutil section serves a profile
    // our file does not have, with our top level below it.
    let other = home.file(
        "elsewhere/ossutil.ini",
        format!(
            "[Credentials]\naccessKeyID=x\naccessKeySecret=y\n[team]\nendpoint = {ep}\n\
             accessKeyID = {}\naccessKeySecret = {}\n",
            support::ACCESS_KEY_ID,
            support::ACCESS_KEY_SECRET
        )
        .as_bytes(),
    );
    let mut team = Home::new();
    team.set("OSSUTIL_CONFIG_FILE", other.to_str().unwrap());
    team.run(&["--profile", "team", "ls", "oss://ossutil"])
        .success();
    // Without the profile, its [Credentials] keys have no endpoint or region: refused.
    team.run(&["ls", "oss://ossutil"]).code(2);
}

#[test]
fn config_asks_for_the_secret_and_show_masks_secret_and_token() {
    let home = Home::new();
    let args = [
        "config",
        "--region",
        "cn-hangzhou",
        "--access-key-id",
        "STS.piped",
        "--session-token",
        "piped-token",
    ];
    // Nothing on standard input: no secret, nothing written.
    let refused = home.run(&args).code(2);
    assert!(
        refused.stderr.contains("AccessKeySecret"),
        "{}",
        refused.stderr
    );
    assert!(!home.config_file().exists());
    home.run_with_stdin(&args, b"piped-secret\n").success();
    let text = std::fs::read_to_string(home.config_file()).unwrap();
    assert!(
        text.contains("access_key_secret = \"piped-secret\""),
        "{text}"
    );
    assert!(text.contains("session_token = \"piped-token\""), "{text}");
    let shown = home.run(&["config", "--show"]).success();
    assert!(shown.stdout.contains("STS.piped"), "{}", shown.stdout);
    for secret in ["piped-secret", "piped-token"] {
        assert!(!shown.stdout.contains(secret), "{}", shown.stdout);
    }
    assert_eq!(
        shown.stdout.matches("\"********\"").count(),
        2,
        "{}",
        shown.stdout
    );
    // New keys without a token drop the old keys' token.
    home.run_with_stdin(&["config", "--access-key-id", "LTAI-new"], b"new-secret\n")
        .success();
    let text = std::fs::read_to_string(home.config_file()).unwrap();
    assert!(
        !text.contains("piped-token") && text.contains("new-secret"),
        "{text}"
    );

    // On a terminal the secret is asked for and not echoed.
    let command = format!(
        "exec '{}' config --profile tty --access-key-id LTAI-tty",
        support::osspart_bin().display()
    );
    let mut child = home
        .program("script")
        .args(["-q", "-e", "-c", &command, "/dev/null"])
        .stdin(Stdio::piped())
        .spawn()
        .expect("run `script` (util-linux)");
    let screen = Arc::new(Mutex::new(Vec::<u8>::new()));
    let mut stdout = child.stdout.take().unwrap();
    let sink = screen.clone();
    let reader = thread::spawn(move || {
        let mut buf = [0u8; 1024];
        while let Ok(n) = stdout.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock().unwrap().extend_from_slice(&buf[..n]);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    while !String::from_utf8_lossy(&screen.lock().unwrap()).contains("AccessKeySecret:") {
        assert!(Instant::now() < deadline, "no prompt");
        thread::sleep(Duration::from_millis(20));
    }
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"typed-secret\r").unwrap();
    let status = child.wait().unwrap();
    drop(stdin);
    reader.join().unwrap();
    let seen = String::from_utf8_lossy(&screen.lock().unwrap()).into_owned();
    assert!(status.success(), "{status}: {seen}");
    assert!(
        !seen.contains("typed-secret"),
        "the secret was echoed: {seen:?}"
    );
    let text = std::fs::read_to_string(home.config_file()).unwrap();
    assert!(
        text.contains("access_key_secret = \"typed-secret\""),
        "{text}"
    );
}

/// A stand-in for the ECS metadata service on 127.0.0.1:0: names `role`, and for it hands out
/// the next of `keys` (cycling) on every fetch, valid for `life`.
struct MetadataService {
    endpoint: String,
    fetches: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
}

impl MetadataService {
    fn start(role: &'static str, keys: Vec<(String, String, String)>, life: Duration) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let fetches = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (count, stopped) = (fetches.clone(), stop.clone());
        let thread = thread::spawn(move || {
            for conn in listener.incoming() {
                if stopped.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(mut conn) = conn else { continue };
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match conn.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&head).into_owned();
                let path = head.split_whitespace().nth(1).unwrap_or("").to_owned();
                let base = "/latest/meta-data/ram/security-credentials/";
                let (status, body) = if path == base {
                    ("200 OK", role.to_owned())
                } else if path == format!("{base}{role}") {
                    let n = count.fetch_add(1, Ordering::SeqCst);
                    let (id, secret, token) = &keys[n % keys.len()];
                    let expires =
                        time::OffsetDateTime::now_utc() + time::Duration::try_from(life).unwrap();
                    let expires = expires
                        .replace_nanosecond(0)
                        .unwrap()
                        .format(&time::format_description::well_known::Rfc3339)
                        .unwrap();
                    let doc = serde_json::json!({
                        "AccessKeyId": id, "AccessKeySecret": secret, "SecurityToken": token,
                        "Expiration": expires, "Code": "Success",
                    });
                    ("200 OK", doc.to_string())
                } else {
                    ("404 Not Found", String::new())
                };
                let _ = write!(
                    conn,
                    "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\
                     Connection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        MetadataService {
            endpoint,
            fetches,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for MetadataService {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.endpoint.trim_start_matches("http://"));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[test]
fn rotating_ecs_role_keys_carry_an_upload_longer_than_their_life() {
    let keys: Vec<(String, String, String)> = (1..=6)
        .map(|n| {
            (
                format!("STS.rot-{n}"),
                format!("rot-secret-{n}"),
                format!("rot-token-{n}"),
            )
        })
        .collect();
    let (server, _config_dir) = server_accepting(&keys);
    let life = Duration::from_secs(3);
    let metadata = MetadataService::start("osspart-uploader", keys, life);
    let mut home = Home::against(&server);
    home.set("OSS_ACCESS_KEY_ID", "");
    home.set("OSS_ACCESS_KEY_SECRET", "");
    home.set("OSS_ECS_RAM_ROLE", "osspart-uploader");
    home.set("OSSPART_ECS_METADATA_ENDPOINT", &metadata.endpoint);

    let made = home.run(&["-v", "mb", "oss://rotating"]).success();
    assert!(
        made.stderr
            .contains("credentials ECS RAM role osspart-uploader"),
        "{}",
        made.stderr
    );
    assert_eq!(metadata.fetches.load(Ordering::SeqCst), 1);

    // A stream trickling in over about 7 s (14 parts of 100 KiB, one every 500 ms): more than
    // two lifetimes of the keys, each part signed when it is sent.
    let data = pattern(14 * (100 << 10), 7);
    let mut cmd = home.command(&[
        "cp",
        "-",
        "oss://rotating/stream.bin",
        "--part-size",
        "100KiB",
        "--multipart-threshold",
        "100KiB",
        "--parallel",
        "1",
    ]);
    cmd.stdin(Stdio::piped());
    let started = Instant::now();
    let fetches_before = metadata.fetches.load(Ordering::SeqCst);
    let mut child = cmd.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    for chunk in data.chunks(100 << 10) {
        stdin.write_all(chunk).unwrap();
        thread::sleep(Duration::from_millis(500));
    }
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    let took = started.elapsed();
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(took > life * 2, "the upload took only {took:?}");
    let fetched = metadata.fetches.load(Ordering::SeqCst) - fetches_before;
    // Keys are refreshed at half their life: at least one fetch per 1.5 s of upload.
    assert!(
        fetched as f64 >= (took.as_secs_f64() / 1.5).floor(),
        "{fetched} fetches in {took:?}"
    );
    assert!(fetched >= 3, "{fetched} fetches in {took:?}");

    let stored = home.with_client("rotating", |c| async move {
        c.get_object("stream.bin", None).await.expect("get").1
    });
    assert!(stored.as_ref() == data.as_slice(), "stored object differs");
}

#[test]
fn a_credential_process_supplies_keys_once_per_command() {
    let (server, _config_dir) =
        server_accepting(&[("STS.proc".into(), "proc-secret".into(), "proc-token".into())]);
    let home = Home::new();
    let calls = home.path().join("calls.log");
    let script = |name: &str, token: &str| {
        let path = home.file(
            name,
            format!(
                "#!/bin/sh\necho \"$@\" >> '{}'\n\
                 printf '%s' '{{\"mode\":\"StsToken\",\"access_key_id\":\"STS.proc\",\
                 \"access_key_secret\":\"proc-secret\",\"sts_token\":\"{token}\",\
                 \"expiration\":\"2099-01-01T00:00:00Z\"}}'\n",
                calls.display()
            )
            .as_bytes(),
        );
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        path.display().to_string()
    };
    let good = script("bin/get-keys", "proc-token");
    let stale = script("bin/stale-keys", "old-token");
    let failing = home.file("bin/broken", b"#!/bin/sh\necho 'no session' >&2\nexit 3\n");
    std::fs::set_permissions(
        &failing,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let ep = &server.endpoint;
    home.file(
        "config/osspart/config.toml",
        format!(
            "endpoint = \"{ep}\"\n\
             [profile.proc]\ncredential_process = \"{good} --profile 'my team'\"\n\
             [profile.stale]\ncredential_process = \"{stale}\"\n\
             [profile.broken]\ncredential_process = \"{}\"\n",
            failing.display()
        )
        .as_bytes(),
    );
    home.run(&["--profile", "proc", "mb", "oss://proc"])
        .success();
    let f = home.file("small.txt", b"from a process");
    home.run(&[
        "--profile",
        "proc",
        "cp",
        f.to_str().unwrap(),
        "oss://proc/small.txt",
    ])
    .success();
    let listed = home
        .run(&["--profile", "proc", "ls", "oss://proc"])
        .success();
    assert!(listed.stdout.contains("small.txt"), "{}", listed.stdout);
    // Once per command (the keys last until 2099), with the arguments as written.
    let log = std::fs::read_to_string(&calls).unwrap();
    assert_eq!(
        log.lines().collect::<Vec<_>>(),
        ["--profile my team"; 3],
        "{log}"
    );

    // The token it prints is sent: a wrong one is refused by the server.
    home.run(&["--profile", "stale", "ls", "oss://proc"])
        .code(4);
    // A failing process is an error naming it, with its message.
    let broken = home
        .run(&["--profile", "broken", "ls", "oss://proc"])
        .code(4);
    assert!(
        broken.stderr.contains("credential process") && broken.stderr.contains("no session"),
        "{}",
        broken.stderr
    );
}
