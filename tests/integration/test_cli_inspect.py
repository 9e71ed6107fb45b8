"""tincan inspect DATA (issue 12): the CLI's read-only report on a data
directory's events, run on what the real server wrote.

A server with 64 KiB segments gets events of several types, then inspect
(--json, also the text report and --quick) must find the same counts per type,
positions, segments and indexes; on a running server's directory too, without
changing a file. Then the damage catalogue: a deleted .idx (a warning, exit 0),
a flipped byte inside a sealed segment (exit 1 naming segment and offset), a
last segment cut mid-record (a torn tail, exit 0, which the server then cuts),
a range --repair quarantined (listed, exit 0), and bad usage (exit 2).

The CLI is $TINCAN_CLI, else $BUILD/tincan (build/tincan); every test also runs
with the ASan+UBSan CLI ($BUILD/asan/tincan) when it has been built, and fails
on any sanitizer report in its stderr.
"""

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from conftest import REPO, SANITIZER_MARKERS, call

SEGMENT_SIZE = 65536
TYPES = ("order.created", "order.paid", "user.signup")
ISO_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def cli_binaries():
    if os.environ.get("TINCAN_CLI"):
        return [Path(os.environ["TINCAN_CLI"]).resolve()]
    build = REPO / os.environ.get("BUILD", "build")
    out = [build / "tincan"]
    if (build / "asan" / "tincan").exists():
        out.append(build / "asan" / "tincan")
    return out


@pytest.fixture(params=cli_binaries(),
                ids=lambda p: "asan" if p.parent.name == "asan" else "cli")
def inspect(request):
    """inspect(data_dir, *flags) -> (exit status, stdout, stderr); --json
    output comes back parsed."""
    binary = request.param
    if not binary.exists():
        pytest.fail("CLI %s does not exist (make cli, or set TINCAN_CLI)" % binary)
    env = dict(os.environ)
    env.setdefault("ASAN_OPTIONS", "abort_on_error=0:halt_on_error=1:detect_leaks=1")
    env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")

    def run(*args):
        p = subprocess.run([str(binary), "inspect"] + [str(a) for a in args],
                           stdin=subprocess.DEVNULL, capture_output=True, env=env,
                           timeout=120)
        out, err = p.stdout.decode(), p.stderr.decode()
        for m in SANITIZER_MARKERS:
            assert m not in err, "sanitizer report from %s:\n%s" % (binary, err)
        if "--json" in args and out:
            out = json.loads(out)
        return p.returncode, out, err

    return run


def publish(server, n=4000, start=0):
    """Publishes n events (types cycling, every 7th an `audit`) with ~100-byte
    payloads; returns {type: [positions]}."""
    r = server.client()
    pipe = r.pipeline(transaction=False)
    names = []
    for i in range(start, start + n):
        t = "audit" if i % 7 == 0 else TYPES[i % 3]
        names.append(t)
        pipe.execute_command("EV.PUB", t, "payload-%06d-" % i + "x" * 90)
    by_type = {}
    for t, pos in zip(names, pipe.execute()):
        by_type.setdefault(t, []).append(pos)
    return by_type


def merge(a, b):
    out = {t: list(v) for t, v in a.items()}
    for t, v in b.items():
        out.setdefault(t, []).extend(v)
    return out


def records(path):
    """(offset, framed size, position) of each record of a segment file."""
    data = Path(path).read_bytes()
    off, out = 32, []
    while off + 8 <= len(data):
        n = int.from_bytes(data[off:off + 4], "little")
        if n == 0 or off + 8 + n > len(data):
            break
        out.append((off, 8 + n, int.from_bytes(data[off + 8:off + 16], "little")))
        off += 8 + n
    return out


def events_dir(server):
    return Path(server.dir) / "events"


def seg_path(server, base, ext="seg"):
    return events_dir(server) / ("%020d.%s" % (base, ext))


