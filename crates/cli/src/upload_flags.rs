//! How objects are written, as flags shared by `cp` and `sync` (uploads and copies): part
//! sizes and parallelism, metadata, and the typed object attributes OSS knows (storage class,
//! ACL, tagging, server-side encryption, caching headers, no-clobber). Everything is checked
//! here, before any request is sent.

use clap::{Args, ValueEnum};
use osspart::UploadOptions;

use crate::commands::parse_size;
use crate::exit::BadArguments;

/// Flags that shape the objects `cp` and `sync` write.
#[derive(Debug, Args, Clone)]
pub struct UploadArgs {
    /// Parts being sent (or fetched) at once, per file; an uploaded file part waits for its
    /// answer outside this count once it is all sent.
    #[arg(long, default_value_t = 5)]
    pub parallel: usize,
    /// Part size, e.g. 8MiB (100KiB..5GiB; raised automatically to fit 10,000 parts).
    #[arg(long, default_value = "8MiB", value_parser = parse_size)]
    pub part_size: u64,
    /// Files smaller than this go up as one PutObject (copies: one CopyObject), larger ones
    /// as a resumable multipart upload.
    #[arg(long, default_value = "8MiB", value_parser = parse_size)]
    pub multipart_threshold: u64,
    /// User metadata `k=v` (repeatable), sent as x-oss-meta-k.
    #[arg(long = "meta", value_name = "K=V")]
    pub meta: Vec<String>,
    /// Content-Type (default: guessed from the key's extension).
    #[arg(long)]
    pub content_type: Option<String>,
    /// Storage class of the new object.
    #[arg(long, value_enum, ignore_case = true)]
    pub storage_class: Option<StorageClass>,
    /// Access control of the new object.
    #[arg(long, value_enum)]
    pub acl: Option<ObjectAcl>,
    /// Tags `k=v&k2=v2` (up to 10; keys up to 128 bytes, values up to 256).
    #[arg(long, value_name = "K=V&...")]
    pub tagging: Option<String>,
    /// Server-side encryption.
    #[arg(long, value_enum, ignore_case = true)]
    pub sse: Option<Sse>,
    /// KMS key for --sse KMS.
    #[arg(long, value_name = "KEY_ID", requires = "sse")]
    pub sse_kms_key_id: Option<String>,
    /// Cache-Control header of the object, e.g. 'max-age=3600'.
    #[arg(long, value_name = "VALUE")]
    pub cache_control: Option<String>,
    /// Content-Disposition header of the object, e.g. 'attachment; filename="a.pdf"'.
    #[arg(long, value_name = "VALUE")]
    pub content_disposition: Option<String>,
    /// Expires header of the object: an HTTP date, or a time from now such as 7d or 12h.
    #[arg(long, value_name = "WHEN")]
    pub expires: Option<String>,
    /// Never replace an existing object (OSS's x-oss-forbid-overwrite).
    #[arg(long)]
    pub no_clobber: bool,
    /// Extra header `'Name: value'` (repeatable), for anything the flags above do not cover.
    #[arg(long = "header", value_name = "NAME: VALUE")]
    pub headers: Vec<String>,
    /// Send Content-MD5 with every part.
    #[arg(long)]
    pub content_md5: bool,
    /// Do not resume: abort any upload a checkpoint names and start over.
    #[arg(long)]
    pub restart: bool,
    /// Cap on the bytes per second of all transfers of the command together, e.g. 50MiB/s.
    #[arg(long, value_name = "RATE", value_parser = parse_rate)]
    pub bandwidth_limit: Option<u64>,
}

/// Parses `50MiB/s`, `512KiB/s` or a plain size per second.
fn parse_rate(s: &str) -> Result<u64, String> {
    let size = s.trim().strip_suffix("/s").unwrap_or(s.trim());
    match parse_size(size)? {
        0 => Err("the bandwidth limit must be above zero".into()),
        n => Ok(n),
    }
}

impl UploadArgs {
    /// Whether any flag sets the object's metadata or attributes (a copy then replaces the
    /// source's instead of keeping them).
    pub fn sets_object_attributes(&self) -> bool {
        !self.meta.is_empty()
            || self.content_type.is_some()
            || self.storage_class.is_some()
            || self.acl.is_some()
            || self.tagging.is_some()
            || self.sse.is_some()
            || self.cache_control.is_some()
            || self.content_disposition.is_some()
            || self.expires.is_some()
            || !self.headers.is_empty()
    }
}

/// OSS storage classes.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum StorageClass {
    /// Standard.
    #[value(name = "Standard")]
    Standard,
    /// Infrequent Access.
    #[value(name = "IA")]
    Ia,
    /// Archive.
    #[value(name = "Archive")]
    Archive,
    /// Cold Archive.
    #[value(name = "ColdArchive")]
    ColdArchive,
    /// Deep Cold Archive.
    #[value(name = "DeepColdArchive")]
    DeepColdArchive,
}

impl StorageClass {
    fn header(self) -> &'static str {
        match self {
            StorageClass::Standard => "Standard",
            StorageClass::Ia => "IA",
            StorageClass::Archive => "Archive",
            StorageClass::ColdArchive => "ColdArchive",
            StorageClass::DeepColdArchive => "DeepColdArchive",
        }
    }
}

/// Object ACLs.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ObjectAcl {
    /// Inherit the bucket's ACL.
    Default,
    /// Owner only.
    Private,
    /// Anyone may read.
    PublicRead,
    /// Anyone may read and write.
    PublicReadWrite,
}

impl ObjectAcl {
    fn header(self) -> &'static str {
        match self {
            ObjectAcl::Default => "default",
            ObjectAcl::Private => "private",
            ObjectAcl::PublicRead => "public-read",
            ObjectAcl::PublicReadWrite => "public-read-write",
        }
    }
}

