//! The durable store through its public API: errors, multipart semantics, listings, restart,
//! recovery, locking and odd keys.

use std::collections::BTreeSet;
use std::fs;
use std::io::Read;
use std::path::Path;

use md5::{Digest, Md5};
use osspart_protocol::crc64;
use osspart_protocol::operation::{
    CompleteRequest, Conditions, CopyObjectRequest, CopySource, InitiateRequest, ListPartsRequest,
    ListUploadsRequest, ObjectListing, PutObjectRequest,
};
use osspart_protocol::ErrorCode;
use osspart_server::store::{
    CompleteParts, FinishedBlob, ObjectMeta, ObjectRow, ObjectType, PartTarget, Store, StoreError,
    StoreOptions,
};
use time::macros::datetime;
use time::OffsetDateTime;

const T0: OffsetDateTime = datetime!(2024-01-02 03:04:05 UTC);
const KIB100: usize = 102_400;

fn open() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store.create_bucket("bk", T0).unwrap();
    (dir, store)
}

fn blob(store: &Store, data: &[u8]) -> FinishedBlob {
    let mut w = store.blob_writer().unwrap();
    for chunk in data.chunks(7919) {
        w.write(chunk).unwrap();
    }
    w.finish().unwrap()
}

/// Deterministic pseudo-random bytes.
fn bytes(len: usize, seed: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

fn md5(data: &[u8]) -> [u8; 16] {
    Md5::digest(data).into()
}

fn quoted(md5: &[u8; 16]) -> String {
    format!("\"{}\"", hex::encode_upper(md5))
}

fn code<T: std::fmt::Debug>(r: Result<T, StoreError>) -> ErrorCode {
    r.unwrap_err().code().expect("an API error")
}

/// A PutObject request for `bucket/key` with `meta`.
fn put_req(bucket: &str, key: &str, meta: ObjectMeta, forbid_overwrite: bool) -> PutObjectRequest {
    PutObjectRequest {
        bucket: bucket.to_owned(),
        key: key.to_owned(),
        meta,
        forbid_overwrite,
        payload: Default::default(),
    }
}

/// A ListParts request for the upload `upload_id` of `bucket/key`.
fn parts_req(bucket: &str, key: &str, upload_id: &str, marker: u32, max: u32) -> ListPartsRequest {
    ListPartsRequest {
        bucket: bucket.to_owned(),
        key: key.to_owned(),
        upload_id: upload_id.to_owned(),
        part_number_marker: marker,
        max_parts: max,
        url_encoding: false,
    }
}

/// Part `part_number` of upload `upload_id` of `bk/key`.
fn part<'a>(key: &'a str, upload_id: &'a str, part_number: u32) -> PartTarget<'a> {
    PartTarget {
        bucket: "bk",
        key,
        upload_id,
        part_number,
    }
}

/// An object listing: no filter, no marker, pages of 1,000.
fn listing() -> ObjectListing {
    ObjectListing {
        prefix: String::new(),
        delimiter: String::new(),
        marker: String::new(),
        max_keys: 1000,
        url_encoding: false,
    }
}

/// A ListMultipartUploads request for the bucket: no filter, no marker, pages of 1,000.
fn uploads_req(bucket: &str) -> ListUploadsRequest {
    ListUploadsRequest {
        bucket: bucket.to_owned(),
        prefix: String::new(),
        delimiter: String::new(),
        key_marker: String::new(),
        upload_id_marker: String::new(),
        max_uploads: 1000,
        url_encoding: false,
    }
}

/// An InitiateMultipartUpload request for `bucket/key` (not sequential).
fn initiate_req(
    bucket: &str,
    key: &str,
    meta: ObjectMeta,
    forbid_overwrite: bool,
) -> InitiateRequest {
    InitiateRequest {
        bucket: bucket.to_owned(),
        key: key.to_owned(),
        meta,
        forbid_overwrite,
        url_encoding: false,
        sequential: false,
    }
}

/// A CopyObject request from `src_bucket/src_key` to `bucket/key`, without directives.
fn copy_req(
    src_bucket: &str,
    src_key: &str,
    bucket: &str,
    key: &str,
    forbid_overwrite: bool,
) -> CopyObjectRequest {
    CopyObjectRequest {
        bucket: bucket.to_owned(),
        key: key.to_owned(),
        source: CopySource {
            bucket: src_bucket.to_owned(),
            key: src_key.to_owned(),
            range: None,
            conditions: Conditions::default(),
        },
        replace_meta: None,
        attributes: ObjectMeta::default(),
        replace_tagging: false,
        forbid_overwrite,
    }
}

/// A CompleteMultipartUpload request for `upload_id` of `bucket/key`.
fn complete_req(
    bucket: &str,
    key: &str,
    upload_id: &str,
    forbid_overwrite: bool,
) -> CompleteRequest {
    CompleteRequest {
        bucket: bucket.to_owned(),
        key: key.to_owned(),
        upload_id: upload_id.to_owned(),
        complete_all: false,
        forbid_overwrite,
        url_encoding: false,
        payload: Default::default(),
    }
}

/// The object's bytes, read through its manifest.
fn read_all(store: &Store, obj: &ObjectRow) -> Vec<u8> {
    let mut out = Vec::new();
    for seg in &obj.manifest {
        let before = out.len();
        store
            .open_blob(&seg.blob)
            .unwrap()
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!((out.len() - before) as u64, seg.size);
    }
    assert_eq!(out.len() as u64, obj.size);
    out
}

fn get(store: &Store, key: &str) -> Vec<u8> {
    read_all(
        store,
        &store.object("bk", key).unwrap().expect("object exists"),
    )
}

fn put(store: &Store, key: &str, data: &[u8]) -> ObjectRow {
    let b = blob(store, data);
    store
        .put_object(&put_req("bk", key, ObjectMeta::default(), false), b, T0)
        .unwrap()
}

/// Every file in the data directory, relative to it.
fn files(dir: &Path) -> BTreeSet<String> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeSet<String>) {
        for e in fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                walk(root, &e.path(), out);
            } else {
                let rel = e.path().strip_prefix(root).unwrap().to_owned();
                out.insert(rel.to_string_lossy().into_owned());
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(dir, dir, &mut out);
    out
}

fn blob_files(dir: &Path) -> BTreeSet<String> {
    files(dir)
        .into_iter()
        .filter(|f| f.starts_with("blobs/"))
        .collect()
}

/// Rows of the `blob_bytes` table (bodies stored inline), read beside the open store.
fn inline_blobs(dir: &Path) -> usize {
    let db = rusqlite::Connection::open_with_flags(
        dir.join("meta.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    db.query_row("SELECT count(*) FROM blob_bytes", [], |r| {
        r.get::<_, i64>(0)
    })
    .unwrap() as usize
}

/// Blobs held, as files or inline: what reference counting must keep at exactly the live ones.
fn held(dir: &Path) -> usize {
    blob_files(dir).len() + inline_blobs(dir)
}

/// A store that keeps every body in a file, for the tests about files.
fn open_files_only(dir: &Path) -> Store {
    let mut options = StoreOptions::default();
    options.inline_max = 0;
    Store::open_with(dir, options).unwrap()
}

// ---- buckets and CORS ------------------------------------------------------------------------

