"""The S3 client (src/archive/s3.c) against a real S3-compatible server.

Every call goes through tests/tools/s3_probe (built by `make tools`; set
$TINCAN_S3_PROBE to test another build of it, e.g. an ASan one) against s3rver
(tests/tools/node/s3rver_run.js, which verifies SigV4 signatures the way S3
does), and what arrived is checked independently with boto3. Replies s3rver
cannot be made to give (503 SlowDown, a failed completion inside a 200, a
server that never answers) come from CannedS3 at the end of this file.

s3_probe exit codes: 0 ok, 1 retryable (ERR_IO), 3 not found, 4 refused.
"""

import hashlib
import http.server
import os
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from conftest import REPO, SANITIZER_MARKERS, wait_until

MiB = 1 << 20
PROBE_TIMEOUT = 60  # s, for any single probe run


def probe_path():
    if os.environ.get("TINCAN_S3_PROBE"):
        return Path(os.environ["TINCAN_S3_PROBE"]).resolve()
    return (REPO / os.environ.get("BUILD", "build") / "tools" / "s3_probe").resolve()


def no_sanitizer_report(stderr):
    for marker in SANITIZER_MARKERS:
        assert marker not in stderr, "sanitizer report from s3_probe:\n" + stderr


def probe(s3, *args, bucket=None, env=None, timeout=PROBE_TIMEOUT, opts=()):
    """Runs s3_probe against s3; returns (exit code, stdout, stderr)."""
    exe = probe_path()
    if not exe.exists():
        pytest.fail("%s does not exist (make BUILD=... tools)" % exe)
    cmd = [str(exe), "--endpoint", s3.endpoint, "--bucket", bucket or s3.bucket
           or "tincan-archive", *opts, *args]
    p = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                       env=s3.env(**(env or {})), timeout=timeout)
    no_sanitizer_report(p.stderr)
    return p.returncode, p.stdout, p.stderr


def write_random(path, n):
    data = os.urandom(n)
    path.write_bytes(data)
    return data


def get_bytes(client, bucket, key):
    return client.get_object(Bucket=bucket, Key=key)["Body"].read()


def head_status(client, bucket, key):
    """boto3 head_object: the size, or the HTTP status of the refusal."""
    try:
        return client.head_object(Bucket=bucket, Key=key)["ContentLength"]
    except ClientError as e:
        return int(e.response["ResponseMetadata"]["HTTPStatusCode"])


KEY = "events/date=2026-12-03/type=order.created/part-00000001.parquet"


def test_small_put_arrives_whole(s3server, tmp_path):
    f = tmp_path / "small"
    data = write_random(f, 1000)
    rc, out, err = probe(s3server, "put", KEY, str(f))
    assert (rc, out) == (0, "ok\n"), err
    c = s3server.boto3_client()
    assert get_bytes(c, s3server.bucket, KEY) == data
    assert c.head_object(Bucket=s3server.bucket, Key=KEY)["ContentLength"] == 1000
    rc, out, err = probe(s3server, "head", KEY)
    assert rc == 0, err
    assert out == "size=1000 etag=%s\n" % hashlib.md5(data).hexdigest()


def test_empty_object(s3server, tmp_path):
    f = tmp_path / "empty"
    f.write_bytes(b"")
    rc, out, err = probe(s3server, "put", "events/empty.parquet", str(f))
    assert rc == 0, err
    assert head_status(s3server.boto3_client(), s3server.bucket,
                       "events/empty.parquet") == 0


def test_multipart_upload_arrives_whole(s3server, tmp_path):
    f = tmp_path / "big"
    data = write_random(f, 12 * MiB)
    key = "events/date=2026-12-03/type=order.created/part-00000002.parquet"
    rc, out, err = probe(s3server, "put", key, str(f), opts=("--part-bytes", str(5 * MiB)))
    assert (rc, out) == (0, "ok\n"), err
    c = s3server.boto3_client()
    assert c.head_object(Bucket=s3server.bucket, Key=key)["ContentLength"] == 12 * MiB
    assert get_bytes(c, s3server.bucket, key) == data
    # It really went as three parts (5 + 5 + 2 MiB), not one PUT.
    log = s3server.workdir.joinpath("stdout.1.log").read_text(errors="replace")
    assert "Stored part 3 of" in log and "Stored part 4 of" not in log
    # No upload is left behind once complete.
    assert c.list_objects_v2(Bucket=s3server.bucket)["KeyCount"] == 1


