"""Evaluation figures as PNG files (matplotlib, object-oriented API, no global state).

Every figure has a title, labelled axes and a legend or colour bar where one is needed, and
is drawn at a size and font that read at a glance in a report. Functions take plain arrays
and write one file each; they never open windows (no ``pyplot``), so they run headless and in
parallel test workers.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Sequence

import numpy as np
from matplotlib.figure import Figure
from sklearn.metrics import precision_recall_curve, roc_curve

__all__ = [
    "plot_training_curves",
    "plot_roc",
    "plot_pr",
    "plot_confusion_matrix",
    "plot_examples",
    "plot_segmentation_overlays",
    "plot_heatmap",
    "display_range",
]

_DPI = 110
# Columns of history.csv that are not metrics.
_NOT_METRICS = {"epoch", "stage"}
_LEARNING_RATE = ("learning_rate", "lr")


def plot_training_curves(
    history_csv: str | Path, out_path: str | Path, title: str = "Training curves"
) -> Path | None:
    """Plots every metric of a ``history.csv`` per epoch: training solid, validation dashed.

    Fine-tuning stages (the ``stage`` column) are shaded alternately and labelled, so a jump
    where a stage unfreezes more layers is visible as such.

    Args:
        history_csv: the run's ``history.csv`` (Keras ``CSVLogger`` plus a ``stage`` column).
        out_path: the PNG to write.
        title: the figure title.

    Returns:
        The PNG written, or ``None`` when the file has no rows.
    """
    with open(history_csv, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        return None
    epochs = np.array([_number(r.get("epoch")) for r in rows]) + 1
    columns = list(rows[0].keys())
    bases = []
    for name in columns:
        base = name[4:] if name.startswith("val_") else name
        if base not in _NOT_METRICS and base not in bases:
            bases.append(base)
    # The learning rate goes last, on its own log-scaled panel.
    bases.sort(key=lambda b: (b in _LEARNING_RATE, b != "loss"))
    n = len(bases)
    cols = min(3, n)
    grid_rows = math.ceil(n / cols)
    fig = Figure(figsize=(5.0 * cols, 3.6 * grid_rows), dpi=_DPI, layout="constrained")
    stages = [_number(r.get("stage")) for r in rows] if "stage" in columns else None
    for i, base in enumerate(bases):
        ax = fig.add_subplot(grid_rows, cols, i + 1)
        if stages is not None:
            _shade_stages(ax, epochs, stages)
        for name, style, label in ((base, "-", "training"), (f"val_{base}", "--", "validation")):
            if name in columns:
                values = np.array([_number(r.get(name)) for r in rows])
                ax.plot(epochs, values, style, marker="o", markersize=3, label=label)
        if base in _LEARNING_RATE:
            ax.set_yscale("log")
        # Padded so the stage labels above the panel do not run into the title.
        ax.set_title(base.replace("_", " "), pad=14 if stages is not None else 6)
        ax.set_xlabel("epoch")
        ax.set_ylabel(base)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title, fontsize=13)
    return _save(fig, out_path)


def plot_roc(
    curves: Sequence[dict],
    out_path: str | Path,
    title: str = "ROC curve",
    operating_point: tuple[float, float] | None = None,
) -> Path:
    """ROC curves with each curve's AUC and confidence interval in the legend.

    Args:
        curves: dicts with ``label``, ``y_true`` (0/1), ``scores`` and optionally ``auc``
            (``{"value", "ci_low", "ci_high"}`` from a report).
        out_path: the PNG to write.
        title: the figure title.
        operating_point: ``(1 - specificity, sensitivity)`` of the chosen threshold, marked.

    Returns:
        The PNG written.
    """
    fig = Figure(figsize=(6.0, 5.6), dpi=_DPI, layout="constrained")
    ax = fig.add_subplot()
    for curve in curves:
        y_true = np.asarray(curve["y_true"])
        if not 0 < y_true.sum() < len(y_true):
            continue
        fpr, tpr, _ = roc_curve(y_true, curve["scores"])
        ax.plot(fpr, tpr, linewidth=2, label=_legend(curve["label"], "AUC", curve.get("auc")))
    ax.plot([0, 1], [0, 1], ":", color="grey", label="chance")
    if operating_point is not None:
        ax.plot(*operating_point, "k*", markersize=12, label="operating threshold")
    ax.set_xlim(-0.01, 1.01)
    ax.set_ylim(-0.01, 1.01)
    ax.set_xlabel("1 - specificity (false positive rate)")
    ax.set_ylabel("sensitivity (true positive rate)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    return _save(fig, out_path)


def plot_pr(curves: Sequence[dict], out_path: str | Path, title: str = "Precision-recall") -> Path:
    """Precision-recall curves with average precision and its interval in the legend.

    Args:
        curves: as for :func:`plot_roc`, with ``pr_auc`` instead of ``auc``.
        out_path: the PNG to write.
        title: the figure title.

    Returns:
        The PNG written.
    """
    fig = Figure(figsize=(6.0, 5.6), dpi=_DPI, layout="constrained")
    ax = fig.add_subplot()
    for curve in curves:
        y_true = np.asarray(curve["y_true"])
        if y_true.sum() == 0:
            continue
        precision, recall, _ = precision_recall_curve(y_true, curve["scores"])
        lines = ax.step(
            recall, precision, where="post", linewidth=2,
            label=_legend(curve["label"], "AP", curve.get("pr_auc")),
        )
        prevalence = float(y_true.mean())
        ax.axhline(prevalence, linestyle=":", color=lines[0].get_color(), alpha=0.7)
    ax.set_xlim(-0.01, 1.01)
    ax.set_ylim(-0.01, 1.01)
    ax.set_xlabel("recall (sensitivity)")
    ax.set_ylabel("precision (PPV)")
    ax.set_title(title + "  (dotted: prevalence)")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left", fontsize=8)
    return _save(fig, out_path)


def plot_confusion_matrix(
    matrix: Sequence[Sequence[int]],
    class_names: Sequence[str],
    out_path: str | Path,
    title: str = "Confusion matrix",
) -> Path:
    """A confusion matrix with counts and row percentages in every cell.

    Args:
        matrix: rows = true class, columns = predicted class.
        class_names: in index order.
        out_path: the PNG to write.
        title: the figure title.

    Returns:
        The PNG written.
    """
    matrix = np.asarray(matrix, dtype=np.int64)
    n = len(class_names)
    size = max(4.5, 1.1 * n + 2.5)
    fig = Figure(figsize=(size + 1.0, size), dpi=_DPI, layout="constrained")
    ax = fig.add_subplot()
    totals = matrix.sum(axis=1, keepdims=True)
    fractions = np.divide(matrix, totals, out=np.zeros(matrix.shape), where=totals > 0)
    image = ax.imshow(fractions, cmap="Blues", vmin=0, vmax=1)
    fig.colorbar(image, ax=ax, label="fraction of the true class")
    for i in range(n):
        for j in range(n):
            colour = "white" if fractions[i, j] > 0.5 else "black"
            ax.text(j, i, f"{matrix[i, j]}\n{100 * fractions[i, j]:.0f}%",
                    ha="center", va="center", color=colour, fontsize=9)
    ax.set_xticks(range(n), labels=[_short(c) for c in class_names], rotation=30, ha="right")
    ax.set_yticks(range(n), labels=[_short(c) for c in class_names])
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(title)
    return _save(fig, out_path)


def plot_examples(
    images: Sequence[np.ndarray],
    captions: Sequence[str],
    correct: Sequence[bool],
    out_path: str | Path,
    title: str = "Example predictions",
) -> Path:
    """A grid of images, each captioned with its truth, prediction and probability.

    Args:
        images: grey ``[H, W]`` images (any units; each is windowed to its 0.5-99.5
            percentiles for display).
        captions: one caption per image (e.g. ``"true: chest\\npred: chest (p=0.93)"``).
        correct: per image, whether the prediction was right (green or red caption).
        out_path: the PNG to write.
        title: the figure title.

    Returns:
        The PNG written.
    """
    n = max(1, len(images))
    cols = min(4, n)
    rows = math.ceil(n / cols)
    fig = Figure(figsize=(3.2 * cols, 3.5 * rows), dpi=_DPI, layout="constrained")
    for i, (image, caption, ok) in enumerate(zip(images, captions, correct)):
        ax = fig.add_subplot(rows, cols, i + 1)
        low, high = display_range(image)
        ax.imshow(np.asarray(image), cmap="gray", vmin=low, vmax=high)
        ax.set_title(caption, fontsize=8, color="darkgreen" if ok else "firebrick")
        ax.set_axis_off()
    fig.suptitle(title + "  (green: correct, red: wrong)", fontsize=12)
    return _save(fig, out_path)


def plot_segmentation_overlays(
    images: Sequence[np.ndarray],
    masks: Sequence[np.ndarray],
    probabilities: Sequence[np.ndarray],
    out_path: str | Path,
    threshold: float = 0.5,
    captions: Sequence[str] | None = None,
    title: str = "Segmentation examples",
) -> Path:
    """Per image: the image, the true mask, the predicted mask and the probability heatmap.

    Args:
        images: ``[H, W]`` images (preprocessed units are fine: windowed for display).
        masks: true 0/1 masks ``[H, W]``.
        probabilities: predicted foreground probabilities ``[H, W]``.
        out_path: the PNG to write.
        threshold: the pixel threshold of the predicted mask.
        captions: one line per image (e.g. its file name and Dice).
        title: the figure title.

    Returns:
        The PNG written.
    """
    n = max(1, len(images))
    fig = Figure(figsize=(13.0, 3.3 * n), dpi=_DPI, layout="constrained")
    headers = ("image", "true mask (green)", f"predicted mask (red, p >= {threshold:g})",
               "probability heatmap")
    for i, (image, mask, prob) in enumerate(zip(images, masks, probabilities)):
        image, mask, prob = (np.squeeze(np.asarray(a)) for a in (image, mask, prob))
        low, high = display_range(image)
        for j in range(4):
            ax = fig.add_subplot(n, 4, 4 * i + j + 1)
            ax.imshow(image, cmap="gray", vmin=low, vmax=high)
            if j == 1:
                ax.imshow(_tint(mask > 0, (0.0, 0.9, 0.0)))
            elif j == 2:
                ax.imshow(_tint(prob >= threshold, (0.95, 0.1, 0.1)))
            elif j == 3:
                shown = ax.imshow(prob, cmap="inferno", vmin=0, vmax=1, alpha=0.55)
                fig.colorbar(shown, ax=ax, fraction=0.046, label="probability")
            title_text = headers[j] if i == 0 else ""
            if j == 0 and captions is not None:
                title_text = (title_text + "\n" if title_text else "") + captions[i]
            ax.set_title(title_text, fontsize=8)
            ax.set_axis_off()
    fig.suptitle(title, fontsize=12)
    return _save(fig, out_path)


def plot_heatmap(
    image: np.ndarray,
    heatmap: np.ndarray,
    out_path: str | Path,
    *,
    patch_size: tuple[int, int],
    stride: int,
    label: str = "probability",
    title: str = "Heatmap",
) -> Path:
    """One class's sliding-window probability map over the image it was computed on.

    Cell ``(r, c)`` of the map is drawn centred on its window, which starts at
    ``(r * stride, c * stride)`` and is ``patch_size`` large.

    Args:
        image: ``[H, W]`` image (the one the windows were cut from).
        heatmap: ``[rows, cols]`` probabilities.
        out_path: the PNG to write.
        patch_size: ``(height, width)`` of a window.
        stride: the step between windows, in pixels.
        label: colour-bar label (e.g. the class name).
        title: the figure title.

    Returns:
        The PNG written.
    """
    image = np.squeeze(np.asarray(image))
    heatmap = np.asarray(heatmap)
    height, width = image.shape[:2]
    aspect = height / max(width, 1)
    fig = Figure(figsize=(11.0, max(3.5, 5.0 * aspect)), dpi=_DPI, layout="constrained")
    low, high = display_range(image)
    top = patch_size[0] / 2 - stride / 2
    left = patch_size[1] / 2 - stride / 2
    extent = (left, left + heatmap.shape[1] * stride, top + heatmap.shape[0] * stride, top)
    for j in range(2):
        ax = fig.add_subplot(1, 2, j + 1)
        ax.imshow(image, cmap="gray", vmin=low, vmax=high)
        if j == 1:
            shown = ax.imshow(heatmap, cmap="inferno", vmin=0, vmax=1, alpha=0.55,
                              extent=extent, interpolation="nearest")
            fig.colorbar(shown, ax=ax, fraction=0.046, label=label)
        ax.set_xlim(0, width)
        ax.set_ylim(height, 0)
        ax.set_title("image" if j == 0 else f"{label} (window {patch_size[0]}x{patch_size[1]}, "
                     f"stride {stride})", fontsize=9)
        ax.set_xlabel("x (pixels)")
        ax.set_ylabel("y (pixels)")
    fig.suptitle(title, fontsize=12)
    return _save(fig, out_path)


def display_range(image: np.ndarray) -> tuple[float, float]:
    """The 0.5th and 99.5th intensity percentiles: a window that ignores outliers."""
    values = np.asarray(image, dtype=np.float64)
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return 0.0, 1.0
    low, high = np.percentile(finite, [0.5, 99.5])
    if high <= low:
        high = low + 1.0
    return float(low), float(high)


def _shade_stages(ax, epochs: np.ndarray, stages: list[float]) -> None:
    """Alternate background shading per stage, labelled at the top of the panel."""
    start = 0
    for i in range(1, len(stages) + 1):
        if i == len(stages) or stages[i] != stages[start]:
            x0, x1 = epochs[start] - 0.5, epochs[i - 1] + 0.5
            if int(stages[start]) % 2 == 0:
                ax.axvspan(x0, x1, color="0.92", zorder=0)
            ax.text((x0 + x1) / 2, 1.0, f"stage {int(stages[start])}",
                    transform=ax.get_xaxis_transform(), ha="center", va="bottom", fontsize=7)
            start = i


def _tint(mask: np.ndarray, colour: tuple[float, float, float]) -> np.ndarray:
    rgba = np.zeros(mask.shape + (4,), dtype=np.float32)
    rgba[..., :3] = colour
    rgba[..., 3] = 0.45 * mask
    return rgba


def _legend(label: str, what: str, entry: dict | None) -> str:
    if not entry or entry.get("value") is None:
        return label
    text = f"{label}: {what} {entry['value']:.3f}"
    if entry.get("ci_low") is not None:
        text += f" (95% CI {entry['ci_low']:.3f}-{entry['ci_high']:.3f})"
    return text


def _short(name: str, limit: int = 18) -> str:
    return name if len(name) <= limit else name[: limit - 1] + "…"


def _number(text) -> float:
    try:
        return float(text)
    except (TypeError, ValueError):
        return float("nan")


def _save(fig: Figure, out_path: str | Path) -> Path:
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_path)
    return out_path
