//! The progress bar as a person sees it: `osspart cp` runs in a pseudo-terminal (util-linux
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

#[test]
fn progress_bar_shows_bytes_rate_and_parts_in_a_terminal() {
    let home = Home::new();
    let file = home.file("big.bin", &pattern(SIZE, 3));
    let command = format!(
        "stty cols 160 rows 40; exec '{}' cp '{}' oss://tty/big.bin --part-size 100KiB --parallel 2",
        support::osspart_bin().display(),
        file.display()
    );
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

    // Watch the screen until a frame drawn mid-upload appears, while the upload still runs.
    let deadline = Instant::now() + Duration::from_secs(60);
    let frame = loop {
        let lines = screen_lines(&screen.lock().unwrap());
        if let Some(frame) = lines.iter().find(|l| is_mid_upload_frame(l)) {
            break frame.clone();
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!(
                "osspart ended ({status}) before a mid-upload frame was seen:\n{}",
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
    let all = lines.join("\n");
    assert!(status.success(), "{status}:\n{all}");
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

#[test]
fn screen_lines_strip_escapes() {
    let raw = b"\x1b[1A\r\x1b[2Kuploading [=>  ] 1.00 MiB/4.00 MiB 2.00 MiB/s ETA 1s parts 10/41   \r\ndone";
    let lines = screen_lines(raw);
    assert_eq!(lines.len(), 2);
    assert!(is_mid_upload_frame(&lines[0]), "{lines:?}");
    assert_eq!(parts_of(&lines[0]), Some((10, 41)));
    assert!(!is_mid_upload_frame(&lines[1]));
}
