"""The foundation commands and limits of issue 2, through the protocol.

Every command is exercised through redis-py in RESP2 and RESP3 (the `r`
fixture is parametrized over both), the exact bytes through raw sockets where
the wire format matters (inline commands, protocol errors, RESP3 types).
Error texts are Redis's own where Redis has one (checked against
redis-server 7.x). Limits are tested with small configured values so each
test stays bounded in time and memory.
"""

import os
import signal
import socket
import subprocess
import threading
import time

import pytest
import redis

from conftest import RawConn, call, resp_encode, tincan_bin, wait_until


def error_text(excinfo):
    return str(excinfo.value)


@pytest.fixture(params=[2, 3], ids=["resp2", "resp3"])
def proto(request):
    return request.param


@pytest.fixture
def r(server, proto):
    return server.client(protocol=proto)


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


# --------------------------------------------------------------------------
# PING, ECHO, TIME
# --------------------------------------------------------------------------

def test_ping(r):
    assert r.ping() is True
    assert call(r, "PING") == "PONG"
    assert call(r, "PING", "hello world") == "hello world"


def test_ping_arity(r):
    with pytest.raises(redis.ResponseError) as e:
        call(r, "PING", "a", "b")
    assert error_text(e) == "wrong number of arguments for 'ping' command"


def test_ping_raw_replies(server):
    c = server.raw()
    assert c.cmd("PING") == b"+PONG\r\n"
    assert c.cmd("PING", "x y") == b"$3\r\nx y\r\n"
    assert c.cmd("ping", "") == b"$0\r\n\r\n"


def test_echo_binary(r, server, proto):
    data = bytes(range(256)) * 4 + b"\r\n\x00"
    rb = server.client(protocol=proto, decode_responses=False)
    assert rb.echo(data) == data
    assert r.echo("héllo ✓") == "héllo ✓"
    assert r.echo("") == ""


def test_echo_arity(r):
    with pytest.raises(redis.ResponseError) as e:
        call(r, "ECHO")
    assert error_text(e) == "wrong number of arguments for 'echo' command"
    with pytest.raises(redis.ResponseError) as e:
        call(r, "ECHO", "a", "b")
    assert error_text(e) == "wrong number of arguments for 'echo' command"


def test_echo_large(server):
    big = os.urandom(4 * 1024 * 1024)
    rb = server.client(decode_responses=False)
    assert rb.echo(big) == big


def test_time(r):
    reply = call(r, "TIME")
    assert isinstance(reply, list) and len(reply) == 2
    secs, usecs = int(reply[0]), int(reply[1])
    assert abs(secs + usecs / 1e6 - time.time()) < 5
    assert 0 <= usecs < 1_000_000
    with pytest.raises(redis.ResponseError) as e:
        call(r, "TIME", "x")
    assert error_text(e) == "wrong number of arguments for 'time' command"


# --------------------------------------------------------------------------
# unknown commands, case
# --------------------------------------------------------------------------

def test_unknown_command(r):
    with pytest.raises(redis.ResponseError) as e:
        call(r, "FOO", "a", "b")
    assert error_text(e) == "unknown command 'FOO', with args beginning with: 'a' 'b' "
    with pytest.raises(redis.ResponseError) as e:
        call(r, "FOO")
    assert error_text(e) == "unknown command 'FOO', with args beginning with: "
    assert r.ping()


def test_unknown_command_raw(server):
    c = server.raw()
    assert c.cmd("FOO", "bar") == \
        b"-ERR unknown command 'FOO', with args beginning with: 'bar' \r\n"


def test_commands_are_case_insensitive(r):
    assert call(r, "pInG") == "PONG"
    assert call(r, "echo", "x") == "x"


# --------------------------------------------------------------------------
# HELLO
# --------------------------------------------------------------------------

HELLO_KEYS = {"server", "version", "proto", "id", "mode", "role", "modules"}


def test_hello_3_returns_map(server):
    c = server.raw()
    c.send(resp_encode("HELLO", "3"))
    reply = c.read_reply()
    assert reply.startswith(b"%"), reply
    assert int(reply[1:reply.index(b"\r")]) >= len(HELLO_KEYS)
    for k in HELLO_KEYS:
        assert b"$%d\r\n%s\r\n" % (len(k), k.encode()) in reply
    assert b"$5\r\nproto\r\n:3\r\n" in reply
    # the connection now speaks RESP3
    assert c.cmd("CLIENT", "GETNAME") == b"_\r\n"


def test_hello_2_returns_flat_array(server):
    c = server.raw()
    reply = c.cmd("HELLO", "2")
    assert reply.startswith(b"*"), reply
    n = int(reply[1:reply.index(b"\r")])
    assert n >= 2 * len(HELLO_KEYS) and n % 2 == 0
    assert b"$5\r\nproto\r\n:2\r\n" in reply
    assert c.cmd("CLIENT", "GETNAME") == b"$-1\r\n"


def test_hello_fields(r, proto):
    reply = call(r, "HELLO", proto)
    if proto == 2:
        assert isinstance(reply, list) and len(reply) % 2 == 0
        reply = dict(zip(reply[::2], reply[1::2]))
    assert HELLO_KEYS <= set(reply)  # Redis's fields; more are allowed
    assert reply["proto"] == proto
    assert reply["id"] == r.client_id()
    assert reply["version"] == "7.2.0"
    assert reply["role"] == "master"
    assert reply["modules"] == []


def test_hello_switches_back_and_forth(server):
    c = server.raw()
    c.cmd("HELLO", "3")
    assert c.cmd("CONFIG", "GET", "maxclients").startswith(b"%1\r\n")
    c.cmd("HELLO", "2")
    assert c.cmd("CONFIG", "GET", "maxclients").startswith(b"*2\r\n")


def test_hello_no_args_keeps_protocol(server):
    c = server.raw()
    c.cmd("HELLO", "3")
    reply = c.cmd("HELLO")
    assert reply.startswith(b"%") and b"$5\r\nproto\r\n:3\r\n" in reply


