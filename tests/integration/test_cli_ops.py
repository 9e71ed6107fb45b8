"""`tincan tail`, `tincan pub` and `tincan top` (issue 15) against a real
server: tail follows events published after it starts, in order, in each
format, stops at --count, removes its ephemeral subscription on SIGINT and
SIGTERM, filters by pattern and flushes each line at once; pub stores an
argument, stdin, or one event per line, with headers and key, and exits 1
with the server's error when a contract refuses; top --once prints the
numbers the server holds; an unreachable server and authentication failures
exit 1 with a message; auth works from -a and both environment variables.

The CLI binary: $TINCAN_CLI, else $BUILD/tincan, else build/tincan. A
sanitizer report in its stderr fails the test. Every wait is bounded.
"""

import base64
import json
import os
import re
import select
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from conftest import REPO, SANITIZER_MARKERS, call, wait_until

CLI_TIMEOUT = 60  # s, for any one CLI run
TEXT_RE = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z) @(\d+) (\S+) (.*)$")


def cli_bin():
    if os.environ.get("TINCAN_CLI"):
        return Path(os.environ["TINCAN_CLI"]).resolve()
    if os.environ.get("BUILD"):
        return (REPO / os.environ["BUILD"] / "tincan").resolve()
    return REPO / "build" / "tincan"


def cli_env(**extra):
    env = {k: v for k, v in os.environ.items()
           if k not in ("TINCAN_PASSWORD", "REDISCLI_AUTH")}
    env.setdefault("ASAN_OPTIONS", "abort_on_error=0:halt_on_error=1:detect_leaks=1")
    env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
    env.update(extra)
    return env


def no_sanitizer_report(err):
    for m in SANITIZER_MARKERS:
        assert m not in err, "sanitizer report from the CLI:\n%s" % err


def run_cli(server, *args, stdin=b"", env=None, connect=True, timeout=CLI_TIMEOUT):
    """Runs `tincan ARGS` (with -p PORT when connect) -> (status, stdout, stderr)."""
    argv = [str(cli_bin())] + [str(a) for a in args]
    if connect:
        argv += ["-p", str(server.port)]
    p = subprocess.run(argv, input=stdin, capture_output=True, timeout=timeout,
                       env=env or cli_env())
    err = p.stderr.decode(errors="replace")
    no_sanitizer_report(err)
    return p.returncode, p.stdout, err


def subs(r):
    """EV.SUBS as {name: record dict}."""
    out = {}
    for rec in call(r, "EV.SUBS"):
        d = dict(zip(rec[::2], rec[1::2]))
        out[d["name"]] = d
    return out


def unsub_calls(r):
    """How many EV.UNSUB the server ran (INFO commandstats)."""
    stat = r.info("commandstats").get("cmdstat_ev.unsub")
    return stat["calls"] if stat else 0


def tail_subs(r):
    return {n: d for n, d in subs(r).items() if n.startswith("tail-")}


class Tail:
    """A running `tincan tail`: lines(n) reads n stdout lines (bounded),
    stop(sig) signals it and returns its exit status."""

    def __init__(self, server, *args, env=None):
        self.server = server
        argv = [str(cli_bin()), "tail"] + [str(a) for a in args] + \
            ["-p", str(server.port)]
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     env=env or cli_env())
        self.buf = b""
        self.err = b""

    def wait_subscribed(self, r, before=()):
        """Waits until its subscription exists; returns its name."""
        def new():
            if self.proc.poll() is not None:
                pytest.fail("tail exited early (%s): %s"
                            % (self.proc.returncode, self.stderr()))
            names = [n for n in tail_subs(r) if n not in before]
            return names[0] if names else None
        return wait_until(new, timeout=15, what="tail's subscription")

    def lines(self, n, timeout=15):
        deadline = time.monotonic() + timeout
        while self.buf.count(b"\n") < n:
            left = deadline - time.monotonic()
            if left <= 0:
                pytest.fail("tail printed %d of %d lines within %d s: %r (stderr %s)"
                            % (self.buf.count(b"\n"), n, timeout, self.buf,
                               self.stderr()))
            ready, _, _ = select.select([self.proc.stdout], [], [], left)
            if ready:
                chunk = os.read(self.proc.stdout.fileno(), 65536)
                if not chunk:
                    pytest.fail("tail closed stdout after %r (status %s, stderr %s)"
                                % (self.buf, self.proc.poll(), self.stderr()))
                self.buf += chunk
        out = self.buf.split(b"\n")
        self.buf = b"\n".join(out[n:])
        return out[:n]

    def wait(self, timeout=15):
        try:
            out, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.communicate()
            pytest.fail("tail did not exit within %d s" % timeout)
        self.buf += out
        self.err += err
        no_sanitizer_report(self.stderr())
        return self.proc.returncode

    def stop(self, sig=signal.SIGINT):
        self.proc.send_signal(sig)
        return self.wait()

    def stderr(self):
        return self.err.decode(errors="replace")

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.communicate()