#[test]
fn bucket_lifecycle_and_errors() {
    let (_dir, store) = open();
    assert_eq!(
        code(store.create_bucket("bk", T0)),
        ErrorCode::BucketAlreadyExists
    );
    store.create_bucket("abc", T0).unwrap();
    let names: Vec<String> = store
        .list_buckets()
        .unwrap()
        .into_iter()
        .map(|b| b.name)
        .collect();
    assert_eq!(names, ["abc", "bk"]);
    assert_eq!(store.bucket("bk").unwrap().unwrap().created, T0);
    assert!(store.bucket("nope").unwrap().is_none());
    let err = store.delete_bucket("nope").unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::NoSuchBucket));
    assert_eq!(err.extra_value("BucketName"), Some("nope"));

    // Not empty while an object exists...
    put(&store, "k", b"x");
    assert_eq!(code(store.delete_bucket("bk")), ErrorCode::BucketNotEmpty);
    assert!(store.delete_object("bk", "k").unwrap());
    // ...or while an upload is in progress.
    let up = store
        .create_upload(&initiate_req("bk", "k", ObjectMeta::default(), false), T0)
        .unwrap();
    assert_eq!(code(store.delete_bucket("bk")), ErrorCode::BucketNotEmpty);
    store.abort_upload("bk", "k", &up.upload_id).unwrap();
    store.delete_bucket("bk").unwrap();
    assert!(store.bucket("bk").unwrap().is_none());

    // Object and upload calls on a missing bucket.
    let b = blob(&store, b"x");
    assert_eq!(
        code(store.put_object(&put_req("bk", "k", ObjectMeta::default(), false), b, T0)),
        ErrorCode::NoSuchBucket
    );
    assert_eq!(code(store.object("bk", "k")), ErrorCode::NoSuchBucket);
    assert_eq!(
        code(store.delete_object("bk", "k")),
        ErrorCode::NoSuchBucket
    );
    assert_eq!(
        code(store.list_objects("bk", &listing())),
        ErrorCode::NoSuchBucket
    );
    assert_eq!(
        code(store.create_upload(&initiate_req("bk", "k", ObjectMeta::default(), false), T0)),
        ErrorCode::NoSuchBucket
    );
    assert_eq!(
        code(store.list_uploads(&uploads_req("bk"))),
        ErrorCode::NoSuchBucket
    );
}

#[test]
fn cors_documents() {
    let (_dir, store) = open();
    assert_eq!(store.cors("bk").unwrap(), None);
    store.put_cors("bk", "<CORSConfiguration/>").unwrap();
    assert_eq!(
        store.cors("bk").unwrap().as_deref(),
        Some("<CORSConfiguration/>")
    );
    store.delete_cors("bk").unwrap();
    assert_eq!(store.cors("bk").unwrap(), None);
    assert_eq!(
        code(store.put_cors("nope", "<x/>")),
        ErrorCode::NoSuchBucket
    );
    assert_eq!(code(store.cors("nope")), ErrorCode::NoSuchBucket);
    assert_eq!(code(store.delete_cors("nope")), ErrorCode::NoSuchBucket);
}

// ---- objects ---------------------------------------------------------------------------------

#[test]
fn put_get_overwrite_delete() {
    let (dir, store) = open();
    let data = bytes(300_000, 1);
    let meta = ObjectMeta {
        content_type: Some("text/plain".into()),
        cache_control: Some("no-cache".into()),
        user_meta: vec![("author".into(), "me".into())],
        ..ObjectMeta::default()
    };
    let b = blob(&store, &data);
    let row = store
        .put_object(&put_req("bk", "a/b.txt", meta.clone(), false), b, T0)
        .unwrap();
    assert_eq!(row.etag, quoted(&md5(&data)));
    assert_eq!(row.crc64, crc64::checksum(&data));
    assert_eq!(row.content_md5, Some(md5(&data)));
    assert_eq!(row.object_type, ObjectType::Normal);
    let got = store.object("bk", "a/b.txt").unwrap().unwrap();
    assert_eq!(got, row);
    assert_eq!(got.meta, meta);
    assert_eq!(read_all(&store, &got), data);
    assert_eq!(held(dir.path()), 1);

    // forbid_overwrite refuses and leaves no file behind.
    let b = blob(&store, b"other");
    assert_eq!(
        code(store.put_object(
            &put_req("bk", "a/b.txt", ObjectMeta::default(), true),
            b,
            T0
        )),
        ErrorCode::FileAlreadyExists
    );
    assert_eq!(held(dir.path()), 1);
    assert_eq!(get(&store, "a/b.txt"), data);

    // Overwrite replaces the object and deletes the old blob file.
    put(&store, "a/b.txt", b"new");
    assert_eq!(get(&store, "a/b.txt"), b"new");
    assert_eq!(held(dir.path()), 1);

    assert!(store.delete_object("bk", "a/b.txt").unwrap());
    assert!(!store.delete_object("bk", "a/b.txt").unwrap());
    assert!(store.object("bk", "a/b.txt").unwrap().is_none());
    assert_eq!(held(dir.path()), 0);
}

#[test]
fn empty_object() {
    let (_dir, store) = open();
    let row = put(&store, "empty", b"");
    assert_eq!(row.size, 0);
    assert_eq!(row.crc64, 0);
    assert_eq!(row.etag, "\"D41D8CD98F00B204E9800998ECF8427E\"");
    assert_eq!(get(&store, "empty"), b"");
}

#[test]
fn copy_shares_blobs() {
    let (dir, store) = open();
    store.create_bucket("other", T0).unwrap();
    let data = bytes(5000, 2);
    let src = put(&store, "src", &data);

    let copy = store
        .copy_object(&copy_req("bk", "src", "other", "dst", false), None, T0)
        .unwrap();
    assert_eq!(copy.manifest, src.manifest, "no byte is copied");
    assert_eq!(
        (copy.etag.as_str(), copy.crc64),
        (src.etag.as_str(), src.crc64)
    );
    assert_eq!(held(dir.path()), 1);

    // Deleting the source keeps the shared blob for the copy.
    store.delete_object("bk", "src").unwrap();
    let copy = store.object("other", "dst").unwrap().unwrap();
    assert_eq!(read_all(&store, &copy), data);

    // Copy onto itself with new metadata keeps the data.
    let meta = ObjectMeta {
        content_type: Some("image/png".into()),
        ..ObjectMeta::default()
    };
    let same = store
        .copy_object(
            &copy_req("other", "dst", "other", "dst", false),
            Some(meta.clone()),
            T0,
        )
        .unwrap();
    assert_eq!(same.meta, meta);
    assert_eq!(get_in(&store, "other", "dst"), data);

    assert_eq!(
        code(store.copy_object(&copy_req("other", "dst", "other", "dst", true), None, T0)),
        ErrorCode::FileAlreadyExists
    );
    let err = store
        .copy_object(&copy_req("bk", "missing", "other", "x", false), None, T0)
        .unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::NoSuchKey));
    assert_eq!(err.extra_value("Key"), Some("missing"));
    assert_eq!(
        code(store.copy_object(&copy_req("nope", "dst", "other", "x", false), None, T0)),
        ErrorCode::NoSuchBucket
    );
    assert_eq!(
        code(store.copy_object(&copy_req("other", "dst", "nope", "x", false), None, T0)),
        ErrorCode::NoSuchBucket
    );

    // The last reference gone, the file goes too.
    store.delete_object("other", "dst").unwrap();
    assert_eq!(held(dir.path()), 0);
}

fn get_in(store: &Store, bucket: &str, key: &str) -> Vec<u8> {
    read_all(store, &store.object(bucket, key).unwrap().unwrap())
}

// ---- multipart -------------------------------------------------------------------------------

