"""DeOldify's published generator weights: where they are, downloading with resume, checksums, sanity checks.

URLs and payload sizes come from reference/deoldify/README.md §3 and §10; only the links DeOldify's README
names today are tried (the 2019–2020 Dropbox links are dead). Downloads use ``urllib`` only, go to
``<cache>/weights/`` through a ``.part`` file (resumed with an HTTP Range request when a previous attempt was
interrupted) and are renamed into place only when complete.

Upstream publishes no checksums, so a fetched file's sha256 is recorded beside it (``<file>.sha256``, in
``sha256sum`` format) and checked each time the cached file is used again: a file that changed or was
swapped in the cache is refused. Where a digest is known in advance (:attr:`WeightsSource.sha256`), the
download must match it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from http.client import HTTPException, HTTPResponse
from pathlib import Path

from vs_colorize._version import __version__
from vs_colorize.core import cache
from vs_colorize.core.fileio import sha256_file, write_text_atomic

from .errors import DownloadError

log = logging.getLogger(__name__)

#: A weights file smaller than this fraction of the known fp32 payload is rejected as truncated/foreign.
MIN_SIZE_FRACTION = 0.9


@dataclass(frozen=True)
class WeightsSource:
    """One published generator: file name, mirrors (tried in order), fp32 state-dict payload size and, where
    known, the sha256 of the published file."""

    name: str
    filename: str
    urls: tuple[str, ...]
    payload_bytes: int
    render_factor: int
    sha256: str | None = None

    @property
    def min_bytes(self) -> int:
        return int(self.payload_bytes * MIN_SIZE_FRACTION)


DEOLDIFY: dict[str, WeightsSource] = {
    "video": WeightsSource(
        "video",
        "ColorizeVideo_gen.pth",
        ("https://data.deepai.org/deoldify/ColorizeVideo_gen.pth",),
        873_920_916,
        21,
    ),
    "stable": WeightsSource(
        "stable",
        "ColorizeStable_gen.pth",
        ("https://www.dropbox.com/s/axsd2g85uyixaho/ColorizeStable_gen.pth?dl=1",),
        873_920_916,
        35,
    ),
    "artistic": WeightsSource(
        "artistic",
        "ColorizeArtistic_gen.pth",
        ("https://data.deepai.org/deoldify/ColorizeArtistic_gen.pth",),
        255_070_532,
        35,
    ),
}


def weights_source(name: str, func: str = "deoldify") -> WeightsSource:
    try:
        return DEOLDIFY[name]
    except KeyError:
        raise DownloadError(f"{func}: name must be one of {tuple(DEOLDIFY)}, got {name!r}") from None


def cached_weights_path(name: str) -> Path:
    """Where the downloaded weights of ``name`` live in the user cache."""
    return cache.subdir("weights") / weights_source(name).filename


def check_size(path: Path, source: WeightsSource, func: str = "deoldify") -> None:
    """Reject a file far smaller than the published payload (truncated download, HTML error page…)."""
    size = path.stat().st_size
    if size < source.min_bytes:
        raise DownloadError(
            f"{func}: {os.fspath(path)!r} has {size:,} bytes, far less than the {source.payload_bytes:,} "
            f"bytes of DeOldify's {source.name} weights; it is truncated or not {source.filename}"
        )


class _Progress:
    """Byte progress on stderr: a live line on a terminal, a log line every 10 % otherwise."""

    def __init__(self, label: str, total: int | None, done: int) -> None:
        self.label, self.total, self.done = label, total, done
        self.tty = sys.stderr.isatty()
        self.next_pct = 10
        self.last = 0.0

    def update(self, n: int) -> None:
        self.done += n
        if self.total:
            pct = 100 * self.done / self.total
            if self.tty and time.monotonic() - self.last > 0.2:
                self.last = time.monotonic()
                sys.stderr.write(
                    f"\r{self.label}: {self.done / 1e6:.1f}/{self.total / 1e6:.1f} MB ({pct:.0f}%)"
                )
                sys.stderr.flush()
            elif not self.tty and pct >= self.next_pct:
                log.info("%s: %.0f%% of %.1f MB", self.label, pct, self.total / 1e6)
                self.next_pct = int(pct) // 10 * 10 + 10

    def close(self) -> None:
        if self.tty and self.total:
            sys.stderr.write("\n")


def _total_from(resp: HTTPResponse, offset: int) -> int | None:
    headers = resp.headers
    match = re.match(r"bytes \d+-\d+/(\d+)", headers.get("Content-Range", ""))
    if match:
        return int(match.group(1))
    length = headers.get("Content-Length")
    return offset + int(length) if length is not None else None


def download(url: str, dest: str | os.PathLike[str], *, timeout: float = 30.0, chunk: int = 1 << 20) -> Path:
    """Download ``url`` to ``dest`` through ``<dest>.part``, resuming a partial ``.part`` with HTTP Range.

    ``dest`` appears only when the transfer is complete (length as announced by the server). An
    interrupted transfer leaves ``.part`` behind for the next call to resume.

    Raises:
        DownloadError: the server cannot be reached, answers with an error, or the transfer breaks off.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    offset = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": f"vs-colorize/{__version__}"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    request = urllib.request.Request(url, headers=headers)
    try:
        resp = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and offset:  # .part already holds everything, or the file changed
            match = re.match(r"bytes \*/(\d+)", exc.headers.get("Content-Range", ""))
            if match and int(match.group(1)) == offset:
                os.replace(part, dest)
                return dest
            part.unlink()
            return download(url, dest, timeout=timeout, chunk=chunk)
        raise DownloadError(f"download: {url} answered HTTP {exc.code} {exc.reason}") from exc
    except (urllib.error.URLError, OSError, HTTPException) as exc:
        reason = getattr(exc, "reason", exc)
        raise DownloadError(f"download: cannot reach {url}: {reason}") from exc
    with contextlib.closing(resp):
        resumed = offset > 0 and resp.status == 206
        if offset and not resumed:
            log.info("%s does not support resuming; starting over", url)
            offset = 0
        total = _total_from(resp, offset)
        if resumed:
            log.info("resuming %s at %.1f MB", dest.name, offset / 1e6)
        progress = _Progress(dest.name, total, offset)
        try:
            with open(part, "ab" if resumed else "wb") as f:
                while block := resp.read(chunk):
                    f.write(block)
                    progress.update(len(block))
        except (OSError, HTTPException) as exc:  # includes timeouts and resets
            raise DownloadError(
                f"download: transfer of {url} broke off at {progress.done:,} bytes ({exc}); "
                f"the partial file {part.name} is kept, run again to resume"
            ) from exc
        finally:
            progress.close()
    if total is not None and progress.done != total:
        raise DownloadError(
            f"download: {url} ended after {progress.done:,} of {total:,} bytes; "
            f"the partial file {part.name} is kept, run again to resume"
        )
    os.replace(part, dest)
    return dest


