"""The web console (GET /, web/console.*, src/ops/console.c) and its events
map (GET /map.svg, src/ops/mapsvg.c), docs/operations.md "Web console".

The page is loaded in Debian's headless Chromium, driven by
tests/tools/node/console_check.js (playwright-core), against a real server
with real traffic made by redis-py: named producers publishing types, an
owner that never published, subscriptions with consumers holding events, a
dead letter, a queue, a lock and a ring member. The test reads the page's
DOM (tables, summary, the inline SVG map), makes more traffic and checks that
the page shows it without a reload, stops the server and checks the
"unreachable" banner, and saves a screenshot as $BUILD/console.png. The map
and the page's files are also checked over plain HTTP (content types,
well-formed SVG, a bad ?pattern=). Skips only when chromium or node is
absent. Every wait is bounded.
"""

import base64
import http.client
import json
import os
import select
import shutil
import socket
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import redis

from conftest import NODE_TOOLS, REPO

HOST = "127.0.0.1"
IO_TIMEOUT = 5.0        # s, one HTTP exchange
BROWSER_TIMEOUT = 60.0  # s, one answer of console_check.js (it waits <= 15 s)
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SVG_NS = "{http://www.w3.org/2000/svg}"

needs_browser = pytest.mark.skipif(
    not (os.path.exists(CHROMIUM) and shutil.which("node")),
    reason="needs Debian's chromium and node (scripts/deps.sh installs them)")


def free_port():
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def http_server(tincan, *args):
    """A started server with an HTTP listener on a free port (.http_port);
    a port taken between the probe and the bind is retried."""
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


def get(s, path, password=None):
    """(status, headers dict with lower-case names, body bytes) of GET path."""
    c = http.client.HTTPConnection(HOST, s.http_port, timeout=IO_TIMEOUT)
    headers = {}
    if password:
        headers["Authorization"] = "Basic " + base64.b64encode(
            b"default:" + password.encode()).decode()
    try:
        c.request("GET", path, headers=headers)
        r = c.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        c.close()


def client(s, name, password=None):
    return redis.Redis(host=HOST, port=s.port, client_name=name, password=password,
                       decode_responses=True, socket_timeout=IO_TIMEOUT)


def make_traffic(s, password=None):
    """Producers orders (5 order.created, 2 order.paid) and legacy (3
    user.signup); order.refunded owned by payments, never published;
    subscriptions billing (order.*: billing-1 holds 2), shipping
    (order.created: ship-1 holds 1) and fragile (user.signup, MAXDELIVER 1:
    one dead letter); queue emails (3 jobs, 1 leased); lock cron held by w1;
    ring api with member 127.0.0.1:8080."""
    admin = client(s, "admin", password)
    admin.execute_command("EV.TYPE", "SET", "order.created", "OWNER", "orders")
    admin.execute_command("EV.TYPE", "SET", "order.refunded", "OWNER", "payments")
    admin.execute_command("EV.SUB", "billing", "order.*")
    admin.execute_command("EV.SUB", "shipping", "order.created")
    admin.execute_command("EV.SUB", "fragile", "user.signup", "MAXDELIVER", "1")
    orders, legacy = client(s, "orders", password), client(s, "legacy", password)
    for i in range(5):
        orders.execute_command("EV.PUB", "order.created", json.dumps({"n": i}))
    for i in range(2):
        orders.execute_command("EV.PUB", "order.paid", json.dumps({"n": i}))
    for i in range(3):
        legacy.execute_command("EV.PUB", "user.signup", json.dumps({"n": i}))
    consumer = client(s, "workers", password)
    assert len(consumer.execute_command("EV.READ", "billing", "billing-1", "COUNT", "2")) == 2
    assert len(consumer.execute_command("EV.READ", "shipping", "ship-1")) == 1
    ev = consumer.execute_command("EV.READ", "fragile", "fragile-1")
    assert len(ev) == 1
    pos = dict(zip(ev[0][::2], ev[0][1::2]))["position"]
    assert consumer.execute_command("EV.NACK", "fragile", pos) == "dead"
    for i in range(3):
        admin.execute_command("Q.PUSH", "emails", "mail-%d" % i)
    assert len(consumer.execute_command("Q.POP", "emails")) > 0
    admin.execute_command("LOCK.ACQUIRE", "cron", "w1", "30000")
    admin.execute_command("RING.JOIN", "api", "127.0.0.1:8080")
    return admin, orders, consumer


