"""Protobuf payload validation (src/contract/pbschema.c) against real protoc
output and real python3-protobuf payloads.

At test time (module fixture), into a temp dir:
  protoc --include_imports --descriptor_set_out  on tests/fixtures/proto
  protoc --python_out                            the same files, imported here
Valid payloads are SerializeToString() of python3-protobuf (Debian) messages;
broken ones are those bytes cut or spliced with hand-encoded records. The C
side is tests/tools/pbschema_check ($BUILD/tools, `make tools`; set
PBSCHEMA_CHECK to run another build of it, e.g. one with ASan), which prints
one verdict line per payload file. Every assertion checks the exact verdict
text (the error names the field path, the problem and the byte offset).

Rules under test: docs/contracts.md, "Protobuf"."""

import importlib
import os
import random
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PROTO = REPO / "tests" / "fixtures" / "proto"
SANITIZER_MARKERS = ("AddressSanitizer", "runtime error:", "LeakSanitizer")


def tool():
    if os.environ.get("PBSCHEMA_CHECK"):
        return Path(os.environ["PBSCHEMA_CHECK"]).resolve()
    return REPO / os.environ.get("BUILD", "build") / "tools" / "pbschema_check"


# --- hand encoding of wire records -----------------------------------------

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


def tag(num, wt):
    return varint(num << 3 | wt)


def ld(num, data):
    return tag(num, 2) + varint(len(data)) + data


def vi(num, v):
    return tag(num, 0) + varint(v)


# --- fixtures ----------------------------------------------------------------

class Env:
    """The generated descriptor sets, python modules and a runner."""

    def __init__(self, tmp):
        self.tmp = tmp
        self.n = 0

    def protoc(self, *args):
        subprocess.run(["protoc", "-I", str(PROTO), *args], check=True, cwd=self.tmp)

    def run(self, *args):
        p = subprocess.run([str(tool()), *map(str, args)], capture_output=True, text=True,
                           timeout=60)
        for m in SANITIZER_MARKERS:
            assert m not in p.stderr, p.stderr
        assert p.returncode in (0, 1), (p.returncode, p.stdout, p.stderr)
        return p

    def check(self, fds, message, payloads, env=()):
        """The verdicts ("ok" or the error text) for each payload (bytes)."""
        paths = []
        for data in payloads:
            self.n += 1
            path = self.tmp / ("payload-%05d.bin" % self.n)
            path.write_bytes(data)
            paths.append(path)
        args = (["-r", ",".join(env)] if env else []) + [fds, message] + paths
        p = self.run(*args)
        assert p.returncode == 0, p.stdout + p.stderr
        out = {}
        for line in p.stdout.splitlines():
            path, _, verdict = line.partition(": ")
            out[path] = verdict[len("error: "):] if verdict.startswith("error: ") else verdict
        return [out[str(path)] for path in paths]

    def one(self, data, message="shop.v1.OrderCreated", env=("id", "timestamp"), fds=None):
        return self.check(fds or self.fds, message, [data], env)[0]


@pytest.fixture(scope="module")
def pb(tmp_path_factory):
    if not tool().exists():
        pytest.fail("%s is not built (make tools)" % tool())
    tmp = tmp_path_factory.mktemp("pbschema")
    e = Env(tmp)
    files = ["shop/v1/common.proto", "shop/v1/order.proto", "legacy/shipment.proto"]
    e.protoc("--include_imports", "--descriptor_set_out=set.pb", *files)
    e.protoc("--descriptor_set_out=noimports.pb", "shop/v1/order.proto")
    e.protoc("--python_out=" + str(tmp), *files)
    for name in ["v1", "added", "qty_string", "ts_sint", "items_single", "no_ts"]:
        e.protoc("--include_imports", "--descriptor_set_out=ev_%s.pb" % name,
                 "evolve/%s.proto" % name)
    e.fds = tmp / "set.pb"
    sys.path.insert(0, str(tmp))
    try:
        e.order = importlib.import_module("shop.v1.order_pb2")
        e.ship = importlib.import_module("legacy.shipment_pb2")
    finally:
        sys.path.remove(str(tmp))
    return e