#[test]
fn complete_assembles_parts_without_copying() {
    let (dir, store) = open();
    let meta = ObjectMeta {
        content_type: Some("video/mp4".into()),
        user_meta: vec![("k".into(), "v".into())],
        ..ObjectMeta::default()
    };
    let up = store
        .create_upload(
            &initiate_req("bk", "video/big.mp4", meta.clone(), false),
            T0,
        )
        .unwrap();
    assert_eq!(up.upload_id.len(), 32);
    assert_eq!(
        store.upload("bk", "video/big.mp4", &up.upload_id).unwrap(),
        up
    );

    let parts: Vec<Vec<u8>> = vec![
        bytes(KIB100 * 2, 10),
        bytes(KIB100, 11),
        bytes(999, 12), // unlisted
        bytes(10, 13),
    ];
    let mut rows = Vec::new();
    for (i, data) in parts.iter().enumerate() {
        let b = blob(&store, data);
        let row = store
            .put_part(part("video/big.mp4", &up.upload_id, i as u32 + 1), b, T0)
            .unwrap();
        assert_eq!(row.etag, quoted(&md5(data)));
        assert_eq!(row.crc64, crc64::checksum(data));
        assert_eq!(row.size, data.len() as u64);
        rows.push(row);
    }
    assert_eq!(held(dir.path()), 4);

    // ETags quoted, bare, lower-case: all accepted.
    let listed = vec![
        (1, rows[0].etag.clone()),
        (2, rows[1].etag.trim_matches('"').to_string()),
        (4, rows[3].etag.to_lowercase()),
    ];
    let obj = store
        .complete_upload(
            &complete_req("bk", "video/big.mp4", &up.upload_id, false),
            CompleteParts::Listed(listed),
            T0,
        )
        .unwrap();

    let whole: Vec<u8> = [&parts[0][..], &parts[1], &parts[3]].concat();
    let mut concat_md5s = Vec::new();
    for p in [&parts[0], &parts[1], &parts[3]] {
        concat_md5s.extend_from_slice(&md5(p));
    }
    let expected_etag = format!("\"{}-3\"", hex::encode_upper(md5(&concat_md5s)));
    assert_eq!(obj.etag, expected_etag);
    assert_eq!(obj.crc64, crc64::checksum(&whole));
    assert_eq!(obj.size, whole.len() as u64);
    assert_eq!(obj.object_type, ObjectType::Multipart);
    assert_eq!(obj.meta, meta);
    assert_eq!(obj.content_md5, None);
    assert_eq!(obj.manifest.len(), 3);
    assert_eq!(store.object("bk", "video/big.mp4").unwrap().unwrap(), obj);
    assert_eq!(get(&store, "video/big.mp4"), whole);
    // The unlisted part's blob is gone; the three used ones remain.
    assert_eq!(held(dir.path()), 3);

    // The upload id is now invalid everywhere.
    let id = &up.upload_id;
    let err = store.upload("bk", "video/big.mp4", id).unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::NoSuchUpload));
    assert_eq!(err.extra_value("UploadId"), Some(id.as_str()));
    let b = blob(&store, b"late");
    assert_eq!(
        code(store.put_part(part("video/big.mp4", id, 5), b, T0)),
        ErrorCode::NoSuchUpload
    );
    assert_eq!(
        code(store.list_parts(&parts_req("bk", "video/big.mp4", id, 0, 1000))),
        ErrorCode::NoSuchUpload
    );
    assert_eq!(
        code(store.complete_upload(
            &complete_req("bk", "video/big.mp4", id, false),
            CompleteParts::All,
            T0
        )),
        ErrorCode::NoSuchUpload
    );
    assert_eq!(
        code(store.abort_upload("bk", "video/big.mp4", id)),
        ErrorCode::NoSuchUpload
    );
    // The refused part left no file.
    assert_eq!(held(dir.path()), 3);

    // Deleting the object releases the parts' blobs.
    store.delete_object("bk", "video/big.mp4").unwrap();
    assert_eq!(held(dir.path()), 0);
}

#[test]
fn complete_all_and_overwrite() {
    let (dir, store) = open();
    put(&store, "k", b"old object");
    let up = store
        .create_upload(&initiate_req("bk", "k", ObjectMeta::default(), false), T0)
        .unwrap();
    assert_eq!(
        code(store.complete_upload(
            &complete_req("bk", "k", &up.upload_id, false),
            CompleteParts::All,
            T0
        )),
        ErrorCode::InvalidPart,
        "complete-all needs at least one part"
    );
    let a = bytes(KIB100, 20);
    let b = bytes(77, 21);
    for (n, data) in [(3, &a), (8, &b)] {
        let blob = blob(&store, data);
        store
            .put_part(part("k", &up.upload_id, n), blob, T0)
            .unwrap();
    }
    let obj = store
        .complete_upload(
            &complete_req("bk", "k", &up.upload_id, false),
            CompleteParts::All,
            T0,
        )
        .unwrap();
    assert!(obj.etag.ends_with("-2\""));
    assert_eq!(get(&store, "k"), [&a[..], &b[..]].concat());
    // The overwritten object's blob was released.
    assert_eq!(held(dir.path()), 2);
}

#[test]
fn complete_errors_leave_the_upload_intact() {
    let (_dir, store) = open();
    store.create_bucket("other", T0).unwrap();
    let up = store
        .create_upload(&initiate_req("bk", "k", ObjectMeta::default(), false), T0)
        .unwrap();
    let id = up.upload_id.clone();
    let small = bytes(1000, 30);
    let big = bytes(KIB100, 31);
    let mut etags = Vec::new();
    for (n, data) in [(1, &small), (2, &big), (3, &small)] {
        let b = blob(&store, data);
        etags.push(store.put_part(part("k", &id, n), b, T0).unwrap().etag);
    }
    let complete = |listed: Vec<(u32, String)>| {
        store.complete_upload(
            &complete_req("bk", "k", &id, false),
            CompleteParts::Listed(listed),
            T0,
        )
    };

    assert_eq!(code(complete(vec![])), ErrorCode::MalformedXML);
    assert_eq!(
        code(complete(vec![(2, etags[1].clone()), (1, etags[0].clone())])),
        ErrorCode::InvalidPartOrder
    );
    assert_eq!(
        code(complete(vec![(2, etags[1].clone()), (2, etags[1].clone())])),
        ErrorCode::InvalidPartOrder
    );
    let err = complete(vec![(2, etags[1].clone()), (9, etags[1].clone())]).unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::InvalidPart));
    assert_eq!(err.extra_value("UploadId"), Some(id.as_str()));
    assert_eq!(err.extra_value("PartNumber"), Some("9"));
    assert_eq!(err.extra_value("ETag"), Some(etags[1].as_str()));
    let err = complete(vec![(2, etags[0].clone())]).unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::InvalidPart), "ETag mismatch");
    let err = complete(vec![(1, etags[0].clone()), (2, etags[1].clone())]).unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::EntityTooSmall));
    assert_eq!(err.extra_value("MinSizeAllowed"), Some("102400"));
    assert_eq!(err.extra_value("ProposedSize"), Some("1000"));
    assert_eq!(err.extra_value("PartNumber"), Some("1"));

    // Wrong key, wrong bucket, unknown id.
    for (bucket, key, upload_id) in [
        ("bk", "other-key", id.as_str()),
        ("other", "k", id.as_str()),
        ("bk", "k", "0000000000000000FFFFFFFFFFFFFFFF"),
    ] {
        assert_eq!(
            code(store.complete_upload(
                &complete_req(bucket, key, upload_id, false),
                CompleteParts::All,
                T0
            )),
            ErrorCode::NoSuchUpload
        );
        assert_eq!(
            code(store.upload(bucket, key, upload_id)),
            ErrorCode::NoSuchUpload
        );
        assert_eq!(
            code(store.abort_upload(bucket, key, upload_id)),
            ErrorCode::NoSuchUpload
        );
    }

    // forbid_overwrite on Complete when the key appeared meanwhile.
    put(&store, "k", b"raced");
    assert_eq!(
        code(store.complete_upload(
            &complete_req("bk", "k", &id, true),
            CompleteParts::Listed(vec![(2, etags[1].clone()), (3, etags[2].clone())]),
            T0
        )),
        ErrorCode::FileAlreadyExists
    );
    assert_eq!(get(&store, "k"), b"raced");

    // Nothing above changed the upload.
    let page = store
        .list_parts(&parts_req("bk", "k", &id, 0, 1000))
        .unwrap();
    assert_eq!(page.parts.len(), 3);
    let obj = complete(vec![(2, etags[1].clone()), (3, etags[2].clone())]).unwrap();
    assert_eq!(get(&store, "k"), [&big[..], &small[..]].concat());
    assert_eq!(obj.size, (KIB100 + 1000) as u64);
}

