"""Work-queue benchmark rows (issue 5) for bench/bench.py.

One row measures complete job cycles per second: push a 100-byte job, take it
(with a lease), acknowledge it. Every system runs with the same durability:
each write is on disk before it is answered.

  tincan     Q.PUSH q <100 B>; Q.POP q LEASE 60000; Q.ACK <id>
                                     (fsync always, group commit)
  beanstalkd put; reserve-with-timeout 0; delete
                                     (-b <dir> -f 0: binlog fsynced on every
                                      write)
  Redis      LPUSH q <n:100 B>; LMOVE q processing RIGHT LEFT;
             LREM processing 1 <job> (appendonly yes, appendfsync always)

Load: bench/loadgen.c (C; hiredis's reply parser for RESP, beanstalk's text
protocol by hand): BENCH_QUEUE_CLIENTS connections (default 32), each doing
cycles back to back, all driven by one epoll thread, for BENCH_QUEUE_SECONDS
(default 5, scaled by BENCH_SCALE). Targets: >= 5x beanstalkd, >= 2x Redis.

Two kinds of rows without a target explain the Redis ratio:
- the same cycle against Redis at fewer and more clients (BENCH_QUEUE_SWEEP,
  default "8,128"): with few clients both servers wait on the disk and
  tincan's group commit and unsynced pop count fully; with many, both run out
  of CPU on a small machine and converge;
- the round-trip ceiling: three PINGs per cycle (loadgen ping3) against
  tincan and against Redis without persistence. No server can run a
  three-command cycle faster on this machine with this driver; the queue
  rows read as a fraction of it.
"""

import os
import shutil
import socket

TITLE = "Work queues (issue 5)"

CLIENTS = int(os.environ.get("BENCH_QUEUE_CLIENTS", "32"))
SECONDS = float(os.environ.get("BENCH_QUEUE_SECONDS", "5"))
SWEEP = [int(n) for n in os.environ.get("BENCH_QUEUE_SWEEP", "8,128").split(",") if n]


def _beanstalkd_ready(srv):
    try:
        with socket.create_connection((srv.host, srv.port), timeout=0.5) as s:
            s.sendall(b"stats\r\n")
            return s.recv(16).startswith(b"OK")
    except OSError:
        return False


def run(ctx):
    seconds = max(1, round(SECONDS * ctx.scale))

    def rate(mode, srv, clients=CLIENTS):
        return ctx.loadgen(mode, srv, clients=clients, seconds=seconds)["ops_per_s"]

    def command(peer_mode, clients=CLIENTS, mode="queue-tincan"):
        return "loadgen %s|%s --clients %d --seconds %d" % (
            mode, peer_mode, clients, seconds)

    rows = []
    with ctx.tincan(args=["--fsync", "always"]) as t:
        if shutil.which("beanstalkd"):
            cmd = ["beanstalkd", "-l", "127.0.0.1", "-p", "{port}", "-b", "{dir}", "-f", "0"]
            with ctx.server("beanstalkd", cmd, ready=_beanstalkd_ready) as b:
                rows.append(ctx.compare(
                    "push+pop+ack, 100 B jobs, %d clients" % CLIENTS,
                    tincan=lambda: rate("queue-tincan", t),
                    peer=lambda: rate("queue-beanstalkd", b),
                    peer_name="beanstalkd -b -f 0", target=5.0, unit="cycles/s",
                    command=command("queue-beanstalkd")))
        with ctx.redis(["--appendonly", "yes", "--appendfsync", "always"]) as r:
            rows.append(ctx.compare(
                "push+pop+ack, 100 B jobs, %d clients" % CLIENTS,
                tincan=lambda: rate("queue-tincan", t),
                peer=lambda: rate("queue-redis", r),
                peer_name="redis lists, appendfsync always", target=2.0, unit="cycles/s",
                command=command("queue-redis"),
                notes="Redis fsyncs all three commands, tincan two (Q.POP waits for no "
                      "fsync), each fsync round shared by every client waiting; the "
                      "ratio is largest while the disk is the limit (fewer clients) "
                      "and shrinks once two cores are (compare the ceiling row)"))
            for n in SWEEP:
                rows.append(ctx.compare(
                    "push+pop+ack, 100 B jobs, %d clients (no target)" % n,
                    tincan=lambda n=n: rate("queue-tincan", t, n),
                    peer=lambda n=n: rate("queue-redis", r, n),
                    peer_name="redis lists, appendfsync always", unit="cycles/s",
                    command=command("queue-redis", n)))
    with ctx.tincan() as t, ctx.redis() as r:
        rows.append(ctx.compare(
            "ceiling: PING x3 cycle, %d clients (no target)" % CLIENTS,
            tincan=lambda: rate("ping3", t),
            peer=lambda: rate("ping3", r),
            peer_name="redis, no persistence", unit="cycles/s",
            command=command("ping3", mode="ping3"),
            notes="three round trips and no work: the most any server can run of a "
                  "three-command cycle here"))
    return rows
