"""What the teller says when a guardrail fires: the anti-fraud warning scripts and the
large-value and structuring explanations (merged into `phrases.TEXTS`)."""

from __future__ import annotations

from typing import Final

# The warning is one script, said to the end (never interrupted): what the customer must not
# do, why, and that staff are coming. A sentence about the pattern they described comes first.
RISK_TEXTS: Final[dict[str, dict[str, str]]] = {
    "scam_warning": {
        "zh": "请您先停一下，不要转账，也不要把验证码告诉任何人。{why}公安、法院、海关和银行"
        "都不会通过电话或网络要求您转账，也没有所谓的“安全账户”。已为您安排紧急窗口，"
        "工作人员马上过来陪您核实。",
        "en": "Please stop for a moment: do not transfer any money and do not tell anyone a "
        "code. {why}The police, courts, customs and banks never ask you to move money "
        'by phone or online, and there is no such thing as a "safe account". You are '
        "booked for the urgent counter and a member of staff is coming to check this "
        "with you now.",
    },
    "scam_why_safe_account": {
        "zh": "把钱转到“安全账户”是诈骗分子最常用的说法。",
        "en": 'Being told to move money to a "safe account" is a common scam. ',
    },
    "scam_why_impersonation": {
        "zh": "自称公检法、海关、客服或领导让您转账，多数是冒充诈骗。",
        "en": "Callers posing as police, a court, customs, the bank "
        "or your boss who ask for money are usually scammers. ",
    },
    "scam_why_investment": {
        "zh": "承诺高收益、稳赚不赔的投资群和平台多数是骗局。",
        "en": "Groups and platforms that promise high or guaranteed returns are usually scams. ",
    },
    "scam_why_refund": {
        "zh": "真正的退款和理赔不需要您先转账、贷款或提供验证码。",
        "en": "A real refund never needs you to pay first, take a loan or give a code. ",
    },
    "scam_why_code_request": {
        "zh": "验证码就是您的钱，任何人索要验证码都是骗子。",
        "en": "A verification code is as good as your money: anyone asking for it is a scammer. ",
    },
    "scam_why_recent_acquaintance": {
        "zh": "刚认识不久的人向您要钱，要特别小心。",
        "en": "Be very careful when someone you met recently asks for money. ",
    },
    "scam_why_advance_fee": {
        "zh": "要求先交手续费、保证金才能放款或领奖的，都是诈骗。",
        "en": "Anyone who wants a fee or deposit first before paying "
        "out a loan or prize is a scammer. ",
    },
    "scam_why_relative_emergency": {
        "zh": "亲友突然说出事急需用钱，请先打他原来的电话核实。",
        "en": "If a relative suddenly needs money for an "
        "emergency, call them back on their old number "
        "first. ",
    },
    "scam_why_remote_control": {
        "zh": "让您下载软件、共享屏幕的，都可能在盗取您的钱。",
        "en": "Anyone who has you install an app or share your screen may be taking your money. ",
    },
    "scam_why_secrecy": {
        "zh": "让您对家人和银行保密的，几乎都是骗局。",
        "en": "Being told to keep it secret from your family or the bank "
        "is a sure sign of a scam. ",
    },
    "scam_why_reported": {"zh": "", "en": ""},
    "splitting_rule": {
        "zh": "您这次来已经办理了几笔接近大额标准的{business}，合计{total}，需要在柜台一并办理，"
        "由工作人员核实。",
        "en": "Together with your earlier requests today this comes to {total} of "
        "{business}; it is done at the counter, where staff will verify it.",
    },
    "alert_splitting": {
        "zh": "同一客户多笔接近大额标准的{business}，合计{total}，请二次核实",
        "en": "Several requests just under the threshold, {total} in all",
    },
}
