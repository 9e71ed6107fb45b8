"""Work queues (issue 5): Q.* and CHUNK.ENQUEUE through redis-py against the
real server, including SIGKILL crash tests of the queue journal.
"""

import os
import random
import signal
import threading
import time

import pytest
import redis

from conftest import call, resp_encode


def rec(r):
    """A record reply (RESP3 map or RESP2 flat array) as a dict."""
    if isinstance(r, dict):
        return dict(r)
    return dict(zip(r[::2], r[1::2]))


def push(r, queue, payload, *opts):
    return r.execute_command("Q.PUSH", queue, payload, *opts)


def pop(r, *args):
    return [rec(j) for j in r.execute_command("Q.POP", *args)]


def pop1(r, *args):
    jobs = pop(r, *args)
    assert len(jobs) <= 1
    return jobs[0] if jobs else None


def info(r, queue=None):
    return rec(r.execute_command("Q.INFO", *([queue] if queue else [])))


def wait_until(pred, timeout=5.0, step=0.01):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(step)
    return pred()


def err_of(r, *args):
    with pytest.raises(redis.ResponseError) as e:
        r.execute_command(*args)
    return str(e.value)


# ---------------------------------------------------------------------------
# semantics
# ---------------------------------------------------------------------------

def test_priority_then_fifo(server):
    r = server.client()
    ids = [push(r, "q", "a"), push(r, "q", "b", "PRIORITY", 5),
           push(r, "q", "c"), push(r, "q", "d", "PRIORITY", 5),
           push(r, "q", "e", "PRIORITY", -1)]
    assert len(set(ids)) == 5
    got = [j["payload"] for j in pop(r, "q", "COUNT", 10)]
    assert got == ["b", "d", "a", "c", "e"]
    assert pop(r, "q") == []


def test_popped_record_fields(server):
    r = server.client()
    jid = push(r, "q", "hello")
    before = int(time.time() * 1000)
    j = pop1(r, "q", "LEASE", 5000)
    after = int(time.time() * 1000)
    assert set(j) == {"id", "queue", "payload", "attempt", "lease_deadline"}
    assert j["id"] == jid and j["queue"] == "q" and j["payload"] == "hello"
    assert int(j["attempt"]) == 1
    assert before + 5000 - 50 <= int(j["lease_deadline"]) <= after + 5000 + 50


def test_resp3_records_are_maps(server):
    r = server.client(protocol=3)
    push(r, "q", "x")
    jobs = call(r, "Q.POP", "q")
    assert isinstance(jobs[0], dict) and jobs[0]["payload"] == "x"
    i = call(r, "Q.INFO", "q")
    assert isinstance(i, dict) and i["leased"] == 1


def test_binary_payload_roundtrip(server):
    r = server.client(decode_responses=False)
    payload = bytes(range(256)) * 40
    push(r, "bin", payload)
    j = r.execute_command("Q.POP", "bin")[0]
    j = dict(zip(j[::2], j[1::2]))
    assert j[b"payload"] == payload


def test_many_queues_in_one_pop(server):
    r = server.client()
    push(r, "b", "b1", "PRIORITY", 1)
    push(r, "a", "a1", "PRIORITY", 1)
    push(r, "a", "a2")
    push(r, "b", "b2", "PRIORITY", 2)
    push(r, "c", "c1")
    got = pop(r, "a", "nosuch", "b", "COUNT", 4)
    assert [j["payload"] for j in got] == ["b2", "a1", "b1", "a2"]
    assert [j["queue"] for j in got] == ["b", "a", "b", "a"]
    assert info(r, "c")["ready"] == 1


def test_delay(server):
    r = server.client()
    push(r, "q", "late", "DELAY", 400, "PRIORITY", 9)
    push(r, "q", "now")
    assert info(r, "q")["delayed"] == 1
    assert pop1(r, "q")["payload"] == "now"
    assert pop1(r, "q") is None
    time.sleep(0.5)
    assert pop1(r, "q")["payload"] == "late"


def test_delayed_job_wakes_blocked_popper(server):
    r = server.client()
    push(r, "q", "late", "DELAY", 300)
    t0 = time.monotonic()
    j = pop1(r, "q", "BLOCK", 5000)
    took = time.monotonic() - t0
    assert j["payload"] == "late"
    assert 0.2 < took < 2.0


