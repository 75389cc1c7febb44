"""Forward and training throughput (images per second) of the keras_mia model zoo.

Builds each model with ``weights=None`` at its native input size (or ``--image-size``), feeds
it seeded random batches, and times ``--steps`` inference steps (``predict_on_batch``) and
``--steps`` training steps (``train_on_batch``, Adam, the model's recipe loss) after
``--warmup`` untimed steps that compile the step functions. Both calls return host values,
so every timed step has finished on the device when the clock is read. Prints a table and
optionally writes the results as JSON. A benchmark, not a test.

The Keras backend comes from ``KERAS_BACKEND`` (or ``--backend``, which sets it before Keras is
imported). Model code is ``keras`` / ``keras.ops`` only, so the same script measures the
TensorFlow and the JAX backend; on a GPU machine run e.g.

    KERAS_BACKEND=jax python benchmarks/models_throughput.py --batch-size 16 --steps 20 \\
        --json runs/bench/models_jax.json

and on a CPU, with tiny settings:

    python benchmarks/models_throughput.py --image-size 64 --batch-size 2 --steps 2
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

# Native input sizes (height, width); dense_prediction_28 is fully convolutional and is timed
# at the 640 px crops of the paper's later training stages.
NATIVE_SIZES = {
    "inception_v3_gap": (299, 299),
    "resnet18": (224, 224),
    "resnet50_patch": (224, 224),
    "resnet50_whole_image": (1152, 896),
    "dense_prediction_28": (640, 640),
}
# The smallest input keras.applications accepts for these backbones; a smaller --image-size is
# raised to it, with a note in the results.
MIN_SIZES = {"inception_v3_gap": 75, "resnet50_patch": 32, "resnet50_whole_image": 32}


def _size(text: str) -> tuple[int, int]:
    """Parses ``"64"`` or ``"64x48"`` (height x width)."""
    try:
        parts = [int(p) for p in text.lower().split("x")]
    except ValueError:
        parts = []
    if len(parts) == 1:
        parts = parts * 2
    if len(parts) != 2 or min(parts) < 1:
        raise argparse.ArgumentTypeError(
            f"expected SIZE or HEIGHTxWIDTH, e.g. 224 or 1152x896. Received: {text!r}"
        )
    return parts[0], parts[1]


def _parse_args(argv):
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        epilog="The backend is KERAS_BACKEND's (tensorflow by default) unless --backend is given.",
    )
    parser.add_argument("--models", nargs="+", default=list(NATIVE_SIZES),
                        choices=list(NATIVE_SIZES), metavar="NAME",
                        help=f"models to time (default: all of {', '.join(NATIVE_SIZES)})")
    parser.add_argument("--batch-size", type=int, default=8, help="images per step")
    parser.add_argument("--steps", type=int, default=10, help="timed steps per measurement")
    parser.add_argument("--warmup", type=int, default=2,
                        help="untimed steps first (the first one compiles)")
    parser.add_argument("--image-size", type=_size, default=None, metavar="SIZE|HxW",
                        help="override every model's native input size")
    parser.add_argument("--mode", choices=("both", "forward", "train"), default="both")
    parser.add_argument("--backend", choices=("tensorflow", "jax"), default=None,
                        help="sets KERAS_BACKEND for this run")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None, metavar="PATH",
                        help="also write the results to this JSON file")
    args = parser.parse_args(argv)
    for option in ("batch_size", "steps"):
        if getattr(args, option) < 1:
            parser.error(f"--{option.replace('_', '-')} must be >= 1. "
                         f"Received: {getattr(args, option)}")
    if args.warmup < 1:
        parser.error(f"--warmup must be >= 1 (it compiles the step). Received: {args.warmup}")
    return args


def _device_description() -> str:
    import keras

    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        return ", ".join(str(device) for device in jax.devices())
    if backend == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        return ", ".join(gpu.name for gpu in gpus) or f"CPU ({os.cpu_count()} cores)"
    return backend


def _batch(name: str, model, batch_size: int, rng: np.random.Generator):
    """Seeded random inputs and recipe-style targets, with the recipe's loss."""
    from keras_mia.losses import WeightedSigmoidCrossEntropy

    shape = tuple(model.input_shape[1:])
    x = rng.normal(0.0, 1.0, (batch_size, *shape)).astype("float32")
    if name == "dense_prediction_28":
        y = (rng.uniform(size=(batch_size, *shape[:2], 1)) < 0.06).astype("float32")
        return x, y, WeightedSigmoidCrossEntropy(pos_weight=15.0)
    classes = int(model.output_shape[-1])
    if classes == 1:
        y = rng.integers(0, 2, (batch_size, 1)).astype("float32")
        return x, y, "binary_crossentropy"
    y = rng.integers(0, classes, batch_size).astype("int32")
    return x, y, "sparse_categorical_crossentropy"


