"""Test helpers: real component folders (real models, real documents, real manifests)
staged into a box's inbox the way the trust client will (a dot-name, then a rename)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from provisioning import manifest as m
from provisioning.slots import link_tree
from tests.conftest import REPO

MODELS = REPO / "models"
NOTICE = """---
title: 网点公告
version: {version}.0
effective_date: 2026-12-01
audience: customer
lang: zh
---

# 网点公告

## 外币预约
本网点自十二月起提供外币现钞预约服务，预约口令为蓝鲸{version}号，请提前一天预约。
"""


def component(
    folder: Path, name: str, kind: m.ComponentKind, version: int, min_service: str = "0.1.0"
) -> Path:
    """Write folder/component.json describing the files already in folder."""
    m.write(
        folder,
        m.ComponentManifest(
            name=name,
            kind=kind,
            version=version,
            min_service_version=min_service,
            files=m.describe_files(folder),
        ),
    )
    return folder


def knowledge(into: Path, version: int, name: str = "kb-branch") -> Path:
    """A knowledge pack with one real document whose text names its version."""
    folder = into / name
    folder.mkdir(parents=True)
    (folder / "notice.md").write_text(NOTICE.format(version=version), encoding="utf-8")
    return component(folder, name, "knowledge", version)


def model(into: Path, name: str, kind: m.ComponentKind, version: int) -> Path:
    """A copy (hard links) of a real model folder from models/, with a manifest."""
    folder = into / name
    link_tree(MODELS / name, folder)
    return component(folder, name, kind, version)


def router(into: Path, version: int) -> Path:
    """The real trained router (models/router), as a component."""
    return model(into, "router", "router", version)


def deliver(slots_root: Path, bundle: str, build: Path) -> Path:
    """Move a built bundle folder into the box's inbox atomically."""
    inbox = slots_root / "inbox"
    inbox.mkdir(parents=True, exist_ok=True)
    hidden = inbox / f".{bundle}"
    shutil.move(str(build), hidden)
    os.replace(hidden, inbox / bundle)
    return inbox / bundle
