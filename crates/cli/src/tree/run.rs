//! Running a tree transfer: connect, start the local walk and the listing, merge them into
//! steps, and carry out up to `--jobs` steps at once under one shared transfer budget.
//! Ctrl-C (or `--fail-fast` after a failure) pauses every multipart upload in flight, so the
//! same command resumes them.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use anyhow::bail;
use futures_util::StreamExt;
use osspart::{
    CancelHandle, CheckpointSpec, Client, DownloadOptions, ProgressCallback, ProgressEvent, Source,
    TransferBudget, UploadOptions,
};
use tokio::sync::mpsc;

use super::filter::Filter;
use super::local::{self, LocalFile};
use super::mtime;
use super::plan::{self, Compare, Direction, Step};
use super::remote::{self, RemoteObject};
use super::report::{Action, Record, Report};
use super::TreeArgs;
use crate::exit::{BadArguments, Interrupted, TreeFailed};
use crate::settings::Settings;
use crate::target::{discard_upload_checkpoint, OssUrl, Service};
use crate::upload_flags::{self, UploadArgs};

/// Comparisons (HEADs, local CRC-64s) in flight at once.
const COMPARING: usize = 32;

/// Pairs and local items queued between the stages.
const QUEUE: usize = 1024;

/// Everything a step needs to run.
struct Context<'a> {
    client: &'a Client,
    service: &'a Service,
    report: Arc<Report>,
    direction: Direction,
    root: PathBuf,
    bucket: String,
    prefix: String,
    base: UploadOptions,
    download: DownloadOptions,
    dry_run: bool,
    cancel: CancelHandle,
}

/// Runs `cp -r` (`delete` false) or `sync`.
pub async fn run(
    source: &str,
    destination: &str,
    upload: &UploadArgs,
    tree: &TreeArgs,
    delete: bool,
    settings: &Settings,
) -> anyhow::Result<()> {
    let (direction, root, url) = match (OssUrl::parse(source), OssUrl::parse(destination)) {
        (None, Some(dst)) => (Direction::Up, PathBuf::from(source), dst?),
        (Some(src), None) => (Direction::Down, PathBuf::from(destination), src?),
        (Some(_), Some(_)) => bail!(BadArguments(
            "a tree between two oss:// targets is not supported; download it, then upload it"
                .into()
        )),
        (None, None) => bail!(BadArguments(
            "one side must be an oss://bucket/prefix target".into()
        )),
    };
    match direction {
        Direction::Up if !root.is_dir() => {
            bail!(BadArguments(format!("{source:?} is not a directory")))
        }
        Direction::Down if root.exists() && !root.is_dir() => {
            bail!(BadArguments(format!("{destination:?} is not a directory")))
        }
        _ => {}
    }
    if tree.jobs == 0 {
        bail!(BadArguments("--jobs must be at least 1".into()));
    }
    let filter = Filter::new(&tree.rules)?;
    let compare = if tree.checksum {
        Compare::Checksum
    } else if tree.size_only {
        Compare::SizeOnly
    } else {
        Compare::SizeAndMtime
    };
    let mut budget = TransferBudget::new(tree.max_connections, tree.max_buffer);
    if let Some(rate) = upload.bandwidth_limit {
        budget = budget.with_bandwidth_limit(rate);
    }
    let cancel = CancelHandle::new();
    let mut base = upload_flags::options(upload)?;
    base.budget = Some(budget.clone());
    base.cancel = Some(cancel.clone());
    let prefix = remote::tree_prefix(&url.key);

    let service = Service::connect(settings).await?;
    let result = async {
        let client = match direction {
            Direction::Up if !tree.dry_run => service.client_for_upload(&url.bucket).await?,
            _ => service.client(&url.bucket)?,
        };
        if direction == Direction::Down && !tree.dry_run {
            std::fs::create_dir_all(&root)?;
        }
        let report = Arc::new(Report::new(settings.json, tree.dry_run, settings.quiet));
        let ctx = Context {
            client: &client,
            service: &service,
            report: report.clone(),
            direction,
            root: root.clone(),
            bucket: url.bucket.clone(),
            prefix: prefix.clone(),
            base,
            download: DownloadOptions::default()
                .with_parallel(upload.parallel.max(1))
                .with_part_size(upload.part_size)
                .with_budget(budget)
                .with_cancel(cancel.clone()),
            dry_run: tree.dry_run,
            cancel: cancel.clone(),
        };
        let ctrl_c = tokio::spawn({
            let cancel = cancel.clone();
            let report = report.clone();
            async move {
                if tokio::signal::ctrl_c().await.is_ok() {
                    report.note("pausing: finishing the requests in flight");
                    cancel.pause();
                }
            }
        });
        let outcome = transfer(&ctx, &filter, compare, delete, tree, &cancel).await;
        ctrl_c.abort();
        let interrupted = cancel.mode().is_some() && !(tree.fail_fast && report.failed() > 0);
        report.finish(interrupted);
        outcome?;
        if interrupted {
            bail!(Interrupted(
                "paused; run the same command again to resume".into()
            ));
        }
        match report.failed() {
            0 => Ok(()),
            n => bail!(TreeFailed(format!(
                "{} could not be transferred",
                crate::commands::count(n as usize, "file")
            ))),
        }
    }
    .await;
    service.close().await;
    result
}

