"""Redis streams (X*) on the event store, through the real server and redis-py:
what survives a restart (clean SIGTERM and SIGKILL), the "one history" with
EV.PUB/EV.RANGE, error replies, and a bounded randomized model test over a
stream that spans several store segments.

What the server keeps where (src/stream/stream.h): entries are events of the
stream's type; DEL/XDEL/XTRIM/XSETID, groups, consumers and pending entries
are records of the "streams" journal. Every test here changes something,
restarts the server on the same data dir and compares what the commands
show with what they showed before (or with a Python model).
"""

import random
import signal

import pytest
import redis

from conftest import call

MODES = ("term", "kill")


def bounce(server, mode, **client_kwargs):
    """Restarts the server (SIGTERM or SIGKILL) and returns a fresh client."""
    server.restart(signal.SIGTERM if mode == "term" else signal.SIGKILL)
    return server.client(**client_kwargs)


def sid(s):
    if isinstance(s, bytes):
        s = s.decode()
    ms, seq = s.split("-")
    return (int(ms), int(seq))


def fmt(t):
    return "%d-%d" % t


def pairs(flat):
    return list(zip(flat[::2], flat[1::2]))


def xrange_raw(r, key, start="-", end="+", count=None, rev=False):
    """XRANGE/XREVRANGE without redis-py's dict callback (which would hide
    repeated fields and their order): [(id, [(f, v), ...]), ...]."""
    args = ["XREVRANGE" if rev else "XRANGE", key] + ([end, start] if rev else [start, end])
    if count is not None:
        args += ["COUNT", count]
    return [(e[0], pairs(e[1])) for e in call(r, *args)]


def info_stream(r, key):
    flat = call(r, "XINFO", "STREAM", key)
    d = dict(pairs(flat))
    for k in ("first-entry", "last-entry"):
        if d.get(k) is not None:
            d[k] = (d[k][0], pairs(d[k][1]))
    return d


def info_full(r, key):
    """XINFO STREAM FULL with the consumers' seen-time left out (an attempt
    that changed nothing is not journaled); the PEL delivery times stay in."""
    d = dict(pairs(call(r, "XINFO", "STREAM", key, "FULL")))
    groups = []
    for g in d.get("groups") or []:
        g = dict(pairs(g))
        cons = []
        for c in g["consumers"]:
            c = dict(pairs(c))
            c.pop("seen-time", None)
            c.pop("active-time", None)
            cons.append(c)
        g["consumers"] = cons
        groups.append(g)
    d["groups"] = groups
    return d


def groups_state(r, key):
    """Everything about the groups of key that must survive a restart."""
    out = {}
    for g in r.xinfo_groups(key):
        name = g["name"]
        cons = sorted((c["name"], c["pending"]) for c in r.xinfo_consumers(key, name))
        pend = r.xpending_range(key, name, "-", "+", 100000)
        out[name] = {
            "info": dict(g),
            "consumers": cons,
            "summary": r.xpending(key, name),
            "pel": [(p["message_id"], p["consumer"], p["times_delivered"]) for p in pend],
        }
    return out


def pel_idle(r, key, group):
    return {p["message_id"]: p["time_since_delivered"]
            for p in r.xpending_range(key, group, "-", "+", 100000)}


# --------------------------------------------------------------------------
# entries, IDs, deletions, trims, XSETID
# --------------------------------------------------------------------------

@pytest.mark.parametrize("mode", MODES)
def test_entries_and_ids_survive_restart(server, mode):
    r = server.client(decode_responses=False)
    assert r.xadd("s", {"a": "1", "b": "2"}, id="1-1") == b"1-1"
    assert call(r, "XADD", "s", "1-2", "dup", "x", "dup", "y", "bin", b"\x00\xff\r\n") == b"1-2"
    assert call(r, "XADD", "s", "5-*", "p", "first") == b"5-0"
    assert call(r, "XADD", "s", "5-*", "p", "second") == b"5-1"
    assert call(r, "XADD", "s", "7", "plain-ms", "v") == b"7-0"
    auto = [call(r, "XADD", "s", "*", "n", str(i)) for i in range(5)]
    assert [sid(a) for a in auto] == sorted(sid(a) for a in auto)
    assert sid(auto[0]) > (7, 0)
    # a big value and an empty one
    big = bytes(range(256)) * 64
    top = call(r, "XADD", "s", "*", "big", big, "empty", b"")
    before = xrange_raw(r, "s")
    info = info_stream(r, "s")
    assert len(before) == 11
    assert before[1] == (b"1-2", [(b"dup", b"x"), (b"dup", b"y"), (b"bin", b"\x00\xff\r\n")])

    r = bounce(server, mode, decode_responses=False)
    assert xrange_raw(r, "s") == before
    assert info_stream(r, "s") == info
    assert r.xlen("s") == 11
    assert xrange_raw(r, "s", rev=True) == before[::-1]
    # IDs stay increasing: no ID at or below the top is accepted
    for bad in ("1-1", "5-1", fmt(sid(top))):
        with pytest.raises(redis.ResponseError, match="equal or smaller"):
            call(r, "XADD", "s", bad, "f", "v")
    nxt = call(r, "XADD", "s", "%d-*" % sid(top)[0], "f", "v")
    assert sid(nxt) == (sid(top)[0], sid(top)[1] + 1)
    assert sid(call(r, "XADD", "s", "*", "f", "v")) > sid(nxt)


