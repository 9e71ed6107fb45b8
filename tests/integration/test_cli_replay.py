"""`tincan replay --sub NAME --positions FILE` (issue 12): the positions a
query wrote, as Parquet or CSV from a real DuckDB (tests/tools/node), are read
by the CLI's own Parquet reader and replayed into a subscription; EV.READ then
gives exactly those events, in position order.

The files cover what engines write: DuckDB's default (SNAPPY), ZSTD, GZIP,
UNCOMPRESSED, small row groups (many of them, the column not first), a
dictionary-encoded column (low cardinality), the column after STRUCT, LIST
and MAP columns, PARQUET_VERSION v2
(DELTA_BINARY_PACKED), INT32, CSV with a header (plain and Athena-style all
quoted), headerless CSV, gzip'ed CSV, and a Parquet file named .csv. Each
file's encodings are checked with DuckDB's parquet_metadata() so a case
tests what it says. (DuckDB writes v1 data pages even for v2; data page v2
is covered by the unit tests on hand-built files.)

The CLI binary: $TINCAN_CLI, else $BUILD/tincan, else build/tincan (the ASan
build: make asan-cli, TINCAN_CLI=build/asan/tincan). A sanitizer report in
its stderr fails the test.
"""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import REPO, SANITIZER_MARKERS

NODE_DIR = REPO / "tests" / "tools" / "node"
DUCKDB_EXEC = NODE_DIR / "duckdb_exec.js"


def cli_bin():
    if os.environ.get("TINCAN_CLI"):
        return Path(os.environ["TINCAN_CLI"]).resolve()
    if os.environ.get("BUILD"):
        return (REPO / os.environ["BUILD"] / "tincan").resolve()
    return REPO / "build" / "tincan"


@pytest.fixture(scope="module")
def duckdb():
    """duckdb(sql, ..., cwd=dir, rows=False) runs statements in DuckDB (Node);
    with rows=True returns the last statement's rows as lists of strings."""
    if not shutil.which("node"):
        pytest.skip("node is not installed (scripts/deps.sh installs it)")
    setup = subprocess.run(["sh", str(REPO / "scripts" / "node-tools.sh")],
                           capture_output=True, text=True)
    if setup.returncode != 0:
        pytest.fail("scripts/node-tools.sh failed: %s" % setup.stderr)

    def run(*sql, cwd, rows=False):
        env = dict(os.environ)
        if rows:
            env["DUCKDB_EXEC_PRINT"] = "1"
        p = subprocess.run(["node", str(DUCKDB_EXEC)] + list(sql), cwd=str(cwd),
                           capture_output=True, text=True, env=env, timeout=120)
        assert p.returncode == 0, "duckdb failed: %s" % p.stderr
        if rows:
            return [line.split("\t") for line in p.stdout.splitlines()]
        return None
    return run


def run_cli(*args, env=None, timeout=120):
    """Runs the CLI; returns the CompletedProcess (text). Fails on a sanitizer
    report."""
    binary = cli_bin()
    if not binary.exists():
        pytest.fail("CLI binary %s does not exist (make cli, or set TINCAN_CLI)" % binary)
    e = dict(os.environ)
    e.setdefault("ASAN_OPTIONS", "abort_on_error=0:halt_on_error=1:detect_leaks=1")
    e.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
    e.pop("TINCAN_PASSWORD", None)
    e.update(env or {})
    p = subprocess.run([str(binary)] + [str(a) for a in args], capture_output=True,
                       text=True, env=e, timeout=timeout)
    for m in SANITIZER_MARKERS:
        assert m not in p.stderr, "sanitizer report from the CLI:\n" + p.stderr
    return p


def dry_run(path, *extra):
    p = run_cli("replay", "--sub", "x", "--positions", path, "--dry-run", *extra)
    assert p.returncode == 0, p.stderr
    return [int(x) for x in p.stdout.split()], p.stderr


def chunk_meta(duckdb, tmp_path, name, column="position"):
    """(row groups, set of encodings, set of codecs) of the file's column."""
    rows = duckdb("SELECT row_group_id, encodings, compression FROM "
                  "parquet_metadata('%s') WHERE path_in_schema = '%s'" % (name, column),
                  cwd=tmp_path, rows=True)
    return (len({r[0] for r in rows}), {e.strip() for r in rows for e in r[1].split(",")},
            {r[2] for r in rows})


