"""Whisper's encoder window, driven directly through CTranslate2 for SttEngine.

faster-whisper always encodes a padded 30 s window. FitWindow encodes only the turn plus a
margin and decodes from that one pass; SharedEncoder lets the full-window path's language
detection and decode share their encoder pass.
"""

from __future__ import annotations

import threading
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt


class Decoded(NamedTuple):
    """One greedy decode of a window, with the scores faster-whisper's filters use."""

    text: str
    avg_logprob: float
    no_speech_prob: float
    compression_ratio: float


def languages(model: Any, encoded: Any) -> list[tuple[str, float]]:
    """Whisper's language probabilities for an encoded window, as ("zh", p) pairs."""
    return [(token[2:-2], float(p)) for token, p in model.model.detect_language(encoded)[0]]


class SharedEncoder:
    """Lets zh/en detection and the decode share one encoder pass (each costs a padded 30 s).

    faster-whisper's own detection encodes the window, then its decoder encodes it again. This
    wraps the model's `encode`: the window detection encoded is handed back once, in the same
    thread, when the decoder asks for an identical window. If faster-whisper changes how it
    cuts windows, the arrays differ and it simply encodes again.
    """

    def __init__(self, model: Any) -> None:
        self._encode = model.encode
        self._local = threading.local()
        self.hits = 0
        model.encode = self

    def detect(self, model: Any, samples: npt.NDArray[np.float32]) -> list[tuple[str, float]]:
        """Language probabilities of the first window; its encoding is kept for the decode."""
        from faster_whisper.audio import pad_or_trim

        features = model.feature_extractor(samples)
        frames = min(model.feature_extractor.nb_max_frames, features.shape[-1] - 1)
        window = pad_or_trim(features[:, :frames])
        output = self._encode(window)
        self._local.pending = (window, output)
        return languages(model, output)

    def __call__(self, features: npt.NDArray[np.float32]) -> Any:
        pending = getattr(self._local, "pending", None)
        self._local.pending = None
        if pending is not None and pending[0].shape == features.shape:
            if np.array_equal(pending[0], features):
                self.hits += 1
                return pending[1]
        return self._encode(features)

    def clear(self) -> None:
        """Forget a kept encoding (the decode failed or did not ask for it)."""
        self._local.pending = None


class FitWindow:
    """Whisper on a window cut to the turn: features, one encoder pass, language, greedy decode.

    Whisper was trained on padded 30 s windows; CTranslate2 encodes any even frame count up to
    3000, so a 4 s turn costs ~500 frames instead of 3000. This drives the same CTranslate2
    calls faster-whisper's `transcribe` makes (prompt layout, suppressed tokens, log-probability
    and compression ratio) on the shorter window.
    """

    def __init__(self, model: Any) -> None:
        self._model = model
        self._tokenizers: dict[str, Any] = {}
        self._suppress: tuple[int, ...] | None = None

    def window(self, samples: npt.NDArray[np.float32], margin_ms: int) -> npt.NDArray[np.float32]:
        """Log-mel features of the turn plus `margin_ms` of padding (an even frame count)."""
        from faster_whisper.audio import pad_or_trim

        features = self._model.feature_extractor(samples)
        frames = min(3000, (len(samples) // 160 + margin_ms // 10 + 1) // 2 * 2)
        return pad_or_trim(features[:, :-1], frames)  # type: ignore[no-any-return]

    def encode(self, window: npt.NDArray[np.float32]) -> Any:
        return self._model.encode(window)

    def detect(self, encoded: Any) -> list[tuple[str, float]]:
        return languages(self._model, encoded)

    def _tokenizer(self, language: str) -> Any:
        tok = self._tokenizers.get(language)
        if tok is None:
            from faster_whisper.tokenizer import Tokenizer

            tok = Tokenizer(self._model.hf_tokenizer, True, task="transcribe", language=language)
            self._tokenizers[language] = tok
        return tok

    def generate(
        self,
        encoded: Any,
        language: str,
        prompt_text: str | None,
        *,
        beam_size: int,
        max_new_tokens: int,
    ) -> Decoded:
        from faster_whisper.transcribe import get_compression_ratio, get_suppressed_tokens

        tok = self._tokenizer(language)
        prompt: list[int] = []
        if prompt_text:
            prompt = [tok.sot_prev, *tok.encode(" " + prompt_text.strip())]
        prompt += [*tok.sot_sequence, tok.no_timestamps]
        if self._suppress is None:
            self._suppress = get_suppressed_tokens(tok, (-1,))
        result = self._model.model.generate(
            encoded,
            [prompt],
            beam_size=beam_size,
            max_length=len(prompt) + max_new_tokens,
            return_scores=True,
            return_no_speech_prob=True,
            suppress_blank=True,
            suppress_tokens=list(self._suppress or ()),
        )[0]
        tokens = [t for t in result.sequences_ids[0] if t < tok.eot]
        text = tok.decode(tokens)
        return Decoded(
            text=text,
            avg_logprob=result.scores[0] * len(tokens) / (len(tokens) + 1),
            no_speech_prob=result.no_speech_prob,
            compression_ratio=get_compression_ratio(text.strip()),
        )