@pytest.mark.parametrize("mode", MODES)
def test_xdel_xtrim_xsetid_survive_restart(server, mode):
    r = server.client()
    for i in range(1, 31):
        r.xadd("s", {"i": str(i)}, id="%d-1" % i)
    assert r.xdel("s", "3-1", "4-1", "99-1") == 2
    assert r.xtrim("s", maxlen=25, approximate=False) == 3          # 1, 2, 5 go (3, 4 were deleted)
    assert r.xtrim("s", minid="8-1", approximate=False) == 2         # 6, 7
    assert r.xdel("s", "30-1") == 1               # the top: last id stays 30-1
    assert r.xdel("s", "12-1") == 1
    ids = [e[0] for e in r.xrange("s")]
    assert ids == ["%d-1" % i for i in range(8, 30) if i != 12]
    info = info_stream(r, "s")
    assert info["length"] == 21
    assert info["last-generated-id"] == "30-1"
    assert info["max-deleted-entry-id"] == "30-1"
    assert info["entries-added"] == 30
    assert info["recorded-first-entry-id"] == "8-1"

    # XSETID on a second stream: last id, entries-added, max-deleted-id
    for i in range(1, 4):
        r.xadd("t", {"i": str(i)}, id="%d-0" % i)
    assert call(r, "XSETID", "t", "1000-5", "ENTRIESADDED", 77, "MAXDELETEDID", "500-0") == "OK"
    tinfo = info_stream(r, "t")
    assert (tinfo["last-generated-id"], tinfo["entries-added"],
            tinfo["max-deleted-entry-id"]) == ("1000-5", 77, "500-0")
    entries, tentries = r.xrange("s"), r.xrange("t")

    r = bounce(server, mode)
    assert r.xrange("s") == entries
    assert info_stream(r, "s") == info
    assert r.xrange("t") == tentries
    assert info_stream(r, "t") == tinfo
    for key, bad in (("s", "30-1"), ("s", "29-9"), ("t", "1000-5"), ("t", "999-0")):
        with pytest.raises(redis.ResponseError, match="equal or smaller"):
            r.xadd(key, {"f": "v"}, id=bad)
    assert r.xadd("t", {"f": "v"}, id="1000-*") == "1000-6"
    assert info_stream(r, "t")["entries-added"] == 78
    assert r.xadd("s", {"f": "v"}, id="30-*") == "30-2"
    # and once more, now with the new entries
    s2, t2 = info_stream(r, "s"), info_stream(r, "t")
    r = bounce(server, mode)
    assert info_stream(r, "s") == s2 and info_stream(r, "t") == t2


@pytest.mark.parametrize("mode", MODES)
def test_del_survives_restart_and_small_ids_work_again(server, mode):
    r = server.client()
    for i in range(5):
        r.xadd("d", {"i": str(i)}, id="100-%d" % i)
    r.xgroup_create("d", "g", "0")
    r.xreadgroup("g", "c", {"d": ">"}, count=2)
    assert r.delete("d") == 1
    assert r.exists("d") == 0
    r = bounce(server, mode)
    assert r.exists("d") == 0
    assert r.xlen("d") == 0
    assert r.keys("*") == []
    assert r.type("d") == "none"
    assert r.xadd("d", {"new": "1"}, id="1-1") == "1-1"
    r = bounce(server, mode)
    assert r.xrange("d") == [("1-1", {"new": "1"})]
    with pytest.raises(redis.ResponseError, match="NOGROUP|no such"):
        r.xreadgroup("g", "c", {"d": ">"})
    assert r.xinfo_groups("d") == []
    info = info_stream(r, "d")
    assert (info["entries-added"], info["last-generated-id"], info["max-deleted-entry-id"]) \
        == (1, "1-1", "0-0")
    # DEL twice with a restart in between, and an XADD before the first one
    assert r.delete("d") == 1
    r.xadd("d", {"x": "1"}, id="0-1")
    assert r.delete("d") == 1
    r = bounce(server, mode)
    assert r.exists("d") == 0
    assert r.xadd("d", {"y": "1"}, id="0-1") == "0-1"
    assert r.xrange("d") == [("0-1", {"y": "1"})]


@pytest.mark.parametrize("mode", MODES)
def test_del_twice_without_events_between_forgets_groups(server, mode):
    """Two DELs with no event stored between them give both incarnations the
    same first position: the second DEL must still drop what came between
    (here a group made with MKSTREAM) after a restart."""
    r = server.client()
    assert r.xgroup_create("m", "g1", "$", mkstream=True) is True
    assert r.delete("m") == 1
    assert r.xgroup_create("m", "g2", "$", mkstream=True) is True
    assert r.xgroup_createconsumer("m", "g2", "c") == 1
    assert r.delete("m") == 1
    # and with entries: one stored, deleted; then a group and a DEL again
    r.xadd("n", {"f": "v"}, id="5-0")
    r.xgroup_create("n", "old", "0")
    r.xreadgroup("old", "c", {"n": ">"})
    assert r.delete("n") == 1
    assert r.xgroup_create("n", "mid", "$", mkstream=True) is True
    assert r.delete("n") == 1
    r = bounce(server, mode)
    for key in ("m", "n"):
        assert r.exists(key) == 0
        assert r.xgroup_create(key, "g2", "$", mkstream=True) is True
        assert [g["name"] for g in r.xinfo_groups(key)] == ["g2"], key
        assert r.xinfo_consumers(key, "g2") == []
    r = bounce(server, mode)
    for key in ("m", "n"):
        assert [g["name"] for g in r.xinfo_groups(key)] == ["g2"], key


