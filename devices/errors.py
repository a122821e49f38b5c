"""Every `error` code the service (or the console, locally) can produce, with its sentence.

One registry, so a code cannot be invented at a call site without a test noticing
(tests/test_error_codes.py scans the tree) and PROTOCOL.md lists exactly these codes.
`refusal` marks a valid request the branch declined (nothing waiting, a ticket in the wrong
state): routine, logged quietly, never counted as a bad message.
"""

from __future__ import annotations

from typing import Final, Literal, NamedTuple, get_args

ErrorCode = Literal[
    # framing and validation
    "malformed", "unknown_type", "not_allowed", "invalid", "too_large", "bad_frame",
    "missing_field", "unknown_action", "unsupported", "internal",
    # the hello handshake
    "hello_required", "hello_timeout", "already_welcomed", "wrong_endpoint", "protocol_version",
    "unknown_device", "bad_credential", "wrong_role", "credential_revoked",
    # staff login, roles and flood limits
    "wrong_user", "session_expired", "forbidden", "not_your_counter", "confirm_required",
    "over_capacity", "cooling_off", "rate_limited",
    # kiosk turns and audio
    "no_session", "text_too_long", "speech_unavailable", "unknown_stream", "audio_too_long",
    "stt_busy", "busy", "appointment_changed", "knowledge_unavailable",
    # the queue's refusals
    "unknown_ticket", "unknown_counter", "unknown_service", "unknown_class", "unknown_alert",
    "bad_state", "bad_language", "nothing_waiting", "no_ticket", "same_service", "same_class",
    "not_served_here", "self_service", "counter_closed", "counter_busy", "bad_event",
    "invalid_change",
    # the guardrails: a large-value alert a supervisor must verify first
    "verification_required",
    # made by the console itself, never sent by the service
    "offline", "timeout",
]


class ErrorInfo(NamedTuple):
    """What a code means: an English sentence for staff and programs, Mandarin where a
    customer may read it, whether it is a refusal, and whether only a client makes it."""

    sentence: str
    refusal: bool = False
    zh: str = ""
    local: bool = False


