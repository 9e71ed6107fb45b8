"""The archiver and tincan export to S3 (issue 12), against a real
S3-compatible server (s3rver, verifying SigV4) and read back with boto3 and
DuckDB: every event exactly once through S3 outages, a server stopped in the
middle of a multipart upload, kill -9 of tincan mid-upload; wrong credentials
and a missing bucket show in ARCHIVE.INFO while publishing goes on."""

import os
import time
from pathlib import Path

from archive_helpers import (archived_up_to, assert_exactly_once, check_names, info,
                             publish_mix, read_rows, run_cli, stored_events)
from conftest import call, wait_until

PREFIX = "prod/tincan"


def s3_args(s3, *extra, age=1, bucket=None):
    return ("--archive-to", "s3://%s/%s" % (bucket or s3.bucket, PREFIX),
            "--archive-endpoint", s3.endpoint, "--archive-max-age", str(age)) + extra


def download(s3, dest, prefix=PREFIX):
    """Every object under prefix/ into dest (keys relative to the prefix);
    returns those keys, sorted."""
    c = s3.boto3_client()
    keys, token = [], None
    while True:
        kw = {"Bucket": s3.bucket, "Prefix": prefix + "/"}
        if token:
            kw["ContinuationToken"] = token
        page = c.list_objects_v2(**kw)
        for o in page.get("Contents", []):
            rel = o["Key"][len(prefix) + 1:]
            body = c.get_object(Bucket=s3.bucket, Key=o["Key"])["Body"].read()
            assert len(body) == o["Size"]
            p = Path(dest) / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(body)
            keys.append(rel)
        if not page.get("IsTruncated"):
            return sorted(keys)
        token = page["NextContinuationToken"]


def test_archive_to_s3_round_trip(tincan, s3server_factory, tmp_path):
    s3 = s3server_factory()
    s = tincan(*s3_args(s3), env=s3.env())
    r = s.client(decode_responses=False)
    publish_mix(r, 300, big_every=50)
    got = archived_up_to(r)
    assert got["errors"] == 0, got
    keys = download(s3, tmp_path / "dl")
    check_names(keys)
    assert got["files"] == len(keys)
    assert_exactly_once(read_rows("%s/events/**/*.parquet" % (tmp_path / "dl")),
                        stored_events(r))
    assert not list((s.dir / "archive" / "staging").iterdir())


def test_s3_away_then_back(tincan, s3server_factory, tmp_path):
    s3 = s3server_factory()
    s = tincan(*s3_args(s3), env=s3.env())
    r = s.client(decode_responses=False)
    publish_mix(r, 50)
    archived_up_to(r)
    s3.stop()
    publish_mix(r, 100, start=50)
    call(r, "ARCHIVE.FLUSH")
    wait_until(lambda: info(r)["errors"] >= 1, timeout=30, what="an S3 error")
    i = info(r)
    assert i["state"] == "retrying" and i["lag_events"] > 0, i
    assert "s3" in i["last_error"].lower(), i
    assert call(r, "EV.PUB", "order.created", b"while away") == 151
    s3.start()
    got = archived_up_to(r, timeout=90)
    assert got["cursor"] == 151
    keys = download(s3, tmp_path / "dl")
    check_names(keys)
    assert_exactly_once(read_rows("%s/events/**/*.parquet" % (tmp_path / "dl")),
                        stored_events(r))


def big_batch(r, n=12):
    """n events of ~1 MB that do not compress: one file over the 8 MiB part
    size, so it goes up as a multipart upload."""
    for _ in range(n):
        call(r, "EV.PUB", "media.uploaded", os.urandom(1000000))


def test_s3_stopped_mid_multipart_upload(tincan, s3server_factory, tmp_path):
    s3 = s3server_factory(delay_parts_ms=1500)
    s = tincan(*s3_args(s3, age=30), env=s3.env())
    r = s.client(decode_responses=False)
    big_batch(r)
    call(r, "ARCHIVE.FLUSH")
    wait_until(lambda: info(r)["state"] == "committing", timeout=30, what="the upload")
    time.sleep(0.8)  # inside the first (held) UploadPart
    s3.stop()
    wait_until(lambda: info(r)["errors"] >= 1, timeout=60, what="the broken upload")
    s3.start()
    got = archived_up_to(r, timeout=120)
    assert got["retries"] >= 1
    keys = download(s3, tmp_path / "dl")
    assert len(check_names(keys)) == 1
    assert_exactly_once(read_rows("%s/events/**/*.parquet" % (tmp_path / "dl")),
                        stored_events(r))


