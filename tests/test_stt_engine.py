"""SttEngine shell with a fake Whisper (pool bounds, cancellation, zh/en choice) and the real one."""

from __future__ import annotations

import asyncio
import csv
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from speech.settings import SttSettings
from speech.stt import SttBusy, SttEngine
from speech.textnorm import cer, wer

ROOT = Path(__file__).resolve().parents[1]
WHISPER = ROOT / "models" / "whisper-base"
CLIPS = ROOT.parent / "shared" / "datasets" / "speech"


class FakeWhisper:
    """Stands in for faster_whisper.WhisperModel; `gate` holds decodes until the test opens it."""

    def __init__(self, probs: list[tuple[str, float]], text: str = "你好") -> None:
        self.model = SimpleNamespace(is_multilingual=True)
        self.probs = probs
        self.text = text
        self.gate = threading.Event()
        self.gate.set()
        self.calls: list[dict[str, Any]] = []
        self.drained_in: list[str] = []

    def detect_language(self, audio: np.ndarray) -> tuple[str, float, list[tuple[str, float]]]:
        return self.probs[0][0], self.probs[0][1], self.probs

    def transcribe(self, audio: np.ndarray, **kw: Any) -> tuple[Iterator[Any], None]:
        self.calls.append(kw)

        def segments() -> Iterator[Any]:
            self.gate.wait(5)
            self.drained_in.append(threading.current_thread().name)
            yield SimpleNamespace(
                start=0.0, end=1.0, text=self.text, avg_logprob=-0.2,
                no_speech_prob=0.01, compression_ratio=1.1,
            )  # fmt: skip

        return segments(), None


def engine_with(model: FakeWhisper, **kw: Any) -> SttEngine:
    return SttEngine(model, SttSettings(**kw))


AUDIO = np.zeros(16_000, np.float32)


async def test_decode_runs_in_worker_thread_partials_greedy_finals_beamed() -> None:
    model = FakeWhisper([("zh", 0.9), ("en", 0.05)], text="這是測試")
    tr = await engine_with(model).transcribe(AUDIO, partial=True)
    assert tr.text == "这是测试" and tr.raw_text == "這是測試"
    assert tr.language == "zh" and tr.duration_s == 1.0
    assert model.drained_in == ["stt_0"]  # lazy generator drained off the event loop
    kw = model.calls[0]
    assert kw["beam_size"] == 1 and kw["temperature"] == 0.0
    assert kw["condition_on_previous_text"] is False and kw["vad_filter"] is False
    assert kw["initial_prompt"] == "以下是普通话的句子。" and kw["language"] == "zh"
    assert kw["max_new_tokens"] == 20 + 15  # bounded by the audio's length
    await engine_with(model).transcribe(AUDIO)  # a final: the configured beam
    assert model.calls[-1]["beam_size"] == SttSettings().beam_size == 5


async def test_token_budget_leaves_room_for_the_longest_prompt() -> None:
    model = FakeWhisper([("zh", 1.0)])
    await engine_with(model).transcribe(np.zeros(16_000 * 60, np.float32), "zh", "长" * 500)
    assert model.calls[0]["max_new_tokens"] == 448 - 228


async def test_language_restricted_to_zh_or_en() -> None:
    model = FakeWhisper([("ja", 0.6), ("en", 0.1), ("zh", 0.3)])
    tr = await engine_with(model).transcribe(AUDIO)
    assert tr.language == "zh" and tr.language_prob == pytest.approx(0.75)
    assert model.calls[0]["language"] == "zh"
    model = FakeWhisper([("ko", 0.7), ("en", 0.2), ("zh", 0.1)], text="hello")
    tr = await engine_with(model).transcribe(AUDIO)
    assert tr.language == "en" and model.calls[0]["initial_prompt"] is None


async def test_given_language_and_prompt_are_used() -> None:
    model = FakeWhisper([("zh", 1.0)])
    tr = await engine_with(model).transcribe(AUDIO, language="en", initial_prompt="bank")
    assert tr.language == "en" and model.calls[0]["initial_prompt"] == "bank"
    with pytest.raises(ValueError):
        await engine_with(model).transcribe(AUDIO, language="fr")


async def test_empty_audio_skips_the_model() -> None:
    model = FakeWhisper([("zh", 1.0)])
    tr = await engine_with(model).transcribe(np.zeros(0, np.float32), language="en")
    assert tr.text == "" and model.calls == []


async def test_backchannel_flag() -> None:
    model = FakeWhisper([("zh", 1.0)], text="嗯，好的。")
    assert (await engine_with(model).transcribe(AUDIO)).backchannel


