"""`cnncalc data fetch NAME`: download a catalogue entry's files, check their SHA-256, resume
partial downloads, unpack archives. Standard library only (urllib, hashlib, tarfile).

    result = fetch("mnist")                     # → Fetched(folder, data_path, files)
    result = fetch("mnist", data_dir="data", catalogue=my_catalogue, progress=bar)

A file is written to NAME.part and renamed only once its SHA-256 matches, so a finished file is
always a good one. A .part left by an interrupted run is resumed with an HTTP Range request; a
server that ignores Range (status 200) sends the whole file, which replaces the .part. A .part
whose checksum does not match is deleted (resuming it could never give the right file) and the
next mirror is tried. Errors are DownloadError, one line each; no network names the files and
the folder to place them in by hand.

`progress` receives start(name, total, done), advance(n_bytes) and end(); the CLI passes a rich
bar from `cnncalc.render.download`, tests None.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import socket
import tarfile
import urllib.error
import urllib.request
from dataclasses import dataclass

from cnncalc import __version__
from cnncalc.data.catalog import CATALOGUE, Catalogue, Entry, Remote, folder_of
from cnncalc.data.files import what_is
from cnncalc.errors import DownloadError, Mark

CHUNK = 1 << 16
# a network fault while connecting or reading: each is retried on the next mirror
_NETWORK_ERRORS = (urllib.error.URLError, http.client.HTTPException, ConnectionError, socket.timeout, TimeoutError)


@dataclass(frozen=True)
class FileDone:
    """One file's outcome: status is "downloaded", "resumed" (continued a .part) or "present"
    (already there with the right checksum); bytes is its size."""

    name: str
    path: str
    status: str
    bytes: int


@dataclass(frozen=True)
class Fetched:
    """A finished fetch: the data set, the folder its files are in, and what `--data NAME` reads."""

    entry: Entry
    folder: str
    data_path: str
    files: tuple[FileDone, ...]


class _Quiet:
    def start(self, name, total, done):
        pass

    def advance(self, n):
        pass

    def end(self):
        pass


def _sha256_of(path: str, hasher=None):
    hasher = hasher or hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            hasher.update(block)
    return hasher


def manual_hint(entry: Entry, folder: str) -> str:
    """How to place the files by hand: which files, from where, into which folder."""
    files = ", ".join(f"{f.name} ({f.urls[0]})" for f in entry.files)
    unpack = f", then unpack {', '.join(entry.extract)} there" if entry.extract else ""
    return f"without a network, download {files} on another machine and put them in {folder}{unpack}"


class TooLong(http.client.HTTPException):
    """The server sent more bytes than the file has."""

    def __init__(self, size: int):
        super().__init__(f"the server sent more than the file's {size:,} bytes")


class _Transfer:
    """One attempt at one URL: appends to the .part (or restarts it on a 200), hashing as it writes."""

    def __init__(self, remote: Remote, part: str, progress, timeout: float):
        self.remote, self.part, self.progress, self.timeout = remote, part, progress, timeout
        self.content_type = ""

    def run(self, url: str) -> tuple[str, bool]:
        """(sha256 hex of the whole .part, whether it continued earlier bytes)."""
        if os.path.lexists(self.part) and not os.path.isfile(self.part):  # a FIFO would block the open for ever
            raise DownloadError("the partial download is not a regular file", Mark(self.part),
                                received=what_is(os.stat(self.part).st_mode) if os.path.exists(self.part)
                                else "a dangling link", fix="delete it and run the command again")
        offset = os.path.getsize(self.part) if os.path.exists(self.part) else 0
        if self.remote.size and offset > self.remote.size:
            os.unlink(self.part)  # longer than the file can be: not a prefix of it
            offset = 0
        if self.remote.size and offset == self.remote.size:  # complete but unchecked: no request needed
            return _sha256_of(self.part).hexdigest(), True
        headers = {"User-Agent": f"cnncalc/{__version__}"}
        if offset:
            headers["Range"] = f"bytes={offset}-"
        try:
            response = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=self.timeout)
        except urllib.error.HTTPError as exc:
            if exc.code == 416 and offset:  # the .part is not a prefix the server recognises: start over
                os.unlink(self.part)
                return self.run(url)
            raise
        with response:
            resumed = False
            if response.status == 206:
                match = re.match(r"bytes (\d+)-", response.headers.get("Content-Range", ""))
                if match is None or int(match.group(1)) != offset:
                    raise http.client.HTTPException(f"the server answered Range {offset}- with "
                                                    f"{response.headers.get('Content-Range')!r}")
                resumed = True
            elif offset:  # 200: the server ignored Range and sends the whole file
                offset = 0
            length = response.headers.get("Content-Length")
            total = offset + int(length) if length and length.isdigit() else self.remote.size
            hasher = _sha256_of(self.part) if resumed else hashlib.sha256()
            self.progress.start(self.remote.name, total, offset)
            try:
                with open(self.part, "ab" if resumed else "wb") as fh:
                    received = offset
                    for block in iter(lambda: response.read(CHUNK), b""):
                        if self.remote.size and received + len(block) > self.remote.size:
                            raise TooLong(self.remote.size)  # without Content-Length a server could fill the disk
                        fh.write(block)
                        hasher.update(block)
                        received += len(block)
                        self.progress.advance(len(block))
            finally:
                self.progress.end()
            if length and length.isdigit() and received < offset + int(length):
                raise http.client.IncompleteRead(b"", offset + int(length) - received)
            self.content_type = response.headers.get("Content-Type", "")
        return hasher.hexdigest(), resumed


def _download(remote: Remote, folder: str, entry: Entry, progress, timeout: float) -> FileDone:
    dest = os.path.join(folder, remote.name)
    if os.path.isfile(dest):
        if _sha256_of(dest).hexdigest() == remote.sha256:
            return FileDone(remote.name, dest, "present", os.path.getsize(dest))
        os.unlink(dest)  # damaged or another version: fetch it again
    part = dest + ".part"
    failures = []  # (kind, text): kind "network", "http" or "checksum"
    html = False
    for url in remote.urls:
        for _ in range(2):  # a transfer cut off half-way is resumed once from where it stopped
            before = os.path.getsize(part) if os.path.exists(part) else 0
            transfer = _Transfer(remote, part, progress, timeout)
            try:
                digest, resumed = transfer.run(url)
            except urllib.error.HTTPError as exc:
                reason = " ".join(str(exc.reason).split())  # urllib's redirect-loop reason spans lines
                failures.append(("http", f"{url}: HTTP {exc.code} {reason}"))
                break
            except TooLong as exc:
                os.unlink(part)  # the extra bytes make it no prefix of the file
                failures.append(("http", f"{url}: {exc}"))
                break
            except _NETWORK_ERRORS as exc:
                failures.append(("network", f"{url}: {_reason(exc)}"))
                if (os.path.getsize(part) if os.path.exists(part) else 0) > before:
                    continue  # some bytes came: resume from there
                break
            except OSError as exc:
                raise DownloadError(f"cannot write the download ({exc.strerror})", Mark(part)) from None
            if digest == remote.sha256:
                try:
                    os.replace(part, dest)
                except OSError as exc:
                    raise DownloadError(f"cannot put the download in place ({exc.strerror}); it is kept in {part}",
                                        Mark(dest), fix="move what is in the way and run the command again") from None
                return FileDone(remote.name, dest, "resumed" if resumed else "downloaded", os.path.getsize(dest))
            os.unlink(part)  # a wrong file cannot be resumed into a right one
            html = html or "text/html" in transfer.content_type.lower()  # a login or error page served as 200
            failures.append(("checksum", digest))
            break
    kinds = {kind for kind, _ in failures}
    if kinds == {"checksum"}:
        page = " (the server sent an HTML page, not the file)" if html else ""
        raise DownloadError(f"checksum mismatch for {remote.name}{page}: the download was deleted", Mark(dest),
                            received=f"SHA-256 {failures[-1][1]}", allowed=f"SHA-256 {remote.sha256}",
                            fix="run the command again; if it repeats, the server's file has changed")
    kept = f"; {os.path.getsize(part):,} bytes kept in {part}, run again to resume" \
        if os.path.isfile(part) and os.path.getsize(part) else ""
    if kinds == {"network"}:
        raise DownloadError(f"cannot reach the server for {remote.name} ({failures[-1][1]}){kept}", Mark(entry.name),
                            fix=manual_hint(entry, folder))
    texts = [text if kind != "checksum" else f"SHA-256 mismatch ({text})" for kind, text in failures]
    raise DownloadError(f"cannot download {remote.name}: {'; '.join(texts)}{kept}", Mark(entry.name),
                        fix=f"try again later, or {manual_hint(entry, folder)}")


def _reason(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None) or exc
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused"
    if isinstance(reason, socket.gaierror):
        return "host not found"
    if isinstance(reason, (socket.timeout, TimeoutError)):
        return "timed out"
    if isinstance(exc, http.client.IncompleteRead):
        return "the connection closed before the end of the file"
    text = str(reason) or type(reason).__name__
    return text


def _unpack(archive: str, folder: str, data_path: str) -> None:
    target = os.path.join(folder, data_path)
    if os.path.isdir(target):
        return
    try:
        with tarfile.open(archive, "r:gz") as tar:
            tar.extractall(folder, filter="data")  # refuses absolute paths, .. and links out of folder
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise DownloadError(f"cannot unpack the archive ({exc})", Mark(archive),
                            fix="delete it and run the command again") from None
    if not os.path.isdir(target):
        raise DownloadError(f"the archive has no {data_path} folder", Mark(archive))


def fetch(name: str, *, data_dir: str | None = None, catalogue: Catalogue | None = None, progress=None,
          timeout: float = 30.0) -> Fetched:
    """Download the data set `name` of catalogue (default: the built-in one) into its folder under
    the data root (catalog.data_root(data_dir)); files already there with the right checksum are
    kept. Returns a Fetched record; raises DownloadError (or DataError for an unknown name)."""
    catalogue = CATALOGUE if catalogue is None else catalogue
    if name not in catalogue:
        raise DownloadError("no such data set", field="name", received=name, allowed=", ".join(catalogue))
    entry = catalogue[name]
    folder = folder_of(entry, data_dir)
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as exc:
        raise DownloadError(f"cannot create the data folder ({exc.strerror})", Mark(folder)) from None
    progress = progress or _Quiet()
    done = tuple(_download(remote, folder, entry, progress, timeout) for remote in entry.files)
    for archive in entry.extract:
        _unpack(os.path.join(folder, archive), folder, entry.data_path)
    return Fetched(entry, folder, os.path.normpath(os.path.join(folder, entry.data_path)), done)
