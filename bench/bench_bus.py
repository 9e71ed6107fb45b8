"""Event bus benchmark rows (issue 4) for bench/bench.py.

Rows 1 and 2 are against Redis streams at the same durability (every write
on disk before it is answered: tincan --fsync always vs Redis appendonly yes,
appendfsync always), driven by the same client code so the load generator
costs the same; row 3 is against RabbitMQ, each side with its own C client:

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

3. End to end, the issue's reference row: publish + consume + ack of
   persistent 100-byte events, BENCH_BUS_PUBLISHERS publishers (default 4)
   and CONSUMERS consumers at once, until all N are consumed and acked.
   Both sides are driven by a C client on its own connection per thread,
   with windows of 100 unanswered publishes and batches of 100 deliveries:
     tincan    bench/loadgen.c bus-e2e (hiredis): EV.PUB bench.created
               pipelined 100 at a time / EV.READ COUNT 100 BLOCK + EV.ACK,
               on a subscription to bench.#, --fsync always
     RabbitMQ  bench/amqpload.c (rabbitmq-c): delivery_mode 2 to a durable
               topic exchange, routing key bench.created, publisher confirms
               (at most 100 unconfirmed per publisher) / a durable quorum
               queue bound with bench.#, prefetch 100, manual multiple-acks
   Target >= 5x RabbitMQ. The same tincan figures are also set against a
   classic durable queue (RabbitMQ's default type), without a target.
   RabbitMQ runs as a throwaway node (rabbitmq()) in the bench's temp dir:
   own node name, AMQP on a free loopback port, its own epmd and Erlang
   distribution on loopback only, no plugins; it is stopped (and its process
   group killed if need be) when the row is done. If it cannot start within
   RABBITMQ_START_TIMEOUT the row is an error row saying why.
"""

import contextlib
import json
import multiprocessing
import os
import shutil
import signal
import socket
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import hiredis

TITLE = "Event bus (issue 4)"

PAYLOAD = b"e" * 100
EVENTS = int(os.environ.get("BENCH_BUS_EVENTS", "200000"))
CONSUMERS = int(os.environ.get("BENCH_BUS_CONSUMERS", "4"))
PUBLISHERS = int(os.environ.get("BENCH_BUS_PUBLISHERS", "4"))
WINDOW = 100                           # unanswered publishes per publisher
E2E_LIMIT = 300                        # s: time limit of one e2e run
RABBITMQ_SERVER = "/usr/lib/rabbitmq/bin/rabbitmq-server"
RABBITMQ_START_TIMEOUT = 60.0          # s
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


# ---- 3. end to end against RabbitMQ ----

def amqp_ready(host, port):
    """True once the broker answers an AMQP 0-9-1 header with connection.start
    (a method frame): its listener opens when the node has finished booting."""
    try:
        with socket.create_connection((host, port), timeout=1) as s:
            s.sendall(b"AMQP\x00\x00\x09\x01")
            return s.recv(7)[:1] == b"\x01"
    except OSError:
        return False


def port_open(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def rss_mib(pid):
    """(current, peak) resident set of pid in MiB, or (None, None)."""
    try:
        status = Path("/proc/%d/status" % pid).read_text()
    except OSError:
        return None, None
    kb = {l.split(":")[0]: int(l.split()[1]) for l in status.splitlines()
          if l.startswith(("VmRSS:", "VmHWM:"))}
    return kb.get("VmRSS", 0) / 1024, kb.get("VmHWM", 0) / 1024


def child_pid(pid, comm):
    """The pid of pid's child named comm (the Erlang VM under the start
    script), or None."""
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        if ppid == pid and name == comm:
            return int(d.name)
    return None


def package_version(pkg):
    p = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", pkg],
                       capture_output=True, text=True)
    return p.stdout.strip() if p.returncode == 0 else "?"


class Broker:
    """A RabbitMQ node we started: host, port, dir, start_s (seconds until
    AMQP answered) and beam (the pid of its Erlang VM, for memory)."""

    def __init__(self, port, workdir, start_s, beam):
        self.host = "127.0.0.1"
        self.port = port
        self.dir = workdir
        self.start_s = start_s
        self.beam = beam