def test_lease_expires_to_another_worker(server):
    w1, w2 = server.client(), server.client()
    jid = push(w1, "q", "work")
    j = pop1(w1, "q", "LEASE", 300)
    assert j["id"] == jid and int(j["attempt"]) == 1
    assert pop1(w2, "q") is None
    # the server's timer returns it: w2 blocks and gets it without polling
    t0 = time.monotonic()
    j2 = pop1(w2, "q", "BLOCK", 5000, "LEASE", 10000)
    assert time.monotonic() - t0 < 2.0
    assert j2["id"] == jid and int(j2["attempt"]) == 2
    assert info(w1, "q")["leased"] == 1
    # w1's late answer, fenced by its attempt, cannot touch w2's lease
    assert err_of(w1, "Q.NACK", jid, "ATTEMPT", 1) == \
        "job '%s' is not leased under attempt 1 (it is leased, attempt 2)" % jid
    assert err_of(w1, "Q.TOUCH", jid, "ATTEMPT", 1) == \
        "job '%s' is not leased under attempt 1 (it is leased, attempt 2)" % jid
    assert info(w1, "q")["leased"] == 1
    assert w2.execute_command("Q.TOUCH", jid, "ATTEMPT", 2) > 0
    assert w2.execute_command("Q.NACK", jid, "ATTEMPT", 2, "DELAY", 60000) == "delayed"
    assert err_of(w2, "Q.NACK", jid, "ATTEMPT", 2) == \
        "job '%s' is not leased under attempt 2 (it is delayed, attempt 2)" % jid
    assert err_of(w2, "Q.NACK", "nope", "ATTEMPT", 2) == "NOJOB no such job 'nope'"


def test_expired_lease_reason_and_touch_refused(server):
    r = server.client()
    jid = push(r, "q", "x")
    pop1(r, "q", "LEASE", 100)
    time.sleep(0.3)
    assert err_of(r, "Q.TOUCH", jid) == "job '%s' is not leased (it is ready)" % jid
    j = rec(r.execute_command("Q.PEEK", "q")[0])
    assert j["state"] == "ready" and j["reason"] == "lease expired"
    assert int(j["attempt"]) == 1


def test_touch_extends_lease(server):
    r = server.client()
    jid = push(r, "q", "long")
    pop1(r, "q", "LEASE", 300)
    for _ in range(4):
        time.sleep(0.15)
        deadline = r.execute_command("Q.TOUCH", jid)
        assert deadline >= int(time.time() * 1000) + 200
    assert info(r, "q")["leased"] == 1
    d = r.execute_command("Q.TOUCH", jid, "LEASE", 60000)
    assert d >= int(time.time() * 1000) + 59000
    time.sleep(0.4)
    assert info(r, "q")["leased"] == 1


def test_nack_with_delay_and_reason(server):
    r = server.client()
    jid = push(r, "q", "x")
    pop1(r, "q")
    assert r.execute_command("Q.NACK", jid, "DELAY", 300, "REASON", "db down") == "delayed"
    assert pop1(r, "q") is None
    j = pop1(r, "q", "BLOCK", 3000)
    assert j["id"] == jid and int(j["attempt"]) == 2
    assert r.execute_command("Q.NACK", jid) == "ready"
    peek = rec(r.execute_command("Q.PEEK", "q")[0])
    assert peek["reason"] is None and int(peek["attempt"]) == 2


def test_max_attempts_dead_then_kick(server):
    r = server.client()
    jid = push(r, "q", "fragile", "MAXATTEMPTS", 2)
    pop1(r, "q")
    assert r.execute_command("Q.NACK", jid, "REASON", "first") == "ready"
    pop1(r, "q", "LEASE", 100)
    time.sleep(0.3)  # the lease runs out: second failed attempt -> dead
    assert info(r, "q")["dead"] == 1
    assert pop1(r, "q") is None
    dead = [rec(j) for j in r.execute_command("Q.DEAD", "q")]
    assert len(dead) == 1
    assert dead[0]["id"] == jid and dead[0]["state"] == "dead"
    assert dead[0]["reason"] == "lease expired" and int(dead[0]["attempt"]) == 2
    assert dead[0]["max_attempts"] == 2
    assert r.execute_command("Q.KICK", "q") == 1
    assert r.execute_command("Q.KICK", "q") == 0
    j = pop1(r, "q")
    assert j["id"] == jid and int(j["attempt"]) == 1
    assert r.execute_command("Q.NACK", jid) == "ready"
    pop1(r, "q")
    assert r.execute_command("Q.NACK", jid, "REASON", "again") == "dead"