# name, the SELECT giving `position` (and maybe more columns), COPY options,
# the Python values of the positions, what parquet_metadata must show
N = 12000
SEQ = list(range(1, N + 1))
CASES = [
    ("snappy.parquet", "SELECT i AS position FROM range(1, %d) t(i) ORDER BY hash(i)" % (N + 1),
     "FORMAT parquet", SEQ, {"codec": "SNAPPY"}),
    ("zstd.parquet", "SELECT i AS position FROM range(1, %d) t(i) ORDER BY hash(i)" % (N + 1),
     "FORMAT parquet, COMPRESSION zstd", SEQ, {"codec": "ZSTD"}),
    ("gzip.parquet", "SELECT i AS position FROM range(1, %d) t(i) ORDER BY hash(i)" % (N + 1),
     "FORMAT parquet, COMPRESSION gzip", SEQ, {"codec": "GZIP"}),
    ("plain.parquet", "SELECT i AS position FROM range(1, %d) t(i)" % (N + 1),
     "FORMAT parquet, COMPRESSION uncompressed", SEQ, {"codec": "UNCOMPRESSED"}),
    ("groups.parquet",
     "SELECT 'order.created' AS type, i * 3 AS position, 'payload, \"' || i || '\"' AS payload "
     "FROM range(1, %d) t(i)" % (N + 1),
     "FORMAT parquet, ROW_GROUP_SIZE 2048", [i * 3 for i in SEQ], {"row_groups": 5}),
    ("dict.parquet", "SELECT (i %% 50) * 7 + 1 AS position FROM range(0, %d) t(i)" % N,
     "FORMAT parquet", sorted({(i % 50) * 7 + 1 for i in range(N)}),
     {"encoding": "PLAIN_DICTIONARY"}),
    ("v2.parquet",
     "SELECT (i * 7919) %% 100003 + 1 AS position FROM range(0, %d) t(i)" % N,
     "FORMAT parquet, PARQUET_VERSION v2, COMPRESSION zstd",
     sorted({(i * 7919) % 100003 + 1 for i in range(N)}),
     {"encoding": "DELTA_BINARY_PACKED"}),
    ("v2dict.parquet", "SELECT (i %% 9) + 100 AS position FROM range(0, %d) t(i)" % N,
     "FORMAT parquet, PARQUET_VERSION v2", list(range(100, 109)),
     {"encoding": "RLE_DICTIONARY"}),
    ("nested.parquet",
     "SELECT {'a': i, 'b': 'x'} AS s, [i, i + 1] AS l, MAP {'k': 'v' || i} AS m, "
     "i + 40 AS position FROM range(1, 3001) t(i)",
     "FORMAT parquet", list(range(41, 3041)), {}),
    ("int32.parquet", "SELECT (i * 2)::INTEGER AS position FROM range(1, 3001) t(i)",
     "FORMAT parquet", [i * 2 for i in range(1, 3001)], {}),
    ("header.csv",
     "SELECT 'order.created' AS type, i AS position, 'a, \"b\"' AS payload "
     "FROM range(1, 2001) t(i) ORDER BY hash(i)",
     "HEADER", list(range(1, 2001)), {}),
    ("athena.csv", "SELECT i AS position, 'x,y' AS note FROM range(5, 905) t(i)",
     "HEADER, FORCE_QUOTE *", list(range(5, 905)), {}),
    ("bare.csv", "SELECT i AS position FROM range(1, 501) t(i)",
     "HEADER false", list(range(1, 501)), {}),
    ("gz.csv.gz", "SELECT i AS position FROM range(1, 501) t(i)",
     "HEADER, COMPRESSION gzip", list(range(1, 501)), {}),
    ("looks_like.csv", "SELECT i AS position FROM range(10, 20) t(i)",
     "FORMAT parquet", list(range(10, 20)), {}),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_reads_what_duckdb_writes(duckdb, tmp_path, case):
    name, select, opts, want, meta = case
    duckdb("COPY (%s) TO '%s' (%s)" % (select, name, opts), cwd=tmp_path)
    if "parquet" in opts:
        groups, encodings, codecs = chunk_meta(duckdb, tmp_path, name)
        if "codec" in meta:
            assert codecs == {meta["codec"]}
        if "row_groups" in meta:
            assert groups >= meta["row_groups"]
        if "encoding" in meta:
            assert meta["encoding"] in encodings, encodings
    got, err = dry_run(tmp_path / name)
    assert got == want
    assert "dry run, nothing sent" in err
    if "row_groups" in meta:
        assert "%d row groups" % groups in err


def test_directory_of_files(duckdb, tmp_path):
    """Spark, Athena's UNLOAD and DuckDB's PARTITION_BY / PER_THREAD_OUTPUT
    write a directory of files: every file under it is read (names starting
    with '_' or '.' skipped), CSV and Parquet mixed."""
    duckdb("SET threads = 2",
           "COPY (SELECT 'order.' || (i % 3) AS type, i AS position FROM range(1, 3001) t(i)) "
           "TO 'hive' (FORMAT parquet, PARTITION_BY (type))",
           "COPY (SELECT i AS position FROM range(5000, 9000) t(i)) "
           "TO 'threads' (FORMAT parquet, PER_THREAD_OUTPUT)",
           cwd=tmp_path)
    assert len(list((tmp_path / "hive").glob("type=*/*.parquet"))) == 3
    (tmp_path / "hive" / "_SUCCESS").write_text("")
    (tmp_path / "hive" / ".part.crc").write_text("garbage")
    (tmp_path / "hive" / "extra.csv").write_text("position\n2999\n3000\n4000\n")
    got, err = dry_run(tmp_path / "hive")
    assert got == list(range(1, 3001)) + [4000]
    assert "parquet+csv: 4 files" in err
    got, err = dry_run(tmp_path / "threads")
    assert got == list(range(5000, 9000))
    (tmp_path / "empty").mkdir()
    p = run_cli("replay", "--sub", "x", "--positions", tmp_path / "empty", "--dry-run")
    assert p.returncode == 1 and "no files in the directory" in p.stderr
    (tmp_path / "hive" / "bad.csv").write_text("position\nx\n")
    p = run_cli("replay", "--sub", "x", "--positions", tmp_path / "hive", "--dry-run")
    assert p.returncode == 1 and "bad.csv: line 2:" in p.stderr


def test_reads_what_tincan_writes(tmp_path):
    """tincan's own archive files (src/archive/parquet.c: ZSTD, PLAIN, v1 pages, a MAP
    column among the others), through the parquet_sample tool: its `time`
    column (INT64, positive; `position` there holds negative test values)."""
    tool = REPO / os.environ.get("BUILD", "build") / "tools" / "parquet_sample"
    if not tool.exists():
        pytest.skip("%s not built (make tools, with src/archive/parquet.c)" % tool)
    rows = 20000
    for extra in ([], ["65536", "8192"]):
        f = tmp_path / "sample.parquet"
        p = subprocess.run([str(tool), str(f), str(rows)] + extra, capture_output=True,
                           text=True)
        assert p.returncode == 0, p.stderr
        want = sorted({1700000000000 + (i * 104729) % 86400000 for i in range(rows)})
        got, err = dry_run(f, "--column", "time")
        assert got == want
        p = run_cli("replay", "--sub", "x", "--positions", f, "--dry-run")
        assert p.returncode == 1 and "is not positive" in p.stderr


def test_standard_input(duckdb, tmp_path):
    """--positions - reads the standard input: CSV straight from a query
    (COPY ... TO '/dev/stdout'), or a Parquet file piped in."""
    duckdb("COPY (SELECT i AS position FROM range(1, 3001) t(i) ORDER BY hash(i)) "
           "TO 'p.parquet' (FORMAT parquet, COMPRESSION zstd)", cwd=tmp_path)
    env = dict(os.environ)
    env.setdefault("ASAN_OPTIONS", "halt_on_error=1:detect_leaks=1")
    node = subprocess.Popen(["node", str(DUCKDB_EXEC),
                             "COPY (SELECT i * 2 AS position FROM range(1, 2001) t(i)) "
                             "TO '/dev/stdout' (HEADER)"],
                            stdout=subprocess.PIPE, cwd=str(tmp_path))
    p = subprocess.run([str(cli_bin()), "replay", "--sub", "x", "--positions", "-",
                        "--dry-run"], stdin=node.stdout, capture_output=True, text=True,
                       env=env, timeout=60)
    node.stdout.close()
    assert node.wait() == 0
    assert p.returncode == 0, p.stderr
    assert [int(x) for x in p.stdout.split()] == [i * 2 for i in range(1, 2001)]
    with open(tmp_path / "p.parquet", "rb") as f:
        p = subprocess.run([str(cli_bin()), "replay", "--sub", "x", "--positions", "-",
                            "--dry-run"], stdin=f, capture_output=True, text=True,
                           env=env, timeout=60)
    assert p.returncode == 0, p.stderr
    assert [int(x) for x in p.stdout.split()] == list(range(1, 3001))
    for m in SANITIZER_MARKERS:
        assert m not in p.stderr


def test_column_option_and_missing_column(duckdb, tmp_path):
    duckdb("COPY (SELECT i AS pos, i * 10 AS other FROM range(1, 11) t(i)) "
           "TO 'c.parquet' (FORMAT parquet)",
           "COPY (SELECT i AS pos FROM range(1, 11) t(i)) TO 'c.csv' (HEADER)",
           cwd=tmp_path)
    assert dry_run(tmp_path / "c.parquet", "--column", "other")[0] == \
        [i * 10 for i in range(1, 11)]
    assert dry_run(tmp_path / "c.csv", "--column", "pos")[0] == list(range(1, 11))
    for f in ("c.parquet", "c.csv"):
        p = run_cli("replay", "--sub", "x", "--positions", tmp_path / f, "--dry-run")
        assert p.returncode == 1
        assert "no column 'position'" in p.stderr and "pos" in p.stderr


def test_null_and_bad_values_are_named(duckdb, tmp_path):
    duckdb("COPY (SELECT CASE WHEN i = 5000 THEN NULL ELSE i END AS position "
           "FROM range(1, 9001) t(i)) TO 'n.parquet' (FORMAT parquet, ROW_GROUP_SIZE 2048)",
           "COPY (SELECT 'x' AS payload, i - 3 AS position FROM range(1, 11) t(i)) "
           "TO 'neg.parquet' (FORMAT parquet)",
           "COPY (SELECT 'abc' AS position) TO 's.parquet' (FORMAT parquet)",
           cwd=tmp_path)
    p = run_cli("replay", "--sub", "x", "--positions", tmp_path / "n.parquet", "--dry-run")
    assert p.returncode == 1
    assert "column 'position' is null in row 5000" in p.stderr
    p = run_cli("replay", "--sub", "x", "--positions", tmp_path / "neg.parquet", "--dry-run")
    assert p.returncode == 1
    assert "row 1: position value -2 is not positive" in p.stderr
    p = run_cli("replay", "--sub", "x", "--positions", tmp_path / "s.parquet", "--dry-run")
    assert p.returncode == 1
    assert "BYTE_ARRAY, not INT64 or INT32" in p.stderr
    (tmp_path / "b.csv").write_text("position\n1\n\n2\n3.5\n")
    p = run_cli("replay", "--sub", "x", "--positions", tmp_path / "b.csv", "--dry-run")
    assert p.returncode == 1
    assert "line 5: position value '3.5' is not an integer" in p.stderr
    # a cut Parquet file: an error, never a crash
    data = (tmp_path / "neg.parquet").read_bytes()
    for cut in (len(data) - 1, len(data) // 2, 8):
        (tmp_path / "cut.parquet").write_bytes(data[:cut])
        p = run_cli("replay", "--sub", "x", "--positions", tmp_path / "cut.parquet",
                    "--dry-run")
        assert p.returncode == 1, p.stderr
        assert p.stderr.startswith("tincan replay: ")


def test_usage_and_exit_codes(tmp_path):
    p = run_cli("replay", "--help")
    assert p.returncode == 0 and "--positions FILE" in p.stdout and "--dry-run" in p.stdout
    f = tmp_path / "p.csv"
    f.write_text("1\n")
    for args in ([], ["--sub", "x"], ["--positions", f], ["--sub", "x", "--positions"],
                 ["--sub", "x", "--positions", f, "--batch", "0"],
                 ["--sub", "x", "--positions", f, "--batch", "1000001"],
                 ["--sub", "x", "--positions", f, "--port", "x"],
                 ["--sub", "x", "--positions", f, "--bogus"],
                 ["--sub", "x", "--positions", f, "extra"]):
        p = run_cli("replay", *args)
        assert p.returncode == 2, (args, p.stderr)
        assert p.stderr.startswith("tincan replay: ") and "--help" in p.stderr
    p = run_cli("replay", "--sub", "x", "--positions", tmp_path / "none.csv")
    assert p.returncode == 1 and "No such file" in p.stderr
    # nothing listening: exit 1 with the address
    p = run_cli("replay", "--sub", "x", "--positions", f, "--port", "1")
    assert p.returncode == 1 and "cannot connect to 127.0.0.1:1" in p.stderr


# ---------------------------------------------------------------------------
# end to end: a query over the events, its result replayed, read back
# ---------------------------------------------------------------------------

TYPES = ["order.created", "order.paid", "user.signup"]


def publish(r, n):
    """n events of mixed types, some payloads mention a refund; returns
    [(position, type, payload)]."""
    evs = []
    pipe = r.pipeline(transaction=False)
    for i in range(n):
        t = TYPES[i % 3]
        payload = "order %d%s" % (i, " refund" if i % 7 == 0 else "")
        pipe.execute_command("EV.PUB", t, payload)
        evs.append((t, payload))
    pos = [int(p) for p in pipe.execute()]
    return [(p, t, pl) for p, (t, pl) in zip(pos, evs)]


def events_csv(path, evs):
    """The events as a table DuckDB can query (what the archive's Parquet
    holds, in small)."""
    with open(path, "w") as f:
        f.write("position,type,payload\n")
        for p, t, pl in evs:
            f.write('%d,%s,"%s"\n' % (p, t, pl))


def drain(r, name):
    got = []
    while True:
        evs = r.execute_command("EV.READ", name, "c", "COUNT", 1000)
        if not evs:
            return got
        recs = [dict(zip(e[::2], e[1::2])) for e in evs]
        got += recs
        r.execute_command("EV.ACK", name, *[x["position"] for x in recs])


QUERY = ("SELECT position FROM read_csv('events.csv', header=true) "
         "WHERE type = 'order.created' AND payload LIKE '%refund%' ORDER BY hash(position)")
E2E = [
    ("q.parquet", "FORMAT parquet", "7"),
    ("q2.parquet", "FORMAT parquet, PARQUET_VERSION v2, COMPRESSION zstd, "
                   "ROW_GROUP_SIZE 2048", "100000"),
    ("q.csv", "HEADER", "50"),
]


@pytest.mark.parametrize("name,opts,batch", E2E, ids=[c[0] for c in E2E])
def test_replays_exactly_the_query_result_in_order(server, duckdb, tmp_path, name, opts,
                                                   batch):
    r = server.client()
    evs = publish(r, 3000)
    events_csv(tmp_path / "events.csv", evs)
    duckdb("COPY (%s) TO '%s' (%s)" % (QUERY, name, opts), cwd=tmp_path)
    want = sorted(p for p, t, pl in evs if t == "order.created" and "refund" in pl)
    assert len(want) > 100
    r.execute_command("EV.SUB", "refunds.replay", "nothing.matches.#")
    p = run_cli("replay", "--sub", "refunds.replay", "--positions", tmp_path / name,
                "--port", server.port, "--batch", batch)
    assert p.returncode == 0, p.stderr
    nb = -(-len(want) // int(batch))
    assert ("%d positions" % len(want)) in p.stdout
    assert ("%d replay%s" % (nb, "" if nb == 1 else "s")) in p.stdout
    assert ("%d events queued" % len(want)) in p.stdout
    got = drain(r, "refunds.replay")
    assert [int(e["position"]) for e in got] == want
    by_pos = {p: (t, pl) for p, t, pl in evs}
    for e in got:
        assert (e["type"], e["payload"]) == by_pos[int(e["position"])]


def test_server_error_names_the_batch(server, tmp_path):
    r = server.client()
    evs = publish(r, 30)
    r.execute_command("EV.SUB", "s", "nothing.#")
    ps = [p for p, _, _ in evs][:20] + [10 ** 9]
    (tmp_path / "p.csv").write_text("position\n" + "\n".join(map(str, ps)) + "\n")
    p = run_cli("replay", "--sub", "s", "--positions", tmp_path / "p.csv",
                "--port", server.port, "--batch", "8")
    assert p.returncode == 1
    assert ("EV.REPLAY failed for batch 3 of 3 (5 positions from %d)" % ps[16]) in p.stderr
    assert "position 1000000000 is not a stored event" in p.stderr
    assert "the 2 batches before it (16 positions" in p.stderr
    # the two good batches stay queued, the failed one added nothing
    assert [int(e["position"]) for e in drain(r, "s")] == ps[:16]
    p = run_cli("replay", "--sub", "nosuch", "--positions", tmp_path / "p.csv",
                "--port", server.port)
    assert p.returncode == 1 and "no such subscription 'nosuch'" in p.stderr


@pytest.mark.tincan_args("--requirepass", "s3cret")
def test_password(server, tmp_path):
    r = server.client(password="s3cret")
    evs = publish(r, 5)
    r.execute_command("EV.SUB", "s", "nothing.#")
    f = tmp_path / "p.csv"
    f.write_text("%d\n%d\n" % (evs[3][0], evs[1][0]))
    p = run_cli("replay", "--sub", "s", "--positions", f, "--port", server.port)
    assert p.returncode == 1 and "NOAUTH" in p.stderr.upper()
    p = run_cli("replay", "--sub", "s", "--positions", f, "--port", server.port,
                "--password", "wrong")
    assert p.returncode == 1 and "AUTH failed" in p.stderr
    p = run_cli("replay", "--sub", "s", "--positions", f, "--port", server.port,
                "--password", "s3cret")
    assert p.returncode == 0, p.stderr
    p = run_cli("replay", "--sub", "s", "--positions", f, "--port", server.port,
                env={"TINCAN_PASSWORD": "s3cret"})
    assert p.returncode == 0, p.stderr
    got = [int(e["position"]) for e in drain(r, "s")]
    assert got == [evs[1][0], evs[3][0]]


def test_archive_query_replay_pipeline(server, duckdb, tmp_path):
    """Issue 12 whole: `tincan export` writes the events as Parquet, DuckDB
    queries the archive with hive partitioning, `tincan replay` replays the
    result. Skipped where this build has no `tincan export`."""
    p = run_cli("export", "--help")
    if p.returncode == 2 and "unknown command" in p.stderr:
        pytest.skip("this tincan has no export command")
    r = server.client()
    evs = publish(r, 3000)
    r.execute_command("EV.SUB", "refunds", "nothing.#")
    p = run_cli("export", "--dir", server.dir, "--to", tmp_path / "archive", "--quiet")
    assert p.returncode == 0, p.stderr
    duckdb("COPY (SELECT position FROM read_parquet('archive/**/*.parquet', "
           "hive_partitioning=true) WHERE type = 'order.created' AND "
           "CAST(payload AS VARCHAR) LIKE '%refund%') TO 'p.parquet' (FORMAT parquet)",
           cwd=tmp_path)
    want = sorted(p for p, t, pl in evs if t == "order.created" and "refund" in pl)
    p = run_cli("replay", "--sub", "refunds", "--positions", tmp_path / "p.parquet",
                "--port", server.port)
    assert p.returncode == 0, p.stderr
    assert [int(e["position"]) for e in drain(r, "refunds")] == want
    # the archive itself is a directory of positions files
    got, _ = dry_run(tmp_path / "archive")
    assert got == sorted(p for p, _, _ in evs)
