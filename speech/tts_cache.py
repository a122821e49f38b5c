"""Recently spoken sentences, kept as audio: a branch's replies repeat, so most play at once.

The kiosk says the same few dozen sentences all day ("这项业务可以在大厅左侧的1号智能柜员机自助办理，",
"请问您是想办理哪一项"); synthesising one costs 100-500 ms of the 2 cores before the customer
hears anything. The cache is keyed by voice, rate and the exact sentence text, bounded by the
bytes of audio it holds, and evicts the least recently used sentence first. It lives in memory
only (never on disk, never logged) and is touched from the event loop alone.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from speech.tts import SpeechChunk

Key = tuple[int, float, str]  # id of the voice object, rate, sentence text


def chunk_bytes(chunk: SpeechChunk) -> int:
    """What one entry costs: its audio plus a rough allowance for text and timings."""
    return len(chunk.pcm) + 64 * (len(chunk.visemes) + len(chunk.words)) + 4 * len(chunk.text)


class SentenceCache:
    """Least-recently-used sentence audio within `max_bytes` (0: keeps nothing)."""

    def __init__(self, max_bytes: int) -> None:
        if max_bytes < 0:
            raise ValueError("max_bytes must be >= 0")
        self.max_bytes = max_bytes
        self._entries: OrderedDict[Key, SpeechChunk] = OrderedDict()
        self._bytes = 0
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def size_bytes(self) -> int:
        """Bytes held now (never above max_bytes)."""
        return self._bytes

    def get(self, key: Key) -> SpeechChunk | None:
        """The cached sentence, now the most recently used; None (a miss) when absent."""
        chunk = self._entries.get(key)
        if chunk is None:
            self.misses += 1
            return None
        self._entries.move_to_end(key)
        self.hits += 1
        return chunk

    def put(self, key: Key, chunk: SpeechChunk) -> None:
        """Keep a synthesised sentence; one larger than the whole cache is not kept."""
        cost = chunk_bytes(chunk)
        if cost > self.max_bytes:
            return
        old = self._entries.pop(key, None)
        if old is not None:
            self._bytes -= chunk_bytes(old)
        self._entries[key] = chunk
        self._bytes += cost
        while self._bytes > self.max_bytes:
            _, evicted = self._entries.popitem(last=False)
            self._bytes -= chunk_bytes(evicted)