def test_hello_bad_version(r):
    # redis-py keeps the code of errors it has no class for
    with pytest.raises(redis.ResponseError) as e:
        call(r, "HELLO", "4")
    assert error_text(e) == "NOPROTO unsupported protocol version"
    with pytest.raises(redis.ResponseError) as e:
        call(r, "HELLO", "1")
    assert error_text(e) == "NOPROTO unsupported protocol version"
    with pytest.raises(redis.ResponseError) as e:
        call(r, "HELLO", "abc")
    assert error_text(e) == "Protocol version is not an integer or out of range"


def test_hello_bad_version_raw_prefix(server):
    c = server.raw()
    assert c.cmd("HELLO", "4") == b"-NOPROTO unsupported protocol version\r\n"


def test_hello_setname(r, proto):
    call(r, "HELLO", proto, "SETNAME", "worker-1")
    assert r.client_getname() == "worker-1"


def test_hello_syntax_error(r, proto):
    with pytest.raises(redis.ResponseError) as e:
        call(r, "HELLO", proto, "BOGUS")
    assert error_text(e).startswith("Syntax error in HELLO option 'BOGUS'")


# --------------------------------------------------------------------------
# AUTH
# --------------------------------------------------------------------------

def test_auth_without_password_configured(r):
    with pytest.raises(redis.ResponseError) as e:
        call(r, "AUTH", "x")
    assert error_text(e) == ("AUTH <password> called without any password configured "
                             "for the default user. Are you sure your configuration "
                             "is correct?")


@pytest.mark.tincan_args("--requirepass", "s3cret")
def test_auth_syntax(server):
    c = server.raw()
    assert c.cmd("AUTH", "a", "b", "c") == b"-ERR syntax error\r\n"
    assert c.cmd("HELLO", "3", "AUTH", "default") == \
        b"-ERR Syntax error in HELLO option 'AUTH'\r\n"


@pytest.mark.tincan_args("--requirepass", "s3cret")
def test_noauth_before_auth(server):
    c = server.raw()
    assert c.cmd("PING") == b"-NOAUTH Authentication required.\r\n"
    assert c.cmd("ECHO", "x") == b"-NOAUTH Authentication required.\r\n"
    assert c.cmd("INFO") == b"-NOAUTH Authentication required.\r\n"
    assert c.cmd("SELECT", "1") == b"-NOAUTH Authentication required.\r\n"
    assert c.cmd("AUTH", "wrong") == \
        b"-WRONGPASS invalid username-password pair or user is disabled.\r\n"
    assert c.cmd("PING") == b"-NOAUTH Authentication required.\r\n"
    assert c.cmd("AUTH", "s3cret") == b"+OK\r\n"
    assert c.cmd("PING") == b"+PONG\r\n"


@pytest.mark.tincan_args("--requirepass", "s3cret")
def test_auth_two_argument_form(server):
    c = server.raw()
    assert c.cmd("AUTH", "someone", "s3cret") == \
        b"-WRONGPASS invalid username-password pair or user is disabled.\r\n"
    assert c.cmd("AUTH", "default", "s3cret") == b"+OK\r\n"
    assert c.cmd("PING") == b"+PONG\r\n"


@pytest.mark.tincan_args("--requirepass", "s3cret")
def test_quit_allowed_before_auth(server):
    c = server.raw()
    assert c.cmd("QUIT") == b"+OK\r\n"
    assert c.is_closed(5)


@pytest.mark.tincan_args("--requirepass", "s3cret")
def test_hello_auth(server, proto):
    r = server.client(protocol=proto, password="s3cret")
    assert r.ping()
    c = server.raw()
    reply = c.cmd("HELLO", "3", "AUTH", "default", "nope")
    assert reply == b"-WRONGPASS invalid username-password pair or user is disabled.\r\n"
    assert c.cmd("PING") == b"-NOAUTH Authentication required.\r\n"
    reply = c.cmd("HELLO", "3", "AUTH", "default", "s3cret", "SETNAME", "n1")
    assert reply.startswith(b"%")
    assert c.cmd("CLIENT", "GETNAME") == b"$2\r\nn1\r\n"


@pytest.mark.tincan_args("--requirepass", "s3cret")
def test_hello_without_auth_when_required(server):
    # Redis refuses a HELLO that would switch protocol before authentication
    c = server.raw()
    reply = c.cmd("HELLO", "3")
    assert reply.startswith(b"-NOAUTH "), reply
    assert c.cmd("PING") == b"-NOAUTH Authentication required.\r\n"


@pytest.mark.tincan_args("--requirepass", "s3cret")
def test_redis_py_with_password(server, proto):
    r = server.client(protocol=proto, password="s3cret")
    assert r.echo("ok") == "ok"
    # redis-py 4.3 raises WRONGPASS as a plain ResponseError
    bad = server.client(protocol=2, password="wrong")
    with pytest.raises((redis.AuthenticationError, redis.ResponseError)) as e:
        bad.ping()
    assert "WRONGPASS" in str(e.value) or "invalid" in str(e.value)
    none = server.client(protocol=2)
    with pytest.raises((redis.AuthenticationError, redis.ResponseError)) as e:
        none.ping()
    assert "Authentication required" in str(e.value)


# --------------------------------------------------------------------------
# SELECT
# --------------------------------------------------------------------------

def test_select(r, server):
    for db in range(16):
        assert call(r, "SELECT", db) in ("OK", True)
    with pytest.raises(redis.ResponseError) as e:
        call(r, "SELECT", 16)
    assert error_text(e) == "DB index is out of range"
    with pytest.raises(redis.ResponseError) as e:
        call(r, "SELECT", -1)
    assert error_text(e) == "DB index is out of range"
    with pytest.raises(redis.ResponseError) as e:
        call(r, "SELECT", "abc")
    assert error_text(e) == "value is not an integer or out of range"


def test_select_shows_in_client_list(server):
    c = server.raw()
    assert c.cmd("SELECT", "7") == b"+OK\r\n"
    listing = c.cmd("CLIENT", "LIST")
    assert b" db=7 " in listing


