//! Compatibility tests: the official OSS SDKs against a freshly started `osspart serve`.
//!
//! Each test starts its own server (empty temp data dir, random port), runs one script from
//! `compat/` with the SDK under test, and fails with the script's output unless it exits 0.
//!
//! The SDKs are installed by `scripts/test` into `compat/node/node_modules` (ali-oss) and
//! `compat/python/.venv` (oss2, alibabacloud-oss-v2), and the Apache OpenDAL client is built
//! into `compat/opendal/target`. If they are missing the tests fail and say so; they are never
//! skipped.
//!
//! Scripts get: `OSSPART_ENDPOINT`, `OSSPART_REGION`, `OSS_ACCESS_KEY_ID`,
//! `OSS_ACCESS_KEY_SECRET` and, for STS runs, `OSS_SESSION_TOKEN`.

use std::ffi::OsStr;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::support::{self, ServerOptions, ServerProcess};

/// Upper bound for one script run (the slowest takes well under a minute).
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(600);

/// Static credentials written to the config file of STS runs.
const STS_ACCESS_KEY_ID: &str = "STS.compat";
const STS_ACCESS_KEY_SECRET: &str = "sts-secret";
const STS_TOKEN: &str = "compat-token";

fn compat_dir() -> PathBuf {
    support::workspace_root().join("compat")
}

/// Which identity the script signs with, and what else the server is configured with.
#[derive(Clone, Copy, Debug)]
enum Identity {
    /// The plain AccessKey pair the server gets through its environment.
    AccessKey,
    /// An STS triple; the server is started with a config file that lists it.
    Sts,
    /// The plain AccessKey pair, from a config file that also binds [`CNAME_HOST`] to
    /// [`CNAME_BUCKET`].
    Cname,
}

/// Host name bound to a bucket in the cname scenario (resolved by the script itself).
const CNAME_HOST: &str = "files.osspart-compat.test";
const CNAME_BUCKET: &str = "cname-compat";

enum Runtime {
    Node,
    Python,
}

struct Scenario<'a> {
    runtime: Runtime,
    script: &'a str,
    args: &'a [&'a str],
    identity: Identity,
}

fn node_modules() -> PathBuf {
    compat_dir().join("node").join("node_modules")
}

fn venv_python() -> PathBuf {
    compat_dir()
        .join("python")
        .join(".venv")
        .join("bin")
        .join("python")
}

fn require_node_deps() {
    let sdk = node_modules().join("ali-oss").join("package.json");
    assert!(
        sdk.is_file(),
        "ali-oss is not installed ({} is missing): run scripts/test, which installs the \
         compatibility-test SDKs (npm ci in compat/node)",
        sdk.display()
    );
}

