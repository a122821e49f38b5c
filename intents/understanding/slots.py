"""Slot parser: amount, currency, date and counterparty from one zh/en customer utterance."""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Final

import cn2an

from intents.understanding.slot_dates import EN_MONTHS as _EN_MONTHS
from intents.understanding.slot_dates import EN_WEEKDAYS as _EN_WEEKDAYS
from intents.understanding.slot_dates import find_date
from intents.understanding.slot_text import ZD as _ZD
from intents.understanding.slot_text import alternation as _alternation
from intents.understanding.slot_text import blank as _blank

# One spoken or typed turn is far shorter; a longer text is a paste or an attack, and slots
# guessed from it would be noise, so it gets the clear result and costs no scanning time.
MAX_SCAN_CHARS: Final = 1000

_MAG: Final = "十百千万亿"

_CURRENCY_WORDS: Final[dict[str, str]] = {
    "人民币": "CNY", "元": "CNY", "块钱": "CNY", "块": "CNY", "圆": "CNY", "rmb": "CNY",
    "yuan": "CNY", "renminbi": "CNY", "cny": "CNY", "kuai": "CNY", "¥": "CNY",
    "美元": "USD", "美金": "USD", "刀": "USD", "usd": "USD", "us$": "USD", "$": "USD",
    "dollars": "USD", "dollar": "USD", "bucks": "USD", "us dollars": "USD",
    "港币": "HKD", "港元": "HKD", "港纸": "HKD", "hkd": "HKD", "hk$": "HKD",
    "hong kong dollars": "HKD", "hk dollars": "HKD",
    "欧元": "EUR", "eur": "EUR", "euros": "EUR", "euro": "EUR", "€": "EUR",
    "日元": "JPY", "日币": "JPY", "jpy": "JPY", "yen": "JPY",
    "英镑": "GBP", "gbp": "GBP", "pounds": "GBP", "pound": "GBP", "sterling": "GBP", "£": "GBP",
    "澳元": "AUD", "澳币": "AUD", "aud": "AUD", "australian dollars": "AUD",
    "加元": "CAD", "加币": "CAD", "cad": "CAD", "canadian dollars": "CAD",
    "新加坡元": "SGD", "新币": "SGD", "sgd": "SGD", "singapore dollars": "SGD",
    "韩元": "KRW", "韩币": "KRW", "krw": "KRW",
    "瑞士法郎": "CHF", "法郎": "CHF", "chf": "CHF", "swiss francs": "CHF",
    "澳门币": "MOP", "澳门元": "MOP", "mop": "MOP", "新台币": "TWD", "台币": "TWD", "twd": "TWD",
    "泰铢": "THB", "thb": "THB", "卢布": "RUB", "rub": "RUB",
}
# Words too ambiguous to name a currency unless they sit right next to an amount.
_ADJACENT_ONLY: Final = frozenset({"元", "块", "块钱", "圆", "刀", "$", "¥", "pound", "rub",
                                   "mop", "aud", "cad", "chf", "twd"})


_CUR: Final = _alternation(_CURRENCY_WORDS)
_CUR_AFTER: Final = re.compile(rf"\s*({_CUR})(?![a-z])", re.IGNORECASE)
_CUR_BEFORE: Final = re.compile(rf"(?<![a-z])({_CUR})\s*$", re.IGNORECASE)
_CUR_ANY: Final = re.compile(rf"(?<![a-z])({_CUR})(?![a-z])", re.IGNORECASE)

_NUMBER: Final = re.compile(
    rf"(?P<num>(?:\d{{1,3}}(?:,\d{{3}})+|\d+|[{_ZD}十])"
    rf"(?:[\d{_ZD}{_MAG}]|(?:\.|点)(?=[\d{_ZD}]))*)"
    r"(?:(?P<mult>[wWkK])(?![a-zA-Z])"
    r"|\s*(?P<scale>thousand|million|billion|grand|mn|bn)\b)?",
    re.IGNORECASE,
)
_MULT: Final[dict[str, int]] = {
    "w": 10_000, "k": 1_000, "thousand": 1_000, "grand": 1_000,
    "million": 1_000_000, "mn": 1_000_000, "billion": 1_000_000_000, "bn": 1_000_000_000,
}

