"""`cnncalc data fetch` against a local HTTP server on 127.0.0.1 (never the internet): success,
checksum mismatch, a cut-off download resumed with Range, a server that ignores Range, 404,
connection refused; `--data NAME` finding what was fetched; the catalogue's MNIST checksums
against the real files."""

import hashlib
import http.server
import io
import os
import socket
import subprocess
import sys
import tarfile
import threading

import pytest
from typer.testing import CliRunner

from cnncalc.cli import app
from cnncalc.data import catalog
from cnncalc.data.catalog import Entry, Remote, resolve
from cnncalc.data.fetch import fetch
from cnncalc.errors import DataError, DownloadError

runner = CliRunner()
BODY = bytes(range(256)) * 400  # 102,400 bytes, every byte value
SHA = hashlib.sha256(BODY).hexdigest()


class Handler(http.server.BaseHTTPRequestHandler):
    """Serves server.files; honours `Range: bytes=N-` unless server.ignore_range; after
    server.cut_after bytes of a body it closes the connection (a dropped download), once."""

    def do_GET(self):
        srv = self.server
        srv.requests.append((self.path, self.headers.get("Range")))
        body = srv.files.get(self.path)
        if body is None:
            self.send_error(404, "Not Found")
            return
        start = 0
        rng = self.headers.get("Range")
        if rng and not srv.ignore_range:
            start = int(rng.removeprefix("bytes=").rstrip("-"))
            if start >= len(body):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(body)}")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        if srv.cut_after is not None:
            self.wfile.write(body[start:start + srv.cut_after])
            srv.cut_after = None
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.wfile.write(body[start:])

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.files, srv.requests, srv.ignore_range, srv.cut_after = {}, [], False, None
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    srv.url = f"http://127.0.0.1:{srv.server_address[1]}"
    yield srv
    srv.shutdown()
    srv.server_close()


def one_file(url, sha=SHA, size=len(BODY), name="blob.bin"):
    return {"blob": Entry("blob", "Blob", "blobs", (Remote(name, (url,), sha, size),))}


def test_download_checks_sha256_and_says_where(server, tmp_path):
    server.files["/blob.bin"] = BODY
    result = fetch("blob", data_dir=str(tmp_path), catalogue=one_file(server.url + "/blob.bin"))
    path = tmp_path / "blobs" / "blob.bin"
    assert path.read_bytes() == BODY and not (tmp_path / "blobs" / "blob.bin.part").exists()
    assert [(f.status, f.bytes) for f in result.files] == [("downloaded", 102400)]
    assert server.requests == [("/blob.bin", None)]
    # a second fetch checks the file and sends no request
    again = fetch("blob", data_dir=str(tmp_path), catalogue=one_file(server.url + "/blob.bin"))
    assert again.files[0].status == "present" and len(server.requests) == 1


def test_checksum_mismatch_deletes_the_download(server, tmp_path):
    server.files["/blob.bin"] = BODY[:-1] + b"\x00"
    with pytest.raises(DownloadError) as err:
        fetch("blob", data_dir=str(tmp_path), catalogue=one_file(server.url + "/blob.bin"))
    line = err.value.line()
    assert "checksum mismatch for blob.bin" in line and SHA in line
    assert hashlib.sha256(server.files["/blob.bin"]).hexdigest() in line
    assert os.listdir(tmp_path / "blobs") == []  # neither the file nor a .part is kept


def test_cut_off_download_resumes_with_range(server, tmp_path):
    server.files["/blob.bin"] = BODY
    server.cut_after = 30000
    result = fetch("blob", data_dir=str(tmp_path), catalogue=one_file(server.url + "/blob.bin"))
    assert (tmp_path / "blobs" / "blob.bin").read_bytes() == BODY
    assert server.requests == [("/blob.bin", None), ("/blob.bin", "bytes=30000-")]
    assert result.files[0].status == "resumed"


def test_part_file_from_an_earlier_run_is_resumed(server, tmp_path):
    server.files["/blob.bin"] = BODY
    (tmp_path / "blobs").mkdir()
    (tmp_path / "blobs" / "blob.bin.part").write_bytes(BODY[:5000])
    fetch("blob", data_dir=str(tmp_path), catalogue=one_file(server.url + "/blob.bin"))
    assert server.requests == [("/blob.bin", "bytes=5000-")]
    assert (tmp_path / "blobs" / "blob.bin").read_bytes() == BODY


def test_server_ignoring_range_sends_the_whole_file_again(server, tmp_path):
    server.files["/blob.bin"] = BODY
    server.ignore_range = True
    (tmp_path / "blobs").mkdir()
    (tmp_path / "blobs" / "blob.bin.part").write_bytes(b"garbage that is not a prefix")
    result = fetch("blob", data_dir=str(tmp_path), catalogue=one_file(server.url + "/blob.bin"))
    assert server.requests == [("/blob.bin", "bytes=28-")]
    assert (tmp_path / "blobs" / "blob.bin").read_bytes() == BODY and result.files[0].status == "downloaded"


