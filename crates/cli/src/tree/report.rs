//! What a tree transfer tells its user: on a terminal one aggregate bar (files done of those
//! found so far, bytes, rate, ETA) and a line per finished large file; otherwise a line per
//! file changed; with `--json` one object per file and a last `"summary": true` object.

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::json;

use crate::commands::{count, human_bytes, print_json};

/// What happened to one path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Sent to OSS.
    Uploaded,
    /// Fetched from OSS.
    Downloaded,
    /// Left alone (unchanged, or not transferable by choice).
    Skipped,
    /// Removed from the destination (`--delete`).
    Deleted,
    /// Could not be transferred.
    Failed,
}

impl Action {
    fn name(self) -> &'static str {
        match self {
            Action::Uploaded => "uploaded",
            Action::Downloaded => "downloaded",
            Action::Skipped => "skipped",
            Action::Deleted => "deleted",
            Action::Failed => "failed",
        }
    }

    fn planned(self) -> &'static str {
        match self {
            Action::Uploaded => "would upload",
            Action::Downloaded => "would download",
            Action::Deleted => "would delete",
            other => other.name(),
        }
    }
}

/// One path's outcome.
#[derive(Debug, Clone)]
pub struct Record {
    /// What happened.
    pub action: Action,
    /// Where it came from (a path or an oss:// URL).
    pub source: String,
    /// Where it went (or would go).
    pub destination: String,
    /// Bytes, for files.
    pub size: Option<u64>,
    /// CRC-64 of the data, when it was transferred and checked.
    pub crc64: Option<u64>,
    /// Why it was skipped, or a remark.
    pub note: Option<String>,
    /// Why it failed.
    pub error: Option<String>,
    /// Whether it went as a multipart upload or ranged download (gets its own line on a
    /// terminal).
    pub large: bool,
}

#[derive(Debug, Default)]
struct Counts {
    uploaded: u64,
    downloaded: u64,
    skipped: u64,
    deleted: u64,
    failed: u64,
    bytes: u64,
    files_seen: u64,
    files_done: u64,
    failures: Vec<(String, String)>,
}

/// Failures listed in the summary (the rest are counted).
const LISTED_FAILURES: usize = 50;

/// Standard output, written in blocks: a tree of many small files would otherwise cost one
/// system call per line. Flushed at least every [`FLUSH_EVERY`] and at the end.
#[derive(Debug)]
struct Lines {
    out: std::io::BufWriter<std::io::Stdout>,
    flushed: Instant,
}

/// The longest a per-file line waits in the buffer.
const FLUSH_EVERY: Duration = Duration::from_millis(200);

/// The transfer's reporter, shared by every task.
#[derive(Debug)]
pub struct Report {
    json: bool,
    dry_run: bool,
    quiet: bool,
    bar: Option<ProgressBar>,
    counts: Mutex<Counts>,
    lines: Mutex<Lines>,
    started: Instant,
}

