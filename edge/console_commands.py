"""Staff console commands: each one audited, run through the queue desk, answered."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec

from devices.protocol import Command, ConsoleSnapshot, ProtocolError, Result
from devices.server import Peer
from edge.queue.model import Outcome, QueueError

if TYPE_CHECKING:
    from edge.service import Service


def _need(value: str | None, what: str, cmd: Command) -> str:
    if not value:
        raise ProtocolError("missing_field", f"The {cmd.action!r} command needs a {what}.", cmd.id)
    return value


async def run_command(service: Service, peer: Peer, cmd: Command) -> Result | ConsoleSnapshot:
    """Carry out one staff command; refusals come back as `error` with the queue's reason."""
    desk = service.desk
    store = service.store
    assert desk is not None and store is not None
    if cmd.action == "snapshot":
        return service.console_snapshot()
    counter = cmd.counter or peer.identity.counter
    detail: dict[str, Any] = {k: v for k, v in msgspec.structs.asdict(cmd).items()
                              if v is not None and k != "id"}
    try:
        if cmd.action == "ack_alert":
            alert = desk.ack_alert(_need(cmd.alert, "alert id", cmd))
            await store.audit(peer.device_id, "ack_alert", {"alert": alert.alert,
                                                            "kind": alert.kind})
            return Result(ref=cmd.id, action=cmd.action, text=f"alert {alert.alert} acknowledged")
        outcome = await _queue_op(service, cmd, counter)
    except QueueError as err:
        await store.audit(peer.device_id, f"refused:{cmd.action}", {**detail, "code": err.code})
        raise ProtocolError(err.code, err.message, cmd.id) from None
    await store.audit(peer.device_id, cmd.action, {**detail, "ticket": outcome.ticket.number})
    return Result(ref=cmd.id, action=cmd.action, ticket=msgspec.to_builtins(outcome.ticket),
                  text=f"{cmd.action} {outcome.ticket.number}")


async def _queue_op(service: Service, cmd: Command, counter: str | None) -> Outcome:
    desk = service.desk
    assert desk is not None
    engine = desk.engine
    if cmd.action == "call_next":
        return await desk.run("call_next", _need(counter, "counter", cmd))
    if cmd.action == "walk_in":
        return await desk.run("walk_in", _need(counter, "counter", cmd),
                              _need(cmd.service, "service", cmd))
    if cmd.ticket:
        ticket_id = engine.find(cmd.ticket).id
    else:
        current = engine.counter_ticket(_need(counter, "ticket or counter", cmd))
        if current is None:
            raise QueueError("no_ticket", f"Counter {counter} has no ticket at the moment.")
        ticket_id = current.id
    if cmd.action == "transfer":
        return await desk.run("transfer", ticket_id, _need(cmd.service, "service", cmd))
    if cmd.action == "set_class":
        return await desk.run("set_class", ticket_id, _need(cmd.priority_class, "class", cmd))
    if cmd.action in ("recall", "no_show", "start", "complete", "cancel"):
        return await desk.run(cmd.action, ticket_id)
    raise ProtocolError("unknown_action", f"Unknown console action {cmd.action!r}.", cmd.id)
