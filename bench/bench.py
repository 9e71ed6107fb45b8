#!/usr/bin/python3
"""bench.py - `make bench`: tincan measured next to the peer a user would pick.

Starts the real servers side by side on free loopback ports, each in its own
temp dir (a `redis-server` with persistence off unless a row asks, and
$BUILD/tincan-server), drives both with identical load, and writes the table
into docs/benchmarks.md (machine, date, versions, commands, raw numbers,
ratios against the targets). Not part of `make check`.

Rounds alternate tincan and peer (BENCH_ROUNDS, default 3) and the median is
kept, so a noisy neighbour on the machine hurts both sides alike. Runtime is
bounded: every load run has a time limit (BENCH_RUN_TIMEOUT s, default 120)
and BENCH_SCALE (default 1.0) scales every request count (0.1 for a smoke
run). BENCH_ONLY=core,bus runs only the named sections ("core" is the
harness's own rows; others are the bench_<area>.py names) and keeps the
other sections of docs/benchmarks.md as they were.

Adding rows (the interface)
---------------------------
Put a module bench/bench_<area>.py next to this file. It is imported if
present and must define

    TITLE = "Event bus"                # section heading (optional)
    ABOUT = "What the rows measure."   # prose under the heading (optional)
    def run(ctx):                      # returns a list of Row
        with ctx.tincan() as t, ctx.redis() as r:
            return [ctx.compare(
                "EV.PUB 1 KiB, 50 clients",
                tincan=lambda: ctx.redis_benchmark(t, ["EV.PUB", "bench.t", "x" * 1024],
                                                   requests=100_000),
                peer=lambda: ctx.redis_benchmark(r, ["XADD", "s", "*", "p", "x" * 1024],
                                                 requests=100_000),
                peer_name="redis XADD", target=0.9,
                command="redis-benchmark -c 50 -n 100000 EV.PUB bench.t <1 KiB>")]

ctx (class Ctx below) gives:
  ctx.tincan(args=(), name=None)  context manager -> Server (.host .port .pid .dir)
  ctx.redis(args=())              context manager -> Server running redis-server
  ctx.server(cmd, ready)          any other peer: cmd list with {port} and {dir}
                                  placeholders; ready(Server) -> bool when up
  ctx.free_port()                 a free loopback TCP port
  ctx.redis_benchmark(server, command=None, test=None, clients=50,
                      requests=100000, pipeline=1, extra=()) -> requests/s
  ctx.compare(name, tincan, peer, peer_name, target, command, unit="req/s",
              higher_is_better=True) -> Row   (calls the two functions
                                               alternately, ctx.rounds times)
  ctx.scaled(n)                   n * BENCH_SCALE, at least 1
  ctx.run_cmd(argv, timeout)      runs a load tool, returns its stdout
  ctx.loadgen(mode, server, **o)  runs bench/loadgen.c (C, hiredis) once:
                                  o = clients=32, seconds=5, count=..., key=...
                                  -> {"ops", "seconds", "ops_per_s"}
A Row may also be built directly (Row(...)) for a measurement that is not a
tincan/peer pair. (Older modules that define get_rows(build=...) returning
dicts {name, tincan, peer, peer_name, unit, ratio, target, note} are adapted.) A module that raises is reported as an error row and makes
`make bench` exit 1; a ratio below target is shown as "below" (exit 0, or 1
with BENCH_STRICT=1).
"""

import contextlib
import csv
import datetime
import importlib.util
import io
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BUILD = Path(os.environ.get("BUILD", "build"))
if not BUILD.is_absolute():
    BUILD = REPO / BUILD
LOADGEN = BUILD / "bench" / "loadgen"
TINCAN_BIN = Path(os.environ.get("TINCAN_BIN", str(BUILD / "tincan-server"))).resolve()
DOC = REPO / "docs" / "benchmarks.md"
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
SCALE = float(os.environ.get("BENCH_SCALE", "1.0"))
RUN_TIMEOUT = float(os.environ.get("BENCH_RUN_TIMEOUT", "120"))
START_TIMEOUT = 15.0


