"""Branch Teller's own intent data: readers so training and evaluation load one format."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Final

DATA_DIR: Final = Path(__file__).resolve().parent
SRC_DIR: Final = DATA_DIR / "src"
TRAIN_TSV: Final = DATA_DIR / "train.tsv"
TEST_TSV: Final = DATA_DIR / "test.tsv"
AMBIGUOUS_TSV: Final = DATA_DIR / "ambiguous.tsv"
AMBIGUOUS_TEST_TSV: Final = DATA_DIR / "ambiguous_test.tsv"
# training-only vague rows (issue 21): never split, so the vague test set stays as written
AMBIGUOUS_MORE_TSV: Final = DATA_DIR / "ambiguous_more.tsv"
CLARIFY_TSV: Final = DATA_DIR / "clarify_replies.tsv"

_CJK: Final = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


def lang_of(text: str) -> str:
    """The project's counting rule: any CJK character makes a row Mandarin, else English."""
    return "zh" if _CJK.search(text) else "en"


def read_tsv(path: Path, width: int) -> list[list[str]]:
    """Split non-blank, non-comment lines into exactly `width` tab fields, or fail loudly."""
    rows: list[list[str]] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        fields = [field.strip() for field in line.split("\t")]
        if len(fields) != width or not all(fields):
            raise ValueError(f"{path.name}:{number}: expected {width} tab-separated fields")
        rows.append(fields)
    return rows


def load_labelled(path: Path = TRAIN_TSV) -> list[tuple[str, str]]:
    """Read train.tsv / test.tsv as (intent, text) pairs, in file order."""
    return [(intent, text) for intent, text in read_tsv(path, 2)]


def load_ambiguous(path: Path = AMBIGUOUS_TSV) -> list[tuple[str, tuple[str, ...]]]:
    """Read ambiguous*.tsv as (text, acceptable intents) pairs."""
    return [(text, tuple(c.strip() for c in cands.split(","))) for text, cands in read_tsv(path, 2)]


def load_clarify(path: Path = CLARIFY_TSV) -> list[tuple[tuple[str, ...], str, str]]:
    """Read clarify_replies.tsv as (offered candidates, customer reply, expected intent)."""
    return [
        (tuple(c.strip() for c in cands.split(",")), reply, expected)
        for cands, reply, expected in read_tsv(path, 3)
    ]


def load_ambiguous_training() -> list[tuple[str, tuple[str, ...]]]:
    """The vague rows the shipped router trains on: ambiguous.tsv, then ambiguous_more.tsv."""
    return load_ambiguous(AMBIGUOUS_TSV) + load_ambiguous(AMBIGUOUS_MORE_TSV)