#[test]
fn forbid_overwrite_from_initiate() {
    let (_dir, store) = open();
    put(&store, "exists", b"x");
    assert_eq!(
        code(store.create_upload(
            &initiate_req("bk", "exists", ObjectMeta::default(), true),
            T0
        )),
        ErrorCode::FileAlreadyExists
    );
    let up = store
        .create_upload(
            &initiate_req("bk", "later", ObjectMeta::default(), true),
            T0,
        )
        .unwrap();
    assert!(up.forbid_overwrite);
    let b = blob(&store, b"part");
    store
        .put_part(part("later", &up.upload_id, 1), b, T0)
        .unwrap();
    put(&store, "later", b"first");
    assert_eq!(
        code(store.complete_upload(
            &complete_req("bk", "later", &up.upload_id, false),
            CompleteParts::All,
            T0
        )),
        ErrorCode::FileAlreadyExists
    );
    assert_eq!(get(&store, "later"), b"first");
}

#[test]
fn part_replacement_and_abort() {
    let (dir, store) = open();
    let up = store
        .create_upload(&initiate_req("bk", "k", ObjectMeta::default(), false), T0)
        .unwrap();
    let id = &up.upload_id;
    let b = blob(&store, b"first version");
    let first = store.put_part(part("k", id, 1), b, T0).unwrap();
    let later = T0 + time::Duration::seconds(5);
    let b = blob(&store, b"second version!");
    let second = store.put_part(part("k", id, 1), b, later).unwrap();
    assert_ne!(first.etag, second.etag);
    // The replaced part's blob is released at once.
    assert_eq!(held(dir.path()), 1);

    let page = store
        .list_parts(&parts_req("bk", "k", id, 0, 1000))
        .unwrap();
    assert_eq!(page.parts, vec![second.clone()]);
    assert_eq!(page.parts[0].last_modified, later);
    // The old ETag no longer matches.
    assert_eq!(
        code(store.complete_upload(
            &complete_req("bk", "k", id, false),
            CompleteParts::Listed(vec![(1, first.etag.clone())]),
            T0
        )),
        ErrorCode::InvalidPart
    );

    let b = blob(&store, b"x");
    let err = store.put_part(part("k", id, 10_001), b, T0).unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::InvalidArgument));
    let b = blob(&store, b"x");
    assert_eq!(
        code(store.put_part(part("k", id, 0), b, T0)),
        ErrorCode::InvalidArgument
    );
    let b = blob(&store, b"x");
    assert_eq!(
        code(store.put_part(part("other", id, 2), b, T0)),
        ErrorCode::NoSuchUpload
    );
    assert_eq!(held(dir.path()), 1, "refused parts leave no file");

    store.abort_upload("bk", "k", id).unwrap();
    assert_eq!(held(dir.path()), 0);
    assert_eq!(code(store.upload("bk", "k", id)), ErrorCode::NoSuchUpload);
    assert!(store
        .list_uploads(&ListUploadsRequest {
            max_uploads: 1000,
            ..uploads_req("bk")
        })
        .unwrap()
        .entries
        .is_empty());
}

#[test]
fn list_parts_pages_over_2500_parts() {
    let (_dir, store) = open();
    let up = store
        .create_upload(&initiate_req("bk", "k", ObjectMeta::default(), false), T0)
        .unwrap();
    let id = &up.upload_id;
    // Uploaded out of order; listed ascending.
    let mut numbers: Vec<u32> = (1..=2500).collect();
    numbers.reverse();
    numbers.swap(10, 2000);
    for &n in &numbers {
        let b = blob(&store, &n.to_be_bytes());
        store.put_part(part("k", id, n), b, T0).unwrap();
    }

    let mut marker = 0;
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let page = store
            .list_parts(&parts_req("bk", "k", id, marker, 1000))
            .unwrap();
        pages += 1;
        assert!(page.parts.len() <= 1000);
        seen.extend(page.parts.iter().map(|p| p.part_number));
        assert_eq!(
            page.next_part_number_marker,
            page.parts.last().map_or(marker, |p| p.part_number)
        );
        if !page.is_truncated {
            break;
        }
        marker = page.next_part_number_marker;
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, (1..=2500).collect::<Vec<_>>());

    let page = store
        .list_parts(&parts_req("bk", "k", id, 2000, 500))
        .unwrap();
    assert_eq!(page.parts.len(), 500);
    assert!(!page.is_truncated, "exactly the last 500: not truncated");
    assert_eq!(page.next_part_number_marker, 2500);
    let page = store
        .list_parts(&parts_req("bk", "k", id, 2499, 5))
        .unwrap();
    assert_eq!(page.parts[0].part_number, 2500);
    let page = store
        .list_parts(&parts_req("bk", "k", id, 2500, 5))
        .unwrap();
    assert!(page.parts.is_empty() && !page.is_truncated);
    assert_eq!(page.next_part_number_marker, 2500);
    let page = store.list_parts(&parts_req("bk", "k", id, 0, 1)).unwrap();
    assert_eq!(page.parts[0].etag, quoted(&md5(&1u32.to_be_bytes())));
    assert!(page.is_truncated);
}

// ---- listings --------------------------------------------------------------------------------

fn uploads(store: &Store, q: ListUploadsRequest) -> (Vec<(String, String)>, Vec<String>, bool) {
    let page = store.list_uploads(&q).unwrap();
    let entries = page
        .entries
        .iter()
        .map(|u| (u.key.clone(), u.upload_id.clone()))
        .collect();
    (entries, page.common_prefixes, page.is_truncated)
}

