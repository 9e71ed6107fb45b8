"""Request/reply (issue 16): RPC.CALL, RPC.SERVE, RPC.REPLY, RPC.FAIL, RPC.CAST and
RPC.INFO through redis-py and raw sockets against the real server.

What is proved here, each by its real outcome at a client:
  - a call reaches a server with its payload, headers (in order), deadline_ms and
    delivery, and the caller gets the server's answer or its RPC.FAIL error, in
    RESP2 and RESP3 shapes;
  - NOSERVER at once without a server; TIMEOUT at the deadline whether or not a
    server holds the call; 1 ms deadlines under load never hang and never hand
    out an expired call;
  - calls spread over every server; 16 callers and 4 servers get every answer
    matched to its own call;
  - a server process killed (SIGKILL) while it holds a call: the call is offered
    to another server with delivery 2 (each server at most once), or times out;
  - a caller that leaves: its call is never handed out, a late answer is told so;
  - every RPC.REPLY/RPC.FAIL error, the limits, and that after all the bad input
    the server's client, blocked and rpc counts are back to their baseline;
  - RPC.CAST is Q.PUSH on rpc:<service> (durable across kill -9);
  - RPC.INFO, INFO rpc and the /metrics families; RPC.CALL inside MULTI.

Server loops that must die for real are /usr/bin/python3 subprocesses (Holder);
the others are threads with a connection each (EchoServer). Every wait has a
timeout; no test takes more than a few seconds.
"""

import json
import queue
import signal
import subprocess
import sys
import threading
import time

import pytest
import redis

from conftest import RawConn, call, resp_encode, wait_until
from metrics_helpers import http_get, parse_exposition
from test_http import http_server

WAIT = 5.0  # s, the longest any single step may wait


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------

def rec(r):
    """A record reply (RESP3 map or RESP2 flat array) as a dict."""
    if isinstance(r, dict):
        return dict(r)
    return dict(zip(r[::2], r[1::2]))


def pairs(h):
    """Headers (RESP3 map or RESP2 flat array) as a list of (field, value)."""
    if isinstance(h, dict):
        return list(h.items())
    return list(zip(h[::2], h[1::2]))


def serve(r, *args):
    """RPC.SERVE through redis-py: a list of call records as dicts."""
    return [rec(x) for x in r.execute_command("RPC.SERVE", *args)]


def serve1(r, *args):
    got = serve(r, *args)
    assert len(got) == 1, got
    return got[0]


def rpc_info(r, service=None):
    """RPC.INFO as a dict (one service) or a list of dicts (all)."""
    if service is not None:
        d = rec(r.execute_command("RPC.INFO", service))
        d["server_list"] = [rec(s) for s in d["server_list"]]
        return d
    out = [rec(x) for x in r.execute_command("RPC.INFO")]
    for d in out:
        d["server_list"] = [rec(s) for s in d["server_list"]]
    return out


def info_or_none(r, service):
    try:
        return rpc_info(r, service)
    except redis.ResponseError:
        return None


def err_of(r, *args):
    """The error text redis-py gives for a command that must fail."""
    with pytest.raises(redis.ResponseError) as e:
        r.execute_command(*args)
    return str(e.value)


def bulk(raw):
    """The payload of a raw RESP bulk string reply."""
    assert raw.startswith(b"$"), raw[:200]
    head, _, rest = raw.partition(b"\r\n")
    n = int(head[1:])
    assert rest[n:] == b"\r\n"
    return rest[:n]


def hang_up(r):
    """Closes every connection of a redis.Redis (Redis.close() only returns
    them to its pool)."""
    r.connection_pool.disconnect()


def send_call(server, service, payload, *opts, timeout=WAIT):
    """A caller on a raw connection: RPC.CALL is sent, the reply is read later
    with .read_reply(). Returns the RawConn."""
    c = server.raw(timeout=timeout)
    c.send(resp_encode("RPC.CALL", service, payload, *opts))
    return c


def register(r, *services):
    """Makes r a server of the services (RPC.SERVE without BLOCK)."""
    assert r.execute_command("RPC.SERVE", *services) == []


def wait_waiting_servers(r, service, n):
    wait_until(lambda: (info_or_none(r, service) or {}).get("waiting_servers") == n,
               timeout=WAIT, what="%d servers parked in RPC.SERVE %s" % (n, service))


def wait_waiting_calls(r, service, n):
    wait_until(lambda: (info_or_none(r, service) or {}).get("waiting_calls") == n,
               timeout=WAIT, what="%d calls queued for %s" % (n, service))


class EchoServer(threading.Thread):
    """A server loop on a connection of its own: RPC.SERVE ... BLOCK, then for
    each call RPC.REPLY 're:' + payload (after `delay` s). Keeps every record it
    got, how many REPLYs got +OK and the error texts of those that did not."""

    def __init__(self, server, service, stop, delay=0.0, count=1, block=100):
        super().__init__(daemon=True)
        self.r = server.client()
        self.client_id = self.r.client_id()
        self.service, self.stop, self.delay = service, stop, delay
        self.count, self.block = count, block
        self.records, self.ok, self.refused, self.errors = [], 0, [], []

    def run(self):
        try:
            while not self.stop.is_set():
                for c in serve(self.r, self.service, "COUNT", self.count,
                               "BLOCK", self.block):
                    self.records.append(c)
                    if self.delay:
                        time.sleep(self.delay)
                    try:
                        assert self.r.execute_command(
                            "RPC.REPLY", c["id"], "re:" + c["payload"]) == "OK"
                        self.ok += 1
                    except redis.ResponseError as e:
                        self.refused.append(str(e))
        except Exception as e:  # reported by the test, never swallowed
            self.errors.append(repr(e))


def start_servers(server, service, n, stop, **kw):
    servers = [EchoServer(server, service, stop, **kw) for _ in range(n)]
    for s in servers:
        s.start()
    watcher = server.client()
    wait_waiting_servers(watcher, service, n)
    hang_up(watcher)
    return servers


def join_all(threads, timeout=30.0):
    deadline = time.monotonic() + timeout
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
        assert not t.is_alive(), "thread %r still running after %.0f s" % (t, timeout)


HOLDER_CODE = r'''
import json, sys, time
import redis
r = redis.Redis(host=sys.argv[1], port=int(sys.argv[2]), decode_responses=True)
echo_after = float(sys.argv[4])  # s; < 0: never answer
print(json.dumps({"client_id": r.client_id()}), flush=True)
while True:
    for c in r.execute_command("RPC.SERVE", sys.argv[3], "BLOCK", 0):
        print(json.dumps(dict(zip(c[::2], c[1::2]))), flush=True)
        if echo_after >= 0:
            time.sleep(echo_after)
            try:
                r.execute_command("RPC.REPLY", c[1], "re:" + c[5])
            except redis.ResponseError:
                pass
'''


