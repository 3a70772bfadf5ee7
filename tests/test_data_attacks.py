"""Hostile inputs for the data side, second round: each ends as ONE DataError line naming the file
and what was received/allowed — never a traceback, MemoryError, hang or silent garbage.

Every file is made here in tmp_path; the expected numbers come from the file formats (IDX header
arithmetic, the .npy header, PNG's IHDR) or from Pillow's documented limit, not from our output.
A FIFO would block an unguarded open() for ever, so those tests run under a SIGALRM watchdog that
turns a hang into a failure (it is not a timing assertion: 30 s against a 0.01 s operation).
"""

import hashlib
import http.server
import io
import os
import pickle
import signal
import struct
import threading
import tracemalloc
import warnings
import zipfile
import zlib

import numpy as np
import pytest
from typer.testing import CliRunner

from cnncalc import data
from cnncalc.cli import app
from cnncalc.data.catalog import Entry, Remote
from cnncalc.data.fetch import fetch
from cnncalc.data.images import expand, read_inputs
from cnncalc.errors import DataError, DownloadError


def idx_bytes(shape, magic, payload=b""):
    """An IDX header (big-endian int32 magic, then one int32 per dimension) and payload."""
    return struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in shape) + payload


def labels(m, k=3):
    return idx_bytes((m,), 0x801, bytes(i % k for i in range(m)))


def error_of(fn, *fragments):
    with pytest.raises(DataError) as info:
        fn()
    text = info.value.line()
    assert "\n" not in text, text
    for fragment in fragments:
        assert fragment in text, text
    return text


@pytest.fixture
def watchdog():
    """Fail, rather than hang, if a FIFO is opened for reading."""
    def fire(*_):
        raise AssertionError("hung: a FIFO was opened for reading")
    old = signal.signal(signal.SIGALRM, fire)
    signal.alarm(30)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)


# ---------------------------------------------------------------- IDX

def gzip_of_zeros(header: bytes, n_zeros: int) -> bytes:
    """header then n_zeros zero bytes, gzipped a MiB at a time (64 MiB of zeros → ~64 KiB)."""
    c = zlib.compressobj(9, zlib.DEFLATED, 31)  # wbits 31: the gzip container
    parts, block = [c.compress(header)], bytes(1 << 20)
    for _ in range(n_zeros >> 20):
        parts.append(c.compress(block))
    parts.append(c.flush())
    return b"".join(parts)


def test_gzip_bomb_is_refused_without_inflating_it(tmp_path):
    # the header says 20 images of 4×4 = 320 bytes; the .gz inflates to 64 MiB
    images = tmp_path / "train-images-idx3-ubyte.gz"
    images.write_bytes(gzip_of_zeros(idx_bytes((20, 4, 4), 0x803), 64 << 20))
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(labels(20))
    assert images.stat().st_size < 1 << 20
    tracemalloc.start()
    try:
        text = error_of(lambda: data.load(str(tmp_path)), f"{images}: payload longer than its header says",
                        "received 'more than 320'", "allowed: 320 bytes")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20, (peak, text)  # inflating it all would hold 64 MiB at least


def test_header_declaring_more_than_memory_is_refused_before_inflating(tmp_path):
    # 2^31 × 2^16 × 2^16 = 2^63 bytes: more than any machine's memory; the payload is 1 MiB of zeros
    images = tmp_path / "train-images-idx3-ubyte.gz"
    images.write_bytes(gzip_of_zeros(idx_bytes((1 << 31, 1 << 16, 1 << 16), 0x803), 1 << 20))
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(labels(20))
    error_of(lambda: data.load(str(tmp_path)), f"{images}: ", "declares 9,223,372,036,854,775,808 bytes",
             "more than this machine's memory")


@pytest.mark.parametrize("shape", [(20, 0, 4), (20, 4, 0)])
def test_idx_images_of_zero_pixels_are_refused(tmp_path, shape):
    images = tmp_path / "train-images-idx3-ubyte"
    images.write_bytes(idx_bytes(shape, 0x803))  # 20·0·4 = 0 payload bytes: the size check alone passes
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(labels(20))
    error_of(lambda: data.load(str(tmp_path)), f"{images}: the IDX images file declares images of "
             f"{shape[1]}×{shape[2]} pixels", "allowed: every size ≥ 1")


