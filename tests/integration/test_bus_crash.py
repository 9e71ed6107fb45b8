"""Event bus crash loop (issue 4): publishers and consumers run while the
server is killed with SIGKILL at random moments and restarted on the same
data dir. Checked after every restart and at the end:

  - an event whose EV.ACK got a reply is never delivered again by a read sent
    after that reply (acks are durable before they are answered);
  - every event whose EV.PUB got a reply is eventually delivered and acked
    (a delivery that was not acked before a crash comes back: nothing is lost;
    only an ACK sent when the kill came may have been applied without reply);
  - positions of one read come in increasing order for new events.

Bounded: 6 rounds (TINCAN_BUS_CRASH_ROUNDS) of about a second each plus a
drain, well under 60 s.
"""

import os
import random
import signal
import threading
import time

import redis

from conftest import wait_until

ACKWAIT = 400  # ms: held deliveries of a killed server come back quickly
ROUNDS = int(os.environ.get("TINCAN_BUS_CRASH_ROUNDS", "6"))  # SIGKILLs


def rec(r):
    if isinstance(r, dict):
        return dict(r)
    return dict(zip(r[::2], r[1::2]))


class Log:
    def __init__(self):
        self.lock = threading.Lock()
        self.published = set()      # positions whose EV.PUB was answered
        self.acked = {}             # position -> monotonic time the ACK reply came
        self.ack_sent = set()       # positions an EV.ACK was sent for (its reply
                                    # may have been lost to the kill)
        self.violations = []
        self.deliveries = 0
        self.errors = []


def publisher(server, stop, log, tag):
    try:
        r = server.client(socket_timeout=5)
        i = 0
        while not stop.is_set():
            pos = int(r.execute_command("EV.PUB", "job.%s" % tag, "%s-%d" % (tag, i)))
            i += 1
            with log.lock:
                log.published.add(pos)
    except (redis.ConnectionError, redis.TimeoutError, OSError):
        pass
    except Exception as e:  # anything else is a finding
        log.errors.append("publisher: %r" % e)


def consumer(server, stop, log, name, rng):
    try:
        r = server.client(socket_timeout=5)
        while not stop.is_set():
            sent = time.monotonic()
            evs = [rec(e) for e in r.execute_command("EV.READ", "crash", name,
                                                     "COUNT", 10, "BLOCK", 100)]
            ack = []
            fresh = [int(e["position"]) for e in evs if int(e["deliveries"]) == 1]
            if fresh != sorted(fresh):
                log.errors.append("new events out of order: %s" % fresh)
            with log.lock:
                log.deliveries += len(evs)
                for e in evs:
                    p = int(e["position"])
                    t = log.acked.get(p)
                    if t is not None and t < sent:
                        log.violations.append((p, name, e.get("deliveries")))
            for e in evs:
                p = int(e["position"])
                x = rng.random()
                if x < 0.05:
                    r.execute_command("EV.NACK", "crash", p, "REASON", "random")
                elif x < 0.95:
                    ack.append(p)
            if ack:
                with log.lock:
                    log.ack_sent.update(ack)
                assert r.execute_command("EV.ACK", "crash", *ack) >= 0
                now = time.monotonic()
                with log.lock:
                    for p in ack:
                        log.acked.setdefault(p, now)
    except (redis.ConnectionError, redis.TimeoutError, OSError):
        pass
    except Exception as e:
        log.errors.append("consumer %s: %r" % (name, e))


def test_crash_loop_acked_never_back_unacked_never_lost(server):
    r = server.client()
    assert r.execute_command("EV.SUB", "crash", "job.*", "FROM", "BEGINNING",
                             "ACKWAIT", ACKWAIT, "MAXDELIVER", 1000000) == 1
    log = Log()
    rng = random.Random(4)
    for rnd in range(ROUNDS):
        stop = threading.Event()
        threads = [threading.Thread(target=publisher, args=(server, stop, log, "p%d" % i))
                   for i in range(2)]
        threads += [threading.Thread(target=consumer,
                                     args=(server, stop, log, "c%d" % i,
                                           random.Random(rnd * 10 + i)))
                    for i in range(3)]
        for t in threads:
            t.start()
        time.sleep(0.6 + rng.random() * 0.6)
        server.proc.send_signal(signal.SIGKILL)
        server.proc.wait()
        stop.set()
        for t in threads:
            t.join(15)
            assert not t.is_alive()
        server.start()
        assert not log.errors, log.errors[:5]
        assert not log.violations, "acked events came back: %s" % log.violations[:10]
    # drain: every published event is delivered (again, if its delivery was
    # not acked before a crash) and acked
    r = server.client()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        sent = time.monotonic()
        evs = [rec(e) for e in r.execute_command("EV.READ", "crash", "drain",
                                                 "COUNT", 1000, "BLOCK", ACKWAIT * 2)]
        if not evs:
            s = rec(r.execute_command("EV.SUBS", "crash")[0])
            if s["pending"] == 0 and s["lag"] == 0:
                break
            continue
        ps = [int(e["position"]) for e in evs]
        for p in ps:
            t = log.acked.get(p)
            assert t is None or t >= sent, "acked event %d came back in the drain" % p
        r.execute_command("EV.ACK", "crash", *ps)
        for p in ps:
            log.acked.setdefault(p, time.monotonic())
    lost = log.published - set(log.acked) - log.ack_sent
    assert not lost, "published events never delivered+acked: %s" % sorted(lost)[:10]
    # an ACK whose reply a kill swallowed may or may not have been applied;
    # everything else was acked with a reply
    s = rec(r.execute_command("EV.SUBS", "crash")[0])
    assert s["pending"] == 0 and s["dead"] == 0
    assert len(log.published) > 200 and log.deliveries > 200, \
        (len(log.published), log.deliveries)
