"""Helpers for the benchmarks: where the shared evaluation data lives, and table printing."""

from __future__ import annotations

import os
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from a checkout without installing
#: evaluation data kept beside the project, never copied into it
DATA = Path(os.environ.get("BABELDESK_EVAL_DATA", ROOT.parent / "shared" / "data"))

ISO3 = {"eng": "en", "spa": "es", "fra": "fr", "deu": "de", "ita": "it", "por": "pt",
        "nld": "nl", "pol": "pl", "rus": "ru", "ukr": "uk", "tur": "tr", "ara": "ar",
        "heb": "he", "hin": "hi", "jpn": "ja", "kor": "ko", "cmn": "zh", "vie": "vi",
        "ind": "id", "swe": "sv"}


def table(headers: list[str], rows: list[list]) -> str:
    cells = [[str(h) for h in headers]] + [[_fmt(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in
                       enumerate(zip(row, widths))) for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def summary(values: list[float]) -> tuple[float, float, float]:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]
    return statistics.median(ordered), p95, ordered[-1]
