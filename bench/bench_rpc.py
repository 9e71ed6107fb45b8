"""RPC benchmark rows (issue 16) for bench/bench.py.

Synchronous request/reply round trips through a broker: callers send a
100-byte request and wait for its answer before sending the next; echo
servers answer every request at once. tincan's RPC.CALL / RPC.SERVE /
RPC.REPLY against the two request/reply patterns users reach for instead:

  tincan    RPC.CALL bench <payload> TIMEOUT 10000; servers loop
            RPC.SERVE bench COUNT 64 BLOCK 0 and answer with RPC.REPLY,
            pipelined with the next RPC.SERVE (in memory: no disk)
  NATS      request/reply the way nats.go's Request does it: one wildcard
            inbox subscription per caller connection, PUB bench
            _INBOX.<conn>.<n>; servers in the queue group "workers" (core
            NATS, no JetStream: nothing on disk either)
  RabbitMQ  direct reply-to: callers consume amq.rabbitmq.reply-to, publish
            to the non-durable queue rpc.bench with reply_to and a
            correlation id; servers consume it (prefetch 64), publish the
            answer to the reply_to key and ack

All three are driven by bench/rpcload.c (C): one thread and connection per
caller and per server, blocking sockets, the same payload and batching, so
the ratios measure the brokers. Two loads: 1 caller and 32 callers, each
with 4 servers; round trips per second (targets: >= 1x NATS, >= 3x
RabbitMQ) and the p50/p99 of a round trip as the callers timed it. Each
pair runs alternately in the same run. nats-server (Debian) runs on a free
loopback port with no config file and no JetStream; RabbitMQ runs as the
throwaway node of bench_bus.py. A peer that cannot start gives error rows
saying why; the other rows stay.

BENCH_RPC_CALLS_1 (default 20000) and BENCH_RPC_CALLS_32 (default 100000)
set the round trips of one run (scaled by BENCH_SCALE), BENCH_RPC_SECONDS
(default 60) its time limit.
"""

import json
import os
import shutil
import socket
import subprocess

TITLE = "RPC (issue 16)"
ABOUT = """\
Synchronous request/reply round trips of 100 bytes through the broker, echo
servers answering at once, driven by bench/rpcload.c (a C thread and
connection per caller and per server, the same for every side): tincan's
RPC.CALL / RPC.SERVE COUNT 64 BLOCK 0 / RPC.REPLY, NATS request/reply
(nats-server, inbox subscription per connection, queue group of servers) and
RabbitMQ direct reply-to (rabbitmq-c, non-durable request queue, prefetch
64). 1 caller and 32 callers, each with 4 servers. Round trips per second
(targets: >= 1x NATS, >= 3x RabbitMQ) and the p50/p99 round-trip time the
callers measured (ratio = peer / tincan, so above 1 is tincan faster; no
target). No side touches the disk."""

SIZE = 100
SERVERS = 4
LOADS = [(1, int(os.environ.get("BENCH_RPC_CALLS_1", "20000"))),
         (32, int(os.environ.get("BENCH_RPC_CALLS_32", "100000")))]
SECONDS = int(os.environ.get("BENCH_RPC_SECONDS", "60"))


def rpcload(ctx, proto, srv, callers, calls, lat):
    """Round trips/s of one rpcload run; appends (p50_us, p99_us) to lat."""
    from bench import BUILD
    out = ctx.run_cmd([str(BUILD / "bench" / "rpcload"), "--proto", proto,
                       "--host", srv.host, "--port", str(srv.port),
                       "--callers", str(callers), "--servers", str(SERVERS),
                       "--calls", str(calls), "--size", str(SIZE),
                       "--seconds", str(SECONDS)], timeout=SECONDS + 60)
    res = json.loads(out.strip().splitlines()[-1])
    if res["calls"] < min(calls, 100):
        raise RuntimeError("rpcload %s: only %d round trips in %s s" % (
            proto, res["calls"], res["seconds"]))
    lat.append((res["p50_us"], res["p99_us"]))
    return res["calls_per_s"]


