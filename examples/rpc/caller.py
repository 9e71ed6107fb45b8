#!/usr/bin/python3
"""A tincan RPC caller in redis-py: it asks the `greet` service to greet names.

    python3 examples/rpc/caller.py [host [port [name ...]]]   (else $TINCAN_HOST,
                                                              $TINCAN_PORT, 127.0.0.1 6380)

Prints one line per name: `'ada' -> hello, ada (from python)`, or the error the
call ended with: `'' -> error BAD_NAME name must not be empty` (the server's
RPC.FAIL), `error TIMEOUT ...` (no answer within 2 s), `error NOSERVER ...` (no
server connected). $GREET_LANG (en, fr, de) goes in the `lang` header.
See docs/rpc.md.
"""

import os
import sys

import redis


def main():
    host = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("TINCAN_HOST", "127.0.0.1")
    port = int(sys.argv[2] if len(sys.argv) > 2 else os.environ.get("TINCAN_PORT", "6380"))
    names = sys.argv[3:] or ["ada", "grace", ""]
    lang = os.environ.get("GREET_LANG", "en")
    # RPC.CALL blocks up to its TIMEOUT: the socket timeout must be longer.
    r = redis.Redis(host=host, port=port, decode_responses=True, socket_timeout=10)
    for name in names:
        try:
            got = r.execute_command("RPC.CALL", "greet", name, "TIMEOUT", 2000,
                                    "HDR", "lang", lang)
            print("'%s' -> %s" % (name, got), flush=True)
        except redis.ResponseError as e:
            print("'%s' -> error %s" % (name, e), flush=True)


if __name__ == "__main__":
    main()
