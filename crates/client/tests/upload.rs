//! The managed multipart upload.

use std::sync::{Arc, Mutex};

use osspart::{ProgressCallback, SignatureVersion, UploadOptions};
use osspart_protocol::crc64;

use crate::support::{pattern, Server};

#[tokio::test]
async fn uploads_a_file_with_progress_and_meta() {
    let server = Server::start().await;
    for sig in [SignatureVersion::V4, SignatureVersion::V1] {
        let client = server.client("up1", sig).await;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("five.bin");
        let data = pattern(5 * 1024 * 1024 + 123, 7);
        std::fs::write(&path, &data).unwrap();
        let fractions = Arc::new(Mutex::new(Vec::new()));
        let f = fractions.clone();
        let mut options = UploadOptions {
            parallel: 3,
            ..Default::default()
        };
        options.progress = Some(ProgressCallback::new(move |p| {
            f.lock().unwrap().push(p.fraction)
        }));
        options.object.meta = vec![
            ("year".into(), "2020".into()),
            ("people".into(), "test".into()),
        ];
        let out = client
            .multipart_upload("dir/five.bin", path.as_path(), options)
            .await
            .unwrap();
        assert_eq!(out.crc64, crc64::checksum(&data));
        assert_eq!(out.parts_sent, 6);
        let fr = fractions.lock().unwrap().clone();
        assert!(fr.windows(2).all(|w| w[0] <= w[1]), "{fr:?}");
        assert_eq!(fr.last(), Some(&1.0));
        let info = client.head_object("dir/five.bin").await.unwrap();
        assert_eq!(info.size, data.len() as u64);
        assert!(info.is_multipart_etag());
        assert_eq!(
            info.meta,
            vec![
                ("people".into(), "test".into()),
                ("year".into(), "2020".into())
            ]
        );
        let (_, body) = client.get_object("dir/five.bin", None).await.unwrap();
        assert_eq!(&body[..], &data[..]);
    }
}
