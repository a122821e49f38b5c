"""PROTOCOL.md's field tables and error-code table, written from `devices.protocol`.

`python -m devices.protocol_doc --write` fills every generated section of PROTOCOL.md;
`--check` exits 1 when the file differs from what would be written (a test runs it), so the
document cannot drift from the code. Sections are HTML comments the Markdown hides:
`<!-- generated:fields:hello -->` ... `<!-- /generated -->` under each message's heading,
`<!-- generated:payloads -->` and `<!-- generated:errors -->`.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any, Final

import msgspec
from msgspec import inspect as mi

from devices import branch_payloads, health_payloads, queue_payloads, result_payloads
from devices.errors import ERRORS
from devices.message_base import Message
from devices.payloads import Payload
from devices.protocol import ALL_MESSAGES, CLIENT_MESSAGES, SERVER_MESSAGES, type_name

DOC_PATH: Final = Path(__file__).with_name("PROTOCOL.md")
_SECTION = re.compile(r"(<!-- generated:(?P<name>[a-z_:]+) -->\n)(?P<body>.*?)(<!-- /generated -->)",
                      re.S)


def _type(t: mi.Type) -> str:
    """A field's type in the words of the wire (JSON), payload structs by name."""
    if isinstance(t, mi.StructType):
        return f"`{t.cls.__name__}`"
    if isinstance(t, mi.LiteralType):
        return " \\| ".join(f"`{json.dumps(v, ensure_ascii=False)}`" for v in t.values)
    if isinstance(t, mi.UnionType):
        return " \\| ".join(_type(x) for x in t.types)
    if isinstance(t, mi.ListType):
        return f"list of {_type(t.item_type)}"
    if isinstance(t, mi.DictType):
        return f"object of {_type(t.key_type)} → {_type(t.value_type)}"
    if isinstance(t, mi.TupleType):
        return "[" + ", ".join(_type(x) for x in t.item_types) + "]"
    if isinstance(t, mi.IntType):
        bounds = [f"≥ {t.ge}" if t.ge is not None else "", f"≤ {t.le}" if t.le is not None else ""]
        extra = ", ".join(b for b in bounds if b)
        return "int" + (f" ({extra})" if extra else "")
    names = {mi.StrType: "string", mi.FloatType: "float", mi.BoolType: "bool",
             mi.NoneType: "null", mi.AnyType: "any"}
    return names.get(type(t), type(t).__name__)


def _default(f: mi.Field) -> str:
    if f.required:
        return "required"
    value: Any = f.default if f.default is not msgspec.NODEFAULT else f.default_factory()
    return f"`{msgspec.json.encode(value).decode()}`"


def _doc(cls: type) -> str:
    return " ".join((cls.__doc__ or "").split("\n\n")[0].split())


def _fields_table(cls: type[msgspec.Struct], skip: frozenset[str] = frozenset()) -> str:
    info = mi.type_info(cls)
    assert isinstance(info, mi.StructType)
    rows = ["| field | type | default |", "|---|---|---|"]
    if info.tag_field is not None:
        rows.append(f"| `{info.tag_field}` | `{json.dumps(info.tag)}` | required |")
    for f in info.fields:
        if f.encode_name not in skip:
            rows.append(f"| `{f.encode_name}` | {_type(f.type)} | {_default(f)} |")
    return "\n".join(rows) + "\n"


def _direction(cls: type[Message]) -> str:
    if cls in SERVER_MESSAGES:
        return "service → device"
    return ", ".join(r for r, types in CLIENT_MESSAGES.items() if cls in types) + " → service"


def message_fields(cls: type[Message]) -> str:
    """A message's generated section: who sends it, what it is for, every field."""
    return (f"*{_direction(cls)}.* {_doc(cls)} `id` (string or null, default `null`) may be "
            f"on every message.\n\n" + _fields_table(cls, frozenset({"id"})))


# The payload families, in the order PROTOCOL.md lists them.
PAYLOAD_MODULES: Final = (queue_payloads, health_payloads, result_payloads, branch_payloads)


def _payload_classes() -> list[type[msgspec.Struct]]:
    """Every payload struct, family by family, each in the order its module defines them."""
    return [v for module in PAYLOAD_MODULES for v in vars(module).values()
            if isinstance(v, type) and issubclass(v, Payload) and v.__module__ == module.__name__]


def payload_tables() -> str:
    """One table per nested payload struct."""
    parts = []
    for cls in _payload_classes():
        parts.append(f"#### `{cls.__name__}`\n\n{_doc(cls)}\n\n{_fields_table(cls)}")
    return "\n".join(parts)


def error_table() -> str:
    """Every registered code; refusals are routine, `console only` codes never leave it."""
    rows = ["| code | kind | meaning | 中文 |", "|---|---|---|---|"]
    for code, info in ERRORS.items():
        kind = "console only" if info.local else "refusal" if info.refusal else "error"
        sentence = info.sentence.replace("|", "\\|")
        rows.append(f"| `{code}` | {kind} | {sentence} | {info.zh} |")
    return "\n".join(rows) + "\n"


def sections() -> dict[str, str]:
    """What each generated section holds."""
    out = {f"fields:{type_name(cls)}": message_fields(cls) for cls in ALL_MESSAGES}
    out["payloads"] = payload_tables()
    out["errors"] = error_table()
    return out


def render(doc: str) -> str:
    """The document with every generated section rewritten; ValueError names a message or
    section the document lacks (or one it has that the code does not)."""
    wanted = sections()
    present = [m.group("name") for m in _SECTION.finditer(doc)]
    missing = sorted(set(wanted) - set(present))
    unknown = sorted(set(present) - set(wanted))
    if missing or unknown:
        raise ValueError(f"PROTOCOL.md lacks sections {missing} and has unknown ones {unknown}")
    return _SECTION.sub(lambda m: m.group(1) + wanted[m.group("name")] + m.group(4), doc)


def main(argv: list[str] | None = None) -> int:
    """`--check` (exit 1 on drift) or `--write`."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--check", action="store_true")
    mode.add_argument("--write", action="store_true")
    parser.add_argument("--path", type=Path, default=DOC_PATH)
    args = parser.parse_args(argv)
    doc = args.path.read_text(encoding="utf-8")
    try:
        new = render(doc)
    except ValueError as err:
        print(err, file=sys.stderr)
        return 1
    if args.write:
        if new != doc:
            args.path.write_text(new, encoding="utf-8")
        return 0
    if new != doc:
        print(f"{args.path} is out of date: run python -m devices.protocol_doc --write",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
