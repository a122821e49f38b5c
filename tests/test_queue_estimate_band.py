"""The estimated wait as a range: p10 / p50 / p90 from the spread of the branch's service times."""

from __future__ import annotations

import math
from datetime import datetime
from zoneinfo import ZoneInfo

import msgspec
import pytest

from edge.queue import QueueEngine, QueueSettings
from edge.queue.estimate import Estimate, ServiceTimes

OPEN = datetime(2026, 11, 25, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai")).timestamp()


def test_band_is_a_lognormal_with_the_estimate_as_its_mean() -> None:
    lo, mid, hi = Estimate(3, 600.0, 300.0**2).band()
    assert lo < mid < 600.0 < hi
    s2 = math.log(1 + 0.25)
    assert mid == pytest.approx(600.0 * math.exp(-s2 / 2))
    assert math.log(hi / mid) == pytest.approx(1.2815515655446004 * math.sqrt(s2))
    assert Estimate(0, 0.0, 0.0).band() == (0.0, 0.0, 0.0)
    assert Estimate(1, 100.0, 0.0).band() == pytest.approx((100.0, 100.0, 100.0))
    assert Estimate(1, 100.0, 0.0, 1.2).band() == pytest.approx((120.0, 120.0, 120.0))


def test_service_spread_starts_from_the_prior_and_learns() -> None:
    s = QueueSettings()
    times = ServiceTimes(s)
    assert times.variance("cash") == pytest.approx((0.5 * 240.0) ** 2)
    for _ in range(20):
        times.add("cash", 200.0)  # a very regular cash desk
    assert times.mean("cash") == 200.0
    assert times.variance("cash") == pytest.approx(5 * (0.5 * 240.0) ** 2 / 25)


def _queue(settings: QueueSettings) -> tuple[float, float, float, float]:
    now = [OPEN]
    engine = QueueEngine(settings, lambda: now[0])
    for _ in range(8):
        engine.issue("personal")
    view = engine.issue("personal").ticket
    assert view.people_ahead == 8
    assert view.wait_p10_s is not None and view.wait_p50_s is not None
    assert view.wait_p90_s is not None and view.estimated_wait_s is not None
    return view.wait_p10_s, view.wait_p50_s, view.estimated_wait_s, view.wait_p90_s


def test_views_carry_the_range_and_it_widens_with_service_spread() -> None:
    lo, mid, mean, hi = _queue(QueueSettings())
    assert 0 < lo < mid < hi and lo < mean < hi
    # Eight personal services (360 s) ahead, shared by six counters: 480 s expected.
    assert mean == pytest.approx(8 * 360.0 / 6)
    wild = _queue(msgspec.structs.replace(QueueSettings(), estimate_prior_cv=1.0))
    tame = _queue(msgspec.structs.replace(QueueSettings(), estimate_prior_cv=0.2))
    assert wild[2] == tame[2] == mean  # the expected wait does not move...
    assert wild[3] - wild[0] > hi - lo > tame[3] - tame[0]  # ...the range does
    wider = _queue(msgspec.structs.replace(QueueSettings(), estimate_band_inflation=2.0))
    assert wider[3] - wider[0] > hi - lo
    plain = _queue(msgspec.structs.replace(QueueSettings(), estimate_band_scale=1.0))
    assert mid == pytest.approx(1.1 * plain[1])  # the position factor moves the whole band
    assert plain[1] < mean  # a lognormal's median lies below its mean


def test_a_customer_called_at_once_is_promised_no_wait() -> None:
    engine = QueueEngine(QueueSettings(), lambda: OPEN)
    view = engine.issue("cash").ticket
    assert (view.wait_p10_s, view.wait_p50_s, view.wait_p90_s) == (0.0, 0.0, 0.0)
    called = engine.call_next("c1").ticket
    assert called.wait_p50_s is None  # only waiting tickets have a range