def full_order(pb):
    """An OrderCreated with every field set (about 300 bytes)."""
    m = pb.order.OrderCreated(id="ord-000042", timestamp=1700000000123,
                              customer="Zoë Müller", tags=[1, 2, 300, 70000, -5],
                              status=pb.order.OrderCreated.PAID, gift=True, weight=2.75,
                              codes=[7, 8, 0xFFFFFFFF], delta=-123456, email="zoe@example.com",
                              rating=4.5, blob=bytes(range(40)))
    for i in range(3):
        it = m.items.add(sku="sku-%d" % i, qty=i + 1)
        it.price.units = 10 * (i + 1)
        it.price.nanos = 500000000
        it.price.currency = 1
    m.attrs["channel"] = "web"
    m.attrs["coupon"] = "SPRING"
    m.total.units = 60
    m.total.currency = 2
    m.by_sku["sku-0"].sku = "sku-0"
    m.by_sku["sku-0"].qty = 1
    return m


def minimal(pb):
    return pb.order.OrderCreated(id="o1", timestamp=5).SerializeToString()


def shipment(pb, **kw):
    s = pb.ship.Shipment(id="s1", timestamp=5, carrier=2, weights=[1, 2, 300],
                         deltas=[-1, 3], label="x", route=[1, 5], fragile=True, **kw)
    s.parcels.add(code="p1", grams=3)
    s.parcels.add(code="p2")
    s.note.text = "fragile"
    return s


# --- valid payloads ----------------------------------------------------------

def test_valid_payloads(pb):
    full = full_order(pb).SerializeToString()
    assert 250 <= len(full) <= 350
    nested_ok = pb.order.OrderCreated(id="x", timestamp=1)
    nested_ok.items.add().sku = "only-sku"  # proto3: nothing is required inside
    cases = [
        full,
        minimal(pb),
        nested_ok.SerializeToString(),
        # proto3 open enum: an unknown value is kept, not refused
        minimal(pb) + vi(7, 99),
        # repeated scalars unpacked, as proto2 writers send them
        minimal(pb) + vi(5, 1) + vi(5, 2) + tag(11, 5) + b"\x01\x00\x00\x00",
        # packed and unpacked records of one field mixed
        minimal(pb) + ld(5, varint(1) + varint(2)) + vi(5, 3),
        # oneof: both members on the wire, the last wins
        minimal(pb) + ld(13, b"a@b") + ld(14, b"+49"),
        # unknown fields of every skippable wire type (forward compatibility)
        minimal(pb) + vi(99, 1) + ld(100, b"\xff\xfe") + tag(101, 5) + b"abcd"
        + tag(102, 1) + b"abcdefgh",
        # a field repeated: last wins for scalars, merge for messages
        minimal(pb) + vi(2, 6) + ld(8, b"") + ld(8, vi(1, 3)),
        # 10-byte varint of -1 for an int32 (sign extension)
        minimal(pb) + tag(12, 0) + varint(-1),
        # an empty packed record
        minimal(pb) + ld(5, b""),
    ]
    assert pb.check(pb.fds, "shop.v1.OrderCreated", cases, ("id", "timestamp")) == \
        ["ok"] * len(cases)
    for data in cases:  # python3-protobuf parses them too
        pb.order.OrderCreated.FromString(data)


def test_valid_proto2(pb):
    s = shipment(pb)
    data = s.SerializeToString()
    cases = [
        data,
        # a closed enum, packed (parsers accept packed for any repeated scalar)
        data + ld(10, varint(2) + varint(5)),
        # proto2 strings are not checked for UTF-8
        data + ld(9, b"\xff\xfe"),
        # the group with an unknown field inside
        data + tag(5, 3) + vi(50, 1) + tag(5, 4),
    ]
    assert pb.check(pb.fds, "legacy.Shipment", cases) == ["ok"] * len(cases)
    for d in cases:
        pb.ship.Shipment.FromString(d)
    # the envelope on a proto2 message
    assert pb.one(data, "legacy.Shipment", ("id", "label")) == "ok"


