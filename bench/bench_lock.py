"""Lock benchmark row (issue 6) for bench/bench.py.

One row measures complete lock cycles per second: acquire a lease, release it.
Both systems run with every write on disk before it is answered.

  tincan  LOCK.ACQUIRE name owner 30000 -> token; LOCK.RELEASE name owner token
          (fsync always, group commit; gives fencing tokens that never
          repeat and leases that survive a crash)
  Redis   SET name owner NX PX 30000; DEL name
          (appendonly yes, appendfsync always; no fencing token)

Load: bench/loadgen.c (C, hiredis), BENCH_LOCK_CLIENTS connections (default
32) driven by one epoll thread, each with a fresh lock name per cycle, cycles
back to back for BENCH_LOCK_SECONDS (default 5, scaled by BENCH_SCALE).
Target: >= 1x Redis.
"""

import os

TITLE = "Locks (issue 6)"

CLIENTS = int(os.environ.get("BENCH_LOCK_CLIENTS", "32"))
SECONDS = float(os.environ.get("BENCH_LOCK_SECONDS", "5"))


def run(ctx):
    seconds = max(1, round(SECONDS * ctx.scale))

    def rate(mode, srv):
        return ctx.loadgen(mode, srv, clients=CLIENTS, seconds=seconds)["ops_per_s"]

    with ctx.tincan(args=["--fsync", "always"]) as t, \
            ctx.redis(["--appendonly", "yes", "--appendfsync", "always"]) as r:
        return [ctx.compare(
            "acquire+release, %d clients" % CLIENTS,
            tincan=lambda: rate("lock-tincan", t),
            peer=lambda: rate("lock-redis", r),
            peer_name="redis SET NX PX + DEL, appendfsync always", target=1.0,
            unit="cycles/s",
            command="loadgen lock-tincan|lock-redis --clients %d --seconds %d"
                    % (CLIENTS, seconds))]
