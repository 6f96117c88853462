//! The three documentation flows in `examples/`, run against a real server. Each example is
//! compiled into this binary as a module, so the test calls the very `run` its `main` calls,
//! with a client built by the example's own `client_from_env`.

// Each example carries its own copy of `examples/connect`, as each is its own crate.
#![allow(clippy::duplicate_mod)]

use osspart::SignatureVersion;

use crate::support::Server;

#[allow(dead_code)]
#[path = "../examples/abort_upload.rs"]
mod abort_upload;
#[allow(dead_code)]
#[path = "../examples/list_uploads_and_parts.rs"]
mod list_uploads_and_parts;
#[allow(dead_code)]
#[path = "../examples/upload_with_progress.rs"]
mod upload_with_progress;

#[tokio::test]
async fn documentation_flows_run_as_examples() {
    let server = Server::start().await;
    let creds = crate::support::credentials();
    // Only this test touches these variables; the client reads them once, in from_env.
    std::env::set_var("OSS_ENDPOINT", server.endpoint());
    std::env::set_var("OSS_REGION", "oss-cn-hangzhou");
    std::env::set_var("OSS_ACCESS_KEY_ID", &creds.access_key_id);
    std::env::set_var("OSS_ACCESS_KEY_SECRET", &creds.access_key_secret);
    std::env::remove_var("OSS_SESSION_TOKEN");
    std::env::set_var("OSSPART_BUCKET", "examples");
    let client = upload_with_progress::connect::client_from_env()
        .await
        .unwrap();
    assert_eq!(client.bucket(), "examples");
    assert_eq!(client.config().signature, SignatureVersion::V4);
    // The bucket exists now; a second connect accepts that (OSS answers 200 to the owner
    // creating its own bucket again).
    abort_upload::connect::client_from_env().await.unwrap();
    assert_eq!(server.count("PutBucket"), 2);

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("big.bin");
    let data = crate::support::pattern(3 * 1024 * 1024 + 512 * 1024, 51);
    std::fs::write(&file, &data).unwrap();
    let report = upload_with_progress::run(&client, "flows/progress.bin", &file)
        .await
        .unwrap();
    assert_eq!(report.parts, 4);
    assert_eq!(report.size, data.len() as u64);
    assert!(report.etag.ends_with("-4\""));
    assert_eq!(
        report.meta,
        vec![
            ("people".into(), "test".into()),
            ("year".into(), "2020".into())
        ]
    );
    assert_eq!(report.fractions.first(), Some(&0.0));
    assert_eq!(report.fractions.last(), Some(&1.0));
    assert!(report.fractions.windows(2).all(|w| w[0] <= w[1]));

    let report = abort_upload::run(&client, "flows/abort.bin").await.unwrap();
    assert_eq!(report.list_parts_code, "NoSuchUpload");
    assert!(report.part_etag.starts_with('"'));
    assert_eq!(server.count("AbortMultipartUpload"), 1);

    let report = list_uploads_and_parts::run(&client, "flows/list/")
        .await
        .unwrap();
    assert_eq!(report.upload_pages, vec![2, 2, 1]);
    assert_eq!(report.part_pages, vec![1000, 5]);
    assert_eq!(report.parts_streamed, 1005);
    // Everything the listing flow created was aborted.
    let left = client.list_uploads(&Default::default()).await.unwrap();
    assert!(left.uploads.is_empty(), "{:?}", left.uploads);
}
