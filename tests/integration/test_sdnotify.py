"""sd_notify (systemd Type=notify): the server sends READY=1 to $NOTIFY_SOCKET
only once its RESP port accepts, STOPPING=1 when SIGTERM starts the shutdown,
on a path socket and on an abstract one; a NOTIFY_SOCKET it cannot use is a
logged warning, not a failure to serve.

The test plays systemd: it binds the unix datagram socket itself and reads
what the real server binary sends there."""

import os
import signal
import socket
import threading

import pytest

NOTIFY_TIMEOUT = 15.0  # s, for each datagram


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bind_notify(name):
    """A datagram socket bound where $NOTIFY_SOCKET=name points ("@x" is
    abstract)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name[1:] if name.startswith("@") else name)
    sock.settimeout(NOTIFY_TIMEOUT)
    return sock


def fields(datagram):
    """'READY=1\\nSTATUS=x' -> {'READY': '1', 'STATUS': 'x'}"""
    return dict(line.split("=", 1) for line in datagram.decode().split("\n") if line)


def ping(port):
    with socket.create_connection(("127.0.0.1", port), timeout=2.0) as c:
        c.sendall(b"*1\r\n$4\r\nPING\r\n")
        return c.recv(64)


def start_and_watch(tincan, notify_name):
    """Starts a server with NOTIFY_SOCKET=notify_name and returns (server,
    sock, ready fields, PING reply sent the moment READY arrived)."""
    sock = bind_notify(notify_name)
    port = free_port()
    srv = tincan("--port", port, env={"NOTIFY_SOCKET": notify_name}, start=False)
    errors = []

    def run():
        try:
            srv.start()
        except BaseException as e:  # pytest.fail inside the thread
            errors.append(e)

    t = threading.Thread(target=run)
    t.start()
    try:
        ready = fields(sock.recv(4096))
        pong = ping(port)  # at once: the port must already accept
    finally:
        t.join(NOTIFY_TIMEOUT + 15)
    assert not errors, errors
    assert srv.port == port
    return srv, sock, ready, pong


def check_lifecycle(tincan, notify_name):
    srv, sock, ready, pong = start_and_watch(tincan, notify_name)
    with sock:
        assert ready["READY"] == "1"
        assert ready["STATUS"] == "serving on 127.0.0.1:%d" % srv.port
        assert pong == b"+PONG\r\n"
        srv.client().execute_command("EV.PUB", "order.created", "{}")  # serving
        sock.settimeout(0.2)
        with pytest.raises(socket.timeout):
            sock.recv(4096)
        sock.settimeout(NOTIFY_TIMEOUT)
        srv.proc.send_signal(signal.SIGTERM)
        stopping = fields(sock.recv(4096))
        assert stopping["STOPPING"] == "1"
        assert srv.wait_exit() == 0


def test_ready_after_listen_and_stopping_on_sigterm(tincan, tmp_path):
    check_lifecycle(tincan, str(tmp_path / "notify.sock"))


def test_abstract_notify_socket(tincan):
    check_lifecycle(tincan, "@tincan-test-notify-%d-%s" % (os.getpid(),
                                                          os.urandom(4).hex()))


def test_unusable_notify_socket_is_a_warning(tincan, tmp_path):
    missing = str(tmp_path / "nobody-listens.sock")
    for name in ("relative/notify.sock", missing):
        srv = tincan(env={"NOTIFY_SOCKET": name})
        assert srv.client().ping() is True
        assert srv.stop() == 0
        err = srv.stderr_text()
        assert "sd_notify: NOTIFY_SOCKET" in err and name in err, err


def test_no_notify_socket_no_message(tincan):
    env_without = {k: v for k, v in os.environ.items() if k != "NOTIFY_SOCKET"}
    srv = tincan(start=False)
    srv.env = env_without
    srv.start()
    assert srv.client().ping() is True
    assert srv.stop() == 0
    assert "sd_notify" not in srv.stderr_text()
