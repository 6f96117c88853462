//! Hostile input corpus: several hundred malformed or malicious requests, generated from a few
//! templates, each sent to one seeded server.
//!
//! Every case states the answer it must get: an OSS error (status and `<Code>`, with the
//! request-id and Date headers every answer carries), a normal answer where OSS is lenient
//! (a malformed `Range` is ignored), or — only for requests that break HTTP/1.1 framing itself
//! (request line, header syntax, `Content-Length`, header-size limits) — hyper's own bare
//! `4xx` or a closed connection, since those never reach the OSS layer. After every case the
//! server must still answer, no answer may be a `5xx` other than the spec's `NotImplemented`
//! (501) for sub-resources this server does not implement, and a snapshot of the store
//! (buckets, objects and ETags, uploads and parts, CORS rules, `tmp/` and the blob file
//! count) must equal the one taken before the case ran.

use std::fmt::Write as _;
use std::net::SocketAddr;

use osspart_protocol::encoding::encode_component;
use osspart_protocol::time_fmt;
use time::{Duration, OffsetDateTime};

use crate::support::{
    between_all, etag_of, pattern, send_bytes, send_bytes_then_eof, snapshot, Req, Resp, Sign,
    TestServer, Wire, KEY_ID, SECRET,
};

const B: &str = "hostile";
/// Size of the seeded object `existing`.
const EXISTING_LEN: usize = 1000;
/// A temporary (STS) credential the server knows, with its token.
const STS_ID: &str = "STS.hostile";
const STS_SECRET: &str = "sts-secret";
const STS_TOKEN: &str = "sts-token-for-hostile";
/// An STS key that expired before the corpus runs.
const STS_EXPIRED_ID: &str = "STS.hostile-expired";

/// What a case must get back.
#[derive(Debug, Clone)]
enum Expect {
    /// An OSS error with this status and code.
    Oss(u16, &'static str),
    /// Refused by hyper's HTTP/1.1 parser before the request reaches the OSS layer: one of
    /// these statuses with no OSS error body, or the connection closed without an answer
    /// (status 0). Only used for framing-level breakage.
    Framing(&'static [u16]),
    /// Served normally with this status (a lenient OSS behaviour, or a read that must not fail).
    Status(u16),
    /// `200` with the whole of the seeded object `existing` (a Range OSS ignores).
    WholeObject,
    /// A request body that breaks its own framing mid-way: `IncompleteBody` if the server
    /// could still answer, else hyper's bare 400 or a closed connection.
    BodyFailure,
}

/// How a case goes on the wire.
enum Send {
    /// A request built and signed by the test client, possibly tampered with.
    Wire(Wire),
    /// Raw bytes, for what the client cannot produce (broken request lines, bad escapes).
    Raw(Vec<u8>),
    /// Raw bytes, then the client stops sending (half-close), as a client that dies mid-body.
    RawThenEof(Vec<u8>),
}

struct Case {
    category: &'static str,
    name: String,
    send: Send,
    expect: Expect,
}

/// Builds a fresh request of one kind, for templates applied to several operations.
type MakeReq = Box<dyn Fn(&Corpus) -> Req>;

/// Collects the cases of the corpus.
struct Corpus<'a> {
    s: &'a TestServer,
    upload_id: String,
    /// The seeded sequential upload.
    seq_upload_id: Option<String>,
    cases: Vec<Case>,
}

impl<'a> Corpus<'a> {
    fn req(&self, method: &str, bucket: Option<&str>, key: Option<&str>) -> Req {
        self.s.req(method, bucket, key)
    }

    fn add(&mut self, category: &'static str, name: impl Into<String>, req: Req, expect: Expect) {
        self.wire(category, name, req.wire(), expect);
    }

    fn wire(&mut self, category: &'static str, name: impl Into<String>, w: Wire, expect: Expect) {
        self.cases.push(Case {
            category,
            name: name.into(),
            send: Send::Wire(w),
            expect,
        });
    }

    fn raw(&mut self, category: &'static str, name: impl Into<String>, raw: Vec<u8>, e: Expect) {
        self.cases.push(Case {
            category,
            name: name.into(),
            send: Send::Raw(raw),
            expect: e,
        });
    }

    /// An unsigned raw request with this request line target and extra header lines.
    fn raw_request(&self, method: &str, target: &str, headers: &str, body: &[u8]) -> Vec<u8> {
        let mut out = format!(
            "{method} {target} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: {}\r\n{headers}\r\n",
            self.s.addr,
            body.len()
        )
        .into_bytes();
        out.extend_from_slice(body);
        out
    }

