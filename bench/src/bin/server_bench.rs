//! `server_bench`: prints UploadPart ingest throughput against one core's MD5 rate and
//! CompleteMultipartUpload latency, with PASS/MISS against the server's targets.

use osspart_bench::config::{BenchConfig, Invocation, USAGE};

fn main() -> anyhow::Result<()> {
    let config = match BenchConfig::load(std::env::args().skip(1))? {
        Invocation::Help => {
            print!("{USAGE}");
            return Ok(());
        }
        Invocation::Run(config) => config,
    };
    if cfg!(debug_assertions) {
        eprintln!("warning: a debug build; run with --release for meaningful numbers");
    }
    let report = osspart_bench::run(&config)?;
    println!("{report}");
    Ok(())
}
