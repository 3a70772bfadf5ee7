"""`cnncalc serve`: the watcher (cnncalc/serve.py's Live) in-process; the server over HTTP with
http.client on 127.0.0.1 (404 for every other path, the event stream, the default host); the process
(its URL line, SIGINT → exit 0, a taken port → one line and exit 1); and, in headless Chromium, the
page following saves of the spec (tests/chromium.py skips where Chromium is absent)."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest
import typer

from cnncalc import serve as live_mod
from cnncalc.cli import app

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LENET = os.path.join(ROOT, "specs", "lenet5.yaml")
BROKEN_LINE = 7  # lenet5.yaml's first conv, made an unknown kind below


def _texts():
    original = open(LENET, encoding="utf-8").read()
    assert "  - conv: {filters: 8, kernel: 5}\n" in original
    changed = original.replace("conv: {filters: 8, kernel: 5}", "conv: {filters: 12, kernel: 5}")
    broken = original.replace("conv: {filters: 8, kernel: 5}", "convv: {filters: 8, kernel: 5}")
    assert original.splitlines()[BROKEN_LINE - 1].startswith("  - conv: {filters: 8")
    return original, changed, broken


def save(path, text: str, same_stat_as=None) -> None:
    """Save as many editors do: write a new file beside it, then rename it over the old one.
    same_stat_as: give the new file that file's mtime (as a save within one clock tick would have)."""
    tmp = f"{path}.tmp~"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    if same_stat_as is not None:
        st = os.stat(same_stat_as)
        os.utime(tmp, ns=(st.st_atime_ns, st.st_mtime_ns))
    os.replace(tmp, path)


@pytest.fixture
def spec(tmp_path):
    path = tmp_path / "net.yaml"
    shutil.copy(LENET, path)
    return str(path)


# ---------------------------------------------------------------- the watcher, in-process

def test_the_watcher_sees_a_file_renamed_over_the_spec_with_the_same_size_and_mtime(spec):
    original, _, _ = _texts()
    live = live_mod.Live(spec)
    assert live.check() and 'data-row="conv1"' in live.state.html
    assert live.check() is False  # nothing changed
    # same length as the original (8 → 9), same mtime: only the inode tells the files apart
    same_length = original.replace("filters: 8, kernel: 5", "filters: 9, kernel: 5")
    assert len(same_length) == len(original)
    save(spec, same_length, same_stat_as=spec)
    assert live.check() is True
    assert "28×28×9" in live.state.html  # conv1: (32 − 5) + 1 = 28, 9 filters


def test_a_broken_spec_keeps_the_last_good_picture_and_a_fixed_one_clears_the_error(spec):
    original, changed, broken = _texts()
    live = live_mod.Live(spec)
    live.check()
    save(spec, changed)
    assert live.check()
    good = live.state.html
    assert "28×28×12" in good and live.state.error is None
    save(spec, broken)
    assert live.check()
    assert live.state.error is not None and f"net.yaml:{BROKEN_LINE}:" in live.state.error
    assert "convv" in live.state.error and "\n" not in live.state.error
    assert live.state.html == good
    save(spec, original)
    assert live.check()
    assert live.state.error is None and "28×28×8" in live.state.html


def test_a_spec_broken_from_the_start_has_no_picture_until_it_is_fixed(spec):
    original, _, broken = _texts()
    save(spec, broken)
    live = live_mod.Live(spec)
    live.check()
    assert live.state.html is None and f":{BROKEN_LINE}:" in live.state.error
    save(spec, original)
    live.check()
    assert live.state.error is None and 'data-row="conv1"' in live.state.html


# ---------------------------------------------------------------- the server, over HTTP

@pytest.fixture
def server(spec):
    srv, live = live_mod.start(spec, port=0)
    watcher = threading.Thread(target=live.watch, daemon=True)
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    watcher.start()
    thread.start()
    yield srv, live
    live.stop()
    srv.shutdown()
    srv.server_close()
    thread.join(10)
    watcher.join(10)