@dataclass
class Row:
    name: str                      # what is measured, e.g. "PING_MBULK -P 1, 50 clients"
    command: str                   # the exact load command, for the docs
    tincan: list                   # one number per round
    peer: list                     # one number per round (may be empty)
    peer_name: str = "redis"
    unit: str = "req/s"
    target: float = None           # wanted tincan/peer ratio (None = no target)
    higher_is_better: bool = True
    error: str = None              # set when the row could not be measured
    notes: str = ""
    ratio_override: float = None   # a module's own ratio (dict rows), shown as is
    target_text: str = None        # a target that is not a ratio, e.g. "p50 <= 0.1 ms"

    @property
    def tincan_median(self):
        return statistics.median(self.tincan) if self.tincan else None

    @property
    def peer_median(self):
        return statistics.median(self.peer) if self.peer else None

    @property
    def ratio(self):
        if self.ratio_override is not None:
            return self.ratio_override
        t, p = self.tincan_median, self.peer_median
        if not t or not p:
            return None
        return t / p if self.higher_is_better else p / t

    @property
    def verdict(self):
        if self.error:
            return "error"
        if self.target is None or self.ratio is None:
            return "-"
        return "ok" if self.ratio >= self.target else "below"


class Server:
    """A server process we started: host, port, pid, dir; stop() ends it."""

    def __init__(self, name, proc, port, workdir, log):
        self.name = name
        self.proc = proc
        self.host = "127.0.0.1"
        self.port = port
        self.pid = proc.pid
        self.dir = workdir
        self.log = log

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def rss_kib(pid):
    """VmRSS of a process, in KiB (0 if /proc has no such line)."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def ping_ok(host, port, timeout=0.5):
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.sendall(b"*1\r\n$4\r\nPING\r\n")
            return s.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class Ctx:
    def __init__(self, tmp):
        self.tmp = Path(tmp)
        self.rounds = ROUNDS
        self.scale = SCALE
        self._n = 0
        self.measured = []  # rows compare() made in the running section

    # ---- servers ----
    def free_port(self):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]

    def _workdir(self, name):
        self._n += 1
        d = self.tmp / ("%s-%d" % (name, self._n))
        (d / "data").mkdir(parents=True)
        return d

    @contextlib.contextmanager
    def tincan(self, args=(), name="tincan"):
        if not TINCAN_BIN.exists():
            raise RuntimeError("%s not built (make server)" % TINCAN_BIN)
        d = self._workdir(name)
        out, err = d / "stdout", d / "stderr"
        with open(out, "wb") as o, open(err, "wb") as e:
            t0 = time.monotonic()
            proc = subprocess.Popen([str(TINCAN_BIN), "--port", "0", "--bind", "127.0.0.1",
                                     "--dir", str(d / "data")] + [str(a) for a in args],
                                    stdout=o, stderr=e, stdin=subprocess.DEVNULL)
        srv = None
        try:
            deadline = time.monotonic() + START_TIMEOUT
            while time.monotonic() < deadline and srv is None:
                m = re.search(rb"tincan ready port=(\d+) pid=(\d+)", out.read_bytes())
                if m and int(m.group(2)) == proc.pid:
                    srv = Server(name, proc, int(m.group(1)), d, err)
                    srv.start_ms = (time.monotonic() - t0) * 1000  # +- 5 ms polling
                elif proc.poll() is not None:
                    raise RuntimeError("tincan-server exited: %s" % err.read_text()[-2000:])
                else:
                    time.sleep(0.005)
            if srv is None:
                raise RuntimeError("tincan-server: no readiness line in %.0f s" % START_TIMEOUT)
            yield srv
        finally:
            if srv:
                srv.stop()
            elif proc.poll() is None:
                proc.kill()
                proc.wait()

    @contextlib.contextmanager
    def server(self, name, cmd, ready=None):
        """Any peer: cmd with {port} and {dir}; ready(server) -> bool."""
        d = self._workdir(name)
        port = self.free_port()
        argv = [a.format(port=port, dir=str(d / "data")) for a in cmd]
        log = d / "log"
        with open(log, "wb") as lf:
            proc = subprocess.Popen(argv, stdout=lf, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, cwd=str(d))
        srv = Server(name, proc, port, d, log)
        try:
            ready = ready or (lambda s: ping_ok(s.host, s.port))
            deadline = time.monotonic() + START_TIMEOUT
            while not ready(srv):
                if proc.poll() is not None:
                    raise RuntimeError("%s exited: %s" % (name, log.read_text()[-2000:]))
                if time.monotonic() > deadline:
                    raise RuntimeError("%s not ready in %.0f s" % (name, START_TIMEOUT))
                time.sleep(0.05)
            yield srv
        finally:
            srv.stop()

    def redis(self, args=()):
        """redis-server without persistence (rows that want it pass e.g.
        ["--appendonly", "yes", "--appendfsync", "always"])."""
        cmd = ["redis-server", "--port", "{port}", "--bind", "127.0.0.1", "--dir", "{dir}",
               "--save", "", "--appendonly", "no", "--protected-mode", "no",
               "--daemonize", "no", "--logfile", ""] + [str(a) for a in args]
        return self.server("redis", cmd)

    # ---- load ----
    def scaled(self, n):
        return max(1, int(n * self.scale))

    def run_cmd(self, argv, timeout=None):
        p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=timeout or RUN_TIMEOUT)
        if p.returncode != 0:
            raise RuntimeError("%s failed (%d): %s" % (argv[0], p.returncode,
                                                      p.stderr.decode()[-1000:]))
        return p.stdout.decode()

    def loadgen(self, mode, server, **opts):
        """Runs bench/loadgen.c's driver once: loadgen MODE --port P --<opt> v...

        Returns its JSON result (ops, seconds, ops_per_s); raises with the
        driver's first error when any client failed."""
        argv = [str(LOADGEN), mode, "--host", server.host, "--port", str(server.port)]
        for k, v in opts.items():
            argv += ["--" + k.replace("_", "-"), str(v)]
        seconds = float(opts.get("seconds", 5))
        p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=seconds + RUN_TIMEOUT)
        try:
            res = json.loads(p.stdout.decode().strip().splitlines()[-1])
        except (ValueError, IndexError):
            raise RuntimeError("loadgen %s printed no result (%d): %s" % (
                mode, p.returncode, p.stderr.decode()[-500:]))
        if p.returncode != 0 or res["errors"]:
            raise RuntimeError("loadgen %s: %d errors, first: %s" % (
                mode, res["errors"], res["error"]))
        return res

    def redis_benchmark_argv(self, server, command=None, test=None, clients=50,
                             requests=100000, pipeline=1, extra=()):
        argv = ["redis-benchmark", "-h", server.host, "-p", str(server.port),
                "-c", str(clients), "-n", str(self.scaled(requests)), "-P", str(pipeline),
                "--csv"] + list(extra)
        if test:
            argv += ["-t", test]
        if command:
            argv += [str(a) for a in command]
        return argv

    def redis_benchmark(self, server, command=None, test=None, clients=50,
                        requests=100000, pipeline=1, extra=()):
        """Runs redis-benchmark once; returns requests per second."""
        out = self.run_cmd(self.redis_benchmark_argv(server, command, test, clients,
                                                     requests, pipeline, extra))
        rps = None
        for rec in csv.reader(io.StringIO(out)):
            if len(rec) >= 2 and rec[0] != "test":
                try:
                    rps = float(rec[1])
                except ValueError:
                    pass
        if rps is None:
            raise RuntimeError("no result in redis-benchmark output: %r" % out[-500:])
        return rps

    def compare(self, name, tincan, peer, peer_name="redis", target=None, command="",
                unit="req/s", higher_is_better=True, notes=""):
        row = Row(name=name, command=command, tincan=[], peer=[], peer_name=peer_name,
                  unit=unit, target=target, higher_is_better=higher_is_better, notes=notes)
        for i in range(self.rounds):
            # alternate who goes first, so drift hurts both alike
            order = [(row.tincan, tincan), (row.peer, peer)]
            if i % 2:
                order.reverse()
            for out, fn in order:
                if fn is not None:
                    out.append(fn())
        self.measured.append(row)  # kept even if the section raises later
        print("  %-44s tincan %s  %s %s  ratio %s" % (
            name, fmt_num(row.tincan_median), peer_name, fmt_num(row.peer_median),
            fmt_ratio(row.ratio)), flush=True)
        return row


