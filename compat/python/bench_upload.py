"""One oss2 resumable_upload of a file, for the client benchmark (bench/src/bin/client_bench.rs).

Usage: python bench_upload.py BUCKET KEY FILE THREADS PART_SIZE
Environment: OSSPART_ENDPOINT, OSSPART_REGION, OSS_ACCESS_KEY_ID, OSS_ACCESS_KEY_SECRET.

The bucket is opened with enable_crc=True, so oss2 computes the CRC-64 of every part and checks
it against the server's, as osspart does. Prints one JSON line with the upload's own wall time.
"""
import json
import sys
import tempfile
import time

import oss2

from common import Settings


def main():
    if len(sys.argv) != 6:
        sys.stderr.write("usage: python bench_upload.py BUCKET KEY FILE THREADS PART_SIZE\n")
        sys.exit(2)
    bucket_name, key, path, threads, part_size = sys.argv[1:]
    s = Settings()
    auth = oss2.Auth(s.access_key_id, s.access_key_secret)
    bucket = oss2.Bucket(auth, s.endpoint, bucket_name, enable_crc=True)
    with tempfile.TemporaryDirectory(prefix="oss2-bench-") as store_dir:
        started = time.monotonic()
        result = oss2.resumable_upload(
            bucket,
            key,
            path,
            store=oss2.ResumableStore(root=store_dir),
            multipart_threshold=int(part_size),
            part_size=int(part_size),
            num_threads=int(threads),
        )
        seconds = time.monotonic() - started
    if result.status != 200:
        raise SystemExit("CompleteMultipartUpload status %s" % result.status)
    print(json.dumps({"sdk": "oss2", "seconds": seconds, "etag": result.etag}), flush=True)


if __name__ == "__main__":
    main()
