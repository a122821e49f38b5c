"""Slot parser: table-driven zh/en cases plus properties for junk input and Chinese numerals."""

from __future__ import annotations

import datetime as dt
import time
from decimal import Decimal

import cn2an
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from intents.understanding.slots import MAX_SCAN_CHARS, Slots, parse_slots

TODAY = dt.date(2026, 11, 25)  # a Wednesday
N = None

# text, language, (amount, currency, date, counterparty) as to_json() writes them
CASES: list[tuple[str, str, tuple[str | None, str | None, str | None, str | None]]] = [
    # amounts in Chinese, Arabic and mixed numerals
    ("五万", "zh", ("50000", N, N, N)),
    ("两千块", "zh", ("2000", "CNY", N, N)),
    ("一万五", "zh", ("15000", N, N, N)),
    ("3万2", "zh", ("32000", N, N, N)),
    ("1.5万", "zh", ("15000", N, N, N)),
    ("一点五万", "zh", ("15000", N, N, N)),
    ("转50,000", "zh", ("50000", N, N, N)),
    ("5w", "zh", ("50000", N, N, N)),
    ("十万块钱", "zh", ("100000", "CNY", N, N)),
    ("两百", "zh", ("200", N, N, N)),
    ("取两千", "zh", ("2000", N, N, N)),
    ("我要存十万块", "zh", ("100000", "CNY", N, N)),
    ("三点五万", "zh", ("35000", N, N, N)),
    ("两万五千元人民币", "zh", ("25000", "CNY", N, N)),
    ("一亿", "zh", ("100000000", N, N, N)),
    ("2千5", "zh", ("2500", N, N, N)),
    ("一万二千三百四十五点六七元", "zh", ("12345.67", "CNY", N, N)),
    ("三块五", "zh", ("3.5", "CNY", N, N)),
    ("十块五毛", "zh", ("10.5", "CNY", N, N)),
    ("一千元2次", "zh", ("1000", "CNY", N, N)),
    ("I won 500 in a lottery", "en", ("500", N, N, N)),
    ("1,500万元", "zh", ("15000000", "CNY", N, N)),
    ("转５００００元", "zh", ("50000", "CNY", N, N)),
    # currencies
    ("50万港币", "zh", ("500000", "HKD", N, N)),
    ("换五千美元", "zh", ("5000", "USD", N, N)),
    ("美金5000", "zh", ("5000", "USD", N, N)),
    ("5000刀", "zh", ("5000", "USD", N, N)),
    ("欧元三千", "zh", ("3000", "EUR", N, N)),
    ("一万日元", "zh", ("10000", "JPY", N, N)),
    ("两千英镑", "zh", ("2000", "GBP", N, N)),
    ("我想换美元", "zh", (N, "USD", N, N)),
    ("我要换港币", "zh", (N, "HKD", N, N)),
    # things that look numeric but are not money
    ("我的手机号是13812345678", "zh", (N, N, N, N)),
    ("请A023号到3号窗口", "zh", (N, N, N, N)),
    ("我下午3点过来", "zh", (N, N, N, N)),
    ("我想办一张卡", "zh", (N, N, N, N)),
    ("快一点", "zh", (N, N, N, N)),
    ("百分之五十", "zh", (N, N, N, N)),
    ("我今年65岁", "zh", (N, N, N, N)),
    ("身份证号11010519491231002X", "zh", (N, N, N, N)),
    ("卡号6222 0212 3456 7890 123，转一万", "zh", ("10000", N, N, N)),
    ("我们一块儿去", "zh", (N, N, N, N)),
    ("第一次来", "zh", (N, N, N, N)),
    ("密码是六位数", "zh", (N, N, N, N)),
    ("我要存一笔大额现金，二十多万", "zh", ("200000", N, N, N)),
    ("想从银行贷个十来万", "zh", ("100000", N, N, N)),
    ("取五十", "zh", ("50", N, N, N)),
    ("里面还有几十块钱", "zh", (N, N, N, N)),
    ("12378怎么打", "zh", (N, N, N, N)),
    ("我妈八十多了腿脚不好", "zh", (N, N, N, N)),
    ("我六十五了", "zh", (N, N, N, N)),
    ("我养了两百头猪", "zh", (N, N, N, N)),
    ("这张钱被剪了一刀", "zh", (N, N, N, N)),
    ("2", "zh", (N, N, N, N)),
    ("密码是654321", "zh", (N, N, N, N)),
    ("尾号是8888的卡", "zh", (N, N, N, N)),
    # dates relative to TODAY
    ("今天", "zh", (N, N, "2026-11-25", N)),
    ("明天转五万", "zh", ("50000", N, "2026-11-26", N)),
    ("后天", "zh", (N, N, "2026-11-27", N)),
    ("大后天", "zh", (N, N, "2026-11-28", N)),
    ("下周一", "zh", (N, N, "2026-11-30", N)),
    ("这周五", "zh", (N, N, "2026-11-27", N)),
    ("周日", "zh", (N, N, "2026-11-29", N)),
    ("3月5号", "zh", (N, N, "2027-03-05", N)),
    ("3月5日取两万", "zh", ("20000", N, "2027-03-05", N)),
    ("下个月10号", "zh", (N, N, "2026-12-10", N)),
    ("11月20号转的钱没到账", "zh", (N, N, "2026-11-20", N)),
    ("二零二六年三月五号", "zh", (N, N, "2026-03-05", N)),
    ("三天后", "zh", (N, N, "2026-11-28", N)),
    ("10号", "zh", (N, N, "2026-12-10", N)),
    ("明天下午三点半转五万", "zh", ("50000", N, "2026-11-26", N)),
    # counterparties
    ("转给我妈妈两千块", "zh", ("2000", "CNY", N, "mother")),
    ("给我儿子汇款", "zh", (N, N, N, "son")),
    ("转给张三", "zh", (N, N, N, "张三")),
    ("转给张三五万", "zh", ("50000", N, N, "张三")),
    ("给我爸转一万", "zh", ("10000", N, N, "father")),
    ("汇给王小明三万块", "zh", ("30000", "CNY", N, "王小明")),
    ("他让我转到安全账户", "zh", (N, N, N, "safe account")),
    ("给一个陌生人转账", "zh", (N, N, N, "stranger")),
    ("给我办张卡", "zh", (N, N, N, N)),
    ("转五万美元给我儿子", "zh", ("50000", "USD", N, "son")),
    ("我要转账，转两万到我女儿的卡上", "zh", ("20000", N, N, "daughter")),
    ("对方说是公安局的，让我转钱到安全账户", "zh", (N, N, N, "safe account")),
    ("我要给我老伴转钱", "zh", (N, N, N, "spouse")),
    ("转一百万给一个陌生人", "zh", ("1000000", N, N, "stranger")),
    ("我今年七十岁了，想给孙子转两万", "zh", ("20000", N, N, "grandson")),
    ("转给李经理", "zh", (N, N, N, "李经理")),
    ("我收到我儿子的转账", "zh", (N, N, N, N)),
    ("我想把我的一万美元换成人民币", "zh", ("10000", "USD", N, N)),
    ("我想预约明天上午十点取二十万现金", "zh", ("200000", N, "2026-11-26", N)),
    ("存一年定期十万", "zh", ("100000", N, N, N)),
    ("利率是3.5%", "zh", (N, N, N, N)),
    ("我的卡尾号是6789", "zh", (N, N, N, N)),
    ("一共三张卡", "zh", (N, N, N, N)),
    ("帮我查一下余额", "zh", (N, N, N, N)),
    ("明年1月1号", "zh", (N, N, "2027-01-01", N)),
    # English
    ("fifty thousand", "en", ("50000", N, N, N)),
    ("2k", "en", ("2000", N, N, N)),
    ("$500", "en", ("500", "USD", N, N)),
    ("1.2 million", "en", ("1200000", N, N, N)),
    ("withdraw 50,000", "en", ("50000", N, N, N)),
    ("transfer two hundred and fifty dollars to my mom", "en", ("250", "USD", N, "mother")),
    ("a thousand euros", "en", ("1000", "EUR", N, N)),
    ("5 grand", "en", ("5000", N, N, N)),
    ("I want to withdraw 2,000 HKD", "en", ("2000", "HKD", N, N)),
    ("rmb 800", "en", ("800", "CNY", N, N)),
    ("HK$2,000", "en", ("2000", "HKD", N, N)),
    ("€250.50", "en", ("250.5", "EUR", N, N)),
    ("20 bucks", "en", ("20", "USD", N, N)),
    ("¥3000", "en", ("3000", "CNY", N, N)),
    ("USD500", "en", ("500", "USD", N, N)),
    ("convert 1000 USD to yen", "en", ("1000", "USD", N, N)),
    ("one hundred thousand yuan for my father", "en", ("100000", "CNY", N, "father")),
    ("send 500 dollars to John Smith tomorrow", "en", ("500", "USD", "2026-11-26", "John Smith")),
    ("I'm 65 and want to send 500 dollars", "en", ("500", "USD", N, N)),
    ("I need 2 cards", "en", (N, N, N, N)),
    ("see you at 3pm", "en", (N, N, N, N)),
    ("my number is 138 1234 5678", "en", (N, N, N, N)),
    ("my pin is 1234", "en", (N, N, N, N)),
    ("tomorrow", "en", (N, N, "2026-11-26", N)),
    ("next Friday", "en", (N, N, "2026-12-04", N)),
    ("on Friday", "en", (N, N, "2026-11-27", N)),
    ("on March 5", "en", (N, N, "2027-03-05", N)),
    ("the 5th", "en", (N, N, "2026-12-05", N)),
    ("the 10th of next month", "en", (N, N, "2026-12-10", N)),
    ("the day after tomorrow", "en", (N, N, "2026-11-27", N)),
    ("5th of March 2026", "en", (N, N, "2026-03-05", N)),
    ("in 3 days", "en", (N, N, "2026-11-28", N)),
    ("2026-03-05", "en", (N, N, "2026-03-05", N)),
    ("to my son", "en", (N, N, N, "son")),
    ("I lost my card ending in 1234", "en", (N, N, N, N)),
    ("how much can I withdraw in one day", "en", (N, N, N, N)),
    ("I want to wire money to Shanghai", "en", (N, N, N, N)),
    ("can I get a better rate if I deposit half a million", "en", ("500000", N, N, N)),
    ("withdraw 20", "en", ("20", N, N, N)),
    ("withdraw 2000", "en", ("2000", N, N, N)),
    ("It's 2018, why is my transfer still pending?", "en", (N, N, N, N)),
    ("it gave me 10 pounds even though I wanted to withdraw 30", "en", ("10", "GBP", N, N)),
    ("I was born in 1960", "en", (N, N, N, N)),
    ("please send 2.5k to Mike", "en", ("2500", N, N, "Mike")),
    ("transfer $1,500 to my brother next Monday", "en", ("1500", "USD", "2026-11-30", "brother")),
    ("Can I withdraw 20000 RMB today?", "en", ("20000", "CNY", "2026-11-25", N)),
    ("fifteen hundred dollars", "en", ("1500", "USD", N, N)),
    ("one million two hundred thousand", "en", ("1200000", N, N, N)),
    ("Can I transfer money to Hong Kong?", "en", (N, N, N, N)),
    ("I am 70 years old", "en", (N, N, N, N)),
    ("It's 3:30", "en", (N, N, N, N)),
    ("send money to my daughter", "en", (N, N, N, "daughter")),
    ("my wife asked me to pay our landlord 3000 yuan", "en", ("3000", "CNY", N, "landlord")),
]


