"""Redis Streams through redis-py's own stream API (RESP2) and through raw
RESP3 replies, against the real server: what an unchanged Redis client sees.

Every expectation here is Redis 7.0's. To check an expectation against the
real thing, run this file with STREAM_REF_REDIS=/usr/bin/redis-server: the
`srv` fixture then starts that redis-server instead of tincan, and the tests
of tincan's own commands (EV.*) are skipped.
"""

import os
import re
import socket
import subprocess
import threading
import time

import pytest
import redis

from conftest import Resp3Map, call, make_client, wait_until

REF_REDIS = os.environ.get("STREAM_REF_REDIS")
ID_RE = re.compile(r"^\d+-\d+$")
BLOCK_MS = 5000  # a blocked read that should be woken long before this


class RefRedis:
    """A redis-server with no persistence, for STREAM_REF_REDIS runs."""

    def __init__(self, binary, workdir):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        self.port = s.getsockname()[1]
        s.close()
        self.host = "127.0.0.1"
        self.log = open(workdir / "redis.log", "wb")
        self.proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(workdir)],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT)

        def up():
            try:
                return make_client(self.host, self.port).ping()
            except redis.ConnectionError:
                return False
        wait_until(up, timeout=10, what="redis-server up")

    def client(self, protocol=2, decode_responses=True, **kwargs):
        return make_client(self.host, self.port, protocol=protocol,
                           decode_responses=decode_responses, **kwargs)

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


@pytest.fixture
def srv(request, tmp_path):
    """tincan (the conftest `server`), or redis-server with STREAM_REF_REDIS."""
    if REF_REDIS:
        ref = RefRedis(REF_REDIS, tmp_path)
        yield ref
        ref.stop()
    else:
        yield request.getfixturevalue("server")


tincan_only = pytest.mark.skipif(bool(REF_REDIS), reason="tincan's own commands")


def err_of(r, *args):
    with pytest.raises(redis.ResponseError) as e:
        call(r, *args)
    return str(e.value)


def rec(r):
    """A record reply (RESP3 map or RESP2 flat array) as a dict."""
    if isinstance(r, dict):
        return dict(r)
    return dict(zip(r[::2], r[1::2]))


def ids_of(entries):
    return [e[0] for e in entries]


def blocked_clients(r):
    return int(r.info("clients")["blocked_clients"])


def in_thread(fn):
    """Runs fn in a thread; returns a joiner giving (result, exception, s)."""
    box = {}

    def run():
        t0 = time.monotonic()
        try:
            box["res"] = fn()
        except Exception as e:  # noqa: BLE001 - handed back to the test
            box["exc"] = e
        box["secs"] = time.monotonic() - t0

    t = threading.Thread(target=run, daemon=True)
    t.start()

    def join(timeout=BLOCK_MS / 1000 + 5):
        t.join(timeout)
        assert not t.is_alive(), "blocked call did not return"
        if "exc" in box:
            raise box["exc"]
        return box["res"], box["secs"]
    return join


def fill(r, key, n, start=1):
    """XADDs n entries with IDs start-0 .. and fields {i: str(i)}."""
    return [r.xadd(key, {"i": str(i)}, id="%d-0" % i) for i in range(start, start + n)]


# --------------------------------------------------------------------------
# XADD / XRANGE / XREVRANGE / XLEN / XDEL / XTRIM
# --------------------------------------------------------------------------

@pytest.mark.parametrize("key", ["mystream", "orders.events", "app:stream{1}"])
def test_xadd_ids_and_xrange(srv, key):
    r = srv.client()
    assert r.xadd(key, {"a": "1"}, id="1-1") == "1-1"
    assert r.xadd(key, {"b": "2"}, id="1-*") == "1-2"
    assert r.xadd(key, {"c": "3"}, id="5") == "5-0"
    auto = r.xadd(key, {"d": "4", "e": "5"})
    assert ID_RE.match(auto)
    assert int(auto.split("-")[0]) > 5
    got = r.xrange(key)
    assert got == [("1-1", {"a": "1"}), ("1-2", {"b": "2"}), ("5-0", {"c": "3"}),
                   (auto, {"d": "4", "e": "5"})]
    # the field order is kept, as a flat array
    assert call(r, "XRANGE", key, auto, auto) == [[auto, ["d", "4", "e", "5"]]]
    assert r.xlen(key) == 4
    assert r.type(key) == "stream"
    # bad IDs
    assert err_of(r, "XADD", key, "3-0", "x", "y") == (
        "The ID specified in XADD is equal or smaller than the target stream top item")
    assert err_of(r, "XADD", key, auto, "x", "y") == (
        "The ID specified in XADD is equal or smaller than the target stream top item")
    assert err_of(r, "XADD", key + "x", "0-0", "x", "y") == (
        "The ID specified in XADD must be greater than 0-0")
    assert err_of(r, "XADD", key, "nope", "x", "y") == (
        "Invalid stream ID specified as stream command argument")
    assert r.xlen(key) == 4


def test_xadd_binary_values(srv):
    r = srv.client(decode_responses=False)
    blob = bytes(range(256))
    i = r.xadd("bin", {b"f\x00": blob, "u": "h\xe9llo \u2713"})
    assert r.xrange("bin") == [(i, {b"f\x00": blob, b"u": "h\xe9llo \u2713".encode()})]


def test_xadd_maxlen_exact_and_approximate(srv):
    r = srv.client()
    for i in range(1, 11):
        r.xadd("capped", {"i": str(i)}, id="%d-0" % i, maxlen=5, approximate=False)
    assert r.xlen("capped") == 5
    assert ids_of(r.xrange("capped")) == ["%d-0" % i for i in range(6, 11)]
    # '~' trims whole nodes only (stream-node-max-entries 100): nothing here
    r.xadd("capped", {"i": "11"}, id="11-0", maxlen=3, approximate=True)
    assert r.xlen("capped") == 6
    # MINID exact on XADD
    r.xadd("capped", {"i": "12"}, id="12-0", minid="10", approximate=False)
    assert ids_of(r.xrange("capped")) == ["10-0", "11-0", "12-0"]
    # LIMIT needs '~'
    assert err_of(r, "XADD", "capped", "MAXLEN", "1", "LIMIT", "10", "*", "a", "b") == (
        "syntax error, LIMIT cannot be used without the special ~ option")
    # maxlen=0 is valid for the server (redis-py refuses it client-side)
    assert call(r, "XADD", "capped", "MAXLEN", "0", "13-0", "a", "b") == "13-0"
    assert r.xlen("capped") == 0
    assert r.exists("capped") == 1


