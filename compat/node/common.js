'use strict';
// Shared helpers for the ali-oss compatibility scripts.
//
// Every script is started by crates/cli/tests/compat.rs against a freshly started
// `osspart serve` and gets its configuration from the environment:
//   OSSPART_ENDPOINT       http://127.0.0.1:PORT
//   OSSPART_REGION         region id without the "oss-" prefix (cn-hangzhou)
//   OSS_ACCESS_KEY_ID      access key id (an "STS." id for STS runs)
//   OSS_ACCESS_KEY_SECRET  its secret
//   OSS_SESSION_TOKEN      optional: STS security token
//
// A script stops at the first failed check with a non-zero exit status.

const crypto = require('crypto');
const fs = require('fs');
const http = require('http');
const os = require('os');
const path = require('path');

function requireEnv(name) {
  const v = process.env[name];
  if (!v) {
    console.error(`missing environment variable ${name} (these scripts are run by cargo test)`);
    process.exit(2);
  }
  return v;
}

function settings() {
  const endpoint = requireEnv('OSSPART_ENDPOINT').replace(/\/+$/, '');
  const url = new URL(endpoint);
  return {
    endpoint,
    host: url.hostname,
    port: Number(url.port || 80),
    region: process.env.OSSPART_REGION || 'cn-hangzhou',
    accessKeyId: requireEnv('OSS_ACCESS_KEY_ID'),
    accessKeySecret: requireEnv('OSS_ACCESS_KEY_SECRET'),
    securityToken: process.env.OSS_SESSION_TOKEN || '',
  };
}

function show(v) {
  if (v === undefined) return '';
  let s;
  try {
    s = typeof v === 'string' ? v : JSON.stringify(v);
  } catch (_) {
    s = String(v);
  }
  if (s && s.length > 160) s = s.slice(0, 157) + '...';
  return ` -> ${s}`;
}

function describeError(e) {
  if (!e) return String(e);
  const lines = [];
  const head = [e.name, e.code && `code=${e.code}`, e.status !== undefined && `status=${e.status}`,
    e.requestId && `requestId=${e.requestId}`].filter(Boolean).join(' ');
  lines.push(`${head}: ${e.message}`);
  if (e.params && e.params.method) lines.push(`request: ${e.params.method} ${e.params.object || ''}`);
  if (e.stack) lines.push(e.stack.split('\n').slice(1, 8).join('\n'));
  return lines.join('\n');
}

class Checks {
  constructor(suite) {
    this.suite = suite;
    this.passed = 0;
  }

  // Runs one check; on failure prints what went wrong and exits with status 1.
  async check(label, fn) {
    let out;
    try {
      out = await fn();
    } catch (e) {
      console.log(`FAIL ${this.suite}: ${label}`);
      console.log(describeError(e));
      console.log(`${this.suite}: ${this.passed} checks passed before the failure`);
      process.exit(1);
    }
    this.passed += 1;
    console.log(`ok ${this.passed} ${this.suite}: ${label}${show(out)}`);
    return out;
  }

  done() {
    console.log(`${this.suite}: all ${this.passed} checks passed`);
  }
}

function assert(cond, message) {
  if (!cond) throw new Error(`assertion failed: ${message}`);
}

function assertEq(got, want, what) {
  if (got !== want) {
    throw new Error(`${what}: expected ${JSON.stringify(want)}, got ${JSON.stringify(got)}`);
  }
}

// Expects `fn` to reject with an OSS error whose code is `code`.
async function expectError(fn, code, status) {
  let result;
  try {
    result = await fn();
  } catch (e) {
    if (e.code !== code) {
      throw new Error(`expected error ${code}, got ${e.code || e.name} (status ${e.status}): ${e.message}`);
    }
    if (status !== undefined && e.status !== status) {
      throw new Error(`expected HTTP ${status} with ${code}, got HTTP ${e.status}`);
    }
    return `${code} (${e.status})`;
  }
  const res = result && result.res ? ` status ${result.res.status}` : '';
  throw new Error(`expected error ${code}, but the call succeeded${res}`);
}

// Deterministic test bytes: byte i = (31*i + seed) mod 251.
function pattern(n, seed = 0) {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed) % 251;
  return b;
}

function md5Hex(buf) {
  return crypto.createHash('md5').update(buf).digest('hex').toUpperCase();
}

function tempDir(prefix) {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

// Plain HTTP request to the server under test. The TCP connection always goes to the
// endpoint's IP (the server listens on 127.0.0.1 only); `hostHeader` picks the routing.
function httpRequest(s, method, pathAndQuery, headers = {}, body = null) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: s.host, port: s.port, method, path: pathAndQuery, headers, agent: false }, res => {
      const chunks = [];
      res.on('data', c => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    if (body) req.write(body);
    req.end();
  });
}

// Fetches a (presigned) URL whose host is localhost or 127.0.0.1, connecting to the server's IP.
function fetchUrl(s, url, method = 'GET', headers = {}, body = null) {
  const u = new URL(url);
  if (u.hostname !== 'localhost' && u.hostname !== '127.0.0.1') {
    return Promise.reject(new Error(`refusing to fetch a non-loopback URL: ${url}`));
  }
  return httpRequest(s, method, u.pathname + u.search, Object.assign({ Host: u.host }, headers), body);
}

// Runs async jobs with bounded concurrency; resolves to their results in input order.
async function mapLimit(items, limit, fn) {
  const results = new Array(items.length);
  let next = 0;
  async function worker() {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i], i);
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

function asArray(x) {
  if (x === undefined || x === null) return [];
  return Array.isArray(x) ? x : [x];
}

function installCrashHandlers(suite) {
  process.on('unhandledRejection', e => {
    console.log(`FAIL ${suite}: unhandled rejection`);
    console.log(describeError(e));
    process.exit(1);
  });
}

module.exports = {
  settings, Checks, assert, assertEq, expectError, pattern, md5Hex, tempDir, httpRequest,
  fetchUrl, mapLimit, asArray, installCrashHandlers, describeError,
};
