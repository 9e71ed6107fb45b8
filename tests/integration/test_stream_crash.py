"""Streams under SIGKILL: producers XADD to two streams (one an event type,
one a key that is no type), consumers of one group read with XREADGROUP
COUNT n (new entries with '>', now and then their own pending entries with
'0') and XACK most of what they get; the server is SIGKILLed at a random
moment and restarted on the same data dir, several times. Every reply a
client got is recorded; after each restart:

  - every XADD that got its reply is there with its fields, byte for byte;
    an entry whose XADD reply never came is one that was in flight;
  - IDs are strictly increasing in XRANGE and a new XADD goes above the top;
  - XPENDING holds every entry delivered (the XREADGROUP reply came) and not
    acked, owned by the consumer it was delivered to; no entry whose XACK
    got its reply; an XACK sent when the kill came (no reply) may or may not
    have landed: each such entry is either pending or gone, and is counted
    as acked or not accordingly; an entry pending that no client saw is the
    delivery of an XREADGROUP whose reply the kill swallowed;
  - a consumer's own-PEL read ('0') returns exactly its pending entries;
and while the clients run, '>' never returns an entry that any consumer had
received before (so never one that was acked), own-PEL reads never return
an acked entry, and XACK of pending entries acks them all. At the end a
drain reads the rest with '>': every entry of the streams was delivered.

The SIGKILL guarantees are the same under fsync always and everysec
(docs/durability.md: an event is written before its reply; a journal record
is written at once, before the reply; kill -9 keeps what was written). What
everysec gives up, acknowledged writes surviving a power loss, is not
simulated here; the everysec variant runs the same checks for fewer cycles.

Bounded: CYCLES (TINCAN_STREAM_CRASH_CYCLES, default 6) of 0.6..1.4 s.
"""

import os
import random
import signal
import threading
import time

import redis

from conftest import call

CYCLES = int(os.environ.get("TINCAN_STREAM_CRASH_CYCLES", "6"))
KEYS = (b"orders.placed", b"crash{s}")
GROUP = b"g"
PRODUCERS = 3
CONSUMERS = 3


def sid(b):
    ms, seq = b.split(b"-")
    return (int(ms), int(seq))


def fields_dict(flat):
    return dict(zip(flat[::2], flat[1::2]))


class Log:
    def __init__(self):
        self.lock = threading.Lock()
        self.added = {}          # (key, id) -> fields: XADD answered
        self.inflight = {}       # (p, seq) -> (key, fields): XADD without reply
        self.delivered = {}      # (key, id) -> consumer: a reply came (or found in PEL)
        self.ack_ok = set()      # XACK answered
        self.ack_unknown = set()  # XACK sent, no reply
        self.lost_deliveries = 0
        self.errors = []
        self.seq = [0] * PRODUCERS
        self.reads = 0


def producer(server, stop, log, p, rng):
    r = server.client(decode_responses=False, socket_timeout=5)
    last = {}
    try:
        while not stop.is_set():
            log.seq[p] += 1
            seq = log.seq[p]
            key = KEYS[seq % 2]
            body = bytes(rng.getrandbits(8) for _ in range(rng.randrange(0, 60)))
            fields = {b"p": b"%d" % p, b"s": b"%d" % seq, b"b": body}
            with log.lock:
                log.inflight[(p, seq)] = (key, fields)
            flat = [x for kv in fields.items() for x in kv]
            i = call(r, "XADD", key, "*", *flat)
            with log.lock:
                del log.inflight[(p, seq)]
                log.added[(key, i)] = fields
            if key in last and sid(i) <= last[key]:
                log.errors.append("XADD ids not increasing: %r after %r" % (i, last[key]))
            last[key] = sid(i)
    except (redis.ConnectionError, redis.TimeoutError, OSError):
        pass
    except Exception as e:
        log.errors.append("producer %d: %r" % (p, e))


def xack(r, log, kids):
    by_key = {}
    for k, i in kids:
        by_key.setdefault(k, []).append(i)
    for k, ids in by_key.items():
        with log.lock:
            log.ack_unknown.update((k, i) for i in ids)
        n = call(r, "XACK", k, GROUP, *ids)
        with log.lock:
            for i in ids:
                log.ack_unknown.discard((k, i))
                log.ack_ok.add((k, i))
        if n != len(ids):
            log.errors.append("XACK of %d pending entries acked %d" % (len(ids), n))


def parse_read(reply):
    """[(key, id, fields)] of an XREADGROUP reply (RESP2)."""
    out = []
    for key, entries in reply or []:
        for i, flat in entries:
            out.append((key, i, None if flat is None else fields_dict(flat)))
    return out


