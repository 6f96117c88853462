//! `osspart cp`: upload a file or stdin with a live progress bar and automatic resume, or
//! download an object with parallel ranged reads. The upload itself is the client's
//! `multipart_upload`; this module only wires flags, checkpoints, Ctrl-C and display.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use osspart::{
    CancelHandle, CheckpointSpec, DownloadOptions, ProgressCallback, ProgressEvent, Source,
};
use serde_json::json;

use super::{human_bytes, pause_on_ctrl_c, print_json};
use crate::exit::{BadArguments, Interrupted};
use crate::settings::Settings;
use crate::target::{OssUrl, Service};
use crate::upload_flags::{options, UploadArgs};

/// Flags of `osspart cp`.
#[derive(Debug, Args)]
#[command(
    after_help = crate::tree::MEMORY_HELP,
    after_long_help = concat!(
        "Examples:\n",
        "  osspart cp backup.tar oss://demo/backups/          upload (resumes if run again)\n",
        "  pg_dump db | osspart cp - oss://demo/db.sql        upload a stream\n",
        "  osspart cp oss://demo/backups/backup.tar .         download, CRC-64 checked\n",
        "  osspart cp oss://demo/a.bin oss://archive/a.bin --storage-class Archive\n",
        "  osspart cp -r ./photos oss://demo/photos/ --exclude '*.tmp' --jobs 16\n",
        "\n",
        "Trees (cp -r, sync): at most --max-buffer bytes of file data (default 128 MiB) are held \
         at once and at most --max-connections requests (default 16) carry data at once, \
         whatever the number of files; both sides are read in key order, page by page.",
    )
)]
pub struct CpArgs {
    /// Source: a file, `-` for stdin, a directory with -r, or oss://bucket/key to download.
    source: String,
    /// Destination: oss://bucket/key (a trailing `/` appends the file name), or a path.
    destination: String,
    /// Copy a whole directory tree (DIR to oss://bucket/prefix/ or back); files the
    /// destination already holds unchanged are skipped, so a re-run resumes.
    #[arg(short, long)]
    recursive: bool,
    #[command(flatten)]
    upload: UploadArgs,
    #[command(flatten)]
    pub tree: crate::tree::TreeArgs,
}

/// Copies in the direction the arguments say.
pub async fn run(args: CpArgs, settings: &Settings) -> anyhow::Result<()> {
    if args.recursive {
        return crate::tree::run(
            &args.source,
            &args.destination,
            &args.upload,
            &args.tree,
            false,
            settings,
        )
        .await;
    }
    if let Some(flag) = args.tree.given() {
        return Err(BadArguments(format!("{flag} needs -r (or use sync)")).into());
    }
    match (
        OssUrl::parse(&args.source),
        OssUrl::parse(&args.destination),
    ) {
        (None, Some(dst)) => upload(&args, dst?, settings).await,
        (Some(src), None) => download(&args, src?, settings).await,
        (Some(src), Some(dst)) => copy(&args, src?, dst?, settings).await,
        (None, None) => {
            Err(BadArguments("one side of cp must be an oss://bucket/key target".into()).into())
        }
    }
}

