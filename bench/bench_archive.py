"""Archive benchmark rows (issue 12) for bench/bench.py.

1. Export throughput. A data dir of BENCH_ARCHIVE_EVENTS (default 10M, the
   issue's size; scaled) events of 100 B JSON-like payloads (loadgen
   --payload-kind json: every payload different, so zstd meets data shaped
   like real events, not one repeated byte) in 8 types, filled through the
   server (8 loadgen publish-tincan processes x 4 clients, pipeline 64, fsync
   everysec). The server is stopped, then `tincan export --dir D --to OUT
   --quiet` is timed as a whole process. Peer: DuckDB turning the same
   events, as JSON lines written beforehand (untimed, from the first export's
   files, in position order), into one zstd Parquet file with
   COPY (SELECT * FROM read_json(...)) TO ... (FORMAT parquet, COMPRESSION
   zstd), timed inside DuckDB (bench/duckdb_run.js: node's start-up is not
   counted, so the peer is favoured by ~0.1 s). Both read warm files (the
   page cache holds the segments and the JSON). Target >= 1x in events/s.
   The disk's sequential write speed (dd ... conv=fdatasync, 1 GiB) is
   measured in the same run and shown beside the Parquet MB/s each writes.
2. Archiver beside a durable publish load: 8 loadgen publish-tincan
   processes x 4 clients, pipeline 1, fsync always, for BENCH_ARCHIVE_SECONDS
   (default 5; 2 at small scales), into a tincan without the archive and one
   with --archive-to DIR --archive-max-age 1, rounds alternating. After each
   round with the archive: ARCHIVE.FLUSH, then ARCHIVE.INFO polled until its
   cursor reaches the flushed position (the time that took is in the note).
   Target >= 0.90 ("publish rate drops < 10%"). At least
   BENCH_ARCHIVE_ROUNDS (default 5) rounds: single runs vary by +-15% here.
3. A question over history, DuckDB over the archive of row 1 vs EV.RANGE on
   the server: "the payloads (count, bytes) of type bench.t3 between
   positions N/4 and 3N/4". DuckDB: read_parquet(..., hive_partitioning =
   true) WHERE type = ... AND position BETWEEN ..., in a fresh DuckDB each
   round, timed inside it. tincan: loadgen range-tincan (one C client,
   EV.RANGE ... COUNT 10000 FIELDS position,payload, paged). No target; both
   answers are checked to agree.
"""

import os
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path

import bench
from bench import Row, LOADGEN, REPO, RUN_TIMEOUT

TITLE = "Archive (issue 12)"

EVENTS = int(os.environ.get("BENCH_ARCHIVE_EVENTS", "10000000"))
TYPES = ["bench.t%d" % i for i in range(8)]
# the fsync-always publish rate on a shared 2-core machine varies by +-15%
# between 5 s runs: this row takes more rounds than the others
ROW2_ROUNDS = int(os.environ.get("BENCH_ARCHIVE_ROUNDS", "5"))
TINCAN_CLI = bench.BUILD / "tincan"
DUCKDB_RUN = REPO / "bench" / "duckdb_run.js"


# ---- helpers -------------------------------------------------------------

def resp(srv, *args, timeout=30):
    """One command over a raw socket; the RESP2 reply as Python values."""
    with socket.create_connection((srv.host, srv.port), timeout=timeout) as s:
        out = b"*%d\r\n" % len(args)
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            out += b"$%d\r\n%s\r\n" % (len(a), a)
        s.sendall(out)
        f = s.makefile("rb")

        def parse():
            line = f.readline()
            if not line:
                raise RuntimeError("connection closed")
            t, rest = line[:1], line[1:-2]
            if t == b"+":
                return rest.decode()
            if t == b"-":
                raise RuntimeError("%s: %s" % (args[0], rest.decode()))
            if t == b":":
                return int(rest)
            if t == b"$":
                n = int(rest)
                if n < 0:
                    return None
                data = f.read(n + 2)[:-2]
                return data.decode(errors="replace")
            if t == b"*":
                n = int(rest)
                return None if n < 0 else [parse() for _ in range(n)]
            raise RuntimeError("unexpected reply %r" % line)
        return parse()


def record(flat):
    return dict(zip(flat[::2], flat[1::2]))


