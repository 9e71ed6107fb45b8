"""Entity state benchmark rows (issue 17) for bench/bench.py.

What per-key versions, EXPECT, snapshots and bootstrap cost and save. Every
load comes from bench/loadgen.c (C, hiredis): publish-tincan with --keys N
gives every event KEY <prefix>:<client>:<i> (the 32 clients share N keys,
each writing its own N/32 round robin) and --expect yes adds EXPECT with the
key's current version; consume-tincan reads a subscription with EV.READ
COUNT 100 / EV.ACK until a read comes back empty.

1. Publish cost of keys (issue: "EXPECT <= 10% slower"). loadgen
   publish-tincan, 100-byte payloads, 32 clients, 100,000 distinct keys, a
   fresh key prefix every run (EXPECT needs new keys), against the same load
   without KEY on the same server, rounds alternating (ctx.compare; ratio =
   keyed / plain events/s, target 0.90):
   a. KEY + EXPECT at the default durability (fsync always, group commit),
      pipeline 1: a service waiting for each ack; the fsync bounds it.
   b. KEY + EXPECT at --fsync everysec, pipeline 32: CPU bound, so this is
      the row that shows the key table's cost (on two cores the driver
      shares the CPU with the server, and a keyed command is ~35 bytes
      longer and is formatted per event by the driver).
   c. KEY without EXPECT at (b): separates the key table from the check.
   The notes give the server's own CPU per event (utime + stime from
   /proc/<pid>/stat over the run), which the driver's share does not blur.
   Counts: BENCH_ENTITY_PUB_ALWAYS (default 120,000) and
   BENCH_ENTITY_PUB_EVERYSEC (default 2,000,000) events a run, ~4 s each
   here; scaled by BENCH_SCALE.
2. Bootstrap. One server (--fsync no) is filled with BENCH_ENTITY_EVENTS
   (default 10M, scaled) keyed events over BENCH_ENTITY_KEYS (default 1M,
   scaled) keys: loadgen publish-tincan --keys, 32 clients, pipeline 64; the
   count is checked with EV.INFO. Then
   a. `EV.SNAPSHOT s bench.*` timed from the client (ms; each round replaces
      the snapshot), and its key count checked.
   b. Time to caught-up of a new subscription: `EV.SUB bN bench.* FROM
      SNAPSHOT s` against `EV.SUB fN bench.* FROM BEGINNING` (fresh names
      every run, removed after it), each timed from the EV.SUB command to
      the end of a consume-tincan run (1 client) that drained it; the
      delivered counts are checked (one event per key, against every
      event). Ratio = full replay time / bootstrap time (target >= 5x
      faster). The snapshot's own time (a) is not in the bootstrap time: a
      service bootstraps from a snapshot already taken (nightly, say).
      The bootstrap runs BENCH_ROUNDS times, the full replay
      BENCH_ENTITY_REPLAY_ROUNDS times (default 3). (Before the index kept
      blocks of postings, a replay read ~28,000 events/s from sealed
      segments and 10M took ~6 minutes; now ~150,000-250,000/s here, about
      a minute.) Each run keeps to BENCH_RUN_TIMEOUT (loadgen
      --seconds): a replay cut by it counts as that long, the ratio is then
      a lower bound, and the note says so, with how far the replay got and
      the rate it went at.
3. Restart on that data dir (target < 1000 ms at 10M events): time from
   exec to the readiness line (polled every 5 ms, as bench_store.py's
   restart rows) and the store's own EV.INFO open_ms, after a clean stop
   (SIGTERM) and after kill -9 (1,000 keyed events are published first, so
   the kill lands on a store that was being written). The key table comes
   from its checkpoint (written when a segment seals) plus a scan of the
   open segment, so that part follows segment-size, not history. A third
   start (clean stop, --dedup-window 0) leaves out the dedup window's
   rebuild: at start the store reads back every event of the last
   dedup-window (600 s), and here that is all 10M, minutes old; a store
   whose history is older than the window opens in about that time.
4. Memory per key (informative, no peer):
   a. INFO entity keys_memory_bytes / keys: what the key table says it
      holds (its arrays and key bytes, capacity included).
   b. RSS of the filled server of (2) minus RSS of a server filled with as
      many unkeyed events in the same way (both measured right after the
      fill, before any read), divided by the keys: everything keys cost the
      process, hash table, allocator slack and the store's other
      structures included.
"""

