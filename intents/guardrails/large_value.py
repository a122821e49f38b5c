"""Large-value and suspicious-transaction rules: amounts a customer asks for, in, a finding out.

Pure and synchronous, every threshold a configurable default. The defaults are China's
reporting standards; a compliance reviewer finds each one here with its legal basis:

- PBoC Order [2016] No. 3, 金融机构大额交易和可疑交易报告管理办法 (as amended by PBoC Order
  [2018] No. 2), Article 5:
  (1) cash: 当日单笔或者累计 RMB 50,000 or more, or foreign currency worth USD 10,000 or more;
  (3) a natural person's domestic transfers: RMB 500,000 or more (USD 100,000 equivalent);
  (4) a natural person's cross-border transfers: RMB 200,000 or more, or USD 10,000 equivalent.
  "当日单笔或者累计": one request, or the sum of the day's requests, counts.
- Same Order, Articles 11-13 (suspicious transactions) and the PBoC AML Law Art. 20:
  structuring, i.e. splitting a sum into several requests each just under a threshold, is a
  typical suspicious pattern; the kiosk sends it to a counter with a second verification.

The kiosk never files a report itself: it explains the rule, alerts staff for the second
verification a supervisor confirms, and queues the customer for a counter.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Final, Literal

TransactionKind = Literal["cash", "transfer", "cross_border"]
LargeValueRule = Literal["large_cash", "large_transfer", "cross_border", "splitting"]

# Indicative CNY value of one unit of each currency (a branch configures its own table; the
# rules only need the order of magnitude to decide whether staff verify a request).
DEFAULT_RATES_TO_CNY: Final[Mapping[str, Decimal]] = {
    "CNY": Decimal(1),
    "USD": Decimal("7.10"),
    "EUR": Decimal("7.70"),
    "GBP": Decimal("9.00"),
    "HKD": Decimal("0.91"),
    "JPY": Decimal("0.048"),
    "AUD": Decimal("4.70"),
    "CAD": Decimal("5.20"),
    "SGD": Decimal("5.30"),
    "KRW": Decimal("0.0052"),
}

# Which business each dialogue intent is, for these rules.
KIND_OF_INTENT: Final[Mapping[str, TransactionKind]] = {
    "cash_withdrawal": "cash",
    "cash_deposit": "cash",
    "transfer": "transfer",
    "international_remittance": "cross_border",
}

_RULE_OF_KIND: Final[Mapping[TransactionKind, LargeValueRule]] = {
    "cash": "large_cash",
    "transfer": "large_transfer",
    "cross_border": "cross_border",
}

BASIS: Final[Mapping[LargeValueRule, str]] = {
    "large_cash": "PBoC Order [2016] No. 3, Art. 5(1)",
    "large_transfer": "PBoC Order [2016] No. 3, Art. 5(3)",
    "cross_border": "PBoC Order [2016] No. 3, Art. 5(4)",
    "splitting": "PBoC Order [2016] No. 3, Art. 11; AML Law Art. 20",
}


@dataclass(frozen=True)
class LargeValueRules:
    """The thresholds (CNY unless named otherwise); defaults are the PBoC's, see the module."""

    cash_cny: Decimal = Decimal(50_000)  # Art. 5(1)
    cash_foreign_usd: Decimal = Decimal(10_000)  # Art. 5(1), foreign-currency cash
    domestic_transfer_cny: Decimal = Decimal(500_000)  # Art. 5(3)
    domestic_transfer_usd: Decimal = Decimal(100_000)  # Art. 5(3), foreign-currency transfers
    cross_border_cny: Decimal = Decimal(200_000)  # Art. 5(4)
    cross_border_usd: Decimal = Decimal(10_000)  # Art. 5(4), USD equivalent
    rates_to_cny: Mapping[str, Decimal] = field(default_factory=lambda: dict(DEFAULT_RATES_TO_CNY))
    # Structuring: a request this close to its threshold (fraction of it) counts as "just
    # under"; this many such requests in one visit whose sum reaches the threshold is splitting.
    near_fraction: Decimal = Decimal("0.8")
    near_requests: int = 2


@dataclass(frozen=True)
class Transaction:
    """One amount the customer asked for during the visit."""

    kind: TransactionKind
    amount: Decimal
    currency: str = "CNY"


@dataclass(frozen=True)
class LargeValueFinding:
    """Why a request needs a second verification at the counter."""

    rule: LargeValueRule
    kind: TransactionKind
    amount_cny: Decimal  # this request, in CNY
    total_cny: Decimal  # the visit's requests of this kind, this one included
    threshold_cny: Decimal
    requests: int  # how many requests of this kind the visit made
    basis: str


def to_cny(amount: Decimal, currency: str | None, rates: Mapping[str, Decimal]) -> Decimal | None:
    """The CNY value of an amount; None for a currency the rate table does not know."""
    rate = rates.get((currency or "CNY").upper())
    return None if rate is None else amount * rate


def threshold_cny(kind: TransactionKind, currency: str | None, rules: LargeValueRules) -> Decimal:
    """The CNY threshold for one kind of request: RMB amounts have their own, foreign-currency
    amounts the USD-equivalent one converted at the branch's rate."""
    usd = rules.rates_to_cny.get("USD", DEFAULT_RATES_TO_CNY["USD"])
    foreign = (currency or "CNY").upper() != "CNY"
    if kind == "cash":
        return rules.cash_foreign_usd * usd if foreign else rules.cash_cny
    if kind == "transfer":
        return rules.domestic_transfer_usd * usd if foreign else rules.domestic_transfer_cny
    return rules.cross_border_usd * usd if foreign else rules.cross_border_cny


def parse_amount(value: str | None) -> Decimal | None:
    """A slot's amount as a Decimal; None when absent or not a number."""
    if value is None:
        return None
    try:
        amount = Decimal(value)
    except (InvalidOperation, ValueError):
        return None
    return amount if amount.is_finite() and amount > 0 else None


def evaluate(
    request: Transaction, earlier: Sequence[Transaction], rules: LargeValueRules
) -> LargeValueFinding | None:
    """The rule a request trips, given the visit's earlier requests; None when none does."""
    amount = to_cny(request.amount, request.currency, rules.rates_to_cny)
    if amount is None:
        return None
    threshold = threshold_cny(request.kind, request.currency, rules)
    rule = _RULE_OF_KIND[request.kind]
    if amount >= threshold:  # 单笔
        return LargeValueFinding(rule, request.kind, amount, amount, threshold, 1, BASIS[rule])
    same = [t for t in earlier if t.kind == request.kind]
    values = [
        v for v in (to_cny(t.amount, t.currency, rules.rates_to_cny) for t in same) if v is not None
    ] + [amount]
    total = sum(values, Decimal(0))
    if total < threshold:
        return None
    near = sum(1 for v in values if v >= threshold * rules.near_fraction)
    if near >= rules.near_requests:  # several requests just under the threshold
        rule = "splitting"
    # 累计: the visit's sum reached the threshold either way
    return LargeValueFinding(rule, request.kind, amount, total, threshold, len(values), BASIS[rule])
