"""The hello check on its own, with plain values (the device server runs it on a real socket
in test_device_server.py)."""

from __future__ import annotations

import json

import pytest

from devices.handshake import check_hello
from devices.message_base import Role
from devices.protocol import PROTOCOL_VERSION, ProtocolError


def _hello(role: str = "kiosk", protocol: int = PROTOCOL_VERSION) -> str:
    return json.dumps({"type": "hello", "id": "h1", "device_id": "kiosk-1", "role": role,
                       "credential": "secret", "protocol": protocol})


def test_a_hello_for_this_endpoint_and_version_passes() -> None:
    hello = check_hello(_hello(), "kiosk", 65_536)
    assert (hello.device_id, hello.role, hello.protocol) == ("kiosk-1", "kiosk", PROTOCOL_VERSION)


@pytest.mark.parametrize(("raw", "role", "limit", "code"), [
    (_hello(), "kiosk", 20, "too_large"),
    (json.dumps({"type": "text", "text": "hi"}), "kiosk", 65_536, "hello_required"),
    (_hello("caller"), "kiosk", 65_536, "wrong_endpoint"),  # a caller's hello at /kiosk
    (_hello(protocol=PROTOCOL_VERSION - 1), "kiosk", 65_536, "protocol_version"),
])
def test_a_bad_first_message_is_refused_with_its_code(raw: str, role: Role, limit: int,
                                                      code: str) -> None:
    with pytest.raises(ProtocolError) as err:
        check_hello(raw, role, limit)
    assert err.value.code == code
