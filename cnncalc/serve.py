"""`cnncalc serve`: a local page that redraws a spec whenever it is saved.

A watcher thread looks at the spec's stat (inode, size, mtime) every POLL seconds, which also
notices an editor that saves by writing a new file and renaming it over the old one; on a change it
analyses the spec again. GET / is the page (render/page.py) and GET /events a server-sent event
stream: the new picture and table, or the one-line error of a spec that fails, which the page shows
in a banner over the last good picture. No other path is served, and no part of a request's path
ever reaches the file system: the only file read is the spec named on the command line.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable
from urllib.parse import urlsplit

from cnncalc import api
from cnncalc.errors import CnncalcError
from cnncalc.render import page
from cnncalc.render.report import error_line

POLL = 0.2  # seconds between two looks at the spec
KEEPALIVE = 15.0  # seconds: a comment line on a quiet stream, so a closed tab is noticed


@dataclass(frozen=True)
class State:
    """What the page shows: version counts the changes; html is the last good fragment (None before
    the spec has ever analysed), error the current one-line error (None when the spec is good)."""

    version: int
    html: str | None
    error: str | None
    title: str


class Live:
    """The spec, analysed again on each change; threads waiting in `wait_newer` wake on each."""

    def __init__(self, spec: str, input_shape: tuple | None = None, depth: int | None = None):
        self.spec, self.input_shape, self.depth = spec, input_shape, depth
        self.changed = threading.Condition()
        self.stopping = threading.Event()
        self.state = State(0, None, None, f"{os.path.basename(spec)} — cnncalc")
        self._signature: tuple | None = None

    def signature(self) -> tuple | None:
        """(device, inode, size, mtime): a rename over the file changes the inode, a write the size or
        mtime; None while the file is missing (between an editor's delete and its rename)."""
        try:
            st = os.stat(self.spec)
        except OSError:
            return None
        return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)

    def check(self) -> bool:
        """Analyse the spec again if its signature changed since the last look; True if it did."""
        signature = self.signature()
        if signature == self._signature and self.state.version:
            return False
        self._signature = signature
        self.rebuild()
        return True

    def rebuild(self) -> None:
        old = self.state
        try:
            report, drawing = api.drawing(self.spec, input_shape=self.input_shape, depth=self.depth)
            if report.error is not None:
                raise report.error
            html, error, title = page.fragment(report, drawing, self.depth), None, page.title(report)
        except CnncalcError as exc:
            html, error, title = old.html, error_line(exc), old.title  # the last good picture stays
        with self.changed:
            self.state = State(old.version + 1, html, error, title)
            self.changed.notify_all()

    def watch(self) -> None:
        """The watcher thread's loop, until stop()."""
        while not self.stopping.wait(POLL):
            self.check()

    def wait_newer(self, version: int, timeout: float) -> State:
        """The state once its version passes `version` (or after `timeout` seconds, or at stop)."""
        with self.changed:
            self.changed.wait_for(lambda: self.state.version > version or self.stopping.is_set(), timeout)
            return self.state

    def stop(self) -> None:
        self.stopping.set()
        with self.changed:
            self.changed.notify_all()

    def whole_page(self) -> str:
        s = self.state
        return page.document(s.title, s.html or "", live=True, error=s.error)


_LOOPBACK = ("127.0.0.1", "::1")


def _handler(live: Live):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            path = urlsplit(self.path).path
            if not self._host_allowed():
                self._send(403, "text/plain; charset=utf-8", b"forbidden\n")
            elif path == "/":
                self._send(200, "text/html; charset=utf-8", live.whole_page().encode("utf-8"))
            elif path == "/events":
                self._events()
            else:
                self._send(404, "text/plain; charset=utf-8", b"not found\n")

        def _host_allowed(self) -> bool:
            """On a loopback address, only requests that name a loopback host: a web page whose name
            an attacker re-points at 127.0.0.1 (DNS rebinding) cannot read the spec's table."""
            if self.server.server_address[0] not in _LOOPBACK:
                return True
            host = urlsplit("//" + (self.headers.get("Host") or "")).hostname
            return host in _LOOPBACK or host == "localhost"

        def _send(self, status: int, content_type: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def _events(self) -> None:
            self.close_connection = True
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream; charset=utf-8")
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            sent = -1
            try:
                while not live.stopping.is_set():
                    state = live.wait_newer(sent, KEEPALIVE)
                    if state.version > sent:
                        sent = state.version
                        self.wfile.write(page.event(state.html, state.error, state.title).encode("utf-8"))
                    else:
                        self.wfile.write(b": still here\n\n")
                    self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                return  # the tab was closed

        def log_message(self, format, *args):  # noqa: ARG002 (http.server's signature)
            pass  # no line per request on the terminal

    return Handler


class Server(ThreadingHTTPServer):
    daemon_threads = True  # an open /events stream must not keep the process alive at exit


def start(spec: str, host: str = "127.0.0.1", port: int = 8000, depth: int | None = None,
          input_shape: tuple | None = None) -> tuple[Server, Live]:
    """Bind and analyse once; OSError when the address cannot be bound."""
    live = Live(spec, input_shape, depth)
    live.check()
    server = Server((host, port), _handler(live))
    return server, live


def url(server: Server) -> str:
    host, port = server.server_address[:2]
    return f"http://{f'[{host}]' if ':' in host else host}:{port}/"


def serve(server: Server, live: Live, ready: Callable[[str], None] = lambda _: None) -> None:
    """Serve until Ctrl-C (KeyboardInterrupt), then stop the watcher and close the socket; ready(url)
    is called once the server listens."""
    watcher = threading.Thread(target=live.watch, name="cnncalc-serve-watch", daemon=True)
    watcher.start()
    ready(url(server))
    try:
        server.serve_forever(poll_interval=0.25)
    except KeyboardInterrupt:
        pass
    finally:
        live.stop()
        server.server_close()
        watcher.join(timeout=2 * POLL + 1)
