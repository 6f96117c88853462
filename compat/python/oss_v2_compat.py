#!/usr/bin/env python3
"""alibabacloud-oss-v2 (Python SDK v2) against `osspart serve`.

Usage: python oss_v2_compat.py [v4|v1]      (environment: see common.py)

V4 is the SDK's default signature; V1 is checked with plain keys only (the SDK's V1 signer
sends the STS token in a header the protocol does not define, see the spec's quirks).

Static credentials (with the STS token when OSS_SESSION_TOKEN is set), endpoint
OSSPART_ENDPOINT (an IP literal, so the SDK uses path-style URLs), region OSSPART_REGION.
"""
import datetime
import io
import os
import shutil
import sys

import alibabacloud_oss_v2 as oss

from common import (Checks, Settings, anonymous_get, ensure, ensure_eq, expect_error, md5_hex,
                    pattern, temp_dir, http_fetch, whole_md5_b64)

MODE = sys.argv[1] if len(sys.argv) > 1 else "v4"
if MODE not in ("v1", "v4"):
    sys.stderr.write("usage: oss_v2_compat.py [v4|v1]\n")
    sys.exit(2)
S = Settings()
SUITE = "oss-v2-%s%s" % (MODE, "-sts" if S.sts else "")
BUCKET = "v2-sdk-%s%s-compat" % (MODE, "-sts" if S.sts else "")
KiB = 1024
KEY = "dir/a b+c/\u00fc\u20ac-\u6587\u4ef6.txt"

checks = Checks(SUITE)
check = checks.check


def new_client():
    cfg = S.v2_config()
    if MODE == "v1":
        cfg.signature_version = "v1"
    return oss.Client(cfg)


def crc64_of(data):
    from alibabacloud_oss_v2.crc import Crc64
    c = Crc64(0)
    c.update(data)
    return c.sum64()


class Interrupted(Exception):
    pass


def setup(c):
    def create():
        r = c.put_bucket(oss.PutBucketRequest(bucket=BUCKET))
        ensure_eq(r.status_code, 200, "status")
        return r.status_code
    check("put_bucket", create)

    def listed():
        names = [b.name for b in c.list_buckets(oss.ListBucketsRequest()).buckets]
        ensure(BUCKET in names, "bucket missing from %r" % names)
        return names
    check("list_buckets lists it", listed)
    def again():
        r = c.put_bucket(oss.PutBucketRequest(bucket=BUCKET))
        ensure(r.status_code == 200, "status %r" % r.status_code)
        return r.status_code
    check("put_bucket again by its owner -> 200", again)


