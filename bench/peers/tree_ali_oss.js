#!/usr/bin/env node
'use strict';
// Uploads every file under DIR with ali-oss, for the tree benchmark (bench/src/bin/tree_bench.rs).
//
// Usage: node tree_ali_oss.js BUCKET PREFIX DIR WORKERS
// Environment: OSSPART_ENDPOINT, OSSPART_REGION, OSS_ACCESS_KEY_ID, OSS_ACCESS_KEY_SECRET.
//
// WORKERS async loops share one client and take files from one list, each awaiting
// client.put(PREFIX + the file's '/'-separated path relative to DIR, path) in turn (V1 auth,
// ali-oss's defaults otherwise), configured as compat/node/bench_upload.js is. ali-oss and the
// shared helpers are loaded from compat/node (`scripts/test --deps`). Walking the directory is
// part of the run, as it is for `osspart cp -r`. Prints one JSON line with the file count,
// bytes and the upload's own wall time.

const fs = require('fs');
const path = require('path');
const { createRequire } = require('module');

const compat = createRequire(path.join(__dirname, '..', '..', 'compat', 'node', 'package.json'));
const OSS = compat('ali-oss');
const { settings, describeError } = compat('./common');

const [bucket, prefix, root, workers] = process.argv.slice(2);
if (!bucket || prefix === undefined || !root || !workers) {
  console.error('usage: node tree_ali_oss.js BUCKET PREFIX DIR WORKERS');
  process.exit(2);
}

// { path, rel, size } of every file under dir, in sorted order.
function filesUnder(dir, rel = '', out = []) {
  const entries = fs.readdirSync(dir, { withFileTypes: true });
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const e of entries) {
    const p = path.join(dir, e.name);
    const r = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) filesUnder(p, r, out);
    else if (e.isFile()) out.push({ path: p, rel: r, size: fs.statSync(p).size });
  }
  return out;
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
  const files = filesUnder(root);
  let next = 0;
  async function worker() {
    while (next < files.length) {
      const f = files[next++];
      const result = await client.put(prefix + f.rel, f.path);
      if (result.res.status !== 200) throw new Error(`PutObject ${f.rel}: status ${result.res.status}`);
    }
  }
  await Promise.all(Array.from({ length: Math.min(Number(workers), files.length) }, worker));
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const bytes = files.reduce((n, f) => n + f.size, 0);
  console.log(JSON.stringify({ sdk: 'ali-oss', files: files.length, bytes, seconds }));
}

main().catch(e => {
  console.log(`FAIL tree_ali_oss: ${describeError(e)}`);
  process.exit(1);
});
