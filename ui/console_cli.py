"""`branch-teller console` and `python -m ui`: the staff console's command line, running the
console app in this terminal."""

from __future__ import annotations

import argparse
import getpass
import os
import ssl
import sys
from collections.abc import Sequence

from ui import app as console_app


def run_console(url: str, user: str, credential: str, counter: str | None = None,
                ca: str | None = None) -> None:
    """Run the console in this terminal until the user quits (what `branch-teller console` calls).
    `ca`: the branch CA's PEM file, the only one trusted for wss:// (pinning it)."""
    tls = None
    if ca:
        tls = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca)
        tls.minimum_version = ssl.TLSVersion.TLSv1_2
    console_app.ConsoleApp(url, user, credential, counter, tls=tls).run()


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m ui --url ws://127.0.0.1:8765 --user teller-1 [--credential ...]`."""
    parser = argparse.ArgumentParser(prog="branch-teller console",
                                     description=console_app.__doc__)  # the app's own words
    parser.add_argument("--url", default="ws://127.0.0.1:8765")
    parser.add_argument("--user", required=True, help="staff login (`branch-teller staff add`)")
    parser.add_argument("--credential", default=os.environ.get("BRANCH_TELLER_CREDENTIAL"),
                        help="the staff password (default: $BRANCH_TELLER_CREDENTIAL, else asked)")
    parser.add_argument("--ca", help="branch CA certificate (PEM) to trust for wss://")
    parser.add_argument("--counter", default=None, help="act for this counter (default: the "
                        "counter the service has for this user)")
    args = parser.parse_args(argv)
    if not args.credential and sys.stdin.isatty():
        args.credential = getpass.getpass(f"Password for {args.user}: ")  # not in ps/history
    if not args.credential:
        parser.error("a credential is required (--credential or $BRANCH_TELLER_CREDENTIAL)")
    run_console(args.url, args.user, args.credential, args.counter, args.ca)
    return 0
