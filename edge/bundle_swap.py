"""The running service as the updater sees it: how busy the lobby is, how healthy the models
are, and how a bundle's models are loaded beside the live ones and swapped in between turns.

Models are injected resources (router, speech, LLM, knowledge hub): new ones load on the
indexing lane while the old ones serve; the swap is plain assignments on the event loop,
done only when no turn is running and no kiosk speaks or listens, so no connection drops
and no turn sees half of each. Sessions keep their conversation state (it holds no model).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edge.branch_facts import model_versions
from edge.config import BranchConfig
from edge.understanding import load_understanding
from edge.voice import SpeechResources, VoiceChannel
from intents.answers.llm import LlmEngine
from provisioning.updater import Lobby, Probe

if TYPE_CHECKING:
    from edge.service import Service

log = logging.getLogger("branch_teller.bundle_swap")

# Turn errors a model can cause (the others are the customer's: too long, too fast, busy).
MODEL_FAULTS = ("internal", "speech_unavailable", "knowledge_unavailable")


@dataclass
class LoadedModels:
    """One bundle's models, loaded and not yet serving."""

    config: BranchConfig
    understand: Any
    speech: SpeechResources | None
    llm: LlmEngine | None


class ServiceModels:
    """`edge.updates.Host` over the service."""

    def __init__(self, service: Service) -> None:
        self.service = service

    def lobby(self) -> Lobby:
        s = self.service
        sessions = list(s.sessions.values())
        return Lobby(
            conversations=sum(1 for k in sessions if k.state.turns > 0),
            turns_running=sum(1 for k in sessions if k.answering),
            speaking=len(
                {
                    *s.speaking,
                    *(k.peer.device_id for k in sessions if k.voice is not None and k.voice.busy),
                }
            ),
            pending_calls=len(s.desk.pending_calls) if s.desk is not None else 0,
        )

    def probe(self) -> Probe:
        s = self.service
        problems = []
        if s._understand is None:
            problems.append("router not loaded")
        if s.speech is not None and s.speech.problems:
            problems.extend(s.speech.problems)
        if s.hub_error:
            problems.append(f"knowledge: {s.hub_error}")
        if s.llm is None and Path(s.config.llm.folder or "-", "genai_config.json").is_file():
            problems.append(f"LLM at {s.config.llm.folder} did not load")
        failures = sum(s.turn_failures.get(code, 0) for code in MODEL_FAULTS)
        return Probe(turn_failures=failures, problems=tuple(problems))

    async def load_models(self, config: BranchConfig) -> LoadedModels:
        """Load a bundle's models off the event loop (seconds), the old ones still serving."""
        s = self.service
        loop = asyncio.get_running_loop()
        indexing = [t for t in s.tasks if t.get_name() == "knowledge"]
        if indexing:  # one writer for the knowledge index: let the start-up indexing finish
            await asyncio.wait(indexing)
        understand = await loop.run_in_executor(
            s.models,
            load_understanding,
            config.models.resolve("router"),
            config.models.router_encoder,
            s.encoder,
            config.models.resolve("router_encoder_onnx"),
            config.models.router_encoder_threads,
        )
        llm = await loop.run_in_executor(s.models, LlmEngine.from_settings, config.llm)
        speech = None
        if config.speech.enabled:
            sp = config.speech
            speech = await loop.run_in_executor(
                s.models,
                SpeechResources.load,
                Path(config.models.root),
                config.models.resolve("whisper"),
                config.models.resolve("vad"),
                sp.vad,
                sp.stt,
                sp.tts,
            )
        return LoadedModels(config, understand, speech, llm)

    def use_models(self, loaded: LoadedModels, bundle: str) -> None:
        """Swap the new models in (synchronous: the caller checked no turn is running)."""
        s = self.service
        old_speech = s.speech
        old_voices = []
        s.config = loaded.config
        s._understand = loaded.understand
        s.llm = loaded.llm
        s._answerer = None
        s.speech = loaded.speech
        if loaded.speech is not None:
            s._speech_lanes(loaded.speech)
        for session in s.sessions.values():
            session.understand = loaded.understand
            session.llm_route = s._llm_route if loaded.llm is not None else None
            if session.voice is not None and loaded.speech is not None:
                session.voice.use_resources(loaded.speech)  # an open mic stream carries on
            elif loaded.speech is not None:
                session.voice = VoiceChannel(
                    session.peer,
                    loaded.speech,
                    s.lanes.vad_route,
                    session.voice_turn,
                    s.config.server.max_audio_seconds,
                    on_barge_in=s.metrics.barge_ins.inc,
                    understood=session.pause_confidence,
                )
            elif session.voice is not None:
                old_voices.append(session.voice)
                session.voice = None
        s.versions = model_versions(loaded.config, bundle)
        s.hub_error = None
        s.spawn(s._load_knowledge(), "knowledge")  # new documents reindexed; search goes on
        s.spawn(self._close_old(old_voices, old_speech), "close-old-models")

    async def _close_old(self, voices: list[VoiceChannel], speech: SpeechResources | None) -> None:
        for voice in voices:
            await voice.close()
        if speech is not None:
            await asyncio.get_running_loop().run_in_executor(None, speech.close)

    def drop_models(self, loaded: LoadedModels) -> None:
        """Models loaded for a switch that will not happen now (shutdown)."""
        if loaded.speech is not None:
            loaded.speech.close()
