"""Customers' names where they introduce themselves: "我叫张伟", "户名是李娜", "my name is Li Na".

A name with no cue around it cannot be told from other words without a model, so this masks
the names a customer states as a name, which is where the kiosk hears them (forms, the account
holder of a transfer, "who is this for"). The surname's first character or the first letter
of each English word stays, as on a receipt: 张*, 欧阳**, L* N*.
"""

from __future__ import annotations

import re
from typing import Final

MASK: Final = "*"

# The commonest surnames (about 85% of people): "我是" + one of these starts a name, where
# "我是来办卡的" does not.
COMMON_SURNAMES: Final = frozenset(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏"
    "魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚"
    "邵万钱严覃武戴莫孔向汤常温康施文牛樊葛邢安齐易乔伍庞颜倪庄聂章鲁岳翟殷詹申欧耿关兰焦俞左"
    "柳甘祝包宁尚符舒阮柯纪梅童凌毕单季裴霍涂成苗谷盛曲翁冉骆蓝路游辛靳管柴蒙鲍华喻祁蒲房滕屈"
    "饶解牟艾尤阳时穆农司卓古吉缪简车项连芦麦褚娄窦戚岑景党宫费卜冷晏席卫米柏宗瞿桂全佟应臧闵"
    "苟邬边卞姬师和仇栾隋商刁沙荣巫寇桑郎甄丛仲虞敖巩明佘池查麻苑迟邝"
)
COMPOUND_SURNAMES: Final = (
    "欧阳",
    "司马",
    "上官",
    "诸葛",
    "东方",
    "皇甫",
    "尉迟",
    "公孙",
    "慕容",
    "令狐",
    "夏侯",
    "长孙",
    "宇文",
    "司徒",
)
_HAN: Final = r"[\u4e00-\u9fff]"
_FUNCTION_WORDS: Final = frozenset("和时应全向")  # surnames too, but "姓名和身份证" is no name
_SURNAME: Final = (
    rf"(?:{'|'.join(COMPOUND_SURNAMES)}|[{''.join(sorted(COMMON_SURNAMES - _FUNCTION_WORDS))}])"
)
# "我叫" / "名字是" then any name (up to 4 characters); "户名", "姓名", "我是" and the like
# only before a known surname ("请提供姓名和身份证" names no one).
_ZH_CUE: Final = re.compile(
    rf"(?:我叫|我的名字是|我的名字叫|名字是|名字叫|姓名是|户名是|收款人是)[\s:：]*"
    rf"(?P<name>{_HAN}{{2,4}})"
)
_ZH_SELF: Final = re.compile(
    rf"(?:我是|本人是|本人|姓名|户名|收款人|叫做)[\s:：]*(?P<name>{_SURNAME}{_HAN}{{1,2}})"
)
_NOT_NAME_TAIL: Final = "的了吗呢吧啊呀想要来去在办是和跟给"
_EN_STOP: Final = frozenset(
    "and but i my is from the a an to please here calling speaking with of for at in on it "
    "that this so i'm im and, thanks thank you yes no not just".split()
)
_EN_CUE: Final = re.compile(
    r"(?i:\b(?:my name is|my name's|name is|name's|i am called|i'm called|"
    r"account holder is|account name is|payee is|recipient is|the name on it is))\s+"
    r"(?P<name>[A-Za-z][A-Za-z'\-]*(?:\s+[A-Za-z][A-Za-z'\-]*){0,2})"
)


def _mask_zh(name: str) -> str:
    keep = 2 if name[:2] in COMPOUND_SURNAMES else 1
    body = name.rstrip(_NOT_NAME_TAIL) if len(name) > keep + 1 else name
    return name[:keep] + MASK * (len(body) - keep) + name[len(body) :]


def _mask_en(words: str) -> str:
    out: list[str] = []
    for word in words.split():
        if word.lower().strip(",.") in _EN_STOP:
            break
        out.append(word[0] + MASK * (len(word) - 1))
    masked = " ".join(out)
    if not out:
        return words
    rest = words.split()[len(out) :]
    return " ".join([masked, *rest]) if rest else masked


def mask_names(text: str) -> str:
    """Mask the names a customer states as names (Mandarin and English cues)."""
    text = _ZH_CUE.sub(
        lambda m: m.group()[: m.start("name") - m.start()] + _mask_zh(m.group("name")), text
    )
    text = _ZH_SELF.sub(
        lambda m: m.group()[: m.start("name") - m.start()] + _mask_zh(m.group("name")), text
    )
    return _EN_CUE.sub(
        lambda m: m.group()[: m.start("name") - m.start()] + _mask_en(m.group("name")), text
    )