def test_xadd_nomkstream(srv):
    r = srv.client()
    assert r.xadd("nokey", {"a": "1"}, nomkstream=True) is None
    assert r.exists("nokey") == 0
    assert r.type("nokey") == "none"
    r.xadd("haskey", {"a": "1"}, id="1-0")
    assert r.xadd("haskey", {"a": "2"}, id="2-0", nomkstream=True) == "2-0"
    assert r.xlen("haskey") == 2


def test_xrange_xrevrange_bounds_and_count(srv):
    r = srv.client()
    fill(r, "rng", 5)
    assert ids_of(r.xrange("rng", count=2)) == ["1-0", "2-0"]
    assert ids_of(r.xrange("rng", min="3", max="+")) == ["3-0", "4-0", "5-0"]
    assert ids_of(r.xrange("rng", min="(3-0", max="(5-0")) == ["4-0"]
    assert ids_of(r.xrange("rng", min="2", max="4", count=10)) == ["2-0", "3-0", "4-0"]
    assert ids_of(r.xrevrange("rng", count=2)) == ["5-0", "4-0"]
    assert ids_of(r.xrevrange("rng", max="4", min="2")) == ["4-0", "3-0", "2-0"]
    assert ids_of(r.xrevrange("rng", max="(4-0", min="-", count=2)) == ["3-0", "2-0"]
    assert r.xrevrange("rng", max="1-0", min="1-0") == [("1-0", {"i": "1"})]
    assert r.xrange("rng", min="6", max="+") == []
    assert r.xrange("missing") == []
    assert r.xrevrange("missing") == []
    assert call(r, "XRANGE", "rng", "-", "+", "COUNT", "0") is None  # 7.0: *-1
    # paging the way clients do: exclusive start after the last seen ID
    seen, start = [], "-"
    for _ in range(10):
        page = r.xrange("rng", min=start, count=2)
        if not page:
            break
        seen += ids_of(page)
        start = "(" + page[-1][0]
    assert seen == ["%d-0" % i for i in range(1, 6)]


def test_xlen_xdel(srv):
    r = srv.client()
    fill(r, "del", 5)
    assert r.xdel("del", "2-0", "9-0") == 1
    assert r.xdel("del", "2-0") == 0
    assert r.xlen("del") == 4
    assert ids_of(r.xrange("del")) == ["1-0", "3-0", "4-0", "5-0"]
    assert r.xdel("del", "5-0", "1-0") == 2
    assert ids_of(r.xrange("del")) == ["3-0", "4-0"]
    # the top ID stays: no going back below a deleted last entry
    assert err_of(r, "XADD", "del", "5-0", "a", "b").startswith(
        "The ID specified in XADD is equal or smaller")
    assert r.xlen("missing") == 0
    assert r.xdel("missing", "1-0") == 0


def test_xtrim_maxlen_and_minid(srv):
    r = srv.client()
    fill(r, "trim", 8)
    assert r.xtrim("trim", maxlen=6, approximate=False) == 2
    assert ids_of(r.xrange("trim"))[0] == "3-0"
    assert r.xtrim("trim", minid="5", approximate=False) == 2
    assert ids_of(r.xrange("trim")) == ["5-0", "6-0", "7-0", "8-0"]
    assert r.xtrim("trim", maxlen=100, approximate=False) == 0
    assert r.xtrim("trim", maxlen=2, approximate=True) == 0  # within one node
    assert r.xtrim("trim", maxlen=0, approximate=False) == 4
    assert r.xlen("trim") == 0
    assert r.exists("trim") == 1
    assert r.xtrim("missing", maxlen=1) == 0
    assert err_of(r, "XTRIM", "trim", "MAXLEN", "-1") == (
        "The MAXLEN argument must be >= 0.")


# --------------------------------------------------------------------------
# XREAD
# --------------------------------------------------------------------------

def test_xread_streams_and_count(srv):
    r = srv.client()
    fill(r, "ra", 3)
    fill(r, "rb", 2, start=10)
    got = r.xread({"ra": "0", "rb": "0"}, count=2)
    assert got == [["ra", [("1-0", {"i": "1"}), ("2-0", {"i": "2"})]],
                   ["rb", [("10-0", {"i": "10"}), ("11-0", {"i": "11"})]]]
    got = r.xread({"ra": "2-0", "rb": "11-0"})
    assert got == [["ra", [("3-0", {"i": "3"})]]]
    assert r.xread({"ra": "3-0", "rb": "11-0"}) == []
    assert r.xread({"nothere": "0"}) == []
    assert r.xread({"ra": "$"}) == []
    assert call(r, "XREAD", "STREAMS", "ra", "$") is None


def test_xread_block_woken_by_another_client(srv):
    r, w = srv.client(), srv.client()
    r.xadd("blk", {"old": "1"}, id="1-0")
    join = in_thread(lambda: srv.client().xread({"other": "$", "blk": "$"}, block=BLOCK_MS))
    wait_until(lambda: blocked_clients(r) == 1, what="the reader blocked")
    new = w.xadd("blk", {"new": "2"})
    got, secs = join()
    assert got == [["blk", [(new, {"new": "2"})]]]
    assert secs < BLOCK_MS / 1000
    assert blocked_clients(r) == 0


def test_xread_block_on_a_missing_key_woken_by_xadd(srv):
    r = srv.client()
    join = in_thread(lambda: srv.client().xread({"later": "0-0"}, count=5, block=BLOCK_MS))
    wait_until(lambda: blocked_clients(r) == 1, what="the reader blocked")
    r.xadd("later", {"x": "1"}, id="7-1")
    got, _ = join()
    assert got == [["later", [("7-1", {"x": "1"})]]]


def test_xread_block_timeout_returns_empty(srv):
    r = srv.client()
    r.xadd("quiet", {"a": "1"})
    t0 = time.monotonic()
    assert r.xread({"quiet": "$"}, block=150) == []
    secs = time.monotonic() - t0
    assert 0.13 <= secs < 3
    t0 = time.monotonic()
    assert call(r, "XREAD", "BLOCK", "100", "STREAMS", "quiet", "$") is None
    assert time.monotonic() - t0 >= 0.09