# --------------------------------------------------------------------------
# groups, consumers, pending entries
# --------------------------------------------------------------------------

@pytest.mark.parametrize("mode", MODES)
def test_groups_consumers_pel_survive_restart(server, mode):
    r = server.client()
    for i in range(1, 11):
        r.xadd("s", {"i": str(i)}, id="%d-1" % i)
    r.xgroup_create("s", "g1", "0")
    r.xgroup_create("s", "g2", "$")
    assert call(r, "XGROUP", "CREATE", "s", "g3", "3-1", "ENTRIESREAD", 3) == "OK"
    r.xgroup_create("s", "gone", "0")
    # g1: c1 gets 1..4, c2 gets 5..7
    assert [e[0] for e in r.xreadgroup("g1", "c1", {"s": ">"}, count=4)[0][1]] == \
        ["1-1", "2-1", "3-1", "4-1"]
    assert [e[0] for e in r.xreadgroup("g1", "c2", {"s": ">"}, count=3)[0][1]] == \
        ["5-1", "6-1", "7-1"]
    assert r.xack("s", "g1", "2-1", "6-1") == 2
    # 3-1 goes to c3 (delivery count 2), 7-1 to c3 with JUSTID (count stays 1)
    assert [e[0] for e in r.xclaim("s", "g1", "c3", 0, ["3-1"])] == ["3-1"]
    assert r.xclaim("s", "g1", "c3", 0, ["7-1"], justid=True) == ["7-1"]
    # c1 reads its own PEL: 1-1 and 4-1 again (count 2), not 3-1 any more
    own = r.xreadgroup("g1", "c1", {"s": "0"})[0][1]
    assert [e[0] for e in own] == ["1-1", "4-1"]
    assert r.xgroup_createconsumer("s", "g1", "idle") == 1
    # c4 gets 8-1 and is deleted: 8-1 leaves the PEL, last-delivered stays 8-1
    assert [e[0] for e in r.xreadgroup("g1", "c4", {"s": ">"}, count=1)[0][1]] == ["8-1"]
    assert r.xgroup_delconsumer("s", "g1", "c4") == 1
    # g2 moved by SETID, g3 read with NOACK, "gone" destroyed
    assert call(r, "XGROUP", "SETID", "s", "g2", "8-1", "ENTRIESREAD", 8) == "OK"
    assert len(r.xreadgroup("g3", "n", {"s": ">"}, count=2, noack=True)[0][1]) == 2
    assert r.xgroup_destroy("s", "gone") == 1
    # a delivery that is later XDEL'd stays pending (as a nil entry)
    r.xreadgroup("g2", "z", {"s": ">"}, count=1)  # 9-1
    assert r.xdel("s", "9-1") == 1

    state = groups_state(r, "s")
    full = info_full(r, "s")
    assert state["g1"]["pel"] == [("1-1", "c1", 2), ("3-1", "c3", 2), ("4-1", "c1", 2),
                                  ("5-1", "c2", 1), ("7-1", "c3", 1)]
    assert state["g1"]["consumers"] == [("c1", 2), ("c2", 1), ("c3", 2), ("idle", 0)]
    assert state["g1"]["info"]["last-delivered-id"] == "8-1"
    assert state["g3"]["pel"] == [] and state["g3"]["info"]["last-delivered-id"] == "5-1"
    assert set(state) == {"g1", "g2", "g3"}
    idle = pel_idle(r, "s", "g1")

    r = bounce(server, mode)
    assert groups_state(r, "s") == state
    assert info_full(r, "s") == full   # PEL delivery times included
    # delivery times are kept, not reset: idle only grew
    for mid, t in pel_idle(r, "s", "g1").items():
        assert t >= idle[mid]
    # the groups go on from where they were
    assert [e[0] for e in r.xreadgroup("g1", "c1", {"s": ">"})[0][1]] == ["10-1"]
    # the deleted entry: its ID and a nil (redis-py would show {})
    assert call(r, "XREADGROUP", "GROUP", "g2", "z", "STREAMS", "s", "0") == \
        [["s", [["9-1", None]]]]
    assert [e[0] for e in r.xreadgroup("g3", "n", {"s": ">"}, count=1)[0][1]] == ["6-1"]
    assert r.xack("s", "g1", "2-1", "6-1", "8-1") == 0     # acked / deleted consumer
    assert r.xack("s", "g1", "1-1", "3-1") == 2
    with pytest.raises(redis.ResponseError, match="NOGROUP"):
        r.xreadgroup("gone", "c", {"s": ">"})
    state2 = groups_state(r, "s")
    r = bounce(server, mode)
    assert groups_state(r, "s") == state2
    assert [p[0] for p in state2["g1"]["pel"]] == ["4-1", "5-1", "7-1", "10-1"]


