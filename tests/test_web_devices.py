"""The pages' device side in a real browser (Debian's chromium, Playwright, the real service):
pairing instead of credentials in URLs, the display speaking each call with audio the
service synthesised, the kiosk page's own barge-in detector, and "take a ticket".

Skipped only when chromium is not installed (scripts/install.sh installs it)."""

from __future__ import annotations

import asyncio
import itertools
import json
import re
from typing import Any

from edge import pairing
from tests import test_web_pages as web
from tests.conftest import Running
from tests.test_web_pages import WAIT_MS, events, http, kiosk, shot, until
from tests.wsclient import command, login, recv_until

# the browser, its contexts and the service with speech on, as the kiosk page tests have them
pytestmark = web.pytestmark
served, browser, context = web.served, web.browser, web.context


async def open_page(context: Any, url: str) -> Any:
    page = await context.new_page()
    page.errors = []
    page.on("pageerror", lambda err: page.errors.append(str(err)))
    await page.goto(url)
    return page


async def refusal(page: Any) -> dict[str, str]:
    await page.wait_for_selector("#refused:not([hidden])", timeout=WAIT_MS)
    got: dict[str, str] = await page.evaluate("""() => ({
        code: document.getElementById('refused').dataset.code,
        zh: document.getElementById('refused-zh').textContent,
        en: document.getElementById('refused-en').textContent,
        all: document.getElementById('refused').textContent})""")
    return got


# ---------------------------------------------------------------- pairing


async def test_a_pairing_link_signs_the_page_in_and_keeps_no_secret_in_the_url(
    context: Any, served: Running
) -> None:
    assert served.service.pairing is not None
    code, _ = await served.service.pairing.create("kiosk-1", by="test")
    page = await open_page(context, f"{http(served)}/k/#pair={code}&lang=zh")
    await page.wait_for_function("window.__bt.state === 'online'", timeout=WAIT_MS)
    assert code not in page.url and "pair=" not in page.url and "credential" not in page.url
    assert page.url.endswith("#lang=zh")  # the other options stay
    kept = json.loads(await page.evaluate("localStorage.getItem('bt.kiosk')"))
    assert kept["device"] == "kiosk-1" and len(kept["credential"]) >= 40
    assert kept["credential"] != "demo-kiosk-1"  # its own, not the branch.toml one
    assert served.service.pairing.check("kiosk-1", kept["credential"]) == "ok"
    # the page works on the paired credential: a typed turn gets its reply
    await page.fill("#text", "你们几点下班")
    await page.click("#send")
    await page.wait_for_function(
        "window.__bt.events.some(e => e.type === 'reply')", timeout=WAIT_MS
    )
    # a reload (power cut, browser restart) signs in again from localStorage
    await page.reload()
    await page.wait_for_function("window.__bt.state === 'online'", timeout=WAIT_MS)
    # the code was single use: a second page with the same link is refused
    second = await open_page(context, f"{http(served)}/d/#pair={code}")
    told = await refusal(second)
    assert told["code"] == "used_code" and "已使用" in told["zh"] and "already used" in told["en"]
    await shot(second, "pairing-used-code")
    # revoked (the CLI's `device revoke` writes the same table): the page is told at once
    await served.service.pairing.revoke("kiosk-1", by="test")
    told = await refusal(page)
    assert told["code"] == "credential_revoked", told
    assert "注销" in told["zh"] and "revoked" in told["en"] and "请联系工作人员" in told["all"]
    assert kept["credential"] not in told["all"]
    # ... and keeps trying, slowly (staff may pair it again), without hammering
    await page.wait_for_function("window.__bt.link.retryInMs > 0", timeout=WAIT_MS)
    assert await page.evaluate("window.__bt.link.retryInMs") >= 4000
    assert await page.evaluate("window.__bt.state") == "refused"
    await shot(page, "pairing-revoked")
    assert not page.errors and not second.errors
    await page.close()
    await second.close()


async def test_wrong_and_expired_pairing_codes_are_explained(context: Any, served: Running) -> None:
    store = served.service.store
    assert store is not None
    page = await open_page(context, f"{http(served)}/k/#pair=WRNG-CODE")
    told = await refusal(page)
    assert told["code"] == "unknown_code" and "配对码无效" in told["zh"], told
    assert "not valid" in told["en"] and "WRNG" not in page.url
    assert await page.evaluate("window.__bt.state") == "unpaired"  # nothing to sign in with
    await shot(page, "pairing-wrong-code")
    code, _ = await store.call(pairing.create_code, "kiosk-2", "kiosk", 0.5, "test")
    await asyncio.sleep(0.6)
    await page.goto(f"{http(served)}/k/#pair={code}")
    await page.reload()  # a new hash alone does not reload a module page
    told = await refusal(page)
    assert told["code"] == "expired_code" and "过期" in told["zh"] and "expired" in told["en"]
    assert not page.errors
    await page.close()


