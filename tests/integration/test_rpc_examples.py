"""The RPC client examples of docs/rpc.md (examples/rpc/: caller.py, server.py
with redis-py, caller.js, server.js with ioredis) run against the real server:
the Python server answers the Node caller, the Node server answers the Python
caller, and with both servers up the calls of one caller reach both.

The examples run as they are documented (`/usr/bin/python3 examples/rpc/x.py
host port ...`, `node examples/rpc/x.js host port ...`); node finds ioredis in
tests/tools/node/node_modules through NODE_PATH (sh scripts/node-tools.sh
installs it). Every process has a timeout; servers are stopped with SIGTERM and
must exit 0 within a few seconds.
"""

import os
import signal
import subprocess
import sys

import pytest
import redis

from conftest import NODE_TOOLS, REPO, wait_until

EXAMPLES = REPO / "examples" / "rpc"
RUN_TIMEOUT = 30.0  # s, for one caller run
STOP_TIMEOUT = 5.0  # s, for a server to exit after SIGTERM


def node_env():
    if not (NODE_TOOLS / "node_modules" / "ioredis").is_dir():
        pytest.fail("ioredis is not installed in %s/node_modules: run sh scripts/node-tools.sh"
                    % NODE_TOOLS)
    env = dict(os.environ)
    env["NODE_PATH"] = str(NODE_TOOLS / "node_modules")
    return env


def command(name, server, *args):
    prog = [sys.executable] if name.endswith(".py") else ["node"]
    return prog + [str(EXAMPLES / name), server.host, str(server.port)] + list(args)


def servers_of_greet(r):
    try:
        info = r.execute_command("RPC.INFO", "greet")
    except redis.ResponseError:
        return 0
    return dict(zip(info[::2], info[1::2]))["servers"]


class ExampleServer:
    """server.py or server.js as a process, output in files of tmp_path."""

    def __init__(self, name, server, tmp_path, env):
        self.name = name
        self.out = tmp_path / (name + ".out")
        self.err = tmp_path / (name + ".err")
        with open(self.out, "wb") as o, open(self.err, "wb") as e:
            self.proc = subprocess.Popen(command(name, server), stdin=subprocess.DEVNULL,
                                         stdout=o, stderr=e, env=env, cwd=str(REPO))

    def stop(self):
        """SIGTERM; returns the exit status (fails the test if it hangs)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            pytest.fail("%s did not exit within %.0f s of SIGTERM" % (self.name, STOP_TIMEOUT))

    def output(self):
        return self.out.read_text(errors="replace"), self.err.read_text(errors="replace")


@pytest.fixture
def example_servers(tmp_path):
    made = []

    def start(name, server, env=None):
        s = ExampleServer(name, server, tmp_path, env or dict(os.environ))
        made.append(s)
        return s

    yield start
    for s in made:
        if s.proc.poll() is None:
            s.proc.kill()
            s.proc.wait()


def run_caller(name, server, *names, env=None, lang=None):
    env = dict(env or os.environ)
    if lang:
        env["GREET_LANG"] = lang
    p = subprocess.run(command(name, server, *names), stdin=subprocess.DEVNULL,
                       capture_output=True, env=env, cwd=str(REPO), timeout=RUN_TIMEOUT)
    assert p.returncode == 0, p.stderr.decode(errors="replace")
    return p.stdout.decode().splitlines()


def test_python_server_answers_node_caller(server, example_servers):
    env = node_env()
    r = server.client()
    py = example_servers("server.py", server)
    wait_until(lambda: servers_of_greet(r) == 1, timeout=10, what="server.py serving")
    assert run_caller("caller.js", server, "ada", "", "grace", env=env, lang="fr") == [
        "'ada' -> bonjour, ada (from python)",
        "'' -> error BAD_NAME name must not be empty",
        "'grace' -> bonjour, grace (from python)",
    ]
    # the default names and language
    assert run_caller("caller.js", server, env=env) == [
        "'ada' -> hello, ada (from python)",
        "'grace' -> hello, grace (from python)",
        "'' -> error BAD_NAME name must not be empty",
    ]
    assert py.stop() == 0
    out, err = py.output()
    assert out.startswith("serving greet on 127.0.0.1:%d" % server.port) and err == ""
    # with the server gone the caller is told at once
    wait_until(lambda: servers_of_greet(r) == 0, timeout=5, what="server.py gone")
    assert run_caller("caller.js", server, "x", env=env) == [
        "'x' -> error NOSERVER no server serves 'greet'"]


def test_node_server_answers_python_caller(server, example_servers):
    env = node_env()
    r = server.client()
    js = example_servers("server.js", server, env)
    wait_until(lambda: servers_of_greet(r) == 1, timeout=10, what="server.js serving")
    assert run_caller("caller.py", server, "ada", "", "linus", lang="de") == [
        "'ada' -> hallo, ada (from node)",
        "'' -> error BAD_NAME name must not be empty",
        "'linus' -> hallo, linus (from node)",
    ]
    assert js.stop() == 0
    out, err = js.output()
    assert out.startswith("serving greet on 127.0.0.1:%d" % server.port) and err == ""


def test_calls_spread_over_both_example_servers(server, example_servers):
    env = node_env()
    r = server.client()
    py = example_servers("server.py", server)
    js = example_servers("server.js", server, env)
    wait_until(lambda: servers_of_greet(r) == 2, timeout=10, what="both servers serving")
    names = ["n%02d" % i for i in range(40)]
    lines = run_caller("caller.py", server, *names)
    assert len(lines) == 40
    by = {"python": 0, "node": 0}
    for name, line in zip(names, lines):
        head = "'%s' -> hello, %s (from " % (name, name)
        assert line.startswith(head) and line.endswith(")"), line
        by[line[len(head):-1]] += 1
    assert by["python"] > 0 and by["node"] > 0, by
    assert py.stop() == 0 and js.stop() == 0


def test_docs_quote_the_examples_as_they_are():
    """docs/rpc.md shows each example file whole, in a code block of its own,
    so the guide cannot drift from the code this file runs."""
    doc = (REPO / "docs" / "rpc.md").read_text()
    for name, lang in (("caller.py", "python"), ("server.py", "python"),
                       ("caller.js", "javascript"), ("server.js", "javascript")):
        text = (EXAMPLES / name).read_text()
        assert "`examples/rpc/%s`\n\n```%s\n%s```\n" % (name, lang, text) in doc, name
