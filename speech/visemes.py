"""Phoneme to viseme mapping and timed viseme tracks, so the digital human's mouth follows the voice.

The 15-class set is the Oculus/MPEG-4-style one most avatar rigs accept (sil, PP, FF, TH, DD,
kk, CH, SS, nn, RR, aa, E, ih, oh, ou). Two phoneme inventories are mapped: espeak-ng IPA as
piper emits it (one code point per phoneme, stress and length marks separate) and the Databaker
pinyin initials / toned finals of the Mandarin voice. Pure and deterministic.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import msgspec

VISEME_NAMES: tuple[str, ...] = (
    "sil", "PP", "FF", "TH", "DD", "kk", "CH", "SS", "nn", "RR", "aa", "E", "ih", "oh", "ou",
)  # fmt: skip
SIL, PP, FF, TH, DD, KK, CH, SS, NN, RR, AA, E, IH, OH, OU = range(15)

_IPA: dict[str, int] = {
    **dict.fromkeys("pbmɓ", PP),
    **dict.fromkeys("fvʋ", FF),
    **dict.fromkeys("θð", TH),
    **dict.fromkeys("tdɾʔɗ", DD),
    **dict.fromkeys("kgɡŋxɣhɦqχ", KK),
    **dict.fromkeys("ʃʒɕʑʂʐçʝ", CH),
    **dict.fromkeys("szʦʣ", SS),
    **dict.fromkeys("nlɫɲɳɭʎ", NN),
    **dict.fromkeys("ɹrɻʁɚɝ", RR),
    **dict.fromkeys("aɑæʌɐɒ", AA),
    **dict.fromkeys("eɛəɜɘɤ", E),
    **dict.fromkeys("iɪɨyʏj", IH),
    **dict.fromkeys("oɔøœɵ", OH),
    **dict.fromkeys("uʊɯwɥ", OU),
    **dict.fromkeys("^$_.,;:!?¡¿—…", SIL),
}

_PINYIN_INITIALS: dict[str, int] = {
    "b": PP, "p": PP, "m": PP, "f": FF, "d": DD, "t": DD, "n": NN, "l": NN,
    "g": KK, "k": KK, "h": KK, "j": CH, "q": CH, "x": CH, "zh": CH, "ch": CH, "sh": CH,
    "r": RR, "z": SS, "c": SS, "s": SS,
}  # fmt: skip
_FINAL_VOWELS: dict[str, int] = {"a": AA, "e": E, "i": IH, "o": OH, "u": OU, "v": OU}
_PAUSES = frozenset({"sil", "#1", "#2", "#3", "pad", "eos"})


class VisemeEvent(msgspec.Struct, frozen=True, array_like=True):
    """One mouth shape: viseme id (index into VISEME_NAMES), start and duration in ms."""

    viseme: int
    start_ms: int
    duration_ms: int


def ipa_viseme(phoneme: str) -> int | None:
    """Viseme of one espeak IPA phoneme; None for marks (stress, length, word gap) that carry none."""
    if not phoneme or phoneme.isspace():
        return None
    return _IPA.get(phoneme[0])


def pinyin_visemes(symbol: str) -> tuple[int, ...]:
    """Visemes of one Databaker symbol (initial, toned final or pause); () when it has no shape."""
    if symbol in _PAUSES:
        return (SIL,)
    if symbol in _PINYIN_INITIALS:
        return (_PINYIN_INITIALS[symbol],)
    final = symbol.rstrip("12345")
    if final == "er":
        return (RR,)
    if final in ("ii", "iii"):  # apical vowels after z/c/s and zh/ch/sh/r: lips barely move
        return (IH,)
    shapes: list[int] = []
    body = final[:-2] if final.endswith("ng") else final[:-1] if final.endswith("n") else final
    for letter in body.replace("ao", "au"):  # ao / iao end rounded: [au]
        shape = _FINAL_VOWELS.get(letter)
        if shape is not None and (not shapes or shapes[-1] != shape):
            shapes.append(shape)
    if body != final:
        shapes.append(NN)
    return tuple(shapes)


def build_track(segments: Iterable[tuple[Sequence[int], float]]) -> list[VisemeEvent]:
    """Turn (visemes, duration_ms) segments into a gap-free track; shapeless segments extend the last.

    A segment with several visemes (a diphthong) gives the first 60% of its time and shares the
    rest. Boundaries are rounded from the running total so the track never drifts from the audio.
    """
    pieces: list[tuple[int | None, float]] = []
    for shapes, duration in segments:
        if duration <= 0:
            continue
        if not shapes:
            pieces.append((None, duration))
        elif len(shapes) == 1:
            pieces.append((shapes[0], duration))
        else:
            head = duration * 0.6
            pieces.append((shapes[0], head))
            rest = (duration - head) / (len(shapes) - 1)
            pieces.extend((shape, rest) for shape in shapes[1:])
    events: list[list[int]] = []  # [viseme, start_ms, end_ms]
    pending: int | None = None
    clock = 0.0
    for shape, duration in pieces:
        start = round(clock)
        clock += duration
        end = round(clock)
        if shape is None or end <= start:
            if events:
                events[-1][2] = end
            else:
                pending = start if pending is None else pending
            continue
        if events and events[-1][0] == shape:
            events[-1][2] = end
        else:
            events.append([shape, pending if pending is not None else start, end])
            pending = None
    return [VisemeEvent(v, s, e - s) for v, s, e in events if e > s]


def viseme_name(viseme: int) -> str:
    """Name of a viseme id, for logs and the avatar's lookup table."""
    return VISEME_NAMES[viseme]