def consumer(server, stop, log, name, rng):
    r = server.client(decode_responses=False, socket_timeout=5)
    last = {}
    it = 0
    try:
        while not stop.is_set():
            it += 1
            own = it % 5 == 0
            with log.lock:
                acked_before = set(log.ack_ok)
            args = ["XREADGROUP", "GROUP", GROUP, name, "COUNT", rng.randrange(1, 20),
                    "STREAMS"] + list(KEYS) + ([b"0"] * 2 if own else [b">"] * 2)
            got = parse_read(call(r, *args))
            with log.lock:
                log.reads += 1
                for key, i, f in got:
                    kid = (key, i)
                    if kid in acked_before:
                        log.errors.append("%s read %s an acked entry %r"
                                          % (name, "own PEL" if own else ">", kid))
                    prev = log.delivered.get(kid)
                    if own:
                        if prev != name:
                            log.errors.append("%s own PEL has %r, delivered to %r"
                                              % (name, kid, prev))
                    else:
                        if prev is not None:
                            log.errors.append("> delivered %r again (to %s, was %s)"
                                              % (kid, name, prev))
                        if key in last and sid(i) <= last[key]:
                            log.errors.append("> not increasing for %s: %r after %r"
                                              % (name, i, last[key]))
                        last[key] = sid(i)
                        log.delivered[kid] = name
                    if f is None:
                        log.errors.append("entry %r delivered without fields" % (kid,))
                    elif kid in log.added and log.added[kid] != f:
                        log.errors.append("entry %r delivered with other fields" % (kid,))
            keep = 0.5 if own else 0.15   # some stay pending across kills
            ack = [(k, i) for k, i, _ in got if rng.random() > keep]
            if ack:
                xack(r, log, ack)
            if not got:
                time.sleep(0.005)
    except (redis.ConnectionError, redis.TimeoutError, OSError):
        pass
    except Exception as e:
        log.errors.append("consumer %s: %r" % (name, e))


def full_range(r, key):
    out, start = [], b"-"
    while True:
        page = call(r, "XRANGE", key, start, "+", "COUNT", 5000)
        out += [(i, fields_dict(f)) for i, f in page]
        if len(page) < 5000:
            return out
        start = b"(" + page[-1][0]


def pending(r, key):
    out = {}
    for mid, owner, _idle, count in call(r, "XPENDING", key, GROUP, "-", "+", 10 ** 7):
        out[(key, mid)] = (owner, count)
    return out


def check_after_restart(r, log, tops):
    """The checks of the module docstring; resolves the XACKs and deliveries
    whose replies the kill swallowed. Returns the live (key, id) set."""
    present = {}
    for key in KEYS:
        entries = full_range(r, key)
        ids = [sid(i) for i, _ in entries]
        assert ids == sorted(set(ids)), "%r: IDs not strictly increasing" % key
        assert not entries or ids[-1] >= tops.get(key, (0, 0)), key
        for i, f in entries:
            present[(key, i)] = f
    # acknowledged XADDs: all there, same bytes
    lost = [kid for kid in log.added if kid not in present]
    assert not lost, "acknowledged XADDs lost: %r" % lost[:5]
    bad = [kid for kid, f in log.added.items() if present[kid] != f]
    assert not bad, "entries changed: %r" % bad[:5]
    # the rest must be XADDs whose reply never came
    by_ps = {(f[b"p"], f[b"s"]): (kid, f) for kid, f in present.items()}
    for (p, seq), (key, f) in list(log.inflight.items()):
        hit = by_ps.get((b"%d" % p, b"%d" % seq))
        if hit:
            assert hit[0][0] == key and hit[1] == f, (p, seq)
            log.added[hit[0]] = f
    log.inflight.clear()
    unknown = [kid for kid in present if kid not in log.added]
    assert not unknown, "entries nobody added: %r" % unknown[:5]
    # pending entries
    pel = {}
    for key in KEYS:
        pel.update(pending(r, key))
    gone = [kid for kid in log.ack_ok if kid in pel]
    assert not gone, "acked entries pending again: %r" % gone[:5]
    for kid in list(log.ack_unknown):
        if kid in pel:
            log.ack_unknown.discard(kid)      # did not land: still pending
        else:
            log.ack_unknown.discard(kid)      # landed
            log.ack_ok.add(kid)
    missing = [kid for kid, c in log.delivered.items()
               if kid not in log.ack_ok and pel.get(kid, (None,))[0] != c.encode()]
    assert not missing, "delivered, not acked, not pending with its owner: %r" % [
        (kid, log.delivered[kid], pel.get(kid)) for kid in missing[:5]]
    for kid, (owner, count) in pel.items():
        assert count >= 1
        if kid not in log.delivered:
            # an XREADGROUP whose reply the kill swallowed
            assert kid in present, "pending entry %r is not in the stream" % (kid,)
            log.delivered[kid] = owner.decode()
            log.lost_deliveries += 1
    # the groups' summaries agree, and last-delivered-id covers every delivery
    for key in KEYS:
        g = [dict(zip(x[::2], x[1::2])) for x in call(r, "XINFO", "GROUPS", key)]
        assert len(g) == 1 and g[0][b"name"] == GROUP
        assert g[0][b"pending"] == sum(1 for k in pel if k[0] == key)
        mine = [sid(i) for k, i in log.delivered if k == key]
        if mine:
            assert sid(g[0][b"last-delivered-id"]) >= max(mine)
    # own-PEL reads return exactly each consumer's pending entries
    for c in ["c%d" % i for i in range(CONSUMERS)]:
        got = parse_read(call(r, "XREADGROUP", "GROUP", GROUP, c, "STREAMS", *KEYS,
                              b"0", b"0"))
        mine = {(k, i) for k, i, _ in got}
        assert mine == {kid for kid, (o, _) in pel.items() if o == c.encode()}, c
        assert not mine & log.ack_ok
    return present


