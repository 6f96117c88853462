//! The metadata database: schema and every query.
//!
//! Invariant: the database is the single source of truth for what exists. Keys are stored as
//! BLOBs so that every comparison and every `ORDER BY` is plain byte order (UTF-8 byte order
//! is what OSS listings promise), and each listing query is a bounded range over an index.
//! Foreign keys make a blob row impossible to delete while a segment or part still names it.

use rusqlite::types::{Type, Value};
use rusqlite::{params, params_from_iter, Connection, OptionalExtension, Row};
use time::OffsetDateTime;

use osspart_protocol::attributes::Acl;

use super::blobs::{BlobId, Layout};
use super::inline;
use super::listing::Seek;
use super::{
    BucketRow, ObjectMeta, ObjectRow, ObjectSummary, ObjectType, PartRow, Segment, StoreError,
    UploadRow,
};

/// Bumped when the schema changes. 2 added `blob_bytes` (inline bodies); a version-1 database
/// is upgraded on open by creating it, and then refused by older servers, whose recovery would
/// take inline blobs for missing files. 3 added bucket owners and ACLs and the sequential flag
/// of uploads; older buckets belong to the default account and stay private. 4 added the MD5
/// chain of a sequential upload's parts. Both are columns in [`MIGRATIONS`].
const SCHEMA_VERSION: i64 = 4;