def uploader_with_checkpoint(c, tmp):
    part_size = 200 * KiB
    size = 8 * part_size + 4321  # 9 parts
    total_parts = 9
    data = pattern(size, 13)
    path = os.path.join(tmp, "upload-src.txt")
    with open(path, "wb") as f:
        f.write(data)
    # The SDK takes the directory part of checkpoint_dir, so it must end with a separator.
    cp_dir = os.path.join(tmp, "checkpoints") + os.sep
    os.makedirs(cp_dir)
    key = "uploader/" + KEY
    stop_after_parts = 3

    def interrupted():
        seen = []

        def progress(increment, transferred, total):
            seen.append(transferred)
            if len(seen) >= stop_after_parts:
                raise Interrupted("stopped on purpose after %d bytes" % transferred)

        up = c.uploader(part_size=part_size, parallel_num=1, enable_checkpoint=True, checkpoint_dir=cp_dir)
        try:
            up.upload_file(oss.PutObjectRequest(bucket=BUCKET, key=key, progress_fn=progress,
                                                metadata={"phase": "checkpoint"}), path)
        except Interrupted:
            pass
        else:
            raise AssertionError("upload_file finished although the progress callback raised")
        files = os.listdir(cp_dir)
        ensure_eq(len(files), 1, "checkpoint files (%r)" % files)
        return {"parts_before_stop": len(seen), "checkpoint": files[0][:24] + "..."}
    check("Uploader(enable_checkpoint) interrupted after %d of %d parts" % (stop_after_parts, total_parts),
          interrupted)

    upload_id = {}

    def listed_uploads():
        r = c.list_multipart_uploads(oss.ListMultipartUploadsRequest(bucket=BUCKET, prefix="uploader/"))
        ids = [(u.key, u.upload_id) for u in r.uploads]
        ensure_eq(len(ids), 1, "uploads in progress under uploader/")
        ensure_eq(ids[0][0], key, "key of the upload (decoded from encoding-type=url)")
        upload_id["id"] = ids[0][1]
        return ids[0][1]
    check("list_multipart_uploads shows the interrupted upload", listed_uploads)

    def listed_parts():
        r = c.list_parts(oss.ListPartsRequest(bucket=BUCKET, key=key, upload_id=upload_id["id"]))
        got = [(p.part_number, p.size) for p in r.parts]
        ensure_eq(got, [(n, part_size) for n in range(1, stop_after_parts + 1)], "parts")
        for p in r.parts:
            start = (p.part_number - 1) * part_size
            ensure_eq(int(p.hash_crc64), crc64_of(data[start:start + part_size]),
                      "HashCrc64ecma of part %d" % p.part_number)
            ensure_eq(p.etag.strip('"'), md5_hex(data[start:start + part_size]), "ETag of part %d" % p.part_number)
        return got
    check("list_parts shows the uploaded parts with sizes, ETags and CRCs", listed_parts)

    def resumed():
        seen = []
        up = c.uploader(part_size=part_size, parallel_num=3, enable_checkpoint=True, checkpoint_dir=cp_dir)
        r = up.upload_file(oss.PutObjectRequest(
            bucket=BUCKET, key=key, metadata={"phase": "checkpoint"},
            progress_fn=lambda inc, transferred, total: seen.append((inc, transferred))), path)
        ensure_eq(r.status_code, 200, "status")
        ensure_eq(r.upload_id, upload_id["id"], "the resumed run kept the upload id")
        ensure_eq(len(seen), total_parts - stop_after_parts, "parts sent by the resumed run")
        ensure_eq(sorted(t for _, t in seen)[-1], size, "final transferred bytes")
        ensure_eq(os.listdir(cp_dir), [], "checkpoint files left after success")
        # The uploader compares the Complete CRC with the part CRCs (from ListParts for the
        # parts it did not send itself) and raises on a mismatch.
        ensure_eq(int(r.hash_crc64), crc64_of(data), "Complete x-oss-hash-crc64ecma")
        return {"re_sent": len(seen), "kept": stop_after_parts}
    check("Uploader resumes from the checkpoint and sends only the missing parts", resumed)

    def head():
        h = c.head_object(oss.HeadObjectRequest(bucket=BUCKET, key=key))
        ensure_eq(h.content_length, size, "Content-Length")
        ensure_eq(h.object_type, "Multipart", "object type")
        ensure_eq(int(h.hash_crc64), crc64_of(data), "x-oss-hash-crc64ecma")
        ensure_eq(h.content_type, "text/plain", "Content-Type guessed from .txt at initiate")
        ensure_eq(h.metadata.get("phase"), "checkpoint", "x-oss-meta-phase")
        return {"etag": h.etag, "type": h.object_type}
    check("head_object of the resumed object", head)

    def get():
        r = c.get_object(oss.GetObjectRequest(bucket=BUCKET, key=key))
        body = r.body.read()
        ensure_eq(md5_hex(body), md5_hex(data), "body MD5")
        return len(body)
    check("get_object returns identical bytes (CRC checked by the SDK)", get)

    def ranged():
        r = c.get_object(oss.GetObjectRequest(bucket=BUCKET, key=key, range_header="bytes=204790-204809"))
        ensure_eq(r.status_code, 206, "status")
        ensure_eq(r.body.read(), data[204790:204810], "bytes across the part boundary")
        return r.content_range
    check("ranged get_object across a part boundary", ranged)

    def from_stream():
        body = pattern(330 * KiB, 7)
        r = c.uploader(part_size=100 * KiB, parallel_num=2).upload_from(
            oss.PutObjectRequest(bucket=BUCKET, key="uploader/stream.bin"), io.BytesIO(body))
        ensure_eq(int(r.hash_crc64), crc64_of(body), "CRC")
        got = c.get_object(oss.GetObjectRequest(bucket=BUCKET, key="uploader/stream.bin")).body.read()
        ensure_eq(got, body, "body")
        return r.etag
    check("Uploader.upload_from a stream (4 parts, 2 in parallel)", from_stream)
    return [key, "uploader/stream.bin"]


