//! `tree_bench`'s results and their printout: one table per tree (wall, files/s, MiB/s, client
//! CPU per file, peak RSS, server CPU per object), the no-change sync, and the ratios of
//! osspart to the best peer against the targets.

use std::fmt;
use std::time::Duration;

use crate::child::Usage;
use crate::report::{size, verdict, Machine};

/// osspart's files/s on the small tree over the best peer's must reach this.
pub const SMALL_FILES_PER_SEC_TARGET: f64 = 4.0;
/// The best peer's CPU per file on the small tree over osspart's must reach this.
pub const SMALL_CPU_PER_FILE_TARGET: f64 = 5.0;
/// A no-change `osspart sync` of the small tree must finish within this.
pub const SYNC_TARGET: Duration = Duration::from_secs(2);

const MIB: f64 = 1024.0 * 1024.0;

/// One uploader's upload of one tree.
#[derive(Debug, Clone)]
pub struct TreeRun {
    /// Uploader name.
    pub uploader: String,
    /// Whether it is osspart (else a peer).
    pub is_osspart: bool,
    /// The child process's cost; `None` if it failed.
    pub usage: Option<Usage>,
    /// Server CPU time over the child's run, if `/proc` told.
    pub server_cpu: Option<Duration>,
    /// `Ok` with the object types listed (`Normal`, `Multipart`) if the bucket then held
    /// exactly the expected keys and bytes, else what was wrong (or why the upload failed).
    pub check: Result<String, String>,
}

/// One tree's runs.
#[derive(Debug, Clone)]
pub struct TreeSection {
    /// `small` or `big`.
    pub name: String,
    /// Files in the tree.
    pub files: usize,
    /// Bytes per file.
    pub file_size: u64,
    /// One run per uploader, in run order.
    pub runs: Vec<TreeRun>,
}

/// The no-change `osspart sync` of the already-uploaded small tree.
#[derive(Debug, Clone)]
pub struct SyncRun {
    /// The bucket synced to and who had filled it.
    pub target: String,
    /// Files in the tree.
    pub files: usize,
    /// The child's cost; `None` if it failed.
    pub usage: Option<Usage>,
    /// Server CPU time over the run.
    pub server_cpu: Option<Duration>,
    /// The `{"summary": true, ...}` line it printed, if any.
    pub summary: Option<String>,
    /// `Ok` (object types) if the bucket still held exactly the tree afterwards, else what was
    /// wrong.
    pub check: Result<String, String>,
}

/// Everything `tree_bench` measured.
#[derive(Debug, Clone)]
pub struct TreeReport {
    /// UTC date, `YYYY-MM-DD`.
    pub date: String,
    /// The machine.
    pub machine: Machine,
    /// 1-minute load average at the end.
    pub load_after: Option<f64>,
    /// What each uploader is, `(name, description)`.
    pub uploaders: Vec<(String, String)>,
    /// One section per tree.
    pub trees: Vec<TreeSection>,
    /// The sync run, if `osspart sync` exists and the small tree was uploaded.
    pub sync: Option<SyncRun>,
    /// Things skipped and why.
    pub notes: Vec<String>,
}

impl TreeSection {
    fn bytes(&self) -> u64 {
        self.files as u64 * self.file_size
    }

    fn osspart(&self) -> Option<(&TreeRun, Usage)> {
        self.runs
            .iter()
            .filter(|r| r.is_osspart && r.check.is_ok())
            .find_map(|r| r.usage.map(|u| (r, u)))
    }

    fn peers(&self) -> impl Iterator<Item = (&TreeRun, Usage)> {
        self.runs
            .iter()
            .filter(|r| !r.is_osspart && r.check.is_ok())
            .filter_map(|r| r.usage.map(|u| (r, u)))
    }

    fn files_per_sec(&self, u: &Usage) -> f64 {
        self.files as f64 / u.wall.as_secs_f64()
    }

    fn cpu_ms_per_file(&self, u: &Usage) -> f64 {
        u.cpu.as_secs_f64() * 1e3 / self.files as f64
    }
}

fn opt_f64(v: Option<f64>, decimals: usize) -> String {
    v.map_or_else(|| "?".to_owned(), |v| format!("{v:.decimals$}"))
}

