#!/usr/bin/python3
"""Adds items to an order, safely among concurrent writers: optimistic
concurrency with `EV.PUB ... KEY id EXPECT version`.

    python3 examples/entity/add_item.py host port order-id item [item ...]

For each item: read the order's latest state (EV.KEY gives its version and
the position of its latest event, EV.GET that event, whose JSON payload is the
whole order), add the item, and publish the new state as `order.item_added`
with KEY order-id EXPECT version. If another writer published in between, the
server answers -CONFLICT and stores nothing: read again and retry after a
short random pause, for at most GIVE_UP seconds. A new order (version 0) starts
as {"id": order-id, "items": []}. Prints the version and position of each
publish and how many retries it took. Not a framework: one order, no
reconnects. See docs/entity.md.
"""

import json
import random
import sys
import time

import redis

GIVE_UP = 10.0  # s


def fields(flat):
    """A RESP2 map reply (a flat [field, value, ...] list) as a dict."""
    return dict(zip(flat[::2], flat[1::2]))


def read_order(r, key):
    """(version, order) of key's latest event, (0, a new order) for a new key, or
    (version, None) when that event is not readable yet (its fsync is pending)."""
    meta = r.execute_command("EV.KEY", key)
    if meta is None:
        return 0, {"id": key, "items": []}
    meta = fields(meta)
    event = r.execute_command("EV.GET", meta["position"])
    return meta["version"], (json.loads(fields(event)["payload"]) if event else None)


def add_item(r, key, item):
    """Publishes the order with item added; returns (version, position, retries)."""
    deadline = time.monotonic() + GIVE_UP
    retries = 0
    while time.monotonic() < deadline:
        version, order = read_order(r, key)
        if order is not None:
            order["items"].append(item)
            try:
                position = r.execute_command("EV.PUB", "order.item_added", json.dumps(order),
                                             "KEY", key, "EXPECT", version)
                return version + 1, position, retries
            except redis.ResponseError as e:
                if not str(e).startswith("CONFLICT"):
                    raise
        retries += 1
        time.sleep(random.uniform(0, 0.002))  # let the winner finish
    raise SystemExit("%s: gave up after %d retries in %.0f s" % (key, retries, GIVE_UP))


def main():
    if len(sys.argv) < 5:
        raise SystemExit("usage: add_item.py host port order-id item [item ...]")
    host, port, key = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    r = redis.Redis(host=host, port=port, decode_responses=True, socket_timeout=10)
    for item in sys.argv[4:]:
        print("%s v%d @%d (%d retries)" % ((key,) + add_item(r, key, item)), flush=True)


if __name__ == "__main__":
    main()