def test_redis_py_db_option(server, proto):
    r = server.client(protocol=proto, db=5)
    assert r.ping()
    mine = [c for c in r.client_list() if int(c["id"]) == r.client_id()]
    assert mine and mine[0]["db"] == "5"


# --------------------------------------------------------------------------
# INFO
# --------------------------------------------------------------------------

def test_info_server(r, server):
    info = r.info("server")
    assert info["redis_version"] == "7.2.0"
    assert "tincan_version" in info
    # optional fields, but when present they must be right
    if "process_id" in info:
        assert int(info["process_id"]) == server.pid
    if "tcp_port" in info:
        assert int(info["tcp_port"]) == server.port


def test_info_default_sections(r):
    text = call(r, "INFO")
    for section in ("# Server", "# Clients", "# Memory", "# Persistence", "# Stats"):
        assert section in text, section
    assert "\r\n" in text


@pytest.mark.parametrize("section", ["server", "clients", "memory", "persistence",
                                     "stats", "commandstats"])
def test_info_each_section(r, section):
    r.ping()
    text = call(r, "INFO", section)
    heading = text.split("\r\n", 1)[0].lower()
    assert heading == "# " + section, text[:200]
    assert len(text.strip().splitlines()) >= 2


def test_info_clients_counts(server):
    r = server.client()
    others = [server.raw() for _ in range(3)]
    for o in others:
        o.cmd("PING")
    info = r.info("clients")
    assert int(info["connected_clients"]) >= 4


def test_info_commandstats(r):
    for _ in range(3):
        r.echo("x")
    info = r.info("commandstats")
    assert "cmdstat_echo" in info
    assert int(info["cmdstat_echo"]["calls"]) >= 3


def test_info_resp3_is_verbatim(server):
    c = server.raw()
    c.cmd("HELLO", "3")
    reply = c.cmd("INFO", "server")
    assert reply.startswith(b"=") and b"\r\ntxt:# Server" in reply[:40], reply[:40]


def test_info_multiple_and_unknown_sections(r):
    text = call(r, "INFO", "server", "clients")
    assert "# Server" in text and "# Clients" in text
    assert call(r, "INFO", "nosuchsection") == ""


# --------------------------------------------------------------------------
# CLIENT
# --------------------------------------------------------------------------

def test_client_id(r, server):
    a = r.client_id()
    b = server.client().client_id()
    assert isinstance(a, int) and a > 0 and b != a


def test_client_setname_getname(r):
    assert r.client_getname() is None
    assert r.client_setname("my-worker") is True
    assert r.client_getname() == "my-worker"
    with pytest.raises(redis.ResponseError) as e:
        r.client_setname("has space")
    assert error_text(e) == \
        "Client names cannot contain spaces, newlines or special characters."
    assert r.client_getname() == "my-worker"
    assert call(r, "CLIENT", "SETNAME", "") in ("OK", True)
    assert r.client_getname() is None


def test_client_arity_and_unknown_subcommand(r):
    with pytest.raises(redis.ResponseError) as e:
        call(r, "CLIENT", "SETNAME")
    assert error_text(e) == "wrong number of arguments for 'client|setname' command"
    with pytest.raises(redis.ResponseError) as e:
        call(r, "CLIENT", "NOSUCH")
    assert error_text(e) == "unknown subcommand 'NOSUCH'. Try CLIENT HELP."


def test_client_list(r, server):
    r.client_setname("lister")
    other = server.raw()
    other.cmd("CLIENT", "SETNAME", "other")
    clients = r.client_list()
    by_name = {c["name"]: c for c in clients}
    assert "lister" in by_name and "other" in by_name
    me = by_name["lister"]
    assert int(me["id"]) == r.client_id()
    assert me["addr"].startswith("127.0.0.1:")
    assert me["db"] == "0"
    assert me["cmd"].startswith("client")


def test_client_list_format_raw(server):
    c = server.raw()
    reply = c.cmd("CLIENT", "LIST")
    assert reply.startswith(b"$")
    body = reply.split(b"\r\n", 1)[1]
    line = body.split(b"\n", 1)[0]
    for field in (b"id=", b"addr=", b"name=", b"age=", b"db=", b"cmd="):
        assert field in line, line


def test_client_setinfo(r):
    assert call(r, "CLIENT", "SETINFO", "lib-name", "tincan-tests") in ("OK", True)
    assert call(r, "CLIENT", "SETINFO", "lib-ver", "1.2.3") in ("OK", True)
    mine = [c for c in r.client_list() if int(c["id"]) == r.client_id()][0]
    assert mine.get("lib-name") == "tincan-tests"
    assert mine.get("lib-ver") == "1.2.3"
    with pytest.raises(redis.ResponseError) as e:
        call(r, "CLIENT", "SETINFO", "lib-foo", "x")
    assert error_text(e).startswith("Unrecognized option 'lib-foo'")


def test_client_kill_by_id(r, server):
    victim = server.raw()
    victim_id = int(victim.cmd("CLIENT", "ID")[1:-2])
    assert call(r, "CLIENT", "KILL", "ID", victim_id) == 1
    assert victim.is_closed(5)
    assert call(r, "CLIENT", "KILL", "ID", 999999) == 0
    with pytest.raises(redis.ResponseError) as e:
        call(r, "CLIENT", "KILL", "ID", "abc")
    assert error_text(e) == "client-id should be greater than 0"


def test_client_kill_skipme(server):
    c = server.raw()
    my_id = c.cmd("CLIENT", "ID")[1:-2].decode()
    # the new form skips the caller unless SKIPME no (as Redis)
    assert c.cmd("CLIENT", "KILL", "ID", my_id) == b":0\r\n"
    assert c.cmd("PING") == b"+PONG\r\n"
    c.send(resp_encode("CLIENT", "KILL", "ID", my_id, "SKIPME", "no") + resp_encode("PING"))
    assert c.read_until_close(5) == b":1\r\n"


