"""The Parquet writer (src/archive/parquet.c) read back by real DuckDB.

tests/tools/parquet_sample writes a file whose every value is a function of
the row number (its header comment is the spec; expected_row() below mirrors
it); DuckDB (tests/tools/node, through conftest.duckdb_query) must read every
value back, see the map column as a MAP, the logical types in
parquet_schema(), ZSTD and correct statistics in parquet_metadata(). A file of
0 rows must be a valid, empty table.

The tool is the release build, $BUILD/tools/parquet_sample (make tools)."""

import hashlib
import os
import subprocess

import pytest

from conftest import REPO, duckdb_query

ROWS = 2500
ROW_GROUP_BYTES = 1 << 20   # bytes: about eight row groups of the sample
PAGE_BYTES = 64 << 10       # bytes: several pages per column chunk
BIG_PAYLOAD = 200 * 1024    # bytes, as in parquet_sample.c
TYPES = ["order.created", "order.paid", "user.signup", "\u00e9v\u00e9nement.\u2713"]
COLUMNS = ["position", "id", "type", "kind", "time", "key", "headers", "payload"]


def tool(name):
    build = os.environ.get("BUILD", "build")
    path = (REPO / build / "tools" / name).resolve()
    if not path.exists():
        pytest.fail("%s is not built (make BUILD=%s tools)" % (path, build))
    return path


def write_sample(path, rows, *sizes):
    p = subprocess.run([str(tool("parquet_sample")), str(path), str(rows)]
                       + [str(s) for s in sizes], capture_output=True, timeout=120)
    assert p.returncode == 0, p.stderr.decode("utf-8", "replace")
    assert p.stdout.decode().startswith("rows=%d bytes=" % rows)
    assert path.stat().st_size == int(p.stdout.split(b"bytes=")[1])
    return path


def expected_row(i):
    """Row i as parquet_sample writes it, in duckdb_query's JSON form."""
    npairs = i % 5
    if npairs == 0:
        headers = None
    elif npairs == 1:
        headers = []
    else:
        headers = [{"key": "h%d" % j,
                    "value": None if (i + j) % 4 == 0 else "v%d-%d" % (j, i)}
                   for j in range(npairs)]
    if i % 10 == 0:
        plen = 0
    elif i % 97 == 13:
        plen = BIG_PAYLOAD
    else:
        plen = (i * 37) % 300
    payload = bytes((i * 31 + j * 7 + (j >> 8)) & 0xff for j in range(plen))
    return {
        "position": (i * 7919) % 1000003 - 500000,
        "id": "id-%08d" % i,
        "type": TYPES[i % 4],
        "kind": "kind%d" % (i % 5),
        "time": 1700000000000 + (i * 104729) % 86400000,
        "key": None if i % 3 == 0 else "key-%d" % i,
        "headers": headers,
        "payload": payload.hex(),
    }


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    path = tmp_path_factory.mktemp("parquet") / "sample.parquet"
    return write_sample(path, ROWS, ROW_GROUP_BYTES, PAGE_BYTES)


def q(path):
    return "'%s'" % str(path).replace("'", "''")


def check_every_value(path, rows):
    got_rows = duckdb_query(
        "SELECT %s FROM read_parquet(%s, file_row_number = true) ORDER BY file_row_number"
        % (", ".join(COLUMNS), q(path)))
    assert len(got_rows) == rows
    for i, got in enumerate(got_rows):
        want = expected_row(i)
        if got != want:
            diff = {k: (want[k] if k != "payload" else want[k][:80],
                        got.get(k) if k != "payload" else (got.get(k) or "")[:80])
                    for k in COLUMNS if got.get(k) != want[k]}
            pytest.fail("row %d differs (column: (want, got)): %r" % (i, diff))


def test_every_value_reads_back(sample):
    check_every_value(sample, ROWS)


def test_a_page_and_a_row_group_per_row(tmp_path):
    """One-byte limits: every row is a row group of one-page chunks."""
    path = write_sample(tmp_path / "tiny.parquet", 120, 1, 1)
    check_every_value(path, 120)
    groups = duckdb_query("SELECT num_row_groups AS n FROM parquet_file_metadata(%s)"
                          % q(path))
    assert groups == [{"n": 120}]


