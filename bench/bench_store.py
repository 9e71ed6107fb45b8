"""Event store benchmark rows (issue 3) for bench/bench.py.

Publishing: EV.PUB of 100-byte payloads vs Redis XADD with the AOF on, at
matching durability (fsync always vs appendfsync always, everysec vs
everysec), 50 clients, -P 1 and -P 32, both driven by redis-benchmark.
Targets: >= 2x Redis at always, >= 1x at everysec.

History reads: EV.RANGE of one type COUNT 1000 vs XRANGE s - + COUNT 1000 on
a stream of the same 20000 events (the reply shapes differ: tincan sends 9
fields per event, the stream entry 1). Target >= 1x.

Not measured here (too heavy for a shared 2-core box in one bench run): RSS
and restart time with 10M events.
"""

TITLE = "Event store (issue 3)"

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
            notes="x1000 for events/s"))
    return rows
