#!/usr/bin/env node
'use strict';
// ali-oss 6.x against `osspart serve`.
//
// Usage: node ali_oss.js v1|v4   (environment: see common.js)
//
// The client talks to the IP endpoint, so ali-oss rewrites the Host header to
// <bucket>.oss-<region>.aliyuncs.com and the server routes on it. Presigned URLs need a
// second client on http://localhost:PORT with sldEnable (path-style), because ali-oss
// refuses to sign URLs for IP endpoints.

const fs = require('fs');
const path = require('path');
const OSS = require('ali-oss');
const {
  settings, Checks, assert, assertEq, expectError, pattern, md5Hex, tempDir, httpRequest, fetchUrl,
  mapLimit, asArray, installCrashHandlers,
} = require('./common');

const MODE = process.argv[2] || 'v1';
if (MODE !== 'v1' && MODE !== 'v4') {
  console.error('usage: node ali_oss.js v1|v4');
  process.exit(2);
}
const S = settings();
const STS = S.securityToken !== '';
const SUITE = `ali-oss-${MODE}${STS ? '-sts' : ''}`;
const BUCKET = `ali-${MODE}${STS ? '-sts' : ''}-compat`;
const MiB = 1024 * 1024;
const KiB = 1024;

function clientOptions(extra) {
  const o = {
    endpoint: S.endpoint,
    region: `oss-${S.region}`,
    accessKeyId: S.accessKeyId,
    accessKeySecret: S.accessKeySecret,
    timeout: 120000,
  };
  if (STS) {
    o.stsToken = S.securityToken;
    // A refresher silences ali-oss's warning; the token never changes in these tests.
    o.refreshSTSTokenInterval = 3600 * 1000;
    o.refreshSTSToken = async () => ({
      accessKeyId: S.accessKeyId, accessKeySecret: S.accessKeySecret, stsToken: S.securityToken,
    });
  }
  if (MODE === 'v4') o.authorizationV4 = true;
  return Object.assign(o, extra || {});
}

function newClient(extra) {
  return new OSS(clientOptions(Object.assign({ bucket: BUCKET }, extra || {})));
}

const checks = new Checks(SUITE);
const check = (label, fn) => checks.check(label, fn);

async function bucketSetup() {
  const svc = new OSS(clientOptions());
  await check('putBucket creates the bucket', async () => {
    const r = await svc.putBucket(BUCKET);
    assertEq(r.res.status, 200, 'PutBucket status');
    return r.res.status;
  });
  await check('putBucket again by its owner -> 200', async () => {
    const r = await svc.putBucket(BUCKET);
    assertEq(r.res.status, 200, 'PutBucket status');
    return r.res.status;
  });
  await check('listBuckets (service call, empty first Host label) lists it', async () => {
    const r = await svc.listBuckets();
    const names = r.buckets.map(b => b.name);
    assert(names.includes(BUCKET), `bucket ${BUCKET} missing from ${JSON.stringify(names)}`);
    return names;
  });
}

async function managedUpload(dir) {
  const c = newClient();
  const size = 5 * MiB + 12345; // 6 parts of 1 MiB (the last one short)
  const partSize = 1 * MiB;
  const numParts = Math.ceil(size / partSize);
  const data = pattern(size, 7);
  const file = path.join(dir, 'big.bin');
  fs.writeFileSync(file, data);
  const key = 'managed/big file.bin';
  const fractions = [];
  const headers = {
    'Cache-Control': 'no-cache',
    'Content-Disposition': 'attachment; filename="big.bin"',
  };
  const result = await check(`multipartUpload ${size} bytes in ${numParts} parts with progress`, async () => {
    const r = await c.multipartUpload(key, file, {
      partSize,
      parallel: 3,
      meta: { year: 2020, people: 'test' },
      mime: 'application/x-osspart-test',
      headers,
      progress: async p => { fractions.push(p); },
    });
    assertEq(r.res.status, 200, 'CompleteMultipartUpload status');
    assert(typeof r.etag === 'string' && r.etag.length > 2, `ETag header missing on Complete: ${r.etag}`);
    return r.etag;
  });
  await check('progress fractions rise from 0 to 1', async () => {
    assert(fractions.length >= numParts + 2, `expected >= ${numParts + 2} progress calls, got ${fractions.length}`);
    for (let i = 1; i < fractions.length; i++) {
      assert(fractions[i] >= fractions[i - 1], `progress went down: ${JSON.stringify(fractions)}`);
    }
    assertEq(fractions[0], 0, 'first fraction');
    assertEq(fractions[fractions.length - 1], 1, 'last fraction');
    return fractions.map(f => Number(f.toFixed(2)));
  });
  await check('head shows meta, mime, Cache-Control, Content-Disposition, size, type', async () => {
    const r = await c.head(key);
    const h = r.res.headers;
    assertEq(r.status, 200, 'HEAD status');
    assertEq(r.meta && r.meta.year, '2020', 'meta.year');
    assertEq(r.meta && r.meta.people, 'test', 'meta.people');
    assertEq(h['content-type'], 'application/x-osspart-test', 'Content-Type');
    assertEq(h['cache-control'], 'no-cache', 'Cache-Control');
    assertEq(h['content-disposition'], 'attachment; filename="big.bin"', 'Content-Disposition');
    assertEq(h['content-length'], String(size), 'Content-Length');
    assertEq(h['x-oss-object-type'], 'Multipart', 'x-oss-object-type');
    assertEq(h.etag, result, 'ETag on HEAD vs Complete');
    assert(h['x-oss-request-id'], 'x-oss-request-id header missing');
    return r.meta;
  });
  await check('get returns identical bytes', async () => {
    const r = await c.get(key);
    assertEq(r.content.length, size, 'body length');
    assertEq(md5Hex(r.content), md5Hex(data), 'body MD5');
    return md5Hex(r.content);
  });
  await check('ranged get of a multipart object crosses a part boundary', async () => {
    const start = partSize - 10;
    const end = partSize + 9;
    const r = await c.get(key, { headers: { Range: `bytes=${start}-${end}` } });
    assertEq(r.res.status, 206, 'status');
    assertEq(r.res.headers['content-range'], `bytes ${start}-${end}/${size}`, 'Content-Range');
    assert(r.content.equals(data.subarray(start, end + 1)), 'range bytes differ');
    return r.res.headers['content-range'];
  });
  return key;
}