async def test_cancel_while_waiting_leaves_pool_healthy() -> None:
    model = FakeWhisper([("zh", 1.0)])
    engine = engine_with(model, workers=1)
    model.gate.clear()
    task = asyncio.create_task(engine.transcribe(AUDIO, language="zh"))
    await asyncio.sleep(0.05)
    assert engine.busy
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert engine.busy  # the worker is still decoding: the slot is not handed out twice
    model.gate.set()
    tr = await asyncio.wait_for(engine.transcribe(AUDIO, language="zh"), 5)
    assert tr.text == "你好"
    assert not engine.busy


async def test_queue_is_bounded() -> None:
    model = FakeWhisper([("zh", 1.0)])
    engine = engine_with(model, workers=1, max_queue=1)
    model.gate.clear()
    tasks = [asyncio.create_task(engine.transcribe(AUDIO, language="zh")) for _ in range(2)]
    await asyncio.sleep(0.05)
    with pytest.raises(SttBusy):
        await engine.transcribe(AUDIO, language="zh")
    model.gate.set()
    assert len(await asyncio.wait_for(asyncio.gather(*tasks), 5)) == 2
    engine.close()


def test_missing_folder_fails_without_download(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        SttEngine.load(tmp_path / "whisper-small")
    with pytest.raises(FileNotFoundError):
        SttEngine.load("base")  # a model-size name must never turn into a hub download


# --- the real model: one zh and one en clip (about 5-10 s in all on 2 cores) ----------------


@pytest.fixture(scope="module")
def whisper() -> Iterator[SttEngine]:
    if not (WHISPER / "model.bin").is_file():
        pytest.skip("models/whisper-base not assembled")
    import ctranslate2

    engine = SttEngine.load(WHISPER, device="auto")
    assert engine.device == ("cuda" if ctranslate2.get_cuda_device_count() else "cpu")
    yield engine
    engine.close()


def manifest() -> dict[str, dict[str, str]]:
    with (CLIPS / "manifest.tsv").open(encoding="utf-8") as f:
        return {row["file"]: row for row in csv.DictReader(f, delimiter="\t")}


@pytest.mark.parametrize(
    ("name", "max_error"),
    # measured on whisper-base int8: CER 7.7% (1 of 13 characters), WER 0.0%
    [("BAC009S0764W0121.wav", 0.20), ("jfk_16k_mono.flac", 0.10)],
)
async def test_real_clip_transcribed(whisper: SttEngine, name: str, max_error: float) -> None:
    row = manifest()[name]
    audio, rate = sf.read(CLIPS / name, dtype="float32")
    assert rate == 16_000
    frames: list[int] = []
    encode = whisper._model.encode
    whisper._model.encode = lambda window: frames.append(window.shape[-1]) or encode(window)
    try:
        started = time.perf_counter()
        tr = await asyncio.wait_for(whisper.transcribe(audio), 30)
    finally:
        whisper._model.encode = encode
    # one encoder pass for detection and decode, over the turn plus the margin, not 30 s
    assert frames == [(len(audio) // 160 + 300 + 1) // 2 * 2]
    assert time.perf_counter() - started < 15
    assert tr.language == row["lang"]
    score = cer if row["lang"] == "zh" else wer
    assert score(row["reference"], tr.text) <= max_error, tr.text
    if row["lang"] == "zh":
        assert not set("現幾滯況") & set(tr.text), "Traditional characters left"


async def test_real_model_is_silent_on_silence(whisper: SttEngine) -> None:
    tr = await asyncio.wait_for(whisper.transcribe(np.zeros(32_000, np.float32), "en"), 30)
    assert tr.text == ""
    noise = np.random.default_rng(1).standard_normal(32_000).astype(np.float32) * 0.03
    for language in (None, "zh", "en"):
        tr = await asyncio.wait_for(whisper.transcribe(noise, language), 30)
        assert tr.text == "", (language, tr.segments)


async def test_full_window_shares_one_encoder_pass(whisper: SttEngine) -> None:
    audio, _ = sf.read(CLIPS / "jfk_16k_mono.flac", dtype="float32")
    full = SttEngine(whisper._model, SttSettings(window="full"))
    assert full._shared is not None
    try:
        tr = await asyncio.wait_for(full.transcribe(audio), 30)
    finally:
        full.close()
        whisper._model.encode = full._shared._encode
    assert full._shared.hits == 1  # detection and decode shared one encoder pass
    assert tr.language == "en" and wer(manifest()["jfk_16k_mono.flac"]["reference"], tr.text) <= 0.1


async def test_turn_too_long_for_the_fit_window_takes_the_full_path(whisper: SttEngine) -> None:
    assert whisper._fits(16_000 * 26) and not whisper._fits(16_000 * 28)
