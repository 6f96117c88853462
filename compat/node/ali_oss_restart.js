#!/usr/bin/env node
'use strict';
// ali-oss across a server crash: a multipartUpload cancelled before `kill -9` resumes from its
// saved checkpoint once the server is back on the same data directory.
//
// Usage: node ali_oss_restart.js phase1|phase2 STATE_DIR   (environment: see common.js)
//
// phase1: create a bucket, start a multipartUpload and cancel it after a few parts; the
//         checkpoint is written to STATE_DIR/checkpoint.json (as an application would).
// (the harness kills the server with SIGKILL and restarts it; the port changes)
// phase2: the uploaded parts are still listed; multipartUpload({checkpoint}) sends only the
//         missing parts and completes; the object is byte-identical to the source.

const fs = require('fs');
const path = require('path');
const OSS = require('ali-oss');
const { settings, Checks, assert, assertEq, pattern, md5Hex, asArray, installCrashHandlers } = require('./common');

const PHASE = process.argv[2];
const STATE_DIR = process.argv[3];
if (!['phase1', 'phase2'].includes(PHASE) || !STATE_DIR) {
  console.error('usage: node ali_oss_restart.js phase1|phase2 STATE_DIR');
  process.exit(2);
}
const S = settings();
const SUITE = `ali-oss-restart-${PHASE}`;
const BUCKET = 'ali-restart-compat';
const KEY = 'crash/resumed upload.bin';
const PART = 256 * 1024;
const SIZE = 12 * PART + 999; // 13 parts
const SOURCE = path.join(STATE_DIR, 'source.bin');
const CHECKPOINT = path.join(STATE_DIR, 'checkpoint.json');

function client() {
  const o = {
    endpoint: S.endpoint,
    region: `oss-${S.region}`,
    accessKeyId: S.accessKeyId,
    accessKeySecret: S.accessKeySecret,
    bucket: BUCKET,
    authorizationV4: true,
    timeout: 120000,
  };
  if (S.securityToken) {
    o.stsToken = S.securityToken;
    o.refreshSTSTokenInterval = 3600 * 1000;
    o.refreshSTSToken = async () => ({
      accessKeyId: S.accessKeyId, accessKeySecret: S.accessKeySecret, stsToken: S.securityToken,
    });
  }
  return new OSS(o);
}

const checks = new Checks(SUITE);
const check = (label, fn) => checks.check(label, fn);

async function phase1() {
  const c = client();
  await check('putBucket', async () => (await c.putBucket(BUCKET)).res.status);
  fs.writeFileSync(SOURCE, pattern(SIZE, 99));
  await check('multipartUpload cancelled after 4 parts; checkpoint saved to disk', async () => {
    let saved = null;
    try {
      await c.multipartUpload(KEY, SOURCE, {
        partSize: PART,
        parallel: 2,
        meta: { phase: 'before-crash' },
        progress: async (p, cpt) => {
          if (cpt && cpt.doneParts.length >= 4 && !saved) {
            saved = JSON.parse(JSON.stringify(cpt));
            fs.writeFileSync(CHECKPOINT, JSON.stringify(saved));
            c.cancel();
          }
        },
      });
    } catch (e) {
      if (e.name !== 'cancel') throw e;
    }
    assert(saved, 'the upload finished before it could be cancelled');
    return { uploadId: saved.uploadId, doneParts: saved.doneParts.length };
  });
  checks.done();
}

async function phase2() {
  const c = client();
  const saved = JSON.parse(fs.readFileSync(CHECKPOINT, 'utf8'));
  await check('parts from the checkpoint are still listed after the restart', async () => {
    const r = await c.listParts(KEY, saved.uploadId, { 'max-parts': 1000 });
    const listed = new Map(asArray(r.parts).map(p => [Number(p.PartNumber), p.ETag]));
    for (const p of saved.doneParts) assertEq(listed.get(p.number), p.etag, `ETag of part ${p.number}`);
    return [...listed.keys()].sort((a, b) => a - b);
  });
  await check('multipartUpload resumes from the saved checkpoint and completes', async () => {
    let sent = 0;
    const kept = saved.doneParts.length; // ali-oss appends to the checkpoint it is given
    const r = await c.multipartUpload(KEY, SOURCE, {
      checkpoint: saved,
      partSize: PART,
      parallel: 2,
      progress: async (p, cpt) => { if (cpt) sent += 1; },
    });
    assertEq(r.res.status, 200, 'Complete status');
    assertEq(sent, 13 - kept, 'parts sent after the restart');
    return { sent, kept };
  });
  await check('resumed object is byte-identical and keeps the initiate metadata', async () => {
    const g = await c.get(KEY);
    assertEq(md5Hex(g.content), md5Hex(fs.readFileSync(SOURCE)), 'MD5');
    const h = await c.head(KEY);
    assertEq(h.meta.phase, 'before-crash', 'meta.phase');
    return md5Hex(g.content);
  });
  checks.done();
}

installCrashHandlers(SUITE);
(PHASE === 'phase1' ? phase1() : phase2());
