"""Tests for keras_mia.evaluation.plots: every figure is written as a readable PNG."""

import numpy as np
from PIL import Image

from keras_mia.evaluation import plots


def _png(path):
    with Image.open(path) as image:
        assert image.format == "PNG"
        width, height = image.size
        # Not blank: a real figure has many distinct colours.
        colours = len(set(image.convert("RGB").getdata()))
    assert width >= 400 and height >= 300
    assert colours > 50
    return width, height


def test_training_curves_per_stage(tmp_path):
    history = tmp_path / "history.csv"
    lines = ["epoch,accuracy,loss,stage,val_accuracy,val_loss,learning_rate"]
    for epoch in range(6):
        lines.append(f"{epoch},{0.5 + epoch / 20},{1 - epoch / 10},{epoch // 3},"
                     f"{0.5 + epoch / 25},{1.1 - epoch / 12},{1e-3 if epoch < 3 else 1e-4}")
    history.write_text("\n".join(lines) + "\n")
    _png(plots.plot_training_curves(history, tmp_path / "curves.png"))
    empty = tmp_path / "empty.csv"
    empty.write_text("epoch,loss\n")
    assert plots.plot_training_curves(empty, tmp_path / "none.png") is None


def test_roc_pr_confusion(tmp_path):
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 50)
    scores = np.clip(0.3 * labels + 0.7 * rng.random(50), 0, 1)
    curve = {"label": "malignant", "y_true": labels, "scores": scores,
             "auc": {"value": 0.8, "ci_low": 0.7, "ci_high": 0.9},
             "pr_auc": {"value": 0.75, "ci_low": None, "ci_high": None}}
    _png(plots.plot_roc([curve], tmp_path / "roc.png", operating_point=(0.2, 0.8)))
    _png(plots.plot_pr([curve], tmp_path / "pr.png"))
    _png(plots.plot_confusion_matrix([[5, 1, 0], [2, 7, 1], [0, 0, 0]], ["a", "b", "c"],
                                     tmp_path / "cm.png"))
    assert plots._legend("x", "AUC", curve["auc"]) == "x: AUC 0.800 (95% CI 0.700-0.900)"


def test_examples_overlays_heatmap(tmp_path):
    rng = np.random.default_rng(0)
    images = [rng.random((40, 30)) * 4000 for _ in range(5)]
    _png(plots.plot_examples(images, [f"true: a\npred: b (p={i / 5:.2f})" for i in range(5)],
                             [True, False, True, True, False], tmp_path / "examples.png"))
    masks = [np.pad(np.ones((10, 10)), 15) for _ in range(2)]
    probs = [rng.random((40, 40)) for _ in range(2)]
    _png(plots.plot_segmentation_overlays([rng.random((40, 40))] * 2, masks, probs,
                                          tmp_path / "overlays.png", captions=["a", "b"]))
    _png(plots.plot_heatmap(rng.random((96, 64)), rng.random((3, 2)), tmp_path / "heat.png",
                            patch_size=(32, 32), stride=32, label="P(mass)"))


def test_display_range_ignores_outliers():
    image = np.zeros((100, 100))
    image[0, 0] = 1e6
    image[50:, :] = 100
    assert plots.display_range(image) == (0.0, 100.0)
    assert plots.display_range(np.full((4, 4), 7.0)) == (7.0, 8.0)