def test_import_and_leading_dot(pb):
    """The set holds three files (--include_imports); the root may be named
    with protoc's leading dot."""
    data = full_order(pb).SerializeToString()
    assert pb.one(data, ".shop.v1.OrderCreated") == "ok"
    # a nested type as the root, and an imported one
    assert pb.one(vi(2, 3) + ld(1, b"sku"), "shop.v1.OrderCreated.Item", ()) == "ok"
    assert pb.one(vi(1, 3) + vi(3, 1), "shop.v1.Money", ()) == "ok"


# --- wrong wire types ----------------------------------------------------------

WIRE = {0: "varint", 1: "64-bit", 2: "length-delimited", 3: "start group",
        4: "end group", 5: "32-bit"}
# field number -> (path in the error, declared type, wire type it wants)
ORDER_FIELDS = {
    1: ("id", "string", 2), 2: ("timestamp", "int64", 0), 3: ("customer", "string", 2),
    4: ("items[0]", "message", 2), 5: ("tags[0]", "int32", 0),
    6: ("attrs[0]", "message", 2), 7: ("status", "enum", 0), 8: ("total", "message", 2),
    9: ("gift", "bool", 0), 10: ("weight", "double", 1), 11: ("codes[0]", "fixed32", 5),
    12: ("delta", "sint64", 0), 13: ("email", "string", 2), 14: ("phone", "string", 2),
    15: ("rating", "float", 5), 16: ("blob", "bytes", 2), 17: ("by_sku[0]", "message", 2),
}


def wrong_record(num, want, packable):
    """A record of field num in a wire type it does not accept."""
    if want == 2:
        return 0, vi(num, 1)
    if want == 0 and not packable:
        return 2, ld(num, b"\x01")
    if want == 0:
        return 5, tag(num, 5) + b"\x01\x00\x00\x00"
    if want in (1, 5) and not packable:
        return 0, vi(num, 1)
    return 1, tag(num, 1) + b"\x00" * 8


def test_wrong_wire_type_per_field(pb):
    base = minimal(pb)
    cases, want = [], []
    for num, (path, tname, wt) in ORDER_FIELDS.items():
        got_wt, rec = wrong_record(num, wt, num in (5, 11))
        cases.append(base + rec)
        want.append("field %d (%s): wire type %d (%s) at byte %d, declared %s wants %d (%s)"
                    % (num, path, got_wt, WIRE[got_wt], len(base), tname, wt, WIRE[wt]))
    assert pb.check(pb.fds, "shop.v1.OrderCreated", cases, ("id", "timestamp")) == want


def test_wrong_wire_type_nested_path(pb):
    m = full_order(pb)
    head = pb.order.OrderCreated(id="o1", timestamp=5)
    head.items.add(sku="a")
    prefix = head.SerializeToString()
    bad_item = ld(1, b"b") + ld(2, b"\x01")  # qty (int32) as bytes
    data = prefix + ld(4, bad_item)
    off = len(prefix) + 2 + 3  # tag + length of the item, then sku's 3 bytes
    assert pb.one(data) == ("field 2 (items[1].qty): wire type 2 (length-delimited) at "
                            "byte %d, declared int32 wants 0 (varint)" % off)
    # a map value's field: by_sku[k].price (Money) as a varint
    entry = ld(1, b"k") + ld(2, vi(3, 7))
    assert pb.one(minimal(pb) + ld(17, entry)) == (
        "field 3 (by_sku[0].value.price): wire type 0 (varint) at byte %d, declared "
        "message wants 2 (length-delimited)" % (len(minimal(pb)) + 3 + 3 + 2))
    assert m.ByteSize() > 0


# --- truncation and bounds -----------------------------------------------------

def python_accepts(pb, data):
    try:
        with warnings.catch_warnings():  # python stops quietly at a stray end-group tag
            warnings.simplefilter("ignore")
            m = pb.order.OrderCreated.FromString(data)
    except Exception:  # google.protobuf.message.DecodeError
        return False
    return m.id != "" and m.timestamp != 0


