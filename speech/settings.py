"""Speech settings: the `[speech.vad]`, `[speech.stt]` and `[speech.tts]` tables of branch.toml.

Plain msgspec structs, so the config loads without the speech runtimes (numpy, CTranslate2,
onnxruntime): the engines in this package import them from here, never the other way round.
"""

from __future__ import annotations

from typing import Literal

import msgspec


class VadSettings(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """Endpointing knobs (branch.toml `[speech.vad]`); times are in ms of stream audio."""

    threshold: float = 0.5
    """A frame at or above this probability counts as speech."""
    neg_threshold: float = 0.35
    """Once speaking, only frames below this count as silence (hysteresis)."""
    frame_ms: int = 32
    """Duration of one VAD frame (512 samples at 16 kHz)."""
    min_speech_ms: int = 250
    """Speech shorter than this (a cough, a click) never starts a turn."""
    min_turn_ms: int = 600
    """While the system speaks, speech must last this long to interrupt (backchannels do not)."""
    start_gap_ms: int = 160
    """Silence that cancels a speech candidate not yet confirmed as a turn."""
    possible_end_ms: int = 200
    """Silence after which a speculative final decode may start."""
    end_silence_ms: int = 600
    """Silence that ends a turn."""
    digits_end_silence_ms: int = 1500
    """Silence that ends a turn while the dialogue expects digits (ID or phone dictation)."""
    tail_ms: int = 100
    """Silence kept after the last speech frame in the turn's audio span."""
    pre_roll_ms: int = 300
    """Audio kept before the first speech frame so the first syllable is not clipped."""
    max_turn_s: float = 20.0
    """A turn is cut here even if the customer keeps talking (Whisper windows are 30 s)."""
    semantic_end: bool = True
    """Let the words move the end of the turn: the speculative transcript (decoded from
    `possible_end_ms` of silence) that reads finished and routes with confidence ends the turn
    after `complete_end_silence_ms`; one that trails off ("我想……那个……", "I want to, um,")
    waits `trailing_end_silence_ms`. Off: `end_silence_ms` always."""
    complete_end_silence_ms: int = 250
    """Silence that ends a turn whose words already make a complete request."""
    trailing_end_silence_ms: int = 2000
    """Silence that ends a turn whose words trail off on a filler or a dangling connective, or
    open a request with nothing understood after it. A hesitating customer pauses over a
    second ("我想，那个，" then 1.25 s in bench/voice_requests.py); LiveKit Agents waits up to
    3 s (endpointing max_delay) when its turn detector reads a turn as unfinished."""
    complete_min_confidence: float = 0.6
    """A finished sentence counts as a complete request only if the router is at least this
    sure of it (and not unsure): a misheard or vague turn keeps the normal pause."""

    def __post_init__(self) -> None:
        if not 0.0 < self.neg_threshold <= self.threshold < 1.0:
            raise ValueError("need 0 < neg_threshold <= threshold < 1")
        if not self.tail_ms <= self.possible_end_ms < self.end_silence_ms:
            raise ValueError("need tail_ms <= possible_end_ms < end_silence_ms")
        if self.digits_end_silence_ms < self.end_silence_ms:
            raise ValueError("digits_end_silence_ms must be >= end_silence_ms")
        if self.frame_ms <= 0 or self.max_turn_s <= 0:
            raise ValueError("frame_ms and max_turn_s must be positive")
        if not self.possible_end_ms <= self.complete_end_silence_ms <= self.end_silence_ms:
            raise ValueError("need possible_end_ms <= complete_end_silence_ms <= end_silence_ms")
        if self.trailing_end_silence_ms < self.end_silence_ms:
            raise ValueError("trailing_end_silence_ms must be >= end_silence_ms")
        if not 0.0 <= self.complete_min_confidence <= 1.0:
            raise ValueError("complete_min_confidence must be in [0, 1]")


class SttSettings(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """Speech-to-text knobs (branch.toml `[speech.stt]`); the model folder comes from [models]."""

    device: Literal["auto", "cpu", "cuda"] = "auto"
    """auto = CUDA when CTranslate2 sees a GPU, else CPU."""
    compute_type: str = "int8"
    """CTranslate2 quantisation; int8 on CPU, int8 also runs on CUDA (int8_float16 there)."""
    cpu_threads: int = 2
    """Threads per decode on CPU."""
    workers: int = 1
    """Concurrent decodes (all kiosks share these); more only helps with spare cores or a GPU."""
    max_queue: int = 8
    """Decodes allowed to wait for a worker before `transcribe` refuses with SttBusy."""
    beam_size: int = 5
    """Beam of a final transcript (partials are always greedy). On 200 accented Mandarin
    requests (bench/results/stt_options.json) beam 5 routed 76.0% right against greedy's 72.5%
    for 25% more CPU per decode; first audio p50 0.43 -> 0.53 s on one kiosk (quiet box)."""
    max_tokens_per_s: float = 15.0
    """Token budget per second of audio (plus 20) so a decoder loop cannot run on for seconds."""
    partial_interval_ms: int = 1000
    """At most one partial decode per stream per this many ms of wall time."""
    partial_min_new_audio_ms: int = 300
    """A partial decode runs only if at least this much new audio arrived since the last."""
    partial_min_audio_ms: int = 1000
    """No partial before the turn holds this much audio (pre-roll included; shorter ones came
    back empty on the clips and cost a full encoder pass each)."""
    lock_language_prob: float = 0.8
    """A partial's zh/en guess this sure fixes the language for the rest of the turn."""
    initial_prompt_zh: str | None = "以下是普通话的句子。"
    """Prompt for Mandarin turns. Neutral on CER for base (13.2% on the AISHELL clips either
    way) but gives punctuation and Chinese numerals; a banking-words prompt helped synthetic
    banking phrases (25.6% -> 19.5%) and hurt the news clips (21.6%): see bench/stt_bench.py."""
    initial_prompt_en: str | None = None
    """Prompt for English turns."""
    window: Literal["fit", "full"] = "fit"
    """fit = encode only the turn plus `window_margin_ms` of padding (whisper.cpp's `audio_ctx`
    idea); full = Whisper's padded 30 s window, as faster-whisper does. Measured on 2 cores
    (real clips / 18 synthetic banking phrases): decode 1.25 -> 0.42 s and 1.12 -> 0.26 s,
    zh CER 13.2 -> 8.1% and 24.7 -> 26.2%, en WER unchanged. Turns that do not fit in 30 s
    always take the full path."""
    window_margin_ms: int = 3000
    """Padding after the turn in the fit window. Less lets Whisper loop past the end of speech:
    with 1 s the synthetic phrases repeated themselves (zh CER 46%), 0.5 s broke the real clips
    too; 2-4 s measured the same."""
    no_speech_prob: float = 0.4
    """Fit path: a decode at least this sure of silence, with an average log-probability under
    `min_avg_logprob`, returns nothing. Speech measured <= 0.18 with log-probabilities over
    -0.7; noise and silence hallucinations 0.45-0.99 under -1.0."""
    min_avg_logprob: float = -1.0
    """See `no_speech_prob`."""
    digits_prompt_zh: str | None = "以下是普通话的句子。金额是五千元，两万块，一百美元，10000元。"
    """Prompt for a Mandarin turn while the dialogue awaits a number (an amount, an appointment,
    an ID or phone number), once the turn's language is known; None keeps the usual prompt.
    On 57 Kokoro training-style clips with lobby noise (bench/stt_options.py), the 18 with a
    number in them: CER 53.3% -> 45.8%, top-1 routing 55.6% -> 61.1%, same decode cost."""
    digits_prompt_en: str | None = None
    """The same for an English turn (not measured: None keeps the usual prompt)."""


class TtsSettings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """TTS settings for branch.toml ([tts]); folders are bundle components under the models root."""

    voices: dict[str, str] = msgspec.field(
        default_factory=lambda: {"en": "models/piper-en-joe", "zh": "models/zh-databaker"}
    )
    """Language -> voice folder (a piper voice folder, or a zh-databaker style folder)."""
    rate: float = 1.0
    """Speaking rate; 1.0 is the voice's own pace, below 1 slower (length scale = 1 / rate)."""
    elderly_rate: float = 0.8
    """Rate in elderly / accessibility mode: 20% slower."""
    sentence_max_width: int = 80
    """Longest chunk in width units (a CJK character counts 2): 80 = ~40 hanzi or ~80 letters."""
    elderly_sentence_max_width: int = 36
    """Shorter chunks in elderly mode (~18 hanzi)."""
    first_sentence_max_width: int = 24
    """A wider first sentence is cut after its leading clauses ('Hello,') so audio starts sooner."""
    noise_scale: float | None = None
    """Piper generator noise; None keeps the voice's value, 0 makes synthesis deterministic."""
    noise_w: float | None = None
    """Piper phoneme-width noise; None keeps the voice's value, 0 makes timing deterministic."""
    threads: int = 2
    """Intra-op threads of each voice's runtime."""
    cache_mb: float = 32.0
    """Audio of recently spoken sentences kept in memory, least recently used out first: a
    branch's replies repeat ("这项业务可以在...自助办理，"), and a sentence already synthesised
    in the same voice and rate plays at once. 0 turns the cache off."""

    def __post_init__(self) -> None:
        if self.cache_mb < 0:
            raise ValueError("speech.tts.cache_mb must be >= 0")
