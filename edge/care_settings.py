"""Settings for the customer-care rules at the kiosk: forms, suitability of wealth products and
the customer's mood. Plain typed structs, read from `branch.toml` by `edge.config`."""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from intents.guardrails.suitability import Product


class _Section(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A config table: unknown keys are errors, so a typo never passes silently."""


class FormSettings(_Section):
    """The account-opening form at the kiosk (intents/dialogue/forms.py)."""

    # A birth date at least this old offers the elderly mode (slower, shorter, large text) and
    # the care class; the customer may decline.
    elderly_age: int = 65
    # An ID number whose birth date is older than this is taken as a misheard digit.
    id_max_age: int = 120
    # The region code's prefecture (digits 1-4) must be in the GB/T 2260 table shipped in
    # intents/understanding/gb2260.tsv; false checks the province only (for branches whose
    # customers hold IDs issued under abolished prefecture codes).
    id_prefecture_check: bool = True
    # Turns on one field without a usable value before the lobby manager is called.
    max_tries: int = 3

    def policy_fields(self) -> dict[str, Any]:
        """The dialogue policy's view of these settings."""
        return {
            "elderly_age": self.elderly_age,
            "id_max_age": self.id_max_age,
            "id_prefecture_check": self.id_prefecture_check,
            "max_form_tries": self.max_tries,
        }


class WealthProduct(_Section):
    """A wealth product the branch sells and its risk level (R1-R5), as in its knowledge pack."""

    id: str
    name_zh: str
    name_en: str
    risk: Literal["R1", "R2", "R3", "R4", "R5"]
    aliases: list[str] = msgspec.field(default_factory=list)  # what customers call it

    def product(self) -> Product:
        """The suitability rule's view of the product."""
        return Product(
            id=self.id,
            name_zh=self.name_zh,
            name_en=self.name_en,
            risk=int(self.risk[1]),
            aliases=tuple(self.aliases),
        )


# The sample knowledge pack's products (intents/kb_pack/sample_branch/wealth_products.md).
DEMO_PRODUCTS: tuple[WealthProduct, ...] = (
    WealthProduct(
        id="cash_plus",
        name_zh="城东稳盈现金宝",
        name_en="Chengdong Cash Plus",
        risk="R1",
        aliases=["现金宝", "cash plus"],
    ),
    WealthProduct(
        id="secure_90",
        name_zh="城东安享90天",
        name_en="Chengdong Secure 90 Days",
        risk="R2",
        aliases=["安享90天", "安享", "secure 90"],
    ),
    WealthProduct(
        id="balanced_1y",
        name_zh="城东均衡一年",
        name_en="Chengdong Balanced One Year",
        risk="R3",
        aliases=["均衡一年", "balanced one year"],
    ),
    WealthProduct(
        id="growth_fund",
        name_zh="城东成长精选股票基金",
        name_en="Chengdong Growth Equity Fund",
        risk="R4",
        aliases=["成长精选", "股票基金", "growth equity fund", "growth fund"],
    ),
)
