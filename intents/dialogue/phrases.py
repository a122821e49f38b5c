"""What the teller says, in Mandarin and English: every customer-facing sentence lives here."""

from __future__ import annotations

from decimal import Decimal
from typing import Final

from intents.dialogue.phrases_risk import RISK_TEXTS
from intents.understanding.catalog import INTENTS

TEXTS: Final[dict[str, dict[str, str]]] = {
    "goodbye": {"zh": "好的，祝您生活愉快，再见！", "en": "All right. Have a nice day, goodbye!"},
    "branch_info": {
        "zh": "本网点营业时间：{hours}。地址：{address}。",
        "en": "Our opening hours: {hours}. Address: {address}.",
    },
    "staff_coming": {
        "zh": "好的，已通知大堂经理，请您稍等，马上有工作人员过来帮您。",
        "en": "Sure. I have called the lobby manager; someone will be with you in a moment.",
    },
    "complaint_taken": {
        "zh": "非常抱歉给您带来不便，您的意见已经记录，大堂经理马上过来跟您沟通。",
        "en": "I am sorry about that. Your feedback is recorded and the lobby manager is on "
              "the way to talk with you.",
    },
    "fraud_comfort": {
        "zh": "请先不要再向对方转账或透露验证码。已为您优先安排紧急窗口，工作人员马上过来协助您。",
        "en": "Please do not send any more money or share any codes. You are booked for the "
              "urgent counter and a member of staff is coming to help you now.",
    },
    "go_terminal": {
        # The first clause is short on purpose: speech starts after it is synthesised alone.
        "zh": "这项业务可以自助办理：请到{location}的{terminal}，带好{bring}。需要柜台人工办理的话请点“取号”。",
        "en": "You can do this yourself. Go to {terminal}, {location}. Please have your "
              "{bring} ready. If you would rather see a teller, tap “Take a ticket”.",
    },
    "choice_ticket": {"zh": "取号", "en": "Take a ticket"},
    "choice_ok": {"zh": "好的，我去自助办理", "en": "OK, I'll use the machine"},
    "choice_no_thanks": {"zh": "不用了，谢谢", "en": "No, thanks"},
    "refusal": {
        "zh": "抱歉，这个我帮不上忙。我可以帮您办理开户、存取款、转账、挂失补卡、理财贷款等银行业务，"
              "或者告诉您营业时间和需要带的材料。请问您要办理什么业务？",
        "en": "Sorry, I can't help with that. I can help with bank business such as accounts, "
              "cash, transfers, lost cards, loans and wealth products, or tell you our hours "
              "and what to bring. What would you like to do?",
    },
    "handover": {
        "zh": "抱歉，我没能听明白。已请大堂经理过来为您服务，请稍等。",
        "en": "Sorry, I could not understand. I have asked the lobby manager to come and help "
              "you; please wait a moment.",
    },
    "clarify": {"zh": "请问您是想办理哪一项：{options}？", "en": "Which one do you mean: {options}?"},
    "which_service": {"zh": "好的，请问您要办理哪类业务？请点选。",
                      "en": "Of course. Which service would you like a ticket for? Please tap one."},
    # repair: the customer said the kiosk got it wrong
    "sorry_wrong": {"zh": "抱歉，是我理解错了。", "en": "Sorry, I got that wrong."},
    "clarify_one": {"zh": "请问您是想办理{option}，还是别的业务？",
                    "en": "Do you mean {option}, or something else?"},
    "ask_again": {"zh": "请再说一下您要办理什么业务？", "en": "What would you like to do?"},
    "ticket_cancelled": {"zh": "刚才的{number}号已取消。", "en": "Ticket {number} is cancelled."},
    "ticket_kept": {
        "zh": "{number}号已经在叫号了，请到窗口告诉工作人员您要办理的业务。",
        "en": "Ticket {number} is already being called; please tell the teller at the counter "
              "what you need.",
    },
    "ticket": {
        "zh": "您的号码是{number}（{service}），请到{counters}号窗口办理。前面还有{ahead}位，预计等候约{minutes}分钟。",
        "en": "Your ticket is {number} ({service}), served at counter {counters}. "
              "{ahead} ahead of you, about {minutes} min wait.",
    },
    # when most counters serve the service, naming them all is noise: the caller says which
    "ticket_any_counter": {
        "zh": "您的号码是{number}（{service}），前面还有{ahead}位，预计等候约{minutes}分钟，请留意叫号。",
        "en": "Your ticket is {number} ({service}). {ahead} ahead of you, about {minutes} min "
              "wait; please listen for your number.",
    },
    "ask_staff": {"zh": "这个问题请到柜台咨询工作人员。", "en": "Please ask our staff at the counter about that."},
    "offer_ticket": {"zh": "需要办理的话可以点“取号”。", "en": "Tap “Take a ticket” if you would like to see a teller."},
    "noted_priority": {"zh": "好的，已为您记下，会优先安排。请问您要办理什么业务？",
                       "en": "Noted, we will give you priority. What would you like to do today?"},
    "ask_amount": {"zh": "请问您要取多少钱？", "en": "How much would you like to withdraw?"},
    "ask_currency": {"zh": "请问您要兑换哪种外币？比如美元、港币、欧元、日元。",
                     "en": "Which currency would you like? For example US dollars, "
                           "Hong Kong dollars, euros or yen."},
    "large_cash_rule": {
        "zh": "取现{amount}属于大额取现，需要在柜台办理并核实身份；按规定5万元及以上现金建议提前一天预约。",
        "en": "Withdrawing {amount} in cash is a large withdrawal: it is done at the counter "
              "with an identity check, and amounts of 50,000 yuan or more should be booked "
              "a day ahead.",
    },
    "large_transfer_rule": {
        "zh": "转账{amount}金额较大，需要在柜台办理并由工作人员核实。",
        "en": "A transfer of {amount} is a large amount: a member of staff will verify it "
              "at the counter.",
    },
    "cross_border_rule": {
        "zh": "境外汇款{amount}需要在柜台办理并核实用途和相关材料。",
        "en": "Sending {amount} abroad is done at the counter, where staff check the purpose "
              "and documents.",
    },
    "followup_book_large_cash": {
        "zh": "可以的。5万元及以上取现请至少提前一天预约：拨打本行客服热线或在手机银行“大额取现预约”中选好日期和网点，"
              "到时带上本人身份证和银行卡来柜台办理。",
        "en": "Yes. Cash withdrawals of 50,000 yuan or more are booked at least a day ahead: "
              "call our service hotline or use “Large cash booking” in mobile banking to pick "
              "the day and this branch, then bring your ID card and bank card to the counter.",
    },
    "followup_book_large_transfer": {
        "zh": "可以的。大额转账可以改天来柜台办理，请带上本人身份证、银行卡和收款人信息，工作人员会当场核实。",
        "en": "Yes. You can come back another day for a large transfer: bring your ID card, "
              "bank card and the payee's details, and staff will verify it at the counter.",
    },
    "followup_book_cross_border": {
        "zh": "可以的。境外汇款可以改天来柜台办理，请带上本人身份证、银行卡和汇款用途的相关材料。",
        "en": "Yes. You can come back another day to send money abroad: bring your ID card, "
              "bank card and the documents for the purpose of the remittance.",
    },
    "followup_bring": {
        "zh": "办理{business}请带上：{items}。",
        "en": "For {business}, please bring: {items}.",
    },
    "followup_bring_general": {
        "zh": "办理{business}一般请带上本人有效身份证件和银行卡，具体材料可以到柜台再确认。",
        "en": "For {business}, please bring your ID card and bank card; staff at the counter "
              "will tell you if anything else is needed.",
    },
    "followup_faster": {
        "zh": "叫号按到达顺序和优先类别进行，无法插队；老年人、孕妇或行动不便的客户请告诉大堂经理，会为您优先安排。",
        "en": "Numbers are called in order of arrival and priority, so I cannot move you "
              "ahead; if you are elderly, pregnant or have a disability, please tell the lobby "
              "manager and you will be given priority.",
    },
    "alert_large_cash": {"zh": "大额取现{amount}，请柜台二次核实", "en": "Large cash {amount}"},
    "alert_large_transfer": {"zh": "大额转账{amount}，请柜台二次核实", "en": "Large transfer {amount}"},
    "alert_cross_border": {"zh": "跨境汇款{amount}，请柜台二次核实", "en": "Cross-border {amount}"},
    "alert_human": {"zh": "有客户请求人工服务", "en": "A customer asks for a person"},
    "alert_complaint": {"zh": "客户投诉：{text}", "en": "Complaint: {text}"},
    "alert_fraud": {"zh": "疑似电信诈骗受害客户，请立即上前协助", "en": "Possible fraud victim"},
    "alert_assist": {"zh": "客户需要协助：{intent}", "en": "Customer needs help: {intent}"},
    "alert_handover": {"zh": "客户多次未能识别需求，请上前服务", "en": "Kiosk could not help a customer"},
    # Appointment check-in
    "ask_appointment_number": {
        "zh": "好的，请告诉我您的预约号，就是预约短信里的号码，也可以直接输入或扫描预约二维码。",
        "en": "Sure. What is your appointment number? It is in your booking text message; you "
              "can also type it or scan the booking QR code.",
    },
    "ask_appointment_again": {
        "zh": "没有听清您的预约号，请再说一遍，或者直接输入、扫码。没有预约号的话请说“没有”。",
        "en": "I did not catch the appointment number. Please say it again, type or scan it, "
              "or say “I don't have it”.",
    },
    "ask_hint": {
        "zh": "为确认是您本人的预约，请说出预约时留的手机号后四位。",
        "en": "To confirm the booking, please tell me the last four digits of the phone number "
              "you booked with.",
    },
    "hint_mismatch": {
        "zh": "抱歉，和预约信息对不上，已请工作人员过来帮您核对。",
        "en": "Sorry, that does not match the booking. A member of staff is coming to check it "
              "with you.",
    },
    "checked_in": {"zh": "预约签到成功（今天{window}）。", "en": "You are checked in for your "
                   "appointment (today {window})."},
    "already_checked_in": {"zh": "这个预约已经签到过了。", "en": "This appointment is already "
                           "checked in."},
    "ticket_not_waiting": {
        "zh": "您签到时取的号码是{number}，已经叫过号了，请到柜台或咨询大堂经理。",
        "en": "Your check-in ticket {number} has already been called; please go to the counter "
              "or ask our staff.",
    },
    "appointment_early": {
        "zh": "您的预约时间是今天{window}，{opens}起可以签到，请到时再来。现在就要办理的话也可以取普通号。",
        "en": "Your appointment is today at {window}; check-in opens at {opens}. Please come "
              "back then, or take a normal ticket now.",
    },
    "appointment_late": {
        "zh": "您的预约时间今天{window}已经过了，只能为您取普通号，按到达顺序办理。",
        "en": "Your appointment today at {window} has passed, so this is a normal ticket, "
              "served in order of arrival.",
    },
    "appointment_unknown": {
        "zh": "没有找到预约号{number}，请核对后再说一遍，或者直接输入、扫码。",
        "en": "I could not find appointment number {number}. Please check it and say it "
              "again, type or scan it.",
    },
    "appointment_unknown_final": {
        "zh": "没有找到预约号{number}。可以取普通号，或者请工作人员帮您查。",
        "en": "I could not find appointment number {number}. You can take a normal ticket, or "
              "ask a member of staff to look it up.",
    },
    "appointment_cancelled": {
        "zh": "预约号{number}已经取消了。可以取普通号，或者请工作人员帮您查。",
        "en": "Appointment {number} was cancelled. You can take a normal ticket, or ask a "
              "member of staff.",
    },
    "appointment_other_day": {
        "zh": "您的预约是{day} {window}，不是今天。今天办理的话可以取普通号，或者请工作人员帮您。",
        "en": "Your appointment is on {day} at {window}, not today. You can take a normal "
              "ticket for today, or ask a member of staff.",
    },
    "appointment_expired": {
        "zh": "预约号{number}是{day}的预约，已经过期了。可以取普通号，或者请工作人员帮您。",
        "en": "Appointment {number} was for {day} and has expired. You can take a normal "
              "ticket, or ask a member of staff.",
    },
    "no_number_staff": {
        "zh": "好的，已请工作人员过来帮您查找预约，请稍等。",
        "en": "All right. A member of staff is coming to find your booking; please wait a moment.",
    },
    "choice_normal_ticket": {"zh": "取普通号", "en": "Take a normal ticket"},
    "choice_staff": {"zh": "找工作人员", "en": "Ask staff"},
    "choice_no_number": {"zh": "没有预约号", "en": "I don't have it"},
    "choice_come_back": {"zh": "好的，我到时再来", "en": "OK, I'll come back"},
    "alert_appointment_help": {"zh": "预约客户需要协助查找预约", "en": "A booked customer needs help"},
    "alert_appointment_hint": {"zh": "预约信息核对未通过，请上前协助", "en": "Booking check failed"},
}
TEXTS.update(RISK_TEXTS)  # the guardrails' scripts (phrases_risk.py)

