"""Shared helpers for the Python SDK compatibility scripts.

The scripts are started by crates/cli/tests/compat.rs against a freshly started
`osspart serve` and read their configuration from the environment:

    OSSPART_ENDPOINT       http://127.0.0.1:PORT
    OSSPART_REGION         region id (cn-hangzhou)
    OSS_ACCESS_KEY_ID      access key id ("STS." id for STS runs)
    OSS_ACCESS_KEY_SECRET  its secret
    OSS_SESSION_TOKEN      optional STS security token

A script stops at the first failed check and exits with status 1.
"""
import hashlib
import json
import os
import sys
import tempfile
import traceback
import urllib.error
import urllib.parse
import urllib.request


class Settings:
    def __init__(self):
        self.endpoint = _require("OSSPART_ENDPOINT").rstrip("/")
        parsed = urllib.parse.urlsplit(self.endpoint)
        self.host = parsed.hostname
        self.port = parsed.port or 80
        self.region = os.environ.get("OSSPART_REGION") or "cn-hangzhou"
        self.access_key_id = _require("OSS_ACCESS_KEY_ID")
        self.access_key_secret = _require("OSS_ACCESS_KEY_SECRET")
        self.security_token = os.environ.get("OSS_SESSION_TOKEN") or ""

    @property
    def sts(self):
        return bool(self.security_token)

    def oss2_auth(self, v4=False, secret=None, token=None):
        """An oss2 auth object for these credentials (StsAuth when a token is set); `secret` and
        `token` replace the configured ones to build deliberately wrong credentials."""
        import oss2
        secret = secret or self.access_key_secret
        token = token or self.security_token
        version = oss2.AUTH_VERSION_4 if v4 else oss2.AUTH_VERSION_1
        if token:
            return oss2.StsAuth(self.access_key_id, secret, token, auth_version=version)
        if v4:
            return oss2.AuthV4(self.access_key_id, secret)
        return oss2.Auth(self.access_key_id, secret)

    def v2_config(self, endpoint=None):
        """An alibabacloud-oss-v2 config with these credentials, region and endpoint."""
        import alibabacloud_oss_v2 as oss
        cfg = oss.config.load_default()
        if self.sts:
            cfg.credentials_provider = oss.credentials.StaticCredentialsProvider(
                self.access_key_id, self.access_key_secret, self.security_token)
        else:
            cfg.credentials_provider = oss.credentials.StaticCredentialsProvider(
                self.access_key_id, self.access_key_secret)
        cfg.region = self.region
        cfg.endpoint = endpoint or self.endpoint
        return cfg


def _require(name):
    value = os.environ.get(name)
    if not value:
        sys.stderr.write("missing environment variable %s (these scripts are run by cargo test)\n" % name)
        sys.exit(2)
    return value


def _show(value):
    if value is None:
        return ""
    try:
        text = value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False)
    except Exception:  # noqa: BLE001 - display only
        text = repr(value)
    if len(text) > 160:
        text = text[:157] + "..."
    return " -> " + text


def describe_error(e):
    """One readable paragraph about an SDK exception (oss2 or v2)."""
    parts = [type(e).__name__]
    inner = e
    if hasattr(e, "unwrap"):
        try:
            inner = e.unwrap()
        except Exception:  # noqa: BLE001
            inner = e
    for attr in ("status", "status_code", "code", "request_id", "message", "details"):
        v = getattr(inner, attr, None)
        if v not in (None, "", {}):
            parts.append("%s=%r" % (attr, v))
    parts.append(str(e)[:800])
    return " ".join(parts)


class Checks:
    def __init__(self, suite):
        self.suite = suite
        self.passed = 0

    def check(self, label, fn):
        """Runs one check; prints the failure and exits with status 1 if it raises."""
        try:
            out = fn()
        except SystemExit:
            raise
        except BaseException as e:  # noqa: BLE001 - report anything, then stop
            print("FAIL %s: %s" % (self.suite, label), flush=True)
            print(describe_error(e), flush=True)
            traceback.print_exc(limit=6, file=sys.stdout)
            print("%s: %d checks passed before the failure" % (self.suite, self.passed), flush=True)
            sys.stdout.flush()
            os._exit(1)  # also ends SDK worker threads
        self.passed += 1
        print("ok %d %s: %s%s" % (self.passed, self.suite, label, _show(out)), flush=True)
        return out

    def done(self):
        print("%s: all %d checks passed" % (self.suite, self.passed), flush=True)


def ensure(cond, message):
    if not cond:
        raise AssertionError(message)


def ensure_eq(got, want, what):
    if got != want:
        raise AssertionError("%s: expected %r, got %r" % (what, want, got))


def error_code(e):
    """The OSS error code carried by an oss2 or v2 SDK exception, if any."""
    if hasattr(e, "unwrap"):
        try:
            e = e.unwrap()
        except Exception:  # noqa: BLE001
            pass
    code = getattr(e, "code", None) or getattr(e, "error_code", None)
    return code


def error_status(e):
    if hasattr(e, "unwrap"):
        try:
            e = e.unwrap()
        except Exception:  # noqa: BLE001
            pass
    return getattr(e, "status", None) or getattr(e, "status_code", None)


def expect_error(fn, code, status=None, exc_type=None):
    """Calls fn and requires it to fail with OSS error `code` (and HTTP `status`)."""
    try:
        result = fn()
    except Exception as e:  # noqa: BLE001
        got = error_code(e)
        if got != code:
            raise AssertionError("expected error %s, got %s (%s)" % (code, got, describe_error(e)))
        if status is not None and error_status(e) != status:
            raise AssertionError("expected HTTP %s with %s, got HTTP %s" % (status, code, error_status(e)))
        if exc_type is not None and not isinstance(e, exc_type):
            raise AssertionError("expected exception class %s, got %s" % (exc_type.__name__, type(e).__name__))
        return "%s (%s)" % (code, error_status(e))
    raise AssertionError("expected error %s, but the call succeeded (%r)" % (code, getattr(result, "status", result)))


def pattern(n, seed=0):
    """Deterministic test bytes: byte i = (31*i + seed) mod 251."""
    block = bytes(((i * 31 + seed) % 251) for i in range(251 * 4))
    # (31*i + seed) mod 251 repeats every 251 bytes
    reps = n // len(block) + 1
    return (block * reps)[:n]


def md5_hex(data):
    return hashlib.md5(data).hexdigest().upper()


def temp_dir(prefix):
    return tempfile.mkdtemp(prefix=prefix)


def http_fetch(settings, url, method="GET", data=None, headers=None):
    """Fetches a (presigned) URL on the server under test. Returns (status, headers, body)."""
    parts = urllib.parse.urlsplit(url)
    if parts.hostname not in ("127.0.0.1", "localhost"):
        raise AssertionError("refusing to fetch a non-loopback URL: %s" % url)
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(req, timeout=60) as resp:
            return resp.status, dict(resp.headers.items()), resp.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers.items()), e.read()


def anonymous_get(settings, bucket, key):
    """A plain unsigned GET of bucket/key (path style), as a browser downloads a public object;
    returns (HTTP status, body bytes)."""
    url = "%s/%s/%s" % (settings.endpoint, bucket, urllib.parse.quote(key))
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=30) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def whole_md5_b64(data):
    """Base64 MD5, as Content-MD5 carries it."""
    import base64
    return base64.b64encode(hashlib.md5(data).digest()).decode()
