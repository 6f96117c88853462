"""Uploads every file under DIR with oss2, for the tree benchmark (bench/src/bin/tree_bench.rs).

Usage: python tree_oss2.py BUCKET PREFIX DIR THREADS
Environment: OSSPART_ENDPOINT, OSSPART_REGION, OSS_ACCESS_KEY_ID, OSS_ACCESS_KEY_SECRET.

A concurrent.futures.ThreadPoolExecutor(THREADS) runs bucket.put_object_from_file(PREFIX + the
file's '/'-separated path relative to DIR, path) for every file, sharing one oss2.Bucket (V1
auth, oss2's defaults otherwise: enable_crc=True). Walking the directory is part of the run, as
it is for `osspart cp -r`. Run with compat/python/.venv/bin/python (`scripts/test --deps`).
Prints one JSON line with the file count, bytes and the upload's own wall time.
"""
import concurrent.futures
import json
import os
import sys
import time

import oss2

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "compat", "python"))
from common import Settings  # noqa: E402  (compat/python/common.py)


def files_under(root):
    """(path, key suffix, size) of every file under root, in sorted order."""
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, root).replace(os.sep, "/")
            out.append((path, rel, os.path.getsize(path)))
    return out


def main():
    if len(sys.argv) != 5:
        sys.stderr.write("usage: python tree_oss2.py BUCKET PREFIX DIR THREADS\n")
        sys.exit(2)
    bucket_name, prefix, root, threads = sys.argv[1:]
    threads = int(threads)
    s = Settings()
    # One pooled keep-alive connection per thread (oss2's default pool keeps 10, and extra
    # threads would open and drop connections).
    oss2.defaults.connection_pool_size = max(threads, oss2.defaults.connection_pool_size)
    bucket = oss2.Bucket(s.oss2_auth(), s.endpoint, bucket_name)

    def put(item):
        path, rel, _ = item
        # Only the status is kept: holding 10,000 result objects would bill their memory to oss2.
        return rel, bucket.put_object_from_file(prefix + rel, path).status

    started = time.monotonic()
    files = files_under(root)
    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        for rel, status in pool.map(put, files):
            if status != 200:
                raise SystemExit("PutObject %s: status %s" % (rel, status))
    seconds = time.monotonic() - started
    print(json.dumps({"sdk": "oss2", "files": len(files), "bytes": sum(f[2] for f in files),
                      "seconds": seconds}), flush=True)


if __name__ == "__main__":
    main()