def test_truncated_prefixes_match_python(pb):
    """Every prefix of a full payload: refused exactly when python3-protobuf
    refuses it (or it lacks the envelope)."""
    data = full_order(pb).SerializeToString()
    cuts = list(range(1, len(data)))
    got = pb.check(pb.fds, "shop.v1.OrderCreated", [data[:k] for k in cuts],
                   ("id", "timestamp"))
    refused = 0
    for k, verdict in zip(cuts, got):
        assert (verdict == "ok") == python_accepts(pb, data[:k]), (k, verdict)
        refused += verdict != "ok"
    assert refused > len(cuts) // 2


def test_truncation_errors(pb):
    mini = minimal(pb)
    cases = {
        b"\x80": "truncated tag at byte 0",
        b"\x0a\x0aabc": "field 1 (id): length 10 at byte 0 runs past the end (3 bytes left)",
        b"\x10\xff": "field 2 (timestamp): truncated varint at byte 1",
        mini + b"\x51\x00\x00": "field 10 (weight): truncated at byte %d (8 bytes wanted, "
                                "2 left)" % (len(mini) + 1),
        mini + b"\x7d\x00": "field 15 (rating): truncated at byte %d (4 bytes wanted, 1 left)"
                            % (len(mini) + 1),
        mini + b"\x0a": "field 1 (id): truncated length at byte %d" % (len(mini) + 1),
        mini + tag(12, 0) + b"\xff" * 10 + b"\x01": "field 12 (delta): overlong varint at "
                                                    "byte %d" % (len(mini) + 1),
        mini + tag(12, 0) + b"\xff" * 9 + b"\x02": "field 12 (delta): overlong varint at "
                                                   "byte %d" % (len(mini) + 1),
        mini + ld(11, b"\x01\x02\x03"): "field 11 (codes[0]): packed fixed32 record of 3 "
                                        "bytes at byte %d is not a multiple of 4"
                                        % (len(mini) + 2),
        mini + ld(5, b"\x01\x80"): "field 5 (tags[1]): truncated varint in packed record at "
                                   "byte %d" % (len(mini) + 3),
        mini + vi(99, 1) + tag(100, 2): "field 100: truncated length at byte %d"
                                        % (len(mini) + 5),
        mini + b"\x00": "field number 0 at byte %d" % len(mini),
        mini + tag(20, 6): "field 20: wire type 6 (invalid) at byte %d" % len(mini),
        mini + b"\xff\xff\xff\xff\x7f": "tag at byte %d does not fit 32 bits" % len(mini),
    }
    got = pb.check(pb.fds, "shop.v1.OrderCreated", list(cases), ("id", "timestamp"))
    assert got == list(cases.values())


def test_length_past_nested_end(pb):
    head = minimal(pb)
    item = ld(1, b"sku") + tag(3, 2) + varint(50) + b"\x08\x01"  # price says 50, has 2
    data = head + ld(4, item)
    inner = len(head) + 2 + 5  # item tag+len, sku record
    assert pb.one(data) == ("field 3 (items[0].price): length 50 at byte %d runs past the "
                            "end (2 bytes left)" % inner)
    # the outer length is what bounds the inner message: 2 bytes past the item
    data2 = head + ld(4, ld(1, b"sku")[:-1]) + b"u" + vi(2, 1)
    assert pb.one(data2) == ("field 1 (items[0].sku): length 3 at byte %d runs past the end "
                             "(2 bytes left)" % (len(head) + 2))


# --- values ----------------------------------------------------------------------

BAD_UTF8 = [b"\xff", b"ab\xc0\xaf", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xe2\x82",
            b"ok\x80", b"\xf8\x88\x80\x80\x80"]


