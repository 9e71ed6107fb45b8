"""GET /metrics and GET /api/overview (src/ops/cmd_metrics.c, overview.c,
docs/operations.md "Metrics" and "Overview API").

One server gets real traffic through RESP: events of two types from a named
producer, a durable subscription with reads, an ack, a nack that makes a dead
letter and an entry left held, a second subscription that redelivers, a third
that never read (lag), queues with ready, leased, delayed and dead jobs, a
held lock with a waiter, a ring member. Then /metrics must parse strictly
(metrics_helpers.parse_exposition) and each number must equal the server's
state as the test made it (and as RESP commands report it); /api/overview must
carry the same numbers. The scrapes are fetched with http.client; nothing here
is timed.
"""

import json
import re
import socket
import time

import pytest

from conftest import call, resp_encode
from metrics_helpers import http_get, parse_exposition
from test_http import http_server

ORDER_PAYLOADS = [b'{"id":1}', b'{"id":22}', b'{"id":333}']
USER_PAYLOADS = [b"alice", b"bob-the-user"]


def as_dict(reply):
    """A RESP2 flat [k, v, k, v] list (or a RESP3 map) as a dict of str keys."""
    if isinstance(reply, dict):
        return {k.decode() if isinstance(k, bytes) else k: v for k, v in reply.items()}
    it = iter(reply)
    return {(k.decode() if isinstance(k, bytes) else k): v for k, v in zip(it, it)}


def info_lines(r, section):
    out = {}
    for line in call(r, "INFO", section).decode().split("\r\n"):
        if ":" in line and not line.startswith("#"):
            k, v = line.split(":", 1)
            out[k] = v
    return out


@pytest.fixture
def busy(tincan):
    """A server with the traffic the module docstring lists, and what was done."""
    s = http_server(tincan)
    prod = s.client(decode_responses=False)
    call(prod, "CLIENT", "SETNAME", "orders")
    for p in ORDER_PAYLOADS:
        call(prod, "EV.PUB", "order.created", p)
    for p in USER_PAYLOADS:
        call(prod, "EV.PUB", "user.signup", p)

    r = s.client(decode_responses=False)
    # billing: 3 reads, 1 ack, 1 nack -> dead (MAXDELIVER 1), 1 left held
    call(r, "EV.SUB", "billing", "order.*", "FROM", "BEGINNING", "MAXDELIVER", "1")
    got = [as_dict(e) for e in call(r, "EV.READ", "billing", "billing-1", "COUNT", "10")]
    assert len(got) == 3
    pos = [int(e["position"]) for e in got]
    assert call(r, "EV.ACK", "billing", pos[0]) == 1
    assert call(r, "EV.NACK", "billing", pos[1]) == b"dead"
    # retry: one event delivered twice (a nack back to ready, then read again)
    call(r, "EV.SUB", "retry", "user.*", "FROM", "BEGINNING")
    first = as_dict(call(r, "EV.READ", "retry", "r1", "COUNT", "1")[0])
    assert call(r, "EV.NACK", "retry", int(first["position"])) == b"ready"
    again = as_dict(call(r, "EV.READ", "retry", "r1", "COUNT", "1")[0])
    assert again["position"] == first["position"]
    # audit: never read, so it lags from the first event on
    call(r, "EV.SUB", "audit", "*.*", "FROM", "BEGINNING")

    # queues: emails has 1 ready, 1 leased, 1 delayed; bad has 1 dead
    call(r, "Q.PUSH", "emails", "a")
    call(r, "Q.PUSH", "emails", "b")
    call(r, "Q.PUSH", "emails", "c", "DELAY", "600000")
    popped = call(r, "Q.POP", "emails", "LEASE", "600000")
    assert popped
    call(r, "Q.PUSH", "bad", "x", "MAXATTEMPTS", "1")
    job = call(r, "Q.POP", "bad", "LEASE", "600000")
    bad_id = as_dict(job[0] if isinstance(job[0], (list, dict)) else job)["id"]
    assert call(r, "Q.NACK", bad_id) == b"dead"

    # a lock held by w1 with w2 waiting on a connection of its own
    token = call(r, "LOCK.ACQUIRE", "cron", "w1", "600000")
    waiter = socket.create_connection((s.host, s.port), timeout=5)
    waiter.sendall(resp_encode("LOCK.ACQUIRE", "cron", "w2", "600000", "WAIT", "60000"))
    deadline = time.monotonic() + 5
    while info_lines(r, "lock").get("lock_waiters") != "1":
        assert time.monotonic() < deadline, "the lock waiter never queued"
        time.sleep(0.02)

    call(r, "RING.JOIN", "api", "10.0.0.1:8080", "WEIGHT", "3")
    yield {"server": s, "r": r, "token": token, "billing_pos": pos}
    waiter.close()