def test_payload_bytes_are_identical(sample):
    """Hashes computed by DuckDB over the raw blobs, so no conversion is
    involved: the empty, the 200 KiB, the zero-byte and the non-UTF-8 ones."""
    rows = duckdb_query(
        "SELECT file_row_number AS i, octet_length(payload) AS n, sha256(payload) AS h "
        "FROM read_parquet(%s, file_row_number = true) ORDER BY i" % q(sample))
    big = 0
    for r in rows:
        payload = bytes.fromhex(expected_row(r["i"])["payload"])
        assert r["n"] == len(payload), r["i"]
        assert r["h"] == hashlib.sha256(payload).hexdigest(), r["i"]
        big += len(payload) == BIG_PAYLOAD
    assert big >= 20


def test_headers_is_a_duckdb_map(sample):
    rows = duckdb_query(
        "SELECT file_row_number AS i, typeof(headers) AS t, map_keys(headers) AS k, "
        "map_values(headers) AS v, headers['h1'] AS h1, cardinality(headers) AS n "
        "FROM read_parquet(%s, file_row_number = true) ORDER BY i" % q(sample))
    assert len(rows) == ROWS
    for r in rows:
        assert r["t"] == "MAP(VARCHAR, VARCHAR)"
        want = expected_row(r["i"])["headers"]
        if want is None:
            assert (r["k"], r["v"], r["h1"], r["n"]) == (None, None, None, None), r
            continue
        assert r["k"] == [kv["key"] for kv in want], r
        assert r["v"] == [kv["value"] for kv in want], r
        assert r["n"] == len(want), r
        h1 = [kv["value"] for kv in want if kv["key"] == "h1"]
        assert r["h1"] == (h1[0] if h1 else None), r


def test_filters_agree_with_the_values(sample):
    """DuckDB prunes row groups by their statistics: a wrong min/max would
    drop or keep rows a plain scan of the expected values does not."""
    want = [expected_row(i) for i in range(ROWS)]
    cut_pos, cut_time = 123456, 1700000000000 + 43200000
    got = duckdb_query(
        "SELECT count(*) FILTER (WHERE position > %d) AS p, "
        "count(*) FILTER (WHERE time < epoch_ms(%d::BIGINT)) AS t, "
        "count(*) FILTER (WHERE key IS NULL) AS nk, count(headers) AS nh "
        "FROM read_parquet(%s)" % (cut_pos, cut_time, q(sample)))[0]
    assert got["p"] == sum(r["position"] > cut_pos for r in want)
    assert got["t"] == sum(r["time"] < cut_time for r in want)
    assert got["nk"] == sum(r["key"] is None for r in want)
    assert got["nh"] == sum(r["headers"] is not None for r in want)
    assert duckdb_query("SELECT count(*) AS n FROM read_parquet(%s) WHERE position = %d"
                        % (q(sample), want[77]["position"]))[0]["n"] == 1


def test_metadata_shows_zstd_row_groups_and_stats(sample):
    meta = duckdb_query(
        "SELECT row_group_id AS g, row_group_num_rows AS rows, path_in_schema AS path, "
        "compression, num_values, stats_null_count AS nulls, "
        "CASE WHEN path_in_schema = 'position' THEN stats_min::BIGINT "
        "     WHEN path_in_schema = 'time' THEN epoch_ms(stats_min::TIMESTAMPTZ) END AS lo, "
        "CASE WHEN path_in_schema = 'position' THEN stats_max::BIGINT "
        "     WHEN path_in_schema = 'time' THEN epoch_ms(stats_max::TIMESTAMPTZ) END AS hi "
        "FROM parquet_metadata(%s) ORDER BY g, column_id" % q(sample))
    assert {m["compression"] for m in meta} == {"ZSTD"}
    groups = sorted({m["g"] for m in meta})
    assert len(groups) >= 4, groups
    assert len(meta) == len(groups) * 9  # 8 columns, the map being two leaves
    first = 0
    for g in groups:
        chunks = [m for m in meta if m["g"] == g]
        n = chunks[0]["rows"]
        want = [expected_row(i) for i in range(first, first + n)]
        by = {m["path"]: m for m in chunks}
        for col in ("position", "time"):
            values = [r[col] for r in want]
            assert (by[col]["lo"], by[col]["hi"]) == (min(values), max(values)), (g, col)
            assert by[col]["nulls"] == 0
            assert by[col]["num_values"] == n
        assert by["key"]["nulls"] == sum(r["key"] is None for r in want)
        pairs = sum(max(len(r["headers"] or []), 1) for r in want)
        assert by["headers, key_value, key"]["num_values"] == pairs
        assert by["payload"]["num_values"] == n
        first += n
    assert first == ROWS