# --------------------------------------------------------------------------
# consumer groups
# --------------------------------------------------------------------------

def test_xgroup_create_mkstream_and_ids(srv):
    r = srv.client()
    assert err_of(r, "XGROUP", "CREATE", "gs", "g0", "$") == (
        "The XGROUP subcommand requires the key to exist. Note that for CREATE you may "
        "want to use the MKSTREAM option to create an empty stream automatically.")
    assert r.xgroup_create("gs", "g1", id="$", mkstream=True) is True
    assert r.exists("gs") == 1
    assert r.type("gs") == "stream"
    assert r.xlen("gs") == 0
    fill(r, "gs", 3)
    assert r.xgroup_create("gs", "g2", id="$") is True
    assert r.xgroup_create("gs", "g3", id="0") is True
    with pytest.raises(redis.ResponseError) as e:
        r.xgroup_create("gs", "g3", id="0")
    assert str(e.value) == "BUSYGROUP Consumer Group name already exists"
    # '$' group sees nothing old; '0' group sees all; g1 (made before) all too
    assert r.xreadgroup("g2", "c", {"gs": ">"}) == []
    assert ids_of(r.xreadgroup("g3", "c", {"gs": ">"})[0][1]) == ["1-0", "2-0", "3-0"]
    assert ids_of(r.xreadgroup("g1", "c", {"gs": ">"})[0][1]) == ["1-0", "2-0", "3-0"]
    groups = {g["name"]: g for g in r.xinfo_groups("gs")}
    assert set(groups) == {"g1", "g2", "g3"}
    assert groups["g2"]["last-delivered-id"] == "3-0"
    assert groups["g2"]["pending"] == 0
    assert groups["g3"]["pending"] == 3


def test_xreadgroup_new_and_own_pending(srv):
    r = srv.client()
    fill(r, "rg", 4)
    r.xgroup_create("rg", "g", id="0")
    got = r.xreadgroup("g", "c1", {"rg": ">"}, count=2)
    assert got == [["rg", [("1-0", {"i": "1"}), ("2-0", {"i": "2"})]]]
    got = r.xreadgroup("g", "c2", {"rg": ">"}, count=1)
    assert ids_of(got[0][1]) == ["3-0"]
    # own pending history, from 0
    assert ids_of(r.xreadgroup("g", "c1", {"rg": "0"})[0][1]) == ["1-0", "2-0"]
    assert ids_of(r.xreadgroup("g", "c2", {"rg": "0"})[0][1]) == ["3-0"]
    assert ids_of(r.xreadgroup("g", "c1", {"rg": "1-0"})[0][1]) == ["2-0"]
    assert r.xack("rg", "g", "1-0", "7-0") == 1
    assert r.xack("rg", "g", "1-0") == 0
    assert ids_of(r.xreadgroup("g", "c1", {"rg": "0"})[0][1]) == ["2-0"]
    # a pending entry deleted from the stream shows as [id, nil]
    r.xdel("rg", "2-0")
    assert call(r, "XREADGROUP", "GROUP", "g", "c1", "STREAMS", "rg", "0") == [
        ["rg", [["2-0", None]]]]
    # a consumer with nothing pending gets the stream with an empty list
    assert r.xreadgroup("g", "c3", {"rg": "0"}) == [["rg", []]]
    # the last one, then nothing new
    assert ids_of(r.xreadgroup("g", "c1", {"rg": ">"})[0][1]) == ["4-0"]
    assert r.xreadgroup("g", "c1", {"rg": ">"}) == []
    assert call(r, "XREADGROUP", "GROUP", "g", "c1", "STREAMS", "rg", ">") is None


def test_xreadgroup_noack(srv):
    r = srv.client()
    fill(r, "na", 3)
    r.xgroup_create("na", "g", id="0")
    got = r.xreadgroup("g", "c", {"na": ">"}, count=2, noack=True)
    assert ids_of(got[0][1]) == ["1-0", "2-0"]
    assert r.xpending("na", "g")["pending"] == 0
    got = r.xreadgroup("g", "c", {"na": ">"})
    assert ids_of(got[0][1]) == ["3-0"]
    assert r.xpending("na", "g")["pending"] == 1


def test_xreadgroup_block_woken_by_xadd_from_another_connection(srv):
    r = srv.client()
    r.xgroup_create("wake", "g", id="$", mkstream=True)
    join = in_thread(lambda: srv.client().xreadgroup("g", "c1", {"wake": ">"},
                                                     count=10, block=BLOCK_MS))
    wait_until(lambda: blocked_clients(r) == 1, what="the group reader blocked")
    new = srv.client().xadd("wake", {"job": "1"})
    got, secs = join()
    assert got == [["wake", [(new, {"job": "1"})]]]
    assert secs < BLOCK_MS / 1000
    p = r.xpending("wake", "g")
    assert p == {"pending": 1, "min": new, "max": new,
                 "consumers": [{"name": "c1", "pending": 1}]}
    # a block that times out
    t0 = time.monotonic()
    assert r.xreadgroup("g", "c1", {"wake": ">"}, block=100) == []
    assert time.monotonic() - t0 >= 0.09


def test_xreadgroup_blocked_then_group_destroyed(srv):
    r = srv.client()
    r.xgroup_create("gone", "g", id="$", mkstream=True)
    c = srv.client()
    join = in_thread(lambda: c.xreadgroup("g", "c1", {"gone": ">"}, block=BLOCK_MS))
    wait_until(lambda: blocked_clients(r) == 1, what="the group reader blocked")
    r.delete("gone")
    with pytest.raises(redis.ResponseError) as e:
        join()
    assert str(e.value) == ("UNBLOCKED the stream key no longer exists")