import os
import signal
import statistics
import time

import redis

from bench import Row, RUN_TIMEOUT, rss_kib

TITLE = "Entity state (issue 17)"
ABOUT = """\
Costs and savings of per-key versions (`EV.PUB ... KEY k EXPECT v`), snapshots and
bootstrap (`EV.SUB ... FROM SNAPSHOT`). All load is bench/loadgen.c (C, hiredis):
publish-tincan with `--keys N` gives every event `KEY <prefix>:<client>:<i>`, 32 clients
sharing N keys, and `--expect yes` adds `EXPECT` with the key's current version (a fresh
prefix every run); consume-tincan drains a subscription with `EV.READ COUNT 100` /
`EV.ACK`, one client. The publish rows compare keyed with plain `EV.PUB` on the same
server, rounds alternating (ratio = keyed / plain; the "peer" column is plain EV.PUB);
their notes give the server's own CPU per event, which the driver (sharing two cores
with the server) does not blur. The bootstrap, restart and memory rows run on one store
filled with 10M keyed 100-byte events over 1M keys (scaled; `--fsync no` for the fill):
the bootstrap ratio is the time to drain a new subscription `FROM BEGINNING` over the time
to drain one `FROM SNAPSHOT` (EV.SUB to the last EV.ACK; the snapshot itself is timed
apart, as a service bootstraps from one already taken; a replay cut at
BENCH_RUN_TIMEOUT says so in its note). Restarts: after a clean stop, after kill -9,
and with `--dedup-window 0` (no dedup rebuild at all; since the index counts each
segment's client IDs, the default start skips these ID-less segments too, so the rows
agree within noise). Memory per key is the key table's
own count (`INFO entity`) and the RSS of that server minus one holding as many unkeyed
events."""

PAYLOAD = 100
CLIENTS = 32
PUB_KEYS = 100_000
PUB_ALWAYS = int(os.environ.get("BENCH_ENTITY_PUB_ALWAYS", "120000"))
PUB_EVERYSEC = int(os.environ.get("BENCH_ENTITY_PUB_EVERYSEC", "2000000"))
EVENTS = int(os.environ.get("BENCH_ENTITY_EVENTS", "10000000"))
KEYS = int(os.environ.get("BENCH_ENTITY_KEYS", "1000000"))
REPLAY_ROUNDS = int(os.environ.get("BENCH_ENTITY_REPLAY_ROUNDS", "3"))
TYPE = "bench.created"
PATTERN = "bench.*"
KILL_EVENTS = 1000
NO_PEER = "no peer"
LIMIT = int(RUN_TIMEOUT)  # loadgen --seconds: each run's own time limit

_runs = 0


def fresh(prefix):
    """A key prefix or subscription name no earlier run of this process used."""
    global _runs
    _runs += 1
    return "%s%d" % (prefix, _runs)


def client(srv):
    return redis.Redis(host=srv.host, port=srv.port, decode_responses=True,
                       socket_timeout=RUN_TIMEOUT)


def record(flat):
    """A RESP2 record (flat field, value list) as a dict."""
    return dict(zip(flat[::2], flat[1::2]))


def ev_info(srv):
    return record(client(srv).execute_command("EV.INFO"))


def cpu_s(pid):
    """utime + stime of a process, in seconds."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def publish(ctx, srv, count, pipeline, keys=0, expect=False, cpu=None):
    """One loadgen publish-tincan run of count events; events/s. Appends the
    server's CPU us per event to cpu."""
    opts = dict(clients=CLIENTS, pipeline=pipeline, count=count, payload=PAYLOAD,
                type=TYPE, seconds=LIMIT)
    if keys:
        opts.update(keys=keys, key=fresh("k"))
        if expect:
            opts["expect"] = "yes"
    c0 = cpu_s(srv.pid)
    res = ctx.loadgen("publish-tincan", srv, **opts)
    if cpu is not None:
        cpu.append((cpu_s(srv.pid) - c0) * 1e6 / max(1, res["ops"]))
    if res["ops"] != count:
        raise RuntimeError("publish-tincan stopped after %d of %d events in %s s "
                           "(BENCH_RUN_TIMEOUT %s)" % (res["ops"], count, res["seconds"],
                                                       LIMIT))
    return res["ops_per_s"]