/// Columns later versions added to tables of earlier ones: (version, table, column,
/// definition). Run only for a database older than that version (a new one gets them from
/// [`SCHEMA`]).
const MIGRATIONS: &[(i64, &str, &str, &str)] = &[
    (
        3,
        "buckets",
        "owner",
        "TEXT NOT NULL DEFAULT '1234567890123456'",
    ),
    (3, "buckets", "acl", "TEXT NOT NULL DEFAULT 'private'"),
    (3, "uploads", "sequential", "INTEGER NOT NULL DEFAULT 0"),
    (4, "upload_parts", "md5_chain", "BLOB"),
];

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS buckets (
    name        TEXT PRIMARY KEY,
    created_ns  INTEGER NOT NULL,
    cors        TEXT,
    owner       TEXT NOT NULL,
    acl         TEXT NOT NULL DEFAULT 'private'
);
CREATE TABLE IF NOT EXISTS blobs (
    id    TEXT PRIMARY KEY,
    size  INTEGER NOT NULL,
    refs  INTEGER NOT NULL CHECK (refs >= 0)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS objects (
    id           INTEGER PRIMARY KEY,
    bucket       TEXT NOT NULL REFERENCES buckets(name),
    key          BLOB NOT NULL,
    size         INTEGER NOT NULL,
    etag         TEXT NOT NULL,
    crc64        INTEGER NOT NULL,
    object_type  TEXT NOT NULL,
    modified_ns  INTEGER NOT NULL,
    content_md5  BLOB,
    meta         TEXT NOT NULL,
    UNIQUE (bucket, key)
);
CREATE TABLE IF NOT EXISTS object_parts (
    object_id  INTEGER NOT NULL REFERENCES objects(id),
    seq        INTEGER NOT NULL,
    blob       TEXT NOT NULL REFERENCES blobs(id),
    size       INTEGER NOT NULL,
    PRIMARY KEY (object_id, seq)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS object_parts_by_blob ON object_parts(blob);
CREATE TABLE IF NOT EXISTS uploads (
    upload_id         TEXT PRIMARY KEY,
    bucket            TEXT NOT NULL REFERENCES buckets(name),
    key               BLOB NOT NULL,
    initiated_ns      INTEGER NOT NULL,
    meta              TEXT NOT NULL,
    forbid_overwrite  INTEGER NOT NULL,
    sequential        INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS uploads_by_key ON uploads(bucket, key, upload_id);
CREATE TABLE IF NOT EXISTS upload_parts (
    upload_id    TEXT NOT NULL REFERENCES uploads(upload_id),
    part_number  INTEGER NOT NULL,
    blob         TEXT NOT NULL REFERENCES blobs(id),
    size         INTEGER NOT NULL,
    md5          BLOB NOT NULL,
    crc64        INTEGER NOT NULL,
    modified_ns  INTEGER NOT NULL,
    md5_chain    BLOB,
    PRIMARY KEY (upload_id, part_number)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS upload_parts_by_blob ON upload_parts(blob);
";

/// Opens a read-only connection to the database (after [`open`] created it). Under WAL, reads
/// on such connections proceed while the writer commits.
pub(crate) fn open_reader(layout: &Layout) -> Result<Connection, StoreError> {
    let flags =
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(layout.db_path(), flags)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

/// Opens (creating if needed) the database with durable settings and the current schema.
pub(crate) fn open(layout: &Layout) -> Result<Connection, StoreError> {
    let mut conn = Connection::open(layout.db_path())?;
    let mode: String =
        conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Corrupt(format!(
            "database refused WAL mode (got {mode})"
        )));
    }
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", true)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    conn.set_prepared_statement_cache_capacity(64);
    let version: i64 = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
    if version > SCHEMA_VERSION {
        return Err(StoreError::Corrupt(format!(
            "database schema version {version} is newer than this server ({SCHEMA_VERSION})"
        )));
    }
    let tx = conn.transaction()?;
    let existing = tx
        .prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'buckets'")?
        .exists([])?;
    if existing {
        for (since, table, column, definition) in MIGRATIONS {
            if version < *since && !has_column(&tx, table, column)? {
                tx.execute_batch(&format!(
                    "ALTER TABLE {table} ADD COLUMN {column} {definition}"
                ))?;
            }
        }
    }
    tx.execute_batch(SCHEMA)?;
    tx.execute_batch(inline::SCHEMA)?;
    tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    tx.commit()?;
    Ok(conn)
}

/// Whether `table` has a column named `column`.
fn has_column(conn: &Connection, table: &str, column: &str) -> Result<bool, StoreError> {
    let mut stmt = conn.prepare(&format!("PRAGMA table_info({table})"))?;
    let names = stmt
        .query_map([], |row| row.get::<_, String>(1))?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(names.iter().any(|n| n == column))
}

// ---- conversions ---------------------------------------------------------------------------

fn conversion_error(
    col: usize,
    ty: Type,
    e: impl std::error::Error + Send + Sync + 'static,
) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(col, ty, Box::new(e))
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct BadValue(String);

pub(crate) fn nanos(t: OffsetDateTime) -> i64 {
    // i64 nanoseconds cover the years 1677..2262.
    t.unix_timestamp_nanos() as i64
}

fn time_col(row: &Row<'_>, col: usize) -> rusqlite::Result<OffsetDateTime> {
    let ns: i64 = row.get(col)?;
    OffsetDateTime::from_unix_timestamp_nanos(ns as i128)
        .map_err(|e| conversion_error(col, Type::Integer, e))
}

fn key_col(row: &Row<'_>, col: usize) -> rusqlite::Result<String> {
    let bytes: Vec<u8> = row.get(col)?;
    String::from_utf8(bytes).map_err(|e| conversion_error(col, Type::Blob, e))
}

fn blob_col(row: &Row<'_>, col: usize) -> rusqlite::Result<BlobId> {
    let text: String = row.get(col)?;
    BlobId::parse(&text)
        .ok_or_else(|| conversion_error(col, Type::Text, BadValue(format!("bad blob id {text:?}"))))
}

fn u64_col(row: &Row<'_>, col: usize) -> rusqlite::Result<u64> {
    // Sizes and CRCs are stored as the i64 with the same bits.
    Ok(row.get::<_, i64>(col)? as u64)
}

fn md5_col(row: &Row<'_>, col: usize) -> rusqlite::Result<[u8; 16]> {
    let bytes: Vec<u8> = row.get(col)?;
    bytes
        .try_into()
        .map_err(|_| conversion_error(col, Type::Blob, BadValue("MD5 is not 16 bytes".into())))
}

fn meta_col(row: &Row<'_>, col: usize) -> rusqlite::Result<ObjectMeta> {
    let text: String = row.get(col)?;
    serde_json::from_str(&text).map_err(|e| conversion_error(col, Type::Text, e))
}

fn type_col(row: &Row<'_>, col: usize) -> rusqlite::Result<ObjectType> {
    let text: String = row.get(col)?;
    ObjectType::parse(&text).ok_or_else(|| {
        conversion_error(
            col,
            Type::Text,
            BadValue(format!("bad object type {text:?}")),
        )
    })
}

#[allow(clippy::expect_used)] // a struct of strings, flags and string pairs always serialises
fn meta_json(meta: &ObjectMeta) -> String {
    serde_json::to_string(meta).expect("ObjectMeta always serialises")
}

// ---- buckets -------------------------------------------------------------------------------

const BUCKET_COLUMNS: &str = "name, created_ns, owner, acl";

fn bucket_from_row(row: &Row<'_>) -> rusqlite::Result<BucketRow> {
    let acl: String = row.get(3)?;
    Ok(BucketRow {
        name: row.get(0)?,
        created: time_col(row, 1)?,
        owner: row.get(2)?,
        acl: Acl::parse_bucket(&acl).ok_or_else(|| {
            conversion_error(3, Type::Text, BadValue(format!("bad bucket ACL {acl:?}")))
        })?,
    })
}

pub(crate) fn bucket(conn: &Connection, name: &str) -> Result<Option<BucketRow>, StoreError> {
    let sql = format!("SELECT {BUCKET_COLUMNS} FROM buckets WHERE name = ?1");
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([name], bucket_from_row)
        .optional()?)
}

/// Sets the bucket's ACL; false when the bucket is missing.
pub(crate) fn set_bucket_acl(conn: &Connection, name: &str, acl: Acl) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached("UPDATE buckets SET acl = ?2 WHERE name = ?1")?
        .execute(params![name, acl.as_str()])?
        == 1)
}