@pytest.mark.parametrize(("text", "language", "expected"), CASES, ids=[c[0] for c in CASES])
def test_slot_table(
    text: str, language: str, expected: tuple[str | None, str | None, str | None, str | None]
) -> None:
    got = parse_slots(text, language, TODAY).to_json()
    assert (got["amount"], got["currency"], got["date"], got["counterparty"]) == expected


def test_amount_is_exact_decimal() -> None:
    slots = parse_slots("一万二千三百四十五点六七元", "zh", TODAY)
    assert slots.amount == Decimal("12345.67")
    assert isinstance(slots.amount, Decimal)


def test_to_json_types() -> None:
    slots = Slots(amount=Decimal("15000"), currency="CNY", date=dt.date(2027, 3, 5),
                  counterparty="son")
    assert slots.to_json() == {"amount": "15000", "currency": "CNY", "date": "2027-03-05",
                               "counterparty": "son"}


@pytest.mark.parametrize("text", [
    "", "   ", "😀🎉💰", "\x00\x07\x1b[31m", "\ud800", "5" * 10_000, "万" * 10_000,
    "转" * 10_000, "一" * 10_000, "😀" * 10_000, "3月" * 5_000, "明天转五万给我妈妈" * 1_200,
])
def test_junk_gives_clear_result_quickly(text: str) -> None:
    started = time.perf_counter()
    slots = parse_slots(text, "zh", TODAY)
    assert time.perf_counter() - started < 0.5
    assert slots == Slots()


