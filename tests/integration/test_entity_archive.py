"""Entity snapshots in the archive (issue 17): with --archive-to set, every
EV.SNAPSHOT is also written as one Parquet file
<target>/snapshots/name=<name>/snapshot-<P as 20 digits>-<16 hex of sha256>.parquet,
to a directory and to a real S3-compatible server (s3rver). Real DuckDB reads
the file back and its rows must be the snapshot: for every key the latest
matching event at or before P, with its version and payload byte for byte,
in position order. EV.SNAPSHOTS shows archive "done" (or "none" without a
target); a restart, even kill -9 right after the reply, ends with the file in
place and a done snapshot not written twice."""

import hashlib
import re
import signal
from pathlib import Path

from archive_helpers import rec, stored_events
from conftest import call, duckdb_query, wait_until
from test_archive_s3 import PREFIX, download

FILE_RE = re.compile(r"^snapshot-(\d{20})-([0-9a-f]{16})\.parquet$")
COLUMNS = "position, id, type, kind, time, key, headers, payload, version"


def text(v):
    return v.decode() if isinstance(v, bytes) else v


def snapshots(r):
    """EV.SNAPSHOTS as {name: {field: value}} (str keys and text values)."""
    out = {}
    for m in call(r, "EV.SNAPSHOTS"):
        m = {text(k): text(v) for k, v in rec(m).items()}
        out[m["name"]] = m
    return out


def wait_done(r, name, timeout=60.0):
    got = {}

    def done():
        got.update(snapshots(r).get(name, {}))
        assert not got.get("archive", "").startswith("failed") or \
            "retrying" in got["archive"], got
        return got.get("archive") == "done"

    wait_until(done, timeout=timeout, interval=0.05,
               what="snapshot %s to be archived (last %r)" % (name, got))
    return got


def publish_keyed(r, keys, rounds, start=0):
    """Events over keys in a few types: acct.* ones (the snapshot's) and
    others, plus unkeyed ones; binary payloads. Returns nothing: the store is
    read back with EV.RANGE."""
    for i in range(start, start + rounds):
        for k in range(keys):
            t = ("acct.opened", "acct.moved", "audit.seen")[(i + k) % 3]
            payload = bytes([k % 256, 0, 255, i % 256]) + b"\xfe" * (k % 5) + \
                b"k%d-r%d" % (k, i)
            args = ["EV.PUB", t, payload, "KEY", "cust-%03d" % k]
            if (i + k) % 4 == 0:
                args += ["HDR", "trace", "t%d.%d" % (i, k)]
            call(r, *args)
        call(r, "EV.PUB", "acct.noise", b"no key %d" % i)


def expected_rows(r, pattern_prefix, upto):
    """What a snapshot of acct.* at upto must hold: per key its latest acct.*
    event at or before upto, ordered by position."""
    latest = {}
    for e in stored_events(r):
        if e["position"] > upto or e["key"] is None:
            continue
        if not e["type"].decode().startswith(pattern_prefix):
            continue
        latest[e["key"]] = e
    return sorted(latest.values(), key=lambda e: e["position"])


def read_file(path):
    """The file's rows in file order (DuckDB's file_row_number)."""
    return duckdb_query("SELECT %s, file_row_number FROM read_parquet('%s', "
                        "file_row_number=true) ORDER BY file_row_number"
                        % (COLUMNS, path))


def check_file(path, position, want):
    """path is named by position and its bytes, and holds exactly want."""
    m = FILE_RE.match(Path(path).name)
    assert m, path
    assert int(m.group(1)) == position
    assert m.group(2) == hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]
    rows = read_file(path)
    assert [row["position"] for row in rows] == [e["position"] for e in want]
    for row, e in zip(rows, want):
        assert row["key"] == e["key"].decode()
        assert row["version"] == e["version"], row["position"]
        assert row["payload"] == e["payload"].hex(), row["position"]
        assert row["type"] == e["type"].decode()
        assert row["id"] == e["id"].decode()
        assert row["kind"] == e["kind"].decode()
        assert row["time"] == e["time"]
        hdrs = rec(e["headers"]) or {}
        got = {kv["key"]: kv["value"] for kv in row["headers"]}
        assert got == {k.decode(): v.decode() for k, v in hdrs.items()}


def files_of(root, name):
    d = Path(root) / "snapshots" / ("name=%s" % name)
    return sorted(str(p) for p in d.glob("*.parquet")) if d.is_dir() else []


def test_snapshot_to_a_directory_reads_back_in_duckdb(tincan, tmp_path):
    arch = tmp_path / "arch"
    s = tincan("--archive-to", str(arch))
    r = s.client(decode_responses=False)
    publish_keyed(r, 40, 5)
    snap = {text(k): v for k, v in rec(call(r, "EV.SNAPSHOT", "accounts.v1",
                                            "acct.*")).items()}
    assert snap["keys"] == 40
    want = expected_rows(r, "acct.", snap["position"])
    assert len(want) == 40 and all(e["version"] >= 1 for e in want)
    got = wait_done(r, "accounts.v1")
    assert got["position"] == snap["position"]
    files = files_of(arch, "accounts.v1")
    assert len(files) == 1, files
    check_file(files[0], snap["position"], want)

    # a later snapshot of the same name is a second file, named by its P
    publish_keyed(r, 45, 2, start=5)
    snap2 = {text(k): v for k, v in rec(call(r, "EV.SNAPSHOT", "accounts.v1",
                                             "acct.*")).items()}
    assert snap2["position"] > snap["position"] and snap2["keys"] == 45
    wait_done(r, "accounts.v1")
    files = files_of(arch, "accounts.v1")
    assert len(files) == 2, files
    newest = max(files, key=lambda p: FILE_RE.match(Path(p).name).group(1))
    check_file(newest, snap2["position"], expected_rows(r, "acct.", snap2["position"]))
    assert not list((arch / ".staging" / "snapshots").glob("*.tmp"))


