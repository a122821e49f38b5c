"""Viseme mapping and track building: the avatar's mouth must follow the phonemes, gap-free."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from speech.visemes import (
    AA,
    CH,
    DD,
    FF,
    IH,
    KK,
    NN,
    OH,
    OU,
    PP,
    RR,
    SIL,
    SS,
    TH,
    VISEME_NAMES,
    E,
    VisemeEvent,
    build_track,
    ipa_viseme,
    pinyin_visemes,
    viseme_name,
)


def test_fifteen_named_classes() -> None:
    assert len(VISEME_NAMES) == 15
    assert viseme_name(PP) == "PP" and viseme_name(SIL) == "sil" and viseme_name(OU) == "ou"


def test_espeak_ipa_phonemes() -> None:
    cases = {"p": PP, "m": PP, "f": FF, "θ": TH, "ð": TH, "t": DD, "k": KK, "ʃ": CH,
             "s": SS, "n": NN, "l": NN, "ɹ": RR, "æ": AA, "ɛ": E, "ə": E, "ɪ": IH, "i": IH,
             "ɔ": OH, "ʊ": OU, "w": OU, ".": SIL, ",": SIL, "^": SIL}  # fmt: skip
    for phoneme, expected in cases.items():
        assert ipa_viseme(phoneme) == expected, phoneme


def test_marks_carry_no_shape() -> None:
    for mark in ("ˈ", "ˌ", "ː", " ", ""):
        assert ipa_viseme(mark) is None


def test_pinyin_initials_and_finals() -> None:
    assert pinyin_visemes("b") == (PP,)
    assert pinyin_visemes("zh") == (CH,)
    assert pinyin_visemes("z") == (SS,)
    assert pinyin_visemes("^") == ()  # zero initial: the final shapes the mouth
    assert pinyin_visemes("a1") == (AA,)
    assert pinyin_visemes("ao3") == (AA, OU)
    assert pinyin_visemes("ang2") == (AA, NN)
    assert pinyin_visemes("iong1") == (IH, OH, NN)
    assert pinyin_visemes("uei4") == (OU, E, IH)
    assert pinyin_visemes("er5") == (RR,)
    assert pinyin_visemes("iii4") == (IH,)
    assert pinyin_visemes("v3") == (OU,)
    for pause in ("sil", "#1", "#3"):
        assert pinyin_visemes(pause) == (SIL,)
    assert pinyin_visemes("#0") == ()


def test_track_merges_repeats_and_shapeless_segments() -> None:
    track = build_track([((SIL,), 40), ((PP,), 30), ((PP,), 20), ((), 15), ((AA,), 50)])
    assert track == [
        VisemeEvent(SIL, 0, 40),
        VisemeEvent(PP, 40, 65),
        VisemeEvent(AA, 105, 50),
    ]


def test_diphthong_gets_sixty_percent_on_first_shape() -> None:
    track = build_track([((AA, OU), 100)])
    assert track == [VisemeEvent(AA, 0, 60), VisemeEvent(OU, 60, 40)]


def test_leading_shapeless_segment_is_given_to_first_shape() -> None:
    assert build_track([((), 10), ((E,), 10)]) == [VisemeEvent(E, 0, 20)]


segments = st.lists(
    st.tuples(
        st.lists(st.integers(0, 14), max_size=3).map(tuple),
        st.floats(0, 300, allow_nan=False),
    ),
    max_size=40,
)


@given(segments)
def test_track_is_contiguous_and_matches_total_time(
    segs: list[tuple[tuple[int, ...], float]],
) -> None:
    track = build_track(segs)
    total = round(sum(d for _, d in segs if d > 0))
    if not track:
        return
    assert all(e.duration_ms > 0 for e in track)
    for before, after in itertools.pairwise(track):
        assert after.start_ms == before.start_ms + before.duration_ms
        assert after.viseme != before.viseme
    assert track[-1].start_ms + track[-1].duration_ms <= total
    if segs and segs[-1][0] and segs[-1][1] >= 1:
        assert track[-1].start_ms + track[-1].duration_ms == total
