"""EV.REPLAY name POSITIONS p [p ...] (issue 12, replay from query results):
exactly the stored events at the positions given are delivered into a
subscription again, once each, in position order, whatever their types and
the subscription's own bindings; durable across SIGTERM and SIGKILL.
"""

import os
import random
import signal
import threading
import time

import pytest
import redis

from conftest import resp_encode, wait_until


def rec(r):
    """A record reply (RESP3 map or RESP2 flat array) as a dict."""
    if isinstance(r, dict):
        return dict(r)
    return dict(zip(r[::2], r[1::2]))


def pub(r, type_, payload="x"):
    return int(r.execute_command("EV.PUB", type_, payload))


def pub_many(r, types, payload="v", batch=2000):
    """Publishes one event per entry of types (pipelined); their positions."""
    out = []
    for i in range(0, len(types), batch):
        pipe = r.pipeline(transaction=False)
        for t in types[i:i + batch]:
            pipe.execute_command("EV.PUB", t, payload)
        out += [int(p) for p in pipe.execute()]
    return out


def read(r, name, consumer, *opts):
    return [rec(e) for e in r.execute_command("EV.READ", name, consumer, *opts)]


def positions(events):
    return [int(e["position"]) for e in events]


def subs(r):
    return {rec(s)["name"]: rec(s) for s in r.execute_command("EV.SUBS")}


def replay(r, name, *ps):
    return rec(r.execute_command("EV.REPLAY", name, "POSITIONS", *ps))


def err_of(r, *args):
    with pytest.raises(redis.ResponseError) as e:
        r.execute_command(*args)
    return str(e.value)


def drain(r, name, consumer="c", count=100, ack=True):
    """Reads until nothing is left, acking every page; the events read."""
    got = []
    while True:
        evs = read(r, name, consumer, "COUNT", count)
        if not evs:
            return got
        got += evs
        if ack:
            r.execute_command("EV.ACK", name, *positions(evs))


# ---------------------------------------------------------------------------
# delivery
# ---------------------------------------------------------------------------

def test_delivers_exactly_the_positions_in_order_across_types(server):
    r = server.client()
    types = ["order.created", "user.signup", "audit", "payment.card.failed"]
    ps = [pub(r, types[i % 4], "p%d" % i) for i in range(30)]
    # its own binding matches some of them, but it starts after all of them
    assert r.execute_command("EV.SUB", "copy", "order.#") == 1
    want = [ps[20], ps[3], ps[7], ps[3], ps[14], ps[0], ps[20], ps[29]]
    rep = replay(r, "copy", *want)
    assert rep["count"] == 6
    assert rep["from_position"] == ps[0] and rep["to_position"] == ps[29]
    assert isinstance(rep["replay_id"], int) and rep["replay_id"] >= 1
    assert subs(r)["copy"]["replays"] == 1
    assert r.info("bus")["bus_sub0"]["replays"] == 1
    got = []
    while True:
        evs = read(r, "copy", "c", "COUNT", 2)
        if not evs:
            break
        got += evs
        assert r.execute_command("EV.ACK", "copy", *positions(evs)) == len(evs)
    assert positions(got) == sorted(set(want))
    assert {e["type"] for e in got} == set(types)  # whatever the bindings
    for e in got:  # each exactly as EV.GET gives it, plus deliveries
        full = rec(r.execute_command("EV.GET", e["position"]))
        d = dict(e)
        assert d.pop("deliveries") == 1
        assert d == full
    assert subs(r)["copy"]["replays"] == 0
    assert r.info("bus")["bus_sub0"]["replays"] == 0
    # live events still come, and nothing else of the history
    live = pub(r, "order.paid")
    pub(r, "user.signup")
    assert positions(read(r, "copy", "c", "COUNT", 10)) == [live]


def test_reply_is_a_map_in_resp3(server):
    r = server.client(protocol=3)
    p = pub(r, "a.b")
    r.execute_command("EV.SUB", "s", "nothing")
    rep = r.execute_command("EV.REPLAY", "s", "positions", p)  # any case
    assert dict(rep) == {"replay_id": rep["replay_id"], "from_position": p,
                         "to_position": p, "count": 1}


