"""Throughput of the training input pipeline (images per second), on a synthetic manifest.

Writes ``--n`` random PNG images (and masks for ``--task segmentation``) of
``--source-size`` pixels into a temporary folder, builds the training pipeline with
``keras_mia.data.pipeline.build_dataset`` and times ``--epochs`` passes over it after one
warm-up batch. Prints one line of results. A benchmark, not a test.

Examples:

    python benchmarks/pipeline_throughput.py --n 256 --source-size 1024 --size 512 --batch 16

    # mammo_dense at the seed's scale: 16-bit scans of about 2000 x 1300 (0.66 of a CBIS-DDSM
    # scan), 320 crops cut first (images at their own size) vs. the same scans read through a
    # fixed image_size (each scan resized and normalised whole before the crop).
    python benchmarks/pipeline_throughput.py --task segmentation --bit-depth 16 --n 32 \
        --source-size 2000 --source-width 1300 --dense --crop 320 --own-size
    python benchmarks/pipeline_throughput.py --task segmentation --bit-depth 16 --n 32 \
        --source-size 2000 --source-width 1300 --dense --crop 320 --size 0
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def _parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=128, help="images in the synthetic set")
    parser.add_argument("--source-size", type=int, default=512,
                        help="height (and default width) of the PNG files")
    parser.add_argument("--source-width", type=int, default=None,
                        help="width of the PNG files (default: --source-size)")
    parser.add_argument("--size", type=int, default=256,
                        help="side of the pipeline images; 0: the files' own height x width "
                             "as a fixed image_size")
    parser.add_argument("--own-size", action="store_true",
                        help="image_size null: no resize, the crop is cut first")
    parser.add_argument("--crop", type=int, default=None,
                        help="training crop side (default 7/8 of --size)")
    parser.add_argument("--dense", action="store_true",
                        help="mammo_dense's augmentation (crop, flips, rotation 90) and "
                             "normalisation ((x * 255/65535 - 127) / 255)")
    parser.add_argument("--batch", type=int, default=16, help="batch size")
    parser.add_argument("--epochs", type=int, default=2, help="timed passes over the set")
    parser.add_argument("--bit-depth", type=int, choices=(8, 16), default=8)
    parser.add_argument("--task", choices=("classification", "segmentation"),
                        default="classification")
    parser.add_argument("--resize", choices=("stretch", "pad"), default="stretch")
    parser.add_argument("--channels", type=int, choices=(1, 3), default=1)
    parser.add_argument("--no-augment", action="store_true", help="switch augmentation off")
    parser.add_argument("--cache", action="store_true", help="cache decoded images in memory")
    parser.add_argument("--balance", action="store_true", help="class-balanced sampling")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def _write_synthetic_set(folder: Path, args) -> Path:
    from PIL import Image

    from keras_mia.data.manifest import write_manifest

    rng = np.random.default_rng(args.seed)
    side = args.source_size
    width = args.source_width or side
    top = 255 if args.bit_depth == 8 else 65535
    yy, xx = np.mgrid[:side, :width]
    rows = []
    for i in range(args.n):
        cy, cx, r = rng.uniform(0.3, 0.7) * side, rng.uniform(0.3, 0.7) * width, side / 8
        lesion = (yy - cy) ** 2 + (xx - cx) ** 2 <= r**2
        image = rng.normal(0.4, 0.1, (side, width)) + 0.4 * lesion
        pixels = np.clip(image * top, 0, top).astype(np.uint8 if args.bit_depth == 8 else np.uint16)
        Image.fromarray(pixels).save(folder / f"img{i:05d}.png")
        row = {"image_path": f"img{i:05d}.png", "label": "pos" if i % 4 == 0 else "neg",
               "patient_id": f"p{i}", "split": "train"}
        if args.task == "segmentation":
            Image.fromarray((lesion * 255).astype(np.uint8)).save(folder / f"mask{i:05d}.png")
            row["mask_path"] = f"mask{i:05d}.png"
        rows.append(row)
    return write_manifest(folder / "manifest.csv", rows)


def main(argv=None) -> int:
    args = _parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from keras_mia.data.pipeline import AugmentConfig, PipelineConfig, build_dataset

    if args.own_size:
        image_size = None
    elif args.size == 0:
        image_size = (args.source_size, args.source_width or args.source_size)
    else:
        image_size = (args.size, args.size)
    crop = args.crop or args.size * 7 // 8
    if args.no_augment:
        augment = AugmentConfig()
    elif args.dense:
        augment = AugmentConfig(crop=(crop, crop), horizontal_flip=True, vertical_flip=True,
                                rotation=90)
    else:
        augment = AugmentConfig(
            crop=(crop, crop),
            horizontal_flip=True,
            vertical_flip=True,
            rotation=25,
            zoom=(0.8, 1.2),
            translation=0.1,
            intensity_shift=20,
        )
    normalisation = (
        {"rescale": 255.0 / 65535.0, "mean": 127.0, "std": 255.0} if args.dense
        else {"minmax": (0, 255)}
    )
    config = PipelineConfig(
        image_size=image_size,
        resize=args.resize,
        channels=args.channels,
        task=args.task,
        **normalisation,
        batch_size=args.batch,
        cache=args.cache,
        balance=args.balance,
        seed=args.seed,
        augment=augment,
    )
    with tempfile.TemporaryDirectory(prefix="keras_mia_bench_") as tmp:
        start = time.perf_counter()
        manifest = _write_synthetic_set(Path(tmp), args)
        write_s = time.perf_counter() - start

        ds = build_dataset(manifest, config, split="train", training=True)
        next(iter(ds))  # warm-up: traces the map functions, starts the threads
        images = 0
        start = time.perf_counter()
        for _ in range(args.epochs):
            for batch, _ in ds:
                images += int(batch.shape[0])
        elapsed = time.perf_counter() - start

    print(
        f"pipeline_throughput task={args.task} n={args.n} "
        f"source={args.source_size}x{args.source_width or args.source_size}px "
        f"{args.bit_depth}bit image_size={'own' if image_size is None else image_size} "
        f"crop={None if args.no_augment else crop} dense={args.dense} "
        f"batch={args.batch} channels={args.channels} "
        f"resize={args.resize} augment={not args.no_augment} cache={args.cache} "
        f"balance={args.balance} cpus={os.cpu_count()} images={images} "
        f"seconds={elapsed:.2f} images_per_s={images / elapsed:.1f} "
        f"(writing the set took {write_s:.1f}s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