async fn upload(args: &CpArgs, mut dst: OssUrl, settings: &Settings) -> anyhow::Result<()> {
    let stdin = args.source == "-";
    let path = PathBuf::from(&args.source);
    if !stdin && !path.is_file() {
        return Err(BadArguments(format!("{:?} is not a readable file", args.source)).into());
    }
    if dst.key.is_empty() || dst.key.ends_with('/') {
        if stdin {
            return Err(
                BadArguments("uploading stdin needs a full oss://bucket/key".into()).into(),
            );
        }
        let name = path
            .file_name()
            .context("source has no file name")?
            .to_string_lossy();
        dst.key.push_str(&name);
    }
    let mut options = options(&args.upload)?;
    let service = Service::connect(settings).await?;
    let client = service.client_for_upload(&dst.bucket).await?;
    let checkpoint = (!stdin).then(|| service.checkpoint_path(&dst.bucket, &dst.key, &path));
    if let (true, Some(cp)) = (args.upload.restart, &checkpoint) {
        // Start over even when the file is unchanged: the earlier upload goes.
        crate::target::discard_upload_checkpoint(&client, &dst.key, cp).await;
    }
    if let Some(cp) = &checkpoint {
        options.checkpoint = Some(CheckpointSpec::File(cp.clone()));
    }
    let total = if stdin {
        None
    } else {
        Some(std::fs::metadata(&path)?.len())
    };
    let display = Display::new(
        settings.json || settings.quiet,
        total,
        "uploading to",
        &format!("oss://{}/{}", dst.bucket, dst.key),
    );
    options.progress = Some(display.callback());
    let cancel = CancelHandle::new();
    options.cancel = Some(cancel.clone());
    let ctrl_c = pause_on_ctrl_c(cancel.clone());
    let source = if stdin {
        Source::blocking_reader(std::io::stdin())
    } else {
        Source::File(path.clone())
    };
    if !stdin {
        crate::tree::add_mtime(&mut options, &path);
    }
    let result = client.upload(&dst.key, source, options).await;
    ctrl_c.abort();
    display.finish();
    service.close().await;
    match result {
        Ok(out) => {
            if settings.json {
                print_json(&json!({
                    "bucket": out.bucket, "key": out.name, "etag": out.etag, "crc64": out.crc64.to_string(), "size": out.size,
                    "upload_id": out.upload_id, "parts_sent": out.parts_sent, "parts_kept": out.parts_kept, "bytes_sent": out.bytes_sent,
                }));
            } else if !settings.quiet {
                let how = match out.upload_id {
                    Some(_) => format!("{} parts sent, {} kept", out.parts_sent, out.parts_kept),
                    None => "one PutObject".to_owned(),
                };
                println!(
                    "uploaded oss://{}/{} ({}, etag {}, crc64 {}; {how})",
                    out.bucket,
                    out.name,
                    human_bytes(out.size),
                    out.etag,
                    out.crc64,
                );
            }
            Ok(())
        }
        Err(osspart::Error::Cancelled) => {
            let hint = if checkpoint.is_some() {
                "paused; run the same command again to resume"
            } else {
                "interrupted (stdin uploads cannot resume)"
            };
            Err(Interrupted(hint.to_owned()).into())
        }
        // Only a transient failure is worth re-running; a missing bucket or a refused key
        // fails the same way next time.
        Err(e) if e.is_retryable() => Err(anyhow::Error::new(e).context(format!(
            "upload to oss://{}/{} failed; run the same command again to resume",
            dst.bucket, dst.key
        ))),
        Err(e) => Err(anyhow::Error::new(e)
            .context(format!("upload to oss://{}/{} failed", dst.bucket, dst.key))),
    }
}

/// Progress display: a bar on a terminal, plain lines otherwise, nothing with --json.
struct Display {
    bar: Option<ProgressBar>,
    plain: bool,
    last_step: Arc<Mutex<i64>>,
}

impl Display {
    /// `verb` names the transfer ("uploading to", "downloading from"); `what` its object.
    fn new(json: bool, total: Option<u64>, verb: &str, what: &str) -> Display {
        let terminal = std::io::stderr().is_terminal();
        if json || !terminal {
            return Display {
                bar: None,
                plain: !json,
                last_step: Arc::new(Mutex::new(-1)),
            };
        }
        let bar = ProgressBar::with_draw_target(total, ProgressDrawTarget::stderr_with_hz(10));
        let template = if total.is_some() {
            "{msg:20} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} ETA {eta} {prefix}"
        } else {
            "{msg:20} {bytes} {bytes_per_sec} {prefix}"
        };
        bar.set_style(
            ProgressStyle::with_template(template)
                .expect("valid template")
                .progress_chars("=> "),
        );
        bar.set_message(verb.split(' ').next().unwrap_or(verb).to_owned());
        bar.enable_steady_tick(Duration::from_millis(200));
        bar.println(format!("{verb} {what}"));
        Display {
            bar: Some(bar),
            plain: false,
            last_step: Arc::new(Mutex::new(-1)),
        }
    }