fn require_python_deps() {
    let py = venv_python();
    assert!(
        py.is_file(),
        "the Python SDK venv is missing ({} does not exist): run scripts/test, which creates \
         compat/python/.venv and installs compat/python/requirements.txt",
        py.display()
    );
    let status = Command::new(&py)
        .args(["-c", "import oss2, alibabacloud_oss_v2"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", py.display()));
    assert!(
        status.success(),
        "oss2 / alibabacloud-oss-v2 cannot be imported from {}: run scripts/test to (re)install \
         compat/python/requirements.txt",
        py.display()
    );
}

/// Writes a server config file into `dir`: the plain key, plus an STS triple and/or a cname
/// binding.
fn write_config(dir: &Path, sts: bool, cname: bool) -> PathBuf {
    let path = dir.join("osspart-compat.toml");
    let mut text = format!(
        "region = \"{}\"\n\n[[credentials]]\naccess_key_id = \"{}\"\naccess_key_secret = \"{}\"\n",
        support::REGION,
        support::ACCESS_KEY_ID,
        support::ACCESS_KEY_SECRET,
    );
    if sts {
        text.push_str(&format!(
            "\n[[credentials]]\naccess_key_id = \"{STS_ACCESS_KEY_ID}\"\naccess_key_secret = \"{STS_ACCESS_KEY_SECRET}\"\nsecurity_token = \"{STS_TOKEN}\"\n"
        ));
    }
    if cname {
        text.push_str(&format!(
            "\n[cname]\n\"{CNAME_HOST}\" = \"{CNAME_BUCKET}\"\n"
        ));
    }
    std::fs::write(&path, text).expect("write the server config file");
    path
}

/// Output of a finished script.
struct ScriptRun {
    success: bool,
    status: String,
    output: String,
    elapsed: Duration,
}

/// Runs `cmd` with stdout and stderr merged into one captured text, killing it after
/// [`SCRIPT_TIMEOUT`].
fn run_captured(mut cmd: Command) -> ScriptRun {
    let started = Instant::now();
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    let mut out = child.stdout.take().expect("piped stdout");
    let mut err = child.stderr.take().expect("piped stderr");
    let out_reader = thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out.read_to_end(&mut v);
        v
    });
    let err_reader = thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err.read_to_end(&mut v);
        v
    });
    let mut timed_out = false;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for the script") {
            break status;
        }
        if started.elapsed() > SCRIPT_TIMEOUT {
            timed_out = true;
            let _ = child.kill();
            break child.wait().expect("wait for the killed script");
        }
        thread::sleep(Duration::from_millis(50));
    };
    let stdout = out_reader.join().unwrap_or_default();
    let stderr = err_reader.join().unwrap_or_default();
    let mut output = String::from_utf8_lossy(&stdout).into_owned();
    if !stderr.is_empty() {
        output.push_str("\n--- stderr ---\n");
        output.push_str(&String::from_utf8_lossy(&stderr));
    }
    let status_text = if timed_out {
        format!("killed after {SCRIPT_TIMEOUT:?} ({status})")
    } else {
        status.to_string()
    };
    ScriptRun {
        success: status.success() && !timed_out,
        status: status_text,
        output,
        elapsed: started.elapsed(),
    }
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    let from = all.len().saturating_sub(lines);
    all[from..].join("\n")
}

/// A started server plus everything a script needs to reach it.
struct Setup {
    server: ServerProcess,
    key_id: &'static str,
    key_secret: &'static str,
    token: Option<&'static str>,
    _config_dir: tempfile::TempDir,
    scratch: tempfile::TempDir,
}

fn start_server(runtime: &Runtime, identity: Identity) -> Setup {
    match runtime {
        Runtime::Node => require_node_deps(),
        Runtime::Python => require_python_deps(),
    }
    let config_dir = tempfile::Builder::new()
        .prefix("osspart-compat-cfg-")
        .tempdir()
        .expect("temporary config dir");
    let mut options = ServerOptions::new();
    let (key_id, key_secret, token) = match identity {
        Identity::AccessKey => (support::ACCESS_KEY_ID, support::ACCESS_KEY_SECRET, None),
        Identity::Sts => {
            let cfg = write_config(config_dir.path(), true, false);
            options = options.arg("--config").arg(cfg.as_os_str());
            (STS_ACCESS_KEY_ID, STS_ACCESS_KEY_SECRET, Some(STS_TOKEN))
        }
        Identity::Cname => {
            let cfg = write_config(config_dir.path(), false, true);
            options = options.arg("--config").arg(cfg.as_os_str());
            (support::ACCESS_KEY_ID, support::ACCESS_KEY_SECRET, None)
        }
    };
    let server = ServerProcess::start_with(options);
    let scratch = tempfile::Builder::new()
        .prefix("osspart-compat-tmp-")
        .tempdir()
        .expect("temporary scratch dir");
    Setup {
        server,
        key_id,
        key_secret,
        token,
        _config_dir: config_dir,
        scratch,
    }
}