@contextlib.contextmanager
def rabbitmq(ctx):
    """Starts a throwaway RabbitMQ node in a temp dir under ctx.tmp and stops
    it for sure on exit (SIGTERM, then SIGKILL to its process group). It has
    its own epmd on a free loopback port (not 4369) that we start and kill,
    a node name of its own, and touches nothing under /etc or /var/lib.
    Raises RuntimeError when RabbitMQ is not installed or not up within
    RABBITMQ_START_TIMEOUT s."""
    if not os.access(RABBITMQ_SERVER, os.X_OK) or shutil.which("epmd") is None:
        raise RuntimeError("rabbitmq-server is not installed (sh scripts/deps.sh bench)")
    d = Path(tempfile.mkdtemp(prefix="rabbitmq-", dir=str(ctx.tmp)))
    port, epmd_port, dist_port = ctx.free_port(), ctx.free_port(), ctx.free_port()
    for sub in ("mnesia", "log"):
        (d / sub).mkdir()
    (d / "rabbitmq.conf").write_text(
        "listeners.tcp.default = 127.0.0.1:%d\n"
        "log.console = false\n"
        "log.file.level = warning\n" % port)
    (d / "enabled_plugins").write_text("[].\n")  # no management plugin, nothing
    env = dict(os.environ,
               HOME=str(d),                         # its .erlang.cookie goes here
               RABBITMQ_CONF_ENV_FILE=str(d / "rabbitmq-env.conf"),  # not /etc's
               RABBITMQ_NODENAME="tincanbench-%d-%d@localhost" % (os.getpid(), port),
               RABBITMQ_MNESIA_BASE=str(d / "mnesia"),
               RABBITMQ_LOG_BASE=str(d / "log"),
               RABBITMQ_CONFIG_FILE=str(d / "rabbitmq.conf"),
               RABBITMQ_ADVANCED_CONFIG_FILE=str(d / "advanced.config"),
               RABBITMQ_ENABLED_PLUGINS_FILE=str(d / "enabled_plugins"),
               RABBITMQ_PID_FILE=str(d / "rabbitmq.pid"),
               RABBITMQ_DIST_PORT=str(dist_port),
               ERL_EPMD_ADDRESS="127.0.0.1",
               ERL_EPMD_PORT=str(epmd_port),
               # our epmd, not one the VM would daemonize; distribution on loopback
               RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS=(
                   "-start_epmd false -kernel inet_dist_use_interface {127,0,0,1}"))
    with open(d / "epmd.log", "wb") as lf:
        epmd = subprocess.Popen(["epmd", "-address", "127.0.0.1", "-port", str(epmd_port)],
                                env=env, stdin=subprocess.DEVNULL, stdout=lf,
                                stderr=subprocess.STDOUT, start_new_session=True)
    proc = None
    try:
        deadline = time.monotonic() + 10
        while not port_open(epmd_port):
            if epmd.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("epmd did not start on 127.0.0.1:%d: %s" % (
                    epmd_port, (d / "epmd.log").read_text()[-500:]))
            time.sleep(0.05)
        t0 = time.monotonic()
        log = d / "stdout"
        with open(log, "wb") as lf:
            proc = subprocess.Popen([RABBITMQ_SERVER], env=env, cwd=str(d),
                                    stdin=subprocess.DEVNULL, stdout=lf,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        while not amqp_ready("127.0.0.1", port):
            if proc.poll() is not None:
                raise RuntimeError("rabbitmq-server exited (%d): %s" % (
                    proc.returncode, log.read_text()[-1000:]))
            if time.monotonic() - t0 > RABBITMQ_START_TIMEOUT:
                raise RuntimeError("rabbitmq-server: no AMQP on 127.0.0.1:%d after %.0f s"
                                   % (port, RABBITMQ_START_TIMEOUT))
            time.sleep(0.1)
        yield Broker(port, d, time.monotonic() - t0, child_pid(proc.pid, "beam.smp"))
    finally:
        if proc is not None:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)  # the script passes it to the VM
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
            # anything left of its group (the VM, erl_child_setup, inet_gethost)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
        epmd.terminate()
        try:
            epmd.wait(5)
        except subprocess.TimeoutExpired:
            epmd.kill()
            epmd.wait()


