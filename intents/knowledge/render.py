"""Text for people: `branch-teller kb search` output and reindex progress lines."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from intents.knowledge.hub import ReindexProgress, ReindexReport, SearchResult

SAMPLE_PACK_DIR: Final = Path(__file__).resolve().parent.parent / "kb_pack" / "sample_branch"
KB_SUBDIR: Final = "kb"


def _cite(result: SearchResult) -> str:
    p = result.passage
    where = f"{p.source} § {p.section}" if p.section else p.source
    extra = [f"v{p.version}" if p.version else "", f"effective {p.effective_date}"
             if p.effective_date else "", "staff only" if p.audience == "staff" else ""]
    return "  ".join([where, *[e for e in extra if e]])


def render_results(results: Sequence[SearchResult], *, width: int = 100,
                   max_chars: int = 400) -> str:
    """Numbered passages with title, source, section, version and risk note for staff."""
    if not results:
        return "No passage found. Try other words, or reindex the knowledge folders."
    blocks: list[str] = []
    for n, result in enumerate(results, start=1):
        p = result.passage
        text = p.text if len(p.text) <= max_chars else p.text[: max_chars - 1] + "…"
        lines = [f"{n}. {p.title}  [score {result.score:.4f}]", f"   source: {_cite(result)}"]
        for para in text.splitlines():
            lines.extend(textwrap.wrap(para, width=width, initial_indent="   ",
                                       subsequent_indent="   ") or [""])
        if p.risk_note:
            lines.append(f"   ⚠ risk: {p.risk_note}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def render_progress(step: ReindexProgress) -> str:
    """One line per file for a reindex progress callback."""
    return f"[{step.done}/{step.total}] {step.action:<9} {step.source}"


def render_report(report: ReindexReport) -> str:
    """Summary of a reindex, errors named file by file."""
    lines = [
        f"{report.passages} passages indexed in {report.seconds:.2f} s: "
        f"{len(report.added)} added, {len(report.changed)} changed, "
        f"{len(report.unchanged)} unchanged, {len(report.removed)} removed, "
        f"{report.embedded} passages embedded",
    ]
    lines.extend(f"  error: {source}: {reason}" for source, reason in report.errors)
    return "\n".join(lines)
