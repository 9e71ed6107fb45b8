"""Event store (issue 3): EV.PUB/GET/RANGE/REVRANGE/TYPES/INFO through redis-py
against the real server, in RESP2 and RESP3, with every bad-argument error."""

import os
import signal

import pytest
import redis

from conftest import call


def rec(reply):
    """A record reply (RESP3 dict or RESP2 flat list) as a dict."""
    if reply is None or isinstance(reply, dict):
        return reply
    return dict(zip(reply[::2], reply[1::2]))


def err(r, *args):
    with pytest.raises(redis.ResponseError) as e:
        call(r, *args)
    return str(e.value)


@pytest.mark.parametrize("proto", [2, 3])
def test_pub_get_roundtrip(server, proto):
    r = server.client(protocol=proto, decode_responses=False)
    p1 = call(r, "EV.PUB", "order.created", b"\x00bin\r\n", "ID", "o-1", "KEY", "cust-9",
              "KIND", "command", "HDR", "ct", "json", "trace", "abc")
    assert p1 == 1
    p2 = call(r, "EV.PUB", "order.paid", "x")
    assert p2 == 2
    e = rec(call(r, "EV.GET", p1))
    if proto == 3:
        assert isinstance(call(r, "EV.GET", p1), dict)
    e = {k.decode(): v for k, v in e.items()}
    assert e["position"] == 1
    assert e["id"] == b"o-1"
    assert e["type"] == b"order.created"
    assert e["kind"] == b"command"
    assert e["key"] == b"cust-9"
    assert e["payload"] == b"\x00bin\r\n"
    hdrs = e["headers"]
    if not isinstance(hdrs, dict):
        hdrs = dict(zip(hdrs[::2], hdrs[1::2]))
    assert hdrs == {b"ct": b"json", b"trace": b"abc"}
    ms, seq = e["entry_id"].split(b"-")
    assert int(ms) == e["time"] and int(seq) == 0
    e2 = {k.decode(): v for k, v in rec(call(r, "EV.GET", p2)).items()}
    assert e2["id"] == b"tc-2" and e2["key"] is None and e2["kind"] == b"event"
    assert call(r, "EV.GET", 99) is None
    assert call(r, "EV.GET", 0) is None


def test_dedup_returns_original_position(server):
    r = server.client()
    a = call(r, "EV.PUB", "t.a", "one", "ID", "same")
    call(r, "EV.PUB", "t.a", "two")
    assert call(r, "EV.PUB", "t.a", "three", "ID", "same") == a
    assert len(call(r, "EV.RANGE", "t.a")) == 2
    server.restart()
    r = server.client()
    assert call(r, "EV.PUB", "t.a", "again", "ID", "same") == a


@pytest.mark.tincan_args("--segment-size", "64kb")
def test_dedup_across_sealed_segments_after_restart(server):
    """IDs in some sealed segments, none in others (those the start skips:
    their index counted no ID): after a clean restart and after kill -9 every
    ID still returns its original position, in old and new segments alike."""
    r = server.client()
    ids = {}
    for rnd in range(6):
        pipe = r.pipeline(transaction=False)
        for i in range(150):  # ~1 segment of events without an ID
            pipe.execute_command("EV.PUB", "t.plain", "p" * 400)
        pipe.execute()
        if rnd % 2 == 0:
            for i in range(5):
                name = "id-%d-%d" % (rnd, i)
                ids[name] = call(r, "EV.PUB", "t.a", "x" * 300, "ID", name)
    def info(field):
        got = rec(call(r, "EV.INFO"))
        return int({(k.decode() if isinstance(k, bytes) else k): v
                    for k, v in got.items()}[field])

    assert info("segments") >= 6
    for how in (None, signal.SIGKILL):
        server.restart(how or signal.SIGTERM)
        r = server.client()
        before = info("next_position")
        for name, pos in ids.items():
            assert call(r, "EV.PUB", "t.a", "again", "ID", name) == pos, name
        assert info("next_position") == before
        assert call(r, "EV.PUB", "t.a", "new", "ID", "fresh-%s" % how) == before


def test_entry_ids_increase_per_type(server):
    r = server.client()
    for i in range(50):
        call(r, "EV.PUB", "a" if i % 2 else "b", str(i))
    ids = []
    for ev in call(r, "EV.RANGE", "a", "COUNT", 1000):
        e = rec(ev)
        ms, seq = (int(x) for x in e["entry_id"].split("-"))
        ids.append((ms, seq))
    assert len(ids) == 25
    assert ids == sorted(ids) and len(set(ids)) == 25