def test_proto3_bad_utf8(pb):
    mini = minimal(pb)
    cases, want = [], []
    for bad in BAD_UTF8:
        good = len(bad) - len(bad.lstrip(b"abok"))
        cases.append(mini + ld(3, bad))
        want.append("field 3 (customer): invalid UTF-8 at byte %d (proto3 string)"
                    % (len(mini) + 2 + good))
    # nested: a map key, an item's sku
    cases.append(mini + ld(6, ld(1, b"k\xff") + ld(2, b"v")))
    want.append("field 1 (attrs[0].key): invalid UTF-8 at byte %d (proto3 string)"
                % (len(mini) + 5))
    item_ok = ld(4, ld(1, b"fine"))
    cases.append(mini + item_ok + ld(4, ld(1, b"\xc3")))
    want.append("field 1 (items[1].sku): invalid UTF-8 at byte %d (proto3 string)"
                % (len(mini) + len(item_ok) + 4))
    # valid multi-byte text passes
    cases.append(mini + ld(3, "Zoë 東京 🚀".encode()))
    want.append("ok")
    assert pb.check(pb.fds, "shop.v1.OrderCreated", cases, ("id", "timestamp")) == want
    for data, w in zip(cases, want):  # python3-protobuf refuses the same ones
        assert python_accepts(pb, data) == (w == "ok"), data


def test_closed_enum_and_bool(pb):
    base = shipment(pb).SerializeToString()
    n = len(base)
    cases = {
        base + vi(3, 3): "field 3 (carrier): value 3 at byte %d is not in closed enum "
                         "legacy.Carrier" % (n + 1),
        base + vi(3, -1): "field 3 (carrier): value -1 at byte %d is not in closed enum "
                          "legacy.Carrier" % (n + 1),
        base + vi(10, 0): "field 10 (route[2]): value 0 at byte %d is not in closed enum "
                          "legacy.Carrier" % (n + 1),
        base + ld(10, varint(1) + varint(7)): "field 10 (route[3]): value 7 at byte %d is "
                                              "not in closed enum legacy.Carrier" % (n + 3),
        base + vi(11, 2): "field 11 (fragile): bool value 2 at byte %d (wants 0 or 1)"
                          % (n + 1),
    }
    got = pb.check(pb.fds, "legacy.Shipment", list(cases))
    assert got == list(cases.values())
    mini = minimal(pb)
    assert pb.one(mini + vi(9, 1 << 40)) == ("field 9 (gift): bool value 1099511627776 at "
                                             "byte %d (wants 0 or 1)" % (len(mini) + 1))


# --- required and envelope ----------------------------------------------------------

def test_required_and_envelope(pb):
    no_ts = pb.ship.Shipment(id="s1")
    bad_parcel = pb.ship.Shipment(id="s1", timestamp=2)
    bad_parcel.parcels.add(code="a")
    bad_parcel.parcels.add(grams=1)
    got = pb.check(pb.fds, "legacy.Shipment",
                   [no_ts.SerializePartialToString(), bad_parcel.SerializePartialToString()])
    assert got == ["field 'timestamp' (2) is required and missing",
                   "field 'code' (1) is required and missing in parcels[1]"]
    o = pb.order.OrderCreated
    cases = [
        o(timestamp=1).SerializeToString(),
        o(id="x").SerializeToString(),
        # proto3 leaves a field at its default off the wire: timestamp 0 is absent
        o(id="x", timestamp=0).SerializeToString(),
        o(id="x", timestamp=1).SerializeToString(),
    ]
    assert pb.check(pb.fds, "shop.v1.OrderCreated", cases, ("id", "timestamp")) == [
        "field 'id' (1) is required and missing",
        "field 'timestamp' (2) is required and missing",
        "field 'timestamp' (2) is required and missing",
        "ok",
    ]
    # the envelope applies at the top level only: Node inside Node needs no value
    node = pb.order.Node(value=1)
    node.child.child.value = 0
    assert pb.one(node.SerializeToString(), "shop.v1.Node", ("value",)) == "ok"
    assert pb.one(pb.order.Node(child=pb.order.Node(value=3)).SerializeToString(),
                  "shop.v1.Node", ("value",)) == "field 'value' (2) is required and missing"


# --- depth, groups ---------------------------------------------------------------

def chain(pb, levels):
    n = pb.order.Node(value=levels)
    cur = n
    for _ in range(levels):
        cur = cur.child
        cur.value = 1
    return n.SerializeToString()