def test_keys_with_equals_slashes_dots_and_more(s3server, tmp_path):
    f = tmp_path / "obj"
    keys = [
        "events/date=2026-12-03/type=order.created/part-00000003.parquet",
        "a/b.c/d=e=f/..x/.hidden",
        "x/y~z_1-2.parquet",
        "with space/and+plus/and%percent/and,comma;semi",
        "unicode/caf\u00e9=\u00fcber.parquet",
    ]
    c = s3server.boto3_client()
    for i, key in enumerate(keys):
        data = write_random(f, 100 + i)
        rc, out, err = probe(s3server, "put", key, str(f))
        assert rc == 0, "%r: %s" % (key, err)
        assert get_bytes(c, s3server.bucket, key) == data, key
        rc, out, err = probe(s3server, "head", key)
        assert (rc, out.split()[0]) == (0, "size=%d" % (100 + i)), err
    listed = sorted(o["Key"] for o in c.list_objects_v2(Bucket=s3server.bucket)["Contents"])
    assert listed == sorted(keys)


def test_check_ok(s3server):
    rc, out, err = probe(s3server, "check")
    assert (rc, out) == (0, "ok\n"), err


def test_check_missing_bucket_is_not_found(s3server_factory):
    s3 = s3server_factory(bucket=None)
    rc, out, err = probe(s3, "check", bucket="no-such-bucket")
    assert rc == 3, err
    assert "s3: check bucket no-such-bucket: 404 NoSuchBucket" in err
    assert out == ""


def test_put_to_missing_bucket_is_not_found(s3server, tmp_path):
    f = tmp_path / "obj"
    write_random(f, 10)
    rc, out, err = probe(s3server, "put", "k", str(f), bucket="no-such-bucket")
    assert rc == 3, err
    assert "404 NoSuchBucket" in err


def test_head_missing_key_is_not_found(s3server):
    rc, out, err = probe(s3server, "head", "events/nothing-here.parquet")
    assert rc == 3, err
    assert "s3: HEAD events/nothing-here.parquet: 404" in err


def test_wrong_secret_is_refused(s3server, tmp_path):
    f = tmp_path / "obj"
    write_random(f, 10)
    bad = {"AWS_SECRET_ACCESS_KEY": "not-the-secret"}
    rc, out, err = probe(s3server, "put", KEY, str(f), env=bad)
    assert rc == 4, err
    assert "s3: PUT %s: 403 SignatureDoesNotMatch: " % KEY in err
    rc, out, err = probe(s3server, "check", env=bad)
    assert rc == 4, err
    assert "403 SignatureDoesNotMatch" in err
    assert head_status(s3server.boto3_client(), s3server.bucket, KEY) == 404


def test_unknown_access_key_is_refused(s3server):
    rc, out, err = probe(s3server, "check", env={"AWS_ACCESS_KEY_ID": "NOBODY"})
    assert rc == 4, err
    assert "403 InvalidAccessKeyId: The AWS Access Key Id you provided does not exist" in err


def test_no_credentials_is_refused(s3server):
    env = {"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": ""}
    rc, out, err = probe(s3server, "check", env=env)
    assert rc == 4, err
    assert "no credentials" in err


def test_server_stopped_is_retryable(s3server, tmp_path):
    s3server.stop()
    t0 = time.monotonic()
    rc, out, err = probe(s3server, "check", timeout=15)
    assert rc == 1, err
    assert "s3: check bucket tincan-archive: " in err and "connect" in err.lower()
    assert time.monotonic() - t0 < 5
    # A put retries (100 ms, 400 ms, 1.6 s) before it gives up.
    f = tmp_path / "obj"
    write_random(f, 10)
    t0 = time.monotonic()
    rc, out, err = probe(s3server, "put", KEY, str(f), timeout=30)
    took = time.monotonic() - t0
    assert rc == 1, err
    assert err.count("retrying in") == 3, err
    assert 2.0 <= took < 15, took