def scrape(s):
    status, headers, body = http_get(s.http_port, "/metrics")
    assert status == 200
    assert headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    return parse_exposition(body.decode())


def test_metrics_parse_and_match_the_state(busy):
    s, r = busy["server"], busy["r"]
    fam = scrape(s)

    # per type: counts and payload bytes of what was published
    assert fam["tincan_events_published_total"].by("type") == {
        "order.created": 3, "user.signup": 2}
    assert fam["tincan_events_published_bytes_total"].by("type") == {
        "order.created": sum(map(len, ORDER_PAYLOADS)),
        "user.signup": sum(map(len, USER_PAYLOADS))}
    prod = fam["tincan_type_producer_events_total"]
    assert prod.value(type="order.created", producer="orders") == 3
    assert prod.value(type="user.signup", producer="orders") == 2

    # store
    persistence = info_lines(r, "persistence")
    assert fam["tincan_store_events"].value() == 5
    assert fam["tincan_store_head_position"].value() == 5
    assert fam["tincan_store_bytes"].value() == int(persistence["store_bytes"])
    assert fam["tincan_store_segments"].value() == int(persistence["store_segments"])
    # fsync always (the default): publishes and journal writes were synced
    fsync = fam["tincan_store_fsync_duration_seconds"]
    assert fsync.type == "histogram"
    count = [v for n, ls, v in fsync.samples if n.endswith("_count")][0]
    assert count >= 5

    # subscriptions
    def sub(name, family):
        return fam["tincan_subscription_" + family].value(subscription=name)
    assert (sub("billing", "held"), sub("billing", "ready"), sub("billing", "dead"),
            sub("billing", "pending")) == (1, 0, 1, 1)
    assert sub("billing", "delivered_total") == 3
    assert sub("billing", "redelivered_total") == 0
    assert sub("retry", "delivered_total") == 2
    assert sub("retry", "redelivered_total") == 1
    assert sub("retry", "held") == 1
    assert sub("audit", "held") == 0
    assert sub("audit", "lag_events") == 5  # never read: every position
    assert 0 <= sub("audit", "lag_seconds") < 120
    bus = info_lines(r, "bus")
    lags = {}
    for k, v in bus.items():
        if re.fullmatch(r"bus_sub\d+", k):
            f = dict(x.split("=", 1) for x in v.split(","))
            lags[f["name"]] = int(f["lag"])
    assert {n: sub(n, "lag_events") for n in lags} == lags
    assert fam["tincan_subscriptions"].value() == 3
    assert fam["tincan_bus_acks_total"].value() == 1

    # queues
    def q(name, family):
        return fam["tincan_queue_" + family].value(queue=name)
    assert (q("emails", "ready_jobs"), q("emails", "leased_jobs"),
            q("emails", "delayed_jobs"), q("emails", "dead_jobs")) == (1, 1, 1, 0)
    assert (q("bad", "ready_jobs"), q("bad", "dead_jobs")) == (0, 1)
    assert 0 < q("emails", "oldest_job_age_seconds") < 120
    assert q("bad", "oldest_job_age_seconds") == 0  # its only job is dead
    assert fam["tincan_queues"].value() == 2

    # locks
    assert fam["tincan_locks_held"].value() == 1
    assert fam["tincan_locks_waiting_clients"].value() == 1
    assert fam["tincan_lock_waiters"].value(lock="cron") == 1
    assert fam["tincan_lock_fencing_token"].value(lock="cron") == busy["token"]
    assert 590 < fam["tincan_lock_expires_in_seconds"].value(lock="cron") <= 600

    # ring
    assert fam["tincan_ring_member_up"].value(ring="api", member="10.0.0.1:8080") == 1
    assert fam["tincan_ring_member_weight"].value(ring="api",
                                                  member="10.0.0.1:8080") == 3
    assert fam["tincan_ring_members"].value(ring="api") == 1

    # server: the test's two clients and the waiter are connected
    assert fam["tincan_clients_connected"].value() == 3
    stats = info_lines(r, "stats")
    processed = fam["tincan_commands_processed_total"].value()
    assert 0 < processed <= int(stats["total_commands_processed"])
    assert fam["tincan_build_info"].value(version="0.1.0") == 1
    # journals: one family, a sample per journaled module
    assert set(fam["tincan_journal_log_bytes"].by("journal")) >= {
        "bus", "queue", "lock", "types"}