def test_xpending_summary_and_range(srv):
    r = srv.client()
    fill(r, "pe", 4)
    r.xgroup_create("pe", "g", id="0")
    assert r.xpending("pe", "g") == {"pending": 0, "min": None, "max": None,
                                     "consumers": []}
    r.xreadgroup("g", "alice", {"pe": ">"}, count=3)
    r.xreadgroup("g", "bob", {"pe": ">"}, count=1)
    assert r.xpending("pe", "g") == {
        "pending": 4, "min": "1-0", "max": "4-0",
        "consumers": [{"name": "alice", "pending": 3}, {"name": "bob", "pending": 1}]}
    rows = r.xpending_range("pe", "g", min="-", max="+", count=10)
    assert [x["message_id"] for x in rows] == ["1-0", "2-0", "3-0", "4-0"]
    assert [x["consumer"] for x in rows] == ["alice"] * 3 + ["bob"]
    assert all(x["times_delivered"] == 1 for x in rows)
    assert all(0 <= x["time_since_delivered"] < 10000 for x in rows)
    rows = r.xpending_range("pe", "g", min="-", max="+", count=2)
    assert [x["message_id"] for x in rows] == ["1-0", "2-0"]
    rows = r.xpending_range("pe", "g", min="2", max="3", count=10)
    assert [x["message_id"] for x in rows] == ["2-0", "3-0"]
    rows = r.xpending_range("pe", "g", "-", "+", 10, consumername="bob")
    assert [(x["message_id"], x["consumer"]) for x in rows] == [("4-0", "bob")]
    assert r.xpending_range("pe", "g", "-", "+", 10, consumername="nobody") == []
    # IDLE: none idle for 60 s; after a short wait all idle >= 30 ms
    assert r.xpending_range("pe", "g", "-", "+", 10, idle=60000) == []
    time.sleep(0.06)
    rows = r.xpending_range("pe", "g", "-", "+", 10, idle=30)
    assert len(rows) == 4 and all(x["time_since_delivered"] >= 30 for x in rows)
    rows = r.xpending_range("pe", "g", "-", "+", 10, consumername="alice", idle=30)
    assert [x["message_id"] for x in rows] == ["1-0", "2-0", "3-0"]
    # a second delivery counts
    r.xreadgroup("g", "bob", {"pe": "0"})
    rows = r.xpending_range("pe", "g", "4", "4", 1)
    assert rows[0]["times_delivered"] == 2
    assert rows[0]["time_since_delivered"] < 30
    assert err_of(r, "XPENDING", "pe", "nog") == (
        "NOGROUP No such key 'pe' or consumer group 'nog'")


def test_xclaim_variants(srv):
    r = srv.client()
    fill(r, "cl", 4)
    r.xgroup_create("cl", "g", id="0")
    r.xreadgroup("g", "c1", {"cl": ">"}, count=3)
    # not idle long enough: nothing
    assert r.xclaim("cl", "g", "c2", 60000, ["1-0"]) == []
    time.sleep(0.06)
    got = r.xclaim("cl", "g", "c2", 30, ["1-0"])
    assert got == [("1-0", {"i": "1"})]
    row = r.xpending_range("cl", "g", "1-0", "1-0", 1)[0]
    assert row["consumer"] == "c2" and row["times_delivered"] == 2
    # JUSTID: the IDs, and the delivery count stays
    assert r.xclaim("cl", "g", "c2", 30, ["2-0"], justid=True) == ["2-0"]
    row = r.xpending_range("cl", "g", "2-0", "2-0", 1)[0]
    assert row["consumer"] == "c2" and row["times_delivered"] == 1
    # IDLE sets the idle time, RETRYCOUNT the delivery count
    assert r.xclaim("cl", "g", "c3", 0, ["3-0"], idle=90000, retrycount=7,
                    justid=True) == ["3-0"]
    row = r.xpending_range("cl", "g", "3-0", "3-0", 1)[0]
    assert row["consumer"] == "c3" and row["times_delivered"] == 7
    assert row["time_since_delivered"] >= 90000
    # not pending: nothing without FORCE, created with it
    assert r.xclaim("cl", "g", "c3", 0, ["4-0"]) == []
    assert r.xclaim("cl", "g", "c3", 0, ["4-0"], force=True) == [("4-0", {"i": "4"})]
    row = r.xpending_range("cl", "g", "4-0", "4-0", 1)[0]
    assert row["consumer"] == "c3"
    # FORCE on an ID that is not in the stream creates nothing
    assert r.xclaim("cl", "g", "c3", 0, ["99-0"], force=True) == []
    assert r.xpending("cl", "g")["pending"] == 4
    # a claimed entry that was deleted goes from the PEL (7.0: not returned)
    r.xdel("cl", "1-0")
    assert r.xclaim("cl", "g", "c1", 0, ["1-0"]) == []
    assert r.xpending("cl", "g")["pending"] == 3
    assert err_of(r, "XCLAIM", "cl", "nog", "c", "0", "1-0") == (
        "NOGROUP No such key 'cl' or consumer group 'nog'")


def test_xautoclaim_cursor_iteration(srv):
    r = srv.client()
    fill(r, "ac", 7)
    r.xgroup_create("ac", "g", id="0")
    r.xreadgroup("g", "c1", {"ac": ">"})
    # nothing idle for long
    assert r.xautoclaim("ac", "g", "c2", 60000, start_id="0-0", count=10) == [
        "0-0", [], []]
    time.sleep(0.06)
    r.xdel("ac", "4-0")
    claimed, deleted, cursor = [], [], "0-0"
    for _ in range(10):
        nxt, entries, dels = r.xautoclaim("ac", "g", "c2", 30, start_id=cursor, count=2)
        claimed += entries
        deleted += dels
        cursor = nxt
        if cursor == "0-0":
            break
    assert cursor == "0-0"
    assert ids_of(claimed) == ["1-0", "2-0", "3-0", "5-0", "6-0", "7-0"]
    assert claimed[0] == ("1-0", {"i": "1"})
    assert deleted == ["4-0"]
    p = r.xpending("ac", "g")
    assert p["pending"] == 6 and p["consumers"] == [{"name": "c2", "pending": 6}]
    # JUSTID: redis-py gives the ID list only
    time.sleep(0.04)
    assert r.xautoclaim("ac", "g", "c3", 30, start_id="0-0", count=3, justid=True) == [
        "1-0", "2-0", "3-0"]
    raw = call(r, "XAUTOCLAIM", "ac", "g", "c3", "0", "6-0", "JUSTID")
    assert raw == ["0-0", ["6-0", "7-0"], []]
    assert err_of(r, "XAUTOCLAIM", "ac", "g", "c", "0", "0", "COUNT", "0") == (
        "COUNT must be > 0")


