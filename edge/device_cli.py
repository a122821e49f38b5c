"""`branch-teller device pair|revoke|list`: pair a kiosk or display page, or end its pairing.

Run on the box by whoever administers it (file access to the database is the admin's
credential here, as for `branch-teller staff`). `pair` prints a one-time code and the link
that carries it in the URL fragment; the page exchanges it once for its own credential
(`GET /pair`) and keeps that in the browser. A running service sees `revoke` within
`[pairing] refresh_s` and disconnects the device.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

from edge import pairing
from edge.config import BranchConfig
from edge.pairing_gate import pairing_link
from edge.store import Store


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["pair", "revoke", "list"])
    parser.add_argument("device", nargs="?", help="the device id from branch.toml (kiosk-1)")
    parser.add_argument(
        "--url",
        help="pair: the service's address as the device reaches it "
        "(default: from server.host, server.port and TLS)",
    )
    parser.add_argument(
        "--ttl", type=float, help="pair: seconds the code works (default: [pairing] code_ttl_s)"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def service_url(config: BranchConfig) -> str:
    """The service's own address as configured (a wildcard host becomes this box's name)."""
    s = config.server
    host = s.host if s.host not in ("0.0.0.0", "::", "") else "HOST"
    scheme = "https" if s.tls_cert else "http"
    return f"{scheme}://{host}:{s.port}"


async def _run(config: BranchConfig, args: argparse.Namespace) -> int:
    store = await Store.open(Path(config.data_dir) / "branch.db")
    try:
        if args.action == "list":
            rows = await store.call(pairing.overview)
            if args.json:
                print(json.dumps({"devices": rows}))
                return 0
            for d in config.devices:
                row = next((r for r in rows if r["device"] == d.id), None)
                code = "-"
                if row and row["code_expires_at"]:
                    code = f"code valid {max(0, row['code_expires_at'] - time.time()):.0f} s"
                print(
                    f"{d.id:<12} {d.role:<7} paired {row['paired'] if row else 0}  "
                    f"revoked {row['revoked'] if row else 0}  {code}"
                )
            return 0
        device = config.device(args.device or "")
        if device is None:
            known = ", ".join(d.id for d in config.devices)
            print(
                f"branch-teller device: no device {args.device!r} in the config (known: {known})",
                file=sys.stderr,
            )
            return 1
        if args.action == "pair":
            ttl = args.ttl if args.ttl is not None else config.pairing.code_ttl_s
            code, expires = await store.call(
                pairing.create_code, device.id, device.role, ttl, "cli"
            )
            await store.audit("cli", "device_pair", {"device": device.id})
            link = pairing_link(args.url or service_url(config), device.role, code)
            if args.json:
                print(
                    json.dumps(
                        {"device": device.id, "code": code, "link": link, "expires_at": expires}
                    )
                )
            else:
                print(f"pairing code for {device.id}: {code} (one use, valid {ttl / 60:.0f} min)")
                print(f"open on the device: {link}")
            return 0
        n = await store.call(pairing.revoke, device.id)
        await store.audit("cli", "device_revoke", {"device": device.id, "credentials": n})
        print(
            json.dumps({"device": device.id, "revoked": n})
            if args.json
            else f"device {device.id}: {n} paired credential(s) revoked; a running service "
            f"disconnects it within {config.pairing.refresh_s:.0f} s (a credential in "
            "branch.toml is changed there)"
        )
        return 0
    finally:
        await store.close()


def run_device(config: BranchConfig, args: argparse.Namespace) -> int:
    return asyncio.run(_run(config, args))