def run_cycles(server, cycles, seed):
    r = server.client(decode_responses=False)
    for key in KEYS:
        assert call(r, "XGROUP", "CREATE", key, GROUP, "0", "MKSTREAM") == b"OK"
    log = Log()
    rng = random.Random(seed)
    tops = {}
    for cycle in range(cycles):
        stop = threading.Event()
        threads = [threading.Thread(target=producer,
                                    args=(server, stop, log, p, random.Random(seed + p)))
                   for p in range(PRODUCERS)]
        threads += [threading.Thread(target=consumer,
                                     args=(server, stop, log, "c%d" % c,
                                           random.Random(seed * 7 + cycle * 10 + c)))
                    for c in range(CONSUMERS)]
        for t in threads:
            t.start()
        time.sleep(rng.uniform(0.6, 1.4))
        os.kill(server.pid, signal.SIGKILL)
        for t in threads:
            t.join(15)
            assert not t.is_alive()
        stop.set()
        server.kill()
        assert not log.errors, log.errors[:10]
        server.start()
        r = server.client(decode_responses=False)
        check_after_restart(r, log, tops)
        # a new entry goes above everything before the kill
        for key in KEYS:
            last = full_range(r, key)[-1:]
            i = call(r, "XADD", key, "*", "p", "probe", "s", str(cycle), "b", "")
            if last:
                assert sid(i) > sid(last[0][0])
            log.added[(key, i)] = {b"p": b"probe", b"s": b"%d" % cycle, b"b": b""}
            tops[key] = sid(i)
    # drain: what is left comes with '>', each entry once, never one seen before
    r = server.client(decode_responses=False)
    present = check_after_restart(r, log, tops)
    while True:
        got = parse_read(call(r, "XREADGROUP", "GROUP", GROUP, "drain", "COUNT", 500,
                              "STREAMS", *KEYS, b">", b">"))
        if not got:
            break
        for k, i, _ in got:
            assert (k, i) not in log.delivered, "drain got %r again" % ((k, i),)
            log.delivered[(k, i)] = "drain"
    assert set(present) <= set(log.delivered), "entries never delivered: %r" % sorted(
        set(present) - set(log.delivered))[:5]
    # ack everything pending; the groups end empty, and stay so after a restart
    for key in KEYS:
        ids = [kid[1] for kid in pending(r, key)]
        for j in range(0, len(ids), 1000):
            assert call(r, "XACK", key, GROUP, *ids[j:j + 1000]) == len(ids[j:j + 1000])
    server.restart(signal.SIGKILL)
    r = server.client(decode_responses=False)
    for key in KEYS:
        assert pending(r, key) == {}
        assert parse_read(call(r, "XREADGROUP", "GROUP", GROUP, "drain", "STREAMS", key,
                               b">")) == []
    return log


def test_kill9_under_load_fsync_always(tincan):
    server = tincan("--fsync", "always", "--segment-size", "262144")
    t0 = time.monotonic()
    log = run_cycles(server, CYCLES, 11)
    print("added %d, delivered %d, acked %d, lost deliveries found %d, reads %d"
          % (len(log.added), len(log.delivered), len(log.ack_ok), log.lost_deliveries,
             log.reads))
    assert len(log.added) > 300 and len(log.ack_ok) > 200, (len(log.added), len(log.ack_ok))
    assert time.monotonic() - t0 < 90


def test_kill9_under_load_fsync_everysec(tincan):
    server = tincan("--fsync", "everysec")
    log = run_cycles(server, max(2, CYCLES // 3), 23)
    print("added %d, delivered %d, acked %d, lost deliveries found %d"
          % (len(log.added), len(log.delivered), len(log.ack_ok), log.lost_deliveries))
    assert len(log.added) > 300 and len(log.ack_ok) > 200
