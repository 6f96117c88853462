#!/usr/bin/env python3
"""oss2 (Python SDK 2.x) against `osspart serve`.

Usage: python oss2_compat.py v1|v4      (environment: see common.py)

v1 signs with oss2.Auth (or oss2.StsAuth when OSS_SESSION_TOKEN is set), v4 with
oss2.AuthV4 (or StsAuth(auth_version="v4")) and region OSSPART_REGION. The endpoint is an
IP literal, so oss2 uses path-style URLs and sends '/' inside keys as %2F.
"""
import logging
import os
import shutil
import sys
import threading

import oss2
from oss2 import exceptions as oe
from oss2.models import PartInfo

from common import (Checks, Settings, anonymous_get, ensure, ensure_eq, expect_error, md5_hex,
                    pattern, temp_dir, http_fetch, whole_md5_b64)

MODE = sys.argv[1] if len(sys.argv) > 1 else "v1"
if MODE not in ("v1", "v4"):
    sys.stderr.write("usage: oss2_compat.py v1|v4\n")
    sys.exit(2)

S = Settings()
SUITE = "oss2-%s%s" % (MODE, "-sts" if S.sts else "")
BUCKET = "oss2-%s%s-compat" % (MODE, "-sts" if S.sts else "")
KiB = 1024
MiB = 1024 * 1024
KEY = "dir/a b+c/\u00fc\u20ac-\u6587\u4ef6.bin"

checks = Checks(SUITE)
check = checks.check

# The interrupted resumable upload makes oss2's task queue log the (intended) exception.
logging.getLogger("oss2.task_queue").setLevel(logging.CRITICAL)


def make_auth():
    return S.oss2_auth(v4=MODE == "v4")


def region_kw():
    return {"region": S.region} if MODE == "v4" else {}


