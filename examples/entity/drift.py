#!/usr/bin/python3
"""Drift check: compares projection.py's orders table with the event store.

    python3 examples/entity/drift.py host port dsn [--max-drift pct]
                                     [--from position] [--to position]

Row by row: `EV.DIGEST order.* KEYS` gives per key the version, position and
md5 of the latest order.* event; PostgreSQL gives the same three of each row
(md5(payload)). A key has drifted when the table lacks it (`missing`), holds it
while the store has no order.* event for it (`extra`), or differs in any of the
three (`differs`). Drift = drifted keys / keys on either side, in percent.
Then the totals: `EV.DIGEST order.*` against one SQL query over the table;
equal when no key has drifted (they hash keys, versions and payloads, not
positions), so one value per side is a cheap first check.

--from position checks only keys changed since then: the store's events from
that position on (EV.DIGEST ... FROM @position) against the rows with a
position at or after it (a row left behind shows as `missing`). --to position
bounds the store side (EV.DIGEST ... TO @position): pass the position the
projection has read up to, so that events published after it are not counted
as drift. Prints one line per drifted key, the digests and the drift; exits 1
when the drift exceeds --max-drift (default 0), else 0. See docs/entity.md.
"""

import argparse

import psycopg2
import redis

PATTERN = "order.*"

ROWS = "SELECT key, version, position, md5(payload) FROM orders WHERE position >= %s"
TOTAL = """SELECT count(*), md5(coalesce(string_agg(
    key || E'\\t' || version || E'\\t' || md5(payload), E'\\n' ORDER BY key COLLATE "C"), ''))
    FROM orders WHERE position >= %s"""


def fields(flat):
    """A RESP2 map reply (a flat [field, value, ...] list) as a dict."""
    return dict(zip(flat[::2], flat[1::2]))


def compare(store, table):
    """(reason, key, detail) for every drifted key, in key order. store and table
    map key -> (version, position, md5)."""
    out = []
    for key in sorted(store.keys() | table.keys(), key=lambda k: k.encode()):
        want, got = store.get(key), table.get(key)
        if got is None:
            out.append(("missing", key, "store v%d @%d" % want[:2]))
        elif want is None:
            out.append(("extra", key, "table v%d @%d" % got[:2]))
        elif want != got:
            out.append(("differs", key, "store v%d @%d %s, table v%d @%d %s" % (want + got)))
    return out


def main():
    ap = argparse.ArgumentParser(description="drift of the orders table against tincan")
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("dsn")
    ap.add_argument("--max-drift", type=float, default=0.0, help="percent (default 0)")
    ap.add_argument("--from", dest="start", type=int, default=1,
                    help="only keys with events from this position on")
    ap.add_argument("--to", type=int, help="only events up to this position")
    args = ap.parse_args()
    bound = ["FROM", "@%d" % args.start]
    if args.to is not None:
        bound += ["TO", "@%d" % args.to]
    r = redis.Redis(host=args.host, port=args.port, decode_responses=True, socket_timeout=60)
    store = {k: (version, position, md5) for k, _count, version, position, md5 in
             r.execute_command("EV.DIGEST", PATTERN, *bound, "KEYS")}
    total = fields(r.execute_command("EV.DIGEST", PATTERN, *bound))
    db = psycopg2.connect(args.dsn)
    with db, db.cursor() as cur:  # one read-only transaction
        cur.execute(ROWS, (args.start,))
        table = {k: (version, position, md5) for k, version, position, md5 in cur}
        cur.execute(TOTAL, (args.start,))
        rows, digest = cur.fetchone()

    drifted = compare(store, table)
    for reason, key, detail in drifted:
        print("%s\t%s\t%s" % (reason, key, detail))
    print("store: %d keys, %d events, digest %s" % (total["keys"], total["events"],
                                                   total["digest"]))
    print("table: %d rows, digest %s" % (rows, digest))
    keys = len(store.keys() | table.keys())
    pct = 100.0 * len(drifted) / keys if keys else 0.0
    print("drift: %.2f%% (%d of %d keys)" % (pct, len(drifted), keys))
    raise SystemExit(1 if pct > args.max_drift else 0)


if __name__ == "__main__":
    main()
