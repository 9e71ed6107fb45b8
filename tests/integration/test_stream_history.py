"""Streams and the one history (issue 13): an XADD'd entry is an event that
the bus delivers to subscriptions and the archive exports, and an EV.PUB'd
event is an entry that Redis stream readers get; through redis-py, the real
server, the real `tincan export` and DuckDB."""

from archive_helpers import read_rows, run_cli
from conftest import call


def rec(r):
    if isinstance(r, dict):
        return dict(r)
    return dict(zip(r[::2], r[1::2]))


def test_xadd_reaches_a_bus_subscription(tincan):
    s = tincan()
    r = s.client()
    assert call(r, "EV.SUB", "audit", "order.*", "FROM", "BEGINNING") is not None
    id1 = r.xadd("order.created", {"sku": "42", "qty": "3"})
    id2 = r.xadd("order.paid", {"sku": "42"})
    r.xadd("other.thing", {"x": "1"})  # not bound: never delivered
    got = [rec(e) for e in r.execute_command("EV.READ", "audit", "c1", "COUNT", 10)]
    assert [e["type"] for e in got] == ["order.created", "order.paid"]
    assert [e["entry_id"] for e in got] == [id1, id2]
    assert rec(got[0]["headers"]) == {"sku": "42", "qty": "3"}
    assert got[0]["payload"] == ""


def test_ev_pub_is_read_by_a_consumer_group(tincan):
    s = tincan()
    r = s.client()
    r.execute_command("EV.PUB", "invoice.sent", "pdf-bytes", "HDR", "to", "ann")
    r.xgroup_create("invoice.sent", "mailer", id="0")
    r.execute_command("EV.PUB", "invoice.sent", "more")
    got = r.xreadgroup("mailer", "w1", {"invoice.sent": ">"}, count=10)
    (key, entries), = got
    assert key == "invoice.sent"
    assert [f for _, f in entries] == [{"to": "ann", "payload": "pdf-bytes"},
                                      {"payload": "more"}]
    # the IDs are the events' entry ids, and keep rising across both writers
    ev = [rec(e) for e in r.execute_command("EV.RANGE", "invoice.sent")]
    assert [e["entry_id"] for e in ev] == [i for i, _ in entries]
    nxt = r.xadd("invoice.sent", {"k": "v"})
    def sid(x):
        return tuple(int(p) for p in x.split("-"))
    assert sid(nxt) > sid(entries[-1][0])
    r.execute_command("EV.PUB", "invoice.sent", "last")
    last = r.xrevrange("invoice.sent", count=1)[0][0]
    assert sid(last) > sid(nxt)
    assert r.xack("invoice.sent", "mailer", *[i for i, _ in entries]) == 2


def test_xadd_entries_are_archived_with_their_fields(tincan, tmp_path):
    s = tincan()
    r = s.client()
    ids = [r.xadd("order.created", {"sku": str(i), "qty": "1"}) for i in range(5)]
    r.xadd("mystream{t}", {"a": "b"})  # a key that is no type: its own type
    s.stop()
    out = tmp_path / "export"
    run_cli("export", "--dir", s.dir, "--to", out, "--quiet", check=0)
    rows = read_rows("%s/events/**/*.parquet" % out)
    orders = [x for x in rows if x["type"] == "order.created"]
    assert len(orders) == 5
    for i, x in enumerate(orders):
        assert [(kv["key"], kv["value"]) for kv in x["headers"]] == \
            [("sku", str(i)), ("qty", "1")]  # in order, as XADD gave them
    assert [x["type"] for x in rows if x["type"] != "order.created"] == \
        ["_s0.mystream_7Bt_7D"]
    s.start()
    r = s.client()
    assert [i for i, _ in r.xrange("order.created")] == ids
    assert r.xrange("mystream{t}") and r.type("mystream{t}") == "stream"


def test_del_hides_the_stream_but_history_stays(tincan):
    s = tincan()
    r = s.client()
    for i in range(3):
        r.execute_command("EV.PUB", "audit.log", "e%d" % i)
    assert r.xlen("audit.log") == 3 and r.type("audit.log") == "stream"
    assert "audit.log" in r.keys("*")
    assert r.delete("audit.log") == 1
    assert r.exists("audit.log") == 0 and r.xlen("audit.log") == 0
    assert r.keys("audit.*") == []
    # the events are all still there
    assert len(r.execute_command("EV.RANGE", "audit.log")) == 3
    # a new publish starts the stream again, with only the new event
    r.execute_command("EV.PUB", "audit.log", "after")
    assert [f for _, f in r.xrange("audit.log")] == [{"payload": "after"}]
    s.restart()
    r = s.client()
    assert [f for _, f in r.xrange("audit.log")] == [{"payload": "after"}]
    assert len(r.execute_command("EV.RANGE", "audit.log")) == 4
