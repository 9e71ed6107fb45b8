"""bench_metrics.py - what /metrics costs (issue 15): (1) durable EV.PUB
throughput with a scraper fetching /metrics every second next to the same load
without it, on the same server in the same run (target: ratio >= 0.98); (2)
how long /metrics takes to answer with 10k subscriptions and 10k queues
(target: p99 < 10 ms)."""

import http.client
import re
import statistics
import threading
import time

import redis

from bench import Row

TITLE = "Operations: /metrics"
ABOUT = """\
The first row publishes 256-byte events with `EV.PUB` durably (`--fsync always`, group
commit) from 32 connections pipelining 16 each (bench/loadgen.c publish-tincan), on one
server with its HTTP listener on; in alternate runs a thread fetches `GET /metrics` once a
second over a keep-alive connection for as long as the load runs, as a Prometheus
scraping every second would. The ratio is with / without the scraper, taken per pair of
neighbouring runs and the median of the pairs kept (a burst of load from elsewhere on a
shared machine then spoils one pair, not one side): the target is that scraping costs
under 2% (ratio >= 0.98). The note adds the share of the run's time the server spent
collecting the scrapes (their own `tincan_metrics_scrape_duration_seconds`). The second row makes 10,000 durable
subscriptions and 10,000 queues with one job each, then times 50 `GET /metrics` one after
another on one keep-alive connection, from the request to the last byte of the body (the
client's clock); it shows the median and, as the figure held to the target, the p99."""

SUBS = 10_000
QUEUES = 10_000
FETCHES = 50


def collect_ms(body):
    """The scrape's own tincan_metrics_scrape_duration_seconds, in ms."""
    m = re.search(rb"\ntincan_metrics_scrape_duration_seconds ([0-9.e+-]+)\n", body)
    return float(m.group(1)) * 1000


class Scraper:
    """GET /metrics every `interval` s on one keep-alive connection until
    stopped; counts the scrapes (a failed one raises at stop)."""

    def __init__(self, port, interval=1.0):
        self.port, self.interval = port, interval
        self.stop_ev = threading.Event()
        self.scrapes, self.error = 0, None
        self.collect_ms = 0.0  # the server's own collection time, summed
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            while not self.stop_ev.is_set():
                c.request("GET", "/metrics")
                r = c.getresponse()
                body = r.read()
                if r.status != 200 or not body:
                    raise RuntimeError("/metrics answered %d" % r.status)
                self.scrapes += 1
                self.collect_ms += collect_ms(body)
                self.stop_ev.wait(self.interval)
        except Exception as e:  # reported by stop()
            self.error = e
        finally:
            c.close()

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop_ev.set()
        self.thread.join(timeout=15)
        if self.error:
            raise RuntimeError("scraper failed: %r" % self.error)


def scrape_cost_row(ctx):
    """Runs with and without the scraper alternate (who goes first alternates
    too); the ratio is the median of each pair's ratio, so a burst of load from
    elsewhere on the machine hurts one pair, not one side."""
    port = ctx.free_port()
    n = ctx.scaled(1_000_000)
    rounds = max(ctx.rounds, 7)
    scraped, plain, ratios, scrapes, busy = [], [], [], [], []
    with ctx.tincan(["--http-port", port]) as t:
        def pub():
            return ctx.loadgen("publish-tincan", t, type="bench.metrics", payload=256,
                               count=n, clients=32, pipeline=16, seconds=120)

        def with_scraper():
            with Scraper(port) as s:
                res = pub()
            scrapes.append(s.scrapes)
            busy.append(s.collect_ms / 1000 / res["seconds"])
            return res["ops_per_s"]

        for i in range(rounds):
            pair = [(scraped, with_scraper), (plain, lambda: pub()["ops_per_s"])]
            if i % 2:
                pair.reverse()
            for out, fn in pair:
                out.append(fn())
            ratios.append(scraped[-1] / plain[-1])
    row = Row(name="EV.PUB 256 B durable, /metrics scraped every 1 s vs not scraped",
              command="loadgen publish-tincan --payload 256 --clients 32 --pipeline 16 "
                      "--count %d (+ GET /metrics every 1 s)" % n,
              tincan=scraped, peer=plain, peer_name="tincan, no scraper",
              unit="events/s", target=0.98, ratio_override=statistics.median(ratios),
              notes="ratio = median of the %d pairs' ratios (%s); scrapes per scraped "
                    "run: %s; loop time the scrapes took (their "
                    "tincan_metrics_scrape_duration_seconds over the run): %s" % (
                        rounds, ", ".join("%.3f" % r for r in ratios),
                        ", ".join(map(str, scrapes)),
                        ", ".join("%.4f%%" % (100 * b) for b in busy)))
    print("  %-44s ratio %.3f (pairs %s)" % (row.name, row.ratio, ", ".join(
        "%.3f" % r for r in ratios)), flush=True)
    return row


def populate(t):
    r = redis.Redis(host=t.host, port=t.port)
    for base in range(0, max(SUBS, QUEUES), 1000):
        p = r.pipeline(transaction=False)
        for i in range(base, min(base + 1000, SUBS)):
            p.execute_command("EV.SUB", "sub-%05d" % i, "bench.t%d.*" % (i % 100))
        for i in range(base, min(base + 1000, QUEUES)):
            p.execute_command("Q.PUSH", "queue-%05d" % i, "job")
        p.execute()
    r.execute_command("EV.PUB", "bench.t1.x", "x")
    r.close()


def latency_row(ctx):
    port = ctx.free_port()
    with ctx.tincan(["--http-port", port]) as t:
        populate(t)
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        times, collect, size = [], [], 0
        for _ in range(FETCHES):
            t0 = time.perf_counter()
            c.request("GET", "/metrics")
            r = c.getresponse()
            body = r.read()
            times.append((time.perf_counter() - t0) * 1000)
            if r.status != 200:
                raise RuntimeError("/metrics answered %d" % r.status)
            size = len(body)
            collect.append(collect_ms(body))
        c.close()
    times.sort()
    p50 = statistics.median(times)
    p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
    print("  /metrics at %d subs + %d queues: p50 %.2f ms, p99 %.2f ms, %d bytes" % (
        SUBS, QUEUES, p50, p99, size), flush=True)
    return Row(name="GET /metrics, %d subscriptions + %d queues (%d KiB), p99"
               % (SUBS, QUEUES, size // 1024),
               command="%d x GET /metrics on one keep-alive connection" % FETCHES,
               tincan=[p99], peer=[], peer_name="-", unit="ms",
               ratio_override=p99, target_text="p99 < 10 ms",
               notes="median %.2f ms; the server's own collection "
                     "(tincan_metrics_scrape_duration_seconds) median %.2f ms, the rest is "
                     "writing and moving the text; every fetch (ms): %s" % (
                         p50, statistics.median(collect),
                         ", ".join("%.2f" % x for x in times)))


def run(ctx):
    return [scrape_cost_row(ctx), latency_row(ctx)]
