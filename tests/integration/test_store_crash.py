"""Event store crash test (issue 3): publishers on many connections record
every acknowledged position; the server is SIGKILLed at random moments and
restarted, >= 20 cycles. After each restart every acknowledged event is present
and byte-identical, positions strictly increase, and re-sending the events
whose outcome was unknown (same ID) never stores one twice.

TINCAN_CRASH_CYCLES overrides the cycle count (`make crash` runs hundreds)."""

import os
import random
import signal
import threading
import time

import redis

from conftest import call

CYCLES = int(os.environ.get("TINCAN_CRASH_CYCLES", "20"))
CLIENTS = 8


def rec(reply):
    if reply is None or isinstance(reply, dict):
        return reply
    return dict(zip(reply[::2], reply[1::2]))


def payload_of(cid, seq):
    # binary, varying sizes, deterministic from the id
    rnd = random.Random(cid * 1000003 + seq)
    return bytes(rnd.getrandbits(8) for _ in range(rnd.randrange(1, 300)))


class Loader(threading.Thread):
    def __init__(self, server, cid, cycle, acked, unknown, lock):
        super().__init__(daemon=True)
        self.r = redis.Redis(host=server.host, port=server.port, socket_timeout=5,
                             decode_responses=False)
        self.cid, self.cycle = cid, cycle
        self.acked, self.unknown, self.lock = acked, unknown, lock

    def run(self):
        seq = 0
        while True:
            seq += 1
            eid = "c%d-%d-%d" % (self.cycle, self.cid, seq)
            body = payload_of(self.cid, self.cycle * 100000 + seq)
            try:
                pos = self.r.execute_command("EV.PUB", "load.t%d" % (seq % 3), body,
                                             "ID", eid)
            except (redis.ConnectionError, redis.TimeoutError, OSError):
                with self.lock:
                    self.unknown[eid] = body
                return
            with self.lock:
                self.acked[eid] = (pos, body)


def test_kill9_loses_nothing_acknowledged(tincan):
    server = tincan("--segment-size", "65536")
    rng = random.Random(1234)
    acked = {}      # id -> (position, payload)
    unknown = {}    # id -> payload whose outcome the client never learned
    lock = threading.Lock()
    t0 = time.monotonic()
    for cycle in range(CYCLES):
        loaders = [Loader(server, i, cycle, acked, unknown, lock) for i in range(CLIENTS)]
        for t in loaders:
            t.start()
        time.sleep(rng.uniform(0.05, 0.4))
        os.kill(server.pid, signal.SIGKILL)
        for t in loaders:
            t.join(10)
            assert not t.is_alive()
        server.kill()
        server.start()
        r = server.client(decode_responses=False)
        # every acknowledged event is there, byte-identical
        items = list(acked.items())
        for i in range(0, len(items), 500):
            pipe = r.pipeline(transaction=False)
            for eid, (pos, _) in items[i:i + 500]:
                pipe.execute_command("EV.GET", pos)
            for (eid, (pos, body)), got in zip(items[i:i + 500], pipe.execute()):
                e = rec(got)
                assert e is not None, "acknowledged position %d (%s) lost" % (pos, eid)
                assert e[b"id"].decode() == eid
                assert e[b"payload"] == body
        # re-send what was in flight: the dedup window answers with the
        # original position when it was stored, else it is stored now
        for eid, body in list(unknown.items()):
            pos = call(r, "EV.PUB", "load.retry", body, "ID", eid)
            acked[eid] = (pos, body)
        unknown.clear()
    print("acked events:", len(acked))
    assert len(acked) > CYCLES * 10
    # whole history: positions strictly increase, no id stored twice
    r = server.client(decode_responses=False)
    seen_ids = set()
    last = 0
    n = 0
    while True:
        page = call(r, "EV.RANGE", "#", "FROM", "@%d" % (last + 1), "COUNT", 10000)
        if not page:
            break
        for ev in page:
            e = rec(ev)
            assert e[b"position"] > last
            last = e[b"position"]
            assert e[b"id"] not in seen_ids, "event %r stored twice" % e[b"id"]
            seen_ids.add(e[b"id"])
            n += 1
    assert {k.encode() for k in acked} <= seen_ids
    assert time.monotonic() - t0 < 90
