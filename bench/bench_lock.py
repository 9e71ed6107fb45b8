"""Lock benchmark row (issue 6) for bench/bench.py.

One row measures complete lock cycles per second: acquire a lease, release it.
Both systems run with every write on disk before it is answered.

  tincan  LOCK.ACQUIRE name owner 30000 -> token; LOCK.RELEASE name owner token
          (fsync always, group commit; gives fencing tokens that never
          repeat and leases that survive a crash)
  Redis   SET name owner NX PX 30000; DEL name
          (appendonly yes, appendfsync always; no fencing token)

Load: BENCH_LOCK_PROCS processes x BENCH_LOCK_THREADS threads (default 4 x 8 =
32 clients), each its own connection and its own lock name, cycles back to
back for BENCH_LOCK_SECONDS (default 5, scaled by BENCH_SCALE), every system
driven by the same tiny raw-protocol client. Target: >= 1x Redis.
"""

import multiprocessing
import os
import socket
import threading
import time

TITLE = "Locks (issue 6)"

PROCS = int(os.environ.get("BENCH_LOCK_PROCS", "4"))
THREADS = int(os.environ.get("BENCH_LOCK_THREADS", "8"))
SECONDS = float(os.environ.get("BENCH_LOCK_SECONDS", "5"))


class Conn:
    """A minimal blocking RESP client over one socket."""

    def __init__(self, host, port):
        self.s = socket.create_connection((host, port), timeout=30)
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def _line(self):
        while b"\r\n" not in self.buf:
            chunk = self.s.recv(65536)
            if not chunk:
                raise EOFError("server closed the connection")
            self.buf += chunk
        ln, self.buf = self.buf.split(b"\r\n", 1)
        return ln

    def cmd(self, *args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        self.s.sendall(b"".join(out))
        ln = self._line()
        t, rest = ln[:1], ln[1:]
        if t == b"-":
            raise RuntimeError(rest.decode())
        if t == b"$":
            n = int(rest)
            if n < 0:
                return None
            while len(self.buf) < n + 2:
                self.buf += self.s.recv(65536)
            data, self.buf = self.buf[:n], self.buf[n + 2:]
            return data
        if t == b"_":
            return None
        return rest


def cycle_tincan(c, name, owner):
    tok = c.cmd(b"LOCK.ACQUIRE", name, owner, b"30000")
    if tok is None:
        return False
    return c.cmd(b"LOCK.RELEASE", name, owner, tok) == b"1"


def cycle_redis(c, name, owner):
    if c.cmd(b"SET", name, owner, b"NX", b"PX", b"30000") != b"OK":
        return False
    return c.cmd(b"DEL", name) == b"1"


CYCLES = {"tincan": cycle_tincan, "redis": cycle_redis}


def _proc(kind, host, port, seconds, threads, pid, out):
    done = [0] * threads
    errors = []
    stop_at = time.monotonic() + seconds

    def client(i):
        try:
            c = Conn(host, port)
            fn = CYCLES[kind]
            name = b"bench:lock:%d:%d" % (pid, i)
            owner = b"owner-%d-%d" % (pid, i)
            while time.monotonic() < stop_at:
                if fn(c, name, owner):
                    done[i] += 1
        except Exception as e:  # reported through the queue
            errors.append(repr(e))

    ts = [threading.Thread(target=client, args=(i,)) for i in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    out.put((sum(done), errors[:3]))


def cycles_per_second(kind, server, seconds):
    q = multiprocessing.Queue()
    ps = [multiprocessing.Process(target=_proc, args=(kind, server.host, server.port,
                                                      seconds, THREADS, p, q))
          for p in range(PROCS)]
    t0 = time.monotonic()
    for p in ps:
        p.start()
    results = [q.get(timeout=seconds + 120) for _ in ps]
    for p in ps:
        p.join(30)
    took = time.monotonic() - t0
    errors = [e for _, errs in results for e in errs]
    if errors:
        raise RuntimeError("%s load failed: %s" % (kind, errors[:3]))
    return sum(n for n, _ in results) / max(took, seconds)


def run(ctx):
    seconds = max(1.0, SECONDS * ctx.scale)
    load = "%d processes x %d threads, cycles for %.0f s" % (PROCS, THREADS, seconds)
    with ctx.tincan(args=["--fsync", "always"]) as t, \
            ctx.redis(["--appendonly", "yes", "--appendfsync", "always"]) as r:
        return [ctx.compare(
            "acquire+release, %d clients" % (PROCS * THREADS),
            tincan=lambda: cycles_per_second("tincan", t, seconds),
            peer=lambda: cycles_per_second("redis", r, seconds),
            peer_name="redis SET NX PX + DEL, appendfsync always", target=1.0,
            unit="cycles/s",
            command="bench/bench_lock.py (%s): LOCK.ACQUIRE/LOCK.RELEASE vs "
                    "SET NX PX 30000/DEL" % load)]