def check_report(rep, by_type):
    """The report says what was published."""
    total = sum(len(v) for v in by_type.values())
    positions = sorted(p for v in by_type.values() for p in v)
    tot = rep["totals"]
    assert tot["events"] == total
    assert (tot["first_position"], tot["last_position"]) == (positions[0], positions[-1])
    assert tot["positions_span"] == positions[-1] - positions[0] + 1
    assert tot["gaps"] == 0 and tot["unused_positions"] == 0
    assert ISO_RE.match(tot["first_time"]) and ISO_RE.match(tot["last_time"])
    assert tot["first_time_ms"] <= tot["last_time_ms"]
    assert tot["time_span_ms"] == tot["last_time_ms"] - tot["first_time_ms"]
    types = {t["type"]: t for t in rep["types"]}
    assert sorted(types) == sorted(by_type)
    for name, pos in by_type.items():
        t = types[name]
        assert t["events"] == len(pos), name
        assert (t["first_position"], t["last_position"]) == (min(pos), max(pos)), name
        assert t["first_time_ms"] <= t["last_time_ms"]
    segs = rep["segments"]
    assert tot["segments"] == len(segs) >= 3
    assert tot["sealed"] == len(segs) - 1
    assert [s["state"] for s in segs] == ["sealed"] * (len(segs) - 1) + ["open"]
    assert sum(s["events"] for s in segs) == total
    assert sum(s["bytes"] for s in segs) == tot["bytes"]
    assert segs[0]["first_position"] == positions[0]
    for a, b in zip(segs, segs[1:]):
        assert b["base"] > a["last_position"]
        assert b["first_position"] == a["last_position"] + 1
    for s in segs:
        assert sum(s["types"].values()) == s["events"]
        assert s["file"] == "%020d.seg" % s["base"]
        if s["events"]:
            assert s["base"] <= s["first_position"] <= s["last_position"]
            assert ISO_RE.match(s["first_time"]) and ISO_RE.match(s["last_time"])
    for s in segs[:-1]:
        assert s["index"]["status"] == "ok", s
        assert s["index"]["events"] == s["events"]
    assert segs[-1]["index"]["status"] == "none"


@pytest.fixture
def stopped(tincan):
    """A data dir with several segments, its server stopped: (server, by_type)."""
    srv = tincan("--segment-size", SEGMENT_SIZE)
    by_type = publish(srv)
    srv.stop()
    return srv, by_type


def test_report_matches_what_was_published(stopped, inspect):
    srv, by_type = stopped
    rc, rep, err = inspect(srv.dir, "--json")
    assert rc == 0, rep
    assert err == ""  # no progress line when stderr is not a terminal
    assert rep["status"] == 0 and rep["healthy"] is True and rep["mode"] == "full"
    check_report(rep, by_type)
    assert rep["crc"]["result"] == "ok" and rep["crc"]["complete"] is True
    assert rep["crc"]["records"] == rep["totals"]["events"]
    assert rep["crc"]["segments_checked"] == rep["totals"]["segments"]
    assert all(s["crc"] == "ok" for s in rep["segments"])
    assert rep["torn_tail"] is None and rep["quarantined"] == []
    assert rep["problems"] == []
    names = {o["name"] for o in rep["other_files"]}
    assert any(n.startswith("bus.") for n in names), names

    # --quick: the same facts from the indexes (and a scan of the open one)
    rc, quick, _ = inspect(srv.dir, "--json", "--quick")
    assert rc == 0
    assert quick["mode"] == "quick"
    check_report(quick, by_type)
    assert [s["facts_from"] for s in quick["segments"]] == \
        ["index"] * (len(quick["segments"]) - 1) + ["scan"]
    assert quick["crc"]["complete"] is False and quick["crc"]["result"] == "partial"
    assert quick["crc"]["segments_checked"] == 1

    # the text report: aligned, with every type and the verdict
    rc, text, _ = inspect(srv.dir)
    assert rc == 0
    assert "result: healthy (exit 0)" in text
    for t in by_type:
        assert re.search(r"^  %s +%d " % (re.escape(t), len(by_type[t])), text, re.M), t
    rows = [l for l in text.splitlines() if re.match(r"  \d{20}  ", l)]
    assert len(rows) == len(rep["segments"])
    assert len({l.index(" ok") if " ok" in l else -1 for l in rows[:-1]}) == 1
    assert not any(l != l.rstrip() for l in text.splitlines())