def test_empty_snapshot_is_a_file_of_no_rows(tincan, tmp_path):
    arch = tmp_path / "arch"
    s = tincan("--archive-to", str(arch))
    r = s.client(decode_responses=False)
    call(r, "EV.PUB", "other.thing", b"x", "KEY", "k")
    snap = {text(k): v for k, v in rec(call(r, "EV.SNAPSHOT", "none-yet",
                                            "acct.*")).items()}
    assert snap["keys"] == 0
    wait_done(r, "none-yet")
    files = files_of(arch, "none-yet")
    assert len(files) == 1
    check_file(files[0], snap["position"], [])


def test_without_a_target_the_archive_state_is_none(tincan):
    s = tincan()
    r = s.client(decode_responses=False)
    call(r, "EV.PUB", "acct.opened", b"x", "KEY", "k")
    call(r, "EV.SNAPSHOT", "s", "acct.*")
    assert snapshots(r)["s"]["archive"] == "none"


def test_restart_keeps_one_file_and_kill9_after_the_reply_loses_nothing(tincan, tmp_path):
    arch = tmp_path / "arch"
    s = tincan("--archive-to", str(arch))
    r = s.client(decode_responses=False)
    publish_keyed(r, 30, 3)
    call(r, "EV.SNAPSHOT", "a", "acct.*")
    wait_done(r, "a")
    assert len(files_of(arch, "a")) == 1

    # kill -9 right after the reply: the export may not have started
    publish_keyed(r, 300, 4, start=3)
    snap = {text(k): v for k, v in rec(call(r, "EV.SNAPSHOT", "b", "acct.*")).items()}
    s.restart(sig=signal.SIGKILL)
    r = s.client(decode_responses=False)
    got = snapshots(r)
    assert got["a"]["archive"] == "done"  # from its done record, at once
    wait_done(r, "b")
    files = files_of(arch, "b")
    assert len(files) == 1, files
    check_file(files[0], snap["position"], expected_rows(r, "acct.", snap["position"]))
    assert len(files_of(arch, "a")) == 1

    s.restart(sig=signal.SIGTERM)
    r = s.client(decode_responses=False)
    assert {n: m["archive"] for n, m in snapshots(r).items()} == {"a": "done", "b": "done"}
    assert len(files_of(arch, "a")) == 1 and len(files_of(arch, "b")) == 1


def test_snapshot_to_s3_reads_back_in_duckdb(tincan, s3server_factory, tmp_path):
    s3 = s3server_factory()
    s = tincan("--archive-to", "s3://%s/%s" % (s3.bucket, PREFIX),
               "--archive-endpoint", s3.endpoint, env=s3.env())
    r = s.client(decode_responses=False)
    publish_keyed(r, 25, 4)
    snap = {text(k): v for k, v in rec(call(r, "EV.SNAPSHOT", "acct:s3",
                                            "acct.*")).items()}
    wait_done(r, "acct:s3")
    keys = [k for k in download(s3, tmp_path / "dl") if k.startswith("snapshots/")]
    assert len(keys) == 1, keys
    assert keys[0].startswith("snapshots/name=acct:s3/snapshot-%020d-" % snap["position"])
    check_file(tmp_path / "dl" / keys[0], snap["position"],
               expected_rows(r, "acct.", snap["position"]))


def test_s3_away_shows_failed_retrying_and_a_newer_snapshot_supersedes(tincan, s3server_factory, tmp_path):
    s3 = s3server_factory()
    s = tincan("--archive-to", "s3://%s/%s" % (s3.bucket, PREFIX),
               "--archive-endpoint", s3.endpoint, env=s3.env())
    r = s.client(decode_responses=False)
    publish_keyed(r, 10, 2)
    s3.stop()
    snap = {text(k): v for k, v in rec(call(r, "EV.SNAPSHOT", "away", "acct.*")).items()}
    state = {}

    def failing():
        state.update(snapshots(r)["away"])
        return state["archive"].startswith("failed: ")

    wait_until(failing, timeout=30, what="the export to fail (last %r)" % state)
    assert state["archive"].endswith("(retrying)"), state
    # a newer snapshot of the name supersedes the one being retried
    publish_keyed(r, 12, 1, start=2)
    snap2 = {text(k): v for k, v in rec(call(r, "EV.SNAPSHOT", "away", "acct.*")).items()}
    assert snap2["position"] > snap["position"]
    s3.start()
    wait_done(r, "away", timeout=90)
    keys = [k for k in download(s3, tmp_path / "dl") if k.startswith("snapshots/")]
    assert len(keys) == 1, keys
    assert "/snapshot-%020d-" % snap2["position"] in keys[0]
    check_file(tmp_path / "dl" / keys[0], snap2["position"],
               expected_rows(r, "acct.", snap2["position"]))


def test_a_scheduled_snapshot_is_archived_too(tincan, tmp_path):
    arch = tmp_path / "arch"
    s = tincan("--archive-to", str(arch))
    r = s.client(decode_responses=False)
    publish_keyed(r, 8, 2)
    assert call(r, "EV.SCHEDULE", "SNAPSHOT", "nightly", "acct.*", "EVERY", "1s") == 1
    wait_until(lambda: "nightly" in snapshots(r), timeout=10,
               what="the schedule to take its snapshot")
    call(r, "EV.SCHEDULE", "DEL", "nightly")
    got = wait_done(r, "nightly")
    files = files_of(arch, "nightly")
    assert files, files
    newest = max(files, key=lambda p: FILE_RE.match(Path(p).name).group(1))
    check_file(newest, got["position"], expected_rows(r, "acct.", got["position"]))