@pytest.fixture
def tails():
    made = []

    def start(server, *args, **kw):
        t = Tail(server, *args, **kw)
        made.append(t)
        return t

    yield start
    for t in made:
        t.close()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# ------------------------------------------------------------------ tail


def test_tail_follows_events_published_after_it_starts_in_order(server, tails):
    r = server.client()
    old = call(r, "EV.PUB", "order.created", "before")
    t = tails(server, "order.#", "--count", "5")
    t.wait_subscribed(r)
    pos = [call(r, "EV.PUB", "order.created", "o%d" % i) for i in range(5)]
    lines = [l.decode() for l in t.lines(5)]
    assert t.wait() == 0
    got = [TEXT_RE.match(l) for l in lines]
    assert all(got), lines
    assert [int(m.group(2)) for m in got] == pos
    assert old not in [int(m.group(2)) for m in got]
    assert [m.group(3) for m in got] == ["order.created"] * 5
    assert [m.group(4) for m in got] == ["o%d" % i for i in range(5)]
    # the time printed is the event's time
    ev = call(r, "EV.GET", pos[0])
    ms = dict(zip(ev[::2], ev[1::2]))["time"]
    assert got[0].group(1) == time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) \
        + ".%03dZ" % (ms % 1000)
    assert tail_subs(r) == {}


def test_tail_prints_each_line_at_once(server, tails):
    r = server.client()
    t = tails(server, "#")
    t.wait_subscribed(r)
    for i in range(3):  # each line arrives before the next event exists
        p = call(r, "EV.PUB", "a.b", "x%d" % i)
        (line,) = t.lines(1)
        assert line.decode().endswith("@%d a.b x%d" % (p, i))
    assert t.stop() == 0


def test_tail_text_escapes_nonprintable_bytes(server, tails):
    r = server.client(decode_responses=False)
    t = tails(server, "bin", "--count", "1")
    t.wait_subscribed(server.client())
    call(r, "EV.PUB", "bin", b"a\nb\\c\t\x01\xff caf\xc3\xa9")
    (line,) = t.lines(1)
    assert t.wait() == 0
    assert line.endswith(b" bin a\\nb\\\\c\\t\\x01\\xff caf\xc3\xa9")


def test_tail_json_format(server, tails):
    r = server.client(decode_responses=False)
    t = tails(server, "j.*", "--format", "json", "--count", "2")
    t.wait_subscribed(server.client())
    p1 = call(r, "EV.PUB", "j.text", '{"k": "é"}', "KEY", "cust-1", "HDR", "trace", "t1")
    p2 = call(r, "EV.PUB", "j.bin", b"\x00\xff\xfe")
    objs = [json.loads(l) for l in t.lines(2)]
    assert t.wait() == 0
    a, b = objs
    assert a["position"] == p1 and a["type"] == "j.text" and a["kind"] == "event"
    assert a["payload"] == '{"k": "é"}' and "payload_base64" not in a
    assert a["key"] == "cust-1" and a["headers"] == {"trace": "t1"}
    assert a["id"] == "tc-%d" % p1 and a["deliveries"] == 1
    assert isinstance(a["time"], int) and a["entry_id"].startswith(str(a["time"]))
    assert b["position"] == p2 and b["key"] is None and b["headers"] == {}
    assert "payload" not in b
    assert base64.b64decode(b["payload_base64"]) == b"\x00\xff\xfe"


def test_tail_raw_format(server, tails):
    r = server.client(decode_responses=False)
    for i in range(3):
        call(r, "EV.PUB", "raw.t", b"payload-%d" % i)
    t = tails(server, "raw.t", "--format", "raw", "--from", "beginning", "--count", "3")
    lines = t.lines(3)
    assert t.wait() == 0
    assert lines == [b"payload-0", b"payload-1", b"payload-2"]
    assert t.buf == b""


