"""The operations HTTP listener (src/ops/http.c, docs/operations.md).

Each test starts the real server with `--http-port <a free port>` and talks
to it with http.client or a plain socket for exact bytes: good requests,
keep-alive, pipelining, HTTP/1.0, every limit (405, 413, 400, 431, 414, 408,
503), auth, and the bind failure. After every bad-input case the RESP side
still answers PING and the HTTP side still serves /healthz. Every wait is
bounded; nothing here times the server for a benchmark.
"""

import base64
import http.client
import socket
import time

import pytest

HOST = "127.0.0.1"
IO_TIMEOUT = 5.0  # s, any single exchange


def free_port():
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def http_server(tincan, *args):
    """A started server with an HTTP listener on a free port (.http_port).
    A port taken between the probe and the server's bind is retried."""
    for attempt in range(3):
        port = free_port()
        s = tincan("--http-port", str(port), *args, start=False)
        try:
            s.start()
        except pytest.fail.Exception:
            if attempt == 2 or "address already in use" not in s.stderr_text():
                raise
            continue
        s.http_port = port
        return s
    raise AssertionError("unreachable")


def connect(s):
    sock = socket.create_connection((HOST, s.http_port), timeout=IO_TIMEOUT)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def read_until_close(sock, timeout=IO_TIMEOUT):
    """All bytes until the server closes; fails if it does not in time."""
    deadline = time.monotonic() + timeout
    data = b""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            pytest.fail("server did not close the connection within %.1f s; got %r"
                        % (timeout, data[:300]))
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            return data
        except socket.timeout:
            continue
        if not chunk:
            return data
        data += chunk


def parse(data, heads=()):
    """Splits bytes into [(status, headers (lower-case names), body)]; the
    i-th response has no body if i is in heads (a HEAD reply)."""
    out = []
    while data:
        end = data.index(b"\r\n\r\n")
        lines = data[:end].decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ")[1])
        assert lines[0].startswith("HTTP/1.1 "), lines[0]
        headers = {}
        for line in lines[1:]:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
        n = 0 if len(out) in heads else int(headers["content-length"])
        body = data[end + 4:end + 4 + n]
        assert len(body) == n, "short body: %r" % data
        out.append((status, headers, body))
        data = data[end + 4 + n:]
    return out


def read_response(sock, head=False, timeout=IO_TIMEOUT):
    """Exactly one response from a connection that stays open."""
    deadline = time.monotonic() + timeout
    data = b""
    while True:
        if b"\r\n\r\n" in data:
            end = data.index(b"\r\n\r\n")
            hdr = data[:end].decode("latin-1").lower()
            n = 0
            for line in hdr.split("\r\n")[1:]:
                if line.startswith("content-length:"):
                    n = int(line.split(":", 1)[1])
            if head or len(data) >= end + 4 + n:
                assert len(data) == end + 4 + (0 if head else n), data
                return parse(data, heads=(0,) if head else ())[0]
        left = deadline - time.monotonic()
        if left <= 0:
            pytest.fail("no whole response within %.1f s; got %r" % (timeout, data))
        sock.settimeout(left)
        chunk = sock.recv(65536)
        if not chunk:
            pytest.fail("connection closed mid-response: %r" % data)
        data += chunk


def exchange(s, raw, timeout=IO_TIMEOUT):
    """Sends raw bytes, returns everything until the server closes."""
    with connect(s) as sock:
        sock.sendall(raw)
        return read_until_close(sock, timeout)


def get(s, path, headers=None, method="GET"):
    c = http.client.HTTPConnection(HOST, s.http_port, timeout=IO_TIMEOUT)
    try:
        c.request(method, path, headers=headers or {})
        r = c.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        c.close()


def assert_healthy(s, password=None):
    """The RESP side and the HTTP side both still serve."""
    assert s.client(password=password).ping() is True
    status, _, body = get(s, "/healthz")
    assert (status, body) == (200, b"ok\n")


