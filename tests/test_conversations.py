"""Conversations through the running service: what the customer says -> the right channel.

Each row is one customer (one to four turns, zh or en) and the final action expected:
a terminal, a ticket for a service with a priority class, an answer, a refusal, a staff alert.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import Running
from tests.wsclient import login, recv_json, recv_until

# (turns, kiosk context, expected) where expected is one of
#   ("terminal", terminal id) | ("ticket", service, class) | ("answer", text fragment)
#   | ("refusal",) | ("alert", kind) | ("ask", text fragment)
CONVERSATIONS: list[Any] = [
    (["我的银行卡丢了，要挂失"], {}, ("terminal", "T1")),
    (["我的银行卡丢了，要挂失", "取号"], {}, ("ticket", "personal", "normal")),
    (["I lost my debit card and need to report it"], {}, ("terminal", "T1")),
    (["I lost my debit card and need to report it", "Take a ticket"], {},
     ("ticket", "personal", "normal")),
    (["我忘记银行卡密码了"], {}, ("terminal", "T1")),
    (["我想开个户办张新卡"], {}, ("ticket", "personal", "normal")),
    (["I want to open a bank account"], {}, ("ticket", "personal", "normal")),
    (["我要销户，这个账户不用了"], {}, ("ticket", "personal", "normal")),
    (["我想存点现金"], {}, ("terminal", "T2")),
    (["我要取钱", "两千"], {}, ("terminal", "T2")),
    (["我要取钱", "三万"], {}, ("ticket", "cash", "normal")),
    (["我想取五万块钱现金"], {}, ("alert", "large_cash")),
    (["I want to withdraw cash", "60000 yuan"], {}, ("alert", "large_cash")),
    (["我想换点美元"], {}, ("ticket", "fx", "normal")),
    (["我要换外币", "港币"], {}, ("ticket", "fx", "normal")),
    (["I want to buy some euros"], {}, ("ticket", "fx", "normal")),
    (["我想往美国汇款"], {}, ("ticket", "fx", "normal")),
    (["我想办个人消费贷款"], {}, ("ticket", "loan", "normal")),
    (["我想咨询房贷提前还款"], {}, ("ticket", "loan", "normal")),
    (["I'd like to apply for a mortgage"], {}, ("ticket", "loan", "normal")),
    (["我想买理财产品"], {}, ("ticket", "wealth", "normal")),
    (["我是VIP客户，想买理财产品"], {}, ("ticket", "wealth", "vip")),
    (["我想买理财产品"], {"vip": "vip_gold"}, ("ticket", "wealth", "vip_gold")),
    (["我七十多了", "我想咨询房贷提前还款"], {}, ("ticket", "loan", "elderly")),
    (["我怀孕了，想开个户"], {}, ("ticket", "personal", "elderly")),
    (["我想开户"], {"elderly": True}, ("ticket", "personal", "elderly")),
    (["我们公司要开对公账户"], {}, ("ticket", "corporate", "normal")),
    (["有人自称公安局的，让我把钱转到安全账户"], {}, ("alert", "urgent_ticket")),
    (["I think I've been scammed, someone posing as police made me transfer money"], {},
     ("alert", "urgent_ticket")),
    (["我要找大堂经理"], {}, ("alert", "human_agent")),
    (["I want to talk to a real person"], {}, ("alert", "human_agent")),
    (["我要投诉，刚才柜员态度很差"], {}, ("alert", "complaint")),
    (["你们几点开门"], {}, ("answer", "9:00")),
    (["What are your opening hours?"], {}, ("answer", "Mon-Fri")),
    (["今天天气怎么样"], {}, ("refusal",)),
    (["Can you order me a pizza?"], {}, ("refusal",)),
    (["我想查一下余额"], {}, ("terminal", "T1")),
    (["我要交电费"], {}, ("terminal", "T1")),
    (["我想打印银行流水"], {}, ("terminal", "T1")),
    (["我想开通手机银行"], {}, ("terminal", "T1")),
    (["我想办社保卡"], {}, ("ticket", "personal", "normal")),
    (["I'd like to change some coins and damaged notes"], {}, ("ticket", "cash", "normal")),
    (["我卡有问题"], {}, ("ask", "哪一项")),
    (["my card doesn't work", "the lost one"], {}, ("terminal", "T1")),
    (["你好", "没事了"], {}, ("answer", "再见")),
]


async def play(url: str, turns: list[str], context: dict[str, Any],
               device: str = "kiosk-1") -> list[dict[str, Any]]:
    """One customer's turns; everything the service sent to the kiosk, plus staff alerts."""
    kiosk = await login(url, device)
    staff = await login(url, "manager")
    await recv_until(staff, "snapshot")
    if context:
        await kiosk.send(json.dumps({"type": "context", **context}))
    got: list[dict[str, Any]] = []
    for n, text in enumerate(turns):
        choice = {"取号": "ticket", "Take a ticket": "ticket"}.get(text)
        await kiosk.send(json.dumps({"type": "text", "id": f"t{n}", "text": text,
                                     "choice": choice}))
        while True:
            msg = await recv_json(kiosk)
            if msg.get("id") == f"t{n}":
                got.append(msg)
                if msg["type"] in ("reply", "error"):
                    break
    await kiosk.send(json.dumps({"type": "end_session"}))
    try:
        while True:
            msg = await recv_json(staff, timeout=0.3)
            if msg["type"] == "alert":
                got.append(msg)
    except TimeoutError:
        pass
    await kiosk.close()
    await staff.close()
    return got