    /// POST CompleteMultipartUpload on the seeded upload.
    fn complete(&self, body: impl Into<Vec<u8>>) -> Req {
        self.req("POST", Some(B), Some("big"))
            .query("uploadId", &self.upload_id)
            .body(body)
    }
}

fn oss(status: u16, code: &'static str) -> Expect {
    Expect::Oss(status, code)
}

const MALFORMED_XML: Expect = Expect::Oss(400, "MalformedXML");
const INVALID_ARGUMENT: Expect = Expect::Oss(400, "InvalidArgument");
const INVALID_URI: Expect = Expect::Oss(400, "InvalidURI");
const FRAMING_400: Expect = Expect::Framing(&[400]);

/// Bodies that are not acceptable XML whatever document is expected: broken syntax, DTDs and
/// entity tricks, excessive size or depth, bad encodings. `root` names the expected document
/// element and `inner` is valid content for it, so that only the hostile part is wrong.
fn hostile_xml(root: &str, inner: &str) -> Vec<(String, Vec<u8>)> {
    let doc = |s: String| s.into_bytes();
    let mut laughs = String::from("<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\">");
    for i in 1..10 {
        let prev = if i == 1 {
            "lol".to_owned()
        } else {
            format!("lol{}", i - 1)
        };
        let refs = format!("&{prev};").repeat(10);
        write!(laughs, "<!ENTITY lol{i} \"{refs}\">").unwrap();
    }
    write!(laughs, "]><{root}>{inner}<X>&lol9;</X></{root}>").unwrap();
    let deep = |n: usize| format!("<{root}>{}{}</{root}>", "<a>".repeat(n), "</a>".repeat(n));
    let mut huge = format!("<{root}>{inner}");
    while huge.len() <= osspart_protocol::limits::MAX_XML_BODY {
        huge.push_str("<Filler>xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx</Filler>");
    }
    huge.push_str(&format!("</{root}>"));
    let many_attrs: String = (0..5000).map(|i| format!(" a{i}=\"{i}\"")).collect();
    let mut bodies = vec![
        ("not xml".into(), doc("this is not xml at all".into())),
        ("truncated".into(), doc(format!("<{root}>{inner}<"))),
        ("unclosed root".into(), doc(format!("<{root}>{inner}"))),
        ("mismatched close".into(), doc(format!("<{root}>{inner}</Other>"))),
        ("wrong root".into(), doc(format!("<Other>{inner}</Other>"))),
        ("two roots".into(), doc(format!("<{root}>{inner}</{root}><{root}>{inner}</{root}>"))),
        ("billion laughs".into(), doc(laughs)),
        (
            "external entity file".into(),
            doc(format!("<!DOCTYPE {root} [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]><{root}>{inner}<X>&xxe;</X></{root}>")),
        ),
        (
            "external entity http".into(),
            doc(format!("<!DOCTYPE {root} [<!ENTITY xxe SYSTEM \"http://127.0.0.1:1/x\">]><{root}>{inner}<X>&xxe;</X></{root}>")),
        ),
        (
            "parameter entity".into(),
            doc(format!("<!DOCTYPE {root} [<!ENTITY % p SYSTEM \"http://127.0.0.1:1/p.dtd\"> %p;]><{root}>{inner}</{root}>")),
        ),
        ("bare doctype".into(), doc(format!("<!DOCTYPE {root}><{root}>{inner}</{root}>"))),
        (
            "doctype after declaration".into(),
            doc(format!("<?xml version=\"1.0\"?>\n<!DOCTYPE {root} SYSTEM \"http://127.0.0.1:1/x.dtd\"><{root}>{inner}</{root}>")),
        ),
        ("undefined entity".into(), doc(format!("<{root}>{inner}<X>&xxe;</X></{root}>"))),
        ("deep 100000".into(), doc(deep(100_000))),
        ("deep 17".into(), doc(deep(17))),
        ("over 2 MiB".into(), doc(huge)),
        ("invalid utf-8".into(), {
            let mut b = format!("<{root}>{inner}<X>").into_bytes();
            b.extend_from_slice(&[0xff, 0xfe, 0xc3, 0x28]);
            b.extend_from_slice(format!("</X></{root}>").as_bytes());
            b
        }),
        ("nul byte".into(), doc(format!("<{root}>\0{inner}</{root}>"))),
        ("char ref zero".into(), doc(format!("<{root}>{inner}<X>&#0;</X></{root}>"))),
        ("char ref surrogate".into(), doc(format!("<{root}>{inner}<X>&#xD800;</X></{root}>"))),
        ("unterminated cdata".into(), doc(format!("<{root}>{inner}<X><![CDATA[abc</X></{root}>"))),
        ("unterminated comment".into(), doc(format!("<{root}>{inner}<!-- abc</{root}>"))),
        ("broken attribute".into(), doc(format!("<{root} a=>{inner}</{root}>"))),
        ("duplicate attribute".into(), doc(format!("<{root} a=\"1\" a=\"2\">{inner}</{root}>"))),
        ("64 KiB element name unclosed".into(), doc(format!("<{root}>{inner}<{n}></{root}>", n = "N".repeat(64 * 1024)))),
        ("5000 attributes unclosed".into(), doc(format!("<{root}{many_attrs}>{inner}"))),
        ("utf-16 body".into(), {
            let text = format!("<{root}>{inner}</{root}>");
            let mut b = vec![0xff, 0xfe];
            for u in text.encode_utf16() {
                b.extend_from_slice(&u.to_le_bytes());
            }
            b
        }),
        ("declaration only".into(), doc("<?xml version=\"1.0\" encoding=\"UTF-8\"?>".into())),
        ("unterminated pi".into(), doc(format!("<?xml version=\"1.0\"<{root}>{inner}</{root}>"))),
        ("text after root".into(), doc(format!("<{root}>{inner}</{root}>trailing"))),
    ];
    bodies.push(("lone close tag".into(), doc(format!("</{root}>"))));
    bodies
}

/// Percent-escapes that do not decode to UTF-8 text.
const BAD_ESCAPES: &[(&str, &str)] = &[
    ("lone percent", "a%"),
    ("percent one digit", "a%4"),
    ("percent non-hex", "a%zz"),
    ("percent half hex", "a%4g"),
    ("invalid utf-8 pair", "a%C3%28"),
    ("overlong slash 2 bytes", "a%C0%AF"),
    ("overlong slash 3 bytes", "a%E0%80%AF"),
    ("utf-16 surrogate", "a%ED%A0%80"),
    ("5-byte sequence", "a%F8%88%80%80%80"),
    ("byte FF", "a%FF"),
    ("lone continuation", "a%80"),
    ("truncated sequence", "a%E6%96"),
];

/// Integers no count, number or marker may be.
const BAD_NUMBERS: &[&str] = &[
    "-1",
    "abc",
    "4294967296",
    "18446744073709551616",
    "99999999999999999999999999",
    "1.5",
    "1e3",
    "0x10",
    "+1",
    " 1",
    "1 ",
    "١",
    "--1",
    "1-",
];

fn build_corpus(c: &mut Corpus) {
    xml_cases(c);
    number_cases(c);
    length_cases(c);
    range_cases(c);
    duplicate_header_cases(c);
    encoding_cases(c);
    long_input_cases(c);
    signature_cases(c);
    subresource_cases(c);
    method_cases(c);
    attribute_cases(c);
    append_cases(c);
    sequential_cases(c);
}

/// Appendable object `log` of the seeded bucket: [`LOG_LEN`] bytes.
const LOG: &str = "log";
const LOG_LEN: usize = 5;
/// A sequential upload of the seeded bucket holding parts 1 and 2.
const SEQ_KEY: &str = "seq";

/// AppendObject misuse: positions that are not the object's length, objects that are not
/// appendable, bodies that do not match their digests, malformed positions and attributes.
fn append_cases(c: &mut Corpus) {
    let append = |c: &Corpus, key: &str, position: &str| {
        c.req("POST", Some(B), Some(key))
            .query("append", "")
            .query("position", position)
            .body(pattern(7, 3))
    };
    let mismatch = oss(409, "PositionNotEqualToLength");
    for position in ["0", "4", "6", "1000", "18446744073709551615"] {
        let r = append(c, LOG, position);
        c.add(
            "append",
            format!("append at {position}"),
            r,
            mismatch.clone(),
        );
    }
    let r = append(c, "missing-log", "7");
    c.add("append", "append to a missing key at 7", r, mismatch);
    for position in ["0", &EXISTING_LEN.to_string()] {
        let r = append(c, "existing", position);
        let name = format!("append to a Normal object at {position}");
        c.add("append", name, r, oss(409, "ObjectNotAppendable"));
    }
    let pos = LOG_LEN.to_string();
    let r = append(c, LOG, &pos).header("content-md5", "1B2M2Y8AsgTpgAmY7PhCfg==");
    c.add(
        "append",
        "append whose Content-MD5 is another body's",
        r,
        oss(400, "InvalidDigest"),
    );
    let r = append(c, LOG, &pos).header("content-md5", "not base64!");
    c.add(
        "append",
        "append with a malformed Content-MD5",
        r,
        oss(400, "InvalidDigest"),
    );
    let r = append(c, LOG, &pos).header("x-oss-content-sha256", &"ab".repeat(32));
    c.add(
        "append",
        "append whose payload hash is another body's",
        r,
        oss(400, "InvalidDigest"),
    );
    for bad in ["", "-1", "+5", "5 ", "0x5", "1e3", "99999999999999999999"] {
        let r = append(c, LOG, bad);
        c.add(
            "append",
            format!("append at position {bad:?}"),
            r,
            INVALID_ARGUMENT,
        );
    }
    let r = c
        .req("POST", Some(B), Some(LOG))
        .query("append", "")
        .body(pattern(3, 1));
    c.add("append", "append without a position", r, INVALID_ARGUMENT);
    let r = append(c, "new-log", "0").header("x-oss-storage-class", "Bogus");
    c.add(
        "append",
        "first append with a bogus storage class",
        r,
        INVALID_ARGUMENT,
    );
    let long_key = format!("{}=v", "k".repeat(129));
    let r = append(c, "new-log", "0").header("x-oss-tagging", &long_key);
    c.add(
        "append",
        "first append with bad tagging",
        r,
        INVALID_ARGUMENT,
    );
    let r = append(c, LOG, &pos).sign(Sign::None);
    c.add(
        "append",
        "anonymous append to a private bucket",
        r,
        oss(403, "AccessDenied"),
    );
    let r = c
        .req("POST", Some(B), None)
        .query("append", "")
        .query("position", "0");
    c.add(
        "append",
        "append to the bucket itself",
        r,
        oss(501, "NotImplemented"),
    );
    let r = c
        .req("PUT", Some(B), Some(LOG))
        .query("append", "")
        .query("position", &pos)
        .body(pattern(3, 1));
    c.add("append", "append with PUT", r, oss(501, "NotImplemented"));
}

/// Sequential upload misuse: parts out of order, an earlier part replaced after a later one.
fn sequential_cases(c: &mut Corpus) {
    let Some(id) = c.seq_upload_id.clone() else {
        return;
    };
    let part = |c: &Corpus, n: &str| {
        c.req("PUT", Some(B), Some(SEQ_KEY))
            .query("partNumber", n)
            .query("uploadId", &id)
            .body(pattern(10, 4))
    };
    for (n, what) in [("4", "a gap"), ("1", "part 1 after part 2")] {
        let r = part(c, n);
        c.add(
            "sequential",
            format!("sequential part {n}: {what}"),
            r,
            INVALID_ARGUMENT,
        );
    }
    let r = c
        .req("PUT", Some(B), Some(SEQ_KEY))
        .query("partNumber", "5")
        .query("uploadId", &id)
        .header("x-oss-copy-source", &format!("/{B}/existing"));
    c.add(
        "sequential",
        "sequential UploadPartCopy out of order",
        r,
        INVALID_ARGUMENT,
    );
}

/// Misuse of ACLs, tags, storage classes and encryption, and requests the ACLs refuse: each
/// gets its error and changes nothing (the snapshot covers ACLs and tags).
fn attribute_cases(c: &mut Corpus) {
    let put = |c: &Corpus| c.req("PUT", Some(B), Some("existing")).body(pattern(3, 0));
    let initiate = |c: &Corpus| c.req("POST", Some(B), Some("big")).query("uploads", "");
    let copy = |c: &Corpus| {
        c.req("PUT", Some(B), Some("existing"))
            .header("x-oss-copy-source", &format!("/{B}/existing"))
    };
    type Write<'x> = &'x dyn Fn(&Corpus) -> Req;
    let writes: [(&str, Write); 3] = [("put", &put), ("initiate", &initiate), ("copy", &copy)];
    let eleven: String = (0..11).map(|i| format!("k{i}=v&")).collect();
    let long_key = format!("{}=v", "k".repeat(129));
    let long_value = format!("k={}", "v".repeat(257));
    for (op, make) in writes {
        for (name, header, value, expect) in [
            (
                "bogus storage class",
                "x-oss-storage-class",
                "Bogus",
                INVALID_ARGUMENT,
            ),
            (
                "lower-case storage class",
                "x-oss-storage-class",
                "standard",
                INVALID_ARGUMENT,
            ),
            (
                "bogus object ACL",
                "x-oss-object-acl",
                "Public-Read",
                INVALID_ARGUMENT,
            ),
            (
                "bogus encryption",
                "x-oss-server-side-encryption",
                "AES128",
                oss(400, "InvalidEncryptionAlgorithmError"),
            ),
            (
                "eleven tags",
                "x-oss-tagging",
                eleven.as_str(),
                INVALID_ARGUMENT,
            ),
            (
                "a repeated tag",
                "x-oss-tagging",
                "a=1&a=2",
                INVALID_ARGUMENT,
            ),
            (
                "a 129-character tag key",
                "x-oss-tagging",
                long_key.as_str(),
                INVALID_ARGUMENT,
            ),
            (
                "a 257-character tag value",
                "x-oss-tagging",
                long_value.as_str(),
                INVALID_ARGUMENT,
            ),
            ("an empty tag key", "x-oss-tagging", "=v", INVALID_ARGUMENT),
            (
                "a tag with <>",
                "x-oss-tagging",
                "k=%3Cb%3E",
                INVALID_ARGUMENT,
            ),
            (
                "a tag with a bad escape",
                "x-oss-tagging",
                "k=%ZZ",
                INVALID_ARGUMENT,
            ),
        ] {
            let mut r = make(c).header(header, value);
            if op == "copy" && header == "x-oss-tagging" {
                r = r.header("x-oss-tagging-directive", "REPLACE");
            }
            c.add("attributes", format!("{op}: {name}"), r, expect);
        }
        let r = make(c)
            .header("x-oss-server-side-encryption", "AES256")
            .header("x-oss-server-side-encryption-key-id", "key-1");
        c.add(
            "attributes",
            format!("{op}: a KMS key id without KMS"),
            r,
            INVALID_ARGUMENT,
        );
    }
    for (name, header) in [
        ("metadata directive", "x-oss-metadata-directive"),
        ("tagging directive", "x-oss-tagging-directive"),
    ] {
        c.add(
            "attributes",
            format!("copy: bogus {name}"),
            copy(c).header(header, "MOVE"),
            INVALID_ARGUMENT,
        );
    }
    let acl = |c: &Corpus, key: Option<&str>, header: &str, value: &str| {
        c.req("PUT", Some(B), key)
            .query("acl", "")
            .header(header, value)
    };
    for (name, r, expect) in [
        (
            "bucket ACL default",
            acl(c, None, "x-oss-acl", "default"),
            INVALID_ARGUMENT,
        ),
        (
            "bucket ACL missing",
            c.req("PUT", Some(B), None).query("acl", ""),
            INVALID_ARGUMENT,
        ),
        (
            "bucket ACL bogus",
            acl(c, None, "x-oss-acl", "public"),
            INVALID_ARGUMENT,
        ),
        (
            "new bucket with ACL default",
            c.req("PUT", Some("hostile-new"), None)
                .header("x-oss-acl", "default"),
            INVALID_ARGUMENT,
        ),
        (
            "object ACL bogus",
            acl(c, Some("existing"), "x-oss-object-acl", "public"),
            INVALID_ARGUMENT,
        ),
        (
            "object ACL of a missing key",
            acl(c, Some("missing"), "x-oss-object-acl", "private"),
            oss(404, "NoSuchKey"),
        ),
        (
            "object ACL on a missing bucket",
            c.req("PUT", Some("hostile-missing"), Some("k"))
                .query("acl", "")
                .header("x-oss-object-acl", "private"),
            oss(404, "NoSuchBucket"),
        ),
        (
            "POST ?acl",
            c.req("POST", Some(B), Some("existing")).query("acl", ""),
            oss(405, "MethodNotAllowed"),
        ),
    ] {
        c.add("acl", name, r, expect);
    }
    let tagging = |c: &Corpus, body: &str| {
        c.req("PUT", Some(B), Some("existing"))
            .query("tagging", "")
            .body(body.to_owned())
    };
    let tag = |k: &str, v: &str| format!("<Tag><Key>{k}</Key><Value>{v}</Value></Tag>");
    let set = |tags: String| format!("<Tagging><TagSet>{tags}</TagSet></Tagging>");
    let eleven_xml = set((0..11).map(|i| tag(&format!("k{i}"), "v")).collect());
    for (name, r, expect) in [
        ("eleven tags", tagging(c, &eleven_xml), INVALID_ARGUMENT),
        (
            "a repeated key",
            tagging(c, &set(tag("a", "1") + &tag("a", "2"))),
            INVALID_ARGUMENT,
        ),
        (
            "an empty key",
            tagging(c, &set(tag("", "1"))),
            INVALID_ARGUMENT,
        ),
        (
            "a 257-character value",
            tagging(c, &set(tag("k", &"v".repeat(257)))),
            INVALID_ARGUMENT,
        ),
        (
            "a wrong root",
            tagging(c, "<Tags><TagSet/></Tags>"),
            MALFORMED_XML,
        ),
        ("not XML", tagging(c, "k=v"), MALFORMED_XML),
        (
            "tags of a missing key",
            c.req("PUT", Some(B), Some("missing"))
                .query("tagging", "")
                .body(set(tag("k", "v"))),
            oss(404, "NoSuchKey"),
        ),
        (
            "GET tags of a missing key",
            c.req("GET", Some(B), Some("missing")).query("tagging", ""),
            oss(404, "NoSuchKey"),
        ),
        (
            "DELETE bucket tagging",
            c.req("DELETE", Some(B), None).query("tagging", ""),
            oss(501, "NotImplemented"),
        ),
        (
            "POST ?tagging",
            c.req("POST", Some(B), Some("existing"))
                .query("tagging", ""),
            oss(405, "MethodNotAllowed"),
        ),
    ] {
        c.add("tagging", name, r, expect);
    }
    // What the ACLs refuse to unsigned requests and to keys whose STS token expired.
    let denied = oss(403, "AccessDenied");
    for (name, r) in [
        ("anonymous PUT", put(c)),
        (
            "anonymous DELETE",
            c.req("DELETE", Some(B), Some("existing")),
        ),
        ("anonymous GET", c.req("GET", Some(B), Some("existing"))),
        ("anonymous listing", c.req("GET", Some(B), None)),
        (
            "anonymous bucket ACL",
            acl(c, None, "x-oss-acl", "public-read-write"),
        ),
        (
            "anonymous object ACL",
            acl(c, Some("existing"), "x-oss-object-acl", "public-read"),
        ),
        ("anonymous tagging", tagging(c, &set(tag("k", "v")))),
        ("anonymous multipart", initiate(c)),
        (
            "anonymous abort",
            c.req("DELETE", Some(B), Some("big"))
                .query("uploadId", &c.upload_id),
        ),
        ("anonymous bucket delete", c.req("DELETE", Some(B), None)),
        ("anonymous ListBuckets", c.req("GET", None, None)),
    ] {
        c.add("acl", name, r.sign(Sign::None), denied.clone());
    }
    for sign in [Sign::V1, Sign::V4] {
        let r = put(c)
            .key_id(STS_EXPIRED_ID)
            .secret(STS_SECRET)
            .token(STS_TOKEN)
            .sign(sign);
        c.add(
            "signature",
            format!("{sign:?} PUT with an expired STS token"),
            r,
            oss(403, "SecurityTokenExpired"),
        );
    }
}

fn xml_cases(c: &mut Corpus) {
    let part1 = etag_of(&pattern(200_000, 2));
    let complete_inner = format!("<Part><PartNumber>1</PartNumber><ETag>{part1}</ETag></Part>");
    let cors_inner =
        "<CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod></CORSRule>";
    let delete_inner = "<Object><Key>existing</Key></Object>";
    let bucket_inner = "<StorageClass>Standard</StorageClass>";
    for (name, body) in hostile_xml("CompleteMultipartUpload", &complete_inner) {
        let r = c.complete(body);
        c.add("xml", format!("complete: {name}"), r, MALFORMED_XML);
    }
    for (name, body) in hostile_xml("Delete", delete_inner) {
        let r = c.req("POST", Some(B), None).query("delete", "").body(body);
        c.add("xml", format!("delete-multiple: {name}"), r, MALFORMED_XML);
    }
    for (name, body) in hostile_xml("CORSConfiguration", cors_inner) {
        let r = c.req("PUT", Some(B), None).query("cors", "").body(body);
        c.add("xml", format!("put-cors: {name}"), r, MALFORMED_XML);
    }
    for (name, body) in hostile_xml("CreateBucketConfiguration", bucket_inner) {
        let r = c.req("PUT", Some("hostile-new"), None).body(body);
        c.add("xml", format!("put-bucket: {name}"), r, MALFORMED_XML);
    }

    // Part numbers and ETags inside the Complete list.
    let part = |n: &str, etag: &str| {
        format!("<CompleteMultipartUpload><Part><PartNumber>{n}</PartNumber><ETag>{etag}</ETag></Part></CompleteMultipartUpload>")
    };
    // XML Schema integers may carry a sign and surrounding whitespace, so `+1` and ` 1`
    // inside the document are part 1.
    let lexical_int = |n: &&str| {
        n.trim()
            .trim_start_matches('+')
            .bytes()
            .all(|b| b.is_ascii_digit())
    };
    for n in BAD_NUMBERS
        .iter()
        .copied()
        .filter(|n| !lexical_int(n))
        .chain(["", " "])
    {
        let r = c.complete(part(n, &part1));
        c.add(
            "xml-schema",
            format!("complete: part number {n:?}"),
            r,
            MALFORMED_XML,
        );
    }
    for n in ["0", "10001", "4294967295"] {
        let r = c.complete(part(n, &part1));
        c.add(
            "xml-schema",
            format!("complete: part number {n}"),
            r,
            oss(400, "InvalidPart"),
        );
    }
    for etag in [
        "",
        "\"\"",
        "\"00000000000000000000000000000000\"",
        "x",
        &"A".repeat(10_000),
    ] {
        let r = c.complete(part("1", etag));
        c.add(
            "xml-schema",
            format!("complete: etag {:.20?}", etag),
            r,
            oss(400, "InvalidPart"),
        );
    }
    let schema = [
        ("no parts", "<CompleteMultipartUpload></CompleteMultipartUpload>".to_owned(), MALFORMED_XML),
        ("missing etag", "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber></Part></CompleteMultipartUpload>".to_owned(), MALFORMED_XML),
        ("missing number", format!("<CompleteMultipartUpload><Part><ETag>{part1}</ETag></Part></CompleteMultipartUpload>"), MALFORMED_XML),
        ("two numbers", format!("<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><PartNumber>2</PartNumber><ETag>{part1}</ETag></Part></CompleteMultipartUpload>"), MALFORMED_XML),
        ("descending", format!("<CompleteMultipartUpload><Part><PartNumber>2</PartNumber><ETag>{part1}</ETag></Part><Part><PartNumber>1</PartNumber><ETag>{part1}</ETag></Part></CompleteMultipartUpload>"), oss(400, "InvalidPartOrder")),
        ("repeated part", format!("<CompleteMultipartUpload>{complete_inner}{complete_inner}</CompleteMultipartUpload>"), oss(400, "InvalidPartOrder")),
        ("missing part 2", format!("<CompleteMultipartUpload>{complete_inner}<Part><PartNumber>2</PartNumber><ETag>{part1}</ETag></Part></CompleteMultipartUpload>"), oss(400, "InvalidPart")),
        ("10001 parts", {
            let mut s = String::from("<CompleteMultipartUpload>");
            for n in 1..=10_001 {
                write!(s, "<Part><PartNumber>{n}</PartNumber><ETag>{part1}</ETag></Part>").unwrap();
            }
            s.push_str("</CompleteMultipartUpload>");
            s
        }, oss(400, "InvalidPart")),
    ];
    for (name, body, expect) in schema {
        let r = c.complete(body);
        c.add("xml-schema", format!("complete: {name}"), r, expect);
    }
    let r = c
        .complete(complete_inner.clone())
        .header("x-oss-complete-all", "yes");
    c.add(
        "xml-schema",
        "complete-all with a part list",
        r,
        INVALID_ARGUMENT,
    );

    let delete = |objects: &str| format!("<Delete><Quiet>false</Quiet>{objects}</Delete>");
    let thousand_and_one: String = (0..1001)
        .map(|i| format!("<Object><Key>k{i}</Key></Object>"))
        .collect();
    let long_key = "k".repeat(1024);
    for (name, body, expect) in [
        ("no objects", delete(""), MALFORMED_XML),
        ("1001 objects", delete(&thousand_and_one), MALFORMED_XML),
        (
            "object without key",
            delete("<Object></Object>"),
            MALFORMED_XML,
        ),
        (
            "quiet not a boolean",
            "<Delete><Quiet>maybe</Quiet><Object><Key>existing</Key></Object></Delete>".to_owned(),
            MALFORMED_XML,
        ),
        (
            "empty key with a good one",
            delete("<Object><Key>existing</Key></Object><Object><Key></Key></Object>"),
            oss(400, "InvalidObjectName"),
        ),
        (
            "1024-byte key with a good one",
            delete(&format!(
                "<Object><Key>existing</Key></Object><Object><Key>{long_key}</Key></Object>"
            )),
            oss(400, "InvalidObjectName"),
        ),
        (
            "leading slash key",
            delete("<Object><Key>existing</Key></Object><Object><Key>/existing</Key></Object>"),
            oss(400, "InvalidObjectName"),
        ),
    ] {
        let r = c.req("POST", Some(B), None).query("delete", "").body(body);
        c.add("xml-schema", format!("delete-multiple: {name}"), r, expect);
    }

    let rule = |inside: &str| format!("<CORSRule>{inside}</CORSRule>");
    let eleven: String = (0..11)
        .map(|_| rule("<AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod>"))
        .collect();
    for (name, rules, expect) in [
        ("no rules", String::new(), INVALID_ARGUMENT),
        ("11 rules", eleven, INVALID_ARGUMENT),
        ("rule without origin", rule("<AllowedMethod>GET</AllowedMethod>"), INVALID_ARGUMENT),
        ("rule without method", rule("<AllowedOrigin>*</AllowedOrigin>"), INVALID_ARGUMENT),
        ("two wildcards", rule("<AllowedOrigin>*.*</AllowedOrigin><AllowedMethod>GET</AllowedMethod>"), INVALID_ARGUMENT),
        ("unknown method", rule("<AllowedOrigin>*</AllowedOrigin><AllowedMethod>FETCH</AllowedMethod>"), INVALID_ARGUMENT),
        ("max age text", rule("<AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod><MaxAgeSeconds>soon</MaxAgeSeconds>"), MALFORMED_XML),
        ("max age negative", rule("<AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod><MaxAgeSeconds>-1</MaxAgeSeconds>"), MALFORMED_XML),
        ("max age overflow", rule("<AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod><MaxAgeSeconds>99999999999</MaxAgeSeconds>"), MALFORMED_XML),
    ] {
        let body = format!("<CORSConfiguration>{rules}</CORSConfiguration>");
        let r = c.req("PUT", Some(B), None).query("cors", "").body(body);
        c.add("xml-schema", format!("put-cors: {name}"), r, expect);
    }
}

fn number_cases(c: &mut Corpus) {
    let id = c.upload_id.clone();
    for n in BAD_NUMBERS.iter().copied().chain(["0", "10001", ""]) {
        let r = c
            .req("PUT", Some(B), Some("big"))
            .query("partNumber", n)
            .query("uploadId", &id)
            .body(pattern(10, 0));
        c.add(
            "numbers",
            format!("upload-part: partNumber {n:?}"),
            r,
            INVALID_ARGUMENT,
        );
        let r = c
            .req("PUT", Some(B), Some("big"))
            .query("partNumber", n)
            .query("uploadId", &id)
            .header("x-oss-copy-source", &format!("/{B}/existing"));
        c.add(
            "numbers",
            format!("upload-part-copy: partNumber {n:?}"),
            r,
            INVALID_ARGUMENT,
        );
    }
    for n in BAD_NUMBERS.iter().take(8) {
        let r = c
            .req("GET", Some(B), Some("big"))
            .query("uploadId", &id)
            .query("part-number-marker", n);
        c.add(
            "numbers",
            format!("list-parts: part-number-marker {n:?}"),
            r,
            INVALID_ARGUMENT,
        );
    }
    for n in BAD_NUMBERS.iter().take(6).copied().chain(["0", "1001"]) {
        let r = c
            .req("GET", Some(B), Some("big"))
            .query("uploadId", &id)
            .query("max-parts", n);
        c.add(
            "numbers",
            format!("list-parts: max-parts {n:?}"),
            r,
            INVALID_ARGUMENT,
        );
        let r = c
            .req("GET", Some(B), None)
            .query("uploads", "")
            .query("max-uploads", n);
        c.add(
            "numbers",
            format!("list-uploads: max-uploads {n:?}"),
            r,
            INVALID_ARGUMENT,
        );
        let r = c.req("GET", Some(B), None).query("max-keys", n);
        c.add(
            "numbers",
            format!("list-objects: max-keys {n:?}"),
            r,
            INVALID_ARGUMENT,
        );
    }
    for n in ["0", "-5", "1001"] {
        let r = c.req("GET", None, None).query("max-keys", n);
        c.add(
            "numbers",
            format!("list-buckets: max-keys {n:?}"),
            r,
            INVALID_ARGUMENT,
        );
    }
    for token in ["!!!", "_w", "%%%", &"Z".repeat(5000)] {
        let r = c
            .req("GET", Some(B), None)
            .query("list-type", "2")
            .query("continuation-token", token);
        c.add(
            "numbers",
            format!("list-v2: continuation-token {:.10?}", token),
            r,
            INVALID_ARGUMENT,
        );
    }
    for enc in ["xml", "base64", "URL2"] {
        let r = c.req("GET", Some(B), None).query("encoding-type", enc);
        c.add(
            "numbers",
            format!("list-objects: encoding-type {enc}"),
            r,
            oss(400, "InvalidEncodingType"),
        );
        let r = c
            .req("GET", Some(B), None)
            .query("uploads", "")
            .query("encoding-type", enc);
        c.add(
            "numbers",
            format!("list-uploads: encoding-type {enc}"),
            r,
            oss(400, "InvalidEncodingType"),
        );
    }
    // Absurd but well-formed markers are just positions in key order: the listing answers.
    let long = "z".repeat(10_000);
    for (name, param, value) in [
        ("10 KB key-marker", "key-marker", long.as_str()),
        (
            "dot-dot upload-id-marker",
            "upload-id-marker",
            "../../../etc",
        ),
        ("control-char key-marker", "key-marker", "\u{1}\u{7f}"),
    ] {
        let r = c
            .req("GET", Some(B), None)
            .query("uploads", "")
            .query(param, value);
        c.add(
            "numbers",
            format!("list-uploads: {name}"),
            r,
            Expect::Status(200),
        );
    }
    for (name, value) in [
        ("10 KB marker", long.as_str()),
        ("nul marker", "\0"),
        ("emoji marker", "😀"),
    ] {
        let r = c.req("GET", Some(B), None).query("marker", value);
        c.add(
            "numbers",
            format!("list-objects: {name}"),
            r,
            Expect::Status(200),
        );
    }
}

fn length_cases(c: &mut Corpus) {
    let target = format!("/{B}/newobj");
    for (name, headers) in [
        ("negative", "Content-Length: -1\r\n"),
        ("non-numeric", "Content-Length: ten\r\n"),
        ("overflow u64", "Content-Length: 18446744073709551616\r\n"),
        ("hex", "Content-Length: 0x10\r\n"),
        ("plus sign", "Content-Length: +5\r\n"),
        (
            "two different",
            "Content-Length: 5\r\nContent-Length: 6\r\n",
        ),
        ("comma list", "Content-Length: 5, 6\r\n"),
        ("empty", "Content-Length: \r\n"),
        (
            "with unknown transfer-encoding",
            "Content-Length: 5\r\nTransfer-Encoding: gzip\r\n",
        ),
        ("transfer-encoding gzip only", "Transfer-Encoding: gzip\r\n"),
    ] {
        let raw = format!(
            "PUT {target} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n{headers}\r\nhello",
            c.s.addr
        );
        c.raw(
            "content-length",
            format!("content-length: {name}"),
            raw.into_bytes(),
            FRAMING_400,
        );
    }
    // Bad chunked framing in a signed PUT: the body fails while being read, nothing is stored.
    for (name, body) in [
        ("chunk size not hex", "zz\r\nhello\r\n0\r\n\r\n"),
        (
            "chunk size overflow",
            "FFFFFFFFFFFFFFFFFF\r\nhello\r\n0\r\n\r\n",
        ),
        ("negative chunk size", "-5\r\nhello\r\n0\r\n\r\n"),
        ("chunk longer than its size", "2\r\nhello\r\n0\r\n\r\n"),
        ("no last chunk", "5\r\nhello\r\n"),
    ] {
        let w = c.req("PUT", Some(B), Some("newobj")).wire();
        let raw = String::from_utf8(w.to_bytes()).unwrap().replacen(
            "Content-Length: 0\r\n",
            "Transfer-Encoding: chunked\r\n",
            1,
        ) + body;
        c.cases.push(Case {
            category: "content-length",
            name: format!("chunked: {name}"),
            send: Send::RawThenEof(raw.into_bytes()),
            expect: Expect::BodyFailure,
        });
    }
    // Bodies shorter than their Content-Length, from a client that then goes away.
    let id = c.upload_id.clone();
    for (op, req) in [
        ("put-object", c.req("PUT", Some(B), Some("newobj"))),
        (
            "put-object over existing",
            c.req("PUT", Some(B), Some("existing")),
        ),
        (
            "upload-part",
            c.req("PUT", Some(B), Some("big"))
                .query("partNumber", "2")
                .query("uploadId", &id),
        ),
        (
            "upload-part over part 1",
            c.req("PUT", Some(B), Some("big"))
                .query("partNumber", "1")
                .query("uploadId", &id),
        ),
        ("complete", c.complete(Vec::new())),
    ] {
        let raw = String::from_utf8(req.wire().to_bytes()).unwrap().replacen(
            "Content-Length: 0\r\n",
            "Content-Length: 100000\r\n",
            1,
        ) + &"x".repeat(5000);
        c.cases.push(Case {
            category: "content-length",
            name: format!("{op}: 5000 of 100000 bytes, then EOF"),
            send: Send::RawThenEof(raw.into_bytes()),
            expect: Expect::BodyFailure,
        });
    }
    // Declared sizes beyond what an operation accepts are refused before the body is read.
    let id = c.upload_id.clone();
    for declared in ["5368709121", "1000000000000000000"] {
        for (op, req, expect) in [
            (
                "put-object",
                c.req("PUT", Some(B), Some("newobj")),
                oss(400, "EntityTooLarge"),
            ),
            (
                "upload-part",
                c.req("PUT", Some(B), Some("big"))
                    .query("partNumber", "2")
                    .query("uploadId", &id),
                oss(400, "EntityTooLarge"),
            ),
            ("complete", c.complete(Vec::new()), MALFORMED_XML),
        ] {
            let w = req.wire().without("content-length");
            let mut raw = w.to_bytes();
            let text = String::from_utf8(raw.clone()).unwrap();
            raw = text
                .replacen(
                    "Content-Length: 0\r\n",
                    &format!("Content-Length: {declared}\r\n"),
                    1,
                )
                .into_bytes();
            c.raw(
                "content-length",
                format!("{op}: declared {declared} bytes"),
                raw,
                expect,
            );
        }
    }
    // hyper keeps u64::MAX for itself (it marks chunked bodies) and refuses it as a length.
    let raw = String::from_utf8(c.raw_request("PUT", &target, "", b""))
        .unwrap()
        .replacen(
            "Content-Length: 0\r\n",
            "Content-Length: 18446744073709551615\r\n",
            1,
        );
    c.raw(
        "content-length",
        "content-length: u64::MAX",
        raw.into_bytes(),
        Expect::Framing(&[431, 400]),
    );
    // A PUT that declares no length and is not chunked.
    let w = c.req("PUT", Some(B), Some("newobj")).wire();
    let text = String::from_utf8(w.to_bytes())
        .unwrap()
        .replacen("Content-Length: 0\r\n", "", 1);
    c.raw(
        "content-length",
        "put-object: no Content-Length",
        text.into_bytes(),
        oss(411, "MissingContentLength"),
    );
}

fn range_cases(c: &mut Corpus) {
    let get = |c: &Corpus, range: &str| {
        c.req("GET", Some(B), Some("existing"))
            .header("Range", range)
    };
    // OSS ignores what it cannot use and answers with the whole object.
    for range in [
        "bytes=-1-2",
        "bytes=a-b",
        "bytes=99999999999999999999-",
        "bytes=-99999999999999999999",
        "bytes=0-99999999999999999999",
        "bytes=5-2",
        "bytes=0-1,3-4",
        "items=0-1",
        "bytes=",
        "bytes=-",
        "bytes=--1",
        "bytes=1000-",
        "bytes=-0",
        "bytes=18446744073709551615-",
        "bytes=0x10-",
        "bytes=+1-2",
        "bytes=1.5-2",
        "",
        "bytes=0-1;bytes=2-3",
        &format!("bytes=0-{}", "9".repeat(10_000)),
    ] {
        let r = get(c, range);
        c.add(
            "range",
            format!("range {:.40?} ignored", range),
            r,
            Expect::WholeObject,
        );
    }
    // With standard behaviour an unsatisfiable range is an error.
    for range in [
        "bytes=1000-",
        "bytes=1000-2000",
        "bytes=18446744073709551615-",
        "bytes=-0",
    ] {
        let r = get(c, range).header("x-oss-range-behavior", "standard");
        c.add(
            "range",
            format!("standard range {range:?}"),
            r,
            oss(416, "InvalidRange"),
        );
    }
    let id = c.upload_id.clone();
    for range in [
        "bytes=5-2",
        "bytes=-5",
        "bytes=1000-",
        "bytes=abc",
        "bytes=0-1,2-3",
        "bytes=1000-1001",
        "bytes=-1-5",
    ] {
        let r = c
            .req("PUT", Some(B), Some("big"))
            .query("partNumber", "3")
            .query("uploadId", &id)
            .header("x-oss-copy-source", &format!("/{B}/existing"))
            .header("x-oss-copy-source-range", range);
        c.add(
            "range",
            format!("copy-source-range {range:?}"),
            r,
            INVALID_ARGUMENT,
        );
    }
}

fn duplicate_header_cases(c: &mut Corpus) {
    let id = c.upload_id.clone();
    let md5_empty = "1B2M2Y8AsgTpgAmY7PhCfg==";
    let ops: Vec<(&str, MakeReq)> = vec![
        (
            "put-object",
            Box::new(|c: &Corpus| c.req("PUT", Some(B), Some("existing")).body(pattern(10, 7))),
        ),
        (
            "delete-object",
            Box::new(|c: &Corpus| c.req("DELETE", Some(B), Some("existing"))),
        ),
        (
            "upload-part",
            Box::new(move |c: &Corpus| {
                c.req("PUT", Some(B), Some("big"))
                    .query("partNumber", "1")
                    .query("uploadId", &id)
                    .body(pattern(10, 7))
            }),
        ),
    ];
    for (op, make) in &ops {
        for sign in [Sign::V1, Sign::V4] {
            let signed = make(c).sign(sign).wire();
            let auth = signed.header("authorization").unwrap().to_owned();
            let tag = if sign == Sign::V1 { "v1" } else { "v4" };
            let cases: Vec<(&str, Wire, Expect)> = vec![
                (
                    "authorization twice, same",
                    signed.clone().add("Authorization", &auth),
                    INVALID_ARGUMENT,
                ),
                (
                    "authorization twice, garbage second",
                    signed.clone().add("Authorization", "OSS nobody:xxx"),
                    INVALID_ARGUMENT,
                ),
                (
                    "authorization twice, garbage first",
                    signed
                        .clone()
                        .without("authorization")
                        .add("Authorization", "OSS nobody:xxx")
                        .add("Authorization", &auth),
                    INVALID_ARGUMENT,
                ),
                (
                    "x-oss-date twice",
                    signed
                        .clone()
                        .without("x-oss-date")
                        .add("x-oss-date", "20200101T000000Z")
                        .add("x-oss-date", "20200101T000000Z"),
                    INVALID_ARGUMENT,
                ),
                (
                    "date twice",
                    signed
                        .clone()
                        .add("Date", "Tue, 02 Jan 2024 03:04:05 GMT")
                        .add("Date", "Wed, 03 Jan 2024 03:04:05 GMT"),
                    INVALID_ARGUMENT,
                ),
                (
                    "content-md5 twice",
                    signed
                        .clone()
                        .add("Content-MD5", md5_empty)
                        .add("Content-MD5", md5_empty),
                    oss(400, "InvalidDigest"),
                ),
                (
                    "x-oss-content-sha256 twice",
                    signed
                        .clone()
                        .add("x-oss-content-sha256", "UNSIGNED-PAYLOAD")
                        .add("x-oss-content-sha256", "UNSIGNED-PAYLOAD"),
                    INVALID_ARGUMENT,
                ),
                (
                    "security token twice",
                    signed
                        .clone()
                        .add("x-oss-security-token", "a")
                        .add("x-oss-security-token", "b"),
                    INVALID_ARGUMENT,
                ),
            ];
            for (name, w, expect) in cases {
                c.wire(
                    "duplicate-headers",
                    format!("{op} {tag}: {name}"),
                    w,
                    expect,
                );
            }
        }
    }
    // Raw: a header name or value HTTP/1.1 does not allow.
    for (name, line) in [
        ("space in name", "Bad Name: x\r\n"),
        ("no colon", "NoColonHere\r\n"),
        ("obsolete line folding", "x-oss-meta-a: a\r\n  folded\r\n"),
        ("control byte in value", "x-oss-meta-a: a\x01b\r\n"),
        ("empty name", ": value\r\n"),
    ] {
        let raw = c.raw_request("PUT", &format!("/{B}/newobj"), line, b"hello");
        c.raw(
            "duplicate-headers",
            format!("header syntax: {name}"),
            raw,
            FRAMING_400,
        );
    }
}

fn encoding_cases(c: &mut Corpus) {
    // A copy source that is not ASCII is an error, never read as absent (which would make the
    // copy an empty PutObject or UploadPart).
    for (name, source) in [
        ("utf-8 key", format!("/{B}/existing-é")),
        ("utf-8 bucket", format!("/{B}é/existing")),
        ("latin-1 byte", format!("/{B}/exist\u{ff}ing")),
    ] {
        let copy = c
            .req("PUT", Some(B), Some("newobj"))
            .header("x-oss-copy-source", &source);
        c.add(
            "encoding",
            format!("copy source with a {name}"),
            copy,
            INVALID_ARGUMENT,
        );
        let over_existing = c
            .req("PUT", Some(B), Some("existing"))
            .header("x-oss-copy-source", &source);
        c.add(
            "encoding",
            format!("copy source with a {name} over an existing object"),
            over_existing,
            INVALID_ARGUMENT,
        );
        let part_copy = c
            .req("PUT", Some(B), Some("big"))
            .query("partNumber", "2")
            .query("uploadId", &c.upload_id)
            .header("x-oss-copy-source", &source);
        c.add(
            "encoding",
            format!("upload part copy source with a {name}"),
            part_copy,
            INVALID_ARGUMENT,
        );
    }
    let range = c
        .req("PUT", Some(B), Some("big"))
        .query("partNumber", "2")
        .query("uploadId", &c.upload_id)
        .header("x-oss-copy-source", &format!("/{B}/existing"))
        .header("x-oss-copy-source-range", "bytes=0-é");
    c.add(
        "encoding",
        "upload part copy range with a utf-8 byte",
        range,
        INVALID_ARGUMENT,
    );
    let id = c.upload_id.clone();
    for (name, bad) in BAD_ESCAPES {
        let targets = [
            ("object key", "GET", format!("/{B}/{bad}"), INVALID_URI),
            (
                "object key on PUT",
                "PUT",
                format!("/{B}/dir/{bad}"),
                INVALID_URI,
            ),
            ("bucket", "PUT", format!("/{bad}"), INVALID_URI),
            (
                "query value",
                "GET",
                format!("/{B}/?prefix={bad}"),
                INVALID_URI,
            ),
            (
                "query name",
                "DELETE",
                format!("/{B}/existing?{bad}=1"),
                INVALID_URI,
            ),
            (
                "upload id",
                "DELETE",
                format!("/{B}/big?uploadId={bad}"),
                INVALID_URI,
            ),
        ];
        for (place, method, target, expect) in targets {
            let raw = c.raw_request(method, &target, "", b"");
            c.raw("percent-encoding", format!("{place}: {name}"), raw, expect);
        }
        let r = c
            .req("PUT", Some(B), Some("copy-target"))
            .header("x-oss-copy-source", &format!("/{B}/{bad}"));
        c.add(
            "percent-encoding",
            format!("copy source: {name}"),
            r,
            INVALID_ARGUMENT,
        );
        let r = c
            .req("PUT", Some(B), Some("big"))
            .query("partNumber", "2")
            .query("uploadId", &id)
            .header("x-oss-copy-source", &format!("/{bad}/existing"));
        c.add(
            "percent-encoding",
            format!("part copy source bucket: {name}"),
            r,
            INVALID_ARGUMENT,
        );
    }
    // Bytes a request target may not hold at all: hyper refuses the request line.
    for (name, target) in [
        ("raw space", b"/hostile/a b".to_vec()),
        ("raw control byte", b"/hostile/a\x01b".to_vec()),
        ("raw del", b"/hostile/a\x7fb".to_vec()),
    ] {
        let mut raw = b"GET ".to_vec();
        raw.extend_from_slice(&target);
        raw.extend_from_slice(
            format!(
                " HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
                c.s.addr
            )
            .as_bytes(),
        );
        c.raw(
            "percent-encoding",
            format!("request line: {name}"),
            raw,
            FRAMING_400,
        );
    }
    // hyper passes bytes above 0x7F in the target through; they are key bytes, checked like any
    // other: valid UTF-8 names a key (unsigned here, so AccessDenied), invalid UTF-8 is refused.
    for (name, target, expect) in [
        (
            "raw utf-8 bytes",
            b"/hostile/\xc3\xa9".to_vec(),
            oss(403, "AccessDenied"),
        ),
        (
            "raw invalid utf-8",
            b"/hostile/\xff\xfe".to_vec(),
            FRAMING_400,
        ),
        (
            "raw invalid utf-8 in query",
            b"/hostile/?prefix=\xc3\x28".to_vec(),
            FRAMING_400,
        ),
    ] {
        let mut raw = b"GET ".to_vec();
        raw.extend_from_slice(&target);
        raw.extend_from_slice(
            format!(
                " HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
                c.s.addr
            )
            .as_bytes(),
        );
        c.raw(
            "percent-encoding",
            format!("request line: {name}"),
            raw,
            expect,
        );
    }
    for (name, line) in [
        ("no version", "GET /hostile/existing\r\n\r\n".to_owned()),
        (
            "HTTP/2.0 version",
            "GET /hostile/existing HTTP/2.0\r\n\r\n".to_owned(),
        ),
        (
            "garbage",
            "\x16\x03\x01\x02\x00\x01\x00\x01\x7c\x03\x03\r\n\r\n".to_owned(),
        ),
        (
            "absolute-form to elsewhere",
            "GET http://example.com/hostile/ HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n".to_owned(),
        ),
    ] {
        let expect = if name == "absolute-form to elsewhere" {
            // A proxy-style target is answered for its path; the bucket listing needs a signature.
            oss(403, "AccessDenied")
        } else {
            Expect::Framing(&[400, 505, 0])
        };
        c.raw(
            "percent-encoding",
            format!("request line: {name}"),
            line.into_bytes(),
            expect,
        );
    }
}

fn long_input_cases(c: &mut Corpus) {
    let keys = [
        ("1024 ascii bytes", "k".repeat(1024)),
        ("1024 bytes of 2-byte chars", "é".repeat(512)),
        ("1026 bytes of 3-byte chars", "文".repeat(342)),
        ("4096 bytes", "k".repeat(4096)),
        ("20000 bytes", "k/".repeat(10_000)),
    ];
    for (name, key) in &keys {
        for (op, req) in [
            ("put", c.req("PUT", Some(B), Some(key)).body(pattern(10, 3))),
            ("get", c.req("GET", Some(B), Some(key))),
            ("head", c.req("HEAD", Some(B), Some(key))),
            ("delete", c.req("DELETE", Some(B), Some(key))),
            (
                "initiate",
                c.req("POST", Some(B), Some(key)).query("uploads", ""),
            ),
        ] {
            c.add(
                "long-input",
                format!("{op} key of {name}"),
                req,
                oss(400, "InvalidObjectName"),
            );
        }
    }
    for (name, key) in [("empty-looking slash key", "/x"), ("backslash key", "\\x")] {
        let r = c.req("PUT", Some(B), Some(key)).body(pattern(10, 3));
        c.add(
            "long-input",
            format!("put {name}"),
            r,
            oss(400, "InvalidObjectName"),
        );
    }
    // A path longer than hyper's URI limit (or the server's 64 KiB head limit) never reaches
    // the OSS layer.
    let raw = c.raw_request("GET", &format!("/{B}/{}", "k".repeat(70_000)), "", b"");
    c.raw(
        "long-input",
        "70000-byte request target",
        raw,
        Expect::Framing(&[414, 431, 400, 0]),
    );
    for name in [
        "ab",
        "UPPER",
        "-lead",
        "trail-",
        "under_score",
        "dot.ted",
        &"b".repeat(64),
        "a..b",
    ] {
        let r = c.req("PUT", Some(name), None);
        c.add(
            "long-input",
            format!("put bucket {name:.12?}"),
            r,
            oss(400, "InvalidBucketName"),
        );
    }
    // Long but within the server's 64 KiB request head limit: the OSS layer judges them.
    let big = "v".repeat(48 * 1024);
    for (name, req, expect) in [
        (
            "48 KiB user metadata on put",
            c.req("PUT", Some(B), Some("newobj"))
                .header("x-oss-meta-big", &big)
                .body(pattern(10, 1)),
            INVALID_ARGUMENT,
        ),
        (
            "48 KiB user metadata on initiate",
            c.req("POST", Some(B), Some("newobj"))
                .query("uploads", "")
                .header("x-oss-meta-big", &big),
            INVALID_ARGUMENT,
        ),
        (
            "9 KiB spread over 9 metadata headers",
            {
                let mut r = c.req("PUT", Some(B), Some("newobj")).body(pattern(10, 1));
                for i in 0..9 {
                    r = r.header(&format!("x-oss-meta-m{i}"), &"w".repeat(1024));
                }
                r
            },
            INVALID_ARGUMENT,
        ),
        (
            "48 KiB Content-MD5",
            c.req("PUT", Some(B), Some("existing"))
                .header("Content-MD5", &big)
                .body(pattern(10, 1)),
            oss(400, "InvalidDigest"),
        ),
        (
            "48 KiB copy source",
            c.req("PUT", Some(B), Some("newobj"))
                .header("x-oss-copy-source", &format!("/{B}/{big}")),
            oss(404, "NoSuchKey"),
        ),
    ] {
        c.add("long-input", name, req, expect);
    }
    // Every stored header is bounded, not only x-oss-meta-*: 9 KiB (past the 8 KiB limits,
    // well within the request head limit) in any one of them is refused on each operation
    // that stores headers, and so are two that are each allowed but too large together.
    let nine_k = "v".repeat(9 * 1024);
    let half = "h".repeat(4200);
    let storing: Vec<(&str, MakeReq)> = vec![
        (
            "put",
            Box::new(|c: &Corpus| c.req("PUT", Some(B), Some("newobj")).body(pattern(10, 1))),
        ),
        (
            "initiate",
            Box::new(|c: &Corpus| c.req("POST", Some(B), Some("newobj")).query("uploads", "")),
        ),
        (
            "copy with REPLACE",
            Box::new(|c: &Corpus| {
                c.req("PUT", Some(B), Some("newobj"))
                    .header("x-oss-copy-source", &format!("/{B}/existing"))
                    .header("x-oss-metadata-directive", "REPLACE")
            }),
        ),
    ];
    for (op, make) in &storing {
        for header in [
            "Content-Type",
            "Cache-Control",
            "Content-Disposition",
            "Content-Encoding",
            "Content-Language",
            "Expires",
            "x-oss-tagging",
            "x-oss-meta-big",
        ] {
            let r = make(c).header(header, &nine_k);
            c.add(
                "long-input",
                format!("{op}: 9 KiB {header}"),
                r,
                INVALID_ARGUMENT,
            );
        }
        let r = make(c)
            .header("x-oss-server-side-encryption", "KMS")
            .header("x-oss-server-side-encryption-key-id", &nine_k);
        c.add(
            "long-input",
            format!("{op}: 9 KiB x-oss-server-side-encryption-key-id"),
            r,
            INVALID_ARGUMENT,
        );
        let r = make(c)
            .header("Cache-Control", &half)
            .header("Content-Disposition", &half);
        c.add(
            "long-input",
            format!("{op}: two stored headers of 4200 bytes"),
            r,
            INVALID_ARGUMENT,
        );
    }
    let signed = c.req("DELETE", Some(B), Some("existing")).wire();
    for (name, w, expect) in [
        ("48 KiB Authorization", signed.clone().set("Authorization", &big), INVALID_ARGUMENT),
        ("48 KiB V1 key id", signed.clone().set("Authorization", &format!("OSS {big}:c2ln")), oss(403, "InvalidAccessKeyId")),
        ("48 KiB V4 signature", signed.clone().set("Authorization", &format!("OSS4-HMAC-SHA256 Credential={KEY_ID}/{}/cn-hangzhou/oss/aliyun_v4_request,Signature={big}", &signed.header("x-oss-date").unwrap()[..8])), oss(403, "SignatureDoesNotMatch")),
        ("48 KiB x-oss-date", signed.clone().set("x-oss-date", &big), oss(403, "AccessDenied")),
    ] {
        c.wire("long-input", name, w, expect);
    }
    let get = c.req("GET", Some(B), Some("existing")).wire();
    for (name, w) in [
        (
            "48 KiB Range",
            get.clone().add("Range", &format!("bytes={big}")),
        ),
        ("48 KiB User-Agent", get.clone().add("User-Agent", &big)),
    ] {
        c.wire("long-input", name, w, Expect::WholeObject);
    }
    // A head beyond 64 KiB is refused before it is buffered whole: 431, or the connection
    // closed while the rest is still being sent.
    let huge = "v".repeat(100 * 1024);
    for (name, w) in [
        (
            "100 KiB user metadata",
            c.req("PUT", Some(B), Some("newobj"))
                .header("x-oss-meta-big", &huge)
                .body(pattern(10, 1))
                .wire(),
        ),
        (
            "100 KiB Authorization",
            signed.clone().set("Authorization", &huge),
        ),
        ("100 KiB User-Agent", get.clone().add("User-Agent", &huge)),
        (
            "1 MiB header",
            get.clone().add("x-unrelated", &"u".repeat(1 << 20)),
        ),
    ] {
        c.wire("long-input", name, w, Expect::Framing(&[431, 0]));
    }
    // Beyond hyper's limits: too many header lines, or a head larger than its buffer.
    let many: String = (0..200).map(|i| format!("x-h{i}: v\r\n")).collect();
    let raw = c.raw_request("GET", &format!("/{B}/existing"), &many, b"");
    c.raw(
        "long-input",
        "200 header lines",
        raw,
        Expect::Framing(&[431, 400, 0]),
    );
    let line = format!("x-huge: {}\r\n", "h".repeat(5 << 20));
    let raw = c.raw_request("GET", &format!("/{B}/existing"), &line, b"");
    c.raw(
        "long-input",
        "5 MiB header",
        raw,
        Expect::Framing(&[431, 400, 0]),
    );
}

fn signature_cases(c: &mut Corpus) {
    let now = OffsetDateTime::now_utc();
    let mutating: Vec<(&str, MakeReq)> = vec![
        (
            "delete",
            Box::new(|c: &Corpus| c.req("DELETE", Some(B), Some("existing"))),
        ),
        (
            "put",
            Box::new(|c: &Corpus| c.req("PUT", Some(B), Some("existing")).body(pattern(10, 5))),
        ),
    ];
    for (op, make) in &mutating {
        let v4 = make(c).sign(Sign::V4).wire();
        let auth = v4.header("authorization").unwrap().to_owned();
        let date = v4.header("x-oss-date").unwrap().to_owned();
        let day = &date[..8];
        let (cred, sig) = {
            let rest = auth.strip_prefix("OSS4-HMAC-SHA256 ").unwrap();
            let (cred, sig) = rest.split_once(",Signature=").unwrap();
            (
                cred.strip_prefix("Credential=").unwrap().to_owned(),
                sig.to_owned(),
            )
        };
        let scope = |id: &str, day: &str, region: &str, product: &str, term: &str| {
            format!(
                "OSS4-HMAC-SHA256 Credential={id}/{day}/{region}/{product}/{term},Signature={sig}"
            )
        };
        let yesterday = time_fmt::v4_date(now - Duration::days(1))[..8].to_owned();
        let v4_variants: Vec<(&str, String, Expect)> = vec![
            ("v4 no credential", format!("OSS4-HMAC-SHA256 Signature={sig}"), INVALID_ARGUMENT),
            ("v4 no signature", format!("OSS4-HMAC-SHA256 Credential={cred}"), INVALID_ARGUMENT),
            ("v4 empty signature", format!("OSS4-HMAC-SHA256 Credential={cred},Signature="), INVALID_ARGUMENT),
            ("v4 nothing after algorithm", "OSS4-HMAC-SHA256".to_owned(), INVALID_ARGUMENT),
            ("v4 algorithm suffix", format!("OSS4-HMAC-SHA256X Credential={cred},Signature={sig}"), INVALID_ARGUMENT),
            ("v4 unknown algorithm", format!("OSS4-HMAC-SHA512 Credential={cred},Signature={sig}"), INVALID_ARGUMENT),
            ("aws algorithm", format!("AWS4-HMAC-SHA256 Credential={cred},Signature={sig}"), INVALID_ARGUMENT),
            ("lower-case algorithm", format!("oss4-hmac-sha256 Credential={cred},Signature={sig}"), INVALID_ARGUMENT),
            ("bearer", "Bearer abc".to_owned(), INVALID_ARGUMENT),
            ("v4 wrong terminator", scope(KEY_ID, day, "cn-hangzhou", "oss", "aws4_request"), INVALID_ARGUMENT),
            ("v4 missing terminator", format!("OSS4-HMAC-SHA256 Credential={KEY_ID}/{day}/cn-hangzhou/oss,Signature={sig}"), INVALID_ARGUMENT),
            ("v4 extra scope element", scope(KEY_ID, day, "cn-hangzhou", "oss/extra", "aliyun_v4_request"), INVALID_ARGUMENT),
            ("v4 wrong region", scope(KEY_ID, day, "us-west-1", "oss", "aliyun_v4_request"), oss(403, "SignatureDoesNotMatch")),
            ("v4 region with oss- prefix", scope(KEY_ID, day, "oss-cn-hangzhou", "oss", "aliyun_v4_request"), oss(403, "SignatureDoesNotMatch")),
            ("v4 wrong product", scope(KEY_ID, day, "cn-hangzhou", "s3", "aliyun_v4_request"), oss(403, "SignatureDoesNotMatch")),
            ("v4 scope date yesterday", scope(KEY_ID, &yesterday, "cn-hangzhou", "oss", "aliyun_v4_request"), INVALID_ARGUMENT),
            ("v4 scope date malformed", scope(KEY_ID, "2024-1-1", "cn-hangzhou", "oss", "aliyun_v4_request"), INVALID_ARGUMENT),
            ("v4 empty key id", scope("", day, "cn-hangzhou", "oss", "aliyun_v4_request"), INVALID_ARGUMENT),
            ("v4 unknown key id", scope("nobody", day, "cn-hangzhou", "oss", "aliyun_v4_request"), oss(403, "InvalidAccessKeyId")),
            ("v4 upper-case signature", format!("OSS4-HMAC-SHA256 Credential={cred},Signature={}", sig.to_uppercase()), oss(403, "SignatureDoesNotMatch")),
            ("v4 non-hex signature", format!("OSS4-HMAC-SHA256 Credential={cred},Signature={}", "zz".repeat(32)), oss(403, "SignatureDoesNotMatch")),
            ("v4 flipped signature", format!("OSS4-HMAC-SHA256 Credential={cred},Signature={}", flip_hex(&sig)), oss(403, "SignatureDoesNotMatch")),
            ("v4 unsigned additional header", format!("OSS4-HMAC-SHA256 Credential={cred},AdditionalHeaders=host,Signature={sig}"), oss(403, "SignatureDoesNotMatch")),
            ("v4 credential twice", format!("OSS4-HMAC-SHA256 Credential={cred},Credential=nobody/{day}/cn-hangzhou/oss/aliyun_v4_request,Signature={sig}"), INVALID_ARGUMENT),
            ("v4 unknown field", format!("OSS4-HMAC-SHA256 Credential={cred},Bogus=1,Signature={sig}"), INVALID_ARGUMENT),
        ];
        for (name, value, expect) in v4_variants {
            c.wire(
                "signature",
                format!("{op}: {name}"),
                v4.clone().set("Authorization", &value),
                expect,
            );
        }
        for (name, w, expect) in [
            (
                "v4 without x-oss-date",
                v4.clone().without("x-oss-date"),
                oss(403, "AccessDenied"),
            ),
            (
                "v4 x-oss-date in RFC 1123 form",
                v4.clone().set("x-oss-date", &time_fmt::http_date(now)),
                oss(403, "AccessDenied"),
            ),
            (
                "v4 x-oss-date garbage",
                v4.clone().set("x-oss-date", "yesterday"),
                oss(403, "AccessDenied"),
            ),
            (
                "v4 x-oss-date a second later",
                v4.clone()
                    .set("x-oss-date", &time_fmt::v4_date(now + Duration::seconds(1))),
                oss(403, "SignatureDoesNotMatch"),
            ),
            (
                "v4 payload hash not hex",
                v4.clone().set("x-oss-content-sha256", "not-a-hash"),
                INVALID_ARGUMENT,
            ),
            (
                "v4 payload hash removed",
                v4.clone().without("x-oss-content-sha256"),
                oss(403, "SignatureDoesNotMatch"),
            ),
        ] {
            c.wire("signature", format!("{op}: {name}"), w, expect);
        }

        let v1 = make(c).sign(Sign::V1).wire();
        let v1_auth = v1.header("authorization").unwrap().to_owned();
        let v1_sig = v1_auth.rsplit_once(':').unwrap().1.to_owned();
        for (name, value, expect) in [
            ("v1 no colon", format!("OSS {KEY_ID}"), INVALID_ARGUMENT),
            (
                "v1 empty key id",
                format!("OSS :{v1_sig}"),
                INVALID_ARGUMENT,
            ),
            (
                "v1 empty signature",
                format!("OSS {KEY_ID}:"),
                INVALID_ARGUMENT,
            ),
            ("v1 bare scheme", "OSS".to_owned(), INVALID_ARGUMENT),
            ("v1 scheme and space", "OSS ".to_owned(), INVALID_ARGUMENT),
            (
                "v1 lower-case scheme",
                format!("oss {KEY_ID}:{v1_sig}"),
                INVALID_ARGUMENT,
            ),
            (
                "v1 unknown key",
                format!("OSS nobody:{v1_sig}"),
                oss(403, "InvalidAccessKeyId"),
            ),
            (
                "v1 signature not base64",
                format!("OSS {KEY_ID}:!!!!"),
                oss(403, "SignatureDoesNotMatch"),
            ),
            (
                "v1 signature of another request",
                format!("OSS {KEY_ID}:{}", "A".repeat(27) + "="),
                oss(403, "SignatureDoesNotMatch"),
            ),
            (
                "v1 three colons",
                format!("OSS {KEY_ID}:a:b"),
                oss(403, "InvalidAccessKeyId"),
            ),
        ] {
            c.wire(
                "signature",
                format!("{op}: {name}"),
                v1.clone().set("Authorization", &value),
                expect,
            );
        }
        for (name, w, expect) in [
            (
                "v1 without date",
                v1.clone().without("date"),
                oss(403, "AccessDenied"),
            ),
            (
                "v1 date garbage",
                v1.clone().set("Date", "last tuesday"),
                oss(403, "AccessDenied"),
            ),
            (
                "v1 date in 1970",
                v1.clone().set("Date", "Thu, 01 Jan 1970 00:00:00 GMT"),
                oss(403, "RequestTimeTooSkewed"),
            ),
            (
                "v1 date in 2999",
                v1.clone().set("Date", "Fri, 01 Jan 2999 00:00:00 GMT"),
                oss(403, "RequestTimeTooSkewed"),
            ),
            (
                "v1 date in V4 form",
                v1.clone().set("Date", &time_fmt::v4_date(now)),
                oss(403, "AccessDenied"),
            ),
        ] {
            c.wire("signature", format!("{op}: {name}"), w, expect);
        }

        // Presigned URLs: replayed after expiry, tampered, or ambiguous.
        let expired = [
            (
                "v1 presign expired a second ago",
                make(c)
                    .sign(Sign::PresignV1(now.unix_timestamp() - 1))
                    .wire(),
            ),
            (
                "v1 presign expired at epoch",
                make(c).sign(Sign::PresignV1(0)).wire(),
            ),
            (
                "v1 presign negative expiry",
                make(c).sign(Sign::PresignV1(-1)).wire(),
            ),
            (
                "v4 presign expired",
                make(c)
                    .sign(Sign::PresignV4(60))
                    .at(now - Duration::hours(2))
                    .wire(),
            ),
            (
                "v4 presign 7 days old",
                make(c)
                    .sign(Sign::PresignV4(604_800))
                    .at(now - Duration::days(7) - Duration::minutes(1))
                    .wire(),
            ),
        ];
        for (name, w) in expired {
            c.wire(
                "signature",
                format!("{op}: {name}"),
                w,
                oss(403, "AccessDenied"),
            );
        }
        // Dates far in the future, correctly signed with a known key: refused before any date
        // arithmetic could overflow, and never valid for longer than 7 days.
        let end_of_time = time::macros::datetime!(9999-12-31 23:59:59 UTC);
        let v1_far = make(c).sign(Sign::PresignV1(i64::MAX)).wire();
        for (name, w, expect) in [
            (
                "v4 presign signed at 9999-12-31T23:59:59Z",
                make(c)
                    .sign(Sign::PresignV4(604_800))
                    .at(end_of_time)
                    .wire(),
                oss(403, "AccessDenied"),
            ),
            (
                "v4 presign signed at 9999-12-31T23:59:59Z for a second",
                make(c).sign(Sign::PresignV4(1)).at(end_of_time).wire(),
                oss(403, "AccessDenied"),
            ),
            (
                "v4 presign signed an hour from now",
                make(c)
                    .sign(Sign::PresignV4(60))
                    .at(now + Duration::hours(1))
                    .wire(),
                oss(403, "AccessDenied"),
            ),
            (
                "v4 presign signed for 7 days and a second",
                make(c).sign(Sign::PresignV4(604_801)).wire(),
                INVALID_ARGUMENT,
            ),
            (
                "v4 presign signed for i64::MAX seconds",
                make(c).sign(Sign::PresignV4(i64::MAX)).wire(),
                INVALID_ARGUMENT,
            ),
            (
                "v1 presign expiring at i64::MAX, tampered",
                with_query(&v1_far, "Signature", "AAAAAAAAAAAAAAAAAAAAAAAAAAA="),
                oss(403, "SignatureDoesNotMatch"),
            ),
            (
                "v1 presign expiring at i64::MIN",
                make(c).sign(Sign::PresignV1(i64::MIN)).wire(),
                oss(403, "AccessDenied"),
            ),
            (
                "v1 presign expiring past i64::MAX",
                with_query(&v1_far, "Expires", "9223372036854775808"),
                INVALID_ARGUMENT,
            ),
        ] {
            c.wire("signature", format!("{op}: {name}"), w, expect);
        }
        let v1p = make(c)
            .sign(Sign::PresignV1(now.unix_timestamp() + 600))
            .wire();
        let v4p = make(c).sign(Sign::PresignV4(600)).wire();
        for (name, w, expect) in [
            (
                "v1 presign expires not a number",
                with_query(&v1p, "Expires", "soon"),
                INVALID_ARGUMENT,
            ),
            (
                "v1 presign expires overflow",
                with_query(&v1p, "Expires", "99999999999999999999"),
                INVALID_ARGUMENT,
            ),
            (
                "v1 presign without signature",
                with_query(&v1p, "Signature", ""),
                INVALID_ARGUMENT,
            ),
            (
                "v1 presign without expires",
                with_query(&v1p, "Expires", ""),
                INVALID_ARGUMENT,
            ),
            (
                "v1 presign other key",
                with_query(&v1p, "OSSAccessKeyId", "nobody"),
                oss(403, "InvalidAccessKeyId"),
            ),
            (
                "v1 presign with a header signature too",
                v1p.clone().add("Authorization", &v1_auth),
                INVALID_ARGUMENT,
            ),
            (
                "v1 presign with garbage Authorization",
                v1p.clone().add("Authorization", "OSS nobody:x"),
                INVALID_ARGUMENT,
            ),
            (
                "v4 presign expires zero",
                with_query(&v4p, "x-oss-expires", "0"),
                INVALID_ARGUMENT,
            ),
            (
                "v4 presign expires negative",
                with_query(&v4p, "x-oss-expires", "-60"),
                INVALID_ARGUMENT,
            ),
            (
                "v4 presign expires over 7 days",
                with_query(&v4p, "x-oss-expires", "604801"),
                INVALID_ARGUMENT,
            ),
            (
                "v4 presign expires not a number",
                with_query(&v4p, "x-oss-expires", "1h"),
                INVALID_ARGUMENT,
            ),
            (
                "v4 presign unknown version",
                with_query(&v4p, "x-oss-signature-version", "OSS4-HMAC-SHA1"),
                INVALID_ARGUMENT,
            ),
            (
                "v4 presign without credential",
                with_query(&v4p, "x-oss-credential", ""),
                INVALID_ARGUMENT,
            ),
            (
                "v4 presign without signature",
                with_query(&v4p, "x-oss-signature", ""),
                INVALID_ARGUMENT,
            ),
            (
                "v4 presign without date",
                with_query(&v4p, "x-oss-date", ""),
                INVALID_ARGUMENT,
            ),
            (
                "v4 presign bad date",
                with_query(&v4p, "x-oss-date", "20240101"),
                oss(403, "AccessDenied"),
            ),
            (
                "v4 presign flipped signature",
                with_query(
                    &v4p,
                    "x-oss-signature",
                    &flip_hex(&query_value(&v4p, "x-oss-signature")),
                ),
                oss(403, "SignatureDoesNotMatch"),
            ),
            (
                "v4 presign longer expiry than signed",
                with_query(&v4p, "x-oss-expires", "3600"),
                oss(403, "SignatureDoesNotMatch"),
            ),
            (
                "v4 presign with a header signature too",
                v4p.clone()
                    .add("Authorization", &auth)
                    .add("x-oss-date", &date),
                INVALID_ARGUMENT,
            ),
            (
                "v4 and v1 presign together",
                {
                    let mut w = v4p.clone();
                    w.target.push_str(&format!(
                        "&OSSAccessKeyId={KEY_ID}&Expires=9999999999&Signature=abc"
                    ));
                    w
                },
                INVALID_ARGUMENT,
            ),
        ] {
            c.wire("signature", format!("{op}: {name}"), w, expect);
        }
        // STS: wrong or missing token, token of another key.
        let sts = |c: &Corpus, sign: Sign, token: Option<&str>, id: &str, secret: &str| {
            let mut r = make(c).sign(sign).key_id(id).secret(secret);
            if let Some(t) = token {
                r = r.token(t);
            }
            r.wire()
        };
        for (sign, tag) in [
            (Sign::V1, "v1"),
            (Sign::V4, "v4"),
            (Sign::PresignV1(now.unix_timestamp() + 600), "v1 presign"),
            (Sign::PresignV4(600), "v4 presign"),
        ] {
            for (name, w) in [
                (
                    "wrong sts token",
                    sts(c, sign, Some("forged"), STS_ID, STS_SECRET),
                ),
                ("missing sts token", sts(c, sign, None, STS_ID, STS_SECRET)),
                (
                    "token for another key",
                    sts(c, sign, Some(STS_TOKEN), KEY_ID, SECRET),
                ),
                (
                    "sts token with the wrong secret",
                    sts(c, sign, Some(STS_TOKEN), STS_ID, "wrong"),
                ),
            ] {
                let expect = if name == "sts token with the wrong secret" {
                    oss(403, "SignatureDoesNotMatch")
                } else {
                    oss(403, "InvalidAccessKeyId")
                };
                c.wire("signature", format!("{op} {tag}: {name}"), w, expect);
            }
        }
        // A V1 presigned URL carrying the token under the V4 name.
        let mut w = sts(
            c,
            Sign::PresignV1(now.unix_timestamp() + 600),
            None,
            STS_ID,
            STS_SECRET,
        );
        w.target
            .push_str(&format!("&x-oss-security-token={STS_TOKEN}"));
        c.wire(
            "signature",
            format!("{op}: v1 presign token under the v4 name"),
            w,
            oss(403, "InvalidAccessKeyId"),
        );
    }
    // A presigned GET replayed for other requests.
    let get = c
        .req("GET", Some(B), Some("existing"))
        .sign(Sign::PresignV1(now.unix_timestamp() + 600))
        .wire();
    for (name, method, target) in [
        ("as DELETE", "DELETE", get.target.clone()),
        ("as PUT", "PUT", get.target.clone()),
        (
            "on another key",
            "GET",
            get.target.replacen("/existing?", "/big?", 1),
        ),
        (
            "on another bucket",
            "GET",
            get.target.replacen(&format!("/{B}/"), "/hostile-new/", 1),
        ),
    ] {
        let w = Wire {
            method: method.into(),
            target,
            ..get.clone()
        };
        c.wire(
            "signature",
            format!("replayed presigned GET {name}"),
            w,
            oss(403, "SignatureDoesNotMatch"),
        );
    }
}

/// Flips the last hex digit of a hex signature.
fn flip_hex(sig: &str) -> String {
    let mut s = sig.to_owned();
    let last = s.pop().unwrap_or('0');
    s.push(if last == '0' { '1' } else { '0' });
    s
}

/// The decoded value of a query parameter of a prepared request.
fn query_value(w: &Wire, name: &str) -> String {
    let query = w.target.split_once('?').map_or("", |(_, q)| q);
    osspart_protocol::encoding::parse_query(query)
        .unwrap()
        .into_iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v)
        .unwrap_or_default()
}