def _get(srv, path: str):
    host, port = srv.server_address[:2]
    conn = http.client.HTTPConnection(host, port, timeout=10)
    conn.request("GET", path)  # sent as written: http.client does not resolve '..'
    response = conn.getresponse()
    body = response.read()
    conn.close()
    return response.status, response.getheader("Content-Type"), body


def test_the_default_address_is_this_machine_only(spec):
    command = typer.main.get_command(app).commands["serve"]
    defaults = {p.name: p.default for p in command.params}
    assert defaults["host"] == "127.0.0.1" and defaults["port"] == 8000
    srv, live = live_mod.start(spec, port=0)
    try:
        assert srv.server_address[0] == "127.0.0.1"
        assert live_mod.url(srv) == f"http://127.0.0.1:{srv.server_address[1]}/"
    finally:
        srv.server_close()


@pytest.mark.parametrize("path", ["/../etc/passwd", "/net.yaml", "/spec.yaml", "/%2e%2e/etc/passwd",
                                  "//etc/passwd", "/index.html", "/events/../net.yaml", "/favicon.ico",
                                  "/" + os.path.basename(LENET), "/..%2fnet.yaml"])
def test_every_other_path_is_404_and_never_a_file(server, path):
    srv, _ = server
    status, _, body = _get(srv, path)
    assert status == 404
    assert b"conv" not in body and b"root:" not in body


@pytest.mark.parametrize("host,status", [("evil.example", 403), ("evil.example:80", 403), ("127.0.0.1.evil.example", 403),
                                         ("localhost", 200), ("127.0.0.1", 200)])
def test_only_requests_naming_this_machine_are_answered(server, host, status):
    srv, _ = server
    conn = http.client.HTTPConnection(*srv.server_address[:2], timeout=10)
    conn.putrequest("GET", "/", skip_host=True)
    conn.putheader("Host", f"{host}:{srv.server_address[1]}" if ":" not in host else host)
    conn.endheaders()
    response = conn.getresponse()
    body = response.read()
    conn.close()
    assert response.status == status
    assert (b"data-row" in body) == (status == 200)


def test_the_page_and_the_first_event(server):
    srv, _ = server
    status, content_type, body = _get(srv, "/?file=net.yaml")  # a query reaches nothing either
    assert status == 200 and content_type.startswith("text/html")
    text = body.decode("utf-8")
    assert 'data-row="conv1"' in text and 'new EventSource("/events")' in text
    assert "filters: 8" not in text  # the page, not the spec file
    host, port = srv.server_address[:2]
    conn = http.client.HTTPConnection(host, port, timeout=10)
    conn.request("GET", "/events")
    response = conn.getresponse()
    assert response.status == 200 and response.getheader("Content-Type").startswith("text/event-stream")
    line = response.fp.readline().decode("utf-8")
    conn.close()
    assert line.startswith("data: ")
    message = json.loads(line[len("data: "):])
    assert message["error"] is None and 'data-row="conv2"' in message["html"]


def test_a_save_reaches_the_event_stream(server, spec):
    srv, _ = server
    _, changed, broken = _texts()
    host, port = srv.server_address[:2]
    # a read waits at most 10 s, below the stream's 15 s keep-alive: a change never sent fails here
    conn = http.client.HTTPConnection(host, port, timeout=10)
    conn.request("GET", "/events")
    response = conn.getresponse()

    def next_message():
        for _ in range(4):  # a message is a data line and a blank one
            line = response.fp.readline().decode("utf-8")
            if line.startswith("data: "):
                return json.loads(line[len("data: "):])
        raise AssertionError("no event")

    first = next_message()
    save(spec, changed)
    second = next_message()
    assert "28×28×12" in second["html"] and second["error"] is None
    save(spec, broken)
    third = next_message()
    assert f"net.yaml:{BROKEN_LINE}:" in third["error"] and third["html"] == second["html"]
    conn.close()
    assert first["html"] != second["html"]


