//! An upload from a file holds no part-sized buffers: `osspart cp`'s peak memory stays the
//! same whether parts are 8 MiB or 64 MiB (five in flight either way), where part buffers
//! would add 5 x 56 MiB.

use std::process::Stdio;
use std::time::Duration;

use crate::home::{pattern, Home};
use crate::support::ServerProcess;

/// The process's peak resident set so far (`VmHWM`), in KiB; `None` once it has exited.
#[cfg(target_os = "linux")]
fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// Runs `osspart cp FILE URL --part-size SIZE --parallel 5` and returns its peak RSS (KiB).
#[cfg(target_os = "linux")]
fn upload_peak(home: &Home, file: &std::path::Path, url: &str, part_size: &str) -> u64 {
    let mut child = home
        .command(&[
            "cp",
            file.to_str().unwrap(),
            url,
            "--part-size",
            part_size,
            "--parallel",
            "5",
            "-q",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut peak = 0;
    loop {
        // VmHWM only grows, so the last reading before the exit is the peak (or close to it).
        if let Some(kib) = peak_rss_kib(pid) {
            peak = peak.max(kib);
        }
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "osspart cp {part_size} failed");
            return peak;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[cfg(target_os = "linux")]
#[test]
fn peak_memory_does_not_grow_with_the_part_size() {
    let server = ServerProcess::start(&[]);
    let home = Home::against(&server);
    home.run(&["mb", "oss://memory-flat"]).success();
    // Room for five 64 MiB parts at once.
    let file = home.file("big.bin", &pattern(320 << 20, 7));
    let small = upload_peak(&home, &file, "oss://memory-flat/a", "8MiB");
    let large = upload_peak(&home, &file, "oss://memory-flat/b", "64MiB");
    eprintln!("peak RSS: 8 MiB parts {small} KiB, 64 MiB parts {large} KiB");
    // Buffered parts would add 5 x 56 MiB = 280 MiB; streaming adds nothing but noise.
    assert!(
        large < small + 16 * 1024,
        "64 MiB parts peaked at {large} KiB against {small} KiB for 8 MiB parts"
    );
    assert!(large < 64 * 1024, "peak {large} KiB");
}
