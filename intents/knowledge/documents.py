"""Load branch documents (Markdown with front matter, plain text, PDF) into one shape."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Literal

Audience = Literal["customer", "staff"]
AUDIENCES: Final = ("customer", "staff")
MARKDOWN_SUFFIXES: Final = (".md", ".markdown")
TEXT_SUFFIXES: Final = (".txt",)
PDF_SUFFIXES: Final = (".pdf",)
SUPPORTED_SUFFIXES: Final = MARKDOWN_SUFFIXES + TEXT_SUFFIXES + PDF_SUFFIXES
# Documents without front matter were not vetted for customers: only staff see them.
DEFAULT_AUDIENCE: Final[Audience] = "staff"
_REQUIRED_KEYS: Final = ("title", "version", "effective_date", "audience")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_KEY_VALUE = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\s*:\s*(.*)$")
_H1 = re.compile(r"^#\s+(.+?)\s*#*\s*$")
_PREAMBLE_MAX_LINES: Final = 3


class DocumentError(ValueError):
    """A file that cannot become a document; reported per file, never fatal to a reindex."""


@dataclass(frozen=True, slots=True)
class Document:
    """One source file's text and the metadata every passage of it carries."""

    source: str  # stable name used in citations, e.g. "sample_branch/fees.md"
    kind: Literal["markdown", "text", "pdf"]
    title: str
    version: str
    effective_date: str
    audience: Audience
    risk_note: str
    lang: str
    body: str
    notice: str = ""  # preamble line(s) before the front matter, e.g. "sample data"
    pages: tuple[str, ...] = field(default=())  # PDF: text per page; body joins them


def content_hash(data: bytes) -> str:
    """Key incremental reindexing on content, not mtime, so copies and touches cost nothing."""
    return hashlib.sha256(data).hexdigest()


def discover_files(folders: Iterable[Path]) -> Iterator[tuple[str, Path]]:
    """Yield (source name, path) for every supported file, sorted, so reindexing is stable."""
    for folder in folders:
        root = Path(folder)
        if root.is_file():
            yield root.name, root
            continue
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            if path.suffix.lower() in SUPPORTED_SUFFIXES and not path.name.startswith("."):
                yield f"{root.name}/{path.relative_to(root).as_posix()}", path


def split_front_matter(text: str) -> tuple[str, dict[str, str], str]:
    """Return (notice preamble, front matter keys, body); no front matter gives ({}, text)."""
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines[: _PREAMBLE_MAX_LINES + 1])
                  if line.strip() == "---"), None)
    if start is None or any(line.lstrip().startswith("#") for line in lines[:start]):
        return "", {}, text
    end = next((i for i in range(start + 1, len(lines)) if lines[i].strip() == "---"), None)
    first = next((line for line in lines[start + 1 :] if line.strip()), "")
    # '---' on line 1, or followed by 'key: value', is front matter; otherwise maybe a rule.
    strict = start == 0 or _KEY_VALUE.match(first) is not None
    if end is None:
        if strict:
            raise DocumentError("front matter opened with '---' but never closed")
        return "", {}, text
    meta: dict[str, str] = {}
    for line in lines[start + 1 : end]:
        if not line.strip():
            continue
        match = _KEY_VALUE.match(line)
        if match is None:
            if not strict and not meta:
                return "", {}, text
            raise DocumentError(f"front matter line is not 'key: value': {line.strip()!r}")
        meta[match.group(1).lower()] = match.group(2).strip().strip("\"'")
    notice = "\n".join(line.strip() for line in lines[:start] if line.strip())
    return notice, meta, "\n".join(lines[end + 1 :])


def _title_from(body: str, fallback: str) -> str:
    for line in body.splitlines():
        match = _H1.match(line.strip())
        if match:
            return match.group(1)
    return fallback


def _validated(meta: dict[str, str]) -> dict[str, str]:
    missing = [key for key in _REQUIRED_KEYS if not meta.get(key)]
    if missing:
        raise DocumentError(f"front matter misses {', '.join(missing)}")
    if meta["audience"] not in AUDIENCES:
        raise DocumentError(f"audience must be customer or staff, not {meta['audience']!r}")
    if not _DATE.match(meta["effective_date"]):
        raise DocumentError(f"effective_date must be YYYY-MM-DD, not {meta['effective_date']!r}")
    return meta


def parse_markdown(source: str, text: str) -> Document:
    """Markdown with optional front matter; a pack document must carry all required keys."""
    notice, meta, body = split_front_matter(text)
    if meta:
        meta = _validated(meta)
    if not body.strip():
        raise DocumentError("document has no text")
    audience: Audience = "customer" if meta.get("audience") == "customer" else DEFAULT_AUDIENCE
    return Document(
        source=source, kind="markdown",
        title=meta.get("title") or _title_from(body, Path(source).stem),
        version=meta.get("version", ""), effective_date=meta.get("effective_date", ""),
        audience=audience, risk_note=meta.get("risk_note", ""), lang=meta.get("lang", ""),
        body=body, notice=notice,
    )


def parse_text(source: str, text: str) -> Document:
    """Plain text added by a branch: staff-only, titled by its file name."""
    if not text.strip():
        raise DocumentError("document has no text")
    return Document(source=source, kind="text", title=Path(source).stem, version="",
                    effective_date="", audience=DEFAULT_AUDIENCE, risk_note="", lang="",
                    body=text)


def parse_pdf(source: str, path: Path) -> Document:
    """PDF via pypdf when installed; a missing pypdf is a per-file error, not a crash."""
    try:
        from pypdf import PdfReader
        from pypdf.errors import PdfReadError
    except ImportError as exc:
        raise DocumentError("PDF skipped: install pypdf to index PDF files") from exc
    try:
        reader = PdfReader(str(path))
        pages = tuple((page.extract_text() or "").strip() for page in reader.pages)
    except (PdfReadError, OSError, ValueError) as exc:
        raise DocumentError(f"unreadable PDF: {exc}") from exc
    if not any(pages):
        raise DocumentError("PDF has no extractable text (scanned image?)")
    title = (reader.metadata.title if reader.metadata else None) or Path(source).stem
    return Document(source=source, kind="pdf", title=str(title), version="", effective_date="",
                    audience=DEFAULT_AUDIENCE, risk_note="", lang="", body="\n\n".join(pages),
                    pages=pages)


def load_document(source: str, path: Path, data: bytes) -> Document:
    """Parse one file's bytes by its suffix; raises DocumentError with a human reason."""
    suffix = path.suffix.lower()
    if suffix in PDF_SUFFIXES:
        return parse_pdf(source, path)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DocumentError(f"not UTF-8 text: {exc.reason} at byte {exc.start}") from exc
    if suffix in MARKDOWN_SUFFIXES:
        return parse_markdown(source, text)
    return parse_text(source, text)