def test_server_stopped_in_the_middle_of_a_multipart_upload(s3server_factory, tmp_path):
    # Each part waits 300 ms in the server, so the stop lands mid-upload.
    s3 = s3server_factory(delay_parts_ms=300)
    f = tmp_path / "big"
    data = write_random(f, 30 * MiB)
    key = "events/date=2026-12-03/type=order.created/part-00000004.parquet"
    cmd = [str(probe_path()), "--endpoint", s3.endpoint, "--bucket", s3.bucket,
           "--part-bytes", str(5 * MiB), "put", key, str(f)]
    out_path, err_path = tmp_path / "probe.out", tmp_path / "probe.err"
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                             env=s3.env())
    try:
        log = s3.workdir / "stdout.1.log"
        wait_until(lambda: "Stored part 2 of" in log.read_text(errors="replace"),
                   timeout=30, what="part 2 stored")
        s3.stop()
        rc = p.wait(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    err_text = err_path.read_text(errors="replace")
    no_sanitizer_report(err_text)
    assert rc == 1, err_text  # failed cleanly, as retryable: no crash
    assert "s3: PUT %s (part " % key in err_text
    assert out_path.read_text() == ""

    s3.start()
    c = s3.boto3_client()
    assert head_status(c, s3.bucket, key) == 404  # no partial object
    rc, out, err = probe(s3, "head", key)
    assert rc == 3, err
    rc, out, err = probe(s3, "put", key, str(f), opts=("--part-bytes", str(5 * MiB)))
    assert rc == 0, err
    assert get_bytes(c, s3.bucket, key) == data


def test_restarted_server_keeps_objects(s3server, tmp_path):
    f = tmp_path / "obj"
    data = write_random(f, 4096)
    assert probe(s3server, "put", KEY, str(f))[0] == 0
    port = s3server.port
    s3server.stop()
    s3server.start()
    assert s3server.port == port
    assert get_bytes(s3server.boto3_client(), s3server.bucket, KEY) == data


def s3rver_log(s3, run=1):
    return (s3.workdir / ("stdout.%d.log" % run)).read_text(errors="replace")


def test_requests_are_signed_the_way_s3_checks_them(s3server, tmp_path):
    """s3rver_run.js recomputes every signature as S3 does; the log shows the
    canonical URLs s3.c sent ('=' as %3D, sorted queries, 'uploads=')."""
    f = tmp_path / "big"
    write_random(f, 6 * MiB)
    rc, out, err = probe(s3server, "put", KEY, str(f), opts=("--part-bytes", str(5 * MiB)))
    assert rc == 0, err
    log = s3rver_log(s3server)
    path = "/tincan-archive/events/date%3D2026-12-03/type%3Dorder.created/part-00000001.parquet"
    assert "sigv4 ok POST %s?uploads= " % path in log
    assert "sigv4 ok PUT %s?partNumber=1&uploadId=" % path in log
    assert "sigv4 ok PUT %s?partNumber=2&uploadId=" % path in log
    assert log.count("sigv4 ok POST %s?uploadId=" % path) == 1
    for line in log.splitlines():
        if line.startswith("sigv4 ok"):
            assert line.endswith("signed=content-type;host;x-amz-content-sha256;x-amz-date") \
                or line.endswith("signed=host;x-amz-content-sha256;x-amz-date"), line


def test_session_token_is_sent_and_signed(s3server, tmp_path):
    f = tmp_path / "obj"
    write_random(f, 10)
    rc, out, err = probe(s3server, "put", KEY, str(f), env={"AWS_SESSION_TOKEN": "tok/en+=="})
    assert rc == 0, err
    assert "signed=content-type;host;x-amz-content-sha256;x-amz-date;" \
        "x-amz-security-token\n" in s3rver_log(s3server)


# --------------------------------------------------------------------------
# Replies s3rver cannot be made to give: a canned-reply HTTP server
# --------------------------------------------------------------------------


class CannedS3:
    """An HTTP server on 127.0.0.1 answering each request with
    reply(method, path) -> (status, headers dict, body bytes); records
    (method, path) of every request. Not S3: signatures are not checked."""

    def __init__(self, reply):
        outer = self
        self.requests = []

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _serve(self):
                n = int(self.headers.get("Content-Length") or 0)
                if n:
                    self.rfile.read(n)
                outer.requests.append((self.command, self.path))
                status, headers, body = reply(self.command, self.path)
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _serve

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.endpoint = "http://127.0.0.1:%d" % self.port
        self.bucket = "tincan-archive"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def env(self, **extra):
        e = dict(os.environ)
        e.update(AWS_ACCESS_KEY_ID="S3RVER", AWS_SECRET_ACCESS_KEY="S3RVER")
        e.update(extra)
        return e

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def canned():
    made = []

    def factory(reply):
        c = CannedS3(reply)
        made.append(c)
        return c

    yield factory
    for c in made:
        c.close()


def s3_error(status, code, message):
    body = ("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>%s</Code>"
            "<Message>%s</Message></Error>" % (code, message)).encode()
    return status, {"Content-Type": "application/xml"}, body


def test_slow_down_is_retryable_and_retried(canned, tmp_path):
    s3 = canned(lambda method, path: s3_error(503, "SlowDown",
                                              "Please reduce your request rate."))
    rc, out, err = probe(s3, "check")
    assert rc == 1, err
    assert "s3: check bucket tincan-archive: 503 SlowDown: Please reduce your request rate." in err
    assert len(s3.requests) == 1  # check does not retry: the caller decides
    f = tmp_path / "obj"
    write_random(f, 10)
    rc, out, err = probe(s3, "put", "k", str(f))
    assert rc == 1, err
    assert [m for m, _ in s3.requests[1:]] == ["PUT"] * 4  # 1 + 3 retries


def test_other_4xx_is_refused_and_not_retried(canned, tmp_path):
    s3 = canned(lambda method, path: s3_error(400, "InvalidArgument", "x &amp; y"))
    f = tmp_path / "obj"
    write_random(f, 10)
    rc, out, err = probe(s3, "put", "k", str(f))
    assert rc == 4, err
    assert "s3: PUT k: 400 InvalidArgument: x & y" in err
    assert len(s3.requests) == 1


def test_complete_that_fails_inside_a_200_is_retryable_and_aborted(canned, tmp_path):
    """S3 documents that CompleteMultipartUpload can answer 200 and carry an
    error in the body; the upload must count as failed (and be aborted)."""
    def reply(method, path):
        if method == "POST" and path.endswith("?uploads="):
            return 200, {}, (b"<InitiateMultipartUploadResult><UploadId>id+/=&amp;1"
                             b"</UploadId></InitiateMultipartUploadResult>")
        if method == "PUT":
            return 200, {"ETag": '"etag-%d"' % len(s3.requests)}, b""
        if method == "POST":
            return s3_error(200, "InternalError", "We encountered an internal error.")
        if method == "DELETE":
            return 204, {}, b""
        return 500, {}, b""

    s3 = canned(reply)
    f = tmp_path / "big"
    write_random(f, 11 * MiB)
    rc, out, err = probe(s3, "put", "a=b/c.parquet", str(f),
                         opts=("--part-bytes", str(5 * MiB)))
    assert rc == 1, err
    assert "(complete multipart upload): 200 InternalError: We encountered" in err
    q = "uploadId=id%2B%2F%3D%261"  # the UploadId, unescaped then encoded
    assert s3.requests == [
        ("POST", "/tincan-archive/a%3Db/c.parquet?uploads="),
        ("PUT", "/tincan-archive/a%3Db/c.parquet?partNumber=1&" + q),
        ("PUT", "/tincan-archive/a%3Db/c.parquet?partNumber=2&" + q),
        ("PUT", "/tincan-archive/a%3Db/c.parquet?partNumber=3&" + q),
        ("POST", "/tincan-archive/a%3Db/c.parquet?" + q),
        ("DELETE", "/tincan-archive/a%3Db/c.parquet?" + q),
    ]


def test_a_server_that_never_answers_times_out(tmp_path):
    """Connected (the kernel's backlog accepts) but no reply: ERR_IO after
    --timeout-ms, not a hang."""
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(8)
    try:
        class Silent:
            endpoint = "http://127.0.0.1:%d" % lsock.getsockname()[1]
            bucket = "tincan-archive"

            @staticmethod
            def env(**extra):
                e = dict(os.environ, AWS_ACCESS_KEY_ID="A", AWS_SECRET_ACCESS_KEY="S")
                e.update(extra)
                return e

        t0 = time.monotonic()
        rc, out, err = probe(Silent, "check", opts=("--timeout-ms", "500"), timeout=15)
        assert rc == 1, err
        assert "timed out" in err.lower() or "timeout" in err.lower(), err
        assert time.monotonic() - t0 < 5
    finally:
        lsock.close()