def test_idx_overflowing_dimensions_are_a_truncated_payload(tmp_path):
    # (2^32 − 1)^3 values in int arithmetic, never wrapped: the 10 bytes present are far too few
    images = tmp_path / "train-images-idx3-ubyte"
    images.write_bytes(idx_bytes((2**32 - 1,) * 3, 0x803, bytes(10)))
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(labels(20))
    error_of(lambda: data.load(str(tmp_path)), "truncated payload", "received 10",
             f"allowed: {(2**32 - 1) ** 3:,} bytes")


# ---------------------------------------------------------------- files that are not files

@pytest.mark.usefixtures("watchdog")
def test_fifo_and_directories_are_refused_not_waited_on(tmp_path):
    fifo = tmp_path / "train-images-idx3-ubyte"
    os.mkfifo(fifo)
    error_of(lambda: data.load(str(fifo)), f"{fifo}: not a regular file", "received 'a FIFO (named pipe)'")
    error_of(lambda: data.load_inputs(str(fifo)), f"{fifo}: not a regular file")
    pipe_png = tmp_path / "digit.png"
    os.mkfifo(pipe_png)
    error_of(lambda: read_inputs(str(pipe_png), (4, 4, 1)), f"{pipe_png}: not a regular file")
    cifar = tmp_path / "cifar"
    cifar.mkdir()
    os.mkfifo(cifar / "data_batch_1")
    error_of(lambda: data.load(str(cifar)), f"{cifar / 'data_batch_1'}: not a regular file")
    (tmp_path / "shots.png").mkdir()  # a glob that matches a directory
    [path] = expand([str(tmp_path / "shots*")])
    error_of(lambda: read_inputs(path, (4, 4, 1)), f"{path}: not a regular file", "received 'a directory'")


def test_dangling_symlink_names_the_link(tmp_path):
    link = tmp_path / "x.png"
    link.symlink_to(tmp_path / "gone.png")
    error_of(lambda: read_inputs(str(link), (4, 4, 1)), f"{link}: cannot read the file (No such file or directory)")


# ---------------------------------------------------------------- .npz / .npy

def npy_header(shape, descr="<f8") -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": descr, "fortran_order": False, "shape": shape})
    return buf.getvalue()


def test_npy_header_declaring_terabytes_is_refused_before_numpy_allocates(tmp_path):
    # (10^6, 10^6) float64 = 8·10^12 bytes declared, 64 present: numpy would allocate 7.3 TiB first
    body = npy_header((10**6, 10**6)) + bytes(64)
    archive = tmp_path / "lying.npz"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("x.npy", body)
    error_of(lambda: data.load_inputs(str(archive)), f"{archive}: field 'x'", "declares shape (1000000, 1000000)",
             "8,000,000,000,000 bytes", "only 64 bytes follow it")
    single = tmp_path / "lying.npy"
    single.write_bytes(body)
    error_of(lambda: data.load_inputs(str(single)), f"{single}: the header of the .npy declares", "received 64")


def test_labels_far_beyond_any_class_count_are_refused(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, x=np.zeros((3, 4, 4), np.uint8), y=np.array([0, 1, 1 << 20]))
    # no spec to say how many classes: one name per class number up to 2^20 is not a data set
    error_of(lambda: data.load(str(path)), f"{path}: the data has labels up to 1,048,576",
             "allowed: class numbers below 65,536")


def test_float64_pixels_beyond_float32_are_refused(tmp_path):
    path = tmp_path / "d.npz"
    x = np.zeros((3, 4, 4)); x[1, 2, 3] = 1e300  # finite in float64, inf in the float32 the trainer uses
    np.savez(path, x=x, y=np.arange(3))
    assert 1e300 > float(np.finfo(np.float32).max)
    error_of(lambda: data.load(str(path)), f"{path}: field 'x': x holds values beyond float32's range", "1e+300")


