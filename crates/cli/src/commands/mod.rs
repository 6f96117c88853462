//! One module per subcommand; each parses its flags, calls the libraries and prints.

pub mod bucket;
pub mod config;
pub mod cp;
pub mod head;
pub mod ls;
pub mod parts;
pub mod presign;
pub mod rm;
pub mod serve;
pub mod sync;
pub mod uploads;

/// Pauses `cancel` when Ctrl-C arrives (abort the returned task once the transfer ended).
pub fn pause_on_ctrl_c(cancel: osspart::CancelHandle) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            cancel.pause();
        }
    })
}

/// Prints `value` as one line of JSON.
pub fn print_json(value: &serde_json::Value) {
    println!("{value}");
}

/// `n` and the noun, plural unless `n` is 1 (`1 object`, `3 objects`).
pub fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// Bytes in a human unit (`1.5 MiB`).
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

/// Parses sizes such as `8MiB`, `512KiB`, `1.5GiB`, `100k` or plain bytes (every unit is
/// binary: `k` and `KB` mean 1024, as in the part sizes OSS documents).
pub fn parse_size(s: &str) -> Result<u64, String> {
    parse_size::Config::new()
        .with_binary()
        .parse_size(s.trim())
        .map_err(|e| format!("{s:?} is not a size (e.g. 8MiB): {e}"))
}

/// Parses durations such as `7d`, `12h`, `30m`, `45s` or `1h 30m`.
pub fn parse_age(s: &str) -> Result<std::time::Duration, String> {
    humantime::parse_duration(s.trim())
        .map_err(|e| format!("{s:?} is not a duration (e.g. 7d, 12h): {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_ages() {
        assert_eq!(parse_size("8MiB").unwrap(), 8 << 20);
        assert_eq!(parse_size("100k").unwrap(), 100 << 10);
        assert_eq!(parse_size("1.5m").unwrap(), 3 << 19);
        assert_eq!(parse_size("123").unwrap(), 123);
        assert!(parse_size("8 parsecs").is_err());
        assert_eq!(parse_age("7d").unwrap().as_secs(), 7 * 86_400);
        assert_eq!(parse_age("1h 30m").unwrap().as_secs(), 5400);
        assert!(parse_age("7 fortnights ago").is_err());
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(10), "10 B");
    }
}