def final_action(got: list[dict[str, Any]]) -> tuple[str, ...]:
    """What the conversation ended in, in the table's terms."""
    alerts = [m for m in got if m["type"] == "alert"]
    if alerts:
        return ("alert", alerts[-1]["kind"])
    last_turn = max(m.get("turn", 0) for m in got if m["type"] == "reply")
    this_turn = [m for m in got if m.get("turn") == last_turn]
    for m in this_turn:
        if m["type"] == "ticket":
            return ("ticket", m["service"], m["priority_class"])
        if m["type"] == "go_terminal":
            return ("terminal", m["terminal"])
    reply = next(m for m in this_turn if m["type"] == "reply")
    if reply["choices"] and reply["choices"][0]["key"] != "ticket":
        return ("ask", reply["text"])
    if "帮不上" in reply["text"] or "can't help" in reply["text"]:
        return ("refusal",)
    return ("answer", reply["text"])


def matches(actual: tuple[str, ...], expected: tuple[str, ...]) -> bool:
    if expected[0] in ("answer", "ask"):
        return actual[0] == expected[0] and expected[1] in actual[1]
    return actual == expected


@pytest.mark.parametrize(("turns", "context", "expected"), CONVERSATIONS,
                         ids=[" / ".join(c.values[0] if hasattr(c, "values") else c[0])[:40]
                              for c in CONVERSATIONS])
async def test_conversation_ends_in_the_right_channel(running: Running, turns: list[str],
                                                      context: dict[str, Any],
                                                      expected: tuple[str, ...]) -> None:
    got = await play(running.url, turns, context)
    actual = final_action(got)
    assert matches(actual, expected), (actual, [m.get("text") for m in got])
    replies = [m for m in got if m["type"] == "reply"]
    lang = "en" if turns[-1].isascii() else "zh"
    assert replies[-1]["language"] == lang


async def test_the_same_conversation_twice_gives_the_same_actions(running: Running) -> None:
    turns = ["我卡有问题", "挂失"]
    first = [final_action(await play(running.url, turns, {}))]
    second = [final_action(await play(running.url, turns, {}))]
    assert first == second


@pytest.mark.parametrize("chatter", [
    ["啊吧啊吧", "嗯嗯嗯", "哈哈哈"],
    ["", " ", "  "],
    ["blah blah", "la la la", "whatever"],
])
async def test_nonsense_or_silence_ends_in_a_polite_handover(running: Running,
                                                             chatter: list[str]) -> None:
    got = await play(running.url, chatter, {})
    assert final_action(got) == ("alert", "handover")


async def test_fifty_turns_of_chatter_never_loop_without_handing_over(running: Running) -> None:
    chatter = ["今天天气真好", "你吃饭了吗", "讲个笑话吧", "你叫什么名字", "哈哈"] * 10
    got = await play(running.url, chatter, {})
    replies = [m for m in got if m["type"] == "reply"]
    assert len(replies) == 50
    handover_turns = [m["turn"] for m in replies
                      if "大堂经理" in m["text"] or "lobby manager" in m["text"]]
    gaps = [b - a for a, b in zip([0, *handover_turns], handover_turns, strict=False)]
    assert handover_turns and max(gaps) <= 8, handover_turns  # a person, never an endless loop
    assert 50 - handover_turns[-1] < 8