def test_running_server_is_read_not_touched(tincan, inspect):
    srv = tincan("--segment-size", SEGMENT_SIZE)
    by_type = publish(srv, 3000)
    before = {p.name: p.stat().st_size for p in events_dir(srv).iterdir()}
    mtimes = {p.name: p.stat().st_mtime_ns for p in events_dir(srv).iterdir()}
    rc, rep, _ = inspect(srv.dir, "--json")
    assert rc == 0, rep["problems"]
    check_report(rep, by_type)
    open_seg = rep["segments"][-1]
    assert open_seg["data_bytes"] + open_seg["zero_tail_bytes"] == open_seg["bytes"]
    assert open_seg["torn_tail_bytes"] == 0
    after = {p.name: p.stat().st_size for p in events_dir(srv).iterdir()}
    assert after == before
    assert {p.name: p.stat().st_mtime_ns for p in events_dir(srv).iterdir()} == mtimes
    # the server goes on where it was
    r = srv.client()
    last = max(p for v in by_type.values() for p in v)
    assert call(r, "EV.PUB", "audit", "after inspect") == last + 1
    more = publish(srv, 1500, start=3000)
    rc, rep, _ = inspect(srv.dir, "--json")
    assert rc == 0
    by_type = merge(merge(by_type, {"audit": [last + 1]}), more)
    check_report(rep, by_type)


def test_missing_index_is_a_warning(stopped, inspect):
    srv, by_type = stopped
    rc, rep, _ = inspect(srv.dir, "--json")
    victim = rep["segments"][1]["base"]
    seg_path(srv, victim, "idx").unlink()
    for flags in (("--json",), ("--json", "--quick")):
        rc, rep, _ = inspect(srv.dir, *flags)
        assert rc == 0, rep["problems"]
        seg = [s for s in rep["segments"] if s["base"] == victim][0]
        assert seg["index"]["status"] == "missing"
        assert seg["facts_from"] == "scan"
        assert seg["events"] > 0
        assert rep["totals"]["events"] == sum(len(v) for v in by_type.values())
        assert [p["severity"] for p in rep["problems"]] == ["warning"]
        assert "%020d" % victim in rep["problems"][0]["text"]
        assert "index missing" in rep["problems"][0]["text"]
    rc, text, _ = inspect(srv.dir)
    assert rc == 0 and "result: healthy data, with warnings (exit 0)" in text


def test_flipped_byte_in_a_sealed_segment_is_corruption(stopped, inspect):
    srv, by_type = stopped
    rc, rep, _ = inspect(srv.dir, "--json")
    victim = rep["segments"][1]
    path = seg_path(srv, victim["base"])
    recs = records(path)
    assert len(recs) == victim["events"]
    flip = path.stat().st_size // 2
    hit = [r for r in recs if r[0] <= flip < r[0] + r[1]][0]
    data = bytearray(path.read_bytes())
    data[flip] ^= 0xFF
    path.write_bytes(bytes(data))

    rc, rep, _ = inspect(srv.dir, "--json")
    assert rc == 1
    assert rep["status"] == 1 and rep["healthy"] is False
    assert rep["crc"]["result"] == "corrupt"
    bad = [p for p in rep["problems"] if p["severity"] == "corrupt"]
    assert len(bad) == 1, rep["problems"]
    assert bad[0]["segment"] == victim["base"] and bad[0]["offset"] == hit[0]
    assert "segment %020d: bad record at offset %d" % (victim["base"], hit[0]) \
        in bad[0]["text"]
    seg = [s for s in rep["segments"] if s["base"] == victim["base"]][0]
    assert seg["crc"] == "bad" and seg["bad_ranges"] == 1
    # only that record is lost; the scan went on to the end
    assert rep["totals"]["events"] == sum(len(v) for v in by_type.values()) - 1
    assert rep["crc"]["segments_checked"] == rep["totals"]["segments"]

    rc, text, _ = inspect(srv.dir)
    assert rc == 1
    assert "bad record at offset %d" % hit[0] in text
    assert "result: CORRUPT (exit 1)" in text
    # --quick trusts the index and does not read the records
    rc, quick, _ = inspect(srv.dir, "--json", "--quick")
    assert rc == 0 and quick["crc"]["complete"] is False


