#!/bin/sh
# redis_cli.sh - scripted redis-cli checks against a running tincan-server.
#
#   sh tests/clients/redis_cli.sh HOST PORT
#
# Uses redis-cli the way people do: one-shot commands, commands piped on
# stdin, RESP3 (-3), and mass insertion (--pipe). Prints each check and a
# closing "N passed, N failed"; exits 1 on any failure. Run by scripts/check.sh
# against a fresh server.
set -u
H=${1:?host}
P=${2:?port}
passed=0
failed=0

cli() { timeout 20 redis-cli -h "$H" -p "$P" "$@" 2>&1; }

# expect NAME WANT GOT: exact match
expect() {
    if [ "$3" = "$2" ]; then
        echo "ok $1"; passed=$((passed + 1))
    else
        echo "not ok $1"; echo "   want: $2"; echo "   got:  $3"; failed=$((failed + 1))
    fi
}

# expect_match NAME REGEX GOT: grep -E match of some line
expect_match() {
    if printf '%s\n' "$3" | grep -qE "$2"; then
        echo "ok $1"; passed=$((passed + 1))
    else
        echo "not ok $1"; echo "   want a line matching: $2"
        echo "   got:  $(printf '%s' "$3" | head -c 600)"; failed=$((failed + 1))
    fi
}

expect ping PONG "$(cli PING)"
expect ping-message "hello world" "$(cli PING 'hello world')"
expect echo-spaces "a b  c" "$(cli ECHO 'a b  c')"
info=$(cli INFO server)
expect_match info-redis-version '^redis_version:7\.2\.0' "$info"
expect_match info-tincan-version '^tincan_version:' "$info"
expect_match info-all-sections '^# Clients' "$(cli INFO)"
expect_match client-list '^id=[0-9]+ .*addr=127\.0\.0\.1:' "$(cli CLIENT LIST)"
expect_match unknown-command "^ERR unknown command 'FOO'" "$(cli FOO bar)"
expect_match wrong-arity "^ERR wrong number of arguments for 'echo' command" "$(cli ECHO)"
expect select-15 OK "$(cli SELECT 15)"
expect_match config-get-maxclients '^maxclients$' "$(cli CONFIG GET maxclients)"
expect_match time '^[0-9]{10}$' "$(cli TIME | head -n 1)"
expect_match resp3-hello '^proto 3$' "$(cli -3 HELLO 3)"
expect resp3-ping PONG "$(cli -3 PING)"

# commands on stdin, one per line, replies in order
expect stdin-pipeline "$(printf 'PONG\nx\nPONG')" \
    "$(printf 'PING\nECHO x\nPING\n' | cli)"

# mass insertion: 1000 raw RESP commands through --pipe (it appends its own
# ECHO marker and waits for it)
i=0
cmds=
while [ $i -lt 1000 ]; do cmds="$cmds*1\r\n\$4\r\nPING\r\n"; i=$((i + 1)); done
expect_match pipe-mode 'errors: 0, replies: 1000' "$(printf "$cmds" | cli --pipe)"

# a very long argument survives the round trip (64 KiB)
big=$(head -c 49152 /dev/zero | base64 -w 0)
got=$(cli ECHO "$big")
expect echo-64k "${#big}" "${#got}"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