def test_kick_count(server):
    r = server.client()
    for i in range(5):
        push(r, "q", "j%d" % i, "MAXATTEMPTS", 1, "ID", "k%d" % i)
    for j in pop(r, "q", "COUNT", 5):
        assert r.execute_command("Q.NACK", j["id"]) == "dead"
    assert [rec(j)["id"] for j in r.execute_command("Q.DEAD", "q", "COUNT", 2)] == ["k0", "k1"]
    assert r.execute_command("Q.KICK", "q", 2) == 2
    assert r.execute_command("Q.KICK", "q", "ALL") == 3
    assert r.execute_command("Q.KICK", "nosuch") == 0


def test_idempotent_push(server):
    r = server.client()
    assert push(r, "q", "one", "ID", "order-7") == "order-7"
    assert push(r, "q", "two", "ID", "order-7") == "order-7"
    assert push(r, "other", "three", "ID", "order-7") == "order-7"
    assert info(r)["jobs"] == 1
    assert r.execute_command("Q.QUEUES") == ["q"]
    j = pop1(r, "q")
    assert j["payload"] == "one"
    # while leased it is still the same job
    assert push(r, "q", "four", "ID", "order-7") == "order-7"
    assert info(r, "q")["ready"] == 0
    assert r.execute_command("Q.ACK", "order-7") == 1
    assert push(r, "q", "five", "ID", "order-7") == "order-7"
    assert pop1(r, "q")["payload"] == "five"


def test_ack_and_del(server):
    r = server.client()
    a, b, c = push(r, "q", "a"), push(r, "q", "b"), push(r, "q", "c", "DELAY", 10000)
    pop1(r, "q")
    assert r.execute_command("Q.ACK", a, "unknown", b) == 2
    assert r.execute_command("Q.ACK", a) == 0
    assert r.execute_command("Q.DEL", c) == 1
    assert err_of(r, "Q.DEL", c) == "NOJOB no such job '%s'" % c
    assert info(r) ["jobs"] == 0
    assert r.execute_command("Q.QUEUES") == []


def test_peek_info_queues(server):
    r = server.client()
    push(r, "zz", "1")
    for p in (3, 1, 4, 1, 5):
        push(r, "aa", "p%d" % p, "PRIORITY", p)
    push(r, "aa", "later", "DELAY", 60000)
    peek = [rec(j) for j in r.execute_command("Q.PEEK", "aa", "COUNT", 3)]
    assert [j["payload"] for j in peek] == ["p5", "p4", "p3"]
    assert all(j["state"] == "ready" for j in peek)
    assert set(peek[0]) == {"id", "queue", "payload", "state", "priority", "attempt",
                            "max_attempts", "reason"}
    assert len(r.execute_command("Q.PEEK", "aa")) == 5
    assert r.execute_command("Q.PEEK", "nosuch") == []
    assert info(r, "aa")["ready"] == 5       # peek changed nothing
    time.sleep(0.05)
    i = info(r, "aa")
    assert i == {"queue": "aa", "ready": 5, "delayed": 1, "leased": 0, "dead": 0,
                 "oldest_age_ms": i["oldest_age_ms"]}
    assert i["oldest_age_ms"] >= 40
    assert info(r, "nosuch")["ready"] == 0
    g = info(r)
    assert g["queues"] == 2 and g["jobs"] == 7 and g["ready"] == 6
    assert r.execute_command("Q.QUEUES") == ["aa", "zz"]
    text = r.execute_command("INFO", "queue")
    assert text["queue_jobs"] == 7


def test_blocking_pop_wakeup_order(server):
    r = server.client()
    conns = []
    for i in range(3):
        c = server.raw()
        c.send(resp_encode("Q.POP", "other", "q", "BLOCK", 10000))
        conns.append(c)
        assert wait_until(lambda: info(r)["blocked_clients"] == i + 1)
    for i in range(3):
        push(r, "q", "job%d" % i)
        reply = conns[i].read_reply(timeout=5)
        assert b"job%d" % i in reply, (i, reply)
        for later in conns[i + 1:]:
            with pytest.raises(TimeoutError):
                later.read_reply(timeout=0.1)
    assert info(r)["blocked_clients"] == 0


def test_block_timeout_and_disconnect(server):
    r = server.client()
    t0 = time.monotonic()
    assert r.execute_command("Q.POP", "q", "BLOCK", 200) == []
    assert 0.15 < time.monotonic() - t0 < 2
    c = server.raw()
    c.send(resp_encode("Q.POP", "q", "BLOCK", 0))
    assert wait_until(lambda: info(r)["blocked_clients"] == 1)
    c.close()
    assert wait_until(lambda: info(r)["blocked_clients"] == 0)
    push(r, "q", "x")       # nobody takes it: the disconnected popper is gone
    assert info(r, "q")["ready"] == 1