def test_overview_carries_the_same_numbers(busy):
    s = busy["server"]
    status, headers, body = http_get(s.http_port, "/api/overview")
    assert status == 200
    assert headers["content-type"] == "application/json"
    o = json.loads(body)
    fam = scrape(s)

    assert o["server"]["version"] == "0.1.0"
    assert o["server"]["clients"] == 3
    assert o["server"]["store"]["events"] == 5
    assert o["server"]["store"]["head"] == 5
    assert o["server"]["store"]["segments"] == fam["tincan_store_segments"].value()
    assert abs(o["server"]["now_ms"] / 1000 - time.time()) < 60

    types = o["types"]
    assert [t["type"] for t in types] == ["order.created", "user.signup"]
    assert types[0]["published"] == 3
    assert types[0]["bytes"] == sum(map(len, ORDER_PAYLOADS))
    assert types[0]["owner"] is None and types[0]["schema"] is None
    assert [(p["name"], p["count"]) for p in types[0]["producers"]] == [("orders", 3)]
    assert isinstance(types[0]["producers"][0]["last_seen_ms"], int)

    subs = {x["name"]: x for x in o["subscriptions"]}
    assert [x["name"] for x in o["subscriptions"]] == ["audit", "billing", "retry"]
    b = subs["billing"]
    assert b["patterns"] == ["order.*"] and b["durable"] is True
    assert (b["held"], b["ready"], b["dead"], b["delivered"], b["redelivered"]) == (
        1, 0, 1, 3, 0)
    assert b["consumers"] == [{"name": "billing-1", "held": 1}]
    assert subs["retry"]["redelivered"] == 1
    for name, x in subs.items():
        m = fam["tincan_subscription_lag_events"].value(subscription=name)
        assert x["lag_events"] == m
    assert subs["audit"]["lag_events"] == 5
    assert subs["audit"]["lag_seconds"] >= 0

    assert o["queues"] == [
        {"name": "bad", "ready": 0, "leased": 0, "delayed": 0, "dead": 1,
         "oldest_age_seconds": 0},
        {"name": "emails", "ready": 1, "leased": 1, "delayed": 1, "dead": 0,
         "oldest_age_seconds": o["queues"][1]["oldest_age_seconds"]}]
    assert 0 < o["queues"][1]["oldest_age_seconds"] < 120

    [lock] = o["locks"]
    assert (lock["name"], lock["holder"], lock["fencing_token"], lock["waiters"]) == (
        "cron", "w1", busy["token"], 1)
    assert 590000 < lock["expires_in_ms"] <= 600000

    assert o["ring"] == [{"ring": "api", "member": "10.0.0.1:8080",
                          "addr": "10.0.0.1:8080", "healthy": True, "weight": 3,
                          "expires_in_ms": None}]


def test_counts_follow_new_traffic(busy):
    s, r = busy["server"], busy["r"]
    before = scrape(s)["tincan_events_published_total"].value(type="order.created")
    for _ in range(4):
        call(r, "EV.PUB", "order.created", b"{}")
    fam = scrape(s)
    assert fam["tincan_events_published_total"].value(type="order.created") == before + 4
    assert fam["tincan_subscription_lag_events"].value(subscription="audit") == 9


def test_names_are_escaped(tincan):
    """A subscription and a queue whose names need escaping in both formats."""
    s = http_server(tincan)
    r = s.client(decode_responses=False)
    odd = 'we"ird\\name'
    call(r, "EV.SUB", odd, "x.*")
    call(r, "Q.PUSH", odd, "job")
    fam = scrape(s)
    assert fam["tincan_subscription_held"].value(subscription=odd) == 0
    assert fam["tincan_queue_ready_jobs"].value(queue=odd) == 1
    o = json.loads(http_get(s.http_port, "/api/overview")[2])
    assert [x["name"] for x in o["subscriptions"]] == [odd]
    assert [x["name"] for x in o["queues"]] == [odd]


def test_empty_server(tincan):
    """No traffic: every family still parses; lists are empty, not missing."""
    s = http_server(tincan)
    fam = scrape(s)
    assert fam["tincan_store_events"].value() == 0
    assert fam["tincan_events_published_total"].samples == []
    o = json.loads(http_get(s.http_port, "/api/overview")[2])
    assert (o["types"], o["subscriptions"], o["queues"], o["locks"], o["ring"]) == (
        [], [], [], [], [])


def test_requirepass_guards_both_routes(tincan):
    s = http_server(tincan, "--requirepass", "s3cret")
    for path in ("/metrics", "/api/overview"):
        assert http_get(s.http_port, path)[0] == 401
        status, _, body = http_get(s.http_port, path,
                                   {"Authorization": "Bearer s3cret"})
        assert status == 200 and body


