"""Chunking (issue 5) against a real PostgreSQL: tincan's CHUNK.BUCKET equals
PostgreSQL's mod(abs(('x'||substr(md5(id::text),1,16))::bit(64)::bigint), n)
for 100k random UUIDs and a set of odd ids, and workers that take the
CHUNK.ENQUEUE ranges from a tincan queue and query PostgreSQL through the
functional index together see every row exactly once.

The test starts a throwaway PostgreSQL cluster (pg_helpers.PG: Debian's
postgresql 15 in a temp dir, on a unix socket only, as `nobody` under root).
psql is driven through subprocess (no psycopg2 needed).
"""

import threading
import uuid

import pytest

from pg_helpers import pg_fixture

EXPR = "mod(abs(('x'||substr(md5(%s),1,16))::bit(64)::bigint), %d)"

pg = pytest.fixture(scope="module")(pg_fixture)


def tincan_buckets(r, ids, n):
    """CHUNK.BUCKET for every id (bytes), pipelined."""
    out = []
    for i in range(0, len(ids), 2000):
        pipe = r.pipeline(transaction=False)
        for x in ids[i:i + 2000]:
            pipe.execute_command("CHUNK.BUCKET", x, "BUCKETS", n)
        out += pipe.execute()
    return out


def test_100k_random_uuids_match_postgresql(pg, server):
    r = server.client(decode_responses=False)
    ids = [str(uuid.uuid4()) for _ in range(100000)]
    pg.sql("CREATE TABLE u (id uuid PRIMARY KEY)")
    pg.sql("COPY u FROM STDIN", stdin="\n".join(ids).encode() + b"\n")
    for n in (1000, 7):
        rows = pg.sql("SELECT id::text || ' ' || %s FROM u" % (EXPR % ("id::text", n)))
        want = dict(line.split(" ") for line in rows.splitlines())
        assert len(want) == 100000
        got = tincan_buckets(r, [x.encode() for x in ids], n)
        bad = [(x, want[x], g) for x, g in zip(ids, got) if int(want[x]) != g]
        assert not bad, "%d mismatches, e.g. %s" % (len(bad), bad[:5])
    # both signs of the 64-bit value were exercised
    neg = pg.sql("SELECT count(*) FROM u WHERE "
                 "('x'||substr(md5(id::text),1,16))::bit(64)::bigint < 0")
    assert 40000 < int(neg) < 60000


PATHOLOGICAL = [
    "", " ", "0", "-0", "00", "1", "-1", "9223372036854775807", "-9223372036854775808",
    "NULL", "null", "'", "''", '"', "\\", "\\\\", "\\x00", "a'b\"c\\d", "\t", "\n",
    "\r\n", " leading", "trailing ", "é", "e\u0301", "日本語", "😀", "\U0010ffff",
    "\u200b", "x" * 10000, "y" * 100001, "ÿ" * 3, "%s%n", "${id}", ";DROP TABLE u;--",
    "00000000-0000-0000-0000-000000000000", "FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF",
    "ffffffff-ffff-ffff-ffff-ffffffffffff", "\x01\x02\x7f",
]


def test_pathological_ids_match_postgresql(pg, server):
    r = server.client(decode_responses=False)
    ids = [s.encode("utf-8") for s in PATHOLOGICAL]
    # hex keeps every byte intact through COPY
    pg.sql("CREATE TABLE p (n int, hex text)")
    pg.sql("COPY p FROM STDIN",
           stdin="".join("%d\t%s\n" % (i, x.hex()) for i, x in enumerate(ids)).encode())
    for n in (1000, 1, 2, 3, 999983, 1000000):
        rows = pg.sql("SELECT n || ' ' || %s FROM p ORDER BY n"
                      % (EXPR % ("convert_from(decode(hex, 'hex'), 'UTF8')", n)))
        want = [int(line.split(" ")[1]) for line in rows.splitlines()]
        got = tincan_buckets(r, ids, n)
        assert got == want, [(PATHOLOGICAL[i][:20], w, g)
                             for i, (w, g) in enumerate(zip(want, got)) if w != g]


def test_int64_min_is_an_error_in_postgresql_too(pg):
    """The one hash value abs() cannot take: PostgreSQL fails, and tincan
    refuses it too (chunk_bucket_of_hash, unit-tested: no id with that MD5
    prefix is known)."""
    p = pg.sql("SELECT mod(abs(x'8000000000000000'::bit(64)::bigint), 1000)", check=False)
    assert p.returncode != 0
    assert "bigint out of range" in p.stderr.decode()
    assert pg.sql("SELECT mod(abs(x'8000000000000001'::bit(64)::bigint), 1000)").strip() \
        == "807"


def test_workers_see_every_row_once(pg, server):
    r = server.client()
    pg.sql("CREATE TABLE contacts (id uuid PRIMARY KEY, campaign int)")
    pg.sql("INSERT INTO contacts SELECT gen_random_uuid(), 42 FROM generate_series(1, 30000)")
    pg.sql("CREATE INDEX contacts_bucket_idx ON contacts ((%s))" % (EXPR % ("id::text", 1000)))
    pg.sql("ANALYZE contacts")
    plan = pg.sql("SET enable_seqscan = off; EXPLAIN SELECT id FROM contacts WHERE %s "
                  "BETWEEN 10 AND 19" % (EXPR % ("id::text", 1000)))
    assert "contacts_bucket_idx" in plan
    total = int(pg.sql("SELECT count(*) FROM contacts"))
    assert r.execute_command("CHUNK.ENQUEUE", "camp", total, "42", "TARGET", 1000) == 30

    seen = []
    mu = threading.Lock()
    errors = []

    def worker():
        w = server.client()
        while True:
            jobs = w.execute_command("Q.POP", "camp", "LEASE", 60000)
            if not jobs:
                return
            job = dict(zip(jobs[0][::2], jobs[0][1::2]))
            lo, hi, campaign = job["payload"].split(" ", 2)
            try:
                rows = pg.sql("SELECT id FROM contacts WHERE campaign = %d AND %s "
                              "BETWEEN %d AND %d" % (int(campaign), EXPR % ("id::text", 1000),
                                                     int(lo), int(hi)))
            except Exception as e:  # report, do not hang the others
                errors.append(str(e))
                return
            with mu:
                seen.extend(rows.split())
            assert w.execute_command("Q.ACK", job["id"]) == 1

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    assert len(seen) == total
    assert len(set(seen)) == total
    everything = set(pg.sql("SELECT id FROM contacts").split())
    assert set(seen) == everything
    assert r.execute_command("Q.QUEUES") == []
