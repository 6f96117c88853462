//! Tree benchmark: a tree of many small files and a tree of big files uploaded through one
//! `osspart serve` (the release binary, a child process) by `osspart cp -r`, oss2 and ali-oss,
//! each uploader a child process reaped with `wait4` (its own CPU and peak RSS) into its own
//! fresh bucket, with the server's CPU per object read from `/proc`; then a no-change
//! `osspart sync` of the small tree. Every upload is checked by listing its bucket.
//! `--help` lists the flags; bench/README.md explains the numbers.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use osspart::{Client, ListObjectsQuery};
use osspart_bench::child::run_measured;
use osspart_bench::report::Machine;
use osspart_bench::server_process::ServerProcess;
use osspart_bench::tree::{self, Tree};
use osspart_bench::tree_config::{Invocation, TreeConfig, USAGE};
use osspart_bench::tree_report::{SyncRun, TreeReport, TreeRun, TreeSection};
use osspart_bench::tree_uploaders::{self, TreeUploader, UploadEnv};

/// Key prefix every uploader writes under.
const PREFIX: &str = "tree/";

fn main() -> anyhow::Result<()> {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()?;
    let config = match TreeConfig::load(&workspace, std::env::args().skip(1))? {
        Invocation::Help => {
            print!("{USAGE}");
            return Ok(());
        }
        Invocation::Run(c) => c,
    };
    std::fs::create_dir_all(&config.dir)?;
    let dir = config.dir.canonicalize()?;
    let machine = Machine::detect(&dir);
    let mut notes = Vec::new();

    let trees = [
        ("small", config.small_files, config.small_size),
        ("big", config.big_files, config.big_size),
    ]
    .into_iter()
    .filter(|&(_, files, _)| files > 0)
    .map(|(name, files, size)| tree::ensure(&dir.join("trees"), name, files, size))
    .collect::<anyhow::Result<Vec<Tree>>>()?;

    let server = ServerProcess::start(&config.bin, &dir)?;
    eprintln!("server {} ({})", server.endpoint(), config.bin.display());
    let env = UploadEnv {
        bin: config.bin.clone(),
        workspace: workspace.clone(),
        endpoint: server.endpoint().to_owned(),
        cli_home: dir.join("cli-home"),
    };
    let mut uploaders: Vec<TreeUploader> = Vec::new();
    match tree_uploaders::check_recursive_cp(&config.bin) {
        Ok(()) => uploaders.push(tree_uploaders::osspart_cp(
            &env,
            config.jobs,
            config.osspart_sign.as_deref(),
        )),
        Err(why) => {
            eprintln!("skipping osspart: {why}");
            notes.push(format!("osspart cp -r skipped: {why}"));
        }
    }
    if config.skip_peers {
        notes.push("peers skipped (--skip-peers)".into());
    } else {
        uploaders.push(tree_uploaders::oss2(&env, config.peers_concurrency)?);
        uploaders.push(tree_uploaders::ali_oss(&env, config.peers_concurrency)?);
    }
    anyhow::ensure!(!uploaders.is_empty(), "no uploader to run");
    let sync_ok = tree_uploaders::check_sync(&config.bin);
    if let Err(why) = &sync_ok {
        eprintln!("skipping osspart sync: {why}");
        notes.push(format!("osspart sync skipped: {why}"));
    }

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let logs = dir.join("logs");
    std::fs::create_dir_all(&logs)?;

    let mut sections = Vec::new();
    let mut sync = None;
    for tree in &trees {
        tree.warm_page_cache()?;
        let expected = expected_keys(tree);
        let mut runs = Vec::new();
        for up in &uploaders {
            let bucket = format!("{}-{}", tree.name, up.name);
            let client = server.client(&bucket)?;
            runtime.block_on(client.create_bucket())?;
            let cmd = up.command(&tree.root, &bucket, PREFIX);
            let log = logs.join(format!("{bucket}.log"));
            let before = server.cpu();
            let usage = run_measured(cmd, &log, None);
            let server_cpu = cpu_delta(before, server.cpu());
            let check = match &usage {
                Ok(_) => runtime
                    .block_on(verify(&client, tree, &expected))
                    .map_err(|e| format!("{e:#}")),
                Err(e) => Err(format!("{e:#}")),
            };
            let usage = usage.ok();
            progress(&bucket, tree, usage.as_ref(), server_cpu, &check);
            runs.push(TreeRun {
                uploader: up.name.to_owned(),
                is_osspart: up.is_osspart,
                usage,
                server_cpu,
                check,
            });
        }
        if tree.name == "small" && sync_ok.is_ok() {
            // Into osspart's bucket if it uploaded the tree, else into the first that did.
            let filled = runs
                .iter()
                .filter(|r| r.check.is_ok())
                .min_by_key(|r| !r.is_osspart);
            if let Some(run) = filled {
                let bucket = format!("{}-{}", tree.name, run.uploader);
                sync = Some(sync_run(
                    &runtime, &server, &env, tree, &bucket, &expected, &logs,
                )?);
            }
        }
        sections.push(TreeSection {
            name: tree.name.clone(),
            files: tree.files,
            file_size: tree.file_size,
            runs,
        });
    }
    let load_after = osspart_bench::cpu::load_average();
    drop(server);

    let report = TreeReport {
        date: time::OffsetDateTime::now_utc().date().to_string(),
        machine,
        load_after,
        uploaders: uploaders
            .iter()
            .map(|u| (u.name.to_owned(), u.describe.clone()))
            .collect(),
        trees: sections,
        sync,
        notes,
    };
    println!("{report}");
    Ok(())
}

