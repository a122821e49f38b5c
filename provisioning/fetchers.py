"""How the box's TUF client gets bytes: resumable HTTP, or a local mirror folder (USB stick).

ngclient's default fetcher starts every download from byte zero into a temporary file, so a
900 MB model cut off at 90% costs 900 MB again. ``ResumableFetcher`` keeps a partial file per
target URL on the data disk and asks for the rest with an HTTP Range request. That is safe
because targets are hash-prefixed (consistent snapshots): the bytes under one URL never
change, and ngclient still checks length and hash of the whole file before anyone uses it.
Metadata is never resumed (timestamp.json changes under the same URL). Both fetchers keep
their scratch files on the data disk: ngclient's default puts a whole target in the system
temporary folder, often a RAM disk too small for a 1 GB LLM.
"""

from __future__ import annotations

import hashlib
import http.client
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO
from urllib.parse import unquote, urlsplit

from tuf.api.exceptions import (
    DownloadError,
    DownloadHTTPError,
    DownloadLengthMismatchError,
    SlowRetrievalError,
)
from tuf.ngclient.fetcher import FetcherInterface

CHUNK = 256 * 1024
MIRROR_SCHEME = "mirror"
# (url, bytes done, total bytes or None when the server did not say)
DownloadProgress = Callable[[str, int, int | None], None]


def _no_progress(url: str, done: int, total: int | None) -> None:
    del url, done, total


class _DiskFetcher(FetcherInterface):
    """Downloads land in a scratch folder on the data disk, never in the system /tmp."""

    scratch_dir: Path

    @contextmanager
    def download_file(self, url: str, max_length: int) -> Iterator[IO[bytes]]:
        self.scratch_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=self.scratch_dir) as f:
            received = 0
            for chunk in self.fetch(url):
                received += len(chunk)
                if received > max_length:
                    raise DownloadLengthMismatchError(f"{url}: more than {max_length} bytes")
                f.write(chunk)
            f.seek(0)
            yield f