/// `NoSuchBucket` unless the bucket exists.
pub(crate) fn require_bucket(conn: &Connection, name: &str) -> Result<(), StoreError> {
    let found = conn
        .prepare_cached("SELECT 1 FROM buckets WHERE name = ?1")?
        .exists([name])?;
    if found {
        Ok(())
    } else {
        Err(StoreError::no_such_bucket(name))
    }
}

pub(crate) fn insert_bucket(
    conn: &Connection,
    name: &str,
    owner: &str,
    acl: Acl,
    now: OffsetDateTime,
) -> Result<bool, StoreError> {
    let n = conn
        .prepare_cached(
            "INSERT INTO buckets (name, created_ns, owner, acl) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT DO NOTHING",
        )?
        .execute(params![name, nanos(now), owner, acl.as_str()])?;
    Ok(n == 1)
}

pub(crate) fn list_buckets(conn: &Connection) -> Result<Vec<BucketRow>, StoreError> {
    let sql = format!("SELECT {BUCKET_COLUMNS} FROM buckets ORDER BY name");
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map([], bucket_from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Whether the bucket holds any object or in-progress upload.
pub(crate) fn bucket_in_use(conn: &Connection, name: &str) -> Result<bool, StoreError> {
    let objects = conn
        .prepare_cached("SELECT 1 FROM objects WHERE bucket = ?1 LIMIT 1")?
        .exists([name])?;
    let uploads = conn
        .prepare_cached("SELECT 1 FROM uploads WHERE bucket = ?1 LIMIT 1")?
        .exists([name])?;
    Ok(objects || uploads)
}

pub(crate) fn delete_bucket(conn: &Connection, name: &str) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached("DELETE FROM buckets WHERE name = ?1")?
        .execute([name])?
        == 1)
}

/// Sets (or with `None` clears) the CORS document; false when the bucket is missing.
pub(crate) fn set_cors(
    conn: &Connection,
    bucket: &str,
    xml: Option<&str>,
) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached("UPDATE buckets SET cors = ?2 WHERE name = ?1")?
        .execute(params![bucket, xml])?
        == 1)
}

/// `None` when the bucket is missing, `Some(None)` when it has no CORS document.
pub(crate) fn cors(conn: &Connection, bucket: &str) -> Result<Option<Option<String>>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT cors FROM buckets WHERE name = ?1")?
        .query_row([bucket], |row| row.get(0))
        .optional()?)
}