_EN_UNITS: Final[dict[str, int]] = {
    w: i for i, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
        "fifteen sixteen seventeen eighteen nineteen".split())
} | {w: 10 * i for i, w in enumerate("twenty thirty forty fifty sixty seventy eighty ninety".split(), 2)}
_EN_SCALES: Final[dict[str, int]] = {"hundred": 100, "thousand": 1_000, "grand": 1_000,
                                      "million": 1_000_000, "billion": 1_000_000_000}
_EN_WORD: Final = _alternation(list(_EN_UNITS) + list(_EN_SCALES))
_EN_NUMBER: Final = re.compile(
    rf"\b(?:(?:half\s+)?a\s+(?=(?:hundred|thousand|million|billion|grand)\b))?(?:{_EN_WORD})"
    rf"(?:(?:\s+|-)(?:and\s+)?(?:{_EN_WORD}))*\b",
    re.IGNORECASE,
)

# Text right after a number that makes it a date, time, count or rank rather than money.
_NOT_MONEY_AFTER: Final = re.compile(
    r"\s*[多来余几]?(?:[月日号点时分秒年岁个次楼层位人张天周期笔倍折项条%:头亩只件台辆套间斤米户名份瓶盒支根双]"
    r"|本(?!金)|小时|星期|礼拜|平米|公斤|(?:怎么)?(?:打|拨)|电话|热线"
    r"|(?:st|nd|rd|th|am|pm|a\.m|p\.m|o'?clock|years?|yrs?|days?|weeks?|months?|hours?|hrs?"
    r"|minutes?|mins?|seconds?|people|persons?|percent|cards?|accounts?|times|digits?"
    r"|floors?|tickets?|kids|children|passbooks?)\b)",
    re.IGNORECASE,
)
_NOT_MONEY_BEFORE: Final = re.compile(
    r"(?:[第之周初#几数]|星期|礼拜|密码|号码|尾号|编号|验证码|电话|热线|拨打|\b(?:no\.?|number|room|counter|window"
    r"|ticket|gate|floor|aged?|i'?m|i am|at|version|line|platform|pin|code|password|born in"
    r"|since|ending in|ends? (?:in|with)|last (?:4|four)(?: digits)?))"
    r"\s*(?:is|was|是|为|:)?\s*$",
    re.IGNORECASE,
)
_YEAR_BEFORE: Final = re.compile(r"\b(?:in|it'?s|it is|year|since|until|by|before|after)\s*$",
                                 re.IGNORECASE)
_APPROX_MAG: Final = re.compile(r"[多来余]([千万亿]+)")  # 二十多万, 十来万: the lower bound
_ZH_MONEY_VERB: Final = re.compile(r"[存取转汇贷借还付交换买花欠赔]")
_EN_MONEY_VERB_ANY: Final = re.compile(
    r"\b(?:withdraw|deposit|transfer|send|pay|take out|exchange|change|borrow|lend|owe|spend"
    r"|wire|remit|convert|buy|sell)", re.IGNORECASE)
_CN_DECIMAL_MAG: Final = re.compile(rf"^(.+?)[点.]([\d{_ZD}]+)([{_MAG}]+)$")


@dataclass(frozen=True, slots=True)
class Slots:
    """What the dialogue needs from one utterance; every field is optional."""

    amount: Decimal | None = None
    currency: str | None = None
    date: dt.date | None = None
    counterparty: str | None = None

    def to_json(self) -> dict[str, str | None]:
        """Plain JSON values: the amount as an exact string, the date as ISO 8601."""
        return {
            "amount": None if self.amount is None else format(self.amount, "f"),
            "currency": self.currency,
            "date": None if self.date is None else self.date.isoformat(),
            "counterparty": self.counterparty,
        }


