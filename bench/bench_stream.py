"""Redis Streams benchmark rows for bench/bench.py.

tincan's streams (src/stream/) are its event store: a stream key is an event
type, an entry an event, so XADD is as durable as EV.PUB. Every row sends the
same commands, through the same driver, to tincan and to redis-server 7.

1. XADD s * p <100 B>, 50 clients, -P 1 and -P 32, driven by redis-benchmark,
   at equal durability: tincan --fsync always (the reply waits for the group
   commit's fdatasync) vs Redis --appendonly yes --appendfsync always (the
   AOF is written and fsynced before the replies of an event-loop pass go
   out). Target >= 2x Redis at -P 32. At -P 1 every client waits for its one
   entry's fsync, so both servers are bound by the disk's flush latency
   (both batch the clients' writes into one flush): target >= 1x, i.e.
   tincan no slower.

2. Consume + ack of a backlog: BENCH_STREAM_EVENTS (default 200000, scaled)
   100-byte entries are XADDed first (loadgen publish-redis, pipelined, not
   timed) to a fresh key, XGROUP CREATE <key> g 0, then BENCH_STREAM_CONSUMERS
   (default 4) loadgen consume-redis threads, a connection each, loop
     XREADGROUP GROUP g cN COUNT 100 STREAMS <key> >; XACK <key> g <100 ids>
   until the group has nothing new. Entries/s, same durability as row 1
   (Redis propagates each delivery and each ack to its AOF and fsyncs it
   before replying; tincan journals the deliveries and the acks with group
   commit). Target >= 2x.

3. Memory: RSS (VmRSS) after BENCH_STREAM_RSS_EVENTS (default 10M, scaled)
   XADDed 100-byte entries in one stream, each server on its own (started,
   filled, measured, stopped), filled by loadgen publish-redis with 4
   clients and windows of 256. Both at everysec durability for the fill
   (tincan --fsync everysec, Redis appendfsync everysec with the automatic
   AOF rewrite off, so that no rewrite fork runs during the fill); XLEN must
   equal the count on both. One round (a fill of 10M takes a while).
   Target: tincan's RSS <= 1/10 of Redis's (ratio = redis / tincan).
"""

import os
import socket
import time

import hiredis

TITLE = "Redis Streams"

ABOUT = """
tincan's Redis Streams (XADD, XREADGROUP, XACK, ... with Redis 7.0 semantics)
are its durable event store: a stream key is an event type and an entry is an
event. Every row sends the same commands through the same driver to both
servers. The XADD and consume rows run at equal durability: nothing is
answered before it is on disk (tincan `--fsync always`, Redis `--appendonly
yes --appendfsync always`). Both servers batch the flush (Redis fsyncs its
AOF once per event-loop pass, tincan group-commits: one fdatasync for every
write that arrived while the previous one ran), so at -P 1, where each of the
50 clients waits for its own entry, both are bound by the disk's flush
latency and the ratio is near 1 (that row's target is only "no slower"); with 32 entries in flight per client
tincan's cheaper write path shows. The consume row reads a backlog with
XREADGROUP COUNT 100 and acks each batch with XACK (4 consumers); Redis
propagates every delivery and every ack to its AOF, tincan journals them with
group commit. The memory row is RSS after one stream of 10M (times the scale)
100-byte entries, filled at everysec on both sides: Redis holds every entry
in RAM (listpacks in a radix tree), tincan keeps the entries on disk in its
segments and only an index in RAM, so its RSS grows by a few bytes per entry
where Redis's grows by the entry.
"""

PAYLOAD = "x" * 100
EVENTS = int(os.environ.get("BENCH_STREAM_EVENTS", "200000"))
CONSUMERS = int(os.environ.get("BENCH_STREAM_CONSUMERS", "4"))
RSS_EVENTS = int(os.environ.get("BENCH_STREAM_RSS_EVENTS", "10000000"))
TINCAN_ALWAYS = ["--fsync", "always"]
REDIS_ALWAYS = ["--appendonly", "yes", "--appendfsync", "always"]
TINCAN_EVERYSEC = ["--fsync", "everysec"]
REDIS_EVERYSEC = ["--appendonly", "yes", "--appendfsync", "everysec",
                  "--auto-aof-rewrite-percentage", "0"]


def cmd(srv, *args):
    """One command through a fresh connection; the reply (hiredis-parsed)."""
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    rd = hiredis.Reader()
    with socket.create_connection((srv.host, srv.port), timeout=60) as s:
        s.sendall(b"".join(out))
        while True:
            v = rd.gets()
            if v is not False:
                if isinstance(v, hiredis.ReplyError):
                    raise RuntimeError("%s: %s" % (args[0], v))
                return v
            data = s.recv(65536)
            if not data:
                raise EOFError("server closed the connection")
            rd.feed(data)


def warnings(srv):
    """tincan's warning and error lines (marks '#' and '!') so far, for a note."""
    try:
        lines = srv.log.read_text(errors="replace").splitlines()
    except OSError:
        return []
    return [l for l in lines if " # " in l or " ! " in l]