def test_served_after_redelivery_and_before_live_events(server):
    r = server.client()
    r.execute_command("EV.SUB", "s", "live.*")
    hist = [pub(r, "hist.x", str(i)) for i in range(5)]
    l1 = pub(r, "live.a")
    assert positions(read(r, "s", "c")) == [l1]
    assert r.execute_command("EV.NACK", "s", l1) == "ready"
    l2 = pub(r, "live.b")
    replay(r, "s", hist[3], hist[1])
    replay(r, "s", hist[0])  # a second replay comes after the first
    got = positions(read(r, "s", "c", "COUNT", 10))
    assert got == [l1, hist[1], hist[3], hist[0], l2]


def test_skips_positions_already_pending_or_dead(server):
    r = server.client()
    r.execute_command("EV.SUB", "s", "job.*", "FROM", "BEGINNING", "MAXDELIVER", 1)
    p = [pub(r, "job.x", str(i)) for i in range(5)]
    assert positions(read(r, "s", "c", "COUNT", 3)) == p[:3]
    assert r.execute_command("EV.NACK", "s", p[1]) == "dead"
    assert r.execute_command("EV.ACK", "s", p[2]) == 1
    rep = replay(r, "s", p[3], p[2], p[1], p[0])
    assert rep["count"] == 4
    # p0 is pending and p1 dead: skipped; p2 was acked: delivered again; p3
    # comes from the replay, so the live stream skips it and goes on with p4
    got = read(r, "s", "c2", "COUNT", 10)
    assert positions(got) == [p[2], p[3], p[4]]
    assert subs(r)["s"]["replays"] == 0
    assert [int(x["position"]) for x in
            (rec(e) for e in r.execute_command("EV.DEAD", "s"))] == [p[1]]


def test_wakes_a_blocked_reader(server):
    r = server.client()
    p = pub(r, "a.b")
    r.execute_command("EV.SUB", "s", "nothing")
    res = {}

    def reader():
        res["evs"] = read(server.client(), "s", "w", "COUNT", 10, "BLOCK", 5000)

    th = threading.Thread(target=reader)
    th.start()
    wait_until(lambda: r.info("bus")["bus_blocked_clients"] == 1, what="blocked")
    replay(r, "s", p)
    th.join(10)
    assert positions(res["evs"]) == [p]


def test_ephemeral_subscription(server):
    r = server.client()
    ps = [pub(r, "t.%d" % i) for i in range(4)]
    r.execute_command("EV.SUB", "e", "nothing", "EPHEMERAL")
    assert replay(r, "e", ps[2], ps[0])["count"] == 2
    assert positions(drain(r, "e")) == [ps[0], ps[2]]


# ---------------------------------------------------------------------------
# errors: exact texts, and no effect
# ---------------------------------------------------------------------------

def test_errors_name_the_first_bad_position_and_change_nothing(server):
    r = server.client()
    ps = [pub(r, "a.b", str(i)) for i in range(3)]
    r.execute_command("EV.SUB", "s", "nothing")
    last = ps[-1]
    cases = [
        (("nope", "POSITIONS", ps[0]), "NOSUB no such subscription 'nope'"),
        (("s", "POSITIONS"), "ERR POSITIONS needs at least one position"),
        (("s", "POSITIONS", ps[0], "x1", last + 5),
         "ERR position must be a positive integer (got 'x1')"),
        (("s", "POSITIONS", ps[0], last + 5, "x1"),
         "ERR position %d is not a stored event" % (last + 5)),
        (("s", "POSITIONS", last + 7, last + 5),
         "ERR position %d is not a stored event" % (last + 7)),
        (("s", "POSITIONS", ps[1], 0),
         "ERR position must be a positive integer (got '0')"),
        (("s", "POSITIONS", "-3"), "ERR position must be a positive integer (got '-3')"),
        (("s", "POSITIONS", "+3"), "ERR position must be a positive integer (got '+3')"),
        (("s", "POSITIONS", "1.5"), "ERR position must be a positive integer (got '1.5')"),
        (("s", "POSITIONS", ""), "ERR position must be a positive integer (got '')"),
        (("s", "POSITIONS", "18446744073709551616"),
         "ERR position must be a positive integer (got '18446744073709551616')"),
        (("s", "POSITIONS", "18446744073709551615"),
         "ERR position 18446744073709551615 is not a stored event"),
    ]
    before = r.info("bus")["bus_replays"]
    with server.raw() as c:  # exact bytes: the error prefix included
        for args, want in cases:
            assert c.cmd("EV.REPLAY", *args) == b"-" + want.encode() + b"\r\n", args
    assert subs(r)["s"]["replays"] == 0
    assert r.info("bus")["bus_replays"] == before
    assert read(r, "s", "c", "COUNT", 10) == []