# --------------------------------------------------------------------------
# XINFO, XGROUP SETID / CREATECONSUMER / DELCONSUMER / DESTROY, XSETID
# --------------------------------------------------------------------------

def test_xinfo_stream(srv):
    r = srv.client()
    fill(r, "inf", 3)
    r.xdel("inf", "2-0")
    r.xgroup_create("inf", "g", id="0")
    r.xreadgroup("g", "c1", {"inf": ">"}, count=1)
    info = r.xinfo_stream("inf")
    assert info["length"] == 2
    assert info["last-generated-id"] == "3-0"
    assert info["max-deleted-entry-id"] == "2-0"
    assert info["entries-added"] == 3
    assert info["groups"] == 1
    assert info["first-entry"] == ("1-0", {"i": "1"})
    assert info["last-entry"] == ("3-0", {"i": "3"})
    assert {"radix-tree-keys", "radix-tree-nodes", "recorded-first-entry-id"} <= set(info)
    assert info["recorded-first-entry-id"] == "1-0"
    full = r.xinfo_stream("inf", full=True)
    assert full["length"] == 2
    assert full["entries"] == {"1-0": {"i": "1"}, "3-0": {"i": "3"}}
    assert len(full["groups"]) == 1
    g = full["groups"][0]
    assert g["name"] == "g" and g["last-delivered-id"] == "1-0"
    # a deleted entry after the group's last ID: entries-read and lag unknown
    assert g["entries-read"] is None and g["lag"] is None
    assert g["pel-count"] == 1
    assert g["pending"][0][:2] == ["1-0", "c1"] and g["pending"][0][3] == 1
    assert len(g["consumers"]) == 1
    cons = dict(zip(g["consumers"][0][::2], g["consumers"][0][1::2]))
    assert cons["name"] == "c1" and cons["pel-count"] == 1
    assert cons["pending"][0][0] == "1-0" and cons["pending"][0][2] == 1
    assert isinstance(cons["seen-time"], int)
    raw = rec(call(r, "XINFO", "STREAM", "inf", "FULL", "COUNT", "1"))
    assert raw["entries"] == [["1-0", ["i", "1"]]]
    # an empty stream
    r.xgroup_create("empty", "g", id="$", mkstream=True)
    info = r.xinfo_stream("empty")
    assert info["length"] == 0 and info["first-entry"] is None
    assert info["last-entry"] is None and info["last-generated-id"] == "0-0"
    with pytest.raises(redis.ResponseError) as e:
        r.xinfo_stream("nope")
    assert str(e.value) == "no such key"


def test_xinfo_groups_and_consumers(srv):
    r = srv.client()
    fill(r, "ig", 5)
    r.xgroup_create("ig", "g1", id="0")
    r.xgroup_create("ig", "g2", id="$")
    r.xreadgroup("g1", "c1", {"ig": ">"}, count=2)
    r.xreadgroup("g1", "c2", {"ig": ">"}, count=1)
    groups = r.xinfo_groups("ig")
    assert [g["name"] for g in groups] == ["g1", "g2"]
    g1, g2 = groups
    assert g1 == {"name": "g1", "consumers": 2, "pending": 3,
                  "last-delivered-id": "3-0", "entries-read": 3, "lag": 2}
    assert g2["consumers"] == 0 and g2["pending"] == 0
    assert g2["last-delivered-id"] == "5-0" and g2["lag"] == 0
    cons = r.xinfo_consumers("ig", "g1")
    assert [(c["name"], c["pending"]) for c in cons] == [("c1", 2), ("c2", 1)]
    assert all(c["idle"] >= 0 for c in cons)
    assert r.xinfo_consumers("ig", "g2") == []
    with pytest.raises(redis.ResponseError) as e:
        r.xinfo_consumers("ig", "nog")
    assert str(e.value) == "NOGROUP No such consumer group 'nog' for key name 'ig'"


def test_xgroup_setid_consumers_destroy(srv):
    r = srv.client()
    fill(r, "gm", 3)
    r.xgroup_create("gm", "g", id="$")
    assert r.xreadgroup("g", "c1", {"gm": ">"}) == []
    assert r.xgroup_setid("gm", "g", id="0") is True
    assert ids_of(r.xreadgroup("g", "c1", {"gm": ">"})[0][1]) == ["1-0", "2-0", "3-0"]
    assert r.xgroup_setid("gm", "g", id="2-0", entries_read=2) is True
    g = r.xinfo_groups("gm")[0]
    assert g["last-delivered-id"] == "2-0" and g["entries-read"] == 2 and g["lag"] == 1
    # create consumer: 1 the first time, 0 after
    assert r.xgroup_createconsumer("gm", "g", "c9") == 1
    assert r.xgroup_createconsumer("gm", "g", "c9") == 0
    assert [c["name"] for c in r.xinfo_consumers("gm", "g")] == ["c1", "c9"]
    # del consumer: its pending count, and its pending entries go
    assert r.xgroup_delconsumer("gm", "g", "c1") == 3
    assert r.xpending("gm", "g")["pending"] == 0
    assert r.xgroup_delconsumer("gm", "g", "nobody") == 0
    assert [c["name"] for c in r.xinfo_consumers("gm", "g")] == ["c9"]
    # destroy
    assert r.xgroup_destroy("gm", "g") == 1
    assert r.xgroup_destroy("gm", "g") == 0
    assert r.xinfo_groups("gm") == []
    with pytest.raises(redis.ResponseError) as e:
        r.xreadgroup("g", "c1", {"gm": ">"})
    assert str(e.value) == (
        "NOGROUP No such key 'gm' or consumer group 'g' in XREADGROUP with GROUP option")
    assert err_of(r, "XGROUP", "SETID", "gm", "nog", "0") == (
        "NOGROUP No such consumer group 'nog' for key name 'gm'")


def test_xsetid(srv):
    r = srv.client()
    fill(r, "si", 2)
    assert call(r, "XSETID", "si", "10-0") == "OK"
    assert r.xinfo_stream("si")["last-generated-id"] == "10-0"
    assert r.xadd("si", {"a": "b"}, id="10-*") == "10-1"
    assert err_of(r, "XSETID", "si", "1-0") == (
        "The ID specified in XSETID is smaller than the target stream top item")
    assert call(r, "XSETID", "si", "20-0", "ENTRIESADDED", "10", "MAXDELETEDID", "15-0") == "OK"
    info = r.xinfo_stream("si")
    assert info["entries-added"] == 10 and info["max-deleted-entry-id"] == "15-0"
    assert err_of(r, "XSETID", "nokey", "1-0") == "no such key"