def test_tail_count_stops_it_with_more_events_waiting(server, tails):
    r = server.client()
    for i in range(10):
        call(r, "EV.PUB", "c.t", "e%d" % i)
    t = tails(server, "c.t", "--from", "beginning", "--count", "4")
    assert t.wait() == 0
    lines = t.buf.decode().splitlines()
    assert [l.split()[-1] for l in lines] == ["e0", "e1", "e2", "e3"]
    assert tail_subs(r) == {}
    assert unsub_calls(r) == 1


def test_tail_from_position_and_time(server, tails):
    r = server.client()
    pos = [call(r, "EV.PUB", "f.t", "e%d" % i) for i in range(5)]
    t = tails(server, "f.t", "--from", "@%d" % pos[3], "--count", "2")
    assert t.wait() == 0
    assert [int(TEXT_RE.match(l).group(2)) for l in t.buf.decode().splitlines()] == pos[3:]
    ev = call(r, "EV.GET", pos[2])
    ms = dict(zip(ev[::2], ev[1::2]))["time"]
    t = tails(server, "f.t", "--from", str(ms), "--count", "1")
    assert t.wait() == 0
    # the first event with time >= ms (events may share a millisecond)
    first = int(TEXT_RE.match(t.buf.decode().splitlines()[0]).group(2))
    assert first <= pos[2] and first in pos


def test_tail_acks_what_it_printed(server, tails):
    r = server.client()
    t = tails(server, "ack.t")
    name = t.wait_subscribed(r)
    for i in range(3):
        call(r, "EV.PUB", "ack.t", "e%d" % i)
    t.lines(3)
    wait_until(lambda: subs(r)[name]["pending"] == 0, timeout=10,
               what="tail's acks")
    assert subs(r)[name]["delivered"] == 0
    assert t.stop() == 0


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_tail_signal_removes_its_subscription(server, tails, sig):
    r = server.client()
    call(r, "EV.SUB", "keep", "#")  # someone else's subscription stays
    t = tails(server, "x.#")
    name = t.wait_subscribed(r)
    assert subs(r)[name]["durable"] in (0, "0", False)
    assert subs(r)[name]["blocked"] == 1  # waiting in EV.READ ... BLOCK
    assert t.stop(sig) == 0
    assert list(subs(r)) == ["keep"]
    # removed by tail's own EV.UNSUB, not only by its connection closing
    assert unsub_calls(r) == 1
    assert "Traceback" not in t.stderr() and t.stderr() == ""


def test_tail_into_a_closed_pipe_exits_0_and_unsubscribes(server):
    r = server.client()
    for i in range(50):
        call(r, "EV.PUB", "pipe.t", "e%d" % i)
    rd, wr = os.pipe()
    proc = subprocess.Popen([str(cli_bin()), "tail", "pipe.t", "--from", "beginning",
                             "-p", str(server.port)], stdin=subprocess.DEVNULL,
                            stdout=wr, stderr=subprocess.PIPE, env=cli_env())
    os.close(wr)
    try:
        with os.fdopen(rd, "rb") as f:
            assert f.readline().endswith(b" pipe.t e0\n")
        # the reader is gone: the next line tail writes fails with EPIPE
        for i in range(50):
            call(r, "EV.PUB", "pipe.t", "more%d" % i)
        _, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    no_sanitizer_report(err.decode())
    assert tail_subs(r) == {}
    assert unsub_calls(r) == 1


def test_two_tails_get_unique_subscriptions_and_both_see_every_event(server, tails):
    r = server.client()
    a = tails(server, "u.t", "--count", "2")
    na = a.wait_subscribed(r)
    b = tails(server, "u.t", "--count", "2")
    nb = b.wait_subscribed(r, before=[na])
    assert na != nb
    pos = [call(r, "EV.PUB", "u.t", "e%d" % i) for i in range(2)]
    for t in (a, b):
        assert [int(TEXT_RE.match(l.decode()).group(2)) for l in t.lines(2)] == pos
        assert t.wait() == 0
    assert tail_subs(r) == {}


def test_tail_pattern_filtering(server, tails):
    r = server.client()
    t = tails(server, "order.*", "pay.#", "--count", "4")
    t.wait_subscribed(r)
    types = ["order.created", "other.x", "pay", "order.a.b", "pay.a.b",
             "orders.created", "order.paid"]
    for ty in types:
        call(r, "EV.PUB", ty, ty)
    got = [TEXT_RE.match(l.decode()).group(3) for l in t.lines(4)]
    assert t.wait() == 0
    assert got == ["order.created", "pay", "pay.a.b", "order.paid"]


