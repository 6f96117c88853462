//! `download_bench`'s results and their printout: one row per downloader with the medians
//! over its rounds (wall, MiB/s, client CPU per GiB, peak RSS, server CPU per GiB, the fsync
//! the harness does after the downloader exits), and the ratios of osspart to the peers
//! against the goals.

use std::fmt;
use std::time::Duration;

use crate::child::Usage;
use crate::report::{median, size, verdict, Machine};

/// Each peer's client CPU per GiB over osspart's must reach this.
pub const CPU_RATIO_TARGET: f64 = 3.0;

const MIB: f64 = 1024.0 * 1024.0;
const GIB: f64 = 1024.0 * MIB;

/// One download that finished and whose file checked out.
#[derive(Debug, Clone)]
pub struct DownloadRun {
    /// The child process's cost.
    pub usage: Usage,
    /// Server CPU time over the child's run, if `/proc` told.
    pub server_cpu: Option<Duration>,
    /// How long an fsync of the downloaded file took right after the child exited (what was
    /// still dirty in the page cache; osspart fsyncs before its rename, the peers do not).
    pub fsync_after: Duration,
    /// The CPU time of that fsync (this process's thread; the writeback work that osspart
    /// does inside its own fsync and so is billed for), if `/proc` told.
    pub fsync_cpu: Option<Duration>,
}

/// Every round of one downloader.
#[derive(Debug, Clone)]
pub struct DownloaderRuns {
    /// Name in the report.
    pub name: String,
    /// What exactly ran.
    pub describe: String,
    /// Whether it is osspart (else a peer).
    pub is_osspart: bool,
    /// One entry per round: the run, or why it failed (the download or the check).
    pub runs: Vec<Result<DownloadRun, String>>,
}

/// Medians of one downloader's good runs.
#[derive(Debug, Clone, Copy)]
pub struct Summary {
    /// Wall seconds.
    pub wall: f64,
    /// Client CPU seconds (user + system) per GiB.
    pub cpu_per_gib: f64,
    /// Client system CPU seconds per GiB.
    pub sys_per_gib: f64,
    /// Largest peak RSS, MiB.
    pub rss_mib: f64,
    /// Server CPU seconds per GiB.
    pub server_per_gib: Option<f64>,
    /// Server CPU over wall: cores the server kept busy.
    pub server_cores: Option<f64>,
    /// The harness's fsync after exit, seconds.
    pub fsync_after: f64,
    /// Its CPU seconds per GiB.
    pub fsync_cpu_per_gib: Option<f64>,
    /// Good runs.
    pub runs: usize,
}

impl DownloaderRuns {
    /// Medians over the good runs of an object of `bytes`; `None` if every run failed.
    pub fn summary(&self, bytes: u64) -> Option<Summary> {
        let ok: Vec<&DownloadRun> = self.runs.iter().filter_map(|r| r.as_ref().ok()).collect();
        if ok.is_empty() {
            return None;
        }
        let gib = bytes as f64 / GIB;
        let of = |f: &dyn Fn(&DownloadRun) -> f64| median(ok.iter().map(|r| f(r)).collect());
        let server: Vec<(f64, f64)> = ok
            .iter()
            .filter_map(|r| {
                r.server_cpu
                    .map(|c| (c.as_secs_f64(), r.usage.wall.as_secs_f64()))
            })
            .collect();
        let (server_per_gib, server_cores) = if server.len() == ok.len() {
            (
                Some(median(server.iter().map(|(c, _)| c / gib).collect())),
                Some(median(server.iter().map(|(c, w)| c / w).collect())),
            )
        } else {
            (None, None)
        };
        Some(Summary {
            wall: of(&|r| r.usage.wall.as_secs_f64()),
            cpu_per_gib: of(&|r| r.usage.cpu.as_secs_f64() / gib),
            sys_per_gib: of(&|r| r.usage.sys.as_secs_f64() / gib),
            rss_mib: ok.iter().map(|r| r.usage.max_rss).max().unwrap_or(0) as f64 / MIB,
            server_per_gib,
            server_cores,
            fsync_after: of(&|r| r.fsync_after.as_secs_f64()),
            fsync_cpu_per_gib: ok
                .iter()
                .map(|r| r.fsync_cpu.map(|c| c.as_secs_f64() / gib))
                .collect::<Option<Vec<f64>>>()
                .map(median),
            runs: ok.len(),
        })
    }
}