def test_client_kill_by_addr(r, server):
    victim = server.raw()
    victim.cmd("CLIENT", "SETNAME", "victim")
    addr = [c for c in r.client_list() if c["name"] == "victim"][0]["addr"]
    assert call(r, "CLIENT", "KILL", addr) in ("OK", True)
    assert victim.is_closed(5)
    with pytest.raises(redis.ResponseError) as e:
        call(r, "CLIENT", "KILL", "1.2.3.4:5")
    assert error_text(e) == "No such client"


# --------------------------------------------------------------------------
# COMMAND
# --------------------------------------------------------------------------

FOUNDATION = ["ping", "echo", "hello", "auth", "select", "info", "client", "command",
              "config", "time", "quit", "shutdown", "debug"]


def test_command_count_and_list(r):
    count = call(r, "COMMAND", "COUNT")
    names = call(r, "COMMAND", "LIST")
    # Redis counts top-level commands; its LIST may add "parent|sub" entries
    assert isinstance(count, int) and count == len([n for n in names if "|" not in n])
    for name in FOUNDATION:
        assert name in names, name


def test_command_info(r):
    reply = call(r, "COMMAND", "INFO", "ping", "nosuchcommand", "echo")
    assert len(reply) == 3
    ping, missing, echo = reply
    assert missing is None
    assert ping[0] == "ping" and ping[1] == -1
    assert echo[0] == "echo" and echo[1] == 2
    assert isinstance(ping[2], list)        # flags
    assert ping[3:6] == [0, 0, 0]           # no keys


def test_command_without_args_lists_all(r):
    reply = call(r, "COMMAND")
    assert len(reply) == call(r, "COMMAND", "COUNT")
    assert "ping" in {entry[0] for entry in reply}


def test_command_docs(r, proto):
    reply = call(r, "COMMAND", "DOCS", "ping")
    if proto == 2:
        assert reply[0] == "ping"
        doc = reply[1]
        doc = dict(zip(doc[::2], doc[1::2]))
    else:
        doc = reply["ping"]
    assert doc["summary"]
    assert "group" in doc


def test_command_unknown_subcommand(r):
    with pytest.raises(redis.ResponseError) as e:
        call(r, "COMMAND", "FOO")
    assert error_text(e) == "unknown subcommand 'FOO'. Try COMMAND HELP."


# --------------------------------------------------------------------------
# CONFIG
# --------------------------------------------------------------------------

def test_config_get(r):
    assert r.config_get("maxclients") == {"maxclients": "10000"}
    everything = r.config_get("*")
    for name in ("bind", "port", "dir", "maxclients", "proto-max-bulk-len",
                 "client-output-buffer-limit", "enable-debug-command"):
        assert name in everything, name
    assert r.config_get("nosuchsetting") == {}
    maxes = r.config_get("max*")
    assert "maxclients" in maxes and all(k.startswith("max") for k in maxes)


def test_config_get_multiple_patterns(r):
    got = call(r, "CONFIG", "GET", "maxclients", "bind")
    if isinstance(got, list):
        got = dict(zip(got[::2], got[1::2]))
    assert got == {"maxclients": "10000", "bind": "127.0.0.1"}


def test_config_set(r):
    assert r.config_set("maxclients", 500) is True
    assert r.config_get("maxclients") == {"maxclients": "500"}
    with pytest.raises(redis.ResponseError) as e:
        r.config_set("maxclients", "abc")
    assert error_text(e).startswith(
        "CONFIG SET failed (possibly related to argument 'maxclients')")
    assert r.config_get("maxclients") == {"maxclients": "500"}
    with pytest.raises(redis.ResponseError) as e:
        r.config_set("nosuchsetting", "1")
    assert error_text(e) == \
        "Unknown option or number of arguments for CONFIG SET - 'nosuchsetting'"


def test_config_set_several_at_once(r):
    assert call(r, "CONFIG", "SET", "maxclients", "123", "loglevel", "warning") in ("OK", True)
    assert r.config_get("maxclients") == {"maxclients": "123"}
    assert r.config_get("loglevel") == {"loglevel": "warning"}


def test_config_set_immutable(r):
    with pytest.raises(redis.ResponseError) as e:
        r.config_set("port", 1)
    assert error_text(e).startswith("CONFIG SET failed (possibly related to argument 'port')")
    assert "immutable" in error_text(e) or "can't set" in error_text(e)


def test_config_set_maxclients_applies(server):
    r = server.client()
    r.ping()
    assert r.config_set("maxclients", 2) is True
    second = server.raw()
    assert second.cmd("PING") == b"+PONG\r\n"
    third = server.raw()
    assert third.read_until_close(5) == b"-ERR max number of clients reached\r\n"


def test_config_set_requirepass_applies_to_new_connections(server):
    r = server.client()
    assert r.config_set("requirepass", "later") is True
    c = server.raw()
    assert c.cmd("PING") == b"-NOAUTH Authentication required.\r\n"
    assert c.cmd("AUTH", "later") == b"+OK\r\n"


def test_config_arity(r):
    with pytest.raises(redis.ResponseError) as e:
        call(r, "CONFIG", "GET")
    assert error_text(e) == "wrong number of arguments for 'config|get' command"
    with pytest.raises(redis.ResponseError) as e:
        call(r, "CONFIG", "FOO")
    assert error_text(e) == "unknown subcommand 'FOO'. Try CONFIG HELP."


# --------------------------------------------------------------------------
# DEBUG
# --------------------------------------------------------------------------

def test_debug_refused_by_default(r):
    with pytest.raises(redis.ResponseError) as e:
        call(r, "DEBUG", "SLEEP", "0")
    assert error_text(e).startswith("DEBUG command not allowed")


@pytest.mark.tincan_args("--enable-debug-command", "yes")
def test_debug_sleep_and_reload(server, proto):
    r = server.client(protocol=proto)
    t0 = time.monotonic()
    assert call(r, "DEBUG", "SLEEP", "0.2") in ("OK", True)
    assert time.monotonic() - t0 >= 0.19
    assert call(r, "DEBUG", "SLEEP", "0") in ("OK", True)
    assert call(r, "DEBUG", "RELOAD") in ("OK", True)
    assert r.ping()


