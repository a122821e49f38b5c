"""Knowledge hub with BM25 alone: chunking, search, audience filter, incremental reindex."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from intents.knowledge.chunker import chunk_document
from intents.knowledge.documents import DocumentError, load_document, parse_markdown
from intents.knowledge.hub import KnowledgeHub, ReindexProgress
from intents.knowledge.render import (
    SAMPLE_PACK_DIR,
    render_progress,
    render_report,
    render_results,
)
from intents.knowledge.tokens import tokenize


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> KnowledgeHub:
    hub = KnowledgeHub.open(tmp_path_factory.mktemp("kb"))
    report = hub.reindex([SAMPLE_PACK_DIR])
    assert not report.errors
    return hub


@pytest.fixture
def pack(tmp_path: Path) -> Path:
    copy = tmp_path / "sample_branch"
    shutil.copytree(SAMPLE_PACK_DIR, copy)
    return copy


DOC = """Sample notice line
---
title: 测试文档
version: 1.0
effective_date: 2026-01-01
audience: customer
risk_note: 注意风险
---

# 测试文档

## 第一节
第一节内容。

### 子节
子节内容。

## 第二节
第二节内容。
"""


def test_chunker_follows_headings_and_keeps_metadata() -> None:
    doc = parse_markdown("folder/test.md", DOC)
    passages = chunk_document(doc)
    assert [p.section for p in passages] == ["第一节", "第一节 > 子节", "第二节"]
    assert [p.text for p in passages] == ["第一节内容。", "子节内容。", "第二节内容。"]
    first = passages[0]
    assert (first.source, first.title, first.version) == ("folder/test.md", "测试文档", "1.0")
    assert (first.effective_date, first.audience, first.risk_note) == (
        "2026-01-01", "customer", "注意风险")
    assert doc.notice == "Sample notice line"
    assert len({p.passage_id for p in passages}) == 3


def test_long_section_is_split_at_line_boundaries() -> None:
    items = "\n".join(f"- 第{n}条规定，内容较长的一行文字。" for n in range(80))
    doc = parse_markdown("x.md", f"# T\n\n## 长节\n{items}\n")
    passages = chunk_document(doc, max_chars=200)
    assert len(passages) > 1
    assert all(len(p.text) <= 200 for p in passages)
    assert all(line.startswith("- 第") for p in passages for line in p.text.splitlines())
    assert sum(len(p.text.splitlines()) for p in passages) == 80


def test_markdown_without_front_matter_is_staff_only_and_titled_by_h1() -> None:
    doc = parse_markdown("x.md", "# 内部通知\n\n正文\n\n---\n\n更多正文\n")
    assert (doc.title, doc.audience) == ("内部通知", "staff")


@pytest.mark.parametrize("text", [
    "---\ntitle: x\nversion: 1\n",  # never closed
    "---\ntitle: x\nversion: 1\neffective_date: 2026-01-01\naudience: everyone\n---\n# x\nbody",
    "---\ntitle: x\nversion: 1\neffective_date: 1/1/2026\naudience: staff\n---\n# x\nbody",
    "---\ntitle: x\n---\n# x\nbody",  # missing keys
    "---\ntitle: x\nversion: 1\neffective_date: 2026-01-01\naudience: staff\n---\n\n",  # empty
    "   \n",
])
def test_malformed_markdown_raises_document_error(text: str) -> None:
    with pytest.raises(DocumentError):
        parse_markdown("bad.md", text)


def test_non_utf8_text_is_a_document_error(tmp_path: Path) -> None:
    path = tmp_path / "gbk.txt"
    path.write_bytes("营业时间".encode("gbk"))
    with pytest.raises(DocumentError, match="UTF-8"):
        load_document("f/gbk.txt", path, path.read_bytes())


@pytest.mark.parametrize(("query", "source", "section"), [
    ("小微企业信用贷准入条件", "sample_branch/small_business_loan.md", "准入条件"),
    ("大额存单起存金额是多少", "sample_branch/time_deposits.md", "大额存单"),
    ("银行卡丢了怎么挂失", "sample_branch/faq.md", "银行卡丢了怎么办？"),
    ("how much does it cost to send money abroad",
     "sample_branch/en/fx_remittance.md", "Sending money abroad"),
])
def test_key_questions_find_the_right_source(hub: KnowledgeHub, query: str, source: str,
                                             section: str) -> None:
    top = hub.search(query, k=3, audience="customer")
    assert (top[0].source, top[0].section) == (source, section)


def test_small_business_question_brings_cases_and_risk_note(hub: KnowledgeHub) -> None:
    results = hub.search("小微企业信用贷准入条件", k=3, audience="staff")
    sections = {r.section for r in results if r.source.endswith("/small_business_loan.md")}
    assert {"准入条件", "相关案例"} <= sections
    assert "中介" in results[0].risk_note


def test_customers_never_get_staff_only_passages(hub: KnowledgeHub) -> None:
    internal = "小微企业信用贷 尽职调查 额度测算口径 预警信号"
    staff = hub.search(internal, k=5, audience="staff")
    assert staff[0].source == "sample_branch/small_business_loan_review.md"
    for query in (internal, "大额交易 二次复核", "安全账户 劝阻话术"):
        customer = hub.search(query, k=20, audience="customer")
        assert customer, query
        assert all(r.passage.audience == "customer" for r in customer)


def test_no_match_and_empty_index(hub: KnowledgeHub, tmp_path: Path) -> None:
    assert hub.search("   ") == []
    assert hub.search("zzqx") == []
    assert KnowledgeHub.open(tmp_path / "empty").search("营业时间") == []


def test_reindex_reports_progress_for_every_file(pack: Path, tmp_path: Path) -> None:
    steps: list[ReindexProgress] = []
    report = KnowledgeHub.open(tmp_path / "kb").reindex([pack], progress=steps.append)
    total = len(list(pack.rglob("*.md")))
    assert [s.done for s in steps] == list(range(1, total + 1))
    assert {s.total for s in steps} == {total}
    assert len(report.added) == total and report.passages > 100
    assert render_progress(steps[0]).startswith(f"[1/{total}] indexed")


def test_reindex_is_incremental_and_persistent(pack: Path, tmp_path: Path) -> None:
    index = tmp_path / "kb"
    KnowledgeHub.open(index).reindex([pack])
    fees = pack / "fees.md"
    fees.write_text(fees.read_text().replace("U 盾：每个 40 元", "U 盾：每个 45 元"))
    (pack / "faq.md").unlink()
    hub = KnowledgeHub.open(index)  # a fresh process: state comes from disk
    assert len(hub.passages) > 100
    report = hub.reindex([pack])
    assert report.changed == ("sample_branch/fees.md",)
    assert report.removed == ("sample_branch/faq.md",)
    assert report.added == ()
    assert "sample_branch/fees.md" not in report.unchanged
    assert "45 元" in hub.search("U盾 多少钱", k=1)[0].text
    assert all(r.source != "sample_branch/faq.md" for r in hub.search("忘记密码", k=20))
    again = hub.reindex([pack])
    assert again.changed == again.added == again.removed == ()


def test_bad_files_are_reported_not_fatal(pack: Path, tmp_path: Path) -> None:
    (pack / "empty.md").write_text("")
    (pack / "headings.md").write_text("# 只有标题\n\n## 空节\n")
    (pack / "broken.md").write_text("---\ntitle: broken\nversion: 1\n")
    (pack / "notes.txt").write_text("分行内部备忘：周五下午盘点现金。\n\n第二段。")
    (pack / "image.png").write_bytes(b"\x89PNG")
    hub = KnowledgeHub.open(tmp_path / "kb")
    report = hub.reindex([pack, tmp_path / "unplugged_usb"])
    errors = dict(report.errors)
    assert errors.pop(str(tmp_path / "unplugged_usb")) == "folder not found"
    assert set(errors) == {"sample_branch/empty.md", "sample_branch/broken.md",
                           "sample_branch/headings.md"}
    assert "no text" in errors["sample_branch/empty.md"]
    assert "sample_branch/notes.txt" in report.added
    assert hub.search("小微企业信用贷准入条件", k=1)[0].section == "准入条件"
    assert hub.search("盘点现金", k=1, audience="staff")[0].source == "sample_branch/notes.txt"
    customer = hub.search("盘点现金", k=50, audience="customer")
    assert all(r.source != "sample_branch/notes.txt" for r in customer)
    assert "error: sample_branch/broken.md" in render_report(report)


def test_a_file_that_breaks_later_leaves_the_index(pack: Path, tmp_path: Path) -> None:
    hub = KnowledgeHub.open(tmp_path / "kb")
    hub.reindex([pack])
    (pack / "fees.md").write_text("")
    report = hub.reindex([pack])
    assert [s for s, _ in report.errors] == ["sample_branch/fees.md"]
    assert all(p.source != "sample_branch/fees.md" for p in hub.passages)


def test_render_results_shows_source_section_and_risk(hub: KnowledgeHub) -> None:
    text = render_results(hub.search("小微企业信用贷准入条件", k=2, audience="staff"))
    assert text.startswith("1. 小微企业信用贷产品手册")
    assert "source: sample_branch/small_business_loan.md § 准入条件  v2.3" in text
    assert "risk: 贷款资金须用于企业生产经营" in text
    assert "No passage found" in render_results([])


def test_search_knowledge_builds_the_index_under_data_dir(tmp_path: Path) -> None:
    from edge.config import load_config
    from edge.kb_cli import open_hub

    config = load_config(None, {"data_dir": str(tmp_path)})
    hub = open_hub(config, dense=False, show_progress=False)
    results = hub.search("小微企业信用贷准入条件", k=3, audience="staff")
    assert results[0].source == "sample_branch/small_business_loan.md"
    assert (tmp_path / "kb" / "manifest.json").is_file()


def _minimal_pdf(lines: list[str]) -> bytes:
    """A one-page PDF with Helvetica text, written by hand so the test needs no PDF writer."""
    stream = "BT /F1 12 Tf 72 720 Td " + " ".join(
        f"({line}) Tj 0 -16 Td" for line in lines) + " ET"
    objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources "
        "<< /Font << /F1 5 0 R >> >> /Contents 4 0 R >>",
        f"<< /Length {len(stream)} >>\nstream\n{stream}\nendstream",
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = b"%PDF-1.4\n"
    offsets = []
    for n, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{n} 0 obj\n{body}\nendobj\n".encode()
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += "".join(f"{o:010d} 00000 n \n" for o in offsets).encode()
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return out


def test_pdf_pages_become_staff_passages(tmp_path: Path) -> None:
    pytest.importorskip("pypdf")
    folder = tmp_path / "branch_pdfs"
    folder.mkdir()
    (folder / "vault.pdf").write_bytes(_minimal_pdf(["Vault inspection every Friday at 16:00"]))
    (folder / "broken.pdf").write_bytes(b"%PDF-1.4 not really")
    hub = KnowledgeHub.open(tmp_path / "kb")
    report = hub.reindex([folder])
    assert report.added == ("branch_pdfs/vault.pdf",)
    assert [s for s, _ in report.errors] == ["branch_pdfs/broken.pdf"]
    top = hub.search("vault inspection", k=1, audience="staff")[0]
    assert (top.source, top.section, top.passage.audience) == ("branch_pdfs/vault.pdf", "p. 1",
                                                              "staff")
    assert hub.search("vault inspection", audience="customer") == []


_LINE = st.text(alphabet="营业时间大额存单挂失补卡利率ABCabc0123 ，。", min_size=1, max_size=80)


@given(sections=st.lists(st.tuples(st.integers(2, 4), _LINE, st.lists(_LINE, max_size=8)),
                         min_size=1, max_size=6),
       limit=st.integers(40, 300))
def test_chunking_keeps_every_body_line_once_in_order(
        sections: list[tuple[int, str, list[str]]], limit: int) -> None:
    body = "".join(line for _, _, lines in sections for line in lines)
    markdown = "# 标题\n" + "".join(
        f"{'#' * level} {name.strip() or 'x'}\n" + "".join(f"{line}\n" for line in lines)
        for level, name, lines in sections)
    passages = chunk_document(parse_markdown("p.md", markdown), max_chars=limit)
    squeeze = str.maketrans("", "", " \n")
    assert "".join(p.text for p in passages).translate(squeeze) == body.translate(squeeze)
    assert all(len(p.text) <= limit for p in passages)
    assert all("标题" not in p.section.split(" > ")[:1] for p in passages)


def test_tokenize_segments_chinese_and_lowercases_english() -> None:
    terms = tokenize("请问小微企业信用贷的准入条件？What are the Fees for R4 funds")
    assert {"小微", "准入", "条件", "准入条件", "fee", "r4", "fund"} <= set(terms)
    assert not {"的", "请问", "what", "are", "the", "for"} & set(terms)