def test_tail_server_gone_exits_1(tincan, tails):
    s = tincan()
    r = s.client()
    t = tails(s, "#")
    t.wait_subscribed(r)
    s.stop()
    assert t.wait() == 1
    assert "connection to 127.0.0.1:%d lost" % s.port in t.stderr()
    assert "cannot connect" not in t.stderr()  # no unsubscribe attempt after


def test_tail_bad_pattern_is_refused(server):
    rc, out, err = run_cli(server, "tail", "a..b")
    assert rc == 1 and out == b""
    assert "EV.SUB refused" in err and "invalid pattern" in err
    assert tail_subs(server.client()) == {}


def test_tail_usage_errors(server):
    for args in (["tail"], ["tail", "a", "--format", "xml"], ["tail", "a", "--count", "0"],
                 ["tail", "a", "--from", "yesterday"], ["tail", "a", "--bogus"],
                 ["tail", "a", "--count"]):
        rc, out, err = run_cli(server, *args, connect=False)
        assert rc == 2, (args, err)
        assert "tincan tail:" in err and "--help" in err
    rc, out, err = run_cli(server, "tail", "--help", connect=False)
    assert rc == 0 and b"--format" in out and b"-p, --port" in out


# ------------------------------------------------------------------ pub


def fields(rec):
    return dict(zip(rec[::2], rec[1::2]))


def test_pub_argument_stores_the_event(server):
    rc, out, err = run_cli(server, "pub", "order.created", '{"id": 1}',
                           "-H", "trace=abc", "-H", "src=cli", "--key", "k1")
    assert rc == 0, err
    pos = int(out)
    ev = fields(call(server.client(), "EV.GET", pos))
    assert ev["type"] == "order.created" and ev["payload"] == '{"id": 1}'
    assert ev["key"] == "k1"
    assert fields(ev["headers"]) == {"trace": "abc", "src": "cli"}


def test_pub_stdin_whole_keeps_bytes(server):
    data = b"line1\nline2\n\x00\xff"
    for args in (["pub", "blob"], ["pub", "blob", "-"]):
        rc, out, err = run_cli(server, *args, stdin=data)
        assert rc == 0, err
        ev = fields(call(server.client(decode_responses=False), "EV.GET", int(out)))
        assert ev[b"payload"] == data


def test_pub_lines_one_event_per_line(server):
    lines = ["e%d" % i for i in range(600)]  # more than one pipeline window
    stdin = ("\n".join(lines[:300]) + "\n\n" + "\n".join(lines[300:])).encode()
    rc, out, err = run_cli(server, "pub", "many.t", "--lines", stdin=stdin)
    assert rc == 0, err
    pos = [int(x) for x in out.split()]
    assert len(pos) == 600 and pos == sorted(pos)
    r = server.client()
    got = call(r, "EV.RANGE", "many.t", "COUNT", "1000", "FIELDS", "position,payload")
    assert [fields(e)["payload"] for e in got] == lines
    assert [fields(e)["position"] for e in got] == pos


def test_pub_id_is_idempotent(server):
    rc1, out1, _ = run_cli(server, "pub", "once.t", "x", "--id", "req-1")
    rc2, out2, _ = run_cli(server, "pub", "once.t", "y", "--id", "req-1")
    assert rc1 == rc2 == 0 and out1 == out2
    assert len(call(server.client(), "EV.RANGE", "once.t")) == 1


def test_pub_schema_refusal_exits_1(server):
    r = server.client()
    schema = '{"type": "object", "required": ["qty"], "properties": {"qty": {"type": "integer"}}}'
    assert call(r, "EV.TYPE", "SET", "order.placed", "SCHEMA", "json", schema) == "OK"
    rc, out, err = run_cli(server, "pub", "order.placed", '{"qty": "x"}')
    assert rc == 1 and out == b""
    assert "INVALID order.placed" in err
    rc, out, err = run_cli(server, "pub", "order.placed", "--lines",
                           stdin=b'{"qty": 1}\n{"qty": "no"}\n{"qty": 3}\n')
    assert rc == 1
    assert len(out.split()) == 2  # the two good lines were stored
    assert "line 2: INVALID" in err
    assert len(call(r, "EV.RANGE", "order.placed")) == 2