def test_blocking_pop_count_and_many_queues(server):
    r = server.client()
    result = {}

    def worker():
        w = server.client()
        result["jobs"] = pop(w, "a", "b", "COUNT", 5, "BLOCK", 5000)

    t = threading.Thread(target=worker)
    t.start()
    assert wait_until(lambda: info(r)["blocked_clients"] == 1)
    pipe = r.pipeline(transaction=False)
    pipe.execute_command("Q.PUSH", "b", "x")
    pipe.execute_command("Q.PUSH", "b", "y")
    pipe.execute()
    t.join(10)
    assert [j["payload"] for j in result["jobs"]] in (["x", "y"], ["x"])


def test_chunk_enqueue(server):
    r = server.client()
    assert r.execute_command("CHUNK.ENQUEUE", "camp", 1000000, "c42") == 100
    jobs = pop(r, "camp", "COUNT", 1000)
    assert len(jobs) == 100
    ranges = sorted(tuple(int(x) for x in j["payload"].split(" ")[:2]) for j in jobs)
    assert ranges[0] == (0, 9) and ranges[-1] == (990, 999)
    assert all(j["payload"].split(" ", 2)[2] == "c42" for j in jobs)
    covered = [b for lo, hi in ranges for b in range(lo, hi + 1)]
    assert covered == list(range(1000))
    assert r.execute_command("CHUNK.ENQUEUE", "small", 10, "p", "BUCKETS", 7) == 1
    assert pop1(r, "small")["payload"] == "0 6 p"
    assert r.execute_command("CHUNK.ENQUEUE", "t", 50, "p with spaces",
                             "TARGET", 10, "BUCKETS", 20) == 5
    assert pop1(r, "t")["payload"] == "0 3 p with spaces"


def test_error_texts(server):
    r = server.client()
    jid = push(r, "q", "x")
    e = lambda *a: err_of(r, *a)  # noqa: E731
    assert e("Q.NACK", "nope") == "NOJOB no such job 'nope'"
    assert e("Q.TOUCH", "nope") == "NOJOB no such job 'nope'"
    assert e("Q.DEL", "nope") == "NOJOB no such job 'nope'"
    assert e("Q.NACK", jid) == "job '%s' is not leased (it is ready)" % jid
    assert e("Q.TOUCH", jid) == "job '%s' is not leased (it is ready)" % jid
    assert e("Q.POP", "q", "LEASE", 0) == "LEASE must be 1..86400000 ms (got '0')"
    assert e("Q.POP", "q", "LEASE", 86400001).startswith("LEASE must be 1..86400000 ms")
    assert e("Q.POP", "q", "LEASE", "abc") == "LEASE must be 1..86400000 ms (got 'abc')"
    assert e("Q.POP", "q", "COUNT", 0) == "COUNT must be 1..1000 (got '0')"
    assert e("Q.POP", "q", "BLOCK", -1) == "BLOCK must be 0..86400000 ms (got '-1')"
    assert e("Q.POP", "q", "COUNT", 1, "FOO", 2) == "syntax error near 'FOO'"
    assert e("Q.POP", "q", "COUNT", 1, "LEASE") == "syntax error near 'LEASE'"
    assert e("Q.TOUCH", jid, "LEASE", 0) == "LEASE must be 1..86400000 ms (got '0')"
    assert e("Q.PUSH", "q", "x", "PRIORITY", "high") == \
        "PRIORITY must be -2147483648..2147483647 (got 'high')"
    assert e("Q.PUSH", "q", "x", "DELAY", -5) == "DELAY must be 0..31536000000 ms (got '-5')"
    assert e("Q.PUSH", "q", "x", "MAXATTEMPTS", 0) == "MAXATTEMPTS must be 1..1000000 (got '0')"
    assert e("Q.PUSH", "q", "x", "ID", "") == "job id must be 1 to 256 bytes (got 0)"
    assert e("Q.PUSH", "q", "x", "ID", "i" * 257) == "job id must be 1 to 256 bytes (got 257)"
    assert e("Q.PUSH", "", "x") == "queue name must be 1 to 256 bytes (got 0)"
    assert e("Q.PUSH", "q", "x", "BOGUS", 1) == "syntax error near 'BOGUS'"
    assert e("Q.PUSH", "q", "x", "PRIORITY") == "syntax error near 'PRIORITY'"
    assert e("Q.PUSH", "q", "x" * (1024 * 1024 + 1)) == \
        "payload is 1048577 bytes, over the limit of 1048576 (queue-max-payload)"
    assert e("Q.NACK", jid, "ATTEMPT", 0) == "ATTEMPT must be 1..4294967295 (got '0')"
    assert e("Q.TOUCH", jid, "ATTEMPT", "x") == "ATTEMPT must be 1..4294967295 (got 'x')"
    assert e("Q.NACK", jid, "DELAY", "soon") == "DELAY must be 0..31536000000 ms (got 'soon')"
    assert e("Q.PEEK", "q", "COUNT", 1001) == "COUNT must be 1..1000 (got '1001')"
    assert e("Q.DEAD", "q", "LIMIT", 1) == "syntax error near 'LIMIT'"
    assert e("Q.KICK", "q", "some") == \
        "KICK count must be 1..9223372036854775807 (or ALL) (got 'some')"
    assert e("Q.INFO", "q", "extra") == "syntax error near 'extra'"
    assert e("Q.PUSH", "q") == "wrong number of arguments for 'q.push' command"
    assert e("CHUNK.ENQUEUE", "c", "x", "p") == "total must be a non-negative integer"
    assert e("CHUNK.ENQUEUE", "c", 5, "p", "BUCKETS", 0) == "BUCKETS must be 1..1000000"
    assert e("CHUNK.ENQUEUE", "c", 5, "p", "TARGET", "z") == \
        "TARGET must be a positive whole number of rows"
    assert e("CHUNK.ENQUEUE", "c", 10 ** 12, "p" * 1000, "BUCKETS", 1000000,
             "TARGET", 1).startswith("CHUNK.ENQUEUE of 1000000 jobs would need about")
    assert info(r)["jobs"] == 1      # none of the failed commands changed anything


