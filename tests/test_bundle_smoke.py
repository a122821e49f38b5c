"""The smoke test runs a staged bundle's real models in a child process: a good bundle
passes with what each model did, a broken model or a hang is reported, never raised."""

from __future__ import annotations

from pathlib import Path

from provisioning.smoke import run_smoke
from tests.bundles import component, knowledge, model


async def test_a_good_bundle_speaks_hears_and_finds(tmp_path: Path) -> None:
    model(tmp_path, "piper-en-joe", "tts", 1)
    model(tmp_path, "whisper-base", "stt", 1)
    model(tmp_path, "silero-vad", "vad", 1)
    knowledge(tmp_path, 1)
    problems, report = await run_smoke(
        tmp_path, ["whisper-base", "silero-vad", "kb-branch", "piper-en-joe"], 240
    )
    assert problems == [], problems
    assert report is not None
    done = {c.component: c.detail for c in report.checks}
    assert done["piper-en-joe"].startswith("synthesised a en sentence")
    # Whisper heard the sentence the voice spoke, the VAD found speech in it
    assert "counter" in done["whisper-base"].lower()
    assert "peak 0.9" in done["silero-vad"]
    assert done["kb-branch"].startswith("indexed 1 passages")


async def test_a_broken_model_fails_the_smoke_test_with_the_reason(tmp_path: Path) -> None:
    folder = tmp_path / "silero-vad"
    folder.mkdir()
    (folder / "silero_vad_v6.onnx").write_bytes(b"not an onnx graph" * 100)
    component(folder, "silero-vad", "vad", 2)  # a manifest that matches: only loading tells
    knowledge(tmp_path, 1)
    problems, report = await run_smoke(tmp_path, ["silero-vad", "kb-branch"], 120)
    assert len(problems) == 1 and problems[0].startswith("silero-vad (vad): ")
    assert report is not None and [c.ok for c in report.checks] == [False, True]


async def test_a_hung_smoke_test_is_killed_at_its_time_limit(tmp_path: Path) -> None:
    model(tmp_path, "whisper-base", "stt", 1)
    problems, report = await run_smoke(tmp_path, ["whisper-base"], 0.5)
    assert problems == ["smoke test did not finish within 0.5 s"] and report is None


async def test_an_empty_knowledge_pack_fails(tmp_path: Path) -> None:
    folder = tmp_path / "kb-empty"
    folder.mkdir()
    (folder / "notes.txt").write_text("", encoding="utf-8")
    component(folder, "kb-empty", "knowledge", 1)
    problems, _ = await run_smoke(tmp_path, ["kb-empty"], 120)
    assert problems and problems[0].startswith("kb-empty (knowledge): ValueError: no passages")
