"""Speed of the sliding-window and the one-pass (FCN) heatmap of ``resnet50_patch``.

Builds ``resnet50_patch`` (random weights unless ``--weights imagenet``) for ``--patch``
pixel windows, and times ``keras_mia.heatmaps.sliding_window_heatmap`` (``--batch-size``
windows per call) and ``keras_mia.heatmaps.fcn_heatmap`` (one pass) on a random whole image
of ``--image`` pixels, at ``--stride`` (a multiple of 32, the ResNet50 stride, so both maps
have the same cells), after one untimed warm-up call each. Prints the seconds of each, their
ratio, and the largest difference between the two maps (ResNet50 pads every window, so the
one-pass map is an approximation there; ``--tiny`` uses a small unpadded network whose two
maps are equal). A benchmark, not a test.

Examples:

    python benchmarks/heatmap.py                          # CPU, about a minute
    python benchmarks/heatmap.py --patch 224 --image 1152x896 --stride 32 --batch-size 64
"""

from __future__ import annotations

import argparse
import os
import sys
import time


def _size(text: str) -> tuple[int, int]:
    try:
        height, width = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected HxW, e.g. 256x192. Received: {text!r}")
    return height, width


def _parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patch", type=int, default=64, help="window side (default 64)")
    parser.add_argument("--image", type=_size, default=(256, 192),
                        help="whole image HxW (default 256x192)")
    parser.add_argument("--stride", type=int, default=32,
                        help="window stride, a multiple of the network stride (default 32)")
    parser.add_argument("--batch-size", type=int, default=32, help="windows per call")
    parser.add_argument("--repeats", type=int, default=2, help="timed calls of each (best)")
    parser.add_argument("--weights", choices=("none", "imagenet"), default="none")
    parser.add_argument("--tiny", action="store_true",
                        help="a small unpadded patch network instead of ResNet50")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def _tiny_model(patch: int):
    import keras

    inputs = keras.Input((patch, patch, 3))
    x = keras.layers.Conv2D(16, 3, padding="valid", activation="relu")(inputs)
    x = keras.layers.Conv2D(32, 3, strides=2, padding="valid", activation="relu")(x)
    x = keras.layers.MaxPooling2D(2)(x)
    x = keras.layers.Conv2D(32, 3, padding="valid", activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(5, activation="softmax")(x)
    return keras.Model(inputs, outputs, name="tiny_patch")


def _best_time(function, repeats: int) -> tuple[float, object]:
    result = function()  # warm-up: traces the predict function
    best = float("inf")
    for _ in range(max(1, repeats)):
        start = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - start)
    return best, result


def main(argv=None) -> int:
    args = _parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import numpy as np

    from keras_mia.heatmaps import (
        fcn_exact,
        fcn_heatmap,
        fcn_model,
        network_stride,
        sliding_window_heatmap,
    )
    from keras_mia.models import build

    keras.utils.set_random_seed(args.seed)
    if args.tiny:
        model = _tiny_model(args.patch)
    else:
        weights = None if args.weights == "none" else "imagenet"
        model = build("resnet50_patch", input_shape=(args.patch, args.patch, 3),
                      weights=weights)
    base = network_stride(model)
    if args.stride % base:
        print(f"heatmap: error: --stride must be a multiple of the network stride {base}. "
              f"Received: --stride {args.stride}", file=sys.stderr)
        return 2
    rng = np.random.default_rng(args.seed)
    # Roughly Shen's input scale: [0, 255] minus a mean near 100.
    image = (rng.uniform(0, 255, (*args.image, 3)) - 100.0).astype(np.float32)

    sliding_s, sliding = _best_time(
        lambda: sliding_window_heatmap(model, image, stride=args.stride,
                                       batch_size=args.batch_size), args.repeats)
    start = time.perf_counter()
    fcn = fcn_model(model)
    build_s = time.perf_counter() - start
    fcn_s, one_pass = _best_time(
        lambda: fcn_heatmap(model, image, stride=args.stride, fcn=fcn), args.repeats)
    difference = float(np.abs(sliding - one_pass).max())
    print(
        f"heatmap model={model.name} backend={keras.backend.backend()} patch={args.patch} "
        f"image={args.image[0]}x{args.image[1]} stride={args.stride} "
        f"windows={sliding.shape[0] * sliding.shape[1]} batch={args.batch_size} "
        f"cpus={os.cpu_count()} sliding_s={sliding_s:.3f} fcn_s={fcn_s:.3f} "
        f"speed_ratio={sliding_s / fcn_s:.1f}x (fcn build {build_s:.1f}s, once) "
        f"max_abs_diff={difference:.2e} exact_by_construction={fcn_exact(model)}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
