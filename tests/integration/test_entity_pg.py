"""Entity state (issue 17) against a real PostgreSQL: the examples of
docs/entity.md (examples/entity/) run as documented against the real server.

  add_item.py     8 concurrent writers on one order with EXPECT (its loop, in
                  threads): every item lands, versions 1..n without gaps
  projection.py   folds order.* events into a PostgreSQL table (psycopg2)
  drift.py        compares that table with EV.DIGEST, row by row and in total

The expected state is computed here independently, from EV.RANGE (versions
counted per key over all types, md5 of the payload bytes), and compared with
the table, with EV.DIGEST and with the SQL formula of docs/commands.md. Then
rows are damaged, deleted and added in PostgreSQL and drift.py must name
exactly those keys with the right percentage; an EV.REPLAY into the
projection's subscription repairs all but the row the store never had, and so
does a scheduled replay (EV.SCHEDULE REPLAY ... INTO).

PostgreSQL: pg_helpers.PG, a throwaway cluster on a unix socket in a temp
dir. Every process has a timeout.
"""

import hashlib
import importlib.util
import json
import subprocess
import sys
import threading

import psycopg2
import pytest

from conftest import REPO, wait_until
from pg_helpers import pg_fixture

EXAMPLES = REPO / "examples" / "entity"
RUN_TIMEOUT = 120.0  # s, for one example run
PATTERN_TYPES = ("order.created", "order.paid", "order.shipped")

pg = pytest.fixture(scope="module")(pg_fixture)


@pytest.fixture
def db(pg):
    """The module's cluster with no orders table (each test starts empty)."""
    pg.sql("DROP TABLE IF EXISTS orders")
    return pg


def fields(flat):
    """A RESP2 map reply as a dict."""
    return dict(zip(flat[::2], flat[1::2]))


def run(name, *args):
    """Runs an example; returns (exit status, stdout lines, stderr text)."""
    p = subprocess.run([sys.executable, str(EXAMPLES / name)] + [str(a) for a in args],
                       stdin=subprocess.DEVNULL, capture_output=True, cwd=str(REPO),
                       timeout=RUN_TIMEOUT)
    return p.returncode, p.stdout.decode().splitlines(), p.stderr.decode(errors="replace")


def project(server, pg, *opts):
    rc, out, err = run("projection.py", server.host, server.port, pg.dsn, "--drain", *opts)
    assert rc == 0 and err == "", err
    assert len(out) == 1 and out[0].startswith("applied "), out
    return int(out[0].split()[1])


def drift(server, pg, *opts):
    """drift.py's exit status, its drifted (reason, key) pairs and its last line."""
    rc, out, err = run("drift.py", server.host, server.port, pg.dsn, *opts)
    assert err == "" and rc in (0, 1), (rc, err)
    pairs = [tuple(line.split("\t")[:2]) for line in out if "\t" in line]
    return rc, sorted(pairs), out


def publish_orders(r, n_orders=120):
    """order.* events for n_orders keys (1 to 3 each, non-ASCII payloads and
    keys) plus events the drift check must ignore: keyless order events, another
    type on the same keys, a three-word order type. Returns the keys."""
    keys = ["o-%03d" % i for i in range(n_orders - 3)] + ["O-upper", "o-é", "o-日本"]
    pipe = r.pipeline(transaction=False)
    for i, key in enumerate(keys):
        for step in PATTERN_TYPES[:1 + i % 3]:
            body = {"id": key, "status": step.split(".")[1], "note": "café ☕ %d" % i}
            pipe.execute_command("EV.PUB", step, json.dumps(body, ensure_ascii=False),
                                 "KEY", key)
        if i % 10 == 0:
            pipe.execute_command("EV.PUB", "customer.noted", "{}", "KEY", key)
        if i % 15 == 0:
            pipe.execute_command("EV.PUB", "order.item.added", "{}", "KEY", key)
    for i in range(5):
        pipe.execute_command("EV.PUB", "order.created", '{"anonymous": %d}' % i)
    pipe.execute()
    return keys