def test_torn_tail_of_the_last_segment(stopped, inspect):
    srv, by_type = stopped
    rc, rep, _ = inspect(srv.dir, "--json")
    last = rep["segments"][-1]
    path = seg_path(srv, last["base"])
    recs = records(path)
    off, size, pos = recs[-1]
    assert path.stat().st_size == off + size  # a clean stop trims the zeros
    os.truncate(path, off + 20)

    rc, rep, _ = inspect(srv.dir, "--json")
    assert rc == 0, rep["problems"]
    assert rep["torn_tail"] == {"segment": last["base"], "offset": off, "bytes": 20}
    assert rep["segments"][-1]["torn_tail_bytes"] == 20
    assert rep["totals"]["events"] == sum(len(v) for v in by_type.values()) - 1
    assert rep["totals"]["last_position"] == pos - 1
    notes = [p for p in rep["problems"] if p["severity"] == "note"]
    assert len(notes) == 1 and len(rep["problems"]) == 1
    assert "torn tail 20 bytes" in notes[0]["text"]
    assert "(the server cuts it at its next start)" in notes[0]["text"]
    rc, text, _ = inspect(srv.dir)
    assert rc == 0 and "torn tail 20 bytes" in text

    # and the server does cut it
    srv.start()
    srv.stop()
    rc, rep, _ = inspect(srv.dir, "--json")
    assert rc == 0 and rep["torn_tail"] is None and rep["problems"] == []
    assert rep["totals"]["events"] == sum(len(v) for v in by_type.values()) - 1


def test_quarantined_range_is_listed(stopped, inspect):
    srv, _ = stopped
    rc, rep, _ = inspect(srv.dir, "--json")
    victim = rep["segments"][2]["base"]
    path = seg_path(srv, victim)
    off, size, _ = records(path)[5]
    data = bytearray(path.read_bytes())
    data[off + 12] ^= 0x01
    path.write_bytes(bytes(data))
    seg_path(srv, victim, "idx").unlink()  # so that the server scans it
    srv.args += ["--repair", "yes"]
    srv.start()
    srv.stop()
    rc, rep, _ = inspect(srv.dir, "--json")
    assert rc == 0, rep["problems"]
    assert rep["quarantined"] == [{"file": "%020d.seg.bad-%d" % (victim, off),
                                   "segment": victim, "offset": off, "bytes": size}]
    assert [p["severity"] for p in rep["problems"]] == ["warning"]
    assert "quarantined by --repair" in rep["problems"][0]["text"]
    seg = [s for s in rep["segments"] if s["base"] == victim][0]
    assert seg["index"]["status"] == "ok"  # rebuilt around the hole
    assert seg["crc"] == "quarantined" and seg["bad_ranges"] == 1
    rc, text, _ = inspect(srv.dir)
    assert rc == 0 and "quarantined by --repair" in text


def test_usage_and_unreadable(tmp_path, inspect):
    rc, out, err = inspect()
    assert rc == 2 and "missing DATA" in err and "usage:" in err
    rc, out, err = inspect(tmp_path, "--bogus")
    assert rc == 2 and "unknown option '--bogus'" in err
    rc, out, err = inspect(tmp_path, tmp_path)
    assert rc == 2 and "one DATA directory only" in err
    rc, out, err = inspect("--help")
    assert rc == 0 and out.startswith("usage: tincan inspect DATA") and err == ""
    rc, out, err = inspect(tmp_path / "nope")
    assert rc == 1 and "No such file or directory" in err
    rc, out, err = inspect(tmp_path, "--json")  # not a tincan data dir
    assert rc == 1 and out["status"] == 1 and "events" in out["error"]


