"""`branch-teller staff add|passwd|disable|list`: staff accounts in the box's database.

Run on the box by whoever administers it (file access to the database is the admin's
credential here). Passwords are read without echo, or from stdin with --password-stdin for
scripts; never from a flag, where `ps` and shell history would keep them.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import sys
from pathlib import Path

from edge import staff
from edge.config import BranchConfig
from edge.roles import STAFF_ROLES
from edge.staff import StaffError
from edge.store import Store


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["add", "passwd", "disable", "list"])
    parser.add_argument("user", nargs="?", help="the staff login name")
    parser.add_argument("--role", choices=STAFF_ROLES, help="add: teller, manager, admin, auditor")
    parser.add_argument("--counter", help="add: a teller's own counter id (e.g. c3)")
    parser.add_argument("--password-stdin", action="store_true",
                        help="read the password from the first line of stdin")
    parser.add_argument("--json", action="store_true", help="list: one JSON object")


def _password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass(f"New password for {args.user}: ")
    if getpass.getpass("Again: ") != first:
        raise StaffError("the two passwords differ")
    return first


async def _run(config: BranchConfig, args: argparse.Namespace) -> int:
    store = await Store.open(Path(config.data_dir) / "branch.db")
    try:
        s = config.staff
        ph = staff.hasher(s.argon2_time_cost, s.argon2_memory_kib, s.argon2_parallelism)
        if args.action == "list":
            rows = await store.call(staff.accounts)
            if args.json:
                print(json.dumps({"staff": rows}, ensure_ascii=False))
            for row in [] if args.json else rows:
                state = "disabled" if row["disabled"] else "active"
                print(f"{row['user']:<16} {row['role']:<8} {row['counter'] or '-':<6} {state}")
            return 0
        if not args.user:
            raise StaffError(f"staff {args.action} needs a user name")
        if args.action == "add":
            if args.role is None:
                raise StaffError("staff add needs --role")
            password = _password(args)
            await store.call(staff.add_account, ph, args.user, password, args.role, args.counter)
            await store.audit("cli", "staff_add", {"user": args.user, "role": args.role})
        elif args.action == "passwd":
            password = _password(args)
            await store.call(staff.set_password, ph, args.user, password)
            await store.audit("cli", "staff_passwd", {"user": args.user})
        else:
            await store.call(staff.disable, args.user)
            await store.audit("cli", "staff_disable", {"user": args.user})
        print(f"staff {args.action} {args.user}: done (a running service ends the user's "
              f"live sessions within {s.sync_interval_s:g} s)" if args.action != "add"
              else f"staff add {args.user}: done (can log in now)")
        return 0
    finally:
        await store.close()


def run_staff(config: BranchConfig, args: argparse.Namespace) -> int:
    try:
        return asyncio.run(_run(config, args))
    except StaffError as err:
        print(f"branch-teller staff: {err}", file=sys.stderr)
        return 1
