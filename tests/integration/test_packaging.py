"""Packaging: `make release`'s binaries (what is linked statically, stripped
with separate debug info), the FROM scratch root filesystem of
scripts/release-rootfs.sh run for real (chroot, as the non-root user, data in
a mounted directory), the Dockerfile where a docker daemon answers, and the
systemd unit through `systemd-analyze verify` and `security`.

The release build is made here (`make BUILD=$BUILD release`, a no-op when it
is up to date), so that `make check` and `make asan` both cover it."""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from conftest import READY_RE, REPO, TincanServer, call, make_client, wait_until

BUILD = os.environ.get("BUILD", "build")
REL = REPO / BUILD / "release"
SERVICE_UID = 10001
# Linked from Debian's .a files: none may show up in ldd.
STATIC = ("libuv", "libjansson", "libpcre2", "libprotobuf-c", "libhiredis",
          "libsnappy", "libstdc++", "libhttp_parser")
# Shared on purpose (docs/operations.md, "Packaging").
SHARED = ("libcurl.so", "libc.so")
MAKE_TIMEOUT = 900  # s
SECURITY_MAX = 2.0  # systemd-analyze security exposure, 0 (best) .. 10


@pytest.fixture(scope="module")
def release():
    r = subprocess.run(["make", "-s", "BUILD=" + BUILD, "release"], cwd=REPO,
                       capture_output=True, text=True, timeout=MAKE_TIMEOUT)
    assert r.returncode == 0, "make release failed:\n" + r.stdout + r.stderr
    return REL


def ldd(path):
    return subprocess.run(["ldd", str(path)], capture_output=True, text=True,
                          check=True).stdout


def sections(path):
    out = subprocess.run(["readelf", "-S", "-W", str(path)], capture_output=True,
                         text=True, check=True).stdout
    return set(re.findall(r"\]\s+(\.\S+)", out))


@pytest.mark.parametrize("name", ["tincan-server", "tincan"])
def test_release_binary_links_debian_archives(release, name):
    deps = ldd(release / name)
    for lib in STATIC:
        assert lib not in deps, "%s links %s dynamically:\n%s" % (name, lib, deps)
    for lib in SHARED:
        assert lib in deps, deps
    secs = sections(release / name)
    assert ".symtab" not in secs and ".debug_info" not in secs, "not stripped"
    assert ".gnu_debuglink" in secs
    assert ".debug_info" in sections(release / (name + ".debug"))
    r = subprocess.run([str(release / name), "--help"], capture_output=True,
                       text=True, timeout=10)
    assert r.returncode in (0, 2) and "usage" in (r.stdout + r.stderr).lower()


# ---- the FROM scratch root filesystem, run in a chroot ----

class ChrootServer(TincanServer):
    """The release server inside root filesystem `root`, as SERVICE_UID, in a
    private mount namespace where self.dir (on the host) is mounted on /data:
    what `docker run -v <dir>:/data` does. unshare and sh exec into chroot,
    and chroot into the server, so the pid is the server's."""

    def __init__(self, workdir, root):
        super().__init__(workdir, binary=root / "usr/bin/tincan-server")
        self.root = root

    def jailed(self, command):
        """argv running command (words) inside the root filesystem."""
        inner = ("mount --bind '%s' '%s/data' && exec chroot --userspec=%d:%d '%s' %s"
                 % (self.dir, self.root, SERVICE_UID, SERVICE_UID, self.root, command))
        return ["unshare", "--mount", "--propagation", "private", "sh", "-c", inner]

    def command_line(self):
        return self.jailed("/usr/bin/tincan-server /etc/tincan/tincan.conf "
                           "--dir /data --port 0 --bind 127.0.0.1")


@pytest.fixture
def rootfs(release, tmp_path):
    if os.geteuid() != 0:
        pytest.skip("chroot and mount need root")
    for tool in ("unshare", "chroot", "mount"):
        if not shutil.which(tool):
            pytest.skip("%s is not installed" % tool)
    root = tmp_path / "rootfs"
    r = run_rootfs_script(str(root))
    assert r.returncode == 0, r.stdout + r.stderr
    return root


def run_rootfs_script(*args, **env):
    return subprocess.run(["sh", "scripts/release-rootfs.sh", *args], cwd=REPO,
                          env={**os.environ, "BUILD": BUILD, **env},
                          capture_output=True, text=True, timeout=120)