ERRORS: Final[dict[ErrorCode, ErrorInfo]] = {
    "malformed": ErrorInfo("The frame is not a JSON object with a string `type` field."),
    "unknown_type": ErrorInfo("No message has this `type`."),
    "not_allowed": ErrorInfo("A device of this role may not send this message type."),
    "invalid": ErrorInfo("A field is missing, unknown or has the wrong type or value."),
    "too_large": ErrorInfo("The message is larger than `server.max_message_bytes`."),
    "bad_frame": ErrorInfo("A binary frame has a bad header or an odd-length payload."),
    "missing_field": ErrorInfo("The command needs a field it did not carry (counter, "
                               "service, query...)."),
    "unknown_action": ErrorInfo("The console action is not one the service carries out."),
    "unsupported": ErrorInfo("The message is valid but this service does not handle it yet."),
    "internal": ErrorInfo("The service failed while handling the message; see its log."),
    "hello_required": ErrorInfo("The first message of a connection must be `hello`."),
    "hello_timeout": ErrorInfo("No `hello` arrived within `server.hello_timeout_s`."),
    "already_welcomed": ErrorInfo("This connection already said `hello`."),
    "wrong_endpoint": ErrorInfo("The hello's role does not match the path connected to."),
    "protocol_version": ErrorInfo("The device speaks another protocol version."),
    "unknown_device": ErrorInfo("The device id is not registered in branch.toml."),
    "bad_credential": ErrorInfo("The device credential is wrong."),
    "wrong_role": ErrorInfo("The device is registered with another role."),
    "credential_revoked": ErrorInfo("The device's paired credential was revoked "
                                    "(`branch-teller device revoke`); pair it again.",
                                    zh="本机的配对已被注销，请联系工作人员重新配对。"),
    "wrong_user": ErrorInfo("The console's hello names another user than its login token."),
    "session_expired": ErrorInfo("The staff session ended (logged out, expired or the account "
                                 "changed); log in again.", refusal=True),
    "forbidden": ErrorInfo("The staff member's role may not run this console action.",
                           refusal=True),
    "not_your_counter": ErrorInfo("A teller acts for their own counter only.", refusal=True),
    "confirm_required": ErrorInfo("The action is an override: re-enter the password "
                                  "(`/confirm`) within `staff.confirm_window_s`.",
                                  refusal=True),
    "over_capacity": ErrorInfo("As many devices of this role as `server.max_kiosks`, "
                               "`max_callers` or `max_consoles` allow are logged in.",
                               refusal=True),
    "cooling_off": ErrorInfo("The device was disconnected for flooding and is refused for "
                             "`server.abuse_cooloff_s`."),
    "rate_limited": ErrorInfo("Messages or audio arrive faster than the connection's budget "
                              "(`server.control_per_s`, `audio_bytes_per_s`); some were "
                              "dropped."),
    "no_session": ErrorInfo("This kiosk connection has no conversation."),
    "text_too_long": ErrorInfo("The text turn is longer than `server.max_text_chars`.",
                               zh="输入的文字太长，请分几次说。"),
    "speech_unavailable": ErrorInfo("Speech input is off or failed to load; send text turns.",
                                    zh="语音暂不可用，请在屏幕上输入。"),
    "unknown_stream": ErrorInfo("Audio arrived for a stream that is not open."),
    "audio_too_long": ErrorInfo("The audio stream is longer than `server.max_audio_seconds`.",
                                zh="这段话太长了，请简短地再说一遍。"),
    "stt_busy": ErrorInfo("Too many customers are speaking at once; say it again shortly.",
                          refusal=True, zh="现在说话的客户较多，请稍后再说一遍。"),
    "busy": ErrorInfo("This kiosk already has `sessions.max_queued_turns` turns waiting behind "
                      "the one being answered.", refusal=True,
                      zh="正在处理您前面的请求，请稍等回复后再说。"),
    "appointment_changed": ErrorInfo("The appointment changed while checking in.",
                                     refusal=True, zh="预约信息刚刚有变化，请咨询工作人员。"),
    "knowledge_unavailable": ErrorInfo("The knowledge hub is still indexing or failed to load.",
                                       refusal=True),
    "unknown_ticket": ErrorInfo("No ticket has this number or id today.", refusal=True),
    "unknown_counter": ErrorInfo("No counter has this id.", refusal=True),
    "unknown_service": ErrorInfo("No service has this id.", refusal=True,
                                 zh="没有这项业务，请咨询工作人员。"),
    "unknown_class": ErrorInfo("No priority class has this id.", refusal=True),
    "unknown_alert": ErrorInfo("No open alert has this id.", refusal=True),
    "bad_state": ErrorInfo("The ticket is not in a state that allows this action.",
                           refusal=True),
    "bad_language": ErrorInfo("Tickets are issued in zh or en only.", refusal=True),
    "nothing_waiting": ErrorInfo("Nobody is waiting for the services of this counter.",
                                 refusal=True),
    "no_ticket": ErrorInfo("The counter has no ticket at the moment.", refusal=True),
    "same_service": ErrorInfo("The ticket is already for this service.", refusal=True),
    "same_class": ErrorInfo("The ticket already has this priority class.", refusal=True),
    "not_served_here": ErrorInfo("This counter does not serve that service.", refusal=True),
    "self_service": ErrorInfo("This service is done at a self-service terminal, not a counter.",
                              refusal=True, zh="这项业务请到自助设备办理。"),
    "counter_closed": ErrorInfo("The counter is closed.", refusal=True),
    "counter_busy": ErrorInfo("The counter is still calling or serving a ticket.",
                              refusal=True),
    "bad_event": ErrorInfo("A queue event does not fit the queue's state (a bug; see the "
                           "log)."),
    "invalid_change": ErrorInfo("A what-if change the counters cannot make (an unknown "
                                "counter or service, a break longer than the horizon...).",
                                refusal=True),
    "verification_required": ErrorInfo("A large-value or suspicious-transaction alert on "
                                       "this ticket awaits a supervisor's second verification "
                                       "(`verify_alert`).", refusal=True),
    "offline": ErrorInfo("The console is not connected; the action was not sent.",
                         local=True),
    "timeout": ErrorInfo("No answer from the service in time; the action may have been done.",
                         local=True),
}

ERROR_CODES: Final[frozenset[str]] = frozenset(get_args(ErrorCode))


def error_info(code: str) -> ErrorInfo:
    """The registry entry of a code (KeyError for an unregistered one)."""
    return ERRORS[code]  # type: ignore[index]
