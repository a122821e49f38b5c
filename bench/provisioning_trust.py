"""Bundle and trust timings on this checkout's real models: build, sign and publish, then a box
fetching and verifying everything over HTTP on 127.0.0.1 and from a mirror folder.

    .venv/bin/python -m bench.provisioning_trust [--out bench/results/provisioning_trust.json]

Times are wall clock on a shared machine: the load average is recorded with them.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TypeVar

from edge.bundle_cli import source_paths
from edge.config import load_config
from provisioning.bundle import build_bundle
from provisioning.repository import Repository, generate_keys
from provisioning.sources import component_sources
from provisioning.trust import BoxTrust

REPO = Path(__file__).resolve().parent.parent
T = TypeVar("T")


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        del format, args


def _timed(label: str, results: dict[str, float], fn: Callable[[], T]) -> T:
    started = time.perf_counter()
    value = fn()
    results[label] = round(time.perf_counter() - started, 2)
    print(f"{label}: {results[label]} s", file=sys.stderr)
    return value


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--out", default=str(REPO / "bench" / "results" / "provisioning_trust.json")
    )
    args = parser.parse_args()
    # the demo LLM if built, else the tiny test model the install builds (random weights)
    llm = next(
        (
            p
            for p in (REPO / "models" / "llm-qwen2.5-0.5b", REPO / "models" / "llm-tiny")
            if p.is_dir()
        ),
        None,
    )
    config = load_config(
        None, {"models.root": str(REPO / "models"), "llm.folder": str(llm) if llm else ""}
    )
    sources, skipped = component_sources(source_paths(config, None))
    times: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="prov-bench-") as tmp_name:
        tmp = Path(tmp_name)
        index = _timed(
            "build_s",
            times,
            lambda: build_bundle(sources, tmp / "bundle", "0.1.0", lambda _s: None),
        )
        keys = generate_keys(tmp / "keys")
        repo = Repository.create(tmp / "repo", keys)
        _timed("publish_s", times, lambda: repo.publish(tmp / "bundle", keys))
        root = (tmp / "repo" / "metadata" / "1.root.json").read_bytes()
        server = ThreadingHTTPServer(
            ("127.0.0.1", 0), partial(_Quiet, directory=os.fspath(tmp / "repo"))
        )
        threading.Thread(target=server.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{server.server_address[1]}"
        box = BoxTrust(root, tmp / "box", repository_url=url, service_version="0.1.0")
        fetched = _timed(
            "http_fetch_verify_s", times, lambda: box.fetch_bundle(tmp / "slot", installed={})
        )
        server.shutdown()
        mirror = BoxTrust(root, tmp / "box2", mirror=tmp / "repo", service_version="0.1.0")
        _timed(
            "mirror_fetch_verify_s", times, lambda: mirror.fetch_bundle(tmp / "slot2", installed={})
        )
    total = sum(c.bytes for c in index.components)
    result = {
        "what": "bundle build, publish, box fetch+verify (TUF + manifest) of this checkout's models",
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "cpus": os.cpu_count(),
        "components": {
            c.name: {"kind": c.kind, "mb": round(c.bytes / 1e6, 1)} for c in index.components
        },
        "left_out": skipped,
        "total_mb": round(total / 1e6, 1),
        "verified": len(fetched.components),
        **times,
        "http_mb_per_s": round(total / 1e6 / times["http_fetch_verify_s"], 1),
    }
    Path(args.out).write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    print(json.dumps(result, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
