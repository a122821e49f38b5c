"""Staff console commands (each one audited, run through the queue desk, answered) and the
snapshot a console gets on connect and on `snapshot`."""

from __future__ import annotations

import asyncio
import time
from datetime import date
from typing import TYPE_CHECKING, Any

import msgspec

from devices.console_messages import Command, ConsoleSnapshot, Result
from devices.errors import ErrorCode
from devices.protocol import ProtocolError
from devices.queue_payloads import Board, TicketInfo
from devices.result_payloads import (
    AppointmentsData,
    AuditEntry,
    AuditLogData,
    Booking,
    ClassReportRow,
    Passage,
    ReportData,
    SearchData,
    ServiceReportRow,
)
from devices.server import Peer
from edge.guidance import teller_guidance
from edge.pairing_gate import pairing_link
from edge.queue.model import Outcome, QueueError
from edge.queue.reports import class_rows, report_rows
from edge.roles import authorize
from intents.knowledge import render_results

if TYPE_CHECKING:
    from edge.service import Service


def _need(value: str | None, what: str, cmd: Command) -> str:
    if not value:
        raise ProtocolError("missing_field", f"The {cmd.action!r} command needs a {what}.", cmd.id)
    return value


def console_snapshot(service: Service) -> ConsoleSnapshot:
    """Everything a console shows: board, counters, open alerts, health, recent kiosk turns."""
    desk = service.desk
    assert desk is not None
    board = msgspec.convert(desk.engine.board(service.config.server.console_waiting_per_service),
                            Board)
    return ConsoleSnapshot(board=board, counters=board.counters,
                           alerts=list(desk.alerts.values()), health=service.health(),
                           recent_turns=list(service.recent_turns))


async def run_command(service: Service, peer: Peer, cmd: Command) -> Result | ConsoleSnapshot:
    """Carry out one staff command; refusals come back as `error` with the queue's reason."""
    desk = service.desk
    store = service.store
    assert desk is not None and store is not None
    await _authorize(service, peer, cmd)
    if cmd.action == "audit_log":
        rows = await store.audit_rows(service.config.server.console_audit_rows)
        await store.audit(peer.device_id, "audit_log", {"rows": len(rows)})
        return Result(ref=cmd.id, action=cmd.action, text=f"{len(rows)} audit entries",
                      data=AuditLogData(rows=msgspec.convert(rows, list[AuditEntry])))
    if cmd.action == "snapshot":
        return msgspec.structs.replace(service.console_snapshot(), id=cmd.id)
    if cmd.action == "kb_search":
        return await _kb_search(service, cmd)
    if cmd.action == "report":
        return _report(service, cmd)
    if cmd.action == "appointments":
        return await _appointments(service, cmd)
    if cmd.action == "what_if":
        return await _what_if(service, peer, cmd)
    if cmd.action == "pair_device":
        return await _pair_device(service, peer, cmd)
    counter = cmd.counter or peer.identity.counter
    detail: dict[str, Any] = {k: v for k, v in msgspec.structs.asdict(cmd).items()
                              if v is not None and k != "id"}
    try:
        if cmd.action in ("ack_alert", "verify_alert"):
            return await _close_alert(service, peer, cmd)
        outcome = await _queue_op(service, cmd, counter)
    except QueueError as err:
        await store.audit(peer.device_id, f"refused:{cmd.action}", {**detail, "code": err.code})
        raise ProtocolError(err.code, err.message, cmd.id, refusal=True) from None
    await store.audit(peer.device_id, cmd.action, {**detail, "ticket": outcome.ticket.number})
    ticket = msgspec.convert(msgspec.to_builtins(outcome.ticket), TicketInfo)
    guidance = None
    if cmd.action in ("call_next", "recall"):  # the teller sees how to serve it, and its risks
        guidance = await teller_guidance(service, outcome.ticket.id, outcome.ticket.number)
    return Result(ref=cmd.id, action=cmd.action, ticket=ticket,
                  text=f"{cmd.action} {outcome.ticket.number}", data=guidance)


