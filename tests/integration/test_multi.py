"""MULTI / EXEC / DISCARD / WATCH / UNWATCH (Redis 7.0 semantics) against the
real server, with tincan's own write commands inside transactions."""

import pytest
import redis

from conftest import call, resp_encode


def rec(r):
    """A record reply (RESP3 map or RESP2 flat array) as a dict."""
    if isinstance(r, dict):
        return dict(r)
    return dict(zip(r[::2], r[1::2]))


def err_of(r, *args):
    with pytest.raises(redis.ResponseError) as e:
        call(r, *args)
    return str(e.value)


def test_exec_runs_writes_in_order_and_they_stay(server):
    r = server.client()
    assert call(r, "MULTI") == "OK"
    assert call(r, "Q.PUSH", "jobs", "one") == "QUEUED"
    assert call(r, "EV.PUB", "order.created", "payload-1") == "QUEUED"
    assert call(r, "LOCK.ACQUIRE", "res", "me", 5000) == "QUEUED"
    assert call(r, "Q.PUSH", "jobs", "two") == "QUEUED"
    assert call(r, "PING") == "QUEUED"
    out = call(r, "EXEC")
    assert len(out) == 5
    job1, pos, token, job2, pong = out
    assert isinstance(job1, str) and isinstance(job2, str) and job1 != job2
    assert isinstance(pos, int) and pos >= 1
    assert isinstance(token, int) and token >= 1
    assert pong == "PONG"
    # the writes are really there
    ev = rec(call(r, "EV.GET", pos))
    assert ev["type"] == "order.created" and ev["payload"] == "payload-1"
    popped = [rec(j) for j in call(r, "Q.POP", "jobs", "COUNT", 10)]
    assert [j["payload"] for j in popped] == ["one", "two"]
    assert call(r, "LOCK.CHECK", "res", token) == 1


def test_exec_reply_with_a_durable_write_comes_whole_and_in_order(server):
    # EV.PUB's reply is held until fsync: the EXEC array around it must be
    # held with it, and the replies after it must follow it.
    c = server.raw()
    c.send(resp_encode("PING", "before") + resp_encode("MULTI") +
           resp_encode("EV.PUB", "t.x", "a") + resp_encode("ECHO", "mid") +
           resp_encode("EV.PUB", "t.x", "b") + resp_encode("EXEC") +
           resp_encode("PING", "after"))
    replies = c.read_replies(7)
    assert replies[0] == b"$6\r\nbefore\r\n"
    assert replies[1] == b"+OK\r\n"
    assert replies[2:5] == [b"+QUEUED\r\n"] * 3
    ex = replies[5]
    assert ex.startswith(b"*3\r\n:") and b"$3\r\nmid\r\n" in ex
    assert replies[6] == b"$5\r\nafter\r\n"


def test_execabort_after_a_queue_time_error(server):
    r = server.client()
    r.execute_command("Q.PUSH", "q", "before")
    assert call(r, "MULTI") == "OK"
    assert call(r, "Q.PUSH", "q", "x") == "QUEUED"
    assert "unknown command 'NOSUCH'" in err_of(r, "NOSUCH", "a")
    assert err_of(r, "Q.PUSH", "q") == "wrong number of arguments for 'q.push' command"
    assert call(r, "PING") == "QUEUED"
    with pytest.raises(redis.exceptions.ExecAbortError) as e:  # -EXECABORT
        call(r, "EXEC")
    assert str(e.value) == "Transaction discarded because of previous errors."
    # nothing of it ran, and the connection left MULTI
    assert [rec(j)["payload"] for j in call(r, "Q.POP", "q", "COUNT", 10)] == ["before"]
    assert err_of(r, "EXEC") == "EXEC without MULTI"


def test_runtime_errors_stay_inside_the_array(server):
    r = server.client()
    call(r, "MULTI")
    call(r, "Q.PUSH", "q", "x", "PRIORITY", "high")   # bad option: fails when run
    call(r, "ECHO", "still")
    out = call(r, "EXEC")
    assert isinstance(out[0], redis.ResponseError)
    assert out[1] == "still"


