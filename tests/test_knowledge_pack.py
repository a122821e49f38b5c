"""The sample branch pack: valid front matter, marked as fiction, one set of numbers throughout."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from intents.knowledge.documents import AUDIENCES, split_front_matter
from intents.knowledge.render import SAMPLE_PACK_DIR

PACK_FILES = sorted(SAMPLE_PACK_DIR.rglob("*.md"))
NOTICE = "示例银行 城东支行 (Sample Bank, Chengdong Sub-branch)"


def _zh_text() -> str:
    return "\n".join(p.read_text(encoding="utf-8") for p in PACK_FILES if p.parent.name != "en")


def test_pack_size_is_what_the_issue_asks() -> None:
    zh = [p for p in PACK_FILES if p.parent.name != "en"]
    en = [p for p in PACK_FILES if p.parent.name == "en"]
    assert 15 <= len(PACK_FILES) <= 26  # 26: teller_guidance.md (issue 15, teller guidance)
    assert len(en) >= 5
    assert {p.name for p in en} <= {p.name for p in zh}, "every English doc translates a zh one"


@pytest.mark.parametrize("path", PACK_FILES, ids=lambda p: p.relative_to(SAMPLE_PACK_DIR).as_posix())
def test_every_file_is_marked_fictional_and_has_full_front_matter(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert NOTICE in text.splitlines()[0]
    notice, meta, body = split_front_matter(text)
    assert NOTICE in notice
    assert meta["title"] and meta["version"]
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", meta["effective_date"])
    assert meta["audience"] in AUDIENCES
    assert meta["lang"] == ("en" if path.parent.name == "en" else "zh")
    assert body.lstrip().startswith("# ")


def test_translations_carry_the_same_version() -> None:
    for en in (p for p in PACK_FILES if p.parent.name == "en"):
        zh = SAMPLE_PACK_DIR / en.name
        assert split_front_matter(en.read_text())[1]["version"] == \
            split_front_matter(zh.read_text())[1]["version"], en.name


def test_staff_only_documents_exist_for_the_audience_filter() -> None:
    staff = {p.name for p in PACK_FILES
             if split_front_matter(p.read_text())[1]["audience"] == "staff"}
    assert {"large_value_rules.md", "anti_fraud_scripts.md",
            "small_business_loan_review.md"} <= staff


def test_small_business_loan_doc_has_eligibility_cases_and_risk_note() -> None:
    text = (SAMPLE_PACK_DIR / "small_business_loan.md").read_text()
    assert "## 准入条件" in text and "## 相关案例" in text
    assert len(re.findall(r"案例[一二三四]：", text)) >= 2
    assert "risk_note:" in text


# Every statement of one fact, in every zh file, must give the same number: the grounding
# guard checks an answer's numbers against whichever passage it cites.
FACTS = [
    (r"起存金额：(\d+) 万元|(\d+) 万元起存", "20"),
    (r"口头挂失有效期 (\d+) 天", "5"),
    (r"正式挂失[^，。]{0,12}?(\d+) 元", "10"),
    (r"(?:补卡|工本费)[^，。]{0,12}?每张 (\d+) 元|新卡（工本费 (\d+) 元）", "5"),
    (r"存款证明每份 (\d+) 元|存款证明：每份 (\d+) 元", "20"),
    (r"柜面打印(?:流水)?[：:]?每份 (\d+) 元", "5"),
    (r"U ?盾[^。]{0,6}?每个 (\d+) 元", "40"),
    (r"取现(?:金额)?(?:达到)? ?(\d+) 万元（含）以上", "5"),
    (r"电讯费每笔 (\d+) 元", "150"),
    (r"最低 (\d+) 元、最高 \d+ 元", "50"),
    (r"最低 \d+ 元、最高 (\d+) 元", "260"),
    (r"客服热线 ?(400-\d{3}-\d{4})", "400-000-0000"),
    (r"便利化购汇额度为等值 (\d+) 万美元", "5"),
    (r"最高偿付限额为人民币 (\d+) 万元", "50"),
    (r"最高 (\d+) 万元", "300"),
    (r"实际经营满 (\d+) 年", "2"),
]


@pytest.mark.parametrize(("pattern", "expected"), FACTS)
def test_numbers_agree_across_the_pack(pattern: str, expected: str) -> None:
    found = [m if isinstance(m, str) else next(g for g in m if g)
             for m in re.findall(pattern, _zh_text())]
    assert found, f"fact not stated anywhere: {pattern}"
    assert set(found) == {expected}, found


def test_benchmark_questions_point_at_real_sources_sections_and_intents() -> None:
    import csv

    from intents.knowledge.chunker import chunk_document
    from intents.knowledge.documents import discover_files, load_document
    from intents.understanding.catalog import INTENT_IDS

    sections: dict[str, set[str]] = {}
    for source, path in discover_files([SAMPLE_PACK_DIR]):
        doc = load_document(source, path, path.read_bytes())
        sections[source] = {p.section for p in chunk_document(doc)}
    tsv = SAMPLE_PACK_DIR.parents[2] / "bench" / "data" / "kb_questions.tsv"
    with tsv.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    assert len(rows) >= 40
    assert {r["lang"] for r in rows} == {"zh", "en"}
    assert len({r["id"] for r in rows}) == len(rows)
    for row in rows:
        assert row["intent"] in INTENT_IDS, row["id"]
        assert row["audience"] in AUDIENCES, row["id"]
        expected = row["expected_source"].split("|")
        assert all(s in sections for s in expected), row["id"]
        wanted = {s for s in row["expected_section"].split("|") if s}
        assert not wanted or wanted & set().union(*(sections[s] for s in expected)), row["id"]
