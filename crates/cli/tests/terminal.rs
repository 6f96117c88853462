//! The progress bars as a person sees them: `osspart cp` runs in a pseudo-terminal (util-linux
//! `script`, part of every Debian system through the essential `bsdutils` package) and the
//! screen output is read while the upload is under way.

use std::io::Read;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::home::{pattern, Home};
use crate::support;

/// 40 MiB in 100 KiB parts: 410 parts, a few seconds of bar in a debug build.
const SIZE: usize = 40 << 20;

/// Removes ANSI escape sequences (`ESC [ ... letter`) and splits on CR/LF into screen lines.
fn screen_lines(raw: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(raw);
    let mut plain = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.peek() == Some(&'[') {
                chars.next();
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
            continue;
        }
        plain.push(c);
    }
    plain
        .split(['\r', '\n'])
        .map(|l| l.trim_end().to_owned())
        .filter(|l| !l.is_empty())
        .collect()
}

/// `(N, M)` of "parts N/M".
fn parts_of(line: &str) -> Option<(u64, u64)> {
    let rest = &line[line.find("parts ")? + "parts ".len()..];
    let (n, m) = rest.split_whitespace().next()?.split_once('/')?;
    Some((n.parse().ok()?, m.parse().ok()?))
}

/// A bar frame drawn mid-upload: bytes, a rate and parts partly done.
fn is_mid_upload_frame(line: &str) -> bool {
    line.starts_with("uploading ")
        && line.contains("MiB/")
        && line.contains("/s")
        && line.contains("ETA")
        && parts_of(line).is_some_and(|(n, m)| n > 0 && n < m)
}

/// Runs `command` (a shell line) in a pseudo-terminal of 160 columns, watching the screen
/// until a line `is_frame` accepts shows up while the command still runs. Returns that line,
/// every screen line once the command ended; fails unless the command succeeded.
fn watch_terminal(home: &Home, command: &str, is_frame: fn(&str) -> bool) -> (String, Vec<String>) {
    let command = format!("stty cols 160 rows 40; exec {command}");
    let mut script = home.program("script");
    script
        .args(["-q", "-e", "-c", &command, "/dev/null"])
        .stdin(Stdio::null())
        .stderr(Stdio::inherit());
    let mut child = script.spawn().unwrap_or_else(|e| {
        panic!("cannot run `script` (util-linux, Debian package bsdutils): {e}")
    });

    let screen = Arc::new(Mutex::new(Vec::<u8>::new()));
    let mut stdout = child.stdout.take().expect("piped stdout");
    let sink = Arc::clone(&screen);
    let reader = thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = stdout.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock().unwrap().extend_from_slice(&buf[..n]);
        }
    });

    let deadline = Instant::now() + Duration::from_secs(60);
    let frame = loop {
        let lines = screen_lines(&screen.lock().unwrap());
        if let Some(frame) = lines.iter().find(|l| is_frame(l)) {
            break frame.clone();
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!(
                "osspart ended ({status}) before a mid-transfer frame was seen:\n{}",
                lines.join("\n")
            );
        }
        assert!(
            Instant::now() < deadline,
            "no progress bar within 60 s:\n{}",
            lines.join("\n")
        );
        thread::sleep(Duration::from_millis(20));
    };

    let status = child.wait().expect("wait for script");
    reader.join().unwrap();
    let lines = screen_lines(&screen.lock().unwrap());
    assert!(status.success(), "{status}:\n{}", lines.join("\n"));
    (frame, lines)
}

#[test]
fn progress_bar_shows_bytes_rate_and_parts_in_a_terminal() {
    let home = Home::new();
    let file = home.file("big.bin", &pattern(SIZE, 3));
    let command = format!(
        "'{}' cp '{}' oss://tty/big.bin --part-size 100KiB --parallel 2",
        support::osspart_bin().display(),
        file.display()
    );
    let (frame, lines) = watch_terminal(&home, &command, is_mid_upload_frame);
    let all = lines.join("\n");
    // e.g. "uploading   [=====>   ] 12.50 MiB/40.00 MiB 11.90 MiB/s ETA 2s parts 128/410"
    assert!(frame.contains("/40.00 MiB"), "total bytes: {frame}");
    assert!(
        frame.contains("parts ") && frame.contains("/410"),
        "{frame}"
    );
    assert!(all.contains("uploading to oss://tty/big.bin"), "{all}");
    assert!(all.contains("started upload "), "{all}");
    let last = lines
        .iter()
        .rev()
        .find(|l| l.starts_with("done "))
        .unwrap_or_else(|| panic!("no final frame:\n{all}"));
    assert!(
        last.contains("40.00 MiB/40.00 MiB") && last.contains("parts 410/410"),
        "{last}"
    );
    let summary = lines
        .iter()
        .find(|l| l.starts_with("uploaded oss://tty/big.bin"))
        .unwrap_or_else(|| panic!("no summary line of its own:\n{all}"));
    assert!(summary.contains("410 parts sent, 0 kept"), "{summary}");
}

/// A tree bar frame mid-transfer: "files N/M" with N < M, bytes, a rate and an ETA.
fn is_mid_tree_frame(line: &str) -> bool {
    let Some(rest) = line.strip_prefix("files ") else {
        return false;
    };
    let counts = rest
        .split_whitespace()
        .next()
        .and_then(|c| c.split_once('/'));
    let partly = counts.is_some_and(
        |(n, m)| matches!((n.parse::<u64>(), m.parse::<u64>()), (Ok(n), Ok(m)) if n > 0 && n < m),
    );
    partly && line.contains("MiB/") && line.contains("/s") && line.contains("ETA")
}

#[test]
fn tree_bar_shows_files_bytes_rate_and_a_line_per_large_file() {
    let home = Home::new();
    for i in 0..12 {
        home.file(&format!("tree/large/{i}.bin"), &pattern(3 << 20, 100 + i));
    }
    for i in 0..100 {
        home.file(&format!("tree/small/{i}.txt"), &pattern(500, 200 + i));
    }
    let command = format!(
        "'{}' cp -r '{}' oss://tty/tree/ --jobs 2 --parallel 1 --part-size 100KiB \
         --multipart-threshold 1MiB",
        support::osspart_bin().display(),
        home.path().join("tree").display()
    );
    let (frame, lines) = watch_terminal(&home, &command, is_mid_tree_frame);
    let all = lines.join("\n");
    assert!(frame.contains("ETA"), "{frame}");
    // Each large file gets a line of its own; small ones only count on the bar.
    for i in 0..12 {
        let name = format!("large/{i}.bin -> oss://tty/tree/large/{i}.bin (3.0 MiB)");
        assert!(all.contains(&name), "no line for {name}:\n{all}");
    }
    assert!(!all.contains("small/1.txt ->"), "{all}");
    assert!(all.contains("uploaded 112 files"), "{all}");
}

#[test]
fn screen_lines_strip_escapes() {
    let raw = b"\x1b[1A\r\x1b[2Kuploading [=>  ] 1.00 MiB/4.00 MiB 2.00 MiB/s ETA 1s parts 10/41   \r\ndone";
    let lines = screen_lines(raw);
    assert_eq!(lines.len(), 2);
    assert!(is_mid_upload_frame(&lines[0]), "{lines:?}");
    assert_eq!(parts_of(&lines[0]), Some((10, 41)));
    assert!(!is_mid_upload_frame(&lines[1]));
}