/// Server-side encryption methods.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Sse {
    /// OSS-managed keys.
    #[value(name = "AES256")]
    Aes256,
    /// KMS-managed keys.
    #[value(name = "KMS")]
    Kms,
    /// SM4.
    #[value(name = "SM4")]
    Sm4,
}

impl Sse {
    fn header(self) -> &'static str {
        match self {
            Sse::Aes256 => "AES256",
            Sse::Kms => "KMS",
            Sse::Sm4 => "SM4",
        }
    }
}

/// Upload options from the flags (no checkpoint, progress or cancel yet).
pub fn options(args: &UploadArgs) -> anyhow::Result<UploadOptions> {
    let mut o = UploadOptions::default()
        .with_parallel(args.parallel)
        .with_part_size(args.part_size)
        .with_content_md5(args.content_md5)
        .with_restart_on_source_change(args.restart)
        .with_multipart_threshold(args.multipart_threshold);
    for m in &args.meta {
        let (k, v) = m
            .split_once('=')
            .ok_or_else(|| BadArguments(format!("--meta {m:?} is not k=v")))?;
        o.object.meta.push((k.trim().to_owned(), v.to_owned()));
    }
    let headers = &mut o.object.headers;
    if let Some(c) = args.storage_class {
        headers.push(("x-oss-storage-class".into(), c.header().into()));
    }
    if let Some(a) = args.acl {
        headers.push(("x-oss-object-acl".into(), a.header().into()));
    }
    if let Some(t) = &args.tagging {
        check_tagging(t)?;
        headers.push(("x-oss-tagging".into(), t.clone()));
    }
    if let Some(sse) = args.sse {
        headers.push(("x-oss-server-side-encryption".into(), sse.header().into()));
    }
    if let Some(key) = &args.sse_kms_key_id {
        if args.sse != Some(Sse::Kms) {
            return Err(BadArguments("--sse-kms-key-id needs --sse KMS".into()).into());
        }
        headers.push(("x-oss-server-side-encryption-key-id".into(), key.clone()));
    }
    if let Some(v) = &args.cache_control {
        headers.push(("Cache-Control".into(), v.clone()));
    }
    if let Some(v) = &args.content_disposition {
        headers.push(("Content-Disposition".into(), v.clone()));
    }
    if let Some(v) = &args.expires {
        headers.push(("Expires".into(), expires_header(v)?));
    }
    for h in &args.headers {
        let (k, v) = h
            .split_once(':')
            .ok_or_else(|| BadArguments(format!("--header {h:?} is not 'Name: value'")))?;
        headers.push((k.trim().to_owned(), v.trim().to_owned()));
    }
    o.object.mime = args.content_type.clone();
    o.object.forbid_overwrite = args.no_clobber;
    if let Some(rate) = args.bandwidth_limit {
        // One file: the budget only paces (its limits are the file's own parallelism).
        let budget =
            osspart::TransferBudget::new(args.parallel, args.parallel as u64 * args.part_size);
        o.budget = Some(budget.with_bandwidth_limit(rate));
    }
    Ok(o)
}

/// Checks `k=v&k2=v2` against OSS's tagging limits.
fn check_tagging(t: &str) -> Result<(), BadArguments> {
    let bad = |why: &str| BadArguments(format!("--tagging {t:?}: {why}"));
    let pairs: Vec<&str> = t.split('&').collect();
    if pairs.len() > 10 {
        return Err(bad("at most 10 tags"));
    }
    let mut keys = std::collections::BTreeSet::new();
    for pair in pairs {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        if k.is_empty() || k.len() > 128 {
            return Err(bad("each key must be 1 to 128 bytes"));
        }
        if v.len() > 256 {
            return Err(bad("each value must be at most 256 bytes"));
        }
        if !keys.insert(k) {
            return Err(bad("keys must differ"));
        }
    }
    Ok(())
}

/// An `Expires` header from an HTTP date, or from a time from now (`7d`, `12h`, `30m`).
fn expires_header(v: &str) -> Result<String, BadArguments> {
    if let Some(t) = osspart_protocol::time_fmt::parse_http_date(v) {
        return Ok(osspart_protocol::time_fmt::http_date(t));
    }
    let after = crate::commands::parse_age(v).map_err(|_| {
        BadArguments(format!(
            "--expires {v:?} is neither an HTTP date (Wed, 21 Oct 2026 07:28:00 GMT) nor a time \
             from now (7d, 12h)"
        ))
    })?;
    Ok(osspart_protocol::time_fmt::http_date(
        time::OffsetDateTime::now_utc() + after,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates() {
        assert_eq!(parse_rate("50MiB/s").unwrap(), 50 << 20);
        assert_eq!(parse_rate("1024").unwrap(), 1024);
        assert!(parse_rate("0/s").is_err());
        assert!(parse_rate("fast").is_err());
    }

    #[test]
    fn tagging_limits() {
        assert!(check_tagging("a=1&b=2").is_ok());
        assert!(check_tagging("a").is_ok());
        assert!(check_tagging("a=1&a=2").is_err());
        assert!(check_tagging("=1").is_err());
        assert!(check_tagging(&"k=v&".repeat(11)).is_err());
        assert!(check_tagging(&format!("{}=1", "k".repeat(129))).is_err());
    }

    #[test]
    fn expires_from_dates_and_durations() {
        assert_eq!(
            expires_header("Wed, 21 Oct 2026 07:28:00 GMT").unwrap(),
            "Wed, 21 Oct 2026 07:28:00 GMT"
        );
        assert!(expires_header("7d").unwrap().ends_with("GMT"));
        assert!(expires_header("next tuesday").is_err());
    }
}