/// Every key the tree's upload must produce.
fn expected_keys(tree: &Tree) -> BTreeSet<String> {
    tree.relative_paths()
        .into_iter()
        .map(|rel| format!("{PREFIX}{rel}"))
        .collect()
}

fn cpu_delta(before: Option<Duration>, after: Option<Duration>) -> Option<Duration> {
    after?.checked_sub(before?)
}

fn progress(
    what: &str,
    tree: &Tree,
    usage: Option<&osspart_bench::child::Usage>,
    server_cpu: Option<Duration>,
    check: &Result<String, String>,
) {
    match (usage, check) {
        (Some(u), Ok(_)) => eprintln!(
            "{what:20} {:7.2} s {:8.0} files/s {:7.2} CPU-s {:6.1} MiB RSS, server {} CPU-s",
            u.wall.as_secs_f64(),
            tree.files as f64 / u.wall.as_secs_f64(),
            u.cpu.as_secs_f64(),
            u.max_rss as f64 / (1024.0 * 1024.0),
            server_cpu.map_or_else(|| "?".into(), |c| format!("{:.2}", c.as_secs_f64()))
        ),
        (_, Err(e)) => eprintln!("{what:20} FAILED: {e}"),
        (None, Ok(_)) => eprintln!("{what:20} did not run"),
    }
}

/// Lists the bucket under [`PREFIX`]: exactly the tree's keys, each of the file size. Returns
/// the object types seen (`Normal` for PutObject, `Multipart`), with counts if mixed.
async fn verify(
    client: &Client,
    tree: &Tree,
    expected: &BTreeSet<String>,
) -> anyhow::Result<String> {
    let mut query = ListObjectsQuery::default()
        .with_prefix(PREFIX.to_owned())
        .with_max_keys(1000);
    let mut seen = BTreeSet::new();
    let mut bytes = 0u64;
    let mut wrong_size = None;
    let mut types: BTreeMap<String, usize> = BTreeMap::new();
    loop {
        let page = client.list_objects(&query).await?;
        for o in &page.objects {
            bytes += o.size;
            if o.size != tree.file_size && wrong_size.is_none() {
                wrong_size = Some(format!("{} has {} bytes", o.key, o.size));
            }
            *types.entry(o.object_type.clone()).or_default() += 1;
            seen.insert(o.key.clone());
        }
        if !page.is_truncated {
            break;
        }
        query.marker = Some(
            page.next_marker
                .or_else(|| page.objects.last().map(|o| o.key.clone()))
                .context("a truncated listing without a next marker")?,
        );
    }
    anyhow::ensure!(
        seen.len() == tree.files && bytes == tree.total_bytes(),
        "listed {} keys / {bytes} bytes, expected {} / {}",
        seen.len(),
        tree.files,
        tree.total_bytes()
    );
    if let Some(key) = expected.symmetric_difference(&seen).next() {
        anyhow::bail!("key {key} is listed on one side only (tree vs bucket)");
    }
    if let Some(w) = wrong_size {
        anyhow::bail!("{w}, expected {}", tree.file_size);
    }
    Ok(match types.len() {
        1 => types.into_keys().next().expect("one type"),
        _ => types
            .iter()
            .map(|(t, n)| format!("{t} {n}"))
            .collect::<Vec<_>>()
            .join(", "),
    })
}

/// A no-change `osspart sync` of `tree` into `bucket`, which already holds it.
#[allow(clippy::too_many_arguments)]
fn sync_run(
    runtime: &tokio::runtime::Runtime,
    server: &ServerProcess,
    env: &UploadEnv,
    tree: &Tree,
    bucket: &str,
    expected: &BTreeSet<String>,
    logs: &Path,
) -> anyhow::Result<SyncRun> {
    let log: PathBuf = logs.join(format!("sync-{bucket}.log"));
    let cmd = tree_uploaders::osspart_sync_command(env, &tree.root, bucket, PREFIX);
    let before = server.cpu();
    let usage = run_measured(cmd, &log, None);
    let server_cpu = cpu_delta(before, server.cpu());
    let client = server.client(bucket)?;
    let check = match &usage {
        Ok(_) => runtime
            .block_on(verify(&client, tree, expected))
            .map_err(|e| format!("{e:#}")),
        Err(e) => Err(format!("{e:#}")),
    };
    let summary = std::fs::read_to_string(&log).ok().and_then(|text| {
        text.lines()
            .rev()
            .find(|l| l.contains("\"summary\""))
            .map(str::to_owned)
    });
    let usage = usage.ok();
    progress(
        &format!("sync {bucket}"),
        tree,
        usage.as_ref(),
        server_cpu,
        &check,
    );
    Ok(SyncRun {
        target: format!(
            "oss://{bucket}/{PREFIX} (uploaded by {})",
            bucket.trim_start_matches(&format!("{}-", tree.name))
        ),
        files: tree.files,
        usage,
        server_cpu,
        summary,
        check,
    })
}
