#!/usr/bin/env node
'use strict';
// One ali-oss get of an object into a file, for the download benchmark
// (bench/src/bin/download_bench.rs).
//
// Usage: node download_ali_oss.js BUCKET KEY FILE
// Environment: OSSPART_ENDPOINT, OSSPART_REGION, OSS_ACCESS_KEY_ID, OSS_ACCESS_KEY_SECRET.
//
// client.get(KEY, FILE): one GET streamed into fs.createWriteStream(FILE) (ali-oss has no
// parallel or checksummed download), with the client configured as compat/node/bench_upload.js
// (V1 auth, 10 minute timeout). ali-oss and the shared helpers are loaded from compat/node
// (`scripts/test --deps`). Prints one JSON line with the download's own wall time.

const fs = require('fs');
const path = require('path');
const { createRequire } = require('module');

const compat = createRequire(path.join(__dirname, '..', '..', 'compat', 'node', 'package.json'));
const OSS = compat('ali-oss');
const { settings, describeError } = compat('./common');

const [bucket, key, file] = process.argv.slice(2);
if (!bucket || !key || !file) {
  console.error('usage: node download_ali_oss.js BUCKET KEY FILE');
  process.exit(2);
}

async function main() {
  const S = settings();
  const client = new OSS({
    endpoint: S.endpoint,
    region: `oss-${S.region}`,
    accessKeyId: S.accessKeyId,
    accessKeySecret: S.accessKeySecret,
    bucket,
    timeout: 600000,
  });
  const started = process.hrtime.bigint();
  const result = await client.get(key, file);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (result.res.status !== 200) throw new Error(`GetObject status ${result.res.status}`);
  console.log(JSON.stringify({ sdk: 'ali-oss', seconds, bytes: fs.statSync(file).size }));
}

main().catch(e => {
  console.log(`FAIL download_ali_oss: ${describeError(e)}`);
  process.exit(1);
});
