"""Event types as contracts (issue 14): the type registry (EV.TYPE), owner
enforcement, types-required, producers seen, EV.MANIFEST and EV.MAP, through
redis-py against the real server. Validation of payloads against JSON and
Protobuf schemas is at the end of the file.
"""

import re
import signal
import time

import pytest
import redis

from conftest import call


def rec(r):
    """A record reply (RESP3 map or RESP2 flat array) as a dict."""
    if isinstance(r, dict):
        return dict(r)
    return dict(zip(r[::2], r[1::2]))


def err(fn, *args):
    """The whole error text of a command that must fail, code included
    (redis-py strips the ERR and NOPERM codes it knows; the others it keeps)."""
    with pytest.raises(redis.ResponseError) as e:
        fn(*args)
    text = str(e.value)
    if isinstance(e.value, redis.exceptions.NoPermissionError):
        return "NOPERM " + text
    if not re.match(r"(NOTYPE|INVALID|IOERR|NOSUB) ", text):
        return "ERR " + text
    return text


def tset(r, t, *opts):
    return call(r, "EV.TYPE", "SET", t, *opts)


def tget(r, t):
    v = call(r, "EV.TYPE", "GET", t)
    return None if v is None else rec(v)


def manifest(r, *pat):
    out = {}
    for t in call(r, "EV.MANIFEST", *pat):
        t = rec(t)
        t["producers"] = [rec(p) for p in t["producers"]]
        t["subscriptions"] = [rec(s) for s in t["subscriptions"]]
        t["groups"] = [rec(g) for g in t["groups"]]
        out[t["type"]] = t
    return out


def events(r, pattern):
    return [rec(e) for e in call(r, "EV.RANGE", pattern)]


def named(server, name, protocol=2):
    """A client whose connections all carry name (CLIENT SETNAME on connect
    for RESP2, HELLO 3 ... SETNAME for RESP3)."""
    return server.client(protocol=protocol, client_name=name)


# ---------------------------------------------------------------- registry

def test_set_get_del_roundtrip(server):
    r = server.client()
    before = int(time.time() * 1000)
    assert tset(r, "order.created", "OWNER", "shop", "DOC", "an order was placed",
                "STATE") == "OK"
    g = tget(r, "order.created")
    assert g["type"] == "order.created"
    assert g["owner"] == "shop"
    assert g["doc"] == "an order was placed"
    assert g["kind"] == "state"
    assert g["schema_kind"] == "none"
    assert g["schema"] is None and g["message"] is None
    assert g["require"] == []
    assert int(g["version"]) == 0
    assert before <= int(g["created_ms"]) <= int(time.time() * 1000)
    assert g["created_ms"] == g["updated_ms"]
    # fields not given are kept; OCCURRENCE switches the kind back
    assert tset(r, "order.created", "OCCURRENCE") == "OK"
    g = tget(r, "order.created")
    assert g["owner"] == "shop" and g["kind"] == "occurrence"
    assert g["doc"] == "an order was placed"
    # OWNER "" removes the owner, DOC "" the doc
    assert tset(r, "order.created", "OWNER", "", "DOC", "") == "OK"
    g = tget(r, "order.created")
    assert g["owner"] is None and g["doc"] is None
    assert call(r, "EV.TYPE", "DEL", "order.created") == 1
    assert tget(r, "order.created") is None
    assert call(r, "EV.TYPE", "DEL", "order.created") == 0
    assert tget(r, "never.set") is None


def test_schema_version_counts_changes(server):
    r = server.client()
    assert tset(r, "a.b", "SCHEMA", "json", '{"type":"object"}') == "OK"
    g = tget(r, "a.b")
    assert g["schema_kind"] == "json" and g["schema"] == '{"type":"object"}'
    assert int(g["version"]) == 1
    # the same schema again is no change; a DOC change is not a schema change
    assert tset(r, "a.b", "SCHEMA", "json", '{"type":"object"}', "DOC", "d") == "OK"
    assert int(tget(r, "a.b")["version"]) == 1
    assert tset(r, "a.b", "SCHEMA", "json", '{"type": "object"}') == "OK"
    assert int(tget(r, "a.b")["version"]) == 2
    assert tset(r, "a.b", "SCHEMA", "none") == "OK"
    g = tget(r, "a.b")
    assert g["schema_kind"] == "none" and g["schema"] is None
    assert int(g["version"]) == 3


