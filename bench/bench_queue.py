"""Work-queue benchmark rows (issue 5) for bench/bench.py.

One row measures complete job cycles per second: push a 100-byte job, take it
(with a lease), acknowledge it. Every system runs with the same durability:
each write is on disk before it is answered.

  tincan     Q.PUSH q <100 B>; Q.POP q; Q.ACK <id>   (fsync always,
                                                       group commit)
  beanstalkd put; reserve; delete                    (-b <dir> -f 0: binlog
                                                       fsynced on every write)
  Redis      LPUSH q <100 B>; LMOVE q processing RIGHT LEFT; LREM processing 1
             <job>                                   (appendonly yes,
                                                       appendfsync always)

Load: BENCH_QUEUE_PROCS processes x BENCH_QUEUE_THREADS threads (default 4 x
8 = 32 clients), each its own connection doing cycles back to back for
BENCH_QUEUE_SECONDS (default 5, scaled by BENCH_SCALE), all clients speaking
the raw protocol through the same tiny client code so the load generator
costs the same for every system. Targets: >= 5x beanstalkd, >= 2x Redis.
"""

import multiprocessing
import os
import shutil
import socket
import threading
import time

TITLE = "Work queues (issue 5)"

PAYLOAD = b"j" * 100
PROCS = int(os.environ.get("BENCH_QUEUE_PROCS", "4"))
THREADS = int(os.environ.get("BENCH_QUEUE_THREADS", "8"))
SECONDS = float(os.environ.get("BENCH_QUEUE_SECONDS", "5"))


class Conn:
    """A minimal blocking client: RESP or beanstalk lines over one socket."""

    def __init__(self, host, port):
        self.s = socket.create_connection((host, port), timeout=30)
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def _fill(self):
        chunk = self.s.recv(65536)
        if not chunk:
            raise EOFError("server closed the connection")
        self.buf += chunk

    def line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        ln, self.buf = self.buf.split(b"\r\n", 1)
        return ln

    def exact(self, n):
        while len(self.buf) < n + 2:
            self._fill()
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def resp(self):
        ln = self.line()
        t, rest = ln[:1], ln[1:]
        if t in (b"+", b":"):
            return rest
        if t == b"-":
            raise RuntimeError(rest.decode())
        if t == b"$":
            n = int(rest)
            return None if n < 0 else self.exact(n)
        if t in (b"*", b"%"):
            n = int(rest) * (2 if t == b"%" else 1)
            return [self.resp() for _ in range(max(n, 0))]
        raise RuntimeError("unexpected reply %r" % ln)

    def cmd(self, *args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        self.s.sendall(b"".join(out))
        return self.resp()


def cycle_tincan(c, n):
    c.cmd(b"Q.PUSH", b"bench", PAYLOAD)
    job = c.cmd(b"Q.POP", b"bench", b"LEASE", b"60000")
    if not job:
        return False
    rec = job[0]
    jid = rec[rec.index(b"id") + 1]
    return c.cmd(b"Q.ACK", jid) == b"1"


def cycle_redis(c, n):
    job = b"%d:" % n + PAYLOAD
    c.cmd(b"LPUSH", b"bench", job)
    got = c.cmd(b"LMOVE", b"bench", b"processing", b"RIGHT", b"LEFT")
    if got is None:
        return False
    return c.cmd(b"LREM", b"processing", b"1", got) == b"1"


def cycle_beanstalkd(c, n):
    c.s.sendall(b"put 100 0 60 %d\r\n%s\r\n" % (len(PAYLOAD), PAYLOAD))
    if not c.line().startswith(b"INSERTED"):
        return False
    c.s.sendall(b"reserve-with-timeout 0\r\n")
    ln = c.line()
    if not ln.startswith(b"RESERVED"):
        return False
    _, jid, size = ln.split()
    c.exact(int(size))
    c.s.sendall(b"delete %s\r\n" % jid)
    return c.line() == b"DELETED"


CYCLES = {"tincan": cycle_tincan, "redis": cycle_redis, "beanstalkd": cycle_beanstalkd}


def _proc(kind, host, port, seconds, threads, out):
    done = [0] * threads
    errors = []
    stop_at = time.monotonic() + seconds

    def client(i):
        try:
            c = Conn(host, port)
            fn, n = CYCLES[kind], i * 10_000_000
            while time.monotonic() < stop_at:
                n += 1
                if fn(c, n):
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
                                                      seconds, THREADS, q))
          for _ in range(PROCS)]
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


def _beanstalkd_ready(srv):
    try:
        with socket.create_connection((srv.host, srv.port), timeout=0.5) as s:
            s.sendall(b"stats\r\n")
            return s.recv(16).startswith(b"OK")
    except OSError:
        return False


def run(ctx):
    seconds = max(1.0, SECONDS * ctx.scale)
    load = "%d processes x %d threads, cycles for %.0f s" % (PROCS, THREADS, seconds)
    rows = []
    with ctx.tincan(args=["--fsync", "always"]) as t:
        if shutil.which("beanstalkd"):
            cmd = ["beanstalkd", "-l", "127.0.0.1", "-p", "{port}", "-b", "{dir}", "-f", "0"]
            with ctx.server("beanstalkd", cmd, ready=_beanstalkd_ready) as b:
                rows.append(ctx.compare(
                    "push+pop+ack, 100 B jobs, 32 clients",
                    tincan=lambda: cycles_per_second("tincan", t, seconds),
                    peer=lambda: cycles_per_second("beanstalkd", b, seconds),
                    peer_name="beanstalkd -b -f 0", target=5.0, unit="cycles/s",
                    command="bench/bench_queue.py (%s): Q.PUSH/Q.POP/Q.ACK vs "
                            "put/reserve-with-timeout 0/delete" % load))
        with ctx.redis(["--appendonly", "yes", "--appendfsync", "always"]) as r:
            rows.append(ctx.compare(
                "push+pop+ack, 100 B jobs, 32 clients",
                tincan=lambda: cycles_per_second("tincan", t, seconds),
                peer=lambda: cycles_per_second("redis", r, seconds),
                peer_name="redis lists, appendfsync always", target=2.0, unit="cycles/s",
                command="bench/bench_queue.py (%s): Q.PUSH/Q.POP/Q.ACK vs "
                        "LPUSH/LMOVE/LREM" % load))
    return rows
