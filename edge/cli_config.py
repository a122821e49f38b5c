"""Command-line flags for every config field, generated from the typed config itself.

Scalar settings get a flag each (`--server-port 9000`, `--thresholds-large-cash-cny 30000`);
anything (lists of counters, devices...) can be set with `--set KEY=TOML_VALUE`.
"""

from __future__ import annotations

import argparse
import tomllib
from pathlib import Path
from typing import Any

import msgspec

from edge.config import BranchConfig, ConfigError, load_config

_SCALARS = (msgspec.inspect.StrType, msgspec.inspect.IntType, msgspec.inspect.FloatType,
            msgspec.inspect.BoolType, msgspec.inspect.LiteralType)
_ALIASES = {"server.host": "--host", "server.port": "--port", "data_dir": "--data-dir"}


def _scalar(t: msgspec.inspect.Type) -> msgspec.inspect.Type | None:
    if isinstance(t, _SCALARS):
        return t
    if isinstance(t, msgspec.inspect.UnionType):
        kinds = [x for x in t.types if not isinstance(x, msgspec.inspect.NoneType)]
        if len(kinds) == 1 and isinstance(kinds[0], _SCALARS):
            return kinds[0]
    return None


def _fields(t: msgspec.inspect.StructType, prefix: str = "") -> list[tuple[str, Any, Any]]:
    out: list[tuple[str, Any, Any]] = []
    for f in t.fields:
        key = f"{prefix}{f.name}"
        if isinstance(f.type, msgspec.inspect.StructType):
            out.extend(_fields(f.type, key + "."))
            continue
        scalar = _scalar(f.type)
        if scalar is not None:
            out.append((key, scalar, f.default))
    return out


CONFIG_FIELDS = _fields(msgspec.inspect.type_info(BranchConfig))  # type: ignore[arg-type]


def _parse_bool(text: str) -> bool:
    lowered = text.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, not {text!r}")


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """--config, --set and one flag per scalar setting (defaults shown)."""
    parser.add_argument("--config", type=Path, metavar="FILE",
                        help="branch.toml to read (default: built-in demo branch)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override any setting with a TOML value, e.g. "
                        "--set 'queue.no_show.action=\"cancel\"'")
    group = parser.add_argument_group("settings (each overrides branch.toml)")
    for key, kind, default in CONFIG_FIELDS:
        flags = [f"--{key.replace('.', '-').replace('_', '-')}"]
        if key in _ALIASES:
            flags.insert(0, _ALIASES[key])
        conv: Any = str
        if isinstance(kind, msgspec.inspect.BoolType):
            conv = _parse_bool
        elif isinstance(kind, msgspec.inspect.IntType):
            conv = int
        elif isinstance(kind, msgspec.inspect.FloatType):
            conv = float
        shown = "" if default is msgspec.NODEFAULT else f" (default: {default!r})"
        group.add_argument(*flags, dest=f"cfg:{key}", type=conv, default=None,
                           metavar=kind.__class__.__name__.removesuffix("Type").upper(),
                           help=f"{key}{shown}")


def config_from_args(args: argparse.Namespace) -> BranchConfig:
    """The config file plus every override given on the command line."""
    overrides: dict[str, Any] = {}
    for item in args.set:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set {item!r}: expected KEY=VALUE")
        try:
            overrides[key.strip()] = tomllib.loads(f"v = {raw}")["v"]
        except tomllib.TOMLDecodeError:
            overrides[key.strip()] = raw  # a bare word: take it as a string
    for name, value in vars(args).items():
        if name.startswith("cfg:") and value is not None:
            overrides[name[4:]] = value
    return load_config(args.config, overrides)
