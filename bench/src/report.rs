//! The printed result: machine, measurements, ratios, and PASS/MISS against the server's targets.

use std::fmt;
use std::time::Duration;

use crate::complete_latency::CompleteSample;
use crate::disk::DiskResult;
use crate::ingest::{IngestResult, Md5Result};

/// Ingest must reach at least this fraction of one core's MD5 rate.
pub const INGEST_TO_MD5_TARGET: f64 = 0.8;
/// Complete of this many parts must answer within [`COMPLETE_TARGET`].
pub const COMPLETE_TARGET_PARTS: u32 = 10_000;
/// Latency ceiling for a Complete of [`COMPLETE_TARGET_PARTS`] parts.
pub const COMPLETE_TARGET: Duration = Duration::from_millis(250);

/// What the benchmark ran on.
#[derive(Debug, Clone)]
pub struct Machine {
    /// Cores available to the process.
    pub cores: usize,
    /// CPU model name, when `/proc/cpuinfo` tells.
    pub cpu: Option<String>,
    /// Where the server's data directory was.
    pub data_parent: String,
    /// 1-minute load average when the run started (other work competing for the cores).
    pub load_average: Option<f64>,
}

impl Machine {
    /// Looks at the current machine.
    pub fn detect(data_parent: &std::path::Path) -> Machine {
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|text| {
                text.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split_once(':'))
                    .map(|(_, v)| v.trim().to_owned())
            });
        Machine {
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            cpu,
            data_parent: data_parent.display().to_string(),
            load_average: crate::cpu::load_average(),
        }
    }
}

/// Everything measured in one run.
#[derive(Debug, Clone)]
pub struct Report {
    /// UTC date of the run, `YYYY-MM-DD`.
    pub date: String,
    /// The machine.
    pub machine: Machine,
    /// The single-core MD5 baseline.
    pub md5: Md5Result,
    /// The data directory's durable write rate, the same pattern as UploadPart.
    pub disk: DiskResult,
    /// The ingest run.
    pub ingest: IngestResult,
    /// Complete latency by part count (small parts).
    pub completes: Vec<CompleteSample>,
    /// The same part count as the first small sample, with big parts, if run.
    pub big_parts: Option<CompleteSample>,
}

impl Report {
    /// Ingest rate over the MD5 rate.
    pub fn ingest_to_md5(&self) -> f64 {
        self.ingest.mib_per_sec() / self.md5.mib_per_sec()
    }

