"""Event store benchmark rows (issue 3) for bench/bench.py.

Publishing: EV.PUB of 100-byte payloads vs Redis XADD with the AOF on, at
matching durability (fsync always vs appendfsync always, everysec vs
everysec), 50 clients, -P 1 and -P 32, both driven by redis-benchmark.
Targets: >= 2x Redis at always, >= 1x at everysec.

History reads: EV.RANGE of one type COUNT 1000 vs XRANGE s - + COUNT 1000 on
a stream of the same 20000 events (the reply shapes differ: tincan sends 9
fields per event, the stream entry 1), and the same with FIELDS
position,payload (the XRANGE entry's information in as many RESP elements).
Target >= 1x.

Memory and restart: RSS after BENCH_STORE_EVENTS (default 10M, the issue's
size; scaled) stored 100-byte events vs Redis with the same stream (target:
tincan <= 1/10 of Redis), and the restart on that data dir: the store's open
time (EV.INFO open_ms) and the whole start until the first PING answers
(target < 1 s at 10M events; only the open segment is scanned, so the time
is bounded by segment-size, not by history).
"""

import os
import socket

EVENTS = int(os.environ.get("BENCH_STORE_EVENTS", "10000000"))

TITLE = "Event store (issue 3)"


def ev_info(srv, field):
    """One EV.INFO field (RESP2 flat array) through a raw socket."""
    with socket.create_connection((srv.host, srv.port), timeout=30) as s:
        s.sendall(b"*1\r\n$7\r\nEV.INFO\r\n")
        data = b""
        # open_ms is the last field: read until its value line is complete
        while not (b"open_ms\r\n:" in data and data.endswith(b"\r\n")):
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    parts = [p for p in data.split(b"\r\n") if p and p[:1] not in (b"*", b"$")]
    for k, v in zip(parts[::2], parts[1::2]):
        if k.decode() == field:
            return int(v.lstrip(b":"))
    raise RuntimeError("EV.INFO has no %s" % field)

PAYLOAD = "x" * 100


def run(ctx):
    rows = []
    for fsync, target in (("always", 2.0), ("everysec", 1.0)):
        with ctx.tincan(["--fsync", fsync]) as t, \
                ctx.redis(["--appendonly", "yes", "--appendfsync", fsync]) as r:
            for pipeline in (1, 32):
                n = 50_000 if pipeline == 1 else 200_000
                rows.append(ctx.compare(
                    "EV.PUB 100 B, fsync %s, 50 clients, -P %d" % (fsync, pipeline),
                    tincan=lambda t=t, n=n, p=pipeline: ctx.redis_benchmark(
                        t, ["EV.PUB", "bench.created", PAYLOAD], requests=n,
                        pipeline=p),
                    peer=lambda r=r, n=n, p=pipeline: ctx.redis_benchmark(
                        r, ["XADD", "s", "*", "p", PAYLOAD], requests=n, pipeline=p),
                    peer_name="redis XADD (appendfsync %s)" % fsync, target=target,
                    command="redis-benchmark -c 50 -n %d -P %d EV.PUB bench.created "
                            "<100 B>" % (n, pipeline)))
    with ctx.tincan(["--fsync", "everysec"]) as t, ctx.redis() as r:
        ctx.redis_benchmark(t, ["EV.PUB", "bench.created", PAYLOAD], requests=20_000,
                            pipeline=32)
        ctx.redis_benchmark(r, ["XADD", "s", "*", "p", PAYLOAD], requests=20_000,
                            pipeline=32)
        rows.append(ctx.compare(
            "EV.RANGE one type COUNT 1000, 10 clients",
            tincan=lambda: ctx.redis_benchmark(
                t, ["EV.RANGE", "bench.created", "COUNT", "1000"], clients=10,
                requests=2000),
            peer=lambda: ctx.redis_benchmark(
                r, ["XRANGE", "s", "-", "+", "COUNT", "1000"], clients=10,
                requests=2000),
            peer_name="redis XRANGE", target=1.0,
            command="redis-benchmark -c 10 -n 2000 EV.RANGE bench.created COUNT 1000",
            notes="x1000 for events/s; 19 RESP elements per event against 5"))
        rows.append(ctx.compare(
            "EV.RANGE ... FIELDS position,payload COUNT 1000, 10 clients",
            tincan=lambda: ctx.redis_benchmark(
                t, ["EV.RANGE", "bench.created", "COUNT", "1000", "FIELDS",
                    "position,payload"], clients=10, requests=2000),
            peer=lambda: ctx.redis_benchmark(
                r, ["XRANGE", "s", "-", "+", "COUNT", "1000"], clients=10,
                requests=2000),
            peer_name="redis XRANGE", target=1.0,
            command="redis-benchmark -c 10 -n 2000 EV.RANGE bench.created COUNT 1000 "
                    "FIELDS position,payload",
            notes="x1000 for events/s; the same information as the XRANGE entry "
                  "(id + payload) in the same 5 RESP elements"))
    rows += memory_and_restart(ctx)
    return rows


def memory_and_restart(ctx):
    from bench import Row, rss_kib
    n = ctx.scaled(EVENTS)
    with ctx.tincan(["--fsync", "no"]) as t, ctx.redis() as r:
        ctx.redis_benchmark(t, ["EV.PUB", "bench.created", PAYLOAD], requests=n,
                            pipeline=64)
        ctx.redis_benchmark(r, ["XADD", "s", "*", "p", PAYLOAD], requests=n,
                            pipeline=64)
        mem = Row(name="RSS with %d stored 100 B events" % n,
                  command="redis-benchmark -n %d -P 64 EV.PUB / XADD, then VmRSS" % n,
                  tincan=[rss_kib(t.pid)], peer=[rss_kib(r.pid)],
                  peer_name="redis stream", unit="KiB", target=10.0,
                  higher_is_better=False, notes="ratio = redis / tincan")
        data = str(t.dir / "data")
    opens, starts = [], []
    for _ in range(ctx.rounds):
        with ctx.tincan(["--dir", data]) as t2:
            opens.append(ev_info(t2, "open_ms"))
            starts.append(round(t2.start_ms))
            events = ev_info(t2, "events")
    restart = Row(name="store open at restart, %d events" % events,
                  command="tincan-server --dir <the data above>; EV.INFO open_ms",
                  tincan=opens, peer=[], unit="ms", higher_is_better=False,
                  target_text="< 1000 ms at 10M events")
    start = Row(name="restart until ready, %d events" % events,
                command="tincan-server --dir <the data above>: exec until the "
                        "readiness line (polled every 5 ms)",
                tincan=starts, peer=[], unit="ms", higher_is_better=False,
                target_text="< 1000 ms at 10M events")
    return [mem, restart, start]