/// The measured upload that put the object on the server.
#[derive(Debug, Clone, Copy)]
pub struct UploadRun {
    /// `osspart cp`'s cost.
    pub usage: Usage,
    /// Server CPU over it.
    pub server_cpu: Option<Duration>,
}

/// Everything `download_bench` measured.
#[derive(Debug, Clone)]
pub struct DownloadReport {
    /// UTC date and time, `YYYY-MM-DD HH:MM`.
    pub date: String,
    /// The machine.
    pub machine: Machine,
    /// 1-minute load average at the end.
    pub load_after: Option<f64>,
    /// Object size.
    pub size: u64,
    /// Rounds.
    pub rounds: usize,
    /// Whether the server's files were dropped from the page cache before every download.
    pub cold: bool,
    /// The upload.
    pub upload: UploadRun,
    /// Every downloader, in the order of the first round.
    pub downloaders: Vec<DownloaderRuns>,
    /// Things skipped or odd.
    pub notes: Vec<String>,
}

fn opt(v: Option<f64>, decimals: usize) -> String {
    v.map_or_else(|| "?".to_owned(), |v| format!("{v:.decimals$}"))
}

impl fmt::Display for DownloadReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = &self.machine;
        let mib = self.size as f64 / MIB;
        writeln!(
            f,
            "download benchmark {}: {} object, {} round(s) (medians; RSS is the largest seen); \
             {} cores ({}), load average {} at the start, {} at the end; data under {}",
            self.date,
            size(self.size),
            self.rounds,
            m.cores,
            m.cpu.as_deref().unwrap_or("unknown CPU"),
            opt(m.load_average, 2),
            opt(self.load_after, 2),
            m.data_parent
        )?;
        writeln!(
            f,
            "page cache: {}",
            if self.cold {
                "the server's files dropped (fsync + posix_fadvise DONTNEED) before every \
                 download, so the object is read from the disk; the downloaded file is new \
                 each time"
            } else {
                "warm (--warm): the server's files stay cached"
            }
        )?;
        for note in &self.notes {
            writeln!(f, "note: {note}")?;
        }
        let u = &self.upload;
        writeln!(
            f,
            "upload (osspart cp, not compared): {:.2} s, {:.0} MiB/s, {:.2} client CPU-s, \
             server {} CPU-s",
            u.usage.wall.as_secs_f64(),
            mib / u.usage.wall.as_secs_f64(),
            u.usage.cpu.as_secs_f64(),
            opt(u.server_cpu.map(|c| c.as_secs_f64()), 2)
        )?;
        writeln!(f)?;
        writeln!(
            f,
            "| downloader | wall s | MiB/s | client CPU-s/GiB (sys) | peak RSS MiB | \
             server CPU-s/GiB | server cores busy | fsync after exit s (CPU-s/GiB) | check |"
        )?;
        writeln!(f, "|---|---:|---:|---:|---:|---:|---:|---:|---|")?;
        for d in &self.downloaders {
            let failed: Vec<&String> = d.runs.iter().filter_map(|r| r.as_ref().err()).collect();
            let check = match failed.first() {
                None => format!("ok {}/{}", d.runs.len(), d.runs.len()),
                Some(e) => format!(
                    "FAILED {}/{}: {}",
                    failed.len(),
                    d.runs.len(),
                    e.lines().next().unwrap_or("")
                ),
            };
            match d.summary(self.size) {
                Some(s) => writeln!(
                    f,
                    "| {} | {:.2} | {:.0} | {:.2} ({:.2}) | {:.0} | {} | {} | {:.2} ({}) | {check} |",
                    d.name,
                    s.wall,
                    mib / s.wall,
                    s.cpu_per_gib,
                    s.sys_per_gib,
                    s.rss_mib,
                    opt(s.server_per_gib, 2),
                    opt(s.server_cores, 2),
                    s.fsync_after,
                    opt(s.fsync_cpu_per_gib, 2),
                )?,
                None => writeln!(f, "| {} | - | - | - | - | - | - | - | {check} |", d.name)?,
            }
        }
        writeln!(f)?;
        self.write_ratios(f)?;
        writeln!(f)?;
        for d in &self.downloaders {
            writeln!(f, "- {}: {}", d.name, d.describe)?;
        }
        Ok(())
    }
}

