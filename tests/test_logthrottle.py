"""The log throttle: counts every event, logs a source at most once per interval."""

from __future__ import annotations

import pytest

from devices.logthrottle import OTHER, LogThrottle, Summary


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_first_event_logged_then_summed_until_the_interval_passes() -> None:
    clock = Clock()
    throttle = LogThrottle(60.0, clock=clock)
    assert throttle.note("10.0.0.7", "malformed") == Summary("10.0.0.7", {"malformed": 1}, None)
    lines = [throttle.note("10.0.0.7", "malformed" if i % 3 else "hello_timeout")
             for i in range(10_000)]
    assert lines.count(None) == 10_000
    clock.now += 59.9
    assert throttle.note("10.0.0.7", "malformed") is None
    clock.now += 0.1
    line = throttle.note("10.0.0.7", "malformed")
    assert line is not None
    assert line.counts == {"malformed": 6_666 + 2, "hello_timeout": 3_334}  # not the first
    assert line.span_s == pytest.approx(60.0)
    assert throttle.totals == {"malformed": 1 + 6_666 + 2, "hello_timeout": 3_334}
    assert throttle.pending() == 0


def test_sources_are_counted_apart() -> None:
    clock = Clock()
    throttle = LogThrottle(60.0, clock=clock)
    assert throttle.note("a", "x") is not None
    assert throttle.note("b", "x") is not None
    assert throttle.note("a", "x") is None
    assert throttle.note("b", "y") is None
    clock.now += 60
    summaries = {s.source: s.counts for s in throttle.flush()}
    assert summaries == {"a": {"x": 1}, "b": {"y": 1}}


def test_flush_logs_a_burst_that_ended_and_forgets_quiet_sources() -> None:
    clock = Clock()
    throttle = LogThrottle(10.0, clock=clock)
    throttle.note("a", "x")
    throttle.note("a", "x")
    assert throttle.flush() == []  # interval not over yet
    clock.now += 10
    assert [s.counts for s in throttle.flush()] == [{"x": 1}]
    assert throttle.sources() == 1
    clock.now += 10
    assert throttle.flush() == []
    assert throttle.sources() == 0  # quiet a whole interval: its next event is logged at once
    assert throttle.note("a", "x") == Summary("a", {"x": 1}, None)


def test_flush_everything_at_shutdown() -> None:
    throttle = LogThrottle(60.0, clock=Clock())
    throttle.note("a", "x")
    throttle.note("a", "x")
    throttle.note("a", "y")
    assert [s.counts for s in throttle.flush(everything=True)] == [{"x": 1, "y": 1}]
    assert throttle.pending() == 0


def test_sources_beyond_the_limit_are_summed_as_other() -> None:
    throttle = LogThrottle(60.0, max_sources=3, clock=Clock())
    lines = [throttle.note(f"10.0.0.{i}", "dropped") for i in range(100)]
    assert [s.source for s in lines if s is not None] == ["10.0.0.0", "10.0.0.1", "10.0.0.2",
                                                          OTHER]
    assert throttle.sources() == 4
    assert throttle.totals == {"dropped": 100}
    assert throttle.pending() == 96


def test_summary_text() -> None:
    assert Summary("k1", {"b": 2, "a": 1}, 61.2).text(60) == "k1: a=1, b=2 in the last 61 s"
    assert "every 60 s" in Summary("k1", {"a": 1}, None).text(60)


def test_interval_must_be_positive() -> None:
    with pytest.raises(ValueError):
        LogThrottle(0)
