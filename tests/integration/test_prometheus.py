"""Debian's real Prometheus scrapes tincan's /metrics (docs/operations.md).

The test starts /usr/bin/prometheus (package `prometheus`) on 127.0.0.1 and a
free port, with a temp config scraping tincan every 1 s and its storage in a
temp dir; waits (bounded) until the target is up; then asks PromQL through
Prometheus's HTTP API (/api/v1/query) and checks the answers against what the
test published: sum(tincan_events_published_total), a per-type selector, a
rate() once two scrapes saw new events, and the fsync histogram through
histogram_quantile. A second case sets requirepass and scrapes with
basic_auth. Prometheus is stopped (SIGTERM, then SIGKILL) at teardown. The
test is skipped, with the reason, only when the binary is absent.
"""

import json
import os
import shutil
import signal
import subprocess
import time
import urllib.parse
import urllib.request

import pytest

from conftest import call
from test_http import free_port, http_server

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
UP_TIMEOUT = 60.0  # s, until the target is scraped healthy


pytestmark = pytest.mark.skipif(
    not os.access(PROMETHEUS, os.X_OK),
    reason="prometheus is not installed (Debian package prometheus; scripts/deps.sh test)")


class Prometheus:
    def __init__(self, tmp_path, target_port, basic_auth=None):
        self.dir = tmp_path / "prometheus"
        self.dir.mkdir()
        auth = ""
        if basic_auth:
            auth = ("    basic_auth:\n      username: %s\n      password: %s\n"
                    % basic_auth)
        (self.dir / "prometheus.yml").write_text(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
            "scrape_configs:\n"
            "  - job_name: tincan\n"
            + auth +
            "    static_configs:\n"
            "      - targets: ['127.0.0.1:%d']\n" % target_port)
        self.log = open(self.dir / "prometheus.log", "wb")
        for attempt in range(3):
            self.port = free_port()
            self.proc = subprocess.Popen(
                [PROMETHEUS, "--config.file=%s" % (self.dir / "prometheus.yml"),
                 "--storage.tsdb.path=%s" % (self.dir / "data"),
                 "--web.listen-address=127.0.0.1:%d" % self.port,
                 "--log.level=warn"],
                stdout=self.log, stderr=subprocess.STDOUT)
            if self._wait_ready():
                return
            self.stop()
        pytest.fail("prometheus did not start: %s" % self.log_text()[-2000:])

    def _wait_ready(self, timeout=30.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                with urllib.request.urlopen(
                        "http://127.0.0.1:%d/-/ready" % self.port, timeout=2) as r:
                    if r.status == 200:
                        return True
            except OSError:
                pass
            time.sleep(0.1)
        return False

    def log_text(self):
        self.log.flush()
        return (self.dir / "prometheus.log").read_text(errors="replace")

    def api(self, path, **params):
        url = "http://127.0.0.1:%d/api/v1/%s?%s" % (
            self.port, path, urllib.parse.urlencode(params))
        with urllib.request.urlopen(url, timeout=5) as r:
            body = json.load(r)
        assert body["status"] == "success", body
        return body["data"]

    def query(self, promql):
        """The instant vector of promql as [(labels, float)]."""
        data = self.api("query", query=promql)
        assert data["resultType"] == "vector", data
        return [(x["metric"], float(x["value"][1])) for x in data["result"]]

    def wait_value(self, promql, want, timeout=30.0):
        """Polls until the query's single value equals want (bounded)."""
        deadline = time.monotonic() + timeout
        got = None
        while time.monotonic() < deadline:
            got = self.query(promql)
            if len(got) == 1 and got[0][1] == want:
                return got[0][1]
            time.sleep(0.25)
        pytest.fail("%s: want %r, last answer %r" % (promql, want, got))

    def wait_target_up(self):
        deadline = time.monotonic() + UP_TIMEOUT
        last = None
        while time.monotonic() < deadline:
            targets = self.api("targets")["activeTargets"]
            last = targets
            if targets and targets[0]["health"] == "up":
                return targets[0]
            time.sleep(0.25)
        pytest.fail("tincan target not up within %.0f s: %r" % (UP_TIMEOUT, last))

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


@pytest.fixture
def prometheus(tmp_path):
    started = []

    def start(target_port, basic_auth=None):
        p = Prometheus(tmp_path, target_port, basic_auth)
        started.append(p)
        return p
    yield start
    for p in started:
        p.stop()
        p.log.close()


def publish(r, kind, n):
    for i in range(n):
        call(r, "EV.PUB", kind, b'{"n":%d}' % i)


def test_prometheus_scrapes_and_answers_promql(tincan, prometheus):
    s = http_server(tincan)
    r = s.client(decode_responses=False)
    publish(r, "order.created", 7)
    publish(r, "user.signup", 3)
    p = prometheus(s.http_port)
    target = p.wait_target_up()
    assert target["labels"]["job"] == "tincan"

    assert p.wait_value("sum(tincan_events_published_total)", 10) == 10
    assert p.wait_value('tincan_events_published_total{type="user.signup"}', 3) == 3
    by_type = dict((m["type"], v) for m, v in
                   p.query("sum by (type) (tincan_events_published_total)"))
    assert by_type == {"order.created": 7, "user.signup": 3}

    # new events between scrapes make a positive rate for that type only
    publish(r, "order.created", 20)
    p.wait_value('tincan_events_published_total{type="order.created"}', 27)
    rate = dict((m["type"], v) for m, v in
                p.query("rate(tincan_events_published_total[1m])"))
    assert rate["order.created"] > 0
    assert rate["user.signup"] == 0

    # the fsync histogram is a real histogram to PromQL
    [(_, q)] = p.query(
        "histogram_quantile(0.5, sum by (le) (tincan_store_fsync_duration_seconds_bucket))")
    assert 0 < q <= 2.5
    # up{} is Prometheus's own view of the scrape
    assert p.query('up{job="tincan"}')[0][1] == 1


def test_prometheus_scrapes_with_basic_auth(tincan, prometheus):
    s = http_server(tincan, "--requirepass", "pw-for-prom")
    r = s.client(decode_responses=False, password="pw-for-prom")
    publish(r, "audit.login", 4)
    p = prometheus(s.http_port, basic_auth=("tincan", "pw-for-prom"))
    p.wait_target_up()
    assert p.wait_value('tincan_events_published_total{type="audit.login"}', 4) == 4


def test_prometheus_without_credentials_sees_the_target_down(tincan, prometheus):
    s = http_server(tincan, "--requirepass", "pw-for-prom")
    p = prometheus(s.http_port)
    deadline = time.monotonic() + UP_TIMEOUT
    while True:
        targets = p.api("targets")["activeTargets"]
        if targets and targets[0]["health"] == "down":
            break
        assert time.monotonic() < deadline, "target never reported down: %r" % targets
        time.sleep(0.25)
    assert "401" in targets[0]["lastError"]
