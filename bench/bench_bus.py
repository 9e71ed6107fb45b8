"""Event bus benchmark rows (issue 4) for bench/bench.py.

Two measurements, each against Redis streams at the same durability (every
write on disk before it is answered: tincan --fsync always
vs Redis appendonly yes, appendfsync always), driven by the same client code
(raw RESP over a socket, hiredis parser) so the load generator costs the same:

1. Consume + ack throughput, batches of 100, driven by bench/loadgen.c (C,
   hiredis). N events of 100 bytes are published first (pipelined, not
   timed), then BENCH_BUS_CONSUMERS consumer threads (default 4), each on its
   own connection, loop until the subscription is empty:
     tincan  EV.READ sub cN COUNT 100; EV.ACK sub <100 positions>
     Redis   XREADGROUP GROUP g cN COUNT 100 STREAMS s >; XACK s g <100 ids>
   Events per second, target >= 2x Redis.

2. Publish-to-delivery latency at a steady BENCH_BUS_RATE events/s (default
   10000) with consumers parked in a blocking read (COUNT 100, BLOCK). The
   publisher (its own process) stamps time.time_ns() into each payload; the
   consumers subtract it on arrival. p50 and p99 in ms over
   BENCH_BUS_SECONDS (default 5, scaled by BENCH_SCALE); target p99 <= 1 ms.
     tincan  EV.PUB bench.lat <ns>   /  EV.READ lat cN COUNT 100 BLOCK 1000
     Redis   XADD lat * t <ns>       /  XREADGROUP ... COUNT 100 BLOCK 1000
   The same again with everysec on both sides (latency without an fsync).

RabbitMQ (the issue's reference row) is not installed on this machine; the
row is left out and reported as missing in the notes.
"""

import multiprocessing
import os
import socket
import statistics
import time

import hiredis

TITLE = "Event bus (issue 4)"

PAYLOAD = b"e" * 100
EVENTS = int(os.environ.get("BENCH_BUS_EVENTS", "200000"))
CONSUMERS = int(os.environ.get("BENCH_BUS_CONSUMERS", "4"))
RATE = int(os.environ.get("BENCH_BUS_RATE", "10000"))
SECONDS = float(os.environ.get("BENCH_BUS_SECONDS", "5"))
TINCAN_ARGS = ["--fsync", "always"]
REDIS_ARGS = ["--appendonly", "yes", "--appendfsync", "always"]
EVERYSEC_ARGS = ["--fsync", "everysec"]
REDIS_EVERYSEC = ["--appendonly", "yes", "--appendfsync", "everysec"]