@pytest.mark.parametrize("mode", MODES)
def test_lag_and_entries_read_survive_restart(server, mode):
    r = server.client()
    for i in range(1, 21):
        r.xadd("s", {"i": str(i)}, id="%d-0" % i)
    r.xgroup_create("s", "g", "0")
    r.xreadgroup("g", "c", {"s": ">"}, count=7)
    before = r.xinfo_groups("s")
    assert (before[0]["entries-read"], before[0]["lag"]) == (7, 13)
    r = bounce(server, mode)
    assert r.xinfo_groups("s") == before
    for i in range(21, 24):
        r.xadd("s", {"i": str(i)}, id="%d-0" % i)
    g = r.xinfo_groups("s")[0]
    assert (g["entries-read"], g["lag"]) == (7, 16)
    r.xreadgroup("g", "c", {"s": ">"}, count=3)
    g = r.xinfo_groups("s")[0]
    assert (g["entries-read"], g["lag"]) == (10, 13)
    # a deletion before last-delivered-id makes the lag unknown ... and stays so
    r.xdel("s", "15-0")
    after = r.xinfo_groups("s")
    r = bounce(server, mode)
    assert r.xinfo_groups("s") == after


def test_streams_journal_is_compacted_while_running(server):
    """The streams journal is checkpointed when its log has grown (8 MiB and
    twice the last checkpoint), not only at start: a long-running server's
    group traffic must not pile up in streams.*.log until the next restart.
    A 64 KiB consumer name makes every delivery record about 64 KiB."""
    r = server.client()
    r.xadd("s", {"f": "v"}, id="1-1")
    r.xadd("s", {"f": "v"}, id="2-1")
    r.xgroup_create("s", "g", "0")
    big = "c" * 65536
    r.xreadgroup("g", big, {"s": ">"}, count=1)
    rounds = 300                                  # ~19 MiB of records
    p = r.pipeline(transaction=False)
    for i in range(rounds):
        p.xreadgroup("g", big, {"s": "0"})
        if len(p.command_stack) >= 50:
            p.execute()
    p.execute()
    files = list(server.dir.glob("streams.*"))
    total = sum(f.stat().st_size for f in files)
    assert total < 12 * 2 ** 20, sorted((f.name, f.stat().st_size) for f in files)
    pend = r.xpending_range("s", "g", "-", "+", 10)
    assert [(x["message_id"], x["times_delivered"]) for x in pend] == [("1-1", rounds + 1)]
    r = bounce(server, "kill")
    pend = r.xpending_range("s", "g", "-", "+", 10)
    assert [(x["message_id"], x["consumer"], x["times_delivered"]) for x in pend] == \
        [("1-1", big, rounds + 1)]
    assert [e[0] for e in r.xreadgroup("g", "x", {"s": ">"})[0][1]] == ["2-1"]


# --------------------------------------------------------------------------
# keys: other databases, keys that are no event type, empty streams, FLUSHALL
# --------------------------------------------------------------------------

ODD_KEYS = [b"my{stream}", b"\x00\xff bin\r\n", b"", b"_under", b"a.b", b"x" * 200,
            "caf\u00e9".encode()]


@pytest.mark.parametrize("mode", MODES)
def test_odd_keys_and_db9_discovered_after_restart(server, mode):
    r0 = server.client(decode_responses=False)
    r9 = server.client(decode_responses=False, db=9)
    expect = {0: {}, 9: {}}
    for db, r in ((0, r0), (9, r9)):
        for n, k in enumerate(ODD_KEYS + [b"plain.type"]):
            ids = [call(r, "XADD", k, "*", "db", str(db), "k", k, "n", str(j))
                   for j in range(n % 3 + 1)]
            expect[db][k] = ids
    # MKSTREAM streams: empty, existing, in both dbs
    for r in (r0, r9):
        assert call(r, "XGROUP", "CREATE", b"empty{}", "g", "$", "MKSTREAM") == b"OK"
    # a stream whose every entry was deleted still exists
    call(r9, "XADD", b"all gone", "1-1", "f", "v")
    assert call(r9, "XDEL", b"all gone", "1-1") == 1
    keys0 = set(call(r0, "KEYS", "*"))
    keys9 = set(call(r9, "KEYS", "*"))
    assert keys0 == set(expect[0]) | {b"empty{}"}
    assert keys9 == set(expect[9]) | {b"empty{}", b"all gone"}

    r0 = bounce(server, mode, decode_responses=False)
    r9 = server.client(decode_responses=False, db=9)
    assert set(call(r0, "KEYS", "*")) == keys0
    assert set(call(r9, "KEYS", "*")) == keys9
    assert call(r9, "DBSIZE") == len(keys9)
    for db, r in ((0, r0), (9, r9)):
        for k, ids in expect[db].items():
            assert call(r, "TYPE", k) == b"stream", k
            assert call(r, "XLEN", k) == len(ids), k
            got = xrange_raw(r, k)
            assert [e[0] for e in got] == ids, k
            assert all(dict(f)[b"k"] == k and dict(f)[b"db"] == str(db).encode()
                       for _, f in got)
        assert call(r, "EXISTS", b"empty{}") == 1
        assert call(r, "TYPE", b"empty{}") == b"stream"
        assert call(r, "XLEN", b"empty{}") == 0
        assert [g["name"] for g in r.xinfo_groups(b"empty{}")] == [b"g"]
    assert call(r9, "EXISTS", b"all gone") == 1
    assert call(r9, "XLEN", b"all gone") == 0
    with pytest.raises(redis.ResponseError, match="equal or smaller"):
        call(r9, "XADD", b"all gone", "1-1", "f", "v")
    # the same key in the two dbs are two streams
    call(r9, "DEL", b"my{stream}")
    r0 = bounce(server, mode, decode_responses=False)
    r9 = server.client(decode_responses=False, db=9)
    assert call(r9, "EXISTS", b"my{stream}") == 0
    assert call(r0, "XLEN", b"my{stream}") == len(expect[0][b"my{stream}"])