def test_discard_and_the_misuse_errors(server):
    r = server.client()
    assert err_of(r, "EXEC") == "EXEC without MULTI"
    assert err_of(r, "DISCARD") == "DISCARD without MULTI"
    assert call(r, "MULTI") == "OK"
    assert err_of(r, "MULTI") == "MULTI calls can not be nested"
    assert err_of(r, "WATCH", "k") == "WATCH inside MULTI is not allowed"
    assert call(r, "Q.PUSH", "dq", "x") == "QUEUED"
    assert call(r, "DISCARD") == "OK"
    assert call(r, "Q.INFO", "dq") is None or rec(call(r, "Q.INFO", "dq"))["ready"] == 0
    assert call(r, "Q.POP", "dq") == []
    # nesting and WATCH inside MULTI do not doom the transaction (Redis 7.0)
    call(r, "MULTI")
    with pytest.raises(redis.ResponseError):
        call(r, "MULTI")
    call(r, "ECHO", "ok")
    assert call(r, "EXEC") == ["ok"]
    assert err_of(r, "WATCH") == "wrong number of arguments for 'watch' command"


def test_watch_flushall_from_another_client(server):
    r, other = server.client(), server.client()
    # A watched key that does not exist is not touched by FLUSHALL/FLUSHDB
    # (Redis 7.0 "FLUSHALL does not touch non affected keys"): EXEC runs.
    assert call(r, "WATCH", "k1", "k2") == "OK"
    assert call(other, "FLUSHALL") == "OK"
    assert call(other, "FLUSHDB", "ASYNC") == "OK"
    call(r, "MULTI")
    call(r, "PING")
    assert call(r, "EXEC") == ["PONG"]
    # UNWATCH, then a transaction runs
    assert call(r, "WATCH", "k1") == "OK"
    assert call(r, "UNWATCH") == "OK"
    call(r, "MULTI")
    call(r, "Q.PUSH", "wq", "x")
    out = call(r, "EXEC")
    assert len(out) == 1 and isinstance(out[0], str)
    assert call(r, "UNWATCH") == "OK"   # nothing watched: still OK


def test_watch_state_dies_with_the_connection_and_after_exec(server):
    # many clients WATCH and leave (with and without MULTI open); the server
    # must free their state (ASan's leak check at exit) and stay consistent
    for i in range(20):
        c = server.raw()
        c.cmd("WATCH", "a", "b", "k%d" % i)
        if i % 2:
            c.cmd("MULTI")
            c.cmd("Q.PUSH", "never", "x")
        c.close()
    r = server.client()
    assert call(r, "Q.POP", "never") == []
    assert call(r, "WATCH", "a") == "OK"
    call(r, "MULTI")
    assert call(r, "EXEC") == []
    assert call(r, "DBSIZE") == 0


def test_exec_null_reply_shapes(server):
    # EXECABORT is an error in either protocol; a WATCH abort would be *-1 /
    # _ (not reachable without a key class; see tests/unit/test_keyspace.c)
    for proto in (2, 3):
        c = server.raw()
        if proto == 3:
            c.cmd("HELLO", "3")
        assert c.cmd("MULTI") == b"+OK\r\n"
        c.cmd("NOSUCH")
        assert c.cmd("EXEC").startswith(b"-EXECABORT ")


def test_blocking_commands_do_not_block_inside_exec(server):
    r = server.client()
    call(r, "LOCK.ACQUIRE", "held", "someone", 10000)
    call(r, "MULTI")
    call(r, "Q.POP", "empty", "BLOCK", 0)
    call(r, "LOCK.ACQUIRE", "held", "me", 1000, "WAIT", 0)
    call(r, "ECHO", "done")
    assert call(r, "EXEC") == [[], None, "done"]


def test_quit_and_reset_inside_multi(server):
    c = server.raw()
    assert c.cmd("MULTI") == b"+OK\r\n"
    assert c.cmd("Q.PUSH", "rq", "x") == b"+QUEUED\r\n"
    assert c.cmd("RESET") == b"+RESET\r\n"           # runs at once, drops the queue
    assert c.cmd("EXEC") == b"-ERR EXEC without MULTI\r\n"
    assert c.cmd("MULTI") == b"+OK\r\n"
    assert c.cmd("Q.PUSH", "rq", "y") == b"+QUEUED\r\n"
    assert c.cmd("QUIT") == b"+OK\r\n"               # runs at once, closes
    assert c.is_closed()
    r = server.client()
    assert call(r, "Q.POP", "rq") == []