def parse_slots(text: str, language: str, today: dt.date) -> Slots:
    """Never raises: a missed slot costs one follow-up question, an exception costs the turn."""
    try:
        return _parse(text, language, today)
    except Exception:  # any malformed input means "no slots", by contract
        return Slots()


def _parse(text: str, language: str, today: dt.date) -> Slots:
    # language is part of the turn contract, but both rule sets always run: customers code-switch
    # ("转500 dollars", "send 两千"), and no rule of one language misfires on the other's text.
    if not isinstance(text, str) or len(text) > MAX_SCAN_CHARS:
        return Slots()
    s = clean_text(text)
    if not s.strip():
        return Slots()
    s = blank_identifiers(s)
    date, s = find_date(s, today)
    counterparty, s = find_counterparty(s)
    amount, currency = _find_amount(s)
    if currency is None:
        currency = _find_currency(s)
    return Slots(amount=amount, currency=currency, date=date, counterparty=counterparty)


def clean_text(text: str) -> str:
    """NFKC (full-width digits, ￥, ，) with control characters blanked, capped in length."""
    s = unicodedata.normalize("NFKC", text[:MAX_SCAN_CHARS])[:MAX_SCAN_CHARS]
    return "".join(ch if ch.isprintable() else " " for ch in s)


# Ticket numbers (A023), long digit runs (phone, card, ID; spaced or dashed), spoken digit strings
# and clock times: none of them is ever an amount, and 3点 / A023号 must not become dates either.
_IDENTIFIER: Final = re.compile(
    rf"(?<![a-z])[a-z]\d{{2,4}}(?!\d)号?|\d(?:[ -]?\d){{9,}}[xX]?|[{_ZD}幺]{{5,}}"
    r"|\b\d{1,2}:\d{2}\b|\b\d{1,2}\s*(?:am|pm|a\.m\.|p\.m\.|o'?clock)"
    rf"|(?:上午|下午|晚上|中午|早上|凌晨)?(?<![\d{_ZD}{_MAG}.])[\d{_ZD}十]{{1,3}}(?:点钟|点|时)"
    rf"(?![\d{_ZD}]+[{_MAG}块元美欧港日英])(?:半|整|[\d{_ZD}十]{{1,3}}分?)?",
    re.IGNORECASE,
)


def blank_identifiers(s: str) -> str:
    """Replace identifier spans by spaces, keeping every other index where it was."""
    return _IDENTIFIER.sub(lambda m: " " * len(m.group()), s)


_ZH_RELATIONS: Final[dict[str, str]] = {
    "妈妈": "mother", "妈": "mother", "母亲": "mother", "老妈": "mother", "爸爸": "father",
    "爸": "father", "父亲": "father", "老爸": "father", "儿子": "son", "女儿": "daughter",
    "闺女": "daughter", "老婆": "wife", "妻子": "wife", "媳妇": "wife", "太太": "wife",
    "老公": "husband", "丈夫": "husband", "爱人": "spouse", "老伴": "spouse", "哥哥": "brother",
    "哥": "brother", "弟弟": "brother", "弟": "brother", "姐姐": "sister", "姐": "sister", "妹妹": "sister",
    "妹": "sister", "爷爷": "grandfather", "外公": "grandfather", "姥爷": "grandfather",
    "奶奶": "grandmother", "外婆": "grandmother", "姥姥": "grandmother", "孙子": "grandson",
    "外孙": "grandson", "孙女": "granddaughter", "外孙女": "granddaughter", "朋友": "friend",
    "男朋友": "boyfriend", "女朋友": "girlfriend", "同学": "classmate", "同事": "colleague",
    "老板": "boss", "房东": "landlord", "亲戚": "relative", "叔叔": "uncle", "舅舅": "uncle",
    "伯伯": "uncle", "阿姨": "aunt", "姑姑": "aunt", "侄子": "nephew", "外甥": "nephew",
    "侄女": "niece", "外甥女": "niece", "孩子": "child", "家人": "family", "陌生人": "stranger",
    "不认识的人": "stranger", "网友": "online friend", "警察": "police", "公安": "police",
    "客服": "customer service", "安全账户": "safe account", "自己": "self",
}
_EN_RELATIONS: Final[dict[str, str]] = {
    "mom": "mother", "mum": "mother", "mother": "mother", "mommy": "mother", "mummy": "mother",
    "dad": "father", "father": "father", "daddy": "father", "son": "son", "daughter": "daughter",
    "wife": "wife", "husband": "husband", "spouse": "spouse", "partner": "partner",
    "brother": "brother", "sister": "sister", "grandma": "grandmother",
    "grandmother": "grandmother", "granny": "grandmother", "grandpa": "grandfather",
    "grandfather": "grandfather", "grandson": "grandson", "granddaughter": "granddaughter",
    "friend": "friend", "boyfriend": "boyfriend", "girlfriend": "girlfriend",
    "landlord": "landlord", "landlady": "landlord", "boss": "boss", "colleague": "colleague",
    "coworker": "colleague", "uncle": "uncle", "aunt": "aunt", "auntie": "aunt",
    "cousin": "cousin", "nephew": "nephew", "niece": "niece", "child": "child", "kid": "child",
    "parents": "parents", "stranger": "stranger", "police": "police",
    "safe account": "safe account", "online friend": "online friend",
}
_ZH_TO: Final = (r"(?:转账给|汇款给|转钱给|打钱给|转给|汇给|打给|付给|还给|借给|寄给|转到|汇到|打到"
                 r"|转入|汇入|给|(?<![回来想看收找遇等听得用拿])到|收款人是|收款人为|收款方是)")