def assert_error(data, status, why):
    """One error reply with a text body naming the reason, then the close."""
    (st, headers, body), = parse(data)
    assert st == status, data
    assert headers["connection"] == "close"
    assert headers["content-type"].startswith("text/plain")
    assert body.startswith(b"%d " % status) and why.encode() in body, body
    return headers


# ---- good requests ----

def test_healthz_get_and_readiness_line(tincan):
    s = http_server(tincan)
    assert "tincan http port=%d\n" % s.http_port in s.stdout_text()
    status, headers, body = get(s, "/healthz")
    assert status == 200 and body == b"ok\n"
    assert headers["content-type"] == "text/plain; charset=utf-8"
    assert headers["content-length"] == "3"
    assert headers["cache-control"] == "no-store"


def test_head_sends_headers_without_body(tincan):
    s = http_server(tincan)
    data = exchange(s, b"HEAD /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    (status, headers, body), = parse(data, heads=(0,))
    assert status == 200 and headers["content-length"] == "3" and body == b""
    assert data.endswith(b"\r\n\r\n")


def test_head_error_has_no_body(tincan):
    s = http_server(tincan)
    data = exchange(s, b"HEAD /nope HTTP/1.1\r\nHost: x\r\n\r\n")
    (status, headers, body), = parse(data, heads=(0,))
    assert status == 404 and headers["connection"] == "close" and body == b""
    assert int(headers["content-length"]) > 0 and data.endswith(b"\r\n\r\n")


def test_path_is_percent_decoded_and_query_ignored_by_routing(tincan):
    s = http_server(tincan)
    assert get(s, "/health%7a?probe=1&x=%20")[0] == 200
    data = exchange(s, b"GET http://example/healthz HTTP/1.1\r\nHost: x\r\n"
                       b"Connection: close\r\n\r\n")
    assert parse(data)[0][0] == 200
    assert_error(exchange(s, b"GET /a%00b HTTP/1.1\r\nHost: x\r\n\r\n"), 400,
                 "percent-encoding")
    assert_error(exchange(s, b"GET /a%zz HTTP/1.1\r\nHost: x\r\n\r\n"), 400,
                 "percent-encoding")
    assert_healthy(s)


def test_keep_alive_two_requests_on_one_connection(tincan):
    s = http_server(tincan)
    with connect(s) as sock:
        for _ in range(2):
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            status, headers, body = read_response(sock)
            assert (status, body) == (200, b"ok\n")
            assert headers["connection"] == "keep-alive"
        sock.sendall(b"HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert read_response(sock, head=True)[0] == 200
    info = s.client().info("http")
    assert info["http_connections_total"] == 1
    assert info["http_requests"] == 3


def test_pipelined_requests_answered_in_order(tincan):
    s = http_server(tincan)
    raw = (b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
           b"HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
           b"GET /healthz?n=3 HTTP/1.1\r\nHost: x\r\n\r\n"
           b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n"
           b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")  # after the close: dropped
    replies = parse(exchange(s, raw), heads=(1,))
    assert [r[0] for r in replies] == [200, 200, 200, 404]
    assert replies[3][1]["connection"] == "close"
    assert_healthy(s)


def test_many_pipelined_requests_all_answered(tincan):
    """More replies than the server buffers before it pauses parsing
    (256 KiB): it writes, then resumes, and loses none."""
    s = http_server(tincan)
    n = 3000
    raw = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n" * (n - 1) + \
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    with connect(s) as sock:
        sock.sendall(raw)
        replies = parse(read_until_close(sock, timeout=30))
    assert len(replies) == n
    assert all(r[0] == 200 and r[2] == b"ok\n" for r in replies)
    assert replies[-1][1]["connection"] == "close"
    assert_healthy(s)


def test_connection_close_and_http10(tincan):
    s = http_server(tincan)
    data = exchange(s, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    (status, headers, _), = parse(data)
    assert status == 200 and headers["connection"] == "close"
    # HTTP/1.0 closes after the reply by default ...
    (status, headers, body), = parse(exchange(s, b"GET /healthz HTTP/1.0\r\n\r\n"))
    assert (status, body, headers["connection"]) == (200, b"ok\n", "close")
    # ... and stays open when it asks for keep-alive
    with connect(s) as sock:
        for _ in range(2):
            sock.sendall(b"GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            status, headers, _ = read_response(sock)
            assert status == 200 and headers["connection"] == "keep-alive"


def test_upgrade_request_is_answered_then_closed(tincan):
    s = http_server(tincan)
    data = exchange(s, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\n"
                       b"Upgrade: websocket\r\n\r\n\x81\x05hello")
    (status, headers, body), = parse(data)
    assert (status, body, headers["connection"]) == (200, b"ok\n", "close")
    assert_healthy(s)


# ---- errors ----

def test_unknown_path_404(tincan):
    s = http_server(tincan)
    assert_error(exchange(s, b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n"), 404, "no such path")
    assert_healthy(s)


@pytest.mark.parametrize("method", [b"POST", b"PUT", b"DELETE", b"OPTIONS"])
def test_other_methods_405_with_allow(tincan, method):
    s = http_server(tincan)
    data = exchange(s, method + b" /healthz HTTP/1.1\r\nHost: x\r\n"
                    b"Content-Length: 2\r\n\r\nhi")
    headers = assert_error(data, 405, "only GET and HEAD")
    assert headers["allow"] == "GET, HEAD"
    assert_healthy(s)


def test_body_over_limit_413(tincan):
    s = http_server(tincan, "--http-max-body-bytes", "100")
    # declared length
    assert_error(exchange(s, b"GET /healthz HTTP/1.1\r\nHost: x\r\n"
                             b"Content-Length: 100000\r\n\r\n"), 413, "http-max-body-bytes")
    assert_error(exchange(s, b"POST /healthz HTTP/1.1\r\nHost: x\r\n"
                             b"Content-Length: 5000000\r\n\r\n"), 413, "http-max-body-bytes")
    # chunked: counted as it arrives
    chunk = b"x" * 300
    assert_error(exchange(s, b"GET /healthz HTTP/1.1\r\nHost: x\r\n"
                             b"Transfer-Encoding: chunked\r\n\r\n"
                             b"%x\r\n%s\r\n0\r\n\r\n" % (len(chunk), chunk)),
                 413, "http-max-body-bytes")
    # a small body is read and dropped; the connection goes on
    with connect(s) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
                     b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert [r[0] for r in parse(read_until_close(sock))] == [200, 200]
    assert_healthy(s)


@pytest.mark.parametrize("garbage", [
    b"garbage\r\n\r\n",
    b"\x00\x01\x02\xff\r\n\r\n",
    b"GET /healthz HTTP/9.9.9\r\n\r\n",
    b"GET /healthz HTTP/1.1\r\nBad Header Line\r\n\r\n",
    b"GET /healthz HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
])
def test_malformed_request_400(tincan, garbage):
    s = http_server(tincan)
    data = exchange(s, garbage)
    (status, headers, body), = parse(data)
    assert status == 400 and headers["connection"] == "close"
    assert body.startswith(b"400 Bad Request: ") and len(body) > 20
    assert_healthy(s)


def test_huge_headers_431(tincan):
    s = http_server(tincan)
    big = b"X-Big: " + b"a" * 9000 + b"\r\n"
    assert_error(exchange(s, b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + big + b"\r\n"),
                 431, "http-max-header-bytes")
    many = b"".join(b"X-H%d: v\r\n" % i for i in range(2000))
    assert_error(exchange(s, b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + many + b"\r\n"),
                 431, "http-max-header-bytes")
    # just under the limit is fine
    ok = b"X-Big: " + b"a" * 7000 + b"\r\n"
    data = exchange(s, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                    + ok + b"\r\n")
    assert parse(data)[0][0] == 200
    assert_healthy(s)


def test_long_url_414(tincan):
    s = http_server(tincan)
    assert_error(exchange(s, b"GET /healthz?" + b"q" * 5000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"),
                 414, "http-max-url-bytes")
    assert get(s, "/healthz?" + "q" * 1500)[0] == 200
    assert_healthy(s)


# ---- time limits ----

def test_slowloris_gets_408_while_others_are_served(tincan):
    s = http_server(tincan, "--http-timeout-ms", "500")
    slow = connect(s)
    silent = connect(s)
    drip = connect(s)
    t0 = time.monotonic()
    slow.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # never finished
    # meanwhile another connection is served at once
    assert get(s, "/healthz")[0] == 200
    assert s.client().ping() is True
    # a client trickling one byte every 100 ms is held to the same deadline
    request = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"p" * 100
    got = b""
    for byte in request:
        try:
            drip.sendall(bytes([byte]))
        except OSError:
            break
        drip.settimeout(0.1)
        try:
            got = drip.recv(4096)
        except socket.timeout:
            continue
        break
    if got:
        got += read_until_close(drip)
    else:
        got = read_until_close(drip)
    for sock, data in ((slow, read_until_close(slow)), (silent, read_until_close(silent)),
                       (drip, got)):
        assert_error(data, 408, "http-timeout-ms")
        sock.close()
    assert time.monotonic() - t0 < 5.0
    assert s.client().info("http")["http_timeouts"] == 3
    assert_healthy(s)


def test_idle_keep_alive_connection_closed(tincan):
    s = http_server(tincan, "--http-idle-timeout-ms", "300")
    with connect(s) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert read_response(sock)[0] == 200
        t0 = time.monotonic()
        assert read_until_close(sock, timeout=3) == b""  # closed, nothing sent
        assert time.monotonic() - t0 >= 0.2
    assert_healthy(s)


def test_client_that_never_reads_is_dropped(tincan):
    """Pipelines far more replies than the socket buffers hold and reads none:
    the server stops reading, its write stalls, and after http-timeout-ms the
    connection is dropped; everything else goes on."""
    from conftest import wait_until
    s = http_server(tincan, "--http-timeout-ms", "500")
    sock = connect(s)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(2.0)
    try:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n" * 200000)
    except (socket.timeout, OSError):
        pass  # the server stopped reading: expected
    assert_healthy(s)
    wait_until(lambda: s.client().info("http")["http_connections"] == 0, timeout=10,
               what="the stalled connection to be dropped")
    assert s.client().info("http")["http_timeouts"] >= 1
    sock.close()
    assert_healthy(s)


def test_max_connections_503(tincan):
    s = http_server(tincan, "--http-max-connections", "2")
    held = [connect(s) for _ in range(2)]
    for sock in held:  # accepted for sure: each has been served once
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert read_response(sock)[0] == 200
    assert_error(exchange(s, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"), 503,
                 "http-max-connections")
    assert s.client().ping() is True
    info = s.client().info("http")
    assert info["http_rejected_connections"] == 1 and info["http_connections"] == 2
    held.pop().close()
    from conftest import wait_until
    wait_until(lambda: s.client().info("http")["http_connections"] == 1,
               what="the closed HTTP connection to be dropped")
    assert_healthy(s)
    held[0].close()


# ---- auth ----

def basic(user, password):
    return "Basic " + base64.b64encode(("%s:%s" % (user, password)).encode()).decode()


def test_auth_with_requirepass(tincan):
    s = http_server(tincan, "--requirepass", "s3cret")
    # /healthz stays open for load balancers
    assert get(s, "/healthz")[0] == 200
    # without the password every other path is 401, known or not
    status, headers, body = get(s, "/nope")
    assert status == 401 and headers["www-authenticate"] == 'Basic realm="tincan"'
    assert b"requirepass" in body
    for bad in (basic("default", "wrong"), basic("default", "s3cre"),
                basic("default", "s3cret!"), "Bearer wrong", "Bearer ",
                "Basic !!!!", "Basic czNjcmV0", "Digest s3cret", "s3cret"):
        assert get(s, "/nope", {"Authorization": bad})[0] == 401, bad
    # with it the request reaches routing (404 for an unknown path)
    for good in (basic("default", "s3cret"), basic("ops", "s3cret"),
                 basic("", "s3cret"), "Bearer s3cret", "bearer s3cret"):
        assert get(s, "/nope", {"Authorization": good})[0] == 404, good
        assert get(s, "/healthz", {"Authorization": good})[0] == 200, good
    assert_healthy(s, password="s3cret")


def test_auth_password_with_colon(tincan):
    """Basic's user name ends at the first colon; the rest is the password."""
    s = http_server(tincan, "--requirepass", "a:b")
    assert get(s, "/nope", {"Authorization": basic("u", "a:b")})[0] == 404
    assert get(s, "/nope", {"Authorization": basic("u:a", "b")})[0] == 404  # "u:a:b"
    assert get(s, "/nope", {"Authorization": basic("a", "b")})[0] == 401


# ---- start-up and INFO ----

def test_bind_failure_fails_the_start_clearly(tincan):
    with socket.socket() as taken:
        taken.bind((HOST, 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        s = tincan("--http-port", str(port), start=False)
        with pytest.raises(pytest.fail.Exception):
            s.start()
        s.wait_exit()
    assert s.proc.returncode != 0
    assert "http: cannot listen on 127.0.0.1:%d: address already in use" % port \
        in s.stderr_text()


def test_bad_bind_address_fails_the_start(tincan):
    s = tincan("--http-port", str(free_port()), "--http-bind", "not-an-ip", start=False)
    with pytest.raises(pytest.fail.Exception):
        s.start()
    s.wait_exit()
    assert "http-bind 'not-an-ip' is not an IP address" in s.stderr_text()


def test_off_by_default(tincan):
    s = tincan()
    assert "tincan http" not in s.stdout_text()
    info = s.client().info("http")
    assert info["http_port"] == 0


def test_info_http_counts(tincan):
    s = http_server(tincan)
    get(s, "/healthz")
    get(s, "/healthz")
    get(s, "/nope")
    get(s, "/healthz", method="POST")
    info = s.client().info("http")
    assert info["http_port"] == s.http_port
    assert info["http_requests"] == 4
    assert info["http_responses_2xx"] == 2
    assert info["http_responses_4xx"] == 2
    assert info["http_responses_5xx"] == 0
    assert info["http_connections_total"] == 4


def test_debug_reload_keeps_serving_on_the_same_port(tincan):
    s = http_server(tincan, "--enable-debug-command", "yes")
    assert get(s, "/healthz")[0] == 200
    assert s.client().execute_command("DEBUG", "RELOAD") in (b"OK", "OK", True)
    assert get(s, "/healthz")[0] == 200
    assert s.client().info("http")["http_port"] == s.http_port


def test_limits_change_with_config_set(tincan):
    s = http_server(tincan)
    url = "/healthz?" + "q" * 300
    assert get(s, url)[0] == 200
    c = s.client()
    assert c.config_set("http-max-url-bytes", "128") is True
    assert c.config_get("http-max-url-bytes") == {"http-max-url-bytes": "128"}
    assert get(s, url)[0] == 414
    assert get(s, "/healthz")[0] == 200
    # port and bind are read at start only
    with pytest.raises(Exception, match="http-port"):
        c.config_set("http-port", "1")


def test_shutdown_with_open_connections_is_clean(tincan):
    """SIGTERM with an idle keep-alive connection, one mid-request and one
    whose replies are not being read: the server exits 0, and teardown finds no
    sanitizer (leak) report."""
    s = http_server(tincan)
    idle, partial, stalled = connect(s), connect(s), connect(s)
    idle.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    assert read_response(idle)[0] == 200
    partial.sendall(b"GET /healthz HTTP/1.1\r\nHo")
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stalled.settimeout(2.0)
    try:
        stalled.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n" * 100000)
    except (socket.timeout, OSError):
        pass
    assert s.client().info("http")["http_connections"] == 3
    assert s.stop() == 0
    for sock in (idle, partial, stalled):
        sock.close()


def test_ipv6_bind(tincan):
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
            port = probe.getsockname()[1]
    except OSError:
        pytest.skip("no IPv6 loopback here")
    s = tincan("--http-port", str(port), "--http-bind", "::1")
    with socket.create_connection(("::1", port), timeout=IO_TIMEOUT) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        (status, _, body), = parse(read_until_close(sock))
    assert (status, body) == (200, b"ok\n")