def test_rootfs_script_refuses_bad_input(release, tmp_path):
    full = tmp_path / "full"
    full.mkdir()
    (full / "keep").write_text("mine")
    r = run_rootfs_script(str(full))
    assert r.returncode == 1 and "is not empty" in r.stderr
    assert [p.name for p in full.iterdir()] == ["keep"]
    for uid in ("0", "abc", "-5"):
        r = run_rootfs_script(str(tmp_path / "new"), TINCAN_UID=uid)
        assert r.returncode == 2 and "TINCAN_UID" in r.stderr, (uid, r.stderr)
    r = run_rootfs_script(str(tmp_path / "new"), BUILD="no-such-build")
    assert r.returncode == 1 and "make BUILD=no-such-build release" in r.stderr
    r = run_rootfs_script()
    assert r.returncode == 2 and "usage" in r.stderr
    assert not (tmp_path / "new").exists()


def test_rootfs_holds_only_what_the_binaries_need(rootfs):
    files = {str(p.relative_to(rootfs)) for p in rootfs.rglob("*") if p.is_file()}
    assert "usr/bin/tincan-server" in files and "usr/bin/tincan" in files
    assert "etc/ssl/certs/ca-certificates.crt" in files
    assert not any(f.endswith("/sh") or f.endswith("bash") for f in files), files
    libs = {Path(f).name for f in files if ".so" in f}
    needed = set()
    for b in ("tincan-server", "tincan"):
        for line in ldd(rootfs / "usr/bin" / b).splitlines():
            m = re.search(r"(/\S+\.so[.\d]*)", line)
            if m:
                needed.add(Path(m.group(1)).name)
    assert libs == needed
    passwd = (rootfs / "etc/passwd").read_text()
    assert "tincan:x:%d:%d:" % (SERVICE_UID, SERVICE_UID) in passwd
    st = (rootfs / "data").stat()
    assert (st.st_uid, st.st_gid) == (SERVICE_UID, SERVICE_UID)