impl Report {
    /// A reporter for `--json`, a terminal (bar) or plain output; `quiet` keeps only failures.
    pub fn new(json: bool, dry_run: bool, quiet: bool) -> Report {
        let bar = (!json && !dry_run && !quiet && std::io::stderr().is_terminal()).then(|| {
            let bar =
                ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr_with_hz(10));
            bar.set_style(
                ProgressStyle::with_template(
                    "{msg:24} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}",
                )
                .expect("valid template")
                .progress_chars("=> "),
            );
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        Report {
            json,
            dry_run,
            quiet,
            bar,
            counts: Mutex::default(),
            lines: Mutex::new(Lines {
                out: std::io::BufWriter::with_capacity(64 * 1024, std::io::stdout()),
                flushed: Instant::now(),
            }),
            started: Instant::now(),
        }
    }

    /// Writes one line to standard output through the buffer.
    fn line(&self, text: &str) {
        use std::io::Write;
        let mut lines = self.lines.lock().unwrap();
        let _ = writeln!(lines.out, "{text}");
        if lines.flushed.elapsed() >= FLUSH_EVERY {
            let _ = lines.out.flush();
            lines.flushed = Instant::now();
        }
    }

    fn flush(&self) {
        use std::io::Write;
        let _ = self.lines.lock().unwrap().out.flush();
    }

    /// A file was found that will be transferred or compared: it counts towards the totals.
    pub fn found(&self, bytes_to_move: u64) {
        let mut c = self.counts.lock().unwrap();
        c.files_seen += 1;
        if let Some(bar) = &self.bar {
            bar.inc_length(bytes_to_move);
            bar.set_message(format!("files {}/{}", c.files_done, c.files_seen));
        }
    }

    /// Bytes of a transfer in flight were acknowledged.
    pub fn advance(&self, bytes: u64) {
        if let Some(bar) = &self.bar {
            bar.inc(bytes);
        }
    }

    /// A note that is not about one file's outcome (a warning, a retry).
    pub fn note(&self, line: &str) {
        if self.quiet {
            return;
        }
        if self.json {
            eprintln!("{}", json!({ "note": line }));
        } else if let Some(bar) = &self.bar {
            bar.println(format!("note: {line}"));
        } else {
            eprintln!("note: {line}");
        }
    }

    /// Records one path's outcome and prints it.
    pub fn record(&self, r: Record) {
        {
            let mut c = self.counts.lock().unwrap();
            match r.action {
                Action::Uploaded => c.uploaded += 1,
                Action::Downloaded => c.downloaded += 1,
                Action::Skipped => c.skipped += 1,
                Action::Deleted => c.deleted += 1,
                Action::Failed => c.failed += 1,
            }
            if matches!(r.action, Action::Uploaded | Action::Downloaded) {
                c.bytes += r.size.unwrap_or(0);
            }
            if r.action == Action::Failed && c.failures.len() < LISTED_FAILURES {
                c.failures
                    .push((r.source.clone(), r.error.clone().unwrap_or_default()));
            }
            c.files_done += 1;
            if let Some(bar) = &self.bar {
                bar.set_message(format!(
                    "files {}/{}",
                    c.files_done,
                    c.files_seen.max(c.files_done)
                ));
            }
        }
        if self.json {
            let mut v = json!({
                "action": r.action.name(),
                "source": r.source,
                "destination": r.destination,
                "size": r.size,
            });
            if let Some(crc) = r.crc64 {
                v["crc64"] = json!(crc.to_string());
            }
            if let Some(n) = &r.note {
                v["note"] = json!(n);
            }
            if let Some(e) = &r.error {
                v["error"] = json!(e);
            }
            if self.dry_run {
                v["dry_run"] = json!(true);
            }
            self.line(&v.to_string());
            return;
        }
        // Quiet: failures are listed once, at the end.
        if self.quiet {
            return;
        }
        let size = r
            .size
            .map(|s| format!(" ({})", human_bytes(s)))
            .unwrap_or_default();
        let verb = if self.dry_run {
            r.action.planned()
        } else {
            r.action.name()
        };
        let line = match r.action {
            Action::Failed => format!(
                "failed {}: {}",
                r.source,
                r.error.as_deref().unwrap_or("unknown error")
            ),
            Action::Skipped => match &r.note {
                // Unchanged files are the quiet majority of a sync.
                None => return,
                Some(n) => format!("skipped {}: {n}", r.source),
            },
            Action::Deleted => format!("{verb} {}", r.destination),
            _ => format!("{verb} {} -> {}{size}", r.source, r.destination),
        };
        match &self.bar {
            Some(bar) => {
                if r.large || matches!(r.action, Action::Failed | Action::Skipped) {
                    bar.println(line);
                }
            }
            None if matches!(r.action, Action::Failed | Action::Skipped) => eprintln!("{line}"),
            None => self.line(&line),
        }
    }

    /// Number of failed paths so far.
    pub fn failed(&self) -> u64 {
        self.counts.lock().unwrap().failed
    }

    /// Clears the bar and prints the summary.
    pub fn finish(&self, interrupted: bool) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        self.flush();
        let c = self.counts.lock().unwrap();
        let secs = self.started.elapsed().as_secs_f64();
        if self.json {
            let failures: Vec<_> = c
                .failures
                .iter()
                .map(|(s, e)| json!({"source": s, "error": e}))
                .collect();
            print_json(&json!({
                "summary": true,
                "uploaded": c.uploaded,
                "downloaded": c.downloaded,
                "skipped": c.skipped,
                "deleted": c.deleted,
                "failed": c.failed,
                "bytes": c.bytes,
                "seconds": (secs * 1000.0).round() / 1000.0,
                "dry_run": self.dry_run,
                "interrupted": interrupted,
                "failures": failures,
            }));
            return;
        }
        if self.quiet {
            for (s, e) in &c.failures {
                eprintln!("failed {s}: {e}");
            }
            return;
        }
        let mut parts = Vec::new();
        let verb = |a: Action| if self.dry_run { a.planned() } else { a.name() };
        if c.uploaded > 0 {
            parts.push(format!(
                "{} {}",
                verb(Action::Uploaded),
                count(c.uploaded as usize, "file")
            ));
        }
        if c.downloaded > 0 {
            parts.push(format!(
                "{} {}",
                verb(Action::Downloaded),
                count(c.downloaded as usize, "file")
            ));
        }
        if c.deleted > 0 {
            parts.push(format!(
                "{} {}",
                verb(Action::Deleted),
                count(c.deleted as usize, "file")
            ));
        }
        if c.skipped > 0 || parts.is_empty() {
            parts.push(format!("{} unchanged or skipped", c.skipped));
        }
        if c.failed > 0 {
            parts.push(format!("{} failed", c.failed));
        }
        let rate = if secs > 0.0 {
            format!(", {}/s", human_bytes((c.bytes as f64 / secs) as u64))
        } else {
            String::new()
        };
        println!(
            "{} ({} in {secs:.1} s{rate}){}",
            parts.join(", "),
            human_bytes(c.bytes),
            if interrupted { "; interrupted" } else { "" }
        );
        if c.failed > 0 {
            for (s, e) in &c.failures {
                eprintln!("  failed {s}: {e}");
            }
            if c.failed as usize > c.failures.len() {
                eprintln!("  ... and {} more", c.failed as usize - c.failures.len());
            }
        }
    }
}
