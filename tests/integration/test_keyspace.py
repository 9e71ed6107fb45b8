"""The generic key commands (DEL, UNLINK, EXISTS, TYPE, KEYS, SCAN, DBSIZE,
FLUSHDB, FLUSHALL, FUNCTION) against the real server. Without a key-owning
module (streams) every database is empty, so these check an empty Redis's
replies and Redis 7.0's argument errors."""

import pytest
import redis

from conftest import call


def err_of(r, *args):
    with pytest.raises(redis.ResponseError) as e:
        call(r, *args)
    return str(e.value)


def test_key_commands_on_an_empty_keyspace(server):
    r = server.client()
    assert call(r, "DEL", "a", "b") == 0
    assert call(r, "UNLINK", "a") == 0
    assert call(r, "EXISTS", "a", "a", "b") == 0
    assert call(r, "TYPE", "a") == "none"
    assert call(r, "KEYS", "*") == []
    assert call(r, "KEYS", "h[ae]llo") == []
    assert call(r, "SCAN", "0") == ["0", []]
    assert call(r, "SCAN", "0", "MATCH", "*", "COUNT", "100", "TYPE", "stream") == ["0", []]
    assert call(r, "DBSIZE") == 0
    for cmd in ("FLUSHDB", "FLUSHALL"):
        assert call(r, cmd) == "OK"
        assert call(r, cmd, "ASYNC") == "OK"
        assert call(r, cmd, "sync") == "OK"
    # every database, through redis-py's own helpers too
    for db in (0, 5, 15):
        c = server.client(db=db)
        assert c.dbsize() == 0 and c.keys() == [] and c.exists("x") == 0
        assert list(c.scan_iter(match="x*", count=3)) == []
    # the tincan data is not made of keys: a queue is no key
    call(r, "Q.PUSH", "somequeue", "x")
    assert call(r, "EXISTS", "somequeue") == 0 and call(r, "DBSIZE") == 0
    assert call(r, "FLUSHALL") == "OK"
    assert len(call(r, "Q.POP", "somequeue")) == 1  # FLUSHALL left the queue


def test_resp3_replies(server):
    r = server.client(protocol=3)
    assert call(r, "SCAN", "0") == ["0", []]
    assert call(r, "TYPE", "x") == "none"
    assert call(r, "DBSIZE") == 0
    assert call(r, "FUNCTION", "LIST") == []


def test_scan_argument_errors(server):
    r = server.client()
    assert err_of(r, "SCAN", "abc") == "invalid cursor"
    assert err_of(r, "SCAN", " 1") == "invalid cursor"
    assert err_of(r, "SCAN", "1x") == "invalid cursor"
    assert err_of(r, "SCAN", "99999999999999999999999") == "invalid cursor"
    assert err_of(r, "SCAN", "0", "COUNT", "abc") == "value is not an integer or out of range"
    assert err_of(r, "SCAN", "0", "COUNT", "0") == "syntax error"
    assert err_of(r, "SCAN", "0", "COUNT", "-1") == "syntax error"
    assert err_of(r, "SCAN", "0", "COUNT") == "syntax error"
    assert err_of(r, "SCAN", "0", "MATCH") == "syntax error"
    assert err_of(r, "SCAN", "0", "FOO", "bar") == "syntax error"
    assert err_of(r, "SCAN", "0", "COUNT", "abc", "MATCH") == \
        "value is not an integer or out of range"   # options in order, as Redis
    assert err_of(r, "SCAN") == "wrong number of arguments for 'scan' command"
    # Redis's strtoul cursor: these pass
    assert call(r, "SCAN", "18446744073709551615") == ["0", []]
    assert call(r, "SCAN", "12345", "TYPE", "nosuchtype") == ["0", []]


def test_arity_and_option_errors(server):
    r = server.client()
    for cmd in ("DEL", "UNLINK", "EXISTS", "TYPE", "KEYS"):
        assert err_of(r, cmd) == "wrong number of arguments for '%s' command" % cmd.lower()
    assert err_of(r, "KEYS", "a", "b") == "wrong number of arguments for 'keys' command"
    assert err_of(r, "TYPE", "a", "b") == "wrong number of arguments for 'type' command"
    assert err_of(r, "DBSIZE", "x") == "wrong number of arguments for 'dbsize' command"
    assert err_of(r, "FLUSHDB", "NOW") == "syntax error"
    assert err_of(r, "FLUSHALL", "ASYNC", "SYNC") == "syntax error"


def test_function(server):
    r = server.client()
    assert call(r, "FUNCTION", "FLUSH") == "OK"
    assert call(r, "FUNCTION", "FLUSH", "ASYNC") == "OK"
    assert call(r, "FUNCTION", "LIST") == []
    assert call(r, "FUNCTION", "LIST", "WITHCODE", "LIBRARYNAME", "x*") == []
    assert err_of(r, "FUNCTION", "FLUSH", "NOW") == \
        "FUNCTION FLUSH only supports SYNC|ASYNC option"
    assert err_of(r, "FUNCTION", "LIST", "LIBRARYNAME") == \
        "library name argument was not given"
    assert err_of(r, "FUNCTION", "LIST", "BOGUS") == "Unknown argument BOGUS"
    assert "not supported" in err_of(r, "FUNCTION", "LOAD", "#!lua name=x\n")
    assert err_of(r, "FUNCTION", "FOO") == "unknown subcommand 'FOO'. Try FUNCTION HELP."
    assert err_of(r, "FUNCTION") == "wrong number of arguments for 'function' command"
    assert len(call(r, "FUNCTION", "HELP")) >= 3


def test_commands_are_in_the_command_table(server):
    r = server.client()
    names = set(call(r, "COMMAND", "LIST"))
    for n in ("del", "unlink", "exists", "type", "keys", "scan", "dbsize", "flushdb",
              "flushall", "function", "multi", "exec", "discard", "watch", "unwatch",
              "reset"):
        assert n in names