# --------------------------------------------------------------------------
# error texts
# --------------------------------------------------------------------------

def test_error_texts(srv):
    r = srv.client()
    r.xadd("e", {"a": "1"}, id="1-0")
    wrong = "wrong number of arguments for '%s' command"
    assert err_of(r, "XADD", "e") == wrong % "xadd"
    assert err_of(r, "XADD", "e", "*", "f") == wrong % "xadd"
    assert err_of(r, "XADD", "e", "*", "f", "v", "g") == wrong % "xadd"
    assert err_of(r, "XRANGE", "e", "-") == wrong % "xrange"
    assert err_of(r, "XLEN") == wrong % "xlen"
    assert err_of(r, "XACK", "e", "g") == wrong % "xack"
    assert err_of(r, "XREADGROUP", "GROUP", "g") == wrong % "xreadgroup"
    # the last possible ID: every XADD after it, explicit IDs too
    top = "18446744073709551615-18446744073709551615"
    assert call(r, "XADD", "full", top, "a", "1") == top
    for i in ("*", "99-*", top, "1-1"):
        assert err_of(r, "XADD", "full", i, "a", "1") == (
            "The stream has exhausted the last possible ID, unable to add more items")
    assert err_of(r, "XRANGE", "e", "x", "+") == (
        "Invalid stream ID specified as stream command argument")
    assert err_of(r, "XRANGE", "e", "-", "+", "COUNT", "x") == (
        "value is not an integer or out of range")
    assert err_of(r, "XREAD", "STREAMS", "e") == wrong % "xread"
    assert err_of(r, "XREAD", "STREAMS", "e", "f", "0") == (
        "Unbalanced XREAD list of streams: for each stream key an ID or '$' must be "
        "specified.")
    assert err_of(r, "XREAD", "COUNT", "1", "e", "0") == "syntax error"
    assert err_of(r, "XREAD", "STREAMS", "e", ">") == (
        "The > ID can be specified only when calling XREADGROUP using the GROUP "
        "<group> <consumer> option.")
    assert err_of(r, "XREADGROUP", "GROUP", "nog", "c", "STREAMS", "e", ">") == (
        "NOGROUP No such key 'e' or consumer group 'nog' in XREADGROUP with GROUP option")
    assert err_of(r, "XREADGROUP", "GROUP", "nog", "c", "STREAMS", "nokey", ">") == (
        "NOGROUP No such key 'nokey' or consumer group 'nog' in XREADGROUP with GROUP "
        "option")
    assert err_of(r, "XGROUP", "CREATE", "e", "g", "bad") == (
        "Invalid stream ID specified as stream command argument")
    # container commands: unknown subcommand, a subcommand's arity, its syntax
    assert err_of(r, "XGROUP", "FOO", "e") == "unknown subcommand 'FOO'. Try XGROUP HELP."
    assert err_of(r, "XINFO", "FOO") == "unknown subcommand 'FOO'. Try XINFO HELP."
    assert err_of(r, "XINFO", "STREAM") == wrong % "xinfo|stream"
    assert err_of(r, "XINFO", "GROUPS", "e", "x") == wrong % "xinfo|groups"
    assert err_of(r, "XINFO", "CONSUMERS", "e") == wrong % "xinfo|consumers"
    assert err_of(r, "XGROUP", "CREATE", "e") == wrong % "xgroup|create"
    assert err_of(r, "XGROUP", "SETID", "e", "g") == wrong % "xgroup|setid"
    assert err_of(r, "XGROUP", "DESTROY", "e") == wrong % "xgroup|destroy"
    assert err_of(r, "XGROUP", "CREATECONSUMER", "e", "g") == wrong % "xgroup|createconsumer"
    assert err_of(r, "XGROUP", "DELCONSUMER", "e", "g", "c", "x") == (
        wrong % "xgroup|delconsumer")
    assert err_of(r, "XGROUP", "CREATE", "e", "g", "0", "FOO") == (
        "unknown subcommand or wrong number of arguments for 'CREATE'. Try XGROUP HELP.")
    assert err_of(r, "XINFO", "STREAM", "e", "FOO") == (
        "unknown subcommand or wrong number of arguments for 'STREAM'. Try XINFO HELP.")
    assert err_of(r, "XINFO", "STREAM", "e", "FULL", "COUNT") == (
        "unknown subcommand or wrong number of arguments for 'STREAM'. Try XINFO HELP.")
    assert err_of(r, "XTRIM", "e", "FOO", "1") == "syntax error"
    r.xgroup_create("e", "g", id="0")
    assert err_of(r, "XCLAIM", "e", "g", "c", "x", "1-0") == (
        "Invalid min-idle-time argument for XCLAIM")


# --------------------------------------------------------------------------
# the keyspace and transactions
# --------------------------------------------------------------------------

def test_del_exists_type_keys_scan(srv):
    r = srv.client()
    names = ["ks.one", "ks.two", "ks:three", "other"]
    for n in names:
        r.xadd(n, {"a": "1"})
    r.xgroup_create("ks.empty", "g", mkstream=True)
    assert r.exists(*names, "ks.empty", "missing") == 5
    assert {r.type(n) for n in names + ["ks.empty"]} == {"stream"}
    assert r.type("missing") == "none"
    assert sorted(r.keys("*")) == sorted(names + ["ks.empty"])
    assert sorted(r.keys("ks*")) == ["ks.empty", "ks.one", "ks.two", "ks:three"]
    seen, cursor = [], 0
    for _ in range(100):
        cursor, batch = r.scan(cursor, match="ks*", count=2)
        seen += batch
        if cursor == 0:
            break
    assert cursor == 0
    assert sorted(set(seen)) == ["ks.empty", "ks.one", "ks.two", "ks:three"]
    assert sorted(r.scan_iter(_type="stream")) == sorted(names + ["ks.empty"])
    assert r.dbsize() == 5
    assert r.delete("ks.one", "ks:three", "missing") == 2
    assert r.exists("ks.one") == 0 and r.type("ks.one") == "none"
    assert r.xlen("ks.one") == 0 and r.xrange("ks.one") == []
    assert sorted(r.keys("*")) == ["ks.empty", "ks.two", "other"]
    # a re-created stream starts afresh (the old entries are gone)
    i = r.xadd("ks.one", {"b": "2"})
    assert r.xrange("ks.one") == [(i, {"b": "2"})]
    assert r.xinfo_stream("ks.one")["entries-added"] == 1
    assert r.flushdb() is True
    assert r.keys("*") == [] and r.dbsize() == 0