BRING: Final[dict[str, dict[str, tuple[str, ...]]]] = {
    "account_info_change": {"zh": ("本人身份证", "银行卡"), "en": ("ID card", "bank card")},
    "password_reset": {"zh": ("本人身份证", "银行卡"), "en": ("ID card", "bank card")},
    "card_lost": {"zh": ("本人身份证",), "en": ("ID card",)},
    "card_replace": {"zh": ("本人身份证", "旧卡（如有）"), "en": ("ID card", "old card if you have it")},
    "balance_inquiry": {"zh": ("银行卡",), "en": ("bank card",)},
    "statement_print": {"zh": ("银行卡", "本人身份证"), "en": ("bank card", "ID card")},
    "cash_deposit": {"zh": ("银行卡", "现金"), "en": ("bank card", "cash")},
    "cash_withdrawal": {"zh": ("银行卡",), "en": ("bank card",)},
    "transfer": {"zh": ("银行卡", "收款人账号"), "en": ("bank card", "payee's account number")},
    "credit_card": {"zh": ("本人身份证", "信用卡"), "en": ("ID card", "credit card")},
    "time_deposit": {"zh": ("银行卡", "本人身份证"), "en": ("bank card", "ID card")},
    "mobile_banking": {"zh": ("本人身份证", "银行卡", "手机"), "en": ("ID card", "bank card", "phone")},
    "utility_payment": {"zh": ("缴费单或户号", "银行卡"), "en": ("bill or account number", "bank card")},
}

