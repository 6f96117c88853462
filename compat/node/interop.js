#!/usr/bin/env node
'use strict';
// Checkpoint interop between ali-oss multipartUpload and osspart (crates/client/tests/interop.rs).
//
// Usage:
//   node interop.js start  BUCKET KEY FILE CHECKPOINT PART_SIZE PARALLEL CANCEL_AFTER
//       Starts multipartUpload of FILE as KEY, writes the checkpoint from every progress call
//       to CHECKPOINT (JSON), and calls cancel() once CANCEL_AFTER parts are done. Exits 0
//       only when the upload ended in ali-oss's cancel event.
//   node interop.js finish BUCKET KEY FILE CHECKPOINT
//       Resumes the upload described by the ali-oss-shaped checkpoint in CHECKPOINT
//       (multipartUpload(name, file, {checkpoint})) and lets it complete.
//
// Environment: OSSPART_ENDPOINT, OSSPART_REGION, OSS_ACCESS_KEY_ID, OSS_ACCESS_KEY_SECRET
// (see common.js). The last line on stdout is a JSON summary the test reads.

const fs = require('fs');
const OSS = require('ali-oss');
const { settings, describeError } = require('./common');

function usage() {
  console.error('usage: node interop.js start BUCKET KEY FILE CHECKPOINT PART_SIZE PARALLEL CANCEL_AFTER\n' +
    '       node interop.js finish BUCKET KEY FILE CHECKPOINT');
  process.exit(2);
}

const [mode, bucket, key, file, checkpointPath, ...rest] = process.argv.slice(2);
if (!mode || !bucket || !key || !file || !checkpointPath) usage();

const S = settings();
// The endpoint is an IP, so ali-oss sends Host: <bucket>.oss-<region>.aliyuncs.com.
const client = new OSS({
  endpoint: S.endpoint,
  region: `oss-${S.region}`,
  accessKeyId: S.accessKeyId,
  accessKeySecret: S.accessKeySecret,
  bucket,
  timeout: 120000,
});

// Written through a temporary file so the test never reads a torn checkpoint.
function saveCheckpoint(cpt) {
  const tmp = `${checkpointPath}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(cpt));
  fs.renameSync(tmp, checkpointPath);
}

async function start(partSize, parallel, cancelAfter) {
  let progressCalls = 0;
  try {
    await client.multipartUpload(key, file, {
      partSize,
      parallel,
      progress: async (fraction, cpt) => {
        progressCalls += 1;
        if (!cpt) return;
        saveCheckpoint(cpt);
        if (cpt.doneParts.length >= cancelAfter) client.cancel();
      },
    });
  } catch (e) {
    if (client.isCancel() && e.name === 'cancel') {
      const cpt = JSON.parse(fs.readFileSync(checkpointPath, 'utf8'));
      console.log(JSON.stringify({
        cancelled: true, uploadId: cpt.uploadId, doneParts: cpt.doneParts.length, progressCalls,
      }));
      return;
    }
    throw e;
  }
  throw new Error(`the upload completed although cancel() was to be called after ${cancelAfter} parts`);
}

async function finish() {
  const checkpoint = JSON.parse(fs.readFileSync(checkpointPath, 'utf8'));
  if (checkpoint.file !== file) {
    throw new Error(`checkpoint is for ${JSON.stringify(checkpoint.file)}, not ${JSON.stringify(file)}`);
  }
  const result = await client.multipartUpload(key, file, { checkpoint });
  console.log(JSON.stringify({
    completed: true,
    status: result.res.status,
    etag: result.etag || result.res.headers.etag,
    uploadId: checkpoint.uploadId,
  }));
}

async function main() {
  if (mode === 'start') {
    const [partSize, parallel, cancelAfter] = rest.map(Number);
    if (!(partSize > 0 && parallel > 0 && cancelAfter > 0)) usage();
    await start(partSize, parallel, cancelAfter);
  } else if (mode === 'finish') {
    await finish();
  } else {
    usage();
  }
}

main().catch(e => {
  console.log(`FAIL interop ${mode}: ${describeError(e)}`);
  process.exit(1);
});