def test_resp3_record(server):
    r = server.client(protocol=3)
    assert tset(r, "r3.t", "OWNER", "me") == "OK"
    g = call(r, "EV.TYPE", "GET", "r3.t")
    assert isinstance(g, dict) and g["owner"] == "me"
    assert call(r, "EV.TYPE", "GET", "r3.none") is None


@pytest.mark.parametrize("args,msg", [
    (("SET", "bad..type"), "ERR invalid event type 'bad..type'"),
    (("SET", "a.*"), "ERR invalid event type 'a.*'"),
    (("GET", "x.#"), "ERR invalid event type 'x.#'"),
    (("SET", "t", "SCHEMA"), "ERR SCHEMA needs json <schema>, protobuf"),
    (("SET", "t", "SCHEMA", "xml", "<a/>"), "ERR SCHEMA needs json <schema>, protobuf"),
    (("SET", "t", "SCHEMA", "json"), "ERR SCHEMA needs json <schema>, protobuf"),
    (("SET", "t", "SCHEMA", "protobuf", "xx"), "ERR SCHEMA protobuf needs MESSAGE"),
    (("SET", "t", "MESSAGE", "a.B"), "ERR MESSAGE is only for SCHEMA protobuf"),
    (("SET", "t", "SCHEMA", "json", "{}", "REQUIRE", "id"),
     "ERR REQUIRE is only for SCHEMA protobuf"),
    (("SET", "t", "SCHEMA", "protobuf", "xx", "MESSAGE", "a.B", "REQUIRE", "id,,ts"),
     "ERR invalid REQUIRE 'id,,ts'"),
    (("SET", "t", "OWNER"), "ERR OWNER needs a value"),
    (("SET", "t", "DOC"), "ERR DOC needs a value"),
    (("SET", "t", "OWNER", "a", "OWNER", "b"), "ERR OWNER given twice"),
    (("SET", "t", "STATE", "OCCURRENCE"), "ERR STATE|OCCURRENCE given twice"),
    (("SET", "t", "OWNER", "x" * 257), "ERR OWNER must be at most 256 bytes (got 257)"),
    (("SET", "t", "BOGUS"), "ERR syntax error"),
    (("PUT", "t"), "ERR unknown subcommand 'PUT'. Try EV.TYPE SET|GET|DEL."),
    (("GET", "t", "extra"), "ERR wrong number of arguments for 'ev.type|get'"),
    (("DEL", "t", "extra"), "ERR wrong number of arguments for 'ev.type|del'"),
])
def test_bad_input(server, args, msg):
    r = server.client()
    assert err(call, r, "EV.TYPE", *args).startswith(msg)
    assert tget(r, "t") is None  # nothing half-registered


def test_schema_size_limit(server):
    r = server.client()
    big = '{"description":"%s"}' % ("x" * (1 << 20))
    m = err(call, r, "EV.TYPE", "SET", "big.t", "SCHEMA", "json", big)
    assert m == ("ERR invalid schema for big.t: %d bytes is larger than the limit "
                 "of 1048576 bytes for a json schema" % len(big))
    assert tget(r, "big.t") is None


def test_types_shows_registration(server):
    r = server.client()
    call(r, "EV.PUB", "b.seen", "1")
    call(r, "EV.PUB", "b.seen", "2")
    tset(r, "b.seen", "OWNER", "")
    tset(r, "a.empty", "OWNER", "svc", "SCHEMA", "json", "{}")
    tset(r, "c.empty")
    call(r, "EV.PUB", "d.plain", "x")
    rows = [rec(t) for t in call(r, "EV.TYPES")]
    assert [t["type"] for t in rows] == ["a.empty", "b.seen", "c.empty", "d.plain"]
    t = {x["type"]: x for x in rows}
    assert t["a.empty"]["count"] == 0 and t["a.empty"]["registered"] == 1
    assert t["a.empty"]["schema"] == "json" and t["a.empty"]["version"] == 1
    assert t["a.empty"]["owner"] == "svc"
    assert t["b.seen"]["count"] == 2 and t["b.seen"]["registered"] == 1
    assert t["b.seen"]["owner"] is None
    assert t["d.plain"]["registered"] == 0 and t["d.plain"]["schema"] == "none"
    # the old fields are all there
    for k in ("first_position", "last_position", "first_time", "last_time"):
        assert k in t["b.seen"]
    assert [rec(x)["type"] for x in call(r, "EV.TYPES", "a.*")] == ["a.empty"]


# ---------------------------------------------------------------- types-required