def paginators(c):
    key = "pages/parts.bin"
    init = check("initiate_multipart_upload", lambda: c.initiate_multipart_upload(
        oss.InitiateMultipartUploadRequest(bucket=BUCKET, key=key, cache_control="no-cache",
                                           content_disposition="attachment")).upload_id)
    bodies = {}

    def upload_parts():
        for n in range(1, 6):
            d = pattern(100 * KiB if n < 5 else 777, n)
            r = c.upload_part(oss.UploadPartRequest(bucket=BUCKET, key=key, upload_id=init, part_number=n, body=d))
            ensure_eq(r.etag.strip('"'), md5_hex(d), "ETag of part %d" % n)
            ensure_eq(int(r.hash_crc64), crc64_of(d), "CRC of part %d" % n)
            bodies[n] = (d, r.etag)
        return len(bodies)
    check("upload_part x5", upload_parts)

    def parts_pages():
        pages = list(c.list_parts_paginator(limit=2).iter_page(
            oss.ListPartsRequest(bucket=BUCKET, key=key, upload_id=init)))
        ensure_eq(len(pages), 3, "pages")
        got = [(p.part_number, p.size, int(p.hash_crc64)) for pg in pages for p in pg.parts]
        ensure_eq(got, [(n, len(bodies[n][0]), crc64_of(bodies[n][0])) for n in range(1, 6)], "parts")
        ensure_eq([pg.is_truncated for pg in pages], [True, True, False], "IsTruncated per page")
        return len(got)
    check("list_parts_paginator(limit=2) over 5 parts", parts_pages)

    extra = []

    def more_uploads():
        for k in ["pages/a.bin", "pages/a.bin", "pages/z z.bin"]:
            extra.append((k, c.initiate_multipart_upload(
                oss.InitiateMultipartUploadRequest(bucket=BUCKET, key=k)).upload_id))
        return len(extra)
    check("initiate three more uploads (one key twice)", more_uploads)

    def uploads_pages():
        pages = list(c.list_multipart_uploads_paginator(limit=2).iter_page(
            oss.ListMultipartUploadsRequest(bucket=BUCKET, prefix="pages/")))
        got = [(u.key, u.upload_id) for pg in pages for u in pg.uploads]
        ensure_eq(len(pages), 2, "pages")
        ensure_eq(sorted(got), sorted(extra + [(key, init)]), "uploads")
        return [k for k, _ in got]
    check("list_multipart_uploads_paginator(limit=2) over 4 uploads", uploads_pages)

    def complete():
        parts = [oss.UploadPart(part_number=n, etag=bodies[n][1]) for n in range(1, 6)]
        r = c.complete_multipart_upload(oss.CompleteMultipartUploadRequest(
            bucket=BUCKET, key=key, upload_id=init, complete_multipart_upload=oss.CompleteMultipartUpload(parts=parts)))
        whole = b"".join(bodies[n][0] for n in range(1, 6))
        ensure_eq(int(r.hash_crc64), crc64_of(whole), "CRC of the whole object")
        ensure_eq(r.key, key, "Key (URL-decoded by the SDK)")
        h = c.head_object(oss.HeadObjectRequest(bucket=BUCKET, key=key))
        ensure_eq(h.cache_control, "no-cache", "Cache-Control kept from initiate")
        ensure_eq(h.content_disposition, "attachment", "Content-Disposition kept from initiate")
        return r.etag
    check("complete_multipart_upload keeps initiate headers", complete)

    def complete_all():
        k, uid = extra[0]
        for n in (1, 2):
            c.upload_part(oss.UploadPartRequest(bucket=BUCKET, key=k, upload_id=uid, part_number=n,
                                                body=pattern(100 * KiB if n == 1 else 10, n)))
        r = c.complete_multipart_upload(oss.CompleteMultipartUploadRequest(
            bucket=BUCKET, key=k, upload_id=uid, complete_all="yes"))
        got = c.get_object(oss.GetObjectRequest(bucket=BUCKET, key=k)).body.read()
        ensure_eq(got, pattern(100 * KiB, 1) + pattern(10, 2), "body")
        return r.etag
    check("complete_multipart_upload with x-oss-complete-all: yes", complete_all)

    def abort_rest():
        for k, uid in extra[1:]:
            ensure_eq(c.abort_multipart_upload(oss.AbortMultipartUploadRequest(
                bucket=BUCKET, key=k, upload_id=uid)).status_code, 204, "abort status")
        r = c.list_multipart_uploads(oss.ListMultipartUploadsRequest(bucket=BUCKET, prefix="pages/"))
        ensure_eq(list(r.uploads or []), [], "uploads left")
        return len(extra) - 1
    check("abort_multipart_upload the rest -> 204", abort_rest)
    check("abort an unknown upload -> NoSuchUpload", lambda: expect_error(
        lambda: c.abort_multipart_upload(oss.AbortMultipartUploadRequest(
            bucket=BUCKET, key="pages/a.bin", upload_id=extra[1][1])), "NoSuchUpload", 404))
    check("list_parts of an unknown upload -> NoSuchUpload", lambda: expect_error(
        lambda: c.list_parts(oss.ListPartsRequest(bucket=BUCKET, key="pages/a.bin", upload_id="bogus")),
        "NoSuchUpload", 404))
    return [key, extra[0][0]]