_ZH_RELATION: Final = re.compile(
    rf"{_ZH_TO}\s*(?:我们的|我的|我|咱们|咱|俺)?\s*(?:一个|个)?({_alternation(_ZH_RELATIONS)})")
_SURNAMES: Final = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁"
    "任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵钱严覃武戴莫"
    "孔向汤常温康施文牛樊葛邢安齐易乔伍庞颜倪庄聂章鲁岳翟殷詹申欧耿关兰焦俞左柳甘祝包宁尚符舒阮柯纪梅"
    "童凌毕季裴霍涂苗谷盛曲翁冉骆蓝路游辛靳管柴蒙鲍华喻祁蒲房滕屈饶解牟艾尤阳穆农卓古吉缪简项连芦麦褚"
    "娄窦戚岑景党宫费卜冷晏席卫米柏宗瞿桂佟臧闵苟邬边卞姬师仇栾隋商刁沙荣巫寇桑郎甄丛仲虞敖巩佘池查麻"
)
_STOP: Final = "的了吧呢啊吗呀转汇打付存取钱元块账户卡给到在跟和与把被是要想我你他她它们说去来"
_ZH_NAME: Final = re.compile(
    rf"(?:转账给|汇款给|转钱给|打钱给|转给|汇给|打给|付给|还给|借给|给|收款人是)\s*"
    rf"((?:欧阳|司马|诸葛|上官|司徒|东方|慕容|[{_SURNAMES}])[^\s{_STOP}\W\d{_MAG}a-zA-Z]"
    rf"[^\s{_STOP}\W\d{_ZD}{_MAG}a-zA-Z]?)"
)
_NOT_NAMES: Final = frozenset({"马上", "余额", "金额", "高兴", "方便", "安全", "黄金", "关于", "钱包",
                               "常用", "路上", "宁愿", "文件", "华为", "周末", "周一"})
_EN_RELATION: Final = re.compile(
    r"\b(?:to|for|pay|paying|send|sending|give|giving|transfer|wire|remit|lend)\s+"
    r"(?:(?:my|our|a|an|some)\s+)?(?:(?:old|best|good|little|elder|older|younger)\s+)?"
    rf"({_alternation(_EN_RELATIONS)})\b",
    re.IGNORECASE,
)
_EN_NAME: Final = re.compile(
    r"\b(?:to|pay)\s+((?:(?:Mr|Mrs|Ms|Miss|Dr)\.?\s+)?[A-Z][a-z]+(?:\s+[A-Z][a-z]+)?)\b")