def test_nesting_depth(pb):
    got = pb.check(pb.fds, "shop.v1.Node", [chain(pb, 64), chain(pb, 65)])
    assert got[0] == "ok"
    path = ".".join(["child"] * 65)
    assert got[1].startswith("field 1 (%s): nested deeper than 64 messages at byte " % path)
    # hand-made: 10000 levels of empty children (no python involved), and the
    # same through a declared group
    deep = b""
    for _ in range(10000):
        deep = ld(1, deep)
    assert pb.one(deep, "shop.v1.Node", ()).startswith(
        "field 1 (%s): nested deeper than 64 messages at byte " % path)


def test_groups(pb):
    base = shipment(pb).SerializeToString()
    n = len(base)
    cases = {
        # a group where a field is not declared a group, and an unknown one
        base + tag(9, 3) + tag(9, 4): "field 9 (label): wire type 3 (start group) at byte %d,"
                                      " declared string wants 2 (length-delimited)" % n,
        base + tag(40, 3) + tag(40, 4): "field 40: wire type 3 (start group) at byte %d but "
                                        "the field is not a declared group" % n,
        # the declared group sent length-delimited
        base + ld(5, ld(6, b"x")): "field 5 (note): wire type 2 (length-delimited) at byte %d,"
                                   " declared group wants 3 (start group)" % n,
        # not closed, closed by another number, a stray end tag
        base + tag(5, 3) + ld(6, b"x"): "group not closed before byte %d (in note)" % (n + 4),
        base + tag(5, 3) + tag(7, 4): "field 7 (in note): end group tag at byte %d with no "
                                      "open group 7" % (n + 1),
        base + tag(5, 4): "field 5: end group tag at byte %d with no open group 5" % n,
        # a bad value inside the group
        base + tag(5, 3) + ld(6, b"x") + vi(6, 1) + tag(5, 4):
            "field 6 (note.text): wire type 0 (varint) at byte %d, declared string wants 2 "
            "(length-delimited)" % (n + 4),
    }
    got = pb.check(pb.fds, "legacy.Shipment", list(cases))
    assert got == list(cases.values())
    # Note declares no group inside it: a nested start tag of 5 is refused
    deep = b"".join(tag(5, 3) for _ in range(100))
    assert pb.one(deep, "legacy.Shipment", ()) == (
        "field 5 (in note): wire type 3 (start group) at byte 1 but the field is not a "
        "declared group")


def test_random_bytes_never_crash_and_agree_with_python(pb):
    """Random buffers, bare and after a valid envelope: the tool survives all
    (ASan build: PBSCHEMA_CHECK), and whatever python3-protobuf refuses is
    refused here too."""
    rng = random.Random(14)
    mini = minimal(pb)
    full = full_order(pb).SerializeToString()
    cases = []
    for i in range(1500):
        junk = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 64)))
        cases.append(junk if i % 3 == 0 else mini + junk)
    for i in range(500):  # flipped bytes in a real payload
        b = bytearray(full)
        for _ in range(rng.randrange(1, 4)):
            b[rng.randrange(len(b))] = rng.randrange(256)
        cases.append(bytes(b))
    got = pb.check(pb.fds, "shop.v1.OrderCreated", cases, ("id", "timestamp"))
    assert len(got) == len(cases)
    for data, verdict in zip(cases, got):
        assert verdict == "ok" or verdict.split(":")[0] != "", verdict
        if not python_accepts(pb, data):
            assert verdict != "ok", data.hex()
    assert sum(v == "ok" for v in got) > 0
    assert sum(v != "ok" for v in got) > 1000


# --- compile errors -----------------------------------------------------------------

def compile_out(pb, fds, message, env=()):
    p = pb.run(*((["-r", ",".join(env)] if env else []) + [fds, message, pb.fds]))
    return p.returncode, p.stdout.strip()


