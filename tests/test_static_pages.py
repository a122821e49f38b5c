"""The kiosk and display pages served on the device port: types, headers, no traversal."""

from __future__ import annotations

import asyncio
import urllib.request
from pathlib import Path

import pytest

from devices.static import MOUNTS, StaticSite, page_urls
from tests.conftest import Running


def site(tmp_path: Path) -> StaticSite:
    (tmp_path / "kiosk" / "sub").mkdir(parents=True)
    (tmp_path / "display").mkdir()
    (tmp_path / "kiosk" / "index.html").write_text("<p>kiosk</p>", encoding="utf-8")
    (tmp_path / "kiosk" / "app.js").write_text("export {};", encoding="utf-8")
    (tmp_path / "kiosk" / "sub" / "x.css").write_text("p{}", encoding="utf-8")
    (tmp_path / "kiosk" / "notes.txt").write_text("not served", encoding="utf-8")
    (tmp_path / "kiosk" / ".hidden.js").write_text("secret", encoding="utf-8")
    (tmp_path / "secret.js").write_text("outside", encoding="utf-8")
    (tmp_path / "kiosk" / "link.js").symlink_to(tmp_path / "secret.js")
    (tmp_path / "display" / "index.html").write_text("<p>display</p>", encoding="utf-8")
    return StaticSite.load(tmp_path)


def test_pages_and_modules_have_their_content_types(tmp_path: Path) -> None:
    pages = site(tmp_path)
    for path, kind, body in [("/k/", "text/html", b"<p>kiosk</p>"),
                             ("/k/index.html", "text/html", b"<p>kiosk</p>"),
                             ("/k/app.js", "text/javascript", b"export {};"),
                             ("/k/sub/x.css", "text/css", b"p{}"),
                             ("/d/", "text/html", b"<p>display</p>")]:
        r = pages.respond(path)
        assert r is not None and r.status_code == 200, path
        assert r.headers["Content-Type"].startswith(kind) and r.body == body
        assert r.headers["Content-Length"] == str(len(body))
        assert r.headers["Cache-Control"] == "no-cache"
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        assert "connect-src 'self'" in r.headers["Content-Security-Policy"]


def test_missing_slash_redirects(tmp_path: Path) -> None:
    r = site(tmp_path).respond("/k")
    assert r is not None and r.status_code == 301 and r.headers["Location"] == "/k/"


@pytest.mark.parametrize("path", ["/k/../secret.js", "/k/..%2fsecret.js", "/k/%2e%2e/secret.js",
                                  "/k//etc/passwd", "/k/link.js", "/k/.hidden.js",
                                  "/k/notes.txt", "/k/sub/", "/k/nothing.js", "/web/x.js"])
def test_nothing_outside_the_folders_or_unlisted_is_served(tmp_path: Path, path: str) -> None:
    r = site(tmp_path).respond(path)
    assert r is not None and r.status_code == 404, path


def test_other_paths_are_left_to_the_device_server(tmp_path: Path) -> None:
    pages = site(tmp_path)
    for path in ("/kiosk", "/caller", "/health", "/", "/kx/"):
        assert pages.respond(path) is None


def test_the_shipped_pages_are_all_present() -> None:
    urls = set(StaticSite.load().urls())
    assert {"/k/", "/k/kiosk.js", "/k/capture-worklet.js", "/k/playback-worklet.js",
            "/k/avatar.js", "/k/audio.js", "/d/", "/d/display.js", "/web/link.js"} <= urls
    assert all(any(u.startswith(p) for p in MOUNTS) for u in urls)


def test_page_urls_keep_the_credential_in_the_fragment() -> None:
    kiosk, display = page_urls("http://127.0.0.1:8765", ("kiosk-2", "k2"), ("display-1", "d1"))
    assert kiosk == "http://127.0.0.1:8765/k/#device=kiosk-2&credential=k2"
    assert "?" not in kiosk and display.startswith("http://127.0.0.1:8765/d/#device=display-1")


async def test_the_service_serves_the_pages_on_its_port(running: Running) -> None:
    base = running.url.replace("ws://", "http://")

    def get(path: str) -> tuple[int, str, bytes]:
        try:
            with urllib.request.urlopen(base + path, timeout=5) as r:
                return r.status, r.headers["Content-Type"], r.read()
        except urllib.error.HTTPError as err:
            return err.code, err.headers["Content-Type"], b""

    status, kind, body = await asyncio.to_thread(get, "/k/")
    assert status == 200 and kind.startswith("text/html") and b"kiosk.js" in body
    status, kind, _ = await asyncio.to_thread(get, "/d/display.js")
    assert status == 200 and kind.startswith("text/javascript")
    assert (await asyncio.to_thread(get, "/k/../edge/config.py"))[0] == 404
    assert (await asyncio.to_thread(get, "/metrics"))[0] == 200
    assert (await asyncio.to_thread(get, "/nothing"))[0] == 404


def test_the_pages_speak_the_services_protocol_version() -> None:
    """The pages say hello with the version the service expects (a bump must reach them)."""
    import re

    from devices.protocol import PROTOCOL_VERSION

    link = (Path(__file__).resolve().parent.parent / "devices" / "web" / "shared" / "link.js")
    found = re.search(r"export const PROTOCOL = (\d+);", link.read_text(encoding="utf-8"))
    assert found is not None and int(found.group(1)) == PROTOCOL_VERSION