// ---- objects -------------------------------------------------------------------------------

const OBJECT_COLUMNS: &str =
    "id, key, size, etag, crc64, object_type, modified_ns, content_md5, meta, bucket";

/// An object row without its manifest, plus its row id.
fn object_from_row(row: &Row<'_>) -> rusqlite::Result<(i64, ObjectRow)> {
    let md5: Option<Vec<u8>> = row.get(7)?;
    let content_md5 = match md5 {
        None => None,
        Some(bytes) => Some(bytes.try_into().map_err(|_| {
            conversion_error(7, Type::Blob, BadValue("MD5 is not 16 bytes".into()))
        })?),
    };
    Ok((
        row.get(0)?,
        ObjectRow {
            bucket: row.get(9)?,
            key: key_col(row, 1)?,
            size: u64_col(row, 2)?,
            etag: row.get(3)?,
            crc64: u64_col(row, 4)?,
            object_type: type_col(row, 5)?,
            last_modified: time_col(row, 6)?,
            content_md5,
            meta: meta_col(row, 8)?,
            manifest: Vec::new(),
        },
    ))
}

/// The object (without manifest) and its row id.
pub(crate) fn object_head(
    conn: &Connection,
    bucket: &str,
    key: &str,
) -> Result<Option<(i64, ObjectRow)>, StoreError> {
    let sql = format!("SELECT {OBJECT_COLUMNS} FROM objects WHERE bucket = ?1 AND key = ?2");
    Ok(conn
        .prepare_cached(&sql)?
        .query_row(params![bucket, key.as_bytes()], object_from_row)
        .optional()?)
}

pub(crate) fn object_exists(
    conn: &Connection,
    bucket: &str,
    key: &str,
) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM objects WHERE bucket = ?1 AND key = ?2")?
        .exists(params![bucket, key.as_bytes()])?)
}

pub(crate) fn object_id(
    conn: &Connection,
    bucket: &str,
    key: &str,
) -> Result<Option<i64>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT id FROM objects WHERE bucket = ?1 AND key = ?2")?
        .query_row(params![bucket, key.as_bytes()], |row| row.get(0))
        .optional()?)
}