def test_kill9_of_tincan_mid_upload(tincan, s3server_factory, tmp_path):
    s3 = s3server_factory(delay_parts_ms=1500)
    s = tincan(*s3_args(s3, age=30), env=s3.env())
    r = s.client(decode_responses=False)
    publish_mix(r, 40)
    big_batch(r)
    call(r, "ARCHIVE.FLUSH")
    wait_until(lambda: info(r)["state"] == "committing", timeout=30, what="the upload")
    time.sleep(0.5)
    s.kill()
    s.start()
    r = s.client(decode_responses=False)
    archived_up_to(r, timeout=120)
    keys = download(s3, tmp_path / "dl")
    check_names(keys)
    assert_exactly_once(read_rows("%s/events/**/*.parquet" % (tmp_path / "dl")),
                        stored_events(r))


def test_wrong_credentials_show_in_info(tincan, s3server_factory, tmp_path):
    s3 = s3server_factory()
    s = tincan(*s3_args(s3), env=s3.env(AWS_SECRET_ACCESS_KEY="not-the-secret"))
    r = s.client()
    assert call(r, "EV.PUB", "order.created", "x") == 1
    wait_until(lambda: info(r)["errors"] >= 1, timeout=30, what="a refused request")
    i = info(r)
    assert "403" in i["last_error"] and "SignatureDoesNotMatch" in i["last_error"], i
    assert i["cursor"] == 0 and i["state"] == "retrying"
    assert call(r, "EV.PUB", "order.created", "y") == 2
    # fixed credentials: a restart archives everything, once
    s.env["AWS_SECRET_ACCESS_KEY"] = s3.secret_key
    s.restart()
    r = s.client(decode_responses=False)
    archived_up_to(r)
    keys = download(s3, tmp_path / "dl")
    check_names(keys)
    assert_exactly_once(read_rows("%s/events/**/*.parquet" % (tmp_path / "dl")),
                        stored_events(r))


def test_missing_bucket_shows_in_info(tincan, s3server_factory, tmp_path):
    s3 = s3server_factory(bucket=None)
    s = tincan(*s3_args(s3, bucket="no-such-bucket"), env=s3.env())
    r = s.client()
    assert call(r, "EV.PUB", "order.created", "x") == 1
    wait_until(lambda: info(r)["errors"] >= 1, timeout=30, what="a missing bucket")
    i = info(r)
    assert "NoSuchBucket" in i["last_error"] or "not found" in i["last_error"], i
    assert call(r, "EV.PUB", "order.created", "y") == 2
    # the bucket appears: the archiver, still trying, catches up on its own
    s3.bucket = "no-such-bucket"
    s3.boto3_client().create_bucket(Bucket=s3.bucket)
    r = s.client(decode_responses=False)
    archived_up_to(r, timeout=90)
    check_names(download(s3, tmp_path / "dl"))
    assert_exactly_once(read_rows("%s/events/**/*.parquet" % (tmp_path / "dl")),
                        stored_events(r))


def test_cli_export_to_s3(tincan, s3server_factory, tmp_path):
    s3 = s3server_factory()
    s = tincan()
    r = s.client(decode_responses=False)
    publish_mix(r, 250, big_every=60)
    events = stored_events(r)
    s.stop()
    url = "s3://%s/%s" % (s3.bucket, PREFIX)
    p = run_cli("export", "--dir", s.dir, "--to", url, "--endpoint", s3.endpoint,
                env=s3.env(), check=0)
    assert "exported 250 events" in p.stdout
    keys = download(s3, tmp_path / "dl")
    check_names(keys)
    assert_exactly_once(read_rows("%s/events/**/*.parquet" % (tmp_path / "dl")), events)
    p = run_cli("export", "--dir", s.dir, "--to", url, "--endpoint", s3.endpoint,
                env=s3.env(), check=0)
    assert "(%d already there)" % len(keys) in p.stdout
    p = run_cli("export", "--dir", s.dir, "--to", url, "--endpoint", s3.endpoint,
                env=s3.env(AWS_SECRET_ACCESS_KEY="wrong"), check=1)
    assert "SignatureDoesNotMatch" in p.stderr


def test_sigterm_during_a_slow_upload_is_prompt(tincan, s3server_factory):
    """A server asked to stop does not wait for an upload to finish: the
    upload is cancelled and redone at the next start."""
    s3 = s3server_factory(delay_parts_ms=30000)
    s = tincan(*s3_args(s3, age=30), env=s3.env())
    r = s.client(decode_responses=False)
    big_batch(r)
    call(r, "ARCHIVE.FLUSH")
    wait_until(lambda: info(r)["state"] == "committing", timeout=30, what="the upload")
    time.sleep(0.5)
    t0 = time.monotonic()
    assert s.stop() == 0
    assert time.monotonic() - t0 < 5, "SIGTERM waited for the upload"