def test_reset_clears_connection_state(tincan):
    s = tincan("--requirepass", "pw")
    c = s.raw()
    assert c.cmd("AUTH", "pw") == b"+OK\r\n"
    c.cmd("SELECT", "3")
    c.cmd("CLIENT", "SETNAME", "n1")
    assert c.cmd("RESET") == b"+RESET\r\n"
    assert c.cmd("PING").startswith(b"-NOAUTH")
    assert c.cmd("AUTH", "pw") == b"+OK\r\n"
    assert c.cmd("CLIENT", "GETNAME") == b"$-1\r\n"
    # MULTI needs AUTH like any command; RESET does not
    c2 = s.raw()
    assert c2.cmd("MULTI").startswith(b"-NOAUTH")
    assert c2.cmd("RESET") == b"+RESET\r\n"


def test_auth_and_hello_queue_and_run_in_exec(tincan):
    s = tincan("--requirepass", "pw")
    c = s.raw()
    c.cmd("AUTH", "pw")
    assert c.cmd("MULTI") == b"+OK\r\n"
    assert c.cmd("HELLO", "3") == b"+QUEUED\r\n"
    assert c.cmd("AUTH", "wrong") == b"+QUEUED\r\n"
    assert c.cmd("PING") == b"+QUEUED\r\n"
    ex = c.cmd("EXEC")
    # HELLO's map (RESP3 from then on), WRONGPASS, then NOAUTH for PING
    assert ex.startswith(b"*3\r\n%")
    assert b"-WRONGPASS" in ex and ex.endswith(b"-NOAUTH Authentication required.\r\n")


def test_redis_py_transaction_pipeline(server):
    r = server.client()
    with r.pipeline(transaction=True) as p:
        p.execute_command("Q.PUSH", "pq", "a")
        p.execute_command("Q.PUSH", "pq", "b")
        p.execute_command("EV.PUB", "t.p", "x")
        p.ping()
        out = p.execute()
    assert len(out) == 4 and out[3] is True
    assert [rec(j)["payload"] for j in call(r, "Q.POP", "pq", "COUNT", 5)] == ["a", "b"]
    # WATCH through redis-py's pipeline API, then a transaction
    with r.pipeline(transaction=True) as p:
        p.watch("some-key")
        # immediate mode after WATCH; the event type t.p is a stream key
        assert p.execute_command("DBSIZE") == 1
        p.multi()
        p.execute_command("EXISTS", "some-key")
        assert p.execute() == [0]
    # a queue-time error surfaces as redis-py's ExecAbort/ResponseError
    with r.pipeline(transaction=True) as p:
        p.execute_command("Q.PUSH", "pq")
        with pytest.raises(redis.ResponseError):
            p.execute()


def test_resp3_exec(server):
    r = server.client(protocol=3)
    call(r, "MULTI")
    call(r, "Q.PUSH", "r3", "x")
    call(r, "EXISTS", "nope")
    out = call(r, "EXEC")
    assert isinstance(out[0], str) and out[1] == 0


@pytest.mark.tincan_args("--client-query-buffer-limit", "1mb")
def test_queue_is_bounded(server):
    c = server.raw(timeout=30)
    c.cmd("Q.PUSH", "bq", "kept")
    assert c.cmd("MULTI") == b"+OK\r\n"
    big = "x" * (200 * 1024)
    replies = []
    for _ in range(8):   # 1.6 MB of arguments against a 1 MB limit
        replies.append(c.cmd("Q.PUSH", "bq", big))
    assert replies[0] == b"+QUEUED\r\n"
    errs = [x for x in replies if x.startswith(b"-")]
    assert len(errs) == 1
    assert b"client-query-buffer-limit" in errs[0]
    assert replies[-1] == b"+QUEUED\r\n"        # still in MULTI, doomed
    assert c.cmd("EXEC").startswith(b"-EXECABORT")
    r = server.client()
    assert [rec(j)["payload"] for j in call(r, "Q.POP", "bq", "COUNT", 20)] == ["kept"]