async function cancelAndResume(dir) {
  const size = 3 * MiB + 777;
  const partSize = 256 * KiB; // 13 parts
  const numParts = Math.ceil(size / partSize);
  const data = pattern(size, 11);
  const file = path.join(dir, 'resume.bin');
  fs.writeFileSync(file, data);
  const key = 'resume/checkpointed.bin';
  const first = newClient();
  let saved = null;
  await check('multipartUpload cancelled from the progress callback', async () => {
    let outcome;
    try {
      const r = await first.multipartUpload(key, file, {
        partSize,
        parallel: 2,
        progress: async (p, cpt) => {
          if (cpt && cpt.doneParts.length >= 4 && !saved) {
            // What an application would persist: a JSON copy of the checkpoint.
            saved = JSON.parse(JSON.stringify(cpt));
            first.cancel();
          }
        },
      });
      outcome = `completed with status ${r.res.status}`;
    } catch (e) {
      if (e.name !== 'cancel') throw e;
      outcome = 'cancel';
    }
    assertEq(outcome, 'cancel', 'outcome of the cancelled upload');
    assert(saved && saved.uploadId, 'no checkpoint was saved');
    return { uploadId: saved.uploadId, doneParts: saved.doneParts.length, numParts };
  });
  await check('listParts of the cancelled upload holds the checkpointed parts', async () => {
    const r = await first.listParts(key, saved.uploadId, { 'max-parts': 1000 });
    const listed = new Map(asArray(r.parts).map(p => [Number(p.PartNumber), p.ETag]));
    for (const p of saved.doneParts) {
      assert(listed.has(p.number), `part ${p.number} from the checkpoint is not listed`);
      assertEq(listed.get(p.number), p.etag, `ETag of part ${p.number}`);
    }
    return [...listed.keys()].sort((a, b) => a - b);
  });
  await check('listUploads shows the interrupted upload', async () => {
    const r = await first.listUploads({ prefix: 'resume/' });
    const ids = r.uploads.map(u => u.uploadId);
    assert(ids.includes(saved.uploadId), `upload ${saved.uploadId} not in ${JSON.stringify(ids)}`);
    return ids.length;
  });
  const resumedParts = [];
  await check('multipartUpload resumes from the saved checkpoint (new client)', async () => {
    const second = newClient();
    const before = saved.doneParts.length;
    const r = await second.multipartUpload(key, file, {
      checkpoint: saved,
      partSize,
      parallel: 2,
      progress: async (p, cpt) => {
        if (cpt) resumedParts.push(cpt.doneParts.length);
      },
    });
    assertEq(r.res.status, 200, 'Complete status');
    // The resumed run only uploads what the checkpoint did not have.
    assertEq(resumedParts.length, numParts - before, 'parts uploaded by the resumed run');
    return { reuploaded: resumedParts.length, kept: before };
  });
  await check('resumed object is byte-identical', async () => {
    const r = await newClient().get(key);
    assertEq(r.content.length, size, 'length');
    assertEq(md5Hex(r.content), md5Hex(data), 'MD5');
    const h = await newClient().head(key);
    assertEq(h.res.headers['x-oss-object-type'], 'Multipart', 'object type');
    return md5Hex(r.content);
  });
  await check('completed upload is gone from listUploads', async () => {
    const r = await newClient().listUploads({ prefix: 'resume/' });
    assertEq(r.uploads.length, 0, 'uploads left under resume/');
    return r.uploads.length;
  });
  return key;
}

