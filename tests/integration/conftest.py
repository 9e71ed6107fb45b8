"""Shared fixtures for tincan's integration tests (pytest + redis-py).

Every test talks to the real binary through the protocol. The fixtures here:

  server            a started tincan-server (default args, or the args of a
                    @pytest.mark.tincan_args("--flag", "value", ...) marker)
  tincan            a factory: tincan("--requirepass", "pw") -> started server;
                    tincan(..., start=False) to start it yourself later;
                    tincan(..., config_file=path) puts a config file first
  raw               RawConn class: raw(server) opens a plain socket for exact bytes

Helpers: call(client, *args) runs a command without redis-py's reply
callbacks; resp_encode(*args) builds a multibulk; raw_request(host, port, data);
wait_until(pred, timeout) polls with a bounded wait.

A TincanServer (see the class below) gives:
  .host .port .pid .dir .proc
  .client(protocol=2|3, decode_responses=True, **redis_kwargs) -> redis.Redis
  .raw() -> RawConn           send bytes, read exactly one raw RESP reply
  .restart(sig=SIGTERM|SIGKILL, args=None)  stop, then start again on the same dir
  .stop(sig=SIGTERM) / .kill()              (kill = SIGKILL, no clean exit checked)
  .stderr_text() / .stdout_text()           all output of every run so far
  .sanitizer_report()                       first sanitizer report text or None

How a server is run: $TINCAN_BIN (else $BUILD/tincan-server, else
build/tincan-server) with
`--port 0 --dir <tmp> --bind 127.0.0.1` plus extra args. stdout and stderr go
to files next to the data dir (never pipes: a chatty server cannot block on a
full pipe). The start waits (bounded, $TINCAN_START_TIMEOUT s, default 15) for
the readiness line `tincan ready port=NNNN pid=NNNN`, then checks that the pid
is the process we spawned and that the listening socket on that port belongs to
it. At teardown each server gets SIGTERM; the test fails (as a teardown error)
if it does not exit in time, exits non-zero after our SIGTERM, or if any run's
stderr holds a sanitizer report (AddressSanitizer, UBSan "runtime error:",
LeakSanitizer).

redis-py on Debian 12 is 4.3.x, which only speaks RESP2. protocol=3 clients use
Resp3Connection/Resp3Parser below: they send `HELLO 3` (with AUTH/SETNAME when
password/client_name are given) on connect and decode every RESP3 type: maps
become Resp3Map (a dict), sets Resp3Set (a list), `_` None, `#t/#f` True/False,
`,` float, `(` int, verbatim strings their text without the `txt:` prefix,
pushes Resp3Push (a list). redis-py's own reply callbacks are kept, except that
a RESP3 map reply passes through them unchanged (it already is a dict).

Extend this file only by adding; other test files depend on what is here.
"""

import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
import redis
from redis.client import CaseInsensitiveDict
from redis.connection import Connection, PythonParser
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import InvalidResponse

REPO = Path(__file__).resolve().parents[2]
DEFAULT_BIN = REPO / "build" / "tincan-server"
READY_RE = re.compile(rb"tincan ready port=(\d+) pid=(\d+)")
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "runtime error:", "LeakSanitizer",
                     "ERROR: UndefinedBehaviorSanitizer")
START_TIMEOUT = float(os.environ.get("TINCAN_START_TIMEOUT", "15"))  # s
STOP_TIMEOUT = float(os.environ.get("TINCAN_STOP_TIMEOUT", "15"))    # s


def tincan_bin():
    """The server binary under test, as an absolute path: $TINCAN_BIN, else
    $BUILD/tincan-server when BUILD is set (relative to the repo), else
    build/tincan-server."""
    if os.environ.get("TINCAN_BIN"):
        return Path(os.environ["TINCAN_BIN"]).resolve()
    if os.environ.get("BUILD"):
        return (REPO / os.environ["BUILD"] / "tincan-server").resolve()
    return DEFAULT_BIN


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "tincan_args(*args): extra command-line args for the `server` fixture")


# --------------------------------------------------------------------------
# RESP encoding / raw socket access
# --------------------------------------------------------------------------