def test_stream_group_pending(tincan):
    s = http_server(tincan)
    r = s.client(decode_responses=False)
    for i in range(4):
        call(r, "XADD", "orders", "*", "n", str(i))
    call(r, "XGROUP", "CREATE", "orders", "g1", "0")
    call(r, "XREADGROUP", "GROUP", "g1", "c1", "COUNT", "3", "STREAMS", "orders", ">")
    fam = scrape(s)
    assert fam["tincan_stream_group_pending"].value(stream="orders", group="g1") == 3
    assert fam["tincan_stream_entries_added_total"].value() == 4
    assert fam["tincan_stream_entries_delivered_total"].value() == 3


def test_archive_lag(tincan, tmp_path):
    """Without --archive-to there are no archive families; with it, the lag
    counts what is not archived yet and drops to 0 after ARCHIVE.FLUSH."""
    plain = http_server(tincan)
    assert not [f for f in scrape(plain) if f.startswith("tincan_archive_")]
    s = http_server(tincan, "--archive-to", str(tmp_path / "archive"),
                    "--archive-max-age", "3600")
    r = s.client(decode_responses=False)
    for i in range(5):
        call(r, "EV.PUB", "order.created", b'{"n":%d}' % i)
    fam = scrape(s)
    assert fam["tincan_archive_lag_events"].value() == 5
    assert fam["tincan_archive_lag_seconds"].value() >= 0
    call(r, "ARCHIVE.FLUSH")
    deadline = time.monotonic() + 60
    while scrape(s)["tincan_archive_lag_events"].value() != 0:
        assert time.monotonic() < deadline, "archive lag never reached 0"
        time.sleep(0.05)
    fam = scrape(s)
    assert fam["tincan_archive_position"].value() == 5
    assert fam["tincan_archive_events_total"].value() == 5
    assert fam["tincan_archive_lag_seconds"].value() == 0



def read_responses(sock, methods, timeout=10.0):
    """The responses to requests of these methods, read off sock in order:
    [(status, {lower-case header: value}, body)] (a HEAD reply has no body)."""
    sock.settimeout(timeout)
    buf, out = b"", []
    for method in methods:
        while b"\r\n\r\n" not in buf:
            chunk = sock.recv(65536)
            assert chunk, "connection closed after %d responses" % len(out)
            buf += chunk
        head, buf = buf.split(b"\r\n\r\n", 1)
        lines = head.decode().split("\r\n")
        headers = {k.lower(): v.strip() for k, v in
                   (line.split(":", 1) for line in lines[1:])}
        n = 0 if method == "HEAD" else int(headers["content-length"])
        while len(buf) < n:
            chunk = sock.recv(65536)
            assert chunk, "connection closed inside a body"
            buf += chunk
        out.append((int(lines[0].split()[1]), headers, buf[:n]))
        buf = buf[n:]
    assert buf == b"", "bytes after the last response"
    return out


def test_large_scrapes_pipelined_on_one_connection(tincan):
    """A /metrics body past 64 KiB goes out as its own buffer, and its memory
    is reused by the next scrape: pipelined requests around large scrapes
    still get their replies whole and in order; HEAD gives the length alone."""
    s = http_server(tincan)
    r = s.client(decode_responses=False)
    p = r.pipeline(transaction=False)
    for i in range(1500):
        p.execute_command("Q.PUSH", "bigqueue-%04d" % i, "job")
    p.execute()
    reqs = [("GET", "/metrics"), ("GET", "/healthz"), ("GET", "/metrics"),
            ("HEAD", "/metrics"), ("GET", "/healthz"), ("GET", "/metrics")]
    with socket.create_connection(("127.0.0.1", s.http_port)) as sock:
        sock.sendall(b"".join(("%s %s HTTP/1.1\r\nHost: t\r\n\r\n" % rq).encode()
                              for rq in reqs))
        got = read_responses(sock, [m for m, _ in reqs])
    assert [g[0] for g in got] == [200] * 6
    assert got[1][2] == got[4][2] == b"ok\n"
    scrapes = [got[0][2], got[2][2], got[5][2]]
    for body in scrapes:
        assert len(body) > 64 * 1024
        fams = parse_exposition(body.decode())
        queues = {ls["queue"] for name, ls, _ in fams["tincan_queue_ready_jobs"].samples}
        assert len(queues) == 1500
    # the HEAD reply announces a body as long as a GET's, give or take the
    # digits of the values that moved between them (uptime, timings, counts)
    assert abs(int(got[3][1]["content-length"]) - len(scrapes[1])) < len(scrapes[1]) // 100
