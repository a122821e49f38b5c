"""Wire protocol: every message round-trips, bad input is always a ProtocolError."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devices import protocol as p
from devices import protocol_doc
from devices.console_messages import Result
from devices.frames import HEADER_BYTES, KIND_AUDIO_IN, AudioFrame, FrameError, decode_frame
from devices.message_base import Message, Role
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
def test_documented_examples_decode_with_the_real_decoders(example: dict[str, Any]) -> None:
    cls = next(c for c in p.ALL_MESSAGES if p.type_name(c) == example["type"])
    raw = json.dumps(example, ensure_ascii=False)
    if cls in p.SERVER_MESSAGES:
        msg = p.decode_server(raw)
    else:
        role = next(r for r, types in p.CLIENT_MESSAGES.items() if cls in types)
        msg = p.decode_client(raw, role)
    assert type(msg) is cls
    # nothing in the example was dropped or renamed on the way through the structs
    assert {k: v for k, v in json.loads(p.encode(msg)).items() if k in example} == example


def test_protocol_md_is_what_the_generator_writes() -> None:
    assert protocol_doc.render(DOC) == DOC, "run: python -m devices.protocol_doc --write"


def test_generator_notices_a_message_without_a_section() -> None:
    cut = DOC.replace("<!-- generated:fields:ack -->", "<!-- generated:fields:akc -->")
    with pytest.raises(ValueError, match="ack"):
        protocol_doc.render(cut)
    assert protocol_doc.main(["--check", "--path", str(REPO / "devices" / "PROTOCOL.md")]) == 0


def test_generator_check_fails_on_a_stale_table(tmp_path: Path) -> None:
    stale = tmp_path / "PROTOCOL.md"
    stale.write_text(DOC.replace("| `number` | string | required |", "| `number` | int | required |",
                                 1), encoding="utf-8")
    assert protocol_doc.main(["--check", "--path", str(stale)]) == 1
    assert protocol_doc.main(["--write", "--path", str(stale)]) == 0
    assert stale.read_text(encoding="utf-8") == DOC


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
                                                          role: Role) -> None:
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


# ------------------------------------------------------------------ round trips of typed values

def _values(t: msgspec.inspect.Type) -> st.SearchStrategy[Any]:
    """Valid values of a wire type, read off msgspec's own description of the structs."""
    mi = msgspec.inspect
    if isinstance(t, mi.StructType):
        fields = {f.name: _values(f.type) for f in t.fields if f.required}
        optional = {f.name: _values(f.type) for f in t.fields if not f.required}
        return st.builds(t.cls, **fields, **{k: v for k, v in optional.items()})
    if isinstance(t, mi.UnionType):
        return st.one_of([_values(x) for x in t.types])
    if isinstance(t, mi.LiteralType):
        return st.sampled_from(t.values)
    if isinstance(t, mi.ListType):
        return st.lists(_values(t.item_type), max_size=3)
    if isinstance(t, mi.DictType):
        return st.dictionaries(_values(t.key_type), _values(t.value_type), max_size=3)
    if isinstance(t, mi.TupleType):
        return st.tuples(*[_values(x) for x in t.item_types])
    if isinstance(t, mi.IntType):
        return st.integers(t.ge if t.ge is not None else -(2**53),
                           t.le if t.le is not None else 2**53)
    if isinstance(t, mi.FloatType):
        return st.floats(allow_nan=False, allow_infinity=False)
    if isinstance(t, mi.BoolType):
        return st.booleans()
    if isinstance(t, mi.NoneType):
        return st.none()
    if isinstance(t, mi.StrType):
        return st.text(max_size=12)
    raise AssertionError(f"no strategy for {t}")


def _messages(classes: tuple[type[Message], ...]) -> st.SearchStrategy[Message]:
    return st.one_of([_values(msgspec.inspect.type_info(c)) for c in classes])


@settings(max_examples=300, deadline=None)
@given(msg=_messages(p.SERVER_MESSAGES))
def test_every_server_message_round_trips(msg: Message) -> None:
    assert p.decode_server(p.encode(msg)) == msg


@pytest.mark.parametrize("role", ["kiosk", "caller", "console"])
@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_every_client_message_round_trips(role: Role, data: st.DataObject) -> None:
    msg = data.draw(_messages(p.CLIENT_MESSAGES[role]))
    assert p.decode_client(p.encode(msg), role) == msg


def test_result_data_is_told_apart_by_its_kind() -> None:
    from devices.result_payloads import AppointmentsData, ReportData, SearchData

    for data in (SearchData(query="q", passages=[]), ReportData(day="d", services=[], classes=[]),
                 AppointmentsData(day="d", counts={}, appointments=[])):
        msg = Result(ref="r", action="report", data=data)
        back = p.decode_server(p.encode(msg))
        assert isinstance(back, Result) and type(back.data) is type(data)
    with pytest.raises(p.ProtocolError):
        p.decode_server('{"type": "result", "ref": "r", "action": "report", "data": {"day": "d"}}')