#[test]
fn uploads_listing_with_delimiter_markers_and_paging() {
    let (_dir, store) = open();
    let mut all = Vec::new();
    for key in [
        "b",
        "a",
        "dir/x",
        "b",
        "dir/sub/y",
        "c",
        "logs/1",
        "b",
        "logs/2",
    ] {
        let up = store
            .create_upload(&initiate_req("bk", key, ObjectMeta::default(), false), T0)
            .unwrap();
        all.push((up.key, up.upload_id));
    }
    // Ordered by key bytes, then upload id (= creation order).
    let mut expected = all.clone();
    expected.sort();
    let q = |max| ListUploadsRequest {
        max_uploads: max,
        ..uploads_req("bk")
    };
    let (entries, prefixes, truncated) = uploads(&store, q(1000));
    assert_eq!(entries, expected);
    assert!(prefixes.is_empty() && !truncated);
    let b_ids: Vec<&String> = expected
        .iter()
        .filter(|(k, _)| k == "b")
        .map(|(_, id)| id)
        .collect();
    assert_eq!(b_ids.len(), 3);

    // Delimiter roll-up; each prefix counts once.
    let (entries, prefixes, truncated) = uploads(
        &store,
        ListUploadsRequest {
            delimiter: "/".into(),
            max_uploads: 1000,
            ..uploads_req("bk")
        },
    );
    let keys: Vec<&str> = entries.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["a", "b", "b", "b", "c"]);
    assert_eq!(prefixes, ["dir/", "logs/"]);
    assert!(!truncated);

    // key-marker alone skips every upload of that key.
    let (entries, _, _) = uploads(
        &store,
        ListUploadsRequest {
            key_marker: "b".into(),
            max_uploads: 1000,
            ..uploads_req("bk")
        },
    );
    assert_eq!(entries.first().unwrap().0, "c");
    // With upload-id-marker: the later uploads of that key, then later keys.
    let (entries, _, _) = uploads(
        &store,
        ListUploadsRequest {
            key_marker: "b".into(),
            upload_id_marker: b_ids[0].clone(),
            max_uploads: 3,
            ..uploads_req("bk")
        },
    );
    assert_eq!(
        entries,
        [
            ("b".to_string(), b_ids[1].clone()),
            ("b".to_string(), b_ids[2].clone()),
            (
                "c".to_string(),
                expected.iter().find(|(k, _)| k == "c").unwrap().1.clone()
            ),
        ]
    );

    // Paging two at a time with delimiter through the next markers sees each item once.
    let mut seen_entries = Vec::new();
    let mut seen_prefixes = Vec::new();
    let (mut key_marker, mut id_marker) = (String::new(), String::new());
    loop {
        let page = store
            .list_uploads(&ListUploadsRequest {
                delimiter: "/".into(),
                key_marker: key_marker.clone(),
                upload_id_marker: id_marker.clone(),
                max_uploads: 2,
                ..uploads_req("bk")
            })
            .unwrap();
        assert!(page.entries.len() + page.common_prefixes.len() <= 2);
        seen_entries.extend(page.entries.iter().map(|u| u.upload_id.clone()));
        seen_prefixes.extend(page.common_prefixes.iter().cloned());
        if !page.is_truncated {
            break;
        }
        // Next markers name the last item: an upload, or a prefix with an empty id.
        if page.next_upload_id_marker.is_empty() {
            assert_eq!(page.common_prefixes.last(), Some(&page.next_marker));
        } else {
            assert_eq!(
                page.entries.last().unwrap().upload_id,
                page.next_upload_id_marker
            );
        }
        key_marker = page.next_marker;
        id_marker = page.next_upload_id_marker;
    }
    let expected_top: Vec<String> = expected
        .iter()
        .filter(|(k, _)| !k.contains('/'))
        .map(|(_, id)| id.clone())
        .collect();
    assert_eq!(seen_entries, expected_top);
    assert_eq!(seen_prefixes, ["dir/", "logs/"]);

    // Prefix with delimiter.
    let (entries, prefixes, _) = uploads(
        &store,
        ListUploadsRequest {
            prefix: "dir/".into(),
            delimiter: "/".into(),
            max_uploads: 1000,
            ..uploads_req("bk")
        },
    );
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].0, "dir/x");
    assert_eq!(prefixes, ["dir/sub/"]);

    // Truncation is exact.
    let (_, _, truncated) = uploads(&store, q(9));
    assert!(!truncated);
    let (_, _, truncated) = uploads(&store, q(8));
    assert!(truncated);
}

fn list(
    store: &Store,
    prefix: &str,
    delimiter: &str,
    marker: &str,
    max: u32,
) -> (Vec<String>, Vec<String>, bool, String) {
    let page = store
        .list_objects(
            "bk",
            &ObjectListing {
                prefix: prefix.into(),
                delimiter: delimiter.into(),
                marker: marker.into(),
                max_keys: max,
                url_encoding: false,
            },
        )
        .unwrap();
    let keys = page.entries.iter().map(|o| o.key.clone()).collect();
    (
        keys,
        page.common_prefixes,
        page.is_truncated,
        page.next_marker,
    )
}

#[test]
fn objects_listing_with_delimiter_and_markers() {
    let (_dir, store) = open();
    let seed = put(&store, "seed", b"s");
    // 1,500 keys under one prefix (metadata-only copies), more than one fetch batch.
    for i in 0..1500 {
        store
            .copy_object(
                &copy_req("bk", "seed", "bk", &format!("photos/{i:05}.jpg"), false),
                None,
                T0,
            )
            .unwrap();
    }
    for key in ["a.txt", "docs/x", "docs/y/z", "photos.txt", "z"] {
        put(&store, key, key.as_bytes());
    }

    let (keys, prefixes, truncated, next) = list(&store, "", "/", "", 1000);
    assert_eq!(keys, ["a.txt", "photos.txt", "seed", "z"]);
    assert_eq!(prefixes, ["docs/", "photos/"]);
    assert!(!truncated);
    assert_eq!(next, "z");

    // Paging by 2: a prefix counts as one entry and its marker skips the whole prefix.
    let (keys, prefixes, truncated, next) = list(&store, "", "/", "", 2);
    assert_eq!(
        (keys, prefixes),
        (vec!["a.txt".to_string()], vec!["docs/".to_string()])
    );
    assert!(truncated);
    assert_eq!(next, "docs/");
    let (keys, prefixes, truncated, next) = list(&store, "", "/", &next, 2);
    assert_eq!(keys, ["photos.txt"]);
    assert_eq!(prefixes, ["photos/"]);
    assert!(truncated);
    let (keys, prefixes, truncated, _) = list(&store, "", "/", &next, 2);
    assert_eq!(keys, ["seed", "z"]);
    assert!(prefixes.is_empty());
    assert!(!truncated);

    // Without delimiter, markers are exclusive and ordering is by bytes.
    let (keys, _, truncated, next) = list(&store, "photos/", "", "photos/00998.jpg", 3);
    assert_eq!(
        keys,
        ["photos/00999.jpg", "photos/01000.jpg", "photos/01001.jpg"]
    );
    assert!(truncated);
    assert_eq!(next, "photos/01001.jpg");
    let (keys, _, truncated, _) = list(&store, "photos/", "", "photos/01497.jpg", 100);
    assert_eq!(keys, ["photos/01498.jpg", "photos/01499.jpg"]);
    assert!(!truncated);
    let (keys, _, truncated, _) = list(&store, "", "", "", 1000);
    assert_eq!(keys.len(), 1000);
    assert!(truncated);

    // Prefix + delimiter one level down.
    let (keys, prefixes, _, _) = list(&store, "docs/", "/", "", 10);
    assert_eq!(keys, ["docs/x"]);
    assert_eq!(prefixes, ["docs/y/"]);

    // Summaries carry what ListObjects prints.
    let page = store
        .list_objects(
            "bk",
            &ObjectListing {
                prefix: "seed".into(),
                max_keys: 10,
                ..listing()
            },
        )
        .unwrap();
    assert_eq!(page.entries[0].etag, seed.etag);
    assert_eq!(page.entries[0].size, 1);
    assert_eq!(page.entries[0].object_type, ObjectType::Normal);
}

// ---- restart, recovery, locking ----------------------------------------------------------------