def test_pub_owner_refusal_and_name(server):
    r = server.client()
    assert call(r, "EV.TYPE", "SET", "shop.sold", "OWNER", "shop") == "OK"
    rc, out, err = run_cli(server, "pub", "shop.sold", "x")
    assert rc == 1 and "NOPERM" in err
    rc, out, err = run_cli(server, "pub", "shop.sold", "x", "--name", "billing")
    assert rc == 1 and "this client is 'billing'" in err
    rc, out, err = run_cli(server, "pub", "shop.sold", "x", "--name", "shop")
    assert rc == 0, err
    assert fields(call(r, "EV.GET", int(out)))["payload"] == "x"


def test_pub_payload_limits(server):
    rc, out, err = run_cli(server, "pub", "big.t", stdin=b"x" * (2 << 20))
    assert rc == 1 and out == b""
    assert "exceeds max-payload 1048576" in err
    rc, out, err = run_cli(server, "pub", "big.t", stdin=b"x" * ((64 << 20) + 1))
    assert rc == 1 and out == b""
    assert "over 64 MiB" in err
    assert call(server.client(), "EV.RANGE", "big.t") == []


def test_pub_bad_type_and_usage(server):
    rc, out, err = run_cli(server, "pub", "a..b", "x")
    assert rc == 1 and "invalid event type" in err
    for args in (["pub"], ["pub", "t", "x", "y"], ["pub", "t", "-H", "novalue"],
                 ["pub", "t", "x", "--lines"], ["pub", "t", "--nope"]):
        rc, out, err = run_cli(server, *args, connect=False)
        assert rc == 2, (args, err)
    rc, out, err = run_cli(server, "pub", "--help", connect=False)
    assert rc == 0 and b"--lines" in out


# ------------------------------------------------------------------ top


def top_rows(text, section):
    """{name: [columns]} of a section of a top frame."""
    rows, inside = {}, False
    for line in text.splitlines():
        if line.startswith(section + " "):
            inside = True
            continue
        if inside and not line.startswith("  "):
            break
        if inside:
            cols = line.split()
            rows[cols[0]] = cols[1:]
    rows.pop({"TYPES": "type"}.get(section, "name"), None)
    return rows


def test_top_once_shows_the_server_state(server):
    r = server.client()
    for i in range(5):
        call(r, "EV.PUB", "order.created", "o%d" % i)
    call(r, "EV.PUB", "user.signup", "u")
    call(r, "EV.SUB", "billing", "order.#", "MAXDELIVER", "1", "FROM", "BEGINNING")
    got = call(r, "EV.READ", "billing", "c1", "COUNT", "2")
    assert call(r, "EV.NACK", "billing", fields(got[0])["position"]) == "dead"
    for i in range(3):
        call(r, "EV.PUB", "order.created", "late%d" % i)
    for i in range(3):
        call(r, "Q.PUSH", "emails", "job%d" % i)
    call(r, "Q.PUSH", "sms", "j", "DELAY", "600000")
    assert call(r, "LOCK.ACQUIRE", "cron", "w1", "60000") > 0
    call(r, "RING.JOIN", "api", "127.0.0.1:1")
    rc, out, err = run_cli(server, "top", "--once", "--interval", "100")
    assert rc == 0, err
    text = out.decode()
    assert "\x1b" not in text
    head = text.splitlines()[0]
    assert "events 9" in head and "head @9" in head
    assert re.search(r"clients \d+", head)
    types = top_rows(text, "TYPES")
    assert types["order.created"][1] == "8" and types["user.signup"][1] == "1"
    sub = top_rows(text, "SUBSCRIPTIONS")["billing"]
    # held, ready, dead, lag (stored positions after the cursor, which the
    # read of two left at position 2), consumers
    assert sub == ["1", "0", "1", "7", "1"]
    info = subs(r)["billing"]
    assert sub[:4] == [str(info[k]) for k in ("delivered", "waiting", "dead", "lag")]
    queues = top_rows(text, "QUEUES")
    assert queues["emails"][:4] == ["3", "0", "0", "0"]
    assert queues["sms"][:4] == ["0", "0", "1", "0"]
    lock = top_rows(text, "LOCKS")["cron"]
    assert lock[0] == "w1" and lock[2] == "0"
    assert top_rows(text, "RINGS")["api"][0] == "1"


