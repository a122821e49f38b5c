"""Phone-line and kiosk phrasing for training rows, and Whisper-like mishearing for validation.

Customers do not speak like the written rows: they open with a greeting, fill with 嗯/那个/um,
restart a sentence, mix English words into Mandarin, ramble before the request, or say two
words. `spoken_variant` rewrites a row that way, deterministically from its text, using one of
two disjoint phrase sets: `TRAIN` to augment training rows, `HELDOUT` to build validation
rows the router never saw the like of. `mishear` swaps Chinese characters for others of the
same (folded) sound, as Whisper does, for validation only. Pure functions, seeded by the text.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

from intents.understanding.router_confusion import Confusions, asr_copy, learn
from intents.understanding.router_sounds import fold, runs, syllables

_CJK: Final = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_PUNCT: Final = re.compile(r"[，。！？、,.!?;；:：]+")


@dataclass(frozen=True, slots=True)
class Phrasing:
    """The words one phrase set may add; TRAIN and HELDOUT share none of them."""

    zh_preamble: tuple[str, ...]
    zh_filler: tuple[str, ...]
    zh_ramble: tuple[str, ...]
    zh_tail: tuple[str, ...]
    en_preamble: tuple[str, ...]
    en_filler: tuple[str, ...]
    en_ramble: tuple[str, ...]
    en_tail: tuple[str, ...]
    code_switch: tuple[tuple[str, str], ...]  # (Mandarin word, the English a customer says)


TRAIN: Final = Phrasing(
    zh_preamble=("你好", "您好，我想问一下", "麻烦问一下", "喂，你好", "请问", "那个，你好"),
    zh_filler=("嗯", "那个", "就是", "呃"),
    zh_ramble=(
        "我今天请了半天假过来的，",
        "我在家里想了半天，还是过来问问，",
        "我儿子让我来的，他说你们这能办，",
    ),
    zh_tail=("谢谢啊", "麻烦你了", "行吗", "可以吗"),
    en_preamble=("hi", "hello there", "excuse me", "good morning", "sorry to bother you"),
    en_filler=("um", "uh", "like", "you know"),
    en_ramble=(
        "so I came here after work because my wife told me to, and ",
        "I was trying to do this at home but it didn't work so ",
    ),
    en_tail=("thanks", "please", "if that's ok"),
    code_switch=(
        ("账户", "account"),
        ("密码", "password"),
        ("信用卡", "credit card"),
        ("转账", "transfer"),
        ("手机银行", "app"),
        ("余额", "balance"),
        ("贷款", "loan"),
    ),
)

HELDOUT: Final = Phrasing(
    zh_preamble=("哎你好", "打扰一下", "我想咨询一下", "喂喂，听得到吗"),
    zh_filler=("这个", "嗯嗯", "然后", "啊"),
    zh_ramble=("我跑了好几个地方了，都说办不了，", "我女儿在外地，她让我自己来办，"),
    zh_tail=("好吧", "拜托了", "谢谢"),
    en_preamble=("hey", "good afternoon", "hello, can you hear me", "sorry, quick question"),
    en_filler=("erm", "well", "I mean", "so"),
    en_ramble=(
        "my daughter usually does this for me but she's away, so ",
        "I've been to two other branches today and ",
    ),
    en_tail=("thank you", "ok?", "if possible"),
    code_switch=(
        ("卡", "card"),
        ("钱", "money"),
        ("排队", "queue"),
        ("外币", "foreign currency"),
        ("取钱", "withdraw"),
        ("存钱", "deposit"),
    ),
)

STYLES: Final = ("preamble", "filler", "restart", "code_switch", "ramble", "short", "plain")


def _rng(text: str, salt: str) -> random.Random:
    """A generator seeded by the text alone: the same variant on every machine and run."""
    digest = hashlib.sha256(f"{salt}\x00{text}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def _zh(text: str, style: str, p: Phrasing, rng: random.Random) -> str:
    bare = _PUNCT.sub("，", text).strip("，")
    if style == "preamble":
        return f"{rng.choice(p.zh_preamble)}，{bare}"
    if style == "filler":
        cut = rng.randrange(0, max(1, len(bare) // 2) + 1)
        return f"{bare[:cut]}{rng.choice(p.zh_filler)}，{bare[cut:]}"
    if style == "restart":
        head = bare[: min(len(bare), rng.choice((2, 3)))]
        return f"{head}……{rng.choice(p.zh_filler)}，{bare}"
    if style == "code_switch":
        for zh, en in p.code_switch:
            if zh in bare:
                return bare.replace(zh, f" {en} ", 1).strip()
        return f"{bare} {rng.choice(p.zh_tail)}"
    if style == "ramble":
        return (
            f"{rng.choice(p.zh_ramble)}{rng.choice(p.zh_filler)}，{bare}，{rng.choice(p.zh_tail)}"
        )
    if style == "short":
        clauses = [c for c in bare.split("，") if _CJK.search(c)]
        return min(clauses, key=len) if len(clauses) > 1 else _PUNCT.sub("", bare)
    return _PUNCT.sub("", bare)


def _en(text: str, style: str, p: Phrasing, rng: random.Random) -> str:
    bare = _PUNCT.sub(" ", text).strip()
    low = bare[:1].lower() + bare[1:]
    words = low.split()
    if style == "preamble":
        return f"{rng.choice(p.en_preamble)}, {low}"
    if style == "filler" and len(words) > 1:
        cut = rng.randrange(1, len(words))
        return " ".join([*words[:cut], rng.choice(p.en_filler), *words[cut:]])
    if style == "restart" and len(words) > 2:
        return " ".join([*words[:2], f"{rng.choice(p.en_filler)},", *words])
    if style == "ramble":
        return f"{rng.choice(p.en_ramble)}{low}, {rng.choice(p.en_tail)}"
    if style == "short" and len(words) > 4:
        return " ".join(words[-4:])
    return low


def spoken_variant(text: str, phrasing: Phrasing = TRAIN, salt: str = "") -> str:
    """The row as a customer might say it on a phone line or at the kiosk (one style, seeded)."""
    rng = _rng(text, salt)
    style = rng.choice(STYLES)
    out = _zh(text, style, phrasing, rng) if _CJK.search(text) else _en(text, style, phrasing, rng)
    return re.sub(r"\s+", " ", out).strip() or text


def augment(
    rows: Sequence[tuple[str, str]], copies: int = 1, phrasing: Phrasing = TRAIN
) -> list[tuple[int, str, str]]:
    """(index of the source row, intent, spoken variant) for each row, `copies` times, new only."""
    out: list[tuple[int, str, str]] = []
    for i, (intent, text) in enumerate(rows):
        seen = {text}
        for k in range(copies):
            variant = spoken_variant(text, phrasing, salt=str(k))
            if variant not in seen:
                seen.add(variant)
                out.append((i, intent, variant))
    return out


def sound_pool(texts: Iterable[str], folded: bool = False) -> dict[str, list[str]]:
    """Characters grouped by toneless (or folded) sound: the candidates a mishearing picks."""
    pool: dict[str, set[str]] = {}
    for text in texts:
        for run in runs(text):
            for ch, syl in zip(run, syllables(run), strict=False):
                pool.setdefault(fold(syl) if folded else syl, set()).add(ch)
    return {k: sorted(v) for k, v in pool.items()}


def mishear(
    text: str,
    pools: tuple[dict[str, list[str]], dict[str, list[str]]],
    rate: float = 0.15,
    near: float = 0.3,
    salt: str = "",
) -> str:
    """Swap about `rate` of the Chinese characters for a homophone (toneless sound, from
    `pools[0]`), or with probability `near` for a near-homophone (folded sound, `pools[1]`)."""
    rng = _rng(text, "mishear" + salt)
    exact, folded = pools
    out: list[str] = []
    for ch in text:
        syl = syllables(ch) if _CJK.match(ch) and rng.random() < rate else []
        if syl:
            near_one = rng.random() < near
            key = fold(syl[0]) if near_one else syl[0]
            choices = [c for c in (folded if near_one else exact).get(key, []) if c != ch]
            out.append(rng.choice(choices) if choices else ch)
        else:
            out.append(ch)
    return "".join(out)


def heard_variants(
    rows: Sequence[tuple[str, str]],
    heard: Sequence[tuple[str, str, str]],
    use_heard: bool = True,
    share: float = 0.0,
    strength: float = 1.0,
) -> tuple[list[tuple[int, str, str]], Confusions]:
    """(index of the source row, intent, text) as Whisper heard or would hear the row.

    `heard` is (intent, reference, transcript) from intents/data/heard_train.tsv; only pairs
    whose reference is one of `rows` count, so a validation carve never leaks into training.
    With `use_heard` each real transcript trains beside its row; Whisper's confusions learned
    from those pairs (router_confusion.py) then make an ASR-like copy of a seeded `share` of
    all Mandarin rows, each character misheard at `strength` times its learned rate."""
    index = {(intent, text): i for i, (intent, text) in enumerate(rows)}
    matched = [
        (index[(intent, ref)], intent, ref, text)
        for intent, ref, text in heard
        if (intent, ref) in index and text
    ]
    conf = learn((ref, text) for _, _, ref, text in matched)
    out: list[tuple[int, str, str]] = []
    if use_heard:
        out += [(i, intent, text) for i, intent, ref, text in matched if text != ref]
    if share > 0 and conf.total:
        for i, (intent, text) in enumerate(rows):
            if not _CJK.search(text) or _rng(text, "asr-share").random() >= share:
                continue
            copy = asr_copy(text, conf, strength)
            if copy != text:
                out.append((i, intent, copy))
    return out, conf