def test_types_required(tincan):
    s = tincan("--types-required", "yes")
    r = s.client()
    m = err(call, r, "EV.PUB", "nope.t", "x")
    assert m == "NOTYPE type 'nope.t' is not registered (types-required yes)"
    m = err(call, r, "XADD", "nope.t", "*", "f", "v")
    assert m == "NOTYPE type 'nope.t' is not registered (types-required yes)"
    assert events(r, "#") == []
    assert call(r, "EXISTS", "nope.t") == 0  # XADD made no stream
    tset(r, "nope.t")
    assert int(call(r, "EV.PUB", "nope.t", "x")) > 0
    call(r, "CONFIG", "SET", "types-required", "no")
    assert call(r, "CONFIG", "GET", "types-required") == ["types-required", "no"]
    assert int(call(r, "EV.PUB", "other.t", "x")) > 0
    assert [e["type"] for e in events(r, "#")] == ["nope.t", "other.t"]


# ---------------------------------------------------------------- owners

def test_owner_enforced_setname(server):
    admin = server.client()
    tset(admin, "pay.done", "OWNER", "payments")
    m = err(call, admin, "EV.PUB", "pay.done", "x")
    assert m == ("NOPERM type 'pay.done' is owned by 'payments'; this client is "
                 "none (no CLIENT SETNAME)")
    other = named(server, "billing")
    m = err(call, other, "EV.PUB", "pay.done", "x")
    assert m == "NOPERM type 'pay.done' is owned by 'payments'; this client is 'billing'"
    m = err(call, other, "XADD", "pay.done", "*", "payload", "x")
    assert m == "NOPERM type 'pay.done' is owned by 'payments'; this client is 'billing'"
    assert events(admin, "pay.done") == []
    owner = named(server, "payments")
    pos = int(call(owner, "EV.PUB", "pay.done", "x"))
    assert call(owner, "XADD", "pay.done", "*", "payload", "y")
    evs = events(admin, "pay.done")
    assert [e["position"] for e in evs][0] == pos and len(evs) == 2


def test_owner_enforced_hello_setname(server):
    admin = server.client()
    tset(admin, "pay.done", "OWNER", "payments")
    r3 = named(server, "payments", protocol=3)
    assert int(call(r3, "EV.PUB", "pay.done", "x")) > 0
    wrong = named(server, "intruder", protocol=3)
    m = err(call, wrong, "EV.PUB", "pay.done", "x")
    assert m == "NOPERM type 'pay.done' is owned by 'payments'; this client is 'intruder'"
    # renaming a connection changes who it is
    raw = server.raw()
    assert raw.cmd("HELLO", "2", "SETNAME", "payments").startswith(b"*")
    assert raw.cmd("EV.PUB", "pay.done", "y").startswith(b":")
    assert raw.cmd("CLIENT", "SETNAME", "other") == b"+OK\r\n"
    assert raw.cmd("EV.PUB", "pay.done", "z").startswith(b"-NOPERM")
    assert len(events(admin, "pay.done")) == 2


# ---------------------------------------------------------------- producers

def test_producers_recorded(server):
    a = named(server, "svc-a")
    b = named(server, "svc-b")
    anon = server.client()
    t0 = int(time.time() * 1000)
    for _ in range(3):
        call(a, "EV.PUB", "inv.changed", "x")
    call(b, "EV.PUB", "inv.changed", "x")
    call(anon, "XADD", "inv.changed", "*", "f", "v")
    call(a, "EV.PUB", "inv.changed", "dup", "ID", "id-1")
    call(a, "EV.PUB", "inv.changed", "dup", "ID", "id-1")  # a duplicate: not counted
    t1 = int(time.time() * 1000)
    m = manifest(a)["inv.changed"]
    assert m["registered"] == 0 and m["owner"] is None
    p = {x["name"]: x for x in m["producers"]}
    assert set(p) == {"svc-a", "svc-b", "(unnamed)"}
    assert p["svc-a"]["count"] == 4 and p["svc-b"]["count"] == 1
    assert p["(unnamed)"]["count"] == 1
    for x in p.values():
        assert t0 <= x["first_seen"] <= x["last_seen"] <= t1


def test_refused_publishes_are_not_counted(server):
    admin = server.client()
    tset(admin, "own.t", "OWNER", "me")
    err(call, admin, "EV.PUB", "own.t", "x")
    assert manifest(admin)["own.t"]["producers"] == []


# ---------------------------------------------------------------- manifest

