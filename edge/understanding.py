"""Load the intent router (training it from the project's data when no file is there)."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

from intents.data import load_ambiguous, load_labelled
from intents.dialogue import Understanding
from intents.router import Router

log = logging.getLogger("branch_teller.understanding")


def train_router(path: Path) -> Router:
    """Fit the router on intents/data/train.tsv (seconds) and save it."""
    rows = load_labelled()
    router = Router.train(rows, ambiguous=load_ambiguous())
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    router.save(tmp)
    os.replace(tmp, path)  # readers never see a half-written file
    log.info("router trained on %d utterances and saved to %s", len(rows), path)
    return router


def load_router(path: Path) -> Router:
    """The saved router, or a freshly trained one when the file is missing."""
    if path.exists():
        try:
            return Router.load(path)
        except (ValueError, KeyError, IndexError, OSError) as err:
            log.warning("router file %s is unreadable or from another version (%s): "
                        "retraining it from the project's data", path, err)
    else:
        log.warning("no router at %s: training it from the project's data", path)
    return train_router(path)


def load_understanding(path: Path) -> Callable[[str], Understanding]:
    """A function from customer text to the dialogue's view of it (runs off the event loop)."""
    router = load_router(path)

    def understand(text: str) -> Understanding:
        r = router.route(text)
        return Understanding(
            intent=r.intent, confidence=r.confidence,
            candidates=tuple(i for i, _ in r.candidates), unsure=r.unsure,
            scores=tuple(p for _, p in r.candidates),
            language="en" if r.language == "en" else "zh", slots=dict(r.slots))

    return understand
