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

Load: bench/loadgen.c (C; hiredis for RESP, a plain socket for beanstalk's
text protocol), BENCH_QUEUE_CLIENTS threads (default 32), each its own
connection doing cycles back to back for BENCH_QUEUE_SECONDS (default 5,
scaled by BENCH_SCALE). Targets: >= 5x beanstalkd, >= 2x Redis.
"""

import os
import shutil
import socket

TITLE = "Work queues (issue 5)"

CLIENTS = int(os.environ.get("BENCH_QUEUE_CLIENTS", "32"))
SECONDS = float(os.environ.get("BENCH_QUEUE_SECONDS", "5"))


def _beanstalkd_ready(srv):
    try:
        with socket.create_connection((srv.host, srv.port), timeout=0.5) as s:
            s.sendall(b"stats\r\n")
            return s.recv(16).startswith(b"OK")
    except OSError:
        return False


def run(ctx):
    seconds = max(1, round(SECONDS * ctx.scale))

    def rate(mode, srv):
        return ctx.loadgen(mode, srv, clients=CLIENTS, seconds=seconds)["ops_per_s"]

    def command(peer_mode):
        return "loadgen queue-tincan|%s --clients %d --seconds %d" % (
            peer_mode, CLIENTS, seconds)

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
                command=command("queue-redis")))
    return rows