def test_compile_errors(pb):
    junk = pb.tmp / "junk.pb"
    junk.write_bytes(b"\xff\xff\xff")
    assert compile_out(pb, pb.fds, "shop.v1.Nope") == (
        1, "compile: message 'shop.v1.Nope' not in the set")
    assert compile_out(pb, pb.fds, "shop.v1.Currency") == (
        1, "compile: 'shop.v1.Currency' is an enum, not a message")
    assert compile_out(pb, pb.fds, "shop.v1.OrderCreated", ("id", "nope")) == (
        1, "compile: field 'nope' not in shop.v1.OrderCreated")
    assert compile_out(pb, pb.tmp / "noimports.pb", "shop.v1.OrderCreated") == (
        1, "compile: type '.shop.v1.Money' of field 'total' in shop.v1.OrderCreated is not "
           "in the set")
    assert compile_out(pb, junk, "shop.v1.OrderCreated") == (
        1, "compile: not a FileDescriptorSet: bad wire format at byte 0")
    # a payload is not a descriptor set either: it may even unpack, but
    # then holds no such message
    full = pb.tmp / "full.bin"
    full.write_bytes(full_order(pb).SerializeToString())
    rc, out = compile_out(pb, full, "shop.v1.OrderCreated")
    assert rc == 1 and out.startswith("compile: not a FileDescriptorSet: "), out


# --- evolution ---------------------------------------------------------------------

def compat(pb, old, new, env=None, new_env=None, old_msg="shop.v1.OrderCreated",
           new_msg=None):
    args = ["-c"]
    if env:
        args += ["-r", ",".join(env)]
    if new_env:
        args += ["-R", ",".join(new_env)]
    args += [old, new, old_msg] + ([new_msg] if new_msg else [])
    return pb.run(*args).stdout.strip()


def test_compatibility(pb):
    ev = {k: pb.tmp / ("ev_%s.pb" % k)
          for k in ["v1", "added", "qty_string", "ts_sint", "items_single", "no_ts"]}
    env = ("id", "timestamp")
    assert compat(pb, ev["v1"], ev["added"], env) == "compatible"
    assert compat(pb, ev["v1"], ev["v1"], env) == "compatible"
    assert compat(pb, ev["v1"], ev["qty_string"], env) == \
        "incompatible: shop.v1.OrderCreated.Item field 2 'qty': int32 -> string"
    assert compat(pb, ev["v1"], ev["ts_sint"], env) == \
        "incompatible: field 2 'timestamp': int64 -> sint64"
    assert compat(pb, ev["v1"], ev["items_single"], env) == \
        "incompatible: field 4 'items': repeated -> optional"
    assert compat(pb, ev["v1"], ev["no_ts"], env, ("id",)) == \
        "incompatible: envelope field 'timestamp' removed"
    assert compat(pb, ev["v1"], ev["no_ts"]) == "compatible"
    assert compat(pb, ev["v1"], ev["v1"], ("id",), env) == \
        "incompatible: envelope field 'timestamp' (2) added: earlier payloads may lack it"
    assert compat(pb, ev["v1"], pb.fds, None, None, "shop.v1.OrderCreated",
                  "legacy.Shipment") == \
        "incompatible: message renamed: shop.v1.OrderCreated -> legacy.Shipment"
    # what the rules promise: old valid payloads stay valid for the new schema
    m = pb.order.OrderCreated(id="o", timestamp=3)
    m.items.add(sku="a", qty=2)
    data = m.SerializeToString()
    assert pb.one(data, fds=ev["added"]) == "ok"
    assert pb.one(data, fds=ev["qty_string"]) == ("field 2 (items[0].qty): wire type 0 "
                                                  "(varint) at byte 10, declared string "
                                                  "wants 2 (length-delimited)")


def test_speed_report(pb, capsys):
    """Not asserted: the validation time of a ~300-byte 10+-field payload."""
    data = pb.tmp / "bench.bin"
    data.write_bytes(full_order(pb).SerializeToString())
    p = pb.run("-b", "200000", "-r", "id,timestamp", pb.fds, "shop.v1.OrderCreated", data)
    assert p.returncode == 0 and p.stdout.startswith("bytes="), p.stdout
    with capsys.disabled():
        print("\npbschema validate:", p.stdout.strip())
