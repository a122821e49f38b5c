"""The box's secret for central: one 0600 file, read when needed, never logged or kept."""

from __future__ import annotations

import os
import stat
from pathlib import Path


class CentralError(Exception):
    """Central cannot be reached or asked as configured (a sentence staff can act on)."""


def read_secret(path: str) -> str:
    """The secret in `path`; refuses a missing, empty or group/world-readable file (the
    message names the file and its mode, never its content)."""
    if not path:
        raise CentralError("[central] secret_file is not set")
    file = Path(path)
    try:
        info = file.stat()
        text = file.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        raise CentralError(f"secret file {path}: not found") from None
    except (OSError, UnicodeDecodeError) as err:
        raise CentralError(f"secret file {path}: unreadable ({type(err).__name__})") from None
    if os.name == "posix" and info.st_mode & 0o077:
        raise CentralError(f"secret file {path} is readable by others (mode "
                           f"{stat.S_IMODE(info.st_mode):o}): chmod 600 it")
    if not text or any(c.isspace() for c in text):
        raise CentralError(f"secret file {path}: expected one secret on one line")
    return text
