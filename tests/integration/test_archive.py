"""The continuous archiver (issue 12) into a directory: every event exactly
once as Hive-partitioned Parquet that real DuckDB reads, byte-identical to
EV.GET; file cuts; restarts, kill -9 in the middle of batches and commits, a
full target; bad targets refused at start with a clear error."""

import os
import random
import subprocess
import threading
import time

import pytest
import redis

from archive_helpers import (archived_up_to, assert_exactly_once, check_names, files_under,
                             info, publish_mix, read_rows, stored_events)
from conftest import call, duckdb_query, tincan_bin, wait_until


def archive_args(target, *extra, age=1):
    return ("--archive-to", str(target), "--archive-max-age", str(age)) + extra


def test_archive_round_trip_duckdb(tincan, tmp_path):
    target = tmp_path / "archive"
    s = tincan(*archive_args(target))
    r = s.client(decode_responses=False)
    publish_mix(r, 400)
    got = archived_up_to(r)
    assert got["enabled"] in (1, True) and got["target"] == str(target)
    assert got["events"] == 400 and got["lag_events"] == 0 and got["errors"] == 0
    keys = files_under(target)
    names = check_names(keys)
    assert got["files"] == len(keys) and got["bytes"] == sum(
        (target / k).stat().st_size for k in keys)
    assert {n[1] for n in names} == {"order.created", "order.paid", "user.signup",
                                     "billing.invoice.sent"}
    rows = read_rows("%s/events/**/*.parquet" % target)
    assert_exactly_once(rows, stored_events(r))
    # counts per type and per date, as an analyst would ask
    per_type = duckdb_query(
        "SELECT type, count(*) AS n FROM read_parquet('%s/events/**/*.parquet', "
        "hive_partitioning=true) GROUP BY type ORDER BY type" % target)
    assert per_type == [{"type": "billing.invoice.sent", "n": 100},
                        {"type": "order.created", "n": 100},
                        {"type": "order.paid", "n": 100},
                        {"type": "user.signup", "n": 100}]
    per_date = duckdb_query(
        "SELECT CAST(date AS VARCHAR) AS d, count(*) AS n FROM read_parquet("
        "'%s/events/**/*.parquet', hive_partitioning=true) GROUP BY d" % target)
    assert sum(x["n"] for x in per_date) == 400
    # the file names' positions are the first and last row, and stats agree
    for key, (date, typ, first, last, _h) in zip(keys, names):
        st = duckdb_query("SELECT min(position) AS lo, max(position) AS hi, count(*) AS n,"
                          " count(DISTINCT type) AS t FROM read_parquet('%s')"
                          % (target / key))[0]
        assert (st["lo"], st["hi"], st["t"]) == (first, last, 1)
    meta = duckdb_query(
        "SELECT path_in_schema AS col, compression, stats_min, stats_max FROM "
        "parquet_metadata('%s') WHERE path_in_schema IN ('position', 'time')"
        % (target / keys[0]))
    assert {m["compression"] for m in meta} == {"ZSTD"}
    pos = [m for m in meta if m["col"] == "position"][0]
    assert (int(pos["stats_min"]), int(pos["stats_max"])) == names[0][2:4]
    schema = {c["name"]: c for c in duckdb_query(
        "SELECT name, logical_type, converted_type FROM parquet_schema('%s')"
        % (target / keys[0]))}
    assert "TIMESTAMP" in str(schema["time"]["logical_type"]).upper()
    assert schema["headers"]["converted_type"] == "MAP"


def test_hive_layout_prunes(tincan, tmp_path):
    """WHERE type=... AND date=... reads only that partition: the query still
    answers after every other partition's files were ruined."""
    target = tmp_path / "archive"
    s = tincan(*archive_args(target))
    r = s.client(decode_responses=False)
    publish_mix(r, 200)
    archived_up_to(r)
    today = time.strftime("%Y-%m-%d", time.gmtime())
    want = duckdb_query("SELECT count(*) AS n FROM read_parquet('%s/events/**/*.parquet',"
                        " hive_partitioning=true) WHERE type='order.paid' AND date='%s'"
                        % (target, today))[0]["n"]
    assert want == 50
    # DuckDB takes the schema from the first file of the glob: keep that one
    keys = files_under(target)
    ruined = [k for k in keys[1:] if "/type=order.paid/" not in k]
    assert ruined
    for k in ruined:
        (target / k).write_bytes(b"not parquet at all")
    q = ("SELECT count(*) AS n FROM read_parquet('%s/events/**/*.parquet', "
         "hive_partitioning=true) WHERE type='order.paid' AND date='%s'" % (target, today))
    assert duckdb_query(q)[0]["n"] == 50
    with pytest.raises(pytest.fail.Exception):
        duckdb_query("SELECT count(*) AS n FROM read_parquet('%s/events/**/*.parquet', "
                     "hive_partitioning=true)" % target)


