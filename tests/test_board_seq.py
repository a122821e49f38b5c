"""The board sequence a display uses to tell a new call from a replayed one: it grows with
every call, survives a restart (the day's calls are replayed) and a day rollover, and the
call announcement the service synthesises says Mandarin first, English for English."""

from __future__ import annotations

from devices.caller_messages import Call
from edge.call_voice import announcement, call_stream
from edge.desk import BOARD_DAY_CALLS, DeskState, board_base
from edge.queue.events import CallAcked, CallSent


def sent(n: int, at: float = 0.0) -> CallSent:
    return CallSent(at=at, call=f"c{n}", number=f"A{n:03d}", counter="1",
                    text_zh=f"请A{n:03d}号到1号窗口", text=f"Ticket A{n:03d}, counter 1",
                    language="zh")


def test_each_call_gets_the_next_number_and_a_replay_gives_the_same() -> None:
    events = [sent(1), sent(2), CallAcked(at=0.0, call="c1"), sent(3)]
    desk = DeskState()
    desk.new_day("2026-12-07")
    desk.apply_all(events)
    seqs = [p.message.seq for p in desk.pending_calls.values()]
    assert seqs == [board_base("2026-12-07") + 2, board_base("2026-12-07") + 3]
    assert desk.board_seq == board_base("2026-12-07") + 3
    again = DeskState()  # the service restarted: today's calls are replayed
    again.new_day("2026-12-07")
    again.apply_all(events)
    assert [p.message.seq for p in again.pending_calls.values()] == seqs


def test_the_next_day_starts_above_every_call_of_the_day_before() -> None:
    desk = DeskState()
    desk.new_day("2026-12-31")
    desk.apply_all([sent(n) for n in range(1, 501)])
    last = desk.board_seq
    desk.new_day("2027-01-01")
    desk.apply(sent(1))
    assert desk.board_seq > last
    assert board_base("2027-01-01") - board_base("2026-12-31") >= BOARD_DAY_CALLS
    assert desk.board_seq < 2**53  # exact as a JavaScript number


def test_the_announcement_is_mandarin_then_english_for_an_english_customer() -> None:
    zh = Call(call="x", number="A001", counter="1", text_zh="请A001号到1号窗口",
              text="请A001号到1号窗口", language="zh", seq=2026120700001)
    assert announcement(zh) == [("zh", "请A001号到1号窗口")]
    en = Call(call="y", number="A002", counter="1", text_zh="请A002号到1号窗口",
              text="Ticket A002, please go to counter 1", language="en", seq=2026120700002)
    assert announcement(en) == [("zh", "请A002号到1号窗口"),
                                ("en", "Ticket A002, please go to counter 1")]
    assert 0 <= call_stream(en.seq) < 2**32 and call_stream(en.seq) != call_stream(zh.seq)