def setup_graph(server):
    admin = server.client()
    tset(admin, "order.created", "OWNER", "shop", "SCHEMA", "json", "{}")
    tset(admin, "order.paid", "OWNER", "payments")
    call(admin, "EV.SUB", "billing", "order.*")
    call(admin, "EV.SUB", "audit", "#")
    call(admin, "EV.SUB", "created-only", "order.created", "x.y")
    call(admin, "EV.SUB", "unrelated", "user.#")
    shop = named(server, "shop")
    call(shop, "EV.PUB", "order.created", "{}")
    call(named(server, "payments"), "EV.PUB", "order.paid", "x")
    # each consumer holds an entry, so the bus keeps it across restarts
    assert len(call(admin, "EV.READ", "billing", "bill-1", "COUNT", "1")) == 1
    assert len(call(admin, "EV.READ", "billing", "bill-2", "COUNT", "1")) == 1
    assert len(call(admin, "EV.READ", "audit", "auditor", "COUNT", "10")) == 2
    call(admin, "XGROUP", "CREATE", "order.created", "warehouse", "0")
    call(admin, "XREADGROUP", "GROUP", "warehouse", "picker", "STREAMS",
         "order.created", ">")
    return admin


def check_graph(m):
    oc = m["order.created"]
    assert oc["registered"] == 1 and oc["owner"] == "shop"
    assert oc["schema"] == "json" and oc["version"] == 1
    assert [p["name"] for p in oc["producers"]] == ["shop"]
    assert oc["producers"][0]["count"] == 1
    subs = {s["name"]: s for s in oc["subscriptions"]}
    assert set(subs) == {"audit", "billing", "created-only"}
    assert subs["billing"]["patterns"] == ["order.*"]
    assert subs["billing"]["consumers"] == ["bill-1", "bill-2"]
    assert subs["audit"]["consumers"] == ["auditor"]
    assert subs["created-only"]["patterns"] == ["order.created", "x.y"]
    assert subs["created-only"]["consumers"] == []
    assert subs["billing"]["durable"] == 1
    assert oc["groups"] == [{"stream": "order.created", "db": 0, "group": "warehouse",
                             "consumers": ["picker"]}]
    op = m["order.paid"]
    assert {s["name"] for s in op["subscriptions"]} == {"audit", "billing"}
    assert [p["name"] for p in op["producers"]] == ["payments"]
    assert op["groups"] == []


def test_manifest(server):
    admin = setup_graph(server)
    m = manifest(admin)
    assert sorted(m) == ["order.created", "order.paid"]
    check_graph(m)
    assert sorted(manifest(admin, "*.paid")) == ["order.paid"]
    assert manifest(admin, "user.#") == {}
    assert err(call, admin, "EV.MANIFEST", "a..b").startswith("ERR invalid pattern 'a..b'")
    assert err(call, admin, "EV.MANIFEST", "a", "b").startswith("ERR syntax error")


def test_manifest_lists_registered_and_stored(server):
    r = server.client()
    tset(r, "only.registered")
    call(r, "EV.PUB", "only.stored", "x")
    m = manifest(r)
    assert m["only.registered"]["registered"] == 1
    assert m["only.registered"]["producers"] == []
    assert m["only.stored"]["registered"] == 0


MERMAID_NODE = re.compile(r'^    ([a-z]+[0-9_]+)(\(\[|\[\[|\(\(|\[)"((?:[^"#]|#[0-9]+;)*)"(\]\)|\]\]|\)\)|\])$')
MERMAID_EDGE = re.compile(r'^    ([a-z]+[0-9_]+) (-->|-\.->\|owner\|) ([a-z]+[0-9_]+)$')


def parse_mermaid(text):
    """Checks every line of the map against the node/edge grammar EV.MAP
    emits; returns ({id: label}, [(from_label, arrow, to_label)])."""
    lines = text.rstrip("\n").split("\n")
    assert lines[0] == "flowchart LR"
    nodes, edges = {}, []
    for line in lines[1:]:
        n = MERMAID_NODE.match(line)
        e = MERMAID_EDGE.match(line)
        assert n or e, "not a node or edge line: %r" % line
        if n:
            assert n.group(1) not in nodes, "node defined twice: %r" % line
            label = re.sub(r"#([0-9]+);", lambda m: chr(int(m.group(1))), n.group(3))
            nodes[n.group(1)] = label
        else:
            assert e.group(1) in nodes and e.group(3) in nodes, "edge before nodes: %r" % line
            edges.append((e.group(1), e.group(2), e.group(3)))
    return nodes, [(nodes[a], arrow, nodes[b]) for a, arrow, b in edges]