def objects_and_presign(c):
    body = pattern(4096, 9)

    def put():
        r = c.put_object(oss.PutObjectRequest(bucket=BUCKET, key=KEY, body=body, metadata={"Mixed-Case": "v"}))
        ensure_eq(int(r.hash_crc64), crc64_of(body), "CRC")
        return r.etag
    check("put_object (v2 adds Content-MD5; key keeps '/')", put)

    def head():
        h = c.head_object(oss.HeadObjectRequest(bucket=BUCKET, key=KEY))
        ensure_eq(h.object_type, "Normal", "type")
        ensure_eq(h.content_length, len(body), "size")
        ensure_eq(h.metadata.get("mixed-case"), "v", "metadata (lower-cased name)")
        return h.metadata
    check("head_object", head)
    check("head_object missing -> NoSuchKey (from x-oss-err)", lambda: expect_error(
        lambda: c.head_object(oss.HeadObjectRequest(bucket=BUCKET, key="missing")), "NoSuchKey", 404))
    check("get_object missing -> NoSuchKey", lambda: expect_error(
        lambda: c.get_object(oss.GetObjectRequest(bucket=BUCKET, key="missing")), "NoSuchKey", 404))

    def list_v2():
        pages = list(c.list_objects_v2_paginator(limit=2).iter_page(oss.ListObjectsV2Request(bucket=BUCKET)))
        keys = [o.key for pg in pages for o in (pg.contents or [])]
        ensure(KEY in keys, "key missing from %r" % keys)
        ensure_eq(len(set(keys)), len(keys), "duplicates across pages")
        ensure_eq(keys, sorted(keys, key=lambda k: k.encode()), "byte order")
        return {"pages": len(pages), "keys": len(keys)}
    check("list_objects_v2_paginator(limit=2)", list_v2)

    def presign_get():
        r = c.presign(oss.GetObjectRequest(bucket=BUCKET, key=KEY), expires=datetime.timedelta(minutes=10))
        marker = "x-oss-signature=" if MODE == "v4" else "Signature="
        ensure(marker in r.url, "not a %s presigned URL: %s" % (MODE, r.url))
        status, _, data = http_fetch(S, r.url)
        ensure_eq(status, 200, "status (%s)" % data[:300])
        ensure_eq(data, body, "body")
        return r.url.split("?", 1)[1][:80] + "..."
    check("presign GetObject, fetched with urllib", presign_get)

    def presign_put():
        r = c.presign(oss.PutObjectRequest(bucket=BUCKET, key="presigned/put.bin", content_type="text/plain"))
        status, _, data = http_fetch(S, r.url, "PUT", b"presigned put", dict(r.signed_headers or {}))
        ensure_eq(status, 200, "status (%s)" % data[:300])
        got = c.get_object(oss.GetObjectRequest(bucket=BUCKET, key="presigned/put.bin")).body.read()
        ensure_eq(got, b"presigned put", "stored body")
        return status
    check("presign PutObject with Content-Type, uploaded with urllib", presign_put)

    def presign_tampered():
        r = c.presign(oss.GetObjectRequest(bucket=BUCKET, key=KEY))
        marker = "x-oss-signature=" if MODE == "v4" else "Signature="
        ensure(marker in r.url, "no %s in %s" % (marker, r.url))
        url = r.url.replace(marker, marker + "0", 1)
        status, _, data = http_fetch(S, url)
        ensure_eq(status, 403, "status")
        ensure(b"SignatureDoesNotMatch" in data, "body: %r" % data[:300])
        return status
    check("tampered presigned URL -> 403 SignatureDoesNotMatch", presign_tampered)
    return [KEY, "presigned/put.bin"]