async def _close_alert(service: Service, peer: Peer, cmd: Command) -> Result:
    """Acknowledge an alert; a large-value alert only by a supervisor's second verification
    (`verify_alert`, password re-entered), which lets its counter go on."""
    desk, store = service.desk, service.store
    assert desk is not None and store is not None
    alert_id = _need(cmd.alert, "alert id", cmd)
    open_alert = desk.alerts.get(alert_id)
    if open_alert is not None and open_alert.verify and cmd.action == "ack_alert":
        raise QueueError("verification_required", "This alert needs a supervisor's second "
                         "verification: use verify (the password is asked again).")
    alert = await desk.ack_alert(alert_id, by=peer.device_id)
    verb = "verified" if cmd.action == "verify_alert" else "acknowledged"
    await store.audit(peer.device_id, cmd.action, {"alert": alert.alert, "kind": alert.kind,
                                                   "ticket": alert.ticket})
    return Result(ref=cmd.id, action=cmd.action, text=f"alert {alert.alert} {verb}")


async def _pair_device(service: Service, peer: Peer, cmd: Command) -> Result:
    """A one-time code and link for a configured device; the page exchanges it (GET /pair)."""
    assert service.pairing is not None and service.address is not None
    device = _need(cmd.device, "device id", cmd)
    try:
        code, expires = await service.pairing.create(device, by=peer.device_id)
    except KeyError:
        raise ProtocolError("unknown_device", f"No device {device!r} in branch.toml.",
                            cmd.id, refusal=True) from None
    s = service.config.server
    host, port = service.address
    host = "HOST" if host in ("0.0.0.0", "::") else host  # the box's LAN name goes there
    base = f"{'https' if s.tls_cert else 'http'}://{host}:{port}"
    role = service.config.device(device)
    link = pairing_link(base, role.role if role else "kiosk", code)
    minutes = max(1, round((expires - time.time()) / 60))
    return Result(ref=cmd.id, action=cmd.action,
                  text=f"pairing code for {device}: {code} (one use, {minutes} min); "
                       f"open on the device: {link}")


async def _authorize(service: Service, peer: Peer, cmd: Command) -> None:
    """The one check every console command passes (edge.roles); each denial is audited."""
    gate, desk, store = service.staff, service.desk, service.store
    assert gate is not None and desk is not None and store is not None
    who = gate.staff(peer.identity)
    code: ErrorCode
    if who is None:
        code, message = "session_expired", ("Your session has ended (logged out, expired or "
                                            "the account changed); log in again.")
    else:
        ticket_counter: str | None = None
        if cmd.ticket:
            try:
                ticket_counter = desk.engine.find(cmd.ticket).counter or ""
            except QueueError:
                ticket_counter = None  # no such ticket: the queue says so
        denial = authorize(who, cmd.action, (cmd.counter, ticket_counter), time.time(),
                           service.config.staff.confirm_window_s)
        if denial is None:
            return
        code, message = denial.code, denial.message
    detail = {k: v for k, v in (("counter", cmd.counter), ("ticket", cmd.ticket)) if v}
    await store.audit(peer.device_id, f"denied:{cmd.action}", {**detail, "code": code})
    raise ProtocolError(code, message, cmd.id, refusal=True)


async def _kb_search(service: Service, cmd: Command) -> Result:
    query = _need(cmd.query, "query", cmd)
    hub = service.hub
    if hub is None:
        raise ProtocolError("knowledge_unavailable", "The knowledge hub is still indexing "
                            "or failed to load; see health.", cmd.id)
    loop = asyncio.get_running_loop()
    k = service.config.knowledge.top_k
    results = await loop.run_in_executor(
        service.models, lambda: hub.search(query, k=k, audience="staff"))
    passages = [Passage(source=r.source, section=r.section, title=r.passage.title,
                        text=r.passage.text, risk_note=r.passage.risk_note,
                        audience=r.passage.audience, version=r.passage.version,
                        effective_date=r.passage.effective_date, score=round(r.score, 4))
                for r in results]
    return Result(ref=cmd.id, action=cmd.action, text=render_results(results),
                  data=SearchData(query=query, passages=passages))


def _report(service: Service, cmd: Command) -> Result:
    desk = service.desk
    assert desk is not None
    engine = desk.engine
    day = cmd.date or engine.day_of(desk.clock())
    if cmd.date is not None:
        try:
            date.fromisoformat(cmd.date)
        except ValueError:
            raise ProtocolError("invalid", f"Report date {cmd.date!r} is not YYYY-MM-DD.",
                                cmd.id) from None
    tickets = engine.tickets()
    settings = engine.settings
    rows = msgspec.convert(msgspec.to_builtins(report_rows(tickets, settings, day)),
                           list[ServiceReportRow])
    classes = msgspec.convert(msgspec.to_builtins(class_rows(tickets, settings, day)),
                              list[ClassReportRow])
    return Result(ref=cmd.id, action=cmd.action, text=f"report {day}",
                  data=ReportData(day=day, services=rows, classes=classes))


