#!/usr/bin/env node
'use strict';
// One ali-oss multipartUpload of a file, for the client benchmark (bench/src/bin/client_bench.rs).
//
// Usage: node bench_upload.js BUCKET KEY FILE [PARALLEL PART_SIZE]
//   Without PARALLEL and PART_SIZE, ali-oss's defaults apply (5 parts in flight, 1 MiB parts).
// Environment: OSSPART_ENDPOINT, OSSPART_REGION, OSS_ACCESS_KEY_ID, OSS_ACCESS_KEY_SECRET.
// Prints one JSON line with the upload's own wall time; the benchmark measures the process.

const OSS = require('ali-oss');
const { settings, describeError } = require('./common');

const [bucket, key, file, parallel, partSize] = process.argv.slice(2);
if (!bucket || !key || !file) {
  console.error('usage: node bench_upload.js BUCKET KEY FILE [PARALLEL PART_SIZE]');
  process.exit(2);
}
const S = settings();
const client = new OSS({
  endpoint: S.endpoint,
  region: `oss-${S.region}`,
  accessKeyId: S.accessKeyId,
  accessKeySecret: S.accessKeySecret,
  bucket,
  timeout: 600000,
});

async function main() {
  const options = {};
  if (parallel) options.parallel = Number(parallel);
  if (partSize) options.partSize = Number(partSize);
  const started = process.hrtime.bigint();
  const result = await client.multipartUpload(key, file, options);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (result.res.status !== 200) throw new Error(`CompleteMultipartUpload status ${result.res.status}`);
  console.log(JSON.stringify({ sdk: 'ali-oss', seconds, etag: result.res.headers.etag }));
}

main().catch(e => {
  console.log(`FAIL bench_upload: ${describeError(e)}`);
  process.exit(1);
});