def test_map_edges(server):
    admin = setup_graph(server)
    tset(admin, "order.refunded", "OWNER", "refunds")  # declared, never seen
    text = call(admin, "EV.MAP")
    nodes, edges = parse_mermaid(text)
    assert set(edges) == {
        ("shop", "-->", "order.created"),
        ("payments", "-->", "order.paid"),
        ("refunds", "-.->|owner|", "order.refunded"),
        ("order.created", "-->", "audit"),
        ("order.created", "-->", "billing"),
        ("order.created", "-->", "created-only"),
        ("order.paid", "-->", "audit"),
        ("order.paid", "-->", "billing"),
        ("order.refunded", "-->", "audit"),
        ("order.refunded", "-->", "billing"),
        ("billing", "-->", "bill-1"),
        ("billing", "-->", "bill-2"),
        ("audit", "-->", "auditor"),
        ("order.created", "-->", "group warehouse"),
        ("group warehouse", "-->", "picker"),
    }
    assert len(edges) == len(set(edges))
    assert "unrelated" not in nodes.values()  # matches no type
    _, e2 = parse_mermaid(call(admin, "EV.MAP", "order.paid"))
    assert ("payments", "-->", "order.paid") in e2
    assert all("order.created" not in (a, b) for a, _, b in e2)


def test_map_escapes_any_name(server):
    admin = server.client()
    weird = 'we"ird] #x -->|<b>&é'
    tset(admin, "odd.t", "OWNER", weird)
    call(admin, "EV.SUB", 'sub"]]with', "odd.#")
    call(admin, "EV.READ", 'sub"]]with', "cons\u00fcmer\n(x)")
    nodes, edges = parse_mermaid(call(admin, "EV.MAP"))
    assert (weird, "-.->|owner|", "odd.t") in edges
    assert ("odd.t", "-->", 'sub"]]with') in edges
    assert ('sub"]]with', "-->", "cons\u00fcmer\n(x)") in edges


# ---------------------------------------------------------------- durability

def test_restart_keeps_registry_and_manifest(server):
    admin = setup_graph(server)
    tset(admin, "order.created", "DOC", "kept")
    before = manifest(admin)
    g_before = tget(admin, "order.created")
    server.restart()
    r = server.client()
    assert tget(r, "order.created") == g_before
    after = manifest(r)
    check_graph(after)
    assert after["order.created"]["producers"] == before["order.created"]["producers"]
    assert err(call, r, "EV.PUB", "order.paid", "x").startswith("NOPERM")


def test_kill9_keeps_registry(server):
    admin = server.client()
    tset(admin, "k.t", "OWNER", "svc", "SCHEMA", "json", "{}", "DOC", "d")
    tset(admin, "k.gone")
    call(admin, "EV.TYPE", "DEL", "k.gone")
    svc = named(server, "svc")
    for _ in range(5):
        call(svc, "EV.PUB", "k.t", "{}")
    time.sleep(1.5)  # the producer counts are written once a second
    g = tget(admin, "k.t")
    server.restart(sig=signal.SIGKILL)
    r = server.client()
    assert tget(r, "k.t") == g
    assert tget(r, "k.gone") is None
    p = manifest(r)["k.t"]["producers"]
    assert [(x["name"], x["count"]) for x in p] == [("svc", 5)]
    assert err(call, r, "EV.PUB", "k.t", "{}").startswith("NOPERM")
    # a second kill right after a change: the SET reply waited for its sync
    tset(r, "k.t", "OWNER", "svc2")
    server.restart(sig=signal.SIGKILL)
    assert tget(server.client(), "k.t")["owner"] == "svc2"


def test_info_section(server):
    r = server.client()
    tset(r, "i.t", "OWNER", "o")
    err(call, r, "EV.PUB", "i.t", "x")
    info = call(r, "INFO", "types")
    assert "types_registered:1" in info
    assert "types_refused_noperm:1" in info


# ---------------------------------------------------------------- validation: JSON Schema

ORDER_SCHEMA = """{
  "type": "object",
  "properties": {
    "id": {"type": "string", "minLength": 1},
    "qty": {"type": "integer", "minimum": 1},
    "items": {"type": "array", "items": {"type": "object",
              "properties": {"sku": {"type": "string", "pattern": "^sku-[0-9]+$"}},
              "required": ["sku"]}},
    "note": {"type": "string"}
  },
  "required": ["id", "qty"],
  "additionalProperties": false
}"""


