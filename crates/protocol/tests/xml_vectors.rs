//! XML bodies against the SDK vectors: every `vectors/xml/*.xml` parses into its type, writes
//! back byte-for-byte (modulo indentation) and parses again to an equal value; field values
//! agree with what the official SDKs parsed (`parse-results.json`); hostile and malformed bodies
//! are refused.

use std::fmt::Debug;
use std::path::PathBuf;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use osspart_protocol::encoding::decode_path;
use osspart_protocol::limits::MAX_XML_BODY;
use osspart_protocol::xml::*;
use osspart_protocol::ErrorCode;

fn vector_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/xml")
}

fn vector(name: &str) -> Vec<u8> {
    std::fs::read(vector_dir().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// What SDK `sdk` parsed from vector `file`.
fn sdk_result(sdk: &str, file: &str) -> Value {
    let all: Value =
        serde_json::from_slice(&std::fs::read(vector_dir().join("parse-results.json")).unwrap())
            .unwrap();
    assert_eq!(all[sdk][file]["parsed"], true, "{sdk} {file}");
    all[sdk][file]["result"].clone()
}

/// Drops whitespace that sits between two tags (indentation), keeping text content intact.
fn strip_indentation(xml: &str) -> String {
    let mut out = String::with_capacity(xml.len());
    let mut pending = String::new();
    for c in xml.chars() {
        if c.is_whitespace() {
            pending.push(c);
            continue;
        }
        let between_tags = out.ends_with('>') && c == '<';
        if !between_tags {
            out.push_str(&pending);
        }
        pending.clear();
        out.push(c);
    }
    out
}

/// Parses a vector, checks that writing it back gives the same document (indentation aside)
/// and that the written document parses to the same value.
fn round_trip<T>(file: &str) -> T
where
    T: Serialize + DeserializeOwned + PartialEq + Debug,
{
    let body = vector(file);
    let first: T = from_xml(&body).unwrap_or_else(|e| panic!("{file}: {e}"));
    let written = to_xml(&first);
    assert!(
        written.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<"),
        "{file}: {written}"
    );
    assert!(!written.contains("xmlns"), "{file}: no namespace");
    assert_eq!(
        strip_indentation(&written),
        strip_indentation(std::str::from_utf8(&body).unwrap()),
        "{file}: element order or content differs"
    );
    let second: T = from_xml(written.as_bytes()).unwrap_or_else(|e| panic!("{file}: {e}"));
    assert_eq!(first, second, "{file}");
    assert_eq!(to_xml(&second), written, "{file}: output is stable");
    first
}

/// `"ABC"` -> `ABC`, as the v2 SDK keeps the quotes and we do not.
fn unquoted(v: &Value) -> String {
    v.as_str().unwrap().trim_matches('"').to_owned()
}

// ------------------------------------------------------------------------------------------
// Vectors

#[test]
fn every_vector_file_has_a_test() {
    let covered = [
        "complete-multipart-upload.xml",
        "copy-part-result.xml",
        "cors-configuration.xml",
        "error-invalid-part.xml",
        "error-no-such-upload.xml",
        "error-signature.xml",
        "error-time-skewed.xml",
        "initiate-multipart-upload-url.xml",
        "initiate-multipart-upload.xml",
        "list-buckets.xml",
        "list-multipart-uploads-empty.xml",
        "list-multipart-uploads.xml",
        "list-objects-v1.xml",
        "list-objects-v2.xml",
        "list-parts-single.xml",
        "list-parts.xml",
    ];
    let mut found: Vec<String> = std::fs::read_dir(vector_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".xml"))
        .collect();
    found.sort();
    assert_eq!(found, covered);
}

#[test]
fn initiate_multipart_upload() {
    let r: InitiateMultipartUploadResult = round_trip("initiate-multipart-upload.xml");
    let v2 = sdk_result("alibabacloud-oss-v2", "initiate-multipart-upload.xml");
    assert_eq!(r.bucket, v2["bucket"]);
    assert_eq!(r.key, v2["key"]);
    assert_eq!(r.upload_id, v2["upload_id"]);
    assert_eq!(
        r.upload_id,
        sdk_result("oss2", "initiate-multipart-upload.xml")
    );
    assert_eq!(
        r.upload_id,
        sdk_result("ali-oss", "initiate-multipart-upload.xml")["uploadId"]
    );
    assert_eq!(r.encoding_type, None);
}

#[test]
fn initiate_multipart_upload_url_encoded() {
    let r: InitiateMultipartUploadResult = round_trip("initiate-multipart-upload-url.xml");
    let v2 = sdk_result("alibabacloud-oss-v2", "initiate-multipart-upload-url.xml");
    // The types carry the key as written; decoding is the caller's job.
    assert_eq!(r.key, "dir%2Fa%20b%2Bc%2F%C3%BC.bin");
    assert_eq!(decode_path(&r.key).unwrap(), v2["key"].as_str().unwrap());
    assert_eq!(r.upload_id, v2["upload_id"]);
    assert_eq!(r.encoding_type.as_deref(), Some("url"));
}

#[test]
fn complete_multipart_upload_result() {
    let r: CompleteMultipartUploadResult = round_trip("complete-multipart-upload.xml");
    let v2 = sdk_result("alibabacloud-oss-v2", "complete-multipart-upload.xml");
    assert_eq!(r.location, v2["location"]);
    assert_eq!(r.bucket, v2["bucket"]);
    assert_eq!(r.key, v2["key"]);
    assert_eq!(r.etag, unquoted(&v2["etag"]));
    assert_eq!(
        r.etag,
        sdk_result("oss2", "complete-multipart-upload.xml")["etag"]
    );
    assert_eq!(r.encoding_type, None);
}

#[test]
fn copy_part_result() {
    let r: CopyPartResult = round_trip("copy-part-result.xml");
    let v2 = sdk_result("alibabacloud-oss-v2", "copy-part-result.xml");
    assert_eq!(r.etag, unquoted(&v2["etag"]));
    assert_eq!(r.etag, "A6764431550113210BE530E71BF3BA4C");
    assert_eq!(r.last_modified, "2024-01-02T03:04:05.000Z");
}

#[test]
fn list_multipart_uploads() {
    let r: ListMultipartUploadsResult = round_trip("list-multipart-uploads.xml");
    let oss2 = sdk_result("oss2", "list-multipart-uploads.xml");
    let v2 = sdk_result("alibabacloud-oss-v2", "list-multipart-uploads.xml");
    assert_eq!(r.bucket, v2["bucket"]);
    assert!(r.is_truncated);
    assert_eq!(oss2["is_truncated"], true);
    assert_eq!(r.max_uploads, 2);
    assert_eq!(r.max_uploads, v2["max_uploads"].as_u64().unwrap() as u32);
    assert_eq!(r.encoding_type.as_deref(), Some("url"));
    assert_eq!(decode_path(&r.delimiter).unwrap(), v2["delimiter"]);
    assert_eq!(
        decode_path(&r.next_key_marker).unwrap(),
        oss2["next_key_marker"]
    );
    assert_eq!(r.next_upload_id_marker, oss2["next_upload_id_marker"]);
    assert_eq!(r.key_marker, "");
    assert_eq!(r.upload_id_marker, "");
    assert_eq!(r.prefix, "");
    assert_eq!(r.uploads.len(), 1);
    let (ours, theirs) = (&r.uploads[0], &oss2["upload_list"][0]);
    assert_eq!(decode_path(&ours.key).unwrap(), theirs["key"]);
    assert_eq!(ours.upload_id, theirs["upload_id"]);
    assert_eq!(ours.storage_class, "Standard");
    assert_eq!(ours.initiated, "2024-01-02T03:04:05.000Z");
    let prefixes: Vec<String> = r
        .common_prefixes
        .iter()
        .map(|p| decode_path(&p.prefix).unwrap())
        .collect();
    assert_eq!(prefixes, ["logs/"]);
    assert_eq!(oss2["prefix_list"], serde_json::json!(prefixes));
}

#[test]
fn list_multipart_uploads_empty() {
    let r: ListMultipartUploadsResult = round_trip("list-multipart-uploads-empty.xml");
    let oss2 = sdk_result("oss2", "list-multipart-uploads-empty.xml");
    assert!(!r.is_truncated);
    assert_eq!(oss2["is_truncated"], false);
    assert_eq!(r.next_key_marker, oss2["next_key_marker"]);
    assert_eq!(r.next_upload_id_marker, oss2["next_upload_id_marker"]);
    assert_eq!(r.max_uploads, 1000);
    assert!(r.uploads.is_empty() && r.common_prefixes.is_empty());
    assert_eq!(r.encoding_type, None);
}

#[test]
fn list_parts() {
    let r: ListPartsResult = round_trip("list-parts.xml");
    let oss2 = sdk_result("oss2", "list-parts.xml");
    let v2 = sdk_result("alibabacloud-oss-v2", "list-parts.xml");
    assert_eq!(r.bucket, v2["bucket"]);
    assert_eq!(r.key, v2["key"]);
    assert_eq!(r.upload_id, v2["upload_id"]);
    assert_eq!(r.storage_class, v2["storage_class"]);
    assert_eq!(r.part_number_marker, 0);
    assert_eq!(r.next_part_number_marker.to_string(), oss2["next_marker"]);
    assert_eq!(r.max_parts, 2);
    assert!(r.is_truncated);
    assert_eq!(r.parts.len(), 2);
    for (ours, theirs) in r.parts.iter().zip(oss2["parts"].as_array().unwrap()) {
        assert_eq!(u64::from(ours.part_number), theirs["part_number"]);
        assert_eq!(ours.etag, theirs["etag"]);
        assert_eq!(ours.size, theirs["size"]);
    }
    for (ours, theirs) in r.parts.iter().zip(v2["parts"].as_array().unwrap()) {
        assert_eq!(ours.etag, unquoted(&theirs["etag"]));
        assert_eq!(
            ours.hash_crc64ecma.unwrap().to_string(),
            theirs["hash_crc64"]
        );
    }
    assert_eq!(r.parts[0].hash_crc64ecma, Some(5_101_348_889_514_109_670));
    assert_eq!(r.parts[1].last_modified, "2024-01-02T03:04:06.000Z");
}

#[test]
fn list_parts_single() {
    // ali-oss turns a single part into an object rather than an array; we always have a list.
    let r: ListPartsResult = round_trip("list-parts-single.xml");
    let ali = sdk_result("ali-oss", "list-parts-single.xml");
    assert_eq!(r.part_number_marker.to_string(), ali["partNumberMarker"]);
    assert_eq!(
        r.next_part_number_marker.to_string(),
        ali["nextPartNumberMarker"]
    );
    assert_eq!(r.is_truncated.to_string(), ali["isTruncated"]);
    assert_eq!(r.parts.len(), 1);
    let part = &r.parts[0];
    assert_eq!(part.part_number.to_string(), ali["parts"]["PartNumber"]);
    assert_eq!(part.etag, unquoted(&ali["parts"]["ETag"]));
    assert_eq!(part.size.to_string(), ali["parts"]["Size"]);
    assert_eq!(part.hash_crc64ecma, Some(1_234_567_890_123_456_789));
}

#[test]
fn list_objects_v1() {
    let r: ListBucketResult = round_trip("list-objects-v1.xml");
    let oss2 = sdk_result("oss2", "list-objects-v1.xml");
    let v2 = sdk_result("alibabacloud-oss-v2", "list-objects-v1.xml");
    assert_eq!(r.name, v2["name"]);
    assert_eq!(decode_path(&r.prefix).unwrap(), v2["prefix"]);
    assert_eq!(r.marker, "");
    assert_eq!(r.max_keys, 2);
    assert_eq!(decode_path(&r.delimiter).unwrap(), v2["delimiter"]);
    assert!(r.is_truncated);
    assert_eq!(
        decode_path(r.next_marker.as_deref().unwrap()).unwrap(),
        oss2["next_marker"]
    );
    assert_eq!(r.encoding_type.as_deref(), Some("url"));
    assert_eq!(r.contents.len(), 1);
    let (ours, theirs) = (&r.contents[0], &oss2["object_list"][0]);
    assert_eq!(decode_path(&ours.key).unwrap(), theirs["key"]);
    assert_eq!(ours.etag, theirs["etag"]);
    assert_eq!(ours.object_type, ObjectType::Multipart);
    assert_eq!(ours.object_type.as_str(), theirs["type"]);
    assert_eq!(ours.size, theirs["size"]);
    assert_eq!(ours.storage_class, theirs["storage_class"]);
    let owner = ours.owner.as_ref().expect("v1 entries carry an owner");
    assert_eq!(owner.id, theirs["owner"]["id"]);
    assert_eq!(owner.display_name, theirs["owner"]["display_name"]);
    assert_eq!(
        decode_path(&r.common_prefixes[0].prefix).unwrap(),
        oss2["prefix_list"][0]
    );
}

#[test]
fn list_objects_v2() {
    let r: ListBucketResultV2 = round_trip("list-objects-v2.xml");
    let v2 = sdk_result("alibabacloud-oss-v2", "list-objects-v2.xml");
    assert_eq!(r.name, v2["name"]);
    assert_eq!(r.continuation_token.as_deref(), Some("ZGlyL2EuYmlu"));
    assert_eq!(
        r.continuation_token.as_deref(),
        v2["continuation_token"].as_str()
    );
    assert_eq!(r.start_after, None);
    assert_eq!(r.max_keys, 1);
    assert_eq!(r.delimiter, "");
    assert!(r.is_truncated);
    assert_eq!(
        r.next_continuation_token.as_deref(),
        v2["next_continuation_token"].as_str()
    );
    assert_eq!(r.key_count, 1);
    assert_eq!(u64::from(r.key_count), v2["key_count"]);
    let (ours, theirs) = (&r.contents[0], &v2["contents"][0]);
    assert_eq!(decode_path(&ours.key).unwrap(), theirs["key"]);
    assert_eq!(ours.etag, unquoted(&theirs["etag"]));
    assert_eq!(ours.object_type, ObjectType::Normal);
    assert_eq!(ours.size, 5);
    assert_eq!(ours.owner, None);
    assert!(r.common_prefixes.is_empty());
}

#[test]
fn list_buckets() {
    let r: ListAllMyBucketsResult = round_trip("list-buckets.xml");
    let oss2 = sdk_result("oss2", "list-buckets.xml");
    let ali = sdk_result("ali-oss", "list-buckets.xml");
    assert_eq!(r.owner.id, ali["owner"]["id"]);
    assert_eq!(r.owner.display_name, oss2["owner"]["display_name"]);
    assert_eq!(r.buckets.len(), 1);
    let (ours, theirs) = (&r.buckets[0], &oss2["buckets"][0]);
    assert_eq!(ours.name, theirs["name"]);
    assert_eq!(ours.location, theirs["location"]);
    assert_eq!(ours.extranet_endpoint, theirs["extranet_endpoint"]);
    assert_eq!(ours.intranet_endpoint, theirs["intranet_endpoint"]);
    assert_eq!(ours.storage_class, theirs["storage_class"]);
    assert_eq!(ours.region, theirs["region"]);
    assert_eq!(ours.creation_date, "2024-01-02T03:04:05.000Z");
    assert_eq!(r.is_truncated, None);
    assert_eq!(r.next_marker, None);
}

#[test]
fn cors_configuration() {
    let r: CorsConfiguration = round_trip("cors-configuration.xml");
    let oss2 = sdk_result("oss2", "cors-configuration.xml");
    assert_eq!(r.rules.len(), 1);
    let (ours, theirs) = (&r.rules[0], &oss2["rules"][0]);
    assert_eq!(
        serde_json::json!(ours.allowed_origins),
        theirs["allowed_origins"]
    );
    assert_eq!(
        serde_json::json!(ours.allowed_methods),
        theirs["allowed_methods"]
    );
    assert_eq!(
        serde_json::json!(ours.allowed_headers),
        theirs["allowed_headers"]
    );
    assert_eq!(
        serde_json::json!(ours.expose_headers),
        theirs["expose_headers"]
    );
    assert_eq!(ours.max_age_seconds, Some(600));
    assert_eq!(r.response_vary, Some(false));
    assert_eq!(oss2["response_vary"], false);
}

/// Compares an error body with oss2's `details`, which keeps every child as a dict entry.
fn assert_error_matches_oss2(r: &ErrorBody, file: &str) {
    let details = &sdk_result("oss2", file)["details"];
    let details = details.as_object().unwrap();
    assert_eq!(r.code, details["Code"]);
    assert_eq!(r.message, details["Message"]);
    assert_eq!(r.request_id, details["RequestId"]);
    assert_eq!(r.host_id, details["HostId"]);
    assert_eq!(r.ec.as_deref(), details.get("EC").and_then(Value::as_str));
    assert_eq!(
        r.recommend_doc.as_deref(),
        details.get("RecommendDoc").and_then(Value::as_str)
    );
    let standard = [
        "Code",
        "Message",
        "RequestId",
        "HostId",
        "EC",
        "RecommendDoc",
    ];
    let their_extras: Vec<(String, String)> = details
        .iter()
        .filter(|(k, _)| !standard.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
        .collect();
    let mut ours = r.extra.clone();
    let mut theirs = their_extras;
    ours.sort();
    theirs.sort();
    assert_eq!(ours, theirs, "{file}");
}

#[test]
fn error_no_such_upload() {
    let r: ErrorBody = round_trip("error-no-such-upload.xml");
    assert_error_matches_oss2(&r, "error-no-such-upload.xml");
    assert_eq!(r.error_code(), Some(ErrorCode::NoSuchUpload));
    assert_eq!(
        r.extra("UploadId"),
        Some("0004B9894A22E5B1888A1E29F823ABCD")
    );
    assert_eq!(r.ec.as_deref(), Some("0000-00000000"));
}

#[test]
fn error_invalid_part() {
    let r: ErrorBody = round_trip("error-invalid-part.xml");
    assert_error_matches_oss2(&r, "error-invalid-part.xml");
    assert_eq!(r.error_code(), Some(ErrorCode::InvalidPart));
    // Extras keep document order; an extra ETag is kept as written (quotes included).
    let names: Vec<&str> = r.extra.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["ETag", "PartNumber", "UploadId"]);
    assert_eq!(
        r.extra("ETag"),
        Some("\"00000000000000000000000000000000\"")
    );
    assert_eq!(r.extra("PartNumber"), Some("1"));
}

#[test]
fn error_signature_keeps_multiline_string_to_sign() {
    let r: ErrorBody = round_trip("error-signature.xml");
    assert_error_matches_oss2(&r, "error-signature.xml");
    assert_eq!(
        r.extra("StringToSign"),
        Some("GET\n\n\nTue, 02 Jan 2024 03:04:05 GMT\n/examplebucket/docs/readme.txt")
    );
    assert_eq!(r.ec.as_deref(), Some("0002-00000040"));
    assert_eq!(
        r.recommend_doc.as_deref(),
        Some("https://api.aliyun.com/troubleshoot?q=0002-00000040")
    );
}

#[test]
fn error_time_skewed_carries_server_time() {
    let r: ErrorBody = round_trip("error-time-skewed.xml");
    assert_error_matches_oss2(&r, "error-time-skewed.xml");
    let ali = sdk_result("ali-oss", "error-time-skewed.xml");
    assert_eq!(r.code, ali["code"]);
    assert_eq!(r.request_id, ali["requestId"]);
    assert_eq!(r.host_id, ali["hostId"]);
    assert_eq!(r.ec.as_deref(), ali["ecCode"].as_str());
    assert_eq!(r.extra("ServerTime"), Some("2024-01-02T04:10:00.000Z"));
    assert_eq!(r.extra("MaxAllowedSkewMilliseconds"), Some("900000"));
}

// ------------------------------------------------------------------------------------------
// CompleteMultipartUpload request bodies as the SDKs send them

fn two_parts() -> CompleteMultipartUpload {
    CompleteMultipartUpload {
        parts: vec![
            CompletePart {
                part_number: 1,
                etag: "3349DC700140D7F86A0784842780ABCD".into(),
            },
            CompletePart {
                part_number: 5,
                etag: "8EFDA8BE206636A695359836FE0AABCD".into(),
            },
        ],
    }
}

#[test]
fn complete_body_ali_oss_style() {
    let body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CompleteMultipartUpload>\n<Part>\n\
                <PartNumber>1</PartNumber>\n<ETag>\"3349DC700140D7F86A0784842780ABCD\"</ETag>\n\
                </Part>\n<Part>\n<PartNumber>5</PartNumber>\n\
                <ETag>\"8EFDA8BE206636A695359836FE0AABCD\"</ETag>\n</Part>\n\
                </CompleteMultipartUpload>\n";
    assert_eq!(
        from_xml::<CompleteMultipartUpload>(body.as_bytes()).unwrap(),
        two_parts()
    );
}

#[test]
fn complete_body_oss2_style_quoted_and_unquoted() {
    let quoted = "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber>\
                  <ETag>\"3349DC700140D7F86A0784842780ABCD\"</ETag></Part><Part>\
                  <PartNumber>5</PartNumber><ETag>\"8EFDA8BE206636A695359836FE0AABCD\"</ETag>\
                  </Part></CompleteMultipartUpload>";
    let unquoted = quoted.replace('"', "");
    let entity = quoted.replace('"', "&quot;");
    for body in [quoted.to_owned(), unquoted, entity] {
        assert_eq!(
            from_xml::<CompleteMultipartUpload>(body.as_bytes()).unwrap(),
            two_parts(),
            "{body}"
        );
    }
}

#[test]
fn complete_body_written_like_the_spec() {
    let written = to_xml(&two_parts());
    assert_eq!(
        written,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CompleteMultipartUpload>\
         <Part><PartNumber>1</PartNumber><ETag>\"3349DC700140D7F86A0784842780ABCD\"</ETag></Part>\
         <Part><PartNumber>5</PartNumber><ETag>\"8EFDA8BE206636A695359836FE0AABCD\"</ETag></Part>\
         </CompleteMultipartUpload>"
    );
    // An ETag handed over with its quotes (as in the HTTP header) is not quoted twice.
    let mut header_style = two_parts();
    header_style.parts[0].etag = "\"3349DC700140D7F86A0784842780ABCD\"".into();
    assert_eq!(to_xml(&header_style), written);
}

#[test]
fn complete_body_with_bom_and_unknown_elements() {
    let body = "\u{feff}<CompleteMultipartUpload><Part><PartNumber>1</PartNumber>\
                <ETag>3349DC700140D7F86A0784842780ABCD</ETag><Extra>x</Extra></Part>\
                <Part><PartNumber>5</PartNumber><ETag>8EFDA8BE206636A695359836FE0AABCD</ETag>\
                </Part></CompleteMultipartUpload>";
    assert_eq!(
        from_xml::<CompleteMultipartUpload>(body.as_bytes()).unwrap(),
        two_parts()
    );
}

#[test]
fn complete_body_of_ten_thousand_parts_fits() {
    let full = CompleteMultipartUpload {
        parts: (1..=10_000)
            .map(|n| CompletePart {
                part_number: n,
                etag: format!("{n:032X}"),
            })
            .collect(),
    };
    let body = to_xml(&full);
    assert!(body.len() <= MAX_XML_BODY);
    assert_eq!(
        from_xml::<CompleteMultipartUpload>(body.as_bytes()).unwrap(),
        full
    );
}

#[test]
fn complete_body_missing_or_bad_fields_are_refused() {
    let cases = [
        (
            "missing PartNumber",
            "<CompleteMultipartUpload><Part><ETag>\"A\"</ETag></Part></CompleteMultipartUpload>",
        ),
        (
            "missing ETag",
            "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber></Part></CompleteMultipartUpload>",
        ),
        (
            "non-numeric PartNumber",
            "<CompleteMultipartUpload><Part><PartNumber>one</PartNumber><ETag>A</ETag></Part></CompleteMultipartUpload>",
        ),
        (
            "negative PartNumber",
            "<CompleteMultipartUpload><Part><PartNumber>-1</PartNumber><ETag>A</ETag></Part></CompleteMultipartUpload>",
        ),
        (
            "fractional PartNumber",
            "<CompleteMultipartUpload><Part><PartNumber>1.5</PartNumber><ETag>A</ETag></Part></CompleteMultipartUpload>",
        ),
        (
            "empty PartNumber",
            "<CompleteMultipartUpload><Part><PartNumber></PartNumber><ETag>A</ETag></Part></CompleteMultipartUpload>",
        ),
        (
            "PartNumber beyond u32",
            "<CompleteMultipartUpload><Part><PartNumber>99999999999</PartNumber><ETag>A</ETag></Part></CompleteMultipartUpload>",
        ),
    ];
    for (why, body) in cases {
        let err = from_xml::<CompleteMultipartUpload>(body.as_bytes()).expect_err(why);
        assert!(matches!(err, XmlError::Schema(_)), "{why}: {err:?}");
    }
}

#[test]
fn complete_body_without_parts_parses_empty() {
    // The server turns an empty list into MalformedXML; the parser itself accepts it.
    for body in [
        "<CompleteMultipartUpload/>",
        "<CompleteMultipartUpload>\n</CompleteMultipartUpload>",
    ] {
        let parsed = from_xml::<CompleteMultipartUpload>(body.as_bytes()).unwrap();
        assert!(parsed.parts.is_empty(), "{body}");
    }
}

// ------------------------------------------------------------------------------------------
// Rejections

#[test]
fn malformed_xml_is_refused() {
    let cases = [
        ("empty body", ""),
        ("only whitespace", "  \n "),
        ("only a declaration", "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"),
        ("plain text", "PartNumber=1"),
        ("unclosed root", "<CompleteMultipartUpload><Part>"),
        (
            "mismatched end tag",
            "<CompleteMultipartUpload><Part></Prat></CompleteMultipartUpload>",
        ),
        (
            "two roots",
            "<CompleteMultipartUpload></CompleteMultipartUpload><CompleteMultipartUpload></CompleteMultipartUpload>",
        ),
        (
            "text after the root",
            "<CompleteMultipartUpload></CompleteMultipartUpload>trailing",
        ),
        (
            "unterminated tag",
            "<CompleteMultipartUpload><Part",
        ),
        (
            "stray end tag",
            "</CompleteMultipartUpload>",
        ),
        (
            "processing instruction",
            "<CompleteMultipartUpload><?php echo 1; ?></CompleteMultipartUpload>",
        ),
    ];
    for (why, body) in cases {
        let err = from_xml::<CompleteMultipartUpload>(body.as_bytes()).expect_err(why);
        assert!(matches!(err, XmlError::Malformed(_)), "{why}: {err:?}");
    }
}

#[test]
fn wrong_root_is_refused() {
    let body = "<CompleteMultipartUploadResult><Part><PartNumber>1</PartNumber><ETag>A</ETag>\
                </Part></CompleteMultipartUploadResult>";
    assert_eq!(
        from_xml::<CompleteMultipartUpload>(body.as_bytes()).unwrap_err(),
        XmlError::WrongRoot {
            expected: "CompleteMultipartUpload".into(),
            found: "CompleteMultipartUploadResult".into(),
        }
    );
    // An error body is not a listing, and a listing is not an error body.
    let err = from_xml::<ListPartsResult>(&vector("error-no-such-upload.xml")).unwrap_err();
    assert!(matches!(err, XmlError::WrongRoot { .. }), "{err:?}");
    let err = from_xml::<ErrorBody>(&vector("list-parts.xml")).unwrap_err();
    assert!(matches!(err, XmlError::WrongRoot { .. }), "{err:?}");
    // Names are case-sensitive.
    let err = from_xml::<CompleteMultipartUpload>(b"<completemultipartupload/>").unwrap_err();
    assert!(matches!(err, XmlError::WrongRoot { .. }), "{err:?}");
}

#[test]
fn dtd_and_entities_are_refused() {
    let billion_laughs = r#"<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>&lol4;</ETag></Part></CompleteMultipartUpload>"#;
    let external = r#"<?xml version="1.0"?>
<!DOCTYPE c [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>&xxe;</ETag></Part></CompleteMultipartUpload>"#;
    let lower_case = "<!doctype CompleteMultipartUpload><CompleteMultipartUpload/>";
    let bare_doctype = "<!DOCTYPE CompleteMultipartUpload><CompleteMultipartUpload/>";
    let entity_only = "<!ENTITY a \"b\"><CompleteMultipartUpload/>";
    for body in [
        billion_laughs,
        external,
        lower_case,
        bare_doctype,
        entity_only,
    ] {
        assert_eq!(
            from_xml::<CompleteMultipartUpload>(body.as_bytes()).unwrap_err(),
            XmlError::Dtd,
            "{body}"
        );
    }
}

#[test]
fn undeclared_entity_is_not_expanded() {
    let body = "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>&lol;</ETag>\
                </Part></CompleteMultipartUpload>";
    let err = from_xml::<CompleteMultipartUpload>(body.as_bytes()).unwrap_err();
    assert!(
        matches!(err, XmlError::Malformed(_) | XmlError::Schema(_)),
        "{err:?}"
    );
}

#[test]
fn oversized_body_is_refused_before_parsing() {
    // Well-formed and otherwise valid: only the size is wrong.
    let mut body = String::from("<CompleteMultipartUpload>");
    while body.len() <= MAX_XML_BODY {
        body.push_str("<Part><PartNumber>1</PartNumber><ETag>A</ETag></Part>");
    }
    body.push_str("</CompleteMultipartUpload>");
    assert_eq!(
        from_xml::<CompleteMultipartUpload>(body.as_bytes()).unwrap_err(),
        XmlError::TooLarge {
            size: body.len(),
            limit: MAX_XML_BODY,
        }
    );
}

#[test]
fn deeply_nested_garbage_is_refused() {
    let depth = 100_000;
    let body = format!(
        "<CompleteMultipartUpload>{}{}</CompleteMultipartUpload>",
        "<a>".repeat(depth),
        "</a>".repeat(depth)
    );
    assert!(body.len() <= MAX_XML_BODY);
    assert_eq!(
        from_xml::<CompleteMultipartUpload>(body.as_bytes()).unwrap_err(),
        XmlError::TooDeep {
            limit: MAX_XML_DEPTH
        }
    );
    // Inside a part, and unclosed: refused either way, without exhausting the stack.
    let body = format!(
        "<CompleteMultipartUpload><Part>{}",
        "<PartNumber>".repeat(depth)
    );
    let err = from_xml::<CompleteMultipartUpload>(body.as_bytes()).unwrap_err();
    assert!(
        matches!(err, XmlError::TooDeep { .. } | XmlError::Malformed(_)),
        "{err:?}"
    );
}

#[test]
fn non_utf8_is_refused() {
    let body = b"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>\xff\xfe</ETag></Part></CompleteMultipartUpload>";
    assert_eq!(
        from_xml::<CompleteMultipartUpload>(body).unwrap_err(),
        XmlError::NotUtf8
    );
}

#[test]
fn error_body_without_code_is_refused() {
    let err = from_xml::<ErrorBody>(b"<Error><Message>m</Message></Error>").unwrap_err();
    assert!(matches!(err, XmlError::Schema(_)), "{err:?}");
}

// ------------------------------------------------------------------------------------------
// Writing: required-but-empty elements, element order, escaping

#[test]
fn empty_listing_still_writes_required_elements() {
    let uploads = ListMultipartUploadsResult {
        bucket: "b".into(),
        key_marker: String::new(),
        upload_id_marker: String::new(),
        next_key_marker: String::new(),
        next_upload_id_marker: String::new(),
        delimiter: String::new(),
        prefix: String::new(),
        max_uploads: 1000,
        is_truncated: false,
        encoding_type: None,
        uploads: vec![],
        common_prefixes: vec![],
    };
    let xml = to_xml(&uploads);
    for element in [
        "<NextKeyMarker></NextKeyMarker>",
        "<NextUploadIdMarker></NextUploadIdMarker>",
        "<IsTruncated>false</IsTruncated>",
    ] {
        assert!(xml.contains(element), "{element} in {xml}");
    }
    assert!(!xml.contains("EncodingType"));
    assert_eq!(
        strip_indentation(&xml),
        strip_indentation(
            std::str::from_utf8(&vector("list-multipart-uploads-empty.xml")).unwrap()
        )
        .replace("examplebucket", "b")
    );

    let parts = ListPartsResult {
        bucket: "b".into(),
        key: "k".into(),
        upload_id: "u".into(),
        storage_class: "Standard".into(),
        part_number_marker: 7,
        next_part_number_marker: 7,
        max_parts: 1000,
        is_truncated: false,
        encoding_type: Some("url".into()),
        parts: vec![],
    };
    let xml = to_xml(&parts);
    assert!(xml.contains(
        "<PartNumberMarker>7</PartNumberMarker><NextPartNumberMarker>7</NextPartNumberMarker>\
         <MaxParts>1000</MaxParts><IsTruncated>false</IsTruncated><EncodingType>url</EncodingType>\
         </ListPartsResult>"
    ));
    assert_eq!(from_xml::<ListPartsResult>(xml.as_bytes()).unwrap(), parts);
}

#[test]
fn complete_result_puts_encoding_type_first() {
    let r = CompleteMultipartUploadResult {
        encoding_type: Some("url".into()),
        location: "http://examplebucket.oss-cn-hangzhou.aliyuncs.com/video/big.mp4".into(),
        bucket: "examplebucket".into(),
        key: "video%2Fbig.mp4".into(),
        etag: "83919CBD8C2144D4BB5649E3AFAB498A-3".into(),
    };
    let xml = to_xml(&r);
    assert_eq!(
        xml,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CompleteMultipartUploadResult>\
         <EncodingType>url</EncodingType>\
         <Location>http://examplebucket.oss-cn-hangzhou.aliyuncs.com/video/big.mp4</Location>\
         <Bucket>examplebucket</Bucket><Key>video%2Fbig.mp4</Key>\
         <ETag>\"83919CBD8C2144D4BB5649E3AFAB498A-3\"</ETag></CompleteMultipartUploadResult>"
    );
    assert_eq!(
        from_xml::<CompleteMultipartUploadResult>(xml.as_bytes()).unwrap(),
        r
    );
}

#[test]
fn special_characters_round_trip() {
    let key = "a&b<c>d\"e'f ü/日本.bin";
    let r = InitiateMultipartUploadResult {
        bucket: "b".into(),
        key: key.into(),
        upload_id: "u".into(),
        encoding_type: None,
    };
    let xml = to_xml(&r);
    assert!(xml.contains("a&amp;b&lt;c&gt;d"), "{xml}");
    assert_eq!(
        from_xml::<InitiateMultipartUploadResult>(xml.as_bytes())
            .unwrap()
            .key,
        key
    );
}

#[test]
fn error_body_built_by_the_server() {
    let body = ErrorBody::new(
        ErrorCode::NoSuchUpload,
        "5C3D9175B6FC201293AD4890",
        "examplebucket.oss-cn-hangzhou.aliyuncs.com",
    )
    .with_extra("UploadId", "0004B9894A22E5B1888A1E29F823ABCD")
    .with_extra("not a name", "dropped")
    .with_extra("Code", "dropped: would duplicate <Code>");
    let body = ErrorBody {
        ec: Some("0000-00000000".into()),
        ..body
    };
    let xml = to_xml(&body);
    assert_eq!(
        xml,
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>NoSuchUpload</Code>\
             <Message>{}</Message><RequestId>5C3D9175B6FC201293AD4890</RequestId>\
             <HostId>examplebucket.oss-cn-hangzhou.aliyuncs.com</HostId>\
             <UploadId>0004B9894A22E5B1888A1E29F823ABCD</UploadId><EC>0000-00000000</EC></Error>",
            ErrorCode::NoSuchUpload.default_message()
        )
    );
    let back: ErrorBody = from_xml(xml.as_bytes()).unwrap();
    assert_eq!(back.code, "NoSuchUpload");
    assert_eq!(
        back.extra,
        [(
            "UploadId".to_owned(),
            "0004B9894A22E5B1888A1E29F823ABCD".to_owned()
        )]
    );
}

#[test]
fn error_body_tolerates_what_real_oss_may_add() {
    let body = "<Error><Code>AccessDenied</Code><Message/><Detail><A>1</A></Detail>\
                <Header>x-oss-a</Header><Header>x-oss-b</Header></Error>";
    let r: ErrorBody = from_xml(body.as_bytes()).unwrap();
    assert_eq!(r.code, "AccessDenied");
    assert_eq!(r.message, "");
    assert_eq!(r.request_id, "");
    assert_eq!(r.ec, None);
    // Nested children are skipped; repeated names are kept in order.
    assert_eq!(
        r.extra,
        [
            ("Header".to_owned(), "x-oss-a".to_owned()),
            ("Header".to_owned(), "x-oss-b".to_owned()),
        ]
    );
}

// ------------------------------------------------------------------------------------------
// Bodies without SDK vectors

fn assert_round_trips<T>(value: &T) -> String
where
    T: Serialize + DeserializeOwned + PartialEq + Debug,
{
    let xml = to_xml(value);
    let back: T = from_xml(xml.as_bytes()).unwrap_or_else(|e| panic!("{e}: {xml}"));
    assert_eq!(&back, value, "{xml}");
    xml
}

#[test]
fn delete_multiple_objects() {
    // oss2's form: lower-case boolean, no declaration.
    let body = "<Delete><Quiet>true</Quiet><Object><Key>a.bin</Key></Object>\
                <Object><Key>dir/b c.bin</Key></Object></Delete>";
    let req: DeleteMultipleObjects = from_xml(body.as_bytes()).unwrap();
    assert_eq!(req.quiet, Some(true));
    let keys: Vec<&str> = req.objects.iter().map(|o| o.key.as_str()).collect();
    assert_eq!(keys, ["a.bin", "dir/b c.bin"]);
    assert_eq!(
        assert_round_trips(&req),
        format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{body}")
    );

    let loud: DeleteMultipleObjects =
        from_xml(b"<Delete><Object><Key>a</Key></Object></Delete>").unwrap();
    assert_eq!(loud.quiet, None);

    let result = DeleteResult {
        encoding_type: Some("url".into()),
        deleted: vec![
            DeletedObject {
                key: "a.bin".into(),
            },
            DeletedObject {
                key: "dir%2Fb%20c.bin".into(),
            },
        ],
    };
    assert_eq!(
        assert_round_trips(&result),
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<DeleteResult><EncodingType>url</EncodingType>\
         <Deleted><Key>a.bin</Key></Deleted><Deleted><Key>dir%2Fb%20c.bin</Key></Deleted>\
         </DeleteResult>"
    );
    assert_round_trips(&DeleteResult::default());
}

#[test]
fn copy_object_result() {
    let r = CopyObjectResult {
        last_modified: "2024-01-02T03:04:05.000Z".into(),
        etag: "5D41402ABC4B2A76B9719D911017C592".into(),
    };
    assert_eq!(
        assert_round_trips(&r),
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CopyObjectResult>\
         <LastModified>2024-01-02T03:04:05.000Z</LastModified>\
         <ETag>\"5D41402ABC4B2A76B9719D911017C592\"</ETag></CopyObjectResult>"
    );
}

#[test]
fn list_objects_v2_with_start_after_and_owner() {
    let r = ListBucketResultV2 {
        name: "b".into(),
        prefix: String::new(),
        continuation_token: None,
        start_after: Some("a".into()),
        max_keys: 100,
        delimiter: "/".into(),
        is_truncated: false,
        next_continuation_token: None,
        encoding_type: None,
        key_count: 2,
        contents: vec![ObjectEntry {
            key: "b".into(),
            last_modified: "2024-01-02T03:04:05.000Z".into(),
            etag: "5D41402ABC4B2A76B9719D911017C592".into(),
            object_type: ObjectType::Appendable,
            size: 5,
            storage_class: "Standard".into(),
            owner: Some(Owner {
                id: "1".into(),
                display_name: "1".into(),
            }),
        }],
        common_prefixes: vec![CommonPrefix {
            prefix: "c/".into(),
        }],
    };
    let xml = assert_round_trips(&r);
    assert!(xml.contains(
        "<Prefix></Prefix><StartAfter>a</StartAfter><MaxKeys>100</MaxKeys><Delimiter>/</Delimiter>"
    ));
    assert!(xml.contains("<Type>Appendable</Type>"));
}

#[test]
fn bucket_bodies() {
    let config: CreateBucketConfiguration = from_xml(
        b"<CreateBucketConfiguration><StorageClass>IA</StorageClass></CreateBucketConfiguration>",
    )
    .unwrap();
    assert_eq!(config.storage_class.as_deref(), Some("IA"));
    assert_round_trips(&config);
    assert_eq!(
        from_xml::<CreateBucketConfiguration>(b"<CreateBucketConfiguration/>").unwrap(),
        CreateBucketConfiguration::default()
    );

    let location = LocationConstraint {
        location: "oss-cn-hangzhou".into(),
    };
    assert_eq!(
        assert_round_trips(&location),
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <LocationConstraint>oss-cn-hangzhou</LocationConstraint>"
    );

    let info = BucketInfo {
        bucket: BucketDetail {
            creation_date: "2024-01-02T03:04:05.000Z".into(),
            extranet_endpoint: "oss-cn-hangzhou.aliyuncs.com".into(),
            intranet_endpoint: "oss-cn-hangzhou-internal.aliyuncs.com".into(),
            location: "oss-cn-hangzhou".into(),
            storage_class: "Standard".into(),
            name: "examplebucket".into(),
            region: Some("cn-hangzhou".into()),
            owner: Owner {
                id: "1234567890123456".into(),
                display_name: "1234567890123456".into(),
            },
            access_control_list: AccessControlList {
                grant: "private".into(),
            },
            comment: None,
        },
    };
    let xml = assert_round_trips(&info);
    assert!(xml.contains("<BucketInfo><Bucket><CreationDate>"));
    assert!(xml.contains("<AccessControlList><Grant>private</Grant></AccessControlList>"));

    let paged = ListAllMyBucketsResult {
        prefix: Some("ex".into()),
        marker: Some(String::new()),
        max_keys: Some(1),
        is_truncated: Some(true),
        next_marker: Some("examplebucket".into()),
        owner: Owner {
            id: "1".into(),
            display_name: "1".into(),
        },
        buckets: vec![],
    };
    let xml = assert_round_trips(&paged);
    assert!(xml.contains(
        "<ListAllMyBucketsResult><Prefix>ex</Prefix><Marker></Marker><MaxKeys>1</MaxKeys>\
         <IsTruncated>true</IsTruncated><NextMarker>examplebucket</NextMarker><Owner>"
    ));
    assert!(xml.contains("<Buckets></Buckets>"));
}

#[test]
fn cors_rule_without_optional_parts() {
    let config = CorsConfiguration {
        rules: vec![CorsRule {
            allowed_origins: vec!["https://*.example.com".into()],
            allowed_methods: vec!["PUT".into()],
            ..CorsRule::default()
        }],
        response_vary: None,
    };
    let xml = assert_round_trips(&config);
    assert_eq!(
        xml,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CORSConfiguration><CORSRule>\
         <AllowedOrigin>https://*.example.com</AllowedOrigin><AllowedMethod>PUT</AllowedMethod>\
         </CORSRule></CORSConfiguration>"
    );
}
