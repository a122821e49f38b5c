"""The account-opening form, field by field by voice or touch. Pure like the rest of the policy.

The customer starts it ("我要填开户资料", the kiosk's form button); the teller asks for the
resident ID number, the mobile number, the name, the address and the occupation, one at a
time. A number that does not check out is refused with the part to say again (the region
code, the birth date, the last four, or the whole number), and the customer can repair one
digit ("第三位是5", "the third digit is five") or ask what was heard ("第三位是几？"). Every
value is read back masked; the confirmed form ends in the account-opening ticket. A birth date
showing `elderly_age` or more offers the elderly mode and the care class, which the customer
may decline. The values live only in the conversation's `FormState`: never logged, never
stored, dropped with the conversation.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import replace
from typing import Final

from intents.dialogue.form_fields import (
    FIELDS,
    LABELS,
    OCCUPATIONS,
    digit_correction,
    digit_question,
    masked,
    parse_field,
)
from intents.dialogue.values import (
    Action,
    AlertStaff,
    DialogueState,
    FormState,
    IssueTicket,
    Policy,
    Say,
    ShowForm,
)
from intents.understanding.catalog import INTENTS
from intents.understanding.resident_id import PARTS, Verdict, age_on, birth_date

Step = tuple[DialogueState, list[Action]]
TEXTS: Final[dict[str, dict[str, str]]] = {
    "start": {
        "zh": "好的，我们一项一项填写开户资料，说或者在屏幕上输入都可以。",
        "en": "Sure. Let's fill in the account-opening form one item at a time; say it "
        "or type it on the screen.",
    },
    "ask_id_number": {
        "zh": "请说您的18位身份证号码。",
        "en": "Please tell me your 18-character ID number.",
    },
    "ask_mobile": {"zh": "请说您的手机号码。", "en": "Please tell me your mobile number."},
    "ask_name": {"zh": "请说您的姓名。", "en": "Please tell me your full name."},
    "ask_address": {"zh": "请说您的常住地址。", "en": "Please tell me your home address."},
    "ask_occupation": {
        "zh": "请说您的职业，或在屏幕上选择。",
        "en": "What is your occupation? You can also pick it on the screen.",
    },
    "noted": {"zh": "{label}{value}已记下。", "en": "Your {label} {value} is noted."},
    "length": {
        "zh": "我听到{count}位，{label}应该是{expected}位，请再说一遍完整的{label}。",
        "en": "I heard {count} characters, but a {label} has {expected}. Please say the "
        "whole {label} again.",
    },
    "characters": {
        "zh": "第{low}位不是数字，请再说一遍。",
        "en": "Character {low} is not a digit; please say it again.",
    },
    "region": {
        "zh": "前6位地区码不对，请再说一遍前6位。",
        "en": "The first 6 digits (the region code) are not right; please say those 6 "
        "digits again.",
    },
    "birth_date": {
        "zh": "第7到14位出生日期不对，请再说一遍这8位。",
        "en": "Digits 7 to 14 (the birth date) are not right; please say those 8 digits again.",
    },
    "checksum": {
        "zh": "号码的校验位对不上，第{low}到{high}位中有一位不对。请再说一遍完整号码，"
        "或告诉我“第几位是几”。",
        "en": "The number does not check out: one of digits {low} to {high} is wrong. "
        "Please say the whole number again, or tell me which digit, such as "
        "“the third digit is five”.",
    },
    "prefix": {
        "zh": "手机号前3位不对，请再说一遍完整的手机号。",
        "en": "The first 3 digits are not a mobile prefix; please say the whole number again.",
    },
    "not_taken": {
        "zh": "抱歉，没听清您的{label}，请再说一遍。",
        "en": "Sorry, I did not get your {label}; please say it again.",
    },
    "digit_is": {"zh": "第{where}位我记的是{digit}。", "en": "Digit {where} is {digit}."},
    "no_digit": {"zh": "我还没有记下第{where}位。", "en": "I have no digit {where} yet."},
    "elderly_offer": {
        "zh": "您已年满{age}岁，为您切换长辈模式（字大、说慢一点）并优先办理，好吗？",
        "en": "As you are over {age}, shall I switch to the senior mode (larger text, "
        "slower speech) and give you priority service?",
    },
    "elderly_on": {"zh": "好的，已切换长辈模式。", "en": "Done: senior mode is on."},
    "elderly_off": {"zh": "好的，保持原样。", "en": "All right, no change."},
    "confirm": {
        "zh": "请核对：{summary}。无误请点“确认”，要修改请说要改哪一项。",
        "en": "Please check: {summary}. Tap “Confirm” if it is right, or tell me what to change.",
    },
    "done": {
        "zh": "开户资料已确认，柜员会当面核验您的身份证原件。",
        "en": "Your form is confirmed; the teller will check your ID card in person.",
    },
    "cancelled": {
        "zh": "好的，已取消填写，刚才的资料已清除。",
        "en": "All right, the form is cancelled and what you told me is cleared.",
    },
    "form_help": {
        "zh": "抱歉，一直没能记下这一项，已请工作人员过来协助您。",
        "en": "Sorry, I could not take this item down; a member of staff is coming to help you.",
    },
    "alert_form_help": {
        "zh": "客户填写开户资料遇到困难，请上前协助",
        "en": "Customer needs help with the form",
    },
    "choice_confirm": {"zh": "确认", "en": "Confirm"},
    "choice_cancel": {"zh": "取消填写", "en": "Cancel the form"},
    "choice_yes": {"zh": "好的", "en": "Yes, please"},
    "choice_no": {"zh": "不用了", "en": "No, thanks"},
}
_START: Final = re.compile(
    r"填(?:写|一下)?(?:开户|开卡)(?:资料|申请|表|信息)|(?:开户|开卡)(?:资料|申请表?|信息)(?:预填|填写)|预填"
    r"|\b(?:fill(?:\s+in|\s+out)?|complete)\s+(?:the\s+|an?\s+)?(?:account[\s-]opening\s+|"
    r"account\s+|application\s+)?form\b|\bpre-?fill",
    re.IGNORECASE,
)
_CANCEL: Final = re.compile(
    r"^\W*(?:不填了|不想填了|取消(?:填写)?|算了|不开了)\W*$"
    r"|^\W*(?:please\s+)?(?:cancel|stop)(?:\s+(?:the|this)\s+form)?\W*$|\bcancel\s+the\s+form\b",
    re.IGNORECASE,
)
_YES: Final = re.compile(
    r"^\W*(?:好|好的|是的?|对|要|可以|行|嗯|确认|没问题|yes|yeah|ok|okay|sure|please|confirm"
    r"|that'?s (?:right|correct)|correct|right)",
    re.IGNORECASE,
)
_NO: Final = re.compile(r"不用|不要|不需要|不必|no\b|not\b|don'?t", re.IGNORECASE)
_CHANGE: Final = re.compile(r"改|换|错了|不对|change|wrong|fix|edit", re.IGNORECASE)
_FIELD_WORDS: Final = {
    "id_number": r"身份证|证件|\bid\b",
    "mobile": r"手机|电话|mobile|phone",
    "name": r"姓名|名字|\bname\b",
    "address": r"地址|住址|address",
    "occupation": r"职业|工作|occupation|job",
}


def t(key: str, language: str, **values: object) -> str:
    forms = TEXTS[key]
    return forms.get(language, forms["zh"]).format(**values)


def wants_form(text: str, choice: str | None) -> bool:
    """The customer asks for the form ("我要填开户资料", the kiosk's form button)."""
    return choice == "form" or bool(_START.search(text))


def form_turn(
    state: DialogueState, text: str, choice: str | None, policy: Policy, today: dt.date | None
) -> Step | None:
    """This turn's form step, or None when no form is open and none is asked for."""
    form = state.form
    if form is None:
        if not wants_form(text, choice):
            return None
        form = FormState()
        return _ask(replace(state, form=form), form, lead=t("start", state.language))
    if choice == "form_cancel" or _CANCEL.search(text):
        return replace(state, form=None), [
            ShowForm(form, cancelled=True),
            Say(t("cancelled", state.language), state.language),
        ]
    if form.offer_elderly:
        return _elderly_answer(state, form, text, choice, policy)
    if choice is not None and choice.startswith("edit:") and choice[5:] in FIELDS:
        return _ask(
            state, replace(form, asking=choice[5:], draft=None, part=None, problem=None, tries=0)
        )
    if form.asking is None:
        return _confirming(state, form, text, choice)
    asking = form.asking
    if choice is not None and choice.startswith("field:") and choice[6:] in FIELDS:
        asking = choice[6:]  # touch: the value typed into this field's box
    elif choice is not None and choice.startswith("occupation:"):
        asking, text = "occupation", choice[11:]
    form = replace(form, asking=asking)
    return _value_turn(state, form, asking, text, policy, today)


def _value_turn(
    state: DialogueState,
    form: FormState,
    field: str,
    text: str,
    policy: Policy,
    today: dt.date | None,
) -> Step:
    lang = state.language
    draft = form.draft
    if field in ("id_number", "mobile"):
        asked = digit_question(text)
        if asked is not None:
            known = draft or form.value(field) or ""
            said = (
                t("digit_is", lang, where=asked, digit=known[asked - 1])
                if 0 < asked <= len(known)
                else t("no_digit", lang, where=asked)
            )
            return _ask(state, form, lead=said)
        fix = digit_correction(text)
        base = draft or form.value(field)
        if fix is not None and base is not None and 0 < fix[0] <= len(base):
            where, digit = fix
            text = base[: where - 1] + digit + base[where:]
            form = replace(form, part=None)
    parsed = parse_field(
        field,
        text,
        today,
        draft,
        form.part,
        max_age=policy.id_max_age,
        prefecture=policy.id_prefecture_check,
    )
    if parsed.value is None:
        return _refused(state, form, field, parsed.verdict, policy)
    form = _store(form, field, parsed.value)
    noted = t("noted", lang, label=LABELS[field][lang], value=masked(field, parsed.value, lang))
    if field == "id_number" and form.elderly is None and today is not None:
        born = birth_date(parsed.value)
        age = age_on(born, today) if born is not None else 0
        if age >= policy.elderly_age and state.priority_class != policy.care_class:
            form = replace(form, offer_elderly=True)
            choices = (("elderly_yes", t("choice_yes", lang)), ("elderly_no", t("choice_no", lang)))
            return replace(state, form=form), [
                ShowForm(form),
                Say(
                    noted + t("elderly_offer", lang, age=policy.elderly_age), lang, choices=choices
                ),
            ]
    return _ask(state, form, lead=noted)


def _store(form: FormState, field: str, value: str) -> FormState:
    values = (*((f, v) for f, v in form.values if f != field), (field, value))
    return replace(
        form, values=values, asking=_next(values), draft=None, part=None, problem=None, tries=0
    )


def _next(values: tuple[tuple[str, str], ...]) -> str | None:
    given = {f for f, _ in values}
    return next((f for f in FIELDS if f not in given), None)


def _refused(
    state: DialogueState, form: FormState, field: str, verdict: Verdict | None, policy: Policy
) -> Step:
    lang = state.language
    if form.tries + 1 >= policy.max_form_tries:
        form = replace(form, tries=0, draft=None, part=None, problem=None)
        return replace(state, form=form), [
            ShowForm(form),
            AlertStaff("form_help", "info", t("alert_form_help", "zh")),
            Say(t("form_help", lang), lang),
        ]
    label = LABELS[field][lang]
    if verdict is None or verdict.problem is None:
        why = t("not_taken", lang, label=label)
        return _ask(state, replace(form, tries=form.tries + 1, problem=why), lead=why, again=False)
    low, high = verdict.span or PARTS["whole"]
    expected = 18 if field == "id_number" else 11
    why = t(
        verdict.problem,
        lang,
        label=label,
        count=len(verdict.value),
        expected=expected,
        low=low,
        high=high,
    )
    keep = verdict.problem != "length"
    form = replace(
        form,
        tries=form.tries + 1,
        problem=why,
        draft=verdict.value if keep else None,
        part=verdict.part if verdict.problem in ("region", "birth_date") else None,
    )
    return _ask(state, form, lead=why, again=False)


def _ask(state: DialogueState, form: FormState, lead: str = "", again: bool = True) -> Step:
    """Redraw the card and ask for the next thing (the read-back once every field is given)."""
    lang = state.language
    state = replace(state, form=form)
    cancel = ("form_cancel", t("choice_cancel", lang))
    if form.asking is None:
        summary = ("，" if lang == "zh" else ", ").join(
            f"{LABELS[f][lang]}{'' if lang == 'zh' else ' '}{masked(f, form.value(f) or '', lang)}"
            for f in FIELDS
        )
        return state, [
            ShowForm(form),
            Say(
                lead + t("confirm", lang, summary=summary),
                lang,
                choices=(("form_confirm", t("choice_confirm", lang)), cancel),
            ),
        ]
    choices: tuple[tuple[str, str], ...] = (cancel,)
    if form.asking == "occupation":
        choices = (
            tuple(
                (f"occupation:{k}", v[1] if lang == "en" else v[0]) for k, v in OCCUPATIONS.items()
            )
            + choices
        )
    question = t(f"ask_{form.asking}", lang) if again or not lead else ""
    return state, [ShowForm(form), Say(lead + question, lang, choices=choices)]


def _elderly_answer(
    state: DialogueState, form: FormState, text: str, choice: str | None, policy: Policy
) -> Step:
    lang = state.language
    accepted = choice == "elderly_yes" or (
        choice != "elderly_no" and bool(_YES.search(text)) and not _NO.search(text)
    )
    form = replace(form, offer_elderly=False, elderly=accepted)
    if not accepted:
        return _ask(state, form, lead=t("elderly_off", lang))
    state = replace(
        state,
        priority_class=policy.care_class,
        elderly_mode=True,
        flags=tuple(dict.fromkeys((*state.flags, "elderly"))),
    )
    return _ask(state, form, lead=t("elderly_on", lang))


def _confirming(state: DialogueState, form: FormState, text: str, choice: str | None) -> Step:
    lang = state.language
    if choice == "form_confirm" or (
        choice is None and _YES.search(text) and not _CHANGE.search(text) and not _NO.search(text)
    ):
        done = replace(state, form=None, ended=True)
        return done, [
            ShowForm(form, done=True),
            Say(t("done", lang), lang),
            IssueTicket(
                INTENTS["account_open"].service or "personal",
                state.priority_class,
                "account_open",
                state.flags,
            ),
        ]
    for field, words in _FIELD_WORDS.items():
        if re.search(words, text, re.IGNORECASE):
            return _ask(state, replace(form, asking=field, tries=0))
    return _ask(state, form)