class Conn:
    """One socket speaking RESP2, replies parsed by hiredis."""

    def __init__(self, host, port):
        self.s = socket.create_connection((host, port))
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.r = hiredis.Reader()

    @staticmethod
    def encode(args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        return b"".join(out)

    def send(self, *cmds):
        self.s.sendall(b"".join(self.encode(c) for c in cmds))

    def reply(self):
        while True:
            v = self.r.gets()
            if v is not False:
                if isinstance(v, hiredis.ReplyError):
                    raise RuntimeError(str(v))
                return v
            data = self.s.recv(1 << 20)
            if not data:
                raise EOFError("server closed the connection")
            self.r.feed(data)

    def cmd(self, *args):
        self.send(args)
        return self.reply()

    def close(self):
        self.s.close()


def consume_rate(ctx, kind, srv, n):
    """Events/s for CONSUMERS clients to read and ack n fresh events."""
    _round[0] += 1
    key = b"bench%d" % _round[0]
    typ = b"bench.%d" % _round[0]
    c = Conn(srv.host, srv.port)
    if kind == "tincan":
        c.cmd(b"EV.SUB", key, typ, b"FROM", b"NOW")
        ctx.loadgen("publish-tincan", srv, type=typ.decode(), count=n, clients=4,
                    seconds=300)
    else:
        ctx.loadgen("publish-redis", srv, key=key.decode(), count=n, clients=4,
                    seconds=300)
        c.cmd(b"XGROUP", b"CREATE", key, b"g", b"0")
    c.close()
    res = ctx.loadgen("consume-" + kind, srv, key=key.decode(), clients=CONSUMERS,
                      seconds=300)
    if res["ops"] != n:
        raise RuntimeError("%s consumers got %d events of %d" % (kind, res["ops"], n))
    return res["ops_per_s"]


_round = [0]


def _publisher(kind, host, port, key, rate, seconds, ready):
    c = Conn(host, port)
    ready.wait(30)
    step = 0.001                       # s: one small batch per ms
    per = max(1, rate // 1000)
    t_next = time.monotonic()
    stop = t_next + seconds
    while t_next < stop:
        now = time.monotonic()
        if now < t_next:
            time.sleep(t_next - now)
        stamp = b"%d" % time.time_ns()
        if kind == "tincan":
            c.send(*[(b"EV.PUB", b"bench.lat", stamp)] * per)
        else:
            c.send(*[(b"XADD", key, b"*", b"t", stamp)] * per)
        for _ in range(per):
            c.reply()
        t_next += step
    c.close()


def _waiter(kind, host, port, key, name, seconds, ready, out):
    c = Conn(host, port)
    lat = []
    stop = time.monotonic() + seconds + 2
    ready.set()
    try:
        while time.monotonic() < stop:
            if kind == "tincan":
                evs = c.cmd(b"EV.READ", key, name, b"COUNT", b"100", b"BLOCK", b"1000")
                now = time.time_ns()
                if not evs:
                    continue
                ps = []
                for e in evs:
                    lat.append(now - int(e[e.index(b"payload") + 1]))
                    ps.append(e[e.index(b"position") + 1])
                c.cmd(b"EV.ACK", key, *ps)
            else:
                r = c.cmd(b"XREADGROUP", b"GROUP", b"g", name, b"COUNT", b"100",
                          b"BLOCK", b"1000", b"STREAMS", key, b">")
                now = time.time_ns()
                if not r:
                    continue
                ids = []
                for eid, fields in r[0][1]:
                    lat.append(now - int(fields[1]))
                    ids.append(eid)
                c.cmd(b"XACK", key, b"g", *ids)
        out.put((lat, None))
    except Exception as e:
        out.put((lat, repr(e)))


def latency(kind, srv, seconds, p50s):
    """p99 publish-to-delivery latency in ms (the p50 is appended to p50s)."""
    _round[0] += 1
    key = b"lat%d" % _round[0]
    c = Conn(srv.host, srv.port)
    if kind == "tincan":
        c.cmd(b"EV.SUB", key, b"bench.lat", b"FROM", b"NOW")
    else:
        c.cmd(b"XGROUP", b"CREATE", key, b"g", b"$", b"MKSTREAM")
    c.close()
    q = multiprocessing.Queue()
    ready = multiprocessing.Event()
    ws = [multiprocessing.Process(target=_waiter,
                                  args=(kind, srv.host, srv.port, key, b"w%d" % i,
                                        seconds, ready, q))
          for i in range(2)]
    for w in ws:
        w.start()
    pub = multiprocessing.Process(target=_publisher,
                                  args=(kind, srv.host, srv.port, key, RATE, seconds, ready))
    pub.start()
    pub.join(seconds + 60)
    res = [q.get(timeout=seconds + 60) for _ in ws]
    for w in ws:
        w.join(30)
    errs = [e for _, e in res if e]
    if errs:
        raise RuntimeError("%s latency run failed: %s" % (kind, errs[:3]))
    lat = sorted(x for ls, _ in res for x in ls)
    if len(lat) < 100:
        raise RuntimeError("%s: only %d events delivered" % (kind, len(lat)))
    p50s.append(lat[len(lat) // 2] / 1e6)
    return lat[min(len(lat) - 1, int(len(lat) * 0.99))] / 1e6


def run(ctx):
    from bench import Row  # the harness (bench.py puts bench/ on sys.path)
    n = ctx.scaled(EVENTS)
    seconds = max(1.0, SECONDS * ctx.scale)
    rows = []
    with ctx.tincan(args=TINCAN_ARGS) as t, ctx.redis(REDIS_ARGS) as r:
        rows.append(ctx.compare(
            "consume+ack, batches of 100, %d consumers" % CONSUMERS,
            tincan=lambda: consume_rate(ctx, "tincan", t, n),
            peer=lambda: consume_rate(ctx, "redis", r, n),
            peer_name="redis XREADGROUP+XACK, appendfsync always", target=2.0,
            unit="events/s",
            command="loadgen publish-tincan|publish-redis --count %d (not timed), then "
                    "loadgen consume-tincan|consume-redis --clients %d: EV.READ COUNT 100 "
                    "+ EV.ACK vs XREADGROUP COUNT 100 + XACK" % (n, CONSUMERS)))
        t50, r50 = [], []
        row = ctx.compare(
            "publish-to-delivery p99 at %d ev/s, blocked readers" % RATE,
            tincan=lambda: latency("tincan", t, seconds, t50),
            peer=lambda: latency("redis", r, seconds, r50),
            peer_name="redis XADD -> XREADGROUP BLOCK, appendfsync always",
            unit="ms", higher_is_better=False,
            command="bench/bench_bus.py: 1 publisher at %d ev/s for %.0f s, 2 blocked "
                    "consumers (COUNT 100 BLOCK 1000)" % (RATE, seconds))
        row.target_text = "p99 <= 1 ms"
        rows.append(row)
        rows.append(Row(
            name="publish-to-delivery p50 at %d ev/s, blocked readers" % RATE,
            command=row.command, tincan=t50, peer=r50, peer_name=row.peer_name,
            unit="ms", higher_is_better=False,
            notes="RabbitMQ reference row missing: rabbitmq-server is not installed"))
    # the same at everysec: the wake-up path without an fsync in it
    with ctx.tincan(args=EVERYSEC_ARGS) as t, ctx.redis(REDIS_EVERYSEC) as r:
        t50, r50 = [], []
        row = ctx.compare(
            "publish-to-delivery p99 at %d ev/s, everysec" % RATE,
            tincan=lambda: latency("tincan", t, seconds, t50),
            peer=lambda: latency("redis", r, seconds, r50),
            peer_name="redis XADD -> XREADGROUP BLOCK, appendfsync everysec",
            unit="ms", higher_is_better=False,
            command="as above, tincan --fsync everysec vs "
                    "appendfsync everysec")
        row.target_text = "p99 <= 1 ms"
        rows.append(row)
        rows.append(Row(
            name="publish-to-delivery p50 at %d ev/s, everysec" % RATE,
            command=row.command, tincan=t50, peer=r50, peer_name=row.peer_name,
            unit="ms", higher_is_better=False))
    return rows