_EN_MONEY_VERB: Final = re.compile(
    r"\b(?:send|sent|transfer|wire|remit|pay|give|lend|money|payment)", re.IGNORECASE)
_NOT_EN_NAMES: Final = frozenset(
    {w.capitalize() for w in [*_EN_MONTHS, *_EN_WEEKDAYS]}
    | {"I", "The", "My", "Our", "A", "An", "Hong", "China", "Macau", "Taiwan", "Japan", "America",
       "Bank", "Account", "Counter", "Window", "Today", "Tomorrow", "Usd", "Rmb", "Mainland",
       "Europe", "England", "Canada", "Australia", "Singapore", "Korea", "Me", "Him", "Her",
       "Beijing", "Shanghai", "Shenzhen", "Guangzhou", "India", "France", "Germany", "Italy",
       "Spain", "Thailand", "Vietnam", "Malaysia", "Russia", "Britain", "London", "New",
       "United", "Hongkong", "Macao", "Us", "Uk"})


def find_counterparty(s: str) -> tuple[str | None, str]:
    """Whom the money goes to: a relation in English words, else a name; its span is blanked."""
    for pattern, table in ((_ZH_RELATION, _ZH_RELATIONS), (_EN_RELATION, _EN_RELATIONS)):
        m = pattern.search(s)
        if m:
            key = re.sub(r"\s+", " ", m.group(1)).lower()
            return table[key], _blank(s, m.start(), m.end())
    for m in _ZH_NAME.finditer(s):
        name = m.group(1)
        if name[:2] not in _NOT_NAMES:
            return name, _blank(s, m.start(1), m.end(1))
    if _EN_MONEY_VERB.search(s):
        for m in _EN_NAME.finditer(s):
            words = re.sub(r"\s+", " ", m.group(1)).split(" ")
            if words[-1] in _NOT_EN_NAMES:
                words = words[:-1]
            if words and words[0] not in _NOT_EN_NAMES and words[-1] not in ("Mr", "Mrs", "Ms"):
                name = " ".join(words)
                return name, _blank(s, m.start(1), m.start(1) + len(name))
    return None, s


def _decimal(value: object) -> Decimal:
    """cn2an answers int or float; go through str so 0.3 stays 0.3 exactly."""
    return Decimal(str(value))


def _cn_amount(span: str) -> Decimal | None:
    """Arabic, Chinese or mixed (3万2, 1.5万, 一点五万) numerals; cn2an sees only this span."""
    plain = span.replace(",", "")
    if re.fullmatch(r"\d+(?:\.\d+)?", plain):
        return Decimal(plain)
    try:
        return _decimal(cn2an.cn2an(plain, "smart"))
    except (ValueError, KeyError, IndexError, TypeError, InvalidOperation):
        pass
    m = _CN_DECIMAL_MAG.match(plain)  # 一点五万, 3点5万: cn2an refuses a decimal before a unit
    if m is None:
        return None
    head, digits = m.group(1), m.group(2)
    dot = "." if (head + digits).isascii() else "点"
    whole = _cn_amount(f"{head}{dot}{digits}")
    scale = _cn_amount("一" + m.group(3))
    return None if whole is None or scale is None else whole * scale


def _en_words_amount(words: list[str]) -> Decimal:
    if words[0] == "half":
        return _en_words_amount(words[1:]) / 2
    total = current = 0
    for word in words:
        if word in _EN_UNITS:
            current += _EN_UNITS[word]
        elif word == "hundred":
            current = max(current, 1) * 100
        elif word in _EN_SCALES:
            total += max(current, 1) * _EN_SCALES[word]
            current = 0
    return Decimal(total + current)