def test_top_once_publish_rate(server):
    r = server.client()
    call(r, "EV.PUB", "idle.t", "x")
    stop = threading.Event()

    def publish():
        c = server.client()
        for i in range(5000):  # bounded in count and time
            if stop.is_set():
                break
            call(c, "EV.PUB", "busy.t", "e%d" % i)

    th = threading.Thread(target=publish)
    th.start()
    try:
        rc, out, err = run_cli(server, "top", "--once", "--interval", "500")
    finally:
        stop.set()
        th.join(30)
    assert rc == 0, err
    text = out.decode()
    types = top_rows(text, "TYPES")
    assert float(types["busy.t"][0]) > 0
    assert float(types["idle.t"][0]) == 0
    assert float(re.search(r"publish ([\d.]+)/s", text).group(1)) > 0


def test_top_refreshes_and_quits_on_signal(server):
    proc = subprocess.Popen([str(cli_bin()), "top", "--interval", "50", "-p",
                             str(server.port)], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=cli_env())
    try:
        buf, deadline = b"", time.monotonic() + 15
        while buf.count(b"\x1b[H\x1b[2J") < 2 and time.monotonic() < deadline:
            ready, _, _ = select.select([proc.stdout], [], [], 1)
            if ready:
                buf += os.read(proc.stdout.fileno(), 65536)
        assert buf.count(b"\x1b[H\x1b[2J") >= 2  # at least two frames
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0
    no_sanitizer_report(err.decode())


def test_top_on_a_terminal_quits_on_q_and_restores_it(server):
    import pty
    import termios
    master, slave = pty.openpty()
    before = termios.tcgetattr(slave)
    proc = subprocess.Popen([str(cli_bin()), "top", "--interval", "50", "-p",
                             str(server.port)], stdin=slave, stdout=slave,
                            stderr=subprocess.PIPE, env=cli_env())
    try:
        buf, deadline = b"", time.monotonic() + 15
        while b"SUBSCRIPTIONS" not in buf and time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 1)
            if ready:
                buf += os.read(master, 65536)
        assert b"\x1b[H\x1b[2J" in buf and b"\x1b[?25l" in buf
        # the keyboard is in non-canonical mode while top runs
        assert not termios.tcgetattr(slave)[3] & termios.ICANON
        os.write(master, b"q")
        _, err = proc.communicate(timeout=15)
        while select.select([master], [], [], 0.2)[0]:
            buf += os.read(master, 65536)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        after = termios.tcgetattr(slave)
        os.close(master)
        os.close(slave)
    assert proc.returncode == 0
    no_sanitizer_report(err.decode())
    assert after[3] == before[3]  # local modes (ICANON, ECHO) restored
    assert buf.endswith(b"\x1b[?25h")  # the cursor shown again


def test_top_usage(server):
    for args in (["top", "--interval", "5"], ["top", "extra"], ["top", "--interval"]):
        rc, out, err = run_cli(server, *args, connect=False)
        assert rc == 2, (args, err)
    rc, out, err = run_cli(server, "top", "--help", connect=False)
    assert rc == 0 and b"--once" in out


# ------------------------------------------------- unreachable and auth


@pytest.mark.parametrize("cmd", [["tail", "#"], ["pub", "a", "x"], ["top", "--once"]])
def test_unreachable_server_exits_1(server, cmd):
    port = free_port()
    rc, out, err = run_cli(server, *cmd, "-p", port, connect=False)
    assert rc == 1 and out == b""
    assert "cannot connect to 127.0.0.1:%d" % port in err


@pytest.mark.parametrize("cmd", [["tail", "#", "--count", "1"], ["pub", "a", "x"],
                                 ["top", "--once", "--interval", "10"]])
def test_auth(tincan, cmd):
    s = tincan("--requirepass", "s3cret")
    rc, out, err = run_cli(s, *cmd)
    assert rc == 1 and "NOAUTH" in err
    rc, out, err = run_cli(s, *cmd, "-a", "wrong")
    assert rc == 1 and "AUTH refused" in err and "WRONGPASS" in err
    if cmd[0] == "tail":
        r = s.client(password="s3cret")
        r.execute_command("EV.PUB", "a", "before")
        cmd = ["tail", "#", "--count", "1", "--from", "beginning"]
    for how in ("-a", "TINCAN_PASSWORD", "REDISCLI_AUTH"):
        if how == "-a":
            rc, out, err = run_cli(s, *cmd, "-a", "s3cret")
        else:
            rc, out, err = run_cli(s, *cmd, env=cli_env(**{how: "s3cret"}))
        assert rc == 0, (how, err)
        assert out