/// Runs one script against the server of `setup`; panics with its output (and the server's)
/// unless it exits 0.
fn run_script(setup: &mut Setup, runtime: &Runtime, script: &str, args: &[&OsStr], what: &str) {
    let mut cmd = match runtime {
        Runtime::Node => {
            let mut c = Command::new("node");
            c.arg(compat_dir().join("node").join(script))
                .current_dir(compat_dir().join("node"))
                .env("NODE_PATH", node_modules());
            c
        }
        Runtime::Python => {
            let mut c = Command::new(venv_python());
            c.arg(compat_dir().join("python").join(script))
                .current_dir(compat_dir().join("python"))
                .env("PYTHONUNBUFFERED", "1")
                .env("PYTHONDONTWRITEBYTECODE", "1");
            c
        }
    };
    cmd.args(args)
        .env("OSSPART_ENDPOINT", &setup.server.endpoint)
        .env("OSSPART_REGION", support::REGION)
        .env("OSS_ACCESS_KEY_ID", setup.key_id)
        .env("OSS_ACCESS_KEY_SECRET", setup.key_secret)
        .env("OSSPART_CNAME_HOST", CNAME_HOST)
        .env("OSSPART_CNAME_BUCKET", CNAME_BUCKET)
        .env("TMPDIR", setup.scratch.path())
        // Keep proxies out of loopback traffic.
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env("no_proxy", "127.0.0.1,localhost")
        .env_remove("HTTP_PROXY")
        .env_remove("http_proxy");
    match setup.token {
        Some(t) => cmd.env("OSS_SESSION_TOKEN", t),
        None => cmd.env_remove("OSS_SESSION_TOKEN"),
    };
    let run = run_captured(cmd);
    if !run.success {
        let alive = setup.server.is_running();
        setup.server.stop();
        panic!(
            "compat script {what} failed: {}\n\
             ===== script output =====\n{}\n\
             ===== server output (last 80 lines; still running at the end: {alive}) =====\n{}\n",
            run.status,
            run.output,
            tail(&setup.server.logs(), 80)
        );
    }
    println!(
        "{what} passed in {:.1?}: {}",
        run.elapsed,
        run.output
            .lines()
            .rev()
            .find(|l| l.contains("checks passed"))
            .unwrap_or("")
    );
}

fn describe(script: &str, args: &[&str], identity: Identity) -> String {
    format!("{script} {} ({identity:?})", args.join(" "))
}

fn run_scenario(s: Scenario<'_>) {
    let mut setup = start_server(&s.runtime, s.identity);
    let args: Vec<&OsStr> = s.args.iter().map(OsStr::new).collect();
    let what = describe(s.script, s.args, s.identity);
    run_script(&mut setup, &s.runtime, s.script, &args, &what);
    setup.server.stop();
}

/// Runs `script phase1 STATE_DIR`, kills the server with SIGKILL, restarts it on the same data
/// directory, then runs `script phase2 STATE_DIR` against the new endpoint.
fn run_crash_scenario(runtime: Runtime, script: &str, identity: Identity) {
    let mut setup = start_server(&runtime, identity);
    let state = tempfile::Builder::new()
        .prefix("osspart-compat-state-")
        .tempdir()
        .expect("temporary state dir");
    let phase1 = [OsStr::new("phase1"), state.path().as_os_str()];
    run_script(
        &mut setup,
        &runtime,
        script,
        &phase1,
        &describe(script, &["phase1"], identity),
    );
    setup.server.kill();
    setup.server.restart();
    let phase2 = [OsStr::new("phase2"), state.path().as_os_str()];
    run_script(
        &mut setup,
        &runtime,
        script,
        &phase2,
        &describe(script, &["phase2 (after kill -9 and restart)"], identity),
    );
    setup.server.stop();
}

fn node(args: &'static [&'static str], identity: Identity) {
    run_scenario(Scenario {
        runtime: Runtime::Node,
        script: "ali_oss.js",
        args,
        identity,
    });
}

fn python(script: &str, args: &[&str], identity: Identity) {
    run_scenario(Scenario {
        runtime: Runtime::Python,
        script,
        args,
        identity,
    });
}

#[test]
fn ali_oss_v1() {
    node(&["v1"], Identity::AccessKey);
}

#[test]
fn ali_oss_v4() {
    node(&["v4"], Identity::AccessKey);
}

#[test]
fn ali_oss_sts_v1() {
    node(&["v1"], Identity::Sts);
}

#[test]
fn ali_oss_sts_v4() {
    node(&["v4"], Identity::Sts);
}