def attributes_and_appends(c):
    """Storage class, encryption, tagging, bucket and object ACLs, appends, a sequential upload
    and anonymous reads through public-read."""
    key = "attrs/ia.bin"

    def head(k):
        return c.head_object(oss.HeadObjectRequest(bucket=BUCKET, key=k))

    def put_with_attributes():
        r = c.put_object(oss.PutObjectRequest(
            bucket=BUCKET, key=key, body=b"attributes", storage_class="IA",
            server_side_encryption="AES256", tagging="team=storage&tier=2"))
        ensure_eq(r.headers.get("x-oss-server-side-encryption"), "AES256", "SSE echoed on PUT")
        h = head(key)
        ensure_eq(h.storage_class, "IA", "storage class")
        ensure_eq(h.server_side_encryption, "AES256", "SSE on HEAD")
        ensure_eq(int(h.tagging_count), 2, "tag count")
        return h.storage_class
    check("put_object with storage class, SSE and tags; HEAD shows them", put_with_attributes)
    check("a bogus storage class -> InvalidArgument", lambda: expect_error(
        lambda: c.put_object(oss.PutObjectRequest(
            bucket=BUCKET, key="attrs/bogus", body=b"x", storage_class="Bogus")),
        "InvalidArgument", 400))

    def tags_of(k):
        r = c.get_object_tagging(oss.GetObjectTaggingRequest(bucket=BUCKET, key=k))
        return sorted((t.key, t.value) for t in ((r.tag_set and r.tag_set.tags) or []))

    def tagging():
        ensure_eq(tags_of(key), [("team", "storage"), ("tier", "2")], "tags from the PUT")
        c.put_object_tagging(oss.PutObjectTaggingRequest(
            bucket=BUCKET, key=key,
            tagging=oss.Tagging(tag_set=oss.TagSet(tags=[oss.Tag(key="owner", value="compat")]))))
        ensure_eq(tags_of(key), [("owner", "compat")], "new tags")
        ensure_eq(int(head(key).tagging_count), 1, "tag count")
        c.delete_object_tagging(oss.DeleteObjectTaggingRequest(bucket=BUCKET, key=key))
        ensure_eq(tags_of(key), [], "tags after delete")
        return "ok"
    check("put/get/delete_object_tagging", tagging)

    def bucket_acl():
        return c.get_bucket_acl(oss.GetBucketAclRequest(bucket=BUCKET)).acl

    def object_acl(k):
        return c.get_object_acl(oss.GetObjectAclRequest(bucket=BUCKET, key=k)).acl

    def acls():
        ensure_eq(bucket_acl(), "private", "new bucket")
        ensure_eq(object_acl(key), "default", "object written without an ACL")
        c.put_object_acl(oss.PutObjectAclRequest(bucket=BUCKET, key=key, acl="public-read"))
        ensure_eq(object_acl(key), "public-read", "object ACL")
        ensure_eq(anonymous_get(S, BUCKET, key), (200, b"attributes"),
                  "anonymous GET of a public-read object")
        c.put_object(oss.PutObjectRequest(bucket=BUCKET, key="attrs/private.bin", body=b"secret"))
        status, body = anonymous_get(S, BUCKET, "attrs/private.bin")
        ensure_eq(status, 403, "anonymous GET of a private object")
        ensure(b"AccessDenied" in body, "AccessDenied in %r" % body[:200])
        c.put_bucket_acl(oss.PutBucketAclRequest(bucket=BUCKET, acl="public-read"))
        ensure_eq(bucket_acl(), "public-read", "bucket ACL")
        ensure_eq(anonymous_get(S, BUCKET, "attrs/private.bin")[0], 200, "through the bucket ACL")
        c.put_bucket_acl(oss.PutBucketAclRequest(bucket=BUCKET, acl="private"))
        return "ok"
    check("bucket and object ACLs, anonymous reads", acls)

    def appends():
        first, second = pattern(3000, 1), pattern(5000, 2)
        r1 = c.append_object(oss.AppendObjectRequest(
            bucket=BUCKET, key="attrs/log.txt", position=0, body=first))
        ensure_eq(int(r1.next_position), 3000, "next position")
        r2 = c.append_object(oss.AppendObjectRequest(
            bucket=BUCKET, key="attrs/log.txt", position=r1.next_position, body=second))
        ensure_eq(int(r2.next_position), 8000, "next position")
        ensure_eq(int(r2.hash_crc64), crc64_of(first + second), "chained CRC-64")
        h = head("attrs/log.txt")
        ensure_eq(h.object_type, "Appendable", "object type")
        body = c.get_object(oss.GetObjectRequest(bucket=BUCKET, key="attrs/log.txt")).body.read()
        ensure_eq(body, first + second, "body")
        expect_error(lambda: c.append_object(oss.AppendObjectRequest(
            bucket=BUCKET, key="attrs/log.txt", position=1, body=b"x")),
            "PositionNotEqualToLength", 409)
        return expect_error(lambda: c.append_object(oss.AppendObjectRequest(
            bucket=BUCKET, key=key, position=10, body=b"x")), "ObjectNotAppendable", 409)
    check("append_object: positions, chained CRC, errors", appends)

    def sequential():
        k = "attrs/sequential.bin"
        req = oss.InitiateMultipartUploadRequest(bucket=BUCKET, key=k)
        req.parameters = {"sequential": ""}
        uid = c.initiate_multipart_upload(req).upload_id
        p1, p2 = pattern(120 * 1024, 3), pattern(7000, 4)

        def part(n, data):
            return c.upload_part(oss.UploadPartRequest(
                bucket=BUCKET, key=k, upload_id=uid, part_number=n, body=data))
        expect_error(lambda: part(2, p2), "InvalidArgument", 400)
        parts = [oss.UploadPart(part_number=1, etag=part(1, p1).etag),
                 oss.UploadPart(part_number=2, etag=part(2, p2).etag)]
        c.complete_multipart_upload(oss.CompleteMultipartUploadRequest(
            bucket=BUCKET, key=k, upload_id=uid,
            complete_multipart_upload=oss.CompleteMultipartUpload(parts=parts)))
        ensure_eq(head(k).content_md5, whole_md5_b64(p1 + p2), "whole-object Content-MD5")
        return "ok"
    check("sequential multipart upload: ordered parts, whole-object MD5", sequential)
    return [key, "attrs/private.bin", "attrs/log.txt", "attrs/sequential.bin"]


def teardown(c, keys):
    def delete_all():
        for k in keys:
            r = c.delete_object(oss.DeleteObjectRequest(bucket=BUCKET, key=k))
            ensure_eq(r.status_code, 204, "DeleteObject %s" % k)
        left = c.list_objects_v2(oss.ListObjectsV2Request(bucket=BUCKET))
        ensure_eq([o.key for o in (left.contents or [])], [], "objects left")
        r = c.delete_bucket(oss.DeleteBucketRequest(bucket=BUCKET))
        ensure_eq(r.status_code, 204, "DeleteBucket status")
        return len(keys)
    check("delete_object for every key, then delete_bucket", delete_all)


def main():
    c = new_client()
    tmp = temp_dir("oss-v2-compat-")
    try:
        setup(c)
        keys = uploader_with_checkpoint(c, tmp)
        keys += paginators(c)
        keys += objects_and_presign(c)
        keys += attributes_and_appends(c)
        teardown(c, keys)
        checks.done()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
