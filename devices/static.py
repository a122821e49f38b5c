"""The kiosk and number-caller pages, served on the service's own port (no other web server).

Every file is read once at start-up into a table keyed by its URL path, so a request can only
ever get a file that was in `devices/web/` then: no path is joined from request text, and
`..`, encoded slashes or symlinks out of the folder find nothing. Plain HTML, CSS and ES
modules; nothing is fetched from the internet.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Final

from websockets.datastructures import Headers
from websockets.http11 import Response

WEB_ROOT: Final = Path(__file__).resolve().parent / "web"
# URL prefix -> folder under WEB_ROOT. `/k/` kiosk, `/d/` display, `/web/` shared modules.
MOUNTS: Final = {"/k/": "kiosk", "/d/": "display", "/web/": "shared"}
TYPES: Final = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".json": "application/json",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".webmanifest": "application/manifest+json",
}
# Pages only talk to their own origin (the websocket included); inline scripts are refused.
POLICY: Final = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                 "connect-src 'self'; media-src 'self' blob:; worker-src 'self'; "
                 "frame-ancestors 'none'; base-uri 'none'; form-action 'none'")


@dataclass(frozen=True)
class Asset:
    """One file ready to send."""

    content_type: str
    body: bytes


class StaticSite:
    """URL path -> file table for the pages; answers plain HTTP GETs on the device port."""

    def __init__(self, files: dict[str, Asset]) -> None:
        self.files = files

    @classmethod
    def load(cls, root: Path = WEB_ROOT, max_file_bytes: int = 2_000_000) -> StaticSite:
        """Read every servable file under the mounted folders (missing folders serve nothing)."""
        files: dict[str, Asset] = {}
        base = root.resolve()
        for prefix, folder in MOUNTS.items():
            top = (root / folder).resolve()
            if not top.is_dir() or not top.is_relative_to(base):
                continue
            for path in sorted(top.rglob("*")):
                kind = TYPES.get(path.suffix.lower())
                real = path.resolve()
                if (kind is None or not real.is_file() or not real.is_relative_to(top)
                        or any(part.startswith(".") for part in path.relative_to(top).parts)
                        or real.stat().st_size > max_file_bytes):
                    continue
                url = prefix + path.relative_to(top).as_posix()
                files[url] = Asset(kind, real.read_bytes())
                if path.name == "index.html":
                    files[url.removesuffix("index.html")] = files[url]
        return cls(files)

    def respond(self, path: str) -> Response | None:
        """The page for `path`, a redirect to add a missing slash, 404 inside a mount, or None
        (not a page path: the device server decides)."""
        asset = self.files.get(path)
        if asset is not None:
            return Response(200, "OK", _headers(asset.content_type, len(asset.body)), asset.body)
        if path + "/" in MOUNTS and path + "/" in self.files:
            headers = _headers("text/plain; charset=utf-8", 0)
            headers["Location"] = path + "/"
            return Response(301, "Moved Permanently", headers, b"")
        if any(path.startswith(prefix) for prefix in MOUNTS):
            body = b"not found\n"
            return Response(404, "Not Found", _headers("text/plain; charset=utf-8", len(body)),
                            body)
        return None

    def urls(self) -> list[str]:
        """Every path served (for tests and the start-up log)."""
        return sorted(self.files)


def _headers(content_type: str, length: int) -> Headers:
    # no-cache: a kiosk revalidates after a service update instead of running stale modules
    return Headers([("Content-Type", content_type), ("Content-Length", str(length)),
                    ("Cache-Control", "no-cache"), ("X-Content-Type-Options", "nosniff"),
                    ("Referrer-Policy", "no-referrer"), ("Content-Security-Policy", POLICY)])


def page_urls(http_base: str, kiosk: tuple[str, str], display: tuple[str, str]) -> tuple[str, str]:
    """Kiosk and display URLs with the device id and credential in the fragment, which the
    browser never sends to the server (so it stays out of access logs and proxies)."""
    base = http_base.rstrip("/")
    return (f"{base}/k/#device={kiosk[0]}&credential={kiosk[1]}",
            f"{base}/d/#device={display[0]}&credential={display[1]}")