def e2e_tincan(ctx, srv, n):
    """Events/s of loadgen bus-e2e on a fresh subscription to bench.#; the
    subscription is dropped afterwards so the next round does not feed it."""
    _round[0] += 1
    key = b"e2e%d" % _round[0]
    c = Conn(srv.host, srv.port)
    c.cmd(b"EV.SUB", key, b"bench.#", b"FROM", b"NOW")
    try:
        res = ctx.loadgen("bus-e2e", srv, key=key.decode(), type="bench.created",
                          publishers=PUBLISHERS, clients=CONSUMERS, count=n,
                          pipeline=WINDOW, payload=len(PAYLOAD), seconds=E2E_LIMIT)
    finally:
        c.cmd(b"EV.UNSUB", key)
        c.close()
    if res["ops"] < n:
        raise RuntimeError("tincan bus-e2e consumed %d events of %d" % (res["ops"], n))
    return res["ops_per_s"]


def e2e_rabbitmq(ctx, mq, n, queue_type):
    """Events/s of amqpload on a fresh durable queue of queue_type."""
    from bench import BUILD
    _round[0] += 1
    out = ctx.run_cmd([str(BUILD / "bench" / "amqpload"), "--host", mq.host,
                       "--port", str(mq.port), "--publishers", str(PUBLISHERS),
                       "--consumers", str(CONSUMERS), "--events", str(n),
                       "--size", str(len(PAYLOAD)), "--window", str(WINDOW),
                       "--prefetch", "100", "--queue", "bench.q%d" % _round[0],
                       "--queue-type", queue_type, "--timeout", str(E2E_LIMIT)],
                      timeout=E2E_LIMIT + 30)
    res = json.loads(out.strip().splitlines()[-1])
    if res["consumed"] < n or res["published"] < n:
        raise RuntimeError("amqpload: %d published, %d consumed of %d" % (
            res["published"], res["consumed"], n))
    return res["events_per_s"]


def e2e_rows(ctx, n):
    """Row 3: tincan vs RabbitMQ end to end (an error row if RabbitMQ cannot
    be measured, so that the other rows of the section stay)."""
    from bench import Row, fmt_num
    name = "publish+consume+ack e2e, persistent, %d publishers / %d consumers" % (
        PUBLISHERS, CONSUMERS)
    version = package_version("rabbitmq-server")
    peer = "RabbitMQ %s quorum queue, rabbitmq-c" % version
    command = ("%d events of %d B: loadgen bus-e2e --publishers %d --clients %d "
               "--pipeline %d (tincan --fsync always, EV.SUB bench.#) vs amqpload "
               "--publishers %d --consumers %d --window %d --prefetch 100 "
               "--queue-type quorum" % (n, len(PAYLOAD), PUBLISHERS, CONSUMERS, WINDOW,
                                        PUBLISHERS, CONSUMERS, WINDOW))
    try:
        with ctx.tincan(args=TINCAN_ARGS) as t, rabbitmq(ctx) as mq:
            row = ctx.compare(
                name, tincan=lambda: e2e_tincan(ctx, t, n),
                peer=lambda: e2e_rabbitmq(ctx, mq, n, "quorum"),
                peer_name=peer, target=5.0, unit="events/s", command=command)
            classic = [e2e_rabbitmq(ctx, mq, n, "classic") for _ in range(ctx.rounds)]
            _, beam_peak = rss_mib(mq.beam) if mq.beam else (None, None)
            _, tincan_peak = rss_mib(t.pid)
    except Exception as e:  # reported in the row, the section goes on
        msg = " ".join(str(e).split())[:300]
        print("  %-44s error: %s" % (name, msg), flush=True)
        return [Row(name=name, command=command, tincan=[], peer=[], peer_name=peer,
                    unit="events/s", target=5.0, error="error: " + msg)]
    row.notes = ("RabbitMQ node ready (AMQP answering) %.1f s after start; peak RSS "
                 "beam.smp %s MiB, tincan-server %s MiB" % (
                     mq.start_s, "%.0f" % beam_peak if beam_peak else "?",
                     "%.0f" % tincan_peak if tincan_peak else "?"))
    classic_row = Row(
        name=name + ", vs a classic queue", command=command.replace(
            "--queue-type quorum", "--queue-type classic") + " (tincan figures of the row above)",
        tincan=row.tincan, peer=classic, unit="events/s",
        peer_name="RabbitMQ %s classic durable queue, rabbitmq-c" % version)
    print("  %-44s tincan %s  classic queue %s" % (
        "(same, vs a classic queue)", fmt_num(classic_row.tincan_median),
        fmt_num(classic_row.peer_median)), flush=True)
    return [row, classic_row]


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
            unit="ms", higher_is_better=False))
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
    rows += e2e_rows(ctx, n)
    return rows