def test_limit_on_positions_per_command(server):
    r = server.client()
    p = pub(r, "a.b")
    r.execute_command("EV.SUB", "s", "nothing")
    with server.raw(timeout=60) as c:
        def send(n):
            head = resp_encode("EV.REPLAY", "s", "POSITIONS")
            head = b"*%d\r\n" % (3 + n) + head[head.index(b"\r\n") + 2:]
            arg = resp_encode(p)
            c.send(head + arg[arg.index(b"\r\n") + 2:] * n)
            return c.read_reply(timeout=60)

        assert send(1000001) == \
            b"-ERR too many positions (at most 1000000, got 1000001)\r\n"
        assert subs(r)["s"]["replays"] == 0
        ok = send(1000000)  # the limit itself: one distinct position
        assert ok.startswith(b"*8\r\n") and ok.endswith(b"$5\r\ncount\r\n:1\r\n"), ok
    assert positions(drain(r, "s")) == [p]


def test_a_large_list_is_quick_and_compact(server):
    """100k positions out of 120k events, shuffled, with duplicates: one
    command, delivered in order; the journal record takes ~1 byte each."""
    r = server.client()
    n_events, n_list = 120000, 100000
    types = ["big.a", "big.b", "other"]
    ps = pub_many(r, [types[i % 3] for i in range(n_events)])
    r.execute_command("EV.SUB", "big", "nothing")
    rng = random.Random(12)
    chosen = rng.sample(ps, n_list)
    args = chosen + rng.sample(chosen, 1000)  # duplicates
    rng.shuffle(args)
    log_before = r.info("bus")["bus_journal_log_bytes"]
    t0 = time.monotonic()
    rep = replay(r, "big", *args)
    took = time.monotonic() - t0
    assert rep["count"] == n_list
    assert rep["from_position"] == min(chosen) and rep["to_position"] == max(chosen)
    assert took < 15, took
    grew = r.info("bus")["bus_journal_log_bytes"] - log_before
    # gaps between chosen positions are small: 1-byte varints, mostly
    assert grew < 2 * n_list, grew
    t0 = time.monotonic()
    got = []
    while True:
        evs = r.execute_command("EV.READ", "big", "c", "COUNT", 10000)
        if not evs:
            break
        page = [int(rec(e)["position"]) for e in evs]
        got += page
        r.execute_command("EV.ACK", "big", *page)
    assert got == sorted(chosen)
    assert time.monotonic() - t0 < 120
    assert subs(r)["big"]["replays"] == 0


# ---------------------------------------------------------------------------
# durability
# ---------------------------------------------------------------------------

def test_sigterm_restart_in_the_middle(server):
    r = server.client()
    types = ["order.created", "user.signup", "audit"]
    ps = pub_many(r, [types[i % 3] for i in range(3000)])
    r.execute_command("EV.SUB", "d", "nothing.here", "ACKWAIT", 60000)
    rng = random.Random(3)
    want = sorted(rng.sample(ps, 1000))
    args = want + want[:50]
    rng.shuffle(args)
    assert replay(r, "d", *args)["count"] == 1000
    first = read(r, "d", "c1", "COUNT", 300)
    assert positions(first) == want[:300]
    r.execute_command("EV.ACK", "d", *positions(first[:200]))
    server.restart(signal.SIGTERM)
    r = server.client()
    s = subs(r)["d"]
    assert s["replays"] == 1 and s["pending"] == 100
    assert r.info("bus")["bus_sub0"]["replays"] == 1
    # the rest of the list, in order; the 100 held stay with c1
    got = drain(r, "d", "c2")
    assert positions(got) == want[300:]
    assert all(int(e["deliveries"]) == 1 for e in got)
    assert subs(r)["d"]["replays"] == 0
    r.execute_command("EV.ACK", "d", *want[200:300])
    server.restart(signal.SIGTERM)
    r = server.client()
    assert subs(r)["d"]["replays"] == 0
    assert read(r, "d", "c3", "COUNT", 100) == []