def test_files_cut_at_size(tincan, tmp_path):
    target = tmp_path / "archive"
    s = tincan(*archive_args(target, "--archive-file-size", "64kb"))
    r = s.client(decode_responses=False)
    for i in range(300):
        call(r, "EV.PUB", "blob.put", os.urandom(1500))
    archived_up_to(r)
    names = check_names(files_under(target))
    assert len(names) >= 5
    spans = sorted((n[2], n[3]) for n in names)
    assert spans[0][0] == 1 and spans[-1][1] == 300
    for (a, b), (c, d) in zip(spans, spans[1:]):
        assert c == b + 1, "files must cover consecutive positions: %r" % spans
    for k in files_under(target):
        assert (target / k).stat().st_size < 3 * 64 * 1024
    assert_exactly_once(read_rows("%s/events/**/*.parquet" % target), stored_events(r))


def test_restart_resumes_and_new_target_gets_history(tincan, tmp_path):
    target = tmp_path / "a1"
    s = tincan(*archive_args(target))
    r = s.client(decode_responses=False)
    publish_mix(r, 120)
    archived_up_to(r)
    before = files_under(target)
    s.restart()
    r = s.client(decode_responses=False)
    assert info(r)["cursor"] == 120
    publish_mix(r, 80, start=120)
    archived_up_to(r)
    after = files_under(target)
    assert set(before) <= set(after)
    assert_exactly_once(read_rows("%s/events/**/*.parquet" % target), stored_events(r))
    # a second target starts from the beginning
    t2 = tmp_path / "a2"
    s.restart(args=archive_args(t2))
    r = s.client(decode_responses=False)
    got = archived_up_to(r)
    assert got["events"] == 200
    assert_exactly_once(read_rows("%s/events/**/*.parquet" % t2), stored_events(r))


def test_commit_failure_then_kill9_redoes_the_batch(tincan, tmp_path):
    """A batch whose files are half in place when the server dies is redone
    from the segments at the next start: the same names, nothing twice."""
    target = tmp_path / "archive"
    s = tincan(*archive_args(target, "--enable-debug-command", "yes", age=30))
    r = s.client(decode_responses=False)
    publish_mix(r, 100)
    archived_up_to(r)
    publish_mix(r, 100, start=100)
    # the second rename of the next commit, and every one after it, fails
    call(r, "EV.FAULT", "rename", 2, "EIO", 0)
    call(r, "ARCHIVE.FLUSH")
    wait_until(lambda: info(r)["retries"] >= 2, timeout=30, what="commit retries")
    i = info(r)
    assert i["state"] == "retrying" and "rename" in i["last_error"], i
    assert i["committing_to"] == 200
    half = files_under(target)
    assert len(half) > 0
    # publishing is unaffected while the archive cannot commit
    assert call(r, "EV.PUB", "order.created", b"during") == 201
    s.kill()
    s.start()
    r = s.client(decode_responses=False)
    got = archived_up_to(r)
    # positions skip ahead after a kill -9; the cursor moves past the gap
    assert got["cursor"] >= 201 and got["lag_events"] == 0
    assert set(half) <= set(files_under(target))
    assert_exactly_once(read_rows("%s/events/**/*.parquet" % target), stored_events(r))


