#!/bin/sh
# node-tools.sh - installs the npm packages the archive, console and RPC
# example tests and the benchmarks run (tests/tools/node: DuckDB's Node API,
# s3rver, playwright-core, ioredis), pinned by its package-lock.json.
#
#   sh scripts/node-tools.sh
#
# Runs `npm ci` only when node_modules is missing or older than the lock file,
# so a second run costs nothing. Needs node and npm (scripts/deps.sh installs
# them). Exits non-zero, saying why, when they cannot be installed.
set -eu
dir=$(dirname "$0")/../tests/tools/node
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    echo "node-tools.sh: node/npm not installed (scripts/deps.sh installs them)" >&2
    exit 1
fi
if [ -f "$dir/node_modules/.package-lock.json" ] &&
    [ ! "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]; then
    exit 0
fi
if ! (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error); then
    echo "node-tools.sh: npm ci failed in $dir (no access to the npm registry?)" >&2
    exit 1
fi