def _context(s: str, start: int, end: int, num: str) -> tuple[str | None, bool, Decimal]:
    """The currency named beside a number, whether its context rules money out, and 三块*五*."""
    after = _CUR_AFTER.match(s, end)
    before = _CUR_BEFORE.search(s[max(0, start - 20):start])
    currency_word = after.group(1) if after else before.group(1) if before else None
    if currency_word == "刀" and len(num) == 1 and num in _ZD:
        currency_word = None  # 剪了一刀 is a cut, 五千刀 is dollars
    currency = _CURRENCY_WORDS[currency_word.lower()] if currency_word else None
    jiao = Decimal(0)
    if after and currency_word == "块" and re.match("[儿去走来住玩吃]", s[after.end():]):
        return None, True, jiao  # 一块儿, 一块去: "together", not one yuan
    if after and currency_word in ("块", "元"):
        m = re.match(rf"([{_ZD}\d])(?:毛|角|(?=[\s,.!?。！？]|$))", s[after.end():])
        jiao = Decimal(0) if m is None else (_cn_amount(m.group(1)) or Decimal(0)) / 10
    if currency is None:
        if _NOT_MONEY_AFTER.match(s, end) or re.match(r"[a-zA-Z]", s[end:end + 1]):
            return None, True, jiao
        if start > 0 and re.match(r"[a-zA-Z]", s[start - 1]):
            return None, True, jiao
    if _NOT_MONEY_BEFORE.search(s[max(0, start - 12):start]):
        return currency, True, jiao
    return currency, False, jiao


def _money_verb_near(s: str, start: int) -> bool:
    """Small bare numbers are money only after a money verb: 取五十 yes, 我六十五了 no."""
    return bool(_ZH_MONEY_VERB.search(s[max(0, start - 4):start]) or _EN_MONEY_VERB_ANY.search(s))


def _find_amount(s: str) -> tuple[Decimal | None, str | None]:
    """The first amount with a money cue (unit, currency, 万), else the first plausible bare one."""
    best: tuple[int, int, Decimal, str | None] | None = None
    for m in _NUMBER.finditer(s):
        num, mult, scale = m.group("num"), m.group("mult"), m.group("scale")
        num_end = m.end("num")
        while num and num[-1] in ".点":
            num, num_end = num[:-1], num_end - 1
        end = num_end if not (mult or scale) else m.end()
        factor = _MULT.get((mult or scale or "").lower(), 1)
        approx = _APPROX_MAG.match(s, end) if factor == 1 else None
        if approx:
            factor, end = int(_cn_amount("一" + approx.group(1)) or 1), approx.end()
        value = _cn_amount(num)
        currency, ruled_out, jiao = _context(s, m.start(), end, num)
        if value is None or ruled_out or value <= 0:
            continue
        total = value * factor + jiao
        strong = currency is not None or factor > 1 or any(ch in "千万亿" for ch in num)
        chinese = any(ch in _ZD + "十" for ch in num)
        if not strong and chinese and not any(ch in "十百" for ch in num):
            continue  # 一下, 两个, 三五: bare Chinese digits are rarely money
        if not strong and total < 100 and not _money_verb_near(s, m.start()):
            continue  # a menu choice "2", an age 六十五
        if not strong and re.fullmatch(r"(?:19|20)\d\d", num) and _YEAR_BEFORE.search(
                s[max(0, m.start() - 8):m.start()]):
            continue  # "it's 2018", "in 2025"
        rank = (0 if strong or chinese else 1, m.start())
        if best is None or rank < best[:2]:
            best = (*rank, total, currency)
    for m in _EN_NUMBER.finditer(s):
        words = re.split(r"[\s-]+", m.group().lower())
        currency, ruled_out, _ = _context(s, m.start(), m.end(), "")
        has_scale = any(w in _EN_SCALES for w in words)
        if ruled_out or not (has_scale or currency):
            continue
        rank = (0, m.start())
        if best is None or rank < best[:2]:
            best = (*rank, _en_words_amount(words), currency)
    if best is None or best[2] <= 0:
        return None, None
    return Decimal(format(best[2].normalize(), "f")), best[3]


def _find_currency(s: str) -> str | None:
    """A currency named anywhere (我想换美元), ignoring words that need an amount beside them."""
    for m in _CUR_ANY.finditer(s):
        if m.group(1).lower() not in _ADJACENT_ONLY:
            return _CURRENCY_WORDS[m.group(1).lower()]
    return None