def resp_encode(*args):
    """Encodes one command as a RESP multibulk (args: str, bytes or int)."""
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        if isinstance(a, str):
            a = a.encode()
        elif isinstance(a, int):
            a = str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


class RawConn:
    """A plain TCP connection for exact bytes: send() what you like, then
    read_reply() returns the raw bytes of exactly one RESP2/RESP3 reply
    (including nested elements), read_until_close() everything up to EOF."""

    def __init__(self, host, port, timeout=5.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.timeout = timeout
        self.buf = b""

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def cmd(self, *args):
        """Sends one command as multibulk and returns its raw reply."""
        self.send(resp_encode(*args))
        return self.read_reply()

    def _fill(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("no complete reply in time; have %r" % self.buf[:200])
        self.sock.settimeout(left)
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            raise TimeoutError("no complete reply in time; have %r" % self.buf[:200])
        if not chunk:
            raise EOFError("connection closed; unparsed bytes %r" % self.buf[:200])
        self.buf += chunk

    def _line_end(self, start, deadline):
        while True:
            i = self.buf.find(b"\r\n", start)
            if i >= 0:
                return i
            self._fill(deadline)

    def _value_end(self, start, deadline):
        """Offset just past the RESP value starting at self.buf[start]."""
        while len(self.buf) <= start:
            self._fill(deadline)
        t = self.buf[start:start + 1]
        eol = self._line_end(start, deadline)
        head = self.buf[start + 1:eol]
        pos = eol + 2
        if t in b"+-:_#,(":
            return pos
        if t in b"$=!":
            n = int(head)
            if n < 0:
                return pos
            while len(self.buf) < pos + n + 2:
                self._fill(deadline)
            return pos + n + 2
        if t in b"*~>%|":
            n = int(head)
            if t in b"%|":
                n *= 2
            for _ in range(max(n, 0)):
                pos = self._value_end(pos, deadline)
            if t == b"|":  # an attribute is followed by the real value
                pos = self._value_end(pos, deadline)
            return pos
        raise ValueError("bad RESP type byte %r in %r" % (t, self.buf[start:start + 80]))

    def read_reply(self, timeout=None):
        """Raw bytes of the next complete reply (raises EOFError if the
        server closed first, TimeoutError if nothing complete in time)."""
        deadline = time.monotonic() + (timeout or self.timeout)
        end = self._value_end(0, deadline)
        out, self.buf = self.buf[:end], self.buf[end:]
        return out

    def read_replies(self, n, timeout=None):
        return [self.read_reply(timeout) for _ in range(n)]

    def read_until_close(self, timeout=None):
        """Everything the server sends until it closes the connection; raises
        TimeoutError if it is still open after timeout."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            try:
                self._fill(deadline)
            except EOFError:
                out, self.buf = self.buf, b""
                return out
            except ConnectionResetError:
                out, self.buf = self.buf, b""
                return out

    def is_closed(self, timeout=2.0):
        """True if the server closes the connection within timeout (any bytes
        it sends first are kept in self.buf)."""
        try:
            self.read_until_close(timeout)
            return True
        except TimeoutError:
            return False


def raw_request(host, port, data, replies=1, timeout=5.0):
    """Sends data on a fresh connection, returns the raw bytes of `replies`
    replies concatenated."""
    with RawConn(host, port, timeout) as c:
        c.send(data)
        return b"".join(c.read_replies(replies))


# --------------------------------------------------------------------------
# RESP3 for redis-py 4.x
# --------------------------------------------------------------------------

class Resp3Map(dict):
    """A RESP3 map reply (`%`)."""


class Resp3Set(list):
    """A RESP3 set reply (`~`), kept as a list so order and duplicates show."""


class Resp3Push(list):
    """A RESP3 push (`>`) message."""


class Resp3Parser(PythonParser):
    """PythonParser that understands every RESP3 type as well as RESP2."""

    def read_response(self, disable_decoding=False):
        raw = self._buffer.readline()
        if not raw:
            raise RedisConnectionError("Connection closed by server.")
        byte, rest = raw[:1], raw[1:]

        def dec(b):
            if isinstance(b, bytes) and not disable_decoding:
                return self.encoder.decode(b)
            return b

        if byte == b"-" or byte == b"!":
            if byte == b"!":
                rest = self._buffer.read(int(rest))
            err = self.parse_error(rest.decode("utf-8", errors="replace"))
            if isinstance(err, RedisConnectionError):
                raise err
            return err
        if byte == b"+":
            return dec(rest)
        if byte == b":" or byte == b"(":
            return int(rest)
        if byte == b",":
            return float(rest)
        if byte == b"#":
            if rest not in (b"t", b"f"):
                raise InvalidResponse("bad RESP3 boolean %r" % raw)
            return rest == b"t"
        if byte == b"_":
            if rest:
                raise InvalidResponse("bad RESP3 null %r" % raw)
            return None
        if byte == b"$" or byte == b"=":
            n = int(rest)
            if n == -1:
                return None
            data = self._buffer.read(n)
            if byte == b"=":
                if data[3:4] != b":":
                    raise InvalidResponse("bad RESP3 verbatim string %r" % data[:20])
                data = data[4:]
            return dec(data)
        if byte in (b"*", b"~", b">"):
            n = int(rest)
            if n == -1:
                return None
            items = [self.read_response(disable_decoding) for _ in range(n)]
            if byte == b"~":
                return Resp3Set(items)
            if byte == b">":
                return Resp3Push(items)
            return items
        if byte == b"%" or byte == b"|":
            n = int(rest)
            m = Resp3Map()
            for _ in range(n):
                k = self.read_response(disable_decoding)
                v = self.read_response(disable_decoding)
                if isinstance(k, list):
                    k = tuple(k)
                m[k] = v
            if byte == b"|":  # attributes annotate the next reply; drop them
                return self.read_response(disable_decoding)
            return m
        raise InvalidResponse("Protocol Error: %r" % raw)


class Resp3Connection(Connection):
    """A redis-py Connection that starts with HELLO <protocol>."""

    def __init__(self, *args, protocol=3, **kwargs):
        kwargs.setdefault("parser_class", Resp3Parser)
        super().__init__(*args, **kwargs)
        self.protocol = protocol

    def on_connect(self):
        self._parser.on_connect(self)
        hello = ["HELLO", self.protocol]
        if self.username or self.password:
            hello += ["AUTH", self.username or "default", self.password or ""]
        if self.client_name:
            hello += ["SETNAME", self.client_name]
        self.send_command(*hello, check_health=False)
        reply = self.read_response()
        if isinstance(reply, Exception):
            raise reply
        if not isinstance(reply, dict):
            raise RedisConnectionError("HELLO %s did not return a map: %r"
                                       % (self.protocol, reply))
        self.hello_reply = reply
        if self.db:
            self.send_command("SELECT", self.db)
            if str(self.read_response()) not in ("OK", "b'OK'"):
                raise RedisConnectionError("Invalid Database")


def _map_passthrough(cb):
    def wrapped(response, **options):
        if isinstance(response, Resp3Map):
            return response
        return cb(response, **options)
    return wrapped


def make_client(host, port, protocol=2, decode_responses=True, **kwargs):
    """A redis.Redis for host:port. protocol=2 uses redis-py as shipped
    (hiredis parser when present); protocol=3 sends HELLO 3 on connect."""
    kwargs.setdefault("socket_timeout", 10)
    kwargs.setdefault("socket_connect_timeout", 5)
    if protocol == 2:
        return redis.Redis(host=host, port=port, decode_responses=decode_responses,
                           **kwargs)
    pool = redis.ConnectionPool(connection_class=Resp3Connection, host=host, port=port,
                                decode_responses=decode_responses, protocol=protocol,
                                **kwargs)
    r = redis.Redis(connection_pool=pool)
    r.response_callbacks = CaseInsensitiveDict(
        {k: _map_passthrough(v) for k, v in r.response_callbacks.items()})
    return r


def call(client, *args):
    """Runs one command on a redis.Redis and returns the reply as decoded by
    the connection's parser, without redis-py's per-command callbacks (which
    turn PING into True, COMMAND into a dict, ...). Raises ResponseError for
    an error reply."""
    pool = client.connection_pool
    conn = pool.get_connection(args[0])
    try:
        conn.send_command(*args)
        return conn.read_response()
    except (RedisConnectionError, OSError):
        conn.disconnect()
        raise
    finally:
        pool.release(conn)


def wait_until(pred, timeout=5.0, interval=0.02, what="condition"):
    """Polls pred() until it returns a true value (returned) or fails the
    test after timeout seconds. For lease expiry, redelivery, disconnects."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() >= deadline:
            pytest.fail("%s not reached within %.1f s" % (what, timeout))
        time.sleep(interval)


# --------------------------------------------------------------------------
# the server process
# --------------------------------------------------------------------------

def _listen_inodes(port):
    """Socket inodes listening on TCP `port` (from /proc/net/tcp{,6})."""
    inodes = set()
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(name) as f:
                next(f)
                for line in f:
                    parts = line.split()
                    local, state, inode = parts[1], parts[3], parts[9]
                    if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:
                        inodes.add(inode)
        except OSError:
            pass
    return inodes


def _pid_sockets(pid):
    out = set()
    fd_dir = "/proc/%d/fd" % pid
    try:
        for fd in os.listdir(fd_dir):
            try:
                target = os.readlink(os.path.join(fd_dir, fd))
            except OSError:
                continue
            if target.startswith("socket:["):
                out.add(target[8:-1])
    except OSError:
        pass
    return out


class TincanServer:
    """One tincan-server process (restartable) with its data dir."""

    def __init__(self, workdir, args=(), env=None, binary=None, config_file=None):
        self.workdir = Path(workdir)        # logs live here
        self.dir = self.workdir / "data"    # --dir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.args = list(args)
        self.env = dict(os.environ)
        self.env.update(env or {})
        self.binary = Path(binary) if binary else tincan_bin()
        self.config_file = config_file  # path given first on the command line
        self.host = "127.0.0.1"
        self.port = None
        self.pid = None
        self.proc = None
        self.runs = 0               # processes started so far
        self.problems = []          # teardown failures, reported by the fixture
        self._clients = []

    # ---- life cycle ----
    def command_line(self):
        head = [str(self.binary)]
        if self.config_file:
            head.append(str(self.config_file))
        return head + ["--port", "0", "--dir", str(self.dir),
                       "--bind", "127.0.0.1"] + [str(a) for a in self.args]

    def start(self, timeout=START_TIMEOUT):
        if not self.binary.exists():
            pytest.fail("server binary %s does not exist (build it, or set TINCAN_BIN)"
                        % self.binary)
        self.runs += 1
        out = open(self.workdir / ("stdout.%d.log" % self.runs), "wb")
        err = open(self.workdir / ("stderr.%d.log" % self.runs), "wb")
        try:
            self.proc = subprocess.Popen(self.command_line(), stdin=subprocess.DEVNULL,
                                         stdout=out, stderr=err, env=self.env,
                                         cwd=str(self.workdir))
        finally:
            out.close()
            err.close()
        deadline = time.monotonic() + timeout
        m = None
        while time.monotonic() < deadline:
            m = READY_RE.search(self._read(self.workdir / ("stdout.%d.log" % self.runs)))
            if m:
                break
            if self.proc.poll() is not None:
                pytest.fail("tincan-server exited with %s before it was ready: %s\n"
                            "stderr:\n%s" % (self.proc.returncode, self.command_line(),
                                             self._last_stderr()))
            time.sleep(0.01)
        if not m:
            self.proc.kill()
            self.proc.wait()
            pytest.fail("no readiness line `tincan ready port=N pid=N` within %.0f s "
                        "(is stdout flushed?)\nstdout:\n%s\nstderr:\n%s" % (
                            timeout, self.stdout_text(), self._last_stderr()))
        self.port, self.pid = int(m.group(1)), int(m.group(2))
        if self.pid != self.proc.pid:
            self.proc.kill()
            pytest.fail("readiness line says pid=%d but the process started is %d"
                        % (self.pid, self.proc.pid))
        listeners = _listen_inodes(self.port)
        if listeners and not (listeners & _pid_sockets(self.pid)):
            self.proc.kill()
            pytest.fail("port %d is not listened on by the server process %d"
                        % (self.port, self.pid))
        return self

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def wait_exit(self, timeout=STOP_TIMEOUT):
        """Waits for the process to end; returns its exit status or None."""
        if self.proc is None:
            return None
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, sig=signal.SIGTERM, timeout=STOP_TIMEOUT):
        """Sends sig and waits. Returns the exit status. For SIGTERM, a server
        that does not exit in time is killed and that is recorded as a problem."""
        self._close_clients()
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                self.problems.append("server pid %d did not exit within %.0f s of %s"
                                     % (self.proc.pid, timeout, sig.name))
        return self.proc.returncode

    def kill(self):
        """SIGKILL, as in a crash; returns when the process is gone."""
        return self.stop(signal.SIGKILL)

    def restart(self, sig=signal.SIGTERM, args=None, timeout=START_TIMEOUT):
        """Stops the server with sig (SIGTERM or SIGKILL) and starts it again on
        the same data dir (optionally with new extra args). The new port may
        differ: read .port again (clients from .client() must be re-created)."""
        rc = self.stop(sig)
        if sig == signal.SIGTERM and rc not in (0, None):
            self.problems.append("server exited with status %s after SIGTERM" % rc)
        if args is not None:
            self.args = list(args)
        return self.start(timeout)

    # ---- clients ----
    def client(self, protocol=2, decode_responses=True, **kwargs):
        r = make_client(self.host, self.port, protocol, decode_responses, **kwargs)
        self._clients.append(r)
        return r

    def raw(self, timeout=5.0):
        c = RawConn(self.host, self.port, timeout)
        self._clients.append(c)
        return c

    def _close_clients(self):
        for c in self._clients:
            try:
                c.close()
            except Exception:
                pass
        self._clients = []

    # ---- output ----
    @staticmethod
    def _read(path):
        try:
            with open(path, "rb") as f:
                return f.read()
        except OSError:
            return b""

    def stdout_text(self):
        return "".join(self._read(self.workdir / ("stdout.%d.log" % i))
                       .decode("utf-8", "replace") for i in range(1, self.runs + 1))

    def stderr_text(self):
        return "".join(self._read(self.workdir / ("stderr.%d.log" % i))
                       .decode("utf-8", "replace") for i in range(1, self.runs + 1))

    def _last_stderr(self, limit=4000):
        return self._read(self.workdir / ("stderr.%d.log" % self.runs)) \
            .decode("utf-8", "replace")[-limit:]

    def sanitizer_report(self):
        text = self.stderr_text()
        for marker in SANITIZER_MARKERS:
            i = text.find(marker)
            if i >= 0:
                start = text.rfind("\n", 0, max(0, i - 200)) + 1
                return text[start:start + 6000]
        return None

    def teardown(self):
        """Stops with SIGTERM and returns a list of problems (empty if fine)."""
        was_running = self.alive()
        rc = self.stop(signal.SIGTERM)
        if was_running and rc not in (0, None) and rc != -signal.SIGTERM:
            self.problems.append("server exited with status %s after SIGTERM" % rc)
        report = self.sanitizer_report()
        if report:
            self.problems.append("sanitizer report in server stderr:\n" + report)
        return self.problems


def _sanitizer_env():
    """Defaults that make a sanitizer report fatal and visible, unless the
    caller (scripts/check.sh) set its own."""
    env = {}
    if "ASAN_OPTIONS" not in os.environ:
        env["ASAN_OPTIONS"] = "abort_on_error=0:halt_on_error=1:detect_leaks=1"
    if "UBSAN_OPTIONS" not in os.environ:
        env["UBSAN_OPTIONS"] = "print_stacktrace=1:halt_on_error=1"
    return env


@pytest.fixture
def tincan(tmp_path):
    """Factory: tincan(*extra_args, env=None, start=True) -> TincanServer.
    Every server made is stopped with SIGTERM and checked at teardown."""
    made = []

    def factory(*args, env=None, start=True, binary=None, config_file=None):
        workdir = tmp_path / ("tincan%d" % len(made))
        workdir.mkdir()
        e = _sanitizer_env()
        e.update(env or {})
        s = TincanServer(workdir, args, env=e, binary=binary, config_file=config_file)
        made.append(s)
        if start:
            s.start()
        return s

    yield factory
    problems = []
    for s in made:
        problems += s.teardown()
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


@pytest.fixture(autouse=True)
def _dev_null_intact():
    """Fails the test after which /dev/null is no longer the null device (a
    rename or unlink of the wrong path replaces it by a regular file, and
    every later test and tool breaks in confusing ways)."""
    yield
    import stat
    try:
        ok = stat.S_ISCHR(os.stat("/dev/null").st_mode)
    except OSError:
        ok = False
    if not ok:
        pytest.fail("/dev/null is no longer a character device after this test",
                    pytrace=False)


@pytest.fixture
def server(tincan, request):
    """A started server; args from @pytest.mark.tincan_args(...) if present."""
    marker = request.node.get_closest_marker("tincan_args")
    args = marker.args if marker else ()
    return tincan(*args)


@pytest.fixture
def raw():
    """The RawConn class (raw(host, port) or server.raw())."""
    return RawConn


# --------------------------------------------------------------------------
# DuckDB, to read back the Parquet files tincan writes
# --------------------------------------------------------------------------

NODE_TOOLS = REPO / "tests" / "tools" / "node"
DUCKDB_TIMEOUT = float(os.environ.get("TINCAN_DUCKDB_TIMEOUT", "120"))  # s


def duckdb_query(sql, timeout=DUCKDB_TIMEOUT):
    """Runs one SQL statement in a fresh in-memory DuckDB (node running
    tests/tools/node/duckdb_query.js) and returns the result rows as a list of
    dicts, column name -> value. Values as that script documents them: BLOB a
    hex string, BIGINT an int (a str past 2^53), TIMESTAMP* epoch
    milliseconds, MAP a list of {"key": k, "value": v}. Fails the test when
    DuckDB is not installed (sh scripts/node-tools.sh), when the statement
    fails (with DuckDB's message), or when it takes longer than timeout s."""
    if not (NODE_TOOLS / "node_modules" / "@duckdb" / "node-api").is_dir():
        pytest.fail("DuckDB is not installed in %s/node_modules: run sh scripts/node-tools.sh"
                    % NODE_TOOLS)
    import json
    try:
        p = subprocess.run(["node", str(NODE_TOOLS / "duckdb_query.js"), sql],
                           cwd=str(NODE_TOOLS), stdin=subprocess.DEVNULL,
                           capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        pytest.fail("DuckDB query did not finish within %.0f s: %s" % (timeout, sql[:500]))
    if p.returncode != 0:
        pytest.fail("DuckDB query failed (exit %d): %s\n%s" % (
            p.returncode, sql[:500], p.stderr.decode("utf-8", "replace")[-4000:]))
    return json.loads(p.stdout)


# --------------------------------------------------------------------------
# s3rver: an S3-compatible server for the archive tests
# --------------------------------------------------------------------------

S3RVER_RUN = NODE_TOOLS / "s3rver_run.js"
S3_READY_RE = re.compile(rb"s3rver ready port=(\d+) pid=(\d+)")
S3_BUCKET = "tincan-archive"
S3_ACCESS_KEY = "S3RVER"   # s3rver's built-in account
S3_SECRET_KEY = "S3RVER"


class S3Server:
    """One s3rver process (npm s3rver 3.7.1 through tests/tools/node/
    s3rver_run.js) on 127.0.0.1 with its own data dir. Unlike bare s3rver it
    verifies SigV4 signatures, so a wrong secret gets 403 SignatureDoesNotMatch.

      .endpoint            "http://127.0.0.1:PORT"
      .bucket              the bucket created at start (None if none)
      .access_key .secret_key
      .env()               os.environ plus AWS_* credentials for tools
      .stop() / .start()   stop (SIGTERM, the node process exits at once, as a
                           crash) and start again on the same port and dir
      .boto3_client()      a boto3 S3 client (path-style, SigV4)

    delay_parts_ms holds every UploadPart request that long, so a test can stop
    the server in the middle of a multipart upload."""

    def __init__(self, workdir, bucket=S3_BUCKET, delay_parts_ms=0):
        self.workdir = Path(workdir)
        self.dir = self.workdir / "data"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.bucket = bucket
        self.delay_parts_ms = delay_parts_ms
        self.access_key = S3_ACCESS_KEY
        self.secret_key = S3_SECRET_KEY
        self.host = "127.0.0.1"
        self.port = 0          # 0 until the first start picked one
        self.proc = None
        self.runs = 0

    @property
    def endpoint(self):
        return "http://%s:%d" % (self.host, self.port)

    def env(self, **extra):
        e = dict(os.environ)
        e.pop("AWS_SESSION_TOKEN", None)
        e.update(AWS_ACCESS_KEY_ID=self.access_key,
                 AWS_SECRET_ACCESS_KEY=self.secret_key)
        e.update(extra)
        return e

    def _log(self, name):
        return self.workdir / ("%s.%d.log" % (name, self.runs))

    def start(self, timeout=START_TIMEOUT):
        if not (NODE_TOOLS / "node_modules" / "s3rver").is_dir():
            pytest.fail("s3rver is not installed in %s (run sh scripts/node-tools.sh)"
                        % NODE_TOOLS)
        self.runs += 1
        cmd = ["node", str(S3RVER_RUN), "--dir", str(self.dir), "--address", self.host,
               "--port", str(self.port), "--delay-parts-ms", str(self.delay_parts_ms)]
        if self.bucket:
            cmd += ["--bucket", self.bucket]
        with open(self._log("stdout"), "wb") as out, open(self._log("stderr"), "wb") as err:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=err, cwd=str(NODE_TOOLS))
        deadline = time.monotonic() + timeout
        while True:
            m = S3_READY_RE.search(self._log("stdout").read_bytes())
            if m:
                break
            if self.proc.poll() is not None or time.monotonic() >= deadline:
                if self.proc.poll() is None:
                    self.proc.kill()
                self.proc.wait()
                pytest.fail("s3rver did not become ready within %.0f s (exit %s): %s\n"
                            "stderr:\n%s" % (timeout, self.proc.returncode, cmd,
                                             self._log("stderr").read_text(errors="replace")))
            time.sleep(0.02)
        self.port = int(m.group(1))
        if int(m.group(2)) != self.proc.pid:
            self.stop()
            pytest.fail("s3rver readiness line names pid %s, started %d"
                        % (m.group(2).decode(), self.proc.pid))
        # It answers (and not just listens): any HTTP reply will do.
        deadline = time.monotonic() + timeout
        while True:
            try:
                with socket.create_connection((self.host, self.port), timeout=2) as c:
                    c.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                    if c.recv(16).startswith(b"HTTP/1.1"):
                        break
            except OSError:
                pass
            if time.monotonic() >= deadline:
                self.stop()
                pytest.fail("s3rver on port %d does not answer HTTP" % self.port)
            time.sleep(0.02)
        return self

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout=STOP_TIMEOUT):
        """SIGTERM (s3rver_run exits at once), SIGKILL if it lingers; returns
        when the process is gone and the port is closed."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def boto3_client(self):
        import boto3
        from botocore.config import Config
        return boto3.client(
            "s3", endpoint_url=self.endpoint, region_name="us-east-1",
            aws_access_key_id=self.access_key, aws_secret_access_key=self.secret_key,
            config=Config(signature_version="s3v4", s3={"addressing_style": "path"},
                          retries={"max_attempts": 1}, connect_timeout=5,
                          read_timeout=30))

    def stderr_text(self):
        return "".join(self._log_text("stderr", i) for i in range(1, self.runs + 1))

    def _log_text(self, name, run):
        p = self.workdir / ("%s.%d.log" % (name, run))
        return p.read_text(errors="replace") if p.exists() else ""


@pytest.fixture
def s3server_factory(tmp_path):
    """Factory: s3server_factory(bucket="tincan-archive" | None,
    delay_parts_ms=0, start=True) -> S3Server; all are stopped at teardown."""
    made = []

    def factory(bucket=S3_BUCKET, delay_parts_ms=0, start=True):
        workdir = tmp_path / ("s3rver%d" % len(made))
        workdir.mkdir()
        s = S3Server(workdir, bucket=bucket, delay_parts_ms=delay_parts_ms)
        made.append(s)
        if start:
            s.start()
        return s

    yield factory
    for s in made:
        s.stop()


@pytest.fixture
def s3server(s3server_factory):
    """A started s3rver with the bucket "tincan-archive"."""
    return s3server_factory()