def nats_ready(srv):
    """True once nats-server greets a client with its INFO line."""
    try:
        with socket.create_connection((srv.host, srv.port), timeout=0.5) as s:
            return s.recv(5) == b"INFO "
    except OSError:
        return False


def nats(ctx):
    if shutil.which("nats-server") is None:
        raise RuntimeError("nats-server is not installed (sh scripts/deps.sh bench)")
    # no -c: no config file; core NATS only (JetStream is off unless -js)
    return ctx.server("nats-server", ["nats-server", "-a", "127.0.0.1", "-p", "{port}"],
                      ready=nats_ready)


def nats_version():
    try:
        p = subprocess.run(["nats-server", "--version"], capture_output=True, text=True)
        return p.stdout.split()[-1]
    except (OSError, IndexError):
        return "?"


def rows_against(ctx, peer, proto, peer_name, target, start):
    """The throughput, p50 and p99 rows of tincan vs one peer, for each load;
    error rows (the reason in them) when the peer or tincan cannot run."""
    from bench import Row, fmt_num
    rows = []
    load = lambda callers: "%d caller%s / %d servers" % (
        callers, "" if callers == 1 else "s", SERVERS)
    names = [(callers, calls, "round trips of %d B, %s" % (SIZE, load(callers)))
             for callers, calls in LOADS]
    try:
        with ctx.tincan() as t, start() as p:
            for callers, calls, name in names:
                n = ctx.scaled(calls)
                tl, pl = [], []
                command = ("rpcload --proto tincan|%s --callers %d --servers %d --calls %d "
                           "--size %d --seconds %d" % (proto, callers, SERVERS, n, SIZE,
                                                       SECONDS))
                row = ctx.compare(
                    name + ", vs " + peer,
                    tincan=lambda c=callers, n=n, tl=tl: rpcload(ctx, "tincan", t, c, n, tl),
                    peer=lambda c=callers, n=n, pl=pl: rpcload(ctx, proto, p, c, n, pl),
                    peer_name=peer_name, target=target, unit="calls/s", command=command)
                rows.append(row)
                for i, what in ((0, "p50"), (1, "p99")):
                    lrow = Row(name="round-trip %s, %s, vs %s" % (what, load(callers), peer),
                               command=command,
                               tincan=[x[i] for x in tl], peer=[x[i] for x in pl],
                               peer_name=peer_name, unit="us", higher_is_better=False)
                    print("  %-44s tincan %s  %s %s" % (
                        "(%s %s)" % (what, lrow.unit), fmt_num(lrow.tincan_median),
                        peer, fmt_num(lrow.peer_median)), flush=True)
                    rows.append(lrow)
    except Exception as e:  # reported in the rows, the section goes on
        msg = " ".join(str(e).split())[:300]
        done = {r.name for r in rows}
        for callers, calls, name in names:
            if name + ", vs " + peer not in done:
                print("  %-44s error: %s" % (name + ", vs " + peer, msg), flush=True)
                rows.append(Row(name=name + ", vs " + peer, command="", tincan=[], peer=[],
                                peer_name=peer_name, unit="calls/s", target=target,
                                error="error: " + msg))
    return rows


def run(ctx):
    import bench_bus  # its RabbitMQ node starter (bench/ is on sys.path)
    mq_version = bench_bus.package_version("rabbitmq-server")
    rows = rows_against(ctx, "NATS", "nats", "nats-server %s request/reply" % nats_version(),
                        1.0, lambda: nats(ctx))
    rows += rows_against(ctx, "RabbitMQ", "amqp",
                         "RabbitMQ %s direct reply-to, rabbitmq-c" % mq_version, 3.0,
                         lambda: bench_bus.rabbitmq(ctx))
    return rows