#[test]
fn reopen_reads_everything_back() {
    let dir = tempfile::tempdir().unwrap();
    let (objects, upload, part_data) = {
        let store = Store::open(dir.path()).unwrap();
        store.create_bucket("bk", T0).unwrap();
        store.put_cors("bk", "<CORSConfiguration/>").unwrap();
        let mut objects = Vec::new();
        objects.push(put(&store, "plain", &bytes(12_345, 40)));
        let up = store
            .create_upload(
                &initiate_req("bk", "multi", ObjectMeta::default(), false),
                T0,
            )
            .unwrap();
        for (n, seed) in [(1, 41), (2, 42)] {
            let b = blob(&store, &bytes(KIB100, seed));
            store
                .put_part(part("multi", &up.upload_id, n), b, T0)
                .unwrap();
        }
        objects.push(
            store
                .complete_upload(
                    &complete_req("bk", "multi", &up.upload_id, false),
                    CompleteParts::All,
                    T0,
                )
                .unwrap(),
        );
        objects.push(
            store
                .copy_object(&copy_req("bk", "plain", "bk", "copy", false), None, T0)
                .unwrap(),
        );
        let meta = ObjectMeta {
            content_type: Some("application/zip".into()),
            user_meta: vec![("x".into(), "y".into())],
            ..ObjectMeta::default()
        };
        let upload = store
            .create_upload(&initiate_req("bk", "pending", meta, true), T0)
            .unwrap();
        let part_data = bytes(5000, 43);
        let b = blob(&store, &part_data);
        store
            .put_part(part("pending", &upload.upload_id, 7), b, T0)
            .unwrap();
        (objects, upload, part_data)
    };

    let store = Store::open(dir.path()).unwrap();
    assert_eq!(
        store.recovery_report(),
        Default::default(),
        "clean shutdown: nothing to repair"
    );
    assert_eq!(
        store.cors("bk").unwrap().as_deref(),
        Some("<CORSConfiguration/>")
    );
    for obj in &objects {
        let back = store.object("bk", &obj.key).unwrap().unwrap();
        assert_eq!(&back, obj);
        let data = read_all(&store, &back);
        assert_eq!(crc64::checksum(&data), obj.crc64);
    }
    assert_eq!(
        store.upload("bk", "pending", &upload.upload_id).unwrap(),
        upload
    );
    let parts = store
        .list_parts(&parts_req("bk", "pending", &upload.upload_id, 0, 1000))
        .unwrap();
    assert_eq!(parts.parts.len(), 1);
    assert_eq!(parts.parts[0].part_number, 7);
    assert_eq!(parts.parts[0].etag, quoted(&md5(&part_data)));

    // The upload continues after the restart; new ids sort after old ones.
    let newer = store
        .create_upload(
            &initiate_req("bk", "pending", ObjectMeta::default(), false),
            T0,
        )
        .unwrap();
    assert!(newer.upload_id > upload.upload_id);
    let obj = store
        .complete_upload(
            &complete_req("bk", "pending", &upload.upload_id, false),
            CompleteParts::All,
            T0,
        )
        .unwrap();
    assert_eq!(get(&store, "pending"), part_data);
    assert_eq!(obj.meta.content_type.as_deref(), Some("application/zip"));
}

#[test]
fn recovery_removes_leftovers_and_keeps_referenced_blobs() {
    let dir = tempfile::tempdir().unwrap();
    let (kept, deleted_path, deleted_bytes) = {
        let store = open_files_only(dir.path());
        store.create_bucket("bk", T0).unwrap();
        let kept = put(&store, "kept", b"keep me");
        let gone = put(&store, "gone", b"delete me");
        let gone_path = dir
            .path()
            .join("blobs")
            .join(&gone.manifest[0].blob.as_str()[..2])
            .join(gone.manifest[0].blob.as_str());
        // A crash after renaming a body into blobs/ but before its row commits.
        let orphan = blob(&store, b"never recorded");
        std::mem::forget(orphan);
        // A crash mid-body: a file left in tmp/.
        let mut w = store.blob_writer().unwrap();
        w.write(b"half a body").unwrap();
        std::mem::forget(w);
        store.delete_object("bk", "gone").unwrap();
        (kept, gone_path, b"delete me".to_vec())
    };
    // A crash after the delete committed but before the file was removed.
    fs::write(&deleted_path, &deleted_bytes).unwrap();
    // Files named as the store names bodies are its own leftovers...
    fs::write(
        dir.path()
            .join("tmp")
            .join("0123456789abcdef0123456789abcdef"),
        b"x",
    )
    .unwrap();
    fs::write(
        dir.path().join("blobs/ab/ab23456789abcdef0123456789abcdef"),
        b"x",
    )
    .unwrap();
    // ...anything else is not, and stays.
    let foreign = [
        "tmp/stray",
        "tmp/k/f",
        "blobs/ab/not-a-blob",
        "blobs/ab/AB23456789ABCDEF0123456789ABCDEF",
        "blobs/notes.txt",
        "blobs/zz/0123456789abcdef0123456789abcdef",
    ];
    for f in foreign {
        let path = dir.path().join(f);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, b"user data").unwrap();
    }
    assert_eq!(blob_files(dir.path()).len(), 8);

    let store = Store::open(dir.path()).unwrap();
    let report = store.recovery_report();
    assert_eq!(report.tmp_files_removed, 2);
    assert_eq!(report.orphan_blobs_removed, 3);
    assert_eq!(report.missing_blobs, 0);
    assert_eq!(report.counts_repaired, 0);
    // Six entries: the directories tmp/k and blobs/zz count once each.
    assert_eq!(report.foreign_entries, 6);
    assert_eq!(
        files(&dir.path().join("tmp")),
        ["k/f", "stray"].map(String::from).into()
    );
    assert_eq!(blob_files(dir.path()).len(), 5);
    for f in foreign {
        assert_eq!(fs::read(dir.path().join(f)).unwrap(), b"user data", "{f}");
    }
    assert_eq!(get(&store, "kept"), b"keep me");
    assert_eq!(store.object("bk", "kept").unwrap().unwrap(), kept);

    // A second start finds nothing to do.
    drop(store);
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(
        store.recovery_report(),
        osspart_server::store::RecoveryReport {
            foreign_entries: 6,
            ..Default::default()
        }
    );
}

/// Every file in `dir`, with its content.
fn contents(dir: &Path) -> Vec<(String, Vec<u8>)> {
    files(dir)
        .into_iter()
        .map(|f| {
            let bytes = fs::read(dir.join(&f)).unwrap();
            (f, bytes)
        })
        .collect()
}

#[test]
fn a_directory_that_is_not_a_store_is_refused_untouched() {
    let not_sqlite = |dir: &Path| fs::write(dir.join("meta.db"), b"my notes").unwrap();
    let other_sqlite = |dir: &Path| {
        let conn = rusqlite::Connection::open(dir.join("meta.db")).unwrap();
        conn.execute_batch("CREATE TABLE notes (t TEXT)").unwrap();
    };
    let newer_marker =
        |dir: &Path| fs::write(dir.join("osspart-store"), "osspart-store 99\n").unwrap();
    let other_marker = |dir: &Path| fs::write(dir.join("osspart-store"), "something else").unwrap();
    type Prepare = dyn Fn(&Path);
    let cases: [(&str, &Prepare); 5] = [
        ("user files", &|_| {}),
        ("a meta.db that is not SQLite", &not_sqlite),
        ("another program's SQLite meta.db", &other_sqlite),
        ("a marker of a newer layout", &newer_marker),
        ("a file named like the marker", &other_marker),
    ];
    for (name, prepare) in cases {
        let dir = tempfile::tempdir().unwrap();
        for f in ["tmp/k/f", "blobs/ab/x", "notes.txt"] {
            let path = dir.path().join(f);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, b"user data").unwrap();
        }
        prepare(dir.path());
        let before = contents(dir.path());
        let err = Store::open(dir.path()).expect_err(name);
        assert!(matches!(err, StoreError::NotAStore { .. }), "{name}: {err}");
        let message = err.to_string();
        assert!(
            message.contains(&dir.path().display().to_string()) && message.contains("--data"),
            "{name}: {message}"
        );
        assert_eq!(
            contents(dir.path()),
            before,
            "{name}: the directory changed"
        );
    }
}

#[test]
fn a_missing_or_empty_directory_becomes_a_store_with_a_marker() {
    let parent = tempfile::tempdir().unwrap();
    for dir in [
        parent.path().join("new/nested"),
        parent.path().join("empty"),
    ] {
        fs::create_dir_all(parent.path().join("empty")).unwrap();
        let store = Store::open(&dir).unwrap();
        store.create_bucket("bk", T0).unwrap();
        put(&store, "k", b"v");
        drop(store);
        assert_eq!(
            fs::read_to_string(dir.join("osspart-store")).unwrap(),
            "osspart-store 1\n"
        );
        let store = Store::open(&dir).unwrap();
        assert_eq!(get(&store, "k"), b"v");
    }
}