/// The request with one query parameter's value replaced (an empty value removes it).
fn with_query(w: &Wire, name: &str, value: &str) -> Wire {
    let (path, query) = w.target.split_once('?').unwrap_or((&w.target, ""));
    let mut pairs: Vec<String> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .filter(|p| p.split_once('=').map_or(*p, |(n, _)| n) != name)
        .map(str::to_owned)
        .collect();
    if !value.is_empty() {
        pairs.push(format!("{name}={}", encode_component(value)));
    }
    Wire {
        target: format!("{path}?{}", pairs.join("&")),
        ..w.clone()
    }
}

fn subresource_cases(c: &mut Corpus) {
    for sub in [
        "append",
        "symlink",
        "restore",
        "versions",
        "versioning",
        "lifecycle",
        "policy",
        "website",
        "referer",
        "logging",
        "encryption",
        "worm",
        "replication",
        "inventory",
        "stat",
        "qos",
        "requestPayment",
        "transferAcceleration",
        "x-oss-process",
        "objectInfo",
        "img",
        "style",
        "metaQuery",
        "cname",
        "comp",
        "live",
        "vod",
        "status",
        "httpsConfig",
        "publicAccessBlock",
        "asyncFetch",
        "bucketArchiveDirectRead",
        "redundancyTransition",
        "resourcePool",
        "callback",
        "versionId",
    ] {
        let bucket_level = c.req("PUT", Some("hostile-new"), None).query(sub, "");
        c.add(
            "sub-resource",
            format!("put bucket ?{sub}"),
            bucket_level,
            oss(501, "NotImplemented"),
        );
        let object_level = c
            .req("PUT", Some(B), Some("existing"))
            .query(sub, "1")
            .body(pattern(10, 6));
        c.add(
            "sub-resource",
            format!("put object ?{sub}"),
            object_level,
            oss(501, "NotImplemented"),
        );
    }
    // Parameters that are not sub-resources are ignored, as OSS does.
    for param in ["foo", "x-unknown", "ACL", "uploadid"] {
        let r = c.req("GET", Some(B), Some("existing")).query(param, "1");
        c.add(
            "sub-resource",
            format!("get object ?{param} ignored"),
            r,
            Expect::WholeObject,
        );
    }
}