def test_rootfs_serves_as_non_root_with_data_in_the_mount(rootfs, tmp_path):
    work = tmp_path / "run"
    work.mkdir()
    srv = ChrootServer(work, rootfs)
    os.chown(srv.dir, SERVICE_UID, SERVICE_UID)
    srv.start()
    try:
        with open("/proc/%d/status" % srv.pid) as f:
            uids = re.search(r"^Uid:\s+(\d+)\s+(\d+)", f.read(), re.M).groups()
        assert uids == (str(SERVICE_UID), str(SERVICE_UID))
        assert os.readlink("/proc/%d/root" % srv.pid) == str(rootfs)
        c = srv.client()
        assert c.ping() is True
        assert call(c, "EV.PUB", "order.created", '{"id": 1}') == 1
        assert call(c, "CONFIG", "GET", "dir") == ["dir", "/data"]
    finally:
        rc = srv.stop(signal.SIGTERM)
    assert rc == 0, srv.stderr_text()
    assert not srv.problems, srv.problems
    owned = [p for p in srv.dir.rglob("*")]
    assert any(p.is_dir() and p.name == "events" for p in owned), owned
    assert all(p.stat().st_uid == SERVICE_UID for p in owned)
    assert not any((rootfs / "data").iterdir()), "data went under the mount"
    # The image's CLI, jailed the same way, reads what the server wrote.
    r = subprocess.run(srv.jailed("/usr/bin/tincan inspect /data"),
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "order.created" in r.stdout, r.stdout + r.stderr


# ---- Docker ----

def dockerfile_final_stage():
    """{instruction: [arguments, ...]} of the Dockerfile's last stage."""
    text = (REPO / "Dockerfile").read_text()
    last = text.rsplit("\nFROM ", 1)[1]
    out = {"FROM": [last.split("\n", 1)[0].strip()]}
    for line in last.split("\n")[1:]:
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.setdefault(word, []).append(rest.strip())
    return out


def test_dockerfile_final_stage_matches_the_rootfs(rootfs):
    # What the chroot test ran is what the image holds and starts.
    final = dockerfile_final_stage()
    assert final["FROM"] == ["scratch"]
    assert final["USER"] == ["%d:%d" % (SERVICE_UID, SERVICE_UID)]
    assert final["VOLUME"] == ["/data"]
    sample = (REPO / "packaging/tincan.conf").read_text()
    port = re.search(r"(?m)^port (\d+)$", sample).group(1)
    assert final["EXPOSE"] == [port]
    entry = json.loads(final["ENTRYPOINT"][0])
    assert (rootfs / entry[0].lstrip("/")).is_file()
    assert (rootfs / entry[1].lstrip("/")).read_text() == sample
    assert entry[2:] == ["--dir", "/data", "--bind", "0.0.0.0"]
    assert "HEALTHCHECK" not in final  # no shell or probe in the image


def test_dockerfile_builds_where_docker_runs(release):
    if not shutil.which("docker"):
        pytest.skip("docker is not installed")
    info = subprocess.run(["docker", "info"], capture_output=True, text=True,
                          timeout=30)
    if info.returncode != 0:
        pytest.skip("no docker daemon answers `docker info`: %s"
                    % (info.stderr.strip().splitlines() or ["?"])[-1])
    tag = "tincan-test:%d" % os.getpid()
    b = subprocess.run(["docker", "build", "-t", tag, "."], cwd=REPO,
                       capture_output=True, text=True, timeout=1800)
    assert b.returncode == 0, b.stdout[-4000:] + b.stderr[-4000:]
    try:
        r = subprocess.run(["docker", "run", "--rm", tag, "--version"],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0 and "tincan-server" in r.stdout, r.stdout + r.stderr
        u = subprocess.run(["docker", "image", "inspect", "-f",
                            "{{.Config.User}} {{json .Config.Volumes}}", tag],
                           capture_output=True, text=True, timeout=30)
        assert u.stdout.startswith("%d:%d " % (SERVICE_UID, SERVICE_UID))
        assert '"/data"' in u.stdout
    finally:
        subprocess.run(["docker", "image", "rm", "-f", tag], capture_output=True,
                       timeout=60)


# ---- systemd ----

@pytest.fixture
def unit(release, tmp_path):
    if not shutil.which("systemd-analyze"):
        pytest.skip("systemd-analyze is not installed")
    text = (REPO / "packaging/tincan.service").read_text()
    text, n = re.subn(r"(?m)^ExecStart=\S+ \S+$", "ExecStart=%s %s" % (
        release / "tincan-server", REPO / "packaging/tincan.conf"), text)
    assert n == 1, "ExecStart= line not found"
    path = tmp_path / "tincan.service"
    path.write_text(text)
    return path


def test_unit_verifies_without_a_warning(unit):
    r = subprocess.run(["systemd-analyze", "verify", str(unit)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stderr.strip() == "", r.stdout + r.stderr
    text = unit.read_text()
    assert "\nType=notify\n" in text and "\nDynamicUser=yes\n" in text


def test_unit_verify_catches_a_bad_line(unit):
    # The check above means something: a misspelt key is reported.
    unit.write_text(unit.read_text().replace("ProtectHome=", "ProtectHom="))
    r = subprocess.run(["systemd-analyze", "verify", str(unit)],
                       capture_output=True, text=True, timeout=60)
    assert "ProtectHom" in r.stderr


def test_unit_exposure_is_low(unit):
    r = subprocess.run(["systemd-analyze", "security", "--offline=yes", str(unit)],
                       capture_output=True, text=True, timeout=60)
    m = re.search(r"Overall exposure level for \S+: ([\d.]+)", r.stdout + r.stderr)
    assert m, r.stdout + r.stderr
    assert float(m.group(1)) <= SECURITY_MAX, r.stdout


# ---- the unit's system call filter, against what the server really calls ----

def filter_group(name, seen=None):
    """The system calls of a SystemCallFilter word (@group, expanded, or a name)."""
    if not name.startswith("@"):
        return {name}
    seen = set() if seen is None else seen
    if name in seen:
        return set()
    seen.add(name)
    out = subprocess.run(["systemd-analyze", "syscall-filter", name],
                         capture_output=True, text=True, check=True, timeout=30).stdout
    calls = set()
    for line in out.splitlines()[1:]:
        word = line.strip()
        if word and not word.startswith("#"):
            calls |= filter_group(word, seen)
    return calls


def unit_syscall_filter():
    """(allowed, denied) system calls of packaging/tincan.service."""
    allowed, denied = set(), set()
    text = (REPO / "packaging/tincan.service").read_text()
    for words in re.findall(r"(?m)^SystemCallFilter=(.*)$", text):
        deny = words.startswith("~")
        for w in words.lstrip("~").split():
            (denied if deny else allowed).update(filter_group(w))
    return allowed, denied


STRACE_LINE = re.compile(r"^\d+\s+(?:<\.\.\. )?([a-z0-9_]+)(?:\(| resumed>)")


def test_release_server_stays_within_the_unit_syscall_filter(release, tmp_path):
    """A server under the unit's SystemCallFilter that makes a call outside it
    gets EPERM (SystemCallErrorNumber): strace the release server through
    start, every kind of command, an HTTP request, an archive file, a
    checkpoint and shutdown, and require each call it made to be allowed."""
    for tool in ("strace", "systemd-analyze"):
        if not shutil.which(tool):
            pytest.skip("%s is not installed" % tool)
    allowed, denied = unit_syscall_filter()
    assert "write" in allowed and "setuid" in denied  # the expansion worked
    trace, out = tmp_path / "strace.txt", tmp_path / "stdout.txt"
    archive = tmp_path / "archive"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        http_port = s.getsockname()[1]
    cmd = ["strace", "-f", "-qq", "-s", "4096", "-o", str(trace),
           str(release / "tincan-server"),
           str(REPO / "packaging/tincan.conf"), "--dir", str(tmp_path / "data"),
           "--port", "0", "--bind", "127.0.0.1", "--archive-to", str(archive),
           "--archive-max-age", "1", "--http-port", str(http_port)]
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)  # as systemd's
    notify.bind(str(tmp_path / "notify.sock"))
    notify.settimeout(30)
    env = dict(os.environ, NOTIFY_SOCKET=str(tmp_path / "notify.sock"))
    with open(out, "wb") as f:
        proc = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env=env)
    try:
        m = wait_until(lambda: READY_RE.search(out.read_bytes()), timeout=30,
                       what="readiness line under strace")
        assert notify.recv(4096).startswith(b"READY=1")
        c = make_client("127.0.0.1", int(m.group(1)))
        for i in range(20):
            call(c, "EV.PUB", "order.created", '{"id": %d}' % i)
        call(c, "EV.SUB", "billing", "order.*", "FROM", "BEGINNING")
        assert len(call(c, "EV.READ", "billing", "c1", "COUNT", "5")) > 0
        call(c, "Q.PUSH", "jobs", "x")
        assert call(c, "Q.POP", "jobs", "LEASE", "1000")
        call(c, "LOCK.ACQUIRE", "cron", "w1", "5000")
        call(c, "RING.JOIN", "api", "localhost:%d" % int(m.group(1)), "TTL", "10000")
        call(c, "RING.CHECK", "api", "TCP", "INTERVAL", "100")
        call(c, "XADD", "s", "*", "f", "v")
        call(c, "CONFIG", "SET", "loglevel", "debug")
        call(c, "INFO")
        call(c, "BGREWRITEAOF")
        call(c, "ARCHIVE.FLUSH")
        with socket.create_connection(("127.0.0.1", http_port), timeout=5) as h:
            h.sendall(b"GET /healthz HTTP/1.0\r\n\r\n")
            assert b" 200 " in h.recv(4096)
        wait_until(lambda: list(archive.rglob("*.parquet")), timeout=30,
                   what="an archive file")
        time.sleep(0.3)  # a few ring probes (getaddrinfo, connect)
        c.close()
        os.kill(int(m.group(2)), signal.SIGTERM)
        assert proc.wait(60) == 0, out.read_text()
        assert notify.recv(4096).startswith(b"STOPPING=1")
    finally:
        notify.close()
        if proc.poll() is None:
            # Killing strace would leave the traced server running: kill it first.
            ready = READY_RE.search(out.read_bytes())
            if ready:
                try:
                    os.kill(int(ready.group(2)), signal.SIGKILL)
                except ProcessLookupError:
                    pass
            proc.kill()
            proc.wait()
    lines = trace.read_text().splitlines()
    used = {m.group(1) for m in map(STRACE_LINE.match, lines) if m}
    assert {"execve", "fdatasync", "epoll_wait", "connect", "sendto"} <= used, sorted(used)
    outside = sorted(used - (allowed - denied))
    assert not outside, "system calls the unit's filter refuses: %s" % outside
    # ProtectSystem=strict leaves only the state directory writable (here:
    # tmp_path, the data and archive dirs), ProcSubset=pid only /proc/<pid>.
    written, proc_files = written_and_proc_paths(lines)
    assert any(p.endswith(".ckpt") for p in written), written
    elsewhere = sorted(p for p in written if not p.startswith(str(tmp_path) + "/"))
    assert not elsewhere, "writes outside the state directory: %s" % elsewhere
    assert "/proc/self/statm" in proc_files  # INFO memory
    bad_proc = sorted(p for p in proc_files
                      if not re.match(r"/proc/(self|thread-self|\d+)/", p))
    assert not bad_proc, "ProcSubset=pid hides these: %s" % bad_proc


WRITE_CALL = re.compile(r'^\d+\s+(openat|open|creat|mkdir|rename|unlink|rmdir|truncate|'
                        r'link|symlink)\((?:AT_FDCWD, )?"([^"]*)"(?:, "([^"]*)")?(.*)$')


def written_and_proc_paths(lines):
    """(paths the traced process created, changed or opened for writing,
    /proc paths it opened) from strace -f -s 4096 output."""
    written, proc_files = set(), set()
    for line in lines:
        m = WRITE_CALL.match(line)
        if not m:
            continue
        call_, path, path2, rest = m.groups()
        if path.startswith("/proc/"):
            proc_files.add(path)
        if call_ in ("openat", "open"):
            if not re.search(r"O_WRONLY|O_RDWR|O_CREAT|O_TRUNC", rest):
                continue
        elif call_ == "mkdir" and "EEXIST" in rest:
            continue  # make_dir walks the parents of --dir
        written.update(p for p in (path, path2) if p)
    return written, proc_files