/// The pipeline: walk + listing -> merge -> decide (HEADs as needed) -> steps on `jobs`.
async fn transfer(
    ctx: &Context<'_>,
    filter: &Filter,
    compare: Compare,
    delete: bool,
    tree: &TreeArgs,
    cancel: &CancelHandle,
) -> anyhow::Result<()> {
    let (local_tx, local_rx) = mpsc::channel(QUEUE / local::BATCH + 1);
    let walk_root = ctx.root.clone();
    let follow = tree.follow_symlinks;
    let walker = tokio::task::spawn_blocking(move || {
        if walk_root.is_dir() {
            local::walk_into(&walk_root, follow, local_tx);
        }
    });
    let (pair_tx, pair_rx) = mpsc::channel(QUEUE);
    let merge = plan::merge(
        local::LocalFeed::new(local_rx),
        remote::list(ctx.client, &ctx.prefix),
        filter,
        pair_tx,
    );
    let consume = async {
        let pairs = futures_util::stream::unfold(pair_rx, |mut rx| async move {
            rx.recv().await.map(|p| (p, rx))
        });
        let records = pairs
            .take_while(|_| std::future::ready(cancel.mode().is_none()))
            .map(|pair| plan::decide(pair, ctx.direction, compare, delete, ctx.client))
            .buffer_unordered(COMPARING)
            .map(|step| ctx.execute(step))
            .buffer_unordered(tree.jobs);
        let mut records = std::pin::pin!(records);
        while let Some(record) = records.next().await {
            let Some(record) = record else { continue };
            let failed = record.action == Action::Failed;
            ctx.report.record(record);
            if failed && tree.fail_fast {
                cancel.pause();
            }
        }
    };
    let (merged, ()) = tokio::join!(merge, consume);
    walker.await?;
    merged
}