async function abortFlow() {
  const c = newClient();
  const key = 'abort/me.bin';
  const init = await check('initMultipartUpload for abort', async () => (await c.initMultipartUpload(key)).uploadId);
  await check('uploadPart from a Buffer', async () => {
    const buf = pattern(1000, 3);
    const r = await c.uploadPart(key, init, 1, buf, 0, buf.length);
    assertEq(r.etag, `"${md5Hex(buf)}"`, 'part ETag');
    return r.etag;
  });
  await check('abortMultipartUpload -> 204', async () => {
    const r = await c.abortMultipartUpload(key, init);
    assertEq(r.res.status, 204, 'status');
    return r.res.status;
  });
  await check('listParts after abort -> NoSuchUpload', () =>
    expectError(() => c.listParts(key, init), 'NoSuchUpload', 404));
  await check('abort again -> NoSuchUpload', () =>
    expectError(() => c.abortMultipartUpload(key, init), 'NoSuchUpload', 404));
  await check('uploadPart to the aborted upload -> NoSuchUpload', () =>
    expectError(() => c.uploadPart(key, init, 2, Buffer.from('x'), 0, 1), 'NoSuchUpload', 404));
  await check('completeMultipartUpload of a bogus id -> NoSuchUpload', () =>
    expectError(() => c.completeMultipartUpload(key, 'NOSUCHUPLOADID0000000000000000', [{ number: 1, etag: '"00"' }]),
      'NoSuchUpload', 404));
}

async function listUploadsPaging() {
  const c = newClient();
  const keys = ['uploads/a.bin', 'uploads/b.bin', 'uploads/b.bin', 'uploads/c d.bin', 'uploads/e/f.bin'];
  const created = [];
  await check(`initMultipartUpload x${keys.length} (one key twice)`, async () => {
    for (const k of keys) {
      const r = await c.initMultipartUpload(k);
      created.push(`${k}|${r.uploadId}`);
    }
    assertEq(new Set(created).size, keys.length, 'distinct upload ids');
    return created.length;
  });
  await check('listUploads with max-uploads 2 pages through all uploads exactly once', async () => {
    const seen = [];
    let keyMarker = '';
    let idMarker = '';
    let pages = 0;
    for (;;) {
      const q = { prefix: 'uploads/', 'max-uploads': 2 };
      if (keyMarker) q['key-marker'] = keyMarker;
      if (idMarker) q['upload-id-marker'] = idMarker;
      const r = await c.listUploads(q);
      pages += 1;
      assert(pages <= 10, 'too many pages');
      assert(r.uploads.length <= 2, `page ${pages} has ${r.uploads.length} uploads`);
      for (const u of r.uploads) seen.push(`${u.name}|${u.uploadId}`);
      if (!r.isTruncated) break;
      assert(r.nextKeyMarker, `page ${pages} is truncated but has no NextKeyMarker`);
      keyMarker = r.nextKeyMarker;
      idMarker = r.nextUploadIdMarker;
    }
    assertEq(pages, 3, 'pages');
    assertEq(seen.length, keys.length, 'uploads seen');
    assertEq(new Set(seen).size, keys.length, 'distinct uploads seen');
    for (const x of created) assert(seen.includes(x), `upload ${x} never listed`);
    const sortedKeys = seen.map(x => x.split('|')[0]);
    assertEq(JSON.stringify(sortedKeys), JSON.stringify([...sortedKeys].sort()), 'key order');
    return { pages, seen: sortedKeys };
  });
  await check('listUploads with delimiter rolls up uploads/e/', async () => {
    const r = await c.listUploads({ prefix: 'uploads/', delimiter: '/' });
    const names = r.uploads.map(u => u.name);
    assert(!names.includes('uploads/e/f.bin'), `uploads/e/f.bin should be rolled up: ${JSON.stringify(names)}`);
    assertEq(names.length, 4, 'uploads directly under uploads/');
    return names;
  });
  await check('abort all listed uploads', async () => {
    for (const x of created) {
      const [k, id] = x.split('|');
      assertEq((await c.abortMultipartUpload(k, id)).res.status, 204, `abort ${k}`);
    }
    const r = await c.listUploads({ prefix: 'uploads/' });
    assertEq(r.uploads.length, 0, 'uploads left');
    return created.length;
  });
}