def duckdb(*sql, timeout=None):
    """Runs statements in one fresh DuckDB; [(ms, first row)] per statement."""
    p = subprocess.run(["node", str(DUCKDB_RUN)] + list(sql), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=timeout or RUN_TIMEOUT)
    if p.returncode != 0:
        raise RuntimeError("duckdb: %s" % p.stderr.decode()[-1000:])
    import json
    res = json.loads(p.stdout.decode().strip().splitlines()[-1])
    return list(zip(res["ms"], res["rows"]))


def tree_bytes(d):
    return sum(f.stat().st_size for f in Path(d).rglob("*") if f.is_file())


def publish_parallel(srv, per_type, clients, pipeline, seconds, fsync_note=""):
    """8 loadgen publish-tincan processes (one per type) at once; the sum of
    their events/s, and the events published."""
    procs = []
    for i, typ in enumerate(TYPES):
        argv = [str(LOADGEN), "publish-tincan", "--host", srv.host, "--port", str(srv.port),
                "--clients", str(clients), "--pipeline", str(pipeline),
                "--count", str(per_type[i]), "--seconds", str(int(seconds)),
                "--type", typ, "--payload-kind", "json"]
        procs.append(subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE))
    import json
    rate, ops, errs = 0.0, 0, []
    for p in procs:
        try:
            out, err = p.communicate(timeout=seconds + RUN_TIMEOUT)
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate()
            errs.append("loadgen timed out")
            continue
        try:
            res = json.loads(out.decode().strip().splitlines()[-1])
        except (ValueError, IndexError):
            errs.append("loadgen printed no result: %s" % err.decode()[-300:])
            continue
        if p.returncode != 0 or res["errors"]:
            errs.append("loadgen: %s" % res["error"])
        rate += res["ops_per_s"]
        ops += res["ops"]
    if errs:
        raise RuntimeError("; ".join(errs))
    return rate, ops


def disk_write_mb_s(d):
    """Sequential write speed of the disk holding d: dd 1 GiB, fdatasync."""
    f = Path(d) / "ddtest"
    try:
        t0 = time.monotonic()
        subprocess.run(["dd", "if=/dev/zero", "of=%s" % f, "bs=1M", "count=1024",
                        "conv=fdatasync"], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=RUN_TIMEOUT, check=True)
        return 1024 * 1024 * 1024 / 1e6 / (time.monotonic() - t0)
    finally:
        f.unlink(missing_ok=True)