/// The object's segments in order.
pub(crate) fn manifest(conn: &Connection, object_id: i64) -> Result<Vec<Segment>, StoreError> {
    let mut stmt = conn
        .prepare_cached("SELECT blob, size FROM object_parts WHERE object_id = ?1 ORDER BY seq")?;
    let rows = stmt.query_map([object_id], |row| {
        Ok(Segment {
            blob: blob_col(row, 0)?,
            size: u64_col(row, 1)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Inserts the object and its manifest. The manifest's blobs must already hold the
/// reference this object takes.
pub(crate) fn insert_object(conn: &Connection, obj: &ObjectRow) -> Result<i64, StoreError> {
    let id: i64 = conn
        .prepare_cached(
            "INSERT INTO objects
                (bucket, key, size, etag, crc64, object_type, modified_ns, content_md5, meta)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) RETURNING id",
        )?
        .query_row(
            params![
                obj.bucket,
                obj.key.as_bytes(),
                obj.size as i64,
                obj.etag,
                obj.crc64 as i64,
                obj.object_type.as_str(),
                nanos(obj.last_modified),
                obj.content_md5.as_ref().map(|m| m.as_slice()),
                meta_json(&obj.meta),
            ],
            |row| row.get(0),
        )?;
    let mut stmt = conn.prepare_cached(
        "INSERT INTO object_parts (object_id, seq, blob, size) VALUES (?1, ?2, ?3, ?4)",
    )?;
    for (seq, seg) in obj.manifest.iter().enumerate() {
        stmt.execute(params![id, seq as i64, seg.blob.as_str(), seg.size as i64])?;
    }
    Ok(id)
}

/// Adds `segment` at the end of object `object_id`'s manifest and sets its size, ETag,
/// CRC-64 and time to `obj`'s. The segment's blob must already hold the reference the object
/// takes.
pub(crate) fn append_segment(
    conn: &Connection,
    object_id: i64,
    segment: &Segment,
    obj: &ObjectRow,
) -> Result<(), StoreError> {
    let next: i64 = conn
        .prepare_cached("SELECT coalesce(max(seq) + 1, 0) FROM object_parts WHERE object_id = ?1")?
        .query_row([object_id], |row| row.get(0))?;
    conn.prepare_cached(
        "INSERT INTO object_parts (object_id, seq, blob, size) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![
        object_id,
        next,
        segment.blob.as_str(),
        segment.size as i64
    ])?;
    conn.prepare_cached(
        "UPDATE objects SET size = ?2, etag = ?3, crc64 = ?4, modified_ns = ?5 WHERE id = ?1",
    )?
    .execute(params![
        object_id,
        obj.size as i64,
        obj.etag,
        obj.crc64 as i64,
        nanos(obj.last_modified),
    ])?;
    Ok(())
}

/// Replaces the stored metadata of object `object_id`.
pub(crate) fn set_object_meta(
    conn: &Connection,
    object_id: i64,
    meta: &ObjectMeta,
) -> Result<(), StoreError> {
    conn.prepare_cached("UPDATE objects SET meta = ?2 WHERE id = ?1")?
        .execute(params![object_id, meta_json(meta)])?;
    Ok(())
}

/// Deletes the object row and its manifest; returns the blobs it referenced (to release).
pub(crate) fn delete_object(conn: &Connection, object_id: i64) -> Result<Vec<BlobId>, StoreError> {
    let blobs: Vec<BlobId> = manifest(conn, object_id)?
        .into_iter()
        .map(|s| s.blob)
        .collect();
    conn.prepare_cached("DELETE FROM object_parts WHERE object_id = ?1")?
        .execute([object_id])?;
    conn.prepare_cached("DELETE FROM objects WHERE id = ?1")?
        .execute([object_id])?;
    Ok(blobs)
}

/// Appends `text` to `sql` with `$` replaced by the placeholder of `value`, bound next.
fn bind(sql: &mut String, args: &mut Vec<Value>, text: &str, value: Value) {
    args.push(value);
    sql.push_str(&text.replace('$', &format!("?{}", args.len())));
}

/// Appends the range conditions of a listing query (`key` from `seek`, below `end`) and its
/// ORDER BY / LIMIT. `tie` names the column that orders the entries of one key (uploads:
/// `upload_id`) and splits a position into key and tie value; objects have none.
#[allow(clippy::type_complexity)]
fn range_query<C>(
    sql: &mut String,
    args: &mut Vec<Value>,
    seek: &Seek<C>,
    tie: Option<(&str, &dyn Fn(&C) -> (Vec<u8>, String))>,
    key_of: &dyn Fn(&C) -> Vec<u8>,
    end: Option<&[u8]>,
    limit: usize,
) {
    match seek {
        Seek::From(b) => bind(sql, args, " AND key >= $", Value::Blob(b.clone())),
        Seek::Past(b) => bind(sql, args, " AND key > $", Value::Blob(b.clone())),
        Seek::After(pos) => match tie {
            None => bind(sql, args, " AND key > $", Value::Blob(key_of(pos))),
            Some((column, split)) => {
                let (key, id) = split(pos);
                // `key >= ?` drives the index; the rest drops the marker key's earlier rows.
                bind(sql, args, " AND key >= $", Value::Blob(key));
                let key_param = args.len();
                let text = format!(" AND (key > ?{key_param} OR {column} > $)");
                bind(sql, args, &text, Value::Text(id));
            }
        },
    }
    if let Some(end) = end {
        bind(sql, args, " AND key < $", Value::Blob(end.to_vec()));
    }
    let order = match tie {
        Some((column, _)) => format!(" ORDER BY key, {column} LIMIT $"),
        None => " ORDER BY key LIMIT $".to_owned(),
    };
    bind(sql, args, &order, Value::Integer(limit as i64));
}

/// The SQL and arguments of [`list_objects`].
fn objects_query(
    bucket: &str,
    seek: &Seek<String>,
    end: Option<&[u8]>,
    limit: usize,
) -> (String, Vec<Value>) {
    let mut sql = String::from(
        "SELECT key, size, etag, object_type, modified_ns FROM objects WHERE bucket = ?1",
    );
    let mut args = vec![Value::Text(bucket.to_owned())];
    let key_of = |k: &String| k.as_bytes().to_vec();
    range_query(&mut sql, &mut args, seek, None, &key_of, end, limit);
    (sql, args)
}

/// Objects of `bucket` in key order from `seek`, below `end`, at most `limit`.
pub(crate) fn list_objects(
    conn: &Connection,
    bucket: &str,
    seek: &Seek<String>,
    end: Option<&[u8]>,
    limit: usize,
) -> Result<Vec<ObjectSummary>, StoreError> {
    let (sql, args) = objects_query(bucket, seek, end, limit);
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(params_from_iter(args), |row| {
        Ok(ObjectSummary {
            key: key_col(row, 0)?,
            size: u64_col(row, 1)?,
            etag: row.get(2)?,
            object_type: type_col(row, 3)?,
            last_modified: time_col(row, 4)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

// ---- uploads -------------------------------------------------------------------------------

const UPLOAD_COLUMNS: &str =
    "bucket, key, upload_id, initiated_ns, meta, forbid_overwrite, sequential";

fn upload_from_row(row: &Row<'_>) -> rusqlite::Result<UploadRow> {
    Ok(UploadRow {
        bucket: row.get(0)?,
        key: key_col(row, 1)?,
        upload_id: row.get(2)?,
        initiated: time_col(row, 3)?,
        meta: meta_col(row, 4)?,
        forbid_overwrite: row.get(5)?,
        sequential: row.get(6)?,
    })
}

pub(crate) fn insert_upload(conn: &Connection, up: &UploadRow) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO uploads
            (bucket, key, upload_id, initiated_ns, meta, forbid_overwrite, sequential)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        up.bucket,
        up.key.as_bytes(),
        up.upload_id,
        nanos(up.initiated),
        meta_json(&up.meta),
        up.forbid_overwrite,
        up.sequential,
    ])?;
    Ok(())
}

pub(crate) fn upload(conn: &Connection, upload_id: &str) -> Result<Option<UploadRow>, StoreError> {
    let sql = format!("SELECT {UPLOAD_COLUMNS} FROM uploads WHERE upload_id = ?1");
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([upload_id], upload_from_row)
        .optional()?)
}

/// The bucket and key of upload `upload_id`, without decoding its metadata.
pub(crate) fn upload_owner(
    conn: &Connection,
    upload_id: &str,
) -> Result<Option<(String, String)>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT bucket, key FROM uploads WHERE upload_id = ?1")?
        .query_row([upload_id], |row| Ok((row.get(0)?, key_col(row, 1)?)))
        .optional()?)
}

/// The largest upload id in use (ids sort in creation order).
pub(crate) fn last_upload_id(conn: &Connection) -> Result<Option<String>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT max(upload_id) FROM uploads")?
        .query_row([], |row| row.get(0))?)
}

