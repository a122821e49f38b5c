"""Which files make up each component of the branch's bundle (from the current models and data).

The edge CLI maps the branch config onto ``SourcePaths``; this module decides the component
names and folders, and says what it left out (a model that was never built) instead of failing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from provisioning.bundle import ComponentSource, folder_files
from provisioning.manifest import ComponentKind


@dataclass(frozen=True)
class SourcePaths:
    """Where the running branch's artifacts live (resolved from its config)."""

    whisper: Path  # CTranslate2 Whisper folder
    vad: Path  # the Silero ONNX file (its folder is the component)
    router: Path  # router.npz (its folder is the component)
    llm: Path | None  # onnxruntime-genai folder; None: the tier is off
    voices: dict[str, Path]  # language -> voice folder
    knowledge_docs: list[Path]  # document folders indexed by the knowledge hub
    knowledge_index: Path | None  # DATA_DIR/kb (prebuilt index), if present
    intents: Path  # intents/data: the intent catalog's examples and test sets
    branch_config: Path  # branch.toml
    branch_id: str = "demo-001"
    skipped: list[str] = field(default_factory=list)


def _folder(kind: str, path: Path, skipped: list[str]) -> dict[str, Path] | None:
    if not path.is_dir():
        skipped.append(f"{kind}: {path} is missing (not built on this machine)")
        return None
    files = folder_files(path)
    if not files:
        skipped.append(f"{kind}: {path} is empty")
        return None
    return files


def component_sources(paths: SourcePaths) -> tuple[list[ComponentSource], list[str]]:
    """One source per artifact (stt, vad, router, llm, each voice, knowledge, intents, config)."""
    skipped = list(paths.skipped)
    sources: list[ComponentSource] = []
    models: list[tuple[ComponentKind, Path, str]] = [
        ("stt", paths.whisper, "speech-to-text (CTranslate2 Whisper)"),
        ("vad", paths.vad.parent, "voice activity detection (Silero ONNX)"),
        ("router", paths.router.parent, "intent router"),
    ]
    if paths.llm is not None:
        models.append(("llm", paths.llm, "LLM tier (onnxruntime-genai)"))
    for language, voice in sorted(paths.voices.items()):
        models.append(("tts", voice, f"text-to-speech voice ({language})"))
    for kind, folder, description in models:
        files = _folder(kind, folder, skipped)
        if files is not None:
            sources.append(ComponentSource(folder.name, kind, files, description))
    knowledge: dict[str, Path] = {}
    for docs in paths.knowledge_docs:
        if _folder("knowledge", docs, skipped) is not None:
            knowledge.update(folder_files(docs, f"docs/{docs.name}/"))
    if paths.knowledge_index is not None and paths.knowledge_index.is_dir():
        knowledge.update(folder_files(paths.knowledge_index, "index/"))
    else:
        skipped.append("knowledge: no prebuilt index (the box indexes the documents itself)")
    if knowledge:
        sources.append(
            ComponentSource(
                f"kb-{paths.branch_id}",
                "knowledge",
                knowledge,
                "knowledge pack: branch documents and their index",
            )
        )
    intents = _folder("intents", paths.intents, skipped)
    if intents is not None:
        sources.append(
            ComponentSource(
                "intent-catalog",
                "intents",
                intents,
                "intent catalog: labelled examples and test sets",
            )
        )
    if paths.branch_config.is_file():
        sources.append(
            ComponentSource(
                f"config-{paths.branch_id}",
                "config",
                {"branch.toml": paths.branch_config},
                "branch config",
            )
        )
    else:
        skipped.append(f"config: {paths.branch_config} is missing")
    return sources, skipped