impl fmt::Display for TreeReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = &self.machine;
        writeln!(
            f,
            "tree benchmark {}: {} cores ({}), load average {} at the start, {} at the end; \
             data under {}",
            self.date,
            m.cores,
            m.cpu.as_deref().unwrap_or("unknown CPU"),
            opt_f64(m.load_average, 2),
            opt_f64(self.load_after, 2),
            m.data_parent
        )?;
        for note in &self.notes {
            writeln!(f, "note: {note}")?;
        }
        for t in &self.trees {
            writeln!(f)?;
            writeln!(
                f,
                "{} tree: {} files x {} = {:.1} MiB",
                t.name,
                t.files,
                size(t.file_size),
                t.bytes() as f64 / MIB
            )?;
            writeln!(f)?;
            writeln!(
                f,
                "| uploader | wall s | files/s | MiB/s | client CPU-ms/file | peak RSS MiB | \
                 server CPU-µs/object | check |"
            )?;
            writeln!(f, "|---|---:|---:|---:|---:|---:|---:|---|")?;
            for r in &t.runs {
                let check = match &r.check {
                    Ok(types) => format!("ok ({types})"),
                    Err(e) => format!("FAILED: {}", e.lines().next().unwrap_or("")),
                };
                let server = r.server_cpu.map(|c| c.as_secs_f64() * 1e6 / t.files as f64);
                match r.usage {
                    Some(u) => writeln!(
                        f,
                        "| {} | {:.2} | {:.0} | {:.1} | {:.3} | {:.0} | {} | {check} |",
                        r.uploader,
                        u.wall.as_secs_f64(),
                        t.files_per_sec(&u),
                        t.bytes() as f64 / MIB / u.wall.as_secs_f64(),
                        t.cpu_ms_per_file(&u),
                        u.max_rss as f64 / MIB,
                        opt_f64(server, 0),
                    )?,
                    None => writeln!(f, "| {} | - | - | - | - | - | - | {check} |", r.uploader)?,
                }
            }
        }
        if let Some(s) = &self.sync {
            writeln!(f)?;
            match s.usage {
                Some(u) => {
                    writeln!(
                        f,
                        "no-change sync of the small tree ({} files) to {}: {:.2} s wall, \
                         {:.2} CPU-s, {:.0} MiB peak RSS, server {} CPU-s (target < {} s: {})",
                        s.files,
                        s.target,
                        u.wall.as_secs_f64(),
                        u.cpu.as_secs_f64(),
                        u.max_rss as f64 / MIB,
                        opt_f64(s.server_cpu.map(|c| c.as_secs_f64()), 2),
                        SYNC_TARGET.as_secs(),
                        verdict(u.wall < SYNC_TARGET && s.check.is_ok())
                    )?;
                }
                None => writeln!(f, "no-change sync to {}: did not run", s.target)?,
            }
            if let Some(summary) = &s.summary {
                writeln!(f, "  sync summary: {summary}")?;
            }
            if let Err(e) = &s.check {
                writeln!(f, "  sync FAILED: {e}")?;
            }
        }
        writeln!(f)?;
        for t in &self.trees {
            write_ratios(f, t)?;
        }
        writeln!(f)?;
        for (name, describe) in &self.uploaders {
            writeln!(f, "- {name}: {describe}")?;
        }
        Ok(())
    }
}

fn write_ratios(f: &mut fmt::Formatter<'_>, t: &TreeSection) -> fmt::Result {
    let Some((_, ours)) = t.osspart() else {
        return writeln!(f, "{} tree: no osspart run to compare", t.name);
    };
    let Some((fast, fast_u)) = t
        .peers()
        .max_by(|a, b| t.files_per_sec(&a.1).total_cmp(&t.files_per_sec(&b.1)))
    else {
        return writeln!(f, "{} tree: no peer run to compare with", t.name);
    };
    let (lean, lean_u) = t
        .peers()
        .min_by(|a, b| t.cpu_ms_per_file(&a.1).total_cmp(&t.cpu_ms_per_file(&b.1)))
        .expect("there is a peer");
    let small = t.name == "small";
    let speed = t.files_per_sec(&ours) / t.files_per_sec(&fast_u);
    let cpu = t.cpu_ms_per_file(&lean_u) / t.cpu_ms_per_file(&ours);
    let goal = |on: bool, text: String| if on { text } else { String::new() };
    writeln!(
        f,
        "{} tree: osspart files/s / best peer's ({}): {speed:.2}x{}",
        t.name,
        fast.uploader,
        goal(
            small,
            format!(
                " (target >= {SMALL_FILES_PER_SEC_TARGET}x: {})",
                verdict(speed >= SMALL_FILES_PER_SEC_TARGET)
            )
        )
    )?;
    writeln!(
        f,
        "{} tree: best peer's CPU per file ({}) / osspart's: {cpu:.2}x{}",
        t.name,
        lean.uploader,
        goal(
            small,
            format!(
                " (target >= {SMALL_CPU_PER_FILE_TARGET}x: {})",
                verdict(cpu >= SMALL_CPU_PER_FILE_TARGET)
            )
        )
    )?;
    writeln!(
        f,
        "{} tree: wall osspart {:.2} s vs best peer ({}) {:.2} s{}",
        t.name,
        ours.wall.as_secs_f64(),
        fast.uploader,
        fast_u.wall.as_secs_f64(),
        goal(
            !small,
            format!(
                " (target osspart <= best peer: {})",
                verdict(ours.wall <= fast_u.wall)
            )
        )
    )
}