def cpu_note(keyed, plain):
    med = statistics.median
    return ("server CPU per event (median): keyed %.2f us, plain %.2f us (%+.0f%%); "
            "ratio = keyed / plain events/s" % (
                med(keyed), med(plain), 100.0 * (med(keyed) / med(plain) - 1)))


def publish_rows(ctx):
    rows = []
    cases = [
        ("always", 1, PUB_ALWAYS, True, "a service waiting for each ack"),
        ("everysec", 32, PUB_EVERYSEC, True, "CPU bound"),
        ("everysec", 32, PUB_EVERYSEC, False, "CPU bound, informative"),
    ]
    with ctx.tincan(["--fsync", "always"]) as always, \
            ctx.tincan(["--fsync", "everysec"]) as everysec:
        servers = {"always": always, "everysec": everysec}
        for fsync, pipeline, count, expect, why in cases:
            srv, n = servers[fsync], ctx.scaled(count)
            keyed_cpu, plain_cpu = [], []
            what = "KEY + EXPECT" if expect else "KEY (no EXPECT)"
            row = ctx.compare(
                "EV.PUB %s vs plain EV.PUB, 100 B, %d keys, fsync %s, %d clients, -P %d" % (
                    what, PUB_KEYS, fsync, CLIENTS, pipeline),
                tincan=lambda s=srv, n=n, p=pipeline, e=expect, c=keyed_cpu: publish(
                    ctx, s, n, p, keys=PUB_KEYS, expect=e, cpu=c),
                peer=lambda s=srv, n=n, p=pipeline, c=plain_cpu: publish(
                    ctx, s, n, p, cpu=c),
                peer_name="plain EV.PUB", target=0.90, unit="events/s",
                command="loadgen publish-tincan --clients %d --pipeline %d --count %d "
                        "--payload %d --keys %d --key <fresh prefix>%s (server --fsync "
                        "%s); peer: the same without --keys" % (
                            CLIENTS, pipeline, n, PAYLOAD, PUB_KEYS,
                            " --expect yes" if expect else "", fsync))
            row.notes = "%s; %s" % (why, cpu_note(keyed_cpu, plain_cpu))
            rows.append(row)
    return rows


def fill(ctx, srv, n, keys):
    """n events of TYPE (over keys keys when keys); checks EV.INFO's count.
    Returns (events/s, seconds)."""
    opts = dict(clients=CLIENTS, pipeline=64, count=n, payload=PAYLOAD, type=TYPE,
                seconds=LIMIT)
    if keys:
        opts.update(keys=keys, key="fill")
    res = ctx.loadgen("publish-tincan", srv, **opts)
    stored = int(ev_info(srv)["events"])
    if stored != n:
        raise RuntimeError("fill stored %d of %d events (loadgen: %d in %s s, "
                           "BENCH_RUN_TIMEOUT %s)" % (stored, n, res["ops"], res["seconds"],
                                                      LIMIT))
    return res["ops_per_s"], res["seconds"]


def drain(ctx, srv, how, expected):
    """EV.SUB <fresh> PATTERN FROM <how>, then one consume-tincan run (its time
    limit BENCH_RUN_TIMEOUT) until the subscription is empty. Returns
    (seconds from EV.SUB to the last ack, events delivered); raises when a
    run that finished delivered other than expected events."""
    name = fresh("b" if how[0] == "SNAPSHOT" else "f")
    r = client(srv)
    t0 = time.monotonic()
    r.execute_command("EV.SUB", name, PATTERN, "FROM", *how)
    sub_s = time.monotonic() - t0
    res = ctx.loadgen("consume-tincan", srv, clients=1, key=name, seconds=LIMIT)
    r.execute_command("EV.UNSUB", name)
    stopped = res["seconds"] >= LIMIT - 0.01  # the time limit ended it
    if res["ops"] != expected and not stopped:
        raise RuntimeError("EV.SUB ... FROM %s: %d events delivered, want %d" % (
            " ".join(how), res["ops"], expected))
    return sub_s + res["seconds"], res["ops"]