# ---------------------------------------------------------------- the display speaks


async def test_the_display_chimes_then_speaks_the_call_and_never_replays_it(
    context: Any, served: Running
) -> None:
    desk = served.service.desk
    assert desk is not None
    page = await open_page(context, f"{http(served)}/d/#device=display-1&credential=demo-display-1")
    await page.wait_for_function(
        "window.__bt.state === 'online' && window.__bt.boards > 0", timeout=WAIT_MS
    )
    for pending in list(desk.pending_calls):  # earlier tests' calls are old news
        await desk.ack_call(pending)
    customer = await login(served.url, "kiosk-2")  # an English-speaking customer
    await customer.send(
        json.dumps(
            {
                "type": "text",
                "id": "x",
                "language": "en",
                "text": "I want to open a new bank account",
            }
        )
    )
    ticket = await recv_until(customer, "ticket", timeout=WAIT_MS / 1000)
    assert ticket["language"] == "en"
    teller = await login(served.url, "teller-2")
    for attempt in range(6):  # earlier tickets go first
        result = await command(teller, f"n{attempt}", "call_next")
        assert result["type"] == "result", result
        if result["ticket"]["number"] == ticket["number"]:
            break
        await command(teller, f"d{attempt}", "complete")
    assert result["ticket"]["number"] == ticket["number"], result
    number = ticket["number"]
    await page.wait_for_function(
        "n => window.__bt.announced.some(a => a.number === n)", arg=number, timeout=WAIT_MS
    )
    call = next(c for c in await page.evaluate("window.__bt.calls") if c["number"] == number)
    assert call["seq"] > 0 and call["language"] == "en"
    # chime, then Mandarin, then English: each sentence heard, in that order, as the service
    # synthesised it (frames of kind 2 after `call_audio`, no speechSynthesis in the page)
    await page.wait_for_function(
        "c => window.__bt.played.some(p => p.call === c && p.type === 'finished' && p.final)",
        arg=call["call"],
        timeout=60_000,
    )
    played = [
        p
        for p in await page.evaluate("window.__bt.played")
        if p["call"] == call["call"] and p["type"] == "started"
    ]
    kinds = [p["kind"] for p in played]
    assert kinds[0] == "chime" and kinds.count("chime") == 1 and "speech" in kinds, played
    assert all(b["at"] >= a["at"] for a, b in itertools.pairwise(played))
    audio_msgs = await page.evaluate("window.__bt.callAudio")
    mine = [m for m in audio_msgs if m["call"] == call["call"]]
    assert mine[0]["language"] == "zh" and mine[-1]["language"] == "en", mine
    assert len([p for p in played if p["kind"] == "speech"]) == len(mine)
    assert await page.evaluate(
        "typeof speechSynthesis === 'undefined' || !speechSynthesis.speaking"
    )
    await until(lambda: call["call"] not in desk.pending_calls)  # acknowledged
    await shot(page, "display-call-spoken")
    # reconnect: the board is drawn from the snapshot, the call is not announced again, and
    # a re-sent copy of it (same board sequence) is acknowledged but stays quiet
    await page.reload()
    await page.wait_for_function(
        "window.__bt.state === 'online' && window.__bt.boards > 0", timeout=WAIT_MS
    )
    assert await page.evaluate("window.__bt.lastSeq") == call["seq"]
    await page.evaluate(
        "c => window.__bt.link.receive(JSON.stringify(c))",
        {**call, "call": "replayed-copy", "attempt": 2},
    )
    await asyncio.sleep(1.0)
    assert await page.evaluate("window.__bt.announced") == []
    assert await page.evaluate("window.__bt.played") == []
    assert "replayed-copy" in await page.evaluate("window.__bt.acks")
    assert await page.text_content("#number") == number
    assert not page.errors
    await teller.close()
    await customer.close()
    await page.close()


# ---------------------------------------------------------------- barge-in by the page