def test_beside_a_server_under_load(tincan, inspect):
    """Segments fill, seal and start while inspect reads: never corruption."""
    import threading
    srv = tincan("--segment-size", SEGMENT_SIZE)
    publish(srv, 1000)
    stop = threading.Event()
    errors = []

    def writer():
        try:
            r = srv.client()
            i = 0
            while not stop.is_set():
                pipe = r.pipeline(transaction=False)
                for _ in range(50):
                    pipe.execute_command("EV.PUB", TYPES[i % 3], "load-%d-" % i + "y" * 200)
                    i += 1
                pipe.execute()
        except Exception as e:  # reported by the test, not lost in the thread
            errors.append(e)

    t = threading.Thread(target=writer)
    t.start()
    try:
        for _ in range(8):
            rc, rep, _ = inspect(srv.dir, "--json")
            assert rc == 0, rep["problems"]
            assert not [p for p in rep["problems"] if p["severity"] == "corrupt"]
            assert rep["totals"]["events"] >= 1000
            assert rep["totals"]["gaps"] == 0
    finally:
        stop.set()
        t.join()
    assert not errors, errors
    srv.stop()
    rc, rep, _ = inspect(srv.dir, "--json")
    assert rc == 0 and rep["problems"] == [] and rep["totals"]["segments"] >= 3


def crc32c(data, crc=0):
    """CRC32C (Castagnoli), as src/core/crc32c.c computes it."""
    crc ^= 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 & -(crc & 1))
    return crc ^ 0xFFFFFFFF


def index_wrong_time(p):
    """Rewrites the first type's last_time in an index, with a valid crc."""
    data = bytearray(p.read_bytes())
    nsparse = int.from_bytes(data[40:48], "little")
    t = 64 + nsparse * 24
    data[t + 40:t + 48] = (int.from_bytes(data[t + 40:t + 48], "little") + 1) \
        .to_bytes(8, "little")
    data[-4:] = crc32c(bytes(data[:-4])).to_bytes(4, "little")
    p.write_bytes(bytes(data))


def flip_index_byte(p):
    data = bytearray(p.read_bytes())
    data[len(data) // 2] ^= 0x10
    p.write_bytes(bytes(data))


def append_garbage(p):
    with open(p, "ab") as f:
        f.write(b"\x01garbage after the last record")


def cut_sealed(p):
    off, _, _ = records(p)[-3]
    os.truncate(p, off)


def bad_header(p):
    data = bytearray(p.read_bytes())
    data[0:8] = b"NOTTINCN"
    p.write_bytes(bytes(data))


# name: (file of the second segment to damage, damage, exit status, the problem
# expected first as (severity, words in its text), index status of that segment)
CATALOGUE = {
    "index_bad_crc": ("idx", flip_index_byte, 0, ("warning", "index bad: checksum mismatch"),
                      "bad"),
    "index_wrong": ("idx", index_wrong_time, 0, ("warning", "index wrong"), "wrong"),
    "sealed_ends_badly": ("seg", append_garbage, 1,
                          ("corrupt", "(sealed segment ends badly)"), "stale"),
    "sealed_lost_its_end": ("seg", cut_sealed, 1,
                            ("corrupt", "shorter than its index says"), "stale"),
    "bad_segment_header": ("seg", bad_header, 1, ("corrupt", "bad file header"), "none"),
}


@pytest.mark.parametrize("case", sorted(CATALOGUE))
def test_damage_catalogue(stopped, inspect, case):
    srv, _ = stopped
    ext, damage, status, (sev, words), ix = CATALOGUE[case]
    rc, rep, _ = inspect(srv.dir, "--json")
    victim = rep["segments"][1]["base"]
    damage(seg_path(srv, victim, ext))
    rc, rep, _ = inspect(srv.dir, "--json")
    assert rc == status, rep["problems"]
    assert rep["status"] == status
    first = rep["problems"][0]
    assert first["severity"] == sev and words in first["text"], rep["problems"]
    assert first["segment"] == victim
    seg = [s for s in rep["segments"] if s["base"] == victim][0]
    assert seg["index"]["status"] == ix
    # the other segments are read as before
    others = [s for s in rep["segments"] if s["base"] != victim]
    assert all(s["crc"] == "ok" for s in others)
    rc, text, _ = inspect(srv.dir)
    assert rc == status and words in text
