#!/usr/bin/python3
"""A projection worker: folds tincan's `order.*` events into a PostgreSQL table.

    python3 examples/entity/projection.py host port dsn [--snapshot name] [--drain]

dsn is a libpq connection string, e.g. "host=/run/postgresql dbname=shop".
The worker reads the durable subscription `orders.pg`, made on first start
from the beginning of history, or with --snapshot from that snapshot and the
events after it (a new service needs no full replay); a restarted worker goes
on where it left off. It keeps, per order id (the event's KEY), the latest event:

    orders (key text PRIMARY KEY, version bigint, position bigint, payload text)

Each payload is the whole order as JSON, so the latest event is the order's
state. The payload is kept as text, byte for byte (jsonb would rewrite it and
the drift check hashes the bytes). A batch is one transaction, acked after its
COMMIT: a crash in between only redelivers the batch. An event older than the
row (lower version) changes nothing, so redeliveries and replays are harmless,
and a replay rewrites rows that were lost or damaged (see drift.py). Events
without a KEY are acked and skipped. Runs until SIGINT or SIGTERM; with
--drain it exits once a read finds nothing for a second. See docs/entity.md.
"""

import argparse
import signal

import psycopg2
import redis

SUB = "orders.pg"
PATTERN = "order.*"
CONSUMER = "projection"

SCHEMA = """CREATE TABLE IF NOT EXISTS orders (
    key      text PRIMARY KEY,
    version  bigint NOT NULL,
    position bigint NOT NULL,
    payload  text NOT NULL)"""

UPSERT = """INSERT INTO orders (key, version, position, payload) VALUES (%s, %s, %s, %s)
    ON CONFLICT (key) DO UPDATE
    SET version = excluded.version, position = excluded.position, payload = excluded.payload
    WHERE orders.version <= excluded.version"""


def fields(flat):
    """A RESP2 map reply (a flat [field, value, ...] list) as a dict."""
    return dict(zip(flat[::2], flat[1::2]))


def apply(db, events):
    """Folds a batch into the table in one transaction (COMMIT, or ROLLBACK on error)."""
    with db, db.cursor() as cur:
        for e in events:
            if e["key"] is not None:
                cur.execute(UPSERT, (e["key"], e["version"], e["position"], e["payload"]))


def main():
    ap = argparse.ArgumentParser(description="fold order.* events into PostgreSQL")
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("dsn")
    ap.add_argument("--snapshot", help="start a new subscription from this snapshot")
    ap.add_argument("--drain", action="store_true", help="exit when caught up")
    args = ap.parse_args()
    # BLOCK 1000 below: the socket timeout must be longer than that.
    r = redis.Redis(host=args.host, port=args.port, decode_responses=True, socket_timeout=10)
    db = psycopg2.connect(args.dsn)
    with db, db.cursor() as cur:
        cur.execute(SCHEMA)
    start = ["SNAPSHOT", args.snapshot] if args.snapshot else ["BEGINNING"]
    r.execute_command("EV.SUB", SUB, PATTERN, "FROM", *start)  # 0 if it exists
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # stop as on Ctrl-C
    applied = 0
    try:
        while True:
            batch = r.execute_command("EV.READ", SUB, CONSUMER, "COUNT", 100, "BLOCK", 1000)
            if not batch:
                if args.drain:
                    break
                continue
            events = [fields(flat) for flat in batch]
            apply(db, events)
            r.execute_command("EV.ACK", SUB, *[e["position"] for e in events])
            applied += len(events)
    except KeyboardInterrupt:
        pass  # events read and not acked come again to the next worker
    print("applied %d events" % applied, flush=True)


if __name__ == "__main__":
    main()