def test_pipeline_transaction_of_xadds(srv):
    r = srv.client()
    with r.pipeline(transaction=True) as p:
        p.xadd("tx", {"n": "1"}, id="1-0")
        p.xadd("tx", {"n": "2"}, id="2-0")
        p.xadd("tx.other", {"n": "3"})
        p.xlen("tx")
        p.xrange("tx")
        out = p.execute()
    assert out[:2] == ["1-0", "2-0"]
    assert ID_RE.match(out[2])
    assert out[3] == 2
    assert out[4] == [("1-0", {"n": "1"}), ("2-0", {"n": "2"})]
    # an error inside EXEC hits only its own command
    with r.pipeline(transaction=True) as p:
        p.xadd("tx", {"n": "x"}, id="1-0")
        p.xadd("tx", {"n": "4"}, id="4-0")
        out = p.execute(raise_on_error=False)
    assert isinstance(out[0], redis.ResponseError)
    assert str(out[0]).startswith("The ID specified in XADD is equal or smaller")
    assert out[1] == "4-0"
    assert r.xlen("tx") == 3
    # non-transactional pipeline too
    with r.pipeline(transaction=False) as p:
        for i in range(5, 10):
            p.xadd("tx", {"n": str(i)}, id="%d-0" % i)
        assert p.execute() == ["%d-0" % i for i in range(5, 10)]


# --------------------------------------------------------------------------
# RESP3
# --------------------------------------------------------------------------

def test_resp3_reply_types(srv):
    r = srv.client(protocol=3)
    r.xadd("r3", {"a": "1", "b": "2"}, id="1-0")
    r.xadd("r3", {"c": "3"}, id="2-0")
    # XRANGE: arrays of [id, [field, value, ...]]
    got = call(r, "XRANGE", "r3", "-", "+")
    assert got == [["1-0", ["a", "1", "b", "2"]], ["2-0", ["c", "3"]]]
    assert not isinstance(got[0][1], dict)
    # XREAD: a map of key -> entries; nil on timeout
    got = call(r, "XREAD", "STREAMS", "r3", "missing", "0", "0")
    assert isinstance(got, Resp3Map)
    assert got == {"r3": [["1-0", ["a", "1", "b", "2"]], ["2-0", ["c", "3"]]]}
    assert call(r, "XREAD", "BLOCK", "50", "STREAMS", "r3", "$") is None
    assert call(r, "XREAD", "STREAMS", "r3", "2-0") is None
    # groups
    assert call(r, "XGROUP", "CREATE", "r3", "g", "0") == "OK"
    got = call(r, "XREADGROUP", "GROUP", "g", "c", "COUNT", "1", "STREAMS", "r3", ">")
    assert isinstance(got, Resp3Map) and got == {"r3": [["1-0", ["a", "1", "b", "2"]]]}
    assert call(r, "XREADGROUP", "GROUP", "g", "c", "STREAMS", "r3", "0") == {
        "r3": [["1-0", ["a", "1", "b", "2"]]]}
    got = call(r, "XPENDING", "r3", "g")
    assert got == [1, "1-0", "1-0", [["c", "1"]]]
    rows = call(r, "XPENDING", "r3", "g", "-", "+", "10")
    assert rows[0][:2] == ["1-0", "c"] and rows[0][3] == 2  # '0' read redelivers
    assert isinstance(rows[0][2], int)
    got = call(r, "XAUTOCLAIM", "r3", "g", "c2", "0", "0")
    assert got == ["0-0", [["1-0", ["a", "1", "b", "2"]]], []]
    assert call(r, "XCLAIM", "r3", "g", "c", "0", "1-0", "JUSTID") == ["1-0"]
    # XINFO: maps
    info = call(r, "XINFO", "STREAM", "r3")
    assert isinstance(info, Resp3Map)
    assert info["length"] == 2 and info["last-generated-id"] == "2-0"
    assert info["first-entry"] == ["1-0", ["a", "1", "b", "2"]]
    groups = call(r, "XINFO", "GROUPS", "r3")
    assert isinstance(groups, list) and isinstance(groups[0], Resp3Map)
    assert groups[0]["name"] == "g" and groups[0]["pending"] == 1
    assert groups[0]["lag"] == 1
    cons = call(r, "XINFO", "CONSUMERS", "r3", "g")
    assert [(c["name"], c["pending"]) for c in cons] == [("c", 1), ("c2", 0)]
    assert all(isinstance(c, Resp3Map) for c in cons)
    full = call(r, "XINFO", "STREAM", "r3", "FULL")
    assert isinstance(full, Resp3Map) and isinstance(full["groups"][0], Resp3Map)
    assert isinstance(full["groups"][0]["consumers"][0], Resp3Map)
    assert full["entries"][1] == ["2-0", ["c", "3"]]
    # XINFO GROUPS lag nil after a deletion in the middle of the unread part
    call(r, "XADD", "r3", "3-0", "d", "4")
    call(r, "XDEL", "r3", "2-0")
    assert call(r, "XINFO", "GROUPS", "r3")[0]["lag"] is None
    # empty stream: nil first/last entries
    call(r, "XGROUP", "CREATE", "r3e", "g", "$", "MKSTREAM")
    info = call(r, "XINFO", "STREAM", "r3e")
    assert info["first-entry"] is None and info["last-entry"] is None
    assert call(r, "XREADGROUP", "GROUP", "g", "c", "STREAMS", "r3e", ">") is None
    assert err_of(r, "XADD", "r3", "1-0", "x", "y") == (
        "The ID specified in XADD is equal or smaller than the target stream top item")


