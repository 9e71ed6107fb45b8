"""The whole loop of issue 12: the server archives every event, an analyst
queries the archive with DuckDB, and the positions the query found are
replayed into a subscription with tincan replay, arriving in position order
exactly as EV.GET has them."""

from archive_helpers import archived_up_to, rec, run_cli
from conftest import call, duckdb_query


def read_all(r, sub, want):
    got = []
    while len(got) < want:
        page = call(r, "EV.READ", sub, "c1", "COUNT", 500, "BLOCK", 2000)
        assert page, "the replay stopped after %d of %d events" % (len(got), want)
        for e in page:
            e = {k.decode(): v for k, v in rec(e).items()}
            got.append(e)
            call(r, "EV.ACK", sub, e["position"])
    assert call(r, "EV.READ", sub, "c1", "COUNT", 10, "BLOCK", 200) in ([], None)
    return got


def test_query_the_archive_then_replay_the_results(tincan, tmp_path):
    target = tmp_path / "archive"
    s = tincan("--archive-to", target, "--archive-max-age", "1")
    r = s.client(decode_responses=False)
    for i in range(3000):
        t = ("order.created", "order.paid", "order.refunded")[i % 3]
        body = b'{"order":%d,"note":"%s"}' % (i, b"refund asked" if i % 7 == 0 else b"ok")
        call(r, "EV.PUB", t, body, "KEY", "cust-%d" % (i % 50))
    archived_up_to(r)
    glob = "%s/events/**/*.parquet" % target
    where = ("type IN ('order.paid', 'order.created') AND decode(payload) LIKE '%refund%' "
             "AND key = 'cust-7'")
    want = [x["position"] for x in duckdb_query(
        "SELECT position FROM read_parquet('%s', hive_partitioning=true) WHERE %s "
        "ORDER BY position" % (glob, where))]
    assert len(want) > 5
    # the query's results as Parquet (DuckDB's defaults: snappy), newest first
    out = tmp_path / "found.parquet"
    duckdb_query("COPY (SELECT position FROM read_parquet('%s', hive_partitioning=true) "
                 "WHERE %s ORDER BY position DESC) TO '%s' (FORMAT parquet)"
                 % (glob, where, out))
    call(r, "EV.SUB", "support.replay", "nothing.#", "FROM", "NOW")
    p = run_cli("replay", "--sub", "support.replay", "--positions", out, "--host",
                "127.0.0.1", "--port", s.port, check=0)
    assert str(len(want)) in p.stdout, p.stdout
    got = read_all(r, "support.replay", len(want))
    assert [e["position"] for e in got] == want
    for e in got:
        stored = {k.decode(): v for k, v in rec(call(r, "EV.GET", e["position"])).items()}
        assert e["payload"] == stored["payload"] and e["type"] == stored["type"]
        assert b"refund" in e["payload"] and e["key"] == b"cust-7"
