"""One registry of error codes: the code may not emit, nor PROTOCOL.md list, any other."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import get_args

import pytest

from devices.errors import ERROR_CODES, ERRORS, ErrorCode
from tests.conftest import REPO

SOURCE_DIRS = ("devices", "edge", "intents", "speech", "ui", "provisioning", "bench")
DOC = (REPO / "devices" / "PROTOCOL.md").read_text(encoding="utf-8")
# Constructors whose code reaches the wire (QueueError is re-raised as ProtocolError).
MAKERS = {"ProtocolError", "QueueError", "Error"}


def _name(func: ast.expr) -> str | None:
    if isinstance(func, ast.Name):
        return func.id
    return func.attr if isinstance(func, ast.Attribute) else None


def produced_codes(tree: ast.AST) -> list[tuple[int, ast.expr]]:
    """(line, expression) of every code a call makes: the first argument of ProtocolError /
    QueueError, and any `code=` keyword (Error(code=...) and the like)."""
    found: list[tuple[int, ast.expr]] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = _name(node.func)
        for kw in node.keywords:
            if kw.arg == "code":
                found.append((node.lineno, kw.value))
        if name in MAKERS - {"Error"} and node.args:
            found.append((node.lineno, node.args[0]))
    return found


def scan(root: Path) -> tuple[list[str], list[str]]:
    """(unregistered literal codes, code expressions the scan cannot read), as `file:line`."""
    unregistered: list[str] = []
    opaque: list[str] = []
    for folder in SOURCE_DIRS:
        for path in sorted((root / folder).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
            for line, expr in produced_codes(tree):
                where = f"{path.relative_to(root)}:{line}"
                if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
                    if expr.value not in ERROR_CODES:
                        unregistered.append(f"{where} {expr.value!r}")
                elif not _passes_a_code_on(expr):
                    opaque.append(f"{where} {ast.unparse(expr)}")
    return unregistered, opaque


def _passes_a_code_on(expr: ast.expr) -> bool:
    """`err.code` or a parameter named `code`: a code made (and checked) elsewhere; mypy
    holds these to ErrorCode."""
    return (isinstance(expr, ast.Attribute) and expr.attr == "code") or (
        isinstance(expr, ast.Name) and expr.id == "code")


def test_the_literal_type_and_the_registry_hold_the_same_codes() -> None:
    assert list(ERRORS) == list(get_args(ErrorCode))
    for code, info in ERRORS.items():
        assert re.fullmatch(r"[a-z_]+", code) and info.sentence.endswith("."), code
        assert not (info.local and info.refusal), code


def test_every_code_the_source_produces_is_registered() -> None:
    unregistered, opaque = scan(REPO)
    assert not unregistered, f"register these in devices/errors.py: {unregistered}"
    assert not opaque, f"codes the scan cannot check: {opaque}"


def test_the_scan_finds_an_unregistered_code(tmp_path: Path) -> None:
    pkg = tmp_path / "edge"
    pkg.mkdir()
    (pkg / "bad.py").write_text(
        'raise ProtocolError("made_up", "x")\n'
        'peer.send(Error(code="also_made_up", message="x"))\n'
        'raise QueueError(pick(), "x")\n', encoding="utf-8")
    unregistered, opaque = scan(tmp_path)
    assert unregistered == ["edge/bad.py:1 'made_up'", "edge/bad.py:2 'also_made_up'"]
    assert opaque == ["edge/bad.py:3 pick()"]


def test_console_fatal_codes_are_registered() -> None:
    from ui.client import FATAL_CODES

    assert FATAL_CODES <= ERROR_CODES


def _documented_codes(doc: str) -> set[str]:
    section = doc.split("<!-- generated:errors -->", 1)[1].split("<!-- /generated -->", 1)[0]
    return set(re.findall(r"^\| `([a-z_]+)` \|", section, re.M))


def test_protocol_md_lists_every_registered_code_and_no_other() -> None:
    listed = _documented_codes(DOC)
    assert listed == ERROR_CODES, (sorted(ERROR_CODES - listed), sorted(listed - ERROR_CODES))
    # codes named in the prose (`error` `too_large`) exist too
    named = set(re.findall(r"`error` `([a-z_]+)`", DOC))
    assert named and named <= ERROR_CODES, sorted(named - ERROR_CODES)


def test_a_missing_code_in_protocol_md_is_noticed() -> None:
    cut = re.sub(r"^\| `stt_busy` \|.*\n", "", DOC, flags=re.M)
    assert _documented_codes(cut) != ERROR_CODES


@pytest.mark.parametrize("code", sorted(c for c, i in ERRORS.items() if i.zh))
def test_customer_sentences_are_mandarin(code: str) -> None:
    assert re.search(r"[\u4e00-\u9fff]", ERRORS[code].zh)  # type: ignore[index]
