"""Central spends argon2 only on credentials worth checking: an address that keeps sending
wrong ones is refused (429) without hashing until its window passes, while enrolled boxes
from other addresses go on being served. Real store (SQLite), real server on 127.0.0.1."""

from __future__ import annotations

from pathlib import Path

import aiohttp

from provisioning.central import rollout
from provisioning.central.server import serve
from provisioning.central.server_settings import CentralServerSettings
from provisioning.central.store import open_store
from provisioning.central.wire import ENCODER, BoxReport


async def test_wrong_credentials_from_one_address_are_throttled(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'fleet.db'}")
    secret = store.add_box("pudong-012", "Pudong 012", ["pilot"])
    for part in ("metadata", "targets"):
        (tmp_path / "repo" / part).mkdir(parents=True)
    settings = CentralServerSettings(auth_failures_per_source=3, auth_failure_window_s=60.0)
    report = ENCODER.encode(BoxReport(box_id="pudong-012", service_version="0.1.0",
                                      bundle="factory"))
    try:
        async with await serve(store, tmp_path / "repo", rollout.step, settings=settings) as central:
            url = f"{central.url}/api/v1/report"
            async with aiohttp.ClientSession() as http:

                async def post(token: str) -> int:
                    headers = {"Authorization": f"Bearer {token}",
                               "Content-Type": "application/json"}
                    async with http.post(url, data=report, headers=headers) as response:
                        return response.status

                wrong = [await post("pudong-012:not-the-secret") for _ in range(5)]
                assert wrong == [401, 401, 401, 429, 429], wrong
                # hashing stopped: the refusals after the third cost no argon2 check
                assert central.api.auth.throttled == 2
                # the right secret from the throttled address waits for the window too ...
                assert await post(f"pudong-012:{secret}") == 429
                central.api.auth._failures.clear()  # ... which has now passed
                assert await post(f"pudong-012:{secret}") == 200
        assert [b.box_id for b in store.boxes() if b.last_contact] == ["pudong-012"]
    finally:
        store.close()
