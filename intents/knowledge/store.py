"""The on-disk index: a manifest of files (hash, passages) and one vector file per content hash."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Final

import numpy as np

from intents.knowledge.chunker import Passage
from intents.knowledge.documents import AUDIENCES
from intents.knowledge.encoder import Vectors

SCHEMA: Final = 1
MANIFEST: Final = "manifest.json"
VECTORS: Final = "vectors"


@dataclass(frozen=True, slots=True)
class FileEntry:
    """What the index remembers about one source file between runs."""

    source: str
    path: str
    sha256: str
    passages: tuple[Passage, ...]


def _passage_from(raw: dict[str, Any]) -> Passage:
    values = {f.name: str(raw[f.name]) for f in fields(Passage)}
    audience = values.pop("audience")
    if audience not in AUDIENCES:
        raise KeyError(audience)
    return Passage(audience="customer" if audience == "customer" else "staff", **values)


class IndexStore:
    """Reads and writes one index folder; writes go through a temp file and an atomic rename."""

    def __init__(self, index_dir: Path) -> None:
        self.index_dir = Path(index_dir)

    def load(self) -> dict[str, FileEntry]:
        """The files indexed last time; a missing or foreign manifest means an empty index."""
        path = self.index_dir / MANIFEST
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        if not isinstance(raw, dict) or raw.get("schema") != SCHEMA:
            return {}
        entries: dict[str, FileEntry] = {}
        for item in raw.get("files", []):
            try:
                passages = tuple(_passage_from(p) for p in item["passages"])
                entries[item["source"]] = FileEntry(item["source"], item["path"],
                                                    item["sha256"], passages)
            except (KeyError, TypeError):
                continue  # a damaged entry is simply re-indexed
        return entries

    def save(self, entries: dict[str, FileEntry]) -> None:
        """Persist the manifest atomically so a power cut leaves the old or the new index."""
        self.index_dir.mkdir(parents=True, exist_ok=True)
        files = [
            {"source": e.source, "path": e.path, "sha256": e.sha256,
             "passages": [asdict(p) for p in e.passages]}
            for e in sorted(entries.values(), key=lambda e: e.source)
        ]
        body = json.dumps({"schema": SCHEMA, "files": files}, ensure_ascii=False, indent=1)
        tmp = self.index_dir / f"{MANIFEST}.tmp"
        tmp.write_text(body, encoding="utf-8")
        os.replace(tmp, self.index_dir / MANIFEST)

    def _vector_path(self, encoder_name: str, sha256: str) -> Path:
        return self.index_dir / VECTORS / encoder_name / f"{sha256}.npy"

    def load_vectors(self, encoder_name: str, entry: FileEntry) -> Vectors | None:
        """Stored vectors for this exact content and encoder, or None when they must be made."""
        path = self._vector_path(encoder_name, entry.sha256)
        try:
            rows = np.load(path, allow_pickle=False)
        except (OSError, ValueError):
            return None
        if rows.ndim != 2 or rows.shape[0] != len(entry.passages):
            return None
        out: Vectors = rows.astype(np.float32)
        return out

    def save_vectors(self, encoder_name: str, entry: FileEntry, rows: Vectors) -> None:
        """One .npy per content hash: an unchanged file is never embedded twice."""
        path = self._vector_path(encoder_name, entry.sha256)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        with tmp.open("wb") as handle:
            np.save(handle, rows.astype(np.float32), allow_pickle=False)
        os.replace(tmp, path)

    def prune_vectors(self, encoder_name: str, keep: set[str]) -> int:
        """Delete vectors of content no longer indexed; returns how many files went."""
        folder = self.index_dir / VECTORS / encoder_name
        if not folder.is_dir():
            return 0
        removed = 0
        for path in folder.glob("*.npy"):
            if path.stem not in keep:
                path.unlink(missing_ok=True)
                removed += 1
        return removed
