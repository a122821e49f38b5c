"""Investor suitability: a wealth product is recommended only to a customer whose assessed risk
tolerance covers its risk level. Pure.

Legal basis: 《证券期货投资者适当性管理办法》(CSRC Order 130, art. 18-19) and
《商业银行理财业务监督管理办法》(CBIRC Order 2018 No. 6, art. 26-27): a bank sells a wealth
product only to a customer whose risk-tolerance assessment (valid for one year) is at or above
the product's risk level, and must not recommend one above it. Products are rated R1 (lowest)
to R5, customers C1 (conservative) to C5 (aggressive); Cn may buy R1..Rn. An unknown or
expired assessment means the assessment comes first.

The product list and each product's level come from the branch's config (`[[products]]`,
the same figures as its knowledge pack); the customer's level from what the kiosk knows
(the `context` message) or what they say ("我的评估是C3", "I'm a balanced investor").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final, Literal

Verdict = Literal["suitable", "above_tolerance", "assessment_first"]
LEVELS: Final = 5
# What customers call the five tolerance levels (the bank's questionnaire names them so).
_TOLERANCE_WORDS: Final = (
    (1, r"保守型|conservative"),
    (2, r"谨慎型|cautious"),
    (3, r"稳健型|balanced|moderate"),
    (4, r"积极型|growth|active"),
    (5, r"激进型|aggressive"),
)
_C_LEVEL: Final = re.compile(r"(?<![A-Za-z0-9])[Cc]\s*([1-5])(?![0-9])")
_R_LEVEL: Final = re.compile(r"(?<![A-Za-z0-9])[Rr]\s*([1-5])(?![0-9])")
_ZH_LEVEL: Final = dict(zip("一二三四五", range(1, 6), strict=True))
_R_LEVEL_ZH: Final = re.compile(r"([一二三四五1-5])\s*级(?:产品|风险|的)")
_ASSESSMENT: Final = re.compile(
    r"评估|风险承受|风险等级|测评|assess|risk (?:profile|level|rating)|"
    r"investor|投资者",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Product:
    """A wealth product the branch sells, with its risk level (1 = R1 ... 5 = R5)."""

    id: str
    name_zh: str
    name_en: str
    risk: int
    aliases: tuple[str, ...] = ()  # what customers call it ("现金宝", "growth fund")

    def name(self, language: str) -> str:
        return self.name_en if language == "en" else self.name_zh


@dataclass(frozen=True)
class Suitability:
    """The verdict for one product and one customer, with what the kiosk may offer instead."""

    verdict: Verdict
    product: Product | None
    risk: int  # the level asked about (the product's, or the one the customer named)
    tolerance: int | None
    alternatives: tuple[Product, ...] = ()  # products the customer may be offered


def check(risk: int, tolerance: int | None) -> Verdict:
    """Rn for a Cm customer: suitable when n <= m; unknown tolerance: the assessment first."""
    if not 1 <= risk <= LEVELS:
        raise ValueError(f"risk level R{risk} is outside R1-R{LEVELS}")
    if tolerance is None:
        return "assessment_first"
    if not 1 <= tolerance <= LEVELS:
        raise ValueError(f"tolerance C{tolerance} is outside C1-C{LEVELS}")
    return "suitable" if risk <= tolerance else "above_tolerance"


def suitable_products(products: tuple[Product, ...], tolerance: int | None) -> tuple[Product, ...]:
    """The products that may be recommended to this customer (none before the assessment)."""
    if tolerance is None:
        return ()
    return tuple(p for p in products if p.risk <= tolerance)


def assess(products: tuple[Product, ...], text: str, tolerance: int | None) -> Suitability | None:
    """The verdict for the product (or risk level) this turn names; None when it names none."""
    product = product_named(products, text)
    risk = product.risk if product is not None else risk_named(text)
    if risk is None:
        return None
    verdict = check(risk, tolerance)
    alternatives = () if verdict == "suitable" else suitable_products(products, tolerance)
    return Suitability(verdict, product, risk, tolerance, alternatives)


def product_named(products: tuple[Product, ...], text: str) -> Product | None:
    """The configured product the customer names (longest name first)."""
    said = text.lower()
    names = sorted(
        ((n.lower(), p) for p in products for n in (p.name_zh, p.name_en, *p.aliases) if n),
        key=lambda pair: len(pair[0]),
        reverse=True,
    )
    return next((p for n, p in names if n in said), None)


def risk_named(text: str) -> int | None:
    """'R4的产品' / 'an R3 product' / '四级风险': the risk level the customer asks about."""
    m = _R_LEVEL.search(text)
    if m:
        return int(m.group(1))
    m = _R_LEVEL_ZH.search(text)
    if m:
        raw = m.group(1)
        return int(raw) if raw.isdigit() else _ZH_LEVEL[raw]
    return None


def tolerance_said(text: str) -> int | None:
    """'我的风险评估是C3' / 'I'm a balanced investor': the tolerance the customer states."""
    m = _C_LEVEL.search(text)
    if m:
        return int(m.group(1))
    if not _ASSESSMENT.search(text):
        return None
    for level, words in _TOLERANCE_WORDS:
        if re.search(words, text, re.IGNORECASE):
            return level
    return None


def tolerance_level(code: str | None) -> int | None:
    """'C3' (from the kiosk's context) -> 3; anything else -> None (unknown)."""
    if code is None:
        return None
    m = re.fullmatch(r"[Cc]([1-5])", code.strip())
    return int(m.group(1)) if m else None