@pytest.mark.tincan_args("--enable-debug-command", "yes")
def test_debug_sleep_blocks_the_loop(server):
    # one thread runs all commands: another client waits for the sleep
    sleeper = server.raw(timeout=10)
    other = server.raw(timeout=10)
    assert other.cmd("PING") == b"+PONG\r\n"
    sleeper.send(resp_encode("DEBUG", "SLEEP", "0.5"))
    time.sleep(0.05)                      # let the server pick it up first
    t0 = time.monotonic()
    assert other.cmd("PING") == b"+PONG\r\n"
    waited = time.monotonic() - t0
    assert sleeper.read_reply() == b"+OK\r\n"
    assert waited >= 0.2, "PING answered after %.3f s during DEBUG SLEEP 0.5" % waited


# --------------------------------------------------------------------------
# QUIT, SHUTDOWN, SIGTERM
# --------------------------------------------------------------------------

def test_quit(server):
    c = server.raw()
    c.send(resp_encode("PING") + resp_encode("QUIT") + resp_encode("PING"))
    assert c.read_reply() == b"+PONG\r\n"
    assert c.read_reply() == b"+OK\r\n"
    assert c.read_until_close(5) == b""  # nothing after QUIT's reply
    assert server.client().ping()


def test_shutdown(server):
    c = server.raw()
    c.send(resp_encode("SHUTDOWN"))
    c.is_closed(15)
    assert server.wait_exit(15) == 0
    assert server.sanitizer_report() is None


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_graceful_shutdown(server, sig):
    idle = server.raw()
    idle.cmd("PING")
    busy = server.client()
    busy.ping()
    server.proc.send_signal(sig)
    assert server.wait_exit(15) == 0, "server did not exit 0 after %s" % sig.name
    assert idle.is_closed(5)
    assert server.sanitizer_report() is None


def test_restart_same_dir(server):
    port1 = server.port
    server.restart()
    assert server.client().ping()
    server.restart(signal.SIGKILL)
    assert server.client().ping()
    assert server.port > 0 and port1 > 0


# --------------------------------------------------------------------------
# inline commands and pipelining
# --------------------------------------------------------------------------

def test_inline_commands(server):
    c = server.raw()
    c.send(b"PING\r\n")
    assert c.read_reply() == b"+PONG\r\n"
    c.send(b"ECHO hello\n")
    assert c.read_reply() == b"$5\r\nhello\r\n"
    c.send(b'ECHO "a b\\x41\\n"\r\n')
    assert c.read_reply() == b"$5\r\na bA\n\r\n"
    c.send(b"ECHO 'x y'\r\n")
    assert c.read_reply() == b"$3\r\nx y\r\n"
    c.send(b"\r\n   \r\nPING\r\n")  # blank lines are ignored
    assert c.read_reply() == b"+PONG\r\n"
    c.send(b"  ping   hi  \r\n")
    assert c.read_reply() == b"$2\r\nhi\r\n"


def test_inline_unknown_and_arity(server):
    c = server.raw()
    c.send(b"FOO x\r\n")
    assert c.read_reply() == \
        b"-ERR unknown command 'FOO', with args beginning with: 'x' \r\n"
    c.send(b"ECHO\r\n")
    assert c.read_reply() == b"-ERR wrong number of arguments for 'echo' command\r\n"


def test_inline_split_across_packets(server):
    c = server.raw()
    for b in b"ECHO split\r\n":
        c.send(bytes([b]))
        time.sleep(0.001)
    assert c.read_reply() == b"$5\r\nsplit\r\n"


def test_multibulk_split_across_packets(server):
    c = server.raw()
    data = resp_encode("ECHO", "x" * 1000) + resp_encode("PING")
    for i in range(0, len(data), 7):
        c.send(data[i:i + 7])
    assert c.read_reply() == b"$1000\r\n" + b"x" * 1000 + b"\r\n"
    assert c.read_reply() == b"+PONG\r\n"


def test_pipeline_10k_raw(server):
    c = server.raw(timeout=60)
    n = 10000
    c.send(b"".join(resp_encode("ECHO", str(i)) for i in range(n)))
    for i in range(n):
        s = str(i).encode()
        assert c.read_reply() == b"$%d\r\n%s\r\n" % (len(s), s)


def test_pipeline_10k_redis_py(r):
    n = 10000
    p = r.pipeline(transaction=False)
    for i in range(n):
        p.echo(str(i))
    assert p.execute() == [str(i) for i in range(n)]


def test_pipeline_large_replies_partial_writes(server):
    """16 MiB of replies, far more than the socket buffers hold: partial writes
    must resume exactly where they stopped (and stay under the output limit)."""
    c = server.raw(timeout=60)
    payloads = [bytes([65 + i % 26]) * 8192 for i in range(2000)]
    c.sock.sendall(b"".join(resp_encode("ECHO", p) for p in payloads))
    for p in payloads:
        assert c.read_reply(60) == b"$8192\r\n" + p + b"\r\n"


def test_empty_multibulk_is_ignored(server):
    # Redis ignores "*0" and "*-1" requests: no reply at all
    c = server.raw()
    c.send(b"*0\r\n*-1\r\nPING\r\n")
    assert c.read_reply() == b"+PONG\r\n"


def test_pipeline_mixed_inline_and_multibulk(server):
    c = server.raw()
    c.send(b"PING\r\n" + resp_encode("ECHO", "a") + b"ECHO b\r\n" + resp_encode("PING"))
    assert c.read_replies(4) == [b"+PONG\r\n", b"$1\r\na\r\n", b"$1\r\nb\r\n",
                                 b"+PONG\r\n"]


# --------------------------------------------------------------------------
# protocol errors: reply, then close that connection only
# --------------------------------------------------------------------------