impl Context<'_> {
    /// Carries out one step; `None` when it was cut short by a pause.
    async fn execute(&self, step: Step) -> Option<Record> {
        // Steps decided before a pause or a --fail-fast stop are not started.
        if self.cancel.mode().is_some() {
            return None;
        }
        match step {
            Step::Upload(file) => self.upload(file).await,
            Step::Download(object) => self.download(object).await,
            Step::DeleteRemote(object) => Some(self.delete_remote(object).await),
            Step::DeleteLocal(file) => Some(self.delete_local(file)),
            Step::Skip { rel, size, why } => {
                if let Some(size) = size {
                    self.report.found(0);
                    if why.is_none() && !self.dry_run {
                        self.forget_finished(&rel, size).await;
                    }
                }
                let (source, destination) = self.ends(&rel);
                Some(Record {
                    action: Action::Skipped,
                    source,
                    destination,
                    size,
                    crc64: None,
                    note: why,
                    error: None,
                    large: false,
                })
            }
            Step::Fail { rel, why } => {
                let (source, destination) = self.ends(&rel);
                Some(record_failed(source, destination, None, why))
            }
        }
    }

    /// A file found unchanged may still have the checkpoint of a run killed between finishing
    /// it and deleting the checkpoint; drop that checkpoint (and abort the upload it names,
    /// if one is somehow still open) so nothing of the run is left behind.
    async fn forget_finished(&self, rel: &str, size: u64) {
        let key = format!("{}{rel}", self.prefix);
        let path = self.root.join(rel);
        let checkpoint = match self.direction {
            Direction::Up if size >= self.base.multipart_threshold => {
                self.service.checkpoint_path(&self.bucket, &key, &path)
            }
            Direction::Down if size > self.download.part_size => self
                .service
                .download_checkpoint_path(&self.bucket, &key, &path),
            _ => return,
        };
        match self.direction {
            Direction::Up => discard_upload_checkpoint(self.client, &key, &checkpoint).await,
            Direction::Down => {
                let _ = std::fs::remove_file(&checkpoint);
            }
        }
    }

    /// The source and destination names of relative path `rel`.
    fn ends(&self, rel: &str) -> (String, String) {
        let key = format!("oss://{}/{}{rel}", self.bucket, self.prefix);
        let path = self.root.join(rel).display().to_string();
        match self.direction {
            Direction::Up => (path, key),
            Direction::Down => (key, path),
        }
    }

    async fn upload(&self, file: LocalFile) -> Option<Record> {
        let key = format!("{}{}", self.prefix, file.rel);
        let (source, destination) = self.ends(&file.rel);
        self.report.found(file.size);
        if key.len() > osspart_protocol::limits::MAX_KEY_LEN {
            return Some(record_failed(
                source,
                destination,
                Some(file.size),
                "the key would be longer than 1023 bytes".into(),
            ));
        }
        let large = file.size >= self.base.multipart_threshold;
        if self.dry_run {
            return Some(record_done(
                Action::Uploaded,
                source,
                destination,
                file.size,
                None,
                large,
            ));
        }
        let mut options = self.base.clone();
        if !options
            .object
            .meta
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case(mtime::META_NAME))
        {
            options
                .object
                .meta
                .push((mtime::META_NAME.to_owned(), mtime::format(file.mtime)));
        }
        let acknowledged = Arc::new(AtomicU64::new(0));
        if large {
            options.checkpoint = Some(CheckpointSpec::File(self.service.checkpoint_path(
                &self.bucket,
                &key,
                &file.path,
            )));
            options.progress = Some(self.part_progress(&acknowledged));
        }
        match self
            .client
            .upload(&key, Source::File(file.path.clone()), options)
            .await
        {
            Ok(out) => {
                self.report.advance(
                    out.size
                        .saturating_sub(acknowledged.load(Ordering::Relaxed)),
                );
                Some(record_done(
                    Action::Uploaded,
                    source,
                    destination,
                    out.size,
                    Some(out.crc64),
                    out.upload_id.is_some(),
                ))
            }
            Err(osspart::Error::Cancelled) => None,
            Err(e) => Some(record_failed(
                source,
                destination,
                Some(file.size),
                error_chain(e),
            )),
        }
    }

    async fn download(&self, object: RemoteObject) -> Option<Record> {
        let (source, destination) = self.ends(&object.rel);
        self.report.found(object.size);
        let large = object.size > self.download.part_size;
        let Some(dest) = local_path(&self.root, &object.rel) else {
            return Some(record_failed(
                source,
                destination,
                Some(object.size),
                "the key cannot be a local path (empty, `.` or `..` components)".into(),
            ));
        };
        if self.dry_run {
            return Some(record_done(
                Action::Downloaded,
                source,
                destination,
                object.size,
                None,
                large,
            ));
        }
        let mut options = self.download.clone();
        let acknowledged = Arc::new(AtomicU64::new(0));
        if large {
            options.checkpoint = Some(self.service.download_checkpoint_path(
                &self.bucket,
                &object.key,
                &dest,
            ));
            options.progress = Some(self.part_progress(&acknowledged));
        }
        let got = self.client.download(&object.key, &dest, options).await;
        let got = got.and_then(|done| {
            mtime::set_on_file(&dest, &done.info)?;
            Ok(done)
        });
        match got {
            Ok(done) => {
                self.report.advance(
                    done.size
                        .saturating_sub(acknowledged.load(Ordering::Relaxed)),
                );
                let mut r = record_done(
                    Action::Downloaded,
                    source,
                    destination,
                    done.size,
                    Some(done.crc64),
                    large,
                );
                if !done.verified {
                    r.note = Some("the service reported no CRC-64 to compare".into());
                }
                Some(r)
            }
            Err(osspart::Error::Cancelled) => None,
            Err(e) => Some(record_failed(
                source,
                destination,
                Some(object.size),
                error_chain(e),
            )),
        }
    }

    /// A progress callback that moves the bar by each finished part.
    fn part_progress(&self, acknowledged: &Arc<AtomicU64>) -> ProgressCallback {
        let acknowledged = acknowledged.clone();
        let report = self.report.clone();
        ProgressCallback::new(move |p| {
            if let ProgressEvent::PartDone { bytes, .. } = p.event {
                acknowledged.fetch_add(bytes, Ordering::Relaxed);
                report.advance(bytes);
            }
        })
    }

    async fn delete_remote(&self, object: RemoteObject) -> Record {
        let (source, destination) = self.ends(&object.rel);
        let done = record_done(
            Action::Deleted,
            source.clone(),
            destination.clone(),
            object.size,
            None,
            false,
        );
        if self.dry_run {
            return done;
        }
        match self.client.delete_object(&object.key).await {
            Ok(()) => done,
            Err(e) => record_failed(source, destination, Some(object.size), error_chain(e)),
        }
    }

    fn delete_local(&self, file: LocalFile) -> Record {
        let (source, destination) = self.ends(&file.rel);
        let done = record_done(
            Action::Deleted,
            source.clone(),
            destination.clone(),
            file.size,
            None,
            false,
        );
        if self.dry_run {
            return done;
        }
        match std::fs::remove_file(&file.path) {
            Ok(()) => done,
            Err(e) => record_failed(source, destination, Some(file.size), e.to_string()),
        }
    }
}