_round = [0]


def consume_rate(ctx, srv, n):
    """Entries/s for CONSUMERS clients to read and ack n fresh entries."""
    _round[0] += 1
    key = "bench.s%d" % _round[0]
    ctx.loadgen("publish-redis", srv, key=key, count=n, clients=4, pipeline=100,
                seconds=300)
    got = cmd(srv, "XLEN", key)
    if got != n:
        raise RuntimeError("XLEN %s is %r after %d XADDs" % (key, got, n))
    cmd(srv, "XGROUP", "CREATE", key, "g", "0")
    res = ctx.loadgen("consume-redis", srv, key=key, clients=CONSUMERS, seconds=300)
    if res["ops"] != n:
        raise RuntimeError("consumers got %d entries of %d" % (res["ops"], n))
    pending = cmd(srv, "XPENDING", key, "g")
    if pending[0] != 0:
        raise RuntimeError("%r entries still pending after the acks" % pending[0])
    return res["ops_per_s"]


def run(ctx):
    from bench import Row
    rows = []
    with ctx.tincan(TINCAN_ALWAYS) as t, ctx.redis(REDIS_ALWAYS) as r:
        for pipeline, n, target in ((1, 30_000, 1.0), (32, 300_000, 2.0)):
            rows.append(ctx.compare(
                "XADD 100 B, fsync always, 50 clients, -P %d" % pipeline,
                tincan=lambda n=n, p=pipeline: ctx.redis_benchmark(
                    t, ["XADD", "s", "*", "p", PAYLOAD], requests=n, pipeline=p),
                peer=lambda n=n, p=pipeline: ctx.redis_benchmark(
                    r, ["XADD", "s", "*", "p", PAYLOAD], requests=n, pipeline=p),
                peer_name="redis (appendfsync always)", target=target,
                command="redis-benchmark -c 50 -n %d -P %d XADD s * p <100 B>"
                        % (ctx.scaled(n), pipeline),
                notes="tincan --fsync always vs redis --appendonly yes "
                      "--appendfsync always" +
                      ("; both bound by the flush latency, target: no slower"
                       if pipeline == 1 else "")))
        n = ctx.scaled(EVENTS)
        rows.append(ctx.compare(
            "XREADGROUP COUNT 100 + XACK, %d consumers, %d entries" % (CONSUMERS, n),
            tincan=lambda: consume_rate(ctx, t, n),
            peer=lambda: consume_rate(ctx, r, n),
            peer_name="redis (appendfsync always)", target=2.0, unit="entries/s",
            command="loadgen publish-redis --count %d --clients 4 --pipeline 100 "
                    "(not timed); XGROUP CREATE <key> g 0; loadgen consume-redis "
                    "--clients %d: XREADGROUP GROUP g cN COUNT 100 STREAMS <key> > "
                    "+ XACK <key> g <ids>" % (n, CONSUMERS),
            notes="a fresh key per round; every entry delivered once and acked"))
        warn = warnings(t)
        if warn:
            rows[-1].notes += "; tincan logged %d warnings, first: %s" % (len(warn), warn[0])
    rows.append(memory(ctx, Row))
    return rows


def fill_rss(ctx, srv, n):
    """XADDs n entries to one stream; (RSS KiB, fill rate)."""
    from bench import rss_kib
    res = ctx.loadgen("publish-redis", srv, key="s", count=n, clients=4,
                      pipeline=256, seconds=1200)
    got = cmd(srv, "XLEN", "s")
    if got != n:
        raise RuntimeError("%s: XLEN s is %r after %d XADDs" % (srv.name, got, n))
    time.sleep(2)
    return rss_kib(srv.pid), res["ops_per_s"]


def memory(ctx, Row):
    n = ctx.scaled(RSS_EVENTS)
    with ctx.tincan(TINCAN_EVERYSEC) as t:
        t_rss, t_rate = fill_rss(ctx, t, n)
        warn = warnings(t)
    print("  tincan: %d KiB after %d entries (fill %.0f/s)" % (t_rss, n, t_rate),
          flush=True)
    with ctx.redis(REDIS_EVERYSEC) as r:
        r_rss, r_rate = fill_rss(ctx, r, n)
    print("  redis: %d KiB after %d entries (fill %.0f/s)" % (r_rss, n, r_rate),
          flush=True)
    return Row(name="RSS after %d XADDed 100 B entries, one stream" % n,
               command="loadgen publish-redis --key s --count %d --clients 4 "
                       "--pipeline 256; XLEN s == %d; 2 s later VmRSS" % (n, n),
               tincan=[t_rss], peer=[r_rss], peer_name="redis", unit="KiB",
               target=10.0, higher_is_better=False,
               notes="ratio = redis / tincan; one round; fill at everysec on both "
                     "(tincan --fsync everysec, redis appendfsync everysec, "
                     "auto-aof-rewrite off); fill rates: tincan %.0f/s, redis %.0f/s"
                     % (t_rate, r_rate) +
                     ("; tincan logged %d warnings, first: %s" % (len(warn), warn[0])
                      if warn else ""))
