"""Customer mood from words: misses and false alerts on the phrase table; writes mood.json.

The table (bench/data/mood_phrases.tsv) holds upset and confused turns in Mandarin and English
and as many calm look-alikes. A miss is an upset or confused turn read as calm (or as the other
mood); a false alert is a calm turn read as upset or confused (it would alert the lobby
manager). tests/test_mood.py runs the same table and holds the same rates.
Run: .venv/bin/python bench/mood_bench.py [--out bench/results/mood.json]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from intents.understanding.mood import read_mood  # noqa: E402

TABLE = ROOT / "bench" / "data" / "mood_phrases.tsv"


def read_table(path: Path = TABLE) -> list[tuple[str, str, str]]:
    """(mood, language, text) rows of the phrase table."""
    lines = [line for line in path.read_text("utf-8").splitlines() if not line.startswith("#")]
    return [(r["mood"], r["lang"], r["text"]) for r in csv.DictReader(lines, delimiter="\t")]


def score(rows: list[tuple[str, str, str]]) -> dict[str, Any]:
    """Misses, wrong moods and false alerts, per language and overall."""
    out: dict[str, Any] = {}
    for lang in ("zh", "en", "all"):
        picked = [r for r in rows if lang in ("all", r[1])]
        moody = [r for r in picked if r[0] != "calm"]
        calm = [r for r in picked if r[0] == "calm"]
        misses = [t for m, _, t in moody if read_mood(t).mood == "calm"]
        wrong = [t for m, _, t in moody if read_mood(t).mood not in ("calm", m)]
        alerts = [t for _, _, t in calm if read_mood(t).needs_care]
        out[lang] = {
            "upset_or_confused": len(moody),
            "calm_lookalikes": len(calm),
            "missed": len(misses),
            "miss_rate": round(len(misses) / max(1, len(moody)), 4),
            "wrong_mood": len(wrong),
            "false_alerts": len(alerts),
            "false_alert_rate": round(len(alerts) / max(1, len(calm)), 4),
            "missed_turns": misses,
            "false_alert_turns": alerts,
            "wrong_mood_turns": wrong,
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "mood.json")
    args = parser.parse_args()
    rows = read_table()
    result = score(rows)
    started = time.perf_counter()
    rounds = 200
    for _ in range(rounds):
        for _, _, text in rows:
            read_mood(text)
    per_turn_us = (time.perf_counter() - started) / (rounds * len(rows)) * 1e6
    result["timing"] = {
        "per_turn_us": round(per_turn_us, 2),
        "turns": rounds * len(rows),
        "load_average": list(os.getloadavg()),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "note": "wall time on a shared, loaded machine",
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n", "utf-8")
    a = result["all"]
    print(
        f"{a['upset_or_confused']} upset/confused, {a['calm_lookalikes']} calm: "
        f"missed {a['missed']}, wrong mood {a['wrong_mood']}, false alerts {a['false_alerts']} "
        f"({a['false_alert_rate']:.1%}); {per_turn_us:.1f} us a turn"
    )


if __name__ == "__main__":
    main()