def test_json_invalid_schemas_refused(server):
    r = server.client()
    m = err(call, r, "EV.TYPE", "SET", "j.t", "SCHEMA", "json", "{not json")
    assert m.startswith("ERR invalid schema for j.t: not JSON")
    m = err(call, r, "EV.TYPE", "SET", "j.t", "SCHEMA", "json", '{"format": "email"}')
    assert m.startswith("ERR invalid schema for j.t: ") and "format" in m
    m = err(call, r, "EV.TYPE", "SET", "j.t", "SCHEMA", "json", '{"pattern": "("}')
    assert m.startswith("ERR invalid schema for j.t: ") and "regex" in m
    assert tget(r, "j.t") is None


def test_json_validation_at_pub(server):
    r = server.client()
    assert tset(r, "order.placed", "SCHEMA", "json", ORDER_SCHEMA) == "OK"
    good = '{"id": "o-1", "qty": 2, "items": [{"sku": "sku-1"}]}'
    pos = int(call(r, "EV.PUB", "order.placed", good))
    bad = [
        ('{"id": "o-2", "qty": "two"}', "at /qty"),
        ('{"id": "o-2", "qty": 0}', "at /qty"),
        ('{"qty": 1}', "id"),
        ('{"id": "o-2", "qty": 1, "items": [{"sku": "sku-1"}, {"sku": "bad"}]}',
         "at /items/1/sku"),
        ('{"id": "o-2", "qty": 1, "extra": true}', "extra"),
        ('{"id": "o-2", "qty": 1', "not JSON"),
        ("", "not JSON"),
    ]
    for payload, where in bad:
        m = err(call, r, "EV.PUB", "order.placed", payload)
        assert m.startswith("INVALID order.placed: "), m
        assert where in m, (payload, m)
    evs = events(r, "order.placed")
    assert [(e["position"], e["payload"]) for e in evs] == [(pos, good)]
    info = call(r, "INFO", "types")
    assert "types_refused_invalid:%d" % len(bad) in info
    # the refused ones were not counted as published by anyone
    assert [p["count"] for p in manifest(r)["order.placed"]["producers"]] == [1]


def test_json_validation_at_xadd(server):
    r = server.client()
    tset(r, "order.placed", "SCHEMA", "json", ORDER_SCHEMA)
    good = '{"id": "o-1", "qty": 2}'
    xid = call(r, "XADD", "order.placed", "*", "source", "web", "payload", good)
    m = err(call, r, "XADD", "order.placed", "*", "payload", '{"id": "o-1", "qty": -1}')
    assert m.startswith("INVALID order.placed: at /qty"), m
    m = err(call, r, "XADD", "order.placed", "*", "source", "web")
    assert m == "INVALID order.placed: the entry has no 'payload' field"
    # a field named like it in another case is not the payload
    m = err(call, r, "XADD", "order.placed", "*", "Payload", good)
    assert m == "INVALID order.placed: the entry has no 'payload' field"
    assert call(r, "XLEN", "order.placed") == 1
    assert [x[0] for x in call(r, "XRANGE", "order.placed", "-", "+")] == [xid]
    assert len(events(r, "order.placed")) == 1
    # a refused XADD to a new key makes no stream
    tset(r, "fresh.t", "SCHEMA", "json", ORDER_SCHEMA)
    err(call, r, "XADD", "fresh.t", "*", "payload", "[]")
    assert call(r, "EXISTS", "fresh.t") == 0
    # a type without a schema takes any entry
    assert call(r, "XADD", "plain.t", "*", "a", "b")


def test_json_evolution(server):
    r = server.client()
    v1 = '{"type":"object","properties":{"id":{"type":"string"},"sku":{"type":"string"}},"required":["id"]}'
    v2_required = '{"type":"object","properties":{"id":{"type":"string"},"sku":{"type":"string"}},"required":["id","sku"]}'
    v2_added = '{"type":"object","properties":{"id":{"type":"string"},"sku":{"type":"string"},"n":{"type":"integer"}},"required":["id"]}'
    tset(r, "ev.o", "SCHEMA", "json", v1)
    m = err(call, r, "EV.TYPE", "SET", "ev.o", "SCHEMA", "json", v2_required)
    assert m.startswith("ERR incompatible schema change for ev.o: ") and "sku" in m
    assert m.endswith("(FORCE to replace)")
    g = tget(r, "ev.o")
    assert g["schema"] == v1 and int(g["version"]) == 1
    assert tset(r, "ev.o", "SCHEMA", "json", v2_added) == "OK"  # compatible
    assert int(tget(r, "ev.o")["version"]) == 2
    assert tset(r, "ev.o", "SCHEMA", "json", v2_required, "FORCE") == "OK"
    g = tget(r, "ev.o")
    assert g["schema"] == v2_required and int(g["version"]) == 3
    m = err(call, r, "EV.PUB", "ev.o", '{"id": "x"}')
    assert m.startswith("INVALID ev.o: ") and "sku" in m
    assert int(call(r, "EV.PUB", "ev.o", '{"id": "x", "sku": "s"}')) > 0