def fetch_deoldify(name: str, *, urls: tuple[str, ...] | None = None, timeout: float = 30.0) -> Path:
    """The cached weights file of DeOldify generator ``name``, downloading it if needed.

    Mirrors are tried in order (``urls`` overrides them). The file must pass :func:`check_size` and
    :func:`check_digest` (its recorded sha256, written on first use).

    Raises:
        DownloadError: no mirror worked; the message gives the URL and the path to put the file at.
    """
    source = weights_source(name)
    dest = cached_weights_path(name)
    fetched = not dest.exists()
    if fetched:
        digest_record_path(dest).unlink(missing_ok=True)  # a record without its file describes nothing
        failures = []
        for url in urls or source.urls:
            log.info("downloading %s from %s", source.filename, url)
            try:
                download(url, dest, timeout=timeout)
                break
            except DownloadError as exc:
                failures.append(str(exc))
        else:
            tried = "\n  ".join(failures)
            raise DownloadError(
                f"deoldify: could not download {source.filename}:\n  {tried}\n"
                f"Without network access, download {source.urls[0]} elsewhere and put it at "
                f"{os.fspath(dest)}, or pass --weights PATH."
            )
    try:
        check_size(dest, source)
    except DownloadError:
        dest.unlink()  # truncated or foreign: it would block the next fetch
        raise
    try:
        check_digest(dest, source, fetched=fetched)
    except DownloadError:
        if fetched:  # our own download is bad; a cached file that changed stays for the user to inspect
            dest.unlink()
        raise
    return dest


def digest_record_path(path: str | os.PathLike[str]) -> Path:
    """Where the sha256 of a cached weights file is recorded: ``<file>.sha256``."""
    path = Path(path)
    return path.with_name(path.name + ".sha256")


def check_digest(path: Path, source: WeightsSource, *, fetched: bool, func: str = "deoldify") -> str:
    """Check ``path`` against the known digest of ``source`` and the digest recorded when it was fetched.

    The first time a file is seen (just ``fetched``, or placed in the cache by hand) its sha256 is recorded;
    afterwards it must keep that digest. Returns the digest.

    Raises:
        DownloadError: the digest differs from the published or the recorded one.
    """
    digest = sha256_file(path)
    if source.sha256 is not None and digest != source.sha256:
        raise DownloadError(
            f"{func}: {os.fspath(path)} has sha256 {digest}, not the published {source.sha256}; "
            "it is not DeOldify's file (a changed mirror or a corrupted transfer)"
        )
    record = digest_record_path(path)
    if record.exists() and not fetched:
        fields = record.read_text().split()
        recorded = fields[0] if fields else ""
        if digest != recorded:
            raise DownloadError(
                f"{func}: {os.fspath(path)} changed since it was fetched (sha256 recorded in {record.name}: "
                f"{recorded or 'nothing'}, now {digest}); delete both files and run again to fetch it anew"
            )
        return digest
    write_text_atomic(record, f"{digest}  {path.name}\n")
    log.info("%s: recorded sha256 %s of %s", func, digest, path.name)
    return digest