async def _appointments(service: Service, cmd: Command) -> Result:
    """The day's appointment book: counts per status and the bookings (hints never shown)."""
    from edge.appointments import counts, listing

    desk, store = service.desk, service.store
    assert desk is not None and store is not None
    day = cmd.date or desk.engine.day_of(desk.clock())
    try:
        date.fromisoformat(day)
    except ValueError:
        raise ProtocolError("invalid", f"Date {day!r} is not YYYY-MM-DD.", cmd.id) from None
    rows = await store.appointments_on(day)
    tally = counts(rows)
    text = f"appointments {day}: " + ", ".join(f"{n} {k}" for k, n in tally.items())
    return Result(ref=cmd.id, action=cmd.action, text=text,
                  data=AppointmentsData(day=day, counts=tally,
                                        appointments=msgspec.convert(listing(rows),
                                                                     list[Booking])))


async def _what_if(service: Service, peer: Peer, cmd: Command) -> Result:
    """Simulate the next hour as things are and with the change; the run is audited with its
    seed so that it can be repeated (`branch-teller queue what-if --at ... --seed ...`)."""
    import secrets

    from edge.queue.forecast import situation
    from edge.queue.staffing import ChangeError, parse_changes
    from edge.queue.whatif import what_if
    from edge.what_if import (
        audit_detail,
        render_comparison,
        same_weekday_history,
        what_if_data,
    )

    desk, store = service.desk, service.store
    assert desk is not None and store is not None
    engine = desk.engine
    settings = engine.settings
    w = settings.what_if
    horizon = cmd.horizon_min or w.horizon_min
    if not 1 <= horizon <= w.max_horizon_min:
        raise ProtocolError("invalid", f"horizon_min must be 1 to {w.max_horizon_min}.", cmd.id)
    text = (cmd.change or "").strip()
    try:
        changes = parse_changes(text, settings) if text else []
    except ChangeError as err:
        raise ProtocolError("invalid_change", str(err), cmd.id, refusal=True) from None
    now = desk.clock()
    history = await same_weekday_history(store, engine.day_of(now), w.history_weeks)
    here = situation(engine, now, history, horizon * 60.0)  # a copy: the loop may go on
    seed = cmd.seed if cmd.seed is not None else secrets.randbelow(1_000_000)
    try:
        result = await asyncio.to_thread(what_if, settings, engine.policy, here, changes,
                                         horizon_min=horizon, seed=seed)
    except ChangeError as err:
        raise ProtocolError("invalid_change", str(err), cmd.id, refusal=True) from None
    await store.audit(peer.device_id, "what_if", audit_detail(result, text))
    return Result(ref=cmd.id, action=cmd.action, text=render_comparison(result),
                  data=what_if_data(result))


async def _queue_op(service: Service, cmd: Command, counter: str | None) -> Outcome:
    desk = service.desk
    assert desk is not None
    engine = desk.engine
    if cmd.action == "call_next":
        return await desk.run("call_next", _need(counter, "counter", cmd))
    if cmd.action == "walk_in":
        return await desk.run("walk_in", _need(counter, "counter", cmd),
                              _need(cmd.service, "service", cmd))
    current_number = ""
    if cmd.ticket:
        ticket_id = engine.find(cmd.ticket).id
    else:
        current = engine.counter_ticket(_need(counter, "ticket or counter", cmd))
        if current is None:
            raise QueueError("no_ticket", f"Counter {counter} has no ticket at the moment.")
        ticket_id, current_number = current.id, current.number
    if cmd.action == "transfer":
        return await desk.run("transfer", ticket_id, _need(cmd.service, "service", cmd))
    if cmd.action == "set_class":
        return await desk.run("set_class", ticket_id, _need(cmd.priority_class, "class", cmd))
    if cmd.action in ("start", "complete"):
        number = engine.find(cmd.ticket).number if cmd.ticket else current_number
        held = desk.awaiting_verification(number)
        if held is not None:
            raise QueueError("verification_required", f"Ticket {number} waits for a "
                             f"supervisor's second verification ({held.kind}, alert "
                             f"{held.alert}) before the counter goes on.")
    if cmd.action in ("recall", "no_show", "start", "complete", "cancel"):
        return await desk.run(cmd.action, ticket_id)
    raise ProtocolError("unknown_action", f"Unknown console action {cmd.action!r}.", cmd.id)