@pytest.mark.parametrize("x", [np.zeros((0, 4, 4, 1), np.float32), np.float32(3)])
def test_predict_inputs_without_an_image_are_refused(tmp_path, x):
    path = tmp_path / "in.npz"
    np.savez(path, x=x)
    error_of(lambda: data.load_inputs(str(path)), f"{path}: the inputs hold no image", f"received {x.shape}")


# ---------------------------------------------------------------- CIFAR-10 pickles

@pytest.mark.parametrize("batch, field", [
    ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [1, [2, 3]]}, "labels"),   # ragged labels
    ({b"data": [[1, 2], [3]], b"labels": [1, 2]}, "data"),                            # ragged rows
])
def test_ragged_cifar_batches_are_one_line(tmp_path, batch, field):
    (tmp_path / "data_batch_1").write_bytes(pickle.dumps(batch, protocol=2))
    error_of(lambda: data.load(str(tmp_path)), f"{tmp_path / 'data_batch_1'}: field '{field}'",
             f"CIFAR-10 {field} is not an array")


# ---------------------------------------------------------------- PGM

def test_ascii_pgm_with_a_number_too_big_for_int64(tmp_path):
    path = tmp_path / "a.pgm"
    path.write_bytes(b"P2 1 1 3\n" + b"9" * 30 + b"\n")
    error_of(lambda: read_inputs(str(path), (1, 1, 1)), f"{path}: a pixel exceeds maxval", "allowed: 0…3")


# ---------------------------------------------------------------- PNG / JPEG

def png_bytes(w, h, raster=b"", depth=8, color=0) -> bytes:
    """A PNG by its spec: signature, IHDR (width, height, bit depth, colour type, 0, 0, 0), IDAT, IEND."""
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, color, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raster)) + chunk(b"IEND", b""))


@pytest.mark.parametrize("resize", [False, True])
def test_decompression_bomb_png_is_one_line(tmp_path, resize):
    Image = pytest.importorskip("PIL.Image")
    path = tmp_path / "bomb.png"
    path.write_bytes(png_bytes(100_000, 100_000, bytes(1000)))  # 10^10 pixels declared in 1 KB
    error_of(lambda: read_inputs(str(path), (28, 28, 1), resize), f"{path}: the image is too large to decode safely",
             f"at most {Image.MAX_IMAGE_PIXELS:,} pixels")


def test_png_between_pillows_two_limits_is_refused_without_a_warning(tmp_path):
    Image = pytest.importorskip("PIL.Image")
    w = h = int((Image.MAX_IMAGE_PIXELS * 1.2) ** 0.5)  # over the warning limit, under the error limit (2×)
    path = tmp_path / "big.png"
    path.write_bytes(png_bytes(w, h, bytes(100)))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        error_of(lambda: read_inputs(str(path), (28, 28, 1), True), "the image is too large to decode safely")
    assert not [w for w in caught if issubclass(w.category, Image.DecompressionBombWarning)]


def test_wrong_size_is_refused_from_the_header_before_decoding(tmp_path):
    pytest.importorskip("PIL")
    path = tmp_path / "big.png"
    path.write_bytes(png_bytes(5000, 3000, b""))  # a header alone: decoding would fail as truncated
    error_of(lambda: read_inputs(str(path), (28, 28, 1)), f"{path}: the image is 3000×5000 but the network "
             "takes 28×28", "give --resize")


def test_16_bit_gray_png_is_scaled_not_clipped_for_rgb_networks(tmp_path):
    Image = pytest.importorskip("PIL.Image")
    values = np.array([[0, 4000], [32768, 65535]], np.uint16)
    path = tmp_path / "g16.png"
    Image.fromarray(values).save(path)
    x, _ = read_inputs(str(path), (2, 2, 3))
    expected = values.astype(np.float64) * 255 / 65535  # 4000 → 15.56, 65535 → 255
    for c in range(3):
        np.testing.assert_allclose(x[0, :, :, c], expected, rtol=1e-6)


def test_truncated_png_and_jpeg_are_one_line(tmp_path):
    Image = pytest.importorskip("PIL.Image")
    rgb = Image.fromarray(np.arange(32 * 32 * 3, dtype=np.uint8).reshape(32, 32, 3))
    for name in ("a.png", "a.jpg"):
        whole = tmp_path / ("whole-" + name)
        rgb.save(whole)
        cut = tmp_path / name
        cut.write_bytes(whole.read_bytes()[:40])
        error_of(lambda: read_inputs(str(cut), (32, 32, 3)), f"{cut}: not a readable image")


