"""The component manifest: a folder verifies against it, and every kind of damage is named."""

from __future__ import annotations

from pathlib import Path

import pytest

from provisioning import manifest as m


def _component(tmp_path: Path) -> tuple[Path, m.ComponentManifest]:
    folder = tmp_path / "whisper-base"
    (folder / "sub").mkdir(parents=True)
    (folder / "model.bin").write_bytes(b"weights" * 1000)
    (folder / "sub" / "vocab.txt").write_text("你好\n")
    man = m.ComponentManifest(
        name="whisper-base", kind="stt", version=3, min_service_version="0.1.0",
        files=m.describe_files(folder), replaces=2,
    )
    m.write(folder, man)
    return folder, man


def test_round_trip_and_intact(tmp_path: Path) -> None:
    folder, man = _component(tmp_path)
    assert m.read(folder) == man
    assert m.problems(folder, man) == []
    assert man.total_bytes == 7000 + len("你好\n".encode())


def test_every_kind_of_damage_is_named(tmp_path: Path) -> None:
    folder, man = _component(tmp_path)
    (folder / "model.bin").write_bytes(b"Weights" * 1000)  # same size, other bytes
    (folder / "sub" / "vocab.txt").unlink()
    (folder / "extra.onnx").write_bytes(b"x")
    found = m.problems(folder, man)
    assert found == [
        "model.bin: sha256 differs from the manifest",
        "sub/vocab.txt: missing",
        "extra.onnx: not in the manifest",
    ]


def test_truncated_file_caught_without_hashing(tmp_path: Path) -> None:
    folder, man = _component(tmp_path)
    (folder / "model.bin").write_bytes(b"weights")
    assert m.problems(folder, man, hashes=False) == ["model.bin: 7 bytes, manifest says 7000"]


def test_path_escaping_the_folder_is_refused(tmp_path: Path) -> None:
    folder, _ = _component(tmp_path)
    evil = m.ComponentManifest(
        name="x", kind="stt", version=1, min_service_version="0.1.0",
        files={"../../etc/passwd": m.FileEntry(size=1, sha256="0" * 64)},
    )
    assert m.problems(folder, evil)[0] == "../../etc/passwd: path leaves the component folder"


def test_malformed_manifests_give_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(m.ManifestError, match="not JSON"):
        m.decode(b"{not json")
    with pytest.raises(m.ManifestError, match="malformed"):
        m.decode(b'{"name": "x", "kind": "firmware", "version": 1, '
                 b'"min_service_version": "0.1", "files": {}}')
    with pytest.raises(m.ManifestError, match=r"no component\.json"):
        m.read(tmp_path)


def test_canonical_encoding_is_stable(tmp_path: Path) -> None:
    _, man = _component(tmp_path)
    assert m.encode(man) == m.encode(m.decode(m.encode(man)))
    assert m.version_tuple("0.10.2") > m.version_tuple("0.9.9")
    with pytest.raises(m.ManifestError):
        m.version_tuple("latest")


def test_every_kind_has_a_signing_role() -> None:
    assert set(m.SIGNING_ROLE) == set(m.COMPONENT_KINDS)
    assert m.SIGNING_ROLE["knowledge"] != m.SIGNING_ROLE["llm"]