    fn callback(&self) -> ProgressCallback {
        let bar = self.bar.clone();
        let plain = self.plain;
        let last_step = self.last_step.clone();
        ProgressCallback::new(move |p| {
            let parts = match p.parts_total {
                Some(t) => format!("parts {}/{t}", p.parts_done),
                None => format!("parts {}", p.parts_done),
            };
            let line = match &p.event {
                ProgressEvent::Resumed {
                    upload_id,
                    kept_parts,
                    kept_bytes,
                    parts_to_check,
                } => Some(match parts_to_check {
                    0 => format!(
                        "resuming upload {upload_id}: kept {kept_parts} parts ({})",
                        human_bytes(*kept_bytes)
                    ),
                    n => format!(
                        "resuming upload {upload_id}: kept {kept_parts} parts ({}), checking {n} more against the file",
                        human_bytes(*kept_bytes)
                    ),
                }),
                ProgressEvent::Initiated { upload_id } => {
                    Some(format!("started upload {upload_id}"))
                }
                ProgressEvent::Warning(w) => Some(format!("warning: {w}")),
                ProgressEvent::Retrying {
                    number,
                    attempt,
                    error,
                } => Some(format!(
                    "retrying part {number} (attempt {attempt}): {error}"
                )),
                ProgressEvent::Completing => Some("completing".to_owned()),
                _ => None,
            };
            if let Some(bar) = &bar {
                if let Some(t) = p.total_bytes.filter(|&t| bar.length() != Some(t)) {
                    bar.set_length(t);
                }
                let position = p.bytes_sent.max(p.bytes_acknowledged);
                bar.set_position(p.total_bytes.map_or(position, |t| position.min(t)));
                bar.set_prefix(parts);
                match &p.event {
                    ProgressEvent::Completing => bar.set_message("completing"),
                    ProgressEvent::Completed { .. } => bar.set_message("done"),
                    _ => {}
                }
                if let Some(line) = line.filter(|l| l != "completing") {
                    bar.println(line);
                }
            } else if plain {
                if let Some(line) = line {
                    eprintln!("{line}");
                }
                if !matches!(p.event, ProgressEvent::PartDone { .. }) {
                    return;
                }
                let mut last = last_step.lock().unwrap();
                match p.total_bytes {
                    // A known size: one line per 5%.
                    Some(_) => {
                        let step = (p.fraction * 20.0).floor() as i64;
                        if step > *last {
                            *last = step;
                            eprintln!(
                                "{:>3.0}%  {} acknowledged  {parts}",
                                p.fraction * 100.0,
                                human_bytes(p.bytes_acknowledged)
                            );
                        }
                    }
                    // A stream of unknown size: a line whenever the part count doubles.
                    None => {
                        let step = i64::from(p.parts_done.max(1).ilog2());
                        if step > *last {
                            *last = step;
                            eprintln!(
                                "{} acknowledged  {parts}",
                                human_bytes(p.bytes_acknowledged)
                            );
                        }
                    }
                }
            }
        })
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish();
            // indicatif leaves the cursor after the finished bar; end its line so the summary
            // printed next starts on a line of its own.
            eprintln!();
        }
    }
}

/// A server-side copy: CopyObject for small objects, a resumable UploadPartCopy multipart
/// copy for large ones; metadata kept unless --meta/--content-type/--header replace it.
async fn copy(
    args: &CpArgs,
    src: OssUrl,
    mut dst: OssUrl,
    settings: &Settings,
) -> anyhow::Result<()> {
    if src.key.is_empty() || src.key.ends_with('/') {
        bail!(BadArguments(
            "copy needs a source object (oss://bucket/key); use cp -r for prefixes".into()
        ));
    }
    if dst.key.is_empty() || dst.key.ends_with('/') {
        dst.key
            .push_str(src.key.rsplit('/').next().unwrap_or(&src.key));
    }
    let service = Service::connect(settings).await?;
    let client = service.client_for_upload(&dst.bucket).await?;
    let upload = options(&args.upload)?;
    let replace = args.upload.sets_object_attributes();
    let display = Display::new(
        settings.json || settings.quiet,
        Some(0),
        "copying from",
        &format!(
            "oss://{}/{} to oss://{}/{}",
            src.bucket, src.key, dst.bucket, dst.key
        ),
    );
    let cancel = CancelHandle::new();
    let checkpoint = service.copy_checkpoint_path(&src.bucket, &src.key, &dst.bucket, &dst.key);
    if args.upload.restart {
        let _ = std::fs::remove_file(&checkpoint);
    }
    let mut copy_options = osspart::CopyOptions::default()
        .with_multipart_threshold(args.upload.multipart_threshold.max(1))
        .with_part_size(
            args.upload
                .part_size
                .max(osspart_protocol::limits::MIN_PART_SIZE),
        )
        .with_parallel(args.upload.parallel.max(1))
        .with_checkpoint(checkpoint)
        .with_progress(display.callback())
        .with_cancel(cancel.clone());
    copy_options.object = replace.then_some(upload.object);
    let ctrl_c = pause_on_ctrl_c(cancel);
    let result = client
        .copy(&src.bucket, &src.key, &dst.key, copy_options)
        .await;
    ctrl_c.abort();
    display.finish();
    service.close().await;
    let out = match result {
        Ok(out) => out,
        Err(osspart::Error::Cancelled) => {
            return Err(Interrupted("paused; run the same command again to resume".into()).into())
        }
        Err(e) => return Err(e.into()),
    };
    if settings.json {
        print_json(&json!({
            "source": format!("oss://{}/{}", src.bucket, src.key),
            "bucket": dst.bucket, "key": dst.key, "etag": out.etag, "size": out.size,
            "crc64": out.crc64.map(|c| c.to_string()), "upload_id": out.upload_id,
            "parts_copied": out.parts_copied, "parts_kept": out.parts_kept,
        }));
    } else if !settings.quiet {
        let how = match out.upload_id {
            Some(_) => format!("{} parts copied, {} kept", out.parts_copied, out.parts_kept),
            None => "one CopyObject".to_owned(),
        };
        println!(
            "copied oss://{}/{} to oss://{}/{} ({}, etag {}; {how})",
            src.bucket,
            src.key,
            dst.bucket,
            dst.key,
            human_bytes(out.size),
            out.etag
        );
    }
    Ok(())
}

