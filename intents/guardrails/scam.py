"""Scam detection: a customer describing a scam, usually without knowing it is one.

Pure and synchronous. Each rule is a general pattern of *who* contacts the customer and
*what* they ask the customer to do, in the customer's own words, Mandarin or English; a rule
fires only when every one of its parts is in the turn. No rule names a single phrasing.

Legal basis: the Anti-Telecom and Online Fraud Law of the PRC (反电信网络诈骗法, 2022),
Art. 15 and 18: banks identify and intervene in suspected fraud (warn the customer, delay
or stop the payment); CBIRC/PBoC guidance on "劝阻" (dissuasion) at the counter. The kiosk
warns (uninterruptible script), issues an urgent ticket and alerts staff naming the kiosk.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Final, Literal

ScamKind = Literal[
    "safe_account",
    "impersonation",
    "investment",
    "refund",
    "code_request",
    "recent_acquaintance",
    "advance_fee",
    "relative_emergency",
    "remote_control",
    "secrecy",
    "reported",  # the router read the turn as a fraud report (the customer knows)
]


def _rx(*alternatives: str) -> re.Pattern[str]:
    return re.compile("|".join(alternatives), re.IGNORECASE)


# ---------------------------------------------------------------- the parts of a pattern

# Money leaving the customer (the "what" most scams end in).
PAY: Final = _rx(
    r"转账|转钱|转款|转过去|转给|转到|转入|转走|打钱|打款|打到|打给|汇款|汇钱|汇给|汇到|汇过去|"
    r"存到|存入.{0,6}(?:账户|卡)|取(?:出来|现金?).{0,8}(?:给|交)|交(?:给|钱)|付款|充值|缴纳|缴费|"
    r"保证金|解冻费|手续费|税费|押金|垫付|刷流水|贷款.{0,6}(?:转|给)|"
    r"(?:转|汇|打|充)(?:了|上)?.{0,3}(?:钱|款|\d|[一二两三四五六七八九十百千万几]+(?:块|元|万|千))|"
    r"(?:转|汇|打|充)(?:进|入|出来|出去|过去|走)|取.{0,12}(?:交给|给他|给她|给对方)|"
    r"(?:有人|他们|对方|他|她)(?:会)?(?:上门|过)?来(?:拿|取|收)",
    r"\btransfer|\bwire\b|\bsend(?:ing)?\b.{0,25}\b(?:money|cash|funds|savings|yuan|dollars|"
    r"rmb|it|them|the difference|back|\d)|\bmove\b.{0,20}\b(?:money|savings|funds|deposits?)|\bpay(?:ing|ment)?\b|"
    r"\bdeposit\b.{0,20}\b(?:into|to)\b|\bwithdraw\b.{0,30}\b(?:give|hand|courier|for (?:him|her|them))|"
    r"\bfee\b|\bbail\b|\b(?:needs?|asked (?:me )?for|wants?)\b.{0,12}\bmoney\b|\btop[- ]?up|\bbuy\b.{0,20}\bgift ?cards?",
)
# Someone in authority, or a company, the caller claims to be.
AUTHORITY: Final = _rx(
    r"警察|公安|民警|警官|派出所|刑警|经侦|网警|检察|法院|法官|海关|税务|监管|银保监|证监会|"
    r"人民银行|央行|银行(?:的)?(?:客服|工作人员|经理|职员|风控|安全部)|客服|社保|医保|卫健委|"
    r"快递|物流|电商|淘宝|京东|拼多多|抖音|支付宝|微信支付|运营商|电信局|移动公司|领导|老板|"
    r"国家安全|大使馆|领事馆",
    r"\bpolice|\bofficer\b|\bdetective|\bcourt\b|\bjudge\b|\bprosecutor|\bcustoms\b|"
    r"\btax (?:office|bureau|authority|department)|\bregulator|\bcentral bank|\bembassy|"
    r"\b(?:bank(?:'s)?|the bank)\b.{0,12}\b(?:staff|official|security|fraud|department|"
    r"team|manager|employee|customer service)|\bcustomer service|\bcourier|\bdelivery|"
    r"\bamazon|\btaobao|\bmy boss|\bthe boss|\bmanager at work|\bsecurity department",
)
# The contact: someone called, texted, added, told or asked the customer.
CONTACT: Final = _rx(
    r"打电话|打来|来电|电话(?:里|中|说|通知)|接到|微信|QQ|短信|视频|加我|加了我|联系我|通知我|"
    r"说我|让我|叫我|要我|要求我|告诉我|自称|冒充|说他是|说她是|说是|他们说|对方",
    r"\bcall(?:ed|s|ing)?\b|\bphon(?:ed|e)\b|\brang\b|\btext(?:ed|s)?\b|\bmessag(?:ed|e)\b|"
    r"\bemail(?:ed)?\b|\bcontacted\b|\btold me\b|\basked me\b|\bwants? me\b|\bclaim(?:ing|ed|s)?\b|"
    r"\bpos(?:ing|ed) as\b|\bpretend|\bsaid (?:that )?(?:i|my|he|she|they)\b|\bsays (?:i|my)\b",
)
# What the caller says is wrong, or threatens.
THREAT: Final = _rx(
    r"洗钱|涉嫌|涉案|案件|(?<!无)犯罪|通缉|逮捕|拘留|冻结|调查|配合|传票|起诉|违法|违规|走私|包裹.{0,4}(?:违禁|毒)|"
    r"账户(?:异常|有问题|不安全|被盗)|资金(?:清查|核查|审查|不安全)|征信|注销|信用(?:分|记录)",
    r"launder|\bcrime|\bcriminal|\binvestigat|\barrest|\bwarrant|\bfroz(?:en|e)\b|\bfreeze|"
    r"\bsuspect|\billegal|\bsmuggl|\bcase\b|\bsubpoena|\bin trouble|\bcompromised|\bhacked|"
    r"\bnot safe|\bunsafe|\bcredit (?:score|record)",
)
SAFE_ACCOUNT: Final = _rx(
    r"安全账户|安全帐户|安全卡|保护账户|监管账户|清查账户|核查账户|国家账户|指定账户",
    r"\bsafe(?:ty)? account|\bsecure account|\bprotected account|\bholding account|"
    r"\bgovernment account|\bprotect(?:ed)? (?:my|the) money.{0,30}\baccount",
)
GROUP: Final = _rx(
    r"群|老师|导师|带单|荐股|内幕|投资平台|交易平台|理财平台|APP|网站|虚拟币|数字货币|比特币|USDT|"
    r"币圈|外汇平台|期货平台|刷单|网友|朋友介绍",
    r"\bgroup\b|\bchat\b|\bmentor|\bteacher|\bcoach|\bplatform|\bapp\b|\bwebsite|\bcrypto|"
    r"\bbitcoin|\busdt|\btrading (?:site|account)|\binsider",
)
HIGH_RETURN: Final = _rx(
    r"高收益|高回报|高额回报|稳赚|包赚|保本|保收益|翻倍|翻番|日收益|月收益|日赚|稳定收益|"
    r"收益率?.{0,6}(?:\d{2,}|[二三四五六七八九十百])\s*(?:%|％|个点|倍)|"
    r"(?:一|每)(?:天|日|周|个月|月).{0,6}(?:赚|收益|利息|回报).{0,4}(?:百分之|\d|[一二三四五六七八九十]+(?:个点|倍|万))|"
    r"(?:收益|回报|利息)(?:很|特别|非常|超)?高|(?:翻|赚|涨).{0,3}(?:[两二三四五六七八九十]|\d+)倍|赚了?(?:不少|很多|好几|几万|\d)|返利|返现|分红|回报",
    r"\bhigh returns?|\bguarantee[ds]?\b|\bdouble\b|\btriple|\bprofits?\b|"
    r"\breturns? of|\d+\s*%\s*(?:a|per|every) (?:day|week|month)|\bearn(?:ed|ing)?\b|\bmade money",
)
REFUND: Final = _rx(
    r"退款|退费|退钱|退货|理赔|赔偿|赔付|补偿|返还|订单(?:异常|有问题|出错)|快递丢|包裹丢|"
    r"会员.{0,6}(?:扣费|续费|取消|关闭)|取消.{0,6}(?:会员|服务|扣费)|关闭.{0,8}(?:百万保障|借贷|"
    r"校园贷|服务|功能)|学生(?:贷|账户)|征信",
    r"\brefund|\bcompensat|\breimburs|\boverpaid|\boverpayment|\bcharged (?:me )?twice|"
    r"\bcancel.{0,20}\b(?:membership|subscription|service)|\blost (?:parcel|package)|\bchargeback",
)
CODE: Final = _rx(
    r"验证码|动态码|校验码|短信码|动态密码|口令|付款码|收款码|二维码",
    r"verification code|\bverify code|\botp\b|one[- ]time (?:pass(?:word|code)|code)|"
    r"\bsecurity code|\bthe code\b|\bsms code|\bpin\b|\bqr code",
)
# Somebody other than the customer wants the code (stranger, caller, "they").
ASKS_FOR: Final = _rx(
    r"(?:问我|找我|跟我|向我)要|要我(?:的)?|让我(?:把|报|念|读|告诉|说|发|给)|叫我(?:把|报|念|读|告诉|发|给)|"
    r"报给|念给|告诉(?:他|她|对方|他们)|发给(?:他|她|对方|他们)|给(?:他|她|对方|他们)|要验证码|"
    r"对方|陌生人|有人|别人",
    r"\bask(?:ed|ing|s)? (?:me )?(?:for|to (?:read|tell|send|give))|\bwants?\b.{0,20}\bcode|"
    r"\b(?:tell|give|send|read)\b.{0,20}\b(?:him|her|them|it out)\b|\bsomeone|\bstranger|"
    r"\bcaller|\bthe (?:man|woman|guy|lady)\b",
)
RECENT: Final = _rx(
    r"刚认识|才认识|新认识|认识(?:没|不到|才)|网上认识|网恋|交友|婚恋|相亲|网友|男朋友|女朋友|"
    r"对象|男友|女友|干儿子|干女儿|在网上.{0,6}(?:认识|聊)|微信上.{0,6}(?:认识|聊)",
    r"\bmet (?:him|her|them|online|on|recently|last|a few|two|three|\d)|\bonline (?:friend|"
    r"boyfriend|girlfriend)|\bboyfriend|\bgirlfriend|\bdating|\bnew friend|"
    r"\bsomeone i (?:met|know from)|\bnever met",
)
FEE_FIRST: Final = _rx(
    r"先.{0,6}(?:交|付|转|缴|打).{0,8}(?:保证金|手续费|解冻费|税|押金|工本费|"
    r"激活费|会员费|认证费|钱)|才能(?:放款|提现|到账|领奖|拿到|解冻)|中奖|抽奖|刷流水|验资|贷款.{0,8}(?:保证金|解冻|激活)",
    r"\bwon\b|\bprize|\blottery|\bjackpot|\b(?:pay|send|transfer)\b.{0,25}\b(?:fee|tax|deposit)"
    r"\b.{0,25}\b(?:first|before|to (?:release|unlock|get))|\bunlock (?:the |my )?loan|"
    r"\bprocessing fee|\bactivation fee",
)
RELATIVE: Final = _rx(
    r"孙子|孙女|外孙|儿子|女儿|侄子|外甥|亲戚|老同学|战友|朋友|熟人|家里人",
    r"\bgrand(?:son|daughter|child)|\bson\b|\bdaughter|\bnephew|\bniece|\brelative|"
    r"\bold friend|\bcousin",
)
EMERGENCY: Final = _rx(
    r"出事|出车祸|撞(?:了|人)|被抓|被拘|住院|急需|急用|赶紧|马上要|保释|打架|手术|赔人家|"
    r"换了(?:新)?(?:号|微信)|新号码|新微信",
    r"\baccident|\barrested|\bjail|\bbail|\bhospital|\burgent(?:ly)?|\bemergency|"
    r"\bin trouble|\bnew (?:number|phone)|\bright away|\bimmediately",
)
REMOTE: Final = _rx(
    r"屏幕共享|共享屏幕|远程|下载.{0,8}(?:APP|软件|应用)|(?:会议|视频会议).{0,6}(?:号|软件)|"
    r"开会议|点(?:了)?链接|装了.{0,6}(?:APP|软件)",
    r"\bscreen ?shar|\bshare (?:my|the) screen|\bremote (?:access|control|desktop)|"
    r"\binstall(?:ed)?\b.{0,20}\b(?:app|software)|\bdownload(?:ed)?\b.{0,20}\b(?:app|software)|"
    r"\banydesk|\bteamviewer|\bclick(?:ed)? (?:a|the) link",
)
SECRET: Final = _rx(
    r"(?:不要|别|不能|不许|不让|不准).{0,6}(?:告诉|跟|和|说|讲|透露).{0,8}(?:任何人|别人|家人|"
    r"家里|银行|柜员|工作人员|子女|老伴|儿子|女儿)|保密|不能(?:说|讲)出去|"
    r"(?:不要|别|不能)(?:相信|信).{0,4}(?:银行|柜员|工作人员|警察)|银行.{0,4}不安全",
    r"\b(?:don'?t|do not|not to|never|mustn'?t|shouldn'?t)\b.{0,10}\b(?:tell|mention|say)\b"
    r".{0,30}\b(?:anyone|anybody|family|bank|teller|staff|wife|husband|children|kids|son|"
    r"daughter)|\bkeep (?:it|this) (?:a )?secret|\bconfidential|"
    r"\b(?:don'?t|do not|not to|never)\b.{0,6}\btrust\b.{0,20}\b(?:bank|teller|staff)",
)
# Money handed to an official: the police, courts and customs never take a customer's money.
TO_OFFICIAL: Final = _rx(
    r"(?:交给|给|转给|打给|汇给|存到|转到).{0,10}(?:警察|公安|民警|警官|法官|检察官|海关)",
    r"\b(?:give|hand|send|pay|transfer|deposit)\b.{0,30}\b(?:police|officer|detective|judge|"
    r"prosecutor|customs)",
)


# How staff see each pattern named (console alert, teller guidance).
LABELS: Final[dict[str, str]] = {
    "safe_account": "安全账户",
    "impersonation": "冒充公检法/客服/领导",
    "investment": "投资理财诈骗",
    "refund": "虚假退款理赔",
    "code_request": "索要验证码",
    "recent_acquaintance": "新结识的人要钱",
    "advance_fee": "先交费后放款/领奖",
    "relative_emergency": "冒充亲友急用钱",
    "remote_control": "远程控制/屏幕共享",
    "secrecy": "要求保密",
    "reported": "客户报称被骗",
}


@dataclass(frozen=True)
class ScamRule:
    """One pattern: every part must be in the turn."""

    kind: ScamKind
    parts: tuple[re.Pattern[str], ...]


# Every rule in one table: who + what they ask. Ordered so the most specific names the kind.
RULES: Final[tuple[ScamRule, ...]] = (
    ScamRule("safe_account", (SAFE_ACCOUNT,)),
    ScamRule("code_request", (CODE, ASKS_FOR)),
    ScamRule("remote_control", (REMOTE, PAY)),
    ScamRule("remote_control", (REMOTE, AUTHORITY)),
    ScamRule("refund", (REFUND, PAY, CONTACT)),
    ScamRule("refund", (REFUND, CODE)),
    ScamRule("investment", (GROUP, HIGH_RETURN)),
    ScamRule("advance_fee", (FEE_FIRST, PAY)),
    ScamRule("relative_emergency", (RELATIVE, EMERGENCY, PAY)),
    ScamRule("recent_acquaintance", (RECENT, PAY)),
    ScamRule("impersonation", (AUTHORITY, CONTACT, PAY)),
    ScamRule("impersonation", (AUTHORITY, THREAT)),
    ScamRule("impersonation", (CONTACT, THREAT, PAY)),
    ScamRule("impersonation", (TO_OFFICIAL,)),
    ScamRule("secrecy", (SECRET, PAY)),
)


@dataclass(frozen=True)
class ScamFinding:
    """What the customer's words describe, and which rule saw it."""

    kind: ScamKind
    source: Literal["rules", "router", "llm"] = "rules"


def normalise(text: str) -> str:
    """Full-width letters and digits folded (ＡＰＰ -> APP), case kept for the patterns."""
    return unicodedata.normalize("NFKC", text)


def detect(text: str) -> ScamFinding | None:
    """The first scam pattern the turn describes; None for an ordinary request."""
    said = normalise(text)
    for rule in RULES:
        if all(part.search(said) for part in rule.parts):
            return ScamFinding(rule.kind)
    return None