@pytest.mark.parametrize("proto", [2, 3])
def test_range_revrange_paging(server, proto):
    r = server.client(protocol=proto)
    for i in range(1, 31):
        t = ["order.created", "order.paid", "user.signup"][i % 3]
        call(r, "EV.PUB", t, "p%d" % i, "KEY", "k%d" % (i % 2))
    got = [rec(e)["position"] for e in call(r, "EV.RANGE", "order.#")]
    assert got == [i for i in range(1, 31) if i % 3 != 2]
    got = [rec(e)["position"] for e in call(r, "EV.RANGE", "#", "COUNT", 5)]
    assert got == [1, 2, 3, 4, 5]
    got = [rec(e)["position"] for e in call(r, "EV.RANGE", "#", "FROM", "@6", "COUNT", 5)]
    assert got == [6, 7, 8, 9, 10]
    got = [rec(e)["position"] for e in call(r, "EV.REVRANGE", "#", "COUNT", 3)]
    assert got == [30, 29, 28]
    got = [rec(e)["position"] for e in call(r, "EV.REVRANGE", "*.paid", "TO", "@10")]
    assert got == [10, 7, 4, 1]
    got = [rec(e)["position"] for e in
           call(r, "EV.RANGE", "#", "FROM", "@3", "TO", "@9", "KEY", "k1")]
    assert got == [3, 5, 7, 9]
    t5 = rec(call(r, "EV.GET", 5))["time"]
    got = [rec(e)["position"] for e in call(r, "EV.RANGE", "#", "FROM", t5, "COUNT", 10000)]
    assert got[0] <= 5 and 5 in got and got[-1] == 30
    got = [rec(e)["position"] for e in call(r, "EV.RANGE", "#", "TO", t5 - 1000000)]
    assert got == []
    assert call(r, "EV.RANGE", "nothing.here") == []


@pytest.mark.parametrize("proto", [2, 3])
def test_range_fields_projection(server, proto):
    r = server.client(protocol=proto)
    for i in range(1, 6):
        call(r, "EV.PUB", "t.x", "p%d" % i, "KEY", "k", "HDR", "h", "v")
    full = [rec(e) for e in call(r, "EV.RANGE", "t.x")]
    assert list(full[0]) == ["position", "id", "entry_id", "type", "kind", "time",
                             "key", "headers", "payload", "version"]
    assert [e["version"] for e in full] == [1, 2, 3, 4, 5]
    # canonical order whatever the order asked, any case
    got = [rec(e) for e in call(r, "EV.RANGE", "t.x", "FIELDS", "PAYLOAD,position")]
    assert got == [{"position": i, "payload": "p%d" % i} for i in range(1, 6)]
    got = [rec(e) for e in call(r, "EV.REVRANGE", "#", "COUNT", 2,
                                 "FIELDS", "entry_id,key,headers")]
    assert [list(e) for e in got] == [["entry_id", "key", "headers"]] * 2
    assert got[0]["entry_id"] == full[4]["entry_id"] and got[0]["key"] == "k"
    got = [rec(e) for e in call(r, "EV.RANGE", "t.x", "FIELDS", "version,key")]
    assert got == [{"key": "k", "version": i} for i in range(1, 6)]
    for bad in ("bogus", "position,", ",payload", "position,,payload", ""):
        with pytest.raises(redis.ResponseError) as e:
            call(r, "EV.RANGE", "t.x", "FIELDS", bad)
        assert str(e.value).startswith("invalid FIELDS '%s': fields are position" % bad)


@pytest.mark.parametrize("proto", [2, 3])
def test_types_and_info(server, proto):
    r = server.client(protocol=proto)
    call(r, "EV.PUB", "b.x", "1")
    call(r, "EV.PUB", "a.y", "2")
    call(r, "EV.PUB", "b.x", "3")
    types = [rec(t) for t in call(r, "EV.TYPES")]
    assert [t["type"] for t in types] == ["a.y", "b.x"]
    assert types[1]["count"] == 2
    assert types[1]["first_position"] == 1 and types[1]["last_position"] == 3
    assert [rec(t)["type"] for t in call(r, "EV.TYPES", "b.*")] == ["b.x"]
    info = rec(call(r, "EV.INFO"))
    assert info["last_position"] == 3 and info["events"] == 3
    assert info["fsync"] == "always" and info["read_only"] == "no"
    assert info["synced_position"] == 3
    text = r.execute_command("INFO", "persistence")
    if isinstance(text, bytes):
        text = text.decode()
    if isinstance(text, dict):
        assert text.get("store_events") == 3
    else:
        assert "store_events:3" in str(text)