/// The blobs of every part of the upload.
pub(crate) fn part_blobs(conn: &Connection, upload_id: &str) -> Result<Vec<BlobId>, StoreError> {
    let mut stmt = conn.prepare_cached("SELECT blob FROM upload_parts WHERE upload_id = ?1")?;
    let blobs = stmt
        .query_map([upload_id], |row| blob_col(row, 0))?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(blobs)
}

/// Deletes the upload and its parts (their blobs' references are the caller's business).
pub(crate) fn delete_upload(conn: &Connection, upload_id: &str) -> Result<(), StoreError> {
    conn.prepare_cached("DELETE FROM upload_parts WHERE upload_id = ?1")?
        .execute([upload_id])?;
    conn.prepare_cached("DELETE FROM uploads WHERE upload_id = ?1")?
        .execute([upload_id])?;
    Ok(())
}

/// The SQL and arguments of [`list_uploads`].
fn uploads_query(
    bucket: &str,
    seek: &Seek<(String, String)>,
    end: Option<&[u8]>,
    limit: usize,
) -> (String, Vec<Value>) {
    let mut sql = format!("SELECT {UPLOAD_COLUMNS} FROM uploads WHERE bucket = ?1");
    let mut args = vec![Value::Text(bucket.to_owned())];
    let split = |(k, id): &(String, String)| (k.as_bytes().to_vec(), id.clone());
    let key_of = |(k, _): &(String, String)| k.as_bytes().to_vec();
    range_query(
        &mut sql,
        &mut args,
        seek,
        Some(("upload_id", &split)),
        &key_of,
        end,
        limit,
    );
    (sql, args)
}

