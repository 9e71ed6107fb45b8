"""Helpers shared by the archive tests (server archiver, tincan export, S3):
waiting for the archive to catch up, reading it back with real DuckDB, and
checking that it holds every stored event exactly once, byte for byte."""

import os
import re
import subprocess
import time
from collections import Counter
from pathlib import Path


from conftest import REPO, call, duckdb_query, wait_until

NAME_RE = re.compile(r"^events/date=(\d{4}-\d{2}-\d{2})/type=([A-Za-z0-9_.-]+)/"
                     r"part-(\d{20})-(\d{20})-([0-9a-f]{16})\.parquet$")
COLUMNS = "position, id, type, kind, time, key, headers, payload"


def cli_bin():
    """The tincan CLI: $TINCAN_CLI, else the one beside the server under test
    (build/asan/tincan for build/asan/tincan-server), else build/tincan."""
    if os.environ.get("TINCAN_CLI"):
        return Path(os.environ["TINCAN_CLI"]).resolve()
    if os.environ.get("TINCAN_BIN"):
        p = Path(os.environ["TINCAN_BIN"]).resolve().parent / "tincan"
        if p.exists():
            return p
    return REPO / os.environ.get("BUILD", "build") / "tincan"


def run_cli(*args, env=None, timeout=300, check=None):
    """Runs the CLI; returns the CompletedProcess (text). check=N asserts the
    exit status."""
    e = dict(os.environ)
    e.update(env or {})
    p = subprocess.run([str(cli_bin())] + [str(a) for a in args], capture_output=True,
                       text=True, timeout=timeout, env=e, stdin=subprocess.DEVNULL)
    if check is not None:
        assert p.returncode == check, "tincan %s: exit %d\nstdout:%s\nstderr:%s" % (
            " ".join(map(str, args)), p.returncode, p.stdout, p.stderr)
    for marker in ("ERROR: AddressSanitizer", "runtime error:", "LeakSanitizer"):
        assert marker not in p.stderr, p.stderr
    return p


def info(r):
    """ARCHIVE.INFO as a dict (str keys)."""
    v = call(r, "ARCHIVE.INFO")
    if not isinstance(v, dict):
        v = dict(zip(v[::2], v[1::2]))
    return {(k.decode() if isinstance(k, bytes) else k):
            (x.decode() if isinstance(x, bytes) else x) for k, x in v.items()}


def archived_up_to(r, timeout=60.0):
    """ARCHIVE.FLUSH, then waits until the cursor covers every event stored
    when it was called; returns ARCHIVE.INFO then."""
    want = call(r, "ARCHIVE.FLUSH")
    got = {}

    def done():
        got.update(info(r))
        return got["cursor"] >= want and got["committing_to"] == 0

    wait_until(done, timeout=timeout, interval=0.05,
               what="archive cursor to reach %d (last ARCHIVE.INFO %r)" % (want, got))
    return got


def files_under(root):
    """Every archive file below root, as keys relative to root."""
    root = Path(root)
    return sorted(str(p.relative_to(root)) for p in root.rglob("*.parquet")
                  if ".staging" not in p.parts)


def check_names(keys):
    """Every key has the archive's layout; returns the parsed names."""
    out = []
    for k in keys:
        m = NAME_RE.match(k)
        assert m, "archive file %r does not have the Hive layout" % k
        out.append((m.group(1), m.group(2), int(m.group(3)), int(m.group(4)), m.group(5)))
    return out


def read_rows(glob):
    """Every row of the archive files matching glob, via DuckDB, by position."""
    return duckdb_query("SELECT %s, CAST(date AS VARCHAR) AS date, filename FROM "
                        "read_parquet('%s', hive_partitioning=true, filename=true) "
                        "ORDER BY position" % (COLUMNS, glob))


def rec(reply):
    if reply is None or isinstance(reply, dict):
        return reply
    return dict(zip(reply[::2], reply[1::2]))


def stored_events(r):
    """Every stored event as EV.RANGE gives it (bytes client), by position."""
    out, after = [], 0
    while True:
        page = call(r, "EV.RANGE", "#", "FROM", "@%d" % (after + 1), "COUNT", 1000)
        if not page:
            return out
        for e in page:
            e = {k.decode(): v for k, v in rec(e).items()}
            out.append(e)
        after = out[-1]["position"]


def assert_exactly_once(rows, events):
    """The archive rows hold each stored event once, with every field equal
    (payload byte-identical), and nothing else."""
    positions = [row["position"] for row in rows]
    dups = sorted(p for p, n in Counter(positions).items() if n > 1)
    assert not dups, "positions archived more than once: %r" % dups[:20]
    want = {e["position"]: e for e in events}
    missing = sorted(set(want) - set(positions))
    extra = sorted(set(positions) - set(want))
    assert not missing, "stored events not archived: %r" % missing[:20]
    assert not extra, "archived positions the store does not have: %r" % extra[:20]
    for row in rows:
        e = want[row["position"]]
        assert row["payload"] == e["payload"].hex(), row["position"]
        assert row["type"] == e["type"].decode()
        assert row["id"] == e["id"].decode()
        assert row["kind"] == e["kind"].decode()
        assert row["time"] == e["time"]
        assert row["key"] == (e["key"].decode() if e["key"] is not None else None)
        hdrs = e["headers"]
        if not isinstance(hdrs, dict):
            hdrs = dict(zip(hdrs[::2], hdrs[1::2])) if hdrs else {}
        got = {kv["key"]: kv["value"] for kv in row["headers"]}
        assert got == {k.decode(): v.decode() for k, v in hdrs.items()}, row["position"]
        day = time.strftime("%Y-%m-%d", time.gmtime(e["time"] / 1000))
        assert row["date"] == day
        assert "/type=%s/" % row["type"] in row["filename"]
        assert "/date=%s/" % day in row["filename"]


def publish_mix(r, n, start=0, big_every=0):
    """Publishes n events over a few types, with keys, headers, binary
    payloads and commands; returns their positions."""
    out = []
    for i in range(start, start + n):
        t = ("order.created", "order.paid", "user.signup", "billing.invoice.sent")[i % 4]
        payload = bytes([i % 256, 0, 255, 10, 13]) + (b"\xff\xfe" * (i % 7)) + \
            str(i).encode()
        if big_every and i % big_every == 0:
            payload += os.urandom(20000)
        args = ["EV.PUB", t, payload]
        if i % 3 == 0:
            args += ["KEY", "cust-%d" % (i % 10)]
        if i % 5 == 0:
            args += ["KIND", "command"]
        if i % 6 == 0:
            args += ["ID", "id-%d" % i]
        if i % 4 == 1:
            args += ["HDR", "trace", "t%d" % i, "ct", "application/json"]
        out.append(call(r, *args))
    return out