#[test]
fn ali_oss_resume_after_server_crash() {
    run_crash_scenario(Runtime::Node, "ali_oss_restart.js", Identity::AccessKey);
}

#[test]
fn oss2_v1() {
    python("oss2_compat.py", &["v1"], Identity::AccessKey);
}

#[test]
fn oss2_v4() {
    python("oss2_compat.py", &["v4"], Identity::AccessKey);
}

#[test]
fn oss2_sts_v1() {
    python("oss2_compat.py", &["v1"], Identity::Sts);
}

#[test]
fn oss2_sts_v4() {
    python("oss2_compat.py", &["v4"], Identity::Sts);
}

#[test]
fn oss2_resume_after_server_crash() {
    run_crash_scenario(Runtime::Python, "restart_compat.py", Identity::Sts);
}

#[test]
fn oss_v2_sdk_v4() {
    python("oss_v2_compat.py", &["v4"], Identity::AccessKey);
}

#[test]
fn oss_v2_sdk_v1() {
    python("oss_v2_compat.py", &["v1"], Identity::AccessKey);
}

#[test]
fn oss_v2_sdk_sts_v4() {
    python("oss_v2_compat.py", &["v4"], Identity::Sts);
}

#[test]
fn cname_oss2_and_v2_sdk() {
    python("cname_compat.py", &[], Identity::Cname);
}

/// The OpenDAL scenario binary, built by `scripts/test` (a crate of its own outside the
/// workspace, so the workspace build never compiles OpenDAL).
fn opendal_bin() -> PathBuf {
    compat_dir()
        .join("opendal")
        .join("target")
        .join("debug")
        .join("osspart-compat-opendal")
}

/// Runs Apache OpenDAL's OSS service (`compat/opendal`) in one addressing style against a
/// fresh server, in a bucket made for it beforehand with `osspart mb` (OpenDAL does not create
/// buckets).
fn opendal(style: &str) {
    let bin = opendal_bin();
    assert!(
        bin.is_file(),
        "the OpenDAL compatibility client is not built ({} is missing): run scripts/test, which \
         builds it (cargo build --manifest-path compat/opendal/Cargo.toml)",
        bin.display()
    );
    let mut server = ServerProcess::start_with(ServerOptions::new());
    let bucket = format!("opendal-{style}");
    let home = tempfile::Builder::new()
        .prefix("osspart-compat-home-")
        .tempdir()
        .expect("temporary home");
    let mut mb = Command::new(support::osspart_bin());
    mb.args(["mb", &format!("oss://{bucket}")])
        .env("HOME", home.path())
        .env("XDG_CONFIG_HOME", home.path())
        .env("OSS_ENDPOINT", &server.endpoint)
        .env("OSS_REGION", support::REGION)
        .env("OSS_ACCESS_KEY_ID", support::ACCESS_KEY_ID)
        .env("OSS_ACCESS_KEY_SECRET", support::ACCESS_KEY_SECRET);
    let made = run_captured(mb);
    assert!(made.success, "osspart mb {bucket}: {}", made.output);
    let mut cmd = Command::new(&bin);
    cmd.args([style, &bucket])
        .env("OSSPART_ENDPOINT", &server.endpoint)
        .env("OSS_ACCESS_KEY_ID", support::ACCESS_KEY_ID)
        .env("OSS_ACCESS_KEY_SECRET", support::ACCESS_KEY_SECRET)
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env("no_proxy", "127.0.0.1,localhost");
    let run = run_captured(cmd);
    if !run.success {
        let alive = server.is_running();
        server.stop();
        panic!(
            "OpenDAL {style}-style scenario failed: {}\n===== output =====\n{}\n\
             ===== server output (last 80 lines; still running at the end: {alive}) =====\n{}\n",
            run.status,
            run.output,
            tail(&server.logs(), 80)
        );
    }
    println!("opendal {style} passed in {:.1?}", run.elapsed);
    server.stop();
}

#[test]
fn opendal_path_style() {
    opendal("path");
}

#[test]
fn opendal_virtual_host_style() {
    opendal("virtual");
}