fn method_cases(c: &mut Corpus) {
    let id = c.upload_id.clone();
    let not_allowed = oss(405, "MethodNotAllowed");
    for method in ["PUT", "DELETE", "POST", "PATCH", "HEAD"] {
        let r = c.req(method, None, None);
        c.add(
            "methods",
            format!("{method} on the service"),
            r,
            not_allowed.clone(),
        );
    }
    for method in ["PATCH", "PROPFIND", "FOO", "get", "TRACE"] {
        let r = c.req(method, Some(B), None);
        c.add(
            "methods",
            format!("{method} on a bucket"),
            r,
            not_allowed.clone(),
        );
        let r = c.req(method, Some(B), Some("existing"));
        c.add(
            "methods",
            format!("{method} on an object"),
            r,
            not_allowed.clone(),
        );
    }
    for (name, req, expect) in [
        (
            "POST on an object without sub-resource",
            c.req("POST", Some(B), Some("existing")).body(pattern(5, 0)),
            not_allowed.clone(),
        ),
        (
            "POST on a bucket without ?delete",
            c.req("POST", Some(B), None),
            not_allowed.clone(),
        ),
        (
            "POST ?uploads on a bucket",
            c.req("POST", Some(B), None).query("uploads", ""),
            not_allowed.clone(),
        ),
        (
            "PUT ?uploads on a bucket",
            c.req("PUT", Some(B), None).query("uploads", ""),
            not_allowed.clone(),
        ),
        (
            "PUT ?uploadId on a bucket",
            c.req("PUT", Some(B), None)
                .query("uploadId", &id)
                .query("partNumber", "1"),
            not_allowed.clone(),
        ),
        (
            "DELETE ?uploadId on a bucket",
            c.req("DELETE", Some(B), None).query("uploadId", &id),
            not_allowed.clone(),
        ),
        (
            "POST ?delete on an object",
            c.req("POST", Some(B), Some("existing"))
                .query("delete", "")
                .body("<Delete><Object><Key>existing</Key></Object></Delete>"),
            not_allowed.clone(),
        ),
        (
            "PUT part without uploadId",
            c.req("PUT", Some(B), Some("big"))
                .query("partNumber", "1")
                .body(pattern(5, 0)),
            oss(404, "NoSuchUpload"),
        ),
        (
            "POST complete on another key",
            c.req("POST", Some(B), Some("other"))
                .query("uploadId", &id)
                .body("<CompleteMultipartUpload/>"),
            oss(404, "NoSuchUpload"),
        ),
        (
            "HEAD on a missing bucket",
            c.req("HEAD", Some("hostile-missing"), None),
            oss(404, "NoSuchBucket"),
        ),
        (
            "DELETE a non-empty bucket",
            c.req("DELETE", Some(B), None),
            oss(409, "BucketNotEmpty"),
        ),
        (
            "PUT an existing bucket of one's own",
            c.req("PUT", Some(B), None),
            Expect::Status(200),
        ),
        (
            "OPTIONS without Origin",
            c.req("OPTIONS", Some(B), Some("existing")).sign(Sign::None),
            oss(403, "AccessForbidden"),
        ),
        (
            "put with forbid-overwrite",
            c.req("PUT", Some(B), Some("existing"))
                .header("x-oss-forbid-overwrite", "true")
                .body(pattern(5, 0)),
            oss(409, "FileAlreadyExists"),
        ),
    ] {
        c.add("methods", name, req, expect);
    }
    {
        let method = "CONNECT";
        let raw = c.raw_request(method, &format!("/{B}/existing"), "", b"");
        // hyper hands an origin-form CONNECT to the service like any extension method.
        c.raw(
            "methods",
            format!("{method} with a path"),
            raw,
            oss(405, "MethodNotAllowed"),
        );
    }
}