class Browser:
    """console_check.js on the console's URL: .cmd("snap") -> snapshot dict."""

    def __init__(self, s, tmp_path, password=None):
        if not (NODE_TOOLS / "node_modules" / "playwright-core").is_dir():
            pytest.fail("playwright-core is not installed in %s/node_modules: "
                        "run sh scripts/node-tools.sh" % NODE_TOOLS)
        opts = {"url": "http://%s:%d/" % (HOST, s.http_port), "chromium": CHROMIUM}
        if password:
            opts.update(user="default", password=password)
        self.err = open(tmp_path / "console_check.err", "w+")
        self.proc = subprocess.Popen(
            ["node", str(NODE_TOOLS / "console_check.js"), json.dumps(opts)],
            cwd=str(NODE_TOOLS), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=self.err, text=True)

    def cmd(self, line):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        # one command, one line: nothing else is buffered, so select() on
        # the pipe bounds the wait
        ready, _, _ = select.select([self.proc.stdout], [], [], BROWSER_TIMEOUT)
        if not ready:
            pytest.fail("console_check.js gave no answer to %r within %.0f s"
                        % (line, BROWSER_TIMEOUT))
        out = [self.proc.stdout.readline()]
        if not out[0]:
            self.err.seek(0)
            pytest.fail("console_check.js ended on %r: %s" % (line, self.err.read()[-4000:]))
        return json.loads(out[0])

    def close(self):
        try:
            self.proc.stdin.write("quit\n")
            self.proc.stdin.close()
            self.proc.wait(timeout=30)
        except (BrokenPipeError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()
        self.err.close()


@pytest.fixture
def browser_for(tmp_path):
    opened = []

    def open_browser(s, password=None):
        b = Browser(s, tmp_path, password)
        opened.append(b)
        return b
    yield open_browser
    for b in opened:
        b.close()


def rows(snap, table):
    return {r["name"]: r for r in snap["tables"][table]}


def screenshot_path():
    build = Path(os.environ.get("BUILD", "build"))
    if not build.is_absolute():
        build = REPO / build
    build.mkdir(parents=True, exist_ok=True)
    return build / "console.png"


def overview(s, password=None):
    status, _, body = get(s, "/api/overview", password)
    assert status == 200, body
    return json.loads(body)


def fmt_int(n):
    return "\u2014" if n is None else "{:,}".format(n)


def map_nodes(snap, kind):
    return {n["title"] for n in snap["map"]["nodes"] if n["kind"] == kind}


def map_edge(snap, a, b):
    """The edge drawn from the node titled a to the one titled b, or None."""
    ids = {n["id"]: n["title"] for n in snap["map"]["nodes"]}
    for e in snap["map"]["edges"]:
        if ids.get(e["from"]) == a and ids.get(e["to"]) == b:
            return e
    return None


def assert_clean(snap):
    assert snap["errors"] == [], snap["errors"]
    assert snap["external"] == [], snap["external"]
    assert set(snap["paths"]) <= {"/", "/console.css", "/console.js", "/api/overview",
                                  "/map.svg"}, snap["paths"]
    assert not snap["reloaded"]


def snap_until(b, pred, what, tries=8):
    """Snapshots (each waits for the page's next refresh, <= 15 s) until
    pred(snap); fails after tries refreshes. Returns every snapshot taken."""
    seen = []
    for _ in range(tries):
        seen.append(b.cmd("snap"))
        if pred(seen[-1]):
            return seen
    pytest.fail("the page never showed %s; last snapshot: %s"
                % (what, json.dumps(seen[-1])[:3000]))


@needs_browser
def test_console_shows_live_traffic(tincan, browser_for):
    s = http_server(tincan)
    admin, orders, consumer = make_traffic(s)
    b = browser_for(s)
    snap = b.cmd("snap")
    assert_clean(snap)
    assert snap["banner"] is None and snap["status"].startswith("live"), snap["status"]

    types = rows(snap, "types")
    assert sorted(types) == ["order.created", "order.paid", "order.refunded", "user.signup"]
    # columns: type, owner, schema, published, rate/s, bytes, producers
    assert [types[t]["cells"][3] for t in sorted(types)] == ["5", "2", "0", "3"]
    assert types["order.created"]["cells"][1] == "orders"
    assert types["order.refunded"]["cells"][1] == "payments"
    assert types["order.created"]["cells"][6] == "orders 5"
    assert types["user.signup"]["cells"][6] == "legacy 3"

    subs = rows(snap, "subscriptions")
    assert sorted(subs) == ["billing", "fragile", "shipping"]
    # columns: name, patterns, consumers, held, ready, dead, delivered,
    # redelivered, lag events, lag s
    assert subs["billing"]["cells"][1] == "order.*"
    assert subs["billing"]["cells"][2] == "billing-1 (2)"
    assert subs["billing"]["cells"][3] == "2"
    assert subs["shipping"]["cells"][2] == "ship-1 (1)"
    assert subs["fragile"]["cells"][5] == "1"
    assert subs["fragile"]["bad"] == [5]          # the dead letter is flagged
    assert subs["billing"]["bad"] == [] and subs["shipping"]["bad"] == []
    ov = overview(s)
    for sub in ov["subscriptions"]:   # the page shows the server's own lag
        assert subs[sub["name"]]["cells"][8] == fmt_int(sub["lag_events"]), sub

    q = rows(snap, "queues")["emails"]["cells"]
    assert q[1:3] == ["2", "1"]                   # ready, leased
    assert rows(snap, "locks")["cron"]["cells"][1] == "w1"
    ring = rows(snap, "ring")["api/127.0.0.1:8080"]["cells"]
    assert ring[3] == "healthy"
    assert snap["summary"]["types"] == "4"
    assert snap["summary"]["subscriptions"] == "3"
    assert snap["summary"]["dead letters"] == "1"
    assert snap["summary"]["stored events"] == "10"

    assert map_nodes(snap, "producer") == {"orders", "legacy", "payments"}
    assert map_nodes(snap, "type") == set(types)
    assert map_nodes(snap, "sub") == {"billing", "shipping", "fragile"}
    assert map_nodes(snap, "consumer") == {"billing-1", "ship-1", "fragile-1"}
    assert map_edge(snap, "orders", "order.created")["owner"] is False
    assert map_edge(snap, "payments", "order.refunded")["owner"] is True
    assert map_edge(snap, "order.created", "billing") is not None
    assert map_edge(snap, "order.paid", "shipping") is None
    assert map_edge(snap, "billing", "billing-1") is not None
    shot = screenshot_path()
    assert b.cmd("shot %s" % shot) == {"shot": str(shot)}
    assert shot.stat().st_size > 10000

    # more traffic: the page shows it without a reload
    hostile = '<img src=x onerror="alert(1)">&amp;'
    for i in range(4):
        orders.execute_command("EV.PUB", "order.created", json.dumps({"more": i}))
    assert len(consumer.execute_command("EV.READ", "billing", "billing-1")) == 1
    admin.execute_command("EV.SUB", "analytics", "#")
    orders.execute_command("EV.PUB", "order.paid", "{}")
    assert len(consumer.execute_command("EV.READ", "analytics", hostile)) == 1
    seen = snap_until(b, lambda sn: "analytics" in rows(sn, "subscriptions")
                      and rows(sn, "types")["order.paid"]["cells"][3] == "3",
                      "the second round of traffic")
    snap = seen[-1]
    assert_clean(snap)
    types, subs = rows(snap, "types"), rows(snap, "subscriptions")
    assert types["order.created"]["cells"][3] == "9"
    assert subs["billing"]["cells"][2] == "billing-1 (3)"
    assert subs["analytics"]["cells"][2] == hostile + " (1)"   # text, not markup
    assert map_nodes(snap, "sub") == {"analytics", "billing", "shipping", "fragile"}
    assert hostile in map_nodes(snap, "consumer")
    assert map_edge(snap, "analytics", hostile) is not None
    # the rate column: events/s between two refreshes, > 0 once the 4 new
    # order.created events fall between them
    rates = [float(rows(sn, "types")["order.created"]["cells"][4].replace(",", ""))
             for sn in [b.cmd("snap")] + seen
             if rows(sn, "types")["order.created"]["cells"][4] != "\u2014"]
    assert rates and max(rates) > 0, rates

    # the server goes away: the page says so and keeps the last data
    s.stop()
    snap = b.cmd("down")
    assert "unreachable" in snap["banner"], snap["banner"]
    assert snap["status"] == "unreachable"
    assert "analytics" in rows(snap, "subscriptions")


@needs_browser
def test_console_with_requirepass(tincan, browser_for):
    s = http_server(tincan, "--requirepass", "s3cret")
    status, headers, _ = get(s, "/")
    assert status == 401 and headers["www-authenticate"].startswith("Basic")
    assert get(s, "/map.svg")[0] == 401
    c = client(s, "orders", "s3cret")
    c.execute_command("EV.SUB", "billing", "order.*")
    c.execute_command("EV.PUB", "order.created", "{}")
    b = browser_for(s, password="s3cret")
    snap = snap_until(b, lambda sn: "order.created" in rows(sn, "types"), "the type")[-1]
    assert_clean(snap)
    assert rows(snap, "types")["order.created"]["cells"][3] == "1"
    assert map_edge(snap, "order.created", "billing") is not None


def test_console_files_and_map_over_http(tincan):
    s = http_server(tincan)
    for path, ctype, marker in [("/", "text/html", b"<title>tincan console</title>"),
                                ("/console.css", "text/css", b"--bad"),
                                ("/console.js", "text/javascript", b"/api/overview")]:
        status, headers, body = get(s, path)
        assert status == 200, (path, body)
        assert headers["content-type"].startswith(ctype), headers
        assert headers["cache-control"] == "no-cache"
        assert marker in body
        with open(REPO / "web" / ("console.html" if path == "/" else path[1:]), "rb") as f:
            assert body == f.read()                 # the build embeds the files as they are

    status, headers, body = get(s, "/map.svg")
    assert status == 200 and headers["content-type"] == "image/svg+xml"
    assert b"no event types yet" in body
    ET.fromstring(body)

    # names with markup and bad UTF-8 (consumer names are any bytes), and a
    # stream consumer group on a type's stream
    r = redis.Redis(host=HOST, port=s.port, client_name="orders", socket_timeout=IO_TIMEOUT)
    r.execute_command("EV.SUB", "billing", "order.*")
    r.execute_command("EV.SUB", "users", "user.#")
    r.execute_command("EV.PUB", "order.created", "{}")
    r.execute_command("EV.PUB", "user.signup", "{}")
    bad = b'</title><script>x</script>&\xff"\''
    assert len(r.execute_command("EV.READ", "billing", bad)) == 1
    r.execute_command("XGROUP", "CREATE", "order.created", "warehouse", "0")
    r.execute_command("XREADGROUP", "GROUP", "warehouse", "picker", "STREAMS",
                      "order.created", ">")
    status, _, body = get(s, "/map.svg")
    assert status == 200
    svg = ET.fromstring(body)
    titles = {(g.get("class"), g.find(SVG_NS + "title").text)
              for g in svg.iter(SVG_NS + "g") if (g.get("class") or "").startswith("node ")}
    assert titles == {("node producer", "orders"), ("node type", "order.created"),
                      ("node type", "user.signup"), ("node sub", "billing"),
                      ("node sub", "users"), ("node group", "group warehouse"),
                      ("node consumer", bad.decode("utf-8", "replace")),
                      ("node consumer", "picker")}
    ids = {g.get("id"): g.find(SVG_NS + "title").text
           for g in svg.iter(SVG_NS + "g") if g.get("id")}
    edges = {(ids[p.get("data-from")], ids[p.get("data-to")])
             for p in svg.iter(SVG_NS + "path")}
    assert edges == {("orders", "order.created"), ("orders", "user.signup"),
                     ("order.created", "billing"), ("user.signup", "users"),
                     ("billing", bad.decode("utf-8", "replace")),
                     ("order.created", "group warehouse"), ("group warehouse", "picker")}
    assert b"<script>" not in body

    status, _, body = get(s, "/map.svg?pattern=user.%23")
    assert status == 200
    assert b"user.signup" in body and b"order.created" not in body and b"billing" not in body
    status, _, body = get(s, "/map.svg?pattern=a..b")
    assert status == 400 and b"pattern" in body
    status, _, body = get(s, "/map.svg?pattern=" + "a" * 2000)
    assert status == 400 and b"longer than" in body
    assert client(s, "check").ping()              # the server is unaffected