class Holder:
    """A server loop in its own /usr/bin/python3 process that takes calls and
    never answers (or, with echo_after s >= 0, answers 're:' + payload that
    long after taking a call); it prints each record it gets as a JSON line.
    .kill() is a real SIGKILL of that process."""

    def __init__(self, server, service, echo_after=-1.0):
        self.proc = subprocess.Popen(
            [sys.executable, "-c", HOLDER_CODE, server.host, str(server.port), service,
             str(echo_after)],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.lines = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.client_id = self.next(WAIT)["client_id"]
        self.seen = []

    def _read(self):
        for line in self.proc.stdout:
            self.lines.put(json.loads(line))

    def next(self, timeout=WAIT):
        try:
            return self.lines.get(timeout=timeout)
        except queue.Empty:
            pytest.fail("holder pid %d printed nothing within %.1f s (stderr: %r)"
                        % (self.proc.pid, timeout, self.proc.stderr.read1(4000)
                           if self.proc.poll() is not None else b"(running)"))

    def take(self, timeout=WAIT):
        c = self.next(timeout)
        self.seen.append(c["id"])
        return c

    def kill(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(WAIT)


@pytest.fixture
def holders():
    made = []

    def factory(server, service, echo_after=-1.0):
        h = Holder(server, service, echo_after)
        made.append(h)
        return h

    yield factory
    for h in made:
        h.kill()
        h.proc.stdout.close()
        h.proc.stderr.close()


def baseline(r):
    """The counts that must come back after a test's clients are gone."""
    c, rp = r.info("clients"), r.info("rpc")
    return {"connected_clients": c["connected_clients"],
            "blocked_clients": c["blocked_clients"],
            "rpc_servers": rp["rpc_servers"], "rpc_waiting_calls": rp["rpc_waiting_calls"],
            "rpc_in_flight": rp["rpc_in_flight"]}


# ---------------------------------------------------------------------------
# call, serve, reply, fail
# ---------------------------------------------------------------------------

def test_call_serve_reply(server):
    s = server.client()
    register(s, "greet")
    caller = send_call(server, "greet", "ada", "TIMEOUT", 3000)
    c = serve1(s, "greet", "BLOCK", 2000)
    assert list(c) == ["id", "service", "payload", "headers", "deadline_ms", "delivery"]
    assert c["service"] == "greet" and c["payload"] == "ada" and c["headers"] == []
    assert 2000 <= c["deadline_ms"] <= 3000 and c["delivery"] == 1
    assert s.execute_command("RPC.REPLY", c["id"], "hello, ada") == "OK"
    assert caller.read_reply() == b"$10\r\nhello, ada\r\n"
    # the same connection calls again: a new id
    caller.send(resp_encode("RPC.CALL", "greet", "bob"))
    c2 = serve1(s, "greet", "BLOCK", 2000)
    assert c2["id"] != c["id"] and c2["payload"] == "bob"
    assert s.execute_command("RPC.REPLY", c2["id"], "") == "OK"
    assert caller.read_reply() == b"$0\r\n\r\n"


def test_binary_payloads_both_ways(server):
    s = server.client(decode_responses=False)
    assert s.execute_command("RPC.SERVE", "bin") == []
    caller = send_call(server, "bin", bytes(range(256)) * 4)
    c = rec(s.execute_command("RPC.SERVE", "bin", "BLOCK", 2000)[0])
    assert c[b"payload"] == bytes(range(256)) * 4
    answer = b"\r\n\x00" + bytes(range(255, -1, -1))
    assert s.execute_command("RPC.REPLY", c[b"id"], answer) == b"OK"
    assert bulk(caller.read_reply()) == answer


def test_fail_reaches_the_caller_as_that_error(server):
    s = server.client()
    register(s, "greet")
    for code, msg in [("BAD_INPUT", "name is empty"), ("E404", "no such user 'x'"),
                      ("X", ""), ("A" * 64, "m" * 1024)]:
        caller = send_call(server, "greet", "p")
        c = serve1(s, "greet", "BLOCK", 2000)
        assert s.execute_command("RPC.FAIL", c["id"], code, msg) == "OK"
        assert caller.read_reply() == b"-%s %s\r\n" % (code.encode(), msg.encode())
    # through redis-py the caller sees a ResponseError with the same text
    r = server.client()
    out = {}

    def calling():
        try:
            r.execute_command("RPC.CALL", "greet", "x")
        except redis.ResponseError as e:
            out["err"] = str(e)

    t = threading.Thread(target=calling)
    t.start()
    c = serve1(s, "greet", "BLOCK", 2000)
    s.execute_command("RPC.FAIL", c["id"], "QUOTA_EXCEEDED", "try later")
    join_all([t], WAIT)
    assert out["err"] == "QUOTA_EXCEEDED try later"


def test_headers_keep_their_order(server):
    s = server.client()
    register(s, "h")
    hdr = ["zeta", "1", "alpha", "2", "mid", "", "alpha", "again"]
    caller = send_call(server, "h", "p", "TIMEOUT", 2000, "HDR", *hdr)
    c = serve1(s, "h", "BLOCK", 2000)
    assert pairs(c["headers"]) == list(zip(hdr[::2], hdr[1::2]))
    s.execute_command("RPC.REPLY", c["id"], "ok")
    assert bulk(caller.read_reply()) == b"ok"
    # HDR takes every remaining argument: a TIMEOUT after it is a header
    caller.send(resp_encode("RPC.CALL", "h", "p", "HDR", "a", "b", "TIMEOUT", "5"))
    c = serve1(s, "h", "BLOCK", 2000)
    assert pairs(c["headers"]) == [("a", "b"), ("TIMEOUT", "5")]
    assert c["deadline_ms"] > 1000  # the default rpc-timeout (5000), not 5 ms
    s.execute_command("RPC.REPLY", c["id"], "ok")
    assert bulk(caller.read_reply()) == b"ok"
    # 64 pairs with 256-byte fields are accepted
    hdr = []
    for i in range(64):
        hdr += ["%03d" % i + "f" * 253, "v%d" % i]
    caller.send(resp_encode("RPC.CALL", "h", "p", "HDR", *hdr))
    c = serve1(s, "h", "BLOCK", 2000)
    assert pairs(c["headers"]) == list(zip(hdr[::2], hdr[1::2]))
    s.execute_command("RPC.REPLY", c["id"], "ok")
    assert bulk(caller.read_reply()) == b"ok"


def test_resp3_shapes(server):
    s = server.client(protocol=3)
    assert call(s, "RPC.SERVE", "r3") == []
    call(s, "CLIENT", "SETNAME", "r3-worker")
    caller = send_call(server, "r3", "p", "HDR", "k", "v", "k2", "v2")
    got = call(s, "RPC.SERVE", "r3", "BLOCK", 2000)
    assert isinstance(got, list) and len(got) == 1
    c = got[0]
    assert isinstance(c, dict)
    assert list(c) == ["id", "service", "payload", "headers", "deadline_ms", "delivery"]
    assert isinstance(c["headers"], dict) and list(c["headers"].items()) == [
        ("k", "v"), ("k2", "v2")]
    assert isinstance(c["deadline_ms"], int) and isinstance(c["delivery"], int)
    i = call(s, "RPC.INFO", "r3")
    assert isinstance(i, dict) and i["in_flight"] == 1
    assert isinstance(i["server_list"], list) and isinstance(i["server_list"][0], dict)
    assert i["server_list"][0]["name"] == "r3-worker"
    assert isinstance(call(s, "RPC.INFO"), list)
    assert call(s, "RPC.REPLY", c["id"], "done") == "OK"
    assert bulk(caller.read_reply()) == b"done"
    # a RESP3 caller gets the same bulk string and error
    c3 = server.raw()
    c3.cmd("HELLO", "3")
    c3.send(resp_encode("RPC.CALL", "r3", "p"))
    c = call(s, "RPC.SERVE", "r3", "BLOCK", 2000)[0]
    call(s, "RPC.FAIL", c["id"], "NOPE", "not today")
    assert c3.read_reply() == b"-NOPE not today\r\n"
    # a RESP2 server with no name gets a nil name
    s2 = server.client()
    register(s2, "r3")
    names = [x["name"] for x in rpc_info(s2, "r3")["server_list"]]
    assert len(names) == 2 and set(names) == {None, "r3-worker"}


def test_serve_count_and_order_across_services(server):
    s = server.client()
    register(s, "a", "b")
    callers, queued = [], {"a": 0, "b": 0}
    for svc, p in [("a", "a1"), ("b", "b1"), ("a", "a2"), ("b", "b2"), ("a", "a3")]:
        callers.append(send_call(server, svc, p))
        queued[svc] += 1
        wait_waiting_calls(s, svc, queued[svc])   # so that the order is known
    got = serve(s, "b", "a", "COUNT", 3)
    assert [c["payload"] for c in got] == ["a1", "b1", "a2"]  # oldest first
    assert [c["service"] for c in got] == ["a", "b", "a"]
    got += serve(s, "a", "b", "COUNT", 1000)
    assert [c["payload"] for c in got[3:]] == ["b2", "a3"]
    assert serve(s, "a", "b", "COUNT", 5) == []
    for c in got:
        s.execute_command("RPC.REPLY", c["id"], "r-" + c["payload"])
    assert [bulk(x.read_reply()) for x in callers] == [b"r-a1", b"r-b1", b"r-a2",
                                                       b"r-b2", b"r-a3"]


def test_option_words_without_a_value_are_service_names(server):
    r = server.client()
    assert r.execute_command("RPC.SERVE", "a", "COUNT") == []
    assert r.execute_command("RPC.SERVE", "BLOCK") == []
    assert rpc_info(r, "COUNT")["servers"] == 1 and rpc_info(r, "BLOCK")["servers"] == 1
    assert rpc_info(r, "a")["servers"] == 1


def test_serve_block_wakes_with_one_call_and_times_out_empty(server):
    s = server.client()
    t0 = time.monotonic()
    assert serve(s, "idle", "BLOCK", 200) == []
    assert 0.18 <= time.monotonic() - t0 < 2.0
    out = {}

    def parked():
        out["got"] = serve(s, "idle", "COUNT", 5, "BLOCK", 3000)

    t = threading.Thread(target=parked)
    t.start()
    r = server.client()
    wait_waiting_servers(r, "idle", 1)
    caller = send_call(server, "idle", "one")
    join_all([t], WAIT)
    assert [c["payload"] for c in out["got"]] == ["one"]
    r.execute_command("RPC.REPLY", out["got"][0]["id"], "x")
    assert bulk(caller.read_reply()) == b"x"


def test_any_connection_may_answer(server):
    s = server.client()
    register(s, "any")
    caller = send_call(server, "any", "p")
    c = serve1(s, "any", "BLOCK", 2000)
    other = server.client()   # never a server of anything
    assert other.execute_command("RPC.REPLY", c["id"], "from other") == "OK"
    assert bulk(caller.read_reply()) == b"from other"
    assert err_of(s, "RPC.REPLY", c["id"], "late") == \
        "NOCALL call '%s' was already answered" % c["id"]


# ---------------------------------------------------------------------------
# NOSERVER, TIMEOUT, 1 ms deadlines
# ---------------------------------------------------------------------------

def test_noserver(server):
    r = server.raw()
    assert r.cmd("RPC.CALL", "nobody", "p") == b"-NOSERVER no server serves 'nobody'\r\n"
    s = server.client()
    register(s, "gone")
    hang_up(s)
    q = server.client()
    wait_until(lambda: rpc_info(q, "gone")["servers"] == 0, timeout=WAIT,
               what="the server of 'gone' disconnected")
    t0 = time.monotonic()
    assert r.cmd("RPC.CALL", "gone", "p", "TIMEOUT", 5000) == \
        b"-NOSERVER no server serves 'gone'\r\n"
    assert time.monotonic() - t0 < 1.0  # at once, not at the deadline
    i = rpc_info(q, "gone")
    assert i["noserver"] == 1 and i["calls"] == 0


def test_timeout_with_a_server_that_never_replies(server):
    s = server.client()
    register(s, "slow")
    caller = send_call(server, "slow", "p", "TIMEOUT", 300)
    t0 = time.monotonic()
    c = serve1(s, "slow", "BLOCK", 2000)
    assert 1 <= c["deadline_ms"] <= 300
    got = caller.read_reply(timeout=WAIT)
    elapsed = time.monotonic() - t0
    assert got == b"-TIMEOUT no reply from 'slow' within 300 ms\r\n"
    assert 0.2 <= elapsed < 3.0
    assert err_of(s, "RPC.REPLY", c["id"], "too late") == \
        "TIMEOUT call '%s' passed its deadline before this answer" % c["id"]
    assert err_of(s, "RPC.FAIL", c["id"], "LATE", "too late") == \
        "TIMEOUT call '%s' passed its deadline before this answer" % c["id"]
    i = rpc_info(s, "slow")
    assert i["timeouts"] == 1 and i["in_flight"] == 0 and i["replies"] == 0


def test_timeout_of_a_queued_call_drops_it(server):
    s = server.client()
    register(s, "busy")        # a server, but not serving
    caller = send_call(server, "busy", "p", "TIMEOUT", 150)
    assert caller.read_reply() == b"-TIMEOUT no reply from 'busy' within 150 ms\r\n"
    assert serve(s, "busy", "COUNT", 10) == []     # never handed out
    i = rpc_info(s, "busy")
    assert i["waiting_calls"] == 0 and i["timeouts"] == 1


def test_default_timeout_is_rpc_timeout(server):
    r = server.client()
    assert r.config_get("rpc-timeout") == {"rpc-timeout": "5000"}
    assert r.config_get("rpc-max-payload") == {"rpc-max-payload": "1048576"}
    # a limit of 0 would refuse every call; a deadline of 0 could never be met
    for name, top in (("rpc-max-payload", 536870912), ("rpc-timeout", 86400000)):
        with pytest.raises(redis.ResponseError) as e:
            r.config_set(name, 0)
        assert str(e.value) == (
            "CONFIG SET failed (possibly related to argument '%s') - argument must be "
            "between 1 and %d inclusive" % (name, top))
    r.config_set("rpc-timeout", 200)
    register(r, "dflt")
    caller = send_call(server, "dflt", "p")
    t0 = time.monotonic()
    assert caller.read_reply() == b"-TIMEOUT no reply from 'dflt' within 200 ms\r\n"
    assert 0.15 <= time.monotonic() - t0 < 3.0


def test_one_ms_deadlines_against_a_busy_server(server):
    """Many calls with TIMEOUT 1: each is answered or times out, none hangs,
    and no server is handed a call whose deadline passed."""
    stop = threading.Event()
    servers = start_servers(server, "fast", 2, stop, delay=0.001, count=5, block=50)
    ncallers, ncalls = 4, 40
    results = [[] for _ in range(ncallers)]
    errors = []

    def caller(k):
        r = server.client(socket_timeout=WAIT)
        for i in range(ncalls):
            p = "c%d-%d" % (k, i)
            try:
                results[k].append(("ok", r.execute_command(
                    "RPC.CALL", "fast", p, "TIMEOUT", 1) == "re:" + p))
            except redis.ResponseError as e:
                results[k].append(("err", str(e)))
            except Exception as e:
                errors.append(repr(e))
                return

    threads = [threading.Thread(target=caller, args=(k,)) for k in range(ncallers)]
    for t in threads:
        t.start()
    join_all(threads, 30)
    stop.set()
    join_all(servers, WAIT)
    assert errors == [] and [e for s in servers for e in s.errors] == []
    flat = [x for rs in results for x in rs]
    assert len(flat) == ncallers * ncalls
    for kind, v in flat:
        if kind == "ok":
            assert v is True, "an answer went to the wrong call"
        else:
            assert v == "TIMEOUT no reply from 'fast' within 1 ms"
    for s in servers:
        for c in s.records:
            assert c["deadline_ms"] >= 1
    answered = sum(1 for kind, _ in flat if kind == "ok")
    timed_out = len(flat) - answered
    # every +OK of a REPLY reached its caller, and each refused REPLY was late
    assert sum(s.ok for s in servers) == answered
    for s in servers:
        for e in s.refused:
            assert e.startswith("TIMEOUT call '") and e.endswith(
                "' passed its deadline before this answer")
    r = server.client()
    wait_until(lambda: rpc_info(r, "fast")["in_flight"] == 0, timeout=WAIT,
               what="no call in flight")
    i = rpc_info(r, "fast")
    assert i["calls"] == len(flat) and i["replies"] == answered
    assert i["timeouts"] == timed_out and i["waiting_calls"] == 0


# ---------------------------------------------------------------------------
# spreading, many callers
# ---------------------------------------------------------------------------

def test_calls_spread_over_every_server(server):
    stop = threading.Event()
    servers = start_servers(server, "spread", 4, stop)
    r = server.client()
    for i in range(100):
        assert r.execute_command("RPC.CALL", "spread", "p%d" % i, "TIMEOUT", 3000) == \
            "re:p%d" % i
    counts = {s.client_id: len(s.records) for s in servers}
    assert sum(counts.values()) == 100
    assert min(counts.values()) >= 10, counts   # the longest-waiting server goes next
    i = rpc_info(r, "spread")
    assert {x["client_id"]: x["served"] for x in i["server_list"]} == counts
    assert i["servers"] == 4 and i["replies"] == 100
    stop.set()
    join_all(servers, WAIT)
    assert [e for s in servers for e in s.errors] == []


def test_many_callers_many_servers_answers_match(server):
    stop = threading.Event()
    servers = start_servers(server, "mesh", 4, stop, count=4)
    ncallers, ncalls = 16, 20
    wrong, errors, done = [], [], []

    def caller(k):
        r = server.client(socket_timeout=WAIT)
        try:
            for i in range(ncalls):
                p = "caller-%d-call-%d" % (k, i)
                got = r.execute_command("RPC.CALL", "mesh", p, "TIMEOUT", 5000,
                                        "HDR", "caller", str(k))
                if got != "re:" + p:
                    wrong.append((p, got))
                done.append(p)
        except Exception as e:
            errors.append(repr(e))

    threads = [threading.Thread(target=caller, args=(k,)) for k in range(ncallers)]
    for t in threads:
        t.start()
    join_all(threads, 30)
    stop.set()
    join_all(servers, WAIT)
    assert errors == [] and wrong == []
    assert len(done) == ncallers * ncalls
    seen = [c["payload"] for s in servers for c in s.records]
    assert sorted(seen) == sorted(done)            # each call served exactly once
    ids = [c["id"] for s in servers for c in s.records]
    assert len(set(ids)) == len(ids)               # ids unique while the server runs
    assert all(len(s.records) > 0 for s in servers)
    for s in servers:
        for c in s.records:
            assert pairs(c["headers"]) == [("caller", c["payload"].split("-")[1])]
            assert c["delivery"] == 1
    assert [e for s in servers for e in s.errors + s.refused] == []


# ---------------------------------------------------------------------------
# servers that die, callers that leave
# ---------------------------------------------------------------------------

def test_killed_server_call_goes_to_another(server, holders):
    r = server.client()
    a = holders(server, "kill")
    wait_waiting_servers(r, "kill", 1)
    b = server.client()
    register(b, "kill")             # a server, not parked: a gets the call
    caller = send_call(server, "kill", "job-1", "TIMEOUT", 8000)
    first = a.take()
    assert first["payload"] == "job-1" and first["delivery"] == 1
    i = rpc_info(r, "kill")
    assert i["in_flight"] == 1 and i["servers"] == 2
    a.kill()
    c = serve1(b, "kill", "BLOCK", 3000)
    assert c["id"] == first["id"] and c["delivery"] == 2 and c["payload"] == "job-1"
    assert 1 <= c["deadline_ms"] < first["deadline_ms"]
    assert b.execute_command("RPC.REPLY", c["id"], "done by b") == "OK"
    assert bulk(caller.read_reply()) == b"done by b"
    i = rpc_info(r, "kill")
    assert i["redeliveries"] == 1 and i["servers"] == 1 and i["replies"] == 1


def test_each_server_is_offered_a_call_once_then_timeout(server, holders):
    r = server.client()
    a = holders(server, "twice")
    wait_waiting_servers(r, "twice", 1)
    b = holders(server, "twice")
    wait_waiting_servers(r, "twice", 2)
    caller = send_call(server, "twice", "p", "TIMEOUT", 2500)
    t0 = time.monotonic()
    first = a.take()                 # a waited longest
    a.kill()
    second = b.take()
    assert second["id"] == first["id"] and second["delivery"] == 2
    b.kill()
    # no server is left that has not had it: it waits, then times out
    assert caller.read_reply(timeout=WAIT) == \
        b"-TIMEOUT no reply from 'twice' within 2500 ms\r\n"
    assert 2.0 <= time.monotonic() - t0 < 5.0
    assert a.seen == [first["id"]] and b.seen == [first["id"]]
    c = server.client()
    assert serve(c, "twice", "COUNT", 10) == []     # an expired call is never handed out
    i = rpc_info(r, "twice")
    assert i["timeouts"] == 1 and i["waiting_calls"] == 0 and i["in_flight"] == 0
    assert 1 <= i["redeliveries"] <= 2


def test_killed_server_call_waits_for_a_new_server(server, holders):
    r = server.client()
    a = holders(server, "late")
    wait_waiting_servers(r, "late", 1)
    caller = send_call(server, "late", "p", "TIMEOUT", 8000)
    first = a.take()
    a.kill()
    wait_waiting_calls(r, "late", 1)   # back in the queue, nobody to take it
    assert rpc_info(r, "late")["servers"] == 0
    n = server.client()
    c = serve1(n, "late", "BLOCK", 3000)
    assert c["id"] == first["id"] and c["delivery"] == 2
    n.execute_command("RPC.FAIL", c["id"], "RETRIED", "after a crash")
    assert caller.read_reply() == b"-RETRIED after a crash\r\n"


def test_servers_killed_under_load_lose_no_call(server, holders):
    """Three server processes answer 8 callers; two are SIGKILLed while they
    work. Every call is still answered, by its own answer, before its deadline."""
    r = server.client()
    procs = []
    for n in range(3):
        procs.append(holders(server, "load", echo_after=0.005))
        wait_waiting_servers(r, "load", n + 1)
    ncallers, ncalls = 8, 25
    wrong, errors, done = [], [], []

    def caller(k):
        c = server.client(socket_timeout=WAIT)
        try:
            for i in range(ncalls):
                p = "k%d-%d" % (k, i)
                got = c.execute_command("RPC.CALL", "load", p, "TIMEOUT", 4000)
                if got != "re:" + p:
                    wrong.append((p, got))
                done.append(p)
        except Exception as e:
            errors.append(repr(e))

    threads = [threading.Thread(target=caller, args=(k,)) for k in range(ncallers)]
    for t in threads:
        t.start()
    wait_until(lambda: len(done) >= 40, timeout=10, what="40 calls answered")
    procs[0].kill()
    wait_until(lambda: len(done) >= 100, timeout=10, what="100 calls answered")
    procs[1].kill()
    join_all(threads, 30)
    assert errors == [] and wrong == []
    assert len(done) == ncallers * ncalls
    i = rpc_info(r, "load")
    assert i["servers"] == 1 and i["in_flight"] == 0 and i["waiting_calls"] == 0
    assert i["calls"] == i["replies"] == ncallers * ncalls
    assert i["timeouts"] == 0
    for h in procs:
        assert len(h.seen) == len(set(h.seen))   # no server saw a call twice


def test_callers_hanging_up_under_load(server):
    """Callers that send a call and hang up at once, while two servers answer:
    every call ends as answered or as its caller left, nothing stays behind."""
    r = server.client()
    base = baseline(r)
    stop = threading.Event()
    servers = start_servers(server, "hangup", 2, stop, count=4)
    for round_ in range(25):
        conns = [send_call(server, "hangup", "r%d-%d" % (round_, k), "TIMEOUT", 3000)
                 for k in range(8)]
        for c in conns:
            c.close()
    # and calls that wait for their answer still get it, interleaved
    assert r.execute_command("RPC.CALL", "hangup", "last") == "re:last"
    wait_until(lambda: (lambda i: i["waiting_calls"] == 0 and i["in_flight"] == 0)(
        rpc_info(r, "hangup")), timeout=WAIT, what="every call settled")
    stop.set()
    join_all(servers, WAIT)
    assert [e for s in servers for e in s.errors] == []
    i = rpc_info(r, "hangup")
    assert i["calls"] == i["replies"] + i["callers_left"]
    assert i["replies"] == sum(s.ok for s in servers) and i["timeouts"] == 0
    for s in servers:
        for e in s.refused:
            assert e.startswith("NOCALL the caller of '") and e.endswith("' left"), e
    for s in servers:
        hang_up(s.r)
    wait_until(lambda: baseline(r) == base, timeout=WAIT, what="counts back to baseline")


def test_a_parked_server_that_leaves_is_no_server(server):
    r = server.client()
    base = baseline(r)
    s = server.raw()
    s.send(resp_encode("RPC.SERVE", "parked", "BLOCK", 0))
    wait_waiting_servers(r, "parked", 1)
    assert r.info("clients")["blocked_clients"] == base["blocked_clients"] + 1
    s.close()
    wait_until(lambda: rpc_info(r, "parked")["servers"] == 0, timeout=WAIT,
               what="the parked server gone")
    assert rpc_info(r, "parked")["waiting_servers"] == 0
    assert err_of(r, "RPC.CALL", "parked", "p") == "NOSERVER no server serves 'parked'"
    wait_until(lambda: baseline(r) == base, timeout=WAIT, what="counts back to baseline")


def test_a_left_callers_call_is_never_handed_out(server):
    r = server.client()
    base = baseline(r)
    s = server.client()
    register(s, "left")
    caller = send_call(server, "left", "p", "TIMEOUT", 10000)
    wait_waiting_calls(r, "left", 1)
    caller.close()
    wait_until(lambda: rpc_info(r, "left")["waiting_calls"] == 0, timeout=WAIT,
               what="the left caller's call dropped")
    assert serve(s, "left", "COUNT", 10) == []
    assert rpc_info(r, "left")["callers_left"] == 1
    # a call the server holds when its caller leaves: the answer is told so
    caller = send_call(server, "left", "p2", "TIMEOUT", 10000)
    c = serve1(s, "left", "BLOCK", 2000)
    caller.close()
    wait_until(lambda: rpc_info(r, "left")["callers_left"] == 2, timeout=WAIT,
               what="the second caller counted as left")
    assert err_of(s, "RPC.REPLY", c["id"], "x") == "NOCALL the caller of '%s' left" % c["id"]
    assert err_of(s, "RPC.FAIL", c["id"], "E", "x") == \
        "NOCALL the caller of '%s' left" % c["id"]
    i = rpc_info(r, "left")
    assert i["in_flight"] == 0 and i["replies"] == 0
    hang_up(s)
    wait_until(lambda: baseline(r) == base, timeout=WAIT, what="counts back to baseline")


# ---------------------------------------------------------------------------
# bad answers, limits, leaks
# ---------------------------------------------------------------------------

def test_unknown_and_duplicate_answers(server):
    r = server.raw()
    assert r.cmd("RPC.REPLY", "nosuch", "x") == b"-NOCALL no call 'nosuch'\r\n"
    assert r.cmd("RPC.FAIL", "17-9f3c01ab", "E", "x") == b"-NOCALL no call '17-9f3c01ab'\r\n"
    s = server.client()
    register(s, "dup")
    caller = send_call(server, "dup", "p")
    c = serve1(s, "dup", "BLOCK", 2000)
    assert s.execute_command("RPC.FAIL", c["id"], "FIRST", "wins") == "OK"
    assert caller.read_reply() == b"-FIRST wins\r\n"
    dup = ("-NOCALL call '%s' was already answered\r\n" % c["id"]).encode()
    assert r.cmd("RPC.REPLY", c["id"], "second") == dup
    assert r.cmd("RPC.FAIL", c["id"], "SECOND", "loses") == dup
    i = rpc_info(s, "dup")
    assert i["failures"] == 1 and i["replies"] == 0


def test_limits_and_bad_input_leak_nothing(server):
    r = server.client()
    base = baseline(r)
    raw = server.raw()
    s = server.client()
    register(s, "lim")

    # payloads: the default 1mb, then a small rpc-max-payload
    big = b"x" * (2 * 1024 * 1024)
    assert raw.cmd("RPC.CALL", "lim", big) == \
        b"-ERR payload is 2097152 bytes, over the limit of 1048576 (rpc-max-payload)\r\n"
    r.config_set("rpc-max-payload", 1000)
    assert r.config_get("rpc-max-payload") == {"rpc-max-payload": "1000"}
    assert raw.cmd("RPC.CALL", "lim", "y" * 1001) == \
        b"-ERR payload is 1001 bytes, over the limit of 1000 (rpc-max-payload)\r\n"
    caller = send_call(server, "lim", "y" * 1000)       # exactly the limit is fine
    c = serve1(s, "lim", "BLOCK", 2000)
    assert len(c["payload"]) == 1000
    assert raw.cmd("RPC.REPLY", c["id"], "z" * 1001) == \
        b"-ERR payload is 1001 bytes, over the limit of 1000 (rpc-max-payload)\r\n"
    assert rpc_info(r, "lim")["in_flight"] == 1        # the call stays waiting
    assert raw.cmd("RPC.REPLY", c["id"], "z" * 1000) == b"+OK\r\n"
    assert bulk(caller.read_reply()) == b"z" * 1000
    caller.close()
    # a header value is held to the same limit (the field/value pair is the caller's)
    e = raw.cmd("RPC.CALL", "lim", "p", "HDR", "k", "v" * 1001)
    assert e.startswith(b"-ERR ") and b"1001" in e and b"rpc-max-payload" in e, e
    r.config_set("rpc-max-payload", "1mb")

    # headers
    def hdr(n, field="f"):
        out = []
        for i in range(n):
            out += [field + str(i), "v"]
        return out
    assert raw.cmd("RPC.CALL", "lim", "p", "HDR", *hdr(65)) == \
        b"-ERR at most 64 HDR pairs (got 65)\r\n"
    odd = b"-ERR syntax error: HDR takes field value pairs up to the end of the command\r\n"
    assert raw.cmd("RPC.CALL", "lim", "p", "HDR", "a", "b", "c") == odd
    assert raw.cmd("RPC.CALL", "lim", "p", "HDR") == odd
    for field in ("", "f" * 257):
        assert raw.cmd("RPC.CALL", "lim", "p", "HDR", field, "v") == \
            b"-ERR header field must be 1 to 256 bytes (got %d)\r\n" % len(field)
    # service names
    for svc in ("", "s" * 257):
        want = b"-ERR service name must be 1 to 256 bytes (got %d)\r\n" % len(svc)
        assert raw.cmd("RPC.CALL", svc, "p") == want
        assert raw.cmd("RPC.SERVE", svc) == want
        assert raw.cmd("RPC.SERVE", "lim", svc, "COUNT", 1) == want
    assert raw.cmd("RPC.CAST", "s" * 253, "p") == \
        b"-ERR service name must be 1 to 252 bytes (got 253)\r\n"   # rpc: + 252 = 256
    # TIMEOUT, COUNT, BLOCK values
    for bad in ("0", "-1", "86400001", "abc", "1.5", ""):
        assert raw.cmd("RPC.CALL", "lim", "p", "TIMEOUT", bad) == \
            ("-ERR TIMEOUT must be 1..86400000 ms (got '%s')\r\n" % bad).encode()
    for bad in ("0", "-1", "1001", "x"):
        assert raw.cmd("RPC.SERVE", "lim", "COUNT", bad) == \
            ("-ERR COUNT must be 1..1000 (got '%s')\r\n" % bad).encode()
    for bad in ("-1", "86400001", "x"):
        assert raw.cmd("RPC.SERVE", "lim", "BLOCK", bad) == \
            ("-ERR BLOCK must be 0..86400000 ms (got '%s')\r\n" % bad).encode()
    assert raw.cmd("RPC.CALL", "lim", "p", "NOSUCHOPT", "1") == \
        b"-ERR syntax error near 'NOSUCHOPT'\r\n"
    assert raw.cmd("RPC.CALL", "lim", "p", "TIMEOUT") == b"-ERR syntax error near 'TIMEOUT'\r\n"
    # codes and messages of RPC.FAIL (checked before the id is looked up or not,
    # with a live call so that only the code or message can be wrong)
    caller = send_call(server, "lim", "p")
    c = serve1(s, "lim", "BLOCK", 2000)
    bad_code = b"-ERR code must be 1 to 64 of A-Z, 0-9 and _, starting with a letter"
    for code in ("bad", "1ABC", "_ABC", "A-B", "A B", "A" * 65, ""):
        assert raw.cmd("RPC.FAIL", c["id"], code, "m") == \
            bad_code + (" (got '%s')\r\n" % code).encode(), code
    for code in ("\u00c9", "A\r\nB"):    # shown escaped, but refused all the same
        assert raw.cmd("RPC.FAIL", c["id"], code, "m").startswith(bad_code), code
    for msg in ("a\rb", "a\nb", "line\r\n"):
        assert raw.cmd("RPC.FAIL", c["id"], "E", msg) == \
            b"-ERR message must not contain CR or LF\r\n"
    assert raw.cmd("RPC.FAIL", c["id"], "E", "m" * 1025) == \
        b"-ERR message must be at most 1024 bytes (got 1025)\r\n"
    assert rpc_info(r, "lim")["in_flight"] == 1        # still waiting after all that
    assert raw.cmd("RPC.FAIL", c["id"], "E", "m" * 1024) == b"+OK\r\n"
    assert caller.read_reply() == b"-E " + b"m" * 1024 + b"\r\n"
    # the server still answers, and nothing is left behind
    assert raw.cmd("PING") == b"+PONG\r\n"
    raw.close()
    hang_up(s)
    caller.close()
    wait_until(lambda: baseline(r) == base, timeout=WAIT, what="counts back to baseline")
    i = rpc_info(r, "lim")
    assert i["waiting_calls"] == 0 and i["in_flight"] == 0 and i["servers"] == 0


def test_wrong_arity(server):
    raw = server.raw()
    s = server.client()
    register(s, "lim")
    for args in (("RPC.CALL", "lim"), ("RPC.CALL",), ("RPC.SERVE",), ("RPC.REPLY", "x"),
                 ("RPC.REPLY", "x", "p", "q"), ("RPC.FAIL", "x", "E"),
                 ("RPC.FAIL", "x", "E", "m", "n"), ("RPC.CAST", "lim"),
                 ("RPC.INFO", "a", "b")):
        e = raw.cmd(*args)
        assert e == ("-ERR wrong number of arguments for '%s' command\r\n"
                     % args[0].lower()).encode(), (args, e)
    assert raw.cmd("PING") == b"+PONG\r\n"


# ---------------------------------------------------------------------------
# RPC.CAST
# ---------------------------------------------------------------------------

def test_cast_is_a_job_on_the_private_queue(server):
    r = server.client()
    jid = r.execute_command("RPC.CAST", "mailer", "send to ada")   # no server needed
    jobs = [rec(j) for j in r.execute_command("Q.POP", "rpc:mailer", "LEASE", 5000)]
    assert len(jobs) == 1
    assert jobs[0]["id"] == jid and jobs[0]["queue"] == "rpc:mailer"
    assert jobs[0]["payload"] == "send to ada" and int(jobs[0]["attempt"]) == 1
    assert r.execute_command("Q.ACK", jid) == 1
    # options pass through
    assert r.execute_command("RPC.CAST", "mailer", "hi", "PRIORITY", 7, "MAXATTEMPTS", 3,
                             "ID", "mail-1") == "mail-1"
    assert r.execute_command("RPC.CAST", "mailer", "again", "ID", "mail-1") == "mail-1"
    r.execute_command("RPC.CAST", "mailer", "low")
    r.execute_command("RPC.CAST", "mailer", "later", "DELAY", 300)
    peek = [rec(j) for j in r.execute_command("Q.PEEK", "rpc:mailer", "COUNT", 10)]
    assert [j["payload"] for j in peek] == ["hi", "low"]
    assert int(peek[0]["priority"]) == 7 and int(peek[0]["max_attempts"]) == 3
    q = rec(r.execute_command("Q.INFO", "rpc:mailer"))
    assert q["ready"] == 2 and q["delayed"] == 1
    # the same errors as Q.PUSH on that queue
    for opts in (("PRIORITY", "x"), ("DELAY", "-1"), ("MAXATTEMPTS", "0"), ("BOGUS", "1"),
                 ("ID", "")):
        assert err_of(r, "RPC.CAST", "mailer", "p", *opts) == \
            err_of(r, "Q.PUSH", "rpc:mailer", "p", *opts)
    r.config_set("queue-max-payload", 100)
    assert err_of(r, "RPC.CAST", "mailer", "p" * 101) == \
        err_of(r, "Q.PUSH", "rpc:mailer", "p" * 101)
    # a cast is not a call
    assert info_or_none(r, "mailer") is None or rpc_info(r, "mailer")["calls"] == 0


def test_cast_survives_kill_9(server):
    r = server.client()
    ids = [r.execute_command("RPC.CAST", "durable", "job-%d" % i) for i in range(20)]
    server.restart(signal.SIGKILL)
    r = server.client()
    jobs = [rec(j) for j in r.execute_command("Q.POP", "rpc:durable", "COUNT", 100)]
    assert [j["id"] for j in jobs] == ids
    assert [j["payload"] for j in jobs] == ["job-%d" % i for i in range(20)]


def test_calls_die_with_the_server(server):
    """RPC state is in memory: a restart drops calls, servers and counters;
    the caller's connection drops with the old process."""
    s = server.client()
    register(s, "mem")
    caller = RawConn(server.host, server.port)   # not closed by the restart itself
    caller.send(resp_encode("RPC.CALL", "mem", "p", "TIMEOUT", 10000))
    wait_waiting_calls(s, "mem", 1)
    server.restart(signal.SIGKILL)
    with pytest.raises((EOFError, ConnectionResetError)):
        caller.read_reply(timeout=WAIT)
    caller.close()
    r = server.raw()
    assert r.cmd("RPC.CALL", "mem", "p") == b"-NOSERVER no server serves 'mem'\r\n"
    assert r.cmd("RPC.INFO", "mem") == b"-ERR no such service 'mem'\r\n"


@pytest.mark.tincan_args("--enable-debug-command", "yes")
def test_debug_reload_ends_every_call(server):
    """DEBUG RELOAD rebuilds every module as a restart would: blocked callers and
    parked servers are told, held calls are gone, and the connections live on."""
    s = server.client()
    register(s, "re")
    held = send_call(server, "re", "held", "TIMEOUT", 10000)
    c = serve1(s, "re", "BLOCK", 2000)
    queued = send_call(server, "re", "queued", "TIMEOUT", 10000)
    parked = server.raw()
    parked.send(resp_encode("RPC.SERVE", "other", "BLOCK", 0))
    r = server.client()
    wait_waiting_calls(r, "re", 1)
    wait_waiting_servers(r, "other", 1)
    assert r.execute_command("DEBUG", "RELOAD") == "OK"
    aborted = b"-ERR blocking command aborted by DEBUG RELOAD\r\n"
    assert held.read_reply() == aborted
    assert queued.read_reply() == aborted
    assert parked.read_reply() == aborted
    assert err_of(s, "RPC.REPLY", c["id"], "late") == "NOCALL no call '%s'" % c["id"]
    assert r.execute_command("RPC.INFO") == []
    assert r.info("rpc")["rpc_servers"] == 0
    # and RPC works again on the same connections
    register(s, "re")
    held.send(resp_encode("RPC.CALL", "re", "again"))
    c2 = serve1(s, "re", "BLOCK", 2000)
    assert c2["id"] != c["id"]
    s.execute_command("RPC.REPLY", c2["id"], "ok")
    assert bulk(held.read_reply()) == b"ok"


# ---------------------------------------------------------------------------
# RPC.INFO, INFO rpc, /metrics, MULTI
# ---------------------------------------------------------------------------

def test_rpc_info_fields_and_counters(server):
    r = server.raw()
    assert r.cmd("RPC.INFO", "acct") == b"-ERR no such service 'acct'\r\n"
    q = server.client()
    s = server.client()
    s.client_setname("worker-1")
    register(s, "acct")
    sid = s.client_id()
    # 1: answered
    caller = send_call(server, "acct", "1")
    c = serve1(s, "acct", "BLOCK", 2000)
    s.execute_command("RPC.REPLY", c["id"], "ok")
    assert bulk(caller.read_reply()) == b"ok"
    # 2: failed
    caller.send(resp_encode("RPC.CALL", "acct", "2"))
    c = serve1(s, "acct", "BLOCK", 2000)
    s.execute_command("RPC.FAIL", c["id"], "NO", "no")
    assert caller.read_reply() == b"-NO no\r\n"
    # 3: queued, then timed out
    caller.send(resp_encode("RPC.CALL", "acct", "3", "TIMEOUT", 200))
    wait_waiting_calls(q, "acct", 1)
    i = rpc_info(q, "acct")
    assert i["waiting_calls"] == 1 and i["in_flight"] == 0
    assert caller.read_reply().startswith(b"-TIMEOUT ")
    # 4: in flight for 300 ms, then answered
    caller.send(resp_encode("RPC.CALL", "acct", "4"))
    c = serve1(s, "acct", "BLOCK", 2000)
    i = rpc_info(q, "acct")
    assert i["in_flight"] == 1 and i["waiting_calls"] == 0
    assert i["server_list"][0]["in_flight"] == 1
    time.sleep(0.3)
    s.execute_command("RPC.REPLY", c["id"], "ok")
    assert bulk(caller.read_reply()) == b"ok"
    # a parked server
    out = {}
    t = threading.Thread(target=lambda: out.setdefault("got", serve(s, "acct", "BLOCK", 3000)))
    t.start()
    wait_waiting_servers(q, "acct", 1)
    raw_i = rec(q.execute_command("RPC.INFO", "acct"))
    assert list(raw_i) == ["service", "servers", "waiting_servers", "waiting_calls",
                           "in_flight", "calls", "replies", "failures", "timeouts",
                           "callers_left", "redeliveries", "noserver", "latency_p50_us",
                           "latency_p99_us", "server_list"]
    i = rpc_info(q, "acct")
    assert i["service"] == "acct" and i["servers"] == 1 and i["waiting_servers"] == 1
    assert (i["calls"], i["replies"], i["failures"], i["timeouts"], i["callers_left"],
            i["redeliveries"], i["noserver"]) == (4, 2, 1, 1, 0, 0, 0)
    assert 0 < i["latency_p50_us"] <= i["latency_p99_us"]
    assert i["latency_p99_us"] >= 250_000          # call 4 waited 300 ms for its answer
    assert len(i["server_list"]) == 1
    sl = i["server_list"][0]
    assert list(sl) == ["client_id", "name", "addr", "in_flight", "served"]
    assert sl["client_id"] == sid and sl["name"] == "worker-1"
    assert sl["in_flight"] == 0 and sl["served"] == 3
    listed = [line for line in q.execute_command("CLIENT", "LIST").splitlines()
              if line.startswith("id=%d " % sid)]
    assert len(listed) == 1 and (" addr=%s " % sl["addr"]) in listed[0]
    # 5: handed to the parked server, answered
    caller.send(resp_encode("RPC.CALL", "acct", "5"))
    join_all([t], WAIT)
    assert [c["payload"] for c in out["got"]] == ["5"]
    s.execute_command("RPC.REPLY", out["got"][0]["id"], "ok")
    assert bulk(caller.read_reply()) == b"ok"
    # the server leaves: no server, a refused call counts as noserver
    hang_up(s)
    wait_until(lambda: rpc_info(q, "acct")["servers"] == 0, timeout=WAIT,
               what="the server gone")
    assert r.cmd("RPC.CALL", "acct", "6") == b"-NOSERVER no server serves 'acct'\r\n"
    i = rpc_info(q, "acct")
    assert i["noserver"] == 1 and i["calls"] == 5 and i["replies"] == 3
    assert i["server_list"] == []
    assert i["waiting_servers"] == 0
    # all services, sorted by name
    register(q, "zz", "aa", "mm")
    names = [x["service"] for x in rpc_info(q)]
    assert names == sorted(names) and {"aa", "acct", "mm", "zz"} <= set(names)
    caller.close()


def test_info_rpc_section(server):
    r = server.client()
    s = server.client()
    register(s, "i1", "i2")
    caller = send_call(server, "i1", "p", "TIMEOUT", 5000)
    c = serve1(s, "i1", "BLOCK", 2000)
    caller2 = send_call(server, "i2", "p", "TIMEOUT", 100)
    assert caller2.read_reply().startswith(b"-TIMEOUT ")
    i = r.info("rpc")
    for k in ("rpc_services", "rpc_servers", "rpc_waiting_calls", "rpc_in_flight",
              "rpc_calls", "rpc_timeouts"):
        assert k in i, (k, i)
    assert i["rpc_services"] == 2 and i["rpc_servers"] == 1
    assert i["rpc_in_flight"] == 1 and i["rpc_waiting_calls"] == 0
    assert i["rpc_calls"] == 2 and i["rpc_timeouts"] == 1
    s.execute_command("RPC.REPLY", c["id"], "x")
    assert bulk(caller.read_reply()) == b"x"
    assert r.info("rpc")["rpc_in_flight"] == 0
    assert r.info()["rpc_calls"] == 2     # in the default INFO too


def test_metrics_families(tincan):
    srv = http_server(tincan)
    stop = threading.Event()
    servers = start_servers(srv, "met", 1, stop)
    r = srv.client()
    for i in range(5):
        assert r.execute_command("RPC.CALL", "met", "p%d" % i) == "re:p%d" % i
    stop.set()
    join_all(servers, WAIT)
    hang_up(servers[0].r)
    wait_until(lambda: rpc_info(r, "met")["servers"] == 0, timeout=WAIT,
               what="the echo server gone")
    s = srv.client()
    register(s, "met")
    caller = send_call(srv, "met", "held", "TIMEOUT", 5000)
    c = serve1(s, "met", "BLOCK", 2000)
    t_out = send_call(srv, "met", "never", "TIMEOUT", 100)
    assert t_out.read_reply().startswith(b"-TIMEOUT ")
    waiting = send_call(srv, "met", "queued", "TIMEOUT", 5000)
    wait_waiting_calls(r, "met", 1)
    status, _, body = http_get(srv.http_port, "/metrics")
    assert status == 200
    fam = parse_exposition(body.decode())
    v = lambda name: fam[name].value(service="met")  # noqa: E731
    assert fam["tincan_rpc_calls_total"].type == "counter"
    assert v("tincan_rpc_calls_total") == 8
    assert v("tincan_rpc_replies_total") == 5
    assert v("tincan_rpc_failures_total") == 0
    assert v("tincan_rpc_timeouts_total") == 1
    assert fam["tincan_rpc_servers"].type == "gauge" and v("tincan_rpc_servers") == 1
    assert v("tincan_rpc_waiting_calls") == 1
    assert v("tincan_rpc_in_flight_calls") == 1
    h = fam["tincan_rpc_call_duration_seconds"]
    assert h.type == "histogram"
    counts = [val for name, ls, val in h.samples
              if name.endswith("_count") and ls.get("service") == "met"]
    assert counts == [5]             # the answered calls (the held one is not yet)
    s.execute_command("RPC.REPLY", c["id"], "x")
    assert bulk(caller.read_reply()) == b"x"
    waiting.close()


def test_call_inside_multi(server):
    s = server.client()
    register(s, "tx")
    c = server.raw()
    assert c.cmd("MULTI") == b"+OK\r\n"
    e = c.cmd("RPC.CALL", "tx", "p")
    want = b"-ERR RPC.CALL cannot run inside MULTI\r\n"
    if e == b"+QUEUED\r\n":
        assert c.cmd("EXEC") == b"*1\r\n" + want
    else:
        assert e == want
        assert c.cmd("EXEC").startswith(b"-EXECABORT ")
    assert serve(s, "tx", "COUNT", 10) == []        # nothing was called
    # RPC.SERVE ... BLOCK inside MULTI answers what is there, at once
    r = server.client()
    caller = send_call(server, "tx", "q")
    wait_waiting_calls(r, "tx", 1)
    assert c.cmd("MULTI") == b"+OK\r\n"
    assert c.cmd("RPC.SERVE", "tx", "BLOCK", 0) == b"+QUEUED\r\n"
    assert c.cmd("RPC.SERVE", "tx", "BLOCK", 0) == b"+QUEUED\r\n"
    t0 = time.monotonic()
    got = c.cmd("EXEC")
    assert time.monotonic() - t0 < 2.0
    # [[record], []]: the first SERVE took the call, the second found nothing
    assert got.startswith(b"*2\r\n*1\r\n*12\r\n$2\r\nid\r\n"), got
    assert got.endswith(b"*0\r\n"), got
    assert rpc_info(r, "tx")["in_flight"] == 1
    call_id = got.split(b"\r\n")[6].decode()
    assert r.execute_command("RPC.REPLY", call_id, "tx-ok") == "OK"
    assert bulk(caller.read_reply()) == b"tx-ok"
