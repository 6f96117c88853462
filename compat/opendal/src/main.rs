//! Apache OpenDAL's OSS service against `osspart serve`: writes (single, chunked multipart and
//! appends), reads, stats, lists, copies and deletes objects in one addressing style.
//!
//! Usage: `osspart-compat-opendal path|virtual BUCKET`, with `OSSPART_ENDPOINT`
//! (`http://127.0.0.1:PORT`), `OSS_ACCESS_KEY_ID` and `OSS_ACCESS_KEY_SECRET` in the
//! environment. The bucket must exist. In virtual-host style OpenDAL sends
//! `Host: BUCKET.localhost:PORT`; that name is resolved to the server's address inside this
//! process only, so no resolver setup is needed.

use std::net::SocketAddr;
use std::process::ExitCode;

use opendal::services::Oss;
use opendal::{ErrorKind, HttpTransporter, OperationContext, Operator};
use opendal_http_transport_reqwest::ReqwestTransport;

/// Bytes `(31*i + seed) mod 251`: no run repeats at a part boundary.
fn pattern(len: usize, seed: usize) -> Vec<u8> {
    (0..len).map(|i| ((31 * i + seed) % 251) as u8).collect()
}

type Outcome = Result<(), String>;

fn check(ok: bool, what: &str) -> Outcome {
    if ok {
        println!("ok: {what}");
        Ok(())
    } else {
        Err(format!("check failed: {what}"))
    }
}

fn env(name: &str) -> Result<String, String> {
    std::env::var(name).map_err(|_| format!("{name} is not set"))
}

fn operator(style: &str, bucket: &str) -> Result<Operator, String> {
    let endpoint = env("OSSPART_ENDPOINT")?;
    let addr: SocketAddr = endpoint
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .map_err(|e| format!("OSSPART_ENDPOINT {endpoint:?} is not http://IP:PORT: {e}"))?;
    let mut client = reqwest::Client::builder();
    let endpoint = match style {
        "path" => endpoint.clone(),
        "virtual" => {
            client = client.resolve(&format!("{bucket}.localhost"), addr);
            format!("http://localhost:{}", addr.port())
        }
        other => return Err(format!("unknown addressing style {other:?}")),
    };
    let client = client
        .no_proxy()
        .build()
        .map_err(|e| format!("HTTP client: {e}"))?;
    let builder = Oss::default()
        .bucket(bucket)
        .endpoint(&endpoint)
        .addressing_style(style)
        .root("/compat")
        .access_key_id(&env("OSS_ACCESS_KEY_ID")?)
        .access_key_secret(&env("OSS_ACCESS_KEY_SECRET")?);
    let op = Operator::new(builder).map_err(|e| format!("operator: {e}"))?;
    let transport = HttpTransporter::new(ReqwestTransport::new(client));
    Ok(op.with_context(OperationContext::new().with_http_transport(transport)))
}

async fn scenario(op: &Operator) -> Outcome {
    let fail = |what: &str| {
        let what = what.to_owned();
        move |e: opendal::Error| format!("{what}: {e}")
    };

    // Single PutObject, read back whole and in a range, stat.
    let small = pattern(5_000, 1);
    op.write("dir/small.bin", small.clone())
        .await
        .map_err(fail("write small"))?;
    let got = op.read("dir/small.bin").await.map_err(fail("read small"))?;
    check(got.to_vec() == small, "small object reads back")?;
    let part = op
        .read_with("dir/small.bin")
        .range(100..300)
        .await
        .map_err(fail("ranged read"))?;
    check(
        part.to_vec() == small[100..300],
        "range 100..300 reads back",
    )?;
    let meta = op.stat("dir/small.bin").await.map_err(fail("stat small"))?;
    check(meta.content_length() == 5_000, "stat reports the length")?;
    check(meta.etag().is_some(), "stat reports an ETag")?;

    // A chunked writer: multipart upload of three parts.
    let big = pattern(600_000, 2);
    let mut w = op
        .writer_with("dir/big.bin")
        .chunk(256 * 1024)
        .await
        .map_err(fail("writer"))?;
    for piece in big.chunks(100_000) {
        w.write(piece.to_vec())
            .await
            .map_err(fail("writer write"))?;
    }
    w.close().await.map_err(fail("writer close"))?;
    let got = op.read("dir/big.bin").await.map_err(fail("read big"))?;
    check(got.to_vec() == big, "multipart object reads back")?;

    // Appends: AppendObject at the growing position.
    let mut log = Vec::new();
    for i in 0..3 {
        let piece = pattern(1_000 + i, 10 + i);
        op.write_with("dir/log.txt", piece.clone())
            .append(true)
            .await
            .map_err(fail("append"))?;
        log.extend_from_slice(&piece);
    }
    let got = op.read("dir/log.txt").await.map_err(fail("read log"))?;
    check(got.to_vec() == log, "three appends read back in order")?;

    // Listing: one level, then recursive.
    op.write("dir/sub/deep.txt", b"deep".to_vec())
        .await
        .map_err(fail("write deep"))?;
    let mut names: Vec<String> = op
        .list("dir/")
        .await
        .map_err(fail("list"))?
        .into_iter()
        .map(|e| e.path().to_owned())
        .collect();
    names.sort();
    check(
        names
            == [
                "dir/",
                "dir/big.bin",
                "dir/log.txt",
                "dir/small.bin",
                "dir/sub/",
            ]
            || names == ["dir/big.bin", "dir/log.txt", "dir/small.bin", "dir/sub/"],
        &format!("list dir/ shows files and the sub-directory: {names:?}"),
    )?;
    let all = op
        .list_with("dir/")
        .recursive(true)
        .await
        .map_err(fail("recursive list"))?;
    check(
        all.iter().any(|e| e.path() == "dir/sub/deep.txt"),
        "recursive listing reaches dir/sub/deep.txt",
    )?;

    // Copy, then delete everything and see it gone.
    op.copy("dir/small.bin", "copy/small.bin")
        .await
        .map_err(fail("copy"))?;
    let got = op.read("copy/small.bin").await.map_err(fail("read copy"))?;
    check(got.to_vec() == small, "copy reads back")?;
    for path in [
        "dir/small.bin",
        "dir/big.bin",
        "dir/log.txt",
        "dir/sub/deep.txt",
        "copy/small.bin",
    ] {
        op.delete(path).await.map_err(fail("delete"))?;
    }
    let gone = op.stat("dir/small.bin").await;
    check(
        matches!(&gone, Err(e) if e.kind() == ErrorKind::NotFound),
        "stat after delete is NotFound",
    )?;
    op.delete("dir/small.bin")
        .await
        .map_err(fail("delete of a missing key"))?;
    let left = op
        .list_with("")
        .recursive(true)
        .await
        .map_err(fail("final list"))?;
    check(
        left.iter().all(|e| e.path().ends_with('/')),
        "nothing is left but directories",
    )?;
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (style, bucket) = match args.as_slice() {
        [style, bucket] => (style.as_str(), bucket.as_str()),
        _ => {
            eprintln!("usage: osspart-compat-opendal path|virtual BUCKET");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("tokio runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = operator(style, bucket).and_then(|op| runtime.block_on(scenario(&op)));
    match result {
        Ok(()) => {
            println!("opendal {style}: all checks passed");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("opendal {style}: {e}");
            ExitCode::FAILURE
        }
    }
}