def _consume(server, stop, log, name):
    """Reads and acks until stopped or the connection dies (the kill), at a
    bounded pace (10 events every 5 ms or slower) so each kill comes in the
    middle of the list."""
    try:
        r = server.client(socket_timeout=5)
        while not stop.is_set():
            sent = time.monotonic()
            evs = read(r, "k", name, "COUNT", 10, "BLOCK", 100)
            ps = positions(evs)
            with log["lock"]:
                for p in ps:
                    t = log["acked"].get(p)
                    if t is not None and t < sent:
                        log["violations"].append(p)
                log["delivered"] += ps
            if ps:
                r.execute_command("EV.ACK", "k", *ps)
                now = time.monotonic()
                with log["lock"]:
                    for p in ps:
                        log["acked"].setdefault(p, now)
            time.sleep(0.005)
    except (redis.ConnectionError, redis.TimeoutError, OSError):
        pass
    except Exception as e:  # anything else is a finding
        log["errors"].append(repr(e))


def test_sigkill_while_consuming(server):
    """A durable subscription's positions replay is consumed by two readers
    while the server is killed with SIGKILL three times. Afterwards every
    position of the list was delivered, nothing outside it ever was, and an
    ACK that got its reply is never followed by a redelivery."""
    r = server.client()
    types = ["a.x", "b.y", "c"]
    ps = pub_many(r, [types[i % 3] for i in range(20000)])
    r.execute_command("EV.SUB", "k", "nothing.here", "ACKWAIT", 300)
    rng = random.Random(9)
    want = set(rng.sample(ps, 6000))
    args = list(want) + rng.sample(sorted(want), 500)
    rng.shuffle(args)
    assert replay(r, "k", *args)["count"] == len(want)
    log = {"lock": threading.Lock(), "acked": {}, "delivered": [],
           "violations": [], "errors": []}
    for rnd in range(3):
        stop = threading.Event()
        ths = [threading.Thread(target=_consume, args=(server, stop, log, "c%d" % i))
               for i in range(2)]
        for t in ths:
            t.start()
        time.sleep(0.15 + 0.1 * rnd)
        server.proc.send_signal(signal.SIGKILL)
        server.proc.wait()
        stop.set()
        for t in ths:
            t.join(15)
            assert not t.is_alive()
        server.start()
        with log["lock"]:
            done = len(set(log["delivered"]))
        assert done < len(want), "finished before the kill: make the list longer"
    r = server.client()
    assert subs(r)["k"]["replays"] == 1
    # after the kills the rest comes; held deliveries of killed readers come
    # back after their ACKWAIT
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        sent = time.monotonic()
        evs = read(r, "k", "end", "COUNT", 1000, "BLOCK", 500)
        for p in positions(evs):
            t = log["acked"].get(p)
            if t is not None and t < sent:
                log["violations"].append(p)
        log["delivered"] += positions(evs)
        if evs:
            r.execute_command("EV.ACK", "k", *positions(evs))
        elif subs(r)["k"]["pending"] == 0 and subs(r)["k"]["replays"] == 0:
            break
    delivered = set(log["delivered"])
    assert log["errors"] == []
    assert log["violations"] == []
    assert delivered - want == set()     # nothing outside the list
    assert want - delivered == set()     # every position of it
    assert subs(r)["k"]["replays"] == 0
    # positions a cut tail skipped after a kill are not stored events (an
    # append writes zeros ahead; the restart after the kill skips past them)
    last = pub(r, "a.x")
    server.proc.send_signal(signal.SIGKILL)
    server.proc.wait()
    server.start()
    r = server.client()
    new = pub(r, "a.x")
    assert new > last + 1
    assert err_of(r, "EV.REPLAY", "k", "POSITIONS", new, last + 1) == \
        "position %d is not a stored event" % (last + 1)
    assert replay(r, "k", new, last)["count"] == 2
    assert positions(drain(r, "k")) == [last, new]
