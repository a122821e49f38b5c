"""Bundle slots on disk: install beside the active bundle, verify, refuse, switch atomically,
clean up after a crash, prune."""

from __future__ import annotations

from pathlib import Path

import pytest

from provisioning import manifest as m
from provisioning.slots import BundleSlots, SlotError, refusals
from tests.bundles import MODELS, deliver, knowledge, model


def _slots(tmp_path: Path) -> BundleSlots:
    slots = BundleSlots(tmp_path / "bundles", MODELS)
    slots.prepare()
    return slots


def _install(slots: BundleSlots, tmp_path: Path, bundle: str, version: int) -> Path:
    build = tmp_path / f"build-{bundle}"
    knowledge(build, version)
    return slots.install(bundle, deliver(slots.root, bundle, build))


def test_install_is_a_whole_model_root_sharing_unchanged_files(tmp_path: Path) -> None:
    slots = _slots(tmp_path)
    root = _install(slots, tmp_path, "b1", 1)
    assert slots.arrived() == []  # the inbox copy is gone once installed
    assert (root / "kb-branch" / "notice.md").is_file()
    factory_vad = MODELS / "silero-vad" / "silero_vad_v6.onnx"
    linked = root / "silero-vad" / "silero_vad_v6.onnx"
    assert linked.stat().st_ino == factory_vad.stat().st_ino  # a hard link, not a copy
    assert slots.components("b1")["kb-branch"] is not None
    assert slots.components("b1")["whisper-base"] is None  # factory: no manifest
    assert slots.active_bundle() == ""  # installing changes nothing live


def test_switch_replaces_the_pointer_and_remembers_the_previous(tmp_path: Path) -> None:
    slots = _slots(tmp_path)
    _install(slots, tmp_path, "b1", 1)
    assert slots.switch("b1").previous == ""
    assert slots.active_bundle() == "b1" and slots.active_root() == slots.installed / "b1"
    _install(slots, tmp_path, "b2", 2)
    assert slots.switch("b2").previous == "b1"
    assert slots.pointer() is not None and slots.pointer().previous == "b1"  # type: ignore[union-attr]
    slots.switch("")  # back to the factory models
    assert slots.active_bundle() == "" and slots.active_root() == MODELS
    with pytest.raises(SlotError, match="not installed"):
        slots.switch("b9")


def test_verification_names_tampering_and_refuses_old_or_too_new(tmp_path: Path) -> None:
    slots = _slots(tmp_path)
    slots.switch("")
    root = _install(slots, tmp_path, "b1", 5)
    assert refusals(root, ["kb-branch"], {}, "0.1.0") == []
    (root / "kb-branch" / "notice.md").write_text("tampered", encoding="utf-8")
    installed = {"kb-branch": m.read(root / "kb-branch")}
    found = refusals(root, ["kb-branch"], installed, "0.1.0")
    assert "kb-branch/notice.md: " in found[0]  # size (or hash) differs from the manifest
    assert "kb-branch: version 5 is not newer than the installed 5" in found
    build = tmp_path / "future"
    model(build, "silero-vad", "vad", 1)
    too_new = build / "silero-vad"
    man = m.read(too_new)
    m.write(
        too_new,
        m.ComponentManifest(
            name=man.name, kind=man.kind, version=1, min_service_version="9.0.0", files=man.files
        ),
    )
    assert refusals(build, ["silero-vad"], {}, "0.1.0") == [
        "silero-vad: needs service 9.0.0, this box runs 0.1.0"
    ]
    assert refusals(build, ["nothing"], {}, "0.1.0")[0].startswith("nothing: ")


def test_a_half_done_install_is_removed_at_start(tmp_path: Path) -> None:
    slots = _slots(tmp_path)
    (slots.installed / "b1.partial" / "kb-branch").mkdir(parents=True)
    (slots.root / "active.json.tmp").write_text("{half")
    assert slots.prepare() == ["b1.partial"]
    assert list(slots.installed.iterdir()) == [] and slots.active_bundle() == ""


def test_a_torn_pointer_falls_back_to_the_factory_models(tmp_path: Path) -> None:
    slots = _slots(tmp_path)
    (slots.root / "active.json").write_text('{"bundle": "b')
    assert slots.pointer() is None and slots.active_root() == MODELS


def test_bad_ids_and_reinstalls_are_refused(tmp_path: Path) -> None:
    slots = _slots(tmp_path)
    with pytest.raises(SlotError, match="not a bundle id"):
        slots.install("../evil", tmp_path)
    _install(slots, tmp_path, "b1", 1)
    with pytest.raises(SlotError, match="already installed"):
        _install(slots, tmp_path, "b1", 2)


def test_prune_keeps_the_active_and_previous_bundles(tmp_path: Path) -> None:
    slots = _slots(tmp_path)
    for n in range(1, 5):
        _install(slots, tmp_path, f"b{n}", n)
        slots.switch(f"b{n}")
    assert sorted(slots.prune(keep=2)) == ["b1", "b2"]
    assert sorted(p.name for p in slots.installed.iterdir()) == ["b3", "b4"]
