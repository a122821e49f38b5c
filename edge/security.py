"""What the service checks before it listens, and how its settings become the device
server's limits and TLS context.

The service refuses to start rather than run exposed: a secrets file others can read, demo
credentials outside the demo, staff logins crossing the LAN without TLS. Each refusal says
how to fix it.
"""

from __future__ import annotations

import ipaddress
import ssl
import stat
from pathlib import Path

from devices.ratelimit import RateSettings
from devices.server_api import Limits
from edge.config import DEMO_DEVICES, BranchConfig, ServerSettings


def limits_from(s: ServerSettings) -> Limits:
    """The device server's limits from the `[server]` settings."""
    rates = RateSettings(control_per_s=s.control_per_s, control_burst=s.control_burst,
                         audio_bytes_per_s=s.audio_bytes_per_s,
                         audio_burst_bytes=s.audio_burst_bytes, abuse_dropped=s.abuse_dropped,
                         abuse_window_s=s.abuse_window_s)
    return Limits(max_message_bytes=s.max_message_bytes,
                  hard_max_message_bytes=s.hard_max_message_bytes,
                  send_queue=s.send_queue, hello_timeout_s=s.hello_timeout_s,
                  ping_interval_s=s.ping_interval_s, ping_timeout_s=s.ping_timeout_s,
                  max_connections=s.max_connections,
                  max_pending_hello=s.max_pending_hello, log_interval_s=s.log_interval_s,
                  log_sources=s.log_sources, max_per_source=s.max_per_source,
                  max_kiosks=s.max_kiosks, max_callers=s.max_callers,
                  max_consoles=s.max_consoles, rates=rates,
                  abuse_cooloff_s=s.abuse_cooloff_s)


def tls_context(s: ServerSettings) -> ssl.SSLContext | None:
    """Server-side TLS (1.2 at least) from the configured PEM files; None for plain ws."""
    if not s.tls_cert:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(s.tls_cert, s.tls_key)
    return context


def client_tls(ca_file: str) -> ssl.SSLContext:
    """A client context that trusts only the branch CA (pinning it), TLS 1.2 at least."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca_file)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _readable_by_others(path: Path) -> bool:
    return bool(path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO))


def startup_problems(config: BranchConfig, config_path: Path | None, demo: bool) -> list[str]:
    """Why the service must not start with this config (empty: it may)."""
    problems: list[str] = []
    s = config.server
    if demo:
        return problems  # the demo runs on the box's loopback with published credentials
    secret_files = [p for p in (config_path, Path(s.tls_key) if s.tls_key else None)
                    if p is not None and p.exists()]
    for path in secret_files:
        if _readable_by_others(path):
            problems.append(f"{path} holds secrets and is readable by group or others; "
                            f"run: chmod 600 {path}")
    demo_secrets = {d.credential for d in DEMO_DEVICES}
    # No file at all on loopback is the built-in demo branch (tools, the kill test); a branch
    # config, or any LAN address, must bring its own device credentials.
    exposed = config_path is not None or not _loopback(s.host)
    for d in config.devices if exposed else ():
        if d.credential in demo_secrets:
            problems.append(f"device {d.id} uses a published demo credential; give it its own "
                            "(e.g. `python -c 'import secrets; print(secrets.token_urlsafe(24))'`)"
                            " or run with --demo")
            break
    if not _loopback(s.host) and not s.tls_cert and not s.allow_plain_lan:
        problems.append(f"server.host = {s.host!r} without TLS would send staff passwords and "
                        "tokens over the LAN in the clear; set server.tls_cert and "
                        "server.tls_key (README: Security), or listen on 127.0.0.1")
    return problems
