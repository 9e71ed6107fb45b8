"""A throwaway PostgreSQL cluster for the tests that check tincan against a
real PostgreSQL (test_chunk_pg.py, test_entity_pg.py).

PG() starts Debian's postgresql 15 (or whatever /usr/lib/postgresql/*/bin
holds, newest first) in a temp dir, with `initdb --locale=C -E UTF8 -A trust`,
listening only on a unix socket inside that dir (no TCP port at all; the port
number only names the socket file). PostgreSQL refuses to run as root, so
under root the cluster runs as `nobody` (runuser) in a dir nobody owns. The
test is skipped, saying why, when the server binaries or runuser are missing.

  .sql(text, stdin=None, check=True)  runs psql: stdout text, or with
                                      check=False the CompletedProcess
  .dsn                                a libpq connection string (psycopg2)
  .stop()                             immediate shutdown, then the dir is removed

pg_fixture is a module-scoped pytest fixture body: `pg = pytest.fixture(
scope="module")(pg_fixture)` in a test file gives it a `pg` fixture.
Not a general PostgreSQL manager: no TCP, no auth, no durability (fsync off).
"""

import glob
import os
import random
import shutil
import subprocess
import tempfile

import pytest

RUN_TIMEOUT = 300  # s, for one initdb / pg_ctl / psql run


def pg_bindir():
    dirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"),
                  key=lambda d: int(d.split("/")[-2]) if d.split("/")[-2].isdigit() else 0)
    for d in reversed(dirs):
        if os.path.exists(os.path.join(d, "initdb")) and \
           os.path.exists(os.path.join(d, "pg_ctl")):
            return d
    return None


class PG:
    """A throwaway cluster; .sql(text, stdin=None) runs psql and returns stdout."""

    def __init__(self):
        self.bindir = pg_bindir()
        if not self.bindir:
            pytest.skip("PostgreSQL server binaries not found under /usr/lib/postgresql "
                        "(Debian package postgresql)")
        self.psql = shutil.which("psql") or os.path.join(self.bindir, "psql")
        self.base = tempfile.mkdtemp(prefix="tincan-pg-")
        self.data = os.path.join(self.base, "data")
        self.sock = self.base
        self.port = random.randint(20000, 60000)  # only names the socket file
        self.dsn = "host=%s port=%d user=postgres dbname=postgres" % (self.sock, self.port)
        self.prefix = []
        if os.geteuid() == 0:
            runuser = shutil.which("runuser")
            if not runuser:
                pytest.skip("running as root and runuser(1) is missing: PostgreSQL "
                            "cannot run as root")
            import pwd
            pw = pwd.getpwnam("nobody")
            os.chown(self.base, pw.pw_uid, pw.pw_gid)
            os.chmod(self.base, 0o700)
            self.prefix = [runuser, "-u", "nobody", "--"]
        self.run([os.path.join(self.bindir, "initdb"), "-D", self.data, "-A", "trust",
                  "-U", "postgres", "-E", "UTF8", "--locale=C", "--no-sync"])
        opts = "-c listen_addresses='' -k %s -p %d -c fsync=off " \
               "-c full_page_writes=off -c synchronous_commit=off" % (self.sock, self.port)
        self.run([os.path.join(self.bindir, "pg_ctl"), "-D", self.data, "-o", opts,
                  "-l", os.path.join(self.base, "log"), "-w", "-t", "60", "start"])

    def run(self, argv, **kw):
        p = subprocess.run(self.prefix + argv, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=RUN_TIMEOUT, **kw)
        if p.returncode != 0:
            raise RuntimeError("%s failed (%d): %s %s" % (argv[0], p.returncode,
                               p.stdout.decode()[-2000:], p.stderr.decode()[-2000:]))
        return p.stdout

    def sql(self, text, stdin=None, check=True):
        argv = [self.psql, "-h", self.sock, "-p", str(self.port), "-U", "postgres",
                "-d", "postgres", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                "-c", text]
        p = subprocess.run(argv, input=stdin, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=RUN_TIMEOUT)
        if check and p.returncode != 0:
            raise RuntimeError("psql %r failed: %s" % (text[:200], p.stderr.decode()))
        return p if not check else p.stdout.decode("utf-8")

    def stop(self):
        try:
            self.run([os.path.join(self.bindir, "pg_ctl"), "-D", self.data, "-m",
                      "immediate", "-w", "stop"])
        finally:
            shutil.rmtree(self.base, ignore_errors=True)


def pg_fixture():
    p = PG()
    try:
        yield p
    finally:
        p.stop()