def test_json_schema_survives_kill9(server):
    r = server.client()
    tset(r, "order.placed", "SCHEMA", "json", ORDER_SCHEMA)
    server.restart(sig=signal.SIGKILL)
    r = server.client()
    m = err(call, r, "EV.PUB", "order.placed", '{"id": "o", "qty": "x"}')
    assert m.startswith("INVALID order.placed: at /qty")
    assert int(call(r, "EV.PUB", "order.placed", '{"id": "o", "qty": 3}')) > 0


# ---------------------------------------------------------------- validation: Protobuf

PROTO = __import__("pathlib").Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "proto"


def varint(v):
    v &= (1 << 64) - 1
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


@pytest.fixture(scope="module")
def pbenv(tmp_path_factory):
    """Descriptor sets made by protoc from tests/fixtures/proto and the
    python3-protobuf modules of the same files."""
    import importlib
    import subprocess
    import sys
    tmp = tmp_path_factory.mktemp("types-proto")

    def protoc(*args):
        subprocess.run(["protoc", "-I", str(PROTO), *args], check=True, cwd=tmp)

    files = ["shop/v1/common.proto", "shop/v1/order.proto"]
    protoc("--include_imports", "--descriptor_set_out=set.pb", *files)
    protoc("--python_out=" + str(tmp), *files)
    sets = {"order": (tmp / "set.pb").read_bytes()}
    for name in ["v1", "added", "qty_string", "no_ts"]:
        protoc("--include_imports", "--descriptor_set_out=ev_%s.pb" % name,
               "evolve/%s.proto" % name)
        sets[name] = (tmp / ("ev_%s.pb" % name)).read_bytes()
    sys.path.insert(0, str(tmp))
    try:
        order = importlib.import_module("shop.v1.order_pb2")
    finally:
        sys.path.remove(str(tmp))
    return {"sets": sets, "order": order}


def order_payload(pbenv, **kw):
    m = pbenv["order"].OrderCreated(id="ord-1", timestamp=1700000000123,
                                    customer="Zoë", tags=[1, 2, 300], gift=True, **kw)
    it = m.items.add(sku="sku-1", qty=2)
    it.price.units = 10
    m.attrs["channel"] = "web"
    return m.SerializeToString()


def test_protobuf_invalid_schemas_refused(server, pbenv):
    r = server.client(decode_responses=False)
    fds = pbenv["sets"]["order"]
    m = err(call, r, "EV.TYPE", "SET", "p.t", "SCHEMA", "protobuf", b"\xff\x00garbage",
            "MESSAGE", "shop.v1.OrderCreated")
    assert m.startswith("ERR invalid schema for p.t: not a FileDescriptorSet"), m
    m = err(call, r, "EV.TYPE", "SET", "p.t", "SCHEMA", "protobuf", fds,
            "MESSAGE", "shop.v1.Nope")
    assert m.startswith("ERR invalid schema for p.t: ") and "shop.v1.Nope" in m, m
    m = err(call, r, "EV.TYPE", "SET", "p.t", "SCHEMA", "protobuf", fds,
            "MESSAGE", "shop.v1.OrderCreated", "REQUIRE", "id,nosuch")
    assert m.startswith("ERR invalid schema for p.t: ") and "nosuch" in m, m
    assert call(r, "EV.TYPE", "GET", "p.t") is None