/// In-progress uploads of `bucket` in (key, upload id) order from `seek`, below `end`.
pub(crate) fn list_uploads(
    conn: &Connection,
    bucket: &str,
    seek: &Seek<(String, String)>,
    end: Option<&[u8]>,
    limit: usize,
) -> Result<Vec<UploadRow>, StoreError> {
    let (sql, args) = uploads_query(bucket, seek, end, limit);
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(params_from_iter(args), upload_from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

// ---- parts ---------------------------------------------------------------------------------

/// A part as stored, with what completion needs.
#[derive(Debug, Clone)]
pub(crate) struct StoredPart {
    pub(crate) number: u32,
    pub(crate) blob: BlobId,
    pub(crate) size: u64,
    pub(crate) md5: [u8; 16],
    pub(crate) crc64: u64,
    /// Sequential uploads: the MD5 state over parts 1 up to this one.
    pub(crate) md5_chain: Option<Vec<u8>>,
}

/// The blob currently stored for one part number (primary-key lookup).
pub(crate) fn part_blob(
    conn: &Connection,
    upload_id: &str,
    part_number: u32,
) -> Result<Option<BlobId>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT blob FROM upload_parts WHERE upload_id = ?1 AND part_number = ?2")?
        .query_row(params![upload_id, part_number], |row| blob_col(row, 0))
        .optional()?)
}

/// The MD5 chain stored with one part: `None` when the part is missing, `Some(None)` when it
/// has no chain.
pub(crate) fn part_md5_chain(
    conn: &Connection,
    upload_id: &str,
    part_number: u32,
) -> Result<Option<Option<Vec<u8>>>, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT md5_chain FROM upload_parts WHERE upload_id = ?1 AND part_number = ?2",
        )?
        .query_row(params![upload_id, part_number], |row| row.get(0))
        .optional()?)
}

/// The highest part number uploaded so far, if any.
pub(crate) fn last_part_number(
    conn: &Connection,
    upload_id: &str,
) -> Result<Option<u32>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT max(part_number) FROM upload_parts WHERE upload_id = ?1")?
        .query_row([upload_id], |row| row.get(0))?)
}

/// Whether upload `upload_id` was initiated with `?sequential`; `None` when it is unknown.
pub(crate) fn upload_is_sequential(
    conn: &Connection,
    upload_id: &str,
) -> Result<Option<bool>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT sequential FROM uploads WHERE upload_id = ?1")?
        .query_row([upload_id], |row| row.get(0))
        .optional()?)
}

/// Inserts or replaces one part.
pub(crate) fn upsert_part(
    conn: &Connection,
    upload_id: &str,
    part: &StoredPart,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO upload_parts
            (upload_id, part_number, blob, size, md5, crc64, modified_ns, md5_chain)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
         ON CONFLICT (upload_id, part_number) DO UPDATE SET
            blob = excluded.blob, size = excluded.size, md5 = excluded.md5,
            crc64 = excluded.crc64, modified_ns = excluded.modified_ns,
            md5_chain = excluded.md5_chain",
    )?
    .execute(params![
        upload_id,
        part.number,
        part.blob.as_str(),
        part.size as i64,
        part.md5.as_slice(),
        part.crc64 as i64,
        nanos(now),
        part.md5_chain.as_deref(),
    ])?;
    Ok(())
}