END_PHRASES: Final = frozenset({
    "没事了", "没事", "不用了", "就这样", "就这样吧", "不办了", "算了", "没有了", "再见", "拜拜",
    "that's all", "that s all", "that is all", "nothing else", "no thanks", "goodbye", "bye",
    "i m done", "i'm done", "all done"})
COURTESY: Final = ("谢谢你", "谢谢", "谢了", "好的", "好", "嗯", "啊", "吧", "呢",
                   "thank you", "thanks", "okay", "ok")
TICKET_PHRASES: Final = ("取号", "要人工", "人工办理", "柜台办", "去柜台", "排号",
                         "ticket", "teller", "a person", "counter")
# Said with the request itself: the customer wants a person, not the self-service machine.
NO_MACHINE: Final = ("不用机器", "不要机器", "不想用机器", "不会用机器", "机器不会用", "不会弄机器",
                     "不用自助", "不会用自助", "不要自助", "在柜台办", "去柜台办", "要人工",
                     "人工办理", "not the machine", "no machine", "without the machine",
                     "can't use the machine", "don't want the machine", "at the counter",
                     "with a teller", "with a person")


_MONEY_UNITS: Final = {
    "CNY": ("元", "yuan"), "USD": ("美元", "US dollars"), "HKD": ("港元", "Hong Kong dollars"),
    "EUR": ("欧元", "euros"), "JPY": ("日元", "yen"), "GBP": ("英镑", "pounds"),
}


