"""Helpers for the /metrics tests (test_metrics.py, test_prometheus.py) and
bench/bench_metrics.py: a strict parser of the Prometheus text exposition
format (0.0.4) and a small HTTP GET.

parse_exposition(text) -> {family: Family} fails (AssertionError with the line)
on anything the format does not allow or tincan promises not to do:
  - every sample belongs to a family declared before it by # TYPE (a histogram's
    samples are <name>_bucket, _sum, _count), with one # HELP and one # TYPE per
    family, and a family's samples are contiguous (never reopened later);
  - label values are quoted and use only the escapes \\\\, \\" and \\n; no label
    set appears twice in a family;
  - every value parses as a float (+Inf, -Inf, NaN included);
  - counters end in _total; a histogram's buckets, per label set, have
    ascending le bounds, cumulative (non-decreasing) counts, and end with
    le="+Inf" equal to its _count; _sum is present.
"""

import http.client
import math
import re

NAME_RE = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
LABEL_NAME_RE = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
TYPES = ("counter", "gauge", "histogram", "summary", "untyped")


class Family:
    def __init__(self, name):
        self.name = name
        self.help = None
        self.type = None
        self.samples = []  # (sample name, {label: value}, float)
        self.series = set()  # (sample name, sorted label items) seen

    def value(self, **labels):
        """The value of the sample with exactly these labels (the family's
        own name, not _bucket/_sum/_count); KeyError if absent."""
        for name, ls, v in self.samples:
            if name == self.name and ls == labels:
                return v
        raise KeyError("%s%r not in %r" % (self.name, labels, self.samples[:5]))

    def by(self, label):
        """{label value: sample value} of the family's own samples."""
        return {ls[label]: v for name, ls, v in self.samples
                if name == self.name and label in ls}


def _parse_labels(s, i, line):
    """Parses {a="x",b="y"} starting at s[i] == '{'; returns (dict, next i)."""
    labels = {}
    i += 1
    while True:
        if s[i] == "}":
            return labels, i + 1
        m = LABEL_NAME_RE.match(s, i)
        assert m, "bad label name in %r" % line
        name = m.group(0)
        i = m.end()
        assert s[i:i + 2] == '="', "label %s without =\" in %r" % (name, line)
        i += 2
        val = []
        while s[i] != '"':
            if s[i] == "\\":
                esc = s[i + 1]
                assert esc in '\\"n', "bad escape \\%s in %r" % (esc, line)
                val.append("\n" if esc == "n" else esc)
                i += 2
            else:
                assert s[i] != "\n", "raw newline in a label value: %r" % line
                val.append(s[i])
                i += 1
        i += 1
        assert name not in labels, "label %s twice in %r" % (name, line)
        labels[name] = "".join(val)
        if s[i] == ",":
            i += 1
        else:
            assert s[i] == "}", "expected , or } in %r" % line


def _family_of(name, families):
    if name in families:
        return families[name]
    for suffix in ("_bucket", "_sum", "_count"):
        if name.endswith(suffix) and name[:-len(suffix)] in families:
            f = families[name[:-len(suffix)]]
            if f.type == "histogram":
                return f
    return None


def _check_histogram(f):
    series = {}
    for name, ls, v in f.samples:
        assert name != f.name, "histogram %s has a bare sample" % f.name
        key = tuple(sorted((k, x) for k, x in ls.items() if k != "le"))
        s = series.setdefault(key, {"buckets": [], "sum": None, "count": None})
        if name.endswith("_bucket"):
            assert "le" in ls, "bucket without le in %s" % f.name
            s["buckets"].append((float(ls["le"]), v))
        elif name.endswith("_sum"):
            s["sum"] = v
        else:
            s["count"] = v
    assert series, "histogram %s has no samples" % f.name
    for key, s in series.items():
        b = s["buckets"]
        assert b and b[-1][0] == math.inf, "%s%r: last bucket is not +Inf" % (f.name, key)
        for (le0, c0), (le1, c1) in zip(b, b[1:]):
            assert le1 > le0, "%s%r: le not ascending" % (f.name, key)
            assert c1 >= c0, "%s%r: buckets not cumulative" % (f.name, key)
        assert s["count"] is not None and s["sum"] is not None, \
            "%s%r: _sum or _count missing" % (f.name, key)
        assert b[-1][1] == s["count"], "%s%r: +Inf bucket %r != _count %r" % (
            f.name, key, b[-1][1], s["count"])


def parse_exposition(text):
    families = {}
    closed = set()   # families whose samples ended
    current = None   # family of the last sample or TYPE line
    assert text.endswith("\n"), "the text must end with a newline"
    for line in text.split("\n")[:-1]:
        if line.startswith("# HELP ") or line.startswith("# TYPE "):
            kind, rest = line[2:6], line[7:]
            name, _, arg = rest.partition(" ")
            assert NAME_RE.fullmatch(name), "bad family name in %r" % line
            f = families.setdefault(name, Family(name))
            assert name not in closed, "family %s reopened: %r" % (name, line)
            assert not f.samples, "%s line after samples: %r" % (kind, line)
            if kind == "HELP":
                assert f.help is None, "second HELP for %s" % name
                f.help = arg
            else:
                assert f.type is None, "second TYPE for %s" % name
                assert arg in TYPES, "bad type in %r" % line
                f.type = arg
            if current is not None and current is not f:
                closed.add(current.name)
            current = f
            continue
        assert line and not line.startswith("#"), "unexpected line %r" % line
        m = NAME_RE.match(line)
        assert m, "bad sample name in %r" % line
        name, i = m.group(0), m.end()
        labels = {}
        if i < len(line) and line[i] == "{":
            labels, i = _parse_labels(line, i, line)
        assert line[i] == " ", "no space before the value in %r" % line
        value_text = line[i + 1:].split(" ")[0]
        value = float(value_text)  # ValueError on anything else
        f = _family_of(name, families)
        assert f is not None and f.type, "sample %r before its # TYPE" % line
        assert f.name not in closed, "family %s reopened by %r" % (f.name, line)
        if current is not None and current is not f:
            closed.add(current.name)
        current = f
        series = (name, tuple(sorted(labels.items())))
        assert series not in f.series, "duplicate series %r" % line
        f.series.add(series)
        f.samples.append((name, labels, value))
    for f in families.values():
        assert f.type, "family %s has no TYPE" % f.name
        assert f.help is not None, "family %s has no HELP" % f.name
        if f.type == "counter":
            assert f.name.endswith("_total"), "counter %s lacks _total" % f.name
        if f.type == "histogram":
            _check_histogram(f)
    return families


def http_get(port, path, headers=None, timeout=5.0):
    """(status, {lower-case header: value}, body bytes) of one GET."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request("GET", path, headers=headers or {})
        r = c.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        c.close()
