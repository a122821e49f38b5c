"""The knowledge hub: incremental indexing of branch folders and hybrid BM25 + dense search."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Literal

import bm25s
import numpy as np

from intents.knowledge.chunker import Passage, chunk_document
from intents.knowledge.documents import (
    DocumentError,
    content_hash,
    discover_files,
    load_document,
)
from intents.knowledge.encoder import Encoder, Vectors
from intents.knowledge.fusion import rank_by_score, reciprocal_rank_fusion
from intents.knowledge.store import FileEntry, IndexStore
from intents.knowledge.tokens import expand_query, tokenize

EXPANSION_WEIGHT = 0.3  # BM25 weight of words added to a query (fee words for price questions)

CANDIDATES: Final = 50  # per ranking, before fusion
Action = Literal["unchanged", "indexed", "embedded", "error", "removed"]
Mode = Literal["hybrid", "bm25", "dense"]  # hybrid falls back to BM25 without an encoder


@dataclass(frozen=True, slots=True)
class ReindexProgress:
    """One step of a reindex, for a progress bar or a log line."""

    done: int
    total: int
    source: str
    action: Action


ProgressFn = Callable[[ReindexProgress], None]


@dataclass(frozen=True, slots=True)
class ReindexReport:
    """What a reindex did, file by file; errors are listed, never raised."""

    added: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    errors: tuple[tuple[str, str], ...] = ()  # (source, reason)
    passages: int = 0
    embedded: int = 0  # passages sent through the encoder in this run
    seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class SearchResult:
    """A retrieved passage with its fused score and where each retriever ranked it."""

    passage: Passage
    score: float
    bm25_rank: int | None = None
    dense_rank: int | None = None

    @property
    def source(self) -> str:
        return self.passage.source

    @property
    def section(self) -> str:
        return self.passage.section

    @property
    def text(self) -> str:
        return self.passage.text

    @property
    def risk_note(self) -> str:
        return self.passage.risk_note


@dataclass(slots=True)
class _State:
    """Everything a search reads; replaced whole after a reindex, so readers never see a mix."""

    passages: list[Passage] = field(default_factory=list)
    bm25: bm25s.BM25 | None = None
    vectors: Vectors | None = None
    has_vector: list[bool] = field(default_factory=list)


class KnowledgeHub:
    """Load once, pass in; reindex and search are synchronous: run them in a worker thread."""

    def __init__(self, store: IndexStore, encoder: Encoder | None = None) -> None:
        self._store = store
        self._encoder = encoder
        self._entries = store.load()
        self._state = self._build_state(self._entries)
        self._reindexing = threading.Lock()  # one writer; searches read the state lock-free

    @classmethod
    def open(cls, index_dir: Path | str, encoder: Encoder | None = None) -> KnowledgeHub:
        """Open (or start) the index kept in `index_dir`, e.g. `<data_dir>/kb`."""
        return cls(IndexStore(Path(index_dir)), encoder)

    @property
    def passages(self) -> Sequence[Passage]:
        return tuple(self._state.passages)

    @property
    def dense(self) -> bool:
        """True when searches fuse a dense ranking in; False means BM25 alone."""
        return self._encoder is not None and any(self._state.has_vector)

    def reindex(self, folders: Iterable[Path | str],
                progress: ProgressFn | None = None) -> ReindexReport:
        """Bring the index in line with the folders; only new or changed files are processed."""
        with self._reindexing:
            return self._reindex(list(folders), progress)

    def _reindex(self, folders: list[Path | str], progress: ProgressFn | None) -> ReindexReport:
        started = time.perf_counter()
        files = list(discover_files(Path(f) for f in folders))
        total = len(files)
        old = self._entries
        entries: dict[str, FileEntry] = {}
        added: list[str] = []
        changed: list[str] = []
        unchanged: list[str] = []
        errors = [(str(f), "folder not found") for f in folders if not Path(f).exists()]
        to_embed: list[FileEntry] = []

        def step(done: int, source: str, action: Action) -> None:
            if progress is not None:
                progress(ReindexProgress(done, total, source, action))

        for done, (source, path) in enumerate(files, start=1):
            if source in entries:
                errors.append((source, f"duplicate source name, {path} ignored"))
                step(done, source, "error")
                continue
            try:
                data = path.read_bytes()
            except OSError as exc:
                errors.append((source, f"unreadable: {exc.strerror or exc}"))
                step(done, source, "error")
                continue
            sha = content_hash(data)
            previous = old.get(source)
            if previous is not None and previous.sha256 == sha:
                entries[source] = previous
                unchanged.append(source)
                if self._needs_vectors(previous):
                    to_embed.append(previous)
                step(done, source, "unchanged")
                continue
            try:
                passages = tuple(chunk_document(load_document(source, path, data)))
                if not passages:
                    raise DocumentError("document has headings but no text under them")
            except DocumentError as exc:
                errors.append((source, str(exc)))
                step(done, source, "error")
                continue
            entry = FileEntry(source, str(path), sha, passages)
            entries[source] = entry
            (changed if previous is not None else added).append(source)
            if self._encoder is not None:
                to_embed.append(entry)
            step(done, source, "indexed")

        removed = sorted(set(old) - set(entries))
        for source in removed:
            step(total, source, "removed")
        embedded = self._embed(to_embed, step, total)
        self._store.save(entries)
        if self._encoder is not None:
            self._store.prune_vectors(self._encoder.name, {e.sha256 for e in entries.values()})
        self._entries = entries
        self._state = self._build_state(entries)
        return ReindexReport(
            added=tuple(added), changed=tuple(changed), unchanged=tuple(unchanged),
            removed=tuple(removed), errors=tuple(errors),
            passages=len(self._state.passages), embedded=embedded,
            seconds=time.perf_counter() - started,
        )

    def _needs_vectors(self, entry: FileEntry) -> bool:
        return (self._encoder is not None and bool(entry.passages)
                and self._store.load_vectors(self._encoder.name, entry) is None)

    def _embed(self, entries: list[FileEntry],
               step: Callable[[int, str, Action], None], total: int) -> int:
        if self._encoder is None:
            return 0
        count = 0
        for entry in entries:
            rows = self._encoder.encode_passages([p.index_text() for p in entry.passages])
            self._store.save_vectors(self._encoder.name, entry, rows)
            count += len(entry.passages)
            step(total, entry.source, "embedded")
        return count

    def _build_state(self, entries: dict[str, FileEntry]) -> _State:
        ordered = sorted(entries.values(), key=lambda e: e.source)
        passages = [p for entry in ordered for p in entry.passages]
        state = _State(passages=passages, has_vector=[False] * len(passages))
        if not passages:
            return state
        state.bm25 = bm25s.BM25()
        state.bm25.index([tokenize(p.index_text()) for p in passages], show_progress=False)
        if self._encoder is None:
            return state
        blocks = [self._store.load_vectors(self._encoder.name, e) for e in ordered]
        dims = {b.shape[1] for b in blocks if b is not None}
        if len(dims) != 1:
            return state  # no vectors yet (or inconsistent ones): BM25 alone until reindex
        dim = dims.pop()
        rows: list[Vectors] = []
        state.has_vector = []
        for entry, block in zip(ordered, blocks, strict=True):
            present = block is not None
            rows.append(block if block is not None
                        else np.zeros((len(entry.passages), dim), dtype=np.float32))
            state.has_vector.extend([present] * len(entry.passages))
        state.vectors = np.vstack(rows)
        return state

    def search(self, query: str, k: int = 5,
               audience: Literal["customer", "staff"] = "customer",
               mode: Mode = "hybrid") -> list[SearchResult]:
        """Best passages for the query; customers never get staff-only passages."""
        state = self._state
        if not state.passages or not query.strip():
            return []
        allowed = [audience == "staff" or p.audience == "customer" for p in state.passages]
        rankings: list[list[int]] = []
        bm25_ranking = self._bm25_ranking(state, query, allowed) if mode != "dense" else []
        rankings.append(bm25_ranking)
        dense_ranking: list[int] = []
        if (mode != "bm25" and self._encoder is not None and state.vectors is not None
                and any(state.has_vector)):
            q = self._encoder.encode_queries([query])[0]
            scores = (state.vectors @ q).tolist()
            usable = [a and h for a, h in zip(allowed, state.has_vector, strict=True)]
            dense_ranking = rank_by_score(scores, usable, CANDIDATES, positive_only=False)
            rankings.append(dense_ranking)
        bm25_pos = {index: rank for rank, index in enumerate(bm25_ranking, start=1)}
        dense_pos = {index: rank for rank, index in enumerate(dense_ranking, start=1)}
        return [
            SearchResult(state.passages[i], score, bm25_pos.get(i), dense_pos.get(i))
            for i, score in reciprocal_rank_fusion(rankings)[:k]
        ]

    @staticmethod
    def _bm25_ranking(state: _State, query: str, allowed: list[bool]) -> list[int]:
        if state.bm25 is None:
            return []
        vocab = state.bm25.vocab_dict
        terms = [t for t in tokenize(query) if t in vocab]
        # a price question's fee-table words help a little; the customer's own words decide
        extra = [t for t in tokenize(expand_query(query)) if t in vocab and t not in terms]
        if not terms and not extra:
            return []
        scores = np.zeros(len(state.passages))
        if terms:
            scores = scores + state.bm25.get_scores(terms)
        if extra:
            scores = scores + EXPANSION_WEIGHT * state.bm25.get_scores(extra)
        return rank_by_score(scores.tolist(), allowed, CANDIDATES, positive_only=True)
