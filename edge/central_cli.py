"""`branch-teller central ...`: the bank's fleet service and its admin commands.

serve runs central (provisioning/central/server.py); box, rollout, status and report work on
the fleet store directly, so they run beside a serving central (SQLite in WAL mode, or
PostgreSQL).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from provisioning.central.fleet import FleetStore, Rollout

STORE_ENV = "BRANCH_TELLER_CENTRAL_STORE"
FALLBACK_STORE = "sqlite:///central/fleet.db"
DEFAULT_PORT = 8780

CENTRAL_HELP = """\
serve       run central: the TUF repository over HTTP, the boxes' reports and links,
            and the rollout engine every --tick-s.
box         add ID (prints the box's secret once and its [central] lines), list,
            disable ID, enable ID, rotate ID (a new secret; the old one stops working).
rollout     start --bundle B --stages "pilot,20%,all" (a stage is a cohort tag, N more
            boxes, N% of the enabled fleet in all, or all), list, halt|resume|cancel ID.
status      the fleet table: per rollout, boxes targeted / downloading / installing /
            applied / succeeded / failed / rolled back, its stage, state and reason; per
            box, its bundle, versions, trust and last contact (silent ones flagged).
report      branches compared from their day aggregates (no customer data): tickets,
            share within target, waits per service, self-service share, turns per channel,
            model latency; branches far below the fleet flagged.

Every command takes --store URL: sqlite:///PATH (default sqlite:///central/fleet.db, or
$BRANCH_TELLER_CENTRAL_STORE) or postgresql://USER@HOST/DB.