@pytest.mark.parametrize("mode", MODES)
def test_flush_survives_restart(server, mode):
    r0 = server.client()
    r9 = server.client(db=9)
    r3 = server.client(db=3)
    r0.xadd("a", {"f": "v"}, id="50-0")
    call(r0, "EV.PUB", "order.created", "body")
    r0.xgroup_create("a", "g", "0")
    r9.xadd("b{}", {"f": "v"}, id="60-0")
    r3.xadd("keep", {"f": "v"}, id="70-0")
    r3.xgroup_create("keep", "g", "$")
    assert r9.flushdb() is True
    assert r9.keys("*") == []
    assert r0.flushall() is True
    r0 = bounce(server, mode)
    r9 = server.client(db=9)
    r3 = server.client(db=3)
    for r in (r0, r9, r3):
        assert r.keys("*") == []
        assert r.dbsize() == 0
    assert r0.xlen("order.created") == 0
    assert r0.xrange("order.created") == []
    assert r0.xadd("a", {"n": "1"}, id="1-1") == "1-1"
    assert r0.xinfo_groups("a") == []
    assert r3.xadd("keep", {"n": "1"}, id="1-1") == "1-1"
    # a FLUSHDB of one db leaves the others alone
    r3.flushdb()
    r0 = bounce(server, mode)
    assert server.client(db=3).keys("*") == []
    assert r0.xrange("a") == [("1-1", {"n": "1"})]


# --------------------------------------------------------------------------
# one history with EV.*
# --------------------------------------------------------------------------

def ev_records(r, pattern):
    out = []
    for rec in call(r, "EV.RANGE", pattern):
        out.append(dict(pairs(rec)))
    return out


@pytest.mark.parametrize("mode", MODES)
def test_one_history_with_ev_commands(server, mode):
    r = server.client()
    call(r, "EV.PUB", "order.created", "body-1", "HDR", "k", "v", "n", "1")
    got = r.xrange("order.created")
    assert len(got) == 1
    assert got[0][1] == {"k": "v", "n": "1", "payload": "body-1"}
    xid = r.xadd("order.created", {"f": "x", "g": "y"})
    recs = ev_records(r, "order.created")
    assert [x["entry_id"] for x in recs] == [got[0][0], xid]
    assert recs[1]["headers"] == ["f", "x", "g", "y"] and recs[1]["payload"] == ""
    assert recs[1]["type"] == "order.created"
    assert sid(xid) > sid(got[0][0])
    # a group over the EV.PUB'd type
    r.xgroup_create("order.created", "g", "0")
    d = r.xreadgroup("g", "c", {"order.created": ">"}, count=1)[0][1]
    assert d == [(got[0][0], {"k": "v", "n": "1", "payload": "body-1"})]
    # a type nobody touched with a stream command is a stream too
    call(r, "EV.PUB", "invoice.sent", "x")
    assert r.type("invoice.sent") == "stream" and r.xlen("invoice.sent") == 1
    assert "invoice.sent" in r.keys("*")
    history = r.xrange("order.created")

    r = bounce(server, mode)
    assert r.xrange("order.created") == history
    assert [x["entry_id"] for x in ev_records(r, "order.created")] == [h[0] for h in history]
    assert r.xpending_range("order.created", "g", "-", "+", 10)[0]["message_id"] == got[0][0]
    call(r, "EV.PUB", "order.created", "body-2")
    d = r.xreadgroup("g", "c", {"order.created": ">"})[0][1]
    assert [e[0] for e in d][0] == xid
    assert d[1][1] == {"payload": "body-2"}
    assert sid(d[1][0]) > sid(xid)
    assert r.xlen("invoice.sent") == 1
    # XADD'd entries reach the bus's EV.RANGE after the restart as well
    recs = ev_records(r, "order.*")
    assert [x["entry_id"] for x in recs] == [e[0] for e in r.xrange("order.created")]


# --------------------------------------------------------------------------
# errors never crash the server
# --------------------------------------------------------------------------