def bootstrap_rows(ctx, srv, n, keys):
    r = client(srv)
    snap_ms, snap_keys = [], set()
    for _ in range(ctx.rounds):
        t0 = time.monotonic()
        rep = record(r.execute_command("EV.SNAPSHOT", "s", PATTERN))
        snap_ms.append((time.monotonic() - t0) * 1000)
        snap_keys.add(int(rep["keys"]))
    if snap_keys != {keys}:
        raise RuntimeError("EV.SNAPSHOT holds %s keys, the store %d" % (snap_keys, keys))
    snap = Row(name="EV.SNAPSHOT of %d keys (%d events stored)" % (keys, n),
               command="EV.SNAPSHOT s %s (the client's clock, reply included; each "
                       "round replaces s)" % PATTERN,
               tincan=snap_ms, peer=[], peer_name=NO_PEER, unit="ms",
               higher_is_better=False,
               notes="one pass over the key table, every key's latest event matches; "
                     "the file is written and fsynced before the reply")
    print("  %-44s %s ms" % ("EV.SNAPSHOT, %d keys" % keys,
                             ", ".join("%.0f" % x for x in snap_ms)), flush=True)
    # the bootstrap every round, the (long) full replay REPLAY_ROUNDS times,
    # alternating which goes first
    boot, full, cut = [], [], []
    replays = max(1, min(ctx.rounds, REPLAY_ROUNDS))
    for i in range(max(ctx.rounds, replays)):
        steps = [(boot, ("SNAPSHOT", "s"), keys, i < ctx.rounds),
                 (full, ("BEGINNING",), n, i < replays)]
        for out, how, want, due in (steps[::-1] if i % 2 else steps):
            if due:
                secs, got = drain(ctx, srv, how, want)
                out.append(secs)
                if got != want:
                    cut.append((got, secs))
    row = Row(name="caught up: EV.SUB FROM SNAPSHOT vs FROM BEGINNING, %d events / %d "
                   "keys (x faster)" % (n, keys),
              command="EV.SUB <fresh> %s FROM SNAPSHOT s | FROM BEGINNING, then loadgen "
                      "consume-tincan --clients 1 --key <it> --seconds %d (EV.READ COUNT "
                      "100 / EV.ACK until empty); EV.SUB to the last ack" % (
                          PATTERN, LIMIT),
              tincan=boot, peer=full, peer_name="FROM BEGINNING (full replay)",
              target=5.0, unit="s", higher_is_better=False)
    med = statistics.median
    notes = ["ratio = full replay time / bootstrap time",
             "the bootstrap delivers one event per key (%d, %.0f events/s), the replay "
             "every event (%d)" % (keys, keys / med(boot), n),
             "bootstrap %d round%s, full replay %d (BENCH_ENTITY_REPLAY_ROUNDS)" % (
                 len(boot), "" if len(boot) == 1 else "s", len(full)),
             "EV.SNAPSHOT's own time (row above) not included"]
    if cut:
        got, secs = cut[0]
        notes.insert(1, "LOWER BOUND: the full replay did not finish within "
                        "BENCH_RUN_TIMEOUT (%d s): %d of %d events in %.0f s "
                        "(%.0f events/s; the whole replay ~%.0f s at that rate, ratio "
                        "~%.0fx)" % (
                            LIMIT, got, n, secs, got / secs, n / (got / secs),
                            n / (got / secs) / med(boot)))
        row.name += ", replay cut at %d s" % LIMIT
    else:
        notes.insert(2, "replay %.0f events/s" % (n / med(full)))
    row.notes = "; ".join(notes)
    print("  %-44s snapshot %s s, full %s s, ratio %.1fx%s" % (
        "caught up", ", ".join("%.2f" % x for x in boot),
        ", ".join("%.1f" % x for x in full), row.ratio, " (lower bound)" if cut else ""),
        flush=True)
    return [snap, row]