/// Parts numbered above `after`, ascending, at most `limit`.
pub(crate) fn list_parts(
    conn: &Connection,
    upload_id: &str,
    after: u32,
    limit: usize,
) -> Result<Vec<PartRow>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT part_number, size, md5, crc64, modified_ns FROM upload_parts
         WHERE upload_id = ?1 AND part_number > ?2 ORDER BY part_number LIMIT ?3",
    )?;
    let rows = stmt.query_map(params![upload_id, after, limit as i64], |row| {
        Ok(PartRow {
            part_number: row.get(0)?,
            size: u64_col(row, 1)?,
            etag: osspart_protocol::etag::of_md5(&md5_col(row, 2)?),
            crc64: u64_col(row, 3)?,
            last_modified: time_col(row, 4)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Every part of the upload, ascending by number.
pub(crate) fn all_parts(conn: &Connection, upload_id: &str) -> Result<Vec<StoredPart>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT part_number, blob, size, md5, crc64, md5_chain FROM upload_parts
         WHERE upload_id = ?1 ORDER BY part_number",
    )?;
    let rows = stmt.query_map([upload_id], |row| {
        Ok(StoredPart {
            number: row.get(0)?,
            blob: blob_col(row, 1)?,
            size: u64_col(row, 2)?,
            md5: md5_col(row, 3)?,
            crc64: u64_col(row, 4)?,
            md5_chain: row.get(5)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The query plan's steps, e.g. "SEARCH objects USING INDEX ...".
    fn plan(conn: &Connection, sql: &str, args: Vec<Value>) -> Vec<String> {
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let rows = stmt
            .query_map(params_from_iter(args), |row| row.get::<_, String>(3))
            .unwrap();
        rows.map(Result::unwrap).collect()
    }

    fn assert_no_scan(conn: &Connection, sql: &str, args: Vec<Value>) {
        let steps = plan(conn, sql, args);
        assert!(
            steps
                .iter()
                .all(|s| !s.starts_with("SCAN") && !s.contains("TEMP B-TREE")),
            "{sql}\n{steps:?}"
        );
    }

    #[test]
    fn hot_queries_seek_an_index_and_never_sort() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        layout.create_dirs().unwrap();
        let conn = open(&layout).unwrap();
        let text = |s: &str| Value::Text(s.to_owned());
        let blob = |s: &str| Value::Blob(s.as_bytes().to_vec());

        for seek in [
            Seek::From(b"a".to_vec()),
            Seek::Past(b"a".to_vec()),
            Seek::After("a/b".to_owned()),
        ] {
            for end in [None, Some(&b"b"[..])] {
                let (sql, args) = objects_query("bk", &seek, end, 10);
                assert_no_scan(&conn, &sql, args);
            }
        }
        for seek in [
            Seek::From(b"a".to_vec()),
            Seek::Past(b"a".to_vec()),
            Seek::After(("a/b".to_owned(), "0001".to_owned())),
        ] {
            for end in [None, Some(&b"b"[..])] {
                let (sql, args) = uploads_query("bk", &seek, end, 10);
                assert_no_scan(&conn, &sql, args);
            }
        }
        let point_lookups: [(&str, Vec<Value>); 6] = [
            (
                "SELECT blob FROM upload_parts WHERE upload_id = ?1 AND part_number = ?2",
                vec![text("u"), Value::Integer(3)],
            ),
            (
                "SELECT part_number, size, md5, crc64, modified_ns FROM upload_parts
                 WHERE upload_id = ?1 AND part_number > ?2 ORDER BY part_number LIMIT ?3",
                vec![text("u"), Value::Integer(3), Value::Integer(10)],
            ),
            (
                "SELECT id FROM objects WHERE bucket = ?1 AND key = ?2",
                vec![text("bk"), blob("k")],
            ),
            (
                "SELECT 1 FROM uploads WHERE bucket = ?1 LIMIT 1",
                vec![text("bk")],
            ),
            (
                "SELECT blob FROM object_parts WHERE blob = ?1",
                vec![text("0123")],
            ),
            (
                "SELECT blob FROM upload_parts WHERE blob = ?1",
                vec![text("0123")],
            ),
        ];
        for (sql, args) in point_lookups {
            assert_no_scan(&conn, sql, args);
        }
    }
}