# ---------------------------------------------------------------- data fetch

BODY = bytes(range(256)) * 40  # 10,240 bytes
SHA = hashlib.sha256(BODY).hexdigest()


class Hostile(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        mode = self.server.mode
        if mode == "endless":  # no Content-Length, bytes for ever (bounded here: 8 MiB)
            self.send_response(200)
            self.end_headers()
            try:
                for _ in range(128):
                    self.wfile.write(bytes(1 << 16))
            except OSError:
                pass
        elif mode == "loop":
            self.send_response(302)
            self.send_header("Location", self.path)
            self.end_headers()
        elif mode == "html":
            page = b"<html><body>Please log in</body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)
        elif mode == "stall":  # headers, then nothing until the test ends
            self.send_response(200)
            self.send_header("Content-Length", str(len(BODY)))
            self.end_headers()
            self.wfile.flush()
            self.server.release.wait(30)
        else:
            self.send_response(200)
            self.send_header("Content-Length", str(len(BODY)))
            self.end_headers()
            self.wfile.write(BODY)

    def log_message(self, *args):
        pass


@pytest.fixture
def hostile():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hostile)
    srv.mode, srv.release = "ok", threading.Event()
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    srv.catalogue = {"t": Entry("t", "T", "t", (Remote("blob.bin", (f"http://127.0.0.1:{srv.server_address[1]}/b",),
                                                        SHA, len(BODY)),))}
    yield srv
    srv.release.set()
    srv.shutdown()
    srv.server_close()


def fetch_error(srv, tmp_path, *fragments, **kw):
    with pytest.raises(DownloadError) as info:
        fetch("t", data_dir=str(tmp_path), catalogue=srv.catalogue, **kw)
    text = info.value.line()
    assert "\n" not in text, text
    for fragment in fragments:
        assert fragment in text, text
    return text


def test_server_sending_more_than_the_file_is_cut_off(hostile, tmp_path):
    hostile.mode = "endless"
    fetch_error(hostile, tmp_path, "the server sent more than the file's 10,240 bytes")
    assert os.listdir(tmp_path / "t") == []  # nothing kept: the extra bytes make it no prefix of the file


def test_redirect_loop_is_one_line(hostile, tmp_path):
    hostile.mode = "loop"
    fetch_error(hostile, tmp_path, "HTTP 302", "infinite loop")


def test_html_page_instead_of_the_file_is_named(hostile, tmp_path):
    hostile.mode = "html"
    fetch_error(hostile, tmp_path, "checksum mismatch for blob.bin (the server sent an HTML page, not the file)")
    assert not (tmp_path / "t" / "blob.bin").exists()


def test_stalled_server_times_out(hostile, tmp_path):
    hostile.mode = "stall"
    text = fetch_error(hostile, tmp_path, "timed out", timeout=0.5)
    assert "bytes kept" not in text  # nothing came, so there is nothing to resume


@pytest.mark.usefixtures("watchdog")
def test_part_file_that_is_a_fifo_or_destination_that_is_a_folder(hostile, tmp_path):
    folder = tmp_path / "t"
    folder.mkdir()
    os.mkfifo(folder / "blob.bin.part")
    fetch_error(hostile, tmp_path, f"{folder / 'blob.bin.part'}: the partial download is not a regular file",
                "a FIFO")
    os.unlink(folder / "blob.bin.part")
    (folder / "blob.bin").mkdir()
    fetch_error(hostile, tmp_path, f"{folder / 'blob.bin'}: cannot put the download in place (Is a directory)")
    assert (folder / "blob.bin.part").read_bytes() == BODY  # the good download is kept, not lost


def test_cli_data_folder_that_is_a_file(tmp_path):
    (tmp_path / "file").write_text("x")
    result = CliRunner().invoke(app, ["data", "fetch", "mnist", "--dir", str(tmp_path / "file")])
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "cannot create the data folder (Not a directory)" in lines[0], result.output
    assert str(tmp_path / "file" / "mnist") in lines[0]
