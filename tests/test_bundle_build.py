"""Bundle build: deterministic component archives whose versions grow only when content does."""

from __future__ import annotations

import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from provisioning import manifest as m
from provisioning.bundle import BundleError, ComponentSource, build_bundle, read_index
from provisioning.sources import SourcePaths, component_sources
from tests.conftest import REPO
from tests.trust_fixtures import write_sources

lines: list[str] = []


def _build(out: Path, sources: list[ComponentSource]) -> dict[str, tuple[int, int | None, str]]:
    index = build_bundle(sources, out, "0.1.0", lines.append)
    return {c.name: (c.version, c.replaces, c.target) for c in index.components}


def test_rebuilding_keeps_unchanged_versions_and_bumps_changed_ones(tmp_path: Path) -> None:
    src = write_sources(tmp_path / "src")
    first = _build(tmp_path / "out", src)
    assert first == {
        "whisper-base": (1, None, "stt/whisper-base-1.tar"),
        "kb-test-001": (1, None, "knowledge/kb-test-001-1.tar"),
        "config-test-001": (1, None, "config/config-test-001-1.tar"),
    }
    tar1 = (tmp_path / "out" / "targets" / "stt" / "whisper-base-1.tar").read_bytes()
    assert _build(tmp_path / "out", src) == first
    assert (tmp_path / "out" / "targets" / "stt" / "whisper-base-1.tar").read_bytes() == tar1
    # a newer service rebuilding unchanged files keeps the archive (and its requirement)
    build_bundle(src, tmp_path / "out", "0.2.0", lines.append)
    assert (tmp_path / "out" / "targets" / "stt" / "whisper-base-1.tar").read_bytes() == tar1
    (tmp_path / "src" / "kb" / "fees.md").write_text("# 收费标准\n已调整。\n", encoding="utf-8")
    second = _build(tmp_path / "out", src)
    assert second["kb-test-001"] == (2, 1, "knowledge/kb-test-001-2.tar")
    assert second["whisper-base"] == first["whisper-base"]
    assert not (tmp_path / "out" / "targets" / "knowledge" / "kb-test-001-1.tar").exists()


def test_an_archive_unpacks_to_a_folder_its_manifest_vouches_for(tmp_path: Path) -> None:
    _build(tmp_path / "out", write_sources(tmp_path / "src"))
    archive = tmp_path / "out" / "targets" / "stt" / "whisper-base-1.tar"
    with tarfile.open(archive) as tar:
        names = tar.getnames()
        assert names == ["model.bin", "vocabulary.txt", m.COMPONENT_FILE]
        assert all(i.mtime == 0 and i.uid == 0 and i.uname == "" for i in tar.getmembers())
        tar.extractall(tmp_path / "unpacked", filter="data")
    man = m.read(tmp_path / "unpacked")
    assert (man.kind, man.version, man.min_service_version) == ("stt", 1, "0.1.0")
    assert m.problems(tmp_path / "unpacked", man) == []
    index = read_index(tmp_path / "out")
    assert index is not None and index.entry("whisper-base") is not None
    assert index.entry("whisper-base").bytes == archive.stat().st_size  # type: ignore[union-attr]


def test_bad_inputs_are_refused_with_a_sentence(tmp_path: Path) -> None:
    src = write_sources(tmp_path / "src")
    with pytest.raises(BundleError, match="share a name"):
        build_bundle([src[0], src[0]], tmp_path / "o1", "0.1.0", lines.append)
    _build(tmp_path / "o2", src)
    moved = ComponentSource("whisper-base", "llm", src[0].files)
    with pytest.raises(BundleError, match="was a stt component, now llm"):
        build_bundle([moved], tmp_path / "o2", "0.1.0", lines.append)
    with pytest.raises(BundleError, match="plain file name"):
        build_bundle(
            [ComponentSource("../x", "stt", src[0].files)], tmp_path / "o3", "0.1.0", lines.append
        )


def test_sources_say_what_they_left_out(tmp_path: Path) -> None:
    write_sources(tmp_path)
    (tmp_path / "vad").mkdir()
    (tmp_path / "vad" / "silero.onnx").write_bytes(b"onnx")
    (tmp_path / "vad" / "__pycache__").mkdir()
    (tmp_path / "vad" / "__pycache__" / "x.pyc").write_bytes(b"junk")
    paths = SourcePaths(
        whisper=tmp_path / "whisper-base",
        vad=tmp_path / "vad" / "silero.onnx",
        router=tmp_path / "router" / "router.npz",
        llm=tmp_path / "llm-none",
        voices={},
        knowledge_docs=[tmp_path / "kb"],
        knowledge_index=None,
        intents=REPO / "intents" / "data",
        branch_config=tmp_path / "branch.toml",
    )
    sources, skipped = component_sources(paths)
    kinds = {s.kind: s for s in sources}
    assert sorted(kinds) == ["config", "intents", "knowledge", "stt", "vad"]
    assert list(kinds["vad"].files) == ["silero.onnx"]
    assert list(kinds["knowledge"].files) == ["docs/kb/fees.md"]
    assert any(s.startswith("router:") for s in skipped)
    assert any(s.startswith("llm:") for s in skipped)


def test_bundle_build_from_this_checkout(tmp_path: Path) -> None:
    """The real command over the repository's models/ (whatever the install built)."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "edge.cli",
            "bundle",
            "build",
            "--out",
            str(tmp_path / "b"),
            "--data-dir",
            str(tmp_path / "data"),
            "--models-root",
            str(REPO / "models"),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    index = read_index(tmp_path / "b")
    assert index is not None
    kinds = {c.kind for c in index.components}
    assert {"stt", "vad", "tts", "knowledge", "intents", "config"} <= kinds
    assert "bundle " in done.stderr and " MB" in done.stderr  # progress and a summary
    for c in index.components:
        assert (tmp_path / "b" / "targets" / c.target).stat().st_size == c.bytes