/// A server with a bucket holding one object, a CORS rule, and an upload holding one part;
/// it also knows an STS credential.
fn seeded() -> (TestServer, String) {
    let s = TestServer::start_with(|config| {
        config
            .credentials
            .push(osspart_protocol::sign::Credentials {
                access_key_id: STS_ID.into(),
                access_key_secret: STS_SECRET.into(),
                security_token: Some(STS_TOKEN.into()),
            });
        config
            .credentials
            .push(osspart_protocol::sign::Credentials {
                access_key_id: STS_EXPIRED_ID.into(),
                access_key_secret: STS_SECRET.into(),
                security_token: Some(STS_TOKEN.into()),
            });
        config.key_expiry.insert(
            STS_EXPIRED_ID.into(),
            time::OffsetDateTime::now_utc() - time::Duration::minutes(1),
        );
    });
    let id = s.seed(B, EXISTING_LEN);
    let r = s
        .req("PUT", Some(B), None)
        .query("cors", "")
        .body("<CORSConfiguration><CORSRule><AllowedOrigin>https://a.example</AllowedOrigin><AllowedMethod>GET</AllowedMethod></CORSRule></CORSConfiguration>")
        .send();
    assert_eq!(r.status, 200, "{}", r.text());
    (s, id)
}

/// Adds the appendable object [`LOG`] and the sequential upload of [`SEQ_KEY`] (parts 1 and
/// 2) to the seeded bucket; returns the upload's id.
fn seed_append_and_sequential(s: &TestServer) -> String {
    let r = s
        .req("POST", Some(B), Some(LOG))
        .query("append", "")
        .query("position", "0")
        .body(pattern(LOG_LEN, 9))
        .send();
    assert_eq!(r.status, 200, "{}", r.text());
    let r = s
        .req("POST", Some(B), Some(SEQ_KEY))
        .query("uploads", "")
        .query("sequential", "")
        .send();
    assert_eq!(r.status, 200, "{}", r.text());
    let id = between_all(&r.text(), "<UploadId>", "</UploadId>").remove(0);
    for n in ["1", "2"] {
        let r = s
            .req("PUT", Some(B), Some(SEQ_KEY))
            .query("partNumber", n)
            .query("uploadId", &id)
            .body(pattern(10, 5))
            .send();
        assert_eq!(r.status, 200, "{}", r.text());
    }
    id
}