def test_payload_limit_is_configurable(server):
    r = server.client()
    r.config_set("queue-max-payload", "10")
    assert err_of(r, "Q.PUSH", "q", "x" * 11).startswith("payload is 11 bytes")
    assert push(r, "q", "x" * 10)


# ---------------------------------------------------------------------------
# durability
# ---------------------------------------------------------------------------

def test_state_survives_sigkill(server):
    r = server.client()
    push(r, "q", "ready", "ID", "r1", "PRIORITY", 3)
    push(r, "q", "delayed", "ID", "d1", "DELAY", 1500)
    push(r, "q", "leased", "ID", "l1", "PRIORITY", 9)
    push(r, "q2", "dies", "ID", "x1", "MAXATTEMPTS", 1)
    push(r, "q", "acked", "ID", "a1", "PRIORITY", 10)
    push(r, "q", "deleted", "ID", "del1")
    assert pop1(r, "q")["id"] == "a1"
    assert r.execute_command("Q.ACK", "a1") == 1
    assert r.execute_command("Q.DEL", "del1") == 1
    assert pop1(r, "q")["id"] == "l1"
    assert pop1(r, "q2")["id"] == "x1"
    assert r.execute_command("Q.NACK", "x1", "REASON", "broken input") == "dead"
    gen = push(r, "q3", "generated")
    server.restart(signal.SIGKILL)
    r = server.client()
    i = info(r)
    assert i["jobs"] == 5
    # the leased job ended its attempt: ready again with attempt 1 kept
    peek = {rec(j)["id"]: rec(j) for j in r.execute_command("Q.PEEK", "q")}
    assert set(peek) == {"l1", "r1"}
    assert int(peek["l1"]["attempt"]) == 1 and peek["l1"]["reason"] == "lease lost in a restart"
    dead = [rec(j) for j in r.execute_command("Q.DEAD", "q2")]
    assert [(d["id"], d["reason"]) for d in dead] == [("x1", "broken input")]
    assert info(r, "q")["delayed"] == 1
    j = pop1(r, "q")
    assert j["id"] == "l1" and int(j["attempt"]) == 2
    assert pop1(r, "q")["id"] == "r1"
    # generated ids keep growing after a restart
    assert int(push(r, "q3", "after")) > int(gen)
    # the delay kept its wall-clock end
    j = pop1(r, "q", "BLOCK", 5000)
    assert j["id"] == "d1"


def test_chunk_enqueue_survives_sigkill(server):
    r = server.client()
    assert r.execute_command("CHUNK.ENQUEUE", "camp", 200000, "p") == 20
    server.restart(signal.SIGKILL)
    r = server.client()
    assert info(r, "camp")["ready"] == 20