BAD = [
    (("XADD",), "wrong number"),
    (("XADD", "s"), "wrong number"),
    (("XADD", "s", "*"), "wrong number"),
    (("XADD", "s", "*", "f"), "wrong number"),
    (("XADD", "s", "abc", "f", "v"), "Invalid stream ID"),
    (("XADD", "s", "1-x", "f", "v"), "Invalid stream ID"),
    (("XADD", "s", "-1", "f", "v"), "Invalid stream ID"),
    (("XADD", "s", "1--1", "f", "v"), "Invalid stream ID"),
    (("XADD", "s", "18446744073709551616-0", "f", "v"), "Invalid stream ID"),
    (("XADD", "s", "0-0", "f", "v"), "greater than 0-0"),
    (("XADD", "s", "1-1", "f", "v"), "equal or smaller"),
    (("XADD", "s", "0-5", "f", "v"), "equal or smaller"),
    (("XADD", "s", "MAXLEN", "-1", "*", "f", "v"), "MAXLEN"),
    (("XADD", "s", "MAXLEN", "x", "*", "f", "v"), "not an integer"),
    (("XADD", "s", "MAXLEN", "1", "MINID", "1", "*", "f", "v"), "not compatible"),
    (("XRANGE", "s", "abc", "+"), "Invalid stream ID"),
    (("XRANGE", "s", "-", "1-x"), "Invalid stream ID"),
    (("XRANGE", "s", "(-", "+"), "Invalid stream ID"),
    (("XRANGE", "s", "-", "+", "COUNT"), "syntax"),
    (("XRANGE", "s", "-", "+", "COUNT", "x"), "not an integer"),
    (("XRANGE", "s"), "wrong number"),
    (("XREVRANGE", "s", "+"), "wrong number"),
    (("XLEN",), "wrong number"),
    (("XDEL", "s", "abc"), "Invalid stream ID"),
    (("XTRIM", "s"), "wrong number"),
    (("XTRIM", "s", "FOO", "1"), "syntax"),
    (("XTRIM", "s", "MAXLEN", "abc"), "not an integer"),
    (("XTRIM", "s", "MINID", "1-x"), "Invalid stream ID"),
    (("XTRIM", "s", "MAXLEN", "1", "LIMIT", "10"), "LIMIT"),
    (("XREAD", "STREAMS", "s"), "wrong number"),
    (("XREAD", "STREAMS", "s", "t", "0"), "Unbalanced"),
    (("XREAD", "COUNT", "x", "STREAMS", "s", "0"), "not an integer"),
    (("XREAD", "STREAMS", "s", "1-x"), "Invalid stream ID"),
    (("XREAD", "STREAMS", "s", ">"), "GROUP"),
    (("XREAD", "BLOCK", "-5", "STREAMS", "s", "$"), "negative"),
    (("XREADGROUP", "GROUP", "nog", "c", "STREAMS", "s", ">"), "NOGROUP"),
    (("XREADGROUP", "GROUP", "g", "c", "STREAMS", "nokey", ">"), "NOGROUP"),
    (("XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", "$"), "meaningless"),
    (("XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", "abc"), "Invalid stream ID"),
    (("XREADGROUP", "STREAMS", "s", ">"), "wrong number"),
    (("XREADGROUP", "COUNT", "1", "STREAMS", "s", "t", "0", "0"), "Missing GROUP"),
    (("XGROUP", "CREATE", "s", "g", "$"), "BUSYGROUP"),
    (("XGROUP", "CREATE", "s", "g2", "abc"), "Invalid stream ID"),
    (("XGROUP", "CREATE", "nokey", "g", "$"), "MKSTREAM"),
    (("XGROUP", "SETID", "s", "nog", "$"), "NOGROUP"),
    (("XGROUP", "NOSUCH", "s"), "unknown subcommand|Unknown subcommand"),
    (("XGROUP",), "wrong number"),
    (("XACK", "s", "g", "abc"), "Invalid stream ID"),
    (("XACK", "s"), "wrong number"),
    (("XCLAIM", "s", "nog", "c", "0", "1-1"), "NOGROUP"),
    (("XCLAIM", "s", "g", "c", "x", "1-1"), "Invalid min-idle-time|not an integer"),
    (("XCLAIM", "s", "g", "c", "0", "abc"), "Unrecognized XCLAIM option 'abc'"),
    (("XAUTOCLAIM", "s", "nog", "c", "0", "0"), "NOGROUP"),
    (("XAUTOCLAIM", "s", "g", "c", "0", "0", "COUNT", "0"), "COUNT"),
    (("XPENDING", "s", "nog"), "NOGROUP"),
    (("XPENDING", "s", "g", "-", "+"), "syntax"),
    (("XPENDING", "s", "g", "abc", "+", "10"), "Invalid stream ID"),
    (("XSETID", "s", "0-1"), "smaller than the target stream top"),
    (("XSETID", "nokey", "1-1"), "no such key"),
    (("XSETID", "s", "abc"), "Invalid stream ID"),
    (("XSETID", "s", "9-9", "ENTRIESADDED", "0"), "smaller than the target stream length"),
    (("XINFO", "STREAM", "nokey"), "no such key"),
    (("XINFO", "GROUPS", "nokey"), "no such key"),
    (("XINFO", "CONSUMERS", "s", "nog"), "NOGROUP"),
    (("XINFO", "NOSUCH", "s"), "unknown subcommand|Unknown subcommand"),
]