impl DownloadReport {
    fn write_ratios(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some(ours) = self
            .downloaders
            .iter()
            .find(|d| d.is_osspart)
            .and_then(|d| d.summary(self.size))
        else {
            return writeln!(f, "no good osspart run to compare");
        };
        let peers: Vec<(&str, Summary, bool)> = self
            .downloaders
            .iter()
            .filter(|d| !d.is_osspart)
            .filter_map(|d| {
                let all_ok = d.runs.iter().all(Result::is_ok);
                d.summary(self.size).map(|s| (d.name.as_str(), s, all_ok))
            })
            .collect();
        let Some((best, best_s, _)) = peers
            .iter()
            .min_by(|a, b| a.1.wall.total_cmp(&b.1.wall))
            .copied()
        else {
            return writeln!(f, "no peer run to compare with");
        };
        let all_peers_ok = peers.iter().all(|p| p.2)
            && self.downloaders.iter().filter(|d| !d.is_osspart).count() == peers.len();
        writeln!(
            f,
            "wall: osspart {:.2} s vs the best peer ({best}) {:.2} s: osspart {:.2}x as fast \
             (goal: ahead of every peer: {})",
            ours.wall,
            best_s.wall,
            best_s.wall / ours.wall,
            verdict(ours.wall < best_s.wall && all_peers_ok)
        )?;
        let durable = peers
            .iter()
            .map(|(n, s, _)| format!("{n} {:.2} s", s.wall + s.fsync_after))
            .collect::<Vec<_>>()
            .join(", ");
        writeln!(
            f,
            "  durable on disk (peer wall + the harness's fsync after it; osspart fsyncs \
             itself): osspart {:.2} s; {durable}",
            ours.wall + ours.fsync_after
        )?;
        let ratios: Vec<(&str, f64)> = peers
            .iter()
            .map(|(n, s, _)| (*n, s.cpu_per_gib / ours.cpu_per_gib))
            .collect();
        let lowest = ratios.iter().map(|r| r.1).fold(f64::INFINITY, f64::min);
        writeln!(
            f,
            "client CPU per GiB, peer / osspart ({:.2} s/GiB): {} (goal >= {CPU_RATIO_TARGET:.0}x \
             for every peer: {})",
            ours.cpu_per_gib,
            ratios
                .iter()
                .map(|(n, r)| format!("{n} {r:.2}x"))
                .collect::<Vec<_>>()
                .join(", "),
            verdict(lowest >= CPU_RATIO_TARGET)
        )?;
        let with_fsync = |s: &Summary| s.fsync_cpu_per_gib.map(|c| s.cpu_per_gib + c);
        if let Some(ours_total) = with_fsync(&ours) {
            writeln!(
                f,
                "  with the harness's fsync CPU added (durable on disk, as osspart leaves it): \
                 osspart {ours_total:.2} s/GiB; {}",
                peers
                    .iter()
                    .map(|(n, s, _)| format!(
                        "{n} {}",
                        opt(with_fsync(s).map(|t| t / ours_total), 2) + "x"
                    ))
                    .collect::<Vec<_>>()
                    .join(", ")
            )?;
        }
        if let Some(server) = ours.server_per_gib {
            let others = peers
                .iter()
                .map(|(n, s, _)| format!("{n} {}", opt(s.server_per_gib, 2)))
                .collect::<Vec<_>>()
                .join(", ");
            writeln!(
                f,
                "server CPU-s/GiB: for osspart {server:.2}; {others}; server cores busy during \
                 osspart's download: {} of {}",
                opt(ours.server_cores, 2),
                self.machine.cores
            )?;
        }
        Ok(())
    }
}