async fn download(args: &CpArgs, src: OssUrl, settings: &Settings) -> anyhow::Result<()> {
    if src.key.is_empty() {
        bail!(BadArguments("download needs oss://bucket/key".into()));
    }
    let mut dest = PathBuf::from(&args.destination);
    if dest.is_dir() {
        dest = dest.join(src.key.rsplit('/').next().unwrap_or("download"));
    }
    let service = Service::connect(settings).await?;
    let client = service.client(&src.bucket)?;
    let display = Display::new(
        settings.json || settings.quiet,
        // The size comes with the first answer.
        Some(0),
        "downloading from",
        &format!("oss://{}/{}", src.bucket, src.key),
    );
    let cancel = CancelHandle::new();
    let checkpoint = service.download_checkpoint_path(&src.bucket, &src.key, &dest);
    if args.upload.restart {
        let _ = std::fs::remove_file(&checkpoint);
    }
    let budget = options(&args.upload)?.budget;
    let mut options = DownloadOptions::default()
        .with_parallel(args.upload.parallel.max(1))
        .with_part_size(args.upload.part_size)
        .with_checkpoint(checkpoint)
        .with_progress(display.callback())
        .with_cancel(cancel.clone());
    options.budget = budget;
    let ctrl_c = pause_on_ctrl_c(cancel);
    let result = client.download(&src.key, &dest, options).await;
    ctrl_c.abort();
    display.finish();
    service.close().await;
    let done = match result {
        Ok(done) => done,
        Err(osspart::Error::Cancelled) => {
            return Err(Interrupted("paused; run the same command again to resume".into()).into())
        }
        Err(e) if e.is_retryable() && !matches!(e, osspart::Error::Checksum { .. }) => {
            return Err(anyhow::Error::new(e).context(format!(
                "download of oss://{}/{} failed; run the same command again to resume",
                src.bucket, src.key
            )))
        }
        Err(e) => return Err(e.into()),
    };
    crate::tree::mtime::set_on_file(&dest, &done.info)?;
    if settings.json {
        print_json(&json!({
            "bucket": src.bucket, "key": src.key, "file": dest.display().to_string(),
            "size": done.size, "crc64": done.crc64.to_string(), "verified": done.verified,
            "parts_fetched": done.parts_fetched, "parts_kept": done.parts_kept,
        }));
    } else if !settings.quiet {
        let check = if done.verified {
            format!("crc64 {} verified", done.crc64)
        } else {
            format!("crc64 {}; the service reported none to compare", done.crc64)
        };
        println!(
            "downloaded oss://{}/{} to {} ({}, {check})",
            src.bucket,
            src.key,
            dest.display(),
            human_bytes(done.size)
        );
    }
    Ok(())
}