exit codes: 0 done; 1 refused (unknown box or rollout, a rollout in the wrong state, another
rollout still live); 2 bad arguments; 3 the fleet store cannot be opened.
"""


class Refused(Exception):
    """The command cannot be done as asked (exit 1)."""


def _open(args: argparse.Namespace) -> FleetStore:
    from provisioning.central.store import open_store

    return open_store(args.store)


def _box(args: argparse.Namespace, store: FleetStore) -> int:
    from provisioning.central.store import BOX_ID

    if args.action == "add":
        for name in [args.box_id or "", *args.tag]:
            if not BOX_ID.fullmatch(name):
                raise argparse.ArgumentTypeError(
                    f"{name!r}: box ids and tags are 1-64 letters, digits, '.', '_' or '-', "
                    "starting with a letter or digit")
        secret = store.add_box(args.box_id, args.branch, args.tag)
        if args.write_secret:
            path = Path(args.write_secret)
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(secret + "\n")
            print(f"box {args.box_id} added; its secret is in {path} (mode 0600): copy it to "
                  f"the box as {args.secret_file}")
        else:
            print(f"box {args.box_id} added. Its secret, shown this once (put it on the box "
                  f"as {args.secret_file}, mode 0600):\n{secret}")
        print(f"\nthe box's branch.toml:\n[central]\nurl = \"{args.url}\"\n"
              f"box_id = \"{args.box_id}\"\nsecret_file = \"{args.secret_file}\"")
        return 0
    if args.action == "list":
        from provisioning.central.status import box_status, render_boxes

        now = time.time()
        boxes = [box_status(b, now, args.stale_s) for b in store.boxes()]
        print(json.dumps(boxes, ensure_ascii=False, indent=2) if args.json
              else render_boxes(boxes, now, args.stale_s))
        return 0
    if args.box_id is None:
        raise argparse.ArgumentTypeError(f"box {args.action} needs a box ID")
    try:
        if args.action == "rotate":
            secret = store.rotate_secret(args.box_id)
            print(f"box {args.box_id}: new secret, shown this once (the old one no longer "
                  f"works; put it on the box as its secret_file):\n{secret}")
        else:
            store.set_enabled(args.box_id, args.action == "enable")
            print(f"box {args.box_id} {args.action}d")
    except KeyError:
        raise Refused(f"no box {args.box_id!r} (see: branch-teller central box list)") from None
    return 0


def _start(args: argparse.Namespace, store: FleetStore) -> int:
    from provisioning.central.fleet import Rollout
    from provisioning.central.rollout import StageError, parse_stages
    from provisioning.central.store import BOX_ID

    if not args.bundle:
        raise argparse.ArgumentTypeError("rollout start needs --bundle NAME")
    max_failures = 1 if args.max_failures is None else args.max_failures
    try:
        stages = parse_stages(args.stages)
    except StageError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    if not BOX_ID.fullmatch(args.bundle):
        raise argparse.ArgumentTypeError(f"bundle {args.bundle!r}: a bundle index name, "
                                         "as `repo publish` printed it")
    if args.soak_s < 0 or max_failures < 0:
        raise argparse.ArgumentTypeError("--soak-s and --max-failures cannot be negative")
    if args.repo:
        _check_published(Path(args.repo), args.bundle)
    boxes = [b for b in store.boxes() if b.enabled]
    tags = sorted({t for b in boxes for t in b.cohort_tags})
    for stage in stages:
        if stage.tag and stage.tag not in tags:
            raise Refused(f"no enabled box carries the tag {stage.tag!r} (tags in the fleet: "
                          f"{', '.join(tags) or 'none'})")
    live = store.rollouts(include_finished=False)
    if live:
        raise Refused(f"rollout {live[0].rollout_id} is {live[0].state}: cancel it first "
                      "(one rollout at a time, so a box never gets two bundles)")
    now = time.time()
    rollout_id = args.id or f"{args.bundle}-{time.strftime('%Y%m%d-%H%M%S', time.gmtime(now))}"
    store.create_rollout(Rollout(rollout_id=rollout_id, bundle=args.bundle, stages=stages,
                                 soak_s=args.soak_s, max_failures=max_failures,
                                 created_at=now, stage_started_at=now))
    print(f"rollout {rollout_id} started: {args.bundle} to "
          f"{' -> '.join(s.name for s in stages)} ({len(boxes)} enabled boxes), soak "
          f"{args.soak_s:g} s per stage, halts beyond {max_failures} failures. "
          "central serve targets the first stage at its next tick.")
    return 0


def _check_published(repo: Path, bundle: str) -> None:
    from provisioning.repository import BUNDLES, Repository

    try:
        published = Repository(repo).published("operations")
    except Exception as err:  # missing folder, unreadable or unsigned metadata: all refusals
        raise Refused(f"cannot read the repository in {repo}: {err}") from None
    if f"{BUNDLES}/{bundle}.json" not in published:
        names = sorted(p.removeprefix(f"{BUNDLES}/").removesuffix(".json") for p in published
                       if p.startswith(f"{BUNDLES}/") and not p.endswith("/current.json"))
        raise Refused(f"bundle {bundle!r} is not published in {repo} (published: "
                      f"{', '.join(names) or 'none'})")


def _change(store: FleetStore, rollout_id: str, change: Callable[[Rollout], Rollout]) -> Rollout:
    """Apply an operator's change under the store's optimistic lock (retried if the engine
    saved the rollout in between)."""
    from provisioning.central.fleet import StaleRollout

    for _ in range(5):
        found = [r for r in store.rollouts() if r.rollout_id == rollout_id]
        if not found:
            raise Refused(f"no rollout {rollout_id!r} (see: branch-teller central rollout list)")
        try:
            changed = change(found[0])
        except ValueError as err:
            raise Refused(str(err)) from None
        try:
            store.save_rollout(changed)
            return changed
        except StaleRollout:
            continue
    raise Refused(f"rollout {rollout_id} keeps changing under us: try again")


def _rollout(args: argparse.Namespace, store: FleetStore) -> int:
    from provisioning.central import rollout as engine

    if args.action == "start":
        return _start(args, store)
    if args.action == "list":
        from provisioning.central.status import rollout_status

        lines = [rollout_status(r, store.rollout_boxes(r.rollout_id)) for r in store.rollouts()]
        if args.json:
            print(json.dumps(lines, ensure_ascii=False, indent=2))
        for r in [] if args.json else lines:
            counts = ", ".join(f"{n} {s.replace('_', ' ')}" for s, n in r["counts"].items() if n)
            print(f"{r['rollout']}  {r['bundle']}  {r['state']}  stage {r['stage']}/"
                  f"{r['stages']} {r['stage_name']}  {counts or 'no boxes yet'}"
                  + (f"\n  {r['reason']}" if r["reason"] else ""))
        if not lines and not args.json:
            print("no rollouts (start one: branch-teller central rollout start --bundle B)")
        return 0
    if args.rollout_id is None:
        raise argparse.ArgumentTypeError(f"rollout {args.action} needs a rollout ID")
    if args.max_failures is not None and args.max_failures < 0:
        raise argparse.ArgumentTypeError("--max-failures cannot be negative")
    if args.action == "halt":
        done = _change(store, args.rollout_id, lambda r: engine.halt(r, args.reason))
    elif args.action == "cancel":
        done = _change(store, args.rollout_id, lambda r: engine.cancel(r, args.reason))
    else:
        done = _change(store, args.rollout_id, lambda r: engine.resume(
            r, store.rollout_boxes(r.rollout_id), args.max_failures))
    print(f"rollout {done.rollout_id}: {done.state}"
          + (f" ({len(done.forgiven)} failed boxes forgiven, max_failures "
             f"{done.max_failures})" if args.action == "resume" else ""))
    return 0


def _status(args: argparse.Namespace, store: FleetStore) -> int:
    from provisioning.central.status import fleet_status, render_status

    rollouts = store.rollouts()
    if args.rollout:
        rollouts = [r for r in rollouts if r.rollout_id == args.rollout]
        if not rollouts:
            raise Refused(f"no rollout {args.rollout!r}")
    status = fleet_status(store.boxes(), [(r, store.rollout_boxes(r.rollout_id))
                                          for r in rollouts], time.time(), args.stale_s)
    print(json.dumps(status, ensure_ascii=False, indent=2) if args.json
          else render_status(status))
    return 0


def _report(args: argparse.Namespace, store: FleetStore) -> int:
    from provisioning.central.report import as_json, compare, render_report
    from provisioning.central.store import DAY

    for day in (args.since, args.until):
        if day and not DAY.fullmatch(day):
            raise argparse.ArgumentTypeError(f"day {day!r}: expected YYYY-MM-DD")
    branches, fleet = compare(store.days(args.since or "", args.until or ""), store.boxes(),
                              args.gap, args.latency_factor)
    print(json.dumps(as_json(branches, fleet), ensure_ascii=False, indent=2) if args.json
          else render_report(branches, fleet))
    return 0


def _serve(args: argparse.Namespace) -> int:
    try:
        from provisioning.central.server import run  # type: ignore[import-not-found,unused-ignore]
    except ImportError as err:
        print(f"branch-teller central serve: the central server is not available ({err})",
              file=sys.stderr)
        return 3
    return int(run(store_url=args.store, repo_dir=Path(args.repo), host=args.host,
                   port=args.port, tick_s=args.tick_s))


def _run(args: argparse.Namespace) -> int:
    """Open the store, run the command, turn known failures into messages and exit codes."""
    from provisioning.central.schema import SchemaError
    from provisioning.central.store import StoreError

    if args.central == "serve":
        return _serve(args)
    try:
        store = _open(args)
    except (StoreError, SchemaError, OSError) as err:
        print(f"branch-teller central: cannot open the fleet store: {err}", file=sys.stderr)
        return 3
    try:
        return int(args.handler(args, store))
    except argparse.ArgumentTypeError as err:
        print(f"branch-teller central {args.central}: {err}", file=sys.stderr)
        return 2
    except (Refused, ValueError) as err:
        print(f"branch-teller central {args.central}: {err}", file=sys.stderr)
        return 1
    finally:
        store.close()


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `central` and its subcommands."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--store", default=os.environ.get(STORE_ENV, FALLBACK_STORE),
                        help=f"fleet store URL (default ${STORE_ENV}, else {FALLBACK_STORE})")
    fmt = argparse.RawDescriptionHelpFormatter
    central = sub.add_parser("central", help="the bank's fleet service: serve, box, rollout, "
                             "status, report", description=CENTRAL_HELP, formatter_class=fmt)
    central.set_defaults(func=_run)
    commands = central.add_subparsers(dest="central", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", parents=[common], help="run central")
    serve.add_argument("--repo", default="central/repo",
                       help="the TUF repository folder (metadata/, targets/) to serve")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=DEFAULT_PORT, help="0 picks a free one")
    serve.add_argument("--tick-s", type=float, default=5.0,
                       help="how often the rollout engine runs (seconds)")

    box = commands.add_parser("box", parents=[common], help="add, list, disable, enable, "
                              "rotate boxes", description="Each box has its own id and secret.")
    box.add_argument("action", choices=["add", "list", "disable", "enable", "rotate"])
    box.add_argument("box_id", nargs="?", metavar="ID")
    box.add_argument("--branch", default="", help="the branch's name (add)")
    box.add_argument("--tag", action="append", default=[], help="cohort tag, repeatable (add)")
    box.add_argument("--url", default=f"http://127.0.0.1:{DEFAULT_PORT}",
                     help="central's URL as the box reaches it (printed config)")
    box.add_argument("--secret-file", default="/etc/branch-teller/central.secret",
                     help="where the secret lives on the box (printed config)")
    box.add_argument("--write-secret", metavar="FILE",
                     help="write the new secret to FILE (mode 0600) instead of printing it")
    box.add_argument("--stale-s", type=float, default=1800.0,
                     help="flag boxes silent longer than this (list)")
    box.add_argument("--json", action="store_true")
    box.set_defaults(handler=_box)

    ro = commands.add_parser("rollout", parents=[common], help="start, list, halt, resume, "
                             "cancel staged rollouts", description=CENTRAL_HELP,
                             formatter_class=fmt)
    ro.add_argument("action", choices=["start", "list", "halt", "resume", "cancel"])
    ro.add_argument("rollout_id", nargs="?", metavar="ID")
    ro.add_argument("--bundle", help="the published bundle's name (start)")
    ro.add_argument("--stages", default="pilot,20%,all",
                    help="comma-separated: a cohort tag, N, N%%, all (start)")
    ro.add_argument("--soak-s", type=float, default=600.0,
                    help="a stage counts healthy after this long settled (start)")
    ro.add_argument("--max-failures", type=int, default=None,
                    help="halt beyond this many failed or rolled-back boxes (start: default "
                    "1; resume: a new budget)")
    ro.add_argument("--id", help="the rollout's id (start; default BUNDLE-DATE-TIME)")
    ro.add_argument("--repo", help="check the bundle is published in this repository (start)")
    ro.add_argument("--reason", default="", help="why (halt, cancel)")
    ro.add_argument("--json", action="store_true", help="(list)")
    ro.set_defaults(handler=_rollout)

    st = commands.add_parser("status", parents=[common], help="the fleet table")
    st.add_argument("--rollout", help="only this rollout")
    st.add_argument("--stale-s", type=float, default=1800.0,
                    help="flag boxes silent longer than this (seconds)")
    st.add_argument("--json", action="store_true")
    st.set_defaults(handler=_status)

    rp = commands.add_parser("report", parents=[common],
                             help="compare branches from their day aggregates")
    rp.add_argument("--since", help="first day, YYYY-MM-DD")
    rp.add_argument("--until", help="last day, YYYY-MM-DD")
    rp.add_argument("--gap", type=float, default=0.15,
                    help="flag a share this far below the fleet's (0.15 = 15 points)")
    rp.add_argument("--latency-factor", type=float, default=1.5,
                    help="flag a turn p95 this many times the fleet's")
    rp.add_argument("--json", action="store_true")
    rp.set_defaults(handler=_report)