def drop_stop_audio(route: Any) -> None:
    """The service's own barge-in (`stop_audio`) never reaches the page: only the page's
    detector can stop the reply."""
    server = route.connect_to_server()
    server.on_message(
        lambda m: None if isinstance(m, str) and '"type":"stop_audio"' in m else route.send(m)
    )


async def test_the_page_stops_the_reply_when_it_hears_the_customer(
    context: Any, served: Running
) -> None:
    page = await context.new_page()
    page.errors = []
    page.on("pageerror", lambda err: page.errors.append(str(err)))
    await page.route_web_socket(re.compile(r"/kiosk$"), drop_stop_audio)
    await page.goto(f"{http(served)}/k/#device=kiosk-2&credential=demo-kiosk-2&lang=en")
    await page.wait_for_function("window.__bt.state === 'online'", timeout=WAIT_MS)
    assert await page.evaluate("window.__bt.audio.barge.barge_in") is True  # from describe
    await page.fill(
        "#text", "What do I need to bring to open an account, and how long does it take?"
    )
    await page.click("#send")
    await page.wait_for_function(
        "window.__bt.playback.some(e => e.type === 'started')", timeout=60_000
    )
    turn = (await page.evaluate("window.__bt.playback[0]"))["turn"]
    before = served.service.playback["stopped"]
    await page.click("#mic")  # the fake microphone: 0.5 s of silence, then the customer
    await page.wait_for_function("window.__bt.bargeIns.length > 0", timeout=WAIT_MS)
    barge = (await page.evaluate("window.__bt.bargeIns"))[0]
    assert barge["turn"] == turn and barge["rms"] > barge["threshold"] >= 0.02, barge
    stopped = next(e for e in await page.evaluate("window.__bt.playback") if e["type"] == "stopped")
    assert stopped["turn"] == turn and stopped["playedMs"] > 0
    assert await page.evaluate("window.__bt.audio.heardSentence()") is None  # mouth at rest
    await page.wait_for_function("window.__bt.mouthLog.at(-1).viseme === null", timeout=WAIT_MS)
    assert not [e for e in await events(page, "stop_audio")]  # not the service's doing
    await until(lambda: served.service.playback["stopped"] > before)  # it was told
    await shot(page, "kiosk-barge-in")
    await page.click("#mic")
    assert not page.errors
    await page.close()


async def test_the_detector_can_be_turned_off(context: Any, served: Running) -> None:
    page = await context.new_page()
    await page.route_web_socket(re.compile(r"/kiosk$"), drop_stop_audio)
    await page.goto(f"{http(served)}/k/#device=kiosk-1&credential=demo-kiosk-1&lang=en&barge=off")
    await page.wait_for_function("window.__bt.state === 'online'", timeout=WAIT_MS)
    await page.fill(
        "#text", "What do I need to bring to open an account, and how long does it take?"
    )
    await page.click("#send")
    await page.wait_for_function(
        "window.__bt.playback.some(e => e.type === 'started')", timeout=60_000
    )
    await page.click("#mic")
    await asyncio.sleep(3.0)  # the clip's speech is over by now
    assert await page.evaluate("window.__bt.bargeIns") == []
    assert not [e for e in await page.evaluate("window.__bt.playback") if e["type"] == "stopped"]
    await page.click("#mic")
    await page.close()


# ---------------------------------------------------------------- take a ticket


async def test_take_a_ticket_is_always_there_and_ends_with_a_ticket(
    context: Any, served: Running
) -> None:
    page = await kiosk(context, served, "kiosk-1", "&lang=en")
    await page.fill("#text", "What are your opening hours?")  # in the middle of something else
    await page.click("#send")
    await page.wait_for_function(
        "window.__bt.events.some(e => e.type === 'reply')", timeout=WAIT_MS
    )
    assert await page.text_content("#take") == " Take a ticket"
    await page.click("#take")
    await page.wait_for_function(
        "window.__bt.events.filter(e => e.type === 'reply' || e.type === 'ticket').length >= 2",
        timeout=WAIT_MS,
    )
    if not await events(page, "ticket"):  # the service asks which service: touch one
        await page.click(".choice >> nth=0")
    await page.wait_for_selector(".card.ticket .number", timeout=WAIT_MS)
    [ticket] = await events(page, "ticket")
    assert await page.text_content(".card.ticket .number") == ticket["number"]
    assert "I would like a ticket" in await page.text_content("#log")  # the same turn as typing
    await page.click("#lang-zh")
    assert (await page.text_content("#take")).strip() == "取号"
    await shot(page, "kiosk-take-a-ticket")
    assert not page.errors
    await page.close()
