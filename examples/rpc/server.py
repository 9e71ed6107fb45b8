#!/usr/bin/python3
"""A tincan RPC server loop in redis-py: it serves the `greet` service.

    python3 examples/rpc/server.py [host [port]]    (else $TINCAN_HOST, $TINCAN_PORT,
                                                     else 127.0.0.1 6380)

Each call's payload is a name; the answer is a greeting in the language of the
call's `lang` header. An empty name is refused with RPC.FAIL BAD_NAME, which the
caller gets as the error `BAD_NAME name must not be empty`. Runs until SIGINT or
SIGTERM. Not a framework: no retries, no reconnects, one call at a time.
See docs/rpc.md.
"""

import os
import signal
import sys

import redis

SERVICE = "greet"
GREETINGS = {"en": "hello", "fr": "bonjour", "de": "hallo"}


def fields(flat):
    """A RESP2 map reply (a flat [field, value, ...] list) as a dict."""
    return dict(zip(flat[::2], flat[1::2]))


def answer(r, call):
    """Answers one call record with RPC.REPLY or RPC.FAIL."""
    name = call["payload"]
    if not name:
        r.execute_command("RPC.FAIL", call["id"], "BAD_NAME", "name must not be empty")
        return
    word = GREETINGS.get(fields(call["headers"]).get("lang", "en"), "hello")
    r.execute_command("RPC.REPLY", call["id"], "%s, %s (from python)" % (word, name))


def main():
    host = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("TINCAN_HOST", "127.0.0.1")
    port = int(sys.argv[2] if len(sys.argv) > 2 else os.environ.get("TINCAN_PORT", "6380"))
    # BLOCK 1000 below: the socket timeout must be longer than that.
    r = redis.Redis(host=host, port=port, decode_responses=True, socket_timeout=10)
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # stop as on Ctrl-C
    print("serving %s on %s:%d" % (SERVICE, host, port), flush=True)
    try:
        while True:
            # Up to 10 calls at once; waits up to 1 s for one, then loops.
            for flat in r.execute_command("RPC.SERVE", SERVICE, "COUNT", 10, "BLOCK", 1000):
                call = fields(flat)
                try:
                    answer(r, call)
                except redis.ResponseError as e:
                    # The caller left or its deadline passed: nobody waits any more.
                    print("dropped %s: %s" % (call["id"], e), flush=True)
    except KeyboardInterrupt:
        # Calls we held and did not answer go to another server when this
        # connection closes (while their deadline allows).
        pass


if __name__ == "__main__":
    main()
