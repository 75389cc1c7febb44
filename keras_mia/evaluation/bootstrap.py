"""Seeded percentile-bootstrap confidence intervals.

Each resample draws ``n`` indices with replacement from one ``numpy.random.Generator`` seeded
with ``seed``, so the same data, statistic and seed give the same interval on every machine.
A resample on which a statistic is undefined (``nan``, e.g. an AUC of a resample holding one
class only) is left out of that statistic's interval, and the number left out is reported.
"""

from __future__ import annotations

from typing import Callable, Mapping

import numpy as np

__all__ = ["bootstrap", "percentile_interval", "with_intervals"]

Statistic = Callable[[np.ndarray], Mapping[str, float]]


def bootstrap(statistic: Statistic, n: int, resamples: int, seed: int) -> dict[str, np.ndarray]:
    """Evaluates ``statistic`` on ``resamples`` bootstrap resamples of ``n`` items.

    Args:
        statistic: maps an index array (``n`` indices drawn with replacement) to a mapping
            metric name -> value (``nan`` when undefined on that resample).
        n: number of items (images or patients).
        resamples: number of resamples (0 gives empty arrays).
        seed: seeds the generator.

    Returns:
        metric name -> float array of its ``resamples`` values.

    Raises:
        ValueError: ``n < 1`` or ``resamples < 0``.
    """
    if n < 1:
        raise ValueError(f"bootstrap needs at least one item. Received: n={n}")
    if resamples < 0:
        raise ValueError(f"resamples must be >= 0. Received: resamples={resamples}")
    rng = np.random.default_rng(seed)
    values: dict[str, list[float]] = {}
    for _ in range(resamples):
        indices = rng.integers(0, n, size=n)
        for name, value in statistic(indices).items():
            values.setdefault(name, []).append(float(value))
    return {name: np.asarray(v, dtype=np.float64) for name, v in values.items()}


def percentile_interval(
    values: np.ndarray, confidence: float = 0.95
) -> tuple[float | None, float | None, int]:
    """The central ``confidence`` percentile interval of bootstrap values.

    Args:
        values: one statistic's resample values (``nan`` = undefined on that resample).
        confidence: e.g. 0.95 for the 2.5th and 97.5th percentiles.

    Returns:
        ``(low, high, undefined)``: the bounds (``None`` when fewer than two resamples were
        defined) and how many resamples were left out as undefined.

    Raises:
        ValueError: ``confidence`` is not in (0, 1).
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1). Received: confidence={confidence}")
    values = np.asarray(values, dtype=np.float64)
    defined = values[~np.isnan(values)]
    undefined = int(len(values) - len(defined))
    if len(defined) < 2:
        return None, None, undefined
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(defined, [tail, 100 - tail])
    return float(low), float(high), undefined


def with_intervals(
    point: Mapping[str, float],
    samples: Mapping[str, np.ndarray],
    names: tuple[str, ...] | list[str],
    confidence: float = 0.95,
) -> tuple[dict[str, dict[str, float | None]], dict[str, int]]:
    """Pairs point estimates with their bootstrap intervals.

    Args:
        point: metric name -> point estimate (``nan`` = undefined).
        samples: :func:`bootstrap`'s output.
        names: the metrics to report.
        confidence: the interval's coverage.

    Returns:
        ``(metrics, undefined)``: ``metrics[name] = {"value", "ci_low", "ci_high"}`` (``None``
        where undefined) and ``undefined[name]`` = resamples left out, for the metrics that
        lost any.
    """
    metrics: dict[str, dict[str, float | None]] = {}
    undefined: dict[str, int] = {}
    for name in names:
        value = point.get(name, float("nan"))
        low, high, missing = percentile_interval(
            samples.get(name, np.empty(0)), confidence
        )
        metrics[name] = {
            "value": None if value is None or np.isnan(value) else float(value),
            "ci_low": low,
            "ci_high": high,
        }
        if missing:
            undefined[name] = missing
    return metrics, undefined
