"""espeak-ng phonemes for piper voices without the leaks of piper-tts 1.8's C bridge.

piper's `espeakbridge.get_phonemes` appends each clause's freshly built tuple to its result
list without dropping its own reference, so every clause of every English sentence spoken
stays in memory (three objects, ~300 bytes); and piper sets the espeak voice before every
sentence, which copies the voice in espeak-ng each time (~1.3 kB of C heap never freed when
no audio is synthesised by espeak). Over 1,000 voice-bench turns that was most of the
service's RSS growth.

`install()` puts a bridge with the same three functions in front of piper's: phonemes come
from the same espeak-ng library (the symbols piper's extension exports) through ctypes, and
the voice is set only when it changes. piper's own phonemizer code runs unchanged on top.
"""

from __future__ import annotations

import ctypes
import logging
import sys
import threading
import types
from typing import Any

_log = logging.getLogger(__name__)

_CHARS_AUTO = 0  # espeakCHARS_AUTO: UTF-8 input
_PHONEMES_IPA = 0x02  # espeakPHONEMES_IPA
_SENTENCE = 0x00080000  # CLAUSE_TYPE_SENTENCE in the terminator espeak reports
_CLAUSE_BITS = 0x000FFFFF
# espeak-ng's clause terminators (pause | intonation | type) and the mark piper expects
_TERMINATORS = {
    40 | 0x0000 | _SENTENCE: ".",
    40 | 0x2000 | _SENTENCE: "?",
    45 | 0x3000 | _SENTENCE: "!",
    20 | 0x1000 | 0x00040000: ",",
    30 | 0x0000 | 0x00040000: ":",
    30 | 0x1000 | 0x00040000: ";",
}

_installed: LeakFreeBridge | None = None
_install_lock = threading.Lock()


class LeakFreeBridge(types.ModuleType):
    """Stands in for `piper.espeakbridge`: initialize, set_voice, get_phonemes."""

    def __init__(self, original: Any) -> None:
        super().__init__("piper.espeakbridge", "leak-free front of piper's espeak bridge")
        self.original = original
        self.__file__ = original.__file__
        lib = ctypes.CDLL(original.__file__)  # the already loaded library: same espeak state
        self._to_phonemes = lib.espeak_TextToPhonemesWithTerminator
        self._to_phonemes.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_int,
                                      ctypes.c_int, ctypes.POINTER(ctypes.c_int)]
        self._to_phonemes.restype = ctypes.c_char_p
        self._voice: str | None = None
        self.voice_changes = 0

    def initialize(self, data_dir: str) -> None:
        self.original.initialize(data_dir)
        self._voice = None

    def set_voice(self, voice: str) -> None:
        """Set the espeak voice only when it differs from the one already set."""
        if voice != self._voice:
            self.original.set_voice(voice)
            self._voice = voice
            self.voice_changes += 1

    def get_phonemes(self, text: str) -> list[tuple[str, str, bool]]:
        """(IPA phonemes, terminator mark, ends a sentence) per clause, as piper's bridge."""
        data = ctypes.create_string_buffer(text.encode("utf-8"))
        cursor = ctypes.c_void_p(ctypes.addressof(data))
        terminator = ctypes.c_int(0)
        out: list[tuple[str, str, bool]] = []
        while cursor.value is not None:
            raw = self._to_phonemes(ctypes.byref(cursor), _CHARS_AUTO, _PHONEMES_IPA,
                                    ctypes.byref(terminator))
            kind = terminator.value & _CLAUSE_BITS
            out.append(((raw or b"").decode("utf-8"), _TERMINATORS.get(kind, ""),
                        kind & _SENTENCE == _SENTENCE))
        return out


def install() -> LeakFreeBridge | None:
    """Put the leak-free bridge in front of piper's (once per process); None if piper's
    extension does not export the espeak-ng symbols (then piper runs as it is)."""
    global _installed
    with _install_lock:
        if _installed is not None:
            return _installed
        import piper
        from piper import espeakbridge

        try:
            bridge = LeakFreeBridge(espeakbridge)
        except (OSError, AttributeError) as err:
            _log.warning("piper's espeak bridge left as it is (%s): it leaks per sentence", err)
            return None
        sys.modules["piper.espeakbridge"] = bridge
        piper.espeakbridge = bridge
        _installed = bridge
        return bridge