def test_404_and_next_mirror(server, tmp_path):
    server.files["/good/blob.bin"] = BODY
    entry = {"blob": Entry("blob", "Blob", "blobs", (Remote("blob.bin", (server.url + "/gone/blob.bin",
                                                                        server.url + "/good/blob.bin"), SHA),))}
    fetch("blob", data_dir=str(tmp_path), catalogue=entry)
    assert [p for p, _ in server.requests] == ["/gone/blob.bin", "/good/blob.bin"]
    with pytest.raises(DownloadError) as err:
        fetch("blob", data_dir=str(tmp_path / "other"), catalogue=one_file(server.url + "/gone/blob.bin"))
    assert "HTTP 404" in err.value.line() and "cannot download blob.bin" in err.value.line()


def test_connection_refused_says_so_and_how_to_place_files(tmp_path):
    with socket.socket() as s:  # a port nobody listens on: bound, then closed
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/blob.bin"
    with pytest.raises(DownloadError) as err:
        fetch("blob", data_dir=str(tmp_path), catalogue=one_file(url))
    line = err.value.line()
    assert "cannot reach the server" in line and "connection refused" in line
    assert f"download blob.bin ({url})" in line and str(tmp_path / "blobs") in line


def test_cifar_style_archive_is_unpacked_with_the_data_filter(server, tmp_path):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo("set/data_batch_1")
        info.size = len(BODY)
        tar.addfile(info, io.BytesIO(BODY))
    archive = buf.getvalue()
    server.files["/set.tar.gz"] = archive
    entry = {"set": Entry("set", "Set", "sets", (Remote("set.tar.gz", (server.url + "/set.tar.gz",),
                                                        hashlib.sha256(archive).hexdigest()),),
                          data_path="set", extract=("set.tar.gz",))}
    result = fetch("set", data_dir=str(tmp_path), catalogue=entry)
    assert (tmp_path / "sets" / "set" / "data_batch_1").read_bytes() == BODY
    assert result.data_path == str(tmp_path / "sets" / "set")
    # an archive escaping its folder is refused by filter="data"
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo("../escaped")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    server.files["/evil.tar.gz"] = buf.getvalue()
    entry = {"set": Entry("set", "Set", "evil", (Remote("evil.tar.gz", (server.url + "/evil.tar.gz",),
                                                        hashlib.sha256(buf.getvalue()).hexdigest()),),
                          data_path="set", extract=("evil.tar.gz",))}
    with pytest.raises(DownloadError, match="cannot unpack"):
        fetch("set", data_dir=str(tmp_path), catalogue=entry)
    assert not (tmp_path / "escaped").exists()


def test_bare_name_resolves_to_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CNNCALC_DATA", str(tmp_path / "env"))
    with pytest.raises(DataError) as err:
        resolve("mnist")
    assert "cnncalc data fetch mnist" in err.value.line() and str(tmp_path / "env" / "mnist") in err.value.line()
    folder = tmp_path / "dir" / "mnist"
    folder.mkdir(parents=True)
    for f in catalog.CATALOGUE["mnist"].files:
        (folder / f.name).write_bytes(b"")
    assert resolve("mnist", str(tmp_path / "dir")) == str(folder)
    assert resolve("synthetic") == "synthetic" and resolve(str(folder)) == str(folder)
    # XDG_CACHE_HOME is where platformdirs puts the cache on Linux
    monkeypatch.delenv("CNNCALC_DATA")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    if sys.platform.startswith("linux"):
        assert catalog.data_root() == str(tmp_path / "xdg" / "cnncalc")


def test_catalogue_mnist_checksums_match_the_real_files():
    # the shared copy sits beside the main checkout, one level further up from a worktree
    here = os.path.dirname(os.path.abspath(__file__))
    found = [f for up in (2, 3) if os.path.isdir(f := os.path.join(here, *[".."] * up, "shared", "data", "mnist"))]
    if not found:
        pytest.skip("the real MNIST files are not here")
    folder = found[0]
    for f in catalog.CATALOGUE["mnist"].files:
        with open(os.path.join(folder, f.name), "rb") as fh:
            data = fh.read()
        assert (hashlib.sha256(data).hexdigest(), len(data)) == (f.sha256, f.size)


def test_catalogue_records_are_well_formed():
    for name, entry in catalog.CATALOGUE.items():
        assert entry.name == name and entry.files
        for f in entry.files:
            assert len(f.sha256) == 64 and int(f.sha256, 16) >= 0 and f.size > 0
            assert all(u.startswith(("http://", "https://")) and u.endswith(f.name) for u in f.urls)


def test_cli_fetch_error_is_one_line_and_data_does_not_import_numba(tmp_path):
    result = runner.invoke(app, ["data", "fetch", "imagenet", "--dir", str(tmp_path)], env={"COLUMNS": "200"})
    assert result.exit_code == 1 and "no such data set" in result.output and "mnist" in result.output
    assert "Traceback" not in result.output
    code = ("import sys\nfrom cnncalc.cli import main\nsys.argv=['cnncalc','data','list','--dir',sys.argv[1]]\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\nassert 'numba' not in sys.modules, 'numba imported'\n")
    env = dict(os.environ, PYTHONPATH=os.path.join(os.path.dirname(__file__), ".."))
    proc = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "mnist" in proc.stdout and "not fetched" in proc.stdout
