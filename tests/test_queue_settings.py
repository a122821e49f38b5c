"""Queue settings: demo defaults are valid, TOML round-trips, and bad configs say what is wrong."""

from __future__ import annotations

import tomllib

import msgspec
import pytest

from edge.queue import QueueSettings, validate_settings
from edge.queue.settings import ClassSpec, CounterSpec, ServiceSpec
from intents.understanding.catalog import QUEUE_SERVICES


def test_defaults_describe_a_valid_demo_branch() -> None:
    s = QueueSettings()
    validate_settings(s)
    assert [x.id for x in s.services] == [q for q in QUEUE_SERVICES if q != "self"]
    assert len({x.prefix for x in s.services}) == 7
    assert {"urgent", "vip", "vip_gold", "elderly", "appointment", "normal"} <= {
        c.id for c in s.classes
    }
    vip_counter = next(c for c in s.counters if "vip" in c.prefer_classes)
    assert "wealth" in vip_counter.prefer_services
    assert any("corporate" in c.prefer_services for c in s.counters)
    assert all("urgent" in c.services for c in s.counters)  # any free counter takes fraud


def test_toml_section_round_trip() -> None:
    text = """
timezone = "Asia/Shanghai"
estimator_window = 10
[no_show]
action = "cancel"
recalls_before_no_show = 1
[[counters]]
id = "w1"
number = 1
services = ["personal", "cash", "fx", "loan", "wealth", "corporate", "urgent"]
prefer_classes = ["elderly"]
[[classes]]
id = "urgent"
offset_s = 86400
rate = 1
target_wait_s = 120
[[classes]]
id = "elderly"
offset_s = 300
rate = 1.5
target_wait_s = 300
[[classes]]
id = "appointment"
offset_s = 600
rate = 1
target_wait_s = 300
[[classes]]
id = "normal"
offset_s = 0
rate = 1
target_wait_s = 900
"""
    s = msgspec.convert(tomllib.loads(text), QueueSettings)
    validate_settings(s)
    assert s.no_show.action == "cancel" and s.estimator_window == 10
    assert [c.id for c in s.classes] == ["urgent", "elderly", "appointment", "normal"]
    assert s.counters[0].prefer_bonus_s == 900.0  # documented default fills the gap
    again = msgspec.convert(msgspec.to_builtins(s), QueueSettings)
    assert again == s


def test_unknown_field_is_refused() -> None:
    with pytest.raises(msgspec.ValidationError, match="counterz"):
        msgspec.convert({"counterz": []}, QueueSettings)
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert({"no_show": {"action": "shrug"}}, QueueSettings)


def _with(**kw: object) -> QueueSettings:
    return msgspec.structs.replace(QueueSettings(), **kw)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (
            _with(counters=[CounterSpec(id="c1", number=1, services=["cash", "gold"])]),
            "counter 'c1' names unknown service 'gold'",
        ),
        (
            _with(counters=[CounterSpec(id="c1", number=1, services=[])]),
            "counter 'c1' serves no service",
        ),
        (
            _with(
                counters=[
                    CounterSpec(id="c1", number=1, services=["cash"], prefer_classes=["platinum"])
                ]
            ),
            "counter 'c1' prefers unknown class 'platinum'",
        ),
        (
            _with(
                counters=[
                    CounterSpec(id="c1", number=1, services=["cash"]),
                    CounterSpec(id="c2", number=1, services=["cash"]),
                ]
            ),
            "duplicate counter number '1'",
        ),
        (
            _with(
                services=[
                    ServiceSpec(id="cash", prefix="B", name_zh="现金", name_en="Cash"),
                    ServiceSpec(id="fx", prefix="B", name_zh="外汇", name_en="FX"),
                ]
            ),
            "duplicate service prefix 'B'",
        ),
        (
            _with(services=[ServiceSpec(id="cash", prefix="b1", name_zh="x", name_en="x")]),
            "prefix 'b1' must be one capital letter",
        ),
        (
            _with(services=[ServiceSpec(id="self", prefix="S", name_zh="x", name_en="x")]),
            "service 'self' issues no ticket",
        ),
        (
            _with(
                classes=[
                    c
                    if c.id != "normal"
                    else ClassSpec(id="normal", offset_s=0, rate=0, target_wait_s=900)
                    for c in QueueSettings().classes
                ]
            ),
            "class 'normal': rate must be positive",
        ),
        (_with(urgent_class="fraud"), "urgent_class names unknown class 'fraud'"),
        (_with(timezone="Mars/Olympus"), "unknown timezone 'Mars/Olympus'"),
        (_with(estimator_window=0), "estimator_window must be at least 1"),
    ],
)
def test_validation_names_the_problem(settings: QueueSettings, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        validate_settings(settings)


def test_a_service_no_counter_serves_is_refused() -> None:
    counters = [c for c in QueueSettings().counters if "corporate" not in c.services]
    with pytest.raises(ValueError, match="service 'corporate' is served by no counter"):
        validate_settings(_with(counters=counters))