class ResumableFetcher(_DiskFetcher):
    """HTTP(S) with Range resume for targets; plain GET for metadata."""

    def __init__(
        self,
        partial_dir: Path,
        targets_url: str,
        timeout_s: float = 30.0,
        progress: DownloadProgress = _no_progress,
        rate_bps: int = 0,
    ) -> None:
        self.partial_dir = self.scratch_dir = partial_dir
        self.targets_url = targets_url if targets_url.endswith("/") else targets_url + "/"
        self.timeout_s = timeout_s
        self.progress = progress
        self.rate_bps = rate_bps  # bytes per second for targets; 0: as fast as the link goes

    def partial_path(self, url: str) -> Path:
        """Where the bytes of one target URL are kept until it verifies."""
        return self.partial_dir / (hashlib.sha256(url.encode()).hexdigest()[:32] + ".partial")

    def discard(self, url: str) -> None:
        """Forget a partial download (it verified and was copied, or it was bad)."""
        self.partial_path(url).unlink(missing_ok=True)

    @contextmanager
    def download_file(self, url: str, max_length: int) -> Iterator[IO[bytes]]:
        """A target is verified straight from its partial file (no second copy)."""
        if not url.startswith(self.targets_url):
            with super().download_file(url, max_length) as f:
                yield f
            return
        received = 0
        for chunk in self.fetch(url):
            received += len(chunk)
            if received > max_length:
                self.discard(url)
                raise DownloadLengthMismatchError(f"{url}: more than {max_length} bytes")
        with self.partial_path(url).open("rb") as f:
            yield f

    def _open(self, url: str, start: int) -> http.client.HTTPResponse:
        request = urllib.request.Request(url, headers={"User-Agent": "branch-teller"})
        if start:
            request.add_header("Range", f"bytes={start}-")
        try:
            response: http.client.HTTPResponse = urllib.request.urlopen(
                request, timeout=self.timeout_s
            )
        except urllib.error.HTTPError as exc:
            if exc.code == 416 and start:  # the partial is already whole (or wrong): restart
                return self._open(url, 0)
            raise DownloadHTTPError(f"{url}: HTTP {exc.code}", exc.code) from exc
        except TimeoutError as exc:
            raise SlowRetrievalError(f"{url}: no answer in {self.timeout_s:.0f} s") from exc
        except (urllib.error.URLError, OSError) as exc:
            raise DownloadError(f"{url}: {exc}") from exc
        return response

    def _fetch(self, url: str) -> Iterator[bytes]:
        if not url.startswith(self.targets_url):
            response = self._open(url, 0)
            return self._stream(response, url)
        path = self.partial_path(url)
        path.parent.mkdir(parents=True, exist_ok=True)
        have = path.stat().st_size if path.exists() else 0
        response = self._open(url, have)
        if response.status != 206:  # the server ignored Range: start over
            have = 0
        return self._resume(response, url, path, have)

    def _stream(self, response: http.client.HTTPResponse, url: str) -> Iterator[bytes]:
        with response:
            try:
                while chunk := response.read(CHUNK):
                    yield chunk
                if response.length:  # http.client ends quietly when the peer hangs up early
                    raise DownloadError(
                        f"{url}: connection closed {response.length} bytes before the end"
                    )
            except TimeoutError as exc:
                raise SlowRetrievalError(f"{url}: stalled") from exc
            except (http.client.HTTPException, OSError) as exc:  # cut off mid-file
                raise DownloadError(f"{url}: connection lost: {exc!r}") from exc

    def _resume(
        self, response: http.client.HTTPResponse, url: str, path: Path, have: int
    ) -> Iterator[bytes]:
        total = _total(response, have)
        with path.open("r+b" if have else "wb") as f:
            f.truncate(have)
            done = 0
            while done < have:  # what an earlier attempt already fetched, re-read from disk
                chunk = f.read(min(CHUNK, have - done))
                done += len(chunk)
                yield chunk
            self.progress(url, done, total)
            began, fetched = time.monotonic(), 0
            for chunk in self._stream(response, url):
                f.write(chunk)
                done += len(chunk)
                self.progress(url, done, total)
                yield chunk
                fetched += len(chunk)
                if self.rate_bps > 0:  # keep the branch's link free for its own traffic
                    ahead = fetched / self.rate_bps - (time.monotonic() - began)
                    if ahead > 0:
                        time.sleep(ahead)


def _total(response: http.client.HTTPResponse, have: int) -> int | None:
    """The whole file's size, from Content-Range (206) or Content-Length (200)."""
    content_range = response.headers.get("Content-Range", "")
    if "/" in content_range and content_range.rsplit("/", 1)[1].isdigit():
        return int(content_range.rsplit("/", 1)[1])
    length = response.headers.get("Content-Length")
    return int(length) + (have if response.status == 206 else 0) if length else None


class MirrorFetcher(_DiskFetcher):
    """Reads ``mirror:///metadata/...`` and ``mirror:///targets/...`` from a repository copy
    on a local folder (a USB stick): the same TUF checks as over the network."""

    def __init__(
        self, folder: Path, scratch_dir: Path, progress: DownloadProgress = _no_progress
    ) -> None:
        self.folder = folder.resolve()
        self.scratch_dir = scratch_dir
        self.progress = progress

    @staticmethod
    def base_url(part: str) -> str:
        """The URL ngclient is given for the mirror's metadata/ or targets/."""
        return f"{MIRROR_SCHEME}:///{part}/"

    def _fetch(self, url: str) -> Iterator[bytes]:
        parts = urlsplit(url)
        if parts.scheme != MIRROR_SCHEME:
            raise DownloadError(f"{url}: not a mirror URL")
        path = (self.folder / unquote(parts.path).lstrip("/")).resolve()
        if not path.is_relative_to(self.folder):
            raise DownloadHTTPError(f"{url}: outside the mirror", 403)
        if not path.is_file():
            raise DownloadHTTPError(f"{url}: not on the mirror", 404)
        return self._read(url, path)

    def _read(self, url: str, path: Path) -> Iterator[bytes]:
        total = path.stat().st_size
        done = 0
        with path.open("rb") as f:
            while chunk := f.read(CHUNK):
                done += len(chunk)
                self.progress(url, done, total)
                yield chunk
