"""Wealth products in the dialogue: the suitability rule's verdict turned into what the kiosk
says and offers. Pure like the rest of the policy.

A product (or risk level) above the customer's assessed tolerance is never recommended: the
kiosk names both levels, says why, offers the assessment and only products at or below the
tolerance. An unknown tolerance means the assessment first. A suitable product goes on as any
wealth request does (the answer, or the wealth counter).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Final

from intents.dialogue.values import Action, DialogueState, IssueTicket, Policy, Say
from intents.guardrails.suitability import (
    Suitability,
    assess,
    suitable_products,
    tolerance_said,
)

Step = tuple[DialogueState, list[Action]]
TEXTS: Final[dict[str, dict[str, str]]] = {
    "above_tolerance": {
        "zh": "{product}的风险等级是R{risk}，高于您目前的风险评估结果C{tolerance}，所以不能为您推荐。"
        "如果您的情况有变化，可以重新做风险评估{others}。",
        "en": "{product} is rated R{risk}, above your current risk assessment of C{tolerance}, "
        "so I cannot recommend it. If your circumstances have changed you can take the "
        "assessment again{others}.",
    },
    "others": {
        "zh": "，也可以看看等级相符的产品：{names}",
        "en": ", or look at products that match your level: {names}",
    },
    "assessment_first": {
        "zh": "{product}的风险等级是R{risk}。购买理财产品前需要先做风险承受能力评估，"
        "评估后才能知道哪些产品适合您。",
        "en": "{product} is rated R{risk}. Before buying a wealth product you need a risk "
        "assessment first; it tells us which products suit you.",
    },
    "assessment_where": {
        "zh": "风险评估在理财窗口由理财经理陪您完成，大约10分钟，请带好身份证。",
        "en": "The assessment is done with a wealth manager at the wealth counter and takes "
        "about 10 minutes; please have your ID ready.",
    },
    "tolerance_noted": {
        "zh": "好的，已记下您的风险评估结果C{tolerance}。与您等级相符的产品有：{names}。您想了解哪一款？",
        "en": "Noted: your risk assessment is C{tolerance}. Products that match your level: "
        "{names}. Which one would you like to know about?",
    },
    "a_level": {"zh": "您问的产品", "en": "The product you ask about"},
    "choice_assessment": {"zh": "做风险评估", "en": "Take the assessment"},
    "choice_ticket": {"zh": "取号咨询", "en": "Take a ticket"},
}
WEALTH_INTENTS: Final = frozenset({"wealth_products"})


def t(key: str, language: str, **values: object) -> str:
    forms = TEXTS[key]
    return forms.get(language, forms["zh"]).format(**values)


def remember_tolerance(state: DialogueState, text: str) -> DialogueState:
    """'我的风险评估是C3': kept for the rest of the conversation."""
    said = tolerance_said(text)
    return state if said is None else replace(state, risk_tolerance=said)


def assessment_turn(state: DialogueState, choice: str | None) -> Step | None:
    """The customer takes the offered assessment: the wealth counter, where it is done."""
    if choice != "assessment":
        return None
    lang = state.language
    return replace(state, ended=True, offered=None), [
        Say(t("assessment_where", lang), lang),
        IssueTicket("wealth", state.priority_class, "wealth_products", state.flags),
    ]


def suitability_turn(state: DialogueState, intent: str, text: str, policy: Policy) -> Step | None:
    """What the kiosk says about a product or risk level the customer names; None when the
    turn names none, or the product suits the customer (the usual wealth flow goes on)."""
    if intent not in WEALTH_INTENTS:
        return None
    found = assess(policy.products, text, state.risk_tolerance)
    lang = state.language
    if found is None and tolerance_said(text) is not None and state.risk_tolerance is not None:
        # "我的风险评估是C3": noted; only the products it allows are named
        suitable = suitable_products(policy.products, state.risk_tolerance)
        names = ("、" if lang == "zh" else ", ").join(p.name(lang) for p in suitable)
        said = t("tolerance_noted", lang, tolerance=state.risk_tolerance, names=names)
        return replace(state, offered=intent), [
            Say(said, lang, choices=(("ticket", t("choice_ticket", lang)),))
        ]
    if found is None or found.verdict == "suitable":
        return None
    choices = (("assessment", t("choice_assessment", lang)), ("ticket", t("choice_ticket", lang)))
    return replace(state, offered=intent), [Say(_explain(found, lang), lang, choices=choices)]


def _explain(found: Suitability, lang: str) -> str:
    name = found.product.name(lang) if found.product is not None else t("a_level", lang)
    if found.verdict == "assessment_first":
        return t("assessment_first", lang, product=name, risk=found.risk)
    names = ("、" if lang == "zh" else ", ").join(
        f"{p.name(lang)}（R{p.risk}）" if lang == "zh" else f"{p.name(lang)} (R{p.risk})"
        for p in found.alternatives
    )
    others = t("others", lang, names=names) if names else ""
    return t(
        "above_tolerance",
        lang,
        product=name,
        risk=found.risk,
        tolerance=found.tolerance,
        others=others,
    )
