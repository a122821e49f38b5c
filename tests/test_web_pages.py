"""The kiosk and display pages in a real browser: Debian's chromium driven by Playwright,
a fake microphone fed from a real clip, the real service with speech on.

Skipped only when chromium is not installed (scripts/install.sh installs it)."""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import pytest_asyncio

from edge.service import Service
from speech.textnorm import cer
from tests.conftest import REPO, SHARED, Running, make_config
from tests.wsclient import command, login, recv_until

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CLIPS = SHARED / "datasets" / "speech"
CLIP = "BAC009S0764W0121.wav"  # 甚至出现交易几乎停滞的情况: the service asks which service
AXE = sorted((REPO / "build" / "web-vendor").glob("axe-core-*/axe.min.js"))
ARTIFACTS = REPO / "test-artifacts" / "web"
WAIT_MS = 30_000  # every wait in the page has a timeout
WELCOME_DELAY_S = 2.0
pytestmark = [
    pytest.mark.asyncio(loop_scope="module"),
    pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (scripts/install.sh)"),
    pytest.mark.skipif(not (CLIPS / CLIP).exists(), reason="../shared speech clips absent"),
    pytest.mark.timeout(180),
]


def fake_microphone(folder: Path) -> Path:
    """The clip as a 48 kHz 16-bit WAV (what chromium's fake capture reads), with a little
    silence before (the page may still be connecting) and after (the end of the turn)."""
    import soundfile as sf
    import soxr

    audio, rate = sf.read(CLIPS / CLIP, dtype="float32")
    up = soxr.resample(audio, rate, 48_000)
    pcm = np.concatenate([np.zeros(48_000 // 2, np.float32), up, np.zeros(48_000 * 2, np.float32)])
    path = folder / "mic.wav"
    sf.write(path, pcm, 48_000, subtype="PCM_16")
    return path


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def served(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Running]:
    service = Service(make_config(tmp_path_factory.mktemp("web"), **{"speech.enabled": True}),
                      demo=True)  # the demo staff accounts the tellers log in with
    host, port = await service.start()
    try:
        yield Running(service, f"ws://{host}:{port}")
    finally:
        await service.stop()


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def browser(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    mic = fake_microphone(tmp_path_factory.mktemp("mic"))
    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--autoplay-policy=no-user-gesture-required", "--use-fake-ui-for-media-stream",
            "--use-fake-device-for-media-stream", f"--use-file-for-fake-audio-capture={mic}%noloop"])
        try:
            yield chromium
        finally:
            await chromium.close()


@pytest_asyncio.fixture(loop_scope="module")
async def context(browser: Any) -> AsyncIterator[Any]:
    # bypass_csp: Playwright's waits evaluate code, which the pages' policy forbids
    ctx = await browser.new_context(bypass_csp=True, viewport={"width": 1280, "height": 800})
    try:
        yield ctx
    finally:
        await ctx.close()


def http(running: Running) -> str:
    return running.url.replace("ws://", "http://")


async def kiosk(context: Any, served: Running, device: str = "kiosk-1", extra: str = "") -> Any:
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    page.errors = errors
    credential = {"kiosk-1": "demo-kiosk-1", "kiosk-2": "demo-kiosk-2"}[device]
    await page.goto(f"{http(served)}/k/#device={device}&credential={credential}{extra}")
    await page.wait_for_function("window.__bt && window.__bt.state === 'online'", timeout=WAIT_MS)
    return page


async def events(page: Any, kind: str) -> list[dict[str, Any]]:
    got: list[dict[str, Any]] = await page.evaluate(
        "k => window.__bt.events.filter(e => e.type === k)", kind)
    return got


async def until(condition: Any, timeout: float = 10.0) -> None:
    """Poll service state the page changes from afar (no event to await on that side)."""
    async with asyncio.timeout(timeout):
        while not condition():  # noqa: ASYNC110
            await asyncio.sleep(0.05)


async def shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


async def test_a_typed_request_shows_the_ticket_card(context: Any, served: Running) -> None:
    page = await kiosk(context, served)
    await page.fill("#text", "我要开户")
    await page.click("#send")
    await page.wait_for_selector(".card.ticket .number", timeout=WAIT_MS)
    number = await page.text_content(".card.ticket .number")
    [ticket] = await events(page, "ticket")
    assert number == ticket["number"]
    assert served.service.desk is not None
    held = served.service.desk.engine.find(number)  # the card shows a ticket the queue holds
    assert held.state == "waiting" and held.service == ticket["service"]
    card = await page.text_content(".card.ticket")
    assert "个人业务" in card and f"{ticket['ahead']}位" in card
    assert "我要开户" in await page.text_content("#log")
    await page.wait_for_function(  # the teller smiles while she reads out the ticket
        "t => window.__bt.mouthLog.some(e => e.turn === t && e.expr === 'smile')",
        arg=ticket["turn"], timeout=WAIT_MS)
    await shot(page, "kiosk-zh-normal")
    # the card follows the queue: a teller calls the next customer, which is this one
    teller = await login(served.url, "teller-1")
    for attempt in range(5):  # earlier tickets of this service (other tests) go first
        result = await command(teller, f"call{attempt}", "call_next")
        assert result["type"] == "result", result
        if result["ticket"]["number"] == number:
            break
        await command(teller, f"done{attempt}", "complete")
    await teller.close()
    assert result["ticket"]["number"] == number, result
    await page.wait_for_selector(".card.ticket.called", timeout=WAIT_MS)
    assert "请到1号窗口" in await page.text_content(".card.ticket")
    await page.click("#lang-en")
    await page.wait_for_function("document.documentElement.lang === 'en'", timeout=WAIT_MS)
    await page.fill("#text", "What are your opening hours?")
    await page.click("#send")
    await page.wait_for_function("window.__bt.events.filter(e => e.type === 'reply').length >= 2",
                                 timeout=WAIT_MS)
    replies = await events(page, "reply")
    assert replies[-1]["language"] == "en"
    await shot(page, "kiosk-en-normal")
    # the customer walks away: the screen is cleared for the next one and the service told
    session = served.service.sessions["kiosk-1"]
    conversation = session.conversation
    await page.evaluate("window.__bt.idleReset()")
    assert await page.evaluate("document.querySelectorAll('#log li, #cards .card').length") == 0
    await until(lambda: session.conversation != conversation)
    assert not page.errors
    await page.close()


async def test_a_scam_warning_is_shown_large_and_first(context: Any, served: Running) -> None:
    page = await kiosk(context, served, "kiosk-2")
    await page.fill("#text", "有人打电话说我涉嫌洗钱，让我把钱转到安全账户")
    await page.click("#send")
    await page.wait_for_selector(".card.warning .warning-text", timeout=WAIT_MS)
    [reply] = await events(page, "reply")
    assert reply["interruptible"] is False and reply["warning"] == "scam"
    assert await page.get_attribute(".card.warning", "role") == "alert"
    assert "不要转账" in await page.text_content(".card.warning")
    sizes = await page.evaluate("""() => [
        parseFloat(getComputedStyle(document.querySelector('.card.warning .warning-text')).fontSize),
        parseFloat(getComputedStyle(document.body).fontSize)]""")
    assert sizes[0] >= 1.4 * sizes[1], sizes  # large, whatever the page's text size
    first = await page.evaluate("document.querySelector('#cards .card').classList.value")
    assert "warning" in first  # above the urgent ticket's card
    log = await page.text_content("#log") or ""
    assert "不要转账" not in log  # said once, in the warning card, not again as a bubble
    await shot(page, "kiosk-scam-warning")
    assert not page.errors
    await page.close()


async def test_a_spoken_request_is_transcribed_and_ends_with_a_ticket(
        context: Any, served: Running) -> None:
    page = await context.new_page()
    page.errors = []
    page.on("pageerror", lambda err: page.errors.append(str(err)))
    loop = asyncio.get_running_loop()

    def hold_welcome(route: Any) -> None:
        # the service's welcome reaches the page 2 s late: the first 1.5 s of speech is
        # captured before it and must be queued, not lost
        server = route.connect_to_server()
        server.on_message(lambda m: loop.call_later(WELCOME_DELAY_S, route.send, m)
                          if isinstance(m, str) and '"welcome"' in m else route.send(m))

    await page.route_web_socket(re.compile(r"/kiosk$"), hold_welcome)
    await page.goto(f"{http(served)}/k/#device=kiosk-2&credential=demo-kiosk-2&lang=zh&mic=on")
    await page.wait_for_function("window.__bt.link.queue.some(x => typeof x !== 'string')",
                                 timeout=WAIT_MS)  # audio frames waiting for the welcome
    await page.wait_for_function(
        "window.__bt.events.some(e => e.type === 'transcript' && e.final)", timeout=60_000)
    [final] = [e for e in await events(page, "transcript") if e["final"]][:1]
    assert cer("甚至出现交易几乎停滞的情况", final["text"]) <= 0.35, final
    assert final["text"] in await page.text_content("#log")
    await page.wait_for_function("window.__bt.events.some(e => e.type === 'reply')",
                                 timeout=WAIT_MS)
    if (await events(page, "reply"))[0]["choices"]:  # the service asked which service: touch one
        await page.click(".choice >> nth=0")
    await page.wait_for_selector(".card.ticket .number", timeout=WAIT_MS)
    [ticket] = await events(page, "ticket")
    assert await page.text_content(".card.ticket .number") == ticket["number"]
    assert not page.errors
    await page.close()


def hold_speech_until_final(route: Any) -> None:
    """Pass the reply's sentences on only once the last one is synthesised, so they reach the
    page together and wait in the playback queue (on a busy machine synthesis is slower than
    playback, and each sentence would otherwise start the moment it arrives)."""
    server = route.connect_to_server()
    held: list[str | bytes] = []
    state = {"holding": False, "final": False}

    def relay(m: str | bytes) -> None:
        if isinstance(m, str) and m.startswith('{"type":"speech"'):
            state["holding"] = True
            state["final"] = state["final"] or '"final":true' in m
        if not state["holding"]:
            route.send(m)
            return
        held.append(m)
        if isinstance(m, bytes) and state["final"]:  # the last sentence's audio
            for item in held:
                route.send(item)
            held.clear()
            state["holding"] = state["final"] = False

    server.on_message(relay)


async def test_reply_audio_plays_and_the_mouth_follows_the_visemes(
        context: Any, served: Running) -> None:
    page = await context.new_page()
    page.errors = []
    page.on("pageerror", lambda err: page.errors.append(str(err)))
    await page.route_web_socket(re.compile(r"/kiosk$"), hold_speech_until_final)
    await page.goto(f"{http(served)}/k/#device=kiosk-1&credential=demo-kiosk-1&lang=en")
    await page.wait_for_function("window.__bt.state === 'online'", timeout=WAIT_MS)
    await page.fill("#text", "What are your opening hours?")
    await page.click("#send")
    await page.wait_for_function(
        "window.__bt.playback.some(e => e.type === 'finished' && e.final)", timeout=60_000)
    playback = await page.evaluate("window.__bt.playback")
    log = await page.evaluate("window.__bt.mouthLog")
    speech = await events(page, "speech")
    started = [e for e in playback if e["type"] == "started"]
    assert started, playback
    assert served.service.playback["started"] >= len(started)
    heard = [e for e in log if e["t"] is not None]
    assert len(heard) > 20, log[:5]
    # the mouth's clock runs with the audio: entries cover most of each sentence, in order
    first = [e for e in heard if (e["turn"], e["seq"]) == (started[0]["turn"], started[0]["seq"])]
    assert first and all(b["t"] >= a["t"] for a, b in itertools.pairwise(first))
    # every sentence's entries run from when it starts to be heard to when it ends, also for
    # sentences that waited in the queue behind another (arrival time would be early for them)
    start = {(e["turn"], e["seq"]): e["at"] for e in started}  # audio thread's own report
    for meta in (m for m in speech if m["duration_ms"] > 0):
        key = (meta["turn"], meta["seq"])
        mine = [e for e in heard if (e["turn"], e["seq"]) == key]
        assert meta["visemes"] > 0 and mine, meta
        assert mine[0]["t"] <= 150 and \
            meta["duration_ms"] - 150 <= mine[-1]["t"] <= meta["duration_ms"], (meta, mine)
        # the mouth's position in the sentence is the audio clock's distance from the moment
        # the playback worklet started it: not when its message arrived
        late = [(e["at"], e["t"]) for e in mine if abs((e["at"] - start[key]) * 1000 - e["t"]) > 5]
        assert not late, (key, start[key], late[:3])
    # rendered openness follows the track: open vowels open wider than closed lips
    wide = [e["open"] for e in heard if e["viseme"] in (10, 11, 13)]
    shut = [e["open"] for e in heard if e["viseme"] in (0, 1)]
    assert wide and shut and np.mean(wide) > np.mean(shut) + 0.2, (np.mean(wide), np.mean(shut))
    await page.wait_for_function("window.__bt.mouthLog.at(-1).viseme === null", timeout=WAIT_MS)
    assert not page.errors
    await page.close()


async def test_stop_audio_stops_playback_and_mouth_at_once(context: Any, served: Running) -> None:
    page = await kiosk(context, served, "kiosk-2", "&lang=en")
    await page.fill("#text", "What do I need to bring to open an account, and how long does it take?")
    await page.click("#send")
    await page.wait_for_function("window.__bt.playback.some(e => e.type === 'started')",
                                 timeout=60_000)
    turn = (await page.evaluate("window.__bt.playback[0]"))["turn"]
    await asyncio.sleep(0.3)  # some of the sentence is heard
    before = served.service.playback["stopped"]
    # the service's own message, as it arrives on a barge-in
    await page.evaluate("t => window.__bt.link.receive(JSON.stringify("
                        "{type: 'stop_audio', turn: t, reason: 'barge_in'}))", turn)
    await page.wait_for_function("window.__bt.playback.some(e => e.type === 'stopped')",
                                 timeout=WAIT_MS)
    stopped = next(e for e in await page.evaluate("window.__bt.playback") if e["type"] == "stopped")
    assert stopped["turn"] == turn and stopped["playedMs"] > 0
    assert await page.evaluate("window.__bt.audio.heardSentence()") is None
    await until(lambda: served.service.playback["stopped"] > before)
    await page.close()


async def test_the_display_shows_and_acknowledges_a_call(context: Any, served: Running) -> None:
    desk = served.service.desk
    assert desk is not None
    page = await context.new_page()
    await page.goto(f"{http(served)}/d/#device=caller-1&credential=demo-caller-1")
    await page.wait_for_function("window.__bt.state === 'online' && window.__bt.boards > 0",
                                 timeout=WAIT_MS)
    for pending in list(served.service.desk.pending_calls):  # earlier tests' calls are old news
        served.service.desk.ack_call(pending)
    kiosk_ws = await login(served.url, "kiosk-1")
    await kiosk_ws.send(json.dumps({"type": "text", "id": "x", "text": "我要开户"}))
    await recv_until(kiosk_ws, "ticket", timeout=WAIT_MS / 1000)
    teller = await login(served.url, "teller-2")  # counter 2: counter 1 is serving already
    result = await command(teller, "c1", "call_next")
    assert result["type"] == "result", result
    number = result["ticket"]["number"]
    await page.wait_for_function("n => window.__bt.announced.some(a => a.number === n)", arg=number,
                                 timeout=WAIT_MS)
    assert await page.text_content("#number") == number
    call = next(c for c in await page.evaluate("window.__bt.calls") if c["number"] == number)
    await until(lambda: call["call"] not in desk.pending_calls)  # the page acknowledged it
    assert await page.evaluate("window.__bt.chimes") >= 1
    await shot(page, "display")
    # reconnect: the board comes back, the old call is not announced again
    await page.reload()
    await page.wait_for_function("window.__bt.state === 'online' && window.__bt.boards > 0",
                                 timeout=WAIT_MS)
    await asyncio.sleep(0.5)
    assert await page.evaluate("window.__bt.announced") == []
    assert await page.text_content("#number") == number  # shown quietly from the board
    await teller.close()
    await kiosk_ws.close()
    await page.close()


async def test_elderly_mode_meets_the_size_and_contrast_rules(context: Any, served: Running) -> None:
    assert AXE, "axe-core is missing: run scripts/install.sh (npm pack into build/web-vendor)"
    page = await kiosk(context, served)
    await page.click("#elderly")
    await page.fill("#text", "我的银行卡丢了")
    await page.click("#send")
    await page.wait_for_function("window.__bt.events.some(e => e.type === 'reply')",
                                 timeout=WAIT_MS)
    sizes = await page.evaluate("""() => {
      const text = [...document.querySelectorAll('p, li, dd, dt, label, input, button, span')]
        .filter(e => e.offsetParent && e.textContent.trim())
        .map(e => [e.tagName + '#' + e.id, parseFloat(getComputedStyle(e).fontSize)]);
      const targets = [...document.querySelectorAll('button, input')]
        .filter(e => e.offsetParent)
        .map(e => [e.id || e.textContent.trim(), e.getBoundingClientRect().width,
                   e.getBoundingClientRect().height]);
      return {text, targets};
    }""")
    small = [t for t in sizes["text"] if t[1] < 24]
    assert not small, small
    tiny = [t for t in sizes["targets"] if t[1] < 60 or t[2] < 60]
    assert not tiny, tiny
    await page.add_script_tag(path=str(AXE[-1]))
    result = await page.evaluate("""() => axe.run(document, {runOnly: {type: 'rule',
        values: ['color-contrast', 'target-size', 'button-name', 'label', 'html-has-lang']}})""")
    violations = [(v["id"], [n["target"] for n in v["nodes"]]) for v in result["violations"]]
    assert not violations, violations
    assert {p["id"] for p in result["passes"]} >= {"color-contrast", "target-size"}
    await shot(page, "kiosk-zh-elderly")
    await page.click("#lang-en")
    await page.wait_for_function("document.documentElement.lang === 'en'", timeout=WAIT_MS)
    await shot(page, "kiosk-en-elderly")
    await page.close()


async def test_a_wrong_credential_shows_a_bilingual_message(context: Any, served: Running) -> None:
    page = await context.new_page()
    await page.goto(f"{http(served)}/k/#device=kiosk-1&credential=wrong-one")
    await page.wait_for_selector("#refused:not([hidden])", timeout=WAIT_MS)
    text = await page.text_content("#refused")
    assert "请联系工作人员" in text and "ask a member of staff" in text
    assert "wrong-one" not in text and "wrong-one" not in page.url
    # nothing to press on a kiosk that cannot sign in: the input bar is gone
    await page.wait_for_selector("#input", state="hidden", timeout=WAIT_MS)
    assert not await page.is_visible("#take") and not await page.is_visible("#text")
    await page.wait_for_function("window.__bt.link.retryInMs > 0", timeout=WAIT_MS)
    assert await page.evaluate("window.__bt.link.retryInMs") >= 4000  # no hammering
    await shot(page, "kiosk-refused")
    await page.close()


RESAMPLE = """async (rate) => {
  const seconds = 2, n = rate * seconds;
  const ctx = new OfflineAudioContext({numberOfChannels: 2, length: n, sampleRate: rate});
  await ctx.audioWorklet.addModule('/k/capture-worklet.js');
  const buf = ctx.createBuffer(2, n, rate);
  const [left, right] = [buf.getChannelData(0), buf.getChannelData(1)];
  for (let i = 0; i < n; i++) {
    const t = i / rate, tone = 0.5 * Math.sin(2 * Math.PI * 1000 * t);
    const high = 0.3 * Math.sin(2 * Math.PI * 12000 * t);  // folds to 4 kHz unless filtered
    left[i] = tone + high + 0.2 * Math.sin(2 * Math.PI * 2000 * t);  // 2 kHz in one ear only
    right[i] = tone + high;
  }
  const src = new AudioBufferSourceNode(ctx, {buffer: buf});
  const node = new AudioWorkletNode(ctx, 'bt-capture',
    {processorOptions: {targetRate: 16000, frameMs: 40}, channelCount: 2, channelCountMode: 'explicit'});
  const frames = [];
  node.port.onmessage = (ev) => frames.push(ev.data.pcm);
  src.connect(node).connect(ctx.destination);
  src.start();
  await ctx.startRendering();
  await new Promise((r) => setTimeout(r, 300));
  const pcm = new Float32Array(frames.reduce((a, f) => a + f.length, 0));
  let k = 0;
  for (const f of frames) for (const v of f) pcm[k++] = v / 32768;
  const mid = pcm.subarray(1600, 1600 + 16000);  // a second away from the edges
  const amp = (f) => {  // amplitude of one frequency (Goertzel-style projection)
    let re = 0, im = 0;
    for (let i = 0; i < mid.length; i++) {
      re += mid[i] * Math.cos(2 * Math.PI * f * i / 16000);
      im += mid[i] * Math.sin(2 * Math.PI * f * i / 16000);
    }
    return 2 * Math.hypot(re, im) / mid.length;
  };
  return {samples: pcm.length, frame: frames[0].length, a1k: amp(1000), a2k: amp(2000),
          a4k: amp(4000)};
}"""


@pytest.mark.parametrize("rate", [44_100, 48_000, 16_000])
async def test_the_capture_worklet_resamples_any_rate_to_16k(context: Any, served: Running,
                                                            rate: int) -> None:
    page = await context.new_page()
    await page.goto(f"{http(served)}/k/#device=none")
    got = await page.evaluate(RESAMPLE, rate)
    await page.close()
    assert got["frame"] == 640  # 40 ms at 16 kHz
    assert abs(got["samples"] - 32_000) <= 640, got  # two seconds in, two seconds out
    assert abs(got["a1k"] - 0.5) < 0.03, got  # the tone keeps its level
    assert abs(got["a2k"] - 0.1) < 0.02, got  # stereo is averaged, not one channel taken
    if rate > 24_000:  # (at 16 kHz the 12 kHz tone is already a 4 kHz one in the input)
        assert got["a4k"] < 0.01, got  # 12 kHz was filtered out before it could fold to 4 kHz


async def test_the_account_form_is_filled_by_touch(context: Any, served: Running) -> None:
    from intents.understanding.resident_id import check_char

    first17 = "11010519900307002"
    good = first17 + check_char(first17)
    wrong = good[:10] + "13" + good[12:]  # month 13: the birth date part is named
    page = await kiosk(context, served)
    await page.wait_for_selector("#form-start:not([hidden])", timeout=WAIT_MS)  # from describe
    await page.click("#form-start")
    asking = ".card.form dd.asking[data-field='{}']"

    async def give(field: str, value: str) -> None:
        await page.wait_for_selector(asking.format(field) + " input", timeout=WAIT_MS)
        await page.fill(asking.format(field) + " input", value)
        await page.click(asking.format(field) + " button[type=submit]")

    await give("id_number", wrong)
    await page.wait_for_function(
        "() => (document.querySelector('.card.form .problem') || {}).textContent?.includes('第7到14位')",
        timeout=WAIT_MS)
    await give("id_number", good)
    await give("mobile", "13812345678")
    await page.wait_for_selector(asking.format("name"), timeout=WAIT_MS)
    shown = await page.text_content(".card.form dd[data-field='id_number'] .value")
    assert shown == "110***********" + good[-4:]
    assert await page.text_content(".card.form dd[data-field='mobile'] .value") == "138****5678"
    await give("name", "李娜")
    await give("address", "北京市东城区东直门内大街5号")
    await page.wait_for_selector(asking.format("occupation") + " button[data-key='student']",
                                 timeout=WAIT_MS)
    await page.click(asking.format("occupation") + " button[data-key='student']")
    await page.wait_for_selector(".card.form.confirming", timeout=WAIT_MS)
    card = await page.text_content(".card.form")
    assert "李*" in card and "学生" in card and "李娜" not in card
    await shot(page, "kiosk-form")
    await page.click("#choices button[data-key='form_confirm']")
    await page.wait_for_selector(".card.ticket .number", timeout=WAIT_MS)
    [ticket] = [e for e in await events(page, "ticket") if e["service"] == "personal"][-1:]
    held = served.service.desk.engine.find(ticket["number"])  # type: ignore[union-attr]
    assert held.state == "waiting"
    screen = await page.text_content("body")
    assert good not in screen and wrong not in screen and "13812345678" not in screen
    assert not page.errors
    await page.close()
