"""The intent taxonomy (shared/spec/intents.md): IDs are the product's contract."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True, slots=True)
class IntentInfo:
    """What one intent means for routing: its queue service and whether a terminal serves it."""

    id: str
    service: str | None  # queue service id; "self" = terminal, None = no queue
    self_service: bool
    label_zh: str
    label_en: str


QUEUE_SERVICES: Final = ("personal", "cash", "fx", "loan", "wealth", "corporate", "urgent", "self")

_ROWS: Final = (
    ("account_open", "personal", False, "开户办卡", "opening an account or card"),
    ("account_close", "personal", False, "销户", "closing an account"),
    ("account_frozen", "personal", False, "账户冻结解冻", "a frozen or blocked account"),
    ("account_info_change", "personal", True, "修改账户信息", "updating account details"),
    ("password_reset", "personal", True, "密码重置", "resetting a password"),
    ("card_lost", "personal", True, "挂失", "reporting a lost card"),
    ("card_replace", "personal", True, "补卡换卡", "replacing a card"),
    ("balance_inquiry", "self", True, "查询余额", "checking your balance"),
    ("statement_print", "personal", True, "打印流水", "printing statements"),
    ("cash_deposit", "cash", True, "存款", "depositing cash"),
    ("cash_withdrawal", "cash", True, "取款", "withdrawing cash"),
    ("transfer", "cash", True, "转账汇款", "a transfer"),
    ("foreign_exchange", "fx", False, "外币兑换", "foreign exchange"),
    ("international_remittance", "fx", False, "境外汇款", "an international remittance"),
    ("cash_exchange", "cash", False, "零钱残币兑换", "changing coins or damaged notes"),
    ("personal_loan", "loan", False, "个人贷款", "a personal loan"),
    ("mortgage", "loan", False, "房贷", "a mortgage"),
    ("small_business_loan", "loan", False, "小微企业贷款", "a small-business loan"),
    ("credit_card", "personal", True, "信用卡", "a credit card"),
    ("wealth_products", "wealth", False, "理财产品", "wealth products"),
    ("time_deposit", "wealth", True, "定期存款", "a time deposit"),
    ("social_security", "personal", False, "社保卡", "a social security card"),
    ("mobile_banking", "personal", True, "手机银行", "mobile or online banking"),
    ("utility_payment", "self", True, "生活缴费", "paying a bill"),
    ("corporate_account", "corporate", False, "对公业务", "business accounts"),
    ("fraud_report", "urgent", False, "被骗报案", "reporting fraud"),
    ("complaint", "personal", False, "投诉建议", "a complaint"),
    ("human_agent", None, False, "人工服务", "speaking to a person"),
    ("branch_info", None, False, "网点信息", "branch information"),
    ("out_of_scope", None, False, "其他", "something else"),
)

INTENTS: Final[dict[str, IntentInfo]] = {
    row[0]: IntentInfo(id=row[0], service=row[1], self_service=row[2], label_zh=row[3], label_en=row[4])
    for row in _ROWS
}
INTENT_IDS: Final[tuple[str, ...]] = tuple(INTENTS)


def intent(intent_id: str) -> IntentInfo:
    """Look up an intent; unknown IDs are a programming or data error, never a guess."""
    try:
        return INTENTS[intent_id]
    except KeyError:
        raise KeyError(f"unknown intent id {intent_id!r}") from None