fn record_done(
    action: Action,
    source: String,
    destination: String,
    size: u64,
    crc64: Option<u64>,
    large: bool,
) -> Record {
    Record {
        action,
        source,
        destination,
        size: Some(size),
        crc64,
        note: None,
        error: None,
        large,
    }
}

/// The error with its causes ("transport error: ...: connection reset"), as the CLI prints them.
fn error_chain(e: osspart::Error) -> String {
    format!("{:#}", anyhow::Error::new(e))
}

fn record_failed(source: String, destination: String, size: Option<u64>, why: String) -> Record {
    Record {
        action: Action::Failed,
        source,
        destination,
        size,
        crc64: None,
        note: None,
        error: Some(why),
        large: false,
    }
}

/// `root` joined with the `/`-separated `rel`, or `None` when a component could escape the
/// root or name nothing.
fn local_path(root: &Path, rel: &str) -> Option<PathBuf> {
    let mut path = root.to_path_buf();
    for part in rel.split('/') {
        let bad = part.is_empty()
            || part == "."
            || part == ".."
            || part.contains('\0')
            || (cfg!(windows) && part.contains(['\\', ':']));
        if bad {
            return None;
        }
        path.push(part);
    }
    Some(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_never_leave_the_root() {
        let root = Path::new("/data");
        assert_eq!(
            local_path(root, "a/b c/é"),
            Some(PathBuf::from("/data/a/b c/é"))
        );
        for bad in ["../x", "a/../../x", "a//b", "/abs", "a/./b", "", "a/"] {
            assert_eq!(local_path(root, bad), None, "{bad}");
        }
    }
}
