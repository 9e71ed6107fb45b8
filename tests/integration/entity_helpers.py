"""Helpers shared by the entity state tests (issue 17: per-key versions,
EXPECT, snapshots, FROM SNAPSHOT, schedules, EV.DIGEST): reply shapes as
dicts, publishing, draining a subscription with a bounded wait, and the
projections (folds) the bootstrap tests compare.

Not a test file and not a client library: every helper is a thin wrapper over
one or two commands, so a failing assertion still points at a server reply.
"""

import time

from conftest import wait_until

WAIT = 10.0  # s, the longest any single drain may take


def rec(r):
    """A record reply (RESP3 map or RESP2 flat array) as a dict, or None."""
    if r is None:
        return None
    if isinstance(r, dict):
        return dict(r)
    return dict(zip(r[::2], r[1::2]))


def fields(r):
    """The field names of a record reply, in the order the server sent them."""
    if isinstance(r, dict):
        return list(r.keys())
    return list(r[::2])


def raw_err(server, *args):
    """The exact error line (without CRLF) the server answers to args, via a
    raw socket, so a prefix such as CONFLICT or NOSUB is seen as sent."""
    with server.raw() as c:
        reply = c.cmd(*args)
    assert reply.startswith(b"-"), "expected an error for %r, got %r" % (args, reply[:300])
    assert reply.endswith(b"\r\n") and reply.count(b"\r\n") == 1, reply[:300]
    return reply[1:-2].decode("utf-8", "replace")


def pub(r, type_, payload="x", *opts):
    return int(r.execute_command("EV.PUB", type_, payload, *opts))


def keyinfo(r, key):
    return rec(r.execute_command("EV.KEY", key))


def get(r, pos):
    return rec(r.execute_command("EV.GET", pos))


def range_all(r, pattern="#", *opts):
    """Every event matching pattern (EV.RANGE paged on with FROM @last+1)."""
    out, start = [], 1
    while True:
        page = [rec(e) for e in r.execute_command("EV.RANGE", pattern, "FROM", "@%d" % start,
                                                  "COUNT", 10000, *opts)]
        out += page
        if len(page) < 10000:
            return out
        start = int(page[-1]["position"]) + 1


def last_position(r):
    return int(rec(r.execute_command("EV.INFO"))["last_position"])


def subinfo(r, name):
    got = [rec(s) for s in r.execute_command("EV.SUBS", name)]
    got = [s for s in got if s["name"] == name]
    return got[0] if got else None


def snapshots(r):
    return [rec(s) for s in r.execute_command("EV.SNAPSHOTS")]


def snapshot_named(r, name):
    got = [s for s in snapshots(r) if s["name"] == name]
    return got[0] if got else None


def schedules(r):
    return [rec(s) for s in r.execute_command("EV.SCHEDULES")]


def schedule_named(r, name):
    got = [s for s in schedules(r) if s["name"] == name]
    return got[0] if got else None


def read(r, sub, consumer="c", count=100, block=None):
    args = ["EV.READ", sub, consumer, "COUNT", count]
    if block is not None:
        args += ["BLOCK", block]
    return [rec(e) for e in r.execute_command(*args)]


def drain(r, sub, consumer="c", timeout=WAIT, ack=True):
    """Reads sub until nothing is left to deliver (an empty read while EV.SUBS
    shows no lag and no unfinished replay), acking each page; the events in
    delivery order. Fails the test if that takes longer than timeout s."""
    got = []
    deadline = time.monotonic() + timeout
    while True:
        evs = read(r, sub, consumer, 1000, 50)
        if evs:
            got += evs
            if ack:
                r.execute_command("EV.ACK", sub, *[int(e["position"]) for e in evs])
        else:
            s = subinfo(r, sub)
            if s["lag"] == 0 and s["replays"] == 0 and (not ack or s["pending"] == 0):
                return got
        assert time.monotonic() < deadline, \
            "subscription %s not drained within %.0f s (%d read)" % (sub, timeout, len(got))


def positions(events):
    return [int(e["position"]) for e in events]


