#!/usr/bin/env python3
"""CNAME addressing: oss2 (is_cname=True) and the v2 SDK (use_cname=True) against `osspart serve`.

Usage: python cname_compat.py      (environment: see common.py, plus)
    OSSPART_CNAME_HOST    host name the server binds to a bucket (its [cname] table)
    OSSPART_CNAME_BUCKET  that bucket

With a CNAME endpoint the SDKs put neither the bucket in the host nor in the path; the server
must find the bucket from the Host header. The made-up host name is resolved to the server's
address inside this process only (urllib3's connection factory is wrapped), so the Host header
the SDKs send is exactly `<cname-host>:PORT`.
"""
import http.client
import os
import sys
import urllib.parse

import urllib3.util.connection as urllib3_connection

import alibabacloud_oss_v2 as oss
import oss2
from oss2.models import PartInfo

from common import Checks, Settings, ensure, ensure_eq, expect_error, md5_hex, pattern

S = Settings()
CNAME_HOST = os.environ.get("OSSPART_CNAME_HOST") or ""
CNAME_BUCKET = os.environ.get("OSSPART_CNAME_BUCKET") or ""
if not CNAME_HOST or not CNAME_BUCKET:
    sys.stderr.write("OSSPART_CNAME_HOST and OSSPART_CNAME_BUCKET must be set\n")
    sys.exit(2)
CNAME_ENDPOINT = "http://%s:%d" % (CNAME_HOST, S.port)
SUITE = "cname"
KiB = 1024

checks = Checks(SUITE)
check = checks.check

_create_connection = urllib3_connection.create_connection


def _loopback_for_cname(address, *args, **kwargs):
    host, port = address
    if host == CNAME_HOST:
        host = S.host
    return _create_connection((host, port), *args, **kwargs)


urllib3_connection.create_connection = _loopback_for_cname


def fetch_cname_url(url):
    parts = urllib.parse.urlsplit(url)
    ensure_eq(parts.hostname, CNAME_HOST, "host of the presigned URL")
    conn = http.client.HTTPConnection(S.host, S.port, timeout=60)
    try:
        target = parts.path + ("?" + parts.query if parts.query else "")
        conn.request("GET", target, headers={"Host": parts.netloc})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def oss2_auth(version):
    return S.oss2_auth(v4=version == oss2.AUTH_VERSION_4)


def oss2_flow(label, version):
    kw = {"region": S.region} if version == oss2.AUTH_VERSION_4 else {}
    b = oss2.Bucket(oss2_auth(version), CNAME_ENDPOINT, CNAME_BUCKET, is_cname=True, **kw)
    key = "%s/dir/file one.txt" % label
    body = pattern(3000, 4)

    def put_get():
        url = b._make_url(CNAME_BUCKET, key)
        ensure(url.startswith(CNAME_ENDPOINT + "/%s" % label), "unexpected CNAME URL %s" % url)
        ensure_eq(b.put_object(key, body).status, 200, "PutObject status")
        ensure_eq(b.get_object(key).read(), body, "body")
        return url
    check("oss2 %s: put_object / get_object through the CNAME host" % label, put_get)

    def multipart():
        k = "%s/multipart.bin" % label
        uid = b.init_multipart_upload(k).upload_id
        p1, p2 = pattern(100 * KiB, 1), pattern(999, 2)
        e1 = b.upload_part(k, uid, 1, p1)
        e2 = b.upload_part(k, uid, 2, p2)
        listed = [p.part_number for p in oss2.PartIterator(b, k, uid, max_parts=1)]
        ensure_eq(listed, [1, 2], "parts")
        uploads = [u.upload_id for u in oss2.MultipartUploadIterator(b, prefix=label + "/")]
        ensure_eq(uploads, [uid], "uploads")
        r = b.complete_multipart_upload(k, uid, [PartInfo(1, e1.etag, size=len(p1), part_crc=e1.crc),
                                                 PartInfo(2, e2.etag, size=len(p2), part_crc=e2.crc)])
        ensure_eq(md5_hex(b.get_object(k).read()), md5_hex(p1 + p2), "body")
        return r.etag
    check("oss2 %s: multipart upload through the CNAME host" % label, multipart)

    def listing():
        keys = [o.key for o in oss2.ObjectIterator(b, prefix=label + "/", max_keys=1)]
        ensure_eq(keys, sorted([key, "%s/multipart.bin" % label]), "keys")
        return keys
    check("oss2 %s: ObjectIterator through the CNAME host" % label, listing)

    def presigned():
        url = b.sign_url("GET", key, 600)
        status, data = fetch_cname_url(url)
        ensure_eq(status, 200, "status (%s)" % data[:300])
        ensure_eq(data, body, "body")
        return url.split("?", 1)[0]
    check("oss2 %s: sign_url on the CNAME host" % label, presigned)
    check("oss2 %s: missing key -> NoSuchKey" % label, lambda: expect_error(
        lambda: b.get_object("%s/missing" % label), "NoSuchKey", 404))


def v2_flow():
    cfg = S.v2_config(CNAME_ENDPOINT)
    cfg.use_cname = True
    c = oss.Client(cfg)
    key = "v2/uploaded.bin"
    body = pattern(250 * KiB, 8)

    def upload():
        import io
        r = c.uploader(part_size=100 * KiB, parallel_num=2).upload_from(
            oss.PutObjectRequest(bucket=CNAME_BUCKET, key=key), io.BytesIO(body))
        got = c.get_object(oss.GetObjectRequest(bucket=CNAME_BUCKET, key=key)).body.read()
        ensure_eq(md5_hex(got), md5_hex(body), "body")
        return r.etag
    check("v2 SDK: Uploader (3 parts) through the CNAME host", upload)

    def presign():
        r = c.presign(oss.GetObjectRequest(bucket=CNAME_BUCKET, key=key))
        status, data = fetch_cname_url(r.url)
        ensure_eq(status, 200, "status (%s)" % data[:300])
        ensure_eq(md5_hex(data), md5_hex(body), "body")
        return r.url.split("?", 1)[0]
    check("v2 SDK: presign on the CNAME host", presign)


def main():
    path_style = oss2.Bucket(oss2_auth(oss2.AUTH_VERSION_1), S.endpoint, CNAME_BUCKET)
    check("create the bound bucket path-style", lambda: path_style.create_bucket().status)
    oss2_flow("v1", oss2.AUTH_VERSION_1)
    oss2_flow("v4", oss2.AUTH_VERSION_4)
    v2_flow()

    def same_objects_path_style():
        keys = [o.key for o in oss2.ObjectIterator(path_style)]
        ensure_eq(keys, sorted(["v1/dir/file one.txt", "v1/multipart.bin", "v4/dir/file one.txt",
                                "v4/multipart.bin", "v2/uploaded.bin"]), "keys seen path-style")
        return len(keys)
    check("objects written through the CNAME are in the bucket (path-style listing)", same_objects_path_style)
    checks.done()


if __name__ == "__main__":
    main()
