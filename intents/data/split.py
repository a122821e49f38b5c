"""Build train/test and ambiguous splits from the hand-written sources, the same way every run.

Run `python -m intents.data.split` after editing anything under intents/data/src/; it rewrites
train.tsv, test.tsv, ambiguous.tsv, ambiguous_test.tsv and the counts table in README.md.
`--check` only verifies that the committed outputs match the sources (exit 1 if stale).
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Final

from intents.data import (
    AMBIGUOUS_TEST_TSV,
    AMBIGUOUS_TSV,
    DATA_DIR,
    SRC_DIR,
    TEST_TSV,
    TRAIN_TSV,
    lang_of,
    read_tsv,
)
from intents.understanding.catalog import INTENT_IDS

TEST_SHARE: Final = 0.2
AMBIGUOUS_SRC: Final = "ambiguous.tsv"
LANGS: Final = ("zh", "en")
README: Final = DATA_DIR / "README.md"
COUNTS_START: Final = "<!-- counts:start -->"
COUNTS_END: Final = "<!-- counts:end -->"

Labelled = tuple[str, str]  # (intent, text)


def stable_key(text: str) -> str:
    """A key that depends only on the text, so the held-out rows never move between machines."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def holdout_size(n: int) -> int:
    """Exactly 20% of a group, rounded half up, so every group of 3+ rows holds some out."""
    return int(n * TEST_SHARE + 0.5)


def hold_out(texts: Sequence[str]) -> set[str]:
    """Pick the test rows of one group: the lowest stable keys."""
    ranked = sorted(texts, key=lambda text: (stable_key(text), text))
    return set(ranked[: holdout_size(len(texts))])


def read_sources(src_dir: Path = SRC_DIR) -> dict[str, list[str]]:
    """Read every src/<intent>.tsv (`lang<TAB>text`) and check its lang tag against the text."""
    by_intent: dict[str, list[str]] = {}
    for path in sorted(src_dir.glob("*.tsv")):
        if path.name == AMBIGUOUS_SRC:
            continue
        intent = path.stem
        if intent not in INTENT_IDS:
            raise ValueError(f"{path.name}: {intent!r} is not an intent id in intents/understanding/catalog.py")
        texts: list[str] = []
        for lang, text in read_tsv(path, 2):
            if lang not in LANGS or lang != lang_of(text):
                raise ValueError(f"{path.name}: tag {lang!r} does not fit {text!r}")
            texts.append(text)
        by_intent[intent] = texts
    return by_intent


def split_labelled(by_intent: dict[str, list[str]]) -> tuple[list[Labelled], list[Labelled]]:
    """Hold out 20% of each (intent, language) group; output keeps catalog and source order."""
    train: list[Labelled] = []
    test: list[Labelled] = []
    for intent in (i for i in INTENT_IDS if i in by_intent):
        texts = by_intent[intent]
        held: set[str] = set()
        for lang in LANGS:
            held |= hold_out([t for t in texts if lang_of(t) == lang])
        for text in texts:
            (test if text in held else train).append((intent, text))
    return train, test


def read_ambiguous(src_dir: Path = SRC_DIR) -> list[tuple[str, str]]:
    """Read src/ambiguous.tsv (`text<TAB>intent,intent[,...]`); empty if not written yet."""
    path = src_dir / AMBIGUOUS_SRC
    if not path.exists():
        return []
    return [(text, cands.replace(" ", "")) for text, cands in read_tsv(path, 2)]


def split_ambiguous(
    rows: list[tuple[str, str]],
) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """Hold out 20% of the ambiguous rows per language, like the labelled groups."""
    held: set[str] = set()
    for lang in LANGS:
        held |= hold_out([text for text, _ in rows if lang_of(text) == lang])
    return [r for r in rows if r[0] not in held], [r for r in rows if r[0] in held]


def tsv(rows: Iterable[tuple[str, str]]) -> str:
    """Render two-column rows as UTF-8 TSV text with a trailing newline."""
    return "".join(f"{a}\t{b}\n" for a, b in rows)


def counts_table(train: list[Labelled], test: list[Labelled]) -> str:
    """The per-intent, per-language counts as a Markdown table for the README."""
    lines = [
        "| intent | zh train | zh test | en train | en test | total |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    totals = [0, 0, 0, 0]
    for intent in INTENT_IDS:
        cells = [
            sum(1 for i, t in rows if i == intent and lang_of(t) == lang)
            for lang in LANGS
            for rows in (train, test)
        ]
        totals = [a + b for a, b in zip(totals, cells, strict=True)]
        lines.append(f"| {intent} | " + " | ".join(map(str, cells)) + f" | {sum(cells)} |")
    lines.append("| **all** | " + " | ".join(map(str, totals)) + f" | {sum(totals)} |")
    return "\n".join(lines) + "\n"


def with_counts(readme: str, table: str) -> str:
    """Replace the generated block between the README's counts markers."""
    head, sep, rest = readme.partition(COUNTS_START)
    _, sep2, tail = rest.partition(COUNTS_END)
    if not sep or not sep2:
        raise ValueError("README.md lacks the counts markers")
    return f"{head}{COUNTS_START}\n{table}{COUNTS_END}{tail}"


def build() -> dict[Path, str]:
    """Every generated file and its exact content, from the sources alone."""
    train, test = split_labelled(read_sources())
    amb_train, amb_test = split_ambiguous(read_ambiguous())
    amb_counts = (
        f"\nambiguous: {len(amb_train)} in ambiguous.tsv, {len(amb_test)} in ambiguous_test.tsv\n"
    )
    return {
        TRAIN_TSV: tsv(train),
        TEST_TSV: tsv(test),
        AMBIGUOUS_TSV: tsv(amb_train),
        AMBIGUOUS_TEST_TSV: tsv(amb_test),
        README: with_counts(
            README.read_text(encoding="utf-8"), counts_table(train, test) + amb_counts
        ),
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Write (or with --check, verify) the generated data files."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="fail if outputs are stale")
    args = parser.parse_args(argv)
    stale = []
    for path, content in build().items():
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current == content:
            continue
        stale.append(path.name)
        if not args.check:
            path.write_text(content, encoding="utf-8")
    if args.check and stale:
        print("stale, run python -m intents.data.split:", ", ".join(stale), file=sys.stderr)
        return 1
    print("updated: " + (", ".join(stale) if stale else "nothing (already current)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