def test_protobuf_validation(server, pbenv):
    r = server.client(decode_responses=False)
    fds = pbenv["sets"]["order"]
    assert call(r, "EV.TYPE", "SET", "order.created", "SCHEMA", "protobuf", fds,
                "MESSAGE", "shop.v1.OrderCreated", "REQUIRE", "id,timestamp",
                "OWNER", "shop") == b"OK"
    g = rec(call(r, "EV.TYPE", "GET", "order.created"))
    assert g[b"schema"] == fds and g[b"message"] == b"shop.v1.OrderCreated"
    assert g[b"require"] == [b"id", b"timestamp"] and g[b"schema_kind"] == b"protobuf"
    shop = server.client(decode_responses=False, client_name="shop")
    good = order_payload(pbenv)
    pos = int(call(shop, "EV.PUB", "order.created", good))
    xid = call(shop, "XADD", "order.created", "*", "payload", order_payload(pbenv, rating=1.5))
    assert xid
    no_ts = pbenv["order"].OrderCreated(id="ord-2").SerializeToString()
    # field 4 (items) sent as a varint: wrong wire type
    wrong_wire = good + varint(4 << 3 | 0) + varint(1)
    truncated = good[:-3]
    nested_bad = good + varint(4 << 3 | 2) + varint(3) + varint(2 << 3 | 2) + varint(1) + b"x"
    cases = [
        (no_ts, "timestamp"),
        (wrong_wire, "field 4 (items[1]): wire type 0 (varint)"),
        (truncated, "runs past the end"),
        (nested_bad, "items"),
    ]
    for payload, what in cases:
        m = err(call, shop, "EV.PUB", "order.created", payload)
        assert m.startswith("INVALID order.created: "), m
        assert what in m, (what, m)
    m = err(call, shop, "XADD", "order.created", "*", "payload", no_ts)
    assert m.startswith("INVALID order.created: ") and "timestamp" in m
    # the owner rule comes before the schema
    m = err(call, r, "EV.PUB", "order.created", good)
    assert m.startswith("NOPERM type 'order.created' is owned by 'shop'")
    evs = [rec(e) for e in call(r, "EV.RANGE", "order.created")]
    assert [int(e[b"position"]) for e in evs][0] == pos and len(evs) == 2
    assert evs[0][b"payload"] == good
    # what was stored decodes in python3-protobuf
    assert pbenv["order"].OrderCreated.FromString(evs[0][b"payload"]).id == "ord-1"


def test_protobuf_evolution(server, pbenv):
    r = server.client(decode_responses=False)
    s = pbenv["sets"]
    base = ("MESSAGE", "shop.v1.OrderCreated", "REQUIRE", "id,timestamp")
    assert call(r, "EV.TYPE", "SET", "o.c", "SCHEMA", "protobuf", s["v1"], *base) == b"OK"
    m = err(call, r, "EV.TYPE", "SET", "o.c", "SCHEMA", "protobuf", s["qty_string"], *base)
    assert m.startswith("ERR incompatible schema change for o.c: ") and "qty" in m, m
    assert m.endswith("(FORCE to replace)")
    # dropping an envelope field is refused too
    m = err(call, r, "EV.TYPE", "SET", "o.c", "SCHEMA", "protobuf", s["v1"],
            "MESSAGE", "shop.v1.OrderCreated", "REQUIRE", "id")
    assert m.startswith("ERR incompatible schema change for o.c: "), m
    assert int(rec(call(r, "EV.TYPE", "GET", "o.c"))[b"version"]) == 1
    assert call(r, "EV.TYPE", "SET", "o.c", "SCHEMA", "protobuf", s["added"], *base) == b"OK"
    assert int(rec(call(r, "EV.TYPE", "GET", "o.c"))[b"version"]) == 2
    assert call(r, "EV.TYPE", "SET", "o.c", "SCHEMA", "protobuf", s["qty_string"], *base,
                "FORCE") == b"OK"
    g = rec(call(r, "EV.TYPE", "GET", "o.c"))
    assert int(g[b"version"]) == 3 and g[b"schema"] == s["qty_string"]
    # a json schema in place of a protobuf one is a change of language
    m = err(call, r, "EV.TYPE", "SET", "o.c", "SCHEMA", "json", "{}")
    assert m.startswith("ERR incompatible schema change for o.c: schema language "
                        "protobuf -> json"), m


def test_protobuf_schema_survives_restart(server, pbenv):
    r = server.client(decode_responses=False)
    call(r, "EV.TYPE", "SET", "order.created", "SCHEMA", "protobuf",
         pbenv["sets"]["order"], "MESSAGE", "shop.v1.OrderCreated", "REQUIRE", "id,timestamp")
    server.restart(sig=signal.SIGKILL)
    r = server.client(decode_responses=False)
    no_ts = pbenv["order"].OrderCreated(id="ord-2").SerializeToString()
    m = err(call, r, "EV.PUB", "order.created", no_ts)
    assert m.startswith("INVALID order.created: ") and "timestamp" in m
    assert int(call(r, "EV.PUB", "order.created", order_payload(pbenv))) > 0
    server.restart()
    r = server.client(decode_responses=False)
    assert err(call, r, "EV.PUB", "order.created", no_ts).startswith("INVALID")