@pytest.mark.parametrize("mode", MODES)
def test_error_replies_never_crash(server, mode):
    r = server.client()
    r.xadd("s", {"f": "v"}, id="1-1")
    r.xadd("s", {"f": "v"}, id="2-1")
    r.xgroup_create("s", "g", "0")
    r.xreadgroup("g", "c", {"s": ">"}, count=1)
    wrong = []
    for args, msg in BAD:
        try:
            got = call(r, *args)
        except redis.ResponseError as e:
            import re
            if not re.search(msg, str(e)):
                wrong.append((args, str(e)))
        else:
            wrong.append((args, "no error: %r" % (got,)))
        assert r.ping() is True, args
    assert not wrong, wrong
    # binary junk as IDs and group names
    for junk in (b"\xff\xfe", b"1-\x00", b"\r\n", b"9" * 200, b"1-" + b"9" * 30):
        with pytest.raises(redis.ResponseError):
            call(r, "XADD", "s", junk, "f", "v")
        with pytest.raises(redis.ResponseError):
            call(r, "XRANGE", "s", junk, "+")
        with pytest.raises(redis.ResponseError):
            call(r, "XREADGROUP", "GROUP", junk, junk, "STREAMS", "s", ">")
    state = (r.xrange("s"), groups_state(r, "s"))
    r = bounce(server, mode)
    assert (r.xrange("s"), groups_state(r, "s")) == state
    assert r.exists("nokey") == 0
    assert r.keys("*") == ["s"]
    for args, _ in BAD:
        with pytest.raises(redis.ResponseError):
            call(r, *args)
    assert r.ping() is True


# --------------------------------------------------------------------------
# many entries across store segments: a randomized model test
# --------------------------------------------------------------------------

class Model:
    """The live entries of one stream, oldest first, plus what XINFO says."""

    def __init__(self):
        self.entries = []       # [(id tuple, fields list)]
        self.added = 0
        self.last = (0, 0)
        self.max_deleted = (0, 0)

    def ids(self):
        return [e[0] for e in self.entries]

    def index(self, i):
        lo, hi = 0, len(self.entries)
        while lo < hi:
            mid = (lo + hi) // 2
            if self.entries[mid][0] < i:
                lo = mid + 1
            else:
                hi = mid
        return lo

    def add(self, i, fields):
        assert i > self.last, (i, self.last)
        self.entries.append((i, fields))
        self.last = i
        self.added += 1

    def delete(self, i):
        k = self.index(i)
        if k < len(self.entries) and self.entries[k][0] == i:
            del self.entries[k]
            self.max_deleted = max(self.max_deleted, i)
            return 1
        return 0

    def trim_maxlen(self, n):
        gone = max(0, len(self.entries) - n)
        del self.entries[:gone]
        return gone

    def trim_minid(self, i):
        gone = self.index(i)
        del self.entries[:gone]
        return gone

    def range(self, lo, hi):
        return self.entries[self.index(lo):self.index((hi[0], hi[1] + 1))]


def as_model(reply):
    return [(sid(e[0]), pairs(e[1])) for e in reply]


def compare(r, key, m, rng):
    assert call(r, "XLEN", key) == len(m.entries)
    got = as_model(call(r, "XRANGE", key, "-", "+"))
    assert len(got) == len(m.entries)
    assert got == m.entries
    assert as_model(call(r, "XREVRANGE", key, "+", "-")) == m.entries[::-1]
    # paging forward and backward with COUNT, as clients do
    for count in (1 + rng.randrange(150), 1000):
        pages, start = [], "-"
        while True:
            page = as_model(call(r, "XRANGE", key, start, "+", "COUNT", count))
            assert len(page) <= count
            pages += page
            if len(page) < count:
                break
            start = "(" + fmt(page[-1][0])
        assert pages == m.entries
        pages, end = [], "+"
        while True:
            page = as_model(call(r, "XREVRANGE", key, end, "-", "COUNT", count))
            pages += page
            if len(page) < count:
                break
            end = "(" + fmt(page[-1][0])
        assert pages == m.entries[::-1]
    # random sub-ranges, with bounds on and between entries
    ids = m.ids()
    for _ in range(25):
        if ids and rng.random() < 0.7:
            lo = rng.choice(ids)
            hi = rng.choice(ids)
        elif ids:   # between and around entries
            lo, hi = rng.choice(ids), rng.choice(ids)
            lo = (max(0, lo[0] + rng.randrange(-1, 2)), rng.randrange(3))
            hi = (max(0, hi[0] + rng.randrange(-1, 2)), rng.randrange(3))
        else:
            lo, hi = (0, 0), (m.last[0] + 1, 0)
        if lo > hi:
            lo, hi = hi, lo
        want = m.range(lo, hi)
        count = rng.choice([None, 1, 7, 100])
        args = ["XRANGE", key, fmt(lo), fmt(hi)] + (["COUNT", count] if count else [])
        assert as_model(call(r, *args)) == (want[:count] if count else want), args
        args = ["XREVRANGE", key, fmt(hi), fmt(lo)] + (["COUNT", count] if count else [])
        assert as_model(call(r, *args)) == (want[::-1][:count] if count else want[::-1]), args
    info = info_stream(r, key)
    assert info["length"] == len(m.entries)
    assert info["entries-added"] == m.added
    assert info["last-generated-id"] == fmt(m.last)
    assert info["max-deleted-entry-id"] == fmt(m.max_deleted)
    if m.entries:
        assert info["first-entry"] == (fmt(m.entries[0][0]), m.entries[0][1])
        assert info["last-entry"] == (fmt(m.entries[-1][0]), m.entries[-1][1])
        assert info["recorded-first-entry-id"] == fmt(m.entries[0][0])
    else:
        assert info["first-entry"] is None and info["last-entry"] is None


def note(removed, p, m, before, rep):
    if isinstance(rep, int):
        removed[p[0]] = removed.get(p[0], 0) + rep
    elif p[0] in ("add", "addtrim"):
        k = p[0] + ("-refused" if isinstance(rep, Exception) else "")
        removed[k] = removed.get(k, 0) + 1