#[test]
fn a_store_from_before_the_marker_is_adopted() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open_files_only(dir.path());
        store.create_bucket("bk", T0).unwrap();
        put(&store, "k", b"from an older server");
    }
    fs::remove_file(dir.path().join("osspart-store")).unwrap();
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(get(&store, "k"), b"from an older server");
    assert_eq!(store.recovery_report(), Default::default());
    drop(store);
    assert_eq!(
        fs::read_to_string(dir.path().join("osspart-store")).unwrap(),
        "osspart-store 1\n"
    );

    // A marker a crash left unfinished is completed.
    fs::write(dir.path().join("osspart-store"), "osspart-st").unwrap();
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(get(&store, "k"), b"from an older server");
    drop(store);
    assert_eq!(
        fs::read_to_string(dir.path().join("osspart-store")).unwrap(),
        "osspart-store 1\n"
    );
}

#[cfg(unix)]
#[test]
fn store_files_and_directories_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("data");
    let store = open_files_only(&dir);
    store.create_bucket("bk", T0).unwrap();
    put(&store, "k", &bytes(1000, 1));
    let mut w = store.blob_writer().unwrap();
    w.write(b"in flight").unwrap();
    let mut checked = 0;
    let mut stack = vec![dir.clone()];
    while let Some(path) = stack.pop() {
        let meta = fs::symlink_metadata(&path).unwrap();
        if meta.is_dir() {
            stack.extend(fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
        }
        let mode = meta.permissions().mode() & 0o777;
        let want = if meta.is_dir() { 0o700 } else { 0o600 };
        assert_eq!(mode, want, "{} has mode {mode:o}", path.display());
        checked += 1;
    }
    // The root, marker, LOCK, meta.db and its WAL, tmp/ with one file, blobs/ with 256 shards
    // and one body.
    assert!(checked >= 264, "{checked}");
    drop(w);
}

#[test]
fn recovery_repairs_reference_counts() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path()).unwrap();
        store.create_bucket("bk", T0).unwrap();
        put(&store, "a", b"shared");
        store
            .copy_object(&copy_req("bk", "a", "bk", "b", false), None, T0)
            .unwrap();
    }
    {
        let db = rusqlite::Connection::open(dir.path().join("meta.db")).unwrap();
        assert_eq!(db.execute("UPDATE blobs SET refs = 1", []).unwrap(), 1);
    }
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.recovery_report().counts_repaired, 1);
    // With the count back at 2, deleting one copy must keep the other's data.
    store.delete_object("bk", "a").unwrap();
    assert_eq!(get(&store, "b"), b"shared");
    store.delete_object("bk", "b").unwrap();
    assert_eq!(held(dir.path()), 0);
}

#[test]
fn second_open_is_locked_out() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let clone = store.clone();
    match Store::open(dir.path()) {
        Err(StoreError::Locked(path)) => assert_eq!(path, dir.path()),
        other => panic!("expected Locked, got {other:?}"),
    }
    drop(store);
    assert!(
        matches!(Store::open(dir.path()), Err(StoreError::Locked(_))),
        "a clone still holds it"
    );
    drop(clone);
    Store::open(dir.path()).expect("lock released with the last handle");
}

// ---- keys and blobs --------------------------------------------------------------------------

#[test]
fn odd_keys_round_trip_and_never_become_paths() {
    let (dir, store) = open();
    let long = "k".repeat(1023);
    let keys = [
        "..",
        "../../../../etc/passwd",
        "//",
        "/leading",
        "a//b/",
        ".",
        "dir\\file",
        "日本語/ファイル.txt",
        "emoji 🎉 key",
        "nul\0inside",
        "tmp/../blobs/00/x",
        long.as_str(),
    ];
    for (i, key) in keys.iter().enumerate() {
        put(&store, key, format!("body {i}").as_bytes());
    }
    for (i, key) in keys.iter().enumerate() {
        assert_eq!(get(&store, key), format!("body {i}").as_bytes(), "{key:?}");
    }
    // Listing returns them in byte order.
    let (listed, _, _, _) = list(&store, "", "", "", 1000);
    let mut sorted: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
    sorted.sort();
    assert_eq!(listed, sorted);

    // Only the store's own files exist: the marker, meta.db (+WAL), LOCK,
    // blobs/<2 hex>/<32 hex>.
    for f in files(dir.path()) {
        let ok = matches!(
            f.as_str(),
            "LOCK" | "osspart-store" | "meta.db" | "meta.db-wal" | "meta.db-shm"
        ) || f.strip_prefix("blobs/").is_some_and(|rest| {
            let (shard, name) = rest.split_once('/').unwrap();
            shard.len() == 2
                && name.len() == 32
                && name.starts_with(shard)
                && name.bytes().all(|b| b.is_ascii_hexdigit())
        });
        assert!(ok, "unexpected file {f:?}");
    }
    assert_eq!(held(dir.path()), keys.len());
}

#[test]
fn abandoned_writers_and_unused_blobs_leave_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_files_only(dir.path());
    let before = files(dir.path());
    {
        let mut w = store.blob_writer().unwrap();
        w.write(&bytes(100_000, 50)).unwrap();
        assert_eq!(w.len(), 100_000);
        assert_eq!(files(&dir.path().join("tmp")).len(), 1);
    }
    let b = blob(&store, b"finished but never recorded");
    assert_eq!(blob_files(dir.path()).len(), 1);
    drop(b);
    let b = blob(&store, b"discarded explicitly");
    b.discard();
    assert_eq!(files(dir.path()), before);
}

// ---- inline bodies and group commit ------------------------------------------------------------

#[test]
fn small_bodies_live_in_the_database_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let big = bytes(KIB100, 61);
    let (objects, upload_id) = {
        let store = Store::open(dir.path()).unwrap();
        store.create_bucket("bk", T0).unwrap();
        let mut objects = vec![put(&store, "small", &bytes(4096, 60))];
        objects.push(
            store
                .copy_object(&copy_req("bk", "small", "bk", "copy", false), None, T0)
                .unwrap(),
        );
        // A multipart object of a file part and an inline last part.
        let up = store
            .create_upload(
                &initiate_req("bk", "multi", ObjectMeta::default(), false),
                T0,
            )
            .unwrap();
        let b = blob(&store, &big);
        store
            .put_part(part("multi", &up.upload_id, 1), b, T0)
            .unwrap();
        let b = blob(&store, b"tail");
        store
            .put_part(part("multi", &up.upload_id, 2), b, T0)
            .unwrap();
        objects.push(
            store
                .complete_upload(
                    &complete_req("bk", "multi", &up.upload_id, false),
                    CompleteParts::All,
                    T0,
                )
                .unwrap(),
        );
        // An upload left pending with an inline part.
        let pending = store
            .create_upload(
                &initiate_req("bk", "pending", ObjectMeta::default(), false),
                T0,
            )
            .unwrap();
        let b = blob(&store, b"pending part");
        store
            .put_part(part("pending", &pending.upload_id, 1), b, T0)
            .unwrap();
        assert_eq!(blob_files(dir.path()).len(), 1, "only the 100 KiB part");
        assert_eq!(
            inline_blobs(dir.path()),
            3,
            "small (shared by copy), tail, pending"
        );
        (objects, pending.upload_id)
    };

    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.recovery_report(), Default::default());
    for obj in &objects {
        let back = store.object("bk", &obj.key).unwrap().unwrap();
        assert_eq!(&back, obj);
        assert_eq!(crc64::checksum(&read_all(&store, &back)), obj.crc64);
    }
    let mut whole = big.clone();
    whole.extend_from_slice(b"tail");
    assert_eq!(get(&store, "multi"), whole);

    // Releasing the last reference drops the bytes; a shared blob stays for its other user.
    store.delete_object("bk", "small").unwrap();
    assert_eq!(get(&store, "copy"), bytes(4096, 60));
    store.delete_object("bk", "copy").unwrap();
    store.delete_object("bk", "multi").unwrap();
    store.abort_upload("bk", "pending", &upload_id).unwrap();
    assert_eq!(held(dir.path()), 0);
}

