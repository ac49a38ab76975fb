"""How far a lower precision moves a model's scores from its float32 ones.

Shared by bench/onnx_bench.py (ONNX exports on the CPU) and bench/gpu_bench.py
(half-precision weights on the device). Measured on the tests' tiny BERT trained on the
seed corpus (tests/tiny_model.py), whose scores spread from 0 to 1: random weights give
scores all near one value, which hides where rounding moves a score across the range.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np

from moderation.scoring.toxicity import ToxicityModel

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the tests' tiny-model builder, shared rather than copied
from tests.tiny_model import make_trained_checkpoint  # noqa: E402

Matrix = np.ndarray[Any, np.dtype[np.float64]]

HEADER = (
    f"| {'runtime':<26} | {'max diff':>8} | {'p99 diff':>8} | {'mean diff':>9} "
    f"| {'flipped at 0.5':>14} |"
)


def trained_tiny(folder: Path) -> Path:
    """A models folder holding the trained tiny BERT as `original`; returns the folder."""
    make_trained_checkpoint(folder)
    return folder


def scores(model: ToxicityModel, texts: list[str]) -> Matrix:
    """Every label's score for every text (one row per text), in claims of 32."""
    found: list[dict[str, float]] = []
    for start in range(0, len(texts), 32):
        found += model.predict(texts[start : start + 32])
    return np.array([[row[label] for label in model.labels] for row in found])


def print_header() -> None:
    print(HEADER)
    print("|" + "|".join("-" * len(cell) for cell in HEADER.split("|")[1:-1]) + "|")


def print_row(label: str, found: Matrix, reference: Matrix) -> None:
    """The largest, 99th-percentile and mean absolute difference, and the scores that
    land on the other side of 0.5."""
    difference = np.abs(found - reference)
    flipped = int(((found >= 0.5) != (reference >= 0.5)).sum())
    print(
        f"| {label:<26} | {difference.max():>8.4f} | {np.percentile(difference, 99):>8.4f} "
        f"| {difference.mean():>9.5f} | {flipped:>14} |"
    )


def print_spread(reference: Matrix) -> None:
    toxicity = reference[:, 0]
    print(
        f"float32 scores (toxicity label): min {toxicity.min():.3f}, max {toxicity.max():.3f}, "
        f"standard deviation {toxicity.std():.3f}"
    )