def split(n, parts):
    return [n // parts + (i < n % parts) for i in range(parts)]


# ---- rows ----------------------------------------------------------------

def run(ctx):
    if shutil.which("node") is None or not (
            REPO / "tests" / "tools" / "node" / "node_modules" / "@duckdb").exists():
        subprocess.run(["sh", str(REPO / "scripts" / "node-tools.sh")], check=True,
                       timeout=600)
    if not TINCAN_CLI.exists():
        raise RuntimeError("%s not built (make cli)" % TINCAN_CLI)
    work = ctx.tmp / "archive-bench"
    work.mkdir(parents=True, exist_ok=True)
    try:
        export_row, query_row = export_and_query(ctx, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return [export_row, archiver_row(ctx), query_row]


def export_and_query(ctx, work):
    n = ctx.scaled(EVENTS)
    big = max(RUN_TIMEOUT, n / 20_000)  # s: a bound for one run at this size

    # the data dir, filled through the server
    with ctx.tincan(["--fsync", "everysec"], name="tincan-export") as t:
        t0 = time.monotonic()
        _, published = publish_parallel(t, split(n, len(TYPES)), clients=4, pipeline=64,
                                        seconds=big)
        fill_s = time.monotonic() - t0
        if published != n:
            raise RuntimeError("filled %d events, not %d" % (published, n))
        data = t.dir / "data"
    try:
        return measure(ctx, work, n, big, data, fill_s)
    finally:
        shutil.rmtree(t.dir, ignore_errors=True)  # the big data dir


def measure(ctx, work, n, big, data, fill_s):

    # the first export: the archive for the JSON lines and for row 3 (untimed)
    archive = work / "archive"
    out = subprocess.run([str(TINCAN_CLI), "export", "--dir", str(data), "--to", str(archive)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=big)
    if out.returncode != 0:
        raise RuntimeError("tincan export: %s" % out.stderr.decode()[-1000:])
    summary = (out.stdout + out.stderr).decode().strip().splitlines()[-1]
    m = re.search(r"exported (\d+) events \((\d+) bytes of segments read\)", summary)
    if not m or int(m.group(1)) != n:
        raise RuntimeError("tincan export: unexpected summary %r" % summary)
    seg_read = int(m.group(2))
    glob = "%s/events/**/*.parquet" % archive
    jsonl = work / "events.jsonl"
    duckdb("COPY (SELECT position, id, type, kind, "
           "strftime(time, '%%Y-%%m-%%dT%%H:%%M:%%S.%%gZ') AS time, key, headers, "
           "decode(payload) AS payload FROM read_parquet('%s') ORDER BY position) "
           "TO '%s' (FORMAT json)" % (glob, jsonl), timeout=max(600, n / 5_000))
    jsonl_bytes = jsonl.stat().st_size

    disk = disk_write_mb_s(work)
    written = {"tincan": [], "duckdb": []}

    export_to = work / "export-out"

    def tincan_export():
        shutil.rmtree(export_to, ignore_errors=True)
        t0 = time.monotonic()
        subprocess.run([str(TINCAN_CLI), "export", "--dir", str(data), "--to", str(export_to),
                        "--quiet"], check=True, timeout=big, stdout=subprocess.DEVNULL)
        s = time.monotonic() - t0
        written["tincan"].append((tree_bytes(export_to), s))
        shutil.rmtree(export_to, ignore_errors=True)
        return n / s

    parquet = work / "out.parquet"

    def duckdb_copy():
        parquet.unlink(missing_ok=True)
        (ms, row), = duckdb("COPY (SELECT * FROM read_json('%s', format='newline_delimited')) "
                            "TO '%s' (FORMAT parquet, COMPRESSION zstd)" % (jsonl, parquet),
                            timeout=big)
        if int(row[0]) != n:
            raise RuntimeError("DuckDB copied %s rows, not %d" % (row[0], n))
        written["duckdb"].append((parquet.stat().st_size, ms / 1000))
        parquet.unlink(missing_ok=True)
        return n / (ms / 1000)

    export_row = ctx.compare(
        "export %d events (100 B, 8 types) to Parquet" % n,
        tincan=tincan_export, peer=duckdb_copy,
        peer_name="DuckDB JSON lines -> Parquet", target=1.0, unit="events/s",
        command="tincan export --dir D --to OUT --quiet (whole process) vs DuckDB "
                "COPY (SELECT * FROM read_json('events.jsonl', format='newline_delimited')) "
                "TO 'out.parquet' (FORMAT parquet, COMPRESSION zstd) (timed inside DuckDB)")

    def mb_s(pairs):
        rates = sorted(b / s / 1e6 for b, s in pairs)
        return rates[len(rates) // 2], pairs[0][0] / 1e6

    tw, tsize = mb_s(written["tincan"])
    dw, dsize = mb_s(written["duckdb"])
    tsec = sorted(s for _, s in written["tincan"])[len(written["tincan"]) // 2]
    export_row.notes = (
        "data dir filled through the server in %.1f s (%.0f events/s: 8 loadgen "
        "publish-tincan x 4 clients, pipeline 64, fsync everysec, --payload-kind json); "
        "tincan reads %.0f MB of segments (%.0f MB/s) and writes %.1f MB of Parquet "
        "(%.1f MB/s), DuckDB reads %.0f MB of JSON lines and writes %.1f MB (%.1f MB/s); "
        "disk sequential write (dd 1 GiB, conv=fdatasync, same run): %.0f MB/s, so "
        "tincan's Parquet output uses %.0f%% of it. Both from the page cache (warm); "
        "DuckDB uses every core (%d), tincan export one thread"
        % (fill_s, n / fill_s, seg_read / 1e6, seg_read / 1e6 / tsec, tsize, tw,
           jsonl_bytes / 1e6, dsize, dw, disk, 100 * tw / disk, os.cpu_count() or 0))
    jsonl.unlink(missing_ok=True)

    # row 3: one question over history, on the same events
    typ = "bench.t3"
    lo, hi = max(1, n // 4), max(1, 3 * n // 4)
    answers = {}
    sql = ("SELECT count(*), sum(octet_length(payload)) FROM read_parquet('%s', "
           "hive_partitioning = true) WHERE type = '%s' AND position BETWEEN %d AND %d"
           % (glob, typ, lo, hi))

    def duck_query():
        (ms, row), = duckdb(sql)
        answers["duckdb"] = (int(row[0]), int(row[1] or 0))
        return ms

    with ctx.tincan(["--dir", str(data)], name="tincan-range") as t:
        def ev_range():
            res = ctx.loadgen("range-tincan", t, type=typ, seconds=int(big),
                              **{"from": lo, "to": hi})
            answers["tincan"] = (res["ops"], res["bytes"])
            return res["seconds"] * 1000
        query_row = ctx.compare(
            "payloads of one type between two positions (%d events)" % (n // len(TYPES) // 2),
            tincan=ev_range, peer=duck_query, peer_name="DuckDB over the archive",
            target=None, unit="ms", higher_is_better=False,
            command="EV.RANGE %s FROM @%d TO @%d COUNT 10000 FIELDS position,payload, "
                    "paged (loadgen range-tincan) vs DuckDB %s" % (
                        typ, lo, hi, sql.replace(str(work), "WORK")))
    if answers["tincan"] != answers["duckdb"]:
        raise RuntimeError("row 3: EV.RANGE found %r, DuckDB %r" % (
            answers["tincan"], answers["duckdb"]))
    query_row.name = "%s: %d events, %d payload bytes" % (
        "payloads of one type between two positions", *answers["tincan"])
    query_row.notes = (
        "ratio = DuckDB ms / EV.RANGE ms (> 1: EV.RANGE answers sooner), informational. "
        "DuckDB: a fresh in-memory DuckDB per round, statement timed inside it, archive "
        "files (%d) warm in the page cache; it reads only the type=%s partition and the row "
        "groups whose position statistics overlap. EV.RANGE: one C client (hiredis), "
        "RESP2, server started on the exported data dir; both answers agree"
        % (sum(1 for _ in (work / "archive" / "events").rglob("*.parquet")), typ))
    return export_row, query_row


def archiver_row(ctx):
    seconds = int(os.environ.get("BENCH_ARCHIVE_SECONDS", "5" if ctx.scale >= 0.5 else "2"))
    catchup = []
    arch_info = {}
    per_type = [10 ** 9] * len(TYPES)  # run for the time, not a count
    archive_dir = ctx.tmp / "archiver-target"
    with ctx.tincan(["--fsync", "always"], name="tincan-noarchive") as plain, \
            ctx.tincan(["--fsync", "always", "--archive-to", str(archive_dir),
                        "--archive-max-age", "1"], name="tincan-archive") as arch:
        def without():
            return publish_parallel(plain, per_type, clients=4, pipeline=1,
                                    seconds=seconds)[0]

        def with_archive():
            rate, _ = publish_parallel(arch, per_type, clients=4, pipeline=1,
                                       seconds=seconds)
            t0 = time.monotonic()
            pos = resp(arch, "ARCHIVE.FLUSH")
            deadline = t0 + RUN_TIMEOUT
            while True:
                info = record(resp(arch, "ARCHIVE.INFO"))
                if info["cursor"] >= pos:
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError("archive cursor %d did not reach %d in %.0f s: %r" % (
                        info["cursor"], pos, RUN_TIMEOUT, info))
                time.sleep(0.01)
            catchup.append((time.monotonic() - t0) * 1000)
            arch_info.update(info)
            arch_info["flushed"] = pos
            return rate

        rounds, ctx.rounds = ctx.rounds, max(ctx.rounds, ROW2_ROUNDS)
        try:
            row = ctx.compare(
                "EV.PUB fsync always, 32 clients, with the archiver",
                tincan=with_archive, peer=without, peer_name="tincan without archive",
                target=0.90, unit="events/s",
                command="8 x loadgen publish-tincan --clients 4 --pipeline 1 --seconds %d "
                        "--payload-kind json (one type each), fsync always; tincan "
                        "--archive-to DIR --archive-max-age 1 vs no archive" % seconds)
        finally:
            ctx.rounds = rounds
    row.notes = (
        "after each round with the archive, ARCHIVE.FLUSH then ARCHIVE.INFO polled: the "
        "cursor reached the flushed position every round, in %s ms; at the end cursor %d "
        ">= flushed %d, %d events in %d files (%.1f MB), %d batches, %d errors, state %s"
        % (", ".join("%.0f" % c for c in catchup), arch_info["cursor"], arch_info["flushed"],
           arch_info["events"], arch_info["files"], arch_info["bytes"] / 1e6,
           arch_info["batches"], arch_info["errors"], arch_info["state"]))
    shutil.rmtree(archive_dir, ignore_errors=True)
    return row
