"""packaging/tincan.conf, the sample config: the server starts with it, it
names every setting the server has (a new setting without a sample line fails
here), and every value in it is the server's built-in default (except dir,
which it sets for the packaged service).

Lines `name value` are settings; lines `#name value` (no space after #) are
settings left off on purpose; `# text` is prose."""

import re
import socket

from conftest import REPO, call

SAMPLE = REPO / "packaging" / "tincan.conf"
# Set on purpose in the sample, to the packaged service's value.
PACKAGED = {"dir": "/var/lib/tincan"}

SETTING_RE = re.compile(r"^(#?)([a-z][a-z0-9-]*)[ \t]+(.*)$")


def sample_lines():
    """[(name, value, commented_out)] in file order."""
    out = []
    for line in SAMPLE.read_text().splitlines():
        m = SETTING_RE.match(line)
        if m:
            out.append((m.group(2), m.group(3).strip(), m.group(1) == "#"))
    return out


def server_config(srv):
    reply = call(srv.client(), "CONFIG", "GET", "*")
    return dict(zip(reply[0::2], reply[1::2]))


def test_sample_starts_the_server_and_flags_override_it(tincan):
    srv = tincan(config_file=SAMPLE)  # conftest adds --port 0 --dir <tmp> --bind
    assert srv.client().ping() is True
    conf = server_config(srv)
    assert conf["dir"] == str(srv.dir)
    assert conf["port"] == "0"  # the flag, not the file's 6380


def test_sample_names_every_setting_once(tincan):
    lines = sample_lines()
    names = [n for n, _, _ in lines]
    dupes = sorted({n for n in names if names.count(n) > 1})
    assert not dupes, "settings listed twice in %s: %s" % (SAMPLE, dupes)
    known = set(server_config(tincan()))
    missing = sorted(known - set(names))
    assert not missing, ("settings of the server without a line in %s: %s"
                         % (SAMPLE, missing))
    unknown_active = sorted(n for n, _, off in lines if not off and n not in known)
    assert not unknown_active, unknown_active


def test_sample_values_are_the_defaults(tincan):
    with_sample = server_config(tincan(config_file=SAMPLE))
    built_in = server_config(tincan())
    for name, value in PACKAGED.items():
        assert dict((n, v) for n, v, _ in sample_lines())[name] == value
    differ = sorted(n for n in built_in
                    if n not in PACKAGED and with_sample.get(n) != built_in[n])
    assert not differ, ["%s: sample %r, default %r" % (n, with_sample.get(n), built_in[n])
                        for n in differ]


def test_commented_out_lines_are_settings(tincan):
    known = set(server_config(tincan()))
    off = sorted(n for n, _, commented in sample_lines() if commented)
    assert {"http-port", "http-bind"} <= set(off)  # the listener is off by default
    strange = [n for n in off if n not in known]
    assert not strange, "commented-out lines that are no setting: %s" % strange


def test_commented_out_http_lines_work_uncommented(tincan, tmp_path):
    # Removing the # of the HTTP lines gives a config the server starts with.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    text = SAMPLE.read_text().replace("\n#http-port 9090\n", "\nhttp-port %d\n" % port)
    text = text.replace("\n#http-bind ", "\nhttp-bind ")
    conf = tmp_path / "uncommented.conf"
    conf.write_text(text)
    srv = tincan(config_file=conf)
    assert server_config(srv)["http-port"] == str(port)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as c:
        c.sendall(b"GET /healthz HTTP/1.0\r\n\r\n")
        assert c.recv(4096).split(b"\r\n", 1)[0].endswith(b" 200 OK")