/// Checks one answer against its expectation; `Err` describes the mismatch.
fn check(resp: &Resp, expect: &Expect) -> Result<(), String> {
    let got = format!(
        "got {} {:?}: {:.300}",
        resp.status,
        resp.code(),
        resp.text()
    );
    if resp.status >= 500 && resp.code().as_deref() != Some("NotImplemented") {
        return Err(format!("server error; {got}"));
    }
    match expect {
        Expect::Oss(status, code) => {
            if resp.status != *status || resp.code().as_deref() != Some(*code) {
                return Err(format!("want {status} {code}; {got}"));
            }
            if resp.header("x-oss-request-id").is_none() || resp.header("date").is_none() {
                return Err(format!("error without x-oss-request-id or Date; {got}"));
            }
        }
        Expect::Framing(statuses) => {
            if !statuses.contains(&resp.status) && resp.status != 0 {
                return Err(format!("want framing rejection {statuses:?}; {got}"));
            }
            if resp.code().is_some() {
                return Err(format!("framing rejection carries an OSS code; {got}"));
            }
        }
        Expect::BodyFailure => {
            let oss_answer = resp.status == 400 && resp.code().as_deref() == Some("IncompleteBody");
            let bare = (resp.status == 400 || resp.status == 0) && resp.code().is_none();
            if !oss_answer && !bare {
                return Err(format!("want IncompleteBody or a framing rejection; {got}"));
            }
        }
        Expect::Status(status) => {
            if resp.status != *status {
                return Err(format!("want {status}; {got}"));
            }
        }
        Expect::WholeObject => {
            if resp.status != 200 || resp.body != pattern(EXISTING_LEN, 1) {
                return Err(format!("want 200 with the whole object; {got}"));
            }
        }
    }
    Ok(())
}

