//! The uploaders `tree_bench` compares, each a command that uploads every file under a
//! directory to `oss://BUCKET/PREFIX<relative path>`: `osspart cp -r`, oss2 (a thread pool of
//! `put_object_from_file`, `bench/peers/tree_oss2.py`) and ali-oss (async workers of `put`,
//! `bench/peers/tree_ali_oss.js`); plus `osspart sync` of the same shape.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::ensure;

use crate::server_process::{cli_env, sdk_env};

/// Where the uploaders come from and which server they talk to.
#[derive(Debug, Clone)]
pub struct UploadEnv {
    /// The `osspart` binary.
    pub bin: PathBuf,
    /// Workspace root (for `bench/peers/` and the SDKs under `compat/`).
    pub workspace: PathBuf,
    /// `http://127.0.0.1:PORT` of the server.
    pub endpoint: String,
    /// Scratch home for the CLI's config, state and data directories.
    pub cli_home: PathBuf,
}

type BuildCommand = Box<dyn Fn(&Path, &str, &str) -> Command>;

/// One uploader.
pub struct TreeUploader {
    /// Name in the report (and in bucket names, so lowercase letters, digits and '-').
    pub name: &'static str,
    /// What exactly runs.
    pub describe: String,
    /// Whether this is osspart (the others are the peers it is compared with).
    pub is_osspart: bool,
    build: BuildCommand,
}

impl TreeUploader {
    /// The command that uploads everything under `root` to `oss://bucket/prefix...`.
    pub fn command(&self, root: &Path, bucket: &str, prefix: &str) -> Command {
        (self.build)(root, bucket, prefix)
    }
}

/// `oss://bucket/prefix`.
pub fn oss_url(bucket: &str, prefix: &str) -> String {
    format!("oss://{bucket}/{prefix}")
}

/// Why `bin` cannot upload a directory tree, or `Ok` if its `cp --help` offers `-r` /
/// `--recursive`.
pub fn check_recursive_cp(bin: &Path) -> Result<(), String> {
    let help = help_text(bin, "cp")?;
    if help.contains("--recursive") || help.contains(" -r,") || help.contains(" -r ") {
        Ok(())
    } else {
        Err(format!(
            "`{} cp --help` offers no -r/--recursive yet (rebuild with \
             `cargo build --release -p osspart-cli` once it lands)",
            bin.display()
        ))
    }
}

/// Why `bin` has no `sync` subcommand, or `Ok` if `sync --help` succeeds.
pub fn check_sync(bin: &Path) -> Result<(), String> {
    help_text(bin, "sync").map(drop)
}

fn help_text(bin: &Path, subcommand: &str) -> Result<String, String> {
    let out = Command::new(bin)
        .args([subcommand, "--help"])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", bin.display()))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.success() {
        Ok(text)
    } else {
        Err(format!(
            "`{} {subcommand} --help` failed: {}",
            bin.display(),
            text.lines().next().unwrap_or("").trim()
        ))
    }
}

/// `osspart cp -r ROOT oss://BUCKET/PREFIX --jobs N --json`.
pub fn osspart_cp(env: &UploadEnv, jobs: usize, sign: Option<&str>) -> TreeUploader {
    let env = env.clone();
    let sign = sign.map(str::to_owned);
    let sign_text = sign.as_deref().map_or_else(
        || " (V4 signing, the default)".to_owned(),
        |s| format!(" --sign {s}"),
    );
    TreeUploader {
        name: "osspart",
        describe: format!("osspart cp -r DIR oss://BUCKET/PREFIX --jobs {jobs} --json{sign_text}"),
        is_osspart: true,
        build: Box::new(move |root, bucket, prefix| {
            let mut c = Command::new(&env.bin);
            c.arg("cp")
                .arg("-r")
                .arg(root)
                .arg(oss_url(bucket, prefix))
                .arg("--jobs")
                .arg(jobs.to_string())
                .arg("--json");
            if let Some(sign) = &sign {
                c.arg("--sign").arg(sign);
            }
            cli_env(&mut c, &env.endpoint, &env.cli_home);
            c
        }),
    }
}

/// `osspart sync ROOT oss://BUCKET/PREFIX --json`.
pub fn osspart_sync_command(env: &UploadEnv, root: &Path, bucket: &str, prefix: &str) -> Command {
    let mut c = Command::new(&env.bin);
    c.arg("sync")
        .arg(root)
        .arg(oss_url(bucket, prefix))
        .arg("--json");
    cli_env(&mut c, &env.endpoint, &env.cli_home);
    c
}

/// oss2 from `compat/python/.venv`: `bench/peers/tree_oss2.py` with a pool of `threads`.
pub fn oss2(env: &UploadEnv, threads: usize) -> anyhow::Result<TreeUploader> {
    let python = env.workspace.join("compat/python/.venv/bin/python");
    ensure!(
        python.is_file(),
        "{} is missing: run `scripts/test --deps`",
        python.display()
    );
    let script = env.workspace.join("bench/peers/tree_oss2.py");
    let endpoint = env.endpoint.clone();
    Ok(TreeUploader {
        name: "oss2",
        describe: format!(
            "oss2 ThreadPoolExecutor({threads}) of bucket.put_object_from_file (V1 auth, \
             enable_crc default on)"
        ),
        is_osspart: false,
        build: Box::new(move |root, bucket, prefix| {
            let mut c = Command::new(&python);
            c.arg(&script)
                .arg(bucket)
                .arg(prefix)
                .arg(root)
                .arg(threads.to_string());
            sdk_env(&mut c, &endpoint);
            c
        }),
    })
}

/// ali-oss from `compat/node/node_modules`: `bench/peers/tree_ali_oss.js` with `workers`
/// async loops.
pub fn ali_oss(env: &UploadEnv, workers: usize) -> anyhow::Result<TreeUploader> {
    let module = env.workspace.join("compat/node/node_modules/ali-oss");
    ensure!(
        module.is_dir(),
        "{} is missing: run `scripts/test --deps`",
        module.display()
    );
    let script = env.workspace.join("bench/peers/tree_ali_oss.js");
    let endpoint = env.endpoint.clone();
    Ok(TreeUploader {
        name: "ali-oss",
        describe: format!("ali-oss {workers} async workers of client.put(key, path) (V1 auth)"),
        is_osspart: false,
        build: Box::new(move |root, bucket, prefix| {
            let mut c = Command::new("node");
            c.arg(&script)
                .arg(bucket)
                .arg(prefix)
                .arg(root)
                .arg(workers.to_string());
            sdk_env(&mut c, &endpoint);
            c
        }),
    })
}
