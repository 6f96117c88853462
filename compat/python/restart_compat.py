#!/usr/bin/env python3
"""oss2 across a server crash: work done before `kill -9` must be there after the restart.

Usage: python restart_compat.py phase1|phase2 STATE_DIR      (environment: see common.py)

phase1 (first server): creates a bucket, stores an object, leaves a low-level multipart upload
with three parts, and interrupts a resumable_upload part-way (its checkpoint lives in STATE_DIR).
Then the harness kills the server with SIGKILL and starts it again on the same data directory
(the port changes, OSSPART_ENDPOINT tells the new one).
phase2 (restarted server): the object, the upload and its parts are unchanged; the resumable
upload resumes from the server's part list and sends only the missing parts; everything completes.
"""
import json
import logging
import os
import sys
import threading

import oss2
from oss2.models import PartInfo

from common import Checks, Settings, ensure, ensure_eq, md5_hex, pattern

PHASE = sys.argv[1] if len(sys.argv) > 1 else ""
STATE_DIR = sys.argv[2] if len(sys.argv) > 2 else ""
if PHASE not in ("phase1", "phase2") or not STATE_DIR:
    sys.stderr.write("usage: restart_compat.py phase1|phase2 STATE_DIR\n")
    sys.exit(2)

S = Settings()
SUITE = "oss2-restart-%s" % PHASE
BUCKET = "restart-compat"
KiB = 1024
PART = 128 * KiB
SIZE = 12 * PART + 4321  # 13 parts
STATE = os.path.join(STATE_DIR, "state.json")
SOURCE = os.path.join(STATE_DIR, "resumable-source.bin")
RESUMABLE_KEY = "resume/after crash.bin"
LOW_KEY = "low/level.bin"
OBJ_KEY = "plain/object.txt"

checks = Checks(SUITE)
check = checks.check
logging.getLogger("oss2.task_queue").setLevel(logging.CRITICAL)


class CountingBucket(oss2.Bucket):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.lock = threading.Lock()
        self.uploaded_parts = []

    def upload_part(self, key, upload_id, part_number, data, progress_callback=None, headers=None):
        r = super().upload_part(key, upload_id, part_number, data, progress_callback=progress_callback,
                                headers=headers)
        with self.lock:
            self.uploaded_parts.append(part_number)
        return r


def bucket(cls=oss2.Bucket):
    return cls(S.oss2_auth(), S.endpoint, BUCKET, enable_crc=True)


def store():
    return oss2.ResumableStore(root=STATE_DIR)


class Interrupted(Exception):
    pass


def phase1():
    b = bucket()
    state = {}
    check("create_bucket", lambda: b.create_bucket().status)

    def put():
        r = b.put_object(OBJ_KEY, b"written before the crash", headers={"x-oss-meta-when": "before"})
        state["object_etag"] = r.etag
        return r.etag
    check("put_object", put)

    def low_level():
        uid = b.init_multipart_upload(LOW_KEY, headers={"Content-Type": "application/x-low"}).upload_id
        etags = {}
        for n in (1, 2, 3):
            etags[str(n)] = b.upload_part(LOW_KEY, uid, n, pattern(100 * KiB, n)).etag
        state["low_upload_id"] = uid
        state["low_etags"] = etags
        return uid
    check("init_multipart_upload + 3 parts, not completed", low_level)

    data = pattern(SIZE, 77)
    with open(SOURCE, "wb") as f:
        f.write(data)
    cb = bucket(CountingBucket)

    def interrupted():
        def progress(consumed, total):
            if consumed >= SIZE // 2:
                raise Interrupted("stopped on purpose")
        try:
            oss2.resumable_upload(cb, RESUMABLE_KEY, SOURCE, store=store(), multipart_threshold=100 * KiB,
                                  part_size=PART, num_threads=3, progress_callback=progress)
        except Interrupted:
            pass
        else:
            raise AssertionError("resumable_upload finished although interrupted")
        ensure(0 < len(cb.uploaded_parts) < 13, "parts uploaded: %r" % cb.uploaded_parts)
        state["resumable_parts"] = sorted(cb.uploaded_parts)
        return state["resumable_parts"]
    check("resumable_upload interrupted half-way", interrupted)
    with open(STATE, "w") as f:
        json.dump(state, f)
    checks.done()


def phase2():
    with open(STATE) as f:
        state = json.load(f)
    b = bucket()

    def obj():
        h = b.head_object(OBJ_KEY)
        ensure_eq(h.etag, state["object_etag"], "ETag")
        ensure_eq(h.headers.get("x-oss-meta-when"), "before", "metadata")
        ensure_eq(b.get_object(OBJ_KEY).read(), b"written before the crash", "body")
        return h.etag
    check("object written before the crash is intact", obj)

    def uploads():
        got = sorted((u.key, u.upload_id) for u in oss2.MultipartUploadIterator(b))
        keys = [k for k, _ in got]
        ensure(LOW_KEY in keys and RESUMABLE_KEY in keys, "uploads after restart: %r" % got)
        ensure((LOW_KEY, state["low_upload_id"]) in got, "low-level upload id changed: %r" % got)
        return keys
    check("both unfinished uploads survived", uploads)

    def parts():
        got = {str(p.part_number): p.etag for p in oss2.PartIterator(b, LOW_KEY, state["low_upload_id"])}
        ensure_eq(got, state["low_etags"], "parts of the low-level upload")
        return sorted(got)
    check("parts of the low-level upload survived with their ETags", parts)

    cb = bucket(CountingBucket)

    def resumed():
        r = oss2.resumable_upload(cb, RESUMABLE_KEY, SOURCE, store=store(), multipart_threshold=100 * KiB,
                                  part_size=PART, num_threads=3)
        ensure_eq(sorted(cb.uploaded_parts + state["resumable_parts"]), list(range(1, 14)),
                  "parts sent before and after the crash")
        with open(SOURCE, "rb") as f:
            data = f.read()
        ensure_eq(md5_hex(b.get_object(RESUMABLE_KEY).read()), md5_hex(data), "body")
        return {"re_sent": len(cb.uploaded_parts), "kept": len(state["resumable_parts"]), "etag": r.etag}
    check("resumable_upload resumes after the restart and sends only missing parts", resumed)

    def complete_low():
        parts_ = [PartInfo(int(n), e) for n, e in sorted(state["low_etags"].items())]
        b.complete_multipart_upload(LOW_KEY, state["low_upload_id"], parts_)
        body = b"".join(pattern(100 * KiB, n) for n in (1, 2, 3))
        ensure_eq(md5_hex(b.get_object(LOW_KEY).read()), md5_hex(body), "body")
        ensure_eq(b.head_object(LOW_KEY).content_type, "application/x-low", "Content-Type from initiate")
        return len(body)
    check("complete the low-level upload started before the crash", complete_low)
    check("no uploads left", lambda: ensure_eq(list(oss2.MultipartUploadIterator(b)), [], "uploads") or 0)
    checks.done()


if __name__ == "__main__":
    phase1() if PHASE == "phase1" else phase2()
