"""Turn endpointing: a pure state machine fed VAD probabilities; says when turns start and end."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from speech.settings import VadSettings
from speech.turn_end import TurnHint


@dataclass(frozen=True, slots=True)
class SpeechStart:
    """A turn started; its audio begins at `start_ms` (pre-roll included)."""

    start_ms: int
    at_ms: int


@dataclass(frozen=True, slots=True)
class PossibleEnd:
    """Silence began; decoding [start_ms, end_ms) now may become the final transcript."""

    start_ms: int
    end_ms: int
    at_ms: int


@dataclass(frozen=True, slots=True)
class Resumed:
    """Speech came back after a PossibleEnd: discard the speculative decode."""

    at_ms: int


@dataclass(frozen=True, slots=True)
class SpeechEnd:
    """The turn is over: its audio is [start_ms, end_ms); reason is "silence" or "max_turn"."""

    start_ms: int
    end_ms: int
    at_ms: int
    reason: str = "silence"


Event = SpeechStart | PossibleEnd | Resumed | SpeechEnd


class _State(Enum):
    IDLE = "idle"
    CANDIDATE = "candidate"
    SPEECH = "speech"


class Endpointer:
    """Per-stream endpointing; feed it one probability per frame with the frame's start time."""

    def __init__(self, settings: VadSettings | None = None) -> None:
        self.settings = settings or VadSettings()
        self.expect_digits = False
        """Set by the dialogue while it waits for an ID or phone number (longer pauses allowed)."""
        self.system_speaking = False
        """Set while TTS plays, so short backchannels do not barge in."""
        self._frame_end = 0  # the end of the last frame fed
        self._reset_turn()

    @property
    def in_turn(self) -> bool:
        """True between SpeechStart and SpeechEnd."""
        return self._state is _State.SPEECH

    def reset(self) -> None:
        """Drop any turn in progress (e.g. the kiosk switched to text input)."""
        self._reset_turn()

    def _reset_turn(self) -> None:
        self._state = _State.IDLE
        self._speech_start = 0
        self._turn_start = 0
        self._silence_start: int | None = None
        self._possible_sent = False
        self._hint = TurnHint.OPEN
        self._hint_pending = False

    @property
    def hint(self) -> TurnHint:
        """What the words of the current pause said (OPEN until told, and after speech resumes)."""
        return self._hint

    def _is_current(self, end_ms: int) -> bool:
        return (
            self._state is _State.SPEECH
            and self._possible_sent
            and self._silence_start is not None
            and self._silence_start + self.settings.tail_ms == end_ms
        )

    def expect_hint(self, end_ms: int) -> None:
        """A semantic check of this pause's words is under way: the turn does not end on the
        normal pause before it answers (its transcript is the turn's final anyway, so waiting
        costs no reply time), at most until `trailing_end_silence_ms`."""
        if self.settings.semantic_end and self._is_current(end_ms):
            self._hint_pending = True

    def set_hint(self, hint: TurnHint, end_ms: int) -> bool:
        """The semantic check on the speculative transcript of [.., end_ms) came back: it moves
        this pause's end (see VadSettings.semantic_end). A late answer about an earlier pause
        (speech resumed, or the turn ended) is ignored; returns whether it was taken."""
        current = self._is_current(end_ms) and self.settings.semantic_end
        if current:
            self._hint = hint
            self._hint_pending = False
        return current

    def settle(self) -> list[Event]:
        """The turn's end, now, when a hint just taken makes the pause already long enough:
        the check answers after the pause's frames, and the next frame may be a whole
        kiosk frame (40 ms) away or never come."""
        if self._state is not _State.SPEECH or self._silence_start is None:
            return []
        if self._frame_end - self._silence_start < self._end_silence_ms():
            return []
        return [self._end(self._frame_end)]

    def _end(self, at_ms: int) -> SpeechEnd:
        """End the turn at the pause (its start plus the kept tail), declared at `at_ms`."""
        assert self._silence_start is not None
        end = SpeechEnd(self._turn_start, self._silence_start + self.settings.tail_ms, at_ms)
        self._reset_turn()
        return end

    def _end_silence_ms(self) -> int:
        s = self.settings
        if self.expect_digits:  # dictation pauses between groups: never cut it short
            return s.digits_end_silence_ms
        if self._hint is TurnHint.COMPLETE:
            return s.complete_end_silence_ms
        if self._hint is TurnHint.TRAILING or self._hint_pending:
            return s.trailing_end_silence_ms
        return s.end_silence_ms

    def feed(self, prob: float, t_ms: int) -> list[Event]:
        """Advance by one frame starting at t_ms; returns the events it caused (often none)."""
        self._frame_end = t_ms + self.settings.frame_ms
        if self._state is _State.IDLE:
            return self._feed_idle(prob, t_ms)
        if self._state is _State.CANDIDATE:
            return self._feed_candidate(prob, t_ms)
        return self._feed_speech(prob, t_ms)

    def _feed_idle(self, prob: float, t_ms: int) -> list[Event]:
        if prob >= self.settings.threshold:
            self._state = _State.CANDIDATE
            self._speech_start = t_ms
            self._silence_start = None
            return self._feed_candidate(prob, t_ms)
        return []

    def _feed_candidate(self, prob: float, t_ms: int) -> list[Event]:
        s = self.settings
        frame_end = t_ms + s.frame_ms
        if prob < s.neg_threshold:
            if self._silence_start is None:
                self._silence_start = t_ms
            if frame_end - self._silence_start >= s.start_gap_ms:
                self._reset_turn()
            return []
        if prob >= s.threshold:
            self._silence_start = None
        needed = max(s.min_speech_ms, s.min_turn_ms) if self.system_speaking else s.min_speech_ms
        if frame_end - self._speech_start < needed:
            return []
        self._state = _State.SPEECH
        self._silence_start = None
        self._turn_start = max(0, self._speech_start - s.pre_roll_ms)
        return [SpeechStart(start_ms=self._turn_start, at_ms=frame_end)]

    def _feed_speech(self, prob: float, t_ms: int) -> list[Event]:
        s = self.settings
        frame_end = t_ms + s.frame_ms
        events: list[Event] = []
        if self._silence_start is None:
            if prob < s.neg_threshold:
                self._silence_start = t_ms
        elif prob >= s.threshold:
            self._silence_start = None
            self._hint = TurnHint.OPEN  # the words go on: what was said of them is stale
            self._hint_pending = False
            if self._possible_sent:
                self._possible_sent = False
                events.append(Resumed(at_ms=frame_end))
        if self._silence_start is not None:
            silence = frame_end - self._silence_start
            span_end = self._silence_start + s.tail_ms
            if silence >= self._end_silence_ms():
                events.append(self._end(frame_end))
                return events
            if silence >= s.possible_end_ms and not self._possible_sent:
                self._possible_sent = True
                events.append(PossibleEnd(self._turn_start, span_end, frame_end))
        if frame_end - self._turn_start >= s.max_turn_s * 1000:
            end = self._silence_start + s.tail_ms if self._silence_start is not None else frame_end
            events.append(SpeechEnd(self._turn_start, end, frame_end, reason="max_turn"))
            self._reset_turn()
        return events