def test_kill9_under_load_exactly_once(tincan, tmp_path):
    """kill -9 at random moments while events are published and archived in
    small, frequent batches: after the last restart the archive holds every
    stored event exactly once."""
    target = tmp_path / "archive"
    rounds = int(os.environ.get("TINCAN_ARCHIVE_CRASH_ROUNDS", "6"))
    s = tincan(*archive_args(target, "--archive-file-size", "16kb"))
    rng = random.Random(12)
    n = 0
    for rnd in range(rounds):
        r = s.client(decode_responses=False)
        stop = threading.Event()

        def load(port=s.port, start=n):
            c = redis.Redis(port=port, socket_timeout=5)
            i = start
            try:
                while not stop.is_set() and i < start + 5000:
                    call(c, "EV.PUB", ("a.x", "b.y", "c.z")[i % 3], b"%d:" % i + b"p" * 300)
                    i += 1
            except (redis.ConnectionError, redis.TimeoutError, OSError):
                pass

        t = threading.Thread(target=load)
        t.start()
        time.sleep(0.3 + rng.random() * 1.2)
        if rnd % 2:
            call(r, "ARCHIVE.FLUSH")
            time.sleep(rng.random() * 0.05)
        s.kill()
        stop.set()
        t.join(10)
        n += 5000
        s.start()
    r = s.client(decode_responses=False)
    archived_up_to(r, timeout=120)
    events = stored_events(r)
    assert len(events) > 100
    assert_exactly_once(read_rows("%s/events/**/*.parquet" % target), events)
    assert not [p for p in (target / ".staging").iterdir()], "staged files left behind"


@pytest.mark.skipif(os.geteuid() != 0, reason="mounts a small tmpfs (needs root)")
def test_target_full_then_space_again(tincan, tmp_path):
    mnt = tmp_path / "small"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=96k", "tmpfs", str(mnt)], check=True)
    try:
        s = tincan(*archive_args(mnt))
        r = s.client(decode_responses=False)
        for i in range(200):
            call(r, "EV.PUB", "big.blob", os.urandom(2000))  # ~400 KB, not compressible
        call(r, "ARCHIVE.FLUSH")
        wait_until(lambda: info(r)["errors"] >= 1, timeout=30, what="a disk-full error")
        i = info(r)
        assert "no space left on device" in i["last_error"].lower(), i
        assert i["cursor"] < 200 and i["lag_events"] > 0
        # publishing goes on, acknowledged and durable
        assert call(r, "EV.PUB", "big.blob", b"still") == 201
        subprocess.run(["mount", "-o", "remount,size=64m", str(mnt)], check=True)
        got = archived_up_to(r, timeout=90)
        assert got["cursor"] == 201
        assert_exactly_once(read_rows("%s/events/**/*.parquet" % mnt), stored_events(r))
        s.stop()
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def start_fails(tmp_path, *args):
    """Runs the server with args; it must refuse to start. Returns stderr."""
    data = tmp_path / "data-refused"
    data.mkdir(exist_ok=True)
    p = subprocess.run([str(tincan_bin()), "--port", "0", "--bind", "127.0.0.1", "--dir",
                        str(data)] + [str(a) for a in args], capture_output=True, text=True,
                       timeout=30, stdin=subprocess.DEVNULL)
    assert p.returncode != 0, "the server started with %r" % (args,)
    assert "tincan ready" not in p.stdout
    return p.stderr


def test_bad_targets_refused_at_start(tmp_path):
    afile = tmp_path / "plain-file"
    afile.write_text("x")
    err = start_fails(tmp_path, "--archive-to", afile / "sub")
    assert "--archive-to %s" % (afile / "sub") in err and "Not a directory" in err, err
    err = start_fails(tmp_path, "--archive-to", "ftp://host/x")
    assert "archive target must be a directory or s3://bucket/prefix" in err, err
    err = start_fails(tmp_path, "--archive-to", "s3://")
    assert "s3://bucket/prefix" in err, err
    if os.geteuid() != 0:  # root writes anywhere
        ro = tmp_path / "ro"
        ro.mkdir(mode=0o500)
        err = start_fails(tmp_path, "--archive-to", ro)
        assert "not writable" in err or "Permission denied" in err, err


def test_archive_off(server):
    r = server.client()
    i = info(r)
    assert i["enabled"] in (0, False) and i["state"] == "off" and i["cursor"] == 0
    with pytest.raises(redis.ResponseError, match="the archive is off"):
        call(r, "ARCHIVE.FLUSH")
    assert "archive_enabled:0" in call(r, "INFO", "archive")


def test_damaged_state_file_stops_only_the_archive(tincan, tmp_path):
    target = tmp_path / "archive"
    s = tincan(*archive_args(target))
    r = s.client(decode_responses=False)
    publish_mix(r, 20)
    archived_up_to(r)
    s.stop()
    (s.dir / "archive" / "state").write_bytes(b"TCARCST1 but not the rest")
    s.start()
    r = s.client(decode_responses=False)
    wait_until(lambda: info(r)["state"] == "stopped", timeout=10, what="a stopped archive")
    i = info(r)
    assert "not an archive state file" in i["last_error"], i
    assert call(r, "EV.PUB", "order.created", b"still works") == 21