def fmt_num(v):
    if v is None:
        return "-"
    if v >= 100:
        return "{:,.0f}".format(v)
    return "{:.3g}".format(v)


def fmt_ratio(v):
    return "-" if v is None else "%.2fx" % v


# --------------------------------------------------------------------------
# the harness's own rows
# --------------------------------------------------------------------------

TITLE = "Core protocol (issue 2)"


def run(ctx):
    rows = []
    with ctx.tincan() as t, ctx.redis() as r:
        for pipeline, requests in ((1, 200_000), (64, 4_000_000)):
            argv = ctx.redis_benchmark_argv(t, test="ping_mbulk", clients=50,
                                            requests=requests, pipeline=pipeline)
            shown = " ".join(argv).replace("-p %d" % t.port, "-p PORT")
            rows.append(ctx.compare(
                "PING_MBULK -P %d, 50 clients" % pipeline,
                tincan=lambda p=pipeline, n=requests: ctx.redis_benchmark(
                    t, test="ping_mbulk", clients=50, requests=n, pipeline=p),
                peer=lambda p=pipeline, n=requests: ctx.redis_benchmark(
                    r, test="ping_mbulk", clients=50, requests=n, pipeline=p),
                peer_name="redis", target=0.9, command=shown))
    return rows


# --------------------------------------------------------------------------
# report
# --------------------------------------------------------------------------