def test_many_entries_across_segments_model(tincan):
    server = tincan("--segment-size", "65536")
    r = server.client()
    key = "big{model}"    # not an event type: lives in "_s0.big_7Bmodel_7D"
    rng = random.Random(20240607)
    m = Model()
    ops = 0
    OPS = 4000
    BATCH = 50
    compares = restarts = 0
    removed = {}
    while ops < OPS:
        pipe = r.pipeline(transaction=False)
        plan = []
        # what the top and the length will be at each planned op (the top's
        # ms is a lower bound: "*" may take a later wall clock ms)
        plan_ms, plan_len = m.last[0], len(m.entries)
        for _ in range(BATCH):
            x = rng.random()
            if x < 0.78 or len(m.entries) < 50:
                fields = [("n", str(ops)), ("pad", "p" * rng.randrange(40, 160))]
                if rng.random() < 0.1:
                    fields.append(("n", "dup"))
                kind = rng.random()
                if kind < 0.6:
                    idarg = "*"
                elif kind < 0.8:
                    plan_ms += rng.randrange(0, 2)
                    idarg = "%d-*" % plan_ms
                else:
                    plan_ms += rng.randrange(1, 3)
                    idarg = "%d-%d" % (plan_ms, rng.randrange(0, 5))
                plan_len += 1
                pipe.execute_command("XADD", key, idarg, *[v for f in fields for v in f])
                plan.append(("add", idarg, fields))
            elif x < 0.88:
                if rng.random() < 0.8 and m.entries:
                    i = rng.choice(m.entries)[0]
                else:
                    i = (rng.randrange(m.last[0] + 1), 9)
                pipe.execute_command("XDEL", key, fmt(i))
                plan_len -= 1
                plan.append(("del", i))
            elif x < 0.92:
                n = max(0, plan_len - rng.randrange(0, 10))
                plan_len = min(plan_len, n)
                approx = rng.random() < 0.3
                pipe.execute_command("XTRIM", key, "MAXLEN", "~" if approx else "=", n)
                plan.append(("maxlen", n, approx))
            elif x < 0.95 and m.entries:
                k = min(len(m.entries) - 1, rng.randrange(0, 10))
                i = m.entries[k][0]
                if rng.random() < 0.3:
                    i = (i[0], i[1] + 1)
                pipe.execute_command("XTRIM", key, "MINID", fmt(i))
                plan.append(("minid", i))
            else:
                # XADD with an inline exact MAXLEN
                n = max(1, plan_len - rng.randrange(0, 3))
                plan_len = min(plan_len + 1, n)
                pipe.execute_command("XADD", key, "MAXLEN", n, "*", "n", str(ops))
                plan.append(("addtrim", n, [("n", str(ops))]))
            ops += 1
        replies = pipe.execute(raise_on_error=False)
        for p, rep in zip(plan, replies):
            before = len(m.entries)
            note(removed, p, m, before, rep)
            if p[0] == "add":
                idarg = p[1]
                if idarg.endswith("-*"):
                    too_small = int(idarg[:-2]) < m.last[0]
                else:
                    too_small = idarg != "*" and sid(idarg) <= m.last
                if too_small:
                    # planned against the top before this batch; an earlier
                    # add of the batch went past it
                    assert isinstance(rep, redis.ResponseError), (p, rep)
                    assert "equal or smaller" in str(rep)
                    continue
                assert not isinstance(rep, Exception), (p, rep)
                i = sid(rep)
                if idarg == "*":
                    assert i > m.last
                elif idarg.endswith("-*"):
                    ms = int(idarg[:-2])
                    want = (ms, m.last[1] + 1) if ms == m.last[0] else (ms, 0)
                    assert i == want, (p, rep, m.last)
                else:
                    assert i == sid(idarg)
                m.add(i, p[2])
            elif p[0] == "del":
                assert rep == m.delete(p[1]), p
            elif p[0] == "maxlen":
                if p[2]:
                    # '~' drops whole nodes only: some oldest entries, never
                    # below the threshold
                    assert 0 <= rep <= max(0, len(m.entries) - p[1]), (p, rep)
                    del m.entries[:rep]
                else:
                    assert rep == m.trim_maxlen(p[1]), p
            elif p[0] == "minid":
                assert rep == m.trim_minid(p[1]), p
            else:
                assert not isinstance(rep, Exception), (p, rep)
                m.add(sid(rep), p[2])
                m.trim_maxlen(p[1])
        if ops % 400 == 0:
            compare(r, key, m, rng)
            compares += 1
        if ops % 1500 == 0:
            r = bounce(server, "kill" if restarts % 2 else "term")
            restarts += 1
            compare(r, key, m, rng)
    compare(r, key, m, rng)
    info = dict(pairs(call(r, "EV.INFO")))
    assert info["segments"] >= 4, info
    print("model: %d added, %d live, %r removed by kind" % (m.added, len(m.entries), removed))
    assert m.added > 2000 and len(m.entries) > 500, (m.added, len(m.entries))
    r = bounce(server, "kill")
    compare(r, key, m, rng)
    assert sid(r.xadd(key, {"last": "1"})) > m.last
    assert compares >= 10 and restarts >= 2