fn send(addr: SocketAddr, send: &Send) -> Resp {
    match send {
        Send::Wire(w) => w.send(),
        Send::Raw(raw) => send_bytes(addr, raw, raw.starts_with(b"HEAD ")),
        Send::RawThenEof(raw) => send_bytes_then_eof(addr, raw),
    }
}

#[test]
fn hostile_requests_get_their_error_and_change_nothing() {
    let (s, upload_id) = seeded();
    let seq_upload_id = Some(seed_append_and_sequential(&s));
    let mut corpus = Corpus {
        s: &s,
        upload_id,
        seq_upload_id,
        cases: Vec::new(),
    };
    build_corpus(&mut corpus);
    let cases = std::mem::take(&mut corpus.cases);
    let mut per_category = std::collections::BTreeMap::<&str, usize>::new();
    for case in &cases {
        *per_category.entry(case.category).or_default() += 1;
    }
    eprintln!("hostile corpus: {} cases {per_category:?}", cases.len());
    assert!(cases.len() >= 300, "only {} cases", cases.len());

    let baseline = snapshot(&s, B);
    let mut failures = Vec::new();
    for case in &cases {
        let started = std::time::Instant::now();
        let resp = send(s.addr, &case.send);
        if started.elapsed() > std::time::Duration::from_millis(500) {
            eprintln!(
                "slow case [{}] {}: {:?}",
                case.category,
                case.name,
                started.elapsed()
            );
        }
        if let Err(e) = check(&resp, &case.expect) {
            failures.push(format!("[{}] {}: {e}", case.category, case.name));
        }
        // The server still answers, and nothing it holds changed.
        let after = snapshot(&s, B);
        if after != baseline {
            failures.push(format!(
                "[{}] {}: store changed\nbefore: {baseline:?}\nafter: {after:?}",
                case.category, case.name
            ));
            break;
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} hostile cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}