def expected_state(r):
    """key -> (version, position, md5 of payload) of the latest order.* event,
    computed from the whole history: versions counted here over every type."""
    seen, state, start = {}, {}, 1
    while True:
        page = r.execute_command("EV.RANGE", "#", "FROM", "@%d" % start, "COUNT", 10000,
                                 "FIELDS", "position,type,key,payload,version")
        if not page:
            return state
        for flat in page:
            e = fields(flat)
            key = e["key"]
            if key is None:
                assert e["version"] is None
                continue
            seen[key] = seen.get(key, 0) + 1
            assert e["version"] == seen[key], e
            words = e["type"].split(".")
            if len(words) == 2 and words[0] == "order":
                state[key] = (e["version"], e["position"],
                              hashlib.md5(e["payload"].encode()).hexdigest())
        start = e["position"] + 1


def total_digest(state):
    lines = ["%s\t%d\t%s" % (k, v, m) for k, (v, _p, m) in
             sorted(state.items(), key=lambda kv: kv[0].encode())]
    return hashlib.md5("\n".join(lines).encode()).hexdigest()


def table(pg):
    with psycopg2.connect(pg.dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT key, version, position, md5(payload) FROM orders")
        rows = {k: (v, p, m) for k, v, p, m in cur}
    conn.close()
    return rows


def load_example(name):
    """An example file as a module (its main() does not run)."""
    spec = importlib.util.spec_from_file_location(name[:-3], EXAMPLES / name)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_concurrent_writers_with_expect_lose_no_item(server):
    """8 threads, each with its own connection, run add_item.py's loop on one
    order at the same moment: every publish gets its own version, no gap, no
    item lost, and the writers really raced (some retried)."""
    add_item = load_example("add_item.py").add_item
    writers, items = 8, 25
    barrier = threading.Barrier(writers)
    results, errors = {}, []

    def writer(w):
        r = server.client()
        try:
            barrier.wait(10)
            results[w] = [add_item(r, "o-hot", "w%d-%d" % (w, i)) for i in range(items)]
        except BaseException as e:  # a give-up is SystemExit
            errors.append(repr(e))

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors and len(results) == writers, errors
    done = [x for res in results.values() for x in res]
    assert sorted(v for v, _p, _n in done) == list(range(1, writers * items + 1))
    assert sum(n for _v, _p, n in done) > 0
    r = server.client()
    events = [fields(e) for e in r.execute_command("EV.RANGE", "order.*", "KEY", "o-hot",
                                                   "COUNT", 1000, "FIELDS",
                                                   "position,payload,version")]
    assert [e["version"] for e in events] == list(range(1, writers * items + 1))
    assert sorted((v, p) for v, p, _n in done) == [(e["version"], e["position"]) for e in events]
    final = json.loads(events[-1]["payload"])
    assert sorted(final["items"]) == sorted("w%d-%d" % (w, i) for w in range(writers)
                                            for i in range(items))
    for w in range(writers):  # each writer's items in that writer's order
        mine = [x for x in final["items"] if x.startswith("w%d-" % w)]
        assert mine == ["w%d-%d" % (w, i) for i in range(items)]
    key = fields(r.execute_command("EV.KEY", "o-hot"))
    assert key["version"] == writers * items and key["type"] == "order.item_added"


def test_add_item_runs_as_documented(server):
    rc, out, err = run("add_item.py", server.host, server.port, "o-cli", "book", "pen")
    assert rc == 0 and err == "", err
    key = fields(server.client().execute_command("EV.KEY", "o-cli"))
    assert out == ["o-cli v1 @%d (0 retries)" % (key["position"] - 1),
                   "o-cli v2 @%d (0 retries)" % key["position"]]
    event = fields(server.client().execute_command("EV.GET", key["position"]))
    assert json.loads(event["payload"]) == {"id": "o-cli", "items": ["book", "pen"]}
    rc, _out, err = run("add_item.py", server.host, server.port, "o-cli")
    assert rc != 0 and "usage: add_item.py" in err


def test_projection_has_no_drift(server, db):
    r = server.client()
    keys = publish_orders(r)
    want = expected_state(r)
    assert sorted(want) == sorted(keys)
    applied = project(server, db)
    assert applied == sum(1 + i % 3 for i in range(len(keys))) + 5  # the keyless too
    assert table(db) == want

    rc, pairs, out = drift(server, db)
    assert rc == 0 and pairs == []
    assert out[-1] == "drift: 0.00%% (0 of %d keys)" % len(keys)
    digest = total_digest(want)
    events = sum(1 + i % 3 for i in range(len(keys)))
    assert out[-3] == "store: %d keys, %d events, digest %s" % (len(keys), events, digest)
    assert out[-2] == "table: %d rows, digest %s" % (len(keys), digest)
    total = fields(r.execute_command("EV.DIGEST", "order.*"))
    assert total["digest"] == digest and total["keys"] == len(keys)
    assert total["last_position"] == max(p for _v, p, _m in want.values())
    # the SQL formula of docs/commands.md, as written there
    sql = db.sql("SELECT md5(string_agg(key || E'\\t' || version || E'\\t' || md5(payload), "
                 "E'\\n' ORDER BY key COLLATE \"C\")) FROM orders")
    assert sql.strip() == digest
    # a second run of the worker finds nothing new
    assert project(server, db) == 0


def test_drift_names_the_damaged_rows_and_replay_repairs_them(server, db):
    r = server.client()
    keys = publish_orders(r)
    project(server, db)
    changed, wrong_version, deleted = keys[3:5], keys[10], keys[20:23]
    db.sql("UPDATE orders SET payload = payload || ' ' WHERE key IN ('%s')"
           % "', '".join(changed))
    db.sql("UPDATE orders SET version = version - 1 WHERE key = '%s'" % wrong_version)
    db.sql("DELETE FROM orders WHERE key IN ('%s')" % "', '".join(deleted))
    db.sql("INSERT INTO orders VALUES ('o-ghost', 1, 1, '{}')")

    rc, pairs, out = drift(server, db)
    assert rc == 1
    assert pairs == sorted([("differs", k) for k in changed + [wrong_version]] +
                           [("missing", k) for k in deleted] + [("extra", "o-ghost")])
    n = len(keys) + 1
    assert out[-1] == "drift: %.2f%% (7 of %d keys)" % (700.0 / n, n)
    store_line, table_line = out[-3], out[-2]
    assert store_line.split()[-1] != table_line.split()[-1]  # the totals differ too
    assert table_line.startswith("table: %d rows" % (len(keys) - 3 + 1))
    # a threshold above the drift passes, one just below fails
    assert drift(server, db, "--max-drift", "%.2f" % (700.0 / n + 0.01))[0] == 0
    assert drift(server, db, "--max-drift", "%.2f" % (700.0 / n - 0.01))[0] == 1

    # anti-entropy: replay the history into the projection's subscription
    r.execute_command("EV.REPLAY", "orders.pg", "order.*", "FROM", "BEGINNING")
    project(server, db)
    rc, pairs, out = drift(server, db)
    assert rc == 1 and pairs == [("extra", "o-ghost")]
    assert out[-1] == "drift: %.2f%% (1 of %d keys)" % (100.0 / n, n)
    db.sql("DELETE FROM orders WHERE key = 'o-ghost'")
    assert drift(server, db)[0] == 0
    assert table(db) == expected_state(r)


def test_events_after_to_are_lag_not_drift(server, db):
    r = server.client()
    keys = publish_orders(r, n_orders=30)
    project(server, db)
    caught_up = fields(r.execute_command("EV.INFO"))["last_position"]
    for key in keys[:2] + ["o-new1", "o-new2", "o-new3"]:
        r.execute_command("EV.PUB", "order.paid", '{"late": true}', "KEY", key)
    rc, pairs, _out = drift(server, db)
    assert rc == 1 and pairs == sorted([("differs", k) for k in keys[:2]] +
                                       [("missing", k) for k in ("o-new1", "o-new2", "o-new3")])
    rc, pairs, out = drift(server, db, "--to", caught_up)
    assert rc == 0 and pairs == [] and out[-1] == "drift: 0.00%% (0 of %d keys)" % len(keys)
    assert project(server, db) == 5
    assert drift(server, db)[0] == 0


def test_from_checks_only_keys_changed_since(server, db):
    r = server.client()
    keys = publish_orders(r, n_orders=40)
    project(server, db)
    since = fields(r.execute_command("EV.INFO"))["last_position"] + 1
    for key in keys[:3] + ["o-new"]:
        r.execute_command("EV.PUB", "order.paid", '{"again": true}', "KEY", key)
    project(server, db)
    db.sql("DELETE FROM orders WHERE key = '%s'" % keys[0])
    # as if the worker had missed keys[1]'s new event: its row is still the old one
    db.sql("UPDATE orders SET version = version - 1, position = 1 WHERE key = '%s'" % keys[1])
    db.sql("UPDATE orders SET payload = '{}' WHERE key = '%s'" % keys[30])  # older than since
    rc, pairs, out = drift(server, db, "--from", since)
    assert rc == 1 and pairs == [("missing", keys[0]), ("missing", keys[1])]
    assert out[-1] == "drift: 50.00% (2 of 4 keys)"
    rc, pairs, _out = drift(server, db)
    assert rc == 1 and pairs == sorted([("missing", keys[0]), ("differs", keys[1]),
                                        ("differs", keys[30])])


def test_scheduled_replay_heals_the_projection(server, db):
    """Anti-entropy: a REPLAY schedule into the projection's subscription
    gives the worker the last hour again, which rewrites lost and damaged rows."""
    r = server.client()
    keys = publish_orders(r, n_orders=30)
    project(server, db)
    db.sql("DELETE FROM orders WHERE key IN ('%s', '%s')" % (keys[2], keys[7]))
    db.sql("UPDATE orders SET payload = '{}' WHERE key = '%s'" % keys[11])
    assert drift(server, db)[1] == sorted([("missing", keys[2]), ("missing", keys[7]),
                                           ("differs", keys[11])])
    assert r.execute_command("EV.SCHEDULE", "REPLAY", "orders.resync", "order.*", "LAST",
                             "1h", "INTO", "orders.pg", "EVERY", "1s") == 1

    def schedule():
        return fields(r.execute_command("EV.SCHEDULES")[0])
    wait_until(lambda: schedule()["runs"] >= 1, timeout=10, what="a scheduled replay")
    assert schedule()["last_result"] == "ok"
    # stop the runs, or the worker would never be caught up
    assert r.execute_command("EV.SCHEDULE", "DEL", "orders.resync") == 1
    assert project(server, db) >= len(keys)
    assert drift(server, db)[0] == 0
    assert table(db) == expected_state(r)


def test_new_service_bootstraps_from_a_snapshot(server, db):
    """The new-service recipe: a snapshot, more events, then a projection that
    starts from the snapshot reads one event per key plus the later ones and
    ends in the same state as a full replay."""
    r = server.client()
    keys = publish_orders(r, n_orders=60)
    snap = fields(r.execute_command("EV.SNAPSHOT", "orders.daily", "order.*"))
    assert snap["keys"] == len(keys)
    later = keys[:4] + ["o-after"]
    for key in later:
        r.execute_command("EV.PUB", "order.shipped", '{"after": true}', "KEY", key)
    r.execute_command("EV.PUB", "order.created", '{"anonymous": true}')
    assert project(server, db, "--snapshot", "orders.daily") == len(keys) + len(later) + 1
    assert table(db) == expected_state(r)
    assert drift(server, db)[0] == 0
    rc, out, err = run("projection.py", server.host, server.port, db.dsn, "--drain",
                       "--snapshot", "no-such")
    assert rc != 0 and "no snapshot 'no-such'" in err


def test_docs_quote_the_examples_as_they_are():
    """docs/entity.md shows each example file whole, in a code block of its own,
    so the guide cannot drift from the code this file runs."""
    doc = (REPO / "docs" / "entity.md").read_text()
    for name in ("add_item.py", "projection.py", "drift.py"):
        text = (EXAMPLES / name).read_text()
        assert "`examples/entity/%s`\n\n```python\n%s```\n" % (name, text) in doc, name
