"""A real TUF repository on disk and a real HTTP server for it on 127.0.0.1 (tests only).

The server is Python's threaded http.server with byte ranges added (as nginx or a CDN does)
and two fault switches: cut a file's first download after N bytes, or ignore Range.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from securesystemslib.signer import CryptoSigner, Signer

from provisioning.bundle import BundleIndex, ComponentSource, build_bundle
from provisioning.repository import DELEGATED_ROLES, TOP_ROLES, Repository
from provisioning.trust import BoxTrust

MODEL_BYTES = 3 * 1024 * 1024 + 17


def fresh_keys() -> dict[str, Signer]:
    return {role: CryptoSigner.generate_ed25519() for role in (*TOP_ROLES, *DELEGATED_ROLES)}


def write_sources(folder: Path, model_seed: bytes = b"w1") -> list[ComponentSource]:
    """A small branch: one 3 MB speech model, a knowledge pack, a branch config."""
    model = folder / "whisper-base"
    model.mkdir(parents=True, exist_ok=True)
    (model / "model.bin").write_bytes(
        (model_seed * (MODEL_BYTES // len(model_seed) + 1))[:MODEL_BYTES]
    )
    (model / "vocabulary.txt").write_text("你好\nhello\n", encoding="utf-8")
    kb = folder / "kb"
    kb.mkdir(exist_ok=True)
    (kb / "fees.md").write_text("# 收费标准\n小额账户管理费已免收。\n", encoding="utf-8")
    (folder / "branch.toml").write_text('[branch]\nid = "test-001"\n', encoding="utf-8")

    def files(f: Path) -> dict[str, Path]:
        return {p.relative_to(f).as_posix(): p for p in sorted(f.rglob("*")) if p.is_file()}

    return [
        ComponentSource("whisper-base", "stt", files(model)),
        ComponentSource("kb-test-001", "knowledge", {f"docs/{k}": v for k, v in files(kb).items()}),
        ComponentSource("config-test-001", "config", {"branch.toml": folder / "branch.toml"}),
    ]


def build(out: Path, sources_dir: Path, model_seed: bytes = b"w1") -> BundleIndex:
    return build_bundle(write_sources(sources_dir, model_seed), out, "0.1.0", lambda _s: None)


@dataclass
class Central:
    """A repository with its keys and a built bundle, as central keeps them."""

    folder: Path
    repo: Repository
    keys: dict[str, Signer]
    bundle_dir: Path
    sources_dir: Path

    def rebuild(self, model_seed: bytes) -> BundleIndex:
        """A new model version (changed bytes), published by every role."""
        index = build(self.bundle_dir, self.sources_dir, model_seed)
        self.repo.publish(self.bundle_dir, self.keys)
        return index

    def snapshot_copy(self, to: Path) -> Path:
        shutil.copytree(self.folder, to)
        return to


def make_central(tmp: Path, **repo_kwargs: Any) -> Central:
    keys = fresh_keys()
    folder = tmp / "central" / "repository"
    repo = Repository.create(folder, keys, **repo_kwargs)
    central = Central(folder, repo, keys, tmp / "central" / "bundle", tmp / "central" / "src")
    build(central.bundle_dir, central.sources_dir)
    repo.publish(central.bundle_dir, keys)
    return central


def root_v1(central: Central) -> bytes:
    return (central.folder / "metadata" / "1.root.json").read_bytes()


@dataclass
class ServerLog:
    requests: list[tuple[str, str | None]] = field(default_factory=list)
    cut_after: dict[str, int] = field(default_factory=dict)  # basename suffix -> bytes, once
    ranges: bool = True


class _Handler(SimpleHTTPRequestHandler):
    log: ServerLog

    def log_message(self, format: str, *args: Any) -> None:
        del format, args

    def do_GET(self) -> None:
        path = Path(self.translate_path(self.path))
        rng = self.headers.get("Range")
        self.log.requests.append((self.path, rng))
        if not path.is_file():
            self.send_error(404)
            return
        size = path.stat().st_size
        start = int(rng.removeprefix("bytes=").rstrip("-")) if rng and self.log.ranges else 0
        if start >= size > 0:
            self.send_error(416)
            return
        self.send_response(206 if start else 200)
        if start:
            self.send_header("Content-Range", f"bytes {start}-{size - 1}/{size}")
        self.send_header("Content-Length", str(size - start))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        cut = next(
            (n for suffix, n in self.log.cut_after.items() if self.path.endswith(suffix)), None
        )
        with path.open("rb") as f:
            f.seek(start)
            body = f.read()
        if cut is not None:
            self.log.cut_after = {
                k: v for k, v in self.log.cut_after.items() if not self.path.endswith(k)
            }
            self.wfile.write(body[:cut])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)


@contextmanager
def serve(folder: Path) -> Iterator[tuple[str, ServerLog]]:
    """Serve folder over HTTP on 127.0.0.1 (an ephemeral port)."""
    log = ServerLog()
    handler = type("Handler", (_Handler,), {"log": log})
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(handler, directory=os.fspath(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", log
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def box(
    tmp: Path, central: Central, url: str = "", mirror: Path | None = None, **kwargs: Any
) -> BoxTrust:
    """A box that ships the bank's v1 root and keeps its trust state under tmp/box."""
    kwargs.setdefault("timeout_s", 5.0)
    return BoxTrust(
        root_v1(central),
        tmp / "box" / "trust",
        repository_url=url,
        mirror=mirror,
        service_version="0.1.0",
        **kwargs,
    )