def machine():
    cpu = "unknown CPU"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal"):
                mem = "%.1f GiB RAM" % (int(line.split()[1]) / 1024 / 1024)
    except OSError:
        pass
    return "%s, %d cores, %s, %s %s" % (cpu, os.cpu_count() or 0, mem, platform.system(),
                                        platform.release())


def versions():
    out = {}
    try:
        v = subprocess.run(["redis-server", "--version"], capture_output=True, text=True)
        out["redis"] = v.stdout.split()[2].split("=")[1]
    except Exception:
        out["redis"] = "?"
    try:
        g = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                           capture_output=True, text=True)
        dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "src"],
                               capture_output=True, text=True).stdout.strip()
        out["tincan"] = g.stdout.strip() + (" (+ uncommitted src changes)" if dirty else "")
    except Exception:
        out["tincan"] = "?"
    return out


def write_doc(sections, started, elapsed, abouts=None):
    v = versions()
    lines = [
        "# Benchmarks",
        "",
        "Written by `make bench` (bench/bench.py); do not edit by hand, run it again.",
        "Each row drives tincan and its peer with the same load tool and arguments,",
        "both servers on this machine over loopback, alternating over several rounds;",
        "the table shows the medians. Ratio = tincan / peer for throughput (peer /",
        "tincan for latencies); \"ok\" means the ratio meets the target.",
        "",
        "- Last written: %s (that run took %.0f s%s; each section says when it"
        % (started.strftime("%Y-%m-%d %H:%M UTC"), elapsed,
           ", only " + os.environ["BENCH_ONLY"] if os.environ.get("BENCH_ONLY") else ""),
        "  was measured: `BENCH_ONLY=<section> make bench` re-runs one section)",
        "- Machine of this run: %s" % machine(),
        "- tincan binary: `%s`" % (TINCAN_BIN.relative_to(REPO)
                                   if TINCAN_BIN.is_relative_to(REPO) else TINCAN_BIN),
        "- redis-server %s (persistence off unless a row says otherwise)" % v["redis"],
        "",
        "Note: a shared machine is noisy; compare ratios, not absolute numbers, and",
        "re-run before drawing conclusions from a small difference.",
        "",
    ]
    old_sections = previous_sections()
    # sections kept from an earlier run may come from another machine: each
    # says on which it was measured
    stamp = "_Measured %s on %s, tincan %s, scale %s, %d rounds._" % (
        started.strftime("%Y-%m-%d %H:%M UTC"), machine(), v["tincan"], SCALE, ROUNDS)
    all_rows = []
    for title, rows, error in sections:
        if rows is None:  # not run this time (BENCH_ONLY): keep the earlier text
            if title in old_sections:
                kept = old_sections[title]
                while kept and not kept[-1].strip():
                    kept = kept[:-1]
                lines += kept + [""]  # the blank line before the next heading
            continue
        lines += ["## " + title, "", stamp, ""]
        if (abouts or {}).get(title):
            lines += [l.rstrip() for l in abouts[title].strip().splitlines()] + [""]
        if error:
            lines += ["Could not run: `%s`" % error.strip().splitlines()[-1], ""]
        if rows:
            lines += ["| Row | tincan | peer | ratio | target | |",
                      "|---|---:|---:|---:|---:|---|"]
            for row in rows:
                all_rows.append(row)
                lines.append("| %s | %s %s | %s: %s | %s | %s | %s |" % (
                    row.name, fmt_num(row.tincan_median), row.unit, row.peer_name,
                    fmt_num(row.peer_median),
                    # a module's own figure against a non-ratio target: as is
                    ("%.3g" % row.ratio if row.ratio is not None else "-")
                    if row.target is None and row.target_text else fmt_ratio(row.ratio),
                    ">= %.2fx" % row.target if row.target is not None
                    else (row.target_text or "-"),
                    row.error or row.verdict))
            lines += ["", "Commands and raw numbers (every round):", ""]
            for row in rows:
                lines.append("- **%s**: `%s`" % (row.name, row.command or "(see bench module)"))
                lines.append("  - tincan: %s" % ", ".join(fmt_num(x) for x in row.tincan))
                if row.peer:
                    lines.append("  - %s: %s" % (row.peer_name,
                                                 ", ".join(fmt_num(x) for x in row.peer)))
                if row.notes:
                    lines.append("  - note: %s" % row.notes)
            lines.append("")
    DOC.parent.mkdir(parents=True, exist_ok=True)
    DOC.write_text("\n".join(lines))
    return all_rows


