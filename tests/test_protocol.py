"""Wire protocol: every message round-trips, bad input is always a ProtocolError."""

from __future__ import annotations

import json
import re
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devices import protocol as p
from devices.frames import HEADER_BYTES, KIND_AUDIO_IN, AudioFrame, FrameError, decode_frame
from tests.conftest import REPO

DOC = (REPO / "devices" / "PROTOCOL.md").read_text(encoding="utf-8")
EXAMPLES = [json.loads(block) for block in re.findall(r"```json\n(.*?)\n```", DOC, re.S)]


def test_every_message_type_is_documented_with_an_example() -> None:
    documented = {e["type"] for e in EXAMPLES}
    for cls in p.ALL_MESSAGES:
        name = p.type_name(cls)
        assert f"#### `{name}`" in DOC, f"{name} has no section in PROTOCOL.md"
        assert name in documented, f"{name} has no JSON example in PROTOCOL.md"


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda e: e["type"])
def test_documented_examples_are_valid_messages(example: dict[str, Any]) -> None:
    cls = next(c for c in p.ALL_MESSAGES if p.type_name(c) == example["type"])
    msg = msgspec.convert(example, cls)
    assert json.loads(p.encode(msg))["type"] == example["type"]


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda e: e["type"])
def test_client_messages_decode_for_their_roles_only(example: dict[str, Any]) -> None:
    raw = json.dumps(example)
    for role, allowed in p.CLIENT_MESSAGES.items():
        names = {p.type_name(c) for c in allowed}
        if example["type"] in names:
            assert p.type_name(type(p.decode_client(raw, role))) == example["type"]
        else:
            with pytest.raises(p.ProtocolError) as err:
                p.decode_client(raw, role)
            assert err.value.code == "not_allowed"


def test_server_messages_round_trip() -> None:
    for example in EXAMPLES:
        cls = next(c for c in p.ALL_MESSAGES if p.type_name(c) == example["type"])
        if cls in p.SERVER_MESSAGES:
            msg = msgspec.convert(example, cls)
            assert p.decode_server(p.encode(msg)) == msg


@pytest.mark.parametrize(("raw", "code"), [
    ("not json", "malformed"),
    ("[1, 2]", "malformed"),
    ('{"text": "hi"}', "malformed"),
    ('{"type": 5}', "malformed"),
    ('{"type": "txet", "text": "hi"}', "unknown_type"),
    ('{"type": "ack", "call": "x"}', "not_allowed"),
    ('{"type": "text"}', "invalid"),
    ('{"type": "text", "text": 5}', "invalid"),
    ('{"type": "text", "text": "hi", "colour": "red"}', "invalid"),
    ('{"type": "context", "language": "fr"}', "invalid"),
    ('{"type": "audio_start", "stream": -1}', "invalid"),
])
def test_bad_kiosk_messages_name_the_problem(raw: str, code: str) -> None:
    with pytest.raises(p.ProtocolError) as err:
        p.decode_client(raw, "kiosk")
    assert err.value.code == code
    assert err.value.message.endswith(".")


def test_error_keeps_the_reference_of_the_bad_message() -> None:
    with pytest.raises(p.ProtocolError) as err:
        p.decode_client('{"type": "text", "id": "t9"}', "kiosk")
    assert err.value.ref == "t9"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
type_names = st.sampled_from([p.type_name(c) for c in p.ALL_MESSAGES] + ["", "x", "hello "])


@settings(max_examples=400, deadline=None)
@given(body=st.dictionaries(st.text(max_size=12), json_values, max_size=6), kind=type_names,
       role=st.sampled_from(["kiosk", "caller", "console"]))
def test_random_messages_never_escape_as_other_exceptions(body: dict[str, Any], kind: str,
                                                          role: p.Role) -> None:
    body["type"] = kind
    try:
        msg = p.decode_client(json.dumps(body), role)
    except p.ProtocolError as err:
        assert err.code in {"malformed", "unknown_type", "not_allowed", "invalid"}
    else:
        assert isinstance(msg, p.CLIENT_MESSAGES[role])


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=64))
def test_random_bytes_never_escape(data: bytes) -> None:
    try:
        p.decode_client(data, "kiosk")
    except p.ProtocolError:
        pass
    try:
        decode_frame(data)
    except FrameError:
        pass


@given(stream=st.integers(0, 2**32 - 1), seq=st.integers(0, 2**32 - 1),
       pcm=st.binary(max_size=640).filter(lambda b: len(b) % 2 == 0))
def test_audio_frames_round_trip(stream: int, seq: int, pcm: bytes) -> None:
    frame = AudioFrame(KIND_AUDIO_IN, stream, seq, pcm)
    data = frame.encode()
    assert len(data) == HEADER_BYTES + len(pcm)
    assert decode_frame(data) == frame


@pytest.mark.parametrize("data", [b"", b"BT", b"XX\x01\x01" + bytes(8), b"BT\x02\x01" + bytes(8),
                                  b"BT\x01\x09" + bytes(8), b"BT\x01\x01" + bytes(9)])
def test_bad_frames_are_refused(data: bytes) -> None:
    with pytest.raises(FrameError):
        decode_frame(data)
