"""CHUNK.BUCKET and CHUNK.PLAN through redis-py (issue 5). The comparison
with PostgreSQL itself is test_chunk_pg.py; the expected values here were
computed by PostgreSQL 15."""

import pytest
import redis


def err_of(r, *args):
    with pytest.raises(redis.ResponseError) as e:
        r.execute_command(*args)
    return str(e.value)


def test_bucket_values(server):
    r = server.client()
    assert r.execute_command("CHUNK.BUCKET", "") == 828
    assert r.execute_command("CHUNK.BUCKET", "hello") == 462
    assert r.execute_command("CHUNK.BUCKET", "42") == 993       # negative hash
    assert r.execute_command("CHUNK.BUCKET", "42", "BUCKETS", 7) == 4
    assert r.execute_command("CHUNK.BUCKET", "42", "buckets", 1) == 0
    assert r.execute_command("CHUNK.BUCKET",
                             "00000000-0000-0000-0000-000000000000") == 906
    assert r.execute_command("CHUNK.BUCKET", "é€😀") == 999


def test_plan(server):
    r = server.client()
    assert r.execute_command("CHUNK.PLAN", 1000) == ["0-999"]
    assert r.execute_command("CHUNK.PLAN", 0) == ["0-999"]
    plan = r.execute_command("CHUNK.PLAN", 1000000)
    assert plan == ["%d-%d" % (i * 10, i * 10 + 9) for i in range(100)]
    assert r.execute_command("CHUNK.PLAN", 3, "TARGET", 1) == ["0-332", "333-665", "666-999"]
    assert r.execute_command("CHUNK.PLAN", 10 ** 12, "BUCKETS", 5) == \
        ["0-0", "1-1", "2-2", "3-3", "4-4"]
    assert r.execute_command("CHUNK.PLAN", 25, "target", 10, "buckets", 10) == \
        ["0-2", "3-5", "6-9"]


def test_plan_over_a_million_buckets_covers_each_once(server):
    r = server.client()
    plan = r.execute_command("CHUNK.PLAN", 10 ** 9, "BUCKETS", 1000000)
    assert len(plan) == 100000
    nxt = 0
    for item in plan:
        lo, hi = map(int, item.split("-"))
        assert lo == nxt and hi >= lo
        nxt = hi + 1
    assert nxt == 1000000


def test_errors(server):
    r = server.client()
    assert err_of(r, "CHUNK.BUCKET", "a", "BUCKETS", 0) == "BUCKETS must be 1..1000000"
    assert err_of(r, "CHUNK.BUCKET", "a", "BUCKETS", 1000001) == "BUCKETS must be 1..1000000"
    assert err_of(r, "CHUNK.BUCKET", "a", "BUCKETS", "x") == "BUCKETS must be 1..1000000"
    assert err_of(r, "CHUNK.BUCKET", "a", "TARGET", 5) == "syntax error near 'TARGET'"
    assert err_of(r, "CHUNK.BUCKET", "a", "BUCKETS") == "syntax error near 'BUCKETS'"
    assert err_of(r, "CHUNK.PLAN", "x") == "total must be a non-negative integer"
    assert err_of(r, "CHUNK.PLAN", -1) == "total must be a non-negative integer"
    assert err_of(r, "CHUNK.PLAN", 5, "TARGET", 0) == \
        "TARGET must be a positive whole number of rows"
    assert err_of(r, "CHUNK.PLAN", 5, "TARGET", "-3") == \
        "TARGET must be a positive whole number of rows"
    assert err_of(r, "CHUNK.PLAN", 5, "FOO", 1) == "syntax error near 'FOO'"
    assert err_of(r, "CHUNK.PLAN") == "wrong number of arguments for 'chunk.plan' command"
    assert err_of(r, "CHUNK.BUCKET") == "wrong number of arguments for 'chunk.bucket' command"