def previous_sections():
    """The "## title" sections of the current docs/benchmarks.md, as line
    lists, so that a BENCH_ONLY run replaces only the sections it ran."""
    out, cur = {}, None
    try:
        text = DOC.read_text()
    except OSError:
        return out
    for line in text.splitlines():
        if line.startswith("## "):
            cur = line[3:].strip()
            out[cur] = []
        if cur is not None:
            out[cur].append(line)
    return out


def dict_rows(mod):
    """Adapter for modules written before run(ctx) existed: a function
    get_rows(build=..., seconds=...) or rows(...) returning dicts with keys
    name, tincan, peer, peer_name, unit, ratio, target (">= 0.9" or free
    text), note."""
    fn = getattr(mod, "get_rows", None) or getattr(mod, "rows", None)
    if fn is None:
        raise RuntimeError("%s defines neither run(ctx) nor get_rows()" % mod.__name__)
    out = []
    for d in fn(build=str(BUILD)):
        target, text = None, d.get("target")
        m = re.match(r"^\s*>=\s*([0-9.]+)\s*x?\s*$", str(text or ""))
        if m:
            target, text = float(m.group(1)), None
        num = lambda v: [float(v)] if isinstance(v, (int, float)) else []
        out.append(Row(name=d.get("name", "?"), command=d.get("command", ""),
                       tincan=num(d.get("tincan")), peer=num(d.get("peer")),
                       peer_name=d.get("peer_name", "peer"), unit=d.get("unit", ""),
                       target=target, target_text=text if text not in ("-", "") else None,
                       ratio_override=d.get("ratio"), notes=d.get("note", "")))
    return out


def load_modules():
    mods = []
    here = str(Path(__file__).resolve().parent)
    if here not in sys.path:
        sys.path.insert(0, here)  # so a module may `from bench import Row`
    for path in sorted(Path(__file__).resolve().parent.glob("bench_*.py")):
        name = path.stem
        spec = importlib.util.spec_from_file_location(name, path)
        mod = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(mod)
        except Exception:
            mods.append((name, None, traceback.format_exc()))
            continue
        mods.append((name, mod, None))
    return mods


def main():
    only = {s.strip() for s in os.environ.get("BENCH_ONLY", "").split(",") if s.strip()}
    if shutil.which("redis-benchmark") is None or shutil.which("redis-server") is None:
        print("bench: redis-server and redis-benchmark are needed (scripts/deps.sh)")
        return 1
    started = datetime.datetime.now(datetime.timezone.utc)
    t0 = time.monotonic()
    sections = []
    abouts = {}
    failed = False
    units = [("core", sys.modules[__name__], None)] + load_modules()
    with tempfile.TemporaryDirectory(prefix="tincan-bench.") as tmp:
        ctx = Ctx(tmp)
        for name, mod, load_error in units:
            short = name[len("bench_"):] if name.startswith("bench_") else name
            title = getattr(mod, "TITLE", short) if mod else short
            abouts[title] = getattr(mod, "ABOUT", None) if mod else None
            if only and short not in only and name not in only:
                sections.append((title, None, None))  # keep its earlier results
                continue
            print("== %s" % title, flush=True)
            if load_error:
                sections.append((title, [], load_error))
                failed = True
                print(load_error)
                continue
            ctx.measured = []
            try:
                if hasattr(mod, "run"):
                    rows = list(mod.run(ctx))
                else:
                    rows = dict_rows(mod)
                sections.append((title, rows, None))
            except Exception:
                err = traceback.format_exc()
                print(err)
                sections.append((title, ctx.measured, err))  # the rows that did run
                failed = True
    rows = write_doc(sections, started, time.monotonic() - t0, abouts)
    below = [r for r in rows if r.verdict == "below"]
    errors = [r for r in rows if r.verdict == "error"]
    print("bench: wrote %s: %d rows, %d below target, %d errors" % (
        DOC.relative_to(REPO), len(rows), len(below), len(errors)))
    for r in below:
        print("bench: below target: %s: %s (target %.2fx)" % (r.name, fmt_ratio(r.ratio),
                                                              r.target))
    if failed or errors:
        return 1
    if below and os.environ.get("BENCH_STRICT") == "1":
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
