"""Cut documents into citable passages along their headings, keeping where each came from."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from intents.knowledge.documents import Audience, Document

MAX_PASSAGE_CHARS: Final = 600  # about 400 e5 tokens of Chinese: under the encoder's 512
_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")
SECTION_SEPARATOR: Final = " > "


@dataclass(frozen=True, slots=True)
class Passage:
    """The unit the hub retrieves and an answer cites: text plus its source and section."""

    passage_id: str  # "<source>#<n>", stable while the file is unchanged
    source: str
    title: str
    section: str  # heading path below the title, e.g. "准入条件"
    text: str
    version: str
    effective_date: str
    audience: Audience
    risk_note: str
    lang: str

    def index_text(self) -> str:
        """Title and section are searchable too: a question often names the heading."""
        return f"{self.title}\n{self.section}\n{self.text}"


def _split_long(text: str, limit: int) -> list[str]:
    """Split at paragraph, then line boundaries so a list item is never cut in half."""
    if len(text) <= limit:
        return [text]
    pieces: list[str] = []
    current = ""
    units = [u for para in re.split(r"\n\s*\n", text) for u in (para.splitlines() or [para])]
    for unit in units:
        unit = unit.strip()
        if not unit:
            continue
        while len(unit) > limit:  # one giant line: cut it hard
            if current:
                pieces.append(current)
                current = ""
            pieces.append(unit[:limit])
            unit = unit[limit:]
        if current and len(current) + 1 + len(unit) > limit:
            pieces.append(current)
            current = unit
        else:
            current = f"{current}\n{unit}" if current else unit
    if current:
        pieces.append(current)
    return pieces


def _sections(doc: Document) -> list[tuple[str, str]]:
    """(section path, body) per Markdown heading; the document's leading H1 is its title."""
    stack: list[tuple[int, str]] = []
    title_heading: tuple[int, str] | None = None
    out: list[tuple[str, str]] = []
    body: list[str] = []
    in_fence = False

    def flush() -> None:
        text = "\n".join(body).strip()
        if text:
            names = [name for level, name in stack
                     if (level, name) != title_heading and not (level == 1 and name == doc.title)]
            out.append((SECTION_SEPARATOR.join(names), text))
        body.clear()

    for line in doc.body.splitlines():
        if _FENCE.match(line):
            in_fence = not in_fence
        match = None if in_fence else _HEADING.match(line)
        if match is None:
            body.append(line)
            continue
        flush()
        level = len(match.group(1))
        if level == 1 and title_heading is None and not out and not stack:
            title_heading = (level, match.group(2))
        while stack and stack[-1][0] >= level:
            stack.pop()
        stack.append((level, match.group(2)))
    flush()
    return out


def chunk_document(doc: Document, max_chars: int = MAX_PASSAGE_CHARS) -> list[Passage]:
    """Markdown by headings, PDF by page, plain text by paragraphs; long parts split further."""
    if doc.kind == "markdown":
        parts = _sections(doc)
    elif doc.kind == "pdf":
        parts = [(f"p. {n}", page) for n, page in enumerate(doc.pages, start=1) if page.strip()]
    else:
        parts = [("", doc.body.strip())]
    passages: list[Passage] = []
    for section, text in parts:
        for piece in _split_long(text, max_chars):
            passages.append(Passage(
                passage_id=f"{doc.source}#{len(passages)}", source=doc.source, title=doc.title,
                section=section, text=piece, version=doc.version,
                effective_date=doc.effective_date, audience=doc.audience,
                risk_note=doc.risk_note, lang=doc.lang,
            ))
    return passages