def test_resp3_blocked_xreadgroup_woken(srv):
    r = srv.client(protocol=3)
    call(r, "XGROUP", "CREATE", "r3b", "g", "$", "MKSTREAM")
    c = srv.client(protocol=3)
    join = in_thread(lambda: call(c, "XREADGROUP", "GROUP", "g", "c", "BLOCK",
                                  str(BLOCK_MS), "STREAMS", "r3b", ">"))
    wait_until(lambda: blocked_clients(srv.client()) == 1, what="blocked")
    i = srv.client().xadd("r3b", {"k": "v"})
    got, _ = join()
    assert isinstance(got, Resp3Map) and got == {"r3b": [[i, ["k", "v"]]]}


# --------------------------------------------------------------------------
# the one history: event types are streams
# --------------------------------------------------------------------------

@tincan_only
def test_ev_pub_shows_in_xrange_and_xadd_shows_in_ev_range(server):
    r = server.client()
    pos = call(r, "EV.PUB", "order.created", "the-payload", "HDR", "k", "v")
    assert isinstance(pos, int) and pos >= 1
    got = call(r, "XRANGE", "order.created", "-", "+")
    assert len(got) == 1
    eid, fields = got[0]
    assert fields == ["k", "v", "payload", "the-payload"]
    assert rec(call(r, "EV.GET", pos))["entry_id"] == eid
    assert r.type("order.created") == "stream"
    assert r.xlen("order.created") == 1
    new = r.xadd("order.created", {"a": "1"})
    evs = [rec(e) for e in call(r, "EV.RANGE", "order.created")]
    assert [e["entry_id"] for e in evs] == [eid, new]
    assert rec(evs[0]["headers"]) == {"k": "v"}
    assert evs[0]["payload"] == "the-payload"
    assert evs[1]["type"] == "order.created"
    assert rec(evs[1]["headers"]) == {"a": "1"}
    # a group reader sees both, in order
    r.xgroup_create("order.created", "g", id="0")
    got = r.xreadgroup("g", "c", {"order.created": ">"})
    assert got == [["order.created", [(eid, {"k": "v", "payload": "the-payload"}),
                                      (new, {"a": "1"})]]]


@tincan_only
def test_xread_block_woken_by_ev_pub(server):
    r = server.client()
    join = in_thread(lambda: server.client().xread({"pay.done": "$"}, block=BLOCK_MS))
    wait_until(lambda: blocked_clients(r) == 1, what="the reader blocked")
    call(r, "EV.PUB", "pay.done", "p1")
    got, secs = join()
    assert len(got) == 1 and got[0][0] == "pay.done"
    assert got[0][1][0][1] == {"payload": "p1"}
    assert secs < BLOCK_MS / 1000


@pytest.mark.parametrize("protocol", [2, 3])
def test_xreadgroup_several_streams_history_and_new(srv, protocol):
    r = srv.client(protocol=protocol)
    for k in ("m1", "m2", "m3"):
        call(r, "XADD", k, "1-0", "k", k)
        call(r, "XGROUP", "CREATE", k, "g", "0")
    call(r, "XREADGROUP", "GROUP", "g", "c", "STREAMS", "m1", ">")
    # history of all three: every stream answers, the unread ones empty
    got = call(r, "XREADGROUP", "GROUP", "g", "c", "STREAMS", "m1", "m2", "m3",
               "0", "0", "0")
    pairs = list(got.items()) if isinstance(got, dict) else [tuple(x) for x in got]
    assert pairs == [("m1", [["1-0", ["k", "m1"]]]), ("m2", []), ("m3", [])]
    assert isinstance(got, dict) == (protocol == 3)
    # new entries: only the streams with something
    got = call(r, "XREADGROUP", "GROUP", "g", "c", "STREAMS", "m1", "m2", "m3",
               ">", ">", ">")
    pairs = list(got.items()) if isinstance(got, dict) else [tuple(x) for x in got]
    assert pairs == [("m2", [["1-0", ["k", "m2"]]]), ("m3", [["1-0", ["k", "m3"]]])]
    # mixed: history of one, new of another; the connection stays in step
    call(r, "XADD", "m1", "2-0", "k", "new")
    got = call(r, "XREADGROUP", "GROUP", "g", "c", "STREAMS", "m2", "m1", "0", ">")
    pairs = list(got.items()) if isinstance(got, dict) else [tuple(x) for x in got]
    assert pairs == [("m2", [["1-0", ["k", "m2"]]]), ("m1", [["2-0", ["k", "new"]]])]
    assert call(r, "PING") in ("PONG", b"PONG")


def test_groups_and_consumers_listed_by_name(srv):
    # Redis keeps both in radix trees: byte order of the names, not creation
    r = srv.client()
    fill(r, "ord", 3)
    for g in ("zg", "ag", "a", "mg"):
        r.xgroup_create("ord", g, id="0")
    assert [g["name"] for g in r.xinfo_groups("ord")] == ["a", "ag", "mg", "zg"]
    for c in ("zc", "ac", "Bc"):
        r.xreadgroup("zg", c, {"ord": ">"}, count=1)
    assert [c["name"] for c in r.xinfo_consumers("ord", "zg")] == ["Bc", "ac", "zc"]
    assert [c["name"] for c in r.xpending("ord", "zg")["consumers"]] == ["Bc", "ac", "zc"]
    full = r.xinfo_stream("ord", full=True)
    assert [g["name"] for g in full["groups"]] == ["a", "ag", "mg", "zg"]
    cons = full["groups"][3]["consumers"]
    assert [dict(zip(c[::2], c[1::2]))["name"] for c in cons] == ["Bc", "ac", "zc"]


@tincan_only
def test_groups_consumers_and_pending_survive_a_restart(server):
    r = server.client()
    fill(r, "keep", 3)
    r.xgroup_create("keep", "zg", id="0")
    r.xgroup_create("keep", "ag", id="$")
    r.xreadgroup("zg", "zc", {"keep": ">"}, count=1)
    r.xreadgroup("zg", "ac", {"keep": ">"}, count=1)
    before = (r.xinfo_groups("keep"), r.xpending("keep", "zg"),
              [c["name"] for c in r.xinfo_consumers("keep", "zg")])
    server.restart()
    r = server.client()
    after = (r.xinfo_groups("keep"), r.xpending("keep", "zg"),
             [c["name"] for c in r.xinfo_consumers("keep", "zg")])
    assert after == before
    assert [g["name"] for g in after[0]] == ["ag", "zg"] and after[2] == ["ac", "zc"]
    assert ids_of(r.xreadgroup("zg", "ac", {"keep": ">"})[0][1]) == ["3-0"]