async function listPartsPaging() {
  const c = newClient();
  const key = 'parts/many.bin';
  const total = 1005;
  const uploadId = await check('initMultipartUpload for 1005 parts', async () =>
    (await c.initMultipartUpload(key)).uploadId);
  const etags = new Map();
  await check(`uploadPart x${total} tiny Buffers (8 in flight)`, async () => {
    const numbers = Array.from({ length: total }, (_, i) => i + 1);
    await mapLimit(numbers, 8, async n => {
      const buf = Buffer.from(`part-${n}-`.repeat(3));
      const r = await c.uploadPart(key, uploadId, n, buf, 0, buf.length);
      assertEq(r.etag, `"${md5Hex(buf)}"`, `ETag of part ${n}`);
      etags.set(n, r.etag);
    });
    return etags.size;
  });
  await check('listParts max-parts 1000 + part-number-marker sees 1005 distinct parts', async () => {
    const first = await c.listParts(key, uploadId, { 'max-parts': 1000 });
    const p1 = asArray(first.parts);
    assertEq(p1.length, 1000, 'first page size');
    assertEq(String(first.isTruncated), 'true', 'first page IsTruncated');
    assertEq(String(first.nextPartNumberMarker), '1000', 'first page NextPartNumberMarker');
    const second = await c.listParts(key, uploadId, { 'max-parts': 1000, 'part-number-marker': first.nextPartNumberMarker });
    const p2 = asArray(second.parts);
    assertEq(p2.length, 5, 'second page size');
    assertEq(String(second.isTruncated), 'false', 'second page IsTruncated');
    const nums = p1.concat(p2).map(p => Number(p.PartNumber));
    assertEq(new Set(nums).size, total, 'distinct part numbers');
    for (let i = 0; i < nums.length; i++) assertEq(nums[i], i + 1, `part at position ${i}`);
    for (const p of p1.concat(p2)) {
      assertEq(p.ETag, etags.get(Number(p.PartNumber)), `ETag of listed part ${p.PartNumber}`);
      assert(Number(p.Size) > 0, `Size of part ${p.PartNumber}`);
    }
    return { pages: 2, parts: nums.length };
  });
  await check('listParts without max-parts defaults to 1000', async () => {
    const r = await c.listParts(key, uploadId);
    assertEq(asArray(r.parts).length, 1000, 'default page size');
    return asArray(r.parts).length;
  });
  await check('listParts max-parts 300 pages 1..1005 in 4 pages', async () => {
    let marker = 0;
    let pages = 0;
    const nums = [];
    for (;;) {
      const r = await c.listParts(key, uploadId, { 'max-parts': 300, 'part-number-marker': marker });
      pages += 1;
      assert(pages <= 10, 'too many pages');
      nums.push(...asArray(r.parts).map(p => Number(p.PartNumber)));
      if (String(r.isTruncated) !== 'true') break;
      marker = Number(r.nextPartNumberMarker);
    }
    assertEq(pages, 4, 'pages');
    assertEq(nums.length, total, 'parts');
    assertEq(new Set(nums).size, total, 'distinct parts');
    return pages;
  });
  await check('completing with tiny non-last parts -> EntityTooSmall', () =>
    expectError(() => c.completeMultipartUpload(key, uploadId,
      [1, 2, 3].map(n => ({ number: n, etag: etags.get(n) }))), 'EntityTooSmall', 400));
  await check('complete with a wrong ETag -> InvalidPart', () =>
    expectError(() => c.completeMultipartUpload(key, uploadId,
      [{ number: 1, etag: '"0123456789ABCDEF0123456789ABCDEF"' }]), 'InvalidPart', 400));
  await check('completing with only the last part succeeds (unlisted parts discarded)', async () => {
    const r = await c.completeMultipartUpload(key, uploadId, [{ number: total, etag: etags.get(total) }]);
    assertEq(r.res.status, 200, 'status');
    const g = await c.get(key);
    assertEq(g.content.toString(), `part-${total}-`.repeat(3), 'object body');
    return r.etag;
  });
  return key;
}

