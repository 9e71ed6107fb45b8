"""tincan export (issue 12): a data directory's events as Parquet, offline or
beside a running server, read back by real DuckDB; filters; idempotent
re-runs; bad usage."""

import os

from archive_helpers import (assert_exactly_once, check_names, files_under, publish_mix,
                             read_rows, run_cli, stored_events)
from conftest import call, duckdb_query


def test_export_offline_matches_the_store(tincan, tmp_path):
    s = tincan("--segment-size", "64kb")
    r = s.client(decode_responses=False)
    publish_mix(r, 600, big_every=97)
    events = stored_events(r)
    s.stop()
    out = tmp_path / "export"
    p = run_cli("export", "--dir", s.dir, "--to", out, check=0)
    assert "exported 600 events" in p.stdout, p.stdout
    keys = files_under(out)
    check_names(keys)
    assert_exactly_once(read_rows("%s/events/**/*.parquet" % out), events)
    # a second run finds every file in place: the same names, nothing new
    p = run_cli("export", "--dir", s.dir, "--to", out, check=0)
    assert "(%d already there)" % len(keys) in p.stdout, p.stdout
    assert files_under(out) == keys


def test_export_filters_by_type_and_time(tincan, tmp_path):
    s = tincan()
    r = s.client(decode_responses=False)
    publish_mix(r, 200)
    events = stored_events(r)
    mid = events[100]["time"]
    out = tmp_path / "orders"
    run_cli("export", "--dir", s.dir, "--to", out, "--type", "order.*", "--from", mid,
            "--quiet", check=0)
    rows = read_rows("%s/events/**/*.parquet" % out)
    want = [e for e in events if e["type"].startswith(b"order.") and e["time"] >= mid]
    assert [x["position"] for x in rows] == [e["position"] for e in want]
    out2 = tmp_path / "until"
    run_cli("export", "--dir", s.dir, "--to", out2, "--to", mid, "--quiet", check=0)
    rows = read_rows("%s/events/**/*.parquet" % out2)
    assert [x["position"] for x in rows] == [e["position"] for e in events
                                             if e["time"] <= mid]


def test_export_beside_a_running_server(tincan, tmp_path):
    s = tincan()
    r = s.client(decode_responses=False)
    publish_mix(r, 300)
    out = tmp_path / "live"
    run_cli("export", "--dir", s.dir, "--to", out, "--quiet", check=0)
    assert call(r, "EV.PUB", "order.created", b"after") == 301
    rows = read_rows("%s/events/**/*.parquet" % out)
    assert_exactly_once(rows, stored_events(r)[:300])


def test_export_file_size_cuts(tincan, tmp_path):
    s = tincan()
    r = s.client(decode_responses=False)
    for _ in range(400):
        call(r, "EV.PUB", "blob.put", os.urandom(1000))
    out = tmp_path / "cut"
    run_cli("export", "--dir", s.dir, "--to", out, "--file-size", "32kb", "--quiet",
            check=0)
    names = check_names(files_under(out))
    assert len(names) >= 8
    n = duckdb_query("SELECT count(*) AS n, count(DISTINCT position) AS d FROM "
                     "read_parquet('%s/events/**/*.parquet')" % out)[0]
    assert n == {"n": 400, "d": 400}


def test_export_bad_usage(tmp_path):
    p = run_cli("export", "--to", tmp_path / "x", check=2)
    assert "--dir and --to are required" in p.stderr
    p = run_cli("export", "--dir", tmp_path, "--to", tmp_path / "x", "--type", "a..b",
                check=2)
    assert "--type a..b" in p.stderr
    p = run_cli("export", "--dir", tmp_path, "--to", tmp_path / "x", "--from", "yesterday",
                check=2)
    assert "not a time" in p.stderr
    p = run_cli("export", "--dir", tmp_path, "--to", tmp_path / "x", "--bogus", "1",
                check=2)
    assert "unknown option --bogus" in p.stderr
    p = run_cli("export", "--dir", tmp_path, "--to", tmp_path / "x", "--to", tmp_path / "y",
                check=2)
    assert "not a time, and the target is already" in p.stderr
    p = run_cli("export", "--dir", tmp_path, "--to", tmp_path / "x", "--from", "2026-12-02",
                "--until", "2026-12-01", check=2)
    assert "--from is after --to" in p.stderr
    p = run_cli("export", "--dir", tmp_path, "--to", tmp_path / "x", "--file-size", "10",
                check=2)
    assert "--file-size 10: bytes >= 4096" in p.stderr
    p = run_cli("export", "--dir", tmp_path, "--to", check=2)
    assert "--to needs a value" in p.stderr
    p = run_cli("export", "--dir", tmp_path / "nope", "--to", tmp_path / "x", check=1)
    assert "not a tincan data directory" in p.stderr
    (tmp_path / "events").mkdir()
    p = run_cli("export", "--dir", tmp_path, "--to", "ftp://x/y", check=1)
    assert "archive target must be a directory or s3://bucket/prefix" in p.stderr
    p = run_cli("bogus", check=2)
    assert "unknown command 'bogus'" in p.stderr
    assert "export" in run_cli("--help", check=0).stdout


def test_export_progress_bar_on_a_terminal(tincan, tmp_path):
    """On a terminal (stderr a pty) export draws a progress line that ends at
    100%; piped, it prints none (the other tests)."""
    import pty
    import subprocess
    from archive_helpers import cli_bin
    s = tincan()
    r = s.client(decode_responses=False)
    publish_mix(r, 5000)
    s.stop()
    master, slave = pty.openpty()
    p = subprocess.run([str(cli_bin()), "export", "--dir", str(s.dir), "--to",
                        str(tmp_path / "tty")], stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=slave, timeout=120)
    os.close(slave)
    out = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    os.close(master)
    assert p.returncode == 0, out
    text = out.decode(errors="replace")
    assert "\r[" in text and "100%" in text and "5000 events" in text, text[-500:]
    assert b"exported 5000 events" in p.stdout