def money(value: float | Decimal, currency: str | None, language: str) -> str:
    """An amount as a customer says it: "5万元", "3500美元"; "50,000 yuan", "10,000 US dollars"."""
    amount = float(value)
    code = (currency or "CNY").upper()
    zh_unit, en_unit = _MONEY_UNITS.get(code, (code, code))
    if language == "en":
        return f"{amount:,.0f} {en_unit}" if amount == int(amount) else f"{amount:,.2f} {en_unit}"
    if amount >= 10_000 and amount % 1_000 == 0:
        return f"{amount / 10_000:g}万{zh_unit}"
    return f"{amount:.0f}{zh_unit}" if amount == int(amount) else f"{amount:.2f}{zh_unit}"


def t(key: str, language: str, **values: object) -> str:
    """A sentence in the customer's language (Mandarin when unknown)."""
    forms = TEXTS[key]
    return forms.get(language, forms["zh"]).format(**values)


def label(intent_id: str, language: str) -> str:
    """How the customer hears an intent named."""
    info = INTENTS[intent_id]
    return info.label_en if language == "en" else info.label_zh


def clarify_question(candidates: tuple[str, ...],
                     language: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    """One short question naming the likely intents, and the buttons for them."""
    names = [label(c, language) for c in candidates]
    if language == "en":
        options = ", ".join(f"{i}. {n}" for i, n in enumerate(names, 1))
    else:
        options = "，".join(f"{i}.{n}" for i, n in enumerate(names, 1))
    return t("clarify", language, options=options), tuple(zip(candidates, names, strict=True))


def refusal_text(language: str) -> str:
    """Polite refusal that says what we can help with."""
    return t("refusal", language)


def handover_text(language: str) -> str:
    """What the customer hears when the kiosk gives up and calls a person."""
    return t("handover", language)