    /// Whether every target that was measured was met.
    pub fn all_pass(&self) -> bool {
        self.ingest_to_md5() >= INGEST_TO_MD5_TARGET
            && self
                .completes
                .iter()
                .filter(|s| s.parts == COMPLETE_TARGET_PARTS)
                .all(|s| s.median() < COMPLETE_TARGET)
    }
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

/// A byte count as text: whole GiB quarters, whole MiB or KiB, else bytes (`5 MiB`, `4 KiB`).
pub fn size(bytes: u64) -> String {
    const KIB: u64 = 1024;
    const MIB: u64 = 1024 * KIB;
    const GIB: u64 = 1024 * MIB;
    if bytes >= GIB && bytes.is_multiple_of(GIB / 4) {
        format!("{} GiB", bytes as f64 / GIB as f64)
    } else if bytes >= MIB && bytes.is_multiple_of(MIB) {
        format!("{} MiB", bytes / MIB)
    } else if bytes.is_multiple_of(KIB) {
        format!("{} KiB", bytes / KIB)
    } else {
        format!("{bytes} B")
    }
}

fn runs(sample: &CompleteSample) -> String {
    match sample.latencies.len() {
        1 => "1 run".to_owned(),
        n => format!("median of {n}"),
    }
}

/// The median (the mean of the middle two for an even count); NaN for none.
pub fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    match n {
        0 => f64::NAN,
        _ if n % 2 == 1 => values[n / 2],
        _ => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

/// `PASS` or `MISS`.
pub fn verdict(pass: bool) -> &'static str {
    if pass {
        "PASS"
    } else {
        "MISS"
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = &self.machine;
        writeln!(
            f,
            "osspart server benchmark, {}: {} cores ({}), load average {}, data under {}",
            self.date,
            m.cores,
            m.cpu.as_deref().unwrap_or("unknown CPU"),
            m.load_average
                .map_or_else(|| "unknown".to_owned(), |l| format!("{l:.2}")),
            m.data_parent
        )?;
        writeln!(f)?;
        let mut rows: Vec<[String; 4]> = Vec::new();
        let i = &self.ingest;
        rows.push([
            format!(
                "UploadPart ingest ({}, {} x {}, {} in flight)",
                size(i.bytes),
                i.parts,
                size(i.part_size),
                i.inflight
            ),
            format!("{:.0} MiB/s", i.mib_per_sec()),
            String::new(),
            String::new(),
        ]);
        rows.push([
            format!("MD5, one core ({})", size(self.md5.bytes)),
            format!("{:.0} MiB/s", self.md5.mib_per_sec()),
            String::new(),
            String::new(),
        ]);
        let ratio = self.ingest_to_md5();
        rows.push([
            "ingest / MD5".to_owned(),
            format!("{ratio:.2}x"),
            format!(">= {INGEST_TO_MD5_TARGET:.1}x"),
            verdict(ratio >= INGEST_TO_MD5_TARGET).to_owned(),
        ]);
        rows.push([
            format!(
                "disk: {} x write+fsync+rename+dir fsync, {} writers",
                size(i.part_size),
                i.inflight
            ),
            format!("{:.0} MiB/s", self.disk.mib_per_sec()),
            String::new(),
            String::new(),
        ]);
        rows.push([
            "ingest / disk".to_owned(),
            format!("{:.2}x", i.mib_per_sec() / self.disk.mib_per_sec()),
            String::new(),
            String::new(),
        ]);
        if let Some(cpu) = i.cpu {
            let gib = i.bytes as f64 / (1024.0 * 1024.0 * 1024.0);
            let server = cpu.others.as_secs_f64() / gib;
            let client = cpu.this_thread.as_secs_f64() / gib;
            rows.push([
                "CPU per GiB ingested: server (client)".to_owned(),
                format!("{server:.2} s ({client:.2} s)"),
                String::new(),
                String::new(),
            ]);
            rows.push([
                format!("  CPU-bound ingest ceiling on {} cores", m.cores),
                format!("{:.0} MiB/s", m.cores as f64 * 1024.0 / (server + client)),
                String::new(),
                String::new(),
            ]);
        }
        rows.push([
            format!("Complete of the ingest upload ({} parts)", i.parts),
            ms(i.complete),
            String::new(),
            String::new(),
        ]);
        for s in &self.completes {
            let (target, v) = if s.parts == COMPLETE_TARGET_PARTS {
                let pass = s.median() < COMPLETE_TARGET;
                (
                    format!("< {}", ms(COMPLETE_TARGET)),
                    verdict(pass).to_owned(),
                )
            } else {
                (String::new(), String::new())
            };
            rows.push([
                format!(
                    "Complete, {} parts x {} ({})",
                    s.parts,
                    size(s.part_size),
                    runs(s)
                ),
                ms(s.median()),
                target,
                v,
            ]);
        }
        if let Some(big) = &self.big_parts {
            rows.push([
                format!(
                    "Complete, {} parts x {} ({})",
                    big.parts,
                    size(big.part_size),
                    runs(big)
                ),
                ms(big.median()),
                String::new(),
                String::new(),
            ]);
            if let Some(small) = self.completes.iter().find(|s| s.parts == big.parts) {
                let ratio = big.median().as_secs_f64() / small.median().as_secs_f64();
                rows.push([
                    format!(
                        "  object {}x bigger: Complete latency ratio",
                        big.part_size / small.part_size
                    ),
                    format!("{ratio:.2}x"),
                    "~1x (flat)".to_owned(),
                    String::new(),
                ]);
            }
        }
        let widths: Vec<usize> = (0..4)
            .map(|c| {
                rows.iter()
                    .map(|r| r[c].len())
                    .chain([["measure", "value", "target", "verdict"][c].len()])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let line = |f: &mut fmt::Formatter<'_>, r: [&str; 4]| {
            writeln!(
                f,
                "{:<w0$}  {:>w1$}  {:<w2$}  {}",
                r[0],
                r[1],
                r[2],
                r[3],
                w0 = widths[0],
                w1 = widths[1],
                w2 = widths[2]
            )
        };
        line(f, ["measure", "value", "target", "verdict"])?;
        line(
            f,
            [
                &"-".repeat(widths[0]),
                &"-".repeat(widths[1]),
                &"-".repeat(widths[2]),
                &"-".repeat(widths[3]),
            ],
        )?;
        for r in &rows {
            line(f, [&r[0], &r[1], &r[2], &r[3]])?;
        }
        writeln!(f)?;
        for s in self.completes.iter().chain(&self.big_parts) {
            if s.latencies.len() > 1 {
                let all: Vec<String> = s.latencies.iter().map(|d| ms(*d)).collect();
                writeln!(
                    f,
                    "Complete of {} parts x {}, every run: {}",
                    s.parts,
                    size(s.part_size),
                    all.join(", ")
                )?;
            }
        }
        for s in self.completes.iter().chain(&self.big_parts) {
            writeln!(
                f,
                "uploading {} parts x {} for the first run took {:.1} s ({:.0} parts/s)",
                s.parts,
                size(s.part_size),
                s.upload_time.as_secs_f64(),
                f64::from(s.parts) / s.upload_time.as_secs_f64()
            )?;
        }
        Ok(())
    }
}