async def test_switching_language_mid_conversation(running: Running) -> None:
    got = await play(running.url, ["你好", "I want to exchange US dollars"], {})
    replies = [m for m in got if m["type"] == "reply"]
    assert [r["language"] for r in replies] == ["zh", "en"]
    assert final_action(got) == ("ticket", "fx", "normal")


async def test_a_customer_who_walks_away_leaves_nothing_for_the_next(tmp_path: Any) -> None:
    import asyncio

    from edge.service import Service
    from tests.conftest import make_config

    service = Service(make_config(tmp_path, **{"sessions.idle_timeout_s": 1.0}), demo=True)
    host, port = await service.start()
    url = f"ws://{host}:{port}"
    try:
        kiosk = await login(url, "kiosk-1")
        await kiosk.send(json.dumps({"type": "text", "id": "a", "text": "我七十多了"}))
        await recv_until(kiosk, "reply", id="a")
        await kiosk.send(json.dumps({"type": "text", "id": "b", "text": "我要取钱"}))
        asked = await recv_until(kiosk, "reply", id="b")
        assert "多少" in asked["text"]
        session = service.sessions["kiosk-1"]
        assert session.state.priority_class == "elderly" and session.state.pending
        await asyncio.sleep(2.5)  # the customer walked away
        assert session.state.turns == 0 and session.state.pending is None
        assert session.state.priority_class == "normal"
        # The next customer starts fresh: no follow-up pending, no priority inherited.
        await kiosk.send(json.dumps({"type": "text", "id": "c", "text": "我想开户"}))
        ticket = await recv_until(kiosk, "ticket", id="c")
        assert ticket["service"] == "personal" and ticket["priority_class"] == "normal"
        await kiosk.close()
    finally:
        await service.stop()


def last_turn(got: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The kiosk messages of the conversation's last turn (alerts left out)."""
    last = max(m.get("turn", 0) for m in got if m["type"] == "reply")
    return [m for m in got if m.get("turn") == last and m["type"] != "alert"]


AFTER_THE_TICKET = [
    # (turns, what the last turn must show, what its reply must say)
    (["我要查余额", "算了，还是帮我取个号吧"], ("ticket", "personal"), "您的号码是"),
    (["I want to check my balance", "I'd rather see someone"], ("ticket", "personal"),
     "Your ticket is"),
    (["我要取现金八万", "明天上午可以吗"], None, "提前一天预约"),
    (["I want to withdraw 80000 yuan in cash", "can I come tomorrow morning"], None,
     "a day ahead"),
    (["定期存款利率是多少？", "要带什么"], None, "银行卡、本人身份证"),
    (["I'd like to exchange some US dollars", "how long will I wait"], ("ticket", "fx"),
     "Your ticket is"),
    (["我想换点美元", "能不能快一点"], ("ticket", "fx"), "无法插队"),
    (["我想换点美元", "我还要取钱"], None, "请问您要取多少钱"),  # a new request starts over
    (["我想换点美元", "多久轮到我"], ("ticket", "fx"), "您的号码是"),
    (["What's the interest rate on a fixed deposit?", "what do I need to bring"], None,
     "bank card, ID card"),
    (["I'd like to exchange some US dollars", "can you hurry up"], ("ticket", "fx"),
     "cannot move you"),
    (["I'd like to exchange some US dollars", "I also need to withdraw cash"], None,
     "How much would you like to withdraw"),
]


@pytest.mark.parametrize(("turns", "shows", "says"), AFTER_THE_TICKET,
                         ids=[" / ".join(c[0])[:40] for c in AFTER_THE_TICKET])
async def test_the_conversation_after_the_ticket(running: Running, turns: list[str],
                                                 shows: tuple[str, str] | None,
                                                 says: str) -> None:
    got = await play(running.url, turns, {})
    final = last_turn(got)
    reply = next(m for m in final if m["type"] == "reply")
    assert says in reply["text"], reply["text"]
    assert not reply["choices"] or reply["choices"][0]["key"] == "ticket", reply  # not asked
    if shows is not None:
        card = next(m for m in final if m["type"] == shows[0])
        assert card["service"] == shows[1]
    first = [m for m in got if m["type"] == "ticket" and m["turn"] == 1]
    if first and shows is not None:  # a wait question shows the same ticket, not a new one
        assert card["number"] == first[0]["number"]