def restart_rows(ctx, data, n, keys):
    starts = {"clean": [], "kill": [], "nodedup": []}
    opens = {"clean": [], "kill": [], "nodedup": []}
    events = {}

    def note(how, srv):
        """Records a start's times; returns the events it holds."""
        starts[how].append(round(srv.start_ms))
        info = ev_info(srv)
        opens[how].append(int(info["open_ms"]))
        events.setdefault(how, int(info["events"]))
        return int(info["events"])

    for i in range(ctx.rounds):
        with ctx.tincan(["--dir", data]) as srv:  # after the clean stop before it
            note("clean", srv)
            ctx.loadgen("publish-tincan", srv, clients=1, pipeline=64, count=KILL_EVENTS,
                        payload=PAYLOAD, type=TYPE, keys=KILL_EVENTS, key=fresh("kill"),
                        seconds=LIMIT)
            os.kill(srv.pid, signal.SIGKILL)
            srv.proc.wait()
        with ctx.tincan(["--dir", data]) as srv:  # after kill -9; stopped cleanly
            got = note("kill", srv)
        if got != n + (i + 1) * KILL_EVENTS:
            raise RuntimeError("after kill -9: %d events, want %d" % (
                got, n + (i + 1) * KILL_EVENTS))
        with ctx.tincan(["--dir", data, "--dedup-window", "0"]) as srv:
            note("nodedup", srv)
    rows = []
    for how, label, extra, note in (
            ("clean", "after a clean stop", "", ""),
            ("kill", "after kill -9 (1,000 events just published)", "", ""),
            ("nodedup", "clean stop, --dedup-window 0", " --dedup-window 0",
             "; without the dedup window's rebuild, which reads back every event of "
             "the last dedup-window (600 s): here all of them, as they are minutes "
             "old; the open time of a store whose events are older than that")):
        ev = events[how]
        rows.append(Row(
            name="restart until ready, %d keyed events / %d keys, %s" % (ev, keys, label),
            command="tincan-server --dir <the bootstrap data>%s: exec until the "
                    "readiness line (polled every 5 ms)" % extra,
            tincan=starts[how], peer=[], peer_name=NO_PEER, unit="ms",
            higher_is_better=False,
            target_text="< 1000 ms at 10M events"))
        rows.append(Row(
            name="store open at restart (EV.INFO open_ms), %d keyed events, %s" % (
                ev, label),
            command="tincan-server --dir <the bootstrap data>%s; EV.INFO open_ms" % extra,
            tincan=opens[how], peer=[], peer_name=NO_PEER, unit="ms",
            higher_is_better=False,
            target_text="< 1000 ms at 10M events",
            notes="the segment indexes, the key table from its checkpoint, a scan of "
                  "the open segment" + note))
        print("  %-44s ready %s ms, open %s ms" % (
            "restart, " + how, starts[how], opens[how]), flush=True)
    return rows


def run(ctx):
    rows = publish_rows(ctx)
    n, keys_asked = ctx.scaled(EVENTS), ctx.scaled(KEYS)
    # the same fill without keys, for the RSS difference
    with ctx.tincan(["--fsync", "no"]) as plain:
        fill(ctx, plain, n, 0)
        plain_rss = rss_kib(plain.pid)
    with ctx.tincan(["--fsync", "no"]) as t:
        rate, secs = fill(ctx, t, n, keys_asked)
        keyed_rss = rss_kib(t.pid)
        ent = client(t).info("entity")
        keys, key_bytes = int(ent["keys"]), int(ent["keys_memory_bytes"])
        print("  fill: %d events over %d keys in %.1f s (%.0f events/s)" % (
            n, keys, secs, rate), flush=True)
        table = Row(name="key table memory per key, %d keys" % keys,
                    command="INFO entity: keys_memory_bytes / keys",
                    tincan=[key_bytes / keys], peer=[], peer_name=NO_PEER,
                    unit="B/key",
                    higher_is_better=False,
                    notes="keys_memory_bytes %d for %d keys of 8-13 bytes (fill:<c>:<i>); "
                          "the table's own count, capacity included" % (key_bytes, keys))
        rss = Row(name="RSS per key: keyed minus unkeyed server, %d events, %d keys" % (
                      n, keys),
                  command="VmRSS after loadgen publish-tincan --count %d --pipeline 64 "
                          "--keys %d, minus VmRSS after the same without --keys" % (
                              n, keys_asked),
                  tincan=[(keyed_rss - plain_rss) * 1024 / keys], peer=[],
                  peer_name=NO_PEER, unit="B/key",
                  higher_is_better=False,
                  notes="RSS keyed %d KiB, unkeyed %d KiB, both right after the fill; "
                        "everything the keys cost the process" % (keyed_rss, plain_rss))
        print("  %-44s table %.1f B/key, RSS %.1f B/key" % (
            "memory", table.tincan[0], rss.tincan[0]), flush=True)
        rows += bootstrap_rows(ctx, t, n, keys)
        data = str(t.dir / "data")
    rows += restart_rows(ctx, data, n, keys)
    rows += [table, rss]
    return rows