def test_bad_arguments_never_raise() -> None:
    assert parse_slots(None, "zh", TODAY) == Slots()  # type: ignore[arg-type]
    assert parse_slots("明天", "zh", None) == Slots()  # type: ignore[arg-type]


def test_scan_is_capped() -> None:
    padding = "好" * (MAX_SCAN_CHARS - 3)
    assert parse_slots(padding + "转五万", "zh", TODAY).amount == Decimal(50000)
    assert parse_slots(padding + "转五万!", "zh", TODAY) == Slots()


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=80), st.dates(min_value=dt.date(1901, 1, 1),
                                      max_value=dt.date(2098, 12, 31)))
def test_random_text_never_raises(text: str, today: dt.date) -> None:
    slots = parse_slots(text, "zh", today)
    assert isinstance(slots, Slots)
    slots.to_json()


_ZH_ALPHABET = "零一二两三四五六七八九十百千万亿点块元号月日天周下明后转给我妈张三 0123456789.,:$¥"


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=_ZH_ALPHABET, max_size=30))
def test_numeral_soup_never_raises(text: str) -> None:
    slots = parse_slots(text, "zh", TODAY)
    assert slots.amount is None or slots.amount > 0


@settings(max_examples=200, deadline=None)
@given(
    st.decimals(min_value=Decimal("0.01"), max_value=Decimal("999999999.99"), places=2),
    st.sampled_from(["", "转", "我要取", "存"]),
    st.sampled_from(["元", "块", "块钱", "元人民币"]),
)
def test_chinese_numeral_amounts_round_trip(
    amount: Decimal, prefix: str, suffix: str
) -> None:
    spoken = cn2an.an2cn(format(amount, "f"))
    slots = parse_slots(f"{prefix}{spoken}{suffix}", "zh", TODAY)
    assert slots.amount == amount, spoken
    assert slots.currency == "CNY"