#[test]
fn recovery_counts_inline_blobs_and_drops_unreferenced_ones() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path()).unwrap();
        store.create_bucket("bk", T0).unwrap();
        put(&store, "a", b"inline body");
    }
    {
        let db = rusqlite::Connection::open(dir.path().join("meta.db")).unwrap();
        db.execute_batch(
            "UPDATE blobs SET refs = 3;
             INSERT INTO blobs (id, size, refs) VALUES ('00000000000000000000000000000000', 1, 1);
             INSERT INTO blob_bytes (id, data) VALUES ('00000000000000000000000000000000', x'01');",
        )
        .unwrap();
    }
    assert_eq!(inline_blobs(dir.path()), 2);
    let store = Store::open(dir.path()).unwrap();
    let report = store.recovery_report();
    assert_eq!(report.counts_repaired, 2);
    assert_eq!(report.missing_blobs, 0, "inline blobs have no file to miss");
    assert_eq!(report.orphan_blobs_removed, 0);
    assert_eq!(
        inline_blobs(dir.path()),
        1,
        "the unreferenced one went with its row"
    );
    assert_eq!(get(&store, "a"), b"inline body");
}

#[test]
fn a_version_1_data_dir_opens_and_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    let old = {
        let store = open_files_only(dir.path());
        store.create_bucket("bk", T0).unwrap();
        put(&store, "old", b"from before inline bodies")
    };
    {
        // What a version-1 server left: no blob_bytes table.
        let db = rusqlite::Connection::open(dir.path().join("meta.db")).unwrap();
        db.execute_batch("DROP TABLE blob_bytes; PRAGMA user_version = 1;")
            .unwrap();
    }
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.recovery_report(), Default::default());
    assert_eq!(store.object("bk", "old").unwrap().unwrap(), old);
    assert_eq!(get(&store, "old"), b"from before inline bodies");
    put(&store, "new", b"stored inline");
    assert_eq!(get(&store, "new"), b"stored inline");
    assert_eq!(
        (blob_files(dir.path()).len(), inline_blobs(dir.path())),
        (1, 1)
    );
    drop(store);
    let db = rusqlite::Connection::open(dir.path().join("meta.db")).unwrap();
    let version: i64 = db
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, 4);
}

#[test]
fn a_version_2_data_dir_gains_owners_acls_and_sequential_uploads() {
    let dir = tempfile::tempdir().unwrap();
    let (old, upload) = {
        let store = Store::open(dir.path()).unwrap();
        store.create_bucket("bk", T0).unwrap();
        let upload = store
            .create_upload(&initiate_req("bk", "mp", Default::default(), false), T0)
            .unwrap();
        (put(&store, "old", b"from version 2"), upload)
    };
    {
        // What a version-2 server left: no owner or ACL on buckets, no sequential flag.
        let db = rusqlite::Connection::open(dir.path().join("meta.db")).unwrap();
        db.execute_batch(
            "ALTER TABLE buckets DROP COLUMN owner; ALTER TABLE buckets DROP COLUMN acl;
             ALTER TABLE uploads DROP COLUMN sequential;
             ALTER TABLE upload_parts DROP COLUMN md5_chain; PRAGMA user_version = 2;",
        )
        .unwrap();
    }
    let store = Store::open(dir.path()).unwrap();
    let bucket = store.bucket("bk").unwrap().unwrap();
    assert_eq!(bucket.owner, osspart_server::config::DEFAULT_ACCOUNT_ID);
    assert_eq!(bucket.acl, osspart_protocol::attributes::Acl::Private);
    assert_eq!(store.object("bk", "old").unwrap().unwrap(), old);
    assert_eq!(store.upload("bk", "mp", &upload.upload_id).unwrap(), upload);
    assert!(store.create_bucket_for("bk", "other", None, T0).is_err());
    assert!(!store
        .create_bucket_for("bk", osspart_server::config::DEFAULT_ACCOUNT_ID, None, T0)
        .unwrap());
    drop(store);
    // Opening again changes nothing.
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.bucket("bk").unwrap().unwrap(), bucket);
    drop(store);
    let db = rusqlite::Connection::open(dir.path().join("meta.db")).unwrap();
    let version: i64 = db
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, 4);
}

#[test]
fn concurrent_writes_commit_together_and_a_failing_one_fails_alone() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store.create_bucket("bk", T0).unwrap();
    let threads: Vec<_> = (0..16u32)
        .map(|t| {
            let store = store.clone();
            std::thread::spawn(move || {
                for i in 0..25u32 {
                    let n = t * 100 + i;
                    let data = bytes(4096, n);
                    // Every fifth write fails (missing bucket); its neighbours must not.
                    let bucket = if i % 5 == 4 { "missing" } else { "bk" };
                    let b = blob(&store, &data);
                    let got = store.put_object(
                        &put_req(bucket, &format!("k{n}"), ObjectMeta::default(), false),
                        b,
                        T0,
                    );
                    if bucket == "bk" {
                        assert_eq!(got.unwrap().crc64, crc64::checksum(&data));
                    } else {
                        assert_eq!(code(got), ErrorCode::NoSuchBucket);
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    drop(store);
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.recovery_report(), Default::default());
    for t in 0..16u32 {
        for i in 0..25u32 {
            let n = t * 100 + i;
            let found = store.object("bk", &format!("k{n}")).unwrap();
            if i % 5 == 4 {
                assert!(found.is_none());
            } else {
                assert_eq!(read_all(&store, &found.unwrap()), bytes(4096, n));
            }
        }
    }
    assert_eq!(held(dir.path()), 16 * 20, "failed writes left nothing");
}

/// DeleteMultipleObjects is one transaction: a concurrent listing sees every named key or
/// none of them, and the answer says which keys existed.
#[test]
fn delete_objects_is_all_or_nothing() {
    let (_dir, store) = open();
    let keys: Vec<String> = (0..200).map(|i| format!("d/{i:03}")).collect();
    for k in &keys {
        put(&store, k, k.as_bytes());
    }
    put(&store, "kept", b"kept");
    let q = ObjectListing {
        prefix: "d/".into(),
        max_keys: 1000,
        ..listing()
    };
    let done = std::sync::atomic::AtomicBool::new(false);
    let seen = std::thread::scope(|scope| {
        let reader = scope.spawn(|| {
            let mut seen = BTreeSet::new();
            while !done.load(std::sync::atomic::Ordering::SeqCst) {
                seen.insert(store.list_objects("bk", &q).unwrap().entries.len());
            }
            seen
        });
        let mut named = keys.clone();
        named.push("missing".into());
        named.push("d/000".into());
        let existed = store.delete_objects("bk", named).unwrap();
        done.store(true, std::sync::atomic::Ordering::SeqCst);
        let mut want = vec![true; keys.len()];
        want.extend([false, false]);
        assert_eq!(existed, want);
        reader.join().unwrap()
    });
    assert!(seen.iter().all(|n| *n == 0 || *n == keys.len()), "{seen:?}");
    assert!(store.list_objects("bk", &q).unwrap().entries.is_empty());
    assert!(store.object("bk", "kept").unwrap().is_some());
    assert_eq!(
        code(store.delete_objects("nope", vec!["kept".into()])),
        ErrorCode::NoSuchBucket
    );
}