PROTOCOL_ERRORS = [
    (b"*1\r\n+PING\r\n", b"-ERR Protocol error: expected '$', got '+'\r\n"),
    (b"*abc\r\n", b"-ERR Protocol error: invalid multibulk length\r\n"),
    (b"*1\r\n$abc\r\n", b"-ERR Protocol error: invalid bulk length\r\n"),
    (b"*1\r\n$-1\r\n", b"-ERR Protocol error: invalid bulk length\r\n"),
    (b"*2\r\n$4\r\nECHO\r\n$9999999999\r\n", b"-ERR Protocol error: invalid bulk length\r\n"),
    (b'ECHO "abc\r\n', b"-ERR Protocol error: unbalanced quotes in request\r\n"),
]


@pytest.mark.parametrize("data,want", PROTOCOL_ERRORS,
                         ids=["expected-dollar", "bad-count", "bad-bulk-len", "negative-bulk",
                              "bulk-over-limit", "unbalanced-quotes"])
def test_protocol_error(server, data, want):
    bystander = server.raw()
    assert bystander.cmd("PING") == b"+PONG\r\n"
    c = server.raw()
    c.send(resp_encode("PING") + data)
    assert c.read_reply() == b"+PONG\r\n"
    assert c.read_reply() == want
    assert c.is_closed(5), "connection not closed after a protocol error"
    assert bystander.cmd("PING") == b"+PONG\r\n"


def test_protocol_error_bulk_not_terminated(server):
    c = server.raw()
    c.send(b"*1\r\n$4\r\nPINGxx")
    reply = c.read_reply()
    assert reply.startswith(b"-ERR Protocol error: "), reply
    assert c.is_closed(5)


def test_protocol_error_too_big_inline(server):
    c = server.raw(timeout=10)
    try:
        # just over the 64 KiB inline limit, so that the server has read it
        # all when it closes (unread input would turn its FIN into a RST)
        c.send(b"ECHO " + b"x" * (65 * 1024))
    except OSError:
        pass
    out = c.read_until_close(10)
    assert out == b"-ERR Protocol error: too big inline request\r\n"


def test_protocol_error_does_not_disturb_other_clients(server):
    good = [server.client() for _ in range(5)]
    for _ in range(20):
        bad = server.raw()
        bad.send(b"*1\r\n?\r\n")
        bad.is_closed(5)
        bad.close()
    assert all(g.ping() for g in good)


def test_random_garbage_never_hurts_the_server(server):
    """Mutated requests (seeded, so a failure replays) on 1000 connections,
    each closed abruptly: the server keeps serving, and the ASan build
    reports nothing at teardown."""
    import random
    rnd = random.Random(20261123)
    valid = [resp_encode("PING"), resp_encode("ECHO", "x" * 40), b"PING\r\n",
             resp_encode("HELLO", "3"), resp_encode("CLIENT", "SETNAME", "g"),
             resp_encode("CONFIG", "GET", "max*"), b'ECHO "a\\x41" \'b\'\r\n',
             resp_encode("INFO", "server"), resp_encode("SELECT", "3")]
    for i in range(1000):
        data = bytearray(b"".join(rnd.choice(valid) for _ in range(rnd.randint(1, 6))))
        for _ in range(rnd.randint(1, 4)):
            op = rnd.randrange(4)
            pos = rnd.randrange(len(data) + 1)
            if op == 0 and data:
                data[min(pos, len(data) - 1)] = rnd.randrange(256)
            elif op == 1:
                data[pos:pos] = rnd.choice([b"\r\n", b"*", b"$", b"-1", b"99999", b"\x00"])
            elif op == 2:
                del data[pos:pos + rnd.randint(1, 8)]
            else:
                data = data[:pos]
        c = RawConn(server.host, server.port, timeout=5)
        try:
            c.send(bytes(data))
            if i % 3 == 0:
                c.sock.shutdown(socket.SHUT_WR)
                c.is_closed(0.05)
        except OSError:
            pass
        finally:
            c.close()
    check = server.raw()
    assert check.cmd("PING") == b"+PONG\r\n"
    assert check.cmd("ECHO", "still here") == b"$10\r\nstill here\r\n"


# --------------------------------------------------------------------------
# limits
# --------------------------------------------------------------------------

@pytest.mark.tincan_args("--maxclients", "3")
def test_max_clients(server):
    held = [server.raw() for _ in range(3)]
    for h in held:
        assert h.cmd("PING") == b"+PONG\r\n"
    extra = server.raw()
    out = extra.read_until_close(5)
    assert out == b"-ERR max number of clients reached\r\n"
    held[0].close()
    time.sleep(0.2)
    again = server.raw()
    assert again.cmd("PING") == b"+PONG\r\n"
    stats = again.cmd("INFO", "stats")
    assert b"rejected_connections:1\r\n" in stats


@pytest.mark.tincan_args("--proto-max-bulk-len", "1024")
def test_max_bulk_len(server):
    c = server.raw()
    assert c.cmd("ECHO", "x" * 1024) == b"$1024\r\n" + b"x" * 1024 + b"\r\n"
    c.send(b"*2\r\n$4\r\nECHO\r\n$1025\r\n")
    assert c.read_reply() == b"-ERR Protocol error: invalid bulk length\r\n"
    assert c.is_closed(5)


def test_max_bulk_len_default_is_512mb(server):
    r = server.client()
    assert r.config_get("proto-max-bulk-len") == {"proto-max-bulk-len": str(512 * 1024 * 1024)}
    c = server.raw()
    c.send(b"*2\r\n$4\r\nECHO\r\n$%d\r\n" % (512 * 1024 * 1024 + 1))
    assert c.read_reply() == b"-ERR Protocol error: invalid bulk length\r\n"


@pytest.mark.tincan_args("--proto-max-multibulk-len", "10")
def test_max_multibulk_len(server):
    c = server.raw()
    reply = c.cmd(*(["PING"] + ["x"] * 9))
    assert reply == b"-ERR wrong number of arguments for 'ping' command\r\n"
    c.send(b"*11\r\n")
    assert c.read_reply() == b"-ERR Protocol error: invalid multibulk length\r\n"
    assert c.is_closed(5)