@settings(max_examples=100, deadline=None)
@given(st.integers(min_value=1, max_value=999_999_999))
def test_arabic_grouped_amounts_round_trip(amount: int) -> None:
    assert parse_slots(f"I'd like to send {amount:,} dollars", "en", TODAY).amount == amount


_ZH_AMOUNTS = [("五万", "50000"), ("两千", "2000"), ("一万五", "15000"), ("3万2", "32000"),
               ("1.5万", "15000"), ("十万", "100000"), ("8000", "8000"), ("两百", "200"),
               ("一点五万", "15000"), ("5w", "50000")]
_ZH_CURRENCIES = [("元", "CNY"), ("块钱", "CNY"), ("美元", "USD"), ("港币", "HKD"),
                  ("欧元", "EUR"), ("", None)]
_ZH_DATES = [("明天", "2026-11-26"), ("下周一", "2026-11-30"), ("3月5号", "2027-03-05"),
             ("下个月10号", "2026-12-10"), ("后天下午3点", "2026-11-27"), ("", None)]
_ZH_PAYEES = [("给我妈妈", "mother"), ("给我儿子", "son"), ("给张三", "张三"),
              ("给王小明", "王小明"), ("", None)]


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(_ZH_AMOUNTS), st.sampled_from(_ZH_CURRENCIES),
       st.sampled_from(_ZH_DATES), st.sampled_from(_ZH_PAYEES), st.booleans())
def test_composed_chinese_requests(
    amount: tuple[str, str], currency: tuple[str, str | None], date: tuple[str, str | None],
    payee: tuple[str, str | None], payee_first: bool,
) -> None:
    body = f"转{amount[0]}{currency[0]}"
    text = f"{date[0]}{payee[0]}{body}" if payee_first else f"{date[0]}{body}{payee[0]}"
    got = parse_slots(text, "zh", TODAY).to_json()
    assert (got["amount"], got["currency"], got["date"], got["counterparty"]) == (
        amount[1], currency[1], date[1], payee[1]), text


_EN_AMOUNTS = [("500", "500"), ("$500", "500"), ("2k", "2000"), ("1.2 million", "1200000"),
               ("fifty thousand", "50000"), ("3,500", "3500"), ("two hundred", "200")]
_EN_CURRENCIES = [("dollars", "USD"), ("euros", "EUR"), ("yuan", "CNY"), ("HKD", "HKD"), ("", None)]
_EN_DATES = [("tomorrow", "2026-11-26"), ("next Friday", "2026-12-04"),
             ("on March 5", "2027-03-05"), ("on the 10th", "2026-12-10"), ("", None)]
_EN_PAYEES = [("to my son", "son"), ("to my mom", "mother"), ("to John Smith", "John Smith"),
              ("", None)]


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(_EN_AMOUNTS), st.sampled_from(_EN_CURRENCIES),
       st.sampled_from(_EN_DATES), st.sampled_from(_EN_PAYEES))
def test_composed_english_requests(
    amount: tuple[str, str], currency: tuple[str, str | None], date: tuple[str, str | None],
    payee: tuple[str, str | None],
) -> None:
    text = f"please send {amount[0]} {currency[0]} {payee[0]} {date[0]}"
    got = parse_slots(text, "en", TODAY).to_json()
    expected_currency = currency[1] or ("USD" if amount[0].startswith("$") else None)
    if amount[0].startswith("$") and currency[1] not in (None, "USD"):
        expected_currency = currency[1]  # "$500 euros": the word after the number wins
    assert (got["amount"], got["currency"], got["date"], got["counterparty"]) == (
        amount[1], expected_currency, date[1], payee[1]), text