async function initWithHeaders() {
  const c = newClient();
  const key = 'init/with-headers.dat';
  const p1 = pattern(100 * KiB, 21);
  const p2 = pattern(3333, 22);
  const uploadId = await check('initMultipartUpload with mime, meta, Cache-Control, Content-Disposition', async () => {
    const r = await c.initMultipartUpload(key, {
      mime: 'text/x-osspart',
      meta: { color: 'blue', MixedCase: 'Value' },
      headers: { 'Cache-Control': 'max-age=60', 'Content-Disposition': 'inline' },
    });
    assertEq(r.name, key, 'Key echoed in InitiateMultipartUploadResult');
    assertEq(r.bucket, BUCKET, 'Bucket echoed');
    return r.uploadId;
  });
  const parts = [];
  await check('uploadPart 2 then 1 (out of order)', async () => {
    const r2 = await c.uploadPart(key, uploadId, 2, p2, 0, p2.length);
    const r1 = await c.uploadPart(key, uploadId, 1, p1, 0, p1.length);
    parts.push({ number: 2, etag: r2.etag }, { number: 1, etag: r1.etag });
    return [r1.etag, r2.etag];
  });
  await check('listParts shows both parts with sizes', async () => {
    const r = await c.listParts(key, uploadId);
    const ps = asArray(r.parts);
    assertEq(JSON.stringify(ps.map(p => [Number(p.PartNumber), Number(p.Size)])),
      JSON.stringify([[1, p1.length], [2, p2.length]]), 'parts');
    return ps.length;
  });
  await check('completeMultipartUpload (ali-oss sorts the list)', async () => {
    const r = await c.completeMultipartUpload(key, uploadId, parts);
    assertEq(r.res.status, 200, 'status');
    assert(/-2"$/.test(r.etag), `multipart ETag should end in -2": ${r.etag}`);
    return r.etag;
  });
  await check('head keeps the headers given at initiate', async () => {
    const r = await c.head(key);
    const h = r.res.headers;
    assertEq(h['content-type'], 'text/x-osspart', 'Content-Type');
    assertEq(h['cache-control'], 'max-age=60', 'Cache-Control');
    assertEq(h['content-disposition'], 'inline', 'Content-Disposition');
    assertEq(r.meta.color, 'blue', 'meta.color');
    assertEq(r.meta.mixedcase, 'Value', 'meta.mixedcase (names are lower-cased)');
    assertEq(h['content-length'], String(p1.length + p2.length), 'Content-Length');
    return r.meta;
  });
  await check('get returns part 1 followed by part 2', async () => {
    const r = await c.get(key);
    assert(r.content.equals(Buffer.concat([p1, p2])), 'body differs');
    return r.content.length;
  });
  return key;
}

async function objectBasics() {
  const c = newClient();
  const key = 'dir/a b+c/\u00fc\u20ac-\u6587\u4ef6.txt';
  const body = pattern(5000, 1);
  await check('put a Buffer (Content-MD5 added by ali-oss) with a non-ASCII key', async () => {
    const r = await c.put(key, body, { meta: { origin: 'compat' } });
    assertEq(r.res.status, 200, 'status');
    assertEq(r.res.headers.etag, `"${md5Hex(body)}"`, 'ETag');
    return r.res.headers.etag;
  });
  await check('get returns the same bytes', async () => {
    const r = await c.get(key);
    assert(r.content.equals(body), 'body differs');
    assertEq(r.res.headers['x-oss-object-type'], 'Normal', 'object type');
    return r.content.length;
  });
  await check('put with x-oss-forbid-overwrite on an existing key -> FileAlreadyExists', () =>
    expectError(() => c.put(key, Buffer.from('new'), { headers: { 'x-oss-forbid-overwrite': 'true' } }),
      'FileAlreadyExists', 409));
  await check('list with prefix dir/ finds the key', async () => {
    const r = await c.list({ prefix: 'dir/', 'max-keys': 10 });
    const names = (r.objects || []).map(o => o.name);
    assertEq(JSON.stringify(names), JSON.stringify([key]), 'listed keys');
    return names;
  });
  await check('list with delimiter / returns common prefixes', async () => {
    const r = await c.list({ delimiter: '/' });
    const prefixes = r.prefixes || [];
    for (const p of ['dir/', 'init/', 'managed/', 'parts/', 'resume/']) {
      assert(prefixes.includes(p), `prefix ${p} missing from ${JSON.stringify(prefixes)}`);
    }
    return prefixes;
  });
  await check('listV2 pages with max-keys 2 and continuation tokens', async () => {
    const names = [];
    let token = null;
    let pages = 0;
    for (;;) {
      const q = { 'max-keys': 2 };
      if (token) q['continuation-token'] = token;
      const r = await c.listV2(q);
      pages += 1;
      assert(pages <= 20, 'too many pages');
      names.push(...(r.objects || []).map(o => o.name));
      if (!r.isTruncated) break;
      token = r.nextContinuationToken;
      assert(token, 'truncated page without NextContinuationToken');
    }
    assertEq(new Set(names).size, names.length, 'duplicate keys across pages');
    assert(names.includes(key), 'key missing');
    return { pages, keys: names.length };
  });
  await check('delete -> 204', async () => {
    const r = await c.delete(key);
    assertEq(r.res.status, 204, 'status');
    return r.res.status;
  });
  await check('get after delete -> NoSuchKey', () => expectError(() => c.get(key), 'NoSuchKey', 404));
  await check('head after delete -> NoSuchKey', () => expectError(() => c.head(key), 'NoSuchKey', 404));
  await check('delete a missing key -> 204', async () => {
    const r = await c.delete('never/existed.bin');
    assertEq(r.res.status, 204, 'status');
    return r.res.status;
  });
}

async function streamsAndCopies() {
  const c = newClient();
  const { Readable } = require('stream');
  const chunks = [pattern(70 * KiB, 31), pattern(50 * KiB, 32), pattern(999, 33)];
  const whole = Buffer.concat(chunks);
  await check('putStream without a length (Transfer-Encoding: chunked)', async () => {
    const r = await c.putStream('stream/chunked.bin', Readable.from(chunks));
    assertEq(r.res.status, 200, 'status');
    const g = await c.get('stream/chunked.bin');
    assertEq(g.content.length, whole.length, 'stored length');
    assert(g.content.equals(whole), 'stored bytes differ');
    return g.content.length;
  });
  await check('get with If-None-Match of the current ETag -> 304', async () => {
    const h = await c.head('stream/chunked.bin');
    const r = await c.get('stream/chunked.bin', { headers: { 'If-None-Match': h.res.headers.etag } });
    assertEq(r.res.status, 304, 'status');
    return r.res.status;
  });
  await check('get with a stale If-Match -> PreconditionFailed', () =>
    expectError(() => c.get('stream/chunked.bin', { headers: { 'If-Match': '"0123456789ABCDEF0123456789ABCDEF"' } }),
      'PreconditionFailed', 412));
  const key = 'copy/assembled.bin';
  const uploadId = (await c.initMultipartUpload(key)).uploadId;
  const parts = [];
  await check('uploadPartCopy a 100 KiB range of another object as part 1', async () => {
    const r = await c.uploadPartCopy(key, uploadId, 1, `0-${100 * KiB - 1}`,
      { sourceKey: 'stream/chunked.bin', sourceBucketName: BUCKET });
    assertEq(r.etag, `"${md5Hex(whole.subarray(0, 100 * KiB))}"`, 'ETag of the copied part');
    parts.push({ number: 1, etag: r.etag });
    return r.etag;
  });
  await check('uploadPart 2 from a Buffer, complete, get the concatenation', async () => {
    const tail = Buffer.from('-- appended part --');
    const r = await c.uploadPart(key, uploadId, 2, tail, 0, tail.length);
    parts.push({ number: 2, etag: r.etag });
    const done = await c.completeMultipartUpload(key, uploadId, parts);
    assertEq(done.res.status, 200, 'Complete status');
    const g = await c.get(key);
    assert(g.content.equals(Buffer.concat([whole.subarray(0, 100 * KiB), tail])), 'assembled bytes differ');
    return g.content.length;
  });
  return ['stream/chunked.bin', key];
}

async function presigned() {
  // Path-style client on localhost: ali-oss signs URLs only for non-IP endpoints.
  const local = newClient({ endpoint: `http://localhost:${S.port}`, sldEnable: true });
  const c = newClient();
  const key = 'presign/hello world.txt';
  const body = Buffer.from('presigned hello\n');
  await c.put(key, body);
  await check('signatureUrl GET fetches the object', async () => {
    const url = local.signatureUrl(key, { expires: 600 });
    assert(url.startsWith(`http://localhost:${S.port}/${BUCKET}/`), `unexpected URL ${url}`);
    const r = await fetchUrl(S, url);
    assertEq(r.status, 200, `GET ${url} status (body ${r.body.toString().slice(0, 300)})`);
    assert(r.body.equals(body), 'body differs');
    return url.split('?')[1].slice(0, 60) + '...';
  });
  await check('signatureUrl with response-content-type override', async () => {
    const url = local.signatureUrl(key, { expires: 600, response: { 'content-type': 'application/json' } });
    const r = await fetchUrl(S, url);
    assertEq(r.status, 200, `status (body ${r.body.toString().slice(0, 300)})`);
    assertEq(r.headers['content-type'], 'application/json', 'Content-Type');
    return r.headers['content-type'];
  });
  await check('signatureUrl PUT uploads with the signed Content-Type', async () => {
    const url = local.signatureUrl('presign/put.txt', { method: 'PUT', 'Content-Type': 'text/plain', expires: 600 });
    const payload = Buffer.from('uploaded through a presigned URL');
    const r = await fetchUrl(S, url, 'PUT', { 'Content-Type': 'text/plain', 'Content-Length': payload.length }, payload);
    assertEq(r.status, 200, `status (body ${r.body.toString().slice(0, 300)})`);
    const g = await c.get('presign/put.txt');
    assert(g.content.equals(payload), 'stored body differs');
    return r.status;
  });
  await check('expired signatureUrl -> 403 AccessDenied', async () => {
    const url = local.signatureUrl(key, { expires: -60 });
    const r = await fetchUrl(S, url);
    assertEq(r.status, 403, 'status');
    assert(/<Code>AccessDenied<\/Code>/.test(r.body.toString()), `body: ${r.body.toString().slice(0, 300)}`);
    return r.status;
  });
  await check('tampered signatureUrl -> 403 SignatureDoesNotMatch', async () => {
    const url = new URL(local.signatureUrl(key, { expires: 600 }));
    const sig = url.searchParams.get('Signature');
    url.searchParams.set('Signature', (sig[0] === 'A' ? 'B' : 'A') + sig.slice(1));
    const r = await fetchUrl(S, url.toString());
    assertEq(r.status, 403, 'status');
    assert(/<Code>SignatureDoesNotMatch<\/Code>/.test(r.body.toString()), `body: ${r.body.toString().slice(0, 300)}`);
    return r.status;
  });
  if (MODE === 'v4') {
    await check('signatureUrlV4 GET fetches the object', async () => {
      const url = await local.signatureUrlV4('GET', 600, {}, key);
      const r = await fetchUrl(S, url);
      assertEq(r.status, 200, `status (body ${r.body.toString().slice(0, 300)})`);
      assert(r.body.equals(body), 'body differs');
      return url.split('?')[1].slice(0, 60) + '...';
    });
  }
  await check('path-style client (localhost + sldEnable) head works', async () => {
    const r = await local.head(key);
    assertEq(r.res.headers['content-length'], String(body.length), 'Content-Length');
    return r.status;
  });
  for (const k of [key, 'presign/put.txt']) await c.delete(k);
}

// Storage class, encryption, tagging, bucket and object ACLs, appends, a sequential upload and
// anonymous reads through public-read.
async function attributesAndAppends() {
  const c = newClient();
  const key = 'attrs/ia.bin';
  const anonGet = async k => httpRequest(S, 'GET', `/${BUCKET}/${encodeURIComponent(k)}`);
  await check('put with storage class, SSE and tags; head shows them', async () => {
    const r = await c.put(key, Buffer.from('attributes'), {
      headers: {
        'x-oss-storage-class': 'IA',
        'x-oss-server-side-encryption': 'AES256',
        'x-oss-tagging': 'team=storage&tier=2',
      },
    });
    assertEq(r.res.headers['x-oss-server-side-encryption'], 'AES256', 'SSE echoed on PUT');
    const h = (await c.head(key)).res.headers;
    assertEq(h['x-oss-storage-class'], 'IA', 'storage class');
    assertEq(h['x-oss-server-side-encryption'], 'AES256', 'SSE on HEAD');
    assertEq(h['x-oss-tagging-count'], '2', 'tag count');
    return h['x-oss-storage-class'];
  });
  await check('a bogus storage class -> InvalidArgument', () =>
    expectError(() => c.put('attrs/bogus', Buffer.from('x'), { headers: { 'x-oss-storage-class': 'Bogus' } }),
      'InvalidArgument', 400));
  await check('putObjectTagging / getObjectTagging / deleteObjectTagging', async () => {
    assertEq(JSON.stringify((await c.getObjectTagging(key)).tag), JSON.stringify({ team: 'storage', tier: '2' }),
      'tags from the PUT');
    await c.putObjectTagging(key, { owner: 'compat' });
    assertEq(JSON.stringify((await c.getObjectTagging(key)).tag), JSON.stringify({ owner: 'compat' }), 'new tags');
    assertEq((await c.head(key)).res.headers['x-oss-tagging-count'], '1', 'tag count');
    await c.deleteObjectTagging(key);
    assertEq(JSON.stringify((await c.getObjectTagging(key)).tag), '{}', 'tags after delete');
    return 'ok';
  });
  await check('bucket and object ACLs, anonymous reads', async () => {
    assertEq((await c.getBucketACL(BUCKET)).acl, 'private', 'new bucket');
    assertEq((await c.getACL(key)).acl, 'default', 'object written without an ACL');
    await c.putACL(key, 'public-read');
    assertEq((await c.getACL(key)).acl, 'public-read', 'object ACL');
    const pub = await anonGet(key);
    assertEq(pub.status, 200, 'anonymous GET of a public-read object');
    assertEq(pub.body.toString(), 'attributes', 'its body');
    await c.put('attrs/private.bin', Buffer.from('secret'));
    const priv = await anonGet('attrs/private.bin');
    assertEq(priv.status, 403, 'anonymous GET of a private object');
    assert(priv.body.toString().includes('AccessDenied'), `AccessDenied in ${priv.body}`);
    await c.putBucketACL(BUCKET, 'public-read');
    assertEq((await c.getBucketACL(BUCKET)).acl, 'public-read', 'bucket ACL');
    assertEq((await anonGet('attrs/private.bin')).status, 200, 'through the bucket ACL');
    await c.putBucketACL(BUCKET, 'private');
    return 'ok';
  });
  await check('append: next positions, one CRC-64, PositionNotEqualToLength, ObjectNotAppendable', async () => {
    const first = pattern(3000, 1);
    const second = pattern(5000, 2);
    const r1 = await c.append('attrs/log.txt', first);
    assertEq(String(r1.nextAppendPosition), '3000', 'next position');
    const r2 = await c.append('attrs/log.txt', second, { position: r1.nextAppendPosition });
    assertEq(String(r2.nextAppendPosition), '8000', 'next position');
    const h = (await c.head('attrs/log.txt')).res.headers;
    assertEq(h['x-oss-object-type'], 'Appendable', 'object type');
    assertEq(h['x-oss-hash-crc64ecma'], r2.res.headers['x-oss-hash-crc64ecma'], 'CRC-64 of the whole');
    const body = (await c.get('attrs/log.txt')).content;
    assert(Buffer.compare(body, Buffer.concat([first, second])) === 0, 'appended bytes read back');
    await expectError(() => c.append('attrs/log.txt', Buffer.from('x'), { position: 1 }),
      'PositionNotEqualToLength', 409);
    return expectError(() => c.append(key, Buffer.from('x'), { position: 10 }), 'ObjectNotAppendable', 409);
  });
  await check('sequential multipart upload: ordered parts, whole-object Content-MD5', async () => {
    const k = 'attrs/sequential.bin';
    // ali-oss has no option for it: its own signed request with the extra sub-resource.
    const params = c._objectRequestParams('POST', k, { subres: { uploads: '', sequential: '' } });
    params.xmlResponse = true;
    params.successStatuses = [200];
    const uploadId = (await c.request(params)).data.UploadId;
    const p1 = pattern(120 * KiB, 3);
    const p2 = pattern(7000, 4);
    await expectError(() => c.uploadPart(k, uploadId, 2, p2, 0, p2.length), 'InvalidArgument', 400);
    const e1 = (await c.uploadPart(k, uploadId, 1, p1, 0, p1.length)).etag;
    const e2 = (await c.uploadPart(k, uploadId, 2, p2, 0, p2.length)).etag;
    await c.completeMultipartUpload(k, uploadId, [{ number: 1, etag: e1 }, { number: 2, etag: e2 }]);
    const want = require('crypto').createHash('md5').update(Buffer.concat([p1, p2])).digest('base64');
    assertEq((await c.head(k)).res.headers['content-md5'], want, 'whole-object Content-MD5');
    return want;
  });
  return [key, 'attrs/private.bin', 'attrs/log.txt', 'attrs/sequential.bin'];
}

async function cors() {
  const c = newClient();
  await check('putBucketCORS', async () => {
    const r = await c.putBucketCORS(BUCKET, [{
      allowedOrigin: '*',
      allowedMethod: ['GET', 'PUT', 'POST', 'DELETE', 'HEAD'],
      allowedHeader: '*',
      exposeHeader: ['ETag', 'x-oss-request-id'],
      maxAgeSeconds: '600',
    }]);
    assertEq(r.res.status, 200, 'status');
    return r.res.status;
  });
  await check('OPTIONS preflight is answered without authentication', async () => {
    const r = await httpRequest(S, 'OPTIONS', `/${BUCKET}/some/key.bin`, {
      Host: `localhost:${S.port}`,
      Origin: 'http://app.example',
      'Access-Control-Request-Method': 'PUT',
      'Access-Control-Request-Headers': 'authorization,x-oss-date,content-type',
    });
    assertEq(r.status, 200, `status (body ${r.body.toString().slice(0, 300)})`);
    assert(r.headers['access-control-allow-origin'], 'Access-Control-Allow-Origin missing');
    assert(/etag/i.test(r.headers['access-control-expose-headers'] || ''), 'ETag not exposed');
    return [r.headers['access-control-allow-origin'], r.headers['access-control-allow-methods']];
  });
}

async function cleanup(keys) {
  const c = newClient();
  const svc = new OSS(clientOptions());
  await check('deleteBucket with objects -> BucketNotEmpty', () =>
    expectError(() => svc.deleteBucket(BUCKET), 'BucketNotEmpty', 409));
  await check('delete every object, then deleteBucket -> 204', async () => {
    for (const k of keys) await c.delete(k);
    const left = await c.list({ 'max-keys': 100 });
    assertEq((left.objects || []).length, 0, 'objects left');
    const r = await svc.deleteBucket(BUCKET);
    assertEq(r.res.status, 204, 'status');
    return r.res.status;
  });
}

(async () => {
  installCrashHandlers(SUITE);
  const dir = tempDir('osspart-ali-');
  try {
    await bucketSetup();
    const keys = [];
    keys.push(await managedUpload(dir));
    keys.push(await cancelAndResume(dir));
    await abortFlow();
    await listUploadsPaging();
    keys.push(await listPartsPaging());
    keys.push(await initWithHeaders());
    await objectBasics();
    keys.push(...(await streamsAndCopies()));
    await presigned();
    keys.push(...(await attributesAndAppends()));
    await cors();
    await cleanup(keys);
    checks.done();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
})();
