#!/bin/sh
# deps.sh - make sure the Debian 12 packages tincan needs are installed.
#
#   sh scripts/deps.sh [all|build|test|bench]      (default: all)
#
# Checks every package of the table below with dpkg's status database (one
# dpkg-query call, the query `dpkg -s` runs). If all are installed it exits 0
# at once. Otherwise, as root, it runs `apt-get update` once and
# `apt-get install -y --no-install-recommends` for the missing ones, with a
# policy-rc.d in place so that installing redis-server, nginx, postgresql,
# beanstalkd, rabbitmq-server, prometheus or nats-server does not leave daemons
# running on their default ports (CI has no systemd; invoke-rc.d would otherwise start them).
# When not root it prints the exact command to run and fails.
#
# It never upgrades or removes anything, and does not touch pip or npm
# (tests/clients/node pins its npm packages itself).
set -eu

WHAT=${1:-all}

# The one table: package, the part that needs it, condition.
#   always       : needed whenever that part is
#   no-node      : only if there is no `node` on PATH (a newer Node may be installed)
#   no-npm       : only if there is no `npm` on PATH
#   later        : listed for completeness, not installed yet
# libjansson-dev and libpcre2-dev parse and check JSON Schemas (src/contract);
# json-schema-test-suite is the official suite the validator is held to
# (tests/unit/test_jsonschema_suite.c).
# protobuf-c-compiler (protoc-c) generates C for google/protobuf/descriptor.proto
# at build time, from the .proto that libprotobuf-dev ships; libprotobuf-c-dev
# is its runtime (src/contract/pbschema.c). protobuf-compiler (protoc) and
# python3-protobuf make the test payloads.
# libhttp-parser-dev (http_parser 2.9) parses the requests of the operations
# HTTP listener (src/ops/http.c), so no request parser is hand-written.
# binutils (objcopy) splits the release binaries' debug info; ca-certificates
# is the CA bundle scripts/release-rootfs.sh puts into the FROM scratch image
# (libcurl's S3 over TLS). systemd gives systemd-analyze, which checks
# packaging/tincan.service (nothing is started: it is only the tool); strace
# records the system calls the release server makes, to hold them to the
# unit's SystemCallFilter (tests/integration/test_packaging.py).
# chromium is a test package: tests/integration/test_console.py loads the web
# console in it, headless, through npm's playwright-core (which downloads no
# browser of its own: it is pointed at /usr/bin/chromium).
# redis-server, tcl and dpkg-dev are test packages: Redis's own stream suite
# (scripts/redis-suite.sh) runs on tclsh, is unpacked by dpkg-source and needs
# redis-server as its baseline (the benchmarks use redis-server too).
# prometheus (the real server, /usr/bin/prometheus) scrapes tincan's /metrics
# in tests/integration/test_prometheus.py and answers PromQL about it.
# nats-server is a bench package: the RPC rows (bench/bench_rpc.py) set tincan's
# RPC.CALL against NATS request/reply (core NATS, no JetStream).
# python3-psycopg2 is a test package: the entity examples (examples/entity/:
# a projection worker and a drift check) write and read a PostgreSQL table with
# it, run by tests/integration/test_entity_pg.py.
TABLE='
gcc                     build   always
make                    build   always
pkg-config              build   always
libuv1-dev              build   always
libssl-dev              build   always
libzstd-dev             build   always
libcurl4-openssl-dev    build   always
libhiredis-dev          build   always
libsnappy-dev           build   always
zlib1g-dev              build   always
libjansson-dev          build   always
libpcre2-dev            build   always
clang                   build   always
libclang-rt-14-dev      build   always
libprotobuf-c-dev       build   always
libhttp-parser-dev      build   always
protobuf-c-compiler     build   always
libprotobuf-dev         build   always
protobuf-compiler       build   always
binutils                build   always
ca-certificates         build   always
python3                 test    always
python3-pytest          test    always
python3-redis           test    always
python3-hiredis         test    always
redis-tools             test    always
redis-server            test    always
tcl                     test    always
dpkg-dev                test    always
python3-boto3           test    always
python3-protobuf        test    always
python3-psycopg2        test    always
nodejs                  test    no-node
npm                     test    no-npm
postgresql              test    always
nginx                   test    always
libnginx-mod-http-lua   test    always
procps                  test    always
json-schema-test-suite  test    always
iproute2                test    always
systemd                 test    always
strace                  test    always
chromium                test    always
prometheus              test    always
beanstalkd              bench   always
wrk                     bench   always
rabbitmq-server         bench   always
librabbitmq-dev         bench   always
nats-server             bench   always
'
# Packages whose install scripts would start a daemon.
DAEMONS='redis-server nginx postgresql beanstalkd rabbitmq-server prometheus nats-server'

case $WHAT in
    all|build|test|bench) ;;
    *) echo "usage: $0 [all|build|test|bench]" >&2; exit 2 ;;
esac

want=
for row in $(printf '%s\n' "$TABLE" | awk 'NF == 3 { print $1 ":" $2 ":" $3 }'); do
    pkg=${row%%:*}; rest=${row#*:}; part=${rest%%:*}; cond=${rest#*:}
    if [ "$WHAT" != all ] && [ "$WHAT" != "$part" ]; then continue; fi
    case $cond in
        later) continue ;;
        no-node) command -v node >/dev/null 2>&1 && continue ;;
        no-npm) command -v npm >/dev/null 2>&1 && continue ;;
    esac
    want="$want $pkg"
done

# One dpkg-query for all: prints "<pkg> installed" for each installed package.
installed=$(dpkg-query -W -f='${Package} ${db:Status-Status}\n' $want 2>/dev/null |
    awk '$2 == "installed" { print $1 }') || true
missing=
for pkg in $want; do
    if ! printf '%s\n' "$installed" | grep -qx "$pkg"; then
        missing="$missing $pkg"
    fi
done

if [ -z "$missing" ]; then
    exit 0
fi

cmd="apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends$missing"
if [ "$(id -u)" != 0 ]; then
    echo "deps.sh: missing Debian packages:$missing" >&2
    echo "deps.sh: run as root:" >&2
    echo "    $cmd" >&2
    exit 1
fi

echo "deps.sh: installing:$missing"
# Forbid service starts while we install (exit 101 = action not allowed).
policy=/usr/sbin/policy-rc.d
made_policy=
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\n# written by tincan scripts/deps.sh during apt-get install\nexit 101\n' > "$policy"
    chmod 755 "$policy"
    made_policy=1
fi
cleanup() { if [ -n "$made_policy" ]; then rm -f "$policy"; fi; }
trap cleanup EXIT INT TERM

export DEBIAN_FRONTEND=noninteractive
apt-get update
# shellcheck disable=SC2086
apt-get install -y --no-install-recommends $missing

# Belt and braces: stop any daemon a package we just installed managed to start.
for pkg in $missing; do
    case " $DAEMONS " in *" $pkg "*) ;; *) continue ;; esac
    if command -v service >/dev/null 2>&1; then
        service "$pkg" stop >/dev/null 2>&1 || true
    fi
    # rabbitmq's Erlang may have left an epmd on 4369; ask it to go (it only
    # obeys when no node is registered with it, so a live node is left alone).
    if [ "$pkg" = rabbitmq-server ] && command -v epmd >/dev/null 2>&1; then
        epmd -kill >/dev/null 2>&1 || true
    fi
done
echo "deps.sh: done"