class CountingBucket(oss2.Bucket):
    """A Bucket that counts the parts it uploads (to see what a resumed upload re-sends)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.lock = threading.Lock()
        self.uploaded_parts = []

    def upload_part(self, key, upload_id, part_number, data, progress_callback=None, headers=None):
        result = super().upload_part(key, upload_id, part_number, data,
                                     progress_callback=progress_callback, headers=headers)
        with self.lock:
            self.uploaded_parts.append(part_number)
        return result


def new_bucket(cls=oss2.Bucket):
    return cls(make_auth(), S.endpoint, BUCKET, enable_crc=True, **region_kw())


class Interrupted(Exception):
    pass


def crc64_of(data):
    c = oss2.utils.Crc64(0)
    c.update(data)
    return c.crc


def setup():
    svc = oss2.Service(make_auth(), S.endpoint, **region_kw())
    b = new_bucket()

    def create():
        r = b.create_bucket()
        ensure_eq(r.status, 200, "PutBucket status")
        return r.status
    check("create_bucket", create)

    def listed():
        names = [x.name for x in svc.list_buckets().buckets]
        ensure(BUCKET in names, "bucket %s missing from %r" % (BUCKET, names))
        return names
    check("Service.list_buckets lists it", listed)
    check("get_bucket_info of a missing bucket -> NoSuchBucket", lambda: expect_error(
        lambda: oss2.Bucket(make_auth(), S.endpoint, "no-such-bucket-here", **region_kw()).get_object("x"),
        "NoSuchBucket", 404, oe.NoSuchBucket))


def resumable(tmp):
    size = 2 * MiB + 1234
    part_size = 128 * KiB
    total_parts = (size + part_size - 1) // part_size  # 17
    data = pattern(size, 5)
    path = os.path.join(tmp, "resumable-src.bin")
    with open(path, "wb") as f:
        f.write(data)
    key = "resumable/" + KEY
    store_root = os.path.join(tmp, "store")
    os.makedirs(store_root)
    store = oss2.ResumableStore(root=store_root)
    store_dir = os.path.join(store_root, oss2.resumable._UPLOAD_TEMP_DIR)
    headers = {"x-oss-meta-phase": "resumable", "Content-Type": "application/x-resumable",
               "Cache-Control": "no-store"}
    first = new_bucket(CountingBucket)
    stop_after = size * 2 // 5

    def interrupting_progress(consumed, total):
        if consumed >= stop_after:
            raise Interrupted("stopped on purpose after %d of %s bytes" % (consumed, total))

    def interrupted():
        try:
            oss2.resumable_upload(first, key, path, store=store, headers=headers,
                                  multipart_threshold=100 * KiB, part_size=part_size, num_threads=4,
                                  progress_callback=interrupting_progress)
        except Interrupted:
            pass
        else:
            raise AssertionError("resumable_upload finished although the progress callback raised")
        ensure(0 < len(first.uploaded_parts) < total_parts,
               "parts uploaded before the interruption: %d of %d" % (len(first.uploaded_parts), total_parts))
        return {"uploaded": len(first.uploaded_parts), "of": total_parts}
    check("resumable_upload (4 threads, %d parts) interrupted by its progress callback" % total_parts,
          interrupted)

    record = {}

    def checkpoint_exists():
        files = os.listdir(store_dir) if os.path.isdir(store_dir) else []
        ensure(len(files) == 1, "expected one checkpoint file in %s, found %r" % (store_dir, files))
        rec = store.get(store.make_store_key(BUCKET, key, os.path.abspath(path)))
        ensure(rec and rec.get("upload_id"), "checkpoint record without upload id: %r" % (rec,))
        record.update(rec)
        return rec["upload_id"]
    check("checkpoint file holds the upload id", checkpoint_exists)

    listed = []

    def parts_on_server():
        parts = list(oss2.PartIterator(first, key, record["upload_id"]))
        nums = [p.part_number for p in parts]
        ensure_eq(sorted(nums), sorted(first.uploaded_parts), "parts listed vs parts uploaded")
        for p in parts:
            ensure_eq(p.size, part_size, "size of part %d" % p.part_number)
        listed.extend(nums)
        return nums
    check("PartIterator shows exactly the parts sent before the interruption", parts_on_server)

    second = new_bucket(CountingBucket)
    progress = []

    def resumed():
        r = oss2.resumable_upload(second, key, path, store=store, headers=headers,
                                  multipart_threshold=100 * KiB, part_size=part_size, num_threads=4,
                                  progress_callback=lambda c, t: progress.append(c))
        ensure_eq(r.status, 200, "status")
        ensure_eq(sorted(second.uploaded_parts + listed), list(range(1, total_parts + 1)),
                  "parts sent by the two runs together")
        ensure(len(second.uploaded_parts) < total_parts, "the resumed run re-sent every part")
        ensure(progress and progress[0] >= len(listed) * part_size,
               "resumed progress should start at the bytes already uploaded, got %r" % progress[:3])
        ensure_eq(progress[-1], size, "final progress")
        return {"re_sent": len(second.uploaded_parts), "kept": len(listed)}
    check("resumable_upload again resumes and sends only the missing parts", resumed)
    check("checkpoint removed after success", lambda: ensure_eq(
        os.listdir(store_dir) if os.path.isdir(store_dir) else [], [], "checkpoint files left") or 0)

    def verify():
        h = second.head_object(key)
        ensure_eq(h.content_length, size, "Content-Length")
        ensure_eq(h.object_type, "Multipart", "object type")
        ensure_eq(h.server_crc, crc64_of(data), "x-oss-hash-crc64ecma vs local CRC-64")
        ensure_eq(h.headers.get("Content-Type"), "application/x-resumable", "Content-Type")
        ensure_eq(h.headers.get("Cache-Control"), "no-store", "Cache-Control")
        ensure_eq(h.headers.get("x-oss-meta-phase"), "resumable", "x-oss-meta-phase")
        body = second.get_object(key).read()  # enable_crc: oss2 checks the CRC of the body
        ensure_eq(md5_hex(body), md5_hex(data), "body MD5")
        return h.server_crc
    check("resumed object: size, type, CRC-64, headers and bytes", verify)

    def uninterrupted():
        data2 = pattern(600 * KiB + 1, 6)
        p2 = os.path.join(tmp, "resumable-2.bin")
        with open(p2, "wb") as f:
            f.write(data2)
        b = new_bucket(CountingBucket)
        # oss2 checks the Complete CRC against the combined part CRCs itself.
        r = oss2.resumable_upload(b, "resumable/second.bin", p2, store=store, multipart_threshold=100 * KiB,
                                  part_size=100 * KiB, num_threads=4)
        ensure_eq(len(b.uploaded_parts), 7, "parts")
        ensure_eq(r.crc, crc64_of(data2), "Complete CRC")
        got = b.get_object("resumable/second.bin").read()
        ensure_eq(got, data2, "body")
        return r.etag
    check("resumable_upload without interruption (Complete CRC checked by oss2)", uninterrupted)
    return [key, "resumable/second.bin"]


def iterators():
    b = new_bucket()
    keys = ["iter/k%02d.txt" % i for i in range(7)] + ["iter/sub/deep.txt", "iter/sub/deeper/x.txt"]

    def put_all():
        for i, k in enumerate(keys):
            r = b.put_object(k, ("object %d" % i).encode())
            ensure_eq(r.status, 200, "PutObject %s" % k)
        return len(keys)
    check("put_object x%d small objects" % len(keys), put_all)

    def objects():
        got = [o.key for o in oss2.ObjectIterator(b, prefix="iter/", max_keys=2)]
        ensure_eq(got, sorted(keys), "keys from ObjectIterator(max_keys=2)")
        return len(got)
    check("ObjectIterator pages with max_keys=2", objects)

    def objects_delim():
        got = [(o.key, o.is_prefix()) for o in oss2.ObjectIterator(b, prefix="iter/", delimiter="/", max_keys=3)]
        want = [(k, False) for k in sorted(keys) if k.count("/") == 1] + [("iter/sub/", True)]
        ensure_eq(sorted(got), sorted(want), "entries with delimiter")
        return len(got)
    check("ObjectIterator with delimiter rolls up iter/sub/", objects_delim)

    def objects_v2():
        got = [o.key for o in oss2.ObjectIteratorV2(b, prefix="iter/", max_keys=4)]
        ensure_eq(got, sorted(keys), "keys from ObjectIteratorV2(max_keys=4)")
        return len(got)
    check("ObjectIteratorV2 pages with max_keys=4", objects_v2)

    up_keys = ["mpu/a.bin", "mpu/b b.bin", "mpu/b b.bin", "mpu/c+d.bin", "mpu/e/f.bin"]
    created = []

    def init_all():
        for k in up_keys:
            created.append((k, b.init_multipart_upload(k).upload_id))
        return len(created)
    check("init_multipart_upload x%d (one key twice)" % len(up_keys), init_all)

    def uploads():
        got = [(u.key, u.upload_id) for u in oss2.MultipartUploadIterator(b, prefix="mpu/", max_uploads=2)]
        ensure_eq(sorted(got), sorted(created), "uploads from MultipartUploadIterator(max_uploads=2)")
        ensure_eq([k for k, _ in got], sorted(k for k, _ in got), "key order")
        return [k for k, _ in got]
    check("MultipartUploadIterator pages with max_uploads=2", uploads)

    def uploads_delim():
        got = [(u.key, u.is_prefix()) for u in
               oss2.MultipartUploadIterator(b, prefix="mpu/", delimiter="/", max_uploads=2)]
        ensure_eq(sorted(got), sorted([(k, False) for k in up_keys if k.count("/") == 1] + [("mpu/e/", True)]),
                  "entries with delimiter")
        return len(got)
    check("MultipartUploadIterator with delimiter rolls up mpu/e/", uploads_delim)

    def object_uploads():
        got = [u.upload_id for u in oss2.ObjectUploadIterator(b, "mpu/b b.bin", max_uploads=1)]
        want = [uid for k, uid in created if k == "mpu/b b.bin"]
        ensure_eq(sorted(got), sorted(want), "uploads of one key")
        return len(got)
    check("ObjectUploadIterator lists both uploads of one key", object_uploads)

    key, upload_id = created[0]
    etags = {}

    def parts():
        for n in range(1, 8):
            d = pattern(1000 + n, n)
            r = b.upload_part(key, upload_id, n, d)
            ensure_eq(r.etag, md5_hex(d), "ETag of part %d" % n)
            ensure_eq(r.crc, crc64_of(d), "CRC of part %d" % n)
            etags[n] = (r.etag, len(d))
        got = [(p.part_number, p.etag, p.size) for p in oss2.PartIterator(b, key, upload_id, max_parts=3)]
        ensure_eq(got, [(n, etags[n][0], etags[n][1]) for n in range(1, 8)], "parts from PartIterator(max_parts=3)")
        return len(got)
    check("PartIterator pages with max_parts=3 over 7 parts", parts)

    def list_parts_page():
        r = b.list_parts(key, upload_id, marker="3", max_parts=2)
        ensure_eq([p.part_number for p in r.parts], [4, 5], "parts after marker 3")
        ensure(r.is_truncated, "IsTruncated")
        ensure_eq(str(r.next_marker), "5", "NextPartNumberMarker")
        return [p.part_number for p in r.parts]
    check("list_parts with part-number-marker 3, max_parts 2", list_parts_page)

    def cleanup():
        for k, uid in created:
            ensure_eq(b.abort_multipart_upload(k, uid).status, 204, "abort %s" % k)
        left = list(oss2.MultipartUploadIterator(b, prefix="mpu/"))
        ensure_eq(left, [], "uploads left")
        return len(created)
    check("abort_multipart_upload for all of them -> 204", cleanup)
    return keys


def multipart_errors():
    b = new_bucket()
    key = "errors/" + KEY

    uid = check("init_multipart_upload for the error cases", lambda: b.init_multipart_upload(key).upload_id)
    big = pattern(100 * KiB, 1)
    small = pattern(10, 2)
    e1 = check("upload_part 1 (100 KiB)", lambda: b.upload_part(key, uid, 1, big).etag)
    e2 = check("upload_part 2 (10 bytes)", lambda: b.upload_part(key, uid, 2, small).etag)

    check("upload_part number 0 -> InvalidArgument", lambda: expect_error(
        lambda: b.upload_part(key, uid, 0, b"x"), "InvalidArgument", 400, oe.InvalidArgument))
    check("upload_part number 10001 -> InvalidArgument", lambda: expect_error(
        lambda: b.upload_part(key, uid, 10001, b"x"), "InvalidArgument", 400, oe.InvalidArgument))
    check("upload_part number 10000 is allowed", lambda: b.upload_part(key, uid, 10000, b"last").etag)
    check("upload_part with a wrong Content-MD5 -> InvalidDigest", lambda: expect_error(
        lambda: b.upload_part(key, uid, 3, b"xyz", headers={"Content-MD5": oss2.utils.content_md5(b"abc")}),
        "InvalidDigest", 400, oe.InvalidDigest))
    check("upload_part with a malformed Content-MD5 -> InvalidDigest", lambda: expect_error(
        lambda: b.upload_part(key, uid, 3, b"xyz", headers={"Content-MD5": "not-base64!"}),
        "InvalidDigest", 400, oe.InvalidDigest))
    check("upload_part with the right Content-MD5 -> 200", lambda: b.upload_part(
        key, uid, 3, b"xyz", headers={"Content-MD5": oss2.utils.content_md5(b"xyz")}).status)
    check("list_parts max_parts 1001 -> InvalidArgument", lambda: expect_error(
        lambda: b.list_parts(key, uid, max_parts=1001), "InvalidArgument", 400))
    check("list_multipart_uploads max_uploads 1001 -> InvalidArgument", lambda: expect_error(
        lambda: b.list_multipart_uploads(max_uploads=1001), "InvalidArgument", 400))

    check("complete with a wrong ETag -> InvalidPart", lambda: expect_error(
        lambda: b.complete_multipart_upload(key, uid, [PartInfo(1, "0" * 32)]), "InvalidPart", 400))
    check("complete with a part never uploaded -> InvalidPart", lambda: expect_error(
        lambda: b.complete_multipart_upload(key, uid, [PartInfo(1, e1), PartInfo(7, e2)]), "InvalidPart", 400))
    check("complete with a duplicated part number -> InvalidPartOrder", lambda: expect_error(
        lambda: b.complete_multipart_upload(key, uid, [PartInfo(1, e1), PartInfo(1, e1)]),
        "InvalidPartOrder", 400))

    def descending():
        xml = ("<CompleteMultipartUpload><Part><PartNumber>2</PartNumber><ETag>\"%s\"</ETag></Part>"
               "<Part><PartNumber>1</PartNumber><ETag>\"%s\"</ETag></Part></CompleteMultipartUpload>" % (e2, e1))
        # oss2 sorts the parts it is given, so the descending list is sent through its signed
        # low-level request method.
        return expect_error(lambda: b._do("POST", b.bucket_name, key, params={"uploadId": uid}, data=xml),
                            "InvalidPartOrder", 400)
    check("complete with descending part numbers -> InvalidPartOrder", descending)
    check("complete with an unparsable body -> MalformedXML", lambda: expect_error(
        lambda: b._do("POST", b.bucket_name, key, params={"uploadId": uid}, data="<CompleteMultipartUpload><Part>"),
        "MalformedXML", 400, oe.MalformedXml))
    check("complete with no parts -> MalformedXML", lambda: expect_error(
        lambda: b._do("POST", b.bucket_name, key, params={"uploadId": uid},
                      data="<CompleteMultipartUpload></CompleteMultipartUpload>"),
        "MalformedXML", 400, oe.MalformedXml))

    def too_small():
        u = b.init_multipart_upload("errors/small.bin").upload_id
        a = b.upload_part("errors/small.bin", u, 1, b"a" * 10).etag
        c = b.upload_part("errors/small.bin", u, 2, b"b" * 10).etag
        out = expect_error(lambda: b.complete_multipart_upload(
            "errors/small.bin", u, [PartInfo(1, a), PartInfo(2, c)]), "EntityTooSmall", 400)
        b.abort_multipart_upload("errors/small.bin", u)
        return out
    check("complete with two tiny parts -> EntityTooSmall", too_small)

    def complete_ok():
        r = b.complete_multipart_upload(key, uid, [PartInfo(1, e1, size=len(big), part_crc=crc64_of(big)),
                                                    PartInfo(2, e2, size=len(small), part_crc=crc64_of(small))])
        ensure_eq(r.status, 200, "status")
        ensure_eq(r.crc, crc64_of(big + small), "x-oss-hash-crc64ecma of Complete")
        ensure_eq(b.get_object(key).read(), big + small, "body (parts 3 and 10000 were discarded)")
        return r.etag
    check("complete parts 1+2 (unlisted 3 and 10000 discarded)", complete_ok)
    check("complete again -> NoSuchUpload", lambda: expect_error(
        lambda: b.complete_multipart_upload(key, uid, [PartInfo(1, e1)]), "NoSuchUpload", 404, oe.NoSuchUpload))

    u2 = check("init another upload", lambda: b.init_multipart_upload("errors/abort.bin").upload_id)
    check("abort_multipart_upload -> 204", lambda: ensure_eq(
        b.abort_multipart_upload("errors/abort.bin", u2).status, 204, "status") or 204)
    check("abort twice -> NoSuchUpload", lambda: expect_error(
        lambda: b.abort_multipart_upload("errors/abort.bin", u2), "NoSuchUpload", 404, oe.NoSuchUpload))
    check("abort a bogus upload id -> NoSuchUpload", lambda: expect_error(
        lambda: b.abort_multipart_upload("errors/abort.bin", "0004B9894A22E5B1888A1E29F823DEAD"),
        "NoSuchUpload", 404, oe.NoSuchUpload))
    check("list_parts of a bogus upload id -> NoSuchUpload", lambda: expect_error(
        lambda: b.list_parts("errors/abort.bin", "bogus-upload-id"), "NoSuchUpload", 404, oe.NoSuchUpload))
    check("upload_part to a bogus upload id -> NoSuchUpload", lambda: expect_error(
        lambda: b.upload_part("errors/abort.bin", "bogus-upload-id", 1, b"x"), "NoSuchUpload", 404,
        oe.NoSuchUpload))

    def upload_of_other_key():
        u = b.init_multipart_upload("errors/owner.bin").upload_id
        out = expect_error(lambda: b.upload_part("errors/other.bin", u, 1, b"x"), "NoSuchUpload", 404)
        b.abort_multipart_upload("errors/owner.bin", u)
        return out
    check("upload id used with another key -> NoSuchUpload", upload_of_other_key)

    forbid = {"x-oss-forbid-overwrite": "true"}
    check("put_object with x-oss-forbid-overwrite on an existing key -> FileAlreadyExists", lambda: expect_error(
        lambda: b.put_object(key, b"overwrite?", headers=forbid), "FileAlreadyExists", 409))

    def forbid_on_complete():
        u = b.init_multipart_upload(key).upload_id
        e = b.upload_part(key, u, 1, b"replacement").etag
        out = expect_error(lambda: b.complete_multipart_upload(key, u, [PartInfo(1, e)], headers=forbid),
                           "FileAlreadyExists", 409)
        ensure_eq(b.get_object(key).read(), big + small, "object after the refused overwrite")
        b.abort_multipart_upload(key, u)
        return out
    check("complete with x-oss-forbid-overwrite on an existing key -> FileAlreadyExists", forbid_on_complete)

    def forbid_from_initiate():
        k = "errors/raced.txt"
        u = b.init_multipart_upload(k, headers=forbid).upload_id
        e = b.upload_part(k, u, 1, b"late").etag
        b.put_object(k, b"first")  # the key appears while the upload is in progress
        out = expect_error(lambda: b.complete_multipart_upload(k, u, [PartInfo(1, e)]), "FileAlreadyExists", 409)
        ensure_eq(b.get_object(k).read(), b"first", "object after the refused overwrite")
        b.abort_multipart_upload(k, u)
        return out
    check("x-oss-forbid-overwrite given at initiate applies at complete -> FileAlreadyExists", forbid_from_initiate)
    check("put_object with x-oss-forbid-overwrite on a new key -> 200", lambda: b.put_object(
        "errors/fresh.txt", b"fresh", headers=forbid).status)
    return [key, "errors/fresh.txt", "errors/raced.txt"]


def objects():
    b = new_bucket()
    key = "obj/" + KEY
    body = pattern(5000, 3)

    def put():
        r = b.put_object(key, body, headers={"x-oss-meta-Mixed-Case": "V1", "Content-Type": "application/x-test"})
        ensure_eq(r.etag, md5_hex(body), "ETag")
        ensure_eq(r.crc, crc64_of(body), "CRC")  # oss2 also checks it
        return r.etag
    check("put_object (key with '/', space, '+', non-ASCII)", put)

    def head():
        h = b.head_object(key)
        ensure_eq(h.object_type, "Normal", "object type")
        ensure_eq(h.content_length, len(body), "Content-Length")
        ensure_eq(h.headers.get("x-oss-meta-mixed-case"), "V1", "meta")
        ensure_eq(h.content_type, "application/x-test", "Content-Type")
        return h.etag
    check("head_object", head)
    check("get_object_meta", lambda: ensure_eq(b.get_object_meta(key).content_length, len(body), "size") or len(body))
    check("object_exists true/false", lambda: ensure_eq(
        (b.object_exists(key), b.object_exists("obj/missing")), (True, False), "exists") or True)
    check("head_object missing -> NoSuchKey (from x-oss-err)", lambda: expect_error(
        lambda: b.head_object("obj/missing"), "NoSuchKey", 404, oe.NoSuchKey))
    check("get_object missing -> NoSuchKey", lambda: expect_error(
        lambda: b.get_object("obj/missing"), "NoSuchKey", 404, oe.NoSuchKey))

    def ranged():
        r = b.get_object(key, byte_range=(10, 19))
        ensure_eq(r.status, 206, "status")
        ensure_eq(r.read(), body[10:20], "bytes")
        return r.headers.get("Content-Range")
    check("get_object byte range", ranged)

    def to_file():
        tmp = temp_dir("oss2-get-")
        try:
            p = os.path.join(tmp, "out.bin")
            b.get_object_to_file(key, p)  # CRC of the download checked by oss2
            with open(p, "rb") as f:
                ensure_eq(f.read(), body, "file content")
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return len(body)
    check("get_object_to_file", to_file)

    def listing():
        r = b.list_objects(prefix="obj/")
        ensure_eq([o.key for o in r.object_list], [key], "keys")
        return [o.key for o in r.object_list]
    check("list_objects with a prefix (encoding-type=url decoded by oss2)", listing)

    def signed_get():
        url = b.sign_url("GET", key, 600)
        status, _, data = http_fetch(S, url)
        ensure_eq(status, 200, "status (%s)" % data[:300])
        ensure_eq(data, body, "body")
        return url.split("?", 1)[1][:70] + "..."
    check("sign_url GET, fetched with urllib", signed_get)

    def signed_put():
        url = b.sign_url("PUT", "obj/presigned.txt", 600, headers={"Content-Type": "text/plain"})
        status, _, data = http_fetch(S, url, "PUT", b"via url", {"Content-Type": "text/plain"})
        ensure_eq(status, 200, "status (%s)" % data[:300])
        ensure_eq(b.get_object("obj/presigned.txt").read(), b"via url", "stored body")
        return status
    check("sign_url PUT with Content-Type", signed_put)

    def expired():
        url = b.sign_url("GET", key, -60) if MODE == "v1" else None
        if url is None:
            return "skipped for v4 (oss2 refuses negative expiry)"
        status, _, data = http_fetch(S, url)
        ensure_eq(status, 403, "status")
        ensure(b"<Code>AccessDenied</Code>" in data, "body: %r" % data[:300])
        return status
    if MODE == "v1":
        check("expired sign_url -> 403 AccessDenied", expired)

    def bad_secret():
        auth = S.oss2_auth(v4=MODE == "v4", secret="wrong-secret")
        bad = oss2.Bucket(auth, S.endpoint, BUCKET, **region_kw())
        return expect_error(lambda: bad.get_object(key), "SignatureDoesNotMatch", 403, oe.SignatureDoesNotMatch)
    check("wrong secret -> SignatureDoesNotMatch", bad_secret)

    def bad_key_id():
        bad = oss2.Bucket(oss2.Auth("LTAI-unknown", "x"), S.endpoint, BUCKET)
        return expect_error(lambda: bad.get_object(key), "InvalidAccessKeyId", 403)
    check("unknown AccessKeyId -> InvalidAccessKeyId", bad_key_id)

    if S.sts:
        def bad_token():
            auth = S.oss2_auth(v4=MODE == "v4", token="not-the-token")
            bad = oss2.Bucket(auth, S.endpoint, BUCKET, **region_kw())
            try:
                bad.get_object(key)
            except oe.OssError as e:
                ensure(e.status == 403 and e.code in ("InvalidAccessKeyId", "AccessDenied", "InvalidSecurityToken"),
                       "got %s %s" % (e.status, e.code))
                return e.code
            raise AssertionError("a wrong STS token was accepted")
        check("wrong STS token -> 403", bad_token)

    def delete():
        ensure_eq(b.delete_object(key).status, 204, "status")
        ensure_eq(b.object_exists(key), False, "exists after delete")
        return 204
    check("delete_object -> 204", delete)
    return ["obj/presigned.txt"]


def ranges_copies_conditions():
    b = new_bucket()
    src = "cond/source.bin"
    data = pattern(300 * KiB, 17)
    etag = check("put_object a 300 KiB source", lambda: b.put_object(src, data).etag)

    def suffix_range():
        r = b.get_object(src, headers={"Range": "bytes=-100"})
        ensure_eq(r.status, 206, "status")
        ensure_eq(r.read(), data[-100:], "bytes")
        return r.headers.get("Content-Range")
    check("get_object Range bytes=-100 (suffix)", suffix_range)

    def open_range():
        r = b.get_object(src, byte_range=(len(data) - 5, None))
        ensure_eq(r.status, 206, "status")
        ensure_eq(r.read(), data[-5:], "bytes")
        return r.headers.get("Content-Range")
    check("get_object Range bytes=N- (open end)", open_range)

    def unsatisfiable_default():
        r = b.get_object(src, headers={"Range": "bytes=%d-%d" % (len(data) + 10, len(data) + 20)})
        ensure_eq(r.status, 200, "status (OSS ignores an unsatisfiable range by default)")
        ensure_eq(len(r.read()), len(data), "length")
        return r.status
    check("get_object with an unsatisfiable range -> whole object, 200", unsatisfiable_default)
    check("unsatisfiable range with x-oss-range-behavior: standard -> InvalidRange", lambda: expect_error(
        lambda: b.get_object(src, headers={"Range": "bytes=%d-" % (len(data) + 10),
                                           "x-oss-range-behavior": "standard"}), "InvalidRange", 416))
    check("get_object If-None-Match current ETag -> NotModified (304)", lambda: _not_modified(b, src, etag))
    check("get_object If-Match stale ETag -> PreconditionFailed", lambda: expect_error(
        lambda: b.get_object(src, headers={"If-Match": '"%s"' % ("0" * 32)}), "PreconditionFailed", 412,
        oe.PreconditionFailed))
    check("get_object If-Match current ETag -> 200", lambda: ensure_eq(
        b.get_object(src, headers={"If-Match": '"%s"' % etag}).status, 200, "status") or 200)

    def part_copy():
        key = "cond/copied.bin"
        uid = b.init_multipart_upload(key).upload_id
        r1 = b.upload_part_copy(BUCKET, src, (0, 102399), key, uid, 1)
        ensure_eq(r1.etag, md5_hex(data[:102400]), "ETag of copied part 1")
        r2 = b.upload_part_copy(BUCKET, src, (102400, 204799), key, uid, 2)
        r3 = b.upload_part(key, uid, 3, b"tail")
        parts = [(p.part_number, p.size) for p in oss2.PartIterator(b, key, uid)]
        ensure_eq(parts, [(1, 102400), (2, 102400), (3, 4)], "parts")
        b.complete_multipart_upload(key, uid, [PartInfo(1, r1.etag), PartInfo(2, r2.etag), PartInfo(3, r3.etag)])
        ensure_eq(b.get_object(key).read(), data[:204800] + b"tail", "assembled object")
        return r1.etag
    check("upload_part_copy two ranges + upload_part, complete", part_copy)

    def part_copy_to_end():
        key = "cond/copied-tail.bin"
        uid = b.init_multipart_upload(key).upload_id
        # (start, None) is oss2's "from start to the end": it sends bytes=start-.
        r1 = b.upload_part_copy(BUCKET, src, (102400, None), key, uid, 1)
        b.complete_multipart_upload(key, uid, [PartInfo(1, r1.etag)])
        ensure_eq(b.get_object(key).read(), data[102400:], "copied tail")
        return r1.etag
    check("upload_part_copy with an open range (bytes=N-)", part_copy_to_end)
    check("upload_part_copy from a missing source -> NoSuchKey", lambda: expect_error(
        lambda: b.upload_part_copy(BUCKET, "cond/missing.bin", (0, 9), "cond/x.bin",
                                   b.init_multipart_upload("cond/x.bin").upload_id, 1), "NoSuchKey", 404))
    return [src, "cond/copied.bin", "cond/copied-tail.bin"]


def _not_modified(b, key, etag):
    try:
        b.get_object(key, headers={"If-None-Match": '"%s"' % etag})
    except oe.NotModified as e:
        ensure_eq(e.status, 304, "status")
        return 304
    raise AssertionError("If-None-Match with the current ETag did not give 304")


def attributes_and_appends():
    """Storage class, encryption, tagging, bucket and object ACLs, appends, a sequential upload
    and anonymous reads through public-read."""
    from oss2.models import Tagging, TaggingRule
    b = new_bucket()
    key = "attrs/ia.bin"

    def put_with_attributes():
        r = b.put_object(key, b"attributes", headers={
            "x-oss-storage-class": "IA",
            "x-oss-server-side-encryption": "AES256",
            "x-oss-tagging": "team=storage&tier=2",
        })
        ensure_eq(r.headers.get("x-oss-server-side-encryption"), "AES256", "SSE echoed on PUT")
        h = b.head_object(key).headers
        ensure_eq(h.get("x-oss-storage-class"), "IA", "storage class")
        ensure_eq(h.get("x-oss-server-side-encryption"), "AES256", "SSE on HEAD")
        ensure_eq(h.get("x-oss-tagging-count"), "2", "tag count")
        return dict((k, h.get(k)) for k in ("x-oss-storage-class", "x-oss-tagging-count"))
    check("put_object with storage class, SSE and tags; HEAD shows them", put_with_attributes)
    check("a bogus storage class -> InvalidArgument", lambda: expect_error(
        lambda: b.put_object("attrs/bogus", b"x", headers={"x-oss-storage-class": "Bogus"}),
        "InvalidArgument", 400))

    def tagging():
        ensure_eq(b.get_object_tagging(key).tag_set.tagging_rule,
                  {"team": "storage", "tier": "2"}, "tags from the PUT")
        rule = TaggingRule()
        rule.add("owner", "compat")
        b.put_object_tagging(key, Tagging(rule))
        ensure_eq(b.get_object_tagging(key).tag_set.tagging_rule, {"owner": "compat"}, "new tags")
        ensure_eq(b.head_object(key).headers.get("x-oss-tagging-count"), "1", "tag count")
        b.delete_object_tagging(key)
        ensure_eq(b.get_object_tagging(key).tag_set.tagging_rule, {}, "tags after delete")
        return "ok"
    check("put/get/delete_object_tagging", tagging)

    def acls():
        ensure_eq(b.get_bucket_acl().acl, oss2.BUCKET_ACL_PRIVATE, "new bucket")
        ensure_eq(b.get_object_acl(key).acl, "default", "object written without an ACL")
        b.put_object_acl(key, oss2.OBJECT_ACL_PUBLIC_READ)
        ensure_eq(b.get_object_acl(key).acl, oss2.OBJECT_ACL_PUBLIC_READ, "object ACL")
        status, body = anonymous_get(S, BUCKET, key)
        ensure_eq((status, body), (200, b"attributes"), "anonymous GET of a public-read object")
        b.put_object("attrs/private.bin", b"secret")
        status, body = anonymous_get(S, BUCKET, "attrs/private.bin")
        ensure_eq(status, 403, "anonymous GET of a private object")
        ensure(b"AccessDenied" in body, "AccessDenied in %r" % body[:200])
        b.put_bucket_acl(oss2.BUCKET_ACL_PUBLIC_READ)
        ensure_eq(b.get_bucket_acl().acl, oss2.BUCKET_ACL_PUBLIC_READ, "bucket ACL")
        ensure_eq(anonymous_get(S, BUCKET, "attrs/private.bin")[0], 200, "through the bucket ACL")
        b.put_object_acl("attrs/private.bin", oss2.OBJECT_ACL_PRIVATE)
        ensure_eq(anonymous_get(S, BUCKET, "attrs/private.bin")[0], 403, "object ACL wins")
        b.put_bucket_acl(oss2.BUCKET_ACL_PRIVATE)
        return "ok"
    check("bucket and object ACLs, anonymous reads", acls)

    def appends():
        first = pattern(3000, 1)
        r1 = b.append_object("attrs/log.txt", 0, first)
        ensure_eq(r1.next_position, 3000, "next position")
        second = pattern(5000, 2)
        r2 = b.append_object("attrs/log.txt", r1.next_position, second, init_crc=r1.crc)
        ensure_eq(r2.next_position, 8000, "next position")
        ensure_eq(r2.crc, crc64_of(first + second), "chained CRC-64")
        ensure_eq(b.get_object("attrs/log.txt").read(), first + second, "body")
        ensure_eq(b.head_object("attrs/log.txt").headers.get("x-oss-object-type"), "Appendable",
                  "object type")
        expect_error(lambda: b.append_object("attrs/log.txt", 1, b"x"),
                     "PositionNotEqualToLength", 409)
        return expect_error(lambda: b.append_object(key, 10, b"x"), "ObjectNotAppendable", 409)
    check("append_object: positions, chained CRC, errors", appends)

    def sequential():
        k = "attrs/sequential.bin"
        uid = b.init_multipart_upload(k, params={"sequential": ""}).upload_id
        p1, p2 = pattern(120 * 1024, 3), pattern(7000, 4)
        expect_error(lambda: b.upload_part(k, uid, 2, p2), "InvalidArgument", 400)
        parts = [PartInfo(1, b.upload_part(k, uid, 1, p1).etag),
                 PartInfo(2, b.upload_part(k, uid, 2, p2).etag)]
        b.complete_multipart_upload(k, uid, parts)
        h = b.head_object(k).headers
        ensure_eq(h.get("Content-MD5"), whole_md5_b64(p1 + p2), "whole-object Content-MD5")
        return h.get("Content-MD5")
    check("sequential multipart upload: ordered parts, whole-object MD5", sequential)
    return [key, "attrs/private.bin", "attrs/log.txt", "attrs/sequential.bin"]


def teardown(keys):
    b = new_bucket()
    check("delete_bucket while objects remain -> BucketNotEmpty", lambda: expect_error(
        b.delete_bucket, "BucketNotEmpty", 409, oe.BucketNotEmpty))

    def delete_all():
        names = [o.key for o in oss2.ObjectIterator(b)]
        for k in names:
            ensure_eq(b.delete_object(k).status, 204, "DeleteObject %s" % k)
        ensure_eq([o.key for o in oss2.ObjectIterator(b)], [], "objects left")
        return len(names)
    check("delete every object", delete_all)

    def uploads_block_delete():
        leftovers = [(u.key, u.upload_id) for u in oss2.MultipartUploadIterator(b)]
        uid = b.init_multipart_upload("teardown/pending.bin").upload_id
        out = expect_error(b.delete_bucket, "BucketNotEmpty", 409, oe.BucketNotEmpty)
        b.abort_multipart_upload("teardown/pending.bin", uid)
        for k, u in leftovers:
            b.abort_multipart_upload(k, u)
        return out
    check("delete_bucket with an upload in progress -> BucketNotEmpty", uploads_block_delete)

    def delete_bucket():
        ensure_eq(b.delete_bucket().status, 204, "DeleteBucket status")
        return expect_error(lambda: b.get_object("anything"), "NoSuchBucket", 404, oe.NoSuchBucket)
    check("delete_bucket -> 204, then the bucket is gone", delete_bucket)


def main():
    tmp = temp_dir("oss2-compat-")
    try:
        setup()
        keys = resumable(tmp)
        keys += iterators()
        keys += multipart_errors()
        keys += objects()
        keys += ranges_copies_conditions()
        keys += attributes_and_appends()
        teardown(keys)
        checks.done()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