def _images_per_second(step, batch_size: int, warmup: int, steps: int):
    """Returns (first-step seconds, images/s over the timed steps)."""
    start = time.perf_counter()
    step()
    first = time.perf_counter() - start
    for _ in range(warmup - 1):
        step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return first, batch_size * steps / (time.perf_counter() - start)


def _benchmark(name: str, args, rng: np.random.Generator) -> dict:
    import keras

    from keras_mia import models

    height, width = args.image_size or NATIVE_SIZES[name]
    note = ""
    minimum = MIN_SIZES.get(name, 1)
    if min(height, width) < minimum:
        note = f"size raised to the minimum {minimum}"
        height, width = max(height, minimum), max(width, minimum)
    keras.backend.clear_session()
    keras.utils.set_random_seed(args.seed)
    start = time.perf_counter()
    model = models.build(name, input_shape=(height, width), weights=None)
    result = {
        "model": name,
        "input_shape": list(model.input_shape[1:]),
        "params": int(model.count_params()),
        "batch_size": args.batch_size,
        "build_s": round(time.perf_counter() - start, 3),
        "note": note,
    }
    x, y, loss = _batch(name, model, args.batch_size, rng)
    if args.mode in ("both", "forward"):
        first, rate = _images_per_second(
            lambda: model.predict_on_batch(x), args.batch_size, args.warmup, args.steps
        )
        result.update(forward_first_step_s=round(first, 3), forward_images_per_s=round(rate, 2))
    if args.mode in ("both", "train"):
        model.compile(optimizer=keras.optimizers.Adam(1e-4), loss=loss)
        first, rate = _images_per_second(
            lambda: model.train_on_batch(x, y), args.batch_size, args.warmup, args.steps
        )
        result.update(train_first_step_s=round(first, 3), train_images_per_s=round(rate, 2))
    return result


def _table(results: list[dict]) -> str:
    columns = [
        ("model", "model", "{}"),
        ("input", "input_shape", "{}"),
        ("params", "params", "{:,}"),
        ("fwd img/s", "forward_images_per_s", "{:.1f}"),
        ("train img/s", "train_images_per_s", "{:.1f}"),
        ("fwd 1st s", "forward_first_step_s", "{:.1f}"),
        ("train 1st s", "train_first_step_s", "{:.1f}"),
        ("note", "note", "{}"),
    ]
    rows = [[title for title, _, _ in columns]]
    for result in results:
        if "error" in result:
            rows.append([result["model"], "", "", "", "", "", "", f"ERROR {result['error']}"])
            continue
        rows.append([
            fmt.format("x".join(map(str, result[key])) if key == "input_shape" else result[key])
            if key in result else "-"
            for _, key, fmt in columns
        ])
    widths = [max(len(row[i]) for row in rows) for i in range(len(columns))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows
    )


def main(argv=None) -> int:
    args = _parse_args(argv)
    if args.backend:
        if "keras" in sys.modules:
            raise SystemExit("--backend must be set before Keras is imported")
        os.environ["KERAS_BACKEND"] = args.backend
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    rng = np.random.default_rng(args.seed)
    environment = {
        "backend": keras.backend.backend(),
        "keras": keras.__version__,
        "device": _device_description(),
        "python": platform.python_version(),
        "batch_size": args.batch_size,
        "steps": args.steps,
        "warmup": args.warmup,
        "mode": args.mode,
        "seed": args.seed,
    }
    print(
        f"models_throughput backend={environment['backend']} keras={environment['keras']} "
        f"device={environment['device']} batch={args.batch_size} steps={args.steps} "
        f"warmup={args.warmup}",
        flush=True,
    )
    results = []
    for name in args.models:
        try:
            result = _benchmark(name, args, rng)
        except Exception as error:  # noqa: BLE001 - one model's failure (e.g. OOM) is reported
            result = {"model": name, "error": f"{type(error).__name__}: {error}"[:500]}
        results.append(result)
        print(f"  {name}: {result}", flush=True)
    print(_table(results))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"environment": environment, "results": results},
                                        indent=2) + "\n")
        print(f"wrote {args.json}")
    return 1 if any("error" in result for result in results) else 0


if __name__ == "__main__":
    sys.exit(main())