def _producer(server, stop, acked_push, errors, name):
    r = server.client(socket_timeout=5)
    n = 0
    while not stop.is_set():
        jid = "%s-%d" % (name, n)
        try:
            got = r.execute_command("Q.PUSH", "crash", jid, "ID", jid)
        except (redis.ConnectionError, redis.TimeoutError, OSError):
            time.sleep(0.05)
            try:
                r = server.client(socket_timeout=5)
            except Exception:
                pass
            continue
        if got != jid:
            errors.append("push %s replied %r" % (jid, got))
        acked_push.add(jid)
        n += 1


def _worker(server, stop, ack_sent, acked_done, errors):
    r = server.client(socket_timeout=5)
    while not stop.is_set():
        try:
            jobs = r.execute_command("Q.POP", "crash", "COUNT", 5, "LEASE", 2000,
                                     "BLOCK", 100)
            ids = [rec(j)["id"] for j in jobs]
            for jid in ids:
                if jid in acked_done:
                    errors.append("job %s came back after its ack" % jid)
            if ids:
                ack_sent.update(ids)  # done, even if the reply is lost
                n = r.execute_command("Q.ACK", *ids)
                acked_done.update(ids)
                if n != len(ids):
                    errors.append("ack of %d jobs counted %d" % (len(ids), n))
        except (redis.ConnectionError, redis.TimeoutError, OSError):
            time.sleep(0.05)
            try:
                r = server.client(socket_timeout=5)
            except Exception:
                pass


def test_crash_loop_no_acked_job_comes_back(server):
    acked_push, ack_sent, acked_done, errors = set(), set(), set(), []
    for rnd in range(4):
        stop = threading.Event()
        threads = [threading.Thread(target=_producer,
                                    args=(server, stop, acked_push, errors, "p%d%d" % (rnd, i)))
                   for i in range(2)]
        threads += [threading.Thread(target=_worker, args=(server, stop, ack_sent, acked_done, errors))
                    for _ in range(2)]
        for t in threads:
            t.start()
        time.sleep(0.7 + random.random() * 0.5)
        server.proc.send_signal(signal.SIGKILL)
        server.proc.wait()
        stop.set()
        for t in threads:
            t.join(15)
        server.start()
        r = server.client()
        # nothing acknowledged as done is back; every acknowledged push is
        # either done or still pending
        pending = set()
        for j in r.execute_command("Q.PEEK", "crash", "COUNT", 1000):
            pending.add(rec(j)["id"])
        i = info(r, "crash")
        assert i["leased"] == 0 and i["delayed"] == 0 and i["dead"] == 0
        assert i["ready"] <= 1000, "test too fast to check all pending jobs by PEEK"
        back = pending & acked_done
        assert not back, "acked jobs came back: %s" % sorted(back)[:10]
        lost = acked_push - ack_sent - pending
        assert not lost, "acked pushes lost: %s" % sorted(lost)[:10]
        assert not errors, errors[:10]
    assert len(acked_done) > 50


def test_compaction_bounds_disk_use(server):
    """Many pushes and acks while one old job stays leased: checkpoints keep
    the journal near the size of the live jobs."""
    r = server.client()
    push(r, "q", "old", "ID", "old-job")
    assert pop1(r, "q", "LEASE", 86400000)["id"] == "old-job"
    payload = "x" * 100
    batch = 500
    # 60,000 push+pop+ack cycles, pipelined (TINCAN_QUEUE_CYCLES=5000000 for
    # the full-size run)
    for b in range(int(os.environ.get("TINCAN_QUEUE_CYCLES", "60000")) // batch):
        pipe = r.pipeline(transaction=False)
        for i in range(batch):
            pipe.execute_command("Q.PUSH", "q", payload, "ID", "j%d-%d" % (b, i))
        pipe.execute()
        jobs = pop(r, "q", "COUNT", batch)
        assert len(jobs) == batch
        r.execute_command("Q.ACK", *[j["id"] for j in jobs])
    text = r.execute_command("INFO", "queue")
    assert text["queue_journal_checkpoints"] >= 2
    used = sum(os.path.getsize(os.path.join(server.dir, f))
               for f in os.listdir(server.dir) if f.startswith("queues."))
    assert used < 12 * 1024 * 1024, used
    server.restart(signal.SIGKILL)
    r = server.client()
    assert info(r)["jobs"] == 1
    assert rec(r.execute_command("Q.PEEK", "q")[0])["id"] == "old-job"
