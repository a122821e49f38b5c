"""Executor lanes' settings (`[lanes]` in branch.toml): pure values, read by edge/lanes.py."""

from __future__ import annotations

import msgspec


class _Section(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A table of branch.toml: unknown keys are errors, not silently ignored."""


class LaneSettings(_Section):
    """One executor lane: worker threads, jobs allowed to wait, how long one may wait."""

    workers: int = 1
    max_queue: int = 8  # jobs waiting beyond the running ones; one more is refused (busy)
    max_wait_s: float = 0.0  # a job not started by then is dropped as busy (0: no limit)
    # Added niceness of the lane's threads and of the runtime threads a model loaded on the
    # lane starts (Linux): a background lane yields the cores to speech (0: as the service).
    nice: int = 0


class VadRouteLane(LaneSettings):
    """Per-frame VAD and intent routing: short jobs, every 32 ms per speaking kiosk."""

    max_queue: int = 64


class TtsLane(LaneSettings):
    """Reply synthesis, one sentence at a time per speaking kiosk."""

    max_queue: int = 16


class AnswersLane(LaneSettings):
    """LLM routing and knowledge answers, one at a time (the model takes both cores); a
    question not started by `max_wait_s` (answers.first_sentence_s) gets the fallback."""

    max_queue: int = 2
    max_wait_s: float = 2.0
    # The model's threads yield the cores to speech: with 19, four speaking kiosks' p95 stayed
    # within 10% while two others asked LLM questions back to back (bench/voice_lanes.py;
    # with 0 it rose by 65%). Questions get slower instead, within their own deadlines.
    nice: int = 19


class IndexingLane(LaneSettings):
    """Start-up model loading and knowledge indexing."""

    max_queue: int = 4


class LanesSettings(_Section):
    """Worker threads by latency class (speech recognition's are under [speech.stt])."""

    enabled: bool = True  # false: one shared unbounded 2-thread pool (the old way; benchmarks)
    vad_route: VadRouteLane = msgspec.field(default_factory=VadRouteLane)
    tts: TtsLane = msgspec.field(default_factory=TtsLane)
    answers: AnswersLane = msgspec.field(default_factory=AnswersLane)
    indexing: IndexingLane = msgspec.field(default_factory=IndexingLane)