@pytest.mark.tincan_args("--client-query-buffer-limit", "1mb")
def test_query_buffer_limit(server):
    bystander = server.raw()
    c = server.raw(timeout=10)
    # a 4 MiB argument, within the bulk limit but over the query buffer limit
    c.send(b"*2\r\n$4\r\nECHO\r\n$%d\r\n" % (4 * 1024 * 1024))
    closed = False
    try:
        for _ in range(64):
            c.send(b"x" * 65536)
            time.sleep(0.001)
    except (BrokenPipeError, ConnectionResetError):
        closed = True
    if not closed:
        closed = c.is_closed(5)
    assert closed, "client over the query buffer limit was not disconnected"
    assert bystander.cmd("PING") == b"+PONG\r\n"
    stats = server.client().info("stats")
    assert int(stats["client_query_buffer_limit_disconnections"]) >= 1


@pytest.mark.tincan_args("--client-output-buffer-limit", "1mb")
def test_output_buffer_limit_slow_reader(server):
    """A client that never reads while the server has lots to send is
    disconnected, and the server's memory stays bounded."""
    probe = server.raw()
    one = len(probe.cmd("COMMAND"))            # bytes of one COMMAND reply
    total = 256 * 1024 * 1024                  # replies we ask for
    n = min(200000, total // one + 1)
    rss_before = rss_kib(server.pid)

    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect((server.host, server.port))
    s.settimeout(30)
    s.sendall(b"COMMAND\r\n" * n)              # and never read
    deadline = time.monotonic() + 30
    disconnected = False
    while time.monotonic() < deadline:
        listing = probe.cmd("CLIENT", "LIST")
        if listing.count(b"id=") == 1:         # only the probe is left
            disconnected = True
            break
        time.sleep(0.2)
    rss_after = rss_kib(server.pid)
    s.close()
    assert disconnected, "slow reader still connected after 30 s"
    grown_mib = (rss_after - rss_before) / 1024
    assert grown_mib < 128, "server RSS grew by %.0f MiB for a 1 MiB limit" % grown_mib
    assert probe.cmd("PING") == b"+PONG\r\n"
    stats = server.client().info("stats")
    assert int(stats["client_output_buffer_limit_disconnections"]) >= 1


def vm_hwm_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


@pytest.mark.tincan_args("--client-output-buffer-limit", "1mb")
def test_output_buffer_limit_checked_per_command(server):
    """The limit holds within one read: 13 KiB of small requests whose
    replies add up to ~30 MiB must not be buffered whole before the client
    is cut off (Redis checks after every reply). CLIENT LIST with 100 idle
    clients is a reply formatted afresh each time (~30 KiB), so buffering
    it is real memory: measured as the growth of the server's RSS, sampled
    every 0.5 ms while it happens."""
    idle = [server.raw() for _ in range(100)]
    for c in idle:
        c.cmd("CLIENT", "SETNAME", "idle-client-with-a-rather-long-name-%04d" % len(idle))
    probe = server.raw()
    one = len(probe.cmd("CLIENT", "LIST"))
    req = b"CLIENT LIST\r\n"
    n = 1000
    assert n * one >= 24 * 1024 * 1024, "CLIENT LIST reply too small for this test"
    rss_before = rss_kib(server.pid)
    peak = [rss_before]
    sampling = [True]

    def sample():  # VmHWM is updated lazily by the kernel: sample VmRSS too
        while sampling[0]:
            peak[0] = max(peak[0], rss_kib(server.pid))
            time.sleep(0.0005)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.connect((server.host, server.port))
        s.sendall(req * n)                     # one read's worth; never read replies
        wait_until(lambda: probe.cmd("CLIENT", "LIST").count(b"id=") == 101, 30,
                   what="slow reader disconnected")
        time.sleep(0.05)
    finally:
        sampling[0] = False
        sampler.join()
    s.close()
    grown_mib = (peak[0] - rss_before) / 1024
    assert grown_mib < 12, ("server peak RSS grew by %.0f MiB (replies asked: %.0f MiB) "
                            "with a 1 MiB output limit" % (grown_mib, n * one / 2**20))


# --------------------------------------------------------------------------
# many clients
# --------------------------------------------------------------------------

def test_500_concurrent_clients_raw(server):
    conns = [RawConn(server.host, server.port, timeout=30) for _ in range(500)]
    try:
        for i, c in enumerate(conns):
            c.send(resp_encode("ECHO", "c%d" % i))
        for i, c in enumerate(conns):
            s = b"c%d" % i
            assert c.read_reply() == b"$%d\r\n%s\r\n" % (len(s), s)
        r = server.client()
        assert int(r.info("clients")["connected_clients"]) >= 501
    finally:
        for c in conns:
            c.close()


def test_500_concurrent_clients_threads(server, proto):
    errors = []
    start = threading.Barrier(50)

    def worker(k):
        try:
            clients = [server.client(protocol=proto) for _ in range(10)]
            start.wait(30)
            for round_ in range(5):
                for j, cl in enumerate(clients):
                    v = "%d-%d-%d" % (k, j, round_)
                    if cl.echo(v) != v:
                        errors.append(v)
            for cl in clients:
                cl.close()
        except Exception as e:  # reported below
            errors.append(repr(e))

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors[:5]
    assert server.client().ping()


# --------------------------------------------------------------------------
# INFO fields tools rely on
# --------------------------------------------------------------------------

def test_info_fields_monitoring_tools_read(r):
    info = r.info("all")
    for key in ("redis_version", "tincan_version", "redis_mode", "process_id", "tcp_port",
                "uptime_in_seconds", "connected_clients", "maxclients", "used_memory",
                "used_memory_rss", "total_connections_received", "total_commands_processed",
                "rejected_connections", "role"):
        assert key in info, key
    before = int(r.info("stats")["total_commands_processed"])
    for _ in range(5):
        r.ping()
    assert int(r.info("stats")["total_commands_processed"]) >= before + 5


# --------------------------------------------------------------------------
# command line, config file, unix socket
# --------------------------------------------------------------------------

def test_help_lists_the_config_table():
    p = subprocess.run([str(tincan_bin()), "--help"], capture_output=True, text=True,
                       timeout=30)
    assert p.returncode == 0
    for name in ("--port", "--bind", "--dir", "--maxclients", "--requirepass",
                 "--proto-max-bulk-len", "--client-output-buffer-limit"):
        assert name in p.stdout + p.stderr, name


def test_version_flag():
    p = subprocess.run([str(tincan_bin()), "--version"], capture_output=True, text=True,
                       timeout=30)
    assert p.returncode == 0 and p.stdout.strip()


def test_unknown_flag_refused(tmp_path):
    p = subprocess.run([str(tincan_bin()), "--port", "0", "--dir", str(tmp_path),
                        "--no-such-setting", "1"], capture_output=True, text=True,
                       timeout=30)
    assert p.returncode != 0
    assert "no-such-setting" in p.stderr + p.stdout


def test_bad_value_refused(tmp_path):
    p = subprocess.run([str(tincan_bin()), "--port", "0", "--dir", str(tmp_path),
                        "--maxclients", "lots"], capture_output=True, text=True, timeout=30)
    assert p.returncode != 0
    assert "maxclients" in p.stderr + p.stdout


def test_config_file(tincan, tmp_path):
    conf = tmp_path / "tincan.conf"
    conf.write_text("# a comment\n\nmaxclients 77\nrequirepass from-file\n"
                    "proto-max-bulk-len 2mb\n")
    s = tincan(config_file=conf)
    c = s.raw()
    assert c.cmd("PING") == b"-NOAUTH Authentication required.\r\n"
    assert c.cmd("AUTH", "from-file") == b"+OK\r\n"
    r = s.client(password="from-file")
    assert r.config_get("maxclients") == {"maxclients": "77"}
    assert r.config_get("proto-max-bulk-len") == {"proto-max-bulk-len": str(2 * 1024 * 1024)}


def test_config_file_flags_override(tincan, tmp_path):
    conf = tmp_path / "tincan.conf"
    conf.write_text("maxclients 77\n")
    s = tincan("--maxclients", "88", config_file=conf)
    assert s.client().config_get("maxclients") == {"maxclients": "88"}


def test_unix_socket(tincan, tmp_path, proto):
    path = tmp_path / "t.sock"
    s = tincan("--unixsocket", str(path))
    r = redis.Redis(unix_socket_path=str(path), decode_responses=True, socket_timeout=10)
    try:
        assert r.ping()
        assert r.echo("over unix") == "over unix"
    finally:
        r.close()
    assert s.client(protocol=proto).ping()


def test_redis_persistence_settings_and_errorstats(server):
    """appendfsync is fsync under Redis's name, appendonly cannot be turned
    off, INFO persistence and errorstats answer as Redis's do."""
    r = server.client()
    assert r.config_get("appendonly") == {"appendonly": "yes"}
    with pytest.raises(redis.ResponseError) as e:
        r.config_set("appendonly", "no")
    assert "appendonly cannot be turned off" in error_text(e)
    assert r.config_get("appendonly") == {"appendonly": "yes"}
    r.config_set("appendfsync", "everysec")
    assert r.config_get("fsync") == {"fsync": "everysec"}
    r.config_set("fsync", "always")
    assert r.config_get("appendfsync") == {"appendfsync": "always"}
    pers = r.info("persistence")
    assert (pers["aof_enabled"], pers["aof_rewrite_in_progress"]) == (1, 0)
    r.config_resetstat()
    for _ in range(2):
        with pytest.raises(redis.ResponseError):
            r.execute_command("XADD", "s", "0-0", "f", "v")
    with pytest.raises(redis.ResponseError):
        r.execute_command("XREADGROUP", "GROUP", "g", "c", "STREAMS", "nokey", ">")
    stats = r.info("errorstats")
    assert stats["errorstat_ERR"] == "count=2"
    assert stats["errorstat_NOGROUP"] == "count=1"
    r.config_resetstat()
    assert "errorstat_ERR" not in r.info("errorstats")


@pytest.mark.tincan_args("--enable-debug-command", "yes")
def test_bgrewriteaof_and_debug_loadaof_keep_the_state(server):
    """BGREWRITEAOF checkpoints every journal; DEBUG LOADAOF reloads every
    module from disk: a stream's entries, group and pending entry survive both."""
    r = server.client()
    r.xadd("s", {"f": "v"}, id="1-1")
    r.xgroup_create("s", "g", id="0")
    r.xreadgroup("g", "c", {"s": ">"})
    r.xdel("s", "1-1")
    r.xadd("s", {"f": "w"}, id="2-1")
    before = r.xinfo_stream("s", full=True)
    assert r.execute_command("BGREWRITEAOF") in ("Background append only file "
                                                  "rewriting started", True)
    assert r.execute_command("DEBUG", "LOADAOF") in ("OK", True)
    assert r.xinfo_stream("s", full=True) == before
    assert [m["message_id"] for m in r.xpending_range("s", "g", "-", "+", 10)] == ["1-1"]


def test_failed_calls_count_the_callers_own_errors(server):
    """An EV.UNSUB that wakes another client's blocked EV.READ with -NOSUB
    succeeded: commandstats counts the error against nobody's EV.UNSUB."""
    r = server.client()
    r.execute_command("EV.SUB", "s1", "t.#")
    r.config_resetstat()
    reader = server.client()
    got = {}

    def read():
        try:
            reader.execute_command("EV.READ", "s1", "c1", "BLOCK", "5000")
        except redis.ResponseError as e:
            got["err"] = str(e)

    th = threading.Thread(target=read)
    th.start()
    wait_until(lambda: r.info("clients")["blocked_clients"] == 1, 5)
    assert r.execute_command("EV.UNSUB", "s1") in (1, b"OK", "OK", True)
    th.join(5)
    assert got["err"].startswith("NOSUB")
    stats = r.info("commandstats")
    assert stats["cmdstat_ev.unsub"]["calls"] == 1
    assert stats["cmdstat_ev.unsub"]["failed_calls"] == 0