def fold(events):
    """The projection every bootstrap test compares: key -> payload of the
    key's newest event (highest position; a redelivered older event does not
    win over a newer one, as a versioned projection would do). Keyless events
    are not part of any entity."""
    best = {}
    for e in events:
        k = e["key"]
        if k is None:
            continue
        p = int(e["position"])
        if k not in best or best[k][0] < p:
            best[k] = (p, e["payload"])
    return {k: v[1] for k, v in best.items()}


def topic_match(pattern, type_):
    """RabbitMQ topic matching (`*` one word, `#` zero or more), for the
    expected values the tests compute themselves."""
    pw, tw = pattern.split("."), type_.split(".")

    def m(i, j):
        if i == len(pw):
            return j == len(tw)
        if pw[i] == "#":
            return any(m(i + 1, k) for k in range(j, len(tw) + 1))
        if j == len(tw):
            return False
        return (pw[i] == "*" or pw[i] == tw[j]) and m(i + 1, j + 1)
    return m(0, 0)


def wait_schedule(r, name, pred, timeout, what):
    """Polls EV.SCHEDULES until pred(entry) holds; returns the entry."""
    return wait_until(lambda: (lambda s: s if s and pred(s) else None)(schedule_named(r, name)),
                      timeout=timeout, interval=0.02, what=what)


def now_ms():
    return int(time.time() * 1000)


def next_slot(base, every, now):
    """The first base + k*every strictly after now."""
    if now < base:
        return base
    return base + ((now - base) // every + 1) * every


def missed_run_runs_once(server, sig, at=None):
    """A schedule EVERY 2s; the server is down for ~6.3 s (3 slots missed) and
    comes back just after a slot: right after start the schedule has run once
    more (not 3 times), next_run is the first slot after now, and it keeps
    running. Shared with test_entity_crash.py (sig = SIGKILL)."""
    r = server.client()
    assert r.execute_command("EV.SUB", "proj", "never.matches") == 1
    pub(r, "order.created", "a", "KEY", "a")
    assert r.execute_command("EV.SCHEDULE", "REPLAY", "rp", "order.#", "LAST", "1h",
                             "INTO", "proj", "EVERY", "2s", *(("AT", at) if at else ())) == 1
    if at:  # the grid starts at AT on 1970-01-01
        assert schedule_named(r, "rp")["next_run"] % 2000 == 0
    # stop right after a run, so no run can happen between the read and the stop
    s = wait_schedule(r, "rp", lambda x: x["runs"] >= 1, 6, "the first run")
    s = wait_schedule(r, "rp", lambda x: x["runs"] > s["runs"], 6, "the second run")
    before, slot = s["runs"], s["next_run"] - 2000
    assert now_ms() < slot + 1500, "too slow to stop right after a run"
    server.stop(sig)
    wake = slot + 6300  # slots slot+2000, +4000, +6000 are missed
    time.sleep(max(0.0, (wake - now_ms()) / 1000.0))
    started = now_ms()
    server.start()
    r = server.client()
    s = wait_schedule(r, "rp", lambda x: x["runs"] > before, 3, "the catch-up run")
    listed = now_ms()
    # slots that fall inside [started, listed] may run as well: count them
    legit = sum(1 for k in range(1, 10) if started <= slot + k * 2000 <= listed)
    print("missed runs: %d before the stop, %d after the start, %d slot(s) in the window"
          % (before, s["runs"], legit))
    assert s["runs"] - before <= 1 + legit, \
        "after missing 3 slots the schedule ran %d times at start" % (s["runs"] - before)
    assert s["last_run"] >= started
    assert s["next_run"] > s["last_run"] and (s["next_run"] - slot) % 2000 == 0
    assert s["next_run"] == next_slot(slot, 2000, s["last_run"])
    assert s["last_result"] == "ok"
    # and it keeps going
    n = s["runs"]
    s = wait_schedule(r, "rp", lambda x: x["runs"] > n, 4, "the next run after the catch-up")
    assert s["runs"] == n + 1