def test_bad_arguments(server):
    r = server.client()
    assert err(r, "EV.PUB", "a..b", "x") == "invalid event type 'a..b': empty word"
    assert err(r, "EV.PUB", "a.*", "x") == \
        "invalid event type 'a.*': wildcard '*' not allowed in a type"
    assert err(r, "EV.PUB", "a b", "x").startswith("invalid event type 'a b': bad character")
    assert err(r, "EV.PUB", "x" * 256, "x").endswith("longer than 255 bytes")
    assert err(r, "EV.PUB", "", "x") == "invalid event type '': empty"
    assert err(r, "EV.PUB", "t", "x" * (1048576 + 1)) == \
        "payload of 1048577 bytes exceeds max-payload 1048576"
    assert err(r, "EV.PUB", "t", "x", "ID", "") == "invalid ID '': must be 1 to 512 bytes"
    assert err(r, "EV.PUB", "t", "x", "KEY", "") == "invalid KEY '': must be 1 to 1024 bytes"
    assert err(r, "EV.PUB", "t", "x", "KIND", "thing") == \
        "invalid KIND 'thing': must be event or command"
    assert err(r, "EV.PUB", "t", "x", "HDR", "a") == \
        "HDR needs field value pairs (HDR comes last)"
    assert err(r, "EV.PUB", "t", "x", "HDR", "", "v") == \
        "invalid header field '': must be 1 to 255 bytes"
    assert "syntax error" in err(r, "EV.PUB", "t", "x", "BOGUS", "1")
    assert "syntax error" in err(r, "EV.PUB", "t", "x", "ID")
    assert "wrong number of arguments" in err(r, "EV.PUB", "t")
    assert err(r, "EV.GET", "abc").startswith("position must be")
    assert err(r, "EV.RANGE", "a..") == "invalid pattern 'a..': empty word"
    assert err(r, "EV.RANGE", "a.b*") == "invalid pattern 'a.b*': '*' must be a whole word"
    assert err(r, "EV.RANGE", "#", "FROM", "x") == \
        "invalid FROM 'x': must be a time in ms or @position"
    assert err(r, "EV.REVRANGE", "#", "TO", "@-1") == \
        "invalid TO '@-1': must be a time in ms or @position"
    assert err(r, "EV.RANGE", "#", "COUNT", "0") == \
        "COUNT must be an integer between 1 and 10000"
    assert err(r, "EV.RANGE", "#", "COUNT", "10001") == \
        "COUNT must be an integer between 1 and 10000"
    assert "syntax error" in err(r, "EV.RANGE", "#", "COUNT")
    assert err(r, "EV.TYPES", "a..b") == "invalid pattern 'a..b': empty word"
    assert "syntax error" in err(r, "EV.TYPES", "a", "b")


@pytest.mark.tincan_args("--segment-size", "65536")
def test_many_segments_restart_same_answers(server):
    r = server.client()
    pipe = r.pipeline(transaction=False)
    for i in range(3000):
        pipe.execute_command("EV.PUB", "t%d" % (i % 4), "payload-%05d" % i)
    pos = pipe.execute()
    assert pos == list(range(1, 3001))
    before = [rec(e)["position"] for e in call(r, "EV.RANGE", "t1", "COUNT", 10000)]
    assert rec(call(r, "EV.INFO"))["segments"] >= 3
    server.restart(sig=signal.SIGKILL)
    r = server.client()
    after = [rec(e)["position"] for e in call(r, "EV.RANGE", "t1", "COUNT", 10000)]
    assert before == after and len(after) == 750
    assert rec(call(r, "EV.GET", 2999))["payload"] == "payload-02998"
    # remove the index files: rebuilt with the same answers
    for f in os.listdir(os.path.join(server.dir, "events")):
        if f.endswith(".idx"):
            os.unlink(os.path.join(server.dir, "events", f))
    server.restart()
    r = server.client()
    assert rec(call(r, "EV.INFO"))["rebuilt_indexes"] >= 2
    again = [rec(e)["position"] for e in call(r, "EV.RANGE", "t1", "COUNT", 10000)]
    assert again == before
    assert call(r, "EV.PUB", "t1", "next") == 3001


@pytest.mark.tincan_args("--fsync", "everysec")
def test_everysec_and_config(server):
    r = server.client()
    assert call(r, "EV.PUB", "t", "x") == 1
    assert rec(call(r, "EV.INFO"))["fsync"] == "everysec"
    assert call(r, "CONFIG", "GET", "fsync")[1] == "everysec"
    call(r, "CONFIG", "SET", "fsync", "no")
    assert call(r, "EV.PUB", "t", "y") == 2
    call(r, "CONFIG", "SET", "fsync", "always")
    assert call(r, "EV.PUB", "t", "z") == 3
    assert rec(call(r, "EV.INFO"))["synced_position"] == 3
