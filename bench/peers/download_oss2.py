"""One oss2 resumable_download of an object into a file, for the download benchmark
(bench/src/bin/download_bench.rs).

Usage: python download_oss2.py BUCKET KEY FILE [THREADS PART_SIZE]
  Without THREADS and PART_SIZE, oss2's defaults apply (multiget above 100 MiB, 4 threads,
  10 MiB ranges).
Environment: OSSPART_ENDPOINT, OSSPART_REGION, OSS_ACCESS_KEY_ID, OSS_ACCESS_KEY_SECRET.

The bucket is opened as oss2's defaults have it (V1 auth, enable_crc=True), so every range's
CRC-64 is computed and the combined value checked against the object's. The checkpoint store
goes to a temporary directory instead of the home directory. Run with
compat/python/.venv/bin/python (`scripts/test --deps`). Prints one JSON line with the
download's own wall time.
"""
import json
import os
import sys
import tempfile
import time

import oss2

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "compat", "python"))
from common import Settings  # noqa: E402  (compat/python/common.py)


def main():
    if len(sys.argv) not in (4, 6):
        sys.stderr.write("usage: python download_oss2.py BUCKET KEY FILE [THREADS PART_SIZE]\n")
        sys.exit(2)
    bucket_name, key, path = sys.argv[1:4]
    options = {}
    if len(sys.argv) == 6:
        options["num_threads"] = int(sys.argv[4])
        options["part_size"] = int(sys.argv[5])
    s = Settings()
    bucket = oss2.Bucket(s.oss2_auth(), s.endpoint, bucket_name)
    with tempfile.TemporaryDirectory(prefix="oss2-download-bench-") as store_dir:
        started = time.monotonic()
        oss2.resumable_download(bucket, key, path, store=oss2.ResumableDownloadStore(root=store_dir),
                                **options)
        seconds = time.monotonic() - started
    print(json.dumps({"sdk": "oss2", "seconds": seconds, "bytes": os.path.getsize(path)}), flush=True)


if __name__ == "__main__":
    main()