# ---------------------------------------------------------------- the process

def _start(spec, *args):
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen([sys.executable, "-m", "cnncalc", "serve", os.path.basename(spec), "--port", "0", *args],
                            cwd=os.path.dirname(spec), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    line = proc.stdout.readline()  # the URL line; the process ends (and this returns '') on a failure
    if "http://" not in line:
        proc.kill()
        out, err = proc.communicate(timeout=30)
        raise AssertionError(f"no URL line: {line!r} {out!r} {err!r}")
    url = next(word for word in line.split() if word.startswith("http://"))
    return proc, url


def _stop(proc) -> tuple[int, str]:
    proc.send_signal(signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise
    return proc.returncode, err


def test_the_process_prints_its_url_and_stops_on_sigint_with_exit_0(spec):
    proc, url = _start(spec)
    assert url.startswith("http://127.0.0.1:") and url.endswith("/")
    port = int(url.rsplit(":", 1)[1].rstrip("/"))
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", "/")
    assert conn.getresponse().status == 200
    conn.close()
    code, err = _stop(proc)
    assert code == 0 and "Traceback" not in err, err


def test_a_taken_port_is_one_line_and_exit_1(spec):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
        result = subprocess.run([sys.executable, "-m", "cnncalc", "serve", spec, "--port", str(port)],
                                env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert f"127.0.0.1:{port}" in result.stderr and "--port" in result.stderr


def test_a_missing_spec_and_standard_input_are_refused(tmp_path):
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    missing = subprocess.run([sys.executable, "-m", "cnncalc", "serve", str(tmp_path / "nope.yaml"), "--port", "0"],
                             env=env, capture_output=True, text=True, timeout=60)
    assert missing.returncode == 1 and "no such spec file" in missing.stderr and "Traceback" not in missing.stderr
    stdin = subprocess.run([sys.executable, "-m", "cnncalc", "serve", "-", "--port", "0"],
                           env=env, capture_output=True, text=True, timeout=60, input="")
    assert stdin.returncode == 2 and "standard input" in stdin.stderr


# ---------------------------------------------------------------- in headless Chromium

def _until(check, what: str, tries: int = 100):
    """Poll check() up to `tries` × 0.1 s (a bound, not a timed assertion); its last value."""
    for _ in range(tries):
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"not within {tries / 10:.0f} s: {what}")


def test_the_live_page_follows_saves_in_chromium(spec):
    from tests import chromium

    driver = chromium.start()
    proc = None
    try:
        from selenium.webdriver.common.by import By

        original, changed, broken = _texts()
        proc, url = _start(spec)
        driver.get(url)

        def cell(name):
            rows = driver.find_elements(By.CSS_SELECTOR, f'tr[data-row="{name}"]')
            return rows[0].text if rows else ""

        def banner():
            el = driver.find_element(By.ID, "error")
            return el.text if el.is_displayed() else ""

        _until(lambda: "28×28×8" in cell("conv1"), "the first picture")
        layers = len(driver.find_elements(By.CSS_SELECTOR, "g.layer"))
        assert layers >= 13 and banner() == ""

        save(spec, changed)
        _until(lambda: "28×28×12" in cell("conv1"), "the changed spec's table")

        save(spec, broken)
        line = _until(banner, "the error banner")
        assert f"net.yaml:{BROKEN_LINE}:" in line and "convv" in line
        # the last good picture and table stay under it
        assert len(driver.find_elements(By.CSS_SELECTOR, "g.layer")) == layers
        assert "28×28×12" in cell("conv1")

        save(spec, original)
        _until(lambda: banner() == "" and "28×28×8" in cell("conv1"), "the fixed spec, banner gone")
        assert chromium.console_errors(driver) == []
    finally:
        driver.quit()
        if proc is not None:
            code, err = _stop(proc)
            assert code == 0 and "Traceback" not in err, err