def test_schema_has_the_logical_types(sample):
    rows = duckdb_query(
        "SELECT name, type, repetition_type AS rep, converted_type AS conv, "
        "logical_type AS logical FROM parquet_schema(%s)" % q(sample))
    # Depth-first: the root, the columns, the map's group, key_value, key, value.
    names = ["schema", "position", "id", "type", "kind", "time", "key", "headers",
             "key_value", "key", "value", "payload"]
    assert [r["name"] for r in rows] == names
    schema = {r["name"]: r for r in rows[:9] + rows[11:]}
    keys = {r["name"]: r for r in rows[9:11]}
    assert schema["position"]["type"] == "INT64"
    assert schema["position"]["rep"] == "REQUIRED"
    for col in ("id", "type", "kind"):
        assert (schema[col]["type"], schema[col]["conv"]) == ("BYTE_ARRAY", "UTF8")
        assert schema[col]["logical"].startswith("StringType")
    assert schema["time"]["type"] == "INT64"
    assert schema["time"]["conv"] == "TIMESTAMP_MILLIS"
    assert "isAdjustedToUTC=1" in schema["time"]["logical"]
    assert "MILLIS=MilliSeconds()" in schema["time"]["logical"]
    assert schema["headers"]["conv"] == "MAP"
    assert schema["headers"]["logical"].startswith("MapType")
    assert schema["headers"]["rep"] == "OPTIONAL"
    assert schema["key_value"]["rep"] == "REPEATED"
    assert schema["key_value"]["conv"] == "MAP_KEY_VALUE"
    assert (keys["key"]["rep"], keys["key"]["conv"]) == ("REQUIRED", "UTF8")
    assert (keys["value"]["rep"], keys["value"]["conv"]) == ("OPTIONAL", "UTF8")
    assert schema["payload"]["type"] == "BYTE_ARRAY"
    assert schema["payload"]["conv"] is None and schema["payload"]["logical"] is None

    types = {r["column_name"]: r["column_type"] for r in duckdb_query(
        "DESCRIBE SELECT * FROM read_parquet(%s)" % q(sample))}
    assert types == {"position": "BIGINT", "id": "VARCHAR", "type": "VARCHAR",
                     "kind": "VARCHAR", "time": "TIMESTAMP WITH TIME ZONE",
                     "key": "VARCHAR", "headers": "MAP(VARCHAR, VARCHAR)",
                     "payload": "BLOB"}
    created = duckdb_query("SELECT created_by FROM parquet_file_metadata(%s)" % q(sample))
    assert created == [{"created_by": "tincan"}]


def test_zero_rows_is_an_empty_table(tmp_path):
    path = write_sample(tmp_path / "empty.parquet", 0)
    assert duckdb_query("SELECT * FROM read_parquet(%s)" % q(path)) == []
    assert duckdb_query("SELECT count(*) AS n FROM read_parquet(%s)" % q(path)) == [{"n": 0}]
    cols = [r["column_name"] for r in duckdb_query(
        "DESCRIBE SELECT * FROM read_parquet(%s)" % q(path))]
    assert cols == COLUMNS
    meta = duckdb_query("SELECT num_rows, num_row_groups FROM parquet_file_metadata(%s)"
                        % q(path))
    assert meta == [{"num_rows": 0, "num_row_groups": 0}]


def test_same_rows_same_file(tmp_path):
    a = write_sample(tmp_path / "a.parquet", 700, 200000, 16384).read_bytes()
    b = write_sample(tmp_path / "b.parquet", 700, 200000, 16384).read_bytes()
    assert a == b
    c = write_sample(tmp_path / "c.parquet", 701, 200000, 16384).read_bytes()
    assert c != a
    assert a[:4] == b"PAR1" and a[-4:] == b"PAR1"
