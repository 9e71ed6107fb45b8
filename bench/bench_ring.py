"""Router benchmark rows (issue 7), for bench/bench.py or standalone.

  rows(build="build", seconds=2.0) -> list of row dicts:
      {"name", "tincan", "peer", "peer_name", "unit", "ratio", "target", "note"}

1. `GET key` on a 50-member ring (tincan) vs Redis `GET` of a stored string,
   the same redis-benchmark command line against each, -P 1 and -P 64.
   Target: tincan >= 0.9x Redis.
2. Through nginx: p50 latency of a proxied request with the tincan lookup
   (examples/nginx/router.conf) vs the same nginx proxying to a static
   upstream, measured with wrk (1 connection); the difference is the lookup's
   added latency. Target p50 <= 0.1 ms.

Standalone: /usr/bin/python3 bench/bench_ring.py [build-dir] prints a table.
Everything runs on 127.0.0.1 on free ports, in a temp dir, and is stopped
afterwards. Each measurement is short (CPU is shared).
"""

TITLE = "Router (issue 7)"

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
READY_RE = re.compile(rb"tincan ready port=(\d+) pid=(\d+)")


def _free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def _wait_port(port, proc, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("process exited early: %s" % proc.args)
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError("nothing listens on %d" % port)


def _start_tincan(build, workdir):
    binary = REPO / build / "tincan-server"
    data = workdir / "tincan-data"
    data.mkdir()
    out = open(workdir / "tincan.out", "wb")
    proc = subprocess.Popen([str(binary), "--port", "0", "--bind", "127.0.0.1",
                             "--dir", str(data)], stdout=out,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    out.close()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        m = READY_RE.search((workdir / "tincan.out").read_bytes())
        if m:
            return proc, int(m.group(1))
        if proc.poll() is not None:
            break
        time.sleep(0.02)
    proc.kill()
    raise RuntimeError("tincan did not start: %s" % (workdir / "tincan.out").read_text())


def _start_redis(workdir):
    port = _free_port()
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                             "--save", "", "--appendonly", "no",
                             "--dir", str(workdir)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _wait_port(port, proc)
    return proc, port


def _cli(port, *args):
    return subprocess.run(["redis-cli", "-p", str(port)] + [str(a) for a in args],
                          check=True, capture_output=True, text=True).stdout.strip()


def _stop(proc):
    if proc and proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _rps(port, pipeline, requests, key):
    """requests/s of `GET key` by redis-benchmark (50 clients)."""
    out = subprocess.run(["redis-benchmark", "-p", str(port), "-c", "50", "-n",
                          str(requests), "-P", str(pipeline), "-q", "GET", key],
                         check=True, capture_output=True, text=True).stdout
    m = re.findall(r"([\d.]+) requests per second", out)
    if not m:
        raise RuntimeError("no result from redis-benchmark: %r" % out)
    return float(m[-1])


def get_rows(build="build", seconds=2.0):
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-ring-") as tmp:
        tmp = Path(tmp)
        tproc = rproc = None
        try:  # every server started here is stopped, whatever raises
            tproc, tport = _start_tincan(build, tmp)
            try:
                rproc, rport = _start_redis(tmp)
                for i in range(50):
                    _cli(tport, "RING.JOIN", "default", "10.0.%d.%d:8080" % (i // 250, i + 1))
                _cli(rport, "SET", "user:42", "10.0.0.7:8080")
                for pipeline, base in ((1, 40000), (64, 400000)):
                    # size the run to about `seconds` at Redis speed
                    probe = _rps(rport, pipeline, base // 4, "user:42")
                    n = max(10000, int(probe * seconds))
                    redis_rps = _rps(rport, pipeline, n, "user:42")
                    tincan_rps = _rps(tport, pipeline, n, "user:42")
                    rows.append({
                        "name": "router GET, 50-member ring, -P %d" % pipeline,
                        "tincan": round(tincan_rps), "peer": round(redis_rps),
                        "peer_name": "Redis GET of a stored string", "unit": "req/s",
                        "ratio": round(tincan_rps / redis_rps, 3), "target": ">= 0.9",
                        "note": "redis-benchmark -c 50 -n %d -P %d" % (n, pipeline)})
            finally:
                _stop(rproc)
            rows += _nginx_rows(tmp, tport, seconds)
        finally:
            _stop(tproc)
    return rows


def _nginx_conf(tport, lookup_port, static_port, backend_port):
    text = (REPO / "examples" / "nginx" / "router.conf").read_text()
    text = text.replace("listen 127.0.0.1:8080;", "listen 127.0.0.1:%d;" % lookup_port)
    text = text.replace("set $tincan_port 6380;", "set $tincan_port %d;" % tport)
    extra = """
    upstream static_backend {
        server 127.0.0.1:%d;
        keepalive 16;
    }
    server {
        listen 127.0.0.1:%d;
        location / {
            proxy_pass http://static_backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
    server {
        listen 127.0.0.1:%d;
        keepalive_requests 1000000;
        location / { return 200 "ok\\n"; }
    }
}
""" % (backend_port, static_port, backend_port)
    i = text.rstrip().rfind("}")
    return text[:i] + extra


def _wrk(port, seconds, connections):
    out = subprocess.run(["wrk", "-t1", "-c%d" % connections, "-d%ds" % max(1, int(seconds)),
                          "--latency", "http://127.0.0.1:%d/item/1" % port],
                         check=True, capture_output=True, text=True).stdout
    m = re.search(r"50%\s+([\d.]+)(us|ms|s)\b", out)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if not m or not rps:
        raise RuntimeError("cannot parse wrk output: %r" % out)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]
    return float(m.group(1)) * scale, float(rps.group(1)), int(non2xx.group(1)) if non2xx else 0


def _nginx_rows(tmp, tport, seconds):
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not os.path.exists(nginx) or not os.path.exists(
            "/usr/lib/nginx/modules/ngx_http_lua_module.so") or not shutil.which("wrk"):
        return []
    prefix = tmp / "nginx"
    (prefix / "logs").mkdir(parents=True)
    (prefix / "tmp").mkdir()
    lookup_port, static_port, backend_port = _free_port(), _free_port(), _free_port()
    (prefix / "router.conf").write_text(_nginx_conf(tport, lookup_port, static_port,
                                                    backend_port))
    # the ring: the static backend is the only member, so both paths end there
    for i in range(50):
        _cli(tport, "RING.LEAVE", "default", "10.0.%d.%d:8080" % (i // 250, i + 1))
    _cli(tport, "RING.JOIN", "default", "127.0.0.1:%d" % backend_port)
    proc = subprocess.Popen([nginx, "-p", str(prefix), "-c", str(prefix / "router.conf"),
                             "-e", str(prefix / "logs" / "error.log"), "-g", "daemon off;"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    rows = []
    try:
        _wait_port(lookup_port, proc)
        _wait_port(static_port, proc)
        _wrk(lookup_port, 1, 1)  # warm the pools
        s_p50, s_rps, s_bad = _wrk(static_port, seconds, 1)
        l_p50, l_rps, l_bad = _wrk(lookup_port, seconds, 1)
        if s_bad or l_bad:
            raise RuntimeError("non-2xx responses: static %d, lookup %d" % (s_bad, l_bad))
        rows.append({
            "name": "nginx proxied request p50, 1 connection",
            "tincan": round(l_p50, 3), "peer": round(s_p50, 3),
            "peer_name": "nginx with a static upstream", "unit": "ms",
            "ratio": round(l_p50 - s_p50, 3), "target": "added p50 <= 0.1 ms",
            "note": "ratio column = added ms; wrk -t1 -c1 -d%ds" % max(1, int(seconds))})
        s_p50, s_rps, _ = _wrk(static_port, seconds, 32)
        l_p50, l_rps, _ = _wrk(lookup_port, seconds, 32)
        rows.append({
            "name": "nginx proxied requests/s, 32 connections",
            "tincan": round(l_rps), "peer": round(s_rps),
            "peer_name": "nginx with a static upstream", "unit": "req/s",
            "ratio": round(l_rps / s_rps, 3), "target": "-",
            "note": "one nginx worker; wrk -t1 -c32"})
    finally:
        _stop(proc)
    return rows


# the name bench/bench.py looks for
rows = get_rows


def main():
    build = sys.argv[1] if len(sys.argv) > 1 else "build"
    print("| benchmark | tincan | peer | peer | unit | ratio | target |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for r in get_rows(build):
        print("| %s | %s | %s | %s | %s | %s | %s |" % (
            r["name"], r["tincan"], r["peer"], r["peer_name"], r["unit"], r["ratio"],
            r["target"]))


if __name__ == "__main__":
    main()
